/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sysctl settings as vigil keeps them: validation of names and values,
 * "when-kdump-armed:X[:Y]" conditional values, and the read / compare /
 * write cycle against a procfs root (a temporary tree in tests). No
 * logging: outcomes come back to the caller. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define SYSCTL_NAME_MAX 128
#define SYSCTL_VALUE_MAX 128

struct sysctl_spec {
	char name[SYSCTL_NAME_MAX];   /* "kernel.panic_on_oops" */
	char value[SYSCTL_VALUE_MAX]; /* normalised: integers separated by one space */
	bool when_kdump_armed;        /* value only while a crash kernel is loaded */
	bool has_else;
	char else_value[SYSCTL_VALUE_MAX]; /* when not armed; unset = the value found before vigil changed it */
};

enum sysctl_state {
	SYSCTL_UNKNOWN,
	SYSCTL_OK,      /* actual == wanted (or nothing wanted right now) */
	SYSCTL_DRIFT,   /* changed behind our back and not re-applied */
	SYSCTL_MISSING, /* no such file on this kernel */
	SYSCTL_ERROR,   /* read/write failed or the kernel did not take the value */
};

struct sysctl_entry {
	struct sysctl_spec spec;
	char baseline[SYSCTL_VALUE_MAX]; /* value before vigil first wrote it */
	char applied[SYSCTL_VALUE_MAX];  /* what we last wrote (as read back) */
	char actual[SYSCTL_VALUE_MAX];   /* last read */
	char drift_value[SYSCTL_VALUE_MAX];
	bool have_baseline, have_applied, drift_active;
	enum sysctl_state state;
	int error; /* last negative errno */
	unsigned drifts, writes;
};

/* What one sync did; the plugin turns it into logs and events. */
enum sysctl_outcome {
	SYSCTL_NOOP,
	SYSCTL_APPLIED,         /* wrote the wanted value (start, reload, kdump state change) */
	SYSCTL_DRIFT_REAPPLIED, /* actual != applied, wrote it back */
	SYSCTL_DRIFT_FOUND,     /* actual != applied, left alone (reapply = no), first sighting of this value */
	SYSCTL_DRIFT_CLEARED,   /* was drifted, back to what we applied */
	SYSCTL_FAILED,          /* entry->error says why */
	SYSCTL_ABSENT,
};

const char *sysctl_state_to_string(enum sysctl_state s);

/* "kernel.*" or "vm.*", [a-z0-9_.] components, not a write-trigger (drop_caches…). */
int sysctl_name_check(const char *name, const char **ret_reason);
/* Integers separated by whitespace (at most 8); range checked for the
 * settings vigil knows. Normalised copy into out when out != NULL. */
int sysctl_value_check(const char *name, const char *value, char *out, size_t size, const char **ret_reason);
/* Parse a configured value: "1", "4 4 1 7", "when-kdump-armed:1",
 * "when-kdump-armed:1:0". */
int sysctl_spec_parse(const char *name, const char *text, struct sysctl_spec *ret, const char **ret_reason);
/* The value to hold now; NULL = nothing to enforce (conditional, not armed,
 * no else value, baseline unknown). */
const char *sysctl_wanted(const struct sysctl_entry *e, bool kdump_armed);

/* Collapse whitespace runs to one space, strip ends. */
void sysctl_normalize(char *s);
int sysctl_path(const char *proc_root, const char *name, char *buf, size_t size);
int sysctl_read(const char *proc_root, const char *name, char *buf, size_t size);
int sysctl_write(const char *proc_root, const char *name, const char *value);
/* <sys_root>/kernel/kexec_crash_loaded == 1; absent file = not armed. */
bool sysctl_kdump_armed(const char *sys_root);

/* Read, compare, write as needed. reapply: write back drifted values.
 * Updates e (state, applied, actual, counters). */
enum sysctl_outcome sysctl_sync(const char *proc_root, struct sysctl_entry *e, bool kdump_armed, bool reapply);
