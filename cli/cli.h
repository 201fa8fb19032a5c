/*
 * cli.h - what the flowgate command's subcommands share.
 *
 * Each command is "int cmd_NAME(int argc, char **argv)" with argv[0] the
 * command's name; it returns the exit status: 0 done, 1 refused or failed,
 * 2 usage.  Errors are printed as "flowgate: <message>" on stderr.  The
 * commands parse and print; every decision is made in lib/.
 */
#ifndef FG_CLI_H
#define FG_CLI_H

#include <cjson/cJSON.h>
#include <git2.h>

#include "err.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

/* The --repo given before the command, or NULL. */
extern const char *cli_repo;

/* Print "flowgate: <err's message>" and return 1. */
int cli_fail(const struct fg_err *err);

/* Print "flowgate: <message>" and return 1. */
int cli_failf(const char *fmt, ...) FG_PRINTF(1, 2);

/* Print "flowgate: <message>" and the usage line, return 2. */
int cli_usage(const char *usage, const char *fmt, ...) FG_PRINTF(2, 3);

/* Print every diagnostic on stderr, one per line. */
void cli_print_diags(const struct fg_diags *d);

/*
 * Open the repository named by opt (a command's --repo), else the global
 * --repo, else $GIT_DIR or the current directory.  Prints the error and
 * returns 1 on failure, 0 on success.
 */
int cli_open_repo(git_repository **out, const char *opt);

struct fg_config;
struct fg_store;

/* What a command that reads the pipeline and writes records opens. */
struct cli_ctx {
	git_repository *repo;
	struct fg_config *cfg;
	struct fg_store *st;
	char name[256], email[256];	/* the acting user (fg_repo_identity) */
};

/*
 * Open the repository (as cli_open_repo), its config and a store; log
 * only warnings unless FLOWGATE_DEBUG is set.  Prints the error and
 * returns 1 on failure (c needs no closing then), 0 on success.
 */
int cli_ctx_open(struct cli_ctx *c, const char *repo_opt);
void cli_ctx_close(struct cli_ctx *c);

/* Print o (NULL: out of memory) as indented JSON; 0 or 1. */
int cli_print_json(const cJSON *o);

int cmd_init(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_templates(int argc, char **argv);
int cmd_pipeline(int argc, char **argv);
int cmd_activity(int argc, char **argv);
int cmd_promote(int argc, char **argv);
int cmd_rollback(int argc, char **argv);
int cmd_approve(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_deploy(int argc, char **argv);

#endif
