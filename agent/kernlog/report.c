/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kernlog assembler: turns a stream of kernel lines into reports and each
 * report into one event. A report opens on a header line (kl_classify),
 * collects body lines (registers, frames, markers: kl_is_body) and closes on
 * its end marker, on the first ordinary line after it, on the next report's
 * header, on a timestamp gap, or on flush (quiet period / end of input).
 * Reports of different printk callers (caller= / [T123]) are kept apart.
 * A report closed before it carried what its class always prints (a call
 * trace, the end marker) is emitted with partial = true.
 */
#include "kernlog/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RAW_LINE_MAX 1024
#define GAP_USEC (10 * 1000000LL)
#define FOREIGN_MAX 2 /* unrelated lines in a row a report survives */

struct kl_report {
	bool open;
	char caller[KL_CALLER_MAX];
	uint64_t serial; /* open order, for "most recent" */
	struct kl_header h;
	/* raw lines, '\n' separated */
	char *raw;
	size_t raw_len, raw_cap;
	unsigned nlines, dropped;
	int64_t first_ts, last_ts;
	uint64_t first_seq;
	bool end_marker, task_end, have_oops_line, oom_done, in_modules, truncated_trace;
	bool task_begin; /* "<TASK>" seen (the stack is complete with "</TASK>") */
	char rec_id[16];  /* "{359}": the hardware error record the report's lines carry */
	bool from_warn;       /* refined from a WARN() splat: it ends with "---[ end trace" */
	bool warn_text_first; /* "cut here" + WARN text (4.15+ order): its "WARNING: CPU:" line follows */
	bool ndo_seen;        /* the driver's ndo_tx_timeout line of this watchdog firing is in raw */
	bool after_task_dump; /* last line was "Task dump for CPU n:" (the task line follows) */
	bool memcg_hint;      /* "oom-kill:constraint=CONSTRAINT_MEMCG" seen */
	bool warn_msg;        /* the WARN() message line is taken */
	bool body_seen;       /* a body line (not a header) was appended */
	unsigned foreign;     /* unrelated lines in a row since the last body line */
	int cpu;
	int64_t pid;
	char comm[64];
	char taint[48];
	char release[96];
	char hardware[160];
	char modules[1024];
	bool have_ip, have_lr;
	struct kl_frame ip, lr;
	struct kl_frame frames[KL_FRAMES_MAX];
	unsigned nframes, nframes_seen;
};

struct kl_scanner {
	const struct kl_signatures *sigs;
	kl_event_fn cb;
	void *userdata;
	struct kl_report slots[KL_OPEN_MAX];
	unsigned n_open;
	uint64_t serial;
	struct kl_stats stats;
	uint64_t boot_realtime;
	char release[96]; /* last "Linux version" seen */
	/* last closed report, for a following panic */
	char last_kind[24];
	char last_summary[256];
	char last_dedup[256];
	json_object *last_known_issue;
	int64_t last_ts;
	bool have_last;
	char last_panic[KL_TEXT_MAX]; /* reason of the last panic event, for its lone end marker */
	/* last NETDEV WATCHDOG event whose driver ndo_tx_timeout line
	 * (virtio_net "TX timeout on queue") has not been seen yet */
	bool wd_pending;
	char wd_dev[64];
	int64_t wd_ts;
	/* last mce event was uncorrected (at mce_uc_ts): a following bare
	 * "Machine check events logged" logs that error, not a corrected one */
	bool mce_uc;
	int64_t mce_uc_ts;
	/* feed_chunk tail */
	char *pending;
	size_t pending_len;
	bool pending_skip; /* discarding the rest of an over-long line */
	char *scratch;     /* a line rewritten before parsing (escapes, journal JSON) */
	/* an entry of journalctl's multi-line output modes being read */
	struct {
		enum { JE_NONE, JE_EXPORT, JE_VERBOSE, JE_PRETTY, JE_LINE } mode;
		bool have_msg;
		int transport;  /* 1 kernel, 0 other, -1 not seen */
		int ident;      /* SYSLOG_IDENTIFIER: 1 kernel, 0 other, -1 not seen */
		int64_t mono;
		size_t ml;
		unsigned lines;
		bool binary;    /* export: a binary field's data line follows */
		char *msg;
	} je;
	int error;         /* first negative return of cb during a feed */
	int emitted;
};

static inline bool has_prefix(const char *t, size_t n, const char *p, size_t pl)
{
	return n >= pl && memcmp(t, p, pl) == 0;
}
#define PFX(t, n, s) has_prefix((t), (n), (s), sizeof(s) - 1)


/* ------------------------------------------------------------------------ */

int kl_scanner_new(const struct kl_signatures *sigs, kl_event_fn cb, void *userdata, struct kl_scanner **ret)
{
	struct kl_scanner *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->sigs = sigs;
	s->cb = cb;
	s->userdata = userdata;
	*ret = s;
	return 0;
}

struct kl_scanner *kl_scanner_free(struct kl_scanner *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < KL_OPEN_MAX; i++)
		free(s->slots[i].raw);
	if (s->last_known_issue)
		json_object_put(s->last_known_issue);
	free(s->pending);
	free(s->scratch);
	free(s->je.msg);
	free(s);
	return NULL;
}

void kl_scanner_set_signatures(struct kl_scanner *s, const struct kl_signatures *sigs) { s->sigs = sigs; }
const struct kl_stats *kl_scanner_stats(const struct kl_scanner *s) { return &s->stats; }
void kl_scanner_set_boot_time(struct kl_scanner *s, uint64_t t) { s->boot_realtime = t; }

bool kl_scanner_has_open(const struct kl_scanner *s)
{
	for (size_t i = 0; i < KL_OPEN_MAX; i++)
		if (s->slots[i].open)
			return true;
	return false;
}

/* ------------------------------------------------------------------------ */

static void report_add_raw(struct kl_report *r, const struct kl_line *l)
{
	if (r->nlines >= KL_REPORT_MAX_LINES) {
		r->dropped++;
		return;
	}
	size_t n = l->len > RAW_LINE_MAX ? RAW_LINE_MAX : l->len;
	size_t need = r->raw_len + n + 24;
	if (need > r->raw_cap) {
		size_t cap = r->raw_cap ? r->raw_cap * 2 : 4096;
		while (cap < need)
			cap *= 2;
		char *p = realloc(r->raw, cap);
		if (!p) {
			r->dropped++;
			return;
		}
		r->raw = p;
		r->raw_cap = cap;
	}
	if (l->ts_usec >= 0)
		r->raw_len += (size_t)snprintf(r->raw + r->raw_len, 24, "[%5" PRId64 ".%06" PRId64 "] ",
					       l->ts_usec / 1000000, l->ts_usec % 1000000);
	memcpy(r->raw + r->raw_len, l->text, n);
	r->raw_len += n;
	r->raw[r->raw_len++] = '\n';
	r->nlines++;
}

/* "CPU: 21 PID: 0 Comm: swapper/21 Kdump: loaded Tainted: G    L  5.10.0-… #1"
 * 6.x: "CPU: 3 UID: 0 PID: 1234 Comm: foo Not tainted 6.12.0 #1"
 * 2.6: "Pid: 1234, comm: foo Tainted: G  D  2.6.32-… #1 HP ProLiant…" */
static void parse_cpu_line(struct kl_report *r, const char *t, size_t n)
{
	const char *end = t + n, *p;
	int64_t v;
	if (PFX(t, n, "CPU: ")) {
		p = t + 5;
		v = 0;
		if (p < end && *p >= '0' && *p <= '9') {
			for (v = 0; p < end && *p >= '0' && *p <= '9' && v < 1000000; p++)
				v = v * 10 + (*p - '0');
			if (r->cpu < 0)
				r->cpu = (int)v;
		}
	}
	p = memmem(t, n, "PID: ", 5);
	if (!p)
		p = PFX(t, n, "Pid: ") ? t : NULL;
	if (p && r->pid < 0) {
		const char *q = p + 5;
		for (v = 0; q < end && *q >= '0' && *q <= '9' && v < 100000000; q++)
			v = v * 10 + (*q - '0');
		if (q > p + 5)
			r->pid = v;
	}
	const char *c = memmem(t, n, "Comm: ", 6);
	if (!c)
		c = memmem(t, n, "comm: ", 6);
	if (c) {
		const char *s = c + 6, *e = s;
		/* comm is %.20s / TASK_COMM_LEN: ends before " Kdump:", " Not tainted", " Tainted:" */
		const char *stop = end;
		static const char *const stops[] = {" Kdump:", " Not tainted", " Tainted:", " Tainted"};
		for (size_t i = 0; i < 4; i++) {
			const char *x = memmem(s, (size_t)(end - s), stops[i], strlen(stops[i]));
			if (x && x < stop)
				stop = x;
		}
		e = stop;
		if (!r->comm[0])
			kl_copy_text(r->comm, sizeof(r->comm), s, (size_t)(e - s));
	}
	const char *tv = memmem(t, n, "Tainted: ", 9);
	const char *rel = NULL;
	if (tv) {
		const char *s = tv + 9;
		/* flags until the release token (starts with a digit, contains '.') */
		const char *q = s;
		while (q < end) {
			while (q < end && *q == ' ')
				q++;
			const char *w = q;
			while (q < end && *q != ' ')
				q++;
			if (w < q && *w >= '0' && *w <= '9' && memchr(w, '.', (size_t)(q - w))) {
				rel = w;
				break;
			}
		}
		const char *fe = rel ? rel : end;
		kl_copy_text(r->taint, sizeof(r->taint), s, (size_t)(fe - s));
	} else {
		const char *nt = memmem(t, n, "Not tainted ", 12);
		if (nt)
			rel = nt + 12;
	}
	if (rel && !r->release[0]) {
		while (rel < end && *rel == ' ')
			rel++;
		const char *e = rel;
		while (e < end && *e != ' ')
			e++;
		kl_copy_text(r->release, sizeof(r->release), rel, (size_t)(e - rel));
	}
}

static void add_frame(struct kl_report *r, const struct kl_frame *f)
{
	r->nframes_seen++;
	if (r->nframes < KL_FRAMES_MAX)
		r->frames[r->nframes++] = *f;
	else
		r->truncated_trace = true;
}

/* Extract the fields a body line carries. */
/* "sym+0x24/0x80 [mod]" right after the first c in t (powerpc "NIP [addr] sym…",
 * s390 "Krnl PSW : … (sym…)") into f; false when there is none */
static bool symbol_after(const char *t, size_t n, char c, struct kl_frame *f)
{
	const char *p = memchr(t, c, n);
	return p && kl_parse_symbol(p + 1, (size_t)(t + n - p - 1), f);
}

static void report_body(struct kl_report *r, const char *t, size_t n)
{
	struct kl_frame f;
	if (n == 0)
		return;
	if (r->in_modules) {
		if (t[0] == ' ' && !memmem(t, n, "+0x", 3)) {
			size_t ml = strlen(r->modules);
			if (ml + 2 < sizeof(r->modules))
				kl_copy_text(r->modules + ml, sizeof(r->modules) - ml, t, n);
			return;
		}
		r->in_modules = false;
	}
	/* markers may be indented (" </TASK>", "  ---[ end trace") */
	while (n > 1 && (t[0] == ' ' || t[0] == '\t') && (t[1] == '<' || t[1] == '-' || t[1] == ' ' || t[1] == '\t') &&
	       r->h.kind != KL_RCU_STALL) {
		t++;
		n--;
	}
	r->after_task_dump = false;
	const char *acq = r->pid < 0 && n > 28 && t[0] != ' ' ? memmem(t, n, " is trying to acquire lock", 26) : NULL;
	if (acq) {
		/* lockdep: "%s/%d is trying to acquire lock:" (the task the report is about) */
		int64_t pid;
		if (kl_comm_slash_pid(t, acq, r->comm, sizeof(r->comm), &pid))
			r->pid = pid;
		return;
	}
	switch (t[0]) {
	case 'T':
		if (PFX(t, n, "Task dump for CPU ")) {
			r->after_task_dump = true;
			return;
		}
		break;
	case 'o':
		if (PFX(t, n, "oom-kill:constraint=CONSTRAINT_MEMCG"))
			r->memcg_hint = true;
		break;
	case 'i':
		/* "BUG: sleeping function called from invalid context": "in_atomic(): %d,
		 * irqs_disabled(): %d[, non_block: %d], pid: %d, name: %s" */
		if (PFX(t, n, "in_atomic(): ") && r->pid < 0) {
			const char *p = memmem(t, n, ", pid: ", 7), *nm = memmem(t, n, ", name: ", 8);
			if (p && nm && nm > p) {
				char *e;
				char num[24];
				kl_copy_text(num, sizeof(num), p + 7, (size_t)(nm - p - 7));
				long long v = strtoll(num, &e, 10);
				if (e != num && *e == 0 && v >= 0) {
					r->pid = v;
					kl_copy_text(r->comm, sizeof(r->comm), nm + 8, (size_t)(t + n - nm - 8));
				}
			}
			return;
		}
		break;
	case 'K':
		/* s390: "Krnl PSW : 0704c00180000000 000000000075c3f4 (number+0x464/0x5d0)" */
		if (PFX(t, n, "Krnl PSW : ") && !r->have_ip) {
			r->have_ip = symbol_after(t, n, '(', &r->ip);
			return;
		}
		break;
	case 'M':
		if (PFX(t, n, "Modules linked in:")) {
			const char *s = t + 18;
			while (s < t + n && *s == ' ')
				s++;
			kl_copy_text(r->modules, sizeof(r->modules), s, (size_t)(t + n - s));
			r->in_modules = true;
			return;
		}
		break;
	case 'C':
		if (PFX(t, n, "CPU: ")) {
			parse_cpu_line(r, t, n);
			return;
		}
		break;
	case 'N':
		/* powerpc: "NIP [c000000000353484] sym+0x24/0x80" */
		if (PFX(t, n, "NIP [") && !r->have_ip) {
			r->have_ip = symbol_after(t, n, ']', &r->ip);
			return;
		}
		break;
	case 'P':
		if (PFX(t, n, "Pid: ")) {
			parse_cpu_line(r, t, n);
			return;
		}
		if (PFX(t, n, "PC is at ") && !r->have_ip) {
			r->have_ip = kl_parse_symbol(t + 9, n - 9, &r->ip);
			return;
		}
		break;
	case 'L':
		if (PFX(t, n, "LR is at ") && !r->have_lr) {
			r->have_lr = kl_parse_symbol(t + 9, n - 9, &r->lr);
			return;
		}
		if (PFX(t, n, "LR [") && !r->have_lr) { /* powerpc */
			r->have_lr = symbol_after(t, n, ']', &r->lr);
			return;
		}
		break;
	case 'H':
		if (PFX(t, n, "Hardware name: ")) {
			kl_copy_text(r->hardware, sizeof(r->hardware), t + 15, n - 15);
			return;
		}
		break;
	case 'R':
	case 'I':
		/* "RIP: 0010:sym+0x…", "RIP: e030:[<…>] [<…>] sym+0x…", "IP: [<…>] sym+0x…" */
		if ((PFX(t, n, "RIP: ") || PFX(t, n, "IP: ")) && !r->have_ip) {
			const char *s = t + (t[0] == 'R' ? 5 : 4), *end = t + n;
			const char *c = memchr(s, ':', (size_t)(end - s) < 8 ? (size_t)(end - s) : 8);
			if (c && (c - s) == 4)
				s = c + 1;
			if (kl_parse_frame(s, (size_t)(end - s), &r->ip)) {
				r->ip.reliable = true;
				r->have_ip = true;
			} else {
				/* "RIP: 0010:0x0", "IP: [<          (null)>]           (null)" */
				const char *z = memmem(s, (size_t)(end - s), "(null)", 6);
				if ((end - s >= 3 && memcmp(s, "0x0", 3) == 0 && (end - s == 3 || s[3] == ' ')) || z) {
					memset(&r->ip, 0, sizeof(r->ip));
					strcpy(r->ip.symbol, "0x0");
					r->have_ip = true;
				}
			}
			return;
		}
		break;
	case 'p':
		if (PFX(t, n, "pc : ") && !r->have_ip) {
			r->have_ip = kl_parse_symbol(t + 5, n - 5, &r->ip);
			if (!r->have_ip && PFX(t, n, "pc : 0x")) {
				memset(&r->ip, 0, sizeof(r->ip));
				kl_copy_text(r->ip.symbol, sizeof(r->ip.symbol), t + 5, n - 5);
				r->have_ip = true;
			}
			return;
		}
		break;
	case 'l':
		if (PFX(t, n, "lr : ") && !r->have_lr) {
			r->have_lr = kl_parse_symbol(t + 5, n - 5, &r->lr);
			return;
		}
		break;
	case '<':
		if (PFX(t, n, "</TASK>"))
			r->task_end = true;
		else if (PFX(t, n, "<TASK>"))
			r->task_begin = true;
		return;
	case '-':
		if (PFX(t, n, "---[ end"))
			r->end_marker = true;
		return;
	case 'r':
	case '\t':
	case ' ':
		if (r->h.kind == KL_RCU_STALL && r->cpu < 0) {
			/* "rcu: \t3-....: (5249 ticks this GP)" / "\t3-...0: (1 GPs behind)" */
			const char *s = t, *end = t + n;
			if (PFX(t, n, "rcu: "))
				s += 5;
			while (s < end && (*s == ' ' || *s == '\t'))
				s++;
			int v = 0;
			const char *d = s;
			while (s < end && *s >= '0' && *s <= '9' && v < 100000)
				v = v * 10 + (*s++ - '0');
			if (s > d && s < end && *s == '-') {
				r->cpu = v;
				return;
			}
		}
		break;
	}
	if (kl_parse_frame(t, n, &f))
		add_frame(r, &f);
}

static void report_reset(struct kl_report *r)
{
	char *raw = r->raw;
	size_t cap = r->raw_cap;
	memset(r, 0, offsetof(struct kl_report, frames));
	r->nframes = r->nframes_seen = 0;
	r->raw = raw;
	r->raw_cap = cap;
	r->cpu = -1;
	r->pid = -1;
	r->first_ts = r->last_ts = -1;
}

/* The "{359}" a GHES/CPER record prefixes to each of its lines ("" when none) */
static void record_id(const char *t, size_t n, char *dst, size_t size)
{
	const char *rb = n > 2 && t[0] == '{' ? memchr(t, '}', n < size ? n : size) : NULL;
	if (rb && (size_t)(rb - t) + 1 < size) {
		memcpy(dst, t, (size_t)(rb - t) + 1);
		dst[rb - t + 1] = 0;
	} else
		dst[0] = 0;
}

static struct kl_report *slot_open(struct kl_scanner *s, const struct kl_line *l, const struct kl_header *h)
{
	struct kl_report *r = NULL;
	for (size_t i = 0; i < KL_OPEN_MAX; i++)
		if (!s->slots[i].open) {
			r = &s->slots[i];
			break;
		}
	if (!r)
		return NULL;
	report_reset(r);
	r->open = true;
	s->n_open++;
	r->serial = ++s->serial;
	memcpy(r->caller, l->caller, sizeof(r->caller));
	r->h = *h;
	r->first_ts = r->last_ts = l->ts_usec;
	r->first_seq = l->seq;
	if (h->cpu >= 0)
		r->cpu = h->cpu;
	if (h->pid >= 0)
		r->pid = h->pid;
	if (h->comm[0])
		memcpy(r->comm, h->comm, sizeof(r->comm));
	if (h->have_ip) {
		r->ip = h->ip;
		r->ip.reliable = true;
		r->have_ip = true;
	}
	record_id(l->text, l->len, r->rec_id, sizeof(r->rec_id));
	return r;
}

/* ------------------------------------------------------------------------
 * Report → event
 * ------------------------------------------------------------------------ */

static bool noise_frame(const char *sym)
{
	static const char *const noise[] = {
		"dump_backtrace", "show_stack", "dump_stack", "dump_stack_lvl", "__dump_stack", "panic", "vpanic",
		"warn_slowpath_common", "warn_slowpath_fmt", "warn_slowpath_null", "__warn", "report_bug",
		"show_regs", "die", "__die", "oops_end", "no_context", "__bad_area_nosemaphore", "bad_area_nosemaphore",
		"page_fault_oops", "kernelmode_fixup_or_oops", "do_page_fault", "exc_page_fault", "asm_exc_page_fault",
		"page_fault", "handle_bug", "exc_invalid_op", "asm_exc_invalid_op", "do_invalid_op", "invalid_op",
		"do_trap", "do_error_trap", "die_kernel_fault", "__do_kernel_fault", "do_mem_abort", "el1_abort",
		"el1h_64_sync_handler", "el1h_64_sync", "el1_sync_handler", "el1_sync", "el1_da", "bug_handler",
		"call_break_hook", "brk_handler", "do_debug_exception", "el1_dbg", "arm64_notify_die", "nmi_cpu_backtrace",
		"nmi_trigger_cpumask_backtrace", "arch_trigger_cpumask_backtrace", "__schedule_bug", "___might_sleep",
		"__might_sleep", "print_usage_bug", "rcu_dump_cpu_stacks", "rcu_sched_clock_irq", "rcu_pending",
		"print_cpu_stall", "check_cpu_stall", "rcu_check_callbacks", "update_process_times", "tick_sched_handle",
		"tick_sched_timer", "tick_nohz_handler", "__hrtimer_run_queues", "__run_hrtimer", "hrtimer_interrupt",
		"__sysvec_apic_timer_interrupt", "sysvec_apic_timer_interrupt", "asm_sysvec_apic_timer_interrupt",
		"smp_apic_timer_interrupt", "apic_timer_interrupt", "local_apic_timer_interrupt", "sched_show_task",
		"dump_cpu_task", "dump_header", "arch_timer_handler_phys", "handle_percpu_devid_irq",
		"__handle_domain_irq", "gic_handle_irq", "watchdog_timer_fn", "dump_stack_lvl", "__die_body",
		"lapic_can_unplug_cpu", "nmi_cpu_backtrace_handler", "unwind_backtrace", "nmi_panic",
		/* NMI watchdog (perf) machinery of a hard lockup report */
		"watchdog_overflow_callback", "__perf_event_overflow", "perf_event_overflow", "perf_prepare_sample",
		"intel_pmu_handle_irq", "amd_pmu_handle_irq", "x86_pmu_handle_irq", "perf_event_nmi_handler",
		"nmi_handle", "default_do_nmi", "do_nmi", "exc_nmi", "end_repeat_nmi", "watchdog_hardlockup_check",
		"watchdog_buddy_check_hardlockup", "watchdog_check_hardlockup",
		/* KASAN's report, the smp_processor_id()/this_cpu checkers, might_sleep()
		 * and lockdep: the report's machinery, not the code it reports on */
		"print_report", "kasan_report", "__kasan_report", "print_address_description", "kasan_check_range",
		"check_memory_region", "__asan_report_load8_noabort", "__asan_report_store8_noabort",
		"__asan_report_load4_noabort", "__asan_report_store4_noabort", "__asan_load8", "__asan_store8",
		"__asan_load4", "__asan_store4", "kasan_report_invalid_free", "debug_smp_processor_id",
		"check_preemption_disabled", "__this_cpu_preempt_check", "__might_resched", "__might_fault",
		"print_circular_bug", "check_noncircular", "check_prev_add", "check_prevs_add", "validate_chain",
		"__lock_acquire", "lock_acquire", "print_deadlock_bug", "check_deadlock", "mark_lock", NULL,
	};
	/* compare the base name: "nmi_cpu_backtrace.cold.0" is "nmi_cpu_backtrace" */
	size_t bl = strcspn(sym, ".");
	for (size_t i = 0; noise[i]; i++)
		if (noise[i][0] == sym[0] && strncmp(sym, noise[i], bl) == 0 && noise[i][bl] == 0)
			return true;
	return false;
}

static json_object *frame_json(const struct kl_frame *f)
{
	json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "symbol", json_object_new_string(f->symbol));
	json_object_object_add(o, "offset", json_object_new_int64(f->offset));
	json_object_object_add(o, "size", json_object_new_int64(f->size));
	json_object_object_add(o, "module", f->module[0] ? json_object_new_string(f->module) : NULL);
	json_object_object_add(o, "reliable", json_object_new_boolean(f->reliable));
	return o;
}

static bool report_partial(const struct kl_report *r, bool by_header)
{
	(void)by_header;
	if (r->from_warn && r->h.kind != KL_NETDEV_TX_TIMEOUT)
		return !(r->end_marker || r->task_end);
	switch (r->h.kind) {
	case KL_SOFT_LOCKUP:
	case KL_HUNG_TASK:
	case KL_RCU_STALL:
	case KL_HARD_LOCKUP:
	case KL_SCHED_ATOMIC:
		/* these always print a stack; 5.16+ closes it with </TASK> */
		return r->nframes_seen == 0 || (r->task_begin && !r->task_end);
	case KL_BUG:
		/* "kernel BUG at"/invalid opcode are oopses (end marker); other "BUG: …" checks just dump a stack */
		if (!r->h.location[0] && !r->have_oops_line && !r->have_ip)
			return r->nframes_seen == 0;
		return !(r->end_marker || r->task_end);
	case KL_OOPS:
	case KL_GPF:
	case KL_WARNING:
		return !(r->end_marker || r->task_end);
	case KL_NETDEV_TX_TIMEOUT:
		return r->nlines > 1 && !(r->end_marker || r->task_end);
	case KL_OOM_KILL:
		return !r->oom_done;
	case KL_PANIC:
		return r->h.role == KL_ROLE_PANIC_END; /* only the end marker survived */
	default:
		return false;
	}
}

static enum vigil_severity kind_severity(const struct kl_report *r)
{
	if (r->h.severity >= 0)
		return (enum vigil_severity)r->h.severity;
	switch (r->h.kind) {
	case KL_WARNING:
	case KL_OOM_KILL:
	case KL_IO_ERROR:
	case KL_IO_TIMEOUT:
	case KL_NETDEV_TX_TIMEOUT:
	case KL_FS_ERROR:
		return VIGIL_SEV_WARNING;
	case KL_PCI_HOTPLUG:
		return VIGIL_SEV_INFO;
	default:
		return VIGIL_SEV_CRITICAL;
	}
}

static const char *cause_text(const char *cause)
{
	static const struct {
		const char *cause, *text;
	} texts[] = {
		{"null_deref", "NULL pointer dereference"},
		{"paging_request", "paging request"},
		{"page_fault", "page fault"},
		{"divide_error", "divide error"},
		{"double_fault", "double fault"},
		{"nx_violation", "execution of NX-protected page"},
		{"exec_fault", "execution of non-executable memory"},
		{"write_fault", "write to read-only memory"},
	};
	if (!cause)
		return "Oops";
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (!strcmp(cause, texts[i].cause))
			return texts[i].text;
	return cause;
}

static int report_to_event(struct kl_scanner *s, struct kl_report *r, bool partial, struct vigil_event **ret)
{
	const struct kl_header *h = &r->h;
	const char *kname = kl_kind_name(h->kind);
	struct vigil_event *ev = vigil_event_new(kname, kind_severity(r));
	char who[128] = "", at[192] = "", dedup[512];
	const struct kl_frame *top = NULL;
	const char *module = NULL;
	if (!ev)
		return -ENOMEM;

	/* leading frames: reliable ones in order, then the unreliable ones */
	json_object *frames = json_object_new_array();
	for (int pass = 0; pass < 2 && frames; pass++)
		for (unsigned i = 0; i < r->nframes; i++) {
			const struct kl_frame *f = &r->frames[i];
			if (f->reliable != (pass == 0) || noise_frame(f->symbol))
				continue;
			if (json_object_array_length(frames) >= 32)
				break;
			json_object_array_add(frames, frame_json(f));
			if (!top)
				top = f;
			if (!module && f->module[0] && json_object_array_length(frames) <= 8)
				module = f->module;
		}
	if (r->have_ip && r->ip.module[0])
		module = r->ip.module;
	const struct kl_frame *wf =
		r->have_ip && strcmp(r->ip.symbol, "0x0") && !noise_frame(r->ip.symbol) ? &r->ip : top;
	/* sleeping stacks (hung task, RCU stall kthread dumps, scheduling while
	 * atomic): the culprit is the first reliable frame that is not
	 * scheduler/locking plumbing; all plumbing: the outermost plumbing frame */
	if (h->kind == KL_HUNG_TASK || h->kind == KL_RCU_STALL || h->kind == KL_SCHED_ATOMIC) {
		const struct kl_frame *last_wait = NULL, *culprit = NULL;
		/* a trace of '?' frames only (no frame pointers, ≤3.x): use them */
		bool any_reliable = false;
		for (unsigned i = 0; i < r->nframes && !any_reliable; i++)
			any_reliable = r->frames[i].reliable;
		for (unsigned i = 0; i < r->nframes && !culprit; i++) {
			const struct kl_frame *f = &r->frames[i];
			if ((any_reliable && !f->reliable) || noise_frame(f->symbol))
				continue;
			if (kl_wait_frame(f->symbol))
				last_wait = f;
			else
				culprit = f;
		}
		if (culprit || last_wait) {
			wf = culprit ? culprit : last_wait;
			if (wf->module[0]) /* the module of the culprit, not of a wait primitive */
				module = wf->module;
		}
	}
	const char *where = wf ? wf->symbol : NULL;
	const char *wmod = wf && wf->module[0] ? wf->module : NULL;
	if (h->kind == KL_OOM_KILL && !h->cause) {
		/* memcg OOM: 5.x "oom-kill:constraint=CONSTRAINT_MEMCG", or the charge path in the trace */
		bool memcg = r->memcg_hint;
		for (unsigned i = 0; i < r->nframes && !memcg; i++)
			memcg = !strcmp(r->frames[i].symbol, "mem_cgroup_out_of_memory");
		if (memcg)
			r->h.cause = "memcg";
	}

	if (r->comm[0] && r->pid >= 0)
		snprintf(who, sizeof(who), " in %s (pid %" PRId64 ")", r->comm, r->pid);
	else if (r->comm[0])
		snprintf(who, sizeof(who), " in %s", r->comm);
	if (where)
		snprintf(at, sizeof(at), " at %s%s%s%s", where, wmod ? " [" : "", wmod ? wmod : "", wmod ? "]" : "");

	switch (h->kind) {
	case KL_SOFT_LOCKUP:
		vigil_event_set_summary(ev, "soft lockup on CPU#%d for %" PRId64 "s%s%s", r->cpu, h->duration_s, who, at);
		break;
	case KL_HARD_LOCKUP:
		vigil_event_set_summary(ev, "hard lockup on CPU#%d%s%s", r->cpu, who, at);
		break;
	case KL_HUNG_TASK:
		vigil_event_set_summary(ev, "task %s (pid %" PRId64 ") blocked for more than %" PRId64 "s%s", r->comm,
					r->pid, h->duration_s, at);
		break;
	case KL_RCU_STALL:
		if (r->cpu >= 0)
			vigil_event_set_summary(ev, "RCU stall (%s) on CPU#%d%s%s", h->detail, r->cpu, who, at);
		else
			vigil_event_set_summary(ev, "RCU stall (%s)%s%s", h->detail, who, at);
		break;
	case KL_OOPS:
		vigil_event_set_summary(ev, "kernel oops: %s%s%s%s%s%s", cause_text(h->cause),
					h->detail[0] ? " at address " : "", h->detail, at[0] ? " in " : "", at[0] ? at + 4 : "",
					who);
		break;
	case KL_GPF:
		vigil_event_set_summary(ev, "general protection fault%s%s", at, who);
		break;
	case KL_BUG:
		if (h->location[0])
			vigil_event_set_summary(ev, "kernel BUG at %s%s%s", h->location, at, who);
		else if (h->detail[0])
			vigil_event_set_summary(ev, "BUG: %s%s%s", h->detail, at, who);
		else
			vigil_event_set_summary(ev, "kernel BUG (%s)%s%s", h->cause ? h->cause : "bug", at, who);
		break;
	case KL_PANIC:
		vigil_event_set_summary(ev, "kernel panic: %s", h->detail);
		break;
	case KL_WARNING:
		if (h->location[0])
			vigil_event_set_summary(ev, "kernel WARNING at %s%s", h->location, who);
		else
			vigil_event_set_summary(ev, "kernel WARNING: %s%s", h->detail, who);
		break;
	case KL_SCHED_ATOMIC:
		vigil_event_set_summary(ev, "scheduling while atomic%s%s", who, at);
		break;
	case KL_OOM_KILL:
		if (r->oom_done)
			vigil_event_set_summary(ev, "%s killed %s (pid %" PRId64 ")",
						h->cause && !strcmp(h->cause, "memcg") ? "memory cgroup OOM" : "OOM killer",
						r->comm[0] ? r->comm : "?", r->pid);
		else /* the victim line is missing: say who invoked it, not who died */
			vigil_event_set_summary(ev, "%s invoked by %s (pid %" PRId64 "), victim not logged",
						h->cause && !strcmp(h->cause, "memcg") ? "memory cgroup OOM killer" : "OOM killer",
						r->comm[0] ? r->comm : "?", r->pid);
		break;
	case KL_IO_ERROR:
		if (h->pos >= 0)
			vigil_event_set_summary(ev, "I/O error on %s, %s %" PRId64, h->device,
						h->cause && !strcmp(h->cause, "buffer_io_error") ? "block" : "sector", h->pos);
		else
			vigil_event_set_summary(ev, "I/O error on %s", h->device);
		break;
	case KL_IO_TIMEOUT:
		vigil_event_set_summary(ev, "I/O timeout on %s: %s", h->device, h->detail);
		break;
	case KL_VIRTIO_ERROR:
		vigil_event_set_summary(ev, "virtio error on %s: %s", h->device, h->detail);
		break;
	case KL_PCI_HOTPLUG:
		vigil_event_set_summary(ev, "PCIe hotplug slot %s: %s", h->device, h->detail);
		break;
	case KL_NETDEV_TX_TIMEOUT:
		vigil_event_set_summary(ev, "transmit timeout on %s: %s", h->device, h->detail);
		break;
	case KL_FS_ERROR:
		vigil_event_set_summary(ev, "filesystem error on %s: %s", h->device[0] ? h->device : "?", h->detail);
		break;
	case KL_MCE:
		vigil_event_set_summary(ev, "hardware error: %s", h->detail);
		break;
	default:
		break;
	}

	if (r->cpu >= 0)
		vigil_event_set_int(ev, "cpu", r->cpu);
	if (r->comm[0])
		vigil_event_set_str(ev, "comm", r->comm);
	if (r->pid >= 0)
		vigil_event_set_int(ev, "pid", r->pid);
	if (h->duration_s >= 0)
		vigil_event_set_int(ev, "duration_s", h->duration_s);
	if (r->have_ip) {
		vigil_event_set_json(ev, "ip", frame_json(&r->ip));
		json_object *ipo = vigil_event_get(ev, "ip");
		if (ipo)
			json_object_object_del(ipo, "reliable");
	}
	if (r->have_lr) {
		vigil_event_set_json(ev, "lr", frame_json(&r->lr));
		json_object *lro = vigil_event_get(ev, "lr");
		if (lro)
			json_object_object_del(lro, "reliable");
	}
	if (frames && json_object_array_length(frames) > 0)
		vigil_event_set_json(ev, "frames", frames);
	else if (frames)
		json_object_put(frames);
	if (module)
		vigil_event_set_str(ev, "module", module);
	if (r->taint[0])
		vigil_event_set_str(ev, "taint", r->taint);
	if (where)
		vigil_event_set_str(ev, "culprit", where);
	if (h->cause)
		vigil_event_set_str(ev, "cause", h->cause);
	else if (h->kind == KL_OOPS)
		vigil_event_set_str(ev, "cause", "oops");
	if (h->location[0])
		vigil_event_set_str(ev, "location", h->location);
	if (h->kind == KL_OOPS && h->detail[0])
		vigil_event_set_str(ev, "address", h->detail);
	if (h->kind == KL_PANIC)
		vigil_event_set_str(ev, "reason", h->detail);
	else if (h->detail[0] && h->kind != KL_OOPS)
		vigil_event_set_str(ev, "message", h->detail);
	if (h->device[0])
		vigil_event_set_str(ev, "device_name", h->device);
	if (h->pos >= 0)
		vigil_event_set_int(ev, h->kind == KL_IO_ERROR && h->cause && !strcmp(h->cause, "buffer_io_error")
						? "block" : "sector", h->pos);
	const char *release = r->release[0] ? r->release : s->release[0] ? s->release : NULL;
	if (release)
		vigil_event_set_str(ev, "kernel_release", release);
	if (r->hardware[0])
		vigil_event_set_str(ev, "hardware", r->hardware);
	if (r->modules[0])
		vigil_event_set_str(ev, "modules", r->modules);
	if (r->first_ts >= 0)
		vigil_event_set_int(ev, "kernel_ts_usec", r->first_ts);
	if (r->first_seq)
		vigil_event_set_int(ev, "kmsg_seq", (int64_t)r->first_seq);
	if (r->caller[0])
		vigil_event_set_str(ev, "caller", r->caller);
	if (r->truncated_trace || r->dropped)
		vigil_event_set_int(ev, "lines_dropped", r->dropped + (r->nframes_seen - r->nframes));
	vigil_event_set_bool(ev, "partial", partial);
	if (s->boot_realtime && r->first_ts >= 0)
		vigil_event_set_time(ev, s->boot_realtime + (uint64_t)r->first_ts, (uint64_t)r->first_ts);

	if (h->kind == KL_PANIC && s->have_last &&
	    (r->first_ts < 0 || s->last_ts < 0 || r->first_ts - s->last_ts <= 60 * 1000000LL)) {
		json_object *cb = json_object_new_object();
		if (cb) {
			json_object_object_add(cb, "kind", json_object_new_string(s->last_kind));
			json_object_object_add(cb, "summary", json_object_new_string(s->last_summary));
			vigil_event_set_json(ev, "caused_by", cb);
		}
	}

	/* raw report lines */
	for (size_t off = 0; off < r->raw_len;) {
		char *nl = memchr(r->raw + off, '\n', r->raw_len - off);
		size_t e = nl ? (size_t)(nl - r->raw) : r->raw_len;
		r->raw[e] = 0;
		vigil_event_add_raw(ev, r->raw + off);
		r->raw[e] = '\n';
		off = e + 1;
	}

	/* dedup: the identity of the problem, not its instance (no duration, no pid for lockups) */
	const char *frame_id = where ? where : "";
	switch (h->kind) {
	case KL_HUNG_TASK:
	case KL_SOFT_LOCKUP:
	case KL_HARD_LOCKUP:
	case KL_RCU_STALL:
	case KL_SCHED_ATOMIC:
		snprintf(dedup, sizeof(dedup), "%s/%d/%s/%s", kname, r->cpu, r->comm, frame_id);
		break;
	case KL_OOPS:
	case KL_GPF:
	case KL_BUG:
	case KL_WARNING:
		snprintf(dedup, sizeof(dedup), "%s/%s/%s/%s", kname, h->cause ? h->cause : "", h->location, frame_id);
		break;
	case KL_PANIC:
		snprintf(dedup, sizeof(dedup), "panic/%.200s", h->detail);
		break;
	case KL_OOM_KILL:
		snprintf(dedup, sizeof(dedup), "oom_kill/%s/%s", h->cause ? h->cause : "", r->comm);
		break;
	case KL_MCE:
		snprintf(dedup, sizeof(dedup), "mce/%.200s", h->cause ? h->cause : "");
		break;
	default:
		snprintf(dedup, sizeof(dedup), "%s/%s/%s", kname, h->cause ? h->cause : "", h->device);
		break;
	}
	vigil_event_set_dedup_key(ev, dedup);

	if (s->sigs)
		kl_signatures_apply(s->sigs, ev);
	if (h->kind == KL_PANIC && !vigil_event_get(ev, "known_issue") && s->have_last && s->last_known_issue &&
	    vigil_event_get(ev, "caused_by"))
		vigil_event_set_json(ev, "known_issue", json_object_get(s->last_known_issue));

	/* remember for a following panic */
	snprintf(s->last_kind, sizeof(s->last_kind), "%s", kname);
	snprintf(s->last_summary, sizeof(s->last_summary), "%s", vigil_event_summary(ev));
	if (s->last_known_issue)
		json_object_put(s->last_known_issue);
	json_object *ki = vigil_event_get(ev, "known_issue");
	s->last_known_issue = ki ? json_object_get(ki) : NULL;
	s->last_ts = r->last_ts;
	s->have_last = h->kind != KL_PANIC;
	if (h->kind == KL_PANIC)
		snprintf(s->last_panic, sizeof(s->last_panic), "%s", h->detail);
	if (h->kind == KL_MCE) {
		s->mce_uc = h->cause && !strcmp(h->cause, "uncorrected");
		s->mce_uc_ts = r->last_ts;
	}
	if (h->kind == KL_NETDEV_TX_TIMEOUT && !h->cause) {
		/* dev_watchdog() calls the driver's ndo_tx_timeout right after its
		 * message: the driver's own line belongs to this firing */
		s->wd_pending = !r->ndo_seen;
		memcpy(s->wd_dev, h->device, sizeof(s->wd_dev));
		s->wd_ts = r->last_ts;
	}

	*ret = ev;
	return 0;
}

static int deliver(struct kl_scanner *s, struct vigil_event *ev)
{
	s->stats.events++;
	s->emitted++;
	int r = s->cb ? s->cb(ev, s->userdata) : (vigil_event_unref(ev), 0);
	if (r < 0 && s->error == 0)
		s->error = r;
	return r;
}

static int report_close(struct kl_scanner *s, struct kl_report *r, bool cut)
{
	if (!r->open)
		return 0;
	r->open = false;
	s->n_open--;
	if (r->h.kind == KL_CUT_HERE || r->h.kind == KL_NONE)
		return 0; /* "cut here" without a report after it */
	if (r->h.tentative && r->nframes_seen == 0 && r->cpu < 0 && r->pid < 0 && !r->have_ip && !r->modules[0]) {
		/* "WARNING: BIOS bug: CPU MTRRs don't cover all of memory …", "WARNING: The
		 * mand mount option has been deprecated …": a message, not a report */
		s->stats.dismissed++;
		return 0;
	}
	bool partial = report_partial(r, cut);
	struct vigil_event *ev = NULL;
	s->stats.reports++;
	if (partial)
		s->stats.partial++;
	int k = report_to_event(s, r, partial, &ev);
	if (k < 0)
		return k;
	return deliver(s, ev);
}

/* ------------------------------------------------------------------------ */

static struct kl_report *slot_for(struct kl_scanner *s, const struct kl_line *l)
{
	struct kl_report *best = NULL;
	for (size_t i = 0; i < KL_OPEN_MAX; i++) {
		struct kl_report *r = &s->slots[i];
		if (r->open && strcmp(r->caller, l->caller) == 0 && (!best || r->serial > best->serial))
			best = r;
	}
	return best;
}

static struct kl_report *most_recent(struct kl_scanner *s)
{
	struct kl_report *best = NULL;
	for (size_t i = 0; i < KL_OPEN_MAX; i++)
		if (s->slots[i].open && (!best || s->slots[i].serial > best->serial))
			best = &s->slots[i];
	return best;
}

static struct kl_report *oldest(struct kl_scanner *s)
{
	struct kl_report *best = NULL;
	for (size_t i = 0; i < KL_OPEN_MAX; i++)
		if (s->slots[i].open && (!best || s->slots[i].serial < best->serial))
			best = &s->slots[i];
	return best;
}

static void report_append(struct kl_report *r, const struct kl_line *l)
{
	report_add_raw(r, l);
	if (l->ts_usec >= 0)
		r->last_ts = l->ts_usec;
	report_body(r, l->text, l->len);
}

/* Merge a sub-header's fields into the open report. */
static void merge_header(struct kl_report *r, const struct kl_header *h, bool take_kind)
{
	if (take_kind) {
		struct kl_header old = r->h;
		r->h = *h;
		if (!h->cause && old.cause)
			r->h.cause = old.cause;
		if (!h->detail[0] && old.detail[0])
			memcpy(r->h.detail, old.detail, sizeof(old.detail));
		if (!h->location[0] && old.location[0])
			memcpy(r->h.location, old.location, sizeof(old.location));
		if (h->duration_s < 0)
			r->h.duration_s = old.duration_s;
	} else {
		if (!r->h.cause && h->cause)
			r->h.cause = h->cause;
		if (!r->h.device[0] && h->device[0])
			memcpy(r->h.device, h->device, sizeof(h->device));
	}
	if (h->have_ip && !r->have_ip) {
		r->ip = h->ip;
		r->ip.reliable = true;
		r->have_ip = true;
	}
	if (h->cpu >= 0 && r->cpu < 0)
		r->cpu = h->cpu;
	if (h->pid >= 0 && r->pid < 0)
		r->pid = h->pid;
	if (h->comm[0] && !r->comm[0])
		memcpy(r->comm, h->comm, sizeof(r->comm));
}

/* Open a report for h — closing the oldest open one when every slot is
 * taken — and append its first line. */
static int open_report_slot(struct kl_scanner *s, const struct kl_line *l, const struct kl_header *h,
			    struct kl_report **ret)
{
	struct kl_report *r = slot_open(s, l, h);
	if (!r) {
		int k = report_close(s, oldest(s), true);
		if (k < 0)
			return k;
		r = slot_open(s, l, h);
		if (!r)
			return -ENOSPC;
	}
	report_append(r, l);
	*ret = r;
	return 0;
}

/* A report of one line: opened and closed at once. */
static int single_event(struct kl_scanner *s, const struct kl_line *l, const struct kl_header *h)
{
	struct kl_report *r;
	int k = open_report_slot(s, l, h, &r);
	if (k < 0)
		return k;
	if (h->kind == KL_OOM_KILL)
		r->oom_done = true;
	return report_close(s, r, false);
}

static int open_report(struct kl_scanner *s, const struct kl_line *l, const struct kl_header *h)
{
	struct kl_report *r;
	return open_report_slot(s, l, h, &r);
}

static bool is_oopsish(enum kl_kind k) { return k == KL_OOPS || k == KL_GPF || k == KL_BUG; }

/* A line at ts belongs to what was reported at since: within 60 s after it
 * (a blocked handler may print seconds later), or no clock to tell. */
static bool soon_after(int64_t ts, int64_t since)
{
	return ts < 0 || since < 0 || (ts >= since && ts - since <= 60 * 1000000LL);
}

/* A driver's ndo_tx_timeout message (virtio_net "TX timeout on queue: …"). */
static bool ndo_tx_line(const struct kl_header *h)
{
	return h->kind == KL_NETDEV_TX_TIMEOUT && h->cause && !strcmp(h->cause, "ndo_tx_timeout");
}

int kl_scanner_feed(struct kl_scanner *s, const struct kl_line *l)
{
	struct kl_header h;
	int k;

	s->emitted = 0;
	s->error = 0;
	s->stats.lines++;
	if (!l->kernel) {
		s->stats.non_kernel++;
		return 0;
	}
	const char *t = l->text;
	size_t n = l->len;

	/* close reports across a silence or a clock jump back (next boot in the same file) */
	if (s->n_open && l->ts_usec >= 0) {
		for (size_t i = 0; i < KL_OPEN_MAX; i++) {
			struct kl_report *r = &s->slots[i];
			if (r->open && r->last_ts >= 0 &&
			    (l->ts_usec - r->last_ts > GAP_USEC || l->ts_usec + 1000000 < r->last_ts))
				if ((k = report_close(s, r, true)) < 0)
					return k;
		}
	}
	if (n > 14 && t[0] == 'L' && PFX(t, n, "Linux version ")) {
		const char *e = memchr(t + 14, ' ', n - 14);
		kl_copy_text(s->release, sizeof(s->release), t + 14, e ? (size_t)(e - t - 14) : n - 14);
		for (size_t i = 0; i < KL_OPEN_MAX; i++)
			if ((k = report_close(s, &s->slots[i], true)) < 0)
				return k;
		s->have_last = false;
		s->last_panic[0] = 0;
		s->wd_pending = false;
		s->mce_uc = false;
		return s->emitted;
	}

	struct kl_report *r = s->n_open ? slot_for(s, l) : NULL;
	enum kl_kind kind = kl_classify(t, n, &h);

	if (kind == KL_NONE) {
		if (r) {
			size_t cl = strlen(r->comm);
			bool task_line = (r->h.kind == KL_HUNG_TASK && cl && n > cl + 2 && memcmp(t, r->comm, cl) == 0 &&
					  (t[cl] == ' ' || t[cl] == '\t')) ||
					 r->after_task_dump;
			/* the task line names the thread, which may differ from the
			 * task of the header: "bptm            D ffff8817dddf80b0 …" */
			if (!task_line && r->h.kind == KL_HUNG_TASK && r->nframes_seen == 0 && n > 8 &&
			    memmem(t, n < 24 ? n : 24, " D ", 3))
				task_line = true;
			/* the WARN() message: the line after "cut here" (≥4.15), or after an
			 * old "WARNING: at …"/"WARNING: CPU: … at …" line ("list_del corruption. …") */
			if ((r->h.kind == KL_CUT_HERE || r->h.kind == KL_WARNING) && !r->body_seen && !r->warn_msg &&
			    n > 0 && t[0] != ' ' && t[0] != '\t' && !kl_is_body(t, n)) {
				r->warn_msg = true;
				if (!r->h.detail[0])
					kl_copy_text(r->h.detail, sizeof(r->h.detail), t, n);
				report_append(r, l);
				return s->emitted;
			}
			if (r->h.kind == KL_OOM_KILL || task_line || kl_is_body(t, n)) {
				r->body_seen = true;
				r->foreign = 0;
				report_append(r, l);
				if (r->end_marker)
					k = report_close(s, r, false);
				else
					k = 0;
				return k < 0 ? k : s->emitted;
			}
			/* an unrelated line inside the report (another driver's message,
			 * a console status line, the wrapped rest of a pasted line): the
			 * report goes on if a body line follows; a third one in a row
			 * ends it. Not counted as the report's: raw stays the report's. */
			if (!r->end_marker && !r->task_end && r->foreign < FOREIGN_MAX) {
				r->foreign++;
				return s->emitted;
			}
			k = report_close(s, r, false);
			return k < 0 ? k : s->emitted;
		}
		/* another CPU's NMI backtrace for a report opened by a different caller */
		if (l->caller[0] && (r = most_recent(s)) && n > 0 && kl_is_body(t, n) &&
		    (t[0] == ' ' || t[0] == 'C' || t[0] == 'N'))
			report_append(r, l);
		return s->emitted;
	}

	if (r) {
		bool append = false;
		switch (h.role) {
		case KL_ROLE_OOPS_SUB:
			if ((is_oopsish(r->h.kind) || r->h.kind == KL_CUT_HERE) && !r->have_oops_line) {
				append = true;
				r->have_oops_line = true;
				merge_header(r, &h, r->h.kind == KL_CUT_HERE);
			}
			break;
		case KL_ROLE_BUG_SUB:
			if ((r->h.kind == KL_BUG || r->h.kind == KL_CUT_HERE) && !r->have_oops_line) {
				append = true;
				r->have_oops_line = true;
				merge_header(r, &h, r->h.kind == KL_CUT_HERE);
			}
			break;
		case KL_ROLE_REFINE:
			if (r->h.kind == KL_WARNING || r->h.kind == KL_CUT_HERE) {
				append = true;
				r->warn_text_first = r->h.kind == KL_CUT_HERE;
				r->from_warn = true;
				merge_header(r, &h, true);
			}
			break;
		case KL_ROLE_MCE_BODY:
			if (r->h.kind == KL_MCE) {
				append = true;
				if (h.cpu >= 0 && r->cpu < 0)
					r->cpu = h.cpu;
				if (h.severity == VIGIL_SEV_CRITICAL) {
					r->h.severity = VIGIL_SEV_CRITICAL;
					r->h.cause = h.cause;
				}
			}
			break;
		case KL_ROLE_OOM_END:
			if (r->h.kind == KL_OOM_KILL) {
				merge_header(r, &h, false);
				if (h.pid >= 0)
					r->pid = h.pid;
				if (h.comm[0])
					memcpy(r->comm, h.comm, sizeof(r->comm));
				if (h.cause)
					r->h.cause = h.cause;
				r->oom_done = true;
				report_append(r, l);
				k = report_close(s, r, false);
				return k < 0 ? k : s->emitted;
			}
			break;
		case KL_ROLE_START:
			if (r->h.kind == KL_CUT_HERE && h.kind != KL_CUT_HERE) {
				append = true;
				merge_header(r, &h, true);
			} else if (r->h.kind == KL_OOM_KILL && h.kind == KL_OOM_KILL && !r->oom_done) {
				/* ≤4.x "Out of memory: Kill process %d (%s) score …" inside the report */
				append = true;
				if (h.pid >= 0)
					r->pid = h.pid;
				if (h.comm[0])
					memcpy(r->comm, h.comm, sizeof(r->comm));
				if (h.cause)
					r->h.cause = h.cause;
			} else if (h.kind == KL_WARNING && r->h.role == KL_ROLE_REFINE &&
				   (r->warn_text_first || (r->h.kind == KL_NETDEV_TX_TIMEOUT && r->nlines == 1))) {
				/* 4.15+: the WARN text ("NETDEV WATCHDOG: …") is printed before
				 * "WARNING: CPU: …", after "cut here" when the arch prints it */
				append = true;
				r->from_warn = true;
				r->warn_text_first = false;
				merge_header(r, &h, false);
				if (h.have_ip && !r->have_ip) {
					r->ip = h.ip;
					r->have_ip = true;
				}
			} else if (r->h.kind == KL_MCE && h.kind == KL_MCE && r->rec_id[0] && n >= strlen(r->rec_id) &&
				   !memcmp(t, r->rec_id, strlen(r->rec_id))) {
				/* "{359}[Hardware Error]: event severity: …" inside its own record */
				append = true;
				if (h.severity == VIGIL_SEV_CRITICAL) {
					r->h.severity = VIGIL_SEV_CRITICAL;
					r->h.cause = h.cause;
				}
			} else if (r->h.kind == KL_OOPS && h.kind == KL_OOPS && r->h.cause &&
				   !strcmp(r->h.cause, "nx_violation") && !r->have_ip) {
				append = true; /* "kernel tried to execute NX-protected page" + "BUG: unable to handle …" */
			}
			break;
		case KL_ROLE_SINGLE:
			if (ndo_tx_line(&h) && r->h.kind == KL_NETDEV_TX_TIMEOUT && !r->h.cause && !r->ndo_seen &&
			    !strcmp(r->h.device, h.device)) {
				append = true; /* the ndo_tx_timeout of this watchdog firing */
				r->ndo_seen = true;
			}
			break;
		case KL_ROLE_PANIC_END:
			/* the end marker of the open report (a panic's, or the oops it ended) */
			report_append(r, l);
			k = report_close(s, r, false);
			return k < 0 ? k : s->emitted;
		}
		if (append) {
			report_append(r, l);
			return s->emitted;
		}
		if (h.role == KL_ROLE_SINGLE && !r->end_marker) {
			/* a one-line event of another kind inside the report ("sd … task
			 * abort" in a hung task's trace): its own event, the report goes on */
			k = single_event(s, l, &h);
			return k < 0 ? k : s->emitted;
		}
		/* the next report ends this one */
		if ((k = report_close(s, r, true)) < 0)
			return k;
	}

	if (h.role == KL_ROLE_PANIC_END && s->last_panic[0] && strcmp(s->last_panic, h.detail) == 0)
		return s->emitted; /* the end of the panic just reported (a wrapped line closed it early) */
	if (ndo_tx_line(&h) && s->wd_pending && !strcmp(s->wd_dev, h.device) && soon_after(l->ts_usec, s->wd_ts)) {
		/* the driver's line of the watchdog firing just reported (up to
		 * seconds later when the driver's handler was blocked): no new event */
		s->wd_pending = false;
		return s->emitted;
	}
	if (h.kind == KL_MCE && h.role == KL_ROLE_START && s->mce_uc && h.severity != VIGIL_SEV_CRITICAL &&
	    strstr(h.detail, "Machine check events logged") && soon_after(l->ts_usec, s->mce_uc_ts)) {
		/* the header carries no severity: "corrected" is only the default */
		h.severity = VIGIL_SEV_CRITICAL;
		h.cause = "uncorrected";
	}
	if (h.role == KL_ROLE_SINGLE || h.role == KL_ROLE_OOM_END || h.role == KL_ROLE_PANIC_END)
		k = single_event(s, l, &h);
	else
		k = open_report(s, l, &h);
	return k < 0 ? k : s->emitted;
}

int kl_scanner_flush(struct kl_scanner *s)
{
	int k;
	s->emitted = 0;
	for (size_t i = 0; i < KL_OPEN_MAX; i++)
		if ((k = report_close(s, &s->slots[i], true)) < 0)
			return k;
	return s->emitted;
}

/* ------------------------------------------------------------------------
 * Saved logs
 * ------------------------------------------------------------------------ */

static char *scratch(struct kl_scanner *s)
{
	if (!s->scratch)
		s->scratch = malloc(KL_LINE_MAX + 1);
	return s->scratch;
}

/* The line without terminal escapes (dmesg --color, script(1) and tmux
 * captures colour "BUG: " apart from the rest of the header): CSI sequences
 * "ESC [ parameters final-byte" and other ESC pairs are dropped. */
static size_t strip_escapes(char *dst, const char *b, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (b[i] != 0x1b) {
			dst[o++] = b[i];
			continue;
		}
		if (i + 1 < n && b[i + 1] == '[') {
			i += 2;
			while (i < n && !((b[i] >= '@' && b[i] <= '~')))
				i++;
		} else if (i + 1 < n)
			i++;
	}
	return o;
}

/* journalctl's multi-line modes: -o export (fields "KEY=value" from
 * "__CURSOR=" to a blank line), -o verbose (a "… [s=…;i=…]" header, then
 * "    KEY=value"), -o json-pretty ("{", "\t\"KEY\" : value,", "}"). The
 * entry's MESSAGE is fed as one line when the entry ends; _TRANSPORT (or
 * SYSLOG_IDENTIFIER) says whether it is the kernel's. */
static int journal_entry_end(struct kl_scanner *s)
{
	int k = 0;
	if (s->je.mode != JE_NONE && s->je.have_msg) {
		struct kl_line l;
		kl_parse_line(s->je.msg, s->je.ml, &l);
		l.kernel = s->je.transport >= 0 ? s->je.transport == 1 : s->je.ident == 1;
		if (s->je.mono >= 0)
			l.ts_usec = s->je.mono;
		k = kl_scanner_feed(s, &l);
	}
	s->je.mode = JE_NONE;
	return k;
}

static int journal_entry_begin(struct kl_scanner *s, int mode)
{
	int k = journal_entry_end(s);
	if (!s->je.msg && !(s->je.msg = malloc(KL_LINE_MAX)))
		return -ENOMEM;
	s->je.mode = mode;
	s->je.have_msg = false;
	s->je.transport = s->je.ident = -1;
	s->je.mono = -1;
	s->je.ml = 0;
	s->je.lines = 0;
	s->je.binary = false;
	return k;
}

static void journal_field(struct kl_scanner *s, const char *key, size_t kl, const char *v, size_t vn)
{
#define KEY(x) (kl == sizeof(x) - 1 && memcmp(key, x, kl) == 0)
	if (KEY("MESSAGE")) {
		s->je.ml = vn < KL_LINE_MAX ? vn : KL_LINE_MAX;
		memcpy(s->je.msg, v, s->je.ml);
		s->je.have_msg = true;
	} else if (KEY("_TRANSPORT"))
		s->je.transport = vn == 6 && memcmp(v, "kernel", 6) == 0;
	else if (KEY("SYSLOG_IDENTIFIER"))
		s->je.ident = vn == 6 && memcmp(v, "kernel", 6) == 0;
	else if (KEY("_SOURCE_MONOTONIC_TIMESTAMP")) {
		int64_t x = 0;
		size_t i = 0;
		for (; i < vn && i < 18 && v[i] >= '0' && v[i] <= '9'; i++)
			x = x * 10 + (v[i] - '0');
		if (i > 0 && i == vn)
			s->je.mono = x;
	}
#undef KEY
}

/* A field of a JSON entry: an array is the bytes of a value that is not
 * UTF-8 (MESSAGE of a non-UTF-8 line); anything else is read as its text. */
static void journal_json_field(struct kl_scanner *s, const char *key, size_t kl, json_object *v)
{
	if (!json_object_is_type(v, json_type_array)) {
		const char *str = json_object_get_string(v);
		size_t len = json_object_is_type(v, json_type_string) ? (size_t)json_object_get_string_len(v)
			     : str ? strlen(str) : 0;
		journal_field(s, key, kl, str ? str : "", len);
		return;
	}
	char *m = scratch(s);
	size_t ml = 0;
	if (!m)
		return;
	for (size_t i = 0, al = json_object_array_length(v); i < al && ml < KL_LINE_MAX; i++)
		m[ml++] = (char)json_object_get_int(json_object_array_get_idx(v, i));
	journal_field(s, key, kl, m, ml);
}

/* json_tokener_parse_ex() of n bytes: a new object or NULL */
static json_object *parse_json(const char *b, size_t n)
{
	json_tokener *tok = json_tokener_new();
	if (!tok)
		return NULL;
	json_object *o = json_tokener_parse_ex(tok, b, (int)(n < KL_LINE_MAX ? n : KL_LINE_MAX));
	json_tokener_free(tok);
	return o;
}

/* journalctl -o json / json-sse ("data: {…}"): one entry per line, read as
 * the multi-line modes are. *handled is false when the line is no journal
 * entry (an object with MESSAGE): then it is an ordinary line. */
static int feed_journal_json(struct kl_scanner *s, const char *b, size_t n, bool *handled)
{
	json_object *o = parse_json(b, n), *msg;
	*handled = o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "MESSAGE", &msg);
	if (!*handled) {
		json_object_put(o);
		return 0;
	}
	int k = journal_entry_begin(s, JE_LINE);
	if (k >= 0) {
		json_object_object_foreach(o, key, val) journal_json_field(s, key, strlen(key), val);
	}
	json_object_put(o);
	if (k < 0)
		return k;
	int k2 = journal_entry_end(s);
	return k2 < 0 ? k2 : k + k2;
}

/* The length of the "KEY" (A-Z, 0-9, _) at b */
static size_t key_len(const char *b, size_t n)
{
	size_t i = 0;
	while (i < n && i < 64 && ((b[i] >= 'A' && b[i] <= 'Z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '_'))
		i++;
	return i;
}

/* "KEY=" at b: the key's length, 0 when b is no field line */
static size_t field_key(const char *b, size_t n)
{
	size_t i = key_len(b, n);
	return i > 0 && i < n && b[i] == '=' && !(b[0] >= '0' && b[0] <= '9') ? i : 0;
}

/* 1: the line belongs to journal output and is consumed; 0: an ordinary
 * line (an open entry ended first); <0: error. *emitted: events fed. */
static int journal_line(struct kl_scanner *s, const char *b, size_t n, int *emitted)
{
	int k;
	*emitted = 0;
	while (n > 0 && (b[n - 1] == '\r' || b[n - 1] == '\n'))
		n--;
	size_t ind = 0;
	while (ind < n && (b[ind] == ' ' || b[ind] == '\t'))
		ind++;
	const char *t = b + ind;
	size_t tn = n - ind;
	if (tn == 1 && t[0] == '{' && ind == 0) {
		if ((k = journal_entry_begin(s, JE_PRETTY)) < 0)
			return k;
		*emitted = k;
		return 1;
	}
	if (s->je.mode == JE_PRETTY) {
		if (tn >= 1 && tn <= 2 && t[0] == '}' && ind == 0) {
			if ((k = journal_entry_end(s)) < 0)
				return k;
			*emitted = k;
			return 1;
		}
		/* "\t\"KEY\" : value," */
		const char *q = tn > 2 && t[0] == '"' ? memchr(t + 1, '"', tn - 1) : NULL;
		if (q && t + tn - q > 4 && memcmp(q, "\" : ", 4) == 0) {
			const char *v = q + 4;
			size_t vn = (size_t)(t + tn - v);
			if (vn && v[vn - 1] == ',')
				vn--;
			json_object *o = parse_json(v, vn);
			if (o)
				journal_json_field(s, t + 1, (size_t)(q - t - 1), o);
			json_object_put(o);
			return 1;
		}
		/* not journal output after all (a lone "{" in a log): the line is an
		 * ordinary one */
		if ((k = journal_entry_end(s)) < 0)
			return k;
		*emitted = k;
		return 0;
	}
	size_t kl = field_key(t, tn);
	if (s->je.mode != JE_NONE && ++s->je.lines > 1024) {
		/* no entry is that long: not journal output */
		if ((k = journal_entry_end(s)) < 0)
			return k;
		*emitted = k;
		return 0;
	}
	if (s->je.mode == JE_EXPORT) {
		if (n == 0) {
			if ((k = journal_entry_end(s)) < 0)
				return k;
			*emitted = k;
			return 1;
		}
		if (kl && ind == 0) {
			s->je.binary = false;
			journal_field(s, t, kl, t + kl + 1, tn - kl - 1);
			return 1;
		}
		if (s->je.binary)
			return 1; /* the length and data of a binary field, up to the next field */
		if (ind == 0 && key_len(t, tn) == tn) {
			s->je.binary = true; /* "KEY" alone: a binary field follows */
			return 1;
		}
		/* anything else: not an export stream after all */
		if ((k = journal_entry_end(s)) < 0)
			return k;
		*emitted = k;
		return 0;
	}
	if (s->je.mode == JE_VERBOSE && kl && ind >= 4) {
		journal_field(s, t, kl, t + kl + 1, tn - kl - 1);
		return 1;
	}
	if (ind == 0 && kl == 8 && memcmp(t, "__CURSOR", 8) == 0) {
		if ((k = journal_entry_begin(s, JE_EXPORT)) < 0)
			return k;
		*emitted = k;
		return 1;
	}
	if (ind == 0 && tn > 30 && t[0] != '[' && t[tn - 1] == ']' && memmem(t, tn, " [s=", 4) && memmem(t, tn, ";i=", 3)) {
		/* (never a "[ ts] …" line: those are kernel lines, and the replay fast
		 * path reads them without asking this) */
		/* verbose entry header "Sat 2026-11-28 12:47:44.433736 UTC [s=…;i=…;b=…;m=…;t=…;x=…]" */
		if ((k = journal_entry_begin(s, JE_VERBOSE)) < 0)
			return k;
		*emitted = k;
		return 1;
	}
	if (s->je.mode != JE_NONE) {
		if ((k = journal_entry_end(s)) < 0)
			return k;
		*emitted = k;
	}
	return 0;
}

static int feed_one(struct kl_scanner *s, const char *b, size_t n)
{
	struct kl_line l;
	int em = 0, k;
	if (s->je.mode != JE_NONE || (n > 0 && (b[0] == '{' || b[0] == '_' || (n > 30 && b[0] != '[' && b[n - 1] == ']')))) {
		if ((k = journal_line(s, b, n, &em)) < 0)
			return k;
		if (k == 1)
			return em;
	}
	if (n > 2 && (b[0] == '{' || (b[0] == 'd' && n > 7 && memcmp(b, "data: {", 7) == 0))) {
		bool handled;
		k = feed_journal_json(s, b[0] == '{' ? b : b + 6, b[0] == '{' ? n : n - 6, &handled);
		if (k < 0 || handled)
			return k < 0 ? k : em + k;
	}
	if (n > 0 && memchr(b, 0x1b, n)) {
		char *buf = scratch(s);
		if (!buf)
			return -ENOMEM;
		n = strip_escapes(buf, b, n < KL_LINE_MAX ? n : KL_LINE_MAX);
		b = buf;
	}
	kl_parse_line(b, n, &l);
	k = kl_scanner_feed(s, &l);
	return k < 0 ? k : em + k;
}

/* A syslog stamp + host + " kernel: " starting at c? */
static bool joined_boundary(const char *start, const char *c, const char *end)
{
	(void)start;
	const char *h = kl_syslog_stamp_end(c, end);
	if (!h)
		return false;
	const char *sp = memchr(h, ' ', (size_t)(end - h) < 256 ? (size_t)(end - h) : 256);
	return sp && end - sp > 8 && memcmp(sp, " kernel:", 8) == 0;
}

int kl_scanner_feed_text(struct kl_scanner *s, const char *buf, size_t len)
{
	int total = 0, k;
	if (len > KL_LINE_MAX) {
		s->stats.truncated_lines++;
		len = KL_LINE_MAX;
	}
	/* joined syslog paste: "Mon DD HH:MM:SS host kernel: a Mon DD HH:MM:SS host kernel: b" */
	if (len > 40 && buf[0] >= 'A' && buf[0] <= 'S' && kl_syslog_stamp_end(buf, buf + len)) {
		const char *end = buf + len, *seg = buf, *p = buf + 16;
		while (p < end) {
			/* " kernel: " found by its colon: colons are rarer than any
			 * letter and memchr() is much cheaper than memmem() here */
			const char *kw = NULL;
			for (const char *c = p; c < end; c++) {
				c = memchr(c, ':', (size_t)(end - c));
				if (!c)
					break;
				if (c - p >= 7 && end - c >= 2 && c[1] == ' ' && memcmp(c - 7, " kernel", 7) == 0) {
					kw = c - 7;
					break;
				}
			}
			if (!kw)
				break;
			/* back over the host and the 15-char stamp (+ optional fraction not supported here) */
			const char *hs = kw;
			while (hs > seg && hs[-1] != ' ')
				hs--;
			const char *c = hs - 16;
			if (c > seg && c[-1] == ' ' && joined_boundary(seg, c, end)) {
				if ((k = feed_one(s, seg, (size_t)(c - 1 - seg))) < 0)
					return k;
				total += k;
				seg = c;
			}
			p = kw + 9;
		}
		k = feed_one(s, seg, (size_t)(end - seg));
		return k < 0 ? k : total + k;
	}
	k = feed_one(s, buf, len);
	return k;
}

/* The message text of a plain dmesg line "[%5lu.%06lu] msg", with the same
 * stamp parser as kl_parse_line(); NULL for any other shape, a caller id
 * ("[T123]"/"[ C2]") included: the full parser handles those. */
static const char *dmesg_text_fast(const char *p, const char *end)
{
	const char *s = kl_dmesg_stamp_end(p, end, NULL);
	if (!s || (s < end && (*s == '[' || *s == '<')))
		return NULL; /* caller id, crash's "log -m" level: the full parser */
	return s;
}

/* Feed one saved-log line. Fast path for the common case: no report is open
 * and the line is a plain dmesg line whose message is no report header (no
 * event, no state change, only counted): classified without parsing the
 * timestamp or building a struct kl_line. Anything else takes the full path.
 * kl_classify() stays the one authority on what is a header. */
static int feed_line(struct kl_scanner *s, const char *b, size_t n)
{
	if (s->n_open == 0 && s->je.mode == JE_NONE && n > 4 && b[0] == '[' && n <= KL_LINE_MAX) {
		const char *end = b + n;
		const char *t = dmesg_text_fast(b, end);
		if (t) {
			while (end > t && (end[-1] == '\r' || end[-1] == '\n'))
				end--;
			size_t tn = (size_t)(end - t);
			struct kl_header h;
			/* "Linux version" (new boot) and journalctl short-monotonic
			 * "[ ts] host kernel: msg" need the full path */
			const char *sp = tn > 9 ? memchr(t, ' ', tn < 80 ? tn : 80) : NULL;
			if (!(tn > 14 && t[0] == 'L' && t[1] == 'i') &&
			    !(sp && end - sp > 8 && memcmp(sp, " kernel: ", 9) == 0) && kl_classify(t, tn, &h) == KL_NONE &&
			    !memchr(t, 0x1b, tn)) { /* terminal escapes: the full path drops them first */
				s->stats.lines++;
				return 0;
			}
		}
	}
	return kl_scanner_feed_text(s, b, n);
}

int kl_scanner_feed_chunk(struct kl_scanner *s, const char *buf, size_t len)
{
	int total = 0, k;
	const char *p = buf, *end = buf + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl) {
			/* keep the tail for the next call */
			size_t tl = (size_t)(end - p);
			if (s->pending_skip)
				return total;
			if (s->pending_len + tl > KL_LINE_MAX) {
				tl = KL_LINE_MAX - s->pending_len;
				s->pending_skip = true;
			}
			if (!s->pending) {
				s->pending = malloc(KL_LINE_MAX);
				if (!s->pending)
					return -ENOMEM;
			}
			memcpy(s->pending + s->pending_len, p, tl);
			s->pending_len += tl;
			return total;
		}
		if (s->pending_len || s->pending_skip) {
			size_t tl = (size_t)(nl - p);
			if (!s->pending_skip) {
				if (s->pending_len + tl > KL_LINE_MAX)
					tl = KL_LINE_MAX - s->pending_len;
				memcpy(s->pending + s->pending_len, p, tl);
				s->pending_len += tl;
			} else
				s->stats.truncated_lines++;
			k = kl_scanner_feed_text(s, s->pending, s->pending_len);
			s->pending_len = 0;
			s->pending_skip = false;
		} else
			k = feed_line(s, p, (size_t)(nl - p));
		if (k < 0)
			return k;
		total += k;
		p = nl + 1;
	}
	return total;
}

int kl_scanner_finish(struct kl_scanner *s)
{
	int total = 0, k;
	if (s->pending_len) {
		k = kl_scanner_feed_text(s, s->pending, s->pending_len);
		s->pending_len = 0;
		s->pending_skip = false;
		if (k < 0)
			return k;
		total += k;
	}
	if ((k = journal_entry_end(s)) < 0)
		return k;
	total += k;
	k = kl_scanner_flush(s);
	return k < 0 ? k : total + k;
}

int kl_scan_buffer(const char *buf, size_t len, const struct kl_signatures *sigs,
		   int (*cb)(struct vigil_event *ev, void *userdata), void *userdata)
{
	struct kl_scanner *s;
	int k = kl_scanner_new(sigs, cb, userdata, &s);
	if (k < 0)
		return k;
	k = kl_scanner_feed_chunk(s, buf, len);
	if (k >= 0)
		k = kl_scanner_finish(s);
	int n = (int)s->stats.events;
	kl_scanner_free(s);
	return k < 0 ? k : n;
}

uint64_t kl_kernel_version(const char *release)
{
	uint64_t v[3] = {0, 0, 0};
	const char *p = release;
	if (!p)
		return 0;
	for (int i = 0; i < 3; i++) {
		if (*p < '0' || *p > '9')
			break;
		while (*p >= '0' && *p <= '9') {
			if (v[i] < 100000)
				v[i] = v[i] * 10 + (uint64_t)(*p - '0');
			p++;
		}
		if (*p != '.')
			break;
		p++;
	}
	if (!v[0])
		return 0;
	return v[0] << 32 | (v[1] & 0xffff) << 16 | (v[2] & 0xffff);
}
