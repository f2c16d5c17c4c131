/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Bounded file and string helpers used across the tree. */
#include "util.h"

#include <ctype.h>
#include <fcntl.h>
#include <time.h>

int vigil_read_fd(int fd, size_t max, bool truncate, char **ret, size_t *ret_len)
{
	size_t cap = 4096 < max ? 4096 : max, len = 0;
	_cleanup_free_ char *buf = malloc(cap + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len == cap) {
			if (cap >= max) {
				if (truncate)
					break;
				return -EFBIG;
			}
			size_t ncap = cap * 2 > max ? max : cap * 2;
			char *n = realloc(buf, ncap + 1);
			if (!n)
				return -ENOMEM;
			buf = n;
			cap = ncap;
		}
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = 0;
	if (ret_len)
		*ret_len = len;
	*ret = TAKE_PTR(buf);
	return 0;
}

int vigil_read_file(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	return vigil_read_fd(fd, max, false, ret, ret_len);
}

int vigil_read_line(int dirfd, const char *path, char **ret)
{
	char *buf;
	int r = vigil_read_file(dirfd, path, 64 * 1024, &buf, NULL);
	if (r < 0)
		return r;
	buf[strcspn(buf, "\n")] = 0;
	*ret = buf;
	return 0;
}

char *vigil_strstrip(char *s)
{
	char *b = s, *e;
	while (isspace((unsigned char)*b))
		b++;
	if (b != s)
		memmove(s, b, strlen(b) + 1);
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

void vigil_format_rfc3339(uint64_t usec, char buf[static 32])
{
	time_t t = (time_t)(usec / USEC_PER_SEC);
	struct tm tm;
	char date[24];
	if (!gmtime_r(&t, &tm) || strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		vigil_strlcpy(date, "1970-01-01T00:00:00", sizeof(date));
	snprintf(buf, 32, "%.19s.%06uZ", date, (unsigned)(usec % USEC_PER_SEC));
}

int vigil_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t r = write(fd, p, len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

char *vigil_strlcpy(char *dst, const char *src, size_t size)
{
	if (size == 0)
		return dst;
	size_t l = strnlen(src, size - 1);
	memcpy(dst, src, l);
	dst[l] = 0;
	return dst;
}
