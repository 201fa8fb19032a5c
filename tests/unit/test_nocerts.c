/*
 * test_nocerts.c - what lib/nocerts.c turns off in libgit2 stays off
 * safely: the programs start, and a network operation libgit2 would make
 * over TLS fails with an error instead of crashing or going unchecked.
 */
#include <string.h>

#include <git2.h>

#include "unit.h"

/*
 * An HTTPS fetch through libgit2.  With libgit2 linked in, its TLS stream
 * is never set up (nocerts.c): the fetch fails before any connection, and
 * says why.  With libgit2 shared the port (discard, nothing listens) makes
 * it fail too; either way it returns.  A detached remote: one made in a
 * repository reads its url.*.insteadOf settings, where libgit2 1.5 leaks
 * a PCRE2 match block per setting (LeakSanitizer).
 */
static void
test_nocerts_https_fails_cleanly(void)
{
	git_remote *remote = NULL;
	const git_error *e;
	int rc;

	CU_ASSERT_FATAL(git_libgit2_init() > 0);
	CU_ASSERT_EQUAL_FATAL(git_remote_create_detached(&remote,
	    "https://127.0.0.1:9/app.git"), 0);
	rc = git_remote_connect(remote, GIT_DIRECTION_FETCH, NULL, NULL,
	    NULL);
	CU_ASSERT(rc < 0);
	e = git_error_last();
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
#ifdef FG_STATIC_GIT2
	CU_ASSERT_PTR_NOT_NULL(strstr(e->message, "no TLS connections"));
#endif
	git_remote_free(remote);
	git_libgit2_shutdown();
}

#ifdef FG_STATIC_GIT2
/* Certificate locations cannot be set on a TLS set-up that is not there. */
static void
test_nocerts_cert_location_is_refused(void)
{
	const git_error *e;

	CU_ASSERT_FATAL(git_libgit2_init() > 0);
	CU_ASSERT(git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS,
	    "/etc/ssl/certs/ca-certificates.crt", NULL) < 0);
	e = git_error_last();
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_PTR_NOT_NULL(strstr(e->message, "no TLS connections"));
	git_libgit2_shutdown();
}
#endif

static CU_TestInfo tests[] = {
	{ "an https fetch fails cleanly", test_nocerts_https_fails_cleanly },
#ifdef FG_STATIC_GIT2
	{ "a certificate location is refused",
	    test_nocerts_cert_location_is_refused },
#endif
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("nocerts", tests)
