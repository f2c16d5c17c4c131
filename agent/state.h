/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The state directory: creation with safe permissions. The atomic-write
 * helper vigil_write_file_atomic() is declared in plugin.h. */
#pragma once

#include "vigil/plugin.h"

/* Create dir (and parents) 0700 if missing; refuse a group/world-writable one. */
int vigil_state_dir_prepare(const char *dir);
/* Read a small state file at dir/name (max bytes). -ENOENT when absent. */
int vigil_state_read(const char *dir, const char *name, size_t max, char **ret);
