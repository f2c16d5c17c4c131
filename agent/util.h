/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small helpers shared by the core, vigilctl and tests: cleanup attributes,
 * bounded string and file helpers. No logging, no global state. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define USEC_PER_SEC 1000000ULL
#define USEC_PER_MSEC 1000ULL
#define NSEC_PER_USEC 1000ULL

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd) { if (*fd >= 0) { int e = errno; close(*fd); errno = e; } }
static inline void fclosep(FILE **f) { if (*f) fclose(*f); }
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Hand a pointer out of a cleanup scope. */
#define TAKE_PTR(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })
#define TAKE_FD(fd) ({ int _t = (fd); (fd) = -1; _t; })

static inline int negative_errno(void) { return errno > 0 ? -errno : -EIO; }

static inline bool streq(const char *a, const char *b) { return strcmp(a, b) == 0; }
static inline bool streq_ptr(const char *a, const char *b)
{
	return (a && b) ? strcmp(a, b) == 0 : a == b;
}
static inline const char *startswith(const char *s, const char *prefix)
{
	size_t l = strlen(prefix);
	return strncmp(s, prefix, l) == 0 ? s + l : NULL;
}
static inline bool endswith(const char *s, const char *suffix)
{
	size_t l = strlen(s), n = strlen(suffix);
	return l >= n && memcmp(s + l - n, suffix, n) == 0;
}
static inline const char *strempty(const char *s) { return s ? s : ""; }

/* Read fd to EOF into a NUL-terminated buffer of at most max bytes (one
 * loop for files, dumps and sockets). More than max: -EFBIG, or with
 * truncate the first max bytes. */
int vigil_read_fd(int fd, size_t max, bool truncate, char **ret, size_t *ret_len);
/* Read a whole small file (sysfs/procfs/state) into a NUL-terminated
 * buffer, at most max bytes. Trailing newline kept. */
int vigil_read_file(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len);
/* Read the first line (newline stripped) of a small file. */
int vigil_read_line(int dirfd, const char *path, char **ret);
/* Trim ASCII whitespace in place; returns s. */
char *vigil_strstrip(char *s);
/* Format a realtime usec value as RFC 3339 UTC with microseconds. */
void vigil_format_rfc3339(uint64_t usec, char buf[static 32]);
/* Write all bytes, retrying EINTR. */
int vigil_write_all(int fd, const void *buf, size_t len);
/* Case-sensitive bounded copy (always NUL-terminates); returns dst. */
char *vigil_strlcpy(char *dst, const char *src, size_t size);
