/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kernlog signatures: known kernel issues as INI data files (see kernlog.h
 * for the format), parsed with the core's INI reader, matched against each
 * event: kind globs, an ordered subsequence of frame globs over ip + frames,
 * field values (exact, or PCRE2 after '~') and kernel version ranges. A
 * match sets known_issue = {id, title, fix, advice}.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "kernlog/internal.h"
#include "../config.h" /* agent/config.h: the INI reader */
#include "../util.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIG_MAX_ITEMS 32

struct kl_field_match {
	char *path;
	char *value;
	pcre2_code *re;
};

struct kl_kver {
	char op[3]; /* "<", "<=", ">", ">=", "=" */
	uint64_t v;
};

struct kl_sig {
	char *id, *title, *fix, *advice;
	char *kinds[SIG_MAX_ITEMS];
	size_t nkinds;
	char *frames[SIG_MAX_ITEMS];
	size_t nframes;
	struct kl_field_match fields[SIG_MAX_ITEMS];
	size_t nfields;
	struct kl_kver kver[4];
	size_t nkver;
};

struct kl_signatures {
	struct kl_sig *v;
	size_t n;
};

static void sig_clear(struct kl_sig *g)
{
	free(g->id);
	free(g->title);
	free(g->fix);
	free(g->advice);
	for (size_t i = 0; i < g->nkinds; i++)
		free(g->kinds[i]);
	for (size_t i = 0; i < g->nframes; i++)
		free(g->frames[i]);
	for (size_t i = 0; i < g->nfields; i++) {
		free(g->fields[i].path);
		free(g->fields[i].value);
		if (g->fields[i].re)
			pcre2_code_free(g->fields[i].re);
	}
}

struct kl_signatures *kl_signatures_free(struct kl_signatures *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		sig_clear(&s->v[i]);
	free(s->v);
	free(s);
	return NULL;
}

size_t kl_signatures_count(const struct kl_signatures *s) { return s ? s->n : 0; }

/* Split a list on commas and whitespace into out (strdup'd). */
static int split_list(const char *value, char **out, size_t *n)
{
	const char *p = value;
	while (*p) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		const char *b = p;
		while (*p && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		if (*n >= SIG_MAX_ITEMS)
			return -E2BIG;
		out[*n] = strndup(b, (size_t)(p - b));
		if (!out[*n])
			return -ENOMEM;
		(*n)++;
	}
	return 0;
}

static int parse_kver(struct kl_sig *g, const char *value, const char **reason)
{
	char *items[SIG_MAX_ITEMS];
	size_t n = 0;
	int r = split_list(value, items, &n);
	for (size_t i = 0; i < n && r >= 0; i++) {
		const char *p = items[i];
		struct kl_kver kv = {{0}, 0};
		size_t ol = 0;
		while (ol < 2 && (p[ol] == '<' || p[ol] == '>' || p[ol] == '='))
			ol++;
		memcpy(kv.op, p, ol);
		if (ol == 0)
			strcpy(kv.op, ">=");
		kv.v = kl_kernel_version(p + ol);
		if (!kv.v || g->nkver >= 4) {
			*reason = !kv.v ? "bad kernel version (use e.g. >=5.4, <6.1.0)" : "too many kernel constraints";
			r = -EINVAL;
		} else
			g->kver[g->nkver++] = kv;
	}
	for (size_t i = 0; i < n; i++)
		free(items[i]);
	return r;
}

static int add_sig(struct kl_signatures *s, const struct vigil_section *sec, struct vigil_config_errors *errs)
{
	struct kl_sig g = {0};
	const char *reason = NULL;
	int r = 0;
	size_t bad = 0;

	g.id = strdup(vigil_section_label(sec));
	if (!g.id)
		return -ENOMEM;
	if (!g.id[0]) {
		vigil_config_errors_add(errs, "%s: [%s]: signature needs an id: [signature ID]", vigil_section_where(sec),
					vigil_section_name(sec));
		sig_clear(&g);
		return -EINVAL;
	}
	for (size_t i = 0; i < vigil_cfg_count(sec) && r >= 0; i++) {
		const char *k = vigil_cfg_key_at(sec, i), *v = vigil_cfg_value_at(sec, i);
		bad = i;
		if (streq(k, "title"))
			free(g.title), g.title = strdup(v), r = g.title ? 0 : -ENOMEM;
		else if (streq(k, "fix"))
			free(g.fix), g.fix = strdup(v), r = g.fix ? 0 : -ENOMEM;
		else if (streq(k, "advice"))
			free(g.advice), g.advice = strdup(v), r = g.advice ? 0 : -ENOMEM;
		else if (streq(k, "kind"))
			r = split_list(v, g.kinds, &g.nkinds);
		else if (streq(k, "frames"))
			r = split_list(v, g.frames, &g.nframes);
		else if (streq(k, "kernel"))
			r = parse_kver(&g, v, &reason);
		else if (startswith(k, "field.") && k[6]) {
			if (g.nfields >= SIG_MAX_ITEMS) {
				r = -E2BIG;
				break;
			}
			struct kl_field_match *f = &g.fields[g.nfields];
			f->path = strdup(k + 6);
			f->value = strdup(v);
			if (!f->path || !f->value) {
				free(f->path);
				free(f->value);
				r = -ENOMEM;
				break;
			}
			g.nfields++;
			if (v[0] == '~') {
				int ec;
				PCRE2_SIZE eo;
				f->re = pcre2_compile((PCRE2_SPTR)(v + 1), PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &eo, NULL);
				if (!f->re) {
					static char msg[160];
					PCRE2_UCHAR buf[120];
					pcre2_get_error_message(ec, buf, sizeof(buf));
					vigil_config_errors_add(errs, "%s: %s: bad regex at offset %zu: %s",
								vigil_cfg_where_at(sec, i), k, (size_t)eo, (char *)buf);
					(void)msg;
					r = -EINVAL;
					reason = "";
				}
			}
		} else {
			reason = "unknown key (title, fix, advice, kind, frames, field.PATH, kernel)";
			r = -EINVAL;
		}
	}
	if (r >= 0 && !g.title) {
		vigil_config_errors_add(errs, "%s: [%s]: title missing", vigil_section_where(sec), vigil_section_name(sec));
		r = -EINVAL;
	} else if (r >= 0 && g.nkinds == 0 && g.nframes == 0 && g.nfields == 0) {
		vigil_config_errors_add(errs, "%s: [%s]: matches everything: set kind, frames or field.*",
					vigil_section_where(sec), vigil_section_name(sec));
		r = -EINVAL;
	} else if (r < 0 && reason && reason[0])
		vigil_config_errors_add(errs, "%s: %s: %s", vigil_cfg_where_at(sec, bad), vigil_cfg_key_at(sec, bad),
					reason);
	else if (r < 0 && !reason)
		vigil_config_errors_add(errs, "%s: %s: %s", vigil_cfg_where_at(sec, bad), vigil_cfg_key_at(sec, bad),
					strerror(-r));
	if (r < 0) {
		sig_clear(&g);
		return r;
	}
	struct kl_sig *nv = realloc(s->v, (s->n + 1) * sizeof(*nv));
	if (!nv) {
		sig_clear(&g);
		return -ENOMEM;
	}
	s->v = nv;
	s->v[s->n++] = g;
	return 0;
}

static int build(struct vigil_config *c, struct vigil_config_errors *errs, struct kl_signatures **ret)
{
	struct kl_signatures *s = calloc(1, sizeof(*s));
	int failed = 0, r;
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < vigil_config_n_sections(c); i++) {
		struct vigil_section *sec = vigil_config_section_at(c, i);
		if (!streq(vigil_section_type(sec), "signature")) {
			vigil_config_errors_add(errs, "%s: [%s]: unknown section (expected [signature ID])",
						vigil_section_where(sec), vigil_section_name(sec));
			failed = -EINVAL;
			continue;
		}
		r = add_sig(s, sec, errs);
		if (r < 0)
			failed = r;
	}
	if (failed < 0) {
		kl_signatures_free(s);
		return failed;
	}
	*ret = s;
	return 0;
}

static int finish(struct vigil_config *c, int r, struct vigil_config_errors *errs, struct kl_signatures **ret,
		  char **ret_error)
{
	if (r >= 0)
		r = build(c, errs, ret);
	if (r < 0 && ret_error)
		*ret_error = vigil_config_errors_join(errs);
	vigil_config_errors_clear(errs);
	vigil_config_free(c);
	return r;
}

static int conf_filter(const struct dirent *d)
{
	size_t l = strlen(d->d_name);
	return d->d_name[0] != '.' && l > 5 && strcmp(d->d_name + l - 5, ".conf") == 0;
}

int kl_signatures_load_dir(const char *dir, struct kl_signatures **ret, char **ret_error)
{
	struct vigil_config_errors errs = {0};
	struct vigil_config *c = vigil_config_new();
	struct dirent **names = NULL;
	int r = 0;
	if (ret_error)
		*ret_error = NULL;
	if (!c)
		return -ENOMEM;
	int n = scandir(dir, &names, conf_filter, alphasort);
	if (n < 0) {
		r = negative_errno();
		if (r == -ENOENT)
			r = 0; /* no signatures shipped: an empty set */
		else
			vigil_config_errors_add(&errs, "%s: %s", dir, strerror(-r));
		n = 0;
	}
	for (int i = 0; i < n; i++) {
		char *p;
		if (asprintf(&p, "%s/%s", dir, names[i]->d_name) >= 0) {
			int k = vigil_config_parse_file(c, p, &errs);
			if (k < 0)
				r = k;
			free(p);
		} else
			r = -ENOMEM;
		free(names[i]);
	}
	free(names);
	return finish(c, r, &errs, ret, ret_error);
}

int kl_signatures_load_string(const char *name, const char *text, struct kl_signatures **ret, char **ret_error)
{
	struct vigil_config_errors errs = {0};
	struct vigil_config *c = vigil_config_new();
	if (ret_error)
		*ret_error = NULL;
	if (!c)
		return -ENOMEM;
	int r = vigil_config_parse_string(c, name, text, &errs);
	return finish(c, r, &errs, ret, ret_error);
}

/* ------------------------------------------------------------------------ */

static const char *json_str(json_object *o, char *buf, size_t size)
{
	if (!o)
		return NULL;
	if (json_object_is_type(o, json_type_string))
		return json_object_get_string(o);
	snprintf(buf, size, "%s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	return buf;
}

static bool match_value(const struct kl_field_match *f, const char *v)
{
	if (!f->re)
		return streq(v, f->value);
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(f->re, NULL);
	if (!md)
		return false;
	int rc = pcre2_match(f->re, (PCRE2_SPTR)v, strlen(v), 0, 0, md, NULL);
	pcre2_match_data_free(md);
	return rc >= 0;
}

/* field.raw: the raw report lines are not a field of the event; a line
 * matching is enough. */
static bool match_raw(const struct kl_field_match *f, const struct vigil_event *ev)
{
	json_object *raw = vigil_event_raw(ev);
	size_t n = raw && json_object_is_type(raw, json_type_array) ? json_object_array_length(raw) : 0;
	for (size_t i = 0; i < n; i++) {
		const char *line = json_object_get_string(json_object_array_get_idx(raw, i));
		if (line && match_value(f, line))
			return true;
	}
	return false;
}

static bool match_fields(const struct kl_sig *g, const struct vigil_event *ev)
{
	for (size_t i = 0; i < g->nfields; i++) {
		const struct kl_field_match *f = &g->fields[i];
		char buf[512];
		if (streq(f->path, "raw")) {
			if (!match_raw(f, ev))
				return false;
			continue;
		}
		const char *v = json_str(vigil_event_lookup(ev, f->path), buf, sizeof(buf));
		if (!v && streq(f->path, "kind"))
			v = vigil_event_kind(ev);
		if (!v || !match_value(f, v))
			return false;
	}
	return true;
}

static bool match_frames(const struct kl_sig *g, const struct vigil_event *ev)
{
	if (g->nframes == 0)
		return true;
	size_t want = 0;
	json_object *ip = vigil_event_lookup(ev, "ip.symbol");
	if (ip && json_object_is_type(ip, json_type_string) &&
	    fnmatch(g->frames[0], json_object_get_string(ip), 0) == 0)
		want++;
	json_object *fr = vigil_event_get(ev, "frames");
	size_t n = fr && json_object_is_type(fr, json_type_array) ? json_object_array_length(fr) : 0;
	for (size_t i = 0; i < n && want < g->nframes; i++) {
		json_object *sym = NULL;
		json_object_object_get_ex(json_object_array_get_idx(fr, i), "symbol", &sym);
		if (sym && fnmatch(g->frames[want], json_object_get_string(sym), 0) == 0)
			want++;
	}
	return want == g->nframes;
}

static bool match_kver(const struct kl_sig *g, const struct vigil_event *ev)
{
	if (g->nkver == 0)
		return true;
	const char *rel = vigil_event_get_str(ev, "kernel_release");
	if (!rel) {
		json_object *h = vigil_event_lookup(ev, "host.kernel");
		rel = h ? json_object_get_string(h) : NULL;
	}
	uint64_t v = kl_kernel_version(rel);
	if (!v)
		return true; /* unknown kernel: the other criteria decide */
	for (size_t i = 0; i < g->nkver; i++) {
		const struct kl_kver *k = &g->kver[i];
		bool ok = streq(k->op, "<")    ? v < k->v
			  : streq(k->op, "<=") ? v <= k->v
			  : streq(k->op, ">")  ? v > k->v
			  : streq(k->op, "=")  ? (v >> 16) == (k->v >> 16)
					       : v >= k->v;
		if (!ok)
			return false;
	}
	return true;
}

int kl_signatures_apply(const struct kl_signatures *s, struct vigil_event *ev)
{
	if (!s)
		return 0;
	const char *kind = vigil_event_kind(ev);
	for (size_t i = 0; i < s->n; i++) {
		const struct kl_sig *g = &s->v[i];
		bool kind_ok = g->nkinds == 0;
		for (size_t k = 0; k < g->nkinds && !kind_ok; k++)
			kind_ok = fnmatch(g->kinds[k], kind, 0) == 0;
		if (!kind_ok || !match_frames(g, ev) || !match_fields(g, ev) || !match_kver(g, ev))
			continue;
		json_object *ki = json_object_new_object();
		if (!ki)
			return -ENOMEM;
		json_object_object_add(ki, "id", json_object_new_string(g->id));
		json_object_object_add(ki, "title", json_object_new_string(g->title));
		json_object_object_add(ki, "fix", g->fix ? json_object_new_string(g->fix) : NULL);
		json_object_object_add(ki, "advice", g->advice ? json_object_new_string(g->advice) : NULL);
		int r = vigil_event_set_json(ev, "known_issue", ki);
		return r < 0 ? r : 1;
	}
	return 0;
}
