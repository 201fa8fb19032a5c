/*
 * config.c - load, check and convert a pipeline config (see config.h).
 *
 * The schema has already said what shape is valid by the time convert()
 * runs, so conversion trusts types and required fields; what it still
 * checks is what a schema cannot say: the template's limits, references
 * between sections, git's branch name rules, regexes that compile, time
 * zones that exist.  Those checks report through the same diagnostics, with
 * the position of the node at fault.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2/sys/commit.h>

#include "buf.h"
#include "config.h"
#include "embed.h"
#include "flowplan.h"
#include "pipeline.h"
#include "schema.h"
#include "tz.h"
#include "util.h"
#include "yaml.h"
#include "banned.h"

#define PIPELINE_SCHEMA	"pipeline.schema.json"
#define FLOWS_SCHEMA	"flows.schema.json"

/* The state of one conversion: where diagnostics go and where nodes are. */
struct conv {
	const struct fg_jdoc *doc;
	const char *file;
	struct fg_diags *d;
	size_t errors;
	int oom;
};

static void
report(struct conv *c, const cJSON *node, bool at_key, const char *path,
    const char *fmt, ...) FG_PRINTF(5, 6);

static void
report(struct conv *c, const cJSON *node, bool at_key, const char *path,
    const char *fmt, ...)
{
	unsigned line = 0, col = 0;
	char msg[FG_ERR_MSG_MAX];
	va_list ap;

	if (at_key)
		fg_jdoc_key_pos(c->doc, node, &line, &col);
	else
		fg_jdoc_pos(c->doc, node, &line, &col);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fg_diags_at(c->d, c->file, line, col, path, "%s", msg);
	c->errors++;
}

static const cJSON *
get(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static char *
dup_str(struct conv *c, const cJSON *node)
{
	char *s;

	if (!cJSON_IsString(node))
		return NULL;
	s = strdup(node->valuestring);
	if (s == NULL)
		c->oom = 1;
	return s;
}

static void
strv_release(struct fg_strv *sv)
{
	size_t i;

	for (i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

/* Copy an array of strings; the copy is NULL-terminated for use as argv. */
static void
strv_from(struct conv *c, struct fg_strv *out, const cJSON *arr)
{
	const cJSON *it;
	size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;

	out->v = calloc(n + 1, sizeof(*out->v));
	out->n = 0;
	if (out->v == NULL) {
		c->oom = 1;
		return;
	}
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it))
			continue;
		out->v[i] = dup_str(c, it);
		if (out->v[i] == NULL)
			break;
		out->n = ++i;
	}
}

static int
json_int(const cJSON *node, int dflt)
{
	return cJSON_IsNumber(node) ? (int)node->valuedouble : dflt;
}

/* A time zone is valid when lib/tz can load it: the same code the gate uses. */
static bool
tz_exists(const char *name)
{
	struct fg_tz *tz = NULL;
	bool ok = fg_tz_load(&tz, name, NULL) == 0;

	fg_tz_free(tz);
	return ok;
}

static int
parse_hhmm(const char *s)
{
	return ((s[0] - '0') * 10 + (s[1] - '0')) * 60 +
	    (s[3] - '0') * 10 + (s[4] - '0');
}

static void
convert_window(struct conv *c, struct fg_gate *g, const cJSON *w,
    const char *path)
{
	static const char *const days[] = {
		"mon", "tue", "wed", "thu", "fri", "sat", "sun",
	};
	const cJSON *it, *hours = get(w, "hours"), *tz = get(w, "tz");
	size_t i;

	g->from_minute = 0;
	g->to_minute = 24 * 60;
	cJSON_ArrayForEach(it, get(w, "days")) {
		for (i = 0; i < FG_ARRAY_SIZE(days); i++)
			if (cJSON_IsString(it) &&
			    strcmp(it->valuestring, days[i]) == 0)
				g->days |= 1u << i;
	}
	if (cJSON_IsString(hours)) {
		g->from_minute = parse_hhmm(hours->valuestring);
		g->to_minute = parse_hhmm(hours->valuestring + 6);
		if (g->from_minute >= g->to_minute)
			report(c, hours, false, path, "'%s' ends before it "
			    "starts", hours->valuestring);
	}
	if (cJSON_IsString(tz)) {
		if (!tz_exists(tz->valuestring))
			report(c, tz, false, path, "unknown time zone '%s' "
			    "(use an IANA name such as 'Europe/Berlin')",
			    tz->valuestring);
		g->tz = dup_str(c, tz);
	}
}

/*
 * A freeze period's bound, which the schema has shaped; false, and
 * reported, for a day the calendar does not have.
 */
static bool
freeze_time(struct conv *c, int64_t *out, const cJSON *node,
    const char *path)
{
	if (fg_parse_utc(out, node->valuestring) == 0)
		return true;
	report(c, node, false, path, "'%s' is no date and time that exists",
	    node->valuestring);
	return false;
}

static void
convert_gate(struct conv *c, struct fg_gate *g, const cJSON *node,
    const char *path)
{
	const cJSON *v, *it;
	const char *kind;
	size_t i = 0;

	fg_jdoc_pos(c->doc, node, &g->line, &g->col);
	/* The schema allows "up-to-date" or an object with one key. */
	kind = cJSON_IsString(node) ? node->valuestring : node->child->string;
	v = node->child;
	if (strcmp(kind, "up-to-date") == 0) {
		g->kind = FG_GATE_UP_TO_DATE;
	} else if (strcmp(kind, "approvals") == 0) {
		g->kind = FG_GATE_APPROVALS;
		g->approvals = json_int(v, 1);
	} else if (strcmp(kind, "status") == 0) {
		g->kind = FG_GATE_STATUS;
		strv_from(c, &g->contexts, v);
	} else if (strcmp(kind, "soak") == 0) {
		g->kind = FG_GATE_SOAK;
		g->soak_minutes = json_int(get(v, "minutes"), 1);
	} else if (strcmp(kind, "manual") == 0) {
		g->kind = FG_GATE_MANUAL;
		if (get(v, "approvers") != NULL)
			strv_from(c, &g->approvers, get(v, "approvers"));
	} else if (strcmp(kind, "window") == 0) {
		g->kind = FG_GATE_WINDOW;
		convert_window(c, g, v, path);
	} else if (strcmp(kind, "freeze") == 0) {
		g->kind = FG_GATE_FREEZE;
		g->freezes = calloc((size_t)cJSON_GetArraySize(v) + 1,
		    sizeof(*g->freezes));
		if (g->freezes == NULL) {
			c->oom = 1;
			return;
		}
		cJSON_ArrayForEach(it, v) {
			struct fg_freeze *f = &g->freezes[i++];

			if (!freeze_time(c, &f->from, get(it, "from"), path) ||
			    !freeze_time(c, &f->to, get(it, "to"), path))
				continue;
			f->reason = dup_str(c, get(it, "reason"));
			if (f->from >= f->to)
				report(c, it, false, path, "freeze period "
				    "ends before it starts");
		}
		g->nfreezes = i;
	} else if (strcmp(kind, "command") == 0) {
		g->kind = FG_GATE_COMMAND;
		strv_from(c, &g->argv, get(v, "run"));
		g->timeout = json_int(get(v, "timeout"), 600);
	}
}

static void
gate_release(struct fg_gate *g)
{
	size_t i;

	strv_release(&g->contexts);
	strv_release(&g->approvers);
	strv_release(&g->argv);
	free(g->tz);
	for (i = 0; i < g->nfreezes; i++)
		free(g->freezes[i].reason);
	free(g->freezes);
}

static void
convert_deploy(struct conv *c, struct fg_deploy *dep, const cJSON *node)
{
	const cJSON *http = get(node, "http");

	dep->timeout = json_int(get(node, "timeout"), 600);
	if (get(node, "command") != NULL) {
		dep->kind = FG_DEPLOY_COMMAND;
		strv_from(c, &dep->argv, get(node, "command"));
	} else if (http != NULL) {
		dep->kind = FG_DEPLOY_HTTP;
		dep->url = dup_str(c, get(http, "url"));
		dep->secret = dup_str(c, get(http, "secret"));
		dep->poll = dup_str(c, get(http, "poll"));
	}
}

static void
deploy_release(struct fg_deploy *dep)
{
	strv_release(&dep->argv);
	free(dep->url);
	free(dep->secret);
	free(dep->poll);
}

/* Count an object's members; the schema guarantees it is an object. */
static size_t
nmembers(const cJSON *obj)
{
	return obj != NULL ? (size_t)cJSON_GetArraySize(obj) : 0;
}

static void
check_deploy_secret(struct conv *c, const struct fg_config *cfg,
    const struct fg_deploy *dep, const cJSON *node, const char *path)
{
	const cJSON *s;

	if (dep->kind != FG_DEPLOY_HTTP || dep->secret == NULL)
		return;
	if (fg_pipeline_secret(cfg, dep->secret) != NULL)
		return;
	s = get(get(node, "http"), "secret");
	report(c, s, false, path, "unknown secret '%s' (define it under "
	    "secrets)", dep->secret);
}

static void
convert_secrets(struct conv *c, struct fg_config *cfg, const cJSON *root)
{
	const cJSON *it, *all = get(root, "secrets");

	cfg->secrets = calloc(nmembers(all) + 1, sizeof(*cfg->secrets));
	if (cfg->secrets == NULL) {
		c->oom = 1;
		return;
	}
	cJSON_ArrayForEach(it, all) {
		struct fg_secret *s = &cfg->secrets[cfg->nsecrets++];

		s->name = strdup(it->string);
		s->env = dup_str(c, get(it, "env"));
		s->file = dup_str(c, get(it, "file"));
		if (s->name == NULL)
			c->oom = 1;
	}
}

static void
convert_envs(struct conv *c, struct fg_config *cfg, const cJSON *root)
{
	const cJSON *it, *all = get(root, "environments");
	char path[256];

	cfg->envs = calloc(nmembers(all) + 1, sizeof(*cfg->envs));
	if (cfg->envs == NULL) {
		c->oom = 1;
		return;
	}
	cJSON_ArrayForEach(it, all) {
		struct fg_env *e = &cfg->envs[cfg->nenvs++];

		e->name = strdup(it->string);
		if (e->name == NULL)
			c->oom = 1;
		e->url = dup_str(c, get(it, "url"));
		convert_deploy(c, &e->deploy, get(it, "deploy"));
		snprintf(path, sizeof(path), "environments.%s.deploy",
		    it->string);
		check_deploy_secret(c, cfg, &e->deploy, get(it, "deploy"),
		    path);
	}
}

static void
convert_pools(struct conv *c, struct fg_config *cfg, const cJSON *root)
{
	const cJSON *it, *all = get(root, "pools"), *e;
	char path[256];
	size_t i;

	cfg->pools = calloc(nmembers(all) + 1, sizeof(*cfg->pools));
	if (cfg->pools == NULL) {
		c->oom = 1;
		return;
	}
	cJSON_ArrayForEach(it, all) {
		struct fg_pool *p = &cfg->pools[cfg->npools++];

		p->name = strdup(it->string);
		if (p->name == NULL)
			c->oom = 1;
		strv_from(c, &p->envs, get(it, "environments"));
		if (get(it, "deploy") != NULL) {
			convert_deploy(c, &p->deploy, get(it, "deploy"));
			snprintf(path, sizeof(path), "pools.%s.deploy",
			    it->string);
			check_deploy_secret(c, cfg, &p->deploy,
			    get(it, "deploy"), path);
		}
		if (get(it, "reset") != NULL)
			strv_from(c, &p->reset, get(it, "reset"));
		p->lease_minutes = json_int(get(it, "lease_minutes"), 1440);
		i = 0;
		cJSON_ArrayForEach(e, get(it, "environments")) {
			if (cJSON_IsString(e) &&
			    fg_pipeline_env(cfg, e->valuestring) != NULL) {
				snprintf(path, sizeof(path),
				    "pools.%s.environments[%zu]", it->string, i);
				report(c, e, false, path, "environment '%s' is "
				    "also defined under environments; a pool's "
				    "environments belong to the pool alone",
				    e->valuestring);
			}
			i++;
		}
	}
}

static bool
branch_is_valid(const char *branch)
{
	char ref[256];

	if (strlen(branch) > 200)
		return false;
	snprintf(ref, sizeof(ref), "refs/heads/%s", branch);
	return fg_refname_is_valid(ref);
}

static void
convert_stage(struct conv *c, struct fg_config *cfg, struct fg_stage *st,
    const cJSON *node)
{
	const struct fg_template *t = cfg->tmpl;
	const cJSON *envs = get(node, "environments"), *gates, *it;
	const char *name = fg_stage_name(st->id);
	char path[256];
	size_t i;

	st->configured = true;
	st->branch = dup_str(c, get(node, "branch"));
	st->pool = dup_str(c, get(node, "pool"));
	if (st->branch != NULL && !branch_is_valid(st->branch)) {
		snprintf(path, sizeof(path), "stages.%s.branch", name);
		report(c, get(node, "branch"), false, path, "'%s' is not a "
		    "valid branch name", st->branch);
	}
	if (st->pool != NULL && fg_pipeline_pool(cfg, st->pool) == NULL) {
		snprintf(path, sizeof(path), "stages.%s.pool", name);
		report(c, get(node, "pool"), false, path, "unknown pool '%s' "
		    "(define it under pools)", st->pool);
	}
	if (envs != NULL) {
		strv_from(c, &st->envs, envs);
		snprintf(path, sizeof(path), "stages.%s.environments", name);
		if (st->tmpl != NULL && st->tmpl->max_envs >= 0 &&
		    st->envs.n > (size_t)st->tmpl->max_envs)
			report(c, envs, false, path, "template %s allows at "
			    "most %d environment%s in %s", t->name,
			    st->tmpl->max_envs,
			    st->tmpl->max_envs == 1 ? "" : "s", name);
		i = 0;
		cJSON_ArrayForEach(it, envs) {
			if (cJSON_IsString(it) &&
			    fg_pipeline_env(cfg, it->valuestring) == NULL) {
				snprintf(path, sizeof(path),
				    "stages.%s.environments[%zu]", name, i);
				report(c, it, false, path, "unknown environment "
				    "'%s' (define it under environments)",
				    it->valuestring);
			}
			i++;
		}
	}
	gates = get(node, "gates");
	st->gates = calloc((size_t)cJSON_GetArraySize(gates) + 1,
	    sizeof(*st->gates));
	if (st->gates == NULL) {
		c->oom = 1;
		return;
	}
	cJSON_ArrayForEach(it, gates) {
		snprintf(path, sizeof(path), "stages.%s.gates[%zu]", name,
		    st->ngates);
		convert_gate(c, &st->gates[st->ngates++], it, path);
	}
}

static bool
stage_has_gate(const struct fg_stage *st, enum fg_gate_kind kind)
{
	size_t i;

	for (i = 0; i < st->ngates; i++)
		if (st->gates[i].kind == kind)
			return true;
	return false;
}

/*
 * Apply the template: stages it lacks are refused, stages it requires must
 * be there, limits hold, no two stages track one branch.
 */
static void
convert_stages(struct conv *c, struct fg_config *cfg, const cJSON *root)
{
	const struct fg_template *t = cfg->tmpl;
	const cJSON *stages = get(root, "stages"), *it;
	char path[128];
	size_t i;
	int a, b;

	for (i = 0; i < FG_STAGE_COUNT; i++) {
		cfg->stages[i].id = (enum fg_stage_id)i;
		cfg->stages[i].tmpl = fg_template_stage(t,
		    (enum fg_stage_id)i);
	}
	cJSON_ArrayForEach(it, stages) {
		enum fg_stage_id id = fg_stage_from_name(it->string);

		if (id == FG_STAGE_NONE)
			continue;	/* the schema reported it */
		snprintf(path, sizeof(path), "stages.%s", it->string);
		if (cfg->stages[id].tmpl == NULL) {
			report(c, it, true, path, "template %s has no stage "
			    "'%s'", t->name, it->string);
			continue;
		}
		convert_stage(c, cfg, &cfg->stages[id], it);
	}
	for (i = 0; i < t->nstages; i++) {
		const struct fg_template_stage *ts = &t->stages[i];

		if (ts->required && !cfg->stages[ts->id].configured)
			report(c, stages, true, "stages", "template %s needs "
			    "stage '%s'", t->name, fg_stage_name(ts->id));
	}
	for (a = 0; a < FG_STAGE_COUNT; a++) {
		for (b = a + 1; b < FG_STAGE_COUNT; b++) {
			const struct fg_stage *sa = &cfg->stages[a];
			const struct fg_stage *sb = &cfg->stages[b];

			if (sa->branch == NULL || sb->branch == NULL ||
			    strcmp(sa->branch, sb->branch) != 0)
				continue;
			snprintf(path, sizeof(path), "stages.%s.branch",
			    fg_stage_name(sb->id));
			report(c, get(get(stages, fg_stage_name(sb->id)),
			    "branch"), false, path, "branch '%s' is already "
			    "tracked by stage '%s'", sb->branch,
			    fg_stage_name(sa->id));
		}
	}
	if (t->manual_gate_on_production &&
	    cfg->stages[FG_STAGE_PRODUCTION].configured &&
	    !stage_has_gate(&cfg->stages[FG_STAGE_PRODUCTION], FG_GATE_MANUAL))
		report(c, get(stages, "production"), true, "stages.production",
		    "template %s requires a 'manual' gate in production",
		    t->name);
}

static void
convert_rule(struct conv *c, struct fg_rule *r, const cJSON *node,
    const char *path)
{
	static const struct { const char *name; enum fg_rule_kind kind; }
	    simple[] = {
		{ "no-force-push", FG_RULE_NO_FORCE_PUSH },
		{ "no-delete", FG_RULE_NO_DELETE },
		{ "secrets", FG_RULE_SECRETS },
		{ "signed", FG_RULE_SIGNED },
		{ "linear", FG_RULE_LINEAR },
	};
	const cJSON *v;
	const char *kind;
	struct fg_err err = FG_ERR_INIT;
	regex_t re;
	size_t i;
	int rc;

	fg_jdoc_pos(c->doc, node, &r->line, &r->col);
	if (cJSON_IsString(node)) {
		for (i = 0; i < FG_ARRAY_SIZE(simple); i++)
			if (strcmp(node->valuestring, simple[i].name) == 0)
				r->kind = simple[i].kind;
		return;
	}
	kind = node->child->string;	/* one key, says the schema */
	v = node->child;
	if (strcmp(kind, "message") == 0 || strcmp(kind, "author-email") == 0) {
		r->kind = strcmp(kind, "message") == 0 ? FG_RULE_MESSAGE :
		    FG_RULE_AUTHOR_EMAIL;
		r->regex = dup_str(c, v);
		rc = regcomp(&re, v->valuestring, REG_EXTENDED | REG_NOSUB);
		if (rc != 0) {
			char why[128];

			regerror(rc, &re, why, sizeof(why));
			report(c, v, false, path, "invalid regular expression "
			    "'%s': %s", v->valuestring, why);
		} else {
			regfree(&re);
		}
	} else if (strcmp(kind, "max-file-size") == 0) {
		r->kind = FG_RULE_MAX_FILE_SIZE;
		if (fg_parse_size(&r->max_size, v->valuestring,
		    (uint64_t)1 << 40, &err) < 0)
			report(c, v, false, path, "%s", err.msg);
	} else if (strcmp(kind, "forbid-paths") == 0) {
		r->kind = FG_RULE_FORBID_PATHS;
		strv_from(c, &r->paths, v);
	} else if (strcmp(kind, "max-commits") == 0) {
		r->kind = FG_RULE_MAX_COMMITS;
		r->max_commits = json_int(v, 1);
	} else if (strcmp(kind, "signed") == 0) {
		r->kind = FG_RULE_SIGNED;
		if (get(v, "verify") != NULL)
			strv_from(c, &r->verify, get(v, "verify"));
	}
}

static void
convert_push(struct conv *c, struct fg_config *cfg, const cJSON *root)
{
	const cJSON *all = get(root, "push"), *set, *rule;
	char path[128];

	cfg->push = calloc((size_t)cJSON_GetArraySize(all) + 1,
	    sizeof(*cfg->push));
	if (cfg->push == NULL) {
		c->oom = 1;
		return;
	}
	cJSON_ArrayForEach(set, all) {
		struct fg_push_set *ps = &cfg->push[cfg->npush];
		const cJSON *rules = get(set, "rules");

		strv_from(c, &ps->branches, get(set, "branches"));
		ps->rules = calloc((size_t)cJSON_GetArraySize(rules) + 1,
		    sizeof(*ps->rules));
		if (ps->rules == NULL) {
			c->oom = 1;
			return;
		}
		cJSON_ArrayForEach(rule, rules) {
			snprintf(path, sizeof(path), "push[%zu].rules[%zu]",
			    cfg->npush, ps->nrules);
			convert_rule(c, &ps->rules[ps->nrules++], rule, path);
		}
		cfg->npush++;
	}
}

static void
rule_release(struct fg_rule *r)
{
	free(r->regex);
	strv_release(&r->paths);
	strv_release(&r->verify);
}

void
fg_config_free(struct fg_config *cfg)
{
	size_t i, j;

	if (cfg == NULL)
		return;
	for (i = 0; i < FG_STAGE_COUNT; i++) {
		struct fg_stage *st = &cfg->stages[i];

		free(st->branch);
		free(st->pool);
		strv_release(&st->envs);
		for (j = 0; j < st->ngates; j++)
			gate_release(&st->gates[j]);
		free(st->gates);
	}
	for (i = 0; i < cfg->nenvs; i++) {
		free(cfg->envs[i].name);
		free(cfg->envs[i].url);
		deploy_release(&cfg->envs[i].deploy);
	}
	free(cfg->envs);
	for (i = 0; i < cfg->npools; i++) {
		free(cfg->pools[i].name);
		strv_release(&cfg->pools[i].envs);
		strv_release(&cfg->pools[i].reset);
		deploy_release(&cfg->pools[i].deploy);
	}
	free(cfg->pools);
	for (i = 0; i < cfg->npush; i++) {
		strv_release(&cfg->push[i].branches);
		for (j = 0; j < cfg->push[i].nrules; j++)
			rule_release(&cfg->push[i].rules[j]);
		free(cfg->push[i].rules);
	}
	free(cfg->push);
	for (i = 0; i < cfg->nsecrets; i++) {
		free(cfg->secrets[i].name);
		free(cfg->secrets[i].env);
		free(cfg->secrets[i].file);
	}
	free(cfg->secrets);
	strv_release(&cfg->admins);
	strv_release(&cfg->identity);
	cJSON_Delete(cfg->flows);
	free(cfg);
}

static const char *const default_identity[] = {
	"GL_USER", "GITEA_PUSHER_NAME", "REMOTE_USER", "FLOWGATE_USER",
};

static void
convert_identity(struct conv *c, struct fg_config *cfg, const cJSON *root)
{
	size_t i;

	if (get(root, "identity") != NULL) {
		strv_from(c, &cfg->identity, get(root, "identity"));
		return;
	}
	cfg->identity.v = calloc(FG_ARRAY_SIZE(default_identity) + 1,
	    sizeof(char *));
	if (cfg->identity.v == NULL) {
		c->oom = 1;
		return;
	}
	for (i = 0; i < FG_ARRAY_SIZE(default_identity); i++) {
		cfg->identity.v[i] = strdup(default_identity[i]);
		if (cfg->identity.v[i] == NULL) {
			c->oom = 1;
			return;
		}
		cfg->identity.n = i + 1;
	}
}

/* Environments that pools own are added to envs, marked with their pool. */
static void
add_pool_envs(struct conv *c, struct fg_config *cfg)
{
	size_t i, j, total = cfg->nenvs;
	struct fg_env *ne;

	for (i = 0; i < cfg->npools; i++)
		total += cfg->pools[i].envs.n;
	ne = realloc(cfg->envs, (total + 1) * sizeof(*ne));
	if (ne == NULL) {
		c->oom = 1;
		return;
	}
	cfg->envs = ne;
	for (i = 0; i < cfg->npools; i++) {
		const struct fg_pool *p = &cfg->pools[i];

		for (j = 0; j < p->envs.n; j++) {
			struct fg_env *e = &cfg->envs[cfg->nenvs];

			if (fg_pipeline_env(cfg, p->envs.v[j]) != NULL)
				continue;	/* reported in convert_pools */
			memset(e, 0, sizeof(*e));
			e->name = strdup(p->envs.v[j]);
			e->pool = p->name;
			if (e->name == NULL) {
				c->oom = 1;
				return;
			}
			cfg->nenvs++;
		}
	}
}

/*
 * Parse text and check it against the schema schema_name.  validated: the
 * text is known to pass that schema (see fg_config_load), so the check,
 * about two thirds of the cost, is skipped.
 */
static int
load_doc(struct fg_jdoc **doc, const char *schema_name, const char *text,
    size_t len, const char *file, bool validated, struct fg_diags *d)
{
	struct fg_err err = FG_ERR_INIT;
	cJSON *schema = NULL;
	int rc;

	*doc = NULL;
	rc = fg_yaml_parse(doc, text, len, file, d);
	if (rc < 0)
		return rc;
	if (validated && !cJSON_IsNull(fg_jdoc_root(*doc)))
		return 0;
	rc = fg_schema_load(&schema, schema_name, &err);
	if (rc < 0) {
		fg_diags_add(d, "%s: %s", file, err.msg);
		goto out;
	}
	if (cJSON_IsNull(fg_jdoc_root(*doc))) {
		fg_diags_add(d, "%s: the file is empty", file);
		rc = FG_EINVALID;
		goto out;
	}
	rc = fg_schema_validate(schema, fg_jdoc_root(*doc), *doc, file, d);
out:
	cJSON_Delete(schema);
	if (rc < 0) {
		fg_jdoc_free(*doc);
		*doc = NULL;
	}
	return rc;
}

static int
config_parse(struct fg_config **out, const char *pipeline, size_t plen,
    const char *pfile, const char *flows, size_t flen, const char *ffile,
    bool validated, struct fg_diags *d)
{
	struct fg_jdoc *pdoc = NULL, *fdoc = NULL;
	struct fg_config *cfg = NULL;
	struct conv c = { NULL, pfile, d, 0, 0 };
	const cJSON *root;
	int rc, frc = 0;

	*out = NULL;
	rc = load_doc(&pdoc, PIPELINE_SCHEMA, pipeline, plen, pfile,
	    validated, d);
	if (flows != NULL)
		frc = load_doc(&fdoc, FLOWS_SCHEMA, flows, flen, ffile,
		    validated, d);
	/*
	 * needs, cycles, if: and cron: what the schema cannot say.  A
	 * validated config passed this too when it was cached.
	 */
	if (fdoc != NULL && frc == 0 && !validated)
		frc = fg_flowplan_check(fdoc, flows, flen, d);
	if (rc < 0 || frc < 0) {
		rc = rc == FG_ENOMEM || frc == FG_ENOMEM ? FG_ENOMEM :
		    FG_EINVALID;
		goto out;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		rc = FG_ENOMEM;
		goto out;
	}
	c.doc = pdoc;
	root = fg_jdoc_root(pdoc);
	cfg->tmpl = fg_template_find(get(root, "template")->valuestring);
	if (get(root, "admins") != NULL)
		strv_from(&c, &cfg->admins, get(root, "admins"));
	convert_identity(&c, cfg, root);
	convert_secrets(&c, cfg, root);
	convert_envs(&c, cfg, root);
	convert_pools(&c, cfg, root);
	convert_stages(&c, cfg, root);
	convert_push(&c, cfg, root);
	add_pool_envs(&c, cfg);
	if (fdoc != NULL) {
		cfg->flows = cJSON_Duplicate(get(fg_jdoc_root(fdoc), "flows"),
		    1);
		if (cfg->flows == NULL)
			cfg->flows = cJSON_CreateObject();
		if (cfg->flows == NULL)
			c.oom = 1;
	}
	if (c.oom)
		rc = FG_ENOMEM;
	else if (c.errors > 0)
		rc = FG_EINVALID;
out:
	fg_jdoc_free(pdoc);
	fg_jdoc_free(fdoc);
	if (rc < 0)
		fg_config_free(cfg);
	else
		*out = cfg;
	return rc;
}

int
fg_config_parse(struct fg_config **out, const char *pipeline, size_t plen,
    const char *pfile, const char *flows, size_t flen, const char *ffile,
    struct fg_diags *d)
{
	return config_parse(out, pipeline, plen, pfile, flows, flen, ffile,
	    false, d);
}

int
fg_config_check(const char *pipeline, size_t plen, const char *pfile,
    const char *flows, size_t flen, const char *ffile, struct fg_diags *d)
{
	struct fg_config *cfg = NULL;
	int rc;

	rc = fg_config_parse(&cfg, pipeline, plen, pfile, flows, flen, ffile,
	    d);
	fg_config_free(cfg);
	return rc;
}

int
fg_config_check_flows(const char *flows, size_t flen, const char *ffile,
    struct fg_diags *d)
{
	struct fg_jdoc *doc = NULL;
	int rc;

	rc = load_doc(&doc, FLOWS_SCHEMA, flows, flen, ffile, false, d);
	if (rc == 0)
		rc = fg_flowplan_check(doc, flows, flen, d);
	fg_jdoc_free(doc);
	return rc;
}

static int
read_blob(struct fg_buf *out, git_oid *id, git_repository *repo,
    git_tree *tree, const char *name, struct fg_err *err)
{
	const git_tree_entry *te = git_tree_entry_byname(tree, name);
	git_blob *blob = NULL;
	int rc;

	if (te == NULL || git_tree_entry_type(te) != GIT_OBJECT_BLOB)
		return fg_err_set(err, FG_ENOTFOUND, "'%s' has no '%s'",
		    FG_CONFIG_REF, name);
	git_oid_cpy(id, git_tree_entry_id(te));
	if (git_blob_lookup(&blob, repo, git_tree_entry_id(te)) < 0)
		return fg_err_git(err, FG_EIO, "cannot read '%s'", name);
	rc = fg_buf_add(out, git_blob_rawcontent(blob),
	    (size_t)git_blob_rawsize(blob));
	git_blob_free(blob);
	if (rc < 0)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	return 0;
}

/* fg_config_read, and the blob ids read (flows_id zero without one). */
static int
config_read(struct fg_buf *pipeline, struct fg_buf *flows,
    git_oid *pipeline_id, git_oid *flows_id, git_repository *repo,
    const git_oid *commit, struct fg_err *err)
{
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_oid id;
	int rc;

	if (commit == NULL) {
		rc = git_reference_name_to_id(&id, repo, FG_CONFIG_REF);
		if (rc == GIT_ENOTFOUND)
			return fg_err_set(err, FG_ENOTFOUND, "no config: '%s' "
			    "does not exist (run 'flowgate init')",
			    FG_CONFIG_REF);
		if (rc < 0)
			return fg_err_git(err, FG_EIO, "cannot read '%s'",
			    FG_CONFIG_REF);
		commit = &id;
	}
	if (git_commit_lookup(&c, repo, commit) < 0 ||
	    git_commit_tree(&tree, c) < 0) {
		rc = fg_err_git(err, FG_EIO, "cannot read the config commit");
		goto out;
	}
	memset(flows_id, 0, sizeof(*flows_id));
	rc = read_blob(pipeline, pipeline_id, repo, tree, FG_CONFIG_PIPELINE,
	    err);
	if (rc < 0)
		goto out;
	if (git_tree_entry_byname(tree, FG_CONFIG_FLOWS) != NULL)
		rc = read_blob(flows, flows_id, repo, tree, FG_CONFIG_FLOWS,
		    err);
out:
	git_tree_free(tree);
	git_commit_free(c);
	return rc;
}

int
fg_config_read(struct fg_buf *pipeline, struct fg_buf *flows,
    git_repository *repo, const git_oid *commit, struct fg_err *err)
{
	git_oid pid, fid;

	return config_read(pipeline, flows, &pid, &fid, repo, commit, err);
}

/*
 * The validated-config cache.  Every hook run loads the current config,
 * and checking it against the JSON Schemas costs twice what parsing and
 * converting it cost.  A config that passed once passes again as long as
 * neither its text nor the schemas changed, so $GIT_DIR/flowgate-config.ok
 * holds one line naming what passed: the version of the checks beyond
 * the schemas, the ids of both schemas' texts and of the pipeline.yaml and
 * flows.yaml blobs (zeros: none).  The check is
 * skipped only when the line matches exactly; the file says nothing else
 * and is rewritten atomically (temporary file, rename) after a check
 * passes.  A missing, unreadable, stale or unwritable file only costs the
 * check.  The conversion's own checks (names that must exist, ...) always
 * run.
 */
#define CONFIG_OK_FILE	"flowgate-config.ok"
#define CONFIG_OK_MAX	256

/*
 * The flows' own checks (lib/flowplan: needs, cycles, if:, cron) are
 * skipped with the schema's, so the line names their version too: bump it
 * whenever they grow stricter.
 */
#define CONFIG_OK_CHECKS	"checks-1"

static int
config_ok_line(struct fg_buf *line, const git_oid *pid, const git_oid *fid)
{
	const char *names[2] = { PIPELINE_SCHEMA, FLOWS_SCHEMA };
	char hex[GIT_OID_HEXSZ + 1];
	git_oid id;
	size_t i;

	if (fg_buf_printf(line, "%s ", CONFIG_OK_CHECKS) < 0)
		return -1;
	for (i = 0; i < 2; i++) {
		const struct fg_embedded_file *f = fg_embedded_find(names[i]);

		if (f == NULL || git_odb_hash(&id, f->data, f->len,
		    GIT_OBJECT_BLOB) < 0)
			return -1;
		if (fg_buf_printf(line, "%s ", git_oid_tostr(hex, sizeof(hex),
		    &id)) < 0)
			return -1;
	}
	if (fg_buf_printf(line, "%s ", git_oid_tostr(hex, sizeof(hex),
	    pid)) < 0 || fg_buf_printf(line, "%s\n", git_oid_tostr(hex,
	    sizeof(hex), fid)) < 0)
		return -1;
	return 0;
}

static bool
config_ok_matches(const char *path, const struct fg_buf *line)
{
	struct fg_buf text = FG_BUF_INIT;
	bool ok;

	ok = fg_read_file(&text, path, CONFIG_OK_MAX, NULL) == 0 &&
	    text.len == line->len && memcmp(text.ptr, line->ptr,
	    line->len) == 0;
	fg_buf_release(&text);
	return ok;
}

static void
config_ok_write(const char *path, const struct fg_buf *line)
{
	struct fg_buf tmp = FG_BUF_INIT;
	FILE *f = NULL;
	bool ok;

	if (fg_buf_printf(&tmp, "%s.%ld.tmp", path, (long)getpid()) < 0)
		goto out;
	f = fopen(tmp.ptr, "wx");
	if (f == NULL)
		goto out;
	ok = fwrite(line->ptr, 1, line->len, f) == line->len;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp.ptr, path) < 0)
		(void)unlink(tmp.ptr);
out:
	fg_buf_release(&tmp);
}

int
fg_config_load(struct fg_config **out, git_repository *repo,
    struct fg_diags *d, struct fg_err *err)
{
	struct fg_buf p = FG_BUF_INIT, f = FG_BUF_INIT;
	struct fg_buf path = FG_BUF_INIT, line = FG_BUF_INIT;
	git_oid pid, fid;
	bool validated = false;
	int rc;

	*out = NULL;
	rc = config_read(&p, &f, &pid, &fid, repo, NULL, err);
	if (rc < 0)
		goto out;
	/* A repository without a directory (in memory) has no cache. */
	if (git_repository_path(repo) != NULL &&
	    fg_buf_printf(&path, "%s%s", git_repository_path(repo),
	    CONFIG_OK_FILE) == 0 && config_ok_line(&line, &pid, &fid) == 0)
		validated = config_ok_matches(path.ptr, &line);
	rc = config_parse(out, p.ptr, p.len, FG_CONFIG_PIPELINE,
	    f.len ? f.ptr : NULL, f.len, FG_CONFIG_FLOWS,
	    validated, d);
	if (rc < 0)
		fg_err_set(err, rc, "the config on '%s' is invalid",
		    FG_CONFIG_REF);
	else if (!validated && line.len > 0)
		config_ok_write(path.ptr, &line);
out:
	fg_buf_release(&p);
	fg_buf_release(&f);
	fg_buf_release(&path);
	fg_buf_release(&line);
	return rc;
}

static int
insert_blob(git_treebuilder *tb, git_repository *repo, const char *name,
    const char *text, struct fg_err *err)
{
	git_oid id;

	if (git_blob_create_from_buffer(&id, repo, text, strlen(text)) < 0 ||
	    git_treebuilder_insert(NULL, tb, name, &id,
	    GIT_FILEMODE_BLOB) < 0)
		return fg_err_git(err, FG_EIO, "cannot write '%s'", name);
	return 0;
}

int
fg_config_commit(git_oid *out, bool *changed, git_repository *repo,
    const char *pipeline, const char *flows, const char *name,
    const char *email, const char *message, struct fg_diags *d,
    struct fg_err *err)
{
	struct fg_buf oldp = FG_BUF_INIT, oldf = FG_BUF_INIT;
	git_treebuilder *tb = NULL;
	git_signature *author = NULL, *committer = NULL;
	git_reference *ref = NULL;
	git_oid old, tree_id, commit_id;
	const git_oid *parents[1];
	const char *f;
	bool have_old;
	int rc;

	*changed = false;
	rc = git_reference_name_to_id(&old, repo, FG_CONFIG_REF);
	if (rc < 0 && rc != GIT_ENOTFOUND)
		return fg_err_git(err, FG_EIO, "cannot read '%s'",
		    FG_CONFIG_REF);
	have_old = rc == 0;
	if (have_old) {
		rc = fg_config_read(&oldp, &oldf, repo, &old, err);
		if (rc < 0 && rc != FG_ENOTFOUND)
			goto out;
	}
	f = flows != NULL ? flows : oldf.len ? oldf.ptr : NULL;
	rc = fg_config_check(pipeline, strlen(pipeline), FG_CONFIG_PIPELINE,
	    f, f ? strlen(f) : 0, FG_CONFIG_FLOWS, d);
	if (rc < 0) {
		fg_err_set(err, rc, "the config is invalid: %zu problem%s",
		    fg_diags_count(d), fg_diags_count(d) == 1 ? "" : "s");
		goto out;
	}
	if (have_old && strcmp(oldp.ptr, pipeline) == 0 &&
	    (f == NULL ? oldf.len == 0 : strcmp(oldf.ptr, f) == 0)) {
		if (out != NULL)
			git_oid_cpy(out, &old);
		rc = 0;
		goto out;
	}
	if (git_treebuilder_new(&tb, repo, NULL) < 0) {
		rc = fg_err_git(err, FG_EIO, "cannot build the config tree");
		goto out;
	}
	rc = insert_blob(tb, repo, FG_CONFIG_PIPELINE, pipeline, err);
	if (rc == 0 && f != NULL)
		rc = insert_blob(tb, repo, FG_CONFIG_FLOWS, f, err);
	if (rc < 0)
		goto out;
	if (git_treebuilder_write(&tree_id, tb) < 0 ||
	    git_signature_new(&author, name, email, fg_now(), 0) < 0 ||
	    git_signature_new(&committer, "flowgate", "flowgate@localhost",
	    fg_now(), 0) < 0) {
		rc = fg_err_git(err, FG_EIO, "cannot write the config commit");
		goto out;
	}
	parents[0] = &old;
	if (git_commit_create_from_ids(&commit_id, repo, NULL, author,
	    committer, NULL, message, &tree_id, have_old ? 1 : 0,
	    parents) < 0) {
		rc = fg_err_git(err, FG_EIO, "cannot write the config commit");
		goto out;
	}
	if (have_old)
		rc = git_reference_create_matching(&ref, repo, FG_CONFIG_REF,
		    &commit_id, 1, &old, message);
	else
		rc = git_reference_create(&ref, repo, FG_CONFIG_REF,
		    &commit_id, 0, message);
	if (rc == GIT_EMODIFIED || rc == GIT_ELOCKED || rc == GIT_EEXISTS) {
		rc = fg_err_set(err, FG_ECONFLICT, "'%s' changed while it "
		    "was being written; read it again and retry",
		    FG_CONFIG_REF);
		goto out;
	}
	if (rc < 0) {
		rc = fg_err_git(err, FG_EIO, "cannot update '%s'",
		    FG_CONFIG_REF);
		goto out;
	}
	*changed = true;
	if (out != NULL)
		git_oid_cpy(out, &commit_id);
out:
	git_reference_free(ref);
	git_signature_free(author);
	git_signature_free(committer);
	git_treebuilder_free(tb);
	fg_buf_release(&oldp);
	fg_buf_release(&oldf);
	return rc;
}
