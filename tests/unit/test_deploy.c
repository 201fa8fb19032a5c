/*
 * test_deploy.c - deployments of real commits of a real repository: the
 * command runs in a fresh checkout with the facts and secrets in its
 * environment and nothing else; outcomes, time limits, the per-environment
 * lock (a second caller waits or is refused with the reason), recovery of
 * an abandoned attempt, the history readers (current, last good, since),
 * pipeline reset, and deployment.json against its schema.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "buf.h"
#include "config.h"
#include "deploy.h"
#include "deploy_int.h"
#include "log.h"
#include "schema.h"
#include "store.h"
#include "util.h"
#include "unit.h"

#define TOKEN	"s3cr3t-t0ken-value"
#define HOSTILE	"$(touch /tmp/fg-deploy-pwned);rm -rf ~ `id` \"'\n|&;<>"

static char repo_path[PATH_MAX], out_dir[PATH_MAX];
static struct fg_config *cfg;
static struct fg_store *st;
static git_oid c_ok1, c_ok2, c_fail, c_slow;

static void
rev(git_oid *out, const char *spec)
{
	git_object *o = NULL;

	CU_ASSERT_EQUAL_FATAL(git_revparse_single(&o, fg_store_repo(st),
	    spec), 0);
	git_oid_cpy(out, git_object_id(o));
	git_object_free(o);
}

/*
 * The repository: deploy.sh writes each fact to a file of out_dir, and
 * behaves as the commit's MODE file says (fail: exit 3; slow: sleep).
 */
static void
setup(void)
{
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf y = FG_BUF_INIT;

	if (st != NULL)
		return;
	fg_log_set_level(FG_LOG_WARN);
	snprintf(repo_path, sizeof(repo_path), "%s/repo", fg_unit_tmpdir());
	snprintf(out_dir, sizeof(out_dir), "%s/out", fg_unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(fg_unit_sh("set -e; mkdir -p '%s';"
	    "git init -q -b main '%s'; cd '%s';"
	    "git config user.name T; git config user.email t@e.org;"
	    "echo hello > README;"
	    "cat > deploy.sh <<'EOF'\n"
	    "#!/bin/sh\n"
	    "out=$1\n"
	    "test -f README || { echo no checkout; exit 9; }\n"
	    "printf %%s \"$FLOWGATE_COMMIT\" > \"$out/COMMIT\"\n"
	    "printf %%s \"$FLOWGATE_ENV\" > \"$out/ENV\"\n"
	    "printf %%s \"$FLOWGATE_STAGE\" > \"$out/STAGE\"\n"
	    "printf %%s \"$FLOWGATE_REF\" > \"$out/REF\"\n"
	    "printf %%s \"$FLOWGATE_ACTOR\" > \"$out/ACTOR\"\n"
	    "printf %%s \"$FLOWGATE_RUN\" > \"$out/RUN\"\n"
	    "env | sort > \"$out/environ\"\n"
	    "echo \"deploying with token $token\"\n"
	    "case \"$(cat MODE 2>/dev/null)\" in\n"
	    "fail) echo boom; exit 3;;\n"
	    "slow) sleep 2;;\n"
	    "esac\n"
	    "echo done\n"
	    "EOF\n"
	    "chmod +x deploy.sh;"
	    "git add -A; git commit -q -m one; git tag ok1;"
	    "echo 2 > README; git commit -q -am two; git tag ok2;"
	    "echo fail > MODE; git add MODE; git commit -q -m three;"
	    "git tag fail; echo slow > MODE; git commit -q -am four;"
	    "git tag slow",
	    out_dir, repo_path, repo_path), 0);
	CU_ASSERT_EQUAL_FATAL(fg_buf_printf(&y,
	    "version: 1\n"
	    "template: release\n"
	    "admins: [alice]\n"
	    "stages:\n"
	    "  integration: {branch: develop, environments: [qa]}\n"
	    "  staging: {branch: staging, environments: [uat]}\n"
	    "  production: {branch: main, environments: [prod]}\n"
	    "environments:\n"
	    "  qa: {deploy: {command: [./deploy.sh, '%s'], timeout: 20}}\n"
	    "  uat: {deploy: {command: [sh, -c, 'echo going; sleep 30'],"
	    " timeout: 1}}\n"
	    "  prod: {deploy: {command: [./no-such-script]}}\n"
	    "  big: {deploy: {command: [sh, -c, 'head -c 200000 /dev/zero |"
	    " tr \"\\\\000\" x; echo; echo END']}}\n"
	    "secrets:\n"
	    "  token: {env: FG_TEST_DEPLOY_TOKEN}\n"
	    "  other: {env: FG_TEST_UNSET_SECRET}\n", out_dir), 0);
	if (fg_config_parse(&cfg, y.ptr, y.len, "pipeline.yaml", NULL, 0,
	    NULL, &d) < 0 && d.n > 0)
		fprintf(stderr, "%s\n", d.lines[0]);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL_FATAL(fg_store_open(&st, repo_path, 0, &err), 0);
	rev(&c_ok1, "ok1");
	rev(&c_ok2, "ok2");
	rev(&c_fail, "fail");
	rev(&c_slow, "slow");
	setenv("FG_TEST_DEPLOY_TOKEN", TOKEN, 1);
	unsetenv("FG_TEST_UNSET_SECRET");
	fg_buf_release(&y);
	fg_diags_release(&d);
}

static struct fg_deploy_req
req_for(const char *env, const git_oid *commit, const char *actor)
{
	struct fg_deploy_req r;

	memset(&r, 0, sizeof(r));
	r.cfg = cfg;
	r.env = env;
	r.commit = *commit;
	r.actor = actor;
	r.ref = "refs/heads/develop";
	return r;
}

static char *
slurp(const char *name)
{
	struct fg_buf b = FG_BUF_INIT;
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", out_dir, name);
	if (fg_read_file(&b, path, 1 << 20, NULL) < 0)
		return NULL;
	return fg_buf_detach(&b, NULL);
}

static int
count_commits(const char *ref)
{
	char path[PATH_MAX + 64];
	struct fg_buf b = FG_BUF_INIT;
	int n;

	snprintf(path, sizeof(path), "%s/count", fg_unit_tmpdir());
	if (fg_unit_sh("git -C '%s' rev-list --count %s > '%s' 2>/dev/null",
	    repo_path, ref, path) != 0)
		return 0;
	fg_read_file(&b, path, 100, NULL);
	n = atoi(b.ptr);
	fg_buf_release(&b);
	return n;
}

static void
check_against(const char *schema_name, const char *what,
    const struct fg_buf *text)
{
	struct fg_diags d = FG_DIAGS_INIT;
	cJSON *schema = NULL, *inst = NULL;

	CU_ASSERT_EQUAL_FATAL(fg_schema_load(&schema, schema_name, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(fg_json_parse(&inst, text->ptr, text->len,
	    NULL), 0);
	CU_ASSERT_EQUAL(fg_schema_validate(schema, inst, NULL, what, &d), 0);
	if (d.n > 0)
		fprintf(stderr, "%s\n", d.lines[0]);
	fg_diags_release(&d);
	cJSON_Delete(inst);
	cJSON_Delete(schema);
}

static void
check_schema(const char *what, const struct fg_buf *text)
{
	check_against("deployment.schema.json", what, text);
}

/* The string key of a JSON text, in a static buffer; "" when absent. */
static const char *
json_str(const struct fg_buf *text, const char *key)
{
	static char v[1024];
	const cJSON *s;
	cJSON *o = NULL;

	v[0] = '\0';
	if (fg_json_parse(&o, text->ptr, text->len, NULL) < 0)
		return v;
	s = cJSON_GetObjectItemCaseSensitive(o, key);
	if (cJSON_IsString(s))
		snprintf(v, sizeof(v), "%s", s->valuestring);
	cJSON_Delete(o);
	return v;
}

static void
test_deploy_command_succeeds_with_facts_and_masked_secret(void)
{
	struct fg_deploy_req r;
	struct fg_deployment d;
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf json = FG_BUF_INIT;
	char sha[GIT_OID_HEXSZ + 1], *s;
	cJSON *note = NULL;
	const cJSON *e;
	git_oid started_id;

	setup();
	r = req_for("qa", &c_ok1, "alice");
	r.run = "run-1";
	setenv("FG_TEST_LEAK", "leaked", 1);
	CU_ASSERT_EQUAL_FATAL(fg_deploy_run(&d, st, &r, &err), 0);
	CU_ASSERT_EQUAL(d.status, FG_DEPLOY_SUCCEEDED);
	CU_ASSERT_STRING_EQUAL(d.env, "qa");
	CU_ASSERT_STRING_EQUAL(d.stage, "integration");
	CU_ASSERT_STRING_EQUAL(d.actor, "alice");
	CU_ASSERT_STRING_EQUAL(d.run, "run-1");
	CU_ASSERT_TRUE(git_oid_equal(&d.commit, &c_ok1));
	/* The secret's value never reaches the log. */
	CU_ASSERT_PTR_NOT_NULL(strstr(d.log.ptr, "deploying with token ***"));
	CU_ASSERT_PTR_NULL(strstr(d.log.ptr, TOKEN));
	CU_ASSERT_PTR_NOT_NULL(strstr(d.log.ptr, "secret 'other'"));
	git_oid_tostr(sha, sizeof(sha), &c_ok1);
	s = slurp("COMMIT");
	CU_ASSERT_STRING_EQUAL(s, sha);
	free(s);
	s = slurp("STAGE");
	CU_ASSERT_STRING_EQUAL(s, "integration");
	free(s);
	s = slurp("REF");
	CU_ASSERT_STRING_EQUAL(s, "refs/heads/develop");
	free(s);
	s = slurp("RUN");
	CU_ASSERT_STRING_EQUAL(s, "run-1");
	free(s);
	/* Nothing from our environment but PATH, HOME and LANG. */
	s = slurp("environ");
	CU_ASSERT_PTR_NOT_NULL(s);
	CU_ASSERT_PTR_NOT_NULL(strstr(s, "token=" TOKEN "\n"));
	CU_ASSERT_PTR_NULL(strstr(s, "FG_TEST_DEPLOY_TOKEN"));
	CU_ASSERT_PTR_NULL(strstr(s, "GIT_DIR"));
	CU_ASSERT_PTR_NULL(strstr(s, "leaked"));
	free(s);
	fg_deployment_release(&d);

	/* Current, its files, its schema, its note. */
	CU_ASSERT_EQUAL_FATAL(fg_deploy_current(&d, st, "qa", &err), 0);
	CU_ASSERT_EQUAL(d.status, FG_DEPLOY_SUCCEEDED);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.log.ptr, "done"));
	CU_ASSERT_EQUAL_FATAL(fg_store_read_file(&json, st,
	    "refs/flowgate/envs/qa", "deployment.json", &err), 0);
	check_schema("deployment.json", &json);
	CU_ASSERT_STRING_EQUAL(json_str(&json, "status"), "succeeded");
	fg_buf_reset(&json);
	rev(&started_id, "refs/flowgate/envs/qa~1");
	CU_ASSERT_EQUAL_FATAL(fg_store_read_file_at(&json, st, &started_id,
	    "deployment.json", &err), 0);
	check_schema("started deployment.json", &json);
	CU_ASSERT_STRING_EQUAL(json_str(&json, "status"), "started");
	CU_ASSERT_EQUAL_FATAL(fg_store_note_get(&note, st, &c_ok1, &err), 0);
	{
		struct fg_buf nt = FG_BUF_INIT;
		char *p = cJSON_PrintUnformatted(note);

		fg_buf_puts(&nt, p);
		check_against("note.schema.json", "note", &nt);
		cJSON_free(p);
		fg_buf_release(&nt);
	}
	e = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(note, "deployments"), "qa");
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(e,
	    "status")->valuestring, "succeeded");
	CU_ASSERT_EQUAL(count_commits("refs/flowgate/envs/qa"), 2);
	CU_ASSERT_EQUAL(fg_unit_sh("git -C '%s' log -1 --format=%%s "
	    "refs/flowgate/envs/qa | grep -q '^deploy qa: %.7s succeeded "
	    "in [0-9]*s$'", repo_path, sha), 0);
	CU_ASSERT_EQUAL(fg_unit_sh("git -C '%s' log --format=%%s "
	    "refs/flowgate/activity | grep -q '^deploy qa: %.7s started by "
	    "alice$'", repo_path, sha), 0);
	cJSON_Delete(note);
	fg_buf_release(&json);
	fg_deployment_release(&d);
}

static void
test_deploy_failed_command_is_recorded_failed(void)
{
	struct fg_deploy_req r = (setup(), req_for("qa", &c_fail, "bob"));
	struct fg_deployment d;
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf json = FG_BUF_INIT;

	CU_ASSERT_EQUAL_FATAL(fg_deploy_run(&d, st, &r, &err), 0);
	CU_ASSERT_EQUAL(d.status, FG_DEPLOY_FAILED);
	CU_ASSERT_STRING_EQUAL(err.msg, "exit 3");
	CU_ASSERT_PTR_NOT_NULL(strstr(d.log.ptr, "boom"));
	CU_ASSERT_EQUAL(fg_unit_sh("git -C '%s' log -1 --format=%%s "
	    "refs/flowgate/envs/qa | grep -q ' failed in [0-9]*s: exit 3$'",
	    repo_path), 0);
	CU_ASSERT_EQUAL(fg_unit_sh("git -C '%s' log -1 --format=%%B "
	    "refs/flowgate/envs/qa | grep -q '^Flowgate-Status: failed$'",
	    repo_path), 0);
	CU_ASSERT_EQUAL_FATAL(fg_store_read_file(&json, st,
	    "refs/flowgate/envs/qa", "deployment.json", &err), 0);
	check_schema("deployment.json", &json);
	CU_ASSERT_STRING_EQUAL(json_str(&json, "reason"), "exit 3");
	fg_buf_release(&json);
	fg_deployment_release(&d);
}

static void
test_deploy_past_its_time_limit_is_killed_and_failed(void)
{
	struct fg_deploy_req r = (setup(), req_for("uat", &c_ok1, "carol"));
	struct fg_deployment d;
	struct fg_err err = FG_ERR_INIT;

	CU_ASSERT_EQUAL_FATAL(fg_deploy_run(&d, st, &r, &err), 0);
	CU_ASSERT_EQUAL(d.status, FG_DEPLOY_FAILED);
	CU_ASSERT_STRING_EQUAL(err.msg, "killed after 1s");
	CU_ASSERT_TRUE(d.duration_ms >= 1000 && d.duration_ms < 8000);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.log.ptr, "going"));
	CU_ASSERT_STRING_EQUAL(d.stage, "staging");
	fg_deployment_release(&d);
}

static void
test_deploy_missing_program_is_recorded_failed(void)
{
	struct fg_deploy_req r = (setup(), req_for("prod", &c_ok1, NULL));
	struct fg_deployment d;
	struct fg_err err = FG_ERR_INIT;

	CU_ASSERT_EQUAL_FATAL(fg_deploy_run(&d, st, &r, &err), 0);
	CU_ASSERT_EQUAL(d.status, FG_DEPLOY_FAILED);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cannot run './no-such-"));
	CU_ASSERT_STRING_EQUAL(d.actor, "flowgate");
	fg_deployment_release(&d);
}

static void
test_deploy_hostile_ref_is_an_inert_value(void)
{
	struct fg_deploy_req r = (setup(), req_for("qa", &c_ok2, HOSTILE));
	struct fg_deployment d;
	struct fg_err err = FG_ERR_INIT;
	char *s;

	unlink("/tmp/fg-deploy-pwned");
	r.ref = HOSTILE;
	CU_ASSERT_EQUAL_FATAL(fg_deploy_run(&d, st, &r, &err), 0);
	CU_ASSERT_EQUAL(d.status, FG_DEPLOY_SUCCEEDED);
	s = slurp("REF");
	CU_ASSERT_STRING_EQUAL(s, HOSTILE);
	free(s);
	s = slurp("ACTOR");
	CU_ASSERT_STRING_EQUAL(s, HOSTILE);
	free(s);
	CU_ASSERT_NOT_EQUAL(access("/tmp/fg-deploy-pwned", F_OK), 0);
	fg_deployment_release(&d);
}

static void
test_deploy_log_keeps_the_tail_at_its_limit(void)
{
	struct fg_deploy_req r = (setup(), req_for("big", &c_ok1, NULL));
	struct fg_deployment d;
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf log = FG_BUF_INIT;

	CU_ASSERT_EQUAL_FATAL(fg_deploy_run(&d, st, &r, &err), 0);
	CU_ASSERT_EQUAL(d.status, FG_DEPLOY_SUCCEEDED);
	CU_ASSERT_TRUE(d.log.len <= FG_DEPLOY_LOG_MAX);
	CU_ASSERT_TRUE(d.log.len > FG_DEPLOY_LOG_MAX - 1024);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.log.ptr, " earlier bytes not kept)"));
	CU_ASSERT_TRUE(d.log.len > 4 &&
	    strcmp(d.log.ptr + d.log.len - 4, "END\n") == 0);
	/* The record keeps the same tail. */
	CU_ASSERT_EQUAL(fg_store_read_file(&log, st, "refs/flowgate/envs/big",
	    "log", &err), 0);
	CU_ASSERT_EQUAL(log.len, d.log.len);
	fg_buf_release(&log);
	fg_deployment_release(&d);
}

static void
test_deploy_unknown_env_bad_name_and_unknown_commit(void)
{
	struct fg_deploy_req r = (setup(), req_for("nope", &c_ok1, NULL));
	struct fg_deployment d;
	struct fg_err err = FG_ERR_INIT;
	git_oid zero;

	CU_ASSERT_EQUAL(fg_deploy_run(&d, st, &r, &err), FG_ENOTFOUND);
	CU_ASSERT_STRING_EQUAL(err.msg, "unknown environment 'nope'");
	r.env = "../x";
	CU_ASSERT_EQUAL(fg_deploy_run(&d, st, &r, &err), FG_EINVALID);
	CU_ASSERT_EQUAL(fg_deploy_current(&d, st, "a/b", &err), FG_EINVALID);
	memset(&zero, 0x11, sizeof(zero));
	r = req_for("qa", &zero, NULL);
	CU_ASSERT_EQUAL(fg_deploy_run(&d, st, &r, &err), FG_ENOTFOUND);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "is not in the repository"));
	CU_ASSERT_EQUAL(fg_deploy_current(&d, st, "never", &err),
	    FG_ENOTFOUND);
	CU_ASSERT_STRING_EQUAL(err.msg, "environment 'never' was never "
	    "deployed");
	fg_deployment_release(&d);
}

struct racer {
	git_oid commit;
	int wait;
	int rc;
	enum fg_deploy_status status;
	struct fg_err err;
};

static void *
race(void *payload)
{
	struct racer *x = payload;
	struct fg_store *mine = NULL;
	struct fg_deploy_req r = req_for("qa", &x->commit, "racer");
	struct fg_deployment d;

	r.wait_secs = x->wait;
	x->rc = fg_store_open(&mine, repo_path, 0, &x->err);
	if (x->rc == 0)
		x->rc = fg_deploy_run(&d, mine, &r, &x->err);
	if (x->rc == 0) {
		x->status = d.status;
		fg_deployment_release(&d);
	}
	fg_store_free(mine);
	return NULL;
}

/* Wait until qa's tip says started (the slow deployment is running). */
static bool
wait_started(void)
{
	struct fg_deployment d;
	int i;
	bool started = false;

	for (i = 0; i < 100 && !started; i++) {
		if (fg_deploy_current(&d, st, "qa", NULL) == 0 &&
		    d.status == FG_DEPLOY_STARTED &&
		    git_oid_equal(&d.commit, &c_slow))
			started = true;
		fg_deployment_release(&d);
		if (!started)
			usleep(50000);
	}
	return started;
}

static void
test_deploy_racing_deployments_wait_or_are_refused(void)
{
	struct racer slow, now, patient;
	pthread_t ts, tp;
	char sha[GIT_OID_HEXSZ + 1];

	setup();
	memset(&slow, 0, sizeof(slow));
	memset(&now, 0, sizeof(now));
	memset(&patient, 0, sizeof(patient));
	slow.commit = c_slow;
	now.commit = c_ok1;
	patient.commit = c_ok2;
	patient.wait = 30;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&ts, NULL, race, &slow), 0);
	CU_ASSERT_TRUE(wait_started());
	/* No waiting: refused at once, naming what runs. */
	race(&now);
	CU_ASSERT_EQUAL(now.rc, FG_EBUSY);
	git_oid_tostr(sha, 8, &c_slow);
	CU_ASSERT_PTR_NOT_NULL(strstr(now.err.msg, "environment 'qa' is "
	    "busy: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(now.err.msg, sha));
	CU_ASSERT_PTR_NOT_NULL(strstr(now.err.msg, "by racer since "));
	/* Waiting: runs after it. */
	CU_ASSERT_EQUAL_FATAL(pthread_create(&tp, NULL, race, &patient), 0);
	pthread_join(ts, NULL);
	pthread_join(tp, NULL);
	CU_ASSERT_EQUAL(slow.rc, 0);
	CU_ASSERT_EQUAL(slow.status, FG_DEPLOY_SUCCEEDED);
	CU_ASSERT_EQUAL(patient.rc, 0);
	CU_ASSERT_EQUAL(patient.status, FG_DEPLOY_SUCCEEDED);
	/* Serialized: started, end, started, end; never two started. */
	CU_ASSERT_EQUAL(fg_unit_sh("cd '%s' && git log -4 --format="
	    "'%%(trailers:key=Flowgate-Status,valueonly)' "
	    "refs/flowgate/envs/qa | grep . > ../st && printf "
	    "'succeeded\\nstarted\\nsucceeded\\nstarted\\n' | "
	    "cmp -s - ../st", repo_path), 0);
}

static void
test_deploy_abandoned_attempt_is_marked_interrupted(void)
{
	struct fg_deployment d;
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf json = FG_BUF_INIT;
	size_t n = 99;
	pid_t pid;
	int status;

	setup();
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		struct racer x;

		memset(&x, 0, sizeof(x));
		x.commit = c_slow;
		race(&x);
		_exit(0);
	}
	CU_ASSERT_TRUE(wait_started());
	/* Still running: not abandoned. */
	CU_ASSERT_EQUAL(fg_deploy_recover(&n, st, cfg, &err), 0);
	CU_ASSERT_EQUAL(n, 0);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	CU_ASSERT_EQUAL(fg_deploy_recover(&n, st, cfg, &err), 0);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL_FATAL(fg_deploy_current(&d, st, "qa", &err), 0);
	CU_ASSERT_EQUAL(d.status, FG_DEPLOY_INTERRUPTED);
	CU_ASSERT_TRUE(git_oid_equal(&d.commit, &c_slow));
	fg_deployment_release(&d);
	CU_ASSERT_EQUAL_FATAL(fg_store_read_file(&json, st,
	    "refs/flowgate/envs/qa", "deployment.json", &err), 0);
	check_schema("interrupted deployment.json", &json);
	fg_buf_release(&json);
	CU_ASSERT_EQUAL(fg_deploy_recover(&n, st, cfg, &err), 0);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(fg_unit_sh("git -C '%s' log -1 --format=%%s "
	    "refs/flowgate/envs/qa | grep -q ' interrupted (started by "
	    "racer)'", repo_path), 0);
}

static void
test_deploy_history_last_good_and_since(void)
{
	struct fg_deploy_req r;
	struct fg_deployment d;
	struct fg_err err = FG_ERR_INIT;
	int64_t since = 0;
	git_oid good, before;

	setup();
	setenv("FLOWGATE_NOW", "2026-11-23T10:00:00Z", 1);
	r = req_for("qa", &c_ok1, "dave");
	CU_ASSERT_EQUAL_FATAL(fg_deploy_run(&d, st, &r, &err), 0);
	fg_deployment_release(&d);
	setenv("FLOWGATE_NOW", "2026-11-23T11:00:00Z", 1);
	r = req_for("qa", &c_ok2, "dave");
	CU_ASSERT_EQUAL_FATAL(fg_deploy_run(&d, st, &r, &err), 0);
	before = d.record;
	fg_deployment_release(&d);
	setenv("FLOWGATE_NOW", "2026-11-23T11:30:00Z", 1);
	CU_ASSERT_EQUAL_FATAL(fg_deploy_run(&d, st, &r, &err), 0);
	fg_deployment_release(&d);
	setenv("FLOWGATE_NOW", "2026-11-23T12:00:00Z", 1);
	r = req_for("qa", &c_fail, "dave");
	CU_ASSERT_EQUAL_FATAL(fg_deploy_run(&d, st, &r, &err), 0);
	CU_ASSERT_EQUAL(d.status, FG_DEPLOY_FAILED);
	fg_deployment_release(&d);
	unsetenv("FLOWGATE_NOW");

	/* ok2 became the deployed commit at 11:00; a redeploy keeps it. */
	CU_ASSERT_EQUAL(fg_deploy_since(&since, st, "qa", &c_ok2, &err), 0);
	CU_ASSERT_EQUAL(since, 1795431600);
	CU_ASSERT_EQUAL(fg_deploy_since(&since, st, "qa", &c_ok1, &err),
	    FG_ENOTFOUND);
	CU_ASSERT_EQUAL(fg_deploy_since(&since, st, "qa", &c_fail, &err),
	    FG_ENOTFOUND);
	/* Rollback from the failed attempt: ok2. */
	CU_ASSERT_EQUAL(fg_deploy_last_good(&good, st, "qa", NULL, &err), 0);
	CU_ASSERT_TRUE(git_oid_equal(&good, &c_ok2));
	/* From ok2's first attempt: ok1, skipping ok2's own. */
	CU_ASSERT_EQUAL(fg_deploy_last_good(&good, st, "qa", &before, &err),
	    0);
	CU_ASSERT_TRUE(git_oid_equal(&good, &c_ok1));
	CU_ASSERT_EQUAL(fg_deploy_last_good(&good, st, "qa", &c_ok1, &err),
	    FG_ENOTFOUND);
}

static void
test_deploy_reset_empties_state_and_keeps_history(void)
{
	struct fg_deployment d;
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf json = FG_BUF_INIT;
	int64_t since;
	git_oid good;
	size_t n = 0;
	int before;

	setup();
	before = count_commits("refs/flowgate/envs/qa");
	CU_ASSERT_TRUE(before > 4);
	CU_ASSERT_EQUAL(fg_deploy_reset(&n, st, cfg, "mallory", true, &err),
	    FG_EDENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "only admins"));
	CU_ASSERT_EQUAL(count_commits("refs/flowgate/envs/qa"), before);
	CU_ASSERT_EQUAL(fg_deploy_reset(&n, st, cfg, "alice", true, &err), 0);
	CU_ASSERT_EQUAL(n, 4);		/* qa, uat, prod, big */
	CU_ASSERT_EQUAL(count_commits("refs/flowgate/envs/qa"), before + 1);
	CU_ASSERT_EQUAL(fg_deploy_current(&d, st, "qa", &err), FG_ENOTFOUND);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "reset"));
	CU_ASSERT_EQUAL(fg_deploy_since(&since, st, "qa", &c_ok2, &err),
	    FG_ENOTFOUND);
	CU_ASSERT_EQUAL(fg_deploy_last_good(&good, st, "qa", NULL, &err),
	    FG_ENOTFOUND);
	CU_ASSERT_EQUAL_FATAL(fg_store_read_file(&json, st,
	    "refs/flowgate/envs/qa", "deployment.json", &err), 0);
	check_schema("deployment.json", &json);
	CU_ASSERT_EQUAL(fg_unit_sh("git -C '%s' log -1 --format=%%s "
	    "refs/flowgate/activity | grep -qx 'pipeline reset by alice: 4 "
	    "environments emptied'", repo_path), 0);
	/* A second reset has nothing left to empty. */
	CU_ASSERT_EQUAL(fg_deploy_reset(&n, st, cfg, "alice", true, &err), 0);
	CU_ASSERT_EQUAL(n, 0);
	fg_buf_release(&json);
	fg_deployment_release(&d);
}

static void
test_deploy_reset_refused_while_deploying(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct racer slow;
	pthread_t ts;
	size_t n;
	int before;

	setup();
	memset(&slow, 0, sizeof(slow));
	slow.commit = c_slow;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&ts, NULL, race, &slow), 0);
	CU_ASSERT_TRUE(wait_started());
	before = count_commits("refs/flowgate/envs/uat");
	CU_ASSERT_EQUAL(fg_deploy_reset(&n, st, cfg, "alice", false, &err),
	    FG_EBUSY);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "environment 'qa' is busy"));
	CU_ASSERT_EQUAL(count_commits("refs/flowgate/envs/uat"), before);
	pthread_join(ts, NULL);
	CU_ASSERT_EQUAL(slow.status, FG_DEPLOY_SUCCEEDED);
}

static void
test_deploy_mask_replaces_every_occurrence(void)
{
	struct fg_buf b = FG_BUF_INIT;

	fg_buf_puts(&b, "abcXYZdefXYZXYZ");
	CU_ASSERT_EQUAL(fg_deploy__mask(&b, "XYZ"), 0);
	CU_ASSERT_STRING_EQUAL(b.ptr, "abc***def******");
	CU_ASSERT_EQUAL(fg_deploy__mask(&b, ""), 0);
	CU_ASSERT_EQUAL(fg_deploy__mask(&b, NULL), 0);
	CU_ASSERT_STRING_EQUAL(b.ptr, "abc***def******");
	fg_buf_release(&b);
}

static void
test_deploy_zz_cleanup(void)
{
	fg_store_free(st);
	fg_config_free(cfg);
	st = NULL;
	cfg = NULL;
}

static CU_TestInfo tests[] = {
	{ "command succeeds with facts and a masked secret",
	    test_deploy_command_succeeds_with_facts_and_masked_secret },
	{ "a failed command is recorded failed",
	    test_deploy_failed_command_is_recorded_failed },
	{ "past its time limit: killed and failed",
	    test_deploy_past_its_time_limit_is_killed_and_failed },
	{ "a missing program is recorded failed",
	    test_deploy_missing_program_is_recorded_failed },
	{ "a hostile ref and actor are inert values",
	    test_deploy_hostile_ref_is_an_inert_value },
	{ "the log keeps the tail at its limit",
	    test_deploy_log_keeps_the_tail_at_its_limit },
	{ "unknown env, bad name, unknown commit",
	    test_deploy_unknown_env_bad_name_and_unknown_commit },
	{ "racing deployments wait or are refused",
	    test_deploy_racing_deployments_wait_or_are_refused },
	{ "an abandoned attempt is marked interrupted",
	    test_deploy_abandoned_attempt_is_marked_interrupted },
	{ "history: last good and since",
	    test_deploy_history_last_good_and_since },
	{ "reset empties state and keeps history",
	    test_deploy_reset_empties_state_and_keeps_history },
	{ "reset is refused while deploying",
	    test_deploy_reset_refused_while_deploying },
	{ "mask replaces every occurrence",
	    test_deploy_mask_replaces_every_occurrence },
	{ "release the repository", test_deploy_zz_cleanup },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("deploy", tests)
