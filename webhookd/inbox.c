/*
 * inbox.c - the writer thread: group commits to refs/flowgate/inbox,
 * deduplication by delivery id and signed body, answers handed back to the loop (see
 * inbox.h).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "inbox.h"
#include "log.h"
#include "util.h"
#include "whd.h"
#include "worker.h"
#include "banned.h"

/*
 * The keys one repository has seen, of one sort (delivery ids, or signed
 * body keys): a chained hash and a FIFO ring.  A node and its key are one
 * allocation: up to FG_INBOX_SEEN_MAX of them stay in memory per set, and
 * a repository has two sets, so a replayed body is caught by its key
 * whatever delivery id it comes with (see inbox.h, Duplicates).
 */
struct seen_node {
	struct seen_node *chain;
	char id[];
};

#define SEEN_BUCKETS 16384
/* Group commits through one store handle before it is reopened. */
#define FG_INBOX_REOPEN 64

struct keyset {
	struct seen_node *buckets[SEEN_BUCKETS];
	struct seen_node **ring;	/* FG_INBOX_SEEN_MAX, oldest at pos */
	size_t pos, n;
};

struct seen {
	struct seen *next;
	char *path;
	void *store;			/* whd_store_* handle */
	unsigned appends;		/* through this handle */
	time_t maintained;		/* CLOCK_MONOTONIC seconds */
	struct keyset ids;		/* delivery ids */
	struct keyset bodies;		/* signed body keys */
};

struct whd_inbox {
	struct whd *d;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct whd_delivery *head, *tail;
	size_t n;
	uint64_t bytes;
	int batch_max;
	uint64_t queue_max;
	bool stop;
	size_t last_batch;		/* deliveries in the last batch */
	/*
	 * Queue length at which submit wakes the writer: 1 while it waits
	 * for work, the linger target while it lingers, SIZE_MAX while it
	 * writes.  A wake-up per delivery would cost the writer two context
	 * switches each time only to find it should go on waiting.
	 */
	size_t wake_at;
	struct seen *seen;		/* writer thread only */
	atomic_uint_fast64_t commits, delivered;
};

void
whd_delivery_free(struct whd_delivery *d)
{
	if (d == NULL)
		return;
	free(d->repo);
	free(d->path);
	free(d->id);
	free(d->kind);
	free(d->event_json);
	free(d->body);
	free(d);
}

static size_t
delivery_bytes(const struct whd_delivery *d)
{
	return d->len + (d->event_json != NULL ? strlen(d->event_json) : 0) +
	    sizeof(*d);
}

static uint32_t
hash_id(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static bool
seen_has(const struct keyset *s, const char *id)
{
	const struct seen_node *n;

	for (n = s->buckets[hash_id(id) % SEEN_BUCKETS]; n != NULL;
	    n = n->chain)
		if (strcmp(n->id, id) == 0)
			return true;
	return false;
}

static void
seen_unlink(struct keyset *s, struct seen_node *node)
{
	struct seen_node **pp = &s->buckets[hash_id(node->id) % SEEN_BUCKETS];

	while (*pp != NULL && *pp != node)
		pp = &(*pp)->chain;
	if (*pp != NULL)
		*pp = node->chain;
	free(node);
}

/* Remember id, forgetting the oldest when full.  false: no memory. */
static bool
seen_add(struct keyset *s, const char *id)
{
	size_t len = strlen(id), slot;
	struct seen_node *node = malloc(sizeof(*node) + len + 1);

	if (node == NULL)
		return false;
	node->chain = NULL;
	memcpy(node->id, id, len + 1);
	if (s->n == FG_INBOX_SEEN_MAX) {
		seen_unlink(s, s->ring[s->pos]);
		s->ring[s->pos] = NULL;
		s->pos = (s->pos + 1) % FG_INBOX_SEEN_MAX;
		s->n--;
	}
	slot = (s->pos + s->n) % FG_INBOX_SEEN_MAX;
	s->ring[slot] = node;
	s->n++;
	node->chain = s->buckets[hash_id(id) % SEEN_BUCKETS];
	s->buckets[hash_id(id) % SEEN_BUCKETS] = node;
	return true;
}

/* Forget the newest key (its append failed). */
static void
seen_drop_newest(struct keyset *s)
{
	size_t slot;

	if (s->n == 0)
		return;
	slot = (s->pos + s->n - 1) % FG_INBOX_SEEN_MAX;
	seen_unlink(s, s->ring[slot]);
	s->ring[slot] = NULL;
	s->n--;
}

static void
keyset_release(struct keyset *s)
{
	size_t i;

	for (i = 0; s->ring != NULL && i < s->n; i++)
		seen_unlink(s, s->ring[(s->pos + i) % FG_INBOX_SEEN_MAX]);
	free(s->ring);
	s->ring = NULL;
	s->n = 0;
}

static void
seen_free(struct seen *s)
{
	if (s == NULL)
		return;
	keyset_release(&s->ids);
	keyset_release(&s->bodies);
	whd_store_close(s->store);
	free(s->path);
	free(s);
}

/*
 * One inbox record's keys, oldest last: the store walks newest first, so
 * a key already in a set is left where it is (the newer record put it
 * there), and a set that is full takes no more.
 */
static void
seen_load_one(const char *id, const char *body_key, void *payload)
{
	struct seen *s = payload;

	if (id != NULL && s->ids.n < FG_INBOX_SEEN_MAX &&
	    !seen_has(&s->ids, id))
		seen_add(&s->ids, id);
	if (body_key != NULL && s->bodies.n < FG_INBOX_SEEN_MAX &&
	    !seen_has(&s->bodies, body_key))
		seen_add(&s->bodies, body_key);
}

/*
 * The seen set of path, loaded from the inbox the first time.  NULL with
 * err set when the inbox cannot be read or memory runs out.
 */
static struct seen *
seen_get(struct whd_inbox *in, const char *path, struct fg_err *err)
{
	struct seen *s;

	for (s = in->seen; s != NULL; s = s->next)
		if (strcmp(s->path, path) == 0)
			return s;
	s = calloc(1, sizeof(*s));
	if (s != NULL) {
		s->path = fg_strdup(path);
		s->ids.ring = calloc(FG_INBOX_SEEN_MAX, sizeof(*s->ids.ring));
		s->bodies.ring = calloc(FG_INBOX_SEEN_MAX,
		    sizeof(*s->bodies.ring));
	}
	if (s == NULL || s->path == NULL || s->ids.ring == NULL ||
	    s->bodies.ring == NULL) {
		seen_free(s);
		fg_err_set(err, FG_ENOMEM, "out of memory");
		return NULL;
	}
	if (whd_store_seen(&s->store, path, FG_INBOX_SEEN_MAX, seen_load_one, s,
	    err) < 0) {
		seen_free(s);
		return NULL;
	}
	s->next = in->seen;
	in->seen = s;
	return s;
}

static void
batch_done_run(void *payload)
{
	struct whd_delivery *d, *next;

	for (d = payload; d != NULL; d = next) {
		next = d->next;
		d->next = NULL;
		d->done(d, d->arg);
	}
}

/*
 * The batch v[0..n) as handed over to the engine once it is durable: a
 * copy of each event (the deliveries go back to the loop), the commit ids
 * to come.  NULL when out of memory: the engine reads the batch back.
 */
static struct whd_handoff *
handoff_new(struct whd_delivery **v, size_t n)
{
	struct whd_handoff *h;
	size_t i;

	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	h->n = n;
	h->ids = calloc(n, sizeof(*h->ids));
	h->events = calloc(n, sizeof(*h->events));
	if (h->ids == NULL || h->events == NULL)
		goto fail;
	h->bytes = sizeof(*h) + n * (sizeof(*h->ids) + sizeof(*h->events));
	for (i = 0; i < n; i++) {
		h->events[i] = fg_strdup(v[i]->event_json);
		if (h->events[i] == NULL)
			goto fail;
		h->bytes += strlen(h->events[i]) + 1;
	}
	return h;
fail:
	whd_handoff_free(h);
	return NULL;
}

/*
 * Write the deliveries of one repository (v, n of them, in arrival order)
 * that are not duplicates as one inbox commit.
 */
static void
write_repo(struct whd_inbox *in, struct whd_delivery **v, size_t n)
{
	struct whd_delivery **fresh = NULL;
	struct whd_handoff *h = NULL;
	struct fg_err err = FG_ERR_INIT;
	char commit[41] = "";
	const char *key;
	struct seen *s;
	size_t i, nfresh = 0;
	int rc;

	s = seen_get(in, v[0]->path, &err);
	fresh = calloc(n, sizeof(*fresh));
	if (s == NULL || fresh == NULL) {
		if (fresh == NULL)
			fg_err_set(&err, FG_ENOMEM, "out of memory");
		for (i = 0; i < n; i++) {
			v[i]->result = WHD_FAILED;
			v[i]->err = err;
		}
		goto out;
	}
	for (i = 0; i < n; i++) {
		key = v[i]->body_key[0] != '\0' ? v[i]->body_key : NULL;
		if (seen_has(&s->ids, v[i]->id)) {
			v[i]->result = WHD_DUPLICATE;
			continue;
		}
		/*
		 * A signed body seen before under another delivery id (or
		 * event header, which the signature does not cover either)
		 * is a replay, or a forge sending the same thing twice:
		 * recorded once all the same.
		 */
		if (key != NULL && seen_has(&s->bodies, key)) {
			v[i]->result = WHD_DUPLICATE;
			fg_log_info("event=delivery_duplicate_body repo=%s "
			    "delivery=%s", v[i]->repo, v[i]->id);
			continue;
		}
		if (!seen_add(&s->ids, v[i]->id)) {
			v[i]->result = WHD_FAILED;
			fg_err_set(&v[i]->err, FG_ENOMEM, "out of memory");
			continue;
		}
		if (key != NULL && !seen_add(&s->bodies, key)) {
			seen_drop_newest(&s->ids);
			v[i]->result = WHD_FAILED;
			fg_err_set(&v[i]->err, FG_ENOMEM, "out of memory");
			continue;
		}
		fresh[nfresh++] = v[i];
	}
	if (nfresh == 0)
		goto out;
	h = handoff_new(fresh, nfresh);
	rc = whd_store_append(commit, h, &s->store, fresh[0]->path, fresh,
	    nfresh, &err);
	for (i = 0; i < nfresh; i++) {
		if (rc < 0) {
			fresh[i]->result = WHD_FAILED;
			fresh[i]->err = err;
		} else {
			fresh[i]->result = WHD_ACCEPTED;
			memcpy(fresh[i]->commit, commit, sizeof(commit));
		}
	}
	if (rc < 0) {
		fg_log_warnx("event=inbox_write_failed repo=%s deliveries=%zu "
		    "error=\"%s\"", fresh[0]->repo, nfresh, err.msg);
		for (i = 0; i < nfresh; i++) {
			seen_drop_newest(&s->ids);
			if (fresh[i]->body_key[0] != '\0')
				seen_drop_newest(&s->bodies);
		}
	} else {
		atomic_fetch_add(&in->commits, 1);
		/*
		 * Packs the store rolls up stay mapped by a handle that saw
		 * them, deleted or not: a fresh handle now and then keeps
		 * the resident size from creeping up.
		 */
		if (++s->appends % FG_INBOX_REOPEN == 0) {
			whd_store_close(s->store);
			s->store = NULL;
		}
		atomic_fetch_add(&in->delivered, nfresh);
		whd_workers_handoff(in->d->workers, fresh[0]->repo,
		    fresh[0]->path, nfresh, h);
		h = NULL;
	}
out:
	whd_handoff_free(h);
	free(fresh);
}

/*
 * Write one batch: group its deliveries by repository (keeping each
 * repository's arrival order), one commit per repository.
 */
static void
write_batch(struct whd_inbox *in, struct whd_delivery *head, size_t n)
{
	struct whd_delivery **all, **group, *d;
	bool *taken;
	size_t i, j, k, ng;

	all = calloc(n, sizeof(*all));
	group = calloc(n, sizeof(*group));
	taken = calloc(n, sizeof(*taken));
	for (i = 0, d = head; d != NULL && all != NULL; d = d->next)
		all[i++] = d;
	for (i = 0; all != NULL && group != NULL && taken != NULL && i < n;
	    i++) {
		if (taken[i])
			continue;
		ng = 0;
		for (j = i; j < n; j++) {
			if (taken[j] || strcmp(all[j]->path, all[i]->path) != 0)
				continue;
			taken[j] = true;
			group[ng++] = all[j];
		}
		write_repo(in, group, ng);
	}
	if (all == NULL || group == NULL || taken == NULL) {
		for (k = 0, d = head; d != NULL; d = d->next, k++) {
			d->result = WHD_FAILED;
			fg_err_set(&d->err, FG_ENOMEM, "out of memory");
		}
	}
	free(all);
	free(group);
	free(taken);
}

/*
 * With fewer deliveries waiting than the last batch had, give the others
 * a moment (at most FG_INBOX_LINGER_US) to arrive: every group commit
 * costs a few file creations and fsyncs whatever its size, so a fuller
 * batch is cheaper per delivery, and under a steady load the requests
 * answered by the last batch come back within that moment.  Called with
 * in->mu held.
 */
static void
linger(struct whd_inbox *in)
{
	struct timespec until;
	long ns;

	if (in->n >= in->last_batch || in->n >= (size_t)in->batch_max ||
	    in->stop)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	ns = until.tv_nsec + FG_INBOX_LINGER_US * 1000L;
	until.tv_sec += ns / 1000000000L;
	until.tv_nsec = ns % 1000000000L;
	in->wake_at = in->last_batch;
	while (in->n < in->last_batch && !in->stop)
		if (pthread_cond_timedwait(&in->cv, &in->mu, &until) != 0)
			break;
}

static time_t
mono_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/*
 * Maintain the repositories the writer knows whose turn has come (see
 * whd_store_maintain): one of them per call, so that deliveries arriving
 * meanwhile wait for one repository's maintenance at most.  Called without
 * in->mu, when nothing was waiting.
 */
static void
maintain_one(struct whd_inbox *in)
{
	struct fg_err err = FG_ERR_INIT;
	time_t now = mono_secs();
	struct seen *s;

	for (s = in->seen; s != NULL; s = s->next) {
		if (s->maintained == 0)
			s->maintained = now;
		if (now - s->maintained < FG_INBOX_MAINTAIN_SECS)
			continue;
		s->maintained = now;
		if (whd_store_maintain(&s->store, s->path, &err) < 0) {
			fg_log_warnx("event=inbox_maintain_failed path=%s "
			    "error=\"%s\"", s->path, err.msg);
			whd_store_close(s->store);
			s->store = NULL;
		}
		return;
	}
}

/* Wait for deliveries; now and then, when idle, maintain.  With in->mu. */
static void
wait_work(struct whd_inbox *in)
{
	struct timespec until;

	in->wake_at = 1;
	while (in->head == NULL && !in->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		if (pthread_cond_timedwait(&in->cv, &in->mu, &until) == 0 ||
		    in->head != NULL || in->stop)
			continue;
		pthread_mutex_unlock(&in->mu);
		maintain_one(in);
		pthread_mutex_lock(&in->mu);
	}
}

static void *
writer_main(void *arg)
{
	struct whd_inbox *in = arg;
	struct whd_delivery *head, *tail;
	uint64_t bytes;
	size_t n;

	pthread_setname_np(pthread_self(), "whd-inbox");
	for (;;) {
		pthread_mutex_lock(&in->mu);
		wait_work(in);
		if (in->head == NULL && in->stop) {
			pthread_mutex_unlock(&in->mu);
			break;
		}
		linger(in);
		in->wake_at = SIZE_MAX;
		head = tail = in->head;
		n = 1;
		bytes = delivery_bytes(head);
		while (tail->next != NULL && n < (size_t)in->batch_max) {
			tail = tail->next;
			bytes += delivery_bytes(tail);
			n++;
		}
		in->head = tail->next;
		in->last_batch = n;
		if (in->head == NULL)
			in->tail = NULL;
		tail->next = NULL;
		pthread_mutex_unlock(&in->mu);

		write_batch(in, head, n);

		pthread_mutex_lock(&in->mu);
		in->bytes -= bytes;
		in->n -= n;
		pthread_mutex_unlock(&in->mu);
		/* The batch travels back on its first delivery's node. */
		head->post.fn = batch_done_run;
		head->post.payload = head;
		whd_loop_post(in->d, &head->post);
	}
	return NULL;
}

int
whd_inbox_new(struct whd_inbox **out, struct whd *d, int batch_max,
    uint64_t queue_max, struct fg_err *err)
{
	struct whd_inbox *in;

	*out = NULL;
	in = calloc(1, sizeof(*in));
	if (in == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	in->d = d;
	in->batch_max = batch_max;
	in->queue_max = queue_max;
	in->wake_at = 1;
	pthread_mutex_init(&in->mu, NULL);
	pthread_cond_init(&in->cv, NULL);
	if (pthread_create(&in->thread, NULL, writer_main, in) != 0) {
		whd_inbox_free(in);
		return fg_err_set(err, FG_EIO, "cannot start the inbox "
		    "writer thread");
	}
	in->started = true;
	*out = in;
	return 0;
}

void
whd_inbox_set_limits(struct whd_inbox *in, int batch_max, uint64_t queue_max)
{
	pthread_mutex_lock(&in->mu);
	in->batch_max = batch_max;
	in->queue_max = queue_max;
	pthread_mutex_unlock(&in->mu);
}

int
whd_inbox_submit(struct whd_inbox *in, struct whd_delivery *d)
{
	uint64_t b = delivery_bytes(d);
	int rc = 0;

	d->next = NULL;
	d->result = WHD_PENDING;
	pthread_mutex_lock(&in->mu);
	if (in->stop) {
		rc = FG_EIO;
	} else if (in->bytes + b > in->queue_max && in->n > 0) {
		rc = FG_ELIMIT;
	} else {
		if (in->tail != NULL)
			in->tail->next = d;
		else
			in->head = d;
		in->tail = d;
		in->n++;
		in->bytes += b;
		if (in->n >= in->wake_at)
			pthread_cond_signal(&in->cv);
	}
	pthread_mutex_unlock(&in->mu);
	return rc;
}

void
whd_inbox_queued(struct whd_inbox *in, uint64_t *bytes, size_t *n)
{
	pthread_mutex_lock(&in->mu);
	*bytes = in->bytes;
	*n = in->n;
	pthread_mutex_unlock(&in->mu);
}

void
whd_inbox_stats(struct whd_inbox *in, uint64_t *commits,
    uint64_t *deliveries)
{
	*commits = atomic_load(&in->commits);
	*deliveries = atomic_load(&in->delivered);
}

void
whd_inbox_free(struct whd_inbox *in)
{
	struct seen *s, *next;

	if (in == NULL)
		return;
	pthread_mutex_lock(&in->mu);
	in->stop = true;
	pthread_cond_broadcast(&in->cv);
	pthread_mutex_unlock(&in->mu);
	if (in->started)
		pthread_join(in->thread, NULL);
	for (s = in->seen; s != NULL; s = next) {
		next = s->next;
		seen_free(s);
	}
	pthread_mutex_destroy(&in->mu);
	pthread_cond_destroy(&in->cv);
	free(in);
}
