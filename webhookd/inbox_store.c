/*
 * inbox_store.c - the inbox's calls into lib/store (see inbox.h).
 *
 * This is the only file of the intake that knows how deliveries are laid
 * out in the repository: one commit per delivery on refs/flowgate/inbox,
 * its tree holding event.json and payload, its message a readable subject
 * and the Flowgate-Delivery and Flowgate-Event trailers, and for a signed
 * body Flowgate-Signed-Body (see inbox.h, Duplicates); a batch is
 * appended with fg_store_append_batch (one pack, one ref update, fsync).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "inbox.h"
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
	rc = fg_store_open(&st, path, FG_STORE_FSYNC | FG_STORE_NO_MAINTAIN,
	    err);
	if (rc < 0)
		return rc;
	*cache = st;
	*out = st;
	return 0;
}

int
whd_store_append(char commit[41], struct whd_handoff *h, void **cache,
    const char *path, struct whd_delivery **v, size_t n, struct fg_err *err)
{
	struct fg_record *recs = NULL;
	struct fg_file *files = NULL;
	struct fg_trailer *trailers = NULL;
	git_oid *ids = NULL;
	char **subjects = NULL;
	struct fg_store *st;
	size_t i;
	int rc;

	rc = open_cached(&st, cache, path, err);
	if (rc < 0)
		return rc;
	recs = calloc(n, sizeof(*recs));
	files = calloc(2 * n, sizeof(*files));
	ids = calloc(n, sizeof(*ids));
	subjects = calloc(n, sizeof(*subjects));
	trailers = calloc(n, sizeof(*trailers));
	if (recs == NULL || files == NULL || ids == NULL || subjects == NULL ||
	    trailers == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct fg_buf b = FG_BUF_INIT;

		if (fg_buf_printf(&b, "delivery %s: %s", v[i]->kind,
		    v[i]->repo) < 0) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		subjects[i] = fg_buf_detach(&b, NULL);
		files[2 * i].name = "event.json";
		files[2 * i].data = v[i]->event_json;
		files[2 * i].len = strlen(v[i]->event_json);
		files[2 * i + 1].name = "payload";
		files[2 * i + 1].data = v[i]->body;
		files[2 * i + 1].len = v[i]->len;
		recs[i].kind = "delivery";
		recs[i].subject = subjects[i];
		recs[i].delivery = v[i]->id;
		recs[i].event = v[i]->kind;
		recs[i].time = v[i]->time;
		recs[i].actor_name = "flowgate-webhookd";
		recs[i].files = &files[2 * i];
		recs[i].nfiles = 2;
		recs[i].no_record_json = true;
		if (v[i]->body_key[0] != '\0') {
			trailers[i].key = BODY_KEY_TRAILER;
			trailers[i].value = v[i]->body_key;
			recs[i].trailers = &trailers[i];
			recs[i].ntrailers = 1;
		}
	}
	rc = fg_store_append_batch(ids, st, INBOX_REF, recs, n, err);
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
	for (i = 0; subjects != NULL && i < n; i++)
		free(subjects[i]);
	free(subjects);
	free(trailers);
	free(ids);
	free(files);
	free(recs);
	return rc;
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
whd_store_close(void *cache)
{
	fg_store_free(cache);
}
