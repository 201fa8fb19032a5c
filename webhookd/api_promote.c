/*
 * api_promote.c - the promotion endpoints of the REST API, under
 * /api/v1/repos/{owner}/{name}/ (see api.c for the rest):
 *
 *   POST promote   {change, to, dry_run} (schemas/api.schema.json)
 *                  dry_run: the verdict at once, 200 with the result
 *                  (lib/promote.h's JSON); else the request goes through
 *                  the inbox like a webhook, is answered 202 with its
 *                  run id once on disk, and the worker runs it
 *                  (engine.c); its outcome lands in the activity log
 *                  under Flowgate-Run: <run>
 *   POST approve   {change, stage}: the token's name approves the change
 *                  for the stage's manual gate; 200, 403 when the name is
 *                  not one of the gate's approvers (or admins)
 *   POST rollback  {env, to, force, dry_run}: as promote; force needs an
 *                  admin token
 *
 * All need the operate role.  The acting user is the token's name.  Work
 * that reads the repository runs on the task pool, never on the loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <git2.h>
#include <openssl/rand.h>

#include "api_promote.h"
#include "config.h"
#include "event.h"
#include "facts.h"
#include "inbox.h"
#include "pipeline.h"
#include "pool.h"
#include "promote.h"
#include "schema.h"
#include "settings.h"
#include "store.h"
#include "util.h"
#include "whd.h"
#include "banned.h"

#define BODY_MAX (64 * 1024)

enum op {
	OP_DRY_RUN,
	OP_APPROVE,
};

struct task {
	struct whd_task t;
	struct whd_req *r;
	enum op op;
	char *path;
	cJSON *body;
	char actor[128];
	bool admin;
	struct whd_answer ans;
};

bool
whd_api_promote_route(const char *sub)
{
	return strcmp(sub, "promote") == 0 || strcmp(sub, "approve") == 0 ||
	    strcmp(sub, "rollback") == 0;
}

static const char *
str_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool
is_true(const cJSON *o, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* Open the store and load the config; a task error when it fails. */
static int
open_repo(struct task *t, struct fg_store **st, struct fg_config **cfg)
{
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	int rc;

	*st = NULL;
	*cfg = NULL;
	rc = fg_store_open(st, t->path, 0, &err);
	if (rc == 0)
		rc = fg_config_load(cfg, fg_store_repo(*st), &d, &err);
	if (rc < 0)
		whd_answer_error(&t->ans, rc == FG_ENOTFOUND ? 404 : 409, rc ==
		    FG_ENOTFOUND ? "not_found" : "conflict", d.n > 0 ?
		    d.lines[0] : err.msg);
	fg_diags_release(&d);
	return rc;
}

static void
run_dry(struct task *t)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_promote_req req;
	struct fg_promote_result res;
	struct fg_config *cfg = NULL;
	struct fg_store *st = NULL;
	cJSON *j = NULL;
	char *text = NULL;
	bool rollback = str_of(t->body, "env") != NULL;
	int rc;

	fg_promote_result_init(&res);
	if (open_repo(t, &st, &cfg) < 0)
		goto out;
	memset(&req, 0, sizeof(req));
	req.cfg = cfg;
	req.actor = t->actor;
	req.trigger = "api";
	req.dry_run = true;
	req.admin = t->admin;
	if (rollback) {
		req.to = str_of(t->body, "env");
		req.change = str_of(t->body, "to");
		req.force = is_true(t->body, "force");
		rc = fg_promote_rollback(&res, st, &req, &err);
	} else {
		req.change = str_of(t->body, "change");
		req.to = str_of(t->body, "to");
		rc = fg_promote_run(&res, st, &req, &err);
	}
	if (rc < 0) {
		whd_answer_err(&t->ans, &err);
		goto out;
	}
	if (fg_promote_to_json(&j, &res) == 0)
		text = cJSON_PrintUnformatted(j);
	if (text == NULL) {
		whd_answer_error(&t->ans, 500, "error", "out of memory");
		goto out;
	}
	fg_buf_reset(&t->ans.out);
	fg_buf_puts(&t->ans.out, text);
	t->ans.code = 200;
	t->ans.result = "ok";
out:
	cJSON_free(text);
	cJSON_Delete(j);
	fg_promote_result_release(&res);
	fg_config_free(cfg);
	fg_store_free(st);
}

static void
run_approve(struct task *t)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_config *cfg = NULL;
	struct fg_store *st = NULL;
	const struct fg_stage *stage;
	const char *sname = str_of(t->body, "stage");
	char what[64], hex[GIT_OID_HEXSZ + 1];
	git_oid id;
	int rc;

	if (open_repo(t, &st, &cfg) < 0)
		goto out;
	stage = fg_pipeline_stage(cfg, sname);
	if (stage == NULL || !stage->configured) {
		fg_err_set(&err, FG_ENOTFOUND, "no stage '%s' in this "
		    "pipeline", sname);
		whd_answer_error(&t->ans, 404, "not_found", err.msg);
		goto out;
	}
	if (!fg_facts_may_approve(cfg, stage, t->actor)) {
		fg_err_set(&err, FG_EDENIED, "'%s' may not approve changes for "
		    "%s (its manual gate's approvers, or the admins, may)",
		    t->actor, sname);
		whd_answer_error(&t->ans, 403, "forbidden", err.msg);
		goto out;
	}
	rc = fg_promote_resolve(&id, what, sizeof(what), fg_store_repo(st),
	    cfg, str_of(t->body, "change"), &err);
	if (rc == 0)
		rc = fg_facts_approve(st, &id, sname, t->actor, fg_now(),
		    &err);
	if (rc < 0) {
		whd_answer_err(&t->ans, &err);
		goto out;
	}
	git_oid_tostr(hex, sizeof(hex), &id);
	fg_buf_reset(&t->ans.out);
	fg_buf_printf(&t->ans.out, "{\"approved\":\"%s\",\"stage\":", hex);
	whd_json_str(&t->ans.out, sname);
	fg_buf_puts(&t->ans.out, ",\"user\":");
	whd_json_str(&t->ans.out, t->actor);
	fg_buf_puts(&t->ans.out, ",\"what\":");
	whd_json_str(&t->ans.out, what);
	fg_buf_putc(&t->ans.out, '}');
	t->ans.code = 200;
	t->ans.result = "ok";
out:
	fg_config_free(cfg);
	fg_store_free(st);
}

static void
task_run(struct whd_task *wt)
{
	struct task *t = (struct task *)wt;

	if (t->op == OP_APPROVE)
		run_approve(t);
	else
		run_dry(t);
}

static void
task_free(struct task *t)
{
	if (t == NULL)
		return;
	fg_buf_release(&t->ans.out);
	cJSON_Delete(t->body);
	free(t->path);
	free(t);
}

static void
task_done(struct whd_task *wt)
{
	struct task *t = (struct task *)wt;

	whd_reply(t->r, t->ans.code, t->ans.result, t->ans.out.ptr);
	task_free(t);
}

static void
queued_done(struct whd_delivery *dl, void *arg)
{
	struct fg_buf f = FG_BUF_INIT;

	fg_buf_puts(&f, "\"run\":");
	whd_json_str(&f, dl->id);
	fg_buf_puts(&f, ",\"id\":");
	whd_json_str(&f, dl->id);
	whd_reply_queued(arg, dl, "request", f.ptr);
	fg_buf_release(&f);
}

/*
 * A real promotion or rollback: into the inbox as an event the engine
 * knows (event "api_promote" or "api_rollback"), whose payload is the
 * request with the acting token's name; answered once it is on disk.
 */
static void
queue_request(struct whd_req *r, const char *repo, const char *path,
    const char *sub, cJSON *body, bool admin)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_event ev;
	struct whd_delivery *dl = NULL;
	cJSON *json = NULL;
	unsigned char rnd[12];
	char id[64], *payload = NULL;
	const char *key = whd_header(r, "Idempotency-Key");
	size_t i;
	int rc;

	memset(&ev, 0, sizeof(ev));
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
	cJSON_DeleteItemFromObjectCaseSensitive(body, "actor");
	cJSON_DeleteItemFromObjectCaseSensitive(body, "admin");
	if (cJSON_AddStringToObject(body, "actor", r->token) != NULL &&
	    cJSON_AddBoolToObject(body, "admin", admin) != NULL)
		payload = cJSON_PrintUnformatted(body);
	if (payload == NULL) {
		whd_reply_error(r, 500, "error", "out of memory");
		goto out;
	}
	ev.source = FG_FORGE_CLI;
	ev.kind = FG_EVENT_IGNORED;
	ev.time = fg_now();
	rc = fg_event_set(&ev, FG_EVENT_F_REPO, repo, &err);
	if (rc == 0)
		rc = fg_event_set(&ev, FG_EVENT_F_EVENT, strcmp(sub,
		    "rollback") == 0 ? "api_rollback" : "api_promote", &err);
	if (rc == 0)
		rc = fg_event_set(&ev, FG_EVENT_F_ACTOR, r->token, &err);
	if (rc == 0)
		rc = fg_event_set_delivery(&ev, id, &err);
	if (rc == 0)
		rc = fg_event_to_json(&json, &ev, &err);
	if (rc < 0) {
		whd_reply_error(r, rc == FG_ENOMEM ? 500 : 400, "invalid",
		    err.msg);
		goto out;
	}
	snprintf(r->delivery, sizeof(r->delivery), "%s", id);
	dl = calloc(1, sizeof(*dl));
	if (dl != NULL) {
		dl->repo = fg_strdup(repo);
		dl->path = fg_strdup(path);
		dl->id = fg_strdup(id);
		dl->kind = fg_strdup(sub);
		dl->event_json = cJSON_PrintUnformatted(json);
		dl->body = fg_strdup(payload);
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
	cJSON_free(payload);
	cJSON_Delete(json);
	fg_event_release(&ev);
}

void
whd_api_promote(struct whd_req *r, const char *repo, const char *sub,
    enum fg_role role, const char *tname)
{
	const struct fg_settings *s = r->d->settings;
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	const char *ct = whd_header(r, "Content-Type");
	const cJSON *def;
	cJSON *body = NULL, *schema = NULL;
	struct task *t = NULL;
	char *path = NULL;
	size_t len = evbuffer_get_length(in);
	struct stat sb;
	char msg[256];
	bool rollback = strcmp(sub, "rollback") == 0;

	if (r->cmd != EVHTTP_REQ_POST) {
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Allow", "POST");
		whd_reply_error(r, 405, "method", "method not allowed: use "
		    "POST");
		return;
	}
	if (role < FG_ROLE_OPERATE) {
		snprintf(msg, sizeof(msg), "token '%s' may only read: %s needs "
		    "the operate role", tname, sub);
		whd_reply_error(r, 403, "forbidden", msg);
		return;
	}
	if (fg_settings_repo_path(&path, s, repo) < 0) {
		whd_reply_error(r, 500, "error", "out of memory");
		return;
	}
	if (stat(path, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		snprintf(msg, sizeof(msg), "unknown repository '%s'", repo);
		whd_reply_error(r, 404, "not_found", msg);
		goto out;
	}
	if (ct == NULL || strncmp(ct, "application/json", 16) != 0) {
		whd_reply_error(r, 415, "unsupported_type", "content type must "
		    "be application/json");
		goto out;
	}
	if (len > BODY_MAX) {
		whd_reply_error(r, 413, "too_large", "body over 64 KB");
		goto out;
	}
	if (fg_json_parse(&body, (const char *)evbuffer_pullup(in, -1), len,
	    &err) < 0) {
		whd_reply_error(r, 400, "invalid", err.msg);
		goto out;
	}
	if (fg_schema_load(&schema, "api.schema.json", &err) < 0) {
		whd_reply_error(r, 500, "error", err.msg);
		goto out;
	}
	def = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(schema, "$defs"), sub);
	if (fg_schema_validate(def, body, NULL, "body", &d) < 0) {
		whd_reply_error(r, 400, "invalid", d.n > 0 ? d.lines[0] :
		    "invalid body");
		goto out;
	}
	if (rollback && is_true(body, "force") && role < FG_ROLE_ADMIN) {
		snprintf(msg, sizeof(msg), "token '%s' is not an admin: a "
		    "forced rollback needs the admin role", tname);
		whd_reply_error(r, 403, "forbidden", msg);
		goto out;
	}
	if (strcmp(sub, "approve") != 0 && !is_true(body, "dry_run")) {
		queue_request(r, repo, path, sub, body, role >= FG_ROLE_ADMIN);
		goto out;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		whd_reply_error(r, 500, "error", "out of memory");
		goto out;
	}
	fg_buf_init(&t->ans.out);
	t->r = r;
	t->op = strcmp(sub, "approve") == 0 ? OP_APPROVE : OP_DRY_RUN;
	t->path = path;
	path = NULL;
	t->body = body;
	body = NULL;
	t->admin = role >= FG_ROLE_ADMIN;
	snprintf(t->actor, sizeof(t->actor), "%s", tname);
	t->t.run = task_run;
	t->t.done = task_done;
	whd_pool_submit(r->d->pool, &t->t);
out:
	cJSON_Delete(body);
	cJSON_Delete(schema);
	fg_diags_release(&d);
	free(path);
}
