/*
 * test_pipeline.c - the pipeline model answers what a config says: branch
 * to stage, promotion targets, environments and their deploy settings.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "pipeline.h"
#include "unit.h"

static const char release_cfg[] =
    "version: 1\n"
    "template: release\n"
    "stages:\n"
    "  developer: {pool: sandboxes}\n"
    "  integration: {branch: develop, environments: [qa]}\n"
    "  staging: {branch: staging, environments: [uat, sit]}\n"
    "  production: {branch: main, environments: [prod], gates: [{approvals: 2}, up-to-date]}\n"
    "  hotfix: {branch: hotfix, environments: [prod]}\n"
    "environments:\n"
    "  qa: {deploy: {command: [deploy, qa], timeout: 30}}\n"
    "  uat: {deploy: {command: [deploy, uat]}}\n"
    "  sit: {deploy: {command: [deploy, sit]}}\n"
    "  prod: {deploy: {http: {url: 'https://deploy.example/api', secret: tok}}}\n"
    "pools:\n"
    "  sandboxes: {environments: [sb-1, sb-2], deploy: {command: [sandbox]}}\n"
    "secrets:\n"
    "  tok: {env: DEPLOY_TOKEN}\n";

static struct fg_config *
load(const char *text)
{
	struct fg_config *cfg = NULL;
	struct fg_diags d = FG_DIAGS_INIT;

	if (fg_config_parse(&cfg, text, strlen(text), "pipeline.yaml", NULL, 0,
	    NULL, &d) != 0 && d.n > 0)
		fprintf(stderr, "%s\n", d.lines[0]);
	fg_diags_release(&d);
	return cfg;
}

static void
test_pipeline_branch_maps_to_stage(void)
{
	struct fg_config *cfg = load(release_cfg);

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL(fg_pipeline_stage_for_branch(cfg, "develop")->id,
	    FG_STAGE_INTEGRATION);
	CU_ASSERT_EQUAL(fg_pipeline_stage_for_branch(cfg,
	    "refs/heads/main")->id, FG_STAGE_PRODUCTION);
	CU_ASSERT_EQUAL(fg_pipeline_stage_for_branch(cfg, "hotfix")->id,
	    FG_STAGE_HOTFIX);
	CU_ASSERT_PTR_NULL(fg_pipeline_stage_for_branch(cfg, "feature/x"));
	CU_ASSERT_PTR_NULL(fg_pipeline_stage_for_branch(cfg,
	    "refs/tags/main"));
	fg_config_free(cfg);
}

static void
test_pipeline_promotion_targets_follow_template(void)
{
	struct fg_config *cfg = load(release_cfg);
	const struct fg_stage *dev, *t;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	dev = fg_pipeline_stage(cfg, "developer");
	CU_ASSERT_PTR_NOT_NULL_FATAL(dev);
	t = fg_pipeline_target(cfg, dev);
	CU_ASSERT_EQUAL(t->id, FG_STAGE_INTEGRATION);
	t = fg_pipeline_target(cfg, t);
	CU_ASSERT_EQUAL(t->id, FG_STAGE_STAGING);
	t = fg_pipeline_target(cfg, t);
	CU_ASSERT_EQUAL(t->id, FG_STAGE_PRODUCTION);
	CU_ASSERT_PTR_NULL(fg_pipeline_target(cfg, t));
	t = fg_pipeline_target(cfg, fg_pipeline_stage(cfg, "hotfix"));
	CU_ASSERT_EQUAL(t->id, FG_STAGE_PRODUCTION);
	fg_config_free(cfg);
}

static void
test_pipeline_order_is_promotion_order(void)
{
	struct fg_config *cfg = load(release_cfg);
	const struct fg_stage *order[FG_STAGE_COUNT];
	size_t n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	n = fg_pipeline_order(cfg, order);
	CU_ASSERT_EQUAL_FATAL(n, 5);
	CU_ASSERT_EQUAL(order[0]->id, FG_STAGE_DEVELOPER);
	CU_ASSERT_EQUAL(order[1]->id, FG_STAGE_INTEGRATION);
	CU_ASSERT_EQUAL(order[2]->id, FG_STAGE_STAGING);
	CU_ASSERT_EQUAL(order[3]->id, FG_STAGE_PRODUCTION);
	CU_ASSERT_EQUAL(order[4]->id, FG_STAGE_HOTFIX);
	fg_config_free(cfg);
}

static void
test_pipeline_environments_and_deploys(void)
{
	struct fg_config *cfg = load(release_cfg);
	const struct fg_stage *st;
	const struct fg_deploy *dep;
	const struct fg_env *env;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	st = fg_pipeline_stage(cfg, "staging");
	CU_ASSERT_EQUAL_FATAL(st->envs.n, 2);
	CU_ASSERT_STRING_EQUAL(st->envs.v[0], "uat");
	CU_ASSERT_STRING_EQUAL(st->envs.v[1], "sit");
	env = fg_pipeline_env(cfg, "qa");
	CU_ASSERT_PTR_NOT_NULL_FATAL(env);
	dep = fg_pipeline_deploy(cfg, env);
	CU_ASSERT_EQUAL(dep->kind, FG_DEPLOY_COMMAND);
	CU_ASSERT_EQUAL(dep->argv.n, 2);
	CU_ASSERT_STRING_EQUAL(dep->argv.v[1], "qa");
	CU_ASSERT_PTR_NULL(dep->argv.v[2]);
	CU_ASSERT_EQUAL(dep->timeout, 30);
	dep = fg_pipeline_deploy(cfg, fg_pipeline_env(cfg, "prod"));
	CU_ASSERT_EQUAL(dep->kind, FG_DEPLOY_HTTP);
	CU_ASSERT_STRING_EQUAL(dep->url, "https://deploy.example/api");
	CU_ASSERT_STRING_EQUAL(fg_pipeline_secret(cfg, dep->secret)->env,
	    "DEPLOY_TOKEN");
	/* A sandbox deploys the way its pool says. */
	env = fg_pipeline_env(cfg, "sb-2");
	CU_ASSERT_PTR_NOT_NULL_FATAL(env);
	CU_ASSERT_STRING_EQUAL(env->pool, "sandboxes");
	dep = fg_pipeline_deploy(cfg, env);
	CU_ASSERT_STRING_EQUAL(dep->argv.v[0], "sandbox");
	CU_ASSERT_PTR_NULL(fg_pipeline_env(cfg, "nowhere"));
	fg_config_free(cfg);
}

static void
test_pipeline_gates_are_converted(void)
{
	struct fg_config *cfg = load(release_cfg);
	const struct fg_stage *st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	st = fg_pipeline_stage(cfg, "production");
	CU_ASSERT_EQUAL_FATAL(st->ngates, 2);
	CU_ASSERT_EQUAL(st->gates[0].kind, FG_GATE_APPROVALS);
	CU_ASSERT_EQUAL(st->gates[0].approvals, 2);
	CU_ASSERT_EQUAL(st->gates[1].kind, FG_GATE_UP_TO_DATE);
	CU_ASSERT_EQUAL(st->gates[0].line, 7);
	fg_config_free(cfg);
}

static CU_TestInfo tests[] = {
	{ "branch maps to stage", test_pipeline_branch_maps_to_stage },
	{ "promotion targets follow the template",
	    test_pipeline_promotion_targets_follow_template },
	{ "order is promotion order", test_pipeline_order_is_promotion_order },
	{ "environments and deploys", test_pipeline_environments_and_deploys },
	{ "gates are converted", test_pipeline_gates_are_converted },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("pipeline", tests)
