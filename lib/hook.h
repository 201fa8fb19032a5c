/*
 * hook.h - what the git hooks decide: the verdict on a push.
 *
 * hooks/main.c parses what git hands it (stdin lines or argv), opens the
 * repositories and prints; everything it decides comes from here, so the
 * pre-receive and update hooks give the same answer for the same update.
 *
 * The verdict on a push (fg_hook_decide), in order:
 *   1. refs/flowgate/... and refs/notes/flowgate are flowgate's own: any
 *      update is refused, except refs/flowgate/config pushed by an admin
 *      (below) whose pushed config is valid exactly as 'flowgate config
 *      check' says, each problem an issue "file:line:col: path: what";
 *      deleting the config is refused.
 *   2. the current config is read from refs/flowgate/config as it is at
 *      push time.  No config (flowgate not set up): nothing but step 1.
 *      A config that no longer parses: every branch update is refused
 *      (fail closed), so an admin fixes it first.
 *   3. progressive template: updates of production's branch are refused;
 *      production takes promotions only.
 *   4. push rules (rules.h) on the new commits.
 *   5. the gates of the stage whose branch is pushed, as a promotion into
 *      it would face them (fg_hook_check_gates, hook_gates.c).
 *
 * What the hooks write (hook_record.c): pre-receive records every verdict
 * in refs/flowgate/activity (fg_hook_record); post-receive queues the
 * accepted updates in refs/flowgate/inbox and notes the pushed tips
 * (fg_hook_queue), then wakes the daemon (fg_hook_wake).
 *
 * Admins.  The pusher is named by the first set variable of the config's
 * identity list (default GL_USER, GITEA_PUSHER_NAME, REMOTE_USER,
 * FLOWGATE_USER); admins are the CURRENT config's admins, never the pushed
 * one's (a push cannot make its own pusher an admin).  Break-glass: the
 * server-side file $GIT_DIR/flowgate-admins lists identities (one per
 * line, '#' comments) that may always push refs/flowgate/config, for a
 * config that locked its admins out or no longer parses.  Only someone
 * with shell access to the server can write that file: it is not a ref,
 * and no push can change it.
 *
 * Ownership: struct fg_hook_push is caller-held (FG_HOOK_PUSH_INIT,
 * fg_hook_push_release).  Thread-safety: no shared state.
 */
#ifndef FG_HOOK_H
#define FG_HOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <git2.h>

#include "buf.h"
#include "config.h"
#include "err.h"
#include "rules.h"

/*
 * Limits on pre-receive's input: the longest "<old> <new> <ref>" line
 * (git's refs are bounded by the filesystem; 4096 covers PATH_MAX) and
 * the most commands in one push.  A push over either is refused whole.
 */
#define FG_HOOK_LINE_MAX	4200
#define FG_HOOK_MAX_COMMANDS	100000

/* Largest $GIT_DIR/flowgate-admins read (bytes). */
#define FG_HOOK_ADMINS_MAX	65536

/* The break-glass file, in $GIT_DIR. */
#define FG_HOOK_ADMINS_FILE	"flowgate-admins"

/* Who pushed when no identity variable is set. */
#define FG_HOOK_UNKNOWN_PUSHER	"unknown"

struct fg_hook_push {
	struct fg_rules_update *v;	/* each ref is owned */
	size_t n;
	size_t alloc;
};

#define FG_HOOK_PUSH_INIT { NULL, 0, 0 }

void fg_hook_push_release(struct fg_hook_push *p);

/*
 * Add one command.  old_hex and new_hex must be 40 hex digits (zero for a
 * create or delete), ref a valid full ref name.  FG_EINVALID naming what is
 * wrong; FG_ELIMIT past FG_HOOK_MAX_COMMANDS.
 */
int fg_hook_push_add(struct fg_hook_push *p, const char *old_hex,
    const char *new_hex, const char *ref, struct fg_err *err);

/*
 * Read pre-receive's (and post-receive's) stdin: "<old> SP <new> SP <ref>
 * LF" lines, each at most FG_HOOK_LINE_MAX bytes.  Any malformed line
 * fails the whole read (FG_EINVALID "line N: ...").
 */
int fg_hook_push_read(struct fg_hook_push *p, FILE *in, struct fg_err *err);

/*
 * The pusher's identity: the first set, non-empty variable of cfg's
 * identity list (the default list when cfg is NULL), or
 * FG_HOOK_UNKNOWN_PUSHER.  Borrowed from the environment.
 */
const char *fg_hook_pusher(const struct fg_config *cfg);

/*
 * Decide a push (the steps above).  repo must see the pushed objects (the
 * environment-opened repository in pre-receive); git_dir is $GIT_DIR,
 * for the break-glass file.  *cfg_out (may be NULL) gets the current
 * config, or NULL when there is none or it does not parse; the caller
 * frees it.  Issues go to out; a negative return means the evaluation
 * itself failed (err says why) and the push must be refused.
 */
int fg_hook_decide(struct fg_rules_result *out, struct fg_config **cfg_out,
    git_repository *repo, const char *git_dir, const struct fg_hook_push *p,
    struct fg_err *err);

struct fg_store;

/* Pull request refs pre-receive looks through for a gate's facts. */
#define FG_HOOK_PULLS_MAX	10000

/*
 * The gates of the stage whose branch update u moves, evaluated for the
 * new tip as a promotion into that stage would be (gate.h), with the
 * facts flowgate keeps: statuses, manual approvals and deployments from
 * the commit's note on refs/notes/flowgate, pull requests from
 * refs/flowgate/pulls/.  A gate whose facts are missing fails and says
 * which.  Command gates run, each within its timeout: a push to a stage
 * waits for them as a promotion would.  Each failed gate is added to out
 * as an issue named after the gate.  Deletions and branches no stage
 * tracks have no gates.
 */
int fg_hook_check_gates(struct fg_rules_result *out, git_repository *repo,
    const struct fg_config *cfg, const struct fg_rules_update *u,
    struct fg_err *err);

/*
 * Record the verdict on push p (issues r, accepted when it holds none) in
 * refs/flowgate/activity: one record per ref, all in one batch (one ref
 * update), authored by the pusher.  Subject "push main by alice refused:
 * 2 issues" (or "accepted"); trailers Flowgate-Kind: push,
 * Flowgate-Stage (for a stage's branch), Flowgate-Commit (the new id;
 * none for a deletion), Flowgate-Status: accepted or refused; the issue
 * lines as the body; record.json's data: {ref, old, new, pusher, status,
 * new_commits, issues_dropped, issues: [{rule, commit, subject, finding,
 * fix}]}.  st must be opened by path, never from the environment: the
 * record names pushed commits by hex only, so nothing it writes can
 * point into the quarantine.
 */
int fg_hook_record(struct fg_store *st, const struct fg_hook_push *p,
    const struct fg_rules_result *r, const struct fg_config *cfg,
    const char *pusher, struct fg_err *err);

/* Refs whose commits post-receive counts at most, and tips it notes. */
#define FG_HOOK_COUNT_MAX	1000
#define FG_HOOK_NOTES_MAX	100

/*
 * The repository's name for events: GL_REPO, else GITEA_REPO_NAME, else
 * git_dir's last component without ".git"; characters outside
 * [A-Za-z0-9._/-] become '-'.  Never empty.
 */
void fg_hook_repo_name(char *out, size_t size, const char *git_dir);

/*
 * post-receive: queue the updates of p in refs/flowgate/inbox as one batch
 * of "delivery" records (event.json from fg_event_to_json with source
 * hook and kind push, branch_created, branch_deleted, tag_created or
 * tag_deleted; payload: the "<old> <new> <ref>" line), skipping
 * refs/flowgate/ and refs/notes/; add {ref, pusher, time, event} to the
 * "pushes" note of each pushed branch tip (at most FG_HOOK_NOTES_MAX);
 * append to msg one line per queued ref:
 *   "staging: 3 commits accepted, queued as event 9f2c1ab"
 *   "staging: 1a2b3c4..9d8e7f6 accepted, queued as event 9f2c1ab"
 * The second form is for an update whose count is not cheap to know: a
 * first-parent chain from the new tip longer than FG_HOOK_COUNT_MAX
 * without meeting the old one.  Merges and rewrites are counted by a
 * revision walk (old..new), at most FG_HOOK_COUNT_MAX ("at least 1000").
 *
 * Durability: open st with FG_STORE_FSYNC.  The inbox is the hand-over
 * to the daemon: once post-receive has said "queued", the event survives
 * a power loss, whatever git's own core.fsync does for the pushed ref.
 * The notes' objects go in the inbox batch's pack
 * (fg_store_append_batch_noted): one pack, three disk flushes in all
 * (pack, index and inbox ref together; the pack directory; the ref
 * directory).  The notes ref itself is moved after the inbox and not
 * synced: a note repeats what the event already holds (ref, pusher,
 * time, event id), so a crash can lose a note, never the event.  Before,
 * the notes went through libgit2, which wrote each object loose (a file,
 * a link, an unlink and a rescan of objects/pack each) and, through a
 * syncing store, flushed them one by one (ten flushes, 8-20 ms of a
 * 1-commit push).  A note that cannot be written (the current one is not
 * JSON) is told on stderr and costs nothing else.
 */
int fg_hook_queue(struct fg_buf *msg, struct fg_store *st,
    const struct fg_hook_push *p, const struct fg_config *cfg,
    const char *pusher, const char *repo_name, struct fg_err *err);

/* The daemon's wake-up FIFO, in $GIT_DIR. */
#define FG_HOOK_WAKE_FILE	"flowgate.wake"

/*
 * Wake the daemon, if one listens: when $GIT_DIR/flowgate.wake is a FIFO
 * (the daemon makes it with mkfifo and keeps it open for reading), write
 * one byte to it without blocking.  No FIFO, no reader (ENXIO) or a full
 * FIFO (EAGAIN: a wake-up is pending already) are not errors: the inbox
 * keeps the backlog, and a daemon that starts later drains it.  Returns
 * true when a byte was written or one is pending.  Never blocks, never
 * fails.
 */
bool fg_hook_wake(const char *git_dir);

/*
 * The verdict line, without "flowgate: " and newline:
 *   "push to main accepted"
 *   "push to main refused: 2 issues"
 *   "push to main, develop and 3 more refused: 1 issue"
 * Branches are named without refs/heads/.
 */
int fg_hook_verdict(struct fg_buf *b, const struct fg_hook_push *p,
    const struct fg_rules_result *r);

#endif
