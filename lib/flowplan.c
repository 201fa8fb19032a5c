/*
 * flowplan.c - build and check the dependency graph of a flow's steps
 * (see flowplan.h).
 *
 * Checks run in an order that keeps messages about real mistakes: ids
 * first (a duplicate makes every later lookup ambiguous), then needs
 * (unknown ones are left out of the graph), then the topological sort,
 * which finds cycles, and only on an acyclic graph the "if:" references,
 * which need each step's ancestors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "flowplan.h"
#include "yaml.h"
#include "banned.h"

const char *const fg_flowplan_roots[] = { "event", "steps", "inputs", NULL };

/* The action keys of a step, as in schemas/flows.schema.json. */
static const char *const actions[] = {
	"promote", "deploy", "run", "http", "slack", "jira", "pool.lease",
	"pool.release", "merge", NULL
};

struct check {
	fg_flowplan_report_fn report;
	void *payload;
	struct fg_err *err;
	size_t errors;
	bool oom;
};

static void problem(struct check *ck, const cJSON *node, unsigned col,
    const char *fmt, ...) FG_PRINTF(4, 5);

static void
problem(struct check *ck, const cJSON *node, unsigned col, const char *fmt,
    ...)
{
	char msg[FG_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ck->errors == 0)
		fg_err_set(ck->err, FG_EINVALID, "%s", msg);
	ck->errors++;
	if (ck->report != NULL)
		ck->report(node, col, msg, ck->payload);
}

static const cJSON *
get(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

void
fg_flowplan_free(struct fg_flowplan *plan)
{
	size_t i;

	if (plan == NULL)
		return;
	for (i = 0; i < plan->nsteps; i++) {
		free(plan->steps[i].needs);
		fg_expr_free(plan->steps[i].cond);
	}
	free(plan->steps);
	free(plan->order);
	fg_cron_free(plan->schedule);
	free(plan->name);
	free(plan);
}

long
fg_flowplan_find(const struct fg_flowplan *plan, const char *id)
{
	size_t i;

	for (i = 0; i < plan->nsteps; i++)
		if (strcmp(plan->steps[i].id, id) == 0)
			return (long)i;
	return -1;
}

/* Fill steps[i] from its JSON, except needs and if:. */
static void
read_step(struct fg_flowstep *s, const cJSON *json)
{
	const cJSON *v;
	size_t i;

	s->json = json;
	s->id = cJSON_GetStringValue(get(json, "id"));
	if (s->id == NULL)
		s->id = "";
	for (i = 0; actions[i] != NULL; i++)
		if (get(json, actions[i]) != NULL) {
			s->action = actions[i];
			break;
		}
	v = get(json, "timeout");
	s->timeout = cJSON_IsNumber(v) ? (int)v->valuedouble :
	    FG_FLOW_STEP_TIMEOUT;
	v = get(json, "retries");
	s->retries = cJSON_IsNumber(v) ? (int)v->valuedouble : 0;
	s->continue_on_error = cJSON_IsTrue(get(json, "continue-on-error"));
}

static void
check_ids(struct check *ck, struct fg_flowplan *plan)
{
	size_t i, j;

	for (i = 0; i < plan->nsteps; i++)
		for (j = 0; j < i; j++)
			if (strcmp(plan->steps[i].id, plan->steps[j].id) ==
			    0) {
				problem(ck, get(plan->steps[i].json, "id"), 0,
				    "duplicate step id '%s' (also steps[%zu])",
				    plan->steps[i].id, j);
				break;
			}
}

static void
read_needs(struct check *ck, struct fg_flowplan *plan, size_t i)
{
	struct fg_flowstep *s = &plan->steps[i];
	const cJSON *needs = get(s->json, "needs"), *it;
	long k;

	if (!cJSON_IsArray(needs))
		return;
	s->needs = calloc((size_t)cJSON_GetArraySize(needs) + 1,
	    sizeof(*s->needs));
	if (s->needs == NULL) {
		ck->oom = true;
		return;
	}
	cJSON_ArrayForEach(it, needs) {
		if (!cJSON_IsString(it))
			continue;
		k = fg_flowplan_find(plan, it->valuestring);
		if (k < 0)
			problem(ck, it, 0, "unknown step '%s'",
			    it->valuestring);
		else if ((size_t)k == i)
			problem(ck, it, 0, "step '%s' needs itself", s->id);
		else
			s->needs[s->nneeds++] = (size_t)k;
	}
}

/*
 * Report one cycle among the steps not placed in the order.  Every such
 * step has a need that is not placed either, so following those needs
 * from any of them must come back to a step already seen.
 */
static void
report_cycle(struct check *ck, const struct fg_flowplan *plan,
    const bool *placed)
{
	size_t path[FG_FLOW_MAX_STEPS + 1], cyc[FG_FLOW_MAX_STEPS + 1];
	size_t n = 0, i, j, start, len, first, at = 0;
	char text[FG_ERR_MSG_MAX];
	bool seen;

	for (i = 0; i < plan->nsteps && placed[i]; i++)
		;
	if (i == plan->nsteps)
		return;
	for (;;) {
		seen = false;
		for (j = 0; j < n; j++)
			if (path[j] == i)
				seen = true;
		if (seen || n == FG_FLOW_MAX_STEPS)
			break;
		path[n++] = i;
		for (j = 0; j < plan->steps[i].nneeds; j++)
			if (!placed[plan->steps[i].needs[j]])
				break;
		if (j == plan->steps[i].nneeds)
			return;		/* cannot happen */
		i = plan->steps[i].needs[j];
	}
	for (start = 0; start < n && path[start] != i; start++)
		;
	/*
	 * path[k] needs path[k + 1], so the steps would run in the reverse
	 * order; print them so, from the one earliest in the file.
	 */
	len = n - start;
	for (j = 0; j < len; j++)
		cyc[j] = path[n - 1 - j];
	for (first = 0, j = 1; j < len; j++)
		if (cyc[j] < cyc[first])
			first = j;
	text[0] = '\0';
	for (j = 0; j <= len && at < sizeof(text); j++)
		at += (size_t)snprintf(text + at, sizeof(text) - at, "%s'%s'",
		    j ? " -> " : "", plan->steps[cyc[(first + j) % len]].id);
	problem(ck, get(plan->steps[cyc[first]].json, "needs"), 0,
	    "steps %s form a cycle", text);
}

/*
 * Kahn's algorithm, taking the first ready step in file order each time,
 * so independent steps keep the order the author wrote them in.
 */
static void
sort_steps(struct check *ck, struct fg_flowplan *plan)
{
	bool placed[FG_FLOW_MAX_STEPS] = { false };
	size_t n = 0, i, j;
	bool ok;

	plan->order = calloc(plan->nsteps + 1, sizeof(*plan->order));
	if (plan->order == NULL) {
		ck->oom = true;
		return;
	}
	while (n < plan->nsteps) {
		for (i = 0; i < plan->nsteps; i++) {
			if (placed[i])
				continue;
			ok = true;
			for (j = 0; j < plan->steps[i].nneeds; j++)
				if (!placed[plan->steps[i].needs[j]])
					ok = false;
			if (ok)
				break;
		}
		if (i == plan->nsteps) {
			report_cycle(ck, plan, placed);
			return;
		}
		placed[i] = true;
		plan->order[n++] = i;
	}
}

/*
 * Check what an "if:" reads from steps: only the status and attempts of a
 * step this one depends on, directly or not.  anc is this step's row of
 * the ancestor matrix.
 */
static void
check_cond_paths(struct check *ck, struct fg_flowplan *plan, size_t i,
    const bool *anc)
{
	struct fg_flowstep *s = &plan->steps[i];
	const cJSON *node = get(s->json, "if");
	const char *const *segs;
	size_t p, n;
	long k;

	for (p = 0; p < fg_expr_npaths(s->cond); p++) {
		segs = fg_expr_path(s->cond, p, &n);
		if (strcmp(segs[0], "steps") != 0)
			continue;
		s->cond_reads_steps = true;
		if (n < 3) {
			problem(ck, node, 0, "'steps' needs a step id and a "
			    "field, such as steps.build.status");
			continue;
		}
		k = fg_flowplan_find(plan, segs[1]);
		if (k < 0) {
			problem(ck, node, 0, "reads steps.%s, but there is "
			    "no step '%s'", segs[1], segs[1]);
			continue;
		}
		if ((size_t)k == i) {
			problem(ck, node, 0, "reads its own steps.%s: a step "
			    "can only read the steps it needs", segs[1]);
			continue;
		}
		if (!anc[k]) {
			problem(ck, node, 0, "reads steps.%s, but '%s' is not "
			    "among its needs: add it to needs", segs[1],
			    segs[1]);
			continue;
		}
		if (n > 3 || (strcmp(segs[2], "status") != 0 &&
		    strcmp(segs[2], "attempts") != 0))
			problem(ck, node, 0, "unknown field '%s' of "
			    "steps.%s: use status or attempts", segs[2],
			    segs[1]);
	}
}

static void
parse_conds(struct check *ck, struct fg_flowplan *plan, bool acyclic)
{
	struct fg_err err = FG_ERR_INIT;
	bool *anc = NULL;
	const cJSON *node;
	size_t i, j, k, a, m, n = plan->nsteps;
	unsigned col;
	int rc;

	if (acyclic) {
		anc = calloc(n * n + 1, sizeof(*anc));
		if (anc == NULL) {
			ck->oom = true;
			return;
		}
		/*
		 * In topological order a step's needs come first, so their
		 * rows are complete: a step's ancestors are its needs and
		 * their ancestors.
		 */
		for (k = 0; k < n; k++) {
			i = plan->order[k];
			for (j = 0; j < plan->steps[i].nneeds; j++) {
				a = plan->steps[i].needs[j];
				anc[i * n + a] = true;
				for (m = 0; m < n; m++)
					if (anc[a * n + m])
						anc[i * n + m] = true;
			}
		}
	}
	for (i = 0; i < n; i++) {
		node = get(plan->steps[i].json, "if");
		if (!cJSON_IsString(node))
			continue;
		rc = fg_expr_parse(&plan->steps[i].cond, node->valuestring,
		    fg_flowplan_roots, &col, &err);
		if (rc == FG_ENOMEM) {
			ck->oom = true;
			break;
		}
		if (rc < 0) {
			problem(ck, node, col, "%s", err.msg);
			continue;
		}
		if (anc != NULL)
			check_cond_paths(ck, plan, i, anc + i * n);
	}
	free(anc);
}

static void
check_schedule(struct check *ck, struct fg_flowplan *plan,
    const cJSON *flow)
{
	const cJSON *sched = get(get(flow, "trigger"), "schedule");
	const cJSON *cron = get(sched, "cron"), *tz = get(sched, "tz");
	struct fg_err err = FG_ERR_INIT;
	int rc;

	if (!cJSON_IsString(cron))
		return;
	/* The expression alone first, so an error lands on the right key. */
	rc = fg_cron_parse(&plan->schedule, cron->valuestring, NULL, &err);
	if (rc == 0 && tz != NULL) {
		fg_cron_free(plan->schedule);
		plan->schedule = NULL;
		rc = fg_cron_parse(&plan->schedule, cron->valuestring,
		    cJSON_GetStringValue(tz), &err);
		if (rc < 0 && rc != FG_ENOMEM) {
			problem(ck, tz, 0, "%s", err.msg);
			return;
		}
	}
	if (rc == FG_ENOMEM)
		ck->oom = true;
	else if (rc < 0)
		problem(ck, cron, 0, "%s", err.msg);
}

int
fg_flowplan_new(struct fg_flowplan **out, const char *name,
    const cJSON *flow, fg_flowplan_report_fn report, void *payload,
    struct fg_err *err)
{
	struct check ck = { report, payload, err, 0, false };
	struct fg_flowplan *plan = NULL;
	const cJSON *steps = get(flow, "steps"), *it;
	size_t n, i, before;
	int rc;

	*out = NULL;
	n = (size_t)cJSON_GetArraySize(steps);
	if (!cJSON_IsArray(steps) || n == 0 || n > FG_FLOW_MAX_STEPS)
		return fg_err_set(err, FG_EINVALID, "flow '%s' needs 1 to %d "
		    "steps", name, FG_FLOW_MAX_STEPS);
	plan = calloc(1, sizeof(*plan));
	if (plan == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	plan->name = strdup(name);
	plan->steps = calloc(n, sizeof(*plan->steps));
	if (plan->name == NULL || plan->steps == NULL) {
		ck.oom = true;
		goto out;
	}
	cJSON_ArrayForEach(it, steps)
		read_step(&plan->steps[plan->nsteps++], it);
	check_ids(&ck, plan);
	for (i = 0; i < n && !ck.oom; i++)
		read_needs(&ck, plan, i);
	if (ck.oom)
		goto out;
	before = ck.errors;
	sort_steps(&ck, plan);
	if (ck.oom)
		goto out;
	/* A cycle leaves no order, and so no ancestors to check if: by. */
	parse_conds(&ck, plan, ck.errors == before);
	check_schedule(&ck, plan, flow);
out:
	if (ck.oom)
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
	else if (ck.errors > 0)
		rc = FG_EINVALID;
	else
		rc = 0;
	if (rc < 0) {
		fg_flowplan_free(plan);
		return rc;
	}
	*out = plan;
	return 0;
}

/* The state of fg_flowplan_check() while it reports. */
struct doc_check {
	const struct fg_jdoc *doc;
	const char *text;
	size_t len;
	struct fg_diags *d;
	const cJSON *flows;
};

/*
 * The dotted path of node below root ("f.steps[2].if"), appended to b.
 * Depth is bounded by the YAML parser's nesting limit.
 */
static bool
node_path(struct fg_buf *b, const cJSON *root, const cJSON *node)
{
	const cJSON *it;
	size_t mark = b->len;
	int i = 0;

	if (root == node)
		return true;
	cJSON_ArrayForEach(it, root) {
		if (cJSON_IsArray(root))
			fg_buf_printf(b, "[%d]", i);
		else
			fg_buf_printf(b, "%s%s", b->len ? "." : "",
			    it->string);
		if (node_path(b, it, node))
			return true;
		fg_buf_truncate(b, mark);
		i++;
	}
	return false;
}

/* Byte offset of 1-based line and character column in text, or len. */
static size_t
text_offset(const char *s, size_t len, unsigned line, unsigned col)
{
	size_t i = 0;

	while (line > 1 && i < len) {
		if (s[i] == '\n' || (s[i] == '\r' && (i + 1 >= len ||
		    s[i + 1] != '\n')))
			line--;
		i++;
	}
	while (col > 1 && i < len) {
		i++;
		while (i < len && ((unsigned char)s[i] & 0xc0) == 0x80)
			i++;
		col--;
	}
	return i;
}

/*
 * Turn a column inside the expression (1-based, bytes) into a column of
 * the file, when the value is written on its line exactly as parsed.
 */
static bool
expr_column(const struct doc_check *dc, const cJSON *node, unsigned line,
    unsigned vcol, unsigned ecol, unsigned *out)
{
	const char *e = node->valuestring, *t;
	size_t off, n = strlen(e), quote = 0, i;
	unsigned chars = 0;

	off = text_offset(dc->text, dc->len, line, vcol);
	t = dc->text + off;
	if (off < dc->len && (*t == '\'' || *t == '"'))
		quote = 1;
	if (off + quote + n > dc->len || memcmp(t + quote, e, n) != 0 ||
	    memchr(e, '\n', n) != NULL)
		return false;
	if (quote && (off + 1 + n >= dc->len || t[1 + n] != *t))
		return false;
	for (i = 0; i + 1 < ecol && i < n; i++)
		if (((unsigned char)e[i] & 0xc0) != 0x80)
			chars++;
	*out = vcol + (unsigned)quote + chars;
	return true;
}

static void
doc_report(const cJSON *node, unsigned col, const char *msg, void *payload)
{
	struct doc_check *dc = payload;
	struct fg_buf path = FG_BUF_INIT;
	unsigned line = 0, vcol = 0, fcol;

	fg_jdoc_pos(dc->doc, node, &line, &vcol);
	/* On a failed allocation the path is just "flows"; nothing is lost. */
	if (fg_buf_puts(&path, "flows") == 0)
		(void)node_path(&path, dc->flows, node);
	if (col == 0 || !cJSON_IsString(node))
		fg_diags_at(dc->d, fg_jdoc_file(dc->doc), line, vcol,
		    path.ptr != NULL ? path.ptr : "flows", "%s", msg);
	else if (expr_column(dc, node, line, vcol, col, &fcol))
		fg_diags_at(dc->d, fg_jdoc_file(dc->doc), line, fcol,
		    path.ptr != NULL ? path.ptr : "flows", "%s", msg);
	else
		fg_diags_at(dc->d, fg_jdoc_file(dc->doc), line, vcol,
		    path.ptr != NULL ? path.ptr : "flows",
		    "%s (column %u of the expression)", msg, col);
	fg_buf_release(&path);
}

int
fg_flowplan_check(const struct fg_jdoc *doc, const char *text, size_t len,
    struct fg_diags *d)
{
	struct doc_check dc = { doc, text, len, d, NULL };
	struct fg_flowplan *plan = NULL;
	const cJSON *flow;
	int rc, result = 0;

	dc.flows = get(fg_jdoc_root(doc), "flows");
	cJSON_ArrayForEach(flow, dc.flows) {
		rc = fg_flowplan_new(&plan, flow->string, flow, doc_report,
		    &dc, NULL);
		fg_flowplan_free(plan);
		plan = NULL;
		if (rc == FG_ENOMEM)
			return FG_ENOMEM;
		if (rc < 0)
			result = FG_EINVALID;
	}
	return result;
}
