/*
 * api_flows.c - flows and sandbox pools through the REST API, under
 * /api/v1/repos/{owner}/{name}/ (docs/webhookd.md):
 *
 *   GET  flows?all=1              the active flows (every flow with
 *                                 all=1), as 'flowgate flow list --json'
 *   GET  flows/{flow}             one flow, as 'flowgate flow show --json'
 *   GET  flows/{flow}/activity?limit=
 *                                 its runs, newest first
 *   POST flows/{flow}/activate    (empty body or {}): a config commit
 *   POST flows/{flow}/deactivate  setting its 'active:'; 200 {flow,
 *                                 active, changed, config}
 *   POST flows/{flow}/run         {inputs}: the inputs are checked against
 *                                 the flow's manual trigger on the task
 *                                 pool, then the request goes through the
 *                                 inbox (event "api_flow_run", as
 *                                 lib/flowexec.h says) and is answered 202
 *                                 {status, flow, run} once on disk; the
 *                                 executor runs it
 *   GET  pools                    every pool, as 'flowgate pool list --json'
 *   GET  pools/{pool}             one pool
 *   POST pools/{pool}/lease       {holder}: 200 {pool, holder, outcome
 *                                 (leased, held, queued), env, expires |
 *                                 position, record}
 *   POST pools/{pool}/release     {holder, reset}: 200 {pool, holder, env,
 *                                 reset, next, record, reset_ok}; the
 *                                 pool's reset command runs before the
 *                                 answer unless reset is false
 *
 * POSTs need the operate role, GETs the read role; the actor is the
 * token's name.  Bodies are checked against schemas/api.schema.json
 * ($defs.flow_toggle, $defs.flow_run, $defs.lease, $defs.release).  Everything that
 * touches the repository runs on the task pool, never on the loop; lib/
 * (lease.h, flowctl.h) decides, this file only maps to HTTP.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <git2.h>
#include <openssl/rand.h>

#include "config.h"
#include "event.h"
#include "flowctl.h"
#include "flowexec.h"
#include "flowrun.h"
#include "inbox.h"
#include "lease.h"
#include "pool.h"
#include "schema.h"
#include "store.h"
#include "util.h"
#include "whd.h"
#include "banned.h"

#define BODY_MAX	(64 * 1024)
#define ACTOR_EMAIL	"flowgate@localhost"

enum fop {
	OP_FLOWS,
	OP_FLOW,
	OP_ACTIVITY,
	OP_ACTIVATE,
	OP_DEACTIVATE,
	OP_RUN,
	OP_POOLS,
	OP_POOL,
	OP_LEASE,
	OP_RELEASE,
};

struct ftask {
	struct whd_task t;
	struct whd_req *r;
	enum fop op;
	char *path;
	char repo[256];			/* owner/name */
	char name[64];			/* flow or pool */
	char holder[FG_LEASE_HOLDER_MAX + 1];
	char actor[65];
	bool all, reset;
	size_t limit;
	cJSON *inputs;			/* OP_RUN: as asked, then checked */
	struct whd_answer ans;
};

bool whd_api_flows_handle(struct whd_req *r, const char *repo,
    const char *sub, int role, const char *tname);

static void
ftask_free(struct ftask *t)
{
	if (t == NULL)
		return;
	fg_buf_release(&t->ans.out);
	cJSON_Delete(t->inputs);
	free(t->path);
	free(t);
}

static int
open_all(struct fg_store **st, struct fg_config **cfg, struct ftask *t)
{
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	int rc;

	rc = fg_store_open(st, t->path, FG_STORE_NO_MAINTAIN, &err);
	if (rc < 0) {
		whd_answer_error(&t->ans, 500, "error", err.msg);
		return rc;
	}
	rc = fg_config_load(cfg, fg_store_repo(*st), &d, &err);
	if (rc == FG_ENOTFOUND)
		whd_answer_error(&t->ans, 404, "not_found", "the repository has no "
		    "refs/flowgate/config: run flowgate init");
	else if (rc < 0)
		whd_answer_error(&t->ans, 409, "conflict", d.n > 0 ? d.lines[0] : err.msg);
	fg_diags_release(&d);
	return rc;
}

static void
run_toggle(struct ftask *t, struct fg_store *st)
{
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	char hex[GIT_OID_HEXSZ + 1];
	bool changed = false, active = t->op == OP_ACTIVATE;
	git_oid tip;
	cJSON *o;

	if (fg_flowctl_set_active(&tip, &changed, fg_store_repo(st), t->name,
	    active, t->actor, ACTOR_EMAIL, &d, &err) < 0) {
		if (d.n > 0)
			snprintf(err.msg, sizeof(err.msg), "%s", d.lines[0]);
		whd_answer_err(&t->ans, &err);
		goto out;
	}
	git_oid_tostr(hex, sizeof(hex), &tip);
	o = cJSON_CreateObject();
	if (o != NULL && (cJSON_AddStringToObject(o, "flow", t->name) ==
	    NULL || cJSON_AddBoolToObject(o, "active", active) == NULL ||
	    cJSON_AddBoolToObject(o, "changed", changed) == NULL ||
	    cJSON_AddStringToObject(o, "config", hex) == NULL)) {
		cJSON_Delete(o);
		o = NULL;
	}
	whd_answer_json(&t->ans, 200, "ok", o);
	cJSON_Delete(o);
out:
	fg_diags_release(&d);
}

static void
run_release(struct ftask *t, struct fg_store *st,
    const struct fg_config *cfg)
{
	struct fg_lease_release r;
	struct fg_err err = FG_ERR_INIT, rerr = FG_ERR_INIT;
	bool ok = true;
	cJSON *o;

	if (fg_lease_release(&r, st, cfg, t->name, t->holder, t->actor, 0,
	    &err) < 0) {
		whd_answer_err(&t->ans, &err);
		return;
	}
	if (!t->reset)
		r.reset = false;
	if (r.reset && r.env[0] != '\0' && fg_lease_reset(&ok, st, cfg,
	    r.pool, r.env, r.holder, t->actor, &rerr) < 0)
		ok = false;
	o = fg_lease_release_json(&r);
	if (o != NULL && (cJSON_AddBoolToObject(o, "reset_ok", ok) == NULL ||
	    (!ok && cJSON_AddStringToObject(o, "reset_error", rerr.msg) ==
	    NULL))) {
		cJSON_Delete(o);
		o = NULL;
	}
	whd_answer_json(&t->ans, 200, "ok", o);
	cJSON_Delete(o);
}

static void
task_run(struct whd_task *wt)
{
	struct ftask *t = (struct ftask *)wt;
	struct fg_err err = FG_ERR_INIT;
	struct fg_lease_result lr;
	struct fg_config *cfg = NULL;
	struct fg_store *st = NULL;
	cJSON *o = NULL;
	int rc = 0;

	if (open_all(&st, &cfg, t) < 0)
		goto out;
	switch (t->op) {
	case OP_FLOWS:
		rc = fg_flowctl_list_json(&o, st, cfg, t->all, &err);
		break;
	case OP_FLOW:
		rc = fg_flowctl_show_json(&o, st, cfg, t->name, &err);
		break;
	case OP_ACTIVITY:
		rc = fg_flowctl_activity_json(&o, st, cfg, t->name, t->limit,
		    &err);
		break;
	case OP_ACTIVATE:
	case OP_DEACTIVATE:
		run_toggle(t, st);
		goto out;
	case OP_RUN:
		/* Check here; task_done queues it on the loop. */
		rc = fg_flowexec_check_request(&o, cfg, t->name, t->inputs,
		    &err);
		if (rc < 0) {
			whd_answer_err(&t->ans, &err);
		} else {
			cJSON_Delete(t->inputs);
			t->inputs = o;
			t->ans.code = 0;
		}
		o = NULL;
		goto out;
	case OP_POOLS:
		rc = fg_lease_list_json(&o, st, cfg, &err);
		break;
	case OP_POOL:
		rc = fg_lease_state_json(&o, st, cfg, t->name, &err);
		break;
	case OP_LEASE:
		rc = fg_lease_acquire(&lr, st, cfg, t->name, t->holder,
		    t->actor, 0, &err);
		if (rc == 0)
			o = fg_lease_result_json(&lr, t->name, t->holder);
		break;
	case OP_RELEASE:
		run_release(t, st, cfg);
		goto out;
	}
	if (rc < 0)
		whd_answer_err(&t->ans, &err);
	else
		whd_answer_json(&t->ans, 200, "ok", o);
out:
	cJSON_Delete(o);
	fg_config_free(cfg);
	fg_store_free(st);
}

static void
queued_done(struct whd_delivery *dl, void *arg)
{
	struct fg_buf f = FG_BUF_INIT;
	char run[FG_FLOWRUN_ID_MAX + 1];
	cJSON *payload = NULL;
	const char *flow = NULL;

	if (dl->result == WHD_ACCEPTED || dl->result == WHD_DUPLICATE) {
		payload = cJSON_Parse(dl->body);
		flow = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		    payload, "flow"));
	}
	fg_flowexec_run_id(run, sizeof(run), dl->id);
	fg_buf_puts(&f, "\"flow\":");
	whd_json_str(&f, flow != NULL ? flow : "");
	fg_buf_puts(&f, ",\"run\":");
	whd_json_str(&f, run);
	cJSON_Delete(payload);
	whd_reply_queued(arg, dl, "request", f.ptr);
	fg_buf_release(&f);
}

/*
 * A checked manual run request into the inbox, as the engine expects it
 * (lib/flowexec.h, MANUAL RUNS): event "api_flow_run", payload {flow,
 * inputs, actor}, delivery id "api-<random>" or "api-<Idempotency-Key>".
 * Answered by queued_done() once on disk, or here on failure.
 */
static void
queue_run(struct ftask *t)
{
	struct whd_req *r = t->r;
	struct fg_err err = FG_ERR_INIT;
	struct whd_delivery *dl = NULL;
	struct fg_event ev;
	cJSON *evj = NULL, *payload = NULL;
	const char *key = whd_header(r, "Idempotency-Key");
	unsigned char rnd[12];
	char id[64], *ptext = NULL;
	size_t i;
	int rc;

	fg_event_init(&ev);
	if (key != NULL && *key != '\0') {
		snprintf(id, sizeof(id), "api-%.58s", key);
	} else {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
			whd_reply_error(r, 500, "error", "no randomness");
			goto out;
		}
		memcpy(id, "api-", 4);
		for (i = 0; i < sizeof(rnd); i++)
			snprintf(id + 4 + 2 * i, 3, "%02x", rnd[i]);
	}
	ev.source = FG_FORGE_CLI;
	ev.kind = FG_EVENT_IGNORED;
	ev.time = fg_now();
	rc = fg_event_set(&ev, FG_EVENT_F_REPO, t->repo, &err);
	if (rc == 0)
		rc = fg_event_set(&ev, FG_EVENT_F_EVENT,
		    FG_FLOWEXEC_REQUEST_EVENT, &err);
	if (rc == 0)
		rc = fg_event_set(&ev, FG_EVENT_F_ACTOR, t->actor, &err);
	if (rc == 0)
		rc = fg_event_set_delivery(&ev, id, &err);
	if (rc == 0)
		rc = fg_event_to_json(&evj, &ev, &err);
	if (rc < 0) {
		whd_reply_error(r, rc == FG_ENOMEM ? 500 : 400, rc ==
		    FG_ENOMEM ? "error" : "invalid", err.msg);
		goto out;
	}
	payload = cJSON_CreateObject();
	if (payload != NULL && cJSON_AddStringToObject(payload, "flow",
	    t->name) != NULL && cJSON_AddStringToObject(payload, "actor",
	    t->actor) != NULL) {
		cJSON_AddItemToObject(payload, "inputs", t->inputs);
		t->inputs = NULL;
		ptext = cJSON_PrintUnformatted(payload);
	}
	snprintf(r->delivery, sizeof(r->delivery), "%s", id);
	dl = calloc(1, sizeof(*dl));
	if (dl != NULL) {
		dl->repo = fg_strdup(t->repo);
		dl->path = fg_strdup(t->path);
		dl->id = fg_strdup(id);
		dl->kind = fg_strdup("flow_run");
		dl->event_json = cJSON_PrintUnformatted(evj);
		dl->body = ptext;
		ptext = NULL;
	}
	if (dl == NULL || dl->repo == NULL || dl->path == NULL ||
	    dl->id == NULL || dl->kind == NULL || dl->event_json == NULL ||
	    dl->body == NULL) {
		whd_reply_error(r, 500, "error", "out of memory");
		goto out;
	}
	dl->len = strlen(dl->body);
	dl->time = ev.time;
	dl->done = queued_done;
	dl->arg = r;
	if (whd_inbox_submit(r->d->inbox, dl) < 0) {
		whd_reply_error(r, 503, "unavailable", "too many deliveries "
		    "waiting for the disk: try again later");
		goto out;
	}
	dl = NULL;	/* queued_done answers */
out:
	whd_delivery_free(dl);
	cJSON_free(ptext);
	cJSON_Delete(payload);
	cJSON_Delete(evj);
	fg_event_release(&ev);
}

static void
task_done(struct whd_task *wt)
{
	struct ftask *t = (struct ftask *)wt;

	if (t->op == OP_RUN && t->ans.code == 0)
		queue_run(t);
	else
		whd_reply(t->r, t->ans.code, t->ans.result, t->ans.out.ptr);
	ftask_free(t);
}

/* The body against $defs.<def>; an empty body is {}.  Answers on error. */
static int
read_body(cJSON **out, struct whd_req *r, const char *def)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	const char *ct = whd_header(r, "Content-Type");
	size_t len = evbuffer_get_length(in);
	cJSON *schema = NULL, *body = NULL;
	int rc = -1;

	*out = NULL;
	if (len == 0) {
		body = cJSON_CreateObject();
		if (body == NULL) {
			whd_reply_error(r, 500, "error", "out of memory");
			goto out;
		}
	} else if (ct == NULL || strncmp(ct, "application/json", 16) != 0) {
		whd_reply_error(r, 415, "unsupported_type", "content type must "
		    "be application/json");
		goto out;
	} else if (len > BODY_MAX) {
		whd_reply_error(r, 413, "too_large", "body over 64 KB");
		goto out;
	} else if (fg_json_parse(&body, (const char *)evbuffer_pullup(in, -1),
	    len, &err) < 0) {
		whd_reply_error(r, 400, "invalid", err.msg);
		goto out;
	}
	if (fg_schema_load(&schema, "api.schema.json", &err) < 0) {
		whd_reply_error(r, 500, "error", err.msg);
		goto out;
	}
	if (fg_schema_validate(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(schema, "$defs"), def), body,
	    NULL, "body", &d) < 0) {
		whd_reply_error(r, 400, "invalid", d.n > 0 ? d.lines[0] :
		    "invalid body");
		goto out;
	}
	*out = body;
	body = NULL;
	rc = 0;
out:
	cJSON_Delete(body);
	cJSON_Delete(schema);
	fg_diags_release(&d);
	return rc;
}

/* A flow or pool name as the schemas allow: [a-z0-9][a-z0-9._-]{0,62}. */
static bool
is_name(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 63)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			continue;
		if (i == 0 || strchr("._-", c) == NULL)
			return false;
	}
	return true;
}

/*
 * Route sub ("flows", "flows/x/activity", "pools/p/lease", ...) to an
 * operation; false when it is not ours.  *nlen is the name's length.
 */
static bool
route(enum fop *op, const char **name, size_t *nlen, bool *post_only,
    const char *sub)
{
	const char *rest, *slash;
	bool flows;

	if (strcmp(sub, "flows") == 0 || strcmp(sub, "pools") == 0) {
		*op = sub[0] == 'f' ? OP_FLOWS : OP_POOLS;
		*name = NULL;
		*nlen = 0;
		*post_only = false;
		return true;
	}
	if (strncmp(sub, "flows/", 6) == 0)
		flows = true;
	else if (strncmp(sub, "pools/", 6) == 0)
		flows = false;
	else
		return false;
	rest = sub + 6;
	slash = strchr(rest, '/');
	*name = rest;
	*nlen = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
	*post_only = slash != NULL;
	if (slash == NULL) {
		*op = flows ? OP_FLOW : OP_POOL;
	} else if (flows && strcmp(slash, "/activity") == 0) {
		*op = OP_ACTIVITY;
		*post_only = false;
	} else if (flows && strcmp(slash, "/activate") == 0) {
		*op = OP_ACTIVATE;
	} else if (flows && strcmp(slash, "/deactivate") == 0) {
		*op = OP_DEACTIVATE;
	} else if (flows && strcmp(slash, "/run") == 0) {
		*op = OP_RUN;
	} else if (!flows && strcmp(slash, "/lease") == 0) {
		*op = OP_LEASE;
	} else if (!flows && strcmp(slash, "/release") == 0) {
		*op = OP_RELEASE;
	} else {
		/* Ours, but no such route: 404. */
		*op = OP_FLOWS;
		*name = NULL;
	}
	return true;
}

bool
whd_api_flows_handle(struct whd_req *r, const char *repo, const char *sub,
    int role, const char *tname)
{
	const struct fg_settings *s = r->d->settings;
	struct ftask *t = NULL;
	struct stat sb;
	cJSON *body = NULL;
	const char *name, *def;
	const cJSON *v;
	char msg[320], *q = NULL;
	long long num;
	size_t nlen;
	bool post_only, post = r->cmd == EVHTTP_REQ_POST;
	enum fop op;

	if (!route(&op, &name, &nlen, &post_only, sub))
		return false;
	if ((op == OP_FLOWS && name == NULL && strcmp(sub, "flows") != 0) ||
	    (name != NULL && !is_name(name, nlen))) {
		whd_reply_error(r, 404, "not_found", "no such route");
		return true;
	}
	if (!post_only && r->cmd != EVHTTP_REQ_GET &&
	    r->cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Allow", "GET, HEAD");
		whd_reply_error(r, 405, "method", "method not allowed: use GET");
		return true;
	}
	if (post_only && !post) {
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Allow", "POST");
		whd_reply_error(r, 405, "method", "method not allowed: use POST");
		return true;
	}
	if (post_only && role < FG_ROLE_OPERATE) {
		snprintf(msg, sizeof(msg), "token '%s' may only read: %s needs "
		    "the operate role", tname, op == OP_LEASE ? "leasing" :
		    op == OP_RELEASE ? "releasing" : op == OP_RUN ?
		    "running a flow" : "changing a flow");
		whd_reply_error(r, 403, "forbidden", msg);
		return true;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		whd_reply_error(r, 500, "error", "out of memory");
		return true;
	}
	fg_buf_init(&t->ans.out);
	t->op = op;
	t->reset = true;
	if (name != NULL)
		snprintf(t->name, sizeof(t->name), "%.*s", (int)nlen, name);
	snprintf(t->actor, sizeof(t->actor), "%s", tname);
	snprintf(t->repo, sizeof(t->repo), "%s", repo);
	if (fg_settings_repo_path(&t->path, s, repo) < 0) {
		whd_reply_error(r, 500, "error", "out of memory");
		goto out;
	}
	if (stat(t->path, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		snprintf(msg, sizeof(msg), "unknown repository '%s'", repo);
		whd_reply_error(r, 404, "not_found", msg);
		goto out;
	}
	if (op == OP_FLOWS) {
		q = whd_query(r, "all");
		if (q != NULL && strcmp(q, "1") != 0 && strcmp(q, "0") != 0 &&
		    strcmp(q, "true") != 0 && strcmp(q, "false") != 0) {
			whd_reply_error(r, 400, "invalid", "all must be 1 or 0");
			goto out;
		}
		t->all = q != NULL && (strcmp(q, "1") == 0 ||
		    strcmp(q, "true") == 0);
	} else if (op == OP_ACTIVITY) {
		q = whd_query(r, "limit");
		if (q != NULL && fg_parse_int(&num, q, 1,
		    FG_FLOWCTL_ACTIVITY_MAX, NULL) < 0) {
			whd_reply_error(r, 400, "invalid", "limit must be a "
			    "number from 1 to 1000");
			goto out;
		}
		t->limit = q != NULL ? (size_t)num : 0;
	}
	if (post_only) {
		def = op == OP_LEASE ? "lease" : op == OP_RELEASE ? "release" :
		    op == OP_RUN ? "flow_run" : "flow_toggle";
		if (read_body(&body, r, def) < 0)
			goto out;
		v = cJSON_GetObjectItemCaseSensitive(body, "holder");
		if (cJSON_IsString(v))
			snprintf(t->holder, sizeof(t->holder), "%s",
			    v->valuestring);
		v = cJSON_GetObjectItemCaseSensitive(body, "reset");
		if (cJSON_IsFalse(v))
			t->reset = false;
		t->inputs = cJSON_DetachItemFromObjectCaseSensitive(body,
		    "inputs");
	}
	t->r = r;
	t->t.run = task_run;
	t->t.done = task_done;
	whd_pool_submit(r->d->pool, &t->t);
	t = NULL;
out:
	free(q);
	cJSON_Delete(body);
	ftask_free(t);
	return true;
}
