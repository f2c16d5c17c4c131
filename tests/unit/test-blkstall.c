/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* blkstall: sequences of /sys/block/<disk>/{inflight,stat} and virtio_net
 * carrier values written into a copy of the sysfs tree captured in the QEMU
 * lab guest (unpacked from its tarball; vda legacy, vdb transitional, vdc modern virtio-blk; eth0/eth1
 * virtio_net), sampled with a driven clock. The stall pattern is the one the
 * lab measured with a SIGSTOPped vhost-user-blk backend: inflight "0 34",
 * completion counters frozen. `--bench N` times N ticks on this host's real
 * /sys instead (make bench). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/wait.h>
#include <time.h>

#include "../../plugins/blkstall.c"

#define FIX VIGIL_SOURCE_DIR "/tests/fixtures/sysfs/qemu-pc-mixed.tar.xz"
#define SEC 1000000ULL

#include "event-sink.h"

struct tree {
	char dir[64];
	char *stat_vda; /* the captured line, reused with changed counters */
};

static void run(const char *cmd)
{
	int r = system(cmd);
	assert_true(WIFEXITED(r) && WEXITSTATUS(r) == 0);
}

static void tree_setup(struct tree *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/test-blkstall.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "tar -xJf '%s' -C '%s'", FIX, t->dir);
	run(cmd);
}

static void tree_teardown(struct tree *t)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	run(cmd);
}

/* Write in place (same inode: the plugin keeps its fds open). */
static void put(const struct tree *t, const char *rel, const char *fmt, ...)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", t->dir, rel);
	FILE *f = fopen(path, "r+");
	if (!f)
		f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(ftruncate(fileno(f), 0), 0);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
}

/* 17-field stat line with the given completed reads/writes */
static void put_stat(const struct tree *t, const char *disk, unsigned reads, unsigned writes, unsigned inflight)
{
	char rel[128];
	snprintf(rel, sizeof(rel), "block/%s/stat", disk);
	put(t, rel, "%8u %8u %8u %8u %8u %8u %8u %8u %8u %8u %8u %8u %8u %8u %8u %8u %8u\n", reads, 0, reads * 8, 120,
	    writes, 3, writes * 8, 900, inflight, 1500, 1020, 0, 0, 0, 0, 0, 0);
}

static void put_inflight(const struct tree *t, const char *disk, unsigned r, unsigned w)
{
	char rel[128];
	snprintf(rel, sizeof(rel), "block/%s/inflight", disk);
	put(t, rel, "%8u %8u\n", r, w);
}

static struct bs *new_bs(const struct tree *t, const char *const *globs, size_t n_globs, struct sink *s)
{
	struct bs *b;
	assert_int_equal(bs_new(t->dir, 10 * SEC, 10 * SEC, true, true, globs, n_globs, sink_emit, s, &b), 0);
	return b;
}

/* The captured tree itself: idle disks, three virtio disks watched, loop
 * and ram disks are not. */
static void test_captured_idle(void **state)
{
	struct tree t;
	tree_setup(&t);
	struct sink s = { 0 };
	struct bs *b = new_bs(&t, NULL, 0, &s);
	for (uint64_t now = 0; now <= 60 * SEC; now += 2 * SEC)
		bs_tick(b, now);
	assert_int_equal(s.n, 0);
	assert_int_equal(b->n_disks, 3);
	for (size_t i = 0; i < b->n_disks; i++) {
		assert_true(b->disks[i]->virtio);
		assert_true(b->disks[i]->have_sample);
	}
	bs_free(b);
	tree_teardown(&t);
}

static struct bs_disk *disk(struct bs *b, const char *name)
{
	for (size_t i = 0; i < b->n_disks; i++)
		if (streq(b->disks[i]->name, name))
			return b->disks[i];
	return NULL;
}

static void test_backend_stopped(void **state)
{
	struct tree t;
	tree_setup(&t);
	struct sink s = { 0 };
	put_stat(&t, "vda", 500, 200, 0);
	put_inflight(&t, "vda", 0, 0);
	struct bs *b = new_bs(&t, NULL, 0, &s);
	uint64_t now = 0;
	/* busy and progressing: requests in flight at every sample, but
	 * completions move: never a stall */
	for (unsigned i = 1; i <= 10; i++, now += 2 * SEC) {
		put_inflight(&t, "vda", 0, 8);
		put_stat(&t, "vda", 500, 200 + 50 * i, 8);
		bs_tick(b, now);
	}
	assert_int_equal(s.n, 0);

	/* the backend stops (SIGSTOP): 34 writes in flight, counters frozen */
	put_inflight(&t, "vda", 0, 34);
	put_stat(&t, "vda", 500, 750, 34); /* moved since the last sample */
	bs_tick(b, now); /* last progress (the counter moved) */
	uint64_t stop = now;
	for (now += 2 * SEC; now < stop + 10 * SEC; now += 2 * SEC)
		bs_tick(b, now);
	assert_int_equal(s.n, 0); /* not before stall_secs */
	bs_tick(b, now);           /* stop + 10 s */
	assert_int_equal(s.n, 2);
	struct vigil_event *st = s.ev[0], *lost = s.ev[1];
	assert_string_equal(vigil_event_kind(st), "blk_stall");
	assert_int_equal(vigil_event_severity(st), VIGIL_SEV_WARNING);
	assert_string_equal(ev_str(st, "device.name"), "vda");
	assert_string_equal(ev_str(st, "device.pci_bdf"), "0000:00:04.0");
	assert_string_equal(ev_str(st, "condition"), "blk_stall/vda");
	assert_int_equal(vigil_event_get_int(st, "duration_s", -1), 10);
	assert_int_equal(json_object_get_int(vigil_event_lookup(st, "inflight.write")), 34);
	assert_int_equal(json_object_get_int(vigil_event_lookup(st, "inflight.read")), 0);
	assert_true(json_object_get_boolean(vigil_event_get(st, "active")));
	assert_string_equal(vigil_event_kind(lost), "vhost_backend_lost");
	assert_int_equal(vigil_event_severity(lost), VIGIL_SEV_CRITICAL);
	assert_string_equal(ev_str(lost, "condition"), "vhost_backend/vda");
	assert_string_equal(ev_str(lost, "cause"), "blk_stall");
	json_object *evid = vigil_event_get(lost, "evidence");
	assert_int_equal(json_object_array_length(evid), 1);
	assert_non_null(strstr(json_object_get_string(json_object_array_get_idx(evid, 0)), "34 request(s) in flight"));

	/* stays stalled: no repeats */
	for (int i = 0; i < 30; i++)
		bs_tick(b, now += 2 * SEC);
	assert_int_equal(s.n, 2);
	assert_true(disk(b, "vda")->stalled);

	/* SIGCONT: the queue drains */
	put_inflight(&t, "vda", 0, 0);
	put_stat(&t, "vda", 500, 784, 0);
	bs_tick(b, now += 2 * SEC);
	assert_int_equal(s.n, 4);
	assert_string_equal(vigil_event_kind(s.ev[2]), "blk_resumed");
	assert_false(json_object_get_boolean(vigil_event_get(s.ev[2], "active")));
	assert_string_equal(ev_str(s.ev[2], "condition"), "blk_stall/vda");
	assert_string_equal(vigil_event_kind(s.ev[3]), "vhost_backend_restored");
	assert_string_equal(ev_str(s.ev[3], "condition"), "vhost_backend/vda");
	assert_false(json_object_get_boolean(vigil_event_get(s.ev[3], "active")));
	assert_int_equal(vigil_event_severity(s.ev[3]), VIGIL_SEV_INFO);
	sink_clear(&s);
	bs_free(b);
	tree_teardown(&t);
}

/* A stalled disk that disappears clears its conditions. Non-virtio disks
 * are watched only when configured, and never claim a vhost backend. */
static void test_removed_and_globs(void **state)
{
	struct tree t;
	tree_setup(&t);
	struct sink s = { 0 };
	/* a loop disk with a stuck request */
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/devices/virtual/block/loop9' && ln -s ../devices/virtual/block/loop9 '%s/block/loop9'",
		 t.dir, t.dir);
	run(cmd);
	put_stat(&t, "loop9", 10, 10, 1);
	put_inflight(&t, "loop9", 1, 0);
	put_stat(&t, "vdb", 10, 10, 3);
	put_inflight(&t, "vdb", 3, 0);

	struct bs *b = new_bs(&t, NULL, 0, &s);
	for (uint64_t now = 0; now <= 12 * SEC; now += 2 * SEC)
		bs_tick(b, now);
	assert_int_equal(s.n, 2); /* vdb only: loop9 is not watched */
	assert_string_equal(ev_str(s.ev[0], "device.name"), "vdb");
	assert_null(disk(b, "loop9"));
	/* vdb goes away (hot-unplug) while stalled */
	snprintf(cmd, sizeof(cmd), "rm '%s/block/vdb'", t.dir);
	run(cmd);
	bs_tick(b, 14 * SEC);
	assert_int_equal(s.n, 4);
	assert_string_equal(vigil_event_kind(s.ev[2]), "blk_resumed");
	assert_string_equal(ev_str(s.ev[2], "reason"), "removed");
	assert_string_equal(vigil_event_kind(s.ev[3]), "vhost_backend_restored");
	assert_int_equal(b->n_disks, 2);
	sink_clear(&s);
	bs_free(b);

	static const char *const globs[] = { "loop*" };
	b = new_bs(&t, globs, 1, &s);
	for (uint64_t now = 0; now <= 12 * SEC; now += 2 * SEC)
		bs_tick(b, now);
	assert_int_equal(s.n, 1);
	assert_string_equal(vigil_event_kind(s.ev[0]), "blk_stall");
	assert_string_equal(ev_str(s.ev[0], "device.name"), "loop9");
	assert_null(ev_str(s.ev[0], "device.virtio_type"));
	sink_clear(&s);
	bs_free(b);
	tree_teardown(&t);
}

static void test_carrier(void **state)
{
	struct tree t;
	tree_setup(&t);
	struct sink s = { 0 };
	put(&t, "class/net/eth0/carrier", "1\n");
	put(&t, "class/net/eth1/carrier", "1\n");
	struct bs *b = new_bs(&t, NULL, 0, &s);
	uint64_t now = 0;
	bs_tick(b, now);
	assert_int_equal(b->n_nets, 2);
	put(&t, "class/net/eth1/carrier", "0\n"); /* set_link off */
	for (now = 2 * SEC; now < 12 * SEC; now += 2 * SEC)
		bs_tick(b, now);
	assert_int_equal(s.n, 0);
	bs_tick(b, now); /* down since 2 s, now 12 s */
	assert_int_equal(s.n, 1);
	assert_string_equal(vigil_event_kind(s.ev[0]), "vhost_backend_lost");
	assert_string_equal(ev_str(s.ev[0], "cause"), "carrier");
	assert_string_equal(ev_str(s.ev[0], "device.name"), "eth1");
	assert_string_equal(ev_str(s.ev[0], "device.pci_bdf"), "0000:00:08.0");
	assert_string_equal(ev_str(s.ev[0], "condition"), "vhost_backend/eth1");
	/* a short blip on eth0 is no loss */
	put(&t, "class/net/eth0/carrier", "0\n");
	bs_tick(b, now += 2 * SEC);
	put(&t, "class/net/eth0/carrier", "1\n");
	bs_tick(b, now += 2 * SEC);
	put(&t, "class/net/eth1/carrier", "1\n");
	bs_tick(b, now += 2 * SEC);
	assert_int_equal(s.n, 2);
	assert_string_equal(vigil_event_kind(s.ev[1]), "vhost_backend_restored");
	assert_string_equal(ev_str(s.ev[1], "device.name"), "eth1");
	sink_clear(&s);
	bs_free(b);
	tree_teardown(&t);
}

/* The real sequence recorded in the QEMU lab: a vhost-user-blk backend
 * SIGSTOPped for 16 s under a dd loop, replayed with its own timestamps. */
static void test_recorded_vhost_sigstop(void **state)
{
	struct tree t;
	tree_setup(&t);
	struct sink s = { 0 };
	_cleanup_free_ char *text = NULL;
	assert_int_equal(vigil_read_file(AT_FDCWD, VIGIL_SOURCE_DIR "/tests/fixtures/blkstall/qemu72-q35-vhost-user-blk-sigstop.samples",
					 1 << 20, &text, NULL),
			 0);
	struct bs *b = NULL;
	double stop_at = -1, cont_at = -1, last_t = 0, stall_at = -1, resume_at = -1;
	unsigned samples = 0;
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (streq(l, "HOST-SIGSTOP")) {
			stop_at = last_t;
			continue;
		}
		if (streq(l, "HOST-SIGCONT")) {
			cont_at = last_t;
			continue;
		}
		double up;
		unsigned ir, iw;
		int n = 0;
		if (sscanf(l, "S %lf %u %u | %n", &up, &ir, &iw, &n) != 3)
			continue;
		put_inflight(&t, "vda", ir, iw);
		put(&t, "block/vda/stat", "%s\n", l + n);
		if (!b)
			b = new_bs(&t, NULL, 0, &s);
		size_t before = s.n;
		bs_tick(b, (uint64_t)(up * 1e6));
		samples++;
		if (s.n > before && stall_at < 0 && streq(vigil_event_kind(s.ev[before]), "blk_stall"))
			stall_at = up;
		if (s.n > before && resume_at < 0 && streq(vigil_event_kind(s.ev[before]), "blk_resumed"))
			resume_at = up;
		last_t = up;
	}
	assert_int_equal(samples, 60);
	assert_true(stop_at > 0 && cont_at > stop_at);
	/* exactly: stall + backend lost, then resumed + restored */
	assert_int_equal(s.n, 4);
	assert_string_equal(vigil_event_kind(s.ev[0]), "blk_stall");
	assert_string_equal(vigil_event_kind(s.ev[1]), "vhost_backend_lost");
	assert_string_equal(vigil_event_kind(s.ev[2]), "blk_resumed");
	assert_string_equal(vigil_event_kind(s.ev[3]), "vhost_backend_restored");
	/* raised about stall_secs after the backend stopped (sampling: 0.5 s) */
	assert_true(stall_at >= stop_at + 10.0 && stall_at <= stop_at + 11.5);
	/* cleared by the first sample after SIGCONT */
	assert_true(resume_at > cont_at && resume_at <= cont_at + 1.0);
	assert_int_equal(json_object_get_int(vigil_event_lookup(s.ev[0], "inflight.write")), 1);
	sink_clear(&s);
	bs_free(b);
	tree_teardown(&t);
}

/* A container host: 2000 veths are looked at once and then ignored
 * cheaply; a name that comes back as a virtio link (new sysfs object) is
 * picked up; a disk name reused by a new disk starts afresh. */
static void test_many_links_and_reuse(void **state)
{
	struct tree t;
	tree_setup(&t);
	struct sink s = { 0 };
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "cd '%s/class/net' && for i in $(seq 1 2000); do ln -s ../../devices/virtual/net/veth$i veth$i; done", t.dir);
	run(cmd);
	put(&t, "class/net/eth0/carrier", "1\n");
	put(&t, "class/net/eth1/carrier", "1\n");
	struct bs *b = new_bs(&t, NULL, 0, &s);
	struct timespec a, z;
	clock_gettime(CLOCK_MONOTONIC, &a);
	uint64_t now = 0;
	for (int i = 0; i < 50; i++, now += 2 * SEC)
		bs_tick(b, now);
	clock_gettime(CLOCK_MONOTONIC, &z);
	print_message("50 ticks with 2002 links: %.1f us per tick\n",
		      ((double)(z.tv_sec - a.tv_sec) * 1e9 + (double)(z.tv_nsec - a.tv_nsec)) / 50 / 1000.0);
	assert_int_equal(b->n_nets, 2);
	assert_true(b->n_ignored >= 2000);
	/* veth7 is replaced by a virtio link of the same name (a new inode,
	 * as sysfs gives every new device) */
	snprintf(cmd, sizeof(cmd), "cd '%s/class/net' && ln -s ../../devices/pci0000:00/0000:00:08.0/virtio4/net/eth1 veth7.new && mv -T veth7.new veth7", t.dir);
	run(cmd);
	for (int i = 0; i < BS_NET_DISCOVERY_TICKS; i++, now += 2 * SEC)
		bs_tick(b, now);
	assert_int_equal(b->n_nets, 3);
	assert_int_equal(s.n, 0);

	/* vdb stalls, then its name is taken by a new disk */
	put_stat(&t, "vdb", 10, 10, 3);
	put_inflight(&t, "vdb", 3, 0);
	for (int i = 0; i < 7; i++, now += 2 * SEC)
		bs_tick(b, now);
	assert_int_equal(s.n, 2); /* blk_stall + vhost_backend_lost */
	snprintf(cmd, sizeof(cmd), "cd '%s/block' && ln -s \"$(readlink vdb)\" vdb.new && mv -T vdb.new vdb", t.dir);
	run(cmd);
	bs_tick(b, now);
	assert_int_equal(s.n, 4);
	assert_string_equal(ev_str(s.ev[2], "reason"), "removed");
	assert_non_null(disk(b, "vdb")); /* the new one, watched from scratch */
	assert_false(disk(b, "vdb")->stalled);
	sink_clear(&s);
	bs_free(b);
	tree_teardown(&t);
}

static void test_parsers(void **state)
{
	uint64_t c;
	/* real lines: this host (17 fields), a 4.x kernel (11 fields) */
	assert_int_equal(bs_parse_stat("   49174     8857  2642578    10444    23639    14412  2010696     5105        0     8672    17031     6876       39   253792      971     2064      510\n", &c), 0);
	assert_int_equal(c, 49174 + 23639 + 6876 + 2064);
	assert_int_equal(bs_parse_stat("    4711        0    37688      112      815      202     8136      368        0      420      480\n", &c), 0);
	assert_int_equal(c, 4711 + 815);
	assert_int_equal(bs_parse_stat("1 2 3\n", &c), -EINVAL);
	unsigned r, w;
	assert_int_equal(bs_parse_inflight("       0       34\n", &r, &w), 0);
	assert_int_equal(w, 34);
	struct bs_dev_info info;
	bs_parse_devpath("../devices/pci0000:00/0000:00:02.0/virtio1/block/vda", &info);
	assert_string_equal(info.pci_bdf, "0000:00:02.0");
	assert_string_equal(info.virtio_name, "virtio1");
	assert_string_equal(info.syspath, "/sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda");
	bs_parse_devpath("../devices/virtual/block/loop0", &info);
	assert_string_equal(info.virtio_name, "");
}

static int null_emit(void *u, struct vigil_event *ev)
{
	vigil_event_unref(ev);
	return 0;
}

/* make bench: cost of one tick on this host's real /sys. */
static int bench(unsigned n)
{
	struct bs *b;
	int r = bs_new("/sys", 10 * SEC, 10 * SEC, true, true, NULL, 0, null_emit, NULL, &b);
	if (r < 0) {
		fprintf(stderr, "bs_new: %s\n", strerror(-r));
		return 1;
	}
	bs_tick(b, 0);
	struct timespec a, z, ca, cz;
	clock_gettime(CLOCK_MONOTONIC, &a);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ca);
	for (unsigned i = 1; i <= n; i++)
		bs_tick(b, (uint64_t)i * 2 * SEC);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cz);
	clock_gettime(CLOCK_MONOTONIC, &z);
	double wall = ((double)(z.tv_sec - a.tv_sec) * 1e9 + (double)(z.tv_nsec - a.tv_nsec)) / n / 1000.0;
	double cpu = ((double)(cz.tv_sec - ca.tv_sec) * 1e9 + (double)(cz.tv_nsec - ca.tv_nsec)) / n / 1000.0;
	printf("blkstall tick on /sys: %zu watched disk(s), %zu virtio_net link(s), %zu ignored name(s)\n",
	       b->n_disks, b->n_nets, b->n_ignored);
	printf("blkstall tick: %.1f us wall, %.1f us CPU per tick (%u ticks); at the default 2 s interval: %.4f%% of one CPU\n",
	       wall, cpu, n, cpu / 2e6 * 100.0);
	bs_free(b);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && streq(argv[1], "--bench"))
		return bench(argc >= 3 ? (unsigned)atoi(argv[2]) : 20000);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parsers),
		cmocka_unit_test(test_captured_idle),
		cmocka_unit_test(test_backend_stopped),
		cmocka_unit_test(test_removed_and_globs),
		cmocka_unit_test(test_carrier),
		cmocka_unit_test(test_recorded_vhost_sigstop),
		cmocka_unit_test(test_many_links_and_reuse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
