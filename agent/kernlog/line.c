/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kernlog line layer: /dev/kmsg records and saved-log line formats, detected
 * per line. Every format reduces to a struct kl_line: the kernel message
 * text with its prefixes stripped, plus level, facility, kernel timestamp and
 * printk caller id where the format carries them. Lines from other programs
 * (syslog tags other than "kernel", non-kernel facilities) are marked
 * kernel = false so the classifier never sees spoofable text.
 */
#include "kernlog/internal.h"

#include <errno.h>
#include <string.h>

static inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
static inline bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static inline bool is_space(char c) { return c == ' ' || c == '\t'; }

/* Parse an unsigned decimal at *p (< end); advances *p. false if none. */
static bool parse_u64(const char **p, const char *end, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;
	if (s >= end || !is_digit(*s))
		return false;
	/* at most 19 digits: cannot overflow */
	const char *lim = end - s > 19 ? s + 19 : end;
	for (; s < lim && is_digit(*s); s++)
		v = v * 10 + (uint64_t)(*s - '0');
	if (s < end && is_digit(*s))
		return false;
	*p = s;
	*ret = v;
	return true;
}

static void line_init(struct kl_line *l, const char *text, size_t len)
{
	l->text = text;
	l->len = len;
	l->format = KL_FMT_RAW;
	l->level = -1;
	l->facility = -1;
	l->kernel = true;
	l->cont = false;
	l->seq = 0;
	l->ts_usec = -1;
	l->caller[0] = 0;
}

/* "[T123]" / "[  C2]" caller field (CONFIG_PRINTK_CALLER) at p; returns the
 * position after it (and one optional space) or p when absent. */
static const char *parse_caller_brackets(const char *p, const char *end, struct kl_line *l)
{
	const char *s = p;
	if (s >= end || *s != '[')
		return p;
	s++;
	while (s < end && *s == ' ')
		s++;
	if (s >= end || (*s != 'T' && *s != 'C'))
		return p;
	const char *id = s++;
	if (s >= end || !is_digit(*s))
		return p;
	while (s < end && is_digit(*s))
		s++;
	if (s >= end || *s != ']' || (size_t)(s - id) >= KL_CALLER_MAX)
		return p;
	memcpy(l->caller, id, (size_t)(s - id));
	l->caller[s - id] = 0;
	s++;
	if (s < end && *s == ' ')
		s++;
	return s;
}

/* "[  12.345678]" (p at the '[') → position after "] " or NULL; *ret_ts
 * in µs unless ret_ts is NULL (the replay fast path only needs the shape).
 * Seconds: 1-19 digits worth at most INT64_MAX µs; fraction: 0-9 digits
 * ("[  240.]": some MIPS/3.0 consoles). Runs for every line of a saved log:
 * plain digit loops, and the seconds' value is only needed to bound a
 * stamp of more than 12 digits. */
const char *kl_dmesg_stamp_end(const char *p, const char *end, int64_t *ret_ts)
{
	const char *s = p + 1;
	while (s < end && *s == ' ')
		s++;
	const char *d = s;
	while (s < end && is_digit(*s))
		s++;
	size_t ni = (size_t)(s - d);
	if (ni == 0 || ni > 19 || s >= end || *s != '.')
		return NULL;
	const char *f = ++s;
	if (end - s > 7 && is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) && is_digit(s[4]) &&
	    is_digit(s[5]) && s[6] == ']' && ni <= 12 && !ret_ts) {
		/* "%06lu]": the usual shape, value not wanted (the replay fast path) */
		s += 7;
		if (*s == ' ')
			s++;
		return s;
	}
	while (s < end && is_digit(*s))
		s++;
	size_t nd = (size_t)(s - f);
	if (s < end && *s == '@') {
		/* Amlogic vendor kernels: "[    7.915169@0] " (the CPU after '@') */
		const char *c = s + 1;
		while (c < end && is_digit(*c) && c - s <= 4)
			c++;
		if (c > s + 1)
			s = c;
	}
	if (s >= end || *s != ']' || nd > 9)
		return NULL;
	if (ni > 12 || ret_ts) {
		uint64_t sec = 0, frac = 0;
		for (const char *c = d; c < d + ni; c++)
			sec = sec * 10 + (uint64_t)(*c - '0');
		if (sec > INT64_MAX / 1000000 - 1)
			return NULL;
		if (ret_ts) {
			for (const char *c = f; c < f + nd; c++)
				frac = frac * 10 + (uint64_t)(*c - '0');
			for (; nd < 6; nd++)
				frac *= 10;
			for (; nd > 6; nd--)
				frac /= 10;
			*ret_ts = (int64_t)(sec * 1000000 + frac);
		}
	}
	s++;
	if (s < end && *s == ' ')
		s++;
	return s;
}

static bool is_month(const char *p, const char *end)
{
	if (end - p < 3)
		return false;
#define M3(a, b, c) ((uint32_t)(a) << 16 | (uint32_t)(b) << 8 | (uint32_t)(c))
	switch (M3((uint8_t)p[0], (uint8_t)p[1], (uint8_t)p[2])) {
	case M3('J', 'a', 'n'): case M3('F', 'e', 'b'): case M3('M', 'a', 'r'): case M3('A', 'p', 'r'):
	case M3('M', 'a', 'y'): case M3('J', 'u', 'n'): case M3('J', 'u', 'l'): case M3('A', 'u', 'g'):
	case M3('S', 'e', 'p'): case M3('O', 'c', 't'): case M3('N', 'o', 'v'): case M3('D', 'e', 'c'):
		return true;
	default:
		return false;
	}
#undef M3
}

/* A month name in another locale (journalctl and rsyslog print %b of the
 * locale: "апр", "Mär", "févr.", "mai"): 3..12 bytes of letters, UTF-8 or
 * '.', then a space. Returns the length or 0. */
static size_t locale_month_len(const char *p, const char *end)
{
	size_t i = 0;
	while (p + i < end && i < 13) {
		unsigned char c = (unsigned char)p[i];
		if (!(c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.'))
			break;
		i++;
	}
	return i >= 3 && i <= 12 && p + i < end && p[i] == ' ' ? i : 0;
}

/* s at the closing ']' of a stamp: the position after it and one blank, or NULL */
static const char *stamp_close(const char *s, const char *end)
{
	if (s >= end || *s != ']')
		return NULL;
	s++;
	if (s < end && *s == ' ')
		s++;
	return s;
}

/* "HH:MM:SS" with optional ".frac"; returns position after or NULL. */
static const char *parse_hms(const char *s, const char *end)
{
	if (end - s < 8 || !is_digit(s[0]) || !is_digit(s[1]) || s[2] != ':' || !is_digit(s[3]) || !is_digit(s[4]) ||
	    s[5] != ':' || !is_digit(s[6]) || !is_digit(s[7]))
		return NULL;
	s += 8;
	if (s < end && (*s == '.' || *s == ',')) {
		s++;
		while (s < end && is_digit(*s))
			s++;
	}
	return s;
}

/* "Mon DD HH:MM:SS[.frac] " → position after the trailing space, or NULL. */
const char *kl_syslog_stamp_end(const char *p, const char *end)
{
	size_t ml = 3;
	if (end - p < 16)
		return NULL;
	if (!is_month(p, end) || p[3] != ' ') {
		ml = locale_month_len(p, end);
		if (!ml)
			return NULL;
	}
	const char *s = p + ml + 1;
	if (end - s < 11)
		return NULL;
	if (*s == ' ')
		s++;
	if (!is_digit(*s))
		return NULL;
	s++;
	if (s < end && is_digit(*s))
		s++;
	if (s >= end || *s != ' ')
		return NULL;
	s = parse_hms(s + 1, end);
	if (!s || s >= end || *s != ' ')
		return NULL;
	return s + 1;
}

/* "YYYY-MM-DDTHH:MM:SS[.frac][Z|±hh[:]mm] " → after the space, or NULL. */
static const char *iso_stamp_end(const char *s, const char *end)
{
	if (end - s < 20 || !is_digit(s[0]) || !is_digit(s[1]) || !is_digit(s[2]) || !is_digit(s[3]) ||
	    s[4] != '-' || !is_digit(s[5]) || !is_digit(s[6]) || s[7] != '-' || !is_digit(s[8]) ||
	    !is_digit(s[9]) || (s[10] != 'T' && s[10] != ' '))
		return NULL;
	s = parse_hms(s + 11, end);
	if (!s)
		return NULL;
	while (s < end && !is_space(*s))
		s++; /* zone */
	if (s >= end)
		return NULL;
	return s + 1;
}

/* vmware.log: "2023-12-04T10:49:30.127Z In(05) vcpu-5 - Guest: <6>[ ts] msg"
 * (older: "…Z| vcpu-0| I125: Guest: <6>[ ts] msg") → the guest's kernel line
 * ('<' or '[' follows), or NULL */
static const char *find_vmware_guest(const char *q, const char *end)
{
	size_t n = (size_t)(end - q) < 48 ? (size_t)(end - q) : 48;
	const char *g = n >= 8 ? memmem(q, n, " Guest: ", 8) : NULL;
	if (!g || !memmem(q, (size_t)(g - q), "vcpu-", 5) || end - g < 10 || (g[8] != '<' && g[8] != '['))
		return NULL;
	return g + 8;
}

/* After a syslog-style stamp: "host tag[pid]: msg". Sets kernel by tag. */
static void parse_host_tag(const char *s, const char *end, struct kl_line *l)
{
	const char *h = s;
	while (s < end && !is_space(*s))
		s++;
	if (s > h && s[-1] == ':') {
		/* no host field: "Mon DD HH:MM:SS kernel: msg" (syslogd -> file without
		 * hostname, some BusyBox/embedded loggers) */
		const char *te = s - 1;
		const char *b = memchr(h, '[', (size_t)(te - h));
		if (b)
			te = b;
		l->kernel = te - h == 6 && memcmp(h, "kernel", 6) == 0;
		if (s < end && *s == ' ')
			s++;
		l->text = s;
		l->len = (size_t)(end - s);
		return;
	}
	if (s >= end || s == h) {
		l->kernel = false;
		l->text = end;
		l->len = 0;
		return;
	}
	s++;
	const char *tag = s;
	while (s < end && *s != ':' && *s != '[' && !is_space(*s))
		s++;
	size_t tl = (size_t)(s - tag);
	if (tl > 5 && memcmp(tag, "kern.", 5) == 0 && s < end && *s == ' ') {
		/* BusyBox syslogd (Fritz!OS, embedded): "host kern.warn kernel: msg",
		 * facility.level before the tag */
		tag = ++s;
		while (s < end && *s != ':' && *s != '[' && !is_space(*s))
			s++;
		tl = (size_t)(s - tag);
	}
	l->kernel = tl == 6 && memcmp(tag, "kernel", 6) == 0;
	if (s < end && *s == '[') /* tag[pid] */
		while (s < end && *s != ':')
			s++;
	if (s < end && *s == ':')
		s++;
	if (s < end && *s == ' ')
		s++;
	l->text = s;
	l->len = (size_t)(end - s);
}

/* rsyslog/imklog and journald copies may keep the kernel's own "[ ts]"
 * (and caller) inside the message. */
static void strip_inner_ts(struct kl_line *l)
{
	const char *p = l->text, *end = l->text + l->len;
	if (p < end && *p == '[') {
		int64_t ts;
		const char *q = kl_dmesg_stamp_end(p, end, &ts);
		if (q) {
			l->ts_usec = ts;
			p = parse_caller_brackets(q, end, l);
			l->text = p;
			l->len = (size_t)(end - p);
		}
	}
}

/* Facility names as printed by dmesg -x, and level names. */
static const char *const fac_names[] = {"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
					"uucp", "cron", "authpriv", "ftp", "res0", "res1", "res2", "res3",
					"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"};
static const char *const lvl_names[] = {"emerg", "alert", "crit", "err", "warn", "notice", "info", "debug"};

static int name_index(const char *const *names, size_t n, const char *s, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
			return (int)i;
	return -1;
}

static const char *human_stamps_end(const char *p, const char *end);

/* "kern  :err   : rest" */
static bool parse_dmesg_x(const char *p, const char *end, struct kl_line *l)
{
	const char *s = p;
	while (s < end && *s >= 'a' && *s <= 'z')
		s++;
	while (s < end && (*s >= '0' && *s <= '9'))
		s++;
	int fac = name_index(fac_names, 24, p, (size_t)(s - p));
	if (fac < 0)
		return false;
	while (s < end && *s == ' ')
		s++;
	if (s >= end || *s != ':')
		return false;
	const char *lv = ++s;
	while (s < end && *s >= 'a' && *s <= 'z')
		s++;
	int lvl = name_index(lvl_names, 8, lv, (size_t)(s - lv));
	if (lvl < 0)
		return false;
	while (s < end && *s == ' ')
		s++;
	if (s >= end || *s != ':')
		return false;
	s++;
	if (s < end && *s == ' ')
		s++;
	l->format = KL_FMT_DMESG_X;
	l->facility = fac;
	l->level = lvl;
	l->kernel = fac == 0;
	l->text = s;
	l->len = (size_t)(end - s);
	if (l->len && *s == '[') {
		int64_t ts;
		const char *q = kl_dmesg_stamp_end(s, end, &ts);
		if (q)
			l->ts_usec = ts;
		else
			q = human_stamps_end(s, end); /* dmesg -x -T / -x -H */
		if (q) {
			q = parse_caller_brackets(q, end, l);
			l->text = q;
			l->len = (size_t)(end - q);
		}
	}
	return true;
}

/* kmsg header "prio,seq,ts,flags[,caller...];" at p. On success fills l
 * (text = after ';') and returns true. */
static bool parse_kmsg_header(const char *p, const char *end, struct kl_line *l)
{
	const char *s = p;
	uint64_t prio, seq, ts;
	if (!parse_u64(&s, end, &prio) || s >= end || *s != ',')
		return false;
	s++;
	if (!parse_u64(&s, end, &seq) || s >= end || *s != ',')
		return false;
	s++;
	if (!parse_u64(&s, end, &ts) || s >= end || *s != ',')
		return false;
	s++;
	bool cont = false;
	while (s < end && *s != ',' && *s != ';') {
		if (*s == 'c')
			cont = true;
		else if (*s != '-' && *s != '+')
			return false;
		s++;
	}
	char caller[KL_CALLER_MAX] = "";
	/* further comma separated fields; "caller=T123" is the one we use */
	while (s < end && *s == ',') {
		s++;
		const char *f = s;
		while (s < end && *s != ',' && *s != ';')
			s++;
		size_t fl = (size_t)(s - f);
		if (fl > 7 && memcmp(f, "caller=", 7) == 0 && fl - 7 < KL_CALLER_MAX) {
			memcpy(caller, f + 7, fl - 7);
			caller[fl - 7] = 0;
		}
	}
	if (s >= end || *s != ';')
		return false;
	s++;
	if (prio > 0x7fffffff || ts > INT64_MAX)
		return false;
	l->format = KL_FMT_KMSG;
	l->level = (int)(prio & 7);
	l->facility = (int)(prio >> 3);
	l->kernel = l->facility == 0;
	l->seq = seq;
	l->ts_usec = (int64_t)ts;
	l->cont = cont;
	memcpy(l->caller, caller, sizeof(caller));
	l->text = s;
	l->len = (size_t)(end - s);
	return true;
}

int kl_parse_record(const char *buf, size_t len, struct kl_record *ret)
{
	const char *end = buf + len;
	struct kl_line *l = &ret->line;
	ret->subsystem = ret->device = NULL;
	ret->subsystem_len = ret->device_len = 0;
	line_init(l, buf, 0);
	if (!parse_kmsg_header(buf, end, l))
		return -EINVAL;
	/* text ends at the first newline; dictionary lines " KEY=value" follow */
	const char *nl = memchr(l->text, '\n', (size_t)(end - l->text));
	if (!nl) {
		l->len = (size_t)(end - l->text);
		return 0;
	}
	l->len = (size_t)(nl - l->text);
	const char *s = nl + 1;
	while (s < end) {
		const char *e = memchr(s, '\n', (size_t)(end - s));
		if (!e)
			e = end;
		if (*s == ' ') {
			const char *k = s + 1;
			size_t kl = (size_t)(e - k);
			if (kl > 10 && memcmp(k, "SUBSYSTEM=", 10) == 0) {
				ret->subsystem = k + 10;
				ret->subsystem_len = kl - 10;
			} else if (kl > 7 && memcmp(k, "DEVICE=", 7) == 0) {
				ret->device = k + 7;
				ret->device_len = kl - 7;
			}
		}
		s = e + 1;
	}
	return 0;
}

/* dmesg -T: "[Mon Nov 22 13:45:00 2026] " */
static const char *parse_dmesg_t(const char *p, const char *end)
{
	const char *s = p + 1;
	if (end - s < 24)
		return NULL;
	/* weekday */
	if (!(s[0] >= 'A' && s[0] <= 'Z') || s[3] != ' ')
		return NULL;
	s += 4;
	if (!is_month(s, end) || s[3] != ' ')
		return NULL;
	s += 4;
	while (s < end && *s == ' ')
		s++;
	while (s < end && is_digit(*s))
		s++;
	if (s >= end || *s != ' ')
		return NULL;
	s = parse_hms(s + 1, end);
	if (!s || s >= end || *s != ' ')
		return NULL;
	s++;
	while (s < end && is_digit(*s))
		s++;
	return stamp_close(s, end);
}

/* dmesg -H / --reltime / -e: "[Jan25 19:52] " on the first line of a minute
 * (strftime "%b%d %H:%M"), "[  +0.000132] " (the delta) on the others. No
 * monotonic time. p at the '['; position after "] " or NULL. */
static const char *parse_dmesg_h(const char *p, const char *end)
{
	const char *s = p + 1;
	while (s < end && *s == ' ')
		s++;
	if (s < end && *s == '+') {
		const char *d = ++s;
		while (s < end && is_digit(*s))
			s++;
		if (s == d || s >= end || *s != '.')
			return NULL;
		d = ++s;
		while (s < end && is_digit(*s))
			s++;
		if (s == d)
			return NULL;
	} else {
		if (!is_month(s, end))
			return NULL;
		s += 3;
		if (s < end && *s == ' ')
			s++;
		const char *d = s;
		while (s < end && is_digit(*s))
			s++;
		if (s == d || s - d > 2 || s >= end || *s != ' ')
			return NULL;
		s++;
		if (end - s < 5 || !is_digit(s[0]) || !is_digit(s[1]) || s[2] != ':' || !is_digit(s[3]) ||
		    !is_digit(s[4]))
			return NULL;
		s += 5;
	}
	return stamp_close(s, end);
}

/* "[Вс ноя 22 14:33:43 2026] " — dmesg -T in any locale (strftime's %a %b are
 * localised): whatever comes before " HH:MM:SS YYYY]" within 48 bytes. */
static const char *dmesg_t_any_locale(const char *p, const char *end)
{
	const char *lim = end - p > 48 ? p + 48 : end;
	const char *rb = memchr(p, ']', (size_t)(lim - p));
	if (!rb || rb - p < 16)
		return NULL;
	const char *y = rb - 4;
	if (!is_digit(y[0]) || !is_digit(y[1]) || !is_digit(y[2]) || !is_digit(y[3]) || y[-1] != ' ')
		return NULL;
	const char *t = y - 9;
	if (t <= p + 1 || t[-1] != ' ' || parse_hms(t, y - 1) != y - 1)
		return NULL;
	return stamp_close(rb, end);
}

/* dmesg --time-format=delta "[<    0.000000>] " and -d "[   64.432236 <    0.000000>] " */
static const char *dmesg_delta_end(const char *p, const char *end, int64_t *ts)
{
	const char *s = p + 1;
	while (s < end && *s == ' ')
		s++;
	*ts = -1;
	if (s < end && *s != '<') {
		/* the monotonic stamp, then the delta: check the stamp with the one parser */
		const char *lt = memchr(s, '<', (size_t)(end - s) < 32 ? (size_t)(end - s) : 32);
		if (!lt || lt[-1] != ' ')
			return NULL;
		char tmp[40];
		size_t tl = (size_t)(lt - 1 - p);
		if (tl + 1 >= sizeof(tmp))
			return NULL;
		memcpy(tmp, p, tl);
		tmp[tl] = ']';
		if (!kl_dmesg_stamp_end(tmp, tmp + tl + 1, ts))
			return NULL;
		s = lt;
	}
	if (s >= end || *s != '<')
		return NULL;
	s++;
	while (s < end && *s == ' ')
		s++;
	/* the delta: "%5lu.%06lu" */
	const char *d = s;
	while (s < end && is_digit(*s))
		s++;
	if (s == d || end - s < 9 || s[0] != '.' || !is_digit(s[1]) || !is_digit(s[2]) || !is_digit(s[3]) ||
	    !is_digit(s[4]) || !is_digit(s[5]) || !is_digit(s[6]))
		return NULL;
	s += 7;
	if (end - s < 2 || s[0] != '>' || s[1] != ']')
		return NULL;
	s += 2;
	if (s < end && *s == ' ')
		s++;
	return s;
}

/* Human-readable dmesg stamps at p (a '['): -T "[Mon Nov 22 13:45:00 2026] ",
 * -H "[Jan25 19:52] " / "[  +0.000132] ", or -H followed by -T (dmesg -H -T).
 * Position after them, or NULL. */
static const char *human_stamps_end(const char *p, const char *end)
{
	const char *q = parse_dmesg_t(p, end);
	if (q)
		return q;
	q = parse_dmesg_h(p, end);
	if (q && q < end && *q == '[') {
		const char *r = parse_dmesg_t(q, end);
		if (r)
			q = r;
	}
	if (!q)
		q = dmesg_t_any_locale(p, end);
	return q;
}

/* A serial-console line: look for an embedded "[  123.456789] " (the kernel
 * line printed after other output without a newline). */
static bool find_embedded_dmesg(const char *p, const char *end, struct kl_line *l)
{
	const char *limit = end - p > 256 ? p + 256 : end;
	for (const char *s = p; s < limit; s++) {
		s = memchr(s, '[', (size_t)(limit - s));
		if (!s)
			return false;
		int64_t ts;
		const char *q = kl_dmesg_stamp_end(s, end, &ts);
		if (q) {
			l->format = KL_FMT_DMESG;
			l->ts_usec = ts;
			q = parse_caller_brackets(q, end, l);
			l->text = q;
			l->len = (size_t)(end - q);
			return true;
		}
	}
	return false;
}

int kl_parse_line(const char *buf, size_t len, struct kl_line *l)
{
	const char *p = buf, *end = buf + len;
	while (end > p && (end[-1] == '\r' || end[-1] == '\n'))
		end--;
	while (p < end && *p == 0)
		p++; /* pstore/ramoops padding */
	line_init(l, p, (size_t)(end - p));
	if (p >= end)
		return 0;

	/* "<6>" (dmesg -r / console) or RFC 5424 "<4>1 " */
	if (*p == '<' && end - p > 3) {
		const char *s = p + 1;
		uint64_t pri;
		if (parse_u64(&s, end, &pri) && s < end && *s == '>' && pri < 1024) {
			s++;
			if (end - s > 2 && s[0] == '1' && s[1] == ' ') {
				/* RFC 5424: VERSION SP TIMESTAMP SP HOST SP APP SP PROCID SP MSGID SP SD [SP MSG] */
				const char *f[6];
				size_t nf = 0;
				const char *q = s + 2;
				while (nf < 5 && q < end) {
					f[nf++] = q;
					while (q < end && *q != ' ')
						q++;
					if (q < end)
						q++;
				}
				if (nf == 5) {
					/* f[0]=ts f[1]=host f[2]=app f[3]=procid f[4]=msgid; q = SD */
					l->format = KL_FMT_RFC5424;
					l->facility = (int)(pri >> 3);
					l->level = (int)(pri & 7);
					l->kernel = l->facility == 0 && f[3] - f[2] == 7 && memcmp(f[2], "kernel ", 7) == 0;
					if (q < end && *q == '-') {
						q++;
					} else if (q < end && *q == '[') {
						/* skip structured data elements, honouring quotes */
						bool inq = false;
						while (q < end) {
							if (*q == '\\' && q + 1 < end) {
								q += 2;
								continue;
							}
							if (*q == '"')
								inq = !inq;
							else if (!inq && *q == ']' && (q + 1 >= end || q[1] != '['))
								break;
							q++;
						}
						if (q < end)
							q++;
					}
					if (q < end && *q == ' ')
						q++;
					if (end - q >= 3 && (unsigned char)q[0] == 0xef && (unsigned char)q[1] == 0xbb &&
					    (unsigned char)q[2] == 0xbf)
						q += 3; /* BOM */
					l->text = q;
					l->len = (size_t)(end - q);
					strip_inner_ts(l);
					return 0;
				}
			}
			l->level = (int)(pri & 7);
			l->facility = (int)(pri >> 3);
			l->kernel = l->facility == 0;
			p = s;
			l->text = p;
			l->len = (size_t)(end - p);
		}
	}

	if (p >= end)
		return 0; /* "<6>" alone */
	if (*p == '[') {
		int64_t ts;
		const char *q = kl_dmesg_stamp_end(p, end, &ts);
		if (q) {
			l->format = KL_FMT_DMESG;
			l->ts_usec = ts;
		} else if ((q = human_stamps_end(p, end))) {
			l->format = KL_FMT_DMESG_T; /* -T, -H: wall-clock stamps, no monotonic time */
		} else if ((q = dmesg_delta_end(p, end, &ts))) {
			l->format = KL_FMT_DMESG;
			l->ts_usec = ts;
		}
		if (q) {
			q = parse_caller_brackets(q, end, l);
			if (end - q > 3 && q[0] == '<' && is_digit(q[1])) {
				/* crash's "log -m": "[ ts] <3>msg" (the level in hex) */
				const char *g = q + 1;
				while (g < end && is_hex(*g) && g - q < 4)
					g++;
				if (g < end && *g == '>')
					q = g + 1;
			}
			l->text = q;
			l->len = (size_t)(end - q);
			/* journalctl -o short-monotonic: "[ ts] host kernel: msg" */
			const char *sp = memchr(q, ' ', (size_t)(end - q) < 80 ? (size_t)(end - q) : 80);
			if (sp && end - sp > 8 && memcmp(sp, " kernel: ", 9) == 0 && sp > q && sp[-1] != ':') {
				l->text = sp + 9;
				l->len = (size_t)(end - l->text);
			}
			return 0;
		}
		q = parse_caller_brackets(p, end, l);
		if (q == p && find_embedded_dmesg(p + 1, end, l))
			return 0; /* "[guest0/uart0] [    1.8] msg": a hypervisor's console prefix */
		l->text = q;
		l->len = (size_t)(end - q);
		return 0;
	}

	if (is_digit(*p)) {
		if (parse_kmsg_header(p, end, l))
			return 0;
		const char *u = p;
		while (u < end && is_digit(*u) && u - p < 12)
			u++;
		if (u - p <= 9 && u < end && *u == ':') {
			/* "16407: [  120.523895] …", "12:[ …]": line numbers of grep -n and console captures */
			const char *b = u + 1;
			if (b < end && *b == ' ')
				b++;
			if (b < end && *b == '[' && kl_dmesg_stamp_end(b, end, NULL))
				return kl_parse_line(b, (size_t)(end - b), l);
		}
		if (u - p >= 9 && u < end && *u == '.') {
			/* journalctl -o short-unix: "1795870064.433736 host kernel: msg" */
			const char *f = u + 1;
			while (f < end && is_digit(*f))
				f++;
			if (f > u + 1 && f < end && *f == ' ') {
				l->format = KL_FMT_ISO;
				parse_host_tag(f + 1, end, l);
				return 0;
			}
		}
		const char *q = iso_stamp_end(p, end);
		if (q && p[10] == 'T' && p[19] == ',') {
			/* dmesg --time-format=iso "2026-11-22T14:33:43,432236+00:00 msg": no host, no tag */
			l->format = KL_FMT_ISO;
			l->text = q;
			l->len = (size_t)(end - q);
			return 0;
		}
		if (q && q < end && *q >= 'A' && *q <= 'S' && kl_syslog_stamp_end(q, end))
			return kl_parse_line(q, (size_t)(end - q), l); /* kubectl/docker logs --timestamps before syslog */
		if (q && q < end && is_digit(*q) && iso_stamp_end(q, end)) {
			/* kubectl/docker --timestamps before an ISO-stamped line: strip the
			 * outer stamp(s) in a loop (no recursion per stamp: a hostile line
			 * of stamps must not eat the stack) */
			const char *r;
			while (q < end && is_digit(*q) && (r = iso_stamp_end(q, end)) && r < end && is_digit(*r) &&
			       iso_stamp_end(r, end))
				q = r;
			return kl_parse_line(q, (size_t)(end - q), l);
		}
		if (q) {
			const char *g = find_vmware_guest(q, end);
			if (g)
				return kl_parse_line(g, (size_t)(end - g), l); /* vmware.log "… vcpu-5 - Guest: <6>[ ts] msg" */
		}
		if (q) {
			l->format = KL_FMT_ISO;
			/* rsyslog "%timestamp% %msg%" templates without host/tag: "ISO  [ ts] msg" */
			const char *b = q;
			while (b < end && *b == ' ')
				b++;
			if (b < end && *b == '[') {
				int64_t ts;
				const char *r = kl_dmesg_stamp_end(b, end, &ts);
				if (r) {
					l->ts_usec = ts;
					r = parse_caller_brackets(r, end, l);
					l->text = r;
					l->len = (size_t)(end - r);
					return 0;
				}
			}
			parse_host_tag(q, end, l);
			strip_inner_ts(l);
			return 0;
		}
		return 0;
	}

	if (end - p > 24 && p[3] == ' ' && is_digit(p[4]) && p[8] == '-' && (*p & 0x80) == 0) {
		/* journalctl -o short-full / with-unit: "Sat 2026-11-28 12:47:44[.frac] UTC host kernel: msg" */
		const char *q = iso_stamp_end(p + 4, end);
		if (q && p[14] == ' ') {
			while (q < end && !is_space(*q))
				q++; /* the zone name */
			if (q < end) {
				l->format = KL_FMT_ISO;
				parse_host_tag(q + 1, end, l);
				return 0;
			}
		}
	}

	if (*p >= 'A' && *p <= 'S') {
		const char *q = kl_syslog_stamp_end(p, end);
		if (q) {
			l->format = KL_FMT_SYSLOG;
			parse_host_tag(q, end, l);
			strip_inner_ts(l);
			return 0;
		}
	}

	if (*p >= 'a' && *p <= 'u' && end - p > 8 && parse_dmesg_x(p, end, l))
		return 0;

	/* "kernel: msg": syslog/journal excerpts quoted without stamp and host
	 * (journalctl -o cat of several units, grep output, bug reports) */
	if (*p == 'k' && end - p > 8 && memcmp(p, "kernel: ", 8) == 0) {
		/* strip them all here: one bounded recursion below, whatever the input */
		while (end - p > 8 && memcmp(p, "kernel: ", 8) == 0)
			p += 8;
		if (*p == 'k' && end - p == 8 && memcmp(p, "kernel: ", 8) == 0)
			p += 8;
		return kl_parse_line(p, (size_t)(end - p), l); /* cannot come back here */
	}

	if ((unsigned char)*p >= 0x80 || (*p >= 'a' && *p <= 'z') || (*p >= 'T' && *p <= 'Z')) {
		/* syslog stamp with a month name of another locale */
		const char *q = kl_syslog_stamp_end(p, end);
		if (q) {
			l->format = KL_FMT_SYSLOG;
			parse_host_tag(q, end, l);
			strip_inner_ts(l);
			return 0;
		}
	}

	if (*p == ' ' || *p == '\t') {
		/* quoted logs: indented syslog lines ("    May 17 … kernel: …") and
		 * editor/`cat -n` line numbers ("  11745 [46223316.649832] …") */
		const char *q = p;
		while (q < end && (*q == ' ' || *q == '\t'))
			q++;
		if (q < end && q - p <= 16) {
			if (*q == '[' && kl_dmesg_stamp_end(q, end, NULL))
				return kl_parse_line(q, (size_t)(end - q), l); /* Markdown/mail indentation */
			if (*q == 'k' && end - q > 8 && memcmp(q, "kernel:", 7) == 0 && q[7] == '[' &&
			    kl_dmesg_stamp_end(q + 7, end, NULL))
				return kl_parse_line(q + 7, (size_t)(end - q - 7), l); /* syslogd wall: " kernel:[ ts] …" */
			if (is_digit(*q)) {
				const char *d = q;
				while (d < end && is_digit(*d))
					d++;
				if (d < end && (*d == ' ' || *d == '\t') && d - q <= 9) {
					while (d < end && (*d == ' ' || *d == '\t'))
						d++;
					if (d < end && *d == '[' && d + 1 < end && (d[1] == ' ' || is_digit(d[1])))
						return kl_parse_line(d, (size_t)(end - d), l);
				}
			} else if (*q >= 'A' && *q <= 'S' && kl_syslog_stamp_end(q, end)) {
				return kl_parse_line(q, (size_t)(end - q), l);
			}
		}
	}

	if (*p == ' ' && end - p > 1 && p[1] >= 'A' && p[1] <= 'Z') {
		/* kmsg dictionary continuation " SUBSYSTEM=pci" */
		const char *eq = memchr(p, '=', (size_t)(end - p) < 32 ? (size_t)(end - p) : 32);
		if (eq) {
			const char *s = p + 1;
			while (s < eq && ((*s >= 'A' && *s <= 'Z') || *s == '_'))
				s++;
			if (s == eq) {
				l->format = KL_FMT_KMSG_DICT;
				l->kernel = false;
				return 0;
			}
		}
	}

	/* Unknown: serial console noise in front of a kernel line? */
	if (*p != ' ' && *p != '\t')
		find_embedded_dmesg(p, end, l);
	return 0;
}
