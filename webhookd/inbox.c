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
#include "keyset.h"
#include "log.h"
#include "util.h"
#include "whd.h"
#include "worker.h"
#include "banned.h"

/* Group commits through one object database before it is reopened. */
#define FG_INBOX_REOPEN 64

/* A repository the writer knows, and the keys it has seen (inbox.h). */
struct seen {
	struct seen *next;
	char *path;
	void *store;			/* whd_store_* handle */
	unsigned appends;		/* through this handle */
	time_t maintained;		/* CLOCK_MONOTONIC seconds */
	struct fg_keyset ids;		/* delivery ids */
	struct fg_keyset bodies;	/* signed body keys */
};

struct whd_inbox {
	struct whd *d;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct whd_delivery *head, *tail;
	size_t n;			/* taken in, not yet answered */
	size_t nq;			/* of them, queued: not yet taken */
	uint64_t bytes;
	int batch_max;
	uint64_t queue_max;
	bool stop;
	size_t last_batch;		/* deliveries in the last batch */
	/*
	 * Queue length (nq) at which submit wakes the writer: 1 while it
	 * waits for work, a few while a round waits for more (see
	 * writer_main), SIZE_MAX while it stages or writes.
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

static void
seen_free(struct seen *s)
{
	if (s == NULL)
		return;
	fg_keyset_release(&s->ids);
	fg_keyset_release(&s->bodies);
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
	struct fg_key k;

	if (id != NULL && fg_keyset_count(&s->ids) < FG_INBOX_SEEN_MAX &&
	    fg_key_of(&k, id) && !fg_keyset_has(&s->ids, &k))
		fg_keyset_add(&s->ids, &k);
	if (body_key != NULL &&
	    fg_keyset_count(&s->bodies) < FG_INBOX_SEEN_MAX &&
	    fg_key_of(&k, body_key) && !fg_keyset_has(&s->bodies, &k))
		fg_keyset_add(&s->bodies, &k);
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
	if (s == NULL || (s->path = fg_strdup(path)) == NULL ||
	    !fg_keyset_init(&s->ids, FG_INBOX_SEEN_MAX) ||
	    !fg_keyset_init(&s->bodies, FG_INBOX_SEEN_MAX)) {
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
 * A round: the deliveries the writer takes between two commits, in the
 * order they arrived (linked through next), and one group per repository
 * they are for, with the batch its fresh deliveries are staged into.
 */
struct group {
	struct group *next;
	struct seen *s;
	void *batch;			/* whd_store_begin's, or NULL */
	struct fg_err err;		/* why there is no batch */
	struct whd_delivery **fresh;	/* staged, in order */
	size_t n, alloc;
};

struct round {
	struct whd_delivery *head, *tail;
	size_t n;
	uint64_t bytes;
	struct group *groups, *last;
};

/* The group of s in rd, made (and its batch begun) the first time. */
static struct group *
group_get(struct round *rd, struct seen *s)
{
	struct group *g;

	for (g = rd->groups; g != NULL; g = g->next)
		if (g->s == s)
			return g;
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return NULL;
	g->s = s;
	if (whd_store_begin(&g->batch, &s->store, s->path, &g->err) < 0)
		g->batch = NULL;
	if (rd->last != NULL)
		rd->last->next = g;
	else
		rd->groups = g;
	rd->last = g;
	return g;
}

/*
 * Stage delivery d into its repository's batch of the round, unless its
 * delivery id or signed body was seen before; d->result says what became
 * of it when it is not staged (PENDING while it is).
 */
static void
stage(struct whd_inbox *in, struct round *rd, struct whd_delivery *d)
{
	struct fg_err err = FG_ERR_INIT;
	struct whd_delivery **fresh;
	bool signed_body = d->body_key[0] != '\0';
	struct fg_key id, body;
	struct group *g;
	struct seen *s;
	size_t alloc;

	s = seen_get(in, d->path, &err);
	if (s == NULL) {
		d->result = WHD_FAILED;
		d->err = err;
		return;
	}
	if (!fg_key_of(&id, d->id) || (signed_body && !fg_key_of(&body,
	    d->body_key))) {
		d->result = WHD_FAILED;
		fg_err_set(&d->err, FG_ENOMEM, "out of memory");
		return;
	}
	if (fg_keyset_has(&s->ids, &id)) {
		d->result = WHD_DUPLICATE;
		return;
	}
	/*
	 * A signed body seen before under another delivery id (or event
	 * header, which the signature does not cover either) is a replay, or
	 * a forge sending the same thing twice: recorded once all the same.
	 */
	if (signed_body && fg_keyset_has(&s->bodies, &body)) {
		d->result = WHD_DUPLICATE;
		fg_log_info("event=delivery_duplicate_body repo=%s "
		    "delivery=%s", d->repo, d->id);
		return;
	}
	g = group_get(rd, s);
	if (g == NULL || g->batch == NULL) {
		d->result = WHD_FAILED;
		if (g == NULL)
			fg_err_set(&d->err, FG_ENOMEM, "out of memory");
		else
			d->err = g->err;
		return;
	}
	if (g->n == g->alloc) {
		alloc = g->alloc > 0 ? 2 * g->alloc : 32;
		fresh = realloc(g->fresh, alloc * sizeof(*fresh));
		if (fresh == NULL) {
			d->result = WHD_FAILED;
			fg_err_set(&d->err, FG_ENOMEM, "out of memory");
			return;
		}
		g->fresh = fresh;
		g->alloc = alloc;
	}
	fg_keyset_add(&s->ids, &id);
	if (signed_body)
		fg_keyset_add(&s->bodies, &body);
	if (whd_store_stage(g->batch, d, &d->err) < 0) {
		fg_log_warnx("event=inbox_write_failed repo=%s deliveries=1 "
		    "error=\"%s\"", d->repo, d->err.msg);
		fg_keyset_drop_newest(&s->ids);
		if (signed_body)
			fg_keyset_drop_newest(&s->bodies);
		d->result = WHD_FAILED;
		return;
	}
	g->fresh[g->n++] = d;
}

/*
 * Commit the deliveries staged in g as one inbox commit, hand them over
 * to the engine, and free g.
 */
static void
commit_group(struct whd_inbox *in, struct group *g)
{
	struct whd_delivery **fresh = g->fresh;
	struct whd_handoff *h = NULL;
	struct fg_err err = FG_ERR_INIT;
	struct seen *s = g->s;
	char commit[41] = "";
	size_t i, n = g->n;
	int rc;

	if (n == 0) {
		whd_store_abort(g->batch);
		goto out;
	}
	h = handoff_new(fresh, n);
	rc = whd_store_commit(commit, h, g->batch, &s->store, &err);
	for (i = 0; i < n; i++) {
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
		    "error=\"%s\"", fresh[0]->repo, n, err.msg);
		for (i = 0; i < n; i++) {
			fg_keyset_drop_newest(&s->ids);
			if (fresh[i]->body_key[0] != '\0')
				fg_keyset_drop_newest(&s->bodies);
		}
		goto out;
	}
	atomic_fetch_add(&in->commits, 1);
	/*
	 * Packs the store rolls up stay mapped by a handle that saw them,
	 * deleted or not: a fresh object database now and then keeps the
	 * resident size from creeping up.  The handle itself stays, and
	 * with it the journal: closing that would sync the disk, on this
	 * thread.
	 */
	if (++s->appends % FG_INBOX_REOPEN == 0)
		whd_store_refresh(s->store);
	atomic_fetch_add(&in->delivered, n);
	whd_workers_handoff(in->d->workers, fresh[0]->repo, fresh[0]->path, n,
	    h);
	h = NULL;
out:
	whd_handoff_free(h);
	free(g->fresh);
	free(g);
}

/*
 * Move up to max deliveries from the queue to the end of the round.
 * With in->mu held; returns the first taken (the rest follow through
 * next), which the caller stages without the lock, or NULL.
 */
static struct whd_delivery *
take(struct whd_inbox *in, struct round *rd, size_t max)
{
	struct whd_delivery *first = in->head, *d = NULL;
	size_t k = 0;

	while (in->head != NULL && k < max) {
		d = in->head;
		in->head = d->next;
		rd->bytes += delivery_bytes(d);
		k++;
	}
	if (k == 0)
		return NULL;
	d->next = NULL;
	if (in->head == NULL)
		in->tail = NULL;
	in->nq -= k;
	rd->n += k;
	if (rd->tail != NULL)
		rd->tail->next = first;
	else
		rd->head = first;
	rd->tail = d;
	return first;
}

/*
 * Whether the round should take more before it is written.  Every group
 * commit costs a few file creations and disk flushes whatever its size,
 * so a fuller batch is cheaper per delivery: with fewer deliveries than
 * the last round had, the writer waits for the others (at most
 * FG_INBOX_LINGER_US after the round began): under a steady load the
 * requests the last round answered come back within that moment.  What
 * arrives meanwhile is staged at once, so the wait costs the last
 * delivery of the round little more than its own staging.  With in->mu.
 */
static bool
round_open(const struct whd_inbox *in, const struct round *rd,
    const struct timespec *until)
{
	struct timespec now;

	if (in->stop || rd->n >= (size_t)in->batch_max ||
	    rd->n >= in->last_batch)
		return false;
	clock_gettime(CLOCK_REALTIME, &now);
	return now.tv_sec < until->tv_sec || (now.tv_sec == until->tv_sec &&
	    now.tv_nsec < until->tv_nsec);
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

/*
 * The writer, a round at a time: take what has arrived and stage it (see
 * stage()), then what arrived meanwhile, until the round is full
 * (round_open); then commit each repository's batch and hand the round
 * back to the loop.
 */
static void *
writer_main(void *arg)
{
	struct whd_inbox *in = arg;
	struct whd_delivery *d;
	struct group *g, *gnext;
	struct timespec until;
	struct round rd;
	size_t room;
	long ns;

	pthread_setname_np(pthread_self(), "whd-inbox");
	for (;;) {
		pthread_mutex_lock(&in->mu);
		wait_work(in);
		if (in->head == NULL && in->stop) {
			pthread_mutex_unlock(&in->mu);
			break;
		}
		memset(&rd, 0, sizeof(rd));
		clock_gettime(CLOCK_REALTIME, &until);
		ns = until.tv_nsec + FG_INBOX_LINGER_US * 1000L;
		until.tv_sec += ns / 1000000000L;
		until.tv_nsec = ns % 1000000000L;
		for (;;) {
			/* batch_max may have shrunk under a reload. */
			d = take(in, &rd, rd.n < (size_t)in->batch_max ?
			    (size_t)in->batch_max - rd.n : 0);
			if (d != NULL) {
				in->wake_at = SIZE_MAX;
				pthread_mutex_unlock(&in->mu);
				for (; d != NULL; d = d->next)
					stage(in, &rd, d);
				pthread_mutex_lock(&in->mu);
				continue;
			}
			if (!round_open(in, &rd, &until))
				break;
			/*
			 * Woken for a few at a time, not for each: a wake-up
			 * costs two context switches.
			 */
			room = in->last_batch - rd.n;
			in->wake_at = room < FG_INBOX_WAKE_STEP ? room :
			    FG_INBOX_WAKE_STEP;
			if (pthread_cond_timedwait(&in->cv, &in->mu,
			    &until) != 0 && in->nq == 0)
				break;
		}
		in->wake_at = SIZE_MAX;
		in->last_batch = rd.n;
		pthread_mutex_unlock(&in->mu);

		for (g = rd.groups; g != NULL; g = gnext) {
			gnext = g->next;
			commit_group(in, g);
		}

		pthread_mutex_lock(&in->mu);
		in->bytes -= rd.bytes;
		in->n -= rd.n;
		pthread_mutex_unlock(&in->mu);
		/* The round travels back on its first delivery's node. */
		rd.head->post.fn = batch_done_run;
		rd.head->post.payload = rd.head;
		whd_loop_post(in->d, &rd.head->post);
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
		in->nq++;
		in->bytes += b;
		if (in->nq >= in->wake_at)
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
