/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kmsg monitor: reads /dev/kmsg on the sd-event loop, hands every kernel
 * record to the kernlog scanner (assembly, classification, signatures) and
 * emits one event per kernel report. Records whose facility is not the
 * kernel's (userspace writes to /dev/kmsg) are counted and ignored; EPIPE and
 * sequence jumps become one kmsg_lost event with the number of records lost;
 * (boot_id, seq) is persisted under the state dir so a restart in the same
 * boot resumes after the last record, and a new boot reads the whole ring. A
 * report still open after a quiet period is emitted then. The same scanner
 * serves `vigild --replay FILE` through the descriptor's replay callback.
 *
 * Test hook: `device = /path/to/fifo` reads kmsg-format lines from a FIFO
 * instead of /dev/kmsg (one record per line; the kmsg record and every
 * saved-log line format are accepted).
 */
#include "kernlog/kernlog.h"
#include "util.h"
#include "vigil/plugin.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <syslog.h>

#define KMSG_RECORD_MAX 16384
#define KMSG_BATCH 2048 /* records per dispatch, so a storm cannot starve the loop */
#define KMSG_SAVE_DELAY_USEC (2 * USEC_PER_SEC)

struct kmsg {
	struct vigil_ctx *ctx;
	struct kl_signatures *sigs;
	struct kl_scanner *scanner;
	char *device;
	bool is_chardev;
	int fd;
	sd_event_source *io, *quiet, *save;
	uint64_t quiet_usec;
	/* fifo line reassembly */
	char *linebuf;
	size_t line_len;
	/* sequence tracking */
	uint64_t last_seq, resume_seq;
	bool have_seq, resume_same_boot, saving, dirty;
	bool epipe;
	/* counters */
	uint64_t records, lost, lost_events, epipes, skipped_resume, malformed;
	char boot_id[40];
};

static const struct vigil_config_key kmsg_keys[] = {
	{"device", VIGIL_CFG_PATH, "/dev/kmsg", .help = "kernel log source; a FIFO of kmsg-format lines for tests"},
	{"quiet_period", VIGIL_CFG_DURATION, "2s", 100 * USEC_PER_MSEC, 60 * USEC_PER_SEC,
	 .help = "emit a report still open after this long without further kernel lines"},
	{"signatures_dir", VIGIL_CFG_PATH, NULL, .help = "known-issue signatures (default: <data_dir>/signatures)"},
	{NULL},
};

/* A live report is explained with what else is wrong right now: the
 * conditions other monitors hold active (a hung task while blkstall holds
 * vhost_backend/vdb) go on the event, and the signatures get a second look
 * with them (field.active_conditions). Not in replay: a saved log comes
 * without that context. */
static int kmsg_on_event(struct vigil_event *ev, void *userdata)
{
	struct kmsg *k = userdata;

	if (!vigil_replay_mode(k->ctx)) {
		json_object *conds = vigil_active_conditions(k->ctx);
		if (conds && vigil_event_set_json(ev, "active_conditions", conds) >= 0 &&
		    !vigil_event_get(ev, "known_issue"))
			(void)kl_signatures_apply(k->sigs, ev);
	}
	return vigil_emit(k->ctx, ev);
}

static int load_signatures(struct vigil_ctx *ctx, const struct vigil_section *sec, struct kl_signatures **ret)
{
	_cleanup_free_ char *dir = NULL, *err = NULL;
	const char *d = vigil_cfg_string(sec, "signatures_dir");
	if (!d) {
		const char *data = vigil_data_dir(ctx);
		if (!data || asprintf(&dir, "%s/signatures", data) < 0)
			return -ENOMEM;
		d = dir;
	}
	int r = kl_signatures_load_dir(d, ret, &err);
	if (r < 0)
		return vigil_log_errno(ctx, LOG_ERR, r, "signatures in %s: %s", d, err ? err : "load failed");
	vigil_log(ctx, LOG_DEBUG, "%zu known-issue signatures loaded from %s", kl_signatures_count(*ret), d);
	return 0;
}

/* ------------------------------------------------------------------------
 * cursor persistence: "<boot_id> <seq>\n" in <state>/kmsg/cursor
 * ------------------------------------------------------------------------ */

struct save_job {
	char *dir;
	char text[96];
};

static void save_job_free(void *p)
{
	struct save_job *j = p;
	free(j->dir);
	free(j);
}

static int save_job_run(void *p)
{
	struct save_job *j = p;
	if (mkdir(j->dir, 0700) < 0 && errno != EEXIST)
		return negative_errno();
	_cleanup_close_ int dfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return negative_errno();
	return vigil_write_file_atomic(dfd, "cursor", j->text, strlen(j->text), 0600);
}

static void save_done(struct vigil_ctx *ctx, int result, void *userdata)
{
	struct kmsg *k = userdata;
	k->saving = false;
	if (result < 0)
		vigil_log_errno(ctx, LOG_WARNING, result, "cannot save kmsg cursor, ignoring");
}

static struct save_job *save_job_new(struct kmsg *k)
{
	const char *state = vigil_state_dir(k->ctx);
	if (!state || !k->have_seq || !k->boot_id[0])
		return NULL;
	struct save_job *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	if (asprintf(&j->dir, "%s/kmsg", state) < 0) {
		free(j);
		return NULL;
	}
	snprintf(j->text, sizeof(j->text), "%s %" PRIu64 "\n", k->boot_id, k->last_seq);
	return j;
}

static int save_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kmsg *k = userdata;
	if (k->saving || !k->dirty)
		return 0;
	struct save_job *j = save_job_new(k);
	if (!j)
		return 0;
	k->dirty = false;
	k->saving = true;
	int r = vigil_worker_submit(k->ctx, save_job_run, j, save_job_free, 10 * USEC_PER_SEC, save_done, k);
	if (r < 0) {
		k->saving = false;
		k->dirty = true;
		vigil_log_errno(k->ctx, LOG_WARNING, r, "cannot queue kmsg cursor save, ignoring");
	}
	return 0;
}

static void schedule_save(struct kmsg *k)
{
	k->dirty = true;
	if (!vigil_state_dir(k->ctx))
		return;
	int enabled = SD_EVENT_OFF;
	if (k->save)
		sd_event_source_get_enabled(k->save, &enabled);
	if (enabled != SD_EVENT_OFF)
		return;
	uint64_t now = vigil_now(k->ctx, CLOCK_MONOTONIC);
	if (!k->save) {
		if (sd_event_add_time(vigil_loop(k->ctx), &k->save, CLOCK_MONOTONIC, now + KMSG_SAVE_DELAY_USEC,
				      USEC_PER_SEC, save_timer, k) < 0)
			return;
	} else {
		sd_event_source_set_time(k->save, now + KMSG_SAVE_DELAY_USEC);
	}
	sd_event_source_set_enabled(k->save, SD_EVENT_ONESHOT);
}

static void load_cursor(struct kmsg *k)
{
	const char *state = vigil_state_dir(k->ctx);
	_cleanup_free_ char *path = NULL, *line = NULL;
	char boot[40];
	uint64_t seq;
	if (!state || asprintf(&path, "%s/kmsg/cursor", state) < 0)
		return;
	if (vigil_read_line(AT_FDCWD, path, &line) < 0)
		return;
	if (sscanf(line, "%39s %" SCNu64, boot, &seq) != 2)
		return;
	if (k->boot_id[0] && streq(boot, k->boot_id)) {
		k->resume_same_boot = true;
		k->resume_seq = seq;
		vigil_log(k->ctx, LOG_INFO, "resuming after kmsg record %" PRIu64 " of this boot", seq);
	}
}

/* ------------------------------------------------------------------------
 * live reading
 * ------------------------------------------------------------------------ */

static int quiet_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kmsg *k = userdata;
	int r = kl_scanner_flush(k->scanner);
	if (r < 0)
		vigil_log_errno(k->ctx, LOG_WARNING, r, "emitting open kernel reports failed, ignoring");
	return 0;
}

static void arm_quiet(struct kmsg *k)
{
	if (!kl_scanner_has_open(k->scanner)) {
		if (k->quiet)
			sd_event_source_set_enabled(k->quiet, SD_EVENT_OFF);
		return;
	}
	uint64_t when = vigil_now(k->ctx, CLOCK_MONOTONIC) + k->quiet_usec;
	if (!k->quiet) {
		if (sd_event_add_time(vigil_loop(k->ctx), &k->quiet, CLOCK_MONOTONIC, when, 10 * USEC_PER_MSEC,
				      quiet_timer, k) < 0)
			return;
	} else
		sd_event_source_set_time(k->quiet, when);
	sd_event_source_set_enabled(k->quiet, SD_EVENT_ONESHOT);
}

static void emit_lost(struct kmsg *k, uint64_t n, uint64_t from, uint64_t to)
{
	struct vigil_event *ev = vigil_event_new("kmsg_lost", VIGIL_SEV_WARNING);
	k->lost += n;
	k->lost_events++;
	if (!ev)
		return;
	vigil_event_set_summary(ev, "%" PRIu64 " kernel log records lost (ring buffer overwritten before they were read)",
				n);
	vigil_event_set_int(ev, "lost", (int64_t)n);
	vigil_event_set_int(ev, "seq_from", (int64_t)from);
	vigil_event_set_int(ev, "seq_to", (int64_t)to);
	vigil_event_set_dedup_key(ev, "kmsg_lost");
	vigil_emit(k->ctx, ev);
}

/* Sequence bookkeeping for one record; false when it must be skipped. */
static bool track_seq(struct kmsg *k, uint64_t seq)
{
	if (k->resume_same_boot) {
		if (seq <= k->resume_seq) {
			k->skipped_resume++;
			return false;
		}
		/* first record after the resume point: a gap means the ring overwrote records meanwhile */
		if (seq > k->resume_seq + 1)
			emit_lost(k, seq - k->resume_seq - 1, k->resume_seq + 1, seq - 1);
		k->resume_same_boot = false;
	} else if (k->have_seq && seq > k->last_seq + 1) {
		emit_lost(k, seq - k->last_seq - 1, k->last_seq + 1, seq - 1);
	} else if (k->epipe && !k->have_seq) {
		/* EPIPE before any record: the count is unknown */
		emit_lost(k, 1, 0, seq);
	}
	k->epipe = false;
	k->last_seq = seq;
	k->have_seq = true;
	return true;
}

static void feed_line(struct kmsg *k, const struct kl_line *l)
{
	if (l->format == KL_FMT_KMSG && !track_seq(k, l->seq))
		return;
	k->records++;
	int r = kl_scanner_feed(k->scanner, l);
	if (r < 0)
		vigil_log_errno(k->ctx, LOG_WARNING, r, "handling a kernel report failed, ignoring");
}

static void read_chardev(struct kmsg *k)
{
	char buf[KMSG_RECORD_MAX];
	for (unsigned i = 0; i < KMSG_BATCH; i++) {
		ssize_t n = read(k->fd, buf, sizeof(buf) - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			if (errno == EPIPE) {
				/* records overwritten; the next read returns the oldest one left and the
				 * sequence jump tells how many we missed */
				k->epipes++;
				k->epipe = true;
				continue;
			}
			vigil_log_errno(k->ctx, LOG_ERR, errno, "read %s failed", k->device);
			sd_event_source_set_enabled(k->io, SD_EVENT_OFF);
			break;
		}
		if (n == 0)
			break;
		struct kl_record rec;
		if (kl_parse_record(buf, (size_t)n, &rec) < 0) {
			k->malformed++;
			continue;
		}
		feed_line(k, &rec.line);
	}
}

static void read_fifo(struct kmsg *k)
{
	char buf[65536];
	for (unsigned i = 0; i < 16; i++) {
		ssize_t n = read(k->fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				vigil_log_errno(k->ctx, LOG_ERR, errno, "read %s failed", k->device);
			break;
		}
		if (n == 0)
			break;
		const char *p = buf, *end = buf + n;
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t len = (size_t)((nl ? nl : end) - p);
			if (k->line_len + len > KMSG_RECORD_MAX)
				len = KMSG_RECORD_MAX - k->line_len;
			memcpy(k->linebuf + k->line_len, p, len);
			k->line_len += len;
			if (!nl)
				break;
			struct kl_line l;
			kl_parse_line(k->linebuf, k->line_len, &l);
			if (l.format == KL_FMT_KMSG_DICT)
				; /* dictionary continuation of the previous record */
			else
				feed_line(k, &l);
			k->line_len = 0;
			p = nl + 1;
		}
	}
}

static int kmsg_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct kmsg *k = userdata;
	uint64_t before = k->last_seq;
	if (k->is_chardev)
		read_chardev(k);
	else
		read_fifo(k);
	arm_quiet(k);
	if (k->have_seq && k->last_seq != before)
		schedule_save(k);
	return 0;
}

static int kmsg_open(struct kmsg *k)
{
	struct stat st;
	/* A FIFO is opened read-write so it never reports EOF when a writer closes. */
	int fd = open(k->device, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return vigil_log_errno(k->ctx, LOG_ERR, errno, "cannot open %s", k->device);
	if (fstat(fd, &st) < 0) {
		int r = negative_errno();
		close(fd);
		return vigil_log_errno(k->ctx, LOG_ERR, r, "stat %s", k->device);
	}
	if (S_ISFIFO(st.st_mode)) {
		close(fd);
		fd = open(k->device, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
		if (fd < 0)
			return vigil_log_errno(k->ctx, LOG_ERR, errno, "cannot open %s", k->device);
		k->linebuf = malloc(KMSG_RECORD_MAX);
		if (!k->linebuf) {
			close(fd);
			return -ENOMEM;
		}
	} else if (S_ISCHR(st.st_mode)) {
		k->is_chardev = true;
	} else {
		close(fd);
		return vigil_log_errno(k->ctx, LOG_ERR, EINVAL,
				       "%s: neither /dev/kmsg nor a FIFO (use vigild --replay for saved logs)", k->device);
	}
	k->fd = fd;
	int r = sd_event_add_io(vigil_loop(k->ctx), &k->io, fd, EPOLLIN, kmsg_io, k);
	if (r < 0)
		return vigil_log_errno(k->ctx, LOG_ERR, r, "cannot watch %s", k->device);
	return 0;
}

static void kmsg_free(struct kmsg *k)
{
	if (!k)
		return;
	sd_event_source_disable_unref(k->io);
	sd_event_source_disable_unref(k->quiet);
	sd_event_source_disable_unref(k->save);
	if (k->fd >= 0)
		close(k->fd);
	kl_scanner_free(k->scanner);
	kl_signatures_free(k->sigs);
	free(k->device);
	free(k->linebuf);
	free(k);
}

static int kmsg_init(struct vigil_ctx *ctx, const struct vigil_section *sec, void **ret_data)
{
	struct kmsg *k = calloc(1, sizeof(*k));
	int r;
	if (!k)
		return -ENOMEM;
	k->ctx = ctx;
	k->fd = -1;
	k->quiet_usec = vigil_cfg_duration(sec, "quiet_period");
	k->device = strdup(vigil_cfg_string(sec, "device") ?: "/dev/kmsg");
	if (!k->device) {
		kmsg_free(k);
		return -ENOMEM;
	}
	r = load_signatures(ctx, sec, &k->sigs);
	if (r >= 0)
		r = kl_scanner_new(k->sigs, kmsg_on_event, k, &k->scanner);
	if (r < 0) {
		kmsg_free(k);
		return r;
	}
	const struct vigil_host *host = vigil_host(ctx);
	if (host && host->boot_id)
		vigil_strlcpy(k->boot_id, host->boot_id, sizeof(k->boot_id));
	/* kmsg timestamps count from boot: realtime = boot realtime + ts */
	uint64_t rt = vigil_now(ctx, CLOCK_REALTIME), mono = vigil_now(ctx, CLOCK_MONOTONIC);
	if (rt > mono)
		kl_scanner_set_boot_time(k->scanner, rt - mono);

	if (!vigil_replay_mode(ctx)) {
		load_cursor(k);
		r = kmsg_open(k);
		if (r < 0) {
			kmsg_free(k);
			return r;
		}
	}
	*ret_data = k;
	return 0;
}

static int kmsg_reload(struct vigil_ctx *ctx, void *data, const struct vigil_section *sec)
{
	struct kmsg *k = data;
	struct kl_signatures *sigs = NULL;
	const char *dev = vigil_cfg_string(sec, "device") ?: "/dev/kmsg";
	if (!streq(dev, k->device))
		vigil_log(ctx, LOG_WARNING, "device change to %s takes effect at restart, ignoring", dev);
	int r = load_signatures(ctx, sec, &sigs);
	if (r < 0)
		return r; /* keep the running signatures */
	kl_scanner_set_signatures(k->scanner, sigs);
	kl_signatures_free(k->sigs);
	k->sigs = sigs;
	k->quiet_usec = vigil_cfg_duration(sec, "quiet_period");
	return 0;
}

static int kmsg_status(struct vigil_ctx *ctx, void *data, json_object *out)
{
	struct kmsg *k = data;
	const struct kl_stats *st = kl_scanner_stats(k->scanner);
	json_object_object_add(out, "device", json_object_new_string(k->device));
	json_object_object_add(out, "records", json_object_new_int64((int64_t)k->records));
	json_object_object_add(out, "last_seq", k->have_seq ? json_object_new_int64((int64_t)k->last_seq) : NULL);
	json_object_object_add(out, "non_kernel_ignored", json_object_new_int64((int64_t)st->non_kernel));
	json_object_object_add(out, "reports", json_object_new_int64((int64_t)st->reports));
	json_object_object_add(out, "partial_reports", json_object_new_int64((int64_t)st->partial));
	json_object_object_add(out, "warnings_dismissed", json_object_new_int64((int64_t)st->dismissed));
	json_object_object_add(out, "events", json_object_new_int64((int64_t)st->events));
	json_object_object_add(out, "lost_records", json_object_new_int64((int64_t)k->lost));
	json_object_object_add(out, "epipe", json_object_new_int64((int64_t)k->epipes));
	json_object_object_add(out, "skipped_on_resume", json_object_new_int64((int64_t)k->skipped_resume));
	json_object_object_add(out, "malformed", json_object_new_int64((int64_t)k->malformed));
	json_object_object_add(out, "signatures", json_object_new_int64((int64_t)kl_signatures_count(k->sigs)));
	json_object_object_add(out, "open_reports", json_object_new_boolean(kl_scanner_has_open(k->scanner)));
	return 0;
}

static void kmsg_fini(struct vigil_ctx *ctx, void *data)
{
	struct kmsg *k = data;
	if (!k)
		return;
	if (!vigil_replay_mode(ctx)) {
		/* emit what is still open, then remember where we are (synchronously: we are stopping) */
		kl_scanner_flush(k->scanner);
		struct save_job *j = save_job_new(k);
		if (j) {
			int r = save_job_run(j);
			if (r < 0)
				vigil_log_errno(ctx, LOG_WARNING, r, "cannot save kmsg cursor, ignoring");
			save_job_free(j);
		}
	}
	kmsg_free(k);
}

static int kmsg_replay(struct vigil_ctx *ctx, void *data, int fd)
{
	struct kmsg *k = data;
	struct kl_scanner *s;
	char *buf = malloc(1 << 20);
	int r;
	if (!buf)
		return -ENOMEM;
	r = kl_scanner_new(k->sigs, kmsg_on_event, k, &s);
	if (r < 0) {
		free(buf);
		return r;
	}
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = negative_errno();
			break;
		}
		if (n == 0) {
			r = kl_scanner_finish(s);
			break;
		}
		r = kl_scanner_feed_chunk(s, buf, (size_t)n);
		if (r < 0)
			break;
	}
	const struct kl_stats *st = kl_scanner_stats(s);
	vigil_log(ctx, LOG_INFO, "replay: %" PRIu64 " lines, %" PRIu64 " reports (%" PRIu64 " partial), %" PRIu64
			   " non-kernel lines ignored",
		  st->lines, st->reports, st->partial, st->non_kernel);
	kl_scanner_free(s);
	free(buf);
	return r < 0 ? r : 0;
}

const struct vigil_plugin vigil_plugin = {
	.abi_version = VIGIL_PLUGIN_ABI_VERSION,
	.kind = VIGIL_PLUGIN_MONITOR,
	.name = "kmsg",
	.description = "kernel log monitor: lockups, hung tasks, Oops/BUG/panic, I/O and device errors",
	.keys = kmsg_keys,
	.init = kmsg_init,
	.reload = kmsg_reload,
	.status = kmsg_status,
	.fini = kmsg_fini,
	.replay = kmsg_replay,
};
