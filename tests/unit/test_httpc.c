/*
 * test_httpc.c - the shared HTTP client (lib/httpc) against real sockets:
 * tests/tools/receiver on 127.0.0.1 as the server.  Many threads' requests
 * complete through one loop, a timeout fires on time, a refused
 * connection is an error, and stopping the client fails a request still
 * in flight with a clear message.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "httpc.h"
#include "unit.h"
#include "util.h"
#include "banned.h"

#define NTHREADS 24

/* A receiver process: its pid and port; log at <tmp>/<name>.log. */
struct recv {
	pid_t pid;
	int port;
	char log[512];
};

static const char *
top(void)
{
	const char *t = getenv("FLOWGATE_TOP");

	return t != NULL ? t : ".";
}

/* Start tests/tools/receiver with extra (an argv tail, NULL-ended). */
static int
recv_start(struct recv *r, const char *name, const char *const *extra)
{
	char prog[512], portf[512], buf[32];
	const char *argv[16];
	size_t n = 0;
	FILE *f;
	int i;

	snprintf(prog, sizeof(prog), "%s/tests/tools/receiver", top());
	snprintf(portf, sizeof(portf), "%s/%s.port", fg_unit_tmpdir(), name);
	snprintf(r->log, sizeof(r->log), "%s/%s.log", fg_unit_tmpdir(), name);
	argv[n++] = prog;
	argv[n++] = "--port-file";
	argv[n++] = portf;
	argv[n++] = "--log";
	argv[n++] = r->log;
	while (extra != NULL && *extra != NULL && n < 15)
		argv[n++] = *extra++;
	argv[n] = NULL;
	r->pid = fork();
	if (r->pid < 0)
		return -1;
	if (r->pid == 0) {
		execv(prog, (char *const *)argv);
		_exit(127);
	}
	for (i = 0; i < 200; i++) {
		f = fopen(portf, "r");
		if (f != NULL) {
			if (fgets(buf, sizeof(buf), f) != NULL) {
				fclose(f);
				r->port = (int)strtol(buf, NULL, 10);
				return 0;
			}
			fclose(f);
		}
		usleep(25000);
	}
	return -1;
}

static void
recv_stop(struct recv *r)
{
	if (r->pid > 0) {
		kill(r->pid, SIGTERM);
		waitpid(r->pid, NULL, 0);
		r->pid = 0;
	}
}

/* Lines in the receiver's log: one per request it got. */
static int
recv_count(const struct recv *r)
{
	FILE *f = fopen(r->log, "r");
	int c, n = 0;

	if (f == NULL)
		return 0;
	while ((c = fgetc(f)) != EOF)
		if (c == '\n')
			n++;
	fclose(f);
	return n;
}

static double
seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct job {
	struct fg_httpc *c;
	char url[128];
	char body[64];
	int timeout;
	long code;
	int rc;
	struct fg_buf answer;
	struct fg_err err;
};

static void *
job_main(void *arg)
{
	struct job *j = arg;
	struct fg_httpc_req req;
	struct curl_slist *h = curl_slist_append(NULL,
	    "Content-Type: application/json");

	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = j->url;
	req.headers = h;
	req.body = j->body;
	req.body_len = strlen(j->body);
	req.timeout_ms = j->timeout * 1000L;
	req.answer_max = 1024;
	j->rc = fg_httpc_do(&j->code, &j->answer, j->c, &req, &j->err);
	curl_slist_free_all(h);
	return NULL;
}

static void
test_httpc_many_concurrent_requests_complete(void)
{
	static const char *const extra[] = { "--status", "201", "--body",
	    "{\"ok\":true}", "--delay-ms", "200", NULL };
	struct fg_err err = FG_ERR_INIT;
	struct fg_httpc *c = NULL;
	struct job jobs[NTHREADS];
	pthread_t th[NTHREADS];
	struct recv r;
	double t0, took;
	int i, good = 0;

	CU_ASSERT_FATAL(recv_start(&r, "many", extra) == 0);
	CU_ASSERT_FATAL(fg_httpc_new(&c, &err) == 0);
	t0 = seconds();
	for (i = 0; i < NTHREADS; i++) {
		memset(&jobs[i], 0, sizeof(jobs[i]));
		fg_buf_init(&jobs[i].answer);
		jobs[i].c = c;
		jobs[i].timeout = 20;
		jobs[i].err = (struct fg_err)FG_ERR_INIT;
		snprintf(jobs[i].url, sizeof(jobs[i].url),
		    "http://127.0.0.1:%d/hook/%d", r.port, i);
		snprintf(jobs[i].body, sizeof(jobs[i].body), "{\"n\":%d}", i);
		CU_ASSERT_FATAL(pthread_create(&th[i], NULL, job_main,
		    &jobs[i]) == 0);
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		if (jobs[i].rc == 0 && jobs[i].code == 201 &&
		    jobs[i].answer.ptr != NULL &&
		    strstr(jobs[i].answer.ptr, "\"ok\":true") != NULL)
			good++;
		else
			fprintf(stderr, "job %d: rc %d code %ld: %s\n", i,
			    jobs[i].rc, jobs[i].code, jobs[i].err.msg);
		fg_buf_release(&jobs[i].answer);
	}
	took = seconds() - t0;
	CU_ASSERT_EQUAL(good, NTHREADS);
	CU_ASSERT_EQUAL(recv_count(&r), NTHREADS);
	/* Each answer is 200 ms late; one after the other they would take
	 * NTHREADS * 0.2 s.  One loop runs them side by side. */
	CU_ASSERT(took < NTHREADS * 0.2 / 2);
	fg_httpc_free(c);
	recv_stop(&r);
}

static void
test_httpc_timeout_fires(void)
{
	static const char *const extra[] = { "--delay-ms", "5000", NULL };
	struct fg_err err = FG_ERR_INIT;
	struct fg_httpc *c = NULL;
	struct job j;
	struct recv r;
	double t0, took;

	CU_ASSERT_FATAL(recv_start(&r, "slow", extra) == 0);
	CU_ASSERT_FATAL(fg_httpc_new(&c, &err) == 0);
	memset(&j, 0, sizeof(j));
	fg_buf_init(&j.answer);
	j.c = c;
	j.timeout = 1;
	snprintf(j.url, sizeof(j.url), "http://127.0.0.1:%d/slow", r.port);
	snprintf(j.body, sizeof(j.body), "{}");
	t0 = seconds();
	job_main(&j);
	took = seconds() - t0;
	CU_ASSERT_EQUAL(j.rc, FG_EIO);
	CU_ASSERT(strstr(j.err.msg, "timed out") != NULL);
	CU_ASSERT(strstr(j.err.msg, "/slow") != NULL);
	CU_ASSERT(took >= 0.9 && took < 3.0);
	fg_buf_release(&j.answer);
	fg_httpc_free(c);
	recv_stop(&r);
}

static void
test_httpc_refused_connection_is_an_error(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_httpc *c = NULL;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	struct job j;
	int fd, port;

	/* A port nobody listens on: bound, noted, closed. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CU_ASSERT_FATAL(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	port = ntohs(sa.sin_port);
	close(fd);
	CU_ASSERT_FATAL(fg_httpc_new(&c, &err) == 0);
	memset(&j, 0, sizeof(j));
	fg_buf_init(&j.answer);
	j.c = c;
	j.timeout = 5;
	snprintf(j.url, sizeof(j.url), "http://127.0.0.1:%d/x", port);
	snprintf(j.body, sizeof(j.body), "{}");
	job_main(&j);
	CU_ASSERT_EQUAL(j.rc, FG_EIO);
	CU_ASSERT(strstr(j.err.msg, "POST http://127.0.0.1:") != NULL);
	CU_ASSERT(strstr(j.err.msg, "refused") != NULL ||
	    strstr(j.err.msg, "connect") != NULL);
	CU_ASSERT_EQUAL(j.code, 0);
	/* The client still works after a failure. */
	j.rc = 0;
	snprintf(j.url, sizeof(j.url), "ftp://127.0.0.1:%d/x", port);
	job_main(&j);
	CU_ASSERT_EQUAL(j.rc, FG_EIO);
	fg_buf_release(&j.answer);
	fg_httpc_free(c);
}

static void
test_httpc_stop_fails_requests_in_flight(void)
{
	static const char *const extra[] = { "--delay-ms", "10000", NULL };
	struct fg_err err = FG_ERR_INIT;
	struct fg_httpc *c = NULL;
	struct job j;
	struct recv r;
	pthread_t th;
	double t0;
	int i;

	CU_ASSERT_FATAL(recv_start(&r, "stop", extra) == 0);
	CU_ASSERT_FATAL(fg_httpc_new(&c, &err) == 0);
	memset(&j, 0, sizeof(j));
	fg_buf_init(&j.answer);
	j.c = c;
	j.timeout = 60;
	snprintf(j.url, sizeof(j.url), "http://127.0.0.1:%d/wait", r.port);
	snprintf(j.body, sizeof(j.body), "{}");
	CU_ASSERT_FATAL(pthread_create(&th, NULL, job_main, &j) == 0);
	/* Wait until the receiver has the request: it is in flight. */
	for (i = 0; i < 200 && recv_count(&r) == 0; i++)
		usleep(25000);
	CU_ASSERT_EQUAL(recv_count(&r), 1);
	t0 = seconds();
	fg_httpc_free(c);
	pthread_join(th, NULL);
	CU_ASSERT(seconds() - t0 < 5.0);
	CU_ASSERT_EQUAL(j.rc, FG_EIO);
	CU_ASSERT(strstr(j.err.msg, "the http client stopped before 'POST "
	    "http://127.0.0.1:") == j.err.msg);
	CU_ASSERT(strstr(j.err.msg, "/wait' was answered") != NULL);
	fg_buf_release(&j.answer);
	recv_stop(&r);
}

static void
test_httpc_refuses_bad_requests(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_httpc *c = NULL;
	struct fg_httpc_req req;
	long code = -1;

	CU_ASSERT_FATAL(fg_httpc_new(&c, &err) == 0);
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = "http://127.0.0.1:1/";
	req.timeout_ms = 0;
	CU_ASSERT_EQUAL(fg_httpc_do(&code, NULL, c, &req, &err), FG_EINVALID);
	CU_ASSERT(strstr(err.msg, "timeout 0 ms is out of bounds") != NULL);
	req.timeout_ms = 1000;
	req.url = NULL;
	CU_ASSERT_EQUAL(fg_httpc_do(&code, NULL, c, &req, &err), FG_EINVALID);
	CU_ASSERT_EQUAL(code, 0);
	fg_httpc_free(c);
	fg_httpc_free(NULL);
}

static CU_TestInfo tests[] = {
	{ "many concurrent requests complete",
	    test_httpc_many_concurrent_requests_complete },
	{ "a timeout fires", test_httpc_timeout_fires },
	{ "a refused connection is an error",
	    test_httpc_refused_connection_is_an_error },
	{ "stopping fails requests in flight",
	    test_httpc_stop_fails_requests_in_flight },
	{ "bad requests are refused", test_httpc_refuses_bad_requests },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("httpc", tests)
