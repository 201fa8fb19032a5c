/*
 * test_event.c - the normalized event: checked setters, names, and the
 * event.json round trip.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "unit.h"
#include "util.h"

/* An event with every field set, as a hook or the CLI would build it. */
static void
fill(struct fg_event *ev)
{
	static const struct {
		enum fg_event_field f;
		const char *v;
	} values[] = {
		{ FG_EVENT_F_EVENT, "pull_request_review" },
		{ FG_EVENT_F_ACTION, "submitted" },
		{ FG_EVENT_F_REPO, "team/app" },
		{ FG_EVENT_F_REF, "refs/heads/main" },
		{ FG_EVENT_F_OLD, "f95f852bd8fca8fcc58a9a2d6c842781e32a215e" },
		{ FG_EVENT_F_NEW, "ec26c3e57ca3a959ca5aad62de7213c562f8c821" },
		{ FG_EVENT_F_PR_HEAD_SHA,
		  "ec26c3e57ca3a959ca5aad62de7213c562f8c821" },
		{ FG_EVENT_F_HEAD_REF, "refs/heads/feature/x" },
		{ FG_EVENT_F_BASE_REF, "refs/heads/main" },
		{ FG_EVENT_F_PR_TITLE, "Fix the \"quoted\" thing — café" },
		{ FG_EVENT_F_PR_AUTHOR, "dependabot[bot]" },
		{ FG_EVENT_F_REVIEWER, "alice" },
		{ FG_EVENT_F_REVIEW_STATE, "approved" },
		{ FG_EVENT_F_CONTEXT, "ci/build" },
		{ FG_EVENT_F_STATE, "success" },
		{ FG_EVENT_F_TARGET_URL, "https://ci.example/build/1?x=1&y=2" },
		{ FG_EVENT_F_DESCRIPTION, "Build passed" },
		{ FG_EVENT_F_SHA, "ec26c3e57ca3a959ca5aad62de7213c562f8c821" },
		{ FG_EVENT_F_JIRA_KEY, "ABC-123" },
		{ FG_EVENT_F_JIRA_PROJECT, "ABC" },
		{ FG_EVENT_F_JIRA_FROM, "In Progress" },
		{ FG_EVENT_F_JIRA_TO, "Done" },
		{ FG_EVENT_F_ACTOR, "alice" },
		{ FG_EVENT_F_DELIVERY, "72d3162e-cc78-11e3-81ab-4c9367dc0958" },
	};
	struct fg_err err = FG_ERR_INIT;
	size_t i;
	int rc;

	fg_event_init(ev);
	ev->source = FG_FORGE_GITHUB;
	ev->kind = FG_EVENT_REVIEW_APPROVED;
	for (i = 0; i < FG_ARRAY_SIZE(values); i++) {
		rc = fg_event_set(ev, values[i].f, values[i].v, &err);
		if (rc < 0)
			fprintf(stderr, "%s\n", err.msg);
		CU_ASSERT_EQUAL(rc, 0);
	}
	ev->pr_number = FG_EVENT_PR_MAX;
	ev->forced = true;
	ev->merged = true;
	ev->time = -1;	/* before the epoch is still a time */
}

static void
test_event_round_trips_through_json(void)
{
	struct fg_event ev, back;
	struct fg_err err = FG_ERR_INIT;
	cJSON *json = NULL, *parsed = NULL;
	char *text = NULL, *again = NULL;
	int rc;

	fill(&ev);
	CU_ASSERT_EQUAL_FATAL(fg_event_to_json(&json, &ev, &err), 0);
	text = cJSON_Print(json);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	/* Through text, as event.json is read back from the inbox. */
	CU_ASSERT_EQUAL_FATAL(fg_json_parse(&parsed, text, strlen(text),
	    &err), 0);
	rc = fg_event_from_json(&back, parsed, &err);
	if (rc < 0)
		fprintf(stderr, "%s\n", err.msg);
	CU_ASSERT_EQUAL_FATAL(rc, 0);

	CU_ASSERT_EQUAL(back.source, FG_FORGE_GITHUB);
	CU_ASSERT_EQUAL(back.kind, FG_EVENT_REVIEW_APPROVED);
	CU_ASSERT_STRING_EQUAL(back.event, "pull_request_review");
	CU_ASSERT_STRING_EQUAL(back.action, "submitted");
	CU_ASSERT_STRING_EQUAL(back.repo, "team/app");
	CU_ASSERT_STRING_EQUAL(back.ref, "refs/heads/main");
	CU_ASSERT_STRING_EQUAL(back.old_id, ev.old_id);
	CU_ASSERT_STRING_EQUAL(back.new_id, ev.new_id);
	CU_ASSERT_STRING_EQUAL(back.pr_head_sha, ev.pr_head_sha);
	CU_ASSERT_STRING_EQUAL(back.head_ref, "refs/heads/feature/x");
	CU_ASSERT_STRING_EQUAL(back.base_ref, "refs/heads/main");
	CU_ASSERT_STRING_EQUAL(back.pr_title, ev.pr_title);
	CU_ASSERT_STRING_EQUAL(back.pr_author, "dependabot[bot]");
	CU_ASSERT_STRING_EQUAL(back.reviewer, "alice");
	CU_ASSERT_STRING_EQUAL(back.review_state, "approved");
	CU_ASSERT_STRING_EQUAL(back.context, "ci/build");
	CU_ASSERT_STRING_EQUAL(back.state, "success");
	CU_ASSERT_STRING_EQUAL(back.target_url, ev.target_url);
	CU_ASSERT_STRING_EQUAL(back.description, "Build passed");
	CU_ASSERT_STRING_EQUAL(back.sha, ev.sha);
	CU_ASSERT_STRING_EQUAL(back.jira_key, "ABC-123");
	CU_ASSERT_STRING_EQUAL(back.jira_project, "ABC");
	CU_ASSERT_STRING_EQUAL(back.jira_from, "In Progress");
	CU_ASSERT_STRING_EQUAL(back.jira_to, "Done");
	CU_ASSERT_STRING_EQUAL(back.actor, "alice");
	CU_ASSERT_STRING_EQUAL(back.delivery, ev.delivery);
	CU_ASSERT_EQUAL(back.pr_number, FG_EVENT_PR_MAX);
	CU_ASSERT_TRUE(back.forced);
	CU_ASSERT_TRUE(back.merged);
	CU_ASSERT_FALSE(back.truncated);
	CU_ASSERT_EQUAL(back.time, -1);

	/* And the same document comes out again. */
	cJSON_Delete(json);
	json = NULL;
	CU_ASSERT_EQUAL_FATAL(fg_event_to_json(&json, &back, &err), 0);
	again = cJSON_Print(json);
	CU_ASSERT_STRING_EQUAL(text, again);

	cJSON_free(text);
	cJSON_free(again);
	cJSON_Delete(json);
	cJSON_Delete(parsed);
	fg_event_release(&ev);
	fg_event_release(&back);
}

static void
test_event_json_leaves_out_absent_fields(void)
{
	struct fg_event ev = FG_EVENT_INIT, back;
	struct fg_err err = FG_ERR_INIT;
	cJSON *json = NULL;
	char *text;

	ev.source = FG_FORGE_TICK;
	ev.kind = FG_EVENT_IGNORED;
	ev.time = 1700000000;
	CU_ASSERT_EQUAL_FATAL(fg_event_to_json(&json, &ev, &err), 0);
	text = cJSON_PrintUnformatted(json);
	CU_ASSERT_STRING_EQUAL(text, "{\"version\":1,\"source\":\"tick\","
	    "\"kind\":\"ignored\",\"time\":1700000000}");
	CU_ASSERT_EQUAL(fg_event_from_json(&back, json, &err), 0);
	CU_ASSERT_EQUAL(back.source, FG_FORGE_TICK);
	CU_ASSERT_PTR_NULL(back.repo);
	CU_ASSERT_STRING_EQUAL(back.sha, "");
	fg_event_release(&back);
	cJSON_free(text);
	cJSON_Delete(json);
}

/* Parse text as event.json; expect FG_EINVALID with exactly msg. */
static void
from_json_refuses(const char *text, const char *msg)
{
	struct fg_event ev;
	struct fg_err err = FG_ERR_INIT;
	cJSON *json = NULL;
	int rc;

	CU_ASSERT_EQUAL_FATAL(fg_json_parse(&json, text, strlen(text), &err),
	    0);
	rc = fg_event_from_json(&ev, json, &err);
	if (rc != FG_EINVALID || strcmp(err.msg, msg) != 0)
		fprintf(stderr, "%s: rc %d '%s', expected '%s'\n", text, rc,
		    err.msg, msg);
	CU_ASSERT_EQUAL(rc, FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, msg);
	CU_ASSERT_PTR_NULL(ev.repo);
	fg_event_release(&ev);
	cJSON_Delete(json);
}

#define HEAD "{\"version\":1,\"source\":\"cli\","

static void
test_event_from_json_is_strict(void)
{
	from_json_refuses("[]", "event is not a JSON object");
	from_json_refuses("{\"source\":\"cli\",\"kind\":\"ping\"}",
	    "missing field 'version'");
	from_json_refuses("{\"version\":2,\"source\":\"cli\",\"kind\":"
	    "\"ping\"}", "field 'version' must be 1");
	from_json_refuses("{\"version\":1,\"kind\":\"ping\"}",
	    "missing field 'source'");
	from_json_refuses("{\"version\":1,\"source\":\"cli\"}",
	    "missing field 'kind'");
	from_json_refuses(HEAD "\"kind\":\"promote\"}",
	    "unknown event kind 'promote'");
	from_json_refuses("{\"version\":1,\"source\":\"svn\",\"kind\":"
	    "\"ping\"}", "unknown source 'svn'");
	from_json_refuses(HEAD "\"kind\":5}", "field 'kind' must be a string");
	from_json_refuses(HEAD "\"kind\":\"ping\",\"colour\":\"red\"}",
	    "unknown field 'colour'");
	from_json_refuses(HEAD "\"kind\":\"ping\",\"repo\":\"a/b\","
	    "\"repo\":\"c/d\"}", "duplicate field 'repo'");
	from_json_refuses(HEAD "\"kind\":\"ping\",\"repo\":5}",
	    "field 'repo' must be a string");
	from_json_refuses(HEAD "\"kind\":\"ping\",\"forced\":1}",
	    "field 'forced' must be true or false");
	from_json_refuses(HEAD "\"kind\":\"ping\",\"time\":1.5}",
	    "field 'time' must be an integer from -62135596800 to "
	    "253402300799");
	from_json_refuses(HEAD "\"kind\":\"ping\",\"time\":1e15}",
	    "field 'time' must be an integer from -62135596800 to "
	    "253402300799");
	from_json_refuses(HEAD "\"kind\":\"ping\",\"pr_number\":0}",
	    "field 'pr_number' must be an integer from 1 to "
	    "2147483647");
	from_json_refuses(HEAD "\"kind\":\"ping\",\"pr_number\":1e300}",
	    "field 'pr_number' must be an integer from 1 to "
	    "2147483647");
	/* Values are held to the setter's rules. */
	from_json_refuses(HEAD "\"kind\":\"push\",\"repo\":\"a/b\","
	    "\"ref\":\"refs/heads/a b\"}",
	    "field 'ref' is not a valid ref name: 'refs/heads/a b'");
	from_json_refuses(HEAD "\"kind\":\"ping\",\"sha\":\"abc\"}",
	    "field 'sha' is not a 40-hex commit id");
	/* And to what the kind needs. */
	from_json_refuses(HEAD "\"kind\":\"push\",\"repo\":\"a/b\"}",
	    "missing field 'new' for a 'push' event");
	from_json_refuses(HEAD "\"kind\":\"push\",\"repo\":\"a/b\","
	    "\"new\":\"ec26c3e57ca3a959ca5aad62de7213c562f8c821\"}",
	    "missing field 'ref' for a 'push' event");
	from_json_refuses(HEAD "\"kind\":\"branch_deleted\",\"repo\":\"a/b\","
	    "\"ref\":\"refs/tags/v1\"}",
	    "field 'ref' must be under 'refs/heads/' for a 'branch_deleted' "
	    "event");
	from_json_refuses(HEAD "\"kind\":\"review_approved\",\"repo\":\"a/b\","
	    "\"pr_number\":3}",
	    "missing field 'reviewer' for a 'review_approved' event");
	from_json_refuses(HEAD "\"kind\":\"status\",\"repo\":\"a/b\","
	    "\"sha\":\"0000000000000000000000000000000000000000\","
	    "\"context\":\"ci\",\"state\":\"success\"}",
	    "missing field 'sha' for a 'status' event");
	from_json_refuses(HEAD "\"kind\":\"jira_issue\",\"jira_key\":\"A-1\"}",
	    "missing field 'jira_to' for a 'jira_issue' event");
}

/* Set field f to value; expect FG_EINVALID with msg (or 0 when NULL). */
static void
set_expect(enum fg_event_field f, const char *value, const char *msg)
{
	struct fg_event ev = FG_EVENT_INIT;
	struct fg_err err = FG_ERR_INIT;
	int rc;

	rc = fg_event_set(&ev, f, value, &err);
	if (msg == NULL) {
		if (rc != 0)
			fprintf(stderr, "'%s' refused: %s\n", value, err.msg);
		CU_ASSERT_EQUAL(rc, 0);
	} else {
		if (rc != FG_EINVALID || strcmp(err.msg, msg) != 0)
			fprintf(stderr, "'%s': rc %d '%s', expected '%s'\n",
			    value, rc, err.msg, msg);
		CU_ASSERT_EQUAL(rc, FG_EINVALID);
		CU_ASSERT_STRING_EQUAL(err.msg, msg);
	}
	fg_event_release(&ev);
}

static void
test_event_set_checks_values(void)
{
	char longname[FG_EVENT_NAME_MAX + 2];

	/* Repository names: a path under the daemon's root. */
	set_expect(FG_EVENT_F_REPO, "group/sub.group/my_project-1", NULL);
	set_expect(FG_EVENT_F_REPO, "a/..", "field 'repo' is not a repository "
	    "name: 'a/..'");
	set_expect(FG_EVENT_F_REPO, "/a/b", "field 'repo' is not a repository "
	    "name: '/a/b'");
	set_expect(FG_EVENT_F_REPO, "a/b/", "field 'repo' is not a repository "
	    "name: 'a/b/'");
	set_expect(FG_EVENT_F_REPO, "a/b c", "field 'repo' is not a "
	    "repository name: 'a/b c'");
	set_expect(FG_EVENT_F_REPO, "a/.", "field 'repo' is not a repository "
	    "name: 'a/.'");
	/* Names: no line breaks of any kind, bounded. */
	set_expect(FG_EVENT_F_ACTOR, "Zoë O'Brien", NULL);
	set_expect(FG_EVENT_F_ACTOR, "a\tb", "field 'actor' holds a control "
	    "character");
	set_expect(FG_EVENT_F_ACTOR, "a\xc2\x85" "b", "field 'actor' holds a "
	    "control character");
	set_expect(FG_EVENT_F_ACTOR, "a\xe2\x80\xa8" "b", "field 'actor' "
	    "holds a control character");
	set_expect(FG_EVENT_F_ACTOR, "a\xff", "field 'actor' is not valid "
	    "UTF-8");
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	set_expect(FG_EVENT_F_ACTOR, longname, "field 'actor' is too long "
	    "(256 bytes, at most 255)");
	longname[FG_EVENT_NAME_MAX] = '\0';
	set_expect(FG_EVENT_F_ACTOR, longname, NULL);
	/* States, URLs, Jira keys, delivery ids. */
	set_expect(FG_EVENT_F_STATE, "pending", NULL);
	set_expect(FG_EVENT_F_STATE, "SUCCESS", "field 'state' must be one of "
	    "success, failure, pending, error");
	set_expect(FG_EVENT_F_TARGET_URL, "HTTPS://ci.example/", NULL);
	set_expect(FG_EVENT_F_TARGET_URL, "file:///etc/passwd", "field "
	    "'target_url' is not an http(s) URL");
	set_expect(FG_EVENT_F_TARGET_URL, "https://a b", "field 'target_url' "
	    "is not an http(s) URL");
	set_expect(FG_EVENT_F_JIRA_KEY, "PROJ_2-77", NULL);
	set_expect(FG_EVENT_F_JIRA_KEY, "PROJ-", "field 'jira_key' is not a "
	    "Jira issue key: 'PROJ-'");
	set_expect(FG_EVENT_F_JIRA_KEY, "1PROJ-1", "field 'jira_key' is not "
	    "a Jira issue key: '1PROJ-1'");
	set_expect(FG_EVENT_F_JIRA_PROJECT, "PROJ-1", "field 'jira_project' "
	    "is not a Jira project key: 'PROJ-1'");
	set_expect(FG_EVENT_F_DELIVERY, "10001:abc.def_0-1", NULL);
	set_expect(FG_EVENT_F_DELIVERY, "a/b", "field 'delivery' holds "
	    "characters other than letters, digits and '.', '_', ':', '-'");
	/* Refs: full, valid; a short name is not a ref. */
	set_expect(FG_EVENT_F_BASE_REF, "main", "field 'base_ref' is not a "
	    "valid ref name: 'main'");
	set_expect(FG_EVENT_F_HEAD_REF, "refs/heads/feature/ü", NULL);
}

static void
test_event_set_clears_and_keeps(void)
{
	struct fg_event ev = FG_EVENT_INIT;
	struct fg_err err = FG_ERR_INIT;

	CU_ASSERT_EQUAL(fg_event_set(&ev, FG_EVENT_F_REPO, "a/b", &err), 0);
	/* A refused value leaves the old one in place. */
	CU_ASSERT_EQUAL(fg_event_set(&ev, FG_EVENT_F_REPO, "../x", &err),
	    FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(ev.repo, "a/b");
	/* NULL and "" clear. */
	CU_ASSERT_EQUAL(fg_event_set(&ev, FG_EVENT_F_REPO, "", &err), 0);
	CU_ASSERT_PTR_NULL(ev.repo);
	CU_ASSERT_EQUAL(fg_event_set(&ev, FG_EVENT_F_SHA,
	    "EC26C3E57CA3A959CA5AAD62DE7213C562F8C821", &err), 0);
	CU_ASSERT_STRING_EQUAL(ev.sha,
	    "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
	CU_ASSERT_EQUAL(fg_event_set(&ev, FG_EVENT_F_SHA, NULL, &err), 0);
	CU_ASSERT_STRING_EQUAL(ev.sha, "");
	/* Free text: control characters become spaces. */
	CU_ASSERT_EQUAL(fg_event_set(&ev, FG_EVENT_F_DESCRIPTION,
	    "line one\nline two\r\x1b[31m", &err), 0);
	CU_ASSERT_STRING_EQUAL(ev.description, "line one line two  [31m");
	CU_ASSERT_FALSE(ev.truncated);
	fg_event_release(&ev);
	fg_event_release(NULL);
}

static void
test_event_names_round_trip(void)
{
	enum fg_event_kind k, kout;
	enum fg_forge f, fout;
	struct fg_err err = FG_ERR_INIT;

	for (k = FG_EVENT_IGNORED; k <= FG_EVENT_PING; k++) {
		CU_ASSERT_EQUAL(fg_event_kind_from_name(&kout,
		    fg_event_kind_name(k), &err), 0);
		CU_ASSERT_EQUAL(kout, k);
	}
	for (f = FG_FORGE_GENERIC; f <= FG_FORGE_TICK; f++) {
		CU_ASSERT_EQUAL(fg_forge_from_name(&fout, fg_forge_name(f),
		    &err), 0);
		CU_ASSERT_EQUAL(fout, f);
	}
	CU_ASSERT_STRING_EQUAL(fg_event_kind_name(FG_EVENT_PR_MERGED),
	    "pr_merged");
	CU_ASSERT_STRING_EQUAL(fg_event_kind_name(
	    FG_EVENT_REVIEW_CHANGES_REQUESTED), "review_changes_requested");
	CU_ASSERT_STRING_EQUAL(fg_event_kind_name((enum fg_event_kind)999),
	    "ignored");
	CU_ASSERT_STRING_EQUAL(fg_forge_name(FG_FORGE_FORGEJO), "forgejo");
	CU_ASSERT_STRING_EQUAL(fg_forge_name((enum fg_forge)999), "unknown");
	CU_ASSERT_EQUAL(fg_event_kind_from_name(&kout, "Push", &err),
	    FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "unknown event kind 'Push'");
	CU_ASSERT_EQUAL(fg_forge_from_name(&fout, NULL, &err), FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "unknown source ''");
}

static CU_TestInfo tests[] = {
	{ "event round trips through json",
	  test_event_round_trips_through_json },
	{ "event json leaves out absent fields",
	  test_event_json_leaves_out_absent_fields },
	{ "event from json is strict", test_event_from_json_is_strict },
	{ "event set checks values", test_event_set_checks_values },
	{ "event set clears and keeps", test_event_set_clears_and_keeps },
	{ "event names round trip", test_event_names_round_trip },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("event", tests)
