/*
 * promote_bench.c - the cost of fg_promote_run() itself, in one process:
 * what tests/bench/promote.sh reports as "flowgate (library)".
 *
 *   promote_bench REPO CHANGE STAGE RUNS
 *   promote_bench --time PROGRAM ARGS...
 *
 * Each run copies REPO (a bare repository with a config) to REPO.run with
 * cp -r, untimed, opens it, loads its config, then times one promotion of
 * CHANGE to STAGE.  Prints the median in milliseconds, one decimal.
 *
 * With --time, runs PROGRAM (no shell) and prints its wall time in
 * microseconds (its stdout goes to /dev/null), exiting with its status:
 * promote.sh times the CLI and the
 * script with it, since timing in sh (date, twice) costs milliseconds.
 *
 * On stderr, the median of each phase (fg_proc__probe marks their ends in
 * promote.c and deploy.c), and before them what the CLI does first and the
 * daemon does once: opening the store and loading the config.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>

#include "config.h"
#include "log.h"
#include "proc.h"
#include "promote.h"
#include "store.h"
#include "util.h"
#include "banned.h"

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#define MAX_PHASES 24
#define MAX_RUNS 1000

/* Each phase's time in each run, in the order they first ended. */
static struct phase {
	const char *name;
	double t[MAX_RUNS];
} phases[MAX_PHASES];
static size_t nphases;
static long long run;
static double last;

static void
mark(const char *name)
{
	double now = now_ms();
	size_t i;

	for (i = 0; i < nphases; i++)
		if (strcmp(phases[i].name, name) == 0)
			break;
	if (i == nphases) {
		if (nphases == MAX_PHASES)
			return;
		phases[nphases++].name = name;
	}
	phases[i].t[run] += now - last;
	last = now;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

extern char **environ;

/* --time: run argv[0] and print its wall time in microseconds. */
static int
time_program(char **argv)
{
	posix_spawn_file_actions_t fa;
	double t0;
	pid_t pid;
	int status = 0, rc;

	/* Its output goes nowhere; ours is the time. */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	t0 = now_ms();
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		fprintf(stderr, "promote_bench: cannot run '%s'\n", argv[0]);
		return 127;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	printf("%.0f\n", (now_ms() - t0) * 1000);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

int
main(int argc, char **argv)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_promote_req req;
	struct fg_promote_result res;
	struct fg_config *cfg;
	struct fg_store *st;
	char copy[4096], cmd[9000];
	double *t, t0;
	long long runs;
	long long i;
	size_t j;
	int rc;

	if (argc > 2 && strcmp(argv[1], "--time") == 0)
		return time_program(argv + 2);
	if (argc != 5 || fg_parse_int(&runs, argv[4], 1, MAX_RUNS, NULL) < 0) {
		fprintf(stderr, "usage: promote_bench REPO CHANGE STAGE RUNS\n");
		return 2;
	}
	t = calloc((size_t)runs, sizeof(*t));
	if (t == NULL)
		return 1;
	git_libgit2_init();
	fg_log_set_level(FG_LOG_WARN);
	snprintf(copy, sizeof(copy), "%s.run", argv[1]);
	for (i = 0; i < runs; i++) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -r '%s' '%s'",
		    copy, argv[1], copy);
		if (system(cmd) != 0)
			return 1;
		cfg = NULL;
		st = NULL;
		run = i;
		fg_proc__probe = NULL;
		last = now_ms();
		if (fg_store_open(&st, copy, 0, &err) < 0) {
			fprintf(stderr, "promote_bench: %s\n", err.msg);
			return 1;
		}
		mark("(open the store)");
		if (fg_config_load(&cfg, fg_store_repo(st), &d, &err) < 0) {
			fprintf(stderr, "promote_bench: %s\n", err.msg);
			return 1;
		}
		mark("(load the config)");
		memset(&req, 0, sizeof(req));
		req.cfg = cfg;
		req.change = argv[2];
		req.to = argv[3];
		req.actor = "bench";
		req.wait_secs = 10;
		t0 = now_ms();
		last = t0;
		fg_proc__probe = mark;
		rc = fg_promote_run(&res, st, &req, &err);
		t[i] = now_ms() - t0;
		fg_proc__probe = NULL;
		if (rc < 0 || res.outcome != FG_PROMOTE_DONE) {
			fprintf(stderr, "promote_bench: not promoted: %s\n",
			    rc < 0 ? err.msg : fg_promote_outcome_name(
			    res.outcome));
			return 1;
		}
		fg_promote_result_release(&res);
		fg_config_free(cfg);
		fg_store_free(st);
	}
	for (j = 0; j < nphases; j++) {
		qsort(phases[j].t, (size_t)runs, sizeof(double), cmp);
		fprintf(stderr, "  %-44s %6.2f ms\n", phases[j].name,
		    phases[j].t[(runs - 1) / 2]);
	}
	qsort(t, (size_t)runs, sizeof(*t), cmp);
	fprintf(stderr, "  %-44s %6.2f ms\n", "fg_promote_run, all",
	    t[(runs - 1) / 2]);
	printf("%.1f\n", t[(runs - 1) / 2]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", copy);
	(void)system(cmd);
	free(t);
	fg_diags_release(&d);
	git_libgit2_shutdown();
	return 0;
}
