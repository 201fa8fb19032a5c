/*
 * test_config.c - configs are converted faithfully, every problem of a bad
 * one is reported at once, and config commits on refs/flowgate/config read
 * back, refuse invalid text and do nothing when nothing changed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "buf.h"
#include "config.h"
#include "pipeline.h"
#include "unit.h"
#include "util.h"

static char *
slurp(const char *path)
{
	struct fg_buf b = FG_BUF_INIT;

	if (fg_read_file(&b, path, 1 << 20, NULL) < 0)
		return NULL;
	return fg_buf_detach(&b, NULL);
}

static void
test_config_design_example_converts_every_field(void)
{
	char *text = slurp("tests/config/valid/design-example.yaml");
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_config *cfg = NULL;
	const struct fg_stage *prod;
	const struct fg_gate *g;
	const struct fg_rule *r;

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_EQUAL_FATAL(fg_config_parse(&cfg, text, strlen(text),
	    "design-example.yaml", NULL, 0, NULL, &d), 0);
	prod = fg_pipeline_stage(cfg, "production");
	CU_ASSERT_EQUAL_FATAL(prod->ngates, 6);
	g = &prod->gates[2];
	CU_ASSERT_EQUAL(g->kind, FG_GATE_WINDOW);
	CU_ASSERT_EQUAL(g->days, 0xFu);		/* mon..thu */
	CU_ASSERT_EQUAL(g->from_minute, 9 * 60);
	CU_ASSERT_EQUAL(g->to_minute, 16 * 60);
	CU_ASSERT_STRING_EQUAL(g->tz, "Europe/Berlin");
	g = &prod->gates[3];
	CU_ASSERT_EQUAL(g->kind, FG_GATE_FREEZE);
	CU_ASSERT_EQUAL_FATAL(g->nfreezes, 1);
	CU_ASSERT_EQUAL(g->freezes[0].to - g->freezes[0].from, 15 * 86400);
	CU_ASSERT_STRING_EQUAL(g->freezes[0].reason, "holidays");
	g = &prod->gates[5];
	CU_ASSERT_EQUAL(g->kind, FG_GATE_COMMAND);
	CU_ASSERT_STRING_EQUAL(g->argv.v[1], "smoke-test");
	CU_ASSERT_EQUAL(g->timeout, 300);
	CU_ASSERT_EQUAL_FATAL(cfg->npush, 1);
	CU_ASSERT_EQUAL_FATAL(cfg->push[0].nrules, 9);
	r = &cfg->push[0].rules[3];
	CU_ASSERT_EQUAL(r->kind, FG_RULE_MAX_FILE_SIZE);
	CU_ASSERT_EQUAL(r->max_size, 5u * 1024 * 1024);
	r = &cfg->push[0].rules[2];
	CU_ASSERT_EQUAL(r->kind, FG_RULE_MESSAGE);
	CU_ASSERT_STRING_EQUAL(r->regex, "^[A-Z]+-[0-9]+ ");
	CU_ASSERT_EQUAL(cfg->push[0].rules[4].paths.n, 2);
	CU_ASSERT_EQUAL(cfg->push[0].rules[7].max_commits, 500);
	CU_ASSERT_STRING_EQUAL(cfg->admins.v[0], "alice");
	CU_ASSERT_STRING_EQUAL(cfg->identity.v[0], "GL_USER");
	fg_config_free(cfg);
	fg_diags_release(&d);
	free(text);
}

static void
test_config_reports_every_error_at_once(void)
{
	static const char text[] =
	    "version: 1\n"
	    "template: continuous\n"
	    "stages:\n"
	    "  integration: {branch: develop}\n"
	    "  staging: {branch: main, environments: [nowhere]}\n"
	    "  production: {branch: main, environments: [a, b]}\n"
	    "environments:\n"
	    "  a: {deploy: {command: [x]}}\n"
	    "  b: {deploy: {command: [x]}}\n";
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_config *cfg = NULL;
	size_t i;
	int found = 0;

	CU_ASSERT_EQUAL(fg_config_parse(&cfg, text, sizeof(text) - 1,
	    "p.yaml", NULL, 0, NULL, &d), FG_EINVALID);
	CU_ASSERT_PTR_NULL(cfg);
	for (i = 0; i < d.n; i++) {
		if (strcmp(d.lines[i], "p.yaml:4:3: stages.integration: "
		    "template continuous has no stage 'integration'") == 0)
			found |= 1;
		if (strcmp(d.lines[i], "p.yaml:5:42: "
		    "stages.staging.environments[0]: unknown environment "
		    "'nowhere' (define it under environments)") == 0)
			found |= 2;
		if (strcmp(d.lines[i], "p.yaml:6:44: "
		    "stages.production.environments: template continuous "
		    "allows at most 1 environment in production") == 0)
			found |= 4;
		if (strcmp(d.lines[i], "p.yaml:6:24: stages.production.branch: "
		    "branch 'main' is already tracked by stage 'staging'") == 0)
			found |= 8;
	}
	for (i = 0; found != 15 && i < d.n; i++)
		fprintf(stderr, "got: %s\n", d.lines[i]);
	CU_ASSERT_EQUAL(found, 15);
	CU_ASSERT_EQUAL(d.n, 4);
	fg_diags_release(&d);
}

static git_repository *
new_repo(const char *name)
{
	char path[4096];
	git_repository *repo = NULL;

	snprintf(path, sizeof(path), "%s/%s", fg_unit_tmpdir(), name);
	if (git_repository_init(&repo, path, 1) < 0)
		return NULL;
	return repo;
}

static void
test_config_commit_reads_back_and_skips_no_change(void)
{
	const struct fg_template *t = fg_template_find("release");
	const char *p = fg_template_default_config(t);
	const char *f = fg_template_default_flows(t);
	git_repository *repo = new_repo("commit.git");
	struct fg_buf rp = FG_BUF_INIT, rf = FG_BUF_INIT;
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	struct fg_config *cfg = NULL;
	git_oid first, second;
	bool changed = false;

	CU_ASSERT_PTR_NOT_NULL_FATAL(repo);
	CU_ASSERT_EQUAL(fg_config_load(&cfg, repo, &d, &err), FG_ENOTFOUND);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "flowgate init"));
	CU_ASSERT_EQUAL_FATAL(fg_config_commit(&first, &changed, repo, p, f,
	    "alice", "alice@example.com", "config: init\n", &d, &err), 0);
	CU_ASSERT_TRUE(changed);
	CU_ASSERT_EQUAL(fg_config_read(&rp, &rf, repo, NULL, &err), 0);
	CU_ASSERT_STRING_EQUAL(rp.ptr, p);
	CU_ASSERT_STRING_EQUAL(rf.ptr, f);
	CU_ASSERT_EQUAL(fg_config_load(&cfg, repo, &d, &err), 0);
	CU_ASSERT_PTR_EQUAL(cfg->tmpl, t);
	fg_config_free(cfg);
	/* The same text again writes nothing. */
	CU_ASSERT_EQUAL(fg_config_commit(&second, &changed, repo, p, NULL,
	    "alice", "alice@example.com", "config: again\n", &d, &err), 0);
	CU_ASSERT_FALSE(changed);
	CU_ASSERT_TRUE(git_oid_equal(&first, &second));
	fg_buf_release(&rp);
	fg_buf_release(&rf);
	fg_diags_release(&d);
	git_repository_free(repo);
}

static void
test_config_commit_refuses_invalid_and_keeps_tip(void)
{
	const struct fg_template *t = fg_template_find("continuous");
	git_repository *repo = new_repo("refuse.git");
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	git_oid first, tip, after;
	bool changed = false;

	CU_ASSERT_PTR_NOT_NULL_FATAL(repo);
	CU_ASSERT_EQUAL_FATAL(fg_config_commit(&first, &changed, repo,
	    fg_template_default_config(t), fg_template_default_flows(t),
	    "bob", "bob@example.com", "config: init\n", &d, &err), 0);
	CU_ASSERT_EQUAL(fg_config_commit(&tip, &changed, repo,
	    "version: 1\ntemplate: nope\nstages: {}\n", NULL, "bob",
	    "bob@example.com", "config: bad\n", &d, &err), FG_EINVALID);
	CU_ASSERT_FALSE(changed);
	CU_ASSERT_TRUE(d.n >= 1);
	CU_ASSERT_EQUAL(git_reference_name_to_id(&after, repo, FG_CONFIG_REF),
	    0);
	CU_ASSERT_TRUE(git_oid_equal(&first, &after));
	fg_diags_release(&d);
	git_repository_free(repo);
}

static CU_TestInfo tests[] = {
	{ "design example converts every field",
	    test_config_design_example_converts_every_field },
	{ "reports every error at once",
	    test_config_reports_every_error_at_once },
	{ "commit reads back and skips no change",
	    test_config_commit_reads_back_and_skips_no_change },
	{ "commit refuses invalid and keeps the tip",
	    test_config_commit_refuses_invalid_and_keeps_tip },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("config", tests)
