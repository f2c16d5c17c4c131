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

#if !defined(FUZZ_RECORD) && !defined(FUZZ_LINE)
/* FNV-1a over kind, severity and summary of every event, in order */
static int drop_hash(struct vigil_event *ev, void *userdata)
{
	uint64_t *h = userdata;
	const char *parts[2] = {vigil_event_kind(ev), vigil_event_summary(ev)};
	for (size_t i = 0; i < 2; i++)
		for (const char *c = parts[i] ? parts[i] : ""; *c; c++)
			*h = (*h ^ (uint8_t)*c) * 1099511628211ULL;
	*h = (*h ^ (uint64_t)vigil_event_severity(ev)) * 1099511628211ULL;
	return drop(ev, NULL);
}
#endif

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
	struct kl_scanner *s, *slow;
	uint64_t ha = 0, hb = 0;
	if (kl_scanner_new(sigs, drop_hash, &ha, &s) == 0) {
		size_t cut = size ? data[0] % (size + 1) : 0;
		kl_scanner_feed_chunk(s, buf, cut);
		kl_scanner_feed_chunk(s, buf + cut, size - cut);
		kl_scanner_finish(s);
		/* the chunk path's fast path for benign dmesg lines must be exactly
		 * the full path: same events, kinds, severities and summaries */
		if (kl_scanner_new(sigs, drop_hash, &hb, &slow) == 0) {
			const char *p = buf, *end = buf + size;
			while (p < end) {
				const char *nl = memchr(p, '\n', (size_t)(end - p));
				const char *e = nl ? nl : end;
				kl_scanner_feed_text(slow, p, (size_t)(e - p));
				p = nl ? nl + 1 : end;
			}
			kl_scanner_finish(slow);
			if (ha != hb || kl_scanner_stats(s)->events != kl_scanner_stats(slow)->events)
				abort();
			kl_scanner_free(slow);
		}
		kl_scanner_free(s);
	}
#endif
	return 0;
}
