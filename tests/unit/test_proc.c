/*
 * test_proc.c - commands run as real children: exit codes and signals,
 * time limits, the output tail, masked secrets, a clean environment, argv
 * bytes that no shell ever sees, fresh checkouts and temporary trees.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>

#include "proc.h"
#include "util.h"
#include "unit.h"

/* Run argv with the given options; err and result for the caller. */
static int
run(struct fg_proc_result *r, const char *const *argv, unsigned timeout_ms,
    size_t output_max, const char *const *secrets, struct fg_err *err)
{
	struct fg_proc_opts o = FG_PROC_OPTS_INIT;

	o.argv = argv;
	o.timeout_ms = timeout_ms;
	o.output_max = output_max;
	o.secrets = secrets;
	return fg_proc_run(r, &o, err);
}

static void
test_proc_reports_exit_codes(void)
{
	const char *const t[] = { "true", NULL };
	const char *const f[] = { "false", NULL };
	const char *const e[] = { "sh", "-c", "exit 42", NULL };
	struct fg_proc_result r;
	struct fg_err err = FG_ERR_INIT;

	CU_ASSERT_EQUAL(run(&r, t, 0, 0, NULL, &err), 0);
	CU_ASSERT_TRUE(r.exited);
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT_EQUAL(r.signal, 0);
	CU_ASSERT_FALSE(r.timed_out);
	fg_proc_result_release(&r);
	CU_ASSERT_EQUAL(run(&r, f, 0, 0, NULL, &err), 0);
	CU_ASSERT_TRUE(r.exited);
	CU_ASSERT_EQUAL(r.status, 1);
	fg_proc_result_release(&r);
	CU_ASSERT_EQUAL(run(&r, e, 0, 0, NULL, &err), 0);
	CU_ASSERT_TRUE(r.exited);
	CU_ASSERT_EQUAL(r.status, 42);
	fg_proc_result_release(&r);
}

static void
test_proc_reports_death_by_signal(void)
{
	const char *const argv[] = { "sh", "-c", "kill -KILL $$", NULL };
	struct fg_proc_result r;
	struct fg_err err = FG_ERR_INIT;

	CU_ASSERT_EQUAL(run(&r, argv, 0, 0, NULL, &err), 0);
	CU_ASSERT_FALSE(r.exited);
	CU_ASSERT_EQUAL(r.status, -1);
	CU_ASSERT_EQUAL(r.signal, SIGKILL);
	CU_ASSERT_FALSE(r.timed_out);
	fg_proc_result_release(&r);
}

static void
test_proc_timeout_kills_sleep(void)
{
	const char *const argv[] = { "sleep", "30", NULL };
	struct fg_proc_result r;
	struct fg_err err = FG_ERR_INIT;

	CU_ASSERT_EQUAL(run(&r, argv, 300, 0, NULL, &err), 0);
	CU_ASSERT_TRUE(r.timed_out);
	CU_ASSERT_FALSE(r.exited);
	CU_ASSERT_EQUAL(r.signal, SIGTERM);
	CU_ASSERT_TRUE(r.duration_ms >= 300);
	CU_ASSERT_TRUE(r.duration_ms < 3000);
	fg_proc_result_release(&r);
}

static void
test_proc_timeout_escalates_to_sigkill(void)
{
	/* The shell and its sleep ignore SIGTERM: only SIGKILL ends them. */
	const char *const argv[] = { "sh", "-c", "trap '' TERM; sleep 30",
	    NULL };
	struct fg_proc_result r;
	struct fg_err err = FG_ERR_INIT;

	CU_ASSERT_EQUAL(run(&r, argv, 200, 0, NULL, &err), 0);
	CU_ASSERT_TRUE(r.timed_out);
	CU_ASSERT_EQUAL(r.signal, SIGKILL);
	CU_ASSERT_TRUE(r.duration_ms >= 200 + FG_PROC_KILL_GRACE_MS - 50);
	CU_ASSERT_TRUE(r.duration_ms < 200 + FG_PROC_KILL_GRACE_MS + 1500);
	fg_proc_result_release(&r);
}

static void
test_proc_leftover_background_does_not_hold_us(void)
{
	const char *const argv[] = { "sh", "-c", "sleep 30 & echo started",
	    NULL };
	struct fg_proc_result r;
	struct fg_err err = FG_ERR_INIT;

	CU_ASSERT_EQUAL(run(&r, argv, 0, 0, NULL, &err), 0);
	CU_ASSERT_TRUE(r.exited);
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT_STRING_EQUAL(r.output.ptr, "started\n");
	CU_ASSERT_TRUE(r.duration_ms < 1000);
	fg_proc_result_release(&r);
}

static void
test_proc_captures_stdout_and_stderr_in_order(void)
{
	const char *const argv[] = { "sh", "-c",
	    "echo out; echo err >&2; echo out2", NULL };
	struct fg_proc_result r;
	struct fg_err err = FG_ERR_INIT;

	CU_ASSERT_EQUAL(run(&r, argv, 0, 0, NULL, &err), 0);
	CU_ASSERT_STRING_EQUAL(r.output.ptr, "out\nerr\nout2\n");
	CU_ASSERT_EQUAL(r.total, 13);
	CU_ASSERT_EQUAL(r.dropped, 0);
	fg_proc_result_release(&r);
}

static void
test_proc_output_cap_keeps_the_tail(void)
{
	const char *const argv[] = { "seq", "1", "100000", NULL };
	struct fg_proc_result r;
	struct fg_err err = FG_ERR_INIT;
	size_t total = 0;
	int i;

	for (i = 1; i <= 100000; i++)
		total += (size_t)snprintf(NULL, 0, "%d\n", i);
	CU_ASSERT_EQUAL(run(&r, argv, 0, 20, NULL, &err), 0);
	CU_ASSERT_EQUAL(r.output.len, 20);
	CU_ASSERT_STRING_EQUAL(r.output.ptr, "\n99998\n99999\n100000\n");
	CU_ASSERT_EQUAL(r.total, total);
	CU_ASSERT_EQUAL(r.dropped, total - 20);
	fg_proc_result_release(&r);
}

static void
test_proc_masks_secrets(void)
{
	const char *const argv[] = { "printf", "token=%s; again %s; %s\n",
	    "s3cr3t", "s3cr3t", "tok", NULL };
	const char *const secrets[] = { "", "s3cr3t", "tok", NULL };
	struct fg_proc_result r;
	struct fg_err err = FG_ERR_INIT;

	CU_ASSERT_EQUAL(run(&r, argv, 0, 0, secrets, &err), 0);
	/* "tok" in "token" is masked too: a secret is a byte string. */
	CU_ASSERT_STRING_EQUAL(r.output.ptr, "***en=***; again ***; ***\n");
	fg_proc_result_release(&r);
}

static void
test_proc_masks_a_secret_cut_by_the_cap(void)
{
	const char *const argv[] = { "printf", "%s%s%s", "aaaa",
	    "s3cr3t", "bb", NULL };
	const char *const secrets[] = { "s3cr3t", NULL };
	struct fg_proc_result r;
	struct fg_err err = FG_ERR_INIT;

	/* The last 4 raw bytes are "3tbb": the end of the secret. */
	CU_ASSERT_EQUAL(run(&r, argv, 0, 4, secrets, &err), 0);
	CU_ASSERT_STRING_EQUAL(r.output.ptr, "***bb");
	CU_ASSERT_EQUAL(r.total, 12);
	CU_ASSERT_EQUAL(r.dropped, 8);
	fg_proc_result_release(&r);
}

static void
test_proc_environment_is_clean(void)
{
	const char *const argv[] = { "env", NULL };
	const char *const env[] = { "FLOWGATE_COMMIT=abc", "LANG",
	    "FLOWGATE_STAGE=one", "FLOWGATE_STAGE=two", NULL };
	struct fg_proc_opts o = FG_PROC_OPTS_INIT;
	struct fg_proc_result r;
	struct fg_err err = FG_ERR_INIT;

	setenv("GIT_QUARANTINE_PATH", "/srv/q/objects/incoming", 1);
	setenv("GIT_OBJECT_DIRECTORY", "/srv/q/objects/incoming", 1);
	setenv("GIT_DIR", ".", 1);
	setenv("FLOWGATE_DEPLOY_TOKEN", "hunter2", 1);
	setenv("LANG", "C.UTF-8", 1);
	o.argv = argv;
	o.env = env;
	CU_ASSERT_EQUAL(fg_proc_run(&r, &o, &err), 0);
	CU_ASSERT_PTR_NULL(strstr(r.output.ptr, "GIT_"));
	CU_ASSERT_PTR_NULL(strstr(r.output.ptr, "hunter2"));
	CU_ASSERT_PTR_NULL(strstr(r.output.ptr, "LANG="));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.output.ptr, "PATH="));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.output.ptr, "FLOWGATE_COMMIT=abc\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.output.ptr, "FLOWGATE_STAGE=two\n"));
	CU_ASSERT_PTR_NULL(strstr(r.output.ptr, "FLOWGATE_STAGE=one"));
	fg_proc_result_release(&r);
	unsetenv("GIT_QUARANTINE_PATH");
	unsetenv("GIT_OBJECT_DIRECTORY");
	unsetenv("GIT_DIR");
	unsetenv("FLOWGATE_DEPLOY_TOKEN");
}

static void
test_proc_refuses_nameless_environment_entry(void)
{
	const char *const argv[] = { "true", NULL };
	const char *const env[] = { "=value", NULL };
	struct fg_proc_opts o = FG_PROC_OPTS_INIT;
	struct fg_proc_result r;
	struct fg_err err = FG_ERR_INIT;

	o.argv = argv;
	o.env = env;
	CU_ASSERT_EQUAL(fg_proc_run(&r, &o, &err), FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, "environment entry '=value' has no "
	    "name");
	fg_proc_result_release(&r);
}

static void
test_proc_argv_reaches_program_as_literal_bytes(void)
{
	char hostile[4 * PATH_MAX], marker[PATH_MAX];
	const char *argv[] = { "printf", "%s", hostile, NULL };
	struct fg_proc_opts o = FG_PROC_OPTS_INIT;
	struct fg_proc_result r;
	struct fg_err err = FG_ERR_INIT;

	snprintf(marker, sizeof(marker), "%s/pwned", fg_unit_tmpdir());
	snprintf(hostile, sizeof(hostile), "$(touch %s); rm -rf `touch %s`"
	    " ; touch %s | x > y && z '\"\n*", marker, marker, marker);
	o.argv = argv;
	o.dir = fg_unit_tmpdir();
	CU_ASSERT_EQUAL(fg_proc_run(&r, &o, &err), 0);
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT_STRING_EQUAL(r.output.ptr, hostile);
	CU_ASSERT_NOT_EQUAL(access(marker, F_OK), 0);
	CU_ASSERT_NOT_EQUAL(access("y", F_OK), 0);
	fg_proc_result_release(&r);
}

static void
test_proc_missing_program_fails_clearly(void)
{
	const char *const bare[] = { "flowgate-no-such-program", "x", NULL };
	const char *const abs[] = { "/nonexistent/flowgate-prog", NULL };
	const char *const path[] = { "PATH=/nonexistent:/also/not", NULL };
	struct fg_proc_opts o = FG_PROC_OPTS_INIT;
	struct fg_proc_result r;
	struct fg_err err = FG_ERR_INIT;

	o.argv = bare;
	o.env = path;
	CU_ASSERT_EQUAL(fg_proc_run(&r, &o, &err), FG_ENOTFOUND);
	CU_ASSERT_STRING_EQUAL(err.msg, "no program "
	    "'flowgate-no-such-program' in PATH '/nonexistent:/also/not'");
	fg_proc_result_release(&r);
	o.argv = abs;
	o.env = NULL;
	CU_ASSERT_EQUAL(fg_proc_run(&r, &o, &err), FG_ENOTFOUND);
	CU_ASSERT_STRING_EQUAL(err.msg, "cannot run "
	    "'/nonexistent/flowgate-prog': No such file or directory");
	CU_ASSERT_FALSE(r.exited);
	fg_proc_result_release(&r);
}

static void
test_proc_refuses_non_executables_and_shebangless_scripts(void)
{
	char script[PATH_MAX];
	const char *argv[] = { script, NULL };
	struct fg_proc_opts o = FG_PROC_OPTS_INIT;
	struct fg_proc_result r;
	struct fg_err err = FG_ERR_INIT;

	snprintf(script, sizeof(script), "%s/noshebang", fg_unit_tmpdir());
	CU_ASSERT_EQUAL(fg_unit_sh("echo 'touch %s.ran' > '%s'", script,
	    script), 0);
	o.argv = argv;
	CU_ASSERT_EQUAL(fg_proc_run(&r, &o, &err), FG_EDENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "Permission denied"));
	fg_proc_result_release(&r);
	CU_ASSERT_EQUAL(chmod(script, 0755), 0);
	CU_ASSERT_EQUAL(fg_proc_run(&r, &o, &err), FG_EDENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "needs a '#!' line"));
	CU_ASSERT_EQUAL(fg_unit_sh("test ! -e '%s.ran'", script), 0);
	fg_proc_result_release(&r);
}

static void
test_proc_runs_in_the_given_directory(void)
{
	const char *const argv[] = { "pwd", NULL };
	struct fg_proc_opts o = FG_PROC_OPTS_INIT;
	struct fg_proc_result r;
	struct fg_err err = FG_ERR_INIT;
	char real[PATH_MAX], want[PATH_MAX + 2];

	CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(fg_unit_tmpdir(), real));
	snprintf(want, sizeof(want), "%s\n", real);
	o.argv = argv;
	o.dir = fg_unit_tmpdir();
	CU_ASSERT_EQUAL(fg_proc_run(&r, &o, &err), 0);
	CU_ASSERT_STRING_EQUAL(r.output.ptr, want);
	fg_proc_result_release(&r);
	o.dir = "/nonexistent/dir";
	CU_ASSERT_EQUAL(fg_proc_run(&r, &o, &err), FG_ENOTFOUND);
	CU_ASSERT_STRING_EQUAL(err.msg, "cannot enter directory "
	    "'/nonexistent/dir': No such file or directory");
	fg_proc_result_release(&r);
}

static void
test_proc_stdin_is_empty(void)
{
	const char *const argv[] = { "cat", NULL };
	struct fg_proc_result r;
	struct fg_err err = FG_ERR_INIT;

	CU_ASSERT_EQUAL(run(&r, argv, 5000, 0, NULL, &err), 0);
	CU_ASSERT_FALSE(r.timed_out);
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT_EQUAL(r.output.len, 0);
	fg_proc_result_release(&r);
}

static void
test_proc_does_not_leak_descriptors_or_ignored_signals(void)
{
	const char *const ls[] = { "ls", "/proc/self/fd", NULL };
	const char *const intr[] = { "sh", "-c", "kill -INT $$; echo alive",
	    NULL };
	struct fg_proc_result r;
	struct fg_err err = FG_ERR_INIT;
	int fd = open("/dev/null", O_RDONLY);

	/* An inheritable descriptor, as a careless library might leave. */
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(dup2(fd, 57), 57);
	CU_ASSERT_EQUAL(run(&r, ls, 0, 0, NULL, &err), 0);
	CU_ASSERT_STRING_EQUAL(r.output.ptr, "0\n1\n2\n3\n");
	fg_proc_result_release(&r);
	close(57);
	close(fd);
	signal(SIGINT, SIG_IGN);
	CU_ASSERT_EQUAL(run(&r, intr, 0, 0, NULL, &err), 0);
	CU_ASSERT_EQUAL(r.signal, SIGINT);
	CU_ASSERT_STRING_EQUAL(r.output.ptr, "");
	signal(SIGINT, SIG_DFL);
	fg_proc_result_release(&r);
}

/* A repository with two commits; the work tree and index then drift. */
static const char *
make_repo(const char *name)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", fg_unit_tmpdir(), name);
	CU_ASSERT_EQUAL_FATAL(fg_unit_sh(
	    "set -e; git init -q -b main '%s'; cd '%s';"
	    "git config user.name T; git config user.email t@example.org;"
	    "mkdir -p src/deep; echo one > README; echo 'int x;' > src/a.c;"
	    "printf '#!/bin/sh\\necho built\\n' > build.sh; chmod +x build.sh;"
	    "echo deep > src/deep/file; ln -s README link;"
	    "git add -A; git commit -q -m first;"
	    "echo two > README; git rm -q src/a.c; echo new > added;"
	    "git add -A; git commit -q -m second;"
	    "echo staged > README; git add README; echo dirty > added",
	    path, path), 0);
	return path;
}

static void
resolve_rev(git_oid *oid, git_repository *repo, const char *rev)
{
	git_object *o = NULL;

	CU_ASSERT_EQUAL_FATAL(git_revparse_single(&o, repo, rev), 0);
	git_oid_cpy(oid, git_object_id(o));
	git_object_free(o);
}

static void
test_proc_checkout_writes_commit_tree_and_leaves_index_alone(void)
{
	const char *path = make_repo("co");
	git_repository *repo = NULL;
	struct fg_err err = FG_ERR_INIT;
	char *dir = NULL;
	git_oid first;
	struct stat st;

	CU_ASSERT_EQUAL_FATAL(git_repository_open(&repo, path), 0);
	resolve_rev(&first, repo, "HEAD~1");
	CU_ASSERT_EQUAL_FATAL(fg_proc_mkdtemp(&dir, "co", &err), 0);
	CU_ASSERT_EQUAL(fg_proc_checkout(dir, repo, &first, &err), 0);
	CU_ASSERT_EQUAL(fg_unit_sh("cd '%s' && test \"$(cat README)\" = one"
	    " && test -f src/a.c && test ! -e added && test -x build.sh &&"
	    " test \"$(cat src/deep/file)\" = deep && test -L link &&"
	    " test ! -e .git", dir), 0);
	CU_ASSERT_EQUAL(stat(dir, &st), 0);
	/* The repository's index still has its staged change. */
	CU_ASSERT_EQUAL(fg_unit_sh("cd '%s' && test \"$(git diff --cached "
	    "--name-only)\" = README && test \"$(cat added)\" = dirty", path),
	    0);
	/* A second checkout into the same directory is refused. */
	CU_ASSERT_EQUAL(fg_proc_checkout(dir, repo, &first, &err),
	    FG_EINVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "is not empty"));
	CU_ASSERT_EQUAL(fg_proc_rmtree(dir, &err), 0);
	free(dir);
	git_repository_free(repo);
}

static void
test_proc_checkout_works_from_a_bare_repository(void)
{
	const char *path = make_repo("co-src");
	char bare[PATH_MAX];
	git_repository *repo = NULL;
	struct fg_err err = FG_ERR_INIT;
	char *dir = NULL;
	git_oid head, missing;

	snprintf(bare, sizeof(bare), "%s/co-bare.git", fg_unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(fg_unit_sh("git clone -q --bare '%s' '%s'",
	    path, bare), 0);
	CU_ASSERT_EQUAL_FATAL(git_repository_open(&repo, bare), 0);
	CU_ASSERT_TRUE(git_repository_is_bare(repo));
	resolve_rev(&head, repo, "HEAD");
	CU_ASSERT_EQUAL_FATAL(fg_proc_mkdtemp(&dir, "bare co", &err), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(dir, "/flowgate-bare-co-"));
	CU_ASSERT_EQUAL(fg_proc_checkout(dir, repo, &head, &err), 0);
	CU_ASSERT_EQUAL(fg_unit_sh("cd '%s' && test \"$(cat README)\" = two"
	    " && test \"$(cat added)\" = new && test ! -e src/a.c", dir), 0);
	CU_ASSERT_EQUAL(fg_unit_sh("test ! -e '%s/index'", bare), 0);
	CU_ASSERT_EQUAL(fg_proc_rmtree(dir, &err), 0);
	free(dir);
	CU_ASSERT_EQUAL(fg_proc_mkdtemp(&dir, NULL, &err), 0);
	git_oid_fromstr(&missing, "0123456789abcdef0123456789abcdef01234567");
	CU_ASSERT_EQUAL(fg_proc_checkout(dir, repo, &missing, &err),
	    FG_ENOTFOUND);
	CU_ASSERT_EQUAL(fg_proc_rmtree(dir, &err), 0);
	free(dir);
	git_repository_free(repo);
}

/*
 * A commit whose root tree holds name (a blob "pwned"); made with git
 * mktree, which, unlike git fsck, does not judge names.
 */
static void
hostile_commit(git_oid *out, const char *path, const char *name)
{
	char file[PATH_MAX];
	struct fg_buf id = FG_BUF_INIT;

	snprintf(file, sizeof(file), "%s/hostile-id", fg_unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(fg_unit_sh("set -e; cd '%s';"
	    "b=$(echo pwned | git hash-object -w --stdin);"
	    "t=$(printf '100644 blob %%s\\t%s\\n' $b | git mktree);"
	    "git commit-tree -m hostile $t > '%s'", path, name, file), 0);
	CU_ASSERT_EQUAL_FATAL(fg_read_file(&id, file, 100, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(git_oid_fromstrn(out, id.ptr, GIT_OID_HEXSZ), 0);
	fg_buf_release(&id);
}

static void
test_proc_checkout_refuses_unsafe_names_and_keeps_links_as_links(void)
{
	const char *path = make_repo("co-hostile");
	const char *names[] = { ".git", ".GIT", ".." };
	git_repository *repo = NULL;
	struct fg_err err = FG_ERR_INIT;
	char *dir = NULL;
	mode_t mask;
	git_oid id;
	size_t i;

	CU_ASSERT_EQUAL_FATAL(git_repository_open(&repo, path), 0);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		hostile_commit(&id, path, names[i]);
		CU_ASSERT_EQUAL_FATAL(fg_proc_mkdtemp(&dir, "hostile", &err),
		    0);
		CU_ASSERT_EQUAL(fg_proc_checkout(dir, repo, &id, &err),
		    FG_EINVALID);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "unsafe name"));
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, names[i]));
		/* Nothing written, in the directory or above it. */
		CU_ASSERT_EQUAL(fg_unit_sh("test -z \"$(ls -A '%s')\" &&"
		    " ! grep -rqs pwned '%s/..' --include=.git", dir, dir), 0);
		CU_ASSERT_EQUAL(fg_proc_rmtree(dir, &err), 0);
		free(dir);
		dir = NULL;
	}
	/*
	 * A link is written as a link to its text, never followed; modes
	 * are git's two, less the umask.
	 */
	resolve_rev(&id, repo, "HEAD~1");
	CU_ASSERT_EQUAL_FATAL(fg_proc_mkdtemp(&dir, "links", &err), 0);
	mask = umask(022);
	CU_ASSERT_EQUAL(fg_proc_checkout(dir, repo, &id, &err), 0);
	umask(mask);
	CU_ASSERT_EQUAL(fg_unit_sh("cd '%s' && test \"$(readlink link)\" ="
	    " README && test \"$(stat -c %%a README)\" = 644 &&"
	    " test \"$(stat -c %%a build.sh)\" = 755", dir), 0);
	CU_ASSERT_EQUAL(fg_proc_rmtree(dir, &err), 0);
	free(dir);
	git_repository_free(repo);
}

static void
test_proc_rmtree_removes_everything_and_follows_no_links(void)
{
	char outside[PATH_MAX];
	struct fg_err err = FG_ERR_INIT;
	char *dir = NULL;

	snprintf(outside, sizeof(outside), "%s/keep-me", fg_unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(fg_unit_sh("echo precious > '%s'", outside), 0);
	CU_ASSERT_EQUAL_FATAL(fg_proc_mkdtemp(&dir, "rm", &err), 0);
	CU_ASSERT_EQUAL_FATAL(fg_unit_sh("set -e; cd '%s'; mkdir -p a/b/c;"
	    "echo x > a/b/c/f; ln -s '%s' a/link; ln -s '%s' a/dirlink;"
	    "mkdir ro; echo y > ro/f; chmod 500 ro; chmod 000 a/b/c/f",
	    dir, outside, fg_unit_tmpdir()), 0);
	CU_ASSERT_EQUAL(fg_proc_rmtree(dir, &err), 0);
	CU_ASSERT_NOT_EQUAL(access(dir, F_OK), 0);
	CU_ASSERT_EQUAL(fg_unit_sh("test \"$(cat '%s')\" = precious",
	    outside), 0);
	/* Gone already: nothing to do. */
	CU_ASSERT_EQUAL(fg_proc_rmtree(dir, &err), 0);
	CU_ASSERT_EQUAL(fg_proc_rmtree("/", &err), FG_EINVALID);
	CU_ASSERT_EQUAL(fg_proc_rmtree("", &err), FG_EINVALID);
	free(dir);
}

static void
test_proc_rmtree_detached_removes_after_returning(void)
{
	struct fg_err err = FG_ERR_INIT;
	char *dir = NULL;
	int i;

	CU_ASSERT_EQUAL_FATAL(fg_proc_mkdtemp(&dir, "rm-later", &err), 0);
	CU_ASSERT_EQUAL_FATAL(fg_unit_sh("set -e; cd '%s'; mkdir -p a/b;"
	    "for i in 1 2 3 4 5 6 7 8; do echo $i > a/b/f$i; done;"
	    "mkdir ro; echo y > ro/f; chmod 500 ro", dir), 0);
	CU_ASSERT_EQUAL(fg_proc_rmtree_detached(dir, &err), 0);
	/* Removed by a process of its own: wait for it, 10 s at most. */
	for (i = 0; i < 1000 && access(dir, F_OK) == 0; i++)
		usleep(10000);
	CU_ASSERT_NOT_EQUAL(access(dir, F_OK), 0);
	CU_ASSERT_EQUAL(fg_proc_rmtree_detached("/", &err), FG_EINVALID);
	CU_ASSERT_EQUAL(fg_proc_rmtree_detached("", &err), FG_EINVALID);
	free(dir);
}

static CU_TestInfo tests[] = {
	{ "exit codes are reported", test_proc_reports_exit_codes },
	{ "death by signal is reported", test_proc_reports_death_by_signal },
	{ "timeout kills a sleep within the limit",
	    test_proc_timeout_kills_sleep },
	{ "timeout escalates to SIGKILL after the grace",
	    test_proc_timeout_escalates_to_sigkill },
	{ "a leftover background job does not hold us",
	    test_proc_leftover_background_does_not_hold_us },
	{ "stdout and stderr are captured together in order",
	    test_proc_captures_stdout_and_stderr_in_order },
	{ "the output cap keeps the tail",
	    test_proc_output_cap_keeps_the_tail },
	{ "secrets are masked", test_proc_masks_secrets },
	{ "a secret cut by the cap is masked",
	    test_proc_masks_a_secret_cut_by_the_cap },
	{ "the environment is clean, quarantine variables dropped",
	    test_proc_environment_is_clean },
	{ "a nameless environment entry is refused",
	    test_proc_refuses_nameless_environment_entry },
	{ "argv reaches the program as literal bytes",
	    test_proc_argv_reaches_program_as_literal_bytes },
	{ "a missing program fails clearly",
	    test_proc_missing_program_fails_clearly },
	{ "non-executables and scripts without #! are refused",
	    test_proc_refuses_non_executables_and_shebangless_scripts },
	{ "runs in the given directory",
	    test_proc_runs_in_the_given_directory },
	{ "stdin is empty", test_proc_stdin_is_empty },
	{ "no descriptors or ignored signals leak",
	    test_proc_does_not_leak_descriptors_or_ignored_signals },
	{ "checkout writes the tree and leaves the index alone",
	    test_proc_checkout_writes_commit_tree_and_leaves_index_alone },
	{ "checkout works from a bare repository",
	    test_proc_checkout_works_from_a_bare_repository },
	{ "a detached removal removes after returning",
	    test_proc_rmtree_detached_removes_after_returning },
	{ "checkout refuses unsafe names, keeps links as links",
	    test_proc_checkout_refuses_unsafe_names_and_keeps_links_as_links },
	{ "rmtree removes everything and follows no links",
	    test_proc_rmtree_removes_everything_and_follows_no_links },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("proc", tests)
