/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Events and their one JSON encoder (DESIGN §5). Every output — journal,
 * stdout, HTTP formats, replay, vigilctl — goes through
 * vigil_event_to_json(), so the field names are defined here once. Inputs
 * come from the kernel and from devices: every string is bounded and made
 * valid UTF-8 before it enters an event.
 */
#include "event.h"
#include "util.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <systemd/sd-id128.h>

struct vigil_event {
	unsigned n_ref;
	char id[SD_ID128_UUID_STRING_MAX];
	char *kind, *summary, *source, *dedup_key;
	enum vigil_severity severity;
	uint64_t realtime, monotonic;
	unsigned count;
	json_object *fields; /* kind-specific, insertion ordered */
	json_object *raw;    /* array of strings */
	unsigned raw_truncated;
	json_object *host;
};

const char *const vigil_event_kinds[] = {
	"hung_task", "soft_lockup", "hard_lockup", "rcu_stall", "oops", "bug", "gpf", "panic", "warning",
	"sched_atomic", "oom_kill", "io_error", "io_timeout", "virtio_error", "pci_hotplug",
	"netdev_tx_timeout", "fs_error", "mce", "kmsg_lost", "task_stuck", "virtio_removed", "virtio_added",
	"virtio_legacy_risk", "vhost_backend_lost", "vhost_backend_restored", "blk_stall", "blk_resumed",
	"link_down", "link_up", "link_added", "link_removed", "link_flapping", "link_churn", "kdump_state", "sysctl_drift",
	"sysctl_applied", "reboot_requested", "reboot_suppressed", "alert_dropped", "previous_boot_crash",
	"exec_failed", "agent_started", "agent_stopping", "agent_reloaded", "agent_test", "agent_error", NULL,
};

bool vigil_event_kind_known(const char *kind)
{
	for (size_t i = 0; vigil_event_kinds[i]; i++)
		if (streq(vigil_event_kinds[i], kind))
			return true;
	return startswith(kind, "agent_") != NULL;
}

static const char *const severity_names[] = {"info", "notice", "warning", "critical"};

const char *vigil_severity_to_string(enum vigil_severity s)
{
	return (unsigned)s < ELEMENTSOF(severity_names) ? severity_names[s] : "info";
}

int vigil_severity_from_string(const char *s)
{
	for (size_t i = 0; i < ELEMENTSOF(severity_names); i++)
		if (streq(severity_names[i], s))
			return (int)i;
	return -EINVAL;
}

/* Length of a valid UTF-8 sequence at p (max n bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t len;
	unsigned cp;
	if (c < 0x80)
		return c ? 1 : 0;
	if ((c & 0xe0) == 0xc0) {
		len = 2;
		cp = c & 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3;
		cp = c & 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4;
		cp = c & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

char *vigil_utf8_sanitize(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	/* Worst case every byte becomes U+FFFD (3 bytes). */
	char *out = malloc(n * 3 + 1), *o = out;
	const unsigned char *p = (const unsigned char *)s;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq(p + i, n - i);
		if (l == 0) {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(o, p + i, l);
			o += l;
			i += l;
		}
	}
	*o = 0;
	return out;
}

static json_object *json_string_safe(const char *s)
{
	_cleanup_free_ char *clean = vigil_utf8_sanitize(s, VIGIL_EVENT_STR_MAX);
	return clean ? json_object_new_string(clean) : NULL;
}

struct vigil_event *vigil_event_new(const char *kind, enum vigil_severity sev)
{
	struct vigil_event *ev = calloc(1, sizeof(*ev));
	sd_id128_t id;
	if (!ev)
		return NULL;
	ev->n_ref = 1;
	ev->severity = sev;
	ev->count = 1;
	if (sd_id128_randomize(&id) < 0)
		goto fail;
	sd_id128_to_uuid_string(id, ev->id);
	ev->kind = vigil_utf8_sanitize(kind, 64);
	ev->fields = json_object_new_object();
	ev->raw = json_object_new_array();
	if (!ev->kind || !ev->fields || !ev->raw)
		goto fail;
	return ev;
fail:
	ev->n_ref = 1;
	return vigil_event_unref(ev);
}

struct vigil_event *vigil_event_ref(struct vigil_event *ev)
{
	if (ev)
		ev->n_ref++;
	return ev;
}

struct vigil_event *vigil_event_unref(struct vigil_event *ev)
{
	if (!ev || --ev->n_ref > 0)
		return NULL;
	free(ev->kind);
	free(ev->summary);
	free(ev->source);
	free(ev->dedup_key);
	json_object_put(ev->fields);
	json_object_put(ev->raw);
	json_object_put(ev->host);
	free(ev);
	return NULL;
}

static json_object *json_copy(json_object *o)
{
	json_object *c = NULL;
	if (!o)
		return NULL;
	if (json_object_deep_copy(o, &c, NULL) < 0)
		return NULL;
	return c;
}

struct vigil_event *vigil_event_clone(const struct vigil_event *src)
{
	struct vigil_event *ev = vigil_event_new(src->kind, src->severity);
	if (!ev)
		return NULL;
	ev->summary = src->summary ? strdup(src->summary) : NULL;
	ev->source = src->source ? strdup(src->source) : NULL;
	ev->dedup_key = src->dedup_key ? strdup(src->dedup_key) : NULL;
	ev->realtime = src->realtime;
	ev->monotonic = src->monotonic;
	ev->count = src->count;
	ev->raw_truncated = src->raw_truncated;
	json_object_put(ev->fields);
	json_object_put(ev->raw);
	ev->fields = json_copy(src->fields);
	ev->raw = json_copy(src->raw);
	ev->host = json_copy(src->host);
	if ((src->summary && !ev->summary) || !ev->fields || !ev->raw || (src->host && !ev->host))
		return vigil_event_unref(ev);
	return ev;
}

const char *vigil_event_id(const struct vigil_event *ev) { return ev->id; }
const char *vigil_event_kind(const struct vigil_event *ev) { return ev->kind; }
enum vigil_severity vigil_event_severity(const struct vigil_event *ev) { return ev->severity; }
const char *vigil_event_summary(const struct vigil_event *ev) { return ev->summary ? ev->summary : ev->kind; }
const char *vigil_event_source(const struct vigil_event *ev) { return ev->source; }
uint64_t vigil_event_realtime(const struct vigil_event *ev) { return ev->realtime; }
uint64_t vigil_event_monotonic(const struct vigil_event *ev) { return ev->monotonic; }
unsigned vigil_event_count(const struct vigil_event *ev) { return ev->count; }
void vigil_event_set_severity(struct vigil_event *ev, enum vigil_severity sev) { ev->severity = sev; }
void vigil_event_set_count(struct vigil_event *ev, unsigned count) { ev->count = count ? count : 1; }

const char *vigil_event_dedup_key(const struct vigil_event *ev)
{
	return ev->dedup_key ? ev->dedup_key : vigil_event_summary(ev);
}

int vigil_event_set_summary(struct vigil_event *ev, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	int r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	char *clean = vigil_utf8_sanitize(s, 512);
	free(s);
	if (!clean)
		return -ENOMEM;
	free(ev->summary);
	ev->summary = clean;
	return 0;
}

void vigil_event_set_time(struct vigil_event *ev, uint64_t realtime_usec, uint64_t monotonic_usec)
{
	ev->realtime = realtime_usec;
	ev->monotonic = monotonic_usec;
}

int vigil_event_set_dedup_key(struct vigil_event *ev, const char *key)
{
	char *k = strndup(key, 1024);
	if (!k)
		return -ENOMEM;
	free(ev->dedup_key);
	ev->dedup_key = k;
	return 0;
}

static bool reserved_key(const char *key)
{
	static const char *const reserved[] = {"id", "kind", "severity", "time", "monotonic_usec", "source",
					       "summary", "host", "count", "raw", "raw_truncated"};
	for (size_t i = 0; i < ELEMENTSOF(reserved); i++)
		if (streq(reserved[i], key))
			return true;
	return false;
}

int vigil_event_set_json(struct vigil_event *ev, const char *key, json_object *value)
{
	if (!key || !*key || strlen(key) > 64 || reserved_key(key)) {
		json_object_put(value);
		return -EINVAL;
	}
	/* json_object_object_add replaces in place, keeping the original order. */
	if (json_object_object_add(ev->fields, key, value) < 0) {
		json_object_put(value);
		return -ENOMEM;
	}
	return 0;
}

int vigil_event_set_str(struct vigil_event *ev, const char *key, const char *value)
{
	json_object *v = NULL;
	if (value && !(v = json_string_safe(value)))
		return -ENOMEM;
	return vigil_event_set_json(ev, key, v);
}

int vigil_event_set_int(struct vigil_event *ev, const char *key, int64_t value)
{
	json_object *v = json_object_new_int64(value);
	return v ? vigil_event_set_json(ev, key, v) : -ENOMEM;
}

int vigil_event_set_bool(struct vigil_event *ev, const char *key, bool value)
{
	json_object *v = json_object_new_boolean(value);
	return v ? vigil_event_set_json(ev, key, v) : -ENOMEM;
}

json_object *vigil_event_raw(const struct vigil_event *ev) { return ev->raw; }

int vigil_event_add_raw(struct vigil_event *ev, const char *line)
{
	if (json_object_array_length(ev->raw) >= VIGIL_EVENT_RAW_MAX_LINES) {
		ev->raw_truncated++;
		return 0;
	}
	_cleanup_free_ char *clean = vigil_utf8_sanitize(line, VIGIL_EVENT_RAW_MAX_LINE);
	json_object *s = clean ? json_object_new_string(clean) : NULL;
	if (!s)
		return -ENOMEM;
	if (json_object_array_add(ev->raw, s) < 0) {
		json_object_put(s);
		return -ENOMEM;
	}
	return 0;
}

json_object *vigil_event_get(const struct vigil_event *ev, const char *key)
{
	json_object *v = NULL;
	return json_object_object_get_ex(ev->fields, key, &v) ? v : NULL;
}

const char *vigil_event_get_str(const struct vigil_event *ev, const char *key)
{
	json_object *v = vigil_event_get(ev, key);
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

int64_t vigil_event_get_int(const struct vigil_event *ev, const char *key, int64_t def)
{
	json_object *v = vigil_event_get(ev, key);
	return v && (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double))
		       ? json_object_get_int64(v)
		       : def;
}

json_object *vigil_event_lookup(const struct vigil_event *ev, const char *path)
{
	char seg[128];
	json_object *cur = ev->fields;
	const char *p = path;

	while (*p) {
		size_t l = strcspn(p, ".");
		if (l == 0 || l >= sizeof(seg))
			return NULL;
		memcpy(seg, p, l);
		seg[l] = 0;
		if (!cur || !json_object_is_type(cur, json_type_object) || !json_object_object_get_ex(cur, seg, &cur))
			return NULL;
		p += l;
		if (*p == '.')
			p++;
	}
	return cur;
}

int vigil_event_stamp(struct vigil_event *ev, const char *source, const struct vigil_host *host,
		      uint64_t realtime_usec, uint64_t monotonic_usec)
{
	if (source && !ev->source && !(ev->source = strdup(source)))
		return -ENOMEM;
	if (!ev->realtime)
		ev->realtime = realtime_usec;
	if (!ev->monotonic)
		ev->monotonic = monotonic_usec;
	if (host && !ev->host) {
		json_object *h = json_object_new_object();
		if (!h)
			return -ENOMEM;
#define H(k) json_object_object_add(h, #k, host->k ? json_string_safe(host->k) : NULL)
		H(hostname);
		H(machine_id);
		H(boot_id);
		H(instance_id);
		H(kernel);
#undef H
		ev->host = h;
	}
	return 0;
}

static json_object *field_or_null(const struct vigil_event *ev, const char *key)
{
	json_object *v = vigil_event_get(ev, key);
	return v ? json_object_get(v) : NULL;
}

json_object *vigil_event_to_json(const struct vigil_event *ev)
{
	json_object *o = json_object_new_object();
	char t[32];
	if (!o)
		return NULL;
	vigil_format_rfc3339(ev->realtime, t);
	json_object_object_add(o, "id", json_object_new_string(ev->id));
	json_object_object_add(o, "kind", json_object_new_string(ev->kind));
	json_object_object_add(o, "severity", json_object_new_string(vigil_severity_to_string(ev->severity)));
	json_object_object_add(o, "time", json_object_new_string(t));
	json_object_object_add(o, "monotonic_usec", json_object_new_int64((int64_t)ev->monotonic));
	json_object_object_add(o, "source", ev->source ? json_object_new_string(ev->source) : NULL);
	json_object_object_add(o, "summary", json_object_new_string(vigil_event_summary(ev)));
	json_object_object_add(o, "host", ev->host ? json_object_get(ev->host) : NULL);
	/* Contract fields always present so consumers need no existence checks. */
	json_object_object_add(o, "known_issue", field_or_null(ev, "known_issue"));
	json_object_object_add(o, "partial", vigil_event_get(ev, "partial") ? field_or_null(ev, "partial")
									     : json_object_new_boolean(false));
	json_object_object_add(o, "count", json_object_new_int((int)ev->count));
	json_object_object_foreach(ev->fields, k, v)
	{
		if (streq(k, "known_issue") || streq(k, "partial"))
			continue;
		json_object_object_add(o, k, v ? json_object_get(v) : NULL);
	}
	json_object_object_add(o, "raw", json_object_get(ev->raw));
	if (ev->raw_truncated)
		json_object_object_add(o, "raw_truncated", json_object_new_int((int)ev->raw_truncated));
	return o;
}

char *vigil_event_to_json_string(const struct vigil_event *ev)
{
	json_object *o = vigil_event_to_json(ev);
	if (!o)
		return NULL;
	char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}
