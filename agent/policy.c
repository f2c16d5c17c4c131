/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Policy engine. Semantics, in the order applied to each event:
 *
 *  1. Dedup. Events with the same kind and dedup key within dedup_window of
 *     the first one are repeats: the first is dispatched at once, repeats
 *     are folded into its count. When the window closes, rules without a
 *     threshold get one summary event carrying the total count, so a storm
 *     of identical kernel messages is two alerts, not thousands.
 *  2. Matching: kind glob, minimum severity, field equality / ~regex.
 *  3. Threshold `N in T`: every occurrence, repeats included, counts; the
 *     rule fires when the N-th occurrence within T arrives, then starts
 *     counting afresh. This is how "reboot on the second soft lockup within
 *     5 minutes" escalates even though the alerts were deduplicated.
 *  4. Cooldown: after firing, a rule does not fire again for `cooldown`;
 *     what it suppresses is counted.
 */
#include "policy.h"
#include "event.h"
#include "util.h"

#include <fnmatch.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define RULE_MAX_THRESHOLD 1000
#define DEDUP_BUCKETS 1024

struct field_match {
	char *path;
	char *value;      /* equality, or NULL */
	pcre2_code *re;   /* regex, or NULL */
};

struct vigil_rule {
	char *name, *where;
	bool enabled;
	char **kinds;
	size_t n_kinds;
	int min_severity;
	struct field_match *fields;
	size_t n_fields;
	char **actions;
	size_t n_actions;
	unsigned threshold;
	uint64_t window, cooldown;
	/* runtime */
	uint64_t *occ; /* ring of occurrence times, threshold entries */
	size_t occ_head, occ_n;
	uint64_t last_fire;
	bool fired_ever;
	uint64_t n_fired, n_suppressed, n_matched;
};

struct dedup_entry {
	struct dedup_entry *next;
	char *key;
	uint64_t first, last;
	unsigned count, reported;
	struct vigil_event *last_ev;
};

struct vigil_policy {
	struct vigil_rule *rules;
	size_t n_rules;
	uint64_t dedup_window;
	size_t dedup_max, dedup_n;
	struct dedup_entry *buckets[DEDUP_BUCKETS];
	uint64_t n_folded, n_dedup_evicted;
};

static int check_threshold(const char *key, const char *value, const char **reason);

static const char *const severity_values[] = {"info", "notice", "warning", "critical", NULL};

const struct vigil_config_key vigil_rule_keys[] = {
	{"match", VIGIL_CFG_LIST, "*", .help = "event kinds (globs) this rule applies to"},
	{"severity", VIGIL_CFG_ENUM, "info", .enum_values = severity_values, .help = "minimum severity"},
	{"field.*", VIGIL_CFG_STRING, NULL, .help = "field.<path> = value, or ~regex"},
	{"actions", VIGIL_CFG_LIST, NULL, .help = "actions to run (plugin names or action instances)"},
	{"threshold", VIGIL_CFG_STRING, "1", .check = check_threshold, .help = "N in DURATION"},
	{"cooldown", VIGIL_CFG_DURATION, "0", .max = (int64_t)(365 * 86400 * USEC_PER_SEC),
	 .help = "minimum time between firings"},
	{"enabled", VIGIL_CFG_BOOL, "yes", .help = "rule is active"},
	{NULL},
};

static int parse_threshold(const char *v, unsigned *ret_n, uint64_t *ret_window)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (errno || end == v || n < 1 || n > RULE_MAX_THRESHOLD)
		return -EINVAL;
	while (*end == ' ')
		end++;
	if (!*end) {
		if (n != 1)
			return -EINVAL; /* N > 1 needs a window */
		*ret_n = 1;
		*ret_window = 0;
		return 0;
	}
	const char *in = startswith(end, "in");
	if (!in || (*in != ' ' && *in != '\t'))
		return -EINVAL;
	uint64_t w;
	if (vigil_parse_duration(in + 1, &w) < 0 || w == 0)
		return -EINVAL;
	*ret_n = (unsigned)n;
	*ret_window = w;
	return 0;
}

static int check_threshold(const char *key, const char *value, const char **reason)
{
	unsigned n;
	uint64_t w;
	if (parse_threshold(value, &n, &w) < 0) {
		*reason = "expected 'N in DURATION' (e.g. '2 in 5m', N from 1 to 1000) or '1'";
		return -EINVAL;
	}
	return 0;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int strv_from_list(const struct vigil_section *s, const char *key, char ***ret, size_t *ret_n)
{
	const char *const *items;
	size_t n = vigil_cfg_list(s, key, &items);
	char **v = calloc(n + 1, sizeof(char *));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!(v[i] = strdup(items[i]))) {
			strv_free(v, i);
			return -ENOMEM;
		}
	*ret = v;
	*ret_n = n;
	return 0;
}

static void rule_done(struct vigil_rule *r)
{
	free(r->name);
	free(r->where);
	strv_free(r->kinds, r->n_kinds);
	strv_free(r->actions, r->n_actions);
	for (size_t i = 0; i < r->n_fields; i++) {
		free(r->fields[i].path);
		free(r->fields[i].value);
		pcre2_code_free(r->fields[i].re);
	}
	free(r->fields);
	free(r->occ);
}

static int rule_init(struct vigil_rule *r, struct vigil_section *s, bool (*is_action)(const char *, void *),
		     void *ud, struct vigil_config_errors *errs)
{
	int failed = 0, rc;

	r->name = strdup(vigil_section_label(s));
	r->where = strdup(vigil_section_where(s));
	if (!r->name || !r->where)
		return -ENOMEM;
	r->enabled = vigil_cfg_bool(s, "enabled");
	r->min_severity = vigil_cfg_enum(s, "severity");
	r->cooldown = vigil_cfg_duration(s, "cooldown");
	if (parse_threshold(vigil_cfg_string(s, "threshold"), &r->threshold, &r->window) < 0)
		return -EINVAL; /* validated before */
	r->occ = calloc(r->threshold, sizeof(uint64_t));
	if (!r->occ)
		return -ENOMEM;
	if ((rc = strv_from_list(s, "match", &r->kinds, &r->n_kinds)) < 0 ||
	    (rc = strv_from_list(s, "actions", &r->actions, &r->n_actions)) < 0)
		return rc;
	if (!*r->name) {
		vigil_config_errors_add(errs, "%s: [%s]: a rule needs a name ([rule NAME])", r->where,
					vigil_section_name(s));
		failed = -EINVAL;
	}
	for (size_t i = 0; i < r->n_kinds; i++) {
		const char *k = r->kinds[i];
		if (strpbrk(k, "*?[") == NULL && !vigil_event_kind_known(k)) {
			vigil_config_errors_add(errs, "%s: [rule %s] match: unknown event kind '%s'",
						vigil_cfg_where(s, "match"), r->name, k);
			failed = -EINVAL;
		}
	}
	if (r->n_actions == 0) {
		vigil_config_errors_add(errs, "%s: [rule %s] actions: a rule needs at least one action", r->where,
					r->name);
		failed = -EINVAL;
	}
	for (size_t i = 0; i < r->n_actions; i++)
		if (!is_action(r->actions[i], ud)) {
			vigil_config_errors_add(errs, "%s: [rule %s] actions: unknown action '%s'",
						vigil_cfg_where(s, "actions"), r->name, r->actions[i]);
			failed = -EINVAL;
		}
	for (size_t i = 0; i < vigil_cfg_count(s); i++) {
		const char *key = vigil_cfg_key_at(s, i), *path = startswith(key, "field.");
		const char *val = vigil_cfg_value_at(s, i);
		if (!path)
			continue;
		struct field_match *n = realloc(r->fields, (r->n_fields + 1) * sizeof(*n));
		if (!n)
			return -ENOMEM;
		r->fields = n;
		struct field_match *f = &r->fields[r->n_fields++];
		*f = (struct field_match){.path = strdup(path)};
		if (!f->path)
			return -ENOMEM;
		if (val[0] == '~') {
			int err;
			PCRE2_SIZE off;
			f->re = pcre2_compile((PCRE2_SPTR)(val + 1), PCRE2_ZERO_TERMINATED, PCRE2_UTF, &err, &off, NULL);
			if (!f->re) {
				PCRE2_UCHAR msg[128];
				pcre2_get_error_message(err, msg, sizeof(msg));
				vigil_config_errors_add(errs, "%s: [rule %s] %s: bad regex at offset %zu: %s",
							vigil_cfg_where_at(s, i), r->name, key, (size_t)off, (char *)msg);
				failed = -EINVAL;
			}
		} else if (!(f->value = strdup(val)))
			return -ENOMEM;
	}
	return failed;
}

int vigil_policy_new(const struct vigil_config *c, uint64_t dedup_window_usec, size_t dedup_max,
		     bool (*is_action)(const char *name, void *ud), void *ud, struct vigil_policy **ret,
		     struct vigil_config_errors *errs)
{
	struct vigil_policy *p = calloc(1, sizeof(*p));
	int failed = 0;
	if (!p)
		return -ENOMEM;
	p->dedup_window = dedup_window_usec;
	p->dedup_max = dedup_max ? dedup_max : 1;
	for (size_t i = 0; c && i < vigil_config_n_sections(c); i++) {
		struct vigil_section *s = vigil_config_section_at(c, i);
		if (!streq(vigil_section_type(s), "rule"))
			continue;
		if (vigil_section_validate(s, vigil_rule_keys, errs) < 0) {
			failed = -EINVAL;
			continue;
		}
		struct vigil_rule *n = realloc(p->rules, (p->n_rules + 1) * sizeof(*n));
		if (!n) {
			vigil_policy_free(p);
			return -ENOMEM;
		}
		p->rules = n;
		memset(&p->rules[p->n_rules], 0, sizeof(struct vigil_rule));
		int r = rule_init(&p->rules[p->n_rules++], s, is_action, ud, errs);
		if (r == -ENOMEM) {
			vigil_policy_free(p);
			return r;
		}
		if (r < 0)
			failed = r;
	}
	if (failed < 0) {
		vigil_policy_free(p);
		return failed;
	}
	*ret = p;
	return 0;
}

static void dedup_entry_free(struct dedup_entry *e)
{
	free(e->key);
	vigil_event_unref(e->last_ev);
	free(e);
}

struct vigil_policy *vigil_policy_free(struct vigil_policy *p)
{
	if (!p)
		return NULL;
	for (size_t i = 0; i < p->n_rules; i++)
		rule_done(&p->rules[i]);
	free(p->rules);
	for (size_t b = 0; b < DEDUP_BUCKETS; b++)
		for (struct dedup_entry *e = p->buckets[b], *n; e; e = n) {
			n = e->next;
			dedup_entry_free(e);
		}
	free(p);
	return NULL;
}

void vigil_policy_inherit(struct vigil_policy *p, struct vigil_policy *old)
{
	if (!old)
		return;
	for (size_t i = 0; i < p->n_rules; i++)
		for (size_t j = 0; j < old->n_rules; j++) {
			struct vigil_rule *r = &p->rules[i], *o = &old->rules[j];
			if (!streq(r->name, o->name))
				continue;
			r->last_fire = o->last_fire;
			r->fired_ever = o->fired_ever;
			r->n_fired = o->n_fired;
			r->n_suppressed = o->n_suppressed;
			r->n_matched = o->n_matched;
			/* Occurrence history only carries over when the threshold is unchanged. */
			if (r->threshold == o->threshold) {
				memcpy(r->occ, o->occ, r->threshold * sizeof(uint64_t));
				r->occ_head = o->occ_head;
				r->occ_n = o->occ_n;
			}
		}
	/* The dedup table moves over whole: a reload must not re-alert. */
	memcpy(p->buckets, old->buckets, sizeof(p->buckets));
	memset(old->buckets, 0, sizeof(old->buckets));
	p->dedup_n = old->dedup_n;
	p->n_folded = old->n_folded;
}

static void json_value_text(json_object *v, char *buf, size_t size)
{
	if (!v)
		vigil_strlcpy(buf, "null", size);
	else if (json_object_is_type(v, json_type_string))
		vigil_strlcpy(buf, json_object_get_string(v), size);
	else
		vigil_strlcpy(buf, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), size);
}

static bool rule_matches(const struct vigil_rule *r, struct vigil_event *ev)
{
	bool kind_ok = false;
	if (!r->enabled || (int)vigil_event_severity(ev) < r->min_severity)
		return false;
	for (size_t i = 0; i < r->n_kinds && !kind_ok; i++)
		kind_ok = fnmatch(r->kinds[i], vigil_event_kind(ev), 0) == 0;
	if (!kind_ok)
		return false;
	for (size_t i = 0; i < r->n_fields; i++) {
		const struct field_match *f = &r->fields[i];
		char text[VIGIL_EVENT_STR_MAX + 1];
		json_object *v;

		if (streq(f->path, "kind"))
			vigil_strlcpy(text, vigil_event_kind(ev), sizeof(text));
		else if (streq(f->path, "summary"))
			vigil_strlcpy(text, vigil_event_summary(ev), sizeof(text));
		else if (streq(f->path, "source"))
			vigil_strlcpy(text, strempty(vigil_event_source(ev)), sizeof(text));
		else {
			v = vigil_event_lookup(ev, f->path);
			if (!v && !f->re)
				return streq(f->value, "null");
			json_value_text(v, text, sizeof(text));
		}
		if (f->value && !streq(f->value, text))
			return false;
		if (f->re) {
			pcre2_match_data *md = pcre2_match_data_create_from_pattern(f->re, NULL);
			if (!md)
				return false;
			int rc = pcre2_match(f->re, (PCRE2_SPTR)text, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL);
			pcre2_match_data_free(md);
			if (rc < 0)
				return false;
		}
	}
	return true;
}

/* Count occurrences within the window after recording now. */
static unsigned rule_record(struct vigil_rule *r, uint64_t now)
{
	r->occ[r->occ_head] = now;
	r->occ_head = (r->occ_head + 1) % r->threshold;
	if (r->occ_n < r->threshold)
		r->occ_n++;
	if (r->threshold == 1)
		return 1;
	unsigned n = 0;
	for (size_t i = 0; i < r->occ_n; i++)
		if (now - r->occ[i] <= r->window)
			n++;
	return n;
}

static bool rule_try_fire(struct vigil_rule *r, uint64_t now)
{
	if (r->fired_ever && r->cooldown && now - r->last_fire < r->cooldown) {
		r->n_suppressed++;
		return false;
	}
	r->fired_ever = true;
	r->last_fire = now;
	r->n_fired++;
	r->occ_n = 0;
	r->occ_head = 0;
	return true;
}

static uint64_t hash_key(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void dedup_evict_oldest(struct vigil_policy *p)
{
	struct dedup_entry **oldest = NULL;
	for (size_t b = 0; b < DEDUP_BUCKETS; b++)
		for (struct dedup_entry **e = &p->buckets[b]; *e; e = &(*e)->next)
			if (!oldest || (*e)->first < (*oldest)->first)
				oldest = e;
	if (oldest) {
		struct dedup_entry *e = *oldest;
		*oldest = e->next;
		dedup_entry_free(e);
		p->dedup_n--;
		p->n_dedup_evicted++;
	}
}

/* Returns the entry's count after this event (1 = first). */
static unsigned dedup_account(struct vigil_policy *p, struct vigil_event *ev, uint64_t now)
{
	char key[1200];
	if (!p->dedup_window)
		return 1;
	/* A raise and a clear of one condition are never the same event. */
	json_object *active = vigil_event_get(ev, "active");
	snprintf(key, sizeof(key), "%s\x1f%s\x1f%s", vigil_event_kind(ev), vigil_event_dedup_key(ev),
		 active ? (json_object_get_boolean(active) ? "1" : "0") : "");
	size_t b = hash_key(key) % DEDUP_BUCKETS;
	for (struct dedup_entry *e = p->buckets[b]; e; e = e->next)
		if (streq(e->key, key) && now - e->first < p->dedup_window) {
			e->count++;
			e->last = now;
			vigil_event_unref(e->last_ev);
			e->last_ev = vigil_event_ref(ev);
			p->n_folded++;
			return e->count;
		}
	if (p->dedup_n >= p->dedup_max)
		dedup_evict_oldest(p);
	struct dedup_entry *e = calloc(1, sizeof(*e));
	if (!e || !(e->key = strdup(key))) {
		free(e);
		return 1; /* out of memory: treat as new, never drop */
	}
	e->first = e->last = now;
	e->count = e->reported = 1;
	e->next = p->buckets[b];
	p->buckets[b] = e;
	p->dedup_n++;
	return 1;
}

int vigil_policy_submit(struct vigil_policy *p, struct vigil_event *ev, uint64_t now, vigil_dispatch_fn dispatch,
			void *ud)
{
	unsigned count = dedup_account(p, ev, now);
	bool repeat = count > 1;
	int fired = 0;

	if (repeat)
		vigil_event_set_count(ev, count);
	for (size_t i = 0; i < p->n_rules; i++) {
		struct vigil_rule *r = &p->rules[i];
		if (!rule_matches(r, ev))
			continue;
		r->n_matched++;
		if (rule_record(r, now) < r->threshold)
			continue;
		/* A repeat only fires a rule that escalates on repeats. */
		if (repeat && r->threshold == 1)
			continue;
		if (!rule_try_fire(r, now))
			continue;
		dispatch(ud, r->name, (const char *const *)r->actions, r->n_actions, ev);
		fired++;
	}
	return fired;
}

uint64_t vigil_policy_tick(struct vigil_policy *p, uint64_t now, vigil_dispatch_fn dispatch, void *ud)
{
	uint64_t next = 0;
	for (size_t b = 0; b < DEDUP_BUCKETS; b++)
		for (struct dedup_entry **ep = &p->buckets[b]; *ep;) {
			struct dedup_entry *e = *ep;
			uint64_t expiry = e->first + p->dedup_window;
			if (now < expiry) {
				if (!next || expiry < next)
					next = expiry;
				ep = &e->next;
				continue;
			}
			if (e->count > e->reported && e->last_ev) {
				struct vigil_event *sum = vigil_event_clone(e->last_ev);
				if (sum) {
					vigil_event_set_count(sum, e->count);
					vigil_event_set_int(sum, "repeats_folded", e->count - e->reported);
					vigil_event_set_int(sum, "first_seen_monotonic_usec", (int64_t)e->first);
					for (size_t i = 0; i < p->n_rules; i++) {
						struct vigil_rule *r = &p->rules[i];
						if (r->threshold != 1 || !rule_matches(r, sum) || !rule_try_fire(r, now))
							continue;
						dispatch(ud, r->name, (const char *const *)r->actions, r->n_actions,
							 sum);
					}
					vigil_event_unref(sum);
				}
			}
			*ep = e->next;
			dedup_entry_free(e);
			p->dedup_n--;
		}
	return next;
}

json_object *vigil_policy_status(const struct vigil_policy *p, uint64_t now)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; a && i < p->n_rules; i++) {
		const struct vigil_rule *r = &p->rules[i];
		json_object *o = json_object_new_object(), *acts = json_object_new_array(),
			    *kinds = json_object_new_array();
		for (size_t j = 0; j < r->n_actions; j++)
			json_object_array_add(acts, json_object_new_string(r->actions[j]));
		for (size_t j = 0; j < r->n_kinds; j++)
			json_object_array_add(kinds, json_object_new_string(r->kinds[j]));
		json_object_object_add(o, "name", json_object_new_string(r->name));
		json_object_object_add(o, "enabled", json_object_new_boolean(r->enabled));
		json_object_object_add(o, "match", kinds);
		json_object_object_add(o, "actions", acts);
		json_object_object_add(o, "threshold", json_object_new_int((int)r->threshold));
		json_object_object_add(o, "window_s", json_object_new_int64((int64_t)(r->window / USEC_PER_SEC)));
		json_object_object_add(o, "cooldown_s", json_object_new_int64((int64_t)(r->cooldown / USEC_PER_SEC)));
		json_object_object_add(o, "matched", json_object_new_int64((int64_t)r->n_matched));
		json_object_object_add(o, "fired", json_object_new_int64((int64_t)r->n_fired));
		json_object_object_add(o, "suppressed", json_object_new_int64((int64_t)r->n_suppressed));
		json_object_object_add(o, "last_fired_ago_s",
				       r->fired_ever ? json_object_new_int64((int64_t)((now - r->last_fire) / USEC_PER_SEC))
						     : NULL);
		json_object_array_add(a, o);
	}
	return a;
}

size_t vigil_policy_n_rules(const struct vigil_policy *p) { return p->n_rules; }
