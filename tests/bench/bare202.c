/*
 * bare202.c - the floor for tests/bench/webhookd.sh: a libevent HTTP
 * server that answers every request 202, after checking GitHub's
 * X-Hub-Signature-256 when --secret is given.  No parsing, no disk: what
 * flowgate-webhookd would cost if durability and normalization were free.
 *
 * usage: bare202 --listen ADDR:PORT [--secret KEY]
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "hmac.h"
#include "settings.h"
#include "banned.h"

static const char *secret;

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evbuffer *out = evbuffer_new();
	const char *sig;
	size_t len;
	void *body;

	(void)arg;
	if (secret != NULL) {
		sig = evhttp_find_header(evhttp_request_get_input_headers(req),
		    "X-Hub-Signature-256");
		len = evbuffer_get_length(in);
		body = evbuffer_pullup(in, -1);
		if (sig == NULL || !fg_hmac_verify_hex(secret, strlen(secret),
		    body, len, sig, "sha256=")) {
			evbuffer_add_printf(out, "{\"error\":\"bad signature\"}\n");
			evhttp_send_reply(req, 401, "Unauthorized", out);
			evbuffer_free(out);
			return;
		}
	}
	evbuffer_add_printf(out, "{\"status\":\"accepted\"}\n");
	evhttp_send_reply(req, 202, "Accepted", out);
	evbuffer_free(out);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopexit(arg, NULL);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "secret", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen = "127.0.0.1:8687";
	struct event_base *base;
	struct evhttp *http;
	struct event *term;
	unsigned short port;
	char host[256];
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen = optarg; break;
		case 's': secret = optarg; break;
		default:
			fprintf(stderr, "usage: bare202 --listen ADDR:PORT "
			    "[--secret KEY]\n");
			return 2;
		}
	}
	if (fg_settings_split_listen(host, sizeof(host), &port, listen,
	    NULL) < 0) {
		fprintf(stderr, "bare202: bad listen address '%s'\n", listen);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	http = evhttp_new(base);
	evhttp_set_max_body_size(http, 25 * 1024 * 1024);
	evhttp_set_gencb(http, on_request, NULL);
	if (evhttp_bind_socket(http, host, port) < 0) {
		fprintf(stderr, "bare202: cannot listen on %s\n", listen);
		return 1;
	}
	term = evsignal_new(base, SIGTERM, on_signal, base);
	event_add(term, NULL);
	event_base_dispatch(base);
	event_free(term);
	evhttp_free(http);
	event_base_free(base);
	return 0;
}
