/*
 * flowexec_int.h - what lib/flowexec.c and lib/flow_steps.c share: the
 * values a step reads, substitution, and one step's execution.  Not an
 * API for programs; see flowexec.h.
 */
#ifndef FG_FLOWEXEC_INT_H
#define FG_FLOWEXEC_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "config.h"
#include "err.h"

struct fg_httpc;

/* Most bytes of a step's output or an HTTP answer kept in its record. */
#define FG_FLOWSTEP_LOG_MAX (16 * 1024)

/*
 * The values "${{ ... }}" and "if:" read: event (the trigger's payload),
 * inputs (a manual run's), steps ({"id": {"status", "attempts"}} of the
 * finished steps) and run (the run's context.json: flow, run, trigger,
 * commit, pr, stage, actor, ...).  All borrowed.
 */
struct fg_flowvals {
	const cJSON *event, *inputs, *steps, *run;
};

/*
 * Replace every "${{ path }}" in tmpl by the value at path (a dotted path
 * starting with event, inputs, steps or run; segments of letters, digits,
 * '_' and '-').  Strings go in as they are, numbers in decimal, booleans
 * as true or false, lists and objects as compact JSON.  With url set,
 * each value is percent-encoded (RFC 3986 unreserved characters stay).
 * *out is the caller's (free()).  FG_EINVALID "'${{ event.x }}' has no
 * value", "'${{' is not closed with '}}'", "bad path 'x'".
 */
int fg_flowexec_subst(char **out, const char *tmpl,
    const struct fg_flowvals *vals, bool url, struct fg_err *err);

/* What a step thread needs; all borrowed for the call. */
struct fg_flowstep_job {
	const char *repo_path;
	const char *repo_name;
	const struct fg_config *cfg;
	const char *flow;
	const char *run;
	const char *step_id;
	const char *action;		/* "run", "http", ... */
	const cJSON *spec;		/* the action's object */
	int timeout;			/* seconds */
	struct fg_flowvals vals;
	struct fg_httpc *httpc;		/* HTTP steps' client; NULL: one of
					   the step's own */
};

/*
 * Carry out one attempt of a step.  Returns 0 when it ran to an outcome:
 * *ok says whether it succeeded, reason (rsize bytes) why not, log gets
 * what it printed or answered (the tail, at most FG_FLOWSTEP_LOG_MAX).
 * A negative code means it could not be attempted (the reason is in err);
 * the caller counts that as a failed attempt too.
 */
int fg_flowstep_exec(bool *ok, char *reason, size_t rsize,
    struct fg_buf *log, const struct fg_flowstep_job *job,
    struct fg_err *err);

/*
 * Whether pull request pull (its facts, lib/facts) is approved for its
 * base's stage now, as the "approved" trigger counts; *stage gets that
 * stage (or NULL).  When not, why (wsize bytes; may be NULL) says why:
 * "erwinmombay's review was dismissed", "bob requested changes", "0 of 1
 * approvals on the head commit", "it is closed".
 */
bool fg_flowexec_pull_approved(const struct fg_config *cfg,
    const cJSON *pull, const struct fg_stage **stage, char *why,
    size_t wsize);

#endif
