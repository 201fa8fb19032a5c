/*
 * gate.h - the gate engine: one verdict on "may commit C enter stage S now?"
 *
 * The same question is asked by pre-receive when someone pushes to S's
 * branch and by every promotion into S ('flowgate promote', an approval
 * webhook, a flow step), so it is answered in exactly one place
 * (DESIGN.md section 6).  The engine reads the stage's gates from the
 * parsed config, asks for facts it does not own (statuses, pull requests,
 * deployments, manual approvals) through a table of callbacks, and returns
 * a struct fg_verdict: passed or not, one issue per failed gate (which gate,
 * which commit, what was found, how to fix it), and one check per gate for
 * 'promote --dry-run' explanations.
 *
 * Gates and what passes them:
 *
 *   approvals N   The pull request whose head is C and whose base is S's
 *                 branch has N approving reviews from distinct reviewers
 *                 other than its author.  Each reviewer's latest review
 *                 counts (if pull.json lists a user twice, the later entry
 *                 wins); a review of another commit than the pull request's
 *                 head is stale and does not count; changes_requested,
 *                 commented and dismissed reviews do not count.  User names
 *                 compare case-insensitively, as forges treat them.  A
 *                 closed, unmerged pull request does not count.
 *   status [ctx]  The latest status of every context on C is "success".
 *   soak M        C was deployed successfully to every environment of the
 *                 previous stage at least M minutes ago and is still the
 *                 latest successful deployment there.  The previous stage
 *                 is the one C is promoted from when the caller says so
 *                 (input.from: a hotfix promoted into production soaks on
 *                 hotfix's environment), else the configured stage that
 *                 promotes into S in the template, hotfix excepted, that
 *                 has environments (see fg_gate_previous_stage()).  A stage
 *                 without one cannot have a soak gate: it fails, saying so,
 *                 rather than passing unnoticed.
 *   manual        One of the gate's approvers, or when it lists none one
 *                 of the config's admins, ran 'flowgate approve C --stage
 *                 S'.  With neither approvers nor admins, nobody can.
 *   window        Now, in the gate's zone (lib/tz; UTC by default), is on
 *                 an allowed day and in [from, to).
 *   freeze        Now is outside every freeze period [from, to).
 *   up-to-date    C is S's branch tip or descends from it (a promotion can
 *                 fast-forward; no hotfix is lost).  Passes when the branch
 *                 does not exist yet.
 *   command       The argv, run with fg_proc_run() in a fresh checkout of C
 *                 with FLOWGATE_COMMIT, FLOWGATE_STAGE, FLOWGATE_BRANCH and
 *                 FLOWGATE_REF in its environment, exits 0 within its
 *                 timeout.  Only when input.run_commands is true; otherwise
 *                 the check is reported as not evaluated, produces no issue
 *                 and leaves verdict.complete false.
 *
 * Facts.  A callback returns 0 with the fact, FG_ENOTFOUND when there is
 * none, or another negative code when it could not tell.  A gate whose
 * callback is NULL fails with the finding "facts missing: <what>"; a
 * callback error fails the gate too (the engine fails closed), except
 * FG_ENOMEM, which fg_gate_eval() returns.
 *
 * Text.  Issue fields are single lines for people: everything that came
 * from outside (subjects, user names, contexts, reasons, command output)
 * has control characters, invalid UTF-8 and bidirectional overrides
 * replaced, subjects are cut at the first newline and at
 * FG_GATE_SUBJECT_MAX bytes.  Only issue.output has several lines.
 *
 * Ownership: fg_gate_eval() fills a caller-held struct fg_verdict whose
 * strings it owns; free them with fg_verdict_release(), which is safe on
 * a verdict fg_gate_eval() failed to fill.
 *
 * Thread-safety: fg_gate_eval() keeps no state; several threads may
 * evaluate at once provided each uses its own git_repository (libgit2
 * objects are not shared between threads) and the callbacks are safe.
 * Command gates fork (see proc.h) and may take as long as their timeout.
 */
#ifndef FG_GATE_H
#define FG_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "buf.h"
#include "config.h"
#include "err.h"

/* Longest commit subject kept in an issue, in bytes, before "...". */
#define FG_GATE_SUBJECT_MAX 72

/* Longest finding or fix, in bytes, before "...". */
#define FG_GATE_TEXT_MAX 1024

/* Command gates: output captured, and the last lines kept in the issue. */
#define FG_GATE_OUTPUT_MAX (64 * 1024)
#define FG_GATE_OUTPUT_LINES 10
#define FG_GATE_OUTPUT_LINE_MAX 200

/* Command gate timeout when the config gives none or zero, in seconds. */
#define FG_GATE_COMMAND_TIMEOUT 600

/* Most reviews of one pull request looked at. */
#define FG_GATE_REVIEWS_MAX 10000

/*
 * Where the engine gets facts.  sha is a full lowercase hex id; strings the
 * callbacks receive are borrowed for the call.  Each returns 0, FG_ENOTFOUND
 * or another negative code (see above).
 */
struct fg_gate_facts {
	/*
	 * The latest state of context on sha, copied NUL-terminated into
	 * state (size bytes): "success", "failure", "pending" or "error".
	 */
	int (*status)(char *state, size_t size, const char *sha,
	    const char *context, void *payload);

	/*
	 * The open or merged pull request whose head is sha and whose base
	 * is base_ref ("refs/heads/develop"), as a parsed pull.json
	 * (schemas/pull.schema.json).  *out becomes the engine's, which
	 * cJSON_Delete()s it.
	 */
	int (*pull_for)(cJSON **out, const char *sha, const char *base_ref,
	    void *payload);

	/*
	 * When sha was deployed successfully to env, if it is still the
	 * latest successful deployment there: *since, seconds since the
	 * epoch.  FG_ENOTFOUND when it never was or has been replaced.
	 */
	int (*deployed)(int64_t *since, const char *env, const char *sha,
	    void *payload);

	/*
	 * Who ran 'flowgate approve sha --stage stage' (stage is a stage name,
	 * "production").  out arrives as { NULL, 0 }; fill out->v with out->n
	 * strings, the array and each string from malloc(): the engine
	 * free()s them, also when the callback fails.
	 */
	int (*manual)(struct fg_strv *out, const char *sha, const char *stage,
	    void *payload);

	void *payload;
};

struct fg_gate_input {
	const struct fg_config *cfg;
	const struct fg_stage *stage;	/* the stage C would enter */
	const struct fg_stage *from;	/* the stage C is promoted from, or
					   NULL (a push, or unknown) */
	git_repository *repo;		/* can read C and the branch tip; in
					   pre-receive the quarantine-aware
					   one.  NULL: up-to-date and command
					   gates fail, subjects are empty */
	const git_oid *commit;		/* C */
	const git_oid *branch_tip;	/* S's branch now, NULL if none yet */
	int64_t now;			/* fg_now() */
	const struct fg_gate_facts *facts; /* NULL: no facts at all */
	bool run_commands;		/* run command gates (slow) */
};

/* What a failed gate says.  All strings are set ("" when empty). */
struct fg_issue {
	char *gate;		/* "approvals", "status", ... */
	char *commit;		/* short id, "1a2b3c4" */
	char *subject;		/* commit subject, one line */
	char *finding;		/* what was found */
	char *fix;		/* how to fix it */
	char *output;		/* command gates: last lines, may be "" */
};

/* How one gate went, failed or not. */
struct fg_check {
	char *gate;
	bool passed;
	bool evaluated;		/* false: a command gate not run */
	char *detail;		/* why it passed, or the finding */
};

struct fg_verdict {
	bool passed;		/* no issues */
	bool complete;		/* every gate was evaluated */
	char commit[GIT_OID_HEXSZ + 1];	/* C, full hex */
	const char *stage;	/* stage name, static */
	struct fg_issue *issues;
	size_t nissues;
	struct fg_check *checks;	/* one per gate, in config order */
	size_t nchecks;
};

#define FG_VERDICT_INIT { false, false, "", NULL, NULL, 0, NULL, 0 }

/*
 * Evaluate every gate of in->stage for in->commit and fill out.  Returns 0
 * whenever a verdict was reached, passed or not: facts that cannot be read
 * make gates fail, not this function.  FG_EINVALID when cfg, stage or
 * commit is missing, FG_ENOMEM.
 */
int fg_gate_eval(struct fg_verdict *out, const struct fg_gate_input *in,
    struct fg_err *err);

void fg_verdict_release(struct fg_verdict *v);

/*
 * The verdict as JSON for records and the API:
 *   {"passed":b, "complete":b, "commit":hex, "stage":name,
 *    "issues":[{"gate","commit","subject","finding","fix","output"}],
 *    "checks":[{"gate","passed","evaluated","detail"}]}
 * *out is the caller's (cJSON_Delete).  FG_ENOMEM only.
 */
int fg_verdict_to_json(cJSON **out, const struct fg_verdict *v);

/*
 * Append one line per issue, each starting with prefix (may be NULL):
 *
 *   <gate>: <commit> '<subject>': <finding>; fix: <fix>
 *
 * ("'<subject>'" is left out when the subject is empty, "; fix: <fix>"
 * when there is no fix), followed for a command gate by its output lines
 * as "<prefix>  | <line>".  Appends nothing for a verdict without issues.
 */
int fg_verdict_format(struct fg_buf *out, const struct fg_verdict *v,
    const char *prefix);

/*
 * Append one line per gate, for --dry-run: "<prefix><gate>: pass: ...",
 * "...: FAIL: ..." or "...: not run: ...".
 */
int fg_verdict_explain(struct fg_buf *out, const struct fg_verdict *v,
    const char *prefix);

/* "approvals", "status", "soak", "manual", "window", "freeze",
 * "up-to-date", "command"; "unknown" otherwise. */
const char *fg_gate_name(enum fg_gate_kind kind);

/*
 * The stage whose environments a soak gate on stage watches: from, if it
 * is configured, is not stage and has environments; else the configured
 * stage other than hotfix that the template promotes into stage and that
 * has environments; else NULL (the soak gate cannot pass).  Borrowed from
 * cfg.
 */
const struct fg_stage *fg_gate_previous_stage(const struct fg_config *cfg,
    const struct fg_stage *stage, const struct fg_stage *from);

#endif
