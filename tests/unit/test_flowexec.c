/*
 * test_flowexec.c - the pure parts of lib/flowexec: "${{ path }}"
 * substitution, run ids from delivery ids, manual run requests' inputs.
 * The executor itself is tested through the daemon (t_flows_*.sh).
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "flowexec.h"
#include "flowexec_int.h"
#include "flowrun.h"
#include "unit.h"
#include "banned.h"

static char *
subst(const char *tmpl, const char *event, bool url, int *rc,
    struct fg_err *err)
{
	struct fg_flowvals v;
	cJSON *ev = cJSON_Parse(event), *run = cJSON_Parse(
	    "{\"commit\":\"abc\",\"pr\":42,\"run\":\"r1\"}");
	cJSON *steps = cJSON_Parse("{\"build\":{\"status\":\"failed\","
	    "\"attempts\":2}}");
	char *out = NULL;

	memset(&v, 0, sizeof(v));
	v.event = ev;
	v.run = run;
	v.steps = steps;
	*rc = fg_flowexec_subst(&out, tmpl, &v, url, err);
	cJSON_Delete(ev);
	cJSON_Delete(run);
	cJSON_Delete(steps);
	return out;
}

static void
test_flowexec_subst_replaces_whole_values_inside_one_string(void)
{
	struct fg_err err = FG_ERR_INIT;
	char *s;
	int rc;

	s = subst("#${{ run.pr }} by ${{event.user.login}}: ${{ steps.build.status }}"
	    " after ${{ steps.build.attempts }}, ok=${{ event.ok }}",
	    "{\"user\":{\"login\":\"octo\"},\"ok\":true}", false, &rc, &err);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_STRING_EQUAL(s, "#42 by octo: failed after 2, ok=true");
	free(s);
}

static void
test_flowexec_subst_keeps_hostile_text_as_data(void)
{
	struct fg_err err = FG_ERR_INIT;
	char *s;
	int rc;

	/* A value holding a placeholder is not expanded again. */
	s = subst("x ${{ event.t }} y", "{\"t\":\"$(id) ${{ run.commit }}\"}",
	    false, &rc, &err);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_STRING_EQUAL(s, "x $(id) ${{ run.commit }} y");
	free(s);
}

static void
test_flowexec_subst_percent_encodes_in_urls(void)
{
	struct fg_err err = FG_ERR_INIT;
	char *s;
	int rc;

	s = subst("https://h/a/${{ event.b }}?q=${{ event.c }}",
	    "{\"b\":\"../x y\",\"c\":\"a&b=c\"}", true, &rc, &err);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_STRING_EQUAL(s, "https://h/a/..%2Fx%20y?q=a%26b%3Dc");
	free(s);
}

static void
test_flowexec_subst_missing_value_is_an_error(void)
{
	struct fg_err err = FG_ERR_INIT;
	char *s;
	int rc;

	s = subst("a ${{ event.nope.deeper }}", "{}", false, &rc, &err);
	CU_ASSERT_EQUAL(rc, FG_EINVALID);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_STRING_EQUAL(err.msg, "'${{ event.nope.deeper }}' has no value");
	s = subst("a ${{ event.x", "{}", false, &rc, &err);
	CU_ASSERT_EQUAL(rc, FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "'${{' is not closed with '}}'");
	s = subst("${{ secrets.x }}", "{}", false, &rc, &err);
	CU_ASSERT_EQUAL(rc, FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "unknown name 'secrets': a path starts "
	    "with event, inputs, steps or run");
	s = subst("${{ event..x }}", "{}", false, &rc, &err);
	CU_ASSERT_EQUAL(rc, FG_EINVALID);
	free(s);
}

static void
test_flowexec_run_id_keeps_or_hashes_delivery_ids(void)
{
	char id[FG_FLOWRUN_ID_MAX + 1];

	fg_flowexec_run_id(id, sizeof(id),
	    "72d3162e-cc78-11e3-81ab-4c9367dc0958");
	CU_ASSERT_STRING_EQUAL(id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
	fg_flowexec_run_id(id, sizeof(id), "urn:uuid:1");
	CU_ASSERT_EQUAL(strlen(id), 42);
	CU_ASSERT_EQUAL(strncmp(id, "d-", 2), 0);
	CU_ASSERT_EQUAL(strspn(id + 2, "0123456789abcdef"), 40);
}

static const char pipeline[] =
    "version: 1\n"
    "template: release\n"
    "stages:\n"
    "  developer: {pool: sb}\n"
    "  integration: {branch: develop, environments: [qa]}\n"
    "  staging: {branch: staging, environments: [uat]}\n"
    "  production: {branch: main, environments: [prod]}\n"
    "  hotfix: {branch: hotfix, environments: [prod]}\n"
    "environments:\n"
    "  qa: {deploy: {command: [x]}}\n"
    "  uat: {deploy: {command: [x]}}\n"
    "  prod: {deploy: {command: [x]}}\n"
    "pools:\n"
    "  sb: {environments: [sb-1], deploy: {command: [x]}}\n";

static const char flows[] =
    "version: 1\n"
    "flows:\n"
    "  ship:\n"
    "    trigger:\n"
    "      manual:\n"
    "        inputs:\n"
    "          env: {type: string, required: true}\n"
    "          count: {type: number, default: 1}\n"
    "          dry: {type: boolean}\n"
    "    steps:\n"
    "      - id: a\n"
    "        run: {command: [x]}\n"
    "  auto:\n"
    "    trigger: {push: {branches: [main]}}\n"
    "    steps:\n"
    "      - id: a\n"
    "        run: {command: [x]}\n";

static void
test_flowexec_check_request_types_and_defaults(void)
{
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	struct fg_config *cfg = NULL;
	cJSON *in, *out = NULL;
	char *s;

	CU_ASSERT_EQUAL_FATAL(fg_config_parse(&cfg, pipeline, strlen(pipeline),
	    "pipeline.yaml", flows, strlen(flows), "flows.yaml", &d), 0);
	in = cJSON_Parse("{\"env\":\"uat\",\"dry\":\"true\",\"count\":\"3\"}");
	CU_ASSERT_EQUAL(fg_flowexec_check_request(&out, cfg, "ship", in, &err),
	    0);
	s = cJSON_PrintUnformatted(out);
	CU_ASSERT_STRING_EQUAL(s, "{\"env\":\"uat\",\"count\":3,\"dry\":true}");
	cJSON_free(s);
	cJSON_Delete(out);
	cJSON_Delete(in);

	in = cJSON_Parse("{\"env\":\"uat\"}");
	CU_ASSERT_EQUAL(fg_flowexec_check_request(&out, cfg, "ship", in, &err),
	    0);
	s = cJSON_PrintUnformatted(out);
	CU_ASSERT_STRING_EQUAL(s, "{\"env\":\"uat\",\"count\":1}");
	cJSON_free(s);
	cJSON_Delete(out);
	cJSON_Delete(in);

	CU_ASSERT_EQUAL(fg_flowexec_check_request(&out, cfg, "ship", NULL,
	    &err), FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "input 'env' is required");
	in = cJSON_Parse("{\"env\":\"uat\",\"count\":\"many\"}");
	CU_ASSERT_EQUAL(fg_flowexec_check_request(&out, cfg, "ship", in, &err),
	    FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "input 'count' must be a number");
	cJSON_Delete(in);
	in = cJSON_Parse("{\"env\":\"uat\",\"evil\":1}");
	CU_ASSERT_EQUAL(fg_flowexec_check_request(&out, cfg, "ship", in, &err),
	    FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "unknown input 'evil' of flow 'ship'");
	cJSON_Delete(in);
	CU_ASSERT_EQUAL(fg_flowexec_check_request(&out, cfg, "auto", NULL,
	    &err), FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "flow 'auto' has no manual trigger: it "
	    "runs on push");
	CU_ASSERT_EQUAL(fg_flowexec_check_request(&out, cfg, "nope", NULL,
	    &err), FG_ENOTFOUND);
	CU_ASSERT_STRING_EQUAL(err.msg, "no flow 'nope'");
	CU_ASSERT_PTR_NULL(out);
	fg_config_free(cfg);
	fg_diags_release(&d);
}

static CU_TestInfo tests[] = {
	{ "subst replaces whole values inside one string",
	    test_flowexec_subst_replaces_whole_values_inside_one_string },
	{ "subst keeps hostile text as data",
	    test_flowexec_subst_keeps_hostile_text_as_data },
	{ "subst percent-encodes in URLs",
	    test_flowexec_subst_percent_encodes_in_urls },
	{ "subst: a missing value is an error",
	    test_flowexec_subst_missing_value_is_an_error },
	{ "run ids keep or hash delivery ids",
	    test_flowexec_run_id_keeps_or_hashes_delivery_ids },
	{ "check_request: types and defaults",
	    test_flowexec_check_request_types_and_defaults },
	CU_TEST_INFO_NULL
};

FG_UNIT_MAIN("flowexec", tests)
