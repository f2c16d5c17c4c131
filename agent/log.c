/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Logging. Messages carry the emitting plugin as a prefix on stderr and as
 * VIGIL_PLUGIN= in the journal. errno is preserved so `%m` works. */
#include "log.h"
#include "util.h"

#include <systemd/sd-journal.h>

static struct {
	bool journal;
	int max_prio;
} log_target = {false, LOG_INFO};

void vigil_log_open(bool to_journal, int max_prio)
{
	log_target.journal = to_journal;
	log_target.max_prio = max_prio;
}

void vigil_log_set_max(int max_prio) { log_target.max_prio = max_prio; }

void vigil_logv_prefix(const char *prefix, int prio, const char *fmt, va_list ap)
{
	int saved = errno;
	char msg[2048];

	if (prio > log_target.max_prio)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_target.journal &&
	    sd_journal_send("MESSAGE=%s%s%s", prefix ? prefix : "", prefix ? ": " : "", msg, "PRIORITY=%d", prio,
			    "SYSLOG_IDENTIFIER=vigild", prefix ? "VIGIL_PLUGIN=%s" : NULL, prefix, NULL) >= 0) {
		errno = saved;
		return;
	}
	fprintf(stderr, "vigild: %s%s%s\n", prefix ? prefix : "", prefix ? ": " : "", msg);
	errno = saved;
}

void vigil_log_prefix(const char *prefix, int prio, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vigil_logv_prefix(prefix, prio, fmt, ap);
	va_end(ap);
}

int vigil_log_prefix_errno(const char *prefix, int prio, int err, const char *fmt, ...)
{
	va_list ap;
	err = err < 0 ? -err : err;
	errno = err;
	va_start(ap, fmt);
	vigil_logv_prefix(prefix, prio, fmt, ap);
	va_end(ap);
	return -err;
}
