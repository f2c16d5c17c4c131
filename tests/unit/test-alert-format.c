/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Wire formats of the alert plugin, from events built with the core's own
 * event API and encoder (what the spool keeps). */
#include "../../agent/event.h"
#include "../../agent/util.h"
#include "../../plugins/alert/format.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static const struct vigil_host host = {"vm-1", "m1d", "b00t", "i-123", "6.1.0-test"};

static json_object *softlockup(void)
{
	struct vigil_event *ev = vigil_event_new("soft_lockup", VIGIL_SEV_CRITICAL);
	json_object *frames = json_object_new_array(), *f = json_object_new_object(), *ki = json_object_new_object();
	vigil_event_set_summary(ev, "soft lockup on CPU#3 for 22s in kworker/3:1 (pid 1234)");
	vigil_event_set_int(ev, "cpu", 3);
	vigil_event_set_str(ev, "comm", "kworker/3:1");
	vigil_event_set_int(ev, "pid", 1234);
	json_object_object_add(f, "symbol", json_object_new_string("skb_tx_hash"));
	json_object_object_add(f, "offset", json_object_new_int(18));
	json_object_object_add(f, "size", json_object_new_int(200));
	json_object_object_add(f, "module", json_object_new_string("openvswitch"));
	json_object_array_add(frames, f);
	vigil_event_set_json(ev, "frames", frames);
	json_object_object_add(ki, "id", json_object_new_string("ovs-veth-tx-lockup"));
	json_object_object_add(ki, "title", json_object_new_string("OVS tx to unregistering veth"));
	json_object_object_add(ki, "fix", json_object_new_string("net: openvswitch: fix race on port output"));
	vigil_event_set_json(ev, "known_issue", ki);
	vigil_event_add_raw(ev, "watchdog: BUG: soft lockup - CPU#3 stuck for 22s! [kworker/3:1:1234]");
	vigil_event_add_raw(ev, " skb_tx_hash+0x12/0xc8 [openvswitch]");
	vigil_event_stamp(ev, "kmsg", &host, 1700000000000000ULL, 5);
	json_object *j = vigil_event_to_json(ev);
	vigil_event_unref(ev);
	return j;
}

static json_object *link_event(bool active, uint64_t t)
{
	struct vigil_event *ev = vigil_event_new(active ? "link_down" : "link_up",
						 active ? VIGIL_SEV_WARNING : VIGIL_SEV_INFO);
	json_object *l = json_object_new_object();
	vigil_event_set_summary(ev, "eth0 %s", active ? "lost carrier" : "carrier back");
	vigil_event_set_str(ev, "condition", "link/eth0");
	vigil_event_set_bool(ev, "active", active);
	json_object_object_add(l, "name", json_object_new_string("eth0"));
	vigil_event_set_json(ev, "link", l);
	vigil_event_stamp(ev, "link", &host, t, 5);
	json_object *j = vigil_event_to_json(ev);
	vigil_event_unref(ev);
	return j;
}

static json_object *parse_body(enum alert_format f, struct alert_item *it, size_t n, uint64_t now)
{
	struct alert_fmt_opts o = {.receiver = "alert-ops", .version = "0.1", .now_usec = now,
				   .hold_usec = 3600ULL * USEC_PER_SEC, .resend_usec = 60ULL * USEC_PER_SEC};
	char *s = alert_format_body(f, it, n, &o);
	assert_non_null(s);
	json_object *j = json_tokener_parse(s);
	free(s);
	assert_non_null(j);
	return j;
}

static const char *path_str(json_object *o, const char *a, const char *b)
{
	json_object *x = NULL, *y = NULL;
	assert_true(json_object_object_get_ex(o, a, &x));
	if (!b)
		return json_object_get_string(x);
	if (!json_object_object_get_ex(x, b, &y))
		return NULL;
	return json_object_get_string(y);
}

static void test_alertname(void **state)
{
	char b[96];
	alert_alertname("soft_lockup", b, sizeof(b));
	assert_string_equal(b, "KernelSoftLockup");
	alert_alertname("virtio_removed", b, sizeof(b));
	assert_string_equal(b, "VirtioDeviceRemoved");
	alert_alertname("vhost_backend_lost", b, sizeof(b));
	assert_string_equal(b, "VhostBackendLost");
	alert_alertname("some_new_kind", b, sizeof(b));
	assert_string_equal(b, "VigilSomeNewKind");
}

static void test_alertmanager_oneshot(void **state)
{
	json_object *ev = softlockup();
	struct alert_item it = {.event = ev};
	uint64_t now = 1700000010000000ULL;
	json_object *arr = parse_body(ALERT_FMT_ALERTMANAGER, &it, 1, now);
	assert_int_equal(json_object_array_length(arr), 1);
	json_object *a = json_object_array_get_idx(arr, 0);
	assert_string_equal(path_str(a, "labels", "alertname"), "KernelSoftLockup");
	assert_string_equal(path_str(a, "labels", "instance"), "vm-1");
	assert_string_equal(path_str(a, "labels", "instance_id"), "i-123");
	assert_string_equal(path_str(a, "labels", "severity"), "critical");
	assert_string_equal(path_str(a, "labels", "known_issue"), "ovs-veth-tx-lockup");
	assert_non_null(strstr(path_str(a, "annotations", "description"), "skb_tx_hash+0x12/0xc8 [openvswitch]"));
	assert_non_null(strstr(path_str(a, "annotations", "description"), "kworker/3:1 (pid 1234) on CPU 3"));
	assert_non_null(strstr(path_str(a, "annotations", "call_trace"), "soft lockup - CPU#3"));
	assert_non_null(strstr(path_str(a, "annotations", "remediation"), "fix race on port output"));
	assert_string_equal(path_str(a, "startsAt", NULL), "2023-11-14T22:13:20.000Z");
	/* one-shot: ends at start + hold */
	assert_string_equal(path_str(a, "endsAt", NULL), "2023-11-14T23:13:20.000Z");
	json_object_put(arr);
	/* delivered after the hold passed: fires for another hold */
	arr = parse_body(ALERT_FMT_ALERTMANAGER, &it, 1, 1700000000000000ULL + 7200ULL * USEC_PER_SEC);
	assert_string_equal(path_str(json_object_array_get_idx(arr, 0), "endsAt", NULL), "2023-11-15T01:13:20.000Z");
	json_object_put(arr);
	json_object_put(ev);
}

static void test_alertmanager_condition(void **state)
{
	json_object *down = link_event(true, 1700000000000000ULL), *up = link_event(false, 1700000100000000ULL);
	struct alert_item raise = {.event = down, .still_active = true};
	struct alert_item clear = {.event = up, .resolves = down};
	json_object *r = parse_body(ALERT_FMT_ALERTMANAGER, &raise, 1, 1700000001000000ULL);
	json_object *c = parse_body(ALERT_FMT_ALERTMANAGER, &clear, 1, 1700000101000000ULL);
	json_object *ra = json_object_array_get_idx(r, 0), *ca = json_object_array_get_idx(c, 0), *rl, *cl;
	json_object_object_get_ex(ra, "labels", &rl);
	json_object_object_get_ex(ca, "labels", &cl);
	/* Same identity: the clear resolves the raised alert. */
	assert_true(json_object_equal(rl, cl));
	assert_string_equal(path_str(ra, "labels", "alertname"), "LinkDown");
	assert_string_equal(path_str(ra, "labels", "device"), "eth0");
	assert_string_equal(path_str(ra, "labels", "condition"), "link/eth0");
	/* firing: endsAt 4 resend intervals ahead */
	assert_string_equal(path_str(ra, "endsAt", NULL), "2023-11-14T22:17:21.000Z");
	/* resolved: endsAt = time of the clear, startsAt = the raise */
	assert_string_equal(path_str(ca, "startsAt", NULL), "2023-11-14T22:13:20.000Z");
	assert_string_equal(path_str(ca, "endsAt", NULL), "2023-11-14T22:15:00.000Z");
	assert_string_equal(path_str(ca, "annotations", "resolved_by"), "eth0 carrier back");
	json_object_put(r);
	json_object_put(c);
	/* clear whose raise is unknown still names the raising alert */
	clear.resolves = NULL;
	c = parse_body(ALERT_FMT_ALERTMANAGER, &clear, 1, 1700000101000000ULL);
	assert_string_equal(path_str(json_object_array_get_idx(c, 0), "labels", "alertname"), "LinkDown");
	json_object_put(c);
	json_object_put(down);
	json_object_put(up);
}

static void test_webhook(void **state)
{
	json_object *ev = softlockup(), *down = link_event(true, 1700000000000000ULL),
		    *up = link_event(false, 1700000100000000ULL);
	struct alert_item it[2] = {{.event = ev}, {.event = up, .resolves = down}};
	json_object *w = parse_body(ALERT_FMT_WEBHOOK, it, 2, 1700000101000000ULL), *alerts;
	assert_string_equal(path_str(w, "version", NULL), "4");
	assert_string_equal(path_str(w, "status", NULL), "firing");
	assert_string_equal(path_str(w, "receiver", NULL), "alert-ops");
	assert_string_equal(path_str(w, "commonLabels", "instance"), "vm-1");
	assert_null(path_str(w, "commonLabels", "alertname"));
	json_object_object_get_ex(w, "alerts", &alerts);
	assert_int_equal(json_object_array_length(alerts), 2);
	json_object *a0 = json_object_array_get_idx(alerts, 0), *a1 = json_object_array_get_idx(alerts, 1);
	assert_string_equal(path_str(a0, "fingerprint", NULL), path_str(ev, "id", NULL));
	assert_string_equal(path_str(a0, "status", NULL), "firing");
	assert_string_equal(path_str(a0, "endsAt", NULL), "0001-01-01T00:00:00Z");
	assert_string_equal(path_str(a1, "status", NULL), "resolved");
	assert_string_equal(path_str(a1, "labels", "alertname"), "LinkDown");
	json_object_put(w);
	json_object_put(ev);
	json_object_put(down);
	json_object_put(up);
}

static void test_otlp(void **state)
{
	json_object *ev = softlockup();
	struct alert_item it = {.event = ev};
	json_object *o = parse_body(ALERT_FMT_OTLP, &it, 1, 1700000010000000ULL), *rl, *res, *attrs, *sl, *recs;
	json_object_object_get_ex(o, "resourceLogs", &rl);
	assert_int_equal(json_object_array_length(rl), 1);
	json_object_object_get_ex(json_object_array_get_idx(rl, 0), "resource", &res);
	json_object_object_get_ex(res, "attributes", &attrs);
	bool host_ok = false;
	for (size_t i = 0; i < json_object_array_length(attrs); i++)
		if (streq(path_str(json_object_array_get_idx(attrs, i), "key", NULL), "host.name"))
			host_ok = streq(path_str(json_object_array_get_idx(attrs, i), "value", "stringValue"), "vm-1");
	assert_true(host_ok);
	json_object_object_get_ex(json_object_array_get_idx(rl, 0), "scopeLogs", &sl);
	json_object_object_get_ex(json_object_array_get_idx(sl, 0), "logRecords", &recs);
	json_object *rec = json_object_array_get_idx(recs, 0);
	assert_string_equal(path_str(rec, "timeUnixNano", NULL), "1700000000000000000");
	assert_int_equal(json_object_get_int(json_object_object_get(rec, "severityNumber")), 17);
	assert_non_null(strstr(path_str(rec, "body", "stringValue"), "soft lockup - CPU#3 stuck"));
	json_object_object_get_ex(rec, "attributes", &attrs);
	bool id_ok = false, cpu_ok = false;
	for (size_t i = 0; i < json_object_array_length(attrs); i++) {
		json_object *a = json_object_array_get_idx(attrs, i);
		if (streq(path_str(a, "key", NULL), "vigil.event.id"))
			id_ok = streq(path_str(a, "value", "stringValue"), path_str(ev, "id", NULL));
		if (streq(path_str(a, "key", NULL), "vigil.cpu"))
			cpu_ok = streq(path_str(a, "value", "intValue"), "3");
	}
	assert_true(id_ok);
	assert_true(cpu_ok);
	json_object_put(o);
	json_object_put(ev);
}

static void test_retryable(void **state)
{
	assert_true(alert_format_status_retryable(ALERT_FMT_NATIVE, 500));
	assert_true(alert_format_status_retryable(ALERT_FMT_NATIVE, 429));
	assert_true(alert_format_status_retryable(ALERT_FMT_NATIVE, 408));
	assert_false(alert_format_status_retryable(ALERT_FMT_NATIVE, 400));
	assert_true(alert_format_status_retryable(ALERT_FMT_OTLP, 503));
	assert_false(alert_format_status_retryable(ALERT_FMT_OTLP, 500));
	assert_false(alert_format_status_retryable(ALERT_FMT_OTLP, 408));
}

static void test_time_roundtrip(void **state)
{
	json_object *ev = softlockup();
	assert_int_equal(alert_event_time(ev), 1700000000000000ULL);
	json_object_put(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alertname),
		cmocka_unit_test(test_alertmanager_oneshot),
		cmocka_unit_test(test_alertmanager_condition),
		cmocka_unit_test(test_webhook),
		cmocka_unit_test(test_otlp),
		cmocka_unit_test(test_retryable),
		cmocka_unit_test(test_time_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
