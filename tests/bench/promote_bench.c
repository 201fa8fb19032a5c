/*
 * promote_bench.c - the cost of fg_promote_run() itself, in one process:
 * what tests/bench/promote.sh reports as "flowgate (library)".
 *
 *   promote_bench REPO CHANGE STAGE RUNS
 *
 * Each run copies REPO (a bare repository with a config) to REPO.run with
 * cp -r, untimed, opens it, loads its config, then times one promotion of
 * CHANGE to STAGE.  Prints the median in milliseconds, one decimal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <git2.h>

#include "config.h"
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

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
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
	int rc;

	if (argc != 5 || fg_parse_int(&runs, argv[4], 1, 1000, NULL) < 0) {
		fprintf(stderr, "usage: promote_bench REPO CHANGE STAGE RUNS\n");
		return 2;
	}
	t = calloc((size_t)runs, sizeof(*t));
	if (t == NULL)
		return 1;
	git_libgit2_init();
	snprintf(copy, sizeof(copy), "%s.run", argv[1]);
	for (i = 0; i < runs; i++) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -r '%s' '%s'",
		    copy, argv[1], copy);
		if (system(cmd) != 0)
			return 1;
		cfg = NULL;
		st = NULL;
		if (fg_store_open(&st, copy, 0, &err) < 0 ||
		    fg_config_load(&cfg, fg_store_repo(st), &d, &err) < 0) {
			fprintf(stderr, "promote_bench: %s\n", err.msg);
			return 1;
		}
		memset(&req, 0, sizeof(req));
		req.cfg = cfg;
		req.change = argv[2];
		req.to = argv[3];
		req.actor = "bench";
		req.wait_secs = 10;
		t0 = now_ms();
		rc = fg_promote_run(&res, st, &req, &err);
		t[i] = now_ms() - t0;
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
	qsort(t, (size_t)runs, sizeof(*t), cmp);
	printf("%.1f\n", t[(runs - 1) / 2]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", copy);
	(void)system(cmd);
	free(t);
	fg_diags_release(&d);
	git_libgit2_shutdown();
	return 0;
}
