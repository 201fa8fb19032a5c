/*
 * engine.h - what processing an inbox delivery means, for this issue:
 * every event is recorded on refs/flowgate/activity; pull request and
 * review events keep refs/flowgate/pulls/<n> (schemas/pull.schema.json);
 * status and check events become the "statuses" key of the commit's note
 * (schemas/note.schema.json); Jira transitions and pings are recorded
 * and answered there.  Promotions and rollbacks asked through the API run
 * here (lib/promote), and in a continuous-template repository the commit
 * staging runs is promoted to production once production's gates pass.
 * Every delivery then queues the flow runs it triggers (lib/flowexec),
 * which webhookd/flows.c executes off this thread.
 *
 * Runs on a worker thread, one repository at a time (worker.c).
 */
#ifndef FG_WHD_ENGINE_H
#define FG_WHD_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include <git2.h>

#include "err.h"

/*
 * A batch the inbox writer made durable (pack and ref synced), handed to
 * the engine from memory: its commits, oldest first, the commit they
 * follow (the inbox tip under the writer's lock; none for a new inbox)
 * and the event.json of each (none past worker.c's bound,
 * WHD_HANDOFF_BYTES: the engine reads those back).  The engine uses it
 * only when parent is its cursor, refs/flowgate/inbox-done: then it need
 * not walk the inbox.  Otherwise (a restart, a gap) it drops it and walks
 * the inbox.
 */
struct whd_handoff {
	struct whd_handoff *next;
	git_oid parent;
	bool have_parent;
	size_t n;
	size_t bytes;			/* held, counted against the bound */
	git_oid *ids;			/* n */
	char **events;			/* n event.json, or NULL: read back */
};

void whd_handoff_free(struct whd_handoff *h);

/*
 * Process up to max inbox commits after refs/flowgate/inbox-done, oldest
 * first, then move inbox-done to the last one processed (compare-and-
 * swap).  Effects are written before the cursor moves and are idempotent
 * (keyed by delivery id), so a crash in between repeats nothing.
 * *processed gets how many were processed, *remaining how many are left
 * after them.  *cache is the repository's handle kept between calls
 * (NULL at first; whd_engine_close frees it): the store, and the inbox
 * commits walked but not processed yet, so a backlog is walked once, not
 * once per call.  A failed call frees it and sets it to NULL.
 *
 * *handoffs (may be NULL) lists batches handed over from memory, oldest
 * first: those that follow the cursor are processed from it (whole
 * batches, up to max deliveries, or one batch), the others are freed; what
 * is left for a later call stays in *handoffs and counts in *remaining.
 */
int whd_engine_drain(void **cache, const char *repo, const char *path,
    size_t max, struct whd_handoff **handoffs, size_t *processed,
    size_t *remaining, struct fg_err *err);

void whd_engine_close(void *cache);

#endif
