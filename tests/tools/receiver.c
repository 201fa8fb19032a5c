/*
 * receiver.c - a local stand-in for a deploy API (or any webhook target)
 * that tests point flowgate at: it checks flowgate's signature, writes
 * down every request it gets, and answers as told.
 *
 * usage: receiver [--listen ADDR:PORT] [--port-file FILE] [--log FILE]
 *                 [--secret KEY] [--status N] [--body TEXT]
 *                 [--pending N] [--final STATUS] [--delay-ms N]
 *                 [--get-body TEXT]
 *
 *   --listen ADDR:PORT  where to listen (default 127.0.0.1 on a free port)
 *   --port-file FILE    write the port listened on to FILE (then a
 *                       newline) once listening: wait for it to appear
 *   --log FILE          append one JSON object per request, one a line:
 *                       {"method", "path" (with the query), "content_type",
 *                       "signature" (the header as sent), "signature_ok"
 *                       (true, false, or null without --secret), "run"
 *                       (X-Flowgate-Run), "authorization" (the header
 *                       as sent, when there is one), "body"}; read it
 *                       with jq
 *   --secret KEY        check X-Flowgate-Signature: "sha256=" and the hex
 *                       HMAC-SHA256, keyed with KEY, of the body (POST) or
 *                       of the X-Flowgate-Run value (GET, a status poll);
 *                       a bad or missing one is answered 401
 *                       {"error":"bad signature"} (and still logged)
 *   --status N          the status of the answer to a POST (default 200)
 *   --body TEXT         its body (default {"accepted":true})
 *   --pending N         a GET (a status poll) is answered 200
 *                       {"status":"pending"} N times (default 0), then
 *                       {"status":"<--final>"}
 *   --final STATUS      what the status poll ends with (default succeeded)
 *   --delay-ms N        answer every request N ms late (a slow endpoint)
 *   --get-body TEXT     answer every GET 200 with TEXT instead of a status
 *                       poll's answer (a Jira issue's transitions, say)
 *
 * It stops on SIGTERM or SIGINT.  Only tests use it.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "hmac.h"
#include "settings.h"
#include "util.h"
#include "banned.h"

static const char *secret;
static const char *log_path;
static const char *post_body = "{\"accepted\":true}";
static const char *final_status = "succeeded";
static const char *get_body;
static int post_status = 200;
static long pending;
static long delay_ms;
static struct event_base *base;

struct answer {
	struct evhttp_request *req;
	int code;
	char *body;
	struct event *ev;
};

static void
send_answer(struct answer *a)
{
	struct evbuffer *out = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(a->req),
	    "Content-Type", "application/json");
	evbuffer_add_printf(out, "%s\n", a->body);
	evhttp_send_reply(a->req, a->code, a->code == 401 ? "Unauthorized" :
	    "Answer", out);
	evbuffer_free(out);
	if (a->ev != NULL)
		event_free(a->ev);
	free(a->body);
	free(a);
}

static void
on_delay(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	send_answer(arg);
}

static void
log_request(struct evhttp_request *req, const char *method, int sig_ok,
    const char *body, size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *v;
	cJSON *o = cJSON_CreateObject();
	char *text;
	FILE *f;

	if (o == NULL || log_path == NULL) {
		cJSON_Delete(o);
		return;
	}
	cJSON_AddStringToObject(o, "method", method);
	cJSON_AddStringToObject(o, "path", evhttp_request_get_uri(req));
	v = evhttp_find_header(h, "Content-Type");
	if (v != NULL)
		cJSON_AddStringToObject(o, "content_type", v);
	v = evhttp_find_header(h, "X-Flowgate-Signature");
	if (v != NULL)
		cJSON_AddStringToObject(o, "signature", v);
	if (sig_ok < 0)
		cJSON_AddNullToObject(o, "signature_ok");
	else
		cJSON_AddBoolToObject(o, "signature_ok", sig_ok);
	v = evhttp_find_header(h, "X-Flowgate-Run");
	if (v != NULL)
		cJSON_AddStringToObject(o, "run", v);
	v = evhttp_find_header(h, "Authorization");
	if (v != NULL)
		cJSON_AddStringToObject(o, "authorization", v);
	text = malloc(len + 1);
	if (text != NULL) {
		memcpy(text, body, len);
		text[len] = '\0';
		cJSON_AddStringToObject(o, "body", text);
		free(text);
	}
	text = cJSON_PrintUnformatted(o);
	f = fopen(log_path, "a");
	if (f != NULL && text != NULL) {
		fprintf(f, "%s\n", text);
		fclose(f);
	} else if (f != NULL) {
		fclose(f);
	}
	cJSON_free(text);
	cJSON_Delete(o);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *method = cmd == EVHTTP_REQ_POST ? "POST" :
	    cmd == EVHTTP_REQ_GET ? "GET" : "OTHER";
	const char *sig, *run, *signed_text;
	struct answer *a;
	struct timeval tv;
	char buf[64];
	size_t len, signed_len;
	char *body;
	int sig_ok = -1;

	(void)arg;
	len = evbuffer_get_length(in);
	body = (char *)evbuffer_pullup(in, -1);
	if (body == NULL)
		body = "";
	if (secret != NULL) {
		sig = evhttp_find_header(h, "X-Flowgate-Signature");
		run = evhttp_find_header(h, "X-Flowgate-Run");
		signed_text = cmd == EVHTTP_REQ_GET ? (run ? run : "") : body;
		signed_len = cmd == EVHTTP_REQ_GET ? strlen(signed_text) : len;
		sig_ok = sig != NULL && fg_hmac_verify_hex(secret,
		    strlen(secret), signed_text, signed_len, sig, "sha256=");
	}
	log_request(req, method, sig_ok, body, len);
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	a->req = req;
	if (sig_ok == 0) {
		a->code = 401;
		a->body = fg_strdup("{\"error\":\"bad signature\"}");
	} else if (cmd == EVHTTP_REQ_GET && get_body != NULL) {
		a->code = 200;
		a->body = fg_strdup(get_body);
	} else if (cmd == EVHTTP_REQ_GET) {
		a->code = 200;
		if (pending > 0) {
			pending--;
			snprintf(buf, sizeof(buf), "{\"status\":\"pending\"}");
		} else {
			snprintf(buf, sizeof(buf), "{\"status\":\"%s\"}",
			    final_status);
		}
		a->body = fg_strdup(buf);
	} else {
		a->code = post_status;
		a->body = fg_strdup(post_body);
	}
	if (a->body == NULL) {
		free(a);
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	if (delay_ms <= 0) {
		send_answer(a);
		return;
	}
	a->ev = evtimer_new(base, on_delay, a);
	tv.tv_sec = delay_ms / 1000;
	tv.tv_usec = (delay_ms % 1000) * 1000;
	evtimer_add(a->ev, &tv);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopexit(arg, NULL);
}

static int
number(long *out, const char *s, long max)
{
	long long v;

	if (fg_parse_int(&v, s, 0, max, NULL) < 0) {
		fprintf(stderr, "receiver: bad number '%s'\n", s);
		return -1;
	}
	*out = (long)v;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "port-file", required_argument, NULL, 'p' },
		{ "log", required_argument, NULL, 'L' },
		{ "secret", required_argument, NULL, 's' },
		{ "status", required_argument, NULL, 'S' },
		{ "body", required_argument, NULL, 'b' },
		{ "pending", required_argument, NULL, 'n' },
		{ "final", required_argument, NULL, 'f' },
		{ "delay-ms", required_argument, NULL, 'd' },
		{ "get-body", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen = NULL, *port_file = NULL;
	struct evhttp_bound_socket *bound;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct evhttp *http;
	struct event *term, *intr;
	unsigned short port;
	char host[256], tmp[4200];
	long v;
	FILE *f;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen = optarg; break;
		case 'p': port_file = optarg; break;
		case 'L': log_path = optarg; break;
		case 's': secret = optarg; break;
		case 'b': post_body = optarg; break;
		case 'f': final_status = optarg; break;
		case 'g': get_body = optarg; break;
		case 'S':
			if (number(&v, optarg, 599) < 0 || v < 100)
				return 2;
			post_status = (int)v;
			break;
		case 'n':
			if (number(&pending, optarg, 1000000) < 0)
				return 2;
			break;
		case 'd':
			if (number(&delay_ms, optarg, 3600000) < 0)
				return 2;
			break;
		default:
			fprintf(stderr, "usage: receiver [--listen ADDR:PORT] "
			    "[--port-file FILE] [--log FILE] [--secret KEY]\n"
			    "    [--status N] [--body TEXT] [--pending N] "
			    "[--final STATUS] [--delay-ms N]\n"
			    "    [--get-body TEXT]\n");
			return 2;
		}
	}
	snprintf(host, sizeof(host), "127.0.0.1");
	port = 0;
	if (listen != NULL && fg_settings_split_listen(host, sizeof(host),
	    &port, listen, NULL) < 0) {
		fprintf(stderr, "receiver: bad listen address '%s'\n", listen);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	http = evhttp_new(base);
	evhttp_set_max_body_size(http, 1024 * 1024);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_gencb(http, on_request, NULL);
	bound = evhttp_bind_socket_with_handle(http, host, port);
	if (bound == NULL) {
		fprintf(stderr, "receiver: cannot listen on %s\n", listen);
		return 1;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bound),
	    (struct sockaddr *)&ss, &sslen) < 0) {
		perror("receiver: getsockname");
		return 1;
	}
	port = ntohs(ss.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&ss)->sin6_port :
	    ((struct sockaddr_in *)&ss)->sin_port);
	if (port_file != NULL) {
		/* Written whole, then renamed: a reader never sees half. */
		snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
		f = fopen(tmp, "w");
		if (f == NULL || fprintf(f, "%u\n", port) < 0 ||
		    fclose(f) != 0 || rename(tmp, port_file) < 0) {
			perror("receiver: port file");
			return 1;
		}
	}
	term = evsignal_new(base, SIGTERM, on_signal, base);
	intr = evsignal_new(base, SIGINT, on_signal, base);
	event_add(term, NULL);
	event_add(intr, NULL);
	event_base_dispatch(base);
	event_free(term);
	event_free(intr);
	evhttp_free(http);
	event_base_free(base);
	return 0;
}
