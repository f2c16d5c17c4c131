/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * INI configuration. inih does the syntax; this file adds what inih does not:
 * line numbers for every key (counted by our own line reader), drop-in
 * merging, validation against each owner's key table and typed getters. A
 * typo in a reboot limit must not pass silently, so unknown keys are errors.
 */
#include "config.h"
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <fnmatch.h>
#include <ini.h>
#include <stdarg.h>

#define CONFIG_MAX_LINE 4096
#define CONFIG_MAX_SECTIONS 4096
#define CONFIG_MAX_ENTRIES 4096
#define CONFIG_MAX_LIST 256

struct entry {
	char *key, *value, *where;
	char **items; /* split list, lazily */
	size_t n_items;
	bool items_done;
};

struct vigil_section {
	char *name, *type, *label, *where;
	struct entry *entries;
	size_t n;
	const struct vigil_config_key *keys;
	/* Defaults materialised on demand for vigil_cfg_list(). */
	struct entry *defaults;
	size_t n_defaults;
};

struct vigil_config {
	struct vigil_section **sections;
	size_t n;
};

void vigil_config_errors_add(struct vigil_config_errors *e, const char *fmt, ...)
{
	va_list ap;
	char *m = NULL;
	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	if (!m)
		return;
	char **n = realloc(e->msgs, (e->n + 1) * sizeof(*n));
	if (!n) {
		free(m);
		return;
	}
	e->msgs = n;
	e->msgs[e->n++] = m;
}

void vigil_config_errors_clear(struct vigil_config_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->msgs[i]);
	free(e->msgs);
	e->msgs = NULL;
	e->n = 0;
}

char *vigil_config_errors_join(const struct vigil_config_errors *e)
{
	size_t len = 1;
	for (size_t i = 0; i < e->n; i++)
		len += strlen(e->msgs[i]) + 1;
	char *s = malloc(len), *p = s;
	if (!s)
		return NULL;
	*p = 0;
	for (size_t i = 0; i < e->n; i++)
		p += sprintf(p, "%s%s", i ? "\n" : "", e->msgs[i]);
	return s;
}

static void entry_done(struct entry *e)
{
	free(e->key);
	free(e->value);
	free(e->where);
	for (size_t i = 0; i < e->n_items; i++)
		free(e->items[i]);
	free(e->items);
}

struct vigil_section *vigil_section_free(struct vigil_section *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		entry_done(&s->entries[i]);
	for (size_t i = 0; i < s->n_defaults; i++)
		entry_done(&s->defaults[i]);
	free(s->entries);
	free(s->defaults);
	free(s->name);
	free(s->type);
	free(s->label);
	free(s->where);
	free(s);
	return NULL;
}

static struct vigil_section *section_new(const char *name, const char *where)
{
	struct vigil_section *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->name = strdup(name);
	s->where = strdup(where);
	/* "[rule  soft-lockup]" → type "rule", label "soft-lockup". */
	const char *sp = strpbrk(name, " \t");
	if (sp) {
		s->type = strndup(name, (size_t)(sp - name));
		while (*sp == ' ' || *sp == '\t')
			sp++;
		s->label = strdup(sp);
	} else {
		s->type = strdup(name);
		s->label = strdup("");
	}
	if (!s->name || !s->where || !s->type || !s->label)
		return vigil_section_free(s);
	return s;
}

struct vigil_section *vigil_section_new_empty(const char *name, const struct vigil_config_key *keys)
{
	struct vigil_section *s = section_new(name, "(defaults)");
	if (s)
		s->keys = keys;
	return s;
}

struct vigil_config *vigil_config_new(void)
{
	return calloc(1, sizeof(struct vigil_config));
}

struct vigil_config *vigil_config_free(struct vigil_config *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n; i++)
		vigil_section_free(c->sections[i]);
	free(c->sections);
	free(c);
	return NULL;
}

size_t vigil_config_n_sections(const struct vigil_config *c) { return c->n; }
struct vigil_section *vigil_config_section_at(const struct vigil_config *c, size_t i) { return c->sections[i]; }

struct vigil_section *vigil_config_find(const struct vigil_config *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (streq(c->sections[i]->name, name))
			return c->sections[i];
	return NULL;
}

const char *vigil_section_name(const struct vigil_section *s) { return s->name; }
const char *vigil_section_label(const struct vigil_section *s) { return s->label; }
const char *vigil_section_type(const struct vigil_section *s) { return s->type; }
const char *vigil_section_where(const struct vigil_section *s) { return s->where; }

/* ---------------------------------------------------------------- parsing */

struct parse_state {
	struct vigil_config *c;
	struct vigil_config_errors *errs;
	const char *file;
	FILE *f;            /* file source */
	const char *text;   /* string source */
	unsigned line;
	char prev_section[256];
	char prev_key[256];
	unsigned prev_line;
	unsigned header_line; /* line of the last [section] header */
	int failed;
};

/* Our reader: one line per call, counting lines, refusing overlong lines
 * with a clear error instead of letting inih split them. */
static char *reader(char *str, int num, void *stream)
{
	struct parse_state *ps = stream;
	char *line = NULL;
	size_t cap = 0, len;

	if (ps->f) {
		ssize_t r = getline(&line, &cap, ps->f);
		if (r < 0) {
			free(line);
			return NULL;
		}
		len = (size_t)r;
	} else {
		if (!ps->text || !*ps->text)
			return NULL;
		const char *nl = strchr(ps->text, '\n');
		len = nl ? (size_t)(nl - ps->text + 1) : strlen(ps->text);
		line = strndup(ps->text, len);
		ps->text += len;
		if (!line)
			return NULL;
	}
	ps->line++;
	if (len >= (size_t)num) {
		vigil_config_errors_add(ps->errs, "%s:%u: line too long (max %d characters)", ps->file, ps->line,
					num - 2);
		ps->failed = -EINVAL;
		strcpy(str, ";\n");
	} else {
		memcpy(str, line, len);
		str[len] = 0;
		const char *p = str;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '[')
			ps->header_line = ps->line;
	}
	free(line);
	return str;
}

static int section_add(struct vigil_section *s, const char *key, const char *value, const char *where)
{
	for (size_t i = 0; i < s->n; i++)
		if (streq(s->entries[i].key, key)) {
			/* A later file (drop-in) overrides. */
			char *v = strdup(value), *w = strdup(where);
			if (!v || !w) {
				free(v);
				free(w);
				return -ENOMEM;
			}
			entry_done(&s->entries[i]);
			s->entries[i] = (struct entry){.key = strdup(key), .value = v, .where = w};
			return s->entries[i].key ? 0 : -ENOMEM;
		}
	if (s->n >= CONFIG_MAX_ENTRIES)
		return -E2BIG;
	struct entry *n = realloc(s->entries, (s->n + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	s->entries = n;
	s->entries[s->n] = (struct entry){.key = strdup(key), .value = strdup(value), .where = strdup(where)};
	if (!s->entries[s->n].key || !s->entries[s->n].value || !s->entries[s->n].where) {
		entry_done(&s->entries[s->n]);
		return -ENOMEM;
	}
	s->n++;
	return 0;
}

static struct vigil_section *config_get_section(struct vigil_config *c, const char *name, const char *where)
{
	struct vigil_section *s = vigil_config_find(c, name);
	if (s)
		return s;
	if (c->n >= CONFIG_MAX_SECTIONS)
		return NULL;
	struct vigil_section **n = realloc(c->sections, (c->n + 1) * sizeof(*n));
	if (!n)
		return NULL;
	c->sections = n;
	s = section_new(name, where);
	if (!s)
		return NULL;
	c->sections[c->n++] = s;
	return s;
}

static bool valid_section_name(const char *name)
{
	/* "word" or "word label"; words of [A-Za-z0-9_.-]. */
	int words = 0;
	for (const char *p = name; *p;) {
		if (*p == ' ' || *p == '\t') {
			p++;
			continue;
		}
		if (++words > 2)
			return false;
		while (*p && *p != ' ' && *p != '\t') {
			if (!isalnum((unsigned char)*p) && !strchr("_.-", *p))
				return false;
			p++;
		}
	}
	return words >= 1;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *ps = user;
	char where[512];
	int r;

	snprintf(where, sizeof(where), "%s:%u", ps->file, ps->line);
	if (!*section) {
		vigil_config_errors_add(ps->errs, "%s: %s: key outside of any section", where, name);
		ps->failed = -EINVAL;
		return 1;
	}
	if (!valid_section_name(section)) {
		vigil_config_errors_add(ps->errs, "%s: [%s]: bad section name", where, section);
		ps->failed = -EINVAL;
		return 1;
	}
	char hwhere[512];
	snprintf(hwhere, sizeof(hwhere), "%s:%u", ps->file, ps->header_line);
	struct vigil_section *s = config_get_section(ps->c, section, hwhere);
	if (!s) {
		ps->failed = -ENOMEM;
		return 0;
	}
	/* inih reports an indented continuation line as the same key again:
	 * join it to the previous value. */
	if (streq(ps->prev_section, section) && streq(ps->prev_key, name) && ps->prev_line + 1 == ps->line) {
		for (size_t i = 0; i < s->n; i++)
			if (streq(s->entries[i].key, name)) {
				char *j;
				if (asprintf(&j, "%s %s", s->entries[i].value, value) < 0)
					return 0;
				free(s->entries[i].value);
				s->entries[i].value = j;
				break;
			}
		ps->prev_line = ps->line;
		return 1;
	}
	r = section_add(s, name, value, where);
	if (r < 0) {
		vigil_config_errors_add(ps->errs, "%s: %s: %s", where, name, strerror(-r));
		ps->failed = r;
		return 1;
	}
	vigil_strlcpy(ps->prev_section, section, sizeof(ps->prev_section));
	vigil_strlcpy(ps->prev_key, name, sizeof(ps->prev_key));
	ps->prev_line = ps->line;
	return 1;
}

static int parse_common(struct parse_state *ps)
{
	int r = ini_parse_stream(reader, ps, handler, ps);
	if (r > 0) {
		vigil_config_errors_add(ps->errs, "%s:%d: syntax error (expected [section] or key = value)", ps->file,
					r);
		return -EINVAL;
	}
	if (r < 0)
		return -ENOMEM;
	return ps->failed;
}

int vigil_config_parse_file(struct vigil_config *c, const char *path, struct vigil_config_errors *errs)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f) {
		int r = negative_errno();
		vigil_config_errors_add(errs, "%s: cannot open: %s", path, strerror(-r));
		return r;
	}
	struct parse_state ps = {.c = c, .errs = errs, .file = path, .f = f};
	return parse_common(&ps);
}

int vigil_config_parse_string(struct vigil_config *c, const char *name, const char *text,
			      struct vigil_config_errors *errs)
{
	struct parse_state ps = {.c = c, .errs = errs, .file = name, .text = text};
	return parse_common(&ps);
}

static int conf_filter(const struct dirent *d)
{
	size_t l = strlen(d->d_name);
	return d->d_name[0] != '.' && l > 5 && streq(d->d_name + l - 5, ".conf");
}

int vigil_config_load(const char *main_file, const char *dropin_dir, struct vigil_config **ret,
		      struct vigil_config_errors *errs)
{
	struct vigil_config *c = vigil_config_new();
	_cleanup_free_ char *dir = NULL;
	int r, failed = 0;

	if (!c)
		return -ENOMEM;
	r = vigil_config_parse_file(c, main_file, errs);
	if (r == -ENOENT) {
		vigil_config_free(c);
		return r;
	}
	if (r < 0)
		failed = r;
	if (!dropin_dir) {
		const char *slash = strrchr(main_file, '/');
		if (asprintf(&dir, "%.*s/conf.d", slash ? (int)(slash - main_file) : 1, slash ? main_file : ".") < 0) {
			vigil_config_free(c);
			return -ENOMEM;
		}
		dropin_dir = dir;
	}
	if (*dropin_dir) {
		struct dirent **names = NULL;
		int n = scandir(dropin_dir, &names, conf_filter, alphasort);
		for (int i = 0; i < n; i++) {
			char *p;
			if (asprintf(&p, "%s/%s", dropin_dir, names[i]->d_name) >= 0) {
				r = vigil_config_parse_file(c, p, errs);
				if (r < 0)
					failed = r;
				free(p);
			}
			free(names[i]);
		}
		free(names);
	}
	if (failed < 0) {
		vigil_config_free(c);
		return failed == -ENOENT ? -EINVAL : failed;
	}
	*ret = c;
	return 0;
}

/* ---------------------------------------------------------------- values */

int vigil_parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = {"1", "yes", "true", "on", "y"};
	static const char *const no[] = {"0", "no", "false", "off", "n"};
	for (size_t i = 0; i < ELEMENTSOF(yes); i++)
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
	for (size_t i = 0; i < ELEMENTSOF(no); i++)
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	return -EINVAL;
}

int vigil_parse_int(const char *s, int64_t *ret)
{
	char *end;
	if (!*s)
		return -EINVAL;
	errno = 0;
	long long v = strtoll(s, &end, 0);
	if (errno == ERANGE)
		return -ERANGE;
	if (end == s || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* "1h 30m", "90s", "250ms", "2"; a bare number is seconds. */
int vigil_parse_duration(const char *s, uint64_t *ret_usec)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {
		{"usec", 1},		{"us", 1},		   {"msec", USEC_PER_MSEC},
		{"ms", USEC_PER_MSEC},	{"sec", USEC_PER_SEC},	   {"s", USEC_PER_SEC},
		{"min", 60 * USEC_PER_SEC}, {"m", 60 * USEC_PER_SEC}, {"hour", 3600 * USEC_PER_SEC},
		{"h", 3600 * USEC_PER_SEC}, {"day", 86400 * USEC_PER_SEC}, {"d", 86400 * USEC_PER_SEC},
	};
	uint64_t total = 0;
	const char *p = s;
	bool any = false;

	while (*p) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		char *end;
		errno = 0;
		unsigned long long v = strtoull(p, &end, 10);
		if (errno)
			return -ERANGE;
		p = end;
		uint64_t mult = USEC_PER_SEC;
		size_t best = 0;
		for (size_t i = 0; i < ELEMENTSOF(units); i++) {
			size_t l = strlen(units[i].suffix);
			if (l > best && strncmp(p, units[i].suffix, l) == 0 && !isalpha((unsigned char)p[l])) {
				best = l;
				mult = units[i].mult;
			}
		}
		if (!best && isalpha((unsigned char)*p))
			return -EINVAL;
		p += best;
		if (v > UINT64_MAX / mult || total > UINT64_MAX - v * mult)
			return -ERANGE;
		total += v * mult;
		any = true;
	}
	if (!any)
		return -EINVAL;
	*ret_usec = total;
	return 0;
}

int vigil_parse_size(const char *s, uint64_t *ret_bytes)
{
	char *end;
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	uint64_t mult = 1;
	switch (*end) {
	case 0:
		break;
	case 'K': case 'k':
		mult = 1ULL << 10;
		break;
	case 'M':
		mult = 1ULL << 20;
		break;
	case 'G':
		mult = 1ULL << 30;
		break;
	case 'T':
		mult = 1ULL << 40;
		break;
	default:
		return -EINVAL;
	}
	if (*end) {
		end++;
		if (*end == 'i')
			end++;
		if (*end == 'B')
			end++;
		if (*end)
			return -EINVAL;
	}
	if (v > UINT64_MAX / mult)
		return -ERANGE;
	*ret_bytes = v * mult;
	return 0;
}

const struct vigil_config_key *vigil_config_key_find(const struct vigil_config_key *keys, const char *name)
{
	if (!keys)
		return NULL;
	for (const struct vigil_config_key *k = keys; k->name; k++) {
		size_t l = strlen(k->name);
		if (l && k->name[l - 1] == '*') {
			if (strncmp(name, k->name, l - 1) == 0 && name[l - 1])
				return k;
		} else if (streq(k->name, name))
			return k;
	}
	return NULL;
}

static bool bounded(const struct vigil_config_key *k) { return k->min != 0 || k->max != 0; }

int vigil_config_check_value(const struct vigil_config_key *k, const char *key, const char *value,
			     const char **ret_reason)
{
	int r;
	*ret_reason = NULL;
	if (strlen(value) > VIGIL_CFG_VALUE_MAX) {
		*ret_reason = "value too long";
		return -EINVAL;
	}
	switch (k->type) {
	case VIGIL_CFG_BOOL: {
		bool b;
		if (vigil_parse_bool(value, &b) < 0) {
			*ret_reason = "expected a boolean (yes/no)";
			return -EINVAL;
		}
		break;
	}
	case VIGIL_CFG_INT: {
		int64_t v;
		if (vigil_parse_int(value, &v) < 0) {
			*ret_reason = "expected an integer";
			return -EINVAL;
		}
		if (bounded(k) && (v < k->min || v > k->max)) {
			*ret_reason = "out of range";
			return -ERANGE;
		}
		break;
	}
	case VIGIL_CFG_DURATION: {
		uint64_t v;
		if (vigil_parse_duration(value, &v) < 0) {
			*ret_reason = "expected a duration (e.g. 500ms, 30s, 5m, 1h)";
			return -EINVAL;
		}
		if (bounded(k) && ((int64_t)v < k->min || (int64_t)v > k->max)) {
			*ret_reason = "duration out of range";
			return -ERANGE;
		}
		break;
	}
	case VIGIL_CFG_SIZE: {
		uint64_t v;
		if (vigil_parse_size(value, &v) < 0) {
			*ret_reason = "expected a size (e.g. 4096, 64K, 16M)";
			return -EINVAL;
		}
		if (bounded(k) && ((int64_t)v < k->min || (int64_t)v > k->max)) {
			*ret_reason = "size out of range";
			return -ERANGE;
		}
		break;
	}
	case VIGIL_CFG_ENUM: {
		bool ok = false;
		for (const char *const *e = k->enum_values; e && *e; e++)
			ok = ok || streq(*e, value);
		if (!ok) {
			*ret_reason = "not one of the allowed values";
			return -EINVAL;
		}
		break;
	}
	case VIGIL_CFG_STRING:
		if (!*value) {
			*ret_reason = "empty value";
			return -EINVAL;
		}
		break;
	case VIGIL_CFG_LIST:
		break;
	case VIGIL_CFG_PATH:
		if (value[0] != '/') {
			*ret_reason = "expected an absolute path";
			return -EINVAL;
		}
		break;
	default:
		*ret_reason = "unknown key type";
		return -EINVAL;
	}
	if (k->check) {
		/* The configured key, not the table's pattern ("kernel.*"). */
		r = k->check(key ? key : k->name, value, ret_reason);
		if (r < 0) {
			if (!*ret_reason)
				*ret_reason = "invalid value";
			return r;
		}
	}
	return 0;
}

int vigil_section_validate(struct vigil_section *s, const struct vigil_config_key *keys,
			   struct vigil_config_errors *errs)
{
	int failed = 0;
	s->keys = keys;
	for (size_t i = 0; i < s->n; i++) {
		const struct vigil_config_key *k = vigil_config_key_find(keys, s->entries[i].key);
		const char *reason;
		if (!k) {
			vigil_config_errors_add(errs, "%s: [%s] %s: unknown key", s->entries[i].where, s->name,
						s->entries[i].key);
			failed = -EINVAL;
			continue;
		}
		if (vigil_config_check_value(k, s->entries[i].key, s->entries[i].value, &reason) < 0) {
			if (k->type == VIGIL_CFG_ENUM) {
				char allowed[512] = "";
				for (const char *const *e = k->enum_values; e && *e; e++) {
					if (*allowed)
						strncat(allowed, ", ", sizeof(allowed) - strlen(allowed) - 1);
					strncat(allowed, *e, sizeof(allowed) - strlen(allowed) - 1);
				}
				vigil_config_errors_add(errs, "%s: [%s] %s: '%s' %s (%s)", s->entries[i].where, s->name,
							s->entries[i].key, s->entries[i].value, reason, allowed);
			} else
				vigil_config_errors_add(errs, "%s: [%s] %s: '%s': %s", s->entries[i].where, s->name,
							s->entries[i].key, s->entries[i].value, reason);
			failed = -EINVAL;
		}
	}
	return failed;
}

void vigil_section_bind(struct vigil_section *s, const struct vigil_config_key *keys) { s->keys = keys; }

/* ---------------------------------------------------------------- getters */

static struct entry *find_entry(const struct vigil_section *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (streq(s->entries[i].key, key))
			return &s->entries[i];
	return NULL;
}

/* The value as text: configured, else the table default, else NULL. */
static const char *value_of(const struct vigil_section *s, const char *key)
{
	struct entry *e = find_entry(s, key);
	if (e)
		return e->value;
	const struct vigil_config_key *k = vigil_config_key_find(s->keys, key);
	return k ? k->def : NULL;
}

const char *vigil_cfg_where(const struct vigil_section *s, const char *key)
{
	struct entry *e = find_entry(s, key);
	return e ? e->where : s->where;
}

bool vigil_cfg_is_set(const struct vigil_section *s, const char *key) { return find_entry(s, key) != NULL; }

bool vigil_cfg_bool(const struct vigil_section *s, const char *key)
{
	const char *v = value_of(s, key);
	bool b = false;
	if (v)
		(void)vigil_parse_bool(v, &b);
	return b;
}

int64_t vigil_cfg_int(const struct vigil_section *s, const char *key)
{
	const char *v = value_of(s, key);
	int64_t i = 0;
	if (v)
		(void)vigil_parse_int(v, &i);
	return i;
}

uint64_t vigil_cfg_duration(const struct vigil_section *s, const char *key)
{
	const char *v = value_of(s, key);
	uint64_t u = 0;
	if (v)
		(void)vigil_parse_duration(v, &u);
	return u;
}

uint64_t vigil_cfg_size(const struct vigil_section *s, const char *key)
{
	const char *v = value_of(s, key);
	uint64_t u = 0;
	if (v)
		(void)vigil_parse_size(v, &u);
	return u;
}

int vigil_cfg_enum(const struct vigil_section *s, const char *key)
{
	const char *v = value_of(s, key);
	const struct vigil_config_key *k = vigil_config_key_find(s->keys, key);
	if (!v || !k || !k->enum_values)
		return 0;
	for (int i = 0; k->enum_values[i]; i++)
		if (streq(k->enum_values[i], v))
			return i;
	return 0;
}

const char *vigil_cfg_string(const struct vigil_section *s, const char *key) { return value_of(s, key); }

static int split_list(struct entry *e)
{
	const char *p = e->value;
	while (*p) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		size_t l = strcspn(p, ", \t");
		if (e->n_items >= CONFIG_MAX_LIST)
			return -E2BIG;
		char **n = realloc(e->items, (e->n_items + 2) * sizeof(*n));
		if (!n)
			return -ENOMEM;
		e->items = n;
		e->items[e->n_items] = strndup(p, l);
		if (!e->items[e->n_items])
			return -ENOMEM;
		e->items[++e->n_items] = NULL;
		p += l;
	}
	e->items_done = true;
	return 0;
}

size_t vigil_cfg_list(const struct vigil_section *cs, const char *key, const char *const **ret_items)
{
	struct vigil_section *s = (struct vigil_section *)cs; /* lazily split; logically const */
	struct entry *e = find_entry(s, key);
	static const char *const empty[] = {NULL};

	if (!e) {
		for (size_t i = 0; i < s->n_defaults; i++)
			if (streq(s->defaults[i].key, key)) {
				e = &s->defaults[i];
				break;
			}
		if (!e) {
			const struct vigil_config_key *k = vigil_config_key_find(s->keys, key);
			if (!k || !k->def)
				goto none;
			struct entry *n = realloc(s->defaults, (s->n_defaults + 1) * sizeof(*n));
			if (!n)
				goto none;
			s->defaults = n;
			e = &s->defaults[s->n_defaults];
			*e = (struct entry){.key = strdup(key), .value = strdup(k->def), .where = strdup("(default)")};
			if (!e->key || !e->value || !e->where) {
				entry_done(e);
				goto none;
			}
			s->n_defaults++;
		}
	}
	if (!e->items_done && split_list(e) < 0)
		goto none;
	if (!e->n_items)
		goto none;
	*ret_items = (const char *const *)e->items;
	return e->n_items;
none:
	*ret_items = empty;
	return 0;
}

size_t vigil_cfg_count(const struct vigil_section *s) { return s->n; }
const char *vigil_cfg_key_at(const struct vigil_section *s, size_t i) { return i < s->n ? s->entries[i].key : NULL; }
const char *vigil_cfg_value_at(const struct vigil_section *s, size_t i)
{
	return i < s->n ? s->entries[i].value : NULL;
}
const char *vigil_cfg_where_at(const struct vigil_section *s, size_t i)
{
	return i < s->n ? s->entries[i].where : NULL;
}
