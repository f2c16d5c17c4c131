/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Wire formats of the alert action: pure functions from the core's event
 * JSON (as kept in the spool) to request bodies. No I/O, no logging. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum alert_format {
	ALERT_FMT_NATIVE,
	ALERT_FMT_ALERTMANAGER,
	ALERT_FMT_OTLP,
	ALERT_FMT_WEBHOOK,
	_ALERT_FMT_MAX,
};

extern const char *const alert_format_names[]; /* NULL-terminated, enum order */

/* One event to send. `event` is the native event JSON. For a clearing event
 * (`condition` + `active: false`) `resolves` is the raising event it clears
 * when known. `still_active`: a raising event whose condition is still
 * active (Alertmanager keeps it firing). All borrowed. */
struct alert_item {
	json_object *event;
	json_object *resolves;
	bool still_active;
};

struct alert_fmt_opts {
	const char *receiver;  /* endpoint instance name */
	const char *version;   /* agent version */
	uint64_t now_usec;     /* CLOCK_REALTIME at send time */
	uint64_t hold_usec;    /* one-shot alerts stay active this long */
	uint64_t resend_usec;  /* condition re-send interval */
};

/* Request body for n items (n ≥ 1). Returns a malloc'd string or NULL on
 * OOM. */
char *alert_format_body(enum alert_format f, const struct alert_item *items, size_t n,
			const struct alert_fmt_opts *o);

/* URL path appended to a bare endpoint (e.g. "/api/v2/alerts"), or NULL. */
const char *alert_format_default_path(enum alert_format f);

/* Alertmanager alertname of an event kind (KernelSoftLockup, …). */
void alert_alertname(const char *kind, char *buf, size_t size);

/* Which HTTP statuses are worth retrying (OTLP: 429/502/503/504 only). */
bool alert_format_status_retryable(enum alert_format f, long status);

/* Event classification by the shared condition convention. */
enum alert_cond { ALERT_ONESHOT, ALERT_RAISE, ALERT_CLEAR };
enum alert_cond alert_event_cond(json_object *event, const char **ret_condition);

/* Format a realtime usec value as RFC 3339 UTC with milliseconds. */
void alert_rfc3339(uint64_t usec, char buf[static 40]);
/* Parse the event's "time" back to usec (0 when absent or bad). */
uint64_t alert_event_time(json_object *event);
