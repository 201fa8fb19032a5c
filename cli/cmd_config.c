/*
 * cmd_config.c - flowgate config check|show|apply.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "config.h"
#include "repo.h"
#include "util.h"

static const char config_usage[] =
    "usage: flowgate config check FILE...\n"
    "       flowgate config show [--flows] [--repo DIR]\n"
    "       flowgate config apply FILE [--flows FLOWS] [-m MESSAGE] [--repo DIR]\n"
    "\n"
    "check  validate each FILE and print every problem as\n"
    "       file:line:col: path: what is wrong; a file whose name ends in\n"
    "       flows.yaml is checked as flows, any other as a pipeline.\n"
    "       Exit 1 when any file is invalid.\n"
    "show   print pipeline.yaml (or flows.yaml) from refs/flowgate/config.\n"
    "apply  validate FILE (and FLOWS) and commit it to refs/flowgate/config\n"
    "       as pipeline.yaml (flows.yaml); the author is $FLOWGATE_USER or\n"
    "       git's user.name.  Refused with every problem when invalid.";

static bool
is_flows_file(const char *path)
{
	size_t n = strlen(path);

	return (n >= 10 && strcmp(path + n - 10, "flows.yaml") == 0) ||
	    (n >= 9 && strcmp(path + n - 9, "flows.yml") == 0);
}

static int
config_check(int argc, char **argv)
{
	struct fg_err err = FG_ERR_INIT;
	int i, rc = CLI_EXIT_OK;

	if (argc < 2)
		return cli_usage(config_usage, "check needs at least one FILE");
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			puts(config_usage);
			return CLI_EXIT_OK;
		}
	}
	for (i = 1; i < argc; i++) {
		struct fg_buf text = FG_BUF_INIT;
		struct fg_diags d = FG_DIAGS_INIT;
		int r;

		r = fg_read_file(&text, argv[i], FG_CONFIG_MAX_BYTES, &err);
		if (r < 0) {
			rc = cli_fail(&err);
			continue;
		}
		if (is_flows_file(argv[i]))
			r = fg_config_check_flows(text.ptr, text.len, argv[i],
			    &d);
		else
			r = fg_config_check(text.ptr, text.len, argv[i], NULL,
			    0, NULL, &d);
		if (r < 0) {
			cli_print_diags(&d);
			if (fg_diags_count(&d) == 0)
				fprintf(stderr, "%s: %s\n", argv[i],
				    fg_strerror(r));
			rc = CLI_EXIT_FAIL;
		} else {
			printf("%s: ok\n", argv[i]);
		}
		fg_diags_release(&d);
		fg_buf_release(&text);
	}
	return rc;
}

static int
config_show(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "flows", no_argument, NULL, 'f' },
		{ "repo", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fg_buf p = FG_BUF_INIT, f = FG_BUF_INIT;
	struct fg_err err = FG_ERR_INIT;
	git_repository *repo = NULL;
	const char *repo_opt = NULL;
	bool flows = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': flows = true; break;
		case 'r': repo_opt = optarg; break;
		case 'h': puts(config_usage); return CLI_EXIT_OK;
		default: return cli_usage(config_usage, "bad option");
		}
	}
	if (optind != argc)
		return cli_usage(config_usage, "show takes no arguments");
	if (cli_open_repo(&repo, repo_opt) != 0)
		return CLI_EXIT_FAIL;
	rc = fg_config_read(&p, &f, repo, NULL, &err);
	if (rc < 0) {
		rc = cli_fail(&err);
	} else {
		fwrite(flows ? f.ptr : p.ptr, 1, flows ? f.len : p.len,
		    stdout);
		rc = CLI_EXIT_OK;
	}
	fg_buf_release(&p);
	fg_buf_release(&f);
	git_repository_free(repo);
	return rc;
}

static int
config_apply(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "flows", required_argument, NULL, 'f' },
		{ "message", required_argument, NULL, 'm' },
		{ "repo", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fg_buf p = FG_BUF_INIT, f = FG_BUF_INIT, msg = FG_BUF_INIT;
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	git_repository *repo = NULL;
	const char *repo_opt = NULL, *flows = NULL, *why = NULL;
	char name[256], email[256];
	bool changed = false;
	git_oid tip;
	int c, rc = CLI_EXIT_FAIL;

	while ((c = getopt_long(argc, argv, "hm:", opts, NULL)) != -1) {
		switch (c) {
		case 'f': flows = optarg; break;
		case 'm': why = optarg; break;
		case 'r': repo_opt = optarg; break;
		case 'h': puts(config_usage); return CLI_EXIT_OK;
		default: return cli_usage(config_usage, "bad option");
		}
	}
	if (optind != argc - 1)
		return cli_usage(config_usage, "apply takes one FILE");
	if (fg_read_file(&p, argv[optind], FG_CONFIG_MAX_BYTES, &err) < 0 ||
	    (flows != NULL &&
	    fg_read_file(&f, flows, FG_CONFIG_MAX_BYTES, &err) < 0)) {
		rc = cli_fail(&err);
		goto out;
	}
	if (memchr(p.ptr, '\0', p.len) != NULL ||
	    memchr(f.ptr, '\0', f.len) != NULL) {
		rc = cli_failf("'%s' holds a NUL byte", argv[optind]);
		goto out;
	}
	if (cli_open_repo(&repo, repo_opt) != 0)
		goto out;
	fg_repo_identity(name, sizeof(name), email, sizeof(email), repo);
	if (fg_buf_printf(&msg, "config: apply %s by %s\n\n%s%s"
	    "Flowgate-Kind: config\n", argv[optind], name, why ? why : "",
	    why ? "\n\n" : "") < 0) {
		rc = cli_failf("out of memory");
		goto out;
	}
	if (fg_config_commit(&tip, &changed, repo, p.ptr,
	    flows != NULL ? f.ptr : NULL, name, email, msg.ptr, &d,
	    &err) < 0) {
		cli_print_diags(&d);
		rc = cli_fail(&err);
		goto out;
	}
	if (changed)
		printf("%s: %.7s\n", FG_CONFIG_REF, git_oid_tostr_s(&tip));
	else
		printf("the config is unchanged; nothing written\n");
	rc = CLI_EXIT_OK;
out:
	git_repository_free(repo);
	fg_diags_release(&d);
	fg_buf_release(&p);
	fg_buf_release(&f);
	fg_buf_release(&msg);
	return rc;
}

int
cmd_config(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage(config_usage, "config needs a subcommand");
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		puts(config_usage);
		return CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "check") == 0)
		return config_check(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return config_show(argc - 1, argv + 1);
	if (strcmp(argv[1], "apply") == 0)
		return config_apply(argc - 1, argv + 1);
	return cli_usage(config_usage, "unknown config subcommand '%s'",
	    argv[1]);
}
