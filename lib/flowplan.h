/*
 * flowplan.h - the steps of one flow as a checked dependency graph.
 *
 * A flow's steps name what they need ("needs: [build, test]") and when
 * they run at all ("if: event.pull_request.base == 'main'").  Building a
 * plan checks all of it once, when the config is applied, and reports
 * every mistake with the node at fault:
 *   - two steps with the same id;
 *   - a need that names no step, or the step itself;
 *   - a cycle ("steps 'a' -> 'b' -> 'a' form a cycle");
 *   - an "if:" that does not parse (with the column inside it), or that
 *     reads steps.X.status of a step X that is not among its needs,
 *     directly or through other needs (its status would not be known
 *     yet), or a field of a step other than status and attempts;
 *   - for a schedule trigger, a cron expression or time zone that
 *     lib/cron refuses.
 * A plan also fixes a topological order (ties keep the file's order), in
 * which lib/flowrun decides and reports steps.
 *
 * The plan does no I/O and runs nothing: lib/flowrun keeps the state of
 * one run over it; the executor (webhookd) starts steps.
 *
 * Ownership: fg_flowplan_new() returns a plan the caller frees with
 * fg_flowplan_free().  The plan BORROWS the flow's cJSON tree (steps[i].json
 * points into it): keep the tree (normally the config's flows object)
 * alive and unchanged as long as the plan.  Thread-safety: a built plan is
 * immutable; share it freely.
 */
#ifndef FG_FLOWPLAN_H
#define FG_FLOWPLAN_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "cron.h"
#include "err.h"
#include "expr.h"

/* The schema's limit on steps per flow. */
#define FG_FLOW_MAX_STEPS 100

/* A step without "timeout:" may run this long (seconds). */
#define FG_FLOW_STEP_TIMEOUT 3600

/* The names an "if:" path may start with. */
extern const char *const fg_flowplan_roots[];

struct fg_flowstep {
	const char *id;			/* borrowed from json */
	const cJSON *json;		/* the step's object in the flow */
	const char *action;		/* "run", "deploy", ... (its key) */
	size_t *needs;			/* indices into plan->steps */
	size_t nneeds;
	struct fg_expr *cond;		/* "if:", or NULL */
	bool cond_reads_steps;		/* the if: decides alone, see below */
	int timeout;			/* seconds */
	int retries;			/* extra attempts after a failure */
	bool continue_on_error;
};

struct fg_flowplan {
	char *name;
	struct fg_flowstep *steps;	/* in the file's order */
	size_t nsteps;
	size_t *order;			/* a topological order of indices */
	struct fg_cron *schedule;	/* a schedule trigger's, or NULL */
};

/*
 * Called once per problem: node is the JSON node at fault (inside the flow
 * passed to fg_flowplan_new), col the 1-based column inside an "if:" text
 * or 0, msg the message ("unknown step 'x'").
 */
typedef void (*fg_flowplan_report_fn)(const cJSON *node, unsigned col,
    const char *msg, void *payload);

/*
 * Build the plan of flow (one value of flows.yaml's "flows" object, already
 * valid against schemas/flows.schema.json) called name.  Returns 0, or
 * FG_EINVALID after reporting every problem through report (when not NULL)
 * and putting the first in err, or FG_ENOMEM.
 */
int fg_flowplan_new(struct fg_flowplan **out, const char *name,
    const cJSON *flow, fg_flowplan_report_fn report, void *payload,
    struct fg_err *err);

void fg_flowplan_free(struct fg_flowplan *plan);

/*
 * Check every flow of a parsed flows.yaml (doc, already valid against the
 * schema) by building and freeing its plan, adding one diagnostic per
 * problem to d as "file:line:col: flows.<name>.steps[i].if: message".  An
 * error inside an "if:" points at its own column in the file when the
 * expression sits on one line as written (plain, or quoted without
 * escapes); otherwise at the start of the value, with "(column N of the
 * expression)" added.  text/len is the source of doc.  Returns 0,
 * FG_EINVALID or FG_ENOMEM.
 */
struct fg_jdoc;
int fg_flowplan_check(const struct fg_jdoc *doc, const char *text,
    size_t len, struct fg_diags *d);

/* The index of the step called id, or -1. */
long fg_flowplan_find(const struct fg_flowplan *plan, const char *id);

#endif
