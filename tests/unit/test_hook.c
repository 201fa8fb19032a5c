/*
 * test_hook.c - what the hooks read and say: git's ref-update lines within
 * their limits, the pusher's identity, the verdict line, the daemon's
 * wake-up FIFO, post-receive's durability setting.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hook.h"
#include "unit.h"

#define Z40 "0000000000000000000000000000000000000000"
#define A40 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B40 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static int
read_text(struct fg_hook_push *p, const char *text, struct fg_err *err)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	rc = fg_hook_push_read(p, f, err);
	fclose(f);
	return rc;
}

static void
test_hook_reads_ref_updates(void)
{
	struct fg_hook_push p = FG_HOOK_PUSH_INIT;
	struct fg_err err = FG_ERR_INIT;

	CU_ASSERT_EQUAL(read_text(&p, Z40 " " A40 " refs/heads/main\n"
	    A40 " " Z40 " refs/heads/feat/a;b\n" A40 " " B40
	    " refs/tags/v1", &err), 0);
	CU_ASSERT_EQUAL_FATAL(p.n, 3);
	CU_ASSERT_STRING_EQUAL(p.v[0].ref, "refs/heads/main");
	CU_ASSERT(git_oid_is_zero(&p.v[0].old_id));
	CU_ASSERT(git_oid_is_zero(&p.v[1].new_id));
	CU_ASSERT_STRING_EQUAL(p.v[1].ref, "refs/heads/feat/a;b");
	CU_ASSERT_STRING_EQUAL(p.v[2].ref, "refs/tags/v1");
	fg_hook_push_release(&p);
}

static void
test_hook_refuses_malformed_input(void)
{
	static const char *const bad[] = {
		"garbage\n",
		Z40 " " A40 "\n",
		Z40 " " A40 " not-a-ref\n",
		Z40 " " A40 " refs/heads/a..b\n",
		"xyz " A40 " refs/heads/main\n",
		Z40 "0 " A40 " refs/heads/main\n",
	};
	struct fg_hook_push p = FG_HOOK_PUSH_INIT;
	struct fg_err err = FG_ERR_INIT;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT(read_text(&p, bad[i], &err) < 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "line 1: "));
		fg_hook_push_release(&p);
	}
}

static void
test_hook_line_limit(void)
{
	struct fg_hook_push p = FG_HOOK_PUSH_INIT;
	struct fg_err err = FG_ERR_INIT;
	size_t fixed = 2 * 40 + 2 + strlen("refs/heads/"), n;
	char *text;

	/* The longest line allowed is read; one byte more is refused. */
	text = malloc(FG_HOOK_LINE_MAX + 8);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	for (n = FG_HOOK_LINE_MAX; n <= FG_HOOK_LINE_MAX + 1; n++) {
		snprintf(text, FG_HOOK_LINE_MAX + 8, "%s %s refs/heads/", Z40,
		    A40);
		memset(text + fixed, 'x', n - fixed);
		text[n] = '\n';
		text[n + 1] = '\0';
		if (n == FG_HOOK_LINE_MAX) {
			CU_ASSERT_EQUAL(read_text(&p, text, &err), 0);
			CU_ASSERT_EQUAL(p.n, 1);
		} else {
			CU_ASSERT_EQUAL(read_text(&p, text, &err), FG_ELIMIT);
			CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "longer than"));
		}
		fg_hook_push_release(&p);
	}
	free(text);
}

static void
test_hook_command_limit(void)
{
	struct fg_hook_push p = FG_HOOK_PUSH_INIT;
	struct fg_err err = FG_ERR_INIT;
	size_t i;

	for (i = 0; i < FG_HOOK_MAX_COMMANDS; i++) {
		if (fg_hook_push_add(&p, Z40, A40, "refs/heads/x", &err) < 0)
			break;
	}
	CU_ASSERT_EQUAL(p.n, FG_HOOK_MAX_COMMANDS);
	CU_ASSERT_EQUAL(fg_hook_push_add(&p, Z40, A40, "refs/heads/x", &err),
	    FG_ELIMIT);
	fg_hook_push_release(&p);
}

static void
test_hook_pusher_from_first_set_variable(void)
{
	unsetenv("GL_USER");
	unsetenv("GITEA_PUSHER_NAME");
	unsetenv("REMOTE_USER");
	unsetenv("FLOWGATE_USER");
	CU_ASSERT_STRING_EQUAL(fg_hook_pusher(NULL), FG_HOOK_UNKNOWN_PUSHER);
	setenv("FLOWGATE_USER", "carol", 1);
	CU_ASSERT_STRING_EQUAL(fg_hook_pusher(NULL), "carol");
	setenv("REMOTE_USER", "", 1);
	CU_ASSERT_STRING_EQUAL(fg_hook_pusher(NULL), "carol");
	setenv("GL_USER", "alice", 1);
	CU_ASSERT_STRING_EQUAL(fg_hook_pusher(NULL), "alice");
	unsetenv("GL_USER");
	unsetenv("REMOTE_USER");
	unsetenv("FLOWGATE_USER");
}

static void
test_hook_verdict_line(void)
{
	struct fg_hook_push p = FG_HOOK_PUSH_INIT;
	struct fg_rules_result r = FG_RULES_RESULT_INIT;
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf b = FG_BUF_INIT;

	CU_ASSERT_EQUAL(fg_hook_push_add(&p, Z40, A40, "refs/heads/main",
	    &err), 0);
	CU_ASSERT_EQUAL(fg_hook_verdict(&b, &p, &r), 0);
	CU_ASSERT_STRING_EQUAL(b.ptr, "push to main accepted");
	fg_rules_add(&r, "message", "refs/heads/main", NULL, NULL, "x", NULL);
	fg_buf_reset(&b);
	CU_ASSERT_EQUAL(fg_hook_verdict(&b, &p, &r), 0);
	CU_ASSERT_STRING_EQUAL(b.ptr, "push to main refused: 1 issue");
	fg_hook_push_add(&p, Z40, A40, "refs/heads/develop", &err);
	fg_rules_add(&r, "linear", "refs/heads/develop", NULL, NULL, "y",
	    NULL);
	fg_buf_reset(&b);
	CU_ASSERT_EQUAL(fg_hook_verdict(&b, &p, &r), 0);
	CU_ASSERT_STRING_EQUAL(b.ptr, "push to main and develop refused: "
	    "2 issues");
	fg_hook_push_add(&p, Z40, A40, "refs/tags/v1", &err);
	fg_hook_push_add(&p, Z40, A40, "refs/heads/a", &err);
	fg_hook_push_add(&p, Z40, A40, "refs/heads/b", &err);
	fg_buf_reset(&b);
	CU_ASSERT_EQUAL(fg_hook_verdict(&b, &p, &r), 0);
	CU_ASSERT_STRING_EQUAL(b.ptr, "push to main, develop, refs/tags/v1 "
	    "and 2 more refused: 2 issues");
	fg_buf_release(&b);
	fg_rules_result_release(&r);
	fg_hook_push_release(&p);
}

static void
test_hook_wake_never_blocks(void)
{
	char dir[4096], fifo[4200], other[4200];
	char c;
	int rfd;

	snprintf(dir, sizeof(dir), "%s/wake", fg_unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
	/* No FIFO: nobody to wake. */
	CU_ASSERT_FALSE(fg_hook_wake(dir));
	snprintf(fifo, sizeof(fifo), "%s/%s", dir, FG_HOOK_WAKE_FILE);
	CU_ASSERT_EQUAL_FATAL(mkfifo(fifo, 0600), 0);
	/* A FIFO without a reader: returns at once, wakes nobody. */
	CU_ASSERT_FALSE(fg_hook_wake(dir));
	/* A daemon holding it open gets one byte per wake-up. */
	rfd = open(fifo, O_RDONLY | O_NONBLOCK);
	CU_ASSERT_FATAL(rfd >= 0);
	CU_ASSERT_TRUE(fg_hook_wake(dir));
	CU_ASSERT_EQUAL(read(rfd, &c, 1), 1);
	CU_ASSERT_EQUAL(c, 'w');
	close(rfd);
	/* A regular file by that name is not a wake-up channel. */
	unlink(fifo);
	close(open(fifo, O_CREAT | O_WRONLY, 0600));
	CU_ASSERT_FALSE(fg_hook_wake(dir));
	/* Nor is a symbolic link, even to a FIFO someone reads. */
	unlink(fifo);
	snprintf(other, sizeof(other), "%s/elsewhere", dir);
	CU_ASSERT_EQUAL_FATAL(mkfifo(other, 0600), 0);
	CU_ASSERT_EQUAL_FATAL(symlink(other, fifo), 0);
	rfd = open(other, O_RDONLY | O_NONBLOCK);
	CU_ASSERT_FATAL(rfd >= 0);
	CU_ASSERT_FALSE(fg_hook_wake(dir));
	/* No writer came: EOF (0), not a byte. */
	CU_ASSERT(read(rfd, &c, 1) <= 0);
	close(rfd);
}

static void
test_hook_repo_name(void)
{
	char name[64];

	unsetenv("GL_REPO");
	unsetenv("GITEA_REPO_NAME");
	unsetenv("GITEA_REPO_USER_NAME");
	fg_hook_repo_name(name, sizeof(name), "/srv/git/team/app.git/");
	CU_ASSERT_STRING_EQUAL(name, "team/app");
	fg_hook_repo_name(name, sizeof(name), "/home/me/work/app/.git/");
	CU_ASSERT_STRING_EQUAL(name, "work/app");
	fg_hook_repo_name(name, sizeof(name), "/app.git/");
	CU_ASSERT_STRING_EQUAL(name, "local/app");
	fg_hook_repo_name(name, sizeof(name), "/srv/we ird/a;b.git/");
	CU_ASSERT_STRING_EQUAL(name, "we-ird/a-b");
	setenv("GL_REPO", "group/project", 1);
	fg_hook_repo_name(name, sizeof(name), "/x/y.git/");
	CU_ASSERT_STRING_EQUAL(name, "group/project");
	unsetenv("GL_REPO");
	setenv("GITEA_REPO_NAME", "app", 1);
	setenv("GITEA_REPO_USER_NAME", "org", 1);
	fg_hook_repo_name(name, sizeof(name), "/x/y.git/");
	CU_ASSERT_STRING_EQUAL(name, "org/app");
	unsetenv("GITEA_REPO_USER_NAME");
	fg_hook_repo_name(name, sizeof(name), "/x/y.git/");
	CU_ASSERT_STRING_EQUAL(name, "local/app");
	unsetenv("GITEA_REPO_NAME");
}

static CU_TestInfo tests[] = {
	{ "reads ref updates", test_hook_reads_ref_updates },
	{ "refuses malformed input", test_hook_refuses_malformed_input },
	{ "line limit and one past it", test_hook_line_limit },
	{ "command limit and one past it", test_hook_command_limit },
	{ "pusher from the first set variable",
	    test_hook_pusher_from_first_set_variable },
	{ "verdict line", test_hook_verdict_line },
	{ "wake-up never blocks", test_hook_wake_never_blocks },
	{ "repository name for events", test_hook_repo_name },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("hook", tests)
