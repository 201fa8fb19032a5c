/*
 * cmd_activity.c - flowgate activity: what happened, newest first.
 *
 * NAME
 *	flowgate activity - show the activity log
 *
 * SYNOPSIS
 *	flowgate [--repo DIR] activity [--repo DIR] [-n N] [--kind K]
 *	    [--stage S] [--env E] [--status S] [--commit C] [--json]
 *
 * DESCRIPTION
 *	Prints the records of refs/flowgate/activity, newest first, one line
 *	each: the time (UTC), who acted, and the record's subject, e.g.
 *
 *	    2026-11-23 10:00:00Z  alice  push main by alice refused: 2 issues
 *
 *	With --json, one JSON object per line instead: the record's
 *	record.json (schemas/record.schema.json) with its commit id as "id".
 *	The filters match the records' trailers (Flowgate-Kind, -Stage, -Env,
 *	-Status; --commit matches a prefix of Flowgate-Commit), all of them
 *	at once.  The same log is "git log refs/flowgate/activity".
 *
 * DEFAULT
 *	The 20 newest records; -n 0 shows them all.  The repository is --repo,
 *	else $GIT_DIR, else the one the current directory is in.
 *
 * EXAMPLE
 *	flowgate activity -n 5 --kind deploy --env prod
 *	flowgate activity --json --status refused | jq .subject
 *
 * ERRORS
 *	Exit status 0 when the log was shown (an empty log included), 1 when
 *	the repository or a record cannot be read, 2 for bad usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "cli.h"
#include "record.h"
#include "store.h"
#include "util.h"
#include "banned.h"

#define ACTIVITY_REF	"refs/flowgate/activity"
#define ACTIVITY_LIMIT	20
#define ACTIVITY_MAX	100000000LL

static const char usage_text[] =
    "usage: flowgate activity [--repo DIR] [-n N] [--kind K] [--stage S] "
    "[--env E]\n"
    "                         [--status S] [--commit C] [--json]";

static void
help(void)
{
	printf("%s\n\n"
	    "Show refs/flowgate/activity, newest first: one line per record\n"
	    "(time, actor, subject), or one JSON object per line.\n\n"
	    "options:\n"
	    "  --repo DIR    the repository (default: $GIT_DIR, or found from\n"
	    "                the current directory)\n"
	    "  -n, --limit N show the N newest matching records (default %d;\n"
	    "                0: all)\n"
	    "  --kind K      only records of this kind (push, gate, deploy, ...)\n"
	    "  --stage S     only records about stage S\n"
	    "  --env E       only records about environment E\n"
	    "  --status S    only records with this status\n"
	    "  --commit C    only records about commits starting with C\n"
	    "  --json        print record.json objects, one per line, with "
	    "\"id\"\n"
	    "  -h, --help    this text\n\n"
	    "Exit status: 0 shown, 1 failed, 2 usage.\n", usage_text,
	    ACTIVITY_LIMIT);
}

/* One line for a person; outside text cannot move the cursor. */
static int
print_line(const struct fg_store_entry *e)
{
	struct fg_buf line = FG_BUF_INIT;
	char when[32], *t;
	int rc = 0;

	fg_format_utc(when, sizeof(when), e->time);
	t = strchr(when, 'T');
	if (t != NULL)
		*t = ' ';
	if (fg_buf_printf(&line, "%s  ", when) < 0 ||
	    fg_record_escape_line(&line, e->author_name, FG_RECORD_ACTOR_MAX) < 0 ||
	    fg_buf_puts(&line, "  ") < 0 ||
	    fg_record_escape_line(&line, e->subject, 4 * FG_RECORD_SUBJECT_MAX)
	    < 0 || fg_buf_putc(&line, '\n') < 0)
		rc = FG_ENOMEM;
	else if (fwrite(line.ptr, 1, line.len, stdout) != line.len)
		rc = FG_EIO;
	fg_buf_release(&line);
	return rc;
}

/* A record without record.json, described from its commit. */
static cJSON *
json_from_commit(const struct fg_store_entry *e)
{
	static const struct {
		const char *key;
		const char *trailer;
	} map[] = {
		{ "kind", "Flowgate-Kind" }, { "stage", "Flowgate-Stage" },
		{ "env", "Flowgate-Env" }, { "commit", "Flowgate-Commit" },
		{ "status", "Flowgate-Status" }, { "run", "Flowgate-Run" },
		{ "delivery", "Flowgate-Delivery" },
		{ "event", "Flowgate-Event" },
	};
	cJSON *o, *actor;
	const char *v;
	char when[32];
	size_t i;

	o = cJSON_CreateObject();
	if (o == NULL)
		return NULL;
	fg_format_utc(when, sizeof(when), e->time);
	cJSON_AddStringToObject(o, "subject", e->subject);
	cJSON_AddStringToObject(o, "time", when);
	actor = cJSON_AddObjectToObject(o, "actor");
	if (actor != NULL) {
		cJSON_AddStringToObject(actor, "name", e->author_name);
		cJSON_AddStringToObject(actor, "email", e->author_email);
	}
	for (i = 0; i < FG_ARRAY_SIZE(map); i++) {
		v = fg_store_entry_get(e, map[i].trailer);
		if (v != NULL)
			cJSON_AddStringToObject(o, map[i].key, v);
	}
	return o;
}

static int
print_json(struct fg_store *st, const struct fg_store_entry *e,
    struct fg_err *err)
{
	struct fg_buf file = FG_BUF_INIT;
	char hex[GIT_OID_HEXSZ + 1], *text = NULL;
	cJSON *rec = NULL, *out = NULL, *kid;
	int rc;

	git_oid_tostr(hex, sizeof(hex), &e->id);
	rc = fg_store_read_file_at(&file, st, &e->id, "record.json", err);
	if (rc == 0)
		rc = fg_json_parse(&rec, file.ptr, file.len, err);
	if (rc == 0 && !cJSON_IsObject(rec))
		rc = fg_err_set(err, FG_EINVALID, "record.json of %s is not an "
		    "object", hex);
	if (rc == FG_ENOTFOUND) {
		rec = json_from_commit(e);
		rc = rec != NULL ? 0 : FG_ENOMEM;
	}
	if (rc < 0)
		goto out;
	/* "id" first, then the record as it is. */
	out = cJSON_CreateObject();
	if (out == NULL || cJSON_AddStringToObject(out, "id", hex) == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		kid = rec->child;
		if (kid == NULL)
			break;
		cJSON_DetachItemViaPointer(rec, kid);
		cJSON_AddItemToObject(out, kid->string, kid);
	}
	text = cJSON_PrintUnformatted(out);
	if (text == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	if (printf("%s\n", text) < 0)
		rc = fg_err_set(err, FG_EIO, "cannot write the output");
out:
	cJSON_free(text);
	cJSON_Delete(rec);
	cJSON_Delete(out);
	fg_buf_release(&file);
	return rc;
}

int
cmd_activity(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "repo", required_argument, NULL, 'r' },
		{ "limit", required_argument, NULL, 'n' },
		{ "kind", required_argument, NULL, 'k' },
		{ "stage", required_argument, NULL, 's' },
		{ "env", required_argument, NULL, 'e' },
		{ "status", required_argument, NULL, 'S' },
		{ "commit", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fg_err err = FG_ERR_INIT;
	struct fg_store_query q;
	struct fg_store_iter *it = NULL;
	const struct fg_store_entry *e;
	struct fg_store *st = NULL;
	git_repository *repo = NULL;
	const char *repo_opt = NULL;
	long long limit = ACTIVITY_LIMIT;
	bool json = false;
	int c, rc = CLI_EXIT_OK;

	memset(&q, 0, sizeof(q));
	opterr = 0;
	for (;;) {
		c = getopt_long(argc, argv, ":hn:", opts, NULL);
		if (c == -1)
			break;
		switch (c) {
		case 'h':
			help();
			return CLI_EXIT_OK;
		case 'r':
			repo_opt = optarg;
			break;
		case 'n':
			if (fg_parse_int(&limit, optarg, 0, ACTIVITY_MAX,
			    &err) < 0)
				return cli_usage(usage_text, "-n: %s", err.msg);
			break;
		case 'k':
			q.kind = optarg;
			break;
		case 's':
			q.stage = optarg;
			break;
		case 'e':
			q.env = optarg;
			break;
		case 'S':
			q.status = optarg;
			break;
		case 'c':
			q.commit = optarg;
			break;
		case 'j':
			json = true;
			break;
		case ':':
			return cli_usage(usage_text, "option '%s' needs a value",
			    argv[optind - 1]);
		default:
			return cli_usage(usage_text, "unknown option '%s'",
			    argv[optind - 1]);
		}
	}
	if (optind != argc)
		return cli_usage(usage_text, "unexpected argument '%s'",
		    argv[optind]);
	q.limit = (size_t)limit;

	if (cli_open_repo(&repo, repo_opt) != 0)
		return CLI_EXIT_FAIL;
	if (fg_store_open(&st, git_repository_path(repo), FG_STORE_NO_MAINTAIN,
	    &err) < 0 || fg_store_iter_new(&it, st, ACTIVITY_REF, &q,
	    &err) < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	for (;;) {
		if (fg_store_iter_next(&e, it, &err) < 0) {
			rc = cli_fail(&err);
			goto out;
		}
		if (e == NULL)
			break;
		if ((json ? print_json(st, e, &err) : print_line(e)) < 0) {
			rc = err.msg[0] ? cli_fail(&err) :
			    cli_failf("cannot write the output");
			goto out;
		}
	}
	if (fflush(stdout) != 0)
		rc = cli_failf("cannot write the output");
out:
	fg_store_iter_free(it);
	fg_store_free(st);
	git_repository_free(repo);
	return rc;
}
