/*
 * cmd_deploy.c - flowgate deploy: deploy a commit to an environment now.
 *
 * NAME
 *	flowgate deploy - deploy a commit to one environment
 *
 * SYNOPSIS
 *	flowgate [--repo DIR] deploy [--repo DIR] [--wait SECS] [--json]
 *	    ENV [COMMIT]
 *
 * DESCRIPTION
 *	Runs ENV's deployment (pipeline.yaml: a command in a fresh checkout,
 *	or a signed HTTP POST) for COMMIT and records it on
 *	refs/flowgate/envs/ENV, in the activity log and in the commit's note
 *	(docs/deploy.md).  This is an operator's action: no gate is checked.
 *	Prints one outcome line, "deploy qa: 1a2b3c4 succeeded in 42s"; when
 *	the deployment failed, the end of its output follows on stderr.  With
 *	--json, one JSON object instead: the attempt as deployment.json has it
 *	(schemas/deployment.schema.json) with "record" and the whole "log".
 *	The actor is $FLOWGATE_USER, else git's user.name.
 *
 * DEFAULT
 *	COMMIT: the tip of the branch of ENV's stage (FLOWGATE_REF is then
 *	that branch).  A sandbox environment belongs to no branch: name the
 *	COMMIT.  --wait 0: refused at once while ENV is deploying.
 *
 * EXAMPLE
 *	flowgate deploy qa
 *	flowgate deploy --wait 300 prod v1.4.2
 *	flowgate deploy --json sb-1 HEAD | jq -r .status
 *
 * ERRORS
 *	Exit status 0 when the deployment succeeded; 1 when it failed (the
 *	attempt is recorded failed), when ENV stayed busy ("environment 'qa'
 *	is busy: 1a2b3c4 is being deployed by alice since ..."), or when
 *	ENV or COMMIT is unknown (nothing recorded); 2 for bad usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "cli.h"
#include "config.h"
#include "deploy.h"
#include "log.h"
#include "pipeline.h"
#include "record.h"
#include "repo.h"
#include "store.h"
#include "util.h"
#include "banned.h"

#define WAIT_MAX	86400
#define FAIL_LINES	20

static const char usage_text[] =
    "usage: flowgate deploy [--repo DIR] [--wait SECS] [--json] ENV [COMMIT]";

static void
help(void)
{
	printf("%s\n\n"
	    "Deploy COMMIT to environment ENV now, as pipeline.yaml says ENV\n"
	    "deploys, and record the attempt on refs/flowgate/envs/ENV.  No\n"
	    "gate is checked: this is an operator's action.  Prints the outcome\n"
	    "line; a failed deployment's output tail follows on stderr.\n\n"
	    "arguments:\n"
	    "  ENV           an environment of the config (a stage's or a\n"
	    "                pool's)\n"
	    "  COMMIT        what to deploy: a commit, tag or branch (default:\n"
	    "                the tip of ENV's stage branch)\n\n"
	    "options:\n"
	    "  --repo DIR    the repository (default: $GIT_DIR, or found from\n"
	    "                the current directory)\n"
	    "  --wait SECS   while ENV is deploying, wait up to SECS for it\n"
	    "                (default 0: refuse at once, naming the deployment)\n"
	    "  --json        print the attempt as one JSON object\n"
	    "  -h, --help    this text\n\n"
	    "The actor is $FLOWGATE_USER, else git's user.name.\n"
	    "Exit status: 0 succeeded, 1 failed or refused, 2 usage.\n",
	    usage_text);
}

/* The stage branch ENV is deployed from, or NULL (a pool's sandbox). */
static const char *
branch_of(const struct fg_config *cfg, const char *env)
{
	const struct fg_stage *order[FG_STAGE_COUNT];
	size_t n, i, j;

	n = fg_pipeline_order(cfg, order);
	for (i = 0; i < n; i++) {
		if (order[i]->branch == NULL)
			continue;
		for (j = 0; j < order[i]->envs.n; j++)
			if (strcmp(order[i]->envs.v[j], env) == 0)
				return order[i]->branch;
	}
	return NULL;
}

/*
 * Resolve what to deploy: COMMIT (any revision; a branch or tag also
 * becomes FLOWGATE_REF) or the stage branch's tip.
 */
static int
resolve(git_oid *out, char *ref, size_t rsize, git_repository *repo,
    const struct fg_config *cfg, const char *env, const char *spec)
{
	git_object *obj = NULL, *peeled = NULL;
	git_reference *r = NULL, *direct = NULL;
	const char *branch;
	char full[1024];
	int rc = CLI_EXIT_FAIL;

	ref[0] = '\0';
	if (spec == NULL) {
		branch = branch_of(cfg, env);
		if (branch == NULL)
			return cli_failf("environment '%s' belongs to no stage "
			    "with a branch: name the COMMIT to deploy", env);
		snprintf(full, sizeof(full), "refs/heads/%s", branch);
		if (git_reference_name_to_id(out, repo, full) < 0)
			return cli_failf("branch '%s' of environment '%s' does "
			    "not exist yet: push it, or name the COMMIT",
			    branch, env);
		snprintf(ref, rsize, "%s", full);
		return 0;
	}
	if (git_revparse_ext(&obj, &r, repo, spec) < 0 ||
	    git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) < 0) {
		rc = cli_failf("unknown commit '%s'", spec);
		goto out;
	}
	git_oid_cpy(out, git_object_id(peeled));
	/* HEAD names the branch it points at. */
	if (r != NULL && git_reference_type(r) == GIT_REFERENCE_SYMBOLIC &&
	    git_reference_resolve(&direct, r) == 0)
		snprintf(ref, rsize, "%s", git_reference_name(direct));
	else if (r != NULL)
		snprintf(ref, rsize, "%s", git_reference_name(r));
	rc = 0;
out:
	git_object_free(peeled);
	git_object_free(obj);
	git_reference_free(direct);
	git_reference_free(r);
	return rc;
}

/* The last FAIL_LINES lines of the log on stderr, for the operator. */
static void
print_tail(const struct fg_buf *log)
{
	struct fg_buf line = FG_BUF_INIT;
	size_t start = log->len, lines = 0;

	while (start > 0 && lines <= FAIL_LINES) {
		start--;
		if (log->ptr[start] == '\n' && start + 1 < log->len)
			lines++;
	}
	if (lines > FAIL_LINES)
		start++;
	while (start < log->len) {
		const char *nl = memchr(log->ptr + start, '\n',
		    log->len - start);
		size_t len = nl != NULL ? (size_t)(nl - (log->ptr + start)) :
		    log->len - start;
		char *s = strndup(log->ptr + start, len);

		fg_buf_reset(&line);
		if (s != NULL && fg_record_escape_line(&line, s, 4096) == 0)
			fprintf(stderr, "  | %s\n", line.ptr);
		free(s);
		start += len + 1;
	}
	fg_buf_release(&line);
}

static int
print_json(const struct fg_deployment *d, const char *ref,
    const struct fg_err *err)
{
	char hex[GIT_OID_HEXSZ + 1], t[32], *text;
	cJSON *o = cJSON_CreateObject();
	int rc = CLI_EXIT_FAIL;

	if (o == NULL)
		return cli_failf("out of memory");
	cJSON_AddNumberToObject(o, "version", 1);
	cJSON_AddStringToObject(o, "env", d->env);
	cJSON_AddStringToObject(o, "status", fg_deploy_status_name(d->status));
	git_oid_tostr(hex, sizeof(hex), &d->commit);
	cJSON_AddStringToObject(o, "commit", hex);
	cJSON_AddStringToObject(o, "stage", d->stage);
	cJSON_AddStringToObject(o, "ref", ref);
	cJSON_AddStringToObject(o, "actor", d->actor);
	cJSON_AddStringToObject(o, "run", d->run);
	fg_format_utc(t, sizeof(t), d->started);
	cJSON_AddStringToObject(o, "started", t);
	cJSON_AddNumberToObject(o, "duration_ms", (double)d->duration_ms);
	if (d->status != FG_DEPLOY_SUCCEEDED)
		cJSON_AddStringToObject(o, "reason", fg_err_msg(err));
	git_oid_tostr(hex, sizeof(hex), &d->record);
	cJSON_AddStringToObject(o, "record", hex);
	cJSON_AddStringToObject(o, "log", d->log.ptr);
	text = cJSON_PrintUnformatted(o);
	if (text != NULL) {
		puts(text);
		rc = d->status == FG_DEPLOY_SUCCEEDED ? CLI_EXIT_OK :
		    CLI_EXIT_FAIL;
	} else {
		rc = cli_failf("out of memory");
	}
	cJSON_free(text);
	cJSON_Delete(o);
	return rc;
}

int
cmd_deploy(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "repo", required_argument, NULL, 'r' },
		{ "wait", required_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fg_deployment d;
	struct fg_deploy_req req;
	struct fg_diags diags = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	struct fg_config *cfg = NULL;
	struct fg_store *st = NULL;
	git_repository *repo = NULL;
	const char *repo_opt = NULL, *env, *spec;
	char name[256], email[256], ref[1024], short_id[8];
	long long wait = 0;
	bool json = false;
	int c, rc = CLI_EXIT_FAIL;

	memset(&d, 0, sizeof(d));
	fg_buf_init(&d.log);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': repo_opt = optarg; break;
		case 'j': json = true; break;
		case 'w':
			if (fg_parse_int(&wait, optarg, 0, WAIT_MAX, &err) < 0)
				return cli_usage(usage_text, "--wait: %s",
				    err.msg);
			break;
		case 'h': help(); return CLI_EXIT_OK;
		default: return cli_usage(usage_text, "bad option");
		}
	}
	if (optind >= argc || argc - optind > 2)
		return cli_usage(usage_text, "deploy takes ENV and an "
		    "optional COMMIT");
	env = argv[optind];
	spec = argc - optind == 2 ? argv[optind + 1] : NULL;
	/* The outcome line says it all; the log lines are for daemons. */
	if (getenv("FLOWGATE_DEBUG") == NULL)
		fg_log_set_level(FG_LOG_WARN);
	if (cli_open_repo(&repo, repo_opt) != 0)
		return CLI_EXIT_FAIL;
	if (fg_config_load(&cfg, repo, &diags, &err) < 0) {
		cli_print_diags(&diags);
		rc = cli_fail(&err);
		goto out;
	}
	if (fg_pipeline_env(cfg, env) == NULL) {
		rc = cli_failf("unknown environment '%s' (see 'flowgate "
		    "pipeline show')", env);
		goto out;
	}
	memset(&req, 0, sizeof(req));
	if (resolve(&req.commit, ref, sizeof(ref), repo, cfg, env, spec) != 0)
		goto out;
	if (fg_store_open(&st, git_repository_path(repo), 0, &err) < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	fg_repo_identity(name, sizeof(name), email, sizeof(email), repo);
	req.cfg = cfg;
	req.env = env;
	req.ref = ref;
	req.actor = name;
	req.wait_secs = (int)wait;
	if (fg_deploy_run(&d, st, &req, &err) < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	if (json) {
		rc = print_json(&d, ref, &err);
		goto out;
	}
	git_oid_tostr(short_id, sizeof(short_id), &d.commit);
	printf("deploy %s: %s %s in %llds", d.env, short_id,
	    fg_deploy_status_name(d.status),
	    (long long)(d.duration_ms / 1000));
	if (d.status == FG_DEPLOY_SUCCEEDED) {
		printf("\n");
		rc = CLI_EXIT_OK;
		goto out;
	}
	printf(": %s\n", fg_err_msg(&err));
	fflush(stdout);
	print_tail(&d.log);
	rc = CLI_EXIT_FAIL;
out:
	fg_deployment_release(&d);
	fg_store_free(st);
	fg_config_free(cfg);
	fg_diags_release(&diags);
	git_repository_free(repo);
	return rc;
}
