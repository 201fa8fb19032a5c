/*
 * pool.h - a few threads for work the loop must not wait on: API reads
 * of a repository (config, activity, pull requests, deployments).
 *
 * The loop submits a task; a pool thread runs task->run(task); the loop
 * then runs task->done(task), which answers the request and frees the
 * task.  Submitting never fails and never blocks.
 */
#ifndef FG_WHD_POOL_H
#define FG_WHD_POOL_H

#include "err.h"
#include "whd.h"

struct whd_task {
	struct whd_task *next;
	void (*run)(struct whd_task *t);	/* on a pool thread */
	void (*done)(struct whd_task *t);	/* on the loop */
	struct whd_post post;
};

int whd_pool_new(struct whd_pool **out, struct whd *d, int n,
    struct fg_err *err);
void whd_pool_submit(struct whd_pool *p, struct whd_task *t);

/* Run what is queued, stop the threads, free.  Accepts NULL. */
void whd_pool_free(struct whd_pool *p);

#endif
