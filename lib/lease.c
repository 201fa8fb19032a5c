/*
 * lease.c - sandbox pools on refs/flowgate/pools/<pool> (see lease.h).
 *
 * Every change is a read-modify-write of leases.json: read the tip, parse
 * and validate its leases.json, let an operation change the state in
 * memory, write the new leases.json as a commit whose parent is the tip
 * read, and move the ref with fg_store_ref_cas() from that tip.  A lost
 * race starts over from the new tip, so every change is applied to the
 * state it was decided on, and two leasers can never both see an
 * environment free and both take it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "deploy.h"
#include "lease.h"
#include "log.h"
#include "pipeline.h"
#include "proc.h"
#include "record.h"
#include "schema.h"
#include "util.h"

#include "banned.h"

#define ACTIVITY_REF	"refs/flowgate/activity"

/* The state as leases.json holds it, decoded. */
struct pstate {
	struct fg_lease *leases;
	size_t n, alloc;
	struct fg_lease_waiter *queue;
	size_t nq, qalloc;
};

/* What an operation says about the commit to write. */
struct change {
	bool changed;
	const char *kind;		/* pool.lease, pool.release, ... */
	char subject[1024];
	char env[FG_LEASE_NAME_MAX];
	char holder[FG_LEASE_HOLDER_MAX + 1];
	const char *actor;
};

typedef int (*op_fn)(struct pstate *s, const struct fg_pool *pool,
    struct change *c, void *arg, int64_t now, struct fg_err *err);

bool
fg_lease_holder_is_valid(const char *holder)
{
	size_t i, len;

	if (holder == NULL)
		return false;
	len = strlen(holder);
	if (len == 0 || len > FG_LEASE_HOLDER_MAX)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)holder[i];
		bool alnum = (ch >= 'a' && ch <= 'z') ||
		    (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');

		if (alnum)
			continue;
		if (i == 0 || strchr("._/:@-", ch) == NULL)
			return false;
	}
	return true;
}

static void
copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src != NULL ? src : "");
}

static void
pstate_release(struct pstate *s)
{
	free(s->leases);
	free(s->queue);
	memset(s, 0, sizeof(*s));
}

static int
pstate_add_lease(struct pstate *s, struct fg_lease **out)
{
	struct fg_lease *v;
	size_t na;

	if (s->n == s->alloc) {
		na = s->alloc ? s->alloc * 2 : 8;
		v = realloc(s->leases, na * sizeof(*v));
		if (v == NULL)
			return FG_ENOMEM;
		s->leases = v;
		s->alloc = na;
	}
	*out = &s->leases[s->n++];
	memset(*out, 0, sizeof(**out));
	return 0;
}

static int
pstate_add_waiter(struct pstate *s, struct fg_lease_waiter **out)
{
	struct fg_lease_waiter *v;
	size_t na;

	if (s->nq == s->qalloc) {
		na = s->qalloc ? s->qalloc * 2 : 8;
		v = realloc(s->queue, na * sizeof(*v));
		if (v == NULL)
			return FG_ENOMEM;
		s->queue = v;
		s->qalloc = na;
	}
	*out = &s->queue[s->nq++];
	memset(*out, 0, sizeof(**out));
	return 0;
}

static struct fg_lease *
find_lease(struct pstate *s, const char *holder)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->leases[i].holder, holder) == 0)
			return &s->leases[i];
	return NULL;
}

static struct fg_lease *
find_env(struct pstate *s, const char *env)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->leases[i].env, env) == 0)
			return &s->leases[i];
	return NULL;
}

static long
find_waiter(const struct pstate *s, const char *holder)
{
	size_t i;

	for (i = 0; i < s->nq; i++)
		if (strcmp(s->queue[i].holder, holder) == 0)
			return (long)i;
	return -1;
}

/* The first environment of pool (config order) no lease names, or NULL. */
static const char *
first_free(struct pstate *s, const struct fg_pool *pool)
{
	size_t i;

	for (i = 0; i < pool->envs.n; i++)
		if (find_env(s, pool->envs.v[i]) == NULL)
			return pool->envs.v[i];
	return NULL;
}

static bool
pool_has_env(const struct fg_pool *pool, const char *env)
{
	size_t i;

	for (i = 0; i < pool->envs.n; i++)
		if (strcmp(pool->envs.v[i], env) == 0)
			return true;
	return false;
}

static int64_t
lease_secs(const struct fg_pool *pool)
{
	int m = pool->lease_minutes > 0 ? pool->lease_minutes :
	    FG_LEASE_MINUTES_DEFAULT;

	return (int64_t)m * 60;
}

static int
validate(const cJSON *json, struct fg_err *err)
{
	struct fg_diags d = FG_DIAGS_INIT;
	cJSON *schema = NULL;
	int rc;

	rc = fg_schema_load(&schema, "leases.schema.json", err);
	if (rc < 0)
		goto out;
	rc = fg_schema_validate(schema, json, NULL, FG_LEASE_FILE, &d);
	if (rc < 0)
		rc = fg_err_set(err, rc == FG_ENOMEM ? FG_ENOMEM : FG_EINVALID,
		    "%s", d.n > 0 ? d.lines[0] : "leases.json: invalid");
out:
	fg_diags_release(&d);
	cJSON_Delete(schema);
	return rc;
}

static const char *
jstr(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static int
jtime(int64_t *out, const cJSON *o, const char *key, struct fg_err *err)
{
	if (fg_parse_utc(out, jstr(o, key)) < 0)
		return fg_err_set(err, FG_EINVALID, "leases.json: bad time "
		    "'%s'", jstr(o, key));
	return 0;
}

/* Decode a validated leases.json. */
static int
pstate_from_json(struct pstate *s, const cJSON *json, const char *pool,
    struct fg_err *err)
{
	const cJSON *it;
	struct fg_lease *l;
	struct fg_lease_waiter *w;
	int rc;

	rc = validate(json, err);
	if (rc < 0)
		return rc;
	if (strcmp(jstr(json, "pool"), pool) != 0)
		return fg_err_set(err, FG_EINVALID, "leases.json of pool '%s' "
		    "is on the ref of pool '%s'", jstr(json, "pool"), pool);
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(json,
	    "leases")) {
		if (pstate_add_lease(s, &l) < 0)
			return fg_err_set(err, FG_ENOMEM, "out of memory");
		copy(l->env, sizeof(l->env), jstr(it, "env"));
		copy(l->holder, sizeof(l->holder), jstr(it, "holder"));
		copy(l->actor, sizeof(l->actor), jstr(it, "actor"));
		if (jtime(&l->since, it, "since", err) < 0 ||
		    jtime(&l->expires, it, "expires", err) < 0)
			return FG_EINVALID;
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(json,
	    "queue")) {
		if (pstate_add_waiter(s, &w) < 0)
			return fg_err_set(err, FG_ENOMEM, "out of memory");
		copy(w->holder, sizeof(w->holder), jstr(it, "holder"));
		copy(w->actor, sizeof(w->actor), jstr(it, "actor"));
		if (jtime(&w->since, it, "since", err) < 0)
			return FG_EINVALID;
	}
	return 0;
}

static bool
add_time(cJSON *o, const char *key, int64_t t)
{
	char s[32];

	fg_format_utc(s, sizeof(s), t);
	return cJSON_AddStringToObject(o, key, s) != NULL;
}

static cJSON *
lease_json(const struct fg_lease *l)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || cJSON_AddStringToObject(o, "env", l->env) == NULL ||
	    cJSON_AddStringToObject(o, "holder", l->holder) == NULL ||
	    cJSON_AddStringToObject(o, "actor", l->actor) == NULL ||
	    !add_time(o, "since", l->since) ||
	    !add_time(o, "expires", l->expires)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static cJSON *
waiter_json(const struct fg_lease_waiter *w)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || cJSON_AddStringToObject(o, "holder", w->holder) ==
	    NULL || cJSON_AddStringToObject(o, "actor", w->actor) == NULL ||
	    !add_time(o, "since", w->since)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static cJSON *
pstate_to_json(const struct pstate *s, const char *pool)
{
	cJSON *o = cJSON_CreateObject(), *a, *b, *e;
	size_t i;

	if (o == NULL || cJSON_AddNumberToObject(o, "version", 1) == NULL ||
	    cJSON_AddStringToObject(o, "pool", pool) == NULL)
		goto fail;
	a = cJSON_AddArrayToObject(o, "leases");
	b = cJSON_AddArrayToObject(o, "queue");
	if (a == NULL || b == NULL)
		goto fail;
	for (i = 0; i < s->n; i++) {
		e = lease_json(&s->leases[i]);
		if (e == NULL)
			goto fail;
		cJSON_AddItemToArray(a, e);
	}
	for (i = 0; i < s->nq; i++) {
		e = waiter_json(&s->queue[i]);
		if (e == NULL)
			goto fail;
		cJSON_AddItemToArray(b, e);
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

static int
pool_ref(char *out, size_t size, const char *pool, struct fg_err *err)
{
	int n = snprintf(out, size, FG_LEASE_REF_PREFIX "%s", pool);

	if (n < 0 || (size_t)n >= size || !fg_refname_is_valid(out))
		return fg_err_set(err, FG_EINVALID, "bad pool name '%s'",
		    pool);
	return 0;
}

/*
 * Read pool's state at its tip into s (empty when the ref does not
 * exist).  *has_tip says whether it does.
 */
static int
read_state(struct pstate *s, git_oid *tip, bool *has_tip,
    struct fg_store *st, const char *pool, struct fg_err *err)
{
	struct fg_buf b = FG_BUF_INIT;
	cJSON *json = NULL;
	char ref[512];
	int rc;

	memset(s, 0, sizeof(*s));
	*has_tip = false;
	rc = pool_ref(ref, sizeof(ref), pool, err);
	if (rc < 0)
		return rc;
	rc = fg_store_tip(tip, st, ref, err);
	if (rc == FG_ENOTFOUND) {
		memset(tip, 0, sizeof(*tip));
		return 0;
	}
	if (rc < 0)
		return rc;
	*has_tip = true;
	rc = fg_store_read_file_at(&b, st, tip, FG_LEASE_FILE, err);
	if (rc < 0)
		goto out;
	rc = fg_json_parse(&json, b.ptr, b.len, err);
	if (rc < 0)
		goto out;
	rc = pstate_from_json(s, json, pool, err);
out:
	if (rc < 0)
		pstate_release(s);
	cJSON_Delete(json);
	fg_buf_release(&b);
	return rc;
}

/* Write s as a commit on top of parent (or none). */
static int
write_commit(git_oid *out, struct fg_store *st, const char *pool,
    const struct pstate *s, const struct change *c, const git_oid *parent,
    int64_t now, struct fg_err *err)
{
	git_repository *repo = fg_store_repo(st);
	struct fg_trailer tr[2];
	struct fg_record rec;
	struct fg_buf msg = FG_BUF_INIT;
	git_signature *author = NULL, *committer = NULL;
	git_treebuilder *tb = NULL;
	git_commit *pc = NULL;
	git_oid blob, tree;
	const git_commit *parents[1];
	git_tree *t = NULL;
	cJSON *json = NULL;
	char *text = NULL, *name = NULL, *email = NULL;
	int rc;

	json = pstate_to_json(s, pool);
	if (json == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	rc = validate(json, err);
	if (rc < 0)
		goto out;
	text = cJSON_Print(json);
	if (text == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	memset(&rec, 0, sizeof(rec));
	tr[0].key = "Flowgate-Pool";
	tr[0].value = pool;
	tr[1].key = "Flowgate-Holder";
	tr[1].value = c->holder;
	rec.kind = c->kind;
	rec.subject = c->subject;
	rec.env = c->env[0] != '\0' ? c->env : NULL;
	rec.actor_name = c->actor;
	rec.time = now;
	rec.trailers = tr;
	rec.ntrailers = c->holder[0] != '\0' ? 2 : 1;
	rec.no_record_json = true;
	rc = fg_record_check(&rec, err);
	if (rc < 0)
		goto out;
	rc = fg_record_message(&msg, &rec, err);
	if (rc < 0)
		goto out;
	rc = fg_record_author(&name, &email, &rec, err);
	if (rc < 0)
		goto out;
	if (git_signature_new(&author, name, email, (git_time_t)now, 0) < 0 ||
	    git_signature_new(&committer, FG_RECORD_COMMITTER,
	    FG_RECORD_COMMITTER_EMAIL, (git_time_t)now, 0) < 0) {
		rc = fg_err_git(err, FG_EINVALID, "bad actor '%s'", name);
		goto out;
	}
	if (git_blob_create_from_buffer(&blob, repo, text, strlen(text)) < 0 ||
	    git_treebuilder_new(&tb, repo, NULL) < 0 ||
	    git_treebuilder_insert(NULL, tb, FG_LEASE_FILE, &blob,
	    GIT_FILEMODE_BLOB) < 0 ||
	    git_treebuilder_write(&tree, tb) < 0 ||
	    git_tree_lookup(&t, repo, &tree) < 0)
		goto gitfail;
	if (parent != NULL && git_commit_lookup(&pc, repo, parent) < 0)
		goto gitfail;
	parents[0] = pc;
	if (git_commit_create(out, repo, NULL, author, committer, NULL,
	    msg.ptr, t, pc != NULL ? 1 : 0, parents) < 0)
		goto gitfail;
	rc = 0;
	goto out;
gitfail:
	rc = fg_err_git(err, FG_EIO, "cannot write the state of pool '%s'",
	    pool);
out:
	git_commit_free(pc);
	git_tree_free(t);
	git_treebuilder_free(tb);
	git_signature_free(author);
	git_signature_free(committer);
	free(name);
	free(email);
	cJSON_free(text);
	cJSON_Delete(json);
	fg_buf_release(&msg);
	return rc;
}

/* Sleep a few milliseconds, more as attempts grow, before a retry. */
static void
backoff(unsigned attempt)
{
	struct timespec ts;
	unsigned seed = (unsigned)getpid() ^ (unsigned)clock() ^ attempt;
	long ms = 1 + (long)(rand_r(&seed) % (int)(2u << (attempt < 6 ?
	    attempt : 6)));

	ts.tv_sec = 0;
	ts.tv_nsec = ms * 1000000L;
	nanosleep(&ts, NULL);
}

/*
 * Apply op to pool's state and commit the result, retrying on a lost
 * compare-and-swap.  *record gets the commit written, or the tip when the
 * operation changed nothing.
 */
static int
transact(git_oid *record, struct fg_store *st, const struct fg_pool *pool,
    op_fn op, void *arg, const char *actor, int64_t now, struct fg_err *err)
{
	struct pstate s;
	struct change c;
	git_oid tip, id;
	bool has_tip;
	char ref[512];
	int64_t deadline = fg_now() + FG_STORE_RETRY_SECS;
	unsigned attempt;
	int rc;

	rc = pool_ref(ref, sizeof(ref), pool->name, err);
	if (rc < 0)
		return rc;
	for (attempt = 0;; attempt++) {
		rc = read_state(&s, &tip, &has_tip, st, pool->name, err);
		if (rc < 0)
			return rc;
		memset(&c, 0, sizeof(c));
		c.actor = actor != NULL && actor[0] != '\0' ? actor :
		    "flowgate";
		rc = op(&s, pool, &c, arg, now, err);
		if (rc < 0 || !c.changed) {
			if (record != NULL)
				git_oid_cpy(record, &tip);
			pstate_release(&s);
			return rc;
		}
		rc = write_commit(&id, st, pool->name, &s, &c,
		    has_tip ? &tip : NULL, now, err);
		pstate_release(&s);
		if (rc < 0)
			return rc;
		rc = fg_store_ref_cas(st, ref, has_tip ? &tip : NULL, &id,
		    err);
		if (rc == 0) {
			if (record != NULL)
				git_oid_cpy(record, &id);
			return 0;
		}
		if (rc != FG_ECONFLICT)
			return rc;
		if (fg_now() > deadline)
			return fg_err_set(err, FG_ECONFLICT, "gave up after "
			    "%d s of concurrent changes to pool '%s'",
			    FG_STORE_RETRY_SECS, pool->name);
		backoff(attempt);
	}
}

static int
find_pool(const struct fg_pool **out, const struct fg_config *cfg,
    const char *pool, struct fg_err *err)
{
	*out = pool != NULL ? fg_pipeline_pool(cfg, pool) : NULL;
	if (*out == NULL)
		return fg_err_set(err, FG_ENOTFOUND, "no pool '%s' in the "
		    "config", pool != NULL ? pool : "");
	return 0;
}

static int
check_holder(const char *holder, struct fg_err *err)
{
	if (!fg_lease_holder_is_valid(holder))
		return fg_err_set(err, FG_EINVALID, "bad holder '%.200s': use "
		    "1 to %d letters, digits, '.', '_', '/', ':', '@' or '-', "
		    "such as 'pull/42'", holder != NULL ? holder : "",
		    FG_LEASE_HOLDER_MAX);
	return 0;
}

/* The pool named pool, for a valid holder: what every per-holder call needs. */
static int
find_pool_holder(const struct fg_pool **p, const struct fg_config *cfg,
    const char *pool, const char *holder, struct fg_err *err)
{
	int rc = find_pool(p, cfg, pool, err);

	return rc < 0 ? rc : check_holder(holder, err);
}

/* Acquire. */
struct acquire_arg {
	const char *holder;
	struct fg_lease_result *out;
};

static int
op_acquire(struct pstate *s, const struct fg_pool *pool, struct change *c,
    void *arg, int64_t now, struct fg_err *err)
{
	struct acquire_arg *a = arg;
	struct fg_lease_result *r = a->out;
	struct fg_lease *l;
	struct fg_lease_waiter *w;
	const char *env;
	long pos;
	int rc;

	memset(r, 0, sizeof(*r));
	l = find_lease(s, a->holder);
	if (l != NULL) {
		r->outcome = FG_LEASE_HELD;
		copy(r->env, sizeof(r->env), l->env);
		r->expires = l->expires;
		return 0;
	}
	pos = find_waiter(s, a->holder);
	env = first_free(s, pool);
	if (env == NULL && pos >= 0) {
		r->outcome = FG_LEASE_QUEUED;
		r->position = (size_t)pos + 1;
		return 0;
	}
	copy(c->holder, sizeof(c->holder), a->holder);
	if (env == NULL) {
		if (s->nq >= FG_LEASE_QUEUE_MAX)
			return fg_err_set(err, FG_ELIMIT, "pool '%s' has %d "
			    "waiting already", pool->name, FG_LEASE_QUEUE_MAX);
		rc = pstate_add_waiter(s, &w);
		if (rc < 0)
			return fg_err_set(err, FG_ENOMEM, "out of memory");
		copy(w->holder, sizeof(w->holder), a->holder);
		copy(w->actor, sizeof(w->actor), c->actor);
		w->since = now;
		r->outcome = FG_LEASE_QUEUED;
		r->position = s->nq;
		c->changed = true;
		c->kind = "pool.queue";
		snprintf(c->subject, sizeof(c->subject), "pool %s: %s waits, "
		    "number %zu in line", pool->name, a->holder, s->nq);
		return 0;
	}
	/* A waiter that asks again while one is free takes it. */
	if (pos >= 0) {
		memmove(&s->queue[pos], &s->queue[pos + 1],
		    (s->nq - (size_t)pos - 1) * sizeof(*s->queue));
		s->nq--;
	}
	rc = pstate_add_lease(s, &l);
	if (rc < 0)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	copy(l->env, sizeof(l->env), env);
	copy(l->holder, sizeof(l->holder), a->holder);
	copy(l->actor, sizeof(l->actor), c->actor);
	l->since = now;
	l->expires = now + lease_secs(pool);
	r->outcome = FG_LEASE_LEASED;
	copy(r->env, sizeof(r->env), env);
	r->expires = l->expires;
	c->changed = true;
	c->kind = "pool.lease";
	copy(c->env, sizeof(c->env), env);
	snprintf(c->subject, sizeof(c->subject), "pool %s: %s leased to %s",
	    pool->name, env, a->holder);
	return 0;
}

int
fg_lease_acquire(struct fg_lease_result *out, struct fg_store *st,
    const struct fg_config *cfg, const char *pool, const char *holder,
    const char *actor, int64_t now, struct fg_err *err)
{
	const struct fg_pool *p;
	struct fg_lease_result r;
	struct acquire_arg a;
	int rc;

	rc = find_pool_holder(&p, cfg, pool, holder, err);
	if (rc < 0)
		return rc;
	if (now == 0)
		now = fg_now();
	a.holder = holder;
	a.out = &r;
	rc = transact(&r.record, st, p, op_acquire, &a, actor, now, err);
	if (rc == 0 && out != NULL)
		*out = r;
	return rc;
}

/* Release (also expiry: holder NULL means the first expired lease). */
struct release_arg {
	const char *holder;
	bool expire;
	struct fg_lease_release *out;
};

static int
op_release(struct pstate *s, const struct fg_pool *pool, struct change *c,
    void *arg, int64_t now, struct fg_err *err)
{
	struct release_arg *a = arg;
	struct fg_lease_release *r = a->out;
	struct fg_lease *l = NULL, *nl;
	struct fg_lease_waiter head;
	size_t i;
	long pos;
	int rc;

	memset(r, 0, sizeof(*r));
	copy(r->pool, sizeof(r->pool), pool->name);
	if (a->expire) {
		for (i = 0; i < s->n && l == NULL; i++)
			if (s->leases[i].expires <= now)
				l = &s->leases[i];
		if (l == NULL)
			return 0;
	} else {
		l = find_lease(s, a->holder);
	}
	if (l == NULL) {
		pos = find_waiter(s, a->holder);
		if (pos < 0)
			return fg_err_set(err, FG_ENOTFOUND, "'%s' holds no "
			    "environment of pool '%s' and is not waiting for "
			    "one", a->holder, pool->name);
		memmove(&s->queue[pos], &s->queue[pos + 1],
		    (s->nq - (size_t)pos - 1) * sizeof(*s->queue));
		s->nq--;
		copy(r->holder, sizeof(r->holder), a->holder);
		copy(c->holder, sizeof(c->holder), a->holder);
		c->changed = true;
		c->kind = "pool.release";
		snprintf(c->subject, sizeof(c->subject), "pool %s: %s stops "
		    "waiting", pool->name, a->holder);
		return 0;
	}
	copy(r->env, sizeof(r->env), l->env);
	copy(r->holder, sizeof(r->holder), l->holder);
	copy(c->env, sizeof(c->env), l->env);
	copy(c->holder, sizeof(c->holder), l->holder);
	r->reset = pool->reset.n > 0;
	*l = s->leases[--s->n];
	c->changed = true;
	c->kind = a->expire ? "pool.expire" : "pool.release";
	if (s->nq > 0 && pool_has_env(pool, r->env)) {
		head = s->queue[0];
		memmove(&s->queue[0], &s->queue[1],
		    (s->nq - 1) * sizeof(*s->queue));
		s->nq--;
		rc = pstate_add_lease(s, &nl);
		if (rc < 0)
			return fg_err_set(err, FG_ENOMEM, "out of memory");
		copy(nl->env, sizeof(nl->env), r->env);
		copy(nl->holder, sizeof(nl->holder), head.holder);
		copy(nl->actor, sizeof(nl->actor), head.actor);
		nl->since = now;
		nl->expires = now + lease_secs(pool);
		copy(r->next_holder, sizeof(r->next_holder), head.holder);
		copy(r->next_actor, sizeof(r->next_actor), head.actor);
		r->next_expires = nl->expires;
		snprintf(c->subject, sizeof(c->subject), "pool %s: %s %s by "
		    "%s, leased to %s", pool->name, r->env, a->expire ?
		    "expired" : "released", r->holder, head.holder);
	} else {
		snprintf(c->subject, sizeof(c->subject), "pool %s: %s %s by "
		    "%s", pool->name, r->env, a->expire ? "expired" :
		    "released", r->holder);
	}
	return 0;
}

int
fg_lease_release(struct fg_lease_release *out, struct fg_store *st,
    const struct fg_config *cfg, const char *pool, const char *holder,
    const char *actor, int64_t now, struct fg_err *err)
{
	const struct fg_pool *p;
	struct fg_lease_release r;
	struct release_arg a;
	int rc;

	rc = find_pool_holder(&p, cfg, pool, holder, err);
	if (rc < 0)
		return rc;
	if (now == 0)
		now = fg_now();
	a.holder = holder;
	a.expire = false;
	a.out = &r;
	rc = transact(&r.record, st, p, op_release, &a, actor, now, err);
	if (rc == 0 && out != NULL)
		*out = r;
	return rc;
}

/* Renew. */
struct renew_arg {
	const char *holder;
	struct fg_lease *out;
};

static int
op_renew(struct pstate *s, const struct fg_pool *pool, struct change *c,
    void *arg, int64_t now, struct fg_err *err)
{
	struct renew_arg *a = arg;
	struct fg_lease *l = find_lease(s, a->holder);
	char t[32];

	if (l == NULL)
		return fg_err_set(err, FG_ENOTFOUND, "'%s' holds no "
		    "environment of pool '%s'", a->holder, pool->name);
	l->expires = now + lease_secs(pool);
	*a->out = *l;
	c->changed = true;
	c->kind = "pool.renew";
	copy(c->env, sizeof(c->env), l->env);
	copy(c->holder, sizeof(c->holder), l->holder);
	fg_format_utc(t, sizeof(t), l->expires);
	snprintf(c->subject, sizeof(c->subject), "pool %s: %s renewed for %s "
	    "until %s", pool->name, l->env, l->holder, t);
	return 0;
}

int
fg_lease_renew(struct fg_lease *out, struct fg_store *st,
    const struct fg_config *cfg, const char *pool, const char *holder,
    const char *actor, int64_t now, struct fg_err *err)
{
	const struct fg_pool *p;
	struct fg_lease l;
	struct renew_arg a;
	int rc;

	rc = find_pool_holder(&p, cfg, pool, holder, err);
	if (rc < 0)
		return rc;
	if (now == 0)
		now = fg_now();
	a.holder = holder;
	a.out = &l;
	rc = transact(NULL, st, p, op_renew, &a, actor, now, err);
	if (rc == 0 && out != NULL)
		*out = l;
	return rc;
}

int
fg_lease_lookup(struct fg_lease_result *out, struct fg_store *st,
    const struct fg_config *cfg, const char *pool, const char *holder,
    struct fg_err *err)
{
	const struct fg_pool *p;
	struct fg_lease_result r;
	struct fg_lease *l;
	struct pstate s;
	bool has_tip;
	long pos;
	int rc;

	rc = find_pool_holder(&p, cfg, pool, holder, err);
	if (rc < 0)
		return rc;
	memset(&r, 0, sizeof(r));
	rc = read_state(&s, &r.record, &has_tip, st, pool, err);
	if (rc < 0)
		return rc;
	l = find_lease(&s, holder);
	pos = find_waiter(&s, holder);
	if (l != NULL) {
		r.outcome = FG_LEASE_HELD;
		copy(r.env, sizeof(r.env), l->env);
		r.expires = l->expires;
	} else if (pos >= 0) {
		r.outcome = FG_LEASE_QUEUED;
		r.position = (size_t)pos + 1;
	} else {
		rc = fg_err_set(err, FG_ENOTFOUND, "'%s' holds no environment "
		    "of pool '%s' and is not waiting for one", holder, pool);
	}
	pstate_release(&s);
	if (rc == 0 && out != NULL)
		*out = r;
	return rc;
}

/* An expiry on refs/flowgate/activity (kind "pool.expire"). */
static int
record_expiry(struct fg_store *st, const struct fg_lease_release *r,
    int64_t now, struct fg_err *err)
{
	struct fg_trailer tr[2];
	struct fg_record rec;
	char subject[4 * FG_LEASE_NAME_MAX + 4 * FG_LEASE_HOLDER_MAX];
	git_oid act;

	if (r->next_holder[0] != '\0')
		snprintf(subject, sizeof(subject), "pool %s: the lease of %s "
		    "by %s expired; %s leased to %s", r->pool, r->env,
		    r->holder, r->env, r->next_holder);
	else
		snprintf(subject, sizeof(subject), "pool %s: the lease of %s "
		    "by %s expired; %s is free", r->pool, r->env, r->holder,
		    r->env);
	memset(&rec, 0, sizeof(rec));
	tr[0].key = "Flowgate-Pool";
	tr[0].value = r->pool;
	tr[1].key = "Flowgate-Holder";
	tr[1].value = r->holder;
	rec.kind = "pool.expire";
	rec.subject = subject;
	rec.env = r->env;
	rec.actor_name = "flowgate";
	rec.time = now;
	rec.trailers = tr;
	rec.ntrailers = 2;
	return fg_store_append(&act, st, ACTIVITY_REF, &rec, err);
}

int
fg_lease_expire(struct fg_lease_release **out, size_t *n,
    struct fg_store *st, const struct fg_config *cfg, int64_t now,
    struct fg_err *err)
{
	struct fg_lease_release *v = NULL, *nv, r;
	struct release_arg a;
	size_t i, count = 0, alloc = 0;
	int rc = 0;

	if (now == 0)
		now = fg_now();
	for (i = 0; i < cfg->npools && rc == 0; i++) {
		for (;;) {
			memset(&r, 0, sizeof(r));
			a.holder = NULL;
			a.expire = true;
			a.out = &r;
			rc = transact(&r.record, st, &cfg->pools[i],
			    op_release, &a, "flowgate", now, err);
			if (rc < 0 || r.holder[0] == '\0')
				break;
			/* The pool's log has the change; the activity log,
			 * which people read, says it too. */
			rc = record_expiry(st, &r, now, err);
			if (rc < 0)
				break;
			if (count == alloc) {
				alloc = alloc ? alloc * 2 : 4;
				nv = realloc(v, alloc * sizeof(*v));
				if (nv == NULL) {
					rc = fg_err_set(err, FG_ENOMEM,
					    "out of memory");
					break;
				}
				v = nv;
			}
			v[count++] = r;
		}
	}
	*out = v;
	*n = count;
	return rc;
}

int
fg_lease_reset(bool *ok, struct fg_store *st, const struct fg_config *cfg,
    const char *pool, const char *env, const char *holder, const char *actor,
    struct fg_err *err)
{
	const struct fg_pool *p;
	struct fg_proc_opts po = FG_PROC_OPTS_INIT;
	struct fg_proc_result res;
	struct fg_err perr = FG_ERR_INIT;
	struct fg_buf eb[4], subject = FG_BUF_INIT;
	struct fg_trailer tr[2];
	struct fg_record rec;
	struct fg_file file;
	const char *envp[5];
	git_oid act;
	char reason[512] = "", *dir = NULL;
	unsigned timeout;
	size_t i;
	int rc;

	*ok = false;
	memset(&res, 0, sizeof(res));
	fg_buf_init(&res.output);
	for (i = 0; i < FG_ARRAY_SIZE(eb); i++)
		fg_buf_init(&eb[i]);
	rc = find_pool(&p, cfg, pool, err);
	if (rc < 0)
		goto out;
	if (p->reset.n == 0) {
		*ok = true;
		goto out;
	}
	if (actor == NULL || actor[0] == '\0')
		actor = "flowgate";
	if (holder == NULL)
		holder = "";
	if (fg_buf_printf(&eb[0], "FLOWGATE_POOL=%s", pool) < 0 ||
	    fg_buf_printf(&eb[1], "FLOWGATE_ENV=%s", env) < 0 ||
	    fg_buf_printf(&eb[2], "FLOWGATE_HOLDER=%s", holder) < 0 ||
	    fg_buf_printf(&eb[3], "FLOWGATE_ACTOR=%s", actor) < 0) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < FG_ARRAY_SIZE(eb); i++)
		envp[i] = eb[i].ptr;
	envp[i] = NULL;
	timeout = p->deploy.timeout > 0 ? (unsigned)p->deploy.timeout :
	    FG_DEPLOY_TIMEOUT;
	rc = fg_proc_mkdtemp(&dir, "reset", err);
	if (rc < 0)
		goto out;
	po.argv = (const char *const *)p->reset.v;
	po.dir = dir;
	po.env = envp;
	po.timeout_ms = timeout * 1000;
	rc = fg_proc_run(&res, &po, &perr);
	if (rc == FG_ENOMEM) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	if (rc < 0)
		snprintf(reason, sizeof(reason), "cannot run '%.100s': %.300s",
		    p->reset.v[0], perr.msg);
	else if (res.timed_out)
		snprintf(reason, sizeof(reason), "killed after %us", timeout);
	else if (res.exited && res.status == 0)
		*ok = true;
	else if (res.exited)
		snprintf(reason, sizeof(reason), "exit %d", res.status);
	else
		snprintf(reason, sizeof(reason), "killed by signal %d",
		    res.signal);
	rc = fg_buf_printf(&subject, "pool %s: reset %s after %s %s%s%s",
	    pool, env, holder[0] != '\0' ? holder : "release",
	    *ok ? "succeeded" : "failed", *ok ? "" : ": ", reason);
	if (rc < 0) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	memset(&rec, 0, sizeof(rec));
	tr[0].key = "Flowgate-Pool";
	tr[0].value = pool;
	tr[1].key = "Flowgate-Holder";
	tr[1].value = holder;
	file.name = "log";
	file.data = res.output.ptr;
	file.len = res.output.len;
	rec.kind = "pool.reset";
	rec.subject = subject.ptr;
	rec.env = env;
	rec.status = *ok ? "succeeded" : "failed";
	rec.actor_name = actor;
	rec.trailers = tr;
	rec.ntrailers = holder[0] != '\0' ? 2 : 1;
	rec.files = &file;
	rec.nfiles = 1;
	rc = fg_store_append(&act, st, ACTIVITY_REF, &rec, err);
	if (rc == 0 && !*ok)
		fg_err_set(err, FG_EIO, "%s", reason);
out:
	if (dir != NULL && fg_proc_rmtree(dir, &perr) < 0)
		fg_log_warnx("pool reset pool=%s: cannot remove '%s': %s",
		    pool, dir, perr.msg);
	free(dir);
	for (i = 0; i < FG_ARRAY_SIZE(eb); i++)
		fg_buf_release(&eb[i]);
	fg_buf_release(&subject);
	fg_proc_result_release(&res);
	return rc;
}

void
fg_pool_state_release(struct fg_pool_state *s)
{
	size_t i;

	if (s == NULL)
		return;
	free(s->leases);
	free(s->queue);
	for (i = 0; i < s->nfree; i++)
		free(s->free_envs[i]);
	free(s->free_envs);
	memset(s, 0, sizeof(*s));
}

int
fg_lease_state(struct fg_pool_state *out, struct fg_store *st,
    const struct fg_config *cfg, const char *pool, struct fg_err *err)
{
	const struct fg_pool *p;
	struct pstate s;
	size_t i, j;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = find_pool(&p, cfg, pool, err);
	if (rc < 0)
		return rc;
	rc = read_state(&s, &out->tip, &out->has_tip, st, pool, err);
	if (rc < 0)
		return rc;
	copy(out->pool, sizeof(out->pool), pool);
	out->free_envs = calloc(p->envs.n + 1, sizeof(char *));
	out->leases = calloc(s.n + 1, sizeof(*out->leases));
	if (out->free_envs == NULL || out->leases == NULL)
		goto oom;
	/* Leases in config order, then those of environments it lost. */
	for (i = 0; i < p->envs.n; i++) {
		struct fg_lease *l = find_env(&s, p->envs.v[i]);

		if (l != NULL) {
			out->leases[out->nleases++] = *l;
			continue;
		}
		out->free_envs[out->nfree] = fg_strdup(p->envs.v[i]);
		if (out->free_envs[out->nfree] == NULL)
			goto oom;
		out->nfree++;
	}
	for (j = 0; j < s.n; j++)
		if (!pool_has_env(p, s.leases[j].env))
			out->leases[out->nleases++] = s.leases[j];
	out->queue = s.queue;
	out->nqueue = s.nq;
	s.queue = NULL;
	pstate_release(&s);
	return 0;
oom:
	pstate_release(&s);
	fg_pool_state_release(out);
	return fg_err_set(err, FG_ENOMEM, "out of memory");
}

static cJSON *
state_json(const struct fg_pool_state *s, const struct fg_pool *p)
{
	cJSON *o = cJSON_CreateObject(), *a, *e;
	size_t i;

	if (o == NULL || cJSON_AddStringToObject(o, "pool", s->pool) == NULL)
		goto fail;
	a = cJSON_AddArrayToObject(o, "environments");
	if (a == NULL)
		goto fail;
	for (i = 0; i < p->envs.n; i++) {
		e = cJSON_CreateString(p->envs.v[i]);
		if (e == NULL)
			goto fail;
		cJSON_AddItemToArray(a, e);
	}
	if (cJSON_AddNumberToObject(o, "lease_minutes", p->lease_minutes >
	    0 ? p->lease_minutes : FG_LEASE_MINUTES_DEFAULT) == NULL ||
	    cJSON_AddBoolToObject(o, "reset", p->reset.n > 0) == NULL)
		goto fail;
	a = cJSON_AddArrayToObject(o, "leases");
	if (a == NULL)
		goto fail;
	for (i = 0; i < s->nleases; i++) {
		e = lease_json(&s->leases[i]);
		if (e == NULL)
			goto fail;
		cJSON_AddItemToArray(a, e);
	}
	a = cJSON_AddArrayToObject(o, "queue");
	if (a == NULL)
		goto fail;
	for (i = 0; i < s->nqueue; i++) {
		e = waiter_json(&s->queue[i]);
		if (e == NULL)
			goto fail;
		cJSON_AddItemToArray(a, e);
	}
	a = cJSON_AddArrayToObject(o, "free");
	if (a == NULL)
		goto fail;
	for (i = 0; i < s->nfree; i++) {
		e = cJSON_CreateString(s->free_envs[i]);
		if (e == NULL)
			goto fail;
		cJSON_AddItemToArray(a, e);
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

int
fg_lease_state_json(cJSON **out, struct fg_store *st,
    const struct fg_config *cfg, const char *pool, struct fg_err *err)
{
	struct fg_pool_state s;
	const struct fg_pool *p;
	int rc;

	*out = NULL;
	rc = find_pool(&p, cfg, pool, err);
	if (rc < 0)
		return rc;
	rc = fg_lease_state(&s, st, cfg, pool, err);
	if (rc < 0)
		return rc;
	*out = state_json(&s, p);
	fg_pool_state_release(&s);
	if (*out == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	return 0;
}

int
fg_lease_list_json(cJSON **out, struct fg_store *st,
    const struct fg_config *cfg, struct fg_err *err)
{
	cJSON *a, *o = NULL;
	size_t i;
	int rc;

	*out = NULL;
	a = cJSON_CreateArray();
	if (a == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	for (i = 0; i < cfg->npools; i++) {
		rc = fg_lease_state_json(&o, st, cfg, cfg->pools[i].name, err);
		if (rc == FG_EINVALID) {
			/* One broken pool does not hide the others. */
			o = cJSON_CreateObject();
			if (o == NULL || cJSON_AddStringToObject(o, "pool",
			    cfg->pools[i].name) == NULL ||
			    cJSON_AddStringToObject(o, "error",
			    fg_err_msg(err)) == NULL)
				rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			else
				rc = 0;
		}
		if (rc < 0) {
			cJSON_Delete(o);
			cJSON_Delete(a);
			return rc;
		}
		cJSON_AddItemToArray(a, o);
	}
	*out = a;
	return 0;
}

static const char *
outcome_name(enum fg_lease_outcome o)
{
	switch (o) {
	case FG_LEASE_LEASED:
		return "leased";
	case FG_LEASE_HELD:
		return "held";
	case FG_LEASE_QUEUED:
		return "queued";
	}
	return "unknown";
}

cJSON *
fg_lease_result_json(const struct fg_lease_result *r, const char *pool,
    const char *holder)
{
	cJSON *o = cJSON_CreateObject();
	char hex[GIT_OID_HEXSZ + 1];
	bool ok;

	git_oid_tostr(hex, sizeof(hex), &r->record);
	ok = o != NULL &&
	    cJSON_AddStringToObject(o, "pool", pool) != NULL &&
	    cJSON_AddStringToObject(o, "holder", holder) != NULL &&
	    cJSON_AddStringToObject(o, "outcome", outcome_name(r->outcome)) !=
	    NULL;
	if (ok && r->outcome == FG_LEASE_QUEUED)
		ok = cJSON_AddNumberToObject(o, "position",
		    (double)r->position) != NULL;
	else if (ok)
		ok = cJSON_AddStringToObject(o, "env", r->env) != NULL &&
		    add_time(o, "expires", r->expires);
	if (ok)
		ok = cJSON_AddStringToObject(o, "record", hex) != NULL;
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

cJSON *
fg_lease_release_json(const struct fg_lease_release *r)
{
	cJSON *o = cJSON_CreateObject(), *n;
	char hex[GIT_OID_HEXSZ + 1];
	bool ok;

	git_oid_tostr(hex, sizeof(hex), &r->record);
	ok = o != NULL &&
	    cJSON_AddStringToObject(o, "pool", r->pool) != NULL &&
	    cJSON_AddStringToObject(o, "holder", r->holder) != NULL &&
	    (r->env[0] != '\0' ?
	    cJSON_AddStringToObject(o, "env", r->env) :
	    cJSON_AddNullToObject(o, "env")) != NULL &&
	    cJSON_AddBoolToObject(o, "reset", r->reset) != NULL;
	if (ok && r->next_holder[0] != '\0') {
		n = cJSON_AddObjectToObject(o, "next");
		ok = n != NULL &&
		    cJSON_AddStringToObject(n, "holder", r->next_holder) !=
		    NULL &&
		    cJSON_AddStringToObject(n, "actor", r->next_actor) !=
		    NULL && add_time(n, "expires", r->next_expires);
	} else if (ok) {
		ok = cJSON_AddNullToObject(o, "next") != NULL;
	}
	if (ok)
		ok = cJSON_AddStringToObject(o, "record", hex) != NULL;
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}
