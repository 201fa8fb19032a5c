/*
 * worker.c - schedule the engine workers over repositories (see
 * worker.h).  What processing a delivery means is engine.c's.
 *
 * Each repository is in one of three states: idle, queued (in the ready
 * list), busy (a worker drains it).  A notification for a busy
 * repository marks it to be drained again, so nothing appended while a
 * worker was on it is left behind, and no two workers ever drain the
 * same repository.
 */
#include <dirent.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "engine.h"
#include "flows.h"
#include "log.h"
#include "util.h"
#include "gitmap.h"
#include "worker.h"
#include "banned.h"

#define WORKERS_MAX 64
/* Inbox commits processed before the cursor moves. */
#define DRAIN_BATCH 256
/*
 * Least time between two drains of one repository with a small backlog,
 * in milliseconds.  Every drain writes a few files; under a stream of
 * deliveries, draining after each group commit would compete with the
 * intake for the disk.  Gathering them costs the engine this much delay.
 */
#define DRAIN_INTERVAL_MS 250
/*
 * Least time between two malloc_trim() calls after drains, in
 * milliseconds.  A drain parses and builds a few MB of JSON and records
 * and frees them; the heap keeps the pages in the middle of its arenas
 * (M_TRIM_THRESHOLD gives back only the top), 5-7 MB of resident memory
 * under the benchmark.  A trim costs a walk of the free chunks and a TLB
 * flush of every thread: at most once a second, however fast the drains.
 */
#define TRIM_INTERVAL_MS 1000

struct wrepo {
	struct wrepo *next;		/* all repositories */
	struct wrepo *ready_next;
	char *repo;
	char *path;
	void *engine;			/* engine.c's handle */
	size_t backlog;
	struct whd_handoff *hand;	/* handed over, oldest first */
	struct whd_handoff **hand_tail;
	int64_t last_ms;		/* when its last drain ended */
	bool queued, busy, again;
	int failures;
};

struct whd_workers {
	struct whd *d;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct wrepo *repos;
	struct wrepo *ready_head, *ready_tail;
	size_t total;
	size_t hand_bytes;		/* held in all the hand lists */
	uint64_t hand_max;		/* limits.handoff */
	int64_t trimmed_ms;		/* the last malloc_trim() */
	bool stop;
	pthread_t threads[WORKERS_MAX];
	int n;
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct wrepo *
find_repo(struct whd_workers *w, const char *path)
{
	struct wrepo *r;

	for (r = w->repos; r != NULL; r = r->next)
		if (strcmp(r->path, path) == 0)
			return r;
	return NULL;
}

static void
enqueue(struct whd_workers *w, struct wrepo *r)
{
	r->queued = true;
	r->ready_next = NULL;
	if (w->ready_tail != NULL)
		w->ready_tail->ready_next = r;
	else
		w->ready_head = r;
	w->ready_tail = r;
	pthread_cond_signal(&w->cv);
}

void
whd_workers_notify(struct whd_workers *w, const char *repo, const char *path,
    size_t n)
{
	whd_workers_handoff(w, repo, path, n, NULL);
}

/*
 * Keep only h's commit ids, for a batch past the bound (limits.handoff:
 * a GitHub pull request's event is about 450 bytes, so the default 1 MB
 * holds about 2,000 deliveries): the engine reads its events back from
 * the inbox, but still knows which commits follow its cursor, so it need
 * not walk the inbox, and the hand-offs after h stay of use.  Dropping
 * such a batch whole instead left a gap in the chain the engine follows:
 * it walked the inbox, then threw away every hand-off the walk had
 * passed, and under the benchmark's load (a backlog of 1,000-2,000 at
 * times) reading back was a fifth of the engine's CPU.
 */
static void
handoff_strip(struct whd_handoff *h)
{
	size_t i;

	for (i = 0; h->events != NULL && i < h->n; i++)
		free(h->events[i]);
	free(h->events);
	h->events = NULL;
	h->bytes = sizeof(*h) + h->n * sizeof(*h->ids);
}

void
whd_workers_set_handoff(struct whd_workers *w, uint64_t bytes)
{
	pthread_mutex_lock(&w->mu);
	w->hand_max = bytes;
	pthread_mutex_unlock(&w->mu);
}

void
whd_workers_handoff(struct whd_workers *w, const char *repo,
    const char *path, size_t n, struct whd_handoff *h)
{
	struct wrepo *r;

	if (w == NULL) {
		whd_handoff_free(h);
		return;
	}
	/* A look at start (n == 0): the flow executor resumes its runs and
	 * starts its schedules too, inbox or not. */
	if (n == 0)
		whd_flows_notify(repo, path);
	pthread_mutex_lock(&w->mu);
	r = find_repo(w, path);
	if (r == NULL) {
		r = calloc(1, sizeof(*r));
		if (r != NULL) {
			r->repo = fg_strdup(repo);
			r->path = fg_strdup(path);
		}
		if (r == NULL || r->repo == NULL || r->path == NULL) {
			if (r != NULL) {
				free(r->repo);
				free(r->path);
				free(r);
			}
			pthread_mutex_unlock(&w->mu);
			fg_log_warnx("event=worker_oom repo=%s", repo);
			whd_handoff_free(h);
			return;
		}
		r->hand_tail = &r->hand;
		r->next = w->repos;
		w->repos = r;
	}
	if (h != NULL && w->hand_bytes + h->bytes > w->hand_max)
		handoff_strip(h);
	if (h != NULL) {
		h->next = NULL;
		*r->hand_tail = h;
		r->hand_tail = &h->next;
		w->hand_bytes += h->bytes;
		h = NULL;
	}
	r->backlog += n;
	w->total += n;
	if (r->busy)
		r->again = true;
	else if (!r->queued)
		enqueue(w, r);
	pthread_mutex_unlock(&w->mu);
	whd_handoff_free(h);
}

/* Bytes the hand-offs of list hold. */
static size_t
hand_bytes(const struct whd_handoff *h)
{
	size_t b = 0;

	for (; h != NULL; h = h->next)
		b += h->bytes;
	return b;
}

size_t
whd_workers_backlog(struct whd_workers *w, const char *path)
{
	struct wrepo *r;
	size_t n = 0;

	if (w == NULL)
		return 0;
	pthread_mutex_lock(&w->mu);
	r = find_repo(w, path);
	if (r != NULL)
		n = r->backlog;
	pthread_mutex_unlock(&w->mu);
	return n;
}

size_t
whd_workers_backlog_total(struct whd_workers *w)
{
	size_t n;

	pthread_mutex_lock(&w->mu);
	n = w->total;
	pthread_mutex_unlock(&w->mu);
	return n;
}

static void *
worker_main(void *arg)
{
	struct whd_workers *w = arg;
	struct fg_err err = FG_ERR_INIT;
	size_t processed, remaining;
	struct timespec pause = { 0, 0 };
	struct whd_handoff *hand, **tail;
	size_t taken;
	bool trim;
	struct wrepo *r;
	int64_t wait_ms;
	int rc;

	pthread_setname_np(pthread_self(), "whd-engine");
	for (;;) {
		pthread_mutex_lock(&w->mu);
		while (w->ready_head == NULL && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop) {
			pthread_mutex_unlock(&w->mu);
			break;
		}
		r = w->ready_head;
		w->ready_head = r->ready_next;
		if (w->ready_head == NULL)
			w->ready_tail = NULL;
		r->queued = false;
		r->busy = true;
		r->again = false;
		wait_ms = r->backlog < DRAIN_BATCH ? r->last_ms +
		    DRAIN_INTERVAL_MS - mono_ms() : 0;
		pthread_mutex_unlock(&w->mu);

		if (wait_ms > 0 && wait_ms <= DRAIN_INTERVAL_MS) {
			pause.tv_sec = 0;
			pause.tv_nsec = (long)wait_ms * 1000000;
			nanosleep(&pause, NULL);
		}
		/* After the pause: what was handed over meanwhile too. */
		pthread_mutex_lock(&w->mu);
		hand = r->hand;
		r->hand = NULL;
		r->hand_tail = &r->hand;
		taken = hand_bytes(hand);
		pthread_mutex_unlock(&w->mu);
		processed = remaining = 0;
		rc = whd_engine_drain(&r->engine, r->repo, r->path,
		    DRAIN_BATCH, &hand, &processed, &remaining, &err);

		fg_gitmap_trim();
		pthread_mutex_lock(&w->mu);
		/* What the engine left goes back before what came since. */
		w->hand_bytes -= taken - hand_bytes(hand);
		if (hand != NULL) {
			for (tail = &hand; *tail != NULL; tail = &(*tail)->next)
				continue;
			*tail = r->hand;
			if (r->hand == NULL)
				r->hand_tail = tail;
			r->hand = hand;
		}
		/*
		 * Idle: drop the handle, and with it the mapped packs the
		 * intake has since rolled up.  With a backlog, keep it: it
		 * holds the inbox commits walked but not processed yet (the
		 * engine opens its store afresh by itself).
		 */
		if (rc == 0 && remaining == 0 && !r->again) {
			pthread_mutex_unlock(&w->mu);
			whd_engine_close(r->engine);
			r->engine = NULL;
			pthread_mutex_lock(&w->mu);
		}
		r->busy = false;
		r->last_ms = mono_ms();
		if (rc < 0) {
			r->failures++;
			fg_log_warnx("event=worker_failed repo=%s error=\"%s\"",
			    r->repo, err.msg);
		} else {
			r->failures = 0;
			/* The engine counted what is left: trust it. */
			w->total = w->total - r->backlog + remaining;
			r->backlog = remaining;
		}
		if (rc == 0 && (remaining > 0 || r->again))
			enqueue(w, r);
		else if (rc < 0 && r->failures < 5)
			enqueue(w, r);
		trim = processed > 0 && r->last_ms - w->trimmed_ms >=
		    TRIM_INTERVAL_MS;
		if (trim)
			w->trimmed_ms = r->last_ms;
		pthread_mutex_unlock(&w->mu);
		if (trim)
			malloc_trim(0);
		if (rc < 0) {
			/* Back off a little before the same failure again. */
			pause.tv_nsec = 100 * 1000 * 1000;
			nanosleep(&pause, NULL);
		}
	}
	return NULL;
}

int
whd_workers_new(struct whd_workers **out, struct whd *d, int n,
    struct fg_err *err)
{
	struct whd_workers *w;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	w->d = d;
	w->hand_max = FG_SETTINGS_HANDOFF_DEFAULT;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (n > WORKERS_MAX)
		n = WORKERS_MAX;
	for (w->n = 0; w->n < n; w->n++) {
		if (pthread_create(&w->threads[w->n], NULL, worker_main,
		    w) != 0) {
			whd_workers_free(w);
			return fg_err_set(err, FG_EIO, "cannot start the "
			    "worker threads");
		}
	}
	*out = w;
	return 0;
}

static bool
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

void
whd_repos_each(const struct fg_settings *s,
    void (*fn)(const char *repo, const char *path, void *arg), void *arg)
{
	struct dirent *o, *e;
	DIR *top, *sub;
	char path[4096], name[1024];
	size_t i, n;

	for (i = 0; i < s->nrepos; i++)
		if (s->repos[i].path != NULL && is_dir(s->repos[i].path))
			fn(s->repos[i].name, s->repos[i].path, arg);
	top = opendir(s->root);
	if (top == NULL)
		return;
	while ((o = readdir(top)) != NULL) {
		if (o->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", s->root, o->d_name);
		sub = opendir(path);
		if (sub == NULL)
			continue;
		while ((e = readdir(sub)) != NULL) {
			n = strlen(e->d_name);
			if (e->d_name[0] == '.' || n <= 4 ||
			    strcmp(e->d_name + n - 4, ".git") != 0)
				continue;
			snprintf(name, sizeof(name), "%s/%.*s", o->d_name,
			    (int)(n - 4), e->d_name);
			snprintf(path, sizeof(path), "%s/%s/%s", s->root,
			    o->d_name, e->d_name);
			if (is_dir(path))
				fn(name, path, arg);
		}
		closedir(sub);
	}
	closedir(top);
}

static void
scan_one(const char *repo, const char *path, void *arg)
{
	whd_workers_notify(arg, repo, path, 0);
}

void
whd_workers_scan(struct whd_workers *w, const struct fg_settings *s)
{
	whd_repos_each(s, scan_one, w);
}

void
whd_workers_free(struct whd_workers *w)
{
	struct wrepo *r, *next;
	int i;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (i = 0; i < w->n; i++)
		pthread_join(w->threads[i], NULL);
	for (r = w->repos; r != NULL; r = next) {
		next = r->next;
		while (r->hand != NULL) {
			struct whd_handoff *h = r->hand;

			r->hand = h->next;
			whd_handoff_free(h);
		}
		whd_engine_close(r->engine);
		free(r->repo);
		free(r->path);
		free(r);
	}
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}
