/*
 * cmd_pipeline.c - flowgate templates, flowgate pipeline show and reset.
 *
 * NAME
 *	flowgate pipeline - show the pipeline and its deployments, or reset
 *	it
 *
 * SYNOPSIS
 *	flowgate [--repo DIR] pipeline show [--repo DIR] [--json]
 *	flowgate [--repo DIR] pipeline reset [--repo DIR]
 *
 * DESCRIPTION
 *	show prints the stages in promotion order (branch, tip, gates,
 *	environments), then every environment with its current deployment:
 *	status, commit and its subject, when it ended (or started), who asked.
 *	--json prints one object: "stages", then "environments", each with
 *	"deployment" (deployment.json's fields, "record" and "subject") or
 *	null when the environment has none.
 *
 *	reset empties the pipeline state: every environment loses its current
 *	deployment (one "reset" record on each refs/flowgate/envs/<env>, plus
 *	one activity record); all history stays in git log (docs/deploy.md).
 *	Refused while any environment is deploying.  Only admins may reset
 *	when the config names admins; the actor is $FLOWGATE_USER, else git's
 *	user.name.
 *
 * EXAMPLE
 *	flowgate pipeline show
 *	flowgate pipeline show --json | jq '.environments[].deployment.status'
 *	FLOWGATE_USER=alice flowgate pipeline reset
 *
 * ERRORS
 *	Exit status 0 done; 1 when the repository or its config cannot be
 *	read, or reset was refused (busy, not an admin); 2 for bad usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "config.h"
#include "deploy.h"
#include "log.h"
#include "pipeline.h"
#include "record.h"
#include "repo.h"
#include "store.h"
#include "template.h"
#include "util.h"
#include "banned.h"

static const char templates_usage[] =
    "usage: flowgate templates\n"
    "\n"
    "List the built-in templates with their stages in promotion order.";

static const char pipeline_usage[] =
    "usage: flowgate pipeline show [--json] [--repo DIR]\n"
    "       flowgate pipeline reset [--repo DIR]\n"
    "\n"
    "show: the pipeline's stages left to right in promotion order, each with\n"
    "the branch it tracks, that branch's tip commit and its environments\n"
    "(the developer stage: its sandbox pool); then each environment's\n"
    "current deployment: status, commit, when, by whom (\"never deployed\"\n"
    "when it has none).  --json prints the same as one JSON object.\n"
    "\n"
    "reset: empty the pipeline state in new commits: every environment\n"
    "forgets its current deployment; 'git log refs/flowgate/envs/ENV' keeps\n"
    "the history.  Refused while an environment is deploying; admins only\n"
    "when pipeline.yaml names admins (the actor is $FLOWGATE_USER, else\n"
    "git's user.name).";

int
cmd_templates(int argc, char **argv)
{
	const struct fg_template *all;
	size_t n, i, j;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		puts(templates_usage);
		return CLI_EXIT_OK;
	}
	if (argc > 1)
		return cli_usage(templates_usage, "templates takes no "
		    "arguments");
	all = fg_template_all(&n);
	for (i = 0; i < n; i++) {
		const struct fg_template *t = &all[i];

		printf("%-12s", t->name);
		for (j = 0; j < t->nstages; j++) {
			const struct fg_template_stage *s = &t->stages[j];

			if (s->id == FG_STAGE_HOTFIX)
				printf("  (hotfix -> %s)",
				    fg_stage_name(s->promotes_to));
			else
				printf("%s%s", j ? " -> " : "",
				    fg_stage_name(s->id));
		}
		printf("\n%12s%s\n", "", t->summary);
	}
	return CLI_EXIT_OK;
}

static void
tip_of(char out[8], git_repository *repo, const char *branch)
{
	char ref[300];
	git_oid id;

	snprintf(ref, sizeof(ref), "refs/heads/%s", branch);
	if (git_reference_name_to_id(&id, repo, ref) == 0)
		git_oid_tostr(out, 8, &id);
	else
		snprintf(out, 8, "-");
}

static cJSON *
stage_json(const struct fg_config *cfg, const struct fg_stage *st,
    git_repository *repo)
{
	const struct fg_stage *to = fg_pipeline_target(cfg, st);
	cJSON *o = cJSON_CreateObject(), *envs;
	const struct fg_pool *pool;
	char tip[8];
	size_t i;

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "name", fg_stage_name(st->id));
	if (st->branch != NULL) {
		tip_of(tip, repo, st->branch);
		cJSON_AddStringToObject(o, "branch", st->branch);
		if (strcmp(tip, "-") != 0)
			cJSON_AddStringToObject(o, "tip", tip);
		else
			cJSON_AddNullToObject(o, "tip");
	}
	envs = cJSON_AddArrayToObject(o, "environments");
	pool = st->pool != NULL ? fg_pipeline_pool(cfg, st->pool) : NULL;
	if (pool != NULL) {
		cJSON_AddStringToObject(o, "pool", pool->name);
		for (i = 0; i < pool->envs.n; i++)
			cJSON_AddItemToArray(envs,
			    cJSON_CreateString(pool->envs.v[i]));
	}
	for (i = 0; i < st->envs.n; i++)
		cJSON_AddItemToArray(envs, cJSON_CreateString(st->envs.v[i]));
	if (to != NULL)
		cJSON_AddStringToObject(o, "promotes_to", fg_stage_name(to->id));
	else
		cJSON_AddNullToObject(o, "promotes_to");
	cJSON_AddNumberToObject(o, "gates", (double)st->ngates);
	return o;
}

static void
print_text(const struct fg_config *cfg, const struct fg_stage **order,
    size_t n, git_repository *repo)
{
	char tip[8], envs[512];
	size_t i, j, len;

	printf("template %s:", cfg->tmpl->name);
	for (i = 0; i < n; i++) {
		if (order[i]->id == FG_STAGE_HOTFIX)
			printf("  (hotfix -> production)");
		else
			printf("%s%s", i ? " -> " : " ",
			    fg_stage_name(order[i]->id));
	}
	printf("\n\n%-12s %-20s %-8s %-6s %s\n", "STAGE", "BRANCH", "TIP",
	    "GATES", "ENVIRONMENTS");
	for (i = 0; i < n; i++) {
		const struct fg_stage *st = order[i];
		const struct fg_pool *pool = st->pool != NULL ?
		    fg_pipeline_pool(cfg, st->pool) : NULL;

		envs[0] = '\0';
		len = 0;
		if (pool != NULL)
			len += (size_t)snprintf(envs, sizeof(envs), "pool %s:",
			    pool->name);
		for (j = 0; pool != NULL && j < pool->envs.n &&
		    len < sizeof(envs); j++)
			len += (size_t)snprintf(envs + len, sizeof(envs) - len,
			    " %s", pool->envs.v[j]);
		for (j = 0; j < st->envs.n && len < sizeof(envs); j++)
			len += (size_t)snprintf(envs + len, sizeof(envs) - len,
			    "%s%s", j ? ", " : "", st->envs.v[j]);
		if (st->branch != NULL)
			tip_of(tip, repo, st->branch);
		else
			snprintf(tip, sizeof(tip), "-");
		printf("%-12s %-20s %-8s %-6zu %s\n", fg_stage_name(st->id),
		    st->branch ? st->branch : "(pull requests)", tip,
		    st->ngates, envs);
	}
}

/* Append s to b made safe for a terminal, cut at max bytes. */
static int
esc(struct fg_buf *b, const char *s, size_t max)
{
	return fg_record_escape_line(b, s != NULL ? s : "", max);
}

static const char *
jget(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

/*
 * Every environment's current deployment, one line each, or "never
 * deployed".  Returns 0 or the CLI's failure status.
 */
static int
print_envs(const struct fg_config *cfg, struct fg_store *st)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf line = FG_BUF_INIT;
	const char *when;
	char w[32], *t;
	cJSON *d = NULL;
	size_t i;
	int rc = 0;

	printf("\n%-12s %-12s %-8s %-20s %-12s %s\n", "ENVIRONMENT",
	    "STATUS", "COMMIT", "WHEN", "BY", "SUBJECT");
	for (i = 0; i < cfg->nenvs && rc == 0; i++) {
		if (fg_deploy_current_json(&d, st, cfg->envs[i].name,
		    &err) < 0) {
			rc = cli_fail(&err);
			break;
		}
		fg_buf_reset(&line);
		if (cJSON_IsNull(d)) {
			printf("%-12s never deployed\n", cfg->envs[i].name);
			cJSON_Delete(d);
			continue;
		}
		when = jget(d, "finished")[0] ? jget(d, "finished") :
		    jget(d, "started");
		snprintf(w, sizeof(w), "%s", when);
		t = strchr(w, 'T');
		if (t != NULL)
			*t = ' ';
		if (fg_buf_printf(&line, "%-12s %-12s %-8.7s %-20s ",
		    cfg->envs[i].name, jget(d, "status"), jget(d, "commit"),
		    w) < 0 || esc(&line, jget(d, "actor"), 64) < 0 ||
		    fg_buf_puts(&line, "  ") < 0 ||
		    esc(&line, jget(d, "subject"), 200) < 0)
			rc = cli_failf("out of memory");
		else
			printf("%s\n", line.ptr);
		cJSON_Delete(d);
	}
	fg_buf_release(&line);
	return rc;
}

/* The "environments" array of pipeline show --json. */
static int
envs_json(cJSON *root, const struct fg_config *cfg, struct fg_store *st)
{
	struct fg_err err = FG_ERR_INIT;
	cJSON *arr, *e, *d;
	size_t i;

	arr = cJSON_AddArrayToObject(root, "environments");
	if (arr == NULL)
		return cli_failf("out of memory");
	for (i = 0; i < cfg->nenvs; i++) {
		if (fg_deploy_current_json(&d, st, cfg->envs[i].name,
		    &err) < 0)
			return cli_fail(&err);
		e = cJSON_CreateObject();
		if (e == NULL) {
			cJSON_Delete(d);
			return cli_failf("out of memory");
		}
		cJSON_AddItemToArray(arr, e);
		cJSON_AddStringToObject(e, "name", cfg->envs[i].name);
		if (cfg->envs[i].pool != NULL)
			cJSON_AddStringToObject(e, "pool", cfg->envs[i].pool);
		if (cfg->envs[i].url != NULL)
			cJSON_AddStringToObject(e, "url", cfg->envs[i].url);
		cJSON_AddItemToObject(e, "deployment", d);
	}
	return 0;
}

static int
pipeline_show(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "repo", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct fg_stage *order[FG_STAGE_COUNT];
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	struct fg_config *cfg = NULL;
	struct fg_store *st = NULL;
	git_repository *repo = NULL;
	const char *repo_opt = NULL;
	bool json = false;
	cJSON *root = NULL, *stages;
	char *text;
	size_t n, i;
	int c, rc = CLI_EXIT_FAIL;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'r': repo_opt = optarg; break;
		case 'h': puts(pipeline_usage); return CLI_EXIT_OK;
		default: return cli_usage(pipeline_usage, "bad option");
		}
	}
	if (optind != argc)
		return cli_usage(pipeline_usage, "show takes no arguments");
	if (cli_open_repo(&repo, repo_opt) != 0)
		return CLI_EXIT_FAIL;
	if (fg_config_load(&cfg, repo, &d, &err) < 0) {
		cli_print_diags(&d);
		rc = cli_fail(&err);
		goto out;
	}
	if (fg_store_open(&st, git_repository_path(repo), 0, &err) < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	n = fg_pipeline_order(cfg, order);
	if (!json) {
		print_text(cfg, order, n, repo);
		rc = print_envs(cfg, st) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
		goto out;
	}
	root = cJSON_CreateObject();
	stages = cJSON_AddArrayToObject(root, "stages");
	cJSON_AddStringToObject(root, "template", cfg->tmpl->name);
	for (i = 0; i < n && stages != NULL; i++)
		cJSON_AddItemToArray(stages, stage_json(cfg, order[i], repo));
	if (envs_json(root, cfg, st) != 0)
		goto out;
	text = cJSON_PrintUnformatted(root);
	if (text == NULL) {
		rc = cli_failf("out of memory");
		goto out;
	}
	puts(text);
	cJSON_free(text);
	rc = CLI_EXIT_OK;
out:
	cJSON_Delete(root);
	fg_store_free(st);
	fg_config_free(cfg);
	fg_diags_release(&d);
	git_repository_free(repo);
	return rc;
}

static int
pipeline_reset(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "repo", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	struct fg_config *cfg = NULL;
	struct fg_store *st = NULL;
	git_repository *repo = NULL;
	const char *repo_opt = NULL;
	char name[256], email[256];
	size_t n = 0;
	int c, rc = CLI_EXIT_FAIL;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': repo_opt = optarg; break;
		case 'h': puts(pipeline_usage); return CLI_EXIT_OK;
		default: return cli_usage(pipeline_usage, "bad option");
		}
	}
	if (optind != argc)
		return cli_usage(pipeline_usage, "reset takes no arguments");
	if (getenv("FLOWGATE_DEBUG") == NULL)
		fg_log_set_level(FG_LOG_WARN);
	if (cli_open_repo(&repo, repo_opt) != 0)
		return CLI_EXIT_FAIL;
	if (fg_config_load(&cfg, repo, &d, &err) < 0) {
		cli_print_diags(&d);
		rc = cli_fail(&err);
		goto out;
	}
	if (fg_store_open(&st, git_repository_path(repo), 0, &err) < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	fg_repo_identity(name, sizeof(name), email, sizeof(email), repo);
	if (fg_deploy_reset(&n, st, cfg, name, true, &err) < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	printf("pipeline reset by %s: %zu environment%s emptied\n", name, n,
	    n == 1 ? "" : "s");
	rc = CLI_EXIT_OK;
out:
	fg_store_free(st);
	fg_config_free(cfg);
	fg_diags_release(&d);
	git_repository_free(repo);
	return rc;
}

int
cmd_pipeline(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage(pipeline_usage, "pipeline needs a subcommand");
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		puts(pipeline_usage);
		return CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "show") == 0)
		return pipeline_show(argc - 1, argv + 1);
	if (strcmp(argv[1], "reset") == 0)
		return pipeline_reset(argc - 1, argv + 1);
	return cli_usage(pipeline_usage, "unknown pipeline subcommand '%s'",
	    argv[1]);
}
