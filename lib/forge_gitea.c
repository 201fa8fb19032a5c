/*
 * forge_gitea.c - Gitea and Forgejo webhook payloads to events (mapping in
 * forge.h).
 *
 * Forgejo is a Gitea fork and sends the same payloads under X-Forgejo-*
 * headers (and Gitea's copies), so one parser serves both; ev->source says
 * which endpoint the delivery came to.  The payloads are modelled on
 * GitHub's, which lets create, delete and the pull_request object share
 * GitHub's code (forge.c).
 */
#include <string.h>

#include "event.h"
#include "forge.h"
#include "forge_int.h"
#include "banned.h"

/* Gitea has no created/deleted/forced flags: the zero ids tell. */
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
	if (rc == 0 && ev->actor == NULL)
		rc = fg_forge__set(ev, FG_EVENT_F_ACTOR, root, "pusher.login",
		    false, err);
	if (rc < 0)
		return rc;
	ev->time = fg_forge__time(root, "head_commit.timestamp", 1);
	ev->kind = fg_forge__push_kind(ev, false);
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
	if (strcmp(action, "opened") == 0)
		ev->kind = FG_EVENT_PR_OPENED;
	else if (strcmp(action, "synchronized") == 0)
		ev->kind = FG_EVENT_PR_SYNCHRONIZED;
	else if (strcmp(action, "closed") == 0)
		ev->kind = ev->merged ? FG_EVENT_PR_MERGED : FG_EVENT_PR_CLOSED;
	else if (strcmp(action, "reopened") == 0)
		ev->kind = FG_EVENT_PR_REOPENED;
	else
		ev->kind = FG_EVENT_IGNORED;
	return 0;
}

/*
 * Review events: the header names the verdict, and so does the body's
 * review.type.  Only the body is signed, so the body decides and a header
 * that disagrees refuses the delivery.
 */
static const struct {
	const char *header;		/* X-Gitea-Event */
	const char *type;		/* review.type, X-Gitea-Event-Type */
	enum fg_event_kind kind;
} reviews[] = {
	{ "pull_request_approved", "pull_request_review_approved",
	  FG_EVENT_REVIEW_APPROVED },
	{ "pull_request_rejected", "pull_request_review_rejected",
	  FG_EVENT_REVIEW_CHANGES_REQUESTED },
	{ "pull_request_comment", "pull_request_review_comment",
	  FG_EVENT_REVIEW_COMMENTED },
};

static int
review_index(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(reviews) / sizeof(reviews[0]); i++)
		if (strcmp(name, reviews[i].header) == 0 ||
		    strcmp(name, reviews[i].type) == 0)
			return (int)i;
	return -1;
}

static int
review(struct fg_event *ev, const char *name, const cJSON *root,
    struct fg_err *err)
{
	const char *type = NULL;
	int rc, i;

	rc = fg_forge__pull_request(ev, root, err);
	if (rc == 0)
		rc = fg_forge__str(&type, root, "review.type", true, err);
	if (rc == 0)
		rc = fg_event__set_at(ev, FG_EVENT_F_REVIEW_STATE, type,
		    "review.type", err);
	/* Gitea's review has no user: the sender is the reviewer. */
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_REVIEWER, root,
		    "sender.login", true, err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_SHA, root, "commit_id", false,
		    err);
	if (rc < 0)
		return rc;
	i = review_index(type);
	if (i < 0 || i != review_index(name))
		return fg_err_set(err, FG_EINVALID, "event header '%s' does "
		    "not match review.type '%s'", name, type);
	ev->kind = reviews[i].kind;
	return 0;
}

int
fg_forge__gitea(struct fg_event *ev, const char *name, const cJSON *root,
    struct fg_err *err)
{
	const char *header = ev->source == FG_FORGE_FORGEJO ?
	    "X-Forgejo-Event" : "X-Gitea-Event";
	bool known;
	int rc;

	if (name == NULL || *name == '\0')
		return fg_err_set(err, FG_EINVALID, "missing event header "
		    "'%s'", header);
	rc = fg_event__set_at(ev, FG_EVENT_F_EVENT, name, header, err);
	if (rc < 0)
		return rc;
	known = strcmp(name, "push") == 0 || strcmp(name, "create") == 0 ||
	    strcmp(name, "delete") == 0 || strcmp(name, "pull_request") == 0 ||
	    review_index(name) >= 0;
	rc = fg_forge__common(ev, root, known, err);
	if (rc < 0)
		return rc;
	if (strcmp(name, "push") == 0)
		return push(ev, root, err);
	if (strcmp(name, "create") == 0 || strcmp(name, "delete") == 0)
		return fg_forge__ref_event(ev, root, name[0] == 'c', err);
	if (strcmp(name, "pull_request") == 0)
		return pull_request(ev, root, err);
	if (review_index(name) >= 0)
		return review(ev, name, root, err);
	ev->kind = FG_EVENT_IGNORED;
	return 0;
}
