/*
 * unit.h - what every CUnit suite under tests/unit/ shares.
 *
 * Each tests/unit/test_<module>.c is its own program: it lists its tests in
 * a CU_TestInfo array and ends with FG_UNIT_MAIN("module", tests).  The
 * program exits non-zero when any test fails and prints one closing line
 * "fg-test: <module> N passed, N failed" that tests/run.sh adds up.
 *
 * Fixtures: fg_unit_tmpdir() makes a fresh directory for this process (kept
 * when FLOWGATE_KEEP_TMP is set, removed at exit otherwise); fg_unit_sh()
 * runs a shell command line for building fixtures with git, returning its
 * exit status.  Only tests may use a shell.
 */
#ifndef FG_UNIT_H
#define FG_UNIT_H

#include <CUnit/CUnit.h>

#include "err.h"

int fg_unit_run(const char *suite, CU_TestInfo *tests);
const char *fg_unit_tmpdir(void);
int fg_unit_sh(const char *fmt, ...) FG_PRINTF(1, 2);

/* Path of a file in ../shared (the corpus), or NULL if shared is absent. */
const char *fg_unit_shared(const char *rel);

#define FG_UNIT_MAIN(name, tests)					\
int									\
main(void)								\
{									\
	return fg_unit_run(name, tests);				\
}

#endif
