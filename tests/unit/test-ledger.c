/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The reboot loop guard with a test clock: N per window, min uptime,
 * persistence across "boots" (format -> file -> load), corrupt ledgers,
 * clocks that go backwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "remedy/ledger.h"

#define SEC 1000000ULL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define T0 (1795000000ULL * SEC) /* some realtime in 2026 */

static const struct ledger_policy pol = {.max_reboots = 3, .window_usec = 24 * HOUR, .min_uptime_usec = 5 * MIN};

static struct ledger_entry entry(uint64_t t, const char *boot, const char *reason)
{
	struct ledger_entry e = {.realtime_usec = t, .uptime_usec = 10 * MIN};
	snprintf(e.boot_id, sizeof(e.boot_id), "%s", boot);
	snprintf(e.mode, sizeof(e.mode), "forced");
	snprintf(e.reason, sizeof(e.reason), "%s", reason);
	return e;
}

/* One "boot": load the ledger from dir (as the plugin does at start),
 * decide at (now, uptime), and record a reboot if allowed. */
static enum ledger_verdict boot_and_try(int dirfd, uint64_t now, uint64_t uptime, const char *boot)
{
	struct ledger l;
	char buf[LEDGER_BUF_SIZE];
	int r = ledger_load(dirfd, "ledger", &l);
	if (r == -ENOENT)
		memset(&l, 0, sizeof(l));
	else
		assert_int_equal(r, 0);
	enum ledger_verdict v = ledger_decide(&l, &pol, now, uptime, NULL);
	if (v == LEDGER_ALLOW) {
		struct ledger_entry e = entry(now, boot, "soft_lockup: CPU#3 stuck");
		ledger_add(&l, &e);
		int len = ledger_format(&l, buf, sizeof(buf));
		assert_true(len > 0);
		int fd = openat(dirfd, "ledger", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, buf, (size_t)len), len);
		close(fd);
	}
	return v;
}

static int make_dir(void)
{
	char tmpl[] = "/tmp/test-ledger-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	int fd = open(tmpl, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static void cleanup_dir(int dirfd)
{
	unlinkat(dirfd, "ledger", 0);
	close(dirfd);
}

static void test_n_per_window_across_boots(void **state)
{
	int d = make_dir();
	/* A VM that locks up 10 minutes after every boot. */
	uint64_t t = T0;
	assert_int_equal(boot_and_try(d, t, 10 * MIN, "boot1"), LEDGER_ALLOW);
	t += 11 * MIN;
	assert_int_equal(boot_and_try(d, t, 10 * MIN, "boot2"), LEDGER_ALLOW);
	t += 11 * MIN;
	assert_int_equal(boot_and_try(d, t, 10 * MIN, "boot3"), LEDGER_ALLOW);
	t += 11 * MIN;
	/* Fourth within 24 h: refused, and stays refused on later boots of the same window. */
	assert_int_equal(boot_and_try(d, t, 10 * MIN, "boot4"), LEDGER_REFUSE_COUNT);
	assert_int_equal(boot_and_try(d, t + 2 * HOUR, 3 * HOUR, "boot4"), LEDGER_REFUSE_COUNT);
	/* Once the first entry ages out of the window, one more is allowed. */
	assert_int_equal(boot_and_try(d, T0 + 24 * HOUR + 1, 24 * HOUR, "boot4"), LEDGER_ALLOW);
	assert_int_equal(boot_and_try(d, T0 + 24 * HOUR + 2 * MIN, 24 * HOUR, "boot5"), LEDGER_REFUSE_COUNT);
	cleanup_dir(d);
}

static void test_min_uptime(void **state)
{
	struct ledger l = {0};
	/* Empty ledger, but the machine just booted: refused (independent of
	 * the file, so a ledger that cannot be written still bounds a loop). */
	assert_int_equal(ledger_decide(&l, &pol, T0, 5 * MIN - 1, NULL), LEDGER_REFUSE_UPTIME);
	assert_int_equal(ledger_decide(&l, &pol, T0, 5 * MIN, NULL), LEDGER_ALLOW);
}

static void test_max_zero_never(void **state)
{
	struct ledger l = {0};
	struct ledger_policy p = pol;
	p.max_reboots = 0;
	assert_int_equal(ledger_decide(&l, &p, T0, HOUR, NULL), LEDGER_REFUSE_COUNT);
}

static void test_clock_backwards_counts(void **state)
{
	struct ledger l = {0};
	unsigned n;
	/* Entries "from the future" (clock reset to 1970 after a reboot) are
	 * counted: we cannot tell how old they are. */
	for (int i = 0; i < 3; i++) {
		struct ledger_entry e = entry(T0 + (uint64_t)i * MIN, "b", "x");
		ledger_add(&l, &e);
	}
	assert_int_equal(ledger_decide(&l, &pol, 100 * SEC, HOUR, &n), LEDGER_REFUSE_COUNT);
	assert_int_equal(n, 3);
}

static void test_roundtrip_and_escaping(void **state)
{
	struct ledger l = {0}, back;
	char buf[LEDGER_BUF_SIZE];
	struct ledger_entry e = entry(T0, "8f9cb7a87fd849e197233260ad50c966", "soft lockup: 100% \"cpu\"\n\tnext");
	ledger_add(&l, &e);
	l.suppress_until_usec = T0 + HOUR;
	int len = ledger_format(&l, buf, sizeof(buf));
	assert_true(len > 0);
	assert_null(memchr(buf, '\t', (size_t)len));
	assert_int_equal(ledger_parse(buf, (size_t)len, &back), 0);
	assert_int_equal(back.n, 1);
	assert_string_equal(back.e[0].reason, e.reason);
	assert_string_equal(back.e[0].boot_id, e.boot_id);
	assert_true(back.e[0].realtime_usec == T0);
	assert_true(back.suppress_until_usec == T0 + HOUR);
}

static void test_bounded_entries(void **state)
{
	struct ledger l = {0}, back;
	char buf[LEDGER_BUF_SIZE];
	char reason[LEDGER_REASON_MAX];
	memset(reason, '%', sizeof(reason) - 1); /* worst case: every byte escaped */
	reason[sizeof(reason) - 1] = 0;
	for (int i = 0; i < LEDGER_MAX + 10; i++) {
		struct ledger_entry e = entry(T0 + (uint64_t)i, "b", reason);
		ledger_add(&l, &e);
	}
	assert_int_equal(l.n, LEDGER_MAX);
	assert_true(l.e[0].realtime_usec == T0 + 10); /* oldest dropped */
	int len = ledger_format(&l, buf, sizeof(buf));
	assert_true(len > 0);
	assert_true(len <= LEDGER_FILE_MAX);
	assert_int_equal(ledger_parse(buf, (size_t)len, &back), 0);
	assert_int_equal(back.n, LEDGER_MAX);
}

static void test_corrupt_variants(void **state)
{
	struct ledger l = {0}, back;
	char buf[LEDGER_BUF_SIZE], bad[LEDGER_BUF_SIZE];
	struct ledger_entry e = entry(T0, "b1", "why");
	ledger_add(&l, &e);
	int len = ledger_format(&l, buf, sizeof(buf));
	assert_true(len > 0);

	/* One flipped digit in the timestamp: checksum catches it. */
	memcpy(bad, buf, (size_t)len);
	char *p = strstr(bad, "reboot ");
	p[8] = p[8] == '1' ? '2' : '1';
	assert_int_equal(ledger_parse(bad, (size_t)len, &back), -EBADMSG);
	/* Truncated (no checksum line, no final newline). */
	assert_int_equal(ledger_parse(buf, (size_t)len - 5, &back), -EBADMSG);
	assert_int_equal(ledger_parse(buf, (size_t)(strstr(buf, "checksum") - buf), &back), -EBADMSG);
	/* Empty and binary garbage. */
	assert_int_equal(ledger_parse("", 0, &back), -EBADMSG);
	assert_int_equal(ledger_parse("\0\0\0\n", 4, &back), -EBADMSG);
	/* Another version. */
	const char *v2 = "version 2\nchecksum 0\n";
	assert_int_equal(ledger_parse(v2, strlen(v2), &back), -EBADMSG);
	/* Trailing garbage after the checksum. */
	memcpy(bad, buf, (size_t)len);
	memcpy(bad + len, "x\n", 2);
	assert_int_equal(ledger_parse(bad, (size_t)len + 2, &back), -EBADMSG);
}

static void test_corrupt_means_refuse_for_a_window(void **state)
{
	int d = make_dir();
	struct ledger l;
	int fd = openat(d, "ledger", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "version 1\nreboot garbage\n", 26), 26);
	close(fd);
	assert_int_equal(ledger_load(d, "ledger", &l), -EBADMSG);
	/* What the plugin does with on_corrupt_ledger = refuse. */
	ledger_reset_after_corruption(&l, T0, pol.window_usec);
	assert_int_equal(ledger_decide(&l, &pol, T0 + MIN, HOUR, NULL), LEDGER_REFUSE_CORRUPT);
	/* The suppression persists across a "boot" ... */
	char buf[LEDGER_BUF_SIZE];
	int len = ledger_format(&l, buf, sizeof(buf));
	struct ledger back;
	assert_int_equal(ledger_parse(buf, (size_t)len, &back), 0);
	assert_int_equal(ledger_decide(&back, &pol, T0 + 23 * HOUR, HOUR, NULL), LEDGER_REFUSE_CORRUPT);
	/* ... and lifts after one window. */
	assert_int_equal(ledger_decide(&back, &pol, T0 + 24 * HOUR, HOUR, NULL), LEDGER_ALLOW);
	/* Uptime is checked first: it says why more precisely early in a boot. */
	assert_int_equal(ledger_decide(&back, &pol, T0 + MIN, MIN, NULL), LEDGER_REFUSE_UPTIME);
	cleanup_dir(d);
}

static void test_missing_file(void **state)
{
	int d = make_dir();
	struct ledger l;
	assert_int_equal(ledger_load(d, "ledger", &l), -ENOENT);
	cleanup_dir(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_n_per_window_across_boots),
		cmocka_unit_test(test_min_uptime),
		cmocka_unit_test(test_max_zero_never),
		cmocka_unit_test(test_clock_backwards_counts),
		cmocka_unit_test(test_roundtrip_and_escaping),
		cmocka_unit_test(test_bounded_entries),
		cmocka_unit_test(test_corrupt_variants),
		cmocka_unit_test(test_corrupt_means_refuse_for_a_window),
		cmocka_unit_test(test_missing_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
