/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kernlog internals shared between its files (not part of the API). */
#pragma once

#include "kernlog/kernlog.h"

/* "Mon DD HH:MM:SS[.frac] " at p → position after it, or NULL. */
const char *kl_syslog_stamp_end(const char *p, const char *end);
/* "[%5lu.%06lu] " at p (the dmesg stamp, any padding, 0-9 fraction digits)
 * → position after it and its one following blank, *ts in µs (ts may be
 * NULL); or NULL. The one parser of this stamp: the replay fast path uses
 * it too, so both paths agree on what is a dmesg line. */
const char *kl_dmesg_stamp_end(const char *p, const char *end, int64_t *ts);

/* Report classes. */
enum kl_kind {
	KL_NONE = 0,
	KL_CUT_HERE,    /* "------------[ cut here ]------------": kind follows */
	KL_HUNG_TASK,
	KL_SOFT_LOCKUP,
	KL_HARD_LOCKUP,
	KL_RCU_STALL,
	KL_OOPS,
	KL_GPF,
	KL_BUG,
	KL_PANIC,
	KL_WARNING,
	KL_SCHED_ATOMIC,
	KL_OOM_KILL,
	KL_IO_ERROR,
	KL_IO_TIMEOUT,
	KL_VIRTIO_ERROR,
	KL_PCI_HOTPLUG,
	KL_NETDEV_TX_TIMEOUT,
	KL_FS_ERROR,
	KL_MCE,
	_KL_KIND_MAX,
};

const char *kl_kind_name(enum kl_kind k);

/* Role of a header line. */
enum kl_role {
	KL_ROLE_START = 0,   /* starts a report */
	KL_ROLE_OOPS_SUB,    /* "Oops: 0000 [#1]", "Internal error: Oops:": continues an oops/bug/gpf */
	KL_ROLE_BUG_SUB,     /* "invalid opcode:", "Internal error: Oops - BUG:" after "kernel BUG at" */
	KL_ROLE_REFINE,      /* NETDEV WATCHDOG / hard LOCKUP text inside a WARNING splat */
	KL_ROLE_OOM_END,     /* "Killed process": completes an oom report */
	KL_ROLE_SINGLE,      /* a one-line event (io_error, fs_error, …) */
	KL_ROLE_MCE_BODY,    /* "[Hardware Error]: CPU 0: …": details of the MCE being logged */
	KL_ROLE_PANIC_END,   /* "---[ end Kernel panic - not syncing: … ]---": body of an open report, else a panic whose header was lost */
};

#define KL_TEXT_MAX 256

struct kl_frame {
	char symbol[96];
	uint32_t offset, size;
	char module[48];
	bool reliable;
};

struct kl_header {
	enum kl_kind kind;
	enum kl_role role;
	const char *cause;        /* static: null_deref, paging_request, … */
	int cpu;                  /* -1 unknown */
	int64_t pid;              /* -1 unknown */
	int64_t duration_s;       /* -1 unknown */
	int64_t pos;              /* sector / block, -1 */
	char comm[64];
	char location[KL_TEXT_MAX];  /* "drivers/xen/evtchn.c:264" */
	char detail[KL_TEXT_MAX];    /* address, panic reason, device, message … */
	char device[64];
	int severity;             /* -1: the kind's default */
	bool have_ip;             /* WARNING header "at file:line sym+off/size [mod]" */
	bool tentative;           /* a report only if a stack, task or CPU line follows */
	struct kl_frame ip;
};

/* Classify one kernel message text. Returns the kind (KL_NONE for
 * ordinary lines) and fills h. Fast path: most lines are rejected after a
 * couple of byte compares. */
enum kl_kind kl_classify(const char *t, size_t n, struct kl_header *h);

/* True when a line belongs to a report body (registers, frames, markers). */
bool kl_is_body(const char *t, size_t n);

/* Parse "[<addr>] ? sym+0xoff/0xsize [mod]" and the arm64 / 5.x+ forms. */
bool kl_parse_frame(const char *t, size_t n, struct kl_frame *f);
/* Parse "sym+0xoff/0xsize [mod]" starting at t (RIP, pc, lr values). */
bool kl_parse_symbol(const char *t, size_t n, struct kl_frame *f);

/* Frames that only say "this task sleeps / waits for a lock, a page, a
 * completion" (scheduler and locking plumbing). A hung task's or a sleeping
 * stack's culprit is the first frame that is not one of these. The one list. */
bool kl_wait_frame(const char *sym);

/* "comm/pid" ending at end (the comm may contain '/': "kworker/0:1/42") →
 * comm (bounded copy) and *pid; false (nothing written) when it is not one. */
bool kl_comm_slash_pid(const char *s, const char *end, char *comm, size_t size, int64_t *pid);

/* Bounded copy of n bytes of s into dst (size), trailing blanks trimmed. */
void kl_copy_text(char *dst, size_t size, const char *s, size_t n);
