/*
 * flowexec.h - running flows: which flows an event triggers, queuing their
 * runs, and executing a run's steps to its end (issue 7).
 *
 * PURPOSE
 *   lib/flowplan checks a flow and orders its steps, lib/flowrun keeps one
 *   run's state; this module does the I/O around them: it matches events
 *   against the active flows' triggers, records every run and step as a
 *   commit on refs/flowgate/runs/<flow> (and in refs/flowgate/activity),
 *   and carries out the steps (promote, deploy, run, http, slack, jira,
 *   pool.lease, pool.release, merge).
 *
 * CALLING SEQUENCE (the daemon)
 *   1. The engine (webhookd/engine.c, a worker thread) calls
 *      fg_flowexec_queue() for every delivery it processes, BEFORE it moves
 *      refs/flowgate/inbox-done.  Each flow the event triggers gets a
 *      queued run: a first commit on refs/flowgate/runs/<flow> whose
 *      run.json has every step pending, and whose context.json keeps the
 *      trigger's event and inputs.  Run ids derive from the delivery id
 *      (fg_flowexec_run_id), and a run id already on the flow's ref is not
 *      queued again: a delivery processed twice (a crash before the cursor
 *      moved) starts one run.
 *   2. webhookd/flows.c asks fg_flowexec_pending() for runs whose latest
 *      record says "running" and hands each to an executor thread, which
 *      calls fg_flowexec_execute(): it blocks until the run ends, so it
 *      never runs on the event loop.  Steps without dependencies between
 *      them run at the same time, each on its own thread; commands are
 *      child processes (lib/proc); HTTP requests go to one lib/httpc
 *      client (curl multi on a libevent loop of its own), which the
 *      steps' threads share and wait on.
 *   3. The scheduler calls fg_flowexec_tick() once a minute (and at
 *      start) to queue the schedule flows that are due.
 *
 * MANUAL RUNS (agreed with the CLI/API side)
 *   A manual run is a request in the daemon's durable inbox, exactly like
 *   the API's promotions: an inbox delivery with event "api_flow_run"
 *   (FG_FLOWEXEC_REQUEST_EVENT) whose payload is
 *   {"flow": NAME, "inputs": {...}, "actor": WHO}.  The engine turns it
 *   into a queued run whose id is the delivery id.
 *     - The CLI calls fg_flowexec_request(): it checks the flow and the
 *       inputs, appends the delivery to refs/flowgate/inbox and wakes the
 *       daemon (fg_hook_wake); it prints the run id, which
 *       'flowgate flow activity NAME' then shows.  The CLI never executes
 *       steps itself, so one executor (the daemon) owns every run and a
 *       restart can resume runs without racing anybody.
 *     - The API checks with fg_flowexec_check_request() and submits the
 *       same event and payload through its inbox (whd_inbox_submit).
 *
 * RESTART
 *   Nothing runs twice: a step recorded succeeded, failed or skipped is
 *   never started again.  A step recorded running when the daemon died
 *   counts as a failed attempt "interrupted by a restart"; it is tried
 *   again only when it has retries left (retries: N), because only the
 *   flow's author can say that a step is safe to repeat.
 *
 * OWNERSHIP AND THREADS
 *   No global state.  Each call uses the store it is given, one thread at
 *   a time per store; fg_flowexec_execute() opens its own stores for the
 *   step threads it starts.  Results are the caller's, with the release
 *   functions below.
 */
#ifndef FG_FLOWEXEC_H
#define FG_FLOWEXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "err.h"
#include "event.h"
#include "store.h"

struct fg_httpc;

#define FG_FLOWEXEC_RUNS_PREFIX	"refs/flowgate/runs/"
#define FG_FLOWEXEC_REQUEST_EVENT "api_flow_run"

/* Records walked back on a flow's ref to tell whether a run exists. */
#define FG_FLOWEXEC_SCAN_MAX	1000

/* Largest event payload kept in a run's context.json. */
#define FG_FLOWEXEC_EVENT_MAX	(1024 * 1024)

/*
 * The run id for a delivery id and a flow: the delivery id when it fits
 * a run id ([A-Za-z0-9._-], at most FG_FLOWRUN_ID_MAX bytes), otherwise
 * "d-" and 40 hex digits of its SHA-1.  out has FG_FLOWRUN_ID_MAX + 1
 * bytes.
 */
void fg_flowexec_run_id(char *out, size_t size, const char *delivery);

/*
 * Queue a run of every active flow of cfg that ev triggers (payload is the
 * delivery's payload as JSON, or NULL).  An "api_flow_run" request queues
 * its flow (active or not: a person asked).  *nqueued (may be NULL) gets
 * how many runs were written.  Returns 0, FG_EIO, FG_ENOMEM; a request
 * for a flow that does not exist is FG_ENOTFOUND.
 */
int fg_flowexec_queue(size_t *nqueued, struct fg_store *st,
    const struct fg_config *cfg, const struct fg_event *ev,
    const cJSON *payload, struct fg_err *err);

/*
 * Whether ev could trigger any flow of cfg (a cheap test on kinds, so the
 * engine reads a delivery's payload only when it may matter).
 */
bool fg_flowexec_may_fire(const struct fg_config *cfg,
    const struct fg_event *ev);

/*
 * Queue the schedule flows of cfg that are due at now (fg_cron_due with
 * the last scheduled run's time on the flow's ref), with run ids
 * "tick-YYYYMMDDTHHMMZ".  *nqueued as above.
 */
int fg_flowexec_tick(size_t *nqueued, struct fg_store *st,
    const struct fg_config *cfg, int64_t now, struct fg_err *err);

/*
 * Queue the promotion and deployment flows that records appended to
 * refs/flowgate/activity since the last call trigger: a promotion's
 * summary (stage, "succeeded" for promoted, else "failed") and a
 * deployment's start and end (env, status).  refs/flowgate/flows-seen is
 * the cursor (moved by compare-and-swap); without it, only records made
 * since the config's last commit fire, so history never does.  At most
 * FG_FLOWEXEC_SCAN_MAX records are looked at per call.  Run ids are "a-" and the activity commit's id, so a
 * record fires each flow once.  *nqueued as above.
 */
#define FG_FLOWEXEC_SEEN_REF "refs/flowgate/flows-seen"
int fg_flowexec_scan_activity(size_t *nqueued, struct fg_store *st,
    const struct fg_config *cfg, struct fg_err *err);

/*
 * Expire the pools' leases that outlived their time at now (0: fg_now()),
 * as the daemon does once a minute: fg_lease_expire() records each on the
 * pool's ref and in activity ("pool.expire"), then the pool's reset
 * command runs on the freed environment, and a pull request that got it
 * from the queue is deployed there at its head, as a pool.release step
 * does.  A failed reset or deployment is logged (and recorded by them),
 * not returned.  *nexpired (may be NULL) gets how many leases expired.
 * Blocks for the resets and deployments: call it off the event loop.
 */
int fg_flowexec_expire(size_t *nexpired, struct fg_store *st,
    const struct fg_config *cfg, const char *repo_path, int64_t now,
    struct fg_err *err);

/* Whether a lease of cfg's pools has expired at now (reads only). */
bool fg_flowexec_has_expired(struct fg_store *st,
    const struct fg_config *cfg, int64_t now);

/* A run to execute: its flow and id. */
struct fg_flowexec_ref {
	char flow[64];
	char run[65];
};

/*
 * The runs whose latest record on refs/flowgate/runs/<flow> says running
 * (queued, or cut off by a restart), oldest first.  *out is the caller's
 * (free()).
 */
int fg_flowexec_pending(struct fg_flowexec_ref **out, size_t *n,
    struct fg_store *st, struct fg_err *err);

struct fg_flowexec_opts {
	const char *repo_path;	/* the repository, for step threads */
	const char *repo_name;	/* "owner/name", for logs and records */
	int64_t (*now)(void);	/* NULL: fg_now() */
	volatile int *stop;	/* set non-zero: stop after the running
				   steps, leave the run to resume */
	struct fg_httpc *httpc;	/* the client http, slack and jira steps
				   share (lib/httpc); NULL: each request
				   starts a client of its own */
	/* Called (when not NULL) on the executing thread after each step
	 * that ran ends and is recorded, with the step's action ("promote",
	 * "deploy", ...): the daemon looks at new activity at once after a
	 * promote or deploy step, for the flows those trigger. */
	void (*on_step)(const char *action, void *payload);
	void *payload;
};

/*
 * Execute (or resume) run of flow until it is finished: decide steps with
 * lib/flowrun, start each ready step on its own thread, record every start
 * and end on the flow's ref and in the activity log, wait for retries.
 * Blocks; call it off the event loop.  Returns 0 when the run is finished
 * or was stopped (*status gets "succeeded", "failed" or "running"),
 * FG_ENOTFOUND when flow or run is unknown, FG_ECONFLICT when the flow's
 * steps changed since the run was queued (the run is then recorded failed
 * with that reason), FG_EIO, FG_ENOMEM.
 */
int fg_flowexec_execute(char status[16], struct fg_store *st,
    const struct fg_config *cfg, const char *flow, const char *run,
    const struct fg_flowexec_opts *opts, struct fg_err *err);

/*
 * Check a manual run request: flow exists in cfg and has a manual trigger;
 * inputs (an object of strings from --input k=v, or of JSON values from
 * the API; may be NULL) name only declared inputs, each of its type (a
 * string "true"/"false" or a number in text is converted when the input
 * is boolean or number), every required one present.  *out gets the
 * inputs with defaults filled in (cJSON_Delete).  FG_ENOTFOUND "no flow
 * 'x'", FG_EINVALID "flow 'x' has no manual trigger", "unknown input 'k'",
 * "input 'n' must be a number", "input 'env' is required".
 */
int fg_flowexec_check_request(cJSON **out, const struct fg_config *cfg,
    const char *flow, const cJSON *inputs, struct fg_err *err);

/*
 * The CLI's manual run: check as above, append an "api_flow_run" delivery
 * to refs/flowgate/inbox of st (source "cli"), and wake the daemon of
 * repo_path.  run_id (FG_FLOWRUN_ID_MAX + 1 bytes) gets the run's id.
 */
int fg_flowexec_request(char *run_id, size_t size, struct fg_store *st,
    const char *repo_path, const struct fg_config *cfg, const char *flow,
    const cJSON *inputs, const char *actor, struct fg_err *err);

#endif
