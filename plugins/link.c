/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * link: network link monitor (libnl-route-3). Keeps a table of the links of
 * the agent's network namespace from one RTM_GETLINK dump plus RTNLGRP_LINK
 * notifications read on the sd-event loop, and reports what matters on a
 * VM: carrier/operstate loss and return (`link_down` / `link_up`, one
 * condition "link/NAME"), links appearing and disappearing (`link_added`,
 * `link_removed`), with the driver (ethtool, else sysfs) and rtnetlink kind
 * so a virtio_net NIC, a veth, an OVS port and a bridge are told apart.
 *
 * Noise control: a link that goes down and comes back within `debounce` is a
 * flap, counted and reported as at most one `link_flapping` per
 * `flap_interval`, never a down/up pair; add/remove events of ephemeral
 * kinds (container veths) are limited to `churn_burst` per `churn_interval`,
 * the excess counted and summarised in one `link_churn`.
 *
 * Loss: multicast notifications overrun the socket buffer under a storm
 * (ENOBUFS, which libnl reports as -NLE_NOMEM). We count it, re-dump the
 * whole link table and diff it against ours, so no removal is missed.
 */
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <linux/ethtool.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "util.h"
#include "vigil/plugin.h"

#define LINK_KIND_MAX	24
#define LINK_DRIVER_MAX 32
#define LINK_RECV_BATCH 64 /* datagrams read per wakeup before yielding to the loop */

/* libnl's -NLE_* codes to negative errno, at the call site (STYLE rule 2). */
static int link_nlerr(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case 0:
		return 0;
	case NLE_INTR:
		return -EINTR;
	case NLE_BAD_SOCK:
		return -EBADF;
	case NLE_AGAIN:
		return -EAGAIN;
	case NLE_NOMEM: /* also ENOBUFS: multicast overrun */
		return -ENOBUFS;
	case NLE_EXIST:
		return -EEXIST;
	case NLE_INVAL:
		return -EINVAL;
	case NLE_RANGE:
		return -ERANGE;
	case NLE_MSGSIZE:
	case NLE_MSG_TRUNC:
	case NLE_MSG_OVERFLOW:
		return -EMSGSIZE;
	case NLE_OPNOTSUPP:
	case NLE_MSGTYPE_NOSUPPORT:
		return -EOPNOTSUPP;
	case NLE_AF_NOSUPPORT:
		return -EAFNOSUPPORT;
	case NLE_OBJ_NOTFOUND:
		return -ENOENT;
	case NLE_NOADDR:
		return -EADDRNOTAVAIL;
	case NLE_BUSY:
		return -EBUSY;
	case NLE_NOACCESS:
	case NLE_PERM:
		return -EPERM;
	case NLE_NODEV:
		return -ENODEV;
	case NLE_DUMP_INTR:
		return -EINTR;
	default:
		return -EIO;
	}
}

struct link_entry {
	int ifindex;
	char name[IFNAMSIZ];
	char kind[LINK_KIND_MAX];	/* IFLA_INFO_KIND; "" for a NIC */
	char slave_kind[LINK_KIND_MAX]; /* IFLA_INFO_SLAVE_KIND, e.g. "openvswitch" */
	char driver[LINK_DRIVER_MAX];	/* ethtool/sysfs; "" when unknown */
	int master, peer_ifindex;
	int32_t netnsid; /* IFLA_LINK_NETNSID: the peer's namespace, as we see it */
	bool has_netnsid;
	unsigned flags;
	uint8_t operstate, carrier;
	bool watched, ephemeral;
	bool up;	    /* admin up with carrier (see link_state_up) */
	bool down_reported; /* link_down sent: condition active */
	bool down_pending;  /* debounce running since down_since */
	uint64_t down_since;
	uint64_t down_at;	/* when the reported down started */
	uint64_t flap_next;	/* earliest next link_flapping */
	unsigned flaps_pending; /* flaps not reported yet */
	uint64_t downs, ups, flaps, changes;
	uint32_t gen;
};

struct link_mon {
	struct vigil_ctx *ctx;
	struct nl_sock *ev_sk, *sync_sk;
	struct nl_cb *cb; /* the event socket's callbacks (a reference) */
	sd_event_source *io, *timer;
	int ethtool_fd;

	/* configuration */
	char **include, **exclude, **kinds, **drivers, **ephemeral_kinds;
	uint64_t debounce, flap_interval, churn_interval;
	unsigned churn_burst;
	bool report_admin_down;
	uint64_t rcvbuf;

	struct link_entry *links; /* sorted by ifindex */
	size_t n_links, cap_links;
	uint32_t gen;

	/* ephemeral add/remove rate limit: a fixed window */
	uint64_t churn_window_end;
	unsigned churn_used, churn_added_suppressed, churn_removed_suppressed;

	/* counters */
	uint64_t messages, overruns, resyncs, recv_errors, emit_errors;
	uint64_t events, suppressed, added, removed;
	int rcvbuf_actual;
	bool need_resync;
	uint64_t resync_at; /* retry of a failed re-dump */
};

static const struct vigil_config_key link_keys[] = {
    {"include", VIGIL_CFG_LIST, "*", 0, 0, NULL, NULL, "link name globs watched"},
    {"exclude", VIGIL_CFG_LIST, "lo", 0, 0, NULL, NULL, "link name globs never watched"},
    {"kinds", VIGIL_CFG_LIST, "none veth openvswitch bridge bond team vlan macvlan", 0, 0, NULL, NULL,
     "rtnetlink kinds watched (globs); none = a NIC without a kind (virtio_net, physical)"},
    {"drivers", VIGIL_CFG_LIST, "*", 0, 0, NULL, NULL, "driver globs watched (ethtool/sysfs name)"},
    {"ephemeral_kinds", VIGIL_CFG_LIST, "veth tun", 0, 0, NULL, NULL,
     "kinds whose add/remove events are rate-limited (container churn)"},
    {"debounce", VIGIL_CFG_DURATION, "2s", 0, 600 * USEC_PER_SEC, NULL, NULL,
     "a down shorter than this is a flap, not link_down + link_up"},
    {"flap_interval", VIGIL_CFG_DURATION, "1m", USEC_PER_SEC, 86400 * USEC_PER_SEC, NULL, NULL,
     "at most one link_flapping per link per interval (flaps in between are counted)"},
    {"churn_burst", VIGIL_CFG_INT, "10", 0, 100000, NULL, NULL,
     "link_added/link_removed events of ephemeral kinds per churn_interval"},
    {"churn_interval", VIGIL_CFG_DURATION, "1m", USEC_PER_SEC, 86400 * USEC_PER_SEC, NULL, NULL,
     "window of the churn_burst limit"},
    {"report_admin_down", VIGIL_CFG_BOOL, "yes", 0, 0, NULL, NULL,
     "a watched link set administratively down is link_down too"},
    {"rcvbuf", VIGIL_CFG_SIZE, "1M", 4096, 256 * 1024 * 1024, NULL, NULL,
     "netlink receive buffer (applied at start; SO_RCVBUFFORCE when privileged)"},
    {},
};

/* ---------------------------------------------------------------- helpers */

static void link_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static int link_cfg_strv(const struct vigil_section *sec, const char *key, char ***ret)
{
	const char *const *items;
	size_t n = vigil_cfg_list(sec, key, &items);
	char **v = calloc(n + 1, sizeof(char *));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!(v[i] = strdup(items[i]))) {
			link_strv_free(v);
			return -ENOMEM;
		}
	*ret = v;
	return 0;
}

static bool link_glob_any(char *const *globs, const char *s)
{
	for (; globs && *globs; globs++)
		if (fnmatch(*globs, s, 0) == 0)
			return true;
	return false;
}

static const char *link_operstate_str(uint8_t op)
{
	static const char *const names[] = {"unknown", "notpresent", "down", "lowerlayerdown",
					    "testing", "dormant",    "up"};
	return op < ELEMENTSOF(names) ? names[op] : "unknown";
}

/*
 * Up = admin up with carrier. IFF_LOWER_UP is read from the carrier bit when
 * the message is built; IFLA_OPERSTATE is only brought up to date by the
 * kernel's linkwatch work, up to a second later. A message sent in between
 * (the one for `ip link set X up`, say) carries LOWER_UP with a stale "down"
 * or "lowerlayerdown": judging by operstate there made a carrier loss in that
 * second invisible (the link never looked up, so its loss was no transition;
 * seen in the QEMU lab). Carrier changes themselves are only notified after
 * linkwatch, so LOWER_UP never lags. operstate still vetoes "notpresent".
 */
static bool link_state_up(unsigned flags, uint8_t operstate)
{
	return (flags & IFF_UP) && (flags & IFF_LOWER_UP) && operstate != IF_OPER_NOTPRESENT;
}

static const char *link_down_reason(const struct link_entry *e)
{
	if (!(e->flags & IFF_UP))
		return "admin_down";
	if (!(e->flags & IFF_LOWER_UP))
		return "no_carrier";
	return link_operstate_str(e->operstate);
}

static struct link_entry *link_find(struct link_mon *l, int ifindex, size_t *ret_pos)
{
	size_t lo = 0, hi = l->n_links;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (l->links[mid].ifindex < ifindex)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (ret_pos)
		*ret_pos = lo;
	return lo < l->n_links && l->links[lo].ifindex == ifindex ? &l->links[lo] : NULL;
}

/* Driver name: ethtool GDRVINFO works for every netdev (veth, bridge,
 * openvswitch, virtio_net…); sysfs device/driver only for bus devices. */
static void link_resolve_driver(struct link_mon *l, struct link_entry *e)
{
	struct ethtool_drvinfo info = {.cmd = ETHTOOL_GDRVINFO};
	struct ifreq ifr = {};
	char path[64 + IFNAMSIZ], target[256];

	if (l->ethtool_fd >= 0) {
		vigil_strlcpy(ifr.ifr_name, e->name, sizeof(ifr.ifr_name));
		ifr.ifr_data = (void *)&info;
		if (ioctl(l->ethtool_fd, SIOCETHTOOL, &ifr) == 0 && info.driver[0]) {
			vigil_strlcpy(e->driver, info.driver, sizeof(e->driver));
			return;
		}
	}
	snprintf(path, sizeof(path), "/sys/class/net/%s/device/driver", e->name);
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = 0;
		const char *base = strrchr(target, '/');
		vigil_strlcpy(e->driver, base ? base + 1 : target, sizeof(e->driver));
	}
}

static bool link_is_watched(const struct link_mon *l, const struct link_entry *e)
{
	const char *kind = e->kind[0] ? e->kind : "none";

	if (!link_glob_any(l->include, e->name) || link_glob_any(l->exclude, e->name))
		return false;
	if (!link_glob_any(l->kinds, kind))
		return false;
	return link_glob_any(l->drivers, e->driver[0] ? e->driver : "unknown");
}

static json_object *link_to_json(const struct link_mon *l, const struct link_entry *e)
{
	json_object *o = json_object_new_object();
	const struct link_entry *m = e->master > 0 ? link_find((struct link_mon *)l, e->master, NULL) : NULL;

	if (!o)
		return NULL;
	json_object_object_add(o, "name", json_object_new_string(e->name));
	json_object_object_add(o, "ifindex", json_object_new_int(e->ifindex));
	json_object_object_add(o, "driver", e->driver[0] ? json_object_new_string(e->driver) : NULL);
	json_object_object_add(o, "kind", e->kind[0] ? json_object_new_string(e->kind) : NULL);
	json_object_object_add(o, "slave_kind", e->slave_kind[0] ? json_object_new_string(e->slave_kind) : NULL);
	json_object_object_add(o, "master", m ? json_object_new_string(m->name) : NULL);
	json_object_object_add(o, "carrier", json_object_new_boolean(!!(e->flags & IFF_LOWER_UP)));
	json_object_object_add(o, "operstate", json_object_new_string(link_operstate_str(e->operstate)));
	json_object_object_add(o, "admin_up", json_object_new_boolean(!!(e->flags & IFF_UP)));
	json_object_object_add(o, "netnsid", e->has_netnsid ? json_object_new_int(e->netnsid) : NULL);
	if (e->peer_ifindex > 0 && e->peer_ifindex != e->ifindex)
		json_object_object_add(o, "peer_ifindex", json_object_new_int(e->peer_ifindex));
	return o;
}

static const char *link_label(const struct link_entry *e)
{
	if (e->driver[0])
		return e->driver;
	return e->kind[0] ? e->kind : "unknown driver";
}

/* Build and emit one event about e. Takes the decisions made by the caller;
 * only the shape lives here. */
static void link_emit(struct link_mon *l, const struct link_entry *e, const char *kind, enum vigil_severity sev,
		      int active, int64_t duration_s, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static void link_emit(struct link_mon *l, const struct link_entry *e, const char *kind, enum vigil_severity sev,
		      int active, int64_t duration_s, const char *fmt, ...)
{
	char summary[256], cond[16 + IFNAMSIZ], key[64 + IFNAMSIZ];
	struct vigil_event *ev = vigil_event_new(kind, sev);
	va_list ap;

	if (!ev) {
		l->emit_errors++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(summary, sizeof(summary), fmt, ap);
	va_end(ap);
	(void)vigil_event_set_summary(ev, "%s", summary);
	/* The core folds events with the same key within its dedup window.
	 * Raising and clearing events carry the episode (the down count), so
	 * down → up → down within the window is three events, and the alert
	 * never shows "resolved" while the link is down again. */
	if (active == 1 || (active == 0 && (streq(kind, "link_up") || e->down_reported)))
		snprintf(key, sizeof(key), "%s/%s/%" PRIu64, kind, e->name, e->downs);
	else
		snprintf(key, sizeof(key), "%s/%s", kind, e->name);
	(void)vigil_event_set_dedup_key(ev, key);
	if (active >= 0) {
		snprintf(cond, sizeof(cond), "link/%s", e->name);
		(void)vigil_event_set_str(ev, "condition", cond);
		(void)vigil_event_set_bool(ev, "active", active);
	}
	(void)vigil_event_set_json(ev, "link", link_to_json(l, e));
	if (streq(kind, "link_down"))
		(void)vigil_event_set_str(ev, "reason", link_down_reason(e));
	if (streq(kind, "link_flapping")) {
		vigil_event_set_count(ev, e->flaps_pending);
		(void)vigil_event_set_int(ev, "flaps", e->flaps_pending);
	}
	if (duration_s >= 0)
		(void)vigil_event_set_int(ev, "duration_s", duration_s);
	l->events++;
	if (vigil_emit(l->ctx, ev) < 0)
		l->emit_errors++;
}

/* ---------------------------------------------------------------- decisions */

/* Ephemeral add/remove budget; true = emit. */
static bool link_churn_allow(struct link_mon *l, uint64_t now, bool added)
{
	if (now >= l->churn_window_end) {
		l->churn_window_end = now + l->churn_interval;
		l->churn_used = 0;
	}
	if (l->churn_used < l->churn_burst) {
		l->churn_used++;
		return true;
	}
	if (added)
		l->churn_added_suppressed++;
	else
		l->churn_removed_suppressed++;
	l->suppressed++;
	return false;
}

static void link_churn_flush(struct link_mon *l, uint64_t now)
{
	struct vigil_event *ev;

	if (now < l->churn_window_end || (l->churn_added_suppressed == 0 && l->churn_removed_suppressed == 0))
		return;
	ev = vigil_event_new("link_churn", VIGIL_SEV_INFO);
	if (ev) {
		(void)vigil_event_set_summary(
		    ev, "%u links added and %u removed without separate events (churn limit %u per %" PRIu64 "s)",
		    l->churn_added_suppressed, l->churn_removed_suppressed, l->churn_burst,
		    (uint64_t)(l->churn_interval / USEC_PER_SEC));
		(void)vigil_event_set_dedup_key(ev, "link_churn");
		(void)vigil_event_set_int(ev, "added", l->churn_added_suppressed);
		(void)vigil_event_set_int(ev, "removed", l->churn_removed_suppressed);
		l->events++;
		if (vigil_emit(l->ctx, ev) < 0)
			l->emit_errors++;
	} else
		l->emit_errors++;
	l->churn_added_suppressed = l->churn_removed_suppressed = 0;
}

static void link_flap_flush(struct link_mon *l, struct link_entry *e, uint64_t now)
{
	if (e->flaps_pending == 0 || now < e->flap_next)
		return;
	link_emit(l, e, "link_flapping", VIGIL_SEV_WARNING, -1, -1,
		  "link %s (%s) flapping: %u short down%s within %" PRIu64 "ms", e->name, link_label(e),
		  e->flaps_pending, e->flaps_pending == 1 ? "" : "s", (uint64_t)(l->debounce / USEC_PER_MSEC));
	e->flaps_pending = 0;
	e->flap_next = now + l->flap_interval;
}

static void link_report_down(struct link_mon *l, struct link_entry *e, uint64_t now)
{
	e->down_reported = true;
	e->down_at = e->down_pending ? e->down_since : now;
	e->down_pending = false;
	e->downs++;
	link_emit(l, e, "link_down", VIGIL_SEV_WARNING, true, -1, "link %s (%s) down: %s", e->name, link_label(e),
		  link_down_reason(e));
}

/* Apply the up/down state machine after e's attributes changed. */
static void link_evaluate(struct link_mon *l, struct link_entry *e, bool was_up, uint64_t now)
{
	if (!e->watched)
		return;
	if (was_up && !e->up) {
		if (!(e->flags & IFF_UP) && !l->report_admin_down)
			return;
		e->down_pending = true;
		e->down_since = now;
		if (l->debounce == 0)
			link_report_down(l, e, now);
	} else if (!was_up && e->up) {
		if (e->down_reported) {
			uint64_t secs = (now - e->down_at) / USEC_PER_SEC;
			e->down_reported = false;
			e->ups++;
			link_emit(l, e, "link_up", VIGIL_SEV_INFO, false, (int64_t)secs,
				  "link %s (%s) up again after %" PRIu64 "s", e->name, link_label(e), secs);
		} else if (e->down_pending) {
			e->down_pending = false;
			e->flaps++;
			e->flaps_pending++;
			link_flap_flush(l, e, now);
		}
	} else if (!e->up && e->down_pending && !(e->flags & IFF_UP) && !l->report_admin_down) {
		e->down_pending = false; /* went on to admin down: the operator's doing */
	}
}

/* Deadlines: pending downs, flap reports, the churn window. */
static void link_tick(struct link_mon *l, uint64_t now)
{
	for (size_t i = 0; i < l->n_links; i++) {
		struct link_entry *e = &l->links[i];
		if (e->down_pending && !e->up && now >= e->down_since + l->debounce)
			link_report_down(l, e, now);
		link_flap_flush(l, e, now);
	}
	link_churn_flush(l, now);
}

static uint64_t link_next_deadline(const struct link_mon *l)
{
	uint64_t next = UINT64_MAX;
	for (size_t i = 0; i < l->n_links; i++) {
		const struct link_entry *e = &l->links[i];
		if (e->down_pending && e->down_since + l->debounce < next)
			next = e->down_since + l->debounce;
		if (e->flaps_pending && e->flap_next < next)
			next = e->flap_next;
	}
	if ((l->churn_added_suppressed || l->churn_removed_suppressed) && l->churn_window_end < next)
		next = l->churn_window_end;
	if (l->need_resync && l->resync_at < next)
		next = l->resync_at;
	return next;
}

static void link_arm_timer(struct link_mon *l)
{
	uint64_t next = link_next_deadline(l);
	if (!l->timer)
		return;
	if (next == UINT64_MAX) {
		(void)sd_event_source_set_enabled(l->timer, SD_EVENT_OFF);
		return;
	}
	(void)sd_event_source_set_time(l->timer, next);
	(void)sd_event_source_set_enabled(l->timer, SD_EVENT_ONESHOT);
}

static void link_remove_at(struct link_mon *l, size_t pos, uint64_t now)
{
	struct link_entry *e = &l->links[pos];

	if (e->watched) {
		l->removed++;
		/* an active condition is always cleared, whatever the budget */
		if (!e->ephemeral || e->down_reported || link_churn_allow(l, now, false))
			link_emit(l, e, "link_removed", e->kind[0] ? VIGIL_SEV_INFO : VIGIL_SEV_WARNING, false, -1,
				  "link %s (%s) removed", e->name, link_label(e));
	}
	memmove(&l->links[pos], &l->links[pos + 1], (l->n_links - pos - 1) * sizeof(*e));
	l->n_links--;
}

/*
 * One link object from a notification or a dump. initial: part of the
 * start-up dump (no link_added; a watched link that is admin up without
 * carrier counts as just gone down).
 */
static int link_handle(struct link_mon *l, struct rtnl_link *obj, bool deleted, bool initial, uint64_t now)
{
	int ifindex = rtnl_link_get_ifindex(obj);
	const char *name = rtnl_link_get_name(obj), *kind = rtnl_link_get_type(obj);
	const char *skind = rtnl_link_get_slave_type(obj);
	struct link_entry *e;
	size_t pos;
	bool was_up, created = false;
	int32_t nsid;

	if (ifindex <= 0)
		return 0;
	l->messages++;
	e = link_find(l, ifindex, &pos);
	if (deleted) {
		if (e)
			link_remove_at(l, pos, now);
		return 0;
	}
	if (!e) {
		if (l->n_links == l->cap_links) {
			size_t cap = l->cap_links ? l->cap_links * 2 : 32;
			struct link_entry *n = reallocarray(l->links, cap, sizeof(*n));
			if (!n)
				return -ENOMEM;
			l->links = n;
			l->cap_links = cap;
		}
		memmove(&l->links[pos + 1], &l->links[pos], (l->n_links - pos) * sizeof(*e));
		l->n_links++;
		e = &l->links[pos];
		*e = (struct link_entry){.ifindex = ifindex, .up = false};
		created = true;
	}
	was_up = e->up;
	if (name && !streq(e->name, name)) {
		vigil_strlcpy(e->name, name, sizeof(e->name));
		if (!created)
			e->driver[0] = 0; /* renamed: ask again below */
	}
	vigil_strlcpy(e->kind, strempty(kind), sizeof(e->kind));
	vigil_strlcpy(e->slave_kind, strempty(skind), sizeof(e->slave_kind));
	e->flags = rtnl_link_get_flags(obj);
	e->operstate = rtnl_link_get_operstate(obj);
	e->carrier = rtnl_link_get_carrier(obj);
	e->master = rtnl_link_get_master(obj);
	e->peer_ifindex = rtnl_link_get_link(obj);
	e->has_netnsid = rtnl_link_get_link_netnsid(obj, &nsid) == 0;
	e->netnsid = e->has_netnsid ? nsid : 0;
	e->up = link_state_up(e->flags, e->operstate);
	e->gen = l->gen;
	e->changes++;
	if (!e->driver[0])
		link_resolve_driver(l, e);
	bool watched = link_is_watched(l, e);
	if (watched != e->watched) {
		e->watched = watched;
		if (!watched)
			e->down_pending = false;
	}
	e->ephemeral = link_glob_any(l->ephemeral_kinds, e->kind[0] ? e->kind : "none");

	if (created) {
		if (initial) {
			/* unknown past: treat "admin up, no carrier" as a fresh down */
			if (e->watched && (e->flags & IFF_UP) && !e->up)
				link_evaluate(l, e, true, now);
			return 0;
		}
		if (e->watched) {
			l->added++;
			if (!e->ephemeral || link_churn_allow(l, now, true))
				link_emit(l, e, "link_added", VIGIL_SEV_INFO, -1, -1, "link %s (%s) added", e->name,
					  link_label(e));
		}
		return 0; /* a new link has no "up" history yet */
	}
	link_evaluate(l, e, was_up, now);
	return 0;
}

/* ---------------------------------------------------------------- netlink */

struct link_parse_ctx {
	struct link_mon *l;
	bool initial;
	uint64_t now;
	int r;
};

static void link_parse_obj(struct nl_object *obj, void *arg)
{
	struct link_parse_ctx *p = arg;
	int type = nl_object_get_msgtype(obj);

	if (type != RTM_NEWLINK && type != RTM_DELLINK)
		return;
	int r = link_handle(p->l, (struct rtnl_link *)obj, type == RTM_DELLINK, p->initial, p->now);
	if (r < 0)
		p->r = r;
}

/* RTNLGRP_LINK also carries AF_BRIDGE messages about bridge ports (their
 * deletion from a bridge is an RTM_DELLINK of the port!). Judged on the raw
 * header: libnl marks real bridge devices with the bridge family too. */
static bool link_msg_is_bridge_port(struct nl_msg *msg)
{
	struct nlmsghdr *h = nlmsg_hdr(msg);
	const struct ifinfomsg *ifi;

	if (!nlmsg_valid_hdr(h, sizeof(*ifi)))
		return true; /* not a link message we can read */
	ifi = nlmsg_data(h);
	return ifi->ifi_family == AF_BRIDGE;
}

static int link_on_valid(struct nl_msg *msg, void *arg)
{
	struct link_mon *l = arg;
	struct link_parse_ctx p = {.l = l, .now = vigil_now(l->ctx, CLOCK_MONOTONIC)};

	if (link_msg_is_bridge_port(msg))
		return NL_OK;
	int r = nl_msg_parse(msg, link_parse_obj, &p);

	if (r < 0 || p.r < 0)
		l->recv_errors++;
	return NL_OK;
}

/* Full dump and diff: links missing from the dump are removed, the rest
 * goes through the same state machine as notifications. */
static int link_resync(struct link_mon *l, bool initial)
{
	struct nl_cache *cache = NULL;
	int r = 0;

	for (int attempt = 0; attempt < 3; attempt++) {
		r = link_nlerr(rtnl_link_alloc_cache(l->sync_sk, AF_UNSPEC, &cache));
		if (r != -EINTR) /* NLE_DUMP_INTR: the table changed under the dump */
			break;
	}
	if (r < 0) {
		/* retried from the timer: a missed removal must not stay missed */
		l->need_resync = true;
		l->resync_at = vigil_now(l->ctx, CLOCK_MONOTONIC) + USEC_PER_SEC;
		link_arm_timer(l);
		return vigil_log_errno(l->ctx, LOG_WARNING, r, "dumping links failed, retrying in 1s");
	}

	struct link_parse_ctx p = {.l = l, .initial = initial, .now = vigil_now(l->ctx, CLOCK_MONOTONIC)};
	l->gen++;
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		int x = link_handle(l, (struct rtnl_link *)o, false, initial, p.now);
		if (x < 0)
			r = x;
	}
	nl_cache_free(cache);
	for (size_t i = l->n_links; i-- > 0;)
		if (l->links[i].gen != l->gen)
			link_remove_at(l, i, p.now);
	if (!initial)
		l->resyncs++;
	l->need_resync = false;
	link_arm_timer(l);
	return r;
}

static int link_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct link_mon *l = userdata;

	for (int i = 0; i < LINK_RECV_BATCH; i++) {
		int r = nl_recvmsgs_report(l->ev_sk, l->cb);
		if (r == 0)
			break; /* drained (EAGAIN) */
		if (r > 0)
			continue;
		r = link_nlerr(r);
		if (r == -ENOBUFS) {
			l->overruns++;
			l->need_resync = true;
			vigil_log(l->ctx, LOG_WARNING,
				  "netlink overrun (ENOBUFS): link notifications lost, re-dumping");
			continue;
		}
		if (r == -EAGAIN || r == -EINTR)
			break;
		l->recv_errors++;
		vigil_log_errno(l->ctx, LOG_WARNING, r, "reading link notifications failed, ignoring");
		break;
	}
	if (l->need_resync)
		(void)link_resync(l, false);
	link_arm_timer(l);
	return 0;
}

static int link_on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct link_mon *l = userdata;
	uint64_t now = vigil_now(l->ctx, CLOCK_MONOTONIC);

	if (l->need_resync && now >= l->resync_at)
		(void)link_resync(l, false);
	link_tick(l, now);
	link_arm_timer(l);
	return 0;
}

static int link_open_sockets(struct link_mon *l)
{
	int r, fd, size = (int)l->rcvbuf;

	l->ev_sk = nl_socket_alloc();
	l->sync_sk = nl_socket_alloc();
	if (!l->ev_sk || !l->sync_sk)
		return -ENOMEM;
	/* multicast notifications carry no sequence numbers */
	nl_socket_disable_seq_check(l->ev_sk);
	r = link_nlerr(nl_socket_modify_cb(l->ev_sk, NL_CB_VALID, NL_CB_CUSTOM, link_on_valid, l));
	if (r < 0)
		return r;
	l->cb = nl_socket_get_cb(l->ev_sk);
	if (!l->cb)
		return -ENOMEM;
	r = link_nlerr(nl_connect(l->ev_sk, NETLINK_ROUTE));
	if (r < 0)
		return vigil_log_errno(l->ctx, LOG_ERR, r, "cannot open the rtnetlink socket");
	r = link_nlerr(nl_socket_add_membership(l->ev_sk, RTNLGRP_LINK));
	if (r < 0)
		return vigil_log_errno(l->ctx, LOG_ERR, r, "cannot join RTNLGRP_LINK");
	r = link_nlerr(nl_socket_set_nonblocking(l->ev_sk));
	if (r < 0)
		return r;
	fd = nl_socket_get_fd(l->ev_sk);
	/* SO_RCVBUFFORCE passes rmem_max when privileged; else what we may get */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		(void)nl_socket_set_buffer_size(l->ev_sk, size, 0);
	socklen_t sl = sizeof(l->rcvbuf_actual);
	(void)getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &l->rcvbuf_actual, &sl);
	r = link_nlerr(nl_connect(l->sync_sk, NETLINK_ROUTE));
	if (r < 0)
		return vigil_log_errno(l->ctx, LOG_ERR, r, "cannot open the rtnetlink dump socket");
	l->ethtool_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l->ethtool_fd < 0)
		vigil_log_errno(l->ctx, LOG_INFO, errno, "no ethtool socket, drivers from sysfs only");
	return 0;
}

/* ---------------------------------------------------------------- plugin */

static void link_mon_free(struct link_mon *l)
{
	if (!l)
		return;
	sd_event_source_disable_unref(l->io);
	sd_event_source_disable_unref(l->timer);
	if (l->cb)
		nl_cb_put(l->cb);
	if (l->ev_sk)
		nl_socket_free(l->ev_sk);
	if (l->sync_sk)
		nl_socket_free(l->sync_sk);
	if (l->ethtool_fd >= 0)
		close(l->ethtool_fd);
	link_strv_free(l->include);
	link_strv_free(l->exclude);
	link_strv_free(l->kinds);
	link_strv_free(l->drivers);
	link_strv_free(l->ephemeral_kinds);
	free(l->links);
	free(l);
}

static void link_mon_freep(struct link_mon **l)
{
	link_mon_free(*l);
}

static int link_configure(struct link_mon *l, const struct vigil_section *sec)
{
	char **inc = NULL, **exc = NULL, **kinds = NULL, **drv = NULL, **eph = NULL;
	int r;

	if ((r = link_cfg_strv(sec, "include", &inc)) < 0 || (r = link_cfg_strv(sec, "exclude", &exc)) < 0 ||
	    (r = link_cfg_strv(sec, "kinds", &kinds)) < 0 || (r = link_cfg_strv(sec, "drivers", &drv)) < 0 ||
	    (r = link_cfg_strv(sec, "ephemeral_kinds", &eph)) < 0) {
		link_strv_free(inc);
		link_strv_free(exc);
		link_strv_free(kinds);
		link_strv_free(drv);
		link_strv_free(eph);
		return r;
	}
	link_strv_free(l->include);
	link_strv_free(l->exclude);
	link_strv_free(l->kinds);
	link_strv_free(l->drivers);
	link_strv_free(l->ephemeral_kinds);
	l->include = inc;
	l->exclude = exc;
	l->kinds = kinds;
	l->drivers = drv;
	l->ephemeral_kinds = eph;
	l->debounce = vigil_cfg_duration(sec, "debounce");
	l->flap_interval = vigil_cfg_duration(sec, "flap_interval");
	l->churn_burst = (unsigned)vigil_cfg_int(sec, "churn_burst");
	l->churn_interval = vigil_cfg_duration(sec, "churn_interval");
	l->report_admin_down = vigil_cfg_bool(sec, "report_admin_down");
	l->rcvbuf = vigil_cfg_size(sec, "rcvbuf");
	/* re-judge what is watched under the new filters */
	for (size_t i = 0; i < l->n_links; i++) {
		struct link_entry *e = &l->links[i];
		e->watched = link_is_watched(l, e);
		e->ephemeral = link_glob_any(l->ephemeral_kinds, e->kind[0] ? e->kind : "none");
		if (!e->watched)
			e->down_pending = false;
	}
	return 0;
}

static int link_init(struct vigil_ctx *ctx, const struct vigil_section *sec, void **ret_data)
{
	_cleanup_(link_mon_freep) struct link_mon *l = calloc(1, sizeof(*l));
	int r;

	if (!l)
		return -ENOMEM;
	l->ctx = ctx;
	l->ethtool_fd = -1;
	r = link_configure(l, sec);
	if (r < 0)
		return r;
	if (vigil_replay_mode(ctx)) {
		*ret_data = TAKE_PTR(l);
		return 0;
	}
	r = link_open_sockets(l);
	if (r < 0)
		return r;
	r = sd_event_add_io(vigil_loop(ctx), &l->io, nl_socket_get_fd(l->ev_sk), EPOLLIN, link_on_io, l);
	if (r < 0)
		return vigil_log_errno(ctx, LOG_ERR, r, "cannot watch the rtnetlink socket");
	(void)sd_event_source_set_description(l->io, "link-netlink");
	r = sd_event_add_time(vigil_loop(ctx), &l->timer, CLOCK_MONOTONIC, UINT64_MAX, 10 * USEC_PER_MSEC,
			      link_on_timer, l);
	if (r < 0)
		return vigil_log_errno(ctx, LOG_ERR, r, "cannot add the link timer");
	(void)sd_event_source_set_enabled(l->timer, SD_EVENT_OFF);
	(void)sd_event_source_set_description(l->timer, "link-debounce");
	/* subscribed before the dump, so no change falls between the two */
	r = link_resync(l, true);
	if (r < 0)
		return r;
	*ret_data = TAKE_PTR(l);
	return 0;
}

static int link_reload(struct vigil_ctx *ctx, void *data, const struct vigil_section *sec)
{
	struct link_mon *l = data;
	int r = link_configure(l, sec);
	if (r < 0)
		return r;
	link_arm_timer(l);
	return 0;
}

static int link_status(struct vigil_ctx *ctx, void *data, json_object *out)
{
	struct link_mon *l = data;
	json_object *links = json_object_new_array();
	size_t unwatched = 0;

	for (size_t i = 0; i < l->n_links; i++) {
		const struct link_entry *e = &l->links[i];
		if (!e->watched) {
			unwatched++;
			continue;
		}
		json_object *o = link_to_json(l, e);
		json_object_object_add(o, "up", json_object_new_boolean(e->up));
		json_object_object_add(o, "down_reported", json_object_new_boolean(e->down_reported));
		json_object_object_add(o, "down_pending", json_object_new_boolean(e->down_pending));
		json_object_object_add(o, "downs", json_object_new_int64((int64_t)e->downs));
		json_object_object_add(o, "ups", json_object_new_int64((int64_t)e->ups));
		json_object_object_add(o, "flaps", json_object_new_int64((int64_t)e->flaps));
		json_object_object_add(o, "changes", json_object_new_int64((int64_t)e->changes));
		json_object_array_add(links, o);
	}
	json_object_object_add(out, "links", links);
	json_object_object_add(out, "unwatched", json_object_new_int64((int64_t)unwatched));
	json_object_object_add(out, "messages", json_object_new_int64((int64_t)l->messages));
	json_object_object_add(out, "overruns", json_object_new_int64((int64_t)l->overruns));
	json_object_object_add(out, "resyncs", json_object_new_int64((int64_t)l->resyncs));
	json_object_object_add(out, "recv_errors", json_object_new_int64((int64_t)l->recv_errors));
	json_object_object_add(out, "events", json_object_new_int64((int64_t)l->events));
	json_object_object_add(out, "emit_errors", json_object_new_int64((int64_t)l->emit_errors));
	json_object_object_add(out, "added", json_object_new_int64((int64_t)l->added));
	json_object_object_add(out, "removed", json_object_new_int64((int64_t)l->removed));
	json_object_object_add(out, "churn_suppressed", json_object_new_int64((int64_t)l->suppressed));
	json_object_object_add(out, "rcvbuf", json_object_new_int(l->rcvbuf_actual));
	return 0;
}

static void link_fini(struct vigil_ctx *ctx, void *data)
{
	link_mon_free(data);
}

const struct vigil_plugin vigil_plugin = {
    .abi_version = VIGIL_PLUGIN_ABI_VERSION,
    .kind = VIGIL_PLUGIN_MONITOR,
    .name = "link",
    .description = "network links: carrier/operstate, add/remove, flapping (rtnetlink)",
    .keys = link_keys,
    .init = link_init,
    .reload = link_reload,
    .status = link_status,
    .fini = link_fini,
};
