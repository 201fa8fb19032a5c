/*
 * test_promote.c - the promotion workflow on a real repository with real
 * deployments: what a change names, where it may go, a dry run that
 * explains and writes nothing, a promotion that deploys then
 * fast-forwards with its steps recorded, a failed deployment that moves
 * nothing, a merge commit when the branch went elsewhere, a conflict that
 * names the file, and the result's JSON.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "config.h"
#include "deploy.h"
#include "facts.h"
#include "promote.h"
#include "store.h"
#include "util.h"
#include "unit.h"

#define ACTIVITY "refs/flowgate/activity"

static char repo_path[PATH_MAX];
static struct fg_config *cfg;
static struct fg_store *st;
static git_repository *repo;

static void
oid_of(git_oid *out, const char *spec)
{
	git_object *o = NULL;

	CU_ASSERT_EQUAL_FATAL(git_revparse_single(&o, repo, spec), 0);
	git_oid_cpy(out, git_object_id(o));
	git_object_free(o);
}

/*
 * main: one; develop: one, two; side: one, side (a file of its own);
 * clash: one, clash (f changed otherwise than develop did).  Staging
 * needs ci/build; production deploys with /bin/false.
 */
static void
setup(void)
{
	static const char yaml[] =
	    "version: 1\n"
	    "template: release\n"
	    "admins: [root]\n"
	    "stages:\n"
	    "  integration: {branch: develop, environments: [qa]}\n"
	    "  staging:\n"
	    "    branch: staging\n"
	    "    environments: [uat, uat2]\n"
	    "    gates: [{status: [ci/build]}]\n"
	    "  production: {branch: main, environments: [prod]}\n"
	    "  hotfix: {branch: hotfix, environments: [hfx]}\n"
	    "environments:\n"
	    "  qa: {deploy: {command: [/bin/true]}}\n"
	    "  uat: {deploy: {command: [/bin/true]}}\n"
	    "  uat2: {deploy: {command: [/bin/true]}}\n"
	    "  prod: {deploy: {command: [/bin/false]}}\n"
	    "  hfx: {deploy: {command: [/bin/true]}}\n";
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;

	if (st != NULL)
		return;
	snprintf(repo_path, sizeof(repo_path), "%s/r.git", fg_unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(fg_unit_sh("set -e; d='%s'; git init -q --bare "
	    "-b main \"$d\"; w=\"$d.w\"; git init -q -b main \"$w\"; cd \"$w\";"
	    "git config user.name T; git config user.email t@e.org;"
	    "echo 1 > f; git add f; git commit -q -m one;"
	    "git push -q \"$d\" HEAD:main HEAD:staging;"
	    "git checkout -q -b develop; echo 2 >> f; git commit -q -am two;"
	    "git push -q \"$d\" HEAD:develop;"
	    "git checkout -q -b side main; echo s > s; git add s;"
	    "git commit -q -m side; git push -q \"$d\" HEAD:side;"
	    "git checkout -q -b clash main; echo x > f; git commit -q -am x;"
	    "git push -q \"$d\" HEAD:clash", repo_path), 0);
	CU_ASSERT_EQUAL_FATAL(fg_config_parse(&cfg, yaml, strlen(yaml),
	    "pipeline.yaml", NULL, 0, NULL, &d), 0);
	CU_ASSERT_EQUAL_FATAL(fg_store_open(&st, repo_path, 0, &err), 0);
	repo = fg_store_repo(st);
	fg_diags_release(&d);
}

static struct fg_promote_req
req_for(const char *change, const char *to, bool dry)
{
	struct fg_promote_req r;

	memset(&r, 0, sizeof(r));
	r.cfg = cfg;
	r.change = change;
	r.to = to;
	r.actor = "alice";
	r.dry_run = dry;
	r.wait_secs = 5;
	return r;
}

/* Records on the activity log. */
static size_t
records(void)
{
	struct fg_store_query q;
	struct fg_store_iter *it = NULL;
	const struct fg_store_entry *e = NULL;
	size_t n = 0;

	memset(&q, 0, sizeof(q));
	if (fg_store_iter_new(&it, st, ACTIVITY, &q, NULL) == 0)
		while (fg_store_iter_next(&e, it, NULL) == 0 && e != NULL)
			n++;
	fg_store_iter_free(it);
	return n;
}

static void
test_promote_resolves_branch_commit_and_pull(void)
{
	struct fg_err err = FG_ERR_INIT;
	git_oid id, want;
	char what[64], hex[GIT_OID_HEXSZ + 1];

	setup();
	oid_of(&want, "develop");
	CU_ASSERT_EQUAL(fg_promote_resolve(&id, what, sizeof(what), repo, cfg,
	    "develop", &err), 0);
	CU_ASSERT(git_oid_equal(&id, &want));
	CU_ASSERT_STRING_EQUAL(what, "branch develop");
	CU_ASSERT_EQUAL(fg_promote_resolve(&id, what, sizeof(what), repo, cfg,
	    "refs/heads/develop", &err), 0);
	git_oid_tostr(hex, 8, &want);
	CU_ASSERT_EQUAL(fg_promote_resolve(&id, what, sizeof(what), repo, cfg,
	    hex, &err), 0);
	CU_ASSERT(git_oid_equal(&id, &want));
	CU_ASSERT_STRING_EQUAL(what, "commit");
	CU_ASSERT_EQUAL(fg_promote_resolve(&id, what, sizeof(what), repo, cfg,
	    "nothing-here", &err), FG_ENOTFOUND);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'nothing-here'"));
	CU_ASSERT_EQUAL(fg_promote_resolve(&id, what, sizeof(what), repo, cfg,
	    "#3", &err), FG_ENOTFOUND);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no pull request #3"));
	CU_ASSERT_EQUAL(fg_promote_resolve(&id, what, sizeof(what), repo, cfg,
	    "bad\nname", &err), FG_EINVALID);
	CU_ASSERT_EQUAL(fg_promote_resolve(&id, what, sizeof(what), repo, cfg,
	    "", &err), FG_EINVALID);
}

static void
test_promote_refuses_targets_the_template_does_not_allow(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_promote_result r;
	struct fg_promote_req q;

	setup();
	q = req_for("staging", "integration", true);
	CU_ASSERT_EQUAL(fg_promote_run(&r, st, &q, &err), FG_EINVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not above"));
	fg_promote_result_release(&r);
	q = req_for("develop", "hotfix", true);
	CU_ASSERT_EQUAL(fg_promote_run(&r, st, &q, &err), FG_EINVALID);
	fg_promote_result_release(&r);
	q = req_for("develop", "qa-stage", true);
	CU_ASSERT_EQUAL(fg_promote_run(&r, st, &q, &err), FG_ENOTFOUND);
	fg_promote_result_release(&r);
	q = req_for("develop", NULL, true);
	CU_ASSERT_EQUAL(fg_promote_run(&r, st, &q, &err), 0);
	CU_ASSERT_STRING_EQUAL(r.to, "staging");
	CU_ASSERT_STRING_EQUAL(r.from, "integration");
	fg_promote_result_release(&r);
}

static void
test_promote_dry_run_explains_and_writes_nothing(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_promote_result r;
	struct fg_promote_req q;
	struct fg_buf b = FG_BUF_INIT;
	struct fg_deployment d;
	size_t before;
	cJSON *j = NULL;

	setup();
	before = records();
	q = req_for("develop", "staging", true);
	CU_ASSERT_EQUAL_FATAL(fg_promote_run(&r, st, &q, &err), 0);
	CU_ASSERT_EQUAL(r.outcome, FG_PROMOTE_REFUSED);
	CU_ASSERT_EQUAL(r.verdict.nissues, 1);
	CU_ASSERT_EQUAL(fg_promote_format(&b, &r, NULL), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.ptr, "status: FAIL: no status "
	    "'ci/build'"));
	CU_ASSERT_EQUAL(fg_promote_to_json(&j, &r), 0);
	CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(j,
	    "outcome")), "refused");
	CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j,
	    "verdict"), "issues"), 0), "gate")), "status");
	cJSON_Delete(j);
	CU_ASSERT_EQUAL(records(), before);
	memset(&d, 0, sizeof(d));
	fg_buf_init(&d.log);
	CU_ASSERT_EQUAL(fg_deploy_current(&d, st, "uat", NULL), FG_ENOTFOUND);
	fg_deployment_release(&d);
	fg_promote_result_release(&r);
	fg_buf_release(&b);
}

static void
test_promote_deploys_then_fast_forwards_and_records_steps(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_promote_result r;
	struct fg_promote_req q;
	struct fg_deployment d;
	git_oid dev, stg;
	size_t before;

	setup();
	oid_of(&dev, "develop");
	CU_ASSERT_EQUAL_FATAL(fg_facts_set_status(st, &dev, "ci/build",
	    "success", NULL, "ci", fg_now(), &err), 0);
	before = records();
	q = req_for("develop", "staging", false);
	q.run = "run-ff";
	CU_ASSERT_EQUAL_FATAL(fg_promote_run(&r, st, &q, &err), 0);
	CU_ASSERT_EQUAL(r.outcome, FG_PROMOTE_DONE);
	CU_ASSERT_FALSE(r.merged);
	CU_ASSERT_EQUAL(r.nenvs, 2);
	oid_of(&stg, "staging");
	CU_ASSERT(git_oid_equal(&stg, &dev));
	memset(&d, 0, sizeof(d));
	fg_buf_init(&d.log);
	CU_ASSERT_EQUAL(fg_deploy_current(&d, st, "uat2", &err), 0);
	CU_ASSERT(git_oid_equal(&d.commit, &dev));
	CU_ASSERT_STRING_EQUAL(d.run, "run-ff");
	fg_deployment_release(&d);
	/* Five steps, and each deployment's start and end. */
	CU_ASSERT_EQUAL(records() - before, 5 + 4);
	fg_promote_result_release(&r);
	/* Again: staging already holds it. */
	CU_ASSERT_EQUAL(fg_promote_run(&r, st, &q, &err), 0);
	CU_ASSERT_EQUAL(r.outcome, FG_PROMOTE_REFUSED);
	CU_ASSERT_STRING_EQUAL(r.verdict.issues[0].gate, "branch");
	fg_promote_result_release(&r);
}

static void
test_promote_failed_deployment_moves_nothing(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_promote_result r;
	struct fg_promote_req q;
	git_oid before, after;

	setup();
	oid_of(&before, "main");
	q = req_for("staging", NULL, false);
	CU_ASSERT_EQUAL_FATAL(fg_promote_run(&r, st, &q, &err), 0);
	CU_ASSERT_STRING_EQUAL(r.to, "production");
	CU_ASSERT_EQUAL(r.outcome, FG_PROMOTE_FAILED);
	CU_ASSERT_EQUAL(r.nenvs, 1);
	CU_ASSERT_FALSE(r.envs[0].succeeded);
	CU_ASSERT_STRING_EQUAL(r.verdict.issues[r.verdict.nissues - 1].gate,
	    "deploy");
	oid_of(&after, "main");
	CU_ASSERT(git_oid_equal(&before, &after));
	fg_promote_result_release(&r);
}

static void
test_promote_merges_when_the_branch_went_elsewhere(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_promote_result r;
	struct fg_promote_req q;
	git_commit *m = NULL;
	git_oid side, old, now;

	setup();
	oid_of(&side, "side");
	oid_of(&old, "staging");
	CU_ASSERT_EQUAL_FATAL(fg_facts_set_status(st, &side, "ci/build",
	    "success", NULL, "ci", fg_now(), &err), 0);
	q = req_for("side", "staging", false);
	CU_ASSERT_EQUAL_FATAL(fg_promote_run(&r, st, &q, &err), 0);
	CU_ASSERT_EQUAL(r.outcome, FG_PROMOTE_DONE);
	CU_ASSERT(r.merged);
	oid_of(&now, "staging");
	CU_ASSERT_EQUAL_FATAL(git_commit_lookup(&m, repo, &now), 0);
	CU_ASSERT_EQUAL(git_commit_parentcount(m), 2);
	CU_ASSERT(git_oid_equal(git_commit_parent_id(m, 0), &old));
	CU_ASSERT(git_oid_equal(git_commit_parent_id(m, 1), &side));
	git_commit_free(m);
	fg_promote_result_release(&r);
}

static void
test_promote_conflict_names_the_file_and_moves_nothing(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_promote_result r;
	struct fg_promote_req q;
	git_oid clash, before, after;

	setup();
	oid_of(&clash, "clash");
	oid_of(&before, "staging");
	CU_ASSERT_EQUAL_FATAL(fg_facts_set_status(st, &clash, "ci/build",
	    "success", NULL, "ci", fg_now(), &err), 0);
	q = req_for("clash", "staging", false);
	CU_ASSERT_EQUAL_FATAL(fg_promote_run(&r, st, &q, &err), 0);
	CU_ASSERT_EQUAL(r.outcome, FG_PROMOTE_REFUSED);
	CU_ASSERT_EQUAL_FATAL(r.verdict.nissues, 1);
	CU_ASSERT_STRING_EQUAL(r.verdict.issues[0].gate, "merge");
	CU_ASSERT_PTR_NOT_NULL(strstr(r.verdict.issues[0].finding,
	    "conflicts in f"));
	CU_ASSERT_EQUAL(r.nenvs, 0);
	oid_of(&after, "staging");
	CU_ASSERT(git_oid_equal(&before, &after));
	fg_promote_result_release(&r);
}

static void
test_promote_rollback_force_is_for_admins(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_promote_result r;
	struct fg_promote_req q;

	setup();
	q = req_for(NULL, "uat", false);
	q.force = true;
	CU_ASSERT_EQUAL(fg_promote_rollback(&r, st, &q, &err), FG_EDENIED);
	fg_promote_result_release(&r);
	q.actor = "root";
	q.dry_run = true;
	/* uat ran develop, then the merge with side: develop is last good. */
	CU_ASSERT_EQUAL(fg_promote_rollback(&r, st, &q, &err), 0);
	CU_ASSERT_EQUAL(r.outcome, FG_PROMOTE_CHECKED);
	fg_promote_result_release(&r);
	q = req_for(NULL, "nowhere", true);
	CU_ASSERT_EQUAL(fg_promote_rollback(&r, st, &q, &err), FG_ENOTFOUND);
	fg_promote_result_release(&r);
}

static CU_TestInfo tests[] = {
	{ "a change is a branch, a commit or a pull request",
	    test_promote_resolves_branch_commit_and_pull },
	{ "targets the template does not allow are refused",
	    test_promote_refuses_targets_the_template_does_not_allow },
	{ "a dry run explains and writes nothing",
	    test_promote_dry_run_explains_and_writes_nothing },
	{ "deploys, then fast-forwards, steps recorded",
	    test_promote_deploys_then_fast_forwards_and_records_steps },
	{ "a failed deployment moves nothing",
	    test_promote_failed_deployment_moves_nothing },
	{ "a merge commit when the branch went elsewhere",
	    test_promote_merges_when_the_branch_went_elsewhere },
	{ "a conflict names the file and moves nothing",
	    test_promote_conflict_names_the_file_and_moves_nothing },
	{ "rollback --force is for admins",
	    test_promote_rollback_force_is_for_admins },
	CU_TEST_INFO_NULL
};

FG_UNIT_MAIN("promote", tests)
