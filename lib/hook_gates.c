/*
 * hook_gates.c - a push into a stage's branch faces the stage's gates, as
 * a promotion into that stage would (DESIGN.md section 6).  See hook.h.
 *
 * The facts come from what flowgate keeps in the repository: statuses,
 * manual approvals and deployments from the JSON note on the commit
 * (refs/notes/flowgate, schemas/note.schema.json), pull requests from
 * refs/flowgate/pulls/<n>:pull.json.  Everything is read through the
 * repository the hook reads pushed objects with; nothing is written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "gate.h"
#include "hook.h"
#include "pipeline.h"
#include "util.h"
#include "banned.h"

#define NOTES_REF	"refs/notes/flowgate"
#define PULLS_GLOB	"refs/flowgate/pulls/*"

/* The note on sha as a JSON object; FG_ENOTFOUND when there is none. */
static int
note_json(cJSON **out, git_repository *repo, const char *sha)
{
	git_note *n = NULL;
	const char *msg;
	git_oid id;
	int rc;

	*out = NULL;
	if (git_oid_fromstr(&id, sha) < 0)
		return FG_EINVALID;
	rc = git_note_read(&n, repo, NOTES_REF, &id);
	if (rc == GIT_ENOTFOUND)
		return FG_ENOTFOUND;
	if (rc < 0)
		return FG_EIO;
	msg = git_note_message(n);
	rc = fg_json_parse(out, msg, strlen(msg), NULL);
	git_note_free(n);
	if (rc == 0 && !cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		rc = FG_EINVALID;
	}
	return rc;
}

/* note[key][sub], or NULL. */
static const cJSON *
note_get(const cJSON *note, const char *key, const char *sub)
{
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(note, key);

	return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, sub) :
	    NULL;
}

static int
fact_status(char *state, size_t size, const char *sha, const char *context,
    void *payload)
{
	const cJSON *s;
	cJSON *note = NULL;
	int rc;

	rc = note_json(&note, payload, sha);
	if (rc < 0)
		return rc;
	s = cJSON_GetObjectItemCaseSensitive(note_get(note, "statuses",
	    context), "state");
	if (cJSON_IsString(s))
		snprintf(state, size, "%s", s->valuestring);
	else
		rc = FG_ENOTFOUND;
	cJSON_Delete(note);
	return rc;
}

/*
 * When sha was deployed successfully to env, from the note's deployments
 * (the latest deployment of this commit per environment).  The note does
 * not say whether another commit replaced it there since.
 */
static int
fact_deployed(int64_t *since, const char *env, const char *sha,
    void *payload)
{
	const cJSON *d, *st, *t;
	cJSON *note = NULL;
	int rc;

	rc = note_json(&note, payload, sha);
	if (rc < 0)
		return rc;
	d = note_get(note, "deployments", env);
	st = cJSON_GetObjectItemCaseSensitive(d, "status");
	t = cJSON_GetObjectItemCaseSensitive(d, "time");
	if (!cJSON_IsString(st) || strcmp(st->valuestring, "succeeded") != 0 ||
	    !cJSON_IsString(t) || fg_parse_utc(since, t->valuestring) < 0)
		rc = FG_ENOTFOUND;
	cJSON_Delete(note);
	return rc;
}

static int
fact_manual(struct fg_strv *out, const char *sha, const char *stage,
    void *payload)
{
	const cJSON *list, *a, *u;
	cJSON *note = NULL;
	size_t n;
	int rc;

	rc = note_json(&note, payload, sha);
	if (rc < 0)
		return rc;
	list = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    note, "approvals"), stage);
	if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0) {
		rc = FG_ENOTFOUND;
		goto out;
	}
	n = (size_t)cJSON_GetArraySize(list);
	out->v = calloc(n + 1, sizeof(*out->v));
	if (out->v == NULL) {
		rc = FG_ENOMEM;
		goto out;
	}
	cJSON_ArrayForEach(a, list) {
		u = cJSON_GetObjectItemCaseSensitive(a, "user");
		if (!cJSON_IsString(u))
			continue;
		out->v[out->n] = fg_strdup(u->valuestring);
		if (out->v[out->n] == NULL) {
			rc = FG_ENOMEM;
			goto out;
		}
		out->n++;
	}
out:
	cJSON_Delete(note);
	return rc;
}

/* pull.json on ref's tip, parsed; NULL when it has none. */
static cJSON *
pull_json(git_repository *repo, const char *ref)
{
	git_object *obj = NULL;
	git_blob *blob = NULL;
	cJSON *j = NULL;

	if (git_revparse_single(&obj, repo, ref) < 0)
		return NULL;
	if (git_object_type(obj) == GIT_OBJECT_COMMIT) {
		git_tree *t = NULL;
		const git_tree_entry *e;

		if (git_commit_tree(&t, (git_commit *)obj) == 0) {
			e = git_tree_entry_byname(t, "pull.json");
			if (e != NULL && git_blob_lookup(&blob, repo,
			    git_tree_entry_id(e)) == 0)
				fg_json_parse(&j, git_blob_rawcontent(blob),
				    (size_t)git_blob_rawsize(blob), NULL);
		}
		git_tree_free(t);
	}
	git_blob_free(blob);
	git_object_free(obj);
	return j;
}

static bool
str_is(const cJSON *o, const char *key, const char *want)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(s) && strcmp(s->valuestring, want) == 0;
}

/* The pull request with head sha into base_ref, among the first
 * FG_HOOK_PULLS_MAX refs/flowgate/pulls/<n>. */
static int
fact_pull_for(cJSON **out, const char *sha, const char *base_ref,
    void *payload)
{
	git_repository *repo = payload;
	git_reference_iterator *it = NULL;
	git_reference *ref;
	size_t seen = 0;
	cJSON *j;
	int rc = FG_ENOTFOUND;

	*out = NULL;
	if (git_reference_iterator_glob_new(&it, repo, PULLS_GLOB) < 0)
		return FG_EIO;
	while (rc == FG_ENOTFOUND && seen++ < FG_HOOK_PULLS_MAX &&
	    git_reference_next(&ref, it) == 0) {
		j = pull_json(repo, git_reference_name(ref));
		git_reference_free(ref);
		if (j == NULL)
			continue;
		if (str_is(cJSON_GetObjectItemCaseSensitive(j, "head"), "sha",
		    sha) && str_is(cJSON_GetObjectItemCaseSensitive(j, "base"),
		    "ref", base_ref)) {
			*out = j;
			rc = 0;
		} else {
			cJSON_Delete(j);
		}
	}
	git_reference_iterator_free(it);
	return rc;
}

int
fg_hook_check_gates(struct fg_rules_result *out, git_repository *repo,
    const struct fg_config *cfg, const struct fg_rules_update *u,
    struct fg_err *err)
{
	struct fg_gate_facts facts;
	struct fg_gate_input in;
	struct fg_verdict v = FG_VERDICT_INIT;
	const struct fg_stage *st;
	struct fg_buf f = FG_BUF_INIT;
	size_t i;
	int rc;

	if (strncmp(u->ref, "refs/heads/", 11) != 0 ||
	    git_oid_is_zero(&u->new_id))
		return 0;
	st = fg_pipeline_stage_for_branch(cfg, u->ref);
	if (st == NULL || st->ngates == 0)
		return 0;
	memset(&facts, 0, sizeof(facts));
	facts.status = fact_status;
	facts.pull_for = fact_pull_for;
	facts.deployed = fact_deployed;
	facts.manual = fact_manual;
	facts.payload = repo;
	memset(&in, 0, sizeof(in));
	in.cfg = cfg;
	in.stage = st;
	in.repo = repo;
	in.commit = &u->new_id;
	in.branch_tip = git_oid_is_zero(&u->old_id) ? NULL : &u->old_id;
	in.now = fg_now();
	in.facts = &facts;
	in.run_commands = true;
	rc = fg_gate_eval(&v, &in, err);
	for (i = 0; rc == 0 && i < v.nissues; i++) {
		const struct fg_issue *is = &v.issues[i];

		fg_buf_reset(&f);
		rc = fg_buf_puts(&f, is->finding);
		if (rc == 0 && is->output != NULL && is->output[0] != '\0') {
			/* The command's last output line, on the same line. */
			const char *o = is->output, *p;
			size_t len = strlen(o);

			while (len > 0 && o[len - 1] == '\n')
				len--;
			p = o + len;
			while (p > o && p[-1] != '\n')
				p--;
			rc = fg_buf_printf(&f, " (output: %.*s)",
			    (int)(o + len - p), p);
		}
		if (rc == 0)
			rc = fg_rules_add(out, is->gate, u->ref, &u->new_id,
			    is->subject, f.ptr, is->fix);
		if (rc < 0)
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
	}
	fg_verdict_release(&v);
	fg_buf_release(&f);
	return rc;
}
