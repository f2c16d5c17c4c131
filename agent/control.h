/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The control socket (/run/vigil/control, 0600): one JSON request line per
 * connection, one JSON response. Served on the loop, non-blocking. */
#pragma once

#include <stddef.h>

struct vigil_core;
struct vigil_control;

#define VIGIL_CONTROL_MAX_REQUEST 65536

int vigil_control_new(struct vigil_core *core, const char *path, struct vigil_control **ret);
struct vigil_control *vigil_control_free(struct vigil_control *ctl);
