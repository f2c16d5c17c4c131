/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lastboot monitor: at start, looks for what the previous boot left behind
 * when it crashed -- pstore records (/sys/fs/pstore/dmesg-*, console-*),
 * kdump-tools' /var/crash/<stamp>/dmesg.<stamp>, RHEL's
 * /var/crash/<dir>/vmcore-dmesg.txt, systemd-pstore's archive -- classifies
 * them with the kernlog library (the same code the kmsg plugin runs) and
 * emits one previous_boot_crash per crash with the class, culprit, top
 * frames, known issue and file. Every file is identified by a hash of its
 * content, remembered in <state>/lastboot/reported, so a crash is reported
 * once, also when systemd-pstore moves the record or the agent restarts.
 * Everything touching the disk runs on a worker thread with a deadline: the
 * disk holding /var/crash may be the one that is failing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "kernlog/kernlog.h"
#include "util.h"
#include "vigil/plugin.h"

#define LB_MAX_FILES 256          /* crash files looked at per start */
#define LB_MAX_REMEMBERED 1024    /* entries kept in the state file */
#define LB_MAX_REPORTS 64         /* reports kept per file */
#define LB_MAX_PARTS 32           /* pstore parts per dump */
#define LB_STATE_MAX (256 * 1024)
#define LB_FRAMES_TOP 8

enum lb_kind { LB_PSTORE_DMESG, LB_PSTORE_CONSOLE, LB_KDUMP_DMESG, LB_VMCORE_DMESG, LB_OTHER };
static const char *const lb_kind_names[] = { "pstore-dmesg", "pstore-console", "kdump-dmesg", "vmcore-dmesg",
					     "saved-dmesg" };

/* One crash file (or one multi-part pstore dump) and what kernlog found. */
struct lb_item {
	enum lb_kind kind;
	char *path;       /* reported file (Part1 for pstore dumps) */
	char **parts;     /* every file read (pstore parts) */
	size_t n_parts;
	char *reason;     /* pstore header reason ("Panic", "Oops"), NULL */
	char hash[17];
	uint64_t size;
	uint64_t mtime_usec;
	struct vigil_event *reports[LB_MAX_REPORTS];
	size_t n_reports;
	size_t n_reports_total;
};

struct lb;

struct lb_job {
	struct lb *owner; /* NULL once the plugin is gone (only touched on the loop) */
	/* inputs */
	char **patterns;
	size_t n_patterns;
	char *pstore_dir;
	char *sig_dir;
	char *state_dir;  /* <state>/lastboot, NULL: remember nothing */
	uint64_t max_size;
	/* outputs */
	char **remembered; /* "hash size path" lines */
	size_t n_remembered;
	struct lb_item *items;
	size_t n_items;
	size_t n_skipped, n_errors;
	char *sig_error;
};

struct lb_state_job {
	char *state_dir;
	char *text;
};

typedef int (*lb_emit_fn)(void *userdata, struct vigil_event *ev);

struct lb {
	struct vigil_ctx *ctx;
	lb_emit_fn emit;
	void *emit_data;
	uint64_t timeout;
	bool running, done;
	int last_result;
	struct lb_job *pending; /* owned by the worker */
	char *state_dir;
	uint64_t n_files, n_reported, n_skipped, n_errors, n_emit_failed;
};

/* ------------------------------------------------------------------ helpers */

static void lb_item_clear(struct lb_item *it)
{
	free(it->path);
	for (size_t i = 0; i < it->n_parts; i++)
		free(it->parts[i]);
	free(it->parts);
	free(it->reason);
	for (size_t i = 0; i < it->n_reports; i++)
		vigil_event_unref(it->reports[i]);
	memset(it, 0, sizeof(*it));
}

static void lb_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void lb_job_free(void *p)
{
	struct lb_job *j = p;
	if (!j)
		return;
	lb_strv_free(j->patterns, j->n_patterns);
	free(j->pstore_dir);
	free(j->sig_dir);
	free(j->state_dir);
	lb_strv_free(j->remembered, j->n_remembered);
	for (size_t i = 0; i < j->n_items; i++)
		lb_item_clear(&j->items[i]);
	free(j->items);
	free(j->sig_error);
	free(j);
}

static void lb_state_job_free(void *p)
{
	struct lb_state_job *s = p;
	if (!s)
		return;
	free(s->state_dir);
	free(s->text);
	free(s);
}

/* FNV-1a 64: identity of a crash file's content (not a security hash). */
static void lb_hash(const char *buf, size_t len, uint64_t *h)
{
	for (size_t i = 0; i < len; i++) {
		*h ^= (unsigned char)buf[i];
		*h *= 0x100000001b3ULL;
	}
}

static enum lb_kind lb_classify_path(const char *path, const char *pstore_dir)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t pl = pstore_dir ? strlen(pstore_dir) : 0;
	bool in_pstore = pl && strncmp(path, pstore_dir, pl) == 0 && path[pl] == '/';
	if (in_pstore && startswith(base, "dmesg-"))
		return LB_PSTORE_DMESG;
	if (in_pstore && startswith(base, "console-"))
		return LB_PSTORE_CONSOLE;
	if (streq(base, "vmcore-dmesg.txt"))
		return LB_VMCORE_DMESG;
	if (startswith(base, "dmesg.") && !streq(base, "dmesg.txt")) /* dmesg.202405061122 */
		return LB_KDUMP_DMESG;
	return LB_OTHER;
}

/* Read a regular file (no symlinks), at most max bytes. */
static int lb_read(const char *path, uint64_t max, char **ret, size_t *ret_len, struct stat *ret_st)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, ret_st) < 0)
		return negative_errno();
	if (!S_ISREG(ret_st->st_mode))
		return -EBADF;
	/* a dump bigger than max: the crash is at its end, keep the tail */
	if ((uint64_t)ret_st->st_size > max) {
		if (lseek(fd, ret_st->st_size - (off_t)max, SEEK_SET) < 0)
			return negative_errno();
	}
	/* pstore files may report size 0 or the real one; read up to max
	 * (bounded: the head of a huge file is enough) */
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = vigil_read_fd(fd, (size_t)max, true, &buf, &len);
	if (r < 0)
		return r;
	if ((uint64_t)ret_st->st_size > max) { /* drop the cut first line */
		char *nl = memchr(buf, '\n', len);
		if (nl) {
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len + 1);
		}
	}
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

/* pstore dmesg records start with "Panic#2 Part1" (reason, dump count,
 * part; Part1 is the newest chunk). */
static bool lb_pstore_header(const char *buf, char *reason, size_t rsz, unsigned *count, unsigned *part)
{
	char r[32];
	int n = 0;
	if (sscanf(buf, "%31[A-Za-z]#%u Part%u%n", r, count, part, &n) != 3 || (buf[n] != '\n' && buf[n] != '\0'))
		return false;
	vigil_strlcpy(reason, r, rsz);
	return true;
}

/* Strip "<N>" syslog prefixes kmsg_dump puts in front of pstore lines so
 * kernlog sees plain dmesg lines. In place; returns the new length. */
static size_t lb_strip_prio(char *buf, size_t len)
{
	size_t o = 0;
	bool bol = true;
	for (size_t i = 0; i < len; i++) {
		if (bol && buf[i] == '<') {
			size_t k = i + 1;
			while (k < len && k < i + 4 && buf[k] >= '0' && buf[k] <= '9')
				k++;
			if (k > i + 1 && k < len && buf[k] == '>') {
				i = k;
				bol = false;
				continue;
			}
		}
		buf[o++] = buf[i];
		bol = buf[i] == '\n';
	}
	buf[o] = '\0';
	return o;
}

/* ------------------------------------------------------------------ worker */

static int lb_collect_cb(struct vigil_event *ev, void *userdata)
{
	struct lb_item *it = userdata;
	it->n_reports_total++;
	if (it->n_reports >= LB_MAX_REPORTS) {
		vigil_event_unref(ev);
		return 0;
	}
	it->reports[it->n_reports++] = ev;
	return 0;
}

static bool lb_remembered(const struct lb_job *j, const char *hash)
{
	for (size_t i = 0; i < j->n_remembered; i++)
		if (strncmp(j->remembered[i], hash, 16) == 0 && j->remembered[i][16] == ' ')
			return true;
	return false;
}

static void lb_load_state(struct lb_job *j)
{
	if (!j->state_dir)
		return;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/reported", j->state_dir);
	_cleanup_free_ char *text = NULL;
	if (vigil_read_file(AT_FDCWD, path, LB_STATE_MAX, &text, NULL) < 0)
		return;
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (strlen(l) < 18 || l[16] != ' ' || j->n_remembered >= LB_MAX_REMEMBERED)
			continue;
		char **n = realloc(j->remembered, (j->n_remembered + 1) * sizeof(*n));
		if (!n)
			return;
		j->remembered = n;
		if ((j->remembered[j->n_remembered] = strdup(l)))
			j->n_remembered++;
	}
}

struct lb_file {
	char *path;
	enum lb_kind kind;
	char *buf;
	size_t len;
	struct stat st;
	/* pstore dmesg header */
	bool has_header;
	char reason[32];
	unsigned count, part;
	char backend[64];
	bool used;
};

static int lb_part_cmp(const void *a, const void *b)
{
	const struct lb_file *x = *(struct lb_file *const *)a, *y = *(struct lb_file *const *)b;
	return x->part == y->part ? 0 : x->part > y->part ? -1 : 1; /* oldest chunk (highest part) first */
}

/* Turn one file, or one group of pstore parts, into an item and scan it. */
static int lb_make_item(struct lb_job *j, const struct kl_signatures *sigs, struct lb_file **parts, size_t n)
{
	/* assemble the text: parts oldest first, headers dropped */
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += parts[i]->len + 1;
	_cleanup_free_ char *text = malloc(total + 1);
	if (!text)
		return -ENOMEM;
	size_t off = 0;
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		const char *b = parts[i]->buf;
		size_t l = parts[i]->len;
		if (parts[i]->has_header) {
			const char *nl = memchr(b, '\n', l);
			size_t skip = nl ? (size_t)(nl - b) + 1 : l;
			b += skip;
			l -= skip;
		}
		lb_hash(parts[i]->buf, parts[i]->len, &h);
		memcpy(text + off, b, l);
		off += l;
		if (l && text[off - 1] != '\n')
			text[off++] = '\n';
	}
	text[off] = '\0';
	off = lb_strip_prio(text, off);

	char hash[17];
	snprintf(hash, sizeof(hash), "%016" PRIx64, h);
	if (lb_remembered(j, hash)) {
		j->n_skipped++;
		return 0;
	}
	struct lb_item *ni = realloc(j->items, (j->n_items + 1) * sizeof(*ni));
	if (!ni)
		return -ENOMEM;
	j->items = ni;
	struct lb_item *it = &j->items[j->n_items++];
	memset(it, 0, sizeof(*it));
	/* the newest part (Part1) names the dump */
	const struct lb_file *head = parts[n - 1];
	it->kind = head->kind;
	it->path = strdup(head->path);
	it->parts = calloc(n, sizeof(char *));
	if (!it->path || !it->parts)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if ((it->parts[it->n_parts] = strdup(parts[i]->path)))
			it->n_parts++;
	if (head->has_header)
		it->reason = strdup(head->reason);
	memcpy(it->hash, hash, sizeof(hash));
	it->size = total;
	it->mtime_usec = (uint64_t)head->st.st_mtim.tv_sec * USEC_PER_SEC + (uint64_t)head->st.st_mtim.tv_nsec / 1000;
	int r = kl_scan_buffer(text, off, sigs, lb_collect_cb, it);
	return r < 0 ? r : 0;
}

static void lb_file_clear(struct lb_file *f)
{
	free(f->path);
	free(f->buf);
}

static int lb_job_run(void *arg)
{
	struct lb_job *j = arg;
	lb_load_state(j);

	struct kl_signatures *sigs = NULL;
	if (j->sig_dir) {
		char *err = NULL;
		if (kl_signatures_load_dir(j->sig_dir, &sigs, &err) < 0) {
			j->sig_error = err ? err : strdup(j->sig_dir);
			sigs = NULL;
		} else
			free(err);
	}

	/* gather the files */
	struct lb_file *files = calloc(LB_MAX_FILES, sizeof(*files));
	if (!files) {
		kl_signatures_free(sigs);
		return -ENOMEM;
	}
	size_t nf = 0;
	for (size_t p = 0; p < j->n_patterns && nf < LB_MAX_FILES; p++) {
		glob_t g;
		if (glob(j->patterns[p], GLOB_NOSORT, NULL, &g) != 0)
			continue;
		for (size_t i = 0; i < g.gl_pathc && nf < LB_MAX_FILES; i++) {
			bool dup = false;
			for (size_t k = 0; k < nf && !dup; k++)
				dup = streq(files[k].path, g.gl_pathv[i]);
			if (dup)
				continue;
			struct lb_file *f = &files[nf];
			memset(f, 0, sizeof(*f));
			if (lb_read(g.gl_pathv[i], j->max_size, &f->buf, &f->len, &f->st) < 0) {
				j->n_errors++;
				continue;
			}
			f->path = strdup(g.gl_pathv[i]);
			if (!f->path) {
				free(f->buf);
				continue;
			}
			f->kind = lb_classify_path(f->path, j->pstore_dir);
			if (f->kind == LB_PSTORE_DMESG &&
			    lb_pstore_header(f->buf, f->reason, sizeof(f->reason), &f->count, &f->part)) {
				f->has_header = true;
				/* dmesg-<backend>-<id> */
				const char *base = strrchr(f->path, '/') + 1 + strlen("dmesg-");
				const char *dash = strrchr(base, '-');
				size_t bl = dash ? (size_t)(dash - base) : strlen(base);
				snprintf(f->backend, sizeof(f->backend), "%.*s", (int)bl, base);
			}
			nf++;
		}
		globfree(&g);
	}

	int ret = 0;
	for (size_t i = 0; i < nf && ret >= 0; i++) {
		if (files[i].used)
			continue;
		struct lb_file *group[LB_MAX_PARTS];
		size_t ng = 0;
		group[ng++] = &files[i];
		files[i].used = true;
		if (files[i].has_header)
			/* the parts of one dump: same backend, reason, count and
			 * (within a few seconds) time */
			for (size_t k = i + 1; k < nf && ng < LB_MAX_PARTS; k++) {
				struct lb_file *o = &files[k];
				if (o->used || !o->has_header || o->count != files[i].count ||
				    !streq(o->reason, files[i].reason) || !streq(o->backend, files[i].backend) ||
				    labs((long)(o->st.st_mtim.tv_sec - files[i].st.st_mtim.tv_sec)) > 5)
					continue;
				o->used = true;
				group[ng++] = o;
			}
		if (ng > 1)
			qsort(group, ng, sizeof(group[0]), lb_part_cmp);
		ret = lb_make_item(j, sigs, group, ng);
	}
	for (size_t i = 0; i < nf; i++)
		lb_file_clear(&files[i]);
	free(files);
	kl_signatures_free(sigs);
	return ret;
}

static int lb_state_run(void *arg)
{
	struct lb_state_job *s = arg;
	if (mkdir(s->state_dir, 0700) < 0 && errno != EEXIST)
		return negative_errno();
	_cleanup_close_ int dfd = open(s->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return negative_errno();
	return vigil_write_file_atomic(dfd, "reported", s->text, strlen(s->text), 0600);
}

/* ------------------------------------------------------------------ events */

static int lb_severity_rank(const struct vigil_event *ev)
{
	/* a panic is usually the consequence of the report before it */
	int r = (int)vigil_event_severity(ev) * 2;
	if (!streq(vigil_event_kind(ev), "panic"))
		r++;
	return r;
}

/* The crash of a file. A dump ends with the report that killed the kernel,
 * and earlier reports of the same severity were survived (an RCU stall an
 * hour before the fatal Oops): so the report a panic names as its cause,
 * else the most severe report, the LAST one on ties. */
static ssize_t lb_pick(const struct lb_item *it)
{
	ssize_t best = -1;
	for (size_t i = it->n_reports; i-- > 0;) {
		json_object *cb = vigil_event_get(it->reports[i], "caused_by"), *k, *sm;
		if (!cb || !json_object_object_get_ex(cb, "kind", &k) || !json_object_object_get_ex(cb, "summary", &sm))
			continue;
		for (size_t j = i; j-- > 0;)
			if (streq(vigil_event_kind(it->reports[j]), json_object_get_string(k)) &&
			    streq(vigil_event_summary(it->reports[j]), json_object_get_string(sm)))
				return (ssize_t)j;
	}
	for (size_t i = 0; i < it->n_reports; i++)
		if (best < 0 || lb_severity_rank(it->reports[i]) >= lb_severity_rank(it->reports[best]))
			best = (ssize_t)i;
	return best;
}

static bool lb_is_crash_dump(const struct lb_item *it)
{
	switch (it->kind) {
	case LB_KDUMP_DMESG:
	case LB_VMCORE_DMESG:
		return true;
	case LB_PSTORE_DMESG:
		/* kmsg_dump also writes on clean reboot/halt when
		 * printk.always_kmsg_dump is set */
		return !it->reason || streq(it->reason, "Panic") || streq(it->reason, "Oops") ||
		       streq(it->reason, "Emergency");
	default:
		return false;
	}
}

static void lb_copy_field(struct vigil_event *dst, const struct vigil_event *src, const char *key)
{
	json_object *o = vigil_event_get(src, key);
	if (!o)
		return;
	json_object *c = NULL;
	if (json_object_deep_copy(o, &c, NULL) == 0)
		vigil_event_set_json(dst, key, c);
}

/* Build previous_boot_crash for an item; NULL when the file shows no crash. */
static struct vigil_event *lb_build_event(const struct lb_item *it)
{
	ssize_t pick = lb_pick(it);
	const struct vigil_event *rep = pick >= 0 ? it->reports[pick] : NULL;
	bool dump = lb_is_crash_dump(it);
	if (!dump && (!rep || vigil_event_severity(rep) < VIGIL_SEV_CRITICAL))
		return NULL;

	struct vigil_event *ev = vigil_event_new("previous_boot_crash", VIGIL_SEV_CRITICAL);
	if (!ev)
		return NULL;
	const char *kind_name = lb_kind_names[it->kind];
	const char *cls = rep ? vigil_event_kind(rep) : "unknown";

	/* culprit: comm (pid) at symbol [module] */
	char culprit[256] = "";
	if (rep) {
		const char *comm = vigil_event_get_str(rep, "comm");
		int64_t pid = vigil_event_get_int(rep, "pid", -1);
		json_object *sym = vigil_event_lookup(rep, "ip.symbol");
		json_object *mod = vigil_event_lookup(rep, "ip.module");
		size_t o = 0;
		if (comm)
			o += (size_t)snprintf(culprit + o, sizeof(culprit) - o, "%s", comm);
		if (pid >= 0 && o < sizeof(culprit))
			o += (size_t)snprintf(culprit + o, sizeof(culprit) - o, " (pid %" PRId64 ")", pid);
		if (sym && json_object_is_type(sym, json_type_string) && o < sizeof(culprit))
			o += (size_t)snprintf(culprit + o, sizeof(culprit) - o, "%s%s", o ? " at " : "",
					      json_object_get_string(sym));
		if (mod && json_object_is_type(mod, json_type_string) && o < sizeof(culprit))
			snprintf(culprit + o, sizeof(culprit) - o, " [%s]", json_object_get_string(mod));
	}

	if (rep)
		vigil_event_set_summary(ev, "previous boot crashed: %s (%s %s)", vigil_event_summary(rep), kind_name,
					it->path);
	else
		vigil_event_set_summary(ev, "previous boot crashed%s%s%s; no kernel report recognised in %s %s",
					it->reason ? " (" : "", it->reason ? it->reason : "", it->reason ? ")" : "",
					kind_name, it->path);
	vigil_event_set_str(ev, "class", cls);
	vigil_event_set_str(ev, "culprit", culprit[0] ? culprit : NULL);
	vigil_event_set_str(ev, "file", it->path);
	vigil_event_set_str(ev, "file_kind", kind_name);
	vigil_event_set_str(ev, "file_hash", it->hash);
	vigil_event_set_int(ev, "file_size", (int64_t)it->size);
	if (it->n_parts > 1) {
		json_object *parts = json_object_new_array();
		for (size_t i = 0; i < it->n_parts; i++)
			json_object_array_add(parts, json_object_new_string(it->parts[i]));
		vigil_event_set_json(ev, "files", parts);
	}
	if (it->reason)
		vigil_event_set_str(ev, "pstore_reason", it->reason);
	char ts[32];
	vigil_format_rfc3339(it->mtime_usec, ts);
	vigil_event_set_str(ev, "saved_at", ts);
	json_object *others = json_object_new_array();
	for (size_t i = 0; i < it->n_reports; i++)
		if ((ssize_t)i != pick)
			json_object_array_add(others, json_object_new_string(vigil_event_kind(it->reports[i])));
	vigil_event_set_json(ev, "other_kinds", others);
	vigil_event_set_int(ev, "report_count", (int64_t)it->n_reports_total);
	if (rep) {
		vigil_event_set_str(ev, "crash_summary", vigil_event_summary(rep));
		static const char *const keys[] = { "cpu", "comm", "pid", "duration_s", "ip", "taint", "cause",
						    "known_issue", "kernel_release", "partial", "caused_by" };
		for (size_t i = 0; i < ELEMENTSOF(keys); i++)
			lb_copy_field(ev, rep, keys[i]);
		json_object *fr = vigil_event_get(rep, "frames");
		if (fr && json_object_is_type(fr, json_type_array)) {
			json_object *top = json_object_new_array();
			for (size_t i = 0; i < json_object_array_length(fr) && i < LB_FRAMES_TOP; i++) {
				json_object *c = NULL;
				if (json_object_deep_copy(json_object_array_get_idx(fr, i), &c, NULL) == 0)
					json_object_array_add(top, c);
			}
			vigil_event_set_json(ev, "frames", top);
		}
		/* raw lines live outside the field map: take them from the encoding */
		json_object *full = vigil_event_to_json(rep);
		json_object *raw = full ? json_object_object_get(full, "raw") : NULL;
		if (raw && json_object_is_type(raw, json_type_array))
			for (size_t i = 0; i < json_object_array_length(raw); i++)
				vigil_event_add_raw(ev, json_object_get_string(json_object_array_get_idx(raw, i)));
		json_object_put(full);
	}
	char dk[64];
	snprintf(dk, sizeof(dk), "previous_boot_crash/%s", it->hash);
	vigil_event_set_dedup_key(ev, dk);
	return ev;
}

/* ------------------------------------------------------------------ plugin */

static const struct vigil_config_key lb_keys[] = {
	{ "pstore_dir", VIGIL_CFG_PATH, "/sys/fs/pstore", .help = "pstore mount: dmesg-* and console-* records" },
	{ "crash_dir", VIGIL_CFG_PATH, "/var/crash",
	  .help = "kdump dump directory: */dmesg.* (kdump-tools) and */vmcore-dmesg.txt (RHEL kdump)" },
	{ "paths", VIGIL_CFG_LIST, "/var/lib/systemd/pstore/*/dmesg.txt /var/lib/systemd/pstore/*/*/dmesg.txt",
	  .help = "further saved kernel logs to read (globs)" },
	{ "signatures_dir", VIGIL_CFG_PATH, NULL, .help = "known-issue signatures (default: <data_dir>/signatures)" },
	{ "max_file_size", VIGIL_CFG_SIZE, "16M", 4096, 1073741824, .help = "read at most this much of each file" },
	{ "timeout", VIGIL_CFG_DURATION, "60s", 1000000, 3600000000,
	  .help = "give up on the crash files after this long (a dead disk)" },
	{ NULL },
};

static int lb_emit_ctx(void *userdata, struct vigil_event *ev)
{
	return vigil_emit(userdata, ev);
}

static int lb_add_pattern(struct lb_job *j, const char *dir, const char *glob_tail)
{
	char **n = realloc(j->patterns, (j->n_patterns + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	j->patterns = n;
	char *p;
	if (dir ? asprintf(&p, "%s/%s", dir, glob_tail) < 0 : !(p = strdup(glob_tail)))
		return -ENOMEM;
	j->patterns[j->n_patterns++] = p;
	return 0;
}

/* Emit what the worker found and return the new state text (malloc'd). */
static char *lb_finish(struct lb *l, struct lb_job *j)
{
	l->n_skipped += j->n_skipped;
	l->n_errors += j->n_errors;
	/* state: old entries (bounded) + every new file whose event went out */
	size_t cap = 4096, len = 0;
	char *text = malloc(cap);
	if (!text)
		return NULL;
	text[0] = '\0';
	size_t keep_from = j->n_remembered + j->n_items > LB_MAX_REMEMBERED
				   ? j->n_remembered + j->n_items - LB_MAX_REMEMBERED
				   : 0;
#define LB_APPEND(...)                                                              \
	do {                                                                        \
		int w_ = snprintf(text + len, cap - len, __VA_ARGS__);               \
		if (w_ < 0)                                                         \
			break;                                                      \
		if ((size_t)w_ >= cap - len) {                                      \
			size_t nc_ = cap * 2 + (size_t)w_;                          \
			char *nt_ = realloc(text, nc_);                             \
			if (!nt_)                                                   \
				break;                                              \
			text = nt_;                                                 \
			cap = nc_;                                                  \
			snprintf(text + len, cap - len, __VA_ARGS__);               \
		}                                                                   \
		len += (size_t)w_;                                                  \
	} while (0)
	for (size_t i = keep_from < j->n_remembered ? keep_from : j->n_remembered; i < j->n_remembered; i++)
		LB_APPEND("%s\n", j->remembered[i]);
	for (size_t i = 0; i < j->n_items; i++) {
		struct lb_item *it = &j->items[i];
		l->n_files++;
		struct vigil_event *ev = lb_build_event(it);
		if (ev) {
			vigil_log(l->ctx, LOG_WARNING, "%s", vigil_event_summary(ev));
			if (l->emit(l->emit_data, ev) < 0) {
				l->n_emit_failed++;
				continue; /* not remembered: tried again next start */
			}
			l->n_reported++;
		}
		for (char *c = it->path; *c; c++) /* one entry per line */
			if (*c == '\n' || *c == '\r')
				*c = '?';
		LB_APPEND("%s %" PRIu64 " %s %s\n", it->hash, it->size, ev ? "reported" : "clean", it->path);
	}
#undef LB_APPEND
	return text;
}

static void lb_state_done(struct vigil_ctx *ctx, int result, void *userdata)
{
	if (result < 0)
		vigil_log_errno(ctx, LOG_WARNING, result,
				"cannot record the reported crash files, they may be reported again: %m");
}

static void lb_done(struct vigil_ctx *ctx, int result, void *userdata)
{
	struct lb_job *j = userdata;
	struct lb *l = j->owner;
	if (!l)
		return; /* plugin stopped meanwhile */
	l->running = false;
	l->done = true;
	l->pending = NULL;
	l->last_result = result;
	if (result == -ETIMEDOUT) {
		/* the job stays with the stuck thread, which frees it */
		vigil_log(ctx, LOG_WARNING, "reading the crash files timed out (dead disk?), giving up");
		return;
	}
	if (result < 0)
		vigil_log_errno(ctx, LOG_WARNING, result, "reading the crash files failed, ignoring: %m");
	if (j->sig_error)
		vigil_log(ctx, LOG_WARNING, "signatures: %s, classifying without known issues", j->sig_error);
	_cleanup_free_ char *text = lb_finish(l, j);
	vigil_log(ctx, LOG_INFO, "%zu new crash file(s), %" PRIu64 " previous_boot_crash, %zu already reported, %zu unreadable",
		  j->n_items, l->n_reported, j->n_skipped, j->n_errors);
	if (!text || !l->state_dir || j->n_items == 0)
		return;
	struct lb_state_job *sj = calloc(1, sizeof(*sj));
	if (!sj)
		return;
	sj->state_dir = strdup(l->state_dir);
	sj->text = TAKE_PTR(text);
	if (!sj->state_dir) {
		lb_state_job_free(sj);
		return;
	}
	int r = vigil_worker_submit(ctx, lb_state_run, sj, lb_state_job_free, l->timeout, lb_state_done, NULL);
	if (r < 0)
		vigil_log_errno(ctx, LOG_WARNING, r, "cannot record the reported crash files: %m");
}

static void lb_free(struct lb *l)
{
	if (!l)
		return;
	if (l->pending)
		l->pending->owner = NULL;
	free(l->state_dir);
	free(l);
}

/* The job for the files under the configured places. */
static int lb_job_new(const struct vigil_section *sec, const char *data_dir, const char *state_dir,
		      struct lb_job **ret)
{
	struct lb_job *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	const char *pstore = vigil_cfg_string(sec, "pstore_dir"), *crash = vigil_cfg_string(sec, "crash_dir");
	const char *const *extra;
	size_t n_extra = vigil_cfg_list(sec, "paths", &extra);
	int r = 0;
	j->pstore_dir = strdup(pstore);
	if (!j->pstore_dir)
		r = -ENOMEM;
	if (r >= 0)
		r = lb_add_pattern(j, pstore, "dmesg-*");
	if (r >= 0)
		r = lb_add_pattern(j, pstore, "console-*");
	if (r >= 0)
		r = lb_add_pattern(j, crash, "*/dmesg.*");
	if (r >= 0)
		r = lb_add_pattern(j, crash, "*/vmcore-dmesg.txt");
	for (size_t i = 0; r >= 0 && i < n_extra; i++)
		r = lb_add_pattern(j, NULL, extra[i]);
	const char *sd = vigil_cfg_string(sec, "signatures_dir");
	if (r >= 0 && sd && !(j->sig_dir = strdup(sd)))
		r = -ENOMEM;
	if (r >= 0 && !sd && data_dir && asprintf(&j->sig_dir, "%s/signatures", data_dir) < 0)
		r = -ENOMEM;
	if (r >= 0 && state_dir && !(j->state_dir = strdup(state_dir)))
		r = -ENOMEM;
	j->max_size = vigil_cfg_size(sec, "max_file_size");
	if (r < 0) {
		lb_job_free(j);
		return r;
	}
	*ret = j;
	return 0;
}

static int lb_init(struct vigil_ctx *ctx, const struct vigil_section *sec, void **ret_data)
{
	struct lb *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->ctx = ctx;
	l->emit = lb_emit_ctx;
	l->emit_data = ctx;
	l->timeout = vigil_cfg_duration(sec, "timeout");
	/* replay mode: no live sources, nothing to remember */
	if (vigil_replay_mode(ctx)) {
		*ret_data = l;
		return 0;
	}
	if (vigil_state_dir(ctx) && asprintf(&l->state_dir, "%s/lastboot", vigil_state_dir(ctx)) < 0) {
		lb_free(l);
		return -ENOMEM;
	}
	struct lb_job *j;
	int r = lb_job_new(sec, vigil_data_dir(ctx), l->state_dir, &j);
	if (r < 0) {
		lb_free(l);
		return vigil_log_errno(ctx, LOG_ERR, r, "cannot set up: %m");
	}
	j->owner = l;
	r = vigil_worker_submit(ctx, lb_job_run, j, lb_job_free, l->timeout, lb_done, j);
	if (r < 0) {
		lb_free(l);
		return vigil_log_errno(ctx, LOG_ERR, r, "cannot start the crash file reader: %m");
	}
	l->pending = j;
	l->running = true;
	*ret_data = l;
	return 0;
}

static int lb_status(struct vigil_ctx *ctx, void *data, json_object *out)
{
	struct lb *l = data;
	json_object_object_add(out, "state", json_object_new_string(l->running ? "reading" : l->done ? "done" : "idle"));
	json_object_object_add(out, "result", json_object_new_int(l->last_result));
	json_object_object_add(out, "files", json_object_new_int64((int64_t)l->n_files));
	json_object_object_add(out, "reported", json_object_new_int64((int64_t)l->n_reported));
	json_object_object_add(out, "already_reported", json_object_new_int64((int64_t)l->n_skipped));
	json_object_object_add(out, "unreadable", json_object_new_int64((int64_t)l->n_errors));
	json_object_object_add(out, "emit_failed", json_object_new_int64((int64_t)l->n_emit_failed));
	return 0;
}

static void lb_fini(struct vigil_ctx *ctx, void *data)
{
	lb_free(data);
}

const struct vigil_plugin vigil_plugin = {
	.abi_version = VIGIL_PLUGIN_ABI_VERSION,
	.kind = VIGIL_PLUGIN_MONITOR,
	.name = "lastboot",
	.description = "crash reports the previous boot left in pstore and kdump's dmesg files",
	.keys = lb_keys,
	.init = lb_init,
	.status = lb_status,
	.fini = lb_fini,
};
