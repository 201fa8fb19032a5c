/*
 * flow_steps.c - one attempt of one flow step (see flowexec_int.h), and
 * the "${{ path }}" substitution steps use.
 *
 * Every value from outside reaches a program as one whole argv element or
 * environment value, an HTTP header value (refused when it holds a line
 * break), a JSON string, or a percent-encoded part of a URL: never a
 * shell, never a header line of its own, never JSON syntax.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <git2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "deploy.h"
#include "event.h"
#include "expr.h"
#include "facts.h"
#include "flowexec.h"
#include "flowexec_int.h"
#include "hmac.h"
#include "httpc.h"
#include "lease.h"
#include "log.h"
#include "pipeline.h"
#include "proc.h"
#include "promote.h"
#include "store.h"
#include "util.h"
#include "banned.h"

#define SECRET_FILE_MAX 4096
#define JIRA_COMMITS_MAX 100
#define JIRA_KEYS_MAX 20

/* ---- substitution ---- */

static const cJSON *
vals_lookup(const char *const *segs, size_t nsegs, void *payload)
{
	const struct fg_flowvals *v = payload;
	const cJSON *root = NULL;

	if (strcmp(segs[0], "event") == 0)
		root = v->event;
	else if (strcmp(segs[0], "inputs") == 0)
		root = v->inputs;
	else if (strcmp(segs[0], "steps") == 0)
		root = v->steps;
	else if (strcmp(segs[0], "run") == 0)
		root = v->run;
	if (root == NULL || nsegs == 1)
		return root;
	return fg_expr_lookup_json(segs + 1, nsegs - 1, (void *)root);
}

static bool
is_seg_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-';
}

/* The value at path (text between "${{" and "}}") as text into b. */
static int
subst_one(struct fg_buf *b, const char *path, size_t len,
    const struct fg_flowvals *vals, bool url, struct fg_err *err)
{
	char buf[512], *segs[FG_EXPR_MAX_SEGS], *p, *s;
	const cJSON *v;
	char *text = NULL, *esc;
	size_t n = 0;
	int rc = 0;

	while (len > 0 && isspace((unsigned char)*path)) {
		path++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)path[len - 1]))
		len--;
	if (len == 0 || len >= sizeof(buf))
		return fg_err_set(err, FG_EINVALID, "bad path '%.*s'",
		    (int)(len > 100 ? 100 : len), path);
	memcpy(buf, path, len);
	buf[len] = '\0';
	for (p = buf; ; p = s + 1) {
		for (s = p; is_seg_char(*s); s++)
			;
		if (s == p || (*s != '.' && *s != '\0') ||
		    n == FG_EXPR_MAX_SEGS)
			return fg_err_set(err, FG_EINVALID, "bad path '%s': "
			    "use names such as event.pull_request.number",
			    buf);
		segs[n++] = p;
		if (*s == '\0')
			break;
		*s = '\0';
	}
	if (strcmp(segs[0], "event") != 0 && strcmp(segs[0], "inputs") != 0 &&
	    strcmp(segs[0], "steps") != 0 && strcmp(segs[0], "run") != 0)
		return fg_err_set(err, FG_EINVALID, "unknown name '%s': a path "
		    "starts with event, inputs, steps or run", segs[0]);
	v = vals_lookup((const char *const *)segs, n, (void *)vals);
	if (v == NULL || cJSON_IsNull(v)) {
		for (s = buf; s < buf + len; s++)
			if (*s == '\0')
				*s = '.';
		return fg_err_set(err, FG_EINVALID, "'${{ %s }}' has no value",
		    buf);
	}
	if (cJSON_IsString(v)) {
		text = fg_strdup(v->valuestring);
	} else if (cJSON_IsBool(v)) {
		text = fg_strdup(cJSON_IsTrue(v) ? "true" : "false");
	} else if (cJSON_IsNumber(v) && v->valuedouble > -9e15 &&
	    v->valuedouble < 9e15 && v->valuedouble == (double)(long long)
	    v->valuedouble) {
		snprintf(buf, sizeof(buf), "%lld", (long long)v->valuedouble);
		text = fg_strdup(buf);
	} else if (cJSON_IsNumber(v)) {
		snprintf(buf, sizeof(buf), "%.17g", v->valuedouble);
		text = fg_strdup(buf);
	} else {
		p = cJSON_PrintUnformatted(v);
		text = p != NULL ? fg_strdup(p) : NULL;
		cJSON_free(p);
	}
	if (text == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	if (url) {
		esc = curl_easy_escape(NULL, text, 0);
		rc = esc != NULL ? fg_buf_puts(b, esc) : FG_ENOMEM;
		curl_free(esc);
	} else {
		rc = fg_buf_puts(b, text);
	}
	free(text);
	if (rc < 0)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	return 0;
}

int
fg_flowexec_subst(char **out, const char *tmpl,
    const struct fg_flowvals *vals, bool url, struct fg_err *err)
{
	struct fg_buf b = FG_BUF_INIT;
	const char *p = tmpl, *open, *close;
	int rc = 0;

	*out = NULL;
	for (;;) {
		open = strstr(p, "${{");
		if (open == NULL)
			break;
		close = strstr(open + 3, "}}");
		if (close == NULL) {
			rc = fg_err_set(err, FG_EINVALID, "'${{' is not closed "
			    "with '}}'");
			goto out;
		}
		if (fg_buf_add(&b, p, (size_t)(open - p)) < 0) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		rc = subst_one(&b, open + 3, (size_t)(close - open - 3), vals,
		    url, err);
		if (rc < 0)
			goto out;
		p = close + 2;
	}
	if (fg_buf_puts(&b, p) < 0) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	*out = fg_buf_detach(&b, NULL);
	if (*out == NULL)
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
out:
	fg_buf_release(&b);
	return rc;
}

/* ---- helpers ---- */

static const char *
jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A substituted field of spec, or NULL (*out) when absent. */
static int
field(char **out, const struct fg_flowstep_job *job, const char *key,
    bool url, struct fg_err *err)
{
	const char *t = jstr(job->spec, key);
	struct fg_err e = FG_ERR_INIT;
	int rc;

	*out = NULL;
	if (t == NULL)
		return 0;
	rc = fg_flowexec_subst(out, t, &job->vals, url, &e);
	if (rc < 0)
		return fg_err_set(err, rc, "%s: %s", key, e.msg);
	return 0;
}

static void
set_reason(char *reason, size_t rsize, const char *msg)
{
	snprintf(reason, rsize, "%s", msg);
}

/* Keep the tail of text in log, at most FG_FLOWSTEP_LOG_MAX bytes. */
static void
log_add(struct fg_buf *log, const char *text, size_t len)
{
	if (len > FG_FLOWSTEP_LOG_MAX) {
		text += len - FG_FLOWSTEP_LOG_MAX;
		len = FG_FLOWSTEP_LOG_MAX;
	}
	if (log->len + len > FG_FLOWSTEP_LOG_MAX)
		fg_buf_reset(log);
	fg_buf_add(log, text, len);
}

/*
 * The value of the config's secret called name (an environment variable
 * or a file only its owner may read), into *out (free() after wiping).
 */
static int
secret(char **out, const struct fg_config *cfg, const char *name,
    struct fg_err *err)
{
	struct fg_buf b = FG_BUF_INIT;
	struct fg_err e = FG_ERR_INIT;
	const struct fg_secret *s = NULL;
	struct stat sb;
	const char *v;
	size_t i;
	int rc = 0;

	*out = NULL;
	for (i = 0; i < cfg->nsecrets; i++)
		if (strcmp(cfg->secrets[i].name, name) == 0)
			s = &cfg->secrets[i];
	if (s == NULL)
		return fg_err_set(err, FG_ENOTFOUND, "no secret '%s' in "
		    "pipeline.yaml's secrets", name);
	if (s->env != NULL) {
		v = getenv(s->env);
		if (v == NULL || *v == '\0')
			return fg_err_set(err, FG_ENOTFOUND, "secret '%s': "
			    "environment variable '%s' is not set or empty",
			    name, s->env);
		*out = fg_strdup(v);
		return *out != NULL ? 0 : fg_err_set(err, FG_ENOMEM,
		    "out of memory");
	}
	if (s->file == NULL)
		return fg_err_set(err, FG_ENOTFOUND, "secret '%s' names no "
		    "source", name);
	if (stat(s->file, &sb) < 0)
		return fg_err_set(err, FG_ENOTFOUND, "secret '%s': cannot "
		    "read '%s': %s", name, s->file, strerror(errno));
	if ((sb.st_mode & 077) != 0)
		return fg_err_set(err, FG_EDENIED, "secret '%s': file '%s' is "
		    "open to group or others: chmod 600 it", name, s->file);
	rc = fg_read_file(&b, s->file, SECRET_FILE_MAX, &e);
	if (rc < 0) {
		rc = fg_err_set(err, rc, "secret '%s': %s", name, e.msg);
		goto out;
	}
	while (b.len > 0 && (b.ptr[b.len - 1] == '\n' ||
	    b.ptr[b.len - 1] == '\r'))
		b.len--;
	if (b.len == 0 || memchr(b.ptr, '\0', b.len) != NULL) {
		rc = fg_err_set(err, FG_EINVALID, "secret '%s': file '%s' is "
		    "empty or holds a NUL byte", name, s->file);
		goto out;
	}
	b.ptr[b.len] = '\0';
	*out = fg_strdup(b.ptr);
	if (*out == NULL)
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
out:
	if (b.alloc > 0)
		OPENSSL_cleanse(b.ptr, b.alloc);
	fg_buf_release(&b);
	return rc;
}

static void
secret_free(char *s)
{
	if (s != NULL) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

/* The commit a step works on: the run's, as full hex, or NULL. */
static const char *
run_commit(const struct fg_flowstep_job *job)
{
	return jstr(job->vals.run, "commit");
}

static long long
run_pr(const struct fg_flowstep_job *job)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(job->vals.run, "pr");

	return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}

static int
resolve(git_oid *out, struct fg_store *st, const char *spec,
    struct fg_err *err)
{
	git_object *o = NULL;
	char ref[300];

	if (git_oid_fromstrn(out, spec, strlen(spec)) == 0 &&
	    strlen(spec) == GIT_OID_HEXSZ)
		return 0;
	snprintf(ref, sizeof(ref), "refs/heads/%s", spec);
	if (fg_refname_is_valid(ref) && git_revparse_single(&o,
	    fg_store_repo(st), ref) == 0) {
		git_oid_cpy(out, git_object_id(o));
		git_object_free(o);
		return 0;
	}
	return fg_err_set(err, FG_ENOTFOUND, "no commit or branch '%s'", spec);
}

/* ---- HTTP ---- */

/*
 * One HTTP request: method, url, headers (a list, may be NULL), body (may
 * be NULL), through the run's shared client (lib/httpc: curl multi on its
 * libevent loop), or a client of this call's own when the caller gave
 * none.  *code gets the status, answer its first FG_FLOWSTEP_LOG_MAX
 * bytes.  FG_EIO with curl's words when no answer came.
 */
static int
http(long *code, struct fg_buf *answer, const struct fg_flowstep_job *job,
    const char *method, const char *url, struct curl_slist *headers,
    const char *body, int timeout, struct fg_err *err)
{
	struct fg_httpc_req req;
	struct fg_httpc *own = NULL, *c = job->httpc;
	struct fg_buf a = FG_BUF_INIT;
	int rc;

	*code = 0;
	if (c == NULL) {
		rc = fg_httpc_new(&own, err);
		if (rc < 0)
			return rc;
		c = own;
	}
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = url;
	req.headers = headers;
	req.body = body;
	req.body_len = body != NULL ? strlen(body) : 0;
	req.timeout_ms = timeout > 0 ? timeout * 1000L : 1000;
	req.answer_max = FG_FLOWSTEP_LOG_MAX;
	rc = fg_httpc_do(code, &a, c, &req, err);
	if (rc == 0 && answer != NULL)
		fg_buf_add(answer, a.ptr != NULL ? a.ptr : "", a.len);
	fg_buf_release(&a);
	fg_httpc_free(own);
	return rc;
}

/* Append "Name: value" to *h; a line break in value is refused. */
static int
header(struct curl_slist **h, const char *name, const char *value,
    struct fg_err *err)
{
	struct curl_slist *n;
	char *line;
	size_t len;

	if (strpbrk(value, "\r\n") != NULL || strpbrk(name, "\r\n: ") != NULL)
		return fg_err_set(err, FG_EINVALID, "header '%s' holds a line "
		    "break or is not a header name", name);
	len = strlen(name) + strlen(value) + 3;
	line = malloc(len);
	if (line == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	snprintf(line, len, "%s: %s", name, value);
	n = curl_slist_append(*h, line);
	free(line);
	if (n == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	*h = n;
	return 0;
}

/* Substitute every string inside a JSON value, in place. */
static int
subst_json(cJSON *v, const struct fg_flowvals *vals, struct fg_err *err)
{
	cJSON *c;
	char *s = NULL;
	int rc;

	if (cJSON_IsString(v)) {
		rc = fg_flowexec_subst(&s, v->valuestring, vals, false, err);
		if (rc < 0)
			return rc;
		if (cJSON_SetValuestring(v, s) == NULL) {
			free(s);
			return fg_err_set(err, FG_ENOMEM, "out of memory");
		}
		free(s);
		return 0;
	}
	cJSON_ArrayForEach(c, v) {
		rc = subst_json(c, vals, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int
step_http(bool *ok, char *reason, size_t rsize, struct fg_buf *log,
    const struct fg_flowstep_job *job, struct fg_err *err)
{
	struct curl_slist *h = NULL;
	struct fg_buf answer = FG_BUF_INIT;
	const cJSON *hdrs = cJSON_GetObjectItemCaseSensitive(job->spec,
	    "headers"), *body = cJSON_GetObjectItemCaseSensitive(job->spec,
	    "body"), *expect = cJSON_GetObjectItemCaseSensitive(job->spec,
	    "expect"), *hv;
	const char *method = jstr(job->spec, "method"), *sname;
	char *url = NULL, *text = NULL, *value = NULL, *key = NULL;
	char sig[FG_HMAC_SHA256_HEXLEN + 1], buf[256];
	cJSON *copy = NULL;
	long code = 0;
	int rc;

	if (method == NULL)
		method = body != NULL ? "POST" : "GET";
	rc = field(&url, job, "url", true, err);
	if (rc < 0)
		goto out;
	if (body != NULL) {
		copy = cJSON_Duplicate(body, 1);
		if (copy == NULL) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		rc = subst_json(copy, &job->vals, err);
		if (rc < 0)
			goto out;
		text = cJSON_PrintUnformatted(copy);
		if (text == NULL) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		rc = header(&h, "Content-Type", "application/json", err);
		if (rc < 0)
			goto out;
	}
	cJSON_ArrayForEach(hv, hdrs) {
		free(value);
		value = NULL;
		rc = fg_flowexec_subst(&value, hv->valuestring, &job->vals,
		    false, err);
		if (rc == 0)
			rc = header(&h, hv->string, value, err);
		if (rc < 0)
			goto out;
	}
	rc = header(&h, "X-Flowgate-Run", job->run, err);
	if (rc < 0)
		goto out;
	sname = jstr(job->spec, "secret");
	if (sname != NULL) {
		rc = secret(&key, job->cfg, sname, err);
		if (rc < 0)
			goto out;
		rc = fg_hmac_sha256_hex(sig, key, strlen(key), text != NULL ?
		    text : job->run, strlen(text != NULL ? text : job->run), NULL);
		if (rc < 0) {
			rc = fg_err_set(err, FG_EIO, "cannot sign the request");
			goto out;
		}
		snprintf(buf, sizeof(buf), "sha256=%s", sig);
		rc = header(&h, "X-Flowgate-Signature", buf, err);
		if (rc < 0)
			goto out;
	}
	rc = http(&code, &answer, job, method, url, h, text, job->timeout,
	    err);
	if (rc < 0)
		goto out;
	fg_buf_printf(log, "%s %s: %ld\n", method, url, code);
	log_add(log, answer.ptr != NULL ? answer.ptr : "", answer.len);
	if (cJSON_IsNumber(expect))
		*ok = code == (long)expect->valuedouble;
	else
		*ok = code >= 200 && code < 300;
	if (!*ok)
		snprintf(reason, rsize, "%s answered %ld%s", method, code,
		    cJSON_IsNumber(expect) ? ", not as expected" : "");
out:
	curl_slist_free_all(h);
	fg_buf_release(&answer);
	cJSON_Delete(copy);
	cJSON_free(text);
	free(url);
	free(value);
	secret_free(key);
	return rc;
}

static int
step_slack(bool *ok, char *reason, size_t rsize, struct fg_buf *log,
    const struct fg_flowstep_job *job, struct fg_err *err)
{
	struct curl_slist *h = NULL;
	struct fg_buf answer = FG_BUF_INIT;
	char *url = NULL, *text = NULL, *body = NULL;
	cJSON *o = NULL;
	long code = 0;
	int rc;

	rc = secret(&url, job->cfg, jstr(job->spec, "webhook"), err);
	if (rc == 0)
		rc = field(&text, job, "text", false, err);
	if (rc < 0)
		goto out;
	o = cJSON_CreateObject();
	if (o != NULL && cJSON_AddStringToObject(o, "text", text) != NULL)
		body = cJSON_PrintUnformatted(o);
	if (body == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	rc = header(&h, "Content-Type", "application/json", err);
	if (rc == 0)
		rc = http(&code, &answer, job, "POST", url, h, body,
		    job->timeout, err);
	if (rc < 0) {
		/* The URL is a secret: say which webhook, not where. */
		snprintf(reason, rsize, "slack webhook '%s' did not answer",
		    jstr(job->spec, "webhook"));
		fg_err_set(err, rc, "%s", reason);
		goto out;
	}
	fg_buf_printf(log, "slack %s: %ld\n", jstr(job->spec, "webhook"),
	    code);
	log_add(log, answer.ptr != NULL ? answer.ptr : "", answer.len);
	*ok = code >= 200 && code < 300;
	if (!*ok)
		snprintf(reason, rsize, "slack answered %ld", code);
out:
	curl_slist_free_all(h);
	fg_buf_release(&answer);
	cJSON_Delete(o);
	cJSON_free(body);
	secret_free(url);
	free(text);
	return rc;
}

/* ---- Jira ---- */

static bool
has_key(char keys[][64], size_t n, const char *k)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(keys[i], k) == 0)
			return true;
	return false;
}

/* Issue keys (PROJ-123) in text, added to keys. */
static void
scan_keys(char keys[][64], size_t *n, const char *text)
{
	const char *p = text, *s, *d;
	char k[64];

	while (*p != '\0' && *n < JIRA_KEYS_MAX) {
		if (!isupper((unsigned char)*p) || (p > text &&
		    (isalnum((unsigned char)p[-1]) || p[-1] == '_' ||
		    p[-1] == '-'))) {
			p++;
			continue;
		}
		for (s = p; isupper((unsigned char)*s) ||
		    isdigit((unsigned char)*s) || *s == '_'; s++)
			;
		if (*s != '-' || !isdigit((unsigned char)s[1])) {
			p = s > p ? s : p + 1;
			continue;
		}
		for (d = s + 1; isdigit((unsigned char)*d); d++)
			;
		if ((size_t)(d - p) < sizeof(k) && !isalnum((unsigned char)*d)) {
			memcpy(k, p, (size_t)(d - p));
			k[d - p] = '\0';
			if (!has_key(keys, *n, k))
				snprintf(keys[(*n)++], 64, "%s", k);
		}
		p = d;
	}
}

/*
 * The issues a jira step acts on: the trigger's issue (a jira trigger),
 * and the keys in the messages of the run's commit and its ancestors not
 * in run.before (the previous tip), at most JIRA_COMMITS_MAX commits.
 */
static void
jira_keys(char keys[][64], size_t *n, struct fg_store *st,
    const struct fg_flowstep_job *job)
{
	git_repository *repo = fg_store_repo(st);
	const char *c = run_commit(job), *before = jstr(job->vals.run,
	    "before"), *jk = jstr(job->vals.run, "jira_key");
	git_revwalk *w = NULL;
	git_commit *cm = NULL;
	git_oid id, b;
	size_t i = 0;

	*n = 0;
	if (jk != NULL)
		scan_keys(keys, n, jk);
	if (c == NULL || git_oid_fromstr(&id, c) < 0 ||
	    git_revwalk_new(&w, repo) < 0 || git_revwalk_push(w, &id) < 0)
		goto out;
	if (before != NULL && git_oid_fromstr(&b, before) == 0)
		git_revwalk_hide(w, &b);
	while (i++ < JIRA_COMMITS_MAX && git_revwalk_next(&id, w) == 0) {
		if (git_commit_lookup(&cm, repo, &id) < 0)
			continue;
		scan_keys(keys, n, git_commit_message(cm));
		git_commit_free(cm);
		cm = NULL;
	}
out:
	git_revwalk_free(w);
}

static int
jira_call(long *code, struct fg_buf *answer, const struct fg_flowstep_job *job,
    const char *method, const char *base, const char *key, const char *what,
    const char *body, const char *auth, struct fg_err *err)
{
	struct curl_slist *h = NULL;
	struct fg_buf url = FG_BUF_INIT, a = FG_BUF_INIT;
	char *esc = curl_easy_escape(NULL, key, 0);
	size_t bl = strlen(base);
	int rc;

	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	rc = esc != NULL ? fg_buf_printf(&url, "%.*s/rest/api/2/issue/%s/%s",
	    (int)bl, base, esc, what) : FG_ENOMEM;
	curl_free(esc);
	if (rc < 0)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	rc = header(&h, "Accept", "application/json", err);
	if (rc == 0 && body != NULL)
		rc = header(&h, "Content-Type", "application/json", err);
	if (rc == 0 && strchr(auth, ':') != NULL) {
		/* Jira Cloud: email:api-token as basic authentication. */
		size_t al = strlen(auth), bsz = 4 * ((al + 2) / 3) + 1;
		unsigned char *b64 = malloc(bsz);

		if (b64 == NULL) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		} else {
			EVP_EncodeBlock(b64, (const unsigned char *)auth,
			    (int)al);
			fg_buf_printf(&a, "Basic %s", b64);
			OPENSSL_cleanse(b64, bsz);
			free(b64);
		}
	} else if (rc == 0) {
		/* Jira Data Center: a personal access token. */
		fg_buf_printf(&a, "Bearer %s", auth);
	}
	if (rc == 0)
		rc = header(&h, "Authorization", a.ptr != NULL ? a.ptr : "",
		    err);
	if (rc == 0)
		rc = http(code, answer, job, method, url.ptr, h, body,
		    job->timeout, err);
	curl_slist_free_all(h);
	if (a.alloc > 0)
		OPENSSL_cleanse(a.ptr, a.alloc);
	fg_buf_release(&a);
	fg_buf_release(&url);
	return rc;
}

/* The id of the transition of issue key named name (or going to a status
 * named name), from GET .../transitions. */
static int
jira_transition_id(char *id, size_t size, const struct fg_flowstep_job *job,
    const char *base, const char *key, const char *name, const char *auth,
    struct fg_err *err)
{
	struct fg_buf ans = FG_BUF_INIT;
	cJSON *j = NULL, *t;
	const cJSON *to;
	long code = 0;
	int rc;

	rc = jira_call(&code, &ans, job, "GET", base, key, "transitions", NULL,
	    auth, err);
	if (rc < 0)
		goto out;
	if (code != 200 || fg_json_parse(&j, ans.ptr != NULL ? ans.ptr : "",
	    ans.len, NULL) < 0) {
		rc = fg_err_set(err, FG_EIO, "jira %s transitions: answered "
		    "%ld", key, code);
		goto out;
	}
	rc = fg_err_set(err, FG_ENOTFOUND, "jira %s has no transition '%s'",
	    key, name);
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(j,
	    "transitions")) {
		to = cJSON_GetObjectItemCaseSensitive(t, "to");
		if ((jstr(t, "name") != NULL && strcasecmp(jstr(t, "name"),
		    name) == 0) || (jstr(to, "name") != NULL &&
		    strcasecmp(jstr(to, "name"), name) == 0)) {
			if (jstr(t, "id") == NULL)
				continue;
			snprintf(id, size, "%s", jstr(t, "id"));
			rc = 0;
			break;
		}
	}
out:
	cJSON_Delete(j);
	fg_buf_release(&ans);
	return rc;
}

static int
step_jira(bool *ok, char *reason, size_t rsize, struct fg_buf *log,
    struct fg_store *st, const struct fg_flowstep_job *job,
    struct fg_err *err)
{
	char keys[JIRA_KEYS_MAX][64], tid[64];
	char *auth = NULL, *comment = NULL, *trans = NULL, *body = NULL;
	const char *base = jstr(job->spec, "url");
	struct fg_err e = FG_ERR_INIT;
	cJSON *o = NULL, *t;
	size_t n = 0, i, failed = 0;
	long code;
	int rc;

	rc = secret(&auth, job->cfg, jstr(job->spec, "secret"), err);
	if (rc == 0)
		rc = field(&comment, job, "comment", false, err);
	if (rc == 0)
		rc = field(&trans, job, "transition", false, err);
	if (rc < 0)
		goto out;
	jira_keys(keys, &n, st, job);
	if (n == 0) {
		fg_buf_puts(log, "no issue keys in the commits: nothing to do\n");
		*ok = true;
		goto out;
	}
	if (comment != NULL) {
		o = cJSON_CreateObject();
		if (o != NULL && cJSON_AddStringToObject(o, "body", comment) !=
		    NULL)
			body = cJSON_PrintUnformatted(o);
		if (body == NULL) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		if (body != NULL) {
			code = 0;
			rc = jira_call(&code, NULL, job, "POST", base,
			    keys[i], "comment", body, auth, &e);
			fg_buf_printf(log, "jira %s comment: %s\n", keys[i],
			    rc < 0 ? e.msg : code >= 200 && code < 300 ?
			    "added" : "refused");
			if (rc < 0 || code < 200 || code >= 300)
				failed++;
		}
		if (trans != NULL) {
			/* A number is the transition's id; a name is looked
			 * up among the issue's transitions. */
			if (strspn(trans, "0123456789") == strlen(trans) &&
			    strlen(trans) < sizeof(tid)) {
				snprintf(tid, sizeof(tid), "%s", trans);
				rc = 0;
			} else {
				rc = jira_transition_id(tid, sizeof(tid), job,
				    base, keys[i], trans, auth, &e);
			}
			if (rc == 0) {
				cJSON_Delete(o);
				o = cJSON_CreateObject();
				t = o != NULL ? cJSON_AddObjectToObject(o,
				    "transition") : NULL;
				if (t == NULL || cJSON_AddStringToObject(t, "id",
				    tid) == NULL) {
					rc = fg_err_set(err, FG_ENOMEM,
					    "out of memory");
					goto out;
				}
				{
					char *tb = cJSON_PrintUnformatted(o);

					code = 0;
					rc = tb != NULL ? jira_call(&code, NULL,
					    job, "POST", base, keys[i],
					    "transitions", tb, auth, &e) :
					    FG_ENOMEM;
					cJSON_free(tb);
				}
				if (rc == 0 && (code < 200 || code >= 300))
					rc = fg_err_set(&e, FG_EIO, "answered "
					    "%ld", code);
			}
			fg_buf_printf(log, "jira %s transition '%s': %s\n",
			    keys[i], trans, rc < 0 ? e.msg : "done");
			if (rc < 0)
				failed++;
		}
	}
	rc = 0;
	*ok = failed == 0;
	if (!*ok)
		snprintf(reason, rsize, "%zu of %zu jira calls failed", failed,
		    n * ((body != NULL) + (trans != NULL)));
out:
	cJSON_Delete(o);
	cJSON_free(body);
	secret_free(auth);
	free(comment);
	free(trans);
	return rc;
}

/* ---- run ---- */

static bool
env_name_ok(const char *s)
{
	if (!isalpha((unsigned char)*s) && *s != '_')
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

static int
step_run(bool *ok, char *reason, size_t rsize, struct fg_buf *log,
    struct fg_store *st, const struct fg_flowstep_job *job,
    struct fg_err *err)
{
	struct fg_proc_opts po = FG_PROC_OPTS_INIT;
	struct fg_proc_result res;
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(job->spec,
	    "command"), *envj = cJSON_GetObjectItemCaseSensitive(job->spec,
	    "env"), *v;
	const char *commit = run_commit(job);
	char **argv = NULL, **env = NULL, *dir = NULL, *s = NULL;
	size_t na = (size_t)cJSON_GetArraySize(cmd), ne, i = 0, k = 0;
	struct fg_buf b = FG_BUF_INIT;
	git_oid id;
	int rc = 0;

	memset(&res, 0, sizeof(res));
	ne = (size_t)cJSON_GetArraySize(envj) + 6;
	argv = calloc(na + 1, sizeof(*argv));
	env = calloc(ne + 1, sizeof(*env));
	if (argv == NULL || env == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(v, cmd) {
		rc = fg_flowexec_subst(&argv[i], v->valuestring, &job->vals,
		    false, err);
		if (rc < 0)
			goto out;
		i++;
	}
	cJSON_ArrayForEach(v, envj) {
		if (!env_name_ok(v->string)) {
			rc = fg_err_set(err, FG_EINVALID, "env: '%s' is not a "
			    "variable name", v->string);
			goto out;
		}
		rc = fg_flowexec_subst(&s, v->valuestring, &job->vals, false,
		    err);
		if (rc < 0)
			goto out;
		fg_buf_reset(&b);
		fg_buf_printf(&b, "%s=%s", v->string, s);
		free(s);
		s = NULL;
		env[k] = fg_buf_detach(&b, NULL);
		if (env[k++] == NULL) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
	}
#define ADDENV(fmt, val) do {						\
		fg_buf_reset(&b);					\
		fg_buf_printf(&b, fmt, val);				\
		env[k] = fg_buf_detach(&b, NULL);			\
		if (env[k++] == NULL) {					\
			rc = fg_err_set(err, FG_ENOMEM, "out of memory"); \
			goto out;					\
		}							\
	} while (0)
	ADDENV("FLOWGATE_FLOW=%s", job->flow);
	ADDENV("FLOWGATE_RUN=%s", job->run);
	ADDENV("FLOWGATE_STEP=%s", job->step_id);
	ADDENV("FLOWGATE_REPO=%s", job->repo_name != NULL ? job->repo_name :
	    "");
	ADDENV("FLOWGATE_COMMIT=%s", commit != NULL ? commit : "");
#undef ADDENV
	rc = fg_proc_mkdtemp(&dir, "step", err);
	if (rc < 0)
		goto out;
	if (commit != NULL && git_oid_fromstr(&id, commit) == 0) {
		rc = fg_proc_checkout(dir, fg_store_repo(st), &id, err);
		if (rc < 0)
			goto out;
	}
	po.argv = (const char *const *)argv;
	po.env = (const char *const *)env;
	po.dir = dir;
	po.timeout_ms = (unsigned)job->timeout * 1000u;
	po.output_max = FG_FLOWSTEP_LOG_MAX;
	rc = fg_proc_run(&res, &po, err);
	if (rc < 0)
		goto out;
	log_add(log, res.output.ptr != NULL ? res.output.ptr : "",
	    res.output.len);
	*ok = res.exited && res.status == 0 && !res.timed_out;
	if (res.timed_out)
		snprintf(reason, rsize, "timed out after %d s", job->timeout);
	else if (!res.exited)
		snprintf(reason, rsize, "killed by signal %d", res.signal);
	else if (res.status != 0)
		snprintf(reason, rsize, "exit status %d", res.status);
out:
	if (dir != NULL)
		fg_proc_rmtree(dir, NULL);
	free(dir);
	fg_proc_result_release(&res);
	for (i = 0; argv != NULL && i < na; i++)
		free(argv[i]);
	for (i = 0; env != NULL && i < ne; i++)
		free(env[i]);
	free(argv);
	free(env);
	free(s);
	fg_buf_release(&b);
	return rc;
}

/* ---- promote, deploy, pools, merge ---- */

static int
step_promote(bool *ok, char *reason, size_t rsize, struct fg_buf *log,
    struct fg_store *st, const struct fg_flowstep_job *job,
    struct fg_err *err)
{
	struct fg_promote_req req;
	struct fg_promote_result res;
	const struct fg_stage *stage = NULL;
	const char *trig;
	char *change = NULL, runid[64], why[256];
	cJSON *pull = NULL;
	int rc;

	memset(&req, 0, sizeof(req));
	memset(&res, 0, sizeof(res));
	rc = field(&change, job, "change", false, err);
	if (rc < 0)
		return rc;
	req.cfg = job->cfg;
	req.change = change != NULL ? change : run_commit(job);
	if (req.change == NULL) {
		free(change);
		return fg_err_set(err, FG_EINVALID, "nothing to promote: the "
		    "run has no commit and the step no 'change'");
	}
	/*
	 * A run the approval started promotes only while the pull request
	 * is still approved: a review dismissed or a request for changes
	 * since (a retry waiting for a build, say) stops it, whether or not
	 * the target stage has an approvals gate of its own.
	 */
	trig = jstr(job->vals.run, "trigger");
	if (trig != NULL && strcmp(trig, "pull_request approved") == 0 &&
	    run_pr(job) > 0) {
		rc = fg_facts_pull(&pull, fg_store_repo(st), run_pr(job), err);
		if (rc < 0) {
			free(change);
			return rc;
		}
		if (!fg_flowexec_pull_approved(job->cfg, pull, &stage, why,
		    sizeof(why))) {
			snprintf(reason, rsize, "pull request #%lld is no "
			    "longer approved: %s", run_pr(job), why);
			fg_buf_printf(log, "%s\n", reason);
			*ok = false;
			cJSON_Delete(pull);
			free(change);
			return 0;
		}
		cJSON_Delete(pull);
	}
	snprintf(runid, sizeof(runid), "%.40s-%.20s", job->run, job->step_id);
	req.to = jstr(job->spec, "to");
	req.actor = jstr(job->vals.run, "actor");
	req.run = runid;
	req.trigger = "flow";
	req.wait_secs = -1;
	rc = fg_promote_run(&res, st, &req, err);
	if (rc == 0) {
		*ok = res.outcome == FG_PROMOTE_DONE;
		fg_buf_printf(log, "promote %.7s to %s: %s\n", res.commit,
		    res.to != NULL ? res.to : "?",
		    fg_promote_outcome_name(res.outcome));
		fg_verdict_format(log, &res.verdict, NULL);
		if (!*ok)
			snprintf(reason, rsize, "promotion %s%s%s",
			    fg_promote_outcome_name(res.outcome),
			    res.verdict.nissues > 0 ? ": " : "",
			    res.verdict.nissues > 0 ?
			    res.verdict.issues[0].finding : "");
	}
	fg_promote_result_release(&res);
	free(change);
	return rc;
}

static int
deploy_to(bool *ok, char *reason, size_t rsize, struct fg_buf *log,
    struct fg_store *st, const struct fg_flowstep_job *job, const char *env,
    const git_oid *commit, struct fg_err *err)
{
	struct fg_deploy_req req;
	struct fg_deployment d;
	char hex[GIT_OID_HEXSZ + 1];
	int rc;

	memset(&req, 0, sizeof(req));
	memset(&d, 0, sizeof(d));
	fg_buf_init(&d.log);
	req.cfg = job->cfg;
	req.env = env;
	git_oid_cpy(&req.commit, commit);
	req.actor = jstr(job->vals.run, "actor");
	req.run = job->run;
	req.wait_secs = job->timeout;
	req.httpc = job->httpc;
	rc = fg_deploy_run(&d, st, &req, err);
	git_oid_tostr(hex, sizeof(hex), commit);
	if (rc == 0) {
		*ok = d.status == FG_DEPLOY_SUCCEEDED;
		fg_buf_printf(log, "deploy %s: %.7s %s\n", env, hex,
		    fg_deploy_status_name(d.status));
		log_add(log, d.log.ptr != NULL ? d.log.ptr : "", d.log.len);
		if (!*ok)
			snprintf(reason, rsize, "deployment of %.7s to %s %s",
			    hex, env, fg_deploy_status_name(d.status));
	}
	fg_deployment_release(&d);
	return rc;
}

static int
step_deploy(bool *ok, char *reason, size_t rsize, struct fg_buf *log,
    struct fg_store *st, const struct fg_flowstep_job *job,
    struct fg_err *err)
{
	char *env = NULL, *commit = NULL;
	const char *c;
	git_oid id;
	int rc;

	rc = field(&env, job, "env", false, err);
	if (rc == 0)
		rc = field(&commit, job, "commit", false, err);
	if (rc < 0)
		goto out;
	c = commit != NULL ? commit : run_commit(job);
	if (c == NULL) {
		rc = fg_err_set(err, FG_EINVALID, "nothing to deploy: the run "
		    "has no commit and the step no 'commit'");
		goto out;
	}
	rc = resolve(&id, st, c, err);
	if (rc == 0)
		rc = deploy_to(ok, reason, rsize, log, st, job, env, &id, err);
out:
	free(env);
	free(commit);
	return rc;
}

/* The holder key of the run: its pull request, or the run itself. */
static void
holder_of(char *out, size_t size, const struct fg_flowstep_job *job)
{
	long long pr = run_pr(job);

	if (pr > 0)
		snprintf(out, size, "pull/%lld", pr);
	else
		snprintf(out, size, "run/%.40s/%.60s", job->flow, job->run);
}

static int
step_lease(bool *ok, char *reason, size_t rsize, struct fg_buf *log,
    struct fg_store *st, const struct fg_flowstep_job *job,
    struct fg_err *err)
{
	struct fg_lease_result res;
	const char *pool = jstr(job->spec, "pool"), *c = run_commit(job);
	char holder[FG_LEASE_HOLDER_MAX + 1], until[32];
	struct fg_lease l;
	git_oid id;
	int rc;

	holder_of(holder, sizeof(holder), job);
	memset(&res, 0, sizeof(res));
	rc = fg_lease_acquire(&res, st, job->cfg, pool, holder,
	    jstr(job->vals.run, "actor"), 0, err);
	if (rc < 0)
		return rc;
	if (res.outcome == FG_LEASE_QUEUED) {
		fg_buf_printf(log, "pool %s is full: %s waits, number %zu in "
		    "line; it is deployed when an environment is released\n",
		    pool, holder, res.position);
		*ok = true;
		return 0;
	}
	fg_buf_printf(log, "%s %s %s from pool %s\n", holder,
	    res.outcome == FG_LEASE_LEASED ? "leased" : "holds", res.env,
	    pool);
	if (res.outcome == FG_LEASE_HELD) {
		/* Leased again (a push to the pull request): the sandbox is
		 * in use, so its time starts again. */
		rc = fg_lease_renew(&l, st, job->cfg, pool, holder,
		    jstr(job->vals.run, "actor"), 0, err);
		if (rc < 0)
			return rc;
		fg_format_utc(until, sizeof(until), l.expires);
		fg_buf_printf(log, "the lease of %s is renewed until %s\n",
		    res.env, until);
	}
	if (c == NULL || git_oid_fromstr(&id, c) < 0) {
		*ok = true;
		return 0;
	}
	return deploy_to(ok, reason, rsize, log, st, job, res.env, &id, err);
}

/*
 * After rel freed an environment: run the pool's reset command on it, and
 * when a pull request waiting in line got it, deploy that pull request's
 * head there.  *ok false (reason set) when the reset or the deployment
 * failed.
 */
static int
handover(bool *ok, char *reason, size_t rsize, struct fg_buf *log,
    struct fg_store *st, const struct fg_flowstep_job *job,
    const struct fg_lease_release *rel, struct fg_err *err)
{
	const char *head;
	cJSON *pull = NULL;
	bool reset_ok = true;
	long long n;
	git_oid id;
	int rc = 0;

	*ok = true;
	if (rel->env[0] == '\0')
		return 0;
	if (rel->reset) {
		rc = fg_lease_reset(&reset_ok, st, job->cfg, rel->pool,
		    rel->env, rel->next_holder[0] != '\0' ? rel->next_holder :
		    rel->holder, jstr(job->vals.run, "actor"), err);
		if (rc < 0 || !reset_ok) {
			*ok = false;
			snprintf(reason, rsize, "the reset of %s failed",
			    rel->env);
			return rc < 0 ? rc : 0;
		}
	}
	if (strncmp(rel->next_holder, "pull/", 5) != 0)
		return 0;
	/* The next in line got the environment: deploy its head there. */
	fg_buf_printf(log, "%s now holds %s\n", rel->next_holder, rel->env);
	if (fg_parse_int(&n, rel->next_holder + 5, 1, FG_EVENT_PR_MAX,
	    NULL) < 0 || fg_facts_pull(&pull, fg_store_repo(st), n, NULL) < 0)
		return 0;
	head = jstr(cJSON_GetObjectItemCaseSensitive(pull, "head"), "sha");
	if (head != NULL && git_oid_fromstr(&id, head) == 0 &&
	    !git_oid_is_zero(&id))
		rc = deploy_to(ok, reason, rsize, log, st, job, rel->env, &id,
		    err);
	cJSON_Delete(pull);
	return rc;
}

static int
step_release(bool *ok, char *reason, size_t rsize, struct fg_buf *log,
    struct fg_store *st, const struct fg_flowstep_job *job,
    struct fg_err *err)
{
	struct fg_lease_release rel;
	const char *pool = jstr(job->spec, "pool");
	char holder[FG_LEASE_HOLDER_MAX + 1];
	int rc;

	holder_of(holder, sizeof(holder), job);
	memset(&rel, 0, sizeof(rel));
	rc = fg_lease_release(&rel, st, job->cfg, pool, holder,
	    jstr(job->vals.run, "actor"), 0, err);
	if (rc == FG_ENOTFOUND && strncmp(err->msg, "unknown pool", 12) != 0) {
		fg_buf_printf(log, "%s held nothing in pool %s\n", holder,
		    pool);
		*ok = true;
		return 0;
	}
	if (rc < 0)
		return rc;
	fg_buf_printf(log, "%s released %s\n", holder, rel.env[0] != '\0' ?
	    rel.env : "its place in the queue");
	return handover(ok, reason, rsize, log, st, job, &rel, err);
}

bool
fg_flowexec_has_expired(struct fg_store *st, const struct fg_config *cfg,
    int64_t now)
{
	struct fg_pool_state ps;
	bool any = false;
	size_t i, k;

	if (now == 0)
		now = fg_now();
	for (i = 0; i < cfg->npools && !any; i++) {
		memset(&ps, 0, sizeof(ps));
		if (fg_lease_state(&ps, st, cfg, cfg->pools[i].name, NULL) < 0)
			continue;
		for (k = 0; k < ps.nleases; k++)
			if (ps.leases[k].expires <= now)
				any = true;
		fg_pool_state_release(&ps);
	}
	return any;
}

int
fg_flowexec_expire(size_t *nexpired, struct fg_store *st,
    const struct fg_config *cfg, const char *repo_path, int64_t now,
    struct fg_err *err)
{
	struct fg_lease_release *v = NULL;
	struct fg_flowstep_job job;
	struct fg_buf log = FG_BUF_INIT;
	struct fg_err e;
	char reason[512];
	size_t n = 0, i;
	bool ok;
	int rc, hrc;

	memset(&job, 0, sizeof(job));
	job.repo_path = repo_path;
	job.cfg = cfg;
	job.flow = "pool-expiry";
	job.run = "pool-expiry";
	job.step_id = "expire";
	job.action = "pool.expire";
	rc = fg_lease_expire(&v, &n, st, cfg, now, err);
	for (i = 0; i < n; i++) {
		const struct fg_pool *p = fg_pipeline_pool(cfg, v[i].pool);

		fg_log_info("event=pool_expire pool=%s env=%s holder=%s "
		    "next=%s", v[i].pool, v[i].env, v[i].holder,
		    v[i].next_holder[0] != '\0' ? v[i].next_holder : "-");
		job.timeout = p != NULL && p->deploy.timeout > 0 ?
		    p->deploy.timeout : FG_DEPLOY_TIMEOUT;
		e = (struct fg_err)FG_ERR_INIT;
		reason[0] = '\0';
		fg_buf_reset(&log);
		hrc = handover(&ok, reason, sizeof(reason), &log, st, &job,
		    &v[i], &e);
		if (hrc < 0 || !ok)
			fg_log_warnx("event=pool_expire_error pool=%s env=%s "
			    "error=\"%s\"", v[i].pool, v[i].env, hrc < 0 ?
			    e.msg : reason);
	}
	if (nexpired != NULL)
		*nexpired = n;
	free(v);
	fg_buf_release(&log);
	return rc;
}

/*
 * Merge a pull request into its base through the hooks: a fast-forward
 * when the base is an ancestor of the head, else a merge commit made
 * here; then a real "git push" of it into the repository itself, so
 * pre-receive applies every rule and gate of the base branch.
 */
static int
step_merge(bool *ok, char *reason, size_t rsize, struct fg_buf *log,
    struct fg_store *st, const struct fg_flowstep_job *job,
    struct fg_err *err)
{
	git_repository *repo = fg_store_repo(st);
	struct fg_proc_opts po = FG_PROC_OPTS_INIT;
	struct fg_proc_result res;
	const char *head, *base;
	char *prs = NULL, hex[GIT_OID_HEXSZ + 1], spec[1100], title[300];
	const char *argv[8];
	git_oid h, b, m, tree_id;
	git_commit *hc = NULL, *bc = NULL;
	git_index *idx = NULL;
	git_tree *tree = NULL;
	git_signature *sig = NULL;
	cJSON *pull = NULL;
	long long n = run_pr(job);
	int rc;

	memset(&res, 0, sizeof(res));
	rc = field(&prs, job, "pull_request", false, err);
	if (rc < 0)
		return rc;
	if (prs != NULL && fg_parse_int(&n, prs[0] == '#' ? prs + 1 : prs, 1,
	    FG_EVENT_PR_MAX, NULL) < 0) {
		rc = fg_err_set(err, FG_EINVALID, "pull_request: '%s' is not a "
		    "pull request number", prs);
		goto out;
	}
	if (n <= 0) {
		rc = fg_err_set(err, FG_EINVALID, "no pull request to merge");
		goto out;
	}
	rc = fg_facts_pull(&pull, repo, n, err);
	if (rc < 0)
		goto out;
	head = jstr(cJSON_GetObjectItemCaseSensitive(pull, "head"), "sha");
	base = jstr(cJSON_GetObjectItemCaseSensitive(pull, "base"), "ref");
	if (head == NULL || base == NULL || git_oid_fromstr(&h, head) < 0 ||
	    git_oid_is_zero(&h) || !fg_refname_is_valid(base)) {
		rc = fg_err_set(err, FG_EINVALID, "pull request #%lld has no "
		    "head commit or base branch yet", n);
		goto out;
	}
	if (git_reference_name_to_id(&b, repo, base) < 0) {
		git_oid_cpy(&m, &h);
	} else if (git_oid_equal(&b, &h) ||
	    git_graph_descendant_of(repo, &h, &b) == 1) {
		git_oid_cpy(&m, &h);
	} else {
		if (git_commit_lookup(&hc, repo, &h) < 0 ||
		    git_commit_lookup(&bc, repo, &b) < 0 ||
		    git_merge_commits(&idx, repo, bc, hc, NULL) < 0) {
			rc = fg_err_git(err, FG_EIO, "cannot merge #%lld", n);
			goto out;
		}
		if (git_index_has_conflicts(idx)) {
			*ok = false;
			snprintf(reason, rsize, "pull request #%lld conflicts "
			    "with %s: merge it by hand", n, base);
			goto out;
		}
		snprintf(title, sizeof(title), "Merge pull request #%lld into "
		    "%s\n", n, base + (strncmp(base, "refs/heads/", 11) == 0 ?
		    11 : 0));
		if (git_index_write_tree_to(&tree_id, idx, repo) < 0 ||
		    git_tree_lookup(&tree, repo, &tree_id) < 0 ||
		    git_signature_now(&sig, "flowgate",
		    "flowgate@localhost") < 0 ||
		    git_commit_create_v(&m, repo, NULL, sig, sig, NULL, title,
		    tree, 2, bc, hc) < 0) {
			rc = fg_err_git(err, FG_EIO, "cannot write the merge "
			    "of #%lld", n);
			goto out;
		}
	}
	git_oid_tostr(hex, sizeof(hex), &m);
	snprintf(spec, sizeof(spec), "%s:%s", hex, base);
	argv[0] = "git";
	argv[1] = "push";
	argv[2] = "--porcelain";
	argv[3] = job->repo_path;
	argv[4] = spec;
	argv[5] = NULL;
	po.argv = argv;
	po.dir = job->repo_path;
	po.timeout_ms = (unsigned)job->timeout * 1000u;
	rc = fg_proc_run(&res, &po, err);
	if (rc < 0)
		goto out;
	log_add(log, res.output.ptr != NULL ? res.output.ptr : "",
	    res.output.len);
	*ok = res.exited && res.status == 0;
	if (!*ok)
		snprintf(reason, rsize, "the push of #%lld into %s was refused",
		    n, base);
out:
	fg_proc_result_release(&res);
	git_signature_free(sig);
	git_tree_free(tree);
	git_index_free(idx);
	git_commit_free(hc);
	git_commit_free(bc);
	cJSON_Delete(pull);
	free(prs);
	return rc;
}

int
fg_flowstep_exec(bool *ok, char *reason, size_t rsize, struct fg_buf *log,
    const struct fg_flowstep_job *job, struct fg_err *err)
{
	struct fg_store *st = NULL;
	const char *a = job->action;
	int rc;

	*ok = false;
	reason[0] = '\0';
	rc = fg_store_open(&st, job->repo_path, 0, err);
	if (rc < 0)
		return rc;
	if (strcmp(a, "run") == 0)
		rc = step_run(ok, reason, rsize, log, st, job, err);
	else if (strcmp(a, "http") == 0)
		rc = step_http(ok, reason, rsize, log, job, err);
	else if (strcmp(a, "slack") == 0)
		rc = step_slack(ok, reason, rsize, log, job, err);
	else if (strcmp(a, "jira") == 0)
		rc = step_jira(ok, reason, rsize, log, st, job, err);
	else if (strcmp(a, "promote") == 0)
		rc = step_promote(ok, reason, rsize, log, st, job, err);
	else if (strcmp(a, "deploy") == 0)
		rc = step_deploy(ok, reason, rsize, log, st, job, err);
	else if (strcmp(a, "pool.lease") == 0)
		rc = step_lease(ok, reason, rsize, log, st, job, err);
	else if (strcmp(a, "pool.release") == 0)
		rc = step_release(ok, reason, rsize, log, st, job, err);
	else if (strcmp(a, "merge") == 0)
		rc = step_merge(ok, reason, rsize, log, st, job, err);
	else
		rc = fg_err_set(err, FG_EINVALID, "unknown action '%s'", a);
	if (rc < 0) {
		*ok = false;
		set_reason(reason, rsize, err->msg);
	}
	fg_store_free(st);
	return rc;
}
