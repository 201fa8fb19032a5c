/*
 * fuzz_forge.c - libFuzzer target: any bytes as a forge's webhook body.
 *
 * Whatever comes in, fg_forge_parse must give back either an error with a
 * message and an event left empty, or an event that holds only what
 * fg_event_set lets in (event.h): no control characters, valid UTF-8
 * within each field's limit, a repository name that stays under the
 * daemon's root, commit ids of 40 lowercase hex digits, a pull request
 * number and time in range, a kind that fg_event_check accepts.  Such an event must also survive the trip through event.json
 * that the inbox gives it: fg_event_to_json, printed, parsed and read
 * back by fg_event_from_json, then written again, gives the same text.
 * A pull request's event applied to a pull state, even as its first
 * event, must give a pull.json that pull.schema.json accepts, and the
 * event's activity record a record.json that record.schema.json accepts.
 *
 * A body is tried under every (forge, event header) pair the parsers know,
 * so the forges' real payloads (../shared/corpus/webhooks/, which 'make
 * check' feeds it) are seeds as they are.  An input whose first byte is a
 * control character other than a line break or tab names one pair instead
 * (that byte modulo their number) for the rest of the input: cheaper runs
 * for the fuzzer.
 *
 *   make fuzz && mkdir -p /tmp/fg-forge &&
 *   tests/fuzz/fuzz_forge-libfuzzer -max_total_time=600 /tmp/fg-forge \
 *       ../shared/corpus/webhooks/{github,gitea,forgejo,gitlab,jira}
 *
 * Built without libFuzzer (tests/fuzz/replay.c supplies main), the same
 * function is run by 'make check' over the corpus.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "forge.h"
#include "pull.h"
#include "record.h"
#include "schema.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct pair {
	enum fg_forge forge;
	const char *header;
} pairs[] = {
	{ FG_FORGE_GITHUB, "push" },
	{ FG_FORGE_GITHUB, "create" },
	{ FG_FORGE_GITHUB, "delete" },
	{ FG_FORGE_GITHUB, "pull_request" },
	{ FG_FORGE_GITHUB, "pull_request_review" },
	{ FG_FORGE_GITHUB, "status" },
	{ FG_FORGE_GITHUB, "check_run" },
	{ FG_FORGE_GITHUB, "check_suite" },
	{ FG_FORGE_GITHUB, "ping" },
	{ FG_FORGE_GITEA, "push" },
	{ FG_FORGE_GITEA, "create" },
	{ FG_FORGE_GITEA, "delete" },
	{ FG_FORGE_GITEA, "pull_request" },
	{ FG_FORGE_GITEA, "pull_request_approved" },
	{ FG_FORGE_GITEA, "pull_request_rejected" },
	{ FG_FORGE_GITEA, "pull_request_comment" },
	{ FG_FORGE_GITEA, "pull_request_review_approved" },
	{ FG_FORGE_FORGEJO, "push" },
	{ FG_FORGE_FORGEJO, "pull_request" },
	{ FG_FORGE_FORGEJO, "pull_request_review_rejected" },
	{ FG_FORGE_GITLAB, "Push Hook" },
	{ FG_FORGE_GITLAB, "Tag Push Hook" },
	{ FG_FORGE_GITLAB, "Merge Request Hook" },
	{ FG_FORGE_GITLAB, "Pipeline Hook" },
	{ FG_FORGE_JIRA, NULL },
	{ FG_FORGE_GENERIC, NULL },
};
#define NPAIRS (sizeof(pairs) / sizeof(pairs[0]))

/* A string field as event.h allows it: absent, or clean and short. */
static void
check_str(const char *s, size_t max)
{
	size_t i, len;

	if (s == NULL)
		return;
	len = strlen(s);
	if (len == 0 || len > max || !fg_utf8_is_valid(s, len))
		__builtin_trap();
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			__builtin_trap();
}

static void
check_id(const char *id)
{
	size_t i, len = strlen(id);

	if (len != 0 && len != FG_OID_HEXSZ)
		__builtin_trap();
	for (i = 0; i < len; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'a' && id[i] <= 'f')))
			__builtin_trap();
}

/*
 * A repository name names a directory under the daemon's root: components
 * of [A-Za-z0-9._-], none empty, "." or "..".
 */
static void
check_repo(const char *repo)
{
	const char *p, *c;

	if (repo == NULL)
		return;
	for (c = p = repo;; p++) {
		if (*p == '/' || *p == '\0') {
			if (p == c || (p - c == 1 && c[0] == '.') ||
			    (p - c == 2 && c[0] == '.' && c[1] == '.'))
				__builtin_trap();
			if (*p == '\0')
				break;
			c = p + 1;
		} else if (!((*p >= 'a' && *p <= 'z') ||
		    (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '.' || *p == '_' || *p == '-')) {
			__builtin_trap();
		}
	}
}

/*
 * A pull request's event applied to a pull state the engine has not seen
 * (its first event may come after a restart, or be a review), and then
 * once more: pull.json must pass pull.schema.json both times, or the
 * engine would store a state it cannot read back.
 */
static void
check_pull(const struct fg_event *ev)
{
	static cJSON *schema;
	struct fg_err err = FG_ERR_INIT;
	struct fg_diags d = FG_DIAGS_INIT;
	cJSON *pull;
	int i;

	if (ev->kind < FG_EVENT_PR_OPENED ||
	    ev->kind > FG_EVENT_REVIEW_DISMISSED)
		return;
	if (schema == NULL &&
	    fg_schema_load(&schema, "pull.schema.json", &err) < 0)
		__builtin_trap();
	pull = cJSON_CreateObject();
	for (i = 0; pull != NULL && i < 2; i++) {
		fg_pull_apply(pull, ev);
		if (fg_schema_validate(schema, pull, NULL, "pull.json",
		    &d) == FG_EINVALID)
			__builtin_trap();
		fg_diags_release(&d);
	}
	cJSON_Delete(pull);
}

/*
 * The activity record the engine writes for ev (webhookd/engine.c: kind
 * "event", the event as its data, the event's time): record.schema.json
 * must accept its record.json, or readers of the activity log would meet
 * a record they cannot read.
 */
static void
check_record(const struct fg_event *ev)
{
	static cJSON *schema;
	struct fg_err err = FG_ERR_INIT;
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_buf b = FG_BUF_INIT;
	struct fg_record rec;
	cJSON *data = NULL, *json = NULL;

	if (schema == NULL &&
	    fg_schema_load(&schema, "record.schema.json", &err) < 0)
		__builtin_trap();
	if (fg_event_to_json(&data, ev, &err) < 0)
		return;
	memset(&rec, 0, sizeof(rec));
	rec.kind = "event";
	rec.subject = fg_event_kind_name(ev->kind);	/* the engine's says more */
	rec.delivery = ev->delivery;
	rec.event = fg_event_kind_name(ev->kind);
	rec.status = "processed";
	rec.commit = ev->sha[0] != '\0' ? ev->sha : ev->new_id[0] != '\0' ?
	    ev->new_id : ev->pr_head_sha[0] != '\0' ? ev->pr_head_sha : NULL;
	rec.actor_name = ev->actor;
	rec.time = ev->time;
	rec.data = data;
	/* A record the store refuses would stop the engine for good. */
	if (fg_record_check(&rec, &err) < 0)
		__builtin_trap();
	if (fg_record_json(&b, &rec, ev->time, &err) == 0 &&
	    (fg_json_parse(&json, b.ptr, b.len, &err) < 0 ||
	    fg_schema_validate(schema, json, NULL, "record.json",
	    &d) == FG_EINVALID))
		__builtin_trap();
	fg_diags_release(&d);
	cJSON_Delete(json);
	cJSON_Delete(data);
	fg_buf_release(&b);
}

/* event.json's text of ev, or NULL (out of memory). */
static char *
json_text(const struct fg_event *ev)
{
	struct fg_err err = FG_ERR_INIT;
	cJSON *json = NULL;
	char *text;

	if (fg_event_to_json(&json, ev, &err) < 0)
		return NULL;
	text = cJSON_PrintUnformatted(json);
	cJSON_Delete(json);
	return text;
}

static void
check_event(const struct fg_event *ev)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_event back;
	cJSON *json = NULL;
	char *text, *again;
	int rc;

	if (fg_event_check(ev, &err) < 0 || ev->kind > FG_EVENT_PING ||
	    ev->pr_number < 0 || ev->pr_number > FG_EVENT_PR_MAX ||
	    ev->time < FG_EVENT_TIME_MIN || ev->time > FG_EVENT_TIME_MAX)
		__builtin_trap();
	check_str(ev->event, FG_EVENT_NAME_MAX);
	check_str(ev->action, FG_EVENT_NAME_MAX);
	check_str(ev->repo, FG_EVENT_NAME_MAX);
	check_repo(ev->repo);
	check_str(ev->ref, FG_EVENT_REF_MAX);
	check_str(ev->head_ref, FG_EVENT_REF_MAX);
	check_str(ev->base_ref, FG_EVENT_REF_MAX);
	check_str(ev->pr_title, FG_EVENT_TEXT_MAX);
	check_str(ev->pr_author, FG_EVENT_NAME_MAX);
	check_str(ev->reviewer, FG_EVENT_NAME_MAX);
	check_str(ev->review_state, FG_EVENT_NAME_MAX);
	check_str(ev->context, FG_EVENT_NAME_MAX);
	check_str(ev->state, FG_EVENT_NAME_MAX);
	check_str(ev->target_url, FG_EVENT_URL_MAX);
	check_str(ev->description, FG_EVENT_TEXT_MAX);
	check_str(ev->jira_key, FG_EVENT_NAME_MAX);
	check_str(ev->jira_project, FG_EVENT_NAME_MAX);
	check_str(ev->jira_from, FG_EVENT_NAME_MAX);
	check_str(ev->jira_to, FG_EVENT_NAME_MAX);
	check_str(ev->actor, FG_EVENT_NAME_MAX);
	check_str(ev->delivery, FG_EVENT_DELIVERY_MAX);
	check_id(ev->old_id);
	check_id(ev->new_id);
	check_id(ev->pr_head_sha);
	check_id(ev->sha);

	check_pull(ev);
	check_record(ev);

	/* The inbox's round trip. */
	text = json_text(ev);
	if (text == NULL)
		return;
	if (fg_json_parse(&json, text, strlen(text), &err) < 0)
		__builtin_trap();
	rc = fg_event_from_json(&back, json, &err);
	cJSON_Delete(json);
	if (rc < 0)
		__builtin_trap();
	again = json_text(&back);
	if (again != NULL && strcmp(text, again) != 0)
		__builtin_trap();
	fg_event_release(&back);
	cJSON_free(again);
	cJSON_free(text);
}

/* A failed parse leaves the event as fg_event_init made it. */
static void
check_empty(const struct fg_event *ev, const struct fg_err *err)
{
	struct fg_event empty;

	fg_event_init(&empty);
	if (err->msg[0] == '\0' || ev->kind != empty.kind ||
	    ev->repo != NULL || ev->ref != NULL || ev->event != NULL ||
	    ev->action != NULL || ev->actor != NULL || ev->pr_title != NULL ||
	    ev->pr_number != 0 || ev->old_id[0] != '\0')
		__builtin_trap();
}

static void
one(const struct pair *p, const char *body, size_t len)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_event ev;

	if (fg_forge_parse(&ev, p->forge, p->header, body, len, &err) == 0)
		check_event(&ev);
	else
		check_empty(&ev, &err);
	fg_event_release(&ev);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	size_t i;

	if (size > 0 && data[0] < 0x20 && data[0] != '\t' && data[0] != '\n' &&
	    data[0] != '\r') {
		one(&pairs[data[0] % NPAIRS], body + 1, size - 1);
		return 0;
	}
	for (i = 0; i < NPAIRS; i++)
		one(&pairs[i], body, size);
	return 0;
}
