/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer targets for kernlog. One source, three targets chosen at build
 * time: FUZZ_RECORD (kl_parse_record + feed), FUZZ_LINE (line-format
 * detection of one line + feed), FUZZ_SCAN (whole-buffer assembly with the
 * shipped signatures, fed in two chunks split by the first byte). */
#include "kernlog/kernlog.h"

#include <stdlib.h>
#include <string.h>

static int drop(struct vigil_event *ev, void *userdata)
{
	/* exercise the encoder on whatever the assembler produced */
	char *s = vigil_event_to_json_string(ev);
	free(s);
	vigil_event_unref(ev);
	return 0;
}

static struct kl_signatures *sigs;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("KL_FUZZ_SIGDIR");
	if (dir)
		kl_signatures_load_dir(dir, &sigs, NULL);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
#if defined(FUZZ_RECORD)
	struct kl_record r;
	struct kl_scanner *s;
	if (kl_parse_record(buf, size, &r) == 0 && kl_scanner_new(sigs, drop, NULL, &s) == 0) {
		kl_scanner_feed(s, &r.line);
		kl_scanner_flush(s);
		kl_scanner_free(s);
	}
#elif defined(FUZZ_LINE)
	struct kl_line l;
	struct kl_scanner *s;
	char *copy = malloc(size ? size : 1); /* exact-size copy so overreads are caught */
	if (!copy)
		return 0;
	memcpy(copy, buf, size);
	kl_parse_line(copy, size, &l);
	if (l.len > size || (l.len && (l.text < copy || l.text + l.len > copy + size)))
		abort();
	if (kl_scanner_new(sigs, drop, NULL, &s) == 0) {
		kl_scanner_feed_text(s, copy, size);
		kl_scanner_finish(s);
		kl_scanner_free(s);
	}
	free(copy);
#else
	struct kl_scanner *s;
	if (kl_scanner_new(sigs, drop, NULL, &s) == 0) {
		size_t cut = size ? data[0] % (size + 1) : 0;
		kl_scanner_feed_chunk(s, buf, cut);
		kl_scanner_feed_chunk(s, buf + cut, size - cut);
		kl_scanner_finish(s);
		kl_scanner_free(s);
	}
#endif
	return 0;
}
