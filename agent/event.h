/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Core-side event helpers beyond the plugin API: stamping at emission and
 * UTF-8 sanitising. The encoder itself is vigil_event_to_json() (plugin.h). */
#pragma once

#include "vigil/plugin.h"

/* Set source, host and (unless already set) the times; done once by the
 * core in vigil_emit(). host is borrowed and copied. */
int vigil_event_stamp(struct vigil_event *ev, const char *source, const struct vigil_host *host,
		      uint64_t realtime_usec, uint64_t monotonic_usec);

/* Copy s, at most max bytes, replacing invalid UTF-8 sequences and NULs by
 * U+FFFD. Returns malloc'd string. */
char *vigil_utf8_sanitize(const char *s, size_t max);

/* Events whose kind is known to the core: used to validate `match =`. */
bool vigil_event_kind_known(const char *kind);
extern const char *const vigil_event_kinds[];
