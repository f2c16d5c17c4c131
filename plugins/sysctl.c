/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sysctl: apply and keep the kernel settings that decide what a failure
 * turns into (panic_on_oops, softlockup_panic, hung_task_warnings, …).
 * `[sysctl]` names them as keys (`kernel.panic_on_oops = 1`); any other
 * integer `kernel.*` / `vm.*` setting may be named too. A value
 * `when-kdump-armed:X[:Y]` holds X only while a crash kernel is loaded
 * (`/sys/kernel/kexec_crash_loaded` = 1) and Y (default: the value found
 * at start) otherwise, so "panic on oops" never turns a recoverable Oops
 * into a hang-free but dump-less reboot loop. Applied at start and reload,
 * re-checked on a timer (`check_interval`): a value changed behind our back
 * is a `sysctl_drift` event and, with `reapply = yes`, written back. The
 * action `sysctl` re-runs the check now (e.g. on a `kdump_state` event).
 * All reads and writes are procfs/sysfs (memory, never the disk). */
#include "vigil/plugin.h"
#include "util.h"
#include "remedy/sysctlset.h"

#include <inttypes.h>
#include <syslog.h>

#define SYSCTL_MAX_ENTRIES 128

struct sysctl_plugin {
	struct vigil_ctx *ctx;
	char proc_root[256], sys_root[256];
	uint64_t interval;
	bool reapply;
	struct sysctl_entry *entries;
	size_t n;
	bool armed, have_armed;
	sd_event_source *timer;
	unsigned checks, drift_events, write_errors;
	uint64_t last_check;
};

static int sysctl_check_value(const char *key, const char *value, const char **ret_reason)
{
	struct sysctl_spec s;
	/* For the wildcard entries the core hands us the table's name
	 * ("kernel.*"), not the configured key: check the value's shape here,
	 * the name in sysctl_configure() (still before anything is written). */
	size_t l = strlen(key);
	if (l >= 2 && streq(key + l - 2, ".*"))
		return sysctl_spec_parse(startswith(key, "vm.") ? "vm.x" : "kernel.x", value, &s, ret_reason);
	return sysctl_spec_parse(key, value, &s, ret_reason);
}

#define SETTING(n, help) {n, VIGIL_CFG_STRING, NULL, 0, 0, NULL, sysctl_check_value, help}

static const struct vigil_config_key sysctl_keys[] = {
	{"proc_root", VIGIL_CFG_PATH, "/proc", 0, 0, NULL, NULL, "procfs root (tests point it at a temporary tree)"},
	{"sys_root", VIGIL_CFG_PATH, "/sys", 0, 0, NULL, NULL, "sysfs root, for kernel/kexec_crash_loaded"},
	{"check_interval", VIGIL_CFG_DURATION, "5m", 1 * (int64_t)USEC_PER_SEC, 86400 * (int64_t)USEC_PER_SEC, NULL,
	 NULL, "how often values (and the kdump state) are re-read"},
	{"reapply", VIGIL_CFG_BOOL, "yes", 0, 0, NULL, NULL, "write drifted values back (else only report them)"},
	SETTING("kernel.panic", "seconds before rebooting after a panic (0 = hang, <0 = at once)"),
	SETTING("kernel.panic_on_oops", "0|1, e.g. when-kdump-armed:1"),
	SETTING("kernel.softlockup_panic", "0|1"),
	SETTING("kernel.hardlockup_panic", "0|1"),
	SETTING("kernel.hung_task_panic", "0|1"),
	SETTING("kernel.hung_task_timeout_secs", "seconds, 0 disables the detector"),
	SETTING("kernel.hung_task_warnings", "reports before the kernel goes quiet; -1 = unlimited"),
	SETTING("kernel.watchdog_thresh", "0..60 seconds"),
	SETTING("kernel.panic_on_rcu_stall", "0|1"),
	SETTING("kernel.panic_on_warn", "0|1"),
	SETTING("kernel.unknown_nmi_panic", "0|1"),
	SETTING("kernel.panic_on_unrecovered_nmi", "0|1"),
	SETTING("vm.panic_on_oom", "0|1|2"),
	SETTING("kernel.*", "any other integer kernel.* setting"),
	SETTING("vm.*", "any other integer vm.* setting"),
	{NULL},
};

static bool is_setting(const char *key)
{
	return startswith(key, "kernel.") || startswith(key, "vm.");
}

static int sysctl_configure(struct sysctl_plugin *p, const struct vigil_section *sec)
{
	size_t cnt = vigil_cfg_count(sec), n = 0;
	_cleanup_free_ struct sysctl_entry *e = calloc(cnt ? cnt : 1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	if (cnt > SYSCTL_MAX_ENTRIES)
		return vigil_log_errno(p->ctx, LOG_ERR, E2BIG, "more than %d sysctl settings", SYSCTL_MAX_ENTRIES);
	for (size_t i = 0; i < cnt; i++) {
		const char *key = vigil_cfg_key_at(sec, i), *reason = NULL;
		if (!is_setting(key))
			continue;
		int r = sysctl_spec_parse(key, vigil_cfg_value_at(sec, i), &e[n].spec, &reason);
		if (r < 0) /* the core validated already; belt and braces */
			return vigil_log_errno(p->ctx, LOG_ERR, r, "%s: %s: %s", vigil_cfg_where_at(sec, i), key,
					       strempty(reason));
		/* Keep what we learned about a setting across a reload. */
		for (size_t k = 0; k < p->n; k++)
			if (streq(p->entries[k].spec.name, key)) {
				struct sysctl_spec spec = e[n].spec;
				e[n] = p->entries[k];
				e[n].spec = spec;
				break;
			}
		n++;
	}
	vigil_strlcpy(p->proc_root, vigil_cfg_string(sec, "proc_root"), sizeof(p->proc_root));
	vigil_strlcpy(p->sys_root, vigil_cfg_string(sec, "sys_root"), sizeof(p->sys_root));
	p->interval = vigil_cfg_duration(sec, "check_interval");
	p->reapply = vigil_cfg_bool(sec, "reapply");
	free(p->entries);
	p->entries = TAKE_PTR(e);
	p->n = n;
	return 0;
}

static void emit_drift(struct sysctl_plugin *p, const struct sysctl_entry *e, const char *wanted, bool reapplied,
		       bool active)
{
	struct vigil_event *ev = vigil_event_new("sysctl_drift", active ? VIGIL_SEV_WARNING : VIGIL_SEV_INFO);
	char cond[SYSCTL_NAME_MAX + 16], key[SYSCTL_NAME_MAX + 2 * SYSCTL_VALUE_MAX + 32];
	if (!ev)
		return;
	if (!active)
		vigil_event_set_summary(ev, "%s is back to %s", e->spec.name, e->actual);
	else
		vigil_event_set_summary(ev, "%s changed to %s behind vigil's back (wanted %s)%s", e->spec.name,
					e->drift_value, strempty(wanted), reapplied ? ", re-applied" : "");
	vigil_event_set_str(ev, "name", e->spec.name);
	vigil_event_set_str(ev, "wanted", wanted);
	vigil_event_set_str(ev, "actual", active ? e->drift_value : e->actual);
	vigil_event_set_bool(ev, "reapplied", reapplied);
	vigil_event_set_bool(ev, "kdump_armed", p->armed);
	if (!reapplied) {
		/* Only a drift that stays is a condition that later clears. */
		snprintf(cond, sizeof(cond), "sysctl/%s", e->spec.name);
		vigil_event_set_str(ev, "condition", cond);
		vigil_event_set_bool(ev, "active", active);
	}
	snprintf(key, sizeof(key), "sysctl_drift/%s/%s/%d", e->spec.name, active ? e->drift_value : e->actual,
		 (int)active);
	vigil_event_set_dedup_key(ev, key);
	p->drift_events++;
	(void)vigil_emit(p->ctx, ev);
}

/* One pass over every setting: re-read the kdump state, then sync. */
static void sysctl_run(struct sysctl_plugin *p, const char *why)
{
	bool armed = sysctl_kdump_armed(p->sys_root);

	if (p->have_armed && armed != p->armed)
		vigil_log(p->ctx, LOG_NOTICE, "crash kernel %s: re-evaluating when-kdump-armed settings",
			  armed ? "loaded" : "no longer loaded");
	p->armed = armed;
	p->have_armed = true;
	p->checks++;
	p->last_check = vigil_now(p->ctx, CLOCK_REALTIME);
	for (size_t i = 0; i < p->n; i++) {
		struct sysctl_entry *e = &p->entries[i];
		enum sysctl_state before = e->state;
		char old[SYSCTL_VALUE_MAX];
		vigil_strlcpy(old, e->actual, sizeof(old));
		enum sysctl_outcome o = sysctl_sync(p->proc_root, e, armed, p->reapply);
		const char *wanted = sysctl_wanted(e, armed);
		switch (o) {
		case SYSCTL_NOOP:
			break;
		case SYSCTL_APPLIED:
			vigil_log(p->ctx, LOG_INFO, "%s = %s (was %s; %s)", e->spec.name, e->actual, old[0] ? old : e->baseline,
				  why);
			break;
		case SYSCTL_DRIFT_REAPPLIED:
			vigil_log(p->ctx, LOG_WARNING, "%s drifted to %s, re-applied %s", e->spec.name, e->drift_value,
				  e->actual);
			emit_drift(p, e, wanted, true, true);
			break;
		case SYSCTL_DRIFT_FOUND:
			vigil_log(p->ctx, LOG_WARNING, "%s drifted to %s (wanted %s), reapply = no: leaving it",
				  e->spec.name, e->drift_value, strempty(wanted));
			emit_drift(p, e, wanted, false, true);
			break;
		case SYSCTL_DRIFT_CLEARED:
			vigil_log(p->ctx, LOG_INFO, "%s is back to %s", e->spec.name, e->actual);
			emit_drift(p, e, wanted, false, false);
			break;
		case SYSCTL_FAILED:
			p->write_errors++;
			if (before != SYSCTL_ERROR) /* say it once, not every interval */
				vigil_log_errno(p->ctx, LOG_ERR, e->error, "%s: cannot hold %s (is %s): %m", e->spec.name,
						strempty(wanted), e->actual[0] ? e->actual : "unreadable");
			break;
		case SYSCTL_ABSENT:
			if (before != SYSCTL_MISSING)
				vigil_log(p->ctx, LOG_WARNING, "%s does not exist on this kernel, ignoring", e->spec.name);
			break;
		}
	}
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct sysctl_plugin *p = userdata;
	sysctl_run(p, "periodic check");
	(void)sd_event_source_set_time_relative(s, p->interval);
	(void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

static int arm(struct sysctl_plugin *p)
{
	p->timer = sd_event_source_disable_unref(p->timer);
	if (p->n == 0)
		return 0;
	/* 1% slack lets the kernel batch our wake-up with others. */
	return sd_event_add_time_relative(vigil_loop(p->ctx), &p->timer, CLOCK_MONOTONIC, p->interval,
					  p->interval / 100, on_timer, p);
}

static void sysctl_fini(struct vigil_ctx *ctx, void *data)
{
	struct sysctl_plugin *p = data;
	if (!p)
		return;
	p->timer = sd_event_source_disable_unref(p->timer);
	free(p->entries);
	free(p);
}

static int sysctl_init(struct vigil_ctx *ctx, const struct vigil_section *sec, void **ret_data)
{
	struct sysctl_plugin *p = calloc(1, sizeof(*p));
	int r;
	if (!p)
		return -ENOMEM;
	p->ctx = ctx;
	r = sysctl_configure(p, sec);
	if (r < 0)
		goto fail;
	if (!vigil_replay_mode(ctx)) {
		sysctl_run(p, "start");
		r = arm(p);
		if (r < 0) {
			vigil_log_errno(ctx, LOG_ERR, r, "cannot arm the check timer: %m");
			goto fail;
		}
	}
	*ret_data = p;
	return 0;
fail:
	sysctl_fini(ctx, p);
	return r;
}

static int sysctl_reload(struct vigil_ctx *ctx, void *data, const struct vigil_section *sec)
{
	struct sysctl_plugin *p = data;
	int r = sysctl_configure(p, sec);
	if (r < 0)
		return r;
	if (vigil_replay_mode(ctx))
		return 0;
	sysctl_run(p, "reload");
	return arm(p);
}

static int sysctl_status(struct vigil_ctx *ctx, void *data, json_object *out)
{
	struct sysctl_plugin *p = data;
	json_object *arr = json_object_new_object();
	char ts[32];
	for (size_t i = 0; arr && i < p->n; i++) {
		const struct sysctl_entry *e = &p->entries[i];
		const char *wanted = sysctl_wanted(e, p->armed);
		json_object *o = json_object_new_object();
		json_object_object_add(o, "wanted", wanted ? json_object_new_string(wanted) : NULL);
		json_object_object_add(o, "actual", e->actual[0] ? json_object_new_string(e->actual) : NULL);
		json_object_object_add(o, "state", json_object_new_string(sysctl_state_to_string(e->state)));
		if (e->spec.when_kdump_armed) {
			json_object_object_add(o, "when_kdump_armed", json_object_new_string(e->spec.value));
			if (e->spec.has_else)
				json_object_object_add(o, "else", json_object_new_string(e->spec.else_value));
		}
		if (e->have_baseline)
			json_object_object_add(o, "original", json_object_new_string(e->baseline));
		if (e->error)
			json_object_object_add(o, "error", json_object_new_string(strerror(-e->error)));
		json_object_object_add(o, "drifts", json_object_new_int((int)e->drifts));
		json_object_object_add(o, "writes", json_object_new_int((int)e->writes));
		json_object_object_add(arr, e->spec.name, o);
	}
	json_object_object_add(out, "settings", arr);
	json_object_object_add(out, "kdump_armed", json_object_new_boolean(p->armed));
	json_object_object_add(out, "reapply", json_object_new_boolean(p->reapply));
	json_object_object_add(out, "check_interval_s", json_object_new_int64((int64_t)(p->interval / USEC_PER_SEC)));
	json_object_object_add(out, "checks", json_object_new_int((int)p->checks));
	json_object_object_add(out, "drift_events", json_object_new_int((int)p->drift_events));
	if (p->last_check) {
		vigil_format_rfc3339(p->last_check, ts);
		json_object_object_add(out, "last_check", json_object_new_string(ts));
	}
	return 0;
}

/* Action `sysctl`: re-check now (wire it to kdump_state so a crash kernel
 * that just got loaded turns panic_on_oops on without waiting). */
static int sysctl_action_new(struct vigil_ctx *ctx, void *data, const char *name, const struct vigil_section *sec,
			     void **ret_inst)
{
	*ret_inst = data;
	return 0;
}

static int sysctl_action_run(struct vigil_ctx *ctx, void *inst, struct vigil_event *ev)
{
	struct sysctl_plugin *p = inst;
	if (!p || vigil_replay_mode(ctx))
		return 0;
	sysctl_run(p, vigil_event_kind(ev));
	return 0;
}

static void sysctl_action_free(struct vigil_ctx *ctx, void *inst) {}

const struct vigil_plugin vigil_plugin = {
	.abi_version = VIGIL_PLUGIN_ABI_VERSION,
	.kind = VIGIL_PLUGIN_MONITOR | VIGIL_PLUGIN_ACTION,
	.name = "sysctl",
	.description = "apply and keep kernel.*/vm.* settings; when-kdump-armed values; drift events",
	.keys = sysctl_keys,
	.default_instance = true,
	.init = sysctl_init,
	.reload = sysctl_reload,
	.status = sysctl_status,
	.fini = sysctl_fini,
	.action_new = sysctl_action_new,
	.action_run = sysctl_action_run,
	.action_free = sysctl_action_free,
};
