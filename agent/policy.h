/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The policy engine (DESIGN §8): rules match events (kind globs, minimum
 * severity, field equality or PCRE2 regex) and name actions; `threshold = N
 * in T` escalates only on repeats; `cooldown` spaces firings; a dedup window
 * folds identical events into one with a count. Pure: time is passed in,
 * dispatch goes through a callback, no I/O.
 */
#pragma once

#include "config.h"
#include "vigil/plugin.h"

struct vigil_policy;
struct vigil_rule;

extern const struct vigil_config_key vigil_rule_keys[];

/* Build the rules from every enabled-or-not `[rule NAME]` section of c.
 * is_action(name) says whether an action name exists; unknown ones are
 * errors with file:line. */
int vigil_policy_new(const struct vigil_config *c, uint64_t dedup_window_usec, size_t dedup_max,
		     bool (*is_action)(const char *name, void *ud), void *ud, struct vigil_policy **ret,
		     struct vigil_config_errors *errs);
struct vigil_policy *vigil_policy_free(struct vigil_policy *p);
/* Carry runtime state (last firing, cooldowns, occurrence history, dedup
 * table) from old to new for rules with the same name (used on reload). */
void vigil_policy_inherit(struct vigil_policy *p, struct vigil_policy *old);

/* Called once per rule that fires; actions are the rule's list. The event is
 * borrowed (ref it to keep it). */
typedef void (*vigil_dispatch_fn)(void *ud, const char *rule, const char *const *actions, size_t n_actions,
				  struct vigil_event *ev);

/* Submit one event at time now (monotonic usec). Returns the number of
 * rules that fired. */
int vigil_policy_submit(struct vigil_policy *p, struct vigil_event *ev, uint64_t now, vigil_dispatch_fn dispatch,
			void *ud);
/* Expire dedup entries; for one that folded repeats, dispatch a summary
 * (a clone with the total count) to the rules with no threshold. Returns
 * the next time tick is needed (0 = none). */
uint64_t vigil_policy_tick(struct vigil_policy *p, uint64_t now, vigil_dispatch_fn dispatch, void *ud);

/* Status of all rules as a JSON array (new object). */
json_object *vigil_policy_status(const struct vigil_policy *p, uint64_t now);
size_t vigil_policy_n_rules(const struct vigil_policy *p);
