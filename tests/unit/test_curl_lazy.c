/*
 * test_curl_lazy.c - lib/curl_lazy.c: libcurl loaded on first use.
 *
 * The library is loaded once per process, so the tests that need it not
 * to load run in a child (fork) with FLOWGATE_LIBCURL naming a library
 * that does not exist, before this process loads the real one; each child
 * reports what it saw through its exit status, one bit per check.
 */
#define CURL_DISABLE_TYPECHECK 1

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "buf.h"
#include "config.h"
#include "deploy_int.h"
#include "unit.h"

#define MISSING "libcurl.so.0-flowgate-test-missing"

/* Run fn in a child; returns its exit status, or -1. */
static int
in_child(int (*fn)(void))
{
	pid_t pid;
	int st;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(fn());
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* Each failed check sets one bit of the child's exit status. */
static int
child_missing(void)
{
	char reason[256] = "";
	struct fg_buf log = FG_BUF_INIT;
	struct fg_deploy dep = { 0 };
	struct fg_deploy_facts f = { "0123456789012345678901234567890123456789",
	    "qa", "integration", "refs/heads/develop", "alice", "r1" };
	bool ok = true;
	int bad = 0;

	setenv("FLOWGATE_LIBCURL", MISSING, 1);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_FAILED_INIT)
		bad |= 1;
	if (curl_easy_init() != NULL || curl_multi_init() != NULL)
		bad |= 2;
	if (strstr(curl_easy_strerror(CURLE_OK), "cannot load " MISSING) ==
	    NULL || strstr(curl_multi_strerror(CURLM_OK), MISSING) == NULL)
		bad |= 4;
	/* What a user sees: an http deployment fails and names the reason. */
	dep.kind = FG_DEPLOY_HTTP;
	dep.url = (char *)"http://127.0.0.1:9/deploy";
	if (fg_deploy__http(&ok, reason, sizeof(reason), &log, NULL, &dep, NULL,
	    &f, 5) != 0 || ok)
		bad |= 8;
	if (strncmp(reason, "cannot start libcurl: cannot load " MISSING,
	    strlen("cannot start libcurl: cannot load " MISSING)) != 0) {
		fprintf(stderr, "reason: %s\n", reason);
		bad |= 16;
	}
	/* Freeing what could not be made is harmless. */
	curl_slist_free_all(NULL);
	curl_easy_cleanup(NULL);
	fg_buf_release(&log);
	return bad;
}

static void
test_missing_library(void)
{
	CU_ASSERT_EQUAL(in_child(child_missing), 0);
}

/* A name with a '/' is not honoured: the real library is loaded. */
static int
child_path_ignored(void)
{
	setenv("FLOWGATE_LIBCURL", "/nonexistent/libcurl.so.4", 1);
	return strncmp(curl_version(), "libcurl/", 8) == 0 ? 0 : 1;
}

static void
test_path_ignored(void)
{
	CU_ASSERT_EQUAL(in_child(child_path_ignored), 0);
}

static size_t
collect(char *p, size_t size, size_t n, void *data)
{
	struct fg_buf *b = data;

	if (fg_buf_add(b, p, size * n) < 0)
		return 0;
	return size * n;
}

/* Every option type range goes through as its own type. */
static void
test_setopt_types(void)
{
	struct curl_blob blob = { (void *)"x", 1, CURL_BLOB_COPY };
	CURL *c;

	CU_ASSERT_EQUAL(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(curl_version(), "libcurl/"));
	c = curl_easy_init();
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(curl_easy_setopt(c, CURLOPT_VERBOSE, 0L), CURLE_OK);
	CU_ASSERT_EQUAL(curl_easy_setopt(c, CURLOPT_URL, "http://x.invalid/"),
	    CURLE_OK);
	CU_ASSERT_EQUAL(curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect),
	    CURLE_OK);
	CU_ASSERT_EQUAL(curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)1 << 40), CURLE_OK);
	CU_ASSERT_EQUAL(curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &blob),
	    CURLE_OK);
	/* The long arrives as a long: curl refuses a redirect limit below -1. */
	CU_ASSERT_NOT_EQUAL(curl_easy_setopt(c, CURLOPT_MAXREDIRS, -2L),
	    CURLE_OK);
	CU_ASSERT_EQUAL(curl_easy_setopt(c, (CURLoption)50001, 1L),
	    CURLE_UNKNOWN_OPTION);
	curl_easy_cleanup(c);
}

/*
 * A real transfer (file://) through the calls lib/httpc makes: an easy
 * handle driven by curl_multi_socket_action (a file needs no socket, so
 * the timeout action alone runs it to the end).
 */
static void
test_transfer(void)
{
	struct fg_buf path = FG_BUF_INIT, url = FG_BUF_INIT, got = FG_BUF_INIT;
	struct curl_slist *h = NULL;
	curl_off_t size = 0;
	CURLMsg *msg;
	CURLM *m;
	CURL *c;
	FILE *fp;
	int running = 1, left, i;
	char *esc;

	CU_ASSERT_EQUAL(fg_buf_printf(&path, "%s/body.txt", fg_unit_tmpdir()),
	    0);
	fp = fopen(path.ptr, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
	fputs("hello from a file\n", fp);
	fclose(fp);
	esc = curl_easy_escape(NULL, "a b/c", 0);
	CU_ASSERT_STRING_EQUAL(esc, "a%20b%2Fc");
	curl_free(esc);
	h = curl_slist_append(h, "X-Test: 1");
	CU_ASSERT_PTR_NOT_NULL(h);

	CU_ASSERT_EQUAL(fg_buf_printf(&url, "file://%s", path.ptr), 0);
	c = curl_easy_init();
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	curl_easy_setopt(c, CURLOPT_URL, url.ptr);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &got);
	m = curl_multi_init();
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_EQUAL(curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, 2L),
	    CURLM_OK);
	CU_ASSERT_EQUAL(curl_multi_add_handle(m, c), CURLM_OK);
	for (i = 0; running > 0 && i < 1000; i++)
		if (curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0,
		    &running) != CURLM_OK)
			break;
	CU_ASSERT_EQUAL(running, 0);
	msg = curl_multi_info_read(m, &left);
	CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
	CU_ASSERT_EQUAL(msg->msg, CURLMSG_DONE);
	CU_ASSERT_EQUAL(msg->data.result, CURLE_OK);
	CU_ASSERT_STRING_EQUAL(got.ptr, "hello from a file\n");
	CU_ASSERT_EQUAL(curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &size),
	    CURLE_OK);
	CU_ASSERT_EQUAL(size, 18);
	CU_ASSERT_STRING_EQUAL(curl_multi_strerror(CURLM_OK), "No error");
	CU_ASSERT_EQUAL(curl_multi_remove_handle(m, c), CURLM_OK);
	CU_ASSERT_EQUAL(curl_multi_cleanup(m), CURLM_OK);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	fg_buf_release(&path);
	fg_buf_release(&url);
	fg_buf_release(&got);
}

static CU_TestInfo tests[] = {
	{ "a missing libcurl fails with its reason", test_missing_library },
	{ "FLOWGATE_LIBCURL with a path is ignored", test_path_ignored },
	{ "setopt passes each option type", test_setopt_types },
	{ "a file:// transfer through the multi socket calls", test_transfer },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("curl_lazy", tests)
