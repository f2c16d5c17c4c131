/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * State directory helpers and the one atomic-write helper everyone uses.
 * A state file is either the old or the new content after a crash or power
 * loss, never a torn mix: write a temporary file in the same directory,
 * fsync it, rename it over the target, fsync the directory.
 */
#include "state.h"
#include "util.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

int vigil_write_file_atomic(int dirfd, const char *name, const void *buf, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	const char *slash = strrchr(name, '/');
	_cleanup_close_ int dfd = -1;
	int r;

	if (strlen(name) + 32 >= sizeof(tmp))
		return -ENAMETOOLONG;
	/* The temp file lives next to the target so rename() stays atomic. */
	snprintf(tmp, sizeof(tmp), "%.*s.#%s.%d.tmp", slash ? (int)(slash - name + 1) : 0, name,
		 slash ? slash + 1 : name, (int)getpid());
	_cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return negative_errno();
	r = vigil_write_all(fd, buf, len);
	if (r >= 0 && fsync(fd) < 0)
		r = negative_errno();
	if (r >= 0 && fchmod(fd, mode) < 0)
		r = negative_errno();
	if (r >= 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = negative_errno();
	if (r < 0) {
		(void)unlinkat(dirfd, tmp, 0);
		return r;
	}
	if (slash) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - name), name);
		dfd = openat(dirfd, *dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else
		dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return negative_errno();
	if (fsync(dfd) < 0)
		return negative_errno();
	return 0;
}

int vigil_state_dir_prepare(const char *dir)
{
	char buf[PATH_MAX];
	struct stat st;

	if (strlen(dir) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, dir);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return negative_errno();
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return negative_errno();
	if (stat(buf, &st) < 0)
		return negative_errno();
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return -EPERM;
	return 0;
}

int vigil_state_read(const char *dir, const char *name, size_t max, char **ret)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return negative_errno();
	return vigil_read_file(dfd, name, max, ret, NULL);
}
