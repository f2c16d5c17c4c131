/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dstate plugin: the /proc stat parser against real and hostile lines, the
 * tracker (threshold, aggregation, progress, pid reuse, bounds) with a
 * driven clock, and the sampler on fake /proc trees with the events it
 * emits (vigil_emit is wrapped).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "../../plugins/dstate.c"

#define SEC USEC_PER_SEC

/* ---------------------------------------------------------------- emit capture */

#define VIGIL_TEST_WRAP_EMIT
#include "event-sink.h"

/* ---------------------------------------------------------------- parser */

static void parse_own_stat(void **state)
{
	char buf[DSTATE_STAT_BUF];
	struct dstate_stat st;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_true(n > 0);
	assert_int_equal(dstate_parse_stat(buf, (size_t)n, &st), 0);
	assert_int_equal(st.pid, getpid());
	assert_int_equal(st.state, 'R');
	/* what /proc/self/comm says (under valgrind it is not our name) */
	char comm[64] = "";
	fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_true(read(fd, comm, sizeof(comm) - 1) > 0);
	close(fd);
	comm[strcspn(comm, "\n")] = 0;
	assert_string_equal(st.comm, comm);
	assert_true(st.starttime > 0);
}

/* Real lines captured on this machine (kernel 6.18): a kernel thread, a
 * kworker whose name carries its workqueue, a sleeping process. */
static const char kthreadd[] =
    "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 18 0 0 18446744073709551615 0 "
    "0 0 0 0 0 0 2147483647 0 1 0 0 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
static const char kworker[] =
    "12 (kworker/u8:0-ext4-rsv-conversion) I 2 0 0 0 -1 69238880 0 0 0 0 0 21 0 0 20 0 1 0 18 "
    "0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
static const char writer[] =
    "23326 (sleep) S 23324 23324 5305 0 -1 4194304 133 0 0 0 0 0 0 0 20 0 1 0 81323 2990080 "
    "398 18446744073709551615 94079387701248 94079387719177 140731273212608 0 0 0 0 6 0 1 0 0 17 "
    "0 0 0 0 0 0 94079387733264 94079387734528 94079554621440 140731273214411 140731273214421 "
    "140731273214421 140731273215977 0\n";
/* What prctl(PR_SET_NAME, "a) D (b") produces: the comm holds ") D (". */
static const char hostile[] = "4242 (a) D (b) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 "
			      "987654 1000 10 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";

static void parse_real_lines(void **state)
{
	struct dstate_stat st;

	assert_int_equal(dstate_parse_stat(kthreadd, strlen(kthreadd), &st), 0);
	assert_int_equal(st.pid, 2);
	assert_string_equal(st.comm, "kthreadd");
	assert_int_equal(st.state, 'S');
	assert_int_equal(st.starttime, 18);

	assert_int_equal(dstate_parse_stat(kworker, strlen(kworker), &st), 0);
	assert_int_equal(st.pid, 12);
	assert_string_equal(st.comm, "kworker/u8:0-ext4-rsv-conversion");
	assert_int_equal(st.state, 'I');
	assert_int_equal(st.starttime, 18);

	assert_int_equal(dstate_parse_stat(writer, strlen(writer), &st), 0);
	assert_int_equal(st.pid, 23326);
	assert_string_equal(st.comm, "sleep");
	assert_int_equal(st.state, 'S');
	assert_int_equal(st.starttime, 81323);
}

static void parse_hostile_comm(void **state)
{
	struct dstate_stat st;
	static const char nl[] = "77 (x\n) S (y) R 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555 0 0\n";
	static const char paren[] = "78 ()) Z 1 78 78 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 556 0 0\n";

	assert_int_equal(dstate_parse_stat(hostile, strlen(hostile), &st), 0);
	assert_string_equal(st.comm, "a) D (b");
	assert_int_equal(st.state, 'S'); /* not the fake D inside the comm */
	assert_int_equal(st.starttime, 987654);

	assert_int_equal(dstate_parse_stat(nl, strlen(nl), &st), 0);
	assert_string_equal(st.comm, "x\n) S (y");
	assert_int_equal(st.state, 'R');
	assert_int_equal(st.starttime, 555);

	assert_int_equal(dstate_parse_stat(paren, strlen(paren), &st), 0);
	assert_string_equal(st.comm, ")");
	assert_int_equal(st.state, 'Z');
}

/* Every prefix of a line either fails or parses exactly like the full line:
 * a truncated read never yields a wrong state or comm. */
static void check_prefixes(const char *line, size_t must_fail_below)
{
	struct dstate_stat full, st;
	size_t len = strlen(line);

	assert_int_equal(dstate_parse_stat(line, len, &full), 0);
	for (size_t i = 0; i < len; i++) {
		memset(&st, 0x55, sizeof(st));
		int r = dstate_parse_stat(line, i, &st);
		if (i < must_fail_below)
			assert_int_equal(r, -EINVAL);
		if (r == 0) {
			assert_string_equal(st.comm, full.comm);
			assert_int_equal(st.state, full.state);
			assert_int_equal(st.starttime, full.starttime);
			assert_int_equal(st.pid, full.pid);
		}
	}
}

static size_t end_of_field22(const char *line)
{
	const char *p = strrchr(line, ')') + 1;
	for (int field = 3; field <= 22; field++)
		p = strchr(p + 1, ' ');
	return (size_t)(p - line) + 1; /* the separator after starttime is needed */
}

static void parse_truncated(void **state)
{
	check_prefixes(hostile, end_of_field22(hostile));
	check_prefixes(kthreadd, end_of_field22(kthreadd));
	check_prefixes(writer, end_of_field22(writer));
}

static void parse_garbage(void **state)
{
	static const char *const bad[] = {
	    "",
	    "abc",
	    "12 (x",
	    "12 x) S 1",
	    "-1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0\n",
	    "99999999999 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0\n",
	    "12 (x)S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0\n",
	    "12 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0\n",	     /* starttime missing */
	    "12 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5x 0\n", /* not a number */
	    "12 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0\n0 20 0 1 0 5 0\n", /* line ends early */
	    "12 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 123456789012345678901 0\n",
	};
	struct dstate_stat st;
	char nul[] = "12 (a\0b) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0\n";

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		print_message("# garbage %zu\n", i);
		assert_int_equal(dstate_parse_stat(bad[i], strlen(bad[i]), &st), -EINVAL);
	}
	assert_int_equal(dstate_parse_stat(nul, sizeof(nul) - 1, &st), -EINVAL);
}

static void parse_frames(void **state)
{
	json_object *f = dstate_parse_frame("[<0>] percpu_rwsem_wait+0x116/0x140");
	assert_non_null(f);
	assert_string_equal(json_object_get_string(json_object_object_get(f, "symbol")), "percpu_rwsem_wait");
	assert_int_equal(json_object_get_int(json_object_object_get(f, "offset")), 0x116);
	assert_int_equal(json_object_get_int(json_object_object_get(f, "size")), 0x140);
	assert_null(json_object_object_get(f, "module"));
	json_object_put(f);
	f = dstate_parse_frame("[<0>] ext4_buffered_write_iter+0x5a/0x180 [ext4]");
	assert_non_null(f);
	assert_string_equal(json_object_get_string(json_object_object_get(f, "module")), "ext4");
	json_object_put(f);
	assert_null(dstate_parse_frame("[<0>] garbage"));
}

/* ---------------------------------------------------------------- tracker */

struct report {
	char comm[DSTATE_COMM_MAX], wchan[DSTATE_WCHAN_MAX];
	bool active;
	unsigned count;
	uint64_t now, since;
};

struct recorder {
	struct report r[16];
	size_t n;
	unsigned resolves;
};

static void rec_resolve(void *userdata, const struct dstate_task *t, char wchan[DSTATE_WCHAN_MAX])
{
	struct recorder *rec = userdata;
	rec->resolves++;
	snprintf(wchan, DSTATE_WCHAN_MAX, "%s", t->tid >= 1000 ? "other_wait" : "percpu_rwsem_wait");
}

static void rec_report(void *userdata, const struct dstate_group *g, bool active, uint64_t now)
{
	struct recorder *rec = userdata;
	assert_true(rec->n < ELEMENTSOF(rec->r));
	struct report *r = &rec->r[rec->n++];
	vigil_strlcpy(r->comm, g->comm, sizeof(r->comm));
	vigil_strlcpy(r->wchan, g->wchan, sizeof(r->wchan));
	r->active = active;
	r->count = g->count;
	r->now = now;
	r->since = g->since;
}

/* One sample: the tasks [lo, hi) in D with schedstat run count pc. */
static int sample_range(struct dstate_tracker *tr, struct recorder *rec, pid_t lo, pid_t hi, uint64_t pc, uint64_t now)
{
	dstate_tracker_begin(tr);
	for (pid_t t = lo; t < hi; t++)
		(void)dstate_tracker_observe(tr, t, t, 1000 + (uint64_t)t, "worker", true, pc, now);
	return dstate_tracker_end(tr, now, 30 * SEC, rec_resolve, rec_report, rec);
}

static void tracker_threshold_and_clear(void **state)
{
	struct dstate_tracker tr = {.max_tasks = 100};
	struct recorder rec = {};

	for (uint64_t t = 0; t < 30; t += 5)
		assert_int_equal(sample_range(&tr, &rec, 10, 11, 7, t * SEC), 0);
	assert_int_equal(rec.n, 0);
	assert_int_equal(sample_range(&tr, &rec, 10, 11, 7, 30 * SEC), 1);
	assert_int_equal(rec.n, 1);
	assert_true(rec.r[0].active);
	assert_int_equal(rec.r[0].count, 1);
	assert_string_equal(rec.r[0].wchan, "percpu_rwsem_wait");
	assert_int_equal(rec.r[0].since, 0);
	/* still stuck: no repeat */
	assert_int_equal(sample_range(&tr, &rec, 10, 11, 7, 35 * SEC), 0);
	assert_int_equal(rec.resolves, 1);
	/* left D */
	assert_int_equal(sample_range(&tr, &rec, 0, 0, 7, 40 * SEC), 1);
	assert_false(rec.r[1].active);
	assert_int_equal(tr.n_tasks, 0);
	assert_int_equal(tr.n_groups, 0);
	dstate_tracker_done(&tr);
}

static void tracker_aggregates(void **state)
{
	struct dstate_tracker tr = {.max_tasks = 4096};
	struct recorder rec = {};

	/* 500 workers in one wait, 3 in another (tid >= 1000) */
	for (uint64_t t = 0; t <= 30; t += 5) {
		dstate_tracker_begin(&tr);
		for (pid_t p = 100; p < 600; p++)
			(void)dstate_tracker_observe(&tr, p, p, 1, "worker", true, 1, t * SEC);
		for (pid_t p = 1000; p < 1003; p++)
			(void)dstate_tracker_observe(&tr, p, p, 1, "worker", true, 1, t * SEC);
		(void)dstate_tracker_end(&tr, t * SEC, 30 * SEC, rec_resolve, rec_report, &rec);
	}
	assert_int_equal(rec.n, 2);
	assert_true(rec.r[0].active && rec.r[1].active);
	assert_int_equal(rec.r[0].count + rec.r[1].count, 503);
	assert_true((rec.r[0].count == 500 && streq(rec.r[0].wchan, "percpu_rwsem_wait")) ||
		    (rec.r[1].count == 500 && streq(rec.r[1].wchan, "percpu_rwsem_wait")));

	/* all but one of the 500 recover: nothing is cleared yet; the other
	 * wait's 3 tasks are gone: that group clears */
	dstate_tracker_begin(&tr);
	(void)dstate_tracker_observe(&tr, 100, 100, 1, "worker", true, 1, 35 * SEC);
	assert_int_equal(dstate_tracker_end(&tr, 35 * SEC, 30 * SEC, rec_resolve, rec_report, &rec), 1);
	assert_int_equal(rec.n, 3);
	assert_false(rec.r[2].active);
	assert_string_equal(rec.r[2].wchan, "other_wait");
	assert_int_equal(tr.n_groups, 1);
	assert_int_equal(tr.groups[0]->count, 1);
	assert_int_equal(tr.groups[0]->peak, 500);

	assert_int_equal(sample_range(&tr, &rec, 0, 0, 1, 40 * SEC), 1);
	assert_false(rec.r[3].active);
	assert_string_equal(rec.r[3].wchan, "percpu_rwsem_wait");
	dstate_tracker_done(&tr);
}

static void tracker_progress_is_not_stuck(void **state)
{
	struct dstate_tracker tr = {.max_tasks = 100};
	struct recorder rec = {};

	/* in D at every sample, but it ran in between (busy I/O, timeouts) */
	for (uint64_t t = 0; t <= 120; t += 5)
		assert_int_equal(sample_range(&tr, &rec, 10, 11, t, t * SEC), 0);
	assert_int_equal(rec.n, 0);
	/* then it stops running: 30 s later it is stuck */
	for (uint64_t t = 125; t < 155; t += 5)
		assert_int_equal(sample_range(&tr, &rec, 10, 11, 999, t * SEC), 0);
	assert_int_equal(sample_range(&tr, &rec, 10, 11, 999, 155 * SEC), 1);
	assert_int_equal(rec.r[0].since, 125 * SEC); /* it last ran between 120 and 125 */
	/* without schedstat continuity is judged by sampling alone */
	dstate_tracker_done(&tr);
	tr = (struct dstate_tracker){.max_tasks = 100};
	rec = (struct recorder){};
	for (uint64_t t = 0; t <= 30; t += 5) {
		dstate_tracker_begin(&tr);
		(void)dstate_tracker_observe(&tr, 5, 5, 1, "x", false, 0, t * SEC);
		(void)dstate_tracker_end(&tr, t * SEC, 30 * SEC, rec_resolve, rec_report, &rec);
	}
	assert_int_equal(rec.n, 1);
	dstate_tracker_done(&tr);
}

static void tracker_pid_reuse(void **state)
{
	struct dstate_tracker tr = {.max_tasks = 100};
	struct recorder rec = {};

	for (uint64_t t = 0; t <= 50; t += 5) {
		dstate_tracker_begin(&tr);
		/* tid 7 exits at 20 s and a new task gets tid 7 */
		(void)dstate_tracker_observe(&tr, 7, 7, t < 20 ? 100 : 200, "x", true, 1, t * SEC);
		(void)dstate_tracker_end(&tr, t * SEC, 30 * SEC, rec_resolve, rec_report, &rec);
		if (t < 50)
			assert_int_equal(rec.n, 0);
	}
	assert_int_equal(rec.n, 1);
	assert_int_equal(rec.r[0].since, 20 * SEC);
	dstate_tracker_done(&tr);
}

static void tracker_bounded(void **state)
{
	struct dstate_tracker tr = {.max_tasks = 16};
	struct recorder rec = {};

	dstate_tracker_begin(&tr);
	for (pid_t p = 1; p <= 20; p++) {
		int r = dstate_tracker_observe(&tr, p, p, 1, "x", false, 0, 0);
		assert_int_equal(r, p <= 16 ? 0 : -ENOSPC);
	}
	(void)dstate_tracker_end(&tr, 0, 30 * SEC, rec_resolve, rec_report, &rec);
	assert_int_equal(tr.n_tasks, 16);
	assert_int_equal(tr.untracked, 4);
	/* steady state: the same tasks again allocate nothing new */
	struct dstate_task *before = tr.tasks;
	size_t cap = tr.cap_tasks;
	for (int i = 0; i < 3; i++) {
		dstate_tracker_begin(&tr);
		for (pid_t p = 1; p <= 16; p++)
			(void)dstate_tracker_observe(&tr, p, p, 1, "x", false, 0, 0);
		(void)dstate_tracker_end(&tr, 0, 30 * SEC, rec_resolve, rec_report, &rec);
	}
	assert_ptr_equal(tr.tasks, before);
	assert_int_equal(tr.cap_tasks, cap);
	dstate_tracker_done(&tr);
}

/* ---------------------------------------------------------------- sampler on a fake /proc */

static char proc_dir[] = "/tmp/test-dstate-XXXXXX";

static void put(const char *rel, const char *content)
{
	char path[512], dir[512];
	snprintf(path, sizeof(path), "%s/%s", proc_dir, rel);
	vigil_strlcpy(dir, path, sizeof(dir));
	for (char *s = dir + strlen(proc_dir) + 1; (s = strchr(s, '/')); s++) {
		*s = 0;
		(void)mkdir(dir, 0755);
		*s = '/';
	}
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static void stat_line(char *buf, size_t size, int pid, const char *comm, char state, unsigned long start)
{
	snprintf(buf, size, "%d (%s) %c 1 %d %d 0 -1 4194560 1 0 0 0 1 2 0 0 20 0 1 0 %lu 100 10 0 0 0\n", pid, comm,
		 state, pid, pid, start);
}

static void fake_task(int pid, int tid, const char *comm, char state, const char *wchan, const char *pcount)
{
	char line[256], rel[128];
	stat_line(line, sizeof(line), tid, comm, state, 1000);
	if (pid == tid) {
		snprintf(rel, sizeof(rel), "%d/stat", pid);
		put(rel, line);
		snprintf(rel, sizeof(rel), "%d/wchan", pid);
		put(rel, wchan);
		snprintf(rel, sizeof(rel), "%d/schedstat", pid);
		put(rel, pcount);
		snprintf(rel, sizeof(rel), "%d/stack", pid);
		put(rel, "[<0>] percpu_rwsem_wait+0x116/0x140\n[<0>] ext4_buffered_write_iter+0x5a/0x180 [ext4]\n"
			 "[<0>] vfs_write+0x1cb/0x3e0\n");
	}
	snprintf(rel, sizeof(rel), "%d/task/%d/stat", pid, tid);
	put(rel, line);
	snprintf(rel, sizeof(rel), "%d/task/%d/wchan", pid, tid);
	put(rel, wchan);
	snprintf(rel, sizeof(rel), "%d/task/%d/schedstat", pid, tid);
	put(rel, pcount);
}

static struct dstate *fake_dstate(bool threads)
{
	struct dstate *d = calloc(1, sizeof(*d));
	assert_non_null(d);
	d->proc_fd = open(proc_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d->task_fd = -1;
	d->slice = 2;
	assert_true(d->proc_fd >= 0);
	d->proc_root = strdup(proc_dir);
	d->threshold = 30 * SEC;
	d->interval = 5 * SEC;
	d->threads = threads;
	d->stack_lines = 32;
	d->tr.max_tasks = 4096;
	d->dents = malloc(DSTATE_DENTS_BUF);
	d->task_dents = malloc(DSTATE_DENTS_BUF);
	d->ignore = calloc(2, sizeof(char *));
	d->ignore[0] = strdup("ignored*");
	d->n_ignore = 1;
	return d;
}

static int setup_proc(void **state)
{
	assert_non_null(mkdtemp(proc_dir));
	fake_task(1, 1, "init", 'S', "0", "5 6 7\n");
	fake_task(77, 77, "dd", 'D', "percpu_rwsem_wait", "1 2 3\n");
	fake_task(78, 78, "a) D (b", 'D', "percpu_rwsem_wait", "1 2 3\n");
	fake_task(90, 90, "ignored-one", 'D', "x", "1 2 3\n");
	fake_task(200, 200, "app", 'S', "0", "1 1 1\n");
	fake_task(200, 201, "app", 'D', "io_schedule", "1 2 3\n"); /* a thread */
	put("sys/stat", "not a task\n");
	put("sys/kernel/hung_task_timeout_secs", "120\n");
	put("sys/kernel/hung_task_warnings", "0\n");
	put("self/stat", "not a task either\n");
	put("555/stat", "555 (trunc) D 1 2"); /* truncated: counted, not misread */
	return 0;
}

static int teardown_proc(void **state)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", proc_dir);
	assert_int_equal(system(cmd), 0);
	captured_reset();
	return 0;
}

static void sampler_leaders(void **state)
{
	struct dstate *d = fake_dstate(false);

	captured_reset();
	for (uint64_t t = 0; t < 30; t += 5)
		assert_int_equal(dstate_sample(d, t * SEC), 0);
	assert_int_equal(n_captured, 0);
	assert_int_equal(d->last_tasks, 6);  /* 1 77 78 90 200 555 */
	assert_int_equal(d->read_errors, 6); /* 555 is truncated: an error each sample, never D */
	assert_int_equal(d->last_dstate, 3);
	assert_true(d->read_errors >= 1);
	assert_int_equal(dstate_sample(d, 31 * SEC), 0);
	/* dd and the hostile comm: two groups (different comm), one event each */
	assert_int_equal(n_captured, 2);
	struct vigil_event *dd = streq(vigil_event_get_str(captured[0], "comm"), "dd") ? captured[0] : captured[1];
	struct vigil_event *ho = dd == captured[0] ? captured[1] : captured[0];
	assert_string_equal(vigil_event_kind(dd), "task_stuck");
	assert_int_equal(vigil_event_severity(dd), VIGIL_SEV_WARNING);
	assert_int_equal(vigil_event_get_int(dd, "pid", 0), 77);
	assert_int_equal(vigil_event_get_int(dd, "tid", 0), 77);
	assert_string_equal(vigil_event_get_str(dd, "wchan"), "percpu_rwsem_wait");
	assert_int_equal(vigil_event_get_int(dd, "duration_s", 0), 31);
	assert_int_equal(vigil_event_get_int(dd, "tasks", 0), 1);
	assert_int_equal(vigil_event_count(dd), 1);
	assert_string_equal(vigil_event_get_str(dd, "condition"), "task_stuck/dd/percpu_rwsem_wait");
	assert_true(json_object_get_boolean(vigil_event_get(dd, "active")));
	json_object *frames = vigil_event_get(dd, "frames");
	assert_int_equal(json_object_array_length(frames), 3);
	assert_string_equal(
	    json_object_get_string(json_object_object_get(json_object_array_get_idx(frames, 1), "module")), "ext4");
	assert_int_equal(json_object_array_length(vigil_event_get(dd, "stack")), 3);
	assert_string_equal(vigil_event_get_str(ho, "comm"), "a) D (b");
	/* the kernel's hung-task reports are exhausted: say so */
	assert_int_equal(vigil_event_get_int(dd, "hung_task_warnings", -5), 0);
	assert_int_equal(vigil_event_get_int(dd, "hung_task_timeout_s", -5), 120);
	assert_string_equal(vigil_event_summary(dd),
			    "1 task stuck in D state for 31s: dd (pid 77) in percpu_rwsem_wait");

	/* dd wakes up (state S), the hostile one exits */
	char line[256];
	stat_line(line, sizeof(line), 77, "dd", 'S', 1000);
	put("77/stat", line);
	char path[600];
	snprintf(path, sizeof(path), "%s/78/stat", proc_dir);
	assert_int_equal(unlink(path), 0);
	captured_reset();
	assert_int_equal(dstate_sample(d, 36 * SEC), 0);
	assert_int_equal(n_captured, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_false(json_object_get_boolean(vigil_event_get(captured[i], "active")));
		assert_int_equal(vigil_event_severity(captured[i]), VIGIL_SEV_INFO);
	}
	assert_int_equal(d->tr.n_groups, 0);
	captured_reset();
	dstate_free(d);
}

static void sampler_threads(void **state)
{
	struct dstate *d = fake_dstate(true);
	char line[256];

	captured_reset();
	/* restore what sampler_leaders changed */
	stat_line(line, sizeof(line), 77, "dd", 'D', 1000);
	put("77/stat", line);
	put("77/task/77/stat", line);
	/* as the loop runs it: slices of 2 tasks */
	for (uint64_t t = 0; t <= 30; t += 5) {
		unsigned steps = 0;
		int r;
		assert_int_equal(dstate_sample_begin(d, t * SEC), 0);
		while ((r = dstate_sample_step(d, 2)) == 0)
			steps++;
		assert_int_equal(r, 1);
		assert_int_equal(steps, 3); /* 6 tasks: 3 full slices, the 4th finds the end */
		assert_false(d->scanning);
		if (t < 30)
			assert_int_equal(n_captured, 0);
	}
	assert_int_equal(d->last_tasks, 6); /* the thread 201 is seen too */
	bool thread_seen = false;
	for (size_t i = 0; i < n_captured; i++)
		if (vigil_event_get_int(captured[i], "tid", 0) == 201) {
			thread_seen = true;
			assert_int_equal(vigil_event_get_int(captured[i], "pid", 0), 200);
			assert_string_equal(vigil_event_get_str(captured[i], "wchan"), "io_schedule");
		}
	assert_true(thread_seen);
	captured_reset();
	dstate_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parse_own_stat),
	    cmocka_unit_test(parse_real_lines),
	    cmocka_unit_test(parse_hostile_comm),
	    cmocka_unit_test(parse_truncated),
	    cmocka_unit_test(parse_garbage),
	    cmocka_unit_test(parse_frames),
	    cmocka_unit_test(tracker_threshold_and_clear),
	    cmocka_unit_test(tracker_aggregates),
	    cmocka_unit_test(tracker_progress_is_not_stuck),
	    cmocka_unit_test(tracker_pid_reuse),
	    cmocka_unit_test(tracker_bounded),
	    cmocka_unit_test(sampler_leaders),
	    cmocka_unit_test(sampler_threads),
	};
	return cmocka_run_group_tests(tests, setup_proc, teardown_proc);
}
