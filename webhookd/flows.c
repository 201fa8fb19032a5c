/*
 * flows.c - the daemon's flow executor and scheduler (see flows.h).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "flowexec.h"
#include "flows.h"
#include "httpc.h"
#include "log.h"
#include "store.h"
#include "util.h"
#include "worker.h"
#include "banned.h"

struct frepo {
	char *repo, *path;
	bool dirty;			/* look for pending runs */
	bool tick;			/* queue due schedules */
	bool scan;			/* look at new activity only */
	struct frepo *next;
};

/*
 * An executor thread: a run (ref), or, with expire set, the expiry of a
 * repository's pool leases (resets and deployments may take a while, so
 * they do not run on the dispatcher).
 */
struct frun {
	char *repo, *path;
	struct fg_flowexec_ref ref;
	bool expire;
	pthread_t th;
	bool done;
	struct frun *next;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	bool started;
	volatile int stop;
	struct frepo *repos;
	struct frun *runs;
	size_t nruns;
	struct whd_workers *workers;
	/*
	 * Shared by every run's HTTP steps, made by the first run that
	 * starts (under hmu): libcurl and the TLS libraries it brings are
	 * about 6 MB of resident memory, which a daemon that runs no flow
	 * never needs.
	 */
	pthread_mutex_t hmu;
	struct fg_httpc *httpc;
	bool httpc_failed;
} F;

/* Mark the repository at path to be looked at now.  F.mu held. */
static void
mark_dirty(const char *path)
{
	struct frepo *p;

	for (p = F.repos; p != NULL; p = p->next)
		if (strcmp(p->path, path) == 0)
			p->dirty = true;
	pthread_cond_broadcast(&F.cv);
}

/*
 * A step ended (executor thread).  A promote, deploy, pool or merge step
 * may have written the promotion or deployment records that promotion
 * and deployment flows react to: look at the activity now rather than at
 * the next poll.
 */
static void
on_step(const char *action, void *payload)
{
	struct frun *r = payload;

	if (strcmp(action, "promote") != 0 && strcmp(action, "deploy") != 0 &&
	    strncmp(action, "pool.", 5) != 0 && strcmp(action, "merge") != 0)
		return;
	pthread_mutex_lock(&F.mu);
	mark_dirty(r->path);
	pthread_mutex_unlock(&F.mu);
}

/* Expire the leases of one repository's pools, then look again. */
static void
expire_main(struct frun *r)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_config *cfg = NULL;
	struct fg_store *st = NULL;
	size_t n = 0;
	int rc;

	rc = fg_store_open(&st, r->path, 0, &err);
	if (rc == 0)
		rc = fg_config_load(&cfg, fg_store_repo(st), &d, &err);
	if (rc == 0)
		rc = fg_flowexec_expire(&n, st, cfg, r->path, 0, &err);
	if (rc < 0)
		fg_log_warnx("event=pool_expire_error repo=%s error=\"%s\"",
		    r->repo, err.msg);
	else if (n > 0)
		fg_log_info("event=pool_expired repo=%s leases=%zu", r->repo,
		    n);
	fg_config_free(cfg);
	fg_diags_release(&d);
	fg_store_free(st);
	pthread_mutex_lock(&F.mu);
	r->done = true;
	/* The deployments for new holders are promotion-flow facts. */
	mark_dirty(r->path);
	pthread_mutex_unlock(&F.mu);
}

/*
 * The shared HTTP client, made on first use.  NULL when it cannot be
 * made: each request then makes its own (lib/flow_steps.c), and a missing
 * libcurl is reported by the step that needs it.
 */
static struct fg_httpc *
shared_httpc(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_httpc *c;

	pthread_mutex_lock(&F.hmu);
	if (F.httpc == NULL && !F.httpc_failed &&
	    fg_httpc_new(&F.httpc, &err) < 0) {
		F.httpc = NULL;
		F.httpc_failed = true;
		fg_log_warnx("event=httpc_failed error=\"%s\"", err.msg);
	}
	c = F.httpc;
	pthread_mutex_unlock(&F.hmu);
	return c;
}

static void *
run_main(void *arg)
{
	struct frun *r = arg;
	struct fg_flowexec_opts o;
	struct fg_err err = FG_ERR_INIT;
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_config *cfg = NULL;
	struct fg_store *st = NULL;
	struct frepo *p;
	char status[16] = "running";
	int rc;

	if (r->expire) {
		expire_main(r);
		return NULL;
	}
	memset(&o, 0, sizeof(o));
	o.repo_path = r->path;
	o.repo_name = r->repo;
	o.stop = &F.stop;
	o.httpc = shared_httpc();
	o.on_step = on_step;
	o.payload = r;
	rc = fg_store_open(&st, r->path, 0, &err);
	if (rc == 0)
		rc = fg_config_load(&cfg, fg_store_repo(st), &d, &err);
	if (rc == 0)
		rc = fg_flowexec_execute(status, st, cfg, r->ref.flow,
		    r->ref.run, &o, &err);
	if (rc < 0)
		fg_log_warnx("event=flow_error repo=%s flow=%s run=%s "
		    "error=\"%s\"", r->repo, r->ref.flow, r->ref.run, err.msg);
	fg_config_free(cfg);
	fg_diags_release(&d);
	fg_store_free(st);
	pthread_mutex_lock(&F.mu);
	r->done = true;
	/* Runs left waiting for a free executor get their turn; a run
	 * that failed to execute is not retried in a loop. */
	for (p = F.repos; rc == 0 && p != NULL; p = p->next)
		if (strcmp(p->path, r->path) == 0)
			p->dirty = true;
	pthread_cond_broadcast(&F.cv);
	pthread_mutex_unlock(&F.mu);
	return NULL;
}

/* Join the finished executors.  Called with F.mu held. */
static void
reap(void)
{
	struct frun **pp = &F.runs, *r;

	while (*pp != NULL) {
		r = *pp;
		if (!r->done) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		pthread_mutex_unlock(&F.mu);
		pthread_join(r->th, NULL);
		pthread_mutex_lock(&F.mu);
		free(r->repo);
		free(r->path);
		free(r);
		F.nruns--;
	}
}

static bool
is_running(const char *path, const struct fg_flowexec_ref *ref)
{
	struct frun *r;

	for (r = F.runs; r != NULL; r = r->next)
		if (strcmp(r->path, path) == 0 && r->expire == (ref == NULL) &&
		    (ref == NULL ||
		    (strcmp(r->ref.flow, ref->flow) == 0 &&
		    strcmp(r->ref.run, ref->run) == 0)))
			return true;
	return false;
}

/* Start an executor thread for ref (NULL: lease expiry).  F.mu held. */
static int
start(const char *repo, const char *path, const struct fg_flowexec_ref *ref)
{
	struct frun *r;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -1;
	r->repo = fg_strdup(repo);
	r->path = fg_strdup(path);
	if (ref != NULL)
		r->ref = *ref;
	r->expire = ref == NULL;
	if (r->repo == NULL || r->path == NULL ||
	    pthread_create(&r->th, NULL, run_main, r) != 0) {
		free(r->repo);
		free(r->path);
		free(r);
		return -1;
	}
	r->next = F.runs;
	F.runs = r;
	F.nruns++;
	return 0;
}

/*
 * Queue due schedules, then start the pending runs of one repository; on
 * the minute's tick, expire the pools' leases that outlived their time.
 */
static void
look(const char *repo, const char *path, bool tick, bool scan_only)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_config *cfg = NULL;
	struct fg_store *st = NULL;
	struct fg_flowexec_ref *v = NULL;
	git_oid in, done;
	size_t n = 0, nq = 0, i;

	if (fg_store_open(&st, path, 0, &err) < 0)
		goto out;
	/* A backlog nobody announced: 'flowgate flow run' queues into the
	 * inbox without a daemon to wake. */
	if (fg_store_tip(&in, st, "refs/flowgate/inbox", NULL) == 0 &&
	    (fg_store_tip(&done, st, "refs/flowgate/inbox-done", NULL) < 0 ||
	    !git_oid_equal(&in, &done)))
		whd_workers_notify(F.workers, repo, path, 1);
	if (fg_config_load(&cfg, fg_store_repo(st), &d, &err) == 0) {
		if (tick && fg_flowexec_tick(&nq, st, cfg, fg_now(), &err) < 0)
			fg_log_warnx("event=flow_tick_error repo=%s "
			    "error=\"%s\"", repo, err.msg);
		/* Promotions and deployments recorded since the last look,
		 * by the engine, the CLI or flows. */
		if (fg_flowexec_scan_activity(&nq, st, cfg, &err) < 0)
			fg_log_warnx("event=flow_scan_error repo=%s "
			    "error=\"%s\"", repo, err.msg);
		/* Leases past their time, on their own thread: a reset and
		 * a deployment for the next in line may take minutes. */
		if (tick && fg_flowexec_has_expired(st, cfg, 0)) {
			pthread_mutex_lock(&F.mu);
			if (!F.stop && !is_running(path, NULL))
				start(repo, path, NULL);
			pthread_mutex_unlock(&F.mu);
		}
	}
	if (scan_only && nq == 0)
		goto out;
	if (fg_flowexec_pending(&v, &n, st, &err) < 0) {
		fg_log_warnx("event=flow_error repo=%s error=\"%s\"", repo,
		    err.msg);
		goto out;
	}
	pthread_mutex_lock(&F.mu);
	for (i = 0; i < n && !F.stop; i++) {
		if (is_running(path, &v[i]))
			continue;
		if (F.nruns >= WHD_FLOWS_MAX)
			break;	/* a finishing run marks the repo again */
		if (start(repo, path, &v[i]) < 0)
			break;
	}
	pthread_mutex_unlock(&F.mu);
out:
	free(v);
	fg_config_free(cfg);
	fg_diags_release(&d);
	fg_store_free(st);
}

static void *
dispatch_main(void *arg)
{
	struct timespec ts;
	struct frepo *p;
	int64_t minute = -1, m, scanned = 0, t;
	char *repo, *path;
	bool tick, scan, any;

	(void)arg;
	pthread_mutex_lock(&F.mu);
	while (!F.stop) {
		reap();
		m = fg_now() / 60;
		if (m != minute) {
			minute = m;
			for (p = F.repos; p != NULL; p = p->next)
				p->tick = true;
		}
		/* Promotions and deployments made outside the daemon (the
		 * CLI) are noticed within WHD_FLOWS_SCAN_SECS. */
		t = (int64_t)time(NULL);
		if (t - scanned >= WHD_FLOWS_SCAN_SECS) {
			scanned = t;
			for (p = F.repos; p != NULL; p = p->next)
				p->scan = true;
		}
		any = false;
		for (p = F.repos; p != NULL && !F.stop; p = p->next) {
			if (!p->dirty && !p->tick && !p->scan)
				continue;
			tick = p->tick;
			scan = p->scan && !p->dirty && !p->tick;
			p->dirty = p->tick = p->scan = false;
			repo = fg_strdup(p->repo);
			path = fg_strdup(p->path);
			pthread_mutex_unlock(&F.mu);
			if (repo != NULL && path != NULL)
				look(repo, path, tick, scan);
			free(repo);
			free(path);
			pthread_mutex_lock(&F.mu);
			any = true;
			break;	/* the list may have changed */
		}
		if (any)
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&F.cv, &F.mu, &ts);
	}
	pthread_mutex_unlock(&F.mu);
	return NULL;
}

int
whd_flows_start(struct whd_workers *workers, struct fg_err *err)
{
	F.workers = workers;
	pthread_mutex_init(&F.mu, NULL);
	pthread_cond_init(&F.cv, NULL);
	pthread_mutex_init(&F.hmu, NULL);
	F.stop = 0;
	F.httpc = NULL;
	F.httpc_failed = false;
	if (pthread_create(&F.th, NULL, dispatch_main, NULL) != 0)
		return fg_err_set(err, FG_EIO, "cannot start the flow "
		    "dispatcher");
	F.started = true;
	return 0;
}

void
whd_flows_notify(const char *repo, const char *path)
{
	struct frepo *p;

	pthread_mutex_lock(&F.mu);
	for (p = F.repos; p != NULL; p = p->next)
		if (strcmp(p->path, path) == 0)
			break;
	if (p == NULL) {
		p = calloc(1, sizeof(*p));
		if (p != NULL) {
			p->repo = fg_strdup(repo);
			p->path = fg_strdup(path);
			if (p->repo == NULL || p->path == NULL) {
				free(p->repo);
				free(p->path);
				free(p);
				p = NULL;
			} else {
				p->tick = true;
				p->next = F.repos;
				F.repos = p;
			}
		}
	}
	if (p != NULL)
		p->dirty = true;
	pthread_cond_broadcast(&F.cv);
	pthread_mutex_unlock(&F.mu);
}

void
whd_flows_stop(void)
{
	struct frepo *p;

	if (!F.started)
		return;
	pthread_mutex_lock(&F.mu);
	F.stop = 1;
	pthread_cond_broadcast(&F.cv);
	pthread_mutex_unlock(&F.mu);
	pthread_join(F.th, NULL);
	pthread_mutex_lock(&F.mu);
	while (F.runs != NULL) {
		struct frun *r = F.runs;

		F.runs = r->next;
		pthread_mutex_unlock(&F.mu);
		pthread_join(r->th, NULL);
		pthread_mutex_lock(&F.mu);
		free(r->repo);
		free(r->path);
		free(r);
	}
	F.nruns = 0;
	/* Every run has ended: no request is in flight. */
	fg_httpc_free(F.httpc);
	F.httpc = NULL;
	while (F.repos != NULL) {
		p = F.repos;
		F.repos = p->next;
		free(p->repo);
		free(p->path);
		free(p);
	}
	F.started = false;
	pthread_mutex_unlock(&F.mu);
}
