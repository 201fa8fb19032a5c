/*
 * test_flowctl.c - the flows.yaml edit behind 'flowgate flow activate'
 * and 'deactivate': one place changes and every other byte stays, in
 * block and flow mappings, with and without an 'active:' key, with CRLF
 * line ends and odd indentation; what is already so writes nothing; an
 * unknown flow or a bad name is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "flowctl.h"
#include "unit.h"

static const char base[] =
    "# keep this comment\n"
    "version: 1\n"
    "flows:\n"
    "   nightly:          # three spaces of indent\n"
    "      trigger: {schedule: {cron: '0 2 * * *'}}\n"
    "      steps: [{id: a, run: {command: [make]}}]\n"
    "   off:\n"
    "      active: False\n"
    "      trigger: {manual: {}}\n"
    "      steps: [{id: a, run: {command: [make]}}]\n"
    "   flat: {trigger: {manual: {}}, steps: [{id: a, run: {command: [x]}}]}\n";

/* Edit base; the result, or NULL when it failed (rc in *rc). */
static char *
edit(const char *text, const char *name, bool active, bool *changed, int *rc)
{
	struct fg_buf b = FG_BUF_INIT;
	struct fg_err err = FG_ERR_INIT;

	*rc = fg_flowctl_edit_active(&b, changed, text, strlen(text), name,
	    active, &err);
	if (*rc < 0) {
		fg_buf_release(&b);
		return NULL;
	}
	return fg_buf_detach(&b, NULL);
}

static void
test_flowctl_inserts_a_line_with_the_flows_indentation(void)
{
	char *out, *want;
	bool changed = false;
	int rc;

	out = edit(base, "nightly", false, &changed, &rc);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_TRUE(changed);
	want = malloc(sizeof(base) + 64);
	CU_ASSERT_PTR_NOT_NULL_FATAL(want);
	snprintf(want, sizeof(base) + 64, "%.*s      active: false\n%s",
	    (int)(strstr(base, "      trigger: {sched") - base), base,
	    strstr(base, "      trigger: {sched"));
	CU_ASSERT_STRING_EQUAL(out, want);
	free(want);
	free(out);
}

static void
test_flowctl_replaces_the_value_in_place(void)
{
	char *out;
	const char *p;
	bool changed = false;
	int rc;

	out = edit(base, "off", true, &changed, &rc);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_TRUE(changed);
	p = strstr(out, "      active: true\n");
	CU_ASSERT_PTR_NOT_NULL(p);
	/* Everything but the word is the same. */
	CU_ASSERT_EQUAL(strlen(out), strlen(base) - 1);
	CU_ASSERT_EQUAL(memcmp(out, base, (size_t)(strstr(base, "False") -
	    base)), 0);
	CU_ASSERT_STRING_EQUAL(p + strlen("      active: true"),
	    strstr(base, "False") + 5);
	free(out);
}

static void
test_flowctl_edits_inside_a_flow_mapping(void)
{
	char *out;
	bool changed = false;
	int rc;

	out = edit(base, "flat", false, &changed, &rc);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "   flat: {active: false, "
	    "trigger: {manual: {}}, steps: [{id: a, run: {command: [x]}}]}\n")
	    );
	free(out);
}

static void
test_flowctl_writes_nothing_when_already_so(void)
{
	char *out;
	bool changed = true;
	int rc;

	/* Active without the key: already active. */
	out = edit(base, "nightly", true, &changed, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_FALSE(changed);
	CU_ASSERT_STRING_EQUAL(out, base);
	free(out);
	changed = true;
	out = edit(base, "off", false, &changed, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_FALSE(changed);
	free(out);
}

static void
test_flowctl_keeps_crlf_lines(void)
{
	const char crlf[] = "version: 1\r\nflows:\r\n  x:\r\n    active: true"
	    "\r\n    trigger: {manual: {}}\r\n    steps: [{id: a, run: "
	    "{command: [x]}}]\r\n";
	char *out;
	bool changed = false;
	int rc;

	out = edit(crlf, "x", false, &changed, &rc);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "    active: false\r\n    trigger"));
	free(out);
}

static void
test_flowctl_refuses_unknown_flows_and_bad_names(void)
{
	struct fg_buf b = FG_BUF_INIT;
	struct fg_err err = FG_ERR_INIT;
	bool changed = true;

	CU_ASSERT_EQUAL(fg_flowctl_edit_active(&b, &changed, base,
	    strlen(base), "nope", true, &err), FG_ENOTFOUND);
	CU_ASSERT_FALSE(changed);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no flow 'nope'"));
	CU_ASSERT_EQUAL(fg_flowctl_edit_active(&b, &changed, base,
	    strlen(base), "../x", true, &err), FG_EINVALID);
	CU_ASSERT_EQUAL(fg_flowctl_edit_active(&b, &changed, "flows: [",
	    8, "x", true, &err), FG_EINVALID);
	fg_buf_release(&b);
	CU_ASSERT_TRUE(fg_flowctl_is_active(NULL));
}

static CU_TestInfo tests[] = {
	{ "inserts a line with the flow's indentation",
	    test_flowctl_inserts_a_line_with_the_flows_indentation },
	{ "replaces the value in place",
	    test_flowctl_replaces_the_value_in_place },
	{ "edits inside a flow mapping",
	    test_flowctl_edits_inside_a_flow_mapping },
	{ "writes nothing when already so",
	    test_flowctl_writes_nothing_when_already_so },
	{ "keeps CRLF lines", test_flowctl_keeps_crlf_lines },
	{ "refuses unknown flows and bad names",
	    test_flowctl_refuses_unknown_flows_and_bad_names },
	CU_TEST_INFO_NULL
};

FG_UNIT_MAIN("flowctl", tests)
