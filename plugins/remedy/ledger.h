/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The reboot loop guard: a small, checksummed ledger of the reboots vigil
 * asked for, kept in the state dir so it survives the reboots it records,
 * and the pure decision "may we reboot now?". No logging, no I/O except
 * ledger_load(); the reboot plugin owns the policy around it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LEDGER_MAX 64           /* entries kept; the oldest falls off */
#define LEDGER_REASON_MAX 160
/* Worst case of ledger_format(): every reason byte %-escaped. The file we
 * read back has the same bound, so anything we wrote always loads. */
#define LEDGER_BUF_SIZE (LEDGER_MAX * (LEDGER_REASON_MAX * 3 + 128) + 512)
#define LEDGER_FILE_MAX LEDGER_BUF_SIZE

struct ledger_entry {
	uint64_t realtime_usec; /* when the reboot was decided (CLOCK_REALTIME) */
	uint64_t uptime_usec;   /* CLOCK_BOOTTIME at the decision */
	char boot_id[33];       /* boot that asked for it */
	char mode[16];          /* graceful|forced|panic */
	char reason[LEDGER_REASON_MAX];
};

struct ledger {
	/* Realtime until which every reboot is refused: set when a corrupt
	 * ledger was found (we cannot prove the VM is not looping, so we assume
	 * the window is full for one window). 0 = none. */
	uint64_t suppress_until_usec;
	size_t n;
	struct ledger_entry e[LEDGER_MAX]; /* oldest first */
};

struct ledger_policy {
	unsigned max_reboots;     /* per window; 0 = never reboot */
	uint64_t window_usec;
	uint64_t min_uptime_usec; /* no reboot before this much uptime (independent of the file) */
};

enum ledger_verdict {
	LEDGER_ALLOW,
	LEDGER_REFUSE_UPTIME,
	LEDGER_REFUSE_COUNT,
	LEDGER_REFUSE_CORRUPT,
};

const char *ledger_verdict_to_string(enum ledger_verdict v);

/* Parse the text form. -EBADMSG when anything is off (bad header, bad line,
 * checksum mismatch, too many entries); *ret is then untouched. */
int ledger_parse(const char *buf, size_t len, struct ledger *ret);
/* Serialise into buf (no allocation: the reboot path preallocates).
 * Returns the length or -ENOBUFS. */
int ledger_format(const struct ledger *l, char *buf, size_t size);
/* Read dirfd/name. -ENOENT: no ledger yet (caller starts empty); -EBADMSG:
 * corrupt; other negative errno: unreadable. */
int ledger_load(int dirfd, const char *name, struct ledger *ret);

/* Entries counted against the window at now: those younger than the window
 * and those from the future (the clock went back: count them, conservative). */
unsigned ledger_count_in_window(const struct ledger *l, uint64_t now_usec, uint64_t window_usec);
enum ledger_verdict ledger_decide(const struct ledger *l, const struct ledger_policy *p, uint64_t now_usec,
				  uint64_t uptime_usec, unsigned *ret_count);
/* Append (dropping the oldest beyond LEDGER_MAX). */
void ledger_add(struct ledger *l, const struct ledger_entry *e);
/* Start over after corruption: empty, and refuse reboots until now + window. */
void ledger_reset_after_corruption(struct ledger *l, uint64_t now_usec, uint64_t window_usec);
