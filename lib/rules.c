/*
 * rules.c - push rules on the new commits of a push (see rules.h).
 */
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "proc.h"
#include "rules.h"
#include "util.h"
#include "banned.h"

/*
 * A set of object ids with a 64-bit mask each: open addressing, linear
 * probing, the table at most half full.  Commits map to the rule sets that
 * reach them; blobs to what was already done with them.
 */
struct oent {
	git_oid id;
	uint64_t mask;
	bool used;
};

struct omap {
	struct oent *v;
	size_t cap;			/* a power of two, or 0 */
	size_t n;
};

#define BLOB_SIZED	1u		/* max-file-size looked at it */
#define BLOB_SCANNED	2u		/* secrets looked at it */

static size_t
oid_hash(const git_oid *id)
{
	size_t h;

	memcpy(&h, id->id, sizeof(h));
	return h;
}

static struct oent *
omap_find(const struct omap *m, const git_oid *id)
{
	size_t i;

	if (m->cap == 0)
		return NULL;
	for (i = oid_hash(id) & (m->cap - 1); m->v[i].used;
	    i = (i + 1) & (m->cap - 1)) {
		if (git_oid_equal(&m->v[i].id, id))
			return &m->v[i];
	}
	return NULL;
}

static int
omap_grow(struct omap *m)
{
	struct oent *old = m->v, *e;
	size_t oldcap = m->cap, i, j;
	size_t cap = oldcap ? oldcap * 2 : 1024;

	if (cap < oldcap || cap > SIZE_MAX / sizeof(*e))
		return FG_ENOMEM;
	m->v = calloc(cap, sizeof(*m->v));
	if (m->v == NULL) {
		m->v = old;
		return FG_ENOMEM;
	}
	m->cap = cap;
	for (i = 0; i < oldcap; i++) {
		if (!old[i].used)
			continue;
		for (j = oid_hash(&old[i].id) & (cap - 1); m->v[j].used;
		    j = (j + 1) & (cap - 1))
			;
		m->v[j] = old[i];
	}
	free(old);
	return 0;
}

/* The entry for id, added with a zero mask when new; NULL: no memory. */
static struct oent *
omap_put(struct omap *m, const git_oid *id)
{
	struct oent *e;
	size_t i;

	e = omap_find(m, id);
	if (e != NULL)
		return e;
	if ((m->n + 1) * 2 > m->cap && omap_grow(m) < 0)
		return NULL;
	for (i = oid_hash(id) & (m->cap - 1); m->v[i].used;
	    i = (i + 1) & (m->cap - 1))
		;
	m->v[i].used = true;
	git_oid_cpy(&m->v[i].id, id);
	m->v[i].mask = 0;
	m->n++;
	return &m->v[i];
}

static void
omap_release(struct omap *m)
{
	free(m->v);
	m->v = NULL;
	m->cap = m->n = 0;
}

/* A blob a commit added or changed: its id and where (offset in paths). */
struct change {
	git_oid id;
	size_t path;
};

/* A rule compiled for matching: regexes and pathspecs, by rule index. */
struct compiled {
	regex_t re;
	bool has_re;
	git_pathspec **ps;		/* one per forbid-paths pattern */
	size_t nps;
};

struct ctx {
	git_repository *repo;
	git_odb *odb;
	const struct fg_config *cfg;
	const struct fg_rules_update *u;
	size_t nu;
	struct fg_rules_result *out;
	struct fg_err *err;

	struct compiled **comp;		/* [set][rule] */
	size_t first_update[FG_RULES_MAX_SETS];	/* per set; nu: none */
	size_t count[FG_RULES_MAX_SETS];	/* new commits per set */

	size_t ntips;			/* updates with a new tip to walk */
	bool walked;			/* commits holds the walk's parents */
	struct omap commits;
	struct omap blobs;
	struct change *ch;
	size_t nch, ach;
	struct fg_buf paths;		/* NUL-separated */
	struct fg_buf path;		/* the path being walked */

	/* The commit being evaluated. */
	git_commit *c;
	const git_oid *cid;
	const char *ref;
	char subject[FG_RULES_SUBJECT_MAX + 1];
};

void
fg_rules_result_init(struct fg_rules_result *r)
{
	memset(r, 0, sizeof(*r));
}

void
fg_rules_result_release(struct fg_rules_result *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++) {
		free(r->issues[i].rule);
		free(r->issues[i].ref);
		free(r->issues[i].subject);
		free(r->issues[i].finding);
		free(r->issues[i].fix);
	}
	free(r->issues);
	fg_rules_result_init(r);
}

/*
 * Copy at most max bytes of s, never half a character, with each control
 * character (C0, DEL, and the C1 range U+0080-U+009F, which some terminals
 * obey as ESC sequences) and each byte that is not well-formed UTF-8
 * replaced by '?': text from a pushed commit (a file name with a newline,
 * an escape sequence in a subject) cannot forge a line or drive the
 * pusher's terminal, nor reach a record as broken UTF-8.
 */
static char *
clean_dup(const char *s, size_t max)
{
	size_t len;
	char *d;

	if (s == NULL)
		s = "";
	len = strlen(s);
	d = malloc((len < max ? len : max) + 1);
	if (d != NULL)
		fg_utf8_clean(d, max, s, len, 0);
	return d;
}

int
fg_rules_add(struct fg_rules_result *r, const char *rule, const char *ref,
    const git_oid *commit, const char *subject, const char *finding,
    const char *fix)
{
	struct fg_rules_issue *i;

	if (r->n >= FG_RULES_MAX_ISSUES) {
		r->dropped++;
		return 0;
	}
	if (r->n == r->alloc) {
		size_t na = r->alloc ? r->alloc * 2 : 8;
		struct fg_rules_issue *v;

		v = realloc(r->issues, na * sizeof(*v));
		if (v == NULL)
			return FG_ENOMEM;
		r->issues = v;
		r->alloc = na;
	}
	i = &r->issues[r->n];
	memset(i, 0, sizeof(*i));
	i->rule = clean_dup(rule, 64);
	if (commit != NULL)
		git_oid_tostr(i->commit, sizeof(i->commit), commit);
	i->ref = clean_dup(ref, 4096);
	i->subject = clean_dup(subject, FG_RULES_SUBJECT_MAX);
	i->finding = clean_dup(finding, 4096);
	i->fix = clean_dup(fix, 4096);
	if (i->rule == NULL || i->ref == NULL || i->subject == NULL ||
	    i->finding == NULL || i->fix == NULL) {
		free(i->rule);
		free(i->ref);
		free(i->subject);
		free(i->finding);
		free(i->fix);
		return FG_ENOMEM;
	}
	r->n++;
	return 0;
}

int
fg_rules_issue_format(struct fg_buf *b, const struct fg_rules_issue *i)
{
	const char *ref = i->ref;
	int rc;

	if (strncmp(ref, "refs/heads/", 11) == 0)
		ref += 11;
	rc = fg_buf_printf(b, "%s: %s: ", ref, i->rule);
	if (rc == 0 && i->commit[0] != '\0')
		rc = fg_buf_printf(b, "%s \"%s\": ", i->commit, i->subject);
	if (rc == 0)
		rc = fg_buf_puts(b, i->finding);
	if (rc == 0 && i->fix[0] != '\0')
		rc = fg_buf_printf(b, "; %s", i->fix);
	return rc;
}

/* The first line of the current commit's message, cleaned and cut. */
static const char *
subject(struct ctx *x)
{
	const char *msg, *nl;
	size_t len, i;

	if (x->subject[0] != '\0' || x->c == NULL)
		return x->subject;
	msg = git_commit_message(x->c);
	if (msg == NULL)
		return x->subject;
	nl = strchr(msg, '\n');
	len = nl != NULL ? (size_t)(nl - msg) : strlen(msg);
	if (len > FG_RULES_SUBJECT_MAX) {
		len = FG_RULES_SUBJECT_MAX;
		while (len > 0 && ((unsigned char)msg[len] & 0xc0) == 0x80)
			len--;
	}
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)msg[i];

		x->subject[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	x->subject[len] = '\0';
	return x->subject;
}

/* An issue about the current commit; the finding is formatted. */
static int
commit_issue(struct ctx *x, const char *rule, const char *fix,
    const char *fmt, ...) FG_PRINTF(4, 5);

static int
commit_issue(struct ctx *x, const char *rule, const char *fix,
    const char *fmt, ...)
{
	struct fg_buf f = FG_BUF_INIT;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = fg_buf_vprintf(&f, fmt, ap);
	va_end(ap);
	if (rc == 0)
		rc = fg_rules_add(x->out, rule, x->ref, x->cid, subject(x),
		    f.ptr, fix);
	fg_buf_release(&f);
	if (rc < 0)
		return fg_err_set(x->err, rc, "out of memory");
	return 0;
}

static const char *
branch_of(const char *ref)
{
	if (strncmp(ref, "refs/heads/", 11) != 0)
		return NULL;
	return ref + 11;
}

/* The mask of rule sets whose branch globs match ref. */
static uint64_t
sets_for(const struct fg_config *cfg, const char *ref)
{
	const char *branch = branch_of(ref);
	uint64_t mask = 0;
	size_t i, j;

	if (branch == NULL)
		return 0;
	for (i = 0; i < cfg->npush && i < FG_RULES_MAX_SETS; i++) {
		for (j = 0; j < cfg->push[i].branches.n; j++) {
			if (fg_glob_match(cfg->push[i].branches.v[j], branch)) {
				mask |= UINT64_C(1) << i;
				break;
			}
		}
	}
	return mask;
}

static int
compile_rules(struct ctx *x)
{
	const struct fg_config *cfg = x->cfg;
	size_t i, j, k;
	int rc;

	x->comp = calloc(cfg->npush + 1, sizeof(*x->comp));
	if (x->comp == NULL)
		return fg_err_set(x->err, FG_ENOMEM, "out of memory");
	for (i = 0; i < cfg->npush; i++) {
		x->comp[i] = calloc(cfg->push[i].nrules + 1,
		    sizeof(*x->comp[i]));
		if (x->comp[i] == NULL)
			return fg_err_set(x->err, FG_ENOMEM, "out of memory");
		for (j = 0; j < cfg->push[i].nrules; j++) {
			const struct fg_rule *r = &cfg->push[i].rules[j];
			struct compiled *c = &x->comp[i][j];

			if (r->kind == FG_RULE_MESSAGE ||
			    r->kind == FG_RULE_AUTHOR_EMAIL) {
				rc = regcomp(&c->re, r->regex,
				    REG_EXTENDED | REG_NOSUB);
				if (rc != 0)
					return fg_err_set(x->err, FG_EINVALID,
					    "push[%zu].rules[%zu]: cannot "
					    "compile '%s'", i, j, r->regex);
				c->has_re = true;
			}
			if (r->kind != FG_RULE_FORBID_PATHS)
				continue;
			c->ps = calloc(r->paths.n + 1, sizeof(*c->ps));
			if (c->ps == NULL)
				return fg_err_set(x->err, FG_ENOMEM,
				    "out of memory");
			for (k = 0; k < r->paths.n; k++) {
				git_strarray sa;
				char *p = r->paths.v[k];

				sa.strings = &p;
				sa.count = 1;
				if (git_pathspec_new(&c->ps[k], &sa) < 0)
					return fg_err_git(x->err, FG_EINVALID,
					    "push[%zu].rules[%zu]: bad pathspec "
					    "'%s'", i, j, p);
				c->nps = k + 1;
			}
		}
	}
	return 0;
}

static void
free_compiled(struct ctx *x)
{
	size_t i, j, k;

	if (x->comp == NULL)
		return;
	for (i = 0; i < x->cfg->npush; i++) {
		if (x->comp[i] == NULL)
			continue;
		for (j = 0; j < x->cfg->push[i].nrules; j++) {
			struct compiled *c = &x->comp[i][j];

			if (c->has_re)
				regfree(&c->re);
			for (k = 0; k < c->nps; k++)
				git_pathspec_free(c->ps[k]);
			free(c->ps);
		}
		free(x->comp[i]);
	}
	free(x->comp);
}

/* Per-update rules: no-delete, no-force-push. */
static int
eval_update(struct ctx *x, const struct fg_rules_update *u, uint64_t mask)
{
	const struct fg_config *cfg = x->cfg;
	bool del = false, force = false, is_del;
	git_commit *c = NULL;
	size_t i, j;
	int rc = 0;

	is_del = git_oid_is_zero(&u->new_id) && !git_oid_is_zero(&u->old_id);
	for (i = 0; i < cfg->npush && i < FG_RULES_MAX_SETS; i++) {
		if (!(mask & (UINT64_C(1) << i)))
			continue;
		for (j = 0; j < cfg->push[i].nrules; j++) {
			enum fg_rule_kind k = cfg->push[i].rules[j].kind;

			if (k == FG_RULE_NO_DELETE)
				del = true;
			else if (k == FG_RULE_NO_FORCE_PUSH)
				force = true;
		}
	}
	if (del && is_del) {
		rc = fg_rules_add(x->out, "no-delete", u->ref, NULL, NULL,
		    "deleting this branch is not allowed",
		    "ask an admin to remove the no-delete rule if it must go");
		if (rc < 0)
			return fg_err_set(x->err, rc, "out of memory");
	}
	if (force && !git_oid_is_zero(&u->old_id) &&
	    !git_oid_is_zero(&u->new_id) &&
	    !git_oid_equal(&u->old_id, &u->new_id)) {
		char oldhex[FG_RULES_SHORT_HEX + 1];
		int d;

		/*
		 * The walk put every parent of a new commit in x->commits: when
		 * this update is the only one walked and the old tip is among
		 * them, the old tip is an ancestor of the new, found without a
		 * second walk (a fast-forward, the common case).  Otherwise
		 * ask the commit graph.
		 */
		if (x->walked && x->ntips == 1 &&
		    omap_find(&x->commits, &u->old_id) != NULL)
			return 0;
		d = git_graph_descendant_of(x->repo, &u->new_id, &u->old_id);
		if (d < 0)
			return fg_err_git(x->err, FG_EIO, "cannot compare '%s' "
			    "with its old tip", u->ref);
		if (d == 1)
			return 0;
		if (git_commit_lookup(&c, x->repo, &u->new_id) < 0)
			return fg_err_git(x->err, FG_EIO, "cannot read the "
			    "pushed commit of '%s'", u->ref);
		x->c = c;
		x->cid = &u->new_id;
		x->ref = u->ref;
		x->subject[0] = '\0';
		git_oid_tostr(oldhex, sizeof(oldhex), &u->old_id);
		rc = commit_issue(x, "no-force-push", "fetch, rebase your work "
		    "onto the branch (git pull --rebase) and push again "
		    "without --force",
		    "rewrites history: the branch's tip %s is not an ancestor "
		    "of the pushed commit", oldhex);
		x->c = NULL;
		git_commit_free(c);
	}
	return rc;
}

static int
path_push(struct ctx *x, const char *name, size_t *saved)
{
	*saved = x->path.len;
	if (x->path.len > 0 && fg_buf_putc(&x->path, '/') < 0)
		return FG_ENOMEM;
	return fg_buf_puts(&x->path, name);
}

static int
add_change(struct ctx *x, const git_oid *id)
{
	if (x->nch == x->ach) {
		size_t na = x->ach ? x->ach * 2 : 64;
		struct change *v = realloc(x->ch, na * sizeof(*v));

		if (v == NULL)
			return FG_ENOMEM;
		x->ch = v;
		x->ach = na;
	}
	git_oid_cpy(&x->ch[x->nch].id, id);
	x->ch[x->nch].path = x->paths.len;
	if (fg_buf_add(&x->paths, x->path.ptr, x->path.len + 1) < 0)
		return FG_ENOMEM;
	x->nch++;
	return 0;
}

/*
 * Add to x->ch every blob of tree b that tree a (NULL: empty) does not
 * hold at the same path with the same id.  Equal subtrees are skipped by
 * id; deletions are not changes; submodules (commit entries) are not
 * blobs.  Entries are looked up by name in a (a binary search), which
 * sidesteps git's directory-sorting order.
 */
static int
diff_trees(struct ctx *x, git_tree *a, git_tree *b)
{
	size_t i, n = git_tree_entrycount(b), saved;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(b, i);
		const git_tree_entry *pe = NULL;
		git_object_t t = git_tree_entry_type(e);
		git_tree *sa = NULL, *sb = NULL;

		if (a != NULL)
			pe = git_tree_entry_byname(a, git_tree_entry_name(e));
		if (pe != NULL && git_oid_equal(git_tree_entry_id(pe),
		    git_tree_entry_id(e)) && git_tree_entry_type(pe) == t)
			continue;
		if (t != GIT_OBJECT_TREE && t != GIT_OBJECT_BLOB)
			continue;
		if (path_push(x, git_tree_entry_name(e), &saved) < 0)
			return fg_err_set(x->err, FG_ENOMEM, "out of memory");
		if (t == GIT_OBJECT_BLOB) {
			if (add_change(x, git_tree_entry_id(e)) < 0)
				rc = fg_err_set(x->err, FG_ENOMEM,
				    "out of memory");
			fg_buf_truncate(&x->path, saved);
			continue;
		}
		if (git_tree_lookup(&sb, x->repo, git_tree_entry_id(e)) < 0) {
			rc = fg_err_git(x->err, FG_EIO, "cannot read tree "
			    "'%s'", x->path.ptr);
		} else if (pe != NULL &&
		    git_tree_entry_type(pe) == GIT_OBJECT_TREE &&
		    git_tree_lookup(&sa, x->repo,
		    git_tree_entry_id(pe)) < 0) {
			rc = fg_err_git(x->err, FG_EIO, "cannot read tree "
			    "'%s'", x->path.ptr);
		} else {
			rc = diff_trees(x, sa, sb);
		}
		git_tree_free(sa);
		git_tree_free(sb);
		fg_buf_truncate(&x->path, saved);
	}
	return rc;
}

static int
commit_changes(struct ctx *x)
{
	git_tree *a = NULL, *b = NULL;
	git_commit *p = NULL;
	int rc = 0;

	x->nch = 0;
	fg_buf_reset(&x->paths);
	fg_buf_reset(&x->path);
	if (git_commit_tree(&b, x->c) < 0) {
		rc = fg_err_git(x->err, FG_EIO, "cannot read the tree of a "
		    "pushed commit");
		goto out;
	}
	if (git_commit_parentcount(x->c) > 0) {
		if (git_commit_parent(&p, x->c, 0) < 0 ||
		    git_commit_tree(&a, p) < 0) {
			rc = fg_err_git(x->err, FG_EIO, "cannot read the "
			    "parent of a pushed commit");
			goto out;
		}
	}
	rc = diff_trees(x, a, b);
out:
	git_tree_free(a);
	git_tree_free(b);
	git_commit_free(p);
	return rc;
}

static void
human_size(char *out, size_t size, uint64_t n)
{
	if (n >= 1024 * 1024 * 1024)
		snprintf(out, size, "%.1f GB", (double)n / (1 << 30));
	else if (n >= 1024 * 1024)
		snprintf(out, size, "%.1f MB", (double)n / (1 << 20));
	else if (n >= 1024)
		snprintf(out, size, "%.1f KB", (double)n / (1 << 10));
	else
		snprintf(out, size, "%llu bytes", (unsigned long long)n);
}

struct scan_hit {
	struct ctx *x;
	const char *path;
	int rc;
};

static void
scan_found(size_t line, const char *kind, void *payload)
{
	struct scan_hit *h = payload;

	if (h->rc < 0)
		return;
	h->rc = commit_issue(h->x, "secrets", "remove it, revoke it where it "
	    "was issued, rewrite the commit (git rebase -i) and keep secrets "
	    "out of the repository",
	    "'%s' line %zu: looks like %s %s", h->path, line,
	    strchr("AEIOU", kind[0]) != NULL ? "an" : "a", kind);
}

static int
scan_blob(struct ctx *x, const git_oid *id, const char *path, size_t size)
{
	struct scan_hit h = { x, path, 0 };
	git_blob *blob = NULL;
	const char *data;
	size_t len, probe;

	if (size > FG_RULES_SCAN_MAX)
		return 0;
	if (git_blob_lookup(&blob, x->repo, id) < 0)
		return fg_err_git(x->err, FG_EIO, "cannot read '%s'", path);
	data = git_blob_rawcontent(blob);
	len = (size_t)git_blob_rawsize(blob);
	probe = len < FG_RULES_BINARY_PROBE ? len : FG_RULES_BINARY_PROBE;
	if (data != NULL && memchr(data, '\0', probe) == NULL)
		fg_rules_scan_secrets(data, len, scan_found, &h);
	git_blob_free(blob);
	return h.rc;
}

/* max-file-size, forbid-paths and secrets on the current commit's changes. */
static int
eval_changes(struct ctx *x, uint64_t maxsize, bool secrets, uint64_t mask)
{
	const struct fg_config *cfg = x->cfg;
	size_t c, i, j, k;
	int rc = 0;

	for (c = 0; c < x->nch && rc == 0; c++) {
		const git_oid *id = &x->ch[c].id;
		const char *path = x->paths.ptr + x->ch[c].path;
		struct oent *e = omap_put(&x->blobs, id);
		size_t size = 0;
		git_object_t type;
		bool need_size;

		if (e == NULL)
			return fg_err_set(x->err, FG_ENOMEM, "out of memory");
		for (i = 0; i < cfg->npush && i < FG_RULES_MAX_SETS; i++) {
			if (!(mask & (UINT64_C(1) << i)))
				continue;
			for (j = 0; j < cfg->push[i].nrules; j++) {
				struct compiled *cp = &x->comp[i][j];

				for (k = 0; k < cp->nps; k++) {
					if (!git_pathspec_matches_path(cp->ps[k],
					    0, path))
						continue;
					rc = commit_issue(x, "forbid-paths",
					    "remove it from the commit (git rm "
					    "--cached, then amend or rebase)",
					    "adds '%s', which matches the "
					    "forbidden path '%s'", path,
					    cfg->push[i].rules[j].paths.v[k]);
					if (rc < 0)
						return rc;
					break;
				}
			}
		}
		need_size = (maxsize != UINT64_MAX && !(e->mask & BLOB_SIZED)) ||
		    (secrets && !(e->mask & BLOB_SCANNED));
		if (!need_size)
			continue;
		if (git_odb_read_header(&size, &type, x->odb, id) < 0)
			return fg_err_git(x->err, FG_EIO, "cannot read '%s'",
			    path);
		if (maxsize != UINT64_MAX && !(e->mask & BLOB_SIZED)) {
			e->mask |= BLOB_SIZED;
			if ((uint64_t)size > maxsize) {
				char hs[32], hl[32];

				human_size(hs, sizeof(hs), size);
				human_size(hl, sizeof(hl), maxsize);
				rc = commit_issue(x, "max-file-size", "keep "
				    "large files out of git (Git LFS or an "
				    "artifact store) and rewrite the commit",
				    "'%s' is %s (%zu bytes), over the %s limit",
				    path, hs, size, hl);
			}
		}
		if (rc == 0 && secrets && !(e->mask & BLOB_SCANNED)) {
			e->mask |= BLOB_SCANNED;
			rc = scan_blob(x, id, path, size);
		}
	}
	return rc;
}

/* Write len bytes of data to dir/name. */
static int
write_file(const char *dir, const char *name, const char *data, size_t len,
    struct fg_buf *path, struct fg_err *err)
{
	FILE *f;
	int rc = 0;

	fg_buf_reset(path);
	if (fg_buf_printf(path, "%s/%s", dir, name) < 0)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	f = fopen(path->ptr, "wb");
	if (f == NULL)
		return fg_err_set(err, FG_EIO, "cannot write '%s'", path->ptr);
	if (fwrite(data, 1, len, f) != len)
		rc = fg_err_set(err, FG_EIO, "cannot write '%s'", path->ptr);
	if (fclose(f) != 0 && rc == 0)
		rc = fg_err_set(err, FG_EIO, "cannot write '%s'", path->ptr);
	return rc;
}

/*
 * signed with verify: run the rule's argv with the signature file and the
 * signed payload file appended (so [gpg, --verify] works as it is) and
 * FLOWGATE_COMMIT in its environment, no shell, within
 * FG_RULES_VERIFY_TIMEOUT seconds.  Anything but exit 0 is an issue; so
 * is a command that cannot be run (fail closed).
 */
static int
verify_signature(struct ctx *x, const struct fg_rule *r)
{
	git_buf sig = GIT_BUF_INIT, data = GIT_BUF_INIT;
	struct fg_proc_opts o = FG_PROC_OPTS_INIT;
	struct fg_proc_result res;
	struct fg_buf sp = FG_BUF_INIT, dp = FG_BUF_INIT, env = FG_BUF_INIT;
	struct fg_err perr = FG_ERR_INIT;
	const char **argv = NULL, *envv[2], *last, *out;
	char *dir = NULL, hex[GIT_OID_HEXSZ + 1];
	git_oid id;
	size_t i, len;
	int rc;

	memset(&res, 0, sizeof(res));
	git_oid_cpy(&id, x->cid);
	rc = git_commit_extract_signature(&sig, &data, x->repo, &id, NULL);
	if (rc == GIT_ENOTFOUND)
		rc = git_commit_extract_signature(&sig, &data, x->repo, &id,
		    "gpgsig-sha256");
	if (rc < 0) {
		rc = fg_err_git(x->err, FG_EIO, "cannot read a pushed commit's "
		    "signature");
		goto out;
	}
	rc = fg_proc_mkdtemp(&dir, "verify", x->err);
	if (rc == 0)
		rc = write_file(dir, "signature", sig.ptr, sig.size, &sp,
		    x->err);
	if (rc == 0)
		rc = write_file(dir, "payload", data.ptr, data.size, &dp,
		    x->err);
	if (rc < 0)
		goto out;
	argv = calloc(r->verify.n + 3, sizeof(*argv));
	if (argv == NULL || fg_buf_printf(&env, "FLOWGATE_COMMIT=%s",
	    git_oid_tostr(hex, sizeof(hex), x->cid)) < 0) {
		rc = fg_err_set(x->err, FG_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < r->verify.n; i++)
		argv[i] = r->verify.v[i];
	argv[i++] = sp.ptr;
	argv[i] = dp.ptr;
	envv[0] = env.ptr;
	envv[1] = NULL;
	o.argv = argv;
	o.env = envv;
	o.timeout_ms = FG_RULES_VERIFY_TIMEOUT * 1000;
	o.output_max = 4096;
	if (fg_proc_run(&res, &o, &perr) < 0) {
		rc = commit_issue(x, "signed", "ask the server's admin to fix "
		    "the signed rule's verify command", "the signature could "
		    "not be checked: %s", perr.msg);
		goto out;
	}
	if (res.exited && res.status == 0)
		goto out;
	/* The last line of the command's output says why, usually. */
	out = res.output.ptr;
	len = res.output.len;
	while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
		len--;
	last = out + len;
	while (last > out && last[-1] != '\n')
		last--;
	rc = commit_issue(x, "signed", "sign it with a key the server trusts "
	    "(git commit --amend --no-edit -S) and push again",
	    "the signature does not verify (%s %s%s%.*s)", r->verify.v[0],
	    res.timed_out ? "timed out" : "failed", len > 0 ? ": " : "",
	    (int)(out + len - last), last);
out:
	if (dir != NULL)
		fg_proc_rmtree(dir, NULL);
	free(dir);
	free(argv);
	fg_proc_result_release(&res);
	fg_buf_release(&sp);
	fg_buf_release(&dp);
	fg_buf_release(&env);
	git_buf_dispose(&sig);
	git_buf_dispose(&data);
	return rc;
}

/* The per-commit rules of every set in mask, on the current commit. */
static int
eval_commit(struct ctx *x, uint64_t mask)
{
	const struct fg_config *cfg = x->cfg;
	const git_signature *author;
	bool linear = false, signed_ = false, secrets = false;
	const struct fg_rule *verify = NULL;
	uint64_t maxsize = UINT64_MAX;
	bool paths = false;
	size_t i, j;
	int rc = 0;

	for (i = 0; i < cfg->npush && i < FG_RULES_MAX_SETS && rc == 0; i++) {
		if (!(mask & (UINT64_C(1) << i)))
			continue;
		for (j = 0; j < cfg->push[i].nrules && rc == 0; j++) {
			const struct fg_rule *r = &cfg->push[i].rules[j];
			struct compiled *cp = &x->comp[i][j];

			switch (r->kind) {
			case FG_RULE_LINEAR:
				linear = true;
				break;
			case FG_RULE_SIGNED:
				signed_ = true;
				if (verify == NULL && r->verify.n > 0)
					verify = r;
				break;
			case FG_RULE_SECRETS:
				secrets = true;
				break;
			case FG_RULE_MAX_FILE_SIZE:
				if (r->max_size < maxsize)
					maxsize = r->max_size;
				break;
			case FG_RULE_FORBID_PATHS:
				paths = true;
				break;
			case FG_RULE_MESSAGE:
				if (regexec(&cp->re, git_commit_message(x->c),
				    0, NULL, 0) == 0)
					break;
				rc = commit_issue(x, "message", "reword the "
				    "commit (git commit --amend, or git rebase "
				    "-i for older ones) and push again",
				    "the message does not match '%s'",
				    r->regex);
				break;
			case FG_RULE_AUTHOR_EMAIL:
				author = git_commit_author(x->c);
				if (regexec(&cp->re, author->email, 0, NULL,
				    0) == 0)
					break;
				rc = commit_issue(x, "author-email", "set "
				    "user.email and re-author the commit (git "
				    "commit --amend --reset-author)",
				    "the author email '%s' does not match '%s'",
				    author->email, r->regex);
				break;
			default:
				break;
			}
		}
	}
	if (rc == 0 && linear && git_commit_parentcount(x->c) > 1)
		rc = commit_issue(x, "linear", "rebase onto the branch instead "
		    "of merging (git pull --rebase) and push again",
		    "is a merge commit; this branch keeps a linear history");
	if (rc == 0 && signed_) {
		git_buf sig = GIT_BUF_INIT;
		int h;

		h = git_commit_header_field(&sig, x->c, "gpgsig");
		if (h == GIT_ENOTFOUND)
			h = git_commit_header_field(&sig, x->c,
			    "gpgsig-sha256");
		git_buf_dispose(&sig);
		if (h == GIT_ENOTFOUND)
			rc = commit_issue(x, "signed", "sign it (git commit "
			    "--amend --no-edit -S, or git rebase --exec 'git "
			    "commit --amend --no-edit -S') and push again",
			    "is not signed");
		else if (h < 0)
			rc = fg_err_git(x->err, FG_EIO, "cannot read a "
			    "pushed commit's header");
		else if (verify != NULL)
			rc = verify_signature(x, verify);
	}
	if (rc == 0 && (maxsize != UINT64_MAX || secrets || paths)) {
		rc = commit_changes(x);
		if (rc == 0)
			rc = eval_changes(x, maxsize, secrets, mask);
	}
	return rc;
}

/* Hide the targets of the repository's refs (see rules.h for which). */
static int
hide_existing(struct ctx *x, git_revwalk *walk)
{
	git_reference_iterator *it = NULL;
	git_reference *ref;
	git_object *obj;
	int rc = 0, e;

	if (git_reference_iterator_new(&it, x->repo) < 0)
		return fg_err_git(x->err, FG_EIO, "cannot list refs");
	for (;;) {
		const char *name;

		e = git_reference_next(&ref, it);
		if (e == GIT_ITEROVER)
			break;
		if (e < 0) {
			rc = fg_err_git(x->err, FG_EIO, "cannot list refs");
			break;
		}
		name = git_reference_name(ref);
		if (git_reference_type(ref) != GIT_REFERENCE_DIRECT ||
		    strncmp(name, "refs/flowgate/", 14) == 0 ||
		    strncmp(name, "refs/notes/", 11) == 0) {
			git_reference_free(ref);
			continue;
		}
		obj = NULL;
		if (git_reference_peel(&obj, ref, GIT_OBJECT_COMMIT) == 0 &&
		    git_revwalk_hide(walk, git_object_id(obj)) < 0)
			rc = fg_err_git(x->err, FG_EIO, "cannot hide '%s'",
			    name);
		git_object_free(obj);
		git_reference_free(ref);
		if (rc < 0)
			break;
	}
	git_reference_iterator_free(it);
	return rc;
}

static size_t
lowest_bit(uint64_t mask)
{
	size_t b = 0;

	while (b < 63 && !(mask & (UINT64_C(1) << b)))
		b++;
	return b;
}

/* True when some set in mask has a rule that looks at commits. */
static bool
needs_walk(const struct fg_config *cfg, uint64_t mask)
{
	size_t i, j;

	for (i = 0; i < cfg->npush && i < FG_RULES_MAX_SETS; i++) {
		if (!(mask & (UINT64_C(1) << i)))
			continue;
		for (j = 0; j < cfg->push[i].nrules; j++) {
			enum fg_rule_kind k = cfg->push[i].rules[j].kind;

			if (k != FG_RULE_NO_DELETE &&
			    k != FG_RULE_NO_FORCE_PUSH)
				return true;
		}
	}
	return false;
}

static int
walk_new(struct ctx *x, const uint64_t *masks)
{
	git_revwalk *walk = NULL;
	git_commit *c = NULL;
	struct oent *e;
	uint64_t all = 0;
	git_oid id;
	size_t i, p, np;
	int rc = 0, w;

	for (i = 0; i < x->nu; i++) {
		if (masks[i] != 0 && !git_oid_is_zero(&x->u[i].new_id))
			all |= masks[i];
	}
	if (!needs_walk(x->cfg, all))
		return 0;
	if (git_revwalk_new(&walk, x->repo) < 0)
		return fg_err_git(x->err, FG_EIO, "cannot walk the push");
	git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL);
	for (i = 0; i < x->nu; i++) {
		if (masks[i] == 0 || git_oid_is_zero(&x->u[i].new_id))
			continue;
		e = omap_put(&x->commits, &x->u[i].new_id);
		if (e == NULL) {
			rc = fg_err_set(x->err, FG_ENOMEM, "out of memory");
			goto out;
		}
		e->mask |= masks[i];
		if (git_revwalk_push(walk, &x->u[i].new_id) < 0) {
			rc = fg_err_git(x->err, FG_EINVALID, "'%s': the pushed "
			    "object is not a commit", x->u[i].ref);
			goto out;
		}
	}
	rc = hide_existing(x, walk);
	if (rc < 0)
		goto out;
	for (;;) {
		uint64_t mask;

		w = git_revwalk_next(&id, walk);
		if (w != 0)
			break;
		e = omap_find(&x->commits, &id);
		mask = e != NULL ? e->mask : all;
		if (git_commit_lookup(&c, x->repo, &id) < 0) {
			rc = fg_err_git(x->err, FG_EIO, "cannot read a pushed "
			    "commit");
			goto out;
		}
		np = git_commit_parentcount(c);
		for (p = 0; p < np; p++) {
			e = omap_put(&x->commits, git_commit_parent_id(c,
			    (unsigned)p));
			if (e == NULL) {
				rc = fg_err_set(x->err, FG_ENOMEM,
				    "out of memory");
				goto out;
			}
			e->mask |= mask;
		}
		x->out->ncommits++;
		for (i = 0; i < FG_RULES_MAX_SETS; i++) {
			if (mask & (UINT64_C(1) << i))
				x->count[i]++;
		}
		x->c = c;
		x->cid = git_commit_id(c);
		x->ref = x->u[x->first_update[lowest_bit(mask)]].ref;
		x->subject[0] = '\0';
		rc = eval_commit(x, mask);
		x->c = NULL;
		git_commit_free(c);
		c = NULL;
		if (rc < 0)
			goto out;
	}
	if (w != GIT_ITEROVER)
		rc = fg_err_git(x->err, FG_EIO, "cannot walk the push");
	else
		x->walked = true;
out:
	git_commit_free(c);
	git_revwalk_free(walk);
	return rc;
}

/* max-commits: the new commits each rule set saw, against its limits. */
static int
eval_counts(struct ctx *x)
{
	const struct fg_config *cfg = x->cfg;
	size_t i, j;
	int rc;

	for (i = 0; i < cfg->npush && i < FG_RULES_MAX_SETS; i++) {
		const struct fg_rules_update *u;
		char finding[160];

		if (x->first_update[i] == x->nu)
			continue;
		u = &x->u[x->first_update[i]];
		for (j = 0; j < cfg->push[i].nrules; j++) {
			const struct fg_rule *r = &cfg->push[i].rules[j];

			if (r->kind != FG_RULE_MAX_COMMITS ||
			    x->count[i] <= (size_t)r->max_commits)
				continue;
			snprintf(finding, sizeof(finding), "the push brings "
			    "%zu new commits, more than the %ld allowed",
			    x->count[i], r->max_commits);
			rc = fg_rules_add(x->out, "max-commits", u->ref, NULL,
			    NULL, finding, "push in smaller steps, or squash "
			    "the work into fewer commits");
			if (rc < 0)
				return fg_err_set(x->err, rc, "out of memory");
		}
	}
	return 0;
}

int
fg_rules_eval(struct fg_rules_result *out, git_repository *repo,
    const struct fg_config *cfg, const struct fg_rules_update *u, size_t nu,
    struct fg_err *err)
{
	struct ctx x;
	uint64_t *masks = NULL;
	size_t i, b;
	int rc = 0;

	memset(&x, 0, sizeof(x));
	x.repo = repo;
	x.cfg = cfg;
	x.u = u;
	x.nu = nu;
	x.out = out;
	x.err = err;
	fg_buf_init(&x.paths);
	fg_buf_init(&x.path);
	for (b = 0; b < FG_RULES_MAX_SETS; b++)
		x.first_update[b] = nu;
	if (cfg->npush == 0 || nu == 0)
		goto out;
	if (cfg->npush > FG_RULES_MAX_SETS) {
		rc = fg_err_set(err, FG_ELIMIT, "the config has %zu push rule "
		    "sets; at most %d are supported", cfg->npush,
		    FG_RULES_MAX_SETS);
		goto out;
	}
	masks = calloc(nu, sizeof(*masks));
	if (masks == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	if (git_repository_odb(&x.odb, repo) < 0) {
		rc = fg_err_git(err, FG_EIO, "cannot open the object database");
		goto out;
	}
	rc = compile_rules(&x);
	if (rc < 0)
		goto out;
	for (i = 0; i < nu; i++) {
		masks[i] = sets_for(cfg, u[i].ref);
		for (b = 0; b < cfg->npush; b++) {
			if ((masks[i] & (UINT64_C(1) << b)) &&
			    x.first_update[b] == nu &&
			    !git_oid_is_zero(&u[i].new_id))
				x.first_update[b] = i;
		}
		if (masks[i] != 0 && !git_oid_is_zero(&u[i].new_id))
			x.ntips++;
	}
	rc = walk_new(&x, masks);
	for (i = 0; i < nu && rc == 0; i++) {
		if (masks[i] != 0)
			rc = eval_update(&x, &u[i], masks[i]);
	}
	if (rc == 0)
		rc = eval_counts(&x);
out:
	free_compiled(&x);
	omap_release(&x.commits);
	omap_release(&x.blobs);
	free(x.ch);
	fg_buf_release(&x.paths);
	fg_buf_release(&x.path);
	git_odb_free(x.odb);
	free(masks);
	return rc;
}

/* Secret scanning. */

static bool
is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	    (c >= 'a' && c <= 'z');
}

static bool
is_upper_digit(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
}

/* Count of bytes at p (at most max, within end) for which ok() holds. */
static size_t
span(const char *p, const char *end, size_t max, int kind)
{
	size_t n = 0;

	while (p + n < end && n < max) {
		unsigned char c = (unsigned char)p[n];
		bool ok;

		if (kind == 0)
			ok = is_alnum(c);
		else if (kind == 1)
			ok = is_upper_digit(c);
		else if (kind == 2)
			ok = is_alnum(c) || c == '_' || c == '-';
		else
			ok = is_alnum(c) || c == '_';
		if (!ok)
			break;
		n++;
	}
	return n;
}

static bool
has(const char *p, const char *end, const char *lit)
{
	size_t n = strlen(lit);

	return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0;
}

enum {
	S_KEY, S_AWS, S_GITHUB, S_GITLAB, S_SLACK, S_COUNT
};

static const char *const secret_kind[S_COUNT] = {
	"private key", "AWS access key id", "GitHub token", "GitLab token",
	"Slack token",
};

/*
 * Which secret starts at p, or -1.  The patterns, after the issuers'
 * documented formats: "-----BEGIN [...]PRIVATE KEY-----" on one line;
 * AKIA + 16 of [0-9A-Z]; ghp_/gho_/ghu_/ghs_/ghr_ + 36 alphanumerics and
 * github_pat_ + 22 or more of [0-9A-Za-z_]; glpat- + 20 of [0-9A-Za-z_-];
 * xoxb-/xoxa-/xoxp-/xoxr-/xoxs- + 10 or more of [0-9A-Za-z-].  Tokens
 * must not be glued to a preceding letter or digit.
 */
static int
secret_at(const char *p, const char *start, const char *end)
{
	const char *nl;

	if (p > start && is_alnum((unsigned char)p[-1]) && *p != '-')
		return -1;
	switch (*p) {
	case '-':
		if (!has(p, end, "-----BEGIN "))
			return -1;
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		p += 11;
		while (p < nl && (is_upper_digit((unsigned char)*p) ||
		    *p == ' '))
			p++;
		/* The loop ate "PRIVATE KEY"; look at what it ended on. */
		if (p - 11 >= start && has(p - 11, nl, "PRIVATE KEY-----"))
			return S_KEY;
		return -1;
	case 'A':
		if (has(p, end, "AKIA") && span(p + 4, end, 17, 1) == 16)
			return S_AWS;
		return -1;
	case 'g':
		if (has(p, end, "gh") && p + 4 <= end && p[3] == '_' &&
		    strchr("pousr", p[2]) != NULL && p[2] != '\0' &&
		    span(p + 4, end, 36, 0) == 36)
			return S_GITHUB;
		if (has(p, end, "github_pat_") &&
		    span(p + 11, end, 255, 3) >= 22)
			return S_GITHUB;
		if (has(p, end, "glpat-") && span(p + 6, end, 20, 2) == 20)
			return S_GITLAB;
		return -1;
	case 'x':
		if (has(p, end, "xox") && p + 5 <= end && p[4] == '-' &&
		    strchr("baprs", p[3]) != NULL && p[3] != '\0') {
			size_t n = 0;

			p += 5;
			while (p + n < end && (is_alnum((unsigned char)p[n]) ||
			    p[n] == '-'))
				n++;
			if (n >= 10)
				return S_SLACK;
		}
		return -1;
	default:
		return -1;
	}
}

void
fg_rules_scan_secrets(const char *text, size_t len,
    void (*found)(size_t line, const char *kind, void *payload),
    void *payload)
{
	const char *p = text, *end = text + len;
	bool seen[S_COUNT] = { false };
	size_t line = 1, nseen = 0;
	int k;

	for (; p < end && nseen < S_COUNT; p++) {
		switch (*p) {
		case '\n':
			line++;
			continue;
		case '-':
		case 'A':
		case 'g':
		case 'x':
			break;
		default:
			continue;
		}
		k = secret_at(p, text, end);
		if (k < 0 || seen[k])
			continue;
		seen[k] = true;
		nseen++;
		found(line, secret_kind[k], payload);
	}
}
