/*
 * deploy.h - one deployment of one commit to one environment, and the
 * environment's history (DESIGN.md sections 3 and 7).
 *
 * A deployment is an attempt recorded on refs/flowgate/envs/<env>: one
 * commit when it starts (status "started") and one when it ends
 * ("succeeded" or "failed"), each holding deployment.json and, once it
 * ended, log (the output's tail, secrets masked).  Each end is also an
 * activity record (kind "deploy", subject "deploy prod: 1a2b3c4 succeeded
 * in 42s") and sets deployments.<env> in the deployed commit's note
 * (schemas/note.schema.json).  'git log refs/flowgate/envs/prod' is the
 * environment's history.
 *
 * How an environment deploys comes from the config (struct fg_deploy):
 *
 *   command   argv, no shell, run with fg_proc_run() in a fresh checkout
 *             of the commit made with libgit2, with FLOWGATE_COMMIT,
 *             FLOWGATE_ENV, FLOWGATE_STAGE, FLOWGATE_REF, FLOWGATE_ACTOR,
 *             FLOWGATE_RUN and the config's secrets (by their names) in its
 *             environment; SIGTERM at the time limit, SIGKILL after a
 *             grace; output captured, capped, secrets masked.  Exit 0 is
 *             success.
 *   http      a JSON POST of the same facts with libcurl, signed with
 *             HMAC-SHA256 of the body under the named secret
 *             (X-Flowgate-Signature: sha256=<hex>); any 2xx is success.
 *             With poll, the status URL is polled until it answers
 *             {"status": "succeeded"} or {"status": "failed"}, or the
 *             time limit passes.
 *
 * One deployment at a time per environment: fg_deploy_run() holds an
 * exclusive lock on the environment (flock() on a file under
 * $GIT_DIR/flowgate/locks/, released by the kernel when the holder dies)
 * from before its "started" record until after its end record.  A second
 * caller waits up to req->wait_secs for it, then is refused with FG_EBUSY
 * and a message naming the deployment in progress.  An environment whose
 * tip says "started" while nobody holds its lock was abandoned by a killed
 * process; fg_deploy_recover() (run by the daemon at start, and by
 * fg_deploy_run() before it starts) appends an "interrupted" record.
 *
 * Values from outside (branch names, titles, actors) only ever reach a
 * deployment as whole environment values or JSON strings, never a shell.
 */
#ifndef FG_DEPLOY_H
#define FG_DEPLOY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "buf.h"
#include "config.h"
#include "err.h"
#include "store.h"

#define FG_DEPLOY_REF_PREFIX	"refs/flowgate/envs/"
#define FG_DEPLOY_TIMEOUT	600		/* seconds, when config has 0 */
#define FG_DEPLOY_LOG_MAX	(64 * 1024)	/* log tail kept, bytes */

enum fg_deploy_status {
	FG_DEPLOY_STARTED,
	FG_DEPLOY_SUCCEEDED,
	FG_DEPLOY_FAILED,
	FG_DEPLOY_INTERRUPTED
};

/* "started", "succeeded", "failed", "interrupted". */
const char *fg_deploy_status_name(enum fg_deploy_status s);

struct fg_httpc;

struct fg_deploy_req {
	const struct fg_config *cfg;
	const char *env;		/* environment name, a stage's or a
					   pool's */
	const char *stage;		/* FLOWGATE_STAGE; NULL: the stage that
					   lists env, or "" */
	git_oid commit;			/* what to deploy */
	const char *ref;		/* FLOWGATE_REF: what was promoted or
					   asked for ("refs/heads/develop");
					   NULL: "" */
	const char *actor;		/* who asked; NULL: "flowgate" */
	const char *run;		/* FLOWGATE_RUN; NULL: a fresh id */
	int wait_secs;			/* env busy: wait this long, then
					   FG_EBUSY; 0: refuse at once */
	struct fg_httpc *httpc;		/* http deployments' client (lib/httpc);
					   NULL: one of the deployment's own */
	struct fg_deploy_prep *prep;	/* a checkout made ahead
					   (fg_deploy_prep_new()), used when
					   it is of env and commit; NULL:
					   none */
	const cJSON *note;		/* more keys for the commit's note,
					   merged in one write with the end's
					   deployments.<env> (a promotion's
					   gates verdict); NULL: none */
	const struct fg_record *before;	/* activity records appended in one
					   batch with the "started" record,
					   ahead of it (a promotion's steps
					   1-3); NULL: none */
	size_t nbefore;
};

/* An attempt as deployment.json holds it. */
struct fg_deployment {
	char env[256];
	git_oid commit;
	enum fg_deploy_status status;
	char stage[32];
	char run[64];
	char actor[256];
	int64_t started;		/* seconds since the epoch */
	int64_t duration_ms;		/* 0 while started */
	git_oid record;			/* its commit on the env's ref */
	struct fg_buf log;		/* the log tail; empty while started */
	bool started_recorded;		/* its "started" record, and with it
					   req->before, were written */
	bool ended_recorded;		/* its end, and with it req->note,
					   were written */
};

/*
 * Deploy req->commit to req->env and record it.  Returns 0 when the attempt
 * ran and was recorded, whatever its outcome: out->status says succeeded
 * or failed, and err holds a one-line reason when it failed ("exit 3",
 * "killed after 600s", "HTTP 502").  Returns FG_EBUSY when the
 * environment stayed busy, FG_ENOTFOUND for an unknown environment or
 * commit, or another negative code when nothing could be started.
 * out may be NULL.  Release out with fg_deployment_release().
 */
int fg_deploy_run(struct fg_deployment *out, struct fg_store *st,
    const struct fg_deploy_req *req, struct fg_err *err);

/*
 * A checkout made ahead of a deployment: fg_deploy_prep_new() starts
 * writing commit's tree into a fresh directory on a thread of its own and
 * returns at once, so that the files (most of a command deployment's
 * cost) are written while the caller does what must come before the
 * deployment (a promotion's gates and records).  Handed to fg_deploy_run()
 * in req->prep for the same env and commit, the deployment waits for it
 * and runs the command there instead of checking out itself; the
 * directory is then the deployment's, removed after the command as
 * always.  If the checkout failed, the deployment checks out itself and
 * reports what that gives.  Whatever happened, fg_deploy_prep_free() ends
 * it: it stops the thread (which writes no more files once told), waits
 * for it and removes what it wrote that no deployment took, in a detached
 * process.
 *
 * *out is NULL (and 0 returned) when there is nothing to prepare: env
 * does not deploy with a command, or a thread or directory could not be
 * had; the deployment then checks out itself.  FG_ENOMEM only.
 *
 * Threads: the thread opens a repository of its own on st's path (libgit2
 * objects are used by one thread at a time), so st and its repository
 * stay the caller's alone; objects only in st's memory or in a hook's
 * quarantine are not seen (the deployment then checks out itself).  One
 * prep is used by one thread.
 */
struct fg_deploy_prep;

int fg_deploy_prep_new(struct fg_deploy_prep **out, struct fg_store *st,
    const struct fg_config *cfg, const char *env, const git_oid *commit,
    struct fg_err *err);
void fg_deploy_prep_free(struct fg_deploy_prep *p);

/* The environment's latest attempt (its ref's tip); FG_ENOTFOUND when it
 * has none. */
int fg_deploy_current(struct fg_deployment *out, struct fg_store *st,
    const char *env, struct fg_err *err);

/*
 * The newest successful deployment of env older than the attempt whose
 * record is before (NULL: older than the current one), skipping attempts of
 * the commit currently deployed: what 'flowgate rollback ENV' redeploys.
 * FG_ENOTFOUND when there is none.
 */
int fg_deploy_last_good(git_oid *out, struct fg_store *st, const char *env,
    const git_oid *before, struct fg_err *err);

/*
 * When sha became env's latest successful deployment, if it still is one
 * (*since, seconds since the epoch): the gate engine's 'deployed' fact
 * (soak).  FG_ENOTFOUND when it never was or has been replaced.
 */
int fg_deploy_since(int64_t *since, struct fg_store *st, const char *env,
    const git_oid *sha, struct fg_err *err);

/*
 * Mark every environment of cfg whose tip is "started" and whose lock
 * nobody holds as "interrupted".  *n (may be NULL) is how many were.
 */
int fg_deploy_recover(size_t *n, struct fg_store *st,
    const struct fg_config *cfg, struct fg_err *err);

/*
 * Empty the pipeline state (flowgate pipeline reset): every environment of
 * cfg that has a current deployment gets a record whose deployment.json
 * says status "reset", after which fg_deploy_current() and
 * fg_deploy_since() answer FG_ENOTFOUND and fg_deploy_last_good() looks
 * no further back; the attempts before stay in the ref's history.  One
 * activity record (kind "reset") says who did it.  Every environment's
 * lock is taken first, without waiting: FG_EBUSY (naming the deployment)
 * while any is deploying, and then nothing is written.  With admins_only
 * and a config naming admins, an actor not among them gets FG_EDENIED.
 * *n (may be NULL) is how many environments were emptied.
 */
int fg_deploy_reset(size_t *n, struct fg_store *st,
    const struct fg_config *cfg, const char *actor, bool admins_only,
    struct fg_err *err);

/*
 * env's current deployment as one JSON object, for people and programs
 * (flowgate pipeline show --json, the API's pipeline): deployment.json's
 * fields (schemas/deployment.schema.json) with "record" (its commit on the
 * env's ref) and "subject" (the deployed commit's); a JSON null when there
 * is none (never deployed, or reset).  *out is the caller's (cJSON_Delete).
 */
int fg_deploy_current_json(cJSON **out, struct fg_store *st, const char *env,
    struct fg_err *err);

/*
 * 0 when nobody is deploying env at this instant, else FG_EBUSY with the
 * message fg_deploy_run() would refuse with.  Only a hint: a deployment
 * may start right after.  The daemon uses it to answer 409 at once
 * rather than accept a deployment that would be refused.
 */
int fg_deploy_check_idle(struct fg_store *st, const char *env,
    struct fg_err *err);

void fg_deployment_release(struct fg_deployment *d);

#endif /* FG_DEPLOY_H */
