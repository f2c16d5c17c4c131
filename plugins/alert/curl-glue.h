/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libcurl's multi interface driven by an sd-event loop: curl tells us which
 * sockets to watch and when to wake it (CURLMOPT_SOCKETFUNCTION /
 * TIMERFUNCTION); we register those on the loop and hand readiness back. */
#pragma once

#include <curl/curl.h>
#include <systemd/sd-event.h>

struct alert_curl;

/* Called on the loop for every finished transfer, after the easy handle
 * was removed from the multi handle (the callee owns it again). */
typedef void (*alert_curl_done_fn)(CURL *easy, CURLcode result, void *userdata);

int alert_curl_new(sd_event *loop, alert_curl_done_fn done, void *userdata, struct alert_curl **ret);
struct alert_curl *alert_curl_free(struct alert_curl *g);
/* Start a transfer; the handle must have been set up completely. */
int alert_curl_add(struct alert_curl *g, CURL *easy);
/* Abort a running transfer (no done callback). */
void alert_curl_remove(struct alert_curl *g, CURL *easy);
