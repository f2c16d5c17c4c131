/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Plugin loading: path safety checks, dlopen, descriptor and ABI checks. */
#pragma once

#include "vigil/plugin.h"

struct vigil_loaded_plugin {
	void *handle;
	const struct vigil_plugin *desc;
	char *path;
};

/* A plugin file and the directory holding it must be owned by root (or by
 * the user running vigild, for unprivileged build-tree runs) and must not be
 * group/world-writable. Returns 0 or -EPERM with *ret_reason set. */
int vigil_plugin_path_safe(const char *path, const char **ret_reason);

/* Load one plugin. Errors: -EPERM unsafe file, -ENOEXEC not loadable or no
 * descriptor symbol, -EPROTO ABI mismatch, -EINVAL bad descriptor. The
 * reason text is written to err (size errsz). */
int vigil_plugin_load(const char *path, struct vigil_loaded_plugin **ret, char *err, size_t errsz);
struct vigil_loaded_plugin *vigil_plugin_unload(struct vigil_loaded_plugin *p);

/* List plugin files (*.so) of dir in lexical order (malloc'd strv). */
int vigil_plugin_dir_list(const char *dir, char ***ret, size_t *ret_n);
