/*
 * lease.h - sandbox pools: who holds which environment of a pool, who
 * waits, and for how long (DESIGN.md sections 3 and 5, issue 7).
 *
 * PURPOSE
 *   The developer stage has no branch: a pull request leases a free
 *   environment from the stage's pool, is deployed there, and releases it
 *   when it is merged or closed.  A pool with no free environment queues
 *   the holder; whoever releases an environment hands it to the head of
 *   the queue in the same commit.  A lease lasts the pool's lease_minutes
 *   (config; default FG_LEASE_MINUTES_DEFAULT) from when it was taken or
 *   last renewed; fg_lease_expire() releases the leases that outlived it.
 *
 * STATE
 *   All of a pool's state is leases.json (schemas/leases.schema.json) in
 *   the tree of refs/flowgate/pools/<pool>: one commit per change (lease,
 *   queue, renew, release, expire), whose parent is the state it changed,
 *   so 'git log refs/flowgate/pools/sandboxes' is the pool's history.
 *   Every change reads the tip, computes the new state, writes one commit
 *   and moves the ref with a compare-and-swap on the tip it read
 *   (fg_store_ref_cas); a lost race re-reads and tries again, so two
 *   leasers never get the same environment and nothing is lost.  A change
 *   that changes nothing (a holder asking again for what it holds) writes
 *   nothing.  What is written is validated against the schema first.
 *
 *   The free environments are those the config lists for the pool that no
 *   lease names.  An environment removed from the config stays leased
 *   until it is released, and is never leased again.
 *
 * HOLDERS
 *   A holder is a key naming who holds a lease: "pull/42" for pull request
 *   42 (what the flow executor uses), or any 1 to FG_LEASE_HOLDER_MAX
 *   bytes of [A-Za-z0-9._/:@-] starting with a letter or digit
 *   (FG_EINVALID otherwise).  A holder holds at most one environment of a
 *   pool, or waits once in its queue.
 *
 * RESET
 *   A pool may have a reset command (config 'reset', an argv).  Releasing
 *   does not run it: fg_lease_release() says whether it must run
 *   (out->reset), and the caller runs it with fg_lease_reset() before it
 *   deploys anything for the next holder.  fg_lease_reset() runs it with
 *   fg_proc_run() in the repository's directory, no shell, with
 *   FLOWGATE_POOL, FLOWGATE_ENV, FLOWGATE_HOLDER and FLOWGATE_ACTOR as its
 *   whole environment, in a fresh empty directory, within the pool deploy
 *   timeout (FG_DEPLOY_TIMEOUT when none), and records the outcome on refs/flowgate/activity (kind "pool.reset").
 *
 * ERRORS
 *   FG_ENOTFOUND  unknown pool (not in the config), or the holder holds
 *                 nothing and waits nowhere (release, renew, lookup);
 *   FG_EINVALID   bad holder, or a leases.json that breaks the schema;
 *   FG_ECONFLICT  gave up after FG_STORE_RETRY_SECS of lost races;
 *   FG_EIO, FG_ENOMEM.
 *
 * OWNERSHIP AND THREADS
 *   Results are plain structs the caller owns; struct fg_pool_state and
 *   the arrays fg_lease_expire() returns have a release/free function.
 *   Any number of threads and processes may lease from the same pool at
 *   once, each with its own struct fg_store.  lib/ never deploys here: the
 *   caller deploys the holder's commit to the environment it got
 *   (fg_deploy_run(), env = the pool environment).
 */
#ifndef FG_LEASE_H
#define FG_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "config.h"
#include "err.h"
#include "store.h"

#define FG_LEASE_REF_PREFIX	"refs/flowgate/pools/"
#define FG_LEASE_FILE		"leases.json"
#define FG_LEASE_HOLDER_MAX	128		/* bytes of a holder key */
#define FG_LEASE_NAME_MAX	256		/* env, pool, actor names */
#define FG_LEASE_QUEUE_MAX	1000		/* waiters in one pool */
#define FG_LEASE_MINUTES_DEFAULT 1440		/* config lease_minutes */

/* One lease: env is held by holder until expires. */
struct fg_lease {
	char env[FG_LEASE_NAME_MAX];
	char holder[FG_LEASE_HOLDER_MAX + 1];
	char actor[FG_LEASE_NAME_MAX];		/* who leased it */
	int64_t since;				/* seconds since the epoch */
	int64_t expires;			/* seconds since the epoch */
};

/* One waiter in a pool's queue, oldest first. */
struct fg_lease_waiter {
	char holder[FG_LEASE_HOLDER_MAX + 1];
	char actor[FG_LEASE_NAME_MAX];
	int64_t since;				/* when it started waiting */
};

/* A pool as its ref's tip says, with the config's view of what is free. */
struct fg_pool_state {
	char pool[FG_LEASE_NAME_MAX];
	struct fg_lease *leases;		/* in config order */
	size_t nleases;
	struct fg_lease_waiter *queue;
	size_t nqueue;
	char **free_envs;			/* config order */
	size_t nfree;
	git_oid tip;				/* zero when the ref is absent */
	bool has_tip;
};

enum fg_lease_outcome {
	FG_LEASE_LEASED,	/* out->env is now the holder's */
	FG_LEASE_HELD,		/* the holder already held out->env */
	FG_LEASE_QUEUED,	/* no environment free: out->position */
};

struct fg_lease_result {
	enum fg_lease_outcome outcome;
	char env[FG_LEASE_NAME_MAX];		/* LEASED, HELD; else "" */
	size_t position;			/* QUEUED: 1 = next in line */
	int64_t expires;			/* LEASED, HELD */
	git_oid record;				/* the pool commit written, or
						   the tip when none was */
};

/* What a release (or an expiry) freed and whom it went to. */
struct fg_lease_release {
	char pool[FG_LEASE_NAME_MAX];
	char env[FG_LEASE_NAME_MAX];		/* freed; "" when the holder
						   was only queued */
	char holder[FG_LEASE_HOLDER_MAX + 1];	/* who lost it */
	bool reset;				/* the pool has a reset command
						   to run on env (env != "") */
	char next_holder[FG_LEASE_HOLDER_MAX + 1];	/* the queue's head,
						   who now holds env; "" */
	char next_actor[FG_LEASE_NAME_MAX];
	int64_t next_expires;
	git_oid record;				/* the pool commit written */
};

/* True when holder is a well-formed holder key (see HOLDERS). */
bool fg_lease_holder_is_valid(const char *holder);

/*
 * Lease an environment of pool for holder at time now (seconds since the
 * epoch; 0: fg_now()), on behalf of actor (NULL: "flowgate").  A holder
 * that already holds one gets it again (FG_LEASE_HELD, nothing written,
 * the lease not renewed); one already queued gets its place.  With none
 * free, holder joins the queue (FG_LEASE_QUEUED; FG_ELIMIT when it holds
 * FG_LEASE_QUEUE_MAX).  FG_ENOTFOUND for a pool cfg does not have.
 */
int fg_lease_acquire(struct fg_lease_result *out, struct fg_store *st,
    const struct fg_config *cfg, const char *pool, const char *holder,
    const char *actor, int64_t now, struct fg_err *err);

/*
 * Give up what holder holds in pool, or its place in the queue.  The
 * environment goes at once to the head of the queue (out->next_holder,
 * leased from now), else becomes free.  FG_ENOTFOUND when holder holds
 * nothing and is not queued.  out may be NULL.
 */
int fg_lease_release(struct fg_lease_release *out, struct fg_store *st,
    const struct fg_config *cfg, const char *pool, const char *holder,
    const char *actor, int64_t now, struct fg_err *err);

/*
 * Extend holder's lease to now + the pool's lease_minutes (a pull request
 * was synchronized).  FG_ENOTFOUND when it holds nothing (a queued holder
 * has nothing to renew).  out (may be NULL) gets the lease.
 */
int fg_lease_renew(struct fg_lease *out, struct fg_store *st,
    const struct fg_config *cfg, const char *pool, const char *holder,
    const char *actor, int64_t now, struct fg_err *err);

/*
 * Which environment holder holds in pool (out->outcome FG_LEASE_HELD) or
 * where it waits (FG_LEASE_QUEUED); FG_ENOTFOUND when neither.  Reads
 * only.
 */
int fg_lease_lookup(struct fg_lease_result *out, struct fg_store *st,
    const struct fg_config *cfg, const char *pool, const char *holder,
    struct fg_err *err);

/*
 * Release every lease of every pool of cfg whose expiry is at or before
 * now, each in its own commit, handing the environments to the queues'
 * heads as fg_lease_release() does (actor "flowgate", Flowgate-Kind
 * "pool.expire"), and records each expiry on refs/flowgate/activity too
 * (kind "pool.expire", env, the holder who lost it).  *out is a malloc()ed array of *n releases (NULL when
 * none; free()); the caller runs the resets and deploys for the new
 * holders.  On an error, what was already released stays released and
 * is in *out.
 */
int fg_lease_expire(struct fg_lease_release **out, size_t *n,
    struct fg_store *st, const struct fg_config *cfg, int64_t now,
    struct fg_err *err);

/*
 * Run pool's reset command (config 'reset') on env after holder released
 * it, and record it in the activity log (kind "pool.reset", status
 * "succeeded" or "failed").  Returns 0 when it ran and was recorded,
 * whatever its outcome (*ok says which; err has "exit 3" and the like when
 * it failed), or 0 with *ok true at once when the pool has no reset
 * command.  FG_ENOTFOUND for an unknown pool.
 */
int fg_lease_reset(bool *ok, struct fg_store *st, const struct fg_config *cfg,
    const char *pool, const char *env, const char *holder, const char *actor,
    struct fg_err *err);

/* The state of pool (reads only).  Release with fg_pool_state_release(). */
int fg_lease_state(struct fg_pool_state *out, struct fg_store *st,
    const struct fg_config *cfg, const char *pool, struct fg_err *err);

void fg_pool_state_release(struct fg_pool_state *s);

/*
 * Every pool of cfg as a JSON array, for 'flowgate pool list --json' and
 * GET /api/v1/repos/{owner}/{name}/pools: [{"pool", "environments":
 * [names], "lease_minutes", "reset": bool, "leases": [{"env", "holder",
 * "actor", "since", "expires"}], "queue": [{"holder", "actor", "since"}],
 * "free": [names]}], times as UTC strings ("2026-01-31T14:05:00Z").  A pool
 * whose leases.json is unreadable is {"pool", "error": message}.  *out is the
 * caller's (cJSON_Delete).
 */
int fg_lease_list_json(cJSON **out, struct fg_store *st,
    const struct fg_config *cfg, struct fg_err *err);

/* The same object for one pool; FG_ENOTFOUND for an unknown pool. */
int fg_lease_state_json(cJSON **out, struct fg_store *st,
    const struct fg_config *cfg, const char *pool, struct fg_err *err);

/* Release results as JSON objects (for the CLI's --json and the API). */
cJSON *fg_lease_result_json(const struct fg_lease_result *r,
    const char *pool, const char *holder);
cJSON *fg_lease_release_json(const struct fg_lease_release *r);

#endif /* FG_LEASE_H */
