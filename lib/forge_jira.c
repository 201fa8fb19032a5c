/*
 * forge_jira.c - Jira webhook payloads to events (mapping in forge.h).
 *
 * Jira sends no event header: the body's webhookEvent says what happened
 * and changelog.items[] what changed.  Flowgate's Jira trigger cares about
 * one thing, an issue moving from one status to another; every other Jira
 * event is recorded as ignored.  Jira Cloud names the changed field in
 * fieldId ("status") and field ("Status" or "status"); Jira Server sends
 * only field.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "event.h"
#include "forge.h"
#include "forge_int.h"
#include "banned.h"

/*
 * Find the status item in changelog.items.  *out is NULL when there is
 * none; *index is its position, for messages.
 */
static int
status_item(const cJSON **out, size_t *index, const cJSON *root,
    struct fg_err *err)
{
	const cJSON *items, *item;
	const char *field;
	size_t i = 0;
	int rc;

	*out = NULL;
	rc = fg_forge__lookup(&items, root, "changelog.items", err);
	if (rc < 0 || items == NULL)
		return rc;
	if (!cJSON_IsArray(items))
		return fg_err_set(err, FG_EINVALID, "field 'changelog.items' "
		    "must be an array");
	cJSON_ArrayForEach(item, items) {
		if (!cJSON_IsObject(item))
			return fg_err_set(err, FG_EINVALID, "field "
			    "'changelog.items[%zu]' must be an object", i);
		if (fg_forge__str(&field, item, "fieldId", false, NULL) < 0)
			return fg_err_set(err, FG_EINVALID, "field "
			    "'changelog.items[%zu].fieldId' must be a string",
			    i);
		if (field == NULL &&
		    fg_forge__str(&field, item, "field", false, NULL) < 0)
			return fg_err_set(err, FG_EINVALID, "field "
			    "'changelog.items[%zu].field' must be a string", i);
		if (field != NULL && strcasecmp(field, "status") == 0) {
			*out = item;
			*index = i;
			return 0;
		}
		i++;
	}
	return 0;
}

/* Copy fromString or toString of the status item into f. */
static int
status_name(struct fg_event *ev, enum fg_event_field f, const cJSON *item,
    size_t index, const char *name, bool required, struct fg_err *err)
{
	const char *value = NULL;
	char path[64];
	int rc;

	snprintf(path, sizeof(path), "changelog.items[%zu].%s", index, name);
	rc = fg_forge__str(&value, item, name, false, err);
	if (rc < 0)
		return fg_err_set(err, FG_EINVALID, "field '%s' must be a "
		    "string", path);
	if (required && (value == NULL || *value == '\0'))
		return fg_err_set(err, FG_EINVALID, "missing field '%s'", path);
	return fg_event__set_at(ev, f, value, path, err);
}

int
fg_forge__jira(struct fg_event *ev, const cJSON *root, struct fg_err *err)
{
	const cJSON *item = NULL;
	size_t index = 0;
	int rc;

	rc = fg_forge__set(ev, FG_EVENT_F_EVENT, root, "webhookEvent", true,
	    err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_ACTION, root,
		    "issue_event_type_name", false, err);
	/* Server names users by name; Cloud by accountId only, lately. */
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_ACTOR, root, "user.name",
		    false, err);
	if (rc == 0 && ev->actor == NULL)
		rc = fg_forge__set(ev, FG_EVENT_F_ACTOR, root,
		    "user.accountId", false, err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_JIRA_KEY, root, "issue.key",
		    false, err);
	if (rc == 0)
		rc = fg_forge__set(ev, FG_EVENT_F_JIRA_PROJECT, root,
		    "issue.fields.project.key", false, err);
	if (rc < 0)
		return rc;
	ev->time = fg_forge__time(root, "timestamp", 1000);
	ev->kind = FG_EVENT_IGNORED;
	if (strcmp(ev->event, "jira:issue_updated") != 0)
		return 0;
	rc = status_item(&item, &index, root, err);
	if (rc < 0 || item == NULL)
		return rc;
	if (ev->jira_key == NULL)
		return fg_err_set(err, FG_EINVALID, "missing field 'issue.key'");
	rc = status_name(ev, FG_EVENT_F_JIRA_FROM, item, index, "fromString",
	    false, err);
	if (rc == 0)
		rc = status_name(ev, FG_EVENT_F_JIRA_TO, item, index,
		    "toString", true, err);
	if (rc == 0)
		ev->kind = FG_EVENT_JIRA_ISSUE;
	return rc;
}
