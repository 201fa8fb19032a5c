/*
 * test_note_merge.c - fg_store_note_merge() merges deep: objects merge
 * recursively, other values replace, null removes at any depth, and
 * writers that each name only their own entry all keep it, also when
 * they run at once in separate processes.
 */
#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "store.h"
#include "unit.h"
#include "banned.h"

static int seq;

/* A bare repository with one commit; *c is that commit. */
static const char *
repo_with_commit(git_oid *c)
{
	static char path[4096];
	char hex[GIT_OID_HEXSZ + 1];
	FILE *f;
	char cmd[20000];

	snprintf(path, sizeof(path), "%s/r%d.git", fg_unit_tmpdir(), ++seq);
	snprintf(cmd, sizeof(cmd), "git init -q --bare '%s' && t=$(git -C "
	    "'%s' mktree </dev/null) && GIT_AUTHOR_NAME=a "
	    "GIT_AUTHOR_EMAIL=a@x GIT_COMMITTER_NAME=a GIT_COMMITTER_EMAIL=a@x "
	    "git -C '%s' commit-tree -m one $t > '%s.id'", path, path, path,
	    path);
	CU_ASSERT_FATAL(fg_unit_sh("%s", cmd) == 0);
	snprintf(cmd, sizeof(cmd), "%s.id", path);
	f = fopen(cmd, "r");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_FATAL(fgets(hex, sizeof(hex), f) != NULL);
	fclose(f);
	CU_ASSERT_FATAL(git_oid_fromstrn(c, hex, GIT_OID_HEXSZ) == 0);
	return path;
}

static void
merge(struct fg_store *st, const git_oid *c, const char *json)
{
	struct fg_err err = FG_ERR_INIT;
	cJSON *keys = cJSON_Parse(json);

	CU_ASSERT_PTR_NOT_NULL_FATAL(keys);
	CU_ASSERT_EQUAL(fg_store_note_merge(st, c, keys, "t", NULL, &err), 0);
	cJSON_Delete(keys);
}

/* The note as compact JSON, in a static buffer. */
static const char *
note_text(struct fg_store *st, const git_oid *c)
{
	static char text[4096];
	struct fg_err err = FG_ERR_INIT;
	cJSON *note = NULL;
	char *s;

	text[0] = '\0';
	if (fg_store_note_get(&note, st, c, &err) < 0)
		return "none";
	s = cJSON_PrintUnformatted(note);
	snprintf(text, sizeof(text), "%s", s != NULL ? s : "");
	cJSON_free(s);
	cJSON_Delete(note);
	return text;
}

static void
test_note_merge_deep(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	const char *repo;
	git_oid c;

	repo = repo_with_commit(&c);
	CU_ASSERT_EQUAL_FATAL(fg_store_open(&st, repo, 0, &err), 0);
	merge(st, &c, "{\"deployments\":{\"uat\":{\"status\":\"started\","
	    "\"time\":\"t1\"}}}");
	merge(st, &c, "{\"deployments\":{\"sit\":{\"status\":\"succeeded\"}}}");
	CU_ASSERT_STRING_EQUAL(note_text(st, &c), "{\"deployments\":{\"uat\":"
	    "{\"status\":\"started\",\"time\":\"t1\"},\"sit\":{\"status\":"
	    "\"succeeded\"}}}");
	/* An object merges into the one there; a string replaces. */
	merge(st, &c, "{\"deployments\":{\"uat\":{\"status\":\"failed\"}}}");
	CU_ASSERT_STRING_EQUAL(note_text(st, &c), "{\"deployments\":{\"uat\":"
	    "{\"status\":\"failed\",\"time\":\"t1\"},\"sit\":{\"status\":"
	    "\"succeeded\"}}}");
	/* null removes a member at depth; arrays replace whole. */
	merge(st, &c, "{\"deployments\":{\"uat\":{\"time\":null}},"
	    "\"pushes\":[1,2]}");
	merge(st, &c, "{\"pushes\":[3]}");
	CU_ASSERT_STRING_EQUAL(note_text(st, &c), "{\"deployments\":{\"uat\":"
	    "{\"status\":\"failed\"},\"sit\":{\"status\":\"succeeded\"}},"
	    "\"pushes\":[3]}");
	/* An object over a string replaces it; nulls in a new one go. */
	merge(st, &c, "{\"pushes\":{\"a\":1,\"b\":null,\"c\":{\"d\":null}}}");
	CU_ASSERT_STRING_EQUAL(note_text(st, &c), "{\"deployments\":{\"uat\":"
	    "{\"status\":\"failed\"},\"sit\":{\"status\":\"succeeded\"}},"
	    "\"pushes\":{\"a\":1,\"c\":{}}}");
	fg_store_free(st);
}

/* Writers in separate processes, each naming only its own entry. */
static void
test_note_merge_concurrent_entries(void)
{
	enum { WRITERS = 4, EACH = 5 };
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	const char *repo;
	char json[128];
	cJSON *note = NULL, *deps;
	pid_t pids[WRITERS];
	git_oid c;
	int k, j, status;

	repo = repo_with_commit(&c);
	for (k = 0; k < WRITERS; k++) {
		pids[k] = fork();
		CU_ASSERT_FATAL(pids[k] >= 0);
		if (pids[k] != 0)
			continue;
		git_libgit2_init();
		if (fg_store_open(&st, repo, 0, &err) < 0)
			_exit(1);
		for (j = 0; j < EACH; j++) {
			cJSON *keys;

			snprintf(json, sizeof(json), "{\"deployments\":"
			    "{\"env%d\":{\"n\":%d}}}", k, j);
			keys = cJSON_Parse(json);
			if (keys == NULL || fg_store_note_merge(st, &c, keys,
			    "w", NULL, &err) < 0)
				_exit(1);
			cJSON_Delete(keys);
		}
		fg_store_free(st);
		_exit(0);
	}
	for (k = 0; k < WRITERS; k++) {
		CU_ASSERT_EQUAL(waitpid(pids[k], &status, 0), pids[k]);
		CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	CU_ASSERT_EQUAL_FATAL(fg_store_open(&st, repo, 0, &err), 0);
	CU_ASSERT_EQUAL_FATAL(fg_store_note_get(&note, st, &c, &err), 0);
	deps = cJSON_GetObjectItemCaseSensitive(note, "deployments");
	CU_ASSERT_EQUAL(cJSON_GetArraySize(deps), WRITERS);
	for (k = 0; k < WRITERS; k++) {
		snprintf(json, sizeof(json), "env%d", k);
		CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(deps, json), "n")->valueint,
		    EACH - 1);
	}
	cJSON_Delete(note);
	fg_store_free(st);
}

static CU_TestInfo tests[] = {
	{ "note merge is deep", test_note_merge_deep },
	{ "concurrent writers of entries keep each", test_note_merge_concurrent_entries },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("note_merge", tests)
