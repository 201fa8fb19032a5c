/*
 * forge.c - the entry point of payload parsing and the helpers the
 * per-forge parsers share (see forge.h and forge_int.h).
 *
 * Each forge's file knows its events and nothing else; this file owns the
 * steps every delivery goes through: size check, strict JSON parse, a JSON
 * object at the root, dispatch, and a final fg_event_check so no parser can
 * hand back an event that lacks what its kind needs.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "event.h"
#include "forge.h"
#include "forge_int.h"
#include "util.h"
#include "banned.h"

/* Longest path segment a parser asks for ("pull_request", "changelog"). */
#define KEY_MAX 64

int
fg_forge__lookup(const cJSON **out, const cJSON *root, const char *path,
    struct fg_err *err)
{
	char key[KEY_MAX];
	const cJSON *node = root;
	const char *p = path, *dot;
	size_t n;

	*out = NULL;
	for (;;) {
		dot = strchr(p, '.');
		n = dot != NULL ? (size_t)(dot - p) : strlen(p);
		assert(n < sizeof(key));
		memcpy(key, p, n);
		key[n] = '\0';
		node = cJSON_GetObjectItemCaseSensitive(node, key);
		if (node == NULL || cJSON_IsNull(node))
			return 0;
		if (dot == NULL)
			break;
		if (!cJSON_IsObject(node))
			return fg_err_set(err, FG_EINVALID, "field '%.*s' must "
			    "be an object", (int)(dot - path), path);
		p = dot + 1;
	}
	*out = node;
	return 0;
}

int
fg_forge__str(const char **out, const cJSON *root, const char *path,
    bool required, struct fg_err *err)
{
	const cJSON *node;
	int rc;

	*out = NULL;
	rc = fg_forge__lookup(&node, root, path, err);
	if (rc < 0)
		return rc;
	if (node != NULL && !cJSON_IsString(node))
		return fg_err_set(err, FG_EINVALID, "field '%s' must be a "
		    "string", path);
	if (node != NULL)
		*out = node->valuestring;
	if (required && (*out == NULL || **out == '\0'))
		return fg_err_set(err, FG_EINVALID, "missing field '%s'",
		    path);
	return 0;
}

int
fg_forge__set(struct fg_event *ev, enum fg_event_field f, const cJSON *root,
    const char *path, bool required, struct fg_err *err)
{
	const char *s;
	int rc;

	rc = fg_forge__str(&s, root, path, required, err);
	if (rc < 0 || s == NULL)
		return rc;
	return fg_event__set_at(ev, f, s, path, err);
}

int
fg_forge__common(struct fg_event *ev, const cJSON *root, bool need_repo,
    struct fg_err *err)
{
	int rc;

	rc = fg_forge__set(ev, FG_EVENT_F_REPO, root, "repository.full_name",
	    need_repo, err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_ACTOR, root, "sender.login",
		    false, err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_ACTION, root, "action", false,
		    err);
	return rc;
}

int
fg_forge__set_ref(struct fg_event *ev, enum fg_event_field f,
    const char *prefix, const cJSON *root, const char *path, bool required,
    struct fg_err *err)
{
	struct fg_buf b = FG_BUF_INIT;
	const char *s;
	int rc;

	rc = fg_forge__str(&s, root, path, required, err);
	if (rc < 0 || s == NULL || *s == '\0')
		goto out;
	if (strncmp(s, "refs/", 5) == 0) {
		rc = fg_event__set_at(ev, f, s, path, err);
		goto out;
	}
	if (fg_buf_puts(&b, prefix) < 0 || fg_buf_puts(&b, s) < 0) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	rc = fg_event__set_at(ev, f, b.ptr, path, err);
out:
	fg_buf_release(&b);
	return rc;
}

int
fg_forge__int(int64_t *out, const cJSON *root, const char *path, int64_t min,
    int64_t max, bool required, struct fg_err *err)
{
	const cJSON *node;
	double d;
	int rc;

	rc = fg_forge__lookup(&node, root, path, err);
	if (rc < 0)
		return rc;
	if (node == NULL) {
		if (required)
			return fg_err_set(err, FG_EINVALID, "missing field "
			    "'%s'", path);
		return 0;
	}
	if (!cJSON_IsNumber(node))
		return fg_err_set(err, FG_EINVALID, "field '%s' must be a "
		    "number", path);
	d = node->valuedouble;
	if (!isfinite(d) || d != floor(d) || d < (double)min ||
	    d > (double)max)
		return fg_err_set(err, FG_EINVALID, "field '%s' must be an "
		    "integer from %lld to %lld", path, (long long)min,
		    (long long)max);
	*out = (int64_t)d;
	return 0;
}

int
fg_forge__bool(bool *out, const cJSON *root, const char *path,
    struct fg_err *err)
{
	const cJSON *node;
	int rc;

	*out = false;
	rc = fg_forge__lookup(&node, root, path, err);
	if (rc < 0 || node == NULL)
		return rc;
	if (!cJSON_IsBool(node))
		return fg_err_set(err, FG_EINVALID, "field '%s' must be true "
		    "or false", path);
	*out = cJSON_IsTrue(node);
	return 0;
}

/* Read n decimal digits at *s into *out and move past them. */
static bool
digits(int *out, const char **s, int n)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if ((*s)[i] < '0' || (*s)[i] > '9')
			return false;
		v = v * 10 + ((*s)[i] - '0');
	}
	*out = v;
	*s += n;
	return true;
}

/* Move past the character c at *s, if it is there. */
static bool
lit(const char **s, char c)
{
	if (**s != c)
		return false;
	(*s)++;
	return true;
}

/*
 * "YYYY-MM-DD(T| )HH:MM:SS[.fraction](Z| UTC|+HH:MM|-HH:MM|+HHMM)" in
 * seconds since the epoch.
 */
static bool
parse_time(int64_t *out, const char *s)
{
	int y, mo, d, h, mi, se, oh = 0, om = 0, sign = 0;
	char iso[32];
	int64_t t;

	if (!digits(&y, &s, 4) || !lit(&s, '-') || !digits(&mo, &s, 2) ||
	    !lit(&s, '-') || !digits(&d, &s, 2))
		return false;
	if (!lit(&s, 'T') && !lit(&s, ' '))
		return false;
	if (!digits(&h, &s, 2) || !lit(&s, ':') || !digits(&mi, &s, 2) ||
	    !lit(&s, ':') || !digits(&se, &s, 2))
		return false;
	if (lit(&s, '.')) {
		if (*s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (strcmp(s, "Z") == 0 || strcmp(s, " UTC") == 0) {
		sign = 0;
	} else if (*s == '+' || *s == '-') {
		sign = *s == '+' ? 1 : -1;
		s++;
		if (!digits(&oh, &s, 2))
			return false;
		lit(&s, ':');
		if (!digits(&om, &s, 2) || *s != '\0' || oh > 23 || om > 59)
			return false;
	} else {
		return false;
	}
	snprintf(iso, sizeof(iso), "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d,
	    h, mi, se);
	if (fg_parse_utc(&t, iso) < 0)
		return false;
	*out = t - sign * (int64_t)(oh * 3600 + om * 60);
	return true;
}

int64_t
fg_forge__time(const cJSON *root, const char *path, int64_t div)
{
	const cJSON *node;
	int64_t t = 0;
	double d;

	if (fg_forge__lookup(&node, root, path, NULL) < 0 || node == NULL)
		return 0;
	if (cJSON_IsString(node)) {
		if (!parse_time(&t, node->valuestring))
			t = 0;
	} else if (cJSON_IsNumber(node)) {
		d = node->valuedouble;
		if (isfinite(d) && d >= 0 && d <= 9007199254740992.0)
			t = (int64_t)d / (div > 0 ? div : 1);
	}
	if (t < FG_EVENT_TIME_MIN || t > FG_EVENT_TIME_MAX)
		t = 0;
	return t;
}

bool
fg_forge__is_zero(const char *oid)
{
	return strcmp(oid, FG_ZERO_OID) == 0;
}

enum fg_event_kind
fg_forge__push_kind(const struct fg_event *ev, bool deleted)
{
	const char *ref = ev->ref != NULL ? ev->ref : "";
	bool tag = strncmp(ref, "refs/tags/", 10) == 0;
	bool branch = strncmp(ref, "refs/heads/", 11) == 0;

	if (deleted || fg_forge__is_zero(ev->new_id)) {
		if (tag)
			return FG_EVENT_TAG_DELETED;
		if (branch)
			return FG_EVENT_BRANCH_DELETED;
		return FG_EVENT_PUSH;
	}
	if (tag && fg_forge__is_zero(ev->old_id))
		return FG_EVENT_TAG_CREATED;
	return FG_EVENT_PUSH;
}

int
fg_forge__pull_request(struct fg_event *ev, const cJSON *root,
    struct fg_err *err)
{
	int rc;

	rc = fg_forge__int(&ev->pr_number, root, "pull_request.number", 1,
	    FG_EVENT_PR_MAX, true, err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_PR_TITLE, root,
		    "pull_request.title", false, err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_PR_AUTHOR, root,
		    "pull_request.user.login", false, err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_PR_HEAD_SHA, root,
		    "pull_request.head.sha", true, err);
	if (rc == 0)
		rc = fg_forge__set_ref(ev, FG_EVENT_F_HEAD_REF, "refs/heads/",
		    root, "pull_request.head.ref", true, err);
	if (rc == 0)
		rc = fg_forge__set_ref(ev, FG_EVENT_F_BASE_REF, "refs/heads/",
		    root, "pull_request.base.ref", true, err);
	if (rc == 0)
		rc = fg_forge__bool(&ev->merged, root, "pull_request.merged",
		    err);
	/* GitHub fills merge_commit_sha with a test merge while open. */
	if (rc == 0 && ev->merged)
		rc = fg_forge__set(ev, FG_EVENT_F_NEW, root,
		    "pull_request.merge_commit_sha", false, err);
	if (rc == 0)
		rc = fg_event__set_at(ev, FG_EVENT_F_REF, ev->base_ref,
		    "pull_request.base.ref", err);
	if (rc == 0)
		ev->time = fg_forge__time(root, "pull_request.updated_at", 1);
	return rc;
}

int
fg_forge__ref_event(struct fg_event *ev, const cJSON *root, bool created,
    struct fg_err *err)
{
	const char *type, *prefix;
	int rc;

	rc = fg_forge__str(&type, root, "ref_type", true, err);
	if (rc < 0)
		return rc;
	if (strcmp(type, "branch") == 0) {
		prefix = "refs/heads/";
		ev->kind = created ? FG_EVENT_BRANCH_CREATED :
		    FG_EVENT_BRANCH_DELETED;
	} else if (strcmp(type, "tag") == 0) {
		prefix = "refs/tags/";
		ev->kind = created ? FG_EVENT_TAG_CREATED :
		    FG_EVENT_TAG_DELETED;
	} else {
		/* GitHub's create of a repository: nothing to do. */
		ev->kind = FG_EVENT_IGNORED;
		return 0;
	}
	rc = fg_forge__set_ref(ev, FG_EVENT_F_REF, prefix, root, "ref", true,
	    err);
	if (rc == 0 && created)
		rc = fg_forge__set(ev, FG_EVENT_F_NEW, root, "sha", false, err);
	return rc;
}

/*
 * The generic webhook: the body is an event.json document.  Its source
 * must say generic, so a holder of the generic secret cannot pass an event
 * off as GitHub's.
 */
static int
parse_generic(struct fg_event *ev, const cJSON *root, struct fg_err *err)
{
	int rc;

	rc = fg_event_from_json(ev, root, err);
	if (rc < 0)
		return rc;
	if (ev->source != FG_FORGE_GENERIC)
		return fg_err_set(err, FG_EINVALID, "field 'source' must be "
		    "'generic' on the generic webhook, not '%s'",
		    fg_forge_name(ev->source));
	return 0;
}

int
fg_forge_parse(struct fg_event *out, enum fg_forge forge,
    const char *event_header, const char *body, size_t len,
    struct fg_err *err)
{
	cJSON *root = NULL;
	int rc;

	fg_event_init(out);
	if (body == NULL || len == 0) {
		rc = fg_err_set(err, FG_EINVALID, "empty payload");
		goto out;
	}
	if (len > FG_FORGE_BODY_MAX) {
		rc = fg_err_set(err, FG_ELIMIT, "payload is larger than the "
		    "limit of %u bytes", FG_FORGE_BODY_MAX);
		goto out;
	}
	rc = fg_json_parse(&root, body, len, err);
	if (rc < 0)
		goto out;
	if (!cJSON_IsObject(root)) {
		rc = fg_err_set(err, FG_EINVALID, "payload is not a JSON "
		    "object");
		goto out;
	}
	out->source = forge;
	switch (forge) {
	case FG_FORGE_GITHUB:
		rc = fg_forge__github(out, event_header, root, err);
		break;
	case FG_FORGE_GITEA:
	case FG_FORGE_FORGEJO:
		rc = fg_forge__gitea(out, event_header, root, err);
		break;
	case FG_FORGE_GITLAB:
		rc = fg_forge__gitlab(out, event_header, root, err);
		break;
	case FG_FORGE_JIRA:
		rc = fg_forge__jira(out, root, err);
		break;
	case FG_FORGE_GENERIC:
		rc = parse_generic(out, root, err);
		break;
	default:
		rc = fg_err_set(err, FG_EINVALID, "'%s' events do not come by "
		    "webhook", fg_forge_name(forge));
		break;
	}
	if (rc == 0)
		rc = fg_event_check(out, err);
out:
	cJSON_Delete(root);
	if (rc < 0)
		fg_event_release(out);
	return rc;
}
