/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sysctl validation, when-kdump-armed and drift, against a temporary
 * procfs/sysfs tree built here (files named like /proc/sys/kernel/...). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "remedy/sysctlset.h"

static char root[256], proc[PATH_MAX], sys[PATH_MAX];

static void put(const char *base, const char *rel, const char *text)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", base, rel);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *get(const char *rel)
{
	static char buf[256];
	assert_int_equal(sysctl_read(proc, rel, buf, sizeof(buf)), 0);
	return buf;
}

static int setup(void **state)
{
	char p[PATH_MAX * 2];
	snprintf(root, sizeof(root), "/tmp/test-sysctl-XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(proc, sizeof(proc), "%s/proc", root);
	snprintf(sys, sizeof(sys), "%s/sys", root);
	const char *dirs[] = {"proc", "proc/sys", "proc/sys/kernel", "proc/sys/vm", "sys", "sys/kernel"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", root, dirs[i]);
		assert_int_equal(mkdir(p, 0755), 0);
	}
	/* Values as a fresh Debian 12 kernel has them. */
	put(proc, "sys/kernel/panic_on_oops", "0\n");
	put(proc, "sys/kernel/hung_task_warnings", "10\n");
	put(proc, "sys/kernel/printk", "4\t4\t1\t7\n");
	put(proc, "sys/vm/panic_on_oom", "0\n");
	put(sys, "kernel/kexec_crash_loaded", "0\n");
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_validation(void **state)
{
	struct sysctl_spec s;
	const char *why;
	assert_int_equal(sysctl_spec_parse("kernel.panic_on_oops", "1", &s, &why), 0);
	assert_int_equal(sysctl_spec_parse("kernel.panic_on_oops", "2", &s, &why), -ERANGE);
	assert_int_equal(sysctl_spec_parse("kernel.hung_task_warnings", "-1", &s, &why), 0);
	assert_int_equal(sysctl_spec_parse("kernel.hung_task_warnings", "-2", &s, &why), -ERANGE);
	assert_int_equal(sysctl_spec_parse("kernel.watchdog_thresh", "61", &s, &why), -ERANGE);
	assert_int_equal(sysctl_spec_parse("vm.panic_on_oom", "2", &s, &why), 0);
	assert_int_equal(sysctl_spec_parse("kernel.panic", "1x", &s, &why), -EINVAL);
	assert_int_equal(sysctl_spec_parse("kernel.panic", "", &s, &why), -EINVAL);
	/* Strings are refused: core_pattern/modprobe run programs as root. */
	assert_int_equal(sysctl_spec_parse("kernel.core_pattern", "|/bin/sh -c reboot", &s, &why), -EINVAL);
	assert_int_equal(sysctl_spec_parse("kernel.modprobe", "/tmp/x", &s, &why), -EINVAL);
	/* Names: only kernel./vm., no path tricks, no triggers. */
	assert_int_equal(sysctl_spec_parse("net.ipv4.ip_forward", "1", &s, &why), -EINVAL);
	assert_int_equal(sysctl_spec_parse("kernel...panic", "1", &s, &why), -EINVAL);
	assert_int_equal(sysctl_spec_parse("kernel./panic", "1", &s, &why), -EINVAL);
	assert_int_equal(sysctl_spec_parse("vm.drop_caches", "3", &s, &why), -EPERM);
	/* Vectors are normalised. */
	assert_int_equal(sysctl_spec_parse("kernel.printk", " 4\t4  1 7 ", &s, &why), 0);
	assert_string_equal(s.value, "4 4 1 7");
	/* Conditional forms. */
	assert_int_equal(sysctl_spec_parse("kernel.panic_on_oops", "when-kdump-armed:1", &s, &why), 0);
	assert_true(s.when_kdump_armed);
	assert_false(s.has_else);
	assert_int_equal(sysctl_spec_parse("kernel.panic_on_oops", "when-kdump-armed:1:0", &s, &why), 0);
	assert_true(s.has_else);
	assert_string_equal(s.else_value, "0");
	assert_int_equal(sysctl_spec_parse("kernel.panic_on_oops", "when-kdump-armed:3", &s, &why), -ERANGE);
	assert_int_equal(sysctl_spec_parse("kernel.panic_on_oops", "when-kdump-armed:", &s, &why), -EINVAL);
}

static struct sysctl_entry mk(const char *name, const char *value)
{
	struct sysctl_entry e = {0};
	const char *why;
	assert_int_equal(sysctl_spec_parse(name, value, &e.spec, &why), 0);
	return e;
}

static void test_apply_and_drift(void **state)
{
	struct sysctl_entry e = mk("kernel.hung_task_warnings", "-1");
	/* Start: applied. */
	assert_int_equal(sysctl_sync(proc, &e, false, true), SYSCTL_APPLIED);
	assert_string_equal(get("kernel.hung_task_warnings"), "-1");
	assert_string_equal(e.baseline, "10");
	/* Steady state: nothing written. */
	assert_int_equal(sysctl_sync(proc, &e, false, true), SYSCTL_NOOP);
	assert_int_equal(e.writes, 1);
	/* Someone resets it: drift, re-applied. */
	put(proc, "sys/kernel/hung_task_warnings", "10\n");
	assert_int_equal(sysctl_sync(proc, &e, false, true), SYSCTL_DRIFT_REAPPLIED);
	assert_string_equal(e.drift_value, "10");
	assert_string_equal(get("kernel.hung_task_warnings"), "-1");
	assert_int_equal(e.drifts, 1);
}

static void test_drift_report_only(void **state)
{
	struct sysctl_entry e = mk("vm.panic_on_oom", "1");
	assert_int_equal(sysctl_sync(proc, &e, false, false), SYSCTL_APPLIED);
	put(proc, "sys/vm/panic_on_oom", "0\n");
	/* reapply = no: reported once, left alone, not re-reported. */
	assert_int_equal(sysctl_sync(proc, &e, false, false), SYSCTL_DRIFT_FOUND);
	assert_int_equal(e.state, SYSCTL_DRIFT);
	assert_string_equal(get("vm.panic_on_oom"), "0");
	assert_int_equal(sysctl_sync(proc, &e, false, false), SYSCTL_NOOP);
	/* A different value is a new drift. */
	put(proc, "sys/vm/panic_on_oom", "2\n");
	assert_int_equal(sysctl_sync(proc, &e, false, false), SYSCTL_DRIFT_FOUND);
	/* Back to ours: cleared. */
	put(proc, "sys/vm/panic_on_oom", "1\n");
	assert_int_equal(sysctl_sync(proc, &e, false, false), SYSCTL_DRIFT_CLEARED);
	assert_int_equal(e.state, SYSCTL_OK);
	assert_int_equal(e.drifts, 2);
}

static void test_when_kdump_armed(void **state)
{
	struct sysctl_entry e = mk("kernel.panic_on_oops", "when-kdump-armed:1");
	bool armed = sysctl_kdump_armed(sys);
	assert_false(armed);
	/* Not armed: nothing to change (holds the original 0). */
	assert_int_equal(sysctl_sync(proc, &e, armed, true), SYSCTL_NOOP);
	assert_string_equal(get("kernel.panic_on_oops"), "0");
	/* Crash kernel loaded: panic_on_oops goes to 1 — not a drift. */
	put(sys, "kernel/kexec_crash_loaded", "1\n");
	armed = sysctl_kdump_armed(sys);
	assert_true(armed);
	assert_int_equal(sysctl_sync(proc, &e, armed, true), SYSCTL_APPLIED);
	assert_string_equal(get("kernel.panic_on_oops"), "1");
	assert_int_equal(e.drifts, 0);
	/* Crash kernel unloaded: back to the value found at start. */
	put(sys, "kernel/kexec_crash_loaded", "0\n");
	armed = sysctl_kdump_armed(sys);
	assert_int_equal(sysctl_sync(proc, &e, armed, true), SYSCTL_APPLIED);
	assert_string_equal(get("kernel.panic_on_oops"), "0");
	/* No kexec support at all (file absent): never armed. */
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/kernel/kexec_crash_loaded", sys);
	unlink(p);
	assert_false(sysctl_kdump_armed(sys));
	put(sys, "kernel/kexec_crash_loaded", "0\n");
}

static void test_when_kdump_armed_else(void **state)
{
	put(proc, "sys/kernel/panic_on_oops", "1\n");
	struct sysctl_entry e = mk("kernel.panic_on_oops", "when-kdump-armed:1:0");
	/* Explicit else value wins over the original 1. */
	assert_int_equal(sysctl_sync(proc, &e, false, true), SYSCTL_APPLIED);
	assert_string_equal(get("kernel.panic_on_oops"), "0");
	assert_int_equal(sysctl_sync(proc, &e, true, true), SYSCTL_APPLIED);
	assert_string_equal(get("kernel.panic_on_oops"), "1");
	put(proc, "sys/kernel/panic_on_oops", "0\n");
}

static void test_missing_and_vector(void **state)
{
	struct sysctl_entry e = mk("kernel.hardlockup_panic", "1");
	assert_int_equal(sysctl_sync(proc, &e, false, true), SYSCTL_ABSENT);
	assert_int_equal(e.state, SYSCTL_MISSING);
	/* Tab-separated kernel output compares equal to the space form. */
	struct sysctl_entry v = mk("kernel.printk", "4 4 1 7");
	assert_int_equal(sysctl_sync(proc, &v, false, true), SYSCTL_NOOP);
	assert_int_equal(v.writes, 0);
}

static void test_symlink_refused(void **state)
{
	char target[PATH_MAX * 2], link[PATH_MAX * 2];
	snprintf(target, sizeof(target), "%s/victim", root);
	snprintf(link, sizeof(link), "%s/sys/kernel/panic", proc);
	put(root, "victim", "untouched\n");
	assert_int_equal(symlink(target, link), 0);
	assert_true(sysctl_write(proc, "kernel.panic", "10") < 0);
	FILE *f = fopen(target, "r");
	char buf[32] = "";
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "untouched\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_apply_and_drift),
		cmocka_unit_test(test_drift_report_only),
		cmocka_unit_test(test_when_kdump_armed),
		cmocka_unit_test(test_when_kdump_armed_else),
		cmocka_unit_test(test_missing_and_vector),
		cmocka_unit_test(test_symlink_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
