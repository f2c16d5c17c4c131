/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* INI configuration: loading (inih, main file then conf.d/ drop-ins in
 * lexical order, later keys override earlier ones), validation against key
 * tables with file:line errors, and the typed getters of plugin.h. Pure: no
 * logging; errors come back as text. */
#pragma once

#include "vigil/plugin.h"

struct vigil_config;

struct vigil_config_errors {
	char **msgs;
	size_t n;
};
void vigil_config_errors_add(struct vigil_config_errors *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void vigil_config_errors_clear(struct vigil_config_errors *e);
/* All messages joined with newlines (malloc'd). */
char *vigil_config_errors_join(const struct vigil_config_errors *e);

/* Load `main_file` and then every `*.conf` in `dropin_dir` (NULL: the
 * conf.d/ next to main_file; "" none). A missing main file is -ENOENT. Syntax
 * errors are appended to errs and make the call fail with -EINVAL. */
int vigil_config_load(const char *main_file, const char *dropin_dir, struct vigil_config **ret,
		      struct vigil_config_errors *errs);
/* Parse one file into an existing config (used for signature files too). */
int vigil_config_parse_file(struct vigil_config *c, const char *path, struct vigil_config_errors *errs);
/* Parse from a string (tests); name is used in messages. */
int vigil_config_parse_string(struct vigil_config *c, const char *name, const char *text,
			      struct vigil_config_errors *errs);
struct vigil_config *vigil_config_new(void);
struct vigil_config *vigil_config_free(struct vigil_config *c);

size_t vigil_config_n_sections(const struct vigil_config *c);
struct vigil_section *vigil_config_section_at(const struct vigil_config *c, size_t i);
struct vigil_section *vigil_config_find(const struct vigil_config *c, const char *name);

/* Section type: "rule" for "[rule x]", "action" for "[action x]", the whole
 * name otherwise. */
const char *vigil_section_type(const struct vigil_section *s);
const char *vigil_section_where(const struct vigil_section *s);

/* Check every key of s against the table; unknown keys and bad values are
 * appended to errs as "file:line: [section] key: reason". Binds the table to
 * the section for the getters' defaults. Returns 0 or -EINVAL. */
int vigil_section_validate(struct vigil_section *s, const struct vigil_config_key *keys,
			   struct vigil_config_errors *errs);
/* Validate one value against one key (type, range, enum, check fn). */
int vigil_config_check_value(const struct vigil_config_key *k, const char *key, const char *value,
			     const char **ret_reason);
/* "file:line" of key in s, or of the section header when unset. */
const char *vigil_cfg_where(const struct vigil_section *s, const char *key);
/* Bind a key table (for defaults) without validating. */
void vigil_section_bind(struct vigil_section *s, const struct vigil_config_key *keys);
const struct vigil_config_key *vigil_config_key_find(const struct vigil_config_key *keys, const char *name);

/* An empty section bound to a key table (plugins with no section). */
struct vigil_section *vigil_section_new_empty(const char *name, const struct vigil_config_key *keys);
struct vigil_section *vigil_section_free(struct vigil_section *s);
