/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The manager: owns the sd-event loop, the configuration, the registry of
 * plugins and action instances, the policy engine, workers, flush requests
 * and the control socket. Everything a plugin reaches goes through its
 * struct vigil_ctx into this object.
 */
#pragma once

#include "config.h"
#include "vigil/plugin.h"

struct vigil_core;

struct vigil_options {
	const char *config_file;    /* NULL: default (installed or source tree) */
	const char *conf_dir;       /* drop-ins; NULL: next to config_file */
	const char *plugin_dir;     /* overrides [agent] plugin_dir */
	const char *state_dir;      /* overrides [agent] state_dir */
	const char *data_dir;       /* overrides [agent] data_dir */
	const char *control_socket; /* overrides [agent] control_socket */
	bool foreground;
	bool check_only;            /* --check-config */
	const char *replay_file;    /* --replay FILE ("-" = stdin) */
	bool uninstalled;           /* running from the build tree */
};

extern const struct vigil_config_key vigil_agent_keys[];

int vigil_core_new(const struct vigil_options *opt, struct vigil_core **ret);
struct vigil_core *vigil_core_free(struct vigil_core *c);
/* Load config and plugins, validate. Prints every config error. */
int vigil_core_load(struct vigil_core *c);
/* Start plugins and the loop's sources; returns after READY. */
int vigil_core_start(struct vigil_core *c);
int vigil_core_run(struct vigil_core *c);
/* Replay mode: run every replay-capable monitor over the file. */
int vigil_core_replay(struct vigil_core *c, const char *file);
/* Re-read the configuration; on error keep the running one. */
int vigil_core_reload(struct vigil_core *c);
/* Validate another config file with the loaded plugins' key tables
 * (vigilctl check-config). Errors joined into *ret_errors. */
int vigil_core_check_file(struct vigil_core *c, const char *file, char **ret_errors);

void vigil_core_list_keys(struct vigil_core *c,
			  void (*print)(const char *section, const struct vigil_config_key *keys));

/* Used by the control socket. */
json_object *vigil_core_status(struct vigil_core *c);
json_object *vigil_core_recent(struct vigil_core *c, size_t max);
int vigil_core_test_event(struct vigil_core *c, const char *kind, const char *summary);
sd_event *vigil_core_loop(struct vigil_core *c);
