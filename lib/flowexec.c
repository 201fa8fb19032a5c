/*
 * flowexec.c - matching events to flows, queuing runs, executing them
 * (see flowexec.h).  The steps themselves are in flow_steps.c.
 *
 * Every record of a run is a commit on refs/flowgate/runs/<flow> whose
 * tree holds run.json (the whole run's state, schemas/run.schema.json),
 * context.json (what triggered it: the event's payload, the inputs, the
 * commit, the pull request...) and, for a step that ended, its log.  Its
 * trailers: Flowgate-Kind: flow, Flowgate-Run, Flowgate-Status (the run's
 * status: running, succeeded, failed), Flowgate-Flow, and for a step
 * Flowgate-Step and Flowgate-Step-Status.  The same subject goes to
 * refs/flowgate/activity.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "flowexec.h"
#include "flowexec_int.h"
#include "flowplan.h"
#include "flowrun.h"
#include "facts.h"
#include "hook.h"
#include "log.h"
#include "pipeline.h"
#include "template.h"
#include "util.h"
#include "banned.h"

#define ACTIVITY_REF "refs/flowgate/activity"
#define INBOX_REF "refs/flowgate/inbox"

static const char *
jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

void
fg_flowexec_run_id(char *out, size_t size, const char *delivery)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	size_t n = strlen(delivery), k;
	bool ok = n > 0 && n <= FG_FLOWRUN_ID_MAX;

	for (k = 0; ok && k < n; k++) {
		char c = delivery[k];

		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
	}
	if (ok) {
		snprintf(out, size, "%s", delivery);
		return;
	}
	EVP_Digest(delivery, n, md, &mdlen, EVP_sha1(), NULL);
	snprintf(out, size, "d-");
	for (i = 0; i < mdlen && 2 + 2 * i + 2 < size; i++)
		snprintf(out + 2 + 2 * i, 3, "%02x", md[i]);
}

static void
runs_ref(char *out, size_t size, const char *flow)
{
	snprintf(out, size, "%s%s", FG_FLOWEXEC_RUNS_PREFIX, flow);
}

/*
 * The newest record of run on flow's ref, among the newest
 * FG_FLOWEXEC_SCAN_MAX records: 0 and *out, or FG_ENOTFOUND.
 */
static int
find_run(git_oid *out, struct fg_store *st, const char *flow,
    const char *run)
{
	struct fg_store_query q;
	struct fg_store_iter *it = NULL;
	const struct fg_store_entry *e = NULL;
	const char *v;
	char ref[128];
	int rc = FG_ENOTFOUND;

	runs_ref(ref, sizeof(ref), flow);
	memset(&q, 0, sizeof(q));
	q.limit = FG_FLOWEXEC_SCAN_MAX;
	if (fg_store_iter_new(&it, st, ref, &q, NULL) < 0)
		return FG_ENOTFOUND;
	while (fg_store_iter_next(&e, it, NULL) == 0 && e != NULL) {
		v = fg_store_entry_get(e, "Flowgate-Run");
		if (v != NULL && strcmp(v, run) == 0) {
			git_oid_cpy(out, &e->id);
			rc = 0;
			break;
		}
	}
	fg_store_iter_free(it);
	return rc;
}

/*
 * Append one record of a run: to its flow's ref (run.json, context.json
 * and log when not NULL) and to the activity log.  step and sstatus may
 * be NULL (a record of the whole run).
 */
static int
record(struct fg_store *st, const char *flow, const cJSON *runj,
    const cJSON *ctx, const char *subject, const char *step,
    const char *sstatus, const char *log, struct fg_err *err)
{
	struct fg_record rec;
	struct fg_trailer tr[3];
	struct fg_file files[3];
	char ref[128], *rtext = NULL, *ctext = NULL;
	size_t ntr = 0, nf = 0;
	git_oid id;
	int rc;

	rtext = cJSON_Print(runj);
	ctext = cJSON_Print(ctx);
	if (rtext == NULL || ctext == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	tr[ntr].key = "Flowgate-Flow";
	tr[ntr++].value = flow;
	if (step != NULL) {
		tr[ntr].key = "Flowgate-Step";
		tr[ntr++].value = step;
		tr[ntr].key = "Flowgate-Step-Status";
		tr[ntr++].value = sstatus;
	}
	files[nf].name = "run.json";
	files[nf].data = rtext;
	files[nf++].len = strlen(rtext);
	files[nf].name = "context.json";
	files[nf].data = ctext;
	files[nf++].len = strlen(ctext);
	if (log != NULL && *log != '\0') {
		files[nf].name = "log";
		files[nf].data = log;
		files[nf++].len = strlen(log);
	}
	memset(&rec, 0, sizeof(rec));
	rec.kind = "flow";
	rec.subject = subject;
	rec.status = jstr(runj, "status");
	rec.run = jstr(runj, "run");
	rec.commit = jstr(ctx, "commit");
	rec.delivery = jstr(ctx, "delivery");
	rec.actor_name = jstr(ctx, "actor");
	rec.trailers = tr;
	rec.ntrailers = ntr;
	rec.files = files;
	rec.nfiles = nf;
	rec.no_record_json = true;
	if (log != NULL && *log != '\0')
		rec.body = log;
	runs_ref(ref, sizeof(ref), flow);
	rc = fg_store_append(&id, st, ref, &rec, err);
	if (rc < 0)
		goto out;
	rec.files = NULL;
	rec.nfiles = 0;
	rec.no_record_json = false;
	rec.data = runj;
	rc = fg_store_append(&id, st, ACTIVITY_REF, &rec, err);
out:
	cJSON_free(rtext);
	cJSON_free(ctext);
	return rc;
}

static int
record_run(struct fg_store *st, const struct fg_flowrun *r, const cJSON *ctx,
    const char *subject, const char *step, const char *sstatus,
    const char *log, struct fg_err *err)
{
	cJSON *j = NULL;
	int rc;

	rc = fg_flowrun_to_json(&j, r, err);
	if (rc == 0)
		rc = record(st, r->plan->name, j, ctx, subject, step, sstatus,
		    log, err);
	cJSON_Delete(j);
	return rc;
}

static int
read_json_at(cJSON **out, struct fg_store *st, const git_oid *c,
    const char *name, struct fg_err *err)
{
	struct fg_buf b = FG_BUF_INIT;
	int rc;

	rc = fg_store_read_file_at(&b, st, c, name, err);
	if (rc == 0)
		rc = fg_json_parse(out, b.ptr, b.len, err);
	fg_buf_release(&b);
	return rc;
}

/* ---- queuing ---- */

/* The trigger's kind and its object. */
static const char *
trigger_of(const cJSON *flow, const cJSON **spec)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(flow, "trigger");

	*spec = t != NULL ? t->child : NULL;
	return *spec != NULL ? (*spec)->string : "";
}

static bool
is_active(const cJSON *flow)
{
	return !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(flow,
	    "active"));
}

static const char *
short_branch(const char *ref)
{
	if (ref != NULL && strncmp(ref, "refs/heads/", 11) == 0)
		return ref + 11;
	return ref;
}

/* True when pats (a list of globs) is absent or one matches name. */
static bool
patterns_match(const cJSON *pats, const char *name)
{
	const cJSON *p;

	if (pats == NULL)
		return true;
	if (name == NULL)
		return false;
	cJSON_ArrayForEach(p, pats)
		if (cJSON_IsString(p) && fg_glob_match(p->valuestring, name))
			return true;
	return false;
}

static void
add_str(cJSON *o, const char *key, const char *v)
{
	if (v != NULL && *v != '\0')
		cJSON_AddStringToObject(o, key, v);
}

/*
 * The context of a run: what "${{ run.* }}" reads and what the steps work
 * on.  event is the delivery's payload when it is a JSON object, else the
 * normalized event.
 */
static cJSON *
make_ctx(const char *flow, const char *run, const char *trigger,
    const struct fg_event *ev, const cJSON *payload, const cJSON *inputs)
{
	const struct fg_event empty = FG_EVENT_INIT;
	cJSON *ctx = cJSON_CreateObject(), *evj = NULL;
	const char *commit;

	if (ctx == NULL)
		return NULL;
	if (ev == NULL)
		ev = &empty;
	add_str(ctx, "flow", flow);
	add_str(ctx, "run", run);
	add_str(ctx, "trigger", trigger);
	add_str(ctx, "source", ev->kind != FG_EVENT_IGNORED ||
	    ev->event != NULL ? fg_forge_name(ev->source) : NULL);
	add_str(ctx, "kind", ev->kind != FG_EVENT_IGNORED ?
	    fg_event_kind_name(ev->kind) : NULL);
	add_str(ctx, "repo", ev->repo);
	add_str(ctx, "ref", ev->ref);
	commit = ev->pr_head_sha[0] != '\0' ? ev->pr_head_sha :
	    ev->new_id[0] != '\0' && strspn(ev->new_id, "0") != 40 ?
	    ev->new_id : ev->sha[0] != '\0' ? ev->sha : NULL;
	add_str(ctx, "commit", commit);
	if (ev->kind == FG_EVENT_PUSH && strspn(ev->old_id, "0") != 40)
		add_str(ctx, "before", ev->old_id);
	if (ev->pr_number > 0)
		cJSON_AddNumberToObject(ctx, "pr", (double)ev->pr_number);
	add_str(ctx, "base", ev->base_ref);
	add_str(ctx, "head_ref", ev->head_ref);
	add_str(ctx, "actor", ev->actor);
	add_str(ctx, "delivery", ev->delivery);
	add_str(ctx, "jira_key", ev->jira_key);
	add_str(ctx, "jira_from", ev->jira_from);
	add_str(ctx, "jira_to", ev->jira_to);
	if (cJSON_IsObject(payload))
		evj = cJSON_Duplicate(payload, 1);
	else if (ev != &empty)
		fg_event_to_json(&evj, ev, NULL);
	if (evj != NULL)
		cJSON_AddItemToObject(ctx, "event", evj);
	if (inputs != NULL)
		cJSON_AddItemToObject(ctx, "inputs", cJSON_Duplicate(inputs,
		    1));
	return ctx;
}

/*
 * Queue a run of flow called run with context ctx, unless a run of that
 * id is on the flow's ref already.  *queued tells which.
 */
static int
queue_one(bool *queued, struct fg_store *st, const struct fg_config *cfg,
    const char *flow, const char *run, cJSON *ctx, struct fg_err *err)
{
	const cJSON *fj = cJSON_GetObjectItemCaseSensitive(cfg->flows, flow);
	struct fg_flowplan *plan = NULL;
	struct fg_flowrun *r = NULL;
	char subject[300];
	git_oid id;
	int rc;

	*queued = false;
	if (find_run(&id, st, flow, run) == 0)
		return 0;
	rc = fg_flowplan_new(&plan, flow, fj, NULL, NULL, err);
	if (rc == 0)
		rc = fg_flowrun_new(&r, plan, run, fg_now(), err);
	if (rc < 0)
		goto out;
	snprintf(subject, sizeof(subject), "flow %s: run %s queued (%s)", flow,
	    run, jstr(ctx, "trigger") != NULL ? jstr(ctx, "trigger") : "?");
	rc = record_run(st, r, ctx, subject, NULL, NULL, NULL, err);
	if (rc == 0) {
		*queued = true;
		fg_log_info("event=flow_queued flow=%s run=%s", flow, run);
	}
out:
	fg_flowrun_free(r);
	fg_flowplan_free(plan);
	return rc;
}

/* Does a non-approved trigger of kind/spec fire for ev? */
static bool
matches(const char *kind, const cJSON *spec, const struct fg_config *cfg,
    const struct fg_event *ev, const cJSON *payload)
{
	const cJSON *evs, *m, *e;
	const struct fg_stage *s;
	const char *want = NULL, *v, *stage;
	bool found;

	if (strcmp(kind, "push") == 0) {
		if ((ev->kind != FG_EVENT_PUSH &&
		    ev->kind != FG_EVENT_BRANCH_CREATED) || ev->ref == NULL ||
		    strncmp(ev->ref, "refs/heads/", 11) != 0)
			return false;
		stage = jstr(spec, "stage");
		if (stage != NULL) {
			s = fg_pipeline_stage_for_branch(cfg, ev->ref);
			if (s == NULL || strcmp(fg_stage_name(s->id), stage) != 0)
				return false;
		}
		return patterns_match(cJSON_GetObjectItemCaseSensitive(spec,
		    "branches"), short_branch(ev->ref));
	}
	if (strcmp(kind, "pull_request") == 0) {
		switch (ev->kind) {
		case FG_EVENT_PR_OPENED:
		case FG_EVENT_PR_REOPENED:
			want = "opened";
			break;
		case FG_EVENT_PR_SYNCHRONIZED:
			want = "synchronized";
			break;
		case FG_EVENT_PR_MERGED:
			want = "merged";
			break;
		case FG_EVENT_PR_CLOSED:
			want = "closed";
			break;
		default:
			return false;
		}
		evs = cJSON_GetObjectItemCaseSensitive(spec, "events");
		found = evs == NULL;
		cJSON_ArrayForEach(e, evs)
			if (cJSON_IsString(e) && strcmp(e->valuestring, want) ==
			    0)
				found = true;
		return found && patterns_match(
		    cJSON_GetObjectItemCaseSensitive(spec, "branches"),
		    short_branch(ev->base_ref));
	}
	if (strcmp(kind, "jira") == 0) {
		if (ev->kind != FG_EVENT_JIRA_ISSUE)
			return false;
		v = jstr(spec, "project");
		if (v != NULL && (ev->jira_project == NULL ||
		    strcmp(v, ev->jira_project) != 0))
			return false;
		v = jstr(spec, "from");
		if (v != NULL && (ev->jira_from == NULL ||
		    strcasecmp(v, ev->jira_from) != 0))
			return false;
		v = jstr(spec, "to");
		return v == NULL || (ev->jira_to != NULL &&
		    strcasecmp(v, ev->jira_to) == 0);
	}
	if (strcmp(kind, "webhook") == 0) {
		if (ev->source != FG_FORGE_GENERIC || !cJSON_IsObject(payload))
			return false;
		cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(spec,
		    "match")) {
			char path[256], *segs[FG_EXPR_MAX_SEGS], *p;
			size_t n = 0;
			const cJSON *got;

			snprintf(path, sizeof(path), "%s", m->string);
			for (p = path; n < FG_EXPR_MAX_SEGS; ) {
				segs[n++] = p;
				p = strchr(p, '.');
				if (p == NULL)
					break;
				*p++ = '\0';
			}
			got = fg_expr_lookup_json((const char *const *)segs, n,
			    (void *)payload);
			if (got == NULL)
				return false;
			if (cJSON_IsString(m) && (!cJSON_IsString(got) ||
			    strcmp(m->valuestring, got->valuestring) != 0))
				return false;
			if (cJSON_IsNumber(m) && (!cJSON_IsNumber(got) ||
			    m->valuedouble != got->valuedouble))
				return false;
			if (cJSON_IsBool(m) && (!cJSON_IsBool(got) ||
			    cJSON_IsTrue(m) != cJSON_IsTrue(got)))
				return false;
		}
		return true;
	}
	return false;
}

/*
 * Whether pull request pull is approved for its base's stage now: at
 * least N current approvals (the stage's approvals gate, or 1 without
 * one), by reviewers other than the author, on its head commit, and no
 * reviewer whose latest review requests changes.  When not, why (may be
 * NULL) gets the reason: "erwinmombay's review was dismissed", "bob
 * requested changes", "0 of 1 approvals on the head commit".
 */
bool
fg_flowexec_pull_approved(const struct fg_config *cfg, const cJSON *pull,
    const struct fg_stage **stage, char *why, size_t wsize)
{
	const char *head = jstr(cJSON_GetObjectItemCaseSensitive(pull, "head"),
	    "sha"), *base = jstr(cJSON_GetObjectItemCaseSensitive(pull, "base"),
	    "ref"), *author = jstr(pull, "author"), *state = jstr(pull,
	    "state");
	const cJSON *r;
	struct fg_buf notes = FG_BUF_INIT;
	int need = 1, have = 0;
	bool ok = false;
	size_t i;

	if (why != NULL && wsize > 0)
		why[0] = '\0';
	*stage = fg_pipeline_stage_for_branch(cfg, base);
	if (head == NULL || state == NULL || strcmp(state, "open") != 0 ||
	    strspn(head, "0") == 40) {
		if (why != NULL)
			snprintf(why, wsize, "it is %s", state != NULL &&
			    strcmp(state, "open") != 0 ? state :
			    "not open yet");
		return false;
	}
	for (i = 0; *stage != NULL && i < (*stage)->ngates; i++)
		if ((*stage)->gates[i].kind == FG_GATE_APPROVALS)
			need = (*stage)->gates[i].approvals;
	cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(pull,
	    "reviews")) {
		const char *u = jstr(r, "user"), *s = jstr(r, "state"),
		    *c = jstr(r, "commit");

		if (u == NULL || s == NULL)
			continue;
		if (strcmp(s, "changes_requested") == 0) {
			if (why != NULL)
				snprintf(why, wsize, "%s requested changes",
				    u);
			goto out;
		}
		if (strcmp(s, "dismissed") == 0)
			fg_buf_printf(&notes, "%s%s's review was dismissed",
			    notes.len > 0 ? ", " : "", u);
		if (strcmp(s, "approved") != 0 || (author != NULL &&
		    strcmp(u, author) == 0))
			continue;
		if (c != NULL && strcmp(c, head) == 0)
			have++;
		else
			fg_buf_printf(&notes, "%s%s approved an older commit",
			    notes.len > 0 ? ", " : "", u);
	}
	ok = have >= need;
	if (!ok && why != NULL) {
		if (notes.len > 0)
			snprintf(why, wsize, "%s", notes.ptr);
		else
			snprintf(why, wsize, "%d of %d approvals on the head "
			    "commit", have, need);
	}
out:
	fg_buf_release(&notes);
	return ok;
}

static bool
wants_event(const cJSON *spec, const char *want)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(spec, "events"))
		if (cJSON_IsString(e) && strcmp(e->valuestring, want) == 0)
			return true;
	return false;
}

/*
 * The "approved" trigger: after a review or a push to pull request
 * ev->pr_number, is it approved now?  Each flow fires once per head
 * commit (run id approved-<n>-<head>).
 */
static int
queue_approved(size_t *nq, struct fg_store *st, const struct fg_config *cfg,
    const struct fg_event *ev, const cJSON *payload, struct fg_err *err)
{
	const struct fg_stage *stage = NULL;
	const cJSON *f, *spec;
	const char *head;
	cJSON *pull = NULL, *ctx = NULL;
	char run[FG_FLOWRUN_ID_MAX + 1];
	bool q;
	int rc = 0;

	if (ev->pr_number <= 0 || fg_facts_pull(&pull, fg_store_repo(st),
	    ev->pr_number, NULL) < 0)
		return 0;
	if (!fg_flowexec_pull_approved(cfg, pull, &stage, NULL, 0))
		goto out;
	head = jstr(cJSON_GetObjectItemCaseSensitive(pull, "head"), "sha");
	snprintf(run, sizeof(run), "approved-%lld-%.40s",
	    (long long)ev->pr_number, head);
	cJSON_ArrayForEach(f, cfg->flows) {
		if (!is_active(f) || strcmp(trigger_of(f, &spec),
		    "pull_request") != 0 || !wants_event(spec, "approved") ||
		    !patterns_match(cJSON_GetObjectItemCaseSensitive(spec,
		    "branches"), short_branch(jstr(
		    cJSON_GetObjectItemCaseSensitive(pull, "base"), "ref"))))
			continue;
		cJSON_Delete(ctx);
		ctx = make_ctx(f->string, run, "pull_request approved", ev,
		    payload, NULL);
		if (ctx == NULL) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		cJSON_DeleteItemFromObjectCaseSensitive(ctx, "commit");
		cJSON_AddStringToObject(ctx, "commit", head);
		if (stage != NULL)
			cJSON_AddStringToObject(ctx, "stage",
			    fg_stage_name(stage->id));
		rc = queue_one(&q, st, cfg, f->string, run, ctx, err);
		if (rc < 0)
			goto out;
		*nq += q;
	}
out:
	cJSON_Delete(ctx);
	cJSON_Delete(pull);
	return rc;
}

bool
fg_flowexec_may_fire(const struct fg_config *cfg, const struct fg_event *ev)
{
	const cJSON *f, *spec;
	const char *k;

	if (cfg->flows == NULL || ev->delivery == NULL)
		return false;
	if (ev->event != NULL && strcmp(ev->event,
	    FG_FLOWEXEC_REQUEST_EVENT) == 0)
		return true;
	cJSON_ArrayForEach(f, cfg->flows) {
		if (!is_active(f))
			continue;
		k = trigger_of(f, &spec);
		if ((strcmp(k, "push") == 0 && (ev->kind == FG_EVENT_PUSH ||
		    ev->kind == FG_EVENT_BRANCH_CREATED)) ||
		    (strcmp(k, "pull_request") == 0 && ev->pr_number > 0) ||
		    (strcmp(k, "jira") == 0 &&
		    ev->kind == FG_EVENT_JIRA_ISSUE) ||
		    (strcmp(k, "webhook") == 0 &&
		    ev->source == FG_FORGE_GENERIC))
			return true;
	}
	return false;
}

int
fg_flowexec_queue(size_t *nqueued, struct fg_store *st,
    const struct fg_config *cfg, const struct fg_event *ev,
    const cJSON *payload, struct fg_err *err)
{
	const cJSON *f, *spec;
	const char *kind, *name;
	cJSON *ctx = NULL, *inputs = NULL;
	char run[FG_FLOWRUN_ID_MAX + 1];
	size_t nq = 0;
	bool q;
	int rc = 0;

	if (ev->delivery == NULL || cfg->flows == NULL)
		goto out;
	fg_flowexec_run_id(run, sizeof(run), ev->delivery);
	if (ev->event != NULL && strcmp(ev->event,
	    FG_FLOWEXEC_REQUEST_EVENT) == 0) {
		name = jstr(payload, "flow");
		if (name == NULL) {
			rc = fg_err_set(err, FG_EINVALID, "a flow run request "
			    "without a flow");
			goto out;
		}
		rc = fg_flowexec_check_request(&inputs, cfg, name,
		    cJSON_GetObjectItemCaseSensitive(payload, "inputs"), err);
		if (rc < 0)
			goto out;
		ctx = make_ctx(name, run, "manual", ev, NULL, inputs);
		if (ctx == NULL) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		cJSON_DeleteItemFromObjectCaseSensitive(ctx, "actor");
		add_str(ctx, "actor", jstr(payload, "actor") != NULL ?
		    jstr(payload, "actor") : ev->actor);
		rc = queue_one(&q, st, cfg, name, run, ctx, err);
		nq += q;
		goto out;
	}
	cJSON_ArrayForEach(f, cfg->flows) {
		if (!is_active(f))
			continue;
		kind = trigger_of(f, &spec);
		if (!matches(kind, spec, cfg, ev, payload))
			continue;
		cJSON_Delete(ctx);
		ctx = make_ctx(f->string, run, kind, ev, payload, NULL);
		if (ctx == NULL) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		if (ev->ref != NULL && strncmp(ev->ref, "refs/heads/", 11) ==
		    0 && fg_pipeline_stage_for_branch(cfg, ev->ref) != NULL)
			add_str(ctx, "stage", fg_stage_name(
			    fg_pipeline_stage_for_branch(cfg, ev->ref)->id));
		rc = queue_one(&q, st, cfg, f->string, run, ctx, err);
		if (rc < 0)
			goto out;
		nq += q;
	}
	switch (ev->kind) {
	case FG_EVENT_REVIEW_APPROVED:
	case FG_EVENT_REVIEW_CHANGES_REQUESTED:
	case FG_EVENT_REVIEW_DISMISSED:
	case FG_EVENT_REVIEW_COMMENTED:
	case FG_EVENT_PR_SYNCHRONIZED:
	case FG_EVENT_PR_OPENED:
	case FG_EVENT_PR_REOPENED:
		rc = queue_approved(&nq, st, cfg, ev, payload, err);
		break;
	default:
		break;
	}
out:
	if (nqueued != NULL)
		*nqueued = nq;
	cJSON_Delete(ctx);
	cJSON_Delete(inputs);
	return rc;
}

/* When the newest scheduled run of flow was recorded, or 0. */
static int64_t
last_tick(struct fg_store *st, const char *flow)
{
	struct fg_store_query q;
	struct fg_store_iter *it = NULL;
	const struct fg_store_entry *e = NULL;
	const char *v;
	char ref[128];
	int64_t t = 0;

	runs_ref(ref, sizeof(ref), flow);
	memset(&q, 0, sizeof(q));
	q.limit = FG_FLOWEXEC_SCAN_MAX;
	if (fg_store_iter_new(&it, st, ref, &q, NULL) < 0)
		return 0;
	while (fg_store_iter_next(&e, it, NULL) == 0 && e != NULL) {
		v = fg_store_entry_get(e, "Flowgate-Run");
		if (v != NULL && strncmp(v, "tick-", 5) == 0) {
			t = e->time;
			break;
		}
	}
	fg_store_iter_free(it);
	return t;
}

int
fg_flowexec_tick(size_t *nqueued, struct fg_store *st,
    const struct fg_config *cfg, int64_t now, struct fg_err *err)
{
	const cJSON *f, *spec;
	struct fg_cron *c = NULL;
	git_commit *cm = NULL;
	git_oid cid;
	cJSON *ctx = NULL;
	char run[FG_FLOWRUN_ID_MAX + 1], when[32];
	int64_t last, tick, next, since = now;
	bool due, q;
	size_t nq = 0;
	int rc = 0;

	if (cfg->flows == NULL)
		goto out;
	/* A flow that never ran counts from its config's commit. */
	if (fg_store_tip(&cid, st, FG_CONFIG_REF, NULL) == 0 &&
	    git_commit_lookup(&cm, fg_store_repo(st), &cid) == 0)
		since = git_commit_time(cm);
	git_commit_free(cm);
	cJSON_ArrayForEach(f, cfg->flows) {
		if (!is_active(f) || strcmp(trigger_of(f, &spec), "schedule")
		    != 0)
			continue;
		fg_cron_free(c);
		c = NULL;
		if (fg_cron_parse(&c, jstr(spec, "cron"), jstr(spec, "tz"),
		    NULL) < 0)
			continue;
		last = last_tick(st, f->string);
		if (last == 0)
			last = since;
		if (fg_cron_due(&due, &tick, c, last, now) < 0 || !due)
			continue;
		/* Missed ticks run once, named after the latest of them. */
		while (fg_cron_next(&next, c, tick) == 0 && next <= now)
			tick = next;
		fg_format_utc(when, sizeof(when), tick);
		/* 2026-01-31T02:00:00Z -> tick-20260131T0200Z */
		snprintf(run, sizeof(run), "tick-%.4s%.2s%.2sT%.2s%.2sZ",
		    when, when + 5, when + 8, when + 11, when + 14);
		cJSON_Delete(ctx);
		ctx = make_ctx(f->string, run, "schedule", NULL, NULL, NULL);
		if (ctx == NULL) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		cJSON_AddStringToObject(ctx, "tick", when);
		rc = queue_one(&q, st, cfg, f->string, run, ctx, err);
		if (rc < 0)
			goto out;
		nq += q;
	}
out:
	if (nqueued != NULL)
		*nqueued = nq;
	fg_cron_free(c);
	cJSON_Delete(ctx);
	return rc;
}

/* ---- promotion and deployment triggers ---- */

static bool
list_has(const cJSON *list, const char *v, const char *dflt1,
    const char *dflt2)
{
	const cJSON *e;

	if (list == NULL)
		return v != NULL && ((dflt1 != NULL && strcmp(v, dflt1) == 0) ||
		    (dflt2 != NULL && strcmp(v, dflt2) == 0));
	cJSON_ArrayForEach(e, list)
		if (cJSON_IsString(e) && v != NULL &&
		    strcmp(e->valuestring, v) == 0)
			return true;
	return false;
}

/* Queue the flows one activity record (entry e) triggers. */
static int
fire_activity(size_t *nq, struct fg_store *st, const struct fg_config *cfg,
    const struct fg_store_entry *e, struct fg_err *err)
{
	const char *kind = fg_store_entry_get(e, "Flowgate-Kind");
	const char *step = fg_store_entry_get(e, "Flowgate-Step");
	const char *status = fg_store_entry_get(e, "Flowgate-Status");
	const char *stage = fg_store_entry_get(e, "Flowgate-Stage");
	const char *env = fg_store_entry_get(e, "Flowgate-Env");
	const char *commit = fg_store_entry_get(e, "Flowgate-Commit");
	const char *want, *result = NULL, *old;
	const cJSON *f, *spec;
	cJSON *ctx = NULL, *rec = NULL;
	char run[FG_FLOWRUN_ID_MAX + 1], hex[GIT_OID_HEXSZ + 1];
	bool promo, q;
	int rc = 0;

	if (kind == NULL || status == NULL)
		return 0;
	promo = strcmp(kind, "promote") == 0 && step != NULL &&
	    strcmp(step, "summary") == 0;
	if (!promo && strcmp(kind, "deploy") != 0)
		return 0;
	if (promo) {
		if (strcmp(status, "checked") == 0)
			return 0;	/* a dry run */
		result = strcmp(status, "promoted") == 0 ? "succeeded" :
		    "failed";
	}
	git_oid_tostr(hex, sizeof(hex), &e->id);
	snprintf(run, sizeof(run), "a-%s", hex);
	cJSON_ArrayForEach(f, cfg->flows) {
		if (!is_active(f))
			continue;
		want = trigger_of(f, &spec);
		if (promo && strcmp(want, "promotion") == 0) {
			if (jstr(spec, "stage") != NULL && (stage == NULL ||
			    strcmp(jstr(spec, "stage"), stage) != 0))
				continue;
			if (!list_has(cJSON_GetObjectItemCaseSensitive(spec,
			    "result"), result, "succeeded", "failed"))
				continue;
		} else if (!promo && strcmp(want, "deployment") == 0) {
			if (jstr(spec, "env") != NULL && (env == NULL ||
			    strcmp(jstr(spec, "env"), env) != 0))
				continue;
			if (!list_has(cJSON_GetObjectItemCaseSensitive(spec,
			    "status"), status, "succeeded", "failed"))
				continue;
		} else {
			continue;
		}
		cJSON_Delete(ctx);
		ctx = make_ctx(f->string, run, promo ? "promotion" :
		    "deployment", NULL, NULL, NULL);
		if (ctx == NULL)
			return fg_err_set(err, FG_ENOMEM, "out of memory");
		add_str(ctx, "commit", commit);
		add_str(ctx, "stage", stage);
		add_str(ctx, "env", env);
		add_str(ctx, "status", promo ? result : status);
		add_str(ctx, "actor", e->author_name);
		add_str(ctx, "record", hex);
		if (promo && rec == NULL)
			read_json_at(&rec, st, &e->id, "record.json", NULL);
		old = jstr(cJSON_GetObjectItemCaseSensitive(rec, "data"),
		    "old_tip");
		if (promo)
			add_str(ctx, "before", old);
		if (rec != NULL)
			cJSON_AddItemToObject(ctx, "event", cJSON_Duplicate(
			    cJSON_GetObjectItemCaseSensitive(rec, "data"), 1));
		rc = queue_one(&q, st, cfg, f->string, run, ctx, err);
		if (rc < 0)
			break;
		*nq += q;
	}
	cJSON_Delete(ctx);
	cJSON_Delete(rec);
	return rc;
}

int
fg_flowexec_scan_activity(size_t *nqueued, struct fg_store *st,
    const struct fg_config *cfg, struct fg_err *err)
{
	const struct fg_store_entry *e = NULL;
	struct fg_store_iter *it = NULL;
	struct fg_store_query q;
	git_oid tip, seen, cid;
	git_commit *cm = NULL;
	int64_t since = INT64_MAX;
	size_t nq = 0;
	bool have_seen;
	int rc = 0;

	if (nqueued != NULL)
		*nqueued = 0;
	if (fg_store_tip(&tip, st, ACTIVITY_REF, NULL) < 0)
		return 0;
	have_seen = fg_store_tip(&seen, st, FG_FLOWEXEC_SEEN_REF, NULL) == 0;
	if (have_seen && git_oid_equal(&seen, &tip))
		return 0;
	/* The first time, only what happened since the config was
	 * committed: history never fires. */
	if (!have_seen && fg_store_tip(&cid, st, FG_CONFIG_REF, NULL) == 0 &&
	    git_commit_lookup(&cm, fg_store_repo(st), &cid) == 0)
		since = git_commit_time(cm);
	git_commit_free(cm);
	if (cfg->flows != NULL) {
		/* Newest first; each record fires on its own, once. */
		memset(&q, 0, sizeof(q));
		q.limit = FG_FLOWEXEC_SCAN_MAX;
		rc = fg_store_iter_new(&it, st, ACTIVITY_REF, &q, err);
		while (rc == 0 && fg_store_iter_next(&e, it, NULL) == 0 &&
		    e != NULL && (have_seen ? !git_oid_equal(&e->id, &seen) :
		    e->time >= since))
			rc = fire_activity(&nq, st, cfg, e, err);
		fg_store_iter_free(it);
		if (rc < 0)
			goto out;
	}
	rc = fg_store_ref_cas(st, FG_FLOWEXEC_SEEN_REF, have_seen ? &seen :
	    NULL, &tip, err);
	if (rc == FG_ECONFLICT)
		rc = 0;		/* another scanner moved it first */
out:
	if (nqueued != NULL)
		*nqueued = nq;
	return rc;
}

/* ---- pending runs ---- */

static bool
seen_has(char **seen, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(seen[i], s) == 0)
			return true;
	return false;
}

int
fg_flowexec_pending(struct fg_flowexec_ref **out, size_t *n,
    struct fg_store *st, struct fg_err *err)
{
	git_reference_iterator *ri = NULL;
	git_reference *ref = NULL;
	struct fg_store_query q;
	struct fg_store_iter *it = NULL;
	const struct fg_store_entry *e = NULL;
	struct fg_flowexec_ref *v = NULL, *nv;
	char **seen = NULL;
	size_t nv_n = 0, cap = 0, nseen = 0, first, i;
	const char *name, *run, *status;
	int rc = 0;

	*out = NULL;
	*n = 0;
	seen = calloc(FG_FLOWEXEC_SCAN_MAX, sizeof(*seen));
	if (seen == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	if (git_reference_iterator_glob_new(&ri, fg_store_repo(st),
	    FG_FLOWEXEC_RUNS_PREFIX "*") < 0) {
		rc = fg_err_git(err, FG_EIO, "cannot list the runs");
		goto out;
	}
	while (git_reference_next(&ref, ri) == 0) {
		name = git_reference_name(ref) + strlen(
		    FG_FLOWEXEC_RUNS_PREFIX);
		first = nv_n;
		memset(&q, 0, sizeof(q));
		q.limit = FG_FLOWEXEC_SCAN_MAX;
		if (strlen(name) >= sizeof(v->flow) || fg_store_iter_new(&it,
		    st, git_reference_name(ref), &q, NULL) < 0) {
			git_reference_free(ref);
			continue;
		}
		while (fg_store_iter_next(&e, it, NULL) == 0 && e != NULL) {
			run = fg_store_entry_get(e, "Flowgate-Run");
			status = fg_store_entry_get(e, "Flowgate-Status");
			if (run == NULL || strlen(run) > FG_FLOWRUN_ID_MAX ||
			    seen_has(seen, nseen, run) ||
			    nseen == FG_FLOWEXEC_SCAN_MAX)
				continue;
			seen[nseen] = fg_strdup(run);
			if (seen[nseen] == NULL)
				break;
			nseen++;
			if (status == NULL || strcmp(status, "running") != 0)
				continue;
			if (nv_n == cap) {
				cap = cap ? 2 * cap : 8;
				nv = realloc(v, cap * sizeof(*v));
				if (nv == NULL) {
					rc = fg_err_set(err, FG_ENOMEM,
					    "out of memory");
					fg_store_iter_free(it);
					git_reference_free(ref);
					goto out;
				}
				v = nv;
			}
			snprintf(v[nv_n].flow, sizeof(v[nv_n].flow), "%s",
			    name);
			snprintf(v[nv_n].run, sizeof(v[nv_n].run), "%s", run);
			nv_n++;
		}
		fg_store_iter_free(it);
		it = NULL;
		/* Oldest first within the flow. */
		for (i = 0; i < (nv_n - first) / 2; i++) {
			struct fg_flowexec_ref t = v[first + i];

			v[first + i] = v[nv_n - 1 - i];
			v[nv_n - 1 - i] = t;
		}
		for (i = 0; i < nseen; i++)
			free(seen[i]);
		nseen = 0;
		git_reference_free(ref);
	}
	*out = v;
	*n = nv_n;
	v = NULL;
out:
	for (i = 0; i < nseen; i++)
		free(seen[i]);
	free(seen);
	free(v);
	git_reference_iterator_free(ri);
	return rc;
}

/* ---- execution ---- */

struct exec;

struct job {
	struct exec *x;
	size_t i;
	pthread_t th;
	bool started, done, ok;
	char reason[FG_FLOWRUN_REASON_MAX];
	struct fg_buf log;
	struct fg_err err;
	cJSON *steps;			/* snapshot of finished steps */
	struct fg_flowstep_job sj;
};

struct exec {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job **jobs;		/* parallel to plan->steps */
};

static void *
job_main(void *arg)
{
	struct job *j = arg;
	bool ok = false;

	fg_flowstep_exec(&ok, j->reason, sizeof(j->reason), &j->log, &j->sj,
	    &j->err);
	pthread_mutex_lock(&j->x->mu);
	j->ok = ok;
	j->done = true;
	pthread_cond_broadcast(&j->x->cv);
	pthread_mutex_unlock(&j->x->mu);
	return NULL;
}

static void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	fg_buf_release(&j->log);
	cJSON_Delete(j->steps);
	free(j);
}

/* {"id": {"status", "attempts"}} of the finished steps of r. */
static cJSON *
steps_json(const struct fg_flowrun *r)
{
	cJSON *o = cJSON_CreateObject(), *s;
	size_t i;

	for (i = 0; o != NULL && i < r->plan->nsteps; i++) {
		enum fg_step_state st = r->steps[i].state;

		if (st != FG_STEP_SUCCEEDED && st != FG_STEP_FAILED &&
		    st != FG_STEP_SKIPPED)
			continue;
		s = cJSON_AddObjectToObject(o, r->plan->steps[i].id);
		if (s == NULL)
			continue;
		cJSON_AddStringToObject(s, "status", fg_step_state_name(st));
		cJSON_AddNumberToObject(s, "attempts", r->steps[i].attempts);
	}
	return o;
}

static int64_t
now_of(const struct fg_flowexec_opts *o)
{
	return o->now != NULL ? o->now() : fg_now();
}

/* Record the steps advance() skipped since the last look (was[]). */
static int
record_skips(struct fg_store *st, const struct fg_flowrun *r,
    const cJSON *ctx, enum fg_step_state *was, struct fg_err *err)
{
	char subject[400];
	size_t i;
	int rc;

	for (i = 0; i < r->plan->nsteps; i++) {
		if (r->steps[i].state == FG_STEP_SKIPPED &&
		    was[i] != FG_STEP_SKIPPED) {
			snprintf(subject, sizeof(subject), "flow %s: step %s "
			    "skipped: %s", r->plan->name, r->plan->steps[i].id,
			    r->steps[i].reason != NULL ? r->steps[i].reason :
			    "");
			rc = record_run(st, r, ctx, subject,
			    r->plan->steps[i].id, "skipped", NULL, err);
			if (rc < 0)
				return rc;
		}
		was[i] = r->steps[i].state;
	}
	return 0;
}

/* Mark a run whose flow changed (or vanished) as failed, on its JSON. */
static int
fail_changed(struct fg_store *st, const char *flow, cJSON *runj,
    const cJSON *ctx, const char *why, struct fg_err *err)
{
	char t[32], subject[300];

	fg_format_utc(t, sizeof(t), fg_now());
	cJSON_DeleteItemFromObjectCaseSensitive(runj, "status");
	cJSON_AddStringToObject(runj, "status", "failed");
	cJSON_DeleteItemFromObjectCaseSensitive(runj, "finished");
	cJSON_AddStringToObject(runj, "finished", t);
	snprintf(subject, sizeof(subject), "flow %s: run %s failed: %s", flow,
	    jstr(runj, "run") != NULL ? jstr(runj, "run") : "?", why);
	return record(st, flow, runj, ctx, subject, NULL, NULL, NULL, err);
}


int
fg_flowexec_execute(char status[16], struct fg_store *st,
    const struct fg_config *cfg, const char *flow, const char *run,
    const struct fg_flowexec_opts *opts, struct fg_err *err)
{
	const cJSON *fj = cfg->flows != NULL ?
	    cJSON_GetObjectItemCaseSensitive(cfg->flows, flow) : NULL;
	struct fg_flowplan *plan = NULL;
	struct fg_flowrun *r = NULL;
	struct exec x;
	cJSON *runj = NULL, *ctx = NULL, *runvals = NULL;
	enum fg_step_state *was = NULL;
	size_t *ready = NULL, nready, i, running = 0;
	char subject[500];
	bool recovered = false;
	int64_t wake, now;
	git_oid c;
	int rc;

	snprintf(status, 16, "running");
	memset(&x, 0, sizeof(x));
	pthread_mutex_init(&x.mu, NULL);
	pthread_cond_init(&x.cv, NULL);
	rc = find_run(&c, st, flow, run);
	if (rc < 0) {
		rc = fg_err_set(err, FG_ENOTFOUND, "no run '%s' of flow '%s'",
		    run, flow);
		goto out;
	}
	rc = read_json_at(&runj, st, &c, "run.json", err);
	if (rc == 0)
		rc = read_json_at(&ctx, st, &c, "context.json", err);
	if (rc < 0)
		goto out;
	if (jstr(runj, "status") != NULL && strcmp(jstr(runj, "status"),
	    "running") != 0) {
		snprintf(status, 16, "%s", jstr(runj, "status"));
		goto out;
	}
	if (fj == NULL) {
		fail_changed(st, flow, runj, ctx, "the flow is no longer in "
		    "flows.yaml", NULL);
		snprintf(status, 16, "failed");
		rc = fg_err_set(err, FG_ENOTFOUND, "no flow '%s'", flow);
		goto out;
	}
	rc = fg_flowplan_new(&plan, flow, fj, NULL, NULL, err);
	if (rc == 0)
		rc = fg_flowrun_from_json(&r, plan, runj, err);
	if (rc == FG_ECONFLICT) {
		fail_changed(st, flow, runj, ctx, "the flow changed since it "
		    "started", NULL);
		snprintf(status, 16, "failed");
		goto out;
	}
	if (rc < 0)
		goto out;
	/* What steps read as run.*: the context, and where the repository
	 * is (not recorded: it is this machine's business). */
	runvals = cJSON_Duplicate(ctx, 1);
	if (runvals == NULL || (opts->repo_path != NULL &&
	    cJSON_AddStringToObject(runvals, "git_dir", opts->repo_path) ==
	    NULL)) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	was = calloc(plan->nsteps, sizeof(*was));
	ready = calloc(plan->nsteps, sizeof(*ready));
	x.jobs = calloc(plan->nsteps, sizeof(*x.jobs));
	if (was == NULL || ready == NULL || x.jobs == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < plan->nsteps; i++) {
		was[i] = r->steps[i].state;
		if (r->steps[i].state == FG_STEP_RUNNING)
			recovered = true;
	}
	if (recovered) {
		fg_flowrun_recover(r, now_of(opts));
		snprintf(subject, sizeof(subject), "flow %s: run %s resumed: "
		    "steps cut off by a restart count as failed attempts",
		    flow, run);
		rc = record_run(st, r, ctx, subject, NULL, NULL, NULL, err);
		if (rc < 0)
			goto out;
		for (i = 0; i < plan->nsteps; i++)
			was[i] = r->steps[i].state;
	}
	for (;;) {
		now = now_of(opts);
		if (opts->stop == NULL || *opts->stop == 0) {
			rc = fg_flowrun_advance(r, now, cJSON_GetObjectItem(ctx,
			    "event"), cJSON_GetObjectItem(ctx, "inputs"), ready,
			    &nready, err);
			if (rc < 0)
				goto out;
			rc = record_skips(st, r, ctx, was, err);
			if (rc < 0)
				goto out;
		} else {
			nready = 0;
		}
		for (i = 0; i < nready; i++) {
			size_t k = ready[i];
			const struct fg_flowstep *fs = &plan->steps[k];
			struct job *j = calloc(1, sizeof(*j));

			if (j == NULL) {
				rc = fg_err_set(err, FG_ENOMEM,
				    "out of memory");
				goto out;
			}
			fg_buf_init(&j->log);
			j->x = &x;
			j->i = k;
			j->steps = steps_json(r);
			j->sj.repo_path = opts->repo_path;
			j->sj.repo_name = opts->repo_name;
			j->sj.httpc = opts->httpc;
			j->sj.cfg = cfg;
			j->sj.flow = flow;
			j->sj.run = run;
			j->sj.step_id = fs->id;
			j->sj.action = fs->action;
			j->sj.spec = cJSON_GetObjectItemCaseSensitive(fs->json,
			    fs->action);
			j->sj.timeout = fs->timeout;
			j->sj.vals.event = cJSON_GetObjectItem(ctx, "event");
			j->sj.vals.inputs = cJSON_GetObjectItem(ctx, "inputs");
			j->sj.vals.steps = j->steps;
			j->sj.vals.run = runvals;
			rc = fg_flowrun_start(r, k, now, err);
			if (rc == 0) {
				snprintf(subject, sizeof(subject), "flow %s: "
				    "step %s started (attempt %d)", flow,
				    fs->id, r->steps[k].attempts);
				rc = record_run(st, r, ctx, subject, fs->id,
				    "running", NULL, err);
			}
			if (rc < 0) {
				job_free(j);
				goto out;
			}
			was[k] = r->steps[k].state;
			x.jobs[k] = j;
			if (pthread_create(&j->th, NULL, job_main, j) != 0) {
				j->done = true;
				snprintf(j->reason, sizeof(j->reason), "cannot "
				    "start a thread");
			} else {
				j->started = true;
			}
			running++;
		}
		if (running == 0) {
			if (fg_flowrun_is_finished(r)) {
				snprintf(status, 16, "%s",
				    fg_flowrun_status_name(r->status));
				snprintf(subject, sizeof(subject), "flow %s: "
				    "run %s %s", flow, run, status);
				rc = record_run(st, r, ctx, subject, NULL, NULL,
				    NULL, err);
				fg_log_info("event=flow_finished flow=%s run=%s "
				    "status=%s", flow, run, status);
				goto out;
			}
			if ((opts->stop != NULL && *opts->stop != 0) ||
			    !fg_flowrun_wakeup(r, &wake))
				goto out;	/* stopped: resumes later */
			/* A retry is due later: wait for it a second at a
			 * time, so a stop is noticed. */
			if (wake > now)
				sleep(1);
			continue;
		}
		pthread_mutex_lock(&x.mu);
		for (;;) {
			bool any = false;

			for (i = 0; i < plan->nsteps; i++)
				if (x.jobs[i] != NULL && x.jobs[i]->done)
					any = true;
			if (any)
				break;
			pthread_cond_wait(&x.cv, &x.mu);
		}
		pthread_mutex_unlock(&x.mu);
		for (i = 0; i < plan->nsteps; i++) {
			struct job *j = x.jobs[i];
			bool ok;

			pthread_mutex_lock(&x.mu);
			ok = j != NULL && j->done;
			pthread_mutex_unlock(&x.mu);
			if (!ok)
				continue;
			if (j->started)
				pthread_join(j->th, NULL);
			x.jobs[i] = NULL;
			running--;
			now = now_of(opts);
			rc = fg_flowrun_finish(r, i, j->ok, j->ok ? NULL :
			    j->reason, now, err);
			if (rc == 0) {
				const char *sn = fg_step_state_name(
				    r->steps[i].state);

				snprintf(subject, sizeof(subject), "flow %s: "
				    "step %s %s%s%s", flow, plan->steps[i].id,
				    j->ok ? "succeeded" : r->steps[i].state ==
				    FG_STEP_WAITING ? "failed, will retry" :
				    "failed", j->ok ? "" : ": ", j->ok ? "" :
				    j->reason);
				rc = record_run(st, r, ctx, subject,
				    plan->steps[i].id, sn, j->log.ptr, err);
			}
			was[i] = r->steps[i].state;
			job_free(j);
			if (rc < 0)
				goto out;
			if (opts->on_step != NULL)
				opts->on_step(plan->steps[i].action,
				    opts->payload);
		}
	}
out:
	/* Never leave a step thread behind: wait for the ones running. */
	for (i = 0; x.jobs != NULL && plan != NULL && i < plan->nsteps; i++) {
		if (x.jobs[i] != NULL) {
			if (x.jobs[i]->started)
				pthread_join(x.jobs[i]->th, NULL);
			job_free(x.jobs[i]);
		}
	}
	free(x.jobs);
	free(was);
	free(ready);
	pthread_mutex_destroy(&x.mu);
	pthread_cond_destroy(&x.cv);
	fg_flowrun_free(r);
	fg_flowplan_free(plan);
	cJSON_Delete(runj);
	cJSON_Delete(ctx);
	cJSON_Delete(runvals);
	return rc;
}

/* ---- manual runs ---- */

int
fg_flowexec_check_request(cJSON **out, const struct fg_config *cfg,
    const char *flow, const cJSON *inputs, struct fg_err *err)
{
	const cJSON *fj = cfg->flows != NULL ?
	    cJSON_GetObjectItemCaseSensitive(cfg->flows, flow) : NULL;
	const cJSON *spec, *decl, *d, *g;
	const char *type;
	cJSON *res = NULL, *v;
	long long n;
	int rc = 0;

	*out = NULL;
	if (fj == NULL)
		return fg_err_set(err, FG_ENOTFOUND, "no flow '%s'", flow);
	if (strcmp(trigger_of(fj, &spec), "manual") != 0)
		return fg_err_set(err, FG_EINVALID, "flow '%s' has no manual "
		    "trigger: it runs on %s", flow, trigger_of(fj, &spec));
	if (inputs != NULL && !cJSON_IsObject(inputs))
		return fg_err_set(err, FG_EINVALID, "inputs must be an object");
	decl = cJSON_GetObjectItemCaseSensitive(spec, "inputs");
	cJSON_ArrayForEach(g, inputs)
		if (cJSON_GetObjectItemCaseSensitive(decl, g->string) == NULL)
			return fg_err_set(err, FG_EINVALID, "unknown input "
			    "'%s' of flow '%s'", g->string, flow);
	res = cJSON_CreateObject();
	if (res == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	cJSON_ArrayForEach(d, decl) {
		g = cJSON_GetObjectItemCaseSensitive(inputs, d->string);
		type = jstr(d, "type") != NULL ? jstr(d, "type") : "string";
		if (g == NULL)
			g = cJSON_GetObjectItemCaseSensitive(d, "default");
		if (g == NULL) {
			if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d,
			    "required"))) {
				rc = fg_err_set(err, FG_EINVALID, "input '%s' "
				    "is required", d->string);
				goto out;
			}
			continue;
		}
		v = NULL;
		if (strcmp(type, "string") == 0 && cJSON_IsString(g))
			v = cJSON_CreateString(g->valuestring);
		else if (strcmp(type, "number") == 0 && cJSON_IsNumber(g))
			v = cJSON_CreateNumber(g->valuedouble);
		else if (strcmp(type, "number") == 0 && cJSON_IsString(g) &&
		    fg_parse_int(&n, g->valuestring, -(1LL << 53), 1LL << 53,
		    NULL) == 0)
			v = cJSON_CreateNumber((double)n);
		else if (strcmp(type, "boolean") == 0 && cJSON_IsBool(g))
			v = cJSON_CreateBool(cJSON_IsTrue(g));
		else if (strcmp(type, "boolean") == 0 && cJSON_IsString(g) &&
		    (strcmp(g->valuestring, "true") == 0 ||
		    strcmp(g->valuestring, "false") == 0))
			v = cJSON_CreateBool(strcmp(g->valuestring, "true") ==
			    0);
		else {
			rc = fg_err_set(err, FG_EINVALID, "input '%s' must be "
			    "a %s", d->string, type);
			goto out;
		}
		if (v == NULL) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		cJSON_AddItemToObject(res, d->string, v);
	}
	*out = res;
	res = NULL;
out:
	cJSON_Delete(res);
	return rc;
}

int
fg_flowexec_request(char *run_id, size_t size, struct fg_store *st,
    const char *repo_path, const struct fg_config *cfg, const char *flow,
    const cJSON *inputs, const char *actor, struct fg_err *err)
{
	struct fg_event ev;
	struct fg_record rec;
	struct fg_file files[2];
	unsigned char rnd[12];
	char id[64], *etext = NULL, *ptext = NULL, subject[300];
	cJSON *checked = NULL, *evj = NULL, *payload = NULL;
	git_oid oid;
	size_t i;
	int rc;

	fg_event_init(&ev);
	rc = fg_flowexec_check_request(&checked, cfg, flow, inputs, err);
	if (rc < 0)
		goto out;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		rc = fg_err_set(err, FG_EIO, "no randomness for a run id");
		goto out;
	}
	memcpy(id, "cli-", 5);
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(id + 4 + 2 * i, 3, "%02x", rnd[i]);
	ev.source = FG_FORGE_CLI;
	ev.kind = FG_EVENT_IGNORED;
	ev.time = fg_now();
	rc = fg_event_set(&ev, FG_EVENT_F_EVENT, FG_FLOWEXEC_REQUEST_EVENT,
	    err);
	if (rc == 0 && actor != NULL)
		rc = fg_event_set(&ev, FG_EVENT_F_ACTOR, actor, err);
	if (rc == 0)
		rc = fg_event_set_delivery(&ev, id, err);
	if (rc == 0)
		rc = fg_event_to_json(&evj, &ev, err);
	if (rc < 0)
		goto out;
	payload = cJSON_CreateObject();
	if (payload == NULL || cJSON_AddStringToObject(payload, "flow", flow) ==
	    NULL || (actor != NULL && cJSON_AddStringToObject(payload, "actor",
	    actor) == NULL)) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	cJSON_AddItemToObject(payload, "inputs", checked);
	checked = NULL;
	etext = cJSON_PrintUnformatted(evj);
	ptext = cJSON_PrintUnformatted(payload);
	if (etext == NULL || ptext == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	files[0].name = "event.json";
	files[0].data = etext;
	files[0].len = strlen(etext);
	files[1].name = "payload";
	files[1].data = ptext;
	files[1].len = strlen(ptext);
	snprintf(subject, sizeof(subject), "cli flow run request by %s: %s",
	    actor != NULL ? actor : "?", flow);
	memset(&rec, 0, sizeof(rec));
	rec.kind = "delivery";
	rec.subject = subject;
	rec.delivery = id;
	rec.event = "ignored";
	rec.actor_name = actor;
	rec.time = ev.time;
	rec.files = files;
	rec.nfiles = 2;
	rec.no_record_json = true;
	rc = fg_store_append(&oid, st, INBOX_REF, &rec, err);
	if (rc < 0)
		goto out;
	fg_hook_wake(repo_path);
	fg_flowexec_run_id(run_id, size, id);
out:
	fg_event_release(&ev);
	cJSON_Delete(checked);
	cJSON_Delete(evj);
	cJSON_Delete(payload);
	cJSON_free(etext);
	cJSON_free(ptext);
	return rc;
}
