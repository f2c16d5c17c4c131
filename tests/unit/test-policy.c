/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Policy engine with a driven clock: threshold N-in-T, cooldown, dedup with
 * count and summary, field matches, unknown action/kind errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "policy.h"
#include "util.h"

#define S(x) ((uint64_t)(x) * USEC_PER_SEC)

struct fired {
	char rule[64];
	unsigned count;
	char kind[64];
};

struct rec {
	struct fired f[64];
	size_t n;
};

static void record(void *ud, const char *rule, const char *const *actions, size_t n_actions,
		   struct vigil_event *ev)
{
	struct rec *r = ud;
	assert_true(r->n < 64);
	vigil_strlcpy(r->f[r->n].rule, rule, sizeof(r->f[r->n].rule));
	vigil_strlcpy(r->f[r->n].kind, vigil_event_kind(ev), sizeof(r->f[r->n].kind));
	r->f[r->n].count = vigil_event_count(ev);
	r->n++;
}

static bool known_action(const char *name, void *ud)
{
	return streq(name, "log") || streq(name, "alert") || streq(name, "reboot");
}

static struct vigil_policy *policy(const char *text, uint64_t dedup, struct vigil_config_errors *errs, int *ret)
{
	struct vigil_config *c = vigil_config_new();
	struct vigil_policy *p = NULL;
	*ret = vigil_config_parse_string(c, "p.conf", text, errs);
	if (*ret == 0)
		*ret = vigil_policy_new(c, dedup, 64, known_action, NULL, &p, errs);
	vigil_config_free(c);
	return p;
}

static struct vigil_event *ev_new(const char *kind, enum vigil_severity sev, const char *key)
{
	struct vigil_event *ev = vigil_event_new(kind, sev);
	vigil_event_set_summary(ev, "%s %s", kind, key);
	vigil_event_set_dedup_key(ev, key);
	return ev;
}

static int submit(struct vigil_policy *p, const char *kind, const char *key, uint64_t now, struct rec *r)
{
	struct vigil_event *ev = ev_new(kind, VIGIL_SEV_CRITICAL, key);
	int n = vigil_policy_submit(p, ev, now, record, r);
	vigil_event_unref(ev);
	return n;
}

static void test_threshold(void **state)
{
	struct vigil_config_errors errs = {0};
	struct rec r = {0};
	int rc;
	struct vigil_policy *p =
		policy("[rule lockup-reboot]\nmatch = soft_lockup\nactions = reboot\nthreshold = 2 in 5m\n", 0, &errs, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(submit(p, "soft_lockup", "cpu3", S(100), &r), 0);
	/* second one, 6 minutes later: outside the window */
	assert_int_equal(submit(p, "soft_lockup", "cpu3", S(460), &r), 0);
	/* third, 4 minutes after the second: fires */
	assert_int_equal(submit(p, "soft_lockup", "cpu3", S(700), &r), 1);
	assert_string_equal(r.f[0].rule, "lockup-reboot");
	/* counting starts afresh after a firing */
	assert_int_equal(submit(p, "soft_lockup", "cpu3", S(710), &r), 0);
	assert_int_equal(submit(p, "soft_lockup", "cpu3", S(720), &r), 1);
	/* other kinds do not count */
	assert_int_equal(submit(p, "hung_task", "x", S(721), &r), 0);
	vigil_policy_free(p);
}

static void test_cooldown(void **state)
{
	struct vigil_config_errors errs = {0};
	struct rec r = {0};
	int rc;
	struct vigil_policy *p = policy("[rule r]\nmatch = oops, bug\nactions = alert\ncooldown = 30m\n", 0, &errs, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(submit(p, "oops", "a", S(10), &r), 1);
	assert_int_equal(submit(p, "bug", "b", S(20), &r), 0);
	assert_int_equal(submit(p, "oops", "c", S(10 + 1799), &r), 0);
	assert_int_equal(submit(p, "oops", "d", S(10 + 1800), &r), 1);
	json_object *st = vigil_policy_status(p, S(2000));
	json_object *v, *r0 = json_object_array_get_idx(st, 0);
	assert_true(json_object_object_get_ex(r0, "suppressed", &v));
	assert_int_equal(json_object_get_int(v), 2);
	assert_true(json_object_object_get_ex(r0, "fired", &v));
	assert_int_equal(json_object_get_int(v), 2);
	json_object_put(st);
	vigil_policy_free(p);
}

static void test_dedup(void **state)
{
	struct vigil_config_errors errs = {0};
	struct rec r = {0};
	int rc;
	struct vigil_policy *p =
		policy("[rule all]\nmatch = *\nactions = log\n[rule esc]\nmatch = soft_lockup\nactions = reboot\n"
		       "threshold = 3 in 10m\n",
		       S(60), &errs, &rc);
	assert_int_equal(rc, 0);
	/* five identical soft lockups within the window: one alert … */
	assert_int_equal(submit(p, "soft_lockup", "cpu3", S(0), &r), 1);
	assert_int_equal(submit(p, "soft_lockup", "cpu3", S(10), &r), 0);
	/* … but the escalation still counts every occurrence */
	assert_int_equal(submit(p, "soft_lockup", "cpu3", S(20), &r), 1);
	assert_string_equal(r.f[1].rule, "esc");
	assert_int_equal(r.f[1].count, 3);
	assert_int_equal(submit(p, "soft_lockup", "cpu3", S(30), &r), 0);
	assert_int_equal(submit(p, "soft_lockup", "cpu3", S(40), &r), 0);
	/* a different key is a different event for the alert; for the
	 * escalation it is the third soft lockup (30, 40, 41) within 10m */
	assert_int_equal(submit(p, "soft_lockup", "cpu5", S(41), &r), 2);
	assert_int_equal(r.n, 4);
	/* nothing expires before the window ends */
	uint64_t next = vigil_policy_tick(p, S(50), record, &r);
	assert_int_equal(r.n, 4);
	assert_int_equal(next, S(60));
	/* window closes: one summary with the total count to the non-threshold rule */
	vigil_policy_tick(p, S(61), record, &r);
	assert_int_equal(r.n, 5);
	assert_string_equal(r.f[4].rule, "all");
	assert_int_equal(r.f[4].count, 5);
	/* after the window the same key is new again */
	assert_int_equal(submit(p, "soft_lockup", "cpu3", S(200), &r), 1);
	vigil_policy_tick(p, S(1000), record, &r);
	assert_int_equal(r.n, 6); /* cpu5 had no repeats: no summary; cpu3 at 200 neither */
	assert_string_equal(r.f[5].rule, "all");
	vigil_policy_free(p);
}

static void test_fields_severity(void **state)
{
	struct vigil_config_errors errs = {0};
	struct rec r = {0};
	int rc;
	struct vigil_policy *p = policy("[rule legacy]\nmatch = virtio_*\nactions = alert\nseverity = warning\n"
					"field.device.virtio_mode = legacy\nfield.device.name = ~^vd[a-z]$\n"
					"[rule off]\nmatch = *\nactions = log\nenabled = no\n",
					0, &errs, &rc);
	assert_int_equal(rc, 0);
	struct vigil_event *ev = vigil_event_new("virtio_removed", VIGIL_SEV_WARNING);
	json_object *dev = json_object_new_object();
	json_object_object_add(dev, "name", json_object_new_string("vdb"));
	json_object_object_add(dev, "virtio_mode", json_object_new_string("legacy"));
	vigil_event_set_json(ev, "device", dev);
	assert_int_equal(vigil_policy_submit(p, ev, S(1), record, &r), 1);
	vigil_event_set_severity(ev, VIGIL_SEV_NOTICE);
	assert_int_equal(vigil_policy_submit(p, ev, S(2), record, &r), 0);
	vigil_event_set_severity(ev, VIGIL_SEV_CRITICAL);
	json_object_object_add(dev, "name", json_object_new_string("sda"));
	assert_int_equal(vigil_policy_submit(p, ev, S(3), record, &r), 0);
	json_object_object_add(dev, "name", json_object_new_string("vdc"));
	json_object_object_add(dev, "virtio_mode", json_object_new_string("modern"));
	assert_int_equal(vigil_policy_submit(p, ev, S(4), record, &r), 0);
	vigil_event_unref(ev);
	vigil_policy_free(p);
}

static void expect_error(const char *text, const char *needle)
{
	struct vigil_config_errors errs = {0};
	int rc;
	struct vigil_policy *p = policy(text, 0, &errs, &rc);
	bool found = false;
	for (size_t i = 0; i < errs.n; i++)
		found = found || strstr(errs.msgs[i], needle);
	if (rc == 0 || p || !found) {
		for (size_t i = 0; i < errs.n; i++)
			print_message("error: %s\n", errs.msgs[i]);
		fail_msg("rule accepted or message without '%s'", needle);
	}
	vigil_config_errors_clear(&errs);
}

static void test_errors(void **state)
{
	expect_error("[rule r]\nmatch = oops\nactions = log, reboot, nuke\n", "p.conf:3: [rule r] actions: unknown action 'nuke'");
	expect_error("[rule r]\nmatch = soft_lockups\nactions = log\n", "p.conf:2: [rule r] match: unknown event kind 'soft_lockups'");
	expect_error("[rule r]\nmatch = oops\n", "a rule needs at least one action");
	expect_error("[rule r]\nmatch = oops\nactions = log\nthreshold = 2\n", "p.conf:4: [rule r] threshold: '2'");
	expect_error("[rule r]\nmatch = oops\nactions = log\nthreshold = 2 in 0s\n", "threshold");
	expect_error("[rule r]\nmatch = oops\nactions = log\nfield.comm = ~(unclosed\n", "p.conf:4: [rule r] field.comm: bad regex");
	expect_error("[rule r]\nmatch = oops\nactions = log\ncooldwn = 5m\n", "p.conf:4: [rule r] cooldwn: unknown key");
	expect_error("[rule]\nmatch = oops\nactions = log\n", "a rule needs a name");
}

static void test_inherit(void **state)
{
	struct vigil_config_errors errs = {0};
	struct rec r = {0};
	int rc;
	const char *text = "[rule r]\nmatch = oops\nactions = alert\ncooldown = 10m\n";
	struct vigil_policy *a = policy(text, S(60), &errs, &rc), *b = policy(text, S(60), &errs, &rc);
	assert_int_equal(submit(a, "oops", "k", S(1), &r), 1);
	vigil_policy_inherit(b, a);
	vigil_policy_free(a);
	/* a reload neither resets the cooldown nor re-alerts a deduped event */
	assert_int_equal(submit(b, "oops", "k", S(2), &r), 0);
	assert_int_equal(submit(b, "oops", "other", S(3), &r), 0);
	vigil_policy_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threshold), cmocka_unit_test(test_cooldown), cmocka_unit_test(test_dedup),
		cmocka_unit_test(test_fields_severity), cmocka_unit_test(test_errors), cmocka_unit_test(test_inherit),
	};
	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
