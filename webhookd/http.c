/*
 * http.c - the HTTP side of flowgate-webhookd: limits, connections,
 * routing, replies, the request log.
 *
 * libevent 2.1's evhttp times out a read that makes no progress, but a
 * client that sends one byte a second always makes progress.  So each
 * connection gets a deadline of its own: the request timeout, counted
 * from the connection's start or from its last answer.  A connection
 * whose request is with us (busy) is never cut; one that runs out of time
 * otherwise is shut down, and evhttp, seeing the socket end, frees it.
 * The same check closes connections over the configured number at once
 * (2.1 has no evhttp_set_max_connections).
 *
 * We hold a reference on each connection's bufferevent, so neither it nor
 * its socket number goes away under us; once evhttp has freed it (its
 * callbacks are gone) and it is not busy, the next tick drops ours.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "util.h"
#include "whd.h"
#include "banned.h"

struct whd_conn {
	struct whd *d;
	struct bufferevent *bev;
	evutil_socket_t fd;
	struct event *tick;
	int64_t mark_ms;		/* start, or the last answer */
	bool busy;			/* a request of it is with us */
	bool over;			/* over the connection limit */
	bool shut;
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double
whd_elapsed_ms(const struct whd_req *r)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)(ts.tv_sec - r->start.tv_sec) * 1e3 +
	    (double)(ts.tv_nsec - r->start.tv_nsec) / 1e6;
}

static bool
bev_alive(struct bufferevent *bev)
{
	bufferevent_data_cb rcb = NULL, wcb = NULL;
	bufferevent_event_cb ecb = NULL;

	bufferevent_getcb(bev, &rcb, &wcb, &ecb, NULL);
	return rcb != NULL || ecb != NULL;
}

static void
conn_release(struct whd_conn *c)
{
	struct whd *d = c->d;

	if (c->fd >= 0 && (size_t)c->fd < d->nconns_alloc &&
	    d->conns[c->fd] == c)
		d->conns[c->fd] = NULL;
	d->nconns--;
	event_free(c->tick);
	bufferevent_decref(c->bev);
	free(c);
}

static void
conn_tick(evutil_socket_t fd, short what, void *arg)
{
	struct whd_conn *c = arg;
	struct whd *d = c->d;

	(void)fd;
	(void)what;
	if (c->fd < 0) {
		c->fd = bufferevent_getfd(c->bev);
		if (c->fd >= 0 && (size_t)c->fd < d->nconns_alloc)
			d->conns[c->fd] = c;
	}
	if (!bev_alive(c->bev)) {
		if (!c->busy)
			conn_release(c);
		return;
	}
	if (c->busy || c->shut || c->fd < 0)
		return;
	if (c->over || now_ms() - c->mark_ms >
	    (int64_t)d->settings->timeout * 1000) {
		if (c->over)
			fg_log_info("event=connection_refused reason=\"over "
			    "%d connections\"", d->settings->connections);
		else
			fg_log_info("event=connection_timeout seconds=%d",
			    d->settings->timeout);
		shutdown(c->fd, SHUT_RDWR);
		c->shut = true;
	}
}

/*
 * evhttp asks us for each new connection's bufferevent: make it, take a
 * reference, start its clock.
 */
static struct bufferevent *
on_new_bev(struct event_base *base, void *arg)
{
	struct whd *d = arg;
	struct timeval every = { 1, 0 };
	struct bufferevent *bev;
	struct whd_conn *c;

	bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return bev;
	c->tick = event_new(base, -1, EV_PERSIST, conn_tick, c);
	if (c->tick == NULL) {
		free(c);
		return bev;
	}
	c->d = d;
	c->bev = bev;
	c->fd = -1;
	c->mark_ms = now_ms();
	c->over = d->nconns >= d->settings->connections;
	bufferevent_incref(bev);
	d->nconns++;
	/* The first tick learns the socket (set after we return). */
	event_add(c->tick, &every);
	event_active(c->tick, EV_TIMEOUT, 0);
	return bev;
}

static struct whd_conn *
conn_of(struct whd *d, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev;
	evutil_socket_t fd;

	if (evcon == NULL)
		return NULL;
	bev = evhttp_connection_get_bufferevent(evcon);
	fd = bev != NULL ? bufferevent_getfd(bev) : -1;
	if (fd < 0 || (size_t)fd >= d->nconns_alloc)
		return NULL;
	if (d->conns[fd] != NULL && d->conns[fd]->bev != bev)
		return NULL;
	return d->conns[fd];
}

const char *
whd_header(const struct whd_req *r, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(r->req),
	    name);
}

void
whd_answer_error(struct whd_answer *a, int code, const char *result,
    const char *msg)
{
	a->code = code;
	a->result = result;
	fg_buf_reset(&a->out);
	fg_buf_puts(&a->out, "{\"error\":");
	whd_json_str(&a->out, msg);
	fg_buf_putc(&a->out, '}');
}

void
whd_answer_err(struct whd_answer *a, const struct fg_err *err)
{
	const char *msg = err->msg[0] != '\0' ? err->msg : "error";

	switch (err->code) {
	case FG_ENOTFOUND:
		whd_answer_error(a, 404, "not_found", msg);
		break;
	case FG_EINVALID:
	case FG_ELIMIT:
		whd_answer_error(a, 400, "invalid", msg);
		break;
	case FG_EDENIED:
		whd_answer_error(a, 403, "forbidden", msg);
		break;
	case FG_EBUSY:
	case FG_ECONFLICT:
		whd_answer_error(a, 409, "conflict", msg);
		break;
	default:
		whd_answer_error(a, 500, "error", msg);
		break;
	}
}

int
whd_answer_json(struct whd_answer *a, int code, const char *result,
    const cJSON *json)
{
	char *text = json != NULL ? cJSON_PrintUnformatted(json) : NULL;

	if (text == NULL) {
		whd_answer_error(a, 500, "error", "out of memory");
		return -1;
	}
	fg_buf_reset(&a->out);
	fg_buf_puts(&a->out, text);
	cJSON_free(text);
	a->code = code;
	a->result = result;
	return 0;
}

char *
whd_query(const struct whd_req *r, const char *name)
{
	struct evkeyvalq q;
	const char *v;
	char *copy = NULL;

	if (r->query == NULL)
		return NULL;
	TAILQ_INIT(&q);
	if (evhttp_parse_query_str(r->query, &q) == 0) {
		v = evhttp_find_header(&q, name);
		if (v != NULL)
			copy = fg_strdup(v);
	}
	evhttp_clear_headers(&q);
	return copy;
}

int
whd_json_str(struct fg_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s), n;
	int rc = fg_buf_putc(b, '"');

	while (rc == 0 && left > 0) {
		n = fg_utf8_char_len((const char *)p, left);
		if (n == 0) {
			rc = fg_buf_puts(b, "\\ufffd");
			n = 1;
		} else if (*p == '"' || *p == '\\') {
			rc = fg_buf_putc(b, '\\');
			if (rc == 0)
				rc = fg_buf_putc(b, (char)*p);
		} else if (fg_utf8_is_control((const char *)p, n)) {
			/* C0 and DEL are the byte, C1 its second. */
			unsigned c = p[n - 1];
			char esc[7] = { '\\', 'u', '0', '0', hex[c >> 4],
			    hex[c & 15], 0 };

			rc = fg_buf_puts(b, esc);
		} else {
			rc = fg_buf_add(b, (const char *)p, n);
		}
		p += n;
		left -= n;
	}
	if (rc == 0)
		rc = fg_buf_putc(b, '"');
	return rc;
}

static const char *
method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE: return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH: return "PATCH";
	default: return "?";
	}
}

static void
add_field(struct fg_buf *b, const char *key, const char *value)
{
	if (value == NULL || *value == '\0')
		return;
	fg_buf_printf(b, ",\"%s\":", key);
	whd_json_str(b, value);
}

/*
 * One JSON line per request on stderr: what came, what we said, how
 * long it took.  Never a body, a secret, a signature or a token (only
 * the token's configured name).
 */
static void
log_request(const struct whd_req *r, int code, const char *reason,
    double ms)
{
	struct fg_buf b = FG_BUF_INIT;
	char ts[32];

	fg_format_utc(ts, sizeof(ts), fg_now());
	fg_buf_printf(&b, "{\"ts\":\"%s\",\"method\":\"%s\",\"path\":", ts,
	    method_name(r->cmd));
	whd_json_str(&b, r->path);
	fg_buf_printf(&b, ",\"status\":%d,\"ms\":%.3f,\"bytes\":%zu", code,
	    ms, r->body_len);
	add_field(&b, "forge", r->forge);
	add_field(&b, "event", r->event);
	add_field(&b, "kind", r->kind);
	add_field(&b, "repo", r->repo);
	add_field(&b, "delivery", r->delivery);
	add_field(&b, "token", r->token);
	add_field(&b, "result", r->result);
	add_field(&b, "reason", reason);
	fg_buf_puts(&b, "}\n");
	fwrite(b.ptr, 1, b.len, stderr);
	fg_buf_release(&b);
}

static const char *
code_reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

/* The "error" text of a reply, for the log line; "" when none. */
static void
reason_of(char *out, size_t size, const char *json)
{
	cJSON *o = cJSON_Parse(json);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");

	out[0] = '\0';
	if (cJSON_IsString(e))
		snprintf(out, size, "%s", e->valuestring);
	cJSON_Delete(o);
}

/* Log, count, free: the end of every request. */
static void
finish(struct whd_req *r, int code, const char *reason)
{
	struct whd *d = r->d;
	double ms = whd_elapsed_ms(r);

	log_request(r, code, reason, ms);
	whd_metrics_request(d->metrics, code, ms);
	if (r->conn != NULL) {
		r->conn->busy = false;
		r->conn->mark_ms = now_ms();
	}
	free(r->query);
	free(r);
	whd_request_done(d);
}

void
whd_reply_buffer(struct whd_req *r, int code, const char *result,
    const char *type, struct evbuffer *body)
{
	r->result = result;
	evhttp_add_header(evhttp_request_get_output_headers(r->req),
	    "Content-Type", type);
	evhttp_send_reply(r->req, code, code_reason(code), body);
	finish(r, code, "");
}

void
whd_reply(struct whd_req *r, int code, const char *result, const char *json)
{
	struct evbuffer *buf = evbuffer_new();
	char reason[512] = "";

	r->result = result;
	if (code >= 400)
		reason_of(reason, sizeof(reason), json);
	evhttp_add_header(evhttp_request_get_output_headers(r->req),
	    "Content-Type", "application/json");
	if (buf == NULL) {
		evhttp_send_error(r->req, 500, "out of memory");
		code = 500;
	} else {
		evbuffer_add(buf, json, strlen(json));
		evbuffer_add(buf, "\n", 1);
		evhttp_send_reply(r->req, code, code_reason(code), buf);
		evbuffer_free(buf);
	}
	finish(r, code, reason);
}

void
whd_reply_error(struct whd_req *r, int code, const char *result,
    const char *message)
{
	struct fg_buf b = FG_BUF_INIT;

	if (fg_buf_puts(&b, "{\"error\":") < 0 ||
	    whd_json_str(&b, message) < 0 || fg_buf_putc(&b, '}') < 0) {
		fg_buf_release(&b);
		whd_reply(r, 500, "error", "{\"error\":\"out of memory\"}");
		return;
	}
	whd_reply(r, code, result, b.ptr);
	fg_buf_release(&b);
}

static void
handle_healthz(struct whd_req *r)
{
	if (r->cmd != EVHTTP_REQ_GET && r->cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Allow", "GET, HEAD");
		whd_reply_error(r, 405, "method", "method not allowed: use "
		    "GET");
		return;
	}
	whd_reply(r, 200, "ok", r->d->stopping ?
	    "{\"status\":\"stopping\"}" : "{\"status\":\"ok\"}");
}

/*
 * Every request ends in exactly one reply, here or, for work handed to
 * another thread, when its answer comes back.
 */
static void
on_request(struct evhttp_request *req, void *arg)
{
	struct whd *d = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *raw = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	const char *q = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
	struct whd_req *r;
	char *path = NULL;
	size_t plen = 0;

	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	r->d = d;
	r->req = req;
	r->cmd = evhttp_request_get_command(req);
	r->conn = conn_of(d, req);
	if (r->conn != NULL)
		r->conn->busy = true;
	r->body_len = evbuffer_get_length(evhttp_request_get_input_buffer(
	    req));
	d->inflight++;
	if (raw != NULL)
		path = evhttp_uridecode(raw, 0, &plen);
	if (path == NULL || plen >= sizeof(r->path) ||
	    strlen(path) != plen || path[0] != '/') {
		/* Unparsable, too long, or a NUL hidden in %00. */
		if (path != NULL && strlen(path) < sizeof(r->path))
			snprintf(r->path, sizeof(r->path), "%s", path);
		free(path);
		whd_reply_error(r, 404, "not_found", "no such route");
		return;
	}
	snprintf(r->path, sizeof(r->path), "%s", path);
	free(path);
	if (q != NULL) {
		r->query = fg_strdup(q);
		if (r->query == NULL) {
			whd_reply_error(r, 500, "error", "out of memory");
			return;
		}
	}
	if (strcmp(r->path, "/healthz") == 0)
		handle_healthz(r);
	else if (strcmp(r->path, "/metrics") == 0)
		whd_metrics_handle(r);
	else if (strncmp(r->path, "/hooks/", 7) == 0)
		whd_hooks_handle(r, r->path + 7);
	else if (strncmp(r->path, "/api/v1/", 8) == 0)
		whd_api_handle(r, r->path + 8);
	else
		whd_reply_error(r, 404, "not_found", "no such route");
}

/*
 * libevent answers a body over its limit with 413 itself, before our
 * callback and not in JSON.  Its limit is set an eighth above ours, so a
 * body that is only somewhat too big reaches us and gets the JSON 413;
 * one far over is refused by libevent on its Content-Length, unread.
 */
void
whd_http_apply_limits(struct whd *d)
{
	struct fg_settings *s = d->settings;
	struct timeval tv = { s->timeout, 0 };

	evhttp_set_max_body_size(d->http, (ev_ssize_t)(s->body_max +
	    s->body_max / 8 + 65536));
	evhttp_set_max_headers_size(d->http, (ev_ssize_t)s->headers_max);
	evhttp_set_timeout_tv(d->http, &tv);
}

int
whd_http_start(struct whd *d, struct fg_err *err)
{
	struct rlimit rl;
	unsigned short port;
	char host[256];

	if (fg_settings_split_listen(host, sizeof(host), &port,
	    d->settings->listen, err) < 0)
		return FG_EINVALID;
	d->nconns_alloc = 65536;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < d->nconns_alloc)
		d->nconns_alloc = (size_t)rl.rlim_cur;
	d->conns = calloc(d->nconns_alloc, sizeof(*d->conns));
	d->http = evhttp_new(d->base);
	if (d->conns == NULL || d->http == NULL)
		return fg_err_set(err, FG_ENOMEM, "cannot set up HTTP");
	whd_http_apply_limits(d);
	evhttp_set_allowed_methods(d->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	evhttp_set_bevcb(d->http, on_new_bev, d);
	evhttp_set_gencb(d->http, on_request, d);
	d->sock = evhttp_bind_socket_with_handle(d->http, host, port);
	if (d->sock == NULL)
		return fg_err_set(err, FG_EIO, "cannot listen on '%s': %s",
		    d->settings->listen, strerror(errno));
	return 0;
}

void
whd_http_stop_listening(struct whd *d)
{
	if (d->sock != NULL) {
		evhttp_del_accept_socket(d->http, d->sock);
		d->sock = NULL;
	}
}

void
whd_http_free(struct whd *d)
{
	size_t i;

	if (d->http != NULL)
		evhttp_free(d->http);
	d->http = NULL;
	for (i = 0; d->conns != NULL && i < d->nconns_alloc; i++)
		if (d->conns[i] != NULL)
			conn_release(d->conns[i]);
	free(d->conns);
	d->conns = NULL;
}
