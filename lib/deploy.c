/*
 * deploy.c - deployments and the history of environments (deploy.h).
 *
 * An attempt is two commits on refs/flowgate/envs/<env>: "started" before
 * anything runs and its end ("succeeded", "failed", or "interrupted" when
 * a later process found it abandoned).  Each holds deployment.json
 * (schemas/deployment.schema.json) and, once ended, log.  Every record is
 * mirrored in refs/flowgate/activity, and the end sets deployments.<env>
 * in the note on the deployed commit.
 *
 * The per-environment lock is a flock() on
 * $GIT_DIR/flowgate/locks/env-<env>.lock: the kernel drops it when its
 * holder dies however it dies, so a lock is never stale, and a "started"
 * tip whose lock can be taken is certainly abandoned.
 *
 * fg_deploy_reset() writes a "reset" record on every environment's ref:
 * afterwards the environment has no current deployment (deploy.h
 * readers return FG_ENOTFOUND) while the ref's history stays.
 */
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <git2.h>
#include <openssl/crypto.h>

#include "deploy.h"
#include "deploy_int.h"
#include "log.h"
#include "pipeline.h"
#include "proc.h"
#include "util.h"
#include "banned.h"

#define ACTIVITY_REF		"refs/flowgate/activity"
#define LOCK_POLL_MS		100
#define JSON_TAIL_MAX		2048	/* log tail inside deployment.json */
#define SECRET_FILE_MAX		(64 * 1024)
#define STATUS_RESET		"reset"

/*
 * An attempt in memory: what deployment.json holds.  status_name is the
 * name written, so that "reset" records fit too.
 */
struct attempt {
	struct fg_deployment d;
	char sha[GIT_OID_HEXSZ + 1];
	char short_id[8];
	char ref[1024];
	char kind[16];
	char reason[FG_ERR_MSG_MAX];
	int64_t finished;
	bool is_reset;
	const cJSON *note_extra;	/* more keys for the end's note */
	const struct fg_record *before;	/* activity records to batch ahead
					   of "started" */
	size_t nbefore;
};

/* The configured secrets' values, looked up for one deployment. */
struct secrets {
	size_t n;
	const char **names;		/* borrowed from the config */
	char **values;			/* ours; NULL: not available */
	const char **masks;		/* NULL-terminated, for fg_proc_run */
	char **why;			/* why a value is missing */
};

static const char *const status_names[] = {
	"started", "succeeded", "failed", "interrupted",
};

const char *
fg_deploy_status_name(enum fg_deploy_status s)
{
	if ((size_t)s < FG_ARRAY_SIZE(status_names))
		return status_names[s];
	return "unknown";
}

static int
status_parse(enum fg_deploy_status *out, const char *s)
{
	size_t i;

	for (i = 0; i < FG_ARRAY_SIZE(status_names); i++) {
		if (strcmp(s, status_names[i]) == 0) {
			*out = (enum fg_deploy_status)i;
			return 0;
		}
	}
	return -1;
}

void
fg_deployment_release(struct fg_deployment *d)
{
	if (d == NULL)
		return;
	fg_buf_release(&d->log);
}

static void
deployment_init(struct fg_deployment *d)
{
	memset(d, 0, sizeof(*d));
	fg_buf_init(&d->log);
}

static void
attempt_init(struct attempt *a)
{
	memset(a, 0, sizeof(*a));
	fg_buf_init(&a->d.log);
}

static void
attempt_release(struct attempt *a)
{
	fg_buf_release(&a->d.log);
}

static void
copy_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src != NULL ? src : "");
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Environment names become a ref and a file name: the config's own rule
 * for names (schemas/pipeline.schema.json), checked again here because
 * readers take names from the command line and the API.
 */
static int
env_ref(char *out, size_t size, const char *env, struct fg_err *err)
{
	size_t i, len = env != NULL ? strlen(env) : 0;

	if (len == 0 || len > 63 || !((env[0] >= 'a' && env[0] <= 'z') ||
	    (env[0] >= '0' && env[0] <= '9')))
		goto bad;
	for (i = 0; i < len; i++) {
		char c = env[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-'))
			goto bad;
	}
	snprintf(out, size, "%s%s", FG_DEPLOY_REF_PREFIX, env);
	if (!fg_refname_is_valid(out))
		goto bad;
	return 0;
bad:
	return fg_err_set(err, FG_EINVALID, "bad environment name '%.64s'",
	    env != NULL ? env : "");
}

static void
utc(char out[32], int64_t t)
{
	fg_format_utc(out, 32, t);
}

/* deployment.json of a; the log tail only when with_tail. */
static cJSON *
attempt_json(const struct attempt *a, const char *status, bool with_tail)
{
	cJSON *o = cJSON_CreateObject();
	char t[32];
	size_t off;

	if (o == NULL)
		return NULL;
	cJSON_AddNumberToObject(o, "version", 1);
	cJSON_AddStringToObject(o, "env", a->d.env);
	cJSON_AddStringToObject(o, "status", status);
	if (a->is_reset) {
		utc(t, a->finished);
		cJSON_AddStringToObject(o, "time", t);
		cJSON_AddStringToObject(o, "actor", a->d.actor);
		return o;
	}
	cJSON_AddStringToObject(o, "commit", a->sha);
	cJSON_AddStringToObject(o, "stage", a->d.stage);
	cJSON_AddStringToObject(o, "ref", a->ref);
	cJSON_AddStringToObject(o, "actor", a->d.actor);
	cJSON_AddStringToObject(o, "run", a->d.run);
	cJSON_AddStringToObject(o, "kind", a->kind);
	utc(t, a->d.started);
	cJSON_AddStringToObject(o, "started", t);
	if (a->d.status != FG_DEPLOY_STARTED) {
		utc(t, a->finished);
		cJSON_AddStringToObject(o, "finished", t);
	}
	cJSON_AddNumberToObject(o, "duration_ms", (double)a->d.duration_ms);
	if (a->reason[0] != '\0')
		cJSON_AddStringToObject(o, "reason", a->reason);
	if (with_tail && a->d.status != FG_DEPLOY_STARTED) {
		off = a->d.log.len > JSON_TAIL_MAX ?
		    a->d.log.len - JSON_TAIL_MAX : 0;
		/* Do not start inside a UTF-8 sequence. */
		while (off < a->d.log.len &&
		    ((unsigned char)a->d.log.ptr[off] & 0xc0) == 0x80)
			off++;
		cJSON_AddStringToObject(o, "log_tail", a->d.log.ptr + off);
	}
	return o;
}

static const char *
jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Fill a from deployment.json text; FG_EINVALID when it is not one. */
static int
attempt_parse(struct attempt *a, const struct fg_buf *text,
    struct fg_err *err)
{
	const cJSON *dur;
	cJSON *o = NULL;
	const char *s;
	int64_t t;
	int rc;

	rc = fg_json_parse(&o, text->ptr, text->len, err);
	if (rc < 0)
		return rc;
	rc = FG_EINVALID;
	s = jstr(o, "status");
	if (s == NULL || jstr(o, "env") == NULL)
		goto out;
	copy_str(a->d.env, sizeof(a->d.env), jstr(o, "env"));
	copy_str(a->d.actor, sizeof(a->d.actor), jstr(o, "actor"));
	if (strcmp(s, STATUS_RESET) == 0) {
		a->is_reset = true;
		if (jstr(o, "time") != NULL &&
		    fg_parse_utc(&t, jstr(o, "time")) == 0)
			a->finished = t;
		rc = 0;
		goto out;
	}
	if (status_parse(&a->d.status, s) < 0 || jstr(o, "commit") == NULL ||
	    git_oid_fromstr(&a->d.commit, jstr(o, "commit")) < 0)
		goto out;
	git_oid_tostr(a->sha, sizeof(a->sha), &a->d.commit);
	git_oid_tostr(a->short_id, sizeof(a->short_id), &a->d.commit);
	copy_str(a->d.stage, sizeof(a->d.stage), jstr(o, "stage"));
	copy_str(a->d.run, sizeof(a->d.run), jstr(o, "run"));
	copy_str(a->ref, sizeof(a->ref), jstr(o, "ref"));
	copy_str(a->kind, sizeof(a->kind), jstr(o, "kind"));
	copy_str(a->reason, sizeof(a->reason), jstr(o, "reason"));
	if (jstr(o, "started") != NULL &&
	    fg_parse_utc(&t, jstr(o, "started")) == 0)
		a->d.started = t;
	if (jstr(o, "finished") != NULL &&
	    fg_parse_utc(&t, jstr(o, "finished")) == 0)
		a->finished = t;
	dur = cJSON_GetObjectItemCaseSensitive(o, "duration_ms");
	if (cJSON_IsNumber(dur) && dur->valuedouble >= 0)
		a->d.duration_ms = (int64_t)dur->valuedouble;
	rc = 0;
out:
	cJSON_Delete(o);
	if (rc < 0)
		fg_err_set(err, rc, "deployment.json of '%s' is malformed",
		    a->d.env[0] ? a->d.env : "?");
	return rc;
}

/*
 * Read the attempt at the tip of env's ref (or at commit id when not
 * NULL), with its log when with_log.  FG_ENOTFOUND when the ref does not
 * exist.
 */
static int
attempt_read(struct attempt *a, struct fg_store *st, const char *ref,
    const git_oid *id, bool with_log, struct fg_err *err)
{
	struct fg_buf text = FG_BUF_INIT;
	git_oid tip;
	int rc;

	if (id == NULL) {
		rc = fg_store_tip(&tip, st, ref, err);
		if (rc < 0)
			goto out;
		id = &tip;
	}
	a->d.record = *id;
	rc = fg_store_read_file_at(&text, st, id, "deployment.json", err);
	if (rc < 0)
		goto out;
	rc = attempt_parse(a, &text, err);
	if (rc < 0 || !with_log || a->is_reset ||
	    a->d.status == FG_DEPLOY_STARTED)
		goto out;
	rc = fg_store_read_file_at(&a->d.log, st, id, "log", NULL);
	if (rc == FG_ENOTFOUND)
		rc = 0;
	else if (rc < 0)
		rc = fg_err_set(err, rc, "cannot read the log of '%s'", ref);
out:
	fg_buf_release(&text);
	return rc;
}

static void
attempt_to_out(struct fg_deployment *out, struct attempt *a)
{
	if (out == NULL)
		return;
	fg_buf_release(&out->log);
	*out = a->d;
	fg_buf_init(&a->d.log);
}

/*
 * The note on the deployed commit: deployments.<env> is this attempt's
 * status, time and record.  Only this entry is named: the store merges it
 * into the note under its lock, so another environment's deployment of
 * the same commit, finishing at the same moment, keeps its entry.
 */
static int
note_attempt(struct fg_store *st, const struct attempt *a,
    const char *status, const git_oid *record, struct fg_err *err)
{
	cJSON *keys, *deps, *entry, *dup;
	const cJSON *extra;
	char t[32], hex[GIT_OID_HEXSZ + 1];
	int rc;

	utc(t, a->finished);
	git_oid_tostr(hex, sizeof(hex), record);
	keys = cJSON_CreateObject();
	deps = cJSON_AddObjectToObject(keys, "deployments");
	entry = cJSON_AddObjectToObject(deps, a->d.env);
	if (entry == NULL ||
	    cJSON_AddStringToObject(entry, "status", status) == NULL ||
	    cJSON_AddStringToObject(entry, "time", t) == NULL ||
	    cJSON_AddStringToObject(entry, "record", hex) == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	/* The caller's keys (never "deployments") ride along: one write. */
	cJSON_ArrayForEach(extra, a->note_extra) {
		if (extra->string == NULL ||
		    strcmp(extra->string, "deployments") == 0)
			continue;
		dup = cJSON_Duplicate(extra, 1);
		if (dup == NULL) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		cJSON_AddItemToObject(keys, extra->string, dup);
	}
	rc = fg_store_note_merge(st, &a->d.commit, keys, a->d.actor, NULL,
	    err);
out:
	cJSON_Delete(keys);
	return rc;
}

/*
 * The "started" record in the activity log, after the caller's records
 * (a->before), as one batch: one ref update for both.
 */
static int
append_with_before(struct fg_store *st, const struct attempt *a,
    const struct fg_record *rec, struct fg_err *err)
{
	struct fg_record *all;
	int rc;

	if (a->nbefore >= FG_STORE_BATCH_MAX)
		return fg_err_set(err, FG_ELIMIT, "too many records");
	all = calloc(a->nbefore + 1, sizeof(*all));
	if (all == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	memcpy(all, a->before, a->nbefore * sizeof(*all));
	all[a->nbefore] = *rec;
	rc = fg_store_append_batch(NULL, st, ACTIVITY_REF, all,
	    a->nbefore + 1, err);
	free(all);
	return rc;
}

/*
 * Record a's state (a->d.status, or a reset) on env's ref and in the
 * activity log, and, for an end, in the note.  *out is the env record.
 */
static int
attempt_append(git_oid *out, struct fg_store *st, struct attempt *a,
    struct fg_err *err)
{
	const char *status = a->is_reset ? STATUS_RESET :
	    fg_deploy_status_name(a->d.status);
	struct fg_buf subject = FG_BUF_INIT, body = FG_BUF_INIT;
	struct fg_record rec;
	struct fg_file files[2];
	cJSON *json = NULL, *data = NULL;
	char ref[300], *text = NULL;
	long long secs = (long long)(a->d.duration_ms / 1000);
	git_oid id;
	git_oid act;
	int rc;

	rc = env_ref(ref, sizeof(ref), a->d.env, err);
	if (rc < 0)
		return rc;
	rc = FG_ENOMEM;
	if (a->is_reset) {
		if (fg_buf_printf(&subject, "deploy %s: reset by %s",
		    a->d.env, a->d.actor) < 0 ||
		    fg_buf_puts(&body, "The pipeline was reset: this "
		    "environment has no current deployment.\n") < 0)
			goto oom;
	} else if (a->d.status == FG_DEPLOY_STARTED) {
		if (fg_buf_printf(&subject, "deploy %s: %s started by %s",
		    a->d.env, a->short_id, a->d.actor) < 0 ||
		    fg_buf_printf(&body, "Deploying %s to %s (%s) for %s.\n",
		    a->sha, a->d.env, a->kind,
		    a->ref[0] ? a->ref : "no ref") < 0)
			goto oom;
	} else {
		if (fg_buf_printf(&subject, "deploy %s: %s %s", a->d.env,
		    a->short_id, status) < 0)
			goto oom;
		if (a->d.status == FG_DEPLOY_INTERRUPTED) {
			if (fg_buf_printf(&subject, " (started by %s)",
			    a->d.actor) < 0)
				goto oom;
		} else if (fg_buf_printf(&subject, " in %llds", secs) < 0) {
			goto oom;
		}
		if (a->reason[0] != '\0' &&
		    fg_buf_printf(&subject, ": %s", a->reason) < 0)
			goto oom;
		if (fg_buf_printf(&body, "Deploying %s to %s (%s) for %s.\n",
		    a->sha, a->d.env, a->kind,
		    a->ref[0] ? a->ref : "no ref") < 0 ||
		    fg_buf_printf(&body, "Its output's tail: git show "
		    "%s:log\n", ref) < 0)
			goto oom;
	}
	json = attempt_json(a, status, true);
	text = json != NULL ? cJSON_Print(json) : NULL;
	if (text == NULL)
		goto oom;
	files[0].name = "deployment.json";
	files[0].data = text;
	files[0].len = strlen(text);
	files[1].name = "log";
	files[1].data = a->d.log.ptr;
	files[1].len = a->d.log.len;
	memset(&rec, 0, sizeof(rec));
	rec.kind = "deploy";
	rec.subject = subject.ptr;
	rec.body = body.ptr;
	rec.stage = a->d.stage;
	rec.env = a->d.env;
	rec.commit = a->is_reset ? NULL : a->sha;
	rec.status = status;
	rec.run = a->d.run;
	rec.actor_name = a->d.actor;
	rec.time = a->d.status == FG_DEPLOY_STARTED && !a->is_reset ?
	    a->d.started : a->finished;
	rec.files = files;
	rec.nfiles = a->is_reset || a->d.status == FG_DEPLOY_STARTED ? 1 : 2;
	rec.no_record_json = true;
	rc = fg_store_append(&id, st, ref, &rec, err);
	if (rc < 0)
		goto out;
	if (out != NULL)
		*out = id;
	/* The activity log holds the same facts, without the output. */
	data = attempt_json(a, status, false);
	if (data == NULL)
		goto oom;
	rec.files = NULL;
	rec.nfiles = 0;
	rec.no_record_json = false;
	rec.data = data;
	if (a->is_reset) {
		rc = 0;
		goto out;
	}
	if (a->d.status == FG_DEPLOY_STARTED && a->nbefore > 0) {
		rc = append_with_before(st, a, &rec, err);
		if (rc < 0)
			goto out;
	} else {
		rc = fg_store_append(&act, st, ACTIVITY_REF, &rec, err);
		if (rc < 0)
			goto out;
	}
	if (a->d.status != FG_DEPLOY_STARTED)
		rc = note_attempt(st, a, status, &id, err);
	goto out;
oom:
	rc = fg_err_set(err, FG_ENOMEM, "out of memory");
out:
	cJSON_free(text);
	cJSON_Delete(json);
	cJSON_Delete(data);
	fg_buf_release(&subject);
	fg_buf_release(&body);
	return rc;
}

/*
 * Locks.  The file lives in the repository so every process working on it
 * (CLI, daemon, hooks) meets the same lock; it is never removed, since
 * removing a flock()ed file would let two holders lock two different
 * files.
 */
static int
lock_open(int *fd, struct fg_store *st, const char *env, struct fg_err *err)
{
	const char *gitdir = git_repository_path(fg_store_repo(st));
	struct fg_buf path = FG_BUF_INIT;
	int rc = 0;

	*fd = -1;
	if (fg_buf_printf(&path, "%sflowgate", gitdir) < 0)
		goto oom;
	if (mkdir(path.ptr, 0755) < 0 && errno != EEXIST)
		goto io;
	if (fg_buf_puts(&path, "/locks") < 0)
		goto oom;
	if (mkdir(path.ptr, 0755) < 0 && errno != EEXIST)
		goto io;
	if (fg_buf_printf(&path, "/env-%s.lock", env) < 0)
		goto oom;
	*fd = open(path.ptr, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (*fd < 0)
		goto io;
	goto out;
oom:
	rc = fg_err_set(err, FG_ENOMEM, "out of memory");
	goto out;
io:
	rc = fg_err_set(err, FG_EIO, "cannot create lock '%s': %s", path.ptr,
	    strerror(errno));
out:
	fg_buf_release(&path);
	return rc;
}

/* Take env's lock without waiting: 0, FG_EBUSY, or an error. */
static int
lock_try(int fd, const char *env, struct fg_err *err)
{
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK || errno == EINTR)
		return FG_EBUSY;
	return fg_err_set(err, FG_EIO, "cannot lock environment '%s': %s",
	    env, strerror(errno));
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Who holds env: a refusal a person can act on. */
static int
busy_error(struct fg_store *st, const char *env, int waited,
    struct fg_err *err)
{
	struct attempt a;
	char ref[300], t[32];
	int rc;

	attempt_init(&a);
	rc = env_ref(ref, sizeof(ref), env, NULL);
	if (rc == 0)
		rc = attempt_read(&a, st, ref, NULL, false, NULL);
	if (rc == 0 && !a.is_reset && a.d.status == FG_DEPLOY_STARTED) {
		utc(t, a.d.started);
		fg_err_set(err, FG_EBUSY, "environment '%s' is busy: %s is "
		    "being deployed by %s since %s (run %s)%s", env,
		    a.short_id, a.d.actor, t, a.d.run,
		    waited > 0 ? "; gave up waiting" : "");
	} else {
		fg_err_set(err, FG_EBUSY, "environment '%s' is busy: another "
		    "deployment is starting%s", env,
		    waited > 0 ? "; gave up waiting" : "");
	}
	attempt_release(&a);
	return FG_EBUSY;
}

/* Take env's lock, waiting up to wait_secs; *fd is then the caller's. */
static int
lock_take(int *fd, struct fg_store *st, const char *env, int wait_secs,
    struct fg_err *err)
{
	int64_t deadline = mono_ms() + (int64_t)(wait_secs > 0 ?
	    wait_secs : 0) * 1000;
	int rc;

	rc = lock_open(fd, st, env, err);
	if (rc < 0)
		return rc;
	for (;;) {
		rc = lock_try(*fd, env, err);
		if (rc != FG_EBUSY)
			break;
		if (mono_ms() >= deadline) {
			rc = busy_error(st, env, wait_secs, err);
			break;
		}
		sleep_ms(LOCK_POLL_MS);
	}
	if (rc < 0) {
		close(*fd);
		*fd = -1;
	}
	return rc;
}

/*
 * With env's lock held: a "started" tip is an attempt whose process died.
 * Append its "interrupted" end.  *found says whether there was one.
 */
static int
recover_locked(bool *found, struct fg_store *st, const char *env,
    struct fg_err *err)
{
	struct attempt a;
	char ref[300];
	int64_t now;
	int rc;

	*found = false;
	attempt_init(&a);
	rc = env_ref(ref, sizeof(ref), env, err);
	if (rc == 0)
		rc = attempt_read(&a, st, ref, NULL, false, err);
	if (rc == FG_ENOTFOUND) {
		rc = 0;
		goto out;
	}
	if (rc < 0 || a.is_reset || a.d.status != FG_DEPLOY_STARTED)
		goto out;
	now = fg_now();
	a.d.status = FG_DEPLOY_INTERRUPTED;
	a.finished = now;
	a.d.duration_ms = now > a.d.started ? (now - a.d.started) * 1000 : 0;
	snprintf(a.reason, sizeof(a.reason), "its process ended before it "
	    "did");
	fg_buf_reset(&a.d.log);
	rc = attempt_append(NULL, st, &a, err);
	if (rc == 0) {
		*found = true;
		fg_log_info("deploy env=%s commit=%s run=%s status=interrupted",
		    env, a.short_id, a.d.run);
	}
out:
	attempt_release(&a);
	return rc;
}

int
fg_deploy_recover(size_t *n, struct fg_store *st,
    const struct fg_config *cfg, struct fg_err *err)
{
	size_t i, count = 0;
	bool found;
	int fd, rc = 0;

	for (i = 0; i < cfg->nenvs && rc == 0; i++) {
		const char *env = cfg->envs[i].name;
		char ref[300];
		git_oid tip;

		/* Cheap first: most environments have no ref or are idle. */
		if (env_ref(ref, sizeof(ref), env, NULL) < 0 ||
		    fg_store_tip(&tip, st, ref, NULL) < 0)
			continue;
		rc = lock_open(&fd, st, env, err);
		if (rc < 0)
			break;
		rc = lock_try(fd, env, err);
		if (rc == 0) {
			rc = recover_locked(&found, st, env, err);
			if (found)
				count++;
		} else if (rc == FG_EBUSY) {
			rc = 0;		/* running: not abandoned */
		}
		close(fd);
	}
	if (n != NULL)
		*n = count;
	return rc;
}

/* A fresh run id: 16 random hex digits. */
static void
fresh_run(char *out, size_t size)
{
	unsigned char r[8];
	size_t i, got = 0;
	ssize_t k;

	while (got < sizeof(r)) {
		k = getrandom(r + got, sizeof(r) - got, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	if (got < sizeof(r)) {
		uint64_t x = (uint64_t)mono_ms() ^ ((uint64_t)getpid() << 32);

		memcpy(r, &x, sizeof(r));
	}
	for (i = 0; i < sizeof(r) && 2 * i + 2 < size; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/* The stage that lists env (for a sandbox: the one using its pool). */
static const char *
stage_of(const struct fg_config *cfg, const struct fg_env *env)
{
	size_t s, i;

	for (s = 0; s < FG_STAGE_COUNT; s++) {
		const struct fg_stage *st = &cfg->stages[s];

		if (!st->configured)
			continue;
		for (i = 0; i < st->envs.n; i++)
			if (strcmp(st->envs.v[i], env->name) == 0)
				return fg_stage_name(st->id);
		if (env->pool != NULL && st->pool != NULL &&
		    strcmp(env->pool, st->pool) == 0)
			return fg_stage_name(st->id);
	}
	return "";
}

static void
secrets_release(struct secrets *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (s->values != NULL && s->values[i] != NULL) {
			OPENSSL_cleanse(s->values[i], strlen(s->values[i]));
			free(s->values[i]);
		}
		if (s->why != NULL)
			free(s->why[i]);
	}
	free(s->names);
	free(s->values);
	free(s->masks);
	free(s->why);
	memset(s, 0, sizeof(*s));
}

/*
 * Look one secret up, as webhookd's settings do: a variable of our
 * environment or a file nobody but its owner may read, one trailing
 * newline dropped.  NULL and a reason in why when it is not available.
 */
static char *
secret_value(const struct fg_secret *s, char *why, size_t wsize)
{
	struct fg_buf b = FG_BUF_INIT;
	struct fg_err e = FG_ERR_INIT;
	struct stat sb;
	const char *v;
	char *val = NULL;

	if (s->env != NULL) {
		v = getenv(s->env);
		if (v == NULL || *v == '\0') {
			snprintf(why, wsize, "secret '%s': environment "
			    "variable '%s' is not set or empty", s->name,
			    s->env);
			return NULL;
		}
		val = fg_strdup(v);
		if (val == NULL)
			snprintf(why, wsize, "out of memory");
		return val;
	}
	if (s->file == NULL) {
		snprintf(why, wsize, "secret '%s' names no source", s->name);
		return NULL;
	}
	if (stat(s->file, &sb) < 0) {
		snprintf(why, wsize, "secret '%.64s': cannot read '%.512s': %s",
		    s->name, s->file, strerror(errno));
		return NULL;
	}
	if ((sb.st_mode & 077) != 0) {
		snprintf(why, wsize, "secret '%.64s': file '%.512s' is open to "
		    "group or others: chmod 600 it", s->name, s->file);
		return NULL;
	}
	if (fg_read_file(&b, s->file, SECRET_FILE_MAX, &e) < 0) {
		snprintf(why, wsize, "secret '%.64s': %.800s", s->name, e.msg);
		goto out;
	}
	if (b.len > 0 && b.ptr[b.len - 1] == '\n')
		b.len--;
	if (b.len > 0 && b.ptr[b.len - 1] == '\r')
		b.len--;
	b.ptr[b.len] = '\0';
	if (b.len == 0 || strlen(b.ptr) != b.len) {
		snprintf(why, wsize, "secret '%.64s': file '%.512s' is empty or "
		    "holds a NUL byte", s->name, s->file);
		goto out;
	}
	val = fg_strdup(b.ptr);
	if (val == NULL)
		snprintf(why, wsize, "out of memory");
out:
	if (b.alloc > 0)
		OPENSSL_cleanse(b.ptr, b.alloc);
	fg_buf_release(&b);
	return val;
}

static int
secrets_load(struct secrets *s, const struct fg_config *cfg,
    struct fg_err *err)
{
	char why[FG_ERR_MSG_MAX];
	size_t i, m = 0;

	memset(s, 0, sizeof(*s));
	s->n = cfg->nsecrets;
	s->names = calloc(s->n + 1, sizeof(*s->names));
	s->values = calloc(s->n + 1, sizeof(*s->values));
	s->masks = calloc(s->n + 1, sizeof(*s->masks));
	s->why = calloc(s->n + 1, sizeof(*s->why));
	if (s->names == NULL || s->values == NULL || s->masks == NULL ||
	    s->why == NULL)
		goto oom;
	for (i = 0; i < s->n; i++) {
		s->names[i] = cfg->secrets[i].name;
		why[0] = '\0';
		s->values[i] = secret_value(&cfg->secrets[i], why, sizeof(why));
		if (s->values[i] != NULL) {
			s->masks[m++] = s->values[i];
			continue;
		}
		s->why[i] = fg_strdup(why);
		if (s->why[i] == NULL)
			goto oom;
	}
	return 0;
oom:
	secrets_release(s);
	return fg_err_set(err, FG_ENOMEM, "out of memory");
}

int
fg_deploy__mask(struct fg_buf *b, const char *secret)
{
	struct fg_buf o = FG_BUF_INIT;
	size_t i = 0, sl = secret != NULL ? strlen(secret) : 0;
	char *hit;

	if (sl == 0 || b->len < sl)
		return 0;
	while (i < b->len) {
		hit = memmem(b->ptr + i, b->len - i, secret, sl);
		if (hit == NULL)
			break;
		if (fg_buf_add(&o, b->ptr + i, (size_t)(hit - (b->ptr + i))) <
		    0 || fg_buf_puts(&o, "***") < 0)
			goto oom;
		i = (size_t)(hit - b->ptr) + sl;
	}
	if (i == 0)
		return 0;
	if (fg_buf_add(&o, b->ptr + i, b->len - i) < 0)
		goto oom;
	OPENSSL_cleanse(b->ptr, b->len);
	fg_buf_release(b);
	*b = o;
	return 0;
oom:
	fg_buf_release(&o);
	return FG_ENOMEM;
}

static int
say(struct fg_buf *b, const char *fmt, ...) FG_PRINTF(2, 3);

static int
say(struct fg_buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = fg_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

/*
 * A checkout made ahead (deploy.h).  Its thread opens a repository of its
 * own, reads the trees and lists the files (fg_proc_co_new()), says so
 * under mu, then writes the files alone: on two cores the caller goes on
 * with its own work meanwhile.  When the deployment needs the files, the
 * caller's thread writes along with it until none is left
 * (fg_proc_co_write() shares the work and the repository, one thread at a
 * time), rather than wait idle or start more threads that would compete
 * with the caller's work before then.
 */
struct fg_deploy_prep {
	pthread_t thread;
	bool running;			/* started and not joined */
	atomic_bool stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool walked;			/* under mu: co and rc are set */
	char env[256];
	git_oid commit;
	char *gitdir;
	char *dir;			/* NULL once a deployment took it */
	git_repository *repo;		/* the thread's */
	struct fg_proc_co *co;
	int rc;
	struct fg_err err;
};

static void *
prep_main(void *arg)
{
	struct fg_deploy_prep *p = arg;
	struct fg_proc_co *co = NULL;
	struct fg_err err = FG_ERR_INIT;
	int rc;

	rc = git_repository_open_bare(&p->repo, p->gitdir);
	if (rc != 0)
		rc = fg_err_git(&err, FG_EIO, "cannot open '%s'", p->gitdir);
	else
		rc = fg_proc_co_new(&co, p->dir, p->repo, &p->commit,
		    &p->stop, &err);
	pthread_mutex_lock(&p->mu);
	p->co = co;
	p->rc = rc;
	p->err = err;
	p->walked = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (co != NULL)
		fg_proc_co_write(co);
	return NULL;
}

static void
prep_join(struct fg_deploy_prep *p)
{
	if (p->running)
		pthread_join(p->thread, NULL);
	p->running = false;
}

int
fg_deploy_prep_new(struct fg_deploy_prep **out, struct fg_store *st,
    const struct fg_config *cfg, const char *env, const git_oid *commit,
    struct fg_err *err)
{
	const struct fg_env *e;
	const struct fg_deploy *dep;
	struct fg_deploy_prep *p = NULL;
	struct fg_err perr = FG_ERR_INIT;
	sigset_t all, old;
	int rc = 0;

	*out = NULL;
	e = cfg != NULL && env != NULL ? fg_pipeline_env(cfg, env) : NULL;
	dep = e != NULL ? fg_pipeline_deploy(cfg, e) : NULL;
	if (dep == NULL || dep->kind != FG_DEPLOY_COMMAND)
		return 0;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	atomic_init(&p->stop, false);
	if (pthread_mutex_init(&p->mu, NULL) != 0) {
		free(p);
		return 0;
	}
	if (pthread_cond_init(&p->cv, NULL) != 0) {
		pthread_mutex_destroy(&p->mu);
		free(p);
		return 0;
	}
	copy_str(p->env, sizeof(p->env), e->name);
	git_oid_cpy(&p->commit, commit);
	p->gitdir = fg_strdup(git_repository_path(fg_store_repo(st)));
	if (p->gitdir == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	if (fg_proc_mkdtemp(&p->dir, "deploy", &perr) < 0) {
		if (perr.code == FG_ENOMEM)
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	/* The thread takes no signal meant for the process. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	p->running = pthread_create(&p->thread, NULL, prep_main, p) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!p->running)
		goto out;
	*out = p;
	p = NULL;
out:
	fg_deploy_prep_free(p);
	return rc;
}

void
fg_deploy_prep_free(struct fg_deploy_prep *p)
{
	struct fg_err perr = FG_ERR_INIT;

	if (p == NULL)
		return;
	atomic_store(&p->stop, true);
	prep_join(p);
	fg_proc_co_free(p->co);
	git_repository_free(p->repo);
	if (p->dir != NULL && fg_proc_rmtree_detached(p->dir, &perr) < 0)
		fg_log_warnx("deploy env=%s: cannot remove '%s': %s", p->env,
		    p->dir, perr.msg);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->dir);
	free(p->gitdir);
	free(p);
}

/*
 * The prepared checkout into *dir (the caller's from then on): write the
 * files left along with the thread, then wait for it.  The checkout's
 * error when it failed.
 */
static int
prep_take(char **dir, struct fg_deploy_prep *p, struct fg_err *err)
{
	int rc;

	if (p->dir == NULL || !p->running)
		return fg_err_set(err, FG_ENOTFOUND, "the checkout made ahead "
		    "was used already");
	pthread_mutex_lock(&p->mu);
	while (!p->walked)
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
	if (p->co != NULL)
		fg_proc_co_write(p->co);
	prep_join(p);
	if (p->rc < 0) {
		if (err != NULL)
			*err = p->err;
		return p->rc;
	}
	rc = fg_proc_co_finish(p->co, err);
	if (rc < 0)
		return rc;
	*dir = p->dir;
	p->dir = NULL;
	return 0;
}

/*
 * Run the command in a fresh checkout.  Outcome in a (status, reason,
 * log); returns FG_ENOMEM only: everything else is a failed attempt.
 */
static int
run_command(struct attempt *a, struct fg_store *st,
    const struct fg_deploy *dep, const struct secrets *sec,
    unsigned timeout, struct fg_deploy_prep *prep)
{
	struct fg_proc_opts po = FG_PROC_OPTS_INIT;
	struct fg_proc_result res;
	struct fg_err perr = FG_ERR_INIT;
	struct fg_buf envbuf[6];
	const char **env = NULL;
	char *dir = NULL;
	size_t i, nenv = 0;
	int rc = 0, prc;

	memset(&res, 0, sizeof(res));
	fg_buf_init(&res.output);
	for (i = 0; i < FG_ARRAY_SIZE(envbuf); i++)
		fg_buf_init(&envbuf[i]);
	a->d.status = FG_DEPLOY_FAILED;
	if (dep->argv.n == 0 || dep->argv.v == NULL ||
	    dep->argv.v[0] == NULL) {
		snprintf(a->reason, sizeof(a->reason), "no command to run");
		goto out;
	}
	env = calloc(FG_ARRAY_SIZE(envbuf) + sec->n + 1, sizeof(*env));
	if (env == NULL)
		goto oom;
	if (say(&envbuf[0], "FLOWGATE_COMMIT=%s", a->sha) < 0 ||
	    say(&envbuf[1], "FLOWGATE_ENV=%s", a->d.env) < 0 ||
	    say(&envbuf[2], "FLOWGATE_STAGE=%s", a->d.stage) < 0 ||
	    say(&envbuf[3], "FLOWGATE_REF=%s", a->ref) < 0 ||
	    say(&envbuf[4], "FLOWGATE_ACTOR=%s", a->d.actor) < 0 ||
	    say(&envbuf[5], "FLOWGATE_RUN=%s", a->d.run) < 0)
		goto oom;
	for (i = 0; i < FG_ARRAY_SIZE(envbuf); i++)
		env[nenv++] = envbuf[i].ptr;
	for (i = 0; i < sec->n; i++) {
		struct fg_buf e = FG_BUF_INIT;
		char *s;

		if (sec->values[i] == NULL) {
			if (say(&a->d.log, "flowgate: %s; not passed\n",
			    sec->why[i]) < 0)
				goto oom;
			continue;
		}
		if (say(&e, "%s=%s", sec->names[i], sec->values[i]) < 0)
			goto oom;
		s = fg_buf_detach(&e, NULL);
		if (s == NULL)
			goto oom;
		env[nenv++] = s;
	}
	env[nenv] = NULL;
	/* A checkout made ahead that failed is made again here, to say why. */
	prc = FG_ENOTFOUND;
	if (prep != NULL) {
		prc = prep_take(&dir, prep, &perr);
		if (prc < 0)
			fg_log_debug("deploy env=%s: the checkout made ahead "
			    "failed: %s", a->d.env, perr.msg);
	}
	if (prc < 0) {
		prc = fg_proc_mkdtemp(&dir, "deploy", &perr);
		if (prc == 0)
			prc = fg_proc_checkout(dir, fg_store_repo(st),
			    &a->d.commit, &perr);
	}
	FG_PROBE("deploy: checkout");
	if (prc == FG_ENOMEM)
		goto oom;
	if (prc < 0) {
		snprintf(a->reason, sizeof(a->reason), "cannot check out %s: "
		    "%.900s", a->short_id, perr.msg);
		goto out;
	}
	po.argv = (const char *const *)dep->argv.v;
	po.dir = dir;
	po.env = env;
	po.timeout_ms = timeout * 1000;
	po.output_max = FG_DEPLOY_LOG_MAX - 256;
	po.secrets = sec->masks;
	prc = fg_proc_run(&res, &po, &perr);
	FG_PROBE("deploy: run the command");
	if (prc == FG_ENOMEM)
		goto oom;
	if (prc < 0) {
		snprintf(a->reason, sizeof(a->reason), "cannot run '%.100s': "
		    "%.800s", dep->argv.v[0], perr.msg);
		goto out;
	}
	if (res.dropped > 0 && say(&a->d.log, "(%" PRIu64 " earlier bytes "
	    "not kept)\n", res.dropped) < 0)
		goto oom;
	if (fg_buf_add(&a->d.log, res.output.ptr, res.output.len) < 0)
		goto oom;
	if (res.timed_out)
		snprintf(a->reason, sizeof(a->reason), "killed after %us",
		    timeout);
	else if (res.exited && res.status == 0)
		a->d.status = FG_DEPLOY_SUCCEEDED;
	else if (res.exited)
		snprintf(a->reason, sizeof(a->reason), "exit %d", res.status);
	else
		snprintf(a->reason, sizeof(a->reason), "killed by signal %d",
		    res.signal);
	goto out;
oom:
	rc = FG_ENOMEM;
out:
	if (dir != NULL && fg_proc_rmtree_detached(dir, &perr) < 0)
		fg_log_warnx("deploy env=%s: cannot remove '%s': %s",
		    a->d.env, dir, perr.msg);
	if (dir != NULL)
		FG_PROBE("deploy: remove the checkout (detached)");
	free(dir);
	if (env != NULL) {
		for (i = FG_ARRAY_SIZE(envbuf); env[i] != NULL; i++) {
			OPENSSL_cleanse((char *)env[i], strlen(env[i]));
			free((char *)env[i]);
		}
	}
	free(env);
	for (i = 0; i < FG_ARRAY_SIZE(envbuf); i++)
		fg_buf_release(&envbuf[i]);
	fg_proc_result_release(&res);
	return rc;
}

static int
run_http(struct attempt *a, const struct fg_deploy *dep,
    const struct secrets *sec, unsigned timeout, struct fg_httpc *httpc)
{
	struct fg_deploy_facts f;
	const char *secret = NULL;
	size_t i;
	bool ok = false;
	int rc;

	a->d.status = FG_DEPLOY_FAILED;
	for (i = 0; dep->secret != NULL && i < sec->n; i++) {
		if (strcmp(sec->names[i], dep->secret) != 0)
			continue;
		if (sec->values[i] == NULL) {
			snprintf(a->reason, sizeof(a->reason), "%s",
			    sec->why[i]);
			return 0;
		}
		secret = sec->values[i];
	}
	/* Without a configured secret the requests go unsigned. */
	f.commit = a->sha;
	f.env = a->d.env;
	f.stage = a->d.stage;
	f.ref = a->ref;
	f.actor = a->d.actor;
	f.run = a->d.run;
	rc = fg_deploy__http(&ok, a->reason, sizeof(a->reason), &a->d.log,
	    httpc, dep, secret, &f, timeout);
	if (rc < 0)
		return rc;
	for (i = 0; i < sec->n; i++)
		if (fg_deploy__mask(&a->d.log, sec->values[i]) < 0)
			return FG_ENOMEM;
	if (ok)
		a->d.status = FG_DEPLOY_SUCCEEDED;
	return 0;
}

int
fg_deploy_run(struct fg_deployment *out, struct fg_store *st,
    const struct fg_deploy_req *req, struct fg_err *err)
{
	const struct fg_env *env;
	const struct fg_deploy *dep;
	struct secrets sec;
	struct attempt a;
	git_commit *commit = NULL;
	char ref[300];
	unsigned timeout;
	int64_t t0;
	bool found;
	int fd = -1, rc;

	memset(&sec, 0, sizeof(sec));
	attempt_init(&a);
	if (out != NULL)
		deployment_init(out);
	if (req == NULL || req->cfg == NULL || req->env == NULL)
		return fg_err_set(err, FG_EINVALID, "no environment to deploy");
	rc = env_ref(ref, sizeof(ref), req->env, err);
	if (rc < 0)
		goto out;
	env = fg_pipeline_env(req->cfg, req->env);
	if (env == NULL) {
		rc = fg_err_set(err, FG_ENOTFOUND, "unknown environment '%s'",
		    req->env);
		goto out;
	}
	dep = fg_pipeline_deploy(req->cfg, env);
	if (dep == NULL || dep->kind == FG_DEPLOY_NONE) {
		rc = fg_err_set(err, FG_EINVALID, "environment '%s' has no "
		    "deploy settings in pipeline.yaml", req->env);
		goto out;
	}
	git_oid_tostr(a.sha, sizeof(a.sha), &req->commit);
	git_oid_tostr(a.short_id, sizeof(a.short_id), &req->commit);
	if (git_commit_lookup(&commit, fg_store_repo(st), &req->commit) < 0) {
		rc = fg_err_set(err, FG_ENOTFOUND, "commit '%s' is not in "
		    "the repository", a.sha);
		goto out;
	}
	copy_str(a.d.env, sizeof(a.d.env), env->name);
	a.d.commit = req->commit;
	copy_str(a.d.stage, sizeof(a.d.stage), req->stage != NULL ?
	    req->stage : stage_of(req->cfg, env));
	copy_str(a.ref, sizeof(a.ref), req->ref);
	copy_str(a.d.actor, sizeof(a.d.actor), req->actor != NULL &&
	    req->actor[0] != '\0' ? req->actor : "flowgate");
	if (req->run != NULL && req->run[0] != '\0')
		copy_str(a.d.run, sizeof(a.d.run), req->run);
	else
		fresh_run(a.d.run, sizeof(a.d.run));
	copy_str(a.kind, sizeof(a.kind), dep->kind == FG_DEPLOY_HTTP ?
	    "http" : "command");
	timeout = dep->timeout > 0 ? (unsigned)dep->timeout :
	    FG_DEPLOY_TIMEOUT;
	if (timeout > UINT_MAX / 1000)
		timeout = UINT_MAX / 1000;

	rc = lock_take(&fd, st, env->name, req->wait_secs, err);
	if (rc < 0)
		goto out;
	rc = recover_locked(&found, st, env->name, err);
	if (rc < 0)
		goto out;
	rc = secrets_load(&sec, req->cfg, err);
	if (rc < 0)
		goto out;
	FG_PROBE("deploy: lock, recover, secrets");

	a.d.status = FG_DEPLOY_STARTED;
	a.d.started = fg_now();
	a.before = req->before;
	a.nbefore = req->nbefore;
	rc = attempt_append(NULL, st, &a, err);
	if (rc < 0)
		goto out;
	a.d.started_recorded = true;
	if (out != NULL)
		out->started_recorded = true;
	fg_log_info("deploy env=%s commit=%s run=%s status=started",
	    a.d.env, a.short_id, a.d.run);
	FG_PROBE("deploy: started record");

	t0 = mono_ms();
	if (dep->kind == FG_DEPLOY_HTTP)
		rc = run_http(&a, dep, &sec, timeout, req->httpc);
	else
		rc = run_command(&a, st, dep, &sec, timeout,
		    req->prep != NULL && strcmp(req->prep->env, env->name) ==
		    0 && git_oid_equal(&req->prep->commit, &req->commit) ?
		    req->prep : NULL);
	a.d.duration_ms = mono_ms() - t0;
	a.finished = fg_now();
	if (rc < 0) {
		/* Out of memory mid-way: still close the attempt. */
		a.d.status = FG_DEPLOY_FAILED;
		snprintf(a.reason, sizeof(a.reason), "out of memory");
	}
	if (a.d.log.len > FG_DEPLOY_LOG_MAX) {
		memmove(a.d.log.ptr, a.d.log.ptr + a.d.log.len -
		    FG_DEPLOY_LOG_MAX, FG_DEPLOY_LOG_MAX);
		fg_buf_truncate(&a.d.log, FG_DEPLOY_LOG_MAX);
	}
	a.note_extra = req->note;
	rc = attempt_append(&a.d.record, st, &a, err);
	if (rc < 0)
		goto out;
	a.d.ended_recorded = true;
	if (out != NULL)
		out->ended_recorded = true;
	FG_PROBE("deploy: end record (env, activity, note)");
	fg_log_info("deploy env=%s commit=%s run=%s status=%s ms=%lld",
	    a.d.env, a.short_id, a.d.run,
	    fg_deploy_status_name(a.d.status), (long long)a.d.duration_ms);
	if (a.d.status != FG_DEPLOY_SUCCEEDED)
		fg_err_set(err, FG_EIO, "%s", a.reason);
	else if (err != NULL)
		*err = (struct fg_err)FG_ERR_INIT;
	attempt_to_out(out, &a);
out:
	if (fd >= 0)
		close(fd);
	secrets_release(&sec);
	git_commit_free(commit);
	attempt_release(&a);
	return rc;
}

int
fg_deploy_current(struct fg_deployment *out, struct fg_store *st,
    const char *env, struct fg_err *err)
{
	struct attempt a;
	char ref[300];
	int rc;

	attempt_init(&a);
	if (out != NULL)
		deployment_init(out);
	rc = env_ref(ref, sizeof(ref), env, err);
	if (rc < 0)
		goto out;
	rc = attempt_read(&a, st, ref, NULL, true, err);
	if (rc == FG_ENOTFOUND) {
		rc = fg_err_set(err, FG_ENOTFOUND, "environment '%s' was "
		    "never deployed", env);
		goto out;
	}
	if (rc < 0)
		goto out;
	if (a.is_reset) {
		rc = fg_err_set(err, FG_ENOTFOUND, "environment '%s' has no "
		    "deployment since the pipeline was reset", env);
		goto out;
	}
	attempt_to_out(out, &a);
out:
	attempt_release(&a);
	return rc;
}

/* The Flowgate-Commit of e as an id; false when it has none. */
static bool
entry_commit(git_oid *out, const struct fg_store_entry *e)
{
	const char *c = fg_store_entry_get(e, "Flowgate-Commit");

	return c != NULL && strlen(c) == GIT_OID_HEXSZ &&
	    git_oid_fromstr(out, c) == 0;
}

static bool
entry_status_is(const struct fg_store_entry *e, const char *status)
{
	const char *s = fg_store_entry_get(e, "Flowgate-Status");

	return s != NULL && strcmp(s, status) == 0;
}

int
fg_deploy_last_good(git_oid *out, struct fg_store *st, const char *env,
    const git_oid *before, struct fg_err *err)
{
	struct fg_store_query q;
	struct fg_store_iter *it = NULL;
	const struct fg_store_entry *e;
	git_oid current, c;
	char ref[300];
	bool have_ref = false;
	int rc;

	memset(&q, 0, sizeof(q));
	rc = env_ref(ref, sizeof(ref), env, err);
	if (rc < 0)
		return rc;
	rc = fg_store_iter_new(&it, st, ref, &q, err);
	if (rc < 0)
		return rc;
	for (;;) {
		rc = fg_store_iter_next(&e, it, err);
		if (rc < 0)
			goto out;
		if (e == NULL)
			break;
		if (!have_ref) {
			if (before != NULL && !git_oid_equal(&e->id, before))
				continue;
			if (entry_status_is(e, STATUS_RESET) ||
			    !entry_commit(&current, e))
				break;
			have_ref = true;
			continue;
		}
		if (entry_status_is(e, STATUS_RESET))
			break;
		if (entry_status_is(e, "succeeded") && entry_commit(&c, e) &&
		    !git_oid_equal(&c, &current)) {
			*out = c;
			rc = 0;
			goto out;
		}
	}
	if (before != NULL && !have_ref)
		rc = fg_err_set(err, FG_ENOTFOUND, "no such deployment on "
		    "'%s'", ref);
	else
		rc = fg_err_set(err, FG_ENOTFOUND, "environment '%s' has no "
		    "earlier successful deployment of another commit", env);
out:
	fg_store_iter_free(it);
	return rc;
}

/*
 * Walk back from the tip to the newest "succeeded" record: it must be
 * sha's.  Going on while succeeded records stay sha's (failed attempts in
 * between do not replace it), the oldest of them is when it became the
 * deployed commit.  A reset ends the walk.
 */
int
fg_deploy_since(int64_t *since, struct fg_store *st, const char *env,
    const git_oid *sha, struct fg_err *err)
{
	struct fg_store_query q;
	struct fg_store_iter *it = NULL;
	const struct fg_store_entry *e;
	char ref[300];
	bool found = false;
	int64_t t = 0;
	git_oid c;
	int rc;

	memset(&q, 0, sizeof(q));
	rc = env_ref(ref, sizeof(ref), env, err);
	if (rc < 0)
		return rc;
	rc = fg_store_iter_new(&it, st, ref, &q, err);
	if (rc < 0)
		return rc;
	for (;;) {
		rc = fg_store_iter_next(&e, it, err);
		if (rc < 0)
			goto out;
		if (e == NULL || entry_status_is(e, STATUS_RESET))
			break;
		if (!entry_status_is(e, "succeeded"))
			continue;
		if (!entry_commit(&c, e) || !git_oid_equal(&c, sha))
			break;
		found = true;
		t = e->time;
	}
	if (found) {
		*since = t;
		rc = 0;
	} else {
		rc = fg_err_set(err, FG_ENOTFOUND, "that commit is not "
		    "deployed on '%s'", env);
	}
out:
	fg_store_iter_free(it);
	return rc;
}

static bool
is_admin(const struct fg_config *cfg, const char *who)
{
	size_t i;

	for (i = 0; i < cfg->admins.n; i++)
		if (strcmp(cfg->admins.v[i], who) == 0)
			return true;
	return false;
}

int
fg_deploy_reset(size_t *n, struct fg_store *st, const struct fg_config *cfg,
    const char *actor, bool admins_only, struct fg_err *err)
{
	struct fg_buf subject = FG_BUF_INIT;
	struct fg_record rec;
	struct attempt a;
	int *fds = NULL;
	size_t i, count = 0;
	bool found;
	char ref[300];
	git_oid tip;
	git_oid id;
	int rc = 0;

	attempt_init(&a);
	if (actor == NULL || actor[0] == '\0')
		actor = "flowgate";
	if (admins_only && cfg->admins.n > 0 && !is_admin(cfg, actor)) {
		rc = fg_err_set(err, FG_EDENIED, "only admins may reset the "
		    "pipeline, and '%s' is not one (see admins in "
		    "pipeline.yaml)", actor);
		goto out;
	}
	fds = calloc(cfg->nenvs + 1, sizeof(*fds));
	if (fds == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < cfg->nenvs; i++)
		fds[i] = -1;
	/* Every environment idle first, so no deployment ends after it. */
	for (i = 0; i < cfg->nenvs; i++) {
		rc = lock_open(&fds[i], st, cfg->envs[i].name, err);
		if (rc == 0)
			rc = lock_try(fds[i], cfg->envs[i].name, err);
		if (rc == FG_EBUSY)
			rc = busy_error(st, cfg->envs[i].name, 0, err);
		if (rc < 0)
			goto out;
	}
	for (i = 0; i < cfg->nenvs; i++) {
		const char *env = cfg->envs[i].name;

		rc = recover_locked(&found, st, env, err);
		if (rc < 0)
			goto out;
		if (env_ref(ref, sizeof(ref), env, NULL) < 0 ||
		    fg_store_tip(&tip, st, ref, NULL) < 0)
			continue;	/* never deployed: nothing to empty */
		attempt_release(&a);
		attempt_init(&a);
		rc = attempt_read(&a, st, ref, NULL, false, err);
		if (rc < 0)
			goto out;
		if (a.is_reset)
			continue;
		attempt_release(&a);
		attempt_init(&a);
		a.is_reset = true;
		copy_str(a.d.env, sizeof(a.d.env), env);
		copy_str(a.d.actor, sizeof(a.d.actor), actor);
		a.finished = fg_now();
		rc = attempt_append(NULL, st, &a, err);
		if (rc < 0)
			goto out;
		count++;
	}
	if (fg_buf_printf(&subject, "pipeline reset by %s: %zu environment%s "
	    "emptied", actor, count, count == 1 ? "" : "s") < 0) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	memset(&rec, 0, sizeof(rec));
	rec.kind = "reset";
	rec.subject = subject.ptr;
	rec.body = "Every environment's current deployment was forgotten; "
	    "their history stays on refs/flowgate/envs/.\n";
	rec.status = "reset";
	rec.actor_name = actor;
	rc = fg_store_append(&id, st, ACTIVITY_REF, &rec, err);
	if (rc == 0 && n != NULL)
		*n = count;
out:
	for (i = 0; fds != NULL && i < cfg->nenvs; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	fg_buf_release(&subject);
	attempt_release(&a);
	return rc;
}

int
fg_deploy_current_json(cJSON **out, struct fg_store *st, const char *env,
    struct fg_err *err)
{
	struct attempt a;
	git_commit *c = NULL;
	char ref[300], hex[GIT_OID_HEXSZ + 1];
	cJSON *o = NULL;
	const char *summary;
	int rc;

	*out = NULL;
	attempt_init(&a);
	rc = env_ref(ref, sizeof(ref), env, err);
	if (rc < 0)
		goto out;
	rc = attempt_read(&a, st, ref, NULL, true, err);
	if (rc == FG_ENOTFOUND || (rc == 0 && a.is_reset)) {
		o = cJSON_CreateNull();
		rc = 0;
		goto done;
	}
	if (rc < 0)
		goto out;
	o = attempt_json(&a, fg_deploy_status_name(a.d.status), true);
	if (o == NULL)
		goto done;
	git_oid_tostr(hex, sizeof(hex), &a.d.record);
	cJSON_AddStringToObject(o, "record", hex);
	if (git_commit_lookup(&c, fg_store_repo(st), &a.d.commit) == 0) {
		summary = git_commit_summary(c);
		cJSON_AddStringToObject(o, "subject", summary ? summary : "");
	}
done:
	if (o == NULL)
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
	*out = o;
out:
	git_commit_free(c);
	attempt_release(&a);
	return rc;
}

int
fg_deploy_check_idle(struct fg_store *st, const char *env,
    struct fg_err *err)
{
	char ref[300];
	int fd, rc;

	rc = env_ref(ref, sizeof(ref), env, err);
	if (rc < 0)
		return rc;
	rc = lock_open(&fd, st, env, err);
	if (rc < 0)
		return rc;
	rc = lock_try(fd, env, err);
	close(fd);
	if (rc == FG_EBUSY)
		rc = busy_error(st, env, 0, err);
	return rc;
}
