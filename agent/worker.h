/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Worker threads for work that may block (disk on a dying VM, sync, kexec).
 * The loop never waits for them: completion comes back through a pipe, a
 * deadline fires first if the work hangs. */
#pragma once

#include "vigil/plugin.h"

struct vigil_workers;

#define VIGIL_WORKERS_MAX 64

int vigil_workers_new(sd_event *loop, struct vigil_workers **ret);
struct vigil_workers *vigil_workers_free(struct vigil_workers *w);
/* ctx is handed back to done(). */
int vigil_workers_submit(struct vigil_workers *w, struct vigil_ctx *ctx, vigil_worker_fn fn, void *arg,
			 void (*free_arg)(void *), uint64_t timeout_usec, vigil_worker_done_fn done, void *userdata);
unsigned vigil_workers_running(const struct vigil_workers *w);
/* Jobs not yet finished and not past their deadline. */
unsigned vigil_workers_pending(const struct vigil_workers *w);
/* Forget every callback into ctx (its plugin is going away). */
void vigil_workers_detach_ctx(struct vigil_workers *w, struct vigil_ctx *ctx);
