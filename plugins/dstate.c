/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dstate: early hung-task detection. A timer samples every task's state from
 * /proc/PID/stat (or /proc/PID/task/TID/stat with threads = yes); a task that
 * stays in D (uninterruptible sleep) longer than `threshold` is reported as
 * `task_stuck` with comm, pid, tid, wchan and its kernel stack, long before
 * the kernel's 120 s hung-task report and also after the kernel has stopped
 * printing them (hung_task_warnings exhausted). Stuck tasks with the same
 * comm and wchan are one condition with a count, so 500 blocked workers are
 * one alert; the condition clears when the last of them leaves D or exits.
 *
 * Cost: one getdents64 pass over /proc into a buffer allocated at start, then
 * per task one openat() relative to the kept /proc dirfd, one pread() of the
 * stat line into a stack buffer and a close(); no allocation per sample in
 * the steady state. Tasks not in D are judged by the character after the
 * last ')' alone; only D candidates are fully parsed and cost more
 * (schedstat, and wchan/stack once they cross the threshold). The scan runs
 * in slices of `slice` tasks on an idle-priority defer source, so a host
 * with thousands of tasks never holds the loop for a whole sample.
 *
 * "Continuously in D" is checked with /proc/…/schedstat: its third field
 * counts the times the task ran on a CPU. A busy I/O worker that is in D at
 * every sample but keeps running changes it; a stuck task does not. Without
 * schedstat (CONFIG_SCHED_INFO off) continuity is judged by sampling alone.
 */
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "vigil/plugin.h"

#define DSTATE_COMM_MAX	 64   /* kthread names with a workqueue suffix exceed TASK_COMM_LEN */
#define DSTATE_WCHAN_MAX 128  /* KSYM_NAME_LEN */
#define DSTATE_STAT_BUF	 1024 /* a stat line is < 1 KiB; we need only its first 22 fields */
#define DSTATE_DENTS_BUF (32 * 1024)
#define DSTATE_STACK_MAX 8192 /* bytes of /proc/…/stack read */
#define DSTATE_TIDS_MAX	 32   /* tids listed in one event */

/* ---------------------------------------------------------------- parser */

struct dstate_stat {
	pid_t pid;
	char state;
	uint64_t starttime; /* clock ticks after boot: tells a reused pid apart */
	char comm[DSTATE_COMM_MAX];
};

static bool dstate_is_int_field(const char *s, size_t n)
{
	if (n > 0 && *s == '-')
		s++, n--;
	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/*
 * Parse the head of a /proc/…/stat line: "PID (COMM) S f4 … f22 …". COMM may
 * hold spaces, parentheses and anything but NUL, so it ends at the LAST ')'.
 * Every field up to starttime (22) must be present and numeric: a truncated
 * line or one whose fake ')' sits inside the comm is rejected rather than
 * misread. Returns 0 or -EINVAL.
 */
static int dstate_parse_stat(const char *buf, size_t len, struct dstate_stat *ret)
{
	const char *p = buf, *end = buf + len, *open, *close;
	struct dstate_stat st = {};
	uint64_t pid = 0;

	if (p == end || *p < '0' || *p > '9')
		return -EINVAL;
	while (p < end && *p >= '0' && *p <= '9') {
		pid = pid * 10 + (uint64_t)(*p - '0');
		if (pid > INT_MAX)
			return -EINVAL;
		p++;
	}
	if (end - p < 2 || p[0] != ' ' || p[1] != '(')
		return -EINVAL;
	open = p + 2;
	close = memrchr(open, ')', (size_t)(end - open));
	if (!close)
		return -EINVAL;
	size_t cl = (size_t)(close - open);
	if (cl >= sizeof(st.comm))
		cl = sizeof(st.comm) - 1;
	memcpy(st.comm, open, cl);
	st.comm[cl] = 0;
	/* NULs cannot occur in a comm, but a hostile fixture could hold them */
	if (memchr(st.comm, 0, cl))
		return -EINVAL;

	p = close + 1;
	if (end - p < 3 || p[0] != ' ' || p[2] != ' ')
		return -EINVAL;
	st.state = p[1];
	p += 3;

	/* fields 4..21 are skipped, 22 is starttime */
	for (int field = 4; field <= 22; field++) {
		const char *f = p;
		while (p < end && *p != ' ' && *p != '\n')
			p++;
		if (p == end) /* the field must be terminated, else it may be cut */
			return -EINVAL;
		if (!dstate_is_int_field(f, (size_t)(p - f)))
			return -EINVAL;
		if (field == 22) {
			uint64_t v = 0;
			for (const char *q = f; q < p; q++)
				v = v * 10 + (uint64_t)(*q - '0');
			st.starttime = v;
		}
		if (*p == '\n' && field < 22)
			return -EINVAL;
		p++;
	}
	st.pid = (pid_t)pid;
	*ret = st;
	return 0;
}

/* "[<0>] percpu_rwsem_wait+0x116/0x140 [mod]" → frame object. NULL when the
 * line is not a frame. */
static json_object *dstate_parse_frame(const char *line)
{
	char sym[DSTATE_WCHAN_MAX], mod[64] = "";
	unsigned long long off, size;
	const char *p = strstr(line, "] ");

	p = p ? p + 2 : line;
	if (sscanf(p, "%127[^+ ]+0x%llx/0x%llx [%63[^]]]", sym, &off, &size, mod) < 3)
		return NULL;
	json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "symbol", json_object_new_string(sym));
	json_object_object_add(o, "offset", json_object_new_int64((int64_t)off));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)size));
	json_object_object_add(o, "module", mod[0] ? json_object_new_string(mod) : NULL);
	json_object_object_add(o, "reliable", json_object_new_boolean(true));
	return o;
}

/* ---------------------------------------------------------------- tracker
 * Pure bookkeeping, driven by the sampler (or a test) with an explicit
 * clock. Tasks in D are kept sorted by tid; groups (comm + wchan) are the
 * conditions that are reported.
 */

struct dstate_group {
	char comm[DSTATE_COMM_MAX];
	char wchan[DSTATE_WCHAN_MAX];
	unsigned count;		/* tasks stuck in it now */
	unsigned peak;		/* most at once */
	unsigned total;		/* tasks that ever joined */
	uint64_t since;		/* earliest start of D among its tasks */
	pid_t rep_pid, rep_tid; /* the task that raised it */
	uint64_t episode;	/* numbers raise/clear pairs (dedup keys) */
	bool announced;
	pid_t tids[DSTATE_TIDS_MAX];
	unsigned n_tids;
};

struct dstate_task {
	pid_t tid, pid;
	uint64_t starttime;
	uint64_t since;	 /* monotonic usec of the first sample of this D period */
	uint64_t pcount; /* schedstat: times run on a CPU */
	uint32_t gen;
	bool has_pcount;
	struct dstate_group *group; /* set once stuck */
	char comm[DSTATE_COMM_MAX];
};

struct dstate_tracker {
	struct dstate_task *tasks;
	size_t n_tasks, cap_tasks, max_tasks;
	struct dstate_group **groups;
	size_t n_groups, cap_groups;
	uint32_t gen;
	uint64_t episodes;
	uint64_t untracked; /* D tasks not tracked because max_tasks was reached */
};

/* Called for a task crossing the threshold: fill wchan (NUL-terminated,
 * "?" when unknown). */
typedef void (*dstate_resolve_fn)(void *userdata, const struct dstate_task *t, char wchan[DSTATE_WCHAN_MAX]);
/* Called for a group that is raised (active) or cleared (!active). */
typedef void (*dstate_report_fn)(void *userdata, const struct dstate_group *g, bool active, uint64_t now);

static void dstate_tracker_done(struct dstate_tracker *tr)
{
	for (size_t i = 0; i < tr->n_groups; i++)
		free(tr->groups[i]);
	free(tr->groups);
	free(tr->tasks);
	*tr = (struct dstate_tracker){};
}

static struct dstate_task *dstate_tracker_find(struct dstate_tracker *tr, pid_t tid, size_t *ret_pos)
{
	size_t lo = 0, hi = tr->n_tasks;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (tr->tasks[mid].tid < tid)
			lo = mid + 1;
		else
			hi = mid;
	}
	*ret_pos = lo;
	return lo < tr->n_tasks && tr->tasks[lo].tid == tid ? &tr->tasks[lo] : NULL;
}

static void dstate_tracker_begin(struct dstate_tracker *tr)
{
	tr->gen++;
}

static void dstate_group_drop_task(struct dstate_group *g, pid_t tid)
{
	g->count--;
	for (unsigned i = 0; i < g->n_tids; i++)
		if (g->tids[i] == tid) {
			g->tids[i] = g->tids[--g->n_tids];
			break;
		}
}

/* One task seen in D in this sample. pcount: schedstat's run count, when
 * has_pcount. Returns 0, -ENOSPC when the tracker is full (counted) or
 * -ENOMEM. */
static int dstate_tracker_observe(struct dstate_tracker *tr, pid_t pid, pid_t tid, uint64_t starttime, const char *comm,
				  bool has_pcount, uint64_t pcount, uint64_t now)
{
	size_t pos;
	struct dstate_task *t = dstate_tracker_find(tr, tid, &pos);

	if (t && (t->starttime != starttime || (has_pcount && t->has_pcount && t->pcount != pcount))) {
		/* a new task with a reused tid, or the task ran since the last
		 * sample: a new D period starts */
		if (t->group)
			dstate_group_drop_task(t->group, t->tid);
		t->group = NULL;
		t->since = now;
	}
	if (!t) {
		if (tr->n_tasks >= tr->max_tasks) {
			tr->untracked++;
			return -ENOSPC;
		}
		if (tr->n_tasks == tr->cap_tasks) {
			size_t cap = tr->cap_tasks ? tr->cap_tasks * 2 : 64;
			struct dstate_task *n = reallocarray(tr->tasks, cap, sizeof(*n));
			if (!n)
				return -ENOMEM;
			tr->tasks = n;
			tr->cap_tasks = cap;
		}
		memmove(&tr->tasks[pos + 1], &tr->tasks[pos], (tr->n_tasks - pos) * sizeof(*t));
		tr->n_tasks++;
		t = &tr->tasks[pos];
		*t = (struct dstate_task){.tid = tid, .since = now};
	}
	t->pid = pid;
	t->starttime = starttime;
	t->has_pcount = has_pcount;
	t->pcount = pcount;
	t->gen = tr->gen;
	vigil_strlcpy(t->comm, comm, sizeof(t->comm));
	return 0;
}

static struct dstate_group *dstate_tracker_group(struct dstate_tracker *tr, const char *comm, const char *wchan)
{
	for (size_t i = 0; i < tr->n_groups; i++)
		if (streq(tr->groups[i]->comm, comm) && streq(tr->groups[i]->wchan, wchan))
			return tr->groups[i];
	if (tr->n_groups == tr->cap_groups) {
		size_t cap = tr->cap_groups ? tr->cap_groups * 2 : 8;
		struct dstate_group **n = reallocarray(tr->groups, cap, sizeof(*n));
		if (!n)
			return NULL;
		tr->groups = n;
		tr->cap_groups = cap;
	}
	struct dstate_group *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	vigil_strlcpy(g->comm, comm, sizeof(g->comm));
	vigil_strlcpy(g->wchan, wchan, sizeof(g->wchan));
	g->since = UINT64_MAX;
	tr->groups[tr->n_groups++] = g;
	return g;
}

/*
 * End of a sample: forget tasks not seen in D, move tasks past the threshold
 * into their group, then report every group that became active and every
 * announced group that emptied. Returns the number of reports or -ENOMEM.
 */
static int dstate_tracker_end(struct dstate_tracker *tr, uint64_t now, uint64_t threshold, dstate_resolve_fn resolve,
			      dstate_report_fn report, void *userdata)
{
	size_t w = 0;
	int r = 0, n = 0;

	for (size_t i = 0; i < tr->n_tasks; i++) {
		struct dstate_task *t = &tr->tasks[i];
		if (t->gen != tr->gen) {
			if (t->group)
				dstate_group_drop_task(t->group, t->tid);
			continue;
		}
		if (!t->group && now - t->since >= threshold) {
			char wchan[DSTATE_WCHAN_MAX] = "?";
			struct dstate_group *g;

			resolve(userdata, t, wchan);
			g = dstate_tracker_group(tr, t->comm, wchan);
			if (!g) {
				r = -ENOMEM; /* retried at the next sample */
			} else {
				t->group = g;
				if (g->count == 0 && !g->announced) {
					g->rep_pid = t->pid;
					g->rep_tid = t->tid;
				}
				g->count++;
				g->total++;
				if (g->count > g->peak)
					g->peak = g->count;
				if (t->since < g->since)
					g->since = t->since;
				if (g->n_tids < DSTATE_TIDS_MAX)
					g->tids[g->n_tids++] = t->tid;
			}
		}
		if (w != i)
			tr->tasks[w] = *t;
		w++;
	}
	tr->n_tasks = w;

	w = 0;
	for (size_t i = 0; i < tr->n_groups; i++) {
		struct dstate_group *g = tr->groups[i];
		if (g->count == 0) {
			if (g->announced) {
				report(userdata, g, false, now);
				n++;
			}
			free(g);
			continue;
		}
		if (!g->announced) {
			g->episode = ++tr->episodes;
			report(userdata, g, true, now);
			g->announced = true;
			n++;
		}
		tr->groups[w++] = g;
	}
	tr->n_groups = w;
	return r < 0 ? r : n;
}

/* ---------------------------------------------------------------- plugin */

struct dstate {
	struct vigil_ctx *ctx;
	sd_event_source *timer;
	int proc_fd;
	char *proc_root;
	uint64_t interval, threshold;
	bool threads;
	unsigned stack_lines;
	char **ignore; /* comm globs (owned copies) */
	size_t n_ignore;

	unsigned slice;
	sd_event_source *slicer; /* defer source running one slice of a scan */

	struct dstate_tracker tr;
	uint8_t *dents, *task_dents; /* getdents64 buffers, allocated once */
	/* the scan in progress */
	bool scanning;
	uint64_t sample_now;
	size_t dpos, dlen, tpos, tlen;
	int task_fd;
	pid_t task_pid;
	uint64_t slice_usec, slice_cpu_usec, max_slice_usec;

	/* counters */
	uint64_t samples, raised, cleared, read_errors, emit_errors;
	uint64_t cur_tasks, cur_dstate; /* of the scan in progress */
	uint64_t last_tasks, last_dstate, last_usec, max_usec, total_usec;
	uint64_t last_cpu_usec, total_cpu_usec; /* the loop thread's CPU time */
};

static const struct vigil_config_key dstate_keys[] = {
    {"interval", VIGIL_CFG_DURATION, "5s", 100 * 1000, 3600 * USEC_PER_SEC, NULL, NULL, "how often tasks are sampled"},
    {"threshold", VIGIL_CFG_DURATION, "30s", 1 * USEC_PER_SEC, 86400 * USEC_PER_SEC, NULL, NULL,
     "time a task must stay in D state before task_stuck"},
    {"threads", VIGIL_CFG_BOOL, "no", 0, 0, NULL, NULL,
     "sample every thread (/proc/*/task/*/stat), not only thread-group leaders"},
    {"proc_root", VIGIL_CFG_PATH, "/proc", 0, 0, NULL, NULL, "procfs mount to sample (tests)"},
    {"ignore_comm", VIGIL_CFG_LIST, NULL, 0, 0, NULL, NULL, "comm globs never reported"},
    {"stack_lines", VIGIL_CFG_INT, "32", 0, 64, NULL, NULL, "kernel stack frames attached to task_stuck (0 = none)"},
    {"slice", VIGIL_CFG_INT, "256", 16, 1 << 20, NULL, NULL,
     "tasks read per loop iteration; a sample yields to other work between slices"},
    {"max_tracked", VIGIL_CFG_INT, "4096", 16, 1 << 20, NULL, NULL, "D-state tasks tracked at most (more are counted)"},
    {},
};

static void dstate_task_path(const struct dstate *d, char *buf, size_t size, pid_t pid, pid_t tid, const char *file)
{
	if (d->threads)
		snprintf(buf, size, "%d/task/%d/%s", (int)pid, (int)tid, file);
	else
		snprintf(buf, size, "%d/%s", (int)pid, file);
}

/* Read a small procfs file relative to proc_fd into buf (NUL-terminated). */
static ssize_t dstate_read_at(int dirfd, const char *path, char *buf, size_t size)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	ssize_t n = pread(fd, buf, size - 1, 0);
	if (n < 0)
		return negative_errno();
	buf[n] = 0;
	return n;
}

static void dstate_resolve(void *userdata, const struct dstate_task *t, char wchan[DSTATE_WCHAN_MAX])
{
	struct dstate *d = userdata;
	char path[64];

	dstate_task_path(d, path, sizeof(path), t->pid, t->tid, "wchan");
	if (dstate_read_at(d->proc_fd, path, wchan, DSTATE_WCHAN_MAX) <= 0 || streq(wchan, "0"))
		vigil_strlcpy(wchan, "?", DSTATE_WCHAN_MAX);
	vigil_strstrip(wchan);
	if (!wchan[0])
		vigil_strlcpy(wchan, "?", DSTATE_WCHAN_MAX);
}

static void dstate_add_stack(struct dstate *d, struct vigil_event *ev, pid_t pid, pid_t tid)
{
	char path[64];
	_cleanup_free_ char *buf = NULL;
	unsigned lines = 0;

	if (d->stack_lines == 0)
		return;
	buf = malloc(DSTATE_STACK_MAX);
	if (!buf)
		return;
	dstate_task_path(d, path, sizeof(path), pid, tid, "stack");
	if (dstate_read_at(d->proc_fd, path, buf, DSTATE_STACK_MAX) <= 0)
		return; /* needs CAP_SYS_ADMIN; the event stands without it */

	json_object *stack = json_object_new_array(), *frames = json_object_new_array();
	char *save = NULL;
	for (char *l = strtok_r(buf, "\n", &save); l && lines < d->stack_lines; l = strtok_r(NULL, "\n", &save)) {
		json_object *f = dstate_parse_frame(l);
		json_object_array_add(stack, json_object_new_string(l));
		if (f)
			json_object_array_add(frames, f);
		lines++;
	}
	(void)vigil_event_set_json(ev, "stack", stack);
	(void)vigil_event_set_json(ev, "frames", frames);
}

/* The kernel's own hung-task reporting, for context: with warnings at 0
 * (exhausted) or detection off, this event is the only report there is. */
static void dstate_add_kernel_hung_task(struct dstate *d, struct vigil_event *ev)
{
	char buf[32];
	int64_t v;

	if (dstate_read_at(d->proc_fd, "sys/kernel/hung_task_timeout_secs", buf, sizeof(buf)) > 0 &&
	    vigil_parse_int(vigil_strstrip(buf), &v) == 0)
		(void)vigil_event_set_int(ev, "hung_task_timeout_s", v);
	if (dstate_read_at(d->proc_fd, "sys/kernel/hung_task_warnings", buf, sizeof(buf)) > 0 &&
	    vigil_parse_int(vigil_strstrip(buf), &v) == 0)
		(void)vigil_event_set_int(ev, "hung_task_warnings", v); /* -1: unlimited */
}

static void dstate_report(void *userdata, const struct dstate_group *g, bool active, uint64_t now)
{
	struct dstate *d = userdata;
	struct vigil_event *ev;
	uint64_t secs = (now - g->since) / USEC_PER_SEC;
	char cond[16 + DSTATE_COMM_MAX + DSTATE_WCHAN_MAX], key[sizeof(cond) + 32];

	snprintf(cond, sizeof(cond), "task_stuck/%s/%s", g->comm, g->wchan);
	/* One episode (raise + clear) per key: the core's dedup window must not
	 * fold a re-raise into an earlier one (see link.c). */
	snprintf(key, sizeof(key), "%s/%s/%" PRIu64, cond, active ? "active" : "cleared", g->episode);
	ev = vigil_event_new("task_stuck", active ? VIGIL_SEV_WARNING : VIGIL_SEV_INFO);
	if (!ev) {
		d->emit_errors++;
		return;
	}
	if (active)
		(void)vigil_event_set_summary(ev, "%u task%s stuck in D state for %" PRIu64 "s: %s (pid %d) in %s",
					      g->count, g->count == 1 ? "" : "s", secs, g->comm, (int)g->rep_pid,
					      g->wchan);
	else
		(void)vigil_event_set_summary(ev, "no longer stuck in D state after %" PRIu64 "s: %s in %s (%u task%s)",
					      secs, g->comm, g->wchan, g->total, g->total == 1 ? "" : "s");
	(void)vigil_event_set_dedup_key(ev, key);
	(void)vigil_event_set_str(ev, "condition", cond);
	(void)vigil_event_set_bool(ev, "active", active);
	(void)vigil_event_set_str(ev, "comm", g->comm);
	(void)vigil_event_set_int(ev, "pid", g->rep_pid);
	(void)vigil_event_set_int(ev, "tid", g->rep_tid);
	(void)vigil_event_set_str(ev, "wchan", g->wchan);
	(void)vigil_event_set_int(ev, "duration_s", (int64_t)secs);
	/* the event's count is the number of tasks it stands for */
	vigil_event_set_count(ev, active ? g->count : g->total);
	(void)vigil_event_set_int(ev, "tasks", active ? g->count : g->total);
	(void)vigil_event_set_int(ev, "peak", g->peak);
	if (active) {
		json_object *tids = json_object_new_array();
		for (unsigned i = 0; i < g->n_tids; i++)
			json_object_array_add(tids, json_object_new_int(g->tids[i]));
		(void)vigil_event_set_json(ev, "tids", tids);
		dstate_add_stack(d, ev, g->rep_pid, g->rep_tid);
		dstate_add_kernel_hung_task(d, ev);
	}
	if (active)
		d->raised++;
	else
		d->cleared++;
	if (vigil_emit(d->ctx, ev) < 0)
		d->emit_errors++;
}

static bool dstate_ignored(const struct dstate *d, const char *comm)
{
	for (size_t i = 0; i < d->n_ignore; i++)
		if (fnmatch(d->ignore[i], comm, 0) == 0)
			return true;
	return false;
}

/* One task: dirfd is /proc (name "PID") or /proc/PID/task (name "TID"). */
static void dstate_sample_task(struct dstate *d, int dirfd, const char *name, pid_t pid, uint64_t now)
{
	char path[32], buf[DSTATE_STAT_BUF];
	struct dstate_stat st;
	uint64_t pcount = 0;
	bool has_pcount = false;
	ssize_t n;

	size_t nl = strnlen(name, 16);
	const char *close;

	if (nl >= 16)
		return;
	memcpy(path, name, nl);
	memcpy(path + nl, "/stat", sizeof("/stat"));
	n = dstate_read_at(dirfd, path, buf, sizeof(buf));
	if (n == -ENOENT || n == -ESRCH)
		return; /* exited under us */
	/* Fast path for the thousands of tasks not in D: the state follows the
	 * last ')'. Only a D candidate gets the full, validating parse. */
	close = n > 0 ? memrchr(buf, ')', (size_t)n) : NULL;
	if (!close || buf + n - close < 3) {
		d->read_errors++;
		return;
	}
	d->cur_tasks++;
	if (close[2] != 'D')
		return;
	if (dstate_parse_stat(buf, (size_t)n, &st) < 0) {
		d->read_errors++;
		return;
	}
	d->cur_dstate++;
	if (dstate_ignored(d, st.comm))
		return;
	snprintf(path, sizeof(path), "%s/schedstat", name);
	if (dstate_read_at(dirfd, path, buf, sizeof(buf)) > 0) {
		unsigned long long a, b, c;
		if (sscanf(buf, "%llu %llu %llu", &a, &b, &c) == 3) {
			pcount = c;
			has_pcount = true;
		}
	}
	(void)dstate_tracker_observe(&d->tr, d->threads ? pid : st.pid, st.pid, st.starttime, st.comm, has_pcount,
				     pcount, now);
}

static pid_t dstate_pid_of(const char *s)
{
	long v = 0;
	if (*s < '1' || *s > '9')
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > INT_MAX / 10)
			return 0;
		v = v * 10 + (*s - '0');
	}
	return (pid_t)v;
}

/* Next numeric entry of a directory read with getdents64 into buf; *pos and
 * *len keep the place across calls (and across loop iterations). NULL at
 * the end or on error. */
static const char *dstate_next_dent(int fd, uint8_t *buf, size_t *pos, size_t *len, pid_t *ret_pid)
{
	for (;;) {
		if (*pos >= *len) {
			ssize_t n = getdents64(fd, buf, DSTATE_DENTS_BUF);
			if (n <= 0)
				return NULL;
			*pos = 0;
			*len = (size_t)n;
		}
		struct dirent64 *de = (struct dirent64 *)(buf + *pos);
		*pos += de->d_reclen;
		pid_t pid = dstate_pid_of(de->d_name);
		if (pid > 0) {
			*ret_pid = pid;
			return de->d_name;
		}
	}
}

static uint64_t dstate_elapsed_usec(const struct timespec *a, const struct timespec *b)
{
	int64_t ns = (int64_t)(b->tv_sec - a->tv_sec) * 1000000000 + (b->tv_nsec - a->tv_nsec);
	return ns > 0 ? (uint64_t)ns / 1000 : 0;
}

/* Start a sample at `now`: every task seen in this sample counts as seen at
 * that time, however many slices the scan takes. */
static int dstate_sample_begin(struct dstate *d, uint64_t now)
{
	d->cur_tasks = d->cur_dstate = 0;
	d->sample_now = now;
	d->slice_cpu_usec = d->slice_usec = 0;
	dstate_tracker_begin(&d->tr);
	d->dpos = d->dlen = 0;
	if (d->task_fd >= 0)
		d->task_fd = (close(d->task_fd), -1);
	if (lseek(d->proc_fd, 0, SEEK_SET) < 0)
		return negative_errno();
	d->scanning = true;
	return 0;
}

/* Scan up to `budget` tasks. Returns 1 when the sample is complete (and
 * reported), 0 when more remains, <0 on error. */
static int dstate_sample_step(struct dstate *d, unsigned budget)
{
	struct timespec t0, t1, c0, c1;
	unsigned done = 0;
	int r = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	while (done < budget) {
		const char *name;
		pid_t tid;

		if (d->task_fd >= 0) {
			name = dstate_next_dent(d->task_fd, d->task_dents, &d->tpos, &d->tlen, &tid);
			if (name) {
				dstate_sample_task(d, d->task_fd, name, d->task_pid, d->sample_now);
				done++;
				continue;
			}
			d->task_fd = (close(d->task_fd), -1);
		}
		pid_t pid;
		name = dstate_next_dent(d->proc_fd, d->dents, &d->dpos, &d->dlen, &pid);
		if (!name)
			break;
		if (!d->threads) {
			dstate_sample_task(d, d->proc_fd, name, pid, d->sample_now);
			done++;
			continue;
		}
		char path[32];
		snprintf(path, sizeof(path), "%.16s/task", name);
		d->task_fd = openat(d->proc_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		d->task_pid = pid;
		d->tpos = d->tlen = 0;
	}
	bool complete = done < budget;
	if (complete) {
		r = dstate_tracker_end(&d->tr, d->sample_now, d->threshold, dstate_resolve, dstate_report, d);
		d->scanning = false;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	uint64_t us = dstate_elapsed_usec(&t0, &t1);
	d->slice_usec += us;
	d->slice_cpu_usec += dstate_elapsed_usec(&c0, &c1);
	if (us > d->max_slice_usec)
		d->max_slice_usec = us;
	if (complete) {
		d->samples++;
		d->last_tasks = d->cur_tasks;
		d->last_dstate = d->cur_dstate;
		d->last_usec = d->slice_usec;
		d->total_usec += d->slice_usec;
		if (d->slice_usec > d->max_usec)
			d->max_usec = d->slice_usec;
		d->last_cpu_usec = d->slice_cpu_usec;
		d->total_cpu_usec += d->slice_cpu_usec;
	}
	return r < 0 ? r : complete;
}

/* A whole sample at once (the unit tests drive the sampler with it). */
_unused_ static int dstate_sample(struct dstate *d, uint64_t now)
{
	int r = dstate_sample_begin(d, now);
	while (r >= 0 && (r = dstate_sample_step(d, UINT_MAX)) == 0)
		;
	return r < 0 ? r : 0;
}

static int dstate_on_slice(sd_event_source *s, void *userdata)
{
	struct dstate *d = userdata;
	int r = dstate_sample_step(d, d->slice);
	if (r < 0)
		vigil_log_errno(d->ctx, LOG_WARNING, r, "sampling %s failed, ignoring", d->proc_root);
	if (r == 0)
		return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT); /* more to do, after other work */
	return 0;
}

static int dstate_on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct dstate *d = userdata;
	int r = 0;

	/* A scan runs in slices of `slice` tasks, one per loop iteration at
	 * idle priority, so thousands of tasks never hold the loop for long. A
	 * sample still running when the next is due simply delays it. */
	if (!d->scanning)
		r = dstate_sample_begin(d, vigil_now(d->ctx, CLOCK_MONOTONIC));
	if (r >= 0)
		r = sd_event_source_set_enabled(d->slicer, SD_EVENT_ONESHOT);
	if (r < 0)
		vigil_log_errno(d->ctx, LOG_WARNING, r, "sampling %s failed, ignoring", d->proc_root);
	/* a time source is one-shot: set the next expiry and enable it again */
	r = sd_event_source_set_time_relative(s, d->interval);
	if (r >= 0)
		r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	if (r < 0)
		return vigil_log_errno(d->ctx, LOG_ERR, r, "rearming the sample timer failed");
	return 0;
}

static void dstate_free(struct dstate *d)
{
	if (!d)
		return;
	sd_event_source_disable_unref(d->timer);
	sd_event_source_disable_unref(d->slicer);
	if (d->task_fd >= 0)
		close(d->task_fd);
	if (d->proc_fd >= 0)
		close(d->proc_fd);
	for (size_t i = 0; i < d->n_ignore; i++)
		free(d->ignore[i]);
	free(d->ignore);
	dstate_tracker_done(&d->tr);
	free(d->dents);
	free(d->task_dents);
	free(d->proc_root);
	free(d);
}

static void dstate_freep(struct dstate **d)
{
	dstate_free(*d);
}

/* Apply a section's settings; the proc root is opened here too. */
static int dstate_configure(struct dstate *d, const struct vigil_section *sec)
{
	const char *const *items;
	size_t n = vigil_cfg_list(sec, "ignore_comm", &items);
	char **ignore = calloc(n + 1, sizeof(char *));
	const char *root = vigil_cfg_string(sec, "proc_root");

	if (!ignore)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!(ignore[i] = strdup(items[i]))) {
			for (size_t j = 0; j < i; j++)
				free(ignore[j]);
			free(ignore);
			return -ENOMEM;
		}
	if (!root)
		root = "/proc";
	_cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int r = negative_errno();
		for (size_t i = 0; i < n; i++)
			free(ignore[i]);
		free(ignore);
		return vigil_log_errno(d->ctx, LOG_ERR, r, "cannot open %s", root);
	}
	char *rootcopy = strdup(root);
	if (!rootcopy) {
		for (size_t i = 0; i < n; i++)
			free(ignore[i]);
		free(ignore);
		return -ENOMEM;
	}

	for (size_t i = 0; i < d->n_ignore; i++)
		free(d->ignore[i]);
	free(d->ignore);
	d->ignore = ignore;
	d->n_ignore = n;
	/* a scan in progress is abandoned: its directory fds are about to go */
	d->scanning = false;
	if (d->task_fd >= 0)
		d->task_fd = (close(d->task_fd), -1);
	if (d->proc_fd >= 0)
		close(d->proc_fd);
	d->proc_fd = TAKE_FD(fd);
	free(d->proc_root);
	d->proc_root = rootcopy;

	/* Tracked tasks are keyed by tid + start time, which means the same
	 * thing with or without threads and under another proc_root: tasks not
	 * seen again are dropped (and their conditions cleared) by the next
	 * sample, so nothing needs resetting here. */
	d->threads = vigil_cfg_bool(sec, "threads");
	d->interval = vigil_cfg_duration(sec, "interval");
	d->threshold = vigil_cfg_duration(sec, "threshold");
	d->stack_lines = (unsigned)vigil_cfg_int(sec, "stack_lines");
	d->tr.max_tasks = (size_t)vigil_cfg_int(sec, "max_tracked");
	d->slice = (unsigned)vigil_cfg_int(sec, "slice");
	return 0;
}

static int dstate_init(struct vigil_ctx *ctx, const struct vigil_section *sec, void **ret_data)
{
	_cleanup_(dstate_freep) struct dstate *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return -ENOMEM;
	d->ctx = ctx;
	d->proc_fd = -1;
	d->task_fd = -1;
	d->dents = malloc(DSTATE_DENTS_BUF);
	d->task_dents = malloc(DSTATE_DENTS_BUF);
	if (!d->dents || !d->task_dents)
		return -ENOMEM;
	r = dstate_configure(d, sec);
	if (r < 0)
		return r;
	if (vigil_replay_mode(ctx)) {
		*ret_data = TAKE_PTR(d);
		return 0;
	}
	r = sd_event_add_time_relative(vigil_loop(ctx), &d->timer, CLOCK_MONOTONIC, d->interval, d->interval / 20,
				       dstate_on_timer, d);
	if (r < 0)
		return vigil_log_errno(ctx, LOG_ERR, r, "cannot add the sample timer");
	(void)sd_event_source_set_description(d->timer, "dstate-sample");
	r = sd_event_add_defer(vigil_loop(ctx), &d->slicer, dstate_on_slice, d);
	if (r < 0)
		return vigil_log_errno(ctx, LOG_ERR, r, "cannot add the sample slicer");
	(void)sd_event_source_set_enabled(d->slicer, SD_EVENT_OFF);
	(void)sd_event_source_set_priority(d->slicer, SD_EVENT_PRIORITY_IDLE);
	(void)sd_event_source_set_description(d->slicer, "dstate-slice");
	*ret_data = TAKE_PTR(d);
	return 0;
}

static int dstate_reload(struct vigil_ctx *ctx, void *data, const struct vigil_section *sec)
{
	struct dstate *d = data;
	int r = dstate_configure(d, sec);
	if (r < 0)
		return r;
	if (d->timer) {
		(void)sd_event_source_set_time_relative(d->timer, d->interval);
		(void)sd_event_source_set_enabled(d->timer, SD_EVENT_ONESHOT);
	}
	return 0;
}

static int dstate_status(struct vigil_ctx *ctx, void *data, json_object *out)
{
	struct dstate *d = data;
	uint64_t now = vigil_now(ctx, CLOCK_MONOTONIC);
	json_object *stuck = json_object_new_array();

	json_object_object_add(out, "proc_root", json_object_new_string(d->proc_root));
	json_object_object_add(out, "interval_ms", json_object_new_int64((int64_t)(d->interval / 1000)));
	json_object_object_add(out, "threshold_s", json_object_new_int64((int64_t)(d->threshold / USEC_PER_SEC)));
	json_object_object_add(out, "threads", json_object_new_boolean(d->threads));
	json_object_object_add(out, "samples", json_object_new_int64((int64_t)d->samples));
	json_object_object_add(out, "tasks_last", json_object_new_int64((int64_t)d->last_tasks));
	json_object_object_add(out, "dstate_last", json_object_new_int64((int64_t)d->last_dstate));
	json_object_object_add(out, "tracked", json_object_new_int64((int64_t)d->tr.n_tasks));
	json_object_object_add(out, "untracked", json_object_new_int64((int64_t)d->tr.untracked));
	json_object_object_add(out, "read_errors", json_object_new_int64((int64_t)d->read_errors));
	json_object_object_add(out, "raised", json_object_new_int64((int64_t)d->raised));
	json_object_object_add(out, "cleared", json_object_new_int64((int64_t)d->cleared));
	json_object_object_add(out, "emit_errors", json_object_new_int64((int64_t)d->emit_errors));
	json_object_object_add(out, "sample_usec_last", json_object_new_int64((int64_t)d->last_usec));
	json_object_object_add(out, "sample_usec_max", json_object_new_int64((int64_t)d->max_usec));
	json_object_object_add(out, "sample_usec_avg",
			       json_object_new_int64(d->samples ? (int64_t)(d->total_usec / d->samples) : 0));
	json_object_object_add(out, "slice_usec_max", json_object_new_int64((int64_t)d->max_slice_usec));
	json_object_object_add(out, "sample_cpu_usec_last", json_object_new_int64((int64_t)d->last_cpu_usec));
	json_object_object_add(out, "sample_cpu_usec_avg",
			       json_object_new_int64(d->samples ? (int64_t)(d->total_cpu_usec / d->samples) : 0));
	for (size_t i = 0; i < d->tr.n_groups; i++) {
		const struct dstate_group *g = d->tr.groups[i];
		json_object *o = json_object_new_object();
		json_object_object_add(o, "comm", json_object_new_string(g->comm));
		json_object_object_add(o, "wchan", json_object_new_string(g->wchan));
		json_object_object_add(o, "count", json_object_new_int(g->count));
		json_object_object_add(o, "pid", json_object_new_int(g->rep_pid));
		json_object_object_add(o, "seconds", json_object_new_int64((int64_t)((now - g->since) / USEC_PER_SEC)));
		json_object_array_add(stuck, o);
	}
	json_object_object_add(out, "stuck", stuck);
	return 0;
}

static void dstate_fini(struct vigil_ctx *ctx, void *data)
{
	dstate_free(data);
}

const struct vigil_plugin vigil_plugin = {
    .abi_version = VIGIL_PLUGIN_ABI_VERSION,
    .kind = VIGIL_PLUGIN_MONITOR,
    .name = "dstate",
    .description = "early hung-task detection: tasks stuck in D state",
    .keys = dstate_keys,
    .init = dstate_init,
    .reload = dstate_reload,
    .status = dstate_status,
    .fini = dstate_fini,
};
