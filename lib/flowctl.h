/*
 * flowctl.h - what people ask about flows: which there are, what one
 * does, what its runs did; and turning one on or off (issue 7).
 *
 * PURPOSE
 *   'flowgate flow list|show|activity|activate|deactivate' and the API's
 *   /api/v1/repos/{owner}/{name}/flows share these, so both answer alike.
 *   Running flows is the executor's (lib/flowexec, webhookd); this module
 *   only reads the config and refs/flowgate/runs/<flow>, and edits
 *   flows.yaml's 'active:'.
 *
 * ACTIVE
 *   A flow is active unless its 'active:' is false: a flow written
 *   without the key runs.  fg_flowctl_is_active() is the one place that
 *   says so.
 *
 * ACTIVATE / DEACTIVATE
 *   A config commit on refs/flowgate/config that changes flows.yaml's
 *   text in one place only, so comments, order and quoting survive byte
 *   for byte: the value of the flow's 'active:' is replaced (true <->
 *   false), or, when the flow has no 'active:', a line "active: false"
 *   (or "active: true") is inserted above the flow's first key, with its
 *   indentation (in a flow mapping, "{active: false, " replaces "{").
 *   The new text is parsed again and must be a valid config whose flows
 *   differ from the old ones in that one flow's 'active' only; otherwise
 *   nothing is written (FG_EINVALID: "cannot edit flows.yaml safely:
 *   ...").  A flow already in the asked state writes nothing.
 *
 * ERRORS
 *   FG_ENOTFOUND  no such flow (nor, for activity, any run of it), no
 *                 config;
 *   FG_EINVALID   a bad flow name, an edit that cannot be made safely, a
 *                 run.json that breaks schemas/run.schema.json;
 *   FG_ECONFLICT  the config moved while it was edited, three times;
 *   FG_EIO, FG_ENOMEM.
 *
 * OWNERSHIP AND THREADS
 *   JSON results are the caller's (cJSON_Delete).  No state; each call
 *   uses the store or repository it is given, one thread at a time.
 */
#ifndef FG_FLOWCTL_H
#define FG_FLOWCTL_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "buf.h"
#include "config.h"
#include "err.h"
#include "store.h"

#define FG_FLOWCTL_RUNS_REF_PREFIX	"refs/flowgate/runs/"
#define FG_FLOWCTL_ACTIVITY_DEFAULT	20	/* runs listed */
#define FG_FLOWCTL_ACTIVITY_MAX		1000	/* runs listed at most */
#define FG_FLOWCTL_SCAN_MAX		20000	/* run commits read at most */

/* True unless flow (one member of cfg->flows) says active: false. */
bool fg_flowctl_is_active(const cJSON *flow);

/* The flow's trigger kind ("manual", "pull_request", ...), or "". */
const char *fg_flowctl_trigger_kind(const cJSON *flow);

/*
 * The flows of cfg in flows.yaml's order as a JSON array, active ones
 * only unless all: [{"name", "description" (or null), "active",
 * "trigger" (the kind), "steps" (how many), "last_run" (the newest
 * run.json's run, status, created, finished; null when none)}].
 */
int fg_flowctl_list_json(cJSON **out, struct fg_store *st,
    const struct fg_config *cfg, bool all, struct fg_err *err);

/*
 * One flow as a JSON object: the list's fields, plus "config" (the flow
 * as flows.yaml has it, as JSON).  FG_ENOTFOUND when cfg has no flow name.
 */
int fg_flowctl_show_json(cJSON **out, struct fg_store *st,
    const struct fg_config *cfg, const char *name, struct fg_err *err);

/*
 * The flow's runs, newest first, at most limit (0: the default; over
 * FG_FLOWCTL_ACTIVITY_MAX: that), each the latest run.json of the run
 * (schemas/run.schema.json) with "record" (its commit) and "updated"
 * (the commit's time, UTC) added.  A flow that cfg no longer has but
 * whose runs ref exists is answered; FG_ENOTFOUND when neither exists.
 * cfg may be NULL (then only the runs ref counts).
 */
int fg_flowctl_activity_json(cJSON **out, struct fg_store *st,
    const struct fg_config *cfg, const char *name, size_t limit,
    struct fg_err *err);

/*
 * The text edit alone (see ACTIVATE / DEACTIVATE): out gets flows (len
 * bytes of flows.yaml) with flow name's 'active:' set to active.
 * *changed is false (and out a copy) when it already was.  The result is
 * checked as described, except against a pipeline.
 */
int fg_flowctl_edit_active(struct fg_buf *out, bool *changed,
    const char *flows, size_t len, const char *name, bool active,
    struct fg_err *err);

/*
 * Activate or deactivate flow name on repo's config: read flows.yaml from
 * refs/flowgate/config, edit it, and commit it with fg_config_commit()
 * ("config: deactivate flow nightly by alice", Flowgate-Kind: config),
 * authored by actor_name <actor_email>, retrying twice when the config
 * moved meanwhile.  *changed says whether a commit was made; out (may be
 * NULL) gets the config's tip.  Diagnostics of an invalid result go to d.
 */
int fg_flowctl_set_active(git_oid *out, bool *changed, git_repository *repo,
    const char *name, bool active, const char *actor_name,
    const char *actor_email, struct fg_diags *d, struct fg_err *err);

#endif /* FG_FLOWCTL_H */
