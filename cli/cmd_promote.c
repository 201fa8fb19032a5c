/*
 * cmd_promote.c - flowgate promote, rollback, approve and status set: the
 * promotion workflow (lib/promote.h) and the facts its gates read
 * (lib/facts.h).
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <git2.h>
#include <openssl/evp.h>

#include "cli.h"
#include "config.h"
#include "facts.h"
#include "pipeline.h"
#include "promote.h"
#include "repo.h"
#include "store.h"
#include "util.h"

static const char promote_usage[] =
    "usage: flowgate promote CHANGE [--to STAGE] [--dry-run] [--json]\n"
    "                        [--actor NAME] [--wait SECS] [--repo DIR]\n"
    "\n"
    "Promote CHANGE (a commit id, a branch, or a pull request number as\n"
    "'#12' or '12': its head) to the next stage up the pipeline, or to\n"
    "STAGE.  Five steps, each recorded in refs/flowgate/activity: confirm\n"
    "the change, confirm the target stage and its environments, check the\n"
    "target's gates, deploy to each environment and then move the target's\n"
    "branch to the change (fast-forward, else a merge commit), summarize.\n"
    "A failed deployment leaves the branch where it was.\n"
    "\n"
    "  --to STAGE    the target stage (default: the next one up)\n"
    "  --dry-run     steps 1-3 only: explain each gate's verdict, change\n"
    "                nothing, record nothing\n"
    "  --json        print the result as one JSON object\n"
    "  --actor NAME  who promotes (default: $FLOWGATE_USER, else git's\n"
    "                user.name)\n"
    "  --wait SECS   wait this long for another promotion into the stage\n"
    "                or a busy environment (default 600)\n"
    "\n"
    "Exit status: 0 promoted (or, with --dry-run, the gates pass), 1\n"
    "refused or failed, 2 usage.";

static const char rollback_usage[] =
    "usage: flowgate rollback ENV [--to COMMIT] [--force] [--dry-run]\n"
    "                         [--json] [--actor NAME] [--repo DIR]\n"
    "\n"
    "Redeploy ENV's last good commit before its current one (from the\n"
    "environment's history, refs/flowgate/envs/ENV), or COMMIT, after the\n"
    "gates of the stage that owns ENV (up-to-date and soak excepted: a\n"
    "rollback goes back to a commit that ran there).  No branch moves.\n"
    "\n"
    "  --to COMMIT   the commit to go back to\n"
    "  --force       skip the gates (admins only, see 'admins:' in the\n"
    "                config)\n"
    "  --dry-run     check the gates only\n"
    "  --json        print the result as one JSON object\n"
    "  --actor NAME  who rolls back (default: $FLOWGATE_USER, else git's\n"
    "                user.name)";

static const char approve_usage[] =
    "usage: flowgate approve CHANGE --stage STAGE [--actor NAME]\n"
    "                        [--repo DIR]\n"
    "\n"
    "Approve CHANGE (a commit id, a branch or a pull request number) for\n"
    "STAGE: what a 'manual' gate waits for.  Only the gate's approvers, or\n"
    "when it lists none the config's admins, may approve.  The approval\n"
    "is kept in the commit's note (git log --notes=flowgate).";

static const char status_usage[] =
    "usage: flowgate status set SHA CONTEXT STATE [--description TEXT]\n"
    "                           [--actor NAME] [--repo DIR]\n"
    "\n"
    "Set CONTEXT's status on commit SHA (what a 'status' gate reads):\n"
    "STATE is success, failure, pending or error.  The latest status of a\n"
    "context wins; it is kept in the commit's note.";

enum { OPT_TO = 256, OPT_DRY_RUN, OPT_JSON, OPT_ACTOR, OPT_WAIT, OPT_REPO,
    OPT_FORCE, OPT_STAGE, OPT_DESC };

static const struct option long_opts[] = {
	{ "to", required_argument, NULL, OPT_TO },
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "actor", required_argument, NULL, OPT_ACTOR },
	{ "wait", required_argument, NULL, OPT_WAIT },
	{ "repo", required_argument, NULL, OPT_REPO },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "stage", required_argument, NULL, OPT_STAGE },
	{ "description", required_argument, NULL, OPT_DESC },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

struct opts {
	const char *to, *actor, *repo, *stage, *desc;
	bool dry_run, json, force;
	long long wait;
};

/* Parse the options every command here shares; 0, or an exit status + 1
 * (so 1 means "exit 0"). */
static int
parse(struct opts *o, int argc, char **argv, const char *use,
    const char *allowed)
{
	struct fg_err err = FG_ERR_INIT;
	int c;

	memset(o, 0, sizeof(*o));
	o->wait = -1;
	opterr = 0;
	for (;;) {
		c = getopt_long(argc, argv, "h", long_opts, NULL);
		if (c == -1)
			break;
		if (c != 'h' && c != '?' && c != ':' &&
		    strchr(allowed, c - OPT_TO + 'a') == NULL)
			return 1 + cli_usage(use, "unknown option '%s'",
			    argv[optind - 1]);
		switch (c) {
		case 'h':
			puts(use);
			return 1;
		case OPT_TO:
			o->to = optarg;
			break;
		case OPT_DRY_RUN:
			o->dry_run = true;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_ACTOR:
			o->actor = optarg;
			break;
		case OPT_WAIT:
			if (fg_parse_int(&o->wait, optarg, 0, 86400, &err) < 0)
				return 1 + cli_usage(use, "--wait: %s",
				    err.msg);
			break;
		case OPT_REPO:
			o->repo = optarg;
			break;
		case OPT_FORCE:
			o->force = true;
			break;
		case OPT_STAGE:
			o->stage = optarg;
			break;
		case OPT_DESC:
			o->desc = optarg;
			break;
		default:
			return 1 + cli_usage(use, "unknown option or missing "
			    "value '%s'", argv[optind - 1]);
		}
	}
	return 0;
}

/* The repository, its store and config; 0 or an exit status. */
static int
open_all(git_repository **repo, struct fg_store **st, struct fg_config **cfg,
    const char *repo_opt)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_diags d = FG_DIAGS_INIT;
	int rc;

	*repo = NULL;
	*st = NULL;
	*cfg = NULL;
	if (cli_open_repo(repo, repo_opt) != 0)
		return CLI_EXIT_FAIL;
	if (fg_store_open(st, git_repository_path(*repo), 0, &err) < 0)
		return cli_fail(&err);
	rc = fg_config_load(cfg, fg_store_repo(*st), &d, &err);
	if (rc == FG_EINVALID && d.n > 0) {
		cli_print_diags(&d);
		fg_diags_release(&d);
		return cli_failf("the config on '%s' does not load",
		    FG_CONFIG_REF);
	}
	fg_diags_release(&d);
	if (rc < 0)
		return cli_fail(&err);
	return 0;
}

static void
close_all(git_repository *repo, struct fg_store *st, struct fg_config *cfg)
{
	fg_config_free(cfg);
	fg_store_free(st);
	git_repository_free(repo);
}

static void
actor_of(char *out, size_t size, const struct opts *o, git_repository *repo)
{
	char email[256];

	if (o->actor != NULL && *o->actor != '\0')
		snprintf(out, size, "%s", o->actor);
	else
		fg_repo_identity(out, size, email, sizeof(email), repo);
}

/* Print the result, text or JSON; the exit status. */
static int
show(const struct fg_promote_result *r, bool json)
{
	struct fg_buf b = FG_BUF_INIT;
	cJSON *j = NULL;
	char *s = NULL;
	int rc = CLI_EXIT_OK;

	if (json) {
		if (fg_promote_to_json(&j, r) == 0)
			s = cJSON_PrintUnformatted(j);
		if (s == NULL)
			rc = cli_failf("out of memory");
		else
			printf("%s\n", s);
		cJSON_free(s);
		cJSON_Delete(j);
	} else if (fg_promote_format(&b, r, NULL) < 0) {
		rc = cli_failf("out of memory");
	} else {
		fputs(b.ptr, stdout);
	}
	fg_buf_release(&b);
	if (fflush(stdout) != 0)
		rc = cli_failf("cannot write the output");
	if (rc == CLI_EXIT_OK && r->outcome != FG_PROMOTE_DONE &&
	    r->outcome != FG_PROMOTE_CHECKED)
		rc = CLI_EXIT_FAIL;
	return rc;
}

/*
 * A promotion's first record batch is the process's first pack, and
 * hashing a pack makes OpenSSL load its configuration and providers the
 * first time (~1.2 ms here).  Done on a thread of its own while the
 * repository and the config are opened, that costs the promotion nothing
 * when a second core is free; OpenSSL initializes once, so if the store's
 * first digest comes sooner it waits for this one, doing no more work
 * than it would have alone.
 */
static void *
warm_digest(void *arg)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len;

	(void)arg;
	(void)EVP_Digest("", 0, md, &len, EVP_sha1(), NULL);
	return NULL;
}

static int
run_promotion(int argc, char **argv, bool rollback)
{
	const char *use = rollback ? rollback_usage : promote_usage;
	struct fg_err err = FG_ERR_INIT;
	struct fg_promote_req req;
	struct fg_promote_result r;
	struct fg_config *cfg = NULL;
	struct fg_store *st = NULL;
	git_repository *repo = NULL;
	struct opts o;
	char actor[256];
	pthread_t warm;
	sigset_t all, old;
	bool warming = false;
	int rc;

	/* Allowed options, by their letter: OPT_TO + n -> 'a' + n. */
	rc = parse(&o, argc, argv, use, rollback ? "abcdfg" : "abcdef");
	if (rc != 0)
		return rc - 1;
	if (optind + 1 != argc)
		return cli_usage(use, optind >= argc ? "%s needs %s" :
		    "%s takes one %s", argv[0], rollback ? "ENV" : "CHANGE");
	if (!o.dry_run) {
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		warming = pthread_create(&warm, NULL, warm_digest, NULL) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	rc = open_all(&repo, &st, &cfg, o.repo);
	if (rc != 0)
		goto out;
	actor_of(actor, sizeof(actor), &o, repo);
	memset(&req, 0, sizeof(req));
	req.cfg = cfg;
	req.actor = actor;
	req.trigger = "cli";
	req.dry_run = o.dry_run;
	req.force = o.force;
	req.wait_secs = (int)o.wait;
	if (rollback) {
		req.to = argv[optind];
		req.change = o.to;
		rc = fg_promote_rollback(&r, st, &req, &err);
	} else {
		req.change = argv[optind];
		req.to = o.to;
		rc = fg_promote_run(&r, st, &req, &err);
	}
	if (rc < 0)
		rc = cli_fail(&err);
	else
		rc = show(&r, o.json);
	fg_promote_result_release(&r);
out:
	if (warming)
		pthread_join(warm, NULL);
	close_all(repo, st, cfg);
	return rc;
}

int
cmd_promote(int argc, char **argv)
{
	return run_promotion(argc, argv, false);
}

int
cmd_rollback(int argc, char **argv)
{
	return run_promotion(argc, argv, true);
}

int
cmd_approve(int argc, char **argv)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_config *cfg = NULL;
	struct fg_store *st = NULL;
	git_repository *repo = NULL;
	const struct fg_stage *stage;
	struct opts o;
	char actor[256], what[64], hex[GIT_OID_HEXSZ + 1];
	git_oid id;
	int rc;

	rc = parse(&o, argc, argv, approve_usage, "dfh");
	if (rc != 0)
		return rc - 1;
	if (optind + 1 != argc)
		return cli_usage(approve_usage, "approve takes one CHANGE");
	if (o.stage == NULL)
		return cli_usage(approve_usage, "approve needs --stage STAGE");
	rc = open_all(&repo, &st, &cfg, o.repo);
	if (rc != 0)
		goto out;
	actor_of(actor, sizeof(actor), &o, repo);
	stage = fg_pipeline_stage(cfg, o.stage);
	if (stage == NULL || !stage->configured) {
		rc = cli_failf("no stage '%s' in this pipeline", o.stage);
		goto out;
	}
	if (!fg_facts_may_approve(cfg, stage, actor)) {
		rc = cli_failf("'%s' may not approve changes for %s (its manual "
		    "gate's approvers, or the admins, may)", actor, o.stage);
		goto out;
	}
	if (fg_promote_resolve(&id, what, sizeof(what), fg_store_repo(st), cfg,
	    argv[optind], &err) < 0 || fg_facts_approve(st, &id, o.stage,
	    actor, fg_now(), &err) < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	git_oid_tostr(hex, sizeof(hex), &id);
	printf("approved %.7s (%s) for %s by %s\n", hex, what, o.stage, actor);
	rc = CLI_EXIT_OK;
out:
	close_all(repo, st, cfg);
	return rc;
}

int
cmd_status(int argc, char **argv)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	git_repository *repo = NULL;
	struct opts o;
	char actor[256];
	git_oid id;
	int rc;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		puts(status_usage);
		return CLI_EXIT_OK;
	}
	if (argc < 2 || strcmp(argv[1], "set") != 0)
		return cli_usage(status_usage, "status needs 'set'");
	rc = parse(&o, argc - 1, argv + 1, status_usage, "dfi");
	if (rc != 0)
		return rc - 1;
	optind++;
	if (optind + 3 != argc)
		return cli_usage(status_usage, "status set takes SHA CONTEXT "
		    "STATE");
	if (cli_open_repo(&repo, o.repo) != 0)
		return CLI_EXIT_FAIL;
	rc = fg_store_open(&st, git_repository_path(repo), 0, &err);
	if (rc == 0 && (strlen(argv[optind]) < 4 ||
	    strlen(argv[optind]) > GIT_OID_HEXSZ ||
	    strspn(argv[optind], "0123456789abcdefABCDEF") !=
	    strlen(argv[optind])))
		rc = fg_err_set(&err, FG_EINVALID, "'%s' is not a commit id",
		    argv[optind]);
	if (rc == 0)
		rc = fg_promote_resolve(&id, NULL, 0, fg_store_repo(st), NULL,
		    argv[optind], &err);
	actor_of(actor, sizeof(actor), &o, repo);
	if (rc == 0)
		rc = fg_facts_set_status(st, &id, argv[optind + 1],
		    argv[optind + 2], o.desc, actor, fg_now(), &err);
	if (rc < 0) {
		rc = cli_fail(&err);
	} else {
		printf("%.7s %s: %s\n", git_oid_tostr_s(&id), argv[optind + 1],
		    argv[optind + 2]);
		rc = CLI_EXIT_OK;
	}
	fg_store_free(st);
	git_repository_free(repo);
	return rc;
}
