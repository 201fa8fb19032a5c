/*
 * settings.c - flowgate-webhookd's settings file (see settings.h).
 *
 * The schema says what a valid file is; this file converts a validated tree
 * into struct fg_settings and does the checks a schema cannot: sizes
 * against their maxima, secrets that exist and are private.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "buf.h"
#include "schema.h"
#include "settings.h"
#include "util.h"
#include "yaml.h"
#include "banned.h"

/* Largest secret file: secrets are short; anything bigger is a mistake. */
#define SECRET_FILE_MAX 4096

static void
wipe_free(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

void
fg_settings_free(struct fg_settings *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nrepos; i++) {
		free(s->repos[i].name);
		free(s->repos[i].path);
		wipe_free(s->repos[i].secret);
	}
	free(s->repos);
	for (i = 0; i < s->ntokens; i++)
		free(s->tokens[i].name);
	free(s->tokens);
	wipe_free(s->secret);
	free(s->file);
	free(s->listen);
	free(s->root);
	free(s);
}

static struct fg_settings *
settings_new(void)
{
	struct fg_settings *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->listen = fg_strdup(FG_SETTINGS_LISTEN);
	s->root = fg_strdup(FG_SETTINGS_ROOT);
	if (s->listen == NULL || s->root == NULL) {
		fg_settings_free(s);
		return NULL;
	}
	s->body_max = FG_SETTINGS_BODY_DEFAULT;
	s->headers_max = FG_SETTINGS_HEADERS_DEFAULT;
	s->timeout = FG_SETTINGS_TIMEOUT_DEFAULT;
	s->connections = FG_SETTINGS_CONNECTIONS_DEFAULT;
	s->backlog = FG_SETTINGS_BACKLOG_DEFAULT;
	s->queue_max = FG_SETTINGS_QUEUE_DEFAULT;
	s->batch_max = FG_SETTINGS_BATCH_DEFAULT;
	s->handoff_max = FG_SETTINGS_HANDOFF_DEFAULT;
	s->workers = FG_SETTINGS_WORKERS_DEFAULT;
	return s;
}

int
fg_settings_default(struct fg_settings **out, struct fg_err *err)
{
	struct fg_settings *s;
	const char *v;

	*out = NULL;
	s = settings_new();
	if (s == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	v = getenv(FG_SETTINGS_SECRET_ENV);
	if (v != NULL && *v != '\0') {
		s->secret = fg_strdup(v);
		if (s->secret == NULL) {
			fg_settings_free(s);
			return fg_err_set(err, FG_ENOMEM, "out of memory");
		}
	}
	*out = s;
	return 0;
}

int
fg_settings_set_listen(struct fg_settings *s, const char *listen,
    struct fg_err *err)
{
	char host[256];
	unsigned short port;
	char *copy;

	if (fg_settings_split_listen(host, sizeof(host), &port, listen,
	    err) < 0)
		return FG_EINVALID;
	copy = fg_strdup(listen);
	if (copy == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	free(s->listen);
	s->listen = copy;
	return 0;
}

int
fg_settings_set_root(struct fg_settings *s, const char *root,
    struct fg_err *err)
{
	char *copy;

	if (root == NULL || *root == '\0')
		return fg_err_set(err, FG_EINVALID, "empty repository root");
	copy = fg_strdup(root);
	if (copy == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	free(s->root);
	s->root = copy;
	return 0;
}

int
fg_settings_split_listen(char *host, size_t hsize, unsigned short *port,
    const char *listen, struct fg_err *err)
{
	const char *colon = listen != NULL ? strrchr(listen, ':') : NULL;
	long long p;

	if (colon == NULL || colon == listen ||
	    (size_t)(colon - listen) >= hsize ||
	    fg_parse_int(&p, colon + 1, 1, 65535, NULL) < 0)
		return fg_err_set(err, FG_EINVALID, "bad listen address '%s' "
		    "(want ADDR:PORT)", listen != NULL ? listen : "");
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	*port = (unsigned short)p;
	return 0;
}

/* Conversion state: where diagnostics go and what the positions are. */
struct conv {
	const struct fg_jdoc *doc;
	const char *file;
	struct fg_diags *d;
	int errors;
	int oom;
};

static void conv_error(struct conv *c, const cJSON *node, const char *path,
    const char *fmt, ...) FG_PRINTF(4, 5);

static void
conv_error(struct conv *c, const cJSON *node, const char *path,
    const char *fmt, ...)
{
	unsigned line = 0, col = 0;
	char msg[FG_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fg_jdoc_pos(c->doc, node, &line, &col);
	fg_diags_at(c->d, c->file, line, col, path, "%s", msg);
	c->errors++;
}

static uint64_t
conv_size(struct conv *c, const cJSON *node, const char *path, uint64_t max,
    uint64_t dflt)
{
	struct fg_err err = FG_ERR_INIT;
	uint64_t v;

	if (node == NULL)
		return dflt;
	if (cJSON_IsNumber(node)) {
		if (node->valuedouble < 1 || node->valuedouble > (double)max) {
			fg_err_set(&err, FG_EINVALID, "must be from 1 to %llu "
			    "bytes", (unsigned long long)max);
			conv_error(c, node, path, "%s", err.msg);
			return dflt;
		}
		return (uint64_t)node->valuedouble;
	}
	if (fg_parse_size(&v, node->valuestring, max, &err) < 0 || v == 0) {
		if (v == 0 && err.msg[0] == '\0')
			fg_err_set(&err, FG_EINVALID, "must not be 0");
		conv_error(c, node, path, "%s", err.msg);
		return dflt;
	}
	return v;
}

static int
conv_int(const cJSON *node, int dflt)
{
	return node != NULL ? (int)node->valuedouble : dflt;
}

/*
 * Read the secret that node ({env: NAME} or {file: PATH}) names.  NULL
 * (with a diagnostic) when it is missing, empty or, for a file, open to
 * group or others.  One trailing newline of a file is dropped: editors add
 * it and no forge puts it in the secret.
 */
static char *
conv_secret(struct conv *c, const cJSON *node, const char *path)
{
	const cJSON *env = cJSON_GetObjectItemCaseSensitive(node, "env");
	const cJSON *file = cJSON_GetObjectItemCaseSensitive(node, "file");
	struct fg_buf b = FG_BUF_INIT;
	struct fg_err err = FG_ERR_INIT;
	struct stat st;
	char *s = NULL;
	const char *v;

	if (cJSON_IsString(env)) {
		v = getenv(env->valuestring);
		if (v == NULL || *v == '\0') {
			conv_error(c, env, path, "environment variable '%s' "
			    "is not set or empty", env->valuestring);
			return NULL;
		}
		s = fg_strdup(v);
		if (s == NULL)
			c->oom = 1;
		return s;
	}
	if (!cJSON_IsString(file))
		return NULL;
	if (stat(file->valuestring, &st) < 0) {
		conv_error(c, file, path, "cannot read secret file '%s'",
		    file->valuestring);
		return NULL;
	}
	if ((st.st_mode & 077) != 0) {
		conv_error(c, file, path, "secret file '%s' is open to group "
		    "or others: chmod 600 it", file->valuestring);
		return NULL;
	}
	if (fg_read_file(&b, file->valuestring, SECRET_FILE_MAX, &err) < 0) {
		conv_error(c, file, path, "%s", err.msg);
		goto out;
	}
	if (b.len > 0 && b.ptr[b.len - 1] == '\n')
		b.len--;
	if (b.len > 0 && b.ptr[b.len - 1] == '\r')
		b.len--;
	b.ptr[b.len] = '\0';
	if (b.len == 0 || strlen(b.ptr) != b.len) {
		conv_error(c, file, path, "secret file '%s' is empty or holds "
		    "a NUL byte", file->valuestring);
		goto out;
	}
	s = fg_strdup(b.ptr);
	if (s == NULL)
		c->oom = 1;
out:
	if (b.alloc > 0)
		OPENSSL_cleanse(b.ptr, b.alloc);
	fg_buf_release(&b);
	return s;
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

static enum fg_role
role_from_name(const char *s)
{
	if (strcmp(s, "admin") == 0)
		return FG_ROLE_ADMIN;
	if (strcmp(s, "operate") == 0)
		return FG_ROLE_OPERATE;
	if (strcmp(s, "read") == 0)
		return FG_ROLE_READ;
	return FG_ROLE_NONE;
}

static void
conv_repos(struct conv *c, struct fg_settings *s, const cJSON *repos)
{
	const cJSON *r, *path, *secret;
	char where[600];
	size_t n = (size_t)cJSON_GetArraySize(repos);

	if (n == 0)
		return;
	s->repos = calloc(n, sizeof(*s->repos));
	if (s->repos == NULL) {
		c->oom = 1;
		return;
	}
	cJSON_ArrayForEach(r, repos) {
		struct fg_settings_repo *sr = &s->repos[s->nrepos++];

		sr->name = fg_strdup(r->string);
		path = cJSON_GetObjectItemCaseSensitive(r, "path");
		secret = cJSON_GetObjectItemCaseSensitive(r, "secret");
		if (cJSON_IsString(path))
			sr->path = fg_strdup(path->valuestring);
		if (sr->name == NULL || (path != NULL && sr->path == NULL))
			c->oom = 1;
		if (secret != NULL) {
			snprintf(where, sizeof(where), "repositories.%s.secret",
			    r->string);
			sr->secret = conv_secret(c, secret, where);
		}
	}
}

static void
conv_tokens(struct conv *c, struct fg_settings *s, const cJSON *tokens)
{
	const cJSON *t;
	size_t n = (size_t)cJSON_GetArraySize(tokens), i, j;

	if (n == 0)
		return;
	s->tokens = calloc(n, sizeof(*s->tokens));
	if (s->tokens == NULL) {
		c->oom = 1;
		return;
	}
	cJSON_ArrayForEach(t, tokens) {
		struct fg_settings_token *st = &s->tokens[s->ntokens++];
		const char *hex = cJSON_GetObjectItemCaseSensitive(t,
		    "hash")->valuestring + strlen("sha256:");

		st->name = fg_strdup(cJSON_GetObjectItemCaseSensitive(t,
		    "name")->valuestring);
		if (st->name == NULL)
			c->oom = 1;
		st->role = role_from_name(cJSON_GetObjectItemCaseSensitive(t,
		    "role")->valuestring);
		for (i = 0; i < sizeof(st->hash); i++)
			st->hash[i] = (unsigned char)(hexval(hex[2 * i]) << 4 |
			    hexval(hex[2 * i + 1]));
	}
	for (i = 0; i < s->ntokens; i++)
		for (j = 0; j < i; j++)
			if (s->tokens[i].name != NULL &&
			    s->tokens[j].name != NULL &&
			    strcmp(s->tokens[i].name, s->tokens[j].name) == 0)
				conv_error(c, cJSON_GetArrayItem(tokens,
				    (int)i), "tokens", "token name '%s' is "
				    "used twice", s->tokens[i].name);
}

static void
convert(struct conv *c, struct fg_settings *s, const cJSON *root)
{
	const cJSON *limits = cJSON_GetObjectItemCaseSensitive(root, "limits");
	const cJSON *v;

	v = cJSON_GetObjectItemCaseSensitive(root, "listen");
	if (cJSON_IsString(v)) {
		struct fg_err err = FG_ERR_INIT;

		if (fg_settings_set_listen(s, v->valuestring, &err) < 0)
			conv_error(c, v, "listen", "%s", err.msg);
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "root");
	if (cJSON_IsString(v) && fg_settings_set_root(s, v->valuestring,
	    NULL) < 0)
		c->oom = 1;
	s->workers = conv_int(cJSON_GetObjectItemCaseSensitive(root,
	    "workers"), s->workers);
	v = cJSON_GetObjectItemCaseSensitive(root, "secret");
	if (v != NULL)
		s->secret = conv_secret(c, v, "secret");
	s->body_max = conv_size(c, cJSON_GetObjectItemCaseSensitive(limits,
	    "body"), "limits.body", FG_SETTINGS_BODY_MAX, s->body_max);
	s->headers_max = conv_size(c, cJSON_GetObjectItemCaseSensitive(limits,
	    "headers"), "limits.headers", FG_SETTINGS_HEADERS_MAX,
	    s->headers_max);
	s->queue_max = conv_size(c, cJSON_GetObjectItemCaseSensitive(limits,
	    "queue"), "limits.queue", FG_SETTINGS_QUEUE_MAX, s->queue_max);
	s->handoff_max = conv_size(c, cJSON_GetObjectItemCaseSensitive(limits,
	    "handoff"), "limits.handoff", FG_SETTINGS_HANDOFF_MAX,
	    s->handoff_max);
	s->timeout = conv_int(cJSON_GetObjectItemCaseSensitive(limits,
	    "timeout"), s->timeout);
	s->connections = conv_int(cJSON_GetObjectItemCaseSensitive(limits,
	    "connections"), s->connections);
	s->backlog = conv_int(cJSON_GetObjectItemCaseSensitive(limits,
	    "backlog"), s->backlog);
	s->batch_max = conv_int(cJSON_GetObjectItemCaseSensitive(limits,
	    "batch"), s->batch_max);
	conv_repos(c, s, cJSON_GetObjectItemCaseSensitive(root,
	    "repositories"));
	conv_tokens(c, s, cJSON_GetObjectItemCaseSensitive(root, "tokens"));
}

int
fg_settings_parse(struct fg_settings **out, const char *text, size_t len,
    const char *file, struct fg_diags *d)
{
	struct conv c = { NULL, file, d, 0, 0 };
	struct fg_err err = FG_ERR_INIT;
	struct fg_settings *s = NULL;
	struct fg_jdoc *doc = NULL;
	cJSON *schema = NULL;
	int rc;

	*out = NULL;
	rc = fg_yaml_parse(&doc, text, len, file, d);
	if (rc < 0)
		goto out;
	rc = fg_schema_load(&schema, "webhookd.schema.json", &err);
	if (rc < 0) {
		fg_diags_add(d, "%s: %s", file, err.msg);
		goto out;
	}
	if (cJSON_IsNull(fg_jdoc_root(doc))) {
		fg_diags_add(d, "%s: the file is empty", file);
		rc = FG_EINVALID;
		goto out;
	}
	rc = fg_schema_validate(schema, fg_jdoc_root(doc), doc, file, d);
	if (rc < 0)
		goto out;
	s = settings_new();
	if (s == NULL) {
		rc = FG_ENOMEM;
		goto out;
	}
	s->file = fg_strdup(file);
	c.doc = doc;
	convert(&c, s, fg_jdoc_root(doc));
	if (c.oom || s->file == NULL) {
		rc = FG_ENOMEM;
		goto out;
	}
	if (c.errors > 0) {
		rc = FG_EINVALID;
		goto out;
	}
	*out = s;
	s = NULL;
out:
	fg_settings_free(s);
	cJSON_Delete(schema);
	fg_jdoc_free(doc);
	return rc;
}

int
fg_settings_load(struct fg_settings **out, const char *file,
    struct fg_diags *d)
{
	struct fg_buf b = FG_BUF_INIT;
	struct fg_err err = FG_ERR_INIT;
	int rc;

	*out = NULL;
	rc = fg_read_file(&b, file, FG_SETTINGS_FILE_MAX, &err);
	if (rc < 0) {
		fg_diags_add(d, "%s", err.msg);
		rc = rc == FG_ENOMEM ? FG_ENOMEM : FG_EINVALID;
		goto out;
	}
	rc = fg_settings_parse(out, b.ptr, b.len, file, d);
out:
	fg_buf_release(&b);
	return rc;
}

static const struct fg_settings_repo *
find_repo(const struct fg_settings *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->nrepos; i++)
		if (strcmp(s->repos[i].name, name) == 0)
			return &s->repos[i];
	return NULL;
}

const char *
fg_settings_secret(const struct fg_settings *s, const char *name)
{
	const struct fg_settings_repo *r = name != NULL ? find_repo(s, name) :
	    NULL;

	if (r != NULL && r->secret != NULL)
		return r->secret;
	return s->secret;
}

int
fg_settings_repo_path(char **out, const struct fg_settings *s,
    const char *name)
{
	const struct fg_settings_repo *r = find_repo(s, name);
	struct fg_buf b = FG_BUF_INIT;

	*out = NULL;
	if (r != NULL && r->path != NULL) {
		*out = fg_strdup(r->path);
		return *out == NULL ? FG_ENOMEM : 0;
	}
	if (fg_buf_printf(&b, "%s/%s.git", s->root, name) < 0)
		return FG_ENOMEM;
	*out = fg_buf_detach(&b, NULL);
	return *out == NULL ? FG_ENOMEM : 0;
}

enum fg_role
fg_settings_token_role(const struct fg_settings *s, const char *token,
    const char **name)
{
	unsigned char h[SHA256_DIGEST_LENGTH];
	enum fg_role role = FG_ROLE_NONE;
	size_t i;

	if (name != NULL)
		*name = NULL;
	if (token == NULL || *token == '\0')
		return FG_ROLE_NONE;
	SHA256((const unsigned char *)token, strlen(token), h);
	/* Compare against every hash, so timing does not tell which. */
	for (i = 0; i < s->ntokens; i++) {
		if (CRYPTO_memcmp(h, s->tokens[i].hash, sizeof(h)) == 0 &&
		    role == FG_ROLE_NONE) {
			role = s->tokens[i].role;
			if (name != NULL)
				*name = s->tokens[i].name;
		}
	}
	OPENSSL_cleanse(h, sizeof(h));
	return role;
}

void
fg_settings_token_hash(char out[72], const char *token)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char h[SHA256_DIGEST_LENGTH];
	size_t i;

	SHA256((const unsigned char *)token, strlen(token), h);
	memcpy(out, "sha256:", 7);
	for (i = 0; i < sizeof(h); i++) {
		out[7 + 2 * i] = hex[h[i] >> 4];
		out[8 + 2 * i] = hex[h[i] & 15];
	}
	out[71] = '\0';
	OPENSSL_cleanse(h, sizeof(h));
}

const char *
fg_role_name(enum fg_role role)
{
	switch (role) {
	case FG_ROLE_READ: return "read";
	case FG_ROLE_OPERATE: return "operate";
	case FG_ROLE_ADMIN: return "admin";
	default: return "none";
	}
}
