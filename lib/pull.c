/*
 * pull.c - a pull request's state from its events (see pull.h).
 */
#include <stdbool.h>
#include <string.h>

#include "pull.h"
#include "util.h"
#include "banned.h"

#define ZERO_OID "0000000000000000000000000000000000000000"

static const char *
review_state(enum fg_event_kind k)
{
	switch (k) {
	case FG_EVENT_REVIEW_APPROVED: return "approved";
	case FG_EVENT_REVIEW_CHANGES_REQUESTED: return "changes_requested";
	case FG_EVENT_REVIEW_COMMENTED: return "commented";
	default: return "dismissed";
	}
}

static void
set_str(cJSON *o, const char *key, const char *value)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, key);
	if (value != NULL && *value != '\0')
		cJSON_AddStringToObject(o, key, value);
}

static cJSON *
obj(cJSON *parent, const char *key)
{
	cJSON *o = cJSON_GetObjectItemCaseSensitive(parent, key);

	if (cJSON_IsObject(o))
		return o;
	cJSON_DeleteItemFromObjectCaseSensitive(parent, key);
	return cJSON_AddObjectToObject(parent, key);
}

static const char *
str_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/*
 * Apply ev to the pull request state pull (pull.json, built up from an
 * empty object when the pull request is new).
 */
void
fg_pull_apply(cJSON *pull, const struct fg_event *ev)
{
	cJSON *head, *base, *reviews, *r, *found = NULL;
	const char *head_sha, *prev;
	char t[32];

	fg_format_utc(t, sizeof(t), ev->time != 0 ? ev->time : fg_now());
	cJSON_DeleteItemFromObjectCaseSensitive(pull, "version");
	cJSON_AddNumberToObject(pull, "version", 1);
	cJSON_DeleteItemFromObjectCaseSensitive(pull, "number");
	cJSON_AddNumberToObject(pull, "number", (double)ev->pr_number);
	if (ev->source == FG_FORGE_GITHUB || ev->source == FG_FORGE_GITEA ||
	    ev->source == FG_FORGE_FORGEJO || ev->source == FG_FORGE_GITLAB ||
	    ev->source == FG_FORGE_GENERIC || ev->source == FG_FORGE_CLI)
		set_str(pull, "forge", fg_forge_name(ev->source));
	set_str(pull, "repo", ev->repo);
	if (ev->pr_title != NULL)
		set_str(pull, "title", ev->pr_title);
	if (ev->pr_author != NULL)
		set_str(pull, "author", ev->pr_author);
	head = obj(pull, "head");
	base = obj(pull, "base");
	if (ev->head_ref != NULL)
		set_str(head, "ref", ev->head_ref);
	if (ev->pr_head_sha[0] != '\0')
		set_str(head, "sha", ev->pr_head_sha);
	else if (ev->kind == FG_EVENT_PR_SYNCHRONIZED && ev->new_id[0] != '\0')
		set_str(head, "sha", ev->new_id);
	if (str_of(head, "sha") == NULL)
		set_str(head, "sha", ZERO_OID);
	if (ev->base_ref != NULL)
		set_str(base, "ref", ev->base_ref);
	if (str_of(base, "ref") == NULL)
		set_str(base, "ref", ev->ref != NULL ? ev->ref :
		    "refs/heads/unknown");
	prev = str_of(pull, "state");
	switch (ev->kind) {
	case FG_EVENT_PR_OPENED:
	case FG_EVENT_PR_REOPENED:
	case FG_EVENT_PR_SYNCHRONIZED:
		set_str(pull, "state", "open");
		break;
	case FG_EVENT_PR_CLOSED:
		set_str(pull, "state", "closed");
		break;
	case FG_EVENT_PR_MERGED:
		set_str(pull, "state", "merged");
		if (ev->new_id[0] != '\0')
			set_str(pull, "merge_sha", ev->new_id);
		break;
	default:
		if (prev == NULL)
			set_str(pull, "state", "open");
		break;
	}
	reviews = cJSON_GetObjectItemCaseSensitive(pull, "reviews");
	if (!cJSON_IsArray(reviews)) {
		cJSON_DeleteItemFromObjectCaseSensitive(pull, "reviews");
		reviews = cJSON_AddArrayToObject(pull, "reviews");
	}
	if (ev->kind >= FG_EVENT_REVIEW_APPROVED &&
	    ev->kind <= FG_EVENT_REVIEW_DISMISSED && ev->reviewer != NULL &&
	    reviews != NULL) {
		const char *state = review_state(ev->kind);

		cJSON_ArrayForEach(r, reviews) {
			const char *u = str_of(r, "user");

			if (u != NULL && strcmp(u, ev->reviewer) == 0)
				found = r;
		}
		/*
		 * Each reviewer's latest verdict counts; a comment is no
		 * verdict, so it does not replace an approval or a request
		 * for changes.
		 */
		prev = found != NULL ? str_of(found, "state") : NULL;
		if (!(ev->kind == FG_EVENT_REVIEW_COMMENTED && prev != NULL &&
		    strcmp(prev, "commented") != 0)) {
			if (found == NULL) {
				found = cJSON_CreateObject();
				cJSON_AddItemToArray(reviews, found);
			}
			head_sha = str_of(head, "sha");
			set_str(found, "user", ev->reviewer);
			set_str(found, "state", state);
			set_str(found, "commit", ev->sha[0] != '\0' ? ev->sha :
			    head_sha);
			set_str(found, "time", t);
		}
	}
	set_str(pull, "updated", t);
}
