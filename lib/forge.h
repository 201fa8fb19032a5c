/*
 * forge.h - webhook deliveries in, normalized events out; and which
 * signature each forge sends.
 *
 * webhookd calls fg_forge_verify() on the raw body and headers, and only
 * then fg_forge_parse() on the same body; what comes out is the struct
 * fg_event that goes into the inbox as event.json (event.h).  Nothing here
 * touches a repository, the network or the clock.
 *
 * Ownership: bodies, headers and secrets are borrowed for the call; the
 * event is the caller's (fg_event_release).  Thread-safety: no state; every
 * function is thread-safe.
 *
 * Mapping, per forge and event (header value, then body action):
 *
 * GitHub (X-GitHub-Event)
 *   push             ref under refs/tags/ from the zero id: tag_created;
 *                    to the zero id (or deleted: true): branch_deleted or
 *                    tag_deleted; anything else, including a new branch
 *                    with commits (old = zero id), a forced push or a moved
 *                    tag: push.  forced is copied.
 *   create, delete   ref_type branch/tag: branch_created, branch_deleted,
 *                    tag_created, tag_deleted (ref is made full; no ids)
 *   pull_request     opened, synchronize (old/new from before/after),
 *                    closed (merged: pr_merged, new = merge commit; else
 *                    pr_closed), reopened; other actions: ignored
 *   pull_request_review
 *                    submitted + review.state approved, changes_requested,
 *                    commented (any case); dismissed: review_dismissed;
 *                    sha = review.commit_id; other actions: ignored
 *   status           status (sha, state, context, target_url, description)
 *   check_run        check_run: context = check_run.name
 *   check_suite      check_suite: context = app slug, else app name
 *                    For checks, state: not completed -> pending;
 *                    conclusion success, neutral, skipped -> success;
 *                    failure, timed_out, action_required,
 *                    startup_failure -> failure; anything else (cancelled,
 *                    stale, unknown) -> error.  ref = the head branch.
 *   ping             ping (repo when the hook is a repository's)
 *   anything else    ignored (deployment, deployment_status, issues, ...)
 *
 * Gitea and Forgejo (X-Gitea-Event, X-Forgejo-Event; same payloads)
 *   push             as GitHub's push (no created/deleted flags: the zero
 *                    ids decide)
 *   create, delete   as GitHub's; create's sha becomes new
 *   pull_request     opened, synchronized, closed (merged or not),
 *                    reopened; other actions (edited, assigned, label_*,
 *                    review_requested, ...): ignored
 *   pull_request_approved, pull_request_rejected, pull_request_comment
 *   (or the X-Gitea-Event-Type spelling pull_request_review_approved, ...)
 *                    review_approved, review_changes_requested,
 *                    review_commented, decided by the body's review.type,
 *                    which must agree with the header; reviewer = sender
 *   anything else    ignored
 *
 * GitLab (X-Gitlab-Event; the body's object_kind must agree)
 *   Push Hook        as GitHub's push
 *   Tag Push Hook    tag_created / tag_deleted / push (tag moved)
 *   Merge Request Hook, object_attributes.action:
 *                    open: pr_opened (pr_author = the user: GitLab sends
 *                    only author_id, and the opener is the author);
 *                    update with oldrev (new commits): pr_synchronized,
 *                    old = oldrev, new = last_commit.id; update without
 *                    oldrev (title, labels, reviewers): ignored;
 *                    close: pr_closed; reopen: pr_reopened; merge:
 *                    pr_merged (new = merge_commit_sha);
 *                    approved and approval: review_approved;
 *                    unapproved and unapproval: review_dismissed (the
 *                    reviewer is the user; counting distinct reviewers'
 *                    latest reviews makes a repeated approval harmless);
 *                    anything else: ignored
 *   Pipeline Hook    status with context "gitlab/pipeline", sha =
 *                    object_attributes.sha, ref from object_attributes.ref
 *                    (refs/tags/ when tag is true), target_url = its url,
 *                    pr_number = merge_request.iid when there is one,
 *                    action = GitLab's status; state: success -> success,
 *                    failed -> failure, created, waiting_for_resource,
 *                    preparing, pending, running, scheduled, manual ->
 *                    pending; canceled, canceling, skipped, unknown -> error
 *   anything else    ignored
 *
 * Jira (no header: the body's webhookEvent)
 *   jira:issue_updated with a changelog item whose fieldId (or field)
 *   is "status": jira_issue, jira_from/jira_to = fromString/toString.
 *   Everything else (assignments, issue_created, comments): ignored, with
 *   the issue key and project kept.
 *
 * Generic (our own webhook)
 *   The body is an event.json document (fg_event_from_json) whose source
 *   is "generic".  The event header is not used.
 *
 * Values are checked by fg_event_set (event.h): a hostile ref, repository
 * name, commit id or control character refuses the whole delivery with
 * FG_EINVALID naming the payload field; an over-long title or description
 * is cut and the event marked truncated.  Times come from the payload
 * (push time, PR update, review submission, status update, Jira
 * timestamp); one that is missing or unreadable is 0 and never refuses a
 * delivery.
 *
 * The event header is not covered by any forge's signature.  Where the
 * body says what it is (GitLab's object_kind, Gitea's review.type) the two
 * must agree; GitHub's bodies do not say, so a replayed body under another
 * header parses as that event if its fields fit.  Deduplicating delivery
 * ids narrows this; it cannot be closed here.
 */
#ifndef FG_FORGE_H
#define FG_FORGE_H

#include <stddef.h>

#include "err.h"
#include "event.h"

/*
 * Largest body fg_forge_parse accepts (GitHub caps deliveries at 25 MB).
 * webhookd's own, configurable limit is normally far lower and is checked
 * before the body is read.
 */
#define FG_FORGE_BODY_MAX	(25u * 1024 * 1024)

/*
 * Parse one delivery into *out.
 *
 * forge is the endpoint the delivery came to (FG_FORGE_GITHUB, _GITEA,
 * _FORGEJO, _GITLAB, _JIRA or _GENERIC); event_header is the value of its
 * event header (X-GitHub-Event, X-Gitea-Event or X-Forgejo-Event,
 * X-Gitlab-Event), NULL for Jira and generic.  body is the raw request body,
 * len bytes, not NUL-terminated; it must be JSON (a form-encoded GitHub
 * delivery is the daemon's to unwrap).
 *
 * The delivery id is not in the body: set it afterwards with
 * fg_event_set_delivery().
 *
 * Errors: FG_EINVALID for malformed JSON ("malformed JSON near byte N"), a
 * missing header ("missing event header 'X-GitHub-Event'"), a missing or
 * wrongly typed field ("missing field 'repository.full_name'", "field
 * 'ref' must be a string"), a refused value (see above); FG_ELIMIT for a
 * body over FG_FORGE_BODY_MAX; FG_ENOMEM.  Unknown events are not errors:
 * they come back as FG_EVENT_IGNORED.  out is initialized first and
 * released on failure.
 */
int fg_forge_parse(struct fg_event *out, enum fg_forge forge,
    const char *event_header, const char *body, size_t len,
    struct fg_err *err);

/*
 * How the daemon hands headers to fg_forge_verify: return the value of
 * header name (case-insensitive, as HTTP has it) or NULL when absent.  The
 * string is borrowed until fg_forge_verify returns.
 */
typedef const char *(*fg_forge_header_fn)(const char *name, void *payload);

/*
 * The header that carries forge's signature or token:
 *   github   X-Hub-Signature-256       "sha256=<hex HMAC-SHA256>"
 *   gitea    X-Gitea-Signature         "<hex>"
 *   forgejo  X-Forgejo-Signature       "<hex>" (X-Gitea-Signature, which
 *                                      Forgejo also sends, is accepted
 *                                      when it is absent)
 *   gitlab   X-Gitlab-Token            the secret token itself
 *   jira     X-Hub-Signature           "sha256=<hex>"
 *   generic  X-Flowgate-Signature-256  "sha256=<hex>"
 * NULL for hook, cli and tick, which do not come by webhook.  GitHub's and
 * Gitea's SHA-1 headers are never used.
 */
const char *fg_forge_signature_header(enum fg_forge forge);

/*
 * Check signature (the value of fg_forge_signature_header(forge)) against
 * body and secret as forge does it: HMAC-SHA256 hex with or without the
 * "sha256=" prefix, or for GitLab a constant-time comparison of the token.
 *
 * Errors: FG_EDENIED "missing signature header 'X-Hub-Signature-256'",
 * FG_EDENIED "signature in 'X-Hub-Signature-256' does not match the body"
 * (or "token in 'X-Gitlab-Token' is wrong"); FG_EINVALID when secret is
 * NULL or empty ("no secret configured for 'github'": an empty key would
 * accept a signature anyone can make) or forge takes no webhooks.  The
 * messages never quote the signature or the secret.
 */
int fg_forge_verify_signature(enum fg_forge forge, const char *secret,
    const void *body, size_t len, const char *signature,
    struct fg_err *err);

/*
 * As fg_forge_verify_signature, looking the header up with get(name,
 * payload); get must not be NULL.
 */
int fg_forge_verify(enum fg_forge forge, const char *secret,
    const void *body, size_t len, fg_forge_header_fn get, void *payload,
    struct fg_err *err);

#endif
