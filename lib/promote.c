/*
 * promote.c - the five-step promotion workflow and rollback (see
 * promote.h).
 */
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "deploy.h"
#include "facts.h"
#include "pipeline.h"
#include "proc.h"
#include "promote.h"
#include "record.h"
#include "util.h"
#include "banned.h"

#define ACTIVITY_REF	"refs/flowgate/activity"
#define MAX_RECORDS	5

/* Everything one promotion works with. */
struct ctx {
	struct fg_store *st;
	git_repository *repo;
	const struct fg_promote_req *req;
	struct fg_promote_result *r;
	const struct fg_stage *from, *to;
	git_oid commit;			/* the change */
	git_oid old_tip, new_tip;
	bool have_tip;
	const char *actor;
	const char *kind;		/* "promote" or "rollback" */
	char short_id[8];
	char change_ref[300];		/* FLOWGATE_REF for deployments */
	int lock_fd;
	struct fg_deploy_prep *prep;	/* the first environment's checkout,
					   made ahead */
	bool hand_off;			/* the queued records and gate_note go
					   with the first deployment */
	cJSON *gate_note;		/* the verdict's note keys, or NULL */
	bool gate_noted;		/* gate_note was written */
	/* Records not yet appended, and their texts. */
	struct fg_record recs[MAX_RECORDS];
	struct fg_trailer steps[MAX_RECORDS];
	char *subjects[MAX_RECORDS];
	char *bodies[MAX_RECORDS];
	cJSON *datas[MAX_RECORDS];
	size_t nrecs;
};

const char *
fg_promote_outcome_name(enum fg_promote_outcome o)
{
	switch (o) {
	case FG_PROMOTE_CHECKED:
		return "checked";
	case FG_PROMOTE_DONE:
		return "promoted";
	case FG_PROMOTE_REFUSED:
		return "refused";
	case FG_PROMOTE_FAILED:
		return "failed";
	}
	return "failed";
}

void
fg_promote_result_init(struct fg_promote_result *r)
{
	memset(r, 0, sizeof(*r));
	r->outcome = FG_PROMOTE_REFUSED;
}

void
fg_promote_result_release(struct fg_promote_result *r)
{
	if (r == NULL)
		return;
	fg_verdict_release(&r->verdict);
	fg_promote_result_init(r);
}

/* A fresh run id: the time and 32 random bits. */
static void
new_run(char *out, size_t size)
{
	unsigned int rnd = 0;

	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd = (unsigned int)getpid() ^ (unsigned int)clock();
	snprintf(out, size, "p%lld-%08x", (long long)fg_now(), rnd);
}

/*
 * Add an issue that is not a gate's (deploy, merge, branch) to the
 * verdict, so the summary and its JSON list every issue alike.
 */
static int
add_issue(struct ctx *c, const char *gate, const char *finding,
    const char *fix)
{
	struct fg_verdict *v = &c->r->verdict;
	struct fg_issue *is, *grown;

	grown = realloc(v->issues, (v->nissues + 1) * sizeof(*grown));
	if (grown == NULL)
		return FG_ENOMEM;
	v->issues = grown;
	is = &v->issues[v->nissues];
	memset(is, 0, sizeof(*is));
	is->gate = fg_strdup(gate);
	is->commit = fg_strdup(c->short_id);
	is->subject = fg_strdup("");
	is->finding = fg_strdup(finding);
	is->fix = fg_strdup(fix != NULL ? fix : "");
	is->output = fg_strdup("");
	v->nissues++;
	v->passed = false;
	if (is->gate == NULL || is->commit == NULL || is->subject == NULL ||
	    is->finding == NULL || is->fix == NULL || is->output == NULL)
		return FG_ENOMEM;
	return 0;
}

/* Queue a record of one step; texts are copied. */
static int
add_record(struct ctx *c, const char *step, const char *status,
    const char *subject, const char *body, cJSON *data)
{
	struct fg_record *rec;
	size_t i = c->nrecs;

	if (i >= MAX_RECORDS) {
		cJSON_Delete(data);
		return FG_EINVALID;
	}
	c->subjects[i] = fg_strdup(subject);
	c->bodies[i] = fg_strdup(body != NULL ? body : "");
	c->datas[i] = data;
	if (c->subjects[i] == NULL || c->bodies[i] == NULL) {
		c->nrecs++;
		return FG_ENOMEM;
	}
	c->steps[i].key = "Flowgate-Step";
	c->steps[i].value = step;
	rec = &c->recs[i];
	memset(rec, 0, sizeof(*rec));
	rec->kind = c->kind;
	rec->subject = c->subjects[i];
	rec->body = c->bodies[i];
	rec->stage = c->to != NULL ? fg_stage_name(c->to->id) : NULL;
	rec->commit = c->r->commit[0] != '\0' ? c->r->commit : NULL;
	rec->status = status;
	rec->run = c->r->run;
	rec->actor_name = c->actor;
	rec->data = data;
	rec->trailers = &c->steps[i];
	rec->ntrailers = 1;
	c->nrecs++;
	return 0;
}

static void
drop_records(struct ctx *c)
{
	size_t i;

	for (i = 0; i < c->nrecs; i++) {
		free(c->subjects[i]);
		free(c->bodies[i]);
		cJSON_Delete(c->datas[i]);
		c->subjects[i] = c->bodies[i] = NULL;
		c->datas[i] = NULL;
	}
	c->nrecs = 0;
}

/* Append the queued records as one batch (one ref update). */
static int
flush_records(struct ctx *c, struct fg_err *err)
{
	int rc = 0;

	if (c->req->dry_run) {
		drop_records(c);
		return 0;
	}
	if (c->nrecs > 0)
		rc = fg_store_append_batch(NULL, c->st, ACTIVITY_REF, c->recs,
		    c->nrecs, err);
	drop_records(c);
	return rc;
}

/* "uat, uat2", or "no environments". */
static void
env_list(char *out, size_t size, const struct fg_stage *st)
{
	size_t i, len = 0;

	out[0] = '\0';
	if (st->envs.n == 0) {
		snprintf(out, size, "no environments");
		return;
	}
	for (i = 0; i < st->envs.n && len < size; i++) {
		snprintf(out + len, size - len, "%s%s", i > 0 ? ", " : "",
		    st->envs.v[i]);
		len = strlen(out);
	}
}

/* Text from outside fit for a CHANGE: bounded, UTF-8, no controls. */
static bool
change_ok(const char *s)
{
	size_t len, i;

	if (s == NULL)
		return false;
	len = strlen(s);
	if (len == 0 || len > FG_PROMOTE_CHANGE_MAX ||
	    !fg_utf8_is_valid(s, len))
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static bool
all_of(const char *s, const char *set)
{
	return *s != '\0' && strspn(s, set) == strlen(s);
}

/* The commit id at prefix hex (4 to 40 hex digits). */
static int
lookup_commit(git_oid *out, git_repository *repo, const char *hex,
    struct fg_err *err)
{
	git_commit *cm = NULL;
	git_oid prefix;
	size_t len = strlen(hex);
	int rc;

	if (git_oid_fromstrn(&prefix, hex, len) < 0)
		return fg_err_set(err, FG_EINVALID, "'%s' is not a commit id",
		    hex);
	rc = git_commit_lookup_prefix(&cm, repo, &prefix, len);
	if (rc == GIT_EAMBIGUOUS)
		return fg_err_set(err, FG_EINVALID, "'%s' names more than one "
		    "commit; give more digits", hex);
	if (rc < 0)
		return fg_err_set(err, FG_ENOTFOUND, "no commit '%s' in the "
		    "repository", hex);
	git_oid_cpy(out, git_commit_id(cm));
	git_commit_free(cm);
	return 0;
}

/* The configured stage with a branch whose branch contains commit, the
 * highest in promotion order (hotfix not counted), or NULL. */
static const struct fg_stage *
stage_containing(const struct fg_config *cfg, git_repository *repo,
    const git_oid *commit)
{
	const struct fg_stage *order[FG_STAGE_COUNT];
	char ref[300];
	git_oid tip;
	size_t n, i;

	n = fg_pipeline_order(cfg, order);
	for (i = n; i-- > 0;) {
		if (order[i]->branch == NULL || order[i]->id == FG_STAGE_HOTFIX)
			continue;
		snprintf(ref, sizeof(ref), "refs/heads/%s", order[i]->branch);
		if (git_reference_name_to_id(&tip, repo, ref) < 0)
			continue;
		if (git_oid_equal(&tip, commit) ||
		    git_graph_descendant_of(repo, &tip, commit) == 1)
			return order[i];
	}
	return NULL;
}

/* Step 1: what CHANGE names. */
static int
step_change(struct ctx *c, struct fg_err *err)
{
	const struct fg_config *cfg = c->req->cfg;
	const char *ch = c->req->change;
	struct fg_promote_result *r = c->r;
	char ref[FG_PROMOTE_CHANGE_MAX + 16];
	const char *num = NULL;
	long long n;
	cJSON *pull = NULL;
	const cJSON *sha;
	int rc;

	if (!change_ok(ch))
		return fg_err_set(err, FG_EINVALID, "a change is a commit id, "
		    "a branch or a pull request number (1 to %d bytes of "
		    "text)", FG_PROMOTE_CHANGE_MAX);
	snprintf(r->change, sizeof(r->change), "%s", ch);
	if (ch[0] == '#') {
		num = ch + 1;
	} else {
		if (strncmp(ch, "refs/heads/", 11) == 0)
			snprintf(ref, sizeof(ref), "%s", ch);
		else
			snprintf(ref, sizeof(ref), "refs/heads/%s", ch);
		if (fg_refname_is_valid(ref) &&
		    git_reference_name_to_id(&c->commit, c->repo, ref) == 0) {
			snprintf(c->change_ref, sizeof(c->change_ref), "%s",
			    ref);
			snprintf(r->what, sizeof(r->what), "branch %.50s",
			    ref + 11);
			c->from = cfg != NULL ?
			    fg_pipeline_stage_for_branch(cfg, ref) : NULL;
			goto found;
		}
		if (all_of(ch, "0123456789") && strlen(ch) < 7)
			num = ch;
	}
	if (num != NULL) {
		rc = fg_parse_int(&n, num, 1, 1000000000LL, NULL);
		if (rc < 0)
			return fg_err_set(err, FG_EINVALID, "'%s' is not a "
			    "pull request number", ch);
		rc = fg_facts_pull(&pull, c->repo, n, err);
		if (rc < 0)
			return rc;
		sha = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(pull, "head"), "sha");
		rc = cJSON_IsString(sha) ? lookup_commit(&c->commit, c->repo,
		    sha->valuestring, err) : fg_err_set(err, FG_ENOTFOUND,
		    "pull request #%lld names no head commit", n);
		cJSON_Delete(pull);
		if (rc < 0)
			return rc;
		snprintf(c->change_ref, sizeof(c->change_ref),
		    "refs/flowgate/pulls/%lld", n);
		snprintf(r->what, sizeof(r->what), "pull request #%lld", n);
		c->from = cfg != NULL ? &cfg->stages[FG_STAGE_DEVELOPER] :
		    NULL;
		goto found;
	}
	if (!all_of(ch, "0123456789abcdefABCDEF") || strlen(ch) < 4 ||
	    strlen(ch) > GIT_OID_HEXSZ)
		return fg_err_set(err, FG_ENOTFOUND, "no branch, commit or "
		    "pull request '%s'", ch);
	rc = lookup_commit(&c->commit, c->repo, ch, err);
	if (rc < 0)
		return rc;
	snprintf(r->what, sizeof(r->what), "commit");
	c->from = cfg != NULL ? stage_containing(cfg, c->repo, &c->commit) :
	    NULL;
	if (c->from == NULL && cfg != NULL)
		c->from = &cfg->stages[FG_STAGE_DEVELOPER];
found:
	git_oid_tostr(r->commit, sizeof(r->commit), &c->commit);
	git_oid_tostr(c->short_id, sizeof(c->short_id), &c->commit);
	r->from = c->from != NULL ? fg_stage_name(c->from->id) : NULL;
	return 0;
}

/* Step 2: where it goes. */
static int
step_target(struct ctx *c, struct fg_err *err)
{
	const struct fg_config *cfg = c->req->cfg;
	const struct fg_stage *order[FG_STAGE_COUNT], *to = NULL;
	const char *from = c->from != NULL ? fg_stage_name(c->from->id) :
	    "none";
	size_t n, i;

	if (c->req->to != NULL && *c->req->to != '\0') {
		to = fg_pipeline_stage(cfg, c->req->to);
		if (to == NULL || !to->configured)
			return fg_err_set(err, FG_ENOTFOUND, "no stage '%s' in "
			    "this pipeline", c->req->to);
		if (to->branch == NULL || to->id == FG_STAGE_DEVELOPER)
			return fg_err_set(err, FG_EINVALID, "the %s stage has "
			    "no branch to promote into", c->req->to);
		if (to->id == FG_STAGE_HOTFIX)
			return fg_err_set(err, FG_EINVALID, "hotfix takes "
			    "pushes, not promotions; push the fix to '%s'",
			    to->branch);
		if (c->from != NULL && c->from->id == FG_STAGE_HOTFIX &&
		    to->id != FG_STAGE_PRODUCTION)
			return fg_err_set(err, FG_EINVALID, "hotfix promotes "
			    "into production only, not '%s'", c->req->to);
		if (c->from != NULL && c->from->id != FG_STAGE_HOTFIX &&
		    to->id <= c->from->id)
			return fg_err_set(err, FG_EINVALID, "'%s' is not above "
			    "'%s' in the pipeline; a promotion goes up",
			    c->req->to, from);
	} else {
		to = fg_pipeline_target(cfg, c->from);
		if (to == NULL && c->from != NULL &&
		    c->from->id == FG_STAGE_DEVELOPER) {
			/* A pull request goes to the first stage with a
			 * branch. */
			n = fg_pipeline_order(cfg, order);
			for (i = 0; to == NULL && i < n; i++)
				if (order[i]->branch != NULL &&
				    order[i]->id != FG_STAGE_HOTFIX)
					to = order[i];
		}
		if (to == NULL || to->branch == NULL)
			return fg_err_set(err, FG_EINVALID, "%s is the last "
			    "stage: there is nothing to promote it to", from);
	}
	c->to = to;
	c->r->to = fg_stage_name(to->id);
	c->r->branch = to->branch;
	if (to->envs.n > FG_PROMOTE_ENVS_MAX)
		return fg_err_set(err, FG_ELIMIT, "stage '%s' has more than "
		    "%d environments", c->r->to, FG_PROMOTE_ENVS_MAX);
	return 0;
}

/* The branch's tip now, into c->old_tip. */
static int
read_tip(struct ctx *c, struct fg_err *err)
{
	char ref[300];
	int rc;

	snprintf(ref, sizeof(ref), "refs/heads/%s", c->to->branch);
	rc = git_reference_name_to_id(&c->old_tip, c->repo, ref);
	c->have_tip = rc == 0;
	if (rc < 0 && rc != GIT_ENOTFOUND)
		return fg_err_git(err, FG_EIO, "cannot read '%s'", ref);
	c->r->old_tip[0] = '\0';
	if (c->have_tip)
		git_oid_tostr(c->r->old_tip, sizeof(c->r->old_tip),
		    &c->old_tip);
	return 0;
}

/* Soak: the environment's history is the truth (deploy.h). */
static int
fact_deployed(int64_t *since, const char *env, const char *sha,
    void *payload)
{
	struct ctx *c = payload;
	git_oid id;

	if (git_oid_fromstr(&id, sha) < 0)
		return FG_EINVALID;
	return fg_deploy_since(since, c->st, env, &id, NULL);
}

static int
fact_status(char *state, size_t size, const char *sha, const char *context,
    void *payload)
{
	return fg_facts_status(state, size, sha, context,
	    ((struct ctx *)payload)->repo);
}

static int
fact_pull_for(cJSON **out, const char *sha, const char *base_ref,
    void *payload)
{
	return fg_facts_pull_for(out, sha, base_ref,
	    ((struct ctx *)payload)->repo);
}

static int
fact_manual(struct fg_strv *out, const char *sha, const char *stage,
    void *payload)
{
	return fg_facts_manual(out, sha, stage, ((struct ctx *)payload)->repo);
}

/* Step 3: the gates of stage (c->to, or a copy without some gates). */
static int
step_gates(struct ctx *c, const struct fg_stage *stage, struct fg_err *err)
{
	struct fg_gate_facts facts;
	struct fg_gate_input in;

	memset(&facts, 0, sizeof(facts));
	facts.status = fact_status;
	facts.pull_for = fact_pull_for;
	facts.deployed = fact_deployed;
	facts.manual = fact_manual;
	facts.payload = c;
	memset(&in, 0, sizeof(in));
	in.cfg = c->req->cfg;
	in.stage = stage;
	in.from = c->from;
	in.repo = c->repo;
	in.commit = &c->commit;
	in.branch_tip = c->have_tip ? &c->old_tip : NULL;
	in.now = fg_now();
	in.facts = &facts;
	in.run_commands = true;
	return fg_gate_eval(&c->r->verdict, &in, err);
}

/* Wait for the stage's promotion lock; FG_EBUSY after wait seconds. */
static int
lock_stage(struct ctx *c, int wait, struct fg_err *err)
{
	struct fg_buf path = FG_BUF_INIT;
	struct timespec nap = { 0, 50 * 1000 * 1000 };
	int64_t deadline = (int64_t)time(NULL) + wait;
	int fd = -1, rc = 0;

	if (fg_buf_printf(&path, "%sflowgate", git_repository_path(c->repo))
	    < 0) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	(void)mkdir(path.ptr, 0700);
	if (fg_buf_puts(&path, "/locks") < 0) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	(void)mkdir(path.ptr, 0700);
	if (fg_buf_printf(&path, "/stage-%s.lock", fg_stage_name(c->to->id)) <
	    0) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	fd = open(path.ptr, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = fg_err_set(err, FG_EIO, "cannot open '%s': %s", path.ptr,
		    strerror(errno));
		goto out;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			rc = fg_err_set(err, FG_EIO, "cannot lock '%s': %s",
			    path.ptr, strerror(errno));
			goto out;
		}
		if ((int64_t)time(NULL) >= deadline) {
			rc = fg_err_set(err, FG_EBUSY, "another promotion into "
			    "%s is running; try again when it is done",
			    fg_stage_name(c->to->id));
			goto out;
		}
		nanosleep(&nap, NULL);
	}
	c->lock_fd = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	fg_buf_release(&path);
	return rc;
}

/*
 * What the branch gets: the change when it fast-forwards (or the branch
 * does not exist), else a merge commit written here.  A conflict or a
 * change the branch already holds is an issue (*refused set).
 */
static int
new_tip(struct ctx *c, bool *refused, struct fg_err *err)
{
	git_commit *ours = NULL, *theirs = NULL;
	git_index *idx = NULL;
	git_tree *tree = NULL;
	git_signature *author = NULL, *committer = NULL;
	const git_index_entry *anc, *our, *their;
	git_index_conflict_iterator *ci = NULL;
	git_oid tree_id;
	struct fg_buf files = FG_BUF_INIT, msg = FG_BUF_INIT;
	const git_commit *parents[2];
	char *aname = NULL, *aemail = NULL;
	struct fg_record who;
	size_t nconf = 0;
	int rc = 0;

	*refused = false;
	if (!c->have_tip ||
	    git_graph_descendant_of(c->repo, &c->commit, &c->old_tip) == 1) {
		git_oid_cpy(&c->new_tip, &c->commit);
		goto out;
	}
	if (git_oid_equal(&c->old_tip, &c->commit) ||
	    git_graph_descendant_of(c->repo, &c->old_tip, &c->commit) == 1) {
		*refused = true;
		if (fg_buf_printf(&files, "%s already contains %s; there is "
		    "nothing to promote", c->to->branch, c->short_id) < 0 ||
		    add_issue(c, "branch", files.ptr, "promote a newer change")
		    < 0)
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	if (git_commit_lookup(&ours, c->repo, &c->old_tip) < 0 ||
	    git_commit_lookup(&theirs, c->repo, &c->commit) < 0 ||
	    git_merge_commits(&idx, c->repo, ours, theirs, NULL) < 0) {
		rc = fg_err_git(err, FG_EIO, "cannot merge %s into %s",
		    c->short_id, c->to->branch);
		goto out;
	}
	if (git_index_has_conflicts(idx)) {
		if (git_index_conflict_iterator_new(&ci, idx) < 0) {
			rc = fg_err_git(err, FG_EIO, "cannot list conflicts");
			goto out;
		}
		while (git_index_conflict_next(&anc, &our, &their, ci) == 0) {
			const char *p = our != NULL ? our->path : their != NULL ?
			    their->path : anc->path;

			if (nconf++ < 20 && fg_buf_printf(&files, "%s%s",
			    nconf > 1 ? ", " : "", p) < 0) {
				rc = fg_err_set(err, FG_ENOMEM, "out of memory");
				goto out;
			}
		}
		if (nconf > 20)
			(void)fg_buf_printf(&files, " and %zu more",
			    nconf - 20);
		*refused = true;
		if (fg_buf_printf(&msg, "merging %s into %s conflicts in %s",
		    c->short_id, c->to->branch, files.ptr) < 0 ||
		    add_issue(c, "merge", msg.ptr, "merge the target branch "
		    "into the change, resolve the conflicts and promote the "
		    "result") < 0)
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	if (git_index_write_tree_to(&tree_id, idx, c->repo) < 0 ||
	    git_tree_lookup(&tree, c->repo, &tree_id) < 0) {
		rc = fg_err_git(err, FG_EIO, "cannot write the merged tree");
		goto out;
	}
	memset(&who, 0, sizeof(who));
	who.actor_name = c->actor;
	rc = fg_record_author(&aname, &aemail, &who, err);
	if (rc < 0)
		goto out;
	if (git_signature_new(&author, aname, aemail, (git_time_t)fg_now(),
	    0) < 0 || git_signature_new(&committer, FG_RECORD_COMMITTER,
	    FG_RECORD_COMMITTER_EMAIL, (git_time_t)fg_now(), 0) < 0) {
		rc = fg_err_git(err, FG_EIO, "cannot make a signature");
		goto out;
	}
	if (fg_buf_printf(&msg, "Merge %s into %s\n\nWritten by flowgate "
	    "promote, run %s.\n", c->r->what, c->to->branch, c->r->run) < 0) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	parents[0] = ours;
	parents[1] = theirs;
	if (git_commit_create(&c->new_tip, c->repo, NULL, author, committer,
	    NULL, msg.ptr, tree, 2, parents) < 0) {
		rc = fg_err_git(err, FG_EIO, "cannot write the merge commit");
		goto out;
	}
	c->r->merged = true;
out:
	if (rc == 0 && !*refused)
		git_oid_tostr(c->r->new_tip, sizeof(c->r->new_tip),
		    &c->new_tip);
	git_index_conflict_iterator_free(ci);
	git_signature_free(author);
	git_signature_free(committer);
	free(aname);
	free(aemail);
	git_tree_free(tree);
	git_index_free(idx);
	git_commit_free(ours);
	git_commit_free(theirs);
	fg_buf_release(&files);
	fg_buf_release(&msg);
	return rc;
}

/*
 * Deploy commit to each environment of stage, in order, stopping at the
 * first that fails.  *ok tells whether all succeeded.
 */
static int
deploy_all(struct ctx *c, const struct fg_stage *stage, const char *only,
    const git_oid *commit, bool *ok, struct fg_err *err)
{
	struct fg_deploy_req dr;
	struct fg_deployment d;
	struct fg_err derr = FG_ERR_INIT;
	struct fg_promote_env *pe;
	struct fg_buf f = FG_BUF_INIT;
	size_t i;
	int rc;

	*ok = true;
	for (i = 0; i < stage->envs.n && *ok; i++) {
		if (only != NULL && strcmp(only, stage->envs.v[i]) != 0)
			continue;
		pe = &c->r->envs[c->r->nenvs++];
		pe->name = stage->envs.v[i];
		memset(&dr, 0, sizeof(dr));
		dr.cfg = c->req->cfg;
		dr.env = stage->envs.v[i];
		dr.stage = fg_stage_name(stage->id);
		git_oid_cpy(&dr.commit, commit);
		dr.ref = c->change_ref[0] != '\0' ? c->change_ref : NULL;
		dr.actor = c->actor;
		dr.run = c->r->run;
		dr.wait_secs = c->req->wait_secs < 0 ? FG_PROMOTE_WAIT_SECS :
		    c->req->wait_secs;
		dr.prep = c->prep;
		if (c->hand_off) {
			dr.before = c->recs;
			dr.nbefore = c->nrecs;
			if (git_oid_equal(commit, &c->commit))
				dr.note = c->gate_note;
		}
		memset(&d, 0, sizeof(d));
		fg_buf_init(&d.log);
		derr.code = 0;
		derr.msg[0] = '\0';
		rc = fg_deploy_run(&d, c->st, &dr, &derr);
		if (c->hand_off) {
			/* Written with "started", or still ours to write. */
			c->hand_off = false;
			c->gate_noted = dr.note != NULL && d.ended_recorded;
			if (d.started_recorded)
				drop_records(c);
			else if (rc != FG_ENOMEM && flush_records(c, err) < 0) {
				fg_deployment_release(&d);
				fg_buf_release(&f);
				return err != NULL ? err->code : FG_EIO;
			}
		}
		if (rc == FG_ENOMEM) {
			fg_deployment_release(&d);
			fg_buf_release(&f);
			return fg_err_set(err, rc, "out of memory");
		}
		if (rc == 0 && d.status == FG_DEPLOY_SUCCEEDED) {
			pe->succeeded = true;
			snprintf(pe->status, sizeof(pe->status), "succeeded");
		} else {
			*ok = false;
			snprintf(pe->status, sizeof(pe->status), "%s",
			    rc == FG_EBUSY ? "busy" : rc < 0 ? "error" :
			    fg_deploy_status_name(d.status));
			snprintf(pe->reason, sizeof(pe->reason), "%.*s",
			    (int)sizeof(pe->reason) - 1, derr.msg[0] != '\0' ?
			    derr.msg : fg_strerror(rc));
			fg_buf_reset(&f);
			if (fg_buf_printf(&f, "deployment to %s %s: %s",
			    pe->name, pe->status, pe->reason) < 0 ||
			    add_issue(c, "deploy", f.ptr, "read the "
			    "deployment's log (git log -p refs/flowgate/envs/"
			    "<env>), fix the cause and promote again") < 0) {
				fg_deployment_release(&d);
				fg_buf_release(&f);
				return fg_err_set(err, FG_ENOMEM,
				    "out of memory");
			}
		}
		if (rc == 0)
			git_oid_tostr(pe->record, sizeof(pe->record),
			    &d.record);
		fg_deployment_release(&d);
	}
	fg_buf_release(&f);
	return 0;
}

/* Move the branch from old_tip to new_tip, compare-and-swap. */
static int
move_branch(struct ctx *c, bool *moved, struct fg_err *err)
{
	git_reference *ref = NULL;
	struct fg_buf msg = FG_BUF_INIT, f = FG_BUF_INIT;
	char name[300];
	int rc = 0, grc = 0, tries;

	*moved = false;
	if (c->have_tip && git_oid_equal(&c->old_tip, &c->new_tip)) {
		*moved = true;
		return 0;
	}
	snprintf(name, sizeof(name), "refs/heads/%s", c->to->branch);
	if (fg_buf_printf(&msg, "flowgate promote %s to %s (run %s)",
	    c->short_id, fg_stage_name(c->to->id), c->r->run) < 0)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	for (tries = 0; tries < 50; tries++) {
		if (c->have_tip)
			grc = git_reference_create_matching(&ref, c->repo,
			    name, &c->new_tip, 1, &c->old_tip, msg.ptr);
		else
			grc = git_reference_create(&ref, c->repo, name,
			    &c->new_tip, 0, msg.ptr);
		git_reference_free(ref);
		ref = NULL;
		if (grc != GIT_ELOCKED)
			break;
		usleep(20000);
	}
	if (grc == 0) {
		*moved = true;
	} else if (grc == GIT_EMODIFIED || grc == GIT_EEXISTS ||
	    grc == GIT_ELOCKED) {
		if (fg_buf_printf(&f, "%s moved while the promotion ran; it "
		    "was left as it is", c->to->branch) < 0 ||
		    add_issue(c, "branch", f.ptr, "promote again") < 0)
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
	} else {
		rc = fg_err_git(err, FG_EIO, "cannot move '%s'", name);
	}
	fg_buf_release(&msg);
	fg_buf_release(&f);
	return rc;
}

/* Step 5's record: the outcome and every issue. */
static int
record_summary(struct ctx *c)
{
	struct fg_promote_result *r = c->r;
	struct fg_buf subj = FG_BUF_INIT, body = FG_BUF_INIT;
	cJSON *data = NULL;
	size_t n = r->verdict.nissues;
	int rc;

	if (r->outcome == FG_PROMOTE_DONE)
		rc = fg_buf_printf(&subj, "%s %s to %s: %s", c->kind,
		    c->short_id, fg_stage_name(c->to->id),
		    c->to->branch != NULL && r->new_tip[0] != '\0' &&
		    strcmp(c->kind, "promote") == 0 ? "promoted" : "done");
	else
		rc = fg_buf_printf(&subj, "%s %s to %s by %s: %s, %zu issue%s",
		    c->kind, c->short_id, c->to != NULL ?
		    fg_stage_name(c->to->id) : "?", c->actor,
		    fg_promote_outcome_name(r->outcome), n, n == 1 ? "" : "s");
	if (rc == 0)
		rc = fg_verdict_format(&body, &r->verdict, NULL);
	if (rc == 0)
		rc = fg_promote_to_json(&data, r);
	if (rc == 0)
		rc = add_record(c, "summary", fg_promote_outcome_name(
		    r->outcome), subj.ptr, body.ptr, data);
	fg_buf_release(&subj);
	fg_buf_release(&body);
	return rc < 0 ? FG_ENOMEM : 0;
}

/* Steps 1 and 2's records. */
static int
record_request(struct ctx *c)
{
	struct fg_buf s = FG_BUF_INIT;
	char envs[512];
	int rc;

	rc = fg_buf_printf(&s, "%s %s: change is %s (%s)", c->kind,
	    c->r->change, c->short_id, c->r->what);
	if (rc == 0)
		rc = add_record(c, "change", "confirmed", s.ptr, NULL, NULL);
	if (rc == 0) {
		env_list(envs, sizeof(envs), c->to);
		fg_buf_reset(&s);
		rc = fg_buf_printf(&s, "%s %s to %s: from %s, branch %s, "
		    "environments %s", c->kind, c->short_id,
		    fg_stage_name(c->to->id), c->r->from != NULL ? c->r->from :
		    "none", c->to->branch != NULL ? c->to->branch : "-", envs);
	}
	if (rc == 0)
		rc = add_record(c, "target", "confirmed", s.ptr, NULL, NULL);
	fg_buf_release(&s);
	return rc;
}

static int
record_gates(struct ctx *c, bool forced)
{
	struct fg_verdict *v = &c->r->verdict;
	struct fg_buf s = FG_BUF_INIT, b = FG_BUF_INIT;
	cJSON *data = NULL;
	int rc;

	if (forced)
		rc = fg_buf_printf(&s, "%s %s to %s by %s: gates skipped "
		    "(--force)", c->kind, c->short_id,
		    fg_stage_name(c->to->id), c->actor);
	else if (v->passed)
		rc = fg_buf_printf(&s, "%s %s to %s by %s: gates passed",
		    c->kind, c->short_id, fg_stage_name(c->to->id), c->actor);
	else
		rc = fg_buf_printf(&s, "%s %s to %s by %s: refused, %zu "
		    "issue%s", c->kind, c->short_id, fg_stage_name(c->to->id),
		    c->actor, v->nissues, v->nissues == 1 ? "" : "s");
	if (rc == 0)
		rc = fg_verdict_explain(&b, v, NULL);
	if (rc == 0)
		rc = fg_verdict_to_json(&data, v);
	if (rc == 0)
		rc = add_record(c, "gates", forced ? "skipped" : v->passed ?
		    "passed" : "refused", s.ptr, b.ptr, data);
	fg_buf_release(&s);
	fg_buf_release(&b);
	return rc;
}

/* Step 4's record. */
static int
record_deploy(struct ctx *c, bool deployed, bool moved)
{
	struct fg_promote_result *r = c->r;
	struct fg_buf s = FG_BUF_INIT, b = FG_BUF_INIT;
	char tip[8];
	size_t i;
	int rc;

	rc = fg_buf_printf(&s, "%s %s to %s: ", c->kind, c->short_id,
	    fg_stage_name(c->to->id));
	if (rc == 0 && r->nenvs > 0 && deployed) {
		rc = fg_buf_puts(&s, "deployed ");
		for (i = 0; rc == 0 && i < r->nenvs; i++)
			rc = fg_buf_printf(&s, "%s%s", i > 0 ? ", " : "",
			    r->envs[i].name);
	} else if (rc == 0 && r->nenvs > 0) {
		i = r->nenvs - 1;
		rc = fg_buf_printf(&s, "deploy %s %s: %s", r->envs[i].name,
		    r->envs[i].status, r->envs[i].reason);
	} else if (rc == 0) {
		rc = fg_buf_puts(&s, "nothing deployed");
	}
	if (rc == 0 && strcmp(c->kind, "promote") == 0) {
		if (moved && r->new_tip[0] != '\0') {
			snprintf(tip, sizeof(tip), "%.7s", r->new_tip);
			rc = fg_buf_printf(&s, "; %s at %s%s", c->to->branch,
			    tip, r->merged ? " (merge)" : "");
		} else if (r->old_tip[0] != '\0') {
			rc = fg_buf_printf(&s, "; %s stays at %.7s",
			    c->to->branch, r->old_tip);
		} else {
			rc = fg_buf_printf(&s, "; %s not created",
			    c->to->branch);
		}
	}
	for (i = 0; rc == 0 && i < r->nenvs; i++)
		rc = fg_buf_printf(&b, "%s: %s%s%s\n", r->envs[i].name,
		    r->envs[i].status, r->envs[i].reason[0] ? ": " : "",
		    r->envs[i].reason);
	if (rc == 0)
		rc = add_record(c, "deploy", deployed && moved ? "succeeded" :
		    "failed", s.ptr, b.ptr, NULL);
	fg_buf_release(&s);
	fg_buf_release(&b);
	return rc;
}

static void
ctx_release(struct ctx *c)
{
	fg_deploy_prep_free(c->prep);
	c->prep = NULL;
	cJSON_Delete(c->gate_note);
	c->gate_note = NULL;
	drop_records(c);
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	c->lock_fd = -1;
}

static int
ctx_init(struct ctx *c, struct fg_promote_result *out, struct fg_store *st,
    const struct fg_promote_req *req, const char *kind)
{
	memset(c, 0, sizeof(*c));
	fg_promote_result_init(out);
	c->st = st;
	c->repo = fg_store_repo(st);
	c->req = req;
	c->r = out;
	c->kind = kind;
	out->dry_run = req->dry_run;
	c->lock_fd = -1;
	c->actor = req->actor != NULL && *req->actor != '\0' ? req->actor :
	    "flowgate";
	if (req->run != NULL && *req->run != '\0')
		snprintf(out->run, sizeof(out->run), "%s", req->run);
	else
		new_run(out->run, sizeof(out->run));
	if (req->cfg == NULL)
		return FG_EINVALID;
	return 0;
}

/* Record a request refused before its gates (no such change or stage). */
static void
record_bad_request(struct ctx *c, const struct fg_err *why)
{
	struct fg_buf s = FG_BUF_INIT;

	if (c->req->dry_run || why->code == FG_ENOMEM ||
	    !change_ok(c->req->change))
		return;
	if (fg_buf_printf(&s, "%s %s by %s: refused: %s", c->kind,
	    c->req->change, c->actor, why->msg) == 0 &&
	    add_record(c, c->to == NULL && c->r->commit[0] != '\0' ?
	    "target" : "change", "refused", s.ptr, NULL, NULL) == 0)
		(void)flush_records(c, NULL);
	fg_buf_release(&s);
}

/*
 * What a promotion writes, in this order, and why not in one batch:
 *
 *   a. the first environment's "started" record on its ref, then, in one
 *      activity batch, steps 1-3's records followed by that "started"
 *      record: the decision and the deployment are on record before the
 *      command runs, so a promotion killed mid-deployment still says what
 *      it decided and why, and its deployment is found started (its ref's
 *      tip) and marked interrupted by the next one.  Each step keeps its
 *      own record; only their ref update is shared.  A kill between the
 *      two writes leaves the environment "started" without steps 1-3 in
 *      the log, as it could leave it without its activity record before:
 *      the recovery's "interrupted" record then says what happened.  When
 *      that deployment cannot start (its environment stays busy), steps
 *      1-3 are appended on their own, before anything else;
 *   b. each further environment's "started" record (its ref, then the
 *      activity log), for the same reason;
 *   c. each end (ref, activity, and the note on the commit, which for the
 *      change's own commit also carries the gates' verdict, gates.<stage>:
 *      one note write instead of two) before the branch moves: the branch
 *      never points at a change whose deployment is not recorded as
 *      succeeded.  Killed between c and the move, the branch stays where
 *      it was and the promotion can simply run again;
 *   d. the move (compare-and-swap), then steps 4-5's records (one batch).
 * A refused promotion writes the verdict's note, then steps 1, 2, 3 and 5
 * in one batch.
 *
 * So the records cannot all wait for one write at the end: each of a-c
 * must be visible before the next action, and the move must not happen
 * before c is.  The cost of that order is small: the CLI and the daemon
 * open the store without FG_STORE_FSYNC, so none of these writes syncs
 * (a promotion makes no fsync at all; each write is a ref's rename after
 * complete objects): for one environment, six ref updates (env started,
 * activity; env end, activity, notes; branch) and the last batch, ~3 ms of
 * the CLI's ~15 in the process.  A store opened with FG_STORE_FSYNC would
 * need a flush at each of the same points, not one per record: before
 * the command runs (a), before the move (c), and after d.
 *
 * Meanwhile the first environment's checkout of the change is written on
 * a thread of its own from right after the stage lock (deploy.h,
 * fg_deploy_prep_new()), and this thread lends it a hand once it reaches
 * the deployment: on two cores the gates, the note and the records above
 * cost the promotion almost nothing.
 */
int
fg_promote_run(struct fg_promote_result *out, struct fg_store *st,
    const struct fg_promote_req *req, struct fg_err *err)
{
	struct ctx c;
	bool refused = false, ok = false, moved = false;
	int rc;

	if (ctx_init(&c, out, st, req, "promote") < 0)
		return fg_err_set(err, FG_EINVALID, "no config");
	rc = step_change(&c, err);
	if (rc == 0)
		rc = step_target(&c, err);
	if (rc < 0) {
		record_bad_request(&c, err);
		goto out;
	}
	FG_PROBE("steps 1-2: change, target");
	if (!req->dry_run) {
		rc = lock_stage(&c, req->wait_secs < 0 ? FG_PROMOTE_WAIT_SECS :
		    req->wait_secs, err);
		if (rc < 0)
			goto out;
		/*
		 * The first environment's checkout of the change is written
		 * on another thread while the gates are checked and steps
		 * 1-3 recorded: it is most of a promotion's time, and only
		 * the deployment needs it.  A refusal, an error or a merge
		 * (the new tip is then not the change) discards it
		 * (ctx_release()).
		 */
		if (c.to->envs.n > 0) {
			rc = fg_deploy_prep_new(&c.prep, st, req->cfg,
			    c.to->envs.v[0], &c.commit, err);
			if (rc < 0)
				goto out;
		}
	}
	FG_PROBE("stage lock");
	rc = read_tip(&c, err);
	if (rc == 0)
		rc = step_gates(&c, c.to, err);
	if (rc < 0)
		goto out;
	FG_PROBE("step 3: gates");
	if (req->dry_run) {
		out->outcome = out->verdict.passed ? FG_PROMOTE_CHECKED :
		    FG_PROMOTE_REFUSED;
		goto out;
	}
	rc = record_request(&c);
	if (rc == 0)
		rc = record_gates(&c, false);
	if (rc == 0)
		rc = fg_facts_gate_keys(&c.gate_note, fg_stage_name(c.to->id),
		    out->verdict.passed, out->verdict.nissues, fg_now());
	if (rc < 0) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	if (out->verdict.passed) {
		rc = new_tip(&c, &refused, err);
		if (rc < 0)
			goto out;
	}
	if (!out->verdict.passed || refused) {
		(void)fg_store_note_merge(st, &c.commit, c.gate_note, NULL,
		    NULL, NULL);
		out->outcome = FG_PROMOTE_REFUSED;
		goto summary;
	}
	FG_PROBE("gates, new tip");
	/*
	 * Steps 1-3 are on record before anything is deployed: appended
	 * with the first deployment's "started" record, in one batch, or
	 * by deploy_all() when that deployment could not start.
	 */
	c.hand_off = true;
	rc = deploy_all(&c, c.to, NULL, &c.new_tip, &ok, err);
	if (rc == 0 && c.nrecs > 0)
		rc = flush_records(&c, err);	/* no environment */
	c.hand_off = false;
	if (!c.gate_noted)
		(void)fg_store_note_merge(st, &c.commit, c.gate_note, NULL,
		    NULL, NULL);
	if (rc < 0)
		goto out;
	if (ok) {
		rc = move_branch(&c, &moved, err);
		if (rc < 0)
			goto out;
	}
	FG_PROBE("branch moved");
	out->outcome = ok && moved ? FG_PROMOTE_DONE : FG_PROMOTE_FAILED;
	rc = record_deploy(&c, ok, moved);
	if (rc < 0) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
summary:
	rc = record_summary(&c);
	if (rc < 0) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	rc = flush_records(&c, err);
	FG_PROBE("records of steps 4-5");
out:
	ctx_release(&c);
	return rc;
}

/* The stage listing env, or NULL. */
static const struct fg_stage *
stage_of_env(const struct fg_config *cfg, const char *env)
{
	size_t i, j;

	for (i = 0; i < FG_STAGE_COUNT; i++) {
		if (!cfg->stages[i].configured || i == FG_STAGE_HOTFIX)
			continue;
		for (j = 0; j < cfg->stages[i].envs.n; j++)
			if (strcmp(cfg->stages[i].envs.v[j], env) == 0)
				return &cfg->stages[i];
	}
	if (cfg->stages[FG_STAGE_HOTFIX].configured)
		for (j = 0; j < cfg->stages[FG_STAGE_HOTFIX].envs.n; j++)
			if (strcmp(cfg->stages[FG_STAGE_HOTFIX].envs.v[j],
			    env) == 0)
				return &cfg->stages[FG_STAGE_HOTFIX];
	return NULL;
}

static bool
is_admin(const struct fg_config *cfg, const char *who)
{
	size_t i;

	for (i = 0; i < cfg->admins.n; i++)
		if (strcmp(cfg->admins.v[i], who) == 0)
			return true;
	return false;
}

int
fg_promote_rollback(struct fg_promote_result *out, struct fg_store *st,
    const struct fg_promote_req *req, struct fg_err *err)
{
	struct ctx c;
	struct fg_stage trimmed;
	struct fg_gate *gates = NULL;
	const char *env = req->to;
	char hex[GIT_OID_HEXSZ + 1];
	git_oid target;
	size_t i;
	bool ok = false;
	int rc;

	if (ctx_init(&c, out, st, req, "rollback") < 0)
		return fg_err_set(err, FG_EINVALID, "no config");
	if (env == NULL || fg_pipeline_env(req->cfg, env) == NULL) {
		rc = fg_err_set(err, FG_ENOTFOUND, "no environment '%s' in "
		    "this pipeline", env != NULL ? env : "");
		goto out;
	}
	c.to = stage_of_env(req->cfg, env);
	if (c.to == NULL) {
		rc = fg_err_set(err, FG_EINVALID, "environment '%s' belongs to "
		    "no stage", env);
		goto out;
	}
	out->to = fg_stage_name(c.to->id);
	out->branch = c.to->branch;
	if (req->force && !req->admin && !is_admin(req->cfg, c.actor)) {
		rc = fg_err_set(err, FG_EDENIED, "'%s' is not an admin; only "
		    "admins may roll back with --force", c.actor);
		goto out;
	}
	if (!req->dry_run) {
		rc = lock_stage(&c, req->wait_secs < 0 ? FG_PROMOTE_WAIT_SECS :
		    req->wait_secs, err);
		if (rc < 0)
			goto out;
	}
	if (req->change != NULL && *req->change != '\0') {
		if (!change_ok(req->change)) {
			rc = fg_err_set(err, FG_EINVALID, "'--to' takes a "
			    "commit id");
			goto out;
		}
		snprintf(out->change, sizeof(out->change), "%s", req->change);
		rc = lookup_commit(&target, c.repo, req->change, err);
	} else {
		snprintf(out->change, sizeof(out->change), "last good");
		rc = fg_deploy_last_good(&target, st, env, NULL, err);
		if (rc == FG_ENOTFOUND)
			rc = fg_err_set(err, FG_ENOTFOUND, "%s has no earlier "
			    "successful deployment to roll back to", env);
	}
	if (rc < 0)
		goto out;
	git_oid_cpy(&c.commit, &target);
	git_oid_tostr(hex, sizeof(hex), &target);
	snprintf(out->commit, sizeof(out->commit), "%s", hex);
	git_oid_tostr(c.short_id, sizeof(c.short_id), &target);
	snprintf(out->what, sizeof(out->what), "rollback of %.40s", env);
	c.from = fg_gate_previous_stage(req->cfg, c.to, NULL);
	out->from = c.from != NULL ? fg_stage_name(c.from->id) : NULL;
	rc = read_tip(&c, err);
	if (rc < 0)
		goto out;
	/*
	 * The stage's gates but up-to-date (a rollback goes back) and soak
	 * (the commit ran in this environment before).
	 */
	trimmed = *c.to;
	gates = calloc(c.to->ngates + 1, sizeof(*gates));
	if (gates == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	trimmed.gates = gates;
	trimmed.ngates = 0;
	for (i = 0; i < c.to->ngates; i++)
		if (c.to->gates[i].kind != FG_GATE_UP_TO_DATE &&
		    c.to->gates[i].kind != FG_GATE_SOAK)
			gates[trimmed.ngates++] = c.to->gates[i];
	if (req->force) {
		out->verdict.passed = true;
		out->verdict.complete = true;
		snprintf(out->verdict.commit, sizeof(out->verdict.commit),
		    "%s", hex);
		out->verdict.stage = fg_stage_name(c.to->id);
	} else {
		rc = step_gates(&c, &trimmed, err);
		if (rc < 0)
			goto out;
	}
	if (req->dry_run) {
		out->outcome = out->verdict.passed ? FG_PROMOTE_CHECKED :
		    FG_PROMOTE_REFUSED;
		goto out;
	}
	rc = record_request(&c);
	if (rc == 0)
		rc = record_gates(&c, req->force);
	if (rc < 0) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	if (!out->verdict.passed) {
		out->outcome = FG_PROMOTE_REFUSED;
		goto summary;
	}
	rc = flush_records(&c, err);
	if (rc == 0)
		rc = deploy_all(&c, c.to, env, &target, &ok, err);
	if (rc < 0)
		goto out;
	out->outcome = ok ? FG_PROMOTE_DONE : FG_PROMOTE_FAILED;
	rc = record_deploy(&c, ok, false);
	if (rc < 0) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
summary:
	rc = record_summary(&c);
	if (rc == 0)
		rc = flush_records(&c, err);
out:
	free(gates);
	ctx_release(&c);
	return rc;
}

static void
add_opt_str(cJSON *o, const char *key, const char *v)
{
	if (v != NULL && *v != '\0')
		cJSON_AddStringToObject(o, key, v);
	else
		cJSON_AddNullToObject(o, key);
}

int
fg_promote_to_json(cJSON **out, const struct fg_promote_result *r)
{
	cJSON *o, *envs, *e, *v = NULL;
	size_t i;

	*out = NULL;
	o = cJSON_CreateObject();
	if (o == NULL)
		return FG_ENOMEM;
	cJSON_AddStringToObject(o, "run", r->run);
	cJSON_AddStringToObject(o, "outcome", fg_promote_outcome_name(
	    r->outcome));
	cJSON_AddStringToObject(o, "change", r->change);
	add_opt_str(o, "what", r->what);
	add_opt_str(o, "commit", r->commit);
	add_opt_str(o, "from", r->from);
	add_opt_str(o, "to", r->to);
	add_opt_str(o, "branch", r->branch);
	add_opt_str(o, "old_tip", r->old_tip);
	add_opt_str(o, "new_tip", r->new_tip);
	cJSON_AddBoolToObject(o, "merged", r->merged);
	envs = cJSON_AddArrayToObject(o, "environments");
	for (i = 0; envs != NULL && i < r->nenvs; i++) {
		e = cJSON_CreateObject();
		if (e == NULL)
			break;
		cJSON_AddItemToArray(envs, e);
		cJSON_AddStringToObject(e, "name", r->envs[i].name);
		cJSON_AddStringToObject(e, "status", r->envs[i].status);
		cJSON_AddStringToObject(e, "reason", r->envs[i].reason);
		add_opt_str(e, "record", r->envs[i].record);
	}
	if (r->verdict.stage != NULL && fg_verdict_to_json(&v, &r->verdict) <
	    0) {
		cJSON_Delete(o);
		return FG_ENOMEM;
	}
	if (v != NULL)
		cJSON_AddItemToObject(o, "verdict", v);
	else
		cJSON_AddNullToObject(o, "verdict");
	if (cJSON_GetObjectItemCaseSensitive(o, "verdict") == NULL ||
	    envs == NULL || i < r->nenvs) {
		cJSON_Delete(o);
		return FG_ENOMEM;
	}
	*out = o;
	return 0;
}

int
fg_promote_format(struct fg_buf *out, const struct fg_promote_result *r,
    const char *prefix)
{
	const char *p = prefix != NULL ? prefix : "";
	char id[8];
	size_t i;
	int rc;

	snprintf(id, sizeof(id), "%.7s", r->commit);
	switch (r->outcome) {
	case FG_PROMOTE_CHECKED:
		rc = fg_buf_printf(out, "%sdry run: %s (%s) may enter %s now\n",
		    p, id, r->what, r->to);
		break;
	case FG_PROMOTE_DONE:
		if (r->branch != NULL && r->new_tip[0] != '\0')
			rc = fg_buf_printf(out, "%spromoted %s (%s) to %s: ",
			    p, id, r->what, r->to);
		else
			rc = fg_buf_printf(out, "%s%s (%s) deployed to ", p,
			    id, r->what);
		for (i = 0; rc == 0 && i < r->nenvs; i++)
			rc = fg_buf_printf(out, "%s%s", i > 0 ? ", " : "",
			    r->envs[i].name);
		if (rc == 0 && r->branch != NULL && r->new_tip[0] != '\0')
			rc = fg_buf_printf(out, "%s%s at %.7s%s\n",
			    r->nenvs > 0 ? " deployed; " : "", r->branch,
			    r->new_tip, r->merged ? " (a merge commit)" : "");
		else if (rc == 0)
			rc = fg_buf_puts(out, "\n");
		break;
	default:
		rc = fg_buf_printf(out, "%s%s%s %s (%s) to %s: %zu issue%s\n",
		    p, r->dry_run ? "dry run: " : "",
		    r->outcome == FG_PROMOTE_REFUSED ? "refused" : "failed", id, r->what, r->to,
		    r->verdict.nissues, r->verdict.nissues == 1 ? "" : "s");
		break;
	}
	if (rc == 0 && r->dry_run)
		rc = fg_verdict_explain(out, &r->verdict, p);
	if (rc == 0)
		rc = fg_verdict_format(out, &r->verdict, p);
	return rc;
}

int
fg_promote_resolve(git_oid *out, char *what, size_t size,
    git_repository *repo, const struct fg_config *cfg, const char *change,
    struct fg_err *err)
{
	struct fg_promote_req req;
	struct fg_promote_result r;
	struct ctx c;
	int rc;

	memset(&req, 0, sizeof(req));
	req.cfg = cfg;
	req.change = change;
	req.dry_run = true;
	memset(&c, 0, sizeof(c));
	fg_promote_result_init(&r);
	c.repo = repo;
	c.req = &req;
	c.r = &r;
	c.lock_fd = -1;
	rc = step_change(&c, err);
	if (rc == 0) {
		git_oid_cpy(out, &c.commit);
		if (what != NULL)
			snprintf(what, size, "%s", r.what);
	}
	fg_promote_result_release(&r);
	return rc;
}
