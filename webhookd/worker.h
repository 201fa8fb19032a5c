/*
 * worker.h - the engine workers: drain each repository's inbox in order.
 *
 * A worker takes a repository whose refs/flowgate/inbox is ahead of
 * refs/flowgate/inbox-done, processes the next inbox commit's deliveries
 * (activity record, pull request state, status notes, Jira and ping
 * answers), and only then moves inbox-done to that commit.  Effects are
 * idempotent, keyed by delivery id, so a crash between the effects and
 * the cursor repeats nothing.  One repository is drained by one worker at
 * a time, so its events are processed in arrival order.
 *
 * Thread-safety: every function may be called from any thread.
 */
#ifndef FG_WHD_WORKER_H
#define FG_WHD_WORKER_H

#include <stddef.h>

#include "err.h"
#include "settings.h"

struct whd;
struct whd_workers;

int whd_workers_new(struct whd_workers **out, struct whd *d, int n,
    struct fg_err *err);

/*
 * Bytes of events handed over from memory held at most, all repositories
 * together (limits.handoff); past it a batch comes with its commit ids
 * only and the engine reads its events back.
 */
void whd_workers_set_handoff(struct whd_workers *w, uint64_t bytes);

/*
 * Say that repo (at path) has n more deliveries in its inbox (0: look
 * anyway, as at start).  Never blocks on the disk.
 */
void whd_workers_notify(struct whd_workers *w, const char *repo,
    const char *path, size_t n);

/*
 * The same for a batch of n deliveries the inbox writer made durable, with
 * h (may be NULL), the batch handed over from memory (engine.h): kept for
 * the engine within WHD_HANDOFF_BYTES (worker.c), else freed.  Takes h.
 */
struct whd_handoff;
void whd_workers_handoff(struct whd_workers *w, const char *repo,
    const char *path, size_t n, struct whd_handoff *h);

/*
 * Tell the workers about every repository the settings name and every
 * <root>/<owner>/<name>.git, so a backlog left by a crash is processed.
 */
void whd_workers_scan(struct whd_workers *w, const struct fg_settings *s);

/*
 * Call fn for every repository the settings name and every
 * <root>/<owner>/<name>.git that is a directory: repo is "owner/name".
 */
void whd_repos_each(const struct fg_settings *s,
    void (*fn)(const char *repo, const char *path, void *arg), void *arg);

/* Deliveries of path appended but not processed yet, as far as known. */
size_t whd_workers_backlog(struct whd_workers *w, const char *path);

/* The sum over every repository. */
size_t whd_workers_backlog_total(struct whd_workers *w);

/* Finish the repository each worker is on, stop, join, free. */
void whd_workers_free(struct whd_workers *w);

#endif
