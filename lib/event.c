/*
 * event.c - the normalized event: checked setters, names, event.json
 * (see event.h).
 *
 * One table describes every string field: its JSON name, how its value is
 * checked, and where it lives in the struct.  The setter, the writer and
 * the reader all walk that table, so event.json cannot drift from the
 * struct and no field escapes the checks.
 */
#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "forge_int.h"
#include "util.h"
#include "banned.h"

/* How a string field's value is checked (see fg_event_set in event.h). */
enum fclass {
	C_NAME,
	C_TEXT,
	C_REPO,
	C_REF,
	C_OID,
	C_STATE,
	C_URL,
	C_JIRA_KEY,
	C_JIRA_PROJECT,
	C_DELIVERY,
};

struct field {
	const char *name;
	enum fclass cls;
	size_t off;
};

#define F(e, n, c, m) [e] = { n, c, offsetof(struct fg_event, m) }

static const struct field fields[] = {
	F(FG_EVENT_F_EVENT, "event", C_NAME, event),
	F(FG_EVENT_F_ACTION, "action", C_NAME, action),
	F(FG_EVENT_F_REPO, "repo", C_REPO, repo),
	F(FG_EVENT_F_REF, "ref", C_REF, ref),
	F(FG_EVENT_F_OLD, "old", C_OID, old_id),
	F(FG_EVENT_F_NEW, "new", C_OID, new_id),
	F(FG_EVENT_F_PR_HEAD_SHA, "pr_head_sha", C_OID, pr_head_sha),
	F(FG_EVENT_F_HEAD_REF, "head_ref", C_REF, head_ref),
	F(FG_EVENT_F_BASE_REF, "base_ref", C_REF, base_ref),
	F(FG_EVENT_F_PR_TITLE, "pr_title", C_TEXT, pr_title),
	F(FG_EVENT_F_PR_AUTHOR, "pr_author", C_NAME, pr_author),
	F(FG_EVENT_F_REVIEWER, "reviewer", C_NAME, reviewer),
	F(FG_EVENT_F_REVIEW_STATE, "review_state", C_NAME, review_state),
	F(FG_EVENT_F_CONTEXT, "context", C_NAME, context),
	F(FG_EVENT_F_STATE, "state", C_STATE, state),
	F(FG_EVENT_F_TARGET_URL, "target_url", C_URL, target_url),
	F(FG_EVENT_F_DESCRIPTION, "description", C_TEXT, description),
	F(FG_EVENT_F_SHA, "sha", C_OID, sha),
	F(FG_EVENT_F_JIRA_KEY, "jira_key", C_JIRA_KEY, jira_key),
	F(FG_EVENT_F_JIRA_PROJECT, "jira_project", C_JIRA_PROJECT,
	    jira_project),
	F(FG_EVENT_F_JIRA_FROM, "jira_from", C_NAME, jira_from),
	F(FG_EVENT_F_JIRA_TO, "jira_to", C_NAME, jira_to),
	F(FG_EVENT_F_ACTOR, "actor", C_NAME, actor),
	F(FG_EVENT_F_DELIVERY, "delivery", C_DELIVERY, delivery),
};

#undef F

static const char *const kind_names[] = {
	[FG_EVENT_IGNORED] = "ignored",
	[FG_EVENT_PUSH] = "push",
	[FG_EVENT_BRANCH_CREATED] = "branch_created",
	[FG_EVENT_BRANCH_DELETED] = "branch_deleted",
	[FG_EVENT_TAG_CREATED] = "tag_created",
	[FG_EVENT_TAG_DELETED] = "tag_deleted",
	[FG_EVENT_PR_OPENED] = "pr_opened",
	[FG_EVENT_PR_SYNCHRONIZED] = "pr_synchronized",
	[FG_EVENT_PR_CLOSED] = "pr_closed",
	[FG_EVENT_PR_MERGED] = "pr_merged",
	[FG_EVENT_PR_REOPENED] = "pr_reopened",
	[FG_EVENT_REVIEW_APPROVED] = "review_approved",
	[FG_EVENT_REVIEW_CHANGES_REQUESTED] = "review_changes_requested",
	[FG_EVENT_REVIEW_COMMENTED] = "review_commented",
	[FG_EVENT_REVIEW_DISMISSED] = "review_dismissed",
	[FG_EVENT_STATUS] = "status",
	[FG_EVENT_CHECK_RUN] = "check_run",
	[FG_EVENT_CHECK_SUITE] = "check_suite",
	[FG_EVENT_JIRA_ISSUE] = "jira_issue",
	[FG_EVENT_PING] = "ping",
};

static const char *const forge_names[] = {
	[FG_FORGE_GITHUB] = "github",
	[FG_FORGE_GITEA] = "gitea",
	[FG_FORGE_FORGEJO] = "forgejo",
	[FG_FORGE_GITLAB] = "gitlab",
	[FG_FORGE_JIRA] = "jira",
	[FG_FORGE_GENERIC] = "generic",
	[FG_FORGE_HOOK] = "hook",
	[FG_FORGE_CLI] = "cli",
	[FG_FORGE_TICK] = "tick",
};

static const char *const status_states[] = {
	"success", "failure", "pending", "error",
};

static char **
str_slot(struct fg_event *ev, const struct field *fd)
{
	return (char **)(void *)((char *)ev + fd->off);
}

static const char *
str_get(const struct fg_event *ev, const struct field *fd)
{
	if (fd->cls == C_OID)
		return (const char *)ev + fd->off;
	return *(char *const *)(const void *)((const char *)ev + fd->off);
}

void
fg_event_init(struct fg_event *ev)
{
	memset(ev, 0, sizeof(*ev));
}

void
fg_event_release(struct fg_event *ev)
{
	size_t i;

	if (ev == NULL)
		return;
	for (i = 0; i < FG_ARRAY_SIZE(fields); i++)
		if (fields[i].cls != C_OID)
			free(*str_slot(ev, &fields[i]));
	fg_event_init(ev);
}

/*
 * True when s holds a control character: C0, DEL, the C1 range (UTF-8
 * C2 80..C2 9F, which has NEL) or the Unicode line and paragraph
 * separators (E2 80 A8/A9).  Any of them could start a new line in a
 * commit message, a log line or a terminal.  s is valid UTF-8.
 */
static bool
has_control(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	for (; *s != '\0'; s++) {
		if (*s < 0x20 || *s == 0x7f)
			return true;
		if (s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f)
			return true;
		if (s[0] == 0xe2 && s[1] == 0x80 &&
		    (s[2] == 0xa8 || s[2] == 0xa9))
			return true;
	}
	return false;
}

static bool
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static bool
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/*
 * A repository name names a directory under the daemon's root, so it is
 * held to what GitHub, Gitea and GitLab allow in owner, group and project
 * paths: components of [A-Za-z0-9._-], at least two of them, none empty,
 * none "." or "..".
 */
static bool
repo_is_valid(const char *s)
{
	size_t comps = 0, n = 0;
	const char *start = s;

	for (;; s++) {
		if (*s == '/' || *s == '\0') {
			if (n == 0 || (n == 1 && start[0] == '.') ||
			    (n == 2 && start[0] == '.' && start[1] == '.'))
				return false;
			comps++;
			if (*s == '\0')
				break;
			start = s + 1;
			n = 0;
			continue;
		}
		if (!is_alnum(*s) && *s != '.' && *s != '_' && *s != '-')
			return false;
		n++;
	}
	return comps >= 2;
}

/* PROJECT-123, or PROJECT alone when project_only. */
static bool
jira_key_is_valid(const char *s, bool project_only)
{
	size_t digits = 0;

	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return false;
	for (s++; is_alnum(*s) || *s == '_'; s++)
		;
	if (project_only)
		return *s == '\0';
	if (*s++ != '-')
		return false;
	for (; *s >= '0' && *s <= '9'; s++)
		digits++;
	return digits > 0 && *s == '\0';
}

static bool
url_is_valid(const char *s)
{
	if (strncasecmp(s, "https://", 8) != 0 &&
	    strncasecmp(s, "http://", 7) != 0)
		return false;
	return strchr(s, ' ') == NULL;
}

static bool
delivery_is_valid(const char *s)
{
	for (; *s != '\0'; s++)
		if (!is_alnum(*s) && *s != '.' && *s != '_' && *s != ':' &&
		    *s != '-')
			return false;
	return true;
}

static bool
state_is_valid(const char *s)
{
	size_t i;

	for (i = 0; i < FG_ARRAY_SIZE(status_states); i++)
		if (strcmp(s, status_states[i]) == 0)
			return true;
	return false;
}

static size_t
class_max(enum fclass cls)
{
	switch (cls) {
	case C_TEXT:
		return FG_EVENT_TEXT_MAX;
	case C_REF:
		return FG_EVENT_REF_MAX;
	case C_URL:
		return FG_EVENT_URL_MAX;
	case C_DELIVERY:
		return FG_EVENT_DELIVERY_MAX;
	case C_OID:
		return FG_OID_HEXSZ;
	default:
		return FG_EVENT_NAME_MAX;
	}
}

/* Store a commit id, lowercased, into the fixed array dst. */
static int
set_oid(char *dst, const char *value, const char *where, struct fg_err *err)
{
	size_t i;

	for (i = 0; i < FG_OID_HEXSZ; i++)
		if (!is_hex(value[i]))
			break;
	if (i != FG_OID_HEXSZ || value[i] != '\0')
		return fg_err_set(err, FG_EINVALID,
		    "field '%s' is not a %d-hex commit id", where,
		    FG_OID_HEXSZ);
	for (i = 0; i < FG_OID_HEXSZ; i++)
		dst[i] = value[i] >= 'A' && value[i] <= 'F' ?
		    (char)(value[i] - 'A' + 'a') : value[i];
	dst[FG_OID_HEXSZ] = '\0';
	return 0;
}

/*
 * Length of the longest prefix of s (valid UTF-8, len bytes) that is at
 * most max bytes and ends on a character boundary.
 */
static size_t
utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}

/* Does value pass its class's own rule (beyond UTF-8, length, controls)? */
static int
check_class(const struct field *fd, const char *value, const char *where,
    struct fg_err *err)
{
	switch (fd->cls) {
	case C_REPO:
		if (!repo_is_valid(value))
			return fg_err_set(err, FG_EINVALID, "field '%s' is not "
			    "a repository name: '%s'", where, value);
		break;
	case C_REF:
		if (!fg_refname_is_valid(value))
			return fg_err_set(err, FG_EINVALID, "field '%s' is not "
			    "a valid ref name: '%s'", where, value);
		break;
	case C_STATE:
		if (!state_is_valid(value))
			return fg_err_set(err, FG_EINVALID, "field '%s' must be "
			    "one of success, failure, pending, error", where);
		break;
	case C_URL:
		if (!url_is_valid(value))
			return fg_err_set(err, FG_EINVALID, "field '%s' is not "
			    "an http(s) URL", where);
		break;
	case C_JIRA_KEY:
	case C_JIRA_PROJECT:
		if (!jira_key_is_valid(value, fd->cls == C_JIRA_PROJECT))
			return fg_err_set(err, FG_EINVALID, "field '%s' is not "
			    "a Jira %s key: '%s'", where,
			    fd->cls == C_JIRA_KEY ? "issue" : "project", value);
		break;
	case C_DELIVERY:
		if (!delivery_is_valid(value))
			return fg_err_set(err, FG_EINVALID, "field '%s' holds "
			    "characters other than letters, digits and "
			    "'.', '_', ':', '-'", where);
		break;
	default:
		break;
	}
	return 0;
}

int
fg_event__set_at(struct fg_event *ev, enum fg_event_field f,
    const char *value, const char *where, struct fg_err *err)
{
	const struct field *fd;
	char **slot, *copy = NULL, *p;
	size_t len, max, keep;
	bool cut = false;
	int rc;

	assert((size_t)f < FG_ARRAY_SIZE(fields));
	fd = &fields[f];
	if (where == NULL)
		where = fd->name;
	if (fd->cls == C_OID) {
		if (value == NULL || *value == '\0') {
			((char *)ev + fd->off)[0] = '\0';
			return 0;
		}
		return set_oid((char *)ev + fd->off, value, where, err);
	}
	slot = str_slot(ev, fd);
	if (value == NULL || *value == '\0') {
		free(*slot);
		*slot = NULL;
		return 0;
	}
	len = strlen(value);
	if (!fg_utf8_is_valid(value, len))
		return fg_err_set(err, FG_EINVALID,
		    "field '%s' is not valid UTF-8", where);
	max = class_max(fd->cls);
	keep = len;
	if (fd->cls == C_TEXT) {
		keep = utf8_cut(value, len, max);
		cut = keep < len;
	} else if (len > max) {
		return fg_err_set(err, FG_EINVALID,
		    "field '%s' is too long (%zu bytes, at most %zu)", where,
		    len, max);
	} else if (has_control(value)) {
		return fg_err_set(err, FG_EINVALID,
		    "field '%s' holds a control character", where);
	}
	rc = check_class(fd, value, where, err);
	if (rc < 0)
		return rc;
	copy = strndup(value, keep);
	if (copy == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	if (fd->cls == C_TEXT)
		for (p = copy; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = ' ';
	free(*slot);
	*slot = copy;
	if (cut)
		ev->truncated = true;
	return 0;
}

int
fg_event_set(struct fg_event *ev, enum fg_event_field f, const char *value,
    struct fg_err *err)
{
	return fg_event__set_at(ev, f, value, NULL, err);
}

int
fg_event_set_delivery(struct fg_event *ev, const char *id,
    struct fg_err *err)
{
	return fg_event_set(ev, FG_EVENT_F_DELIVERY, id, err);
}

const char *
fg_event_kind_name(enum fg_event_kind kind)
{
	if ((size_t)kind >= FG_ARRAY_SIZE(kind_names))
		return "ignored";
	return kind_names[kind];
}

int
fg_event_kind_from_name(enum fg_event_kind *out, const char *name,
    struct fg_err *err)
{
	size_t i;

	for (i = 0; name != NULL && i < FG_ARRAY_SIZE(kind_names); i++) {
		if (strcmp(name, kind_names[i]) == 0) {
			*out = (enum fg_event_kind)i;
			return 0;
		}
	}
	return fg_err_set(err, FG_EINVALID, "unknown event kind '%s'",
	    name != NULL ? name : "");
}

const char *
fg_forge_name(enum fg_forge forge)
{
	if ((size_t)forge >= FG_ARRAY_SIZE(forge_names))
		return "unknown";
	return forge_names[forge];
}

int
fg_forge_from_name(enum fg_forge *out, const char *name, struct fg_err *err)
{
	size_t i;

	for (i = 0; name != NULL && i < FG_ARRAY_SIZE(forge_names); i++) {
		if (strcmp(name, forge_names[i]) == 0) {
			*out = (enum fg_forge)i;
			return 0;
		}
	}
	return fg_err_set(err, FG_EINVALID, "unknown source '%s'",
	    name != NULL ? name : "");
}

static bool
is_zero_oid(const char *s)
{
	return strcmp(s, "0000000000000000000000000000000000000000") == 0;
}

static int
missing(const struct fg_event *ev, const char *field, struct fg_err *err)
{
	return fg_err_set(err, FG_EINVALID, "missing field '%s' for a '%s' "
	    "event", field, fg_event_kind_name(ev->kind));
}

static int
require_prefix(const struct fg_event *ev, const char *prefix,
    struct fg_err *err)
{
	if (ev->ref == NULL)
		return missing(ev, "ref", err);
	if (strncmp(ev->ref, prefix, strlen(prefix)) != 0)
		return fg_err_set(err, FG_EINVALID, "field 'ref' must be under "
		    "'%s' for a '%s' event", prefix,
		    fg_event_kind_name(ev->kind));
	return 0;
}

int
fg_event_check(const struct fg_event *ev, struct fg_err *err)
{
	if ((size_t)ev->kind >= FG_ARRAY_SIZE(kind_names))
		return fg_err_set(err, FG_EINVALID, "unknown event kind %d",
		    (int)ev->kind);
	if ((size_t)ev->source >= FG_ARRAY_SIZE(forge_names))
		return fg_err_set(err, FG_EINVALID, "unknown source %d",
		    (int)ev->source);
	if (ev->pr_number < 0 || ev->pr_number > FG_EVENT_PR_MAX)
		return fg_err_set(err, FG_EINVALID, "field 'pr_number' is out "
		    "of range");
	if (ev->time < FG_EVENT_TIME_MIN || ev->time > FG_EVENT_TIME_MAX)
		return fg_err_set(err, FG_EINVALID, "field 'time' is out of "
		    "range");
	switch (ev->kind) {
	case FG_EVENT_PUSH:
		if (ev->repo == NULL)
			return missing(ev, "repo", err);
		if (ev->new_id[0] == '\0')
			return missing(ev, "new", err);
		return require_prefix(ev, "refs/", err);
	case FG_EVENT_BRANCH_CREATED:
	case FG_EVENT_BRANCH_DELETED:
		if (ev->repo == NULL)
			return missing(ev, "repo", err);
		return require_prefix(ev, "refs/heads/", err);
	case FG_EVENT_TAG_CREATED:
	case FG_EVENT_TAG_DELETED:
		if (ev->repo == NULL)
			return missing(ev, "repo", err);
		return require_prefix(ev, "refs/tags/", err);
	case FG_EVENT_PR_OPENED:
	case FG_EVENT_PR_SYNCHRONIZED:
	case FG_EVENT_PR_CLOSED:
	case FG_EVENT_PR_MERGED:
	case FG_EVENT_PR_REOPENED:
		if (ev->repo == NULL)
			return missing(ev, "repo", err);
		if (ev->pr_number == 0)
			return missing(ev, "pr_number", err);
		return 0;
	case FG_EVENT_REVIEW_APPROVED:
	case FG_EVENT_REVIEW_CHANGES_REQUESTED:
	case FG_EVENT_REVIEW_COMMENTED:
	case FG_EVENT_REVIEW_DISMISSED:
		if (ev->repo == NULL)
			return missing(ev, "repo", err);
		if (ev->pr_number == 0)
			return missing(ev, "pr_number", err);
		if (ev->reviewer == NULL)
			return missing(ev, "reviewer", err);
		return 0;
	case FG_EVENT_STATUS:
	case FG_EVENT_CHECK_RUN:
	case FG_EVENT_CHECK_SUITE:
		if (ev->repo == NULL)
			return missing(ev, "repo", err);
		if (ev->sha[0] == '\0' || is_zero_oid(ev->sha))
			return missing(ev, "sha", err);
		if (ev->context == NULL)
			return missing(ev, "context", err);
		if (ev->state == NULL)
			return missing(ev, "state", err);
		return 0;
	case FG_EVENT_JIRA_ISSUE:
		if (ev->jira_key == NULL)
			return missing(ev, "jira_key", err);
		if (ev->jira_to == NULL)
			return missing(ev, "jira_to", err);
		return 0;
	case FG_EVENT_PING:
	case FG_EVENT_IGNORED:
		return 0;
	}
	return 0;
}

int
fg_event_to_json(cJSON **out, const struct fg_event *ev, struct fg_err *err)
{
	cJSON *root = NULL;
	const char *s;
	size_t i;
	bool ok;
	int rc = 0;

	*out = NULL;
	root = cJSON_CreateObject();
	if (root == NULL)
		goto nomem;
	ok = cJSON_AddNumberToObject(root, "version",
	    FG_EVENT_JSON_VERSION) != NULL &&
	    cJSON_AddStringToObject(root, "source",
	    fg_forge_name(ev->source)) != NULL &&
	    cJSON_AddStringToObject(root, "kind",
	    fg_event_kind_name(ev->kind)) != NULL;
	for (i = 0; ok && i < FG_ARRAY_SIZE(fields); i++) {
		s = str_get(ev, &fields[i]);
		if (s != NULL && *s != '\0')
			ok = cJSON_AddStringToObject(root, fields[i].name, s) !=
			    NULL;
	}
	if (ok && ev->pr_number != 0)
		ok = cJSON_AddNumberToObject(root, "pr_number",
		    (double)ev->pr_number) != NULL;
	if (ok && ev->forced)
		ok = cJSON_AddTrueToObject(root, "forced") != NULL;
	if (ok && ev->merged)
		ok = cJSON_AddTrueToObject(root, "merged") != NULL;
	if (ok && ev->truncated)
		ok = cJSON_AddTrueToObject(root, "truncated") != NULL;
	if (ok)
		ok = cJSON_AddNumberToObject(root, "time", (double)ev->time) !=
		    NULL;
	if (!ok)
		goto nomem;
	*out = root;
	root = NULL;
	goto out;
nomem:
	rc = fg_err_set(err, FG_ENOMEM, "out of memory writing event.json");
out:
	cJSON_Delete(root);
	return rc;
}

/* The integer in item if it is one within [min, max]. */
static bool
json_int(int64_t *out, const cJSON *item, double min, double max)
{
	double d;

	if (!cJSON_IsNumber(item))
		return false;
	d = item->valuedouble;
	if (!isfinite(d) || d != floor(d) || d < min || d > max)
		return false;
	*out = (int64_t)d;
	return true;
}

/*
 * Read one member of event.json into ev.  The special members first, then
 * the string table.  Every member is type-checked before it is read.
 */
static int
read_member(struct fg_event *ev, const cJSON *item, struct fg_err *err)
{
	const char *key = item->string;
	int64_t v;
	size_t i;

	if (strcmp(key, "version") == 0) {
		if (!json_int(&v, item, 0, 1e9) || v != FG_EVENT_JSON_VERSION)
			return fg_err_set(err, FG_EINVALID, "field 'version' "
			    "must be %d", FG_EVENT_JSON_VERSION);
		return 0;
	}
	if (strcmp(key, "source") == 0 || strcmp(key, "kind") == 0) {
		if (!cJSON_IsString(item))
			return fg_err_set(err, FG_EINVALID, "field '%s' must "
			    "be a string", key);
		if (strcmp(key, "source") == 0)
			return fg_forge_from_name(&ev->source,
			    item->valuestring, err);
		return fg_event_kind_from_name(&ev->kind, item->valuestring,
		    err);
	}
	if (strcmp(key, "pr_number") == 0) {
		if (!json_int(&ev->pr_number, item, 1,
		    (double)FG_EVENT_PR_MAX))
			return fg_err_set(err, FG_EINVALID, "field 'pr_number' "
			    "must be an integer from 1 to %lld",
			    (long long)FG_EVENT_PR_MAX);
		return 0;
	}
	if (strcmp(key, "time") == 0) {
		if (!json_int(&ev->time, item, (double)FG_EVENT_TIME_MIN,
		    (double)FG_EVENT_TIME_MAX))
			return fg_err_set(err, FG_EINVALID, "field 'time' must "
			    "be an integer from %lld to %lld",
			    (long long)FG_EVENT_TIME_MIN,
			    (long long)FG_EVENT_TIME_MAX);
		return 0;
	}
	if (strcmp(key, "forced") == 0 || strcmp(key, "merged") == 0 ||
	    strcmp(key, "truncated") == 0) {
		if (!cJSON_IsBool(item))
			return fg_err_set(err, FG_EINVALID, "field '%s' must "
			    "be true or false", key);
		if (strcmp(key, "forced") == 0)
			ev->forced = cJSON_IsTrue(item);
		else if (strcmp(key, "merged") == 0)
			ev->merged = cJSON_IsTrue(item);
		else if (cJSON_IsTrue(item))
			ev->truncated = true;	/* a cut title also set it */
		return 0;
	}
	for (i = 0; i < FG_ARRAY_SIZE(fields); i++) {
		if (strcmp(key, fields[i].name) != 0)
			continue;
		if (!cJSON_IsString(item))
			return fg_err_set(err, FG_EINVALID, "field '%s' must "
			    "be a string", key);
		return fg_event_set(ev, (enum fg_event_field)i,
		    item->valuestring, err);
	}
	return fg_err_set(err, FG_EINVALID, "unknown field '%s'", key);
}

int
fg_event_from_json(struct fg_event *out, const cJSON *json,
    struct fg_err *err)
{
	const cJSON *item, *other;
	int rc = 0;

	fg_event_init(out);
	if (!cJSON_IsObject(json)) {
		rc = fg_err_set(err, FG_EINVALID, "event is not a JSON object");
		goto out;
	}
	if (cJSON_GetObjectItemCaseSensitive(json, "version") == NULL) {
		rc = fg_err_set(err, FG_EINVALID, "missing field 'version'");
		goto out;
	}
	if (cJSON_GetObjectItemCaseSensitive(json, "source") == NULL) {
		rc = fg_err_set(err, FG_EINVALID, "missing field 'source'");
		goto out;
	}
	if (cJSON_GetObjectItemCaseSensitive(json, "kind") == NULL) {
		rc = fg_err_set(err, FG_EINVALID, "missing field 'kind'");
		goto out;
	}
	cJSON_ArrayForEach(item, json) {
		/*
		 * cJSON keeps duplicate keys and finds the first; refuse
		 * them, so no reader ever sees a different value.
		 */
		for (other = json->child; other != item; other = other->next) {
			if (strcmp(other->string, item->string) == 0) {
				rc = fg_err_set(err, FG_EINVALID,
				    "duplicate field '%s'", item->string);
				goto out;
			}
		}
		rc = read_member(out, item, err);
		if (rc < 0)
			goto out;
	}
	rc = fg_event_check(out, err);
out:
	if (rc < 0)
		fg_event_release(out);
	return rc;
}
