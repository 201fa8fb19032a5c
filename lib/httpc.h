/*
 * httpc.h - an HTTP client for threads that may block: one libevent loop
 * on a thread of its own drives every transfer through libcurl's multi
 * interface, and callers wait for their own answer (issue 7).
 *
 * PURPOSE
 *   Flow steps (http, slack, jira) run on step threads and may each make
 *   a request.  Rather than one blocking curl_easy_perform() per thread,
 *   each with its own connections, they all hand their requests to one
 *   client: a single event_base runs curl_multi_socket_action() for every
 *   transfer (CURLMOPT_SOCKETFUNCTION and CURLMOPT_TIMERFUNCTION mapped to
 *   libevent events and a timer, after curl's hiperfifo example), so the
 *   transfers share one loop and one connection cache, and a step thread
 *   only sleeps on a condition variable until its answer is in.
 *
 * CALLING SEQUENCE
 *   fg_httpc_new() starts the loop thread.  Any number of threads then call
 *   fg_httpc_do(): it queues the request (under a mutex, then a byte down a
 *   pipe wakes the loop), and blocks until the transfer ends, fails or
 *   times out.  fg_httpc_free() stops the loop: a request queued or in
 *   flight then fails with FG_EIO "the http client stopped before 'GET
 *   url' was answered", and fg_httpc_free() returns once every caller
 *   blocked in fg_httpc_do() has returned.  A call after that is refused
 *   the same way.
 *
 * LIMITS
 *   Each request has its own time limit (timeout_ms, for the whole
 *   transfer; connecting has FG_HTTPC_CONNECT_SECS of it at most)
 *   and keeps at most answer_max bytes of the answer's body (the rest is
 *   read and dropped).  Only http and https, no redirects, no signals.
 *
 * OWNERSHIP AND THREADS
 *   struct fg_httpc is opaque; fg_httpc_free() frees it (NULL is fine).
 *   Everything a request points to is borrowed for the call.  The answer
 *   goes into the caller's buffer.  fg_httpc_do() may be called from any
 *   thread except the client's own loop thread.
 */
#ifndef FG_HTTPC_H
#define FG_HTTPC_H

#include <stddef.h>

#include <curl/curl.h>

#include "buf.h"
#include "err.h"

/* Most seconds a connection may take to open. */
#define FG_HTTPC_CONNECT_SECS	30
/* Bounds of a request's timeout, in milliseconds. */
#define FG_HTTPC_TIMEOUT_MAX	(86400L * 1000)

struct fg_httpc;

struct fg_httpc_req {
	const char *method;		/* "GET", "POST", ... */
	const char *url;
	const struct curl_slist *headers;	/* "Name: value" lines, or NULL */
	const char *body;		/* sent as is, or NULL */
	size_t body_len;
	long timeout_ms;		/* 1 to FG_HTTPC_TIMEOUT_MAX */
	size_t answer_max;		/* bytes of the answer's body kept */
};

/*
 * Start a client: its event_base, its curl multi handle and its loop
 * thread.  FG_ENOMEM, FG_EIO (no thread, no pipe, curl refused).
 */
int fg_httpc_new(struct fg_httpc **out, struct fg_err *err);

/*
 * Make one request through c and wait for its end.  0 when an answer
 * came: *code gets its status, answer (may be NULL) its body's first
 * answer_max bytes (appended).  FG_EIO when none came, with curl's words
 * ("GET http://...: Connection refused", "... timed out after 1000
 * milliseconds ...") or the client's shutdown; FG_EINVALID for a request
 * without method or url, or a timeout out of bounds; FG_ENOMEM.
 */
int fg_httpc_do(long *code, struct fg_buf *answer, struct fg_httpc *c,
    const struct fg_httpc_req *req, struct fg_err *err);

/* Stop c (see CALLING SEQUENCE) and free it. */
void fg_httpc_free(struct fg_httpc *c);

#endif
