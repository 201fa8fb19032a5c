/*
 * test_expr.c - "if:" expressions: what they mean against a real webhook
 * payload, how mixed types and missing paths compare, where syntax errors
 * are reported, and that hostile text is refused or stays inert.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "expr.h"
#include "util.h"
#include "unit.h"

static const char *const roots[] = { "event", "steps", "inputs", NULL };

/* The context: a real GitHub pull_request.opened payload as the event. */
static cJSON *ctx;

static cJSON *
load_ctx(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf b = FG_BUF_INIT;
	const char *path;
	cJSON *event = NULL, *root;

	path = fg_unit_shared("corpus/webhooks/github/pull_request.opened.json");
	CU_ASSERT_PTR_NOT_NULL_FATAL(path);
	CU_ASSERT_EQUAL_FATAL(fg_read_file(&b, path, 1 << 22, &err), 0);
	CU_ASSERT_EQUAL_FATAL(fg_json_parse(&event, b.ptr, b.len, &err), 0);
	fg_buf_release(&b);
	root = cJSON_Parse("{\"steps\": {\"build\": {\"status\": \"succeeded\","
	    " \"attempts\": 2}, \"test\": {\"status\": \"failed\"},"
	    " \"1st.check\": {\"status\": \"skipped\"}},"
	    " \"inputs\": {\"env\": \"prod\", \"count\": 3, \"dry\": false,"
	    " \"empty\": \"\", \"list\": [\"a\", 1, true, null],"
	    " \"none\": [], \"obj\": {}, \"zero\": 0}}");
	CU_ASSERT_PTR_NOT_NULL_FATAL(root);
	cJSON_AddItemToObject(root, "event", event);
	return root;
}

static int
eval(const char *src)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_expr *e = NULL;
	unsigned col = 0;
	int rc;

	if (ctx == NULL)
		ctx = load_ctx();
	rc = fg_expr_parse(&e, src, roots, &col, &err);
	if (rc < 0) {
		fprintf(stderr, "parse '%s': col %u: %s\n", src, col, err.msg);
		return -1;
	}
	rc = fg_expr_eval(e, fg_expr_lookup_json, ctx);
	fg_expr_free(e);
	return rc;
}

/* Parse src, expect failure: return the column, copy the message. */
static unsigned
parse_error(const char *src, char *msg, size_t size)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_expr *e = NULL;
	unsigned col = 0;

	if (fg_expr_parse(&e, src, roots, &col, &err) == 0) {
		fg_expr_free(e);
		snprintf(msg, size, "(parsed)");
		return 0;
	}
	CU_ASSERT_PTR_NULL(e);
	snprintf(msg, size, "%s", err.msg);
	return col;
}

static void
test_expr_reads_real_pull_request_payload(void)
{
	CU_ASSERT_EQUAL(eval("event.pull_request.base.ref == 'master'"), 1);
	CU_ASSERT_EQUAL(eval("event.pull_request.base.ref == 'main'"), 0);
	CU_ASSERT_EQUAL(eval("event.action in ['opened', 'synchronize']"),
	    1);
	CU_ASSERT_EQUAL(eval("event.number == 2"), 1);
	CU_ASSERT_EQUAL(eval("event.pull_request.draft == false"), 1);
	CU_ASSERT_EQUAL(eval("event.pull_request.labels.0.name == 'bug'"), 1);
	CU_ASSERT_EQUAL(eval("event.pull_request.head.ref matches 'chan*'"),
	    1);
	CU_ASSERT_EQUAL(eval("event.pull_request.user.login == "
	    "\"Codertocat\" && !event.pull_request.draft"), 1);
	CU_ASSERT_EQUAL(eval("event['pull_request'].base['ref'] == 'master'"),
	    1);
}

static void
test_expr_step_statuses_and_dotted_ids(void)
{
	CU_ASSERT_EQUAL(eval("steps.build.status == 'succeeded'"), 1);
	CU_ASSERT_EQUAL(eval("steps.test.status != 'succeeded'"), 1);
	CU_ASSERT_EQUAL(eval("steps['1st.check'].status == 'skipped'"), 1);
	CU_ASSERT_EQUAL(eval("steps.build.attempts == 2"), 1);
	CU_ASSERT_EQUAL(eval("steps.build.status == 'succeeded' && "
	    "steps.test.status == 'failed' || false"), 1);
}

static void
test_expr_missing_paths_are_null(void)
{
	/* A missing path equals nothing but null, and != is !(==). */
	CU_ASSERT_EQUAL(eval("steps.nope.status == 'failed'"), 0);
	CU_ASSERT_EQUAL(eval("steps.nope.status != 'failed'"), 1);
	CU_ASSERT_EQUAL(eval("steps.nope.status == null"), 1);
	CU_ASSERT_EQUAL(eval("steps.nope.status"), 0);
	CU_ASSERT_EQUAL(eval("!event.no.such.path"), 1);
	CU_ASSERT_EQUAL(eval("inputs.nope in ['a']"), 0);
	CU_ASSERT_EQUAL(eval("'a' in inputs.nope"), 0);
	CU_ASSERT_EQUAL(eval("inputs.nope matches '*'"), 0);
	/* Walking into a string or past an array's end is missing too. */
	CU_ASSERT_EQUAL(eval("inputs.env.x == null"), 1);
	CU_ASSERT_EQUAL(eval("inputs.list.9 == null"), 1);
	CU_ASSERT_EQUAL(eval("inputs.list.-1 == null"), 1);
}

static void
test_expr_mixed_types_never_convert(void)
{
	CU_ASSERT_EQUAL(eval("inputs.count == 3"), 1);
	CU_ASSERT_EQUAL(eval("inputs.count == 3.0"), 1);
	CU_ASSERT_EQUAL(eval("inputs.count == '3'"), 0);
	CU_ASSERT_EQUAL(eval("inputs.dry == 0"), 0);
	CU_ASSERT_EQUAL(eval("inputs.dry == false"), 1);
	CU_ASSERT_EQUAL(eval("null == false"), 0);
	CU_ASSERT_EQUAL(eval("'' == null"), 0);
	CU_ASSERT_EQUAL(eval("inputs.list == inputs.list"), 0);
	CU_ASSERT_EQUAL(eval("inputs.obj == inputs.obj"), 0);
	CU_ASSERT_EQUAL(eval("1 in inputs.list"), 1);
	CU_ASSERT_EQUAL(eval("'1' in inputs.list"), 0);
	CU_ASSERT_EQUAL(eval("true in inputs.list"), 1);
	CU_ASSERT_EQUAL(eval("null in inputs.list"), 1);
	CU_ASSERT_EQUAL(eval("'prod' in ['dev', 'prod']"), 1);
	CU_ASSERT_EQUAL(eval("inputs.env in []"), 0);
	CU_ASSERT_EQUAL(eval("inputs.count matches '3'"), 0);
	CU_ASSERT_EQUAL(eval("-1 == -1.0"), 1);
}

static void
test_expr_truthiness_table(void)
{
	CU_ASSERT_EQUAL(eval("inputs.env"), 1);
	CU_ASSERT_EQUAL(eval("inputs.empty"), 0);
	CU_ASSERT_EQUAL(eval("inputs.zero"), 0);
	CU_ASSERT_EQUAL(eval("inputs.count"), 1);
	CU_ASSERT_EQUAL(eval("inputs.none"), 0);
	CU_ASSERT_EQUAL(eval("inputs.list"), 1);
	CU_ASSERT_EQUAL(eval("inputs.obj"), 0);
	CU_ASSERT_EQUAL(eval("event.pull_request"), 1);
	CU_ASSERT_EQUAL(eval("null"), 0);
	CU_ASSERT_EQUAL(eval("[]"), 0);
	CU_ASSERT_EQUAL(eval("['']"), 1);
	CU_ASSERT_EQUAL(eval("!!inputs.env"), 1);
}

static void
test_expr_precedence_and_grouping(void)
{
	/* && binds tighter than ||. */
	CU_ASSERT_EQUAL(eval("true || false && false"), 1);
	CU_ASSERT_EQUAL(eval("(true || false) && false"), 0);
	/* ! takes a whole comparison, as Python's not. */
	CU_ASSERT_EQUAL(eval("!inputs.env == 'prod'"), 0);
	CU_ASSERT_EQUAL(eval("!inputs.env == 'dev'"), 1);
	CU_ASSERT_EQUAL(eval("!inputs.dry && inputs.env == 'prod'"), 1);
	CU_ASSERT_EQUAL(eval("!(inputs.env in ['dev'])"), 1);
	CU_ASSERT_EQUAL(eval("(((inputs.env)))"), 1);
}

static void
test_expr_globs_match_the_whole_string(void)
{
	CU_ASSERT_EQUAL(eval("'release/1.2' matches 'release/*'"), 1);
	CU_ASSERT_EQUAL(eval("'release/1.2/x' matches 'release/*'"), 1);
	CU_ASSERT_EQUAL(eval("'my-release/1' matches 'release/*'"), 0);
	CU_ASSERT_EQUAL(eval("'v1.2.3' matches 'v[0-9].*'"), 1);
	CU_ASSERT_EQUAL(eval("'v1' matches 'v?'"), 1);
	CU_ASSERT_EQUAL(eval("'V1' matches 'v?'"), 0);
	CU_ASSERT_EQUAL(eval("inputs.env matches inputs.env"), 1);
}

static void
test_expr_strings_and_escapes(void)
{
	CU_ASSERT_EQUAL(eval("'it\\'s' == \"it's\""), 1);
	CU_ASSERT_EQUAL(eval("'a\\\\b' == \"a\\\\b\""), 1);
	CU_ASSERT_EQUAL(eval("'\\\"' == '\"'"), 1);
	CU_ASSERT_EQUAL(eval("'caf\xc3\xa9' matches 'caf*'"), 1);
}

struct err_case {
	const char *src;
	unsigned col;
	const char *msg;
};

static void
test_expr_syntax_errors_name_the_column(void)
{
	static const struct err_case cases[] = {
		{ "", 1, "the expression is empty" },
		{ "   ", 4, "the expression is empty" },
		{ "event.ref = 'x'", 11, "unexpected '=': compare with '=='" },
		{ "event.a & event.b", 9, "unexpected '&': use '&&'" },
		{ "event.a | event.b", 9, "unexpected '|': use '||'" },
		{ "event.a ==", 11,
		    "expected a value, a path, '(' or '!', found end of "
		    "expression" },
		{ "(event.a", 9, "expected ')', found end of expression" },
		{ "event.a)", 8, "unexpected ')'" },
		{ "event.a == 'x", 12, "string is not closed: add ' at the "
		    "end" },
		{ "'a\\n'", 3, "unknown escape: only \\\\, \\' and \\\" are "
		    "allowed" },
		{ "evnt.ref", 1, "unknown name 'evnt': a path starts with "
		    "event, steps or inputs" },
		{ "event.", 7, "expected a name after '.'" },
		{ "event.a == 'x' == 'y'", 16,
		    "comparisons cannot be chained: add parentheses" },
		{ "event.a in 'x'", 9,
		    "'in' needs a list on its right, such as ['a', 'b']" },
		{ "event.a matches 1", 9, "'matches' needs a quoted glob on "
		    "its right, such as 'release/*'" },
		{ "event.a in [event.b]", 13,
		    "expected a string, number, true, false or null, found "
		    "'event'" },
		{ "['a' 'b']", 6, "expected ',' or ']', found ''b''" },
		{ "event.a $ 1", 9, "unexpected '$'" },
		{ "event.a ==\x01", 11, "unexpected byte 0x01 outside a "
		    "string" },
		{ "event.a == in", 12, "expected a value, a path, '(' or '!', "
		    "found 'in'" },
		{ "event[1]", 7, "expected a quoted name after '[', found "
		    "'1'" },
		{ "1 2", 3, "unexpected '2'" },
	};
	char msg[FG_ERR_MSG_MAX];
	unsigned col;
	size_t i;

	for (i = 0; i < FG_ARRAY_SIZE(cases); i++) {
		if (cases[i].msg == NULL)
			continue;
		col = parse_error(cases[i].src, msg, sizeof(msg));
		if (col != cases[i].col ||
		    strcmp(msg, cases[i].msg) != 0)
			fprintf(stderr, "'%s': got col %u '%s'\n",
			    cases[i].src, col, msg);
		CU_ASSERT_EQUAL(col, cases[i].col);
		CU_ASSERT_STRING_EQUAL(msg, cases[i].msg);
	}
}

static void
test_expr_limits_are_enforced_at_the_edge(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_expr *e = NULL;
	char buf[FG_EXPR_MAX_LEN + 2], msg[FG_ERR_MSG_MAX];
	unsigned col;
	size_t i;
	int rc;

	/* Exactly the maximum length parses; one byte more does not. */
	memset(buf, ' ', sizeof(buf));
	buf[0] = '1';
	buf[FG_EXPR_MAX_LEN] = '\0';
	CU_ASSERT_EQUAL(fg_expr_parse(&e, buf, roots, &col, &err), 0);
	fg_expr_free(e);
	buf[FG_EXPR_MAX_LEN] = ' ';
	buf[FG_EXPR_MAX_LEN + 1] = '\0';
	rc = fg_expr_parse(&e, buf, roots, &col, &err);
	CU_ASSERT_EQUAL(rc, FG_ELIMIT);
	CU_ASSERT_STRING_EQUAL(err.msg, "expression is longer than 1000 "
	    "bytes");

	/* 32 levels of parentheses parse; 33 do not. */
	for (i = 0; i < 32; i++)
		buf[i] = '(';
	buf[32] = '1';
	for (i = 0; i < 32; i++)
		buf[33 + i] = ')';
	buf[65] = '\0';
	CU_ASSERT_EQUAL(fg_expr_parse(&e, buf, roots, &col, &err), 0);
	CU_ASSERT_EQUAL(fg_expr_eval(e, NULL, NULL), 1);
	fg_expr_free(e);
	memmove(buf + 1, buf, 66);
	buf[0] = '(';
	buf[66] = ')';
	buf[67] = '\0';
	rc = fg_expr_parse(&e, buf, roots, &col, &err);
	CU_ASSERT_EQUAL(rc, FG_ELIMIT);
	CU_ASSERT_EQUAL(col, 33);
	CU_ASSERT_STRING_EQUAL(err.msg, "nesting is deeper than 32 levels");

	/* A thousand bangs are nesting too, not a stack overflow. */
	memset(buf, '!', FG_EXPR_MAX_LEN - 1);
	buf[FG_EXPR_MAX_LEN - 1] = '1';
	buf[FG_EXPR_MAX_LEN] = '\0';
	CU_ASSERT_EQUAL(fg_expr_parse(&e, buf, roots, &col, &err), FG_ELIMIT);
	CU_ASSERT_EQUAL(col, 33);

	/* A long flat chain is fine: it is one n-ary node. */
	buf[0] = '\0';
	for (i = 0; strlen(buf) + 6 < FG_EXPR_MAX_LEN; i++)
		memcpy(buf + strlen(buf), i ? "&& 1 " : "1    ", 6);
	CU_ASSERT_EQUAL(fg_expr_parse(&e, buf, roots, &col, &err), 0);
	CU_ASSERT_EQUAL(fg_expr_eval(e, NULL, NULL), 1);
	fg_expr_free(e);

	/* A list of 255 items is 256 parts and parses; 256 items do not. */
	buf[0] = '[';
	for (i = 0; i < 255; i++)
		memcpy(buf + 1 + 2 * i, "1,", 2);
	memcpy(buf + 1 + 2 * 254, "1]", 3);
	CU_ASSERT_EQUAL(fg_expr_parse(&e, buf, roots, &col, &err), 0);
	fg_expr_free(e);
	memcpy(buf + 1 + 2 * 254, "1,1]", 5);
	rc = fg_expr_parse(&e, buf, roots, &col, &err);
	CU_ASSERT_EQUAL(rc, FG_ELIMIT);
	CU_ASSERT_STRING_EQUAL(err.msg, "expression has more than 256 parts");
	CU_ASSERT_EQUAL(col, 1 + 2 * 255 + 1);

	/* Paths of 16 segments parse; 17 do not. */
	snprintf(buf, sizeof(buf), "event%s", ".a.b.c.d.e.f.g.h.i.j.k.l.m.n.o");
	CU_ASSERT_EQUAL(fg_expr_parse(&e, buf, roots, &col, &err), 0);
	fg_expr_free(e);
	snprintf(buf, sizeof(buf), "event%s",
	    ".a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p");
	col = parse_error(buf, msg, sizeof(msg));
	CU_ASSERT_STRING_EQUAL(msg, "path has more than 16 parts");
	CU_ASSERT_EQUAL(col, 37);
}

static void
test_expr_hostile_values_stay_inert(void)
{
	struct fg_expr *e = NULL;
	cJSON *root;
	int rc;

	/*
	 * Values are data: an expression-looking or shell-looking string
	 * in the payload is compared byte for byte, never parsed.
	 */
	root = cJSON_Parse("{\"event\": {\"title\": \"' || true || '\","
	    " \"ref\": \"$(rm -rf /); `id`\", \"glob\": \"*\"}}");
	CU_ASSERT_PTR_NOT_NULL_FATAL(root);
	CU_ASSERT_EQUAL(fg_expr_parse(&e, "event.title == 'x'", roots, NULL,
	    NULL), 0);
	CU_ASSERT_FALSE(fg_expr_eval(e, fg_expr_lookup_json, root));
	fg_expr_free(e);
	CU_ASSERT_EQUAL(fg_expr_parse(&e, "event.ref == '$(rm -rf /); `id`'",
	    roots, NULL, NULL), 0);
	CU_ASSERT_TRUE(fg_expr_eval(e, fg_expr_lookup_json, root));
	fg_expr_free(e);
	/* A glob from the payload is a pattern only where the config says. */
	CU_ASSERT_EQUAL(fg_expr_parse(&e, "'abc' matches event.glob", roots,
	    NULL, NULL), 0);
	CU_ASSERT_TRUE(fg_expr_eval(e, fg_expr_lookup_json, root));
	fg_expr_free(e);
	CU_ASSERT_EQUAL(fg_expr_parse(&e, "event.glob matches 'abc'", roots,
	    NULL, NULL), 0);
	CU_ASSERT_FALSE(fg_expr_eval(e, fg_expr_lookup_json, root));
	fg_expr_free(e);
	cJSON_Delete(root);

	/* Any root is allowed when no list is given; NULL err is fine. */
	rc = fg_expr_parse(&e, "anything.at.all == 1", NULL, NULL, NULL);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_FALSE(fg_expr_eval(e, NULL, NULL));
	fg_expr_free(e);
	rc = fg_expr_parse(&e, "true.x", NULL, NULL, NULL);
	CU_ASSERT_EQUAL(rc, FG_EINVALID);
}

static void
test_expr_lists_the_paths_it_reads(void)
{
	struct fg_expr *e = NULL;
	const char *const *segs;
	size_t n;

	CU_ASSERT_EQUAL_FATAL(fg_expr_parse(&e, "steps.build.status == "
	    "'succeeded' || steps['a.b'].status in ['x'] || event.ref",
	    roots, NULL, NULL), 0);
	CU_ASSERT_EQUAL(fg_expr_npaths(e), 3);
	segs = fg_expr_path(e, 0, &n);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_STRING_EQUAL(segs[0], "steps");
	CU_ASSERT_STRING_EQUAL(segs[1], "build");
	CU_ASSERT_STRING_EQUAL(segs[2], "status");
	segs = fg_expr_path(e, 1, &n);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_STRING_EQUAL(segs[1], "a.b");
	segs = fg_expr_path(e, 2, &n);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_STRING_EQUAL(segs[1], "ref");
	fg_expr_free(e);
}

static const cJSON *
counting_lookup(const char *const *segs, size_t nsegs, void *payload)
{
	int *calls = payload;

	(void)segs;
	(void)nsegs;
	(*calls)++;
	return NULL;
}

static void
test_expr_right_side_is_skipped_when_decided(void)
{
	struct fg_expr *e = NULL;
	int calls = 0;

	/* Short-circuiting is visible through the lookup: count calls. */
	CU_ASSERT_EQUAL_FATAL(fg_expr_parse(&e, "false && event.a || true "
	    "|| event.b", roots, NULL, NULL), 0);
	CU_ASSERT_TRUE(fg_expr_eval(e, counting_lookup, &calls));
	CU_ASSERT_EQUAL(calls, 0);
	fg_expr_free(e);
	CU_ASSERT_EQUAL_FATAL(fg_expr_parse(&e, "event.a || event.b && "
	    "event.c", roots, NULL, NULL), 0);
	CU_ASSERT_FALSE(fg_expr_eval(e, counting_lookup, &calls));
	CU_ASSERT_EQUAL(calls, 2);
	fg_expr_free(e);
}

static void
cleanup_ctx(void)
{
	cJSON_Delete(ctx);
	ctx = NULL;
}

static void
test_expr_zz_cleanup(void)
{
	cleanup_ctx();
	CU_ASSERT_PTR_NULL(ctx);
}

static CU_TestInfo tests[] = {
	{ "reads a real pull_request payload",
	    test_expr_reads_real_pull_request_payload },
	{ "step statuses and dotted step ids",
	    test_expr_step_statuses_and_dotted_ids },
	{ "missing paths are null", test_expr_missing_paths_are_null },
	{ "mixed types never convert", test_expr_mixed_types_never_convert },
	{ "truthiness table", test_expr_truthiness_table },
	{ "precedence and grouping", test_expr_precedence_and_grouping },
	{ "globs match the whole string",
	    test_expr_globs_match_the_whole_string },
	{ "strings and escapes", test_expr_strings_and_escapes },
	{ "syntax errors name the column",
	    test_expr_syntax_errors_name_the_column },
	{ "limits are enforced at the edge",
	    test_expr_limits_are_enforced_at_the_edge },
	{ "hostile values stay inert", test_expr_hostile_values_stay_inert },
	{ "lists the paths it reads", test_expr_lists_the_paths_it_reads },
	{ "right side is skipped when decided",
	    test_expr_right_side_is_skipped_when_decided },
	{ "cleanup", test_expr_zz_cleanup },
	CU_TEST_INFO_NULL
};

FG_UNIT_MAIN("expr", tests)
