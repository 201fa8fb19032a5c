/*
 * store_bench.c - drive the state store for benchmarks and shell tests.
 *
 *   store_bench record REPO KIND SUBJECT [key=value...]
 *	append one record to refs/flowgate/activity; keys: stage env commit
 *	status run delivery event actor email body; prints the commit id
 *   store_bench single REPO N [CHECKPOINT...]
 *	N single appends; for each checkpoint C prints
 *	"single C <rate of appends C-999..C> <rate of appends 1..C>"
 *   store_bench batch REPO N B
 *	N records in batches of B; prints "batch N B <records/s>"
 *   store_bench concurrent REPO P N
 *	P processes append N records each to the same ref at once; prints
 *	"concurrent P N <records/s together> <retries per append>"
 *   store_bench maintain REPO
 *	fg_store_maintain(threshold 0): pack every loose object, roll up
 *	packs; prints "maintain <seconds> <objects packed> <packs merged>"
 *   store_bench libgit2 REPO N
 *	the plain libgit2 loop (blob, treebuilder, commit, create_matching on
 *	the repository's own odb) with no packing, for comparison; prints
 *	"libgit2 N <rate of the first 1000> <rate of the last 1000>"
 *
 * Rates are appends (records) per second of wall time, maintenance the
 * appends trigger included (set STORE_BENCH_NO_MAINTAIN to leave it out of
 * "single" and "batch").  Exit status 0, or 1 with a message.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/commit.h>

#include "store.h"
#include "util.h"

#define ACT "refs/flowgate/activity"
#define WINDOW 1000

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
die(const char *what, const struct fg_err *err)
{
	fprintf(stderr, "store_bench: %s: %s\n", what, err ? err->msg : "");
	return 1;
}

static long
number(const char *s)
{
	long long v;

	if (fg_parse_int(&v, s, 1, 100000000, NULL) < 0) {
		fprintf(stderr, "store_bench: bad number '%s'\n", s);
		exit(2);
	}
	return (long)v;
}

/* A record like the ones the pipeline writes, numbered i. */
static void
sample(struct fg_record *r, char *subject, size_t n, char *commit,
    size_t cn, long i)
{
	memset(r, 0, sizeof(*r));
	snprintf(commit, cn, "%08lx%032x", (unsigned long)i * 2654435761UL,
	    0x5eed);
	snprintf(subject, n, "deploy prod: %.7s succeeded in %lds", commit,
	    i % 300);
	r->kind = "deploy";
	r->subject = subject;
	r->body = "Deployed by the pipeline after its gates passed.";
	r->stage = "production";
	r->env = "prod";
	r->commit = commit;
	r->status = "succeeded";
	r->actor_name = "alice";
	r->actor_email = "alice@example.com";
}

static int
cmd_record(int argc, char **argv)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	struct fg_record r;
	char hex[GIT_OID_HEXSZ + 1], *eq;
	git_oid id;
	int i, rc;

	if (argc < 4)
		return die("usage: record REPO KIND SUBJECT [key=value...]",
		    NULL);
	memset(&r, 0, sizeof(r));
	r.kind = argv[2];
	r.subject = argv[3];
	for (i = 4; i < argc; i++) {
		eq = strchr(argv[i], '=');
		if (eq == NULL)
			return die("expected key=value", NULL);
		*eq++ = '\0';
		if (strcmp(argv[i], "stage") == 0)
			r.stage = eq;
		else if (strcmp(argv[i], "env") == 0)
			r.env = eq;
		else if (strcmp(argv[i], "commit") == 0)
			r.commit = eq;
		else if (strcmp(argv[i], "status") == 0)
			r.status = eq;
		else if (strcmp(argv[i], "run") == 0)
			r.run = eq;
		else if (strcmp(argv[i], "delivery") == 0)
			r.delivery = eq;
		else if (strcmp(argv[i], "event") == 0)
			r.event = eq;
		else if (strcmp(argv[i], "actor") == 0)
			r.actor_name = eq;
		else if (strcmp(argv[i], "email") == 0)
			r.actor_email = eq;
		else if (strcmp(argv[i], "body") == 0)
			r.body = eq;
		else
			return die("unknown key", NULL);
	}
	if (fg_store_open(&st, argv[1], 0, &err) < 0)
		return die("open", &err);
	rc = fg_store_append(&id, st, ACT, &r, &err);
	if (rc == 0)
		printf("%s\n", git_oid_tostr(hex, sizeof(hex), &id));
	else
		die("append", &err);
	fg_store_free(st);
	return rc == 0 ? 0 : 1;
}

static int
cmd_single(int argc, char **argv)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	struct fg_store_stats stats;
	struct fg_record r;
	char subject[128], commit[48];
	double t0, *marks;
	long n, i, cp;
	git_oid id;
	int a;

	if (argc < 3)
		return die("usage: single REPO N [CHECKPOINT...]", NULL);
	n = number(argv[2]);
	marks = calloc((size_t)(n / WINDOW + 1), sizeof(*marks));
	if (marks == NULL)
		return die("out of memory", NULL);
	if (fg_store_open(&st, argv[1], getenv("STORE_BENCH_NO_MAINTAIN") ?
	    FG_STORE_NO_MAINTAIN : 0, &err) < 0)
		return die("open", &err);
	t0 = now();
	marks[0] = t0;
	for (i = 1; i <= n; i++) {
		sample(&r, subject, sizeof(subject), commit, sizeof(commit), i);
		if (fg_store_append(&id, st, ACT, &r, &err) < 0)
			return die("append", &err);
		if (i % WINDOW == 0)
			marks[i / WINDOW] = now();
	}
	for (a = 3; a < argc; a++) {
		cp = number(argv[a]);
		if (cp > n || cp % WINDOW != 0)
			continue;
		printf("single %ld %.0f %.0f\n", cp, WINDOW /
		    (marks[cp / WINDOW] - marks[cp / WINDOW - 1]),
		    cp / (marks[cp / WINDOW] - t0));
	}
	fg_store_get_stats(&stats, st);
	printf("single-stats %llu loose-packed %llu packs-written %llu "
	    "packs-merged\n", (unsigned long long)stats.loose_packed,
	    (unsigned long long)stats.packs_written,
	    (unsigned long long)stats.packs_merged);
	fg_store_free(st);
	free(marks);
	return 0;
}

static int
cmd_batch(int argc, char **argv)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	struct fg_record *recs;
	char (*subjects)[128], (*commits)[48];
	long n, b, i, k, done = 0;
	double t0;

	if (argc != 4)
		return die("usage: batch REPO N B", NULL);
	n = number(argv[2]);
	b = number(argv[3]);
	if (b > FG_STORE_BATCH_MAX)
		return die("batch too large", NULL);
	recs = calloc((size_t)b, sizeof(*recs));
	subjects = calloc((size_t)b, sizeof(*subjects));
	commits = calloc((size_t)b, sizeof(*commits));
	if (recs == NULL || subjects == NULL || commits == NULL)
		return die("out of memory", NULL);
	if (fg_store_open(&st, argv[1], getenv("STORE_BENCH_NO_MAINTAIN") ?
	    FG_STORE_NO_MAINTAIN : 0, &err) < 0)
		return die("open", &err);
	t0 = now();
	while (done < n) {
		k = n - done < b ? n - done : b;
		for (i = 0; i < k; i++)
			sample(&recs[i], subjects[i], sizeof(subjects[i]),
			    commits[i], sizeof(commits[i]), done + i);
		if (fg_store_append_batch(NULL, st, ACT, recs, (size_t)k,
		    &err) < 0)
			return die("batch", &err);
		done += k;
	}
	printf("batch %ld %ld %.0f\n", n, b, n / (now() - t0));
	fg_store_free(st);
	free(recs);
	free(subjects);
	free(commits);
	return 0;
}

static int
cmd_concurrent(int argc, char **argv)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	struct fg_store_stats stats;
	struct fg_record r;
	char subject[128], commit[48];
	unsigned long long retries = 0, got;
	long p, n, k, i;
	int fds[2], status, failed = 0;
	FILE *in;
	pid_t pid;
	double t0;
	git_oid id;

	if (argc != 4)
		return die("usage: concurrent REPO P N", NULL);
	p = number(argv[2]);
	n = number(argv[3]);
	if (pipe(fds) < 0)
		return die("pipe", NULL);
	t0 = now();
	for (k = 0; k < p; k++) {
		pid = fork();
		if (pid < 0)
			return die("fork", NULL);
		if (pid > 0)
			continue;
		close(fds[0]);
		if (fg_store_open(&st, argv[1], 0, &err) < 0)
			_exit(die("open", &err));
		for (i = 0; i < n; i++) {
			sample(&r, subject, sizeof(subject), commit,
			    sizeof(commit), k * n + i);
			if (fg_store_append(&id, st, ACT, &r, &err) < 0)
				_exit(die("append", &err));
		}
		fg_store_get_stats(&stats, st);
		dprintf(fds[1], "%llu\n", (unsigned long long)stats.retries);
		fg_store_free(st);
		_exit(0);
	}
	close(fds[1]);
	for (k = 0; k < p; k++) {
		if (wait(&status) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			failed++;
	}
	in = fdopen(fds[0], "r");
	while (in != NULL && fscanf(in, "%llu", &got) == 1)
		retries += got;
	if (in != NULL)
		fclose(in);
	if (failed)
		return die("a writer failed", NULL);
	printf("concurrent %ld %ld %.0f %.2f\n", p, n, p * n / (now() - t0),
	    (double)retries / (double)(p * n));
	return 0;
}

static int
cmd_maintain(int argc, char **argv)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	struct fg_store_stats stats;
	double t0;

	if (argc != 2)
		return die("usage: maintain REPO", NULL);
	if (fg_store_open(&st, argv[1], 0, &err) < 0)
		return die("open", &err);
	t0 = now();
	if (fg_store_maintain(st, 0, &err) < 0)
		return die("maintain", &err);
	fg_store_get_stats(&stats, st);
	printf("maintain %.3f %llu %llu\n", now() - t0,
	    (unsigned long long)stats.loose_packed,
	    (unsigned long long)stats.packs_merged);
	fg_store_free(st);
	return 0;
}

/* The straightforward loop, for comparison: what the store improves on. */
static int
cmd_libgit2(int argc, char **argv)
{
	git_repository *repo = NULL;
	git_signature *sig = NULL;
	git_treebuilder *tb = NULL;
	git_reference *ref = NULL;
	git_oid blob, tree, tip, commit, zero;
	const git_oid *parents[1] = { &tip };
	char json[512], msg[512];
	double t0, first = 0, mark = 0;
	long n, i;
	int have, len, rc = 1;

	if (argc != 3)
		return die("usage: libgit2 REPO N", NULL);
	n = number(argv[2]);
	if (n <= 2 * WINDOW)
		return die("N must be over 2000", NULL);
	memset(&zero, 0, sizeof(zero));
	if (git_repository_open(&repo, argv[1]) < 0 ||
	    git_signature_now(&sig, "flowgate", "flowgate@localhost") < 0) {
		die("open", NULL);
		goto out;
	}
	have = git_reference_name_to_id(&tip, repo, ACT) == 0;
	t0 = now();
	for (i = 1; i <= n; i++) {
		len = snprintf(json, sizeof(json), "{\"version\": 1, \"kind\": "
		    "\"deploy\", \"seq\": %ld}\n", i);
		snprintf(msg, sizeof(msg), "deploy prod: %ld\n\nFlowgate-Kind: "
		    "deploy\n", i);
		if (git_blob_create_from_buffer(&blob, repo, json,
		    (size_t)len) < 0 ||
		    git_treebuilder_new(&tb, repo, NULL) < 0 ||
		    git_treebuilder_insert(NULL, tb, "record.json", &blob,
		    GIT_FILEMODE_BLOB) < 0 ||
		    git_treebuilder_write(&tree, tb) < 0 ||
		    git_commit_create_from_ids(&commit, repo, NULL, sig, sig,
		    NULL, msg, &tree, have ? 1 : 0, parents) < 0 ||
		    git_reference_create_matching(&ref, repo, ACT, &commit, 1,
		    have ? &tip : &zero, "bench") < 0) {
			die(git_error_last()->message, NULL);
			goto out;
		}
		git_treebuilder_free(tb);
		tb = NULL;
		git_reference_free(ref);
		ref = NULL;
		tip = commit;
		have = 1;
		if (i == WINDOW)
			first = WINDOW / (now() - t0);
		if (i == n - WINDOW)
			mark = now();
	}
	printf("libgit2 %ld %.0f %.0f\n", n, first, WINDOW / (now() - mark));
	rc = 0;
out:
	git_treebuilder_free(tb);
	git_reference_free(ref);
	git_signature_free(sig);
	git_repository_free(repo);
	return rc;
}

int
main(int argc, char **argv)
{
	int rc;

	if (argc < 2) {
		fprintf(stderr, "usage: store_bench record|single|batch|"
		    "concurrent|maintain|libgit2 REPO ...\n");
		return 2;
	}
	git_libgit2_init();
	if (strcmp(argv[1], "record") == 0)
		rc = cmd_record(argc - 1, argv + 1);
	else if (strcmp(argv[1], "single") == 0)
		rc = cmd_single(argc - 1, argv + 1);
	else if (strcmp(argv[1], "batch") == 0)
		rc = cmd_batch(argc - 1, argv + 1);
	else if (strcmp(argv[1], "concurrent") == 0)
		rc = cmd_concurrent(argc - 1, argv + 1);
	else if (strcmp(argv[1], "maintain") == 0)
		rc = cmd_maintain(argc - 1, argv + 1);
	else if (strcmp(argv[1], "libgit2") == 0)
		rc = cmd_libgit2(argc - 1, argv + 1);
	else
		rc = die("unknown subcommand", NULL);
	git_libgit2_shutdown();
	return rc;
}
