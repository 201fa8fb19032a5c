/*
 * test_store.c - the state store: records, walks, notes, batches, packing,
 * and what many writers, hostile text and kill -9 must not break.
 *
 * Every test makes its own bare repository with git and checks the result
 * with git itself (git log, git notes, git fsck --strict) as well as through
 * the store, so a record that only our own reader understands fails.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>

#include "buf.h"
#include "pack.h"
#include "record.h"
#include "store.h"
#include "unit.h"
#include "util.h"

#define ACT "refs/flowgate/activity"

static int repo_seq;

static bool
streq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* A fresh bare repository; the path is static until the next call. */
static const char *
new_repo(void)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/repo%d.git", fg_unit_tmpdir(),
	    ++repo_seq);
	CU_ASSERT_FATAL(fg_unit_sh("git init -q --bare '%s'", path) == 0);
	return path;
}

/* Run a shell command, append its stdout to out; returns exit status. */
static int
capture(struct fg_buf *out, const char *fmt, ...)
{
	char cmd[8192], chunk[4096];
	va_list ap;
	size_t n;
	FILE *p;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	for (;;) {
		n = fread(chunk, 1, sizeof(chunk), p);
		if (n == 0)
			break;
		fg_buf_add(out, chunk, n);
	}
	rc = pclose(p);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static long
count_of(const char *fmt, const char *repo)
{
	struct fg_buf b = FG_BUF_INIT;
	long n = -1;

	if (capture(&b, fmt, repo) == 0)
		n = strtol(b.ptr, NULL, 10);
	fg_buf_release(&b);
	return n;
}

static long
commits(const char *repo, const char *ref)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "git -C '%%s' rev-list --count %s", ref);
	return count_of(cmd, repo);
}

static long
loose_objects(const char *repo)
{
	return count_of("git -C '%s' count-objects -v | sed -n "
	    "'s/^count: //p'", repo);
}

/*
 * git fsck --strict exits 0 and says nothing but notices (an unborn HEAD;
 * no refs at all, where a test writes only packs) and dangling objects
 * (lost compare-and-swap rounds leave those).
 */
static bool
fsck_clean(const char *repo)
{
	struct fg_buf b = FG_BUF_INIT;
	int rc;
	bool ok;

	rc = capture(&b, "git -C '%s' fsck --strict --no-dangling 2>&1 | "
	    "grep -v -e '^notice: HEAD points to an unborn branch' "
	    "-e '^notice: No default references'; "
	    "git -C '%s' fsck --strict >/dev/null 2>&1", repo, repo);
	ok = rc == 0 && b.len == 0;
	if (!ok)
		fprintf(stderr, "fsck of %s (exit %d):\n%s\n", repo, rc, b.ptr);
	fg_buf_release(&b);
	return ok;
}

/* The objects directory of st's repository (static buffer). */
static const char *
objdir_of(struct fg_store *st)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%sobjects",
	    git_repository_path(fg_store_repo(st)));
	return path;
}

static struct fg_store *
open_store(const char *repo, unsigned flags)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;

	if (fg_store_open(&st, repo, flags, &err) != 0)
		fprintf(stderr, "open: %s\n", err.msg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	return st;
}

static int
append(struct fg_store *st, const char *ref, const char *kind,
    const char *subject, git_oid *id)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_record r;
	git_oid tmp;
	int rc;

	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.subject = subject;
	rc = fg_store_append(id ? id : &tmp, st, ref, &r, &err);
	if (rc != 0)
		fprintf(stderr, "append: %s\n", err.msg);
	return rc;
}

static void
test_store_open_refuses_a_missing_repository(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	char path[4096];

	snprintf(path, sizeof(path), "%s/nothing-here", fg_unit_tmpdir());
	CU_ASSERT_EQUAL(fg_store_open(&st, path, 0, &err), FG_ENOTFOUND);
	CU_ASSERT_PTR_NULL(st);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "nothing-here"));
	CU_ASSERT_EQUAL(fg_store_open(&st, "", 0, &err), FG_EINVALID);
}

static void
test_store_append_round_trip(void)
{
	const char *repo = new_repo();
	struct fg_store *st = open_store(repo, 0);
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf b = FG_BUF_INIT;
	struct fg_record r;
	cJSON *data, *json = NULL;
	const cJSON *v;
	git_oid id1, id2, tip;
	char hex1[GIT_OID_HEXSZ + 1], cmd[256];

	data = cJSON_Parse("{\"duration\": 42, \"url\": \"https://x\"}");
	memset(&r, 0, sizeof(r));
	r.kind = "deploy";
	r.subject = "deploy prod: 1a2b3c4 succeeded in 42s";
	r.body = "Deployed by the pipeline.";
	r.stage = "production";
	r.env = "prod";
	r.commit = "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d";
	r.status = "succeeded";
	r.run = "run-7";
	r.actor_name = "Alice Example";
	r.actor_email = "alice@example.com";
	r.time = 1795428000;	/* 2026-11-23T10:00:00Z */
	r.data = data;
	CU_ASSERT_EQUAL_FATAL(fg_store_append(&id1, st, ACT, &r, &err), 0);
	r.subject = "deploy prod: 2b3c4d5 failed in 3s";
	r.status = "failed";
	CU_ASSERT_EQUAL_FATAL(fg_store_append(&id2, st, ACT, &r, &err), 0);
	CU_ASSERT_EQUAL(fg_store_tip(&tip, st, ACT, &err), 0);
	CU_ASSERT(git_oid_equal(&tip, &id2));
	CU_ASSERT_EQUAL(commits(repo, ACT), 2);

	/* The parent is the previous record, and nothing else. */
	git_oid_tostr(hex1, sizeof(hex1), &id1);
	CU_ASSERT_EQUAL(capture(&b, "git -C '%s' log -1 --format='%%P|%%an|%%ae"
	    "|%%cn|%%ce|%%at|%%ct|%%s' %s", repo, ACT), 0);
	snprintf(cmd, sizeof(cmd), "%s|Alice Example|alice@example.com|"
	    "flowgate|flowgate@localhost|1795428000|1795428000|deploy prod: "
	    "2b3c4d5 failed in 3s\n", hex1);
	CU_ASSERT_STRING_EQUAL(b.ptr, cmd);
	fg_buf_reset(&b);
	CU_ASSERT_EQUAL(capture(&b, "git -C '%s' log -1 --format="
	    "'%%(trailers:key=Flowgate-Status,valueonly)' %s", repo, ACT), 0);
	CU_ASSERT_STRING_EQUAL(b.ptr, "failed\n\n");

	/* record.json, read back through the store. */
	fg_buf_reset(&b);
	CU_ASSERT_EQUAL_FATAL(fg_store_read_file(&b, st, ACT, "record.json",
	    &err), 0);
	CU_ASSERT_EQUAL_FATAL(fg_json_parse(&json, b.ptr, b.len, &err), 0);
	CU_ASSERT_EQUAL(cJSON_GetObjectItem(json, "version")->valuedouble, 1);
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(json, "kind")->valuestring,
	    "deploy");
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(json, "time")->valuestring,
	    "2026-11-23T10:00:00Z");
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(json, "status")->valuestring,
	    "failed");
	v = cJSON_GetObjectItem(json, "actor");
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(v, "name")->valuestring,
	    "Alice Example");
	v = cJSON_GetObjectItem(json, "data");
	CU_ASSERT_EQUAL(cJSON_GetObjectItem(v, "duration")->valuedouble, 42);
	cJSON_Delete(json);

	/* Missing file, missing ref. */
	CU_ASSERT_EQUAL(fg_store_read_file(&b, st, ACT, "nope", &err),
	    FG_ENOTFOUND);
	CU_ASSERT_EQUAL(fg_store_read_file(&b, st, "refs/flowgate/envs/none",
	    "record.json", &err), FG_ENOTFOUND);
	CU_ASSERT_EQUAL(fg_store_tip(&tip, st, "refs/flowgate/none", &err),
	    FG_ENOTFOUND);
	CU_ASSERT(fsck_clean(repo));
	cJSON_Delete(data);
	fg_buf_release(&b);
	fg_store_free(st);
}

static void
test_store_append_refuses_refs_outside_flowgate(void)
{
	static const char *const bad[] = {
		"refs/heads/main", "refs/flowgate/../heads/x",
		"refs/flowgate/a..b", "refs/flowgate/x.lock", "flowgate",
		"refs/notes/flowgate", "refs/flowgate/a b", "",
	};
	struct fg_store *st = open_store(new_repo(), 0);
	struct fg_err err = FG_ERR_INIT;
	struct fg_record r;
	git_oid id;
	size_t i;

	memset(&r, 0, sizeof(r));
	r.kind = "push";
	r.subject = "push";
	for (i = 0; i < FG_ARRAY_SIZE(bad); i++)
		CU_ASSERT_EQUAL(fg_store_append(&id, st, bad[i], &r, &err),
		    FG_EINVALID);
	CU_ASSERT_EQUAL(fg_store_append(&id, st, NULL, &r, &err), FG_EINVALID);
	fg_store_free(st);
}

static void
test_store_append_refuses_bad_records(void)
{
	struct fg_store *st = open_store(new_repo(), 0);
	struct fg_err err = FG_ERR_INIT;
	struct fg_record r;
	struct fg_file files[2];
	struct fg_trailer tr[2];
	cJSON *arr = cJSON_CreateArray();
	git_oid id;

	memset(&r, 0, sizeof(r));
	r.subject = "s";
	r.kind = "Deploy";
	CU_ASSERT_EQUAL(fg_store_append(&id, st, ACT, &r, &err), FG_EINVALID);
	r.kind = NULL;
	CU_ASSERT_EQUAL(fg_store_append(&id, st, ACT, &r, &err), FG_EINVALID);
	r.kind = "deploy";
	r.subject = " \n ";
	CU_ASSERT_EQUAL(fg_store_append(&id, st, ACT, &r, &err), FG_EINVALID);
	r.subject = "s";
	r.data = arr;
	CU_ASSERT_EQUAL(fg_store_append(&id, st, ACT, &r, &err), FG_EINVALID);
	r.data = NULL;

	memset(files, 0, sizeof(files));
	r.files = files;
	r.nfiles = 1;
	files[0].name = "a/b";
	CU_ASSERT_EQUAL(fg_store_append(&id, st, ACT, &r, &err), FG_EINVALID);
	files[0].name = ".gitmodules";
	CU_ASSERT_EQUAL(fg_store_append(&id, st, ACT, &r, &err), FG_EINVALID);
	files[0].name = "..";
	CU_ASSERT_EQUAL(fg_store_append(&id, st, ACT, &r, &err), FG_EINVALID);
	files[0].name = "record.json";
	CU_ASSERT_EQUAL(fg_store_append(&id, st, ACT, &r, &err), FG_EINVALID);
	files[0].name = "log";
	files[1].name = "log";
	r.nfiles = 2;
	CU_ASSERT_EQUAL(fg_store_append(&id, st, ACT, &r, &err), FG_EINVALID);
	r.nfiles = 0;

	r.trailers = tr;
	r.ntrailers = 1;
	tr[0].key = "X-Forged";
	tr[0].value = "1";
	CU_ASSERT_EQUAL(fg_store_append(&id, st, ACT, &r, &err), FG_EINVALID);
	tr[0].key = "flowgate-status";
	CU_ASSERT_EQUAL(fg_store_append(&id, st, ACT, &r, &err), FG_EINVALID);
	tr[0].key = "Flowgate-Gate: x";
	CU_ASSERT_EQUAL(fg_store_append(&id, st, ACT, &r, &err), FG_EINVALID);
	tr[0].key = "Flowgate-Gate";
	tr[1] = tr[0];
	r.ntrailers = 2;
	CU_ASSERT_EQUAL(fg_store_append(&id, st, ACT, &r, &err), FG_EINVALID);
	r.ntrailers = 1;
	CU_ASSERT_EQUAL(fg_store_append(&id, st, ACT, &r, &err), 0);
	/* Nothing refused was written. */
	CU_ASSERT_EQUAL(commits(git_repository_path(fg_store_repo(st)), ACT),
	    1);
	cJSON_Delete(arr);
	fg_store_free(st);
}

static void
test_store_files_round_trip_with_nul_bytes(void)
{
	const char *repo = new_repo();
	struct fg_store *st = open_store(repo, 0);
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf b = FG_BUF_INIT;
	struct fg_record r;
	struct fg_file files[2];
	unsigned char bin[1000];
	git_oid id;
	size_t i;

	for (i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)(i * 7);	/* NULs and 0xff alike */
	memset(&r, 0, sizeof(r));
	memset(files, 0, sizeof(files));
	r.kind = "deploy";
	r.subject = "deploy qa: ok";
	r.files = files;
	r.nfiles = 2;
	r.no_record_json = true;
	files[0].name = "deployment.json";
	files[0].data = "{\"state\": \"ok\"}\n";
	files[0].len = strlen(files[0].data);
	files[1].name = "log";
	files[1].data = bin;
	files[1].len = sizeof(bin);
	CU_ASSERT_EQUAL_FATAL(fg_store_append(&id, st, "refs/flowgate/envs/qa",
	    &r, &err), 0);
	CU_ASSERT_EQUAL(fg_store_read_file(&b, st, "refs/flowgate/envs/qa",
	    "log", &err), 0);
	CU_ASSERT_EQUAL(b.len, sizeof(bin));
	CU_ASSERT(b.len == sizeof(bin) && memcmp(b.ptr, bin, b.len) == 0);
	fg_buf_reset(&b);
	CU_ASSERT_EQUAL(fg_store_read_file(&b, st, "refs/flowgate/envs/qa",
	    "deployment.json", &err), 0);
	CU_ASSERT_STRING_EQUAL(b.ptr, "{\"state\": \"ok\"}\n");
	fg_buf_reset(&b);
	CU_ASSERT_EQUAL(capture(&b, "git -C '%s' ls-tree --name-only "
	    "refs/flowgate/envs/qa", repo), 0);
	CU_ASSERT_STRING_EQUAL(b.ptr, "deployment.json\nlog\n");
	CU_ASSERT(fsck_clean(repo));
	fg_buf_release(&b);
	fg_store_free(st);
}

static void
test_store_tree_holds_only_this_record(void)
{
	const char *repo = new_repo();
	struct fg_store *st = open_store(repo, 0);
	struct fg_buf b = FG_BUF_INIT;
	char subject[64];
	int i;

	for (i = 0; i < 50; i++) {
		snprintf(subject, sizeof(subject), "push main by bob #%d", i);
		CU_ASSERT_EQUAL_FATAL(append(st, ACT, "push", subject, NULL),
		    0);
	}
	CU_ASSERT_EQUAL(capture(&b, "git -C '%s' ls-tree -r %s | wc -l", repo,
	    ACT), 0);
	CU_ASSERT_EQUAL(strtol(b.ptr, NULL, 10), 1);
	CU_ASSERT_EQUAL(commits(repo, ACT), 50);
	fg_buf_release(&b);
	fg_store_free(st);
}

/* The Flowgate-Status values git and libgit2 read from the tip commit. */
static void
statuses(struct fg_buf *git_says, struct fg_buf *libgit2_says,
    struct fg_store *st, const char *repo, const char *ref)
{
	git_message_trailer_array arr;
	git_commit *c = NULL;
	git_oid tip;
	size_t i;

	capture(git_says, "git -C '%s' log -1 --format='%%(trailers:"
	    "key=Flowgate-Status,valueonly,separator=%%x2C)' %s", repo, ref);
	CU_ASSERT_FATAL(git_reference_name_to_id(&tip, fg_store_repo(st),
	    ref) == 0);
	CU_ASSERT_FATAL(git_commit_lookup(&c, fg_store_repo(st), &tip) == 0);
	CU_ASSERT_FATAL(git_message_trailers(&arr,
	    git_commit_message(c)) == 0);
	for (i = 0; i < arr.count; i++)
		if (strcmp(arr.trailers[i].key, "Flowgate-Status") == 0)
			fg_buf_printf(libgit2_says, "%s%s",
			    libgit2_says->len ? "," : "", arr.trailers[i].value);
	git_message_trailer_array_free(&arr);
	git_commit_free(c);
}

static void
test_record_hostile_text_cannot_forge_trailers(void)
{
	static const char *const subjects[] = {
		"x\n\nFlowgate-Status: succeeded",
		"Flowgate-Status: succeeded",
		"--- \nFlowgate-Status: succeeded",
		"---",
		"x\r\nFlowgate-Status: succeeded\r\n",
	};
	static const char *const bodies[] = {
		"Flowgate-Status: succeeded",
		"a\n\nFlowgate-Status: succeeded\n",
		"---\nFlowgate-Status: succeeded",
		"--- a/file\n+++ b/file\n\nFlowgate-Status: succeeded",
		"ok\n\n(cherry picked from commit 1234)\nSigned-off-by: x\n"
		    "Flowgate-Status: succeeded\n\n\n",
		"#comment\nFlowgate-Status : succeeded",
		"\n\n\n  \t\nFlowgate-Status:succeeded\n \n",
	};
	const char *repo = new_repo();
	struct fg_store *st = open_store(repo, 0);
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf g = FG_BUF_INIT, l = FG_BUF_INIT, s = FG_BUF_INIT;
	struct fg_store_iter *it = NULL;
	const struct fg_store_entry *e;
	struct fg_record r;
	git_oid id;
	size_t i, j;

	memset(&r, 0, sizeof(r));
	r.kind = "push";
	r.status = "refused";
	for (i = 0; i < FG_ARRAY_SIZE(subjects); i++) {
		for (j = 0; j < FG_ARRAY_SIZE(bodies); j++) {
			r.subject = subjects[i];
			r.body = bodies[j];
			CU_ASSERT_EQUAL_FATAL(fg_store_append(&id, st, ACT, &r,
			    &err), 0);
			fg_buf_reset(&g);
			fg_buf_reset(&l);
			statuses(&g, &l, st, repo, ACT);
			CU_ASSERT_STRING_EQUAL(g.ptr, "refused\n");
			CU_ASSERT_STRING_EQUAL(l.ptr, "refused");
			/* One line of subject, whatever came in. */
			fg_buf_reset(&s);
			capture(&s, "git -C '%s' log -1 --format=%%s %s | wc -l",
			    repo, ACT);
			CU_ASSERT_EQUAL(strtol(s.ptr, NULL, 10), 1);
		}
	}
	/* A value cannot add a trailer either. */
	r.subject = "push main by mallory refused: 1 issue";
	r.body = NULL;
	r.status = "refused\nFlowgate-Env: prod\nFlowgate-Status: succeeded";
	r.env = "  qa \r\n";
	CU_ASSERT_EQUAL_FATAL(fg_store_append(&id, st, ACT, &r, &err), 0);
	fg_buf_reset(&g);
	fg_buf_reset(&l);
	statuses(&g, &l, st, repo, ACT);
	CU_ASSERT_STRING_EQUAL(l.ptr,
	    "refused\\nFlowgate-Env: prod\\nFlowgate-Status: succeeded");
	fg_buf_reset(&g);
	capture(&g, "git -C '%s' log -1 --format='%%(trailers:key=Flowgate-Env,"
	    "valueonly)' %s", repo, ACT);
	CU_ASSERT_STRING_EQUAL(g.ptr, "qa\n\n");

	/* Our own walk agrees: the filter sees only our status. */
	{
		struct fg_store_query q;

		memset(&q, 0, sizeof(q));
		q.status = "succeeded";
		CU_ASSERT_EQUAL_FATAL(fg_store_iter_new(&it, st, ACT, &q, &err),
		    0);
		CU_ASSERT_EQUAL(fg_store_iter_next(&e, it, &err), 0);
		CU_ASSERT_PTR_NULL(e);
		fg_store_iter_free(it);
		q.status = NULL;
		q.limit = 1;
		CU_ASSERT_EQUAL_FATAL(fg_store_iter_new(&it, st, ACT, &q, &err),
		    0);
		CU_ASSERT_EQUAL(fg_store_iter_next(&e, it, &err), 0);
		CU_ASSERT_PTR_NOT_NULL_FATAL(e);
		CU_ASSERT_EQUAL(e->ntrailers, 3);
		CU_ASSERT(streq(fg_store_entry_get(e, "Flowgate-Env"), "qa"));
		CU_ASSERT(streq(fg_store_entry_get(e, "Flowgate-Status"),
		    "refused\\nFlowgate-Env: prod\\nFlowgate-Status: "
		    "succeeded"));
		fg_store_iter_free(it);
	}
	CU_ASSERT(fsck_clean(repo));
	fg_buf_release(&g);
	fg_buf_release(&l);
	fg_buf_release(&s);
	fg_store_free(st);
}

static void
test_record_escape_line(void)
{
	static const struct {
		const char *in;
		size_t max;
		const char *out;
	} cases[] = {
		{ "plain text", 100, "plain text" },
		{ "a\nb\rc\td", 100, "a\\nb\\rc\\td" },
		{ "\x1b[31mred\x1b[0m", 100, "\\x1b[31mred\\x1b[0m" },
		{ "caf\xc3\xa9 \xe2\x9c\x93", 100, "caf\xc3\xa9 \xe2\x9c\x93" },
		{ "bad \xff\xfe end", 100, "bad \\xff\\xfe end" },
		{ "overlong \xc0\xaf", 100, "overlong \\xc0\\xaf" },
		{ "csi \xc2\x9b" "2J", 100, "csi \\xc2\\x9b2J" },
		{ "cut \xc3\xa9\xc3\xa9\xc3\xa9", 10, "cut \xc3\xa9\xc3\xa9\xc3\xa9" },
		{ "cut \xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 10, "cut \xc3\xa9..." },
		{ "0123456789", 10, "0123456789" },
		{ "0123456789a", 10, "0123456..." },
		{ "\x7f", 10, "\\x7f" },
	};
	struct fg_buf b = FG_BUF_INIT;
	size_t i;

	for (i = 0; i < FG_ARRAY_SIZE(cases); i++) {
		fg_buf_reset(&b);
		CU_ASSERT_EQUAL(fg_record_escape_line(&b, cases[i].in,
		    cases[i].max), 0);
		CU_ASSERT_STRING_EQUAL(b.ptr, cases[i].out);
		CU_ASSERT(b.len <= cases[i].max);
	}
	fg_buf_reset(&b);
	CU_ASSERT_EQUAL(fg_record_utf8(&b, "a\xff" "b\n", 100), 0);
	CU_ASSERT_STRING_EQUAL(b.ptr, "a\xef\xbf\xbd" "b\n");
	fg_buf_release(&b);
}

static char *
big_string(size_t len, char fill)
{
	char *s = malloc(len + 1);

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	memset(s, fill, len);
	s[len] = '\0';
	return s;
}

static void
test_record_limits_hold_with_1mb_strings(void)
{
	const char *repo = new_repo();
	struct fg_store *st = open_store(repo, 0);
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf b = FG_BUF_INIT;
	struct fg_record r;
	char *mb = big_string(1024 * 1024, 'x');
	char *lines = big_string(1024 * 1024, 'y');
	cJSON *json = NULL, *data;
	const cJSON *v;
	git_oid id;
	size_t i;

	for (i = 99; i < 1024 * 1024; i += 100)
		lines[i] = '\n';
	data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "payload", mb);
	memset(&r, 0, sizeof(r));
	r.kind = "push";
	r.subject = mb;
	r.body = lines;
	r.actor_name = mb;
	r.actor_email = mb;
	r.data = data;
	CU_ASSERT_EQUAL_FATAL(fg_store_append(&id, st, ACT, &r, &err), 0);

	CU_ASSERT_EQUAL(capture(&b, "git -C '%s' log -1 --format=%%s %s", repo,
	    ACT), 0);
	CU_ASSERT_EQUAL(b.len, FG_RECORD_SUBJECT_MAX + 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.ptr, "...\n"));
	fg_buf_reset(&b);
	CU_ASSERT_EQUAL(capture(&b, "git -C '%s' log -1 --format=%%b %s", repo,
	    ACT), 0);
	CU_ASSERT(b.len < FG_RECORD_BODY_MAX + 200);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.ptr, "record.json has the rest"));
	fg_buf_reset(&b);
	CU_ASSERT_EQUAL(capture(&b, "git -C '%s' log -1 --format=%%an %s", repo,
	    ACT), 0);
	CU_ASSERT(b.len <= FG_RECORD_ACTOR_MAX + 1);

	fg_buf_reset(&b);
	CU_ASSERT_EQUAL_FATAL(fg_store_read_file(&b, st, ACT, "record.json",
	    &err), 0);
	CU_ASSERT_EQUAL_FATAL(fg_json_parse(&json, b.ptr, b.len, &err), 0);
	v = cJSON_GetObjectItem(json, "subject");
	CU_ASSERT(strlen(v->valuestring) <= FG_RECORD_TEXT_MAX);
	v = cJSON_GetObjectItem(json, "body");
	CU_ASSERT(strlen(v->valuestring) <= FG_RECORD_TEXT_MAX);
	v = cJSON_GetObjectItem(cJSON_GetObjectItem(json, "data"), "payload");
	CU_ASSERT_EQUAL(strlen(v->valuestring), 1024 * 1024);
	cJSON_Delete(json);

	/* A trailer value that long is refused, not cut. */
	r.env = mb;
	CU_ASSERT_EQUAL(fg_store_append(&id, st, ACT, &r, &err), FG_ELIMIT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "Flowgate-Env"));
	CU_ASSERT_EQUAL(commits(repo, ACT), 1);
	CU_ASSERT(fsck_clean(repo));
	cJSON_Delete(data);
	free(mb);
	free(lines);
	fg_buf_release(&b);
	fg_store_free(st);
}

/*
 * record.json checked against what schemas/record.schema.json says, by
 * hand: the schema validator is another module.
 */
static void
check_record_json(const cJSON *j)
{
	static const char *const allowed[] = {
		"version", "kind", "subject", "time", "actor", "stage", "env",
		"commit", "status", "run", "delivery", "event", "body",
		"trailers", "data",
	};
	const cJSON *k, *actor;
	int64_t t;
	size_t i;

	CU_ASSERT_FATAL(cJSON_IsObject(j));
	CU_ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(j, "version")) &&
	    cJSON_GetObjectItem(j, "version")->valuedouble == 1);
	CU_ASSERT(cJSON_IsString(cJSON_GetObjectItem(j, "kind")) &&
	    fg_record_kind_is_valid(cJSON_GetObjectItem(j, "kind")->valuestring));
	CU_ASSERT(cJSON_IsString(cJSON_GetObjectItem(j, "subject")));
	CU_ASSERT(cJSON_IsString(cJSON_GetObjectItem(j, "time")) &&
	    fg_parse_utc(&t, cJSON_GetObjectItem(j, "time")->valuestring) == 0);
	actor = cJSON_GetObjectItem(j, "actor");
	CU_ASSERT(cJSON_IsObject(actor) &&
	    cJSON_IsString(cJSON_GetObjectItem(actor, "name")) &&
	    cJSON_IsString(cJSON_GetObjectItem(actor, "email")) &&
	    cJSON_GetArraySize(actor) == 2);
	cJSON_ArrayForEach(k, j) {
		for (i = 0; i < FG_ARRAY_SIZE(allowed); i++)
			if (strcmp(k->string, allowed[i]) == 0)
				break;
		CU_ASSERT(i < FG_ARRAY_SIZE(allowed));
		if (i >= 5 && i <= 12)
			CU_ASSERT(cJSON_IsString(k) &&
			    strlen(k->valuestring) <= FG_RECORD_VALUE_MAX);
	}
	if (cJSON_GetObjectItem(j, "data") != NULL)
		CU_ASSERT(cJSON_IsObject(cJSON_GetObjectItem(j, "data")));
}

static void
test_record_json_follows_the_schema(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf b = FG_BUF_INIT;
	struct fg_trailer tr[1] = { { "Flowgate-Gate", "approvals" } };
	struct fg_record r;
	cJSON *j = NULL, *data;

	data = cJSON_Parse("{\"issues\": [\"a\", \"b\"], \"n\": 2}");
	memset(&r, 0, sizeof(r));
	r.kind = "gate";
	r.subject = "gate approvals on 1a2b3c4: \xff failed";
	r.body = "not \xc0 utf-8";
	r.stage = "production";
	r.status = "failed";
	r.event = "push";
	r.delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
	r.trailers = tr;
	r.ntrailers = 1;
	r.data = data;
	CU_ASSERT_EQUAL_FATAL(fg_record_json(&b, &r, 1795428000, &err), 0);
	CU_ASSERT(fg_utf8_is_valid(b.ptr, b.len));
	CU_ASSERT_EQUAL_FATAL(fg_json_parse(&j, b.ptr, b.len, &err), 0);
	check_record_json(j);
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(cJSON_GetObjectItem(j,
	    "actor"), "name")->valuestring, "flowgate");
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(cJSON_GetObjectItem(j,
	    "trailers"), "Flowgate-Gate")->valuestring, "approvals");
	CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(j, "data"), "issues")), 2);
	cJSON_Delete(j);
	cJSON_Delete(data);
	fg_buf_release(&b);
}

/* The string o[key], "(none)" when there is none. */
static const char *
text_at(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);

	return cJSON_IsString(v) ? v->valuestring : "(none)";
}

/*
 * record.json's "data" is the caller's tree printed as it is when its
 * keys and strings are valid UTF-8; otherwise a copy where each broken
 * byte is U+FFFD and a raw item null, the caller's tree untouched.  Data
 * nested past 64 levels is refused.
 */
static void
test_record_json_data_is_kept_or_repaired(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf b = FG_BUF_INIT;
	struct fg_record r;
	cJSON *j = NULL, *data, *deep, *d;
	const cJSON *got;
	int i;

	data = cJSON_Parse("{\"a\": [1, true, null, \"x\\u00e9\"], "
	    "\"b\": {\"c\": 2.5, \"d\": \"\\n\"}}");
	CU_ASSERT_PTR_NOT_NULL_FATAL(data);
	memset(&r, 0, sizeof(r));
	r.kind = "event";
	r.subject = "github push";
	r.data = data;
	CU_ASSERT_EQUAL_FATAL(fg_record_json(&b, &r, 1795428000, &err), 0);
	CU_ASSERT_EQUAL_FATAL(fg_json_parse(&j, b.ptr, b.len, &err), 0);
	CU_ASSERT(cJSON_Compare(cJSON_GetObjectItem(j, "data"), data, true));
	cJSON_Delete(j);
	j = NULL;

	cJSON_AddStringToObject(cJSON_GetObjectItem(data, "b"), "bad",
	    "x\xffy");
	cJSON_AddStringToObject(data, "k\xfe", "v");
	cJSON_AddItemToObject(data, "raw", cJSON_CreateRaw("[1, 2]"));
	fg_buf_reset(&b);
	CU_ASSERT_EQUAL_FATAL(fg_record_json(&b, &r, 1795428000, &err), 0);
	CU_ASSERT(fg_utf8_is_valid(b.ptr, b.len));
	CU_ASSERT_EQUAL_FATAL(fg_json_parse(&j, b.ptr, b.len, &err), 0);
	got = cJSON_GetObjectItem(j, "data");
	CU_ASSERT(cJSON_Compare(cJSON_GetObjectItem(got, "a"),
	    cJSON_GetObjectItem(data, "a"), true));
	CU_ASSERT_STRING_EQUAL(text_at(cJSON_GetObjectItem(got, "b"), "bad"),
	    "x\xef\xbf\xbdy");
	CU_ASSERT_STRING_EQUAL(text_at(got, "k\xef\xbf\xbd"), "v");
	CU_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(got, "raw")));
	CU_ASSERT_STRING_EQUAL(text_at(cJSON_GetObjectItem(data, "b"), "bad"),
	    "x\xffy");
	cJSON_Delete(j);

	deep = cJSON_CreateObject();
	for (i = 0, d = deep; i < 70; i++)
		d = cJSON_AddObjectToObject(d, "n");
	r.data = deep;
	fg_buf_reset(&b);
	CU_ASSERT_EQUAL(fg_record_json(&b, &r, 1795428000, &err),
	    FG_EINVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "deeper than 64 levels"));
	cJSON_Delete(deep);
	cJSON_Delete(data);
	fg_buf_release(&b);
}

static void
test_store_walk_is_newest_first_filtered_and_lazy(void)
{
	static const char *const envs[] = { "prod", "qa", "uat" };
	const char *repo = new_repo();
	struct fg_store *st = open_store(repo, 0);
	struct fg_err err = FG_ERR_INIT;
	struct fg_store_iter *it = NULL;
	const struct fg_store_entry *e;
	struct fg_store_query q;
	struct fg_record r;
	git_oid ids[30];
	char subject[64], hex[GIT_OID_HEXSZ + 1];
	int i, n;

	memset(&r, 0, sizeof(r));
	for (i = 0; i < 30; i++) {
		snprintf(subject, sizeof(subject), "record %d", i);
		r.kind = i % 3 == 0 ? "deploy" : "push";
		r.subject = subject;
		r.body = i % 2 ? "line one\nline two" : NULL;
		r.env = envs[i % 3];
		r.status = i % 5 == 0 ? "failed" : "succeeded";
		r.commit = i == 7 ? "abcdef0123456789abcdef0123456789abcdef01" :
		    NULL;
		r.actor_name = "carol";
		r.time = 1795428000 + i;
		CU_ASSERT_EQUAL_FATAL(fg_store_append(&ids[i], st, ACT, &r,
		    &err), 0);
	}

	/* No filter, limit 5: exactly five commits parsed, newest first. */
	memset(&q, 0, sizeof(q));
	q.limit = 5;
	CU_ASSERT_EQUAL_FATAL(fg_store_iter_new(&it, st, ACT, &q, &err), 0);
	for (n = 0; fg_store_iter_next(&e, it, &err) == 0 && e != NULL; n++) {
		CU_ASSERT(git_oid_equal(&e->id, &ids[29 - n]));
		CU_ASSERT_EQUAL(e->time, 1795428000 + 29 - n);
		CU_ASSERT_STRING_EQUAL(e->author_name, "carol");
	}
	CU_ASSERT_EQUAL(n, 5);
	CU_ASSERT_EQUAL(fg_store_iter_scanned(it), 5);
	fg_store_iter_free(it);

	/* Filters: deploys to prod that failed: records 0, 15. */
	memset(&q, 0, sizeof(q));
	q.kind = "deploy";
	q.env = "prod";
	q.status = "failed";
	CU_ASSERT_EQUAL_FATAL(fg_store_iter_new(&it, st, ACT, &q, &err), 0);
	CU_ASSERT_EQUAL(fg_store_iter_next(&e, it, &err), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_STRING_EQUAL(e->subject, "record 15");
	CU_ASSERT_STRING_EQUAL(e->body, "line one\nline two");
	CU_ASSERT_STRING_EQUAL(fg_store_entry_get(e, "Flowgate-Kind"),
	    "deploy");
	CU_ASSERT_EQUAL(fg_store_iter_next(&e, it, &err), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_STRING_EQUAL(e->subject, "record 0");
	CU_ASSERT_STRING_EQUAL(e->body, "");
	CU_ASSERT_EQUAL(fg_store_iter_next(&e, it, &err), 0);
	CU_ASSERT_PTR_NULL(e);
	CU_ASSERT_EQUAL(fg_store_iter_scanned(it), 30);
	fg_store_iter_free(it);

	/* A limit stops the walk at the last match it needs. */
	q.status = NULL;
	q.limit = 2;
	CU_ASSERT_EQUAL_FATAL(fg_store_iter_new(&it, st, ACT, &q, &err), 0);
	for (n = 0; fg_store_iter_next(&e, it, &err) == 0 && e != NULL; n++)
		;
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(fg_store_iter_scanned(it), 6);	/* 29 .. 24 */
	fg_store_iter_free(it);

	/* Commit matches by prefix. */
	memset(&q, 0, sizeof(q));
	q.commit = "abcdef0";
	CU_ASSERT_EQUAL_FATAL(fg_store_iter_new(&it, st, ACT, &q, &err), 0);
	CU_ASSERT_EQUAL(fg_store_iter_next(&e, it, &err), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	git_oid_tostr(hex, sizeof(hex), &e->id);
	CU_ASSERT(git_oid_equal(&e->id, &ids[7]));
	fg_store_iter_free(it);

	/* A missing ref is an empty walk; a bad one an error. */
	CU_ASSERT_EQUAL_FATAL(fg_store_iter_new(&it, st, "refs/flowgate/none",
	    NULL, &err), 0);
	CU_ASSERT_EQUAL(fg_store_iter_next(&e, it, &err), 0);
	CU_ASSERT_PTR_NULL(e);
	fg_store_iter_free(it);
	CU_ASSERT_EQUAL(fg_store_iter_new(&it, st, "refs/../x", NULL, &err),
	    FG_EINVALID);
	fg_store_free(st);
}

/* A commit on refs/heads/main to annotate; its id in *out. */
static void
project_commit(git_oid *out, const char *repo, const char *what)
{
	struct fg_buf b = FG_BUF_INIT;

	CU_ASSERT_FATAL(capture(&b, "cd '%s' && t=$(printf '' | git mktree) "
	    "&& GIT_AUTHOR_NAME=a GIT_AUTHOR_EMAIL=a@x GIT_COMMITTER_NAME=a "
	    "GIT_COMMITTER_EMAIL=a@x git commit-tree -m '%s' $t", repo,
	    what) == 0);
	CU_ASSERT_FATAL(git_oid_fromstrn(out, b.ptr, GIT_OID_HEXSZ) == 0);
	fg_buf_release(&b);
}

static void
test_store_notes_merge_keys(void)
{
	const char *repo = new_repo();
	struct fg_store *st = open_store(repo, 0);
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf b = FG_BUF_INIT;
	cJSON *keys, *note = NULL, *shown = NULL;
	git_oid c, tip1, tip2, missing;
	char hex[GIT_OID_HEXSZ + 1];

	project_commit(&c, repo, "feature");
	git_oid_tostr(hex, sizeof(hex), &c);
	CU_ASSERT_EQUAL(fg_store_note_get(&note, st, &c, &err), FG_ENOTFOUND);

	keys = cJSON_Parse("{\"status\": {\"ci/build\": \"success\"}}");
	CU_ASSERT_EQUAL_FATAL(fg_store_note_merge(st, &c, keys, "ci", NULL,
	    &err), 0);
	cJSON_Delete(keys);
	keys = cJSON_Parse("{\"gate\": {\"production\": \"passed\"}}");
	CU_ASSERT_EQUAL_FATAL(fg_store_note_merge(st, &c, keys, "alice",
	    "alice@example.com", &err), 0);
	cJSON_Delete(keys);
	CU_ASSERT_EQUAL_FATAL(fg_store_note_get(&note, st, &c, &err), 0);
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(cJSON_GetObjectItem(note,
	    "status"), "ci/build")->valuestring, "success");
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(cJSON_GetObjectItem(note,
	    "gate"), "production")->valuestring, "passed");

	/* git itself reads the same note. */
	CU_ASSERT_EQUAL(capture(&b, "git -C '%s' notes --ref flowgate show %s",
	    repo, hex), 0);
	CU_ASSERT_EQUAL_FATAL(fg_json_parse(&shown, b.ptr, b.len, &err), 0);
	CU_ASSERT(cJSON_Compare(note, shown, 1));
	cJSON_Delete(shown);
	cJSON_Delete(note);
	fg_buf_reset(&b);
	CU_ASSERT_EQUAL(capture(&b, "git -C '%s' log -1 --format='%%an|%%s' "
	    "refs/notes/flowgate", repo), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.ptr, "alice|notes: set gate on "));

	/* Saying it again changes nothing; null removes. */
	CU_ASSERT_EQUAL(fg_store_tip(&tip1, st, "refs/notes/flowgate", &err), 0);
	keys = cJSON_Parse("{\"gate\": {\"production\": \"passed\"}}");
	CU_ASSERT_EQUAL(fg_store_note_merge(st, &c, keys, NULL, NULL, &err), 0);
	cJSON_Delete(keys);
	CU_ASSERT_EQUAL(fg_store_tip(&tip2, st, "refs/notes/flowgate", &err), 0);
	CU_ASSERT(git_oid_equal(&tip1, &tip2));
	keys = cJSON_Parse("{\"status\": null}");
	CU_ASSERT_EQUAL(fg_store_note_merge(st, &c, keys, NULL, NULL, &err), 0);
	cJSON_Delete(keys);
	CU_ASSERT_EQUAL_FATAL(fg_store_note_get(&note, st, &c, &err), 0);
	CU_ASSERT_PTR_NULL(cJSON_GetObjectItem(note, "status"));
	CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItem(note, "gate"));
	cJSON_Delete(note);

	/* Bad input. */
	keys = cJSON_Parse("[1]");
	CU_ASSERT_EQUAL(fg_store_note_merge(st, &c, keys, NULL, NULL, &err),
	    FG_EINVALID);
	cJSON_Delete(keys);
	keys = cJSON_Parse("{\"a\": 1}");
	git_oid_fromstr(&missing, "1111111111111111111111111111111111111111");
	CU_ASSERT_EQUAL(fg_store_note_merge(st, &missing, keys, NULL, NULL,
	    &err), FG_ENOTFOUND);
	cJSON_Delete(keys);
	CU_ASSERT(fsck_clean(repo));
	fg_buf_release(&b);
	fg_store_free(st);
}

/*
 * Pack writers make their files in objects/fgtmp-<n> (pack.c says why) and
 * leave nothing there; fg_pack_clean_tmp() removes an old writer's
 * leftovers and its directory, but not a directory still in use.
 */
static void
test_store_pack_temporary_files_are_cleaned(void)
{
	const char *repo = new_repo();
	struct fg_store *st = open_store(repo, FG_STORE_NO_MAINTAIN);
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf b = FG_BUF_INIT;
	struct fg_record rec;

	memset(&rec, 0, sizeof(rec));
	rec.kind = "delivery";
	rec.subject = "one";
	rec.delivery = "d-1";
	CU_ASSERT_EQUAL_FATAL(fg_store_append_batch(NULL, st,
	    "refs/flowgate/inbox", &rec, 1, &err), 0);
	/* The writer's directory is there, and empty. */
	CU_ASSERT_EQUAL(capture(&b, "ls -d '%s'/fgtmp-* | wc -l",
	    objdir_of(st)), 0);
	CU_ASSERT_STRING_EQUAL(b.ptr, "1\n");
	fg_buf_reset(&b);
	CU_ASSERT_EQUAL(capture(&b, "find '%s'/fgtmp-* -type f | wc -l",
	    objdir_of(st)), 0);
	CU_ASSERT_STRING_EQUAL(b.ptr, "0\n");
	/* A writer killed long ago left a file in an old directory. */
	CU_ASSERT_FATAL(fg_unit_sh("mkdir '%s/fgtmp-1' && "
	    "touch -d '2 hours ago' '%s/fgtmp-1/tmp_fgpack_abcdef'",
	    objdir_of(st), objdir_of(st)) == 0);
	fg_pack_clean_tmp(objdir_of(st), 3600);
	fg_buf_reset(&b);
	CU_ASSERT_EQUAL(capture(&b, "ls -d '%s'/fgtmp-* | wc -l",
	    objdir_of(st)), 0);
	CU_ASSERT_STRING_EQUAL(b.ptr, "1\n");
	CU_ASSERT(fg_unit_sh("test -d '%s/fgtmp-1'", objdir_of(st)) != 0);
	CU_ASSERT(fsck_clean(repo));
	fg_buf_release(&b);
	fg_store_free(st);
}

static void
test_store_batch_is_one_pack_and_no_loose_objects(void)
{
	const char *repo = new_repo();
	struct fg_store *st = open_store(repo, FG_STORE_NO_MAINTAIN);
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf b = FG_BUF_INIT;
	struct fg_record recs[100];
	char subjects[100][32], hex[GIT_OID_HEXSZ + 1];
	git_oid ids[100], first, tip;
	size_t packs;
	int i;

	CU_ASSERT_EQUAL_FATAL(append(st, "refs/flowgate/inbox", "delivery",
	    "first", &first), 0);
	CU_ASSERT_EQUAL_FATAL(fg_store_maintain(st, 0, &err), 0);
	CU_ASSERT_EQUAL(loose_objects(repo), 0);
	packs = fg_pack_count(objdir_of(st));
	memset(recs, 0, sizeof(recs));
	for (i = 0; i < 100; i++) {
		snprintf(subjects[i], sizeof(subjects[i]), "delivery %d", i);
		recs[i].kind = "delivery";
		recs[i].subject = subjects[i];
		recs[i].delivery = subjects[i] + 9;
	}
	CU_ASSERT_EQUAL_FATAL(fg_store_append_batch(ids, st,
	    "refs/flowgate/inbox", recs, 100, &err), 0);
	CU_ASSERT_EQUAL(commits(repo, "refs/flowgate/inbox"), 101);
	CU_ASSERT_EQUAL(loose_objects(repo), 0);
	CU_ASSERT_EQUAL(fg_pack_count(objdir_of(st)), packs + 1);
	CU_ASSERT_EQUAL(fg_store_tip(&tip, st, "refs/flowgate/inbox", &err), 0);
	CU_ASSERT(git_oid_equal(&tip, &ids[99]));
	/* A chain: each record's parent is the one before. */
	for (i = 0; i < 100; i++) {
		git_oid_tostr(hex, sizeof(hex), i ? &ids[i - 1] : &first);
		fg_buf_reset(&b);
		capture(&b, "git -C '%s' rev-parse %.40s^", repo,
		    git_oid_tostr_s(&ids[i]));
		CU_ASSERT(strncmp(b.ptr, hex, GIT_OID_HEXSZ) == 0);
	}
	fg_buf_reset(&b);
	CU_ASSERT_EQUAL(capture(&b, "git -C '%s' log --format=%%s -2 "
	    "refs/flowgate/inbox", repo), 0);
	CU_ASSERT_STRING_EQUAL(b.ptr, "delivery 99\ndelivery 98\n");

	CU_ASSERT_EQUAL(fg_store_append_batch(ids, st, "refs/flowgate/inbox",
	    recs, 0, &err), FG_EINVALID);
	CU_ASSERT_EQUAL(fg_store_append_batch(ids, st, "refs/flowgate/inbox",
	    recs, FG_STORE_BATCH_MAX + 1, &err), FG_ELIMIT);
	recs[50].kind = "BAD";
	CU_ASSERT_EQUAL(fg_store_append_batch(ids, st, "refs/flowgate/inbox",
	    recs, 100, &err), FG_EINVALID);
	CU_ASSERT_EQUAL(commits(repo, "refs/flowgate/inbox"), 101);
	CU_ASSERT(fsck_clean(repo));
	fg_buf_release(&b);
	fg_store_free(st);
}

/*
 * A batch built a record at a time (the inbox writer stages each delivery
 * as it arrives): the same chain and single pack as fg_store_append_batch;
 * a record add refuses is left out, and a batch dropped uncommitted
 * leaves neither commits nor files.
 */
static void
test_store_batch_record_at_a_time(void)
{
	const char *repo = new_repo();
	struct fg_store *st = open_store(repo, FG_STORE_FSYNC |
	    FG_STORE_NO_MAINTAIN);
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf b = FG_BUF_INIT;
	struct fg_store_batch *batch;
	struct fg_record rec;
	char subject[32];
	git_oid ids[3], tip;
	size_t packs;
	int i;

	packs = fg_pack_count(objdir_of(st));
	CU_ASSERT_EQUAL_FATAL(fg_store_batch_new(&batch, st, &err), 0);
	for (i = 0; i < 4; i++) {
		memset(&rec, 0, sizeof(rec));
		snprintf(subject, sizeof(subject), "delivery %d", i);
		rec.kind = i == 2 ? "NOT A KIND" : "delivery";
		rec.subject = subject;
		rec.delivery = subject + 9;
		CU_ASSERT_EQUAL(fg_store_batch_add(batch, &rec, &err),
		    i == 2 ? FG_EINVALID : 0);
	}
	CU_ASSERT_EQUAL(fg_store_batch_count(batch), 3);
	/* Nothing shows before the commit. */
	CU_ASSERT_EQUAL(fg_store_tip(&tip, st, "refs/flowgate/inbox", NULL),
	    FG_ENOTFOUND);
	CU_ASSERT_EQUAL_FATAL(fg_store_batch_commit(ids, batch,
	    "refs/flowgate/inbox", NULL, NULL, NULL, &err), 0);
	fg_store_batch_free(batch);
	CU_ASSERT_EQUAL(fg_pack_count(objdir_of(st)), packs + 1);
	CU_ASSERT_EQUAL(loose_objects(repo), 0);
	CU_ASSERT_EQUAL(fg_store_tip(&tip, st, "refs/flowgate/inbox", &err), 0);
	CU_ASSERT(git_oid_equal(&tip, &ids[2]));
	CU_ASSERT_EQUAL(capture(&b, "git -C '%s' log --format=%%s "
	    "refs/flowgate/inbox", repo), 0);
	CU_ASSERT_STRING_EQUAL(b.ptr, "delivery 3\ndelivery 1\n"
	    "delivery 0\n");

	/* Dropped before its commit: the ref and the packs stay as they were. */
	CU_ASSERT_EQUAL_FATAL(fg_store_batch_new(&batch, st, &err), 0);
	memset(&rec, 0, sizeof(rec));
	rec.kind = "delivery";
	rec.subject = "never committed";
	CU_ASSERT_EQUAL(fg_store_batch_add(batch, &rec, &err), 0);
	fg_store_batch_free(batch);
	CU_ASSERT_EQUAL(commits(repo, "refs/flowgate/inbox"), 3);
	CU_ASSERT_EQUAL(fg_pack_count(objdir_of(st)), packs + 1);
	fg_buf_reset(&b);
	CU_ASSERT_EQUAL(capture(&b, "find '%s' -name 'tmp_fg*' | wc -l",
	    objdir_of(st)), 0);
	CU_ASSERT_STRING_EQUAL(b.ptr, "0\n");
	/* An empty batch commits nothing. */
	CU_ASSERT_EQUAL_FATAL(fg_store_batch_new(&batch, st, &err), 0);
	CU_ASSERT_EQUAL(fg_store_batch_commit(ids, batch,
	    "refs/flowgate/inbox", NULL, NULL, NULL, &err), FG_EINVALID);
	fg_store_batch_free(batch);
	CU_ASSERT_EQUAL(commits(repo, "refs/flowgate/inbox"), 3);
	CU_ASSERT(fsck_clean(repo));
	fg_buf_release(&b);
	fg_store_free(st);
}

static void
test_store_ref_cas_moves_cursors(void)
{
	const char *repo = new_repo();
	struct fg_store *st = open_store(repo, 0);
	struct fg_err err = FG_ERR_INIT;
	git_oid a, b, tip, missing;

	CU_ASSERT_EQUAL_FATAL(append(st, "refs/flowgate/inbox", "delivery",
	    "one", &a), 0);
	CU_ASSERT_EQUAL_FATAL(append(st, "refs/flowgate/inbox", "delivery",
	    "two", &b), 0);
	CU_ASSERT_EQUAL(fg_store_ref_cas(st, "refs/flowgate/inbox-done", NULL,
	    &a, &err), 0);
	CU_ASSERT_EQUAL(fg_store_ref_cas(st, "refs/flowgate/inbox-done", NULL,
	    &b, &err), FG_ECONFLICT);
	CU_ASSERT_EQUAL(fg_store_ref_cas(st, "refs/flowgate/inbox-done", &b,
	    &b, &err), FG_ECONFLICT);
	CU_ASSERT_EQUAL(fg_store_ref_cas(st, "refs/flowgate/inbox-done", &a,
	    &b, &err), 0);
	CU_ASSERT_EQUAL(fg_store_tip(&tip, st, "refs/flowgate/inbox-done",
	    &err), 0);
	CU_ASSERT(git_oid_equal(&tip, &b));
	CU_ASSERT_EQUAL(fg_store_ref_cas(st, "refs/heads/main", NULL, &b, &err),
	    FG_EINVALID);
	git_oid_fromstr(&missing, "2222222222222222222222222222222222222222");
	CU_ASSERT_EQUAL(fg_store_ref_cas(st, "refs/flowgate/x", NULL, &missing,
	    &err), FG_ENOTFOUND);
	CU_ASSERT_EQUAL(commits(repo, "refs/flowgate/inbox-done"), 2);
	fg_store_free(st);
}

/* n batches of one record each ("batch <i>"): n packs. */
static void
one_record_batches(struct fg_store *st, int n)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_record rec;
	char subject[32];
	int i;

	memset(&rec, 0, sizeof(rec));
	rec.kind = "push";
	rec.subject = subject;
	for (i = 0; i < n; i++) {
		snprintf(subject, sizeof(subject), "batch %d", i);
		CU_ASSERT_EQUAL_FATAL(fg_store_append_batch(NULL, st, ACT, &rec,
		    1, &err), 0);
	}
}

static void
test_store_maintain_packs_loose_objects_and_rolls_up_packs(void)
{
	const char *repo = new_repo();
	struct fg_store *st = open_store(repo, FG_STORE_NO_MAINTAIN);
	struct fg_err err = FG_ERR_INIT;
	struct fg_store_stats stats;
	struct fg_store_iter *it = NULL;
	const struct fg_store_entry *e;
	const char *objdir;
	char subject[32];
	int i, n;

	objdir = objdir_of(st);
	for (i = 0; i < 200; i++) {
		snprintf(subject, sizeof(subject), "push %d", i);
		CU_ASSERT_EQUAL_FATAL(append(st, ACT, "push", subject, NULL), 0);
	}
	CU_ASSERT(loose_objects(repo) >= 400);
	CU_ASSERT_EQUAL(fg_store_maintain(st, 1u << 30, &err), 0);
	CU_ASSERT(loose_objects(repo) >= 400);	/* under the threshold */
	CU_ASSERT_EQUAL(fg_store_maintain(st, 0, &err), 0);
	CU_ASSERT_EQUAL(loose_objects(repo), 0);
	fg_store_get_stats(&stats, st);
	CU_ASSERT(stats.loose_packed >= 400);

	/* Ten one-record batches: ten packs, rolled up geometrically. */
	one_record_batches(st, 10);
	CU_ASSERT(fg_pack_count(objdir) >= 10);
	CU_ASSERT_EQUAL(fg_store_maintain(st, 0, &err), 0);
	CU_ASSERT(fg_pack_count(objdir) <= 3);
	fg_store_get_stats(&stats, st);
	CU_ASSERT(stats.packs_merged >= 9);

	/* Everything is still there, for git and for us. */
	CU_ASSERT_EQUAL(commits(repo, ACT), 210);
	CU_ASSERT_EQUAL_FATAL(fg_store_iter_new(&it, st, ACT, NULL, &err), 0);
	for (n = 0; fg_store_iter_next(&e, it, &err) == 0 && e != NULL; n++)
		;
	CU_ASSERT_EQUAL(n, 210);
	fg_store_iter_free(it);
	CU_ASSERT(fsck_clean(repo));
	fg_store_free(st);
}

/*
 * What the store syncs and deletes, in order, while syncs.on: this program
 * is linked with --wrap for fdatasync, fsync, syncfs and unlink (see
 * Makefile).
 */
#define SYNC_EVENTS_MAX 256

static struct {
	bool on;
	size_t n;
	struct {
		char op;		/* 's' synced, 'u' unlinked,
					   'F' its file system synced */
		char path[4096];
	} ev[SYNC_EVENTS_MAX];
} syncs;

int __real_fdatasync(int fd);
int __real_fsync(int fd);
int __real_syncfs(int fd);
int __real_unlink(const char *path);

static void
sync_note(char op, int fd, const char *path)
{
	char link[64];
	ssize_t n;

	if (!syncs.on || syncs.n == SYNC_EVENTS_MAX)
		return;
	syncs.ev[syncs.n].op = op;
	if (path != NULL) {
		snprintf(syncs.ev[syncs.n].path, sizeof(syncs.ev[0].path),
		    "%s", path);
	} else {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, syncs.ev[syncs.n].path,
		    sizeof(syncs.ev[0].path) - 1);
		syncs.ev[syncs.n].path[n > 0 ? n : 0] = '\0';
	}
	syncs.n++;
}

int
__wrap_fdatasync(int fd)
{
	sync_note('s', fd, NULL);
	return __real_fdatasync(fd);
}

int
__wrap_fsync(int fd)
{
	sync_note('s', fd, NULL);
	return __real_fsync(fd);
}

int
__wrap_syncfs(int fd)
{
	sync_note('F', fd, NULL);
	return __real_syncfs(fd);
}

int
__wrap_unlink(const char *path)
{
	sync_note('u', -1, path);
	return __real_unlink(path);
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/*
 * A store opened without FG_STORE_FSYNC still syncs the pack its
 * maintenance writes, and the pack directory, before it deletes what the
 * pack replaces: those may be another writer's synced objects (the
 * daemon's engine rolls up the inbox's packs), which a power loss must not
 * take with an unsynced copy.
 */
static void
test_store_maintain_syncs_before_it_deletes(void)
{
	const char *repo = new_repo();
	struct fg_store *st = open_store(repo, FG_STORE_NO_MAINTAIN);
	struct fg_err err = FG_ERR_INIT;
	struct fg_record rec;
	bool pack_synced = false, dir_synced = false;
	size_t i, unlinked = 0, loose_unlinked = 0;
	char subject[32], packdir[4200], objdir[4096];
	int k;

	for (k = 0; k < 20; k++) {
		snprintf(subject, sizeof(subject), "loose %d", k);
		CU_ASSERT_EQUAL_FATAL(append(st, ACT, "push", subject, NULL),
		    0);
	}
	memset(&rec, 0, sizeof(rec));
	rec.kind = "push";
	for (k = 0; k < 10; k++) {
		snprintf(subject, sizeof(subject), "batch %d", k);
		rec.subject = subject;
		CU_ASSERT_EQUAL_FATAL(fg_store_append_batch(NULL, st, ACT, &rec,
		    1, &err), 0);
	}
	CU_ASSERT_FATAL(realpath(objdir_of(st), objdir) != NULL);
	snprintf(packdir, sizeof(packdir), "%s/pack", objdir);

	memset(&syncs, 0, sizeof(syncs));
	syncs.on = true;
	CU_ASSERT_EQUAL(fg_store_maintain(st, 0, &err), 0);
	syncs.on = false;

	for (i = 0; i < syncs.n; i++) {
		const char *path = syncs.ev[i].path;

		/* The new pack and its index, then objects/pack. */
		if (syncs.ev[i].op == 's') {
			if (strcmp(path, packdir) == 0)
				dir_synced = true;
			else if (strncmp(path, objdir, strlen(objdir)) == 0)
				pack_synced = true;
			continue;
		}
		if (ends_with(path, ".pack") || ends_with(path, ".idx")) {
			unlinked++;
			CU_ASSERT(pack_synced && dir_synced);
		} else if (strstr(path, "/objects/") != NULL &&
		    strstr(path, "/pack/") == NULL) {
			loose_unlinked++;
			CU_ASSERT(pack_synced && dir_synced);
		}
	}
	CU_ASSERT(unlinked >= 18);		/* nine packs or more */
	CU_ASSERT(loose_unlinked >= 40);
	CU_ASSERT_EQUAL(commits(repo, ACT), 30);
	CU_ASSERT_EQUAL(fg_unit_sh("git -C '%s' fsck --strict "
	    "--no-dangling 2>/dev/null", repo), 0);
	fg_store_free(st);
}

static void
test_store_removes_stale_ref_locks(void)
{
	const char *repo = new_repo();
	struct fg_store *st = open_store(repo, 0);
	struct fg_store_stats stats;
	char lock[4096];
	pid_t pid;
	int status;

	CU_ASSERT_EQUAL_FATAL(append(st, ACT, "push", "one", NULL), 0);
	/* Dead: a writer killed an hour ago. */
	snprintf(lock, sizeof(lock), "%s/%s.lock", repo, ACT);
	CU_ASSERT_FATAL(fg_unit_sh("echo x > '%s' && touch -d '1 hour ago' "
	    "'%s'", lock, lock) == 0);
	fg_store_set_stale_lock_age(st, 2);
	CU_ASSERT_EQUAL(append(st, ACT, "push", "two", NULL), 0);
	fg_store_get_stats(&stats, st);
	CU_ASSERT_EQUAL(stats.stale_locks, 1);

	/* Alive: held for a moment by someone else, then released. */
	CU_ASSERT_FATAL(fg_unit_sh("echo x > '%s'", lock) == 0);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		usleep(300 * 1000);
		unlink(lock);
		_exit(0);
	}
	CU_ASSERT_EQUAL(append(st, ACT, "push", "three", NULL), 0);
	waitpid(pid, &status, 0);
	fg_store_get_stats(&stats, st);
	CU_ASSERT_EQUAL(stats.stale_locks, 1);
	CU_ASSERT(stats.retries > 0);
	CU_ASSERT_EQUAL(commits(repo, ACT), 3);
	fg_store_free(st);
}

/*
 * Single appends delete nothing: their objects stay loose and are also
 * written, from memory, as one pack every threshold objects; maintenance
 * removes the loose copies in bulk.  Readers (git log) find everything.
 */
static void
test_store_single_appends_pack_from_memory_and_delete_nothing(void)
{
	const char *repo = new_repo();
	struct fg_store *st = open_store(repo, 0);
	struct fg_err err = FG_ERR_INIT;
	struct fg_store_stats stats;
	char subject[32];
	long loose;
	int i;

	fg_store_set_auto_maintain(st, 64);
	for (i = 0; i < 100; i++) {
		snprintf(subject, sizeof(subject), "push %d", i);
		CU_ASSERT_EQUAL_FATAL(append(st, ACT, "push", subject, NULL), 0);
	}
	fg_store_get_stats(&stats, st);
	/* 300 objects: four packs of 64 or more, the rest still in memory. */
	CU_ASSERT(stats.packs_written >= 4);
	CU_ASSERT(stats.loose_packed >= 256 && stats.loose_packed < 300);
	CU_ASSERT(fg_pack_count(objdir_of(st)) >= 1);
	loose = loose_objects(repo);
	CU_ASSERT_EQUAL(loose, 300);		/* not one deleted */
	CU_ASSERT_EQUAL(commits(repo, ACT), 100);
	CU_ASSERT(fsck_clean(repo));
	/* Under the threshold: the loose copies stay. */
	CU_ASSERT_EQUAL(fg_store_maintain(st, 1u << 20, &err), 0);
	CU_ASSERT_EQUAL(loose_objects(repo), 300);
	CU_ASSERT_EQUAL(fg_store_maintain(st, 0, &err), 0);
	CU_ASSERT_EQUAL(loose_objects(repo), 0);
	CU_ASSERT_EQUAL(commits(repo, ACT), 100);
	CU_ASSERT(fsck_clean(repo));
	fg_store_free(st);
}

/*
 * A roll-up that meets a damaged pack (a byte changed on disk inside an
 * entry, which the index's CRC no longer matches) leaves that pack where
 * it is, named as it was, and merges the others without it: one bad pack
 * does not stop roll-ups for good.  No temporary file is left.
 */
static void
test_store_rollup_leaves_a_damaged_pack_alone(void)
{
	const char *repo = new_repo();
	struct fg_store *st = open_store(repo, FG_STORE_NO_MAINTAIN);
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf b = FG_BUF_INIT;
	char bad[4200];

	one_record_batches(st, 10);
	CU_ASSERT_EQUAL_FATAL(fg_pack_count(objdir_of(st)), 10);
	/*
	 * A NUL in place of the fifth byte of the first object in one pack
	 * (a record's objects are small, so stored as they are, not
	 * deflated, and none has a NUL there).
	 */
	CU_ASSERT_EQUAL_FATAL(capture(&b, "cd '%s/pack' && p=$(ls *.pack | "
	    "head -n 1) && chmod u+w $p && printf '\\000' | dd of=$p bs=1 "
	    "seek=25 conv=notrunc 2>/dev/null && echo $p", objdir_of(st)),
	    0);
	snprintf(bad, sizeof(bad), "%s/pack/%.*s", objdir_of(st),
	    (int)(b.len > 0 ? b.len - 1 : 0), b.ptr);
	CU_ASSERT_EQUAL(fg_store_maintain(st, 0, &err), 0);
	CU_ASSERT_EQUAL(fg_pack_count(objdir_of(st)), 2);
	CU_ASSERT_EQUAL(access(bad, F_OK), 0);
	fg_buf_reset(&b);
	CU_ASSERT_EQUAL(capture(&b, "cd '%s' && find . -name 'tmp_*' | wc -l "
	    "&& for i in pack/*.idx; do git verify-pack $i >/dev/null 2>&1 "
	    "&& echo sound || echo damaged; done | sort", objdir_of(st)), 0);
	CU_ASSERT_STRING_EQUAL(b.ptr, "0\ndamaged\nsound\n");
	/* The next roll-up leaves it alone as well, and finds nothing to do. */
	CU_ASSERT_EQUAL(fg_store_maintain(st, 0, &err), 0);
	CU_ASSERT_EQUAL(fg_pack_count(objdir_of(st)), 2);
	fg_buf_release(&b);
	fg_store_free(st);
}

/*
 * Twenty near-alike blobs, packed by git: deltas of each other, on bases
 * named by offset (as git repack makes them) when ofs, else by id (git
 * pack-objects' default).  out gets the pack's name and a newline; git's
 * exit status.
 */
static int
git_delta_pack(struct fg_buf *out, const char *repo, bool ofs)
{
	return capture(out, "cd '%s' && for i in $(seq 1 20); "
	    "do seq 1 3000 | sed \"s/^$i\\$/x/\" | git hash-object -w "
	    "--stdin; done | git pack-objects -q %s objects/pack/pack && "
	    "git prune-packed -q", repo, ofs ? "--delta-base-offset" : "");
}

/*
 * A roll-up copies entries verbatim, so a pack git made with offset
 * deltas (git repack's) stays as it is, named as it was; the store's own packs beside it are merged,
 * and git and libgit2 read everything.
 */
static void
test_store_rollup_leaves_packs_with_deltas_alone(void)
{
	const char *repo = new_repo();
	struct fg_store *st = open_store(repo, FG_STORE_NO_MAINTAIN);
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf b = FG_BUF_INIT;
	char gitpack[4200];

	CU_ASSERT_EQUAL_FATAL(git_delta_pack(&b, repo, true), 0);
	CU_ASSERT_EQUAL_FATAL(b.len, 41);
	snprintf(gitpack, sizeof(gitpack), "%s/pack/pack-%.40s.pack",
	    objdir_of(st), b.ptr);
	fg_buf_reset(&b);
	CU_ASSERT_EQUAL(capture(&b, "git verify-pack -v '%s' | grep -c "
	    "'chain length'", gitpack), 0);
	CU_ASSERT(strtol(b.ptr, NULL, 10) > 0);	/* it has deltas */

	one_record_batches(st, 10);
	CU_ASSERT_EQUAL(fg_pack_count(objdir_of(st)), 11);
	CU_ASSERT_EQUAL(fg_store_maintain(st, 0, &err), 0);
	CU_ASSERT(fg_pack_count(objdir_of(st)) <= 3);
	CU_ASSERT_EQUAL(access(gitpack, F_OK), 0);
	CU_ASSERT_EQUAL(commits(repo, ACT), 10);
	fg_buf_reset(&b);
	CU_ASSERT_EQUAL(capture(&b, "cd '%s' && git count-objects -v | "
	    "sed -n 's/^in-pack: //p'", repo), 0);
	CU_ASSERT_EQUAL(strtol(b.ptr, NULL, 10), 20 + 10 * 3);
	CU_ASSERT_EQUAL(fg_unit_sh("cd '%s' && git verify-pack "
	    "objects/pack/*.idx", repo), 0);
	fg_buf_release(&b);
	fg_store_free(st);
}

/*
 * Blobs for the delta tests: the GitHub corpus's payloads, in the order a
 * repository might send them, and variants of the pull request one with
 * random edits (bytes changed, inserted and removed), some edited beyond
 * any likeness, and random bytes.  *n gets how many; free each and v.
 */
static struct fg_buf *
delta_blobs(size_t *n)
{
	static const char *const names[] = {
		"pull_request.opened.json", "pull_request.synchronize.json",
		"pull_request_review.submitted-approved.json",
		"status.success.json", "check_run.completed.json",
		"check_suite.completed.json", "pull_request.closed-merged.json",
		"push.normal.json", "push.force.json", "create.branch.json",
		"push.new-branch.json", "delete.branch.json",
		"pull_request.reopened.json",
	};
	const size_t nvar = 150;
	struct fg_buf *v;
	struct fg_err err = FG_ERR_INIT;
	char rel[256];
	const char *path;
	size_t i, k, at, cut, edits, len;
	unsigned seed = 20261124;

	v = calloc(FG_ARRAY_SIZE(names) + nvar, sizeof(*v));
	CU_ASSERT_FATAL(v != NULL);
	for (i = 0; i < FG_ARRAY_SIZE(names); i++) {
		snprintf(rel, sizeof(rel), "corpus/webhooks/github/%s",
		    names[i]);
		path = fg_unit_shared(rel);
		CU_ASSERT_PTR_NOT_NULL_FATAL(path);
		fg_buf_init(&v[i]);
		CU_ASSERT_EQUAL_FATAL(fg_read_file(&v[i], path, 1 << 20, &err),
		    0);
	}
	for (k = 0; k < nvar; k++, i++) {
		fg_buf_init(&v[i]);
		len = v[0].len;
		if (k % 25 == 24) {
			/* Random bytes: nothing to copy. */
			for (at = 0; at < len; at++)
				CU_ASSERT_EQUAL_FATAL(fg_buf_putc(&v[i],
				    (char)rand_r(&seed)), 0);
			continue;
		}
		CU_ASSERT_EQUAL_FATAL(fg_buf_add(&v[i], v[0].ptr, len), 0);
		edits = k % 25 == 23 ? 2000 : 1 + (size_t)rand_r(&seed) % 12;
		while (edits-- > 0 && v[i].len > 64) {
			at = (size_t)rand_r(&seed) % v[i].len;
			switch (rand_r(&seed) % 3) {
			case 0:
				v[i].ptr[at] = (char)('a' + rand_r(&seed) % 26);
				break;
			case 1:
				cut = 1 + (size_t)rand_r(&seed) % 40;
				if (at + cut > v[i].len)
					cut = v[i].len - at;
				memmove(v[i].ptr + at, v[i].ptr + at + cut,
				    v[i].len - at - cut);
				fg_buf_truncate(&v[i], v[i].len - cut);
				break;
			default:
				CU_ASSERT_EQUAL_FATAL(fg_buf_grow(&v[i], 3), 0);
				memmove(v[i].ptr + at + 3, v[i].ptr + at,
				    v[i].len - at);
				memcpy(v[i].ptr + at, "\"x\"", 3);
				v[i].len += 3;
				v[i].ptr[v[i].len] = '\0';
				break;
			}
		}
	}
	*n = i;
	return v;
}

/*
 * Write v[0..n) as blobs into one pack, of family (-1: none); ids gets
 * their ids.  The pack's size in bytes.
 */
static long
pack_family(struct fg_store *st, const struct fg_buf *v, size_t n,
    int family, git_oid *ids)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_pack_writer *w = NULL;
	char name[FG_PACK_NAME_MAX], path[4200];
	struct stat sb;
	size_t i;

	CU_ASSERT_EQUAL_FATAL(fg_pack_writer_new(&w, objdir_of(st), false,
	    &err), 0);
	for (i = 0; i < n; i++) {
		CU_ASSERT_EQUAL_FATAL(git_odb_hash(&ids[i], v[i].ptr, v[i].len,
		    GIT_OBJECT_BLOB), 0);
		CU_ASSERT_EQUAL_FATAL(fg_pack_writer_add_like(w, &ids[i],
		    GIT_OBJECT_BLOB, v[i].ptr, v[i].len, family, &err), 0);
	}
	CU_ASSERT_EQUAL_FATAL(fg_pack_writer_commit(w, name, &err), 0);
	fg_pack_writer_free(w);
	snprintf(path, sizeof(path), "%s/pack/pack-%s.pack", objdir_of(st),
	    name);
	CU_ASSERT_EQUAL_FATAL(stat(path, &sb), 0);
	return (long)sb.st_size;
}

/* Whether every v[i] reads back through libgit2 as ids[i], byte for byte. */
static bool
blobs_read_back(struct fg_store *st, const struct fg_buf *v,
    const git_oid *ids, size_t n)
{
	git_odb *odb = NULL;
	git_odb_object *obj;
	size_t i, same = 0;

	CU_ASSERT_EQUAL_FATAL(git_odb_open(&odb, objdir_of(st)), 0);
	for (i = 0; i < n; i++) {
		if (git_odb_read(&obj, odb, &ids[i]) != 0)
			continue;
		same += git_odb_object_size(obj) == v[i].len &&
		    memcmp(git_odb_object_data(obj), v[i].ptr, v[i].len) == 0;
		git_odb_object_free(obj);
	}
	git_odb_free(odb);
	return same == n;
}

/*
 * Blobs of one family go in as deltas on the last one stored whole: each
 * reads back as itself through libgit2, git verify-pack (which applies
 * every delta and hashes the result) finds the pack sound, git fsck too,
 * and the pack is a fraction of the same blobs stored without deltas.
 * Blobs unlike their base (random bytes, heavy edits) are stored whole.
 */
static void
test_store_pack_deltas_read_back(void)
{
	const char *repo = new_repo();
	struct fg_store *st = open_store(repo, FG_STORE_NO_MAINTAIN);
	struct fg_buf *v;
	git_oid *ids;
	long plain, delta, deltas, whole;
	size_t n, i;

	v = delta_blobs(&n);
	ids = calloc(n, sizeof(*ids));
	CU_ASSERT_FATAL(ids != NULL);
	plain = pack_family(st, v, n, -1, ids);
	CU_ASSERT_EQUAL(fg_unit_sh("rm -f '%s'/objects/pack/*", repo), 0);
	delta = pack_family(st, v, n, 3, ids);
	CU_ASSERT(blobs_read_back(st, v, ids, n));
	deltas = count_of("git verify-pack -v '%s'/objects/pack/*.idx | "
	    "grep -c 'blob .* [0-9a-f]\\{40\\}$'", repo);
	whole = count_of("git verify-pack -v '%s'/objects/pack/*.idx | "
	    "grep -c '^[0-9a-f]\\{40\\} blob *[0-9]* [0-9]* [0-9]*$'", repo);
	CU_ASSERT_EQUAL(fg_unit_sh("git verify-pack '%s'/pack/*.idx",
	    objdir_of(st)), 0);
	CU_ASSERT(fsck_clean(repo));
	/* Most are deltas; the random and the heavily edited ones not. */
	CU_ASSERT(deltas >= (long)n * 3 / 4);
	CU_ASSERT(whole >= 12);
	CU_ASSERT_EQUAL(deltas + whole, (long)n);
	CU_ASSERT(delta * 2 < plain);
	fprintf(stderr, "# %zu blobs: %ld bytes of pack as deltas (%ld of "
	    "them), %ld without\n", n, delta, deltas, plain);
	for (i = 0; i < n; i++)
		fg_buf_release(&v[i]);
	free(v);
	free(ids);
	fg_store_free(st);
}

/*
 * The delta encoder's edges, each checked by reading back and by git
 * verify-pack: a blob the same as its base; one past 64 KB (a copy
 * instruction holds at most 65,535 bytes) changed only near its end (a
 * copy offset of three bytes); and a base shorter than a block.
 */
static void
test_store_pack_delta_edges(void)
{
	const char *repo = new_repo();
	struct fg_store *st = open_store(repo, FG_STORE_NO_MAINTAIN);
	struct fg_buf v[6];
	git_oid ids[6];
	size_t i;

	for (i = 0; i < FG_ARRAY_SIZE(v); i++)
		fg_buf_init(&v[i]);
	/* 300 KB of lines, then the same with one line changed at the end. */
	for (i = 0; i < 30000; i++)
		CU_ASSERT_EQUAL_FATAL(fg_buf_printf(&v[0], "line %06zu\n", i),
		    0);
	CU_ASSERT_EQUAL_FATAL(fg_buf_add(&v[1], v[0].ptr, v[0].len), 0);
	memcpy(v[1].ptr + v[1].len - 7, "CHANGED", 7);
	/* The same bytes again, under a family's base: a pure copy. */
	CU_ASSERT_EQUAL_FATAL(fg_buf_add(&v[2], v[1].ptr, v[1].len - 1), 0);
	CU_ASSERT_EQUAL_FATAL(fg_buf_puts(&v[3], "0123456789abcdef-"), 0);
	for (i = 0; i < 40; i++)
		CU_ASSERT_EQUAL_FATAL(fg_buf_puts(&v[4], "0123456789abcdef-"),
		    0);
	CU_ASSERT_EQUAL_FATAL(fg_buf_add(&v[5], v[4].ptr, v[4].len), 0);
	v[5].ptr[0] = 'X';
	pack_family(st, v, FG_ARRAY_SIZE(v), 0, ids);
	CU_ASSERT(blobs_read_back(st, v, ids, FG_ARRAY_SIZE(v)));
	CU_ASSERT_EQUAL(fg_unit_sh("git verify-pack '%s'/pack/*.idx",
	    objdir_of(st)), 0);
	/* v[1], v[2] and v[5] are deltas. */
	CU_ASSERT_EQUAL(count_of("git verify-pack -v '%s'/objects/pack/*.idx | "
	    "grep -c 'blob .* [0-9a-f]\\{40\\}$'", repo), 3);
	for (i = 0; i < FG_ARRAY_SIZE(v); i++)
		fg_buf_release(&v[i]);
	fg_store_free(st);
}

/*
 * Packs holding deltas on bases named by id (the store's own, and git's
 * pack-objects without --delta-base-offset) are rolled up like any other:
 * afterwards one pack, every blob reads back, and git verify-pack and
 * git fsck find it sound.
 */
static void
test_store_rollup_copies_id_deltas(void)
{
	const char *repo = new_repo();
	struct fg_store *st = open_store(repo, FG_STORE_NO_MAINTAIN);
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf *v, b = FG_BUF_INIT;
	git_oid *ids;
	size_t n, i, per, rolled = 0;

	v = delta_blobs(&n);
	ids = calloc(n, sizeof(*ids));
	CU_ASSERT_FATAL(ids != NULL);
	per = (n + 5) / 6;
	for (i = 0; i < n; i += per)
		pack_family(st, v + i, i + per < n ? per : n - i, 1, ids + i);
	CU_ASSERT_EQUAL(git_delta_pack(&b, repo, false), 0);
	CU_ASSERT_EQUAL(fg_pack_count(objdir_of(st)), 7);
	CU_ASSERT_EQUAL(fg_pack_geometric(&rolled, objdir_of(st), 0, false,
	    &err), 0);
	CU_ASSERT_EQUAL(fg_pack_count(objdir_of(st)), 1);
	CU_ASSERT(blobs_read_back(st, v, ids, n));
	CU_ASSERT_EQUAL(fg_unit_sh("git verify-pack '%s'/pack/*.idx",
	    objdir_of(st)), 0);
	CU_ASSERT(fsck_clean(repo));
	CU_ASSERT_EQUAL(count_of("cd '%s' && git count-objects -v | "
	    "sed -n 's/^in-pack: //p'", repo), (long)n + 20);
	for (i = 0; i < n; i++)
		fg_buf_release(&v[i]);
	free(v);
	free(ids);
	fg_buf_release(&b);
	fg_store_free(st);
}

/*
 * Write a pack of n blobs, "blob <tag> <i>", of which the first nshared
 * have ids starting with byte 0x00, added in the order they were made (not
 * the index's); then every one reads back through libgit2, whose lookup
 * is a binary search of the index, and git verify-pack finds the index
 * true to the pack.
 */
static void
pack_blobs_and_read_back(struct fg_store *st, const char *tag, int n, int nshared)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_pack_writer *w = NULL;
	git_odb *odb = NULL;
	git_odb_object *obj;
	git_oid *ids;
	char data[64], name[FG_PACK_NAME_MAX];
	size_t len;
	int i, k, found = 0;

	ids = calloc((size_t)n, sizeof(*ids));
	CU_ASSERT_FATAL(ids != NULL);
	CU_ASSERT_EQUAL_FATAL(fg_pack_writer_new(&w, objdir_of(st), false,
	    &err), 0);
	for (i = 0, k = 0; found < n; i++) {
		len = (size_t)snprintf(data, sizeof(data), "blob %s %d\n", tag,
		    i);
		CU_ASSERT_EQUAL_FATAL(git_odb_hash(&ids[found], data, len,
		    GIT_OBJECT_BLOB), 0);
		if ((k < nshared) != (ids[found].id[0] == 0))
			continue;
		k += k < nshared;
		CU_ASSERT_EQUAL_FATAL(fg_pack_writer_add(w, &ids[found],
		    GIT_OBJECT_BLOB, data, len, &err), 0);
		found++;
	}
	CU_ASSERT_EQUAL(fg_pack_writer_count(w), (size_t)n);
	CU_ASSERT_EQUAL_FATAL(fg_pack_writer_commit(w, name, &err), 0);
	fg_pack_writer_free(w);
	CU_ASSERT_EQUAL_FATAL(git_odb_open(&odb, objdir_of(st)), 0);
	for (i = 0, k = 0; i < n; i++) {
		if (git_odb_read(&obj, odb, &ids[i]) != 0)
			continue;
		k += git_odb_object_type(obj) == GIT_OBJECT_BLOB &&
		    strncmp(git_odb_object_data(obj), "blob ", 5) == 0;
		git_odb_object_free(obj);
	}
	CU_ASSERT_EQUAL(k, n);
	git_odb_free(odb);
	CU_ASSERT_EQUAL(fg_unit_sh("git verify-pack '%s/pack/pack-%s.idx'",
	    objdir_of(st), name), 0);
	free(ids);
}

/*
 * A pack's index lists its objects in id order whatever the order they
 * were added in: small packs, a pack of 12,000 (whose index, 336 KB, is
 * written through the writer's 256 KB buffer in two goes), and ids made
 * to share their first byte (a bucket of the writer's sort that insertion
 * would make slow, sorted another way).
 */
static void
test_store_pack_index_is_in_id_order(void)
{
	const char *repo = new_repo();
	struct fg_store *st = open_store(repo, FG_STORE_NO_MAINTAIN);

	pack_blobs_and_read_back(st, "small", 3, 0);
	pack_blobs_and_read_back(st, "shared", 60, 24);
	pack_blobs_and_read_back(st, "many", 12000, 30);
	CU_ASSERT_EQUAL(fg_pack_count(objdir_of(st)), 3);
	fg_store_free(st);
}

/*
 * Set in a child: it kills itself at its first rename of a "<ref>.lock",
 * holding the lock (and its slot's marker), as a writer killed at the
 * worst instant would.
 */
static bool die_holding_lock;

int __real_rename(const char *from, const char *to);

int
__wrap_rename(const char *from, const char *to)
{
	if (die_holding_lock && ends_with(from, ".lock"))
		raise(SIGKILL);
	return __real_rename(from, to);
}

/* Appends forever, in a child, until killed. */
static void
endless_appender(const char *repo, int k)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	struct fg_record recs[5];
	char subject[64];
	git_oid id;
	int i, j;

	if (fg_store_open(&st, repo, 0, &err) < 0)
		_exit(1);
	memset(recs, 0, sizeof(recs));
	for (i = 0;; i++) {
		snprintf(subject, sizeof(subject), "endless %d %d", k, i);
		for (j = 0; j < 5; j++) {
			recs[j].kind = "push";
			recs[j].subject = subject;
		}
		if ((i % 2 ? fg_store_append(&id, st, ACT, &recs[0], &err) :
		    fg_store_append_batch(NULL, st, ACT, recs, 5, &err)) < 0)
			_exit(1);
	}
}

/*
 * Kill one writer and time the next append.  at_lock: the writer dies
 * holding <ref>.lock, at its first ref move; else at a random instant.
 * Returns how long the append took, in seconds.
 */
static double
kill_writer_and_append(struct fg_store *st, const char *repo, int round,
    bool at_lock, unsigned int *seed)
{
	struct timespec t0, t1;
	pid_t pid;
	int status;

	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		die_holding_lock = at_lock;
		endless_appender(repo, round);
	}
	if (!at_lock) {
		usleep((useconds_t)(30000 + rand_r(seed) % 20000));
		kill(pid, SIGKILL);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL(append(st, ACT, "push", "after a kill", NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

/*
 * A writer killed at any instant, even holding <ref>.lock, does not stall
 * the next one for the stale-lock age (FG_STORE_STALE_LOCK_SECS, 20 s):
 * its lock is known to be an orphan and removed at once.  40 kills at
 * random instants, and 5 writers that die holding the lock for certain
 * (a random kill catches one in it less and less often, as appends get
 * faster).
 */
static void
test_store_killed_writer_lock_is_removed_at_once(void)
{
	const char *repo = new_repo();
	struct fg_store *st = open_store(repo, 0);
	struct fg_store_stats stats;
	unsigned int seed = (unsigned int)time(NULL);
	uint64_t random_breaks;
	double slowest = 0, took;
	int round;

	for (round = 0; round < 40; round++) {
		took = kill_writer_and_append(st, repo, round, false, &seed);
		if (took > slowest)
			slowest = took;
	}
	fg_store_get_stats(&stats, st);
	random_breaks = stats.stale_locks;
	for (; round < 45; round++) {
		took = kill_writer_and_append(st, repo, round, true, &seed);
		if (took > slowest)
			slowest = took;
	}
	fg_store_get_stats(&stats, st);
	fprintf(stderr, "killed writers: %llu orphaned locks removed after "
	    "40 random kills, %llu after 5 in the lock; slowest append after "
	    "a kill %.3f s\n", (unsigned long long)random_breaks,
	    (unsigned long long)(stats.stale_locks - random_breaks), slowest);
	CU_ASSERT_EQUAL(stats.stale_locks - random_breaks, 5);
	CU_ASSERT(slowest < 5.0);
	CU_ASSERT(fsck_clean(repo));
	fg_store_free(st);
}

/*
 * Many writers.  Each child opens its own store, as separate processes
 * (hooks, the daemon, the CLI) do, and reports failure by exit status.
 */
#define WRITERS		4
#define PER_WRITER	1000
#define NOTES_PER_WRITER 250

static void
run_children(const char *repo, int n, void (*fn)(const char *, int))
{
	pid_t pids[16];
	int i, status;

	for (i = 0; i < n; i++) {
		pids[i] = fork();
		CU_ASSERT_FATAL(pids[i] >= 0);
		if (pids[i] == 0) {
			fn(repo, i);
			_exit(0);
		}
	}
	for (i = 0; i < n; i++) {
		CU_ASSERT(waitpid(pids[i], &status, 0) == pids[i]);
		CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
}

static void
appender(const char *repo, int k)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	struct fg_store_stats stats;
	struct fg_record r;
	char subject[64], run[16];
	git_oid id;
	int i;

	if (fg_store_open(&st, repo, 0, &err) < 0)
		_exit(1);
	memset(&r, 0, sizeof(r));
	r.kind = "push";
	r.subject = subject;
	r.run = run;
	r.actor_name = "writer";
	for (i = 0; i < PER_WRITER; i++) {
		snprintf(subject, sizeof(subject), "writer %d record %d", k, i);
		snprintf(run, sizeof(run), "%d", k);
		if (fg_store_append(&id, st, ACT, &r, &err) < 0) {
			fprintf(stderr, "writer %d: %s\n", k, err.msg);
			_exit(1);
		}
	}
	fg_store_get_stats(&stats, st);
	fprintf(stderr, "writer %d: %d appends, %llu retries\n", k, PER_WRITER,
	    (unsigned long long)stats.retries);
	fg_store_free(st);
}

static void
test_store_concurrent_appends_lose_nothing(void)
{
	const char *repo = new_repo();
	struct fg_buf b = FG_BUF_INIT;

	run_children(repo, WRITERS, appender);
	CU_ASSERT_EQUAL(commits(repo, ACT), WRITERS * PER_WRITER);
	CU_ASSERT_EQUAL(capture(&b, "git -C '%s' log --format=%%s %s | sort | "
	    "uniq -d | wc -l; git -C '%s' log --format=%%s %s | sort -u | "
	    "wc -l", repo, ACT, repo, ACT), 0);
	CU_ASSERT_STRING_EQUAL(b.ptr, "0\n4000\n");
	fg_buf_reset(&b);
	/* Each writer's records are all there, in its own order. */
	CU_ASSERT_EQUAL(capture(&b, "git -C '%s' log --reverse --format=%%s %s "
	    "| awk '{ if ($4 != n[$2]++) bad++ } END { print bad + 0 }'", repo,
	    ACT), 0);
	CU_ASSERT_STRING_EQUAL(b.ptr, "0\n");
	CU_ASSERT(fsck_clean(repo));
	fg_buf_release(&b);
}

static git_oid note_targets[WRITERS + 1];

static void
noter(const char *repo, int k)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	char key[32];
	cJSON *keys;
	int i;

	if (fg_store_open(&st, repo, 0, &err) < 0)
		_exit(1);
	for (i = 0; i < NOTES_PER_WRITER; i++) {
		snprintf(key, sizeof(key), "w%d-%d", k, i);
		keys = cJSON_CreateObject();
		cJSON_AddNumberToObject(keys, key, i);
		if (fg_store_note_merge(st, &note_targets[k], keys, "noter",
		    NULL, &err) < 0 ||
		    fg_store_note_merge(st, &note_targets[WRITERS], keys,
		    "noter", NULL, &err) < 0) {
			fprintf(stderr, "noter %d: %s\n", k, err.msg);
			_exit(1);
		}
		cJSON_Delete(keys);
	}
	fg_store_free(st);
}

static void
test_store_concurrent_notes_lose_nothing(void)
{
	const char *repo = new_repo();
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st;
	cJSON *note = NULL;
	char what[16], key[32];
	int k, i, missing = 0;

	for (k = 0; k <= WRITERS; k++) {
		snprintf(what, sizeof(what), "c%d", k);
		project_commit(&note_targets[k], repo, what);
	}
	run_children(repo, WRITERS, noter);
	st = open_store(repo, 0);
	for (k = 0; k < WRITERS; k++) {
		CU_ASSERT_EQUAL_FATAL(fg_store_note_get(&note, st,
		    &note_targets[k], &err), 0);
		CU_ASSERT_EQUAL(cJSON_GetArraySize(note), NOTES_PER_WRITER);
		cJSON_Delete(note);
	}
	CU_ASSERT_EQUAL_FATAL(fg_store_note_get(&note, st,
	    &note_targets[WRITERS], &err), 0);
	CU_ASSERT_EQUAL(cJSON_GetArraySize(note), WRITERS * NOTES_PER_WRITER);
	for (k = 0; k < WRITERS; k++) {
		for (i = 0; i < NOTES_PER_WRITER; i++) {
			snprintf(key, sizeof(key), "w%d-%d", k, i);
			if (cJSON_GetObjectItem(note, key) == NULL)
				missing++;
		}
	}
	CU_ASSERT_EQUAL(missing, 0);
	cJSON_Delete(note);
	/* One notes commit per change that changed something. */
	CU_ASSERT_EQUAL(commits(repo, "refs/notes/flowgate"),
	    2 * WRITERS * NOTES_PER_WRITER);
	CU_ASSERT(fsck_clean(repo));
	fg_store_free(st);
}

static void
mixed_writer(const char *repo, int k)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	struct fg_record recs[25];
	char subject[64];
	git_oid id;
	int i, j;

	if (fg_store_open(&st, repo, 0, &err) < 0)
		_exit(1);
	memset(recs, 0, sizeof(recs));
	for (i = 0; i < 25; i++) {
		recs[i].kind = "delivery";
		recs[i].subject = "batched";
	}
	for (i = 0; i < 40; i++) {
		if (k % 2 == 0) {
			for (j = 0; j < 25; j++)
				recs[j].delivery = k ? "b" : "a";
			if (fg_store_append_batch(NULL, st, ACT, recs, 25,
			    &err) < 0) {
				fprintf(stderr, "batcher %d: %s\n", k, err.msg);
				_exit(1);
			}
		} else {
			for (j = 0; j < 25; j++) {
				snprintf(subject, sizeof(subject), "single %d "
				    "%d %d", k, i, j);
				recs[0].subject = subject;
				if (fg_store_append(&id, st, ACT, &recs[0],
				    &err) < 0) {
					fprintf(stderr, "appender %d: %s\n", k,
					    err.msg);
					_exit(1);
				}
			}
		}
	}
	fg_store_free(st);
}

static void
test_store_concurrent_batches_and_appends_lose_nothing(void)
{
	const char *repo = new_repo();

	run_children(repo, 4, mixed_writer);
	CU_ASSERT_EQUAL(commits(repo, ACT), 4 * 40 * 25);
	CU_ASSERT(fsck_clean(repo));
}

/*
 * Appends, batches, notes and cursor moves, until killed.  The stale-lock
 * age is short so that locks killed writers leave do not stall the test,
 * but not shorter than a loaded machine may keep a live writer from
 * running: breaking a live lock loses an update (see store.h).
 */
static void
crash_fail(int k, const struct fg_err *err)
{
	fprintf(stderr, "crash writer %d: %s\n", k, err->msg);
	_exit(1);
}

static void
crash_writer(const char *repo, int k)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	struct fg_record recs[20];
	char subject[64], key[32];
	git_oid id, done, tip;
	bool have_done = false;
	cJSON *keys;
	int i, j;

	if (fg_store_open(&st, repo, 0, &err) < 0)
		crash_fail(k, &err);
	fg_store_set_stale_lock_age(st, 3);
	fg_store_set_auto_maintain(st, 64);
	memset(recs, 0, sizeof(recs));
	for (i = 0;; i++) {
		snprintf(subject, sizeof(subject), "crash %d %d", k, i);
		for (j = 0; j < 20; j++) {
			recs[j].kind = "push";
			recs[j].subject = subject;
		}
		switch (i % 4) {
		case 0:
			if (fg_store_append(&id, st, ACT, &recs[0], &err) < 0)
				crash_fail(k, &err);
			break;
		case 1:
			if (fg_store_append_batch(NULL, st, ACT, recs, 20,
			    &err) < 0)
				crash_fail(k, &err);
			break;
		case 2:
			if (fg_store_tip(&tip, st, ACT, &err) < 0)
				break;
			snprintf(key, sizeof(key), "k%d", i);
			keys = cJSON_CreateObject();
			cJSON_AddStringToObject(keys, key, subject);
			if (fg_store_note_merge(st, &tip, keys, NULL, NULL,
			    &err) < 0)
				crash_fail(k, &err);
			cJSON_Delete(keys);
			break;
		default:
			if (fg_store_tip(&tip, st, ACT, &err) < 0)
				break;
			if (fg_store_ref_cas(st, "refs/flowgate/cursor",
			    have_done ? &done : NULL, &tip, &err) == 0) {
				done = tip;
				have_done = true;
			}
			break;
		}
	}
}

static void
test_store_kill_9_leaves_complete_commits(void)
{
	const char *repo = new_repo();
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf b = FG_BUF_INIT, file = FG_BUF_INIT;
	struct fg_store_iter *it = NULL;
	const struct fg_store_entry *e;
	struct fg_store *st;
	cJSON *json;
	pid_t pids[2];
	unsigned int seed = (unsigned int)time(NULL);
	int round, i, status, n = 0, bad = 0;

	for (round = 0; round < 15; round++) {
		for (i = 0; i < 2; i++) {
			pids[i] = fork();
			CU_ASSERT_FATAL(pids[i] >= 0);
			if (pids[i] == 0) {
				crash_writer(repo, i);
				_exit(0);
			}
		}
		usleep((useconds_t)(20000 + rand_r(&seed) % 150000));
		for (i = 0; i < 2; i++) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], &status, 0);
			CU_ASSERT(WIFSIGNALED(status));
		}
	}
	/* Every ref resolves to a commit; git finds nothing wrong. */
	CU_ASSERT_EQUAL(capture(&b, "git -C '%s' for-each-ref "
	    "--format='%%(objecttype)' | sort | uniq -c", repo), 0);
	CU_ASSERT_PTR_NULL(strstr(b.ptr, "blob"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.ptr, "commit"));
	CU_ASSERT(fsck_clean(repo));

	/* Every reachable record is whole. */
	st = open_store(repo, 0);
	CU_ASSERT_EQUAL_FATAL(fg_store_iter_new(&it, st, ACT, NULL, &err), 0);
	while (fg_store_iter_next(&e, it, &err) == 0 && e != NULL) {
		n++;
		fg_buf_reset(&file);
		json = NULL;
		if (fg_store_read_file_at(&file, st, &e->id, "record.json",
		    &err) < 0 || fg_json_parse(&json, file.ptr, file.len,
		    &err) < 0 || fg_store_entry_get(e, "Flowgate-Kind") == NULL)
			bad++;
		cJSON_Delete(json);
	}
	fg_store_iter_free(it);
	CU_ASSERT(n > 0);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(commits(repo, ACT), n);

	/* And the store still takes writes, stale locks or not. */
	fg_store_set_stale_lock_age(st, 3);
	CU_ASSERT_EQUAL(append(st, ACT, "push", "after the crashes", NULL), 0);
	CU_ASSERT_EQUAL(fg_store_maintain(st, 0, &err), 0);
	CU_ASSERT(fsck_clean(repo));
	fg_store_free(st);
	fg_buf_release(&b);
	fg_buf_release(&file);
}

/*
 * FG_STORE_FSYNC turns libgit2's fsync on for the whole process, so this
 * runs in a child that exits afterwards.
 */
static void
fsync_writer(const char *repo, int k)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	struct fg_record recs[10];
	git_oid id;
	int i;

	(void)k;
	if (fg_store_open(&st, repo, FG_STORE_FSYNC, &err) < 0)
		_exit(1);
	memset(recs, 0, sizeof(recs));
	for (i = 0; i < 10; i++) {
		recs[i].kind = "delivery";
		recs[i].subject = "durable";
	}
	if (fg_store_append(&id, st, "refs/flowgate/inbox", &recs[0],
	    &err) < 0 || fg_store_append_batch(NULL, st,
	    "refs/flowgate/inbox", recs, 10, &err) < 0 ||
	    fg_store_maintain(st, 0, &err) < 0) {
		fprintf(stderr, "fsync writer: %s\n", err.msg);
		_exit(1);
	}
	fg_store_free(st);
}

static void
test_store_fsync_mode_writes_the_same(void)
{
	const char *repo = new_repo();

	run_children(repo, 1, fsync_writer);
	CU_ASSERT_EQUAL(commits(repo, "refs/flowgate/inbox"), 11);
	CU_ASSERT_EQUAL(loose_objects(repo), 0);
	CU_ASSERT(fsck_clean(repo));
}

/*
 * The journal (FG_STORE_JOURNAL).  journal_run(repo, label, n, crash): in
 * a child, n one-record batches "delivery <label>.<i>", whose commit ids
 * go to <repo>.ids; then a close (a checkpoint) or, with crash, _exit()
 * without closing, so the journal still holds them.
 */
#define INBOX "refs/flowgate/inbox"

static int jr_label, jr_n;
static bool jr_crash;

static void
journal_runner(const char *repo, int k)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	struct fg_record rec;
	char path[4200], hex[GIT_OID_HEXSZ + 1], subject[32];
	git_oid id;
	FILE *f;
	int i;

	if (fg_store_open(&st, repo, FG_STORE_JOURNAL | FG_STORE_NO_MAINTAIN,
	    &err) < 0)
		crash_fail(k, &err);
	memset(&rec, 0, sizeof(rec));
	rec.kind = "delivery";
	rec.subject = subject;
	snprintf(path, sizeof(path), "%s.ids", repo);
	f = fopen(path, "w");
	if (f == NULL)
		_exit(1);
	for (i = 0; i < jr_n; i++) {
		snprintf(subject, sizeof(subject), "delivery %d.%d", jr_label,
		    i);
		if (fg_store_append_batch(&id, st, INBOX, &rec, 1, &err) < 0)
			crash_fail(k, &err);
		fprintf(f, "%s\n", git_oid_tostr(hex, sizeof(hex), &id));
	}
	fclose(f);
	if (jr_crash)
		_exit(0);
	fg_store_free(st);
}

static void
journal_run(const char *repo, int label, int n, bool crash)
{
	jr_label = label;
	jr_n = n;
	jr_crash = crash;
	run_children(repo, 1, journal_runner);
}

/* A hook's way in: a store that syncs, opened and closed. */
static void
fsync_opener(const char *repo, int k)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;

	if (fg_store_open(&st, repo, FG_STORE_FSYNC, &err) < 0)
		crash_fail(k, &err);
	fg_store_free(st);
}

/*
 * The generation of the records journal file i holds, from its header: 0
 * when it holds none (its top bit set: cleared by a checkpoint), -1 when
 * it cannot be read.
 */
static long long
journal_gen(const char *repo, int i)
{
	unsigned char h[16];
	char path[4200];
	unsigned long long g = 0;
	int fd, j;

	snprintf(path, sizeof(path), "%s/flowgate-journal.%d", repo, i);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		close(fd);
		return -1;
	}
	close(fd);
	for (j = 8; j < 16; j++)
		g = g << 8 | h[j];
	return g >> 63 ? 0 : (long long)g;
}

/* Whether both journal files hold no records (checkpointed). */
static bool
journal_empty(const char *repo)
{
	return journal_gen(repo, 0) == 0 && journal_gen(repo, 1) == 0;
}

/*
 * A power loss that took every write not synced since repo was copied to
 * <repo>.before: the repository goes back to that copy, all but its
 * journal files, which were synced before each batch returned.
 */
static void
lose_all_but_journal(const char *repo)
{
	CU_ASSERT_EQUAL_FATAL(fg_unit_sh("cd '%s' && mkdir ../lost && "
	    "mv flowgate-journal.* ../lost/ && rm -rf * && "
	    "cp -a '%s.before'/. . && mv ../lost/flowgate-journal.* . && "
	    "rmdir ../lost", repo, repo), 0);
}

/*
 * Run the crashing writer on repo, then, unless keep, lose everything it
 * wrote but the journal, as a power loss would have: the repository goes
 * back to what it was before (its copy), the journal files stay.  ids
 * gets the three commit ids it made, newest last.
 */
static void
journal_crash(const char *repo, bool keep, char ids[3][GIT_OID_HEXSZ + 1])
{
	char path[4200];
	FILE *f;
	int i;

	journal_run(repo, 0, 1, false);
	CU_ASSERT_EQUAL_FATAL(fg_unit_sh("cp -a '%s' '%s.before'", repo, repo),
	    0);
	CU_ASSERT(journal_empty(repo));
	journal_run(repo, 1, 3, true);
	snprintf(path, sizeof(path), "%s.ids", repo);
	f = fopen(path, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	for (i = 0; i < 3; i++)
		CU_ASSERT_FATAL(fscanf(f, "%40s", ids[i]) == 1);
	fclose(f);
	CU_ASSERT_EQUAL(commits(repo, INBOX), 4);
	CU_ASSERT(journal_gen(repo, 0) > 0 || journal_gen(repo, 1) > 0);
	if (keep)
		return;
	lose_all_but_journal(repo);
	CU_ASSERT_EQUAL(commits(repo, INBOX), 1);
}

/*
 * What the journal is for: a batch is on disk after one flush, of the
 * journal alone; closing the store syncs the rest; a store that finds
 * nothing to replay (a hook's) syncs nothing.
 */
static void
test_store_journal_batch_is_one_flush(void)
{
	const char *repo = new_repo();
	struct fg_err err = FG_ERR_INIT;
	struct fg_record rec;
	struct fg_store *st;
	size_t i, other = 0;

	memset(&rec, 0, sizeof(rec));
	rec.kind = "delivery";
	rec.subject = "one flush";
	st = open_store(repo, FG_STORE_JOURNAL | FG_STORE_NO_MAINTAIN);
	syncs.n = 0;
	syncs.on = true;
	CU_ASSERT_EQUAL(fg_store_append_batch(NULL, st, INBOX, &rec, 1, &err),
	    0);
	CU_ASSERT_EQUAL(syncs.n, 1);
	CU_ASSERT(syncs.n == 1 && syncs.ev[0].op == 's' &&
	    strstr(syncs.ev[0].path, "/flowgate-journal.") != NULL);
	syncs.n = 0;
	fg_store_free(st);
	/* The file system, then each journal file's header. */
	CU_ASSERT(syncs.n >= 2 && syncs.ev[0].op == 'F');
	for (i = 1; i < syncs.n; i++)
		if (strstr(syncs.ev[i].path, "/flowgate-journal.") == NULL)
			other++;
	CU_ASSERT_EQUAL(other, 0);
	syncs.n = 0;
	st = open_store(repo, FG_STORE_FSYNC);
	fg_store_free(st);
	CU_ASSERT_EQUAL(syncs.n, 0);
	syncs.on = false;
	CU_ASSERT_EQUAL(commits(repo, INBOX), 1);
	CU_ASSERT(fsck_clean(repo));
}

/* The size of journal file i, -1 when there is none. */
static long long
journal_size(const char *repo, int i)
{
	char path[4200];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/flowgate-journal.%d", repo, i);
	return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

/*
 * A journal grows with what it holds; maintenance, which a daemon runs
 * when idle, shrinks it back to 1 MB, and closing does too.
 */
static void
test_store_journal_shrinks_when_idle(void)
{
	const char *repo = new_repo();
	struct fg_err err = FG_ERR_INIT;
	struct fg_record rec;
	struct fg_file file;
	struct fg_store *st;
	unsigned int seed = 7;
	char *big;
	size_t i, n = 3u << 20;

	/* Three MB that deflate cannot shrink much. */
	big = malloc(n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	for (i = 0; i < n; i++)
		big[i] = (char)('a' + rand_r(&seed) % 26);
	memset(&rec, 0, sizeof(rec));
	rec.kind = "delivery";
	rec.subject = "big";
	file.name = "payload";
	file.data = big;
	file.len = n;
	rec.files = &file;
	rec.nfiles = 1;
	rec.no_record_json = true;
	st = open_store(repo, FG_STORE_JOURNAL | FG_STORE_NO_MAINTAIN);
	CU_ASSERT_EQUAL(fg_store_append_batch(NULL, st, INBOX, &rec, 1, &err),
	    0);
	CU_ASSERT(journal_size(repo, 0) > (1 << 20) ||
	    journal_size(repo, 1) > (1 << 20));
	CU_ASSERT_EQUAL(fg_store_maintain(st, 0, &err), 0);
	CU_ASSERT_EQUAL(journal_size(repo, 0), 1 << 20);
	CU_ASSERT_EQUAL(journal_size(repo, 1), 1 << 20);
	CU_ASSERT(journal_empty(repo));
	/* It takes records again, and a close shrinks it as well. */
	rec.subject = "big again";
	CU_ASSERT_EQUAL(fg_store_append_batch(NULL, st, INBOX, &rec, 1, &err),
	    0);
	fg_store_free(st);
	CU_ASSERT_EQUAL(journal_size(repo, 0), 1 << 20);
	CU_ASSERT_EQUAL(journal_size(repo, 1), 1 << 20);
	CU_ASSERT_EQUAL(commits(repo, INBOX), 2);
	CU_ASSERT(fsck_clean(repo));
	free(big);
}

static void
test_store_journal_puts_back_what_the_disk_lost(void)
{
	const char *repo = new_repo();
	char ids[3][GIT_OID_HEXSZ + 1];
	struct fg_buf b = FG_BUF_INIT;
	long packs;

	journal_crash(repo, false, ids);
	/* The next writer to open the store puts the three back. */
	run_children(repo, 1, fsync_opener);
	CU_ASSERT_EQUAL(commits(repo, INBOX), 4);
	CU_ASSERT_EQUAL(capture(&b, "git -C '%s' rev-parse %s", repo, INBOX),
	    0);
	CU_ASSERT_NSTRING_EQUAL(b.ptr, ids[2], GIT_OID_HEXSZ);
	fg_buf_reset(&b);
	CU_ASSERT_EQUAL(capture(&b, "git -C '%s' log --format=%%s %s", repo,
	    INBOX), 0);
	CU_ASSERT_STRING_EQUAL(b.ptr, "delivery 1.2\ndelivery 1.1\n"
	    "delivery 1.0\ndelivery 0.0\n");
	CU_ASSERT(fsck_clean(repo));
	CU_ASSERT_EQUAL(fg_unit_sh("cd '%s/objects/pack' && for i in *.idx; "
	    "do git verify-pack \"$i\" || exit 1; done", repo), 0);
	CU_ASSERT_EQUAL(count_of("ls -A '%s/objects/pack' | grep '^tmp' | wc -l",
	    repo), 0);
	/* And it was told, and the journal starts over. */
	CU_ASSERT(journal_empty(repo));
	packs = count_of("ls '%s/objects/pack' | grep -c 'idx$'", repo);
	run_children(repo, 1, fsync_opener);
	CU_ASSERT_EQUAL(count_of("ls '%s/objects/pack' | grep -c 'idx$'",
	    repo), packs);
	CU_ASSERT_EQUAL(commits(repo, INBOX), 4);
	fg_buf_release(&b);
}

/*
 * The journaled packs were rolled up into another before the crash (git
 * repack here; the engine's roll-ups in the daemon).  Their objects are
 * all in that pack, so the replay writes none of them back.
 */
static void
test_store_journal_finds_packs_rolled_up(void)
{
	const char *repo = new_repo();
	char ids[3][GIT_OID_HEXSZ + 1];

	journal_crash(repo, true, ids);
	CU_ASSERT_EQUAL_FATAL(fg_unit_sh("git -C '%s' repack -q -a -d", repo),
	    0);
	CU_ASSERT_EQUAL(count_of("ls '%s/objects/pack' | grep -c 'idx$'",
	    repo), 1);
	run_children(repo, 1, fsync_opener);
	CU_ASSERT_EQUAL(count_of("ls '%s/objects/pack' | grep -c 'idx$'",
	    repo), 1);
	CU_ASSERT_EQUAL(commits(repo, INBOX), 4);
	CU_ASSERT(journal_empty(repo));
	CU_ASSERT(fsck_clean(repo));
}

/*
 * fg_store_first_parents, on commits made by git: a chain c1 <- c2 <- c3
 * and a merge m of c3 and a root r.  Newest first, to the root or to a
 * stop; not one chain (FG_ENOTFOUND, nothing given) through the merge, to
 * a stop the chain never meets, or past max.
 */
static void
test_store_first_parents(void)
{
	const char *repo = new_repo();
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf b = FG_BUF_INIT;
	git_repository *gr = NULL;
	git_oid c[3], m, r, *v = NULL;
	char hex[5][GIT_OID_HEXSZ + 1];
	size_t n = 0;
	int i;

	CU_ASSERT_EQUAL_FATAL(capture(&b, "cd '%s' && t=$(git mktree </dev/null) "
	    "&& c1=$(echo 1 | git commit-tree $t) && "
	    "c2=$(echo 2 | git commit-tree $t -p $c1) && "
	    "c3=$(echo 3 | git commit-tree $t -p $c2) && "
	    "r=$(echo r | git commit-tree $t) && "
	    "m=$(echo m | git commit-tree $t -p $c3 -p $r) && "
	    "echo $c1 $c2 $c3 $r $m", repo), 0);
	CU_ASSERT_EQUAL_FATAL(sscanf(b.ptr, "%40s %40s %40s %40s %40s",
	    hex[0], hex[1], hex[2], hex[3], hex[4]), 5);
	for (i = 0; i < 3; i++)
		CU_ASSERT_EQUAL_FATAL(git_oid_fromstr(&c[i], hex[i]), 0);
	CU_ASSERT_EQUAL_FATAL(git_oid_fromstr(&r, hex[3]), 0);
	CU_ASSERT_EQUAL_FATAL(git_oid_fromstr(&m, hex[4]), 0);
	CU_ASSERT_EQUAL_FATAL(git_repository_open(&gr, repo), 0);

	CU_ASSERT_EQUAL(fg_store_first_parents(&v, &n, gr, &c[2], NULL, 10,
	    &err), 0);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT(n == 3 && git_oid_equal(&v[0], &c[2]) &&
	    git_oid_equal(&v[1], &c[1]) && git_oid_equal(&v[2], &c[0]));
	free(v);
	CU_ASSERT_EQUAL(fg_store_first_parents(&v, &n, gr, &c[2], &c[0], 10,
	    &err), 0);
	CU_ASSERT(n == 2 && git_oid_equal(&v[0], &c[2]) &&
	    git_oid_equal(&v[1], &c[1]));
	free(v);
	CU_ASSERT_EQUAL(fg_store_first_parents(&v, &n, gr, &c[2], &c[2], 10,
	    &err), 0);
	CU_ASSERT_EQUAL(n, 0);
	free(v);
	CU_ASSERT_EQUAL(fg_store_first_parents(&v, &n, gr, &m, &c[0], 10,
	    &err), FG_ENOTFOUND);
	CU_ASSERT(n == 0 && v == NULL);
	CU_ASSERT_EQUAL(fg_store_first_parents(&v, &n, gr, &c[2], &r, 10,
	    &err), FG_ENOTFOUND);
	CU_ASSERT(n == 0 && v == NULL);
	CU_ASSERT_EQUAL(fg_store_first_parents(&v, &n, gr, &c[2], NULL, 2,
	    &err), FG_ENOTFOUND);
	CU_ASSERT(n == 0 && v == NULL);
	git_repository_free(gr);
	fg_buf_release(&b);
}

/* A writer that cannot replay the journal (another user's hook). */
static void
plain_appender(const char *repo, int k)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	struct fg_record rec;
	git_oid id;

	if (fg_store_open(&st, repo, FG_STORE_NO_MAINTAIN, &err) < 0)
		crash_fail(k, &err);
	memset(&rec, 0, sizeof(rec));
	rec.kind = "push";
	rec.subject = "pushed after the crash";
	if (fg_store_append(&id, st, INBOX, &rec, &err) < 0)
		crash_fail(k, &err);
	fg_store_free(st);
}

/*
 * After the power loss, and before anyone replays the journal, a writer
 * that cannot moves the ref on from where the disk left it.  The replay
 * then makes the journal's three commits again on top of that one, in
 * order, with their trees and messages: nothing is left off the ref.
 */
static void
test_store_journal_goes_on_top_of_a_moved_ref(void)
{
	const char *repo = new_repo();
	char ids[3][GIT_OID_HEXSZ + 1];
	struct fg_buf b = FG_BUF_INIT, trees = FG_BUF_INIT;
	int i;

	journal_crash(repo, false, ids);
	run_children(repo, 1, plain_appender);
	CU_ASSERT_EQUAL(commits(repo, INBOX), 2);
	run_children(repo, 1, fsync_opener);
	CU_ASSERT_EQUAL(capture(&b, "git -C '%s' log --format=%%s %s", repo,
	    INBOX), 0);
	CU_ASSERT_STRING_EQUAL(b.ptr, "delivery 1.2\ndelivery 1.1\n"
	    "delivery 1.0\npushed after the crash\ndelivery 0.0\n");
	/* The same records: each new commit has its journaled one's tree. */
	for (i = 0; i < 3; i++) {
		fg_buf_reset(&b);
		fg_buf_reset(&trees);
		CU_ASSERT_EQUAL(capture(&b, "git -C '%s' rev-parse %s^{tree}",
		    repo, ids[i]), 0);
		CU_ASSERT_EQUAL(capture(&trees, "git -C '%s' rev-parse "
		    "%s~%d^{tree}", repo, INBOX, 2 - i), 0);
		CU_ASSERT_STRING_EQUAL(b.ptr, trees.ptr);
	}
	CU_ASSERT(fsck_clean(repo));
	CU_ASSERT(journal_empty(repo));
	/* Done once: the next open finds nothing to do. */
	run_children(repo, 1, fsync_opener);
	CU_ASSERT_EQUAL(commits(repo, INBOX), 5);
	fg_buf_release(&b);
	fg_buf_release(&trees);
}

/*
 * The disk kept the ref's move of the first of the three batches, not the
 * others; a writer that cannot replay appends on top of it.  Only the two
 * commits the ref lacks are made again: none twice.  The replay is the
 * daemon's, fg_store_replay(), which leaves a repository without a journal
 * as it is.
 */
static void
test_store_journal_goes_on_top_without_repeating(void)
{
	struct fg_err err = FG_ERR_INIT;
	char ids[3][GIT_OID_HEXSZ + 1];
	struct fg_buf b = FG_BUF_INIT;
	const char *repo = new_repo();

	CU_ASSERT_EQUAL(fg_store_replay(repo, &err), 0);
	CU_ASSERT_EQUAL(count_of("find '%s' -maxdepth 1 -name "
	    "'flowgate-journal*' | wc -l", repo), 0);
	journal_crash(repo, true, ids);
	CU_ASSERT_EQUAL_FATAL(fg_unit_sh("git -C '%s' update-ref %s %s", repo,
	    INBOX, ids[0]), 0);
	run_children(repo, 1, plain_appender);
	CU_ASSERT_EQUAL(fg_store_replay(repo, &err), 0);
	CU_ASSERT_EQUAL(capture(&b, "git -C '%s' log --format=%%s %s", repo,
	    INBOX), 0);
	CU_ASSERT_STRING_EQUAL(b.ptr, "delivery 1.2\ndelivery 1.1\n"
	    "pushed after the crash\ndelivery 1.0\ndelivery 0.0\n");
	fg_buf_reset(&b);
	CU_ASSERT_EQUAL(capture(&b, "git -C '%s' rev-parse %s~3", repo, INBOX),
	    0);
	CU_ASSERT_NSTRING_EQUAL(b.ptr, ids[0], GIT_OID_HEXSZ);
	CU_ASSERT(fsck_clean(repo));
	CU_ASSERT(journal_empty(repo));
	fg_buf_release(&b);
}

static void
test_store_journal_stops_at_a_torn_record(void)
{
	const char *repo = new_repo();
	char ids[3][GIT_OID_HEXSZ + 1];
	struct fg_buf b = FG_BUF_INIT;

	journal_crash(repo, false, ids);
	/*
	 * A byte of the third record's pack goes bad, as if its append had
	 * not reached the disk whole: only the first two come back.
	 */
	CU_ASSERT_EQUAL_FATAL(fg_unit_sh("cd '%s' && for f in "
	    "flowgate-journal.*; do off=$(grep -obUa FGJR \"$f\" | "
	    "grep -v '^0:' | sed -n 3p | cut -d: -f1); [ -n \"$off\" ] || continue; "
	    "printf X | dd of=\"$f\" bs=1 seek=$((off + 150)) conv=notrunc "
	    "2>/dev/null; exit 0; done; exit 1", repo), 0);
	run_children(repo, 1, fsync_opener);
	CU_ASSERT_EQUAL(commits(repo, INBOX), 3);
	CU_ASSERT_EQUAL(capture(&b, "git -C '%s' rev-parse %s", repo, INBOX),
	    0);
	CU_ASSERT_NSTRING_EQUAL(b.ptr, ids[1], GIT_OID_HEXSZ);
	CU_ASSERT(fsck_clean(repo));
	CU_ASSERT(journal_empty(repo));
	fg_buf_release(&b);
}

/*
 * A checkpoint leaves the records in the file, stale.  A later run's
 * record of the same length, written over the first of them, must not
 * take the second for its continuation: generations are never reused.
 */
static void
test_store_journal_never_replays_stale_records(void)
{
	const char *repo = new_repo();
	struct fg_buf b = FG_BUF_INIT, tip = FG_BUF_INIT;

	/* All of one length: so are the records. */
	journal_run(repo, 9, 1, false);
	journal_run(repo, 9, 3, false);
	CU_ASSERT_EQUAL_FATAL(fg_unit_sh("cp -a '%s' '%s.before'", repo, repo),
	    0);
	journal_run(repo, 8, 1, true);
	CU_ASSERT_EQUAL(capture(&tip, "git -C '%s' rev-parse %s", repo, INBOX),
	    0);
	lose_all_but_journal(repo);
	CU_ASSERT_EQUAL(commits(repo, INBOX), 4);
	run_children(repo, 1, fsync_opener);
	CU_ASSERT_EQUAL(commits(repo, INBOX), 5);
	CU_ASSERT_EQUAL(capture(&b, "git -C '%s' rev-parse %s", repo, INBOX),
	    0);
	CU_ASSERT_STRING_EQUAL(b.ptr, tip.ptr);
	CU_ASSERT(fsck_clean(repo));
	fg_buf_release(&b);
	fg_buf_release(&tip);
}

static void
test_store_journal_after_kill_9_redoes_nothing(void)
{
	const char *repo = new_repo();
	char ids[3][GIT_OID_HEXSZ + 1];
	struct fg_buf before = FG_BUF_INIT, after = FG_BUF_INIT;

	/* No power loss: everything is there, nothing is written again. */
	journal_crash(repo, true, ids);
	CU_ASSERT_EQUAL(capture(&before, "cd '%s/objects/pack' && ls -l "
	    "--time-style=+%%s.%%N", repo), 0);
	run_children(repo, 1, fsync_opener);
	CU_ASSERT_EQUAL(capture(&after, "cd '%s/objects/pack' && ls -l "
	    "--time-style=+%%s.%%N", repo), 0);
	CU_ASSERT_STRING_EQUAL(before.ptr, after.ptr);
	CU_ASSERT_EQUAL(commits(repo, INBOX), 4);
	CU_ASSERT(journal_empty(repo));
	CU_ASSERT(fsck_clean(repo));
	fg_buf_release(&before);
	fg_buf_release(&after);
}

static CU_TestInfo tests[] = {
	{ "open refuses a missing repository",
	    test_store_open_refuses_a_missing_repository },
	{ "journal batch is one flush", test_store_journal_batch_is_one_flush },
	{ "journal shrinks when idle", test_store_journal_shrinks_when_idle },
	{ "journal puts back what the disk lost",
	    test_store_journal_puts_back_what_the_disk_lost },
	{ "first parents", test_store_first_parents },
	{ "journal finds packs rolled up",
	    test_store_journal_finds_packs_rolled_up },
	{ "journal goes on top of a moved ref",
	    test_store_journal_goes_on_top_of_a_moved_ref },
	{ "journal goes on top without repeating",
	    test_store_journal_goes_on_top_without_repeating },
	{ "journal stops at a torn record",
	    test_store_journal_stops_at_a_torn_record },
	{ "journal never replays stale records",
	    test_store_journal_never_replays_stale_records },
	{ "journal after kill -9 redoes nothing",
	    test_store_journal_after_kill_9_redoes_nothing },
	{ "append round trip", test_store_append_round_trip },
	{ "append refuses refs outside refs/flowgate",
	    test_store_append_refuses_refs_outside_flowgate },
	{ "append refuses bad records", test_store_append_refuses_bad_records },
	{ "files round trip with NUL bytes",
	    test_store_files_round_trip_with_nul_bytes },
	{ "tree holds only this record", test_store_tree_holds_only_this_record },
	{ "hostile text cannot forge trailers",
	    test_record_hostile_text_cannot_forge_trailers },
	{ "escape line", test_record_escape_line },
	{ "limits hold with 1 MB strings",
	    test_record_limits_hold_with_1mb_strings },
	{ "record.json follows the schema", test_record_json_follows_the_schema },
	{ "record.json data is kept or repaired",
	    test_record_json_data_is_kept_or_repaired },
	{ "walk is newest first, filtered and lazy",
	    test_store_walk_is_newest_first_filtered_and_lazy },
	{ "notes merge keys", test_store_notes_merge_keys },
	{ "batch is one pack and no loose objects",
	    test_store_batch_is_one_pack_and_no_loose_objects },
	{ "batch built a record at a time",
	    test_store_batch_record_at_a_time },
	{ "pack temporary files are cleaned",
	    test_store_pack_temporary_files_are_cleaned },
	{ "ref cas moves cursors", test_store_ref_cas_moves_cursors },
	{ "maintain packs loose objects and rolls up packs",
	    test_store_maintain_packs_loose_objects_and_rolls_up_packs },
	{ "maintain syncs its pack before it deletes",
	    test_store_maintain_syncs_before_it_deletes },
	{ "removes stale ref locks", test_store_removes_stale_ref_locks },
	{ "single appends pack from memory and delete nothing",
	    test_store_single_appends_pack_from_memory_and_delete_nothing },
	{ "roll-up leaves a damaged pack alone",
	    test_store_rollup_leaves_a_damaged_pack_alone },
	{ "pack deltas read back", test_store_pack_deltas_read_back },
	{ "pack delta edges", test_store_pack_delta_edges },
	{ "roll-up copies id deltas", test_store_rollup_copies_id_deltas },
	{ "roll-up leaves packs with deltas alone",
	    test_store_rollup_leaves_packs_with_deltas_alone },
	{ "pack index is in id order",
	    test_store_pack_index_is_in_id_order },
	{ "killed writer's lock is removed at once",
	    test_store_killed_writer_lock_is_removed_at_once },
	{ "4 x 1000 concurrent appends lose nothing",
	    test_store_concurrent_appends_lose_nothing },
	{ "concurrent notes lose nothing",
	    test_store_concurrent_notes_lose_nothing },
	{ "concurrent batches and appends lose nothing",
	    test_store_concurrent_batches_and_appends_lose_nothing },
	{ "kill -9 leaves complete commits",
	    test_store_kill_9_leaves_complete_commits },
	{ "fsync mode writes the same", test_store_fsync_mode_writes_the_same },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("store", tests)
