/*
 * test_pull.c - a pull request's state from its events: the verdict
 * rules the approvals gate relies on, and a result the schema accepts.
 */
#include <string.h>

#include "event.h"
#include "pull.h"
#include "schema.h"
#include "unit.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define SHA_M "cccccccccccccccccccccccccccccccccccccccc"

static void
event(struct fg_event *ev, enum fg_event_kind kind, const char *head,
    const char *reviewer)
{
	fg_event_init(ev);
	ev->source = FG_FORGE_GITHUB;
	ev->kind = kind;
	ev->pr_number = 7;
	ev->time = 1700000000;
	fg_event_set(ev, FG_EVENT_F_REPO, "acme/app", NULL);
	fg_event_set(ev, FG_EVENT_F_BASE_REF, "refs/heads/main", NULL);
	fg_event_set(ev, FG_EVENT_F_HEAD_REF, "refs/heads/topic", NULL);
	fg_event_set(ev, FG_EVENT_F_PR_AUTHOR, "alice", NULL);
	fg_event_set(ev, FG_EVENT_F_PR_TITLE, "Add things", NULL);
	if (head != NULL)
		fg_event_set(ev, FG_EVENT_F_PR_HEAD_SHA, head, NULL);
	if (reviewer != NULL) {
		fg_event_set(ev, FG_EVENT_F_REVIEWER, reviewer, NULL);
		if (head != NULL)
			fg_event_set(ev, FG_EVENT_F_SHA, head, NULL);
	}
}

static void
apply(cJSON *pull, enum fg_event_kind kind, const char *head,
    const char *reviewer)
{
	struct fg_event ev;

	event(&ev, kind, head, reviewer);
	fg_pull_apply(pull, &ev);
	fg_event_release(&ev);
}

static const char *
get(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

	if (b != NULL)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static const char *
verdict(const cJSON *pull, const char *user, const char **commit)
{
	const cJSON *r;

	cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(pull,
	    "reviews")) {
		if (strcmp(get(r, "user", NULL), user) == 0) {
			if (commit != NULL)
				*commit = get(r, "commit", NULL);
			return get(r, "state", NULL);
		}
	}
	return "";
}

static void
check_schema(const cJSON *pull)
{
	struct fg_diags d = FG_DIAGS_INIT;
	cJSON *schema = NULL;

	CU_ASSERT_EQUAL_FATAL(fg_schema_load(&schema, "pull.schema.json",
	    NULL), 0);
	CU_ASSERT_EQUAL(fg_schema_validate(schema, pull, NULL, "pull.json",
	    &d), 0);
	if (d.n > 0)
		fprintf(stderr, "%s\n", d.lines[0]);
	fg_diags_release(&d);
	cJSON_Delete(schema);
}

static void
test_pull_opened_is_open_and_valid(void)
{
	cJSON *pull = cJSON_CreateObject();

	apply(pull, FG_EVENT_PR_OPENED, SHA_A, NULL);
	CU_ASSERT_STRING_EQUAL(get(pull, "state", NULL), "open");
	CU_ASSERT_STRING_EQUAL(get(pull, "head", "sha"), SHA_A);
	CU_ASSERT_STRING_EQUAL(get(pull, "base", "ref"), "refs/heads/main");
	CU_ASSERT_STRING_EQUAL(get(pull, "author", NULL), "alice");
	check_schema(pull);
	cJSON_Delete(pull);
}

static void
test_pull_comment_does_not_replace_a_verdict(void)
{
	cJSON *pull = cJSON_CreateObject();

	apply(pull, FG_EVENT_PR_OPENED, SHA_A, NULL);
	apply(pull, FG_EVENT_REVIEW_APPROVED, SHA_A, "bob");
	apply(pull, FG_EVENT_REVIEW_COMMENTED, SHA_A, "bob");
	CU_ASSERT_STRING_EQUAL(verdict(pull, "bob", NULL), "approved");
	apply(pull, FG_EVENT_REVIEW_COMMENTED, SHA_A, "carol");
	CU_ASSERT_STRING_EQUAL(verdict(pull, "carol", NULL), "commented");
	apply(pull, FG_EVENT_REVIEW_CHANGES_REQUESTED, SHA_A, "carol");
	CU_ASSERT_STRING_EQUAL(verdict(pull, "carol", NULL),
	    "changes_requested");
	apply(pull, FG_EVENT_REVIEW_DISMISSED, SHA_A, "bob");
	CU_ASSERT_STRING_EQUAL(verdict(pull, "bob", NULL), "dismissed");
	CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItem(pull,
	    "reviews")), 2);
	check_schema(pull);
	cJSON_Delete(pull);
}

static void
test_pull_push_makes_reviews_stale(void)
{
	cJSON *pull = cJSON_CreateObject();
	const char *commit = NULL;

	apply(pull, FG_EVENT_PR_OPENED, SHA_A, NULL);
	apply(pull, FG_EVENT_REVIEW_APPROVED, SHA_A, "bob");
	apply(pull, FG_EVENT_PR_SYNCHRONIZED, SHA_B, NULL);
	CU_ASSERT_STRING_EQUAL(get(pull, "head", "sha"), SHA_B);
	CU_ASSERT_STRING_EQUAL(verdict(pull, "bob", &commit), "approved");
	/* Given on the old head: stale. */
	CU_ASSERT_STRING_EQUAL(commit, SHA_A);
	check_schema(pull);
	cJSON_Delete(pull);
}

static void
test_pull_closed_merged_reopened(void)
{
	cJSON *pull = cJSON_CreateObject();
	struct fg_event ev;

	apply(pull, FG_EVENT_PR_OPENED, SHA_A, NULL);
	apply(pull, FG_EVENT_PR_CLOSED, SHA_A, NULL);
	CU_ASSERT_STRING_EQUAL(get(pull, "state", NULL), "closed");
	apply(pull, FG_EVENT_PR_REOPENED, SHA_A, NULL);
	CU_ASSERT_STRING_EQUAL(get(pull, "state", NULL), "open");
	event(&ev, FG_EVENT_PR_MERGED, SHA_A, NULL);
	fg_event_set(&ev, FG_EVENT_F_NEW, SHA_M, NULL);
	fg_pull_apply(pull, &ev);
	fg_event_release(&ev);
	CU_ASSERT_STRING_EQUAL(get(pull, "state", NULL), "merged");
	CU_ASSERT_STRING_EQUAL(get(pull, "merge_sha", NULL), SHA_M);
	check_schema(pull);
	cJSON_Delete(pull);
}

static void
test_pull_review_first_still_valid(void)
{
	cJSON *pull = cJSON_CreateObject();

	/* A review seen before the pull request itself (GitLab approvals). */
	apply(pull, FG_EVENT_REVIEW_APPROVED, NULL, "bob");
	CU_ASSERT_STRING_EQUAL(get(pull, "state", NULL), "open");
	CU_ASSERT_STRING_EQUAL(verdict(pull, "bob", NULL), "approved");
	check_schema(pull);
	cJSON_Delete(pull);
}

static CU_TestInfo tests[] = {
	{ "opened is open and valid", test_pull_opened_is_open_and_valid },
	{ "a comment does not replace a verdict",
	    test_pull_comment_does_not_replace_a_verdict },
	{ "a push makes reviews stale", test_pull_push_makes_reviews_stale },
	{ "closed, merged, reopened", test_pull_closed_merged_reopened },
	{ "a review before the pull request is still valid",
	    test_pull_review_first_still_valid },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("pull", tests)
