/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kernlog classifier: recognises the header line of each class of kernel
 * report in every wording from 2.6 to 6.x (x86_64 and arm64), extracts the
 * fields the header carries, and tells report-body lines (registers, call
 * traces, markers) from ordinary messages. Format strings are those of
 * kernel/watchdog.c, kernel/hung_task.c, kernel/rcu/tree_stall.h,
 * arch/x86/mm/fault.c, arch/x86/kernel/dumpstack.c, arch/arm64/mm/fault.c,
 * arch/arm64/kernel/traps.c, lib/bug.c, kernel/panic.c, mm/oom_kill.c,
 * block/blk-core.c, fs/buffer.c, net/sched/sch_generic.c,
 * drivers/virtio/virtio_ring.c and drivers/pci/hotplug/pciehp_*.c.
 *
 * The matching is anchored: a marker counts only at the start of the
 * message or right after a known prefix ("watchdog: ", "rcu: ", a device
 * name "nvme nvme0: "), never anywhere in free text, so a benign message
 * that merely mentions "soft lockup" does not become an event.
 */
#include "kernlog/internal.h"

#include <string.h>

static inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
static inline bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

#define LIT(s) (s), (sizeof(s) - 1)

static inline bool has_prefix(const char *t, size_t n, const char *p, size_t pl)
{
	return n >= pl && memcmp(t, p, pl) == 0;
}
#define PFX(t, n, s) has_prefix((t), (n), LIT(s))

static const char *find(const char *t, size_t n, const char *needle, size_t nl)
{
	return n >= nl ? memmem(t, n, needle, nl) : NULL;
}
#define FIND(t, n, s) find((t), (n), LIT(s))

static const char *const kind_names[_KL_KIND_MAX] = {
	[KL_NONE] = "none",
	[KL_CUT_HERE] = "warning",
	[KL_HUNG_TASK] = "hung_task",
	[KL_SOFT_LOCKUP] = "soft_lockup",
	[KL_HARD_LOCKUP] = "hard_lockup",
	[KL_RCU_STALL] = "rcu_stall",
	[KL_OOPS] = "oops",
	[KL_GPF] = "gpf",
	[KL_BUG] = "bug",
	[KL_PANIC] = "panic",
	[KL_WARNING] = "warning",
	[KL_SCHED_ATOMIC] = "sched_atomic",
	[KL_OOM_KILL] = "oom_kill",
	[KL_IO_ERROR] = "io_error",
	[KL_IO_TIMEOUT] = "io_timeout",
	[KL_VIRTIO_ERROR] = "virtio_error",
	[KL_PCI_HOTPLUG] = "pci_hotplug",
	[KL_NETDEV_TX_TIMEOUT] = "netdev_tx_timeout",
	[KL_FS_ERROR] = "fs_error",
	[KL_MCE] = "mce",
};

const char *kl_kind_name(enum kl_kind k)
{
	return (unsigned)k < _KL_KIND_MAX ? kind_names[k] : "none";
}

/* Does t contain one of the words (NULL-terminated list)? One pass over t
 * with a first-byte table instead of one memmem() per word: these checks run
 * on ordinary driver messages (virtio, sd, ext4, xfs …) and must be cheap. */
static bool contains_any(const char *t, size_t n, const char *const *w)
{
	uint8_t first[256] = {0};
	size_t len[16];
	size_t nw = 0;
	for (; w[nw] && nw < 16; nw++) {
		first[(uint8_t)w[nw][0]] = 1;
		len[nw] = strlen(w[nw]);
	}
	for (size_t i = 0; i < n; i++) {
		if (!first[(uint8_t)t[i]])
			continue;
		for (size_t k = 0; k < nw; k++)
			if (w[k][0] == t[i] && n - i >= len[k] && memcmp(t + i, w[k], len[k]) == 0)
				return true;
	}
	return false;
}
#define ANY(t, n, ...) contains_any((t), (n), (const char *const[]){__VA_ARGS__, NULL})

/* Bounded copy of n bytes of s, NUL-terminated, trailing blanks trimmed
 * (shared with report.c through internal.h). */
void kl_copy_text(char *dst, size_t size, const char *s, size_t n)
{
	if (n >= size)
		n = size - 1;
	memcpy(dst, s, n);
	dst[n] = 0;
	while (n > 0 && (dst[n - 1] == ' ' || dst[n - 1] == '\t'))
		dst[--n] = 0;
}

/* Parse a decimal at s (bounded by end) into *ret; returns position after. */
static const char *num(const char *s, const char *end, int64_t *ret)
{
	int64_t v = 0;
	const char *b = s;
	while (s < end && is_digit(*s) && v < (INT64_MAX / 10 - 10))
		v = v * 10 + (*s++ - '0');
	if (s == b)
		return NULL;
	*ret = v;
	return s;
}

/* "comm:pid" ending at end (comm may contain ':' and spaces). */
static void comm_pid(const char *s, const char *end, struct kl_header *h)
{
	const char *c = end;
	while (c > s && is_digit(c[-1]))
		c--;
	if (c == end || c == s || c[-1] != ':')
		return;
	int64_t pid;
	if (!num(c, end, &pid))
		return;
	h->pid = pid;
	kl_copy_text(h->comm, sizeof(h->comm), s, (size_t)(c - 1 - s));
}

bool kl_comm_slash_pid(const char *s, const char *end, char *comm, size_t size, int64_t *pid)
{
	const char *c = end;
	while (c > s && is_digit(c[-1]))
		c--;
	if (c == end || c - 1 <= s || c[-1] != '/' || !num(c, end, pid))
		return false;
	kl_copy_text(comm, size, s, (size_t)(c - 1 - s));
	return true;
}

static void comm_slash_pid(const char *s, const char *end, struct kl_header *h)
{
	int64_t pid;
	if (kl_comm_slash_pid(s, end, h->comm, sizeof(h->comm), &pid))
		h->pid = pid;
}

static enum kl_kind set(struct kl_header *h, enum kl_kind k, enum kl_role r, const char *cause)
{
	h->kind = k;
	h->role = r;
	h->cause = cause;
	return k;
}

/* "BUG: soft lockup - CPU#3 stuck for 22s! [comm:pid]" (2.6.25+), and
 * "BUG: soft lockup detected on CPU#3!" (≤2.6.24). t points after "BUG: ". */
static enum kl_kind soft_lockup(const char *t, size_t n, struct kl_header *h)
{
	const char *end = t + n, *s;
	int64_t v;
	if (PFX(t, n, "soft lockup - CPU#"))
		s = t + 18;
	else if (PFX(t, n, "soft lockup detected on CPU#"))
		s = t + 28;
	else
		return KL_NONE;
	if (!(s = num(s, end, &v)))
		return KL_NONE;
	h->cpu = (int)v;
	if (end - s > 11 && memcmp(s, " stuck for ", 11) == 0) {
		const char *d = num(s + 11, end, &v);
		if (d)
			h->duration_s = v;
	}
	const char *lb = memchr(s, '[', (size_t)(end - s));
	if (lb) {
		const char *rb = memchr(lb, ']', (size_t)(end - lb));
		if (rb)
			comm_pid(lb + 1, rb, h);
	}
	return set(h, KL_SOFT_LOCKUP, KL_ROLE_START, NULL);
}

/* "Watchdog detected hard LOCKUP on cpu 3" */
static enum kl_kind hard_lockup(const char *t, size_t n, struct kl_header *h, enum kl_role role)
{
	const char *end = t + n;
	int64_t v;
	if (!PFX(t, n, "Watchdog detected hard LOCKUP on cpu "))
		return KL_NONE;
	if (num(t + 37, end, &v))
		h->cpu = (int)v;
	return set(h, KL_HARD_LOCKUP, role, NULL);
}

static enum kl_kind x86_fault(const char *t, size_t n, struct kl_header *h, size_t skip, const char *cause)
{
	if (n > skip) {
		/* " at %p" (<5.0), ", address: %px", " for address: %px" (≥5.0) */
		const char *a = t + skip, *end = t + n;
		while (a < end && (*a == ' ' || *a == ','))
			a++;
		if (end - a > 3 && memcmp(a, "at ", 3) == 0)
			a += 3;
		else if (end - a > 9 && memcmp(a, "address: ", 9) == 0)
			a += 9;
		else if (end - a > 13 && memcmp(a, "for address: ", 13) == 0)
			a += 13;
		kl_copy_text(h->detail, sizeof(h->detail), a, (size_t)(end - a));
	}
	return set(h, KL_OOPS, KL_ROLE_START, cause);
}

/* After "BUG: " */
static enum kl_kind bug_colon(const char *t, size_t n, struct kl_header *h)
{
	const char *end = t + n;
	if (n > 0 && t[0] == 's') {
		if (soft_lockup(t, n, h))
			return h->kind;
		if (PFX(t, n, "scheduling while atomic:")) {
			/* "%s/%d/0x%08x" (space after ':' missing in some 2.6 copies) */
			const char *s = t + 24;
			while (s < end && *s == ' ')
				s++;
			const char *slash2 = NULL, *p;
			for (p = end; p > s; p--)
				if (p[-1] == '/') {
					slash2 = p - 1;
					break;
				}
			if (slash2) {
				const char *slash1 = NULL;
				for (p = slash2; p > s; p--)
					if (p[-1] == '/') {
						slash1 = p - 1;
						break;
					}
				int64_t pid;
				if (slash1 && num(slash1 + 1, slash2, &pid) == slash2) {
					h->pid = pid;
					kl_copy_text(h->comm, sizeof(h->comm), s, (size_t)(slash1 - s));
				}
			}
			return set(h, KL_SCHED_ATOMIC, KL_ROLE_START, NULL);
		}
	}
	if (PFX(t, n, "unable to handle kernel NULL pointer dereference"))
		return x86_fault(t, n, h, 48, "null_deref");
	if (PFX(t, n, "kernel NULL pointer dereference"))
		return x86_fault(t, n, h, 31, "null_deref");
	if (PFX(t, n, "unable to handle kernel paging request"))
		return x86_fault(t, n, h, 38, "paging_request");
	if (PFX(t, n, "unable to handle page fault for address"))
		return x86_fault(t, n, h, 27, "page_fault");
	if (PFX(t, n, "unable to handle kernel "))
		return x86_fault(t, n, h, 24, "page_fault");
	if (n > 0) {
		/* every other "BUG: <what>" report (lib/bug.c users, debug checks:
		 * KASAN, Bad page state, sleeping function called…, workqueue lockup) */
		kl_copy_text(h->detail, sizeof(h->detail), t, n);
		int64_t v;
		const char *c;
		if (PFX(t, n, "spinlock ") && (c = FIND(t, n, " on CPU#")) && (c = num(c + 8, end, &v))) {
			/* "BUG: spinlock lockup suspected on CPU#%d, %s/%d" (and recursion, wrong CPU, bad magic) */
			h->cpu = (int)v;
			if (end - c > 2 && c[0] == ',' && c[1] == ' ')
				comm_slash_pid(c + 2, end, h);
		} else if (PFX(t, n, "using smp_processor_id() in preemptible") ||
			   PFX(t, n, "using __this_cpu_") || PFX(t, n, "workqueue lockup")) {
			/* "… [%08x] code: %s/%d"; "workqueue lockup - pool cpus=0 … stuck for %us!" */
			if ((c = FIND(t, n, " code: ")))
				comm_slash_pid(c + 7, end, h);
			if ((c = FIND(t, n, " stuck for ")) && num(c + 11, end, &v))
				h->duration_s = v;
		}
		return set(h, KL_BUG, KL_ROLE_START, NULL);
	}
	return KL_NONE;
}

/* x86 die header "%s: %04lx [#%d]…" (and 6.10+ "Oops: %s: …"). */
static bool die_header(const char *t, size_t n)
{
	const char *lb = FIND(t, n, " [#");
	return lb && lb - t >= 5;
}

/* "INFO: task comm:pid blocked for more than N seconds." */
static enum kl_kind hung_task(const char *t, size_t n, struct kl_header *h)
{
	const char *end = t + n;
	const char *b = FIND(t, n, " blocked for more than ");
	if (!b)
		return KL_NONE;
	comm_pid(t, b, h);
	int64_t v;
	if (num(b + 23, end, &v))
		h->duration_s = v;
	return set(h, KL_HUNG_TASK, KL_ROLE_START, NULL);
}

/* After "INFO: " */
static enum kl_kind info_colon(const char *t, size_t n, struct kl_header *h)
{
	if (PFX(t, n, "task "))
		return hung_task(t + 5, n - 5, h);
	/* "INFO: rcu_sched self-detected stall on CPU", "…detected stalls on CPUs/tasks:",
	 * "…detected expedited stalls", "INFO: rcu_tasks detected stalls on tasks:",
	 * 2.6.3x "INFO: rcu_sched_state detected stall on CPU 0", "INFO: RCU detected CPU 1 stall" */
	if ((PFX(t, n, "rcu") || PFX(t, n, "RCU") || PFX(t, n, "srcu")) && FIND(t, n, " stall")) {
		const char *end = t + n;
		const char *br = memchr(t, '{', n);
		int64_t v;
		if (br) {
			const char *s = br + 1;
			while (s < end && *s == ' ')
				s++;
			if (num(s, end, &v))
				h->cpu = (int)v;
		} else {
			const char *on = FIND(t, n, "stall on CPU ");
			if (on && num(on + 13, end, &v))
				h->cpu = (int)v;
		}
		const char *sp = memchr(t, ' ', n);
		kl_copy_text(h->detail, sizeof(h->detail), t, sp ? (size_t)(sp - t) : n); /* flavour */
		/* 2.6.3x printed a CPU's own stall as "%s detected stall on CPU %d" (renamed
		 * "self-detected" in 3.x); others' stalls are "detected stalls on CPUs" */
		bool self = FIND(t, n, "self-detected") || FIND(t, n, " detected stall on CPU");
		return set(h, KL_RCU_STALL, KL_ROLE_START, self ? "self_detected" : "detected");
	}
	return KL_NONE;
}

/* After "WARNING: ": 4.x+ "CPU: %d PID: %d at %pS", ≤3.x "at %s:%d %pS()",
 * lockdep "possible circular locking dependency detected", 6.x variants. */
static enum kl_kind warning_colon(const char *t, size_t n, struct kl_header *h)
{
	const char *end = t + n;
	int64_t v;
	const char *s;
	if (PFX(t, n, "CPU: ") && (s = num(t + 5, end, &v))) {
		h->cpu = (int)v;
		const char *p = FIND(s, (size_t)(end - s), "PID: ");
		if (p && num(p + 5, end, &v))
			h->pid = v;
		const char *at = FIND(s, (size_t)(end - s), " at ");
		if (at) {
			kl_copy_text(h->location, sizeof(h->location), at + 4, (size_t)(end - at - 4));
			const char *sp = memchr(at + 4, ' ', (size_t)(end - at - 4));
			if (sp)
				h->have_ip = kl_parse_symbol(sp + 1, (size_t)(end - sp - 1), &h->ip);
		}
	} else if (PFX(t, n, "at ")) {
		kl_copy_text(h->location, sizeof(h->location), t + 3, n - 3);
		const char *sp = memchr(t + 3, ' ', n - 3);
		if (sp)
			h->have_ip = kl_parse_symbol(sp + 1, (size_t)(end - sp - 1), &h->ip);
	} else {
		/* lockdep and other debug checks ("possible circular locking dependency
		 * detected", "suspicious RCU usage") — but also plain messages that
		 * start with "WARNING: " (BIOS/MTRR notices, deprecated mount options):
		 * a report only if a stack or task follows (report.c) */
		kl_copy_text(h->detail, sizeof(h->detail), t, n);
		const char *c = FIND(t, n, "CPU#");
		if (c && num(c + 4, end, &v))
			h->cpu = (int)v;
		h->tentative = true;
	}
	return set(h, KL_WARNING, KL_ROLE_START, NULL);
}

/* "Kernel panic - not syncing: reason" */
static enum kl_kind panic_line(const char *t, size_t n, struct kl_header *h)
{
	if (!PFX(t, n, "Kernel panic - not syncing"))
		return KL_NONE;
	const char *r = t + 26;
	const char *end = t + n;
	if (r < end && *r == ':')
		r++;
	while (r < end && *r == ' ')
		r++;
	kl_copy_text(h->detail, sizeof(h->detail), r, (size_t)(end - r));
	return set(h, KL_PANIC, KL_ROLE_START, NULL);
}

/* "Killed process %d (%s) total-vm:…" / "Kill process %d (%s) score…" */
static enum kl_kind oom_killed(const char *t, size_t n, struct kl_header *h, const char *cause, enum kl_role role)
{
	const char *end = t + n;
	int64_t v;
	const char *s = num(t, end, &v);
	if (!s)
		return KL_NONE;
	h->pid = v;
	if (end - s > 8 && s[0] == ',' && memcmp(s, ", UID ", 6) == 0) {
		/* RHEL6 2.6.32: "Killed process %d, UID %d, (%s) total-vm:…" */
		const char *lp = memchr(s, '(', (size_t)(end - s) < 32 ? (size_t)(end - s) : 32);
		if (lp)
			s = lp - 1;
	}
	if (end - s > 2 && s[0] == ' ' && s[1] == '(') {
		const char *c = s + 2;
		const char *e = NULL;
		for (const char *p = end; p > c; p--)
			if (p[-1] == ')') {
				e = p - 1;
				break;
			}
		/* the comm is followed by ") total-vm" or ") score" */
		const char *tv = FIND(c, (size_t)(end - c), ") total-vm");
		if (!tv)
			tv = FIND(c, (size_t)(end - c), ") score");
		if (tv)
			e = tv;
		if (e)
			kl_copy_text(h->comm, sizeof(h->comm), c, (size_t)(e - c));
	}
	return set(h, KL_OOM_KILL, role, cause);
}

/* CD-ROM / floppy: an empty drive probed at boot logs I/O errors that say
 * nothing about the VM's storage; loop devices: snapd and image probes read
 * past the end of their backing files at every boot (a failing disk under a
 * loop file reports its own errors). Kept as info events. */
static const char *quiet_blockdev(const char *dev)
{
	if ((dev[0] == 's' && dev[1] == 'r' && dev[2] >= '0' && dev[2] <= '9') ||
	    (dev[0] == 'f' && dev[1] == 'd' && dev[2] >= '0' && dev[2] <= '9'))
		return "removable_media";
	if (dev[0] == 'l' && dev[1] == 'o' && dev[2] == 'o' && dev[3] == 'p' && dev[4] >= '0' && dev[4] <= '9')
		return "loop_device";
	return NULL;
}

/* blk_status_to_str() text at the start of the message → cause */
static const char *blk_status_cause(const char *t, size_t n)
{
	static const struct {
		const char *text, *cause;
	} st[] = {
		{"I/O error", "io_error"},
		{"critical target error", "target_error"},
		{"critical medium error", "medium_error"},
		{"critical nexus error", "nexus_error"},
		{"critical space allocation error", "space_error"},
		{"critical protection error", "protection_error"},
		{"recoverable transport error", "transport_error"},
		{"timeout", "timeout"},
		{"operation not supported error", "not_supported"},
		{"device offline", "device_offline"},
		{"reservation conflict", "reservation_conflict"},
		{"protection", "protection_error"},
		{"kernel resource", "resource"},
		{"device resource", "resource"},
		{"duration limit exceeded", "timeout"},
	};
	for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++)
		if (has_prefix(t, n, st[i].text, strlen(st[i].text)))
			return st[i].cause;
	return "io_error";
}

/* "… error, dev sda, sector 1234 …" (blk-core, all versions) */
static enum kl_kind blk_error(const char *t, size_t n, struct kl_header *h)
{
	const char *end = t + n;
	const char *d = FIND(t, n, " error, dev ");
	if (!d)
		return KL_NONE;
	const char *s = d + 12, *e = s;
	while (e < end && *e != ',' && *e != ' ')
		e++;
	kl_copy_text(h->device, sizeof(h->device), s, (size_t)(e - s));
	const char *sec = FIND(e, (size_t)(end - e), "sector ");
	int64_t v;
	if (sec && num(sec + 7, end, &v))
		h->pos = v;
	kl_copy_text(h->detail, sizeof(h->detail), t, n);
	const char *quiet = quiet_blockdev(h->device);
	if (quiet) {
		h->severity = VIGIL_SEV_INFO;
		return set(h, KL_IO_ERROR, KL_ROLE_SINGLE, quiet);
	}
	return set(h, KL_IO_ERROR, KL_ROLE_SINGLE, blk_status_cause(t, n));
}

/* 5.x+ blk_print_req_error() without a function prefix:
 * "<blk_status_to_str()> error, dev sda, sector …" for the status texts other
 * than "I/O" and "critical …" (those have their own first-byte rules). Only
 * the exact status texts of block/blk-core.c (4.13–6.x), each checked only
 * when its first byte matches: no search over an ordinary line. */
static bool blk_status_line(const char *t, size_t n)
{
#define ST(x) PFX(t, n, x " error, dev ")
	if (n < 20)
		return false;
	switch (t[0]) { /* the second (third) byte first: these letters start many ordinary lines */
	case 'd':
		if (t[1] == 'e')
			return t[6] == ' ' && (ST("device offline") || ST("device resource"));
		return (t[1] == 'm' && ST("dm internal retry")) || (t[1] == 'u' && ST("duration limit exceeded"));
	case 't':
		return t[1] == 'i' && ST("timeout");
	case 'r':
		return t[1] == 'e' && (ST("recoverable transport") || ST("reservation conflict"));
	case 'p':
		return t[1] == 'r' && t[2] == 'o' && ST("protection");
	case 'o':
		return t[1] == 'p' && (ST("operation not supported") || ST("open zones exceeded"));
	case 'a':
		return t[1] == 'c' && t[2] == 't' && ST("active zones exceeded");
	case 'k':
		return t[1] == 'e' && t[7] == 'r' && ST("kernel resource");
	case 'n':
		return t[1] == 'o' && t[2] == 'n' && ST("nonblocking retry");
	case 'i':
		return t[1] == 'n' && t[2] == 'v' && ST("invalid");
	}
	return false;
#undef ST
}

/* "Buffer I/O error on dev sda1, logical block 0, async page read" */
static enum kl_kind buffer_error(const char *t, size_t n, struct kl_header *h)
{
	const char *end = t + n, *s;
	if (PFX(t, n, "Buffer I/O error on device "))
		s = t + 27;
	else if (PFX(t, n, "Buffer I/O error on dev "))
		s = t + 24;
	else
		return KL_NONE;
	const char *e = s;
	while (e < end && *e != ',' && *e != ' ')
		e++;
	kl_copy_text(h->device, sizeof(h->device), s, (size_t)(e - s));
	const char *b = FIND(e, (size_t)(end - e), "logical block ");
	int64_t v;
	if (b && num(b + 14, end, &v))
		h->pos = v;
	kl_copy_text(h->detail, sizeof(h->detail), t, n);
	const char *quiet = quiet_blockdev(h->device);
	if (quiet) {
		h->severity = VIGIL_SEV_INFO;
		return set(h, KL_IO_ERROR, KL_ROLE_SINGLE, quiet);
	}
	return set(h, KL_IO_ERROR, KL_ROLE_SINGLE, "buffer_io_error");
}

/* "(device sda1)" or "(sda1)" after a filesystem tag */
static void fs_device(const char *t, size_t n, struct kl_header *h)
{
	const char *lp = memchr(t, '(', n < 40 ? n : 40);
	if (!lp)
		return;
	const char *s = lp + 1, *end = t + n;
	if (end - s > 7 && memcmp(s, "device ", 7) == 0)
		s += 7;
	const char *rp = memchr(s, ')', (size_t)(end - s));
	if (!rp)
		return;
	/* BTRFS 5.15+ appends the fs state: "(device loop0 state A)", 5.15–6.0
	 * "(device dm-2: state EA)": the device name ends at a blank or ':' */
	const char *e = s;
	while (e < rp && *e != ' ' && *e != ':')
		e++;
	kl_copy_text(h->device, sizeof(h->device), s, (size_t)(e - s));
}

/* ext4 print_daily_error_info(), re-printed 5 min after mount and every
 * 24 h about errors recorded in the superblock in the past: "error count
 * since last fsck: %u" (≤3.x "error count: %u"), "initial error at time %u:
 * %s:%d[: inode %u][: block %llu]", "last error at time …" (≤3.x "… at %u:").
 * Not a new failure, whatever function name it quotes: no event. t starts
 * with "EXT4-fs (". */
static bool ext4_error_summary(const char *t, size_t n)
{
	const char *rp = memchr(t + 9, ')', n - 9 < 64 ? n - 9 : 64);
	if (!rp || t + n - rp < 16 || rp[1] != ':' || rp[2] != ' ')
		return false;
	const char *m = rp + 3;
	size_t mn = (size_t)(t + n - m);
	return PFX(m, mn, "error count") || PFX(m, mn, "initial error at ") || PFX(m, mn, "last error at ");
}

static enum kl_kind fs_error(const char *t, size_t n, struct kl_header *h, const char *cause, int sev)
{
	fs_device(t, n, h);
	kl_copy_text(h->detail, sizeof(h->detail), t, n);
	h->severity = sev;
	return set(h, KL_FS_ERROR, KL_ROLE_SINGLE, cause);
}

/* A NIC driver's own TX hang report, "<drv> <bdf> <ifname>: <m>" (netdev_err):
 * device = the interface, the last word of the prefix. */
static enum kl_kind nic_tx_hang(const char *t, size_t pl, const char *m, size_t mn, struct kl_header *h,
				const char *cause)
{
	const char *sp = t + pl;
	while (sp > t && sp[-1] != ' ')
		sp--;
	kl_copy_text(h->device, sizeof(h->device), sp, (size_t)(t + pl - sp));
	kl_copy_text(h->detail, sizeof(h->detail), m, mn);
	return set(h, KL_NETDEV_TX_TIMEOUT, KL_ROLE_SINGLE, cause);
}

/* nvme-pci controller lost: reset failed (warning) or removed (critical). */
static enum kl_kind nvme_gone(const char *t, size_t pl, const char *m, size_t mn, struct kl_header *h, bool removed)
{
	kl_copy_text(h->device, sizeof(h->device), t + 5, pl - 5);
	kl_copy_text(h->detail, sizeof(h->detail), m, mn);
	h->severity = removed ? VIGIL_SEV_CRITICAL : VIGIL_SEV_WARNING;
	return set(h, KL_IO_TIMEOUT, KL_ROLE_SINGLE, removed ? "controller_removed" : "controller_reset_failed");
}

/* Messages after a device / subsystem prefix: "nvme nvme0: …",
 * "virtio_net virtio0: …", "pciehp 0000:00:1c.0:pcie004: …", "sd 0:0:0:0: …". */
static inline __attribute__((always_inline)) enum kl_kind device_message(const char *t, size_t n, const char *m, struct kl_header *h, bool first_colon)
{
	const char *end = t + n;
	size_t mn = (size_t)(end - m);
	size_t pl = (size_t)(m - 2 - t); /* prefix length without ": " */

	/* "%s invoked oom-killer: gfp_mask=…" opens an OOM report */
	if (pl > 19 && memcmp(t + pl - 19, " invoked oom-killer", 19) == 0) {
		kl_copy_text(h->comm, sizeof(h->comm), t, pl - 19);
		return set(h, KL_OOM_KILL, KL_ROLE_START, NULL);
	}
	switch (m[0]) {
	case 'N':
		if (PFX(m, mn, "NETDEV WATCHDOG: ")) {
			/* ≈6.8+: "<drv> <dev> <if>: NETDEV WATCHDOG: CPU: %d: transmit queue %u timed out %u ms" */
			int64_t v;
			const char *c = FIND(m, mn, "CPU: ");
			if (c && num(c + 5, end, &v))
				h->cpu = (int)v;
			const char *sp = t + pl;
			while (sp > t && sp[-1] != ' ')
				sp--;
			kl_copy_text(h->device, sizeof(h->device), sp, (size_t)(t + pl - sp));
			kl_copy_text(h->detail, sizeof(h->detail), m + 17, mn - 17);
			return set(h, KL_NETDEV_TX_TIMEOUT, KL_ROLE_SINGLE, NULL);
		}
		break;
	case 'T':
		if (PFX(m, mn, "TX timeout on queue")) { /* virtio_net */
			const char *sp = t + pl;
			while (sp > t && sp[-1] != ' ')
				sp--;
			kl_copy_text(h->device, sizeof(h->device), sp, (size_t)(t + pl - sp));
			kl_copy_text(h->detail, sizeof(h->detail), m, mn);
			/* virtnet_tx_timeout(), the ndo_tx_timeout dev_watchdog() calls:
			 * folded into the watchdog's event when one precedes it */
			return set(h, KL_NETDEV_TX_TIMEOUT, KL_ROLE_SINGLE, "ndo_tx_timeout");
		}
		/* ena (AWS): "The number of lost tx completion[s] is above the threshold
		 * (%d > %d). Reset the device": the incident (the per-packet "Found a Tx
		 * that wasn't completed on time" lines before it are not) */
		if (PFX(m, mn, "The number of lost tx completion"))
			return nic_tx_hang(t, pl, m, mn, h, "driver_tx_hang");
		break;
	case 'D':
		/* e1000e "Detected Hardware Unit Hang:", e1000/ixgbe/igb "Detected Tx Unit Hang" */
		if (PFX(m, mn, "Detected Hardware Unit Hang") || PFX(m, mn, "Detected Tx Unit Hang"))
			return nic_tx_hang(t, pl, m, mn, h, "driver_tx_hang");
		/* nvme-pci: the controller did not come back from a reset:
		 * "Device not ready; aborting reset[, CSTS=0x%x]" (4.x–6.x), then it is
		 * removed: 6.x "Disabling device after reset failure: %d" */
		if (PFX(t, n, "nvme ")) {
			bool gone = PFX(m, mn, "Disabling device after reset failure");
			if (gone || PFX(m, mn, "Device not ready; aborting reset"))
				return nvme_gone(t, pl, m, mn, h, gone);
		}
		break;
	case 'R':
		/* ≤6.2 nvme_remove_dead_ctrl(): "Removing after probe failure status: %d" */
		if (PFX(t, n, "nvme ") && PFX(m, mn, "Removing after probe failure"))
			return nvme_gone(t, pl, m, mn, h, true);
		break;
	case 'I':
		if (PFX(m, mn, "I/O error, dev ") || PFX(m, mn, "I/O error"))
			return blk_error(m, mn, h) ? h->kind : KL_NONE;
		/* nvme: "I/O %d QID %d timeout, aborting", 6.x "I/O tag %d (%04x) opcode … QID %d timeout, …" */
		if (PFX(m, mn, "I/O ") && FIND(m, mn, " timeout")) {
			kl_copy_text(h->device, sizeof(h->device), t + (PFX(t, n, "nvme ") ? 5 : 0),
				  pl - (PFX(t, n, "nvme ") ? 5 : 0));
			kl_copy_text(h->detail, sizeof(h->detail), m, mn);
			return set(h, KL_IO_TIMEOUT, KL_ROLE_SINGLE, "nvme_timeout");
		}
		break;
	case 'U':
	case 'M':
	case 'A': {
		/* PCIe AER (drivers/pci/pcie/aer.c): "pcieport 0000:00:01.0: AER: [Multiple ]
		 * Uncorrected (Fatal) error received: 0000:01:00.0" (≈4.19+), "aer
		 * 0000:00:1c.0:pcie002: Uncorrected (Non-Fatal) error received: id=00e0"
		 * (older). Corrected errors are left out: they flood on some hardware
		 * and need no action. */
		const char *a = m;
		size_t an = mn;
		if (PFX(a, an, "AER: ")) {
			a += 5;
			an -= 5;
		}
		if (PFX(a, an, "Multiple ")) {
			a += 9;
			an -= 9;
		}
		/* ≈6.6+ spells them "Uncorrectable (Fatal)", "Uncorrectable (Non-Fatal)" */
		const char *sev = PFX(a, an, "Uncorrected (") ? a + 13 : PFX(a, an, "Uncorrectable (") ? a + 15 : NULL;
		size_t sn = sev ? (size_t)(end - sev) : 0;
		bool fatal = sev && PFX(sev, sn, "Fatal) error received");
		if (fatal || (sev && PFX(sev, sn, "Non-Fatal) error received"))) {
			const char *src = FIND(a, an, "received: ");
			if (src && !PFX(src + 10, (size_t)(end - src - 10), "id="))
				kl_copy_text(h->device, sizeof(h->device), src + 10, (size_t)(end - src - 10));
			else
				kl_copy_text(h->device, sizeof(h->device), t, pl);
			kl_copy_text(h->detail, sizeof(h->detail), m, mn);
			h->severity = fatal ? VIGIL_SEV_CRITICAL : VIGIL_SEV_WARNING;
			return set(h, KL_MCE, KL_ROLE_SINGLE, fatal ? "pcie_fatal" : "pcie_nonfatal");
		}
		if (m[0] != 'A')
			break;
	}
		/* fall through */
	case 'S':
	case 'C':
	case 'B':
	case 'P':
	case 'L':
		/* ena ≥2.8: "Lost TX completions are above the threshold (%d > %d). Completion transmission timeout: %u." */
		if (m[0] == 'L' && PFX(m, mn, "Lost TX completions are above the threshold") && PFX(t, n, "ena "))
			return nic_tx_hang(t, pl, m, mn, h, "driver_tx_hang");
		/* pciehp ≈4.19+: "Slot(%s): Card not present", "Slot(%s): Link Down",
		 * "Slot(%s): Attention button pressed", "Slot(%s): Powering off due to button press",
		 * 5.x+ "Slot(%s): Button press: powering off";
		 * ≤4.18: "Card not present on Slot(%s)", "Button pressed on Slot(%s)".
		 * Printed as "pciehp 0000:00:1c.0:pcie004: …" (≤5.3, ctrl_info = dev_info of
		 * the port service device) or, since pciehp uses pci_info() with dev_fmt
		 * "pciehp: ", "pcieport 0000:00:1c.0: pciehp: Slot(1): …" */
		if (PFX(t, n, "pciehp") || PFX(t, n, "shpchp") || (m - t >= 8 && memcmp(m - 8, "pciehp: ", 8) == 0)) {
			const char *sl = FIND(m, mn, "Slot(");
			if (!sl)
				break;
			if (!(FIND(m, mn, "Card not present") || FIND(m, mn, "Card present") || FIND(m, mn, "Link Down") ||
			      FIND(m, mn, "Link Up") || FIND(m, mn, "ttention button") || FIND(m, mn, "utton pressed") ||
			      FIND(m, mn, "Powering off") || FIND(m, mn, "Powering on") || FIND(m, mn, "Button press")))
				break;
			const char *rp = memchr(sl, ')', (size_t)(end - sl));
			if (rp)
				kl_copy_text(h->device, sizeof(h->device), sl + 5, (size_t)(rp - sl - 5));
			kl_copy_text(h->detail, sizeof(h->detail), m, mn);
			h->severity = VIGIL_SEV_INFO;
			return set(h, KL_PCI_HOTPLUG, KL_ROLE_SINGLE,
				   FIND(m, mn, "not present") ? "card_not_present"
				   : FIND(m, mn, "Link Down") ? "link_down"
				   : FIND(m, mn, "Link Up") ? "link_up"
				   : ANY(m, mn, "Powering off", "powering off", "power off") ? "power_off"
				   : FIND(m, mn, "utton")     ? "button" : "card_present");
		}
		break;
	case 's':
		/* iSCSI (scsi_transport_iscsi.c, 2.6.2x–6.x): "session7: session recovery timed
		 * out after 120 secs": the replacement timeout expired, the session's disks
		 * are offlined and every I/O to them fails from now on */
		if (PFX(m, mn, "session recovery timed out after ") && PFX(t, n, "session")) {
			kl_copy_text(h->device, sizeof(h->device), t, pl);
			kl_copy_text(h->detail, sizeof(h->detail), m, mn);
			h->severity = VIGIL_SEV_CRITICAL;
			return set(h, KL_IO_TIMEOUT, KL_ROLE_SINGLE, "iscsi_session_timeout");
		}
		break;
	case 'c':
		if (PFX(t, n, "nvme ") && PFX(m, mn, "controller is down; will reset")) {
			kl_copy_text(h->device, sizeof(h->device), t + 5, pl - 5);
			kl_copy_text(h->detail, sizeof(h->detail), m, mn);
			return set(h, KL_IO_TIMEOUT, KL_ROLE_SINGLE, "controller_reset");
		}
		break;
	}

	/* the device-prefix groups below look at the message after the device
	 * name: the first ": " only */
	if (!first_colon)
		return KL_NONE;
	/* virtio ring / device errors: BAD_RING() prints "<vq>:<fmt>" after the device */
	if (PFX(t, n, "virtio")) {
		if (ANY(m, mn, "is not a head!", "out of range", "virtqueue broken", "device broken", "Unexpected TXQ",
			"used len", "Bad ring", "queue failure")) {
			const char *sp = memchr(t, ' ', pl);
			if (sp && sp < t + pl)
				kl_copy_text(h->device, sizeof(h->device), sp + 1, (size_t)(t + pl - sp - 1));
			else
				kl_copy_text(h->device, sizeof(h->device), t, pl);
			kl_copy_text(h->detail, sizeof(h->detail), m, mn);
			return set(h, KL_VIRTIO_ERROR, KL_ROLE_SINGLE, FIND(m, mn, "is not a head!") ? "bad_ring" : "device_error");
		}
		return KL_NONE;
	}
	/* SCSI: "sd 2:0:0:0: [sdb] tag#12 timing out command, waited 180s", "… task abort" */
	if (PFX(t, n, "sd ") || PFX(t, n, "scsi") || PFX(t, n, "sr ")) {
		/* scsi_eh_offline_sdevs() (2.6–6.x): error recovery (after command timeouts
		 * or aborts) failed and the device is set offline: the disk is gone */
		if (PFX(m, mn, "Device offlined - ")) {
			kl_copy_text(h->device, sizeof(h->device), t, pl);
			kl_copy_text(h->detail, sizeof(h->detail), m, mn);
			h->severity = VIGIL_SEV_CRITICAL;
			return set(h, KL_IO_TIMEOUT, KL_ROLE_SINGLE, "device_offlined");
		}
		if (ANY(m, mn, "timing out command", "DID_TIME_OUT", "abort")) {
			const char *lb = memchr(m, '[', mn);
			const char *rb = lb ? memchr(lb, ']', (size_t)(end - lb)) : NULL;
			if (lb && rb)
				kl_copy_text(h->device, sizeof(h->device), lb + 1, (size_t)(rb - lb - 1));
			else
				kl_copy_text(h->device, sizeof(h->device), t, pl);
			kl_copy_text(h->detail, sizeof(h->detail), m, mn);
			if (quiet_blockdev(h->device) || PFX(t, n, "sr ")) {
				h->severity = VIGIL_SEV_INFO; /* an empty virtual CD-ROM probed at boot */
				return set(h, KL_IO_TIMEOUT, KL_ROLE_SINGLE, "removable_media");
			}
			return set(h, KL_IO_TIMEOUT, KL_ROLE_SINGLE, "scsi_timeout");
		}
		return KL_NONE;
	}
	/* libata: "ata1.00: exception Emask 0x0 SAct 0x0 SErr 0x0 action 0x6 frozen" */
	if (PFX(t, n, "ata") && PFX(m, mn, "exception Emask")) {
		kl_copy_text(h->device, sizeof(h->device), t, pl);
		kl_copy_text(h->detail, sizeof(h->detail), m, mn);
		return set(h, KL_IO_TIMEOUT, KL_ROLE_SINGLE, FIND(m, mn, "frozen") ? "ata_frozen" : "ata_exception");
	}
	return KL_NONE;
}

/* MCE / hardware errors: "mce: [Hardware Error]: …", "[Hardware Error]: …",
 * "{1}[Hardware Error]: …", "Machine check events logged", "EDAC MC0: 1 UE …" */
static enum kl_kind mce(const char *t, size_t n, struct kl_header *h)
{
	const char *end = t + n;
	kl_copy_text(h->detail, sizeof(h->detail), t, n);
	/* the text after "[Hardware Error]: " */
	const char *m = FIND(t, n < 24 ? n : 24, "[Hardware Error]: ");
	m = m ? m + 18 : t;
	size_t mn = (size_t)(end - m);
	bool header = !(m > t) || PFX(m, mn, "Machine check events logged") || PFX(m, mn, "Machine Check Exception") ||
		      PFX(m, mn, "event severity") || PFX(t, n, "Machine");
	/* "CPU 0: Machine Check: 0 Bank 9: <status>" (x86 print_mce), "CPU:1 (19:18:1) MC17_STATUS…" (AMD decoder) */
	int64_t v;
	if ((PFX(m, mn, "CPU ") || PFX(m, mn, "CPU:")) && num(m + 4, end, &v))
		h->cpu = (int)v;
	bool uncorrected = FIND(t, n, "Uncorrected") || FIND(t, n, "uncorrected") || FIND(t, n, " UE ") ||
			   FIND(t, n, "severity: fatal") || FIND(t, n, "Fatal") || FIND(t, n, "|UC|");
	const char *bank = FIND(m, mn, " Bank ");
	if (!uncorrected && bank) {
		/* MCi_STATUS bit 61 (UC) */
		const char *c = memchr(bank + 6, ':', (size_t)(end - bank - 6));
		if (c && end - c > 3 && c[1] == ' ') {
			const char *hx = c + 2, *he = hx;
			while (he < end && is_hex(*he))
				he++;
			if (he - hx == 16) {
				/* the first hex digit holds bits 63..60 */
				int nib = is_digit(hx[0]) ? hx[0] - '0' : (hx[0] | 0x20) - 'a' + 10;
				uncorrected = (nib & 0x2) != 0;
			}
		}
	}
	h->severity = uncorrected ? VIGIL_SEV_CRITICAL : VIGIL_SEV_WARNING;
	return set(h, KL_MCE, header ? KL_ROLE_START : KL_ROLE_MCE_BODY, uncorrected ? "uncorrected" : "corrected");
}

enum kl_kind kl_classify(const char *t, size_t n, struct kl_header *h)
{
	const char *end = t + n;

	/* cheap init: only scalars and first bytes (this runs for every line) */
	h->kind = KL_NONE;
	h->cause = NULL;
	h->cpu = -1;
	h->pid = h->duration_s = h->pos = -1;
	h->severity = -1;
	h->comm[0] = h->location[0] = h->detail[0] = h->device[0] = 0;
	h->have_ip = false;
	h->tentative = false;
	if (n < 4)
		return KL_NONE;
	bool indented = false;
again:
	switch (t[0]) {
	case 'B':
		if (PFX(t, n, "BUG: ")) {
			return bug_colon(t + 5, n - 5, h);
		}
		if (t[1] == 'u' && buffer_error(t, n, h))
			return h->kind;
		if (PFX(t, n, "BTRFS error (device") || PFX(t, n, "BTRFS critical (device"))
			return fs_error(t, n, h, "btrfs_error", VIGIL_SEV_WARNING);
		/* __btrfs_handle_fs_error() / transaction abort, 3.x–6.x:
		 * pr_crit("BTRFS: error (device %s%s) in %s:%d: errno=%d %s"): the
		 * transaction is lost and the filesystem goes read-only */
		if (PFX(t, n, "BTRFS: error (device"))
			return fs_error(t, n, h, "btrfs_abort", VIGIL_SEV_CRITICAL);
		/* btrfs_handle_error(): btrfs_info(fs_info, "forced readonly") */
		if (PFX(t, n, "BTRFS info (device")) {
			size_t e = n;
			while (e > 0 && (t[e - 1] == ' ' || t[e - 1] == '\t'))
				e--;
			if (e > 18 && memcmp(t + e - 18, "): forced readonly", 18) == 0)
				return fs_error(t, n, h, "remount_ro", VIGIL_SEV_CRITICAL);
		}
		break;
	case 'I':
		if (PFX(t, n, "INFO: "))
			return info_colon(t + 6, n - 6, h);
		if (PFX(t, n, "I/O error, dev "))
			return blk_error(t, n, h);
		if (PFX(t, n, "Internal error: ")) {
			/* arm64 die(): "Internal error: Oops: %x [#%d]…", "Internal error: Oops - BUG: …" */
			const char *s = t + 16;
			size_t sn = (size_t)(end - s);
			if (PFX(s, sn, "Oops - BUG"))
				return set(h, KL_BUG, KL_ROLE_BUG_SUB, "bug");
			if (PFX(s, sn, "Oops"))
				return set(h, KL_OOPS, KL_ROLE_OOPS_SUB, NULL);
		}
		break;
	case 'W':
		if (PFX(t, n, "WARNING: "))
			return warning_colon(t + 9, n - 9, h);
		if (PFX(t, n, "Watchdog CPU:") && FIND(t, n, "Hard LOCKUP")) {
			/* powerpc 4.13+: "Watchdog CPU:%d Hard LOCKUP", "Watchdog CPU:%d detected Hard LOCKUP other CPUS:%*pbl" */
			int64_t v;
			if (num(t + 13, end, &v))
				h->cpu = (int)v;
			return set(h, KL_HARD_LOCKUP, KL_ROLE_START, NULL);
		}
		if (hard_lockup(t, n, h, KL_ROLE_REFINE)) /* ≤3.x: WARN() text inside a WARNING splat */
			return h->kind;
		break;
	case 'w':
		if (PFX(t, n, "watchdog: ")) { /* pr_fmt of kernel/watchdog.c, ≈4.14+ */
			t += 10;
			n -= 10;
			if (PFX(t, n, "CPU ") && n > 5 && is_digit(t[4]) && FIND(t, n, "hard LOCKUP")) {
				/* powerpc 5.x+: "watchdog: CPU %d self-detected hard LOCKUP @ %pS",
				 * "watchdog: CPU %d detected hard LOCKUP on other CPUs %*pbl" */
				int64_t v;
				if (num(t + 4, end, &v))
					h->cpu = (int)v;
				return set(h, KL_HARD_LOCKUP, KL_ROLE_START, NULL);
			}
			if (PFX(t, n, "CPU") && n > 4 && is_digit(t[3])) {
				/* ≈6.5+ buddy/perf: "watchdog: CPU%u: Watchdog detected hard LOCKUP on cpu %u" */
				const char *c = memchr(t, ' ', n);
				if (!c)
					return KL_NONE;
				n -= (size_t)(c + 1 - t);
				t = c + 1;
				return hard_lockup(t, n, h, KL_ROLE_START);
			}
			if (n >= 4 && t[0] == 'W')
				return hard_lockup(t, n, h, KL_ROLE_START);
			if (PFX(t, n, "BUG: "))
				goto again;
			return KL_NONE;
		}
		break;
	case 'N':
		if (PFX(t, n, "NMI watchdog: ")) { /* ≈4.0–4.13, RHEL7 */
			t += 14;
			n -= 14;
			if (n >= 4 && t[0] == 'W')
				return hard_lockup(t, n, h, KL_ROLE_START);
			if (PFX(t, n, "BUG: "))
				goto again;
			return KL_NONE;
		}
		if (PFX(t, n, "NETDEV WATCHDOG: ")) {
			/* ≤6.7: WARN_ONCE text "NETDEV WATCHDOG: %s (%s): transmit queue %u timed out[ %u ms]" */
			const char *s = t + 17, *e = s;
			while (e < end && *e != ' ')
				e++;
			kl_copy_text(h->device, sizeof(h->device), s, (size_t)(e - s));
			kl_copy_text(h->detail, sizeof(h->detail), s, (size_t)(end - s));
			return set(h, KL_NETDEV_TX_TIMEOUT, KL_ROLE_REFINE, NULL);
		}
		break;
	case 'r':
		if (blk_status_line(t, n))
			return blk_error(t, n, h);
		if (PFX(t, n, "rcu: ")) { /* ≈4.19+ pr_fmt of RCU */
			t += 5;
			n -= 5;
			if (PFX(t, n, "INFO: "))
				return info_colon(t + 6, n - 6, h);
			return KL_NONE;
		}
		break;
	case 'O':
		if (PFX(t, n, "Oops: ") || (n > 5 && PFX(t, n, "Oops:") && is_digit(t[5]))) {
			const char *s = t + 5;
			while (s < end && *s == ' ')
				s++;
			size_t sn = (size_t)(end - s);
			/* ≈6.10+: "Oops: general protection fault, …", "Oops: invalid opcode: …" */
			if (PFX(s, sn, "general protection fault") || PFX(s, sn, "invalid opcode") ||
			    PFX(s, sn, "divide error") || PFX(s, sn, "double fault") || PFX(s, sn, "stack segment") ||
			    PFX(s, sn, "int3") || PFX(s, sn, "Oops")) {
				t = s;
				n = sn;
				goto again;
			}
			return set(h, KL_OOPS, KL_ROLE_OOPS_SUB, NULL);
		}
		if (PFX(t, n, "Oops [#") || PFX(t, n, "Oops - ")) /* riscv "Oops [#1]", arm32/riscv "Oops - BUG: …" */
			return set(h, KL_OOPS, KL_ROLE_OOPS_SUB, NULL);
		if (PFX(t, n, "Out of memory: Kill process "))
			return oom_killed(t + 28, n - 28, h, "global", KL_ROLE_START);
		if (PFX(t, n, "Out of memory: Killed process "))
			return oom_killed(t + 30, n - 30, h, "global", KL_ROLE_OOM_END);
		break;
	case 'M':
		if (PFX(t, n, "Memory cgroup out of memory: Kill process "))
			return oom_killed(t + 42, n - 42, h, "memcg", KL_ROLE_START);
		if (PFX(t, n, "Memory cgroup out of memory: Killed process "))
			return oom_killed(t + 44, n - 44, h, "memcg", KL_ROLE_OOM_END);
		if (PFX(t, n, "Machine check events logged") || PFX(t, n, "Machine Check Exception:") ||
		    PFX(t, n, "Machine check: "))
			return mce(t, n, h);
		/* mm/memory-failure.c (pr_fmt "Memory failure: "), run only for an
		 * uncorrected memory error: "%#lx: recovery action for %s: %s",
		 * "%#lx: already hardware poisoned"; details of the MCE report */
		if (PFX(t, n, "Memory failure: 0x") &&
		    (FIND(t, n, ": recovery action for ") || FIND(t, n, ": already hardware poisoned"))) {
			kl_copy_text(h->detail, sizeof(h->detail), t, n);
			h->severity = VIGIL_SEV_CRITICAL;
			return set(h, KL_MCE, KL_ROLE_MCE_BODY, "uncorrected");
		}
		break;
	case 'K':
		if (t[1] == 'e' && panic_line(t, n, h))
			return h->kind;
		if (PFX(t, n, "Killed process "))
			return oom_killed(t + 15, n - 15, h, NULL, KL_ROLE_OOM_END);
		if (PFX(t, n, "Kernel BUG at ")) {
			kl_copy_text(h->location, sizeof(h->location), t + 14, n - 14);
			return set(h, KL_BUG, KL_ROLE_START, "bug");
		}
		break;
	case 'k':
		if (blk_status_line(t, n))
			return blk_error(t, n, h);
		if (PFX(t, n, "kernel BUG at ")) {
			const char *s = t + 14;
			size_t ln = (size_t)(end - s);
			if (ln && s[ln - 1] == '!')
				ln--;
			kl_copy_text(h->location, sizeof(h->location), s, ln);
			return set(h, KL_BUG, KL_ROLE_START, "bug");
		}
		if (PFX(t, n, "kernel tried to execute NX-protected page"))
			return set(h, KL_OOPS, KL_ROLE_START, "nx_violation");
		break;
	case 'U':
		if (PFX(t, n, "Unable to handle kernel ")) {
			/* arm64/arm: "Unable to handle kernel %s at virtual address %016lx" */
			const char *s = t + 24;
			size_t sn = (size_t)(end - s);
			const char *cause = PFX(s, sn, "NULL pointer dereference") ? "null_deref"
					    : PFX(s, sn, "paging request")        ? "paging_request"
					    : PFX(s, sn, "execute")               ? "exec_fault"
					    : PFX(s, sn, "write to read-only")    ? "write_fault"
										  : "page_fault";
			const char *va = FIND(s, sn, "virtual address ");
			if (va)
				kl_copy_text(h->detail, sizeof(h->detail), va + 16, (size_t)(end - va - 16));
			return set(h, KL_OOPS, KL_ROLE_START, cause);
		}
		break;
	case 'g':
		if (PFX(t, n, "general protection fault")) {
			const char *s = t + 24;
			if (s < end && *s == ',') { /* "…, probably for non-canonical address 0x…: 0000 [#1]" */
				const char *c = memchr(s, ':', (size_t)(end - s));
				const char *d = end - s > 2 ? s + 2 : end; /* after ", " */
				if (c && c > d)
					kl_copy_text(h->detail, sizeof(h->detail), d, (size_t)(c - d));
			}
			return set(h, KL_GPF, KL_ROLE_START, "general_protection");
		}
		break;
	case 'i':
		if (blk_status_line(t, n))
			return blk_error(t, n, h);
		if (PFX(t, n, "invalid opcode: ") && die_header(t, n))
			return set(h, KL_BUG, KL_ROLE_BUG_SUB, "invalid_opcode");
		break;
	case 'd':
		if (blk_status_line(t, n))
			return blk_error(t, n, h);
		if (PFX(t, n, "divide error: ") && die_header(t, n))
			return set(h, KL_OOPS, KL_ROLE_START, "divide_error");
		if (PFX(t, n, "double fault: ") && die_header(t, n))
			return set(h, KL_OOPS, KL_ROLE_START, "double_fault");
		break;
	case 's':
		if (PFX(t, n, "stack segment: ") && die_header(t, n))
			return set(h, KL_OOPS, KL_ROLE_START, "stack_segment");
		break;
	case 'E':
		if (PFX(t, n, "EXT4-fs error") || PFX(t, n, "EXT3-fs error") || PFX(t, n, "EXT2-fs error"))
			return fs_error(t, n, h, "ext4_error", VIGIL_SEV_WARNING);
		if ((PFX(t, n, "EXT4-fs (") || PFX(t, n, "EXT3-fs (")) && ANY(t, n, "Remounting", "error")) {
			if (ext4_error_summary(t, n))
				return KL_NONE;
			/* writeback could not allocate blocks for delayed data: "Delayed block
			 * allocation failed for inode %lu at logical offset %llu with max blocks %u
			 * with error %d" (≤2.6.3x "delayed block allocation failed for block …"),
			 * followed by "This should not happen!! Data will be lost" (no second event) */
			if (ANY(t, n, "Delayed block allocation failed", "delayed block allocation failed"))
				return fs_error(t, n, h, "delalloc_failed", VIGIL_SEV_CRITICAL);
			if (FIND(t, n, "Remounting filesystem read-only"))
				return fs_error(t, n, h, "remount_ro", VIGIL_SEV_CRITICAL);
			/* "re-mounted. Opts: errors=remount-ro,journal_checksum", "mounted filesystem …
			 * Opts: …": the mount options echoed, no error */
			if (FIND(t, n, "error") && (FIND(t, n, "I/O error") || FIND(t, n, "journal")) && !FIND(t, n, "Opts:"))
				return fs_error(t, n, h, "ext4_error", VIGIL_SEV_WARNING);
		}
		if (PFX(t, n, "EDAC ") && (FIND(t, n, " UE ") || FIND(t, n, " CE ")))
			return mce(t, n, h);
		break;
	case 'X':
		if (PFX(t, n, "XFS: ") && ANY(t, n, "Internal error", "Corruption", "I/O error", "Shutting down")) {
			/* ≤2.6.3x without the device: "XFS: Internal error XFS_WANT_CORRUPTED_RETURN at line …" */
			bool down = FIND(t, n, "Shutting down") != NULL;
			return fs_error(t, n, h, down ? "xfs_shutdown" : "xfs_error", down ? VIGIL_SEV_CRITICAL : VIGIL_SEV_WARNING);
		}
		if (PFX(t, n, "XFS (")) {
			if (ANY(t, n, "Shutting down filesystem", "shutting down filesystem"))
				return fs_error(t, n, h, "xfs_shutdown", VIGIL_SEV_CRITICAL);
			/* xfs_verifier_error(): "Metadata corruption detected at %pS, %s block 0x%llx",
			 * "Metadata CRC error detected at …" (3.10+) */
			if (ANY(t, n, "Corruption", "Metadata corruption", "Metadata CRC error", "metadata I/O error",
				"log I/O error", "Internal error"))
				return fs_error(t, n, h, "xfs_error", VIGIL_SEV_WARNING);
		}
		break;
	case 'R':
		if (PFX(t, n, "Remounting filesystem read-only"))
			return fs_error(t, n, h, "remount_ro", VIGIL_SEV_CRITICAL);
		break;
	case 'A':
		if (PFX(t, n, "Aborting journal on device ")) {
			/* jbd2: "Aborting journal on device %s.\n" (journal device name, "sdb1-8") */
			size_t dl = n - 27;
			while (dl > 0 && (t[27 + dl - 1] == '.' || t[27 + dl - 1] == ' '))
				dl--;
			fs_error(t, n, h, "journal_abort", VIGIL_SEV_CRITICAL);
			kl_copy_text(h->device, sizeof(h->device), t + 27, dl);
			return h->kind;
		}
		break;
	case 'J':
		/* "JBD2: Error %d detected when updating journal superblock for %s.",
		 * "JBD2: Detected IO errors[ %d] while flushing file data on %s" */
		if (PFX(t, n, "JBD2: ") && (((FIND(t, n, "Error ") || FIND(t, n, "error ")) && FIND(t, n, "journal")) ||
					    PFX(t + 6, n - 6, "Detected IO errors"))) {
			fs_error(t, n, h, "journal_error", VIGIL_SEV_WARNING);
			/* the journal device ("dm-1-8") is the last word, after " for " / " on " */
			size_t dl = n;
			while (dl > 6 && (t[dl - 1] == '.' || t[dl - 1] == ' '))
				dl--;
			size_t ds = dl;
			while (ds > 6 && t[ds - 1] != ' ')
				ds--;
			if (ds >= 6 + 4 && ds < dl &&
			    (memcmp(t + ds - 4, "for ", 4) == 0 || memcmp(t + ds - 3, "on ", 3) == 0))
				kl_copy_text(h->device, sizeof(h->device), t + ds, dl - ds);
			return h->kind;
		}
		break;
	case 'm':
		if (PFX(t, n, "mce: ")) {
			t += 5;
			n -= 5;
			if (PFX(t, n, "[Hardware Error]: "))
				return mce(t, n, h);
			/* x86 kill_me_maybe() (5.8+): "Uncorrected hardware memory error in
			 * user-access at %llx" opens the report of a recovered UC error;
			 * "Memory error not recovered" (kill_me_never) belongs to it */
			if (PFX(t, n, "Uncorrected hardware memory error") || PFX(t, n, "Memory error not recovered")) {
				mce(t, n, h);
				h->severity = VIGIL_SEV_CRITICAL;
				return set(h, KL_MCE, t[0] == 'U' ? KL_ROLE_START : KL_ROLE_MCE_BODY, "uncorrected");
			}
			return KL_NONE;
		}
		break;
	case '[':
		if (PFX(t, n, "[ INFO: ") && n > 10 && t[n - 1] == ']') {
			/* lockdep ≤4.8: "[ INFO: possible circular locking dependency detected ]",
			 * "[ INFO: possible recursive locking detected ]", "[ INFO: inconsistent lock state ]" … */
			size_t dl = n - 8;
			while (dl > 0 && (t[8 + dl - 1] == ']' || t[8 + dl - 1] == ' '))
				dl--;
			kl_copy_text(h->detail, sizeof(h->detail), t + 8, dl);
			return set(h, KL_WARNING, KL_ROLE_START, NULL);
		}
		/* fall through */
	case '{':
		if (FIND(t, n < 24 ? n : 24, "[Hardware Error]: "))
			return mce(t, n, h);
		break;
	case 'e':
		if (PFX(t, n, "end_request: ")) /* ≤3.x */
			return blk_error(t + 13, n - 13, h) ? h->kind : KL_NONE;
		break;
	case 'b':
		if (PFX(t, n, "blk_update_request: "))
			return blk_error(t + 20, n - 20, h) ? h->kind : KL_NONE;
		break;
	case 'p':
		if (blk_status_line(t, n))
			return blk_error(t, n, h);
		if (PFX(t, n, "print_req_error: "))
			return blk_error(t + 17, n - 17, h) ? h->kind : KL_NONE;
		break;
	case 'c':
		if (PFX(t, n, "critical ") && FIND(t, n, " error, dev "))
			return blk_error(t, n, h);
		break;
	case 't':
	case 'o':
	case 'a':
	case 'n':
		if (blk_status_line(t, n))
			return blk_error(t, n, h);
		break;
	case '-':
		if (PFX(t, n, "------------[ cut here ]------------"))
			return set(h, KL_CUT_HERE, KL_ROLE_START, NULL);
		if (PFX(t, n, "---[ end Kernel panic - not syncing")) {
			const char *r = t + 35, *e = end;
			if (r < e && *r == ':')
				r++;
			while (r < e && *r == ' ')
				r++;
			while (e > r && (e[-1] == ' ' || e[-1] == '-' || e[-1] == ']'))
				e--;
			kl_copy_text(h->detail, sizeof(h->detail), r, (size_t)(e - r));
			return set(h, KL_PANIC, KL_ROLE_PANIC_END, NULL);
		}
		return KL_NONE;
	case ' ':
	case '\t': {
		/* an indented or quoted copy ("  watchdog: BUG: …" in a commit message,
		 * " kernel:[ ts] …" of a syslog wall message): the header after the
		 * blanks; body lines (frames, registers) are no header either way */
		size_t b = 1;
		while (b < n && b < 16 && (t[b] == ' ' || t[b] == '\t'))
			b++;
		if (n - b < 4 || t[b] == ' ' || t[b] == '\t')
			return KL_NONE;
		t += b;
		n -= b;
		indented = true;
		goto again;
	}
	}

	/* Indented lines are mostly report bodies and multi-line dumps (ACPI
	 * tables, e820 maps): only the report headers above are looked for */
	if (indented)
		return KL_NONE;

	/* "prefix: message" — device and subsystem messages */
	const char *colon = memchr(t, ':', n < 96 ? n : 96);
	bool first_colon = true;
	while (colon && colon + 2 < end) {
		if (colon[1] == ' ' && colon > t) {
			enum kl_kind k = device_message(t, n, colon + 2, h, first_colon);
			first_colon = false;
			if (k)
				return k;
			const char *m = colon + 2;
			size_t mn = (size_t)(end - m);
			if (PFX(m, mn, "I/O") || PFX(m, mn, "Buffer I/O") || PFX(m, mn, "critical ")) {
				/* "blk_update_request: critical medium error, dev sdb, sector 0" etc. */
				if (FIND(m, mn, " error, dev "))
					return blk_error(m, mn, h);
				if (buffer_error(m, mn, h))
					return h->kind;
			}
		}
		size_t rest = (size_t)(end - colon - 1);
		colon = memchr(colon + 1, ':', rest < 96 ? rest : 96);
	}
	return KL_NONE;
}

/* ------------------------------------------------------------------------ */

/* Register dump line: "RSP: 0018:…", "R10: …", "FS:  …", "CR2: …", arm64
 * "x29: …", "pc : …" ("lr : ", "sp : "). */
static bool is_register_line(const char *t, size_t n)
{
	size_t i = 0;
	if (n < 4)
		return false;
	if (t[0] == 'x' && is_digit(t[1])) {
		i = 2;
		if (i < n && is_digit(t[i]))
			i++;
		while (i < n && t[i] == ' ')
			i++;
		return i < n && t[i] == ':';
	}
	if ((t[0] == 'p' || t[0] == 'l' || t[0] == 's') && (t[1] == 'c' || t[1] == 'r' || t[1] == 'p') && t[2] == ' ' &&
	    t[3] == ':')
		return true;
	while (i < n && i < 6 && ((t[i] >= 'A' && t[i] <= 'Z') || is_digit(t[i])))
		i++;
	return i >= 2 && i < n && t[i] == ':';
}

static const struct {
	const char *s;
	size_t n;
} body_prefixes[] = {
#define B(x) {x, sizeof(x) - 1}
	B("Modules linked in"), B("Hardware name:"), B("Call Trace:"), B("Call trace:"), B("Code: "),
	B("Stack:"), B("Stack : "), B("<TASK>"), B("</TASK>"), B("<IRQ>"), B("</IRQ>"), B("<NMI>"), B("</NMI>"), B("<EOI>"),
	B("<SOFTIRQ>"), B("</SOFTIRQ>"), B("---[ end"), B("pstate:"), B("PC is at"), B("LR is at"),
	B("task: "), B("task:"), B("Process "), B("Workqueue:"), B("irq event stamp:"), B("hardirqs last"),
	B("softirqs last"), B("PGD "), B("P4D "), B("PUD "), B("PMD "), B("PTE "), B("#PF: "), B("Mem abort info:"),
	B("Data abort info:"), B("ESR = "), B("EC = "), B("SET = "), B("EA = "), B("FSC = "), B("ISV = "),
	B("CM = "), B("user pgtable:"), B("swapper pgtable:"), B("[0000"), B("Kernel Offset:"),
	B("Dumping ftrace"), B("last sysfs file:"), B("Instruction dump:"), B("NMI backtrace for cpu"),
	B("Sending NMI from CPU"), B("\"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\""), B("(t="),
	B("rcu: "), B("Exception stack"), B("..."), B("SMP: stopping secondary"), B("Starting crashdump kernel"),
	B("Bye!"), B("Rebooting in "), B("Shutting down cpus with NMI"), B("note: "), B("Fixing recursive fault"),
	B("Backtrace:"), B("Tainted: "), B("Not tainted"), B("Pid: "), B("Showing stack for process"),
	B("Read of size"), B("Write of size"), B("Allocated by task"), B("Freed by task"), B("The buggy address"),
	B("Memory state around"), B("=========="), B("Mem-Info:"), B("Tasks state"), B("oom-kill:"), B("Node "),
	B("active_anon:"), B("Free swap"), B("Total swap"), B("pages RAM"), B("pages reserved"), B("lowmem_reserve"),
	B("[  pid  ]"), B("oom_reaper:"), B("Unreclaimable slab"), B("Swap cache stats"), B("Out of memory and no"),
	B("Kernel panic"), B("CPU: "), B("IP: "), B("RIP "), B("RSP <"), B("RIP: "), B("Code:"), B("Fixing"),
	B("do_IRQ"), B("Leftover inexact backtrace:"), B("Stack backtrace:"), B("stack backtrace:"),
	B("other info that might help"), B("Possible unsafe locking"), B("*** DEADLOCK ***"), B("the existing"),
	B("the shortest"), B("which lock"), B("but task is"), B("1 lock held"), B("no locks held"), B("locks held"),
	B("lock("), B("-> #"), B("Chain exists"), B("stack segment"), B("SError"), B("Unhandled"), B("Shutting down"),
	B("Task dump for CPU"), B("task:"), B("Sched_info"), B("rcu_"), B("\t"), B("knlGS:"), B("DR3:"),
	/* arm32 page-table walk after "Unable to handle …" */
	B("pgd = "),
	/* s390 fault details and PSW */
	B("Failing address:"), B("Fault in "), B("AS:"), B("Krnl "), B("Last Breaking-Event-Address:"),
	/* powerpc oops preamble, NIP/LR lines */
	B("Faulting instruction address:"), B("LE "), B("BE "), B("NIP "), B("LR ["), B("MSR: "),
	/* "BUG: sleeping function called from invalid context" and lockdep details */
	B("in_atomic()"), B("preempt_count:"), B("RCU nest depth:"), B("Preemption disabled at"),
	B("INFO: lockdep is turned off"), B("caller is "), B("-----"),
	/* powerpc hard lockup: "watchdog: CPU %d TB:%lld, last heartbeat TB:%lld (%lldms ago)" */
	B("watchdog: CPU "),
#undef B
};

bool kl_is_body(const char *t, size_t n)
{
	if (n == 0)
		return true;
	if (t[0] == ' ' || t[0] == '\t')
		return true;
	if (is_register_line(t, n))
		return true;
	for (size_t i = 0; i < sizeof(body_prefixes) / sizeof(body_prefixes[0]); i++)
		if (body_prefixes[i].s[0] == t[0] && has_prefix(t, n, body_prefixes[i].s, body_prefixes[i].n))
			return true;
	/* a bare frame "func+0x10/0x20" or "[<ffff…>] func+…" */
	if (FIND(t, n, "+0x") && FIND(t, n, "/0x"))
		return true;
	/* raw stack dump words "00000000000000fb 0000000000000001 …" (≤4.x "Stack:") */
	if (n >= 17 && is_hex(t[0])) {
		size_t i = 0;
		while (i < n && is_hex(t[i]))
			i++;
		if ((i == 8 || i == 16) && (i == n || t[i] == ' '))
			return true;
	}
	/* OOM task table rows "[  1234]     0  1234 …" and lockdep "#0: …" */
	if (t[0] == '[' && n > 2 && (t[1] == ' ' || is_digit(t[1]) || t[1] == '<'))
		return true;
	if (t[0] == '#' && n > 1 && is_digit(t[1]))
		return true;
	/* arm32 "[c0a0b0c0] *pgd=…" (an address not starting with a digit) */
	if (t[0] == '[' && FIND(t, n < 24 ? n : 24, "] *pgd="))
		return true;
	/* lockdep: "%d locks held by %s/%d:", "%s/%d is trying to acquire lock:";
	 * lockdep/RCU kernel ident "6.6.0 #134 Not tainted"; ≤4.x task lines
	 * "swapper/3       R  running task        0     0      1 0x00000000";
	 * rcu_tasks holdouts "%p: %c%c nvcsw: %lu/%lu holdout: %d idle_cpu: %d/%d" */
	if (ANY(t, n, " locks held by ", " lock held by ", " is trying to acquire lock", " Not tainted", " running task ",
		" holdout: "))
		return true;
	/* Mem-Info rows: "DMA: 1*4kB …", "Normal free:…", "123 pages …" */
	if (is_digit(t[0]) && (FIND(t, n, " pages") || FIND(t, n, "kB")))
		return true;
	return false;
}

/* ------------------------------------------------------------------------ */

static bool sym_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '.' || c == '$';
}

static const char *hexnum(const char *s, const char *end, uint32_t *ret)
{
	uint64_t v = 0;
	const char *b = s;
	while (s < end && is_hex(*s)) {
		if (v < (1ULL << 36)) {
			char c = *s;
			v = v * 16 + (uint64_t)(is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
		}
		s++;
	}
	if (s == b)
		return NULL;
	*ret = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	return s;
}

bool kl_parse_symbol(const char *t, size_t n, struct kl_frame *f)
{
	const char *s = t, *end = t + n;
	while (s < end && *s == ' ')
		s++;
	const char *b = s;
	while (s < end && sym_char(*s))
		s++;
	if (s == b || s >= end || *s != '+' || end - s < 4 || s[1] != '0' || s[2] != 'x')
		return false;
	kl_copy_text(f->symbol, sizeof(f->symbol), b, (size_t)(s - b));
	s += 3;
	if (s < end && *s == '0' && s + 1 < end && s[1] == 'x') /* "0x0x3d" typo in copies */
		s += 2;
	if (!(s = hexnum(s, end, &f->offset)))
		return false;
	f->size = 0;
	if (end - s > 3 && s[0] == '/' && s[1] == '0' && s[2] == 'x') {
		const char *q = hexnum(s + 3, end, &f->size);
		if (q)
			s = q;
	}
	f->module[0] = 0;
	if (end - s > 3 && s[0] == ' ' && s[1] == '[') {
		const char *m = s + 2, *e = m;
		while (e < end && *e != ']' && *e != ' ')
			e++;
		if (e < end && e > m)
			kl_copy_text(f->module, sizeof(f->module), m, (size_t)(e - m));
	}
	return true;
}

bool kl_parse_frame(const char *t, size_t n, struct kl_frame *f)
{
	const char *s = t, *end = t + n;
	f->reliable = true;
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	/* "[<ffffffff811aa349>] " address blocks (x86 ≤4.x, arm64 ≤4.x) */
	bool addr = false;
	while (end - s > 3 && s[0] == '[' && s[1] == '<') {
		addr = true;
		const char *e = memchr(s, ']', (size_t)(end - s));
		if (!e)
			return false;
		s = e + 1;
		while (s < end && *s == ' ')
			s++;
	}
	/* powerpc "[c000000ff1b1fb90] [c000000000353470] sym+0x14/0x30 (unreliable)": stack
	 * pointer and address in brackets without '<' */
	bool ppc = false;
	while (!addr && end - s > 10 && s[0] == '[' && is_hex(s[1])) {
		const char *e = s + 1;
		while (e < end && is_hex(*e))
			e++;
		if (e >= end || *e != ']' || e - s < 9 || e + 1 >= end || e[1] != ' ')
			break;
		s = e + 2;
		while (s < end && *s == ' ')
			s++;
		ppc = true;
	}
	if (ppc && end - s > 13 && memcmp(end - 13, " (unreliable)", 13) == 0)
		f->reliable = false;
	if (end - s > 2 && s[0] == '?' && s[1] == ' ') {
		f->reliable = false;
		s += 2;
	}
	if (addr && s < end && *s == '(') {
		/* arm32 ≤6.x unwinder: "[<pc>] (sym) from [<lr>] (caller+0x…)", "(sym [mod]) from" */
		const char *b = ++s;
		while (s < end && sym_char(*s))
			s++;
		if (s == b || s >= end)
			return false;
		struct kl_frame g;
		if (*s == '+' && kl_parse_symbol(b, (size_t)(end - b), &g)) {
			*f = (struct kl_frame){.reliable = f->reliable};
			memcpy(f->symbol, g.symbol, sizeof(g.symbol));
			f->offset = g.offset;
			f->size = g.size;
			memcpy(f->module, g.module, sizeof(g.module));
			return true;
		}
		if ((*s != ')' && *s != ' ') || (s - b == 4 && memcmp(b, "null", 4) == 0))
			return false;
		bool rel = f->reliable;
		memset(f, 0, sizeof(*f));
		f->reliable = rel;
		kl_copy_text(f->symbol, sizeof(f->symbol), b, (size_t)(s - b));
		if (end - s > 3 && s[0] == ' ' && s[1] == '[') {
			const char *m = s + 2, *e = m;
			while (e < end && *e != ']' && *e != ' ')
				e++;
			if (e < end && *e == ']' && e > m)
				kl_copy_text(f->module, sizeof(f->module), m, (size_t)(e - m));
		}
		return true;
	}
	if (s >= end || !sym_char(*s))
		return false;
	if (kl_parse_symbol(s, (size_t)(end - s), f))
		return true;
	/* arm32 ≥6.x: " sym from caller+0x20/0xac"; decode_stacktrace.sh output
	 * "sym (fs/file.c:123)" (offsets replaced by the source line) */
	const char *b = s;
	while (s < end && sym_char(*s))
		s++;
	bool decoded = false;
	if (end - s > 4 && s[0] == ' ' && s[1] == '(') {
		const char *rp = memchr(s + 2, ')', (size_t)(end - s - 2));
		const char *c = rp ? memchr(s + 2, ':', (size_t)(rp - s - 2)) : NULL;
		decoded = c && c + 1 < rp && is_digit(c[1]);
	}
	bool from = false;
	if (!decoded && end - s > 6 && memcmp(s, " from ", 6) == 0) {
		/* the caller must look like one: "caller+0x20/0xac" or an address
		 * ("… option from the mount to silence this warning." is prose) */
		struct kl_frame g;
		from = kl_parse_symbol(s + 6, (size_t)(end - s - 6), &g) ||
		       (end - s > 8 && s[6] == '0' && s[7] == 'x' && is_hex(s[8]));
	}
	if (decoded || from) {
		bool rel = f->reliable;
		memset(f, 0, sizeof(*f));
		f->reliable = rel;
		kl_copy_text(f->symbol, sizeof(f->symbol), b, (size_t)(s - b));
		return true;
	}
	return false;
}

bool kl_wait_frame(const char *sym)
{
	/* exact base names, and prefixes (ending in '*') */
	static const char *const wait[] = {
		"__schedule", "schedule", "schedule_timeout", "schedule_timeout_*", "schedule_hrtimeout*",
		"io_schedule", "io_schedule_timeout", "schedule_preempt_disabled", "preempt_schedule*",
		"__cond_resched", "_cond_resched", "__switch_to", "context_switch", "__mutex_lock*", "mutex_lock*",
		"rwsem_down_*", "down_read*", "down_write*", "__down*", "down", "down_timeout", "down_interruptible",
		"percpu_rwsem_wait", "__percpu_down_read", "percpu_down_write", "percpu_rwsem_down_*", "folio_wait_*",
		"__folio_lock*", "folio_lock*", "__lock_page*", "lock_page*", "wait_on_page_bit*", "__wait_on_bit*",
		"wait_on_bit*", "out_of_line_wait_on_bit*", "bit_wait*", "sleep_on_buffer", "__wait_on_buffer",
		"wait_for_completion*", "__wait_for_common", "wait_for_common*", "do_wait_for_common",
		"rt_mutex_*", "__rt_mutex_*", "rt_spin_lock*", "rtlock_*", "synchronize_rcu*", "__synchronize_srcu",
		"synchronize_srcu*", "__wait_rcu_gp", "wait_rcu_gp", "wait_woken", "prepare_to_wait*", "finish_wait",
		"sync_buffer", /* ≤2.6.3x sleep_on_buffer */
		"cv_wait*", "__cv_wait*", "cv_timedwait*", "__cv_timedwait*", /* SPL (ZFS) condition variables */
		NULL,
	};
	size_t bl = strcspn(sym, ".");
	for (size_t i = 0; wait[i]; i++) {
		if (wait[i][0] != sym[0])
			continue;
		size_t wl = strlen(wait[i]);
		if (wait[i][wl - 1] == '*') {
			if (bl >= wl - 1 && memcmp(sym, wait[i], wl - 1) == 0)
				return true;
		} else if (wl == bl && memcmp(sym, wait[i], bl) == 0)
			return true;
	}
	return false;
}
