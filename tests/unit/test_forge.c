/*
 * test_forge.c - every webhook payload of the shared corpus through
 * fg_forge_parse and fg_forge_verify, and hostile variants of them.
 *
 * The expected values were read from the payloads themselves (and the
 * times converted independently); nothing here is a hand-written payload.
 * Bad input is made by mutating a real payload with cJSON, so the rest of
 * the body stays what the forge sent.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "event.h"
#include "forge.h"
#include "hmac.h"
#include "unit.h"
#include "util.h"

#define ZERO "0000000000000000000000000000000000000000"

/*
 * One corpus file and what it must become.  A NULL string means the field
 * must be absent; commit ids may be given as prefixes.
 */
struct row {
	const char *file;
	enum fg_forge forge;
	const char *header;
	enum fg_event_kind kind;
	const char *repo;
	const char *ref;
	const char *old;
	const char *new;
	int64_t pr;
	const char *head_sha;
	const char *reviewer;
	const char *review_state;
	const char *sha;
	const char *context;
	const char *state;
	const char *jira_key;
	const char *jira_project;
	const char *jira_from;
	const char *jira_to;
	const char *actor;
	const char *pr_author;
	bool forced;
	bool merged;
	int64_t time;
};

#define GH FG_FORGE_GITHUB
#define GT FG_FORGE_GITEA
#define FJ FG_FORGE_FORGEJO
#define GL FG_FORGE_GITLAB
#define JR FG_FORGE_JIRA

static const struct row rows[] = {
	/* GitHub */
	{ .file = "github/push.normal.json", .forge = GH, .header = "push",
	  .kind = FG_EVENT_PUSH, .repo = "woodpecker-ci/woodpecker",
	  .ref = "refs/heads/main", .old = "2f780193b136",
	  .new = "366701fde727", .actor = "6543", .time = 1642370257 },
	{ .file = "github/push.force.json", .forge = GH, .header = "push",
	  .kind = FG_EVENT_PUSH, .repo = "6543/oxiduct",
	  .ref = "refs/heads/main", .old = "5ea737297f2e",
	  .new = "f7220f1f7532", .actor = "6543", .forced = true,
	  .time = 1780343974 },
	{ .file = "github/push.new-branch.json", .forge = GH,
	  .header = "push", .kind = FG_EVENT_PUSH,
	  .repo = "Codertocat/Hello-World", .ref = "refs/heads/master",
	  .old = ZERO, .new = "6113728f27ae", .actor = "Codertocat",
	  .time = 1557933657 },
	{ .file = "github/push.branch-deleted.json", .forge = GH,
	  .header = "push", .kind = FG_EVENT_BRANCH_DELETED,
	  .repo = "bradrydzewski/drone-test-go",
	  .ref = "refs/heads/feature-branch", .old = "d2b75aa7797e",
	  .new = ZERO, .actor = "bradrydzewski", .time = 1529601404 },
	{ .file = "github/push.tag-created.json", .forge = GH,
	  .header = "push", .kind = FG_EVENT_TAG_CREATED,
	  .repo = "6543/test_ci_tmp", .ref = "refs/tags/the-tag-v1",
	  .old = ZERO, .new = "67012991d6c6", .actor = "6543",
	  .time = 1760097372 },
	{ .file = "github/push.tag-deleted.json", .forge = GH,
	  .header = "push", .kind = FG_EVENT_TAG_DELETED,
	  .repo = "Codertocat/Hello-World", .ref = "refs/tags/simple-tag",
	  .old = "6113728f27ae", .new = ZERO, .actor = "Codertocat",
	  .time = 1557933657 },
	{ .file = "github/create.branch.json", .forge = GH,
	  .header = "create", .kind = FG_EVENT_BRANCH_CREATED,
	  .repo = "bradrydzewski/drone-test-go",
	  .ref = "refs/heads/feature-branch", .actor = "bradrydzewski" },
	{ .file = "github/create.tag.json", .forge = GH, .header = "create",
	  .kind = FG_EVENT_TAG_CREATED, .repo = "Codertocat/Hello-World",
	  .ref = "refs/tags/simple-tag", .actor = "Codertocat" },
	{ .file = "github/delete.branch.json", .forge = GH,
	  .header = "delete", .kind = FG_EVENT_BRANCH_DELETED,
	  .repo = "bradrydzewski/drone-test-go",
	  .ref = "refs/heads/feature-branch", .actor = "bradrydzewski" },
	{ .file = "github/delete.tag.json", .forge = GH, .header = "delete",
	  .kind = FG_EVENT_TAG_DELETED, .repo = "Codertocat/Hello-World",
	  .ref = "refs/tags/simple-tag", .actor = "Codertocat" },
	{ .file = "github/pull_request.opened.json", .forge = GH,
	  .header = "pull_request", .kind = FG_EVENT_PR_OPENED,
	  .repo = "Codertocat/Hello-World", .ref = "refs/heads/master",
	  .pr = 2, .head_sha = "ec26c3e57ca3", .actor = "Codertocat",
	  .pr_author = "Codertocat", .time = 1557933633 },
	{ .file = "github/pull_request.synchronize.json", .forge = GH,
	  .header = "pull_request", .kind = FG_EVENT_PR_SYNCHRONIZED,
	  .repo = "Codertocat/Hello-World", .ref = "refs/heads/master",
	  .old = "f95f852bd8fc", .new = "ec26c3e57ca3", .pr = 2,
	  .head_sha = "ec26c3e57ca3", .actor = "Codertocat",
	  .pr_author = "Codertocat", .time = 1557933633 },
	{ .file = "github/pull_request.closed-merged.json", .forge = GH,
	  .header = "pull_request", .kind = FG_EVENT_PR_MERGED,
	  .repo = "anbraten/test-ready-release-go", .ref = "refs/heads/main",
	  .new = "473d70eb7c50", .pr = 62, .head_sha = "c88b9ee71928",
	  .actor = "anbraten", .pr_author = "anbraten", .merged = true,
	  .time = 1701801259 },
	{ .file = "github/pull_request.closed-unmerged.json", .forge = GH,
	  .header = "pull_request", .kind = FG_EVENT_PR_CLOSED,
	  .repo = "Codertocat/Hello-World", .ref = "refs/heads/master",
	  .pr = 2, .head_sha = "ec26c3e57ca3", .actor = "Codertocat",
	  .pr_author = "Codertocat", .time = 1557933678 },
	{ .file = "github/pull_request.reopened.json", .forge = GH,
	  .header = "pull_request", .kind = FG_EVENT_PR_REOPENED,
	  .repo = "Codertocat/Hello-World", .ref = "refs/heads/master",
	  .pr = 2, .head_sha = "ec26c3e57ca3", .actor = "Codertocat",
	  .pr_author = "Codertocat", .time = 1557933633 },
	{ .file = "github/pull_request_review.submitted-approved.json",
	  .forge = GH, .header = "pull_request_review",
	  .kind = FG_EVENT_REVIEW_APPROVED,
	  .repo = "erwinmombay/github-owners-bot-test-repo",
	  .ref = "refs/heads/master", .pr = 35, .head_sha = "9272f18514cb",
	  .reviewer = "erwinmombay", .review_state = "approved",
	  .sha = "9272f18514cb", .actor = "erwinmombay",
	  .pr_author = "ampprojectbot", .time = 1551214411 },
	{ .file = "github/pull_request_review.submitted-commented.json",
	  .forge = GH, .header = "pull_request_review",
	  .kind = FG_EVENT_REVIEW_COMMENTED, .repo = "Codertocat/Hello-World",
	  .ref = "refs/heads/master", .pr = 2, .head_sha = "ec26c3e57ca3",
	  .reviewer = "Codertocat", .review_state = "commented",
	  .sha = "ec26c3e57ca3", .actor = "Codertocat",
	  .pr_author = "Codertocat", .time = 1557933638 },
	{ .file = "github/pull_request_review.dismissed.json", .forge = GH,
	  .header = "pull_request_review", .kind = FG_EVENT_REVIEW_DISMISSED,
	  .repo = "Codertocat/Hello-World", .ref = "refs/heads/master",
	  .pr = 2, .head_sha = "ec26c3e57ca3", .reviewer = "Codertocat",
	  .review_state = "dismissed", .sha = "ec26c3e57ca3",
	  .actor = "Codertocat", .pr_author = "Codertocat",
	  .time = 1557933638 },
	{ .file = "github/status.success.json", .forge = GH,
	  .header = "status", .kind = FG_EVENT_STATUS,
	  .repo = "Codertocat/Hello-World", .sha = "6113728f27ae",
	  .context = "default", .state = "success", .actor = "Codertocat",
	  .time = 1557933655 },
	{ .file = "github/check_suite.completed.json", .forge = GH,
	  .header = "check_suite", .kind = FG_EVENT_CHECK_SUITE,
	  .repo = "Codertocat/Hello-World", .ref = "refs/heads/changes",
	  .sha = "ec26c3e57ca3", .context = "octocoders-linter",
	  .state = "success", .actor = "Codertocat", .time = 1557933674 },
	{ .file = "github/check_run.completed.json", .forge = GH,
	  .header = "check_run", .kind = FG_EVENT_CHECK_RUN,
	  .repo = "Codertocat/Hello-World", .ref = "refs/heads/changes",
	  .sha = "ec26c3e57ca3", .context = "Octocoders-linter",
	  .state = "success", .actor = "Codertocat", .time = 1557933672 },
	{ .file = "github/ping.repository-hook.json", .forge = GH,
	  .header = "ping", .kind = FG_EVENT_PING,
	  .repo = "Octocoders/Hello-World", .actor = "Codertocat" },
	{ .file = "github/deployment.created.json", .forge = GH,
	  .header = "deployment", .kind = FG_EVENT_IGNORED,
	  .repo = "Codertocat/Hello-World", .actor = "Codertocat" },
	{ .file = "github/deployment_status.created-success.json",
	  .forge = GH, .header = "deployment_status",
	  .kind = FG_EVENT_IGNORED, .repo = "Codertocat/Hello-World",
	  .actor = "Codertocat" },

	/* Gitea */
	{ .file = "gitea/push.multi-commit.json", .forge = GT,
	  .header = "push", .kind = FG_EVENT_PUSH,
	  .repo = "Test-CI/multi-line-secrets", .ref = "refs/heads/main",
	  .old = "6efcf5b7c98f", .new = "29be01c07385", .actor = "test-user",
	  .time = 1708557487 },
	{ .file = "gitea/push.new-branch.json", .forge = GT, .header = "push",
	  .kind = FG_EVENT_PUSH, .repo = "meisam/woodpecktester",
	  .ref = "refs/heads/fdsafdsa", .old = ZERO, .new = "28c3613ae626",
	  .actor = "6543", .time = 1657652967 },
	{ .file = "gitea/push.docs-example.json", .forge = GT,
	  .header = "push", .kind = FG_EVENT_PUSH, .repo = "gitea/webhooks",
	  .ref = "refs/heads/develop", .old = "28e1879d029c",
	  .new = "bffeb7422404", .actor = "gitea" },
	{ .file = "gitea/pull_request.opened-legacy.json", .forge = GT,
	  .header = "pull_request", .kind = FG_EVENT_PR_OPENED,
	  .repo = "jcitizen/my-repo", .ref = "refs/heads/master", .pr = 1,
	  .head_sha = "2eba238e3360", .actor = "jcitizen",
	  .pr_author = "jcitizen", .time = 1530837467 },
	{ .file = "gitea/pull_request.synchronized.json", .forge = GT,
	  .header = "pull_request", .kind = FG_EVENT_PR_SYNCHRONIZED,
	  .repo = "Test-CI/multi-line-secrets", .ref = "refs/heads/main",
	  .pr = 2, .head_sha = "788ed8d02d3b", .actor = "test",
	  .pr_author = "test", .time = 1708562523 },
	{ .file = "gitea/pull_request.closed-merged.json", .forge = GT,
	  .header = "pull_request", .kind = FG_EVENT_PR_MERGED,
	  .repo = "anbraten/test-repo", .ref = "refs/heads/main",
	  .new = "f2440f050054", .pr = 1, .head_sha = "d555a5dd07f4",
	  .actor = "anbraten", .pr_author = "anbraten", .merged = true,
	  .time = 1701801331 },
	{ .file = "gitea/pull_request.closed-unmerged.json", .forge = GT,
	  .header = "pull_request", .kind = FG_EVENT_PR_CLOSED,
	  .repo = "anbraten/test-repo", .ref = "refs/heads/main", .pr = 1,
	  .head_sha = "d555a5dd07f4", .actor = "anbraten",
	  .pr_author = "anbraten", .time = 1701799603 },
	{ .file = "gitea/pull_request.reopened.json", .forge = GT,
	  .header = "pull_request", .kind = FG_EVENT_PR_REOPENED,
	  .repo = "test_it/test_ci_thing", .ref = "refs/heads/main", .pr = 1,
	  .head_sha = "36b5813240a9", .actor = "6543", .pr_author = "6543",
	  .time = 1754406409 },
	{ .file = "gitea/pull_request_review.approved.json", .forge = GT,
	  .header = "pull_request_approved", .kind = FG_EVENT_REVIEW_APPROVED,
	  .repo = "a_nice_user/hello_world_ci", .ref = "refs/heads/main",
	  .pr = 7, .head_sha = "07977177c2cd", .reviewer = "a_nice_user",
	  .review_state = "pull_request_review_approved",
	  .actor = "a_nice_user", .pr_author = "jony" },
	{ .file = "gitea/pull_request_review.rejected.json", .forge = GT,
	  .header = "pull_request_rejected",
	  .kind = FG_EVENT_REVIEW_CHANGES_REQUESTED,
	  .repo = "a_nice_user/hello_world_ci", .ref = "refs/heads/main",
	  .pr = 7, .head_sha = "07977177c2cd", .reviewer = "a_nice_user",
	  .review_state = "pull_request_review_rejected",
	  .actor = "a_nice_user", .pr_author = "jony" },
	{ .file = "gitea/pull_request_review.comment.json", .forge = GT,
	  .header = "pull_request_comment", .kind = FG_EVENT_REVIEW_COMMENTED,
	  .repo = "a_nice_user/hello_world_ci", .ref = "refs/heads/main",
	  .pr = 7, .head_sha = "07977177c2cd", .reviewer = "a_nice_user",
	  .review_state = "pull_request_review_comment",
	  .actor = "a_nice_user", .pr_author = "jony" },

	/* Forgejo */
	{ .file = "forgejo/push.docs-example.json", .forge = FJ,
	  .header = "push", .kind = FG_EVENT_PUSH, .repo = "forgejo/webhooks",
	  .ref = "refs/heads/develop", .old = "28e1879d029c",
	  .new = "bffeb7422404", .actor = "forgejo" },
	{ .file = "forgejo/push.new-branch.actions-event.json", .forge = FJ,
	  .header = "push", .kind = FG_EVENT_PUSH,
	  .repo = "root/example-push", .ref = "refs/heads/main",
	  .old = ZERO, .new = "fc964cee4a46", .actor = "root",
	  .time = 1756747265 },
	{ .file = "forgejo/push.tag-created.actions-event.json", .forge = FJ,
	  .header = "push", .kind = FG_EVENT_TAG_CREATED,
	  .repo = "root/example-tag", .ref = "refs/tags/v1.1", .old = ZERO,
	  .new = "aac21996256e", .actor = "root", .time = 1756747271 },
	{ .file = "forgejo/pull_request.opened.actions-event.json",
	  .forge = FJ, .header = "pull_request", .kind = FG_EVENT_PR_OPENED,
	  .repo = "root/example-pull-request", .ref = "refs/heads/main",
	  .pr = 2, .head_sha = "5b88b61dbedb", .actor = "root",
	  .pr_author = "root", .time = 1756747311 },

	/* GitLab */
	{ .file = "gitlab/push.normal.json", .forge = GL,
	  .header = "Push Hook", .kind = FG_EVENT_PUSH,
	  .repo = "test/woodpecker", .ref = "refs/heads/main",
	  .old = "ffe8eb4f91d1", .new = "16862e368d8a", .actor = "test" },
	{ .file = "gitlab/push.docs-example.json", .forge = GL,
	  .header = "Push Hook", .kind = FG_EVENT_PUSH,
	  .repo = "mike/diaspora", .ref = "refs/heads/master",
	  .old = "95790bf891e7", .new = "da1560886d4f", .actor = "jsmith" },
	{ .file = "gitlab/tag_push.created.json", .forge = GL,
	  .header = "Tag Push Hook", .kind = FG_EVENT_TAG_CREATED,
	  .repo = "test/woodpecker", .ref = "refs/tags/v22", .old = ZERO,
	  .new = "fabed3d94cd0", .actor = "test" },
	{ .file = "gitlab/merge_request.open.json", .forge = GL,
	  .header = "Merge Request Hook", .kind = FG_EVENT_PR_OPENED,
	  .repo = "demoaccount2-commits-group/test_ci_tmp",
	  .ref = "refs/heads/main", .pr = 3, .head_sha = "2f7670508b77",
	  .actor = "real6543", .pr_author = "real6543", .time = 1754430507 },
	{ .file = "gitlab/merge_request.open.docs-example.json", .forge = GL,
	  .header = "Merge Request Hook", .kind = FG_EVENT_PR_OPENED,
	  .repo = "gitlabhq/gitlab-test", .ref = "refs/heads/master",
	  .pr = 1, .head_sha = "da1560886d4f", .actor = "root",
	  .pr_author = "root", .time = 1386091414 },
	{ .file = "gitlab/merge_request.update-new-commits.json", .forge = GL,
	  .header = "Merge Request Hook", .kind = FG_EVENT_PR_SYNCHRONIZED,
	  .repo = "anbraten/woodpecker", .ref = "refs/heads/main",
	  .old = "8b641937b734", .new = "c136499ec574", .pr = 3,
	  .head_sha = "c136499ec574", .actor = "anbraten",
	  .time = 1642434459 },
	{ .file = "gitlab/merge_request.update-reviewers.json", .forge = GL,
	  .header = "Merge Request Hook", .kind = FG_EVENT_IGNORED,
	  .repo = "demoaccount2-commits-group/test_ci_tmp",
	  .ref = "refs/heads/main", .pr = 3, .head_sha = "2f7670508b77",
	  .actor = "real6543", .time = 1754442668 },
	{ .file = "gitlab/merge_request.approved.json", .forge = GL,
	  .header = "Merge Request Hook", .kind = FG_EVENT_REVIEW_APPROVED,
	  .repo = "anbraten/woodpecker", .ref = "refs/heads/main", .pr = 3,
	  .head_sha = "c136499ec574", .reviewer = "anbraten",
	  .review_state = "approved", .sha = "c136499ec574",
	  .actor = "anbraten", .time = 1642434459 },
	{ .file = "gitlab/merge_request.unapproved.json", .forge = GL,
	  .header = "Merge Request Hook", .kind = FG_EVENT_REVIEW_DISMISSED,
	  .repo = "demoaccount2-commits-group/test_ci_tmp",
	  .ref = "refs/heads/main", .pr = 3, .head_sha = "2f7670508b77",
	  .reviewer = "real6543", .review_state = "unapproved",
	  .sha = "2f7670508b77", .actor = "real6543", .time = 1754443737 },
	{ .file = "gitlab/merge_request.merge.json", .forge = GL,
	  .header = "Merge Request Hook", .kind = FG_EVENT_PR_MERGED,
	  .repo = "anbraten/woodpecker-test", .ref = "refs/heads/main",
	  .new = "43411b53d670", .pr = 4, .head_sha = "3e4db3586b65",
	  .actor = "anbraten", .merged = true, .time = 1701801780 },
	{ .file = "gitlab/merge_request.close.json", .forge = GL,
	  .header = "Merge Request Hook", .kind = FG_EVENT_PR_CLOSED,
	  .repo = "anbraten/woodpecker-test", .ref = "refs/heads/main",
	  .pr = 4, .head_sha = "3e4db3586b65", .actor = "anbraten",
	  .time = 1701801634 },
	{ .file = "gitlab/pipeline.success.docs-example.json", .forge = GL,
	  .header = "Pipeline Hook", .kind = FG_EVENT_STATUS,
	  .repo = "gitlab-org/gitlab-test", .ref = "refs/heads/master",
	  .pr = 1, .sha = "bcbb5ec396a2", .context = "gitlab/pipeline",
	  .state = "success", .actor = "root", .time = 1471015589 },

	/* Jira */
	{ .file = "jira/jira_issue_updated.status-todo-to-inprogress.json",
	  .forge = JR, .kind = FG_EVENT_JIRA_ISSUE, .jira_key = "TES-41",
	  .jira_project = "TES", .jira_from = "To Do",
	  .jira_to = "In Progress", .actor = "admin", .time = 1550286862 },
	{ .file = "jira/jira_issue_updated.status-inprogress-to-done-"
	  "resolved.json", .forge = JR, .kind = FG_EVENT_JIRA_ISSUE,
	  .jira_key = "TES-41", .jira_project = "TES",
	  .jira_from = "In Progress", .jira_to = "Done", .actor = "admin",
	  .time = 1550286940 },
	{ .file = "jira/jira_issue_updated.assigned.json", .forge = JR,
	  .kind = FG_EVENT_IGNORED, .jira_key = "TES-41",
	  .jira_project = "TES", .actor = "admin", .time = 1550287081 },
	{ .file = "jira/jira_issue_updated.server-status-resolved-to-"
	  "closed.json", .forge = JR, .kind = FG_EVENT_JIRA_ISSUE,
	  .jira_key = "TES-4", .jira_project = "TES", .jira_from = "Resolved",
	  .jira_to = "Closed", .actor = "admin", .time = 1565752078 },
	{ .file = "jira/jira_issue_created.json", .forge = JR,
	  .kind = FG_EVENT_IGNORED, .jira_key = "TES-41",
	  .jira_project = "TES", .actor = "admin", .time = 1550286113 },
};

/* Read a corpus file into b; fails the test when the corpus is absent. */
static bool
load(struct fg_buf *b, const char *rel)
{
	char path[512];
	const char *p;
	struct fg_err err = FG_ERR_INIT;

	snprintf(path, sizeof(path), "corpus/webhooks/%s", rel);
	p = fg_unit_shared(path);
	if (p == NULL) {
		fprintf(stderr, "corpus file '%s' not found: run from the "
		    "worktree root or set FLOWGATE_SHARED\n", rel);
		CU_FAIL("corpus not found");
		return false;
	}
	if (fg_read_file(b, p, 1 << 20, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		CU_FAIL("cannot read corpus file");
		return false;
	}
	return true;
}

/* want NULL: got must be absent; else got must start with want. */
static bool
field_ok(const char *file, const char *name, const char *got,
    const char *want, bool prefix)
{
	bool ok;

	if (want == NULL)
		ok = got == NULL || *got == '\0';
	else if (got == NULL)
		ok = false;
	else if (prefix)
		ok = strncmp(got, want, strlen(want)) == 0;
	else
		ok = strcmp(got, want) == 0;
	if (!ok)
		fprintf(stderr, "%s: %s is '%s', expected '%s'\n", file, name,
		    got != NULL ? got : "(absent)",
		    want != NULL ? want : "(absent)");
	return ok;
}

static void
check_row(const struct row *r, const struct fg_event *ev)
{
	const char *f = r->file;

	if (ev->kind != r->kind)
		fprintf(stderr, "%s: kind %s, expected %s\n", f,
		    fg_event_kind_name(ev->kind), fg_event_kind_name(r->kind));
	CU_ASSERT_EQUAL(ev->kind, r->kind);
	CU_ASSERT_EQUAL(ev->source, r->forge);
	CU_ASSERT(field_ok(f, "repo", ev->repo, r->repo, false));
	CU_ASSERT(field_ok(f, "ref", ev->ref, r->ref, false));
	CU_ASSERT(field_ok(f, "old", ev->old_id, r->old, true));
	CU_ASSERT(field_ok(f, "new", ev->new_id, r->new, true));
	CU_ASSERT(field_ok(f, "pr_head_sha", ev->pr_head_sha, r->head_sha,
	    true));
	CU_ASSERT(field_ok(f, "reviewer", ev->reviewer, r->reviewer, false));
	CU_ASSERT(field_ok(f, "review_state", ev->review_state,
	    r->review_state, false));
	CU_ASSERT(field_ok(f, "sha", ev->sha, r->sha, true));
	CU_ASSERT(field_ok(f, "context", ev->context, r->context, false));
	CU_ASSERT(field_ok(f, "state", ev->state, r->state, false));
	CU_ASSERT(field_ok(f, "jira_key", ev->jira_key, r->jira_key, false));
	CU_ASSERT(field_ok(f, "jira_project", ev->jira_project,
	    r->jira_project, false));
	CU_ASSERT(field_ok(f, "jira_from", ev->jira_from, r->jira_from,
	    false));
	CU_ASSERT(field_ok(f, "jira_to", ev->jira_to, r->jira_to, false));
	CU_ASSERT(field_ok(f, "actor", ev->actor, r->actor, false));
	CU_ASSERT(field_ok(f, "pr_author", ev->pr_author, r->pr_author,
	    false));
	if (ev->pr_number != r->pr || ev->time != r->time)
		fprintf(stderr, "%s: pr %lld time %lld, expected %lld %lld\n",
		    f, (long long)ev->pr_number, (long long)ev->time,
		    (long long)r->pr, (long long)r->time);
	CU_ASSERT_EQUAL(ev->pr_number, r->pr);
	CU_ASSERT_EQUAL(ev->time, r->time);
	CU_ASSERT_EQUAL(ev->forced, r->forced);
	CU_ASSERT_EQUAL(ev->merged, r->merged);
	/* Pull request events name both ends of the change. */
	if (r->pr != 0 && r->kind != FG_EVENT_STATUS) {
		CU_ASSERT_PTR_NOT_NULL(ev->head_ref);
		CU_ASSERT(field_ok(f, "base_ref", ev->base_ref, r->ref, false));
	}
	CU_ASSERT_FALSE(ev->truncated);
}

/* The event survives event.json unchanged. */
static void
check_round_trip(const struct fg_event *ev)
{
	struct fg_event back = FG_EVENT_INIT;
	struct fg_err err = FG_ERR_INIT;
	cJSON *a = NULL, *b = NULL;
	char *sa = NULL, *sb = NULL;

	CU_ASSERT_EQUAL_FATAL(fg_event_to_json(&a, ev, &err), 0);
	if (fg_event_from_json(&back, a, &err) < 0) {
		fprintf(stderr, "round trip: %s\n", err.msg);
		CU_FAIL("event.json does not read back");
		goto out;
	}
	CU_ASSERT_EQUAL_FATAL(fg_event_to_json(&b, &back, &err), 0);
	sa = cJSON_PrintUnformatted(a);
	sb = cJSON_PrintUnformatted(b);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sa);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sb);
	CU_ASSERT_STRING_EQUAL(sa, sb);
out:
	cJSON_free(sa);
	cJSON_free(sb);
	cJSON_Delete(a);
	cJSON_Delete(b);
	fg_event_release(&back);
}

static void
test_forge_parses_every_corpus_payload(void)
{
	struct fg_event ev = FG_EVENT_INIT;
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf b = FG_BUF_INIT;
	size_t i;
	int rc;

	for (i = 0; i < FG_ARRAY_SIZE(rows); i++) {
		fg_buf_reset(&b);
		if (!load(&b, rows[i].file))
			break;
		rc = fg_forge_parse(&ev, rows[i].forge, rows[i].header, b.ptr,
		    b.len, &err);
		if (rc < 0) {
			fprintf(stderr, "%s: %s\n", rows[i].file, err.msg);
			CU_FAIL("corpus payload refused");
			continue;
		}
		check_row(&rows[i], &ev);
		check_round_trip(&ev);
		fg_event_release(&ev);
	}
	fg_buf_release(&b);
}

/* Every JSON file in the corpus has a row: a new file needs expectations. */
static void
test_forge_table_covers_the_corpus(void)
{
	static const char *const dirs[] = {
		"github", "gitea", "forgejo", "gitlab", "jira",
	};
	char rel[512];
	const char *root;
	struct dirent *de;
	size_t d, i, seen = 0;
	DIR *dir;
	bool found;

	for (d = 0; d < FG_ARRAY_SIZE(dirs); d++) {
		snprintf(rel, sizeof(rel), "corpus/webhooks/%s", dirs[d]);
		root = fg_unit_shared(rel);
		CU_ASSERT_PTR_NOT_NULL_FATAL(root);
		dir = opendir(root);
		CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
		for (;;) {
			size_t n;

			de = readdir(dir);
			if (de == NULL)
				break;
			n = strlen(de->d_name);
			if (n < 5 || strcmp(de->d_name + n - 5, ".json") != 0)
				continue;
			snprintf(rel, sizeof(rel), "%s/%s", dirs[d],
			    de->d_name);
			found = false;
			for (i = 0; i < FG_ARRAY_SIZE(rows); i++)
				if (strcmp(rows[i].file, rel) == 0)
					found = true;
			if (!found)
				fprintf(stderr, "no row for %s\n", rel);
			CU_ASSERT(found);
			seen++;
		}
		closedir(dir);
	}
	CU_ASSERT_EQUAL(seen, FG_ARRAY_SIZE(rows));
}

/*
 * A header lookup over a fixed list, as webhookd's callback over libevent's
 * headers would be (case-insensitive).
 */
struct headers {
	const char *name[4];
	const char *value[4];
};

static const char *
get_header(const char *name, void *payload)
{
	const struct headers *h = payload;
	size_t i;

	for (i = 0; i < 4 && h->name[i] != NULL; i++)
		if (strcasecmp(h->name[i], name) == 0)
			return h->value[i];
	return NULL;
}

/* The signature forge would send for body under secret. */
static void
sign(char *out, size_t size, enum fg_forge forge, const char *secret,
    const void *body, size_t len)
{
	char hex[FG_HMAC_SHA256_HEXLEN + 1];

	CU_ASSERT_EQUAL_FATAL(fg_hmac_sha256_hex(hex, secret, strlen(secret),
	    body, len, NULL), 0);
	if (forge == FG_FORGE_GITLAB)
		snprintf(out, size, "%s", secret);
	else if (forge == FG_FORGE_GITEA || forge == FG_FORGE_FORGEJO)
		snprintf(out, size, "%s", hex);
	else
		snprintf(out, size, "sha256=%s", hex);
}

static void
test_forge_verifies_signed_corpus_bodies(void)
{
	static const char secret[] = "It's a Secret to Everybody";
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf b = FG_BUF_INIT;
	struct headers h;
	char sig[128];
	size_t i;
	int rc;

	for (i = 0; i < FG_ARRAY_SIZE(rows); i++) {
		enum fg_forge forge = rows[i].forge;

		fg_buf_reset(&b);
		if (!load(&b, rows[i].file))
			break;
		sign(sig, sizeof(sig), forge, secret, b.ptr, b.len);
		memset(&h, 0, sizeof(h));
		h.name[0] = "Content-Type";
		h.value[0] = "application/json";
		h.name[1] = fg_forge_signature_header(forge);
		h.value[1] = sig;
		rc = fg_forge_verify(forge, secret, b.ptr, b.len, get_header,
		    &h, &err);
		if (rc < 0)
			fprintf(stderr, "%s: %s\n", rows[i].file, err.msg);
		CU_ASSERT_EQUAL(rc, 0);

		/* Wrong secret. */
		CU_ASSERT_EQUAL(fg_forge_verify(forge, "It's a secret to "
		    "everybody", b.ptr, b.len, get_header, &h, &err),
		    FG_EDENIED);

		/* One flipped byte of body: a token does not cover it. */
		b.ptr[b.len / 2] ^= 0x01;
		CU_ASSERT_EQUAL(fg_forge_verify(forge, secret, b.ptr, b.len,
		    get_header, &h, &err),
		    forge == FG_FORGE_GITLAB ? 0 : FG_EDENIED);
		b.ptr[b.len / 2] ^= 0x01;

		/* No signature header at all. */
		h.name[1] = "X-Something-Else";
		CU_ASSERT_EQUAL(fg_forge_verify(forge, secret, b.ptr, b.len,
		    get_header, &h, &err), FG_EDENIED);
	}
	fg_buf_release(&b);
}

static void
test_forge_verify_refuses_malformed_signatures(void)
{
	static const char body[] = "{\"zen\":\"Design for failure.\"}";
	static const char secret[] = "s3cret";
	char hex[FG_HMAC_SHA256_HEXLEN + 1], sig[128], up[128];
	struct fg_err err = FG_ERR_INIT;
	size_t len = sizeof(body) - 1, i;

	CU_ASSERT_EQUAL_FATAL(fg_hmac_sha256_hex(hex, secret, 6, body, len,
	    NULL), 0);
	snprintf(sig, sizeof(sig), "sha256=%s", hex);
	CU_ASSERT_EQUAL(fg_forge_verify_signature(FG_FORGE_GITHUB, secret,
	    body, len, sig, &err), 0);

	/* Wrong prefix, missing prefix, prefix where Gitea has none. */
	snprintf(sig, sizeof(sig), "sha1=%s", hex);
	CU_ASSERT_EQUAL(fg_forge_verify_signature(FG_FORGE_GITHUB, secret,
	    body, len, sig, &err), FG_EDENIED);
	CU_ASSERT_STRING_EQUAL(err.msg, "signature in 'X-Hub-Signature-256' "
	    "does not match the body");
	CU_ASSERT_EQUAL(fg_forge_verify_signature(FG_FORGE_GITHUB, secret,
	    body, len, hex, &err), FG_EDENIED);
	snprintf(sig, sizeof(sig), "sha256=%s", hex);
	CU_ASSERT_EQUAL(fg_forge_verify_signature(FG_FORGE_GITEA, secret,
	    body, len, sig, &err), FG_EDENIED);
	CU_ASSERT_EQUAL(fg_forge_verify_signature(FG_FORGE_GITEA, secret,
	    body, len, hex, &err), 0);

	/* Truncated hex. */
	snprintf(sig, sizeof(sig), "sha256=%.62s", hex);
	CU_ASSERT_EQUAL(fg_forge_verify_signature(FG_FORGE_GITHUB, secret,
	    body, len, sig, &err), FG_EDENIED);

	/* Uppercase hex is accepted: case carries no secret. */
	snprintf(sig, sizeof(sig), "sha256=%s", hex);
	for (i = 0; sig[i] != '\0'; i++)
		up[i] = i >= 7 ? (char)toupper((unsigned char)sig[i]) : sig[i];
	up[i] = '\0';
	CU_ASSERT_EQUAL(fg_forge_verify_signature(FG_FORGE_GITHUB, secret,
	    body, len, up, &err), 0);

	/* Missing and empty headers. */
	CU_ASSERT_EQUAL(fg_forge_verify_signature(FG_FORGE_JIRA, secret,
	    body, len, NULL, &err), FG_EDENIED);
	CU_ASSERT_STRING_EQUAL(err.msg, "missing signature header "
	    "'X-Hub-Signature'");
	CU_ASSERT_EQUAL(fg_forge_verify_signature(FG_FORGE_GENERIC, secret,
	    body, len, "", &err), FG_EDENIED);
	CU_ASSERT_STRING_EQUAL(err.msg, "missing signature header "
	    "'X-Flowgate-Signature-256'");

	/* GitLab: the token, whole, in constant time. */
	CU_ASSERT_EQUAL(fg_forge_verify_signature(FG_FORGE_GITLAB, secret,
	    body, len, "s3cret", &err), 0);
	CU_ASSERT_EQUAL(fg_forge_verify_signature(FG_FORGE_GITLAB, secret,
	    body, len, "s3cre", &err), FG_EDENIED);
	CU_ASSERT_STRING_EQUAL(err.msg, "token in 'X-Gitlab-Token' is wrong");
	CU_ASSERT_EQUAL(fg_forge_verify_signature(FG_FORGE_GITLAB, secret,
	    body, len, "s3cret ", &err), FG_EDENIED);

	/* No secret configured: refuse rather than accept anything. */
	CU_ASSERT_EQUAL(fg_forge_verify_signature(FG_FORGE_GITLAB, "", body,
	    len, "", &err), FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "no secret configured for 'gitlab'");
	CU_ASSERT_EQUAL(fg_forge_verify_signature(FG_FORGE_GITHUB, NULL, body,
	    len, sig, &err), FG_EINVALID);

	/* Sources that never come by webhook. */
	CU_ASSERT_PTR_NULL(fg_forge_signature_header(FG_FORGE_HOOK));
	CU_ASSERT_EQUAL(fg_forge_verify_signature(FG_FORGE_TICK, secret, body,
	    len, sig, &err), FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "'tick' events do not come by "
	    "webhook");
}

static void
test_forge_forgejo_accepts_gitea_signature_header(void)
{
	static const char body[] = "{}";
	char hex[FG_HMAC_SHA256_HEXLEN + 1];
	struct fg_err err = FG_ERR_INIT;
	struct headers h;

	CU_ASSERT_EQUAL_FATAL(fg_hmac_sha256_hex(hex, "k", 1, body, 2, NULL),
	    0);
	memset(&h, 0, sizeof(h));
	h.name[0] = "x-gitea-signature";
	h.value[0] = hex;
	CU_ASSERT_EQUAL(fg_forge_verify(FG_FORGE_FORGEJO, "k", body, 2,
	    get_header, &h, &err), 0);
	/* Gitea itself does not look at Forgejo's header. */
	h.name[0] = "X-Forgejo-Signature";
	CU_ASSERT_EQUAL(fg_forge_verify(FG_FORGE_GITEA, "k", body, 2,
	    get_header, &h, &err), FG_EDENIED);
}

/*
 * Parse a corpus file after replacing the member at a dotted path with
 * value (deleting it when value is NULL).  Returns fg_forge_parse's code;
 * err has its message.  ev is released.
 */
static int
parse_mutated(const char *rel, enum fg_forge forge, const char *header,
    const char *path, cJSON *value, struct fg_event *ev, struct fg_err *err)
{
	struct fg_buf b = FG_BUF_INIT;
	char key[128], *k, *dot, *leaf, *text = NULL;
	cJSON *root = NULL, *node;
	int rc = -100;

	fg_event_init(ev);
	if (!load(&b, rel))
		goto out;
	CU_ASSERT_EQUAL_FATAL(fg_json_parse(&root, b.ptr, b.len, NULL), 0);
	node = root;
	snprintf(key, sizeof(key), "%s", path);
	leaf = key;
	for (k = key;; k = dot + 1) {
		dot = strchr(k, '.');
		if (dot == NULL)
			break;
		*dot = '\0';
		node = cJSON_GetObjectItemCaseSensitive(node, k);
		CU_ASSERT_PTR_NOT_NULL_FATAL(node);
		leaf = dot + 1;
	}
	if (value == NULL)
		cJSON_DeleteItemFromObjectCaseSensitive(node, leaf);
	else if (cJSON_GetObjectItemCaseSensitive(node, leaf) != NULL)
		cJSON_ReplaceItemInObjectCaseSensitive(node, leaf, value);
	else
		cJSON_AddItemToObject(node, leaf, value);
	text = cJSON_PrintUnformatted(root);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	rc = fg_forge_parse(ev, forge, header, text, strlen(text), err);
out:
	cJSON_free(text);
	cJSON_Delete(root);
	fg_buf_release(&b);
	return rc;
}

/* Expect a refusal with exactly msg. */
static void
refused(const char *rel, enum fg_forge forge, const char *header,
    const char *path, cJSON *value, const char *msg)
{
	struct fg_event ev;
	struct fg_err err = FG_ERR_INIT;
	int rc;

	rc = parse_mutated(rel, forge, header, path, value, &ev, &err);
	if (rc != FG_EINVALID || strcmp(err.msg, msg) != 0)
		fprintf(stderr, "%s with %s changed: rc %d '%s', expected "
		    "'%s'\n", rel, path, rc, err.msg, msg);
	CU_ASSERT_EQUAL(rc, FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, msg);
	/* A refused delivery leaves nothing behind. */
	CU_ASSERT_PTR_NULL(ev.repo);
	CU_ASSERT_EQUAL(ev.kind, FG_EVENT_IGNORED);
	fg_event_release(&ev);
}

static void
test_forge_refuses_wrong_types(void)
{
	refused("github/push.normal.json", GH, "push", "ref",
	    cJSON_CreateNumber(5), "field 'ref' must be a string");
	refused("github/push.normal.json", GH, "push", "forced",
	    cJSON_CreateString("yes"), "field 'forced' must be true or false");
	refused("github/push.normal.json", GH, "push", "repository",
	    cJSON_CreateString("x/y"), "field 'repository' must be an object");
	refused("github/pull_request.opened.json", GH, "pull_request",
	    "pull_request.number", cJSON_CreateString("2"),
	    "field 'pull_request.number' must be a number");
	refused("github/pull_request.opened.json", GH, "pull_request",
	    "pull_request.number", cJSON_CreateNumber(2.5),
	    "field 'pull_request.number' must be an integer from 1 to "
	    "2147483647");
	refused("github/pull_request.opened.json", GH, "pull_request",
	    "pull_request.number", cJSON_CreateNumber(-1),
	    "field 'pull_request.number' must be an integer from 1 to "
	    "2147483647");
	refused("gitlab/merge_request.open.json", GL, "Merge Request Hook",
	    "object_attributes.iid", cJSON_CreateTrue(),
	    "field 'object_attributes.iid' must be a number");
	refused("jira/jira_issue_updated.status-todo-to-inprogress.json", JR,
	    NULL, "webhookEvent", cJSON_CreateArray(),
	    "field 'webhookEvent' must be a string");
	refused("github/status.success.json", GH, "status", "state",
	    cJSON_CreateString("green"),
	    "field 'state' must be one of success, failure, pending, error");
	refused("github/status.success.json", GH, "status", "target_url",
	    cJSON_CreateString("javascript:alert(1)"),
	    "field 'target_url' is not an http(s) URL");
}

static void
test_forge_refuses_missing_fields(void)
{
	refused("github/push.normal.json", GH, "push",
	    "repository.full_name", NULL,
	    "missing field 'repository.full_name'");
	refused("github/push.normal.json", GH, "push", "after", NULL,
	    "missing field 'after'");
	refused("github/pull_request_review.submitted-approved.json", GH,
	    "pull_request_review", "review.user", NULL,
	    "missing field 'review.user.login'");
	refused("github/status.success.json", GH, "status", "sha", NULL,
	    "missing field 'sha'");
	refused("gitea/pull_request_review.approved.json", GT,
	    "pull_request_approved", "review", NULL,
	    "missing field 'review.type'");
	refused("gitlab/push.normal.json", GL, "Push Hook", "project", NULL,
	    "missing field 'project.path_with_namespace'");
	refused("gitlab/merge_request.merge.json", GL, "Merge Request Hook",
	    "object_kind", NULL, "missing field 'object_kind'");
	refused("jira/jira_issue_updated.status-todo-to-inprogress.json", JR,
	    NULL, "issue.key", NULL, "missing field 'issue.key'");
	refused("jira/jira_issue_created.json", JR, NULL, "webhookEvent",
	    NULL, "missing field 'webhookEvent'");
}

static void
test_forge_refuses_hostile_values(void)
{
	static const char *const refs[] = {
		"refs/heads/$(rm -rf /)",
		"refs/heads/../../x",
		"refs/heads/a b",
		"refs/heads/x.lock",
		"refs/heads/@{-1}",
		"HEAD",
	};
	char msg[256];
	size_t i;

	for (i = 0; i < FG_ARRAY_SIZE(refs); i++) {
		snprintf(msg, sizeof(msg), "field 'ref' is not a valid ref "
		    "name: '%s'", refs[i]);
		refused("github/push.normal.json", GH, "push", "ref",
		    cJSON_CreateString(refs[i]), msg);
	}
	/* A line break could forge a trailer in a record's commit message. */
	refused("github/push.normal.json", GH, "push", "ref",
	    cJSON_CreateString("refs/heads/x\nFlowgate-Kind: promote"),
	    "field 'ref' holds a control character");
	refused("github/pull_request.opened.json", GH, "pull_request",
	    "pull_request.head.ref", cJSON_CreateString("a..b"),
	    "field 'pull_request.head.ref' is not a valid ref name: "
	    "'refs/heads/a..b'");
	refused("github/create.branch.json", GH, "create", "ref",
	    cJSON_CreateString("x y"),
	    "field 'ref' is not a valid ref name: 'refs/heads/x y'");
	refused("github/push.normal.json", GH, "push", "repository.full_name",
	    cJSON_CreateString("../../etc"),
	    "field 'repository.full_name' is not a repository name: "
	    "'../../etc'");
	refused("github/push.normal.json", GH, "push", "repository.full_name",
	    cJSON_CreateString("norepo"),
	    "field 'repository.full_name' is not a repository name: "
	    "'norepo'");
	refused("github/push.normal.json", GH, "push", "sender.login",
	    cJSON_CreateString("mallory\nFlowgate-Status: approved"),
	    "field 'sender.login' holds a control character");
	refused("github/push.normal.json", GH, "push", "after",
	    cJSON_CreateString("366701fde727"),
	    "field 'after' is not a 40-hex commit id");
	refused("github/push.normal.json", GH, "push", "after",
	    cJSON_CreateString("366701fde727cb7a9e7f21eb88264f59f6f9b89z"),
	    "field 'after' is not a 40-hex commit id");
	refused("gitlab/push.normal.json", GL, "Push Hook",
	    "project.path_with_namespace", cJSON_CreateString("a//b"),
	    "field 'project.path_with_namespace' is not a repository name: "
	    "'a//b'");
	refused("jira/jira_issue_updated.status-todo-to-inprogress.json", JR,
	    NULL, "issue.key", cJSON_CreateString("TES-41; rm"),
	    "field 'issue.key' is not a Jira issue key: 'TES-41; rm'");
}

/*
 * A ref that git accepts is kept as it is, however it looks: it is only
 * ever data (JSON, environment), never a command line.
 */
static void
test_forge_keeps_valid_odd_refs_inert(void)
{
	struct fg_event ev;
	struct fg_err err = FG_ERR_INIT;

	CU_ASSERT_EQUAL(parse_mutated("github/push.normal.json", GH, "push",
	    "ref", cJSON_CreateString("refs/heads/$(id)`id`;|&"), &ev, &err),
	    0);
	CU_ASSERT_STRING_EQUAL(ev.ref, "refs/heads/$(id)`id`;|&");
	fg_event_release(&ev);

	/* Uppercase commit ids are stored in lowercase. */
	CU_ASSERT_EQUAL(parse_mutated("github/push.normal.json", GH, "push",
	    "after", cJSON_CreateString("366701FDE727CB7A9E7F21EB88264F59F6F9"
	    "B89C"), &ev, &err), 0);
	CU_ASSERT_STRING_EQUAL(ev.new_id,
	    "366701fde727cb7a9e7f21eb88264f59f6f9b89c");
	fg_event_release(&ev);
}

static void
test_forge_cuts_long_titles(void)
{
	struct fg_event ev;
	struct fg_err err = FG_ERR_INIT;
	char *title;
	size_t i;

	/*
	 * "x\n!" and 1000 times "é" (2 bytes each): byte 1024 is the second
	 * half of an "é", so the cut must fall one byte earlier.
	 */
	title = malloc(3 + 2000 + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(title);
	memcpy(title, "x\n!", 3);
	for (i = 0; i < 1000; i++) {
		title[3 + 2 * i] = (char)0xc3;
		title[4 + 2 * i] = (char)0xa9;
	}
	title[2003] = '\0';
	CU_ASSERT_EQUAL(parse_mutated("github/pull_request.opened.json", GH,
	    "pull_request", "pull_request.title", cJSON_CreateString(title),
	    &ev, &err), 0);
	CU_ASSERT_TRUE(ev.truncated);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ev.pr_title);
	/* Cut on a character boundary at or below the limit. */
	CU_ASSERT_EQUAL(strlen(ev.pr_title), FG_EVENT_TEXT_MAX - 1);
	CU_ASSERT_TRUE(fg_utf8_is_valid(ev.pr_title, strlen(ev.pr_title)));
	CU_ASSERT_NSTRING_EQUAL(ev.pr_title, "x !", 3);
	fg_event_release(&ev);
	free(title);
}

static void
test_forge_refuses_bad_bodies(void)
{
	static const char nul[] = "{\"a\":1}\0 ";
	struct fg_event ev;
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf b = FG_BUF_INIT;
	char *big;

	if (!load(&b, "github/push.normal.json"))
		return;
	/*
	 * Truncated: the forge's body cut short after 100 bytes, inside the
	 * string value of "after"; cJSON points at its first character.
	 */
	CU_ASSERT_EQUAL(fg_forge_parse(&ev, GH, "push", b.ptr, 100, &err),
	    FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "malformed JSON near byte 98");
	CU_ASSERT_EQUAL(fg_forge_parse(&ev, GH, "push", b.ptr, b.len - 2,
	    &err), FG_EINVALID);
	CU_ASSERT_NSTRING_EQUAL(err.msg, "malformed JSON near byte ", 25);
	/* Trailing data, a NUL, nothing, not an object. */
	CU_ASSERT_EQUAL(fg_forge_parse(&ev, GH, "push", "{} {}", 5, &err),
	    FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "trailing data after JSON at byte 3");
	CU_ASSERT_EQUAL(fg_forge_parse(&ev, GH, "push", nul, sizeof(nul) - 1,
	    &err), FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "JSON holds a NUL byte");
	CU_ASSERT_EQUAL(fg_forge_parse(&ev, GH, "push", "", 0, &err),
	    FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "empty payload");
	CU_ASSERT_EQUAL(fg_forge_parse(&ev, GH, "push", "[1]", 3, &err),
	    FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "payload is not a JSON object");
	/* Over the limit, refused before it is parsed. */
	big = malloc(FG_FORGE_BODY_MAX + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	memset(big, ' ', FG_FORGE_BODY_MAX + 1);
	CU_ASSERT_EQUAL(fg_forge_parse(&ev, GH, "push", big,
	    FG_FORGE_BODY_MAX + 1, &err), FG_ELIMIT);
	free(big);
	/* Headers: missing, hostile, from a source without webhooks. */
	CU_ASSERT_EQUAL(fg_forge_parse(&ev, GH, NULL, b.ptr, b.len, &err),
	    FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "missing event header "
	    "'X-GitHub-Event'");
	CU_ASSERT_EQUAL(fg_forge_parse(&ev, FJ, "", b.ptr, b.len, &err),
	    FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "missing event header "
	    "'X-Forgejo-Event'");
	CU_ASSERT_EQUAL(fg_forge_parse(&ev, GH, "push\r\nX-Evil: 1", b.ptr,
	    b.len, &err), FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "field 'X-GitHub-Event' holds a "
	    "control character");
	CU_ASSERT_EQUAL(fg_forge_parse(&ev, FG_FORGE_HOOK, "push", b.ptr,
	    b.len, &err), FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "'hook' events do not come by "
	    "webhook");
	fg_buf_release(&b);
}

/*
 * Where the body says what it is, a header that says otherwise is a
 * replayed or forged delivery: the header is not signed.
 */
static void
test_forge_refuses_header_body_mismatch(void)
{
	struct fg_event ev;
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf b = FG_BUF_INIT;

	if (!load(&b, "gitlab/merge_request.merge.json"))
		return;
	CU_ASSERT_EQUAL(fg_forge_parse(&ev, GL, "Push Hook", b.ptr, b.len,
	    &err), FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "event header 'Push Hook' does not "
	    "match object_kind 'merge_request'");
	fg_buf_reset(&b);
	if (!load(&b, "gitea/pull_request_review.comment.json"))
		return;
	CU_ASSERT_EQUAL(fg_forge_parse(&ev, GT, "pull_request_approved",
	    b.ptr, b.len, &err), FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "event header 'pull_request_approved' "
	    "does not match review.type 'pull_request_review_comment'");
	/* X-Gitea-Event-Type's spelling of the same event is fine. */
	CU_ASSERT_EQUAL(fg_forge_parse(&ev, GT, "pull_request_review_comment",
	    b.ptr, b.len, &err), 0);
	CU_ASSERT_EQUAL(ev.kind, FG_EVENT_REVIEW_COMMENTED);
	fg_event_release(&ev);
	fg_buf_release(&b);
}

/* Unknown events are recorded as ignored, not refused. */
static void
test_forge_ignores_unknown_events(void)
{
	struct fg_event ev;
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf b = FG_BUF_INIT;

	if (!load(&b, "github/ping.repository-hook.json"))
		return;
	CU_ASSERT_EQUAL(fg_forge_parse(&ev, GH, "star", b.ptr, b.len, &err),
	    0);
	CU_ASSERT_EQUAL(ev.kind, FG_EVENT_IGNORED);
	CU_ASSERT_STRING_EQUAL(ev.event, "star");
	fg_event_release(&ev);
	CU_ASSERT_EQUAL(fg_forge_parse(&ev, GL, "Note Hook", b.ptr, b.len,
	    &err), 0);
	CU_ASSERT_EQUAL(ev.kind, FG_EVENT_IGNORED);
	fg_event_release(&ev);
	/* Gitea's create event has GitHub's shape (plus sha). */
	fg_buf_reset(&b);
	if (!load(&b, "github/create.tag.json"))
		return;
	CU_ASSERT_EQUAL(fg_forge_parse(&ev, GT, "create", b.ptr, b.len, &err),
	    0);
	CU_ASSERT_EQUAL(ev.kind, FG_EVENT_TAG_CREATED);
	CU_ASSERT_STRING_EQUAL(ev.ref, "refs/tags/simple-tag");
	fg_event_release(&ev);
	fg_buf_release(&b);
}

static void
test_forge_check_run_states(void)
{
	static const struct {
		const char *status, *conclusion, *state;
	} cases[] = {
		{ "completed", "success", "success" },
		{ "completed", "neutral", "success" },
		{ "completed", "skipped", "success" },
		{ "completed", "failure", "failure" },
		{ "completed", "timed_out", "failure" },
		{ "completed", "action_required", "failure" },
		{ "completed", "cancelled", "error" },
		{ "completed", "stale", "error" },
		{ "completed", "something_new", "error" },
		{ "in_progress", NULL, "pending" },
		{ "queued", NULL, "pending" },
	};
	struct fg_event ev;
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf b = FG_BUF_INIT;
	cJSON *root = NULL, *run;
	char *text;
	size_t i;

	if (!load(&b, "github/check_run.completed.json"))
		return;
	CU_ASSERT_EQUAL_FATAL(fg_json_parse(&root, b.ptr, b.len, NULL), 0);
	run = cJSON_GetObjectItemCaseSensitive(root, "check_run");
	for (i = 0; i < FG_ARRAY_SIZE(cases); i++) {
		cJSON_ReplaceItemInObjectCaseSensitive(run, "status",
		    cJSON_CreateString(cases[i].status));
		cJSON_ReplaceItemInObjectCaseSensitive(run, "conclusion",
		    cases[i].conclusion != NULL ?
		    cJSON_CreateString(cases[i].conclusion) : cJSON_CreateNull());
		text = cJSON_PrintUnformatted(root);
		CU_ASSERT_EQUAL(fg_forge_parse(&ev, GH, "check_run", text,
		    strlen(text), &err), 0);
		CU_ASSERT_STRING_EQUAL(ev.state, cases[i].state);
		fg_event_release(&ev);
		cJSON_free(text);
	}
	cJSON_Delete(root);
	fg_buf_release(&b);
}

static void
test_forge_generic_takes_event_json(void)
{
	static const char good[] = "{\"version\":1,\"source\":\"generic\","
	    "\"kind\":\"status\",\"repo\":\"team/app\",\"sha\":"
	    "\"6113728f27ae82c7b1a177c8d03f9e96e0adf246\",\"context\":"
	    "\"ci/build\",\"state\":\"failure\",\"time\":1700000000}";
	static const char spoof[] = "{\"version\":1,\"source\":\"github\","
	    "\"kind\":\"ping\"}";
	struct fg_event ev;
	struct fg_err err = FG_ERR_INIT;

	CU_ASSERT_EQUAL(fg_forge_parse(&ev, FG_FORGE_GENERIC, NULL, good,
	    sizeof(good) - 1, &err), 0);
	CU_ASSERT_EQUAL(ev.kind, FG_EVENT_STATUS);
	CU_ASSERT_STRING_EQUAL(ev.context, "ci/build");
	CU_ASSERT_EQUAL(ev.time, 1700000000);
	fg_event_release(&ev);
	CU_ASSERT_EQUAL(fg_forge_parse(&ev, FG_FORGE_GENERIC, NULL, spoof,
	    sizeof(spoof) - 1, &err), FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "field 'source' must be 'generic' on "
	    "the generic webhook, not 'github'");
}

static void
test_forge_delivery_id_is_checked(void)
{
	struct fg_event ev = FG_EVENT_INIT;
	struct fg_err err = FG_ERR_INIT;

	CU_ASSERT_EQUAL(fg_event_set_delivery(&ev,
	    "72d3162e-cc78-11e3-81ab-4c9367dc0958", &err), 0);
	CU_ASSERT_STRING_EQUAL(ev.delivery,
	    "72d3162e-cc78-11e3-81ab-4c9367dc0958");
	CU_ASSERT_EQUAL(fg_event_set_delivery(&ev, "../x y", &err),
	    FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "field 'delivery' holds characters "
	    "other than letters, digits and '.', '_', ':', '-'");
	CU_ASSERT_STRING_EQUAL(ev.delivery,
	    "72d3162e-cc78-11e3-81ab-4c9367dc0958");
	fg_event_release(&ev);
}

static void
test_forge_jira_changelog_types_are_checked(void)
{
	struct fg_event ev;
	struct fg_err err = FG_ERR_INIT;
	cJSON *items;

	items = cJSON_CreateArray();
	cJSON_AddItemToArray(items, cJSON_CreateString("status"));
	refused("jira/jira_issue_updated.status-todo-to-inprogress.json", JR,
	    NULL, "changelog.items", items,
	    "field 'changelog.items[0]' must be an object");
	refused("jira/jira_issue_updated.status-todo-to-inprogress.json", JR,
	    NULL, "changelog.items", cJSON_CreateObject(),
	    "field 'changelog.items' must be an array");
	/* No status item in an issue_updated: recorded, ignored. */
	CU_ASSERT_EQUAL(parse_mutated("jira/jira_issue_updated.status-todo-"
	    "to-inprogress.json", JR, NULL, "changelog.items",
	    cJSON_CreateArray(), &ev, &err), 0);
	CU_ASSERT_EQUAL(ev.kind, FG_EVENT_IGNORED);
	fg_event_release(&ev);
}

static CU_TestInfo tests[] = {
	{ "forge parses every corpus payload",
	  test_forge_parses_every_corpus_payload },
	{ "forge table covers the corpus", test_forge_table_covers_the_corpus },
	{ "forge verifies signed corpus bodies",
	  test_forge_verifies_signed_corpus_bodies },
	{ "forge verify refuses malformed signatures",
	  test_forge_verify_refuses_malformed_signatures },
	{ "forge forgejo accepts gitea signature header",
	  test_forge_forgejo_accepts_gitea_signature_header },
	{ "forge refuses wrong types", test_forge_refuses_wrong_types },
	{ "forge refuses missing fields", test_forge_refuses_missing_fields },
	{ "forge refuses hostile values", test_forge_refuses_hostile_values },
	{ "forge keeps valid odd refs inert",
	  test_forge_keeps_valid_odd_refs_inert },
	{ "forge cuts long titles", test_forge_cuts_long_titles },
	{ "forge refuses bad bodies", test_forge_refuses_bad_bodies },
	{ "forge refuses header body mismatch",
	  test_forge_refuses_header_body_mismatch },
	{ "forge ignores unknown events", test_forge_ignores_unknown_events },
	{ "forge check run states", test_forge_check_run_states },
	{ "forge generic takes event json",
	  test_forge_generic_takes_event_json },
	{ "forge delivery id is checked", test_forge_delivery_id_is_checked },
	{ "forge jira changelog types are checked",
	  test_forge_jira_changelog_types_are_checked },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("forge", tests)
