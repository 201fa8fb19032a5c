/*
 * repo.h - finding, creating and equipping repositories.
 *
 * fg_repo_open() finds the repository the way git does: an explicit path,
 * else $GIT_DIR, else a search upward from the current directory.  The hooks
 * open theirs differently (see hooks/), because pushed objects sit in a
 * quarantine only an environment-opened repository can see.
 *
 * Ownership: repositories returned through out are the caller's
 * (git_repository_free).  Thread-safety: as libgit2's.
 */
#ifndef FG_REPO_H
#define FG_REPO_H

#include <stdbool.h>
#include <stddef.h>

#include <git2.h>

#include "err.h"


/* Open path, or $GIT_DIR, or discover from the current directory. */
int fg_repo_open(git_repository **out, const char *path, struct fg_err *err);

/*
 * Open the bare repository at path, creating it (and missing parent
 * directories) when it does not exist; *created says which.  An existing
 * repository that is not bare is opened as it is.
 */
int fg_repo_init(git_repository **out, bool *created, const char *path,
    struct fg_err *err);

/*
 * Link the repository's pre-receive and post-receive hooks to the program
 * at hook (an absolute path), and its update hook too when with_update is
 * set (servers that run only update).  Without it, an update hook that is
 * a link to a flowgate-hook is removed: beside pre-receive it would only
 * cost git one more process per ref.  Links already pointing there are
 * left alone; *changed says whether anything was written.  A hook that
 * exists and is something else is not overwritten: FG_ECONFLICT, naming it
 * (a foreign update hook is left alone when update is not wanted).
 */
int fg_repo_install_hooks(bool *changed, git_repository *repo,
    const char *hook, bool with_update, struct fg_err *err);

/*
 * Who is acting: FLOWGATE_USER (and FLOWGATE_EMAIL) when set, else git's
 * user.name and user.email from the repository's config, else "flowgate".
 */
void fg_repo_identity(char *name, size_t nsize, char *email, size_t esize,
    git_repository *repo);

#endif
