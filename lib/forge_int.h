/*
 * forge_int.h - library-private helpers shared by event.c, forge.c and the
 * per-forge parsers (forge_github.c, forge_gitea.c, forge_gitlab.c,
 * forge_jira.c).  Not installed, not for programs.
 *
 * Payload fields are named by dotted paths ("repository.full_name"), which
 * is also how errors name them.  A JSON null counts as absent: forges send
 * null for "not applicable" (merge_commit_sha, head_commit on a delete).
 * Each getter type-checks before it reads; a present value of the wrong
 * type is FG_EINVALID "field 'x' must be a string", never silently absent.
 */
#ifndef FG_FORGE_INT_H
#define FG_FORGE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "event.h"

#define FG_ZERO_OID "0000000000000000000000000000000000000000"

/* fg_event_set, naming the payload field where in its messages. */
int fg_event__set_at(struct fg_event *ev, enum fg_event_field f,
    const char *value, const char *where, struct fg_err *err);

/*
 * *out = the node at path, or NULL when it or an object on the way is
 * absent or null.  FG_EINVALID "field 'x' must be an object" when
 * something on the way is present but not an object.
 */
int fg_forge__lookup(const cJSON **out, const cJSON *root, const char *path,
    struct fg_err *err);

/*
 * *out = the string at path (borrowed from root), or NULL when absent.
 * When required, absent or "" is FG_EINVALID "missing field 'x'".
 */
int fg_forge__str(const char **out, const cJSON *root, const char *path,
    bool required, struct fg_err *err);

/* Set field f of ev from the string at path (fg_forge__str + set_at). */
int fg_forge__set(struct fg_event *ev, enum fg_event_field f,
    const cJSON *root, const char *path, bool required, struct fg_err *err);

/*
 * As fg_forge__set for a short name that becomes a full ref: the string
 * at path with prefix ("refs/heads/") in front, unless it already starts
 * with "refs/".
 */
int fg_forge__set_ref(struct fg_event *ev, enum fg_event_field f,
    const char *prefix, const cJSON *root, const char *path, bool required,
    struct fg_err *err);

/*
 * What every GitHub, Gitea and Forgejo event carries: repository.full_name
 * (required when need_repo), sender.login as the actor, action.
 */
int fg_forge__common(struct fg_event *ev, const cJSON *root, bool need_repo,
    struct fg_err *err);

/* *out = the integer at path in [min, max]; untouched when absent. */
int fg_forge__int(int64_t *out, const cJSON *root, const char *path,
    int64_t min, int64_t max, bool required, struct fg_err *err);

/* *out = the boolean at path, false when absent. */
int fg_forge__bool(bool *out, const cJSON *root, const char *path,
    struct fg_err *err);

/*
 * Seconds since the epoch from the time at path: a string in ISO 8601
 * ("2019-05-15T15:20:55Z", "...+02:00", fractions allowed) or GitLab's
 * "2022-01-17 15:47:39 UTC", or a number of seconds divided by div (1 for
 * seconds, 1000 for Jira's milliseconds).  0 when absent or unreadable:
 * a time never refuses a delivery.
 */
int64_t fg_forge__time(const cJSON *root, const char *path, int64_t div);

/* True for the all-zero commit id git uses for "no commit". */
bool fg_forge__is_zero(const char *oid);

/*
 * Classify a push from ev's ref, old_id and new_id (and the forge's own
 * deleted flag): see the mapping in forge.h.
 */
enum fg_event_kind fg_forge__push_kind(const struct fg_event *ev,
    bool deleted);

/*
 * The GitHub-shaped pull_request object that GitHub, Gitea and Forgejo
 * all send: number, title, user.login, head.sha, head.ref, base.ref,
 * merged (and merge_commit_sha into new_id when merged), updated_at.
 * Sets ref = base_ref.
 */
int fg_forge__pull_request(struct fg_event *ev, const cJSON *root,
    struct fg_err *err);

/* GitHub's and Gitea's create and delete events (ref + ref_type). */
int fg_forge__ref_event(struct fg_event *ev, const cJSON *root,
    bool created, struct fg_err *err);

/* The per-forge parsers; ev->source is already set, root is an object. */
int fg_forge__github(struct fg_event *ev, const char *name,
    const cJSON *root, struct fg_err *err);
int fg_forge__gitea(struct fg_event *ev, const char *name,
    const cJSON *root, struct fg_err *err);
int fg_forge__gitlab(struct fg_event *ev, const char *name,
    const cJSON *root, struct fg_err *err);
int fg_forge__jira(struct fg_event *ev, const cJSON *root,
    struct fg_err *err);

#endif
