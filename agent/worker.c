/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Worker threads. Each job gets a detached thread; when fn returns, the
 * thread writes the job pointer into a pipe the loop watches (an 8-byte
 * write to a pipe is atomic). All bookkeeping — callbacks, timeouts,
 * freeing — happens on the loop thread, so jobs need no locks. A job whose
 * deadline passed is "abandoned": done() already ran with -ETIMEDOUT, and
 * the job is freed when (if ever) its thread finishes. A thread stuck
 * forever on a dead disk costs one thread and one job, never the loop.
 */
#include "worker.h"
#include "util.h"

#include <fcntl.h>
#include <pthread.h>

struct job {
	struct job *prev, *next;
	struct vigil_workers *w;
	struct vigil_ctx *ctx;
	vigil_worker_fn fn;
	void *arg;
	void (*free_arg)(void *);
	vigil_worker_done_fn done;
	void *userdata;
	sd_event_source *timer;
	int result;
	bool abandoned;
};

struct vigil_workers {
	sd_event *loop;
	int pipe[2];
	sd_event_source *io;
	struct job *jobs;
	unsigned running;
};

static void job_unlink(struct job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else if (j->w->jobs == j)
		j->w->jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	j->prev = j->next = NULL;
}

static void job_free(struct job *j)
{
	sd_event_source_disable_unref(j->timer);
	if (j->free_arg)
		j->free_arg(j->arg);
	free(j);
}

static void *thread_main(void *p)
{
	struct job *j = p;
	j->result = j->fn(j->arg);
	/* The pipe is the only thing this thread touches after fn. */
	int fd = j->w->pipe[1];
	while (write(fd, &j, sizeof(j)) < 0 && errno == EINTR)
		;
	return NULL;
}

static int on_pipe(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct vigil_workers *w = userdata;
	struct job *j;
	ssize_t n;

	while ((n = read(fd, &j, sizeof(j))) == (ssize_t)sizeof(j)) {
		w->running--;
		if (!j->abandoned) {
			job_unlink(j);
			if (j->done)
				j->done(j->ctx, j->result, j->userdata);
		}
		job_free(j);
	}
	return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct job *j = userdata;
	j->abandoned = true;
	job_unlink(j);
	if (j->done)
		j->done(j->ctx, -ETIMEDOUT, j->userdata);
	j->done = NULL;
	return 0;
}

int vigil_workers_new(sd_event *loop, struct vigil_workers **ret)
{
	struct vigil_workers *w = calloc(1, sizeof(*w));
	int r;
	if (!w)
		return -ENOMEM;
	w->loop = sd_event_ref(loop);
	if (pipe2(w->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		r = negative_errno();
		sd_event_unref(w->loop);
		free(w);
		return r;
	}
	r = sd_event_add_io(loop, &w->io, w->pipe[0], EPOLLIN, on_pipe, w);
	if (r < 0) {
		close(w->pipe[0]);
		close(w->pipe[1]);
		sd_event_unref(w->loop);
		free(w);
		return r;
	}
	(void)sd_event_source_set_description(w->io, "workers");
	*ret = w;
	return 0;
}

struct vigil_workers *vigil_workers_free(struct vigil_workers *w)
{
	if (!w)
		return NULL;
	/* Threads still running keep their job; we cannot free what they use,
	 * so leave jobs and the write end alone when any is still out. */
	for (struct job *j = w->jobs; j; j = j->next)
		j->abandoned = true;
	sd_event_source_disable_unref(w->io);
	if (w->running == 0) {
		close(w->pipe[0]);
		close(w->pipe[1]);
		sd_event_unref(w->loop);
		free(w);
	}
	return NULL;
}

int vigil_workers_submit(struct vigil_workers *w, struct vigil_ctx *ctx, vigil_worker_fn fn, void *arg,
			 void (*free_arg)(void *), uint64_t timeout_usec, vigil_worker_done_fn done, void *userdata)
{
	pthread_attr_t attr;
	pthread_t t;
	int r;

	if (w->running >= VIGIL_WORKERS_MAX) {
		if (free_arg)
			free_arg(arg);
		return -EBUSY;
	}
	struct job *j = calloc(1, sizeof(*j));
	if (!j) {
		if (free_arg)
			free_arg(arg);
		return -ENOMEM;
	}
	*j = (struct job){.w = w, .ctx = ctx, .fn = fn, .arg = arg, .free_arg = free_arg, .done = done,
			  .userdata = userdata};
	if (timeout_usec) {
		uint64_t now;
		sd_event_now(w->loop, CLOCK_MONOTONIC, &now);
		r = sd_event_add_time(w->loop, &j->timer, CLOCK_MONOTONIC, now + timeout_usec, 0, on_timeout, j);
		if (r < 0) {
			job_free(j);
			return r;
		}
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	r = -pthread_create(&t, &attr, thread_main, j);
	pthread_attr_destroy(&attr);
	if (r < 0) {
		job_free(j);
		return r;
	}
	j->next = w->jobs;
	if (w->jobs)
		w->jobs->prev = j;
	w->jobs = j;
	w->running++;
	return 0;
}

unsigned vigil_workers_running(const struct vigil_workers *w) { return w->running; }

unsigned vigil_workers_pending(const struct vigil_workers *w)
{
	unsigned n = 0;
	for (const struct job *j = w->jobs; j; j = j->next) /* abandoned jobs are unlinked */
		n++;
	return n;
}

void vigil_workers_detach_ctx(struct vigil_workers *w, struct vigil_ctx *ctx)
{
	for (struct job *j = w->jobs; j; j = j->next)
		if (j->ctx == ctx) {
			j->done = NULL;
			j->timer = sd_event_source_disable_unref(j->timer);
		}
}
