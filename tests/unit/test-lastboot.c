/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lastboot: the worker's file discovery, pstore part assembly, crash choice
 * and the previous_boot_crash fields, on real crash logs: the OVS/veth soft
 * lockup vmcore-dmesg.txt saved by kdump (arm64, 5.10), the XFS stack
 * overflow report (2.6.32), and a clean boot log of this host as a pstore
 * console record. The pstore dmesg dump is the vmcore-dmesg text cut into
 * two records the way kmsg_dump writes them ("Panic#1 PartN" header, "<N>"
 * syslog prefixes, Part1 = newest chunk). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/wait.h>

#include "../../plugins/lastboot.c"

#define FIX VIGIL_SOURCE_DIR "/tests/fixtures/lastboot"

static char tmp[64];

static void run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int r = system(cmd);
	assert_true(WIFEXITED(r) && WEXITSTATUS(r) == 0);
}

static int setup(void **state)
{
	snprintf(tmp, sizeof(tmp), "/tmp/test-lastboot.XXXXXX");
	assert_non_null(mkdtemp(tmp));
	run("mkdir -p %s/pstore %s/crash %s/state", tmp, tmp, tmp);
	return 0;
}

static int teardown(void **state)
{
	run("rm -rf %s", tmp);
	return 0;
}

static struct lb_job *new_job(bool with_state)
{
	struct lb_job *j = calloc(1, sizeof(*j));
	assert_non_null(j);
	char d[128];
	snprintf(d, sizeof(d), "%s/pstore", tmp);
	j->pstore_dir = strdup(d);
	assert_int_equal(lb_add_pattern(j, d, "dmesg-*"), 0);
	assert_int_equal(lb_add_pattern(j, d, "console-*"), 0);
	snprintf(d, sizeof(d), "%s/crash", tmp);
	assert_int_equal(lb_add_pattern(j, d, "*/dmesg.*"), 0);
	assert_int_equal(lb_add_pattern(j, d, "*/vmcore-dmesg.txt"), 0);
	j->sig_dir = strdup(VIGIL_SOURCE_DIR "/conf/signatures");
	if (with_state) {
		snprintf(d, sizeof(d), "%s/state", tmp);
		j->state_dir = strdup(d);
	}
	j->max_size = 16 << 20;
	return j;
}

static const char *ev_str(struct vigil_event *ev, const char *path)
{
	json_object *o = vigil_event_lookup(ev, path);
	return o && json_object_is_type(o, json_type_string) ? json_object_get_string(o) : NULL;
}

static void test_vmcore_dmesg(void **state)
{
	run("mkdir -p %s/crash/127.0.0.1-2024-05-06-11:22:33 && cp %s/vmcore-dmesg.txt %s/crash/127.0.0.1-2024-05-06-11:22:33/",
	    tmp, FIX, tmp);
	struct lb_job *j = new_job(false);
	assert_int_equal(lb_job_run(j), 0);
	assert_int_equal(j->n_items, 1);
	struct lb_item *it = &j->items[0];
	assert_int_equal(it->kind, LB_VMCORE_DMESG);
	assert_true(it->n_reports >= 2);
	struct vigil_event *ev = lb_build_event(it);
	assert_non_null(ev);
	assert_string_equal(vigil_event_kind(ev), "previous_boot_crash");
	assert_int_equal(vigil_event_severity(ev), VIGIL_SEV_CRITICAL);
	/* the soft lockup is the crash; the panic it caused is listed */
	assert_string_equal(ev_str(ev, "class"), "soft_lockup");
	json_object *others = vigil_event_get(ev, "other_kinds");
	bool panic = false;
	for (size_t i = 0; i < json_object_array_length(others); i++)
		panic |= streq(json_object_get_string(json_object_array_get_idx(others, i)), "panic");
	assert_true(panic);
	assert_non_null(strstr(ev_str(ev, "culprit"), "swapper/21"));
	assert_non_null(strstr(ev_str(ev, "culprit"), "netdev_pick_tx"));
	assert_int_equal(vigil_event_get_int(ev, "cpu", -1), 21);
	assert_string_equal(ev_str(ev, "file_kind"), "vmcore-dmesg");
	assert_non_null(strstr(ev_str(ev, "file"), "/crash/127.0.0.1-2024-05-06-11:22:33/vmcore-dmesg.txt"));
	json_object *fr = vigil_event_get(ev, "frames");
	assert_non_null(fr);
	assert_true(json_object_array_length(fr) >= 1 && json_object_array_length(fr) <= LB_FRAMES_TOP);
	json_object *full = vigil_event_to_json(ev);
	json_object *raw = json_object_object_get(full, "raw");
	assert_true(json_object_array_length(raw) >= 5);
	assert_non_null(strstr(json_object_get_string(json_object_array_get_idx(raw, 0)), "soft lockup - CPU#21 stuck for 12s"));
	json_object_put(full);
	assert_non_null(strstr(vigil_event_summary(ev), "soft lockup"));
	char dk[64];
	snprintf(dk, sizeof(dk), "previous_boot_crash/%s", it->hash);
	assert_string_equal(vigil_event_dedup_key(ev), dk);
	vigil_event_unref(ev);

	/* once remembered, it is skipped */
	char line[256];
	snprintf(line, sizeof(line), "%s %" PRIu64 " reported %s", it->hash, it->size, it->path);
	lb_job_free(j);
	run("printf '%%s\\n' '%s' > %s/state/reported", line, tmp);
	j = new_job(true);
	assert_int_equal(lb_job_run(j), 0);
	assert_int_equal(j->n_items, 0);
	assert_int_equal(j->n_skipped, 1);
	lb_job_free(j);
}

/* kdump-tools layout: /var/crash/<stamp>/dmesg.<stamp>, 2.6.32 text */
static void test_kdump_tools_xfs(void **state)
{
	run("mkdir -p %s/crash/202405061122 && cp %s/xfs-stack-overflow-sched-atomic.log %s/crash/202405061122/dmesg.202405061122",
	    tmp, FIX, tmp);
	struct lb_job *j = new_job(false);
	assert_int_equal(lb_job_run(j), 0);
	assert_int_equal(j->n_items, 1);
	struct vigil_event *ev = lb_build_event(&j->items[0]);
	assert_non_null(ev);
	assert_string_equal(ev_str(ev, "file_kind"), "kdump-dmesg");
	/* both critical: the kernel died of the last one (the paging-request
	 * Oops in task_rq_lock); the scheduling-while-atomic report before it
	 * was survived and is listed among the other kinds */
	assert_string_equal(ev_str(ev, "class"), "oops");
	assert_int_equal(json_object_array_length(vigil_event_get(ev, "other_kinds")), 1);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(vigil_event_get(ev, "other_kinds"), 0)),
			    "sched_atomic");
	vigil_event_unref(ev);
	lb_job_free(j);
}

/* A pstore dump in two records, and a clean console record. */
static void test_pstore_parts(void **state)
{
	/* first 50 lines -> Part2 (older), rest -> Part1 (newer) */
	run("cd %s/pstore && { echo 'Panic#1 Part2'; head -n 50 %s/vmcore-dmesg.txt | sed 's/^/<4>/'; } > dmesg-ramoops-1 && "
	    "{ echo 'Panic#1 Part1'; tail -n +51 %s/vmcore-dmesg.txt | sed 's/^/<0>/'; } > dmesg-ramoops-0 && "
	    "touch -r dmesg-ramoops-0 dmesg-ramoops-1 && cp %s/console-clean-boot.txt console-ramoops-0",
	    tmp, FIX, FIX, FIX);
	struct lb_job *j = new_job(false);
	assert_int_equal(lb_job_run(j), 0);
	assert_int_equal(j->n_items, 2); /* the dump (2 parts) and the console */
	struct lb_item *dump = NULL, *cons = NULL;
	for (size_t i = 0; i < j->n_items; i++) {
		if (j->items[i].kind == LB_PSTORE_DMESG)
			dump = &j->items[i];
		if (j->items[i].kind == LB_PSTORE_CONSOLE)
			cons = &j->items[i];
	}
	assert_non_null(dump);
	assert_non_null(cons);
	assert_int_equal(dump->n_parts, 2);
	assert_string_equal(dump->reason, "Panic");
	assert_non_null(strstr(dump->path, "dmesg-ramoops-0")); /* Part1 names it */
	struct vigil_event *ev = lb_build_event(dump);
	assert_non_null(ev);
	/* the reassembled text classifies like the original file */
	assert_string_equal(ev_str(ev, "class"), "soft_lockup");
	assert_string_equal(ev_str(ev, "pstore_reason"), "Panic");
	assert_int_equal(json_object_array_length(vigil_event_get(ev, "files")), 2);
	vigil_event_unref(ev);
	/* a clean boot log is no crash */
	assert_int_equal(cons->n_reports, 0);
	assert_null(lb_build_event(cons));
	lb_job_free(j);
}

/* A vmcore-dmesg.txt bigger than max_file_size: its tail (the crash) is read. */
static void test_tail_of_big_file(void **state)
{
	run("mkdir -p %s/crash/big && cd %s/crash/big && for i in $(seq 1 3000); do "
	    "echo \"[    1.$i] random: crng init filler line number $i to grow the log\"; done > vmcore-dmesg.txt && "
	    "cat %s/vmcore-dmesg.txt >> vmcore-dmesg.txt",
	    tmp, tmp, FIX);
	struct lb_job *j = new_job(false);
	j->max_size = 64 * 1024;
	assert_int_equal(lb_job_run(j), 0);
	assert_int_equal(j->n_items, 1);
	assert_true(j->items[0].size <= 64 * 1024);
	struct vigil_event *ev = lb_build_event(&j->items[0]);
	assert_non_null(ev);
	assert_string_equal(ev_str(ev, "class"), "soft_lockup");
	vigil_event_unref(ev);
	lb_job_free(j);
}

/* The is_avq incident after the reboot: the Oops found in the saved dmesg
 * carries the same known-issue id as the virtio plugin's risk advisory. */
static void test_is_avq_oops(void **state)
{
	run("mkdir -p %s/crash/202403181200 && cp %s/virtio-is-avq-oops-6.8-dmesg.txt %s/crash/202403181200/dmesg.202403181200",
	    tmp, FIX, tmp);
	struct lb_job *j = new_job(false);
	assert_int_equal(lb_job_run(j), 0);
	assert_null(j->sig_error);
	assert_int_equal(j->n_items, 1);
	struct vigil_event *ev = lb_build_event(&j->items[0]);
	assert_non_null(ev);
	assert_string_equal(ev_str(ev, "class"), "oops");
	assert_string_equal(ev_str(ev, "known_issue.id"), "virtio-pci-is-avq-null");
	assert_non_null(strstr(ev_str(ev, "culprit"), "kworker/u16:1 (pid 85)"));
	json_object *fr = vigil_event_get(ev, "frames");
	bool vp = false;
	for (size_t i = 0; fr && i < json_object_array_length(fr); i++) {
		json_object *sym = json_object_object_get(json_object_array_get_idx(fr, i), "symbol");
		vp |= sym && streq(json_object_get_string(sym), "vp_del_vqs");
	}
	assert_true(vp);
	/* the same id as the virtio risk table entry */
	_cleanup_free_ char *risks = NULL;
	assert_int_equal(vigil_read_file(AT_FDCWD, VIGIL_SOURCE_DIR "/conf/signatures/virtio-risks.risk", 1 << 16, &risks, NULL), 0);
	assert_non_null(strstr(risks, "[risk virtio-pci-is-avq-null]"));
	vigil_event_unref(ev);
	lb_job_free(j);
}

static void test_helpers(void **state)
{
	char b[] = "<4>[  1.0] a\n<12>[  2.0] b\nx <3> y\n";
	size_t l = lb_strip_prio(b, strlen(b));
	assert_string_equal(b, "[  1.0] a\n[  2.0] b\nx <3> y\n");
	assert_int_equal(l, strlen(b));
	char reason[32];
	unsigned c, p;
	assert_true(lb_pstore_header("Oops#3 Part12\n<4>x", reason, sizeof(reason), &c, &p));
	assert_string_equal(reason, "Oops");
	assert_int_equal(c, 3);
	assert_int_equal(p, 12);
	assert_false(lb_pstore_header("[ 1.0] Panic#1 Part1\n", reason, sizeof(reason), &c, &p));
	assert_int_equal(lb_classify_path("/sys/fs/pstore/dmesg-efi-171234", "/sys/fs/pstore"), LB_PSTORE_DMESG);
	assert_int_equal(lb_classify_path("/var/crash/x/dmesg.2024", "/sys/fs/pstore"), LB_KDUMP_DMESG);
	assert_int_equal(lb_classify_path("/var/lib/systemd/pstore/1/dmesg.txt", "/sys/fs/pstore"), LB_OTHER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_helpers),
		cmocka_unit_test_setup_teardown(test_vmcore_dmesg, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kdump_tools_xfs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pstore_parts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tail_of_big_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_is_avq_oops, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
