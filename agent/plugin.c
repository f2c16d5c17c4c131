/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Plugin loader. A plugin runs as root inside the agent, so a plugin file
 * anyone else could have written is refused before dlopen() ever maps it.
 */
#include "plugin.h"
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <libgen.h>
#include <sys/stat.h>

static int owner_ok(const struct stat *st, const char **reason, const char *what_owner, const char *what_mode)
{
	uid_t me = geteuid();
	if (st->st_uid != 0 && st->st_uid != me) {
		*reason = what_owner;
		return -EPERM;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		*reason = what_mode;
		return -EPERM;
	}
	return 0;
}

int vigil_plugin_path_safe(const char *path, const char **ret_reason)
{
	struct stat st;
	char dir[PATH_MAX];

	*ret_reason = NULL;
	if (lstat(path, &st) < 0) {
		*ret_reason = "cannot stat plugin file";
		return negative_errno();
	}
	if (S_ISLNK(st.st_mode) && stat(path, &st) < 0) {
		*ret_reason = "dangling symlink";
		return negative_errno();
	}
	if (!S_ISREG(st.st_mode)) {
		*ret_reason = "not a regular file";
		return -EPERM;
	}
	if (owner_ok(&st, ret_reason, "plugin file not owned by root", "plugin file is group/world-writable") < 0)
		return -EPERM;
	vigil_strlcpy(dir, path, sizeof(dir));
	if (stat(dirname(dir), &st) < 0) {
		*ret_reason = "cannot stat plugin directory";
		return negative_errno();
	}
	if (owner_ok(&st, ret_reason, "plugin directory not owned by root",
		     "plugin directory is group/world-writable") < 0)
		return -EPERM;
	return 0;
}

static bool valid_name(const char *n)
{
	if (!n || !*n || strlen(n) > 32)
		return false;
	for (; *n; n++)
		if (!islower((unsigned char)*n) && !isdigit((unsigned char)*n) && *n != '_')
			return false;
	return true;
}

int vigil_plugin_load(const char *path, struct vigil_loaded_plugin **ret, char *err, size_t errsz)
{
	const char *reason;
	int r = vigil_plugin_path_safe(path, &reason);
	if (r < 0) {
		snprintf(err, errsz, "%s: refused: %s", path, reason);
		return r == -ENOENT ? r : -EPERM;
	}
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, errsz, "%s: cannot load: %s", path, dlerror());
		return -ENOEXEC;
	}
	const struct vigil_plugin *d = dlsym(h, VIGIL_PLUGIN_SYMBOL);
	if (!d) {
		snprintf(err, errsz, "%s: no '%s' symbol: not a vigil plugin", path, VIGIL_PLUGIN_SYMBOL);
		dlclose(h);
		return -ENOEXEC;
	}
	if (d->abi_version != VIGIL_PLUGIN_ABI_VERSION) {
		snprintf(err, errsz, "%s: ABI version %u, this vigild speaks %u: rebuild the plugin", path,
			 d->abi_version, VIGIL_PLUGIN_ABI_VERSION);
		dlclose(h);
		return -EPROTO;
	}
	if (!valid_name(d->name) || !d->init || !(d->kind & (VIGIL_PLUGIN_MONITOR | VIGIL_PLUGIN_ACTION)) ||
	    ((d->kind & VIGIL_PLUGIN_ACTION) && (!d->action_new || !d->action_run))) {
		snprintf(err, errsz, "%s: malformed descriptor (name, kind or callbacks)", path);
		dlclose(h);
		return -EINVAL;
	}
	struct vigil_loaded_plugin *p = calloc(1, sizeof(*p));
	if (!p || !(p->path = strdup(path))) {
		free(p);
		dlclose(h);
		return -ENOMEM;
	}
	p->handle = h;
	p->desc = d;
	*ret = p;
	return 0;
}

struct vigil_loaded_plugin *vigil_plugin_unload(struct vigil_loaded_plugin *p)
{
	if (!p)
		return NULL;
	if (p->handle)
		dlclose(p->handle);
	free(p->path);
	free(p);
	return NULL;
}

static int so_filter(const struct dirent *d)
{
	size_t l = strlen(d->d_name);
	return d->d_name[0] != '.' && l > 3 && streq(d->d_name + l - 3, ".so");
}

int vigil_plugin_dir_list(const char *dir, char ***ret, size_t *ret_n)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, so_filter, alphasort);
	if (n < 0)
		return negative_errno();
	char **v = calloc((size_t)n + 1, sizeof(char *));
	int r = v ? 0 : -ENOMEM;
	for (int i = 0; i < n; i++) {
		if (r == 0 && asprintf(&v[i], "%s/%s", dir, names[i]->d_name) < 0) {
			v[i] = NULL;
			r = -ENOMEM;
		}
		free(names[i]);
	}
	free(names);
	if (r < 0) {
		for (int i = 0; v && i < n; i++)
			free(v[i]);
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = (size_t)n;
	return 0;
}
