/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test helper: collect the events a plugin emits. Either hand sink_emit()
 * to a plugin's emit hook, or define VIGIL_TEST_WRAP_EMIT before including
 * this file and link with -Wl,--wrap=vigil_emit to capture vigil_emit()
 * itself into `captured`. Include after cmocka.h and plugin.h. */
#pragma once

struct sink {
	struct vigil_event *ev[128];
	size_t n;
};

static inline int sink_emit(void *userdata, struct vigil_event *ev)
{
	struct sink *s = userdata;
	assert_true(s->n < sizeof(s->ev) / sizeof(s->ev[0]));
	s->ev[s->n++] = ev;
	return 0;
}

static inline void sink_clear(struct sink *s)
{
	for (size_t i = 0; i < s->n; i++)
		vigil_event_unref(s->ev[i]);
	s->n = 0;
}

static inline const char *ev_str(struct vigil_event *ev, const char *path)
{
	json_object *o = vigil_event_lookup(ev, path);
	return o && json_object_is_type(o, json_type_string) ? json_object_get_string(o) : NULL;
}

#ifdef VIGIL_TEST_WRAP_EMIT
static struct sink captured_sink;
#define captured captured_sink.ev
#define n_captured captured_sink.n

int __wrap_vigil_emit(struct vigil_ctx *ctx, struct vigil_event *ev);
int __wrap_vigil_emit(struct vigil_ctx *ctx, struct vigil_event *ev)
{
	if (captured_sink.n < sizeof(captured_sink.ev) / sizeof(captured_sink.ev[0]))
		captured_sink.ev[captured_sink.n++] = ev;
	else
		vigil_event_unref(ev);
	return 0;
}

static inline void captured_reset(void) { sink_clear(&captured_sink); }
#endif
