/*
 * test_gitmap.c - fg_gitmap_trim() lets go of the index pages libgit2
 * touched, and libgit2 still finds every object afterwards.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "gitmap.h"
#include "unit.h"

#define NBLOBS 20000

/* Resident KB of this process's mappings of .idx files. */
static long
idx_rss_kb(void)
{
	char line[4096], perms[5];
	unsigned long lo, hi;
	bool idx = false;
	long kb, sum = 0;
	size_t n;
	FILE *f;

	f = fopen("/proc/self/smaps", "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		n = strlen(line);
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		/* A mapping's first line: "start-end perms offset dev inode path". */
		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3)
			idx = n > 4 && strcmp(line + n - 4, ".idx") == 0;
		else if (idx && sscanf(line, "Rss: %ld kB", &kb) == 1)
			sum += kb;
	}
	fclose(f);
	return sum;
}

static int
count_cb(const git_oid *id, void *payload)
{
	(void)id;
	(*(size_t *)payload)++;
	return 0;
}

static void
test_trim_drops_index_pages(void)
{
	const char *dir = fg_unit_tmpdir();
	char path[4096];
	git_repository *repo = NULL;
	git_odb *odb = NULL;
	git_oid id;
	size_t n = 0, trimmed;
	long before, after;

	/* One pack of 20,000 small blobs: a 560 KB index. */
	CU_ASSERT_EQUAL_FATAL(fg_unit_sh("git init -q --bare '%s/r.git' && "
	    "awk 'BEGIN { for (i = 1; i <= %d; i++) { s = sprintf(\"blob %%d\", "
	    "i); printf \"blob\\ndata %%d\\n%%s\\n\", length(s), s } }' | "
	    "git -C '%s/r.git' fast-import --quiet", dir, NBLOBS, dir), 0);
	snprintf(path, sizeof(path), "%s/r.git", dir);
	git_libgit2_init();
	CU_ASSERT_EQUAL_FATAL(git_repository_open(&repo, path), 0);
	CU_ASSERT_EQUAL_FATAL(git_repository_odb(&odb, repo), 0);
	/* Listing every object reads the whole index. */
	CU_ASSERT_EQUAL(git_odb_foreach(odb, count_cb, &n), 0);
	CU_ASSERT_EQUAL(n, NBLOBS);
	before = idx_rss_kb();
	trimmed = fg_gitmap_trim();
	after = idx_rss_kb();
#ifdef FG_STATIC_GIT2
	CU_ASSERT(before > 400);
	CU_ASSERT_EQUAL(trimmed, 1);
	CU_ASSERT(after < 16);
#else
	/* libgit2 shared: its maps cannot be reached (gitmap.h). */
	CU_ASSERT_EQUAL(trimmed, 0);
	CU_ASSERT(after >= before - 16);
#endif
	/* And everything is still there, read back from the page cache. */
	CU_ASSERT_EQUAL(git_odb_hash(&id, "blob 12345", 10, GIT_OBJECT_BLOB), 0);
	CU_ASSERT(git_odb_exists(odb, &id));
	n = 0;
	CU_ASSERT_EQUAL(git_odb_foreach(odb, count_cb, &n), 0);
	CU_ASSERT_EQUAL(n, NBLOBS);
	git_odb_free(odb);
	git_repository_free(repo);
	/* Once unmapped, an index is no longer in the list. */
#ifdef FG_STATIC_GIT2
	CU_ASSERT_EQUAL(fg_gitmap_trim(), 0);
#endif
	git_libgit2_shutdown();
}

static CU_TestInfo tests[] = {
	{ "trim drops index pages", test_trim_drops_index_pages },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("gitmap", tests)
