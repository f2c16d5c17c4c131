/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Wire formats of the alert action. Input is always the core's native event
 * JSON (what the spool keeps), so a spool written by one version and read by
 * the next needs no struct vigil_event. Outputs:
 *   native        JSON array of events, unchanged;
 *   alertmanager  Alertmanager API v2 `POST /api/v2/alerts` array;
 *   otlp          OTLP/HTTP JSON logs (`/v1/logs`);
 *   webhook       the Alertmanager webhook v4 payload.
 * Labels are Alertmanager's identity, so a clearing event reuses the labels
 * of the event it clears. Pure: no I/O, no logging.
 */
#include "format.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const alert_format_names[] = {"native", "alertmanager", "otlp", "webhook", NULL};

#define ANNOTATION_MAX 4096
#define TOP_FRAMES 5

static const struct {
	const char *kind, *name;
} alertnames[] = {
	{"hung_task", "KernelHungTask"},
	{"soft_lockup", "KernelSoftLockup"},
	{"hard_lockup", "KernelHardLockup"},
	{"rcu_stall", "KernelRcuStall"},
	{"oops", "KernelOops"},
	{"bug", "KernelBug"},
	{"gpf", "KernelGeneralProtectionFault"},
	{"panic", "KernelPanic"},
	{"warning", "KernelWarning"},
	{"sched_atomic", "KernelSchedulingWhileAtomic"},
	{"oom_kill", "KernelOomKill"},
	{"io_error", "BlockIoError"},
	{"io_timeout", "BlockIoTimeout"},
	{"virtio_error", "VirtioError"},
	{"pci_hotplug", "PciHotplug"},
	{"netdev_tx_timeout", "NetdevTxTimeout"},
	{"fs_error", "FilesystemError"},
	{"mce", "MachineCheckException"},
	{"kmsg_lost", "KernelLogLost"},
	{"task_stuck", "TaskStuckInDState"},
	{"virtio_removed", "VirtioDeviceRemoved"},
	{"virtio_added", "VirtioDeviceAdded"},
	{"virtio_legacy_risk", "VirtioLegacyDeviceRisk"},
	{"vhost_backend_lost", "VhostBackendLost"},
	{"blk_stall", "BlockDeviceStalled"},
	{"link_down", "LinkDown"},
	{"link_removed", "LinkRemoved"},
	{"link_flapping", "LinkFlapping"},
	{"kdump_state", "KdumpNotArmed"},
	{"sysctl_drift", "SysctlDrift"},
	{"reboot_requested", "RebootRequested"},
	{"reboot_suppressed", "RebootSuppressed"},
	{"alert_dropped", "VigilAlertsDropped"},
	{"previous_boot_crash", "PreviousBootCrash"},
	{"agent_heartbeat", "VigilHeartbeat"},
	{"agent_test", "VigilTestAlert"},
};

/* Clearing kinds whose raising kind is known, for a clear whose raise was
 * never seen (e.g. lost with a wiped state dir). */
static const struct {
	const char *clear, *raise;
} clear_to_raise[] = {
	{"link_up", "link_down"},
	{"blk_resumed", "blk_stall"},
	{"vhost_backend_restored", "vhost_backend_lost"},
};

void alert_alertname(const char *kind, char *buf, size_t size)
{
	size_t o = 0;
	bool up = true;

	for (size_t i = 0; i < sizeof(alertnames) / sizeof(alertnames[0]); i++)
		if (strcmp(alertnames[i].kind, kind) == 0) {
			snprintf(buf, size, "%s", alertnames[i].name);
			return;
		}
	/* Unknown kind: "Vigil" + CamelCase, only [A-Za-z0-9]. */
	o = (size_t)snprintf(buf, size, "Vigil");
	for (const char *p = kind; *p && o + 1 < size; p++) {
		if (!isalnum((unsigned char)*p)) {
			up = true;
			continue;
		}
		buf[o++] = up ? (char)toupper((unsigned char)*p) : *p;
		up = false;
	}
	buf[o < size ? o : size - 1] = 0;
}

const char *alert_format_default_path(enum alert_format f)
{
	switch (f) {
	case ALERT_FMT_ALERTMANAGER:
		return "/api/v2/alerts";
	case ALERT_FMT_OTLP:
		return "/v1/logs";
	default:
		return NULL;
	}
}

bool alert_format_status_retryable(enum alert_format f, long status)
{
	if (f == ALERT_FMT_OTLP)
		/* OTLP/HTTP spec: only these are retryable. */
		return status == 429 || status == 502 || status == 503 || status == 504;
	return status == 408 || status == 429 || status >= 500;
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;
	if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v = get(o, key);
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static const char *strempty_(const char *s) { return s ? s : ""; }

static bool has_int(json_object *o, const char *key, int64_t *ret)
{
	json_object *v = get(o, key);
	if (!v || !json_object_is_type(v, json_type_int))
		return false;
	*ret = json_object_get_int64(v);
	return true;
}

enum alert_cond alert_event_cond(json_object *event, const char **ret_condition)
{
	const char *c = get_str(event, "condition");
	json_object *a = get(event, "active");
	if (!c || !*c || !a || !json_object_is_type(a, json_type_boolean))
		return ALERT_ONESHOT;
	if (ret_condition)
		*ret_condition = c;
	return json_object_get_boolean(a) ? ALERT_RAISE : ALERT_CLEAR;
}

void alert_rfc3339(uint64_t usec, char buf[static 40])
{
	time_t t = (time_t)(usec / 1000000);
	struct tm tm;
	if (!gmtime_r(&t, &tm)) {
		snprintf(buf, 40, "1970-01-01T00:00:00.000Z");
		return;
	}
	size_t n = strftime(buf, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, 40 - n, ".%03uZ", (unsigned)((usec / 1000) % 1000));
}

uint64_t alert_event_time(json_object *event)
{
	const char *s = get_str(event, "time");
	struct tm tm = {0};
	int n = 0;
	uint64_t frac = 0, scale = 1000000;

	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
			 &tm.tm_min, &tm.tm_sec, &n) != 6)
		return 0;
	s += n;
	if (*s == '.')
		for (s++; isdigit((unsigned char)*s); s++)
			if (scale > 1) {
				scale /= 10;
				frac += (uint64_t)(*s - '0') * scale;
			}
	if (*s != 'Z')
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t t = timegm(&tm);
	if (t < 0)
		return 0;
	return (uint64_t)t * 1000000 + frac;
}

/* Bounded copy of text into a json string (the event strings are already
 * valid UTF-8; cut on a character boundary). */
static json_object *str_bounded(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n <= max)
		return json_object_new_string(s);
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return json_object_new_string_len(s, (int)max);
}

static void add_str(json_object *o, const char *key, const char *v)
{
	if (v && *v)
		json_object_object_add(o, key, str_bounded(v, ANNOTATION_MAX));
}

/* "sym+0x1a/0x200 [mod]" */
static void frame_text(json_object *f, char *buf, size_t size)
{
	const char *sym = get_str(f, "symbol"), *mod = get_str(f, "module");
	int64_t off = 0, sz = 0;
	int n;
	if (!sym) {
		snprintf(buf, size, "?");
		return;
	}
	if (has_int(f, "offset", &off) && has_int(f, "size", &sz))
		n = snprintf(buf, size, "%s+0x%" PRIx64 "/0x%" PRIx64, sym, off, sz);
	else
		n = snprintf(buf, size, "%s", sym);
	if (mod && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, " [%s]", mod);
}

/* A growing text buffer bounded at ANNOTATION_MAX. */
struct text {
	char buf[ANNOTATION_MAX + 1];
	size_t len;
};

static void text_add(struct text *t, const char *s)
{
	size_t n = strlen(s);
	if (t->len + n > ANNOTATION_MAX)
		n = ANNOTATION_MAX - t->len;
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = 0;
}

static void description(json_object *ev, struct text *t)
{
	char line[512];
	const char *comm = get_str(ev, "comm");
	int64_t pid, cpu;
	json_object *ip = get(ev, "ip"), *frames = get(ev, "frames"), *dev = get(ev, "device"),
		    *ki = get(ev, "known_issue");

	text_add(t, get_str(ev, "summary") ? get_str(ev, "summary") : "");
	if (comm) {
		snprintf(line, sizeof(line), "\nculprit: %s", comm);
		text_add(t, line);
		if (has_int(ev, "pid", &pid)) {
			snprintf(line, sizeof(line), " (pid %" PRId64 ")", pid);
			text_add(t, line);
		}
		if (has_int(ev, "cpu", &cpu)) {
			snprintf(line, sizeof(line), " on CPU %" PRId64, cpu);
			text_add(t, line);
		}
	}
	if (ip && json_object_is_type(ip, json_type_object)) {
		char f[256];
		frame_text(ip, f, sizeof(f));
		snprintf(line, sizeof(line), "\nip: %s", f);
		text_add(t, line);
	}
	if (frames && json_object_is_type(frames, json_type_array) && json_object_array_length(frames) > 0) {
		text_add(t, "\ntop frames:");
		for (size_t i = 0; i < json_object_array_length(frames) && i < TOP_FRAMES; i++) {
			char f[256];
			frame_text(json_object_array_get_idx(frames, i), f, sizeof(f));
			snprintf(line, sizeof(line), " %s%s", i ? "< " : "", f);
			text_add(t, line);
		}
	}
	if (dev && json_object_is_type(dev, json_type_object)) {
		snprintf(line, sizeof(line), "\ndevice: %s %s %s %s", strempty_(get_str(dev, "name")),
			 strempty_(get_str(dev, "driver")), strempty_(get_str(dev, "pci_bdf")),
			 strempty_(get_str(dev, "virtio_mode")));
		text_add(t, line);
	}
	if (ki && json_object_is_type(ki, json_type_object)) {
		snprintf(line, sizeof(line), "\nknown issue: %s: %s", strempty_(get_str(ki, "id")),
			 strempty_(get_str(ki, "title")));
		text_add(t, line);
	}
}

static void call_trace(json_object *ev, struct text *t)
{
	json_object *raw = get(ev, "raw"), *frames = get(ev, "frames");
	char f[256];

	if (raw && json_object_is_type(raw, json_type_array) && json_object_array_length(raw) > 0) {
		for (size_t i = 0; i < json_object_array_length(raw); i++) {
			json_object *l = json_object_array_get_idx(raw, i);
			if (!json_object_is_type(l, json_type_string))
				continue;
			if (t->len)
				text_add(t, "\n");
			text_add(t, json_object_get_string(l));
		}
		return;
	}
	if (frames && json_object_is_type(frames, json_type_array))
		for (size_t i = 0; i < json_object_array_length(frames); i++) {
			frame_text(json_object_array_get_idx(frames, i), f, sizeof(f));
			if (t->len)
				text_add(t, "\n");
			text_add(t, f);
		}
}

/* Labels: the identity of an Alertmanager alert. Empty values are left out
 * (Alertmanager treats an empty label as absent). */
static json_object *am_labels(json_object *ev, const char *kind_override)
{
	json_object *l = json_object_new_object(), *host = get(ev, "host"), *ki = get(ev, "known_issue"),
		    *dev = get(ev, "device"), *link = get(ev, "link");
	const char *kind = kind_override ? kind_override : get_str(ev, "kind");
	char name[96];

	if (!l)
		return NULL;
	alert_alertname(kind ? kind : "unknown", name, sizeof(name));
	add_str(l, "alertname", name);
	add_str(l, "instance", get_str(host, "hostname"));
	add_str(l, "instance_id", get_str(host, "instance_id"));
	add_str(l, "severity", get_str(ev, "severity"));
	add_str(l, "kind", kind);
	add_str(l, "known_issue", get_str(ki, "id"));
	if (get_str(dev, "name"))
		add_str(l, "device", get_str(dev, "name"));
	else if (get_str(link, "name"))
		add_str(l, "device", get_str(link, "name"));
	else
		add_str(l, "device", get_str(ev, "device"));
	add_str(l, "condition", get_str(ev, "condition"));
	add_str(l, "job", "vigil");
	return l;
}

static json_object *am_annotations(json_object *ev, json_object *clear)
{
	json_object *a = json_object_new_object(), *host = get(ev, "host"), *ki = get(ev, "known_issue");
	struct text *t = calloc(1, sizeof(*t));
	json_object *raw = get(ev, "raw");

	if (!a || !t) {
		free(t);
		json_object_put(a);
		return NULL;
	}
	add_str(a, "summary", get_str(ev, "summary"));
	description(ev, t);
	add_str(a, "description", t->buf);
	t->len = 0;
	t->buf[0] = 0;
	call_trace(ev, t);
	add_str(a, "call_trace", t->buf);
	if (raw && json_object_is_type(raw, json_type_array) && json_object_array_length(raw) > 0)
		add_str(a, "first_line", json_object_get_string(json_object_array_get_idx(raw, 0)));
	if (ki) {
		const char *fix = get_str(ki, "fix"), *advice = get_str(ki, "advice");
		t->len = 0;
		t->buf[0] = 0;
		if (advice)
			text_add(t, advice);
		if (fix) {
			if (t->len)
				text_add(t, "\n");
			text_add(t, "fix: ");
			text_add(t, fix);
		}
		add_str(a, "remediation", t->buf);
		add_str(a, "known_issue_title", get_str(ki, "title"));
	}
	add_str(a, "event_id", get_str(ev, "id"));
	add_str(a, "boot_id", get_str(host, "boot_id"));
	add_str(a, "kernel", get_str(host, "kernel"));
	if (clear) {
		add_str(a, "resolved_by", get_str(clear, "summary"));
		add_str(a, "resolved_event_id", get_str(clear, "id"));
	}
	free(t);
	return a;
}

/* The pieces common to Alertmanager v2 and webhook v4 alerts. */
struct am_alert {
	json_object *labels, *annotations;
	uint64_t starts, ends; /* ends 0: firing with no end */
	bool resolved;
	const char *fingerprint;
};

static int am_alert_of(const struct alert_item *it, const struct alert_fmt_opts *o, struct am_alert *ret)
{
	json_object *ev = it->event;
	uint64_t t = alert_event_time(ev);
	struct am_alert a = {.fingerprint = get_str(ev, "id")};

	if (!t)
		t = o->now_usec;
	switch (alert_event_cond(ev, NULL)) {
	case ALERT_RAISE:
		a.labels = am_labels(ev, NULL);
		a.annotations = am_annotations(ev, NULL);
		a.starts = t;
		/* Still active: fire until re-sent (4 resend intervals, as
		 * Prometheus does); cleared meanwhile: resolved on arrival. */
		a.ends = it->still_active ? o->now_usec + 4 * o->resend_usec : o->now_usec;
		a.resolved = !it->still_active;
		break;
	case ALERT_CLEAR: {
		json_object *raise = it->resolves;
		const char *kind = get_str(ev, "kind");
		const char *rk = NULL;
		if (!raise)
			for (size_t i = 0; i < sizeof(clear_to_raise) / sizeof(clear_to_raise[0]); i++)
				if (kind && strcmp(kind, clear_to_raise[i].clear) == 0)
					rk = clear_to_raise[i].raise;
		a.labels = am_labels(raise ? raise : ev, raise ? NULL : rk);
		a.annotations = am_annotations(raise ? raise : ev, ev);
		a.starts = raise && alert_event_time(raise) ? alert_event_time(raise) : t;
		a.ends = t < a.starts ? a.starts : t;
		a.resolved = true;
		break;
	}
	case ALERT_ONESHOT:
	default:
		a.labels = am_labels(ev, NULL);
		a.annotations = am_annotations(ev, NULL);
		a.starts = t;
		a.ends = t + o->hold_usec;
		/* Delivered late (endpoint was down): still fire for `hold`. */
		if (a.ends <= o->now_usec)
			a.ends = o->now_usec + o->hold_usec;
		break;
	}
	if (!a.labels || !a.annotations) {
		json_object_put(a.labels);
		json_object_put(a.annotations);
		return -1;
	}
	*ret = a;
	return 0;
}

static json_object *time_str(uint64_t usec)
{
	char b[40];
	alert_rfc3339(usec, b);
	return json_object_new_string(b);
}

static json_object *format_alertmanager(const struct alert_item *items, size_t n, const struct alert_fmt_opts *o)
{
	json_object *arr = json_object_new_array();
	if (!arr)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		struct am_alert a;
		json_object *al = json_object_new_object();
		if (!al || am_alert_of(&items[i], o, &a) < 0) {
			json_object_put(al);
			json_object_put(arr);
			return NULL;
		}
		json_object_object_add(al, "labels", a.labels);
		json_object_object_add(al, "annotations", a.annotations);
		json_object_object_add(al, "startsAt", time_str(a.starts));
		json_object_object_add(al, "endsAt", time_str(a.ends));
		json_object_array_add(arr, al);
	}
	return arr;
}

/* Keys (with equal string values) present in every object of objs. */
static json_object *common_of(json_object **objs, size_t n)
{
	json_object *c = json_object_new_object();
	if (!c || n == 0)
		return c;
	json_object_object_foreach(objs[0], k, v)
	{
		bool all = true;
		for (size_t i = 1; i < n && all; i++) {
			const char *s = get_str(objs[i], k);
			all = s && strcmp(s, json_object_get_string(v)) == 0;
		}
		if (all)
			json_object_object_add(c, k, json_object_get(v));
	}
	return c;
}

static json_object *format_webhook(const struct alert_item *items, size_t n, const struct alert_fmt_opts *o)
{
	json_object *root = json_object_new_object(), *alerts = json_object_new_array();
	json_object **labels = calloc(n, sizeof(*labels)), **annos = calloc(n, sizeof(*annos));
	bool any_firing = false;
	char gk[512];

	if (!root || !alerts || !labels || !annos)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		struct am_alert a;
		json_object *al = json_object_new_object();
		if (!al || am_alert_of(&items[i], o, &a) < 0) {
			json_object_put(al);
			goto fail;
		}
		labels[i] = a.labels;
		annos[i] = a.annotations;
		any_firing = any_firing || !a.resolved;
		json_object_object_add(al, "status", json_object_new_string(a.resolved ? "resolved" : "firing"));
		json_object_object_add(al, "labels", json_object_get(a.labels));
		json_object_object_add(al, "annotations", json_object_get(a.annotations));
		json_object_object_add(al, "startsAt", time_str(a.starts));
		/* Alertmanager's own webhook sends the zero time while firing. */
		json_object_object_add(al, "endsAt", a.resolved ? time_str(a.ends)
								: json_object_new_string("0001-01-01T00:00:00Z"));
		json_object_object_add(al, "generatorURL", json_object_new_string(""));
		json_object_object_add(al, "fingerprint", json_object_new_string(a.fingerprint ? a.fingerprint : ""));
		json_object_array_add(alerts, al);
	}
	json_object *common_labels = common_of(labels, n), *group = json_object_new_object();
	const char *inst = get_str(common_labels, "instance");
	if (inst)
		json_object_object_add(group, "instance", json_object_new_string(inst));
	snprintf(gk, sizeof(gk), "{}:{instance=\"%s\"}", inst ? inst : "");
	json_object_object_add(root, "version", json_object_new_string("4"));
	json_object_object_add(root, "groupKey", json_object_new_string(gk));
	json_object_object_add(root, "truncatedAlerts", json_object_new_int(0));
	json_object_object_add(root, "status", json_object_new_string(any_firing ? "firing" : "resolved"));
	json_object_object_add(root, "receiver", json_object_new_string(o->receiver ? o->receiver : "vigil"));
	json_object_object_add(root, "groupLabels", group);
	json_object_object_add(root, "commonLabels", common_labels);
	json_object_object_add(root, "commonAnnotations", common_of(annos, n));
	json_object_object_add(root, "externalURL", json_object_new_string(""));
	json_object_object_add(root, "alerts", alerts);
	for (size_t i = 0; i < n; i++) {
		json_object_put(labels[i]);
		json_object_put(annos[i]);
	}
	free(labels);
	free(annos);
	return root;
fail:
	for (size_t i = 0; labels && annos && i < n; i++) {
		json_object_put(labels[i]);
		json_object_put(annos[i]);
	}
	free(labels);
	free(annos);
	json_object_put(alerts);
	json_object_put(root);
	return NULL;
}

/* ---------------------------------------------------------------- OTLP */

static json_object *otlp_value(json_object *v, int depth);

static json_object *otlp_kv(const char *key, json_object *value)
{
	json_object *kv = json_object_new_object();
	json_object_object_add(kv, "key", json_object_new_string(key));
	json_object_object_add(kv, "value", value);
	return kv;
}

static json_object *otlp_value(json_object *v, int depth)
{
	json_object *o = json_object_new_object();
	char num[32];

	switch (json_object_get_type(v)) {
	case json_type_boolean:
		json_object_object_add(o, "boolValue", json_object_new_boolean(json_object_get_boolean(v)));
		break;
	case json_type_int:
		/* OTLP JSON encodes int64 as a decimal string. */
		snprintf(num, sizeof(num), "%" PRId64, json_object_get_int64(v));
		json_object_object_add(o, "intValue", json_object_new_string(num));
		break;
	case json_type_double:
		json_object_object_add(o, "doubleValue", json_object_new_double(json_object_get_double(v)));
		break;
	case json_type_array: {
		json_object *vals = json_object_new_array(), *av = json_object_new_object();
		for (size_t i = 0; depth < 8 && i < json_object_array_length(v); i++) {
			json_object *e = json_object_array_get_idx(v, i);
			if (e)
				json_object_array_add(vals, otlp_value(e, depth + 1));
		}
		json_object_object_add(av, "values", vals);
		json_object_object_add(o, "arrayValue", av);
		break;
	}
	case json_type_object: {
		json_object *vals = json_object_new_array(), *kl = json_object_new_object();
		json_object_object_foreach(v, k, e)
		{
			if (e && depth < 8)
				json_object_array_add(vals, otlp_kv(k, otlp_value(e, depth + 1)));
		}
		json_object_object_add(kl, "values", vals);
		json_object_object_add(o, "kvlistValue", kl);
		break;
	}
	case json_type_string:
	default:
		json_object_object_add(o, "stringValue",
				       json_object_new_string(v ? json_object_get_string(v) : ""));
		break;
	}
	return o;
}

static json_object *otlp_str(const char *s)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "stringValue", json_object_new_string(s ? s : ""));
	return o;
}

static json_object *otlp_resource(json_object *host)
{
	json_object *res = json_object_new_object(), *attrs = json_object_new_array();
	static const struct {
		const char *field, *attr;
	} map[] = {
		{"hostname", "host.name"},         {"machine_id", "host.id"},
		{"instance_id", "service.instance.id"}, {"boot_id", "vigil.boot_id"},
		{"kernel", "os.version"},
	};
	json_object_array_add(attrs, otlp_kv("service.name", otlp_str("vigil")));
	json_object_array_add(attrs, otlp_kv("os.type", otlp_str("linux")));
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		const char *v = get_str(host, map[i].field);
		if (v)
			json_object_array_add(attrs, otlp_kv(map[i].attr, otlp_str(v)));
	}
	json_object_object_add(res, "attributes", attrs);
	return res;
}

static int otlp_severity(const char *sev)
{
	/* OTel SeverityNumber: INFO 9, INFO2 10, WARN 13, ERROR 17. */
	if (!sev)
		return 9;
	if (strcmp(sev, "critical") == 0)
		return 17;
	if (strcmp(sev, "warning") == 0)
		return 13;
	if (strcmp(sev, "notice") == 0)
		return 10;
	return 9;
}

static json_object *otlp_record(json_object *ev, const struct alert_fmt_opts *o)
{
	json_object *r = json_object_new_object(), *attrs = json_object_new_array(), *raw = get(ev, "raw");
	struct text *t = calloc(1, sizeof(*t));
	char ns[32];
	uint64_t tm = alert_event_time(ev);

	snprintf(ns, sizeof(ns), "%" PRIu64, (tm ? tm : o->now_usec) * 1000);
	json_object_object_add(r, "timeUnixNano", json_object_new_string(ns));
	snprintf(ns, sizeof(ns), "%" PRIu64, o->now_usec * 1000);
	json_object_object_add(r, "observedTimeUnixNano", json_object_new_string(ns));
	json_object_object_add(r, "severityNumber", json_object_new_int(otlp_severity(get_str(ev, "severity"))));
	json_object_object_add(r, "severityText", json_object_new_string(get_str(ev, "severity") ? get_str(ev, "severity") : "info"));
	/* Body: the summary, then the whole raw report (bounded by the event API). */
	if (t) {
		text_add(t, get_str(ev, "summary") ? get_str(ev, "summary") : "");
		for (size_t i = 0; raw && json_object_is_type(raw, json_type_array) && i < json_object_array_length(raw); i++) {
			text_add(t, "\n");
			text_add(t, json_object_get_string(json_object_array_get_idx(raw, i)));
		}
		json_object_object_add(r, "body", otlp_str(t->buf));
		free(t);
	}
	json_object_object_foreach(ev, k, v)
	{
		char key[96];
		if (!v || strcmp(k, "host") == 0 || strcmp(k, "raw") == 0)
			continue;
		snprintf(key, sizeof(key), "vigil.%s", strcmp(k, "id") == 0 ? "event.id" : k);
		json_object_array_add(attrs, otlp_kv(key, otlp_value(v, 0)));
	}
	json_object_object_add(r, "attributes", attrs);
	return r;
}

static json_object *format_otlp(const struct alert_item *items, size_t n, const struct alert_fmt_opts *o)
{
	json_object *root = json_object_new_object(), *rls = json_object_new_array();
	/* One resourceLogs per distinct host object (spooled events of an
	 * earlier boot carry another boot_id). */
	json_object **hosts = calloc(n, sizeof(*hosts)), **recs = calloc(n, sizeof(*recs));
	size_t nh = 0;

	if (!root || !rls || !hosts || !recs) {
		free(hosts);
		free(recs);
		json_object_put(rls);
		json_object_put(root);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *h = get(items[i].event, "host");
		size_t j;
		for (j = 0; j < nh; j++)
			if (json_object_equal(hosts[j], h))
				break;
		if (j == nh) {
			hosts[nh] = h;
			recs[nh++] = json_object_new_array();
		}
		json_object_array_add(recs[j], otlp_record(items[i].event, o));
	}
	for (size_t j = 0; j < nh; j++) {
		json_object *rl = json_object_new_object(), *sls = json_object_new_array(),
			    *sl = json_object_new_object(), *scope = json_object_new_object();
		json_object_object_add(rl, "resource", otlp_resource(hosts[j]));
		json_object_object_add(scope, "name", json_object_new_string("vigil"));
		json_object_object_add(scope, "version", json_object_new_string(o->version ? o->version : ""));
		json_object_object_add(sl, "scope", scope);
		json_object_object_add(sl, "logRecords", recs[j]);
		json_object_array_add(sls, sl);
		json_object_object_add(rl, "scopeLogs", sls);
		json_object_array_add(rls, rl);
	}
	free(hosts);
	free(recs);
	json_object_object_add(root, "resourceLogs", rls);
	return root;
}

char *alert_format_body(enum alert_format f, const struct alert_item *items, size_t n,
			const struct alert_fmt_opts *o)
{
	json_object *body = NULL;
	char *s;

	switch (f) {
	case ALERT_FMT_NATIVE:
		body = json_object_new_array();
		for (size_t i = 0; body && i < n; i++)
			json_object_array_add(body, json_object_get(items[i].event));
		break;
	case ALERT_FMT_ALERTMANAGER:
		body = format_alertmanager(items, n, o);
		break;
	case ALERT_FMT_OTLP:
		body = format_otlp(items, n, o);
		break;
	case ALERT_FMT_WEBHOOK:
		body = format_webhook(items, n, o);
		break;
	default:
		return NULL;
	}
	if (!body)
		return NULL;
	s = strdup(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(body);
	return s;
}
