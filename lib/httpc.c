/*
 * httpc.c - the shared HTTP client (see httpc.h): curl's multi interface
 * on a libevent loop of its own, as in curl's docs/examples/hiperfifo.c.
 *
 * Who touches what.  A request (struct req) lives on its caller's stack.
 * The caller fills it and its easy handle, puts it on c->queue under c->mu
 * and writes a byte to the wake pipe; from then on only the loop thread
 * touches it, until the loop sets req->done under c->mu and broadcasts
 * c->cv.  The caller, woken, owns it again and frees the easy handle (the
 * loop has removed it from the multi handle by then).  c->users counts the
 * callers inside fg_httpc_do(), so fg_httpc_free() can wait for the last
 * one before it destroys the mutex they sleep on.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "httpc.h"
#include "banned.h"

struct req {
	const struct fg_httpc_req *in;
	CURL *easy;
	struct fg_buf *answer;
	size_t kept;
	char errbuf[CURL_ERROR_SIZE];
	CURLcode result;
	long code;
	bool stopped;			/* failed by the client's shutdown */
	bool done;
	struct req *next;
};

/* One socket curl asked us to watch. */
struct sock {
	struct event *ev;
	curl_socket_t fd;
};

struct fg_httpc {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	int wake[2];			/* [0] read by the loop */
	bool stopping;			/* no new requests; loop ends */
	struct req *queue;		/* submitted, not yet added */
	size_t users;			/* callers inside fg_httpc_do() */
	/* The loop thread's own: */
	struct event_base *base;
	struct event *wake_ev, *timer;
	CURLM *multi;
	struct req *active;		/* added to multi */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void
curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t
on_body(char *data, size_t size, size_t n, void *payload)
{
	struct req *r = payload;
	size_t len = size * n, room;

	room = r->kept < r->in->answer_max ? r->in->answer_max - r->kept : 0;
	if (room > len)
		room = len;
	if (room > 0 && r->answer != NULL &&
	    fg_buf_add(r->answer, data, room) < 0)
		return 0;	/* out of memory: curl fails the transfer */
	r->kept += room;
	return len;
}

/* Mark r finished and wake its caller.  Loop thread, c->mu not held. */
static void
finish(struct fg_httpc *c, struct req *r)
{
	struct req **pp;

	for (pp = &c->active; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	curl_multi_remove_handle(c->multi, r->easy);
	pthread_mutex_lock(&c->mu);
	r->done = true;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* Collect the transfers curl says are over. */
static void
check_done(struct fg_httpc *c)
{
	struct req *r;
	char *priv = NULL;
	CURLMsg *m;
	int left;

	for (;;) {
		m = curl_multi_info_read(c->multi, &left);
		if (m == NULL)
			break;
		if (m->msg != CURLMSG_DONE)
			continue;
		priv = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		r = (struct req *)(void *)priv;
		if (r == NULL)
			continue;
		r->result = m->data.result;
		if (r->result == CURLE_OK)
			curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE,
			    &r->code);
		finish(c, r);
	}
}

static void
on_socket_event(evutil_socket_t fd, short what, void *arg)
{
	struct fg_httpc *c = arg;
	int flags = 0, running = 0;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(c->multi, fd, flags, &running);
	check_done(c);
	if (running == 0 && evtimer_pending(c->timer, NULL))
		evtimer_del(c->timer);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct fg_httpc *c = arg;
	int running = 0;

	(void)fd;
	(void)what;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(c);
}

/* CURLMOPT_TIMERFUNCTION: curl wants on_timer in timeout_ms (-1: never). */
static int
timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct fg_httpc *c = userp;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(c->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(c->timer, &tv) == 0 ? 0 : -1;
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what curl says, or stop. */
static int
socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
    void *socketp)
{
	struct fg_httpc *c = userp;
	struct sock *s = socketp;
	short kind;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			event_free(s->ev);
			free(s);
		}
		curl_multi_assign(c->multi, fd, NULL);
		return 0;
	}
	kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
	    ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL)
			return -1;
		s->fd = fd;
		curl_multi_assign(c->multi, fd, s);
	} else {
		event_free(s->ev);
	}
	s->ev = event_new(c->base, fd, kind, on_socket_event, c);
	if (s->ev == NULL || event_add(s->ev, NULL) < 0)
		return -1;
	return 0;
}

/*
 * The wake pipe: add what callers queued, or, when stopping, fail every
 * request queued or in flight and leave the loop.
 */
static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct fg_httpc *c = arg;
	struct req *q, *r;
	char buf[64];
	bool stopping;
	int running = 0;

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&c->mu);
	q = c->queue;
	c->queue = NULL;
	stopping = c->stopping;
	pthread_mutex_unlock(&c->mu);
	while (q != NULL) {
		r = q;
		q = q->next;
		r->next = c->active;
		c->active = r;
		if (stopping || curl_multi_add_handle(c->multi, r->easy) !=
		    CURLM_OK) {
			r->stopped = stopping;
			r->result = stopping ? CURLE_ABORTED_BY_CALLBACK :
			    CURLE_FAILED_INIT;
			finish(c, r);
		}
	}
	if (stopping) {
		while (c->active != NULL) {
			c->active->stopped = true;
			c->active->result = CURLE_ABORTED_BY_CALLBACK;
			finish(c, c->active);
		}
		event_base_loopbreak(c->base);
		return;
	}
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(c);
}

static void *
loop_main(void *arg)
{
	struct fg_httpc *c = arg;

	event_base_loop(c->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static void
wake(struct fg_httpc *c)
{
	ssize_t n;

	do
		n = write(c->wake[1], "x", 1);
	while (n < 0 && errno == EINTR);
	/* EAGAIN: the pipe is full, so the loop is awake already. */
}

int
fg_httpc_new(struct fg_httpc **out, struct fg_err *err)
{
	struct fg_httpc *c;
	int rc = 0;

	*out = NULL;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return fg_err_set(err, FG_EIO, "cannot start libcurl: %s",
		    curl_easy_strerror(curl_init_rc));
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	c->wake[0] = c->wake[1] = -1;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (pipe2(c->wake, O_NONBLOCK | O_CLOEXEC) < 0) {
		rc = fg_err_set(err, FG_EIO, "cannot make a pipe: %s",
		    strerror(errno));
		goto fail;
	}
	c->base = event_base_new();
	c->multi = curl_multi_init();
	if (c->base == NULL || c->multi == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "cannot start the http loop");
		goto fail;
	}
	c->wake_ev = event_new(c->base, c->wake[0], EV_READ | EV_PERSIST,
	    on_wake, c);
	c->timer = evtimer_new(c->base, on_timer, c);
	if (c->wake_ev == NULL || c->timer == NULL ||
	    event_add(c->wake_ev, NULL) < 0) {
		rc = fg_err_set(err, FG_ENOMEM, "cannot start the http loop");
		goto fail;
	}
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	if (pthread_create(&c->th, NULL, loop_main, c) != 0) {
		rc = fg_err_set(err, FG_EIO, "cannot start the http thread");
		goto fail;
	}
	*out = c;
	return 0;
fail:
	if (c->wake_ev != NULL)
		event_free(c->wake_ev);
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->multi != NULL)
		curl_multi_cleanup(c->multi);
	if (c->base != NULL)
		event_base_free(c->base);
	if (c->wake[0] >= 0)
		close(c->wake[0]);
	if (c->wake[1] >= 0)
		close(c->wake[1]);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
	return rc;
}

static int
setup(struct req *r, struct fg_err *err)
{
	const struct fg_httpc_req *in = r->in;
	CURL *e;

	e = curl_easy_init();
	if (e == NULL)
		return fg_err_set(err, FG_ENOMEM, "cannot start libcurl");
	r->easy = e;
	curl_easy_setopt(e, CURLOPT_URL, in->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, in->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, in->timeout_ms <
	    FG_HTTPC_CONNECT_SECS * 1000L ? in->timeout_ms :
	    FG_HTTPC_CONNECT_SECS * 1000L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "flowgate");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, in->headers);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, in->method);
	if (in->body != NULL) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)in->body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, in->body);
	} else if (strcmp(in->method, "GET") == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	}
	return 0;
}

int
fg_httpc_do(long *code, struct fg_buf *answer, struct fg_httpc *c,
    const struct fg_httpc_req *in, struct fg_err *err)
{
	struct req r;
	int rc = 0;

	*code = 0;
	if (in->method == NULL || in->url == NULL)
		return fg_err_set(err, FG_EINVALID, "a request needs a method "
		    "and a url");
	if (in->timeout_ms < 1 || in->timeout_ms > FG_HTTPC_TIMEOUT_MAX)
		return fg_err_set(err, FG_EINVALID, "timeout %ld ms is out of "
		    "bounds (1 to %ld)", in->timeout_ms, FG_HTTPC_TIMEOUT_MAX);
	memset(&r, 0, sizeof(r));
	r.in = in;
	r.answer = answer;
	rc = setup(&r, err);
	if (rc < 0)
		goto out;
	pthread_mutex_lock(&c->mu);
	if (c->stopping) {
		pthread_mutex_unlock(&c->mu);
		rc = fg_err_set(err, FG_EIO, "the http client stopped before "
		    "'%s %s' was answered", in->method, in->url);
		goto out;
	}
	c->users++;
	r.next = c->queue;
	c->queue = &r;
	pthread_mutex_unlock(&c->mu);
	wake(c);
	pthread_mutex_lock(&c->mu);
	while (!r.done)
		pthread_cond_wait(&c->cv, &c->mu);
	c->users--;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (r.stopped)
		rc = fg_err_set(err, FG_EIO, "the http client stopped before "
		    "'%s %s' was answered", in->method, in->url);
	else if (r.result != CURLE_OK)
		rc = fg_err_set(err, FG_EIO, "%s %s: %s", in->method, in->url,
		    r.errbuf[0] != '\0' ? r.errbuf :
		    curl_easy_strerror(r.result));
	else
		*code = r.code;
out:
	if (r.easy != NULL)
		curl_easy_cleanup(r.easy);
	return rc;
}

void
fg_httpc_free(struct fg_httpc *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->stopping = true;
	pthread_mutex_unlock(&c->mu);
	wake(c);
	pthread_join(c->th, NULL);
	/* The loop failed every request it knew of; wait for their callers
	 * to see it before the mutex they sleep on goes away. */
	pthread_mutex_lock(&c->mu);
	while (c->users > 0)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
	curl_multi_cleanup(c->multi);
	event_free(c->wake_ev);
	event_free(c->timer);
	event_base_free(c->base);
	close(c->wake[0]);
	close(c->wake[1]);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}
