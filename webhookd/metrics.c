/*
 * metrics.c - GET /metrics in Prometheus' text format (version 0.0.4).
 *
 * Counters live on the loop thread and are only touched there; the
 * inbox's and the workers' numbers are read through their own
 * thread-safe accessors when the page is built.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "inbox.h"
#include "whd.h"
#include "worker.h"
#include "banned.h"

static const double buckets[] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
	10,
};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct delivery_count {
	char forge[16];
	char kind[32];
	char result[24];
	uint64_t n;
};

/* At most this many label sets; more are counted under "other". */
#define MAX_SERIES 512

struct whd_metrics {
	uint64_t hist[NBUCKETS + 1];	/* last: +Inf */
	double sum;
	uint64_t count;
	uint64_t by_class[6];		/* 1xx..5xx, [0] other */
	struct delivery_count *dc;
	size_t ndc;
};

int
whd_metrics_new(struct whd_metrics **out)
{
	*out = calloc(1, sizeof(**out));
	if (*out == NULL)
		return FG_ENOMEM;
	(*out)->dc = calloc(MAX_SERIES, sizeof(*(*out)->dc));
	if ((*out)->dc == NULL) {
		free(*out);
		*out = NULL;
		return FG_ENOMEM;
	}
	return 0;
}

void
whd_metrics_free(struct whd_metrics *m)
{
	if (m == NULL)
		return;
	free(m->dc);
	free(m);
}

void
whd_metrics_request(struct whd_metrics *m, int code, double ms)
{
	double s = ms / 1000;
	size_t i;

	for (i = 0; i < NBUCKETS && s > buckets[i]; i++)
		;
	m->hist[i]++;
	m->sum += s;
	m->count++;
	m->by_class[code >= 100 && code < 600 ? code / 100 : 0]++;
}

void
whd_metrics_delivery(struct whd_metrics *m, const char *forge,
    const char *kind, const char *result)
{
	struct delivery_count *c;
	size_t i;

	if (kind == NULL || *kind == '\0')
		kind = "unknown";
	for (i = 0; i < m->ndc; i++) {
		c = &m->dc[i];
		if (strcmp(c->forge, forge) == 0 &&
		    strcmp(c->kind, kind) == 0 &&
		    strcmp(c->result, result) == 0) {
			c->n++;
			return;
		}
	}
	if (m->ndc == MAX_SERIES) {
		m->dc[MAX_SERIES - 1].n++;
		return;
	}
	c = &m->dc[m->ndc++];
	snprintf(c->forge, sizeof(c->forge), "%s", forge);
	snprintf(c->kind, sizeof(c->kind), "%s", kind);
	snprintf(c->result, sizeof(c->result), "%s", result);
	c->n = 1;
}

static uint64_t
resident_bytes(void)
{
	unsigned long long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f == NULL)
		return 0;
	if (fscanf(f, "%llu %llu", &size, &res) != 2)
		res = 0;
	fclose(f);
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

void
whd_metrics_handle(struct whd_req *r)
{
	struct whd_metrics *m = r->d->metrics;
	struct evbuffer *buf;
	uint64_t qbytes = 0, commits = 0, delivered = 0, cum = 0;
	size_t qn = 0, i;
	static const char *const classes[] = { "other", "1xx", "2xx", "3xx",
	    "4xx", "5xx" };

	if (r->cmd != EVHTTP_REQ_GET && r->cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Allow", "GET, HEAD");
		whd_reply_error(r, 405, "method", "method not allowed: use "
		    "GET");
		return;
	}
	buf = evbuffer_new();
	if (buf == NULL) {
		whd_reply_error(r, 500, "error", "out of memory");
		return;
	}
	if (r->d->inbox != NULL) {
		whd_inbox_queued(r->d->inbox, &qbytes, &qn);
		whd_inbox_stats(r->d->inbox, &commits, &delivered);
	}
	evbuffer_add_printf(buf,
	    "# HELP flowgate_deliveries_total Webhook deliveries by forge, "
	    "event kind and result.\n"
	    "# TYPE flowgate_deliveries_total counter\n");
	for (i = 0; i < m->ndc; i++)
		evbuffer_add_printf(buf, "flowgate_deliveries_total{forge=\"%s\","
		    "event=\"%s\",result=\"%s\"} %llu\n", m->dc[i].forge,
		    m->dc[i].kind, m->dc[i].result,
		    (unsigned long long)m->dc[i].n);
	evbuffer_add_printf(buf,
	    "# HELP flowgate_inbox_backlog Deliveries in the inboxes not "
	    "processed yet.\n"
	    "# TYPE flowgate_inbox_backlog gauge\n"
	    "flowgate_inbox_backlog %zu\n"
	    "# HELP flowgate_inbox_queue Deliveries waiting for the disk.\n"
	    "# TYPE flowgate_inbox_queue gauge\n"
	    "flowgate_inbox_queue %zu\n"
	    "# HELP flowgate_inbox_queue_bytes Bytes waiting for the disk.\n"
	    "# TYPE flowgate_inbox_queue_bytes gauge\n"
	    "flowgate_inbox_queue_bytes %llu\n"
	    "# HELP flowgate_inbox_commits_total Group commits written.\n"
	    "# TYPE flowgate_inbox_commits_total counter\n"
	    "flowgate_inbox_commits_total %llu\n"
	    "# HELP flowgate_inbox_deliveries_total Deliveries written to "
	    "inboxes.\n"
	    "# TYPE flowgate_inbox_deliveries_total counter\n"
	    "flowgate_inbox_deliveries_total %llu\n",
	    r->d->workers != NULL ? whd_workers_backlog_total(r->d->workers) :
	    0, qn, (unsigned long long)qbytes, (unsigned long long)commits,
	    (unsigned long long)delivered);
	evbuffer_add_printf(buf,
	    "# HELP flowgate_http_requests_total HTTP requests by status "
	    "class.\n"
	    "# TYPE flowgate_http_requests_total counter\n");
	for (i = 0; i < 6; i++)
		if (m->by_class[i] > 0)
			evbuffer_add_printf(buf, "flowgate_http_requests_total"
			    "{code=\"%s\"} %llu\n", classes[i],
			    (unsigned long long)m->by_class[i]);
	evbuffer_add_printf(buf,
	    "# HELP flowgate_http_request_duration_seconds Time from a "
	    "request's arrival to its answer.\n"
	    "# TYPE flowgate_http_request_duration_seconds histogram\n");
	for (i = 0; i < NBUCKETS; i++) {
		cum += m->hist[i];
		evbuffer_add_printf(buf, "flowgate_http_request_duration_seconds"
		    "_bucket{le=\"%g\"} %llu\n", buckets[i],
		    (unsigned long long)cum);
	}
	cum += m->hist[NBUCKETS];
	evbuffer_add_printf(buf,
	    "flowgate_http_request_duration_seconds_bucket{le=\"+Inf\"} "
	    "%llu\n"
	    "flowgate_http_request_duration_seconds_sum %.6f\n"
	    "flowgate_http_request_duration_seconds_count %llu\n"
	    "# HELP process_resident_memory_bytes Resident memory size in "
	    "bytes.\n"
	    "# TYPE process_resident_memory_bytes gauge\n"
	    "process_resident_memory_bytes %llu\n"
	    "# HELP flowgate_http_connections Open connections.\n"
	    "# TYPE flowgate_http_connections gauge\n"
	    "flowgate_http_connections %d\n",
	    (unsigned long long)cum, m->sum, (unsigned long long)m->count,
	    (unsigned long long)resident_bytes(), r->d->nconns);
	whd_reply_buffer(r, 200, "ok", "text/plain; version=0.0.4", buf);
	evbuffer_free(buf);
}
