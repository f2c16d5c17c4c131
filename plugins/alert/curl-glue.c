/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libcurl multi on sd-event, after systemd's src/import/curl-util.c: one
 * io source per socket curl wants watched (kept in curl's per-socket
 * pointer, curl_multi_assign), one one-shot timer for curl's timeout, and a
 * completion sweep after every curl_multi_socket_action(). The loop never
 * blocks: curl only ever touches non-blocking sockets. Unlike the model we
 * drain every finished message per sweep, not just one.
 */
#include "curl-glue.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

struct alert_curl {
	sd_event *loop;
	CURLM *multi;
	sd_event_source *timer;
	alert_curl_done_fn done;
	void *userdata;
	/* Every io source we created, so none outlives us if curl does not
	 * say REMOVE for a cached connection at cleanup. */
	sd_event_source **ios;
	size_t n_ios, cap_ios;
};

static int ios_add(struct alert_curl *g, sd_event_source *io)
{
	if (g->n_ios == g->cap_ios) {
		size_t nc = g->cap_ios ? g->cap_ios * 2 : 8;
		sd_event_source **n = realloc(g->ios, nc * sizeof(*n));
		if (!n)
			return -ENOMEM;
		g->ios = n;
		g->cap_ios = nc;
	}
	g->ios[g->n_ios++] = io;
	return 0;
}

static void ios_del(struct alert_curl *g, sd_event_source *io)
{
	for (size_t i = 0; i < g->n_ios; i++)
		if (g->ios[i] == io) {
			g->ios[i] = g->ios[--g->n_ios];
			return;
		}
}

static void check_finished(struct alert_curl *g)
{
	CURLMsg *msg;
	int left = 0;

	while ((msg = curl_multi_info_read(g->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *e = msg->easy_handle;
		CURLcode res = msg->data.result;
		/* msg is invalid after remove_handle: copied above. */
		curl_multi_remove_handle(g->multi, e);
		g->done(e, res, g->userdata);
	}
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct alert_curl *g = userdata;
	int action = 0, running = 0;

	if (revents & (EPOLLIN | EPOLLHUP))
		action |= CURL_CSELECT_IN;
	if (revents & EPOLLOUT)
		action |= CURL_CSELECT_OUT;
	if (revents & EPOLLERR)
		action |= CURL_CSELECT_ERR;
	(void)curl_multi_socket_action(g->multi, fd, action, &running);
	check_finished(g);
	return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct alert_curl *g = userdata;
	int running = 0;

	(void)curl_multi_socket_action(g->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_finished(g);
	return 0;
}

static int socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct alert_curl *g = userp;
	sd_event_source *io = socketp;
	uint32_t events = 0;
	int r;

	if (what == CURL_POLL_REMOVE) {
		if (io) {
			ios_del(g, io);
			sd_event_source_disable_unref(io);
			curl_multi_assign(g->multi, s, NULL);
		}
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		events |= EPOLLIN;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		events |= EPOLLOUT;
	if (io) {
		if (sd_event_source_set_io_events(io, events) < 0 ||
		    sd_event_source_set_enabled(io, SD_EVENT_ON) < 0)
			return -1;
		return 0;
	}
	r = sd_event_add_io(g->loop, &io, s, events, on_io, g);
	if (r < 0)
		return -1;
	(void)sd_event_source_set_description(io, "alert-curl-io");
	if (ios_add(g, io) < 0) {
		sd_event_source_disable_unref(io);
		return -1;
	}
	if (curl_multi_assign(g->multi, s, io) != CURLM_OK) {
		ios_del(g, io);
		sd_event_source_disable_unref(io);
		return -1;
	}
	return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct alert_curl *g = userp;
	struct timespec ts;
	uint64_t when;

	if (timeout_ms < 0)
		return g->timer && sd_event_source_set_enabled(g->timer, SD_EVENT_OFF) < 0 ? -1 : 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* Round up: waking early makes curl ask again for the rest. Accuracy
	 * 1us below: the default (0 = 250ms) would coalesce away latency. */
	when = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000 + (uint64_t)timeout_ms * 1000 + 999;
	if (g->timer) {
		if (sd_event_source_set_time(g->timer, when) < 0 ||
		    sd_event_source_set_enabled(g->timer, SD_EVENT_ONESHOT) < 0)
			return -1;
		return 0;
	}
	if (sd_event_add_time(g->loop, &g->timer, CLOCK_MONOTONIC, when, 1, on_timer, g) < 0)
		return -1;
	(void)sd_event_source_set_description(g->timer, "alert-curl-timer");
	return 0;
}

int alert_curl_new(sd_event *loop, alert_curl_done_fn done, void *userdata, struct alert_curl **ret)
{
	struct alert_curl *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->loop = sd_event_ref(loop);
	g->done = done;
	g->userdata = userdata;
	g->multi = curl_multi_init();
	if (!g->multi) {
		alert_curl_free(g);
		return -ENOMEM;
	}
	if (curl_multi_setopt(g->multi, CURLMOPT_SOCKETFUNCTION, socket_cb) != CURLM_OK ||
	    curl_multi_setopt(g->multi, CURLMOPT_SOCKETDATA, g) != CURLM_OK ||
	    curl_multi_setopt(g->multi, CURLMOPT_TIMERFUNCTION, timer_cb) != CURLM_OK ||
	    curl_multi_setopt(g->multi, CURLMOPT_TIMERDATA, g) != CURLM_OK) {
		alert_curl_free(g);
		return -EINVAL;
	}
	*ret = g;
	return 0;
}

struct alert_curl *alert_curl_free(struct alert_curl *g)
{
	if (!g)
		return NULL;
	/* Callers removed their easy handles; cleanup calls socket_cb(REMOVE)
	 * for what is left. */
	if (g->multi)
		curl_multi_cleanup(g->multi);
	for (size_t i = 0; i < g->n_ios; i++)
		sd_event_source_disable_unref(g->ios[i]);
	free(g->ios);
	sd_event_source_disable_unref(g->timer);
	sd_event_unref(g->loop);
	free(g);
	return NULL;
}

int alert_curl_add(struct alert_curl *g, CURL *easy)
{
	return curl_multi_add_handle(g->multi, easy) == CURLM_OK ? 0 : -EIO;
}

void alert_curl_remove(struct alert_curl *g, CURL *easy) { curl_multi_remove_handle(g->multi, easy); }
