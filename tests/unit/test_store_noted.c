/*
 * test_store_noted.c - fg_store_append_batch_noted(): the batch and its
 * notes in one pack, the notes merged as fg_store_note_merge() merges
 * them (existing keys kept, several notes on one commit applied in turn,
 * an unchanged note not rewritten), and a notes callback that fails costs
 * the batch nothing.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "store.h"
#include "unit.h"
#include "banned.h"

static int seq;

/* A bare repository with two commits, c[0] and its child c[1]. */
static const char *
repo_with_commits(git_oid *c)
{
	static char path[4096];
	char hex[2 * GIT_OID_HEXSZ + 4], cmd[20000];
	FILE *f;

	snprintf(path, sizeof(path), "%s/n%d.git", fg_unit_tmpdir(), ++seq);
	snprintf(cmd, sizeof(cmd), "git init -q --bare '%s' && cd '%s' && "
	    "export GIT_AUTHOR_NAME=a GIT_AUTHOR_EMAIL=a@x "
	    "GIT_COMMITTER_NAME=a GIT_COMMITTER_EMAIL=a@x && "
	    "t=$(git mktree </dev/null) && a=$(git commit-tree -m one $t) && "
	    "b=$(git commit-tree -p $a -m two $t) && echo $a $b > ids",
	    path, path);
	CU_ASSERT_FATAL(fg_unit_sh("%s", cmd) == 0);
	snprintf(cmd, sizeof(cmd), "%s/ids", path);
	f = fopen(cmd, "r");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_FATAL(fgets(hex, sizeof(hex), f) != NULL);
	fclose(f);
	CU_ASSERT_FATAL(git_oid_fromstrn(&c[0], hex, GIT_OID_HEXSZ) == 0);
	CU_ASSERT_FATAL(git_oid_fromstrn(&c[1], hex + GIT_OID_HEXSZ + 1,
	    GIT_OID_HEXSZ) == 0);
	return path;
}

static size_t
count_packs(const char *repo)
{
	char dir[4200];
	struct dirent *d;
	DIR *dp;
	size_t n = 0, len;

	snprintf(dir, sizeof(dir), "%s/objects/pack", repo);
	dp = opendir(dir);
	if (dp == NULL)
		return 0;
	while ((d = readdir(dp)) != NULL) {
		len = strlen(d->d_name);
		if (len > 5 && strcmp(d->d_name + len - 5, ".pack") == 0)
			n++;
	}
	closedir(dp);
	return n;
}

/* The note as compact JSON, in a static buffer; "none" if there is none. */
static const char *
note_text(struct fg_store *st, const git_oid *c)
{
	static char text[4096];
	struct fg_err err = FG_ERR_INIT;
	cJSON *note = NULL;
	char *s;

	if (fg_store_note_get(&note, st, c, &err) < 0)
		return "none";
	s = cJSON_PrintUnformatted(note);
	snprintf(text, sizeof(text), "%s", s != NULL ? s : "");
	cJSON_free(s);
	cJSON_Delete(note);
	return text;
}

/* What notes_cb adds: on targets[i], keys[i], "@N" replaced by ids[N]. */
struct plan {
	const git_oid *targets[4];
	const char *keys[4];
	size_t n;
	bool fail;
	size_t calls;
};

static int
notes_cb(struct fg_store_note *notes, size_t *nnotes, size_t max,
    const git_oid *ids, size_t n, void *arg, struct fg_err *err)
{
	struct plan *p = arg;
	char buf[512], hex[GIT_OID_HEXSZ + 1];
	const char *at;
	size_t i;

	p->calls++;
	CU_ASSERT(max >= p->n);
	for (i = 0; i < p->n; i++) {
		at = strchr(p->keys[i], '@');
		if (at != NULL && (size_t)(at[1] - '0') < n) {
			git_oid_tostr(hex, sizeof(hex), &ids[at[1] - '0']);
			snprintf(buf, sizeof(buf), "%.*s%s%s",
			    (int)(at - p->keys[i]), p->keys[i], hex, at + 2);
		} else {
			snprintf(buf, sizeof(buf), "%s", p->keys[i]);
		}
		notes[i].target = *p->targets[i];
		notes[i].keys = cJSON_Parse(buf);
		CU_ASSERT_PTR_NOT_NULL_FATAL(notes[i].keys);
		(*nnotes)++;
	}
	if (p->fail)
		return fg_err_set(err, FG_EINVALID, "the callback failed");
	return 0;
}

static void
records(struct fg_record *recs, size_t n)
{
	size_t i;

	memset(recs, 0, n * sizeof(*recs));
	for (i = 0; i < n; i++) {
		recs[i].kind = "delivery";
		recs[i].subject = i == 0 ? "first event" : "second event";
		recs[i].actor_name = "alice";
	}
}

static void
test_noted_one_pack(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	struct fg_record recs[2];
	struct plan p;
	git_oid c[2], out[2], tip;
	char want[512], h0[GIT_OID_HEXSZ + 1], h1[GIT_OID_HEXSZ + 1];
	const char *repo = repo_with_commits(c);
	cJSON *keys;
	size_t packs;

	CU_ASSERT_FATAL(fg_store_open(&st, repo, FG_STORE_FSYNC, &err) == 0);
	keys = cJSON_Parse("{\"statuses\": {\"ci\": \"ok\"}}");
	CU_ASSERT_EQUAL_FATAL(fg_store_note_merge(st, &c[0], keys, "ci", NULL,
	    &err), 0);
	cJSON_Delete(keys);
	packs = count_packs(repo);
	memset(&p, 0, sizeof(p));
	p.targets[0] = &c[0];
	p.keys[0] = "{\"pushes\": [{\"event\": \"@0\"}]}";
	p.targets[1] = &c[1];
	p.keys[1] = "{\"pushes\": [{\"event\": \"@1\"}]}";
	p.n = 2;
	records(recs, 2);
	CU_ASSERT_EQUAL_FATAL(fg_store_append_batch_noted(out, st,
	    "refs/flowgate/inbox", recs, 2, notes_cb, &p, "alice", &err), 0);
	CU_ASSERT_EQUAL(p.calls, 1);
	CU_ASSERT_EQUAL(count_packs(repo), packs + 1);
	CU_ASSERT_EQUAL(fg_store_tip(&tip, st, "refs/flowgate/inbox", &err),
	    0);
	CU_ASSERT(git_oid_equal(&tip, &out[1]));
	git_oid_tostr(h0, sizeof(h0), &out[0]);
	git_oid_tostr(h1, sizeof(h1), &out[1]);
	snprintf(want, sizeof(want), "{\"statuses\":{\"ci\":\"ok\"},"
	    "\"pushes\":[{\"event\":\"%s\"}]}", h0);
	CU_ASSERT_STRING_EQUAL(note_text(st, &c[0]), want);
	snprintf(want, sizeof(want), "{\"pushes\":[{\"event\":\"%s\"}]}", h1);
	CU_ASSERT_STRING_EQUAL(note_text(st, &c[1]), want);
	/* git reads what was written: the notes, their log, fsck. */
	CU_ASSERT_EQUAL(fg_unit_sh("cd '%s' && "
	    "git fsck --no-progress --strict >/dev/null 2>&1 && "
	    "test $(git notes --ref=flowgate list | wc -l) = 2 && "
	    "test $(git rev-list --count refs/notes/flowgate) = 3 && "
	    "git log -1 --format=%%an%%n%%s%%n%%b refs/notes/flowgate | "
	    "grep -qx 'Flowgate-Kind: note' && "
	    "test \"$(git log -1 --format=%%an refs/notes/flowgate)\" = alice",
	    repo), 0);
	fg_store_free(st);
}

static void
test_noted_same_target_and_unchanged(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	struct fg_record recs[2];
	struct plan p;
	git_oid c[2], notes_tip, after;
	const char *repo = repo_with_commits(c);

	CU_ASSERT_FATAL(fg_store_open(&st, repo, 0, &err) == 0);
	memset(&p, 0, sizeof(p));
	p.targets[0] = &c[1];
	p.keys[0] = "{\"a\": 1}";
	p.targets[1] = &c[1];
	p.keys[1] = "{\"b\": {\"x\": 2}}";
	p.n = 2;
	records(recs, 2);
	CU_ASSERT_EQUAL_FATAL(fg_store_append_batch_noted(NULL, st,
	    "refs/flowgate/inbox", recs, 2, notes_cb, &p, "alice", &err), 0);
	CU_ASSERT_STRING_EQUAL(note_text(st, &c[1]),
	    "{\"a\":1,\"b\":{\"x\":2}}");
	CU_ASSERT_EQUAL(fg_store_tip(&notes_tip, st, "refs/notes/flowgate",
	    &err), 0);
	/* Keys the note holds already: no new notes commit. */
	memset(&p, 0, sizeof(p));
	p.targets[0] = &c[1];
	p.keys[0] = "{\"b\": {\"x\": 2}}";
	p.n = 1;
	CU_ASSERT_EQUAL_FATAL(fg_store_append_batch_noted(NULL, st,
	    "refs/flowgate/inbox", recs, 1, notes_cb, &p, "alice", &err), 0);
	CU_ASSERT_EQUAL(fg_store_tip(&after, st, "refs/notes/flowgate", &err),
	    0);
	CU_ASSERT(git_oid_equal(&after, &notes_tip));
	CU_ASSERT_EQUAL(fg_unit_sh("cd '%s' && test $(git rev-list --count "
	    "refs/flowgate/inbox) = 3 && "
	    "git fsck --no-progress --strict >/dev/null 2>&1", repo), 0);
	fg_store_free(st);
}

static void
test_noted_failing_notes_keep_the_batch(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_store *st = NULL;
	struct fg_record recs[1];
	struct plan p;
	git_oid c[2], out[1], tip;
	const char *repo = repo_with_commits(c);

	CU_ASSERT_FATAL(fg_store_open(&st, repo, FG_STORE_FSYNC, &err) == 0);
	memset(&p, 0, sizeof(p));
	p.targets[0] = &c[0];
	p.keys[0] = "{\"a\": 1}";
	p.n = 1;
	p.fail = true;
	records(recs, 1);
	CU_ASSERT_EQUAL(fg_store_append_batch_noted(out, st,
	    "refs/flowgate/inbox", recs, 1, notes_cb, &p, "alice", &err), 0);
	CU_ASSERT_EQUAL(fg_store_tip(&tip, st, "refs/flowgate/inbox", &err),
	    0);
	CU_ASSERT(git_oid_equal(&tip, &out[0]));
	CU_ASSERT_STRING_EQUAL(note_text(st, &c[0]), "none");
	CU_ASSERT_EQUAL(fg_store_tip(&tip, st, "refs/notes/flowgate", &err),
	    FG_ENOTFOUND);
	/* A note on an object that is not there: the same. */
	memset(&p, 0, sizeof(p));
	CU_ASSERT(git_oid_fromstr(&c[1],
	    "0123456789012345678901234567890123456789") == 0);
	p.targets[0] = &c[1];
	p.keys[0] = "{\"a\": 1}";
	p.n = 1;
	CU_ASSERT_EQUAL(fg_store_append_batch_noted(out, st,
	    "refs/flowgate/inbox", recs, 1, notes_cb, &p, "alice", &err), 0);
	CU_ASSERT_EQUAL(fg_store_tip(&tip, st, "refs/notes/flowgate", &err),
	    FG_ENOTFOUND);
	CU_ASSERT_EQUAL(fg_unit_sh("cd '%s' && test $(git rev-list --count "
	    "refs/flowgate/inbox) = 2 && "
	    "git fsck --no-progress --strict >/dev/null 2>&1", repo), 0);
	fg_store_free(st);
}

static CU_TestInfo tests[] = {
	{ "batch and notes in one pack", test_noted_one_pack },
	{ "notes on one commit in turn; unchanged",
	    test_noted_same_target_and_unchanged },
	{ "failing notes keep the batch",
	    test_noted_failing_notes_keep_the_batch },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("store_noted", tests)
