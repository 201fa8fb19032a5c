/*
 * facts.h - what the gates need to know about a commit, read from and
 * written to what flowgate keeps in the repository (DESIGN.md sections 3
 * and 6).
 *
 * Readers (the callbacks of a struct fg_gate_facts, gate.h):
 *   statuses, manual approvals and deployments come from the JSON note on
 *   the commit (refs/notes/flowgate, schemas/note.schema.json); pull
 *   requests from refs/flowgate/pulls/<n>:pull.json.  The pre-receive hook
 *   and promotions use the same readers, so a push into a stage and a
 *   promotion into it are judged on the same facts.  The readers take the
 *   git_repository as their payload and write nothing; in pre-receive that
 *   is the quarantine-aware repository.
 *
 * Writers ('flowgate status set', 'flowgate approve', their API twins):
 *   name only their own entry (statuses.<context>, approvals.<stage>.
 *   <user>, gates.<stage>) and let the store merge it into the note under
 *   the notes lock (fg_store_note_merge(), a compare-and-swap, retried):
 *   they never read the note, change it and write it back, so writers
 *   racing on one commit all keep what they wrote.
 *
 * Thread-safety: no state; one repository per thread, as libgit2 wants.
 */
#ifndef FG_FACTS_H
#define FG_FACTS_H

#include <stdint.h>

#include <git2.h>

#include "err.h"
#include "gate.h"
#include "store.h"

#define FG_FACTS_NOTES_REF	"refs/notes/flowgate"
#define FG_FACTS_PULLS_GLOB	"refs/flowgate/pulls/*"

/* Most refs/flowgate/pulls/<n> looked at to find a pull request. */
#define FG_FACTS_PULLS_MAX	10000

/* Longest status context, description, and user name accepted. */
#define FG_FACTS_CONTEXT_MAX	256
#define FG_FACTS_DESC_MAX	1024
#define FG_FACTS_USER_MAX	256

/*
 * Fill out with the note- and pull-based readers, payload repo (borrowed;
 * it must outlive every use of out).
 */
void fg_facts_init(struct fg_gate_facts *out, git_repository *repo);

/* The readers on their own, payload a git_repository *. */
int fg_facts_status(char *state, size_t size, const char *sha,
    const char *context, void *payload);
int fg_facts_pull_for(cJSON **out, const char *sha, const char *base_ref,
    void *payload);
int fg_facts_deployed_note(int64_t *since, const char *env, const char *sha,
    void *payload);
int fg_facts_manual(struct fg_strv *out, const char *sha, const char *stage,
    void *payload);

/*
 * The pull request numbered number (refs/flowgate/pulls/<number>), parsed
 * (cJSON_Delete).  FG_ENOTFOUND when there is none.
 */
int fg_facts_pull(cJSON **out, git_repository *repo, long long number,
    struct fg_err *err);

/*
 * Set context's latest status on commit: state is "success", "failure",
 * "pending" or "error" (FG_EINVALID otherwise, or for a context that is
 * empty, too long or holds control characters); description may be NULL.
 * The note's other statuses and keys stay.  FG_ENOTFOUND when commit is
 * not in the repository.
 */
int fg_facts_set_status(struct fg_store *st, const git_oid *commit,
    const char *context, const char *state, const char *description,
    const char *actor, int64_t now, struct fg_err *err);

/*
 * Record that user approved commit for stage (a stage name), as the
 * note's approvals.<stage>.<user in lower case> = {user, time}.  An
 * approval by the same user (in any case) for the same stage is replaced,
 * not repeated; approvals by others, concurrent ones included, stay.  Who may
 * approve is the manual gate's business, decided when it is evaluated
 * (fg_facts_may_approve() lets callers refuse early).
 */
int fg_facts_approve(struct fg_store *st, const git_oid *commit,
    const char *stage, const char *user, int64_t now, struct fg_err *err);

/*
 * True when user may pass a manual gate of stage: one of a manual gate's
 * approvers, or when a manual gate lists none, one of the config's admins.
 * False when the stage has no manual gate.
 */
bool fg_facts_may_approve(const struct fg_config *cfg,
    const struct fg_stage *stage, const char *user);

/*
 * The verdict on a commit for stage as note keys to merge,
 * {"gates": {stage: {verdict, issues, time}}}: a promotion merges them
 * along with its deployment's end, in one note write
 * (fg_store_note_merge, or fg_deploy_req's note).  *out is the caller's
 * (cJSON_Delete).  FG_ENOMEM only.
 */
int fg_facts_gate_keys(cJSON **out, const char *stage, bool passed,
    size_t nissues, int64_t now);

#endif
