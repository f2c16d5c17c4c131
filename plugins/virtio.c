/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * virtio monitor: keeps an inventory of every virtio device (type, PCI
 * function, legacy or modern interface, driver, the block/net names it backs)
 * taken from sysfs at start, watches uevents of the virtio, pci, block and net
 * subsystems, and folds the remove (add) sequence of one device into exactly
 * one virtio_removed (virtio_added) event carrying the inventory data -- by
 * the time the PCI function is gone, sysfs has nothing left to read. At start
 * it also warns (virtio_legacy_risk) when legacy devices sit on a kernel that
 * a data file lists as affected by a hot-unplug bug (the virtio-pci is_avq
 * NULL dereference). Works with udevd (the "udev" netlink group) and without
 * it (the "kernel" group, as in initramfs and minimal guests, where no ID_*
 * properties exist: nothing here depends on them).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <libudev.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "util.h"
#include "vigil/plugin.h"

#define VIO_MAX_DEVICES 512     /* bound on the inventory */
#define VIO_MAX_NAMES 8         /* block/net names kept per device */
#define VIO_MAX_PENDING_ADDS 64
#define VIO_MAX_RISKS 16
#define VIO_MAX_RANGES 8
#define VIO_RISK_FILE_MAX (64 * 1024)

/* Removal stages, in the order the kernel sends them. */
enum {
	VIO_ST_CHILD_REMOVE = 1u << 0, /* block/net (and its queues) */
	VIO_ST_VIRTIO_UNBIND = 1u << 1,
	VIO_ST_VIRTIO_REMOVE = 1u << 2,
	VIO_ST_PCI_UNBIND = 1u << 3,
	VIO_ST_PCI_REMOVE = 1u << 4,
};

static const char *const vio_stage_names[] = {
	"child_remove", "virtio_unbind", "virtio_remove", "pci_unbind", "pci_remove",
};

struct vio_dev {
	char *vname;      /* virtio0 */
	char *devpath;    /* /devices/pci0000:00/0000:00:02.0/virtio0 (sysfs-relative) */
	unsigned type_id; /* VIRTIO_ID_* */
	int version1;     /* VIRTIO_F_VERSION_1 negotiated: 1, 0, -1 unknown */
	char *driver;     /* virtio_blk, NULL when unbound */
	char *names[VIO_MAX_NAMES];
	char *name_subsys[VIO_MAX_NAMES]; /* "block" / "net" */
	size_t n_names;
	/* PCI function (NULL/0 for virtio-mmio, ccw, ...) */
	char *pci_bdf;
	char *pci_devpath;
	char *pci_driver;
	unsigned pci_vendor, pci_device, pci_revision;
	int vendor_caps; /* virtio vendor capabilities (id 0x09); -1 unknown */

	/* correlation state */
	unsigned stages;
	uint64_t deadline; /* usec, CLOCK_MONOTONIC; 0 = none */
	bool rescan;       /* re-read from sysfs at the deadline (driver rebind) */
};

struct vio_pending_add {
	char *devpath;
	uint64_t deadline;
	unsigned tries;
};

/* One risk from the data file. */
struct vio_range {
	unsigned lo[3], hi[3]; /* [lo, hi) */
};
struct vio_risk {
	char *id, *title, *fix, *advice, *source;
	char *modes; /* "legacy" */
	struct vio_range ranges[VIO_MAX_RANGES];
	size_t n_ranges;
	char *exclude[VIO_MAX_RANGES]; /* release globs known to carry the fix */
	size_t n_exclude;
};

/* One uevent, as far as the correlator needs it (borrowed strings). */
struct vio_uevent {
	const char *action, *devpath, *subsystem, *devtype, *driver;
};

typedef int (*vio_emit_fn)(void *userdata, struct vigil_event *ev);

struct vio {
	struct vigil_ctx *ctx;
	char *sys_root;
	int sysfd;
	uint64_t settle_usec;
	bool risk_enabled;
	char *risk_file;
	char *kernel;

	struct vio_dev **devs;
	size_t n_devs;
	struct vio_pending_add adds[VIO_MAX_PENDING_ADDS];
	size_t n_adds;

	struct vio_risk risks[VIO_MAX_RISKS];
	size_t n_risks;
	const struct vio_risk *active_risk; /* risk raised for the present devices */
	size_t risk_devices;

	vio_emit_fn emit;
	void *emit_data;

	/* live sources */
	struct udev *udev;
	struct udev_monitor *mon;
	sd_event_source *io_source, *timer_source;
	const char *source_name;

	/* counters */
	uint64_t n_uevents, n_removed, n_added, n_overflows, n_rescans, n_emit_failed;
};

/* ------------------------------------------------------------------ helpers */

static const char *vio_type_name(unsigned id)
{
	switch (id) {
	case 1: return "net";
	case 2: return "blk";
	case 3: return "console";
	case 4: return "rng";
	case 5: return "balloon";
	case 6: return "iomem";
	case 7: return "rpmsg";
	case 8: return "scsi";
	case 9: return "9p";
	case 10: return "mac80211_wlan";
	case 11: return "rproc_serial";
	case 12: return "caif";
	case 13: return "memory_balloon";
	case 16: return "gpu";
	case 17: return "clock";
	case 18: return "input";
	case 19: return "vsock";
	case 20: return "crypto";
	case 21: return "signal_dist";
	case 22: return "pstore";
	case 23: return "iommu";
	case 24: return "mem";
	case 25: return "sound";
	case 26: return "fs";
	case 27: return "pmem";
	case 28: return "rpmb";
	case 29: return "mac80211_hwsim";
	case 30: return "video_encoder";
	case 31: return "video_decoder";
	case 32: return "scmi";
	case 33: return "nitro_sec_mod";
	case 34: return "i2c_adapter";
	case 35: return "watchdog";
	case 36: return "can";
	case 38: return "param_serv";
	case 39: return "audio_policy";
	case 40: return "bt";
	case 41: return "gpio";
	default: return "unknown";
	}
}

static void vio_dev_free(struct vio_dev *d)
{
	if (!d)
		return;
	free(d->vname);
	free(d->devpath);
	free(d->driver);
	for (size_t i = 0; i < d->n_names; i++) {
		free(d->names[i]);
		free(d->name_subsys[i]);
	}
	free(d->pci_bdf);
	free(d->pci_devpath);
	free(d->pci_driver);
	free(d);
}

static void vio_dev_freep(struct vio_dev **d)
{
	vio_dev_free(*d);
}

/* Collapse "a/b/../c" and "./" in a '/'-separated path, in place. */
static void vio_path_normalize(char *p)
{
	char *out = p, *s = p;
	bool abs = *p == '/';

	if (abs)
		out++, s++;
	char *start = out;
	while (*s) {
		char *e = strchrnul(s, '/');
		size_t l = (size_t)(e - s);
		if (l == 0 || (l == 1 && s[0] == '.')) {
			/* skip */
		} else if (l == 2 && s[0] == '.' && s[1] == '.') {
			if (out > start) {
				out--; /* drop the '/' we wrote */
				while (out > start && out[-1] != '/')
					out--;
			}
		} else {
			if (out > start && out[-1] != '/')
				*out++ = '/';
			memmove(out, s, l);
			out += l;
		}
		s = *e ? e + 1 : e;
	}
	if (out > start && out[-1] == '/')
		out--;
	*out = '\0';
}

/* The sysfs-relative path ("/devices/...") a link at `dir/name` points to. */
static int vio_resolve_link(int sysfd, const char *dir, const char *name, char **ret)
{
	char rel[PATH_MAX], target[PATH_MAX];
	int n = snprintf(rel, sizeof(rel), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(rel))
		return -ENAMETOOLONG;
	ssize_t l = readlinkat(sysfd, rel, target, sizeof(target) - 1);
	if (l < 0)
		return negative_errno();
	target[l] = '\0';
	char *full;
	if (target[0] == '/') {
		full = strdup(target);
	} else if (asprintf(&full, "/%s/%s", dir, target) < 0)
		full = NULL;
	if (!full)
		return -ENOMEM;
	vio_path_normalize(full);
	*ret = full;
	return 0;
}

static const char *vio_basename(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

/* Read a sysfs attribute below devpath into a stripped string. */
static int vio_read_attr(int sysfd, const char *devpath, const char *attr, char **ret)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", devpath + (devpath[0] == '/'), attr);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	_cleanup_free_ char *buf = NULL;
	int r = vigil_read_file(sysfd, path, 4096, &buf, NULL);
	if (r < 0)
		return r;
	vigil_strstrip(buf);
	*ret = TAKE_PTR(buf);
	return 0;
}

static int vio_read_hex(int sysfd, const char *devpath, const char *attr, unsigned *ret)
{
	_cleanup_free_ char *s = NULL;
	int r = vio_read_attr(sysfd, devpath, attr, &s);
	if (r < 0)
		return r;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 16);
	if (errno || end == s || v > UINT_MAX)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

/* basename of the `driver` link of devpath, or NULL when unbound. */
static char *vio_read_driver(int sysfd, const char *devpath)
{
	_cleanup_free_ char *t = NULL;
	if (vio_resolve_link(sysfd, devpath + (devpath[0] == '/'), "driver", &t) < 0)
		return NULL;
	return strdup(vio_basename(t));
}

static bool vio_is_bdf(const char *s)
{
	/* dddd:bb:dd.f */
	unsigned a, b, c, d;
	char tail;
	return sscanf(s, "%4x:%2x:%2x.%1x%c", &a, &b, &c, &d, &tail) == 4 && strlen(s) == 12;
}

/* Count the virtio vendor-specific capabilities (cap id 0x09) in PCI config
 * space: 0 on a legacy-only device, 5 on a transitional or modern one. Needs
 * more than the first 64 bytes (root); -1 when it cannot be told. */
static int vio_count_vendor_caps(int sysfd, const char *pci_devpath)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/config", pci_devpath + 1);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -1;
	_cleanup_close_ int fd = openat(sysfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	uint8_t cfg[256];
	ssize_t l = pread(fd, cfg, sizeof(cfg), 0);
	if (l < 0x40 + 2)
		return -1;
	if (!(cfg[0x06] & 0x10)) /* status: capability list present */
		return 0;
	unsigned ptr = cfg[0x34] & 0xfc;
	int count = 0;
	for (unsigned guard = 0; ptr >= 0x40 && ptr + 1 < (unsigned)l && guard < 48; guard++) {
		if (cfg[ptr] == 0x09)
			count++;
		ptr = cfg[ptr + 1] & 0xfc;
	}
	if (ptr != 0) /* list continues past what we could read */
		return -1;
	return count;
}

/* Names of the block/net devices a virtio device backs. */
static void vio_read_children(int sysfd, struct vio_dev *d)
{
	static const char *const subs[] = { "block", "net" };
	for (size_t s = 0; s < ELEMENTSOF(subs); s++) {
		char path[PATH_MAX];
		int n = snprintf(path, sizeof(path), "%s/%s", d->devpath + 1, subs[s]);
		if (n < 0 || (size_t)n >= sizeof(path))
			continue;
		int fd = openat(sysfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			continue;
		DIR *dir = fdopendir(fd);
		if (!dir) {
			close(fd);
			continue;
		}
		/* sorted insert keeps the names stable across scans */
		struct dirent *de;
		while ((de = readdir(dir)) && d->n_names < VIO_MAX_NAMES) {
			if (de->d_name[0] == '.')
				continue;
			char *nm = strdup(de->d_name), *sb = strdup(subs[s]);
			if (!nm || !sb) {
				free(nm);
				free(sb);
				break;
			}
			size_t i = d->n_names;
			while (i > 0 && streq(d->name_subsys[i - 1], sb) && strcmp(d->names[i - 1], nm) > 0) {
				d->names[i] = d->names[i - 1];
				d->name_subsys[i] = d->name_subsys[i - 1];
				i--;
			}
			d->names[i] = nm;
			d->name_subsys[i] = sb;
			d->n_names++;
		}
		closedir(dir);
	}
}

/* Read one virtio device from sysfs. devpath is sysfs-relative ("/devices/…"). */
static int vio_dev_read(int sysfd, const char *devpath, struct vio_dev **ret)
{
	_cleanup_(vio_dev_freep) struct vio_dev *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->devpath = strdup(devpath);
	d->vname = strdup(vio_basename(devpath));
	if (!d->devpath || !d->vname)
		return -ENOMEM;
	d->version1 = -1;
	d->vendor_caps = -1;

	int r = vio_read_hex(sysfd, devpath, "device", &d->type_id);
	if (r < 0)
		return r; /* not a (live) virtio device */

	_cleanup_free_ char *features = NULL;
	if (vio_read_attr(sysfd, devpath, "features", &features) >= 0) {
		size_t fl = strlen(features);
		if (fl > 32)
			d->version1 = features[32] == '1';
		else if (fl == 32) /* kernels before 4.0: 32 feature bits, legacy only */
			d->version1 = 0;
	}
	d->driver = vio_read_driver(sysfd, devpath);
	vio_read_children(sysfd, d);

	/* the parent: a PCI function for virtio-pci */
	_cleanup_free_ char *parent = strdup(devpath);
	if (!parent)
		return -ENOMEM;
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		const char *bdf = vio_basename(parent);
		unsigned vendor;
		if (vio_is_bdf(bdf) && vio_read_hex(sysfd, parent, "vendor", &vendor) >= 0) {
			d->pci_vendor = vendor;
			(void)vio_read_hex(sysfd, parent, "device", &d->pci_device);
			(void)vio_read_hex(sysfd, parent, "revision", &d->pci_revision);
			d->pci_bdf = strdup(bdf);
			d->pci_devpath = strdup(parent);
			if (!d->pci_bdf || !d->pci_devpath)
				return -ENOMEM;
			d->pci_driver = vio_read_driver(sysfd, parent);
			d->vendor_caps = vio_count_vendor_caps(sysfd, parent);
		}
	}
	*ret = TAKE_PTR(d);
	return 0;
}

/* Interface in use: "modern" (VERSION_1 negotiated), "legacy", or "unknown". */
static const char *vio_dev_mode(const struct vio_dev *d)
{
	if (d->version1 == 1)
		return "modern";
	if (d->version1 == 0 && d->driver)
		return "legacy";
	/* unbound: the negotiated features are stale; tell from the PCI id */
	if (d->pci_bdf && d->pci_device >= 0x1040)
		return "modern";
	if (d->version1 == 0)
		return "legacy";
	return "unknown";
}

/* What the PCI function can do: modern-only (id >= 0x1040), transitional
 * (0x1000-0x103f with virtio capabilities), legacy-only (no capabilities). */
static const char *vio_dev_pci_kind(const struct vio_dev *d)
{
	if (!d->pci_bdf)
		return NULL;
	if (d->pci_device >= 0x1040 && d->pci_device <= 0x107f)
		return "modern-only";
	if (d->pci_device >= 0x1000 && d->pci_device <= 0x103f) {
		if (d->version1 == 1 || d->vendor_caps > 0)
			return "transitional";
		if (d->vendor_caps == 0)
			return "legacy-only";
		return "legacy-or-transitional";
	}
	return "unknown";
}

static bool vio_dev_is_legacy(const struct vio_dev *d)
{
	return streq(vio_dev_mode(d), "legacy");
}

/* The DESIGN §5 `device` object. */
static json_object *vio_dev_to_json(const struct vio_dev *d)
{
	json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	const char *subsys = d->n_names > 0 ? d->name_subsys[0] : "virtio";
	const char *name = d->n_names > 0 ? d->names[0] : d->vname;
	char pci_id[16], buf[PATH_MAX + 8];

	json_object_object_add(o, "subsystem", json_object_new_string(subsys));
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "virtio_type", json_object_new_string(vio_type_name(d->type_id)));
	json_object_object_add(o, "virtio_id", json_object_new_int((int)d->type_id));
	json_object_object_add(o, "virtio_mode", json_object_new_string(vio_dev_mode(d)));
	json_object_object_add(o, "legacy", json_object_new_boolean(vio_dev_is_legacy(d)));
	json_object_object_add(o, "virtio_name", json_object_new_string(d->vname));
	json_object_object_add(o, "pci_bdf", d->pci_bdf ? json_object_new_string(d->pci_bdf) : NULL);
	if (d->pci_bdf) {
		snprintf(pci_id, sizeof(pci_id), "%04x:%04x", d->pci_vendor, d->pci_device);
		json_object_object_add(o, "pci_id", json_object_new_string(pci_id));
		json_object_object_add(o, "pci_kind", json_object_new_string(vio_dev_pci_kind(d)));
		json_object_object_add(o, "pci_revision", json_object_new_int((int)d->pci_revision));
		json_object_object_add(o, "pci_driver",
				       d->pci_driver ? json_object_new_string(d->pci_driver) : NULL);
		if (d->vendor_caps >= 0)
			json_object_object_add(o, "virtio_pci_caps", json_object_new_int(d->vendor_caps));
	} else
		json_object_object_add(o, "pci_id", NULL);
	json_object_object_add(o, "driver", d->driver ? json_object_new_string(d->driver) : NULL);
	snprintf(buf, sizeof(buf), "/sys%s", d->devpath);
	json_object_object_add(o, "syspath", json_object_new_string(buf));
	json_object *names = json_object_new_array();
	for (size_t i = 0; i < d->n_names; i++)
		json_object_array_add(names, json_object_new_string(d->names[i]));
	json_object_object_add(o, "names", names);
	return o;
}

/* "vda (virtio-blk 0000:00:04.0 1af4:1001 legacy)" */
static void vio_dev_describe(const struct vio_dev *d, char *buf, size_t size)
{
	char pci[40] = "";
	if (d->pci_bdf)
		snprintf(pci, sizeof(pci), " %s %04x:%04x", d->pci_bdf, d->pci_vendor, d->pci_device);
	snprintf(buf, size, "%s (virtio-%s%s %s)", d->n_names ? d->names[0] : d->vname,
		 vio_type_name(d->type_id), pci, vio_dev_mode(d));
}

/* ------------------------------------------------------------------ inventory */

static void vio_inventory_clear(struct vio_dev ***devs, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		vio_dev_free((*devs)[i]);
	free(*devs);
	*devs = NULL;
	*n = 0;
}

static int vio_dev_cmp(const void *a, const void *b)
{
	const struct vio_dev *x = *(struct vio_dev *const *)a, *y = *(struct vio_dev *const *)b;
	/* virtio10 after virtio9 */
	size_t lx = strlen(x->vname), ly = strlen(y->vname);
	return lx != ly ? (lx < ly ? -1 : 1) : strcmp(x->vname, y->vname);
}

/* Scan /sys/bus/virtio/devices. Unreadable entries are skipped. */
static int vio_inventory_scan(int sysfd, struct vio_dev ***ret, size_t *ret_n)
{
	int fd = openat(sysfd, "bus/virtio/devices", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT) { /* no virtio bus: nothing to watch */
			*ret = NULL;
			*ret_n = 0;
			return 0;
		}
		return negative_errno();
	}
	DIR *dir = fdopendir(fd);
	if (!dir) {
		int r = negative_errno();
		close(fd);
		return r;
	}
	struct vio_dev **devs = NULL;
	size_t n = 0;
	int r = 0;
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		if (n >= VIO_MAX_DEVICES)
			break;
		_cleanup_free_ char *devpath = NULL;
		if (vio_resolve_link(sysfd, "bus/virtio/devices", de->d_name, &devpath) < 0)
			continue;
		struct vio_dev *d;
		if (vio_dev_read(sysfd, devpath, &d) < 0)
			continue;
		struct vio_dev **nd = realloc(devs, (n + 1) * sizeof(*devs));
		if (!nd) {
			vio_dev_free(d);
			r = -ENOMEM;
			break;
		}
		devs = nd;
		devs[n++] = d;
	}
	closedir(dir);
	if (r < 0) {
		vio_inventory_clear(&devs, &n);
		return r;
	}
	if (n > 1)
		qsort(devs, n, sizeof(*devs), vio_dev_cmp);
	*ret = devs;
	*ret_n = n;
	return 0;
}

static int vio_inventory_add(struct vio *v, struct vio_dev *d)
{
	if (v->n_devs >= VIO_MAX_DEVICES)
		return -E2BIG;
	struct vio_dev **nd = realloc(v->devs, (v->n_devs + 1) * sizeof(*nd));
	if (!nd)
		return -ENOMEM;
	v->devs = nd;
	v->devs[v->n_devs++] = d;
	return 0;
}

static void vio_inventory_remove_at(struct vio *v, size_t i)
{
	vio_dev_free(v->devs[i]);
	memmove(&v->devs[i], &v->devs[i + 1], (v->n_devs - i - 1) * sizeof(*v->devs));
	v->n_devs--;
}

/* ------------------------------------------------------------------ risks */

/* "6.9.9" / "6.8" / "6.8.0-31-generic" -> {6, 9, 9}. */
static int vio_parse_version(const char *s, unsigned v[3])
{
	v[0] = v[1] = v[2] = 0;
	for (int i = 0; i < 3; i++) {
		if (!isdigit((unsigned char)*s))
			return i >= 2 ? 0 : -EINVAL;
		char *end;
		unsigned long x = strtoul(s, &end, 10);
		if (x > 100000)
			return -EINVAL;
		v[i] = (unsigned)x;
		s = end;
		if (*s != '.')
			return i >= 1 ? 0 : -EINVAL;
		s++;
	}
	return 0;
}

static int vio_vcmp(const unsigned a[3], const unsigned b[3])
{
	for (int i = 0; i < 3; i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return 0;
}

static void vio_risk_clear(struct vio_risk *k)
{
	free(k->id);
	free(k->title);
	free(k->fix);
	free(k->advice);
	free(k->source);
	free(k->modes);
	for (size_t i = 0; i < k->n_exclude; i++)
		free(k->exclude[i]);
	memset(k, 0, sizeof(*k));
}

static void vio_risks_clear(struct vio *v)
{
	for (size_t i = 0; i < v->n_risks; i++)
		vio_risk_clear(&v->risks[i]);
	v->n_risks = 0;
}

/* Parse the risk data file (format documented in the file itself):
 *   [risk ID]  title= fix= advice= source= modes=legacy
 *   kernel = FROM UNTIL   (affected: FROM <= release < UNTIL)
 *   exclude = GLOB        (releases known to carry the fix)
 * On error *ret_line is the offending line. */
static int vio_risks_parse(struct vio *v, const char *text, unsigned *ret_line)
{
	struct vio_risk *cur = NULL;
	unsigned lineno = 0;
	const char *p = text;

	vio_risks_clear(v);
	while (*p) {
		const char *e = strchrnul(p, '\n');
		char line[1024];
		size_t l = (size_t)(e - p);
		lineno++;
		if (l >= sizeof(line))
			goto bad;
		memcpy(line, p, l);
		line[l] = '\0';
		p = *e ? e + 1 : e;
		char *s = vigil_strstrip(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char id[128];
			if (sscanf(s, "[risk %127[^] ]]", id) != 1 || v->n_risks >= VIO_MAX_RISKS)
				goto bad;
			cur = &v->risks[v->n_risks++];
			cur->id = strdup(id);
			if (!cur->id)
				return -ENOMEM;
			continue;
		}
		char *eq = strchr(s, '=');
		if (!cur || !eq)
			goto bad;
		*eq = '\0';
		char *key = vigil_strstrip(s), *val = vigil_strstrip(eq + 1);
		char **dst = streq(key, "title")    ? &cur->title
			     : streq(key, "fix")    ? &cur->fix
			     : streq(key, "advice") ? &cur->advice
			     : streq(key, "source") ? &cur->source
			     : streq(key, "modes")  ? &cur->modes
						    : NULL;
		if (dst) {
			if (streq(key, "source") && *dst) { /* several sources: join */
				char *j;
				if (asprintf(&j, "%s; %s", *dst, val) < 0)
					return -ENOMEM;
				free(*dst);
				*dst = j;
				continue;
			}
			free(*dst);
			*dst = strdup(val);
			if (!*dst)
				return -ENOMEM;
		} else if (streq(key, "kernel")) {
			char a[64], b[64];
			if (cur->n_ranges >= VIO_MAX_RANGES || sscanf(val, "%63s %63s", a, b) != 2)
				goto bad;
			struct vio_range *rg = &cur->ranges[cur->n_ranges];
			if (vio_parse_version(a, rg->lo) < 0 || vio_parse_version(b, rg->hi) < 0 ||
			    vio_vcmp(rg->lo, rg->hi) >= 0)
				goto bad;
			cur->n_ranges++;
		} else if (streq(key, "exclude")) {
			if (cur->n_exclude >= VIO_MAX_RANGES)
				goto bad;
			cur->exclude[cur->n_exclude] = strdup(val);
			if (!cur->exclude[cur->n_exclude])
				return -ENOMEM;
			cur->n_exclude++;
		} else
			goto bad;
	}
	for (size_t i = 0; i < v->n_risks; i++)
		if (!v->risks[i].title || v->risks[i].n_ranges == 0) {
			*ret_line = 0;
			return -EINVAL;
		}
	return 0;
bad:
	*ret_line = lineno;
	vio_risks_clear(v);
	return -EINVAL;
}

static bool vio_risk_affects_kernel(const struct vio_risk *k, const char *release)
{
	unsigned rv[3];
	if (!release || vio_parse_version(release, rv) < 0)
		return false;
	for (size_t i = 0; i < k->n_exclude; i++)
		if (fnmatch(k->exclude[i], release, 0) == 0)
			return false;
	for (size_t i = 0; i < k->n_ranges; i++)
		if (vio_vcmp(rv, k->ranges[i].lo) >= 0 && vio_vcmp(rv, k->ranges[i].hi) < 0)
			return true;
	return false;
}

static bool vio_risk_affects_dev(const struct vio_risk *k, const struct vio_dev *d)
{
	/* the bug is in virtio-pci's legacy path */
	if (!d->pci_bdf)
		return false;
	const char *modes = k->modes ? k->modes : "legacy";
	return strstr(modes, vio_dev_mode(d)) != NULL;
}

/* The first risk affecting the running kernel (NULL: none). */
static const struct vio_risk *vio_kernel_risk(const struct vio *v)
{
	for (size_t i = 0; i < v->n_risks; i++)
		if (vio_risk_affects_kernel(&v->risks[i], v->kernel))
			return &v->risks[i];
	return NULL;
}

static json_object *vio_risk_known_issue(const struct vio_risk *k)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(k->id));
	json_object_object_add(o, "title", json_object_new_string(k->title));
	json_object_object_add(o, "fix", k->fix ? json_object_new_string(k->fix) : NULL);
	json_object_object_add(o, "advice", k->advice ? json_object_new_string(k->advice) : NULL);
	return o;
}

static int vio_emit(struct vio *v, struct vigil_event *ev)
{
	int r = v->emit(v->emit_data, ev);
	if (r < 0)
		v->n_emit_failed++;
	return r;
}

/* Raise (or clear, when no affected device is left) virtio_legacy_risk. */
static int vio_risk_evaluate(struct vio *v, bool force)
{
	const struct vio_risk *k = vio_kernel_risk(v);
	if (!v->risk_enabled || !k)
		return 0;
	size_t n = 0;
	json_object *arr = json_object_new_array();
	char names[512] = "";
	size_t off = 0;
	for (size_t i = 0; i < v->n_devs; i++) {
		if (!vio_risk_affects_dev(k, v->devs[i]))
			continue;
		n++;
		json_object_array_add(arr, vio_dev_to_json(v->devs[i]));
		char d[160];
		vio_dev_describe(v->devs[i], d, sizeof(d));
		if (off < sizeof(names)) {
			int w = snprintf(names + off, sizeof(names) - off, "%s%s", off ? ", " : "", d);
			if (w > 0)
				off += (size_t)w;
		}
	}
	bool was_active = v->active_risk != NULL;
	if ((n > 0) == was_active && n == v->risk_devices && !force) {
		json_object_put(arr);
		return 0;
	}
	if (n == 0 && !was_active) {
		json_object_put(arr);
		return 0;
	}
	v->risk_devices = n;
	v->active_risk = n > 0 ? k : NULL;

	struct vigil_event *ev = vigil_event_new("virtio_legacy_risk", n > 0 ? VIGIL_SEV_WARNING : VIGIL_SEV_INFO);
	if (!ev) {
		json_object_put(arr);
		return -ENOMEM;
	}
	char cond[192];
	snprintf(cond, sizeof(cond), "virtio_legacy_risk/%s", k->id);
	if (n > 0)
		vigil_event_set_summary(ev, "%zu legacy virtio device(s) on kernel %s exposed to %s: %s",
					n, v->kernel, k->title, names);
	else
		vigil_event_set_summary(ev, "no legacy virtio device left exposed to %s on kernel %s", k->title,
					v->kernel);
	vigil_event_set_str(ev, "condition", cond);
	vigil_event_set_bool(ev, "active", n > 0);
	vigil_event_set_json(ev, "devices", arr);
	vigil_event_set_int(ev, "device_count", (int64_t)n);
	vigil_event_set_str(ev, "kernel", v->kernel);
	vigil_event_set_json(ev, "known_issue", vio_risk_known_issue(k));
	if (k->source)
		vigil_event_set_str(ev, "reference", k->source);
	char dk[256];
	snprintf(dk, sizeof(dk), "virtio_legacy_risk/%s/%s/%zu", k->id, strempty(v->kernel), n);
	vigil_event_set_dedup_key(ev, dk);
	return vio_emit(v, ev);
}

/* ------------------------------------------------------------------ events */

static int vio_emit_device_event(struct vio *v, const struct vio_dev *d, bool removed, bool resync)
{
	struct vigil_event *ev =
		vigil_event_new(removed ? "virtio_removed" : "virtio_added", removed ? VIGIL_SEV_CRITICAL : VIGIL_SEV_INFO);
	if (!ev)
		return -ENOMEM;
	char desc[200], cond[160], dk[200];
	vio_dev_describe(d, desc, sizeof(desc));
	const char *id = d->pci_bdf ? d->pci_bdf : d->vname;
	const struct vio_risk *k = vio_kernel_risk(v);
	bool at_risk = v->risk_enabled && k && vio_risk_affects_dev(k, d);

	vigil_event_set_summary(ev, "virtio device %s %s%s%s", desc, removed ? "removed" : "added",
				resync ? " (found by re-scan)" : "",
				at_risk && removed ? "; legacy device on a kernel with the is_avq hot-unplug bug" : "");
	vigil_event_set_json(ev, "device", vio_dev_to_json(d));
	snprintf(cond, sizeof(cond), "virtio_device/%s", id);
	vigil_event_set_str(ev, "condition", cond);
	vigil_event_set_bool(ev, "active", removed);
	if (removed) {
		json_object *st = json_object_new_array();
		for (size_t i = 0; i < ELEMENTSOF(vio_stage_names); i++)
			if (d->stages & (1u << i))
				json_object_array_add(st, json_object_new_string(vio_stage_names[i]));
		vigil_event_set_json(ev, "stages", st);
	}
	if (resync)
		vigil_event_set_bool(ev, "resync", true);
	if (at_risk)
		vigil_event_set_json(ev, "known_issue", vio_risk_known_issue(k));
	snprintf(dk, sizeof(dk), "%s/%s/%s", removed ? "virtio_removed" : "virtio_added", id, d->vname);
	vigil_event_set_dedup_key(ev, dk);
	if (removed)
		v->n_removed++;
	else
		v->n_added++;
	return vio_emit(v, ev);
}

/* ------------------------------------------------------------------ correlation */

static ssize_t vio_find_by_devpath(const struct vio *v, const char *devpath)
{
	for (size_t i = 0; i < v->n_devs; i++)
		if (streq(v->devs[i]->devpath, devpath))
			return (ssize_t)i;
	return -1;
}

/* The inventory device a uevent belongs to, and which role it plays. */
enum vio_role { VIO_ROLE_NONE, VIO_ROLE_CHILD, VIO_ROLE_VIRTIO, VIO_ROLE_PCI };

static ssize_t vio_match(const struct vio *v, const char *devpath, enum vio_role *ret_role)
{
	size_t l = strlen(devpath);
	for (size_t i = 0; i < v->n_devs; i++) {
		const struct vio_dev *d = v->devs[i];
		size_t dl = strlen(d->devpath);
		if (l == dl && streq(devpath, d->devpath)) {
			*ret_role = VIO_ROLE_VIRTIO;
			return (ssize_t)i;
		}
		if (l > dl && strncmp(devpath, d->devpath, dl) == 0 && devpath[dl] == '/') {
			*ret_role = VIO_ROLE_CHILD;
			return (ssize_t)i;
		}
		if (d->pci_devpath && streq(devpath, d->pci_devpath)) {
			*ret_role = VIO_ROLE_PCI;
			return (ssize_t)i;
		}
	}
	*ret_role = VIO_ROLE_NONE;
	return -1;
}

/* The virtio device path inside devpath ("/devices/.../virtio3[/...]"). */
static char *vio_virtio_prefix(const char *devpath)
{
	const char *p = devpath;
	while ((p = strstr(p, "/virtio"))) {
		const char *q = p + 7;
		if (isdigit((unsigned char)*q)) {
			while (isdigit((unsigned char)*q))
				q++;
			if (*q == '\0' || *q == '/')
				return strndup(devpath, (size_t)(q - devpath));
		}
		p++;
	}
	return NULL;
}

static void vio_pending_add(struct vio *v, const char *devpath, uint64_t now)
{
	for (size_t i = 0; i < v->n_adds; i++)
		if (streq(v->adds[i].devpath, devpath)) {
			v->adds[i].deadline = now + v->settle_usec;
			return;
		}
	if (v->n_adds >= VIO_MAX_PENDING_ADDS)
		return;
	char *p = strdup(devpath);
	if (!p)
		return;
	v->adds[v->n_adds++] = (struct vio_pending_add){ .devpath = p, .deadline = now + v->settle_usec };
}

static void vio_pending_drop(struct vio *v, size_t i)
{
	free(v->adds[i].devpath);
	memmove(&v->adds[i], &v->adds[i + 1], (v->n_adds - i - 1) * sizeof(v->adds[0]));
	v->n_adds--;
}

static void vio_arm_timer(struct vio *v);

/* Feed one uevent. Emits virtio_removed at once when the PCI function goes;
 * everything else is settled by vio_tick(). */
static int vio_handle_uevent(struct vio *v, const struct vio_uevent *u, uint64_t now)
{
	if (!u->action || !u->devpath || !u->subsystem)
		return 0;
	v->n_uevents++;
	bool is_remove = streq(u->action, "remove"), is_unbind = streq(u->action, "unbind");
	bool is_add = streq(u->action, "add"), is_bind = streq(u->action, "bind");
	enum vio_role role;
	ssize_t i = vio_match(v, u->devpath, &role);

	if (is_remove || is_unbind) {
		if (i < 0)
			return 0;
		struct vio_dev *d = v->devs[i];
		unsigned st = 0;
		if (role == VIO_ROLE_CHILD && is_remove &&
		    (streq(u->subsystem, "block") || streq(u->subsystem, "net")))
			st = VIO_ST_CHILD_REMOVE;
		else if (role == VIO_ROLE_VIRTIO)
			st = is_remove ? VIO_ST_VIRTIO_REMOVE : VIO_ST_VIRTIO_UNBIND;
		else if (role == VIO_ROLE_PCI)
			st = is_remove ? VIO_ST_PCI_REMOVE : VIO_ST_PCI_UNBIND;
		if (!st)
			return 0;
		d->stages |= st;
		d->rescan = false;
		if (st == VIO_ST_PCI_REMOVE || (st == VIO_ST_VIRTIO_REMOVE && !d->pci_bdf)) {
			/* the device is gone for good: one event, now */
			int r = vio_emit_device_event(v, d, true, false);
			vio_inventory_remove_at(v, (size_t)i);
			(void)vio_risk_evaluate(v, false);
			vio_arm_timer(v);
			return r;
		}
		/* wait for the rest of the sequence (or settle without it) */
		d->deadline = now + v->settle_usec;
		vio_arm_timer(v);
		return 0;
	}

	if (is_add || is_bind || streq(u->action, "change") || streq(u->action, "move")) {
		if (i >= 0) {
			/* known device: a child (re)appears or a driver rebinds.
			 * Re-read it once things settle; no event. */
			struct vio_dev *d = v->devs[i];
			if (role == VIO_ROLE_PCI && is_add)
				return 0;
			d->rescan = true;
			d->deadline = now + v->settle_usec;
			vio_arm_timer(v);
			return 0;
		}
		if (!streq(u->subsystem, "virtio") && !streq(u->subsystem, "block") && !streq(u->subsystem, "net"))
			return 0; /* PCI add: the virtio add follows */
		_cleanup_free_ char *vp = vio_virtio_prefix(u->devpath);
		if (!vp)
			return 0;
		vio_pending_add(v, vp, now);
		vio_arm_timer(v);
	}
	return 0;
}

/* Settle what is due at `now`. */
static int vio_tick(struct vio *v, uint64_t now)
{
	int ret = 0;
	for (size_t i = 0; i < v->n_devs;) {
		struct vio_dev *d = v->devs[i];
		if (!d->deadline || d->deadline > now) {
			i++;
			continue;
		}
		d->deadline = 0;
		if (d->stages & VIO_ST_VIRTIO_REMOVE) {
			/* virtio device gone, PCI function stays (driver unbind
			 * of virtio-pci, or an event lost): still a removal */
			int r = vio_emit_device_event(v, d, true, false);
			if (r < 0 && ret == 0)
				ret = r;
			vio_inventory_remove_at(v, i);
			(void)vio_risk_evaluate(v, false);
			continue;
		}
		/* driver unbound/rebound, child removed/added: re-read */
		struct vio_dev *nd;
		if (vio_dev_read(v->sysfd, d->devpath, &nd) >= 0) {
			vio_dev_free(d);
			v->devs[i] = nd;
		} else
			d->stages = 0;
		i++;
	}
	for (size_t i = 0; i < v->n_adds;) {
		struct vio_pending_add *a = &v->adds[i];
		if (a->deadline > now) {
			i++;
			continue;
		}
		struct vio_dev *d;
		if (vio_find_by_devpath(v, a->devpath) >= 0 || vio_dev_read(v->sysfd, a->devpath, &d) < 0) {
			vio_pending_drop(v, i);
			continue;
		}
		if (!d->driver && a->tries < 3) { /* driver still probing */
			vio_dev_free(d);
			a->tries++;
			a->deadline = now + v->settle_usec;
			i++;
			continue;
		}
		vio_pending_drop(v, i);
		int r = vio_inventory_add(v, d);
		if (r < 0) {
			vio_dev_free(d);
			continue;
		}
		r = vio_emit_device_event(v, d, false, false);
		if (r < 0 && ret == 0)
			ret = r;
		(void)vio_risk_evaluate(v, false);
	}
	vio_arm_timer(v);
	return ret;
}

/* After a lost uevent (ENOBUFS): re-scan and report the difference. */
static int vio_resync(struct vio *v)
{
	struct vio_dev **fresh;
	size_t n;
	int r = vio_inventory_scan(v->sysfd, &fresh, &n);
	if (r < 0)
		return r;
	v->n_rescans++;
	for (size_t i = 0; i < v->n_devs; i++) {
		bool found = false;
		for (size_t j = 0; j < n && !found; j++)
			found = streq(v->devs[i]->devpath, fresh[j]->devpath);
		if (!found)
			(void)vio_emit_device_event(v, v->devs[i], true, true);
	}
	for (size_t j = 0; j < n; j++) {
		bool found = false;
		for (size_t i = 0; i < v->n_devs && !found; i++)
			found = streq(v->devs[i]->devpath, fresh[j]->devpath);
		if (!found)
			(void)vio_emit_device_event(v, fresh[j], false, true);
	}
	vio_inventory_clear(&v->devs, &v->n_devs);
	v->devs = fresh;
	v->n_devs = n;
	while (v->n_adds)
		vio_pending_drop(v, v->n_adds - 1);
	(void)vio_risk_evaluate(v, false);
	return 0;
}

/* ------------------------------------------------------------------ live sources */

static uint64_t vio_now(struct vio *v)
{
	return v->ctx ? vigil_now(v->ctx, CLOCK_MONOTONIC) : 0;
}

static void vio_arm_timer(struct vio *v)
{
	if (!v->timer_source)
		return;
	uint64_t next = UINT64_MAX;
	for (size_t i = 0; i < v->n_devs; i++)
		if (v->devs[i]->deadline && v->devs[i]->deadline < next)
			next = v->devs[i]->deadline;
	for (size_t i = 0; i < v->n_adds; i++)
		if (v->adds[i].deadline < next)
			next = v->adds[i].deadline;
	if (next == UINT64_MAX) {
		(void)sd_event_source_set_enabled(v->timer_source, SD_EVENT_OFF);
		return;
	}
	(void)sd_event_source_set_time(v->timer_source, next);
	(void)sd_event_source_set_enabled(v->timer_source, SD_EVENT_ONESHOT);
}

static int vio_on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct vio *v = userdata;
	int r = vio_tick(v, usec);
	if (r < 0)
		vigil_log_errno(v->ctx, LOG_WARNING, r, "emitting a device event failed, ignoring: %m");
	return 0;
}

static int vio_on_uevent(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct vio *v = userdata;
	/* drain: bounded per wakeup so one storm cannot starve the loop */
	for (int n = 0; n < 256; n++) {
		errno = 0;
		struct udev_device *dev = udev_monitor_receive_device(v->mon);
		if (!dev) {
			if (errno == ENOBUFS) {
				v->n_overflows++;
				vigil_log(v->ctx, LOG_WARNING, "uevent buffer overrun, re-scanning the virtio bus");
				int r = vio_resync(v);
				if (r < 0)
					vigil_log_errno(v->ctx, LOG_WARNING, r, "re-scan failed, ignoring: %m");
				continue;
			}
			break; /* EAGAIN (drained) or a message libudev dropped */
		}
		struct vio_uevent u = {
			.action = udev_device_get_action(dev),
			.devpath = udev_device_get_devpath(dev),
			.subsystem = udev_device_get_subsystem(dev),
			.devtype = udev_device_get_devtype(dev),
			.driver = udev_device_get_driver(dev),
		};
		(void)vio_handle_uevent(v, &u, vio_now(v));
		udev_device_unref(dev);
	}
	return 0;
}

static int vio_monitor_open(struct vio *v, int source)
{
	/* source: 0 auto, 1 udev, 2 kernel */
	const char *group = source == 1 ? "udev" : source == 2 ? "kernel" : NULL;
	if (!group)
		group = access("/run/udev/control", F_OK) == 0 ? "udev" : "kernel";
	v->udev = udev_new();
	if (!v->udev)
		return -ENOMEM;
	v->mon = udev_monitor_new_from_netlink(v->udev, group);
	if (!v->mon)
		return negative_errno();
	static const char *const subs[] = { "virtio", "pci", "block", "net" };
	for (size_t i = 0; i < ELEMENTSOF(subs); i++) {
		int r = udev_monitor_filter_add_match_subsystem_devtype(v->mon, subs[i], NULL);
		if (r < 0)
			return r;
	}
	/* a hot-unplug storm of many devices must not overflow */
	(void)udev_monitor_set_receive_buffer_size(v->mon, 4 * 1024 * 1024);
	int r = udev_monitor_enable_receiving(v->mon);
	if (r < 0)
		return r;
	v->source_name = group;
	r = sd_event_add_io(vigil_loop(v->ctx), &v->io_source, udev_monitor_get_fd(v->mon), EPOLLIN, vio_on_uevent, v);
	if (r < 0)
		return r;
	r = sd_event_add_time(vigil_loop(v->ctx), &v->timer_source, CLOCK_MONOTONIC, UINT64_MAX, 0, vio_on_timer, v);
	if (r < 0)
		return r;
	return sd_event_source_set_enabled(v->timer_source, SD_EVENT_OFF);
}

/* ------------------------------------------------------------------ plugin */

static const char *const vio_source_values[] = { "auto", "udev", "kernel", NULL };

static const struct vigil_config_key vio_keys[] = {
	{ "sys_root", VIGIL_CFG_PATH, "/sys", .help = "sysfs mount to read (tests point it at a captured tree)" },
	{ "source", VIGIL_CFG_ENUM, "auto", .enum_values = vio_source_values,
	  .help = "uevent source: udev (needs udevd), kernel (raw kernel uevents), auto (udev if /run/udev/control exists)" },
	{ "settle", VIGIL_CFG_DURATION, "1s", 10000, 60000000,
	  .help = "how long to wait for the rest of a device's add/remove uevent sequence" },
	{ "legacy_risk", VIGIL_CFG_BOOL, "yes", .help = "warn about legacy devices on kernels listed in the risk file" },
	{ "risk_file", VIGIL_CFG_PATH, NULL,
	  .help = "kernel ranges with virtio hot-unplug bugs (default: <data_dir>/signatures/virtio-risks.risk)" },
	{ "kernel_release", VIGIL_CFG_STRING, NULL, .help = "override the running kernel release (tests)" },
	{ NULL },
};

static void vio_free(struct vio *v)
{
	if (!v)
		return;
	sd_event_source_disable_unref(v->io_source);
	sd_event_source_disable_unref(v->timer_source);
	udev_monitor_unref(v->mon);
	udev_unref(v->udev);
	vio_inventory_clear(&v->devs, &v->n_devs);
	while (v->n_adds)
		vio_pending_drop(v, v->n_adds - 1);
	vio_risks_clear(v);
	if (v->sysfd >= 0)
		close(v->sysfd);
	free(v->sys_root);
	free(v->risk_file);
	free(v->kernel);
	free(v);
}

static int vio_emit_ctx(void *userdata, struct vigil_event *ev)
{
	return vigil_emit(userdata, ev);
}

/* Build the state shared by the plugin and the tests (no live sources). */
static int vio_new(const char *sys_root, uint64_t settle_usec, const char *kernel, vio_emit_fn emit, void *emit_data,
		   struct vio **ret)
{
	struct vio *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->sysfd = -1;
	v->settle_usec = settle_usec;
	v->emit = emit;
	v->emit_data = emit_data;
	v->risk_enabled = true;
	v->sys_root = strdup(sys_root);
	v->kernel = kernel ? strdup(kernel) : NULL;
	if (!v->sys_root || (kernel && !v->kernel)) {
		vio_free(v);
		return -ENOMEM;
	}
	v->sysfd = open(sys_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (v->sysfd < 0) {
		int r = negative_errno();
		vio_free(v);
		return r;
	}
	*ret = v;
	return 0;
}

static int vio_load_risks(struct vio *v, const char *path, char *err, size_t errsz)
{
	_cleanup_free_ char *text = NULL;
	int r = vigil_read_file(AT_FDCWD, path, VIO_RISK_FILE_MAX, &text, NULL);
	if (r < 0) {
		snprintf(err, errsz, "%s: cannot read", path);
		return r;
	}
	unsigned line = 0;
	r = vio_risks_parse(v, text, &line);
	if (r < 0)
		snprintf(err, errsz, "%s:%u: bad risk entry", path, line);
	return r;
}

static int vio_init(struct vigil_ctx *ctx, const struct vigil_section *sec, void **ret_data)
{
	const char *kernel = vigil_cfg_string(sec, "kernel_release");
	if (!kernel && vigil_host(ctx))
		kernel = vigil_host(ctx)->kernel;
	struct vio *v;
	int r = vio_new(vigil_cfg_string(sec, "sys_root"), vigil_cfg_duration(sec, "settle"), kernel, vio_emit_ctx, ctx,
			&v);
	if (r < 0)
		return vigil_log_errno(ctx, LOG_ERR, r, "cannot open %s: %m", vigil_cfg_string(sec, "sys_root"));
	v->ctx = ctx;
	v->risk_enabled = vigil_cfg_bool(sec, "legacy_risk");

	if (v->risk_enabled) {
		const char *rf = vigil_cfg_string(sec, "risk_file");
		_cleanup_free_ char *def = NULL;
		if (!rf && vigil_data_dir(ctx) && asprintf(&def, "%s/signatures/virtio-risks.risk", vigil_data_dir(ctx)) >= 0)
			rf = def;
		char err[PATH_MAX + 64];
		if (rf && vio_load_risks(v, rf, err, sizeof(err)) < 0) {
			/* an explicitly configured file must be right; the
			 * shipped one missing only disables the advisory */
			if (vigil_cfg_is_set(sec, "risk_file")) {
				vigil_log(ctx, LOG_ERR, "%s", err);
				vio_free(v);
				return -EINVAL;
			}
			vigil_log(ctx, LOG_WARNING, "%s, legacy risk advisory disabled", err);
		}
		v->risk_file = rf ? strdup(rf) : NULL;
	}

	/* monitor first, then scan: a device added in between is seen twice
	 * at worst (the add is dropped as already known), never missed */
	if (!vigil_replay_mode(ctx)) {
		r = vio_monitor_open(v, vigil_cfg_enum(sec, "source"));
		if (r < 0) {
			vigil_log_errno(ctx, LOG_ERR, r, "cannot open the uevent monitor: %m");
			vio_free(v);
			return r;
		}
	}
	r = vio_inventory_scan(v->sysfd, &v->devs, &v->n_devs);
	if (r < 0) {
		vigil_log_errno(ctx, LOG_ERR, r, "cannot scan the virtio bus: %m");
		vio_free(v);
		return r;
	}
	size_t legacy = 0;
	for (size_t i = 0; i < v->n_devs; i++) {
		char d[200];
		vio_dev_describe(v->devs[i], d, sizeof(d));
		legacy += vio_dev_is_legacy(v->devs[i]);
		vigil_log(ctx, LOG_INFO, "%s: %s, driver %s", v->devs[i]->vname, d, strempty(v->devs[i]->driver));
	}
	vigil_log(ctx, LOG_INFO, "%zu virtio device(s), %zu legacy, uevents from %s", v->n_devs, legacy,
		  strempty(v->source_name));
	if (!vigil_replay_mode(ctx))
		(void)vio_risk_evaluate(v, true);
	*ret_data = v;
	return 0;
}

static int vio_status(struct vigil_ctx *ctx, void *data, json_object *out)
{
	struct vio *v = data;
	json_object *inv = json_object_new_array();
	for (size_t i = 0; i < v->n_devs; i++)
		json_object_array_add(inv, vio_dev_to_json(v->devs[i]));
	json_object_object_add(out, "devices", inv);
	json_object_object_add(out, "source", v->source_name ? json_object_new_string(v->source_name) : NULL);
	json_object_object_add(out, "kernel", v->kernel ? json_object_new_string(v->kernel) : NULL);
	json_object_object_add(out, "risk_file", v->risk_file ? json_object_new_string(v->risk_file) : NULL);
	json_object_object_add(out, "legacy_risk",
			       v->active_risk ? json_object_new_string(v->active_risk->id) : NULL);
	json_object_object_add(out, "uevents", json_object_new_int64((int64_t)v->n_uevents));
	json_object_object_add(out, "removed", json_object_new_int64((int64_t)v->n_removed));
	json_object_object_add(out, "added", json_object_new_int64((int64_t)v->n_added));
	json_object_object_add(out, "overflows", json_object_new_int64((int64_t)v->n_overflows));
	json_object_object_add(out, "rescans", json_object_new_int64((int64_t)v->n_rescans));
	json_object_object_add(out, "pending", json_object_new_int64((int64_t)v->n_adds));
	return 0;
}

static void vio_fini(struct vigil_ctx *ctx, void *data)
{
	vio_free(data);
}

const struct vigil_plugin vigil_plugin = {
	.abi_version = VIGIL_PLUGIN_ABI_VERSION,
	.kind = VIGIL_PLUGIN_MONITOR,
	.name = "virtio",
	.description = "virtio device inventory (legacy/modern), hot-unplug/plug correlation, legacy risk advisory",
	.keys = vio_keys,
	.init = vio_init,
	.status = vio_status,
	.fini = vio_fini,
};
