/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kernlog tests: every real kernel log under tests/fixtures/kmsg/ is scanned
 * with the shipped signatures and compared field by field with its
 * <name>.expected.json (kind, severity, cpu, comm, pid, duration_s,
 * ip.symbol, ip.module, top frames, module, cause, known_issue.id, partial,
 * and the number of events). Then single-line checks of each header wording
 * (kernel format strings by version), line formats, record parsing, and
 * benign lines that must never become events.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kernlog/kernlog.h"
#include "kernlog/internal.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <json-c/json.h>

static const char *srcdir(void)
{
	const char *s = getenv("VIGIL_SOURCE_DIR");
	return s ? s : VIGIL_SOURCE_DIR;
}

struct collect {
	struct vigil_event *ev[64];
	size_t n;
};

static int collect_cb(struct vigil_event *ev, void *userdata)
{
	struct collect *c = userdata;
	if (c->n < 64)
		c->ev[c->n++] = ev;
	else
		vigil_event_unref(ev);
	return 0;
}

static void collect_clear(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		vigil_event_unref(c->ev[i]);
	c->n = 0;
}

static struct kl_signatures *load_sigs(void)
{
	char dir[4096];
	struct kl_signatures *s = NULL;
	char *err = NULL;
	snprintf(dir, sizeof(dir), "%s/conf/signatures", srcdir());
	int r = kl_signatures_load_dir(dir, &s, &err);
	if (r < 0)
		fail_msg("signatures: %s", err ? err : strerror(-r));
	assert_true(kl_signatures_count(s) >= 5);
	return s;
}

/* The chunk path (with its fast path for benign dmesg lines, the buffer cut
 * at 'cut') and the line-by-line path must give the same events: same JSON
 * but for the random id. Checked on every fixture and every fuzz input. */
static void assert_paths_agree(const char *name, const char *b, size_t len, size_t cut,
			       const struct kl_signatures *sigs)
{
	struct collect fast = {.n = 0}, slow = {.n = 0};
	struct kl_scanner *s;
	assert_int_equal(kl_scanner_new(sigs, collect_cb, &fast, &s), 0);
	assert_true(kl_scanner_feed_chunk(s, b, cut) >= 0);
	assert_true(kl_scanner_feed_chunk(s, b + cut, len - cut) >= 0);
	assert_true(kl_scanner_finish(s) >= 0);
	kl_scanner_free(s);
	assert_int_equal(kl_scanner_new(sigs, collect_cb, &slow, &s), 0);
	for (const char *p = b, *end = b + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		assert_true(kl_scanner_feed_text(s, p, (size_t)(e - p)) >= 0);
		p = nl ? nl + 1 : end;
	}
	assert_true(kl_scanner_finish(s) >= 0);
	kl_scanner_free(s);
	if (fast.n != slow.n)
		fail_msg("%s (cut %zu): chunk path %zu events, line path %zu", name, cut, fast.n, slow.n);
	for (size_t i = 0; i < fast.n; i++) {
		json_object *a = vigil_event_to_json(fast.ev[i]);
		json_object *o = vigil_event_to_json(slow.ev[i]);
		json_object_object_del(a, "id");
		json_object_object_del(o, "id");
		if (!json_object_equal(a, o))
			fail_msg("%s (cut %zu) event %zu: chunk path %s\nline path %s", name, cut, i,
				 json_object_to_json_string(a), json_object_to_json_string(o));
		json_object_put(a);
		json_object_put(o);
	}
	collect_clear(&fast);
	collect_clear(&slow);
}

/* Compare one expected value with the event's (json null == absent). */
static void check_field(const char *file, size_t idx, struct vigil_event *ev, const char *key, json_object *want)
{
	if (streq(key, "frames")) {
		json_object *fr = vigil_event_get(ev, "frames");
		size_t nw = json_object_array_length(want);
		for (size_t i = 0; i < nw; i++) {
			const char *w = json_object_get_string(json_object_array_get_idx(want, i));
			json_object *f = fr && i < json_object_array_length(fr) ? json_object_array_get_idx(fr, i) : NULL, *sym = NULL;
			if (f)
				json_object_object_get_ex(f, "symbol", &sym);
			if (!sym || !streq(json_object_get_string(sym), w))
				fail_msg("%s event %zu: frames[%zu] = %s, expected %s", file, idx, i,
					 sym ? json_object_get_string(sym) : "(none)", w);
		}
		if (nw == 0 && fr && json_object_array_length(fr) > 0)
			fail_msg("%s event %zu: frames present, expected none", file, idx);
		return;
	}
	json_object *got = streq(key, "kind") ? NULL : vigil_event_lookup(ev, key);
	const char *g = streq(key, "kind")       ? vigil_event_kind(ev)
			: streq(key, "severity") ? vigil_severity_to_string(vigil_event_severity(ev))
			: got && !json_object_is_type(got, json_type_null) ? json_object_get_string(got)
									    : NULL;
	if (streq(key, "partial") && !got)
		g = "false";
	const char *w = want && !json_object_is_type(want, json_type_null) ? json_object_get_string(want) : NULL;
	if (!streq_ptr(g, w))
		fail_msg("%s event %zu (%s): %s = %s, expected %s", file, idx, vigil_event_summary(ev), key,
			 g ? g : "null", w ? w : "null");
}

static void test_fixtures(void **state)
{
	char dir[4096];
	struct kl_signatures *sigs = load_sigs();
	snprintf(dir, sizeof(dir), "%s/tests/fixtures/kmsg", srcdir());
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	unsigned files = 0;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l < 15 || !streq(de->d_name + l - 14, ".expected.json"))
			continue;
		char base[512], path[8192], logp[8192];
		snprintf(base, sizeof(base), "%.*s", (int)(l - 14), de->d_name);
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		json_object *exp = json_object_from_file(path);
		assert_non_null(exp);
		char *buf = NULL;
		size_t len = 0;
		snprintf(logp, sizeof(logp), "%s/%s.log", dir, base);
		if (vigil_read_file(AT_FDCWD, logp, 16 << 20, &buf, &len) < 0) {
			snprintf(logp, sizeof(logp), "%s/%s.txt", dir, base);
			assert_int_equal(vigil_read_file(AT_FDCWD, logp, 16 << 20, &buf, &len), 0);
		}
		struct collect c = {.n = 0};
		int n = kl_scan_buffer(buf, len, sigs, collect_cb, &c);
		assert_true(n >= 0);
		assert_paths_agree(base, buf, len, 0, sigs);
		assert_paths_agree(base, buf, len, len / 2, sigs);
		size_t ne = json_object_array_length(exp);
		if (c.n != ne) {
			for (size_t i = 0; i < c.n; i++)
				print_message("  got: %s: %s\n", vigil_event_kind(c.ev[i]), vigil_event_summary(c.ev[i]));
			fail_msg("%s: %zu events, expected %zu", base, c.n, ne);
		}
		for (size_t i = 0; i < ne; i++) {
			json_object *e = json_object_array_get_idx(exp, i);
			json_object_object_foreach(e, k, v) check_field(base, i, c.ev[i], k, v);
			/* every event explains itself and folds repeats */
			assert_non_null(vigil_event_summary(c.ev[i]));
			assert_non_null(vigil_event_dedup_key(c.ev[i]));
			assert_non_null(vigil_event_get(c.ev[i], "partial"));
			/* a benign log never yields warning or above */
			if (strncmp(base, "negative-", 9) == 0 && vigil_event_severity(c.ev[i]) >= VIGIL_SEV_WARNING)
				fail_msg("%s event %zu (%s): severity %s in a negative fixture", base, i,
					 vigil_event_summary(c.ev[i]), vigil_severity_to_string(vigil_event_severity(c.ev[i])));
			/* the summary names the culprit, not the scheduler plumbing */
			json_object *cu = vigil_event_get(c.ev[i], "culprit");
			const char *kd = vigil_event_kind(c.ev[i]);
			if (cu && (streq(kd, "hung_task") || streq(kd, "rcu_stall") || streq(kd, "sched_atomic")) &&
			    !strstr(vigil_event_summary(c.ev[i]), json_object_get_string(cu)))
				fail_msg("%s event %zu: summary \"%s\" does not name culprit %s", base, i,
					 vigil_event_summary(c.ev[i]), json_object_get_string(cu));
		}
		collect_clear(&c);
		json_object_put(exp);
		free(buf);
		files++;
	}
	closedir(d);
	assert_true(files >= 12);
	kl_signatures_free(sigs);
}

/* ------------------------------------------------------------------------ */

static int scan_text(const char *text, struct collect *c)
{
	return kl_scan_buffer(text, strlen(text), NULL, collect_cb, c);
}

/* One header line → (kind, field, value) */
struct line_case {
	const char *line;
	const char *kind;
	const char *key;
	const char *value;
};

static void test_header_wordings(void **state)
{
	static const struct line_case cases[] = {
		/* soft lockup: no prefix (≤3.x), "NMI watchdog: " (4.0–4.13), "watchdog: " (4.14+), ≤2.6.24 */
		{"BUG: soft lockup - CPU#3 stuck for 67s! [kworker/3:1:1234]", "soft_lockup", "comm", "kworker/3:1"},
		{"NMI watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [swapper/0:0]", "soft_lockup", "cpu", "0"},
		{"watchdog: BUG: soft lockup - CPU#7 stuck for 23s! [ovs-vswitchd:999]", "soft_lockup", "duration_s", "23"},
		{"BUG: soft lockup detected on CPU#2!", "soft_lockup", "cpu", "2"},
		/* hard lockup: 4.x, 5.x, 6.5+ buddy */
		{"NMI watchdog: Watchdog detected hard LOCKUP on cpu 5", "hard_lockup", "cpu", "5"},
		{"watchdog: Watchdog detected hard LOCKUP on cpu 2", "hard_lockup", "cpu", "2"},
		{"watchdog: CPU4: Watchdog detected hard LOCKUP on cpu 6", "hard_lockup", "cpu", "6"},
		/* powerpc: 4.13+ "Watchdog CPU:%d Hard LOCKUP", 5.x+ pr_fmt "watchdog: " forms */
		{"Watchdog CPU:59 Hard LOCKUP", "hard_lockup", "cpu", "59"},
		{"Watchdog CPU:3 detected Hard LOCKUP other CPUS:8-9", "hard_lockup", "cpu", "3"},
		{"watchdog: CPU 12 self-detected hard LOCKUP @ plpar_hcall_norets_notrace+0x18/0x2c", "hard_lockup", "cpu", "12"},
		{"watchdog: CPU 0 detected hard LOCKUP on other CPUs 8", "hard_lockup", "cpu", "0"},
		/* indented copies (commit messages, Markdown, mail) */
		{"  watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [xfs_io:10030]", "soft_lockup", "comm", "xfs_io"},
		{"\tINFO: task balenad:4049 blocked for more than 120 seconds.", "hung_task", "pid", "4049"},
		/* debug checks that name the CPU and task in their header */
		{"BUG: spinlock lockup suspected on CPU#4, Xorg/792", "bug", "comm", "Xorg"},
		{"BUG: spinlock recursion on CPU#0, kworker/0:1/42", "bug", "comm", "kworker/0:1"},
		{"BUG: using smp_processor_id() in preemptible [00000000] code: mount/3738", "bug", "pid", "3738"},
		{"BUG: workqueue lockup - pool cpus=0 node=0 flags=0x0 nice=0 stuck for 2530s!", "bug", "duration_s", "2530"},
		/* PCIe AER uncorrected errors (≈4.19+ and older wordings) */
		{"pcieport 0000:00:01.0: AER: Uncorrected (Fatal) error received: 0000:01:00.0", "mce", "cause", "pcie_fatal"},
		{"pcieport 0000:00:1c.0: AER: Multiple Uncorrected (Non-Fatal) error received: 0000:02:00.0", "mce", "device_name",
		 "0000:02:00.0"},
		{"aer 0000:00:1c.0:pcie002: Uncorrected (Non-Fatal) error received: id=00e0", "mce", "cause", "pcie_nonfatal"},
		{"pcieport 0000:00:01.0: AER: Uncorrectable (Fatal) error received: 0000:01:00.0", "mce", "cause", "pcie_fatal"},
		/* boot noise of empty CD-ROMs and loop devices: info */
		{"sr 0:0:0:0: [sr0] tag#0 timing out command, waited 30s", "io_timeout", "cause", "removable_media"},
		{"I/O error, dev loop14, sector 0 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 0", "io_error", "cause", "loop_device"},
		{"print_req_error: I/O error, dev loop1, sector 2", "io_error", "cause", "loop_device"},
		/* lockdep ≤4.8 header */
		{"[ INFO: possible circular locking dependency detected ]", "warning", "message",
		 "possible circular locking dependency detected"},
		/* hung task */
		{"INFO: task jbd2/vda1-8:245 blocked for more than 120 seconds.", "hung_task", "comm", "jbd2/vda1-8"},
		{"INFO: task kworker/u8:2:77 blocked for more than 245 seconds.", "hung_task", "pid", "77"},
		/* RCU: 3.x no prefix, 4.19+ "rcu: " */
		{"INFO: rcu_sched self-detected stall on CPU { 3}  (t=6001 jiffies g=1 c=0 q=5)", "rcu_stall", "cpu", "3"},
		{"INFO: rcu_sched detected stalls on CPUs/tasks: { 1} (detected by 0, t=60002 jiffies)", "rcu_stall", "cpu", "1"},
		{"rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:", "rcu_stall", "cause", "detected"},
		{"INFO: rcu_sched_state detected stall on CPU 5 (t=15000 jiffies)", "rcu_stall", "cause", "self_detected"},
		{"rcu: INFO: rcu_preempt detected expedited stalls on CPUs/tasks: { 2-... } 21002 jiffies s: 229", "rcu_stall", "cause", "detected"},
		/* x86 faults: <5.0 and ≥5.0 wordings */
		{"BUG: unable to handle kernel NULL pointer dereference at 0000000000000008", "oops", "cause", "null_deref"},
		{"BUG: unable to handle kernel NULL pointer dereference at           (null)", "oops", "cause", "null_deref"},
		{"BUG: kernel NULL pointer dereference, address: 0000000000000010", "oops", "address", "0000000000000010"},
		{"BUG: unable to handle page fault for address: ffffb1d2c0a4d000", "oops", "cause", "page_fault"},
		{"BUG: unable to handle kernel paging request at ffffffffa0123456", "oops", "cause", "paging_request"},
		/* arm64 */
		{"Unable to handle kernel NULL pointer dereference at virtual address 0000000000000008", "oops", "cause", "null_deref"},
		{"Unable to handle kernel paging request at virtual address dead000000000108", "oops", "address", "dead000000000108"},
		{"Internal error: Oops: 96000005 [#1] PREEMPT SMP", "oops", "cause", "oops"},
		/* GPF: classic, 5.x "probably for non-canonical", 6.10+ "Oops: " prefix */
		{"general protection fault: 0000 [#1] SMP PTI", "gpf", "cause", "general_protection"},
		{"general protection fault, probably for non-canonical address 0xdffffc0000000000: 0000 [#1] PREEMPT SMP KASAN", "gpf", NULL, NULL},
		{"Oops: general protection fault, probably for non-canonical address 0x1: 0000 [#1] SMP NOPTI", "gpf", NULL, NULL},
		/* BUG at file:line, invalid opcode, 6.10+ */
		{"kernel BUG at mm/slub.c:385!", "bug", "location", "mm/slub.c:385"},
		{"invalid opcode: 0000 [#1] SMP", "bug", "cause", "invalid_opcode"},
		{"Oops: invalid opcode: 0000 [#1] PREEMPT SMP NOPTI", "bug", "cause", "invalid_opcode"},
		{"BUG: sleeping function called from invalid context at mm/slab.h:421", "bug", NULL, NULL},
		{"BUG: scheduling while atomic: swapper/1/0/0x00000002", "sched_atomic", "pid", "0"},
		/* WARNING: ≤3.x, 4.x+ */
		{"WARNING: at net/sched/sch_generic.c:261 dev_watchdog+0x236/0x240()", "warning", "location",
		 "net/sched/sch_generic.c:261 dev_watchdog+0x236/0x240()"},
		{"WARNING: CPU: 2 PID: 0 at net/sched/sch_generic.c:477 dev_watchdog+0x21e/0x230", "warning", "cpu", "2"},
		/* panic */
		{"Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009", "panic", "reason",
		 "Attempted to kill init! exitcode=0x00000009"},
		{"Kernel panic - not syncing: hung_task: blocked tasks", "panic", "reason", "hung_task: blocked tasks"},
		/* OOM: ≤4.x, 5.x+, memcg */
		{"Killed process 2592 (mysqld) total-vm:1037464kB, anon-rss:376436kB, file-rss:0kB", "oom_kill", "comm", "mysqld"},
		{"Out of memory: Killed process 4526 (dhclient) total-vm:20464kB, anon-rss:1112kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:76kB oom_score_adj:0",
		 "oom_kill", "pid", "4526"},
		{"Memory cgroup out of memory: Killed process 3305 (java) total-vm:4351348kB, anon-rss:1047000kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:2324kB oom_score_adj:0",
		 "oom_kill", "cause", "memcg"},
		/* block I/O: 3.x, 4.x, 4.18–5.x, 6.x */
		{"end_request: I/O error, dev vda, sector 1953512", "io_error", "device_name", "vda"},
		{"blk_update_request: I/O error, dev sdb, sector 2048", "io_error", "sector", "2048"},
		{"print_req_error: I/O error, dev nvme0n1, sector 0 flags 80700", "io_error", "device_name", "nvme0n1"},
		{"blk_update_request: I/O error, dev vdb, sector 0 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 0", "io_error", "sector", "0"},
		{"I/O error, dev vda, sector 524288 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 2", "io_error", "device_name", "vda"},
		{"blk_update_request: critical medium error, dev sdc, sector 3907029120", "io_error", "device_name", "sdc"},
		{"Buffer I/O error on dev vda1, logical block 0, async page read", "io_error", "block", "0"},
		/* 5.x+ other blk_status texts without a prefix (block/blk-core.c blk_errors[]) */
		{"device offline error, dev sdb, sector 8 op 0x1:(WRITE) flags 0x803000 phys_seg 1 prio class 2", "io_error", "cause", "device_offline"},
		{"device offline error, dev sda, sector 10673457672 op 0x1:(WRITE) flags 0x4100000 phys_seg 28 prio class 2", "io_error", "sector", "10673457672"},
		{"timeout error, dev vdb, sector 4096 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0", "io_error", "device_name", "vdb"},
		{"recoverable transport error, dev sdc, sector 1024 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 2", "io_error", "cause", "transport_error"},
		{"protection error, dev nvme0n1, sector 2048 op 0x1:(WRITE) flags 0x8800 phys_seg 1 prio class 2", "io_error", "cause", "protection_error"},
		{"reservation conflict error, dev sdd, sector 0 op 0x1:(WRITE) flags 0x0 phys_seg 1 prio class 2", "io_error", "cause", "reservation_conflict"},
		{"operation not supported error, dev sde, sector 0 op 0x9:(WRITE_ZEROES) flags 0x0 phys_seg 0 prio class 2", "io_error", "cause", "not_supported"},
		{"Buffer I/O error on device sdb1, logical block 12", "io_error", "device_name", "sdb1"},
		/* timeouts */
		{"nvme nvme0: I/O 23 QID 2 timeout, aborting", "io_timeout", "device_name", "nvme0"},
		{"nvme nvme1: I/O tag 12 (100c) opcode 0x2 (Read) QID 3 timeout, reset controller", "io_timeout", "cause", "nvme_timeout"},
		{"nvme nvme1: Device not ready; aborting reset", "io_timeout", "cause", "controller_reset_failed"},
		{"nvme nvme1: Device not ready; aborting reset, CSTS=0x1", "io_timeout", "device_name", "nvme1"},
		{"nvme nvme1: Removing after probe failure status: -19", "io_timeout", "cause", "controller_removed"},
		{"nvme nvme0: Disabling device after reset failure: -19", "io_timeout", "cause", "controller_removed"},
		{"sd 2:0:0:0: [sdb] tag#5 timing out command, waited 180s", "io_timeout", "device_name", "sdb"},
		{"ata1.00: exception Emask 0x0 SAct 0x0 SErr 0x0 action 0x6 frozen", "io_timeout", "cause", "ata_frozen"},
		{"sd 1:0:0:0: Device offlined - not ready after error recovery", "io_timeout", "cause", "device_offlined"},
		{"scsi 2:0:0:1: Device offlined - not ready after error recovery", "io_timeout", "device_name", "scsi 2:0:0:1"},
		{"session7: session recovery timed out after 120 secs", "io_timeout", "cause", "iscsi_session_timeout"},
		/* virtio, hotplug, tx timeout, fs, mce */
		{"virtio_net virtio0: output.0:id 0 is not a head!", "virtio_error", "device_name", "virtio0"},
		{"virtio_blk virtio2: req.0:id 4 out of range", "virtio_error", "cause", "device_error"},
		{"pciehp 0000:00:1c.0:pcie004: Slot(2): Card not present", "pci_hotplug", "device_name", "2"},
		{"pciehp 0000:00:1c.0:pcie004: Slot(5): Attention button pressed", "pci_hotplug", "cause", "button"},
		{"pciehp: Card not present on Slot(3)", "pci_hotplug", "device_name", "3"},
		/* ≈5.4+: pci_info() of the port with dev_fmt "pciehp: " */
		{"pcieport 0000:89:02.0: pciehp: Slot(400): Link Down", "pci_hotplug", "cause", "link_down"},
		{"pcieport 0000:06:01.0: pciehp: Slot(1): Card not present", "pci_hotplug", "device_name", "1"},
		{"pcieport 0020:02:02.0: pciehp: Slot(0-3): Link Up", "pci_hotplug", "cause", "link_up"},
		{"pcieport 0003:00:00.0: pciehp: Slot(31): Attention button pressed", "pci_hotplug", "cause", "button"},
		{"pcieport 0003:00:00.0: pciehp: Slot(31): Powering off due to button press", "pci_hotplug", "cause", "power_off"},
		{"pcieport 0000:00:1c.0: pciehp: Slot(8): Button press: will power off in 5 sec", "pci_hotplug", "cause", "power_off"},
		{"NETDEV WATCHDOG: eth0 (virtio_net): transmit queue 0 timed out", "netdev_tx_timeout", "device_name", "eth0"},
		{"virtio_net virtio0 eth0: NETDEV WATCHDOG: CPU: 1: transmit queue 0 timed out 5120 ms", "netdev_tx_timeout", "cpu", "1"},
		{"virtio_net virtio0 ens3: TX timeout on queue: 0, sq: output.0, vq: 0x1, name: output.0, 5440000 usecs ago", "netdev_tx_timeout", "device_name", "ens3"},
		/* NIC drivers' own TX hang reports */
		{"e1000e 0000:00:1f.6 eth0: Detected Hardware Unit Hang:", "netdev_tx_timeout", "device_name", "eth0"},
		{"ixgbe 0000:03:00.0 eth2: Detected Tx Unit Hang", "netdev_tx_timeout", "cause", "driver_tx_hang"},
		{"ena 0000:00:03.0 eth0: The number of lost tx completions is above the threshold (156 > 128). Reset the device", "netdev_tx_timeout", "device_name", "eth0"},
		{"ena 0000:00:05.0 ens5: The number of lost tx completion is above the threshold (129 > 128). Reset the device", "netdev_tx_timeout", "device_name", "ens5"},
		{"ena 0000:00:05.0 ens5: Lost TX completions are above the threshold (129 > 128). Completion transmission timeout: 5000.", "netdev_tx_timeout", "cause", "driver_tx_hang"},
		{"EXT4-fs error (device vda1): ext4_find_entry:1455: inode #2: comm ls: reading directory lblock 0", "fs_error", "device_name", "vda1"},
		{"EXT4-fs (vda1): Remounting filesystem read-only", "fs_error", "cause", "remount_ro"},
		{"EXT4-fs (mmcblk0p1): Delayed block allocation failed for inode 2243 at logical offset 0 with max blocks 1 with error 117", "fs_error", "cause", "delalloc_failed"},
		{"JBD2: Error -5 detected when updating journal superblock for dm-1-8.", "fs_error", "device_name", "dm-1-8"},
		{"JBD2: Detected IO errors while flushing file data on sdb-8", "fs_error", "device_name", "sdb-8"},
		{"JBD2: Detected IO errors -5 while flushing file data on vda1-8", "fs_error", "cause", "journal_error"},
		{"XFS (dm-0): Corruption of in-memory data detected.  Shutting down filesystem", "fs_error", "cause", "xfs_shutdown"},
		{"XFS (dm-3): Metadata corruption detected at xfs_attr3_leaf_verify+0x275/0x2e0, xfs_attr3_leaf block 0x19be8", "fs_error", "device_name", "dm-3"},
		{"XFS (vdb): Metadata CRC error detected at xfs_agf_read_verify+0x5a/0x100 [xfs], xfs_agf block 0x1", "fs_error", "cause", "xfs_error"},
		{"BTRFS: error (device dm-0) in btrfs_commit_transaction:2403: errno=-5 IO failure (Error while writing out transaction)", "fs_error", "cause", "btrfs_abort"},
		{"BTRFS: error (device dm-2: state A) in find_free_extent_update_loop:4122: errno=-22 unknown", "fs_error", "device_name", "dm-2"},
		{"BTRFS: error (device loop0 state EA) in cleanup_transaction:2042: errno=-5 IO failure", "fs_error", "device_name", "loop0"},
		{"BTRFS info (device sdd): forced readonly", "fs_error", "cause", "remount_ro"},
		{"BTRFS error (device loop0 state A): Transaction aborted (error -5)", "fs_error", "device_name", "loop0"},
		{"mce: [Hardware Error]: Machine check events logged", "mce", "cause", "corrected"},
		{"{1}[Hardware Error]: event severity: fatal", "mce", "cause", "uncorrected"},
		{"mce: Uncorrected hardware memory error in user-access at 8a398a400", "mce", "cause", "uncorrected"},
		{"mce: Memory error not recovered", "mce", "cause", "uncorrected"},
		{"Memory failure: 0xaf34214: recovery action for reserved kernel page: Failed", "mce", "cause", "uncorrected"},
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct collect c = {.n = 0};
		char line[1024];
		snprintf(line, sizeof(line), "[ 100.000001] %s\n", cases[i].line);
		assert_true(scan_text(line, &c) >= 0);
		if (c.n != 1)
			fail_msg("\"%s\": %zu events, expected 1 %s", cases[i].line, c.n, cases[i].kind);
		if (!streq(vigil_event_kind(c.ev[0]), cases[i].kind))
			fail_msg("\"%s\": kind %s, expected %s", cases[i].line, vigil_event_kind(c.ev[0]), cases[i].kind);
		if (cases[i].key) {
			json_object *v = vigil_event_lookup(c.ev[0], cases[i].key);
			const char *g = v ? json_object_get_string(v) : NULL;
			if (!streq_ptr(g, cases[i].value))
				fail_msg("\"%s\": %s = %s, expected %s", cases[i].line, cases[i].key, g ? g : "null", cases[i].value);
		}
		/* severity policy: pci_hotplug info, never a benign-level event as critical by accident */
		if (streq(cases[i].kind, "pci_hotplug"))
			assert_int_equal(vigil_event_severity(c.ev[0]), VIGIL_SEV_INFO);
		collect_clear(&c);
	}
}

/* The one list of scheduler/locking plumbing that a sleeping stack's culprit skips. */
static void test_wait_frames(void **state)
{
	static const char *const wait[] = {
		"__schedule", "schedule", "schedule_timeout", "io_schedule", "io_schedule_timeout",
		"schedule_preempt_disabled", "__mutex_lock.constprop.0", "__mutex_lock_slowpath", "mutex_lock_killable",
		"rwsem_down_write_slowpath", "rwsem_down_read_failed", "percpu_rwsem_wait", "__percpu_down_read",
		"folio_wait_bit_common", "folio_wait_writeback", "wait_for_completion_io", "bit_wait_io",
		"out_of_line_wait_on_bit_lock", "__wait_on_bit", "__lock_page", "cv_wait_common",
	};
	static const char *const culprit[] = {
		"mnt_want_write", "jbd2_journal_commit_transaction", "ext4_writepages", "io_ring_exit_work",
		"rcu_gp_kthread", "kthread", "schedulex_not_a_prefix_match", "do_last", "down_to_earth",
	};
	for (size_t i = 0; i < ELEMENTSOF(wait); i++)
		if (!kl_wait_frame(wait[i]))
			fail_msg("%s should be wait plumbing", wait[i]);
	for (size_t i = 0; i < ELEMENTSOF(culprit); i++)
		if (kl_wait_frame(culprit[i]))
			fail_msg("%s is a culprit, not plumbing", culprit[i]);
	(void)state;
}

/* The bare "Machine check events logged" carries no severity: after an
 * uncorrected error it logs that one; alone it keeps the corrected default. */
static void test_mce_logged_after_uncorrected(void **state)
{
	struct collect c = {.n = 0};
	assert_true(scan_text("[  183.650625] mce: Uncorrected hardware memory error in user-access at 8a398a400\n"
			      "[  183.790657] mce: [Hardware Error]: Machine check events logged\n"
			      "[  400.000000] mce: [Hardware Error]: Machine check events logged\n",
			      &c) >= 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(vigil_event_get_str(c.ev[1], "cause"), "uncorrected");
	assert_int_equal(vigil_event_severity(c.ev[1]), VIGIL_SEV_CRITICAL);
	assert_string_equal(vigil_event_get_str(c.ev[2], "cause"), "corrected");
	collect_clear(&c);
	(void)state;
}

static void test_benign(void **state)
{
	/* lines of the same subsystems that are not failures */
	static const char *const benign[] = {
		"NMI watchdog: Perf event create on CPU 0 failed with -2",
		/* messages that start with "WARNING: " but are no report (no stack follows) */
		"WARNING: BIOS bug: CPU MTRRs don't cover all of memory, losing 2048MB of RAM.",
		"WARNING: The mand mount option has been deprecated and",
		"WARNING: You are using an experimental version of the media stack.",
		/* PCIe AER corrected errors: no action needed, and they can flood */
		"pcieport 0000:00:1c.5: AER: Corrected error received: 0000:03:00.0",
		"pcieport 0000:00:1c.5: AER: Multiple Corrected error received: 0000:00:1c.5",
		"pcieport 0000:00:1c.5: AER: Correctable error message received from 0000:03:00.0",
		/* mount options echoed */
		"EXT4-fs (sda2): re-mounted. Opts: errors=remount-ro,journal_checksum. Quota mode: none.",
		"NMI watchdog: Enabled. Permanently consumes one hw-PMU counter.",
		"watchdog: Disabling watchdog on nohz_full cores by default",
		"\"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\" disables this message.",
		"virtio_blk virtio1: [vda] 41943040 512-byte logical blocks (21.5 GB/20.0 GiB)",
		"virtio_net virtio0 enp0s3: renamed from eth0",
		"virtio-pci 0000:00:03.0: enabling device (0000 -> 0003)",
		"softdog: initialized. soft_noboot=0 soft_margin=60 sec soft_panic=0 (nowayout=0)",
		"Kernel command line: softlockup_panic=1 nmi_watchdog=0 hung_task_panic=1",
		"rcu: Hierarchical RCU implementation.",
		"rcu: \tRCU restricting CPUs from NR_CPUS=8192 to nr_cpu_ids=2.",
		"EXT4-fs (vda1): mounted filesystem with ordered data mode. Opts: (null)",
		/* print_daily_error_info(): past errors recorded in the superblock, any function name */
		"EXT4-fs (sda2): error count since last fsck: 5",
		"EXT4-fs (sda2): initial error at time 1581661515: __ext4_get_inode_loc:4642: inode 6684891: block 26738733",
		"EXT4-fs (sda2): last error at time 1581661521: ext4_journal_check_start:61: inode 6684894: block 26738733",
		"EXT4-fs (sdd): last error at time 1776801096: ext4_evict_inode:255",
		"EXT4-fs (vda1): initial error at time 1700000000: ext4_journal_start_sb:367",
		"EXT4-fs (sdb1): error count: 3",
		"EXT4-fs (sdb1): last error at 1400000000: ext4_journal_check_start:56: inode 2: block 1",
		"EXT4-fs (mmcblk0p1): This should not happen!! Data will be lost",
		"XFS (vdb): Mounting V5 Filesystem",
		"XFS (dm-3): Unmount and run xfs_repair",
		"BTRFS info (device sdd): disk space caching is enabled",
		"BTRFS info (device dm-0): scrub: started on devid 1",
		"BTRFS warning (device dm-0): Skipping commit of aborted transaction.",
		"pciehp 0000:00:1c.0:pcie004: Slot #0 AttnBtn+ PwrCtrl+ MRL- AttnInd+ PwrInd+ HotPlug+ Surprise+",
		"pcieport 0000:00:1c.0: pciehp: Slot #8 AttnBtn- PwrCtrl- MRL- AttnInd- PwrInd- HotPlug+ Surprise+ Interlock- NoCompl+ IbPresDis- LLActRep+",
		"pcieport 0003:00:00.0: pciehp: pending interrupts 0x0001 from Slot Status",
		"ata1: SATA link up 6.0 Gbps (SStatus 133 SControl 300)",
		"sd 1:0:0:0: [sdb] Attached SCSI removable disk",
		"scsi host2: iSCSI Initiator over TCP/IP",
		"session7: session recovery started",
		"nvme nvme0: 2/0/0 default/read/poll queues",
		"nvme nvme0: Abort status: 0x371",
		"nvme nvme0: failed to set APST feature (-19)",
		"nvme nvme0: resetting controller",
		"mce: CPU0: Thermal monitoring enabled (TM1)",
		"mce: CPU supports 32 MCE banks",
		"Memory failure: soft offline: 0x12345 page already poisoned",
		"Out of memory and no killable processes...",
		"e1000e: Intel(R) PRO/1000 Network Driver",
		"e1000e: eth0 NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx",
		"ena 0000:00:05.0 eth0: Found a Tx that wasn't completed on time, qid 2, index 961.",
		"ena 0000:00:03.0 eth0: Trigger reset is on",
		"ena 0000:00:03.0 eth0: tx_timeout: 1",
		"audit: type=1400 audit(1700000000.000:2): apparmor=\"STATUS\" operation=\"profile_load\" name=\"BUG: soft lockup\"",
		"systemd[1]: Started Daily apt upgrade and clean activities.",
		"Spectre V2 : Mitigation: Retpolines",
		"device offline: nothing to do",
		"timeout: 30 seconds",
		"protection keys enabled",
		"Linux version 6.1.0-13-amd64 (debian-kernel@lists.debian.org)",
	};
	for (size_t i = 0; i < ELEMENTSOF(benign); i++) {
		struct collect c = {.n = 0};
		char line[1024];
		snprintf(line, sizeof(line), "[   1.000000] %s\n", benign[i]);
		assert_true(scan_text(line, &c) >= 0);
		if (c.n)
			fail_msg("benign line became %s: %s", vigil_event_kind(c.ev[0]), benign[i]);
	}
}

static void test_line_formats(void **state)
{
	/* the same soft lockup header in every supported saved-log format */
	static const char *const forms[] = {
		"[ 4393.873711] watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"<0>[ 4393.873711] watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"kern  :emerg : [ 4393.873711] watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"[Sun Nov 22 13:45:00 2026] watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		/* dmesg -H / --reltime: first line of a minute, then deltas; -x with -T, -x -H -T */
		"[Nov22 13:45] watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"[Nov 2 13:45] watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"[  +0.000132] watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"[+12.500000] watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"kern  :emerg : [Sun Nov 22 13:45:00 2026] watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"kern  :emerg : [Nov22 13:45] [Sun Nov 22 13:45:00 2026] [T10489] watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"kern  :emerg : [  +0.010370] watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"0,5123,4393873711,-;watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"0,5123,4393873711,-,caller=C21;watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"Nov 22 13:45:00 vm1 kernel: watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"Nov 22 13:45:00.123456 vm1 kernel: watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"Nov  2 13:45:00 vm1 kernel: [ 4393.873711] watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"2026-11-22T13:45:00+0000 vm1 kernel: watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"2026-11-22T13:45:00.123456+00:00 vm1 kernel: watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"<0>1 2026-11-22T13:45:00.123Z vm1 kernel - - - watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"[ 4393.873711] vm1 kernel: watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"[ 4393.873711][   C21] watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"login: [ 4393.873711] watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"    [ 4393.873711] watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		" kernel:[ 4393.873711] watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"16407: [ 4393.873711] watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"[ 4393.873711@1] watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"Nov 22 13:45:00 fritz kern.emerg kernel: [ 4393.873711] watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		/* dmesg --time-format=iso, delta, -d, -T in other locales, --color=always */
		"2026-11-22T14:33:43,432236+00:00 watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"[<    0.000000>] watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"[ 4393.873711 <    0.000120>] watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"[So Nov 22 14:33:43 2026] watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"[\xd0\x92\xd1\x81 \xd0\xbd\xd0\xbe\xd1\x8f 22 14:33:43 2026] watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"\x1b[32m[ 4393.873711] \x1b[0m\x1b[33mwatchdog: \x1b[0m\x1b[33mBUG: \x1b[0m\x1b[1m\x1b[31msoft lockup - CPU#21 stuck for 12s! [swapper/21:0]\x1b[0m",
		/* journalctl -o short-full, short-unix, json, json-sse */
		"Sat 2026-11-28 12:47:44 UTC vm1 kernel: watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"1795870064.433736 vm1 kernel: watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"{\"_TRANSPORT\":\"kernel\",\"_SOURCE_MONOTONIC_TIMESTAMP\":\"4393873711\",\"MESSAGE\":\"watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]\"}",
		"data: {\"SYSLOG_IDENTIFIER\":\"kernel\",\"MESSAGE\":\"watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]\"}",
		/* crash "log -m", kubectl/docker --timestamps before syslog, vmware.log guest lines */
		"[ 4393.873711] <0>watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"2026-11-28T13:47:06.817015123Z Nov 28 13:47:06 vm1 kernel: watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"2023-12-04T10:49:30.127Z In(05) vcpu-5 - Guest: <0>[ 4393.873711] watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
	};
	for (size_t i = 0; i < ELEMENTSOF(forms); i++) {
		struct collect c = {.n = 0};
		char line[1024];
		snprintf(line, sizeof(line), "%s\r\n", forms[i]);
		assert_true(scan_text(line, &c) >= 0);
		if (c.n != 1 || !streq(vigil_event_kind(c.ev[0]), "soft_lockup"))
			fail_msg("format not recognised: %s", forms[i]);
		assert_int_equal(vigil_event_get_int(c.ev[0], "cpu", -1), 21);
		collect_clear(&c);
	}
	/* spoofed lines: userspace facility in kmsg, other syslog programs */
	static const char *const spoofed[] = {
		"12,5124,4393873712,-;watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [swapper/21:0]",
		"Nov 22 13:45:00 vm1 evil[123]: watchdog: BUG: soft lockup - CPU#21 stuck for 12s! [x:1]",
		"<12>1 2026-11-22T13:45:00Z vm1 logger - - - BUG: soft lockup - CPU#1 stuck for 12s! [x:1]",
		"user  :warn  : [ 4393.873711] BUG: soft lockup - CPU#1 stuck for 12s! [x:1]",
	};
	for (size_t i = 0; i < ELEMENTSOF(spoofed); i++) {
		struct collect c = {.n = 0};
		assert_true(scan_text(spoofed[i], &c) >= 0);
		if (c.n)
			fail_msg("spoofed line accepted: %s", spoofed[i]);
	}
}

static void test_record(void **state)
{
	static const char rec[] = "6,1234,5678901,-,caller=T42;virtio_net virtio0: output.0:id 0 is not a head!\n"
				  " SUBSYSTEM=virtio\n DEVICE=+virtio:virtio0\n";
	struct kl_record r;
	assert_int_equal(kl_parse_record(rec, sizeof(rec) - 1, &r), 0);
	assert_int_equal(r.line.seq, 1234);
	assert_int_equal(r.line.ts_usec, 5678901);
	assert_int_equal(r.line.level, 6);
	assert_int_equal(r.line.facility, 0);
	assert_true(r.line.kernel);
	assert_string_equal(r.line.caller, "T42");
	assert_int_equal(r.line.len, strlen("virtio_net virtio0: output.0:id 0 is not a head!"));
	assert_int_equal(r.subsystem_len, 6);
	assert_memory_equal(r.subsystem, "virtio", 6);
	/* malformed */
	assert_int_equal(kl_parse_record("6,x,1,-;a", 9, &r), -EINVAL);
	assert_int_equal(kl_parse_record("6,1,1,-", 7, &r), -EINVAL);
	/* the dictionary does not break matching */
	struct collect c = {.n = 0};
	struct kl_scanner *s;
	assert_int_equal(kl_scanner_new(NULL, collect_cb, &c, &s), 0);
	kl_parse_record(rec, sizeof(rec) - 1, &r);
	assert_int_equal(kl_scanner_feed(s, &r.line), 1);
	assert_string_equal(vigil_event_kind(c.ev[0]), "virtio_error");
	kl_scanner_free(s);
	collect_clear(&c);
}

/* Two CPUs' reports interleaved line by line, told apart by caller id. */
static void test_interleaved_callers(void **state)
{
	static const char text[] =
		"[  10.000001][   C1] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [a:11]\n"
		"[  10.000002][   C2] watchdog: BUG: soft lockup - CPU#2 stuck for 23s! [b:22]\n"
		"[  10.000003][   C1] CPU: 1 PID: 11 Comm: a Not tainted 6.1.0 #1\n"
		"[  10.000004][   C2] CPU: 2 PID: 22 Comm: b Not tainted 6.1.0 #1\n"
		"[  10.000005][   C1] RIP: 0010:foo_spin+0x10/0x20 [foo]\n"
		"[  10.000006][   C2] RIP: 0010:bar_spin+0x10/0x20\n"
		"[  10.000007][   C1] Call Trace:\n"
		"[  10.000008][   C2] Call Trace:\n"
		"[  10.000009][   C1]  foo_caller+0x1/0x2 [foo]\n"
		"[  10.000010][   C2]  bar_caller+0x1/0x2\n"
		"[  10.000011][   C1]  </TASK>\n"
		"[  10.000012][   C2]  </TASK>\n";
	struct collect c = {.n = 0};
	assert_int_equal(scan_text(text, &c), 2);
	assert_int_equal(c.n, 2);
	for (size_t i = 0; i < 2; i++) {
		int64_t cpu = vigil_event_get_int(c.ev[i], "cpu", -1);
		json_object *ip = vigil_event_lookup(c.ev[i], "ip.symbol");
		assert_non_null(ip);
		assert_string_equal(json_object_get_string(ip), cpu == 1 ? "foo_spin" : "bar_spin");
		assert_string_equal(vigil_event_get_str(c.ev[i], "comm"), cpu == 1 ? "a" : "b");
		json_object *f = vigil_event_lookup(c.ev[i], "frames");
		assert_int_equal(json_object_array_length(f), 1);
		assert_false(json_object_get_boolean(vigil_event_get(c.ev[i], "partial")));
	}
	collect_clear(&c);
}

/* The same input fed in 1-byte chunks gives the same events (streaming). */
static void test_chunked(void **state)
{
	char path[4096];
	char *buf = NULL;
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/tests/fixtures/kmsg/ovs-veth-softlockup-arm64-vmcore-dmesg.txt", srcdir());
	assert_int_equal(vigil_read_file(AT_FDCWD, path, 1 << 20, &buf, &len), 0);
	struct collect c = {.n = 0};
	struct kl_scanner *s;
	assert_int_equal(kl_scanner_new(NULL, collect_cb, &c, &s), 0);
	for (size_t i = 0; i < len; i++)
		assert_true(kl_scanner_feed_chunk(s, buf + i, 1) >= 0);
	assert_true(kl_scanner_finish(s) >= 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(vigil_event_kind(c.ev[0]), "soft_lockup");
	assert_string_equal(vigil_event_kind(c.ev[1]), "panic");
	json_object *cb = vigil_event_lookup(c.ev[1], "caused_by.kind");
	assert_non_null(cb);
	assert_string_equal(json_object_get_string(cb), "soft_lockup");
	kl_scanner_free(s);
	collect_clear(&c);
	free(buf);
}

/* Inputs the fuzzer found reading past the end of a line: fed from exact-size
 * heap buffers so valgrind/ASan see any overread. */
static void test_fuzz_regressions(void **state)
{
	static const char *const inputs[] = {"BUG: ", "4,3,000,-;Oops:", "Oops:", "INFO: ", "watchdog: ", "rcu: INFO: ",
					     "kernel BUG at ", "NETDEV WATCHDOG: ", "Nov 22 13:45:00 h kernel:", "<36>",
					     "<4>1 ", "[ 1.0] ", "0,1,2,-;", "general protection fault,: 08",
					     "general protection fault,", "general protection fault, x:"};
	for (size_t i = 0; i < ELEMENTSOF(inputs); i++) {
		size_t n = strlen(inputs[i]);
		char *b = malloc(n);
		assert_non_null(b);
		memcpy(b, inputs[i], n);
		struct collect c = {.n = 0};
		assert_true(kl_scan_buffer(b, n, NULL, collect_cb, &c) >= 0);
		struct kl_record r;
		kl_parse_record(b, n, &r);
		collect_clear(&c);
		free(b);
	}
}

/* journalctl's multi-line modes are read per entry; a stray "{" or
 * "__CURSOR=" in an ordinary log swallows no report, and a userspace entry
 * is not the kernel's. */
static void test_journal_entries(void **state)
{
#define T(x) x, sizeof(x) - 1
	static const struct {
		const char *text;
		size_t len, events;
	} cases[] = {
		{T("__CURSOR=s=1\nPRIORITY=0\n_TRANSPORT=kernel\nMESSAGE=BUG: soft lockup - CPU#0 stuck for 22s! [a:1]\n\n"), 1},
		/* a binary field (length, data with NUL bytes) before MESSAGE */
		{T("__CURSOR=s=1\nCODE_X\n\x05\x00\x00\x00\x00\x00\x00\x00ab\0de\n_TRANSPORT=kernel\n"
		   "MESSAGE=BUG: soft lockup - CPU#0 stuck for 22s! [a:1]\n\n"), 1},
		{T("__CURSOR=s=1\n_TRANSPORT=syslog\nMESSAGE=BUG: soft lockup - CPU#0 stuck for 22s! [a:1]\n\n"), 0},
		{T("Sat 2026-11-28 12:47:44.433736 UTC [s=d28;i=7;b=12;m=3d6;t=62;x=9f]\n    _TRANSPORT=kernel\n"
		   "    MESSAGE=BUG: soft lockup - CPU#0 stuck for 22s! [a:1]\n"), 1},
		{T("{\n\t\"_TRANSPORT\" : \"kernel\",\n\t\"MESSAGE\" : \"BUG: soft lockup - CPU#0 stuck for 22s! [a:1]\"\n}\n"), 1},
		/* no journal output: the report is not swallowed */
		{T("{\n[    1.000000] BUG: soft lockup - CPU#0 stuck for 22s! [a:1]\n"), 1},
		/* a userspace entry of a journal JSON export that says "soft lockup" */
		{T("{\"_TRANSPORT\":\"syslog\",\"SYSLOG_IDENTIFIER\":\"spoof\",\"MESSAGE\":\"watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [x:1]\"}\n"), 0},
		{T("__CURSOR=x\n[    1.000000] BUG: soft lockup - CPU#0 stuck for 22s! [a:1]\n"), 1},
	};
#undef T
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct collect c = {.n = 0};
		assert_true(kl_scan_buffer(cases[i].text, cases[i].len, NULL, collect_cb, &c) >= 0);
		if (c.n != cases[i].events)
			fail_msg("case %zu: %zu events, expected %zu", i, c.n, cases[i].events);
		collect_clear(&c);
	}
	/* an empty line at the very end of its buffer while a json-pretty entry
	 * is open (ASan: no read past it) */
	struct kl_scanner *sc;
	struct collect c = {.n = 0};
	assert_int_equal(kl_scanner_new(NULL, collect_cb, &c, &sc), 0);
	char *b = malloc(1);
	assert_non_null(b);
	b[0] = '{';
	assert_true(kl_scanner_feed_text(sc, b, 1) >= 0);
	assert_true(kl_scanner_feed_text(sc, b + 1, 0) >= 0);
	free(b);
	assert_true(kl_scanner_finish(sc) >= 0);
	kl_scanner_free(sc);
	assert_int_equal(c.n, 0);
}

/* Every input the fuzzers found failing (tests/fixtures/kmsg-fuzz), through
 * each entry point, from exact-size heap buffers; and the chunk and line
 * paths agree on it wherever the buffer is cut. */
static void test_fuzz_crash_inputs(void **state)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/tests/fixtures/kmsg-fuzz", srcdir());
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct kl_signatures *sigs = load_sigs();
	struct dirent *de;
	unsigned files = 0;
	while ((de = readdir(d))) {
		char path[8192], *buf = NULL;
		size_t len = 0;
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		assert_int_equal(vigil_read_file(AT_FDCWD, path, 1 << 20, &buf, &len), 0);
		char *b = malloc(len ? len : 1);
		assert_non_null(b);
		memcpy(b, buf, len);
		struct collect c = {.n = 0};
		assert_true(kl_scan_buffer(b, len, NULL, collect_cb, &c) >= 0);
		struct kl_record r;
		kl_parse_record(b, len, &r);
		struct kl_line l;
		kl_parse_line(b, len, &l);
		struct kl_scanner *s;
		assert_int_equal(kl_scanner_new(NULL, collect_cb, &c, &s), 0);
		assert_true(kl_scanner_feed_text(s, b, len) >= 0);
		assert_true(kl_scanner_finish(s) >= 0);
		kl_scanner_free(s);
		collect_clear(&c);
		/* fuzz-scan's check, at its own cut and at every line boundary */
		assert_paths_agree(de->d_name, b, len, len ? (unsigned char)b[0] % (len + 1) : 0, sigs);
		for (const char *nl = b; (nl = memchr(nl, '\n', (size_t)(b + len - nl))); nl++)
			assert_paths_agree(de->d_name, b, len, (size_t)(nl + 1 - b), sigs);
		free(b);
		free(buf);
		files++;
	}
	closedir(d);
	kl_signatures_free(sigs);
	assert_true(files >= 4);
}

static void test_signature_errors(void **state)
{
	struct kl_signatures *s = NULL;
	char *err = NULL;
	assert_int_equal(kl_signatures_load_string("t.conf", "[signature x]\ntitle = t\nkind = oops\nbogus = 1\n", &s, &err),
			 -EINVAL);
	assert_non_null(err);
	assert_non_null(strstr(err, "t.conf:4"));
	free(err);
	err = NULL;
	assert_int_equal(kl_signatures_load_string("t.conf", "[signature y]\ntitle = t\nfield.comm = ~([\n", &s, &err),
			 -EINVAL);
	assert_non_null(strstr(err, "t.conf:3"));
	free(err);
	err = NULL;
	assert_int_equal(kl_signatures_load_string("t.conf", "[signature z]\ntitle = t\n", &s, &err), -EINVAL);
	free(err);
	/* kernel ranges */
	assert_int_equal(kl_signatures_load_string("t.conf",
						   "[signature k]\ntitle = t\nkind = oops\nkernel = >=6.8, <6.10\n", &s,
						   &err),
			 0);
	struct vigil_event *ev = vigil_event_new("oops", VIGIL_SEV_CRITICAL);
	vigil_event_set_str(ev, "kernel_release", "6.9.2-arch1");
	assert_int_equal(kl_signatures_apply(s, ev), 1);
	vigil_event_unref(ev);
	ev = vigil_event_new("oops", VIGIL_SEV_CRITICAL);
	vigil_event_set_str(ev, "kernel_release", "6.10.0");
	assert_int_equal(kl_signatures_apply(s, ev), 0);
	vigil_event_unref(ev);
	kl_signatures_free(s);
	assert_true(kl_kernel_version("2.6.32-431.el6.x86_64") < kl_kernel_version("3.10.0"));
	assert_true(kl_kernel_version("5.10.0-136.12.0.88.ctl3.aarch64") > kl_kernel_version("5.4.200"));
}

/* The lab's real hung-task report of a dd whose vhost-user-blk backend was
 * stopped: the report names no disk, so alone it gets no known issue; with
 * the live evidence kmsg adds (blkstall's vhost_backend condition active) it
 * is the backend loss; an unrelated active condition changes nothing. */
static void test_live_conditions_signature(void **state)
{
	struct kl_signatures *sigs = load_sigs();
	char path[4096], *buf = NULL;
	size_t len = 0;
	struct collect c = {.n = 0};

	snprintf(path, sizeof(path), "%s/tests/fixtures/kmsg/hung-task-6.1-vhost-user-blk-lab.log", srcdir());
	assert_int_equal(vigil_read_file(AT_FDCWD, path, 1 << 20, &buf, &len), 0);
	assert_int_equal(kl_scan_buffer(buf, len, sigs, collect_cb, &c), 1);
	struct vigil_event *ev = c.ev[0];
	assert_null(vigil_event_get(ev, "known_issue"));

	json_object *other = json_object_new_array();
	json_object_array_add(other, json_object_new_string("link/eth0"));
	assert_int_equal(vigil_event_set_json(ev, "active_conditions", other), 0);
	assert_int_equal(kl_signatures_apply(sigs, ev), 0);

	json_object *lost = json_object_new_array();
	json_object_array_add(lost, json_object_new_string("blk_stall/vdb"));
	json_object_array_add(lost, json_object_new_string("vhost_backend/vdb"));
	assert_int_equal(vigil_event_set_json(ev, "active_conditions", lost), 0);
	assert_int_equal(kl_signatures_apply(sigs, ev), 1);
	assert_string_equal(json_object_get_string(vigil_event_lookup(ev, "known_issue.id")),
			    "vhost-user-blk-backend-loss");
	collect_clear(&c);
	free(buf);
	kl_signatures_free(sigs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_header_wordings),
		cmocka_unit_test(test_benign),
		cmocka_unit_test(test_mce_logged_after_uncorrected),
		cmocka_unit_test(test_line_formats),
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_interleaved_callers),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_fuzz_regressions),
		cmocka_unit_test(test_journal_entries),
		cmocka_unit_test(test_fuzz_crash_inputs),
		cmocka_unit_test(test_signature_errors),
		cmocka_unit_test(test_wait_frames),
		cmocka_unit_test(test_live_conditions_signature),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
