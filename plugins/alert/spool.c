/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The alert spool on disk. Why one file per event rather than an append
 * log: removal after delivery is an unlink (no compaction, no rewrite of a
 * big file on a dying disk), a torn write can only hit the one record being
 * written (and the tmp+rename makes even that invisible), and a corrupt file
 * is quarantined by a rename. Each file carries its own length and CRC-32,
 * so bit rot or a truncated file is detected at re-read. A batch of writes
 * shares one directory fsync, so a burst of events costs one fsync per file
 * plus one. Everything here runs on worker threads: no logging, no loop.
 */
#include "spool.h"

#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t alert_crc32(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t c = 0xffffffffu;
	pthread_once(&crc_once, crc_init);
	for (size_t i = 0; i < len; i++)
		c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

int alert_spool_encode(const char *body, size_t body_len, char **ret, size_t *ret_len)
{
	char hdr[64];
	int h = snprintf(hdr, sizeof(hdr), ALERT_SPOOL_MAGIC " %zu %08" PRIx32 "\n", body_len,
			 alert_crc32(body, body_len));
	char *out = malloc((size_t)h + body_len + 1);
	if (!out)
		return -ENOMEM;
	memcpy(out, hdr, (size_t)h);
	memcpy(out + h, body, body_len);
	out[(size_t)h + body_len] = '\n';
	*ret = out;
	*ret_len = (size_t)h + body_len + 1;
	return 0;
}

int alert_spool_decode(const char *buf, size_t len, const char **ret_body, size_t *ret_body_len)
{
	const char *nl = memchr(buf, '\n', len < 64 ? len : 64);
	char hdr[64], magic[16];
	size_t blen;
	uint32_t crc;
	int n = 0;

	if (!nl)
		return -EBADMSG;
	memcpy(hdr, buf, (size_t)(nl - buf));
	hdr[nl - buf] = 0;
	if (sscanf(hdr, "%15s %zu %" SCNx32 "%n", magic, &blen, &crc, &n) != 3 || (size_t)n != strlen(hdr) ||
	    strcmp(magic, ALERT_SPOOL_MAGIC) != 0)
		return -EBADMSG;
	const char *body = nl + 1;
	size_t avail = len - (size_t)(body - buf);
	if (blen > ALERT_SPOOL_RECORD_MAX || avail != blen + 1 || body[blen] != '\n')
		return -EBADMSG;
	if (alert_crc32(body, blen) != crc)
		return -EBADMSG;
	*ret_body = body;
	*ret_body_len = blen;
	return 0;
}

void alert_spool_name(uint64_t seq, const char *id, char buf[static ALERT_SPOOL_NAME_MAX])
{
	snprintf(buf, ALERT_SPOOL_NAME_MAX, "%016" PRIx64 "-%.36s.ev", seq, id);
}

bool alert_spool_name_parse(const char *name, uint64_t *ret_seq)
{
	size_t l = strlen(name);
	uint64_t seq = 0;
	/* 16 hex, '-', 36 uuid, ".ev" */
	if (l != 16 + 1 + 36 + 3 || name[16] != '-' || strcmp(name + l - 3, ".ev") != 0)
		return false;
	for (int i = 0; i < 16; i++) {
		char c = name[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return false;
		seq = seq << 4 | (uint64_t)d;
	}
	for (int i = 17; i < 17 + 36; i++)
		if (!strchr("0123456789abcdef-", name[i]))
			return false;
	*ret_seq = seq;
	return true;
}

static int open_dir(const char *dir, bool create)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		/* Parent first (…/alert), then the instance dir. */
		char parent[4096];
		snprintf(parent, sizeof(parent), "%s", dir);
		char *slash = strrchr(parent, '/');
		if (slash && slash != parent) {
			*slash = 0;
			if (mkdir(parent, 0700) < 0 && errno != EEXIST)
				return -errno;
		}
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -errno;
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	return fd < 0 ? -errno : fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* tmp, write, fdatasync, rename: a reader sees the old file or the whole
 * new one. ENOSPC shows up here (write or fdatasync). */
static int write_atomic(int dfd, const char *name, const char *data, size_t len)
{
	char tmp[ALERT_SPOOL_NAME_MAX + 8];
	int fd, r;

	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	r = write_all(fd, data, len);
	if (r == 0 && fdatasync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0 && errno != EINTR)
		r = -errno;
	if (r == 0 && renameat(dfd, tmp, dfd, name) < 0)
		r = -errno;
	if (r < 0)
		(void)unlinkat(dfd, tmp, 0);
	return r;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Keep the quarantine bounded: remove the oldest names beyond the limit. */
static void quarantine_prune(int qfd)
{
	int fd = dup(qfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)) && n < 100000) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			char **nn = realloc(names, nc * sizeof(*names));
			if (!nn)
				break;
			names = nn;
			cap = nc;
		}
		if (!(names[n] = strdup(de->d_name)))
			break;
		n++;
	}
	closedir(d);
	if (n > ALERT_QUARANTINE_KEEP) {
		qsort(names, n, sizeof(*names), cmp_str);
		for (size_t i = 0; i < n - ALERT_QUARANTINE_KEEP; i++)
			(void)unlinkat(qfd, names[i], 0);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int quarantine_fd(int dfd)
{
	if (mkdirat(dfd, ALERT_QUARANTINE_DIR, 0700) < 0 && errno != EEXIST)
		return -errno;
	int q = openat(dfd, ALERT_QUARANTINE_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return q < 0 ? -errno : q;
}

int alert_spool_run(const char *dir, struct alert_op *ops, size_t n)
{
	int dfd, qfd = -1, first = 0;
	bool dirty = false, quarantined = false;

	dfd = open_dir(dir, true);
	if (dfd < 0) {
		for (size_t i = 0; i < n; i++)
			ops[i].result = dfd;
		return dfd;
	}
	for (size_t i = 0; i < n; i++) {
		struct alert_op *op = &ops[i];
		int r = 0;
		switch (op->type) {
		case ALERT_OP_WRITE:
			r = write_atomic(dfd, op->name, op->data, op->len);
			dirty = dirty || r == 0;
			break;
		case ALERT_OP_UNLINK:
			r = unlinkat(dfd, op->name, 0) < 0 && errno != ENOENT ? -errno : 0;
			dirty = true;
			break;
		case ALERT_OP_QUARANTINE:
			if (qfd < 0)
				qfd = quarantine_fd(dfd);
			r = qfd < 0 ? qfd : write_atomic(qfd, op->name, op->data, op->len);
			if (unlinkat(dfd, op->name, 0) < 0 && errno != ENOENT && r == 0)
				r = -errno;
			quarantined = true;
			dirty = true;
			break;
		}
		op->result = r;
		if (r < 0 && first == 0)
			first = r;
	}
	if (qfd >= 0) {
		if (quarantined)
			quarantine_prune(qfd);
		(void)fsync(qfd);
		close(qfd);
	}
	if (dirty && fsync(dfd) < 0 && first == 0)
		first = -errno;
	close(dfd);
	return first;
}

static int read_bounded(int dfd, const char *name, size_t max, char **ret, size_t *ret_len)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;
	char *buf;
	size_t got = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		int r = !S_ISREG(st.st_mode) ? -EBADMSG : (uint64_t)st.st_size > max ? -EFBIG : -errno;
		close(fd);
		return r;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? -errno : -EBADMSG;
			free(buf);
			close(fd);
			return e;
		}
		got += (size_t)r;
	}
	close(fd);
	buf[got] = 0;
	*ret = buf;
	*ret_len = got;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct alert_scan_entry *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq ? 1 : strcmp(x->name, y->name);
}

static void quarantine_rename(int dfd, const char *name)
{
	int q = quarantine_fd(dfd);
	if (q < 0) {
		(void)unlinkat(dfd, name, 0);
		return;
	}
	if (renameat(dfd, name, q, name) < 0)
		(void)unlinkat(dfd, name, 0);
	quarantine_prune(q);
	close(q);
}

int alert_spool_scan(const char *dir, size_t max_events, uint64_t max_bytes, struct alert_scan *ret)
{
	struct alert_scan s = {0};
	size_t cap = 0;
	int dfd, fd;
	DIR *d;
	struct dirent *de;

	dfd = open_dir(dir, true);
	if (dfd < 0)
		return dfd;
	fd = dup(dfd);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		int r = -errno;
		if (fd >= 0)
			close(fd);
		close(dfd);
		return r;
	}
	while ((de = readdir(d))) {
		uint64_t seq;
		if (de->d_name[0] == '.') {
			/* Leftover of a write interrupted by a crash. */
			size_t l = strlen(de->d_name);
			if (l > 4 && strcmp(de->d_name + l - 4, ".tmp") == 0) {
				(void)unlinkat(dfd, de->d_name, 0);
				s.stale_tmp++;
			}
			continue;
		}
		if (strcmp(de->d_name, ALERT_CONDITIONS_FILE) == 0) {
			char *txt = NULL;
			size_t len;
			if (read_bounded(dfd, de->d_name, ALERT_SPOOL_RECORD_MAX, &txt, &len) == 0)
				s.conditions = txt;
			continue;
		}
		if (!alert_spool_name_parse(de->d_name, &seq))
			continue; /* quarantine/ and foreign files */
		if (s.n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct alert_scan_entry *ne = realloc(s.entries, nc * sizeof(*ne));
			if (!ne) {
				s.error = -ENOMEM;
				break;
			}
			s.entries = ne;
			cap = nc;
		}
		s.entries[s.n] = (struct alert_scan_entry){.seq = seq};
		memcpy(s.entries[s.n].name, de->d_name, strlen(de->d_name) + 1); /* parse checked the length */
		s.n++;
	}
	closedir(d);
	if (s.n)
		qsort(s.entries, s.n, sizeof(*s.entries), cmp_entry);

	/* Newest first, within the bounds; verify each. */
	uint64_t bytes = 0;
	size_t kept = 0;
	for (size_t i = s.n; i-- > 0;) {
		struct alert_scan_entry *e = &s.entries[i];
		char *buf = NULL;
		size_t len;
		const char *body;
		size_t blen;
		int r;

		if (kept >= max_events || bytes >= max_bytes) {
			(void)unlinkat(dfd, e->name, 0);
			s.n_over++;
			continue;
		}
		r = read_bounded(dfd, e->name, ALERT_SPOOL_RECORD_MAX + 64, &buf, &len);
		if (r == -ENOENT)
			continue;
		if (r == 0)
			r = alert_spool_decode(buf, len, &body, &blen);
		if (r == -EBADMSG || r == -EFBIG) {
			quarantine_rename(dfd, e->name);
			s.corrupt++;
			free(buf);
			continue;
		}
		if (r < 0) {
			if (!s.error)
				s.error = r;
			free(buf);
			continue;
		}
		memmove(buf, body, blen);
		buf[blen] = 0;
		e->body = buf;
		e->len = blen;
		bytes += blen;
		kept++;
	}
	/* Compact: keep only loaded entries, in order. */
	size_t o = 0;
	for (size_t i = 0; i < s.n; i++)
		if (s.entries[i].body)
			s.entries[o++] = s.entries[i];
	s.n = o;
	(void)fsync(dfd);
	close(dfd);
	*ret = s;
	return 0;
}

void alert_scan_clear(struct alert_scan *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->entries[i].body);
	free(s->entries);
	free(s->conditions);
	*s = (struct alert_scan){0};
}
