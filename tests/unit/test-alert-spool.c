/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The alert spool on a real directory: record framing, batched writes,
 * re-read after a "crash", quarantine of corrupt entries, bounds. */
#include "../../agent/util.h"
#include "../../plugins/alert/spool.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <cmocka.h>

static char dir[256];

static int setup(void **state)
{
	char tmpl[] = "/tmp/test-alert-spool-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	snprintf(dir, sizeof(dir), "%s/alert/ops", tmpl);
	return 0;
}

static void test_framing(void **state)
{
	const char *body = "{\"v\":1,\"event\":{\"id\":\"x\"}}";
	char *enc;
	size_t len, blen;
	const char *b;
	assert_int_equal(alert_spool_encode(body, strlen(body), &enc, &len), 0);
	assert_int_equal(alert_spool_decode(enc, len, &b, &blen), 0);
	assert_int_equal(blen, strlen(body));
	assert_memory_equal(b, body, blen);
	/* one flipped bit anywhere in the body is caught */
	enc[len - 5] ^= 0x01;
	assert_int_equal(alert_spool_decode(enc, len, &b, &blen), -EBADMSG);
	enc[len - 5] ^= 0x01;
	/* truncated (torn write) */
	assert_int_equal(alert_spool_decode(enc, len - 3, &b, &blen), -EBADMSG);
	/* garbage header */
	assert_int_equal(alert_spool_decode("hello\nworld", 11, &b, &blen), -EBADMSG);
	free(enc);
	assert_int_equal(alert_crc32("123456789", 9), 0xcbf43926u); /* the standard check value */
}

static void test_names(void **state)
{
	char n[ALERT_SPOOL_NAME_MAX];
	uint64_t seq;
	alert_spool_name(0x1234, "5f0c0b5e-1a2b-4c3d-8e9f-0123456789ab", n);
	assert_true(alert_spool_name_parse(n, &seq));
	assert_int_equal(seq, 0x1234);
	assert_false(alert_spool_name_parse("conditions.json", &seq));
	assert_false(alert_spool_name_parse(".0000000000001234-5f0c0b5e-1a2b-4c3d-8e9f-0123456789ab.ev.tmp", &seq));
}

static void put(struct alert_op *op, uint64_t seq, const char *body)
{
	char id[37];
	snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012llx", (unsigned long long)seq);
	*op = (struct alert_op){.type = ALERT_OP_WRITE};
	alert_spool_name(seq, id, op->name);
	assert_int_equal(alert_spool_encode(body, strlen(body), &op->data, &op->len), 0);
}

static void test_write_scan_quarantine(void **state)
{
	struct alert_op ops[5];
	struct alert_scan s;
	char path[512];
	int fd;

	put(&ops[0], 3, "{\"n\":3}");
	put(&ops[1], 1, "{\"n\":1}");
	put(&ops[2], 2, "{\"n\":2}");
	put(&ops[3], 4, "{\"n\":4}");
	assert_int_equal(alert_spool_run(dir, ops, 4), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(ops[i].result, 0);

	/* Corrupt entry 4 on disk, leave a torn temp file behind. */
	snprintf(path, sizeof(path), "%s/%s", dir, ops[3].name);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 20), 1);
	close(fd);
	snprintf(path, sizeof(path), "%s/.%s.tmp", dir, ops[0].name);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);

	assert_int_equal(alert_spool_scan(dir, 100, 1 << 20, &s), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.corrupt, 1);
	assert_int_equal(s.stale_tmp, 1);
	assert_string_equal(s.entries[0].body, "{\"n\":1}");
	assert_string_equal(s.entries[1].body, "{\"n\":2}");
	assert_string_equal(s.entries[2].body, "{\"n\":3}");
	alert_scan_clear(&s);
	snprintf(path, sizeof(path), "%s/%s/%s", dir, ALERT_QUARANTINE_DIR, ops[3].name);
	assert_int_equal(access(path, F_OK), 0);

	/* Unlink one, bound to 1 event: the oldest remaining go (counted). */
	ops[4] = (struct alert_op){.type = ALERT_OP_UNLINK};
	memcpy(ops[4].name, ops[2].name, sizeof(ops[4].name));
	assert_int_equal(alert_spool_run(dir, &ops[4], 1), 0);
	assert_int_equal(alert_spool_scan(dir, 1, 1 << 20, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.n_over, 1);
	assert_string_equal(s.entries[0].body, "{\"n\":3}");
	alert_scan_clear(&s);
	for (int i = 0; i < 4; i++)
		free(ops[i].data);
}

static void test_unwritable(void **state)
{
	struct alert_op op;
	put(&op, 9, "{}");
	assert_true(alert_spool_run("/proc/version/nope", &op, 1) < 0);
	assert_true(op.result < 0);
	free(op.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_framing),
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup(test_write_scan_quarantine, setup),
		cmocka_unit_test(test_unwritable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
