/*
 * repo.c - open, create and equip repositories (see repo.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repo.h"
#include "banned.h"

int
fg_repo_open(git_repository **out, const char *path, struct fg_err *err)
{
	const char *env = getenv("GIT_DIR");
	int rc;

	*out = NULL;
	if (path != NULL || (env != NULL && *env != '\0')) {
		const char *p = path != NULL ? path : env;

		rc = git_repository_open_ext(out, p,
		    GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
		if (rc == GIT_ENOTFOUND)
			return fg_err_set(err, FG_ENOTFOUND, "'%s' is not a "
			    "git repository", p);
	} else {
		rc = git_repository_open_ext(out, ".", 0, NULL);
		if (rc == GIT_ENOTFOUND)
			return fg_err_set(err, FG_ENOTFOUND, "not in a git "
			    "repository (use --repo DIR or set GIT_DIR)");
	}
	if (rc < 0)
		return fg_err_git(err, FG_EIO, "cannot open the repository");
	return 0;
}

int
fg_repo_init(git_repository **out, bool *created, const char *path,
    struct fg_err *err)
{
	git_repository_init_options opts;
	int rc;

	*out = NULL;
	*created = false;
	rc = git_repository_open_ext(out, path, GIT_REPOSITORY_OPEN_NO_SEARCH,
	    NULL);
	if (rc == 0)
		return 0;
	if (rc != GIT_ENOTFOUND)
		return fg_err_git(err, FG_EIO, "cannot open '%s'", path);
	git_repository_init_options_init(&opts,
	    GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH |
	    GIT_REPOSITORY_INIT_NO_REINIT;
	opts.initial_head = "main";
	if (git_repository_init_ext(out, path, &opts) < 0)
		return fg_err_git(err, FG_EIO, "cannot create '%s'", path);
	*created = true;
	return 0;
}

static const char *
basename_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != NULL ? s + 1 : path;
}

static int
install_one(bool *changed, const char *dir, const char *name,
    const char *hook, struct fg_err *err)
{
	char path[PATH_MAX], target[PATH_MAX];
	struct stat st;
	ssize_t n;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path))
		return fg_err_set(err, FG_ELIMIT, "path too long: '%s'", dir);
	if (lstat(path, &st) == 0) {
		n = S_ISLNK(st.st_mode) ?
		    readlink(path, target, sizeof(target) - 1) : -1;
		if (n >= 0) {
			target[n] = '\0';
			if (strcmp(target, hook) == 0)
				return 0;
		}
		/*
		 * A link to another build of flowgate-hook (the program moved)
		 * is ours to update; anything else is somebody's own hook.
		 */
		if (n < 0 || strcmp(basename_of(target), "flowgate-hook") != 0)
			return fg_err_set(err, FG_ECONFLICT, "'%s' exists and "
			    "is not flowgate's hook; move it away first",
			    path);
		if (unlink(path) < 0)
			return fg_err_set(err, FG_EIO, "cannot replace '%s': "
			    "%s", path, strerror(errno));
	}
	if (symlink(hook, path) < 0)
		return fg_err_set(err, FG_EIO, "cannot link '%s': %s", path,
		    strerror(errno));
	*changed = true;
	return 0;
}

/*
 * Remove dir/update if it is a link to a flowgate-hook (any build of it);
 * anything else there is somebody's own and stays.
 */
static int
remove_update(bool *changed, const char *dir, struct fg_err *err)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	if ((size_t)snprintf(path, sizeof(path), "%s/update", dir) >=
	    sizeof(path))
		return fg_err_set(err, FG_ELIMIT, "path too long: '%s'", dir);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return 0;
	target[n] = '\0';
	if (strcmp(basename_of(target), "flowgate-hook") != 0)
		return 0;
	if (unlink(path) < 0)
		return fg_err_set(err, FG_EIO, "cannot remove '%s': %s", path,
		    strerror(errno));
	*changed = true;
	return 0;
}

int
fg_repo_install_hooks(bool *changed, git_repository *repo, const char *hook,
    bool with_update, struct fg_err *err)
{
	static const char *const names[] = {
		"pre-receive", "post-receive", "update",
	};
	size_t i, n = with_update ? 3 : 2;
	char dir[PATH_MAX];
	int rc;

	*changed = false;
	if (hook[0] != '/')
		return fg_err_set(err, FG_EINVALID, "hook program '%s' is not "
		    "an absolute path", hook);
	if (access(hook, X_OK) < 0)
		return fg_err_set(err, FG_ENOTFOUND, "hook program '%s' is "
		    "not executable: %s", hook, strerror(errno));
	snprintf(dir, sizeof(dir), "%shooks", git_repository_path(repo));
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return fg_err_set(err, FG_EIO, "cannot create '%s': %s", dir,
		    strerror(errno));
	for (i = 0; i < n; i++) {
		rc = install_one(changed, dir, names[i], hook, err);
		if (rc < 0)
			return rc;
	}
	return with_update ? 0 : remove_update(changed, dir, err);
}

static void
copy_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src);
}

void
fg_repo_identity(char *name, size_t nsize, char *email, size_t esize,
    git_repository *repo)
{
	const char *u = getenv("FLOWGATE_USER"), *e = getenv("FLOWGATE_EMAIL");
	git_signature *sig = NULL;

	if (u != NULL && *u != '\0') {
		copy_str(name, nsize, u);
		if (e != NULL && *e != '\0')
			copy_str(email, esize, e);
		else
			snprintf(email, esize, "%s@localhost", u);
		return;
	}
	if (repo != NULL && git_signature_default(&sig, repo) == 0) {
		copy_str(name, nsize, sig->name);
		copy_str(email, esize, sig->email);
		git_signature_free(sig);
		return;
	}
	copy_str(name, nsize, "flowgate");
	copy_str(email, esize, "flowgate@localhost");
}
