/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Plugin loader: a good plugin loads; ABI mismatch, missing symbol, unsafe
 * ownership and permissions of file or directory are refused. Uses the
 * test plugins built by `make check` (tests/unit/plugins/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "plugin.h"
#include "util.h"

#include <sys/stat.h>

static char dir[64];

static void copy_plugin(const char *which, const char *as)
{
	char cmd[1024];
	const char *b = getenv("VIGIL_BUILD_DIR");
	snprintf(cmd, sizeof(cmd), "cp '%s/tests/unit/plugins/.libs/%s.so' '%s/%s'", b ? b : ".", which, dir, as);
	assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
	strcpy(dir, "/tmp/vigil-test-loader-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	chmod(dir, 0755);
	copy_plugin("good", "good.so");
	copy_plugin("badabi", "badabi.so");
	copy_plugin("nosym", "nosym.so");
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static int load(const char *name, char *err, size_t errsz)
{
	char p[128];
	struct vigil_loaded_plugin *lp = NULL;
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int r = vigil_plugin_load(p, &lp, err, errsz);
	if (r == 0) {
		assert_string_equal(lp->desc->name, "testplugin");
		vigil_plugin_unload(lp);
	}
	return r;
}

static void test_good(void **state)
{
	char err[512] = "";
	assert_int_equal(load("good.so", err, sizeof(err)), 0);
	char **files;
	size_t n;
	assert_int_equal(vigil_plugin_dir_list(dir, &files, &n), 0);
	assert_int_equal(n, 3);
	assert_non_null(strstr(files[0], "/badabi.so")); /* lexical order */
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
}

static void test_abi(void **state)
{
	char err[512] = "";
	assert_int_equal(load("badabi.so", err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "ABI version 2, this vigild speaks 1"));
}

static void test_nosym(void **state)
{
	char err[512] = "";
	assert_int_equal(load("nosym.so", err, sizeof(err)), -ENOEXEC);
	assert_non_null(strstr(err, "no 'vigil_plugin' symbol"));
}

static void test_permissions(void **state)
{
	char err[512] = "", p[128];
	snprintf(p, sizeof(p), "%s/good.so", dir);
	assert_int_equal(chmod(p, 0666), 0);
	assert_int_equal(load("good.so", err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "group/world-writable"));
	assert_int_equal(chmod(p, 0644), 0);
	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(load("good.so", err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "plugin directory is group/world-writable"));
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(load("good.so", err, sizeof(err)), 0);
}

static void test_owner(void **state)
{
	char err[512] = "", p[128];
	if (geteuid() != 0) {
		skip(); /* needs root to chown */
		return;
	}
	snprintf(p, sizeof(p), "%s/good.so", dir);
	assert_int_equal(chown(p, 65534, 65534), 0);
	assert_int_equal(load("good.so", err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "not owned by root"));
	assert_int_equal(chown(p, 0, 0), 0);
	assert_int_equal(chown(dir, 65534, 0), 0);
	assert_int_equal(load("good.so", err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "plugin directory not owned by root"));
	assert_int_equal(chown(dir, 0, 0), 0);
	/* not a regular file, missing file */
	assert_int_equal(load(".", err, sizeof(err)), -EPERM);
	assert_int_equal(load("missing.so", err, sizeof(err)), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),	    cmocka_unit_test(test_abi),   cmocka_unit_test(test_nosym),
		cmocka_unit_test(test_permissions), cmocka_unit_test(test_owner),
	};
	return cmocka_run_group_tests_name("loader", tests, setup, teardown);
}
