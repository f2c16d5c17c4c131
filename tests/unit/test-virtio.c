/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* virtio plugin: inventory and legacy detection on sysfs trees captured from
 * real machines (this host: modern-only devices; a QEMU 7.2 pc guest with
 * Debian's 6.1 kernel: legacy-only, transitional and modern-only), checked
 * against the ground truth the lab's independent `vdevs` script printed on
 * the same machine; uevent sequences recorded in that guest during a real
 * device_del/device_add, replayed into the correlator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "../../plugins/virtio.c"

#define FIX VIGIL_SOURCE_DIR "/tests/fixtures"

/* The captured trees are kept as tar archives (symlinks and all: `make
 * dist` would dereference a tree); unpacked once into a temp dir. */
static char trees[64];

static const char *tree(const char *name)
{
	static char path[256];
	if (!trees[0]) {
		snprintf(trees, sizeof(trees), "/tmp/test-virtio-trees.XXXXXX");
		assert_non_null(mkdtemp(trees));
	}
	snprintf(path, sizeof(path), "%s/%s", trees, name);
	if (access(path, F_OK) < 0) {
		char cmd[768];
		snprintf(cmd, sizeof(cmd), "mkdir -p %s && tar -xJf %s/sysfs/%s.tar.xz -C %s", path, FIX, name, path);
		assert_int_equal(system(cmd), 0);
	}
	return path;
}

static void trees_cleanup(void)
{
	if (trees[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", trees);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", trees);
	}
}

#include "event-sink.h"

static int ev_bool(struct vigil_event *ev, const char *path)
{
	json_object *o = vigil_event_lookup(ev, path);
	return o ? json_object_get_boolean(o) : -1;
}

static struct vio *new_vio(const char *tree, const char *kernel, struct sink *s)
{
	struct vio *v;
	assert_int_equal(vio_new(tree, 1000000, kernel, sink_emit, s, &v), 0);
	assert_int_equal(vio_inventory_scan(v->sysfd, &v->devs, &v->n_devs), 0);
	return v;
}

/* Compare the inventory with the VDEV lines the lab's vdevs script wrote. */
static void check_against_vdevs(const char *tree, const char *vdevs)
{
	struct sink s = { 0 };
	struct vio *v = new_vio(tree, "6.1.0-56-amd64", &s);
	_cleanup_free_ char *text = NULL;
	assert_int_equal(vigil_read_file(AT_FDCWD, vdevs, 1 << 16, &text, NULL), 0);

	size_t lines = 0;
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char vn[32], bdf[32], pciid[32], driver[64], name[64];
		unsigned vtype, caps;
		int ver1;
		assert_int_equal(sscanf(l, "VDEV virtio=%31s bdf=%31s pci_id=%31s vtype=%u ver1=%d caps=%u driver=%63s name=%63s",
					vn, bdf, pciid, &vtype, &ver1, &caps, driver, name),
				 8);
		lines++;
		struct vio_dev *d = NULL;
		for (size_t i = 0; i < v->n_devs; i++)
			if (streq(v->devs[i]->vname, vn))
				d = v->devs[i];
		assert_non_null(d);
		assert_string_equal(d->pci_bdf, bdf);
		char id[16];
		snprintf(id, sizeof(id), "%04x:%04x", d->pci_vendor, d->pci_device);
		assert_string_equal(id, pciid);
		assert_int_equal(d->type_id, vtype);
		assert_int_equal(d->version1, ver1);
		assert_string_equal(vio_dev_mode(d), ver1 ? "modern" : "legacy");
		assert_int_equal(d->vendor_caps, (int)caps);
		assert_string_equal(d->driver, driver);
		assert_string_equal(d->pci_driver, "virtio-pci");
		if (streq(name, "none"))
			assert_int_equal(d->n_names, 0);
		else
			assert_string_equal(d->names[0], name);
		/* the facts table: >= 0x1040 modern-only; 0x10xx with caps
		 * transitional; without caps legacy-only */
		unsigned pdev = d->pci_device;
		assert_string_equal(vio_dev_pci_kind(d), pdev >= 0x1040 ? "modern-only"
							 : caps        ? "transitional"
								       : "legacy-only");
		json_object *j = vio_dev_to_json(d);
		assert_string_equal(json_object_get_string(json_object_object_get(j, "pci_bdf")), bdf);
		assert_string_equal(json_object_get_string(json_object_object_get(j, "virtio_mode")),
				    ver1 ? "modern" : "legacy");
		json_object_put(j);
	}
	assert_int_equal(lines, v->n_devs);
	assert_true(lines >= 4);
	vio_free(v);
}

static void test_inventory_host(void **state)
{
	check_against_vdevs(tree("host-fc-modern"), FIX "/sysfs/host-fc-modern.vdevs");
}

static void test_inventory_qemu_mixed(void **state)
{
	check_against_vdevs(tree("qemu-pc-mixed"), FIX "/sysfs/qemu-pc-mixed.vdevs");
	check_against_vdevs(tree("qemu-pc-mixed-replugged"), FIX "/sysfs/qemu-pc-mixed-replugged.vdevs");
}

/* ---------------------------------------------------------------- uevents */

struct rec {
	char *kv[16];
	size_t n;
};
struct recording {
	struct rec r[128];
	size_t n;
	char *text;
};

static const char *rec_get(const struct rec *r, const char *key)
{
	size_t l = strlen(key);
	for (size_t i = 0; i < r->n; i++)
		if (strncmp(r->kv[i], key, l) == 0 && r->kv[i][l] == '=')
			return r->kv[i] + l + 1;
	return NULL;
}

/* KEY=VALUE blocks separated by blank lines (the guest's uevent helper). */
static void load_recording(const char *path, struct recording *rc)
{
	memset(rc, 0, sizeof(*rc));
	assert_int_equal(vigil_read_file(AT_FDCWD, path, 1 << 20, &rc->text, NULL), 0);
	struct rec *cur = NULL;
	for (char *p = rc->text; *p;) {
		char *e = strchrnul(p, '\n');
		bool last = !*e;
		*e = '\0';
		if (!*p)
			cur = NULL;
		else if (strchr(p, '=')) {
			if (!cur) {
				assert_true(rc->n < ELEMENTSOF(rc->r));
				cur = &rc->r[rc->n++];
			}
			if (cur->n < ELEMENTSOF(cur->kv))
				cur->kv[cur->n++] = p;
		}
		p = last ? e : e + 1;
	}
}

static void feed(struct vio *v, const struct rec *r, uint64_t now)
{
	struct vio_uevent u = {
		.action = rec_get(r, "ACTION"),
		.devpath = rec_get(r, "DEVPATH"),
		.subsystem = rec_get(r, "SUBSYSTEM"),
		.devtype = rec_get(r, "DEVTYPE"),
		.driver = rec_get(r, "DRIVER"),
	};
	assert_int_equal(vio_handle_uevent(v, &u, now), 0);
}

static void check_removed(struct vigil_event *ev, const char *name, const char *bdf, const char *type,
			  const char *pci_id)
{
	assert_string_equal(vigil_event_kind(ev), "virtio_removed");
	assert_int_equal(vigil_event_severity(ev), VIGIL_SEV_CRITICAL);
	assert_string_equal(ev_str(ev, "device.name"), name);
	assert_string_equal(ev_str(ev, "device.pci_bdf"), bdf);
	assert_string_equal(ev_str(ev, "device.virtio_type"), type);
	assert_string_equal(ev_str(ev, "device.virtio_mode"), "legacy");
	assert_string_equal(ev_str(ev, "device.pci_id"), pci_id);
	assert_string_equal(ev_str(ev, "device.pci_kind"), "legacy-only");
	assert_int_equal(ev_bool(ev, "device.legacy"), 1);
	assert_int_equal(ev_bool(ev, "active"), 1);
	char cond[64];
	snprintf(cond, sizeof(cond), "virtio_device/%s", bdf);
	assert_string_equal(ev_str(ev, "condition"), cond);
	json_object *st = vigil_event_get(ev, "stages");
	assert_non_null(st);
	assert_int_equal(json_object_array_length(st), 5); /* the whole sequence was seen */
	assert_non_null(strstr(vigil_event_summary(ev), name));
}

static void test_replay_sequential(void **state)
{
	struct sink s = { 0 };
	struct recording rc;
	load_recording(FIX "/uevents/qemu72-pc-6.1-unplug-legacy-blk-net-replug.uevents", &rc);
	struct vio *v = new_vio(tree("qemu-pc-mixed"), "6.1.0-56-amd64", &s);
	assert_int_equal(v->n_devs, 5);

	uint64_t now = 1000000;
	size_t i = 0;
	/* the two removals, up to the first add */
	for (; i < rc.n && !streq(rec_get(&rc.r[i], "ACTION"), "add"); i++)
		feed(v, &rc.r[i], now += 1000);
	assert_int_equal(s.n, 2);
	check_removed(s.ev[0], "vda", "0000:00:04.0", "blk", "1af4:1001");
	check_removed(s.ev[1], "eth0", "0000:00:07.0", "net", "1af4:1000");
	assert_null(vigil_event_get(s.ev[0], "known_issue")); /* 6.1 is not affected */
	assert_int_equal(v->n_devs, 3);
	/* nothing more when time passes */
	assert_int_equal(vio_tick(v, now + 10000000), 0);
	assert_int_equal(s.n, 2);

	/* the re-plug: sysfs now shows the replugged tree */
	close(v->sysfd);
	v->sysfd = open(tree("qemu-pc-mixed-replugged"), O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(v->sysfd >= 0);
	now += 20000000;
	for (; i < rc.n; i++)
		feed(v, &rc.r[i], now += 1000);
	assert_int_equal(s.n, 2); /* settles first */
	assert_int_equal(vio_tick(v, now + 500000), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(vio_tick(v, now + 1000000), 0);
	assert_int_equal(s.n, 3);
	struct vigil_event *ev = s.ev[2];
	assert_string_equal(vigil_event_kind(ev), "virtio_added");
	assert_string_equal(ev_str(ev, "device.name"), "vda");
	assert_string_equal(ev_str(ev, "device.pci_bdf"), "0000:00:04.0");
	assert_string_equal(ev_str(ev, "device.virtio_mode"), "legacy");
	assert_string_equal(ev_str(ev, "device.driver"), "virtio_blk");
	assert_int_equal(ev_bool(ev, "active"), 0);
	assert_string_equal(ev_str(ev, "condition"), "virtio_device/0000:00:04.0");
	assert_int_equal(v->n_devs, 4);
	sink_clear(&s);
	vio_free(v);
	free(rc.text);
}

/* The two recorded removals interleaved event by event (QEMU ejects one
 * slot at a time; a host removing two devices at once on a bus with
 * parallel hotplug interleaves like this). */
static void test_replay_interleaved(void **state)
{
	struct sink s = { 0 };
	struct recording rc;
	load_recording(FIX "/uevents/qemu72-pc-6.1-unplug-legacy-blk-net-replug.uevents", &rc);
	const struct rec *a[16], *b[16];
	size_t na = 0, nb = 0;
	for (size_t i = 0; i < rc.n && !streq(rec_get(&rc.r[i], "ACTION"), "add"); i++) {
		const char *dp = rec_get(&rc.r[i], "DEVPATH");
		if (strstr(dp, "0000:00:04.0") || strstr(dp, "254:0") || strstr(dp, "wakeup4"))
			a[na++] = &rc.r[i];
		else
			b[nb++] = &rc.r[i];
	}
	assert_int_equal(na, 7);
	assert_int_equal(nb, 8);
	struct vio *v = new_vio(tree("qemu-pc-mixed"), "6.1.0-56-amd64", &s);
	uint64_t now = 1000000;
	/* net first, then alternate */
	for (size_t i = 0, j = 0; i < na || j < nb;) {
		if (j < nb)
			feed(v, b[j++], now += 100);
		if (i < na)
			feed(v, a[i++], now += 100);
	}
	assert_int_equal(vio_tick(v, now + 5000000), 0);
	assert_int_equal(s.n, 2);
	/* the blk sequence is shorter: it completes first */
	check_removed(s.ev[0], "vda", "0000:00:04.0", "blk", "1af4:1001");
	check_removed(s.ev[1], "eth0", "0000:00:07.0", "net", "1af4:1000");
	sink_clear(&s);
	vio_free(v);
	free(rc.text);
}

/* A driver unbind (block remove + virtio unbind, no device removal) is no
 * removal; a virtio remove without the PCI function going (virtio-pci
 * unbound) is one, after the settle time. */
static void test_partial_sequences(void **state)
{
	struct sink s = { 0 };
	struct vio *v = new_vio(tree("qemu-pc-mixed"), "6.1.0-56-amd64", &s);
	struct vio_uevent u1 = { "remove", "/devices/pci0000:00/0000:00:05.0/virtio1/block/vdb", "block", "disk", NULL };
	struct vio_uevent u2 = { "unbind", "/devices/pci0000:00/0000:00:05.0/virtio1", "virtio", NULL, NULL };
	assert_int_equal(vio_handle_uevent(v, &u1, 100), 0);
	assert_int_equal(vio_handle_uevent(v, &u2, 200), 0);
	assert_int_equal(vio_tick(v, 200 + 2000000), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(v->n_devs, 5);

	struct vio_uevent u3 = { "remove", "/devices/pci0000:00/0000:00:06.0/virtio2", "virtio", NULL, NULL };
	assert_int_equal(vio_handle_uevent(v, &u3, 3000000), 0);
	assert_int_equal(vio_tick(v, 3500000), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(vio_tick(v, 4000000), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(ev_str(s.ev[0], "device.name"), "vdc");
	assert_string_equal(ev_str(s.ev[0], "device.virtio_mode"), "modern");
	assert_string_equal(ev_str(s.ev[0], "device.pci_kind"), "modern-only");
	assert_int_equal(v->n_devs, 4);
	/* unrelated devices' events are ignored */
	struct vio_uevent u4 = { "remove", "/devices/virtual/net/veth0", "net", NULL, NULL };
	assert_int_equal(vio_handle_uevent(v, &u4, 5000000), 0);
	assert_int_equal(vio_tick(v, 9000000), 0);
	assert_int_equal(s.n, 1);
	sink_clear(&s);
	vio_free(v);
}

/* ---------------------------------------------------------------- risks */

static void load_shipped_risks(struct vio *v)
{
	char err[256];
	assert_int_equal(vio_load_risks(v, VIGIL_SOURCE_DIR "/conf/signatures/virtio-risks.risk", err, sizeof(err)), 0);
	assert_int_equal(v->n_risks, 1);
}

static void test_risk_ranges(void **state)
{
	struct sink s = { 0 };
	struct vio *v = new_vio(tree("host-fc-modern"), NULL, &s);
	load_shipped_risks(v);
	const struct vio_risk *k = &v->risks[0];
	assert_string_equal(k->id, "virtio-pci-is-avq-null");
	assert_true(vio_risk_affects_kernel(k, "6.8.0-31-generic"));
	assert_true(vio_risk_affects_kernel(k, "6.8.12"));
	assert_true(vio_risk_affects_kernel(k, "6.9.8-200.fc40.x86_64"));
	assert_false(vio_risk_affects_kernel(k, "6.9.9"));
	assert_false(vio_risk_affects_kernel(k, "6.10.0"));
	assert_false(vio_risk_affects_kernel(k, "6.7.12"));
	assert_false(vio_risk_affects_kernel(k, "6.1.0-56-amd64"));
	assert_false(vio_risk_affects_kernel(k, "5.14.0-427.el9.x86_64"));
	assert_false(vio_risk_affects_kernel(k, "garbage"));
	/* bad files are refused with the line */
	unsigned line = 0;
	assert_int_equal(vio_risks_parse(v, "[risk x]\ntitle = t\nkernel = 6.9 6.8\n", &line), -EINVAL);
	assert_int_equal(line, 3);
	assert_int_equal(vio_risks_parse(v, "[risk x]\ntitle = t\nbogus = 1\n", &line), -EINVAL);
	assert_int_equal(vio_risks_parse(v, "[risk x]\ntitle = t\nkernel = 6.1 6.2\nexclude = 6.1.5*\n", &line), 0);
	assert_false(vio_risk_affects_kernel(&v->risks[0], "6.1.5-1"));
	assert_true(vio_risk_affects_kernel(&v->risks[0], "6.1.4"));
	vio_free(v);
}

static void test_risk_event(void **state)
{
	struct sink s = { 0 };
	/* modern-only host: no advisory even on an affected kernel */
	struct vio *v = new_vio(tree("host-fc-modern"), "6.8.0-31-generic", &s);
	load_shipped_risks(v);
	assert_int_equal(vio_risk_evaluate(v, true), 0);
	assert_int_equal(s.n, 0);
	vio_free(v);

	/* the QEMU guest's two legacy devices on an affected kernel */
	v = new_vio(tree("qemu-pc-mixed"), "6.8.0-31-generic", &s);
	load_shipped_risks(v);
	assert_int_equal(vio_risk_evaluate(v, true), 0);
	assert_int_equal(s.n, 1);
	struct vigil_event *ev = s.ev[0];
	assert_string_equal(vigil_event_kind(ev), "virtio_legacy_risk");
	assert_int_equal(vigil_event_severity(ev), VIGIL_SEV_WARNING);
	assert_int_equal(vigil_event_get_int(ev, "device_count", -1), 2);
	assert_string_equal(ev_str(ev, "known_issue.id"), "virtio-pci-is-avq-null");
	assert_non_null(strstr(ev_str(ev, "known_issue.fix"), "Check if is_avq is NULL"));
	assert_non_null(strstr(vigil_event_summary(ev), "vda"));
	assert_non_null(strstr(vigil_event_summary(ev), "eth0"));
	assert_null(strstr(vigil_event_summary(ev), "vdb")); /* transitional, runs modern */
	assert_int_equal(ev_bool(ev, "active"), 1);

	/* removing them carries the known issue and finally clears the risk */
	struct recording rc;
	load_recording(FIX "/uevents/qemu72-pc-6.1-unplug-legacy-blk-net-replug.uevents", &rc);
	uint64_t now = 1;
	for (size_t i = 0; i < rc.n && !streq(rec_get(&rc.r[i], "ACTION"), "add"); i++)
		feed(v, &rc.r[i], now += 1000);
	assert_int_equal(s.n, 5);
	assert_string_equal(vigil_event_kind(s.ev[1]), "virtio_removed");
	assert_string_equal(ev_str(s.ev[1], "known_issue.id"), "virtio-pci-is-avq-null");
	assert_string_equal(vigil_event_kind(s.ev[2]), "virtio_legacy_risk"); /* one device left */
	assert_int_equal(vigil_event_get_int(s.ev[2], "device_count", -1), 1);
	assert_int_equal(ev_bool(s.ev[2], "active"), 1);
	assert_string_equal(vigil_event_kind(s.ev[3]), "virtio_removed");
	/* after the last one: cleared */
	ev = s.ev[4];
	assert_string_equal(vigil_event_kind(ev), "virtio_legacy_risk");
	assert_int_equal(ev_bool(ev, "active"), 0);
	assert_int_equal(vigil_event_severity(ev), VIGIL_SEV_INFO);
	assert_int_equal(vio_risk_evaluate(v, false), 0); /* nothing new */
	assert_int_equal(s.n, 5);

	/* a legacy disk hot-added again raises the risk again */
	close(v->sysfd);
	v->sysfd = open(tree("qemu-pc-mixed-replugged"), O_PATH | O_DIRECTORY | O_CLOEXEC);
	size_t i = 0;
	while (i < rc.n && !streq(rec_get(&rc.r[i], "ACTION"), "add"))
		i++;
	for (; i < rc.n; i++)
		feed(v, &rc.r[i], now += 1000);
	assert_int_equal(vio_tick(v, now + 2000000), 0);
	assert_int_equal(s.n, 7);
	assert_string_equal(vigil_event_kind(s.ev[5]), "virtio_added");
	assert_string_equal(ev_str(s.ev[5], "device.name"), "vda");
	assert_string_equal(vigil_event_kind(s.ev[6]), "virtio_legacy_risk");
	assert_int_equal(ev_bool(s.ev[6], "active"), 1);
	assert_int_equal(vigil_event_get_int(s.ev[6], "device_count", -1), 1);
	sink_clear(&s);
	vio_free(v);
	free(rc.text);
}

/* ENOBUFS: a re-scan reports what changed while events were lost. */
static void test_resync(void **state)
{
	struct sink s = { 0 };
	struct vio *v = new_vio(tree("qemu-pc-mixed"), "6.1.0-56-amd64", &s);
	close(v->sysfd);
	v->sysfd = open(tree("qemu-pc-mixed-replugged"), O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(vio_resync(v), 0);
	/* eth0 (virtio3) is gone; virtio0 came back under the same path */
	assert_int_equal(s.n, 1);
	assert_string_equal(vigil_event_kind(s.ev[0]), "virtio_removed");
	assert_string_equal(ev_str(s.ev[0], "device.name"), "eth0");
	assert_int_equal(ev_bool(s.ev[0], "resync"), 1);
	assert_int_equal(v->n_devs, 4);
	sink_clear(&s);
	vio_free(v);
}

/* A pre-4.0 kernel prints 32 feature bits: no VERSION_1, legacy. */
static void test_old_kernel_features(void **state)
{
	char dir[] = "/tmp/test-virtio.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "cp -a %s/. %s/ && printf '%%s\\n' "
		 "00100010011001000000000000000100 > %s/devices/pci0000:00/0000:00:02.0/virtio1/features",
		 tree("host-fc-modern"), dir, dir);
	assert_int_equal(system(cmd), 0);
	struct sink s = { 0 };
	struct vio *v = new_vio(dir, NULL, &s);
	struct vio_dev *d = v->devs[1];
	assert_string_equal(d->vname, "virtio1");
	assert_int_equal(d->version1, 0);
	assert_string_equal(vio_dev_mode(d), "legacy");
	vio_free(v);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_path_normalize(void **state)
{
	char a[] = "/bus/virtio/devices/../../../devices/pci0000:00/0000:00:02.0/virtio1";
	vio_path_normalize(a);
	assert_string_equal(a, "/devices/pci0000:00/0000:00:02.0/virtio1");
	char b[] = "/a/./b//c/..";
	vio_path_normalize(b);
	assert_string_equal(b, "/a/b");
	_cleanup_free_ char *p = vio_virtio_prefix("/devices/pci0000:00/0000:00:04.0/virtio12/block/vda");
	assert_string_equal(p, "/devices/pci0000:00/0000:00:04.0/virtio12");
	assert_null(vio_virtio_prefix("/devices/virtual/net/virtiofoo"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_normalize),
		cmocka_unit_test(test_inventory_host),
		cmocka_unit_test(test_inventory_qemu_mixed),
		cmocka_unit_test(test_replay_sequential),
		cmocka_unit_test(test_replay_interleaved),
		cmocka_unit_test(test_partial_sequences),
		cmocka_unit_test(test_risk_ranges),
		cmocka_unit_test(test_risk_event),
		cmocka_unit_test(test_resync),
		cmocka_unit_test(test_old_kernel_features),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	trees_cleanup();
	return r;
}
