/*
 * pool.c - threads for work the loop must not wait on (see pool.h).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "pool.h"
#include "banned.h"

#define POOL_MAX 64

struct whd_pool {
	struct whd *d;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct whd_task *head, *tail;
	bool stop;
	pthread_t threads[POOL_MAX];
	int n;
};

static void
task_done(void *payload)
{
	struct whd_task *t = payload;

	t->done(t);
}

static void *
pool_main(void *arg)
{
	struct whd_pool *p = arg;
	struct whd_task *t;

	pthread_setname_np(pthread_self(), "whd-pool");
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->head == NULL && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		t = p->head;
		if (t != NULL) {
			p->head = t->next;
			if (p->head == NULL)
				p->tail = NULL;
		}
		pthread_mutex_unlock(&p->mu);
		if (t == NULL)
			break;
		t->run(t);
		t->post.fn = task_done;
		t->post.payload = t;
		whd_loop_post(p->d, &t->post);
	}
	return NULL;
}

int
whd_pool_new(struct whd_pool **out, struct whd *d, int n, struct fg_err *err)
{
	struct whd_pool *p;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	p->d = d;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (n > POOL_MAX)
		n = POOL_MAX;
	for (p->n = 0; p->n < n; p->n++) {
		if (pthread_create(&p->threads[p->n], NULL, pool_main,
		    p) != 0) {
			whd_pool_free(p);
			return fg_err_set(err, FG_EIO, "cannot start the "
			    "task threads");
		}
	}
	*out = p;
	return 0;
}

void
whd_pool_submit(struct whd_pool *p, struct whd_task *t)
{
	t->next = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->tail != NULL)
		p->tail->next = t;
	else
		p->head = t;
	p->tail = t;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void
whd_pool_free(struct whd_pool *p)
{
	int i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->n; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}
