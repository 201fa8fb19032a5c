/*
 * hooks.c - POST /hooks/<forge>: a forge's delivery, checked, normalized
 * and handed to the inbox; answered once it is on disk.
 *
 * Order of checks, each with its own answer: the route (404), the method
 * (405), the content type (415), the size (413), the signature (401),
 * the payload (400), the repository (404), the backlog and the queue
 * (503).  When every repository shares one secret the signature is
 * checked first, before the body is parsed; when repositories have
 * secrets of their own, the body must be parsed to learn whose secret
 * applies, so a malformed body is 400 even unsigned.  Nothing is written
 * before every check has passed, and nothing is answered 2xx before it
 * is on disk.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/sha.h>

#include "event.h"
#include "forge.h"
#include "hmac.h"
#include "inbox.h"
#include "log.h"
#include "util.h"
#include "whd.h"
#include "worker.h"
#include "banned.h"

struct route {
	const char *name;
	enum fg_forge forge;
	const char *event_header;	/* NULL: the body says */
	const char *delivery[3];	/* headers with the delivery id */
	bool form;			/* may come form-encoded */
};

/*
 * cJSON allocates every node and string of a payload on its own: a 9 KB
 * GitHub delivery is several hundred malloc() and free() calls, about a
 * fifth of the loop thread's time under load.  While the loop parses a
 * delivery (fg_forge_parse, which copies what it keeps into the event and
 * deletes the tree before it returns), cJSON takes its memory from this
 * thread's arena instead, and frees cost nothing; the arena is emptied
 * after each parse, keeping one chunk for the next.  Other threads, and
 * this one outside a parse, get malloc() and free() as before.  Under
 * AddressSanitizer the arena is off, so that every node stays checked.
 */
#define ARENA_CHUNK	(64 * 1024)

struct arena_chunk {
	struct arena_chunk *next;
	size_t cap, used;
	_Alignas(16) unsigned char data[];
};

static _Thread_local struct arena_chunk *arena;
static _Thread_local bool arena_on;

static void *
arena_malloc(size_t n)
{
	struct arena_chunk *c;
	size_t cap;
	void *p;

	if (!arena_on)
		return malloc(n);
	if (n > SIZE_MAX / 2)
		return NULL;
	n = (n + 15) & ~(size_t)15;
	if (arena == NULL || arena->cap - arena->used < n) {
		cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
		c = malloc(sizeof(*c) + cap);
		if (c == NULL)
			return NULL;
		c->cap = cap;
		c->used = 0;
		c->next = arena;
		arena = c;
	}
	p = arena->data + arena->used;
	arena->used += n;
	return p;
}

static void
arena_free(void *p)
{
	if (!arena_on)
		free(p);
}

/* Empty the arena, keeping one plain chunk for the next parse. */
static void
arena_reset(void)
{
	struct arena_chunk *c, *keep = NULL;

	while (arena != NULL) {
		c = arena;
		arena = c->next;
		if (keep == NULL && c->cap == ARENA_CHUNK) {
			keep = c;
			continue;
		}
		free(c);
	}
	if (keep != NULL) {
		keep->used = 0;
		keep->next = NULL;
	}
	arena = keep;
}

#if defined(__SANITIZE_ADDRESS__)
#define ARENA_USABLE	false
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_USABLE	false
#endif
#endif
#ifndef ARENA_USABLE
#define ARENA_USABLE	true
#endif

void
whd_hooks_init(void)
{
	cJSON_Hooks hooks = { arena_malloc, arena_free };

	if (ARENA_USABLE)
		cJSON_InitHooks(&hooks);
}

/* fg_forge_parse() with the arena (see above). */
static int
parse_delivery(struct fg_event *ev, enum fg_forge forge, const char *event,
    const char *json, size_t len, struct fg_err *err)
{
	int rc;

	arena_on = ARENA_USABLE;
	rc = fg_forge_parse(ev, forge, event, json, len, err);
	arena_on = false;
	arena_reset();
	return rc;
}

static const struct route routes[] = {
	{ "github", FG_FORGE_GITHUB, "X-GitHub-Event",
	    { "X-GitHub-Delivery", NULL, NULL }, true },
	/* Forgejo may come here too (X-Forgejo-Event): its own id last. */
	{ "gitea", FG_FORGE_GITEA, "X-Gitea-Event",
	    { "X-Gitea-Delivery", "X-Gogs-Delivery", "X-Forgejo-Delivery" },
	    true },
	{ "forgejo", FG_FORGE_FORGEJO, "X-Forgejo-Event",
	    { "X-Forgejo-Delivery", "X-Gitea-Delivery", NULL }, true },
	{ "gitlab", FG_FORGE_GITLAB, "X-Gitlab-Event",
	    { "X-Gitlab-Event-UUID", "Idempotency-Key", NULL }, false },
	{ "jira", FG_FORGE_JIRA, NULL,
	    { "X-Atlassian-Webhook-Identifier", NULL, NULL }, false },
	{ "generic", FG_FORGE_GENERIC, NULL,
	    { "X-Flowgate-Delivery", NULL, NULL }, false },
};

/* What a request keeps while its delivery is with the writer. */
static void hook_reply(struct whd_req *r, int code, const char *result,
    const char *json);

static const char *
get_header(const char *name, void *payload)
{
	return whd_header(payload, name);
}

static void
hook_reply(struct whd_req *r, int code, const char *result,
    const char *json)
{
	whd_metrics_delivery(r->d->metrics, r->forge[0] != '\0' ? r->forge :
	    "unknown", r->kind, result);
	whd_reply(r, code, result, json);
}

static void
hook_error(struct whd_req *r, int code, const char *result,
    const char *message)
{
	struct fg_buf b = FG_BUF_INIT;

	if (fg_buf_puts(&b, "{\"error\":") < 0 ||
	    whd_json_str(&b, message) < 0 || fg_buf_putc(&b, '}') < 0) {
		fg_buf_release(&b);
		hook_reply(r, 500, "error", "{\"error\":\"out of memory\"}");
		return;
	}
	hook_reply(r, code, result, b.ptr);
	fg_buf_release(&b);
}

/* application/json, with parameters or not; form: the urlencoded kind. */
static int
content_type(const char *ct, bool *form)
{
	size_t n;

	*form = false;
	if (ct == NULL)
		return -1;
	n = strcspn(ct, "; \t");
	if (n == strlen("application/json") &&
	    strncasecmp(ct, "application/json", n) == 0)
		return 0;
	if (n == strlen("application/x-www-form-urlencoded") &&
	    strncasecmp(ct, "application/x-www-form-urlencoded", n) == 0) {
		*form = true;
		return 0;
	}
	return -1;
}

static bool
has_repo_secrets(const struct fg_settings *s)
{
	size_t i;

	for (i = 0; i < s->nrepos; i++)
		if (s->repos[i].secret != NULL)
			return true;
	return false;
}

/* The delivery id from the headers, else from a hash of the body. */
static void
delivery_id(char *out, size_t size, const struct whd_req *r,
    const struct route *rt, const struct fg_event *ev, const char *body,
    size_t len)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char h[SHA256_DIGEST_LENGTH];
	const char *v;
	size_t i;

	for (i = 0; i < 3 && rt->delivery[i] != NULL; i++) {
		v = whd_header(r, rt->delivery[i]);
		if (v != NULL && *v != '\0') {
			snprintf(out, size, "%s", v);
			return;
		}
	}
	if (ev->delivery != NULL) {
		snprintf(out, size, "%s", ev->delivery);
		return;
	}
	/*
	 * No id: the body's hash is one, so a retried identical body is
	 * still recorded once.
	 */
	SHA256((const unsigned char *)body, len, h);
	snprintf(out, size, "sha256-");
	for (i = 0; i < 16 && 7 + 2 * i + 2 < size; i++) {
		out[7 + 2 * i] = hex[h[i] >> 4];
		out[8 + 2 * i] = hex[h[i] & 15];
		out[9 + 2 * i] = '\0';
	}
}

/*
 * The signed body key of a verified delivery (inbox.h, Duplicates): the
 * hex SHA-256 of the 32 bytes of its HMAC-SHA256, taken from the header
 * fg_forge_verify() checked (Forgejo's, else Gitea's, as it does).  The
 * HMAC was computed over the body to verify it, so this hashes 32 bytes,
 * never the body again; decoding the hex makes upper and lower case one
 * key, since the check accepts both.  "" for GitLab, whose token is no
 * signature of the body, and for a header that is not 64 hex digits
 * (which fg_forge_verify has already refused).
 */
static void
body_key(char out[FG_INBOX_BODY_KEY_LEN + 1], struct whd_req *r,
    enum fg_forge forge)
{
	unsigned char mac[SHA256_DIGEST_LENGTH], h[SHA256_DIGEST_LENGTH];
	const char *header, *sig = NULL;

	out[0] = '\0';
	header = fg_forge_signature_header(forge);
	if (forge == FG_FORGE_GITLAB || header == NULL)
		return;
	sig = whd_header(r, header);
	if (forge == FG_FORGE_FORGEJO && (sig == NULL || *sig == '\0'))
		sig = whd_header(r, "X-Gitea-Signature");
	if (sig == NULL)
		return;
	if (strncmp(sig, "sha256=", 7) == 0)
		sig += 7;
	if (!fg_hex_decode(mac, sizeof(mac), sig))
		return;
	SHA256(mac, sizeof(mac), h);
	fg_hex_encode(out, h, sizeof(h));
}

static void
delivery_done(struct whd_delivery *dl, void *arg)
{
	struct whd_req *r = arg;
	struct fg_buf b = FG_BUF_INIT;

	switch (dl->result) {
	case WHD_ACCEPTED:
		fg_buf_puts(&b, "{\"status\":\"accepted\",\"id\":");
		whd_json_str(&b, dl->id);
		fg_buf_printf(&b, ",\"kind\":\"%s\",\"repo\":", dl->kind);
		whd_json_str(&b, dl->repo);
		fg_buf_printf(&b, ",\"inbox\":\"%s\"}", dl->commit);
		hook_reply(r, 202, "accepted", b.ptr);
		break;
	case WHD_DUPLICATE:
		fg_buf_puts(&b, "{\"status\":\"duplicate\",\"id\":");
		whd_json_str(&b, dl->id);
		fg_buf_putc(&b, '}');
		hook_reply(r, 200, "duplicate", b.ptr);
		break;
	default:
		fg_buf_printf(&b, "cannot record the delivery: %s",
		    dl->err.msg);
		if (dl->err.code == FG_ENOTFOUND)
			hook_error(r, 404, "not_found", b.ptr);
		else
			hook_error(r, 500, "error", b.ptr);
		break;
	}
	fg_buf_release(&b);
	whd_delivery_free(dl);
}

/*
 * Hand the delivery to the inbox.  *body (len bytes and a NUL) becomes the
 * delivery's: it is taken (*body set to NULL) whatever happens.  Only a
 * delivery whose signature has been verified comes here: its body key is
 * taken from that signature.
 */
static int
submit(struct whd_req *r, enum fg_forge forge, const struct fg_event *ev,
    const char *path, char **body, size_t len)
{
	struct whd_delivery *dl = calloc(1, sizeof(*dl));
	struct fg_err err = FG_ERR_INIT;
	cJSON *json = NULL;
	int rc;

	if (dl == NULL)
		return FG_ENOMEM;
	dl->body = *body;
	*body = NULL;
	dl->repo = fg_strdup(ev->repo);
	dl->path = fg_strdup(path);
	dl->id = fg_strdup(ev->delivery);
	dl->kind = fg_strdup(fg_event_kind_name(ev->kind));
	rc = fg_event_to_json(&json, ev, &err);
	if (rc == 0)
		dl->event_json = cJSON_PrintUnformatted(json);
	cJSON_Delete(json);
	if (dl->repo == NULL || dl->path == NULL || dl->id == NULL ||
	    dl->kind == NULL || dl->body == NULL || dl->event_json == NULL) {
		whd_delivery_free(dl);
		return FG_ENOMEM;
	}
	dl->len = len;
	body_key(dl->body_key, r, forge);
	dl->time = fg_now();
	dl->done = delivery_done;
	dl->arg = r;
	rc = whd_inbox_submit(r->d->inbox, dl);
	if (rc < 0)
		whd_delivery_free(dl);
	return rc;
}

static void
verify_or_reply(bool *ok, struct whd_req *r, enum fg_forge forge,
    const char *secret, const char *body, size_t len)
{
	struct fg_err err = FG_ERR_INIT;

	*ok = false;
	if (fg_forge_verify(forge, secret, body, len, get_header, r,
	    &err) < 0) {
		hook_error(r, 401, "unauthorized", err.msg);
		return;
	}
	*ok = true;
}

void
whd_hooks_handle(struct whd_req *r, const char *name)
{
	const struct fg_settings *s = r->d->settings;
	struct fg_event ev = FG_EVENT_INIT;
	struct fg_err err = FG_ERR_INIT;
	const struct route *rt = NULL;
	struct evbuffer *in;
	struct evkeyvalq form_q;
	const char *json, *secret;
	char id[FG_EVENT_DELIVERY_MAX + 1], msg[FG_ERR_MSG_MAX + 64];
	char *body = NULL, *repo_q = NULL, *path = NULL;
	enum fg_forge forge;
	size_t len, jlen, i;
	bool form, early, ok;
	struct stat st;
	int rc;

	TAILQ_INIT(&form_q);
	for (i = 0; i < FG_ARRAY_SIZE(routes); i++)
		if (strcmp(routes[i].name, name) == 0)
			rt = &routes[i];
	if (rt == NULL) {
		whd_reply_error(r, 404, "not_found", "no such route");
		return;
	}
	forge = rt->forge;
	if (forge == FG_FORGE_GITEA && whd_header(r, "X-Forgejo-Event") !=
	    NULL)
		forge = FG_FORGE_FORGEJO;
	snprintf(r->forge, sizeof(r->forge), "%s", fg_forge_name(forge));
	if (r->cmd != EVHTTP_REQ_POST) {
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Allow", "POST");
		hook_error(r, 405, "method", "method not allowed: webhooks "
		    "are POSTed");
		return;
	}
	if (content_type(whd_header(r, "Content-Type"), &form) < 0 ||
	    (form && !rt->form)) {
		hook_error(r, 415, "unsupported_type", "content type must be "
		    "application/json");
		return;
	}
	in = evhttp_request_get_input_buffer(r->req);
	len = evbuffer_get_length(in);
	if (len > s->body_max) {
		snprintf(msg, sizeof(msg), "body of %zu bytes is over the "
		    "limit of %llu bytes", len,
		    (unsigned long long)s->body_max);
		hook_error(r, 413, "too_large", msg);
		return;
	}
	if (len == 0) {
		hook_error(r, 400, "invalid", "empty body");
		return;
	}
	/*
	 * The body's one copy, out of libevent's buffer (which it frees),
	 * becomes the delivery's: a request holds its body once, not in
	 * libevent's chains, a contiguous copy and the delivery as well.
	 */
	body = malloc(len + 1);
	if (body == NULL || evbuffer_remove(in, body, len) != (int)len) {
		free(body);
		hook_error(r, 500, "error", "out of memory");
		return;
	}
	body[len] = '\0';
	json = body;
	jlen = len;
	if (rt->event_header != NULL) {
		const char *h = whd_header(r, forge == FG_FORGE_FORGEJO ?
		    "X-Forgejo-Event" : rt->event_header);

		if (h == NULL && forge == FG_FORGE_FORGEJO)
			h = whd_header(r, "X-Gitea-Event");
		if (h != NULL)
			snprintf(r->event, sizeof(r->event), "%s", h);
	}

	/* One secret for all: check it before reading the body. */
	early = !has_repo_secrets(s);
	if (early) {
		verify_or_reply(&ok, r, forge, s->secret, body, len);
		if (!ok)
			goto out;
	}
	if (form) {
		/* GitHub and Gitea put the JSON in a "payload" field. */
		rc = strlen(body) == len ? evhttp_parse_query_str(body,
		    &form_q) : -1;
		json = rc == 0 ? evhttp_find_header(&form_q, "payload") : NULL;
		if (json == NULL) {
			hook_error(r, 400, "invalid", "form-encoded delivery "
			    "without a 'payload' field");
			goto out;
		}
		jlen = strlen(json);
	}
	rc = parse_delivery(&ev, forge, r->event[0] != '\0' ? r->event : NULL,
	    json, jlen, &err);
	if (rc < 0) {
		hook_error(r, rc == FG_ELIMIT ? 413 : rc == FG_ENOMEM ? 500 :
		    400, rc == FG_ELIMIT ? "too_large" : rc == FG_ENOMEM ?
		    "error" : "invalid", err.msg);
		goto out;
	}
	snprintf(r->kind, sizeof(r->kind), "%s", fg_event_kind_name(ev.kind));
	if (ev.event != NULL && r->event[0] == '\0')
		snprintf(r->event, sizeof(r->event), "%s", ev.event);
	delivery_id(id, sizeof(id), r, rt, &ev, body, len);
	if (fg_event_set_delivery(&ev, id, &err) < 0) {
		hook_error(r, 400, "invalid", err.msg);
		goto out;
	}
	snprintf(r->delivery, sizeof(r->delivery), "%s", id);

	/* Jira's payloads name no repository: the webhook URL does. */
	repo_q = whd_query(r, "repo");
	if (repo_q != NULL && (ev.repo == NULL || forge == FG_FORGE_JIRA) &&
	    fg_event_set(&ev, FG_EVENT_F_REPO, repo_q, &err) < 0) {
		hook_error(r, 400, "invalid", err.msg);
		goto out;
	}
	if (ev.repo == NULL) {
		if (ev.kind == FG_EVENT_PING) {
			if (!early) {
				verify_or_reply(&ok, r, forge, s->secret, body,
				    len);
				if (!ok)
					goto out;
			}
			hook_reply(r, 200, "pong", "{\"status\":\"pong\"}");
			goto out;
		}
		hook_error(r, 400, "invalid", forge == FG_FORGE_JIRA ?
		    "a Jira delivery names no repository: add "
		    "?repo=owner/name to the webhook URL" :
		    "the delivery names no repository");
		goto out;
	}
	snprintf(r->repo, sizeof(r->repo), "%s", ev.repo);
	if (!early) {
		secret = fg_settings_secret(s, ev.repo);
		verify_or_reply(&ok, r, forge, secret, body, len);
		if (!ok)
			goto out;
	}
	if (fg_settings_repo_path(&path, s, ev.repo) < 0) {
		hook_error(r, 500, "error", "out of memory");
		goto out;
	}
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(msg, sizeof(msg), "unknown repository '%s'", ev.repo);
		hook_error(r, 404, "not_found", msg);
		goto out;
	}
	if (whd_workers_backlog(r->d->workers, path) >=
	    (size_t)s->backlog) {
		snprintf(msg, sizeof(msg), "backlog of '%s' is over its limit "
		    "of %d deliveries: try again later", ev.repo, s->backlog);
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Retry-After", "5");
		hook_error(r, 503, "unavailable", msg);
		goto out;
	}
	rc = submit(r, forge, &ev, path, &body, len);
	if (rc == FG_ELIMIT || rc == FG_EIO) {
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Retry-After", "1");
		hook_error(r, 503, "unavailable", rc == FG_EIO ?
		    "shutting down: try again later" : "too many deliveries "
		    "waiting for the disk: try again later");
		goto out;
	}
	if (rc < 0)
		hook_error(r, 500, "error", "out of memory");
	/* Otherwise delivery_done() answers, once it is on disk. */
out:
	evhttp_clear_headers(&form_q);
	free(body);
	free(repo_q);
	free(path);
	fg_event_release(&ev);
}
