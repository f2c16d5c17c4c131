/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The manager object. One loop, one registry: plugins with their contexts,
 * action instances, the policy engine, the event queue. Events emitted while
 * the policy is dispatching (an action that itself emits) are queued and run
 * after the current one, so dispatch never recurses.
 */
#include "core.h"
#include "control.h"
#include "event.h"
#include "log.h"
#include "plugin.h"
#include "policy.h"
#include "state.h"
#include "util.h"
#include "worker.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-id128.h>
#include <systemd/sd-journal.h>

#define RECENT_MAX_DEFAULT 100
#define QUEUE_MAX 100000

enum plugin_state { P_LOADED, P_RUNNING, P_FAILED, P_DISABLED };
static const char *const plugin_state_names[] = {"loaded", "running", "failed", "disabled"};

struct plugin_entry;

struct vigil_ctx {
	struct vigil_core *core;
	struct plugin_entry *pe; /* NULL for the core's own ctx */
	const char *name;
};

struct plugin_entry {
	struct vigil_loaded_plugin *lp;
	struct vigil_ctx ctx;
	struct vigil_section *sec;   /* borrowed from the config, or own_sec */
	struct vigil_section *own_sec;
	void *data;
	enum plugin_state state;
	int error;
	uint64_t emitted;
};

struct action_entry {
	char *name;
	struct plugin_entry *pe;
	struct vigil_section *sec, *own_sec;
	void *inst;
	bool created;
	uint64_t runs, failures;
	int last_error;
};

struct flush_hook {
	struct vigil_ctx *ctx;
	vigil_flush_hook_fn fn;
	void *data;
};

struct flush_req {
	struct flush_req *next; /* core's list of unfinished requests */
	unsigned n_ref, pending;
	bool finished;
	struct vigil_core *core;
	struct vigil_ctx *ctx;
	vigil_worker_done_fn done;
	void *userdata;
	sd_event_source *timer;
};

struct vigil_flush_token {
	struct flush_req *req;
};

struct queued {
	struct vigil_event *ev;
};

struct vigil_core {
	struct vigil_options opt;
	sd_event *loop;
	struct vigil_config *config;
	struct vigil_section *agent_sec, *agent_own;
	char *config_file, *plugin_dir, *state_dir, *data_dir, *control_path;

	struct plugin_entry *plugins;
	size_t n_plugins;
	struct action_entry *actions;
	size_t n_actions;
	struct vigil_policy *policy;

	struct vigil_workers *workers;
	struct flush_hook *flush_hooks;
	size_t n_flush_hooks;
	struct flush_req *flush_reqs;

	struct vigil_ctx core_ctx;
	struct vigil_host host;
	char *hostname, *machine_id, *boot_id, *instance_id, *kernel;

	struct vigil_event **recent;
	size_t recent_max, recent_head, recent_n;
	struct vigil_event **queue;
	size_t queue_n, queue_cap;
	bool dispatching;

	sd_event_source *policy_timer, *watchdog_timer, *stop_timer;
	uint64_t stop_deadline;
	struct vigil_control *control;
	uint64_t started_mono;
	uint64_t n_emitted, n_dispatched, n_replay_printed, n_reloads, n_reload_failures, n_queue_dropped;
	json_object *by_kind;
	json_object *conditions; /* active conditions: name -> {kind, source, since} */
	uint64_t n_conditions_overflow;
	bool replay, started;
};

static const char *const log_levels[] = {"error", "warning", "notice", "info", "debug", NULL};

const struct vigil_config_key vigil_agent_keys[] = {
	{"plugins", VIGIL_CFG_LIST, NULL, .help = "plugins to load (default: every plugin in plugin_dir)"},
	{"plugin_dir", VIGIL_CFG_PATH, NULL, .help = "where plugins are loaded from"},
	{"state_dir", VIGIL_CFG_PATH, NULL, .help = "persistent state (cursors, spool, ledger)"},
	{"data_dir", VIGIL_CFG_PATH, NULL, .help = "shipped data (signatures)"},
	{"control_socket", VIGIL_CFG_PATH, NULL, .help = "unix socket for vigilctl"},
	{"instance_id", VIGIL_CFG_STRING, NULL, .help = "instance id (default: DMI product_uuid)"},
	{"lock_memory", VIGIL_CFG_BOOL, "yes", .help = "mlockall() at start"},
	{"dedup_window", VIGIL_CFG_DURATION, "60s", 0, (int64_t)(86400 * USEC_PER_SEC),
	 .help = "identical events within this window fold into one with a count (0 = off)"},
	{"dedup_max_entries", VIGIL_CFG_INT, "4096", 1, 1000000, .help = "bound of the dedup table"},
	{"recent_events", VIGIL_CFG_INT, "100", 1, 10000, .help = "events kept for vigilctl"},
	{"log_level", VIGIL_CFG_ENUM, "info", .enum_values = log_levels, .help = "maximum log level"},
	{NULL},
};

static const int log_level_prio[] = {LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG};

/* ---------------------------------------------------------------- plugin API */

sd_event *vigil_loop(struct vigil_ctx *ctx) { return ctx->core->loop; }
const char *vigil_plugin_name(struct vigil_ctx *ctx) { return ctx->name; }
const char *vigil_state_dir(struct vigil_ctx *ctx) { return ctx->core->replay ? NULL : ctx->core->state_dir; }
const char *vigil_data_dir(struct vigil_ctx *ctx) { return ctx->core->data_dir; }
bool vigil_replay_mode(struct vigil_ctx *ctx) { return ctx->core->replay; }
bool vigil_foreground(struct vigil_ctx *ctx) { return ctx->core->opt.foreground; }
const struct vigil_host *vigil_host(struct vigil_ctx *ctx) { return &ctx->core->host; }

uint64_t vigil_now(struct vigil_ctx *ctx, clockid_t clock)
{
	uint64_t t = 0;
	if (sd_event_now(ctx->core->loop, clock, &t) < 0) {
		struct timespec ts;
		clock_gettime(clock, &ts);
		t = (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / NSEC_PER_USEC;
	}
	return t;
}

void vigil_log(struct vigil_ctx *ctx, int prio, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vigil_logv_prefix(ctx->pe ? ctx->name : NULL, prio, fmt, ap);
	va_end(ap);
}

int vigil_log_errno(struct vigil_ctx *ctx, int prio, int err, const char *fmt, ...)
{
	va_list ap;
	err = err < 0 ? -err : err;
	errno = err;
	va_start(ap, fmt);
	vigil_logv_prefix(ctx->pe ? ctx->name : NULL, prio, fmt, ap);
	va_end(ap);
	return -err;
}

int vigil_worker_submit(struct vigil_ctx *ctx, vigil_worker_fn fn, void *arg, void (*free_arg)(void *),
			uint64_t timeout_usec, vigil_worker_done_fn done, void *userdata)
{
	return vigil_workers_submit(ctx->core->workers, ctx, fn, arg, free_arg, timeout_usec, done, userdata);
}

/* ---------------------------------------------------------------- flush */

int vigil_flush_register(struct vigil_ctx *ctx, vigil_flush_hook_fn hook, void *data)
{
	struct vigil_core *c = ctx->core;
	struct flush_hook *n = realloc(c->flush_hooks, (c->n_flush_hooks + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->flush_hooks = n;
	c->flush_hooks[c->n_flush_hooks++] = (struct flush_hook){ctx, hook, data};
	return 0;
}

static void flush_req_unref(struct flush_req *r)
{
	if (--r->n_ref > 0)
		return;
	sd_event_source_disable_unref(r->timer);
	free(r);
}

static void flush_unlink(struct flush_req *r)
{
	for (struct flush_req **p = &r->core->flush_reqs; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
}

static void flush_finish(struct flush_req *r, int result)
{
	if (r->finished)
		return;
	r->finished = true;
	flush_unlink(r);
	r->timer = sd_event_source_disable_unref(r->timer);
	if (r->done)
		r->done(r->ctx, result, r->userdata);
}

void vigil_flush_done(struct vigil_flush_token *t)
{
	if (!t)
		return;
	struct flush_req *r = t->req;
	free(t);
	if (r->pending > 0 && --r->pending == 0)
		flush_finish(r, 0);
	flush_req_unref(r);
}

static int on_flush_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct flush_req *r = userdata;
	flush_finish(r, -ETIMEDOUT);
	return 0;
}

static int on_flush_nohooks(sd_event_source *s, void *userdata)
{
	struct flush_req *r = userdata;
	sd_event_source_disable_unref(s);
	flush_finish(r, 0);
	flush_req_unref(r);
	return 0;
}

int vigil_flush_request(struct vigil_ctx *ctx, uint64_t timeout_usec, vigil_worker_done_fn done, void *userdata)
{
	struct vigil_core *c = ctx->core;
	struct flush_req *r = calloc(1, sizeof(*r));
	int rc;
	if (!r)
		return -ENOMEM;
	*r = (struct flush_req){.n_ref = 1, .core = c, .ctx = ctx, .done = done, .userdata = userdata,
				.next = c->flush_reqs};
	c->flush_reqs = r;
	uint64_t deadline = vigil_now(ctx, CLOCK_MONOTONIC) + timeout_usec;
	if (c->n_flush_hooks == 0) {
		/* Complete from the loop, never from inside the caller. */
		rc = sd_event_add_defer(c->loop, NULL, on_flush_nohooks, r);
		if (rc < 0) {
			flush_unlink(r);
			free(r);
		}
		return rc;
	}
	rc = sd_event_add_time(c->loop, &r->timer, CLOCK_MONOTONIC, deadline, 0, on_flush_timeout, r);
	if (rc < 0) {
		flush_unlink(r);
		free(r);
		return rc;
	}
	r->pending = (unsigned)c->n_flush_hooks;
	r->n_ref += (unsigned)c->n_flush_hooks;
	for (size_t i = 0; i < c->n_flush_hooks; i++) {
		struct vigil_flush_token *t = malloc(sizeof(*t));
		if (!t) {
			r->pending--;
			flush_req_unref(r);
			continue;
		}
		t->req = r;
		c->flush_hooks[i].fn(c->flush_hooks[i].ctx, c->flush_hooks[i].data, deadline, t);
	}
	if (r->pending == 0)
		flush_finish(r, 0);
	flush_req_unref(r);
	return 0;
}

/* ---------------------------------------------------------------- events */

static const char *prio_of(enum vigil_severity s)
{
	switch (s) {
	case VIGIL_SEV_CRITICAL:
		return "2";
	case VIGIL_SEV_WARNING:
		return "4";
	case VIGIL_SEV_NOTICE:
		return "5";
	default:
		return "6";
	}
}

/* A stable MESSAGE_ID per kind: a fixed namespace id mixed with the kind. */
static void message_id(const char *kind, char out[static 33])
{
	static const uint8_t ns[16] = {0x5c, 0x3e, 0x0a, 0x41, 0x7b, 0x2d, 0x4e, 0x19,
				       0x8f, 0x60, 0x93, 0x1b, 0xd2, 0x47, 0xa5, 0x0c};
	uint64_t h1 = 1469598103934665603ULL, h2 = 0x9e3779b97f4a7c15ULL;
	sd_id128_t id;
	for (const char *p = kind; *p; p++) {
		h1 = (h1 ^ (unsigned char)*p) * 1099511628211ULL;
		h2 = (h2 ^ (unsigned char)*p) * 0x100000001b3ULL + 7;
	}
	for (int i = 0; i < 8; i++) {
		id.bytes[i] = ns[i] ^ (uint8_t)(h1 >> (8 * i));
		id.bytes[8 + i] = ns[8 + i] ^ (uint8_t)(h2 >> (8 * i));
	}
	sd_id128_to_string(id, out);
}

static void print_event_line(struct vigil_core *c, struct vigil_event *ev)
{
	_cleanup_free_ char *j = vigil_event_to_json_string(ev);
	if (!j)
		return;
	fputs(j, stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

/* The built-in `log` action. */
static void action_log(struct vigil_core *c, const char *rule, struct vigil_event *ev)
{
	if (c->opt.foreground) {
		print_event_line(c, ev);
		return;
	}
	_cleanup_free_ char *j = vigil_event_to_json_string(ev);
	char mid[33];
	message_id(vigil_event_kind(ev), mid);
	int r = sd_journal_send("MESSAGE=%s", vigil_event_summary(ev), "PRIORITY=%s",
				prio_of(vigil_event_severity(ev)), "MESSAGE_ID=%s", mid, "SYSLOG_IDENTIFIER=vigild",
				"VIGIL_KIND=%s", vigil_event_kind(ev), "VIGIL_EVENT_ID=%s", vigil_event_id(ev),
				"VIGIL_SEVERITY=%s", vigil_severity_to_string(vigil_event_severity(ev)),
				"VIGIL_RULE=%s", rule, "VIGIL_COUNT=%u", vigil_event_count(ev), "VIGIL_EVENT_JSON=%s",
				j ? j : "", NULL);
	if (r < 0)
		fprintf(stderr, "vigild: event: %s\n", j ? j : vigil_event_summary(ev));
}

static void run_action(struct vigil_core *c, struct action_entry *a, struct vigil_event *ev)
{
	if (!a->created)
		return;
	a->runs++;
	int r = a->pe->lp->desc->action_run(&a->pe->ctx, a->inst, ev);
	if (r < 0) {
		a->failures++;
		a->last_error = r;
		vigil_log_prefix(a->pe->ctx.name, LOG_WARNING, "action %s failed on %s event %s: %s", a->name,
				 vigil_event_kind(ev), vigil_event_id(ev), strerror(-r));
	}
}

static void dispatch(void *ud, const char *rule, const char *const *actions, size_t n_actions,
		     struct vigil_event *ev)
{
	struct vigil_core *c = ud;
	c->n_dispatched++;
	for (size_t i = 0; i < n_actions; i++) {
		const char *name = actions[i];
		if (streq(name, "log")) {
			action_log(c, rule, ev);
			continue;
		}
		/* A plugin name runs every instance of that type. */
		for (size_t j = 0; j < c->n_actions; j++) {
			struct action_entry *a = &c->actions[j];
			if (streq(a->name, name) || streq(a->pe->lp->desc->name, name))
				run_action(c, a, ev);
		}
	}
}

static int on_policy_timer(sd_event_source *s, uint64_t usec, void *userdata);

static void policy_rearm(struct vigil_core *c, uint64_t next)
{
	if (!next) {
		if (c->policy_timer)
			sd_event_source_set_enabled(c->policy_timer, SD_EVENT_OFF);
		return;
	}
	if (!c->policy_timer) {
		if (sd_event_add_time(c->loop, &c->policy_timer, CLOCK_MONOTONIC, next, USEC_PER_SEC, on_policy_timer,
				      c) < 0)
			return;
		(void)sd_event_source_set_description(c->policy_timer, "policy-dedup");
		return;
	}
	sd_event_source_set_time(c->policy_timer, next);
	sd_event_source_set_enabled(c->policy_timer, SD_EVENT_ONESHOT);
}

static int on_policy_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct vigil_core *c = userdata;
	c->dispatching = true;
	uint64_t next = vigil_policy_tick(c->policy, vigil_now(&c->core_ctx, CLOCK_MONOTONIC), dispatch, c);
	c->dispatching = false;
	policy_rearm(c, next);
	return 0;
}

static void drain_queue(struct vigil_core *c)
{
	if (c->dispatching)
		return;
	c->dispatching = true;
	for (size_t i = 0; i < c->queue_n; i++) {
		struct vigil_event *ev = c->queue[i];
		c->queue[i] = NULL;
		vigil_policy_submit(c->policy, ev, vigil_now(&c->core_ctx, CLOCK_MONOTONIC), dispatch, c);
		vigil_event_unref(ev);
	}
	c->queue_n = 0;
	c->dispatching = false;
	policy_rearm(c, vigil_policy_tick(c->policy, vigil_now(&c->core_ctx, CLOCK_MONOTONIC), dispatch, c));
}

static void recent_add(struct vigil_core *c, struct vigil_event *ev)
{
	if (!c->recent_max)
		return;
	size_t slot = (c->recent_head + c->recent_n) % c->recent_max;
	if (c->recent_n == c->recent_max) {
		vigil_event_unref(c->recent[c->recent_head]);
		c->recent_head = (c->recent_head + 1) % c->recent_max;
		slot = (c->recent_head + c->recent_n - 1) % c->recent_max;
	} else
		c->recent_n++;
	c->recent[slot] = vigil_event_ref(ev);
}

/* Conditions raised and not yet cleared, whoever raised them: kernel
 * reports are explained with them (a hung task while a virtio disk's
 * backend is lost), vigilctl status lists them. Bounded. */
#define CONDITIONS_MAX 1024

static void conditions_track(struct vigil_core *c, struct vigil_event *ev)
{
	const char *name = vigil_event_get_str(ev, "condition");
	json_object *active = vigil_event_get(ev, "active");

	if (!name || !*name || !active || !json_object_is_type(active, json_type_boolean))
		return;
	if (!c->conditions && !(c->conditions = json_object_new_object()))
		return;
	if (!json_object_get_boolean(active)) {
		json_object_object_del(c->conditions, name);
		return;
	}
	if (json_object_object_get_ex(c->conditions, name, NULL))
		return; /* still active: keep when it began */
	if (json_object_object_length(c->conditions) >= CONDITIONS_MAX) {
		c->n_conditions_overflow++;
		return;
	}
	json_object *o = json_object_new_object();
	if (!o)
		return;
	json_object_object_add(o, "kind", json_object_new_string(vigil_event_kind(ev)));
	json_object_object_add(o, "source", json_object_new_string(strempty(vigil_event_get_str(ev, "source"))));
	json_object_object_add(o, "since_monotonic_usec",
			       json_object_new_int64((int64_t)vigil_now(&c->core_ctx, CLOCK_MONOTONIC)));
	json_object_object_add(c->conditions, name, o);
}

json_object *vigil_active_conditions(struct vigil_ctx *ctx)
{
	struct vigil_core *c = ctx->core;
	json_object *a;

	if (!c->conditions || json_object_object_length(c->conditions) == 0 || !(a = json_object_new_array()))
		return NULL;
	json_object_object_foreach(c->conditions, name, info) {
		(void)info;
		json_object_array_add(a, json_object_new_string(name));
	}
	return a;
}

int vigil_event_finalize(struct vigil_ctx *ctx, struct vigil_event *ev)
{
	return vigil_event_stamp(ev, ctx->name, &ctx->core->host, vigil_now(ctx, CLOCK_REALTIME),
				 vigil_now(ctx, CLOCK_MONOTONIC));
}

json_object *vigil_agent_summary(struct vigil_ctx *ctx)
{
	struct vigil_core *c = ctx->core;
	json_object *o = json_object_new_object(), *p = json_object_new_object();
	if (!o || !p) {
		json_object_put(o);
		json_object_put(p);
		return NULL;
	}
	json_object_object_add(o, "version", json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(o, "uptime_s", json_object_new_int64((int64_t)((vigil_now(ctx, CLOCK_MONOTONIC) -
										 c->started_mono) / USEC_PER_SEC)));
	for (size_t i = 0; i < c->n_plugins; i++)
		json_object_object_add(p, c->plugins[i].lp->desc->name,
				       json_object_new_string(plugin_state_names[c->plugins[i].state]));
	json_object_object_add(o, "plugins", p);
	json_object_object_add(o, "events_emitted", json_object_new_int64((int64_t)c->n_emitted));
	return o;
}

int vigil_emit(struct vigil_ctx *ctx, struct vigil_event *ev)
{
	struct vigil_core *c = ctx->core;
	int r;

	if (!ev)
		return -EINVAL;
	r = vigil_event_finalize(ctx, ev);
	if (r < 0) {
		vigil_event_unref(ev);
		return r;
	}
	c->n_emitted++;
	if (ctx->pe)
		ctx->pe->emitted++;
	json_object *cnt = NULL;
	if (json_object_object_get_ex(c->by_kind, vigil_event_kind(ev), &cnt))
		json_object_set_int64(cnt, json_object_get_int64(cnt) + 1);
	else
		json_object_object_add(c->by_kind, vigil_event_kind(ev), json_object_new_int64(1));
	recent_add(c, ev);
	conditions_track(c, ev);

	if (c->replay) {
		print_event_line(c, ev);
		c->n_replay_printed++;
		vigil_event_unref(ev);
		return 0;
	}
	if (c->queue_n >= QUEUE_MAX) {
		/* Only reachable if actions emit without bound; count, never hang. */
		c->n_queue_dropped++;
		vigil_event_unref(ev);
		return -ENOBUFS;
	}
	if (c->queue_n == c->queue_cap) {
		size_t ncap = c->queue_cap ? c->queue_cap * 2 : 16;
		struct vigil_event **n = realloc(c->queue, ncap * sizeof(*n));
		if (!n) {
			c->n_queue_dropped++;
			vigil_event_unref(ev);
			return -ENOMEM;
		}
		c->queue = n;
		c->queue_cap = ncap;
	}
	c->queue[c->queue_n++] = ev;
	drain_queue(c);
	return 0;
}

/* ---------------------------------------------------------------- host */

static char *read_id128(int (*get)(sd_id128_t *), const char *fallback)
{
	sd_id128_t id;
	char s[SD_ID128_STRING_MAX];
	if (get(&id) >= 0)
		return strdup(sd_id128_to_string(id, s));
	char *line = NULL;
	if (fallback && vigil_read_line(AT_FDCWD, fallback, &line) >= 0 && *line) {
		/* boot_id is printed as a UUID; normalise to 32 hex. */
		char *o = line;
		for (char *p = line; *p; p++)
			if (*p != '-')
				*o++ = *p;
		*o = 0;
		return line;
	}
	free(line);
	return NULL;
}

static void host_load(struct vigil_core *c)
{
	char hn[256] = "";
	struct utsname u;

	if (gethostname(hn, sizeof(hn) - 1) == 0)
		c->hostname = strdup(hn);
	c->machine_id = read_id128(sd_id128_get_machine, "/etc/machine-id");
	c->boot_id = read_id128(sd_id128_get_boot, "/proc/sys/kernel/random/boot_id");
	if (uname(&u) == 0)
		c->kernel = strdup(u.release);
	const char *cfg_id = c->agent_sec ? vigil_cfg_string(c->agent_sec, "instance_id") : NULL;
	if (cfg_id)
		c->instance_id = strdup(cfg_id);
	else {
		char *line = NULL;
		if (vigil_read_line(AT_FDCWD, "/sys/class/dmi/id/product_uuid", &line) >= 0 && *line)
			c->instance_id = line;
		else
			free(line);
	}
	c->host = (struct vigil_host){c->hostname, c->machine_id, c->boot_id, c->instance_id, c->kernel};
}

/* ---------------------------------------------------------------- config */

static struct plugin_entry *plugin_find(struct vigil_core *c, const char *name)
{
	for (size_t i = 0; i < c->n_plugins; i++)
		if (streq(c->plugins[i].lp->desc->name, name))
			return &c->plugins[i];
	return NULL;
}

/* The plugin type of an [action NAME] section: `type =`, else the prefix of
 * NAME before the first '-'. */
static const char *action_type(const struct vigil_section *s, char *buf, size_t size)
{
	const char *t = NULL;
	for (size_t i = 0; i < vigil_cfg_count(s); i++)
		if (streq(vigil_cfg_key_at(s, i), "type"))
			t = vigil_cfg_value_at(s, i);
	if (t)
		return t;
	vigil_strlcpy(buf, vigil_section_label(s), size);
	buf[strcspn(buf, "-")] = 0;
	return buf;
}

/* Validate an action section: the plugin's action keys plus `type`. */
static int validate_action_section(struct vigil_section *s, const struct vigil_plugin *d,
				   struct vigil_config_errors *errs)
{
	size_t n = 0;
	for (const struct vigil_config_key *k = d->action_keys; k && k->name; k++)
		n++;
	_cleanup_free_ struct vigil_config_key *keys = calloc(n + 2, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	if (n)
		memcpy(keys, d->action_keys, n * sizeof(*keys));
	keys[n] = (struct vigil_config_key){"type", VIGIL_CFG_STRING, NULL, .help = "action plugin"};
	int r = vigil_section_validate(s, keys, errs);
	/* keys dies here: bind the plugin's own table for the getters (`type`
	 * is never read through them). */
	vigil_section_bind(s, d->action_keys);
	return r;
}

struct check_ud {
	struct vigil_core *c;
	const struct vigil_config *cfg;
};

static bool is_action_name(const char *name, void *userdata)
{
	struct check_ud *u = userdata;
	char buf[128];
	if (streq(name, "log"))
		return true;
	struct plugin_entry *pe = plugin_find(u->c, name);
	if (pe && (pe->lp->desc->kind & VIGIL_PLUGIN_ACTION))
		return true;
	for (size_t i = 0; i < vigil_config_n_sections(u->cfg); i++) {
		struct vigil_section *s = vigil_config_section_at(u->cfg, i);
		if (streq(vigil_section_type(s), "action") && streq(vigil_section_label(s), name)) {
			pe = plugin_find(u->c, action_type(s, buf, sizeof(buf)));
			return pe && (pe->lp->desc->kind & VIGIL_PLUGIN_ACTION);
		}
	}
	return false;
}

/* [agent] plugins: the plugins to run; an empty list means all of them. */
static bool plugin_wanted(const struct vigil_section *agent, const char *name)
{
	const char *const *wanted;
	size_t n = agent ? vigil_cfg_list(agent, "plugins", &wanted) : 0;
	for (size_t i = 0; i < n; i++)
		if (streq(wanted[i], name))
			return true;
	return n == 0;
}

/* Validate every section of cfg against the loaded plugins; build the policy. */
static int validate_config(struct vigil_core *c, struct vigil_config *cfg, struct vigil_policy **ret_policy,
			   struct vigil_config_errors *errs)
{
	int failed = 0;
	char buf[128];

	for (size_t i = 0; i < vigil_config_n_sections(cfg); i++) {
		struct vigil_section *s = vigil_config_section_at(cfg, i);
		const char *type = vigil_section_type(s);
		if (streq(type, "agent")) {
			if (*vigil_section_label(s)) {
				vigil_config_errors_add(errs, "%s: [%s]: [agent] takes no label", vigil_section_where(s),
							vigil_section_name(s));
				failed = -EINVAL;
			} else if (vigil_section_validate(s, vigil_agent_keys, errs) < 0)
				failed = -EINVAL;
		} else if (streq(type, "rule"))
			continue; /* the policy validates rules below */
		else if (streq(type, "action")) {
			const char *t = action_type(s, buf, sizeof(buf));
			struct plugin_entry *pe = plugin_find(c, t);
			if (!*vigil_section_label(s) || streq(vigil_section_label(s), "log")) {
				vigil_config_errors_add(errs, "%s: [%s]: an action section needs a name other than 'log'",
							vigil_section_where(s), vigil_section_name(s));
				failed = -EINVAL;
			} else if (!pe || !(pe->lp->desc->kind & VIGIL_PLUGIN_ACTION)) {
				vigil_config_errors_add(errs, "%s: [%s]: unknown action type '%s'", vigil_section_where(s),
							vigil_section_name(s), t);
				failed = -EINVAL;
			} else if (validate_action_section(s, pe->lp->desc, errs) < 0)
				failed = -EINVAL;
		} else {
			struct plugin_entry *pe = *vigil_section_label(s) ? NULL : plugin_find(c, type);
			if (!pe) {
				vigil_config_errors_add(errs, "%s: [%s]: unknown section (no such plugin loaded)",
							vigil_section_where(s), vigil_section_name(s));
				failed = -EINVAL;
			} else if (vigil_section_validate(s, pe->lp->desc->keys, errs) < 0)
				failed = -EINVAL;
		}
	}
	struct vigil_section *agent = vigil_config_find(cfg, "agent");
	if (agent && c->plugins) { /* at start the loader checks the list itself */
		const char *const *wanted;
		size_t n = vigil_cfg_list(agent, "plugins", &wanted);
		for (size_t i = 0; i < n; i++)
			if (!plugin_find(c, wanted[i])) {
				vigil_config_errors_add(errs, "%s: [agent] plugins: plugin '%s' not found in %s "
							"(plugins are loaded at start: a new plugin file needs a restart)",
							vigil_section_where(agent), wanted[i], c->plugin_dir);
				failed = -EINVAL;
			}
	}
	uint64_t window = 60 * USEC_PER_SEC;
	size_t dmax = 4096;
	if (agent) {
		window = vigil_cfg_duration(agent, "dedup_window");
		dmax = (size_t)vigil_cfg_int(agent, "dedup_max_entries");
	}
	struct check_ud u = {c, cfg};
	struct vigil_policy *p = NULL;
	int r = vigil_policy_new(cfg, window, dmax, is_action_name, &u, &p, errs);
	if (r < 0)
		return r;
	if (failed < 0) {
		vigil_policy_free(p);
		return failed;
	}
	*ret_policy = p;
	return 0;
}

static char *default_path(struct vigil_core *c, const char *installed, const char *uninstalled_rel)
{
	char *p = NULL;
	if (c->opt.uninstalled) {
		if (asprintf(&p, "%s", uninstalled_rel) < 0)
			return NULL;
		return p;
	}
	return strdup(installed);
}

static void report_errors(struct vigil_config_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		log_error("%s", errs->msgs[i]);
}

static int load_plugins(struct vigil_core *c)
{
	char **files = NULL;
	size_t n = 0;
	const char *const *wanted = NULL;
	size_t n_wanted = c->agent_sec ? vigil_cfg_list(c->agent_sec, "plugins", &wanted) : 0;
	int r = vigil_plugin_dir_list(c->plugin_dir, &files, &n);
	if (r < 0) {
		log_warning_errno(r, "cannot list plugin directory %s, running without plugins: %m", c->plugin_dir);
		files = NULL;
		n = 0;
	}
	c->plugins = calloc(n ? n : 1, sizeof(*c->plugins));
	if (!c->plugins) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char err[512];
		struct vigil_loaded_plugin *lp = NULL;
		r = vigil_plugin_load(files[i], &lp, err, sizeof(err));
		if (r < 0) {
			/* A refused or broken plugin file is never loaded; the rest run. */
			log_error("%s", err);
			continue;
		}
		if (plugin_find(c, lp->desc->name)) {
			log_error("%s: plugin '%s' already loaded, ignoring", files[i], lp->desc->name);
			vigil_plugin_unload(lp);
			continue;
		}
		struct plugin_entry *pe = &c->plugins[c->n_plugins++];
		*pe = (struct plugin_entry){.lp = lp, .state = P_LOADED};
		pe->ctx = (struct vigil_ctx){c, pe, lp->desc->name};
		if (!plugin_wanted(c->agent_sec, lp->desc->name))
			pe->state = P_DISABLED;
	}
	for (size_t w = 0; w < n_wanted; w++)
		if (!plugin_find(c, wanted[w])) {
			log_error("[agent] plugins: plugin '%s' not found in %s", wanted[w], c->plugin_dir);
			r = -ENOENT;
			goto out;
		}
	r = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
	return r;
}

static int resolve_paths(struct vigil_core *c)
{
	const struct vigil_section *a = c->agent_sec;
#define PICK(field, optname, key, installed, uninstalled)                                                          \
	do {                                                                                                   \
		const char *v = c->opt.optname ? c->opt.optname : (a ? vigil_cfg_string(a, key) : NULL);               \
		c->field = v ? strdup(v) : default_path(c, installed, uninstalled);                            \
		if (!c->field)                                                                                 \
			return -ENOMEM;                                                                        \
	} while (0)
	PICK(plugin_dir, plugin_dir, "plugin_dir", VIGIL_PLUGIN_DIR, VIGIL_BUILD_DIR "/plugins/.libs");
	PICK(state_dir, state_dir, "state_dir", VIGIL_STATE_DIR, VIGIL_STATE_DIR);
	PICK(data_dir, data_dir, "data_dir", VIGIL_DATA_DIR, VIGIL_SOURCE_DIR "/conf");
	PICK(control_path, control_socket, "control_socket", VIGIL_RUN_DIR "/control", VIGIL_RUN_DIR "/control");
#undef PICK
	return 0;
}

int vigil_core_load(struct vigil_core *c)
{
	struct vigil_config_errors errs = {0};
	int r;

	c->config_file = c->opt.config_file ? strdup(c->opt.config_file)
					    : default_path(c, VIGIL_CONF_FILE, VIGIL_SOURCE_DIR "/conf/vigil.conf");
	if (!c->config_file)
		return -ENOMEM;
	r = vigil_config_load(c->config_file, c->opt.conf_dir, &c->config, &errs);
	if (r == -ENOENT && c->replay && !c->opt.config_file) {
		c->config = vigil_config_new(); /* replay works with no config at all */
		r = c->config ? 0 : -ENOMEM;
	}
	if (r == -ENOENT) {
		log_error("%s: configuration file not found", c->config_file);
		return r;
	}
	if (r < 0) {
		report_errors(&errs);
		vigil_config_errors_clear(&errs);
		return r;
	}
	c->agent_sec = vigil_config_find(c->config, "agent");
	if (c->agent_sec && vigil_section_validate(c->agent_sec, vigil_agent_keys, &errs) < 0) {
		report_errors(&errs);
		vigil_config_errors_clear(&errs);
		return -EINVAL;
	}
	if (!c->agent_sec) {
		c->agent_own = vigil_section_new_empty("agent", vigil_agent_keys);
		if (!c->agent_own)
			return -ENOMEM;
		c->agent_sec = c->agent_own;
	}
	vigil_log_set_max(log_level_prio[vigil_cfg_enum(c->agent_sec, "log_level")]);
	r = resolve_paths(c);
	if (r < 0)
		return r;
	r = load_plugins(c);
	if (r < 0)
		return r;
	r = validate_config(c, c->config, &c->policy, &errs);
	if (r < 0) {
		report_errors(&errs);
		vigil_config_errors_clear(&errs);
		return r;
	}
	c->recent_max = (size_t)vigil_cfg_int(c->agent_sec, "recent_events");
	c->recent = calloc(c->recent_max, sizeof(*c->recent));
	if (!c->recent)
		return -ENOMEM;
	host_load(c);
	return 0;
}

int vigil_core_check_file(struct vigil_core *c, const char *file, char **ret_errors)
{
	struct vigil_config_errors errs = {0};
	struct vigil_config *cfg = NULL;
	struct vigil_policy *p = NULL;
	int r = vigil_config_load(file, NULL, &cfg, &errs);
	if (r == -ENOENT)
		vigil_config_errors_add(&errs, "%s: configuration file not found", file);
	if (r >= 0) {
		r = validate_config(c, cfg, &p, &errs);
		vigil_policy_free(p);
	}
	vigil_config_free(cfg);
	*ret_errors = errs.n ? vigil_config_errors_join(&errs) : NULL;
	vigil_config_errors_clear(&errs);
	return r;
}

/* ---------------------------------------------------------------- lifecycle */

static struct vigil_section *plugin_section(struct vigil_core *c, struct plugin_entry *pe)
{
	struct vigil_section *s = vigil_config_find(c->config, pe->lp->desc->name);
	if (s)
		return s;
	if (!pe->own_sec)
		pe->own_sec = vigil_section_new_empty(pe->lp->desc->name, pe->lp->desc->keys);
	return pe->own_sec;
}

static void plugin_stop(struct vigil_core *c, struct plugin_entry *pe)
{
	if (pe->state != P_RUNNING)
		return;
	vigil_workers_detach_ctx(c->workers, &pe->ctx);
	/* Its pending flush requests complete into nothing. */
	for (struct flush_req *r = c->flush_reqs; r; r = r->next)
		if (r->ctx == &pe->ctx)
			r->done = NULL;
	/* Drop its flush hooks. */
	size_t o = 0;
	for (size_t i = 0; i < c->n_flush_hooks; i++)
		if (c->flush_hooks[i].ctx != &pe->ctx)
			c->flush_hooks[o++] = c->flush_hooks[i];
	c->n_flush_hooks = o;
	if (pe->lp->desc->fini)
		pe->lp->desc->fini(&pe->ctx, pe->data);
	pe->data = NULL;
	pe->state = P_LOADED;
}

static int plugin_start(struct vigil_core *c, struct plugin_entry *pe)
{
	if (pe->state == P_DISABLED)
		return 0;
	pe->sec = plugin_section(c, pe);
	if (!pe->sec)
		return -ENOMEM;
	int r = pe->lp->desc->init(&pe->ctx, pe->sec, &pe->data);
	if (r < 0) {
		pe->state = P_FAILED;
		pe->error = r;
		return log_error_errno(r, "plugin %s failed to start: %m", pe->lp->desc->name);
	}
	pe->state = P_RUNNING;
	pe->error = 0;
	return 0;
}

static void actions_free(struct vigil_core *c)
{
	for (size_t i = 0; i < c->n_actions; i++) {
		struct action_entry *a = &c->actions[i];
		if (a->created && a->pe->lp->desc->action_free)
			a->pe->lp->desc->action_free(&a->pe->ctx, a->inst);
		vigil_section_free(a->own_sec);
		free(a->name);
	}
	free(c->actions);
	c->actions = NULL;
	c->n_actions = 0;
}

static int action_add(struct vigil_core *c, struct plugin_entry *pe, const char *name, struct vigil_section *sec)
{
	struct action_entry *n = realloc(c->actions, (c->n_actions + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->actions = n;
	struct action_entry *a = &c->actions[c->n_actions];
	*a = (struct action_entry){.pe = pe, .sec = sec, .name = strdup(name)};
	if (!a->name)
		return -ENOMEM;
	if (!sec) {
		a->own_sec = a->sec = vigil_section_new_empty(name, pe->lp->desc->action_keys);
		if (!a->sec) {
			free(a->name);
			return -ENOMEM;
		}
	}
	c->n_actions++;
	if (pe->state != P_RUNNING) {
		log_warning("action %s: plugin %s is not running, the action is inactive", name, pe->lp->desc->name);
		return 0;
	}
	int r = pe->lp->desc->action_new(&pe->ctx, pe->data, name, a->sec, &a->inst);
	if (r < 0) {
		a->last_error = r;
		return log_error_errno(r, "action %s (%s) failed to start: %m", name, pe->lp->desc->name);
	}
	a->created = true;
	return 0;
}

static int actions_create(struct vigil_core *c)
{
	char buf[128];
	int failed = 0;
	for (size_t i = 0; i < vigil_config_n_sections(c->config); i++) {
		struct vigil_section *s = vigil_config_section_at(c->config, i);
		if (!streq(vigil_section_type(s), "action"))
			continue;
		struct plugin_entry *pe = plugin_find(c, action_type(s, buf, sizeof(buf)));
		if (pe && action_add(c, pe, vigil_section_label(s), s) < 0)
			failed = -EINVAL;
	}
	for (size_t i = 0; i < c->n_plugins; i++) {
		struct plugin_entry *pe = &c->plugins[i];
		const struct vigil_plugin *d = pe->lp->desc;
		if (!(d->kind & VIGIL_PLUGIN_ACTION) || !d->default_instance || pe->state == P_DISABLED)
			continue;
		bool have = false;
		for (size_t j = 0; j < c->n_actions; j++)
			have = have || streq(c->actions[j].name, d->name);
		if (!have && action_add(c, pe, d->name, NULL) < 0)
			failed = -EINVAL;
	}
	return failed;
}

static bool all_live(struct vigil_core *c)
{
	for (size_t i = 0; i < c->n_plugins; i++) {
		struct plugin_entry *pe = &c->plugins[i];
		if (pe->state == P_RUNNING && pe->lp->desc->live && !pe->lp->desc->live(&pe->ctx, pe->data)) {
			log_warning("plugin %s reports it is not live: withholding the watchdog ping",
				    pe->lp->desc->name);
			return false;
		}
	}
	return true;
}

static int on_watchdog(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct vigil_core *c = userdata;
	uint64_t interval = 0;
	if (all_live(c))
		sd_notify(false, "WATCHDOG=1");
	sd_watchdog_enabled(false, &interval);
	/* usec is when this run was due (0 the first time): schedule from now. */
	sd_event_source_set_time(s, vigil_now(&c->core_ctx, CLOCK_MONOTONIC) + (interval ? interval / 2 : 10 * USEC_PER_SEC));
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

static void notify_status(struct vigil_core *c)
{
	unsigned running = 0, failed = 0;
	for (size_t i = 0; i < c->n_plugins; i++) {
		running += c->plugins[i].state == P_RUNNING;
		failed += c->plugins[i].state == P_FAILED;
	}
	sd_notifyf(false, "STATUS=%u plugins running, %u failed, %zu rules, %" PRIu64 " events", running, failed,
		   vigil_policy_n_rules(c->policy), c->n_emitted);
}

/* Stopping: jobs still out on workers (a state file being written, a spool
 * entry) get up to STOP_DRAIN_USEC to finish, so a clean stop does not lose
 * what they were saving. Jobs already past their own deadline (a dead disk)
 * are not waited for. */
#define STOP_DRAIN_USEC (5 * USEC_PER_SEC)

static int on_stop_poll(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct vigil_core *c = userdata;
	unsigned pending = vigil_workers_pending(c->workers);

	if (pending == 0 || usec >= c->stop_deadline) {
		if (pending)
			log_warning("stopping with %u worker job(s) unfinished", pending);
		sd_event_exit(c->loop, 0);
		return 0;
	}
	(void)sd_event_source_set_time(s, usec + 20 * USEC_PER_MSEC);
	(void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

static int on_term(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct vigil_core *c = userdata;
	uint64_t now = vigil_now(&c->core_ctx, CLOCK_MONOTONIC);

	if (c->stop_timer) { /* a second signal: stop now */
		sd_event_exit(c->loop, 0);
		return 0;
	}
	sd_notify(false, "STOPPING=1");
	log_info("received %s, stopping", strsignal((int)si->ssi_signo));
	c->stop_deadline = now + STOP_DRAIN_USEC;
	if (vigil_workers_pending(c->workers) == 0 ||
	    sd_event_add_time(c->loop, &c->stop_timer, CLOCK_MONOTONIC, now, 0, on_stop_poll, c) < 0)
		sd_event_exit(c->loop, 0);
	return 0;
}

static int on_hup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	(void)vigil_core_reload(userdata);
	return 0;
}

static void emit_agent_event(struct vigil_core *c, const char *kind, enum vigil_severity sev, const char *summary)
{
	struct vigil_event *ev = vigil_event_new(kind, sev);
	if (!ev)
		return;
	vigil_event_set_summary(ev, "%s", summary);
	vigil_event_set_str(ev, "version", PACKAGE_VERSION);
	vigil_emit(&c->core_ctx, ev);
}

int vigil_core_start(struct vigil_core *c)
{
	int r;
	sigset_t ss;

	if (vigil_cfg_bool(c->agent_sec, "lock_memory") && mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
		log_warning("mlockall failed, memory not locked (the reboot path may page from disk): %m");
	r = vigil_state_dir_prepare(c->state_dir);
	if (r < 0)
		return log_error_errno(r, "state directory %s unusable: %m", c->state_dir);
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	/* Children (exec hooks, distro tools) are reaped by sd_event_add_child,
	 * which needs SIGCHLD blocked in every thread: block it before any
	 * worker thread exists. */
	sigaddset(&ss, SIGCHLD);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	if ((r = sd_event_add_signal(c->loop, NULL, SIGTERM, on_term, c)) < 0 ||
	    (r = sd_event_add_signal(c->loop, NULL, SIGINT, on_term, c)) < 0 ||
	    (r = sd_event_add_signal(c->loop, NULL, SIGHUP, on_hup, c)) < 0)
		return log_error_errno(r, "cannot watch signals: %m");
	signal(SIGPIPE, SIG_IGN);

	for (size_t i = 0; i < c->n_plugins; i++)
		(void)plugin_start(c, &c->plugins[i]);
	(void)actions_create(c);

	r = vigil_control_new(c, c->control_path, &c->control);
	if (r < 0)
		log_warning_errno(r, "control socket %s unavailable, vigilctl will not work: %m", c->control_path);

	uint64_t wd = 0;
	if (sd_watchdog_enabled(false, &wd) > 0 && wd > 0) {
		r = sd_event_add_time(c->loop, &c->watchdog_timer, CLOCK_MONOTONIC, 0, 0, on_watchdog, c);
		if (r < 0)
			return log_error_errno(r, "cannot arm the watchdog timer: %m");
	}
	c->started = true;
	c->started_mono = vigil_now(&c->core_ctx, CLOCK_MONOTONIC);
	unsigned failed = 0, running = 0, disabled = 0;
	for (size_t i = 0; i < c->n_plugins; i++) {
		failed += c->plugins[i].state == P_FAILED;
		running += c->plugins[i].state == P_RUNNING;
		disabled += c->plugins[i].state == P_DISABLED;
	}
	log_info("vigil %s started: %u plugins running (%u failed, %u not enabled), %zu actions, %zu rules, state in %s",
		 PACKAGE_VERSION, running, failed, disabled, c->n_actions, vigil_policy_n_rules(c->policy), c->state_dir);
	emit_agent_event(c, "agent_started", VIGIL_SEV_INFO, "vigil agent started");
	sd_notify(false, "READY=1");
	notify_status(c);
	return 0;
}

int vigil_core_run(struct vigil_core *c)
{
	int r = sd_event_loop(c->loop);
	/* Actions first, as on reload: a plugin's fini frees what is left of
	 * its instances, and they must not be freed a second time. */
	actions_free(c);
	for (size_t i = c->n_plugins; i > 0; i--)
		plugin_stop(c, &c->plugins[i - 1]);
	return r;
}

int vigil_core_reload(struct vigil_core *c)
{
	struct vigil_config_errors errs = {0};
	struct vigil_config *cfg = NULL;
	struct vigil_policy *policy = NULL;
	int r;

	sd_notify(false, "RELOADING=1");
	c->n_reloads++;
	r = vigil_config_load(c->config_file, c->opt.conf_dir, &cfg, &errs);
	if (r == -ENOENT)
		vigil_config_errors_add(&errs, "%s: configuration file not found", c->config_file);
	if (r >= 0)
		r = validate_config(c, cfg, &policy, &errs);
	if (r < 0) {
		c->n_reload_failures++;
		report_errors(&errs);
		log_error("reload failed, keeping the running configuration");
		vigil_config_errors_clear(&errs);
		vigil_config_free(cfg);
		sd_notify(false, "READY=1");
		notify_status(c);
		return r;
	}
	/* Swap: actions go first (they belong to plugins), then each plugin
	 * reloads in place or restarts. */
	actions_free(c);
	struct vigil_config *old = c->config;
	c->config = cfg;
	c->agent_sec = vigil_config_find(cfg, "agent");
	if (!c->agent_sec)
		c->agent_sec = c->agent_own ? c->agent_own : (c->agent_own = vigil_section_new_empty("agent", vigil_agent_keys));
	vigil_log_set_max(log_level_prio[vigil_cfg_enum(c->agent_sec, "log_level")]);
	for (size_t i = 0; i < c->n_plugins; i++) {
		struct plugin_entry *pe = &c->plugins[i];
		struct vigil_section *old_own = pe->own_sec;
		bool want = plugin_wanted(c->agent_sec, pe->lp->desc->name);
		pe->own_sec = NULL;
		if (!want) {
			if (pe->state != P_DISABLED)
				log_info("plugin %s: no longer in [agent] plugins, stopping it", pe->lp->desc->name);
			plugin_stop(c, pe);
			pe->state = P_DISABLED;
		} else if (pe->state == P_DISABLED) {
			log_info("plugin %s: now in [agent] plugins, starting it", pe->lp->desc->name);
			pe->state = P_LOADED;
			(void)plugin_start(c, pe);
		} else if (pe->state == P_RUNNING && pe->lp->desc->reload) {
			pe->sec = plugin_section(c, pe);
			r = pe->sec ? pe->lp->desc->reload(&pe->ctx, pe->data, pe->sec) : -ENOMEM;
			if (r < 0) {
				log_error_errno(r, "plugin %s: reload failed, restarting it: %m", pe->lp->desc->name);
				plugin_stop(c, pe);
				(void)plugin_start(c, pe);
			}
		} else {
			plugin_stop(c, pe);
			(void)plugin_start(c, pe);
		}
		vigil_section_free(old_own);
	}
	(void)actions_create(c);
	vigil_policy_inherit(policy, c->policy);
	vigil_policy_free(c->policy);
	c->policy = policy;
	vigil_config_free(old);
	log_info("configuration reloaded: %zu actions, %zu rules", c->n_actions, vigil_policy_n_rules(c->policy));
	emit_agent_event(c, "agent_reloaded", VIGIL_SEV_INFO, "vigil configuration reloaded");
	sd_notify(false, "READY=1");
	notify_status(c);
	return 0;
}

int vigil_core_replay(struct vigil_core *c, const char *file)
{
	_cleanup_close_ int fd = -1;
	unsigned used = 0;
	int r = 0;

	if (streq(file, "-"))
		fd = dup(STDIN_FILENO);
	else
		fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return log_error_errno(errno, "%s: cannot open: %m", file);
	for (size_t i = 0; i < c->n_plugins; i++) {
		struct plugin_entry *pe = &c->plugins[i];
		if (!pe->lp->desc->replay || pe->state == P_DISABLED)
			continue;
		if (plugin_start(c, pe) < 0)
			return -EIO;
		if (used++ && lseek(fd, 0, SEEK_SET) < 0)
			return log_error_errno(errno, "%s: a second replay monitor needs a seekable file: %m", file);
		r = pe->lp->desc->replay(&pe->ctx, pe->data, fd);
		if (r < 0)
			log_error_errno(r, "%s: replay by %s failed: %m", file, pe->lp->desc->name);
		/* Let timers the plugin armed (quiet periods) run out. */
		while (sd_event_run(c->loop, 0) > 0)
			;
		plugin_stop(c, pe);
	}
	if (!used)
		return log_error_errno(ENOENT, "no loaded plugin can replay a saved log (is the kmsg plugin in %s?)",
				       c->plugin_dir);
	_cleanup_free_ char *kinds = strdup(json_object_to_json_string_ext(c->by_kind, JSON_C_TO_STRING_PLAIN));
	fprintf(stderr, "vigild: replay of %s: %" PRIu64 " events %s\n", file, c->n_replay_printed,
		kinds ? kinds : "");
	return r < 0 ? r : 0;
}

void vigil_core_list_keys(struct vigil_core *c, void (*print)(const char *section, const struct vigil_config_key *keys))
{
	char sec[64];
	for (size_t i = 0; i < c->n_plugins; i++) {
		const struct vigil_plugin *d = c->plugins[i].lp->desc;
		print(d->name, d->keys);
		if (d->kind & VIGIL_PLUGIN_ACTION) {
			snprintf(sec, sizeof(sec), "action %s-NAME", d->name);
			print(sec, d->action_keys);
		}
	}
}

/* ---------------------------------------------------------------- status */

sd_event *vigil_core_loop(struct vigil_core *c) { return c->loop; }

json_object *vigil_core_recent(struct vigil_core *c, size_t max)
{
	json_object *a = json_object_new_array();
	size_t skip = c->recent_n > max ? c->recent_n - max : 0;
	for (size_t i = skip; a && i < c->recent_n; i++) {
		json_object *e = vigil_event_to_json(c->recent[(c->recent_head + i) % c->recent_max]);
		if (e)
			json_object_array_add(a, e);
	}
	return a;
}

json_object *vigil_core_status(struct vigil_core *c)
{
	json_object *o = json_object_new_object(), *plugins = json_object_new_array(),
		    *actions = json_object_new_array(), *host = json_object_new_object();
	uint64_t now = vigil_now(&c->core_ctx, CLOCK_MONOTONIC);

	json_object_object_add(o, "version", json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(o, "pid", json_object_new_int((int)getpid()));
	json_object_object_add(o, "uptime_s", json_object_new_int64((int64_t)((now - c->started_mono) / USEC_PER_SEC)));
	json_object_object_add(o, "config", json_object_new_string(c->config_file));
	json_object_object_add(o, "state_dir", json_object_new_string(c->state_dir));
	json_object_object_add(host, "hostname", c->hostname ? json_object_new_string(c->hostname) : NULL);
	json_object_object_add(host, "boot_id", c->boot_id ? json_object_new_string(c->boot_id) : NULL);
	json_object_object_add(host, "instance_id", c->instance_id ? json_object_new_string(c->instance_id) : NULL);
	json_object_object_add(host, "kernel", c->kernel ? json_object_new_string(c->kernel) : NULL);
	json_object_object_add(o, "host", host);
	for (size_t i = 0; i < c->n_plugins; i++) {
		struct plugin_entry *pe = &c->plugins[i];
		const struct vigil_plugin *d = pe->lp->desc;
		json_object *p = json_object_new_object(), *st = json_object_new_object();
		json_object_object_add(p, "name", json_object_new_string(d->name));
		json_object_object_add(p, "kind", json_object_new_string((d->kind & VIGIL_PLUGIN_MONITOR) &&
										 (d->kind & VIGIL_PLUGIN_ACTION)
									 ? "monitor+action"
								 : (d->kind & VIGIL_PLUGIN_MONITOR) ? "monitor"
												    : "action"));
		json_object_object_add(p, "state", json_object_new_string(plugin_state_names[pe->state]));
		if (pe->error)
			json_object_object_add(p, "error", json_object_new_string(strerror(-pe->error)));
		json_object_object_add(p, "events", json_object_new_int64((int64_t)pe->emitted));
		if (pe->state == P_RUNNING && d->status && d->status(&pe->ctx, pe->data, st) < 0)
			json_object_object_add(st, "status_error", json_object_new_boolean(true));
		json_object_object_add(p, "status", st);
		json_object_array_add(plugins, p);
	}
	json_object_object_add(o, "plugins", plugins);
	for (size_t i = 0; i < c->n_actions; i++) {
		struct action_entry *a = &c->actions[i];
		json_object *p = json_object_new_object(), *st = json_object_new_object();
		json_object_object_add(p, "name", json_object_new_string(a->name));
		json_object_object_add(p, "type", json_object_new_string(a->pe->lp->desc->name));
		json_object_object_add(p, "active", json_object_new_boolean(a->created));
		json_object_object_add(p, "runs", json_object_new_int64((int64_t)a->runs));
		json_object_object_add(p, "failures", json_object_new_int64((int64_t)a->failures));
		if (a->created && a->pe->lp->desc->action_status)
			a->pe->lp->desc->action_status(&a->pe->ctx, a->inst, st);
		json_object_object_add(p, "status", st);
		json_object_array_add(actions, p);
	}
	json_object_object_add(o, "actions", actions);
	json_object_object_add(o, "rules", vigil_policy_status(c->policy, now));
	json_object *ev = json_object_new_object();
	json_object_object_add(ev, "emitted", json_object_new_int64((int64_t)c->n_emitted));
	json_object_object_add(ev, "dispatched", json_object_new_int64((int64_t)c->n_dispatched));
	json_object_object_add(ev, "queue_dropped", json_object_new_int64((int64_t)c->n_queue_dropped));
	json_object_object_add(ev, "by_kind", json_object_get(c->by_kind));
	json_object_object_add(o, "events", ev);
	json_object_object_add(o, "reloads", json_object_new_int64((int64_t)c->n_reloads));
	json_object_object_add(o, "reload_failures", json_object_new_int64((int64_t)c->n_reload_failures));
	json_object_object_add(o, "workers_running", json_object_new_int((int)vigil_workers_running(c->workers)));
	json_object_object_add(o, "active_conditions",
			       c->conditions ? json_object_get(c->conditions) : json_object_new_object());
	if (c->n_conditions_overflow)
		json_object_object_add(o, "active_conditions_overflow",
				       json_object_new_int64((int64_t)c->n_conditions_overflow));
	json_object_object_add(o, "recent", vigil_core_recent(c, 10));
	return o;
}

int vigil_core_test_event(struct vigil_core *c, const char *kind, const char *summary)
{
	struct vigil_event *ev = vigil_event_new(kind ? kind : "agent_test", VIGIL_SEV_INFO);
	if (!ev)
		return -ENOMEM;
	vigil_event_set_summary(ev, "%s", summary ? summary : "vigil test alert (vigilctl test-alert)");
	vigil_event_set_bool(ev, "test", true);
	return vigil_emit(&c->core_ctx, ev);
}

/* ---------------------------------------------------------------- new/free */

int vigil_core_new(const struct vigil_options *opt, struct vigil_core **ret)
{
	struct vigil_core *c = calloc(1, sizeof(*c));
	int r;
	if (!c)
		return -ENOMEM;
	c->opt = *opt;
	c->replay = opt->replay_file != NULL;
	c->core_ctx = (struct vigil_ctx){c, NULL, "core"};
	c->by_kind = json_object_new_object();
	r = sd_event_default(&c->loop);
	if (r >= 0)
		r = vigil_workers_new(c->loop, &c->workers);
	if (r >= 0 && !c->by_kind)
		r = -ENOMEM;
	if (r < 0) {
		vigil_core_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

struct vigil_core *vigil_core_free(struct vigil_core *c)
{
	if (!c)
		return NULL;
	c->control = vigil_control_free(c->control);
	actions_free(c);
	for (size_t i = c->n_plugins; i > 0; i--) {
		struct plugin_entry *pe = &c->plugins[i - 1];
		plugin_stop(c, pe);
		vigil_section_free(pe->own_sec);
		/* Plugins are not dlclose()d: a thread of theirs may still run. */
		pe->lp->handle = NULL;
		vigil_plugin_unload(pe->lp);
	}
	free(c->plugins);
	for (size_t i = 0; i < c->queue_n; i++)
		vigil_event_unref(c->queue[i]);
	free(c->queue);
	for (size_t i = 0; i < c->recent_n; i++)
		vigil_event_unref(c->recent[(c->recent_head + i) % c->recent_max]);
	free(c->recent);
	free(c->flush_hooks);
	vigil_policy_free(c->policy);
	vigil_section_free(c->agent_own);
	vigil_config_free(c->config);
	sd_event_source_disable_unref(c->policy_timer);
	sd_event_source_disable_unref(c->watchdog_timer);
	sd_event_source_disable_unref(c->stop_timer);
	vigil_workers_free(c->workers);
	sd_event_unref(c->loop);
	json_object_put(c->by_kind);
	json_object_put(c->conditions);
	free(c->config_file);
	free(c->plugin_dir);
	free(c->state_dir);
	free(c->data_dir);
	free(c->control_path);
	free(c->hostname);
	free(c->machine_id);
	free(c->boot_id);
	free(c->instance_id);
	free(c->kernel);
	free(c);
	return NULL;
}
