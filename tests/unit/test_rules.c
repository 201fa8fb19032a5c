/*
 * test_rules.c - push rules judge only the new commits of a push, each
 * rule finds what it should and nothing else, and secrets are named but
 * never repeated.
 *
 * Each test builds a small repository with git (fg_unit_sh): what is on a
 * branch already "exists"; the pushed commits are made on a scratch branch
 * that is deleted again, so only their ids (as a push gives them) lead to
 * them, as in a pre-receive hook.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "config.h"
#include "rules.h"
#include "unit.h"

static const char cfg_head[] =
    "version: 1\n"
    "template: release\n"
    "stages:\n"
    "  developer: {pool: sandboxes}\n"
    "  integration: {branch: develop, environments: [qa]}\n"
    "  staging: {branch: staging, environments: [uat]}\n"
    "  production: {branch: main, environments: [prod]}\n"
    "  hotfix: {branch: hotfix, environments: [prod]}\n"
    "environments:\n"
    "  qa: {deploy: {command: [d]}}\n"
    "  uat: {deploy: {command: [d]}}\n"
    "  prod: {deploy: {command: [d]}}\n"
    "pools:\n"
    "  sandboxes: {environments: [sb-1], deploy: {command: [d]}}\n"
    "push:\n";

static int repo_seq;
static char dir[4096];

static struct fg_config *
config(const char *push)
{
	struct fg_config *cfg = NULL;
	struct fg_diags d = FG_DIAGS_INIT;
	char text[4096];

	snprintf(text, sizeof(text), "%s%s", cfg_head, push);
	if (fg_config_parse(&cfg, text, strlen(text), "pipeline.yaml", NULL,
	    0, NULL, &d) != 0 && d.n > 0)
		fprintf(stderr, "%s\n", d.lines[0]);
	fg_diags_release(&d);
	return cfg;
}

/*
 * A fresh repository with one commit "ABC-1 base" on main (a.txt), in
 * dir; then the shell script setup (run inside it) makes the pushed
 * commits on branch "push", which is deleted after its tip is saved.
 */
static git_repository *
repo(const char *setup, git_oid *tip)
{
	git_repository *r = NULL;
	char path[4200];
	FILE *f;
	char hex[64] = "";

	snprintf(dir, sizeof(dir), "%s/r%d", fg_unit_tmpdir(), ++repo_seq);
	if (fg_unit_sh("set -e; export GIT_AUTHOR_NAME=T GIT_COMMITTER_NAME=T "
	    "GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_EMAIL=t@example.com; "
	    "git init -q -b main '%s' && cd '%s' && "
	    "git config user.name T && git config user.email t@example.com && "
	    "echo a > a.txt && git add a.txt && git commit -qm 'ABC-1 base' && "
	    "git checkout -q -b push && { %s ; } >/dev/null && "
	    "git rev-parse HEAD > .git/tip && git checkout -q main && "
	    "git branch -q -D push", dir, dir, setup) != 0)
		return NULL;
	snprintf(path, sizeof(path), "%s/.git/tip", dir);
	f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	if (fgets(hex, sizeof(hex), f) == NULL)
		hex[0] = '\0';
	fclose(f);
	hex[40] = '\0';
	if (git_oid_fromstr(tip, hex) < 0 || git_repository_open(&r, dir) < 0)
		return NULL;
	return r;
}

static void
oid_of(git_repository *r, const char *spec, git_oid *out)
{
	git_object *o = NULL;

	CU_ASSERT_EQUAL_FATAL(git_revparse_single(&o, r, spec), 0);
	git_oid_cpy(out, git_object_id(o));
	git_object_free(o);
}

/* Evaluate one update of ref from old (NULL: creation) to tip. */
static int
eval(struct fg_rules_result *res, git_repository *r,
    const struct fg_config *cfg, const char *ref, const git_oid *old,
    const git_oid *tip)
{
	struct fg_rules_update u;
	struct fg_err err = FG_ERR_INIT;
	int rc;

	memset(&u, 0, sizeof(u));
	u.ref = ref;
	if (old != NULL)
		git_oid_cpy(&u.old_id, old);
	if (tip != NULL)
		git_oid_cpy(&u.new_id, tip);
	rc = fg_rules_eval(res, r, cfg, &u, 1, &err);
	if (rc != 0)
		fprintf(stderr, "eval: %s\n", err.msg);
	return rc;
}

static size_t
count_rule(const struct fg_rules_result *res, const char *rule)
{
	size_t i, n = 0;

	for (i = 0; i < res->n; i++)
		n += strcmp(res->issues[i].rule, rule) == 0;
	return n;
}

static const struct fg_rules_issue *
find_rule(const struct fg_rules_result *res, const char *rule)
{
	size_t i;

	for (i = 0; i < res->n; i++) {
		if (strcmp(res->issues[i].rule, rule) == 0)
			return &res->issues[i];
	}
	return NULL;
}

static void
test_rules_accepts_a_clean_push(void)
{
	struct fg_config *cfg = config("  - branches: [main]\n"
	    "    rules: [no-force-push, no-delete, secrets, linear,"
	    " {message: '^ABC-'}, {max-file-size: 1KB}]\n");
	struct fg_rules_result res = FG_RULES_RESULT_INIT;
	git_repository *r;
	git_oid tip, old;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	r = repo("git reset -q --hard main && echo b > b.txt && git add b.txt"
	    " && git commit -qm 'ABC-2 b' && echo c > c.txt && git add c.txt"
	    " && git commit -qm 'ABC-3 c'", &tip);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	oid_of(r, "main", &old);
	CU_ASSERT_EQUAL(eval(&res, r, cfg, "refs/heads/main", &old, &tip), 0);
	CU_ASSERT_EQUAL(res.n, 0);
	CU_ASSERT_EQUAL(res.ncommits, 2);
	fg_rules_result_release(&res);
	git_repository_free(r);
	fg_config_free(cfg);
}

static void
test_rules_refuses_force_push_not_creation(void)
{
	struct fg_config *cfg = config("  - branches: [main, 'feat/*']\n"
	    "    rules: [no-force-push]\n");
	struct fg_rules_result res = FG_RULES_RESULT_INIT;
	const struct fg_rules_issue *i;
	git_repository *r;
	git_oid tip, old;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	/* The pushed commit does not descend from main: a rewrite. */
	r = repo("git checkout -q --orphan other && echo x > x.txt && "
	    "git add x.txt && git commit -qm 'ABC-9 other root' && "
	    "git checkout -q -B push other", &tip);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	oid_of(r, "main", &old);
	CU_ASSERT_EQUAL(eval(&res, r, cfg, "refs/heads/main", &old, &tip), 0);
	CU_ASSERT_EQUAL(count_rule(&res, "no-force-push"), 1);
	i = find_rule(&res, "no-force-push");
	CU_ASSERT_PTR_NOT_NULL_FATAL(i);
	CU_ASSERT_STRING_EQUAL(i->subject, "ABC-9 other root");
	CU_ASSERT_EQUAL(strlen(i->commit), FG_RULES_SHORT_HEX);
	fg_rules_result_release(&res);
	/* Creating a branch is not a force push. */
	CU_ASSERT_EQUAL(eval(&res, r, cfg, "refs/heads/feat/x", NULL, &tip),
	    0);
	CU_ASSERT_EQUAL(res.n, 0);
	fg_rules_result_release(&res);
	git_repository_free(r);
	fg_config_free(cfg);
}

static void
test_rules_refuses_delete_only_where_ruled(void)
{
	struct fg_config *cfg = config("  - branches: [main]\n"
	    "    rules: [no-delete]\n");
	struct fg_rules_result res = FG_RULES_RESULT_INIT;
	git_repository *r;
	git_oid tip, old;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	r = repo("true", &tip);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	oid_of(r, "main", &old);
	CU_ASSERT_EQUAL(eval(&res, r, cfg, "refs/heads/main", &old, NULL), 0);
	CU_ASSERT_EQUAL(count_rule(&res, "no-delete"), 1);
	CU_ASSERT_STRING_EQUAL(res.issues[0].commit, "");
	fg_rules_result_release(&res);
	CU_ASSERT_EQUAL(eval(&res, r, cfg, "refs/heads/other", &old, NULL),
	    0);
	CU_ASSERT_EQUAL(res.n, 0);
	CU_ASSERT_EQUAL(eval(&res, r, cfg, "refs/tags/main", &old, NULL), 0);
	CU_ASSERT_EQUAL(res.n, 0);
	fg_rules_result_release(&res);
	git_repository_free(r);
	fg_config_free(cfg);
}

static void
test_rules_message_and_author_email_per_new_commit(void)
{
	struct fg_config *cfg = config("  - branches: [main]\n"
	    "    rules: [{message: '^[A-Z]+-[0-9]+ '},"
	    " {author-email: '@example\\.com$'}]\n");
	struct fg_rules_result res = FG_RULES_RESULT_INIT;
	const struct fg_rules_issue *i;
	git_repository *r;
	git_oid tip, old;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	/* The base commit ("ABC-1 base") is not new: never judged. */
	r = repo("git commit -q --allow-empty -m 'ABC-2 fine' && "
	    "git commit -q --allow-empty -m 'no ticket' && "
	    "GIT_AUTHOR_EMAIL=eve@evil.test git commit -q --allow-empty "
	    "-m 'ABC-3 by eve'", &tip);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	oid_of(r, "main", &old);
	CU_ASSERT_EQUAL(eval(&res, r, cfg, "refs/heads/main", &old, &tip), 0);
	CU_ASSERT_EQUAL(res.ncommits, 3);
	CU_ASSERT_EQUAL(count_rule(&res, "message"), 1);
	CU_ASSERT_EQUAL(count_rule(&res, "author-email"), 1);
	i = find_rule(&res, "message");
	CU_ASSERT_PTR_NOT_NULL_FATAL(i);
	CU_ASSERT_STRING_EQUAL(i->subject, "no ticket");
	i = find_rule(&res, "author-email");
	CU_ASSERT_PTR_NOT_NULL_FATAL(i);
	CU_ASSERT_PTR_NOT_NULL(strstr(i->finding, "eve@evil.test"));
	fg_rules_result_release(&res);
	git_repository_free(r);
	fg_config_free(cfg);
}

static void
test_rules_max_file_size_sees_added_and_changed_blobs_only(void)
{
	struct fg_config *cfg = config("  - branches: [main]\n"
	    "    rules: [{max-file-size: 1KB}]\n");
	struct fg_rules_result res = FG_RULES_RESULT_INIT;
	const struct fg_rules_issue *i;
	git_repository *r;
	git_oid tip, old;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	/*
	 * big.txt (2 KB) is already on main; the push adds small.txt next
	 * to it, then grows d/e/grown.txt past the limit.
	 */
	r = repo("git checkout -q main && head -c 2048 /dev/zero | tr '\\0' y"
	    " > big.txt && git add big.txt && git commit -qm 'ABC-2 big' &&"
	    " git checkout -q -B push main && echo s > small.txt &&"
	    " mkdir -p d/e && echo g > d/e/grown.txt && git add . &&"
	    " git commit -qm 'ABC-3 small' && head -c 3000 /dev/zero |"
	    " tr '\\0' z > d/e/grown.txt && git commit -qam 'ABC-4 grow'",
	    &tip);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	oid_of(r, "main", &old);
	CU_ASSERT_EQUAL(eval(&res, r, cfg, "refs/heads/main", &old, &tip), 0);
	CU_ASSERT_EQUAL(res.ncommits, 2);
	CU_ASSERT_EQUAL(count_rule(&res, "max-file-size"), 1);
	i = find_rule(&res, "max-file-size");
	CU_ASSERT_PTR_NOT_NULL_FATAL(i);
	CU_ASSERT_STRING_EQUAL(i->subject, "ABC-4 grow");
	CU_ASSERT_PTR_NOT_NULL(strstr(i->finding, "'d/e/grown.txt'"));
	CU_ASSERT_PTR_NOT_NULL(strstr(i->finding, "3000 bytes"));
	fg_rules_result_release(&res);
	git_repository_free(r);
	fg_config_free(cfg);
}

static void
test_rules_forbid_paths_uses_pathspecs(void)
{
	struct fg_config *cfg = config("  - branches: [main]\n"
	    "    rules: [{forbid-paths: ['*.pem', '.env', 'secret/']}]\n");
	struct fg_rules_result res = FG_RULES_RESULT_INIT;
	git_repository *r;
	git_oid tip, old;
	size_t i;
	int pem = 0, env = 0, dirhit = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	r = repo("mkdir -p k secret && echo k > k/server.pem && echo e > .env"
	    " && echo s > secret/x && echo ok > envy.txt && echo n > "
	    "k/pem.txt && git add . && git commit -qm 'ABC-2 files'", &tip);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	oid_of(r, "main", &old);
	CU_ASSERT_EQUAL(eval(&res, r, cfg, "refs/heads/main", &old, &tip), 0);
	CU_ASSERT_EQUAL(count_rule(&res, "forbid-paths"), 3);
	for (i = 0; i < res.n; i++) {
		pem += strstr(res.issues[i].finding, "'k/server.pem'") != NULL;
		env += strstr(res.issues[i].finding, "'.env'") != NULL;
		dirhit += strstr(res.issues[i].finding, "'secret/x'") != NULL;
	}
	CU_ASSERT_EQUAL(pem, 1);
	CU_ASSERT_EQUAL(env, 1);
	CU_ASSERT_EQUAL(dirhit, 1);
	fg_rules_result_release(&res);
	git_repository_free(r);
	fg_config_free(cfg);
}

static void
test_rules_secrets_named_never_shown(void)
{
	struct fg_config *cfg = config("  - branches: [main]\n"
	    "    rules: [secrets]\n");
	struct fg_rules_result res = FG_RULES_RESULT_INIT;
	const struct fg_rules_issue *i;
	git_repository *r;
	git_oid tip, old;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	/* A key in a text file is found; the same in a binary file is not. */
	r = repo("printf 'a\\nb\\nkey=AKIA%s\\n' ABCDEFGHIJKLMNOP > k.txt &&"
	    " printf 'x\\0yAKIAABCDEFGHIJKLMNOP' > k.bin && git add . &&"
	    " git commit -qm 'ABC-2 keys'", &tip);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	oid_of(r, "main", &old);
	CU_ASSERT_EQUAL(eval(&res, r, cfg, "refs/heads/main", &old, &tip), 0);
	CU_ASSERT_EQUAL(count_rule(&res, "secrets"), 1);
	i = find_rule(&res, "secrets");
	CU_ASSERT_PTR_NOT_NULL_FATAL(i);
	CU_ASSERT_PTR_NOT_NULL(strstr(i->finding, "'k.txt' line 3"));
	CU_ASSERT_PTR_NOT_NULL(strstr(i->finding, "AWS access key id"));
	CU_ASSERT_PTR_NULL(strstr(i->finding, "AKIA"));
	CU_ASSERT_PTR_NULL(strstr(i->fix, "AKIA"));
	fg_rules_result_release(&res);
	git_repository_free(r);
	fg_config_free(cfg);
}

struct hits {
	char kinds[512];
	size_t lines[8];
	size_t n;
};

static void
hit(size_t line, const char *kind, void *payload)
{
	struct hits *h = payload;
	size_t len = strlen(h->kinds);

	snprintf(h->kinds + len, sizeof(h->kinds) - len, "%s%s",
	    len ? "," : "", kind);
	if (h->n < 8)
		h->lines[h->n] = line;
	h->n++;
}

static void
scan(struct hits *h, const char *text)
{
	memset(h, 0, sizeof(*h));
	fg_rules_scan_secrets(text, strlen(text), hit, h);
}

static void
test_rules_secret_patterns(void)
{
	struct hits h;

	scan(&h, "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n");
	CU_ASSERT_STRING_EQUAL(h.kinds, "private key");
	scan(&h, "x\n-----BEGIN OPENSSH PRIVATE KEY-----\n");
	CU_ASSERT_STRING_EQUAL(h.kinds, "private key");
	CU_ASSERT_EQUAL(h.lines[0], 2);
	scan(&h, "-----BEGIN PRIVATE KEY-----");
	CU_ASSERT_STRING_EQUAL(h.kinds, "private key");
	scan(&h, "-----BEGIN PUBLIC KEY-----\n-----BEGIN CERTIFICATE-----\n");
	CU_ASSERT_EQUAL(h.n, 0);
	scan(&h, "id = AKIAABCDEFGHIJKLMNOP\n");
	CU_ASSERT_STRING_EQUAL(h.kinds, "AWS access key id");
	scan(&h, "AKIAABCDEFGHIJKLMNO\nAKIAABCDEFGHIJKLMNOPQ\nXAKIAABCDEFGHIJKLMNOP");
	CU_ASSERT_EQUAL(h.n, 0);
	scan(&h, "t=ghp_0123456789abcdefghijABCDEFGHIJ012345\n");
	CU_ASSERT_STRING_EQUAL(h.kinds, "GitHub token");
	scan(&h, "gho_0123456789abcdefghijABCDEFGHIJ01234\n");
	CU_ASSERT_EQUAL(h.n, 0);
	scan(&h, "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz");
	CU_ASSERT_STRING_EQUAL(h.kinds, "GitHub token");
	scan(&h, "glpat-abcdefghij0123456789 ok\n");
	CU_ASSERT_STRING_EQUAL(h.kinds, "GitLab token");
	scan(&h, "glpat-short\n");
	CU_ASSERT_EQUAL(h.n, 0);
	scan(&h, "\n\nxoxb-123456789012-abcdefABCDEF\n");
	CU_ASSERT_STRING_EQUAL(h.kinds, "Slack token");
	CU_ASSERT_EQUAL(h.lines[0], 3);
	scan(&h, "xoxq-123456789012 xoxb-12\n");
	CU_ASSERT_EQUAL(h.n, 0);
	/* The first of each kind is reported once. */
	scan(&h, "AKIAABCDEFGHIJKLMNOP\nAKIAABCDEFGHIJKLMNOQ\n"
	    "ghs_0123456789abcdefghijABCDEFGHIJ012345");
	CU_ASSERT_STRING_EQUAL(h.kinds, "AWS access key id,GitHub token");
}

static void
test_rules_linear_refuses_merges(void)
{
	struct fg_config *cfg = config("  - branches: [main]\n"
	    "    rules: [linear]\n");
	struct fg_rules_result res = FG_RULES_RESULT_INIT;
	const struct fg_rules_issue *i;
	git_repository *r;
	git_oid tip, old;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	r = repo("git checkout -q -b side && git commit -q --allow-empty -m "
	    "'ABC-2 side' && git checkout -q push && git commit -q "
	    "--allow-empty -m 'ABC-3 line' && git merge -q --no-ff -m "
	    "'ABC-4 merge' side && git branch -q -D side", &tip);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	oid_of(r, "main", &old);
	CU_ASSERT_EQUAL(eval(&res, r, cfg, "refs/heads/main", &old, &tip), 0);
	CU_ASSERT_EQUAL(res.ncommits, 3);
	CU_ASSERT_EQUAL(count_rule(&res, "linear"), 1);
	i = find_rule(&res, "linear");
	CU_ASSERT_PTR_NOT_NULL_FATAL(i);
	CU_ASSERT_STRING_EQUAL(i->subject, "ABC-4 merge");
	fg_rules_result_release(&res);
	git_repository_free(r);
	fg_config_free(cfg);
}

static void
test_rules_signed_wants_a_signature_header(void)
{
	struct fg_config *cfg = config("  - branches: [main]\n"
	    "    rules: [signed]\n");
	struct fg_rules_result res = FG_RULES_RESULT_INIT;
	git_repository *r;
	git_oid tip, old;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	/*
	 * One unsigned commit, then one carrying a gpgsig header, written
	 * by hand with hash-object (no gpg needed to test the header).
	 */
	r = repo("git commit -q --allow-empty -m 'ABC-2 unsigned' && "
	    "{ printf 'tree %s\\nparent %s\\n' $(git rev-parse HEAD^{tree})"
	    " $(git rev-parse HEAD); printf 'author T <t@example.com> 1 +0000"
	    "\\ncommitter T <t@example.com> 1 +0000\\ngpgsig -----BEGIN PGP "
	    "SIGNATURE-----\\n \\n -----END PGP SIGNATURE-----\\n\\nABC-3 "
	    "signed\\n'; } > ../c && git reset -q --hard $(git hash-object "
	    "-t commit -w ../c)", &tip);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	oid_of(r, "main", &old);
	CU_ASSERT_EQUAL(eval(&res, r, cfg, "refs/heads/main", &old, &tip), 0);
	CU_ASSERT_EQUAL(res.ncommits, 2);
	CU_ASSERT_EQUAL(count_rule(&res, "signed"), 1);
	CU_ASSERT_STRING_EQUAL(find_rule(&res, "signed")->subject,
	    "ABC-2 unsigned");
	fg_rules_result_release(&res);
	git_repository_free(r);
	fg_config_free(cfg);
}

static void
test_rules_signed_verify_runs_the_command(void)
{
	struct fg_config *ok = config("  - branches: [main]\n"
	    "    rules: [{signed: {verify: [/bin/sh, -c, 'grep -q \"BEGIN "
	    "PGP\" \"$1\" && grep -q \"ABC-3 signed\" \"$2\" && "
	    "test -n \"$FLOWGATE_COMMIT\"', verify]}}]\n");
	struct fg_config *bad = config("  - branches: [main]\n"
	    "    rules: [{signed: {verify: [/bin/sh, -c, "
	    "'echo bad signature; exit 1']}}]\n");
	struct fg_rules_result res = FG_RULES_RESULT_INIT;
	const struct fg_rules_issue *i;
	git_repository *r;
	git_oid tip, old;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ok);
	CU_ASSERT_PTR_NOT_NULL_FATAL(bad);
	r = repo("{ printf 'tree %s\\nparent %s\\n' $(git rev-parse "
	    "HEAD^{tree}) $(git rev-parse HEAD); printf 'author T "
	    "<t@example.com> 1 +0000\\ncommitter T <t@example.com> 1 +0000"
	    "\\ngpgsig -----BEGIN PGP SIGNATURE-----\\n \\n -----END PGP "
	    "SIGNATURE-----\\n\\nABC-3 signed\\n'; } > ../c2 && git reset -q "
	    "--hard $(git hash-object -t commit -w ../c2)", &tip);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	oid_of(r, "main", &old);
	CU_ASSERT_EQUAL(eval(&res, r, ok, "refs/heads/main", &old, &tip), 0);
	CU_ASSERT_EQUAL(res.n, 0);
	fg_rules_result_release(&res);
	CU_ASSERT_EQUAL(eval(&res, r, bad, "refs/heads/main", &old, &tip), 0);
	CU_ASSERT_EQUAL(count_rule(&res, "signed"), 1);
	i = find_rule(&res, "signed");
	CU_ASSERT_PTR_NOT_NULL_FATAL(i);
	CU_ASSERT_PTR_NOT_NULL(strstr(i->finding, "does not verify"));
	CU_ASSERT_PTR_NOT_NULL(strstr(i->finding, "bad signature"));
	fg_rules_result_release(&res);
	git_repository_free(r);
	fg_config_free(ok);
	fg_config_free(bad);
}

static void
test_rules_max_commits_counts_new_commits(void)
{
	struct fg_config *cfg = config("  - branches: [main]\n"
	    "    rules: [{max-commits: 2}]\n");
	struct fg_rules_result res = FG_RULES_RESULT_INIT;
	git_repository *r;
	git_oid tip, old;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	r = repo("for i in 2 3 4; do git commit -q --allow-empty -m "
	    "\"ABC-$i\"; done", &tip);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	oid_of(r, "main", &old);
	CU_ASSERT_EQUAL(eval(&res, r, cfg, "refs/heads/main", &old, &tip), 0);
	CU_ASSERT_EQUAL(count_rule(&res, "max-commits"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(res.issues[0].finding, "3 new commits"));
	fg_rules_result_release(&res);
	git_repository_free(r);
	fg_config_free(cfg);
}

static void
test_rules_skip_commits_other_refs_have(void)
{
	struct fg_config *cfg = config("  - branches: [main]\n"
	    "    rules: [{message: '^ABC-'}]\n");
	struct fg_rules_result res = FG_RULES_RESULT_INIT;
	git_repository *r;
	git_oid tip, old;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	/* "bad old" is on branch feature already: not new to this push. */
	r = repo("git commit -q --allow-empty -m 'bad old' && "
	    "git branch feature && git commit -q --allow-empty -m 'ABC-2'",
	    &tip);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	oid_of(r, "main", &old);
	CU_ASSERT_EQUAL(eval(&res, r, cfg, "refs/heads/main", &old, &tip), 0);
	CU_ASSERT_EQUAL(res.ncommits, 1);
	CU_ASSERT_EQUAL(res.n, 0);
	fg_rules_result_release(&res);
	git_repository_free(r);
	fg_config_free(cfg);
}

static void
test_rules_shared_commit_judged_once_with_union_of_sets(void)
{
	struct fg_config *cfg = config(
	    "  - branches: ['a/*']\n"
	    "    rules: [{message: '^ABC-'}]\n"
	    "  - branches: ['b/*']\n"
	    "    rules: [linear, {message: '^ABC-'}]\n");
	struct fg_rules_result res = FG_RULES_RESULT_INIT;
	struct fg_rules_update u[3];
	struct fg_err err = FG_ERR_INIT;
	git_repository *r;
	git_oid tip;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	r = repo("git commit -q --allow-empty -m 'no ticket' && "
	    "git checkout -q -b side HEAD~1 && git commit -q --allow-empty "
	    "-m 'ABC-2 side' && git checkout -q push && git merge -q --no-ff "
	    "-m 'ABC-3 merge' side && git branch -q -D side", &tip);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	memset(u, 0, sizeof(u));
	u[0].ref = "refs/heads/a/x";
	u[1].ref = "refs/heads/b/y";
	u[2].ref = "refs/heads/unruled";
	git_oid_cpy(&u[0].new_id, &tip);
	git_oid_cpy(&u[1].new_id, &tip);
	git_oid_cpy(&u[2].new_id, &tip);
	CU_ASSERT_EQUAL(fg_rules_eval(&res, r, cfg, u, 3, &err), 0);
	CU_ASSERT_EQUAL(res.ncommits, 3);
	/* Two sets say message: the commit is in both, reported per rule. */
	CU_ASSERT_EQUAL(count_rule(&res, "message"), 2);
	CU_ASSERT_EQUAL(count_rule(&res, "linear"), 1);
	fg_rules_result_release(&res);
	git_repository_free(r);
	fg_config_free(cfg);
}

/*
 * C1 controls (CSI is U+009B, which some terminals obey) and bytes that are
 * not UTF-8 become '?' as C0 controls do; other characters, NBSP included,
 * stay, and a cut never splits one.
 */
static void
test_rules_issues_drop_c1_and_broken_utf8(void)
{
	struct fg_rules_result res = FG_RULES_RESULT_INIT;
	char rule[80];
	git_oid id;

	memset(&id, 0xcd, sizeof(id));
	memset(rule, 'r', 63);
	snprintf(rule + 63, sizeof(rule) - 63, "\xc3\xa9");
	CU_ASSERT_EQUAL(fg_rules_add(&res, rule, "refs/heads/m", &id,
	    "a\xc2\x9b" "31mb\xc2\xa0\xc3\xa9", "x\xff\xc3(y\xe2\x82",
	    "f\xc2\x85"), 0);
	/* 63 bytes of the 65: the cut at 64 does not split the e-acute. */
	rule[63] = '\0';
	CU_ASSERT_STRING_EQUAL(res.issues[0].rule, rule);
	CU_ASSERT_STRING_EQUAL(res.issues[0].subject,
	    "a?31mb\xc2\xa0\xc3\xa9");
	/* A lone byte, a lead byte without its tail, a cut-off tail. */
	CU_ASSERT_STRING_EQUAL(res.issues[0].finding, "x??" "(y??");
	CU_ASSERT_STRING_EQUAL(res.issues[0].fix, "f?");
	fg_rules_result_release(&res);
}

static void
test_rules_issues_are_capped_and_cleaned(void)
{
	struct fg_rules_result res = FG_RULES_RESULT_INIT;
	struct fg_buf b = FG_BUF_INIT;
	git_oid id;
	int i;

	memset(&id, 0xab, sizeof(id));
	for (i = 0; i < FG_RULES_MAX_ISSUES + 5; i++)
		CU_ASSERT_EQUAL(fg_rules_add(&res, "message", "refs/heads/m",
		    &id, "sub\nject\x1b[31m", "found\r\nx", "fix"), 0);
	CU_ASSERT_EQUAL(res.n, FG_RULES_MAX_ISSUES);
	CU_ASSERT_EQUAL(res.dropped, 5);
	CU_ASSERT_EQUAL(fg_rules_issue_format(&b, &res.issues[0]), 0);
	CU_ASSERT_STRING_EQUAL(b.ptr, "m: message: abababa \"sub?ject?[31m\": "
	    "found??x; fix");
	fg_buf_release(&b);
	fg_rules_result_release(&res);
}

static CU_TestInfo tests[] = {
	{ "accepts a clean push", test_rules_accepts_a_clean_push },
	{ "refuses a force push, not a creation",
	    test_rules_refuses_force_push_not_creation },
	{ "refuses a delete only where ruled",
	    test_rules_refuses_delete_only_where_ruled },
	{ "message and author-email per new commit",
	    test_rules_message_and_author_email_per_new_commit },
	{ "max-file-size sees added and changed blobs only",
	    test_rules_max_file_size_sees_added_and_changed_blobs_only },
	{ "forbid-paths uses pathspecs",
	    test_rules_forbid_paths_uses_pathspecs },
	{ "secrets are named, never shown",
	    test_rules_secrets_named_never_shown },
	{ "secret patterns", test_rules_secret_patterns },
	{ "linear refuses merges", test_rules_linear_refuses_merges },
	{ "signed wants a signature header",
	    test_rules_signed_wants_a_signature_header },
	{ "signed with verify runs the command",
	    test_rules_signed_verify_runs_the_command },
	{ "max-commits counts new commits",
	    test_rules_max_commits_counts_new_commits },
	{ "commits other refs have are skipped",
	    test_rules_skip_commits_other_refs_have },
	{ "a shared commit is judged once with the union of sets",
	    test_rules_shared_commit_judged_once_with_union_of_sets },
	{ "issues are capped and cleaned",
	    test_rules_issues_are_capped_and_cleaned },
	{ "issues drop C1 controls and broken UTF-8",
	    test_rules_issues_drop_c1_and_broken_utf8 },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("rules", tests)
