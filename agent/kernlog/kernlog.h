/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kernlog: the kernel-log library. Pure: no logging, no I/O of its own, no
 * global mutable state. It parses /dev/kmsg records and saved-log lines (raw
 * dmesg with or without timestamps, dmesg -x/-T, the kmsg record format,
 * journalctl -k short/short-precise/short-iso, syslog and RFC 5424,
 * vmcore-dmesg.txt, serial console captures, and joined syslog pastes),
 * assembles multi-line kernel reports (also interleaved ones, by caller id),
 * classifies them (soft_lockup, hung_task, oops, bug, panic, …), matches
 * known-issue signatures and turns each report into one struct vigil_event
 * with the DESIGN §5 fields. Used by the kmsg plugin (live and --replay), the
 * lastboot plugin (pstore / kdump dmesg), the unit tests and the fuzzers.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/plugin.h"

/* Bounds. Every kernel- or file-controlled size is capped here. */
#define KL_LINE_MAX 65536         /* longer input lines are cut (joined pastes can be long) */
#define KL_REPORT_MAX_LINES 512   /* lines kept per report; more mark it truncated */
#define KL_FRAMES_MAX 64          /* call-trace frames kept per report */
#define KL_OPEN_MAX 8             /* reports open at once (interleaving callers) */
#define KL_CALLER_MAX 16

/* ------------------------------------------------------------------------
 * Signatures (known issues): INI files, one section per issue:
 *
 *   [signature ovs-veth-tx-lockup]
 *   title = …
 *   fix = upstream commit / advice
 *   advice = what the operator should do
 *   kind = soft_lockup, panic          ; event kinds (globs allowed)
 *   frames = netdev_pick_tx, ovs_vport_send   ; ordered subsequence of frame symbols
 *   field.ip.symbol = ~^netdev_pick_tx$       ; dotted event path, PCRE2 with ~, else exact
 *   field.raw = ~virtblk                ; the report's raw lines: any line matching
 *   field.active_conditions = ~vhost_backend/ ; live only (kmsg adds them)
 *   kernel = >=4.14, <5.11              ; version constraints on the report's kernel
 *
 * The first matching signature (file order, files in lexical order) wins.
 * ------------------------------------------------------------------------ */
struct kl_signatures;

/* Load every *.conf of dir. A missing dir yields an empty set (0). Errors
 * carry "file:line: reason" in *ret_error (malloc'd; may be NULL). */
int kl_signatures_load_dir(const char *dir, struct kl_signatures **ret, char **ret_error);
/* Parse signatures from a string (tests, fuzzers); name is used in errors. */
int kl_signatures_load_string(const char *name, const char *text, struct kl_signatures **ret, char **ret_error);
struct kl_signatures *kl_signatures_free(struct kl_signatures *s);
size_t kl_signatures_count(const struct kl_signatures *s);
/* Match ev against sigs; on a match set known_issue on ev and return 1;
 * 0 when none matches. */
int kl_signatures_apply(const struct kl_signatures *s, struct vigil_event *ev);

/* ------------------------------------------------------------------------
 * Lines and records
 * ------------------------------------------------------------------------ */

enum kl_format {
	KL_FMT_UNKNOWN = 0,
	KL_FMT_RAW,        /* bare message text */
	KL_FMT_DMESG,      /* "[  12.345678] text", optional "[T123]" caller */
	KL_FMT_DMESG_X,    /* "kern  :err   : [ 12.3] text" */
	KL_FMT_DMESG_T,    /* "[Mon Nov 22 13:45:00 2026] text" */
	KL_FMT_KMSG,       /* "prio,seq,ts,flags[,caller];text" */
	KL_FMT_SYSLOG,     /* "Nov 22 13:45:00 host kernel: …" (also journalctl -k short/short-precise) */
	KL_FMT_ISO,        /* "2026-11-22T13:45:00+0000 host kernel: …" (short-iso, rsyslog) */
	KL_FMT_RFC5424,    /* "<4>1 2026-11-22T13:45:00Z host kernel - - - …" */
	KL_FMT_KMSG_DICT,  /* " SUBSYSTEM=…" continuation of a kmsg record */
};

struct kl_line {
	const char *text;        /* message text (borrowed), prefixes stripped */
	size_t len;
	enum kl_format format;
	int level;               /* 0..7, -1 unknown */
	int facility;            /* 0 kernel, >0 other, -1 unknown */
	bool kernel;             /* false: a userspace/other-program line: never classified */
	bool cont;               /* kmsg 'c' flag (continuation fragment) */
	uint64_t seq;            /* kmsg sequence number, 0 when none */
	int64_t ts_usec;         /* kernel timestamp (since boot), -1 when none */
	char caller[KL_CALLER_MAX]; /* "T123" / "C2", "" when none */
};

/* Parse one /dev/kmsg record (one read(): header, text, dictionary lines).
 * Text escapes (\xNN) are left as they are. Returns 0 or -EINVAL (malformed).
 * *ret_subsystem/ *ret_device (optional) point into buf or are NULL. */
struct kl_record {
	struct kl_line line;
	const char *subsystem;
	size_t subsystem_len;
	const char *device;
	size_t device_len;
};
int kl_parse_record(const char *buf, size_t len, struct kl_record *ret);

/* Detect the format of one saved-log line (no newline) and strip its
 * prefixes. Always succeeds for len <= KL_LINE_MAX; returns 0. */
int kl_parse_line(const char *buf, size_t len, struct kl_line *ret);

/* ------------------------------------------------------------------------
 * Streaming scanner: assembly + classification + signatures + events
 * ------------------------------------------------------------------------ */

/* cb gets one new reference (ownership passes, also when cb fails). A
 * negative return from cb stops the current feed call and is returned. */
typedef int (*kl_event_fn)(struct vigil_event *ev, void *userdata);

struct kl_scanner;

struct kl_stats {
	uint64_t lines;          /* lines/records fed */
	uint64_t non_kernel;     /* ignored: not from the kernel (facility, syslog tag) */
	uint64_t reports;        /* reports assembled */
	uint64_t events;         /* events handed to cb */
	uint64_t partial;        /* reports emitted partial */
	uint64_t truncated_lines;/* lines cut at KL_LINE_MAX */
	uint64_t dismissed;      /* "WARNING: text" messages that turned out to be no report */
};

/* sigs is borrowed (may be NULL) and must outlive the scanner or be
 * replaced with kl_scanner_set_signatures(). */
int kl_scanner_new(const struct kl_signatures *sigs, kl_event_fn cb, void *userdata, struct kl_scanner **ret);
struct kl_scanner *kl_scanner_free(struct kl_scanner *s);
void kl_scanner_set_signatures(struct kl_scanner *s, const struct kl_signatures *sigs);
/* Feed one parsed line (from kl_parse_line or kl_parse_record). Returns the
 * number of events emitted or a negative errno from cb. */
int kl_scanner_feed(struct kl_scanner *s, const struct kl_line *l);
/* Feed one saved-log line of any format (no trailing newline); splits
 * joined syslog pastes. */
int kl_scanner_feed_text(struct kl_scanner *s, const char *buf, size_t len);
/* Feed a chunk of a saved log; keeps an incomplete last line for the next
 * call. kl_scanner_finish() flushes it and every open report. */
int kl_scanner_feed_chunk(struct kl_scanner *s, const char *buf, size_t len);
/* Emit every open report (quiet period in live mode, end of input). */
int kl_scanner_flush(struct kl_scanner *s);
int kl_scanner_finish(struct kl_scanner *s);
bool kl_scanner_has_open(const struct kl_scanner *s);
const struct kl_stats *kl_scanner_stats(const struct kl_scanner *s);
/* Events from this scanner get realtime = base + kernel timestamp when the
 * log carries none of its own (0 = leave unset). */
void kl_scanner_set_boot_time(struct kl_scanner *s, uint64_t boot_realtime_usec);

/* Parse a saved log (any supported format) held in buf, assemble and
 * classify every report, match signatures, and hand each resulting event
 * (one new reference, ownership passed) to cb. Returns number of events or
 * <0. */
int kl_scan_buffer(const char *buf, size_t len, const struct kl_signatures *sigs,
		   int (*cb)(struct vigil_event *ev, void *userdata), void *userdata);

/* Parse "5.10.0-136.x" style kernel releases into a comparable number
 * (major<<32 | minor<<16 | patch); 0 when unparsable. */
uint64_t kl_kernel_version(const char *release);
