/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sysctl validation and the apply / drift cycle. Only integer-valued
 * settings are accepted: string sysctls such as kernel.core_pattern or
 * kernel.modprobe name programs the kernel runs as root, and an agent that
 * writes them from a config key would be a privilege-escalation gadget. */
#include "sysctlset.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SYSCTL_MAX_INTS 8

struct known_range {
	const char *name;
	long long min, max;
};

/* Ranges of the settings vigil cares about, from the kernel's own handlers
 * (proc_dointvec_minmax bounds in kernel/sysctl.c, watchdog.c, hung_task.c). */
static const struct known_range known[] = {
	{"kernel.panic", INT_MIN, INT_MAX},
	{"kernel.panic_on_oops", 0, 1},
	{"kernel.softlockup_panic", 0, 1},
	{"kernel.hardlockup_panic", 0, 1},
	{"kernel.hung_task_panic", 0, 1},
	{"kernel.hung_task_timeout_secs", 0, LONG_MAX / 1000},
	{"kernel.hung_task_check_interval_secs", 0, LONG_MAX / 1000},
	{"kernel.hung_task_warnings", -1, INT_MAX},
	{"kernel.hung_task_all_cpu_backtrace", 0, 1},
	{"kernel.watchdog_thresh", 0, 60},
	{"kernel.watchdog", 0, 1},
	{"kernel.soft_watchdog", 0, 1},
	{"kernel.nmi_watchdog", 0, 1},
	{"kernel.softlockup_all_cpu_backtrace", 0, 1},
	{"kernel.hardlockup_all_cpu_backtrace", 0, 1},
	{"kernel.panic_on_rcu_stall", 0, 1},
	{"kernel.max_rcu_stall_to_panic", 1, INT_MAX},
	{"kernel.panic_on_warn", 0, 1},
	{"kernel.panic_print", 0, LLONG_MAX},
	{"kernel.unknown_nmi_panic", 0, 1},
	{"kernel.panic_on_unrecovered_nmi", 0, 1},
	{"kernel.panic_on_io_nmi", 0, 1},
	{"kernel.sysrq", 0, 511},
	{"vm.panic_on_oom", 0, 2},
	{"vm.oom_kill_allocating_task", 0, 1},
	{"vm.oom_dump_tasks", 0, 1},
};

/* Writes that are commands, not settings: re-applying them on a timer
 * would be an action every few minutes (and reading them back never
 * matches). */
static const char *const denied[] = {
	"vm.drop_caches", "vm.compact_memory", "vm.stat_refresh", "kernel.ns_last_pid", NULL,
};

const char *sysctl_state_to_string(enum sysctl_state s)
{
	static const char *const names[] = {"unknown", "ok", "drift", "missing", "error"};
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

int sysctl_name_check(const char *name, const char **ret_reason)
{
	const char *rest;
	size_t l = strlen(name);

	if (strncmp(name, "kernel.", 7) == 0)
		rest = name + 7;
	else if (strncmp(name, "vm.", 3) == 0)
		rest = name + 3;
	else {
		*ret_reason = "only kernel.* and vm.* settings are managed";
		return -EINVAL;
	}
	if (l >= SYSCTL_NAME_MAX || !*rest) {
		*ret_reason = "bad sysctl name";
		return -EINVAL;
	}
	for (const char *p = rest; *p; p++) {
		bool ok = islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_' ||
			  (*p == '.' && p[1] && p[1] != '.' && p != rest);
		if (!ok) {
			*ret_reason = "bad sysctl name (expected [a-z0-9_] components separated by dots)";
			return -EINVAL;
		}
	}
	for (const char *const *d = denied; *d; d++)
		if (strcmp(*d, name) == 0) {
			*ret_reason = "a write-only trigger, not a setting vigil can keep";
			return -EPERM;
		}
	return 0;
}

int sysctl_value_check(const char *name, const char *value, char *out, size_t size, const char **ret_reason)
{
	char norm[SYSCTL_VALUE_MAX];
	size_t o = 0;
	unsigned n = 0;
	const struct known_range *kr = NULL;

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(known[i].name, name) == 0)
			kr = &known[i];
	for (const char *p = value;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		char *end;
		errno = 0;
		long long v = strtoll(p, &end, 10);
		if (end == p || errno || (*end && *end != ' ' && *end != '\t')) {
			*ret_reason = "expected integer(s) (string sysctls are not managed)";
			return -EINVAL;
		}
		if (++n > SYSCTL_MAX_INTS) {
			*ret_reason = "too many integers";
			return -EINVAL;
		}
		if (kr && (n > 1 || v < kr->min || v > kr->max)) {
			*ret_reason = n > 1 ? "expected one integer" : "out of range for this setting";
			return -ERANGE;
		}
		int w = snprintf(norm + o, sizeof(norm) - o, "%s%lld", o ? " " : "", v);
		if (w < 0 || (size_t)w >= sizeof(norm) - o) {
			*ret_reason = "value too long";
			return -EINVAL;
		}
		o += (size_t)w;
		p = end;
	}
	if (n == 0) {
		*ret_reason = "empty value";
		return -EINVAL;
	}
	if (out) {
		if (o >= size)
			return -ENOBUFS;
		memcpy(out, norm, o + 1);
	}
	return 0;
}

int sysctl_spec_parse(const char *name, const char *text, struct sysctl_spec *ret, const char **ret_reason)
{
	static const char prefix[] = "when-kdump-armed:";
	struct sysctl_spec s = {0};
	const char *v = text;
	int r;

	r = sysctl_name_check(name, ret_reason);
	if (r < 0)
		return r;
	snprintf(s.name, sizeof(s.name), "%s", name);
	if (strncmp(text, prefix, sizeof(prefix) - 1) == 0) {
		char first[SYSCTL_VALUE_MAX];
		const char *colon;
		v = text + sizeof(prefix) - 1;
		s.when_kdump_armed = true;
		colon = strchr(v, ':');
		if (colon) {
			if ((size_t)(colon - v) >= sizeof(first)) {
				*ret_reason = "value too long";
				return -EINVAL;
			}
			memcpy(first, v, (size_t)(colon - v));
			first[colon - v] = 0;
			r = sysctl_value_check(name, colon + 1, s.else_value, sizeof(s.else_value), ret_reason);
			if (r < 0)
				return r;
			s.has_else = true;
			v = first;
			r = sysctl_value_check(name, v, s.value, sizeof(s.value), ret_reason);
			if (r < 0)
				return r;
			*ret = s;
			return 0;
		}
	}
	r = sysctl_value_check(name, v, s.value, sizeof(s.value), ret_reason);
	if (r < 0)
		return r;
	*ret = s;
	return 0;
}

const char *sysctl_wanted(const struct sysctl_entry *e, bool kdump_armed)
{
	if (!e->spec.when_kdump_armed || kdump_armed)
		return e->spec.value;
	if (e->spec.has_else)
		return e->spec.else_value;
	/* Not armed and no explicit else: hold the value the system had before
	 * vigil touched it (so a panic_on_oops=1 we set while armed is undone
	 * when the crash kernel goes away). */
	return e->have_baseline ? e->baseline : NULL;
}

void sysctl_normalize(char *s)
{
	char *w = s;
	bool space = false;
	for (char *p = s; *p; p++) {
		if (isspace((unsigned char)*p)) {
			space = w != s;
			continue;
		}
		if (space)
			*w++ = ' ';
		space = false;
		*w++ = *p;
	}
	*w = 0;
}

int sysctl_path(const char *proc_root, const char *name, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/sys/%s", proc_root, name);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	for (char *p = buf + strlen(proc_root) + 5; *p; p++)
		if (*p == '.')
			*p = '/';
	return 0;
}

static int read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	ssize_t n;
	do
		n = read(fd, buf, size - 1);
	while (n < 0 && errno == EINTR);
	int e = n < 0 ? -errno : 0;
	close(fd);
	if (e < 0)
		return e;
	buf[n] = 0;
	if ((size_t)n == size - 1)
		return -EFBIG;
	return 0;
}

int sysctl_read(const char *proc_root, const char *name, char *buf, size_t size)
{
	char path[PATH_MAX];
	int r = sysctl_path(proc_root, name, path, sizeof(path));
	if (r < 0)
		return r;
	r = read_small(path, buf, size);
	if (r < 0)
		return r;
	sysctl_normalize(buf);
	return 0;
}

int sysctl_write(const char *proc_root, const char *name, const char *value)
{
	char path[PATH_MAX], line[SYSCTL_VALUE_MAX + 2];
	struct stat st;
	int r = sysctl_path(proc_root, name, path, sizeof(path));
	if (r < 0)
		return r;
	int n = snprintf(line, sizeof(line), "%s\n", value);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -EINVAL;
	/* O_TRUNC like sysctl(8) and `echo >` (procfs ignores it; a test
	 * tree needs it). O_NOFOLLOW + regular-file check: a test tree (or a confused root)
	 * must not turn a sysctl write into a write somewhere else. */
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	ssize_t w;
	do
		w = write(fd, line, (size_t)n);
	while (w < 0 && errno == EINTR);
	r = w < 0 ? -errno : (w != n ? -EIO : 0);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

bool sysctl_kdump_armed(const char *sys_root)
{
	char path[PATH_MAX], buf[16];
	if (snprintf(path, sizeof(path), "%s/kernel/kexec_crash_loaded", sys_root) >= (int)sizeof(path))
		return false;
	if (read_small(path, buf, sizeof(buf)) < 0)
		return false;
	return buf[0] == '1';
}

enum sysctl_outcome sysctl_sync(const char *proc_root, struct sysctl_entry *e, bool kdump_armed, bool reapply)
{
	char now[SYSCTL_VALUE_MAX];
	const char *wanted;
	bool drifted;
	int r;

	r = sysctl_read(proc_root, e->spec.name, now, sizeof(now));
	if (r == -ENOENT) {
		e->state = SYSCTL_MISSING;
		e->error = r;
		return SYSCTL_ABSENT;
	}
	if (r < 0) {
		e->state = SYSCTL_ERROR;
		e->error = r;
		return SYSCTL_FAILED;
	}
	snprintf(e->actual, sizeof(e->actual), "%s", now);
	if (!e->have_baseline) {
		snprintf(e->baseline, sizeof(e->baseline), "%s", now);
		e->have_baseline = true;
	}
	wanted = sysctl_wanted(e, kdump_armed);
	drifted = e->have_applied && strcmp(now, e->applied) != 0;

	if (drifted && !reapply) {
		/* Someone else owns it now; report once per distinct value and do
		 * not fight (also not on kdump transitions). */
		e->state = SYSCTL_DRIFT;
		e->error = 0;
		if (e->drift_active && strcmp(e->drift_value, now) == 0)
			return SYSCTL_NOOP;
		e->drift_active = true;
		e->drifts++;
		snprintf(e->drift_value, sizeof(e->drift_value), "%s", now);
		return SYSCTL_DRIFT_FOUND;
	}
	if (!drifted && e->drift_active) {
		e->drift_active = false;
		e->state = SYSCTL_OK;
		return SYSCTL_DRIFT_CLEARED;
	}
	if (!wanted || strcmp(now, wanted) == 0) {
		e->state = SYSCTL_OK;
		e->error = 0;
		if (wanted) {
			snprintf(e->applied, sizeof(e->applied), "%s", now);
			e->have_applied = true;
		}
		return SYSCTL_NOOP;
	}
	if (drifted) {
		e->drifts++;
		snprintf(e->drift_value, sizeof(e->drift_value), "%s", now);
	}
	r = sysctl_write(proc_root, e->spec.name, wanted);
	if (r >= 0)
		r = sysctl_read(proc_root, e->spec.name, now, sizeof(now));
	if (r < 0) {
		e->state = SYSCTL_ERROR;
		e->error = r;
		return SYSCTL_FAILED;
	}
	e->writes++;
	snprintf(e->actual, sizeof(e->actual), "%s", now);
	/* Remember what the kernel holds, not what we asked: if it clamps or
	 * refuses, we must not see "drift" every check and write in a loop. */
	snprintf(e->applied, sizeof(e->applied), "%s", now);
	e->have_applied = true;
	e->drift_active = false;
	if (strcmp(now, wanted) != 0) {
		e->state = SYSCTL_ERROR;
		e->error = -EINVAL;
		return SYSCTL_FAILED;
	}
	e->state = SYSCTL_OK;
	e->error = 0;
	return drifted ? SYSCTL_DRIFT_REAPPLIED : SYSCTL_APPLIED;
}
