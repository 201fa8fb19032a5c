/*
 * hook_gates.c - a push into a stage's branch faces the stage's gates, as
 * a promotion into that stage would (DESIGN.md section 6).  See hook.h.
 *
 * The facts come from what flowgate keeps in the repository: statuses,
 * manual approvals and deployments from the JSON note on the commit
 * (refs/notes/flowgate, schemas/note.schema.json), pull requests from
 * refs/flowgate/pulls/<n>:pull.json.  Everything is read through the
 * repository the hook reads pushed objects with; nothing is written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "facts.h"
#include "gate.h"
#include "hook.h"
#include "pipeline.h"
#include "util.h"
#include "banned.h"

int
fg_hook_check_gates(struct fg_rules_result *out, git_repository *repo,
    const struct fg_config *cfg, const struct fg_rules_update *u,
    struct fg_err *err)
{
	struct fg_gate_facts facts;
	struct fg_gate_input in;
	struct fg_verdict v = FG_VERDICT_INIT;
	const struct fg_stage *st;
	struct fg_buf f = FG_BUF_INIT;
	size_t i;
	int rc;

	if (strncmp(u->ref, "refs/heads/", 11) != 0 ||
	    git_oid_is_zero(&u->new_id))
		return 0;
	st = fg_pipeline_stage_for_branch(cfg, u->ref);
	if (st == NULL || st->ngates == 0)
		return 0;
	fg_facts_init(&facts, repo);
	memset(&in, 0, sizeof(in));
	in.cfg = cfg;
	in.stage = st;
	in.repo = repo;
	in.commit = &u->new_id;
	in.branch_tip = git_oid_is_zero(&u->old_id) ? NULL : &u->old_id;
	in.now = fg_now();
	in.facts = &facts;
	in.run_commands = true;
	rc = fg_gate_eval(&v, &in, err);
	for (i = 0; rc == 0 && i < v.nissues; i++) {
		const struct fg_issue *is = &v.issues[i];

		fg_buf_reset(&f);
		rc = fg_buf_puts(&f, is->finding);
		if (rc == 0 && is->output != NULL && is->output[0] != '\0') {
			/* The command's last output line, on the same line. */
			const char *o = is->output, *p;
			size_t len = strlen(o);

			while (len > 0 && o[len - 1] == '\n')
				len--;
			p = o + len;
			while (p > o && p[-1] != '\n')
				p--;
			rc = fg_buf_printf(&f, " (output: %.*s)",
			    (int)(o + len - p), p);
		}
		if (rc == 0)
			rc = fg_rules_add(out, is->gate, u->ref, &u->new_id,
			    is->subject, f.ptr, is->fix);
		if (rc < 0)
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
	}
	fg_verdict_release(&v);
	fg_buf_release(&f);
	return rc;
}
