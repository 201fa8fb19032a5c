/*
 * rules.h - push rules (DESIGN.md section 6) evaluated on a push.
 *
 * A push is a list of ref updates (old, new, ref).  The rules of every
 * struct fg_push_set whose branch globs match a pushed branch (the name
 * without refs/heads/) apply to that update: the per-update rules
 * (no-force-push, no-delete, max-commits) to the update itself, the
 * per-commit rules to each NEW commit it brings.  New commits are those
 * reachable from the pushed tips and from no existing ref, as git's
 * "rev-list NEW --not --all": one revision walk for the whole push, which
 * pushes every tip a rule set applies to and hides the targets of the
 * repository's current refs.  A commit shared by several pushed branches
 * is evaluated once, with the union of their rule sets.
 *
 * Each commit is compared with its first parent once (an empty tree for a
 * root commit) by walking the two trees side by side and skipping equal
 * subtrees by id, so a commit costs what it changed, not what it holds.
 * The added and changed blobs are shared by max-file-size (sizes come from
 * the object header: the blob is not read), forbid-paths (git pathspecs)
 * and secrets (the only rule that reads blob content).  A blob id already
 * looked at in this push is not looked at again.
 *
 * Refs under refs/flowgate/ and refs/notes/ are not hidden: their commits
 * are records, never ancestors of pushed work, and hiding a long activity
 * log would make every walk longer.  A pushed commit reachable only from
 * such a ref is therefore checked as new, which can only be stricter.
 *
 * In pre-receive, repo must see the quarantined objects (opened with
 * GIT_REPOSITORY_OPEN_FROM_ENV); nothing here writes to it.
 *
 * Ownership: struct fg_rules_result is caller-held; fg_rules_result_init()
 * (or FG_RULES_RESULT_INIT), pass it to fg_rules_eval(), read it,
 * fg_rules_result_release().  Every string in it is owned by it.
 * Thread-safety: none shared; one result per call.
 */
#ifndef FG_RULES_H
#define FG_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <git2.h>

#include "buf.h"
#include "config.h"
#include "err.h"

/* Hex digits of the short commit id an issue names. */
#define FG_RULES_SHORT_HEX	7

/*
 * Issues kept per evaluation.  More are counted in result->dropped, so a
 * push of 10,000 bad commits gets 100 lines and "and 9,900 more".
 */
#define FG_RULES_MAX_ISSUES	100

/* Blobs larger than this are not scanned for secrets (bytes). */
#define FG_RULES_SCAN_MAX	(4 * 1024 * 1024)

/* A blob with a NUL byte in its first this-many bytes is binary. */
#define FG_RULES_BINARY_PROBE	8000

/* Seconds a signed rule's verify command may run per commit. */
#define FG_RULES_VERIFY_TIMEOUT	30

/* Commit subjects in issues are cut to this many bytes. */
#define FG_RULES_SUBJECT_MAX	72

/* Push rule sets a config may have for one evaluation (a bit mask). */
#define FG_RULES_MAX_SETS	64

/* One ref update of the push; old or new is zero for a create or delete. */
struct fg_rules_update {
	const char *ref;		/* full name: "refs/heads/main" */
	git_oid old_id;
	git_oid new_id;
};

/*
 * One violation.  rule is the rule's config name ("secrets", "message",
 * ...) or, for issues others add, their name for the check ("window",
 * "protected-ref").  commit is the short id of the offending commit, ""
 * when the issue is about the update itself (a deletion); subject is that
 * commit's first message line, cut to FG_RULES_SUBJECT_MAX bytes ("" without
 * a commit).  finding says what was found, fix how to fix it.  In every
 * text a control character (C0, DEL or C1) or a byte that is not UTF-8 is
 * '?', so none can drive the pusher's terminal.  Never holds secret text.
 */
struct fg_rules_issue {
	char *rule;
	char *ref;
	char commit[FG_RULES_SHORT_HEX + 1];
	char *subject;
	char *finding;
	char *fix;
};

struct fg_rules_result {
	struct fg_rules_issue *issues;
	size_t n;
	size_t alloc;
	size_t dropped;			/* issues over FG_RULES_MAX_ISSUES */
	size_t ncommits;		/* new commits evaluated */
};

#define FG_RULES_RESULT_INIT { NULL, 0, 0, 0, 0 }

void fg_rules_result_init(struct fg_rules_result *r);
void fg_rules_result_release(struct fg_rules_result *r);

/*
 * Evaluate cfg's push rules on the updates u[0..nu) against repo, adding
 * every violation to out (which may already hold issues: they are kept).
 * Updates of refs outside refs/heads/, and of branches no rule set
 * matches, are not checked.  Returns 0 whether or not issues were found;
 * a negative code only when the evaluation itself failed (a missing
 * object, no memory, more than FG_RULES_MAX_SETS rule sets), with err
 * set: the caller refuses the push then too.
 */
int fg_rules_eval(struct fg_rules_result *out, git_repository *repo,
    const struct fg_config *cfg, const struct fg_rules_update *u, size_t nu,
    struct fg_err *err);

/*
 * Add an issue to r (for callers with findings of their own: the hooks'
 * guarded refs, gates).  commit may be NULL; subject, finding and fix may
 * be NULL for "".  FG_ENOMEM only; over the cap it counts r->dropped.
 */
int fg_rules_add(struct fg_rules_result *r, const char *rule,
    const char *ref, const git_oid *commit, const char *subject,
    const char *finding, const char *fix);

/*
 * Append issue i as one line (no newline) to b:
 *   REF: RULE: SHORT "SUBJECT": FINDING; FIX
 * the ref without refs/heads/, the commit part only when there is one.
 */
int fg_rules_issue_format(struct fg_buf *b, const struct fg_rules_issue *i);

/*
 * Scan len bytes of text for secrets.  Calls found(line, kind, payload)
 * for the first match of each kind ("private key", "AWS access key id",
 * "GitHub token", "GitLab token", "Slack token"); never passes the
 * matched text.  Exposed for tests.
 */
void fg_rules_scan_secrets(const char *text, size_t len,
    void (*found)(size_t line, const char *kind, void *payload),
    void *payload);

#endif
