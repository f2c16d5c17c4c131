/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kl-scan: run kernlog over saved logs and print each event as one JSON
 * line (the core's encoder). Usage: kl-scan [-s SIGDIR] FILE|- … */
#include "kernlog/kernlog.h"
#include "util.h"

#include <fcntl.h>
#include <getopt.h>

static int print_event(struct vigil_event *ev, void *userdata)
{
	char *s = vigil_event_to_json_string(ev);
	if (s) {
		puts(s);
		free(s);
	}
	vigil_event_unref(ev);
	return 0;
}

int main(int argc, char **argv)
{
	const char *sigdir = NULL;
	struct kl_signatures *sigs = NULL;
	int c;
	while ((c = getopt(argc, argv, "s:")) >= 0)
		if (c == 's')
			sigdir = optarg;
		else
			return 2;
	if (sigdir) {
		char *err = NULL;
		int r = kl_signatures_load_dir(sigdir, &sigs, &err);
		if (r < 0) {
			fprintf(stderr, "signatures: %s\n", err ? err : strerror(-r));
			free(err);
			return 1;
		}
	}
	for (int i = optind; i < argc; i++) {
		int fd = strcmp(argv[i], "-") ? open(argv[i], O_RDONLY | O_CLOEXEC) : 0;
		if (fd < 0) {
			perror(argv[i]);
			return 1;
		}
		struct kl_scanner *s;
		if (kl_scanner_new(sigs, print_event, NULL, &s) < 0)
			return 1;
		char buf[65536];
		ssize_t n;
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			if (kl_scanner_feed_chunk(s, buf, (size_t)n) < 0)
				return 1;
		kl_scanner_finish(s);
		const struct kl_stats *st = kl_scanner_stats(s);
		fprintf(stderr, "%s: %llu lines, %llu reports, %llu events, %llu partial, %llu non-kernel\n", argv[i],
			(unsigned long long)st->lines, (unsigned long long)st->reports, (unsigned long long)st->events,
			(unsigned long long)st->partial, (unsigned long long)st->non_kernel);
		kl_scanner_free(s);
		if (fd > 0)
			close(fd);
	}
	kl_signatures_free(sigs);
	return 0;
}
