/*
 * main.c - flowgate-webhookd: the HTTP daemon.
 *
 * So far it listens, answers GET /healthz, answers every other request
 * with a one-line JSON 404, and stops cleanly: on SIGTERM or SIGINT it
 * closes the listener, lets the callbacks already queued finish, frees
 * everything and exits 0.  Intake, the API and
 * the workers come with the webhookd issue.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <git2.h>

#include "log.h"
#include "util.h"

#define DEFAULT_LISTEN "127.0.0.1:8686"
#define DEFAULT_ROOT "./var/repos"
#define MAX_BODY_BYTES (25 * 1024 * 1024)
#define MAX_HEADERS_BYTES (64 * 1024)
#define REQUEST_TIMEOUT_SEC 30

static const char usage_text[] =
    "usage: flowgate-webhookd [--listen ADDR:PORT] [--root DIR]\n"
    "\n"
    "Serve flowgate's webhook intake and API for the repositories under\n"
    "DIR (default ./var/repos) on ADDR:PORT (default 127.0.0.1:8686).\n"
    "GET /healthz answers {\"status\":\"ok\"}.  SIGTERM or SIGINT stops it\n"
    "after the requests in flight finish.";

struct daemon {
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *sock;
	const char *root;
};

static void
reply_json(struct evhttp_request *req, int code, const char *reason,
    const char *json)
{
	struct evbuffer *buf = evbuffer_new();

	if (buf == NULL) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evbuffer_add_printf(buf, "%s\n", json);
	evhttp_send_reply(req, code, reason, buf);
	evbuffer_free(buf);
}

/* Every request ends in exactly one reply, as libevent requires. */
static void
on_request(struct evhttp_request *req, void *arg)
{
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(
	    req));
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

	(void)arg;
	if (path != NULL && strcmp(path, "/healthz") == 0) {
		if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
			reply_json(req, 405, "Method Not Allowed",
			    "{\"error\":\"method not allowed\"}");
			return;
		}
		reply_json(req, 200, "OK", "{\"status\":\"ok\"}");
		return;
	}
	reply_json(req, 404, "Not Found", "{\"error\":\"no such route\"}");
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	fg_log_info("event=shutdown signal=%d", (int)sig);
	if (d->sock != NULL) {
		evhttp_del_accept_socket(d->http, d->sock);
		d->sock = NULL;
	}
	/*
	 * Every request is answered inside its callback, so once the
	 * listener is closed nothing is in flight: leave after the callbacks
	 * already queued have run.
	 */
	event_base_loopexit(d->base, NULL);
}

static int
split_listen(char *host, size_t hsize, unsigned short *port, const char *s)
{
	const char *colon = strrchr(s, ':');
	long long p;

	if (colon == NULL || (size_t)(colon - s) >= hsize || colon == s)
		return -1;
	if (fg_parse_int(&p, colon + 1, 1, 65535, NULL) < 0)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	*port = (unsigned short)p;
	return 0;
}

static void
log_to_stderr(enum fg_log_level level, const char *line, void *payload)
{
	static const char *const names[] = { "warn", "info", "debug" };

	(void)payload;
	fprintf(stderr, "flowgate-webhookd: level=%s %s\n", names[level], line);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "root", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon d = { NULL, NULL, NULL, DEFAULT_ROOT };
	struct event *sigterm = NULL, *sigint = NULL;
	struct timeval timeout = { REQUEST_TIMEOUT_SEC, 0 };
	const char *listen = DEFAULT_LISTEN;
	unsigned short port;
	char host[256];
	struct stat st;
	int c, rc = 1;

	fg_log_set_sink(log_to_stderr, NULL);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen = optarg; break;
		case 'r': d.root = optarg; break;
		case 'h': puts(usage_text); return 0;
		default: fprintf(stderr, "%s\n", usage_text); return 2;
		}
	}
	if (optind != argc || split_listen(host, sizeof(host), &port,
	    listen) < 0) {
		fprintf(stderr, "flowgate-webhookd: bad listen address '%s' "
		    "(want ADDR:PORT)\n%s\n", listen, usage_text);
		return 2;
	}
	if (stat(d.root, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "flowgate-webhookd: repository root '%s' is "
		    "not a directory\n", d.root);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	git_libgit2_init();
	d.base = event_base_new();
	d.http = d.base != NULL ? evhttp_new(d.base) : NULL;
	if (d.http == NULL) {
		fg_log_warnx("cannot start the event loop");
		goto out;
	}
	evhttp_set_max_body_size(d.http, MAX_BODY_BYTES);
	evhttp_set_max_headers_size(d.http, MAX_HEADERS_BYTES);
	evhttp_set_timeout_tv(d.http, &timeout);
	evhttp_set_allowed_methods(d.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD);
	evhttp_set_gencb(d.http, on_request, &d);
	d.sock = evhttp_bind_socket_with_handle(d.http, host, port);
	if (d.sock == NULL) {
		fg_log_warn("cannot listen on %s", listen);
		goto out;
	}
	sigterm = evsignal_new(d.base, SIGTERM, on_signal, &d);
	sigint = evsignal_new(d.base, SIGINT, on_signal, &d);
	if (sigterm == NULL || sigint == NULL || event_add(sigterm, NULL) < 0 ||
	    event_add(sigint, NULL) < 0) {
		fg_log_warnx("cannot install signal handlers");
		goto out;
	}
	fg_log_info("event=listening addr=%s root=%s", listen, d.root);
	if (event_base_dispatch(d.base) < 0) {
		fg_log_warnx("the event loop failed");
		goto out;
	}
	fg_log_info("event=stopped");
	rc = 0;
out:
	if (sigint != NULL)
		event_free(sigint);
	if (sigterm != NULL)
		event_free(sigterm);
	if (d.http != NULL)
		evhttp_free(d.http);
	if (d.base != NULL)
		event_base_free(d.base);
	git_libgit2_shutdown();
	return rc;
}
