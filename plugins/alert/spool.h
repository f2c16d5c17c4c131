/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The alert spool on disk: one file per event, `<seq>-<uuid>.ev`, holding a
 * header line `VIGILSPOOL1 <len> <crc32>` and the record JSON. The
 * functions here run on worker threads (the disk may be slow or dead):
 * no logging, no loop access, only their arguments. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ALERT_SPOOL_MAGIC "VIGILSPOOL1"
#define ALERT_SPOOL_RECORD_MAX (1024 * 1024) /* one record, bytes */
#define ALERT_SPOOL_NAME_MAX 80
#define ALERT_QUARANTINE_DIR "quarantine"
#define ALERT_QUARANTINE_KEEP 100
#define ALERT_CONDITIONS_FILE "conditions.json"

uint32_t alert_crc32(const void *buf, size_t len);

/* Header + body + "\n" (malloc'd). */
int alert_spool_encode(const char *body, size_t body_len, char **ret, size_t *ret_len);
/* Verify a whole file; on success *ret_body points into buf. -EBADMSG when
 * corrupt. */
int alert_spool_decode(const char *buf, size_t len, const char **ret_body, size_t *ret_body_len);
/* "%016x-<uuid>.ev" */
void alert_spool_name(uint64_t seq, const char *id, char buf[static ALERT_SPOOL_NAME_MAX]);
bool alert_spool_name_parse(const char *name, uint64_t *ret_seq);

enum alert_op_type {
	ALERT_OP_WRITE,      /* name, data: write atomically (tmp, fsync, rename) */
	ALERT_OP_UNLINK,     /* name: remove (ENOENT is fine) */
	ALERT_OP_QUARANTINE, /* name, data: write under quarantine/ and remove the spooled file */
};

struct alert_op {
	enum alert_op_type type;
	char name[ALERT_SPOOL_NAME_MAX];
	char *data;
	size_t len;
	int result; /* set by alert_spool_run() */
};

/* Run ops in order in dir (created 0700 if missing); one directory fsync at
 * the end. Per-op results in ops[i].result; returns the first error or 0. */
int alert_spool_run(const char *dir, struct alert_op *ops, size_t n);

struct alert_scan_entry {
	uint64_t seq;
	char name[ALERT_SPOOL_NAME_MAX];
	char *body; /* record JSON, NUL-terminated; NULL for over-limit entries */
	size_t len;
};

struct alert_scan {
	struct alert_scan_entry *entries; /* sorted by seq, oldest first */
	size_t n;
	size_t n_over;        /* oldest entries beyond the bounds: deleted, to be counted as dropped */
	unsigned corrupt;     /* moved to quarantine/ */
	unsigned stale_tmp;   /* leftover temp files removed */
	char *conditions;     /* conditions.json text or NULL */
	int error;            /* first I/O error (ignored entries) */
};

/* Read the spool in dir: verify every entry, quarantine the corrupt ones,
 * delete leftovers of interrupted writes, keep at most max_events /
 * max_bytes of the newest entries (the older ones are deleted and counted
 * in n_over). */
int alert_spool_scan(const char *dir, size_t max_events, uint64_t max_bytes, struct alert_scan *ret);
void alert_scan_clear(struct alert_scan *s);
