/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The atomic-write helper, the state directory and worker threads with
 * deadlines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "state.h"
#include "util.h"
#include "worker.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

static void test_atomic_write(void **state)
{
	char dir[] = "/tmp/vigil-test-state-XXXXXX", *buf = NULL, p[128];
	assert_non_null(mkdtemp(dir));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	assert_int_equal(vigil_write_file_atomic(dfd, "ledger", "one\n", 4, 0600), 0);
	assert_int_equal(vigil_write_file_atomic(dfd, "ledger", "two\n", 4, 0640), 0);
	assert_int_equal(vigil_state_read(dir, "ledger", 100, &buf), 0);
	assert_string_equal(buf, "two\n");
	free(buf);
	struct stat st;
	assert_int_equal(fstatat(dfd, "ledger", &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	/* no temporary file is left behind */
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	assert_int_equal(n, 1);
	/* a path with a directory part, absolute via AT_FDCWD */
	snprintf(p, sizeof(p), "%s/sub", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/sub/x", dir);
	assert_int_equal(vigil_write_file_atomic(AT_FDCWD, p, "x", 1, 0600), 0);
	assert_int_equal(vigil_write_file_atomic(dfd, "missing/x", "x", 1, 0600), -ENOENT);
	/* bounded reads */
	assert_int_equal(vigil_state_read(dir, "ledger", 2, &buf), -EFBIG);
	assert_int_equal(vigil_state_read(dir, "nothing", 100, &buf), -ENOENT);
	close(dfd);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_state_dir(void **state)
{
	char dir[] = "/tmp/vigil-test-sdir-XXXXXX", p[128];
	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/a/b/state", dir);
	assert_int_equal(vigil_state_dir_prepare(p), 0);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(chmod(p, 0777), 0);
	assert_int_equal(vigil_state_dir_prepare(p), -EPERM);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

struct result {
	int calls, last;
	sd_event *loop;
};

static int work_quick(void *arg) { return *(int *)arg; }
static int work_slow(void *arg)
{
	struct timespec ts = {0, 300 * 1000 * 1000};
	nanosleep(&ts, NULL);
	return 1;
}

static void done_cb(struct vigil_ctx *ctx, int result, void *userdata)
{
	struct result *r = userdata;
	r->calls++;
	r->last = result;
}

static int freed;
static void free_int(void *p)
{
	freed++;
	free(p);
}

static void test_workers(void **state)
{
	sd_event *loop = NULL;
	struct vigil_workers *w = NULL;
	struct result res = {0};
	assert_int_equal(sd_event_new(&loop), 0);
	res.loop = loop;
	assert_int_equal(vigil_workers_new(loop, &w), 0);
	int *v = malloc(sizeof(int));
	*v = 42;
	assert_int_equal(vigil_workers_submit(w, NULL, work_quick, v, free_int, 5 * USEC_PER_SEC, done_cb, &res), 0);
	for (int i = 0; i < 500 && res.calls < 1; i++)
		sd_event_run(loop, 10 * USEC_PER_MSEC);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.last, 42);
	assert_int_equal(freed, 1);
	/* deadline first: done gets -ETIMEDOUT, the thread finishes later and
	 * its argument is still freed exactly once */
	v = malloc(sizeof(int));
	assert_int_equal(vigil_workers_submit(w, NULL, work_slow, v, free_int, 50 * USEC_PER_MSEC, done_cb, &res), 0);
	for (int i = 0; i < 500 && res.calls < 2; i++)
		sd_event_run(loop, 10 * USEC_PER_MSEC);
	assert_int_equal(res.calls, 2);
	assert_int_equal(res.last, -ETIMEDOUT);
	assert_int_equal(freed, 1);
	for (int i = 0; i < 100 && vigil_workers_running(w); i++)
		sd_event_run(loop, 10 * USEC_PER_MSEC);
	assert_int_equal(vigil_workers_running(w), 0);
	assert_int_equal(freed, 2);
	assert_int_equal(res.calls, 2);
	vigil_workers_free(w);
	sd_event_unref(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_atomic_write),
		cmocka_unit_test(test_state_dir),
		cmocka_unit_test(test_workers),
	};
	return cmocka_run_group_tests_name("state", tests, NULL, NULL);
}
