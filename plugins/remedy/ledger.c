/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reboot ledger: text format, checksum, and the loop-guard decision. The
 * format is line based so an operator can read it:
 *
 *   version 1
 *   suppress_until 0
 *   reboot <realtime_usec> <uptime_usec> <boot_id> <mode> <reason, %XX-escaped>
 *   checksum <FNV-1a 64 of every byte before this line, hex>
 *
 * Anything unexpected makes the whole file corrupt: a guard that guesses is
 * no guard. */
#include "ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *ledger_verdict_to_string(enum ledger_verdict v)
{
	switch (v) {
	case LEDGER_ALLOW:
		return "allow";
	case LEDGER_REFUSE_UPTIME:
		return "min_uptime";
	case LEDGER_REFUSE_COUNT:
		return "max_reboots";
	case LEDGER_REFUSE_CORRUPT:
		return "ledger_corrupt";
	}
	return "unknown";
}

static uint64_t fnv1a(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static bool word_ok(const char *w, size_t max)
{
	size_t l = strlen(w);
	if (l == 0 || l >= max)
		return false;
	for (; *w; w++)
		if (!((*w >= 'a' && *w <= 'z') || (*w >= '0' && *w <= '9') || *w == '-' || *w == '_'))
			return false;
	return true;
}

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	if (!s || *s < '0' || *s > '9')
		return -EBADMSG;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EBADMSG;
	*ret = v;
	return 0;
}

static int unescape(const char *in, char *out, size_t size)
{
	size_t o = 0;
	for (const char *p = in; *p; p++) {
		char c = *p;
		if (c == '%') {
			unsigned v;
			if (!p[1] || !p[2] || sscanf(p + 1, "%2x", &v) != 1)
				return -EBADMSG;
			c = (char)v;
			p += 2;
		} else if ((unsigned char)c <= ' ' || c == 0x7f)
			return -EBADMSG;
		if (o + 1 >= size)
			return -EBADMSG;
		out[o++] = c;
	}
	out[o] = 0;
	return 0;
}

int ledger_parse(const char *buf, size_t len, struct ledger *ret)
{
	/* Static-size work area: the parse may run where malloc is unwelcome,
	 * and the bound is the file bound anyway. */
	static const char ck[] = "checksum ";
	struct ledger l = {0};
	bool have_version = false, have_sum = false, have_suppress = false;
	size_t pos = 0;

	if (len == 0 || len > LEDGER_FILE_MAX || memchr(buf, 0, len))
		return -EBADMSG;
	while (pos < len) {
		const char *line = buf + pos;
		const char *nl = memchr(line, '\n', len - pos);
		if (!nl)
			return -EBADMSG; /* every line ends with a newline, the last too */
		size_t ll = (size_t)(nl - line);
		char tmp[LEDGER_REASON_MAX * 3 + 256];
		if (ll >= sizeof(tmp))
			return -EBADMSG;
		memcpy(tmp, line, ll);
		tmp[ll] = 0;
		if (have_sum)
			return -EBADMSG; /* nothing after the checksum */
		if (tmp[0] == '#' && !have_version) {
			/* comment header */
		} else if (!have_version) {
			if (strcmp(tmp, "version 1") != 0)
				return -EBADMSG;
			have_version = true;
		} else if (strncmp(tmp, ck, sizeof(ck) - 1) == 0) {
			char *end;
			errno = 0;
			unsigned long long sum = strtoull(tmp + sizeof(ck) - 1, &end, 16);
			if (errno || *end || end == tmp + sizeof(ck) - 1)
				return -EBADMSG;
			if (sum != fnv1a(buf, pos))
				return -EBADMSG;
			have_sum = true;
		} else if (strncmp(tmp, "suppress_until ", 15) == 0) {
			if (have_suppress || parse_u64(tmp + 15, &l.suppress_until_usec) < 0)
				return -EBADMSG;
			have_suppress = true;
		} else if (strncmp(tmp, "reboot ", 7) == 0) {
			char *save = NULL, *f[6];
			size_t nf = 0;
			for (char *t = strtok_r(tmp + 7, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
				if (nf == 5)
					return -EBADMSG;
				f[nf++] = t;
			}
			if (nf != 5 || l.n >= LEDGER_MAX)
				return -EBADMSG;
			struct ledger_entry *e = &l.e[l.n];
			if (parse_u64(f[0], &e->realtime_usec) < 0 || parse_u64(f[1], &e->uptime_usec) < 0 ||
			    !word_ok(f[2], sizeof(e->boot_id)) || !word_ok(f[3], sizeof(e->mode)) ||
			    unescape(f[4], e->reason, sizeof(e->reason)) < 0)
				return -EBADMSG;
			strcpy(e->boot_id, f[2]);
			strcpy(e->mode, f[3]);
			l.n++;
		} else
			return -EBADMSG;
		pos += ll + 1;
	}
	if (!have_version || !have_sum)
		return -EBADMSG;
	*ret = l;
	return 0;
}

static int append(char *buf, size_t size, size_t *pos, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int append(char *buf, size_t size, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	if (*pos >= size)
		return -ENOBUFS;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *pos, size - *pos, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - *pos)
		return -ENOBUFS;
	*pos += (size_t)n;
	return 0;
}

int ledger_format(const struct ledger *l, char *buf, size_t size)
{
	size_t pos = 0;
	int r;

	r = append(buf, size, &pos,
		   "# vigil reboot ledger (loop guard). Do not edit: a corrupt ledger refuses reboots for one window.\n"
		   "version 1\nsuppress_until %" PRIu64 "\n",
		   l->suppress_until_usec);
	if (r < 0)
		return r;
	for (size_t i = 0; i < l->n; i++) {
		const struct ledger_entry *e = &l->e[i];
		char esc[LEDGER_REASON_MAX * 3 + 1];
		size_t o = 0;
		for (const char *p = e->reason; *p && o + 4 < sizeof(esc); p++) {
			unsigned char c = (unsigned char)*p;
			if (c <= ' ' || c == '%' || c == 0x7f)
				o += (size_t)snprintf(esc + o, sizeof(esc) - o, "%%%02X", c);
			else
				esc[o++] = (char)c;
		}
		if (o == 0)
			esc[o++] = '-';
		esc[o] = 0;
		r = append(buf, size, &pos, "reboot %" PRIu64 " %" PRIu64 " %s %s %s\n", e->realtime_usec,
			   e->uptime_usec, e->boot_id[0] ? e->boot_id : "unknown", e->mode[0] ? e->mode : "unknown",
			   esc);
		if (r < 0)
			return r;
	}
	uint64_t sum = fnv1a(buf, pos);
	r = append(buf, size, &pos, "checksum %016" PRIx64 "\n", sum);
	if (r < 0)
		return r;
	return (int)pos;
}

int ledger_load(int dirfd, const char *name, struct ledger *ret)
{
	char buf[LEDGER_FILE_MAX + 1];
	size_t len = 0;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = -errno;
			close(fd);
			return e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == sizeof(buf)) {
			close(fd);
			return -EBADMSG; /* larger than any ledger we write */
		}
	}
	close(fd);
	return ledger_parse(buf, len, ret);
}

unsigned ledger_count_in_window(const struct ledger *l, uint64_t now_usec, uint64_t window_usec)
{
	unsigned n = 0;
	for (size_t i = 0; i < l->n; i++) {
		uint64_t t = l->e[i].realtime_usec;
		if (t >= now_usec || now_usec - t < window_usec)
			n++;
	}
	return n;
}

enum ledger_verdict ledger_decide(const struct ledger *l, const struct ledger_policy *p, uint64_t now_usec,
				  uint64_t uptime_usec, unsigned *ret_count)
{
	unsigned n = ledger_count_in_window(l, now_usec, p->window_usec);
	if (ret_count)
		*ret_count = n;
	if (uptime_usec < p->min_uptime_usec)
		return LEDGER_REFUSE_UPTIME;
	/* The suppression is anchored to the clock of the boot that found the
	 * corruption; a clock that went back beyond it does not lift it early
	 * only if it is still in the future, which is what we want. */
	if (l->suppress_until_usec && now_usec < l->suppress_until_usec)
		return LEDGER_REFUSE_CORRUPT;
	if (n >= p->max_reboots)
		return LEDGER_REFUSE_COUNT;
	return LEDGER_ALLOW;
}

void ledger_add(struct ledger *l, const struct ledger_entry *e)
{
	if (l->n == LEDGER_MAX) {
		memmove(&l->e[0], &l->e[1], sizeof(l->e[0]) * (LEDGER_MAX - 1));
		l->n--;
	}
	l->e[l->n++] = *e;
}

void ledger_reset_after_corruption(struct ledger *l, uint64_t now_usec, uint64_t window_usec)
{
	memset(l, 0, sizeof(*l));
	l->suppress_until_usec = now_usec + window_usec;
}
