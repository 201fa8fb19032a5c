/*
 * test_flowrun.c - the run state machine, driven as the executor will
 * drive it: the five-step DAG with a failing step skipping its
 * dependents and continue-on-error honoured, parallel-ready steps, if:
 * over a real webhook payload, retries with backoff, refusing to start a
 * step twice, and resuming from run.json (checked against
 * schemas/run.schema.json) without running a finished step again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "flowrun.h"
#include "schema.h"
#include "util.h"
#include "yaml.h"
#include "unit.h"

/* A plan and the YAML tree it borrows. */
struct fixture {
	struct fg_jdoc *doc;
	struct fg_flowplan *plan;
};

static void
fixture_init(struct fixture *fx, const char *yaml)
{
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	const cJSON *flow;

	memset(fx, 0, sizeof(*fx));
	CU_ASSERT_EQUAL_FATAL(fg_yaml_parse(&fx->doc, yaml, strlen(yaml),
	    "flows.yaml", &d), 0);
	flow = cJSON_GetObjectItemCaseSensitive(fg_jdoc_root(fx->doc), "f");
	if (fg_flowplan_new(&fx->plan, "f", flow, NULL, NULL, &err) != 0)
		fprintf(stderr, "plan: %s\n", err.msg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fx->plan);
	fg_diags_release(&d);
}

static void
fixture_release(struct fixture *fx)
{
	fg_flowplan_free(fx->plan);
	fg_jdoc_free(fx->doc);
}

static size_t
idx(const struct fixture *fx, const char *id)
{
	long i = fg_flowplan_find(fx->plan, id);

	CU_ASSERT_FATAL(i >= 0);
	return (size_t)i;
}

/* Advance and give the ready steps' ids, space-separated. */
static const char *
advance(struct fixture *fx, struct fg_flowrun *run, int64_t now,
    const cJSON *event)
{
	static char buf[512];
	struct fg_err err = FG_ERR_INIT;
	size_t ready[FG_FLOW_MAX_STEPS], n = 99, i;

	CU_ASSERT_EQUAL(fg_flowrun_advance(run, now, event, NULL, ready, &n,
	    &err), 0);
	buf[0] = '\0';
	for (i = 0; i < n; i++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s",
		    i ? " " : "", fx->plan->steps[ready[i]].id);
	return buf;
}

static void
start(struct fixture *fx, struct fg_flowrun *run, const char *id,
    int64_t now)
{
	struct fg_err err = FG_ERR_INIT;

	if (fg_flowrun_start(run, idx(fx, id), now, &err) != 0)
		fprintf(stderr, "start %s: %s\n", id, err.msg);
}

static void
finish(struct fixture *fx, struct fg_flowrun *run, const char *id, bool ok,
    int64_t now)
{
	struct fg_err err = FG_ERR_INIT;

	CU_ASSERT_EQUAL(fg_flowrun_finish(run, idx(fx, id), ok,
	    ok ? NULL : "exit status 2", now, &err), 0);
}

static const char *
state(struct fixture *fx, struct fg_flowrun *run, const char *id)
{
	return fg_step_state_name(run->steps[idx(fx, id)].state);
}

static const char *
reason(struct fixture *fx, struct fg_flowrun *run, const char *id)
{
	const char *r = run->steps[idx(fx, id)].reason;

	return r != NULL ? r : "(none)";
}

/*
 * The DAG: build; lint and test after build (lint may fail);
 * package after lint; deploy after test and package; notify after deploy.
 */
static const char dag[] =
    "f:\n"
    "  trigger: {manual: {}}\n"
    "  steps:\n"
    "    - {id: build, run: {command: [make]}}\n"
    "    - {id: lint, needs: [build], continue-on-error: true,\n"
    "       run: {command: [make, lint]}}\n"
    "    - {id: test, needs: [build], run: {command: [make, check]}}\n"
    "    - {id: package, needs: [lint], run: {command: [make, dist]}}\n"
    "    - {id: deploy, needs: [test, package], deploy: {env: qa}}\n";

static void
test_flowrun_failing_step_skips_dependents(void)
{
	struct fg_flowrun *run = NULL;
	struct fixture fx;

	fixture_init(&fx, dag);
	CU_ASSERT_EQUAL_FATAL(fg_flowrun_new(&run, fx.plan, "d-1", 1000,
	    NULL), 0);
	CU_ASSERT_STRING_EQUAL(advance(&fx, run, 1000, NULL), "build");
	start(&fx, run, "build", 1000);
	/* Nothing else is ready while build runs. */
	CU_ASSERT_STRING_EQUAL(advance(&fx, run, 1001, NULL), "");
	finish(&fx, run, "build", true, 1010);
	/* lint and test are independent: both ready at once. */
	CU_ASSERT_STRING_EQUAL(advance(&fx, run, 1010, NULL), "lint test");
	start(&fx, run, "lint", 1010);
	start(&fx, run, "test", 1010);
	finish(&fx, run, "lint", false, 1020);
	/* continue-on-error: package runs although lint failed. */
	CU_ASSERT_STRING_EQUAL(advance(&fx, run, 1020, NULL), "package");
	CU_ASSERT_STRING_EQUAL(state(&fx, run, "lint"), "failed");
	start(&fx, run, "package", 1020);
	finish(&fx, run, "test", false, 1030);
	CU_ASSERT_STRING_EQUAL(advance(&fx, run, 1030, NULL), "");
	CU_ASSERT_FALSE(fg_flowrun_is_finished(run));
	finish(&fx, run, "package", true, 1040);
	/* test failed: deploy is skipped, and the run is over. */
	CU_ASSERT_STRING_EQUAL(advance(&fx, run, 1040, NULL), "");
	CU_ASSERT_STRING_EQUAL(state(&fx, run, "deploy"), "skipped");
	CU_ASSERT_STRING_EQUAL(reason(&fx, run, "deploy"),
	    "need 'test' failed");
	CU_ASSERT_STRING_EQUAL(state(&fx, run, "package"), "succeeded");
	CU_ASSERT_EQUAL(run->steps[idx(&fx, "deploy")].attempts, 0);
	CU_ASSERT_TRUE(fg_flowrun_is_finished(run));
	CU_ASSERT_EQUAL(run->status, FG_FLOWRUN_FAILED);
	CU_ASSERT_EQUAL(run->finished, 1040);
	fg_flowrun_free(run);
	fixture_release(&fx);
}

static void
test_flowrun_continue_on_error_alone_does_not_fail_the_run(void)
{
	struct fg_flowrun *run = NULL;
	struct fixture fx;

	fixture_init(&fx, dag);
	CU_ASSERT_EQUAL_FATAL(fg_flowrun_new(&run, fx.plan, "d-2", 1, NULL),
	    0);
	advance(&fx, run, 1, NULL);
	start(&fx, run, "build", 1);
	finish(&fx, run, "build", true, 2);
	advance(&fx, run, 2, NULL);
	start(&fx, run, "lint", 2);
	start(&fx, run, "test", 2);
	finish(&fx, run, "lint", false, 3);
	finish(&fx, run, "test", true, 3);
	CU_ASSERT_STRING_EQUAL(advance(&fx, run, 3, NULL), "package");
	start(&fx, run, "package", 3);
	finish(&fx, run, "package", true, 4);
	CU_ASSERT_STRING_EQUAL(advance(&fx, run, 4, NULL), "deploy");
	start(&fx, run, "deploy", 4);
	finish(&fx, run, "deploy", true, 5);
	CU_ASSERT_STRING_EQUAL(advance(&fx, run, 5, NULL), "");
	CU_ASSERT_EQUAL(run->status, FG_FLOWRUN_SUCCEEDED);
	CU_ASSERT_STRING_EQUAL(state(&fx, run, "lint"), "failed");
	CU_ASSERT_STRING_EQUAL(reason(&fx, run, "lint"), "exit status 2");
	fg_flowrun_free(run);
	fixture_release(&fx);
}

static void
test_flowrun_skips_spread_and_if_on_steps_decides(void)
{
	static const char yaml[] =
	    "f:\n"
	    "  trigger: {manual: {}}\n"
	    "  steps:\n"
	    "    - {id: a, if: \"event.go == true\", run: {command: [x]}}\n"
	    "    - {id: b, needs: [a], run: {command: [x]}}\n"
	    "    - {id: c, needs: [b], run: {command: [x]}}\n"
	    "    - {id: on-skip, needs: [c],\n"
	    "       if: \"steps.c.status == 'skipped'\", run: {command: [x]}}\n"
	    "    - {id: never, needs: [c],\n"
	    "       if: \"steps.a.status == 'succeeded'\", run: {command: [x]}}\n";
	struct fg_flowrun *run = NULL;
	struct fixture fx;
	cJSON *event = cJSON_Parse("{\"go\": false}");

	fixture_init(&fx, yaml);
	CU_ASSERT_EQUAL_FATAL(fg_flowrun_new(&run, fx.plan, "s", 1, NULL), 0);
	/* One advance settles the whole chain. */
	CU_ASSERT_STRING_EQUAL(advance(&fx, run, 1, event), "on-skip");
	CU_ASSERT_STRING_EQUAL(reason(&fx, run, "a"), "if: is false");
	CU_ASSERT_STRING_EQUAL(reason(&fx, run, "b"), "need 'a' was skipped");
	CU_ASSERT_STRING_EQUAL(reason(&fx, run, "c"), "need 'b' was skipped");
	CU_ASSERT_STRING_EQUAL(state(&fx, run, "never"), "skipped");
	CU_ASSERT_STRING_EQUAL(reason(&fx, run, "never"), "if: is false");
	start(&fx, run, "on-skip", 2);
	finish(&fx, run, "on-skip", true, 3);
	advance(&fx, run, 3, event);
	CU_ASSERT_EQUAL(run->status, FG_FLOWRUN_SUCCEEDED);
	fg_flowrun_free(run);
	fixture_release(&fx);
	cJSON_Delete(event);
}

static cJSON *
corpus_event(const char *rel)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf b = FG_BUF_INIT;
	const char *path = fg_unit_shared(rel);
	cJSON *j = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(path);
	CU_ASSERT_EQUAL_FATAL(fg_read_file(&b, path, 1 << 22, &err), 0);
	CU_ASSERT_EQUAL_FATAL(fg_json_parse(&j, b.ptr, b.len, &err), 0);
	fg_buf_release(&b);
	return j;
}

static void
test_flowrun_if_reads_a_real_pull_request(void)
{
	static const char yaml[] =
	    "f:\n"
	    "  trigger: {pull_request: {events: [opened]}}\n"
	    "  steps:\n"
	    "    - {id: on-master, if: \"event.pull_request.base.ref == "
	    "'master' && event.action in ['opened', 'reopened']\",\n"
	    "       run: {command: [x]}}\n"
	    "    - {id: on-main, if: \"event.pull_request.base.ref == "
	    "'main'\", run: {command: [x]}}\n"
	    "    - {id: not-draft, if: \"!event.pull_request.draft\",\n"
	    "       run: {command: [x]}}\n";
	struct fg_flowrun *run = NULL;
	struct fixture fx;
	cJSON *event = corpus_event(
	    "corpus/webhooks/github/pull_request.opened.json");

	fixture_init(&fx, yaml);
	CU_ASSERT_EQUAL_FATAL(fg_flowrun_new(&run, fx.plan, "pr-2", 1, NULL),
	    0);
	CU_ASSERT_STRING_EQUAL(advance(&fx, run, 1, event),
	    "on-master not-draft");
	CU_ASSERT_STRING_EQUAL(state(&fx, run, "on-main"), "skipped");
	fg_flowrun_free(run);
	fixture_release(&fx);
	cJSON_Delete(event);
}

static void
test_flowrun_hostile_values_stay_inert(void)
{
	static const char yaml[] =
	    "f:\n"
	    "  trigger: {webhook: {match: {kind: x}}}\n"
	    "  steps:\n"
	    "    - {id: a, if: \"event.title == 'safe'\", run: {command: [x]}}\n";
	struct fg_err err = FG_ERR_INIT;
	struct fg_flowrun *run = NULL;
	struct fixture fx;
	cJSON *event = cJSON_Parse("{\"title\": \"x' || true || '\"}");
	char id[FG_FLOWRUN_ID_MAX + 2];

	fixture_init(&fx, yaml);
	CU_ASSERT_EQUAL_FATAL(fg_flowrun_new(&run, fx.plan, "h", 1, NULL), 0);
	CU_ASSERT_STRING_EQUAL(advance(&fx, run, 1, event), "");
	CU_ASSERT_STRING_EQUAL(state(&fx, run, "a"), "skipped");
	fg_flowrun_free(run);
	/* Run ids become ref and file names later: only safe ones. */
	CU_ASSERT_EQUAL(fg_flowrun_new(&run, fx.plan, "../../x", 1, &err),
	    FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "invalid run id '../../x': use 1 to "
	    "64 letters, digits, '.', '_' or '-'");
	CU_ASSERT_EQUAL(fg_flowrun_new(&run, fx.plan, "", 1, &err),
	    FG_EINVALID);
	/* 64 characters are the most a run id may have. */
	memset(id, 'a', sizeof(id));
	id[FG_FLOWRUN_ID_MAX] = '\0';
	CU_ASSERT_EQUAL(fg_flowrun_new(&run, fx.plan, id, 1, &err), 0);
	fg_flowrun_free(run);
	run = NULL;
	id[FG_FLOWRUN_ID_MAX] = 'a';
	id[FG_FLOWRUN_ID_MAX + 1] = '\0';
	CU_ASSERT_EQUAL(fg_flowrun_new(&run, fx.plan, id, 1, &err),
	    FG_EINVALID);
	CU_ASSERT_PTR_NULL(run);
	fixture_release(&fx);
	cJSON_Delete(event);
}

static void
test_flowrun_retries_back_off(void)
{
	static const char yaml[] =
	    "f:\n"
	    "  trigger: {manual: {}}\n"
	    "  steps:\n"
	    "    - {id: flaky, retries: 2, run: {command: [x]}}\n"
	    "    - {id: after, needs: [flaky], run: {command: [x]}}\n";
	struct fg_flowrun *run = NULL;
	struct fixture fx;
	int64_t t = 0;

	fixture_init(&fx, yaml);
	CU_ASSERT_EQUAL_FATAL(fg_flowrun_new(&run, fx.plan, "r", 100, NULL),
	    0);
	CU_ASSERT_STRING_EQUAL(advance(&fx, run, 100, NULL), "flaky");
	CU_ASSERT_FALSE(fg_flowrun_wakeup(run, &t));
	start(&fx, run, "flaky", 100);
	finish(&fx, run, "flaky", false, 105);
	/* First retry 10 s after the failure. */
	CU_ASSERT_STRING_EQUAL(state(&fx, run, "flaky"), "waiting");
	CU_ASSERT_TRUE(fg_flowrun_wakeup(run, &t));
	CU_ASSERT_EQUAL(t, 115);
	CU_ASSERT_STRING_EQUAL(advance(&fx, run, 114, NULL), "");
	CU_ASSERT_EQUAL(fg_flowrun_start(run, idx(&fx, "flaky"), 114, NULL),
	    FG_ECONFLICT);
	CU_ASSERT_STRING_EQUAL(advance(&fx, run, 115, NULL), "flaky");
	start(&fx, run, "flaky", 115);
	finish(&fx, run, "flaky", false, 120);
	/* Second retry 20 s after. */
	CU_ASSERT_TRUE(fg_flowrun_wakeup(run, &t));
	CU_ASSERT_EQUAL(t, 140);
	CU_ASSERT_STRING_EQUAL(advance(&fx, run, 140, NULL), "flaky");
	start(&fx, run, "flaky", 140);
	finish(&fx, run, "flaky", false, 150);
	/* No retries left: failed after 3 attempts; after is skipped. */
	CU_ASSERT_STRING_EQUAL(state(&fx, run, "flaky"), "failed");
	CU_ASSERT_EQUAL(run->steps[0].attempts, 3);
	CU_ASSERT_STRING_EQUAL(advance(&fx, run, 150, NULL), "");
	CU_ASSERT_STRING_EQUAL(reason(&fx, run, "after"),
	    "need 'flaky' failed");
	CU_ASSERT_EQUAL(run->status, FG_FLOWRUN_FAILED);
	fg_flowrun_free(run);
	fixture_release(&fx);
}

static void
test_flowrun_backoff_is_capped(void)
{
	static const char yaml[] =
	    "f:\n"
	    "  trigger: {manual: {}}\n"
	    "  steps:\n"
	    "    - {id: a, retries: 10, run: {command: [x]}}\n";
	static const int64_t waits[] = {
		10, 20, 40, 80, 160, 320, 600, 600, 600, 600
	};
	struct fg_flowrun *run = NULL;
	struct fixture fx;
	int64_t now = 0, t = 0;
	size_t i;

	fixture_init(&fx, yaml);
	CU_ASSERT_EQUAL_FATAL(fg_flowrun_new(&run, fx.plan, "c", 0, NULL), 0);
	advance(&fx, run, now, NULL);
	for (i = 0; i < FG_ARRAY_SIZE(waits); i++) {
		start(&fx, run, "a", now);
		finish(&fx, run, "a", false, now);
		CU_ASSERT_TRUE(fg_flowrun_wakeup(run, &t));
		CU_ASSERT_EQUAL(t - now, waits[i]);
		now = t;
		CU_ASSERT_STRING_EQUAL(advance(&fx, run, now, NULL), "a");
	}
	start(&fx, run, "a", now);
	finish(&fx, run, "a", false, now);
	CU_ASSERT_STRING_EQUAL(state(&fx, run, "a"), "failed");
	CU_ASSERT_EQUAL(run->steps[0].attempts, 11);
	fg_flowrun_free(run);
	fixture_release(&fx);
}

static void
test_flowrun_refuses_to_start_or_finish_out_of_turn(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_flowrun *run = NULL;
	struct fixture fx;

	fixture_init(&fx, dag);
	CU_ASSERT_EQUAL_FATAL(fg_flowrun_new(&run, fx.plan, "o", 1, NULL), 0);
	/* Not decided yet: pending. */
	CU_ASSERT_EQUAL(fg_flowrun_start(run, idx(&fx, "build"), 1, &err),
	    FG_ECONFLICT);
	CU_ASSERT_STRING_EQUAL(err.msg, "step 'build' cannot start: it is "
	    "pending");
	advance(&fx, run, 1, NULL);
	CU_ASSERT_EQUAL(fg_flowrun_start(run, idx(&fx, "test"), 1, &err),
	    FG_ECONFLICT);
	CU_ASSERT_EQUAL(fg_flowrun_finish(run, idx(&fx, "build"), true, NULL,
	    1, &err), FG_ECONFLICT);
	CU_ASSERT_STRING_EQUAL(err.msg, "step 'build' cannot finish: it is "
	    "ready");
	CU_ASSERT_EQUAL(fg_flowrun_start(run, idx(&fx, "build"), 1, &err), 0);
	CU_ASSERT_EQUAL(fg_flowrun_start(run, idx(&fx, "build"), 1, &err),
	    FG_ECONFLICT);
	CU_ASSERT_STRING_EQUAL(err.msg, "step 'build' cannot start: it is "
	    "running");
	CU_ASSERT_EQUAL(fg_flowrun_start(run, 99, 1, &err), FG_EINVALID);
	fg_flowrun_free(run);
	fixture_release(&fx);
}

/* Validate a run.json tree with the schema; 0 when valid. */
static int
validate(const cJSON *json, char *first, size_t size)
{
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	cJSON *schema = NULL;
	int rc;

	CU_ASSERT_EQUAL_FATAL(fg_schema_load(&schema, "run.schema.json",
	    &err), 0);
	rc = fg_schema_validate(schema, json, NULL, "run.json", &d);
	snprintf(first, size, "%s", d.n > 0 ? d.lines[0] : "");
	cJSON_Delete(schema);
	fg_diags_release(&d);
	return rc;
}

/* Write the run to JSON text and read it back as a new run. */
static struct fg_flowrun *
roundtrip(struct fixture *fx, struct fg_flowrun *run)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_flowrun *back = NULL;
	cJSON *json = NULL, *parsed;
	char first[FG_ERR_MSG_MAX], *text;

	CU_ASSERT_EQUAL_FATAL(fg_flowrun_to_json(&json, run, &err), 0);
	CU_ASSERT_EQUAL(validate(json, first, sizeof(first)), 0);
	if (first[0] != '\0')
		fprintf(stderr, "schema: %s\n", first);
	text = cJSON_Print(json);
	parsed = cJSON_Parse(text);
	CU_ASSERT_PTR_NOT_NULL_FATAL(parsed);
	if (fg_flowrun_from_json(&back, fx->plan, parsed, &err) != 0)
		fprintf(stderr, "from_json: %s\n", err.msg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(back);
	cJSON_free(text);
	cJSON_Delete(json);
	cJSON_Delete(parsed);
	return back;
}

static void
test_flowrun_resumes_from_json_mid_run(void)
{
	struct fg_flowrun *run = NULL, *back;
	struct fixture fx;
	cJSON *a = NULL, *b = NULL;
	char *ta, *tb;

	fixture_init(&fx, dag);
	CU_ASSERT_EQUAL_FATAL(fg_flowrun_new(&run, fx.plan, "resume-1", 1000,
	    NULL), 0);
	advance(&fx, run, 1000, NULL);
	start(&fx, run, "build", 1000);
	finish(&fx, run, "build", true, 1010);
	advance(&fx, run, 1010, NULL);
	start(&fx, run, "lint", 1010);
	start(&fx, run, "test", 1010);
	finish(&fx, run, "test", true, 1020);

	/* The daemon dies here: build and test done, lint running. */
	back = roundtrip(&fx, run);
	CU_ASSERT_EQUAL_FATAL(fg_flowrun_to_json(&a, run, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(fg_flowrun_to_json(&b, back, NULL), 0);
	ta = cJSON_PrintUnformatted(a);
	tb = cJSON_PrintUnformatted(b);
	CU_ASSERT_STRING_EQUAL(ta, tb);
	cJSON_free(ta);
	cJSON_free(tb);
	cJSON_Delete(a);
	cJSON_Delete(b);
	fg_flowrun_free(run);

	CU_ASSERT_STRING_EQUAL(state(&fx, back, "build"), "succeeded");
	CU_ASSERT_STRING_EQUAL(state(&fx, back, "lint"), "running");
	/* The interrupted attempt counts as a failure (no retries). */
	fg_flowrun_recover(back, 2000);
	CU_ASSERT_STRING_EQUAL(state(&fx, back, "lint"), "failed");
	CU_ASSERT_STRING_EQUAL(reason(&fx, back, "lint"),
	    "interrupted by a restart");
	/* Finished steps are not offered again; lint's c-o-e still holds. */
	CU_ASSERT_STRING_EQUAL(advance(&fx, back, 2000, NULL), "package");
	CU_ASSERT_EQUAL(back->steps[idx(&fx, "build")].attempts, 1);
	CU_ASSERT_EQUAL(fg_flowrun_start(back, idx(&fx, "build"), 2000,
	    NULL), FG_ECONFLICT);
	start(&fx, back, "package", 2000);

	/* And again, with package running and a retry-free finish. */
	run = roundtrip(&fx, back);
	fg_flowrun_free(back);
	finish(&fx, run, "package", true, 2010);
	CU_ASSERT_STRING_EQUAL(advance(&fx, run, 2010, NULL), "deploy");
	start(&fx, run, "deploy", 2010);
	finish(&fx, run, "deploy", true, 2020);
	advance(&fx, run, 2020, NULL);
	CU_ASSERT_EQUAL(run->status, FG_FLOWRUN_SUCCEEDED);
	back = roundtrip(&fx, run);
	CU_ASSERT_EQUAL(back->status, FG_FLOWRUN_SUCCEEDED);
	CU_ASSERT_EQUAL(back->finished, 2020);
	CU_ASSERT_EQUAL(back->created, 1000);
	fg_flowrun_free(back);
	fg_flowrun_free(run);
	fixture_release(&fx);
}

static void
test_flowrun_resume_keeps_a_waiting_retry(void)
{
	static const char yaml[] =
	    "f:\n"
	    "  trigger: {manual: {}}\n"
	    "  steps:\n"
	    "    - {id: a, retries: 1, run: {command: [x]}}\n";
	struct fg_flowrun *run = NULL, *back;
	struct fixture fx;
	int64_t t = 0;

	fixture_init(&fx, yaml);
	CU_ASSERT_EQUAL_FATAL(fg_flowrun_new(&run, fx.plan, "w", 0, NULL), 0);
	advance(&fx, run, 0, NULL);
	start(&fx, run, "a", 0);
	finish(&fx, run, "a", false, 50);
	back = roundtrip(&fx, run);
	CU_ASSERT_STRING_EQUAL(state(&fx, back, "a"), "waiting");
	CU_ASSERT_TRUE(fg_flowrun_wakeup(back, &t));
	CU_ASSERT_EQUAL(t, 60);
	CU_ASSERT_STRING_EQUAL(reason(&fx, back, "a"), "exit status 2");
	/* Recovering touches only running steps. */
	fg_flowrun_recover(back, 55);
	CU_ASSERT_STRING_EQUAL(state(&fx, back, "a"), "waiting");
	CU_ASSERT_STRING_EQUAL(advance(&fx, back, 60, NULL), "a");
	fg_flowrun_free(back);
	fg_flowrun_free(run);
	fixture_release(&fx);
}

static void
test_flowrun_refuses_json_of_another_shape(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_flowrun *run = NULL;
	struct fixture fx, other;
	cJSON *json = NULL;
	char first[FG_ERR_MSG_MAX];

	fixture_init(&fx, dag);
	fixture_init(&other,
	    "f:\n"
	    "  trigger: {manual: {}}\n"
	    "  steps:\n"
	    "    - {id: build, run: {command: [make]}}\n"
	    "    - {id: lint, run: {command: [make]}}\n"
	    "    - {id: check, run: {command: [make]}}\n"
	    "    - {id: package, run: {command: [make]}}\n"
	    "    - {id: deploy, deploy: {env: qa}}\n");
	CU_ASSERT_EQUAL_FATAL(fg_flowrun_new(&run, fx.plan, "x", 1, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(fg_flowrun_to_json(&json, run, NULL), 0);
	fg_flowrun_free(run);
	run = NULL;

	/* The flow's steps changed since the run started. */
	CU_ASSERT_EQUAL(fg_flowrun_from_json(&run, other.plan, json, &err),
	    FG_ECONFLICT);
	CU_ASSERT_STRING_EQUAL(err.msg, "run 'x' has step 'test' where flow "
	    "'f' now has 'check': the flow changed since it started");

	/* A bad status, a missing field: the schema says so. */
	cJSON_ReplaceItemInObject(json, "status", cJSON_CreateString("done"));
	CU_ASSERT_NOT_EQUAL(validate(json, first, sizeof(first)), 0);
	CU_ASSERT_EQUAL(fg_flowrun_from_json(&run, fx.plan, json, &err),
	    FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "run.json: status: must be one of: "
	    "running, succeeded, failed");
	cJSON_ReplaceItemInObject(json, "status",
	    cJSON_CreateString("succeeded"));
	CU_ASSERT_EQUAL(fg_flowrun_from_json(&run, fx.plan, json, &err),
	    FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "run.json: missing required field "
	    "'finished'");
	cJSON_ReplaceItemInObject(json, "status",
	    cJSON_CreateString("running"));
	cJSON_ReplaceItemInObject(json, "flow", cJSON_CreateString("g"));
	CU_ASSERT_EQUAL(fg_flowrun_from_json(&run, fx.plan, json, &err),
	    FG_ECONFLICT);
	CU_ASSERT_STRING_EQUAL(err.msg, "run 'x' is of flow 'g', not 'f'");
	CU_ASSERT_PTR_NULL(run);
	cJSON_Delete(json);
	fixture_release(&other);
	fixture_release(&fx);
}

static void
test_flowrun_long_reasons_are_cut_at_a_character(void)
{
	static const char yaml[] =
	    "f:\n"
	    "  trigger: {manual: {}}\n"
	    "  steps:\n"
	    "    - {id: a, run: {command: [x]}}\n";
	struct fg_flowrun *run = NULL, *back;
	struct fixture fx;
	char why[400];
	size_t i;

	/* 'x' then 'é' (2 bytes) repeated: byte 200 splits a character. */
	why[0] = 'x';
	for (i = 1; i + 2 < sizeof(why); i += 2)
		memcpy(why + i, "\xc3\xa9", 2);
	why[i] = '\0';
	fixture_init(&fx, yaml);
	CU_ASSERT_EQUAL_FATAL(fg_flowrun_new(&run, fx.plan, "l", 0, NULL), 0);
	advance(&fx, run, 0, NULL);
	start(&fx, run, "a", 0);
	CU_ASSERT_EQUAL(fg_flowrun_finish(run, 0, false, why, 1, NULL), 0);
	CU_ASSERT_EQUAL(strlen(run->steps[0].reason), 199);
	CU_ASSERT_TRUE(fg_utf8_is_valid(run->steps[0].reason, 199));
	back = roundtrip(&fx, run);
	CU_ASSERT_STRING_EQUAL(back->steps[0].reason, run->steps[0].reason);
	fg_flowrun_free(back);
	fg_flowrun_free(run);
	fixture_release(&fx);
}

static CU_TestInfo tests[] = {
	{ "a failing step skips its dependents",
	    test_flowrun_failing_step_skips_dependents },
	{ "continue-on-error alone does not fail the run",
	    test_flowrun_continue_on_error_alone_does_not_fail_the_run },
	{ "skips spread; an if: on steps decides alone",
	    test_flowrun_skips_spread_and_if_on_steps_decides },
	{ "if: reads a real pull request",
	    test_flowrun_if_reads_a_real_pull_request },
	{ "hostile values stay inert", test_flowrun_hostile_values_stay_inert },
	{ "retries back off", test_flowrun_retries_back_off },
	{ "backoff is capped", test_flowrun_backoff_is_capped },
	{ "refuses to start or finish out of turn",
	    test_flowrun_refuses_to_start_or_finish_out_of_turn },
	{ "resumes from JSON mid-run", test_flowrun_resumes_from_json_mid_run },
	{ "resume keeps a waiting retry",
	    test_flowrun_resume_keeps_a_waiting_retry },
	{ "refuses JSON of another shape",
	    test_flowrun_refuses_json_of_another_shape },
	{ "long reasons are cut at a character",
	    test_flowrun_long_reasons_are_cut_at_a_character },
	CU_TEST_INFO_NULL
};

FG_UNIT_MAIN("flowrun", tests)
