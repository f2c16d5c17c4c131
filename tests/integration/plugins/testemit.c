/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * testemit: a test-only monitor. Reads JSON lines from a FIFO and emits the
 * events they describe, so integration tests can drive any action with
 * exactly the events they need:
 *   {"n": 200, "kind": "soft_lockup", "severity": "critical",
 *    "summary": "…", "fields": {"cpu": 3, …}, "raw": ["…"]}
 * n copies get distinct summaries ("… #i") and dedup keys. Never installed.
 */
#include "util.h"
#include "vigil/plugin.h"

#include <fcntl.h>
#include <syslog.h>

#define LINE_MAX_ 65536

struct testemit {
	struct vigil_ctx *ctx;
	int fd;
	sd_event_source *io;
	char buf[LINE_MAX_];
	size_t len;
	unsigned long counter;
};

static void emit_line(struct testemit *t, const char *line)
{
	json_object *o = json_tokener_parse(line), *v = NULL;
	int n = 1, sev = VIGIL_SEV_WARNING;
	const char *kind = "agent_test", *summary = "test event";

	if (!o || !json_object_is_type(o, json_type_object)) {
		vigil_log(t->ctx, LOG_WARNING, "bad line ignored");
		json_object_put(o);
		return;
	}
	if (json_object_object_get_ex(o, "n", &v))
		n = json_object_get_int(v);
	if (json_object_object_get_ex(o, "kind", &v))
		kind = json_object_get_string(v);
	if (json_object_object_get_ex(o, "summary", &v))
		summary = json_object_get_string(v);
	if (json_object_object_get_ex(o, "severity", &v) && vigil_severity_from_string(json_object_get_string(v)) >= 0)
		sev = vigil_severity_from_string(json_object_get_string(v));
	for (int i = 0; i < n && i < 100000; i++) {
		struct vigil_event *ev = vigil_event_new(kind, (enum vigil_severity)sev);
		char key[64];
		json_object *f = NULL, *raw = NULL;
		if (!ev)
			break;
		t->counter++;
		if (n > 1)
			vigil_event_set_summary(ev, "%s #%d", summary, i + 1);
		else
			vigil_event_set_summary(ev, "%s", summary);
		snprintf(key, sizeof(key), "testemit/%lu", t->counter);
		vigil_event_set_dedup_key(ev, key);
		if (json_object_object_get_ex(o, "fields", &f) && json_object_is_type(f, json_type_object)) {
			json_object_object_foreach(f, k, fv)
			{
				json_object *c = NULL;
				if (fv)
					json_object_deep_copy(fv, &c, NULL);
				vigil_event_set_json(ev, k, c);
			}
		}
		vigil_event_set_int(ev, "seq", (int64_t)i);
		if (json_object_object_get_ex(o, "raw", &raw) && json_object_is_type(raw, json_type_array))
			for (size_t j = 0; j < json_object_array_length(raw); j++)
				vigil_event_add_raw(ev, json_object_get_string(json_object_array_get_idx(raw, j)));
		vigil_emit(t->ctx, ev);
	}
	json_object_put(o);
}

static int on_fifo(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct testemit *t = userdata;
	for (;;) {
		ssize_t r = read(fd, t->buf + t->len, sizeof(t->buf) - 1 - t->len);
		if (r <= 0)
			return 0;
		t->len += (size_t)r;
		t->buf[t->len] = 0;
		char *start = t->buf, *nl;
		while ((nl = strchr(start, '\n'))) {
			*nl = 0;
			if (*start)
				emit_line(t, start);
			start = nl + 1;
		}
		t->len -= (size_t)(start - t->buf);
		memmove(t->buf, start, t->len);
		if (t->len == sizeof(t->buf) - 1)
			t->len = 0; /* overlong line: drop */
	}
}

static int testemit_init(struct vigil_ctx *ctx, const struct vigil_section *sec, void **ret)
{
	struct testemit *t = calloc(1, sizeof(*t));
	const char *path = vigil_cfg_string(sec, "fifo");
	if (!t)
		return -ENOMEM;
	t->ctx = ctx;
	t->fd = -1;
	if (path) {
		/* O_RDWR: we are a writer too, so the FIFO never reports EOF/HUP. */
		t->fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (t->fd < 0) {
			free(t);
			return vigil_log_errno(ctx, LOG_ERR, errno, "open %s: %m", path);
		}
		int r = sd_event_add_io(vigil_loop(ctx), &t->io, t->fd, EPOLLIN, on_fifo, t);
		if (r < 0) {
			close(t->fd);
			free(t);
			return r;
		}
	}
	*ret = t;
	return 0;
}

static void testemit_fini(struct vigil_ctx *ctx, void *data)
{
	struct testemit *t = data;
	if (!t)
		return;
	sd_event_source_disable_unref(t->io);
	if (t->fd >= 0)
		close(t->fd);
	free(t);
}

static const struct vigil_config_key testemit_keys[] = {
	{"fifo", VIGIL_CFG_PATH, NULL, 0, 0, NULL, NULL, "FIFO to read event descriptions from"},
	{NULL},
};

const struct vigil_plugin vigil_plugin = {
	.abi_version = VIGIL_PLUGIN_ABI_VERSION,
	.kind = VIGIL_PLUGIN_MONITOR,
	.name = "testemit",
	.description = "test-only event source (integration tests)",
	.keys = testemit_keys,
	.init = testemit_init,
	.fini = testemit_fini,
};
