/*
 * hook.c - the verdict on a push (see hook.h).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "hook.h"
#include "pipeline.h"
#include "util.h"
#include "banned.h"

static const char *const default_identity[] = {
	"GL_USER", "GITEA_PUSHER_NAME", "REMOTE_USER", "FLOWGATE_USER",
};

void
fg_hook_push_release(struct fg_hook_push *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		free((char *)p->v[i].ref);
	free(p->v);
	p->v = NULL;
	p->n = p->alloc = 0;
}

static bool
is_hex40(const char *s)
{
	size_t i;

	for (i = 0; i < 40; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return false;
	}
	return s[40] == '\0';
}

int
fg_hook_push_add(struct fg_hook_push *p, const char *old_hex,
    const char *new_hex, const char *ref, struct fg_err *err)
{
	struct fg_rules_update *u;

	if (p->n >= FG_HOOK_MAX_COMMANDS)
		return fg_err_set(err, FG_ELIMIT, "more than %d ref updates "
		    "in one push; push fewer refs at a time",
		    FG_HOOK_MAX_COMMANDS);
	if (!is_hex40(old_hex) || !is_hex40(new_hex))
		return fg_err_set(err, FG_EINVALID, "a commit id is not 40 "
		    "hex digits");
	if (!fg_refname_is_valid(ref))
		return fg_err_set(err, FG_EINVALID, "'%s' is not a valid ref "
		    "name", ref);
	if (p->n == p->alloc) {
		size_t na = p->alloc ? p->alloc * 2 : 8;
		struct fg_rules_update *v = realloc(p->v, na * sizeof(*v));

		if (v == NULL)
			return fg_err_set(err, FG_ENOMEM, "out of memory");
		p->v = v;
		p->alloc = na;
	}
	u = &p->v[p->n];
	memset(u, 0, sizeof(*u));
	if (git_oid_fromstr(&u->old_id, old_hex) < 0 ||
	    git_oid_fromstr(&u->new_id, new_hex) < 0)
		return fg_err_set(err, FG_EINVALID, "a commit id is not 40 "
		    "hex digits");
	u->ref = fg_strdup(ref);
	if (u->ref == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	p->n++;
	return 0;
}

int
fg_hook_push_read(struct fg_hook_push *p, FILE *in, struct fg_err *err)
{
	char line[FG_HOOK_LINE_MAX + 2];
	char *sp1, *sp2, *nl;
	size_t lineno = 0;
	int rc;

	while (fgets(line, sizeof(line), in) != NULL) {
		lineno++;
		nl = strchr(line, '\n');
		if (nl == NULL && !feof(in))
			return fg_err_set(err, FG_ELIMIT, "line %zu: longer "
			    "than %d bytes", lineno, FG_HOOK_LINE_MAX);
		if (nl != NULL)
			*nl = '\0';
		sp1 = strchr(line, ' ');
		sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
		if (sp2 == NULL)
			return fg_err_set(err, FG_EINVALID, "line %zu: not "
			    "'<old> <new> <ref>'", lineno);
		*sp1 = '\0';
		*sp2 = '\0';
		rc = fg_hook_push_add(p, line, sp1 + 1, sp2 + 1, err);
		if (rc < 0)
			return fg_err_set(err, rc, "line %zu: %s", lineno,
			    err != NULL ? err->msg : "invalid");
	}
	if (ferror(in))
		return fg_err_set(err, FG_EIO, "cannot read the ref updates");
	return 0;
}

const char *
fg_hook_pusher(const struct fg_config *cfg)
{
	const char *v;
	size_t i;

	if (cfg != NULL && cfg->identity.n > 0) {
		for (i = 0; i < cfg->identity.n; i++) {
			v = getenv(cfg->identity.v[i]);
			if (v != NULL && *v != '\0')
				return v;
		}
		return FG_HOOK_UNKNOWN_PUSHER;
	}
	for (i = 0; i < FG_ARRAY_SIZE(default_identity); i++) {
		v = getenv(default_identity[i]);
		if (v != NULL && *v != '\0')
			return v;
	}
	return FG_HOOK_UNKNOWN_PUSHER;
}

static bool
is_guarded(const char *ref)
{
	return strncmp(ref, "refs/flowgate/", 14) == 0 ||
	    strcmp(ref, "refs/notes/flowgate") == 0;
}

/*
 * True when who is listed in $GIT_DIR/flowgate-admins: one identity per
 * line, surrounding blanks ignored, '#' starts a comment.  A missing or
 * unreadable file lists nobody.
 */
static bool
break_glass(const char *git_dir, const char *who)
{
	struct fg_buf path = FG_BUF_INIT, text = FG_BUF_INIT;
	char *line, *end, *next;
	bool found = false;

	if (git_dir == NULL || strcmp(who, FG_HOOK_UNKNOWN_PUSHER) == 0)
		return false;
	if (fg_buf_printf(&path, "%s/%s", git_dir, FG_HOOK_ADMINS_FILE) < 0 ||
	    fg_read_file(&text, path.ptr, FG_HOOK_ADMINS_MAX, NULL) < 0)
		goto out;
	for (line = text.ptr; line != NULL && *line != '\0' && !found;
	    line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		end = strchr(line, '#');
		if (end != NULL)
			*end = '\0';
		while (isspace((unsigned char)*line))
			line++;
		end = line + strlen(line);
		while (end > line && isspace((unsigned char)end[-1]))
			*--end = '\0';
		found = *line != '\0' && strcmp(line, who) == 0;
	}
out:
	fg_buf_release(&path);
	fg_buf_release(&text);
	return found;
}

static bool
is_admin(const struct fg_config *cfg, const char *who)
{
	size_t i;

	if (cfg == NULL || strcmp(who, FG_HOOK_UNKNOWN_PUSHER) == 0)
		return false;
	for (i = 0; i < cfg->admins.n; i++) {
		if (strcmp(cfg->admins.v[i], who) == 0)
			return true;
	}
	return false;
}

static int
add(struct fg_rules_result *out, const char *rule, const char *ref,
    const char *finding, const char *fix, struct fg_err *err)
{
	if (fg_rules_add(out, rule, ref, NULL, NULL, finding, fix) < 0)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	return 0;
}

/* A push of refs/flowgate/config: admins only, and only a valid config. */
static int
check_config_push(struct fg_rules_result *out, git_repository *repo,
    const struct fg_config *cfg, const char *git_dir,
    const struct fg_rules_update *u, struct fg_err *err)
{
	struct fg_buf p = FG_BUF_INIT, f = FG_BUF_INIT, msg = FG_BUF_INIT;
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err rerr = FG_ERR_INIT;
	const char *who = fg_hook_pusher(cfg);
	size_t i;
	int rc = 0;

	if (git_oid_is_zero(&u->new_id)) {
		rc = add(out, "protected-ref", u->ref, "the config cannot be "
		    "deleted", "push a changed config instead", err);
		goto out;
	}
	if (!is_admin(cfg, who) && !break_glass(git_dir, who)) {
		if (fg_buf_printf(&msg, "'%s' is not an admin; only admins "
		    "push the config", who) < 0) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		rc = add(out, "protected-ref", u->ref, msg.ptr, "ask an admin "
		    "(the config's admins list) to push it", err);
		goto out;
	}
	if (fg_config_read(&p, &f, repo, &u->new_id, &rerr) < 0) {
		rc = add(out, "config", u->ref, rerr.msg, "push a commit whose "
		    "tree holds pipeline.yaml", err);
		goto out;
	}
	if (fg_config_check(p.ptr, p.len, FG_CONFIG_PIPELINE,
	    f.len ? f.ptr : NULL, f.len, FG_CONFIG_FLOWS, &d) == 0)
		goto out;
	for (i = 0; i < d.n && rc == 0; i++)
		rc = add(out, "config", u->ref, d.lines[i], NULL, err);
	if (rc == 0 && d.dropped > 0) {
		if (fg_buf_printf(&msg, "and %zu more problems", d.dropped) < 0)
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		else
			rc = add(out, "config", u->ref, msg.ptr, NULL, err);
	}
out:
	fg_diags_release(&d);
	fg_buf_release(&p);
	fg_buf_release(&f);
	fg_buf_release(&msg);
	return rc;
}

int
fg_hook_decide(struct fg_rules_result *out, struct fg_config **cfg_out,
    git_repository *repo, const char *git_dir, const struct fg_hook_push *p,
    struct fg_err *err)
{
	struct fg_config *cfg = NULL;
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_err cerr = FG_ERR_INIT;
	struct fg_buf msg = FG_BUF_INIT;
	bool cfg_broken = false;
	size_t i;
	int rc;

	if (cfg_out != NULL)
		*cfg_out = NULL;
	rc = fg_config_load(&cfg, repo, &d, &cerr);
	if (rc == FG_ENOTFOUND) {
		rc = 0;
	} else if (rc < 0) {
		cfg_broken = true;
		if (fg_buf_printf(&msg, "the current config on '%s' does not "
		    "load: %s", FG_CONFIG_REF, d.n > 0 ? d.lines[0] :
		    cerr.msg) < 0) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		rc = 0;
	}
	for (i = 0; i < p->n && rc == 0; i++) {
		const struct fg_rules_update *u = &p->v[i];
		const struct fg_stage *st;

		if (strcmp(u->ref, FG_CONFIG_REF) == 0) {
			rc = check_config_push(out, repo, cfg, git_dir, u, err);
			continue;
		}
		if (is_guarded(u->ref)) {
			rc = add(out, "protected-ref", u->ref, "only flowgate "
			    "writes refs/flowgate/ and refs/notes/flowgate",
			    "use the flowgate command or API instead", err);
			continue;
		}
		if (strncmp(u->ref, "refs/heads/", 11) != 0)
			continue;
		if (cfg_broken) {
			rc = add(out, "config", u->ref, msg.ptr, "an admin "
			    "must push a valid refs/flowgate/config first",
			    err);
			continue;
		}
		if (cfg == NULL || !cfg->tmpl->refuse_direct_push_production)
			continue;
		st = fg_pipeline_stage_for_branch(cfg, u->ref);
		if (st != NULL && st->id == FG_STAGE_PRODUCTION)
			rc = add(out, "direct-push", u->ref, "the progressive "
			    "template takes changes into production by "
			    "promotion only", "promote the change instead: "
			    "flowgate promote COMMIT --to production", err);
	}
	if (rc == 0 && cfg != NULL)
		rc = fg_rules_eval(out, repo, cfg, p->v, p->n, err);
	for (i = 0; i < p->n && rc == 0 && cfg != NULL; i++)
		rc = fg_hook_check_gates(out, repo, cfg, &p->v[i], err);
out:
	fg_diags_release(&d);
	fg_buf_release(&msg);
	if (rc == 0 && cfg_out != NULL)
		*cfg_out = cfg;
	else
		fg_config_free(cfg);
	return rc;
}

static const char *
short_ref(const char *ref)
{
	if (strncmp(ref, "refs/heads/", 11) == 0)
		return ref + 11;
	return ref;
}

int
fg_hook_verdict(struct fg_buf *b, const struct fg_hook_push *p,
    const struct fg_rules_result *r)
{
	size_t i, nissues = r->n + r->dropped;
	int rc = fg_buf_puts(b, "push to ");

	for (i = 0; i < p->n && i < 3 && rc == 0; i++) {
		if (i > 0)
			rc = fg_buf_puts(b, i + 1 == p->n ? " and " : ", ");
		if (rc == 0)
			rc = fg_buf_puts(b, short_ref(p->v[i].ref));
	}
	if (rc == 0 && p->n > 3)
		rc = fg_buf_printf(b, " and %zu more", p->n - 3);
	if (rc == 0 && p->n == 0)
		rc = fg_buf_puts(b, "nothing");
	if (rc < 0)
		return rc;
	if (nissues == 0)
		return fg_buf_puts(b, " accepted");
	return fg_buf_printf(b, " refused: %zu issue%s", nissues,
	    nissues == 1 ? "" : "s");
}

bool
fg_hook_wake(const char *git_dir)
{
	struct fg_buf path = FG_BUF_INIT;
	struct stat st;
	bool woke = false;
	int fd = -1;

	if (git_dir == NULL ||
	    fg_buf_printf(&path, "%s/%s", git_dir, FG_HOOK_WAKE_FILE) < 0)
		goto out;
	if (lstat(path.ptr, &st) < 0 || !S_ISFIFO(st.st_mode))
		goto out;
	/*
	 * O_NONBLOCK: with no reader open() fails at once (ENXIO), and a full
	 * FIFO fails the write (EAGAIN) instead of holding up the push.  What
	 * is opened is checked again, in case the name was replaced since
	 * lstat(): only a FIFO gets the byte.
	 */
	fd = open(path.ptr, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode))
		goto out;
	woke = write(fd, "w", 1) == 1 || errno == EAGAIN;
out:
	if (fd >= 0)
		close(fd);
	fg_buf_release(&path);
	return woke;
}
