/*
 * test_template.c - the built-in templates say what DESIGN.md section 5
 * says, and their default configs are valid.
 */
#include <string.h>

#include "config.h"
#include "template.h"
#include "unit.h"

static void
test_template_release_order_and_hotfix(void)
{
	const struct fg_template *t = fg_template_find("release");
	const struct fg_template_stage *s;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(t->nstages, 5);
	CU_ASSERT_EQUAL(t->stages[0].id, FG_STAGE_DEVELOPER);
	CU_ASSERT_EQUAL(t->stages[1].id, FG_STAGE_INTEGRATION);
	CU_ASSERT_EQUAL(t->stages[2].id, FG_STAGE_STAGING);
	CU_ASSERT_EQUAL(t->stages[3].id, FG_STAGE_PRODUCTION);
	s = fg_template_stage(t, FG_STAGE_HOTFIX);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(s->promotes_to, FG_STAGE_PRODUCTION);
	CU_ASSERT_EQUAL(s->max_envs, 1);
	CU_ASSERT_EQUAL(fg_template_stage(t, FG_STAGE_PRODUCTION)->max_envs, 1);
	CU_ASSERT_EQUAL(fg_template_stage(t, FG_STAGE_PRODUCTION)->promotes_to,
	    FG_STAGE_NONE);
	CU_ASSERT_FALSE(t->auto_promote);
	CU_ASSERT_FALSE(t->refuse_direct_push_production);
}

static void
test_template_developer_has_pool_not_branch(void)
{
	size_t n, i;
	const struct fg_template *all = fg_template_all(&n);

	CU_ASSERT_EQUAL(n, 3);
	for (i = 0; i < n; i++) {
		const struct fg_template_stage *s =
		    fg_template_stage(&all[i], FG_STAGE_DEVELOPER);

		CU_ASSERT_PTR_NOT_NULL_FATAL(s);
		CU_ASSERT_FALSE(s->has_branch);
		CU_ASSERT_FALSE(s->required);
	}
}

static void
test_template_continuous_and_progressive_skip_integration(void)
{
	const struct fg_template *c = fg_template_find("continuous");
	const struct fg_template *p = fg_template_find("progressive");

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_PTR_NULL(fg_template_stage(c, FG_STAGE_INTEGRATION));
	CU_ASSERT_PTR_NULL(fg_template_stage(p, FG_STAGE_INTEGRATION));
	CU_ASSERT_PTR_NULL(fg_template_stage(c, FG_STAGE_HOTFIX));
	CU_ASSERT_EQUAL(fg_template_stage(c, FG_STAGE_DEVELOPER)->promotes_to,
	    FG_STAGE_STAGING);
	CU_ASSERT_TRUE(c->auto_promote);
	CU_ASSERT_FALSE(p->auto_promote);
	CU_ASSERT_TRUE(p->manual_gate_on_production);
	CU_ASSERT_TRUE(p->refuse_direct_push_production);
	CU_ASSERT_FALSE(c->manual_gate_on_production);
}

static void
test_template_unknown_name_is_null(void)
{
	CU_ASSERT_PTR_NULL(fg_template_find("waterfall"));
	CU_ASSERT_PTR_NULL(fg_template_find(""));
	CU_ASSERT_PTR_NULL(fg_template_find(NULL));
	CU_ASSERT_EQUAL(fg_stage_from_name("qa"), FG_STAGE_NONE);
	CU_ASSERT_EQUAL(fg_stage_from_name("hotfix"), FG_STAGE_HOTFIX);
	CU_ASSERT_STRING_EQUAL(fg_stage_name(FG_STAGE_STAGING), "staging");
}

static void
test_template_default_configs_are_valid(void)
{
	size_t n, i;
	const struct fg_template *all = fg_template_all(&n);

	for (i = 0; i < n; i++) {
		const char *p = fg_template_default_config(&all[i]);
		const char *f = fg_template_default_flows(&all[i]);
		struct fg_config *cfg = NULL;
		struct fg_diags d = FG_DIAGS_INIT;
		int rc;

		CU_ASSERT_PTR_NOT_NULL_FATAL(p);
		CU_ASSERT_PTR_NOT_NULL_FATAL(f);
		rc = fg_config_parse(&cfg, p, strlen(p), "pipeline.yaml", f,
		    strlen(f), "flows.yaml", &d);
		if (rc != 0 && d.n > 0)
			fprintf(stderr, "%s: %s\n", all[i].name, d.lines[0]);
		CU_ASSERT_EQUAL(rc, 0);
		if (cfg != NULL)
			CU_ASSERT_PTR_EQUAL(cfg->tmpl, &all[i]);
		fg_config_free(cfg);
		fg_diags_release(&d);
	}
}

static CU_TestInfo tests[] = {
	{ "release order and hotfix", test_template_release_order_and_hotfix },
	{ "developer has a pool, no branch",
	    test_template_developer_has_pool_not_branch },
	{ "continuous and progressive skip integration",
	    test_template_continuous_and_progressive_skip_integration },
	{ "unknown names", test_template_unknown_name_is_null },
	{ "default configs are valid", test_template_default_configs_are_valid },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("template", tests)
