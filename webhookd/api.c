/*
 * api.c - the REST API under /api/v1/repos/{owner}/{name}/.
 *
 *   GET  pipeline                  the repository's stages (its config)
 *   GET  activity?limit=&kind=&event=
 *                                  refs/flowgate/activity, newest first
 *   GET  envs/{env}/deployments?limit=
 *                                  refs/flowgate/envs/<env>, newest first
 *   GET  pulls/{n}                 refs/flowgate/pulls/<n>:pull.json
 *   POST statuses                  {sha, context, state, description,
 *                                  url} (schemas/api.schema.json): goes
 *                                  through the inbox like a webhook, and
 *                                  becomes the commit's status note
 *   POST promote, approve, rollback
 *                                  see api_promote.c
 *
 * Deployments and reset are in api_deploy.c, flows and sandbox pools in
 * api_flows.c.
 *
 * Every request needs "Authorization: Bearer <token>" whose hash is in
 * the settings (401 otherwise, before anything else is looked at, so the
 * API does not tell which repositories exist); GET needs the read role,
 * POST operate (403).  Reads run on the task pool: the loop never waits
 * on the repository.
 */
#include <stdarg.h>
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
#include "inbox.h"
#include "pipeline.h"
#include "pool.h"
#include "schema.h"
#include "template.h"
#include "store.h"
#include "util.h"
#include "whd.h"
#include "banned.h"

/* api_flows.c: flows and pools; true when it answered r. */
bool whd_api_flows_handle(struct whd_req *r, const char *repo,
    const char *sub, int role, const char *tname);

#define API_LIMIT_DEFAULT 50
#define API_LIMIT_MAX 1000
/* Largest POST body. */
#define API_BODY_MAX (64 * 1024)

enum api_op {
	API_PIPELINE,
	API_ACTIVITY,
	API_DEPLOYMENTS,
	API_PULL,
};

struct api_task {
	struct whd_task t;
	struct whd_req *r;
	enum api_op op;
	char *repo;
	char *path;
	char arg[256];			/* env name, pull number */
	char kind[65], event[65];
	size_t limit;
	struct whd_answer ans;
};

static void reply_msg(struct whd_req *r, int code, const char *result,
    const char *fmt, ...) FG_PRINTF(4, 5);

static void
reply_msg(struct whd_req *r, int code, const char *result, const char *fmt,
    ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	whd_reply_error(r, code, result, msg);
}

static void
run_pipeline(struct api_task *at)
{
	const struct fg_stage *order[FG_STAGE_COUNT];
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	struct fg_config *cfg = NULL;
	git_repository *repo = NULL;
	cJSON *root = NULL, *stages, *o, *envs;
	const struct fg_stage *to;
	size_t i, j, n;
	int rc;

	if (git_repository_open_bare(&repo, at->path) < 0) {
		whd_answer_error(&at->ans, 404, "not_found", "cannot open the repository");
		goto out;
	}
	rc = fg_config_load(&cfg, repo, &d, &err);
	if (rc == FG_ENOTFOUND) {
		whd_answer_error(&at->ans, 404, "not_found", "the repository has no "
		    "refs/flowgate/config: run flowgate init");
		goto out;
	}
	if (rc < 0) {
		whd_answer_error(&at->ans, 409, "conflict", d.n > 0 ? d.lines[0] :
		    err.msg);
		goto out;
	}
	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "repo", at->repo);
	cJSON_AddStringToObject(root, "template", cfg->tmpl->name);
	stages = cJSON_AddArrayToObject(root, "stages");
	n = fg_pipeline_order(cfg, order);
	for (i = 0; i < n && stages != NULL; i++) {
		o = cJSON_CreateObject();
		cJSON_AddItemToArray(stages, o);
		cJSON_AddStringToObject(o, "name", fg_stage_name(order[i]->id));
		if (order[i]->branch != NULL)
			cJSON_AddStringToObject(o, "branch", order[i]->branch);
		envs = cJSON_AddArrayToObject(o, "environments");
		for (j = 0; j < order[i]->envs.n; j++)
			cJSON_AddItemToArray(envs,
			    cJSON_CreateString(order[i]->envs.v[j]));
		if (order[i]->pool != NULL)
			cJSON_AddStringToObject(o, "pool", order[i]->pool);
		to = fg_pipeline_target(cfg, order[i]);
		if (to != NULL)
			cJSON_AddStringToObject(o, "promotes_to",
			    fg_stage_name(to->id));
		cJSON_AddNumberToObject(o, "gates", (double)order[i]->ngates);
	}
	whd_api_deploy_envs(root, cfg, at->path);
	whd_answer_json(&at->ans, 200, "ok", root);
out:
	cJSON_Delete(root);
	fg_config_free(cfg);
	fg_diags_release(&d);
	git_repository_free(repo);
}

static cJSON *
entry_json(const struct fg_store_entry *e)
{
	static const char *const keys[][2] = {
		{ "kind", "Flowgate-Kind" }, { "event", "Flowgate-Event" },
		{ "status", "Flowgate-Status" }, { "commit", "Flowgate-Commit" },
		{ "delivery", "Flowgate-Delivery" }, { "env", "Flowgate-Env" },
		{ "stage", "Flowgate-Stage" },
	};
	cJSON *o = cJSON_CreateObject();
	char id[41], t[32];
	const char *v;
	size_t i;

	git_oid_tostr(id, sizeof(id), &e->id);
	fg_format_utc(t, sizeof(t), e->time);
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "time", t);
	cJSON_AddStringToObject(o, "subject", e->subject);
	cJSON_AddStringToObject(o, "actor", e->author_name);
	for (i = 0; i < FG_ARRAY_SIZE(keys); i++) {
		v = fg_store_entry_get(e, keys[i][1]);
		if (v != NULL)
			cJSON_AddStringToObject(o, keys[i][0], v);
	}
	return o;
}

static void
run_log(struct api_task *at, const char *ref, const char *file)
{
	struct fg_store_query q;
	const struct fg_store_entry *e;
	struct fg_store_iter *it = NULL;
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	struct fg_buf b = FG_BUF_INIT;
	cJSON *root = cJSON_CreateArray(), *o, *data;

	if (fg_store_open(&st, at->path, FG_STORE_NO_MAINTAIN, &err) < 0) {
		whd_answer_error(&at->ans, 500, "error", err.msg);
		goto out;
	}
	memset(&q, 0, sizeof(q));
	q.limit = at->limit;
	q.kind = at->kind;
	q.event = at->event;
	if (fg_store_iter_new(&it, st, ref, &q, &err) < 0) {
		whd_answer_error(&at->ans, 500, "error", err.msg);
		goto out;
	}
	for (;;) {
		if (fg_store_iter_next(&e, it, &err) < 0) {
			whd_answer_error(&at->ans, 500, "error", err.msg);
			goto out;
		}
		if (e == NULL)
			break;
		o = entry_json(e);
		cJSON_AddItemToArray(root, o);
		fg_buf_reset(&b);
		if (file != NULL && fg_store_read_file_at(&b, st, &e->id, file,
		    NULL) == 0 && fg_json_parse(&data, b.ptr, b.len,
		    NULL) == 0)
			cJSON_AddItemToObject(o, "record", data);
	}
	whd_answer_json(&at->ans, 200, "ok", root);
out:
	fg_buf_release(&b);
	cJSON_Delete(root);
	fg_store_iter_free(it);
	fg_store_free(st);
}

static void
run_pull(struct api_task *at)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	struct fg_buf b = FG_BUF_INIT;
	char ref[300];
	int rc;

	snprintf(ref, sizeof(ref), "refs/flowgate/pulls/%s", at->arg);
	if (fg_store_open(&st, at->path, FG_STORE_NO_MAINTAIN, &err) < 0) {
		whd_answer_error(&at->ans, 500, "error", err.msg);
		goto out;
	}
	rc = fg_store_read_file(&b, st, ref, "pull.json", &err);
	if (rc == FG_ENOTFOUND) {
		whd_answer_error(&at->ans, 404, "not_found", "no such pull request");
		goto out;
	}
	if (rc < 0) {
		whd_answer_error(&at->ans, 500, "error", err.msg);
		goto out;
	}
	fg_buf_reset(&at->ans.out);
	while (b.len > 0 && (b.ptr[b.len - 1] == '\n' ||
	    b.ptr[b.len - 1] == '\t' || b.ptr[b.len - 1] == ' '))
		b.len--;
	/* pull.json is pretty-printed; the answer is one line. */
	{
		cJSON *j = NULL;

		if (fg_json_parse(&j, b.ptr, b.len, &err) < 0) {
			whd_answer_error(&at->ans, 500, "error", err.msg);
			goto out;
		}
		whd_answer_json(&at->ans, 200, "ok", j);
		cJSON_Delete(j);
	}
out:
	fg_buf_release(&b);
	fg_store_free(st);
}

static void
api_run(struct whd_task *t)
{
	struct api_task *at = (struct api_task *)t;
	char ref[300];

	switch (at->op) {
	case API_PIPELINE:
		run_pipeline(at);
		break;
	case API_ACTIVITY:
		run_log(at, "refs/flowgate/activity", NULL);
		break;
	case API_DEPLOYMENTS:
		snprintf(ref, sizeof(ref), "refs/flowgate/envs/%s", at->arg);
		run_log(at, ref, "deployment.json");
		break;
	case API_PULL:
		run_pull(at);
		break;
	}
}

static void
api_done(struct whd_task *t)
{
	struct api_task *at = (struct api_task *)t;

	whd_reply(at->r, at->ans.code, at->ans.result, at->ans.out.ptr);
	fg_buf_release(&at->ans.out);
	free(at->repo);
	free(at->path);
	free(at);
}

/* A name safe in a ref: [A-Za-z0-9._-], 1 to 64 bytes, not starting '.'. */
static bool
is_name(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 64 || s[0] == '.')
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		    s[i] == '_' || s[i] == '-'))
			return false;
	return !(n >= 5 && strcmp(s + n - 5, ".lock") == 0);
}

void
whd_reply_queued(struct whd_req *r, struct whd_delivery *dl,
    const char *what, const char *fields)
{
	struct fg_buf b = FG_BUF_INIT;
	bool dup = dl->result == WHD_DUPLICATE;

	if (dl->result == WHD_ACCEPTED || dup) {
		fg_buf_printf(&b, "{\"status\":\"%s\",%s}",
		    dup ? "duplicate" : "accepted", fields);
		whd_reply(r, dup ? 200 : 202, dup ? "duplicate" : "accepted",
		    b.ptr);
	} else {
		fg_buf_printf(&b, "cannot record the %s: %s", what,
		    dl->err.msg);
		whd_reply_error(r, 500, "error", b.ptr);
	}
	fg_buf_release(&b);
	whd_delivery_free(dl);
}

static void
status_done(struct whd_delivery *dl, void *arg)
{
	struct fg_buf f = FG_BUF_INIT;

	fg_buf_puts(&f, "\"id\":");
	whd_json_str(&f, dl->id);
	whd_reply_queued(arg, dl, "status", f.ptr);
	fg_buf_release(&f);
}

/*
 * POST statuses: validate against api.schema.json's status, make it a
 * status event, and send it through the inbox like any delivery, so the
 * engine writes the note and the activity record in order with the rest.
 */
static void
post_status(struct whd_req *r, const char *repo, const char *path)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	struct fg_event ev = FG_EVENT_INIT;
	struct whd_delivery *dl = NULL;
	cJSON *schema = NULL, *body = NULL, *json = NULL;
	const cJSON *status;
	unsigned char rnd[12];
	char id[64];
	const char *key, *ct = whd_header(r, "Content-Type");
	size_t len = evbuffer_get_length(in), i;
	int rc;

	if (ct == NULL || strncmp(ct, "application/json", 16) != 0) {
		whd_reply_error(r, 415, "unsupported_type", "content type must "
		    "be application/json");
		goto out;
	}
	if (len > API_BODY_MAX) {
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
	status = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(schema, "$defs"), "status");
	if (fg_schema_validate(status, body, NULL, "body", &d) < 0) {
		whd_reply_error(r, 400, "invalid", d.n > 0 ? d.lines[0] :
		    "invalid body");
		goto out;
	}
	key = whd_header(r, "Idempotency-Key");
	if (key != NULL && *key != '\0') {
		snprintf(id, sizeof(id), "api-%s", key);
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
	ev.kind = FG_EVENT_STATUS;
	ev.time = fg_now();
	rc = 0;
	if (rc == 0)
		rc = fg_event_set(&ev, FG_EVENT_F_REPO, repo, &err);
	if (rc == 0)
		rc = fg_event_set(&ev, FG_EVENT_F_EVENT, "api_status", &err);
	if (rc == 0)
		rc = fg_event_set(&ev, FG_EVENT_F_SHA, cJSON_GetObjectItem(body,
		    "sha")->valuestring, &err);
	if (rc == 0)
		rc = fg_event_set(&ev, FG_EVENT_F_CONTEXT,
		    cJSON_GetObjectItem(body, "context")->valuestring, &err);
	if (rc == 0)
		rc = fg_event_set(&ev, FG_EVENT_F_STATE,
		    cJSON_GetObjectItem(body, "state")->valuestring, &err);
	if (rc == 0 && cJSON_IsString(cJSON_GetObjectItem(body,
	    "description")))
		rc = fg_event_set(&ev, FG_EVENT_F_DESCRIPTION,
		    cJSON_GetObjectItem(body, "description")->valuestring,
		    &err);
	if (rc == 0 && cJSON_IsString(cJSON_GetObjectItem(body, "url")))
		rc = fg_event_set(&ev, FG_EVENT_F_TARGET_URL,
		    cJSON_GetObjectItem(body, "url")->valuestring, &err);
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
		dl->kind = fg_strdup("status");
		dl->event_json = cJSON_PrintUnformatted(json);
		dl->body = malloc(len + 1);
	}
	if (dl == NULL || dl->repo == NULL || dl->path == NULL ||
	    dl->id == NULL || dl->kind == NULL || dl->event_json == NULL ||
	    dl->body == NULL) {
		whd_reply_error(r, 500, "error", "out of memory");
		goto out;
	}
	memcpy(dl->body, evbuffer_pullup(in, -1), len);
	dl->body[len] = '\0';
	dl->len = len;
	dl->time = ev.time;
	dl->done = status_done;
	dl->arg = r;
	rc = whd_inbox_submit(r->d->inbox, dl);
	if (rc < 0) {
		whd_reply_error(r, 503, "unavailable", "too many deliveries "
		    "waiting for the disk: try again later");
		goto out;
	}
	dl = NULL;	/* status_done answers */
out:
	whd_delivery_free(dl);
	cJSON_Delete(json);
	cJSON_Delete(body);
	cJSON_Delete(schema);
	fg_diags_release(&d);
	fg_event_release(&ev);
}

void
whd_api_handle(struct whd_req *r, const char *rest)
{
	const struct fg_settings *s = r->d->settings;
	const char *auth = whd_header(r, "Authorization");
	const char *tname = NULL, *p, *owner, *name, *sub;
	struct api_task *at = NULL;
	enum fg_role role;
	char repo[256], *path = NULL, *v = NULL;
	size_t olen, nlen;
	long long num;
	struct stat st;
	bool post;

	role = auth != NULL && strncmp(auth, "Bearer ", 7) == 0 ?
	    fg_settings_token_role(s, auth + 7, &tname) : FG_ROLE_NONE;
	if (role == FG_ROLE_NONE) {
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "WWW-Authenticate", "Bearer");
		whd_reply_error(r, 401, "unauthorized", auth == NULL ?
		    "missing bearer token" : "unknown token");
		return;
	}
	snprintf(r->token, sizeof(r->token), "%s", tname);
	if (strncmp(rest, "repos/", 6) != 0) {
		whd_reply_error(r, 404, "not_found", "no such route");
		return;
	}
	owner = rest + 6;
	p = strchr(owner, '/');
	name = p != NULL ? p + 1 : NULL;
	p = name != NULL ? strchr(name, '/') : NULL;
	if (p == NULL) {
		whd_reply_error(r, 404, "not_found", "no such route");
		return;
	}
	olen = (size_t)(name - 1 - owner);
	nlen = (size_t)(p - name);
	sub = p + 1;
	if (!is_name(owner, olen) || !is_name(name, nlen)) {
		whd_reply_error(r, 404, "not_found", "no such repository");
		return;
	}
	snprintf(repo, sizeof(repo), "%.*s/%.*s", (int)olen, owner, (int)nlen,
	    name);
	snprintf(r->repo, sizeof(r->repo), "%s", repo);
	if (whd_api_promote_route(sub)) {
		whd_api_promote(r, repo, sub, role, tname);
		return;
	}
	if (whd_api_deploy_handle(r, repo, sub, (int)role, tname) ||
	    whd_api_flows_handle(r, repo, sub, (int)role, tname))
		return;
	post = r->cmd == EVHTTP_REQ_POST;
	if (strcmp(sub, "statuses") == 0) {
		if (!post) {
			evhttp_add_header(evhttp_request_get_output_headers(
			    r->req), "Allow", "POST");
			whd_reply_error(r, 405, "method", "method not allowed: "
			    "use POST");
			return;
		}
		if (role < FG_ROLE_OPERATE) {
			reply_msg(r, 403, "forbidden", "token '%s' may only "
			    "read: posting a status needs the operate role",
			    tname);
			return;
		}
	} else if (r->cmd != EVHTTP_REQ_GET && r->cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Allow", "GET, HEAD");
		whd_reply_error(r, 405, "method", "method not allowed: use GET");
		return;
	}
	if (fg_settings_repo_path(&path, s, repo) < 0) {
		whd_reply_error(r, 500, "error", "out of memory");
		return;
	}
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		reply_msg(r, 404, "not_found", "unknown repository '%s'", repo);
		goto out;
	}
	if (post) {
		post_status(r, repo, path);
		goto out;
	}
	at = calloc(1, sizeof(*at));
	if (at == NULL) {
		whd_reply_error(r, 500, "error", "out of memory");
		goto out;
	}
	fg_buf_init(&at->ans.out);
	at->limit = API_LIMIT_DEFAULT;
	if (strcmp(sub, "pipeline") == 0) {
		at->op = API_PIPELINE;
	} else if (strcmp(sub, "activity") == 0) {
		at->op = API_ACTIVITY;
		v = whd_query(r, "limit");
		if (v != NULL && fg_parse_int(&num, v, 1, API_LIMIT_MAX,
		    NULL) < 0) {
			whd_reply_error(r, 400, "invalid", "limit must be a "
			    "number from 1 to 1000");
			goto out;
		}
		if (v != NULL)
			at->limit = (size_t)num;
		free(v);
		v = whd_query(r, "kind");
		if (v != NULL && !is_name(v, strlen(v))) {
			whd_reply_error(r, 400, "invalid", "bad kind");
			goto out;
		}
		snprintf(at->kind, sizeof(at->kind), "%s", v != NULL ? v : "");
		free(v);
		v = whd_query(r, "event");
		if (v != NULL && !is_name(v, strlen(v))) {
			whd_reply_error(r, 400, "invalid", "bad event");
			goto out;
		}
		snprintf(at->event, sizeof(at->event), "%s", v != NULL ? v :
		    "");
	} else if (strncmp(sub, "envs/", 5) == 0 && strchr(sub + 5, '/') !=
	    NULL && strcmp(strchr(sub + 5, '/'), "/deployments") == 0 &&
	    is_name(sub + 5, (size_t)(strchr(sub + 5, '/') - sub - 5))) {
		at->op = API_DEPLOYMENTS;
		snprintf(at->arg, sizeof(at->arg), "%.*s",
		    (int)(strchr(sub + 5, '/') - sub - 5), sub + 5);
	} else if (strncmp(sub, "pulls/", 6) == 0 &&
	    fg_parse_int(&num, sub + 6, 1, FG_EVENT_PR_MAX, NULL) == 0) {
		at->op = API_PULL;
		snprintf(at->arg, sizeof(at->arg), "%lld", num);
	} else {
		whd_reply_error(r, 404, "not_found", "no such route");
		goto out;
	}
	at->r = r;
	at->repo = fg_strdup(repo);
	at->path = path;
	path = NULL;
	at->t.run = api_run;
	at->t.done = api_done;
	if (at->repo == NULL) {
		whd_reply_error(r, 500, "error", "out of memory");
		goto out;
	}
	whd_pool_submit(r->d->pool, &at->t);
	at = NULL;
out:
	if (at != NULL) {
		fg_buf_release(&at->ans.out);
		free(at->repo);
		free(at->path);
		free(at);
	}
	free(v);
	free(path);
}
