/*
 * pull.h - a pull request's current state (pull.json on
 * refs/flowgate/pulls/<n>, schemas/pull.schema.json), built from its
 * events one at a time.
 *
 * The rules the approvals gate relies on live here: each reviewer's
 * latest verdict counts and replaces their earlier one; a comment is no
 * verdict and does not replace an approval or a request for changes; a
 * dismissal does; a review remembers the commit it was given on, so one
 * on an older head than head.sha is stale after a new push; closing and
 * merging set the state (a merge its merge_sha when the forge says).
 *
 * Ownership: pull is the caller's cJSON object, changed in place.  No
 * state, thread-safe.
 */
#ifndef FG_PULL_H
#define FG_PULL_H

#include <cjson/cJSON.h>

#include "event.h"

/*
 * Apply ev (a pr_* or review_* event of this pull request) to pull, which
 * may start as an empty object: the result always has version, number,
 * head.sha (the zero id until a forge names it), base.ref, state and
 * reviews, as the schema requires.  Times are ev's (now when it has none).
 */
void fg_pull_apply(cJSON *pull, const struct fg_event *ev);

#endif
