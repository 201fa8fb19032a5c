/*
 * flowrun.h - the state of one run of a flow, as a pure state machine.
 *
 * The executor (lib/flowexec, in the daemon) asks this module what to
 * do and tells it what happened; the module does no I/O and starts
 * nothing, so every rule below is tested without processes or clocks:
 *
 *   fg_flowrun_new()        a run of a plan, every step pending
 *   fg_flowrun_advance()    decide what can be decided now and list the
 *                           steps to start (in the plan's order)
 *   fg_flowrun_start()      the executor started a step
 *   fg_flowrun_finish()     it succeeded or failed
 *   fg_flowrun_wakeup()     when a retry falls due, to set a timer
 *   fg_flowrun_to_json()    run.json, committed to refs/flowgate/runs/<flow>
 *   fg_flowrun_from_json()  resume after a restart
 *
 * Step states: pending -> ready -> running -> succeeded | failed, with
 * running -> waiting -> running for a retry; pending -> skipped.
 *
 * Deciding a pending step, once all its needs are finished (succeeded,
 * failed or skipped):
 *   - A need is satisfied when it succeeded, or failed with
 *     continue-on-error: true (its status stays "failed"; only its
 *     dependents treat it as a success).
 *   - Without "if:", or with an "if:" that reads no steps.*: the step is
 *     skipped when a need is not satisfied ("need 'build' failed", "need
 *     'lint' was skipped"); otherwise its "if:" (if any) decides: false
 *     skips it ("if: is false"), true makes it ready.
 *   - With an "if:" that reads steps.X.status or steps.X.attempts, the
 *     "if:" alone decides, so a step can run after a failure
 *     ("if: steps.deploy.status == 'failed'").
 *   A decision is recorded (ready or skipped) and not revisited.
 *
 * Retries: a failed attempt with attempts left (retries: N allows N more)
 * goes to waiting; the next attempt is due FG_FLOW_RETRY_BASE seconds
 * after the failure, doubling each time, at most FG_FLOW_RETRY_MAX.
 *
 * A run is finished when every step is succeeded, failed or skipped.  It
 * failed when a step failed without continue-on-error, else succeeded
 * (skipped steps do not fail a run).
 *
 * Resuming: a run read back with fg_flowrun_from_json() keeps finished
 * steps finished, so none runs twice.  A step recorded as running was cut
 * off by the restart: fg_flowrun_recover() counts that attempt as failed
 * ("interrupted by a restart"), with the usual retries.
 *
 * Ownership: a run borrows its plan, which must outlive it; the caller
 * frees the run with fg_flowrun_free().  Thread-safety: none; one worker
 * owns a run at a time.
 */
#ifndef FG_FLOWRUN_H
#define FG_FLOWRUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "flowplan.h"

#define FG_FLOW_RETRY_BASE 10		/* seconds before the 1st retry */
#define FG_FLOW_RETRY_MAX 600		/* longest wait between attempts */
#define FG_FLOWRUN_ID_MAX 64		/* longest run id */
#define FG_FLOWRUN_REASON_MAX 200	/* longest reason kept, bytes */

enum fg_step_state {
	FG_STEP_PENDING,
	FG_STEP_READY,
	FG_STEP_RUNNING,
	FG_STEP_WAITING,
	FG_STEP_SUCCEEDED,
	FG_STEP_FAILED,
	FG_STEP_SKIPPED,
};

enum fg_flowrun_status {
	FG_FLOWRUN_RUNNING,
	FG_FLOWRUN_SUCCEEDED,
	FG_FLOWRUN_FAILED,
};

struct fg_flowrun_step {
	enum fg_step_state state;
	int attempts;			/* attempts started */
	int64_t started;		/* last attempt's start, 0 if none */
	int64_t finished;		/* 0 until finished or skipped */
	int64_t next_attempt;		/* FG_STEP_WAITING: when */
	char *reason;			/* why failed or skipped, or NULL */
};

struct fg_flowrun {
	const struct fg_flowplan *plan;	/* borrowed */
	char *id;
	enum fg_flowrun_status status;
	int64_t created, finished;	/* finished: 0 while running */
	struct fg_flowrun_step *steps;	/* parallel to plan->steps */
};

/*
 * A new run of plan called id (1 to FG_FLOWRUN_ID_MAX of [A-Za-z0-9._-],
 * e.g. the delivery id that triggered it), created at now.
 */
int fg_flowrun_new(struct fg_flowrun **out, const struct fg_flowplan *plan,
    const char *id, int64_t now, struct fg_err *err);

void fg_flowrun_free(struct fg_flowrun *run);

/*
 * Decide every pending step that can be decided, evaluating "if:" against
 * event (the trigger's JSON, may be NULL), inputs (a manual run's inputs
 * object, may be NULL) and the run's finished steps.  Then list in ready
 * (room for plan->nsteps indices) the steps to start now: ready ones and
 * waiting ones whose retry is due at now, in the plan's topological order;
 * *nready gets how many.  Updates the run's status when all are finished.
 * Returns 0 or FG_ENOMEM.
 */
int fg_flowrun_advance(struct fg_flowrun *run, int64_t now,
    const cJSON *event, const cJSON *inputs, size_t *ready, size_t *nready,
    struct fg_err *err);

/*
 * The executor started step i at now.  FG_ECONFLICT when the step is not
 * ready (or waiting and due): never start a step twice.
 */
int fg_flowrun_start(struct fg_flowrun *run, size_t i, int64_t now,
    struct fg_err *err);

/*
 * Step i's attempt ended at now; ok tells how.  reason (may be NULL) says
 * why it failed, e.g. "exit status 2" or "timed out after 60 s"; it is
 * kept up to FG_FLOWRUN_REASON_MAX bytes.  FG_ECONFLICT when the step is
 * not running.  Call fg_flowrun_advance() afterwards for what comes next.
 */
int fg_flowrun_finish(struct fg_flowrun *run, size_t i, bool ok,
    const char *reason, int64_t now, struct fg_err *err);

/* True when every step is succeeded, failed or skipped. */
bool fg_flowrun_is_finished(const struct fg_flowrun *run);

/* The earliest due time of a waiting step into *out; false if none. */
bool fg_flowrun_wakeup(const struct fg_flowrun *run, int64_t *out);

/* After a restart: running steps count as failed attempts (see above). */
void fg_flowrun_recover(struct fg_flowrun *run, int64_t now);

/* "pending", "ready", ... for a state; "running", ... for a run status. */
const char *fg_step_state_name(enum fg_step_state s);
const char *fg_flowrun_status_name(enum fg_flowrun_status s);

/*
 * The run as a run.json tree (schemas/run.schema.json); *out is the
 * caller's (cJSON_Delete).  FG_ENOMEM.
 */
int fg_flowrun_to_json(cJSON **out, const struct fg_flowrun *run,
    struct fg_err *err);

/*
 * Read a run.json tree back as a run of plan.  The tree is validated
 * against schemas/run.schema.json (FG_EINVALID, the first problem in err);
 * a run of another flow, or of a flow whose steps have changed since
 * (other ids or order), is FG_ECONFLICT: its record cannot be matched to
 * the plan.  Running steps stay running: call fg_flowrun_recover().
 */
int fg_flowrun_from_json(struct fg_flowrun **out,
    const struct fg_flowplan *plan, const cJSON *json, struct fg_err *err);

#endif
