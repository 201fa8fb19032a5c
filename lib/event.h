/*
 * event.h - the one normalized event every source produces.
 *
 * A git push seen by the hooks, a forge webhook, a CLI command and a
 * scheduler tick all become a struct fg_event, and the engine looks at
 * nothing else (DESIGN section 1).  The event is also what the inbox keeps:
 * fg_event_to_json() writes event.json, fg_event_from_json() reads it back,
 * and the generic webhook accepts the same document from outside.
 *
 * Ownership.  struct fg_event is caller-held plain data: fg_event_init() it
 * (or use FG_EVENT_INIT), fill it, read it, fg_event_release() it.  Every
 * char * field is owned by the event and freed by fg_event_release(); a
 * NULL string means "absent" (an empty string is never stored).  Commit ids
 * live in fixed arrays, "" when absent.  Functions that fill an event
 * (fg_event_from_json, fg_forge_parse) initialize it first and release it
 * again when they fail, so the caller releases it exactly once either way.
 *
 * Values from outside go through fg_event_set(), which refuses or defuses
 * hostile text (the rules are below, next to the limits); the parsers use
 * nothing else, so an event that exists holds only values that passed.
 *
 * Thread-safety: an event is not shared; functions here keep no state.
 */
#ifndef FG_EVENT_H
#define FG_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "err.h"

/*
 * Where an event came from: a forge's webhook, our generic webhook, a git
 * hook, the CLI, or the scheduler.  Names: "generic", "github", "gitea",
 * "forgejo", "gitlab", "jira", "hook", "cli", "tick".  A zeroed event says
 * "generic": whoever builds an event sets its source.
 */
enum fg_forge {
	FG_FORGE_GENERIC = 0,
	FG_FORGE_GITHUB,
	FG_FORGE_GITEA,
	FG_FORGE_FORGEJO,
	FG_FORGE_GITLAB,
	FG_FORGE_JIRA,
	FG_FORGE_HOOK,
	FG_FORGE_CLI,
	FG_FORGE_TICK,
};

/*
 * What happened.  The name (fg_event_kind_name) is the enum's suffix in
 * lowercase: "push", "branch_created", ..., "ignored".
 *
 * FG_EVENT_IGNORED is zero on purpose: an event nobody classified is one
 * nobody acts on.  Forge events flowgate has no use for (deployments,
 * issues, labels, a GitLab MR update without new commits, a Jira change
 * that is not a status transition) are parsed, kept in the inbox for the
 * record, and ignored by the engine.
 */
enum fg_event_kind {
	FG_EVENT_IGNORED = 0,
	FG_EVENT_PUSH,
	FG_EVENT_BRANCH_CREATED,
	FG_EVENT_BRANCH_DELETED,
	FG_EVENT_TAG_CREATED,
	FG_EVENT_TAG_DELETED,
	FG_EVENT_PR_OPENED,
	FG_EVENT_PR_SYNCHRONIZED,
	FG_EVENT_PR_CLOSED,
	FG_EVENT_PR_MERGED,
	FG_EVENT_PR_REOPENED,
	FG_EVENT_REVIEW_APPROVED,
	FG_EVENT_REVIEW_CHANGES_REQUESTED,
	FG_EVENT_REVIEW_COMMENTED,
	FG_EVENT_REVIEW_DISMISSED,
	FG_EVENT_STATUS,
	FG_EVENT_CHECK_RUN,
	FG_EVENT_CHECK_SUITE,
	FG_EVENT_JIRA_ISSUE,
	FG_EVENT_PING,
};

/* Hex digits in a commit id (SHA-1; libgit2 1.5 has no SHA-256). */
#define FG_OID_HEXSZ 40

/*
 * Limits on strings from outside, in bytes.  Identifiers over their limit
 * are refused (a shortened name is another name); free text is cut.
 *
 *   FG_EVENT_NAME_MAX  repo, actor, author, reviewer, action, event,
 *                      review state, status context, Jira fields
 *   FG_EVENT_REF_MAX   ref, head_ref, base_ref
 *   FG_EVENT_URL_MAX   target_url
 *   FG_EVENT_TEXT_MAX  pr_title, description: cut at a UTF-8 character
 *                      boundary at or below the limit, and the event's
 *                      truncated flag set (written to event.json), so the
 *                      delivery is kept and the cut is on record
 *   FG_EVENT_DELIVERY_MAX  delivery id
 */
#define FG_EVENT_NAME_MAX	255
#define FG_EVENT_REF_MAX	1024
#define FG_EVENT_URL_MAX	2048
#define FG_EVENT_TEXT_MAX	1024
#define FG_EVENT_DELIVERY_MAX	128

/*
 * The event.  Which fields a kind fills (the others stay NULL / "" / 0):
 *
 *   every kind     source, kind, event (the forge's event name: the
 *                  X-*-Event header or Jira's webhookEvent), action (the
 *                  forge's raw action string), actor (who did it),
 *                  delivery (set by the receiver), time (seconds since
 *                  the epoch from the payload, 0 when it has none)
 *   push, branch_*, tag_*
 *                  repo, ref (full: "refs/heads/main"), old_id, new_id
 *                  (the zero id when created or deleted, "" when the
 *                  payload has none, as in GitHub's create/delete
 *                  events), forced
 *   pr_*           repo, pr_number, pr_head_sha, head_ref, base_ref (full
 *                  refs), ref (= base_ref: the branch the change goes
 *                  into), pr_title, pr_author, merged; pr_synchronized
 *                  has old_id/new_id when the forge says (GitHub
 *                  before/after, GitLab oldrev/last commit); pr_merged
 *                  has new_id = the merge commit when the forge says
 *   review_*       as pr_* plus reviewer, review_state (the forge's word),
 *                  sha (the commit reviewed, when the forge says)
 *   status, check_run, check_suite
 *                  repo, sha, context, state (one of success, failure,
 *                  pending, error), target_url, description, ref (the
 *                  branch when the forge says)
 *   jira_issue     jira_key, jira_project, jira_from, jira_to
 *   ping           repo when the hook belongs to one
 */
struct fg_event {
	enum fg_forge source;
	enum fg_event_kind kind;
	char *event;
	char *action;
	char *repo;
	char *ref;
	char old_id[FG_OID_HEXSZ + 1];
	char new_id[FG_OID_HEXSZ + 1];
	bool forced;

	int64_t pr_number;		/* 0: none */
	char pr_head_sha[FG_OID_HEXSZ + 1];
	char *head_ref;
	char *base_ref;
	char *pr_title;
	char *pr_author;
	bool merged;

	char *reviewer;
	char *review_state;

	char *context;
	char *state;
	char *target_url;
	char *description;
	char sha[FG_OID_HEXSZ + 1];

	char *jira_key;
	char *jira_project;
	char *jira_from;
	char *jira_to;

	char *actor;
	char *delivery;
	int64_t time;
	bool truncated;			/* some free text was cut */
};

#define FG_EVENT_INIT { 0 }

/*
 * Bounds on the numbers, which travel as JSON doubles.  cJSON prints a
 * double with 15 significant digits when that reads back "close enough",
 * so only integers well below 2^53 survive event.json exactly.  Pull
 * request numbers are 32-bit on every forge; times span years 1 to 9999.
 */
#define FG_EVENT_PR_MAX		INT64_C(2147483647)
#define FG_EVENT_TIME_MIN	INT64_C(-62135596800)
#define FG_EVENT_TIME_MAX	INT64_C(253402300799)

/*
 * The string fields, for fg_event_set().  Each has a JSON name (the key in
 * event.json, also used in error messages) given in the comment.
 */
enum fg_event_field {
	FG_EVENT_F_EVENT,		/* "event"        name */
	FG_EVENT_F_ACTION,		/* "action"       name */
	FG_EVENT_F_REPO,		/* "repo"         repository name */
	FG_EVENT_F_REF,			/* "ref"          ref name */
	FG_EVENT_F_OLD,			/* "old"          commit id (old_id) */
	FG_EVENT_F_NEW,			/* "new"          commit id (new_id) */
	FG_EVENT_F_PR_HEAD_SHA,		/* "pr_head_sha"  commit id */
	FG_EVENT_F_HEAD_REF,		/* "head_ref"     ref name */
	FG_EVENT_F_BASE_REF,		/* "base_ref"     ref name */
	FG_EVENT_F_PR_TITLE,		/* "pr_title"     text */
	FG_EVENT_F_PR_AUTHOR,		/* "pr_author"    name */
	FG_EVENT_F_REVIEWER,		/* "reviewer"     name */
	FG_EVENT_F_REVIEW_STATE,	/* "review_state" name */
	FG_EVENT_F_CONTEXT,		/* "context"      name */
	FG_EVENT_F_STATE,		/* "state"        status state */
	FG_EVENT_F_TARGET_URL,		/* "target_url"   http(s) URL */
	FG_EVENT_F_DESCRIPTION,		/* "description"  text */
	FG_EVENT_F_SHA,			/* "sha"          commit id */
	FG_EVENT_F_JIRA_KEY,		/* "jira_key"     issue key */
	FG_EVENT_F_JIRA_PROJECT,	/* "jira_project" project key */
	FG_EVENT_F_JIRA_FROM,		/* "jira_from"    name */
	FG_EVENT_F_JIRA_TO,		/* "jira_to"      name */
	FG_EVENT_F_ACTOR,		/* "actor"        name */
	FG_EVENT_F_DELIVERY,		/* "delivery"     delivery id */
};

void fg_event_init(struct fg_event *ev);

/* Free every string of ev and re-init it.  Accepts NULL. */
void fg_event_release(struct fg_event *ev);

/*
 * Set string field f of ev to a copy of value, after checking it.  NULL or
 * "" clears the field.  On failure the field keeps its old value.
 *
 * Every value must be valid UTF-8 of at most the field's limit, and
 * besides:
 *   name         no control characters (they could forge a line in a
 *                commit message or a log); over the limit: refused
 *   text         C0 control characters and DEL become spaces (line
 *                breaks, terminal escapes); over the limit: cut (see
 *                FG_EVENT_TEXT_MAX)
 *   repository   "owner/name", or deeper for GitLab groups: components of
 *                [A-Za-z0-9._-], none empty, none "." or ".." (it names a
 *                directory under the daemon's repository root)
 *   ref name     a valid full ref name (fg_refname_is_valid)
 *   commit id    40 hex digits; stored in lowercase
 *   status state one of success, failure, pending, error
 *   URL          http:// or https://, no spaces or control characters
 *   issue key    PROJECT-123: a letter, then letters, digits or '_', a
 *                dash, digits; project key: the part before the dash
 *   delivery id  [A-Za-z0-9._:-] only (GUIDs, UUIDs, Jira's ids)
 *
 * Errors: FG_EINVALID "field 'ref' is not a valid ref name: 'x'" and the
 * like, naming the JSON field; FG_ENOMEM.
 */
int fg_event_set(struct fg_event *ev, enum fg_event_field f,
    const char *value, struct fg_err *err);

/* fg_event_set(ev, FG_EVENT_F_DELIVERY, id, err): the receiver's id. */
int fg_event_set_delivery(struct fg_event *ev, const char *id,
    struct fg_err *err);

/*
 * Check that ev has what its kind needs (the table above struct fg_event):
 * a push has a repo and a ref under refs/, a branch_deleted a ref under
 * refs/heads/, a review a pr_number and a reviewer, a status a sha, a
 * context and a state, a jira_issue a key and a target status.
 * FG_EINVALID "missing field 'ref' for a 'push' event" otherwise.
 * fg_forge_parse and fg_event_from_json end with it.
 */
int fg_event_check(const struct fg_event *ev, struct fg_err *err);

/* "push", "pr_merged", ...; "ignored" for values out of range. */
const char *fg_event_kind_name(enum fg_event_kind kind);

/* The kind named name; FG_EINVALID "unknown event kind 'x'". */
int fg_event_kind_from_name(enum fg_event_kind *out, const char *name,
    struct fg_err *err);

/* "github", "gitlab", ...; "unknown" for values out of range. */
const char *fg_forge_name(enum fg_forge forge);

/* The source named name; FG_EINVALID "unknown source 'x'". */
int fg_forge_from_name(enum fg_forge *out, const char *name,
    struct fg_err *err);

/*
 * Write ev as event.json's object:
 *   {"version": 1, "source": "github", "kind": "push", "repo": ..., ...}
 * with the keys named in enum fg_event_field, plus "pr_number", "forced",
 * "merged", "truncated" and "time".  Absent strings, a zero pr_number and
 * false flags are left out; version, source, kind and time are always
 * there.  *out is the caller's (cJSON_Delete).  FG_ENOMEM only.
 */
int fg_event_to_json(cJSON **out, const struct fg_event *ev,
    struct fg_err *err);

/* Version written into and required from event.json. */
#define FG_EVENT_JSON_VERSION 1

/*
 * Read an event from json as fg_event_to_json writes it.  Strict: the root
 * must be an object, "version" must be 1, "source" and "kind" known names,
 * every key known and of its type, every string value passing
 * fg_event_set, and the result passing fg_event_check.  Errors are
 * FG_EINVALID with one line naming the field ("unknown field 'x'",
 * "field 'pr_number' must be an integer from 1 to 2147483647").  out is
 * initialized first and released on failure.  json is borrowed.
 */
int fg_event_from_json(struct fg_event *out, const cJSON *json,
    struct fg_err *err);

#endif
