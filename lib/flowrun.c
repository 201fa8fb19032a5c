/*
 * flowrun.c - the state machine of one flow run (see flowrun.h).
 *
 * Everything here is a function of the run, the plan and the arguments:
 * no clock is read (callers pass now) and nothing is started, so a run
 * can be replayed step by step in a test or resumed from its JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowrun.h"
#include "schema.h"
#include "util.h"
#include "banned.h"

static const char *const state_names[] = {
	"pending", "ready", "running", "waiting", "succeeded", "failed",
	"skipped",
};

static const char *const status_names[] = {
	"running", "succeeded", "failed",
};

const char *
fg_step_state_name(enum fg_step_state s)
{
	if ((size_t)s >= FG_ARRAY_SIZE(state_names))
		return "?";
	return state_names[s];
}

const char *
fg_flowrun_status_name(enum fg_flowrun_status s)
{
	if ((size_t)s >= FG_ARRAY_SIZE(status_names))
		return "?";
	return status_names[s];
}

static bool
is_done(enum fg_step_state s)
{
	return s == FG_STEP_SUCCEEDED || s == FG_STEP_FAILED ||
	    s == FG_STEP_SKIPPED;
}

static bool
valid_id(const char *id)
{
	size_t i, n = strlen(id);

	if (n == 0 || n > FG_FLOWRUN_ID_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') ||
		    (id[i] >= 'A' && id[i] <= 'Z') ||
		    (id[i] >= '0' && id[i] <= '9') || id[i] == '.' ||
		    id[i] == '_' || id[i] == '-'))
			return false;
	return true;
}

/* Keep at most FG_FLOWRUN_REASON_MAX bytes, cut at a UTF-8 boundary. */
static int
set_reason(struct fg_flowrun_step *st, const char *reason)
{
	size_t n;
	char *s = NULL;

	if (reason != NULL) {
		n = strlen(reason);
		if (n > FG_FLOWRUN_REASON_MAX) {
			n = FG_FLOWRUN_REASON_MAX;
			while (n > 0 && ((unsigned char)reason[n] & 0xc0) ==
			    0x80)
				n--;
		}
		s = strndup(reason, n);
		if (s == NULL)
			return FG_ENOMEM;
	}
	free(st->reason);
	st->reason = s;
	return 0;
}

static struct fg_flowrun *
alloc_run(const struct fg_flowplan *plan, const char *id)
{
	struct fg_flowrun *run;

	run = calloc(1, sizeof(*run));
	if (run == NULL)
		return NULL;
	run->plan = plan;
	run->id = strdup(id);
	run->steps = calloc(plan->nsteps, sizeof(*run->steps));
	if (run->id == NULL || run->steps == NULL) {
		fg_flowrun_free(run);
		return NULL;
	}
	return run;
}

int
fg_flowrun_new(struct fg_flowrun **out, const struct fg_flowplan *plan,
    const char *id, int64_t now, struct fg_err *err)
{
	struct fg_flowrun *run;

	*out = NULL;
	if (!valid_id(id))
		return fg_err_set(err, FG_EINVALID, "invalid run id '%.80s': "
		    "use 1 to %d letters, digits, '.', '_' or '-'", id,
		    FG_FLOWRUN_ID_MAX);
	run = alloc_run(plan, id);
	if (run == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	run->created = now;
	*out = run;
	return 0;
}

void
fg_flowrun_free(struct fg_flowrun *run)
{
	size_t i;

	if (run == NULL)
		return;
	if (run->steps != NULL)
		for (i = 0; i < run->plan->nsteps; i++)
			free(run->steps[i].reason);
	free(run->steps);
	free(run->id);
	free(run);
}

bool
fg_flowrun_is_finished(const struct fg_flowrun *run)
{
	size_t i;

	for (i = 0; i < run->plan->nsteps; i++)
		if (!is_done(run->steps[i].state))
			return false;
	return true;
}

/* What an "if:" sees: event.*, inputs.* and steps.<id>.status|attempts. */
struct scope {
	const cJSON *event, *inputs;
	cJSON *steps;
};

static const cJSON *
lookup(const char *const *segs, size_t nsegs, void *payload)
{
	const struct scope *sc = payload;

	if (strcmp(segs[0], "event") == 0)
		return fg_expr_lookup_json(segs + 1, nsegs - 1,
		    (void *)sc->event);
	if (strcmp(segs[0], "inputs") == 0)
		return fg_expr_lookup_json(segs + 1, nsegs - 1,
		    (void *)sc->inputs);
	if (strcmp(segs[0], "steps") == 0)
		return fg_expr_lookup_json(segs + 1, nsegs - 1, sc->steps);
	return NULL;
}

/* {"<id>": {"status": ..., "attempts": n}} for the finished steps. */
static cJSON *
steps_scope(const struct fg_flowrun *run)
{
	cJSON *all, *one;
	size_t i;

	all = cJSON_CreateObject();
	if (all == NULL)
		return NULL;
	for (i = 0; i < run->plan->nsteps; i++) {
		if (!is_done(run->steps[i].state))
			continue;
		one = cJSON_AddObjectToObject(all, run->plan->steps[i].id);
		if (one == NULL ||
		    cJSON_AddStringToObject(one, "status",
		    fg_step_state_name(run->steps[i].state)) == NULL ||
		    cJSON_AddNumberToObject(one, "attempts",
		    run->steps[i].attempts) == NULL) {
			cJSON_Delete(all);
			return NULL;
		}
	}
	return all;
}

/*
 * Decide pending step i if its needs are all finished: ready or skipped.
 * Returns 1 when it changed, 0 when it must wait, FG_ENOMEM.
 */
static int
decide(struct fg_flowrun *run, size_t i, struct scope *sc, int64_t now)
{
	const struct fg_flowstep *s = &run->plan->steps[i];
	struct fg_flowrun_step *st = &run->steps[i];
	const struct fg_flowrun_step *need;
	char why[FG_ERR_MSG_MAX];
	size_t j;

	for (j = 0; j < s->nneeds; j++)
		if (!is_done(run->steps[s->needs[j]].state))
			return 0;
	why[0] = '\0';
	if (!s->cond_reads_steps) {
		for (j = 0; j < s->nneeds && why[0] == '\0'; j++) {
			need = &run->steps[s->needs[j]];
			if (need->state == FG_STEP_SKIPPED)
				snprintf(why, sizeof(why), "need '%s' was "
				    "skipped", run->plan->steps[s->needs[j]].id);
			else if (need->state == FG_STEP_FAILED &&
			    !run->plan->steps[s->needs[j]].continue_on_error)
				snprintf(why, sizeof(why), "need '%s' failed",
				    run->plan->steps[s->needs[j]].id);
		}
	}
	if (why[0] == '\0' && s->cond != NULL) {
		if (sc->steps == NULL) {
			sc->steps = steps_scope(run);
			if (sc->steps == NULL)
				return FG_ENOMEM;
		}
		if (!fg_expr_eval(s->cond, lookup, sc))
			snprintf(why, sizeof(why), "if: is false");
	}
	if (why[0] == '\0') {
		st->state = FG_STEP_READY;
		return 1;
	}
	if (set_reason(st, why) < 0)
		return FG_ENOMEM;
	st->state = FG_STEP_SKIPPED;
	st->finished = now;
	return 1;
}

static void
update_status(struct fg_flowrun *run, int64_t now)
{
	size_t i;

	if (run->status != FG_FLOWRUN_RUNNING || !fg_flowrun_is_finished(run))
		return;
	run->status = FG_FLOWRUN_SUCCEEDED;
	for (i = 0; i < run->plan->nsteps; i++)
		if (run->steps[i].state == FG_STEP_FAILED &&
		    !run->plan->steps[i].continue_on_error)
			run->status = FG_FLOWRUN_FAILED;
	run->finished = now;
}

int
fg_flowrun_advance(struct fg_flowrun *run, int64_t now, const cJSON *event,
    const cJSON *inputs, size_t *ready, size_t *nready, struct fg_err *err)
{
	const struct fg_flowplan *plan = run->plan;
	struct scope sc = { event, inputs, NULL };
	struct fg_flowrun_step *st;
	size_t k, i;
	int rc = 0;

	*nready = 0;
	/*
	 * One pass in topological order suffices: a step's needs are
	 * decided before it, so a skip reaches every dependent at once.
	 * The steps scope is rebuilt after each change, as a step decided
	 * in this pass may be read by a later one's if:.
	 */
	for (k = 0; k < plan->nsteps; k++) {
		i = plan->order[k];
		if (run->steps[i].state != FG_STEP_PENDING)
			continue;
		rc = decide(run, i, &sc, now);
		if (rc < 0) {
			fg_err_set(err, rc, "out of memory");
			goto out;
		}
		if (rc > 0 && sc.steps != NULL) {
			cJSON_Delete(sc.steps);
			sc.steps = NULL;
		}
	}
	rc = 0;
	for (k = 0; k < plan->nsteps; k++) {
		i = plan->order[k];
		st = &run->steps[i];
		if (st->state == FG_STEP_READY ||
		    (st->state == FG_STEP_WAITING && st->next_attempt <= now))
			ready[(*nready)++] = i;
	}
	update_status(run, now);
out:
	cJSON_Delete(sc.steps);
	return rc;
}

int
fg_flowrun_start(struct fg_flowrun *run, size_t i, int64_t now,
    struct fg_err *err)
{
	struct fg_flowrun_step *st;

	if (i >= run->plan->nsteps)
		return fg_err_set(err, FG_EINVALID, "no step %zu in flow '%s'",
		    i, run->plan->name);
	st = &run->steps[i];
	if (st->state != FG_STEP_READY && !(st->state == FG_STEP_WAITING &&
	    st->next_attempt <= now))
		return fg_err_set(err, FG_ECONFLICT, "step '%s' cannot start: "
		    "it is %s", run->plan->steps[i].id,
		    fg_step_state_name(st->state));
	st->state = FG_STEP_RUNNING;
	st->attempts++;
	st->started = now;
	st->next_attempt = 0;
	return 0;
}

/* Seconds to wait after the n-th failed attempt (n >= 1). */
static int64_t
backoff(int n)
{
	int64_t d = FG_FLOW_RETRY_BASE;

	while (--n > 0 && d < FG_FLOW_RETRY_MAX)
		d *= 2;
	return d < FG_FLOW_RETRY_MAX ? d : FG_FLOW_RETRY_MAX;
}

static int
end_attempt(struct fg_flowrun *run, size_t i, bool ok, const char *reason,
    int64_t now)
{
	struct fg_flowrun_step *st = &run->steps[i];

	if (set_reason(st, ok ? NULL : reason) < 0)
		return FG_ENOMEM;
	if (ok) {
		st->state = FG_STEP_SUCCEEDED;
		st->finished = now;
	} else if (st->attempts <= run->plan->steps[i].retries) {
		st->state = FG_STEP_WAITING;
		st->next_attempt = now + backoff(st->attempts);
	} else {
		st->state = FG_STEP_FAILED;
		st->finished = now;
	}
	return 0;
}

int
fg_flowrun_finish(struct fg_flowrun *run, size_t i, bool ok,
    const char *reason, int64_t now, struct fg_err *err)
{
	if (i >= run->plan->nsteps)
		return fg_err_set(err, FG_EINVALID, "no step %zu in flow '%s'",
		    i, run->plan->name);
	if (run->steps[i].state != FG_STEP_RUNNING)
		return fg_err_set(err, FG_ECONFLICT, "step '%s' cannot "
		    "finish: it is %s", run->plan->steps[i].id,
		    fg_step_state_name(run->steps[i].state));
	if (end_attempt(run, i, ok, reason, now) < 0)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	update_status(run, now);
	return 0;
}

bool
fg_flowrun_wakeup(const struct fg_flowrun *run, int64_t *out)
{
	bool any = false;
	size_t i;

	for (i = 0; i < run->plan->nsteps; i++)
		if (run->steps[i].state == FG_STEP_WAITING &&
		    (!any || run->steps[i].next_attempt < *out)) {
			*out = run->steps[i].next_attempt;
			any = true;
		}
	return any;
}

void
fg_flowrun_recover(struct fg_flowrun *run, int64_t now)
{
	size_t i;

	for (i = 0; i < run->plan->nsteps; i++)
		if (run->steps[i].state == FG_STEP_RUNNING)
			/* On ENOMEM the reason is lost, not the state. */
			(void)end_attempt(run, i, false,
			    "interrupted by a restart", now);
	update_status(run, now);
}

static int
add_time(cJSON *obj, const char *key, int64_t t)
{
	char buf[32];

	fg_format_utc(buf, sizeof(buf), t);
	return cJSON_AddStringToObject(obj, key, buf) != NULL ? 0 : -1;
}

int
fg_flowrun_to_json(cJSON **out, const struct fg_flowrun *run,
    struct fg_err *err)
{
	const struct fg_flowrun_step *st;
	cJSON *root, *steps, *one;
	size_t i;
	int bad = 0;

	*out = NULL;
	root = cJSON_CreateObject();
	if (root == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	bad |= cJSON_AddNumberToObject(root, "version", 1) == NULL;
	bad |= cJSON_AddStringToObject(root, "flow", run->plan->name) == NULL;
	bad |= cJSON_AddStringToObject(root, "run", run->id) == NULL;
	bad |= cJSON_AddStringToObject(root, "status",
	    fg_flowrun_status_name(run->status)) == NULL;
	bad |= add_time(root, "created", run->created);
	if (run->status != FG_FLOWRUN_RUNNING)
		bad |= add_time(root, "finished", run->finished);
	steps = cJSON_AddArrayToObject(root, "steps");
	bad |= steps == NULL;
	for (i = 0; !bad && i < run->plan->nsteps; i++) {
		st = &run->steps[i];
		one = cJSON_CreateObject();
		if (one == NULL || !cJSON_AddItemToArray(steps, one)) {
			cJSON_Delete(one);
			bad = 1;
			break;
		}
		bad |= cJSON_AddStringToObject(one, "id",
		    run->plan->steps[i].id) == NULL;
		bad |= cJSON_AddStringToObject(one, "status",
		    fg_step_state_name(st->state)) == NULL;
		bad |= cJSON_AddNumberToObject(one, "attempts",
		    st->attempts) == NULL;
		if (st->started != 0)
			bad |= add_time(one, "started", st->started);
		if (st->finished != 0)
			bad |= add_time(one, "finished", st->finished);
		if (st->state == FG_STEP_WAITING)
			bad |= add_time(one, "next_attempt", st->next_attempt);
		if (st->reason != NULL)
			bad |= cJSON_AddStringToObject(one, "reason",
			    st->reason) == NULL;
	}
	if (bad) {
		cJSON_Delete(root);
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	}
	*out = root;
	return 0;
}

static int64_t
get_time(const cJSON *obj, const char *key)
{
	const char *s = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(obj, key));
	int64_t t = 0;

	if (s != NULL && fg_parse_utc(&t, s) < 0)
		t = 0;
	return t;
}

static int
parse_state(const char *name, const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; name != NULL && i < n; i++)
		if (strcmp(names[i], name) == 0)
			return (int)i;
	return 0;
}

int
fg_flowrun_from_json(struct fg_flowrun **out, const struct fg_flowplan *plan,
    const cJSON *json, struct fg_err *err)
{
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_flowrun *run = NULL;
	struct fg_flowrun_step *st;
	const cJSON *steps, *one;
	cJSON *schema = NULL;
	const char *flow, *id;
	size_t i = 0;
	int rc;

	*out = NULL;
	rc = fg_schema_load(&schema, "run.schema.json", err);
	if (rc < 0)
		goto out;
	rc = fg_schema_validate(schema, json, NULL, "run.json", &d);
	if (rc < 0) {
		rc = fg_err_set(err, rc == FG_ENOMEM ? FG_ENOMEM : FG_EINVALID,
		    "%s", d.n > 0 ? d.lines[0] : "run.json: invalid");
		goto out;
	}
	flow = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(json,
	    "flow"));
	id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(json,
	    "run"));
	steps = cJSON_GetObjectItemCaseSensitive(json, "steps");
	if (strcmp(flow, plan->name) != 0) {
		rc = fg_err_set(err, FG_ECONFLICT, "run '%s' is of flow '%s', "
		    "not '%s'", id, flow, plan->name);
		goto out;
	}
	if ((size_t)cJSON_GetArraySize(steps) != plan->nsteps) {
		rc = fg_err_set(err, FG_ECONFLICT, "run '%s' has %d steps but "
		    "flow '%s' now has %zu: the flow changed since it started",
		    id, cJSON_GetArraySize(steps), plan->name, plan->nsteps);
		goto out;
	}
	run = alloc_run(plan, id);
	if (run == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	run->status = (enum fg_flowrun_status)parse_state(
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(json,
	    "status")), status_names, FG_ARRAY_SIZE(status_names));
	run->created = get_time(json, "created");
	run->finished = get_time(json, "finished");
	cJSON_ArrayForEach(one, steps) {
		const char *sid = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(one, "id"));
		const cJSON *reason = cJSON_GetObjectItemCaseSensitive(one,
		    "reason");

		if (strcmp(sid, plan->steps[i].id) != 0) {
			rc = fg_err_set(err, FG_ECONFLICT, "run '%s' has step "
			    "'%s' where flow '%s' now has '%s': the flow "
			    "changed since it started", id, sid, plan->name,
			    plan->steps[i].id);
			goto out;
		}
		st = &run->steps[i];
		st->state = (enum fg_step_state)parse_state(
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(one,
		    "status")), state_names, FG_ARRAY_SIZE(state_names));
		st->attempts = (int)cJSON_GetNumberValue(
		    cJSON_GetObjectItemCaseSensitive(one, "attempts"));
		st->started = get_time(one, "started");
		st->finished = get_time(one, "finished");
		st->next_attempt = get_time(one, "next_attempt");
		if (cJSON_IsString(reason) &&
		    set_reason(st, reason->valuestring) < 0) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		i++;
	}
	*out = run;
	run = NULL;
	rc = 0;
out:
	fg_flowrun_free(run);
	cJSON_Delete(schema);
	fg_diags_release(&d);
	return rc;
}
