/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Config loader: parsing, drop-in order, typed values with units and
 * ranges, and file:line errors for every kind of mistake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config.h"
#include "util.h"

#include <sys/stat.h>

static const char *const modes[] = {"graceful", "forced", "panic", NULL};
static const struct vigil_config_key keys[] = {
	{"enabled", VIGIL_CFG_BOOL, "yes"},
	{"count", VIGIL_CFG_INT, "3", 1, 10},
	{"interval", VIGIL_CFG_DURATION, "30s", 1000, (int64_t)(6000 * USEC_PER_SEC)},
	{"spool", VIGIL_CFG_SIZE, "16M", 1024, 1LL << 30},
	{"mode", VIGIL_CFG_ENUM, "graceful", .enum_values = modes},
	{"name", VIGIL_CFG_STRING, NULL},
	{"items", VIGIL_CFG_LIST, "a, b"},
	{"path", VIGIL_CFG_PATH, NULL},
	{"field.*", VIGIL_CFG_STRING, NULL},
	{NULL},
};

static struct vigil_config *parse(const char *text, struct vigil_config_errors *errs, int *ret)
{
	struct vigil_config *c = vigil_config_new();
	assert_non_null(c);
	*ret = vigil_config_parse_string(c, "t.conf", text, errs);
	return c;
}

static bool errors_contain(const struct vigil_config_errors *e, const char *needle)
{
	for (size_t i = 0; i < e->n; i++)
		if (strstr(e->msgs[i], needle))
			return true;
	return false;
}

static void test_good(void **state)
{
	struct vigil_config_errors errs = {0};
	int r;
	struct vigil_config *c = parse("# comment\n[x]\nenabled = no\ncount = 7 ; inline comment\n"
				       "interval = 1h 30m\nspool = 64M\nmode = panic\nname = hello world\n"
				       "items = one, two three\n  four\npath = /var/lib/x\nfield.device.name = vda\n",
				       &errs, &r);
	assert_int_equal(r, 0);
	struct vigil_section *s = vigil_config_find(c, "x");
	assert_non_null(s);
	assert_int_equal(vigil_section_validate(s, keys, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_false(vigil_cfg_bool(s, "enabled"));
	assert_int_equal(vigil_cfg_int(s, "count"), 7);
	assert_int_equal(vigil_cfg_duration(s, "interval"), 5400 * USEC_PER_SEC);
	assert_int_equal(vigil_cfg_size(s, "spool"), 64ULL << 20);
	assert_int_equal(vigil_cfg_enum(s, "mode"), 2);
	assert_string_equal(vigil_cfg_string(s, "name"), "hello world");
	const char *const *items;
	assert_int_equal(vigil_cfg_list(s, "items", &items), 4);
	assert_string_equal(items[0], "one");
	assert_string_equal(items[3], "four");
	assert_string_equal(vigil_cfg_string(s, "field.device.name"), "vda");
	/* file:line of each key */
	assert_string_equal(vigil_cfg_where_at(s, 1), "t.conf:4");
	vigil_config_free(c);
}

static void test_defaults(void **state)
{
	struct vigil_section *s = vigil_section_new_empty("x", keys);
	const char *const *items;
	assert_true(vigil_cfg_bool(s, "enabled"));
	assert_int_equal(vigil_cfg_int(s, "count"), 3);
	assert_int_equal(vigil_cfg_duration(s, "interval"), 30 * USEC_PER_SEC);
	assert_int_equal(vigil_cfg_size(s, "spool"), 16ULL << 20);
	assert_int_equal(vigil_cfg_enum(s, "mode"), 0);
	assert_null(vigil_cfg_string(s, "name"));
	assert_int_equal(vigil_cfg_list(s, "items", &items), 2);
	assert_string_equal(items[1], "b");
	vigil_section_free(s);
}

static void expect_bad(const char *body, const char *needle)
{
	struct vigil_config_errors errs = {0};
	char text[512];
	int r;
	snprintf(text, sizeof(text), "[x]\n%s\n", body);
	struct vigil_config *c = parse(text, &errs, &r);
	struct vigil_section *s = vigil_config_find(c, "x");
	if (r == 0 && s)
		r = vigil_section_validate(s, keys, &errs);
	if (r == 0 || !errors_contain(&errs, needle)) {
		for (size_t i = 0; i < errs.n; i++)
			print_message("error: %s\n", errs.msgs[i]);
		fail_msg("'%s' accepted or wrong message (wanted '%s')", body, needle);
	}
	vigil_config_errors_clear(&errs);
	vigil_config_free(c);
}

static void test_bad_values(void **state)
{
	expect_bad("bogus = 1", "t.conf:2: [x] bogus: unknown key");
	expect_bad("enabled = maybe", "t.conf:2: [x] enabled: 'maybe': expected a boolean");
	expect_bad("count = 11", "count: '11': out of range");
	expect_bad("count = 0", "out of range");
	expect_bad("count = 3x", "expected an integer");
	expect_bad("interval = 5x", "expected a duration");
	expect_bad("interval = 2h", "duration out of range");
	expect_bad("interval = ", "expected a duration");
	expect_bad("spool = 12Q", "expected a size");
	expect_bad("spool = 2G", "size out of range");
	expect_bad("mode = sometimes", "not one of the allowed values (graceful, forced, panic)");
	expect_bad("path = relative/p", "expected an absolute path");
	expect_bad("name =", "empty value");
}

static void test_syntax_errors(void **state)
{
	struct vigil_config_errors errs = {0};
	int r;
	struct vigil_config *c = parse("key = outside\n[x]\nok = 1\n", &errs, &r);
	assert_true(r < 0);
	assert_true(errors_contain(&errs, "t.conf:1: key: key outside of any section"));
	vigil_config_errors_clear(&errs);
	vigil_config_free(c);

	c = parse("[x]\nthis line has no equals sign\n", &errs, &r);
	assert_true(r < 0);
	assert_true(errors_contain(&errs, "t.conf:2: syntax error"));
	vigil_config_errors_clear(&errs);
	vigil_config_free(c);

	c = parse("[bad/section]\nk = v\n", &errs, &r);
	assert_true(r < 0);
	assert_true(errors_contain(&errs, "[bad/section]: bad section name"));
	vigil_config_errors_clear(&errs);
	vigil_config_free(c);

	char longline[600];
	memset(longline, 'a', sizeof(longline));
	memcpy(longline, "[x]\nname = ", 11);
	longline[sizeof(longline) - 1] = 0;
	c = parse(longline, &errs, &r);
	assert_true(r < 0);
	assert_true(errors_contain(&errs, "t.conf:2: line too long"));
	vigil_config_errors_clear(&errs);
	vigil_config_free(c);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_dropins(void **state)
{
	char dir[] = "/tmp/vigil-test-config-XXXXXX", p[256];
	struct vigil_config_errors errs = {0};
	struct vigil_config *c = NULL;
	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/conf.d", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/vigil.conf", dir);
	write_file(p, "[x]\ncount = 1\nname = main\n");
	snprintf(p, sizeof(p), "%s/conf.d/20-b.conf", dir);
	write_file(p, "[x]\ncount = 3\n[y]\nname = b\n");
	snprintf(p, sizeof(p), "%s/conf.d/10-a.conf", dir);
	write_file(p, "[x]\ncount = 2\nname = a\n");
	snprintf(p, sizeof(p), "%s/conf.d/30-c.conf.disabled", dir);
	write_file(p, "[x]\ncount = 9\n");
	snprintf(p, sizeof(p), "%s/vigil.conf", dir);
	assert_int_equal(vigil_config_load(p, NULL, &c, &errs), 0);
	struct vigil_section *x = vigil_config_find(c, "x");
	assert_int_equal(vigil_section_validate(x, keys, &errs), 0);
	/* lexical order: main, 10-a, 20-b; *.disabled ignored */
	assert_int_equal(vigil_cfg_int(x, "count"), 3);
	assert_string_equal(vigil_cfg_string(x, "name"), "a");
	assert_non_null(strstr(vigil_cfg_where_at(x, 0), "conf.d/20-b.conf:2"));
	assert_non_null(vigil_config_find(c, "y"));
	vigil_config_free(c);

	/* An error in a drop-in names the drop-in. */
	snprintf(p, sizeof(p), "%s/conf.d/40-bad.conf", dir);
	write_file(p, "[x]\n\nbroken line\n");
	snprintf(p, sizeof(p), "%s/vigil.conf", dir);
	c = NULL;
	assert_true(vigil_config_load(p, NULL, &c, &errs) < 0);
	assert_true(errors_contain(&errs, "conf.d/40-bad.conf:3: syntax error"));
	vigil_config_errors_clear(&errs);
	assert_int_equal(vigil_config_load("/nonexistent/vigil.conf", NULL, &c, &errs), -ENOENT);
	vigil_config_errors_clear(&errs);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_units(void **state)
{
	uint64_t u;
	int64_t i;
	assert_int_equal(vigil_parse_duration("500ms", &u), 0);
	assert_int_equal(u, 500 * USEC_PER_MSEC);
	assert_int_equal(vigil_parse_duration("2", &u), 0);
	assert_int_equal(u, 2 * USEC_PER_SEC);
	assert_int_equal(vigil_parse_duration("1d", &u), 0);
	assert_int_equal(u, 86400 * USEC_PER_SEC);
	assert_int_equal(vigil_parse_duration("5min", &u), 0);
	assert_int_equal(u, 300 * USEC_PER_SEC);
	assert_int_equal(vigil_parse_duration("-5s", &u), -EINVAL);
	assert_int_equal(vigil_parse_duration("99999999999999999999s", &u), -ERANGE);
	assert_int_equal(vigil_parse_size("4096", &u), 0);
	assert_int_equal(u, 4096);
	assert_int_equal(vigil_parse_size("64K", &u), 0);
	assert_int_equal(u, 65536);
	assert_int_equal(vigil_parse_size("1GiB", &u), 0);
	assert_int_equal(u, 1ULL << 30);
	assert_int_equal(vigil_parse_size("-1", &u), -EINVAL);
	assert_int_equal(vigil_parse_int("0x10", &i), 0);
	assert_int_equal(i, 16);
	assert_int_equal(vigil_parse_int("-3", &i), 0);
	assert_int_equal(i, -3);
	assert_int_equal(vigil_parse_int("", &i), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),	      cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_bad_values),    cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_dropins),	      cmocka_unit_test(test_units),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
