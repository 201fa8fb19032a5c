/*
 * cmd_pool.c - flowgate pool: the sandbox pools, who holds and who waits.
 *
 * NAME
 *	flowgate pool - list sandbox pools, lease and release environments
 *
 * SYNOPSIS
 *	flowgate [--repo DIR] pool list [--repo DIR] [--json]
 *	flowgate [--repo DIR] pool lease [--repo DIR] [--json] POOL HOLDER
 *	flowgate [--repo DIR] pool release [--repo DIR] [--json] [--no-reset]
 *	    POOL HOLDER
 *	flowgate [--repo DIR] pool expire [--repo DIR] [--json]
 *
 * DESCRIPTION
 *	A pool's state lives on refs/flowgate/pools/POOL (leases.json, one
 *	commit per change; docs/pools.md).  HOLDER names who holds a lease:
 *	"pull/42" for pull request 42, as the daemon's flows use it.
 *
 *	list prints each pool: its environments, who holds each and until
 *	when, and the queue.  lease gives HOLDER the first free environment,
 *	or a place in the queue when none is free.  release frees what HOLDER
 *	holds (or its place in the queue), runs the pool's reset command on
 *	the freed environment unless --no-reset, and says who got it from the
 *	queue.  expire releases every lease past its time (for cron; the
 *	daemon does it on its own).  Leasing and releasing deploy nothing:
 *	deploy with 'flowgate deploy ENV COMMIT'.  The actor is
 *	$FLOWGATE_USER, else git's user.name.
 *
 * EXAMPLE
 *	flowgate pool lease sandboxes pull/42
 *	flowgate pool list --json | jq '.[0].free'
 *	flowgate pool release sandboxes pull/42
 *
 * ERRORS
 *	Exit status 0 done (a queued lease too); 1 for an unknown pool, a
 *	holder that holds nothing, a bad holder, a failed reset (the release
 *	itself stands), or an unreadable repository; 2 for bad usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "cli.h"
#include "config.h"
#include "lease.h"
#include "log.h"
#include "repo.h"
#include "store.h"
#include "util.h"
#include "banned.h"

static const char pool_usage[] =
    "usage: flowgate pool list [--repo DIR] [--json]\n"
    "       flowgate pool lease [--repo DIR] [--json] POOL HOLDER\n"
    "       flowgate pool release [--repo DIR] [--json] [--no-reset] POOL "
    "HOLDER\n"
    "       flowgate pool expire [--repo DIR] [--json]\n"
    "\n"
    "Sandbox pools (pipeline.yaml 'pools'): pull requests lease an\n"
    "environment each, and wait in line when none is free.  HOLDER names\n"
    "the lease's holder, such as 'pull/42'.\n"
    "\n"
    "list:    each pool's environments, who holds them until when, who\n"
    "         waits\n"
    "lease:   give HOLDER the first free environment of POOL, or a place\n"
    "         in its queue\n"
    "release: free what HOLDER holds (or its place in the queue); the\n"
    "         pool's reset command runs on the freed environment (not with\n"
    "         --no-reset), and the queue's head gets it\n"
    "expire:  release every lease past its time (lease_minutes)\n"
    "\n"
    "options:\n"
    "  --repo DIR  the repository (default: $GIT_DIR, or found from the\n"
    "              current directory)\n"
    "  --json      print the result as JSON\n"
    "  --no-reset  release: do not run the pool's reset command\n"
    "  -h, --help  this text\n"
    "\n"
    "Nothing is deployed here: use 'flowgate deploy ENV COMMIT'.  The\n"
    "actor is $FLOWGATE_USER, else git's user.name.  State:\n"
    "'git log refs/flowgate/pools/POOL'.\n"
    "Exit status: 0 done (queued too), 1 refused or failed, 2 usage.";

/* cli_print_json(o), then cJSON_Delete(o). */
static int
print_json(cJSON *o)
{
	int rc = cli_print_json(o);

	cJSON_Delete(o);
	return rc;
}

/* Options common to all: parse, and leave optind at the operands. */
static int
parse_opts(int argc, char **argv, const char **repo_opt, bool *json,
    bool *no_reset)
{
	static const struct option opts[] = {
		{ "repo", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-reset", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': *repo_opt = optarg; break;
		case 'j': *json = true; break;
		case 'n':
			if (no_reset == NULL)
				return cli_usage(pool_usage, "--no-reset is "
				    "for release only");
			*no_reset = true;
			break;
		case 'h': puts(pool_usage); return -1;
		default: return cli_usage(pool_usage, "bad option");
		}
	}
	return 0;
}

static void
print_pool(const cJSON *p)
{
	const cJSON *it, *leases = cJSON_GetObjectItem(p, "leases");
	const cJSON *queue = cJSON_GetObjectItem(p, "queue");
	const cJSON *envs = cJSON_GetObjectItem(p, "environments");
	const char *err = cJSON_GetStringValue(cJSON_GetObjectItem(p,
	    "error"));
	int n = 0;

	if (err != NULL) {
		printf("%s: unreadable: %s\n", cJSON_GetStringValue(
		    cJSON_GetObjectItem(p, "pool")), err);
		return;
	}
	printf("%s: %d environment%s, %d free, %d waiting, leases last %d "
	    "min%s\n", cJSON_GetStringValue(cJSON_GetObjectItem(p, "pool")),
	    cJSON_GetArraySize(envs), cJSON_GetArraySize(envs) == 1 ? "" :
	    "s", cJSON_GetArraySize(cJSON_GetObjectItem(p, "free")),
	    cJSON_GetArraySize(queue),
	    cJSON_GetObjectItem(p, "lease_minutes")->valueint,
	    cJSON_IsTrue(cJSON_GetObjectItem(p, "reset")) ?
	    ", reset on release" : "");
	cJSON_ArrayForEach(it, leases)
		printf("  %-16s %s (%s) until %s\n",
		    cJSON_GetStringValue(cJSON_GetObjectItem(it, "env")),
		    cJSON_GetStringValue(cJSON_GetObjectItem(it, "holder")),
		    cJSON_GetStringValue(cJSON_GetObjectItem(it, "actor")),
		    cJSON_GetStringValue(cJSON_GetObjectItem(it, "expires")));
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(p, "free"))
		printf("  %-16s free\n", cJSON_GetStringValue(it));
	cJSON_ArrayForEach(it, queue)
		printf("  waiting %d: %s (%s) since %s\n", ++n,
		    cJSON_GetStringValue(cJSON_GetObjectItem(it, "holder")),
		    cJSON_GetStringValue(cJSON_GetObjectItem(it, "actor")),
		    cJSON_GetStringValue(cJSON_GetObjectItem(it, "since")));
}

static int
pool_list(int argc, char **argv)
{
	struct fg_err err = FG_ERR_INIT;
	struct cli_ctx c;
	const char *repo_opt = NULL;
	const cJSON *it;
	cJSON *all = NULL;
	bool json = false;
	int rc;

	rc = parse_opts(argc, argv, &repo_opt, &json, NULL);
	if (rc != 0)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (optind != argc)
		return cli_usage(pool_usage, "list takes no arguments");
	rc = cli_ctx_open(&c, repo_opt);
	if (rc != 0)
		goto out;
	if (fg_lease_list_json(&all, c.st, c.cfg, &err) < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	if (json) {
		rc = print_json(all);
		all = NULL;
		goto out;
	}
	if (cJSON_GetArraySize(all) == 0)
		printf("no pools: pipeline.yaml has no 'pools'\n");
	cJSON_ArrayForEach(it, all)
		print_pool(it);
	rc = CLI_EXIT_OK;
out:
	cJSON_Delete(all);
	cli_ctx_close(&c);
	return rc;
}

static int
pool_lease(int argc, char **argv)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_lease_result r;
	struct cli_ctx c;
	const char *repo_opt = NULL, *pool, *holder;
	char t[32];
	bool json = false;
	int rc;

	rc = parse_opts(argc, argv, &repo_opt, &json, NULL);
	if (rc != 0)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (argc - optind != 2)
		return cli_usage(pool_usage, "lease takes POOL and HOLDER");
	pool = argv[optind];
	holder = argv[optind + 1];
	rc = cli_ctx_open(&c, repo_opt);
	if (rc != 0)
		goto out;
	if (fg_lease_acquire(&r, c.st, c.cfg, pool, holder, c.name, 0,
	    &err) < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	if (json) {
		rc = print_json(fg_lease_result_json(&r, pool, holder));
		goto out;
	}
	fg_format_utc(t, sizeof(t), r.expires);
	if (r.outcome == FG_LEASE_QUEUED)
		printf("pool %s: no environment free; %s waits, number %zu in "
		    "line\n", pool, holder, r.position);
	else
		printf("pool %s: %s %s %s until %s\n", pool, r.env,
		    r.outcome == FG_LEASE_HELD ? "is already held by" :
		    "leased to", holder, t);
	rc = CLI_EXIT_OK;
out:
	cli_ctx_close(&c);
	return rc;
}

/* Run the reset of one release, print it; CLI_EXIT_FAIL when it failed. */
static int
run_reset(struct cli_ctx *c, const struct fg_lease_release *r, bool quiet)
{
	struct fg_err err = FG_ERR_INIT;
	bool ok = false;

	if (!r->reset || r->env[0] == '\0')
		return CLI_EXIT_OK;
	if (fg_lease_reset(&ok, c->st, c->cfg, r->pool, r->env, r->holder,
	    c->name, &err) < 0)
		return cli_fail(&err);
	if (!ok) {
		fprintf(stderr, "flowgate: pool %s: reset of %s failed: %s\n",
		    r->pool, r->env, err.msg);
		return CLI_EXIT_FAIL;
	}
	if (!quiet)
		printf("pool %s: %s reset\n", r->pool, r->env);
	return CLI_EXIT_OK;
}

static void
print_release(const struct fg_lease_release *r, bool expired)
{
	if (r->env[0] == '\0') {
		printf("pool %s: %s no longer waits\n", r->pool, r->holder);
		return;
	}
	printf("pool %s: %s %s by %s", r->pool, r->env, expired ? "expired" :
	    "released", r->holder);
	if (r->next_holder[0] != '\0')
		printf("; now leased to %s (deploy it with 'flowgate deploy "
		    "%s COMMIT')", r->next_holder, r->env);
	printf("\n");
}

static int
pool_release(int argc, char **argv)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_lease_release r;
	struct cli_ctx c;
	const char *repo_opt = NULL, *pool, *holder;
	bool json = false, no_reset = false;
	cJSON *o;
	int rc;

	rc = parse_opts(argc, argv, &repo_opt, &json, &no_reset);
	if (rc != 0)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (argc - optind != 2)
		return cli_usage(pool_usage, "release takes POOL and HOLDER");
	pool = argv[optind];
	holder = argv[optind + 1];
	rc = cli_ctx_open(&c, repo_opt);
	if (rc != 0)
		goto out;
	if (fg_lease_release(&r, c.st, c.cfg, pool, holder, c.name, 0,
	    &err) < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	if (no_reset)
		r.reset = false;
	if (!json)
		print_release(&r, false);
	rc = run_reset(&c, &r, json);
	if (json) {
		o = fg_lease_release_json(&r);
		if (o != NULL)
			cJSON_AddBoolToObject(o, "reset_ok", rc == 0);
		if (print_json(o) != 0)
			rc = CLI_EXIT_FAIL;
	}
out:
	cli_ctx_close(&c);
	return rc;
}

static int
pool_expire(int argc, char **argv)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_lease_release *v = NULL;
	struct cli_ctx c;
	const char *repo_opt = NULL;
	bool json = false;
	cJSON *a = NULL, *o;
	size_t i, n = 0;
	int rc, erc;

	rc = parse_opts(argc, argv, &repo_opt, &json, NULL);
	if (rc != 0)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (optind != argc)
		return cli_usage(pool_usage, "expire takes no arguments");
	rc = cli_ctx_open(&c, repo_opt);
	if (rc != 0)
		goto out;
	erc = fg_lease_expire(&v, &n, c.st, c.cfg, 0, &err);
	a = cJSON_CreateArray();
	for (i = 0; i < n; i++) {
		if (!json)
			print_release(&v[i], true);
		if (run_reset(&c, &v[i], json) != 0)
			rc = CLI_EXIT_FAIL;
		o = fg_lease_release_json(&v[i]);
		if (a != NULL && o != NULL)
			cJSON_AddItemToArray(a, o);
		else
			cJSON_Delete(o);
	}
	if (json) {
		if (print_json(a) != 0)
			rc = CLI_EXIT_FAIL;
		a = NULL;
	} else if (n == 0 && erc == 0) {
		printf("no lease has expired\n");
	}
	if (erc < 0)
		rc = cli_fail(&err);
out:
	cJSON_Delete(a);
	free(v);
	cli_ctx_close(&c);
	return rc;
}

int
cmd_pool(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage(pool_usage, "pool needs a subcommand");
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		puts(pool_usage);
		return CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "list") == 0)
		return pool_list(argc - 1, argv + 1);
	if (strcmp(argv[1], "lease") == 0)
		return pool_lease(argc - 1, argv + 1);
	if (strcmp(argv[1], "release") == 0)
		return pool_release(argc - 1, argv + 1);
	if (strcmp(argv[1], "expire") == 0)
		return pool_expire(argc - 1, argv + 1);
	return cli_usage(pool_usage, "unknown pool subcommand '%s'", argv[1]);
}
