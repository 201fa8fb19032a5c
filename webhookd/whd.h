/*
 * whd.h - what the files of flowgate-webhookd share.
 *
 * Threads.  One libevent loop thread owns the HTTP side: connections,
 * requests, settings, metrics (main.c, http.c, hooks.c, api.c,
 * metrics.c).  It does bounded work only: read, verify, normalize, hand
 * over, answer.  Everything that waits on the disk runs elsewhere: the
 * inbox writer thread (group commit, inbox.c), the engine workers that
 * drain the inbox (worker.c), and the task pool that answers API reads
 * (pool.c).  Those threads hand results back through whd_loop_post(),
 * which wakes the loop; nothing but the loop touches an evhttp_request.
 *
 * Requests.  Every request gets a struct whd_req, freed by whd_reply()
 * after its one and only reply; whd_reply() also writes the request's log
 * line and its metrics.  A request handed to another thread keeps its
 * whd_req until the answer comes back to the loop.
 */
#ifndef FG_WHD_H
#define FG_WHD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>
#include <event2/http.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "err.h"
#include "event.h"
#include "settings.h"

struct whd_inbox;
struct whd_pool;
struct whd_workers;
struct whd_conn;

/* Work for the loop thread, queued by another (whd_loop_post). */
struct whd_post {
	struct whd_post *next;
	void (*fn)(void *payload);
	void *payload;
};

/* Deliveries by forge, kind and result; see metrics.c. */
struct whd_metrics;

/* A repository's wake-up FIFO; see wake.c. */
struct whd_wake;

struct whd {
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *sock;
	struct fg_settings *settings;	/* loop thread only; swapped on HUP */
	const char *config_file;	/* --config, NULL for the defaults */
	const char *opt_listen;		/* --listen, wins over the file */
	const char *opt_root;		/* --root, wins over the file */
	struct whd_inbox *inbox;
	struct whd_pool *pool;
	struct whd_workers *workers;
	struct whd_metrics *metrics;
	struct whd_wake *wake;		/* post-receive's FIFOs (wake.c) */

	/* Connections, indexed by socket (http.c). */
	struct whd_conn **conns;
	size_t nconns_alloc;
	int nconns;

	/* Work finished by other threads, run on the loop (whd_loop_post). */
	struct event *post_ev;
	struct whd_post *post_head, *post_tail;	/* under post_lock */
	pthread_mutex_t post_lock;

	int inflight;			/* requests not answered yet */
	bool stopping;
	struct event *stop_ev;		/* grace timer after SIGTERM */
};

/* One request, from its arrival to its reply. */
struct whd_req {
	struct whd *d;
	struct evhttp_request *req;
	struct whd_conn *conn;
	struct timespec start;
	enum evhttp_cmd_type cmd;
	char path[512];			/* decoded, without the query */
	char *query;			/* raw query string, may be NULL */
	/* For the log line and the metrics; "" when not known. */
	char forge[16];
	char event[64];
	char kind[32];
	char repo[256];
	char delivery[FG_EVENT_DELIVERY_MAX + 1];
	char token[65];			/* the API token's name */
	const char *result;		/* "accepted", "duplicate", ... */
	size_t body_len;
};

/* http.c */
int whd_http_start(struct whd *d, struct fg_err *err);
void whd_http_apply_limits(struct whd *d);
void whd_http_stop_listening(struct whd *d);
void whd_http_free(struct whd *d);

/*
 * Send the one reply of r: code, and body as one line of JSON (a newline
 * is added).  Writes the log line, counts the metrics, frees r.
 * result names the outcome for the log and the metrics ("ok",
 * "accepted", "unauthorized", ...).
 */
void whd_reply(struct whd_req *r, int code, const char *result,
    const char *json);

/* As whd_reply with a body of another type (the metrics page). */
void whd_reply_buffer(struct whd_req *r, int code, const char *result,
    const char *type, struct evbuffer *body);

/* As whd_reply with {"error":"<message>"} (message escaped). */
void whd_reply_error(struct whd_req *r, int code, const char *result,
    const char *message);

/* A header of the request, or NULL. */
const char *whd_header(const struct whd_req *r, const char *name);

/* The query parameter name of the request, or NULL; free() it. */
char *whd_query(const struct whd_req *r, const char *name);

/*
 * A REST answer built off the loop (on a pool or deploy thread) and sent
 * by it: the status, the log's result word and the JSON body.
 */
struct whd_answer {
	int code;
	const char *result;
	struct fg_buf out;
};

/* {"error": msg} with code and result. */
void whd_answer_error(struct whd_answer *a, int code, const char *result,
    const char *msg);

/* The answer for a lib/ error: 404, 400, 403, 409 or 500, with its msg. */
void whd_answer_err(struct whd_answer *a, const struct fg_err *err);

/* json as the body, with code and result; 500 when out of memory (-1). */
int whd_answer_json(struct whd_answer *a, int code, const char *result,
    const cJSON *json);

/*
 * Append s to b as a JSON string, quotes included: control characters (C0,
 * DEL, C1) as \u00XX and each byte that is not UTF-8 as \ufffd, so that
 * what a client sent (a path, a header) cannot make a log line invalid
 * JSON or drive the terminal of whoever reads it.
 */
int whd_json_str(struct fg_buf *b, const char *s);

/* Monotonic milliseconds since r arrived. */
double whd_elapsed_ms(const struct whd_req *r);

/*
 * Run p->fn(p->payload) on the loop thread, soon.  Safe from any thread;
 * cannot fail: the caller provides the node (usually inside the payload),
 * and must not touch it until fn runs.
 */
void whd_loop_post(struct whd *d, struct whd_post *p);

/* Run what was posted (the loop's callback; also at exit). */
void whd_loop_run_posted(struct whd *d);

/* hooks.c: POST /hooks/<forge>. */
/*
 * Watch the wake-up FIFO of every repository known at start (making it),
 * so a push's events are processed as soon as post-receive queues them.
 */
void whd_wake_start(struct whd *d);
void whd_wake_free(struct whd *d);

void whd_hooks_handle(struct whd_req *r, const char *forge);
/* Install hooks.c's cJSON allocator; once, before any thread starts. */
void whd_hooks_init(void);

/* api.c: /api/v1/... */
void whd_api_handle(struct whd_req *r, const char *rest);

/* api_deploy.c: deploy, reset, environments; true when it answered r. */
struct cJSON;
struct fg_config;
bool whd_api_deploy_handle(struct whd_req *r, const char *repo,
    const char *sub, int role, const char *tname);
void whd_api_deploy_envs(struct cJSON *root, const struct fg_config *cfg,
    const char *path);
void whd_deploy_recover_all(const struct fg_settings *s);
void whd_deploy_wait_all(void);

/* metrics.c */
int whd_metrics_new(struct whd_metrics **out);
void whd_metrics_free(struct whd_metrics *m);
void whd_metrics_request(struct whd_metrics *m, int code, double ms);
void whd_metrics_delivery(struct whd_metrics *m, const char *forge,
    const char *kind, const char *result);
void whd_metrics_handle(struct whd_req *r);

/* main.c */
void whd_request_done(struct whd *d);

#endif
