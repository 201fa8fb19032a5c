/*
 * deploy_http.c - the http kind of deployment: a signed JSON POST, then,
 * when the config names a status URL, polling it until it says how the
 * deployment ended.
 *
 * The requests go through lib/httpc (libcurl's multi interface on a
 * libevent loop of its own): the caller's client when it gave one (the
 * daemon's flows share one), else one started for this deployment.  The
 * caller's thread waits for up to the time limit: the daemon calls
 * fg_deploy_run() from its task pool and flow threads, never from the
 * event loop.
 *
 * What the receiver gets (docs/deploy.md):
 *   POST <url>
 *   Content-Type: application/json
 *   X-Flowgate-Signature: sha256=<hex HMAC-SHA256 of the body, secret key>
 *   X-Flowgate-Run: <run id>
 *   {"commit":..., "env":..., "stage":..., "ref":..., "actor":..., "run":...}
 * Any 2xx is success, unless poll is set: then
 *   GET <poll>
 *   X-Flowgate-Signature: sha256=<hex HMAC-SHA256 of the run id>
 *   X-Flowgate-Run: <run id>
 * about every FG_DEPLOY_POLL_MS until a 2xx answer's JSON has "status"
 * "succeeded" or "failed".  Redirects are not followed; only http and
 * https are spoken.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/crypto.h>

#include "deploy_int.h"
#include "hmac.h"
#include "httpc.h"
#include "util.h"
#include "banned.h"

#define CONNECT_TIMEOUT_MS	10000L

/* A response: its body, the first FG_DEPLOY_HTTP_BODY_MAX bytes. */
struct resp {
	struct fg_buf body;
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * One request through c: POST body when body is not NULL, else GET.
 * *code is the HTTP status, 0 when none came back (reason says why).
 * Returns FG_ENOMEM or 0.
 */
static int
request(long *code, struct resp *r, struct fg_httpc *c, const char *url,
    const char *body, const char *sig, const char *run, long timeout_ms,
    char *reason, size_t rsize)
{
	struct curl_slist *h = NULL, *h2;
	struct fg_buf line = FG_BUF_INIT;
	struct fg_httpc_req req;
	struct fg_err e = FG_ERR_INIT;
	int rc = FG_ENOMEM;

	*code = 0;
	if (timeout_ms <= 0)
		timeout_ms = 1;
	if (body != NULL) {
		h2 = curl_slist_append(h, "Content-Type: application/json");
		if (h2 == NULL)
			goto out;
		h = h2;
	}
	if (sig != NULL) {
		if (fg_buf_printf(&line, "X-Flowgate-Signature: sha256=%s",
		    sig) < 0)
			goto out;
		h2 = curl_slist_append(h, line.ptr);
		if (h2 == NULL)
			goto out;
		h = h2;
		fg_buf_reset(&line);
	}
	if (fg_buf_printf(&line, "X-Flowgate-Run: %s", run) < 0)
		goto out;
	h2 = curl_slist_append(h, line.ptr);
	if (h2 == NULL)
		goto out;
	h = h2;
	/* No "Expect: 100-continue" round trip. */
	h2 = curl_slist_append(h, "Expect:");
	if (h2 == NULL)
		goto out;
	h = h2;
	memset(&req, 0, sizeof(req));
	req.method = body != NULL ? "POST" : "GET";
	req.url = url;
	req.headers = h;
	req.body = body;
	req.body_len = body != NULL ? strlen(body) : 0;
	req.timeout_ms = timeout_ms;
	req.answer_max = FG_DEPLOY_HTTP_BODY_MAX;
	rc = fg_httpc_do(code, &r->body, c, &req, &e);
	if (rc == FG_ENOMEM)
		goto out;
	if (rc < 0) {
		*code = 0;
		snprintf(reason, rsize, "%s", e.msg);
	}
	rc = 0;
out:
	fg_buf_release(&line);
	curl_slist_free_all(h);
	return rc;
}

/* Log one answer: "POST: HTTP 201" and the start of its body. */
static int
log_answer(struct fg_buf *log, const char *what, long code,
    const char *reason, const struct resp *r)
{
	if (code == 0)
		return fg_buf_printf(log, "%s: no answer: %s\n", what, reason);
	if (fg_buf_printf(log, "%s: HTTP %ld\n", what, code) < 0)
		return FG_ENOMEM;
	if (r->body.len == 0)
		return 0;
	if (fg_buf_add(log, r->body.ptr, r->body.len) < 0)
		return FG_ENOMEM;
	if (r->body.ptr[r->body.len - 1] != '\n')
		return fg_buf_putc(log, '\n');
	return 0;
}

/* "succeeded", "failed" or NULL (pending, or not our JSON). */
static const char *
poll_status(const struct resp *r)
{
	const cJSON *s;
	cJSON *o = NULL;
	const char *v = NULL;

	if (fg_json_parse(&o, r->body.ptr, r->body.len, NULL) < 0)
		return NULL;
	s = cJSON_GetObjectItemCaseSensitive(o, "status");
	if (cJSON_IsString(s) && strcmp(s->valuestring, "succeeded") == 0)
		v = "succeeded";
	else if (cJSON_IsString(s) && strcmp(s->valuestring, "failed") == 0)
		v = "failed";
	cJSON_Delete(o);
	return v;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int
fg_deploy__http(bool *ok, char *reason, size_t rsize, struct fg_buf *log,
    struct fg_httpc *httpc, const struct fg_deploy *dep, const char *secret,
    const struct fg_deploy_facts *f, unsigned timeout_secs)
{
	struct resp r;
	cJSON *o = NULL;
	char *body = NULL, sig[FG_HMAC_SHA256_HEXLEN + 1] = "";
	char why[FG_ERR_MSG_MAX], last[64] = "";
	struct fg_httpc *own = NULL;
	int64_t deadline = mono_ms() + (int64_t)timeout_secs * 1000;
	const char *st;
	struct fg_err e = FG_ERR_INIT;
	long code, last_code = -1;
	int rc = FG_ENOMEM;

	*ok = false;
	fg_buf_init(&r.body);
	if (httpc == NULL) {
		rc = fg_httpc_new(&own, &e);
		if (rc == FG_ENOMEM)
			goto out;
		if (rc < 0) {
			snprintf(reason, rsize, "%s", e.msg);
			rc = 0;
			goto out;
		}
		httpc = own;
	}
	if (dep->url == NULL) {
		snprintf(reason, rsize, "no url to deploy to");
		rc = 0;
		goto out;
	}
	o = cJSON_CreateObject();
	if (o == NULL ||
	    cJSON_AddStringToObject(o, "commit", f->commit) == NULL ||
	    cJSON_AddStringToObject(o, "env", f->env) == NULL ||
	    cJSON_AddStringToObject(o, "stage", f->stage) == NULL ||
	    cJSON_AddStringToObject(o, "ref", f->ref) == NULL ||
	    cJSON_AddStringToObject(o, "actor", f->actor) == NULL ||
	    cJSON_AddStringToObject(o, "run", f->run) == NULL)
		goto out;
	body = cJSON_PrintUnformatted(o);
	if (body == NULL)
		goto out;
	if (secret != NULL && fg_hmac_sha256_hex(sig, secret, strlen(secret),
	    body, strlen(body), &e) < 0) {
		snprintf(reason, rsize, "cannot sign the request: %s", e.msg);
		rc = 0;
		goto out;
	}
	why[0] = '\0';
	if (request(&code, &r, httpc, dep->url, body, secret != NULL ? sig : NULL,
	    f->run, (long)(deadline - mono_ms()), why, sizeof(why)) < 0 ||
	    log_answer(log, "POST", code, why, &r) < 0)
		goto out;
	rc = 0;
	if (code == 0) {
		snprintf(reason, rsize, "cannot reach the deploy url: %s", why);
		goto out;
	}
	if (code < 200 || code > 299) {
		snprintf(reason, rsize, "HTTP %ld", code);
		goto out;
	}
	if (dep->poll == NULL) {
		*ok = true;
		goto out;
	}
	if (secret != NULL && fg_hmac_sha256_hex(sig, secret, strlen(secret),
	    f->run, strlen(f->run), &e) < 0) {
		snprintf(reason, rsize, "cannot sign the request: %s", e.msg);
		goto out;
	}
	for (;;) {
		if (deadline - mono_ms() <= FG_DEPLOY_POLL_MS) {
			snprintf(reason, rsize, "no final status within %us",
			    timeout_secs);
			goto out;
		}
		sleep_ms(FG_DEPLOY_POLL_MS);
		fg_buf_reset(&r.body);
		why[0] = '\0';
		if (request(&code, &r, httpc, dep->poll, NULL,
		    secret != NULL ? sig : NULL, f->run,
		    (long)(deadline - mono_ms()), why, sizeof(why)) < 0) {
			rc = FG_ENOMEM;
			goto out;
		}
		st = code >= 200 && code <= 299 ? poll_status(&r) : NULL;
		/* Log an answer once, not once a second. */
		if (code != last_code || st != NULL ||
		    strncmp(last, r.body.ptr, sizeof(last) - 1) != 0) {
			if (log_answer(log, "GET status", code, why, &r) < 0) {
				rc = FG_ENOMEM;
				goto out;
			}
			snprintf(last, sizeof(last), "%s", r.body.ptr);
			last_code = code;
		}
		if (st == NULL)
			continue;
		if (strcmp(st, "succeeded") == 0)
			*ok = true;
		else
			snprintf(reason, rsize, "the status url says failed");
		goto out;
	}
out:
	fg_httpc_free(own);
	OPENSSL_cleanse(sig, sizeof(sig));
	cJSON_free(body);
	cJSON_Delete(o);
	fg_buf_release(&r.body);
	return rc;
}
