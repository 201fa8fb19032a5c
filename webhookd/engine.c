/*
 * engine.c - processing inbox deliveries (see engine.h).
 *
 * One call processes the oldest max inbox commits after inbox-done:
 *   1. for each delivery, oldest first: its pull request state
 *      (refs/flowgate/pulls/<n>) and its status note, each skipped when
 *      already written for this delivery (the pull's tip carries the
 *      delivery id; a note merge that changes nothing writes nothing);
 *   2. one activity record per delivery not yet in the activity log
 *      (looked up only when the activity tip is not the one this
 *      handle's last append left), appended as one batch, which rolls
 *      packs up when they piled up (PACKS_IDLE_MAX);
 *   3. promotions and rollbacks asked through the API (api_promote.c)
 *      run, each once (its run id is its delivery id); then, for the
 *      continuous template, staging's deployed commit is promoted to
 *      production if production's gates now pass;
 *   4. inbox-done moves to the last processed commit.
 * A crash anywhere repeats at most the current batch, and the checks in
 * 1 and 2 make the repetition write nothing twice.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "config.h"
#include "deploy.h"
#include "engine.h"
#include "event.h"
#include "flowexec.h"
#include "flows.h"
#include "log.h"
#include "pack.h"
#include "pipeline.h"
#include "promote.h"
#include "pull.h"
#include "store.h"
#include "util.h"
#include "banned.h"

#define INBOX_REF "refs/flowgate/inbox"
#define DONE_REF "refs/flowgate/inbox-done"
#define ACTIVITY_REF "refs/flowgate/activity"

/* One delivery being processed. */
struct item {
	git_oid commit;
	struct fg_event ev;
	bool parsed;
	char subject[256];
	char status[32];
	char state[16];			/* the pull's, after this event */
	char head[FG_OID_HEXSZ + 1];
	bool grouped;			/* its pull request is done */
	cJSON *data;
	cJSON *request;			/* api_promote, api_rollback: the
					   request (payload) */
};

/* Activity records looked at to tell whether a request already ran. */
#define RAN_SCAN_MAX 1000

/*
 * Drains a store handle serves before it is opened afresh.  libgit2 keeps
 * the packs it mapped even after roll-ups deleted them (see store.h): a
 * handle kept over 16 drains of a backlog cost 9 MB more resident memory
 * under load, and opening one costs about 1 us per delivery.
 */
#define STORE_REOPEN_DRAINS 1
/*
 * The engine's appends do not roll packs up each time (the intake writes
 * one pack per group commit, many a second, and every append would merge
 * them again).  Only a drain's activity append does (the store's own
 * bounded roll-up, loose objects included), and only when there are more
 * than PACKS_IDLE_MAX packs and the drain empties the backlog, or more
 * than PACKS_BUSY_MAX while a backlog lasts: many packs merged at once,
 * each object copied fewer times.  It comes before inbox-done moves, so
 * whoever waits for the engine finds the packs settled.
 */
#define PACKS_IDLE_MAX 16
#define PACKS_BUSY_MAX 64

static const char *
source_name(const struct fg_event *ev)
{
	return fg_forge_name(ev->source);
}

static void
utc(char out[32], int64_t t)
{
	fg_format_utc(out, 32, t != 0 ? t : fg_now());
}

static bool
is_pull_kind(enum fg_event_kind k)
{
	return k >= FG_EVENT_PR_OPENED && k <= FG_EVENT_REVIEW_DISMISSED;
}

static bool
is_status_kind(enum fg_event_kind k)
{
	return k == FG_EVENT_STATUS || k == FG_EVENT_CHECK_RUN ||
	    k == FG_EVENT_CHECK_SUITE;
}

static void
set_str(cJSON *o, const char *key, const char *value)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, key);
	if (value != NULL && *value != '\0')
		cJSON_AddStringToObject(o, key, value);
	else
		cJSON_AddNullToObject(o, key);	/* the note merge drops it */
}

static const char *
str_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The delivery id on the tip of ref, into out ("" when none). */
static void
tip_delivery(char *out, size_t size, struct fg_store *st, const char *ref)
{
	struct fg_store_query q;
	const struct fg_store_entry *e = NULL;
	struct fg_store_iter *it = NULL;
	const char *v;

	out[0] = '\0';
	memset(&q, 0, sizeof(q));
	q.limit = 1;
	if (fg_store_iter_new(&it, st, ref, &q, NULL) == 0 &&
	    fg_store_iter_next(&e, it, NULL) == 0 && e != NULL) {
		v = fg_store_entry_get(e, "Flowgate-Delivery");
		if (v != NULL)
			snprintf(out, size, "%s", v);
	}
	fg_store_iter_free(it);
}

/*
 * The pull request events of one batch for one pull request (v, n of
 * them, in order): each becomes a commit on refs/flowgate/pulls/<n> with
 * the state after it, all appended with one ref update.  Events up to the
 * one the tip already records (a batch repeated after a crash) are
 * skipped.
 */
static int
update_pull(struct fg_store *st, struct item **v, size_t n,
    struct fg_err *err)
{
	struct fg_buf cur = FG_BUF_INIT;
	struct fg_record *recs = NULL;
	struct fg_file *files = NULL;
	char **texts = NULL;
	char ref[64], last[FG_EVENT_DELIVERY_MAX + 1];
	cJSON *pull = NULL;
	size_t i, first = 0, m = 0;
	int rc;

	snprintf(ref, sizeof(ref), "refs/flowgate/pulls/%lld",
	    (long long)v[0]->ev.pr_number);
	tip_delivery(last, sizeof(last), st, ref);
	for (i = 0; i < n; i++)
		if (v[i]->ev.delivery != NULL &&
		    strcmp(last, v[i]->ev.delivery) == 0)
			first = i + 1;	/* written before a crash */
	if (first == n)
		return 0;
	rc = fg_store_read_file(&cur, st, ref, "pull.json", err);
	if (rc == 0)
		rc = fg_json_parse(&pull, cur.ptr, cur.len, NULL);
	if (rc < 0 || !cJSON_IsObject(pull)) {
		cJSON_Delete(pull);
		pull = cJSON_CreateObject();
	}
	fg_buf_release(&cur);
	recs = calloc(n, sizeof(*recs));
	files = calloc(n, sizeof(*files));
	texts = calloc(n, sizeof(*texts));
	if (pull == NULL || recs == NULL || files == NULL || texts == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	for (i = first; i < n; i++, m++) {
		const struct fg_event *ev = &v[i]->ev;
		const cJSON *head;

		fg_pull_apply(pull, ev);
		texts[m] = cJSON_Print(pull);
		if (texts[m] == NULL) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		head = cJSON_GetObjectItemCaseSensitive(pull, "head");
		files[m].name = "pull.json";
		files[m].data = texts[m];
		files[m].len = strlen(texts[m]);
		recs[m].kind = "pull";
		recs[m].subject = v[i]->subject;
		recs[m].delivery = ev->delivery;
		recs[m].event = fg_event_kind_name(ev->kind);
		/* Borrowed from pull, which later events change: copy. */
		snprintf(v[i]->state, sizeof(v[i]->state), "%s",
		    str_of(pull, "state"));
		snprintf(v[i]->head, sizeof(v[i]->head), "%s",
		    str_of(head, "sha"));
		recs[m].status = v[i]->state;
		recs[m].commit = v[i]->head;
		recs[m].actor_name = ev->actor;
		recs[m].time = ev->time;
		recs[m].files = &files[m];
		recs[m].nfiles = 1;
		recs[m].no_record_json = true;
	}
	rc = fg_store_append_batch(NULL, st, ref, recs, m, err);
out:
	for (i = 0; texts != NULL && i < n; i++)
		cJSON_free(texts[i]);
	free(texts);
	free(files);
	free(recs);
	cJSON_Delete(pull);
	return rc;
}

/* Every pull request of the batch, each with one append. */
static int
update_pulls(struct fg_store *st, struct item *items, size_t n,
    struct fg_err *err)
{
	struct item **group;
	size_t i, j, m;
	int rc = 0;

	group = calloc(n > 0 ? n : 1, sizeof(*group));
	if (group == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	for (i = 0; i < n && rc == 0; i++) {
		if (!items[i].parsed || items[i].grouped ||
		    !is_pull_kind(items[i].ev.kind) ||
		    items[i].ev.pr_number <= 0)
			continue;
		m = 0;
		for (j = i; j < n; j++) {
			if (items[j].parsed && !items[j].grouped &&
			    is_pull_kind(items[j].ev.kind) &&
			    items[j].ev.pr_number == items[i].ev.pr_number) {
				items[j].grouped = true;
				group[m++] = &items[j];
			}
		}
		rc = update_pull(st, group, m, err);
	}
	free(group);
	return rc;
}

/*
 * The status's entry in the "statuses" key of the commit's note.  A
 * commit that is not in the repository (yet) gets no note; the activity
 * record says so.
 */
static int
update_note(struct fg_store *st, struct item *it, struct fg_err *err)
{
	const struct fg_event *ev = &it->ev;
	cJSON *note = NULL, *keys = NULL, *statuses, *entry;
	git_oid target;
	char t[32];
	int rc;

	if (git_oid_fromstr(&target, ev->sha) < 0 || ev->context == NULL)
		return 0;
	rc = fg_store_note_get(&note, st, &target, NULL);
	if (rc < 0)
		note = NULL;
	keys = cJSON_CreateObject();
	statuses = cJSON_GetObjectItemCaseSensitive(note, "statuses");
	statuses = cJSON_IsObject(statuses) ?
	    cJSON_Duplicate(statuses, 1) : cJSON_CreateObject();
	if (keys == NULL || statuses == NULL) {
		cJSON_Delete(statuses);
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	cJSON_AddItemToObject(keys, "statuses", statuses);
	cJSON_DeleteItemFromObjectCaseSensitive(statuses, ev->context);
	entry = cJSON_AddObjectToObject(statuses, ev->context);
	utc(t, ev->time);
	set_str(entry, "state", ev->state);
	set_str(entry, "description", ev->description);
	set_str(entry, "url", ev->target_url);
	set_str(entry, "time", t);
	set_str(entry, "actor", ev->actor);
	rc = fg_store_note_merge(st, &target, keys, ev->actor, NULL, err);
	if (rc == FG_ENOTFOUND) {
		snprintf(it->status, sizeof(it->status), "unknown-commit");
		rc = 0;
	}
out:
	cJSON_Delete(note);
	cJSON_Delete(keys);
	return rc;
}

/* A line a person reads in git log. */
static void
describe(struct item *it)
{
	const struct fg_event *ev = &it->ev;
	const char *kind = fg_event_kind_name(ev->kind);
	char shortsha[8] = "";

	switch (ev->kind) {
	case FG_EVENT_PUSH:
	case FG_EVENT_BRANCH_CREATED:
	case FG_EVENT_BRANCH_DELETED:
	case FG_EVENT_TAG_CREATED:
	case FG_EVENT_TAG_DELETED:
		snprintf(shortsha, sizeof(shortsha), "%.7s", ev->new_id);
		snprintf(it->subject, sizeof(it->subject), "%s %s: %s%s%s",
		    source_name(ev), kind, ev->ref != NULL ? ev->ref : "?",
		    shortsha[0] != '\0' ? " -> " : "", shortsha);
		break;
	case FG_EVENT_STATUS:
	case FG_EVENT_CHECK_RUN:
	case FG_EVENT_CHECK_SUITE:
		snprintf(it->subject, sizeof(it->subject), "%s %s: %.7s %s "
		    "%s", source_name(ev), kind, ev->sha,
		    ev->context != NULL ? ev->context : "?",
		    ev->state != NULL ? ev->state : "?");
		break;
	case FG_EVENT_JIRA_ISSUE:
		snprintf(it->subject, sizeof(it->subject), "jira %s: %s -> %s",
		    ev->jira_key != NULL ? ev->jira_key : "?",
		    ev->jira_from != NULL ? ev->jira_from : "?",
		    ev->jira_to != NULL ? ev->jira_to : "?");
		break;
	case FG_EVENT_PING:
		snprintf(it->subject, sizeof(it->subject), "%s ping: pong",
		    source_name(ev));
		break;
	case FG_EVENT_IGNORED:
		snprintf(it->subject, sizeof(it->subject), "%s %s%s%s: "
		    "ignored", source_name(ev), ev->event != NULL ? ev->event :
		    "event", ev->action != NULL ? " " : "",
		    ev->action != NULL ? ev->action : "");
		break;
	default:
		if (ev->reviewer != NULL)
			snprintf(it->subject, sizeof(it->subject), "%s %s: "
			    "#%lld by %s", source_name(ev), kind,
			    (long long)ev->pr_number, ev->reviewer);
		else
			snprintf(it->subject, sizeof(it->subject), "%s %s: "
			    "#%lld %s", source_name(ev), kind,
			    (long long)ev->pr_number,
			    ev->pr_title != NULL ? ev->pr_title : "");
		break;
	}
}

static bool
is_request(const struct fg_event *ev)
{
	return ev->kind == FG_EVENT_IGNORED && ev->event != NULL &&
	    (strcmp(ev->event, "api_promote") == 0 ||
	    strcmp(ev->event, "api_rollback") == 0);
}

/*
 * A promotion or rollback asked through the API (api_promote.c): its
 * payload is the request, checked against api.schema.json there.
 */
static void
load_request(struct fg_store *st, struct item *it)
{
	struct fg_buf b = FG_BUF_INIT;
	const char *change, *to, *actor;
	bool rollback;

	if (!is_request(&it->ev))
		return;
	rollback = strcmp(it->ev.event, "api_rollback") == 0;
	if (fg_store_read_file_at(&b, st, &it->commit, "payload", NULL) < 0 ||
	    fg_json_parse(&it->request, b.ptr, b.len, NULL) < 0 ||
	    !cJSON_IsObject(it->request)) {
		cJSON_Delete(it->request);
		it->request = NULL;
		fg_buf_release(&b);
		return;
	}
	fg_buf_release(&b);
	change = str_of(it->request, rollback ? "to" : "change");
	to = str_of(it->request, rollback ? "env" : "to");
	actor = str_of(it->request, "actor");
	snprintf(it->subject, sizeof(it->subject), "api %s request by %s: "
	    "%s%s%s", rollback ? "rollback" : "promote", actor != NULL ?
	    actor : "?", rollback ? (to != NULL ? to : "?") :
	    (change != NULL ? change : "?"), rollback ? (change != NULL ?
	    " to " : "") : (to != NULL ? " to " : ""), rollback ?
	    (change != NULL ? change : "") : (to != NULL ? to : ""));
	snprintf(it->status, sizeof(it->status), "queued");
}

/*
 * Parse the event.json of it: text, len bytes, or read from the inbox
 * when text is NULL.
 */
static int
load_item(struct fg_store *st, struct item *it, const char *text,
    size_t len, struct fg_err *err)
{
	struct fg_buf b = FG_BUF_INIT;
	cJSON *json = NULL;
	int rc = 0;

	if (text == NULL) {
		rc = fg_store_read_file_at(&b, st, &it->commit, "event.json",
		    err);
		text = b.ptr;
		len = b.len;
	}
	if (rc == 0)
		rc = fg_json_parse(&json, text, len, err);
	if (rc == 0)
		rc = fg_event_from_json(&it->ev, json, err);
	fg_buf_release(&b);
	if (rc == 0) {
		it->parsed = true;
		it->data = json;
		json = NULL;
		describe(it);
		snprintf(it->status, sizeof(it->status), "%s",
		    it->ev.kind == FG_EVENT_IGNORED ? "ignored" : "processed");
		load_request(st, it);
	}
	cJSON_Delete(json);
	return rc;
}

/* Delivery ids of the newest n activity records, for the redo check. */
static bool
recent_has(char **ids, size_t n, const char *id)
{
	size_t i;

	for (i = 0; id != NULL && i < n; i++)
		if (ids[i] != NULL && strcmp(ids[i], id) == 0)
			return true;
	return false;
}

static size_t
recent_activity(char **ids, size_t max, struct fg_store *st)
{
	struct fg_store_query q;
	const struct fg_store_entry *e = NULL;
	struct fg_store_iter *it = NULL;
	const char *v;
	size_t n = 0;

	memset(&q, 0, sizeof(q));
	q.limit = max;
	if (fg_store_iter_new(&it, st, ACTIVITY_REF, &q, NULL) == 0) {
		while (n < max && fg_store_iter_next(&e, it, NULL) == 0 &&
		    e != NULL) {
			v = fg_store_entry_get(e, "Flowgate-Delivery");
			ids[n++] = v != NULL ? fg_strdup(v) : NULL;
		}
	}
	fg_store_iter_free(it);
	return n;
}

/* True when a record of run is among the newest RAN_SCAN_MAX. */
static bool
ran_before(struct fg_store *st, const char *run)
{
	struct fg_store_query q;
	const struct fg_store_entry *e = NULL;
	struct fg_store_iter *it = NULL;
	const char *v;
	bool found = false;

	memset(&q, 0, sizeof(q));
	q.limit = RAN_SCAN_MAX;
	if (fg_store_iter_new(&it, st, ACTIVITY_REF, &q, NULL) == 0) {
		while (!found && fg_store_iter_next(&e, it, NULL) == 0 &&
		    e != NULL) {
			v = fg_store_entry_get(e, "Flowgate-Run");
			found = v != NULL && strcmp(v, run) == 0;
		}
	}
	fg_store_iter_free(it);
	return found;
}

/*
 * Run a promotion or rollback asked through the API.  Its run id is the
 * delivery id, so one repeated after a crash is recognized in the
 * activity log and not run twice.  What happens is recorded by
 * lib/promote; failures here are logged.
 */
static void
run_request(struct fg_store *st, const struct fg_config *cfg,
    const struct item *it, const char *repo)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_promote_req req;
	struct fg_promote_result res;
	const cJSON *req_json = it->request;
	bool rollback = strcmp(it->ev.event, "api_rollback") == 0;
	int rc;

	if (ran_before(st, it->ev.delivery))
		return;
	memset(&req, 0, sizeof(req));
	req.cfg = cfg;
	req.actor = str_of(req_json, "actor");
	req.run = it->ev.delivery;
	req.trigger = "api";
	req.wait_secs = -1;
	req.admin = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req_json,
	    "admin"));
	if (rollback) {
		req.to = str_of(req_json, "env");
		req.change = str_of(req_json, "to");
		req.force = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		    req_json, "force"));
		rc = fg_promote_rollback(&res, st, &req, &err);
	} else {
		req.change = str_of(req_json, "change");
		req.to = str_of(req_json, "to");
		rc = fg_promote_run(&res, st, &req, &err);
	}
	if (rc < 0)
		fg_log_warnx("event=%s repo=%s run=%s error=\"%s\"",
		    it->ev.event, repo, it->ev.delivery, err.msg);
	else
		fg_log_info("event=%s repo=%s run=%s outcome=%s", it->ev.event,
		    repo, it->ev.delivery, fg_promote_outcome_name(
		    res.outcome));
	fg_promote_result_release(&res);
}

/*
 * The commit every environment of stage runs now (each one's latest
 * deployment succeeded, all of the same commit); FG_ENOTFOUND otherwise.
 */
static int
stage_deployed(git_oid *out, struct fg_store *st, const struct fg_stage *s)
{
	struct fg_deployment d;
	size_t i;
	int rc = FG_ENOTFOUND;

	for (i = 0; i < s->envs.n; i++) {
		memset(&d, 0, sizeof(d));
		fg_buf_init(&d.log);
		rc = fg_deploy_current(&d, st, s->envs.v[i], NULL);
		if (rc == 0 && (d.status != FG_DEPLOY_SUCCEEDED ||
		    (i > 0 && !git_oid_equal(out, &d.commit))))
			rc = FG_ENOTFOUND;
		if (rc == 0)
			git_oid_cpy(out, &d.commit);
		fg_deployment_release(&d);
		if (rc < 0)
			return FG_ENOTFOUND;
	}
	return s->envs.n > 0 ? 0 : FG_ENOTFOUND;
}

/* True when the newest RAN_SCAN_MAX records hold a failed promotion of
 * hex into production: it is not retried by itself. */
static bool
failed_before(struct fg_store *st, const char *hex)
{
	struct fg_store_query q;
	const struct fg_store_entry *e = NULL;
	struct fg_store_iter *it = NULL;
	const char *k, *s, *c, *step, *stat;
	bool found = false;

	memset(&q, 0, sizeof(q));
	q.limit = RAN_SCAN_MAX;
	if (fg_store_iter_new(&it, st, ACTIVITY_REF, &q, NULL) == 0) {
		while (!found && fg_store_iter_next(&e, it, NULL) == 0 &&
		    e != NULL) {
			k = fg_store_entry_get(e, "Flowgate-Kind");
			s = fg_store_entry_get(e, "Flowgate-Stage");
			c = fg_store_entry_get(e, "Flowgate-Commit");
			step = fg_store_entry_get(e, "Flowgate-Step");
			stat = fg_store_entry_get(e, "Flowgate-Status");
			found = k != NULL && strcmp(k, "promote") == 0 &&
			    s != NULL && strcmp(s, "production") == 0 &&
			    c != NULL && strcmp(c, hex) == 0 && step != NULL &&
			    strcmp(step, "summary") == 0 && stat != NULL &&
			    strcmp(stat, "failed") == 0;
		}
	}
	fg_store_iter_free(it);
	return found;
}

/*
 * Continuous template: the commit staging runs goes to production by
 * itself once production's gates pass (DESIGN.md section 5).  Asked after
 * a batch that may have brought the missing fact (see act()).  The gates
 * are tried as a dry run first, so a change still waiting writes nothing;
 * a promotion that failed is not retried by itself.
 */
static void
auto_promote(struct fg_store *st, const struct fg_config *cfg,
    const char *repo)
{
	const struct fg_stage *staging, *prod;
	struct fg_err err = FG_ERR_INIT;
	struct fg_promote_req req;
	struct fg_promote_result res;
	git_repository *gr = fg_store_repo(st);
	char hex[GIT_OID_HEXSZ + 1], ref[300];
	git_oid c, tip;
	int rc;

	if (!cfg->tmpl->auto_promote)
		return;
	staging = &cfg->stages[FG_STAGE_STAGING];
	prod = &cfg->stages[FG_STAGE_PRODUCTION];
	if (!staging->configured || !prod->configured || prod->branch == NULL ||
	    stage_deployed(&c, st, staging) < 0)
		return;
	snprintf(ref, sizeof(ref), "refs/heads/%s", prod->branch);
	if (git_reference_name_to_id(&tip, gr, ref) == 0 &&
	    (git_oid_equal(&tip, &c) ||
	    git_graph_descendant_of(gr, &tip, &c) == 1))
		return;
	git_oid_tostr(hex, sizeof(hex), &c);
	if (failed_before(st, hex))
		return;
	memset(&req, 0, sizeof(req));
	req.cfg = cfg;
	req.change = hex;
	req.to = fg_stage_name(FG_STAGE_PRODUCTION);
	req.actor = "flowgate";
	req.trigger = "auto";
	req.wait_secs = -1;
	req.dry_run = true;
	rc = fg_promote_run(&res, st, &req, &err);
	if (rc < 0 || !res.verdict.passed) {
		fg_promote_result_release(&res);
		return;
	}
	fg_promote_result_release(&res);
	req.dry_run = false;
	rc = fg_promote_run(&res, st, &req, &err);
	if (rc < 0)
		fg_log_warnx("event=auto_promote repo=%s commit=%.7s "
		    "error=\"%s\"", repo, hex, err.msg);
	else
		fg_log_info("event=auto_promote repo=%s commit=%.7s "
		    "outcome=%s", repo, hex, fg_promote_outcome_name(
		    res.outcome));
	fg_promote_result_release(&res);
}

/*
 * Requests of the batch, then continuous auto-promotion when the batch
 * held an event that could be production's missing fact: a status, a
 * pull request or review event, or a promotion asked through the API.
 */
/*
 * Queue the flow runs the batch's deliveries trigger (lib/flowexec), each
 * keyed by its delivery id so a batch repeated after a crash queues
 * nothing twice; the executor (flows.c) runs them off this thread.
 */
static void
queue_flows(struct fg_store *st, const struct fg_config *cfg,
    struct item *items, size_t n, const char *repo, const char *path)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf b = FG_BUF_INIT;
	cJSON *payload = NULL;
	size_t i, nq, total = 0;

	for (i = 0; i < n; i++) {
		if (!items[i].parsed || !fg_flowexec_may_fire(cfg,
		    &items[i].ev))
			continue;
		fg_buf_reset(&b);
		payload = NULL;
		if (fg_store_read_file_at(&b, st, &items[i].commit, "payload",
		    NULL) == 0 && b.len > 0 && b.ptr[0] == '{' &&
		    fg_json_parse(&payload, b.ptr, b.len, NULL) < 0)
			payload = NULL;
		nq = 0;
		if (fg_flowexec_queue(&nq, st, cfg, &items[i].ev, payload,
		    &err) < 0)
			fg_log_warnx("event=flow_queue_error repo=%s "
			    "delivery=%s error=\"%s\"", repo,
			    items[i].ev.delivery != NULL ?
			    items[i].ev.delivery : "?", err.msg);
		total += nq;
		cJSON_Delete(payload);
	}
	fg_buf_release(&b);
	/* Even without new runs: the batch may have promoted or deployed,
	 * which promotion and deployment flows react to. */
	(void)total;
	whd_flows_notify(repo, path);
}

static void
act(struct fg_store *st, struct item *items, size_t n, const char *repo,
    const char *path)
{
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	struct fg_config *cfg = NULL;
	bool relevant = false;
	size_t i;

	if (fg_config_load(&cfg, fg_store_repo(st), &d, &err) < 0) {
		for (i = 0; i < n; i++)
			if (items[i].request != NULL)
				fg_log_warnx("event=%s repo=%s run=%s "
				    "error=\"the config does not load\"",
				    items[i].ev.event, repo,
				    items[i].ev.delivery);
		fg_diags_release(&d);
		return;
	}
	for (i = 0; i < n; i++) {
		if (items[i].request != NULL)
			run_request(st, cfg, &items[i], repo);
		/* What could have been production's missing fact. */
		if (items[i].parsed && (items[i].request != NULL ||
		    is_status_kind(items[i].ev.kind) ||
		    is_pull_kind(items[i].ev.kind)))
			relevant = true;
	}
	if (relevant)
		auto_promote(st, cfg, repo);
	queue_flows(st, cfg, items, n, repo, path);
	fg_config_free(cfg);
	fg_diags_release(&d);
}

/*
 * What a worker keeps of a repository between drains: the store, and the
 * inbox commits it has walked but not processed yet, oldest first.  A
 * drain walks only the commits appended since (the inbox is one chain),
 * so a backlog of b commits costs b commit reads in all, not b on every
 * drain.
 */
struct engine {
	struct fg_store *st;
	unsigned drains;		/* since st was opened */
	git_oid *q;			/* q[off..len): walked, not processed */
	size_t off, len, cap;
	git_oid qtip;			/* the newest commit walked */
	git_oid done;			/* inbox-done the queue follows */
	bool have_done;
	bool valid;			/* q, qtip and done mean something */
	/*
	 * The activity tip this engine's last append left, while the queue
	 * stays valid: with it still the tip, nobody can have recorded the
	 * queue's deliveries, and the redo check is skipped.
	 */
	git_oid act_tip;
	bool have_act;
};

static int
open_cached(struct fg_store **out, void **cache, const char *path,
    struct fg_err *err)
{
	struct engine *e = *cache;
	int rc;

	if (e == NULL) {
		e = calloc(1, sizeof(*e));
		if (e == NULL)
			return fg_err_set(err, FG_ENOMEM, "out of memory");
		*cache = e;
	}
	/*
	 * A fresh handle now and then: libgit2 keeps the packs it mapped
	 * even after the intake's maintenance deleted them (see store.h).
	 */
	if (e->st != NULL && e->drains >= STORE_REOPEN_DRAINS) {
		fg_store_free(e->st);
		e->st = NULL;
	}
	if (e->st == NULL) {
		rc = fg_store_open(&e->st, path, 0, err);
		if (rc < 0)
			return rc;
		e->drains = 0;
		/* Roll-ups amortized over drains: see PACKS_BUSY_MAX. */
		fg_store_set_auto_maintain(e->st, 0);
	}
	e->drains++;
	*out = e->st;
	return 0;
}

static int
queue_add(struct engine *e, const git_oid *id)
{
	git_oid *v;
	size_t cap;

	if (e->len == e->cap) {
		cap = e->cap > 0 ? 2 * e->cap : 256;
		v = reallocarray(e->q, cap, sizeof(*v));
		if (v == NULL)
			return FG_ENOMEM;
		e->q = v;
		e->cap = cap;
	}
	git_oid_cpy(&e->q[e->len++], id);
	return 0;
}

/*
 * The commits after done (all when !have_done) up to tip, queued oldest
 * first, walked by libgit2: for an inbox that is not one chain.
 */
static int
queue_walk(struct engine *e, git_repository *gr, const git_oid *tip,
    const git_oid *done, bool have_done, const char *repo,
    struct fg_err *err)
{
	git_revwalk *walk = NULL;
	git_oid id;
	int rc = 0, grc;

	e->off = e->len = 0;
	if (git_revwalk_new(&walk, gr) < 0 ||
	    git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL |
	    GIT_SORT_REVERSE) < 0 || git_revwalk_push(walk, tip) < 0 ||
	    (have_done && git_revwalk_hide(walk, done) < 0)) {
		rc = fg_err_git(err, FG_EIO, "cannot walk '%s' of '%s'",
		    INBOX_REF, repo);
		goto out;
	}
	for (;;) {
		grc = git_revwalk_next(&id, walk);
		if (grc != 0)
			break;
		if (queue_add(e, &id) < 0) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
	}
	/* Not a queue that stops short: the drain fails and is retried. */
	if (grc != GIT_ITEROVER)
		rc = fg_err_git(err, FG_EIO, "cannot walk '%s' of '%s'",
		    INBOX_REF, repo);
out:
	git_revwalk_free(walk);
	return rc;
}

/*
 * Bring e's queue up to tip.  The inbox is one chain: follow the parents
 * from tip back to the newest commit queued before (to inbox-done when
 * the queue means nothing: at first, after a failure, or when inbox-done
 * is not where the last drain left it) and queue what was passed, oldest
 * first.  Each commit is read once however long the backlog.  A chain
 * that does not lead there is walked by libgit2 from inbox-done.
 */
static int
queue_fill(struct engine *e, git_repository *gr, const git_oid *tip,
    const git_oid *done, bool have_done, const char *repo,
    struct fg_err *err)
{
	git_oid *chain = NULL;
	size_t n = 0;
	bool have_stop;
	int rc = 0;

	if (!e->valid || e->have_done != have_done ||
	    (have_done && !git_oid_equal(&e->done, done)))
		e->valid = false;
	if (!e->valid)
		e->have_act = false;
	if (e->valid && git_oid_equal(&e->qtip, tip))
		return 0;
	if (!e->valid || e->off == e->len)
		e->off = e->len = 0;
	have_stop = e->valid || have_done;
	rc = fg_store_first_parents(&chain, &n, gr, tip, !have_stop ? NULL :
	    e->valid ? &e->qtip : done, SIZE_MAX, err);
	if (rc == FG_ENOTFOUND) {
		/* Not one chain down to stop. */
		rc = queue_walk(e, gr, tip, done, have_done, repo, err);
	} else if (rc == 0) {
		/* Newest first: queued oldest first. */
		while (rc == 0 && n > 0)
			if (queue_add(e, &chain[--n]) < 0)
				rc = fg_err_set(err, FG_ENOMEM,
				    "out of memory");
	}
	free(chain);
	if (rc < 0) {
		e->valid = false;
		return rc;
	}
	git_oid_cpy(&e->qtip, tip);
	if (have_done)
		git_oid_cpy(&e->done, done);
	e->have_done = have_done;
	e->valid = true;
	return 0;
}

/* The queue's first n commits are processed: inbox-done is the last. */
static void
queue_done(struct engine *e, size_t n)
{
	git_oid_cpy(&e->done, &e->q[e->off + n - 1]);
	e->have_done = true;
	e->off += n;
	if (e->off == e->len) {
		e->off = e->len = 0;
	} else if (e->off >= 4096 && e->off >= e->len / 2) {
		memmove(e->q, e->q + e->off, (e->len - e->off) *
		    sizeof(*e->q));
		e->len -= e->off;
		e->off = 0;
	}
}

void
whd_handoff_free(struct whd_handoff *h)
{
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; h->events != NULL && i < h->n; i++)
		free(h->events[i]);
	free(h->events);
	free(h->ids);
	free(h);
}

static void
handoff_free_list(struct whd_handoff *h)
{
	struct whd_handoff *next;

	for (; h != NULL; h = next) {
		next = h->next;
		whd_handoff_free(h);
	}
}

/*
 * Move to *used the hand-offs at the head of *list that follow the
 * cursor (done; none when !have_done) one after the other, whole batches
 * up to max deliveries (one batch at least), and return how many
 * deliveries they hold.  When the first does not follow the cursor, the
 * list means nothing (a restart, a gap, a batch the walk took already):
 * it is freed, and the inbox is walked.
 */
static size_t
handoff_take(struct whd_handoff **list, struct whd_handoff **used,
    const git_oid *done, bool have_done, size_t max)
{
	struct whd_handoff *h, **tail = used;
	git_oid cur;
	bool have = have_done;
	size_t n = 0;

	*used = NULL;
	if (have)
		git_oid_cpy(&cur, done);
	for (h = *list; h != NULL; h = *list) {
		if (h->have_parent != have ||
		    (have && !git_oid_equal(&h->parent, &cur)))
			break;
		if (n > 0 && n + h->n > max)
			break;
		*list = h->next;
		h->next = NULL;
		*tail = h;
		tail = &h->next;
		n += h->n;
		git_oid_cpy(&cur, &h->ids[h->n - 1]);
		have = true;
	}
	if (n == 0) {
		handoff_free_list(*list);
		*list = NULL;
	}
	return n;
}

/* Deliveries the hand-offs of list hold. */
static size_t
handoff_count(const struct whd_handoff *h)
{
	size_t n = 0;

	for (; h != NULL; h = h->next)
		n += h->n;
	return n;
}

/* Packs in st's repository. */
static size_t
pack_count(struct fg_store *st)
{
	struct fg_buf objdir = FG_BUF_INIT;
	size_t n = 0;

	if (fg_buf_printf(&objdir, "%sobjects",
	    git_repository_path(fg_store_repo(st))) == 0)
		n = fg_pack_count(objdir.ptr);
	fg_buf_release(&objdir);
	return n;
}

int
whd_engine_drain(void **cache, const char *repo, const char *path,
    size_t max, struct whd_handoff **handoffs, size_t *processed,
    size_t *remaining, struct fg_err *err)
{
	struct whd_handoff *none = NULL, *used = NULL, *h;
	struct fg_store *st = NULL;
	struct engine *e;
	git_oid tip, done;
	struct item *items = NULL;
	struct fg_record *recs = NULL;
	git_oid *ids = NULL, atip;
	char **recent = NULL;
	size_t n = 0, nrecent = 0, nrec = 0, i, j;
	bool have_done, check;
	int rc;

	*processed = 0;
	*remaining = 0;
	if (handoffs == NULL)
		handoffs = &none;
	/* First look at this repository: resume its runs, start its
	 * schedules. */
	if (*cache == NULL)
		whd_flows_notify(repo, path);
	rc = open_cached(&st, cache, path, err);
	if (rc < 0)
		goto out;
	rc = fg_store_tip(&tip, st, INBOX_REF, err);
	if (rc == FG_ENOTFOUND) {
		rc = 0;
		goto stale;
	}
	if (rc < 0)
		goto fail;
	have_done = fg_store_tip(&done, st, DONE_REF, NULL) == 0;
	if (have_done && git_oid_equal(&done, &tip)) {
		rc = 0;
		goto stale;
	}
	e = *cache;
	/*
	 * Batches handed over from memory that follow the cursor need not
	 * be read back; else walk the inbox.
	 */
	n = handoff_take(handoffs, &used, &done, have_done, max);
	if (n == 0) {
		rc = queue_fill(e, fg_store_repo(st), &tip, &done, have_done,
		    repo, err);
		if (rc < 0)
			goto fail;
		n = e->len - e->off;
		if (n > max)
			n = max;
	}
	items = calloc(n > 0 ? n : 1, sizeof(*items));
	if (items == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto fail;
	}
	if (used == NULL) {
		for (i = 0; i < n; i++)
			git_oid_cpy(&items[i].commit, &e->q[e->off + i]);
	} else {
		for (i = 0, h = used; h != NULL; h = h->next)
			for (j = 0; j < h->n; j++, i++)
				git_oid_cpy(&items[i].commit, &h->ids[j]);
	}
	for (i = 0, h = used, j = 0; i < n; i++) {
		const char *text = NULL;

		if (h != NULL) {
			text = h->events != NULL ? h->events[j] : NULL;
			if (++j == h->n) {
				h = h->next;
				j = 0;
			}
		}
		rc = load_item(st, &items[i], text, text != NULL ?
		    strlen(text) : 0, err);
		if (rc < 0) {
			/* A record we cannot read is skipped, not retried. */
			char hex[41];

			git_oid_tostr(hex, sizeof(hex), &items[i].commit);
			fg_log_warnx("event=bad_inbox_record repo=%s commit=%s "
			    "error=\"%s\"", repo, hex, err->msg);
			rc = 0;
			continue;
		}
		if (is_status_kind(items[i].ev.kind))
			rc = update_note(st, &items[i], err);
		if (rc < 0)
			goto fail;
	}
	rc = update_pulls(st, items, n, err);
	if (rc < 0)
		goto fail;

	recent = calloc(n + 16, sizeof(*recent));
	recs = calloc(n > 0 ? n : 1, sizeof(*recs));
	ids = calloc(n > 0 ? n : 1, sizeof(*ids));
	if (recent == NULL || recs == NULL || ids == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto fail;
	}
	/* Deliveries already recorded: a batch repeated after a crash. */
	check = !e->have_act ||
	    fg_store_tip(&atip, st, ACTIVITY_REF, NULL) < 0 ||
	    !git_oid_equal(&atip, &e->act_tip);
	if (check)
		nrecent = recent_activity(recent, n + 16, st);
	for (i = 0; i < n; i++) {
		struct item *it = &items[i];

		if (!it->parsed || recent_has(recent, nrecent,
		    it->ev.delivery))
			continue;
		recs[nrec].kind = "event";
		recs[nrec].subject = it->subject;
		recs[nrec].delivery = it->ev.delivery;
		recs[nrec].event = fg_event_kind_name(it->ev.kind);
		recs[nrec].status = it->status;
		recs[nrec].commit = it->ev.sha[0] != '\0' ? it->ev.sha :
		    it->ev.new_id[0] != '\0' ? it->ev.new_id :
		    it->ev.pr_head_sha[0] != '\0' ? it->ev.pr_head_sha : NULL;
		recs[nrec].actor_name = it->ev.actor;
		recs[nrec].time = it->ev.time;
		recs[nrec].data = it->data;
		nrec++;
	}
	/* Time to roll packs up?  See PACKS_IDLE_MAX. */
	if (nrec > 0 && pack_count(st) > ((used != NULL ?
	    handoff_count(*handoffs) : e->len - e->off - n) == 0 ?
	    PACKS_IDLE_MAX : PACKS_BUSY_MAX))
		fg_store_set_auto_maintain(st, FG_STORE_LOOSE_DEFAULT);
	if (nrec > 0) {
		rc = fg_store_append_batch(ids, st, ACTIVITY_REF, recs, nrec,
		    err);
		fg_store_set_auto_maintain(st, 0);
		if (rc < 0)
			goto fail;
		git_oid_cpy(&e->act_tip, &ids[nrec - 1]);
		e->have_act = true;
	}
	if (n > 0)
		act(st, items, n, repo, path);
	if (n > 0) {
		rc = fg_store_ref_cas(st, DONE_REF, have_done ? &done : NULL,
		    &items[n - 1].commit, err);
		if (rc < 0)
			goto fail;
		if (used == NULL) {
			queue_done(e, n);
		} else {
			/* The walked queue, if any, is stale now. */
			e->valid = false;
			e->off = e->len = 0;
		}
	}
	*processed = n;
	*remaining = e->len - e->off;
	if (used != NULL && git_oid_equal(&items[n - 1].commit, &tip)) {
		/*
		 * The inbox is done.  Hand-offs left were taken before tip
		 * was read, so they are of batches processed already.
		 */
		handoff_free_list(*handoffs);
		*handoffs = NULL;
		*remaining = 0;
	} else if (used != NULL) {
		/*
		 * More in the inbox than was used: handed over too, or (a
		 * hand-off dropped at its bound) to be walked.  Count it.
		 */
		*remaining = handoff_count(*handoffs);
		if (*remaining == 0) {
			rc = queue_fill(e, fg_store_repo(st), &tip,
			    &items[n - 1].commit, true, repo, err);
			if (rc < 0)
				goto fail;
			*remaining = e->len - e->off;
		}
	}
	rc = 0;
	goto out;
stale:
	/* Hand-offs of batches already processed. */
	handoff_free_list(*handoffs);
	*handoffs = NULL;
	goto out;
fail:
	/* Reopen next time: the handle may hold a broken state. */
	whd_engine_close(*cache);
	*cache = NULL;
out:
	handoff_free_list(used);
	if (handoffs == &none)
		handoff_free_list(none);
	for (i = 0; items != NULL && i < n; i++) {
		fg_event_release(&items[i].ev);
		cJSON_Delete(items[i].data);
		cJSON_Delete(items[i].request);
	}
	for (i = 0; recent != NULL && i < nrecent; i++)
		free(recent[i]);
	free(recent);
	free(recs);
	free(ids);
	free(items);
	return rc;
}

void
whd_engine_close(void *cache)
{
	struct engine *e = cache;

	if (e == NULL)
		return;
	fg_store_free(e->st);
	free(e->q);
	free(e);
}
