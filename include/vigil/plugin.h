/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vigil plugin ABI.
 *
 * A plugin is a shared object exporting one symbol, `vigil_plugin`, a
 * `const struct vigil_plugin`. The core dlopen()s it, checks abi_version,
 * validates the plugin's configuration sections against the key tables the
 * descriptor declares, then calls init() on the core's sd-event loop.
 * Plugins never call each other: monitors emit events with vigil_emit(), the
 * core's policy engine routes them to the action instances named by rules.
 *
 * Conventions: every function that can fail returns a negative errno value;
 * pointers returned by the core are borrowed unless said otherwise; functions
 * that take ownership say so. Everything runs on the loop's single thread,
 * except work handed to vigil_worker_submit().
 */
#pragma once

#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on every incompatible change of this header. */
#define VIGIL_PLUGIN_ABI_VERSION 1u

/* Name of the one symbol a plugin exports. */
#define VIGIL_PLUGIN_SYMBOL "vigil_plugin"

/* ------------------------------------------------------------------------
 * Configuration
 *
 * A plugin declares the keys of its `[NAME]` section (and, for action
 * plugins, of its `[action INSTANCE]` sections) in tables terminated by an
 * entry with name == NULL. The core rejects unknown keys and bad values with
 * `file:line: key: reason` before any plugin starts, so the getters below
 * cannot fail: they return the configured value or the table's default.
 * ------------------------------------------------------------------------ */

enum vigil_cfg_type {
	VIGIL_CFG_BOOL,     /* yes/no/true/false/on/off/1/0 */
	VIGIL_CFG_INT,      /* integer in [min, max] */
	VIGIL_CFG_DURATION, /* 500ms, 30s, 5m, 1h, 2d; bare number = seconds; in usec; [min, max] usec */
	VIGIL_CFG_SIZE,     /* 512, 64K, 64M, 1G (powers of 1024); [min, max] bytes */
	VIGIL_CFG_ENUM,     /* one of enum_values */
	VIGIL_CFG_STRING,   /* any non-empty string (max VIGIL_CFG_VALUE_MAX) */
	VIGIL_CFG_LIST,     /* comma and/or whitespace separated words */
	VIGIL_CFG_PATH,     /* absolute path */
};

#define VIGIL_CFG_VALUE_MAX 4096

/* Optional extra check of a value after the type check; key is the key as
 * configured ("kernel.panic", not the table's "kernel.*"). Return 0 or a
 * negative errno and set *ret_reason to a static string. */
typedef int (*vigil_cfg_check_fn)(const char *key, const char *value, const char **ret_reason);

struct vigil_config_key {
	const char *name;    /* key; a trailing '*' matches any suffix ("field.*") */
	enum vigil_cfg_type type;
	const char *def;     /* default as text (parsed like a value); NULL = unset */
	int64_t min, max;    /* INT, DURATION (usec), SIZE (bytes); min == max == 0: no bound */
	const char *const *enum_values; /* ENUM: NULL-terminated */
	vigil_cfg_check_fn check;       /* optional */
	const char *help;    /* one line, shown by `vigild --list-keys` */
};

/* One parsed section. Borrowed; valid until the plugin's fini() or the
 * reload() that replaces it. */
struct vigil_section;

const char *vigil_section_name(const struct vigil_section *s);  /* "kmsg", "rule soft-lockup", … */
const char *vigil_section_label(const struct vigil_section *s); /* "soft-lockup" for "[rule soft-lockup]", else "" */
bool vigil_cfg_is_set(const struct vigil_section *s, const char *key);
bool vigil_cfg_bool(const struct vigil_section *s, const char *key);
int64_t vigil_cfg_int(const struct vigil_section *s, const char *key);
uint64_t vigil_cfg_duration(const struct vigil_section *s, const char *key); /* usec */
uint64_t vigil_cfg_size(const struct vigil_section *s, const char *key);
int vigil_cfg_enum(const struct vigil_section *s, const char *key); /* index in enum_values */
const char *vigil_cfg_string(const struct vigil_section *s, const char *key); /* NULL when unset, no default */
/* Split list; returns count, *ret_items points into the section (borrowed). */
size_t vigil_cfg_list(const struct vigil_section *s, const char *key, const char *const **ret_items);
/* Iterate every key set in the section, in file order (wildcard keys too). */
size_t vigil_cfg_count(const struct vigil_section *s);
const char *vigil_cfg_key_at(const struct vigil_section *s, size_t i);
const char *vigil_cfg_value_at(const struct vigil_section *s, size_t i);
/* "file:line" where entry i (or key) was set, for messages. */
const char *vigil_cfg_where_at(const struct vigil_section *s, size_t i);

/* Value parsers used by the core; exported so plugins can parse the same way. */
int vigil_parse_bool(const char *s, bool *ret);
int vigil_parse_duration(const char *s, uint64_t *ret_usec);
int vigil_parse_size(const char *s, uint64_t *ret_bytes);
int vigil_parse_int(const char *s, int64_t *ret);

/* ------------------------------------------------------------------------
 * Events (DESIGN §5)
 * ------------------------------------------------------------------------ */

enum vigil_severity {
	VIGIL_SEV_INFO = 0,
	VIGIL_SEV_NOTICE = 1,
	VIGIL_SEV_WARNING = 2,
	VIGIL_SEV_CRITICAL = 3,
};

const char *vigil_severity_to_string(enum vigil_severity s);
int vigil_severity_from_string(const char *s); /* index or -EINVAL */

/* Bounds applied by the event API itself. */
#define VIGIL_EVENT_RAW_MAX_LINES 200
#define VIGIL_EVENT_RAW_MAX_LINE 1024
#define VIGIL_EVENT_STR_MAX 4096

/* Reference-counted. vigil_event_new() returns one reference. */
struct vigil_event;

struct vigil_event *vigil_event_new(const char *kind, enum vigil_severity sev);
struct vigil_event *vigil_event_ref(struct vigil_event *ev);
struct vigil_event *vigil_event_unref(struct vigil_event *ev); /* returns NULL */
/* Deep copy with a fresh id (used for repeat summaries). */
struct vigil_event *vigil_event_clone(const struct vigil_event *ev);

const char *vigil_event_id(const struct vigil_event *ev);     /* RFC 4122 UUID, 36 chars */
const char *vigil_event_kind(const struct vigil_event *ev);
enum vigil_severity vigil_event_severity(const struct vigil_event *ev);
const char *vigil_event_summary(const struct vigil_event *ev);
const char *vigil_event_source(const struct vigil_event *ev); /* plugin that emitted it */
uint64_t vigil_event_realtime(const struct vigil_event *ev);  /* usec since epoch */
uint64_t vigil_event_monotonic(const struct vigil_event *ev); /* usec */
unsigned vigil_event_count(const struct vigil_event *ev);
const char *vigil_event_dedup_key(const struct vigil_event *ev);
/* The raw report lines: a JSON array of strings, owned by the event. */
json_object *vigil_event_raw(const struct vigil_event *ev);

void vigil_event_set_severity(struct vigil_event *ev, enum vigil_severity sev);
int vigil_event_set_summary(struct vigil_event *ev, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Override the detection time (e.g. replay of a saved log); 0 = now. */
void vigil_event_set_time(struct vigil_event *ev, uint64_t realtime_usec, uint64_t monotonic_usec);
/* Identical dedup keys within the dedup window fold into one event with a
 * count. Default: kind + summary. */
int vigil_event_set_dedup_key(struct vigil_event *ev, const char *key);
void vigil_event_set_count(struct vigil_event *ev, unsigned count);

/* Kind-specific fields, top-level in the JSON. Names are the DESIGN §5
 * contract: cpu, comm, pid, duration_s, ip, frames, taint, cause, device,
 * link, known_issue, partial, raw, … Strings are truncated to
 * VIGIL_EVENT_STR_MAX and made valid UTF-8. */
int vigil_event_set_str(struct vigil_event *ev, const char *key, const char *value); /* NULL → null */
int vigil_event_set_int(struct vigil_event *ev, const char *key, int64_t value);
int vigil_event_set_bool(struct vigil_event *ev, const char *key, bool value);
/* Takes ownership of value (also on failure). */
int vigil_event_set_json(struct vigil_event *ev, const char *key, json_object *value);
/* Append one raw report line (bounded: the overflow is counted in
 * "raw_truncated"). */
int vigil_event_add_raw(struct vigil_event *ev, const char *line);
/* Borrowed views; NULL when unset. */
json_object *vigil_event_get(const struct vigil_event *ev, const char *key);
const char *vigil_event_get_str(const struct vigil_event *ev, const char *key);
int64_t vigil_event_get_int(const struct vigil_event *ev, const char *key, int64_t def);
/* Look a dotted path up ("device.name", "known_issue.id"); NULL when absent. */
json_object *vigil_event_lookup(const struct vigil_event *ev, const char *path);

/* The one JSON encoder (DESIGN §5): every output uses it. Returns a new
 * json_object (caller puts it) / a malloc'd string (caller frees). */
json_object *vigil_event_to_json(const struct vigil_event *ev);
char *vigil_event_to_json_string(const struct vigil_event *ev);

/* ------------------------------------------------------------------------
 * The context a plugin gets
 * ------------------------------------------------------------------------ */

struct vigil_ctx;

sd_event *vigil_loop(struct vigil_ctx *ctx);
const char *vigil_plugin_name(struct vigil_ctx *ctx);

/* Takes ownership of ev (also on failure). The core stamps id, times, host
 * and source, and runs the policy engine. */
int vigil_emit(struct vigil_ctx *ctx, struct vigil_event *ev);

/* Stamp an event like vigil_emit() does (id, times, host, source) without
 * emitting it: for records a plugin sends itself (e.g. a heartbeat), so
 * they still go through the one encoder. */
int vigil_event_finalize(struct vigil_ctx *ctx, struct vigil_event *ev);

/* Conditions raised by any plugin and not yet cleared, as a new JSON array
 * of their names (["vhost_backend/vdb", "blk_stall/vdb"]); NULL when none. */
json_object *vigil_active_conditions(struct vigil_ctx *ctx);

/* A summary of the agent for heartbeats: {"version", "uptime_s",
 * "plugins": {name: state}, "events_emitted"}. New object. */
json_object *vigil_agent_summary(struct vigil_ctx *ctx);

/* Logging to the journal (or stderr in the foreground), prefixed with the
 * plugin's name. vigil_log_errno() returns -abs(err) for `return`. */
void vigil_log(struct vigil_ctx *ctx, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int vigil_log_errno(struct vigil_ctx *ctx, int prio, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Clock: CLOCK_REALTIME / CLOCK_MONOTONIC / CLOCK_BOOTTIME, usec. Uses the
 * loop's cached time; tests can drive it. */
uint64_t vigil_now(struct vigil_ctx *ctx, clockid_t clock);

/* The state directory (/var/lib/vigil); NULL in replay mode. Plugins keep
 * their files under it, named after themselves. */
const char *vigil_state_dir(struct vigil_ctx *ctx);
/* Directory for shipped data (signatures): $(datadir)/vigil or the source tree. */
const char *vigil_data_dir(struct vigil_ctx *ctx);
/* True under `vigild --replay`: do not open live sources, do not act. */
bool vigil_replay_mode(struct vigil_ctx *ctx);
bool vigil_foreground(struct vigil_ctx *ctx);

struct vigil_host {
	const char *hostname, *machine_id, *boot_id, *instance_id, *kernel;
};
const struct vigil_host *vigil_host(struct vigil_ctx *ctx);

/* Atomic file replacement: write tmp, fsync, rename, fsync dir. dirfd may be
 * AT_FDCWD. May block: call from a worker when the disk may be dead. */
int vigil_write_file_atomic(int dirfd, const char *name, const void *buf, size_t len, mode_t mode);

/* Run fn(arg) on a worker thread. done(ctx, result, userdata) runs on the
 * loop afterwards with fn's return value, or -ETIMEDOUT once timeout_usec
 * passes first (the thread then finishes on its own and free_arg(arg) is
 * called by whichever side finishes last). timeout_usec 0 = none. */
typedef int (*vigil_worker_fn)(void *arg);
typedef void (*vigil_worker_done_fn)(struct vigil_ctx *ctx, int result, void *userdata);
int vigil_worker_submit(struct vigil_ctx *ctx, vigil_worker_fn fn, void *arg, void (*free_arg)(void *),
			uint64_t timeout_usec, vigil_worker_done_fn done, void *userdata);

/* Flush: a plugin that holds undelivered data (alert) registers a flush
 * hook; an action that is about to take the machine down (reboot) asks for
 * a flush with a deadline. A hook calls vigil_flush_done(token) when it has
 * drained (or given up); done() of the request runs when every hook has
 * finished or the deadline passed (result -ETIMEDOUT). */
struct vigil_flush_token;
typedef void (*vigil_flush_hook_fn)(struct vigil_ctx *ctx, void *data, uint64_t deadline_usec,
				    struct vigil_flush_token *token);
int vigil_flush_register(struct vigil_ctx *ctx, vigil_flush_hook_fn hook, void *data);
void vigil_flush_done(struct vigil_flush_token *token);
int vigil_flush_request(struct vigil_ctx *ctx, uint64_t timeout_usec, vigil_worker_done_fn done, void *userdata);

/* ------------------------------------------------------------------------
 * The descriptor
 * ------------------------------------------------------------------------ */

enum {
	VIGIL_PLUGIN_MONITOR = 1u << 0,
	VIGIL_PLUGIN_ACTION = 1u << 1,
};

struct vigil_plugin {
	uint32_t abi_version; /* VIGIL_PLUGIN_ABI_VERSION */
	uint32_t kind;        /* VIGIL_PLUGIN_MONITOR | VIGIL_PLUGIN_ACTION */
	const char *name;     /* [a-z0-9_]+, also the config section and action type */
	const char *description;

	/* Keys of the `[NAME]` section; NULL = the plugin takes none. */
	const struct vigil_config_key *keys;
	/* Keys of `[action INSTANCE]` sections of this type (action plugins). */
	const struct vigil_config_key *action_keys;
	/* Action plugins: create an instance named after the plugin even when no
	 * `[action NAME]` section exists (e.g. reboot with its defaults). */
	bool default_instance;

	/* Called once on the loop. *ret_data is the plugin's state, handed back
	 * to every other callback. sec is never NULL (an empty section when the
	 * config has none). Return <0 to fail start-up (the error is logged). */
	int (*init)(struct vigil_ctx *ctx, const struct vigil_section *sec, void **ret_data);
	/* New config after SIGHUP. NULL: the core calls fini() then init(). */
	int (*reload)(struct vigil_ctx *ctx, void *data, const struct vigil_section *sec);
	/* Fill `out` (a JSON object) with state and counters for `vigilctl status`. */
	int (*status)(struct vigil_ctx *ctx, void *data, json_object *out);
	/* Watchdog gate: false when the plugin knows it is stuck. NULL = live. */
	bool (*live)(struct vigil_ctx *ctx, void *data);
	void (*fini)(struct vigil_ctx *ctx, void *data);

	/* Action plugins. `name` is the instance ("alert-ops"), sec its
	 * `[action NAME]` section (an empty one for the default instance). */
	int (*action_new)(struct vigil_ctx *ctx, void *data, const char *name, const struct vigil_section *sec,
			  void **ret_inst);
	/* Run on the loop; must not block. The event is borrowed: take a ref
	 * to keep it. Return <0 on failure (logged and counted). */
	int (*action_run)(struct vigil_ctx *ctx, void *inst, struct vigil_event *ev);
	int (*action_status)(struct vigil_ctx *ctx, void *inst, json_object *out);
	void (*action_free)(struct vigil_ctx *ctx, void *inst);

	/* Monitors that can read a saved log (`vigild --replay FILE`): read fd
	 * to its end, emitting events; synchronous. */
	int (*replay)(struct vigil_ctx *ctx, void *data, int fd);
};

#ifdef __cplusplus
}
#endif
