/*
 * cmd_init.c - flowgate init: create a repository's pipeline.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "config.h"
#include "repo.h"
#include "template.h"
#include "util.h"

static const char init_usage[] =
    "usage: flowgate init [--template NAME] [--config FILE] [--hook PATH]\n"
    "                     [--update-hook] REPO\n"
    "\n"
    "Create the bare repository REPO if it is missing, link flowgate-hook as\n"
    "its pre-receive and post-receive hooks, and write the first\n"
    "commit on refs/flowgate/config: FILE as pipeline.yaml, or the default\n"
    "config of the template (release, progressive or continuous; default\n"
    "release).  Running it again changes nothing and says so; change the\n"
    "config afterwards with 'flowgate config apply'.\n"
    "\n"
    "  --template NAME  the template whose default config to write\n"
    "  --config FILE    write FILE instead (checked first)\n"
    "  --hook PATH      the flowgate-hook program (default: $FLOWGATE_HOOK,\n"
    "                   else found beside this program)\n"
    "  --update-hook    link the update hook too, for servers that run only\n"
    "                   update; beside pre-receive it only repeats the\n"
    "                   verdict, so without this flag init removes a\n"
    "                   flowgate update hook it finds";

/*
 * Find flowgate-hook: beside this program when installed, or in the build
 * tree's hooks/ when run from there.
 */
static int
find_hook(char out[PATH_MAX])
{
	static const char *const rel[] = {
		"flowgate-hook", "../hooks/flowgate-hook",
		"../libexec/flowgate/flowgate-hook",
	};
	char self[PATH_MAX], cand[PATH_MAX * 2];
	const char *env = getenv("FLOWGATE_HOOK");
	ssize_t n;
	size_t i;
	char *slash;

	if (env != NULL && *env != '\0')
		return realpath(env, out) != NULL ? 0 : -1;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return -1;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash == NULL)
		return -1;
	*slash = '\0';
	for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(cand, sizeof(cand), "%s/%s", self, rel[i]);
		if (access(cand, X_OK) == 0)
			return realpath(cand, out) != NULL ? 0 : -1;
	}
	return -1;
}

int
cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "template", required_argument, NULL, 't' },
		{ "config", required_argument, NULL, 'c' },
		{ "hook", required_argument, NULL, 'k' },
		{ "update-hook", no_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tname = "release", *file = NULL, *hook_opt = NULL;
	const struct fg_template *t;
	struct fg_buf text = FG_BUF_INIT;
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	git_repository *repo = NULL;
	char hook[PATH_MAX], name[256], email[256], msg[512];
	bool created = false, hooks_changed = false, cfg_changed = false;
	bool with_update = false;
	git_oid tip;
	int c, rc = CLI_EXIT_FAIL;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't': tname = optarg; break;
		case 'c': file = optarg; break;
		case 'k': hook_opt = optarg; break;
		case 'u': with_update = true; break;
		case 'h': puts(init_usage); return CLI_EXIT_OK;
		default: return cli_usage(init_usage, "bad option");
		}
	}
	if (optind != argc - 1)
		return cli_usage(init_usage, "init takes one REPO");
	t = fg_template_find(tname);
	if (t == NULL)
		return cli_usage(init_usage, "unknown template '%s' (release, "
		    "progressive or continuous)", tname);
	if (hook_opt != NULL ? realpath(hook_opt, hook) == NULL :
	    find_hook(hook) < 0)
		return cli_failf("cannot find the flowgate-hook program (give "
		    "--hook PATH or set FLOWGATE_HOOK)");
	if (file != NULL) {
		if (fg_read_file(&text, file, FG_CONFIG_MAX_BYTES, &err) < 0)
			return cli_fail(&err);
	} else if (fg_buf_puts(&text, fg_template_default_config(t)) < 0) {
		return cli_failf("out of memory");
	}
	/* Check before touching anything, so a bad FILE creates nothing. */
	if (fg_config_check(text.ptr, text.len, file ? file : "pipeline.yaml",
	    fg_template_default_flows(t),
	    strlen(fg_template_default_flows(t)), "flows.yaml", &d) < 0) {
		cli_print_diags(&d);
		rc = cli_failf("the config is invalid; nothing was written");
		goto out;
	}
	if (fg_repo_init(&repo, &created, argv[optind], &err) < 0 ||
	    fg_repo_install_hooks(&hooks_changed, repo, hook,
	    with_update, &err) < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	if (git_reference_name_to_id(&tip, repo, FG_CONFIG_REF) != 0) {
		fg_repo_identity(name, sizeof(name), email, sizeof(email),
		    repo);
		snprintf(msg, sizeof(msg), "config: init from template %s\n\n"
		    "Flowgate-Kind: config\n", file ? "file" : t->name);
		if (fg_config_commit(&tip, &cfg_changed, repo, text.ptr,
		    fg_template_default_flows(t), name, email, msg, &d,
		    &err) < 0) {
			cli_print_diags(&d);
			rc = cli_fail(&err);
			goto out;
		}
	}
	if (created)
		printf("created bare repository %s\n", argv[optind]);
	if (hooks_changed)
		printf("installed hooks pre-receive, %spost-receive -> %s\n",
		    with_update ? "update, " : "", hook);
	if (cfg_changed)
		printf("wrote %s: %.7s (%s)\n", FG_CONFIG_REF,
		    git_oid_tostr_s(&tip), file ? file : t->name);
	if (!created && !hooks_changed && !cfg_changed)
		printf("%s is already set up; nothing changed\n",
		    argv[optind]);
	rc = CLI_EXIT_OK;
out:
	git_repository_free(repo);
	fg_diags_release(&d);
	fg_buf_release(&text);
	return rc;
}
