/*
 * proc.h - run a command as an argv, never through a shell; check out a
 * commit for it to run in.
 *
 * Command gates, deployments and flow steps run programs named in
 * pipeline.yaml with facts from outside (branch names, titles) in their
 * environment.  fg_proc_run() is the one way lib/ starts a child:
 *
 *   - argv only.  argv[0] without a '/' is looked up in the child's PATH
 *     (absolute entries only: an empty or relative entry would make the
 *     lookup depend on the caller's working directory); a file without a
 *     "#!" line is not handed to /bin/sh as execvp() would.  Each argv
 *     element reaches the program as the exact bytes given.
 *   - A clean environment: PATH, HOME and LANG copied from ours, then the
 *     caller's "KEY=value" entries (a bare "KEY" removes one).  Nothing
 *     else is inherited, so the quarantine variables a pre-receive hook
 *     runs under (GIT_DIR, GIT_OBJECT_DIRECTORY, GIT_QUARANTINE_PATH, ...)
 *     and our secrets never reach the child unless the caller passes them.
 *   - stdin is /dev/null; stdout and stderr go into one pipe we read; every
 *     other descriptor is closed on exec; all signals are back at their
 *     defaults and unblocked in the child.
 *   - Its own process group.  When the time limit passes, the group gets
 *     SIGTERM, then SIGKILL FG_PROC_KILL_GRACE_MS later.  Processes the
 *     command leaves behind holding the output pipe are killed the same
 *     way FG_PROC_KILL_GRACE_MS after it exits: nothing outlives a step.
 *   - It dies with us.  The command gets SIGKILL from the kernel when the
 *     thread that started it ends (PR_SET_PDEATHSIG), so a deploy whose
 *     flowgate is killed -9 does not go on unrecorded; the next deployment
 *     to the environment marks the attempt interrupted.  The kernel sends
 *     that signal to the command only, not its group: a command that starts
 *     long-lived children of its own should exec its last program (sh -c
 *     '...; exec prog') or end them itself.  Callers start a child from a
 *     thread that waits for it (fg_proc_run() does), which is what keeps a
 *     daemon's worker thread from taking its command with it early.
 *   - Output is capped: only the last output_max bytes (the log tail, the
 *     part that says what failed) are kept, and result->dropped says how
 *     many came before.  Every occurrence of a secret in what is kept is
 *     replaced by "***", including one cut by the cap.
 *
 * Thread-safety: fg_proc_run() may be called from several threads at
 * once; between fork and exec the child only makes async-signal-safe
 * calls.  It waits for its own child by pid and needs SIGCHLD not to be
 * ignored (an ignored SIGCHLD makes the kernel reap children itself).
 *
 * Ownership: struct fg_proc_result is caller-held; fg_proc_run() always
 * initialises it, so fg_proc_result_release() is safe after any return.
 */
#ifndef FG_PROC_H
#define FG_PROC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <git2.h>

#include "buf.h"
#include "err.h"

/*
 * For benchmarks only (tests/bench/promote_bench.c): when set, called with
 * a phase's name each time one of the promotion's phases ends, so the
 * caller can time them.  NULL (nothing called) everywhere else.
 */
extern void (*fg_proc__probe)(const char *phase);
#define FG_PROBE(phase)							\
	do {								\
		if (fg_proc__probe != NULL)				\
			fg_proc__probe(phase);				\
	} while (0)

/* Output kept when the caller gives no limit: 64 KiB of log tail. */
#define FG_PROC_OUTPUT_MAX (64 * 1024)

/* Largest output limit a caller may ask for. */
#define FG_PROC_OUTPUT_LIMIT (16 * 1024 * 1024)

/* Time between SIGTERM and SIGKILL. */
#define FG_PROC_KILL_GRACE_MS 2000

/* Most environment entries and argv elements accepted. */
#define FG_PROC_ARGS_MAX 4096

struct fg_proc_opts {
	const char *const *argv;	/* NULL-terminated; argv[0] required */
	const char *dir;		/* working directory; NULL: ours */
	const char *const *env;		/* NULL-terminated "KEY=value"; may
					   be NULL */
	unsigned timeout_ms;		/* 0: no limit */
	size_t output_max;		/* bytes kept; 0: FG_PROC_OUTPUT_MAX */
	const char *const *secrets;	/* NULL-terminated; masked in output;
					   may be NULL; "" is ignored */
};

#define FG_PROC_OPTS_INIT { NULL, NULL, NULL, 0, 0, NULL }

struct fg_proc_result {
	bool exited;		/* exited on its own: status is its code */
	int status;		/* exit code; -1 when killed by a signal */
	int signal;		/* the signal that ended it, or 0 */
	bool timed_out;		/* it was still running at the limit */
	int64_t duration_ms;	/* from start until it ended */
	struct fg_buf output;	/* stdout and stderr interleaved, tail */
	uint64_t total;		/* bytes it wrote */
	uint64_t dropped;	/* bytes of those not in output (the head) */
};

/*
 * Run opts->argv and wait for it.  Returns 0 when the program ran, whatever
 * its exit status; look at out->exited, status, signal and timed_out.
 * Fails with FG_ENOTFOUND when the program or opts->dir does not exist,
 * FG_EDENIED when it is not executable, FG_EINVALID for bad options
 * (empty argv, an environment entry without a name), FG_ELIMIT for an
 * output limit over FG_PROC_OUTPUT_LIMIT, FG_EIO when a pipe or fork
 * failed, FG_ENOMEM.
 */
int fg_proc_run(struct fg_proc_result *out, const struct fg_proc_opts *opts,
    struct fg_err *err);

/* Free the output; the result reads as an empty, never-run command. */
void fg_proc_result_release(struct fg_proc_result *r);

/*
 * Write the tree of commit into the empty directory dir, as a fresh
 * checkout for a command to run in.  Works for bare repositories and for
 * repositories opened from a hook's quarantine environment; the
 * repository's index, HEAD and work tree are neither read nor written.
 * FG_EINVALID when dir is not empty, FG_ENOTFOUND when commit is not in
 * repo, FG_EIO when writing failed.
 */
int fg_proc_checkout(const char *dir, git_repository *repo,
    const git_oid *commit, struct fg_err *err);

/*
 * The same checkout, written by whichever threads lend a hand: for a
 * checkout started on one thread ahead of time that another joins once
 * it needs the files (deploy.h, fg_deploy_prep_new()).
 *
 *   fg_proc_co_new()     checks dir, reads the trees, makes the
 *                        directories and links and lists the files, on
 *                        the calling thread; FG_E* as fg_proc_checkout()
 *   fg_proc_co_write()   writes files until none is left, one failed or
 *                        *stop is set (checked before each file; stop may
 *                        be NULL); any number of threads at once
 *   fg_proc_co_finish()  once every fg_proc_co_write() returned: 0 when
 *                        every file was written, else the first failure
 *                        (FG_EIO "... was stopped" when stopped; the
 *                        partial tree is the caller's to remove)
 *   fg_proc_co_free()
 *
 * The threads share repo, one at a time (libgit2 wants that): no other
 * thread may use repo until the last fg_proc_co_write() returned.
 */
struct fg_proc_co;

int fg_proc_co_new(struct fg_proc_co **out, const char *dir,
    git_repository *repo, const git_oid *commit, const atomic_bool *stop,
    struct fg_err *err);
void fg_proc_co_write(struct fg_proc_co *co);
int fg_proc_co_finish(struct fg_proc_co *co, struct fg_err *err);
void fg_proc_co_free(struct fg_proc_co *co);

/*
 * Make a new private (0700) directory under $TMPDIR (or /tmp) named
 * "flowgate-<tag>-" and six random characters; *out is the caller's
 * (free()).  tag is made of letters, digits and '-', anything else is
 * replaced by '-'.
 */
int fg_proc_mkdtemp(char **out, const char *tag, struct fg_err *err);

/*
 * Remove path and everything under it, like "rm -rf" without a shell:
 * symbolic links are removed, never followed, and other file systems
 * mounted below are not entered.  Read-only directories are made writable
 * first.  A path that does not exist is not an error; "" and "/" are
 * refused with FG_EINVALID.
 */
int fg_proc_rmtree(const char *path, struct fg_err *err);

/*
 * fg_proc_rmtree() in a detached process, so the caller does not wait
 * for it: what a deployment or a command gate leaves behind is removed
 * after the answer, not before.  Falls back to removing in the caller
 * when it cannot fork.  Errors of the detached removal are not reported:
 * use it only on a directory from fg_proc_mkdtemp() that nothing else
 * uses any more.
 */
int fg_proc_rmtree_detached(const char *path, struct fg_err *err);

#endif
