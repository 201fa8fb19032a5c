/*
 * test_checkout.c - fg_proc_checkout() on trees big enough for its two
 * writers (CHECKOUT_PARALLEL_MIN files and more): every file, mode and
 * link comes out as git itself writes them (git archive | tar), and a
 * blob missing from the repository fails the checkout naming the file,
 * not a crash or a half-silent success.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "proc.h"
#include "unit.h"
#include "banned.h"

/*
 * A repository (loose objects, not packed) whose HEAD holds 400 files in
 * four directories, nested ones included, an executable and a link.
 */
static const char *
big_repo(const char *name)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", fg_unit_tmpdir(), name);
	CU_ASSERT_EQUAL_FATAL(fg_unit_sh("git init -q '%s' && cd '%s' && "
	    "mkdir -p a b/c b/c/d e && i=0 && while [ $i -lt 100 ]; do "
	    "for d in a b/c b/c/d e; do echo \"$d $i\" > $d/f$i.txt; done; "
	    "i=$((i + 1)); done && rm e/f0.txt && "
	    "printf '#!/bin/sh\\necho hi\\n' > run.sh && chmod +x run.sh && "
	    "ln -s a/f1.txt link && git add -A && "
	    "GIT_AUTHOR_NAME=a GIT_AUTHOR_EMAIL=a@x GIT_COMMITTER_NAME=a "
	    "GIT_COMMITTER_EMAIL=a@x git commit -q -m many", path, path), 0);
	return path;
}

static void
head_of(git_oid *out, git_repository *repo)
{
	git_object *o = NULL;

	CU_ASSERT_EQUAL_FATAL(git_revparse_single(&o, repo, "HEAD^{commit}"),
	    0);
	git_oid_cpy(out, git_object_id(o));
	git_object_free(o);
}

static void
test_checkout_many_files_match_git(void)
{
	const char *path = big_repo("many");
	struct fg_err err = FG_ERR_INIT;
	git_repository *repo = NULL;
	char *dir = NULL, ref[PATH_MAX + 16];
	git_oid head;
	int i;

	CU_ASSERT_EQUAL_FATAL(git_repository_open(&repo, path), 0);
	head_of(&head, repo);
	snprintf(ref, sizeof(ref), "%s.ref", path);
	CU_ASSERT_EQUAL_FATAL(fg_unit_sh("mkdir '%s' && git -C '%s' archive "
	    "HEAD | tar -x -C '%s'", ref, path, ref), 0);
	/* Several times: the writers race each other differently each time. */
	for (i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL_FATAL(fg_proc_mkdtemp(&dir, "many", &err), 0);
		CU_ASSERT_EQUAL(fg_proc_checkout(dir, repo, &head, &err), 0);
		CU_ASSERT_EQUAL(fg_unit_sh("diff -r --no-dereference '%s' "
		    "'%s'", ref, dir), 0);
		CU_ASSERT_EQUAL(fg_unit_sh("test \"$(find '%s' -type f | "
		    "wc -l)\" -eq 400", dir), 0);
		CU_ASSERT_EQUAL(fg_unit_sh("cd '%s' && test -x run.sh && "
		    "test ! -x a/f1.txt && test -L link && "
		    "test \"$(readlink link)\" = a/f1.txt && "
		    "test \"$(cat b/c/d/f99.txt)\" = 'b/c/d 99'", dir), 0);
		CU_ASSERT_EQUAL(fg_proc_rmtree(dir, &err), 0);
		free(dir);
		dir = NULL;
	}
	git_repository_free(repo);
}

static void
test_checkout_missing_blob_fails_naming_it(void)
{
	const char *path = big_repo("broken");
	struct fg_err err = FG_ERR_INIT;
	git_repository *repo = NULL;
	const git_oid *blob;
	git_object *o = NULL;
	char *dir = NULL, hex[GIT_OID_HEXSZ + 1];
	git_oid head;

	/* Remove the loose object of one blob in the middle of the tree. */
	CU_ASSERT_EQUAL_FATAL(git_repository_open(&repo, path), 0);
	head_of(&head, repo);
	CU_ASSERT_EQUAL_FATAL(git_revparse_single(&o, repo,
	    "HEAD:b/c/f50.txt"), 0);
	blob = git_object_id(o);
	git_oid_tostr(hex, sizeof(hex), blob);
	git_object_free(o);
	git_repository_free(repo);
	CU_ASSERT_EQUAL_FATAL(fg_unit_sh("rm -f '%s/.git/objects/%.2s/%s'",
	    path, hex, hex + 2), 0);
	CU_ASSERT_EQUAL_FATAL(git_repository_open(&repo, path), 0);
	CU_ASSERT_EQUAL_FATAL(fg_proc_mkdtemp(&dir, "broken", &err), 0);
	CU_ASSERT_EQUAL(fg_proc_checkout(dir, repo, &head, &err), FG_EIO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cannot read 'f50.txt'"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, dir));
	CU_ASSERT_EQUAL(fg_proc_rmtree(dir, &err), 0);
	free(dir);
	git_repository_free(repo);
}

static CU_TestInfo tests[] = {
	{ "many files come out as git writes them",
	    test_checkout_many_files_match_git },
	{ "a missing blob fails the checkout, naming it",
	    test_checkout_missing_blob_fails_naming_it },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("checkout", tests)
