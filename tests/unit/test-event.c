/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The event encoder: contract fields, hostile strings, bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "event.h"
#include "util.h"

static json_object *roundtrip(struct vigil_event *ev)
{
	char *s = vigil_event_to_json_string(ev);
	assert_non_null(s);
	json_tokener *tok = json_tokener_new_ex(64);
	json_object *o = json_tokener_parse_ex(tok, s, (int)strlen(s));
	assert_int_equal(json_tokener_get_error(tok), json_tokener_success);
	json_tokener_free(tok);
	free(s);
	assert_non_null(o);
	return o;
}

static const char *get_s(json_object *o, const char *k)
{
	json_object *v;
	assert_true(json_object_object_get_ex(o, k, &v));
	return v ? json_object_get_string(v) : NULL;
}

static void test_contract(void **state)
{
	struct vigil_event *ev = vigil_event_new("soft_lockup", VIGIL_SEV_CRITICAL);
	struct vigil_host h = {"web-1", "m", "b", "i-123", "6.1.0-13-amd64"};
	assert_non_null(ev);
	assert_int_equal(strlen(vigil_event_id(ev)), 36);
	vigil_event_set_summary(ev, "soft lockup on CPU#%d for %ds", 3, 22);
	vigil_event_set_int(ev, "cpu", 3);
	vigil_event_set_str(ev, "comm", "kworker/3:1");
	vigil_event_set_str(ev, "cause", NULL);
	vigil_event_add_raw(ev, "watchdog: BUG: soft lockup - CPU#3 stuck for 22s! [kworker/3:1:1234]");
	assert_int_equal(vigil_event_stamp(ev, "kmsg", &h, 1795355100123456ULL, 81234567), 0);
	json_object *o = roundtrip(ev), *v;
	assert_string_equal(get_s(o, "kind"), "soft_lockup");
	assert_string_equal(get_s(o, "severity"), "critical");
	assert_string_equal(get_s(o, "source"), "kmsg");
	assert_string_equal(get_s(o, "time"), "2026-11-22T13:45:00.123456Z");
	assert_string_equal(get_s(o, "summary"), "soft lockup on CPU#3 for 22s");
	assert_string_equal(get_s(o, "id"), vigil_event_id(ev));
	assert_true(json_object_object_get_ex(o, "monotonic_usec", &v));
	assert_int_equal(json_object_get_int64(v), 81234567);
	assert_true(json_object_object_get_ex(o, "known_issue", &v) && v == NULL);
	assert_true(json_object_object_get_ex(o, "cause", &v) && v == NULL);
	assert_true(json_object_object_get_ex(o, "partial", &v) && !json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(o, "count", &v) && json_object_get_int(v) == 1);
	assert_true(json_object_object_get_ex(o, "host", &v));
	assert_string_equal(get_s(v, "instance_id"), "i-123");
	assert_true(json_object_object_get_ex(o, "raw", &v) && json_object_array_length(v) == 1);
	assert_true(json_object_object_get_ex(o, "cpu", &v) && json_object_get_int(v) == 3);
	json_object_put(o);
	/* Reserved names cannot be overwritten by a plugin. */
	assert_int_equal(vigil_event_set_str(ev, "kind", "oops"), -EINVAL);
	assert_int_equal(vigil_event_set_str(ev, "id", "x"), -EINVAL);
	vigil_event_unref(ev);
}

static void test_hostile_strings(void **state)
{
	struct vigil_event *ev = vigil_event_new("oops", VIGIL_SEV_CRITICAL);
	/* invalid UTF-8, overlong encodings, surrogates, controls, quotes */
	const char *nasty = "a\xff\xfe\"\\\n\t\x01\xc0\xaf\xed\xa0\x80z\xe2\x82";
	vigil_event_set_str(ev, "comm", nasty);
	vigil_event_set_summary(ev, "%s", nasty);
	vigil_event_add_raw(ev, nasty);
	json_object *o = roundtrip(ev);
	const char *comm = get_s(o, "comm");
	assert_non_null(strstr(comm, "\"\\\n\t\x01"));
	assert_int_equal((unsigned char)comm[0], 'a');
	/* every invalid byte became U+FFFD */
	assert_non_null(strstr(comm, "\xef\xbf\xbd"));
	assert_null(strstr(comm, "\xff"));
	assert_null(strstr(comm, "\xc0\xaf"));
	assert_null(strstr(comm, "\xed\xa0\x80"));
	json_object_put(o);
	vigil_event_unref(ev);
}

static void test_bounds(void **state)
{
	struct vigil_event *ev = vigil_event_new("oops", VIGIL_SEV_CRITICAL);
	char *big = malloc(100000);
	memset(big, 'x', 99999);
	big[99999] = 0;
	vigil_event_set_str(ev, "comm", big);
	for (int i = 0; i < VIGIL_EVENT_RAW_MAX_LINES + 50; i++)
		assert_int_equal(vigil_event_add_raw(ev, big), 0);
	json_object *o = roundtrip(ev), *v;
	assert_int_equal(strlen(get_s(o, "comm")), VIGIL_EVENT_STR_MAX);
	assert_true(json_object_object_get_ex(o, "raw", &v));
	assert_int_equal(json_object_array_length(v), VIGIL_EVENT_RAW_MAX_LINES);
	assert_int_equal(strlen(json_object_get_string(json_object_array_get_idx(v, 0))), VIGIL_EVENT_RAW_MAX_LINE);
	assert_true(json_object_object_get_ex(o, "raw_truncated", &v) && json_object_get_int(v) == 50);
	json_object_put(o);
	free(big);
	vigil_event_unref(ev);
}

static void test_lookup_clone(void **state)
{
	struct vigil_event *ev = vigil_event_new("virtio_removed", VIGIL_SEV_WARNING);
	json_object *dev = json_object_new_object();
	json_object_object_add(dev, "name", json_object_new_string("vda"));
	json_object_object_add(dev, "virtio_mode", json_object_new_string("legacy"));
	assert_int_equal(vigil_event_set_json(ev, "device", dev), 0);
	assert_string_equal(json_object_get_string(vigil_event_lookup(ev, "device.virtio_mode")), "legacy");
	assert_null(vigil_event_lookup(ev, "device.nope"));
	assert_null(vigil_event_lookup(ev, "device..name"));
	struct vigil_event *c = vigil_event_clone(ev);
	assert_non_null(c);
	assert_string_not_equal(vigil_event_id(c), vigil_event_id(ev));
	assert_string_equal(json_object_get_string(vigil_event_lookup(c, "device.name")), "vda");
	/* the dedup key defaults to the summary, and is settable */
	vigil_event_set_summary(ev, "virtio blk vda removed");
	assert_string_equal(vigil_event_dedup_key(ev), "virtio blk vda removed");
	vigil_event_set_dedup_key(ev, "vda");
	assert_string_equal(vigil_event_dedup_key(ev), "vda");
	vigil_event_unref(c);
	assert_null(vigil_event_unref(vigil_event_ref(ev)));
	vigil_event_unref(ev);
}

static void test_kinds(void **state)
{
	assert_true(vigil_event_kind_known("hung_task"));
	assert_true(vigil_event_kind_known("agent_whatever"));
	assert_false(vigil_event_kind_known("soft_lockups"));
	assert_int_equal(vigil_severity_from_string("warning"), VIGIL_SEV_WARNING);
	assert_int_equal(vigil_severity_from_string("loud"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contract),      cmocka_unit_test(test_hostile_strings),
		cmocka_unit_test(test_bounds),	      cmocka_unit_test(test_lookup_clone),
		cmocka_unit_test(test_kinds),
	};
	return cmocka_run_group_tests_name("event", tests, NULL, NULL);
}
