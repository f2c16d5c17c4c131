/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * blkstall monitor: one timer samples /sys/block/<disk>/inflight and
 * /sys/block/<disk>/stat of virtio-blk disks (and disks matching configured
 * globs). Requests in flight with no completion progress for `stall_secs`
 * raise blk_stall; any completion (or an empty queue) clears it with
 * blk_resumed. On a virtio disk the same stall also raises
 * vhost_backend_lost: a dead vhost-user (or other host-side) backend is
 * invisible to the guest kernel except as I/O that never completes (the QEMU
 * lab measured inflight stuck at 34 with no dmesg line). Optionally a
 * virtio_net carrier that stays down is taken as the same kind of evidence.
 * The device itself is never opened or read: that would put the agent in D
 * state on the very disk it is watching. Cost: per tick one readdir of
 * /sys/block (and of /sys/class/net every 5th tick), two pread()s per
 * watched disk and one per virtio_net carrier, on fds kept open.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "util.h"
#include "vigil/plugin.h"

#define BS_MAX_DISKS 256
#define BS_MAX_NETS 64
#define BS_NAME_MAX 64
#define BS_MAX_IGNORED 16384 /* container hosts: thousands of veths */
#define BS_NET_DISCOVERY_TICKS 5 /* new links are looked for every 5th tick */

struct bs_dev_info {
	char syspath[PATH_MAX];
	char pci_bdf[16];    /* "" when none */
	char virtio_name[16]; /* "virtio1", "" when not virtio */
};

struct bs_ignored {
	bool net;
	ino_t ino;
	char name[BS_NAME_MAX];
};

struct bs_disk {
	char name[BS_NAME_MAX];
	ino_t ino;
	struct bs_dev_info info;
	bool virtio;
	int fd_inflight, fd_stat;
	bool seen;

	bool have_sample;
	uint64_t completions;
	unsigned infl_read, infl_write;
	uint64_t last_progress; /* usec */
	bool stalled;
	uint64_t stall_since;
};

struct bs_net {
	char name[IFNAMSIZ];
	ino_t ino;
	struct bs_dev_info info;
	int fd_carrier;
	bool seen;
	bool down;
	uint64_t down_since;
	bool lost;
};

typedef int (*bs_emit_fn)(void *userdata, struct vigil_event *ev);

struct bs {
	struct vigil_ctx *ctx;
	int sysfd;
	DIR *blockdir, *netdir;
	uint64_t interval, stall_usec, carrier_usec;
	bool watch_virtio, watch_carrier;
	char **globs;
	size_t n_globs;

	struct bs_disk *disks[BS_MAX_DISKS];
	size_t n_disks;
	struct bs_net *nets[BS_MAX_NETS];
	size_t n_nets;
	/* names looked at and not watched (not virtio, no glob match), sorted
	 * by (net, name); the sysfs inode tells a reused name apart */
	struct bs_ignored *ignored;
	size_t n_ignored;

	bs_emit_fn emit;
	void *emit_data;
	sd_event_source *timer;

	uint64_t n_ticks, n_stalls, n_lost, n_read_errors, n_emit_failed;
};

/* ------------------------------------------------------------------ sysfs */

static int bs_read_fd(int fd, char *buf, size_t size)
{
	ssize_t l = pread(fd, buf, size - 1, 0);
	if (l < 0)
		return negative_errno();
	buf[l] = '\0';
	return (int)l;
}

/* Parse the device path behind a /sys/block or /sys/class/net link:
 * ".../0000:00:02.0/virtio1/block/vda" -> bdf, virtio name. */
static void bs_parse_devpath(const char *target, struct bs_dev_info *info)
{
	memset(info, 0, sizeof(*info));
	const char *p = target;
	while (startswith(p, "../"))
		p += 3;
	snprintf(info->syspath, sizeof(info->syspath), "/sys/%s", p);
	const char *v = p;
	while ((v = strstr(v, "/virtio"))) {
		const char *q = v + 7;
		if (isdigit((unsigned char)*q)) {
			while (isdigit((unsigned char)*q))
				q++;
			if (*q == '/') {
				size_t l = (size_t)(q - v - 1);
				if (l < sizeof(info->virtio_name)) {
					memcpy(info->virtio_name, v + 1, l);
					info->virtio_name[l] = '\0';
				}
				/* the component before: a PCI function? */
				const char *b = v;
				while (b > p && b[-1] != '/')
					b--;
				size_t bl = (size_t)(v - b);
				if (bl == 12 && b[4] == ':' && b[7] == ':' && b[10] == '.') {
					memcpy(info->pci_bdf, b, bl);
					info->pci_bdf[bl] = '\0';
				}
				return;
			}
		}
		v++;
	}
}

static bool bs_glob_match(const struct bs *b, const char *name)
{
	for (size_t i = 0; i < b->n_globs; i++)
		if (fnmatch(b->globs[i], name, 0) == 0)
			return true;
	return false;
}

static int bs_ignored_cmp(bool net, const char *name, const struct bs_ignored *e)
{
	if (net != e->net)
		return net ? 1 : -1;
	return strcmp(name, e->name);
}

/* Binary search; *ret_pos is where the name is or would go. */
static bool bs_ignored_find(const struct bs *b, bool net, const char *name, size_t *ret_pos)
{
	size_t lo = 0, hi = b->n_ignored;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = bs_ignored_cmp(net, name, &b->ignored[mid]);
		if (c == 0) {
			*ret_pos = mid;
			return true;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*ret_pos = lo;
	return false;
}

/* Known as not ours, and still the same sysfs object? A different inode
 * under the same name is a new device: forget the old verdict. */
static bool bs_is_ignored(struct bs *b, bool net, const char *name, ino_t ino)
{
	size_t pos;
	if (!bs_ignored_find(b, net, name, &pos))
		return false;
	if (b->ignored[pos].ino == ino)
		return true;
	memmove(&b->ignored[pos], &b->ignored[pos + 1], (b->n_ignored - pos - 1) * sizeof(b->ignored[0]));
	b->n_ignored--;
	return false;
}

static void bs_ignore(struct bs *b, bool net, const char *name, ino_t ino)
{
	size_t pos;
	if (strlen(name) >= BS_NAME_MAX || b->n_ignored >= BS_MAX_IGNORED || bs_ignored_find(b, net, name, &pos))
		return;
	struct bs_ignored *n = realloc(b->ignored, (b->n_ignored + 1) * sizeof(*n));
	if (!n)
		return;
	b->ignored = n;
	memmove(&b->ignored[pos + 1], &b->ignored[pos], (b->n_ignored - pos) * sizeof(b->ignored[0]));
	b->ignored[pos].net = net;
	b->ignored[pos].ino = ino;
	vigil_strlcpy(b->ignored[pos].name, name, sizeof(b->ignored[pos].name));
	b->n_ignored++;
}

static void bs_disk_free(struct bs_disk *d)
{
	if (!d)
		return;
	if (d->fd_inflight >= 0)
		close(d->fd_inflight);
	if (d->fd_stat >= 0)
		close(d->fd_stat);
	free(d);
}

static void bs_net_free(struct bs_net *n)
{
	if (!n)
		return;
	if (n->fd_carrier >= 0)
		close(n->fd_carrier);
	free(n);
}

static int bs_open_attr(int sysfd, const char *dir, const char *name, const char *attr)
{
	char path[PATH_MAX];
	int l = snprintf(path, sizeof(path), "%s/%s/%s", dir, name, attr);
	if (l < 0 || (size_t)l >= sizeof(path))
		return -ENAMETOOLONG;
	int fd = openat(sysfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	return fd < 0 ? negative_errno() : fd;
}

static int bs_readlink(int sysfd, const char *dir, const char *name, char *buf, size_t size)
{
	char path[PATH_MAX];
	int l = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (l < 0 || (size_t)l >= sizeof(path))
		return -ENAMETOOLONG;
	ssize_t n = readlinkat(sysfd, path, buf, size - 1);
	if (n < 0)
		return negative_errno();
	buf[n] = '\0';
	return 0;
}

/* Start watching disk `name` if it is a virtio-blk disk or matches a glob. */
static void bs_consider_disk(struct bs *b, const char *name, ino_t ino)
{
	if (strlen(name) >= BS_NAME_MAX || b->n_disks >= BS_MAX_DISKS)
		return;
	char target[PATH_MAX];
	if (bs_readlink(b->sysfd, "block", name, target, sizeof(target)) < 0)
		return;
	struct bs_dev_info info;
	bs_parse_devpath(target, &info);
	bool virtio = info.virtio_name[0] != '\0';
	if (!(virtio && b->watch_virtio) && !bs_glob_match(b, name)) {
		bs_ignore(b, false, name, ino);
		return;
	}
	struct bs_disk *d = calloc(1, sizeof(*d));
	if (!d)
		return;
	d->fd_inflight = bs_open_attr(b->sysfd, "block", name, "inflight");
	d->fd_stat = bs_open_attr(b->sysfd, "block", name, "stat");
	if (d->fd_inflight < 0 || d->fd_stat < 0) {
		bs_disk_free(d);
		return;
	}
	vigil_strlcpy(d->name, name, sizeof(d->name));
	d->ino = ino;
	d->info = info;
	d->virtio = virtio;
	d->seen = true;
	b->disks[b->n_disks++] = d;
}

static void bs_consider_net(struct bs *b, const char *name, ino_t ino)
{
	if (strlen(name) >= IFNAMSIZ || b->n_nets >= BS_MAX_NETS)
		return;
	char target[PATH_MAX];
	if (bs_readlink(b->sysfd, "class/net", name, target, sizeof(target)) < 0)
		return;
	struct bs_dev_info info;
	bs_parse_devpath(target, &info);
	if (!info.virtio_name[0]) {
		bs_ignore(b, true, name, ino);
		return;
	}
	struct bs_net *n = calloc(1, sizeof(*n));
	if (!n)
		return;
	n->fd_carrier = bs_open_attr(b->sysfd, "class/net", name, "carrier");
	if (n->fd_carrier < 0) {
		bs_net_free(n);
		return;
	}
	vigil_strlcpy(n->name, name, sizeof(n->name));
	n->ino = ino;
	n->info = info;
	n->seen = true;
	b->nets[b->n_nets++] = n;
}

/* ------------------------------------------------------------------ events */

static json_object *bs_device_json(const char *subsystem, const char *name, const struct bs_dev_info *info,
				   bool virtio, bool net)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "subsystem", json_object_new_string(subsystem));
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "virtio_type", virtio ? json_object_new_string(net ? "net" : "blk") : NULL);
	json_object_object_add(o, "virtio_name", virtio ? json_object_new_string(info->virtio_name) : NULL);
	json_object_object_add(o, "pci_bdf", info->pci_bdf[0] ? json_object_new_string(info->pci_bdf) : NULL);
	json_object_object_add(o, "driver",
			       virtio ? json_object_new_string(net ? "virtio_net" : "virtio_blk") : NULL);
	json_object_object_add(o, "syspath", json_object_new_string(info->syspath));
	return o;
}

static int bs_emit(struct bs *b, struct vigil_event *ev)
{
	int r = b->emit(b->emit_data, ev);
	if (r < 0)
		b->n_emit_failed++;
	return r;
}

/* Everything currently lost, as evidence lines for vhost_backend_lost. */
static json_object *bs_evidence(const struct bs *b, uint64_t now)
{
	json_object *arr = json_object_new_array();
	char line[256];
	for (size_t i = 0; i < b->n_disks; i++) {
		const struct bs_disk *d = b->disks[i];
		if (!d->stalled || !d->virtio)
			continue;
		snprintf(line, sizeof(line), "%s: %u request(s) in flight (%u read, %u write), no completion for %" PRIu64 " s",
			 d->name, d->infl_read + d->infl_write, d->infl_read, d->infl_write,
			 (uint64_t)((now - d->last_progress) / USEC_PER_SEC));
		json_object_array_add(arr, json_object_new_string(line));
	}
	for (size_t i = 0; i < b->n_nets; i++) {
		const struct bs_net *n = b->nets[i];
		if (!n->lost)
			continue;
		snprintf(line, sizeof(line), "%s: virtio_net carrier down for %" PRIu64 " s", n->name,
			 (uint64_t)((now - n->down_since) / USEC_PER_SEC));
		json_object_array_add(arr, json_object_new_string(line));
	}
	return arr;
}

static int bs_emit_stall(struct bs *b, struct bs_disk *d, uint64_t now, bool active, const char *reason)
{
	struct vigil_event *ev = vigil_event_new(active ? "blk_stall" : "blk_resumed",
						 active ? VIGIL_SEV_WARNING : VIGIL_SEV_INFO);
	if (!ev)
		return -ENOMEM;
	char cond[96], dk[128];
	uint64_t secs = (now - (active ? d->last_progress : d->stall_since)) / USEC_PER_SEC;
	snprintf(cond, sizeof(cond), "blk_stall/%s", d->name);
	if (active)
		vigil_event_set_summary(ev, "I/O stalled on %s: %u request(s) in flight (%u read, %u write), no completion for %" PRIu64 " s",
					d->name, d->infl_read + d->infl_write, d->infl_read, d->infl_write, secs);
	else
		vigil_event_set_summary(ev, "I/O on %s %s after a %" PRIu64 " s stall", d->name,
					streq(reason, "removed") ? "stopped (disk removed)" : "resumed", secs);
	vigil_event_set_json(ev, "device", bs_device_json("block", d->name, &d->info, d->virtio, false));
	json_object *infl = json_object_new_object();
	json_object_object_add(infl, "read", json_object_new_int((int)d->infl_read));
	json_object_object_add(infl, "write", json_object_new_int((int)d->infl_write));
	vigil_event_set_json(ev, "inflight", infl);
	vigil_event_set_int(ev, "duration_s", (int64_t)secs);
	vigil_event_set_int(ev, "stall_secs", (int64_t)(b->stall_usec / USEC_PER_SEC));
	vigil_event_set_str(ev, "condition", cond);
	vigil_event_set_bool(ev, "active", active);
	if (reason)
		vigil_event_set_str(ev, "reason", reason);
	snprintf(dk, sizeof(dk), "%s/%s", active ? "blk_stall" : "blk_resumed", d->name);
	vigil_event_set_dedup_key(ev, dk);
	if (active)
		b->n_stalls++;
	return bs_emit(b, ev);
}

static int bs_emit_backend(struct bs *b, const char *name, const struct bs_dev_info *info, bool net, uint64_t now,
			   uint64_t since, bool active, const char *reason)
{
	struct vigil_event *ev = vigil_event_new(active ? "vhost_backend_lost" : "vhost_backend_restored",
						 active ? VIGIL_SEV_CRITICAL : VIGIL_SEV_INFO);
	if (!ev)
		return -ENOMEM;
	char cond[96], dk[128];
	uint64_t secs = (now - since) / USEC_PER_SEC;
	snprintf(cond, sizeof(cond), "vhost_backend/%s", name);
	if (active)
		vigil_event_set_summary(ev, "virtio %s backend of %s%s%s lost: %s for %" PRIu64 " s", net ? "net" : "blk",
					name, info->pci_bdf[0] ? " at " : "", info->pci_bdf,
					net ? "carrier down" : "I/O in flight with no completion", secs);
	else
		vigil_event_set_summary(ev, "virtio %s backend of %s back after %" PRIu64 " s (%s)", net ? "net" : "blk",
					name, secs, reason ? reason : "resumed");
	vigil_event_set_json(ev, "device", bs_device_json(net ? "net" : "block", name, info, true, net));
	vigil_event_set_str(ev, "cause", net ? "carrier" : "blk_stall");
	vigil_event_set_json(ev, "evidence", bs_evidence(b, now));
	vigil_event_set_int(ev, "duration_s", (int64_t)secs);
	vigil_event_set_str(ev, "condition", cond);
	vigil_event_set_bool(ev, "active", active);
	if (reason)
		vigil_event_set_str(ev, "reason", reason);
	snprintf(dk, sizeof(dk), "%s/%s", active ? "vhost_backend_lost" : "vhost_backend_restored", name);
	vigil_event_set_dedup_key(ev, dk);
	if (active)
		b->n_lost++;
	return bs_emit(b, ev);
}

/* ------------------------------------------------------------------ sampling */

/* "0 34\n" */
static int bs_parse_inflight(const char *s, unsigned *r, unsigned *w)
{
	return sscanf(s, "%u %u", r, w) == 2 ? 0 : -EINVAL;
}

/* Completed requests: reads(1) + writes(5) + discards(12) + flushes(16);
 * older kernels print 11 or 15 fields. */
static int bs_parse_stat(const char *s, uint64_t *ret)
{
	uint64_t f[17] = { 0 };
	int n = 0;
	const char *p = s;
	while (n < 17) {
		char *end;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!isdigit((unsigned char)*p))
			break;
		f[n++] = strtoull(p, &end, 10);
		p = end;
	}
	if (n < 11)
		return -EINVAL;
	*ret = f[0] + f[4] + f[11] + f[15];
	return 0;
}

static void bs_sample_disk(struct bs *b, struct bs_disk *d, uint64_t now)
{
	char ib[64], sb[512];
	unsigned r, w;
	uint64_t comp;
	if (bs_read_fd(d->fd_inflight, ib, sizeof(ib)) < 0 || bs_read_fd(d->fd_stat, sb, sizeof(sb)) < 0 ||
	    bs_parse_inflight(ib, &r, &w) < 0 || bs_parse_stat(sb, &comp) < 0) {
		b->n_read_errors++;
		d->seen = false; /* gone (ENODEV) or unreadable: dropped below */
		return;
	}
	bool progress = !d->have_sample || comp != d->completions || r + w == 0;
	/* counters going backwards: the name now belongs to a new disk */
	if (d->have_sample && comp < d->completions)
		progress = true;
	d->infl_read = r;
	d->infl_write = w;
	d->completions = comp;
	d->have_sample = true;
	if (progress) {
		d->last_progress = now;
		if (d->stalled) {
			d->stalled = false;
			(void)bs_emit_stall(b, d, now, false, "completed");
			if (d->virtio)
				(void)bs_emit_backend(b, d->name, &d->info, false, now, d->stall_since, false,
						      "I/O completes again");
		}
		return;
	}
	if (!d->stalled && now - d->last_progress >= b->stall_usec) {
		d->stalled = true;
		d->stall_since = d->last_progress;
		(void)bs_emit_stall(b, d, now, true, NULL);
		if (d->virtio)
			(void)bs_emit_backend(b, d->name, &d->info, false, now, d->last_progress, true, NULL);
	}
}

static void bs_sample_net(struct bs *b, struct bs_net *n, uint64_t now)
{
	char cb[16];
	int r = bs_read_fd(n->fd_carrier, cb, sizeof(cb));
	bool down;
	const char *reason = "carrier up";
	if (r == -EINVAL) { /* administratively down: not a backend problem */
		down = false;
		reason = "interface set down";
	} else if (r < 0) {
		b->n_read_errors++;
		n->seen = false;
		return;
	} else
		down = cb[0] == '0';
	if (!down) {
		if (n->lost)
			(void)bs_emit_backend(b, n->name, &n->info, true, now, n->down_since, false, reason);
		n->down = n->lost = false;
		return;
	}
	if (!n->down) {
		n->down = true;
		n->down_since = now;
	}
	if (!n->lost && now - n->down_since >= b->carrier_usec) {
		n->lost = true;
		(void)bs_emit_backend(b, n->name, &n->info, true, now, n->down_since, true, NULL);
	}
}

/* Walk a directory listing: mark known entries seen (the same sysfs
 * object: a reused name with a new inode is a new device), add new ones. */
static void bs_scan_dir(struct bs *b, DIR *dir, bool net)
{
	if (!dir)
		return;
	rewinddir(dir);
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		bool known = false;
		if (net) {
			for (size_t i = 0; i < b->n_nets && !known; i++)
				if (streq(b->nets[i]->name, de->d_name) && b->nets[i]->ino == de->d_ino)
					known = b->nets[i]->seen = true;
		} else {
			for (size_t i = 0; i < b->n_disks && !known; i++)
				if (streq(b->disks[i]->name, de->d_name) && b->disks[i]->ino == de->d_ino)
					known = b->disks[i]->seen = true;
		}
		if (known || bs_is_ignored(b, net, de->d_name, de->d_ino))
			continue;
		if (net)
			bs_consider_net(b, de->d_name, de->d_ino);
		else
			bs_consider_disk(b, de->d_name, de->d_ino);
	}
}

static void bs_tick(struct bs *b, uint64_t now)
{
	/* links can be thousands (veths of containers): look for new ones
	 * every few ticks only; gone ones fail their read at once */
	bool net_discovery = b->n_ticks % BS_NET_DISCOVERY_TICKS == 0;
	b->n_ticks++;
	for (size_t i = 0; i < b->n_disks; i++)
		b->disks[i]->seen = false;
	for (size_t i = 0; i < b->n_nets; i++)
		b->nets[i]->seen = !net_discovery;
	bs_scan_dir(b, b->blockdir, false);
	if (b->watch_carrier && net_discovery)
		bs_scan_dir(b, b->netdir, true);

	for (size_t i = 0; i < b->n_disks;) {
		struct bs_disk *d = b->disks[i];
		if (d->seen)
			bs_sample_disk(b, d, now);
		if (!d->seen) {
			if (d->stalled) {
				(void)bs_emit_stall(b, d, now, false, "removed");
				if (d->virtio)
					(void)bs_emit_backend(b, d->name, &d->info, false, now, d->stall_since, false,
							      "disk removed");
			}
			bs_disk_free(d);
			memmove(&b->disks[i], &b->disks[i + 1], (b->n_disks - i - 1) * sizeof(b->disks[0]));
			b->n_disks--;
			continue;
		}
		i++;
	}
	for (size_t i = 0; i < b->n_nets;) {
		struct bs_net *n = b->nets[i];
		if (n->seen)
			bs_sample_net(b, n, now);
		if (!n->seen) {
			if (n->lost)
				(void)bs_emit_backend(b, n->name, &n->info, true, now, n->down_since, false,
						      "interface removed");
			bs_net_free(n);
			memmove(&b->nets[i], &b->nets[i + 1], (b->n_nets - i - 1) * sizeof(b->nets[0]));
			b->n_nets--;
			continue;
		}
		i++;
	}
}

/* ------------------------------------------------------------------ plugin */

static void bs_free(struct bs *b)
{
	if (!b)
		return;
	sd_event_source_disable_unref(b->timer);
	for (size_t i = 0; i < b->n_disks; i++)
		bs_disk_free(b->disks[i]);
	for (size_t i = 0; i < b->n_nets; i++)
		bs_net_free(b->nets[i]);
	free(b->ignored);
	for (size_t i = 0; i < b->n_globs; i++)
		free(b->globs[i]);
	free(b->globs);
	if (b->blockdir)
		closedir(b->blockdir);
	if (b->netdir)
		closedir(b->netdir);
	if (b->sysfd >= 0)
		close(b->sysfd);
	free(b);
}

static DIR *bs_opendir(int sysfd, const char *path)
{
	int fd = openat(sysfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return NULL;
	DIR *d = fdopendir(fd);
	if (!d)
		close(fd);
	return d;
}

static int bs_new(const char *sys_root, uint64_t stall_usec, uint64_t carrier_usec, bool watch_virtio,
		  bool watch_carrier, const char *const *globs, size_t n_globs, bs_emit_fn emit, void *emit_data,
		  struct bs **ret)
{
	struct bs *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->stall_usec = stall_usec;
	b->carrier_usec = carrier_usec;
	b->watch_virtio = watch_virtio;
	b->watch_carrier = watch_carrier;
	b->emit = emit;
	b->emit_data = emit_data;
	b->sysfd = open(sys_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (b->sysfd < 0) {
		int r = negative_errno();
		bs_free(b);
		return r;
	}
	if (n_globs) {
		b->globs = calloc(n_globs, sizeof(*b->globs));
		if (!b->globs) {
			bs_free(b);
			return -ENOMEM;
		}
		for (size_t i = 0; i < n_globs; i++)
			if ((b->globs[b->n_globs] = strdup(globs[i])))
				b->n_globs++;
	}
	b->blockdir = bs_opendir(b->sysfd, "block");
	if (!b->blockdir) {
		int r = negative_errno();
		bs_free(b);
		return r;
	}
	b->netdir = bs_opendir(b->sysfd, "class/net"); /* optional */
	*ret = b;
	return 0;
}

static const struct vigil_config_key bs_keys[] = {
	{ "sys_root", VIGIL_CFG_PATH, "/sys", .help = "sysfs mount to read (tests point it at a fixture tree)" },
	{ "interval", VIGIL_CFG_DURATION, "2s", 100000, 3600000000, .help = "sampling period" },
	{ "stall_secs", VIGIL_CFG_DURATION, "10s", 1000000, 86400000000,
	  .help = "I/O in flight with no completion this long is a stall" },
	{ "virtio", VIGIL_CFG_BOOL, "yes", .help = "watch every virtio-blk disk" },
	{ "devices", VIGIL_CFG_LIST, NULL, .help = "further disks to watch, shell globs on /sys/block names (nvme*, sd?)" },
	{ "net_carrier", VIGIL_CFG_BOOL, "yes",
	  .help = "a virtio_net carrier down for carrier_secs is also vhost_backend_lost" },
	{ "carrier_secs", VIGIL_CFG_DURATION, "10s", 0, 86400000000,
	  .help = "how long a virtio_net carrier must stay down" },
	{ NULL },
};

static int bs_emit_ctx(void *userdata, struct vigil_event *ev)
{
	return vigil_emit(userdata, ev);
}

static int bs_on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct bs *b = userdata;
	bs_tick(b, usec);
	uint64_t next = usec + b->interval;
	int r = sd_event_source_set_time(s, next);
	if (r >= 0)
		r = sd_event_source_set_enabled(s, SD_EVENT_ON);
	if (r < 0)
		vigil_log_errno(b->ctx, LOG_ERR, r, "cannot re-arm the sampling timer: %m");
	return 0;
}

static int bs_init(struct vigil_ctx *ctx, const struct vigil_section *sec, void **ret_data)
{
	const char *const *globs;
	size_t n_globs = vigil_cfg_list(sec, "devices", &globs);
	struct bs *b;
	int r = bs_new(vigil_cfg_string(sec, "sys_root"), vigil_cfg_duration(sec, "stall_secs"),
		       vigil_cfg_duration(sec, "carrier_secs"), vigil_cfg_bool(sec, "virtio"),
		       vigil_cfg_bool(sec, "net_carrier"), globs, n_globs, bs_emit_ctx, ctx, &b);
	if (r < 0)
		return vigil_log_errno(ctx, LOG_ERR, r, "cannot open %s/block: %m", vigil_cfg_string(sec, "sys_root"));
	b->ctx = ctx;
	b->interval = vigil_cfg_duration(sec, "interval");
	if (!vigil_replay_mode(ctx)) {
		uint64_t now = vigil_now(ctx, CLOCK_MONOTONIC);
		bs_tick(b, now); /* first sample: baselines, device list */
		/* accuracy: let the loop coalesce our wake-up with others */
		r = sd_event_add_time(vigil_loop(ctx), &b->timer, CLOCK_MONOTONIC, now + b->interval, b->interval / 8,
				      bs_on_timer, b);
		if (r < 0) {
			bs_free(b);
			return vigil_log_errno(ctx, LOG_ERR, r, "cannot add the sampling timer: %m");
		}
		size_t nv = 0;
		for (size_t i = 0; i < b->n_disks; i++)
			nv += b->disks[i]->virtio;
		vigil_log(ctx, LOG_INFO, "watching %zu disk(s) (%zu virtio), %zu virtio_net carrier(s), every %" PRIu64 " ms",
			  b->n_disks, nv, b->n_nets, b->interval / 1000);
	}
	*ret_data = b;
	return 0;
}

static int bs_status(struct vigil_ctx *ctx, void *data, json_object *out)
{
	struct bs *b = data;
	uint64_t now = vigil_now(ctx, CLOCK_MONOTONIC);
	json_object *disks = json_object_new_array();
	for (size_t i = 0; i < b->n_disks; i++) {
		const struct bs_disk *d = b->disks[i];
		json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(d->name));
		json_object_object_add(o, "virtio", json_object_new_boolean(d->virtio));
		json_object_object_add(o, "inflight_read", json_object_new_int((int)d->infl_read));
		json_object_object_add(o, "inflight_write", json_object_new_int((int)d->infl_write));
		json_object_object_add(o, "stalled", json_object_new_boolean(d->stalled));
		json_object_object_add(o, "since_progress_s",
				       json_object_new_int64((int64_t)((now - d->last_progress) / USEC_PER_SEC)));
		json_object_array_add(disks, o);
	}
	json_object_object_add(out, "disks", disks);
	json_object *nets = json_object_new_array();
	for (size_t i = 0; i < b->n_nets; i++) {
		const struct bs_net *n = b->nets[i];
		json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(n->name));
		json_object_object_add(o, "carrier_down", json_object_new_boolean(n->down));
		json_object_object_add(o, "backend_lost", json_object_new_boolean(n->lost));
		json_object_array_add(nets, o);
	}
	json_object_object_add(out, "virtio_net", nets);
	json_object_object_add(out, "ticks", json_object_new_int64((int64_t)b->n_ticks));
	json_object_object_add(out, "stalls", json_object_new_int64((int64_t)b->n_stalls));
	json_object_object_add(out, "backends_lost", json_object_new_int64((int64_t)b->n_lost));
	json_object_object_add(out, "read_errors", json_object_new_int64((int64_t)b->n_read_errors));
	return 0;
}

static void bs_fini(struct vigil_ctx *ctx, void *data)
{
	bs_free(data);
}

const struct vigil_plugin vigil_plugin = {
	.abi_version = VIGIL_PLUGIN_ABI_VERSION,
	.kind = VIGIL_PLUGIN_MONITOR,
	.name = "blkstall",
	.description = "I/O stalls on virtio (and configured) disks, vhost backend loss",
	.keys = bs_keys,
	.init = bs_init,
	.status = bs_status,
	.fini = bs_fini,
};
