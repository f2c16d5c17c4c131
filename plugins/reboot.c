/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* reboot: a controlled reboot that cannot make things worse. The loop guard
 * (plugins/remedy/ledger.c) decides first, from a ledger loaded into memory
 * at start; once it says yes nothing on the path reads a file: the ledger
 * is written and the alerts flushed in parallel, each with a deadline
 * (the root disk may be dead), then logind/systemd are asked over sd-bus
 * (graceful), then sync() on a worker with its own deadline, reboot(2) on a
 * thread of our own with a deadline, and sysrq 'b' through a descriptor
 * opened at start as the last resort. Mode panic writes 'c' to sysrq so a
 * loaded crash kernel captures the state, and falls back to a reboot when
 * no dump can be taken and the kernel would not reboot by itself.
 *
 * Every side effect goes through one ops table; `test_mode = yes` swaps in
 * one that writes what would happen to `test_log` (and can simulate
 * failures and hangs), which is how the tests drive the whole path. */
#include "vigil/plugin.h"
#include "util.h"
#include "remedy/ledger.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <syslog.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#define REBOOT_LEDGER_FILE "ledger"
#define SEC(u) ((uint64_t)((u) / USEC_PER_SEC))
#define MSEC(u) ((uint64_t)((u) / USEC_PER_MSEC))

enum reboot_mode { MODE_GRACEFUL, MODE_FORCED, MODE_PANIC };
static const char *const reboot_modes[] = {"graceful", "forced", "panic", NULL};
static const char *const corrupt_policies[] = {"refuse", "allow", NULL};

/* Simulated failures for test_mode (bit per name in test_fail). */
enum {
	SIM_FAIL_BUS = 1u << 0,    /* sd-bus path errors out */
	SIM_HANG_SYNC = 1u << 1,   /* sync() never returns */
	SIM_FAIL_REBOOT = 1u << 2, /* reboot(2) returns an error */
	SIM_HANG_REBOOT = 1u << 3, /* reboot(2) blocks (device shutdown on a dead disk) */
	SIM_FAIL_SYSRQ = 1u << 4,
	SIM_FAIL_PANIC = 1u << 5, /* sysrq c does not take the machine down */
	SIM_NO_DUMP = 1u << 6,    /* no crash kernel loaded and kernel.panic = 0 */
};
static const char *const sim_names[] = {"bus",   "sync-hang", "reboot", "reboot-hang",
					"sysrq", "panic",     "nodump", NULL};

enum reboot_phase {
	PHASE_IDLE,
	PHASE_PREPARE, /* ledger write + alert flush */
	PHASE_BUS,     /* waiting for logind/systemd to answer */
	PHASE_GRACEFUL,
	PHASE_SYNC,
	PHASE_PANIC,
	PHASE_DIRECT,  /* reboot(2) issued */
	PHASE_SYSRQ,   /* sysrq b written; nothing left */
	PHASE_DONE,    /* test mode: the simulated machine went down */
};
static const char *const phase_names[] = {"idle", "prepare", "bus", "graceful", "sync", "panic", "direct",
					  "sysrq", "done"};

/* The side effects, injectable. Called on worker threads (sync, reboot)
 * or the loop (sysrq); they must not log. */
struct reboot_env {
	bool test;
	int log_fd;          /* test_mode: where we write what we would do */
	unsigned sim;        /* SIM_* */
	uint64_t hang_usec;  /* how long a simulated hang lasts */
};

static void env_note(const struct reboot_env *env, const char *what)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "%s\n", what);
	if (env->log_fd >= 0 && n > 0)
		(void)!write(env->log_fd, line, (size_t)n);
}

static int op_sync(const struct reboot_env *env)
{
	if (!env->test) {
		sync();
		return 0;
	}
	env_note(env, "sync");
	if (env->sim & SIM_HANG_SYNC)
		usleep((useconds_t)env->hang_usec);
	return 0;
}

static int op_reboot(const struct reboot_env *env)
{
	if (!env->test)
		return reboot(RB_AUTOBOOT) < 0 ? negative_errno() : 0;
	env_note(env, "reboot RB_AUTOBOOT");
	if (env->sim & SIM_HANG_REBOOT) {
		usleep((useconds_t)env->hang_usec);
		return -ETIMEDOUT;
	}
	return (env->sim & SIM_FAIL_REBOOT) ? -EPERM : 0;
}

static int op_sysrq(const struct reboot_env *env, int fd, char c)
{
	if (env->test) {
		char what[16] = "sysrq ?";
		what[6] = c;
		env_note(env, what);
		if ((env->sim & SIM_FAIL_SYSRQ) || (c == 'c' && (env->sim & SIM_FAIL_PANIC)))
			return -EIO;
		return 0;
	}
	if (fd < 0)
		return -EBADF;
	return pwrite(fd, &c, 1, 0) == 1 ? 0 : negative_errno();
}

struct reboot_job {
	struct reboot_env env; /* own dup of log_fd */
};

static void reboot_job_free(void *p)
{
	struct reboot_job *j = p;
	if (!j)
		return;
	if (j->env.log_fd >= 0)
		close(j->env.log_fd);
	free(j);
}

struct reboot_plugin;

struct reboot_inst {
	struct reboot_plugin *p;
	char name[64];
	enum reboot_mode mode;
	uint64_t flush_timeout, bus_timeout, graceful_timeout, sync_timeout, reboot_timeout;
	char reason[LEDGER_REASON_MAX];
	unsigned runs, suppressed;
};

struct reboot_plugin {
	struct vigil_ctx *ctx;
	struct ledger ledger;
	struct ledger_policy policy;
	bool ledger_loaded;   /* false: no state dir or unreadable */
	int ledger_load_error;
	bool corrupt_allow, dry_run, sysrq_fallback;
	uint64_t ledger_timeout;
	int state_dirfd;      /* <state>/reboot */
	int sysrq_fd;         /* /proc/sysrq-trigger, opened at start */
	int crash_loaded_fd;  /* /sys/kernel/kexec_crash_loaded */
	int panic_fd;         /* /proc/sys/kernel/panic */
	struct reboot_env env;
	char *ledger_buf;     /* preallocated LEDGER_BUF_SIZE */

	/* The reboot in progress (at most one). */
	enum reboot_phase phase;
	struct reboot_inst *cur; /* &run while a reboot is in flight */
	struct reboot_inst run;  /* copy of the instance that decided */
	sd_event_source *direct_src;
	unsigned pending; /* ledger + flush outstanding */
	int ledger_result, flush_result;
	sd_event_source *timer;
	sd_bus *bus;
	sd_bus_slot *bus_slot;
	bool bus_tried_systemd;
	char last_reason[LEDGER_REASON_MAX];
	char last_error[128];
	unsigned requested, refused, performed, ledger_write_failures;
};

/* ------------------------------------------------------------------ helpers */

static void set_error(struct reboot_plugin *p, const char *what, int r)
{
	snprintf(p->last_error, sizeof(p->last_error), "%s: %s", what, strerror(r < 0 ? -r : r));
}

static int arm_timer(struct reboot_plugin *p, uint64_t usec, sd_event_time_handler_t cb)
{
	p->timer = sd_event_source_disable_unref(p->timer);
	return sd_event_add_time_relative(vigil_loop(p->ctx), &p->timer, CLOCK_MONOTONIC, usec, 10 * USEC_PER_MSEC,
					  cb, p);
}

/* Small integer from a descriptor opened at start (procfs/sysfs: memory,
 * never the disk). */
static int read_fd_int(int fd, long *ret)
{
	char buf[32];
	if (fd < 0)
		return -EBADF;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return n < 0 ? negative_errno() : -ENODATA;
	buf[n] = 0;
	char *end;
	errno = 0;
	long v = strtol(buf, &end, 10);
	if (errno || end == buf)
		return -EINVAL;
	*ret = v;
	return 0;
}

static void start_direct(struct reboot_plugin *p);
static void start_sync(struct reboot_plugin *p, enum reboot_phase next);

/* ------------------------------------------------------------------ last resort */

static void do_sysrq_b(struct reboot_plugin *p)
{
	p->phase = PHASE_SYSRQ;
	if (!p->sysrq_fallback) {
		vigil_log(p->ctx, LOG_CRIT, "reboot(2) did not take the machine down and sysrq_fallback = no: giving up");
		return;
	}
	int r = op_sysrq(&p->env, p->sysrq_fd, 'b');
	if (r < 0) {
		set_error(p, "sysrq b", r);
		vigil_log_errno(p->ctx, LOG_CRIT, r, "sysrq 'b' failed, the machine stays up: %m");
		return;
	}
	if (p->env.test)
		p->phase = PHASE_DONE;
}

static int on_direct_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct reboot_plugin *p = userdata;
	vigil_log(p->ctx, LOG_CRIT, "still up %" PRIu64 "ms after reboot(2), writing sysrq 'b'",
		  MSEC(p->cur->reboot_timeout));
	do_sysrq_b(p);
	return 0;
}

struct direct_ctx {
	struct reboot_job *job;
	int result_fd; /* write end: 4-byte result for the loop (test mode) */
};

static void *direct_thread(void *arg)
{
	struct direct_ctx *d = arg;
	int r = op_reboot(&d->job->env);
	/* Only reached when reboot(2) failed, or in test mode. */
	(void)!write(d->result_fd, &r, sizeof(r));
	close(d->result_fd);
	reboot_job_free(d->job);
	free(d);
	return NULL;
}

static int on_direct_result(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct reboot_plugin *p = userdata;
	int r = -EIO;
	ssize_t n = read(fd, &r, sizeof(r));
	p->direct_src = sd_event_source_disable_unref(p->direct_src);
	if (n != (ssize_t)sizeof(r))
		return 0; /* thread still blocked or gone: the timer decides */
	if (r >= 0 && p->env.test) {
		p->phase = PHASE_DONE;
		p->performed++;
		p->timer = sd_event_source_disable_unref(p->timer);
		vigil_log(p->ctx, LOG_NOTICE, "test mode: reboot(2) would have taken the machine down");
		return 0;
	}
	if (r < 0) {
		set_error(p, "reboot(2)", r);
		vigil_log_errno(p->ctx, LOG_CRIT, r, "reboot(2) failed: %m, writing sysrq 'b'");
		p->timer = sd_event_source_disable_unref(p->timer);
		do_sysrq_b(p);
	}
	return 0;
}

/* reboot(2) runs on a thread of our own (not the shared worker pool, which
 * may be stuck behind an fsync to the dead disk) with a small stack, so a
 * reboot that blocks in device shutdown leaves the loop free to fire sysrq. */
static void start_direct(struct reboot_plugin *p)
{
	_cleanup_close_ int rfd = -1, wfd = -1;
	int pipefd[2], r;
	pthread_attr_t attr;
	pthread_t t;

	p->phase = PHASE_DIRECT;
	vigil_log(p->ctx, LOG_CRIT, "rebooting now with reboot(2)");
	r = arm_timer(p, p->cur->reboot_timeout, on_direct_timeout);
	if (r < 0)
		goto fallback;
	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0) {
		r = negative_errno();
		goto fallback;
	}
	rfd = pipefd[0];
	wfd = pipefd[1];
	struct direct_ctx *d = calloc(1, sizeof(*d));
	struct reboot_job *j = calloc(1, sizeof(*j));
	if (!d || !j) {
		free(d);
		free(j);
		r = -ENOMEM;
		goto fallback;
	}
	j->env = p->env;
	j->env.log_fd = p->env.log_fd >= 0 ? fcntl(p->env.log_fd, F_DUPFD_CLOEXEC, 3) : -1;
	d->job = j;
	d->result_fd = wfd;
	p->direct_src = sd_event_source_disable_unref(p->direct_src);
	r = sd_event_add_io(vigil_loop(p->ctx), &p->direct_src, rfd, EPOLLIN, on_direct_result, p);
	if (r >= 0)
		r = sd_event_source_set_io_fd_own(p->direct_src, true);
	if (r < 0) {
		reboot_job_free(j);
		free(d);
		goto fallback;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = -pthread_create(&t, &attr, direct_thread, d);
	pthread_attr_destroy(&attr);
	if (r < 0) {
		reboot_job_free(j);
		free(d);
		goto fallback;
	}
	/* The io source owns the read end, the thread the write end. */
	TAKE_FD(wfd);
	TAKE_FD(rfd);
	return;
fallback:
	set_error(p, "starting reboot(2)", r);
	vigil_log_errno(p->ctx, LOG_CRIT, r, "cannot run reboot(2) off the loop: %m; calling it here");
	r = op_reboot(&p->env);
	if (r >= 0 && p->env.test) {
		p->phase = PHASE_DONE;
		return;
	}
	do_sysrq_b(p);
}

/* ------------------------------------------------------------------ sync */

static int sync_worker(void *arg)
{
	struct reboot_job *j = arg;
	return op_sync(&j->env);
}

static void on_sync_then_direct(struct vigil_ctx *ctx, int result, void *userdata)
{
	struct reboot_plugin *p = userdata;
	if (result == -ETIMEDOUT)
		vigil_log(ctx, LOG_WARNING, "sync() did not finish within %" PRIu64 "ms (dead disk?), rebooting anyway",
			  MSEC(p->cur->sync_timeout));
	start_direct(p);
}

static int on_panic_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct reboot_plugin *p = userdata;
	vigil_log(p->ctx, LOG_CRIT, "still up after sysrq 'c', rebooting directly");
	start_direct(p);
	return 0;
}

static void do_panic(struct reboot_plugin *p)
{
	int r;
	p->phase = PHASE_PANIC;
	vigil_log(p->ctx, LOG_CRIT, "crashing the kernel with sysrq 'c' so the crash kernel captures the state");
	r = arm_timer(p, p->cur->reboot_timeout, on_panic_timeout);
	if (r < 0) {
		start_direct(p);
		return;
	}
	r = op_sysrq(&p->env, p->sysrq_fd, 'c');
	if (r < 0) {
		set_error(p, "sysrq c", r);
		vigil_log_errno(p->ctx, LOG_CRIT, r, "sysrq 'c' failed: %m, rebooting directly");
		start_direct(p);
		return;
	}
	if (p->env.test) {
		p->phase = PHASE_DONE;
		p->performed++;
		p->timer = sd_event_source_disable_unref(p->timer);
	}
}

static void on_sync_then_panic(struct vigil_ctx *ctx, int result, void *userdata)
{
	struct reboot_plugin *p = userdata;
	if (result == -ETIMEDOUT)
		vigil_log(ctx, LOG_WARNING, "sync() did not finish within %" PRIu64 "ms, crashing anyway",
			  MSEC(p->cur->sync_timeout));
	do_panic(p);
}

static void start_sync(struct reboot_plugin *p, enum reboot_phase next)
{
	struct reboot_job *j = calloc(1, sizeof(*j));
	vigil_worker_done_fn done = next == PHASE_PANIC ? on_sync_then_panic : on_sync_then_direct;
	int r;

	p->phase = PHASE_SYNC;
	if (!j) {
		done(p->ctx, -ENOMEM, p);
		return;
	}
	j->env = p->env;
	j->env.log_fd = p->env.log_fd >= 0 ? fcntl(p->env.log_fd, F_DUPFD_CLOEXEC, 3) : -1;
	r = vigil_worker_submit(p->ctx, sync_worker, j, reboot_job_free, p->cur->sync_timeout, done, p);
	if (r < 0) {
		vigil_log_errno(p->ctx, LOG_WARNING, r, "cannot run sync() on a worker: %m, skipping it");
		done(p->ctx, r, p);
	}
}

/* ------------------------------------------------------------------ sd-bus */

static int on_graceful_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct reboot_plugin *p = userdata;
	vigil_log(p->ctx, LOG_CRIT, "still up %" PRIu64 "s after asking systemd to reboot, forcing",
		  SEC(p->cur->graceful_timeout));
	start_sync(p, PHASE_DIRECT);
	return 0;
}

static void graceful_accepted(struct reboot_plugin *p, const char *who)
{
	int r;
	p->phase = PHASE_GRACEFUL;
	vigil_log(p->ctx, LOG_CRIT, "%s accepted the reboot; forcing it if still up in %" PRIu64 "s", who,
		  SEC(p->cur->graceful_timeout));
	r = arm_timer(p, p->cur->graceful_timeout, on_graceful_timeout);
	if (r < 0) {
		vigil_log_errno(p->ctx, LOG_CRIT, r, "cannot arm the graceful deadline: %m, forcing now");
		start_sync(p, PHASE_DIRECT);
	}
}

static int bus_try(struct reboot_plugin *p);

static int on_bus_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct reboot_plugin *p = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(m);

	p->bus_slot = sd_bus_slot_unref(p->bus_slot);
	if (!e) {
		graceful_accepted(p, p->bus_tried_systemd ? "systemd" : "logind");
		return 0;
	}
	vigil_log(p->ctx, LOG_WARNING, "%s refused the reboot: %s", p->bus_tried_systemd ? "systemd" : "logind",
		  e->message ? e->message : e->name);
	if (!p->bus_tried_systemd) {
		p->bus_tried_systemd = true;
		if (bus_try(p) >= 0)
			return 0;
	}
	start_sync(p, PHASE_DIRECT);
	return 0;
}

static int bus_try(struct reboot_plugin *p)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	int r;

	if (!p->bus) {
		/* Connects to /run/dbus/system_bus_socket (tmpfs): no disk, and
		 * fails at once where there is no bus (minimal guests). */
		r = sd_bus_open_system(&p->bus);
		if (r < 0)
			return r;
		r = sd_bus_attach_event(p->bus, vigil_loop(p->ctx), SD_EVENT_PRIORITY_NORMAL);
		if (r < 0)
			return r;
	}
	if (!p->bus_tried_systemd)
		r = sd_bus_message_new_method_call(p->bus, &m, "org.freedesktop.login1", "/org/freedesktop/login1",
						   "org.freedesktop.login1.Manager", "Reboot");
	else
		r = sd_bus_message_new_method_call(p->bus, &m, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
						   "org.freedesktop.systemd1.Manager", "StartUnit");
	if (r < 0)
		return r;
	if (!p->bus_tried_systemd)
		r = sd_bus_message_append(m, "b", 0);
	else
		r = sd_bus_message_append(m, "ss", "reboot.target", "replace-irreversibly");
	if (r < 0)
		return r;
	return sd_bus_call_async(p->bus, &p->bus_slot, m, on_bus_reply, p, p->cur->bus_timeout);
}

static void start_graceful(struct reboot_plugin *p)
{
	int r;
	p->phase = PHASE_BUS;
	p->bus_tried_systemd = false;
	if (p->env.test) {
		env_note(&p->env, "bus logind Reboot");
		if (p->env.sim & SIM_FAIL_BUS) {
			vigil_log(p->ctx, LOG_WARNING, "test mode: sd-bus reboot fails, going direct");
			start_sync(p, PHASE_DIRECT);
		} else
			graceful_accepted(p, "logind (test mode)");
		return;
	}
	r = bus_try(p);
	if (r < 0) {
		p->bus = sd_bus_flush_close_unref(p->bus);
		vigil_log_errno(p->ctx, LOG_WARNING, r, "no reboot over sd-bus (%m), going direct");
		start_sync(p, PHASE_DIRECT);
	}
}

/* ------------------------------------------------------------------ the decision */

static bool crash_will_reboot(struct reboot_plugin *p)
{
	long loaded = 0, panic_secs = 0;
	if (p->env.test)
		return !(p->env.sim & SIM_NO_DUMP);
	if (read_fd_int(p->crash_loaded_fd, &loaded) >= 0 && loaded == 1)
		return true;
	/* No crash kernel: a panic only ends if kernel.panic != 0. */
	return read_fd_int(p->panic_fd, &panic_secs) >= 0 && panic_secs != 0;
}

static void proceed(struct reboot_plugin *p)
{
	switch (p->cur->mode) {
	case MODE_GRACEFUL:
		start_graceful(p);
		break;
	case MODE_FORCED:
		start_sync(p, PHASE_DIRECT);
		break;
	case MODE_PANIC:
		if (!crash_will_reboot(p)) {
			vigil_log(p->ctx, LOG_WARNING,
				  "mode panic but no crash kernel is loaded and kernel.panic = 0: a panic would hang "
				  "the machine, rebooting instead");
			start_sync(p, PHASE_DIRECT);
		} else
			start_sync(p, PHASE_PANIC);
		break;
	}
}

static void prepare_step_done(struct reboot_plugin *p)
{
	if (p->pending > 0 && --p->pending == 0)
		proceed(p);
}

static void on_ledger_written(struct vigil_ctx *ctx, int result, void *userdata)
{
	struct reboot_plugin *p = userdata;
	p->ledger_result = result;
	if (result < 0) {
		p->ledger_write_failures++;
		/* Reboot anyway: min_uptime still bounds a loop, and the in-memory
		 * ledger guards this boot. A disk that cannot take 4 KiB is why we
		 * reboot in the first place. */
		vigil_log_errno(ctx, LOG_WARNING, result, "reboot ledger not written (%m), rebooting anyway");
	}
	prepare_step_done(p);
}

static void on_flushed(struct vigil_ctx *ctx, int result, void *userdata)
{
	struct reboot_plugin *p = userdata;
	p->flush_result = result;
	if (result < 0)
		vigil_log_errno(ctx, LOG_WARNING, result, "alert flush incomplete (%m), rebooting anyway");
	prepare_step_done(p);
}

struct ledger_write_job {
	int dirfd;
	char *buf;
	size_t len;
};

static void ledger_write_job_free(void *arg)
{
	struct ledger_write_job *j = arg;
	if (!j)
		return;
	if (j->dirfd >= 0)
		close(j->dirfd);
	free(j->buf);
	free(j);
}

static int ledger_write_worker(void *arg)
{
	struct ledger_write_job *j = arg;
	return vigil_write_file_atomic(j->dirfd, REBOOT_LEDGER_FILE, j->buf, j->len, 0600);
}

/* Hand the preformatted ledger to a worker. The buffer moves into the job
 * (the worker may outlive us on a dead disk); a fresh one is allocated for
 * later, outside the critical path. */
static int submit_ledger_write(struct reboot_plugin *p, int len)
{
	struct ledger_write_job *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->dirfd = fcntl(p->state_dirfd, F_DUPFD_CLOEXEC, 3);
	if (j->dirfd < 0) {
		free(j);
		return negative_errno();
	}
	j->buf = TAKE_PTR(p->ledger_buf);
	j->len = (size_t)len;
	p->ledger_buf = malloc(LEDGER_BUF_SIZE);
	return vigil_worker_submit(p->ctx, ledger_write_worker, j, ledger_write_job_free, p->ledger_timeout,
				   on_ledger_written, p);
}

static void describe_trigger(struct vigil_event *ev, const struct reboot_inst *in, char *buf, size_t size)
{
	int n; /* truncation is fine: the ledger keeps LEDGER_REASON_MAX */
	if (in->reason[0])
		n = snprintf(buf, size, "%s (%s)", in->reason, ev ? vigil_event_kind(ev) : "manual");
	else if (ev)
		n = snprintf(buf, size, "%s: %s [%s]", vigil_event_kind(ev), strempty(vigil_event_summary(ev)),
			     vigil_event_id(ev));
	else
		n = snprintf(buf, size, "manual");
	if (n < 0)
		buf[0] = 0;
}

static json_object *trigger_json(struct vigil_event *ev)
{
	json_object *o = json_object_new_object();
	if (!o || !ev)
		return o;
	json_object_object_add(o, "kind", json_object_new_string(vigil_event_kind(ev)));
	json_object_object_add(o, "id", json_object_new_string(vigil_event_id(ev)));
	json_object_object_add(o, "summary", json_object_new_string(strempty(vigil_event_summary(ev))));
	return o;
}

static int emit_suppressed(struct reboot_plugin *p, struct reboot_inst *in, struct vigil_event *ev,
			   enum ledger_verdict v, unsigned count, uint64_t uptime)
{
	struct vigil_event *e = vigil_event_new("reboot_suppressed", VIGIL_SEV_CRITICAL);
	const char *trig = ev ? vigil_event_kind(ev) : "manual";
	if (!e)
		return -ENOMEM;
	switch (v) {
	case LEDGER_REFUSE_UPTIME:
		vigil_event_set_summary(e, "reboot for %s suppressed: uptime %" PRIu64 "s < min_uptime %" PRIu64 "s",
					trig, SEC(uptime), SEC(p->policy.min_uptime_usec));
		break;
	case LEDGER_REFUSE_COUNT:
		vigil_event_set_summary(e,
					"reboot for %s suppressed: %u reboots in the last %" PRIu64 "s (max_reboots %u)",
					trig, count, SEC(p->policy.window_usec), p->policy.max_reboots);
		break;
	default:
		vigil_event_set_summary(e, "reboot for %s suppressed: reboot ledger was corrupt or unreadable", trig);
		break;
	}
	vigil_event_set_str(e, "verdict", ledger_verdict_to_string(v));
	vigil_event_set_str(e, "action", in->name);
	vigil_event_set_int(e, "reboots_in_window", count);
	vigil_event_set_int(e, "max_reboots", p->policy.max_reboots);
	vigil_event_set_int(e, "window_s", (int64_t)(p->policy.window_usec / USEC_PER_SEC));
	vigil_event_set_int(e, "uptime_s", (int64_t)(uptime / USEC_PER_SEC));
	vigil_event_set_int(e, "min_uptime_s", (int64_t)(p->policy.min_uptime_usec / USEC_PER_SEC));
	vigil_event_set_json(e, "trigger", trigger_json(ev));
	vigil_event_set_dedup_key(e, ledger_verdict_to_string(v));
	return vigil_emit(p->ctx, e);
}

static int emit_rebooting(struct reboot_plugin *p, struct reboot_inst *in, struct vigil_event *ev, unsigned count,
			  bool dry)
{
	struct vigil_event *e = vigil_event_new("agent_reboot", dry ? VIGIL_SEV_INFO : VIGIL_SEV_WARNING);
	if (!e)
		return -ENOMEM;
	vigil_event_set_summary(e, "%s (%s) for %s", dry ? "dry run: would reboot" : "rebooting",
				reboot_modes[in->mode], ev ? vigil_event_kind(ev) : "manual");
	vigil_event_set_str(e, "mode", reboot_modes[in->mode]);
	vigil_event_set_str(e, "action", in->name);
	vigil_event_set_str(e, "reason", p->last_reason);
	vigil_event_set_bool(e, "dry_run", dry);
	vigil_event_set_int(e, "reboots_in_window", count);
	vigil_event_set_int(e, "max_reboots", p->policy.max_reboots);
	vigil_event_set_json(e, "trigger", trigger_json(ev));
	return vigil_emit(p->ctx, e);
}

static int reboot_action_run(struct vigil_ctx *ctx, void *inst, struct vigil_event *ev)
{
	struct reboot_inst *in = inst;
	struct reboot_plugin *p = in->p;
	char reason[LEDGER_REASON_MAX];
	unsigned count = 0;
	uint64_t now = vigil_now(ctx, CLOCK_REALTIME), uptime = vigil_now(ctx, CLOCK_BOOTTIME);
	enum ledger_verdict v;
	int r, len;

	in->runs++;
	p->requested++;
	if (p->phase != PHASE_IDLE) {
		vigil_log(ctx, LOG_INFO, "reboot already in progress (%s), ignoring %s", phase_names[p->phase],
			  ev ? vigil_event_kind(ev) : "request");
		return 0;
	}
	if (!p->ledger_loaded && !p->corrupt_allow) {
		/* No state dir (replay) or a ledger we could not read at all. */
		v = LEDGER_REFUSE_CORRUPT;
	} else
		v = ledger_decide(&p->ledger, &p->policy, now, uptime, &count);
	describe_trigger(ev, in, reason, sizeof(reason));
	if (v != LEDGER_ALLOW) {
		p->refused++;
		in->suppressed++;
		vigil_log(ctx, LOG_WARNING, "reboot refused by the loop guard (%s): %s", ledger_verdict_to_string(v),
			  reason);
		return emit_suppressed(p, in, ev, v, count, uptime);
	}
	vigil_strlcpy(p->last_reason, reason, sizeof(p->last_reason));
	if (p->dry_run) {
		vigil_log(ctx, LOG_NOTICE, "dry run: would reboot (%s, %u of %u in window): %s", reboot_modes[in->mode],
			  count + 1, p->policy.max_reboots, reason);
		return emit_rebooting(p, in, ev, count + 1, true);
	}

	/* The decision is made: from here on no file is read. */
	p->phase = PHASE_PREPARE;
	p->run = *in;
	p->cur = &p->run;
	struct ledger_entry e = {.realtime_usec = now, .uptime_usec = uptime};
	const struct vigil_host *h = vigil_host(ctx);
	vigil_strlcpy(e.boot_id, h && h->boot_id && *h->boot_id ? h->boot_id : "unknown", sizeof(e.boot_id));
	vigil_strlcpy(e.mode, reboot_modes[in->mode], sizeof(e.mode));
	vigil_strlcpy(e.reason, reason, sizeof(e.reason));
	ledger_add(&p->ledger, &e);
	vigil_log(ctx, LOG_CRIT, "rebooting (%s, %u of %u in window): %s", reboot_modes[in->mode], count + 1,
		  p->policy.max_reboots, reason);
	(void)emit_rebooting(p, in, ev, count + 1, false);

	p->pending = 2;
	len = p->ledger_buf ? ledger_format(&p->ledger, p->ledger_buf, LEDGER_BUF_SIZE) : -ENOMEM;
	r = len < 0 ? len : (p->state_dirfd < 0 ? -EBADF : submit_ledger_write(p, len));
	if (r < 0) {
		p->pending--;
		p->ledger_result = r;
		p->ledger_write_failures++;
		vigil_log_errno(ctx, LOG_WARNING, r, "cannot write the reboot ledger (%m), rebooting anyway");
	}
	r = vigil_flush_request(ctx, in->flush_timeout, on_flushed, p);
	if (r < 0) {
		p->flush_result = r;
		prepare_step_done(p);
	}
	return 0;
}

/* ------------------------------------------------------------------ config */

static const struct vigil_config_key reboot_keys[] = {
	{"max_reboots", VIGIL_CFG_INT, "3", 0, 1000, NULL, NULL,
	 "reboots allowed per window (0 = never reboot); counted across boots"},
	{"window", VIGIL_CFG_DURATION, "24h", 1 * (int64_t)USEC_PER_SEC, 365LL * 86400 * (int64_t)USEC_PER_SEC, NULL,
	 NULL, "loop-guard window for max_reboots"},
	{"min_uptime", VIGIL_CFG_DURATION, "5m", 0, 36500LL * 86400 * (int64_t)USEC_PER_SEC, NULL, NULL,
	 "never reboot a machine that has been up for less than this"},
	{"on_corrupt_ledger", VIGIL_CFG_ENUM, "refuse", 0, 0, corrupt_policies, NULL,
	 "refuse: a corrupt/unreadable ledger refuses reboots for one window; allow: start a fresh ledger"},
	{"ledger_timeout", VIGIL_CFG_DURATION, "5s", 100 * (int64_t)USEC_PER_MSEC, 600 * (int64_t)USEC_PER_SEC, NULL,
	 NULL, "deadline for writing the ledger before rebooting anyway"},
	{"dry_run", VIGIL_CFG_BOOL, "no", 0, 0, NULL, NULL, "log and emit what would happen, never reboot"},
	{"sysrq_fallback", VIGIL_CFG_BOOL, "yes", 0, 0, NULL, NULL, "write sysrq 'b' when reboot(2) did not work"},
	{"test_mode", VIGIL_CFG_BOOL, "no", 0, 0, NULL, NULL,
	 "tests only: write the reboot steps to test_log instead of doing them"},
	{"test_log", VIGIL_CFG_PATH, NULL, 0, 0, NULL, NULL, "tests only: file the test_mode steps are appended to"},
	{"test_fail", VIGIL_CFG_LIST, NULL, 0, 0, NULL, NULL,
	 "tests only: simulate failures: bus, sync-hang, reboot, reboot-hang, sysrq, panic"},
	{NULL},
};

static const struct vigil_config_key reboot_action_keys[] = {
	{"mode", VIGIL_CFG_ENUM, "graceful", 0, 0, reboot_modes, NULL,
	 "graceful (logind/systemd, then forced), forced (sync with deadline + reboot(2)), panic (sysrq c for kdump)"},
	{"flush_timeout", VIGIL_CFG_DURATION, "10s", 0, 600 * (int64_t)USEC_PER_SEC, NULL, NULL,
	 "how long to wait for pending alerts to be delivered"},
	{"bus_timeout", VIGIL_CFG_DURATION, "5s", 100 * (int64_t)USEC_PER_MSEC, 120 * (int64_t)USEC_PER_SEC, NULL,
	 NULL, "deadline for logind/systemd to answer"},
	{"graceful_timeout", VIGIL_CFG_DURATION, "60s", 1 * (int64_t)USEC_PER_SEC, 3600 * (int64_t)USEC_PER_SEC,
	 NULL, NULL, "still running this long after systemd accepted: force the reboot"},
	{"sync_timeout", VIGIL_CFG_DURATION, "10s", 0, 600 * (int64_t)USEC_PER_SEC, NULL, NULL,
	 "deadline for sync() before rebooting without it"},
	{"reboot_timeout", VIGIL_CFG_DURATION, "10s", 100 * (int64_t)USEC_PER_MSEC, 600 * (int64_t)USEC_PER_SEC,
	 NULL, NULL, "still up this long after reboot(2) (or sysrq c): next fallback"},
	{"reason", VIGIL_CFG_STRING, NULL, 0, 0, NULL, NULL, "reason recorded in the ledger (default: the event)"},
	{NULL},
};

static int open_state_dir(struct reboot_plugin *p)
{
	const char *sd = vigil_state_dir(p->ctx);
	_cleanup_close_ int base = -1;
	if (!sd)
		return -ENOENT;
	base = open(sd, O_DIRECTORY | O_CLOEXEC | O_RDONLY);
	if (base < 0)
		return negative_errno();
	if (mkdirat(base, "reboot", 0700) < 0 && errno != EEXIST)
		return negative_errno();
	p->state_dirfd = openat(base, "reboot", O_DIRECTORY | O_CLOEXEC | O_RDONLY | O_NOFOLLOW);
	return p->state_dirfd < 0 ? negative_errno() : 0;
}

static int load_ledger(struct reboot_plugin *p)
{
	uint64_t now = vigil_now(p->ctx, CLOCK_REALTIME);
	int r;

	p->ledger_loaded = false;
	if (p->state_dirfd < 0)
		return -EBADF;
	r = ledger_load(p->state_dirfd, REBOOT_LEDGER_FILE, &p->ledger);
	p->ledger_load_error = r < 0 ? r : 0;
	if (r == -ENOENT) {
		memset(&p->ledger, 0, sizeof(p->ledger));
		p->ledger_loaded = true;
		return 0;
	}
	if (r >= 0) {
		p->ledger_loaded = true;
		return 0;
	}
	if (r != -EBADMSG) {
		/* Unreadable (EIO…): we know nothing; refuse unless allowed, and
		 * try again at the next reload. */
		memset(&p->ledger, 0, sizeof(p->ledger));
		p->ledger_loaded = p->corrupt_allow;
		return vigil_log_errno(p->ctx, LOG_ERR, r, "cannot read the reboot ledger: %m");
	}
	/* Corrupt: keep the evidence, start over. With refuse (the default)
	 * the fresh ledger refuses reboots until one window has passed, i.e.
	 * we assume the window was full. Persisting that matters: the next
	 * boot must not see an empty ledger and allow. */
	(void)renameat(p->state_dirfd, REBOOT_LEDGER_FILE, p->state_dirfd, REBOOT_LEDGER_FILE ".corrupt");
	if (p->corrupt_allow)
		memset(&p->ledger, 0, sizeof(p->ledger));
	else
		ledger_reset_after_corruption(&p->ledger, now, p->policy.window_usec);
	p->ledger_loaded = true;
	if (p->ledger_buf) {
		int len = ledger_format(&p->ledger, p->ledger_buf, LEDGER_BUF_SIZE);
		if (len >= 0)
			(void)vigil_write_file_atomic(p->state_dirfd, REBOOT_LEDGER_FILE, p->ledger_buf, (size_t)len,
						      0600);
	}
	vigil_log(p->ctx, LOG_ERR, "reboot ledger corrupt (kept as %s.corrupt); %s", REBOOT_LEDGER_FILE,
		  p->corrupt_allow ? "starting a fresh one (on_corrupt_ledger = allow)"
				   : "reboots refused for one window (on_corrupt_ledger = refuse)");
	return 0;
}

static unsigned parse_sim(const struct vigil_section *sec)
{
	const char *const *items;
	size_t n = vigil_cfg_list(sec, "test_fail", &items);
	unsigned m = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; sim_names[k]; k++)
			if (streq(items[i], sim_names[k]))
				m |= 1u << k;
	return m;
}

static int configure(struct reboot_plugin *p, const struct vigil_section *sec)
{
	const char *log;

	p->policy.max_reboots = (unsigned)vigil_cfg_int(sec, "max_reboots");
	p->policy.window_usec = vigil_cfg_duration(sec, "window");
	p->policy.min_uptime_usec = vigil_cfg_duration(sec, "min_uptime");
	p->corrupt_allow = vigil_cfg_enum(sec, "on_corrupt_ledger") == 1;
	p->ledger_timeout = vigil_cfg_duration(sec, "ledger_timeout");
	p->dry_run = vigil_cfg_bool(sec, "dry_run");
	p->sysrq_fallback = vigil_cfg_bool(sec, "sysrq_fallback");
	if (p->env.log_fd >= 0)
		close(p->env.log_fd);
	p->env = (struct reboot_env){.log_fd = -1};
	p->env.test = vigil_cfg_bool(sec, "test_mode");
	if (p->env.test) {
		log = vigil_cfg_string(sec, "test_log");
		if (!log)
			return vigil_log_errno(p->ctx, LOG_ERR, EINVAL, "test_mode = yes needs test_log");
		p->env.log_fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (p->env.log_fd < 0)
			return vigil_log_errno(p->ctx, LOG_ERR, errno, "cannot open test_log %s: %m", log);
		p->env.sim = parse_sim(sec);
		p->env.hang_usec = 30 * USEC_PER_SEC;
		vigil_log(p->ctx, LOG_WARNING, "test_mode: reboot steps go to %s, nothing is rebooted", log);
	}
	return 0;
}

static void reboot_fini(struct vigil_ctx *ctx, void *data);

static int reboot_init(struct vigil_ctx *ctx, const struct vigil_section *sec, void **ret_data)
{
	struct reboot_plugin *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	p->ctx = ctx;
	p->state_dirfd = p->sysrq_fd = p->crash_loaded_fd = p->panic_fd = -1;
	p->env.log_fd = -1;
	r = configure(p, sec);
	if (r < 0)
		goto fail;
	p->ledger_buf = malloc(LEDGER_BUF_SIZE);
	if (!p->ledger_buf) {
		r = -ENOMEM;
		goto fail;
	}
	/* Everything the reboot path needs is opened now, not at the decision. */
	if (!p->env.test && !vigil_replay_mode(ctx)) {
		p->sysrq_fd = open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC | O_NOCTTY);
		if (p->sysrq_fd < 0)
			vigil_log_errno(ctx, LOG_WARNING, errno, "cannot open /proc/sysrq-trigger (%m): no sysrq fallback");
		p->crash_loaded_fd = open("/sys/kernel/kexec_crash_loaded", O_RDONLY | O_CLOEXEC | O_NOCTTY);
		p->panic_fd = open("/proc/sys/kernel/panic", O_RDONLY | O_CLOEXEC | O_NOCTTY);
	}
	r = open_state_dir(p);
	if (r < 0 && !vigil_replay_mode(ctx))
		vigil_log_errno(ctx, LOG_ERR, r, "no state directory for the reboot ledger (%m): reboots refused");
	else if (r >= 0)
		(void)load_ledger(p);
	*ret_data = p;
	return 0;
fail:
	reboot_fini(ctx, p);
	return r;
}

static int reboot_reload(struct vigil_ctx *ctx, void *data, const struct vigil_section *sec)
{
	struct reboot_plugin *p = data;
	int r;
	if (p->phase != PHASE_IDLE)
		return 0; /* never reconfigure a reboot in flight */
	r = configure(p, sec);
	if (r < 0)
		return r;
	if (p->state_dirfd >= 0 && !p->ledger_loaded)
		(void)load_ledger(p);
	return 0;
}

static void reboot_fini(struct vigil_ctx *ctx, void *data)
{
	struct reboot_plugin *p = data;
	if (!p)
		return;
	p->timer = sd_event_source_disable_unref(p->timer);
	p->direct_src = sd_event_source_disable_unref(p->direct_src);
	p->bus_slot = sd_bus_slot_unref(p->bus_slot);
	p->bus = sd_bus_flush_close_unref(p->bus);
	if (p->state_dirfd >= 0)
		close(p->state_dirfd);
	if (p->sysrq_fd >= 0)
		close(p->sysrq_fd);
	if (p->crash_loaded_fd >= 0)
		close(p->crash_loaded_fd);
	if (p->panic_fd >= 0)
		close(p->panic_fd);
	if (p->env.log_fd >= 0)
		close(p->env.log_fd);
	free(p->ledger_buf);
	free(p);
}

static int reboot_status(struct vigil_ctx *ctx, void *data, json_object *out)
{
	struct reboot_plugin *p = data;
	uint64_t now = vigil_now(ctx, CLOCK_REALTIME), uptime = vigil_now(ctx, CLOCK_BOOTTIME);
	unsigned count = 0;
	enum ledger_verdict v = p->ledger_loaded || p->corrupt_allow
					? ledger_decide(&p->ledger, &p->policy, now, uptime, &count)
					: LEDGER_REFUSE_CORRUPT;
	const struct vigil_host *h = vigil_host(ctx);
	json_object *arr = json_object_new_array();

	json_object_object_add(out, "phase", json_object_new_string(phase_names[p->phase]));
	json_object_object_add(out, "would_allow_now", json_object_new_boolean(v == LEDGER_ALLOW));
	json_object_object_add(out, "verdict_now", json_object_new_string(ledger_verdict_to_string(v)));
	json_object_object_add(out, "reboots_in_window", json_object_new_int(count));
	json_object_object_add(out, "max_reboots", json_object_new_int((int)p->policy.max_reboots));
	json_object_object_add(out, "window_s", json_object_new_int64((int64_t)(p->policy.window_usec / USEC_PER_SEC)));
	json_object_object_add(out, "min_uptime_s",
			       json_object_new_int64((int64_t)(p->policy.min_uptime_usec / USEC_PER_SEC)));
	json_object_object_add(out, "ledger_ok", json_object_new_boolean(p->ledger_loaded));
	if (p->ledger_load_error && p->ledger_load_error != -ENOENT)
		json_object_object_add(out, "ledger_error", json_object_new_string(strerror(-p->ledger_load_error)));
	if (p->ledger.suppress_until_usec)
		json_object_object_add(out, "suppressed_until_usec",
				       json_object_new_int64((int64_t)p->ledger.suppress_until_usec));
	for (size_t i = 0; arr && i < p->ledger.n; i++) {
		const struct ledger_entry *e = &p->ledger.e[i];
		json_object *o = json_object_new_object();
		char ts[32];
		vigil_format_rfc3339(e->realtime_usec, ts);
		json_object_object_add(o, "time", json_object_new_string(ts));
		json_object_object_add(o, "uptime_s", json_object_new_int64((int64_t)(e->uptime_usec / USEC_PER_SEC)));
		json_object_object_add(o, "boot_id", json_object_new_string(e->boot_id));
		json_object_object_add(o, "this_boot",
				       json_object_new_boolean(h && h->boot_id && streq(h->boot_id, e->boot_id)));
		json_object_object_add(o, "mode", json_object_new_string(e->mode));
		json_object_object_add(o, "reason", json_object_new_string(e->reason));
		json_object_array_add(arr, o);
	}
	json_object_object_add(out, "ledger", arr);
	json_object_object_add(out, "dry_run", json_object_new_boolean(p->dry_run));
	json_object_object_add(out, "test_mode", json_object_new_boolean(p->env.test));
	json_object_object_add(out, "sysrq_ready", json_object_new_boolean(p->sysrq_fd >= 0));
	json_object_object_add(out, "requested", json_object_new_int((int)p->requested));
	json_object_object_add(out, "refused", json_object_new_int((int)p->refused));
	json_object_object_add(out, "ledger_write_failures", json_object_new_int((int)p->ledger_write_failures));
	if (p->last_error[0])
		json_object_object_add(out, "last_error", json_object_new_string(p->last_error));
	return 0;
}

static int reboot_action_new(struct vigil_ctx *ctx, void *data, const char *name, const struct vigil_section *sec,
			     void **ret_inst)
{
	struct reboot_inst *in = calloc(1, sizeof(*in));
	const char *reason;
	if (!in)
		return -ENOMEM;
	in->p = data;
	vigil_strlcpy(in->name, name, sizeof(in->name));
	in->mode = (enum reboot_mode)vigil_cfg_enum(sec, "mode");
	in->flush_timeout = vigil_cfg_duration(sec, "flush_timeout");
	in->bus_timeout = vigil_cfg_duration(sec, "bus_timeout");
	in->graceful_timeout = vigil_cfg_duration(sec, "graceful_timeout");
	in->sync_timeout = vigil_cfg_duration(sec, "sync_timeout");
	in->reboot_timeout = vigil_cfg_duration(sec, "reboot_timeout");
	reason = vigil_cfg_string(sec, "reason");
	if (reason)
		vigil_strlcpy(in->reason, reason, sizeof(in->reason));
	if (in->p->env.test)
		in->p->env.hang_usec = 3 * (in->sync_timeout > in->reboot_timeout ? in->sync_timeout : in->reboot_timeout);
	*ret_inst = in;
	return 0;
}

static int reboot_action_status(struct vigil_ctx *ctx, void *inst, json_object *out)
{
	struct reboot_inst *in = inst;
	json_object_object_add(out, "mode", json_object_new_string(reboot_modes[in->mode]));
	json_object_object_add(out, "runs", json_object_new_int((int)in->runs));
	json_object_object_add(out, "suppressed", json_object_new_int((int)in->suppressed));
	json_object_object_add(out, "in_progress",
			       json_object_new_boolean(in->p->cur && streq(in->p->run.name, in->name) &&
						       in->p->phase != PHASE_IDLE));
	return 0;
}

static void reboot_action_free(struct vigil_ctx *ctx, void *inst)
{
	free(inst);
}

const struct vigil_plugin vigil_plugin = {
	.abi_version = VIGIL_PLUGIN_ABI_VERSION,
	.kind = VIGIL_PLUGIN_ACTION,
	.name = "reboot",
	.description = "controlled reboot with a boot-persistent loop guard",
	.keys = reboot_keys,
	.action_keys = reboot_action_keys,
	.default_instance = true,
	.init = reboot_init,
	.reload = reboot_reload,
	.status = reboot_status,
	.fini = reboot_fini,
	.action_new = reboot_action_new,
	.action_run = reboot_action_run,
	.action_status = reboot_action_status,
	.action_free = reboot_action_free,
};
