/*
 * facts.c - the gate engine's facts, read from notes and pull request
 * refs, and the note writers behind 'status set' and 'approve' (see
 * facts.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "facts.h"
#include "util.h"
#include "banned.h"

/* The note on sha as a JSON object; FG_ENOTFOUND when there is none. */
static int
note_json(cJSON **out, git_repository *repo, const char *sha)
{
	git_note *n = NULL;
	const char *msg;
	git_oid id;
	int rc;

	*out = NULL;
	if (git_oid_fromstr(&id, sha) < 0)
		return FG_EINVALID;
	rc = git_note_read(&n, repo, FG_FACTS_NOTES_REF, &id);
	if (rc == GIT_ENOTFOUND)
		return FG_ENOTFOUND;
	if (rc < 0)
		return FG_EIO;
	msg = git_note_message(n);
	rc = fg_json_parse(out, msg, strlen(msg), NULL);
	git_note_free(n);
	if (rc == 0 && !cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		rc = FG_EINVALID;
	}
	return rc;
}

/* note[key][sub], or NULL. */
static const cJSON *
note_get(const cJSON *note, const char *key, const char *sub)
{
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(note, key);

	return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, sub) :
	    NULL;
}

int
fg_facts_status(char *state, size_t size, const char *sha,
    const char *context, void *payload)
{
	const cJSON *s;
	cJSON *note = NULL;
	int rc;

	rc = note_json(&note, payload, sha);
	if (rc < 0)
		return rc;
	s = cJSON_GetObjectItemCaseSensitive(note_get(note, "statuses",
	    context), "state");
	if (cJSON_IsString(s))
		snprintf(state, size, "%s", s->valuestring);
	else
		rc = FG_ENOTFOUND;
	cJSON_Delete(note);
	return rc;
}

/*
 * When sha was deployed successfully to env, from the note's deployments
 * (the latest deployment of this commit per environment).  The note does
 * not say whether another commit replaced it there since; promotions ask
 * the environment's history instead (fg_deploy_since()).
 */
int
fg_facts_deployed_note(int64_t *since, const char *env, const char *sha,
    void *payload)
{
	const cJSON *d, *st, *t;
	cJSON *note = NULL;
	int rc;

	rc = note_json(&note, payload, sha);
	if (rc < 0)
		return rc;
	d = note_get(note, "deployments", env);
	st = cJSON_GetObjectItemCaseSensitive(d, "status");
	t = cJSON_GetObjectItemCaseSensitive(d, "time");
	if (!cJSON_IsString(st) || strcmp(st->valuestring, "succeeded") != 0 ||
	    !cJSON_IsString(t) || fg_parse_utc(since, t->valuestring) < 0)
		rc = FG_ENOTFOUND;
	cJSON_Delete(note);
	return rc;
}

/* One approval as read from the note, for ordering them by time. */
struct approval {
	const char *user;
	const char *time;	/* "" when the entry has none */
	size_t pos;		/* its place in the note */
};

static int
approval_cmp(const void *a, const void *b)
{
	const struct approval *x = a, *y = b;
	int c = strcmp(x->time, y->time);

	if (c != 0)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/*
 * The users who approved sha for stage, oldest approval first.  The note
 * keeps approvals.<stage> as an object with one member per user (see
 * approval_key()); notes written before that hold an array of {user,
 * time}, which is read alike.  UTC times in one format sort as text.
 */
int
fg_facts_manual(struct fg_strv *out, const char *sha, const char *stage,
    void *payload)
{
	const cJSON *list, *a, *u, *t;
	struct approval *all = NULL;
	cJSON *note = NULL;
	size_t n, k = 0, i;
	int rc;

	rc = note_json(&note, payload, sha);
	if (rc < 0)
		return rc;
	list = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    note, "approvals"), stage);
	if ((!cJSON_IsArray(list) && !cJSON_IsObject(list)) ||
	    cJSON_GetArraySize(list) == 0) {
		rc = FG_ENOTFOUND;
		goto out;
	}
	n = (size_t)cJSON_GetArraySize(list);
	all = calloc(n, sizeof(*all));
	out->v = calloc(n + 1, sizeof(*out->v));
	if (all == NULL || out->v == NULL) {
		rc = FG_ENOMEM;
		goto out;
	}
	cJSON_ArrayForEach(a, list) {
		u = cJSON_GetObjectItemCaseSensitive(a, "user");
		t = cJSON_GetObjectItemCaseSensitive(a, "time");
		if (!cJSON_IsString(u) || k >= n)
			continue;
		all[k].user = u->valuestring;
		all[k].time = cJSON_IsString(t) ? t->valuestring : "";
		all[k].pos = k;
		k++;
	}
	qsort(all, k, sizeof(*all), approval_cmp);
	for (i = 0; i < k; i++) {
		out->v[out->n] = fg_strdup(all[i].user);
		if (out->v[out->n] == NULL) {
			rc = FG_ENOMEM;
			goto out;
		}
		out->n++;
	}
out:
	free(all);
	cJSON_Delete(note);
	return rc;
}

/* pull.json on ref's tip, parsed; NULL when it has none. */
static cJSON *
pull_json(git_repository *repo, const char *ref)
{
	git_object *obj = NULL;
	git_blob *blob = NULL;
	cJSON *j = NULL;

	if (git_revparse_single(&obj, repo, ref) < 0)
		return NULL;
	if (git_object_type(obj) == GIT_OBJECT_COMMIT) {
		git_tree *t = NULL;
		const git_tree_entry *e;

		if (git_commit_tree(&t, (git_commit *)obj) == 0) {
			e = git_tree_entry_byname(t, "pull.json");
			if (e != NULL && git_blob_lookup(&blob, repo,
			    git_tree_entry_id(e)) == 0)
				fg_json_parse(&j, git_blob_rawcontent(blob),
				    (size_t)git_blob_rawsize(blob), NULL);
		}
		git_tree_free(t);
	}
	git_blob_free(blob);
	git_object_free(obj);
	if (j != NULL && !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		j = NULL;
	}
	return j;
}

static bool
str_is(const cJSON *o, const char *key, const char *want)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(s) && strcmp(s->valuestring, want) == 0;
}

/* The pull request with head sha into base_ref, among the first
 * FG_FACTS_PULLS_MAX refs/flowgate/pulls/<n>. */
int
fg_facts_pull_for(cJSON **out, const char *sha, const char *base_ref,
    void *payload)
{
	git_repository *repo = payload;
	git_reference_iterator *it = NULL;
	git_reference *ref;
	size_t seen = 0;
	cJSON *j;
	int rc = FG_ENOTFOUND;

	*out = NULL;
	if (git_reference_iterator_glob_new(&it, repo,
	    FG_FACTS_PULLS_GLOB) < 0)
		return FG_EIO;
	while (rc == FG_ENOTFOUND && seen++ < FG_FACTS_PULLS_MAX &&
	    git_reference_next(&ref, it) == 0) {
		j = pull_json(repo, git_reference_name(ref));
		git_reference_free(ref);
		if (j == NULL)
			continue;
		if (str_is(cJSON_GetObjectItemCaseSensitive(j, "head"), "sha",
		    sha) && str_is(cJSON_GetObjectItemCaseSensitive(j, "base"),
		    "ref", base_ref)) {
			*out = j;
			rc = 0;
		} else {
			cJSON_Delete(j);
		}
	}
	git_reference_iterator_free(it);
	return rc;
}

void
fg_facts_init(struct fg_gate_facts *out, git_repository *repo)
{
	memset(out, 0, sizeof(*out));
	out->status = fg_facts_status;
	out->pull_for = fg_facts_pull_for;
	out->deployed = fg_facts_deployed_note;
	out->manual = fg_facts_manual;
	out->payload = repo;
}

int
fg_facts_pull(cJSON **out, git_repository *repo, long long number,
    struct fg_err *err)
{
	char ref[64];

	*out = NULL;
	if (number <= 0)
		return fg_err_set(err, FG_EINVALID, "'%lld' is not a pull "
		    "request number", number);
	snprintf(ref, sizeof(ref), "refs/flowgate/pulls/%lld", number);
	*out = pull_json(repo, ref);
	if (*out == NULL)
		return fg_err_set(err, FG_ENOTFOUND, "no pull request #%lld "
		    "(flowgate learns of pull requests from forge webhooks)",
		    number);
	return 0;
}

/* A name from outside fit for a note key: 1..max bytes, UTF-8, no
 * control characters. */
static bool
name_ok(const char *s, size_t max)
{
	size_t len, i;

	if (s == NULL)
		return false;
	len = strlen(s);
	if (len == 0 || len > max || !fg_utf8_is_valid(s, len))
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/*
 * The keys to merge into a note, {key: {...}}: edit gets the empty object
 * and sets one member of it, the whole entry, every member it does not
 * want spelled out as null.  FG_ENOMEM only.
 */
static int
note_keys(cJSON **out, const char *key, int (*edit)(cJSON *obj, void *arg),
    void *arg)
{
	cJSON *keys, *obj;

	*out = NULL;
	keys = cJSON_CreateObject();
	obj = cJSON_AddObjectToObject(keys, key);
	if (obj == NULL || edit(obj, arg) < 0) {
		cJSON_Delete(keys);
		return FG_ENOMEM;
	}
	*out = keys;
	return 0;
}

/*
 * Merge one entry of the note's key (see note_keys()): the store merges
 * it into the note under the notes lock (fg_store_note_merge), so entries
 * written meanwhile by others (another status context, another stage,
 * another user's approval) stay.  Nothing is read first: a read outside
 * the lock, edited and written back, would overwrite what another writer
 * merged in between.
 */
static int
merge_key(struct fg_store *st, const git_oid *commit, const char *key,
    const char *actor, int (*edit)(cJSON *obj, void *arg), void *arg,
    struct fg_err *err)
{
	cJSON *keys;
	int rc;

	if (note_keys(&keys, key, edit, arg) < 0)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	rc = fg_store_note_merge(st, commit, keys, actor, NULL, err);
	cJSON_Delete(keys);
	return rc;
}

struct status_arg {
	const char *context, *state, *description, *actor;
	char time[32];
};

static int
edit_status(cJSON *statuses, void *p)
{
	struct status_arg *a = p;
	cJSON *e;

	e = cJSON_AddObjectToObject(statuses, a->context);
	if (e == NULL || cJSON_AddStringToObject(e, "state", a->state) == NULL)
		return FG_ENOMEM;
	/* An absent member is null: the store drops what it said before. */
	if (a->description != NULL && *a->description != '\0' ?
	    cJSON_AddStringToObject(e, "description", a->description) == NULL :
	    cJSON_AddNullToObject(e, "description") == NULL)
		return FG_ENOMEM;
	if (cJSON_AddStringToObject(e, "time", a->time) == NULL)
		return FG_ENOMEM;
	if (a->actor != NULL && *a->actor != '\0' ?
	    cJSON_AddStringToObject(e, "actor", a->actor) == NULL :
	    cJSON_AddNullToObject(e, "actor") == NULL)
		return FG_ENOMEM;
	return 0;
}

int
fg_facts_set_status(struct fg_store *st, const git_oid *commit,
    const char *context, const char *state, const char *description,
    const char *actor, int64_t now, struct fg_err *err)
{
	static const char *const states[] = {
		"success", "failure", "pending", "error",
	};
	struct status_arg a;
	size_t i;

	for (i = 0; i < FG_ARRAY_SIZE(states); i++)
		if (state != NULL && strcmp(state, states[i]) == 0)
			break;
	if (i == FG_ARRAY_SIZE(states))
		return fg_err_set(err, FG_EINVALID, "unknown state '%s' (use "
		    "success, failure, pending or error)", state != NULL ?
		    state : "");
	if (!name_ok(context, FG_FACTS_CONTEXT_MAX))
		return fg_err_set(err, FG_EINVALID, "a status context is 1 to "
		    "%d bytes of text without control characters",
		    FG_FACTS_CONTEXT_MAX);
	if (description != NULL && !name_ok(description, FG_FACTS_DESC_MAX) &&
	    *description != '\0')
		return fg_err_set(err, FG_EINVALID, "a status description is "
		    "at most %d bytes of text without control characters",
		    FG_FACTS_DESC_MAX);
	a.context = context;
	a.state = state;
	a.description = description;
	a.actor = actor;
	fg_format_utc(a.time, sizeof(a.time), now);
	return merge_key(st, commit, "statuses", actor, edit_status, &a,
	    err);
}

/*
 * Approvals.  approvals.<stage> is an object with one member per user,
 * named by the user's name in ASCII lower case (approving is
 * case-insensitive, as the approvers list is): {"carol": {"user":
 * "Carol", "time": "..."}}.  An approval merges its own member only, so
 * two people approving the same commit at once both end up in the note:
 * the store merges each under the notes lock.  (An array, as notes kept
 * it before, can only be replaced whole, and two approvals that each read
 * it, added themselves and wrote it back lost one of them.)
 */
struct approve_arg {
	const char *stage, *user;
	char key[FG_FACTS_USER_MAX + 1];
	char time[32];
	const cJSON *legacy;	/* the note's array of approvals, or NULL */
};

static void
approval_key(char *out, size_t size, const char *user)
{
	size_t i;

	for (i = 0; user[i] != '\0' && i + 1 < size; i++)
		out[i] = user[i] >= 'A' && user[i] <= 'Z' ?
		    (char)(user[i] - 'A' + 'a') : user[i];
	out[i] = '\0';
}

static int
add_approval(cJSON *byuser, const char *key, const char *user,
    const char *time)
{
	cJSON *e;

	cJSON_DeleteItemFromObjectCaseSensitive(byuser, key);
	e = cJSON_AddObjectToObject(byuser, key);
	if (e == NULL || cJSON_AddStringToObject(e, "user", user) == NULL ||
	    (time != NULL && cJSON_AddStringToObject(e, "time", time) == NULL))
		return FG_ENOMEM;
	return 0;
}

/*
 * approvals.<stage> to merge: this user's member; when the note still
 * holds the old array, its approvals too, converted, since the object
 * replaces the array.
 */
static int
edit_approvals(cJSON *approvals, void *p)
{
	struct approve_arg *a = p;
	const cJSON *e, *u, *t;
	char key[FG_FACTS_USER_MAX + 1];
	cJSON *byuser;

	byuser = cJSON_AddObjectToObject(approvals, a->stage);
	if (byuser == NULL)
		return FG_ENOMEM;
	cJSON_ArrayForEach(e, a->legacy) {
		u = cJSON_GetObjectItemCaseSensitive(e, "user");
		t = cJSON_GetObjectItemCaseSensitive(e, "time");
		if (!cJSON_IsString(u) || !name_ok(u->valuestring,
		    FG_FACTS_USER_MAX))
			continue;
		approval_key(key, sizeof(key), u->valuestring);
		if (add_approval(byuser, key, u->valuestring,
		    cJSON_IsString(t) ? t->valuestring : NULL) < 0)
			return FG_ENOMEM;
	}
	return add_approval(byuser, a->key, a->user, a->time);
}

int
fg_facts_approve(struct fg_store *st, const git_oid *commit,
    const char *stage, const char *user, int64_t now, struct fg_err *err)
{
	struct approve_arg a;
	const cJSON *list;
	cJSON *note = NULL;
	int rc;

	if (fg_stage_from_name(stage) == FG_STAGE_NONE)
		return fg_err_set(err, FG_EINVALID, "unknown stage '%s'",
		    stage);
	if (!name_ok(user, FG_FACTS_USER_MAX))
		return fg_err_set(err, FG_EINVALID, "a user name is 1 to %d "
		    "bytes of text without control characters",
		    FG_FACTS_USER_MAX);
	memset(&a, 0, sizeof(a));
	a.stage = stage;
	a.user = user;
	approval_key(a.key, sizeof(a.key), user);
	fg_format_utc(a.time, sizeof(a.time), now);
	/* Only to convert a note written before approvals were keyed. */
	if (fg_store_note_get(&note, st, commit, NULL) == 0) {
		list = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(note, "approvals"), stage);
		if (cJSON_IsArray(list))
			a.legacy = list;
	}
	rc = merge_key(st, commit, "approvals", user, edit_approvals, &a,
	    err);
	cJSON_Delete(note);
	return rc;
}

bool
fg_facts_may_approve(const struct fg_config *cfg,
    const struct fg_stage *stage, const char *user)
{
	const struct fg_gate *g;
	const struct fg_strv *who;
	size_t i, j;

	for (i = 0; i < stage->ngates; i++) {
		g = &stage->gates[i];
		if (g->kind != FG_GATE_MANUAL)
			continue;
		who = g->approvers.n > 0 ? &g->approvers : &cfg->admins;
		for (j = 0; j < who->n; j++)
			if (strcasecmp(who->v[j], user) == 0)
				return true;
	}
	return false;
}

struct gate_arg {
	const char *stage;
	bool passed;
	size_t nissues;
	char time[32];
};

static int
edit_gates(cJSON *gates, void *p)
{
	struct gate_arg *a = p;
	cJSON *e;

	e = cJSON_AddObjectToObject(gates, a->stage);
	if (e == NULL || cJSON_AddStringToObject(e, "verdict", a->passed ?
	    "passed" : "refused") == NULL ||
	    cJSON_AddNumberToObject(e, "issues", (double)a->nissues) == NULL ||
	    cJSON_AddStringToObject(e, "time", a->time) == NULL)
		return FG_ENOMEM;
	return 0;
}

int
fg_facts_gate_keys(cJSON **out, const char *stage, bool passed,
    size_t nissues, int64_t now)
{
	struct gate_arg a;

	a.stage = stage;
	a.passed = passed;
	a.nissues = nissues;
	fg_format_utc(a.time, sizeof(a.time), now);
	return note_keys(out, "gates", edit_gates, &a);
}
