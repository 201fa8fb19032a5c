/*
 * api_deploy.c - deployments through the REST API, under
 * /api/v1/repos/{owner}/{name}/ (docs/webhookd.md):
 *
 *   POST envs/{env}/deploy    {commit, wait} (schemas/api.schema.json
 *                             $defs.deploy, both optional): 202
 *                             {status: "accepted", env, commit, run} once
 *                             the environment and commit are known and the
 *                             environment is idle (or wait > 0); 409 with
 *                             the running deployment when busy.  The
 *                             deployment then runs on its own thread; GET
 *                             envs/{env} and the activity log tell how it
 *                             ended.
 *   GET  envs/{env}           {env, deployment}: the current deployment
 *                             (deployment.json, record, subject) or null
 *   POST pipeline/reset       (empty body or {}): 200 {status: "reset",
 *                             environments: N}; 409 while one deploys
 *
 * POSTs need the operate role, GET the read role; the actor of a
 * deployment or reset is the token's name.  GET pipeline (api.c) lists
 * the environments' deployments through whd_api_deploy_envs().
 *
 * Threads.  The loop only parses and checks the body.  Looking at the
 * repository runs on the task pool; a deployment, which may take its
 * whole time limit, runs on a detached thread of its own so it never
 * holds a pool thread that API reads need.  A stopping daemon waits for
 * them to end (whd_deploy_wait_all: at most their time limits).  One
 * killed while a deployment runs leaves its "started" record; the next
 * start marks it interrupted (whd_deploy_recover_all).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <git2.h>
#include <openssl/rand.h>

#include "config.h"
#include "deploy.h"
#include "flows.h"
#include "log.h"
#include "pipeline.h"
#include "pool.h"
#include "schema.h"
#include "store.h"
#include "util.h"
#include "whd.h"
#include "banned.h"

#define BODY_MAX	(64 * 1024)
#define WAIT_MAX	3600

/* Deployments running on their own threads (whd_deploy_wait_all). */
static pthread_mutex_t running_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t running_cv = PTHREAD_COND_INITIALIZER;
static int running;

enum dop {
	OP_DEPLOY,
	OP_ENV,
	OP_RESET,
};

struct dtask {
	struct whd_task t;
	struct whd_req *r;
	enum dop op;
	char *repo;
	char *path;
	char env[64];
	char spec[257];			/* the body's commit; "" none */
	char actor[65];
	char run[33];
	int wait;
	/* Results, for done() and the deployment's thread. */
	struct whd_answer ans;
	struct fg_config *cfg;
	git_oid commit;
	char ref[1024];
};

static void
dtask_free(struct dtask *t)
{
	if (t == NULL)
		return;
	fg_buf_release(&t->ans.out);
	fg_config_free(t->cfg);
	free(t->repo);
	free(t->path);
	free(t);
}

/* The branch env is deployed from, or NULL (a sandbox of a pool). */
static const char *
branch_of(const struct fg_config *cfg, const char *env)
{
	size_t s, i;

	for (s = 0; s < FG_STAGE_COUNT; s++) {
		const struct fg_stage *st = &cfg->stages[s];

		if (!st->configured || st->branch == NULL)
			continue;
		for (i = 0; i < st->envs.n; i++)
			if (strcmp(st->envs.v[i], env) == 0)
				return st->branch;
	}
	return NULL;
}

static int
open_all(struct fg_store **st, struct fg_config **cfg, struct dtask *t)
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

/* What to deploy: the body's commit (any revision) or the branch tip. */
static int
resolve(struct dtask *t, git_repository *repo)
{
	git_object *obj = NULL, *peeled = NULL;
	git_reference *ref = NULL, *direct = NULL;
	const char *branch;
	char msg[512];
	int rc = -1;

	if (t->spec[0] == '\0') {
		branch = branch_of(t->cfg, t->env);
		snprintf(t->ref, sizeof(t->ref), "refs/heads/%s",
		    branch != NULL ? branch : "");
		if (branch == NULL) {
			snprintf(msg, sizeof(msg), "environment '%s' belongs "
			    "to no stage with a branch: name the commit",
			    t->env);
			whd_answer_error(&t->ans, 400, "invalid", msg);
		} else if (git_reference_name_to_id(&t->commit, repo,
		    t->ref) < 0) {
			snprintf(msg, sizeof(msg), "branch '%s' does not "
			    "exist yet: name the commit", branch);
			whd_answer_error(&t->ans, 404, "not_found", msg);
		} else {
			rc = 0;
		}
		return rc;
	}
	t->ref[0] = '\0';
	if (git_revparse_ext(&obj, &ref, repo, t->spec) < 0 ||
	    git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) < 0) {
		snprintf(msg, sizeof(msg), "unknown commit '%.64s'", t->spec);
		whd_answer_error(&t->ans, 404, "not_found", msg);
		goto out;
	}
	git_oid_cpy(&t->commit, git_object_id(peeled));
	/* HEAD names the branch it points at. */
	if (ref != NULL && git_reference_type(ref) == GIT_REFERENCE_SYMBOLIC &&
	    git_reference_resolve(&direct, ref) == 0)
		snprintf(t->ref, sizeof(t->ref), "%s",
		    git_reference_name(direct));
	else if (ref != NULL)
		snprintf(t->ref, sizeof(t->ref), "%s", git_reference_name(ref));
	rc = 0;
out:
	git_object_free(peeled);
	git_object_free(obj);
	git_reference_free(direct);
	git_reference_free(ref);
	return rc;
}

/* On a pool thread: may this deployment start?  Keeps cfg for it. */
static void
run_accept(struct dtask *t)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	char msg[512], hex[GIT_OID_HEXSZ + 1];
	cJSON *o = NULL;

	if (open_all(&st, &t->cfg, t) < 0)
		goto out;
	if (fg_pipeline_env(t->cfg, t->env) == NULL) {
		snprintf(msg, sizeof(msg), "unknown environment '%s'", t->env);
		whd_answer_error(&t->ans, 404, "not_found", msg);
		goto out;
	}
	if (resolve(t, fg_store_repo(st)) < 0)
		goto out;
	/* A "started" tip nobody runs must not refuse us. */
	if (fg_deploy_recover(NULL, st, t->cfg, &err) < 0 ||
	    (t->wait == 0 && fg_deploy_check_idle(st, t->env, &err) < 0)) {
		whd_answer_err(&t->ans, &err);
		goto out;
	}
	o = cJSON_CreateObject();
	git_oid_tostr(hex, sizeof(hex), &t->commit);
	cJSON_AddStringToObject(o, "status", "accepted");
	cJSON_AddStringToObject(o, "env", t->env);
	cJSON_AddStringToObject(o, "commit", hex);
	cJSON_AddStringToObject(o, "run", t->run);
	whd_answer_json(&t->ans, 202, "accepted", o);
out:
	cJSON_Delete(o);
	fg_store_free(st);
}

static void
run_env(struct dtask *t)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	cJSON *o = NULL, *d = NULL;
	char msg[512];

	if (open_all(&st, &t->cfg, t) < 0)
		goto out;
	if (fg_pipeline_env(t->cfg, t->env) == NULL) {
		snprintf(msg, sizeof(msg), "unknown environment '%s'", t->env);
		whd_answer_error(&t->ans, 404, "not_found", msg);
		goto out;
	}
	if (fg_deploy_current_json(&d, st, t->env, &err) < 0) {
		whd_answer_err(&t->ans, &err);
		goto out;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "env", t->env);
	cJSON_AddItemToObject(o, "deployment", d);
	whd_answer_json(&t->ans, 200, "ok", o);
out:
	cJSON_Delete(o);
	fg_store_free(st);
}

static void
run_reset(struct dtask *t)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	cJSON *o = NULL;
	size_t n = 0;

	if (open_all(&st, &t->cfg, t) < 0)
		goto out;
	/* The operate role is the authority here, not the config's admins. */
	if (fg_deploy_reset(&n, st, t->cfg, t->actor, false, &err) < 0) {
		whd_answer_err(&t->ans, &err);
		goto out;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "status", "reset");
	cJSON_AddNumberToObject(o, "environments", (double)n);
	whd_answer_json(&t->ans, 200, "ok", o);
out:
	cJSON_Delete(o);
	fg_store_free(st);
}

static void
task_run(struct whd_task *wt)
{
	struct dtask *t = (struct dtask *)wt;

	switch (t->op) {
	case OP_DEPLOY:
		run_accept(t);
		break;
	case OP_ENV:
		run_env(t);
		break;
	case OP_RESET:
		run_reset(t);
		break;
	}
}

/* The deployment itself, on its own thread; owns t. */
static void *
deploy_thread(void *arg)
{
	struct dtask *t = arg;
	struct fg_deploy_req req;
	struct fg_deployment d;
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	int rc;

	memset(&d, 0, sizeof(d));
	fg_buf_init(&d.log);
	rc = fg_store_open(&st, t->path, 0, &err);
	if (rc == 0) {
		memset(&req, 0, sizeof(req));
		req.cfg = t->cfg;
		req.env = t->env;
		req.commit = t->commit;
		req.ref = t->ref;
		req.actor = t->actor;
		req.run = t->run;
		req.wait_secs = t->wait;
		rc = fg_deploy_run(&d, st, &req, &err);
	}
	if (rc < 0)
		fg_log_warnx("deploy repo=%s env=%s run=%s refused: %s",
		    t->repo, t->env, t->run, err.msg);
	else
		whd_flows_notify(t->repo, t->path);	/* deployment flows */
	fg_deployment_release(&d);
	fg_store_free(st);
	dtask_free(t);
	pthread_mutex_lock(&running_mu);
	running--;
	pthread_cond_broadcast(&running_cv);
	pthread_mutex_unlock(&running_mu);
	return NULL;
}

void
whd_deploy_wait_all(void)
{
	pthread_mutex_lock(&running_mu);
	if (running > 0)
		fg_log_info("event=stopping deployments=%d reason=\"waiting "
		    "for them to end\"", running);
	while (running > 0)
		pthread_cond_wait(&running_cv, &running_mu);
	pthread_mutex_unlock(&running_mu);
}

static void
task_done(struct whd_task *wt)
{
	struct dtask *t = (struct dtask *)wt;
	pthread_attr_t attr;
	pthread_t th;
	int rc;

	if (t->op != OP_DEPLOY || t->ans.code != 202) {
		whd_reply(t->r, t->ans.code, t->ans.result, t->ans.out.ptr);
		dtask_free(t);
		return;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* Answer first: the thread owns t, and r is freed by the reply. */
	whd_reply(t->r, t->ans.code, t->ans.result, t->ans.out.ptr);
	t->r = NULL;
	pthread_mutex_lock(&running_mu);
	running++;
	pthread_mutex_unlock(&running_mu);
	rc = pthread_create(&th, &attr, deploy_thread, t);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		pthread_mutex_lock(&running_mu);
		running--;
		pthread_mutex_unlock(&running_mu);
		fg_log_warnx("deploy repo=%s env=%s run=%s: cannot start a "
		    "thread", t->repo, t->env, t->run);
		dtask_free(t);
	}
}

/* Environment names as the config writes them; never a path. */
static bool
is_env(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 63 || !((s[0] >= 'a' && s[0] <= 'z') ||
	    (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		    s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

/*
 * The POST body: nothing, or a JSON object valid against def of
 * api.schema.json.  *out (may stay NULL) is the caller's.  Answers and
 * returns -1 when it is not.
 */
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
	if (len == 0)
		return 0;
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

static void
fresh_run(char out[33])
{
	unsigned char rnd[8];
	size_t i;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0, sizeof(rnd));
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(out + 2 * i, 3, "%02x", rnd[i]);
}

bool
whd_api_deploy_handle(struct whd_req *r, const char *repo, const char *sub,
    int role, const char *tname)
{
	const struct fg_settings *s = r->d->settings;
	const cJSON *v;
	struct dtask *t = NULL;
	struct stat sb;
	cJSON *body = NULL;
	const char *name, *slash;
	size_t nlen;
	enum dop op;
	bool post = r->cmd == EVHTTP_REQ_POST;

	if (strcmp(sub, "pipeline/reset") == 0) {
		op = OP_RESET;
		name = NULL;
		nlen = 0;
	} else if (strncmp(sub, "envs/", 5) == 0) {
		name = sub + 5;
		slash = strchr(name, '/');
		nlen = slash != NULL ? (size_t)(slash - name) : strlen(name);
		if (!is_env(name, nlen)) {
			whd_reply_error(r, 404, "not_found", "no such route");
			return true;
		}
		if (slash == NULL)
			op = OP_ENV;
		else if (strcmp(slash, "/deploy") == 0)
			op = OP_DEPLOY;
		else
			return false;	/* envs/{env}/deployments: api.c */
	} else {
		return false;
	}
	if (op == OP_ENV && r->cmd != EVHTTP_REQ_GET &&
	    r->cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Allow", "GET, HEAD");
		whd_reply_error(r, 405, "method", "method not allowed: use GET");
		return true;
	}
	if (op != OP_ENV && !post) {
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Allow", "POST");
		whd_reply_error(r, 405, "method", "method not allowed: use POST");
		return true;
	}
	if (op != OP_ENV && role < FG_ROLE_OPERATE) {
		char msg[256];

		snprintf(msg, sizeof(msg), "token '%s' may only read: %s needs "
		    "the operate role", tname, op == OP_DEPLOY ? "deploying" :
		    "resetting the pipeline");
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
	if (fg_settings_repo_path(&t->path, s, repo) < 0) {
		whd_reply_error(r, 500, "error", "out of memory");
		goto out;
	}
	if (stat(t->path, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		char msg[320];

		snprintf(msg, sizeof(msg), "unknown repository '%s'", repo);
		whd_reply_error(r, 404, "not_found", msg);
		goto out;
	}
	if (op != OP_ENV && read_body(&body, r, op == OP_DEPLOY ? "deploy" :
	    "reset") < 0)
		goto out;
	if (name != NULL)
		snprintf(t->env, sizeof(t->env), "%.*s", (int)nlen, name);
	v = cJSON_GetObjectItemCaseSensitive(body, "commit");
	if (cJSON_IsString(v))
		snprintf(t->spec, sizeof(t->spec), "%s", v->valuestring);
	v = cJSON_GetObjectItemCaseSensitive(body, "wait");
	if (cJSON_IsNumber(v))
		t->wait = (int)v->valuedouble;
	snprintf(t->actor, sizeof(t->actor), "%s", tname);
	fresh_run(t->run);
	t->repo = fg_strdup(repo);
	if (t->repo == NULL) {
		whd_reply_error(r, 500, "error", "out of memory");
		goto out;
	}
	t->r = r;
	t->t.run = task_run;
	t->t.done = task_done;
	whd_pool_submit(r->d->pool, &t->t);
	t = NULL;
out:
	cJSON_Delete(body);
	dtask_free(t);
	return true;
}

void
whd_api_deploy_envs(struct cJSON *root, const struct fg_config *cfg,
    const char *path)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	cJSON *arr, *e, *d;
	size_t i;

	arr = cJSON_AddArrayToObject(root, "environments");
	if (arr == NULL || fg_store_open(&st, path, FG_STORE_NO_MAINTAIN,
	    &err) < 0)
		return;
	for (i = 0; i < cfg->nenvs; i++) {
		e = cJSON_CreateObject();
		if (e == NULL)
			break;
		cJSON_AddItemToArray(arr, e);
		cJSON_AddStringToObject(e, "name", cfg->envs[i].name);
		if (cfg->envs[i].pool != NULL)
			cJSON_AddStringToObject(e, "pool", cfg->envs[i].pool);
		if (fg_deploy_current_json(&d, st, cfg->envs[i].name,
		    &err) == 0)
			cJSON_AddItemToObject(e, "deployment", d);
	}
	fg_store_free(st);
}

/* Recover one repository: its abandoned deployments become interrupted. */
static void
recover_repo(const char *path)
{
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	struct fg_config *cfg = NULL;
	struct fg_store *st = NULL;
	size_t n = 0;

	if (fg_store_open(&st, path, FG_STORE_NO_MAINTAIN, &err) < 0 ||
	    fg_config_load(&cfg, fg_store_repo(st), &d, &err) < 0)
		goto out;
	if (fg_deploy_recover(&n, st, cfg, &err) < 0)
		fg_log_warnx("deploy repo=%s: cannot recover: %s", path,
		    err.msg);
	else if (n > 0)
		fg_log_info("deploy repo=%s interrupted=%zu", path, n);
out:
	fg_config_free(cfg);
	fg_diags_release(&d);
	fg_store_free(st);
}

void
whd_deploy_recover_all(const struct fg_settings *s)
{
	struct dirent *o, *e;
	struct stat sb;
	DIR *top, *sub;
	char path[4096];
	size_t i, n;

	for (i = 0; i < s->nrepos; i++)
		if (s->repos[i].path != NULL)
			recover_repo(s->repos[i].path);
	top = opendir(s->root);
	if (top == NULL)
		return;
	while ((o = readdir(top)) != NULL) {
		if (o->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", s->root, o->d_name);
		sub = opendir(path);
		if (sub == NULL)
			continue;
		while ((e = readdir(sub)) != NULL) {
			n = strlen(e->d_name);
			if (e->d_name[0] == '.' || n <= 4 ||
			    strcmp(e->d_name + n - 4, ".git") != 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s/%s", s->root,
			    o->d_name, e->d_name);
			if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
				recover_repo(path);
		}
		closedir(sub);
	}
	closedir(top);
}
