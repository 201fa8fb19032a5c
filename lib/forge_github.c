/*
 * forge_github.c - GitHub webhook payloads to events (mapping in forge.h).
 *
 * GitHub names the event only in the X-GitHub-Event header and the action
 * in the body.  Payload shapes follow
 * https://docs.github.com/en/webhooks/webhook-events-and-payloads; the
 * tests run every GitHub file of the shared corpus through here.
 */
#include <string.h>
#include <strings.h>

#include "event.h"
#include "forge.h"
#include "forge_int.h"
#include "banned.h"

static int
push(struct fg_event *ev, const cJSON *root, struct fg_err *err)
{
	bool deleted = false;
	int rc;

	rc = fg_forge__set(ev, FG_EVENT_F_REF, root, "ref", true, err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_OLD, root, "before", true,
		    err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_NEW, root, "after", true,
		    err);
	if (rc == 0)
		rc = fg_forge__bool(&ev->forced, root, "forced", err);
	if (rc == 0)
		rc = fg_forge__bool(&deleted, root, "deleted", err);
	if (rc == 0 && ev->actor == NULL)
		rc = fg_forge__set(ev, FG_EVENT_F_ACTOR, root, "pusher.name",
		    false, err);
	if (rc < 0)
		return rc;
	/* pushed_at is the push; head_commit's timestamp is the commit's. */
	ev->time = fg_forge__time(root, "repository.pushed_at", 1);
	if (ev->time == 0)
		ev->time = fg_forge__time(root, "head_commit.timestamp", 1);
	ev->kind = fg_forge__push_kind(ev, deleted);
	return 0;
}

static int
pull_request(struct fg_event *ev, const cJSON *root, struct fg_err *err)
{
	const char *action = ev->action != NULL ? ev->action : "";
	int rc;

	rc = fg_forge__pull_request(ev, root, err);
	if (rc < 0)
		return rc;
	if (strcmp(action, "opened") == 0) {
		ev->kind = FG_EVENT_PR_OPENED;
	} else if (strcmp(action, "synchronize") == 0) {
		ev->kind = FG_EVENT_PR_SYNCHRONIZED;
		rc = fg_forge__set(ev, FG_EVENT_F_OLD, root, "before", false,
		    err);
		if (rc == 0)
			rc = fg_forge__set(ev, FG_EVENT_F_NEW, root, "after",
			    false, err);
	} else if (strcmp(action, "closed") == 0) {
		ev->kind = ev->merged ? FG_EVENT_PR_MERGED : FG_EVENT_PR_CLOSED;
	} else if (strcmp(action, "reopened") == 0) {
		ev->kind = FG_EVENT_PR_REOPENED;
	} else {
		ev->kind = FG_EVENT_IGNORED;
	}
	return rc;
}

static int
review(struct fg_event *ev, const cJSON *root, struct fg_err *err)
{
	const char *action = ev->action != NULL ? ev->action : "";
	const char *state;
	int rc;

	rc = fg_forge__pull_request(ev, root, err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_REVIEWER, root,
		    "review.user.login", true, err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_REVIEW_STATE, root,
		    "review.state", true, err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_SHA, root, "review.commit_id",
		    false, err);
	if (rc < 0)
		return rc;
	ev->time = fg_forge__time(root, "review.submitted_at", 1);
	state = ev->review_state;
	ev->kind = FG_EVENT_IGNORED;
	if (strcmp(action, "dismissed") == 0)
		ev->kind = FG_EVENT_REVIEW_DISMISSED;
	else if (strcmp(action, "submitted") != 0)
		ev->kind = FG_EVENT_IGNORED;
	else if (strcasecmp(state, "approved") == 0)
		ev->kind = FG_EVENT_REVIEW_APPROVED;
	else if (strcasecmp(state, "changes_requested") == 0)
		ev->kind = FG_EVENT_REVIEW_CHANGES_REQUESTED;
	else if (strcasecmp(state, "commented") == 0)
		ev->kind = FG_EVENT_REVIEW_COMMENTED;
	return 0;
}

static int
status(struct fg_event *ev, const cJSON *root, struct fg_err *err)
{
	int rc;

	rc = fg_forge__set(ev, FG_EVENT_F_SHA, root, "sha", true, err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_STATE, root, "state", true,
		    err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_CONTEXT, root, "context",
		    true, err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_TARGET_URL, root,
		    "target_url", false, err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_DESCRIPTION, root,
		    "description", false, err);
	if (rc < 0)
		return rc;
	ev->time = fg_forge__time(root, "updated_at", 1);
	ev->kind = FG_EVENT_STATUS;
	return 0;
}

/*
 * A check's state in status terms.  GitHub's own branch protection counts
 * neutral and skipped as passing; anything we do not know is an error, so
 * a new conclusion can never pass a gate by accident.
 */
static const char *
check_state(const char *status, const char *conclusion)
{
	static const char *const passing[] = {
		"success", "neutral", "skipped",
	};
	static const char *const failing[] = {
		"failure", "timed_out", "action_required", "startup_failure",
	};
	size_t i;

	if (status == NULL || strcmp(status, "completed") != 0)
		return "pending";
	if (conclusion == NULL)
		return "error";
	for (i = 0; i < sizeof(passing) / sizeof(passing[0]); i++)
		if (strcmp(conclusion, passing[i]) == 0)
			return "success";
	for (i = 0; i < sizeof(failing) / sizeof(failing[0]); i++)
		if (strcmp(conclusion, failing[i]) == 0)
			return "failure";
	return "error";
}

/*
 * check_run and check_suite share a shape under their own key:
 * head_sha, status, conclusion, and the head branch (for a run, in its
 * suite).
 */
static int
check(struct fg_event *ev, const cJSON *root, bool suite,
    struct fg_err *err)
{
	const char *sha_at = suite ? "check_suite.head_sha" :
	    "check_run.head_sha";
	const char *status_at = suite ? "check_suite.status" :
	    "check_run.status";
	const char *conclusion_at = suite ? "check_suite.conclusion" :
	    "check_run.conclusion";
	const char *status = NULL, *conclusion = NULL;
	int rc;

	rc = fg_forge__set(ev, FG_EVENT_F_SHA, root, sha_at, true, err);
	if (rc == 0)
		rc = fg_forge__str(&status, root, status_at, true, err);
	if (rc == 0)
		rc = fg_forge__str(&conclusion, root, conclusion_at, false,
		    err);
	if (rc == 0)
		rc = fg_event__set_at(ev, FG_EVENT_F_STATE,
		    check_state(status, conclusion), conclusion_at, err);
	if (rc == 0 && suite) {
		rc = fg_forge__set(ev, FG_EVENT_F_CONTEXT, root,
		    "check_suite.app.slug", false, err);
		if (rc == 0 && ev->context == NULL)
			rc = fg_forge__set(ev, FG_EVENT_F_CONTEXT, root,
			    "check_suite.app.name", true, err);
		if (rc == 0)
			rc = fg_forge__set_ref(ev, FG_EVENT_F_REF,
			    "refs/heads/", root, "check_suite.head_branch",
			    false, err);
	} else if (rc == 0) {
		rc = fg_forge__set(ev, FG_EVENT_F_CONTEXT, root,
		    "check_run.name", true, err);
		if (rc == 0)
			rc = fg_forge__set(ev, FG_EVENT_F_TARGET_URL, root,
			    "check_run.details_url", false, err);
		if (rc == 0 && ev->target_url == NULL)
			rc = fg_forge__set(ev, FG_EVENT_F_TARGET_URL, root,
			    "check_run.html_url", false, err);
		if (rc == 0)
			rc = fg_forge__set(ev, FG_EVENT_F_DESCRIPTION, root,
			    "check_run.output.title", false, err);
		if (rc == 0)
			rc = fg_forge__set_ref(ev, FG_EVENT_F_REF,
			    "refs/heads/", root,
			    "check_run.check_suite.head_branch", false, err);
	}
	if (rc < 0)
		return rc;
	if (suite) {
		ev->time = fg_forge__time(root, "check_suite.updated_at", 1);
	} else {
		ev->time = fg_forge__time(root, "check_run.completed_at", 1);
		if (ev->time == 0)
			ev->time = fg_forge__time(root, "check_run.started_at",
			    1);
	}
	ev->kind = suite ? FG_EVENT_CHECK_SUITE : FG_EVENT_CHECK_RUN;
	return 0;
}

int
fg_forge__github(struct fg_event *ev, const char *name, const cJSON *root,
    struct fg_err *err)
{
	bool known;
	int rc;

	if (name == NULL || *name == '\0')
		return fg_err_set(err, FG_EINVALID, "missing event header "
		    "'X-GitHub-Event'");
	rc = fg_event__set_at(ev, FG_EVENT_F_EVENT, name, "X-GitHub-Event",
	    err);
	if (rc < 0)
		return rc;
	/*
	 * A repository is required for the events we act on; a ping or an
	 * event we ignore may come from an organization or app hook.
	 */
	known = strcmp(name, "push") == 0 || strcmp(name, "create") == 0 ||
	    strcmp(name, "delete") == 0 || strcmp(name, "pull_request") == 0 ||
	    strcmp(name, "pull_request_review") == 0 ||
	    strcmp(name, "status") == 0 || strcmp(name, "check_run") == 0 ||
	    strcmp(name, "check_suite") == 0;
	rc = fg_forge__common(ev, root, known, err);
	if (rc < 0)
		return rc;
	if (strcmp(name, "push") == 0)
		return push(ev, root, err);
	if (strcmp(name, "create") == 0 || strcmp(name, "delete") == 0)
		return fg_forge__ref_event(ev, root, name[0] == 'c', err);
	if (strcmp(name, "pull_request") == 0)
		return pull_request(ev, root, err);
	if (strcmp(name, "pull_request_review") == 0)
		return review(ev, root, err);
	if (strcmp(name, "status") == 0)
		return status(ev, root, err);
	if (strcmp(name, "check_run") == 0)
		return check(ev, root, false, err);
	if (strcmp(name, "check_suite") == 0)
		return check(ev, root, true, err);
	if (strcmp(name, "ping") == 0) {
		ev->kind = FG_EVENT_PING;
		return 0;
	}
	ev->kind = FG_EVENT_IGNORED;
	return 0;
}
