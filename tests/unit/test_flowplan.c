/*
 * test_flowplan.c - the step graph of a flow: topological order, and every
 * mistake in needs, if: and schedules reported with the node at fault.
 * Flows are written as YAML, as users write them, and checked against
 * schemas/flows.schema.json first, as the config loader does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowplan.h"
#include "schema.h"
#include "yaml.h"
#include "unit.h"

struct report {
	const struct fg_jdoc *doc;
	char lines[16][FG_ERR_MSG_MAX + 32];
	size_t n;
};

/* Each problem as "line:col: message" (col inside if: added). */
static void
collect(const cJSON *node, unsigned col, const char *msg, void *payload)
{
	struct report *r = payload;
	unsigned line = 0, c = 0;

	fg_jdoc_pos(r->doc, node, &line, &c);
	if (r->n < 16)
		snprintf(r->lines[r->n], sizeof(r->lines[0]), "%u:%u+%u: %s",
		    line, c, col, msg);
	r->n++;
}

/*
 * Parse flows.yaml text, check it against the schema, and build the plan
 * of its flow "f".  Returns the code of fg_flowplan_new.
 */
static int
plan_of(struct fg_flowplan **out, const char *yaml, struct report *r,
    struct fg_jdoc **docp)
{
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	struct fg_jdoc *doc = NULL;
	cJSON *schema = NULL;
	const cJSON *flow;
	int rc;

	*out = NULL;
	CU_ASSERT_EQUAL_FATAL(fg_yaml_parse(&doc, yaml, strlen(yaml),
	    "flows.yaml", &d), 0);
	CU_ASSERT_EQUAL_FATAL(fg_schema_load(&schema, "flows.schema.json",
	    &err), 0);
	rc = fg_schema_validate(schema, fg_jdoc_root(doc), doc, "flows.yaml",
	    &d);
	if (rc != 0)
		fprintf(stderr, "schema: %s\n", d.n ? d.lines[0] : "?");
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	cJSON_Delete(schema);
	fg_diags_release(&d);
	flow = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(fg_jdoc_root(doc), "flows"), "f");
	CU_ASSERT_PTR_NOT_NULL_FATAL(flow);
	memset(r, 0, sizeof(*r));
	r->doc = doc;
	rc = fg_flowplan_new(out, "f", flow, collect, r, &err);
	if (rc == 0) {
		CU_ASSERT_EQUAL(r->n, 0);
	} else {
		CU_ASSERT_STRING_EQUAL(err.msg, strstr(r->lines[0], ": ") + 2);
	}
	*docp = doc;
	return rc;
}

static const char five_steps[] =
    "version: 1\n"
    "flows:\n"
    "  f:\n"
    "    trigger: {manual: {}}\n"
    "    steps:\n"
    "      - id: deploy\n"
    "        needs: [test, package]\n"
    "        deploy: {env: qa}\n"
    "      - id: build\n"
    "        run: {command: [make]}\n"
    "      - id: test\n"
    "        needs: [build]\n"
    "        retries: 2\n"
    "        timeout: 60\n"
    "        run: {command: [make, check]}\n"
    "      - id: lint\n"
    "        needs: [build]\n"
    "        continue-on-error: true\n"
    "        run: {command: [make, lint]}\n"
    "      - id: package\n"
    "        needs: [lint]\n"
    "        if: \"steps.lint.status == 'succeeded' || true\"\n"
    "        run: {command: [make, dist]}\n";

static void
test_flowplan_orders_steps_by_needs(void)
{
	struct fg_flowplan *p = NULL;
	struct fg_jdoc *doc = NULL;
	struct report r;
	const char *ids[5];
	size_t i;

	CU_ASSERT_EQUAL_FATAL(plan_of(&p, five_steps, &r, &doc), 0);
	CU_ASSERT_EQUAL(p->nsteps, 5);
	for (i = 0; i < 5; i++)
		ids[i] = p->steps[p->order[i]].id;
	/* Needs first; otherwise the file's order. */
	CU_ASSERT_STRING_EQUAL(ids[0], "build");
	CU_ASSERT_STRING_EQUAL(ids[1], "test");
	CU_ASSERT_STRING_EQUAL(ids[2], "lint");
	CU_ASSERT_STRING_EQUAL(ids[3], "package");
	CU_ASSERT_STRING_EQUAL(ids[4], "deploy");
	CU_ASSERT_EQUAL(fg_flowplan_find(p, "test"), 2);
	CU_ASSERT_EQUAL(fg_flowplan_find(p, "nope"), -1);
	CU_ASSERT_EQUAL(p->steps[2].retries, 2);
	CU_ASSERT_EQUAL(p->steps[2].timeout, 60);
	CU_ASSERT_EQUAL(p->steps[1].timeout, FG_FLOW_STEP_TIMEOUT);
	CU_ASSERT_TRUE(p->steps[3].continue_on_error);
	CU_ASSERT_STRING_EQUAL(p->steps[0].action, "deploy");
	CU_ASSERT_STRING_EQUAL(p->steps[1].action, "run");
	CU_ASSERT_TRUE(p->steps[4].cond_reads_steps);
	CU_ASSERT_PTR_NULL(p->schedule);
	fg_flowplan_free(p);
	fg_jdoc_free(doc);
}

static void
expect_problems(const char *yaml, const char *const *want)
{
	struct fg_flowplan *p = NULL;
	struct fg_jdoc *doc = NULL;
	struct report r;
	size_t i, n = 0;

	CU_ASSERT_EQUAL(plan_of(&p, yaml, &r, &doc), FG_EINVALID);
	CU_ASSERT_PTR_NULL(p);
	while (want[n] != NULL)
		n++;
	if (r.n != n)
		for (i = 0; i < r.n && i < 16; i++)
			fprintf(stderr, "got: %s\n", r.lines[i]);
	CU_ASSERT_EQUAL(r.n, n);
	for (i = 0; i < n && i < r.n; i++) {
		if (strcmp(r.lines[i], want[i]) != 0)
			fprintf(stderr, "want: %s\ngot:  %s\n", want[i],
			    r.lines[i]);
		CU_ASSERT_STRING_EQUAL(r.lines[i], want[i]);
	}
	fg_jdoc_free(doc);
}

static void
test_flowplan_reports_every_bad_need(void)
{
	static const char *const want[] = {
		"7:14+0: duplicate step id 'a' (also steps[0])",
		"9:17+0: step 'b' needs itself",
		"9:20+0: unknown step 'nope'",
		NULL
	};

	expect_problems(
	    "version: 1\n"
	    "flows:\n"
	    "  f:\n"
	    "    trigger: {manual: {}}\n"
	    "    steps:\n"
	    "      - {id: a, run: {command: [x]}}\n"
	    "      - {id: a, run: {command: [y]}}\n"
	    "      - id: b\n"
	    "        needs: [b, nope, a]\n"
	    "        run: {command: [z]}\n", want);
}

static void
test_flowplan_names_the_steps_of_a_cycle(void)
{
	static const char *const want[] = {
		"7:24+0: steps 'b' -> 'c' -> 'd' -> 'b' form a cycle",
		NULL
	};

	/* a is fine; b needs d, c needs b, d needs c. */
	expect_problems(
	    "version: 1\n"
	    "flows:\n"
	    "  f:\n"
	    "    trigger: {manual: {}}\n"
	    "    steps:\n"
	    "      - {id: a, run: {command: [x]}}\n"
	    "      - {id: b, needs: [a, d], run: {command: [x]}}\n"
	    "      - {id: c, needs: [b], run: {command: [x]}}\n"
	    "      - {id: d, needs: [c], run: {command: [x]}}\n"
	    "      - {id: e, needs: [d], run: {command: [x]}}\n", want);
}

static void
test_flowplan_checks_if_syntax_and_references(void)
{
	static const char *const want[] = {
		"7:33+11: unexpected '=': compare with '=='",
		"8:33+0: reads steps.b, but 'b' is not among its needs: add "
		    "it to needs",
		"9:33+0: reads steps.zz, but there is no step 'zz'",
		"10:33+0: unknown field 'output' of steps.a: use status or "
		    "attempts",
		"11:33+0: reads its own steps.g: a step can only read the "
		    "steps it needs",
		"12:33+0: 'steps' needs a step id and a field, such as "
		    "steps.build.status",
		"13:33+1: unknown name 'env': a path starts with event, steps "
		    "or inputs",
		NULL
	};

	/* c needs a but not b, so it cannot read b. */
	expect_problems(
	    "version: 1\n"
	    "flows:\n"
	    "  f:\n"
	    "    trigger: {manual: {}}\n"
	    "    steps:\n"
	    "      - {id: a, run: {command: [x]}}\n"
	    "      - {id: b, needs: [a], if: \"event.ref = 'x'\", run: {command: [x]}}\n"
	    "      - {id: c, needs: [a], if: \"steps.b.status == 'x' && steps.a.status\", run: {command: [x]}}\n"
	    "      - {id: d, needs: [c], if: \"steps.zz.status == 'x'\", run: {command: [x]}}\n"
	    "      - {id: e, needs: [d], if: \"steps.a.output == 'x'\", run: {command: [x]}}\n"
	    "      - {id: g, needs: [e], if: \"steps.g.status == 'x'\", run: {command: [x]}}\n"
	    "      - {id: h, needs: [g], if: \"steps.a\", run: {command: [x]}}\n"
	    "      - {id: i, needs: [h], if: \"env.X == '1'\", run: {command: [x]}}\n",
	    want);
}

static void
test_flowplan_transitive_needs_may_be_read(void)
{
	struct fg_flowplan *p = NULL;
	struct fg_jdoc *doc = NULL;
	struct report r;

	CU_ASSERT_EQUAL(plan_of(&p,
	    "version: 1\n"
	    "flows:\n"
	    "  f:\n"
	    "    trigger: {manual: {}}\n"
	    "    steps:\n"
	    "      - {id: a, run: {command: [x]}}\n"
	    "      - {id: b, needs: [a], run: {command: [x]}}\n"
	    "      - {id: c, needs: [b], if: \"steps.a.attempts == 1 && event.x\", run: {command: [x]}}\n",
	    &r, &doc), 0);
	fg_flowplan_free(p);
	fg_jdoc_free(doc);
}

static void
test_flowplan_checks_the_schedule(void)
{
	static const char *const want_cron[] = {
		"4:32+0: hour: '25' is out of range 0-23",
		NULL
	};
	static const char *const want_tz[] = {
		"4:49+0: unknown time zone 'Europe/Atlantis' (no file "
		    "'/usr/share/zoneinfo/Europe/Atlantis')",
		NULL
	};
	struct fg_flowplan *p = NULL;
	struct fg_jdoc *doc = NULL;
	struct report r;
	int64_t t;

	expect_problems(
	    "version: 1\n"
	    "flows:\n"
	    "  f:\n"
	    "    trigger: {schedule: {cron: '0 25 * * *'}}\n"
	    "    steps: [{id: a, run: {command: [x]}}]\n", want_cron);
	expect_problems(
	    "version: 1\n"
	    "flows:\n"
	    "  f:\n"
	    "    trigger: {schedule: {cron: '0 2 * * *', tz: Europe/Atlantis}}\n"
	    "    steps: [{id: a, run: {command: [x]}}]\n", want_tz);
	CU_ASSERT_EQUAL_FATAL(plan_of(&p,
	    "version: 1\n"
	    "flows:\n"
	    "  f:\n"
	    "    trigger: {schedule: {cron: '0 2 * * *', tz: Europe/Berlin}}\n"
	    "    steps: [{id: a, run: {command: [x]}}]\n", &r, &doc), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p->schedule);
	/* 2024-07-01T12:00Z: next 02:00 CEST is 00:00 UTC next day. */
	CU_ASSERT_EQUAL(fg_cron_next(&t, p->schedule, 1719835200), 0);
	CU_ASSERT_EQUAL(t, 1719878400);
	fg_flowplan_free(p);
	fg_jdoc_free(doc);
}

static void
test_flowplan_without_report_gives_first_error(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_flowplan *p = NULL;
	cJSON *flow;

	flow = cJSON_Parse("{\"trigger\": {\"manual\": {}}, \"steps\": ["
	    "{\"id\": \"a\", \"needs\": [\"b\"], \"run\": {}},"
	    "{\"id\": \"b\", \"needs\": [\"a\"], \"run\": {}}]}");
	CU_ASSERT_PTR_NOT_NULL_FATAL(flow);
	CU_ASSERT_EQUAL(fg_flowplan_new(&p, "f", flow, NULL, NULL, &err),
	    FG_EINVALID);
	CU_ASSERT_PTR_NULL(p);
	CU_ASSERT_STRING_EQUAL(err.msg,
	    "steps 'a' -> 'b' -> 'a' form a cycle");
	cJSON_Delete(flow);
}

static CU_TestInfo tests[] = {
	{ "orders steps by needs", test_flowplan_orders_steps_by_needs },
	{ "reports every bad need", test_flowplan_reports_every_bad_need },
	{ "names the steps of a cycle",
	    test_flowplan_names_the_steps_of_a_cycle },
	{ "checks if: syntax and references",
	    test_flowplan_checks_if_syntax_and_references },
	{ "transitive needs may be read",
	    test_flowplan_transitive_needs_may_be_read },
	{ "checks the schedule", test_flowplan_checks_the_schedule },
	{ "without a report callback gives the first error",
	    test_flowplan_without_report_gives_first_error },
	CU_TEST_INFO_NULL
};

FG_UNIT_MAIN("flowplan", tests)
