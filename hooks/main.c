/*
 * main.c - flowgate-hook: one program git runs as pre-receive, update and
 * post-receive, told apart by the name it was called by (argv[0]).
 *
 * What it enforces so far: only flowgate writes under refs/flowgate/ and
 * refs/notes/flowgate; a push of refs/flowgate/config is accepted only when
 * the pushed config is valid, and refused with every problem otherwise.
 *
 * Pushed objects are still in the quarantine while pre-receive runs, so
 * they are read through a repository opened from the environment
 * (GIT_OBJECT_DIRECTORY, GIT_ALTERNATE_OBJECT_DIRECTORIES), never through
 * one opened by path; see ../shared/notes/git-hooks-internals.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "buf.h"
#include "config.h"
#include "log.h"

#define HOOK_LINE_MAX 4096

static void
log_to_stderr(enum fg_log_level level, const char *line, void *payload)
{
	(void)level;
	(void)payload;
	fprintf(stderr, "flowgate: %s\n", line);
}

static bool
is_guarded(const char *ref)
{
	return strncmp(ref, "refs/flowgate/", 14) == 0 ||
	    strcmp(ref, "refs/notes/flowgate") == 0;
}

/*
 * Decide one ref update.  Returns 0 to accept, 1 to refuse (the reasons
 * already printed for the pusher).
 */
static int
check_ref(git_repository *qrepo, const char *old_hex, const char *new_hex,
    const char *ref)
{
	struct fg_buf p = FG_BUF_INIT, f = FG_BUF_INIT;
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err err = FG_ERR_INIT;
	git_oid id;
	size_t i;
	int rc = 1;

	(void)old_hex;
	if (!is_guarded(ref))
		return 0;
	if (strcmp(ref, FG_CONFIG_REF) != 0) {
		fprintf(stderr, "flowgate: %s: refused: only flowgate writes "
		    "refs/flowgate/ and refs/notes/flowgate\n", ref);
		return 1;
	}
	if (git_oid_fromstr(&id, new_hex) < 0 || git_oid_is_zero(&id)) {
		fprintf(stderr, "flowgate: %s: refused: the config cannot be "
		    "deleted\n", ref);
		return 1;
	}
	if (fg_config_read(&p, &f, qrepo, &id, &err) < 0) {
		fprintf(stderr, "flowgate: %s: refused: %s\n", ref, err.msg);
		goto out;
	}
	if (fg_config_check(p.ptr, p.len, FG_CONFIG_PIPELINE,
	    f.len ? f.ptr : NULL, f.len, FG_CONFIG_FLOWS, &d) < 0) {
		for (i = 0; i < d.n; i++)
			fprintf(stderr, "flowgate: %s\n", d.lines[i]);
		fprintf(stderr, "flowgate: %s: refused: the config has %zu "
		    "problem%s\n", ref, fg_diags_count(&d),
		    fg_diags_count(&d) == 1 ? "" : "s");
		goto out;
	}
	rc = 0;
out:
	fg_diags_release(&d);
	fg_buf_release(&p);
	fg_buf_release(&f);
	return rc;
}

static int
open_quarantine(git_repository **out)
{
	if (git_repository_open_ext(out, NULL, GIT_REPOSITORY_OPEN_FROM_ENV,
	    NULL) < 0) {
		const git_error *e = git_error_last();

		fprintf(stderr, "flowgate: cannot open the repository: %s\n",
		    e ? e->message : "unknown error");
		return -1;
	}
	return 0;
}

static int
pre_receive(void)
{
	char line[HOOK_LINE_MAX], old_hex[64], new_hex[64], ref[HOOK_LINE_MAX];
	git_repository *repo = NULL;
	int refused = 0;

	if (open_quarantine(&repo) < 0)
		return 1;
	while (fgets(line, sizeof(line), stdin) != NULL) {
		if (sscanf(line, "%63s %63s %4095s", old_hex, new_hex,
		    ref) != 3) {
			fprintf(stderr, "flowgate: malformed hook input\n");
			refused = 1;
			continue;
		}
		refused |= check_ref(repo, old_hex, new_hex, ref);
	}
	git_repository_free(repo);
	return refused;
}

static int
update(int argc, char **argv)
{
	git_repository *repo = NULL;
	int rc;

	if (argc != 4) {
		fprintf(stderr, "flowgate: update hook needs REF OLD NEW\n");
		return 1;
	}
	if (open_quarantine(&repo) < 0)
		return 1;
	rc = check_ref(repo, argv[2], argv[3], argv[1]);
	git_repository_free(repo);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *name = strrchr(argv[0], '/');
	int rc;

	name = name != NULL ? name + 1 : argv[0];
	fg_log_set_sink(log_to_stderr, NULL);
	git_libgit2_init();
	if (strcmp(name, "pre-receive") == 0) {
		rc = pre_receive();
	} else if (strcmp(name, "update") == 0) {
		rc = update(argc, argv);
	} else if (strcmp(name, "post-receive") == 0) {
		rc = 0;
	} else {
		fprintf(stderr, "usage: link flowgate-hook as a repository's "
		    "pre-receive, update and post-receive hooks\n"
		    "(flowgate init does it); it is run by git, not by "
		    "hand\n");
		rc = 2;
	}
	git_libgit2_shutdown();
	return rc;
}
