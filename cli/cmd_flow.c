/*
 * cmd_flow.c - flowgate flow: the flows of a repository and their runs.
 *
 * NAME
 *	flowgate flow - list, show, activate, deactivate flows; their runs
 *
 * SYNOPSIS
 *	flowgate [--repo DIR] flow list [--repo DIR] [--all] [--json]
 *	flowgate [--repo DIR] flow show [--repo DIR] [--json] NAME
 *	flowgate [--repo DIR] flow activate [--repo DIR] NAME
 *	flowgate [--repo DIR] flow deactivate [--repo DIR] NAME
 *	flowgate [--repo DIR] flow activity [--repo DIR] [--limit N] [--json]
 *	    NAME
 *	flowgate [--repo DIR] flow run [--repo DIR] [--input KEY=VALUE]...
 *	    [--json] NAME
 *
 * DESCRIPTION
 *	list prints the active flows (all of them with --all), one a line:
 *	name, trigger, steps, the last run.  show prints one flow: its
 *	trigger and steps as flows.yaml has them.  activate and deactivate
 *	commit a new config on refs/flowgate/config that changes only the
 *	flow's 'active:' in flows.yaml, keeping the rest of the file byte for
 *	byte (lib/flowctl.h); a flow without 'active:' is active.  activity
 *	prints the flow's runs, newest first, from refs/flowgate/runs/NAME.
 *	run asks the daemon to run a flow with a manual trigger: the inputs
 *	are checked against the flow's, the request is appended to
 *	refs/flowgate/inbox and the daemon woken (lib/flowexec.h); it prints
 *	the run's id, which activity then shows.  The daemon runs it; without
 *	one running, the request waits in the inbox.
 *	The actor is $FLOWGATE_USER, else git's user.name.
 *
 * EXAMPLE
 *	flowgate flow list --all
 *	flowgate flow deactivate nightly
 *	flowgate flow activity --json nightly | jq -r '.[0].status'
 *	flowgate flow run --input env=uat release-notes
 *
 * ERRORS
 *	Exit status 0 done; 1 for an unknown flow, an edit that cannot be made
 *	safely (the message says to edit flows.yaml by hand), an unreadable
 *	repository or config; 2 for bad usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "cli.h"
#include "config.h"
#include "flowctl.h"
#include "flowexec.h"
#include "flowrun.h"
#include "log.h"
#include "repo.h"
#include "store.h"
#include "util.h"
#include "banned.h"

static const char flow_usage[] =
    "usage: flowgate flow list [--repo DIR] [--all] [--json]\n"
    "       flowgate flow show [--repo DIR] [--json] NAME\n"
    "       flowgate flow activate [--repo DIR] NAME\n"
    "       flowgate flow deactivate [--repo DIR] NAME\n"
    "       flowgate flow activity [--repo DIR] [--limit N] [--json] NAME\n"
    "       flowgate flow run [--repo DIR] [--input KEY=VALUE]... [--json] "
    "NAME\n"
    "\n"
    "Flows (flows.yaml on refs/flowgate/config): a trigger and steps.\n"
    "\n"
    "list:       the active flows: name, trigger, steps, last run\n"
    "show:       one flow: description, trigger and steps\n"
    "activate:   set the flow's 'active: true' in a config commit; the\n"
    "            rest of flows.yaml is kept byte for byte\n"
    "deactivate: the same with 'active: false': the flow stops running\n"
    "activity:   the flow's runs, newest first (refs/flowgate/runs/NAME)\n"
    "run:        ask the daemon to run a flow with a manual trigger; prints\n"
    "            the run's id (the daemon runs it; 'activity' shows it)\n"
    "\n"
    "options:\n"
    "  --repo DIR  the repository (default: $GIT_DIR, or found from the\n"
    "              current directory)\n"
    "  --all       list: inactive flows too\n"
    "  --limit N   activity: at most N runs (default 20, at most 1000)\n"
    "  --input KEY=VALUE\n"
    "              run: one of the flow's inputs (repeat for more)\n"
    "  --json      print JSON\n"
    "  -h, --help  this text\n"
    "\n"
    "A flow without 'active:' is active.  The actor is $FLOWGATE_USER,\n"
    "else git's user.name.\n"
    "Exit status: 0 done, 1 refused or failed, 2 usage.";

struct opts {
	const char *repo;
	bool all, json;
	long long limit;
	cJSON *inputs;			/* --input: an object of strings */
};

/* Parse options; 1 when --help was printed, 2 on a usage error. */
static int
parse(int argc, char **argv, struct opts *o, const char *allowed)
{
	static const struct option lo[] = {
		{ "repo", required_argument, NULL, 'r' },
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "limit", required_argument, NULL, 'l' },
		{ "input", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fg_err err = FG_ERR_INIT;
	const char *eq;
	char key[128];
	int c;

	memset(o, 0, sizeof(*o));
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (c != 'h' && c != 'r' && c != '?' &&
		    strchr(allowed, c) == NULL) {
			cli_usage(flow_usage, "%s does not take that option",
			    argv[0]);
			return 2;
		}
		switch (c) {
		case 'r': o->repo = optarg; break;
		case 'a': o->all = true; break;
		case 'j': o->json = true; break;
		case 'l':
			if (fg_parse_int(&o->limit, optarg, 1,
			    FG_FLOWCTL_ACTIVITY_MAX, &err) < 0) {
				cli_usage(flow_usage, "--limit: %s", err.msg);
				return 2;
			}
			break;
		case 'i':
			eq = strchr(optarg, '=');
			if (eq == NULL || eq == optarg ||
			    (size_t)(eq - optarg) >= sizeof(key)) {
				cli_usage(flow_usage, "--input takes KEY=VALUE, "
				    "not '%s'", optarg);
				return 2;
			}
			snprintf(key, sizeof(key), "%.*s",
			    (int)(eq - optarg), optarg);
			if (o->inputs == NULL)
				o->inputs = cJSON_CreateObject();
			if (cJSON_GetObjectItemCaseSensitive(o->inputs,
			    key) != NULL) {
				cli_usage(flow_usage, "--input '%s' given "
				    "twice", key);
				return 2;
			}
			if (o->inputs == NULL || cJSON_AddStringToObject(
			    o->inputs, key, eq + 1) == NULL) {
				cli_failf("out of memory");
				return 2;
			}
			break;
		case 'h': puts(flow_usage); return 1;
		default:
			cli_usage(flow_usage, "bad option");
			return 2;
		}
	}
	return 0;
}

static const char *
str(const cJSON *o, const char *key)
{
	const char *s = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(o, key));

	return s != NULL ? s : "";
}

static void
print_last(const cJSON *lr)
{
	if (!cJSON_IsObject(lr)) {
		printf("never run");
		return;
	}
	printf("last run %s %s %s", str(lr, "run"), str(lr, "status"),
	    *str(lr, "finished") ? str(lr, "finished") : str(lr, "created"));
}

static int
flow_list(int argc, char **argv)
{
	struct fg_err err = FG_ERR_INIT;
	struct opts o;
	struct cli_ctx c;
	const cJSON *f;
	cJSON *all = NULL;
	int rc;

	rc = parse(argc, argv, &o, "aj");
	if (rc != 0)
		return rc == 1 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	if (optind != argc)
		return cli_usage(flow_usage, "list takes no arguments");
	rc = cli_ctx_open(&c, o.repo);
	if (rc != 0)
		goto out;
	if (fg_flowctl_list_json(&all, c.st, c.cfg, o.all, &err) < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	if (o.json) {
		rc = cli_print_json(all);
		goto out;
	}
	if (cJSON_GetArraySize(all) == 0)
		printf(o.all ? "no flows: flows.yaml defines none\n" :
		    "no active flows ('flowgate flow list --all' shows every "
		    "flow)\n");
	cJSON_ArrayForEach(f, all) {
		printf("%-24s %-8s %-12s %d step%s, ", str(f, "name"),
		    cJSON_IsTrue(cJSON_GetObjectItem(f, "active")) ? "active" :
		    "inactive", str(f, "trigger"),
		    cJSON_GetObjectItem(f, "steps")->valueint,
		    cJSON_GetObjectItem(f, "steps")->valueint == 1 ? "" : "s");
		print_last(cJSON_GetObjectItem(f, "last_run"));
		printf("\n");
	}
	rc = CLI_EXIT_OK;
out:
	cJSON_Delete(all);
	cli_ctx_close(&c);
	return rc;
}

static int
flow_show(int argc, char **argv)
{
	struct fg_err err = FG_ERR_INIT;
	struct opts o;
	struct cli_ctx c;
	const cJSON *cfgj, *s, *trig;
	cJSON *f = NULL;
	char *t;
	int rc;

	rc = parse(argc, argv, &o, "j");
	if (rc != 0)
		return rc == 1 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	if (argc - optind != 1)
		return cli_usage(flow_usage, "show takes one NAME");
	rc = cli_ctx_open(&c, o.repo);
	if (rc != 0)
		goto out;
	if (fg_flowctl_show_json(&f, c.st, c.cfg, argv[optind], &err) < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	if (o.json) {
		rc = cli_print_json(f);
		goto out;
	}
	cfgj = cJSON_GetObjectItem(f, "config");
	printf("flow %s (%s)\n", str(f, "name"),
	    cJSON_IsTrue(cJSON_GetObjectItem(f, "active")) ? "active" :
	    "inactive");
	if (*str(f, "description"))
		printf("  %s\n", str(f, "description"));
	trig = cJSON_GetObjectItem(cfgj, "trigger");
	t = cJSON_PrintUnformatted(trig);
	printf("trigger: %s\n", t != NULL ? t : "?");
	cJSON_free(t);
	printf("steps:\n");
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(cfgj, "steps")) {
		t = cJSON_PrintUnformatted(s);
		printf("  - %s\n", t != NULL ? t : "?");
		cJSON_free(t);
	}
	print_last(cJSON_GetObjectItem(f, "last_run"));
	printf("\n");
	rc = CLI_EXIT_OK;
out:
	cJSON_Delete(f);
	cli_ctx_close(&c);
	return rc;
}

static int
flow_set(int argc, char **argv, bool active)
{
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	git_repository *repo = NULL;
	struct opts o;
	char name[256], email[256];
	bool changed = false;
	git_oid tip;
	int rc;

	rc = parse(argc, argv, &o, "");
	if (rc != 0)
		return rc == 1 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	if (argc - optind != 1)
		return cli_usage(flow_usage, "%s takes one NAME", argv[0]);
	if (getenv("FLOWGATE_DEBUG") == NULL)
		fg_log_set_level(FG_LOG_WARN);
	if (cli_open_repo(&repo, o.repo) != 0)
		return CLI_EXIT_FAIL;
	fg_repo_identity(name, sizeof(name), email, sizeof(email), repo);
	if (fg_flowctl_set_active(&tip, &changed, repo, argv[optind], active,
	    name, email, &d, &err) < 0) {
		cli_print_diags(&d);
		rc = cli_fail(&err);
		goto out;
	}
	if (changed)
		printf("flow %s %s: %s %.7s\n", argv[optind], active ?
		    "activated" : "deactivated", FG_CONFIG_REF,
		    git_oid_tostr_s(&tip));
	else
		printf("flow %s is already %s; nothing written\n",
		    argv[optind], active ? "active" : "inactive");
	rc = CLI_EXIT_OK;
out:
	fg_diags_release(&d);
	git_repository_free(repo);
	return rc;
}

static int
flow_activity(int argc, char **argv)
{
	struct fg_err err = FG_ERR_INIT;
	struct opts o;
	struct cli_ctx c;
	const cJSON *r, *s;
	cJSON *runs = NULL;
	int rc;

	rc = parse(argc, argv, &o, "lj");
	if (rc != 0)
		return rc == 1 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	if (argc - optind != 1)
		return cli_usage(flow_usage, "activity takes one NAME");
	rc = cli_ctx_open(&c, o.repo);
	if (rc != 0)
		goto out;
	if (fg_flowctl_activity_json(&runs, c.st, c.cfg, argv[optind],
	    (size_t)o.limit, &err) < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	if (o.json) {
		rc = cli_print_json(runs);
		goto out;
	}
	if (cJSON_GetArraySize(runs) == 0)
		printf("flow %s has not run yet\n", argv[optind]);
	cJSON_ArrayForEach(r, runs) {
		printf("%s %-9s %s%s%s\n", str(r, "run"), str(r, "status"),
		    str(r, "created"), *str(r, "finished") ? " - " : "",
		    str(r, "finished"));
		cJSON_ArrayForEach(s, cJSON_GetObjectItem(r, "steps"))
			printf("  %-20s %s%s%s\n", str(s, "id"),
			    str(s, "status"), *str(s, "reason") ? ": " : "",
			    str(s, "reason"));
	}
	rc = CLI_EXIT_OK;
out:
	cJSON_Delete(runs);
	cli_ctx_close(&c);
	return rc;
}

static int
flow_run(int argc, char **argv)
{
	struct fg_err err = FG_ERR_INIT;
	struct opts o;
	struct cli_ctx c;
	char name[256], email[256], run[FG_FLOWRUN_ID_MAX + 1];
	cJSON *j;
	int rc;

	rc = parse(argc, argv, &o, "ij");
	if (rc != 0) {
		cJSON_Delete(o.inputs);
		return rc == 1 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	if (argc - optind != 1) {
		cJSON_Delete(o.inputs);
		return cli_usage(flow_usage, "run takes one NAME");
	}
	rc = cli_ctx_open(&c, o.repo);
	if (rc != 0)
		goto out;
	fg_repo_identity(name, sizeof(name), email, sizeof(email), c.repo);
	if (fg_flowexec_request(run, sizeof(run), c.st,
	    git_repository_path(c.repo), c.cfg, argv[optind], o.inputs, name,
	    &err) < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	if (o.json) {
		j = cJSON_CreateObject();
		if (j == NULL || cJSON_AddStringToObject(j, "flow",
		    argv[optind]) == NULL || cJSON_AddStringToObject(j, "run",
		    run) == NULL || cJSON_AddStringToObject(j, "status",
		    "queued") == NULL)
			rc = cli_failf("out of memory");
		else
			rc = cli_print_json(j);
		cJSON_Delete(j);
		goto out;
	}
	printf("flow %s: run %s queued for the daemon; 'flowgate flow "
	    "activity %s' shows it\n", argv[optind], run, argv[optind]);
	rc = CLI_EXIT_OK;
out:
	cJSON_Delete(o.inputs);
	cli_ctx_close(&c);
	return rc;
}

int
cmd_flow(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage(flow_usage, "flow needs a subcommand");
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		puts(flow_usage);
		return CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "list") == 0)
		return flow_list(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return flow_show(argc - 1, argv + 1);
	if (strcmp(argv[1], "activate") == 0)
		return flow_set(argc - 1, argv + 1, true);
	if (strcmp(argv[1], "deactivate") == 0)
		return flow_set(argc - 1, argv + 1, false);
	if (strcmp(argv[1], "activity") == 0)
		return flow_activity(argc - 1, argv + 1);
	if (strcmp(argv[1], "run") == 0)
		return flow_run(argc - 1, argv + 1);
	return cli_usage(flow_usage, "unknown flow subcommand '%s'", argv[1]);
}
