/*
 * main.c - flowgate-webhookd: start, reload, stop.
 *
 * Start: settings (a file, or the embedded defaults), limits set before
 * the socket is bound, the inbox writer, the engine workers, the task
 * pool, then the loop.  SIGHUP reloads the settings file: a bad file
 * keeps the old settings and says why.  SIGTERM and SIGINT stop
 * accepting, let every request in flight get its answer (deliveries
 * reach the disk first), then stop the threads in reverse order and exit
 * 0.  Signals are events on the loop, never handlers that do work.
 */
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <git2.h>

#include "inbox.h"
#include "log.h"
#include "pool.h"
#include "settings.h"
#include "flows.h"
#include "util.h"
#include "whd.h"
#include "worker.h"
#include "banned.h"

static const char usage_text[] =
    "usage: flowgate-webhookd [--config FILE] [--listen ADDR:PORT] "
    "[--root DIR] [--check]\n"
    "       flowgate-webhookd --hash-token < TOKEN\n"
    "\n"
    "Receive signed webhooks from GitHub, Gitea, Forgejo, GitLab and Jira\n"
    "for the repositories under DIR, record each delivery durably in the\n"
    "repository's refs/flowgate/inbox, process it, and serve the REST API.\n"
    "\n"
    "  --config FILE   settings (see schemas/webhookd.schema.json); without\n"
    "                  one: 127.0.0.1:8686, ./var/repos, and one webhook\n"
    "                  secret for every repository from\n"
    "                  FLOWGATE_WEBHOOK_SECRET\n"
    "  --listen ADDR:PORT, --root DIR   override the file\n"
    "  --check         validate the settings file and exit\n"
    "  --hash-token    print the sha256: hash of the token on stdin, for\n"
    "                  the tokens: list of the settings file\n"
    "\n"
    "SIGHUP reloads the settings; SIGTERM or SIGINT stops after the\n"
    "requests in flight are answered.";

static void
log_to_stderr(enum fg_log_level level, const char *line, void *payload)
{
	static const char *const names[] = { "warn", "info", "debug" };

	(void)payload;
	fprintf(stderr, "flowgate-webhookd: level=%s %s\n", names[level], line);
}

void
whd_loop_post(struct whd *d, struct whd_post *p)
{
	p->next = NULL;
	pthread_mutex_lock(&d->post_lock);
	if (d->post_tail != NULL)
		d->post_tail->next = p;
	else
		d->post_head = p;
	d->post_tail = p;
	pthread_mutex_unlock(&d->post_lock);
	event_active(d->post_ev, EV_READ, 0);
}

void
whd_loop_run_posted(struct whd *d)
{
	struct whd_post *p, *next;

	pthread_mutex_lock(&d->post_lock);
	p = d->post_head;
	d->post_head = d->post_tail = NULL;
	pthread_mutex_unlock(&d->post_lock);
	for (; p != NULL; p = next) {
		next = p->next;
		p->fn(p->payload);
	}
}

static void
on_posted(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	whd_loop_run_posted(arg);
}

void
whd_request_done(struct whd *d)
{
	d->inflight--;
	if (d->stopping && d->inflight == 0)
		event_base_loopexit(d->base, NULL);
}

/*
 * Load the settings: the file when there is one, else the defaults;
 * --listen and --root win.  Diagnostics are logged.
 */
static int
load_settings(struct fg_settings **out, const struct whd *d)
{
	struct fg_diags diags = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	struct fg_settings *s = NULL;
	size_t i;
	int rc;

	*out = NULL;
	if (d->config_file != NULL) {
		rc = fg_settings_load(&s, d->config_file, &diags);
		for (i = 0; i < diags.n; i++)
			fg_log_warnx("event=bad_settings %s", diags.lines[i]);
		fg_diags_release(&diags);
	} else {
		rc = fg_settings_default(&s, &err);
		if (rc < 0)
			fg_log_warnx("event=bad_settings %s", err.msg);
	}
	if (rc < 0)
		return rc;
	if ((d->opt_listen != NULL && fg_settings_set_listen(s, d->opt_listen,
	    &err) < 0) || (d->opt_root != NULL && fg_settings_set_root(s,
	    d->opt_root, &err) < 0)) {
		fg_log_warnx("event=bad_settings %s", err.msg);
		fg_settings_free(s);
		return FG_EINVALID;
	}
	*out = s;
	return 0;
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct whd *d = arg;
	struct fg_settings *s;

	(void)sig;
	(void)what;
	if (load_settings(&s, d) < 0) {
		fg_log_warnx("event=reload_failed reason=\"keeping the "
		    "settings in use\"");
		return;
	}
	if (strcmp(s->listen, d->settings->listen) != 0)
		fg_log_warnx("event=reload listen=%s reason=\"a new listen "
		    "address needs a restart; still on %s\"", s->listen,
		    d->settings->listen);
	fg_settings_free(d->settings);
	d->settings = s;
	whd_http_apply_limits(d);
	whd_inbox_set_limits(d->inbox, s->batch_max, s->queue_max);
	whd_workers_set_handoff(d->workers, s->handoff_max);
	fg_log_info("event=reloaded file=%s repositories=%zu tokens=%zu",
	    d->config_file != NULL ? d->config_file : "(defaults)",
	    s->nrepos, s->ntokens);
}

static void
on_grace_over(evutil_socket_t fd, short what, void *arg)
{
	struct whd *d = arg;

	(void)fd;
	(void)what;
	fg_log_warnx("event=shutdown reason=\"%d requests still unanswered "
	    "after the grace period\"", d->inflight);
	event_base_loopbreak(d->base);
}

static void
on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct whd *d = arg;
	struct timeval grace = { 0, 0 };

	(void)what;
	if (d->stopping)
		return;
	fg_log_info("event=shutdown signal=%d inflight=%d", (int)sig,
	    d->inflight);
	d->stopping = true;
	whd_http_stop_listening(d);
	if (d->inflight == 0) {
		event_base_loopexit(d->base, NULL);
		return;
	}
	/* Deliveries in flight reach the disk and get their answer first. */
	grace.tv_sec = d->settings->timeout;
	d->stop_ev = evtimer_new(d->base, on_grace_over, d);
	if (d->stop_ev != NULL)
		evtimer_add(d->stop_ev, &grace);
}

/*
 * Keep the resident size small and bounded under load: every thread
 * would get its own malloc arena, libgit2 caches up to 256 MB of objects
 * per repository and maps pack windows up to gigabytes.  The daemon reads
 * few objects (inbox and log tips, small records), so small caches cost
 * nothing.  Fixed malloc thresholds: glibc otherwise raises its trim and
 * mmap thresholds after each large free (a pack writer's zlib state, a
 * body), and the heap then keeps every peak.  Under wrk -c32 this keeps
 * the resident size under 30 MB (about 18-24 MB after the run), of which
 * about 7 MB are the program's and its libraries' pages, 2 MB pack
 * windows and 1 MB libgit2's cache at most (docs/webhookd.md, MEMORY).
 */
static void
limit_memory(void)
{
	mallopt(M_ARENA_MAX, 2);
	mallopt(M_TRIM_THRESHOLD, 128 * 1024);
	mallopt(M_MMAP_THRESHOLD, 512 * 1024);
	git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, (ssize_t)(1 << 20));
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, (size_t)(2 << 20));
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, (size_t)(256 << 10));
	/*
	 * Not memory, but set here with the rest of libgit2's options: the
	 * engine reads every inbox delivery back, and libgit2 would hash
	 * each object it reads again with its collision-detecting SHA-1
	 * (about 5% of the engine's time under load).  git does not either;
	 * zlib's checksum still catches a damaged object.
	 */
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0);
}

static int
hash_token(void)
{
	char line[4096], out[72];
	size_t n;

	if (fgets(line, sizeof(line), stdin) == NULL) {
		fprintf(stderr, "flowgate-webhookd: no token on stdin\n");
		return 2;
	}
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	if (n == 0) {
		fprintf(stderr, "flowgate-webhookd: empty token\n");
		return 2;
	}
	fg_settings_token_hash(out, line);
	puts(out);
	return 0;
}

/*
 * The event loop.  With epoll, changes to the watched descriptors wait in
 * a list until the next poll, which applies only their net effect: a
 * request costs fewer epoll_ctl() calls (evhttp stops and starts reading
 * around each request).  No descriptor of ours is a dup() of another.
 */
static struct event_base *
new_base(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (cfg == NULL)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "root", required_argument, NULL, 'r' },
		{ "check", no_argument, NULL, 'k' },
		{ "hash-token", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct whd d;
	struct event *sigterm = NULL, *sigint = NULL, *sighup = NULL;
	struct fg_err err = FG_ERR_INIT;
	bool check = false;
	struct stat st;
	int c, rc = 1;

	memset(&d, 0, sizeof(d));
	pthread_mutex_init(&d.post_lock, NULL);
	fg_log_set_sink(log_to_stderr, NULL);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': d.config_file = optarg; break;
		case 'l': d.opt_listen = optarg; break;
		case 'r': d.opt_root = optarg; break;
		case 'k': check = true; break;
		case 't': return hash_token();
		case 'h': puts(usage_text); return 0;
		default: fprintf(stderr, "%s\n", usage_text); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s\n", usage_text);
		return 2;
	}
	if (check && d.config_file == NULL) {
		fprintf(stderr, "flowgate-webhookd: --check needs --config "
		    "FILE\n");
		return 2;
	}
	if (load_settings(&d.settings, &d) < 0)
		return check ? 1 : 2;
	if (check) {
		printf("%s: ok\n", d.config_file);
		fg_settings_free(d.settings);
		return 0;
	}
	if (stat(d.settings->root, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "flowgate-webhookd: repository root '%s' is "
		    "not a directory\n", d.settings->root);
		fg_settings_free(d.settings);
		return 1;
	}
	if (d.settings->secret == NULL && d.settings->nrepos == 0)
		fg_log_warnx("event=no_secret reason=\"no webhook secret: set "
		    "%s or name one in the settings; every delivery gets "
		    "401\"", FG_SETTINGS_SECRET_ENV);
	signal(SIGPIPE, SIG_IGN);
	git_libgit2_init();
	limit_memory();
	whd_hooks_init();
	if (evthread_use_pthreads() < 0) {
		fg_log_warnx("cannot make libevent thread-safe");
		goto out;
	}
	d.base = new_base();
	if (d.base == NULL || whd_metrics_new(&d.metrics) < 0) {
		fg_log_warnx("cannot start the event loop");
		goto out;
	}
	d.post_ev = event_new(d.base, -1, 0, on_posted, &d);
	if (d.post_ev == NULL) {
		fg_log_warnx("cannot start the event loop");
		goto out;
	}
	if (whd_workers_new(&d.workers, &d, d.settings->workers, &err) < 0 ||
	    whd_pool_new(&d.pool, &d, d.settings->workers, &err) < 0 ||
	    whd_inbox_new(&d.inbox, &d, d.settings->batch_max,
	    d.settings->queue_max, &err) < 0) {
		fg_log_warnx("%s", err.msg);
		goto out;
	}
	whd_workers_set_handoff(d.workers, d.settings->handoff_max);
	/* Limits are set inside, before the socket is bound. */
	if (whd_http_start(&d, &err) < 0) {
		fg_log_warnx("%s", err.msg);
		goto out;
	}
	sigterm = evsignal_new(d.base, SIGTERM, on_stop, &d);
	sigint = evsignal_new(d.base, SIGINT, on_stop, &d);
	sighup = evsignal_new(d.base, SIGHUP, on_hup, &d);
	if (sigterm == NULL || sigint == NULL || sighup == NULL ||
	    event_add(sigterm, NULL) < 0 || event_add(sigint, NULL) < 0 ||
	    event_add(sighup, NULL) < 0) {
		fg_log_warnx("cannot install signal handlers");
		goto out;
	}
	/* What a power loss took from the inboxes, first (inbox.h). */
	whd_repos_each(d.settings, whd_store_replay, NULL);
	whd_deploy_recover_all(d.settings);
	if (whd_flows_start(d.workers, &err) < 0) {
		fg_log_warnx("%s", err.msg);
		goto out;
	}
	whd_workers_scan(d.workers, d.settings);
	whd_wake_start(&d);
	fg_log_info("event=listening addr=%s root=%s settings=%s",
	    d.settings->listen, d.settings->root,
	    d.config_file != NULL ? d.config_file : "(defaults)");
	if (event_base_dispatch(d.base) < 0) {
		fg_log_warnx("the event loop failed");
		goto out;
	}
	fg_log_info("event=stopped");
	rc = 0;
out:
	/*
	 * Reverse order: no new connections; the threads finish what they
	 * hold and hand back their answers, which are sent while the
	 * requests still exist; then the connections go.
	 */
	whd_http_stop_listening(&d);
	whd_wake_free(&d);
	whd_inbox_free(d.inbox);
	whd_pool_free(d.pool);
	whd_deploy_wait_all();
	whd_workers_free(d.workers);
	whd_flows_stop();
	if (d.post_ev != NULL)
		whd_loop_run_posted(&d);
	whd_http_free(&d);
	if (d.stop_ev != NULL)
		event_free(d.stop_ev);
	if (sighup != NULL)
		event_free(sighup);
	if (sigint != NULL)
		event_free(sigint);
	if (sigterm != NULL)
		event_free(sigterm);
	if (d.post_ev != NULL)
		event_free(d.post_ev);
	whd_metrics_free(d.metrics);
	if (d.base != NULL)
		event_base_free(d.base);
	fg_settings_free(d.settings);
	pthread_mutex_destroy(&d.post_lock);
	git_libgit2_shutdown();
	return rc;
}
