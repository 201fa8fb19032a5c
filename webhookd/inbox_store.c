/*
 * inbox_store.c - the inbox's calls into lib/store (see inbox.h).
 *
 * This is the only file of the intake that knows how deliveries are laid
 * out in the repository: one commit per delivery on refs/flowgate/inbox,
 * its tree holding event.json and payload, its message a readable subject
 * and the Flowgate-Delivery and Flowgate-Event trailers, and for a signed
 * body Flowgate-Signed-Body (see inbox.h, Duplicates); a batch is
 * built a delivery at a time with fg_store_batch_add and committed with
 * fg_store_batch_commit (one pack, one ref update, fsync).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "inbox.h"
#include "log.h"
#include "store.h"
#include "util.h"
#include "banned.h"

#define INBOX_REF "refs/flowgate/inbox"
#define BODY_KEY_TRAILER "Flowgate-Signed-Body"

static int
open_cached(struct fg_store **out, void **cache, const char *path,
    struct fg_err *err)
{
	struct fg_store *st;
	int rc;

	if (*cache != NULL) {
		*out = *cache;
		return 0;
	}
	rc = fg_store_open(&st, path, FG_STORE_JOURNAL | FG_STORE_NO_MAINTAIN,
	    err);
	if (rc < 0)
		return rc;
	*cache = st;
	*out = st;
	return 0;
}

int
whd_store_begin(void **batch, void **cache, const char *path,
    struct fg_err *err)
{
	struct fg_store_batch *b;
	struct fg_store *st;
	int rc;

	*batch = NULL;
	rc = open_cached(&st, cache, path, err);
	if (rc == 0)
		rc = fg_store_batch_new(&b, st, err);
	if (rc < 0)
		return rc;
	*batch = b;
	return 0;
}

int
whd_store_stage(void *batch, const struct whd_delivery *d, struct fg_err *err)
{
	struct fg_buf subject = FG_BUF_INIT;
	struct fg_record rec;
	struct fg_file files[2];
	struct fg_trailer trailer;
	int rc;

	if (fg_buf_printf(&subject, "delivery %s: %s", d->kind, d->repo) < 0)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	memset(&rec, 0, sizeof(rec));
	files[0].name = "event.json";
	files[0].data = d->event_json;
	files[0].len = strlen(d->event_json);
	files[1].name = "payload";
	files[1].data = d->body;
	files[1].len = d->len;
	rec.kind = "delivery";
	rec.subject = subject.ptr;
	rec.delivery = d->id;
	rec.event = d->kind;
	rec.time = d->time;
	rec.actor_name = "flowgate-webhookd";
	rec.files = files;
	rec.nfiles = 2;
	rec.no_record_json = true;
	if (d->body_key[0] != '\0') {
		trailer.key = BODY_KEY_TRAILER;
		trailer.value = d->body_key;
		rec.trailers = &trailer;
		rec.ntrailers = 1;
	}
	rc = fg_store_batch_add(batch, &rec, err);
	fg_buf_release(&subject);
	return rc;
}

int
whd_store_commit(char commit[41], struct whd_handoff *h, void *batch,
    void **cache, struct fg_err *err)
{
	struct fg_store_batch *b = batch;
	struct fg_store *st = *cache;
	size_t n = fg_store_batch_count(b);
	git_oid *ids;
	int rc;

	ids = calloc(n > 0 ? n : 1, sizeof(*ids));
	if (ids == NULL)
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
	else
		rc = fg_store_batch_commit(ids, b, INBOX_REF, NULL, NULL, NULL,
		    err);
	fg_store_batch_free(b);
	if (rc < 0) {
		/* A handle that failed is reopened next time. */
		fg_store_free(*cache);
		*cache = NULL;
		goto out;
	}
	git_oid_tostr(commit, 41, &ids[n - 1]);
	if (h != NULL) {
		memcpy(h->ids, ids, n * sizeof(*ids));
		h->have_parent = fg_store_batch_parent(&h->parent, st);
	}
out:
	free(ids);
	return rc;
}

void
whd_store_abort(void *batch)
{
	fg_store_batch_free(batch);
}

int
whd_store_seen(void **cache, const char *path, size_t max,
    void (*fn)(const char *id, const char *body_key, void *payload),
    void *payload, struct fg_err *err)
{
	struct fg_store_query q;
	const struct fg_store_entry *e;
	struct fg_store_iter *it = NULL;
	struct fg_store *st;
	const char *id, *key;
	int rc;

	rc = open_cached(&st, cache, path, err);
	if (rc < 0)
		return rc;
	memset(&q, 0, sizeof(q));
	q.limit = max;
	rc = fg_store_iter_new(&it, st, INBOX_REF, &q, err);
	while (rc == 0) {
		rc = fg_store_iter_next(&e, it, err);
		if (rc < 0 || e == NULL)
			break;
		id = fg_store_entry_get(e, "Flowgate-Delivery");
		key = fg_store_entry_get(e, BODY_KEY_TRAILER);
		if (id != NULL || key != NULL)
			fn(id, key, payload);
	}
	fg_store_iter_free(it);
	return rc;
}

int
whd_store_maintain(void **cache, const char *path, struct fg_err *err)
{
	struct fg_store *st;
	int rc;

	rc = open_cached(&st, cache, path, err);
	if (rc < 0)
		return rc;
	return fg_store_maintain(st, FG_STORE_LOOSE_DEFAULT, err);
}

void
whd_store_refresh(void *cache)
{
	if (cache != NULL)
		fg_store_refresh(cache);
}

void
whd_store_close(void *cache)
{
	fg_store_free(cache);
}

void
whd_store_replay(const char *repo, const char *path, void *arg)
{
	struct fg_err err = FG_ERR_INIT;

	(void)arg;
	if (fg_store_replay(path, &err) < 0)
		fg_log_warnx("event=journal_replay_failed repo=%s error=\"%s\"",
		    repo, err.msg);
}
