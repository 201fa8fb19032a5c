/*
 * main.c - the flowgate command: global options, then one subcommand.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "repo.h"
#include "store.h"

#define FLOWGATE_VERSION "0.1.0"

const char *cli_repo;

/* Defined in cmd_pool.c and cmd_flow.c. */
int cmd_pool(int argc, char **argv);
int cmd_flow(int argc, char **argv);

static const struct command {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
} commands[] = {
	{ "init", cmd_init, "create a repository's pipeline and install the hooks" },
	{ "config", cmd_config, "check, show or apply the pipeline config" },
	{ "templates", cmd_templates, "list the built-in templates" },
	{ "pipeline", cmd_pipeline, "show the pipeline and deployments, or reset it" },
	{ "activity", cmd_activity, "what happened, newest first" },
	{ "promote", cmd_promote, "promote a change to the next stage" },
	{ "rollback", cmd_rollback, "redeploy an environment's last good commit" },
	{ "approve", cmd_approve, "approve a change for a stage's manual gate" },
	{ "status", cmd_status, "set a commit's status for a context" },
	{ "deploy", cmd_deploy, "deploy a commit to an environment now" },
	{ "flow", cmd_flow, "flows: list, show, activate, deactivate, activity, run" },
	{ "pool", cmd_pool, "sandbox pools: list, lease, release, expire" },
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: flowgate [--repo DIR] COMMAND [ARGS]\n\n"
	    "flowgate is a git-native release pipeline: hooks and a webhook\n"
	    "daemon gate pushes, promote and deploy changes, and keep all\n"
	    "state as commits under refs/flowgate/.\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name,
		    commands[i].summary);
	fprintf(f, "\noptions:\n"
	    "  --repo DIR  the repository (default: $GIT_DIR, or found from\n"
	    "              the current directory as git does)\n"
	    "  -h, --help  this text; 'flowgate COMMAND --help' for one\n"
	    "  --version   print the version\n\n"
	    "Exit status: 0 done, 1 refused or failed, 2 usage.\n");
}

int
cli_fail(const struct fg_err *err)
{
	fprintf(stderr, "flowgate: %s\n", err->msg[0] ? err->msg :
	    fg_strerror(err->code));
	return CLI_EXIT_FAIL;
}

int
cli_failf(const char *fmt, ...)
{
	va_list ap;

	fputs("flowgate: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_EXIT_FAIL;
}

int
cli_usage(const char *use, const char *fmt, ...)
{
	va_list ap;

	fputs("flowgate: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s\n", use);
	return CLI_EXIT_USAGE;
}

void
cli_print_diags(const struct fg_diags *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		fprintf(stderr, "%s\n", d->lines[i]);
	if (d->dropped > 0)
		fprintf(stderr, "(%zu more problems: out of memory)\n",
		    d->dropped);
}

int
cli_open_repo(git_repository **out, const char *opt)
{
	struct fg_err err = FG_ERR_INIT;

	if (fg_repo_open(out, opt != NULL ? opt : cli_repo, &err) < 0)
		return cli_fail(&err);
	return 0;
}

int
cli_ctx_open(struct cli_ctx *c, const char *repo_opt)
{
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	int rc = CLI_EXIT_FAIL;

	memset(c, 0, sizeof(*c));
	if (getenv("FLOWGATE_DEBUG") == NULL)
		fg_log_set_level(FG_LOG_WARN);
	if (cli_open_repo(&c->repo, repo_opt) != 0)
		return CLI_EXIT_FAIL;
	if (fg_config_load(&c->cfg, c->repo, &d, &err) < 0) {
		cli_print_diags(&d);
		rc = cli_fail(&err);
		goto out;
	}
	if (fg_store_open(&c->st, git_repository_path(c->repo), 0, &err) <
	    0) {
		rc = cli_fail(&err);
		goto out;
	}
	fg_repo_identity(c->name, sizeof(c->name), c->email,
	    sizeof(c->email), c->repo);
	rc = 0;
out:
	fg_diags_release(&d);
	if (rc != 0)
		cli_ctx_close(c);
	return rc;
}

void
cli_ctx_close(struct cli_ctx *c)
{
	fg_store_free(c->st);
	fg_config_free(c->cfg);
	git_repository_free(c->repo);
	memset(c, 0, sizeof(*c));
}

int
cli_print_json(const cJSON *o)
{
	char *text = o != NULL ? cJSON_Print(o) : NULL;

	if (text == NULL)
		return cli_failf("out of memory");
	puts(text);
	cJSON_free(text);
	return CLI_EXIT_OK;
}

static void
log_to_stderr(enum fg_log_level level, const char *line, void *payload)
{
	(void)level;
	(void)payload;
	fprintf(stderr, "flowgate: %s\n", line);
}

int
main(int argc, char **argv)
{
	int i = 1, rc;
	size_t c;

	fg_log_set_sink(log_to_stderr, NULL);
	if (getenv("FLOWGATE_DEBUG") != NULL)
		fg_log_set_level(FG_LOG_DEBUG);
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return CLI_EXIT_OK;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("flowgate %s\n", FLOWGATE_VERSION);
			return CLI_EXIT_OK;
		} else if (strcmp(argv[i], "--repo") == 0 && i + 1 < argc) {
			cli_repo = argv[i + 1];
			i += 2;
		} else if (strncmp(argv[i], "--repo=", 7) == 0) {
			cli_repo = argv[i] + 7;
			i++;
		} else {
			usage(stderr);
			return cli_usage("", "unknown option '%s'", argv[i]);
		}
	}
	if (i >= argc) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	for (c = 0; c < sizeof(commands) / sizeof(commands[0]); c++) {
		if (strcmp(argv[i], commands[c].name) != 0)
			continue;
		git_libgit2_init();
		optind = 0;	/* reset getopt for the command's own options */
		rc = commands[c].fn(argc - i, argv + i);
		git_libgit2_shutdown();
		return rc;
	}
	fprintf(stderr, "flowgate: unknown command '%s' (see 'flowgate "
	    "--help')\n", argv[i]);
	return CLI_EXIT_USAGE;
}
