/*
 * main.c - flowgate-hook: one program git runs as pre-receive, update and
 * post-receive, told apart by the name it was called by (argv[0]).
 *
 * The program is thin: it reads what git hands it, opens the repository,
 * asks lib/hook.h for the verdict and prints it, one line per issue on
 * stderr (the pusher sees them after "remote:") and one verdict line.
 * Exit 1 refuses the push.
 *
 * Two repositories (../shared/notes/git-hooks-internals.md): pushed objects
 * sit in the quarantine while pre-receive runs, so every read of them goes
 * through a repository opened from the environment
 * (GIT_OBJECT_DIRECTORY, GIT_ALTERNATE_OBJECT_DIRECTORIES); every write
 * goes through a second one opened by path ($GIT_DIR), and names pushed
 * commits by hex only, so that nothing it writes can point into a
 * quarantine that vanishes when the push is refused.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>
#include <openssl/crypto.h>

#include "buf.h"
#include "config.h"
#include "hook.h"
#include "log.h"
#include "rules.h"
#include "store.h"

/*
 * Tearing down what pre-receive read is the slowest thing it does after
 * the rules: on a 10,000-commit push, freeing the quarantine repository's
 * object cache (some 30,000 parsed commits and trees, one by one) and
 * libgit2's globals took 47 ms of 300 (tests/bench/hooks.sh).  The process
 * exits right after, and the kernel takes it all back at once, so judge()
 * leaves them be, as git itself does for what lives until exit.  Builds
 * with AddressSanitizer free everything, so that LeakSanitizer still
 * tells a real leak from this.  Only reads are left: every write (the
 * activity record) is complete and closed before.
 */
#if defined(__SANITIZE_ADDRESS__)
#define FREE_AT_EXIT	1
#else
#define FREE_AT_EXIT	0
#endif

/*
 * Every line for the pusher goes through the log (fg_log_warnx), which
 * replaces control characters and bytes that are not UTF-8: refs, paths
 * and subjects from the push, quoted in the lines, cannot drive the
 * pusher's terminal.
 */
static void
log_to_stderr(enum fg_log_level level, const char *line, void *payload)
{
	(void)level;
	(void)payload;
	fprintf(stderr, "flowgate: %s\n", line);
}

static int
open_env_repo(git_repository **out)
{
	if (git_repository_open_ext(out, NULL, GIT_REPOSITORY_OPEN_FROM_ENV,
	    NULL) < 0) {
		const git_error *e = git_error_last();

		fg_log_warnx("cannot open the repository: %s",
		    e ? e->message : "unknown error");
		return -1;
	}
	return 0;
}

/*
 * Record the verdict in the activity log, through a store opened by path:
 * never through the environment-opened repository, whose writes would
 * land in the quarantine (see the comment at the top).  A verdict that
 * cannot be recorded refuses the push: an audit trail that loses entries
 * is no trail.  Returns 0 or -1 (already printed).
 *
 * A refusal is flushed to disk before the pusher hears of it: nothing
 * else will ever tell of that push.  An accepted verdict is not (a store
 * append costs three disk flushes): post-receive follows it and flushes
 * the inbox event that names the same push (ref, old and new ids,
 * pusher) before it says "queued", so a power loss between the two can
 * lose the activity record of an accepted push, never all trace of it.
 */
static int
record(const char *git_dir, const struct fg_hook_push *p,
    const struct fg_rules_result *r, const struct fg_config *cfg,
    const char *pusher)
{
	struct fg_store *st = NULL;
	struct fg_err err = FG_ERR_INIT;
	bool refused = r->n + r->dropped > 0;
	int rc;

	rc = fg_store_open(&st, git_dir, refused ? FG_STORE_FSYNC : 0, &err);
	if (rc == 0)
		rc = fg_hook_record(st, p, r, cfg, pusher, &err);
	fg_store_free(st);
	if (rc < 0) {
		fg_log_warnx("cannot record the verdict in "
		    "refs/flowgate/activity: %s", err.msg);
		return -1;
	}
	return 0;
}

/*
 * Decide push p, print the issues and the verdict, record it.  Returns
 * the exit status: 0 accepted, 1 refused.
 */
static int
judge(const struct fg_hook_push *p)
{
	struct fg_rules_result r = FG_RULES_RESULT_INIT;
	struct fg_config *cfg = NULL;
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf line = FG_BUF_INIT;
	git_repository *qrepo = NULL;
	const char *git_dir;
	size_t i;
	int rc = 1;

	if (open_env_repo(&qrepo) < 0)
		return 1;
	git_dir = git_repository_path(qrepo);
	if (fg_hook_decide(&r, &cfg, qrepo, git_dir, p, &err) < 0) {
		fg_log_warnx("cannot check the push: %s", err.msg);
		fg_rules_add(&r, "flowgate", p->n > 0 ? p->v[0].ref : "",
		    NULL, NULL, err.msg, "tell the server's admin");
	}
	for (i = 0; i < r.n; i++) {
		fg_buf_reset(&line);
		if (fg_rules_issue_format(&line, &r.issues[i]) == 0)
			fg_log_warnx("%s", line.ptr);
	}
	if (r.dropped > 0)
		fg_log_warnx("... and %zu more issues", r.dropped);
	rc = r.n + r.dropped > 0 ? 1 : 0;
	if (record(git_dir, p, &r, cfg, fg_hook_pusher(cfg)) < 0 && rc == 0) {
		fg_rules_add(&r, "flowgate", p->n > 0 ? p->v[0].ref : "",
		    NULL, NULL, "the verdict could not be recorded", NULL);
		rc = 1;
	}
	fg_buf_reset(&line);
	if (fg_hook_verdict(&line, p, &r) == 0)
		fg_log_warnx("%s", line.ptr);
	fg_buf_release(&line);
	fg_rules_result_release(&r);
	fg_config_free(cfg);
	if (FREE_AT_EXIT)
		git_repository_free(qrepo);
	return rc;
}

static int
pre_receive(void)
{
	struct fg_hook_push p = FG_HOOK_PUSH_INIT;
	struct fg_err err = FG_ERR_INIT;
	int rc;

	if (fg_hook_push_read(&p, stdin, &err) < 0) {
		fg_log_warnx("push refused: %s", err.msg);
		fg_hook_push_release(&p);
		return 1;
	}
	rc = judge(&p);
	fg_hook_push_release(&p);
	return rc;
}

/*
 * True when this program is also installed as pre-receive beside the
 * update hook git ran (argv0): pre-receive has judged the whole push
 * already, so update would only say it all again, ref by ref.
 */
static bool
pre_receive_judged(const char *argv0)
{
	char self[PATH_MAX], other[PATH_MAX];
	struct fg_buf path = FG_BUF_INIT;
	const char *slash = strrchr(argv0, '/');
	bool same = false;

	if (realpath(argv0, self) == NULL)
		return false;
	if (fg_buf_add(&path, argv0, slash != NULL ?
	    (size_t)(slash - argv0 + 1) : 0) == 0 &&
	    fg_buf_puts(&path, "pre-receive") == 0 &&
	    realpath(path.ptr, other) != NULL)
		same = strcmp(self, other) == 0;
	fg_buf_release(&path);
	return same;
}

/*
 * update REF OLD NEW: the same verdict, one ref at a time, for servers
 * that run only the update hook.  Objects are out of quarantine here.
 */
static int
update(int argc, char **argv)
{
	struct fg_hook_push p = FG_HOOK_PUSH_INIT;
	struct fg_err err = FG_ERR_INIT;
	int rc;

	if (argc != 4) {
		fprintf(stderr, "flowgate: update hook needs REF OLD NEW\n");
		return 1;
	}
	if (fg_hook_push_add(&p, argv[2], argv[3], argv[1], &err) < 0) {
		fg_log_warnx("push refused: %s", err.msg);
		fg_hook_push_release(&p);
		return 1;
	}
	rc = judge(&p);
	fg_hook_push_release(&p);
	return rc;
}

/*
 * post-receive: queue what was accepted in the inbox, note the pushed
 * tips, tell the pusher in one line per ref, wake the daemon.  git waits
 * for this hook, so it does nothing slow: no gates, no deployments.  Its
 * exit status changes nothing (the refs have moved); failures are told.
 */
static int
post_receive(void)
{
	struct fg_hook_push p = FG_HOOK_PUSH_INIT;
	struct fg_err err = FG_ERR_INIT;
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_buf msg = FG_BUF_INIT;
	struct fg_config *cfg = NULL;
	struct fg_store *st = NULL;
	char name[256];
	const char *git_dir, *line, *nl;
	struct fg_err cerr = FG_ERR_INIT;

	if (fg_hook_push_read(&p, stdin, &err) < 0) {
		fg_log_warnx("nothing queued: %s", err.msg);
		goto out;
	}
	/*
	 * One repository for the whole hook, opened by path ($GIT_DIR; the
	 * objects are out of quarantine here): the config is read through
	 * it, and the store writes through it.  "queued" is a promise: the
	 * inbox is on disk before we say it (see fg_hook_queue in
	 * lib/hook.h, which also writes the pushes notes in the same pack).
	 */
	git_dir = getenv("GIT_DIR");
	if (git_dir == NULL || *git_dir == '\0')
		git_dir = ".";
	if (fg_store_open(&st, git_dir, FG_STORE_FSYNC, &err) < 0) {
		fg_log_warnx("the push is in, but could not be queued for "
		    "the pipeline: %s", err.msg);
		goto out;
	}
	git_dir = git_repository_path(fg_store_repo(st));
	/* Without a config events are queued all the same. */
	(void)fg_config_load(&cfg, fg_store_repo(st), &d, &cerr);
	fg_hook_repo_name(name, sizeof(name), git_dir);
	if (fg_hook_queue(&msg, st, &p, cfg, fg_hook_pusher(cfg), name,
	    &err) < 0) {
		fg_log_warnx("the push is in, but could not be queued for "
		    "the pipeline: %s", err.msg);
		goto out;
	}
	for (line = msg.ptr; *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		if (nl == NULL)
			break;
		fg_log_warnx("%.*s", (int)(nl - line), line);
	}
	fg_hook_wake(git_dir);
out:
	/*
	 * Everything written is complete and closed (the stores write no
	 * pack on close for the few objects of a hook); the repository, its
	 * pack maps and caches are left to the kernel, as in judge().
	 */
	if (FREE_AT_EXIT) {
		fg_store_free(st);
		fg_config_free(cfg);
		fg_diags_release(&d);
		fg_buf_release(&msg);
		fg_hook_push_release(&p);
	}
	return 0;
}

/*
 * Set libgit2 and libcrypto up for a hook run, which must cost next to
 * nothing (git waits on it, on every push):
 *
 * - libgit2 re-hashes every object it reads by default.  The objects a
 *   hook reads were hashed a moment ago by git's index-pack (which names
 *   them by that hash) or are the repository's own; re-hashing them costs
 *   a fifth of the time a 10,000-commit push is checked in
 *   (tests/bench/hooks.sh) and proves nothing new.
 * - Every repository open reads the system, global and XDG git config
 *   files besides the repository's own.  Nothing the hooks do comes from
 *   them: flowgate's settings are in refs/flowgate/config; records and
 *   notes are signed with identities flowgate names itself (never
 *   user.name); objects are found where the repository (and git's
 *   quarantine variables) say, which the repository's own config and
 *   objects/info/alternates decide; the store writes its objects, packs
 *   and refs itself and decides what it flushes (store.h, DURABILITY).
 *   What the repository's own config says (its format version and
 *   extensions, core.bare) is still read.  So the other levels' search
 *   paths are emptied: two stats and opens less per open.
 * - Owner validation (safe.directory, read from those global files) stat()s
 *   and readlink()s the path on every open.  git runs this program from
 *   the repository's own hooks directory: whoever could plant a hostile
 *   repository here could as well plant the hooks that run, so the check
 *   protects nothing in a hook, and git checked the repository before it
 *   started us.
 * - libcrypto reads openssl.cnf on first use, and its first fetch of a
 *   digest (EVP_MD_fetch, in every store write) first registers every
 *   built-in cipher and digest under its legacy names and copies all
 *   those names into its name map: 9% of pre-receive's CPU.  The hooks
 *   use libcrypto for SHA-1 only (object ids and pack checksums,
 *   lib/pack.c and lib/store.c), fetched by name from the default
 *   provider, which needs neither the legacy tables nor any provider or
 *   engine setting from openssl.cnf.  Nor do the hooks need OpenSSL's
 *   exit-time cleanup (freeing its tables, 2% of a hook run), but for
 *   LeakSanitizer (FREE_AT_EXIT).
 */
static void
setup_libs(void)
{
	OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG |
	    OPENSSL_INIT_NO_ADD_ALL_CIPHERS | OPENSSL_INIT_NO_ADD_ALL_DIGESTS |
	    (FREE_AT_EXIT ? 0 : OPENSSL_INIT_NO_ATEXIT), NULL);
	git_libgit2_init();
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0);
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_SYSTEM, "");
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_GLOBAL, "");
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_XDG, "");
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_PROGRAMDATA,
	    "");
	git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
}

int
main(int argc, char **argv)
{
	const char *name = strrchr(argv[0], '/');
	int rc;

	name = name != NULL ? name + 1 : argv[0];
	fg_log_set_sink(log_to_stderr, NULL);
	/*
	 * An update hook beside a flowgate pre-receive has nothing to add;
	 * it returns before libgit2 is even initialized (git runs it once
	 * per ref, so this is on every push's path).
	 */
	if (strcmp(name, "update") == 0 && pre_receive_judged(argv[0]))
		return 0;
	setup_libs();
	if (strcmp(name, "pre-receive") == 0) {
		rc = pre_receive();
	} else if (strcmp(name, "update") == 0) {
		rc = update(argc, argv);
	} else if (strcmp(name, "post-receive") == 0) {
		rc = post_receive();
	} else {
		fprintf(stderr, "usage: link flowgate-hook as a repository's "
		    "pre-receive, update and post-receive hooks\n"
		    "(flowgate init does it); it is run by git, not by "
		    "hand\n");
		rc = 2;
	}
	if (FREE_AT_EXIT)
		git_libgit2_shutdown();
	return rc;
}
