/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The log target: the journal when running as a service, stderr in the
 * foreground (and when the journal is unreachable). The one piece of global
 * state outside the registry, set once at start-up. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <syslog.h>

void vigil_log_open(bool to_journal, int max_prio);
void vigil_log_set_max(int max_prio);
void vigil_logv_prefix(const char *prefix, int prio, const char *fmt, va_list ap);
void vigil_log_prefix(const char *prefix, int prio, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vigil_log_prefix_errno(const char *prefix, int prio, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_error(...) vigil_log_prefix(NULL, LOG_ERR, __VA_ARGS__)
#define log_warning(...) vigil_log_prefix(NULL, LOG_WARNING, __VA_ARGS__)
#define log_notice(...) vigil_log_prefix(NULL, LOG_NOTICE, __VA_ARGS__)
#define log_info(...) vigil_log_prefix(NULL, LOG_INFO, __VA_ARGS__)
#define log_debug(...) vigil_log_prefix(NULL, LOG_DEBUG, __VA_ARGS__)
#define log_error_errno(err, ...) vigil_log_prefix_errno(NULL, LOG_ERR, err, __VA_ARGS__)
#define log_warning_errno(err, ...) vigil_log_prefix_errno(NULL, LOG_WARNING, err, __VA_ARGS__)
