/*
 * flowctl.c - listing flows, their runs, and switching them on or off
 * (see flowctl.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "flowctl.h"
#include "schema.h"
#include "util.h"
#include "yaml.h"

#include "banned.h"

#define EDIT_ATTEMPTS	3

static const char *const trigger_kinds[] = {
	"manual", "push", "schedule", "pull_request", "promotion",
	"deployment", "jira", "webhook",
};

bool
fg_flowctl_is_active(const cJSON *flow)
{
	return !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(flow,
	    "active"));
}

const char *
fg_flowctl_trigger_kind(const cJSON *flow)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(flow, "trigger");
	size_t i;

	for (i = 0; i < FG_ARRAY_SIZE(trigger_kinds); i++)
		if (cJSON_GetObjectItemCaseSensitive(t, trigger_kinds[i]) !=
		    NULL)
			return trigger_kinds[i];
	return "";
}

/* The same rule as the schema's names: [a-z0-9][a-z0-9._-]{0,62}. */
static bool
name_is_valid(const char *s)
{
	size_t i, len = s != NULL ? strlen(s) : 0;

	if (len == 0 || len > 63)
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			continue;
		if (i == 0 || strchr("._-", c) == NULL)
			return false;
	}
	return true;
}

static int
runs_ref(char *out, size_t size, const char *name, struct fg_err *err)
{
	if (!name_is_valid(name))
		return fg_err_set(err, FG_EINVALID, "bad flow name '%.100s'",
		    name != NULL ? name : "");
	snprintf(out, size, FG_FLOWCTL_RUNS_REF_PREFIX "%s", name);
	return 0;
}

/* run.json at commit id, checked against its schema; NULL on error. */
static int
read_run(cJSON **out, struct fg_store *st, const git_oid *id,
    const cJSON *schema, struct fg_err *err)
{
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_buf b = FG_BUF_INIT;
	int rc;

	*out = NULL;
	rc = fg_store_read_file_at(&b, st, id, "run.json", err);
	if (rc < 0)
		goto out;
	rc = fg_json_parse(out, b.ptr, b.len, err);
	if (rc < 0)
		goto out;
	if (fg_schema_validate(schema, *out, NULL, "run.json", &d) < 0) {
		rc = fg_err_set(err, FG_EINVALID, "%s (commit %.7s)",
		    d.n > 0 ? d.lines[0] : "run.json: invalid",
		    git_oid_tostr_s(id));
		cJSON_Delete(*out);
		*out = NULL;
	}
out:
	fg_diags_release(&d);
	fg_buf_release(&b);
	return rc;
}

/* {run, status, created, finished} of the newest run.json, or null. */
static cJSON *
last_run(struct fg_store *st, const char *name)
{
	struct fg_err err = FG_ERR_INIT;
	cJSON *schema = NULL, *run = NULL, *o = NULL;
	const char *keys[] = { "run", "status", "created", "finished" };
	char ref[128];
	git_oid tip;
	size_t i;

	if (runs_ref(ref, sizeof(ref), name, &err) < 0 ||
	    fg_store_tip(&tip, st, ref, &err) < 0 ||
	    fg_schema_load(&schema, "run.schema.json", &err) < 0 ||
	    read_run(&run, st, &tip, schema, &err) < 0) {
		o = cJSON_CreateNull();
		goto out;
	}
	o = cJSON_CreateObject();
	for (i = 0; o != NULL && i < FG_ARRAY_SIZE(keys); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(run,
		    keys[i]);

		if (v != NULL)
			cJSON_AddItemToObject(o, keys[i],
			    cJSON_Duplicate(v, 1));
	}
out:
	cJSON_Delete(run);
	cJSON_Delete(schema);
	return o;
}

static cJSON *
summary(struct fg_store *st, const cJSON *flow)
{
	const cJSON *desc = cJSON_GetObjectItemCaseSensitive(flow,
	    "description");
	cJSON *o = cJSON_CreateObject(), *lr;

	if (o == NULL)
		return NULL;
	if (cJSON_AddStringToObject(o, "name", flow->string) == NULL ||
	    (cJSON_IsString(desc) ?
	    cJSON_AddStringToObject(o, "description", desc->valuestring) :
	    cJSON_AddNullToObject(o, "description")) == NULL ||
	    cJSON_AddBoolToObject(o, "active", fg_flowctl_is_active(flow)) ==
	    NULL ||
	    cJSON_AddStringToObject(o, "trigger",
	    fg_flowctl_trigger_kind(flow)) == NULL ||
	    cJSON_AddNumberToObject(o, "steps", cJSON_GetArraySize(
	    cJSON_GetObjectItemCaseSensitive(flow, "steps"))) == NULL)
		goto fail;
	lr = last_run(st, flow->string);
	if (lr == NULL)
		goto fail;
	cJSON_AddItemToObject(o, "last_run", lr);
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

int
fg_flowctl_list_json(cJSON **out, struct fg_store *st,
    const struct fg_config *cfg, bool all, struct fg_err *err)
{
	const cJSON *flow;
	cJSON *a, *o;

	*out = NULL;
	a = cJSON_CreateArray();
	if (a == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	cJSON_ArrayForEach(flow, cfg->flows) {
		if (!all && !fg_flowctl_is_active(flow))
			continue;
		o = summary(st, flow);
		if (o == NULL) {
			cJSON_Delete(a);
			return fg_err_set(err, FG_ENOMEM, "out of memory");
		}
		cJSON_AddItemToArray(a, o);
	}
	*out = a;
	return 0;
}

int
fg_flowctl_show_json(cJSON **out, struct fg_store *st,
    const struct fg_config *cfg, const char *name, struct fg_err *err)
{
	const cJSON *flow;
	cJSON *o, *c;

	*out = NULL;
	flow = name != NULL ? cJSON_GetObjectItemCaseSensitive(cfg->flows,
	    name) : NULL;
	if (flow == NULL)
		return fg_err_set(err, FG_ENOTFOUND, "no flow '%.100s' in the "
		    "config (see 'flowgate flow list --all')",
		    name != NULL ? name : "");
	o = summary(st, flow);
	c = cJSON_Duplicate(flow, 1);
	if (o == NULL || c == NULL) {
		cJSON_Delete(o);
		cJSON_Delete(c);
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	}
	cJSON_AddItemToObject(o, "config", c);
	*out = o;
	return 0;
}

static bool
seen(const cJSON *runs, const char *id)
{
	const cJSON *r;

	cJSON_ArrayForEach(r, runs)
		if (strcmp(cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(r, "run")), id) == 0)
			return true;
	return false;
}

int
fg_flowctl_activity_json(cJSON **out, struct fg_store *st,
    const struct fg_config *cfg, const char *name, size_t limit,
    struct fg_err *err)
{
	struct fg_store_query q;
	struct fg_store_iter *it = NULL;
	const struct fg_store_entry *e;
	cJSON *a = NULL, *schema = NULL, *run = NULL;
	char ref[128], t[32], hex[GIT_OID_HEXSZ + 1];
	git_oid tip;
	size_t n = 0;
	int rc;

	*out = NULL;
	if (limit == 0)
		limit = FG_FLOWCTL_ACTIVITY_DEFAULT;
	if (limit > FG_FLOWCTL_ACTIVITY_MAX)
		limit = FG_FLOWCTL_ACTIVITY_MAX;
	rc = runs_ref(ref, sizeof(ref), name, err);
	if (rc < 0)
		return rc;
	rc = fg_store_tip(&tip, st, ref, err);
	if (rc < 0 && rc != FG_ENOTFOUND)
		return rc;
	if (rc == FG_ENOTFOUND && (cfg == NULL ||
	    cJSON_GetObjectItemCaseSensitive(cfg->flows, name) == NULL))
		return fg_err_set(err, FG_ENOTFOUND, "no flow '%s' in the "
		    "config, and no runs of it", name);
	a = cJSON_CreateArray();
	if (a == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	rc = fg_schema_load(&schema, "run.schema.json", err);
	if (rc < 0)
		goto out;
	memset(&q, 0, sizeof(q));
	q.limit = FG_FLOWCTL_SCAN_MAX;
	rc = fg_store_iter_new(&it, st, ref, &q, err);
	if (rc < 0)
		goto out;
	while (n < limit) {
		rc = fg_store_iter_next(&e, it, err);
		if (rc < 0 || e == NULL)
			break;
		rc = read_run(&run, st, &e->id, schema, err);
		if (rc < 0)
			break;
		if (seen(a, cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(run, "run")))) {
			cJSON_Delete(run);
			run = NULL;
			continue;
		}
		git_oid_tostr(hex, sizeof(hex), &e->id);
		fg_format_utc(t, sizeof(t), e->time);
		if (cJSON_AddStringToObject(run, "record", hex) == NULL ||
		    cJSON_AddStringToObject(run, "updated", t) == NULL) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			break;
		}
		cJSON_AddItemToArray(a, run);
		run = NULL;
		n++;
	}
out:
	cJSON_Delete(run);
	cJSON_Delete(schema);
	fg_store_iter_free(it);
	if (rc < 0) {
		cJSON_Delete(a);
		return rc;
	}
	*out = a;
	return 0;
}

/* Byte offset of 1-based line and col in text, or -1. */
static long
offset_of(const char *text, size_t len, unsigned line, unsigned col)
{
	size_t i = 0;
	unsigned l = 1;

	while (l < line && i < len) {
		if (text[i] == '\n')
			l++;
		i++;
	}
	if (l != line || i + col - 1 > len)
		return -1;
	return (long)(i + col - 1);
}

static int
unsafe(struct fg_err *err, const char *why, const char *name)
{
	return fg_err_set(err, FG_EINVALID, "cannot edit flows.yaml safely: "
	    "%s for flow '%s'; edit it by hand and 'flowgate config apply' "
	    "it", why, name);
}

/* Splice text: [0, at) + ins + [at + cut, len). */
static int
splice(struct fg_buf *out, const char *text, size_t len, size_t at,
    size_t cut, const char *ins)
{
	if (fg_buf_add(out, text, at) < 0 || fg_buf_puts(out, ins) < 0 ||
	    fg_buf_add(out, text + at + cut, len - at - cut) < 0)
		return FG_ENOMEM;
	return 0;
}

/*
 * The new text must parse, and its flows must equal the old ones but for
 * name's active, which must now be active.
 */
static int
verify_edit(const cJSON *old_root, const char *text, size_t len,
    const char *name, bool active, struct fg_err *err)
{
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_jdoc *doc = NULL;
	cJSON *a = NULL, *b = NULL, *fa, *fb;
	int rc;

	rc = fg_yaml_parse(&doc, text, len, FG_CONFIG_FLOWS, &d);
	if (rc < 0) {
		rc = unsafe(err, d.n > 0 ? d.lines[0] : "the edit breaks it",
		    name);
		goto out;
	}
	a = cJSON_Duplicate(old_root, 1);
	b = cJSON_Duplicate(fg_jdoc_root(doc), 1);
	if (a == NULL || b == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	fa = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    a, "flows"), name);
	fb = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    b, "flows"), name);
	if (fb == NULL || fg_flowctl_is_active(fb) != active ||
	    !cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(fb, "active"))) {
		rc = unsafe(err, "the edit did not set 'active'", name);
		goto out;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(fa, "active");
	cJSON_DeleteItemFromObjectCaseSensitive(fb, "active");
	if (!cJSON_Compare(a, b, 1)) {
		rc = unsafe(err, "the edit would change more than 'active'",
		    name);
		goto out;
	}
	rc = 0;
out:
	cJSON_Delete(a);
	cJSON_Delete(b);
	fg_jdoc_free(doc);
	fg_diags_release(&d);
	return rc;
}

int
fg_flowctl_edit_active(struct fg_buf *out, bool *changed,
    const char *flows, size_t len, const char *name, bool active,
    struct fg_err *err)
{
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_jdoc *doc = NULL;
	const cJSON *flow, *act, *first;
	const char *word = active ? "true" : "false";
	unsigned line, col;
	char ins[128];
	long at, ls;
	size_t wl;
	int rc;

	*changed = false;
	if (!name_is_valid(name))
		return fg_err_set(err, FG_EINVALID, "bad flow name '%.100s'",
		    name != NULL ? name : "");
	rc = fg_yaml_parse(&doc, flows, len, FG_CONFIG_FLOWS, &d);
	if (rc < 0) {
		rc = fg_err_set(err, rc, "%s", d.n > 0 ? d.lines[0] :
		    "flows.yaml does not parse");
		goto out;
	}
	flow = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(fg_jdoc_root(doc), "flows"),
	    name);
	if (!cJSON_IsObject(flow)) {
		rc = fg_err_set(err, FG_ENOTFOUND, "no flow '%s' in the "
		    "config (see 'flowgate flow list --all')", name);
		goto out;
	}
	if (fg_flowctl_is_active(flow) == active &&
	    cJSON_GetObjectItemCaseSensitive(flow, "active") != NULL) {
		rc = fg_buf_add(out, flows, len) < 0 ?
		    fg_err_set(err, FG_ENOMEM, "out of memory") : 0;
		goto out;
	}
	if (fg_flowctl_is_active(flow) == active) {
		/* Active without the key: nothing to change either. */
		rc = fg_buf_add(out, flows, len) < 0 ?
		    fg_err_set(err, FG_ENOMEM, "out of memory") : 0;
		goto out;
	}
	act = cJSON_GetObjectItemCaseSensitive(flow, "active");
	if (act != NULL) {
		/* Replace the plain scalar true/false where it starts. */
		if (!fg_jdoc_pos(doc, act, &line, &col)) {
			rc = unsafe(err, "no position for 'active'", name);
			goto out;
		}
		at = offset_of(flows, len, line, col);
		if (at < 0) {
			rc = unsafe(err, "'active' is not where it was parsed",
			    name);
			goto out;
		}
		wl = 0;
		while ((size_t)at + wl < len &&
		    ((flows[at + wl] >= 'a' && flows[at + wl] <= 'z') ||
		    (flows[at + wl] >= 'A' && flows[at + wl] <= 'Z')))
			wl++;
		if (wl == 0) {
			rc = unsafe(err, "'active' is not a plain true or "
			    "false", name);
			goto out;
		}
		rc = splice(out, flows, len, (size_t)at, wl, word);
	} else {
		/* Insert the key before the flow's first key. */
		if (!fg_jdoc_pos(doc, flow, &line, &col)) {
			rc = unsafe(err, "no position for the flow", name);
			goto out;
		}
		at = offset_of(flows, len, line, col);
		if (at < 0) {
			rc = unsafe(err, "the flow is not where it was parsed",
			    name);
			goto out;
		}
		first = flow->child;
		if (flows[at] == '{') {
			snprintf(ins, sizeof(ins), "{active: %s%s", word,
			    first != NULL ? ", " : "");
			rc = splice(out, flows, len, (size_t)at, 1, ins);
		} else {
			for (ls = at; ls > 0 && flows[ls - 1] != '\n'; ls--)
				if (flows[ls - 1] != ' ')
					break;
			if (ls > 0 && flows[ls - 1] != '\n') {
				rc = unsafe(err, "its first key does not "
				    "start a line", name);
				goto out;
			}
			if (col - 1 >= sizeof(ins) - 32) {
				rc = unsafe(err, "it is indented too deeply",
				    name);
				goto out;
			}
			memset(ins, ' ', col - 1);
			snprintf(ins + col - 1, sizeof(ins) - (col - 1),
			    "active: %s\n", word);
			/* Insert a whole line before the key's line. */
			rc = splice(out, flows, len, (size_t)ls, 0, ins);
		}
	}
	if (rc < 0) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	rc = verify_edit(fg_jdoc_root(doc), out->ptr, out->len, name, active,
	    err);
	if (rc == 0)
		*changed = true;
out:
	fg_jdoc_free(doc);
	fg_diags_release(&d);
	return rc;
}

int
fg_flowctl_set_active(git_oid *out, bool *changed, git_repository *repo,
    const char *name, bool active, const char *actor_name,
    const char *actor_email, struct fg_diags *d, struct fg_err *err)
{
	struct fg_buf p = FG_BUF_INIT, f = FG_BUF_INIT, nf = FG_BUF_INIT;
	struct fg_buf msg = FG_BUF_INIT;
	git_oid tip, now_tip;
	bool edited;
	int attempt, rc = 0;

	*changed = false;
	for (attempt = 0; attempt < EDIT_ATTEMPTS; attempt++) {
		fg_buf_reset(&p);
		fg_buf_reset(&f);
		fg_buf_reset(&nf);
		fg_buf_reset(&msg);
		if (git_reference_name_to_id(&tip, repo, FG_CONFIG_REF) < 0) {
			rc = fg_err_set(err, FG_ENOTFOUND, "no config: run "
			    "'flowgate init' first");
			goto out;
		}
		rc = fg_config_read(&p, &f, repo, &tip, err);
		if (rc < 0)
			goto out;
		if (f.len == 0) {
			rc = fg_err_set(err, FG_ENOTFOUND, "no flow '%s' in "
			    "the config: it has no flows.yaml", name);
			goto out;
		}
		rc = fg_flowctl_edit_active(&nf, &edited, f.ptr, f.len, name,
		    active, err);
		if (rc < 0)
			goto out;
		if (!edited) {
			if (out != NULL)
				git_oid_cpy(out, &tip);
			goto out;
		}
		if (fg_buf_printf(&msg, "config: %s flow %s by %s\n\n"
		    "Flowgate-Kind: config\n", active ? "activate" :
		    "deactivate", name, actor_name) < 0) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		/* Only commit on top of the config the edit was made to. */
		if (git_reference_name_to_id(&now_tip, repo,
		    FG_CONFIG_REF) < 0 || !git_oid_equal(&now_tip, &tip))
			continue;
		rc = fg_config_commit(out, changed, repo, p.ptr, nf.ptr,
		    actor_name, actor_email, msg.ptr, d, err);
		if (rc != FG_ECONFLICT)
			goto out;
	}
	rc = fg_err_set(err, FG_ECONFLICT, "the config kept changing while "
	    "flow '%s' was edited; try again", name);
out:
	fg_buf_release(&p);
	fg_buf_release(&f);
	fg_buf_release(&nf);
	fg_buf_release(&msg);
	return rc;
}
