/*
 * forge_gitlab.c - GitLab webhook payloads to events (mapping in forge.h).
 *
 * GitLab names the event twice: in X-Gitlab-Event ("Merge Request Hook")
 * and in the body's object_kind ("merge_request").  Only the body is
 * vouched for by the token's holder in any meaningful sense, so the two
 * must agree.  Payload shapes follow
 * https://docs.gitlab.com/user/project/integrations/webhook_events/.
 */
#include <string.h>

#include "event.h"
#include "forge.h"
#include "forge_int.h"
#include "banned.h"

static const struct {
	const char *header;
	const char *object_kind;
} hooks[] = {
	{ "Push Hook", "push" },
	{ "Tag Push Hook", "tag_push" },
	{ "Merge Request Hook", "merge_request" },
	{ "Pipeline Hook", "pipeline" },
};

/* Push Hook and Tag Push Hook: the same payload, ref decides. */
static int
push(struct fg_event *ev, const cJSON *root, struct fg_err *err)
{
	int rc;

	rc = fg_forge__set(ev, FG_EVENT_F_REF, root, "ref", true, err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_OLD, root, "before", true,
		    err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_NEW, root, "after", true,
		    err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_ACTOR, root, "user_username",
		    false, err);
	if (rc < 0)
		return rc;
	ev->kind = fg_forge__push_kind(ev, false);
	return 0;
}

static int
merge_request(struct fg_event *ev, const cJSON *root, struct fg_err *err)
{
	const char *action, *state = NULL, *oldrev = NULL;
	int rc;

	rc = fg_forge__int(&ev->pr_number, root, "object_attributes.iid", 1,
	    FG_EVENT_PR_MAX, true, err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_ACTION, root,
		    "object_attributes.action", false, err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_PR_TITLE, root,
		    "object_attributes.title", false, err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_PR_HEAD_SHA, root,
		    "object_attributes.last_commit.id", true, err);
	if (rc == 0)
		rc = fg_forge__set_ref(ev, FG_EVENT_F_HEAD_REF, "refs/heads/",
		    root, "object_attributes.source_branch", true, err);
	if (rc == 0)
		rc = fg_forge__set_ref(ev, FG_EVENT_F_BASE_REF, "refs/heads/",
		    root, "object_attributes.target_branch", true, err);
	if (rc == 0)
		rc = fg_event__set_at(ev, FG_EVENT_F_REF, ev->base_ref,
		    "object_attributes.target_branch", err);
	if (rc == 0)
		rc = fg_forge__str(&state, root, "object_attributes.state",
		    false, err);
	if (rc == 0)
		rc = fg_forge__str(&oldrev, root, "object_attributes.oldrev",
		    false, err);
	if (rc < 0)
		return rc;
	ev->merged = state != NULL && strcmp(state, "merged") == 0;
	ev->time = fg_forge__time(root, "object_attributes.updated_at", 1);
	action = ev->action != NULL ? ev->action : "";

	ev->kind = FG_EVENT_IGNORED;
	if (strcmp(action, "open") == 0) {
		ev->kind = FG_EVENT_PR_OPENED;
		rc = fg_event__set_at(ev, FG_EVENT_F_PR_AUTHOR, ev->actor,
		    "user.username", err);
	} else if (strcmp(action, "reopen") == 0) {
		ev->kind = FG_EVENT_PR_REOPENED;
	} else if (strcmp(action, "close") == 0) {
		ev->kind = FG_EVENT_PR_CLOSED;
	} else if (strcmp(action, "merge") == 0) {
		ev->kind = FG_EVENT_PR_MERGED;
		ev->merged = true;
		rc = fg_forge__set(ev, FG_EVENT_F_NEW, root,
		    "object_attributes.merge_commit_sha", false, err);
	} else if (strcmp(action, "update") == 0 && oldrev != NULL &&
	    *oldrev != '\0') {
		ev->kind = FG_EVENT_PR_SYNCHRONIZED;
		rc = fg_event__set_at(ev, FG_EVENT_F_OLD, oldrev,
		    "object_attributes.oldrev", err);
		if (rc == 0)
			rc = fg_event__set_at(ev, FG_EVENT_F_NEW,
			    ev->pr_head_sha, "object_attributes.last_commit.id",
			    err);
	} else if (strcmp(action, "approved") == 0 ||
	    strcmp(action, "approval") == 0 ||
	    strcmp(action, "unapproved") == 0 ||
	    strcmp(action, "unapproval") == 0) {
		ev->kind = action[0] == 'a' ? FG_EVENT_REVIEW_APPROVED :
		    FG_EVENT_REVIEW_DISMISSED;
		if (ev->actor == NULL)
			return fg_err_set(err, FG_EINVALID,
			    "missing field 'user.username'");
		rc = fg_event__set_at(ev, FG_EVENT_F_REVIEWER, ev->actor,
		    "user.username", err);
		if (rc == 0)
			rc = fg_event__set_at(ev, FG_EVENT_F_REVIEW_STATE,
			    action, "object_attributes.action", err);
		if (rc == 0)
			rc = fg_event__set_at(ev, FG_EVENT_F_SHA,
			    ev->pr_head_sha,
			    "object_attributes.last_commit.id", err);
	}
	return rc;
}

/* GitLab's pipeline status in status terms (see forge.h). */
static const char *
pipeline_state(const char *status)
{
	static const char *const pending[] = {
		"created", "waiting_for_resource", "preparing", "pending",
		"running", "scheduled", "manual",
	};
	size_t i;

	if (strcmp(status, "success") == 0)
		return "success";
	if (strcmp(status, "failed") == 0)
		return "failure";
	for (i = 0; i < sizeof(pending) / sizeof(pending[0]); i++)
		if (strcmp(status, pending[i]) == 0)
			return "pending";
	return "error";
}

static int
pipeline(struct fg_event *ev, const cJSON *root, struct fg_err *err)
{
	const char *status = NULL;
	bool tag = false;
	int rc;

	rc = fg_forge__set(ev, FG_EVENT_F_SHA, root, "object_attributes.sha",
	    true, err);
	if (rc == 0)
		rc = fg_forge__str(&status, root, "object_attributes.status",
		    true, err);
	if (rc == 0)
		rc = fg_event__set_at(ev, FG_EVENT_F_ACTION, status,
		    "object_attributes.status", err);
	if (rc == 0)
		rc = fg_event__set_at(ev, FG_EVENT_F_STATE,
		    pipeline_state(status), "object_attributes.status", err);
	if (rc == 0)
		rc = fg_event__set_at(ev, FG_EVENT_F_CONTEXT, "gitlab/pipeline",
		    NULL, err);
	if (rc == 0)
		rc = fg_forge__bool(&tag, root, "object_attributes.tag", err);
	if (rc == 0)
		rc = fg_forge__set_ref(ev, FG_EVENT_F_REF,
		    tag ? "refs/tags/" : "refs/heads/", root,
		    "object_attributes.ref", false, err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_TARGET_URL, root,
		    "object_attributes.url", false, err);
	if (rc == 0)
		rc = fg_forge__int(&ev->pr_number, root, "merge_request.iid", 1,
		    FG_EVENT_PR_MAX, false, err);
	if (rc < 0)
		return rc;
	ev->time = fg_forge__time(root, "object_attributes.finished_at", 1);
	if (ev->time == 0)
		ev->time = fg_forge__time(root, "object_attributes.created_at",
		    1);
	ev->kind = FG_EVENT_STATUS;
	return 0;
}

int
fg_forge__gitlab(struct fg_event *ev, const char *name, const cJSON *root,
    struct fg_err *err)
{
	const char *kind = NULL;
	size_t i;
	int rc;

	if (name == NULL || *name == '\0')
		return fg_err_set(err, FG_EINVALID, "missing event header "
		    "'X-Gitlab-Event'");
	rc = fg_event__set_at(ev, FG_EVENT_F_EVENT, name, "X-Gitlab-Event",
	    err);
	if (rc < 0)
		return rc;
	for (i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++)
		if (strcmp(name, hooks[i].header) == 0)
			break;
	if (i == sizeof(hooks) / sizeof(hooks[0])) {
		/* Note, Job, Issue, ... Hooks: recorded, not acted on. */
		ev->kind = FG_EVENT_IGNORED;
		return fg_forge__set(ev, FG_EVENT_F_REPO, root,
		    "project.path_with_namespace", false, err);
	}
	rc = fg_forge__str(&kind, root, "object_kind", true, err);
	if (rc < 0)
		return rc;
	if (strcmp(kind, hooks[i].object_kind) != 0)
		return fg_err_set(err, FG_EINVALID, "event header '%s' does not "
		    "match object_kind '%s'", name, kind);
	rc = fg_forge__set(ev, FG_EVENT_F_REPO, root,
	    "project.path_with_namespace", true, err);
	if (rc < 0)
		return rc;
	if (strcmp(kind, "push") == 0 || strcmp(kind, "tag_push") == 0)
		return push(ev, root, err);
	/* Merge request and pipeline events name the user as an object. */
	rc = fg_forge__set(ev, FG_EVENT_F_ACTOR, root, "user.username", false,
	    err);
	if (rc < 0)
		return rc;
	if (strcmp(kind, "merge_request") == 0)
		return merge_request(ev, root, err);
	return pipeline(ev, root, err);
}
