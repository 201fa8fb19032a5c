/*
 * test_facts.c - the gates' facts on a real repository: statuses and
 * approvals written into the commit's note and read back by the same
 * callbacks the hook and promotions use, other keys kept, bad input
 * refused with nothing written, pull requests found by head and base or
 * by number, who may approve.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "config.h"
#include "facts.h"
#include "pipeline.h"
#include "store.h"
#include "util.h"
#include "unit.h"

static char repo_path[PATH_MAX];
static struct fg_store *st;
static git_repository *repo;
static git_oid c1, c2;
static char h1[GIT_OID_HEXSZ + 1], h2[GIT_OID_HEXSZ + 1];

static void
setup(void)
{
	struct fg_err err = FG_ERR_INIT;
	git_object *o = NULL;

	if (st != NULL)
		return;
	snprintf(repo_path, sizeof(repo_path), "%s/repo", fg_unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(fg_unit_sh("set -e; git init -q -b main '%s';"
	    "cd '%s'; git config user.name T; git config user.email t@e.org;"
	    "echo 1 > f; git add f; git commit -q -m one; git tag one;"
	    "echo 2 > f; git commit -q -am two; git tag two;"
	    "printf '%%s' '{\"version\":1,\"number\":4,\"author\":\"alice\","
	    "\"head\":{\"sha\":\"'$(git rev-parse two)'\"},\"base\":{\"ref\":"
	    "\"refs/heads/staging\"},\"state\":\"open\",\"reviews\":[]}' "
	    "> pull.json; b=$(git hash-object -w pull.json);"
	    "t=$(printf '100644 blob %%s\\tpull.json\\n' $b | git mktree);"
	    "git update-ref refs/flowgate/pulls/4 $(git commit-tree -m p $t)",
	    repo_path, repo_path), 0);
	CU_ASSERT_EQUAL_FATAL(fg_store_open(&st, repo_path, 0, &err), 0);
	repo = fg_store_repo(st);
	CU_ASSERT_EQUAL_FATAL(git_revparse_single(&o, repo, "one"), 0);
	git_oid_cpy(&c1, git_object_id(o));
	git_object_free(o);
	CU_ASSERT_EQUAL_FATAL(git_revparse_single(&o, repo, "two"), 0);
	git_oid_cpy(&c2, git_object_id(o));
	git_object_free(o);
	git_oid_tostr(h1, sizeof(h1), &c1);
	git_oid_tostr(h2, sizeof(h2), &c2);
}

static void
test_facts_status_written_is_read_back(void)
{
	struct fg_err err = FG_ERR_INIT;
	char state[16];

	setup();
	CU_ASSERT_EQUAL(fg_facts_status(state, sizeof(state), h1, "ci/build",
	    repo), FG_ENOTFOUND);
	CU_ASSERT_EQUAL(fg_facts_set_status(st, &c1, "ci/build", "failure",
	    "red", "ci", 1000, &err), 0);
	CU_ASSERT_EQUAL(fg_facts_status(state, sizeof(state), h1, "ci/build",
	    repo), 0);
	CU_ASSERT_STRING_EQUAL(state, "failure");
	/* The latest status of a context wins; other contexts stay. */
	CU_ASSERT_EQUAL(fg_facts_set_status(st, &c1, "ci/test", "success",
	    NULL, "ci", 1001, &err), 0);
	CU_ASSERT_EQUAL(fg_facts_set_status(st, &c1, "ci/build", "success",
	    NULL, "ci", 1002, &err), 0);
	CU_ASSERT_EQUAL(fg_facts_status(state, sizeof(state), h1, "ci/build",
	    repo), 0);
	CU_ASSERT_STRING_EQUAL(state, "success");
	CU_ASSERT_EQUAL(fg_facts_status(state, sizeof(state), h1, "ci/test",
	    repo), 0);
	CU_ASSERT_STRING_EQUAL(state, "success");
	CU_ASSERT_EQUAL(fg_facts_status(state, sizeof(state), h2, "ci/build",
	    repo), FG_ENOTFOUND);
}

static void
test_facts_status_refuses_bad_input_and_writes_nothing(void)
{
	struct fg_err err = FG_ERR_INIT;
	git_oid before, after, missing;

	setup();
	CU_ASSERT_EQUAL(fg_store_tip(&before, st, FG_FACTS_NOTES_REF, &err),
	    0);
	CU_ASSERT_EQUAL(fg_facts_set_status(st, &c1, "ci/build", "green",
	    NULL, "ci", 1, &err), FG_EINVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "unknown state 'green'"));
	CU_ASSERT_EQUAL(fg_facts_set_status(st, &c1, "ci/\nbuild", "success",
	    NULL, "ci", 1, &err), FG_EINVALID);
	CU_ASSERT_EQUAL(fg_facts_set_status(st, &c1, "", "success", NULL,
	    "ci", 1, &err), FG_EINVALID);
	git_oid_fromstr(&missing, "0123456789abcdef0123456789abcdef01234567");
	CU_ASSERT_EQUAL(fg_facts_set_status(st, &missing, "ci/build",
	    "success", NULL, "ci", 1, &err), FG_ENOTFOUND);
	CU_ASSERT_EQUAL(fg_store_tip(&after, st, FG_FACTS_NOTES_REF, &err),
	    0);
	CU_ASSERT(git_oid_equal(&before, &after));
}

static void
test_facts_approvals_keep_one_per_user(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_strv who = { NULL, 0 };
	size_t i;

	setup();
	CU_ASSERT_EQUAL(fg_facts_manual(&who, h2, "production", repo),
	    FG_ENOTFOUND);
	CU_ASSERT_EQUAL(fg_facts_approve(st, &c2, "production", "carol", 5,
	    &err), 0);
	CU_ASSERT_EQUAL(fg_facts_approve(st, &c2, "production", "dave", 6,
	    &err), 0);
	CU_ASSERT_EQUAL(fg_facts_approve(st, &c2, "production", "Carol", 7,
	    &err), 0);
	CU_ASSERT_EQUAL(fg_facts_manual(&who, h2, "production", repo), 0);
	CU_ASSERT_EQUAL(who.n, 2);
	if (who.n == 2) {
		CU_ASSERT_STRING_EQUAL(who.v[0], "dave");
		CU_ASSERT_STRING_EQUAL(who.v[1], "Carol");
	}
	for (i = 0; i < who.n; i++)
		free(who.v[i]);
	free(who.v);
	CU_ASSERT_EQUAL(fg_facts_approve(st, &c2, "nowhere", "carol", 8,
	    &err), FG_EINVALID);
	CU_ASSERT_EQUAL(fg_facts_approve(st, &c2, "staging", "", 8, &err),
	    FG_EINVALID);
}

static void
test_facts_gate_verdict_keeps_other_keys(void)
{
	struct fg_err err = FG_ERR_INIT;
	cJSON *note = NULL, *keys = NULL;
	const cJSON *g;

	setup();
	CU_ASSERT_EQUAL(fg_facts_set_status(st, &c2, "ci/x", "pending", NULL,
	    "ci", 9, &err), 0);
	CU_ASSERT_EQUAL_FATAL(fg_facts_gate_keys(&keys, "staging", false, 2,
	    10), 0);
	CU_ASSERT_EQUAL(fg_store_note_merge(st, &c2, keys, NULL, NULL, &err),
	    0);
	cJSON_Delete(keys);
	CU_ASSERT_EQUAL(fg_store_note_get(&note, st, &c2, &err), 0);
	g = cJSON_GetObjectItem(cJSON_GetObjectItem(note, "gates"),
	    "staging");
	CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(g,
	    "verdict")), "refused");
	CU_ASSERT_EQUAL(cJSON_GetObjectItem(g, "issues")->valuedouble, 2);
	CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItem(cJSON_GetObjectItem(note,
	    "statuses"), "ci/x"));
	CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItem(note, "approvals"));
	cJSON_Delete(note);
}

static void
test_facts_pull_by_head_and_base_or_number(void)
{
	struct fg_err err = FG_ERR_INIT;
	cJSON *p = NULL;

	setup();
	CU_ASSERT_EQUAL(fg_facts_pull_for(&p, h2, "refs/heads/staging", repo),
	    0);
	CU_ASSERT_EQUAL(cJSON_GetObjectItem(p, "number")->valuedouble, 4);
	cJSON_Delete(p);
	CU_ASSERT_EQUAL(fg_facts_pull_for(&p, h2, "refs/heads/main", repo),
	    FG_ENOTFOUND);
	CU_ASSERT_PTR_NULL(p);
	CU_ASSERT_EQUAL(fg_facts_pull_for(&p, h1, "refs/heads/staging", repo),
	    FG_ENOTFOUND);
	CU_ASSERT_EQUAL(fg_facts_pull(&p, repo, 4, &err), 0);
	CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(p,
	    "author")), "alice");
	cJSON_Delete(p);
	CU_ASSERT_EQUAL(fg_facts_pull(&p, repo, 5, &err), FG_ENOTFOUND);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no pull request #5"));
	CU_ASSERT_EQUAL(fg_facts_pull(&p, repo, 0, &err), FG_EINVALID);
}

static void
test_facts_may_approve_follows_the_manual_gate(void)
{
	static const char yaml[] =
	    "version: 1\n"
	    "template: progressive\n"
	    "admins: [admin]\n"
	    "stages:\n"
	    "  staging: {branch: main, environments: [stg]}\n"
	    "  production:\n"
	    "    branch: production\n"
	    "    environments: [live]\n"
	    "    gates: [{manual: {approvers: [carol]}}]\n"
	    "environments:\n"
	    "  stg: {deploy: {command: [/bin/true]}}\n"
	    "  live: {deploy: {command: [/bin/true]}}\n";
	static const char yaml2[] =
	    "version: 1\n"
	    "template: progressive\n"
	    "admins: [admin]\n"
	    "stages:\n"
	    "  staging: {branch: main, environments: [stg]}\n"
	    "  production:\n"
	    "    branch: production\n"
	    "    environments: [live]\n"
	    "    gates: [{manual: {}}]\n"
	    "environments:\n"
	    "  stg: {deploy: {command: [/bin/true]}}\n"
	    "  live: {deploy: {command: [/bin/true]}}\n";
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_config *cfg = NULL;
	const struct fg_stage *prod, *stg;

	CU_ASSERT_EQUAL_FATAL(fg_config_parse(&cfg, yaml, strlen(yaml),
	    "pipeline.yaml", NULL, 0, NULL, &d), 0);
	prod = fg_pipeline_stage(cfg, "production");
	stg = fg_pipeline_stage(cfg, "staging");
	CU_ASSERT(fg_facts_may_approve(cfg, prod, "carol"));
	CU_ASSERT(fg_facts_may_approve(cfg, prod, "CAROL"));
	CU_ASSERT(!fg_facts_may_approve(cfg, prod, "admin"));
	CU_ASSERT(!fg_facts_may_approve(cfg, stg, "carol"));
	fg_config_free(cfg);
	cfg = NULL;
	/* Without approvers, the admins may. */
	CU_ASSERT_EQUAL_FATAL(fg_config_parse(&cfg, yaml2, strlen(yaml2),
	    "pipeline.yaml", NULL, 0, NULL, &d), 0);
	prod = fg_pipeline_stage(cfg, "production");
	CU_ASSERT(fg_facts_may_approve(cfg, prod, "admin"));
	CU_ASSERT(!fg_facts_may_approve(cfg, prod, "carol"));
	fg_config_free(cfg);
	fg_diags_release(&d);
}

static CU_TestInfo tests[] = {
	{ "a status written is read back",
	    test_facts_status_written_is_read_back },
	{ "bad status input is refused and writes nothing",
	    test_facts_status_refuses_bad_input_and_writes_nothing },
	{ "approvals keep one per user",
	    test_facts_approvals_keep_one_per_user },
	{ "a gate verdict keeps the note's other keys",
	    test_facts_gate_verdict_keeps_other_keys },
	{ "a pull request by head and base, or by number",
	    test_facts_pull_by_head_and_base_or_number },
	{ "who may approve follows the manual gate",
	    test_facts_may_approve_follows_the_manual_gate },
	CU_TEST_INFO_NULL
};

FG_UNIT_MAIN("facts", tests)
