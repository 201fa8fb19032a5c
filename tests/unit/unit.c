/*
 * unit.c - the shared CUnit runner and fixtures (see unit.h).
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <git2.h>

#include "unit.h"

static char tmpdir[PATH_MAX];

static void
cleanup_tmpdir(void)
{
	char cmd[PATH_MAX + 32];

	if (tmpdir[0] == '\0' || getenv("FLOWGATE_KEEP_TMP") != NULL)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", tmpdir);
}

const char *
fg_unit_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	if (tmpdir[0] != '\0')
		return tmpdir;
	snprintf(tmpdir, sizeof(tmpdir), "%s/fg-unit-XXXXXX",
	    base && *base ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	atexit(cleanup_tmpdir);
	return tmpdir;
}

int
fg_unit_sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc == -1)
		return -1;
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

const char *
fg_unit_shared(const char *rel)
{
	static char path[PATH_MAX];
	const char *root = getenv("FLOWGATE_SHARED");

	snprintf(path, sizeof(path), "%s/%s", root && *root ? root :
	    "../shared", rel);
	return access(path, R_OK) == 0 ? path : NULL;
}

int
fg_unit_run(const char *suite, CU_TestInfo *tests)
{
	CU_SuiteInfo suites[] = {
		{ (char *)suite, NULL, NULL, NULL, NULL, tests },
		CU_SUITE_INFO_NULL,
	};
	unsigned run, failed;

	git_libgit2_init();
	if (CU_initialize_registry() != CUE_SUCCESS ||
	    CU_register_suites(suites) != CUE_SUCCESS) {
		fprintf(stderr, "cunit: %s\n", CU_get_error_msg());
		return 2;
	}
	CU_basic_set_mode(CU_BRM_NORMAL);
	CU_basic_run_tests();
	run = CU_get_number_of_tests_run();
	failed = CU_get_number_of_tests_failed();
	if (CU_get_number_of_failures() > 0 && failed == 0)
		failed = 1;
	CU_cleanup_registry();
	git_libgit2_shutdown();
	printf("fg-test: %s %u passed, %u failed\n", suite, run - failed,
	    failed);
	return failed ? 1 : 0;
}
