/*
 * promote.h - the promotion workflow (DESIGN.md section 7): one code path
 * for 'flowgate promote', POST /api/v1/repos/{owner}/{name}/promote, the
 * daemon's continuous auto-promotion and, later, flow steps.
 *
 * A promotion runs five steps:
 *   1. change   CHANGE names a commit (hex id, 4 to 40 digits), a branch
 *               ("develop", "refs/heads/develop") or a pull request ("#12"
 *               or "12": its head).  A branch wins over digits that could
 *               be a pull request number or a commit.
 *   2. target   the stage req->to names, else the next stage up the
 *               template's hierarchy from the stage the change comes from:
 *               the branch's stage, the developer stage for a pull
 *               request, for a commit the highest stage whose branch
 *               contains it.  A target must be a configured stage with a
 *               branch, above the change's stage (hotfix goes to
 *               production only); its environments come with it.
 *   3. gates    the target's gates (gate.h), with the facts of facts.h,
 *               soak from the environments' histories (fg_deploy_since()),
 *               command gates run.
 *   4. deploy   the new tip (the change when the branch fast-forwards to
 *               it, else a merge commit of the branch and the change that
 *               flowgate writes; a merge conflict is an issue naming the
 *               files, and nothing is deployed or moved) is deployed to
 *               each environment in turn (deploy.h), then the branch moves
 *               to it by compare-and-swap from the tip the gates saw.  The
 *               first failed deployment stops the promotion and the branch
 *               stays where it was: a branch never points at a change one
 *               of its environments did not get.
 *   5. summary  the issues, if any, and the outcome.
 * Promotions into one stage are serialized: steps 3 and 4 hold an
 * exclusive lock ($GIT_DIR/flowgate/locks/stage-<stage>.lock, flock(),
 * released by the kernel when its holder dies), waited for up to
 * req->wait_secs.
 *
 * Records: steps 1 to 3 are appended to refs/flowgate/activity before
 * anything is deployed, in one batch with the first deployment's
 * "started" record, steps 4 and 5 as another once done (a refused
 * promotion appends 1, 2, 3 and 5 at once); each has
 * Flowgate-Kind: promote, -Stage (the target), -Commit, -Run, -Status and
 * Flowgate-Step.  The verdict also goes into the commit's note ("gates"),
 * with the first deployment's end when that deploys the change itself.
 * A dry run (req->dry_run) runs steps 1 to 3 and records nothing.
 *
 * The first environment's checkout is made ahead, on a thread of its own
 * with a repository handle of its own, while steps 1-3 run
 * (fg_deploy_prep_new()); a refusal discards it.
 *
 * Rollback (fg_promote_rollback): redeploys an environment's last good
 * commit before its current one (or req->change), after the gates of the
 * stage that owns the environment minus up-to-date (a rollback goes back
 * by definition) and soak (the commit ran there before), or without
 * gates when req->force is set by an admin.
 * It moves no branch; it is recorded with Flowgate-Kind: rollback.
 *
 * Ownership: struct fg_promote_result is the caller's; release it with
 * fg_promote_result_release().  Thread-safety: none kept; one store (and
 * so one repository) per thread.
 */
#ifndef FG_PROMOTE_H
#define FG_PROMOTE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "buf.h"
#include "config.h"
#include "err.h"
#include "gate.h"
#include "store.h"

/* Longest CHANGE argument, in bytes. */
#define FG_PROMOTE_CHANGE_MAX	256

/* How long a promotion waits for another into the same stage, seconds. */
#define FG_PROMOTE_WAIT_SECS	600

/* Most environments one promotion deploys. */
#define FG_PROMOTE_ENVS_MAX	16

struct fg_promote_req {
	const struct fg_config *cfg;
	const char *change;	/* CHANGE (or the commit to roll back to) */
	const char *to;		/* target stage name, NULL: the next one */
	const char *actor;	/* who asks; NULL: "flowgate" */
	const char *run;	/* run id; NULL: a fresh one */
	const char *trigger;	/* "cli", "api", "auto"; NULL: "cli" */
	bool dry_run;		/* steps 1-3 only, nothing written */
	bool force;		/* rollback only: skip the gates (admins) */
	bool admin;		/* the caller vouches that actor is an admin
				   (an admin-role API token) */
	int wait_secs;		/* stage or environment busy: wait this
				   long; negative: FG_PROMOTE_WAIT_SECS */
};

enum fg_promote_outcome {
	FG_PROMOTE_CHECKED,	/* dry run: gates passed */
	FG_PROMOTE_DONE,	/* deployed and the branch moved */
	FG_PROMOTE_REFUSED,	/* gates or the request said no */
	FG_PROMOTE_FAILED,	/* a deployment, merge or the move failed */
};

/* One environment's deployment in step 4. */
struct fg_promote_env {
	const char *name;		/* borrowed from the config */
	bool succeeded;
	char status[16];		/* "succeeded", "failed", "busy", ... */
	char reason[256];		/* why it failed, "" */
	char record[GIT_OID_HEXSZ + 1];	/* its record on envs/<env> */
};

struct fg_promote_result {
	enum fg_promote_outcome outcome;
	char run[64];
	char change[FG_PROMOTE_CHANGE_MAX + 1];	/* as asked */
	char what[64];			/* "branch develop", "pull request
					   #3", "commit" */
	char commit[GIT_OID_HEXSZ + 1];	/* the change, full hex */
	const char *from;		/* stage name, NULL when none */
	const char *to;			/* stage name, NULL before step 2 */
	const char *branch;		/* target's branch, borrowed */
	char old_tip[GIT_OID_HEXSZ + 1];	/* "" when no branch yet */
	char new_tip[GIT_OID_HEXSZ + 1];	/* what the branch got, "" */
	bool merged;			/* new_tip is a merge commit */
	bool dry_run;			/* only steps 1 to 3 ran */
	struct fg_verdict verdict;	/* step 3, with later issues (step 4)
					   appended as gates "deploy",
					   "merge", "branch" */
	struct fg_promote_env envs[FG_PROMOTE_ENVS_MAX];
	size_t nenvs;
};

void fg_promote_result_init(struct fg_promote_result *r);
void fg_promote_result_release(struct fg_promote_result *r);

/*
 * Run a promotion (or, with req->dry_run, steps 1 to 3) and fill out.
 * Returns 0 whenever an outcome was reached and recorded: out->outcome
 * says which, out->verdict.issues why not.  Returns FG_ENOTFOUND for a
 * change or stage that does not exist, FG_EINVALID for a target the
 * template does not allow, FG_EBUSY when another promotion into the stage
 * held it past wait_secs, FG_EIO or FG_ENOMEM; err says which.
 */
int fg_promote_run(struct fg_promote_result *out, struct fg_store *st,
    const struct fg_promote_req *req, struct fg_err *err);

/*
 * Roll req->change's... environment back: req->to names the environment,
 * req->change the commit (NULL: its last good one before the current,
 * fg_deploy_last_good()).  out->to is the stage owning it.  Returns as
 * fg_promote_run(); FG_EDENIED when req->force is set by someone who is
 * not in cfg->admins.
 */
int fg_promote_rollback(struct fg_promote_result *out, struct fg_store *st,
    const struct fg_promote_req *req, struct fg_err *err);

/*
 * Step 1 alone: the commit CHANGE names (see above), into out; what (may
 * be NULL) gets "branch develop", "pull request #3" or "commit".
 * FG_ENOTFOUND or FG_EINVALID with err set when it names none.
 */
int fg_promote_resolve(git_oid *out, char *what, size_t size,
    git_repository *repo, const struct fg_config *cfg, const char *change,
    struct fg_err *err);

/*
 * The result as JSON for --json and the API (schemas/api.schema.json,
 * "promotion"): {run, outcome, change, what, commit, from, to, branch,
 * old_tip, new_tip, merged, environments: [{name, status, reason,
 * record}], verdict: fg_verdict_to_json()}.  FG_ENOMEM only.
 */
int fg_promote_to_json(cJSON **out, const struct fg_promote_result *r);

/* "checked", "promoted", "refused", "failed". */
const char *fg_promote_outcome_name(enum fg_promote_outcome o);

/*
 * The text a person reads: one line saying what happened, then for a dry
 * run each gate's verdict (fg_verdict_explain()), then the issues
 * (fg_verdict_format()), each line starting with prefix (may be NULL).
 */
int fg_promote_format(struct fg_buf *out, const struct fg_promote_result *r,
    const char *prefix);

#endif
