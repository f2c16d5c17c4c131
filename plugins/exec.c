/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* exec: run an operator's hook for an event. `[action exec-NAME]` gives
 * `command`, split into argv by simple quoting rules and handed to
 * posix_spawn() — never to a shell, so `$(reboot)` is an argument like any
 * other. The child gets a clean environment with the event (VIGIL_EVENT_JSON,
 * VIGIL_KIND, VIGIL_EVENT_ID, …), /dev/null as stdin, its own session (so a
 * timeout kills the whole group: SIGTERM, then SIGKILL), and stdout/stderr
 * pipes read on the loop into the log (bounded). The child is reaped by
 * sd-event (pidfd); nothing here ever waits. A concurrency limit and a
 * bounded queue keep an event storm from becoming a fork storm. */
#include "vigil/plugin.h"
#include "util.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/wait.h>
#include <syslog.h>

#define EXEC_MAX_ARGS 64
#define EXEC_LINE_MAX 1024
#define EXEC_ENV_JSON_MAX (96 * 1024) /* below MAX_ARG_STRLEN (128 KiB) */
#define EXEC_QUEUE_MAX 64
#define MSEC(u) ((uint64_t)((u) / USEC_PER_MSEC))

/* ------------------------------------------------------------------ argv */

/* Split like a shell would split words, and nothing more: whitespace
 * separates, '…' quotes literally, "…" quotes with \" \\ escapes, a
 * backslash outside quotes escapes the next character. No expansion of any
 * kind. out gets NUL-separated words; returns the count or -EINVAL. */
static int exec_split(const char *in, char *out, size_t size, char **argv, size_t max_args)
{
	size_t o = 0, n = 0;
	const char *p = in;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			break;
		if (n + 1 >= max_args)
			return -E2BIG;
		argv[n++] = out + o;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n') {
			char c = *p++;
			if (c == '\'') {
				while (*p && *p != '\'') {
					if (o + 1 >= size)
						return -E2BIG;
					out[o++] = *p++;
				}
				if (*p++ != '\'')
					return -EINVAL;
				continue;
			}
			if (c == '"') {
				while (*p && *p != '"') {
					if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
						p++;
					if (o + 1 >= size)
						return -E2BIG;
					out[o++] = *p++;
				}
				if (*p++ != '"')
					return -EINVAL;
				continue;
			}
			if (c == '\\') {
				if (!*p)
					return -EINVAL;
				c = *p++;
			}
			if (o + 1 >= size)
				return -E2BIG;
			out[o++] = c;
		}
		if (o + 1 >= size)
			return -E2BIG;
		out[o++] = 0;
	}
	argv[n] = NULL;
	return (int)n;
}

static int exec_check_command(const char *key, const char *value, const char **ret_reason)
{
	char buf[VIGIL_CFG_VALUE_MAX + 1], *argv[EXEC_MAX_ARGS + 1];
	int n = exec_split(value, buf, sizeof(buf), argv, ELEMENTSOF(argv));
	if (n < 0) {
		*ret_reason = n == -E2BIG ? "too many or too long arguments" : "unbalanced quote or trailing backslash";
		return n;
	}
	if (n == 0 || argv[0][0] != '/') {
		*ret_reason = "the program must be an absolute path (there is no shell and no PATH search)";
		return -EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------------ state */

struct exec_inst;

struct exec_run {
	struct exec_inst *in;
	pid_t pid;
	char event_id[40];
	sd_event_source *child, *timer, *io[2];
	uint64_t started;
	size_t logged; /* output bytes logged */
	size_t dropped;
	char line[2][EXEC_LINE_MAX];
	size_t linelen[2];
	bool exited, term_sent, kill_sent;
	struct exec_run *next;
};

struct exec_inst {
	struct vigil_ctx *ctx;
	char name[64];
	char argbuf[VIGIL_CFG_VALUE_MAX + 1];
	char *argv[EXEC_MAX_ARGS + 1];
	uint64_t timeout, kill_timeout;
	size_t max_output;
	unsigned max_concurrent, queue_max;
	struct exec_run *running;
	unsigned n_running;
	struct vigil_event *queue[EXEC_QUEUE_MAX];
	unsigned q_head, q_len;
	/* counters and the last result, for status */
	unsigned runs, failures, timeouts, dropped, spawn_errors;
	char last_event[40];
	int last_exit;   /* exit code, or -1 */
	int last_signal; /* terminating signal, or 0 */
	bool last_timed_out, last_truncated;
	uint64_t last_duration;
	bool have_last;
};

static void exec_start_next(struct exec_inst *in);

static void run_flush_line(struct exec_run *r, int stream)
{
	if (r->linelen[stream] == 0)
		return;
	r->line[stream][r->linelen[stream]] = 0;
	vigil_log(r->in->ctx, stream ? LOG_WARNING : LOG_INFO, "%s[%d] %s: %s", r->in->name, (int)r->pid,
		  stream ? "stderr" : "stdout", r->line[stream]);
	r->linelen[stream] = 0;
}

static void run_take_output(struct exec_run *r, int stream, const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (r->logged >= r->in->max_output) {
			r->dropped += n - i;
			return;
		}
		r->logged++;
		if (buf[i] == '\n') {
			run_flush_line(r, stream);
			continue;
		}
		if (r->linelen[stream] >= EXEC_LINE_MAX - 1)
			run_flush_line(r, stream); /* split an overlong line */
		r->line[stream][r->linelen[stream]++] = buf[i];
	}
}

/* Read what is there now; returns true at EOF/error. */
static bool run_drain(struct exec_run *r, int stream, int fd)
{
	char buf[4096];
	for (unsigned rounds = 0; rounds < 16; rounds++) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			run_take_output(r, stream, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return false;
		return true;
	}
	return false; /* more later: do not hog the loop */
}

static void run_close_stream(struct exec_run *r, int stream)
{
	if (!r->io[stream])
		return;
	run_flush_line(r, stream);
	r->io[stream] = sd_event_source_disable_unref(r->io[stream]);
}

static void run_free(struct exec_run *r)
{
	if (!r)
		return;
	for (int i = 0; i < 2; i++)
		r->io[i] = sd_event_source_disable_unref(r->io[i]);
	r->timer = sd_event_source_disable_unref(r->timer);
	r->child = sd_event_source_disable_unref(r->child);
	free(r);
}

static void run_finish(struct exec_run *r, const siginfo_t *si)
{
	struct exec_inst *in = r->in;
	uint64_t now = vigil_now(in->ctx, CLOCK_MONOTONIC);

	/* What the pipes still hold; grandchildren that keep them open do not
	 * get to hold the run open. */
	for (int i = 0; i < 2; i++)
		if (r->io[i]) {
			(void)run_drain(r, i, sd_event_source_get_io_fd(r->io[i]));
			run_close_stream(r, i);
		}
	in->have_last = true;
	vigil_strlcpy(in->last_event, r->event_id, sizeof(in->last_event));
	in->last_timed_out = r->term_sent;
	in->last_truncated = r->dropped > 0;
	in->last_duration = now > r->started ? now - r->started : 0;
	in->last_exit = si->si_code == CLD_EXITED ? si->si_status : -1;
	in->last_signal = si->si_code == CLD_EXITED ? 0 : si->si_status;
	if (r->dropped)
		vigil_log(in->ctx, LOG_WARNING, "%s[%d]: output over max_output, %zu bytes not logged", in->name,
			  (int)r->pid, r->dropped);
	if (si->si_code == CLD_EXITED && si->si_status == 0 && !r->term_sent)
		vigil_log(in->ctx, LOG_INFO, "%s[%d] exited 0 after %" PRIu64 "ms", in->name, (int)r->pid,
			  MSEC(in->last_duration));
	else {
		in->failures++;
		if (si->si_code == CLD_EXITED)
			vigil_log(in->ctx, LOG_WARNING, "%s[%d] exited %d after %" PRIu64 "ms%s", in->name, (int)r->pid,
				  si->si_status, MSEC(in->last_duration), r->term_sent ? " (timed out)" : "");
		else
			vigil_log(in->ctx, LOG_WARNING, "%s[%d] killed by signal %d (%s) after %" PRIu64 "ms%s",
				  in->name, (int)r->pid, si->si_status, strsignal(si->si_status),
				  MSEC(in->last_duration), r->term_sent ? " (timed out)" : "");
	}
	/* unlink */
	for (struct exec_run **pp = &in->running; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	in->n_running--;
	run_free(r);
	exec_start_next(in);
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	run_finish(userdata, si);
	return 0;
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct exec_run *r = userdata;
	int stream = s == r->io[1];
	if (run_drain(r, stream, fd))
		run_close_stream(r, stream);
	return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct exec_run *r = userdata;
	struct exec_inst *in = r->in;
	if (!r->term_sent) {
		r->term_sent = true;
		in->timeouts++;
		vigil_log(in->ctx, LOG_WARNING, "%s[%d] still running after %" PRIu64 "ms, sending SIGTERM", in->name,
			  (int)r->pid, MSEC(in->timeout));
		(void)kill(-r->pid, SIGTERM);
		(void)sd_event_source_set_time_relative(s, in->kill_timeout);
		(void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
		return 0;
	}
	r->kill_sent = true;
	vigil_log(in->ctx, LOG_WARNING, "%s[%d] ignored SIGTERM for %" PRIu64 "ms, sending SIGKILL", in->name,
		  (int)r->pid, MSEC(in->kill_timeout));
	(void)kill(-r->pid, SIGKILL);
	return 0;
}

/* ------------------------------------------------------------------ spawn */

static void child_write(const char *s)
{
	(void)!write(2, s, strlen(s));
}

/* In the forked child: async-signal-safe calls only. */
static _Noreturn void exec_child(char **argv, char **envp, int out_w, int err_w)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;
	int fd;

	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL); /* we block SIGCHLD; the hook must not inherit that */
	(void)setsid();                              /* own process group: a timeout kills all of it */
	fd = open("/dev/null", O_RDONLY | O_NOCTTY);
	if (fd < 0 || dup2(fd, 0) < 0 || dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0)
		_exit(126);
	/* 0/1/2 are not O_CLOEXEC after dup2; everything else of ours is. */
	execve(argv[0], argv, envp);
	child_write("vigil exec: execve ");
	child_write(argv[0]);
	child_write(errno == ENOENT ? " failed: no such file\n" : errno == EACCES ? " failed: permission denied\n"
										      : " failed\n");
	_exit(127);
}

static int exec_spawn(struct exec_inst *in, struct vigil_event *ev)
{
	_cleanup_free_ char *json = vigil_event_to_json_string(ev);
	_cleanup_free_ char *e_json = NULL, *e_kind = NULL, *e_id = NULL, *e_sev = NULL, *e_sum = NULL,
			    *e_act = NULL;
	_cleanup_close_ int out_r = -1, out_w = -1, err_r = -1, err_w = -1;
	int p[2], r;
	pid_t pid;

	if (json && strlen(json) <= EXEC_ENV_JSON_MAX)
		r = asprintf(&e_json, "VIGIL_EVENT_JSON=%s", json);
	else
		r = asprintf(&e_json, "VIGIL_EVENT_JSON_TRUNCATED=1");
	if (r < 0 || asprintf(&e_kind, "VIGIL_KIND=%s", vigil_event_kind(ev)) < 0 ||
	    asprintf(&e_id, "VIGIL_EVENT_ID=%s", vigil_event_id(ev)) < 0 ||
	    asprintf(&e_sev, "VIGIL_SEVERITY=%s", vigil_severity_to_string(vigil_event_severity(ev))) < 0 ||
	    asprintf(&e_sum, "VIGIL_SUMMARY=%s", strempty(vigil_event_summary(ev))) < 0 ||
	    asprintf(&e_act, "VIGIL_ACTION=%s", in->name) < 0)
		return -ENOMEM;
	char *envp[] = {
		(char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		(char *)"LANG=C.UTF-8",
		e_json, e_kind, e_id, e_sev, e_sum, e_act, NULL,
	};

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return negative_errno();
	out_r = p[0];
	out_w = p[1];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return negative_errno();
	err_r = p[0];
	err_w = p[1];
	/* The child's ends must block (a hook writing fast must not see EAGAIN). */
	(void)fcntl(out_w, F_SETFL, 0);
	(void)fcntl(err_w, F_SETFL, 0);

	/* fork+execve, not posix_spawn: posix_spawn is vfork-like and keeps the
	 * parent suspended until execve has read the binary, which on a dead
	 * disk is forever. After fork only async-signal-safe calls. */
	pid = fork();
	if (pid < 0)
		return negative_errno();
	if (pid == 0)
		exec_child(in->argv, envp, out_w, err_w);
	struct exec_run *run = calloc(1, sizeof(*run));
	if (!run) {
		(void)kill(pid, SIGKILL); /* left as a zombie: never wait on the loop */
		return -ENOMEM;
	}
	run->in = in;
	run->pid = pid;
	run->started = vigil_now(in->ctx, CLOCK_MONOTONIC);
	vigil_strlcpy(run->event_id, vigil_event_id(ev), sizeof(run->event_id));
	r = sd_event_add_child(vigil_loop(in->ctx), &run->child, pid, WEXITED, on_child, run);
	if (r < 0) {
		/* Without a child source nobody reaps it: kill it and leave the
		 * zombie rather than wait on the loop. */
		(void)kill(pid, SIGKILL);
		free(run);
		return r;
	}
	(void)sd_event_source_set_child_process_own(run->child, true); /* killed if we go away first */
	/* out_w/err_w close on return: the child has its copies. */
	r = sd_event_add_io(vigil_loop(in->ctx), &run->io[0], out_r, EPOLLIN, on_output, run);
	if (r >= 0) {
		(void)sd_event_source_set_io_fd_own(run->io[0], true);
		TAKE_FD(out_r);
		r = sd_event_add_io(vigil_loop(in->ctx), &run->io[1], err_r, EPOLLIN, on_output, run);
	}
	if (r >= 0) {
		(void)sd_event_source_set_io_fd_own(run->io[1], true);
		TAKE_FD(err_r);
		r = sd_event_add_time_relative(vigil_loop(in->ctx), &run->timer, CLOCK_MONOTONIC, in->timeout,
					       10 * USEC_PER_MSEC, on_timeout, run);
	}
	if (r < 0) {
		run_free(run); /* child source owns the process: killed and reaped by sd-event */
		return r;
	}
	run->next = in->running;
	in->running = run;
	in->n_running++;
	in->runs++;
	vigil_log(in->ctx, LOG_INFO, "%s: started %s as pid %d for %s %s", in->name, in->argv[0], (int)pid,
		  vigil_event_kind(ev), vigil_event_id(ev));
	return 0;
}

static void exec_start_next(struct exec_inst *in)
{
	while (in->q_len > 0 && in->n_running < in->max_concurrent) {
		struct vigil_event *ev = in->queue[in->q_head];
		in->queue[in->q_head] = NULL;
		in->q_head = (in->q_head + 1) % EXEC_QUEUE_MAX;
		in->q_len--;
		int r = exec_spawn(in, ev);
		if (r < 0) {
			in->spawn_errors++;
			in->failures++;
			vigil_log_errno(in->ctx, LOG_ERR, r, "%s: cannot run %s: %m", in->name, in->argv[0]);
		}
		vigil_event_unref(ev);
	}
}

static int exec_action_run(struct vigil_ctx *ctx, void *inst, struct vigil_event *ev)
{
	struct exec_inst *in = inst;
	if (in->q_len >= in->queue_max) {
		in->dropped++;
		vigil_log(ctx, LOG_WARNING, "%s: %u runs pending, dropping %s %s", in->name, in->q_len,
			  vigil_event_kind(ev), vigil_event_id(ev));
		return -EAGAIN;
	}
	in->queue[(in->q_head + in->q_len) % EXEC_QUEUE_MAX] = vigil_event_ref(ev);
	in->q_len++;
	exec_start_next(in);
	return 0;
}

/* ------------------------------------------------------------------ plumbing */

static const struct vigil_config_key exec_action_keys[] = {
	{"command", VIGIL_CFG_STRING, NULL, 0, 0, NULL, exec_check_command,
	 "absolute program and arguments; split on whitespace with '…'/\"…\" quoting, never run by a shell"},
	{"timeout", VIGIL_CFG_DURATION, "30s", 10 * (int64_t)USEC_PER_MSEC, 86400 * (int64_t)USEC_PER_SEC, NULL, NULL,
	 "SIGTERM to the process group after this long"},
	{"kill_timeout", VIGIL_CFG_DURATION, "5s", 10 * (int64_t)USEC_PER_MSEC, 3600 * (int64_t)USEC_PER_SEC, NULL,
	 NULL, "SIGKILL this long after SIGTERM"},
	{"max_concurrent", VIGIL_CFG_INT, "1", 1, 64, NULL, NULL, "runs of this hook at the same time"},
	{"queue", VIGIL_CFG_INT, "8", 0, EXEC_QUEUE_MAX, NULL, NULL, "runs waiting for a slot; beyond that dropped"},
	{"max_output", VIGIL_CFG_SIZE, "64K", 0, 16 * 1024 * 1024, NULL, NULL,
	 "stdout+stderr bytes logged per run; the rest is read and counted"},
	{NULL},
};

static int exec_init(struct vigil_ctx *ctx, const struct vigil_section *sec, void **ret_data)
{
	sigset_t ss;
	/* sd-event reaps through pidfds but requires SIGCHLD blocked; children
	 * get an empty mask back in exec_spawn(). */
	sigemptyset(&ss);
	sigaddset(&ss, SIGCHLD);
	int r = pthread_sigmask(SIG_BLOCK, &ss, NULL);
	if (r != 0)
		return vigil_log_errno(ctx, LOG_ERR, r, "cannot block SIGCHLD: %m");
	*ret_data = NULL;
	return 0;
}

static int exec_action_new(struct vigil_ctx *ctx, void *data, const char *name, const struct vigil_section *sec,
			   void **ret_inst)
{
	const char *cmd = vigil_cfg_string(sec, "command");
	struct exec_inst *in;
	int n;

	if (!cmd)
		return vigil_log_errno(ctx, LOG_ERR, EINVAL, "[action %s]: command is required", name);
	in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	in->ctx = ctx;
	vigil_strlcpy(in->name, name, sizeof(in->name));
	n = exec_split(cmd, in->argbuf, sizeof(in->argbuf), in->argv, ELEMENTSOF(in->argv));
	if (n <= 0) {
		free(in);
		return vigil_log_errno(ctx, LOG_ERR, EINVAL, "[action %s]: bad command", name);
	}
	in->timeout = vigil_cfg_duration(sec, "timeout");
	in->kill_timeout = vigil_cfg_duration(sec, "kill_timeout");
	in->max_concurrent = (unsigned)vigil_cfg_int(sec, "max_concurrent");
	in->queue_max = (unsigned)vigil_cfg_int(sec, "queue");
	in->max_output = vigil_cfg_size(sec, "max_output");
	in->last_exit = -1;
	if (access(in->argv[0], X_OK) < 0)
		vigil_log_errno(ctx, LOG_WARNING, errno, "[action %s]: %s is not executable now (%m)", name,
				in->argv[0]);
	*ret_inst = in;
	return 0;
}

static int exec_action_status(struct vigil_ctx *ctx, void *inst, json_object *out)
{
	struct exec_inst *in = inst;
	json_object *argv = json_object_new_array();
	for (size_t i = 0; argv && in->argv[i]; i++)
		json_object_array_add(argv, json_object_new_string(in->argv[i]));
	json_object_object_add(out, "argv", argv);
	json_object_object_add(out, "runs", json_object_new_int((int)in->runs));
	json_object_object_add(out, "running", json_object_new_int((int)in->n_running));
	json_object_object_add(out, "queued", json_object_new_int((int)in->q_len));
	json_object_object_add(out, "failures", json_object_new_int((int)in->failures));
	json_object_object_add(out, "timeouts", json_object_new_int((int)in->timeouts));
	json_object_object_add(out, "dropped", json_object_new_int((int)in->dropped));
	if (in->have_last) {
		json_object *l = json_object_new_object();
		json_object_object_add(l, "event_id", json_object_new_string(in->last_event));
		json_object_object_add(l, "exit_code", in->last_exit >= 0 ? json_object_new_int(in->last_exit) : NULL);
		json_object_object_add(l, "signal", in->last_signal ? json_object_new_int(in->last_signal) : NULL);
		json_object_object_add(l, "timed_out", json_object_new_boolean(in->last_timed_out));
		json_object_object_add(l, "output_truncated", json_object_new_boolean(in->last_truncated));
		json_object_object_add(l, "duration_ms", json_object_new_int64((int64_t)MSEC(in->last_duration)));
		json_object_object_add(out, "last", l);
	}
	return 0;
}

static void exec_action_free(struct vigil_ctx *ctx, void *inst)
{
	struct exec_inst *in = inst;
	if (!in)
		return;
	while (in->running) {
		struct exec_run *r = in->running;
		in->running = r->next;
		(void)kill(-r->pid, SIGKILL);
		run_free(r); /* the owning child source kills and reaps */
	}
	while (in->q_len > 0) {
		vigil_event_unref(in->queue[in->q_head]);
		in->q_head = (in->q_head + 1) % EXEC_QUEUE_MAX;
		in->q_len--;
	}
	free(in);
}

const struct vigil_plugin vigil_plugin = {
	.abi_version = VIGIL_PLUGIN_ABI_VERSION,
	.kind = VIGIL_PLUGIN_ACTION,
	.name = "exec",
	.description = "run a hook program (argv, no shell) with the event in its environment",
	.action_keys = exec_action_keys,
	.init = exec_init,
	.action_new = exec_action_new,
	.action_run = exec_action_run,
	.action_status = exec_action_status,
	.action_free = exec_action_free,
};
