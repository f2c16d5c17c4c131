/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kdump: know whether a crash will be captured, and (if asked) make it so.
 * State comes from sysfs/procfs only: the reservation
 * (/sys/kernel/kexec_crash_size, crashkernel= in /proc/cmdline, "Crash
 * kernel" in /proc/iomem), whether a crash kernel is loaded
 * (/sys/kernel/kexec_crash_loaded), the distro tool, and the reservation
 * against RAM. Every change is a `kdump_state` event. `arm = command` runs
 * the distro tool (fork+execve, argv, no shell), `arm = kexec_file` calls
 * kexec_file_load(2) itself; both on a worker with a deadline, verified by
 * re-reading kexec_crash_loaded. Memory and CPU hotplug (udev, or the
 * kernel's uevents where no udevd runs) invalidate the loaded crash
 * kernel's memory map: we re-arm after a short debounce. With
 * `kernel_update = yes`, a new kernel or initramfs written into `boot_dir`
 * (a package update) re-arms too, once the writes have settled, so the
 * crash kernel loaded is the one installed. */
#include "vigil/plugin.h"
#include "util.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <fnmatch.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <syslog.h>
#include <libudev.h>
#ifdef HAVE_LINUX_KEXEC_H
#include <linux/kexec.h>
#endif
#ifndef KEXEC_FILE_UNLOAD
#define KEXEC_FILE_UNLOAD 0x00000001
#define KEXEC_FILE_ON_CRASH 0x00000002
#define KEXEC_FILE_NO_INITRAMFS 0x00000004
#endif

#define KDUMP_OUTPUT_MAX 4096
#define KDUMP_MAX_ARGS 32
#define MIB ((uint64_t)1024 * 1024)

enum arm_mode { ARM_AUTO, ARM_COMMAND, ARM_KEXEC_FILE, ARM_OFF };
static const char *const arm_modes[] = {"auto", "command", "kexec_file", "off", NULL};

/* Distro tools: (path, arm argv[1], re-arm argv[1]). */
static const struct {
	const char *path, *arm, *rearm;
} tools[] = {
	{"/usr/sbin/kdump-config", "load", "reload"}, /* Debian/Ubuntu kdump-tools */
	{"/sbin/kdump-config", "load", "reload"},
	{"/usr/bin/kdumpctl", "start", "restart"}, /* Fedora/RHEL kexec-tools */
	{"/usr/sbin/kdumpctl", "start", "restart"},
};

struct kdump_state {
	int loaded;             /* 1/0, -1 unknown (no such file: kernel without kexec) */
	int64_t crash_size;     /* bytes, -1 unknown */
	char crashkernel[128];  /* crashkernel= value from the command line, "" none */
	uint64_t iomem_bytes;   /* sum of "Crash kernel" ranges */
	uint64_t ram_bytes;     /* MemTotal */
	char tool[64];          /* distro tool found, "" none */
	char problems[512];     /* "; "-separated, "" none */
};

struct kdump_plugin {
	struct vigil_ctx *ctx;
	char proc_root[256], sys_root[256];
	enum arm_mode arm;
	char argbuf[VIGIL_CFG_VALUE_MAX + 1], rearg_buf[VIGIL_CFG_VALUE_MAX + 1];
	char *argv[KDUMP_MAX_ARGS + 1], *rearm_argv[KDUMP_MAX_ARGS + 1];
	char kernel[PATH_MAX], initrd[PATH_MAX], cmdline[2048];
	uint64_t interval, command_timeout, rearm_delay, arm_retry;
	uint64_t min_crash_size;
	bool hotplug;
	bool kernel_update;
	char boot_dir[PATH_MAX], watched_boot_dir[PATH_MAX];
	uint64_t update_delay;

	struct kdump_state st;
	char fingerprint[1024];
	bool have_state;
	sd_event_source *timer, *rearm_timer, *udev_src, *boot_watch, *update_timer;
	char update_file[NAME_MAX + 1]; /* last kernel/initrd file seen changing */
	struct udev *udev;
	struct udev_monitor *mon;
	bool arming, rearm_pending;
	uint64_t last_arm_attempt;
	int last_arm_result;
	char last_arm_output[KDUMP_OUTPUT_MAX];
	unsigned arm_attempts, arm_failures, hotplug_events, state_events, kernel_updates;
};

/* ------------------------------------------------------------------ reading the state */

static int read_root_file(const char *root, const char *rel, char *buf, size_t size)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%s", root, rel) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return negative_errno();
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && len == 0) {
			int r = negative_errno();
			close(fd);
			return r;
		}
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == size - 1)
			break; /* bounded: the rest is not needed */
	}
	close(fd);
	buf[len] = 0;
	return (int)len;
}

/* "Crash kernel" lines of /proc/iomem, e.g. "  22000000-2dffffff : Crash kernel". */
static uint64_t iomem_crash_bytes(const char *text)
{
	uint64_t sum = 0;
	for (const char *l = text; l && *l;) {
		const char *nl = strchr(l, '\n');
		size_t ll = nl ? (size_t)(nl - l) : strlen(l);
		char line[256];
		if (ll < sizeof(line)) {
			memcpy(line, l, ll);
			line[ll] = 0;
			unsigned long long a, b;
			char *name = strstr(line, " : ");
			if (name && streq(name + 3, "Crash kernel") && sscanf(line, " %llx-%llx", &a, &b) == 2 && b >= a)
				sum += b - a + 1;
		}
		l = nl ? nl + 1 : NULL;
	}
	return sum;
}

static void add_problem(struct kdump_state *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_problem(struct kdump_state *s, const char *fmt, ...)
{
	size_t l = strlen(s->problems);
	va_list ap;
	if (l && l + 2 < sizeof(s->problems)) {
		strcpy(s->problems + l, "; ");
		l += 2;
	}
	va_start(ap, fmt);
	vsnprintf(s->problems + l, sizeof(s->problems) - l, fmt, ap);
	va_end(ap);
}

static void kdump_read_state(struct kdump_plugin *p, struct kdump_state *s)
{
	char buf[16384];
	int r;

	memset(s, 0, sizeof(*s));
	s->loaded = -1;
	s->crash_size = -1;
	if (read_root_file(p->sys_root, "kernel/kexec_crash_loaded", buf, 32) > 0)
		s->loaded = buf[0] == '1';
	r = read_root_file(p->sys_root, "kernel/kexec_crash_size", buf, 32);
	if (r > 0)
		s->crash_size = strtoll(buf, NULL, 10);
	else if (r == -EBUSY && p->have_state)
		s->crash_size = p->st.crash_size; /* kexec_mutex held by a load in progress */
	if (read_root_file(p->proc_root, "cmdline", buf, 4096) > 0) {
		for (char *t = strtok(buf, " \n"); t; t = strtok(NULL, " \n"))
			if (startswith(t, "crashkernel="))
				vigil_strlcpy(s->crashkernel, t + 12, sizeof(s->crashkernel));
	}
	r = read_root_file(p->proc_root, "iomem", buf, sizeof(buf));
	if (r > 0)
		s->iomem_bytes = iomem_crash_bytes(buf);
	if (read_root_file(p->proc_root, "meminfo", buf, 1024) > 0) {
		const char *m = strstr(buf, "MemTotal:");
		if (m)
			s->ram_bytes = strtoull(m + 9, NULL, 10) * 1024ULL;
	}
	for (size_t i = 0; i < ELEMENTSOF(tools); i++)
		if (access(tools[i].path, X_OK) == 0) {
			vigil_strlcpy(s->tool, tools[i].path, sizeof(s->tool));
			break;
		}

	/* The checks operators trip over. */
	if (s->loaded < 0)
		add_problem(s, "kernel without kexec crash support (no kexec_crash_loaded)");
	if (s->crashkernel[0] && s->crash_size == 0)
		add_problem(s, "crashkernel=%s on the command line but nothing reserved (too much asked, or no room)",
			    s->crashkernel);
	if (!s->crashkernel[0] && s->crash_size <= 0 && p->arm != ARM_OFF)
		add_problem(s, "no crashkernel= reservation: kdump cannot be armed");
	if (s->crash_size > 0 && (uint64_t)s->crash_size < p->min_crash_size)
		add_problem(s, "only %" PRIu64 " MiB reserved for the crash kernel (min_crash_size %" PRIu64
			    " MiB): the capture kernel may run out of memory",
			    (uint64_t)s->crash_size / MIB, p->min_crash_size / MIB);
	if (s->crash_size > 0 && s->ram_bytes && (uint64_t)s->crash_size * 2 > s->ram_bytes)
		add_problem(s, "reservation is more than half of RAM");
	if (s->crash_size > 0 && s->loaded == 0 && p->arm != ARM_OFF)
		add_problem(s, "memory reserved but no crash kernel loaded");
	if (s->crash_size > 0 && s->loaded == 0 && p->arm == ARM_OFF && s->crashkernel[0])
		add_problem(s, "memory reserved but no crash kernel loaded (arm = off: not loading one)");
}

static void kdump_emit(struct kdump_plugin *p, const char *why)
{
	const struct kdump_state *s = &p->st;
	bool problem = s->problems[0] != 0;
	/* Nothing configured at all is a fact, not a fault: notice. */
	enum vigil_severity sev = problem ? VIGIL_SEV_WARNING : (s->loaded == 1 ? VIGIL_SEV_INFO : VIGIL_SEV_NOTICE);
	struct vigil_event *ev = vigil_event_new("kdump_state", sev);
	if (!ev)
		return;
	if (s->loaded == 1)
		vigil_event_set_summary(ev, "kdump armed: crash kernel loaded, %" PRIu64 " MiB reserved%s%s",
					s->crash_size > 0 ? (uint64_t)s->crash_size / MIB : 0, problem ? "; " : "",
					s->problems);
	else if (problem)
		vigil_event_set_summary(ev, "kdump not armed: %s", s->problems);
	else
		vigil_event_set_summary(ev, "kdump not configured (no crashkernel= reservation)");
	vigil_event_set_bool(ev, "loaded", s->loaded == 1);
	vigil_event_set_int(ev, "crash_size", s->crash_size);
	vigil_event_set_str(ev, "crashkernel", s->crashkernel[0] ? s->crashkernel : NULL);
	vigil_event_set_int(ev, "iomem_reserved", (int64_t)s->iomem_bytes);
	vigil_event_set_int(ev, "ram", (int64_t)s->ram_bytes);
	vigil_event_set_str(ev, "tool", s->tool[0] ? s->tool : NULL);
	vigil_event_set_str(ev, "arm", arm_modes[p->arm]);
	vigil_event_set_str(ev, "cause", why);
	json_object *probs = json_object_new_array();
	if (probs && problem) {
		char tmp[sizeof(s->problems)], *save = NULL;
		vigil_strlcpy(tmp, s->problems, sizeof(tmp));
		for (char *t = strtok_r(tmp, ";", &save); t; t = strtok_r(NULL, ";", &save))
			json_object_array_add(probs, json_object_new_string(t[0] == ' ' ? t + 1 : t));
	}
	vigil_event_set_json(ev, "problems", probs);
	vigil_event_set_str(ev, "condition", "kdump");
	vigil_event_set_bool(ev, "active", problem);
	vigil_event_set_dedup_key(ev, p->fingerprint);
	p->state_events++;
	(void)vigil_emit(p->ctx, ev);
}

static void kdump_maybe_arm(struct kdump_plugin *p, bool rearm, const char *why);

/* Re-read; emit on change; arm when asked and needed. */
static void kdump_check(struct kdump_plugin *p, const char *why)
{
	struct kdump_state s;
	char fp[sizeof(p->fingerprint)];

	/* While a crash kernel is being loaded the state is in flux (and
	 * kexec_crash_size answers EBUSY): the arming's completion re-checks. */
	if (p->arming)
		return;
	kdump_read_state(p, &s);
	if (s.loaded == 0 && s.crash_size > 0 && p->arm != ARM_OFF) {
		/* Reserved but not loaded and we are to arm it: arm first and
		 * report the result, not the transient "not loaded" (which every
		 * boot would otherwise raise a second before "armed"). */
		p->st = s;
		kdump_maybe_arm(p, false, why);
		if (p->arming)
			return;
	}
	snprintf(fp, sizeof(fp), "kdump_state/%d/%" PRId64 "/%s/%" PRIu64 "/%s/%s", s.loaded, s.crash_size,
		 s.crashkernel, s.iomem_bytes, s.tool, s.problems);
	p->st = s;
	if (!p->have_state || !streq(fp, p->fingerprint)) {
		vigil_strlcpy(p->fingerprint, fp, sizeof(p->fingerprint));
		p->have_state = true;
		kdump_emit(p, why);
	}
}

/* ------------------------------------------------------------------ arming (worker) */

struct arm_job {
	char *argv[KDUMP_MAX_ARGS + 1];
	char argbuf[VIGIL_CFG_VALUE_MAX + 1];
	bool kexec_file;
	char kernel[PATH_MAX], initrd[PATH_MAX], cmdline[2048];
	uint64_t timeout;
	char output[KDUMP_OUTPUT_MAX];
	size_t outlen;
};

static int run_command(struct arm_job *j)
{
	static char *const envp[] = {(char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				     (char *)"LANG=C.UTF-8", NULL};
	int pfd[2], status = 0;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return negative_errno();
	pid = fork();
	if (pid < 0) {
		int r = negative_errno();
		close(pfd[0]);
		close(pfd[1]);
		return r;
	}
	if (pid == 0) {
		/* async-signal-safe only */
		struct sigaction dfl = {.sa_handler = SIG_DFL};
		sigset_t none;
		for (int sig = 1; sig < NSIG; sig++)
			(void)sigaction(sig, &dfl, NULL);
		sigemptyset(&none);
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
		(void)setsid();
		int nul = open("/dev/null", O_RDONLY | O_NOCTTY);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(pfd[1], 1) < 0 || dup2(pfd[1], 2) < 0)
			_exit(126);
		execve(j->argv[0], j->argv, envp);
		_exit(127);
	}
	close(pfd[1]);
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	bool done = false, pipe_open = true;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t start = (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000, now = start;
	/* Collect output and wait for the exit, both bounded by the deadline
	 * (measured on the clock: once the pipe hit EOF, poll() would return at
	 * once and a per-iteration count would burn the budget in microseconds). */
	while (!done && now - start < j->timeout) {
		struct pollfd fds[2] = {{.fd = pipe_open ? pfd[0] : -1, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
		int n = poll(fds, pidfd >= 0 ? 2 : 1, 100);
		if (n < 0 && errno != EINTR)
			break;
		if (fds[0].revents) {
			char buf[512];
			ssize_t k = read(pfd[0], buf, sizeof(buf));
			if (k > 0) {
				size_t room = sizeof(j->output) - 1 - j->outlen;
				size_t c = (size_t)k < room ? (size_t)k : room;
				memcpy(j->output + j->outlen, buf, c);
				j->outlen += c;
			} else if (k == 0)
				pipe_open = false;
		}
		if (waitpid(pid, &status, WNOHANG) == pid)
			done = true;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
	}
	/* What the tool printed just before exiting is still in the pipe
	 * (bounded; a grandchild keeping it open does not hold us). */
	for (unsigned i = 0; done && i < 64; i++) {
		struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
		char buf[512];
		if (poll(&pf, 1, 0) <= 0)
			break;
		ssize_t k = read(pfd[0], buf, sizeof(buf));
		if (k <= 0)
			break;
		size_t room = sizeof(j->output) - 1 - j->outlen;
		size_t c = (size_t)k < room ? (size_t)k : room;
		memcpy(j->output + j->outlen, buf, c);
		j->outlen += c;
	}
	if (!done) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		(void)waitpid(pid, &status, 0); /* worker thread: may wait */
	}
	while (j->outlen > 0 && (j->output[j->outlen - 1] == '\n' || j->output[j->outlen - 1] == ' '))
		j->outlen--;
	j->output[j->outlen] = 0;
	close(pfd[0]);
	if (pidfd >= 0)
		close(pidfd);
	if (!done)
		return -ETIMEDOUT;
	if (WIFEXITED(status))
		return WEXITSTATUS(status) == 0 ? 0 : -(int)(EPROTO);
	return -EINTR;
}

static int run_kexec_file(struct arm_job *j)
{
#ifdef SYS_kexec_file_load
	int kfd = open(j->kernel, O_RDONLY | O_CLOEXEC), ifd = -1, r;
	unsigned long flags = KEXEC_FILE_ON_CRASH;
	if (kfd < 0)
		return negative_errno();
	if (j->initrd[0]) {
		ifd = open(j->initrd, O_RDONLY | O_CLOEXEC);
		if (ifd < 0) {
			r = negative_errno();
			close(kfd);
			return r;
		}
	} else
		flags |= KEXEC_FILE_NO_INITRAMFS;
	/* Loading over a loaded crash image replaces it (re-arm). */
	r = (int)syscall(SYS_kexec_file_load, kfd, ifd, strlen(j->cmdline) + 1, j->cmdline, flags);
	r = r < 0 ? negative_errno() : 0;
	close(kfd);
	if (ifd >= 0)
		close(ifd);
	return r;
#else
	return -ENOSYS;
#endif
}

static int arm_worker(void *arg)
{
	struct arm_job *j = arg;
	return j->kexec_file ? run_kexec_file(j) : run_command(j);
}

struct arm_job_wrap {
	struct arm_job job;
	struct kdump_plugin *p;
};

/* userdata is the job itself: the worker frees it only after done() ran
 * (or, past the deadline, when its thread finishes), so it is valid here. */
static void on_armed(struct vigil_ctx *ctx, int result, void *userdata)
{
	struct arm_job_wrap *w = userdata;
	struct kdump_plugin *p = w->p;
	p->arming = false;
	if (result != -ETIMEDOUT) /* past the deadline the thread may still write it */
		vigil_strlcpy(p->last_arm_output, w->job.output, sizeof(p->last_arm_output));
	p->last_arm_result = result;
	if (result == -ETIMEDOUT)
		vigil_log(ctx, LOG_ERR, "arming kdump did not finish within %" PRIu64 "s",
			  (uint64_t)(p->command_timeout / USEC_PER_SEC));
	else if (result < 0)
		vigil_log_errno(ctx, LOG_ERR, result, "arming kdump failed: %m%s%s", p->last_arm_output[0] ? ": " : "",
				p->last_arm_output);
	kdump_check(p, "armed");
	if (p->st.loaded != 1) {
		p->arm_failures++;
		vigil_log(ctx, LOG_ERR, "kdump still not loaded after arming (kexec_crash_loaded = %d)", p->st.loaded);
	} else
		vigil_log(ctx, LOG_NOTICE, "kdump armed (verified: kexec_crash_loaded = 1)");
	if (p->rearm_pending) {
		p->rearm_pending = false;
		kdump_maybe_arm(p, true, "hotplug during arming");
	}
}

static void arm_job_free(void *arg)
{
	free(arg);
}

static int arm_worker_wrap(void *arg)
{
	struct arm_job_wrap *w = arg;
	return arm_worker(&w->job);
}

static void kdump_maybe_arm(struct kdump_plugin *p, bool rearm, const char *why)
{
	uint64_t now = vigil_now(p->ctx, CLOCK_MONOTONIC);
	struct arm_job_wrap *w;
	int r;

	if (p->arm == ARM_OFF || vigil_replay_mode(p->ctx))
		return;
	if (p->arming) {
		if (rearm)
			p->rearm_pending = true;
		return;
	}
	if (!rearm && p->last_arm_attempt && now - p->last_arm_attempt < p->arm_retry)
		return; /* failed recently: do not hammer */
	w = calloc(1, sizeof(*w));
	if (!w)
		return;
	enum arm_mode how = p->arm;
	if (how == ARM_AUTO)
		how = p->argv[0] || p->st.tool[0] ? ARM_COMMAND : (p->kernel[0] ? ARM_KEXEC_FILE : ARM_OFF);
	if (how == ARM_COMMAND) {
		char *const *src = rearm && p->rearm_argv[0] ? p->rearm_argv : p->argv;
		size_t o = 0, i = 0;
		if (!src[0]) {
			/* No command configured: the distro tool found at start. */
			for (size_t t = 0; t < ELEMENTSOF(tools); t++)
				if (streq(tools[t].path, p->st.tool)) {
					snprintf(w->job.argbuf, sizeof(w->job.argbuf), "%s%c%s", tools[t].path, 0,
						 rearm ? tools[t].rearm : tools[t].arm);
					w->job.argv[0] = w->job.argbuf;
					w->job.argv[1] = w->job.argbuf + strlen(tools[t].path) + 1;
				}
		} else
			for (; src[i] && i < KDUMP_MAX_ARGS; i++) {
				size_t l = strlen(src[i]) + 1;
				if (o + l > sizeof(w->job.argbuf))
					break;
				memcpy(w->job.argbuf + o, src[i], l);
				w->job.argv[i] = w->job.argbuf + o;
				o += l;
			}
		if (!w->job.argv[0]) {
			vigil_log(p->ctx, LOG_WARNING, "arm = %s but no kdump tool found and no command set",
				  arm_modes[p->arm]);
			free(w);
			p->last_arm_attempt = now;
			return;
		}
	} else if (how == ARM_KEXEC_FILE) {
		w->job.kexec_file = true;
		vigil_strlcpy(w->job.kernel, p->kernel, sizeof(w->job.kernel));
		vigil_strlcpy(w->job.initrd, p->initrd, sizeof(w->job.initrd));
		vigil_strlcpy(w->job.cmdline, p->cmdline, sizeof(w->job.cmdline));
	} else {
		vigil_log(p->ctx, LOG_WARNING, "arm = auto: no kdump tool and no kernel configured, cannot arm");
		free(w);
		p->last_arm_attempt = now;
		return;
	}
	w->job.timeout = p->command_timeout;
	w->p = p;
	p->last_arm_output[0] = 0;
	p->last_arm_attempt = now;
	p->arm_attempts++;
	vigil_log(p->ctx, LOG_NOTICE, "%s kdump (%s) with %s", rearm ? "re-arming" : "arming", why,
		  w->job.kexec_file ? "kexec_file_load(2)" : w->job.argv[0]);
	/* Deadline a little past the command's own, which kills the child. */
	r = vigil_worker_submit(p->ctx, arm_worker_wrap, w, arm_job_free, p->command_timeout + 5 * USEC_PER_SEC,
				on_armed, w);
	if (r < 0) {
		vigil_log_errno(p->ctx, LOG_ERR, r, "cannot start arming: %m");
		return;
	}
	p->arming = true;
}

/* ------------------------------------------------------------------ hotplug */

/* (Re)start a one-shot timer `delay` from now: bursts of changes re-arm
 * once, after the last one. */
static void kdump_debounce(struct kdump_plugin *p, sd_event_source **s, uint64_t delay, sd_event_time_handler_t cb)
{
	if (!*s)
		(void)sd_event_add_time_relative(vigil_loop(p->ctx), s, CLOCK_MONOTONIC, delay, USEC_PER_SEC / 10, cb, p);
	else {
		(void)sd_event_source_set_time_relative(*s, delay);
		(void)sd_event_source_set_enabled(*s, SD_EVENT_ONESHOT);
	}
}

static int on_rearm_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kdump_plugin *p = userdata;
	kdump_check(p, "hotplug");
	if (p->st.loaded == 1 || p->st.crash_size > 0)
		kdump_maybe_arm(p, true, "memory/CPU hotplug");
	return 0;
}

static int on_uevent(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct kdump_plugin *p = userdata;
	struct udev_device *d;
	bool relevant = false;
	/* Drain what is queued (bounded), then debounce: hotplug comes in bursts. */
	for (unsigned i = 0; i < 256 && (d = udev_monitor_receive_device(p->mon)); i++) {
		const char *a = udev_device_get_action(d);
		if (a && (streq(a, "add") || streq(a, "remove") || streq(a, "online") || streq(a, "offline")))
			relevant = true;
		udev_device_unref(d);
	}
	if (!relevant)
		return 0;
	p->hotplug_events++;
	kdump_debounce(p, &p->rearm_timer, p->rearm_delay, on_rearm_timer);
	return 0;
}

static int kdump_watch_hotplug(struct kdump_plugin *p)
{
	/* udevd's group when udevd runs, else the kernel's own uevents (minimal
	 * guests have no udevd; see research/qemu-lab-facts.md). */
	const char *src = access("/run/udev/control", F_OK) == 0 ? "udev" : "kernel";
	int r;
	p->udev = udev_new();
	if (!p->udev)
		return -ENOMEM;
	p->mon = udev_monitor_new_from_netlink(p->udev, src);
	if (!p->mon)
		return -EPERM;
	if ((r = udev_monitor_filter_add_match_subsystem_devtype(p->mon, "memory", NULL)) < 0 ||
	    (r = udev_monitor_filter_add_match_subsystem_devtype(p->mon, "cpu", NULL)) < 0 ||
	    (r = udev_monitor_enable_receiving(p->mon)) < 0)
		return r;
	int fd = udev_monitor_get_fd(p->mon);
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	r = sd_event_add_io(vigil_loop(p->ctx), &p->udev_src, fd, EPOLLIN, on_uevent, p);
	if (r < 0)
		return r;
	vigil_log(p->ctx, LOG_DEBUG, "watching memory/CPU hotplug (%s uevents)", src);
	return 0;
}

/* ------------------------------------------------------------------ kernel update */

/* What a kernel package writes into /boot that the capture kernel is made
 * of: the image, the initramfs, and the files configured for kexec_file. */
static bool is_kernel_file(const struct kdump_plugin *p, const char *name)
{
	static const char *const globs[] = {"vmlinuz*", "vmlinux*", "Image*", "bzImage*", "initrd*", "initramfs*"};
	const char *k = strrchr(p->kernel, '/'), *i = strrchr(p->initrd, '/');

	if (name[0] == '.' || endswith(name, ".dpkg-tmp") || endswith(name, ".dpkg-new"))
		return false; /* half-written: its rename into place follows */
	for (size_t n = 0; n < ELEMENTSOF(globs); n++)
		if (fnmatch(globs[n], name, 0) == 0)
			return true;
	return (k && streq(k + 1, name)) || (i && streq(i + 1, name));
}

static int on_update_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kdump_plugin *p = userdata;
	char why[NAME_MAX + PATH_MAX + 32];

	kdump_check(p, "kernel update");
	snprintf(why, sizeof(why), "kernel update: %s in %s", p->update_file, p->boot_dir);
	vigil_log(p->ctx, LOG_INFO, "%s changed", why + strlen("kernel update: "));
	if (p->st.loaded == 1 || p->st.crash_size > 0)
		kdump_maybe_arm(p, true, why);
	return 0;
}

static int on_boot_change(sd_event_source *s, const struct inotify_event *ev, void *userdata)
{
	struct kdump_plugin *p = userdata;

	if (ev->mask & IN_Q_OVERFLOW)
		vigil_strlcpy(p->update_file, "(events lost)", sizeof(p->update_file));
	else if (ev->len == 0 || !is_kernel_file(p, ev->name))
		return 0;
	else
		vigil_strlcpy(p->update_file, ev->name, sizeof(p->update_file));
	p->kernel_updates++;
	/* A package writes the image, then regenerates the initramfs: wait for
	 * the writes to settle (each change restarts the delay). */
	kdump_debounce(p, &p->update_timer, p->update_delay, on_update_timer);
	return 0;
}

/* (Re)establish the boot_dir watch to match the configuration. */
static void kdump_watch_boot(struct kdump_plugin *p)
{
	int r;

	if (p->boot_watch && p->kernel_update && streq(p->watched_boot_dir, p->boot_dir))
		return;
	p->boot_watch = sd_event_source_disable_unref(p->boot_watch);
	p->watched_boot_dir[0] = 0;
	if (!p->kernel_update)
		return;
	r = sd_event_add_inotify(vigil_loop(p->ctx), &p->boot_watch, p->boot_dir,
				 IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ONLYDIR, on_boot_change, p);
	if (r < 0) {
		vigil_log_errno(p->ctx, LOG_WARNING, r, "kernel_update: cannot watch %s (%m): no re-arming after kernel updates",
				p->boot_dir);
		return;
	}
	(void)sd_event_source_set_description(p->boot_watch, "kdump-boot-dir");
	vigil_strlcpy(p->watched_boot_dir, p->boot_dir, sizeof(p->watched_boot_dir));
	vigil_log(p->ctx, LOG_DEBUG, "watching %s for kernel updates", p->boot_dir);
}

/* ------------------------------------------------------------------ plumbing */

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kdump_plugin *p = userdata;
	kdump_check(p, "periodic check");
	(void)sd_event_source_set_time_relative(s, p->interval);
	(void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

static int split_argv(const struct vigil_section *sec, const char *key, char *buf, size_t size, char **argv)
{
	const char *const *items;
	size_t n = vigil_cfg_list(sec, key, &items), o = 0;
	argv[0] = NULL;
	for (size_t i = 0; i < n && i < KDUMP_MAX_ARGS; i++) {
		size_t l = strlen(items[i]) + 1;
		if (o + l > size)
			return -E2BIG;
		memcpy(buf + o, items[i], l);
		argv[i] = buf + o;
		argv[i + 1] = NULL;
		o += l;
	}
	return 0;
}

static int check_abs_argv(const char *key, const char *value, const char **ret_reason)
{
	while (*value == ' ' || *value == '\t' || *value == ',')
		value++;
	if (*value != '/') {
		*ret_reason = "the program must be an absolute path (no shell, no PATH search)";
		return -EINVAL;
	}
	return 0;
}

static const struct vigil_config_key kdump_keys[] = {
	{"arm", VIGIL_CFG_ENUM, "off", 0, 0, arm_modes, NULL,
	 "off: verify and report only; auto: distro tool, else kexec_file; command; kexec_file"},
	{"command", VIGIL_CFG_LIST, NULL, 0, 0, NULL, check_abs_argv,
	 "argv to arm (default: kdump-config load / kdumpctl start)"},
	{"rearm_command", VIGIL_CFG_LIST, NULL, 0, 0, NULL, check_abs_argv,
	 "argv to re-arm after hotplug (default: kdump-config reload / kdumpctl restart)"},
	{"command_timeout", VIGIL_CFG_DURATION, "60s", 1 * (int64_t)USEC_PER_SEC, 3600 * (int64_t)USEC_PER_SEC, NULL,
	 NULL, "deadline for arming; the command is killed after it"},
	{"kernel", VIGIL_CFG_PATH, NULL, 0, 0, NULL, NULL, "capture kernel for kexec_file (default /boot/vmlinuz-$(uname -r))"},
	{"initrd", VIGIL_CFG_PATH, NULL, 0, 0, NULL, NULL, "capture initrd for kexec_file (default none)"},
	{"cmdline", VIGIL_CFG_STRING, NULL, 0, 0, NULL, NULL,
	 "capture kernel command line (default: ours without crashkernel= plus irqpoll nr_cpus=1 reset_devices)"},
	{"check_interval", VIGIL_CFG_DURATION, "5m", 1 * (int64_t)USEC_PER_SEC, 86400 * (int64_t)USEC_PER_SEC, NULL,
	 NULL, "how often the state is re-read"},
	{"arm_retry", VIGIL_CFG_DURATION, "10m", 1 * (int64_t)USEC_PER_SEC, 86400 * (int64_t)USEC_PER_SEC, NULL, NULL,
	 "after a failed arming, wait this long before trying again"},
	{"hotplug", VIGIL_CFG_BOOL, "yes", 0, 0, NULL, NULL, "re-arm after memory/CPU hotplug uevents"},
	{"rearm_delay", VIGIL_CFG_DURATION, "5s", 0, 3600 * (int64_t)USEC_PER_SEC, NULL, NULL,
	 "quiet time after the last hotplug uevent before re-arming"},
	{"kernel_update", VIGIL_CFG_BOOL, "no", 0, 0, NULL, NULL,
	 "re-arm when a kernel or initramfs in boot_dir changes (package update)"},
	{"boot_dir", VIGIL_CFG_PATH, "/boot", 0, 0, NULL, NULL, "where kernel packages install (kernel_update)"},
	{"kernel_update_delay", VIGIL_CFG_DURATION, "30s", 0, 3600 * (int64_t)USEC_PER_SEC, NULL, NULL,
	 "quiet time after the last change in boot_dir before re-arming (the initramfs is written last)"},
	{"min_crash_size", VIGIL_CFG_SIZE, "128M", 0, 0, NULL, NULL, "warn when less is reserved for the crash kernel"},
	{"proc_root", VIGIL_CFG_PATH, "/proc", 0, 0, NULL, NULL, "procfs root (tests)"},
	{"sys_root", VIGIL_CFG_PATH, "/sys", 0, 0, NULL, NULL, "sysfs root (tests)"},
	{NULL},
};

static void default_cmdline(struct kdump_plugin *p)
{
	char buf[2048], *save = NULL;
	size_t o = 0;
	p->cmdline[0] = 0;
	if (read_root_file(p->proc_root, "cmdline", buf, sizeof(buf)) > 0)
		for (char *t = strtok_r(buf, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) {
			if (startswith(t, "crashkernel=") || startswith(t, "BOOT_IMAGE="))
				continue;
			int n = snprintf(p->cmdline + o, sizeof(p->cmdline) - o, "%s ", t);
			if (n < 0 || (size_t)n >= sizeof(p->cmdline) - o)
				break;
			o += (size_t)n;
		}
	snprintf(p->cmdline + o, sizeof(p->cmdline) - o, "irqpoll nr_cpus=1 reset_devices");
}

static int kdump_configure(struct kdump_plugin *p, const struct vigil_section *sec)
{
	int r;
	p->arm = (enum arm_mode)vigil_cfg_enum(sec, "arm");
	vigil_strlcpy(p->proc_root, vigil_cfg_string(sec, "proc_root"), sizeof(p->proc_root));
	vigil_strlcpy(p->sys_root, vigil_cfg_string(sec, "sys_root"), sizeof(p->sys_root));
	if ((r = split_argv(sec, "command", p->argbuf, sizeof(p->argbuf), p->argv)) < 0 ||
	    (r = split_argv(sec, "rearm_command", p->rearg_buf, sizeof(p->rearg_buf), p->rearm_argv)) < 0)
		return vigil_log_errno(p->ctx, LOG_ERR, r, "command too long");
	p->command_timeout = vigil_cfg_duration(sec, "command_timeout");
	p->interval = vigil_cfg_duration(sec, "check_interval");
	p->arm_retry = vigil_cfg_duration(sec, "arm_retry");
	p->rearm_delay = vigil_cfg_duration(sec, "rearm_delay");
	p->hotplug = vigil_cfg_bool(sec, "hotplug");
	p->kernel_update = vigil_cfg_bool(sec, "kernel_update");
	vigil_strlcpy(p->boot_dir, vigil_cfg_string(sec, "boot_dir"), sizeof(p->boot_dir));
	p->update_delay = vigil_cfg_duration(sec, "kernel_update_delay");
	p->min_crash_size = vigil_cfg_size(sec, "min_crash_size");
	if (vigil_cfg_string(sec, "kernel"))
		vigil_strlcpy(p->kernel, vigil_cfg_string(sec, "kernel"), sizeof(p->kernel));
	else {
		struct utsname u;
		if (uname(&u) == 0)
			snprintf(p->kernel, sizeof(p->kernel), "/boot/vmlinuz-%s", u.release);
	}
	vigil_strlcpy(p->initrd, strempty(vigil_cfg_string(sec, "initrd")), sizeof(p->initrd));
	if (vigil_cfg_string(sec, "cmdline"))
		vigil_strlcpy(p->cmdline, vigil_cfg_string(sec, "cmdline"), sizeof(p->cmdline));
	else
		default_cmdline(p);
	if (p->arm == ARM_KEXEC_FILE && access(p->kernel, R_OK) < 0)
		vigil_log_errno(p->ctx, LOG_WARNING, errno, "arm = kexec_file: kernel %s not readable (%m)", p->kernel);
	return 0;
}

static void kdump_fini(struct vigil_ctx *ctx, void *data)
{
	struct kdump_plugin *p = data;
	if (!p)
		return;
	p->timer = sd_event_source_disable_unref(p->timer);
	p->rearm_timer = sd_event_source_disable_unref(p->rearm_timer);
	p->udev_src = sd_event_source_disable_unref(p->udev_src);
	p->boot_watch = sd_event_source_disable_unref(p->boot_watch);
	p->update_timer = sd_event_source_disable_unref(p->update_timer);
	udev_monitor_unref(p->mon);
	udev_unref(p->udev);
	free(p);
}

static int kdump_init(struct vigil_ctx *ctx, const struct vigil_section *sec, void **ret_data)
{
	struct kdump_plugin *p = calloc(1, sizeof(*p));
	int r;
	if (!p)
		return -ENOMEM;
	p->ctx = ctx;
	r = kdump_configure(p, sec);
	if (r < 0)
		goto fail;
	if (vigil_replay_mode(ctx)) {
		*ret_data = p;
		return 0;
	}
	if (p->hotplug) {
		r = kdump_watch_hotplug(p);
		if (r < 0)
			vigil_log_errno(ctx, LOG_WARNING, r, "no hotplug uevents (%m): re-arming only on the timer");
	}
	kdump_watch_boot(p);
	r = sd_event_add_time_relative(vigil_loop(ctx), &p->timer, CLOCK_MONOTONIC, p->interval, p->interval / 100,
				       on_timer, p);
	if (r < 0) {
		vigil_log_errno(ctx, LOG_ERR, r, "cannot arm the check timer: %m");
		goto fail;
	}
	kdump_check(p, "start");
	*ret_data = p;
	return 0;
fail:
	kdump_fini(ctx, p);
	return r;
}

static int kdump_reload(struct vigil_ctx *ctx, void *data, const struct vigil_section *sec)
{
	struct kdump_plugin *p = data;
	int r = kdump_configure(p, sec);
	if (r < 0)
		return r;
	p->last_arm_attempt = 0; /* new config: try again now */
	if (!vigil_replay_mode(ctx)) {
		kdump_watch_boot(p);
		kdump_check(p, "reload");
	}
	return 0;
}

static int kdump_status(struct vigil_ctx *ctx, void *data, json_object *out)
{
	struct kdump_plugin *p = data;
	const struct kdump_state *s = &p->st;
	json_object_object_add(out, "loaded", s->loaded < 0 ? NULL : json_object_new_boolean(s->loaded == 1));
	json_object_object_add(out, "crash_size", json_object_new_int64(s->crash_size));
	json_object_object_add(out, "crashkernel", s->crashkernel[0] ? json_object_new_string(s->crashkernel) : NULL);
	json_object_object_add(out, "iomem_reserved", json_object_new_int64((int64_t)s->iomem_bytes));
	json_object_object_add(out, "ram", json_object_new_int64((int64_t)s->ram_bytes));
	json_object_object_add(out, "tool", s->tool[0] ? json_object_new_string(s->tool) : NULL);
	json_object_object_add(out, "problems", s->problems[0] ? json_object_new_string(s->problems) : NULL);
	json_object_object_add(out, "arm", json_object_new_string(arm_modes[p->arm]));
	json_object_object_add(out, "arming", json_object_new_boolean(p->arming));
	json_object_object_add(out, "arm_attempts", json_object_new_int((int)p->arm_attempts));
	json_object_object_add(out, "arm_failures", json_object_new_int((int)p->arm_failures));
	if (p->arm_attempts)
		json_object_object_add(out, "last_arm_result",
				       json_object_new_string(p->last_arm_result < 0 ? strerror(-p->last_arm_result)
										     : "ok"));
	json_object_object_add(out, "hotplug_events", json_object_new_int((int)p->hotplug_events));
	json_object_object_add(out, "kernel_update_watch",
			       p->watched_boot_dir[0] ? json_object_new_string(p->watched_boot_dir) : NULL);
	json_object_object_add(out, "kernel_updates", json_object_new_int((int)p->kernel_updates));
	json_object_object_add(out, "state_events", json_object_new_int((int)p->state_events));
	return 0;
}

const struct vigil_plugin vigil_plugin = {
	.abi_version = VIGIL_PLUGIN_ABI_VERSION,
	.kind = VIGIL_PLUGIN_MONITOR,
	.name = "kdump",
	.description = "crash-dump readiness: reservation, loaded crash kernel, arming and re-arming",
	.keys = kdump_keys,
	.init = kdump_init,
	.reload = kdump_reload,
	.status = kdump_status,
	.fini = kdump_fini,
};
