/*
 * hook_record.c - what the hooks write: the verdict in the activity log
 * (pre-receive) and the accepted updates in the inbox (post-receive).
 * See hook.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "event.h"
#include "hook.h"
#include "pipeline.h"
#include "store.h"
#include "util.h"
#include "banned.h"

#define ACTIVITY_REF	"refs/flowgate/activity"
#define INBOX_REF	"refs/flowgate/inbox"

static const char *
short_name(const char *ref)
{
	if (strncmp(ref, "refs/heads/", 11) == 0)
		return ref + 11;
	return ref;
}

static const char *
stage_of(const struct fg_config *cfg, const char *ref)
{
	const struct fg_stage *st;

	if (cfg == NULL || strncmp(ref, "refs/heads/", 11) != 0)
		return NULL;
	st = fg_pipeline_stage_for_branch(cfg, ref);
	return st != NULL ? fg_stage_name(st->id) : NULL;
}

static bool
is_internal(const char *ref)
{
	return strncmp(ref, "refs/flowgate/", 14) == 0 ||
	    strncmp(ref, "refs/notes/", 11) == 0;
}

/* record.json's data for update u: the ref, ids, pusher, its issues. */
static cJSON *
verdict_json(const struct fg_rules_update *u, const struct fg_rules_result *r,
    const char *pusher, const char *status)
{
	cJSON *o = cJSON_CreateObject(), *a, *it;
	char hex[GIT_OID_HEXSZ + 1];
	size_t i;

	if (o == NULL)
		return NULL;
	a = cJSON_AddArrayToObject(o, "issues");
	if (cJSON_AddStringToObject(o, "ref", u->ref) == NULL ||
	    cJSON_AddStringToObject(o, "old",
	    git_oid_tostr(hex, sizeof(hex), &u->old_id)) == NULL ||
	    cJSON_AddStringToObject(o, "new",
	    git_oid_tostr(hex, sizeof(hex), &u->new_id)) == NULL ||
	    cJSON_AddStringToObject(o, "pusher", pusher) == NULL ||
	    cJSON_AddStringToObject(o, "status", status) == NULL ||
	    cJSON_AddNumberToObject(o, "new_commits",
	    (double)r->ncommits) == NULL ||
	    cJSON_AddNumberToObject(o, "issues_dropped",
	    (double)r->dropped) == NULL || a == NULL)
		goto fail;
	for (i = 0; i < r->n; i++) {
		const struct fg_rules_issue *is = &r->issues[i];

		if (strcmp(is->ref, u->ref) != 0)
			continue;
		it = cJSON_CreateObject();
		if (it == NULL || !cJSON_AddItemToArray(a, it))
			goto fail_item;
		if (cJSON_AddStringToObject(it, "rule", is->rule) == NULL ||
		    cJSON_AddStringToObject(it, "commit", is->commit) == NULL ||
		    cJSON_AddStringToObject(it, "subject",
		    is->subject) == NULL ||
		    cJSON_AddStringToObject(it, "finding",
		    is->finding) == NULL ||
		    cJSON_AddStringToObject(it, "fix", is->fix) == NULL)
			goto fail;
	}
	return o;
fail_item:
	cJSON_Delete(it);
fail:
	cJSON_Delete(o);
	return NULL;
}

int
fg_hook_record(struct fg_store *st, const struct fg_hook_push *p,
    const struct fg_rules_result *r, const struct fg_config *cfg,
    const char *pusher, struct fg_err *err)
{
	struct fg_record *recs = NULL;
	cJSON **data = NULL;
	char **subj = NULL, **body = NULL, (*hex)[GIT_OID_HEXSZ + 1] = NULL;
	size_t total = r->n + r->dropped, i, j, mine, n = 0;
	const char *status = total > 0 ? "refused" : "accepted";
	struct fg_buf b = FG_BUF_INIT;
	int rc = 0;

	if (p->n == 0)
		return 0;
	recs = calloc(p->n, sizeof(*recs));
	data = calloc(p->n, sizeof(*data));
	subj = calloc(p->n, sizeof(*subj));
	body = calloc(p->n, sizeof(*body));
	hex = calloc(p->n, sizeof(*hex));
	if (recs == NULL || data == NULL || subj == NULL || body == NULL ||
	    hex == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < p->n && n < FG_STORE_BATCH_MAX; i++, n++) {
		const struct fg_rules_update *u = &p->v[i];

		mine = 0;
		fg_buf_reset(&b);
		for (j = 0; j < r->n && rc == 0; j++) {
			if (strcmp(r->issues[j].ref, u->ref) != 0)
				continue;
			mine++;
			rc = fg_rules_issue_format(&b, &r->issues[j]);
			if (rc == 0)
				rc = fg_buf_putc(&b, '\n');
		}
		if (rc == 0 && r->dropped > 0)
			rc = fg_buf_printf(&b, "... and %zu more issues\n",
			    r->dropped);
		body[i] = rc == 0 ? fg_buf_detach(&b, NULL) : NULL;
		if (body[i] == NULL) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		if (total == 0)
			rc = fg_buf_printf(&b, "push %s by %s accepted",
			    short_name(u->ref), pusher);
		else if (mine > 0)
			rc = fg_buf_printf(&b, "push %s by %s refused: %zu "
			    "issue%s", short_name(u->ref), pusher, mine,
			    mine == 1 ? "" : "s");
		else
			rc = fg_buf_printf(&b, "push %s by %s refused with the "
			    "push: %zu issue%s on other refs",
			    short_name(u->ref), pusher, total,
			    total == 1 ? "" : "s");
		subj[i] = rc == 0 ? fg_buf_detach(&b, NULL) : NULL;
		if (subj[i] == NULL) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		data[i] = verdict_json(u, r, pusher, status);
		if (data[i] == NULL) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		recs[i].kind = "push";
		recs[i].subject = subj[i];
		recs[i].body = body[i];
		recs[i].stage = stage_of(cfg, u->ref);
		if (!git_oid_is_zero(&u->new_id))
			recs[i].commit = git_oid_tostr(hex[i], sizeof(hex[i]),
			    &u->new_id);
		recs[i].status = status;
		recs[i].actor_name = pusher;
		recs[i].data = data[i];
	}
	rc = fg_store_append_batch(NULL, st, ACTIVITY_REF, recs, n, err);
out:
	for (i = 0; i < p->n; i++) {
		if (data != NULL)
			cJSON_Delete(data[i]);
		if (subj != NULL)
			free(subj[i]);
		if (body != NULL)
			free(body[i]);
	}
	free(recs);
	free(data);
	free(subj);
	free(body);
	free(hex);
	fg_buf_release(&b);
	return rc;
}

/* Append s[0..n) to out (room for size) as a name component. */
static size_t
put_component(char *out, size_t at, size_t size, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && at + 1 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		out[at++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-' ? (char)c : '-';
	}
	/* "." and ".." are not names. */
	if (n > 0 && n <= 2 && strspn(s, ".") >= n)
		out[at - 1] = '_';
	out[at] = '\0';
	return at;
}

void
fg_hook_repo_name(char *out, size_t size, const char *git_dir)
{
	const char *v = getenv("GL_REPO"), *owner = NULL;
	const char *end, *name, *oend, *ostart;
	size_t at = 0;

	if (size < 16)
		return;
	if (v == NULL || *v == '\0') {
		v = getenv("GITEA_REPO_NAME");
		owner = getenv("GITEA_REPO_USER_NAME");
	}
	if (v != NULL && *v != '\0') {
		/* "team/app" as the server names it; "app" alone: local/app. */
		const char *slash = strrchr(v, '/');

		if (slash == NULL && (owner == NULL || *owner == '\0'))
			owner = "local";
		if (slash != NULL) {
			at = put_component(out, at, size, v, (size_t)(slash - v));
			v = slash + 1;
		} else {
			at = put_component(out, at, size, owner, strlen(owner));
		}
		out[at++] = '/';
		at = put_component(out, at, size, v, strlen(v));
		return;
	}
	/* The last two components of the path, without ".git". */
	end = git_dir + strlen(git_dir);
	while (end > git_dir && end[-1] == '/')
		end--;
	if (end - git_dir >= 5 && memcmp(end - 5, "/.git", 5) == 0)
		end -= 5;
	else if (end - git_dir > 4 && memcmp(end - 4, ".git", 4) == 0)
		end -= 4;
	name = end;
	while (name > git_dir && name[-1] != '/')
		name--;
	oend = name;
	while (oend > git_dir && oend[-1] == '/')
		oend--;
	ostart = oend;
	while (ostart > git_dir && ostart[-1] != '/')
		ostart--;
	if (oend > ostart)
		at = put_component(out, at, size, ostart,
		    (size_t)(oend - ostart));
	else
		at = put_component(out, at, size, "local", 5);
	out[at++] = '/';
	if (end > name)
		put_component(out, at, size, name, (size_t)(end - name));
	else
		put_component(out, at, size, "repo", 4);
}

/* count_commits() when the count is not cheap to know. */
#define COUNT_UNKNOWN	((size_t)-1)

/* How many commits old..new holds by a revision walk, up to max. */
static size_t
walk_count(git_repository *repo, const git_oid *old_id,
    const git_oid *new_id, size_t max)
{
	git_revwalk *w = NULL;
	git_oid id;
	size_t n = 0;

	if (git_revwalk_new(&w, repo) < 0)
		return 0;
	if (git_revwalk_push(w, new_id) == 0 &&
	    git_revwalk_hide(w, old_id) == 0) {
		while (n < max && git_revwalk_next(&id, w) == 0)
			n++;
	}
	git_revwalk_free(w);
	return n;
}

/*
 * How many commits old..new holds, up to max; 0 for a created ref;
 * COUNT_UNKNOWN when that is not cheap to know.
 *
 * A revision walk that hides old must reach old before it can say
 * anything, so it reads every commit of the push: 10,000 of them cost
 * more than the rest of post-receive.  The usual push is a fast-forward
 * of a linear history, which the first-parent chain from new answers
 * exactly when it meets old within max commits.  A merge or a chain that
 * ends without meeting old (a rewrite) is counted by the walk, at most
 * max; a linear chain longer than max is not counted at all (the caller
 * names the range instead), because without walking to old nothing says
 * that those commits are not old's too.
 */
static size_t
count_commits(git_repository *repo, const git_oid *old_id,
    const git_oid *new_id, size_t max)
{
	git_commit *c = NULL;
	git_oid id;
	size_t n = 0, np;

	if (git_oid_is_zero(old_id) || git_oid_is_zero(new_id))
		return 0;
	git_oid_cpy(&id, new_id);
	while (!git_oid_equal(&id, old_id)) {
		if (n == max)
			return COUNT_UNKNOWN;
		if (git_commit_lookup(&c, repo, &id) < 0)
			return 0;
		np = git_commit_parentcount(c);
		if (np == 1)
			git_oid_cpy(&id, git_commit_parent_id(c, 0));
		git_commit_free(c);
		if (np != 1)
			return walk_count(repo, old_id, new_id, max);
		n++;
	}
	return n;
}

static enum fg_event_kind
event_kind(const struct fg_rules_update *u)
{
	bool created = git_oid_is_zero(&u->old_id);
	bool deleted = git_oid_is_zero(&u->new_id);

	if (strncmp(u->ref, "refs/tags/", 10) == 0 && (created || deleted))
		return created ? FG_EVENT_TAG_CREATED : FG_EVENT_TAG_DELETED;
	if (strncmp(u->ref, "refs/heads/", 11) == 0 && (created || deleted))
		return created ? FG_EVENT_BRANCH_CREATED :
		    FG_EVENT_BRANCH_DELETED;
	return FG_EVENT_PUSH;
}

/* event.json text for update u; NULL with err set when it cannot be. */
static char *
event_text(const struct fg_rules_update *u, const char *repo_name,
    const char *pusher, const char *delivery, int64_t now,
    struct fg_err *err)
{
	struct fg_event ev = FG_EVENT_INIT;
	char oldhex[GIT_OID_HEXSZ + 1], newhex[GIT_OID_HEXSZ + 1];
	cJSON *j = NULL;
	char *text = NULL;

	fg_event_init(&ev);
	ev.source = FG_FORGE_HOOK;
	ev.kind = event_kind(u);
	ev.time = now;
	git_oid_tostr(oldhex, sizeof(oldhex), &u->old_id);
	git_oid_tostr(newhex, sizeof(newhex), &u->new_id);
	if (fg_event_set(&ev, FG_EVENT_F_EVENT, "push", err) < 0 ||
	    fg_event_set(&ev, FG_EVENT_F_REPO, repo_name, err) < 0 ||
	    fg_event_set(&ev, FG_EVENT_F_REF, u->ref, err) < 0 ||
	    fg_event_set(&ev, FG_EVENT_F_OLD, oldhex, err) < 0 ||
	    fg_event_set(&ev, FG_EVENT_F_NEW, newhex, err) < 0 ||
	    fg_event_set(&ev, FG_EVENT_F_DELIVERY, delivery, err) < 0)
		goto out;
	/* A pusher name git cannot carry is recorded as unknown. */
	if (fg_event_set(&ev, FG_EVENT_F_ACTOR, pusher, NULL) < 0 &&
	    fg_event_set(&ev, FG_EVENT_F_ACTOR, FG_HOOK_UNKNOWN_PUSHER,
	    err) < 0)
		goto out;
	if (fg_event_check(&ev, err) < 0 ||
	    fg_event_to_json(&j, &ev, err) < 0)
		goto out;
	text = cJSON_PrintUnformatted(j);
	if (text == NULL)
		fg_err_set(err, FG_ENOMEM, "out of memory");
out:
	cJSON_Delete(j);
	fg_event_release(&ev);
	return text;
}

/*
 * The keys that add {ref, pusher, time, event} to the "pushes" note on
 * u's new tip: the note's current "pushes" array (read from st, or from
 * prev when this push already noted that tip) with the entry appended.
 * NULL with err set on failure.
 */
static cJSON *
push_keys(struct fg_store *st, const cJSON *prev,
    const struct fg_rules_update *u, const char *pusher, int64_t now,
    const char *event_hex, struct fg_err *err)
{
	cJSON *note = NULL, *keys = NULL, *arr = NULL, *item;
	char when[32];
	int rc = 0;

	if (prev != NULL) {
		arr = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(prev,
		    "pushes"), 1);
	} else {
		rc = fg_store_note_get(&note, st, &u->new_id, err);
		if (rc == FG_ENOTFOUND)
			rc = 0;
		if (rc < 0)
			goto out;
		arr = note != NULL ? cJSON_DetachItemFromObjectCaseSensitive(
		    note, "pushes") : NULL;
	}
	if (arr != NULL && !cJSON_IsArray(arr)) {
		cJSON_Delete(arr);
		arr = NULL;
	}
	if (arr == NULL)
		arr = cJSON_CreateArray();
	keys = cJSON_CreateObject();
	if (keys == NULL || arr == NULL ||
	    !cJSON_AddItemToObject(keys, "pushes", arr)) {
		cJSON_Delete(arr);
		goto nomem;
	}
	item = cJSON_CreateObject();
	if (item == NULL || !cJSON_AddItemToArray(arr, item)) {
		cJSON_Delete(item);
		goto nomem;
	}
	fg_format_utc(when, sizeof(when), now);
	if (cJSON_AddStringToObject(item, "ref", u->ref) == NULL ||
	    cJSON_AddStringToObject(item, "pusher", pusher) == NULL ||
	    cJSON_AddStringToObject(item, "time", when) == NULL ||
	    cJSON_AddStringToObject(item, "event", event_hex) == NULL)
		goto nomem;
	goto out;
nomem:
	rc = fg_err_set(err, FG_ENOMEM, "out of memory");
out:
	cJSON_Delete(note);
	if (rc < 0) {
		cJSON_Delete(keys);
		keys = NULL;
	}
	return keys;
}

/* What the notes callback of fg_hook_queue needs. */
struct queued {
	struct fg_store *st;
	const struct fg_rules_update **which;	/* each record's update */
	const char *pusher;
	int64_t now;
};

/*
 * fg_store_notes_fn: the "pushes" note of each pushed branch tip, called
 * with the inbox records' ids (the events) and the notes ref locked.
 */
static int
queued_notes(struct fg_store_note *notes, size_t *nnotes, size_t max,
    const git_oid *ids, size_t n, void *arg, struct fg_err *err)
{
	const struct queued *q = arg;
	char ev_hex[GIT_OID_HEXSZ + 1];
	const cJSON *prev;
	cJSON *keys;
	size_t i, j;

	for (i = 0; i < n && *nnotes < max && *nnotes < FG_HOOK_NOTES_MAX;
	    i++) {
		const struct fg_rules_update *u = q->which[i];

		if (git_oid_is_zero(&u->new_id) ||
		    strncmp(u->ref, "refs/heads/", 11) != 0)
			continue;
		/* Two branches pushed to one commit: one note, both entries. */
		prev = NULL;
		for (j = 0; j < *nnotes && prev == NULL; j++) {
			if (git_oid_equal(&notes[j].target, &u->new_id))
				prev = notes[j].keys;
		}
		git_oid_tostr(ev_hex, sizeof(ev_hex), &ids[i]);
		keys = push_keys(q->st, prev, u, q->pusher, q->now, ev_hex,
		    err);
		if (keys == NULL)
			return err != NULL && err->code < 0 ? err->code :
			    FG_ENOMEM;
		notes[*nnotes].target = u->new_id;
		notes[*nnotes].keys = keys;
		(*nnotes)++;
	}
	return 0;
}

int
fg_hook_queue(struct fg_buf *msg, struct fg_store *st,
    const struct fg_hook_push *p, const struct fg_config *cfg,
    const char *pusher, const char *repo_name, struct fg_err *err)
{
	git_repository *repo = fg_store_repo(st);
	struct fg_record *recs = NULL;
	struct fg_file *files = NULL;
	const struct fg_rules_update **which = NULL;
	char **texts = NULL, **payloads = NULL, **subj = NULL;
	char (*ids)[80] = NULL, hex[GIT_OID_HEXSZ + 1], ev_hex[GIT_OID_HEXSZ + 1];
	char oldhex[GIT_OID_HEXSZ + 1];
	git_oid *out_ids = NULL;
	int64_t now = fg_now();
	struct queued q;
	size_t i, n = 0;
	int rc = 0;

	recs = calloc(p->n + 1, sizeof(*recs));
	files = calloc(2 * p->n + 1, sizeof(*files));
	which = calloc(p->n + 1, sizeof(*which));
	texts = calloc(p->n + 1, sizeof(*texts));
	payloads = calloc(p->n + 1, sizeof(*payloads));
	subj = calloc(p->n + 1, sizeof(*subj));
	ids = calloc(p->n + 1, sizeof(*ids));
	out_ids = calloc(p->n + 1, sizeof(*out_ids));
	if (recs == NULL || files == NULL || which == NULL || texts == NULL ||
	    payloads == NULL || subj == NULL || ids == NULL ||
	    out_ids == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < p->n && n < FG_STORE_BATCH_MAX; i++) {
		const struct fg_rules_update *u = &p->v[i];
		struct fg_buf b = FG_BUF_INIT;

		if (is_internal(u->ref))
			continue;
		git_oid_tostr(hex, sizeof(hex), &u->new_id);
		git_oid_tostr(oldhex, sizeof(oldhex), &u->old_id);
		snprintf(ids[n], sizeof(ids[n]), "hook-%lld-%ld-%zu-%.12s",
		    (long long)now, (long)getpid(), i, hex);
		texts[n] = event_text(u, repo_name, pusher, ids[n], now, err);
		if (texts[n] == NULL) {
			rc = err != NULL && err->code < 0 ? err->code :
			    FG_EINVALID;
			goto out;
		}
		rc = fg_buf_printf(&b, "%s %s %s\n", oldhex, hex, u->ref);
		payloads[n] = rc == 0 ? fg_buf_detach(&b, NULL) : NULL;
		if (payloads[n] != NULL)
			rc = fg_buf_printf(&b, "%s %s by %s: %.7s..%.7s",
			    fg_event_kind_name(event_kind(u)),
			    short_name(u->ref), pusher, oldhex, hex);
		subj[n] = payloads[n] != NULL && rc == 0 ?
		    fg_buf_detach(&b, NULL) : NULL;
		fg_buf_release(&b);
		if (subj[n] == NULL) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		files[2 * n].name = "event.json";
		files[2 * n].data = texts[n];
		files[2 * n].len = strlen(texts[n]);
		files[2 * n + 1].name = "payload";
		files[2 * n + 1].data = payloads[n];
		files[2 * n + 1].len = strlen(payloads[n]);
		recs[n].kind = "delivery";
		recs[n].subject = subj[n];
		recs[n].delivery = ids[n];
		recs[n].event = fg_event_kind_name(event_kind(u));
		recs[n].stage = stage_of(cfg, u->ref);
		recs[n].time = now;
		recs[n].actor_name = pusher;
		recs[n].files = &files[2 * n];
		recs[n].nfiles = 2;
		recs[n].no_record_json = true;
		which[n] = u;
		n++;
	}
	if (n == 0)
		goto out;
	q.st = st;
	q.which = which;
	q.pusher = pusher;
	q.now = now;
	rc = fg_store_append_batch_noted(out_ids, st, INBOX_REF, recs, n,
	    queued_notes, &q, pusher, err);
	if (rc < 0)
		goto out;
	for (i = 0; i < n; i++) {
		const struct fg_rules_update *u = which[i];
		const char *stage = stage_of(cfg, u->ref);
		const char *name = stage != NULL ? stage : short_name(u->ref);
		size_t c;

		git_oid_tostr(ev_hex, sizeof(ev_hex), &out_ids[i]);
		if (git_oid_is_zero(&u->new_id)) {
			rc = fg_buf_printf(msg, "%s: deleted, queued as event "
			    "%.7s\n", name, ev_hex);
		} else if (git_oid_is_zero(&u->old_id)) {
			git_oid_tostr(hex, sizeof(hex), &u->new_id);
			rc = fg_buf_printf(msg, "%s: created at %.7s, queued as "
			    "event %.7s\n", name, hex, ev_hex);
		} else {
			c = count_commits(repo, &u->old_id, &u->new_id,
			    FG_HOOK_COUNT_MAX);
			git_oid_tostr(hex, sizeof(hex), &u->new_id);
			if (c == COUNT_UNKNOWN)
				rc = fg_buf_printf(msg, "%s: %.7s..%.7s "
				    "accepted, queued as event %.7s\n", name,
				    git_oid_tostr(oldhex, sizeof(oldhex),
				    &u->old_id), hex, ev_hex);
			else
				rc = fg_buf_printf(msg, "%s: %s%zu commit%s "
				    "accepted, queued as event %.7s\n", name,
				    c >= FG_HOOK_COUNT_MAX ? "at least " : "",
				    c, c == 1 ? "" : "s", ev_hex);
		}
		if (rc < 0) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
	}
out:
	for (i = 0; i < p->n; i++) {
		if (texts != NULL)
			cJSON_free(texts[i]);
		if (payloads != NULL)
			free(payloads[i]);
		if (subj != NULL)
			free(subj[i]);
	}
	free(recs);
	free(files);
	free(which);
	free(texts);
	free(payloads);
	free(subj);
	free(ids);
	free(out_ids);
	return rc;
}
