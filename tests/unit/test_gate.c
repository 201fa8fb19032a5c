/*
 * test_gate.c - the gate engine gives one verdict, with the exact issue
 * text a pusher reads, for every gate kind passing and failing.  Configs
 * are built as structs (the YAML reader is not linked here); facts come
 * from fakes; up-to-date, subjects and command gates use a real
 * repository built with git.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "gate.h"
#include "template.h"
#include "util.h"
#include "unit.h"

#define C_SHA "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"
#define OLD_SHA "ffffffffffffffffffffffffffffffffffffffff"

/* The facts the fakes hand out, and what the engine asked for. */
struct fake {
	const char *ctx[8];
	const char *state[8];
	size_t nstatus;
	int status_rc;			/* returned for every context if set */
	const char *pull;		/* pull.json text, NULL: none */
	char asked_base[128];
	const char *env[8];
	int64_t since[8];
	size_t ndeployed;
	char asked_envs[256];
	const char *approved_by[8];
	size_t napproved;
	char asked_stage[32];
};

static struct fake fake;

static int
fake_status(char *state, size_t size, const char *sha, const char *context,
    void *payload)
{
	struct fake *f = payload;
	size_t i;

	CU_ASSERT_EQUAL(strlen(sha), 40);
	if (f->status_rc != 0)
		return f->status_rc;
	for (i = 0; i < f->nstatus; i++) {
		if (strcmp(f->ctx[i], context) == 0) {
			snprintf(state, size, "%s", f->state[i]);
			return 0;
		}
	}
	return FG_ENOTFOUND;
}

static int
fake_pull_for(cJSON **out, const char *sha, const char *base_ref,
    void *payload)
{
	struct fake *f = payload;

	(void)sha;
	snprintf(f->asked_base, sizeof(f->asked_base), "%s", base_ref);
	if (f->pull == NULL)
		return FG_ENOTFOUND;
	*out = cJSON_Parse(f->pull);
	return *out != NULL ? 0 : FG_EINVALID;
}

static int
fake_deployed(int64_t *since, const char *env, const char *sha,
    void *payload)
{
	struct fake *f = payload;
	size_t i, len = strlen(f->asked_envs);

	(void)sha;
	snprintf(f->asked_envs + len, sizeof(f->asked_envs) - len, "%s%s",
	    len ? "," : "", env);
	for (i = 0; i < f->ndeployed; i++) {
		if (strcmp(f->env[i], env) == 0) {
			*since = f->since[i];
			return 0;
		}
	}
	return FG_ENOTFOUND;
}

static int
fake_manual(struct fg_strv *out, const char *sha, const char *stage,
    void *payload)
{
	struct fake *f = payload;
	size_t i;

	(void)sha;
	snprintf(f->asked_stage, sizeof(f->asked_stage), "%s", stage);
	if (f->napproved == 0)
		return FG_ENOTFOUND;
	out->v = calloc(f->napproved, sizeof(*out->v));
	for (i = 0; i < f->napproved; i++)
		out->v[out->n++] = fg_strdup(f->approved_by[i]);
	return 0;
}

static const struct fg_gate_facts facts = {
	fake_status, fake_pull_for, fake_deployed, fake_manual, &fake,
};

/* A release-template config: develop, staging, main, hotfix. */
static struct fg_config cfg;
static char *qa[] = { "qa", NULL };
static char *uat_sit[] = { "uat", "sit", NULL };
static char *prod[] = { "prod", NULL };

static void
setup_config(void)
{
	static const char *const branches[FG_STAGE_COUNT] = {
		NULL, "develop", "staging", "main", "hotfix",
	};
	int i;

	memset(&cfg, 0, sizeof(cfg));
	cfg.tmpl = fg_template_find("release");
	for (i = 0; i < FG_STAGE_COUNT; i++) {
		cfg.stages[i].id = (enum fg_stage_id)i;
		cfg.stages[i].configured = true;
		cfg.stages[i].tmpl = fg_template_stage(cfg.tmpl,
		    (enum fg_stage_id)i);
		cfg.stages[i].branch = (char *)branches[i];
	}
	cfg.stages[FG_STAGE_INTEGRATION].envs = (struct fg_strv){ qa, 1 };
	cfg.stages[FG_STAGE_STAGING].envs = (struct fg_strv){ uat_sit, 2 };
	cfg.stages[FG_STAGE_PRODUCTION].envs = (struct fg_strv){ prod, 1 };
	cfg.stages[FG_STAGE_HOTFIX].envs = (struct fg_strv){ prod, 1 };
	memset(&fake, 0, sizeof(fake));
}

/* The evaluation input most tests use: commit C into production. */
static git_oid c_oid;

static struct fg_gate_input
input(enum fg_stage_id stage, struct fg_gate *gates, size_t ngates,
    int64_t now)
{
	struct fg_gate_input in;

	git_oid_fromstr(&c_oid, C_SHA);
	cfg.stages[stage].gates = gates;
	cfg.stages[stage].ngates = ngates;
	memset(&in, 0, sizeof(in));
	in.cfg = &cfg;
	in.stage = &cfg.stages[stage];
	in.commit = &c_oid;
	in.now = now;
	in.facts = &facts;
	in.run_commands = true;
	return in;
}

/* Evaluate one gate into production at now; v is the caller's. */
static void
eval_one(struct fg_verdict *v, struct fg_gate *g, int64_t now)
{
	struct fg_gate_input in = input(FG_STAGE_PRODUCTION, g, 1, now);
	struct fg_err err = FG_ERR_INIT;

	CU_ASSERT_EQUAL_FATAL(fg_gate_eval(v, &in, &err), 0);
	CU_ASSERT_EQUAL_FATAL(v->nchecks, 1);
}

static void
assert_passed(const struct fg_verdict *v, const char *detail)
{
	CU_ASSERT_TRUE(v->passed);
	CU_ASSERT_EQUAL(v->nissues, 0);
	CU_ASSERT_TRUE(v->checks[0].passed);
	CU_ASSERT_STRING_EQUAL(v->checks[0].detail, detail);
	if (strcmp(v->checks[0].detail, detail) != 0)
		fprintf(stderr, "\n  got  %s\n  want %s\n", v->checks[0].detail,
		    detail);
}

static void
assert_issue(const struct fg_verdict *v, const char *gate,
    const char *finding, const char *fix)
{
	CU_ASSERT_FALSE(v->passed);
	CU_ASSERT_EQUAL_FATAL(v->nissues, 1);
	CU_ASSERT_FALSE(v->checks[0].passed);
	CU_ASSERT_STRING_EQUAL(v->issues[0].gate, gate);
	CU_ASSERT_STRING_EQUAL(v->issues[0].commit, "1a2b3c4");
	CU_ASSERT_STRING_EQUAL(v->issues[0].finding, finding);
	CU_ASSERT_STRING_EQUAL(v->issues[0].fix, fix);
	CU_ASSERT_STRING_EQUAL(v->checks[0].detail, finding);
	if (strcmp(v->issues[0].finding, finding) != 0 ||
	    strcmp(v->issues[0].fix, fix) != 0)
		fprintf(stderr, "\n  got  %s | %s\n  want %s | %s\n",
		    v->issues[0].finding, v->issues[0].fix, finding, fix);
}

static bool
starts_with(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) == 0)
		return true;
	fprintf(stderr, "\n  got  %s\n  want %s...\n", s, prefix);
	return false;
}

static int64_t
utc(const char *s)
{
	int64_t t = 0;

	CU_ASSERT_EQUAL(fg_parse_utc(&t, s), 0);
	return t;
}

/* Approvals. */

static struct fg_gate
approvals(int n)
{
	struct fg_gate g;

	memset(&g, 0, sizeof(g));
	g.kind = FG_GATE_APPROVALS;
	g.approvals = n;
	return g;
}

#define PULL(author, reviews)						\
	"{\"version\":1,\"number\":42,\"author\":\"" author "\","	\
	"\"state\":\"open\",\"head\":{\"sha\":\"" C_SHA "\"},"		\
	"\"base\":{\"ref\":\"refs/heads/main\"},\"reviews\":[" reviews "]}"
#define REVIEW(user, state, sha)					\
	"{\"user\":\"" user "\",\"state\":\"" state "\",\"commit\":\"" sha "\"}"

static void
test_gate_approvals_pass_with_distinct_reviewers(void)
{
	struct fg_gate g = approvals(2);
	struct fg_verdict v;

	setup_config();
	fake.pull = PULL("carol", REVIEW("alice", "approved", C_SHA) ","
	    REVIEW("bob", "approved", C_SHA));
	eval_one(&v, &g, 0);
	assert_passed(&v, "2 approvals on pull request #42, 2 needed "
	    "(alice, bob)");
	CU_ASSERT_STRING_EQUAL(fake.asked_base, "refs/heads/main");
	fg_verdict_release(&v);
}

static void
test_gate_approvals_ignore_authors_own_approval(void)
{
	struct fg_gate g = approvals(2);
	struct fg_verdict v;

	setup_config();
	fake.pull = PULL("Carol", REVIEW("carol", "approved", C_SHA) ","
	    REVIEW("alice", "approved", C_SHA));
	eval_one(&v, &g, 0);
	assert_issue(&v, "approvals", "1 of 2 approvals on pull request #42 "
	    "(not counted: the author's own approval)", "ask 1 more person "
	    "other than the author to approve pull request #42");
	fg_verdict_release(&v);
}

static void
test_gate_refuses_stale_approval(void)
{
	struct fg_gate g = approvals(2);
	struct fg_verdict v;

	setup_config();
	fake.pull = PULL("carol", REVIEW("alice", "approved", C_SHA) ","
	    REVIEW("bob", "approved", OLD_SHA));
	eval_one(&v, &g, 0);
	assert_issue(&v, "approvals", "1 of 2 approvals on pull request #42 "
	    "(not counted: bob approved an older commit)", "ask 1 more "
	    "person other than the author to approve pull request #42");
	fg_verdict_release(&v);
}

static void
test_gate_approvals_changes_requested_by_one_approval_by_another(void)
{
	struct fg_gate g = approvals(2), one = approvals(1);
	struct fg_verdict v;

	setup_config();
	fake.pull = PULL("carol", REVIEW("dave", "changes_requested", C_SHA)
	    "," REVIEW("alice", "approved", C_SHA) ","
	    REVIEW("erin", "commented", C_SHA) ","
	    REVIEW("frank", "dismissed", C_SHA));
	eval_one(&v, &g, 0);
	assert_issue(&v, "approvals", "1 of 2 approvals on pull request #42 "
	    "(not counted: dave requested changes, frank's review was "
	    "dismissed)", "ask 1 more person other than the author to "
	    "approve pull request #42");
	fg_verdict_release(&v);
	eval_one(&v, &one, 0);
	assert_passed(&v, "1 approval on pull request #42, 1 needed (alice)");
	fg_verdict_release(&v);
}

static void
test_gate_approvals_count_a_reviewer_once_by_last_review(void)
{
	struct fg_gate g = approvals(2), one = approvals(1);
	struct fg_verdict v;

	setup_config();
	fake.pull = PULL("carol", REVIEW("alice", "approved", C_SHA) ","
	    REVIEW("Alice", "approved", C_SHA));
	eval_one(&v, &g, 0);
	assert_issue(&v, "approvals", "1 of 2 approvals on pull request #42",
	    "ask 1 more person other than the author to approve pull "
	    "request #42");
	fg_verdict_release(&v);
	/* A later request for changes replaces an approval. */
	fake.pull = PULL("carol", REVIEW("alice", "approved", C_SHA) ","
	    REVIEW("alice", "changes_requested", C_SHA));
	eval_one(&v, &one, 0);
	assert_issue(&v, "approvals", "0 of 1 approvals on pull request #42 "
	    "(not counted: alice requested changes)", "ask 1 more person "
	    "other than the author to approve pull request #42");
	fg_verdict_release(&v);
	/* And a later approval replaces a request for changes. */
	fake.pull = PULL("carol", REVIEW("alice", "changes_requested", C_SHA)
	    "," REVIEW("alice", "approved", C_SHA));
	eval_one(&v, &one, 0);
	assert_passed(&v, "1 approval on pull request #42, 1 needed (alice)");
	fg_verdict_release(&v);
}

static void
test_gate_approvals_need_a_pull_request(void)
{
	struct fg_gate g = approvals(2);
	struct fg_verdict v;

	setup_config();
	eval_one(&v, &g, 0);
	assert_issue(&v, "approvals", "no pull request brings 1a2b3c4 into "
	    "main", "open a pull request for 1a2b3c4 into main and get 2 "
	    "approving reviews");
	fg_verdict_release(&v);
	fake.pull = "{\"version\":1,\"number\":7,\"state\":\"closed\","
	    "\"head\":{\"sha\":\"" C_SHA "\"},\"base\":{\"ref\":\"x\"},"
	    "\"reviews\":[" REVIEW("alice", "approved", C_SHA) ","
	    REVIEW("bob", "approved", C_SHA) "]}";
	eval_one(&v, &g, 0);
	assert_issue(&v, "approvals", "pull request #7 was closed without "
	    "being merged", "reopen it, or open a new pull request for "
	    "1a2b3c4 into main");
	fg_verdict_release(&v);
	fake.pull = "{\"version\":1,\"number\":7,\"reviews\":{}}";
	eval_one(&v, &g, 0);
	assert_issue(&v, "approvals", "the pull request of 1a2b3c4 has "
	    "malformed facts", "look at its pull.json under "
	    "refs/flowgate/pulls/");
	fg_verdict_release(&v);
}

/* Status. */

static char *ci_build_test_lint[] = { "ci/build", "ci/test", "ci/lint",
    NULL };

static struct fg_gate
status(size_t n)
{
	struct fg_gate g;

	memset(&g, 0, sizeof(g));
	g.kind = FG_GATE_STATUS;
	g.contexts = (struct fg_strv){ ci_build_test_lint, n };
	return g;
}

static void
test_gate_status_passes_when_every_context_succeeded(void)
{
	struct fg_gate g = status(2);
	struct fg_verdict v;

	setup_config();
	fake.ctx[0] = "ci/build";
	fake.state[0] = "success";
	fake.ctx[1] = "ci/test";
	fake.state[1] = "success";
	fake.nstatus = 2;
	eval_one(&v, &g, 0);
	assert_passed(&v, "'ci/build', 'ci/test' are success");
	fg_verdict_release(&v);
}

static void
test_gate_status_names_the_missing_context(void)
{
	struct fg_gate g = status(1);
	struct fg_verdict v;

	setup_config();
	eval_one(&v, &g, 0);
	assert_issue(&v, "status", "no status 'ci/build' for 1a2b3c4",
	    "wait for CI to report 'ci/build' for 1a2b3c4");
	fg_verdict_release(&v);
}

static void
test_gate_status_says_failure_and_pending(void)
{
	struct fg_gate g = status(3);
	struct fg_verdict v;

	setup_config();
	fake.ctx[0] = "ci/build";
	fake.state[0] = "success";
	fake.ctx[1] = "ci/test";
	fake.state[1] = "failure";
	fake.ctx[2] = "ci/lint";
	fake.state[2] = "pending";
	fake.nstatus = 3;
	eval_one(&v, &g, 0);
	assert_issue(&v, "status", "'ci/test' is failure; 'ci/lint' is "
	    "pending", "fix what 'ci/test' reports and push a new commit; "
	    "wait for 'ci/lint' to finish");
	fg_verdict_release(&v);
	fake.status_rc = FG_EIO;
	g = status(1);
	eval_one(&v, &g, 0);
	assert_issue(&v, "status", "cannot read status 'ci/build': i/o "
	    "error", "try again later");
	fg_verdict_release(&v);
}

/* Soak. */

static struct fg_gate
soak(int minutes)
{
	struct fg_gate g;

	memset(&g, 0, sizeof(g));
	g.kind = FG_GATE_SOAK;
	g.soak_minutes = minutes;
	return g;
}

static void
test_gate_soak_passes_after_every_env_soaked(void)
{
	struct fg_gate g = soak(60);
	struct fg_verdict v;
	int64_t now = utc("2024-06-11T12:00:00Z");

	setup_config();
	fake.env[0] = "uat";
	fake.since[0] = now - 7200;
	fake.env[1] = "sit";
	fake.since[1] = now - 3600;
	fake.ndeployed = 2;
	eval_one(&v, &g, now);
	assert_passed(&v, "on every environment of staging ('uat', 'sit') "
	    "for at least 60 minutes");
	CU_ASSERT_STRING_EQUAL(fake.asked_envs, "uat,sit");
	fg_verdict_release(&v);
}

static void
test_gate_soak_says_how_long_is_left(void)
{
	struct fg_gate g = soak(60);
	struct fg_verdict v;
	int64_t now = utc("2024-06-11T12:00:00Z");

	setup_config();
	fake.env[0] = "uat";
	fake.since[0] = now - 7200;
	fake.env[1] = "sit";
	fake.since[1] = now - 720;
	fake.ndeployed = 2;
	eval_one(&v, &g, now);
	assert_issue(&v, "soak", "1a2b3c4 has not soaked 60 minutes in "
	    "staging: on 'sit' for 12 of 60 minutes",
	    "wait until 2024-06-11T12:48:00Z");
	fg_verdict_release(&v);
	fake.ndeployed = 0;
	eval_one(&v, &g, now);
	assert_issue(&v, "soak", "1a2b3c4 has not soaked 60 minutes in "
	    "staging: not deployed to 'uat', 'sit'", "deploy 1a2b3c4 to every "
	    "environment of staging ('uat', 'sit'), then wait 60 minutes");
	fg_verdict_release(&v);
	fake.env[0] = "sit";
	fake.since[0] = now - 720;
	fake.ndeployed = 1;
	eval_one(&v, &g, now);
	assert_issue(&v, "soak", "1a2b3c4 has not soaked 60 minutes in "
	    "staging: not deployed to 'uat'; on 'sit' for 12 of 60 minutes",
	    "deploy 1a2b3c4 to every environment of staging ('uat', 'sit'), "
	    "then wait 60 minutes");
	fg_verdict_release(&v);
}

static void
test_gate_soak_of_a_hotfix_watches_the_hotfix_environment(void)
{
	struct fg_gate g = soak(30);
	struct fg_gate_input in;
	struct fg_verdict v;
	struct fg_err err = FG_ERR_INIT;
	int64_t now = utc("2024-06-11T12:00:00Z");

	setup_config();
	in = input(FG_STAGE_PRODUCTION, &g, 1, now);
	in.from = &cfg.stages[FG_STAGE_HOTFIX];
	fake.env[0] = "prod";
	fake.since[0] = now - 1800;
	fake.ndeployed = 1;
	CU_ASSERT_EQUAL_FATAL(fg_gate_eval(&v, &in, &err), 0);
	assert_passed(&v, "on every environment of hotfix ('prod') for at "
	    "least 30 minutes");
	CU_ASSERT_STRING_EQUAL(fake.asked_envs, "prod");
	fg_verdict_release(&v);
	/* On the hotfix stage itself, nothing comes before it. */
	in = input(FG_STAGE_HOTFIX, &g, 1, now);
	CU_ASSERT_EQUAL_FATAL(fg_gate_eval(&v, &in, &err), 0);
	assert_issue(&v, "soak", "soak cannot apply to stage 'hotfix': no "
	    "earlier stage deploys to environments", "remove the soak gate "
	    "from stage 'hotfix' in pipeline.yaml");
	fg_verdict_release(&v);
}

static void
test_gate_previous_stage_follows_the_template(void)
{
	const struct fg_stage *s = cfg.stages;

	setup_config();
	CU_ASSERT_PTR_EQUAL(fg_gate_previous_stage(&cfg,
	    &s[FG_STAGE_PRODUCTION], NULL), &s[FG_STAGE_STAGING]);
	CU_ASSERT_PTR_EQUAL(fg_gate_previous_stage(&cfg,
	    &s[FG_STAGE_STAGING], NULL), &s[FG_STAGE_INTEGRATION]);
	/* Developer leases sandboxes: no environments of its own. */
	CU_ASSERT_PTR_NULL(fg_gate_previous_stage(&cfg,
	    &s[FG_STAGE_INTEGRATION], NULL));
	CU_ASSERT_PTR_NULL(fg_gate_previous_stage(&cfg, &s[FG_STAGE_HOTFIX],
	    NULL));
	CU_ASSERT_PTR_EQUAL(fg_gate_previous_stage(&cfg,
	    &s[FG_STAGE_PRODUCTION], &s[FG_STAGE_HOTFIX]),
	    &s[FG_STAGE_HOTFIX]);
	/* An unconfigured staging leaves production without one. */
	cfg.stages[FG_STAGE_STAGING].configured = false;
	CU_ASSERT_PTR_NULL(fg_gate_previous_stage(&cfg,
	    &s[FG_STAGE_PRODUCTION], NULL));
}

/* Manual. */

static char *alice_bob[] = { "alice", "bob", NULL };
static char *root_only[] = { "root", NULL };

static void
test_gate_manual_accepts_an_allowed_approver(void)
{
	struct fg_gate g;
	struct fg_verdict v;

	setup_config();
	memset(&g, 0, sizeof(g));
	g.kind = FG_GATE_MANUAL;
	g.approvers = (struct fg_strv){ alice_bob, 2 };
	fake.approved_by[0] = "mallory";
	fake.approved_by[1] = "Bob";
	fake.napproved = 2;
	eval_one(&v, &g, 0);
	assert_passed(&v, "approved for production by Bob");
	CU_ASSERT_STRING_EQUAL(fake.asked_stage, "production");
	fg_verdict_release(&v);
	fake.napproved = 1;
	eval_one(&v, &g, 0);
	assert_issue(&v, "manual", "no allowed approval of 1a2b3c4 for "
	    "production (approved by mallory, who may not)", "ask alice or "
	    "bob to run 'flowgate approve 1a2b3c4 --stage production'");
	fg_verdict_release(&v);
}

static void
test_gate_manual_falls_back_to_admins(void)
{
	struct fg_gate g;
	struct fg_verdict v;

	setup_config();
	memset(&g, 0, sizeof(g));
	g.kind = FG_GATE_MANUAL;
	cfg.admins = (struct fg_strv){ root_only, 1 };
	eval_one(&v, &g, 0);
	assert_issue(&v, "manual", "no allowed approval of 1a2b3c4 for "
	    "production", "ask an admin (root) to run 'flowgate approve "
	    "1a2b3c4 --stage production'");
	fg_verdict_release(&v);
	fake.approved_by[0] = "root";
	fake.napproved = 1;
	eval_one(&v, &g, 0);
	assert_passed(&v, "approved for production by root");
	fg_verdict_release(&v);
	cfg.admins = (struct fg_strv){ NULL, 0 };
	eval_one(&v, &g, 0);
	assert_issue(&v, "manual", "no one may approve 1a2b3c4 for "
	    "production: the gate lists no approvers and the config names no "
	    "admins", "list approvers in the manual gate of stage "
	    "'production', or admins, in pipeline.yaml");
	fg_verdict_release(&v);
}

/* Window and freeze. */

static struct fg_gate
berlin_window(void)
{
	struct fg_gate g;

	memset(&g, 0, sizeof(g));
	g.kind = FG_GATE_WINDOW;
	g.days = 0xf;			/* mon-thu */
	g.from_minute = 9 * 60;
	g.to_minute = 16 * 60;
	g.tz = "Europe/Berlin";
	return g;
}

static void
test_gate_window_passes_inside_hours_in_berlin(void)
{
	struct fg_gate g = berlin_window();
	struct fg_verdict v;

	setup_config();
	/* Tuesday 10:00 CEST. */
	eval_one(&v, &g, utc("2024-06-11T08:00:00Z"));
	assert_passed(&v, "now is Tue 10:00 CEST, inside mon-thu 09:00-16:00 "
	    "Europe/Berlin");
	fg_verdict_release(&v);
	/* Tuesday 09:00 CET, in winter: the offset follows the date. */
	eval_one(&v, &g, utc("2024-01-16T08:00:00Z"));
	assert_passed(&v, "now is Tue 09:00 CET, inside mon-thu 09:00-16:00 "
	    "Europe/Berlin");
	fg_verdict_release(&v);
}

static void
test_gate_window_refuses_friday_with_flowgate_now(void)
{
	struct fg_gate g = berlin_window();
	struct fg_verdict v;

	setup_config();
	setenv("FLOWGATE_NOW", "2024-06-14T08:00:00Z", 1);
	eval_one(&v, &g, fg_now());
	unsetenv("FLOWGATE_NOW");
	assert_issue(&v, "window", "now is Fri 10:00 CEST, outside the "
	    "window mon-thu 09:00-16:00 Europe/Berlin", "try again when it "
	    "opens, Mon 2024-06-17 09:00 CEST (2024-06-17T07:00:00Z)");
	fg_verdict_release(&v);
}

static void
test_gate_window_edges_and_dst_change(void)
{
	struct fg_gate g = berlin_window();
	struct fg_verdict v;

	setup_config();
	/* 16:00 is already outside: the hours are [from, to). */
	eval_one(&v, &g, utc("2024-06-11T14:00:00Z"));
	assert_issue(&v, "window", "now is Tue 16:00 CEST, outside the "
	    "window mon-thu 09:00-16:00 Europe/Berlin", "try again when it "
	    "opens, Wed 2024-06-12 09:00 CEST (2024-06-12T07:00:00Z)");
	fg_verdict_release(&v);
	eval_one(&v, &g, utc("2024-06-11T06:59:59Z"));
	assert_issue(&v, "window", "now is Tue 08:59 CEST, outside the "
	    "window mon-thu 09:00-16:00 Europe/Berlin", "try again when it "
	    "opens, Tue 2024-06-11 09:00 CEST (2024-06-11T07:00:00Z)");
	fg_verdict_release(&v);
	/* Friday in CET; Monday's opening is after the switch to CEST. */
	eval_one(&v, &g, utc("2024-03-29T10:00:00Z"));
	assert_issue(&v, "window", "now is Fri 11:00 CET, outside the "
	    "window mon-thu 09:00-16:00 Europe/Berlin", "try again when it "
	    "opens, Mon 2024-04-01 09:00 CEST (2024-04-01T07:00:00Z)");
	fg_verdict_release(&v);
}

static void
test_gate_window_defaults_to_utc_every_day(void)
{
	struct fg_gate g;
	struct fg_verdict v;

	setup_config();
	memset(&g, 0, sizeof(g));
	g.kind = FG_GATE_WINDOW;
	g.to_minute = 24 * 60;
	eval_one(&v, &g, utc("2024-06-15T23:59:00Z"));
	assert_passed(&v, "now is Sat 23:59 UTC, inside every day "
	    "00:00-24:00 UTC");
	fg_verdict_release(&v);
	g.tz = "Mars/Olympus_Mons";
	eval_one(&v, &g, 0);
	assert_issue(&v, "window", "cannot tell the time in "
	    "'Mars/Olympus_Mons': unknown time zone 'Mars/Olympus_Mons' (no "
	    "file '/usr/share/zoneinfo/Mars/Olympus_Mons')", "set the "
	    "window's tz in pipeline.yaml to an IANA zone such as "
	    "'Europe/Berlin'");
	fg_verdict_release(&v);
}

static struct fg_freeze year_end[2];

static struct fg_gate
freeze(void)
{
	struct fg_gate g;

	year_end[0].from = utc("2024-12-20T00:00:00Z");
	year_end[0].to = utc("2025-01-02T00:00:00Z");
	year_end[0].reason = "year-end";
	year_end[1].from = utc("2025-01-02T00:00:00Z");
	year_end[1].to = utc("2025-01-03T00:00:00Z");
	year_end[1].reason = NULL;
	memset(&g, 0, sizeof(g));
	g.kind = FG_GATE_FREEZE;
	g.freezes = year_end;
	g.nfreezes = 2;
	return g;
}

static void
test_gate_freeze_refuses_during_a_period(void)
{
	struct fg_gate g = freeze();
	struct fg_verdict v;

	setup_config();
	eval_one(&v, &g, utc("2024-12-24T18:00:00Z"));
	/* The periods touch: the freeze ends when the second does. */
	assert_issue(&v, "freeze", "production is frozen for 'year-end' from "
	    "2024-12-20T00:00:00Z to 2025-01-02T00:00:00Z", "try again after "
	    "2025-01-03T00:00:00Z");
	fg_verdict_release(&v);
	eval_one(&v, &g, utc("2025-01-02T12:00:00Z"));
	assert_issue(&v, "freeze", "production is frozen from "
	    "2025-01-02T00:00:00Z to 2025-01-03T00:00:00Z", "try again after "
	    "2025-01-03T00:00:00Z");
	fg_verdict_release(&v);
	/* Outside text is scrubbed before anyone reads it. */
	year_end[0].reason = "x\ny\033[2J";
	eval_one(&v, &g, utc("2024-12-24T18:00:00Z"));
	CU_ASSERT_STRING_EQUAL(v.issues[0].finding, "production is frozen "
	    "for 'x y?[2J' from 2024-12-20T00:00:00Z to 2025-01-02T00:00:00Z");
	fg_verdict_release(&v);
}

static void
test_gate_freeze_passes_outside_every_period(void)
{
	struct fg_gate g = freeze();
	struct fg_verdict v;

	setup_config();
	eval_one(&v, &g, utc("2024-12-01T00:00:00Z"));
	assert_passed(&v, "outside every freeze period; the next, "
	    "'year-end', starts 2024-12-20T00:00:00Z");
	fg_verdict_release(&v);
	eval_one(&v, &g, utc("2025-01-03T00:00:00Z"));
	assert_passed(&v, "outside every freeze period");
	fg_verdict_release(&v);
}

/* A real repository for up-to-date, subjects and command gates. */

static git_repository *repo;
static git_oid tip, feature, diverged, hostile;

static void
rev(git_oid *out, const char *spec)
{
	git_object *o = NULL;

	CU_ASSERT_EQUAL_FATAL(git_revparse_single(&o, repo, spec), 0);
	git_oid_cpy(out, git_object_id(o));
	git_object_free(o);
}

static void
open_repo(void)
{
	char path[PATH_MAX];

	if (repo != NULL)
		return;
	snprintf(path, sizeof(path), "%s/repo", fg_unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(fg_unit_sh("set -e; git init -q -b main '%s';"
	    "cd '%s'; git config user.name T; git config user.email t@e.org;"
	    "echo a > f; git add f; git commit -q -m Initial; git branch old;"
	    "for i in 2 3 4; do echo $i > f; git commit -q -am \"Step $i\";"
	    "done;"
	    "git checkout -q -b feature; echo e > g; mkdir ci;"
	    "printf '#!/bin/sh\\ncat g\\necho commit=$FLOWGATE_COMMIT "
	    "stage=$FLOWGATE_STAGE ref=$FLOWGATE_REF\\nexit 3\\n' > ci/check;"
	    "chmod +x ci/check; git add -A;"
	    "git commit -q -m 'Add login' -m 'The body is not shown.';"
	    "printf 'Fix \\033[31mred\\033[0m \\342\\200\\256 evil %%s\\n"
	    "second line\\n' \"$(printf 'x%%.0s' $(seq 1 80))\" > ../msg;"
	    "git commit -q --allow-empty -F ../msg; git branch hostile;"
	    "git checkout -q old; git checkout -q -b diverged;"
	    "echo x > h; git add h; git commit -q -m Diverge",
	    path, path), 0);
	CU_ASSERT_EQUAL_FATAL(git_repository_open(&repo, path), 0);
	rev(&tip, "main");
	rev(&feature, "feature~1");
	rev(&diverged, "diverged");
	rev(&hostile, "hostile");
}

static int
eval_repo(struct fg_verdict *v, struct fg_gate *gates, size_t n,
    const git_oid *commit, const git_oid *branch_tip, bool run)
{
	struct fg_gate_input in = input(FG_STAGE_PRODUCTION, gates, n, 0);
	struct fg_err err = FG_ERR_INIT;

	in.repo = repo;
	in.commit = commit;
	in.branch_tip = branch_tip;
	in.run_commands = run;
	return fg_gate_eval(v, &in, &err);
}

static void
short_id(char *out, const git_oid *id)
{
	git_oid_tostr(out, 8, id);
}

static void
test_gate_up_to_date_follows_the_branch_tip(void)
{
	struct fg_gate g;
	struct fg_verdict v;
	char want[256], fix[256], t[8], d[8], f[8];

	setup_config();
	open_repo();
	memset(&g, 0, sizeof(g));
	g.kind = FG_GATE_UP_TO_DATE;
	short_id(t, &tip);
	short_id(d, &diverged);
	short_id(f, &feature);
	CU_ASSERT_EQUAL_FATAL(eval_repo(&v, &g, 1, &feature, NULL, false), 0);
	assert_passed(&v, "branch 'main' does not exist yet");
	fg_verdict_release(&v);
	CU_ASSERT_EQUAL_FATAL(eval_repo(&v, &g, 1, &tip, &tip, false), 0);
	snprintf(want, sizeof(want), "%s is the tip of 'main'", t);
	assert_passed(&v, want);
	fg_verdict_release(&v);
	CU_ASSERT_EQUAL_FATAL(eval_repo(&v, &g, 1, &feature, &tip, false), 0);
	snprintf(want, sizeof(want), "%s contains the tip of 'main' (%s)", f,
	    t);
	assert_passed(&v, want);
	fg_verdict_release(&v);
	CU_ASSERT_EQUAL_FATAL(eval_repo(&v, &g, 1, &diverged, &tip, false), 0);
	snprintf(want, sizeof(want), "%s is 3 commits behind 'main' (tip %s)",
	    d, t);
	snprintf(fix, sizeof(fix), "merge or rebase onto 'main' (%s) and try "
	    "again", t);
	CU_ASSERT_EQUAL_FATAL(v.nissues, 1);
	CU_ASSERT_STRING_EQUAL(v.issues[0].finding, want);
	CU_ASSERT_STRING_EQUAL(v.issues[0].fix, fix);
	CU_ASSERT_STRING_EQUAL(v.issues[0].subject, "Diverge");
	CU_ASSERT_STRING_EQUAL(v.issues[0].commit, d);
	fg_verdict_release(&v);
}

static struct fg_gate
command(char **argv, size_t n, int timeout)
{
	struct fg_gate g;

	memset(&g, 0, sizeof(g));
	g.kind = FG_GATE_COMMAND;
	g.argv = (struct fg_strv){ argv, n };
	g.timeout = timeout;
	return g;
}

static void
test_gate_command_true_passes_false_fails(void)
{
	static char *t[] = { "true", NULL }, *f[] = { "false", NULL };
	struct fg_gate g = command(t, 1, 10);
	struct fg_verdict v;
	char fix[128], s[8];

	setup_config();
	open_repo();
	short_id(s, &feature);
	CU_ASSERT_EQUAL_FATAL(eval_repo(&v, &g, 1, &feature, NULL, true), 0);
	CU_ASSERT_TRUE(v.passed);
	CU_ASSERT_TRUE(v.complete);
	CU_ASSERT_TRUE(starts_with(v.checks[0].detail, "'true' passed in "));
	fg_verdict_release(&v);
	g = command(f, 1, 10);
	CU_ASSERT_EQUAL_FATAL(eval_repo(&v, &g, 1, &feature, NULL, true), 0);
	CU_ASSERT_FALSE(v.passed);
	CU_ASSERT_EQUAL_FATAL(v.nissues, 1);
	CU_ASSERT_TRUE(starts_with(v.issues[0].finding, "'false' failed with "
	    "exit status 1 after "));
	snprintf(fix, sizeof(fix), "make 'false' pass on %s, then try again",
	    s);
	CU_ASSERT_STRING_EQUAL(v.issues[0].fix, fix);
	fg_verdict_release(&v);
}

static void
test_gate_command_runs_in_a_checkout_and_keeps_output(void)
{
	static char *check[] = { "./ci/check", NULL };
	struct fg_gate g = command(check, 1, 10);
	struct fg_verdict v;
	struct fg_buf out = FG_BUF_INIT;
	char want[256], sha[41], s[8];

	setup_config();
	open_repo();
	git_oid_tostr(sha, sizeof(sha), &feature);
	short_id(s, &feature);
	CU_ASSERT_EQUAL_FATAL(eval_repo(&v, &g, 1, &feature, NULL, true), 0);
	CU_ASSERT_EQUAL_FATAL(v.nissues, 1);
	CU_ASSERT_TRUE(starts_with(v.issues[0].finding, "'./ci/check' failed "
	    "with exit status 3 after "));
	snprintf(want, sizeof(want), "e\ncommit=%s stage=production "
	    "ref=refs/heads/main", sha);
	CU_ASSERT_STRING_EQUAL(v.issues[0].output, want);
	CU_ASSERT_EQUAL(fg_verdict_format(&out, &v, "> "), 0);
	snprintf(want, sizeof(want), ">   | e\n>   | commit=%s "
	    "stage=production ref=refs/heads/main\n", sha);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.ptr, want));
	snprintf(want, sizeof(want), "> command: %s 'Add login': './ci/check'"
	    " failed with exit status 3 after ", s);
	CU_ASSERT_EQUAL(strncmp(out.ptr, want, strlen(want)), 0);
	fg_buf_release(&out);
	fg_verdict_release(&v);
}

static void
test_gate_command_times_out(void)
{
	static char *sleep30[] = { "sleep", "30", NULL };
	struct fg_gate g = command(sleep30, 2, 1);
	struct fg_verdict v;

	setup_config();
	open_repo();
	CU_ASSERT_EQUAL_FATAL(eval_repo(&v, &g, 1, &feature, NULL, true), 0);
	CU_ASSERT_EQUAL_FATAL(v.nissues, 1);
	CU_ASSERT_STRING_EQUAL(v.issues[0].finding, "'sleep 30' did not "
	    "finish within 1 s");
	CU_ASSERT_STRING_EQUAL(v.issues[0].fix, "make it faster, or raise "
	    "the gate's timeout in pipeline.yaml");
	fg_verdict_release(&v);
}

static void
test_gate_command_missing_program_and_not_run(void)
{
	static char *nope[] = { "flowgate-no-such-check", NULL };
	struct fg_gate g = command(nope, 1, 10);
	struct fg_verdict v;

	setup_config();
	open_repo();
	CU_ASSERT_EQUAL_FATAL(eval_repo(&v, &g, 1, &feature, NULL, true), 0);
	CU_ASSERT_EQUAL_FATAL(v.nissues, 1);
	CU_ASSERT_TRUE(starts_with(v.issues[0].finding,
	    "'flowgate-no-such-check'"
	    " could not start: no program 'flowgate-no-such-check' in PATH "));
	fg_verdict_release(&v);
	/* Not running commands: reported, not an issue, not complete. */
	CU_ASSERT_EQUAL_FATAL(eval_repo(&v, &g, 1, &feature, NULL, false), 0);
	CU_ASSERT_TRUE(v.passed);
	CU_ASSERT_FALSE(v.complete);
	CU_ASSERT_EQUAL(v.nissues, 0);
	CU_ASSERT_FALSE(v.checks[0].evaluated);
	CU_ASSERT_STRING_EQUAL(v.checks[0].detail, "'flowgate-no-such-check' "
	    "not run: this evaluation runs no commands");
	fg_verdict_release(&v);
}

/* The verdict as a whole. */

static void
test_gate_format_gives_one_clean_line_per_issue(void)
{
	struct fg_gate g[3];
	struct fg_verdict v;
	struct fg_buf out = FG_BUF_INIT;
	char want[1024], s[8];

	setup_config();
	open_repo();
	g[0] = approvals(2);
	g[1] = status(1);
	g[2] = freeze();
	short_id(s, &feature);
	CU_ASSERT_EQUAL_FATAL(eval_repo(&v, g, 3, &feature, NULL, false), 0);
	CU_ASSERT_EQUAL(v.nchecks, 3);
	CU_ASSERT_EQUAL(v.nissues, 2);
	CU_ASSERT_EQUAL(fg_verdict_format(&out, &v, "flowgate: "), 0);
	snprintf(want, sizeof(want),
	    "flowgate: approvals: %s 'Add login': no pull request brings %s "
	    "into main; fix: open a pull request for %s into main and get 2 "
	    "approving reviews\n"
	    "flowgate: status: %s 'Add login': no status 'ci/build' for %s; "
	    "fix: wait for CI to report 'ci/build' for %s\n",
	    s, s, s, s, s, s);
	CU_ASSERT_STRING_EQUAL(out.ptr, want);
	fg_buf_reset(&out);
	CU_ASSERT_EQUAL(fg_verdict_explain(&out, &v, "  "), 0);
	snprintf(want, sizeof(want),
	    "  approvals: FAIL: no pull request brings %s into main\n"
	    "  status: FAIL: no status 'ci/build' for %s\n"
	    "  freeze: pass: outside every freeze period; the next, "
	    "'year-end', starts 2024-12-20T00:00:00Z\n", s, s);
	CU_ASSERT_STRING_EQUAL(out.ptr, want);
	fg_buf_release(&out);
	fg_verdict_release(&v);
}

static void
test_gate_subjects_are_cut_and_scrubbed(void)
{
	struct fg_gate g = status(1);
	struct fg_verdict v;

	setup_config();
	open_repo();
	CU_ASSERT_EQUAL_FATAL(eval_repo(&v, &g, 1, &hostile, NULL, false), 0);
	CU_ASSERT_EQUAL_FATAL(v.nissues, 1);
	CU_ASSERT_TRUE(starts_with(v.issues[0].subject,
	    "Fix ?[31mred?[0m ? evil xxx"));
	CU_ASSERT_EQUAL(strlen(v.issues[0].subject), FG_GATE_SUBJECT_MAX + 3);
	CU_ASSERT_STRING_EQUAL(v.issues[0].subject + FG_GATE_SUBJECT_MAX,
	    "...");
	CU_ASSERT_PTR_NULL(strchr(v.issues[0].subject, '\033'));
	CU_ASSERT_PTR_NULL(strstr(v.issues[0].subject, "second"));
	fg_verdict_release(&v);
}

static void
test_gate_verdict_json_has_issues_and_checks(void)
{
	struct fg_gate g[2];
	struct fg_verdict v;
	cJSON *j = NULL, *is, *ch;
	struct fg_err err = FG_ERR_INIT;
	struct fg_gate_input in;

	setup_config();
	g[0] = approvals(1);
	g[1] = freeze();
	fake.pull = PULL("carol", REVIEW("alice", "approved", C_SHA));
	in = input(FG_STAGE_PRODUCTION, g, 2, utc("2024-12-24T00:00:00Z"));
	CU_ASSERT_EQUAL_FATAL(fg_gate_eval(&v, &in, &err), 0);
	CU_ASSERT_EQUAL_FATAL(fg_verdict_to_json(&j, &v), 0);
	CU_ASSERT_FALSE(cJSON_IsTrue(cJSON_GetObjectItem(j, "passed")));
	CU_ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(j, "complete")));
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(j, "commit")->valuestring,
	    C_SHA);
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(j, "stage")->valuestring,
	    "production");
	is = cJSON_GetObjectItem(j, "issues");
	ch = cJSON_GetObjectItem(j, "checks");
	CU_ASSERT_EQUAL(cJSON_GetArraySize(is), 1);
	CU_ASSERT_EQUAL(cJSON_GetArraySize(ch), 2);
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(cJSON_GetArrayItem(is, 0),
	    "gate")->valuestring, "freeze");
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(cJSON_GetArrayItem(is, 0),
	    "fix")->valuestring, "try again after 2025-01-03T00:00:00Z");
	CU_ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(ch,
	    0), "passed")));
	cJSON_Delete(j);
	fg_verdict_release(&v);
}

static void
test_gate_missing_facts_fail_each_gate_once(void)
{
	struct fg_gate g[4];
	struct fg_gate_input in;
	struct fg_verdict v;
	struct fg_err err = FG_ERR_INIT;

	setup_config();
	g[0] = approvals(1);
	g[1] = status(1);
	g[2] = soak(10);
	memset(&g[3], 0, sizeof(g[3]));
	g[3].kind = FG_GATE_MANUAL;
	cfg.admins = (struct fg_strv){ root_only, 1 };
	in = input(FG_STAGE_PRODUCTION, g, 4, 0);
	in.facts = NULL;
	CU_ASSERT_EQUAL_FATAL(fg_gate_eval(&v, &in, &err), 0);
	CU_ASSERT_FALSE(v.passed);
	CU_ASSERT_EQUAL_FATAL(v.nissues, 4);
	CU_ASSERT_STRING_EQUAL(v.issues[0].finding, "facts missing: pull "
	    "requests");
	CU_ASSERT_STRING_EQUAL(v.issues[1].finding, "facts missing: commit "
	    "statuses");
	CU_ASSERT_STRING_EQUAL(v.issues[2].finding, "facts missing: "
	    "deployments");
	CU_ASSERT_STRING_EQUAL(v.issues[3].finding, "facts missing: manual "
	    "approvals");
	CU_ASSERT_STRING_EQUAL(v.issues[0].fix, "report this as a bug: the "
	    "program evaluating the gate did not provide pull requests");
	fg_verdict_release(&v);
}

static void
test_gate_stage_without_gates_passes(void)
{
	struct fg_gate_input in;
	struct fg_verdict v;
	struct fg_err err = FG_ERR_INIT;

	setup_config();
	in = input(FG_STAGE_STAGING, NULL, 0, 0);
	CU_ASSERT_EQUAL_FATAL(fg_gate_eval(&v, &in, &err), 0);
	CU_ASSERT_TRUE(v.passed);
	CU_ASSERT_TRUE(v.complete);
	CU_ASSERT_EQUAL(v.nchecks, 0);
	CU_ASSERT_STRING_EQUAL(v.stage, "staging");
	fg_verdict_release(&v);
	in.stage = NULL;
	CU_ASSERT_EQUAL(fg_gate_eval(&v, &in, &err), FG_EINVALID);
	fg_verdict_release(&v);
}

static void
test_gate_all_kinds_failing_give_one_issue_each(void)
{
	static char *f[] = { "false", NULL };
	struct fg_gate g[8], tmp;
	struct fg_verdict v;
	size_t i;

	setup_config();
	open_repo();
	g[0] = approvals(1);
	g[1] = status(1);
	g[2] = soak(10);
	memset(&g[3], 0, sizeof(g[3]));
	g[3].kind = FG_GATE_MANUAL;
	g[3].approvers = (struct fg_strv){ alice_bob, 2 };
	g[4] = berlin_window();
	g[4].days = 1u << 6;		/* sunday only */
	g[5] = freeze();
	year_end[0].from = 0;		/* frozen since 1970 */
	memset(&g[6], 0, sizeof(g[6]));
	g[6].kind = FG_GATE_UP_TO_DATE;
	g[7] = command(f, 1, 10);
	/* 1970-01-01 was a Thursday. */
	CU_ASSERT_EQUAL_FATAL(eval_repo(&v, g, 8, &diverged, &tip, true), 0);
	CU_ASSERT_EQUAL(v.nchecks, 8);
	CU_ASSERT_EQUAL_FATAL(v.nissues, 8);
	for (i = 0; i < 8; i++) {
		tmp = g[i];
		CU_ASSERT_STRING_EQUAL(v.issues[i].gate,
		    fg_gate_name(tmp.kind));
		CU_ASSERT_STRING_NOT_EQUAL(v.issues[i].fix, "");
	}
	fg_verdict_release(&v);
}

static void
cleanup_repo(void)
{
	git_repository_free(repo);
	repo = NULL;
}

static void
test_gate_zz_cleanup(void)
{
	cleanup_repo();
	CU_PASS("repository released");
}

static CU_TestInfo tests[] = {
	{ "approvals pass with distinct reviewers",
	    test_gate_approvals_pass_with_distinct_reviewers },
	{ "approvals ignore the author's own approval",
	    test_gate_approvals_ignore_authors_own_approval },
	{ "a stale approval does not count",
	    test_gate_refuses_stale_approval },
	{ "changes requested by one, approval by another counts 1",
	    test_gate_approvals_changes_requested_by_one_approval_by_another },
	{ "a reviewer counts once, by the last review",
	    test_gate_approvals_count_a_reviewer_once_by_last_review },
	{ "approvals need an open or merged pull request",
	    test_gate_approvals_need_a_pull_request },
	{ "status passes when every context succeeded",
	    test_gate_status_passes_when_every_context_succeeded },
	{ "status names the missing context",
	    test_gate_status_names_the_missing_context },
	{ "status says failure and pending",
	    test_gate_status_says_failure_and_pending },
	{ "soak passes after every environment soaked",
	    test_gate_soak_passes_after_every_env_soaked },
	{ "soak says how long is left",
	    test_gate_soak_says_how_long_is_left },
	{ "soak of a hotfix watches the hotfix environment",
	    test_gate_soak_of_a_hotfix_watches_the_hotfix_environment },
	{ "previous stage follows the template",
	    test_gate_previous_stage_follows_the_template },
	{ "manual accepts an allowed approver",
	    test_gate_manual_accepts_an_allowed_approver },
	{ "manual falls back to admins",
	    test_gate_manual_falls_back_to_admins },
	{ "window passes inside hours in Berlin",
	    test_gate_window_passes_inside_hours_in_berlin },
	{ "window refuses Friday (FLOWGATE_NOW)",
	    test_gate_window_refuses_friday_with_flowgate_now },
	{ "window edges and a DST change",
	    test_gate_window_edges_and_dst_change },
	{ "window defaults to UTC every day",
	    test_gate_window_defaults_to_utc_every_day },
	{ "freeze refuses during a period",
	    test_gate_freeze_refuses_during_a_period },
	{ "freeze passes outside every period",
	    test_gate_freeze_passes_outside_every_period },
	{ "up-to-date follows the branch tip",
	    test_gate_up_to_date_follows_the_branch_tip },
	{ "command: true passes, false fails",
	    test_gate_command_true_passes_false_fails },
	{ "command runs in a checkout and keeps output",
	    test_gate_command_runs_in_a_checkout_and_keeps_output },
	{ "command times out", test_gate_command_times_out },
	{ "command: missing program, and not run",
	    test_gate_command_missing_program_and_not_run },
	{ "format gives one clean line per issue",
	    test_gate_format_gives_one_clean_line_per_issue },
	{ "subjects are cut and scrubbed",
	    test_gate_subjects_are_cut_and_scrubbed },
	{ "verdict JSON has issues and checks",
	    test_gate_verdict_json_has_issues_and_checks },
	{ "missing facts fail each gate once",
	    test_gate_missing_facts_fail_each_gate_once },
	{ "a stage without gates passes",
	    test_gate_stage_without_gates_passes },
	{ "all kinds failing give one issue each",
	    test_gate_all_kinds_failing_give_one_issue_each },
	{ "release the repository", test_gate_zz_cleanup },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("gate", tests)
