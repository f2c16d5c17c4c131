/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * alert: durable at-least-once delivery of events to the fleet's endpoint.
 *
 * Each `[action alert-NAME]` section is one endpoint with its own format,
 * spool and retry state. An event routed here is accepted into memory at
 * once (action_run never blocks) and queued for the spool, which a worker
 * writes with a deadline (spool.c). Sending does not wait for the disk: a
 * dead or full disk is counted and logged, and the events still go out from
 * memory. A record leaves the queue only on a 2xx (then its file is
 * unlinked), when the endpoint rejects it for good (then it moves to
 * quarantine/), or when the bounds force the oldest out (counted, reported
 * as alert_dropped, in the heartbeat and in the status). One request per
 * endpoint is in flight at a time, so first delivery keeps spool order;
 * failures back off exponentially with jitter, honouring Retry-After.
 * HTTP goes through libcurl's multi interface on the loop (curl-glue.c).
 */
#include "curl-glue.h"
#include "format.h"
#include "spool.h"
#include "util.h"
#include "vigil/plugin.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <syslog.h>
#include <systemd/sd-id128.h>

#define RESP_KEEP 512            /* response bytes kept for the log */
#define RESP_MAX (256 * 1024)    /* stop reading a response body after this */
#define CONDITIONS_MAX 256
#define RETRY_AFTER_MAX_USEC (3600 * USEC_PER_SEC)
#define SCAN_TIMEOUT_USEC (60 * USEC_PER_SEC)

struct alert_plugin;
struct alert_inst;

struct alert_rec {
	struct alert_rec *prev, *next;
	uint64_t seq;
	char name[ALERT_SPOOL_NAME_MAX];
	char *body; /* record JSON: {"v":1,"event":{…},"resolves":{…}} */
	size_t len;
	enum { DISK_PENDING, DISK_WRITING, DISK_OK, DISK_FAILED, DISK_UNKNOWN, DISK_NONE } disk;
	bool in_flight;
	bool drop_report;  /* this endpoint's own alert_dropped (see drop_report_fold) */
	uint64_t accepted; /* CLOCK_MONOTONIC usec */
};

enum req_type { REQ_SPOOL, REQ_AUX };

struct alert_req {
	struct alert_inst *inst;
	enum req_type type;
	CURL *easy;
	char *body;
	char resp[RESP_KEEP + 1];
	size_t resp_len, resp_total;
	bool resp_aborted;
	uint64_t *seqs; /* REQ_SPOOL: the batch */
	size_t n_seqs;
	const char *what; /* REQ_AUX: "heartbeat", "resend" */
};

struct alert_job {
	struct alert_inst *inst; /* NULL once the instance is gone */
	bool scan;
	struct alert_op *ops;
	size_t n_ops;
	char *dir;
	size_t max_events;
	uint64_t max_bytes;
	struct alert_scan result;
	bool abandoned;
};

struct alert_cond_entry {
	char *condition;
	json_object *event; /* the raising event */
};

struct alert_inst {
	struct alert_plugin *p;
	struct vigil_ctx *ctx;
	char *name;
	char *url, *url_safe; /* url_safe: for logs (no userinfo, no query) */
	enum alert_format format;
	uint64_t timeout, connect_timeout, retry_initial, retry_max, resend, hold, heartbeat, spool_timeout, drop_report_every;
	size_t batch_max, max_events;
	uint64_t max_bytes;
	bool insecure;
	char *ca_file, *client_cert, *client_key;
	struct curl_slist *headers; /* holds the Authorization header: never logged */
	char *dir;                  /* spool directory or NULL (memory only) */

	/* queue */
	struct alert_rec *head, *tail;
	size_t n_recs, n_drop_recs; /* n_drop_recs, drop_bytes: own drop reports, outside the bounds */
	uint64_t bytes, drop_bytes;
	uint64_t next_seq;

	/* disk */
	struct alert_op *pending_ops;
	size_t n_pending_ops, cap_pending_ops;
	struct alert_job *job;       /* the one in flight */
	struct alert_job *stuck_job; /* abandoned after its deadline, thread still out */
	bool scanned;
	bool disk_failing;

	/* sending */
	struct alert_req *req, *aux;
	sd_event_source *retry_timer, *resend_timer, *heartbeat_timer, *drop_timer;
	uint64_t backoff, next_attempt;
	uint64_t single_until_seq; /* after a non-retryable 4xx on a batch: send one by one */
	bool failing;
	unsigned failures_in_row;
	uint64_t rng;

	struct alert_cond_entry conds[CONDITIONS_MAX];
	size_t n_conds;

	/* counters */
	uint64_t accepted, delivered, retries, dropped, dropped_unreported, drop_reports_folded, quarantined, corrupt,
		spool_write_errors, requests, heartbeats, heartbeat_failures, resends, late;
	long last_status;
	char last_error[256];
	uint64_t last_success; /* realtime */
	uint64_t lat_sum, lat_max, lat_n;
};

struct alert_plugin {
	struct vigil_ctx *ctx;
	struct alert_curl *curl;
	struct alert_inst **insts;
	size_t n_insts;
	uint64_t started; /* monotonic */
	struct vigil_flush_token *flush_token;
	uint64_t flush_deadline;
	sd_event_source *flush_timer;
};

static void inst_kick(struct alert_inst *in);
static void disk_kick(struct alert_inst *in);

/* ---------------------------------------------------------------- config */

static const char *const format_values[] = {"native", "alertmanager", "otlp", "webhook", NULL};

static int check_url(const char *key, const char *value, const char **ret_reason)
{
	if (!startswith(value, "http://") && !startswith(value, "https://")) {
		*ret_reason = "expected an http:// or https:// URL";
		return -EINVAL;
	}
	return 0;
}

static int check_header(const char *key, const char *value, const char **ret_reason)
{
	const char *name = key + strlen("header.");
	if (strpbrk(value, "\r\n") || strpbrk(name, " \t:\r\n")) {
		*ret_reason = "header name or value contains a forbidden character";
		return -EINVAL;
	}
	return 0;
}

#define SEC(n) ((int64_t)(n) * (int64_t)USEC_PER_SEC)
static const struct vigil_config_key alert_action_keys[] = {
	{"url", VIGIL_CFG_STRING, NULL, 0, 0, NULL, check_url, "endpoint URL (Alertmanager: base URL or …/api/v2/alerts)"},
	{"format", VIGIL_CFG_ENUM, "native", 0, 0, format_values, NULL, "payload format"},
	{"timeout", VIGIL_CFG_DURATION, "10s", SEC(1) / 10, SEC(600), NULL, NULL, "whole request timeout"},
	{"connect_timeout", VIGIL_CFG_DURATION, "5s", SEC(1) / 10, SEC(300), NULL, NULL, "TCP+TLS connect timeout"},
	{"batch_max", VIGIL_CFG_INT, "100", 1, 10000, NULL, NULL, "events per request at most"},
	{"retry_initial", VIGIL_CFG_DURATION, "1s", SEC(1) / 100, SEC(3600), NULL, NULL, "first retry delay"},
	{"retry_max", VIGIL_CFG_DURATION, "5m", SEC(1) / 10, SEC(86400), NULL, NULL, "retry delay cap"},
	{"spool_max_bytes", VIGIL_CFG_SIZE, "8M", 4096, 1LL << 30, NULL, NULL, "spool bound in bytes"},
	{"spool_max_events", VIGIL_CFG_INT, "10000", 1, 1000000, NULL, NULL, "spool bound in events"},
	{"spool_timeout", VIGIL_CFG_DURATION, "10s", SEC(1) / 10, SEC(600), NULL, NULL, "deadline of one spool disk operation"},
	{"resend_interval", VIGIL_CFG_DURATION, "1m", SEC(1), SEC(86400), NULL, NULL, "re-send active conditions (alertmanager)"},
	{"hold", VIGIL_CFG_DURATION, "1h", SEC(1), SEC(30 * 86400), NULL, NULL, "one-shot alerts stay firing this long (alertmanager, webhook)"},
	{"heartbeat_interval", VIGIL_CFG_DURATION, "0", 0, SEC(86400), NULL, NULL, "heartbeat period, 0 = off"},
	{"drop_report_interval", VIGIL_CFG_DURATION, "1m", SEC(1), SEC(86400), NULL, NULL,
	 "at most one alert_dropped event per interval (an undelivered one is superseded by the next)"},
	{"ca_file", VIGIL_CFG_PATH, NULL, 0, 0, NULL, NULL, "CA bundle to verify the endpoint"},
	{"client_cert", VIGIL_CFG_PATH, NULL, 0, 0, NULL, NULL, "TLS client certificate (PEM)"},
	{"client_key", VIGIL_CFG_PATH, NULL, 0, 0, NULL, NULL, "TLS client key (PEM)"},
	{"bearer_token_file", VIGIL_CFG_PATH, NULL, 0, 0, NULL, NULL, "bearer token; root-owned, mode 0600 or stricter"},
	{"insecure", VIGIL_CFG_BOOL, "no", 0, 0, NULL, NULL, "skip TLS verification (testing only)"},
	{"header.*", VIGIL_CFG_STRING, NULL, 0, 0, NULL, check_header, "extra HTTP header (header.X-Scope-OrgID = fleet)"},
	{NULL},
};

/* ---------------------------------------------------------------- helpers */

static uint64_t mono(struct alert_inst *in) { return vigil_now(in->ctx, CLOCK_MONOTONIC); }

static uint64_t rng_next(struct alert_inst *in)
{
	/* xorshift64*: jitter only, not security. */
	in->rng ^= in->rng >> 12;
	in->rng ^= in->rng << 25;
	in->rng ^= in->rng >> 27;
	return in->rng * 2685821657736338717ULL;
}

/* Printable ASCII only, for response excerpts in logs. */
static void sanitize(const char *in, size_t n, char *out, size_t size)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < size; i++) {
		unsigned char c = (unsigned char)in[i];
		out[o++] = c >= 0x20 && c < 0x7f ? (char)c : (c == '\n' || c == '\r' || c == '\t') ? ' ' : '?';
	}
	out[o] = 0;
}

static char *url_for_logs(const char *url)
{
	CURLU *u = curl_url();
	char *s = NULL, *r;
	if (!u)
		return strdup("<url>");
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK) {
		curl_url_set(u, CURLUPART_USER, NULL, 0);
		curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
		curl_url_set(u, CURLUPART_QUERY, NULL, 0);
		curl_url_get(u, CURLUPART_URL, &s, 0);
	}
	curl_url_cleanup(u);
	r = strdup(s ? s : "<unparsable url>");
	curl_free(s);
	return r;
}

/* ---------------------------------------------------------------- queue */

static void rec_free(struct alert_rec *r)
{
	if (!r)
		return;
	free(r->body);
	free(r);
}

static void queue_unlink(struct alert_inst *in, struct alert_rec *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		in->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		in->tail = r->prev;
	r->prev = r->next = NULL;
	in->n_recs--;
	in->bytes -= r->len;
	if (r->drop_report) {
		in->n_drop_recs--;
		in->drop_bytes -= r->len;
	}
}

static void queue_append(struct alert_inst *in, struct alert_rec *r)
{
	r->prev = in->tail;
	r->next = NULL;
	if (in->tail)
		in->tail->next = r;
	else
		in->head = r;
	in->tail = r;
	in->n_recs++;
	in->bytes += r->len;
	if (r->drop_report) {
		in->n_drop_recs++;
		in->drop_bytes += r->len;
	}
}

/* evj: an event object, or a spool record {"v":1,"event":{…}}. */
static bool is_own_drop_report(const struct alert_inst *in, json_object *evj)
{
	json_object *inner, *k, *ep;

	if (json_object_object_get_ex(evj, "event", &inner))
		evj = inner;
	return json_object_object_get_ex(evj, "kind", &k) && streq(strempty(json_object_get_string(k)), "alert_dropped") &&
	       json_object_object_get_ex(evj, "endpoint", &ep) && streq(strempty(json_object_get_string(ep)), in->name);
}

static bool body_is_own_drop_report(const struct alert_inst *in, const char *body)
{
	if (!strstr(body, "\"alert_dropped\""))
		return false; /* the common case: no parse */
	json_object *o = json_tokener_parse(body);
	bool r = o && is_own_drop_report(in, o);
	json_object_put(o);
	return r;
}

static int ops_push(struct alert_inst *in, enum alert_op_type type, const char *name, const char *body, size_t len)
{
	struct alert_op op = {.type = type};
	if (!in->dir)
		return 0;
	if (in->n_pending_ops == in->cap_pending_ops) {
		size_t nc = in->cap_pending_ops ? in->cap_pending_ops * 2 : 16;
		struct alert_op *n = realloc(in->pending_ops, nc * sizeof(*n));
		if (!n)
			return -ENOMEM;
		in->pending_ops = n;
		in->cap_pending_ops = nc;
	}
	vigil_strlcpy(op.name, name, sizeof(op.name));
	if (body) {
		int r = type == ALERT_OP_WRITE && !streq(name, ALERT_CONDITIONS_FILE) ? alert_spool_encode(body, len, &op.data, &op.len)
										       : ((op.data = strndup(body, len)) ? (op.len = len, 0) : -ENOMEM);
		if (r < 0)
			return r;
	}
	in->pending_ops[in->n_pending_ops++] = op;
	return 0;
}

/* A record leaves the queue (delivered, dropped, quarantined): its file
 * goes, or its write never happens when it is still only queued. */
static void rec_retire(struct alert_inst *in, struct alert_rec *r, bool quarantine)
{
	queue_unlink(in, r);
	if (r->disk == DISK_PENDING && !quarantine) {
		for (size_t i = 0; i < in->n_pending_ops; i++)
			if (in->pending_ops[i].type == ALERT_OP_WRITE && streq(in->pending_ops[i].name, r->name)) {
				free(in->pending_ops[i].data);
				memmove(&in->pending_ops[i], &in->pending_ops[i + 1],
					(in->n_pending_ops - i - 1) * sizeof(*in->pending_ops));
				in->n_pending_ops--;
				break;
			}
	} else if (quarantine)
		(void)ops_push(in, ALERT_OP_QUARANTINE, r->name, r->body, r->len);
	else if (r->disk != DISK_FAILED && r->disk != DISK_NONE)
		(void)ops_push(in, ALERT_OP_UNLINK, r->name, NULL, 0);
	rec_free(r);
}

static void schedule_drop_report(struct alert_inst *in);

static void enforce_bounds(struct alert_inst *in)
{
	unsigned dropped = 0;
	/* This endpoint's own drop reports ride on top of the bounds (there is
	 * at most one not in flight, see drop_report_fold): reporting drops
	 * must not drop another event. */
	while (in->n_recs - in->n_drop_recs > in->max_events || in->bytes - in->drop_bytes > in->max_bytes) {
		struct alert_rec *victim = in->head;
		/* Oldest not being sent right now, else the oldest. */
		while (victim && (victim->in_flight || victim->drop_report))
			victim = victim->next;
		if (!victim || victim == in->tail)
			victim = in->head;
		if (!victim)
			break;
		if (victim->in_flight || victim->drop_report)
			break; /* the in-flight batch finishes first */
		rec_retire(in, victim, false);
		dropped++;
	}
	if (dropped) {
		in->dropped += dropped;
		in->dropped_unreported += dropped;
		schedule_drop_report(in);
	}
}

static struct alert_rec *rec_new(struct alert_inst *in, const char *id, char *body, size_t len)
{
	struct alert_rec *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->seq = in->next_seq++;
	alert_spool_name(r->seq, id, r->name);
	r->body = body;
	r->len = len;
	r->accepted = mono(in);
	r->disk = in->dir ? DISK_PENDING : DISK_NONE;
	return r;
}

/* ---------------------------------------------------------------- conditions */

static struct alert_cond_entry *cond_find(struct alert_inst *in, const char *c)
{
	for (size_t i = 0; i < in->n_conds; i++)
		if (streq(in->conds[i].condition, c))
			return &in->conds[i];
	return NULL;
}

static void cond_remove(struct alert_inst *in, struct alert_cond_entry *e)
{
	free(e->condition);
	json_object_put(e->event);
	*e = in->conds[--in->n_conds];
}

static void conds_persist(struct alert_inst *in)
{
	json_object *root = json_object_new_object(), *arr = json_object_new_array();
	if (!root || !arr) {
		json_object_put(root);
		json_object_put(arr);
		return;
	}
	for (size_t i = 0; i < in->n_conds; i++) {
		json_object *e = json_object_new_object();
		json_object_object_add(e, "condition", json_object_new_string(in->conds[i].condition));
		json_object_object_add(e, "event", json_object_get(in->conds[i].event));
		json_object_array_add(arr, e);
	}
	json_object_object_add(root, "conditions", arr);
	const char *s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	/* Only the newest pending state matters. */
	for (size_t i = 0; i < in->n_pending_ops; i++)
		if (streq(in->pending_ops[i].name, ALERT_CONDITIONS_FILE)) {
			char *d = strdup(s);
			if (d) {
				free(in->pending_ops[i].data);
				in->pending_ops[i].data = d;
				in->pending_ops[i].len = strlen(d);
			}
			json_object_put(root);
			return;
		}
	(void)ops_push(in, ALERT_OP_WRITE, ALERT_CONDITIONS_FILE, s, strlen(s));
	json_object_put(root);
}

static void resend_arm(struct alert_inst *in);

/* Track raise/clear; returns the raising event a clear resolves (new ref). */
static json_object *cond_track(struct alert_inst *in, json_object *event)
{
	const char *c = NULL;
	enum alert_cond k = alert_event_cond(event, &c);
	struct alert_cond_entry *e;
	json_object *prev = NULL;

	if (k == ALERT_ONESHOT)
		return NULL;
	e = cond_find(in, c);
	if (k == ALERT_RAISE) {
		if (e) {
			json_object_put(e->event);
			e->event = json_object_get(event);
		} else {
			if (in->n_conds == CONDITIONS_MAX) {
				vigil_log(in->ctx, LOG_WARNING, "%s: more than %d active conditions, forgetting %s",
					  in->name, CONDITIONS_MAX, in->conds[0].condition);
				cond_remove(in, &in->conds[0]);
			}
			in->conds[in->n_conds++] = (struct alert_cond_entry){strdup(c), json_object_get(event)};
			if (!in->conds[in->n_conds - 1].condition)
				cond_remove(in, &in->conds[in->n_conds - 1]);
		}
	} else if (e) {
		prev = json_object_get(e->event);
		cond_remove(in, e);
	}
	conds_persist(in);
	disk_kick(in);
	resend_arm(in);
	return prev;
}

/* ---------------------------------------------------------------- disk jobs */

static void job_free(void *p)
{
	struct alert_job *j = p;
	if (!j)
		return;
	if (j->abandoned && j->inst && j->inst->stuck_job == j) {
		/* The thread stuck on the disk came back: resume disk work. */
		struct alert_inst *in = j->inst;
		in->stuck_job = NULL;
		vigil_log(in->ctx, LOG_NOTICE, "%s: spool disk responds again", in->name);
		disk_kick(in);
	}
	for (size_t i = 0; i < j->n_ops; i++)
		free(j->ops[i].data);
	free(j->ops);
	free(j->dir);
	alert_scan_clear(&j->result);
	free(j);
}

static int job_run(void *p)
{
	struct alert_job *j = p;
	if (j->scan)
		return alert_spool_scan(j->dir, j->max_events, j->max_bytes, &j->result);
	return alert_spool_run(j->dir, j->ops, j->n_ops);
}

static struct alert_rec *rec_by_name(struct alert_inst *in, const char *name)
{
	for (struct alert_rec *r = in->head; r; r = r->next)
		if (streq(r->name, name))
			return r;
	return NULL;
}

static void load_conditions(struct alert_inst *in, const char *text)
{
	json_object *root = json_tokener_parse(text), *arr = NULL;
	if (!root || !json_object_object_get_ex(root, "conditions", &arr) || !json_object_is_type(arr, json_type_array)) {
		vigil_log(in->ctx, LOG_WARNING, "%s: %s is corrupt, ignoring", in->name, ALERT_CONDITIONS_FILE);
		json_object_put(root);
		return;
	}
	for (size_t i = 0; i < json_object_array_length(arr) && in->n_conds < CONDITIONS_MAX; i++) {
		json_object *e = json_object_array_get_idx(arr, i), *c = NULL, *ev = NULL;
		if (!json_object_object_get_ex(e, "condition", &c) || !json_object_object_get_ex(e, "event", &ev) ||
		    !json_object_is_type(c, json_type_string) || cond_find(in, json_object_get_string(c)))
			continue;
		char *name = strdup(json_object_get_string(c));
		if (name)
			in->conds[in->n_conds++] = (struct alert_cond_entry){name, json_object_get(ev)};
	}
	json_object_put(root);
	resend_arm(in);
}

static void scan_done(struct alert_inst *in, struct alert_job *j, int result)
{
	struct alert_scan *s = &j->result;
	struct alert_rec *first = NULL, *last = NULL;
	size_t n = 0;
	uint64_t bytes = 0;

	in->scanned = true;
	if (result < 0) {
		vigil_log(in->ctx, LOG_ERR, "%s: cannot read spool %s: %s; continuing with memory only", in->name,
			  in->dir, strerror(-result));
		in->spool_write_errors++;
		return;
	}
	if (s->corrupt) {
		in->corrupt += s->corrupt;
		in->quarantined += s->corrupt;
		vigil_log(in->ctx, LOG_WARNING, "%s: %u corrupt spool entries moved to %s/%s", in->name, s->corrupt,
			  in->dir, ALERT_QUARANTINE_DIR);
	}
	if (s->n_over) {
		in->dropped += s->n_over;
		in->dropped_unreported += s->n_over;
		vigil_log(in->ctx, LOG_WARNING, "%s: spool held %zu events over its bounds, oldest dropped", in->name,
			  s->n_over);
		schedule_drop_report(in);
	}
	if (s->conditions)
		load_conditions(in, s->conditions);
	/* Spooled records go before anything accepted since start. */
	for (size_t i = 0; i < s->n; i++) {
		struct alert_rec *r = calloc(1, sizeof(*r));
		if (!r)
			break;
		r->seq = s->entries[i].seq;
		vigil_strlcpy(r->name, s->entries[i].name, sizeof(r->name));
		r->body = TAKE_PTR(s->entries[i].body);
		r->len = s->entries[i].len;
		r->disk = DISK_OK;
		r->drop_report = body_is_own_drop_report(in, r->body);
		if (r->drop_report) {
			in->n_drop_recs++;
			in->drop_bytes += r->len;
		}
		r->accepted = mono(in);
		r->prev = last;
		if (last)
			last->next = r;
		else
			first = r;
		last = r;
		n++;
		bytes += r->len;
		if (r->seq >= in->next_seq)
			in->next_seq = r->seq + 1;
	}
	if (first) {
		last->next = in->head;
		if (in->head)
			in->head->prev = last;
		else
			in->tail = last;
		in->head = first;
		in->n_recs += n;
		in->bytes += bytes;
		vigil_log(in->ctx, LOG_INFO, "%s: %zu spooled events to deliver", in->name, n);
	}
	enforce_bounds(in);
}

static void ops_done(struct alert_inst *in, struct alert_job *j, int result)
{
	unsigned failed = 0;
	int first_err = 0;

	for (size_t i = 0; i < j->n_ops; i++) {
		struct alert_op *op = &j->ops[i];
		int r = result == -ETIMEDOUT ? -ETIMEDOUT : op->result;
		if (op->type == ALERT_OP_WRITE && !streq(op->name, ALERT_CONDITIONS_FILE)) {
			struct alert_rec *rec = rec_by_name(in, op->name);
			if (rec)
				rec->disk = r == 0 ? DISK_OK : r == -ETIMEDOUT ? DISK_UNKNOWN : DISK_FAILED;
			else if (r == -ETIMEDOUT)
				/* Delivered meanwhile; the late write may still land. */
				(void)ops_push(in, ALERT_OP_UNLINK, op->name, NULL, 0);
		}
		if (r < 0) {
			failed++;
			if (!first_err)
				first_err = r;
		}
	}
	if (failed) {
		in->spool_write_errors += failed;
		if (!in->disk_failing)
			vigil_log(in->ctx, LOG_ERR,
				  "%s: spool write to %s failed for %u entries: %s; keeping them in memory and sending anyway",
				  in->name, in->dir, failed, strerror(-first_err));
		in->disk_failing = true;
	} else if (in->disk_failing) {
		vigil_log(in->ctx, LOG_NOTICE, "%s: spool writes succeed again", in->name);
		in->disk_failing = false;
	}
}

static void job_done(struct vigil_ctx *ctx, int result, void *userdata)
{
	struct alert_job *j = userdata;
	struct alert_inst *in = j->inst;

	if (!in)
		return;
	in->job = NULL;
	if (result == -ETIMEDOUT) {
		j->abandoned = true;
		in->stuck_job = j;
		vigil_log(in->ctx, LOG_ERR, "%s: spool %s did not answer within %" PRIu64 "ms; disk stalled, sending from memory",
			  in->name, in->dir, (uint64_t)(in->spool_timeout / USEC_PER_MSEC));
	}
	if (j->scan)
		scan_done(in, j, result);
	else
		ops_done(in, j, result);
	disk_kick(in);
	inst_kick(in);
}

static void disk_kick(struct alert_inst *in)
{
	struct alert_job *j;
	int r;

	if (!in->dir || in->job || in->stuck_job || !in->scanned || in->n_pending_ops == 0)
		return;
	j = calloc(1, sizeof(*j));
	if (!j || !(j->dir = strdup(in->dir))) {
		free(j);
		return;
	}
	j->inst = in;
	j->ops = TAKE_PTR(in->pending_ops);
	j->n_ops = in->n_pending_ops;
	in->n_pending_ops = in->cap_pending_ops = 0;
	for (size_t i = 0; i < j->n_ops; i++)
		if (j->ops[i].type == ALERT_OP_WRITE) {
			struct alert_rec *rec = rec_by_name(in, j->ops[i].name);
			if (rec)
				rec->disk = DISK_WRITING;
		}
	in->job = j;
	r = vigil_worker_submit(in->ctx, job_run, j, job_free, in->spool_timeout, job_done, j);
	if (r < 0) {
		/* The worker freed j; the writes are lost, the events are not. */
		in->job = NULL;
		in->spool_write_errors++;
		vigil_log(in->ctx, LOG_ERR, "%s: cannot start spool worker: %s", in->name, strerror(-r));
	}
}

static int scan_start(struct alert_inst *in)
{
	struct alert_job *j = calloc(1, sizeof(*j));
	if (!j || !(j->dir = strdup(in->dir))) {
		free(j);
		return -ENOMEM;
	}
	j->inst = in;
	j->scan = true;
	j->max_events = in->max_events;
	j->max_bytes = in->max_bytes;
	in->job = j;
	int r = vigil_worker_submit(in->ctx, job_run, j, job_free, SCAN_TIMEOUT_USEC, job_done, j);
	if (r < 0) {
		in->job = NULL;
		in->scanned = true;
		return r;
	}
	return 0;
}

/* ---------------------------------------------------------------- drops */

static int on_drop_report(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct alert_inst *in = userdata;
	struct vigil_event *ev;

	if (!in->dropped_unreported)
		return 0;
	vigil_log(in->ctx, LOG_WARNING, "%s: %" PRIu64 " undelivered events dropped (spool full), %" PRIu64 " in total",
		  in->name, in->dropped_unreported, in->dropped);
	ev = vigil_event_new("alert_dropped", VIGIL_SEV_WARNING);
	if (!ev)
		return 0;
	(void)vigil_event_set_summary(ev, "alert endpoint %s: %" PRIu64 " undelivered events dropped (spool full)",
				      in->name, in->dropped_unreported);
	(void)vigil_event_set_str(ev, "endpoint", in->name);
	(void)vigil_event_set_int(ev, "dropped", (int64_t)in->dropped_unreported);
	(void)vigil_event_set_int(ev, "dropped_total", (int64_t)in->dropped);
	(void)vigil_event_set_int(ev, "spool_events", (int64_t)in->n_recs);
	char key[256];
	snprintf(key, sizeof(key), "alert_dropped/%s/%" PRIu64, in->name, in->dropped);
	(void)vigil_event_set_dedup_key(ev, key);
	in->dropped_unreported = 0;
	/* Emitted from a timer, never from action_run: the core may route it
	 * straight back to this instance. */
	(void)vigil_emit(in->ctx, ev);
	return 0;
}

static void schedule_drop_report(struct alert_inst *in)
{
	uint64_t now = mono(in), when = now;
	uint64_t prev = 0;
	int enabled = SD_EVENT_OFF;

	if (in->drop_timer) {
		(void)sd_event_source_get_enabled(in->drop_timer, &enabled);
		if (enabled != SD_EVENT_OFF)
			return; /* already due */
		(void)sd_event_source_get_time(in->drop_timer, &prev);
		/* At most one report per drop_report_interval. */
		if (prev + in->drop_report_every > now)
			when = prev + in->drop_report_every;
		(void)sd_event_source_set_time(in->drop_timer, when);
		(void)sd_event_source_set_enabled(in->drop_timer, SD_EVENT_ONESHOT);
		return;
	}
	if (sd_event_add_time(vigil_loop(in->ctx), &in->drop_timer, CLOCK_MONOTONIC, when, 0, on_drop_report, in) >= 0)
		(void)sd_event_source_set_description(in->drop_timer, "alert-drop-report");
}

/* ---------------------------------------------------------------- HTTP */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct alert_req *q = userdata;
	size_t n = size * nmemb;
	if (q->resp_len < RESP_KEEP) {
		size_t k = n < RESP_KEEP - q->resp_len ? n : RESP_KEEP - q->resp_len;
		memcpy(q->resp + q->resp_len, ptr, k);
		q->resp_len += k;
		q->resp[q->resp_len] = 0;
	}
	q->resp_total += n;
	if (q->resp_total > RESP_MAX) {
		/* A hostile or broken endpoint streaming forever: stop here; the
		 * status line already told us what we need. */
		q->resp_aborted = true;
		return 0;
	}
	return n;
}

static void req_free(struct alert_req *q)
{
	if (!q)
		return;
	if (q->easy)
		curl_easy_cleanup(q->easy);
	free(q->body);
	free(q->seqs);
	free(q);
}

static int req_start(struct alert_inst *in, struct alert_req *q)
{
	CURL *e = curl_easy_init();
	if (!e)
		return -ENOMEM;
	q->easy = e;
	q->inst = in;
#define SET(opt, val)                                                                                               \
	do {                                                                                                        \
		if (curl_easy_setopt(e, opt, val) != CURLE_OK)                                                      \
			return -EINVAL;                                                                             \
	} while (0)
	SET(CURLOPT_URL, in->url);
	SET(CURLOPT_PRIVATE, q);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_POST, 1L);
	SET(CURLOPT_POSTFIELDS, q->body);
	SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(q->body));
	SET(CURLOPT_HTTPHEADER, in->headers);
	SET(CURLOPT_TIMEOUT_MS, (long)(in->timeout / USEC_PER_MSEC));
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)(in->connect_timeout / USEC_PER_MSEC));
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, q);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_USERAGENT, "vigil/" PACKAGE_VERSION);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_SSL_VERIFYPEER, in->insecure ? 0L : 1L);
	SET(CURLOPT_SSL_VERIFYHOST, in->insecure ? 0L : 2L);
	if (in->ca_file)
		SET(CURLOPT_CAINFO, in->ca_file);
	if (in->client_cert)
		SET(CURLOPT_SSLCERT, in->client_cert);
	if (in->client_key)
		SET(CURLOPT_SSLKEY, in->client_key);
#undef SET
	/* Proxies: libcurl reads http_proxy/https_proxy/no_proxy itself. */
	in->requests++;
	return alert_curl_add(in->p->curl, e);
}

static void retry_arm(struct alert_inst *in, uint64_t delay)
{
	uint64_t when = mono(in) + delay;
	in->next_attempt = when;
	if (in->retry_timer) {
		(void)sd_event_source_set_time(in->retry_timer, when);
		(void)sd_event_source_set_enabled(in->retry_timer, SD_EVENT_ONESHOT);
	}
}

static void flush_check(struct alert_plugin *p);

static void handle_failure(struct alert_inst *in, struct alert_req *q, const char *what, uint64_t retry_after)
{
	/* Full jitter on the upper half: [backoff/2, backoff]. */
	uint64_t d = in->backoff / 2 + rng_next(in) % (in->backoff / 2 + 1);
	if (retry_after > d)
		d = retry_after < RETRY_AFTER_MAX_USEC ? retry_after : RETRY_AFTER_MAX_USEC;
	in->backoff = in->backoff * 2 > in->retry_max ? in->retry_max : in->backoff * 2;
	if (in->p->flush_token && d > 500 * USEC_PER_MSEC)
		d = 500 * USEC_PER_MSEC; /* reboot pending: try hard */
	in->retries++;
	in->failures_in_row++;
	vigil_strlcpy(in->last_error, what, sizeof(in->last_error));
	if (!in->failing)
		vigil_log(in->ctx, LOG_WARNING, "%s: delivery to %s failed: %s; %zu events waiting, retrying with backoff",
			  in->name, in->url_safe, what, in->n_recs);
	in->failing = true;
	retry_arm(in, d);
}

static void handle_success(struct alert_inst *in)
{
	if (in->failing)
		vigil_log(in->ctx, LOG_NOTICE, "%s: delivery to %s recovered after %u failed attempts", in->name,
			  in->url_safe, in->failures_in_row);
	in->failing = false;
	in->failures_in_row = 0;
	in->backoff = in->retry_initial;
	in->last_success = vigil_now(in->ctx, CLOCK_REALTIME);
	in->last_error[0] = 0;
}

/* Endpoint-wide refusals (auth, wrong URL, redirects) say nothing about the
 * events: retry them with backoff instead of quarantining the whole spool
 * because of a config mistake. */
static bool status_systemic(long status)
{
	return (status >= 300 && status < 400) || status == 401 || status == 403 || status == 404 || status == 405 ||
	       status == 407;
}

static void spool_req_done(struct alert_inst *in, struct alert_req *q, CURLcode res, long status,
			   uint64_t retry_after)
{
	char what[512], excerpt[160];
	bool got_status = res == CURLE_OK || (res == CURLE_WRITE_ERROR && q->resp_aborted && status > 0);

	for (struct alert_rec *r = in->head; r; r = r->next)
		r->in_flight = false;
	if (got_status && status >= 200 && status < 300) {
		size_t k = 0;
		uint64_t now = mono(in);
		for (struct alert_rec *r = in->head, *next; r && k < q->n_seqs; r = next) {
			next = r->next;
			for (size_t i = 0; i < q->n_seqs; i++)
				if (q->seqs[i] == r->seq) {
					uint64_t lat = now - r->accepted;
					in->lat_sum += lat;
					in->lat_n++;
					if (lat > in->lat_max)
						in->lat_max = lat;
					rec_retire(in, r, false);
					in->delivered++;
					k++;
					break;
				}
		}
		if (in->single_until_seq && (!in->head || in->head->seq > in->single_until_seq))
			in->single_until_seq = 0;
		if (in->format == ALERT_FMT_OTLP && strstr(q->resp, "rejectedLogRecords")) {
			sanitize(q->resp, q->resp_len, excerpt, sizeof(excerpt));
			vigil_log(in->ctx, LOG_WARNING, "%s: endpoint accepted with a partial rejection: %s", in->name, excerpt);
		}
		handle_success(in);
		disk_kick(in);
		return;
	}
	if (!got_status) {
		snprintf(what, sizeof(what), "%s", curl_easy_strerror(res));
		handle_failure(in, q, what, 0);
		return;
	}
	sanitize(q->resp, q->resp_len, excerpt, sizeof(excerpt));
	snprintf(what, sizeof(what), "HTTP %ld: %s", status, excerpt);
	if (alert_format_status_retryable(in->format, status) || status_systemic(status) || status < 200) {
		if (status_systemic(status) && !in->failing)
			vigil_log(in->ctx, LOG_ERR, "%s: endpoint %s refuses every request (HTTP %ld), check url and credentials",
				  in->name, in->url_safe, status);
		handle_failure(in, q, what, retry_after);
		return;
	}
	/* Rejected for what it is. A batch: send its events one by one to
	 * find the bad one(s); a single event: quarantine it. */
	if (q->n_seqs > 1) {
		in->single_until_seq = q->seqs[q->n_seqs - 1];
		vigil_log(in->ctx, LOG_WARNING, "%s: endpoint rejected a batch of %zu (HTTP %ld), retrying one by one",
			  in->name, q->n_seqs, status);
		retry_arm(in, 0);
		return;
	}
	for (struct alert_rec *r = in->head; r; r = r->next)
		if (q->n_seqs == 1 && r->seq == q->seqs[0]) {
			vigil_log(in->ctx, LOG_ERR, "%s: endpoint rejected event %s with HTTP %ld: %s; quarantined in %s/%s",
				  in->name, r->name, status, excerpt, in->dir ? in->dir : "(memory)", ALERT_QUARANTINE_DIR);
			rec_retire(in, r, true);
			in->quarantined++;
			break;
		}
	vigil_strlcpy(in->last_error, what, sizeof(in->last_error));
	in->last_status = status;
	disk_kick(in);
	retry_arm(in, 0);
}

static void on_curl_done(CURL *easy, CURLcode res, void *userdata)
{
	struct alert_req *q = NULL;
	long status = 0;
	curl_off_t ra = -1;

	(void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&q);
	if (!q)
		return;
	struct alert_inst *in = q->inst;
	(void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	(void)curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &ra);
	in->last_status = status;
	if (q->type == REQ_SPOOL) {
		in->req = NULL;
		spool_req_done(in, q, res, status, ra > 0 ? (uint64_t)ra * USEC_PER_SEC : 0);
	} else {
		bool ok = (res == CURLE_OK || q->resp_aborted) && status >= 200 && status < 300;
		in->aux = NULL;
		if (streq(q->what, "heartbeat")) {
			if (ok)
				in->heartbeats++;
			else
				in->heartbeat_failures++;
		} else if (ok)
			in->resends++;
		if (!ok)
			vigil_log(in->ctx, LOG_DEBUG, "%s: %s to %s failed: %s (HTTP %ld)", in->name, q->what,
				  in->url_safe, curl_easy_strerror(res), status);
	}
	req_free(q);
	inst_kick(in);
	flush_check(in->p);
}

static struct alert_fmt_opts fmt_opts(struct alert_inst *in)
{
	return (struct alert_fmt_opts){.receiver = in->name,
				       .version = PACKAGE_VERSION,
				       .now_usec = vigil_now(in->ctx, CLOCK_REALTIME),
				       .hold_usec = in->hold,
				       .resend_usec = in->resend};
}

/* Take the next batch off the head of the queue and send it. */
static void send_batch(struct alert_inst *in)
{
	_cleanup_free_ struct alert_item *items = calloc(in->batch_max, sizeof(*items));
	_cleanup_free_ json_object **recs = calloc(in->batch_max, sizeof(*recs));
	struct alert_req *q = calloc(1, sizeof(*q));
	size_t n = 0;
	struct alert_fmt_opts o = fmt_opts(in);

	if (!items || !recs || !q || !(q->seqs = calloc(in->batch_max, sizeof(uint64_t)))) {
		req_free(q);
		return;
	}
	q->type = REQ_SPOOL;
	for (struct alert_rec *r = in->head, *next; r && n < in->batch_max; r = next) {
		json_object *rec = NULL, *ev = NULL, *res = NULL;
		next = r->next;
		if (n > 0 && in->single_until_seq && r->seq <= in->single_until_seq)
			break;
		rec = json_tokener_parse(r->body);
		if (!rec || !json_object_object_get_ex(rec, "event", &ev) || !json_object_is_type(ev, json_type_object)) {
			vigil_log(in->ctx, LOG_WARNING, "%s: spool entry %s does not parse, quarantined", in->name, r->name);
			json_object_put(rec);
			rec_retire(in, r, true);
			in->corrupt++;
			in->quarantined++;
			continue;
		}
		(void)json_object_object_get_ex(rec, "resolves", &res);
		const char *c = NULL;
		bool active = alert_event_cond(ev, &c) == ALERT_RAISE && cond_find(in, c);
		items[n] = (struct alert_item){.event = ev, .resolves = res, .still_active = active};
		recs[n] = rec;
		q->seqs[n] = r->seq;
		r->in_flight = true;
		n++;
		if (in->single_until_seq && r->seq <= in->single_until_seq)
			break;
	}
	q->n_seqs = n;
	if (n == 0) {
		req_free(q);
		disk_kick(in);
		return;
	}
	q->body = alert_format_body(in->format, items, n, &o);
	for (size_t i = 0; i < n; i++)
		json_object_put(recs[i]);
	if (!q->body || req_start(in, q) < 0) {
		for (struct alert_rec *r = in->head; r; r = r->next)
			r->in_flight = false;
		req_free(q);
		handle_failure(in, NULL, "cannot build request", 0);
		return;
	}
	in->req = q;
}

static void inst_kick(struct alert_inst *in)
{
	int enabled = SD_EVENT_OFF;
	if (in->req || !in->head)
		return;
	if (in->retry_timer)
		(void)sd_event_source_get_enabled(in->retry_timer, &enabled);
	if (enabled != SD_EVENT_OFF)
		return; /* backing off */
	send_batch(in);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct alert_inst *in = userdata;
	(void)sd_event_source_set_enabled(s, SD_EVENT_OFF);
	inst_kick(in);
	return 0;
}

static void aux_send(struct alert_inst *in, const char *what, char *body)
{
	struct alert_req *q = calloc(1, sizeof(*q));
	if (!q || !body) {
		free(q);
		free(body);
		return;
	}
	q->type = REQ_AUX;
	q->what = what;
	q->body = body;
	if (req_start(in, q) < 0) {
		req_free(q);
		return;
	}
	in->aux = q;
}

/* Alertmanager forgets a firing alert after its endsAt: re-send every
 * active condition each resend_interval. */
static int on_resend(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct alert_inst *in = userdata;
	struct alert_item items[CONDITIONS_MAX];
	struct alert_fmt_opts o = fmt_opts(in);

	(void)sd_event_source_set_time(s, mono(in) + in->resend);
	if (in->n_conds == 0) {
		(void)sd_event_source_set_enabled(s, SD_EVENT_OFF);
		return 0;
	}
	if (in->aux)
		return 0;
	for (size_t i = 0; i < in->n_conds; i++)
		items[i] = (struct alert_item){.event = in->conds[i].event, .still_active = true};
	aux_send(in, "resend", alert_format_body(in->format, items, in->n_conds, &o));
	return 0;
}

static void resend_arm(struct alert_inst *in)
{
	int enabled = SD_EVENT_OFF;
	if (in->format != ALERT_FMT_ALERTMANAGER || !in->resend_timer || in->n_conds == 0)
		return;
	(void)sd_event_source_get_enabled(in->resend_timer, &enabled);
	if (enabled != SD_EVENT_OFF)
		return;
	(void)sd_event_source_set_time(in->resend_timer, mono(in) + in->resend);
	(void)sd_event_source_set_enabled(in->resend_timer, SD_EVENT_ON);
}

static json_object *counters_json(struct alert_inst *in)
{
	json_object *c = json_object_new_object();
#define C(name, v) json_object_object_add(c, name, json_object_new_int64((int64_t)(v)))
	C("accepted", in->accepted);
	C("delivered", in->delivered);
	C("retried", in->retries);
	C("dropped", in->dropped);
	C("drop_reports_folded", in->drop_reports_folded);
	C("quarantined", in->quarantined);
	C("corrupt", in->corrupt);
	C("spool_write_errors", in->spool_write_errors);
	C("spool_events", in->n_recs);
	C("spool_bytes", in->bytes);
	C("requests", in->requests);
	C("heartbeats", in->heartbeats);
	C("resends", in->resends);
#undef C
	return c;
}

static int on_heartbeat(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct alert_inst *in = userdata;
	struct alert_fmt_opts o = fmt_opts(in);

	(void)sd_event_source_set_time(s, mono(in) + in->heartbeat);
	if (in->aux) {
		in->heartbeat_failures++;
		return 0;
	}
	/* A heartbeat is an event like any other on the wire (the one encoder),
	 * but it is not emitted: it goes to this endpoint only. */
	struct vigil_event *hb = vigil_event_new("agent_heartbeat", VIGIL_SEV_INFO);
	if (!hb || vigil_event_finalize(in->ctx, hb) < 0) {
		vigil_event_unref(hb);
		in->heartbeat_failures++;
		return 0;
	}
	vigil_event_set_summary(hb, "vigil heartbeat");
	vigil_event_set_str(hb, "version", PACKAGE_VERSION);
	vigil_event_set_int(hb, "uptime_s", (int64_t)((mono(in) - in->p->started) / USEC_PER_SEC));
	vigil_event_set_str(hb, "endpoint", in->name);
	vigil_event_set_str(hb, "state", in->failing ? "retrying" : "ok");
	vigil_event_set_int(hb, "dropped_since_last", (int64_t)in->dropped_unreported);
	vigil_event_set_json(hb, "counters", counters_json(in));
	vigil_event_set_json(hb, "agent", vigil_agent_summary(in->ctx));
	json_object *ev = vigil_event_to_json(hb);
	vigil_event_unref(hb);
	if (!ev) {
		in->heartbeat_failures++;
		return 0;
	}
	/* Alertmanager: a "watchdog" alert that stays firing while beats come. */
	o.hold_usec = 2 * in->heartbeat + 30 * USEC_PER_SEC;
	struct alert_item it = {.event = ev};
	aux_send(in, "heartbeat", alert_format_body(in->format, &it, 1, &o));
	json_object_put(ev);
	return 0;
}

/* ---------------------------------------------------------------- flush */

static void flush_finish(struct alert_plugin *p)
{
	struct vigil_flush_token *t = TAKE_PTR(p->flush_token);
	p->flush_timer = sd_event_source_disable_unref(p->flush_timer);
	if (t)
		vigil_flush_done(t);
}

static void flush_check(struct alert_plugin *p)
{
	if (!p->flush_token)
		return;
	for (size_t i = 0; i < p->n_insts; i++)
		if (p->insts[i]->n_recs > 0)
			return;
	vigil_log(p->ctx, LOG_INFO, "flush: every spooled event delivered");
	flush_finish(p);
}

static int on_flush_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct alert_plugin *p = userdata;
	size_t left = 0;
	for (size_t i = 0; i < p->n_insts; i++)
		left += p->insts[i]->n_recs;
	vigil_log(p->ctx, LOG_WARNING, "flush: deadline reached with %zu events undelivered (they stay spooled)", left);
	flush_finish(p);
	return 0;
}

/* A reboot is coming: deliver what is spooled now, ignoring backoff. */
static void on_flush(struct vigil_ctx *ctx, void *data, uint64_t deadline_usec, struct vigil_flush_token *token)
{
	struct alert_plugin *p = data;
	flush_finish(p);
	p->flush_token = token;
	if (sd_event_add_time(vigil_loop(ctx), &p->flush_timer, CLOCK_MONOTONIC, deadline_usec, 0, on_flush_deadline,
			      p) < 0) {
		flush_finish(p);
		return;
	}
	for (size_t i = 0; i < p->n_insts; i++) {
		struct alert_inst *in = p->insts[i];
		if (in->retry_timer)
			(void)sd_event_source_set_enabled(in->retry_timer, SD_EVENT_OFF);
		inst_kick(in);
	}
	flush_check(p);
}

/* ---------------------------------------------------------------- action */

/*
 * A drop report routed back to the endpoint it reports on lands in a full
 * spool and would push out the oldest real event, which is reported a
 * minute later by a report that pushes out the next one: over a long outage
 * the spool would turn into drop reports. So the newest report supersedes
 * the undelivered earlier ones: their counts are added into it (dropped,
 * summary) and they leave the spool, making room for it.
 */
static void drop_report_fold(struct alert_inst *in, json_object *evj)
{
	json_object *nd;
	int64_t folded = 0;

	for (struct alert_rec *r = in->head, *next; r; r = next) {
		next = r->next;
		if (!r->drop_report || r->in_flight)
			continue;
		json_object *old = json_tokener_parse(r->body), *oe, *od;
		if (old && json_object_object_get_ex(old, "event", &oe) && json_object_object_get_ex(oe, "dropped", &od))
			folded += json_object_get_int64(od);
		json_object_put(old);
		rec_retire(in, r, false);
		in->drop_reports_folded++;
	}
	if (folded > 0 && json_object_object_get_ex(evj, "dropped", &nd)) {
		char summary[256];
		int64_t n = json_object_get_int64(nd) + folded;
		json_object_set_int64(nd, n);
		snprintf(summary, sizeof(summary), "alert endpoint %s: %" PRId64 " undelivered events dropped (spool full)",
			 in->name, n);
		json_object_object_add(evj, "summary", json_object_new_string(summary));
	}
}

static int alert_action_run(struct vigil_ctx *ctx, void *data, struct vigil_event *ev)
{
	struct alert_inst *in = data;
	json_object *rec = json_object_new_object(), *evj = vigil_event_to_json(ev), *prev = NULL;
	struct alert_rec *r;
	char *body;

	if (!rec || !evj) {
		json_object_put(rec);
		json_object_put(evj);
		return -ENOMEM;
	}
	prev = cond_track(in, evj);
	bool drop_report = is_own_drop_report(in, evj);
	if (drop_report)
		drop_report_fold(in, evj);
	json_object_object_add(rec, "v", json_object_new_int(1));
	json_object_object_add(rec, "event", evj);
	if (prev)
		json_object_object_add(rec, "resolves", prev);
	body = strdup(json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(rec);
	if (!body)
		return -ENOMEM;
	r = rec_new(in, vigil_event_id(ev), body, strlen(body));
	if (!r) {
		free(body);
		return -ENOMEM;
	}
	r->drop_report = drop_report;
	if (r->len > ALERT_SPOOL_RECORD_MAX)
		r->disk = DISK_NONE; /* too big for a spool file: memory only */
	in->accepted++;
	queue_append(in, r);
	if (r->disk == DISK_PENDING && ops_push(in, ALERT_OP_WRITE, r->name, r->body, r->len) < 0)
		r->disk = DISK_FAILED;
	enforce_bounds(in);
	disk_kick(in);
	inst_kick(in);
	return 0;
}

static int alert_action_status(struct vigil_ctx *ctx, void *data, json_object *out)
{
	struct alert_inst *in = data;
	size_t on_disk = 0, memory_only = 0;
	char t[40];

	for (struct alert_rec *r = in->head; r; r = r->next)
		if (r->disk == DISK_OK)
			on_disk++;
		else if (r->disk == DISK_FAILED || r->disk == DISK_NONE || r->disk == DISK_UNKNOWN)
			memory_only++;
	json_object_object_add(out, "url", json_object_new_string(in->url_safe));
	json_object_object_add(out, "format", json_object_new_string(alert_format_names[in->format]));
	json_object_object_add(out, "state", json_object_new_string(in->failing ? "retrying"
								     : in->req ? "sending"
								     : in->head ? "pending" : "idle"));
	json_object_object_add(out, "spool_dir", in->dir ? json_object_new_string(in->dir) : NULL);
	json_object_object_add(out, "spool_events", json_object_new_int64((int64_t)in->n_recs));
	json_object_object_add(out, "spool_bytes", json_object_new_int64((int64_t)in->bytes));
	json_object_object_add(out, "spool_on_disk", json_object_new_int64((int64_t)on_disk));
	json_object_object_add(out, "spool_memory_only", json_object_new_int64((int64_t)memory_only));
	json_object_object_add(out, "disk_stalled", json_object_new_boolean(in->stuck_job != NULL));
	json_object_object_add(out, "active_conditions", json_object_new_int64((int64_t)in->n_conds));
	json_object_object_add(out, "counters", counters_json(in));
	json_object_object_add(out, "last_status", json_object_new_int64(in->last_status));
	json_object_object_add(out, "last_error", in->last_error[0] ? json_object_new_string(in->last_error) : NULL);
	if (in->last_success) {
		alert_rfc3339(in->last_success, t);
		json_object_object_add(out, "last_success", json_object_new_string(t));
	} else
		json_object_object_add(out, "last_success", NULL);
	json_object_object_add(out, "backoff_ms", json_object_new_int64((int64_t)(in->failing ? in->backoff / USEC_PER_MSEC : 0)));
	json_object_object_add(out, "latency_avg_ms",
			       json_object_new_double(in->lat_n ? (double)in->lat_sum / (double)in->lat_n / 1000.0 : 0));
	json_object_object_add(out, "latency_max_ms", json_object_new_double((double)in->lat_max / 1000.0));
	return 0;
}

static void inst_free(struct alert_inst *in)
{
	if (!in)
		return;
	if (in->req) {
		alert_curl_remove(in->p->curl, in->req->easy);
		req_free(in->req);
	}
	if (in->aux) {
		alert_curl_remove(in->p->curl, in->aux->easy);
		req_free(in->aux);
	}
	/* Jobs still out finish on their own (the worker frees them). */
	if (in->job)
		in->job->inst = NULL;
	if (in->stuck_job)
		in->stuck_job->inst = NULL;
	for (struct alert_rec *r = in->head, *n; r; r = n) {
		n = r->next;
		rec_free(r);
	}
	for (size_t i = 0; i < in->n_pending_ops; i++)
		free(in->pending_ops[i].data);
	free(in->pending_ops);
	for (size_t i = 0; i < in->n_conds; i++) {
		free(in->conds[i].condition);
		json_object_put(in->conds[i].event);
	}
	sd_event_source_disable_unref(in->retry_timer);
	sd_event_source_disable_unref(in->resend_timer);
	sd_event_source_disable_unref(in->heartbeat_timer);
	sd_event_source_disable_unref(in->drop_timer);
	/* The Authorization header is in here: wipe before freeing. */
	for (struct curl_slist *h = in->headers; h; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(in->headers);
	free(in->name);
	free(in->url);
	free(in->url_safe);
	free(in->ca_file);
	free(in->client_cert);
	free(in->client_key);
	free(in->dir);
	free(in);
}

static void alert_action_free(struct vigil_ctx *ctx, void *data)
{
	struct alert_inst *in = data;
	struct alert_plugin *p;
	if (!in)
		return;
	p = in->p;
	for (size_t i = 0; i < p->n_insts; i++)
		if (p->insts[i] == in) {
			p->insts[i] = p->insts[--p->n_insts];
			break;
		}
	inst_free(in);
	flush_check(p);
}

/* The token file must be root's alone: anything else could have been read
 * or planted by another user. */
static int read_token(struct alert_inst *in, const char *path, char **ret)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;
	char buf[4097];
	ssize_t n;

	if (fd < 0)
		return vigil_log_errno(in->ctx, LOG_ERR, errno, "%s: bearer_token_file %s: %m", in->name, path);
	if (fstat(fd, &st) < 0)
		return vigil_log_errno(in->ctx, LOG_ERR, errno, "%s: bearer_token_file %s: %m", in->name, path);
	if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 077)) {
		vigil_log(in->ctx, LOG_ERR,
			  "%s: bearer_token_file %s refused: must be a regular file owned by root and not group/world accessible (uid %u, mode %04o)",
			  in->name, path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return vigil_log_errno(in->ctx, LOG_ERR, errno, "%s: bearer_token_file %s: %m", in->name, path);
	buf[n] = 0;
	vigil_strstrip(buf);
	if (!*buf || (size_t)n >= sizeof(buf) - 1 || strpbrk(buf, "\r\n")) {
		explicit_bzero(buf, sizeof(buf));
		vigil_log(in->ctx, LOG_ERR, "%s: bearer_token_file %s: empty, too long or multi-line", in->name, path);
		return -EINVAL;
	}
	*ret = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return *ret ? 0 : -ENOMEM;
}

static int add_header(struct alert_inst *in, const char *h)
{
	struct curl_slist *n = curl_slist_append(in->headers, h);
	if (!n)
		return -ENOMEM;
	in->headers = n;
	return 0;
}

static int check_readable(struct alert_inst *in, const char *key, const char *path)
{
	if (path && access(path, R_OK) < 0)
		return vigil_log_errno(in->ctx, LOG_ERR, errno, "%s: %s %s: %m", in->name, key, path);
	return 0;
}

static int alert_action_new(struct vigil_ctx *ctx, void *data, const char *name, const struct vigil_section *sec,
			    void **ret_inst)
{
	struct alert_plugin *p = data;
	struct alert_inst *in = calloc(1, sizeof(*in));
	const char *url = vigil_cfg_string(sec, "url"), *sd;
	sd_event *loop = vigil_loop(ctx);
	int r;

	if (!in)
		return -ENOMEM;
	in->p = p;
	in->ctx = ctx;
	in->name = strdup(name);
	if (!in->name) {
		inst_free(in);
		return -ENOMEM;
	}
	if (!url) {
		vigil_log(ctx, LOG_ERR, "%s: url is required", name);
		inst_free(in);
		return -EINVAL;
	}
	in->format = (enum alert_format)vigil_cfg_enum(sec, "format");
	/* Alertmanager and OTLP: a bare base URL gets the standard path. */
	const char *path = alert_format_default_path(in->format);
	const char *after_scheme = strstr(url, "://");
	bool bare = after_scheme && !strchr(after_scheme + 3, '/');
	if (path && bare)
		r = asprintf(&in->url, "%s%s", url, path) < 0 ? -ENOMEM : 0;
	else
		r = (in->url = strdup(url)) ? 0 : -ENOMEM;
	if (r < 0 || !(in->url_safe = url_for_logs(in->url))) {
		inst_free(in);
		return -ENOMEM;
	}
	in->timeout = vigil_cfg_duration(sec, "timeout");
	in->connect_timeout = vigil_cfg_duration(sec, "connect_timeout");
	in->batch_max = (size_t)vigil_cfg_int(sec, "batch_max");
	in->retry_initial = vigil_cfg_duration(sec, "retry_initial");
	in->retry_max = vigil_cfg_duration(sec, "retry_max");
	if (in->retry_max < in->retry_initial)
		in->retry_max = in->retry_initial;
	in->backoff = in->retry_initial;
	in->max_bytes = vigil_cfg_size(sec, "spool_max_bytes");
	in->max_events = (size_t)vigil_cfg_int(sec, "spool_max_events");
	in->spool_timeout = vigil_cfg_duration(sec, "spool_timeout");
	in->resend = vigil_cfg_duration(sec, "resend_interval");
	in->hold = vigil_cfg_duration(sec, "hold");
	in->heartbeat = vigil_cfg_duration(sec, "heartbeat_interval");
	in->drop_report_every = vigil_cfg_duration(sec, "drop_report_interval");
	in->insecure = vigil_cfg_bool(sec, "insecure");
#define DUP(field, key)                                                                                             \
	do {                                                                                                        \
		const char *_v = vigil_cfg_string(sec, key);                                                        \
		if (_v && !(in->field = strdup(_v))) {                                                              \
			inst_free(in);                                                                              \
			return -ENOMEM;                                                                             \
		}                                                                                                   \
	} while (0)
	DUP(ca_file, "ca_file");
	DUP(client_cert, "client_cert");
	DUP(client_key, "client_key");
#undef DUP
	if ((r = check_readable(in, "ca_file", in->ca_file)) < 0 ||
	    (r = check_readable(in, "client_cert", in->client_cert)) < 0 ||
	    (r = check_readable(in, "client_key", in->client_key)) < 0) {
		inst_free(in);
		return r;
	}
	if (in->insecure)
		vigil_log(ctx, LOG_WARNING, "%s: insecure = yes: TLS certificates of %s are NOT verified", name, in->url_safe);
	if (startswith(in->url, "http://") && vigil_cfg_is_set(sec, "bearer_token_file"))
		vigil_log(ctx, LOG_WARNING, "%s: bearer token sent over plain http to %s", name, in->url_safe);

	r = add_header(in, "Content-Type: application/json");
	if (r == 0)
		r = add_header(in, "Expect:"); /* no 100-continue round trip */
	for (size_t i = 0; r == 0 && i < vigil_cfg_count(sec); i++) {
		const char *k = vigil_cfg_key_at(sec, i), *hn = startswith(k, "header.");
		_cleanup_free_ char *h = NULL;
		if (!hn)
			continue;
		if (asprintf(&h, "%s: %s", hn, vigil_cfg_value_at(sec, i)) < 0)
			r = -ENOMEM;
		else
			r = add_header(in, h);
	}
	if (r == 0 && vigil_cfg_is_set(sec, "bearer_token_file")) {
		_cleanup_free_ char *tok = NULL, *h = NULL;
		r = read_token(in, vigil_cfg_string(sec, "bearer_token_file"), &tok);
		if (r == 0) {
			if (asprintf(&h, "Authorization: Bearer %s", tok) < 0)
				r = -ENOMEM;
			else
				r = add_header(in, h);
			explicit_bzero(tok, strlen(tok));
			if (h)
				explicit_bzero(h, strlen(h));
		}
	}
	if (r < 0) {
		inst_free(in);
		return r;
	}

	uint64_t seed = 0;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = vigil_now(ctx, CLOCK_REALTIME) ^ (uintptr_t)in;
	in->rng = seed | 1;
	/* Sequence numbers start at the wall clock so a restart keeps order
	 * (the scan raises it above anything found on disk). */
	in->next_seq = vigil_now(ctx, CLOCK_REALTIME);

	if ((r = sd_event_add_time(loop, &in->retry_timer, CLOCK_MONOTONIC, 0, 0, on_retry, in)) < 0 ||
	    (r = sd_event_source_set_enabled(in->retry_timer, SD_EVENT_OFF)) < 0 ||
	    (r = sd_event_add_time(loop, &in->resend_timer, CLOCK_MONOTONIC, 0, 0, on_resend, in)) < 0 ||
	    (r = sd_event_source_set_enabled(in->resend_timer, SD_EVENT_OFF)) < 0) {
		inst_free(in);
		return vigil_log_errno(ctx, LOG_ERR, r, "%s: cannot create timers: %m", name);
	}
	if (in->heartbeat) {
		r = sd_event_add_time(loop, &in->heartbeat_timer, CLOCK_MONOTONIC, mono(in) + in->heartbeat, 0,
				      on_heartbeat, in);
		if (r < 0 || (r = sd_event_source_set_enabled(in->heartbeat_timer, SD_EVENT_ON)) < 0) {
			inst_free(in);
			return vigil_log_errno(ctx, LOG_ERR, r, "%s: cannot create heartbeat timer: %m", name);
		}
	}

	sd = vigil_state_dir(ctx);
	if (sd && !vigil_replay_mode(ctx)) {
		if (asprintf(&in->dir, "%s/alert/%s", sd, name) < 0) {
			inst_free(in);
			return -ENOMEM;
		}
		r = scan_start(in);
		if (r < 0)
			vigil_log(ctx, LOG_ERR, "%s: cannot read spool %s: %s; memory only", name, in->dir, strerror(-r));
	} else
		in->scanned = true;

	struct alert_inst **n = realloc(p->insts, (p->n_insts + 1) * sizeof(*n));
	if (!n) {
		if (in->job)
			in->job->inst = NULL;
		in->job = NULL;
		inst_free(in);
		return -ENOMEM;
	}
	p->insts = n;
	p->insts[p->n_insts++] = in;
	vigil_log(ctx, LOG_INFO, "%s: %s events to %s, spool %s", name, alert_format_names[in->format], in->url_safe,
		  in->dir ? in->dir : "(memory only)");
	*ret_inst = in;
	return 0;
}

/* ---------------------------------------------------------------- plugin */

static int alert_init(struct vigil_ctx *ctx, const struct vigil_section *sec, void **ret_data)
{
	struct alert_plugin *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	p->ctx = ctx;
	p->started = vigil_now(ctx, CLOCK_MONOTONIC);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(p);
		return vigil_log_errno(ctx, LOG_ERR, EIO, "curl_global_init failed");
	}
	r = alert_curl_new(vigil_loop(ctx), on_curl_done, p, &p->curl);
	if (r == 0)
		r = vigil_flush_register(ctx, on_flush, p);
	if (r < 0) {
		alert_curl_free(p->curl);
		curl_global_cleanup();
		free(p);
		return vigil_log_errno(ctx, LOG_ERR, r, "cannot set up HTTP: %m");
	}
	*ret_data = p;
	return 0;
}

static int alert_status(struct vigil_ctx *ctx, void *data, json_object *out)
{
	struct alert_plugin *p = data;
	uint64_t spooled = 0, delivered = 0, dropped = 0, quarantined = 0;
	for (size_t i = 0; i < p->n_insts; i++) {
		spooled += p->insts[i]->n_recs;
		delivered += p->insts[i]->delivered;
		dropped += p->insts[i]->dropped;
		quarantined += p->insts[i]->quarantined;
	}
	json_object_object_add(out, "endpoints", json_object_new_int64((int64_t)p->n_insts));
	json_object_object_add(out, "spool_events", json_object_new_int64((int64_t)spooled));
	json_object_object_add(out, "delivered", json_object_new_int64((int64_t)delivered));
	json_object_object_add(out, "dropped", json_object_new_int64((int64_t)dropped));
	json_object_object_add(out, "quarantined", json_object_new_int64((int64_t)quarantined));
	json_object_object_add(out, "curl", json_object_new_string(curl_version()));
	return 0;
}

static void alert_fini(struct vigil_ctx *ctx, void *data)
{
	struct alert_plugin *p = data;
	if (!p)
		return;
	flush_finish(p);
	while (p->n_insts > 0)
		alert_action_free(ctx, p->insts[0]);
	free(p->insts);
	alert_curl_free(p->curl);
	curl_global_cleanup();
	free(p);
}

const struct vigil_plugin vigil_plugin = {
	.abi_version = VIGIL_PLUGIN_ABI_VERSION,
	.kind = VIGIL_PLUGIN_ACTION | VIGIL_PLUGIN_MONITOR,
	.name = "alert",
	.description = "durable at-least-once delivery of events to HTTP endpoints",
	.keys = NULL,
	.action_keys = alert_action_keys,
	.default_instance = false,
	.init = alert_init,
	.status = alert_status,
	.fini = alert_fini,
	.action_new = alert_action_new,
	.action_run = alert_action_run,
	.action_status = alert_action_status,
	.action_free = alert_action_free,
};
