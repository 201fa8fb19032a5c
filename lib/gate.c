/*
 * gate.c - the gate engine (see gate.h).
 *
 * Each gate kind has one evaluator that fills a struct outcome: passed or
 * not, a sentence saying what was found (or why it passed), a fix, and for
 * command gates the tail of the output.  fg_gate_eval() turns outcomes into
 * checks and issues and cleans every string on the way, so evaluators can
 * format outside text freely: nothing reaches a verdict unscrubbed.
 *
 * Evaluators never fail for a missing or unreadable fact; they fail the
 * gate and say why.  The only error they return is FG_ENOMEM.  Text is
 * built with say(), which records an allocation failure in the eval
 * instead of returning it, so evaluators read top to bottom.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gate.h"
#include "proc.h"
#include "tz.h"
#include "util.h"
#include "banned.h"

/* Short commit ids in issues, as git shows them by default. */
#define SHORT_ID 7

struct eval {
	const struct fg_gate_input *in;
	const struct fg_gate_facts *facts;	/* never NULL */
	char sha[GIT_OID_HEXSZ + 1];
	char short_id[SHORT_ID + 1];
	char *subject;				/* clean */
	const char *stage;
	const char *branch;			/* NULL for developer */
	bool oom;
};

struct outcome {
	bool passed;
	bool evaluated;
	struct fg_buf text;	/* the finding, or why it passed */
	struct fg_buf fix;
	struct fg_buf output;	/* command gates: clean lines */
};

static const char *const gate_names[] = {
	[FG_GATE_APPROVALS] = "approvals",
	[FG_GATE_STATUS] = "status",
	[FG_GATE_SOAK] = "soak",
	[FG_GATE_MANUAL] = "manual",
	[FG_GATE_WINDOW] = "window",
	[FG_GATE_FREEZE] = "freeze",
	[FG_GATE_UP_TO_DATE] = "up-to-date",
	[FG_GATE_COMMAND] = "command",
};

static const char *const day_names[] = {
	"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun",
};

static const struct fg_gate_facts no_facts;

const char *
fg_gate_name(enum fg_gate_kind kind)
{
	if ((size_t)kind >= FG_ARRAY_SIZE(gate_names) ||
	    gate_names[kind] == NULL)
		return "unknown";
	return gate_names[kind];
}

static void say(struct eval *e, struct fg_buf *b, const char *fmt, ...)
    FG_PRINTF(3, 4);

static void
say(struct eval *e, struct fg_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (fg_buf_vprintf(b, fmt, ap) != 0)
		e->oom = true;
	va_end(ap);
}

static const char *
plural(long n)
{
	return n == 1 ? "" : "s";
}

/*
 * The next character of s[i..len) if it is valid UTF-8: its length, and
 * its code point in *cp.  0 for an invalid byte.
 */
static size_t
utf8_char(const char *s, size_t i, size_t len, uint32_t *cp)
{
	unsigned char c = (unsigned char)s[i];
	size_t n, k;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	n = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 :
	    (c & 0xf8) == 0xf0 ? 4 : 0;
	if (n == 0 || n > len - i || !fg_utf8_is_valid(s + i, n))
		return 0;
	*cp = c & (0x7f >> n);
	for (k = 1; k < n; k++)
		*cp = *cp << 6 | ((unsigned char)s[i + k] & 0x3f);
	return n;
}

/*
 * Copy s[0..len) into a new string a terminal shows as typed: tabs, CR
 * and line or paragraph separators become spaces, newlines too unless
 * keep_newlines; other control characters (C0, DEL, C1), bidirectional
 * overrides and invalid bytes become '?'.  At most max bytes of text are
 * kept (0: no limit), cut between characters, then "...".
 */
static char *
clean(const char *s, size_t len, size_t max, bool keep_newlines)
{
	struct fg_buf b = FG_BUF_INIT;
	size_t i = 0, n;
	uint32_t cp;
	int rc = 0;

	while (i < len && rc == 0) {
		n = utf8_char(s, i, len, &cp);
		if (max > 0 && b.len + (n > 0 ? n : 1) > max) {
			rc = fg_buf_puts(&b, "...");
			break;
		}
		if (n == 0) {
			rc = fg_buf_putc(&b, '?');
			n = 1;
		} else if (cp == '\n' && keep_newlines) {
			rc = fg_buf_putc(&b, '\n');
		} else if (cp == '\t' || cp == '\r' || cp == '\n' ||
		    cp == 0x2028 || cp == 0x2029) {
			rc = fg_buf_putc(&b, ' ');
		} else if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ||
		    (cp >= 0x202a && cp <= 0x202e) ||
		    (cp >= 0x2066 && cp <= 0x2069)) {
			rc = fg_buf_putc(&b, '?');
		} else {
			rc = fg_buf_add(&b, s + i, n);
		}
		i += n;
	}
	if (rc != 0) {
		fg_buf_release(&b);
		return NULL;
	}
	return fg_buf_detach(&b, NULL);
}

static char *
clean_str(const char *s, size_t max)
{
	return clean(s, strlen(s), max, false);
}

static void
outcome_init(struct outcome *o)
{
	o->passed = false;
	o->evaluated = true;
	fg_buf_init(&o->text);
	fg_buf_init(&o->fix);
	fg_buf_init(&o->output);
}

static void
outcome_release(struct outcome *o)
{
	fg_buf_release(&o->text);
	fg_buf_release(&o->fix);
	fg_buf_release(&o->output);
}

static void
pass(struct eval *e, struct outcome *o, const char *fmt, ...)
    FG_PRINTF(3, 4);

/* Mark o passed, with a reason for --dry-run. */
static void
pass(struct eval *e, struct outcome *o, const char *fmt, ...)
{
	va_list ap;

	o->passed = true;
	va_start(ap, fmt);
	if (fg_buf_vprintf(&o->text, fmt, ap) != 0)
		e->oom = true;
	va_end(ap);
}

static void
facts_missing(struct eval *e, struct outcome *o, const char *what)
{
	say(e, &o->text, "facts missing: %s", what);
	say(e, &o->fix, "report this as a bug: the program evaluating the "
	    "gate did not provide %s", what);
}

static void
facts_failed(struct eval *e, struct outcome *o, const char *what, int rc)
{
	say(e, &o->text, "cannot read %s: %s", what, fg_strerror(rc));
	say(e, &o->fix, "try again; if it keeps failing, look at the "
	    "flowgate logs");
}

static const cJSON *
get(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static const char *
get_str(const cJSON *obj, const char *key)
{
	const cJSON *v = get(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/*
 * Count the approvals of a parsed pull.json.  See gate.h for the rules;
 * everything that does not count and is worth knowing goes into notes so
 * the pusher learns why an approval they expected was not enough.
 */
static int
count_approvals(struct eval *e, const struct fg_gate *g, struct outcome *o,
    const cJSON *pull)
{
	const cJSON *num = get(pull, "number"), *reviews = get(pull, "reviews");
	const char *head = get_str(get(pull, "head"), "sha");
	const char *author = get_str(pull, "author");
	const char *state = get_str(pull, "state");
	const cJSON **list = NULL, *it;
	struct fg_buf names = FG_BUF_INIT, notes = FG_BUF_INIT;
	int count = 0, number = 0, n, i, j, missing;

	if (cJSON_IsNumber(num) && num->valuedouble >= 1 &&
	    num->valuedouble <= INT_MAX)
		number = (int)num->valuedouble;
	n = cJSON_IsArray(reviews) ? cJSON_GetArraySize(reviews) : -1;
	if (number == 0 || head == NULL || n < 0 ||
	    n > FG_GATE_REVIEWS_MAX) {
		say(e, &o->text, "the pull request of %s has malformed facts",
		    e->short_id);
		say(e, &o->fix, "look at its pull.json under "
		    "refs/flowgate/pulls/");
		return 0;
	}
	if (state != NULL && strcmp(state, "closed") == 0) {
		say(e, &o->text, "pull request #%d was closed without being "
		    "merged", number);
		say(e, &o->fix, "reopen it, or open a new pull request for %s "
		    "into %s", e->short_id, e->branch);
		return 0;
	}
	list = calloc((size_t)n + 1, sizeof(*list));
	if (list == NULL)
		return FG_ENOMEM;
	i = 0;
	cJSON_ArrayForEach(it, reviews)
		list[i++] = it;
	for (i = 0; i < n; i++) {
		const char *user = get_str(list[i], "user");
		const char *rstate = get_str(list[i], "state");
		const char *commit = get_str(list[i], "commit");
		bool later = false;

		if (user == NULL || rstate == NULL)
			continue;
		/* Only a reviewer's last entry counts. */
		for (j = i + 1; j < n && !later; j++) {
			const char *u = get_str(list[j], "user");

			later = u != NULL && strcasecmp(u, user) == 0;
		}
		if (later)
			continue;
		if (author != NULL && strcasecmp(user, author) == 0) {
			if (strcmp(rstate, "approved") == 0)
				say(e, &notes, "%sthe author's own approval",
				    notes.len ? ", " : "");
			continue;
		}
		if (strcmp(rstate, "approved") == 0) {
			if (commit == NULL || strcasecmp(commit, head) != 0) {
				say(e, &notes, "%s%s approved an older commit",
				    notes.len ? ", " : "", user);
				continue;
			}
			count++;
			say(e, &names, "%s%s", names.len ? ", " : "", user);
		} else if (strcmp(rstate, "changes_requested") == 0) {
			say(e, &notes, "%s%s requested changes",
			    notes.len ? ", " : "", user);
		} else if (strcmp(rstate, "dismissed") == 0) {
			say(e, &notes, "%s%s's review was dismissed",
			    notes.len ? ", " : "", user);
		}
	}
	if (count >= g->approvals) {
		pass(e, o, "%d approval%s on pull request #%d, %d needed (%s)",
		    count, plural(count), number, g->approvals, names.ptr);
	} else {
		missing = g->approvals - count;
		say(e, &o->text, "%d of %d approvals on pull request #%d",
		    count, g->approvals, number);
		if (notes.len > 0)
			say(e, &o->text, " (not counted: %s)", notes.ptr);
		say(e, &o->fix, "ask %d more %s other than the author to "
		    "approve pull request #%d", missing,
		    missing == 1 ? "person" : "people", number);
	}
	free(list);
	fg_buf_release(&names);
	fg_buf_release(&notes);
	return 0;
}

static int
gate_approvals(struct eval *e, const struct fg_gate *g, struct outcome *o)
{
	struct fg_buf base = FG_BUF_INIT;
	cJSON *pull = NULL;
	int rc = 0, frc;

	if (g->approvals <= 0) {
		pass(e, o, "no approvals needed");
		goto out;
	}
	if (e->facts->pull_for == NULL) {
		facts_missing(e, o, "pull requests");
		goto out;
	}
	if (e->branch == NULL) {
		say(e, &o->text, "stage '%s' has no branch for a pull request "
		    "to target", e->stage);
		say(e, &o->fix, "remove the approvals gate from stage '%s' in "
		    "pipeline.yaml", e->stage);
		goto out;
	}
	say(e, &base, "refs/heads/%s", e->branch);
	if (e->oom)
		goto out;
	frc = e->facts->pull_for(&pull, e->sha, base.ptr, e->facts->payload);
	if (frc == FG_ENOMEM) {
		rc = FG_ENOMEM;
	} else if (frc == FG_ENOTFOUND) {
		say(e, &o->text, "no pull request brings %s into %s",
		    e->short_id, e->branch);
		say(e, &o->fix, "open a pull request for %s into %s and get "
		    "%d approving review%s", e->short_id, e->branch,
		    g->approvals, plural(g->approvals));
	} else if (frc != 0) {
		facts_failed(e, o, "pull requests", frc);
	} else {
		rc = count_approvals(e, g, o, pull);
	}
out:
	cJSON_Delete(pull);
	fg_buf_release(&base);
	return rc;
}

static int
gate_status(struct eval *e, const struct fg_gate *g, struct outcome *o)
{
	struct fg_buf failed = FG_BUF_INIT, pending = FG_BUF_INIT;
	struct fg_buf missing = FG_BUF_INIT, all = FG_BUF_INIT;
	char state[32];
	size_t i, nfailed = 0;
	int rc = 0, frc;
	bool unreadable = false;

	if (g->contexts.n == 0) {
		pass(e, o, "no statuses needed");
		goto out;
	}
	if (e->facts->status == NULL) {
		facts_missing(e, o, "commit statuses");
		goto out;
	}
	for (i = 0; i < g->contexts.n; i++) {
		const char *ctx = g->contexts.v[i];
		const char *sep = o->text.len ? "; " : "";

		state[0] = '\0';
		frc = e->facts->status(state, sizeof(state), e->sha, ctx,
		    e->facts->payload);
		state[sizeof(state) - 1] = '\0';
		if (frc == FG_ENOMEM) {
			rc = FG_ENOMEM;
			goto out;
		}
		say(e, &all, "%s'%s'", all.len ? ", " : "", ctx);
		if (frc == FG_ENOTFOUND) {
			say(e, &o->text, "%sno status '%s' for %s", sep, ctx,
			    e->short_id);
			say(e, &missing, "%s'%s'", missing.len ? ", " : "",
			    ctx);
		} else if (frc != 0) {
			say(e, &o->text, "%scannot read status '%s': %s", sep,
			    ctx, fg_strerror(frc));
			unreadable = true;
		} else if (strcmp(state, "success") != 0) {
			say(e, &o->text, "%s'%s' is %s", sep, ctx,
			    state[0] ? state : "empty");
			if (strcmp(state, "pending") == 0) {
				say(e, &pending, "%s'%s'",
				    pending.len ? ", " : "", ctx);
			} else {
				say(e, &failed, "%s'%s'",
				    failed.len ? ", " : "", ctx);
				nfailed++;
			}
		}
	}
	if (o->text.len == 0) {
		pass(e, o, "%s %s success", all.ptr,
		    g->contexts.n == 1 ? "is" : "are");
		goto out;
	}
	/* The most useful advice first: a failure will not go away. */
	if (nfailed > 0)
		say(e, &o->fix, "fix what %s report%s and push a new commit",
		    failed.ptr, nfailed == 1 ? "s" : "");
	if (pending.len > 0)
		say(e, &o->fix, "%swait for %s to finish",
		    o->fix.len ? "; " : "", pending.ptr);
	if (missing.len > 0)
		say(e, &o->fix, "%swait for CI to report %s for %s",
		    o->fix.len ? "; " : "", missing.ptr, e->short_id);
	if (unreadable)
		say(e, &o->fix, "%stry again later", o->fix.len ? "; " : "");
out:
	fg_buf_release(&failed);
	fg_buf_release(&pending);
	fg_buf_release(&missing);
	fg_buf_release(&all);
	return rc;
}

const struct fg_stage *
fg_gate_previous_stage(const struct fg_config *cfg,
    const struct fg_stage *stage, const struct fg_stage *from)
{
	int i;

	if (from != NULL && from != stage && from->configured &&
	    from->envs.n > 0)
		return from;
	for (i = 0; i < FG_STAGE_COUNT; i++) {
		const struct fg_stage *st = &cfg->stages[i];

		/* Hotfix sits beside production, not before it. */
		if (st == stage || st->id == FG_STAGE_HOTFIX ||
		    !st->configured || st->tmpl == NULL || st->envs.n == 0)
			continue;
		if (st->tmpl->promotes_to == stage->id)
			return st;
	}
	return NULL;
}

static int
gate_soak(struct eval *e, const struct fg_gate *g, struct outcome *o)
{
	const struct fg_stage *prev;
	const char *prev_name;
	int64_t need = (int64_t)g->soak_minutes * 60, since, ready = 0;
	struct fg_buf parts = FG_BUF_INIT, envs = FG_BUF_INIT;
	struct fg_buf absent = FG_BUF_INIT;
	char when[32];
	size_t i, undeployed = 0, unreadable = 0;
	int rc = 0, frc;

	prev = fg_gate_previous_stage(e->in->cfg, e->in->stage, e->in->from);
	if (prev == NULL) {
		say(e, &o->text, "soak cannot apply to stage '%s': no earlier "
		    "stage deploys to environments", e->stage);
		say(e, &o->fix, "remove the soak gate from stage '%s' in "
		    "pipeline.yaml", e->stage);
		goto out;
	}
	prev_name = fg_stage_name(prev->id);
	if (e->facts->deployed == NULL) {
		facts_missing(e, o, "deployments");
		goto out;
	}
	for (i = 0; i < prev->envs.n; i++) {
		const char *env = prev->envs.v[i];
		const char *sep = parts.len ? "; " : "";

		say(e, &envs, "%s'%s'", envs.len ? ", " : "", env);
		frc = e->facts->deployed(&since, env, e->sha,
		    e->facts->payload);
		if (frc == FG_ENOMEM) {
			rc = FG_ENOMEM;
			goto out;
		}
		if (frc == FG_ENOTFOUND) {
			say(e, &absent, "%s'%s'", absent.len ? ", " : "",
			    env);
			undeployed++;
		} else if (frc != 0) {
			say(e, &parts, "%scannot read deployments of '%s': %s",
			    sep, env, fg_strerror(frc));
			unreadable++;
		} else if (e->in->now - since < need) {
			int64_t got = e->in->now > since ?
			    (e->in->now - since) / 60 : 0;

			say(e, &parts, "%son '%s' for %lld of %d minutes", sep,
			    env, (long long)got, g->soak_minutes);
			if (since + need > ready)
				ready = since + need;
		}
	}
	if (parts.len == 0 && undeployed == 0) {
		pass(e, o, "on every environment of %s (%s) for at least %d "
		    "minute%s", prev_name, envs.ptr, g->soak_minutes,
		    plural(g->soak_minutes));
		goto out;
	}
	say(e, &o->text, "%s has not soaked %d minute%s in %s: ",
	    e->short_id, g->soak_minutes, plural(g->soak_minutes), prev_name);
	/* The environments it is missing from first, as one list. */
	if (undeployed > 0)
		say(e, &o->text, "not deployed to %s%s", absent.ptr,
		    parts.len ? "; " : "");
	say(e, &o->text, "%s", parts.ptr);
	if (undeployed > 0) {
		say(e, &o->fix, "deploy %s to every environment of %s (%s), "
		    "then wait %d minute%s", e->short_id, prev_name, envs.ptr,
		    g->soak_minutes, plural(g->soak_minutes));
	} else if (unreadable > 0) {
		say(e, &o->fix, "try again; if it keeps failing, look at the "
		    "flowgate logs");
	} else {
		fg_format_utc(when, sizeof(when), ready);
		say(e, &o->fix, "wait until %s", when);
	}
out:
	fg_buf_release(&parts);
	fg_buf_release(&envs);
	fg_buf_release(&absent);
	return rc;
}

static bool
strv_has(const struct fg_strv *v, const char *s)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (v->v[i] != NULL && strcasecmp(v->v[i], s) == 0)
			return true;
	return false;
}

static void
strv_free_contents(struct fg_strv *v)
{
	size_t i;

	if (v->v != NULL)
		for (i = 0; i < v->n; i++)
			free(v->v[i]);
	free(v->v);
	v->v = NULL;
	v->n = 0;
}

static int
gate_manual(struct eval *e, const struct fg_gate *g, struct outcome *o)
{
	const struct fg_strv *allowed = g->approvers.n > 0 ? &g->approvers :
	    &e->in->cfg->admins;
	struct fg_strv users = { NULL, 0 };
	struct fg_buf others = FG_BUF_INIT;
	const char *by = NULL;
	size_t i;
	int rc = 0, frc;

	if (allowed->n == 0) {
		say(e, &o->text, "no one may approve %s for %s: the gate "
		    "lists no approvers and the config names no admins",
		    e->short_id, e->stage);
		say(e, &o->fix, "list approvers in the manual gate of stage "
		    "'%s', or admins, in pipeline.yaml", e->stage);
		goto out;
	}
	if (e->facts->manual == NULL) {
		facts_missing(e, o, "manual approvals");
		goto out;
	}
	frc = e->facts->manual(&users, e->sha, e->stage, e->facts->payload);
	if (frc == FG_ENOMEM) {
		rc = FG_ENOMEM;
		goto out;
	}
	if (frc != 0 && frc != FG_ENOTFOUND) {
		facts_failed(e, o, "manual approvals", frc);
		goto out;
	}
	for (i = 0; frc == 0 && i < users.n; i++) {
		if (users.v[i] == NULL)
			continue;
		if (strv_has(allowed, users.v[i])) {
			by = users.v[i];
			break;
		}
		say(e, &others, "%s%s", others.len ? ", " : "", users.v[i]);
	}
	if (by != NULL) {
		pass(e, o, "approved for %s by %s", e->stage, by);
		goto out;
	}
	say(e, &o->text, "no allowed approval of %s for %s", e->short_id,
	    e->stage);
	if (others.len > 0)
		say(e, &o->text, " (approved by %s, who may not)", others.ptr);
	say(e, &o->fix, "ask %s", g->approvers.n > 0 ? "" : "an admin (");
	for (i = 0; i < allowed->n && i < 5; i++)
		say(e, &o->fix, "%s%s", i == 0 ? "" :
		    i + 1 == allowed->n ? " or " : ", ", allowed->v[i]);
	if (allowed->n > 5)
		say(e, &o->fix, " or another");
	say(e, &o->fix, "%s to run 'flowgate approve %s --stage %s'",
	    g->approvers.n > 0 ? "" : ")", e->short_id, e->stage);
out:
	strv_free_contents(&users);
	fg_buf_release(&others);
	return rc;
}

/* "mon-thu", "mon,wed,fri", "sat,sun", "every day". */
static void
describe_days(struct eval *e, struct fg_buf *b, unsigned days)
{
	unsigned i = 0, j;

	days &= 0x7f;
	if (days == 0 || days == 0x7f) {
		say(e, b, "every day");
		return;
	}
	while (i < 7) {
		if (!(days >> i & 1)) {
			i++;
			continue;
		}
		for (j = i; j + 1 < 7 && (days >> (j + 1) & 1); j++)
			;
		if (b->len > 0 && b->ptr[b->len - 1] != ' ')
			say(e, b, ",");
		if (j - i >= 2)
			say(e, b, "%s-%s", fg_tz_wday_name((int)i),
			    fg_tz_wday_name((int)j));
		else if (j > i)
			say(e, b, "%s,%s", fg_tz_wday_name((int)i),
			    fg_tz_wday_name((int)j));
		else
			say(e, b, "%s", fg_tz_wday_name((int)i));
		i = j + 1;
	}
}

static bool
day_allowed(unsigned days, int wday)
{
	return (days & 0x7f) == 0 || (days >> wday & 1);
}

/* The first opening of the window after now, or 0 when within 8 days none. */
static int64_t
next_opening(const struct fg_tz *tz, const struct fg_gate *g,
    const struct fg_civil *now_c, int64_t now)
{
	struct fg_civil c;
	int64_t t;
	int k;

	if (g->from_minute >= g->to_minute)
		return 0;
	for (k = 0; k <= 7; k++) {
		t = fg_tz_from_civil(tz, now_c->year, now_c->month,
		    now_c->day + k, g->from_minute / 60, g->from_minute % 60,
		    0);
		fg_tz_to_civil(&c, tz, t);
		if (t > now && day_allowed(g->days, c.wday))
			return t;
	}
	return 0;
}

static int
gate_window(struct eval *e, const struct fg_gate *g, struct outcome *o)
{
	struct fg_tz *tz = NULL;
	struct fg_err terr = FG_ERR_INIT;
	struct fg_buf desc = FG_BUF_INIT;
	struct fg_civil c, nc;
	char utc[32];
	int64_t next;
	int minute;

	if (fg_tz_load(&tz, g->tz, &terr) != 0) {
		if (terr.code == FG_ENOMEM)
			return FG_ENOMEM;
		say(e, &o->text, "cannot tell the time in '%s': %s",
		    g->tz != NULL ? g->tz : "UTC", terr.msg);
		say(e, &o->fix, "set the window's tz in pipeline.yaml to an "
		    "IANA zone such as 'Europe/Berlin'");
		goto out;
	}
	describe_days(e, &desc, g->days);
	say(e, &desc, " %02d:%02d-%02d:%02d %s", g->from_minute / 60,
	    g->from_minute % 60, g->to_minute / 60, g->to_minute % 60,
	    fg_tz_name(tz));
	fg_tz_to_civil(&c, tz, e->in->now);
	minute = c.hour * 60 + c.minute;
	if (day_allowed(g->days, c.wday) && minute >= g->from_minute &&
	    minute < g->to_minute) {
		pass(e, o, "now is %s %02d:%02d %s, inside %s",
		    day_names[c.wday], c.hour, c.minute, c.abbr, desc.ptr);
		goto out;
	}
	say(e, &o->text, "now is %s %02d:%02d %s, outside the window %s",
	    day_names[c.wday], c.hour, c.minute, c.abbr, desc.ptr);
	next = next_opening(tz, g, &c, e->in->now);
	if (next == 0) {
		say(e, &o->fix, "the window never opens: fix its days and "
		    "hours in pipeline.yaml");
		goto out;
	}
	fg_tz_to_civil(&nc, tz, next);
	fg_format_utc(utc, sizeof(utc), next);
	say(e, &o->fix, "try again when it opens, %s %04d-%02d-%02d %02d:%02d "
	    "%s (%s)", day_names[nc.wday], nc.year, nc.month, nc.day, nc.hour,
	    nc.minute, nc.abbr, utc);
out:
	fg_tz_free(tz);
	fg_buf_release(&desc);
	return 0;
}

static int
gate_freeze(struct eval *e, const struct fg_gate *g, struct outcome *o)
{
	const struct fg_freeze *active = NULL, *next = NULL;
	int64_t now = e->in->now, end;
	char from[32], to[32], until[32];
	size_t i;
	bool extended;

	for (i = 0; i < g->nfreezes; i++) {
		const struct fg_freeze *f = &g->freezes[i];

		if (f->from <= now && now < f->to && active == NULL)
			active = f;
		if (f->from > now && (next == NULL || f->from < next->from))
			next = f;
	}
	if (active == NULL) {
		if (next == NULL) {
			pass(e, o, "outside every freeze period");
		} else {
			fg_format_utc(from, sizeof(from), next->from);
			pass(e, o, "outside every freeze period; the "
			    "next%s%s%s starts %s", next->reason ? ", '" : "",
			    next->reason ? next->reason : "",
			    next->reason ? "'," : "", from);
		}
		return 0;
	}
	/* Periods that overlap or touch end the freeze only together. */
	end = active->to;
	do {
		extended = false;
		for (i = 0; i < g->nfreezes; i++) {
			const struct fg_freeze *f = &g->freezes[i];

			if (f->from <= end && f->to > end) {
				end = f->to;
				extended = true;
			}
		}
	} while (extended);
	fg_format_utc(from, sizeof(from), active->from);
	fg_format_utc(to, sizeof(to), active->to);
	fg_format_utc(until, sizeof(until), end);
	if (active->reason != NULL && active->reason[0] != '\0')
		say(e, &o->text, "%s is frozen for '%s' from %s to %s",
		    e->stage, active->reason, from, to);
	else
		say(e, &o->text, "%s is frozen from %s to %s", e->stage, from,
		    to);
	say(e, &o->fix, "try again after %s", until);
	return 0;
}

static int
gate_up_to_date(struct eval *e, struct outcome *o)
{
	const git_oid *tip = e->in->branch_tip;
	/* Developer has no branch; its name stands in for one. */
	const char *branch = e->branch != NULL ? e->branch : e->stage;
	char tip_id[SHORT_ID + 1];
	size_t ahead = 0, behind = 0;
	int r;

	if (tip == NULL) {
		pass(e, o, "branch '%s' does not exist yet", branch);
		return 0;
	}
	git_oid_tostr(tip_id, sizeof(tip_id), tip);
	if (git_oid_equal(tip, e->in->commit)) {
		pass(e, o, "%s is the tip of '%s'", e->short_id, branch);
		return 0;
	}
	if (e->in->repo == NULL) {
		facts_missing(e, o, "the repository");
		return 0;
	}
	r = git_graph_descendant_of(e->in->repo, e->in->commit, tip);
	if (r == 1) {
		pass(e, o, "%s contains the tip of '%s' (%s)", e->short_id,
		    branch, tip_id);
		return 0;
	}
	if (r < 0) {
		const git_error *ge = git_error_last();

		say(e, &o->text, "cannot compare %s with the tip of '%s' "
		    "(%s): %s", e->short_id, branch, tip_id,
		    ge != NULL && ge->message != NULL ? ge->message :
		    "unknown error");
		say(e, &o->fix, "check that both commits are in the "
		    "repository");
		return 0;
	}
	if (git_graph_ahead_behind(&ahead, &behind, e->in->repo,
	    e->in->commit, tip) == 0 && behind > 0)
		say(e, &o->text, "%s is %zu commit%s behind '%s' (tip %s)",
		    e->short_id, behind, plural((long)behind), branch,
		    tip_id);
	else
		say(e, &o->text, "%s does not contain the tip of '%s' (%s)",
		    e->short_id, branch, tip_id);
	say(e, &o->fix, "merge or rebase onto '%s' (%s) and try again",
	    branch, tip_id);
	return 0;
}

/* The last lines of out, cleaned, into o->output. */
static void
keep_tail(struct eval *e, struct outcome *o, const struct fg_buf *out)
{
	size_t end = out->len, start, lines = 0;
	char *line;

	while (end > 0 && out->ptr[end - 1] == '\n')
		end--;
	start = end;
	while (start > 0 && lines < FG_GATE_OUTPUT_LINES) {
		start--;
		if (out->ptr[start] != '\n')
			continue;
		if (++lines == FG_GATE_OUTPUT_LINES) {
			start++;
			break;
		}
	}
	while (start < end) {
		const char *nl = memchr(out->ptr + start, '\n', end - start);
		size_t len = nl != NULL ? (size_t)(nl - out->ptr) - start :
		    end - start;

		line = clean(out->ptr + start, len, FG_GATE_OUTPUT_LINE_MAX,
		    false);
		if (line == NULL) {
			e->oom = true;
			return;
		}
		say(e, &o->output, "%s%s", o->output.len ? "\n" : "", line);
		free(line);
		start += len + 1;
	}
}

static int
gate_command(struct eval *e, const struct fg_gate *g, struct outcome *o)
{
	struct fg_proc_opts po = FG_PROC_OPTS_INIT;
	struct fg_proc_result res;
	struct fg_err perr = FG_ERR_INIT;
	struct fg_buf cmd = FG_BUF_INIT, ecommit = FG_BUF_INIT;
	struct fg_buf estage = FG_BUF_INIT, ebranch = FG_BUF_INIT;
	struct fg_buf eref = FG_BUF_INIT;
	const char *env[5];
	char *dir = NULL;
	unsigned timeout;
	size_t i, nenv = 0;
	int rc = 0, prc;
	long long ms;

	memset(&res, 0, sizeof(res));
	fg_buf_init(&res.output);
	for (i = 0; i < g->argv.n && g->argv.v[i] != NULL; i++)
		say(e, &cmd, "%s%s", i ? " " : "", g->argv.v[i]);
	if (!e->in->run_commands) {
		o->evaluated = false;
		say(e, &o->text, "'%s' not run: this evaluation runs no "
		    "commands", cmd.ptr);
		goto out;
	}
	if (g->argv.n == 0 || g->argv.v == NULL || g->argv.v[0] == NULL) {
		say(e, &o->text, "the command gate has no command");
		say(e, &o->fix, "give it one with 'run:' in pipeline.yaml");
		goto out;
	}
	if (e->in->repo == NULL) {
		facts_missing(e, o, "the repository");
		goto out;
	}
	timeout = g->timeout > 0 ? (unsigned)g->timeout :
	    FG_GATE_COMMAND_TIMEOUT;
	if (timeout > UINT_MAX / 1000)
		timeout = UINT_MAX / 1000;
	prc = fg_proc_mkdtemp(&dir, "gate", &perr);
	if (prc == 0)
		prc = fg_proc_checkout(dir, e->in->repo, e->in->commit, &perr);
	if (prc == FG_ENOMEM) {
		rc = FG_ENOMEM;
		goto out;
	}
	if (prc != 0) {
		say(e, &o->text, "cannot check out %s to run '%s': %s",
		    e->short_id, cmd.ptr, perr.msg);
		say(e, &o->fix, "try again; if it keeps failing, look at the "
		    "repository and the temporary directory");
		goto out;
	}
	say(e, &ecommit, "FLOWGATE_COMMIT=%s", e->sha);
	say(e, &estage, "FLOWGATE_STAGE=%s", e->stage);
	if (e->oom)
		goto out;
	env[nenv++] = ecommit.ptr;
	env[nenv++] = estage.ptr;
	if (e->branch != NULL) {
		say(e, &ebranch, "FLOWGATE_BRANCH=%s", e->branch);
		say(e, &eref, "FLOWGATE_REF=refs/heads/%s", e->branch);
		env[nenv++] = ebranch.ptr;
		env[nenv++] = eref.ptr;
	}
	env[nenv] = NULL;
	po.argv = (const char *const *)g->argv.v;
	po.dir = dir;
	po.env = env;
	po.timeout_ms = timeout * 1000;
	po.output_max = FG_GATE_OUTPUT_MAX;
	prc = fg_proc_run(&res, &po, &perr);
	if (prc == FG_ENOMEM) {
		rc = FG_ENOMEM;
		goto out;
	}
	if (prc != 0) {
		say(e, &o->text, "'%s' could not start: %s", cmd.ptr,
		    perr.msg);
		say(e, &o->fix, "check the gate's command in pipeline.yaml: it "
		    "runs without a shell, found through PATH");
		goto out;
	}
	ms = (long long)res.duration_ms;
	keep_tail(e, o, &res.output);
	if (res.timed_out) {
		say(e, &o->text, "'%s' did not finish within %u s", cmd.ptr,
		    timeout);
		say(e, &o->fix, "make it faster, or raise the gate's timeout "
		    "in pipeline.yaml");
	} else if (res.exited && res.status == 0) {
		pass(e, o, "'%s' passed in %lld.%lld s", cmd.ptr, ms / 1000,
		    ms % 1000 / 100);
		fg_buf_reset(&o->output);
	} else if (res.exited) {
		say(e, &o->text, "'%s' failed with exit status %d after "
		    "%lld.%lld s", cmd.ptr, res.status, ms / 1000,
		    ms % 1000 / 100);
		say(e, &o->fix, "make '%s' pass on %s, then try again",
		    cmd.ptr, e->short_id);
	} else {
		say(e, &o->text, "'%s' was killed by signal %d (SIG%s) after "
		    "%lld.%lld s", cmd.ptr, res.signal,
		    sigabbrev_np(res.signal) ? sigabbrev_np(res.signal) : "?",
		    ms / 1000, ms % 1000 / 100);
		say(e, &o->fix, "make '%s' pass on %s, then try again",
		    cmd.ptr, e->short_id);
	}
out:
	if (dir != NULL) {
		if (fg_proc_rmtree_detached(dir, &perr) != 0)
			say(e, &o->text, " (and left '%s' behind: %s)", dir,
			    perr.msg);
		free(dir);
	}
	fg_proc_result_release(&res);
	fg_buf_release(&cmd);
	fg_buf_release(&ecommit);
	fg_buf_release(&estage);
	fg_buf_release(&ebranch);
	fg_buf_release(&eref);
	return rc;
}

static int
eval_gate(struct eval *e, const struct fg_gate *g, struct outcome *o)
{
	switch (g->kind) {
	case FG_GATE_APPROVALS:
		return gate_approvals(e, g, o);
	case FG_GATE_STATUS:
		return gate_status(e, g, o);
	case FG_GATE_SOAK:
		return gate_soak(e, g, o);
	case FG_GATE_MANUAL:
		return gate_manual(e, g, o);
	case FG_GATE_WINDOW:
		return gate_window(e, g, o);
	case FG_GATE_FREEZE:
		return gate_freeze(e, g, o);
	case FG_GATE_UP_TO_DATE:
		return gate_up_to_date(e, o);
	case FG_GATE_COMMAND:
		return gate_command(e, g, o);
	}
	/* A kind this engine does not know must not let anything through. */
	say(e, &o->text, "unknown gate kind %d", (int)g->kind);
	say(e, &o->fix, "upgrade flowgate");
	return 0;
}

/* The commit's subject: its first line, cleaned and cut. */
static char *
read_subject(git_repository *repo, const git_oid *id)
{
	git_commit *c = NULL;
	const char *msg, *nl;
	char *s;

	if (repo == NULL || git_commit_lookup(&c, repo, id) != 0)
		return fg_strdup("");
	msg = git_commit_message(c);
	if (msg == NULL)
		msg = "";
	nl = strchr(msg, '\n');
	s = clean(msg, nl != NULL ? (size_t)(nl - msg) : strlen(msg),
	    FG_GATE_SUBJECT_MAX, false);
	git_commit_free(c);
	return s;
}

static int
record(struct eval *e, struct fg_verdict *v, const struct fg_gate *g,
    const struct outcome *o)
{
	struct fg_check *c = &v->checks[v->nchecks++];
	struct fg_issue *is;

	c->passed = o->passed;
	c->evaluated = o->evaluated;
	c->gate = fg_strdup(fg_gate_name(g->kind));
	c->detail = clean(o->text.ptr, o->text.len, FG_GATE_TEXT_MAX, false);
	if (c->gate == NULL || c->detail == NULL)
		return FG_ENOMEM;
	if (o->passed || !o->evaluated)
		return 0;
	is = &v->issues[v->nissues++];
	is->gate = fg_strdup(c->gate);
	is->commit = fg_strdup(e->short_id);
	is->subject = fg_strdup(e->subject);
	is->finding = fg_strdup(c->detail);
	is->fix = clean_str(o->fix.ptr, FG_GATE_TEXT_MAX);
	/* Lines were cleaned one by one in keep_tail(). */
	is->output = fg_strdup(o->output.ptr);
	if (is->gate == NULL || is->commit == NULL || is->subject == NULL ||
	    is->finding == NULL || is->fix == NULL || is->output == NULL)
		return FG_ENOMEM;
	return 0;
}

int
fg_gate_eval(struct fg_verdict *out, const struct fg_gate_input *in,
    struct fg_err *err)
{
	struct eval e;
	struct outcome o;
	const struct fg_stage *st = in->stage;
	size_t i, n;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	memset(&e, 0, sizeof(e));
	outcome_init(&o);
	if (in->cfg == NULL || st == NULL || in->commit == NULL)
		return fg_err_set(err, FG_EINVALID, "gate evaluation needs a "
		    "config, a stage and a commit");
	e.in = in;
	e.facts = in->facts != NULL ? in->facts : &no_facts;
	git_oid_tostr(e.sha, sizeof(e.sha), in->commit);
	git_oid_tostr(e.short_id, sizeof(e.short_id), in->commit);
	e.stage = fg_stage_name(st->id);
	e.branch = st->branch;
	memcpy(out->commit, e.sha, sizeof(out->commit));
	out->stage = e.stage;
	out->complete = true;
	e.subject = read_subject(in->repo, in->commit);
	n = st->ngates;
	out->checks = calloc(n + 1, sizeof(*out->checks));
	out->issues = calloc(n + 1, sizeof(*out->issues));
	if (e.subject == NULL || out->checks == NULL || out->issues == NULL) {
		rc = FG_ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		outcome_release(&o);
		outcome_init(&o);
		rc = eval_gate(&e, &st->gates[i], &o);
		if (rc == 0 && e.oom)
			rc = FG_ENOMEM;
		if (rc == 0)
			rc = record(&e, out, &st->gates[i], &o);
		if (rc != 0)
			goto out;
		if (!o.evaluated)
			out->complete = false;
	}
	out->passed = out->nissues == 0;
out:
	outcome_release(&o);
	free(e.subject);
	if (rc != 0) {
		fg_verdict_release(out);
		return fg_err_set(err, rc, "cannot evaluate the gates of '%s': "
		    "%s", e.stage, fg_strerror(rc));
	}
	return 0;
}

void
fg_verdict_release(struct fg_verdict *v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v->issues != NULL && i < v->nissues; i++) {
		free(v->issues[i].gate);
		free(v->issues[i].commit);
		free(v->issues[i].subject);
		free(v->issues[i].finding);
		free(v->issues[i].fix);
		free(v->issues[i].output);
	}
	for (i = 0; v->checks != NULL && i < v->nchecks; i++) {
		free(v->checks[i].gate);
		free(v->checks[i].detail);
	}
	free(v->issues);
	free(v->checks);
	memset(v, 0, sizeof(*v));
}

static bool
add_str(cJSON *obj, const char *key, const char *val)
{
	return cJSON_AddStringToObject(obj, key, val != NULL ? val : "") !=
	    NULL;
}

int
fg_verdict_to_json(cJSON **out, const struct fg_verdict *v)
{
	cJSON *root = cJSON_CreateObject(), *issues, *checks, *o;
	size_t i;
	bool ok;

	*out = NULL;
	if (root == NULL)
		return FG_ENOMEM;
	ok = cJSON_AddBoolToObject(root, "passed", v->passed) != NULL &&
	    cJSON_AddBoolToObject(root, "complete", v->complete) != NULL &&
	    add_str(root, "commit", v->commit) &&
	    add_str(root, "stage", v->stage);
	issues = ok ? cJSON_AddArrayToObject(root, "issues") : NULL;
	checks = ok ? cJSON_AddArrayToObject(root, "checks") : NULL;
	ok = issues != NULL && checks != NULL;
	for (i = 0; ok && i < v->nissues; i++) {
		const struct fg_issue *is = &v->issues[i];

		o = cJSON_CreateObject();
		ok = o != NULL && cJSON_AddItemToArray(issues, o) &&
		    add_str(o, "gate", is->gate) &&
		    add_str(o, "commit", is->commit) &&
		    add_str(o, "subject", is->subject) &&
		    add_str(o, "finding", is->finding) &&
		    add_str(o, "fix", is->fix) &&
		    add_str(o, "output", is->output);
	}
	for (i = 0; ok && i < v->nchecks; i++) {
		const struct fg_check *c = &v->checks[i];

		o = cJSON_CreateObject();
		ok = o != NULL && cJSON_AddItemToArray(checks, o) &&
		    add_str(o, "gate", c->gate) &&
		    cJSON_AddBoolToObject(o, "passed", c->passed) != NULL &&
		    cJSON_AddBoolToObject(o, "evaluated", c->evaluated) !=
		    NULL && add_str(o, "detail", c->detail);
	}
	if (!ok) {
		cJSON_Delete(root);
		return FG_ENOMEM;
	}
	*out = root;
	return 0;
}

int
fg_verdict_format(struct fg_buf *out, const struct fg_verdict *v,
    const char *prefix)
{
	const char *p = prefix != NULL ? prefix : "";
	size_t i;
	int rc = 0;

	for (i = 0; rc == 0 && i < v->nissues; i++) {
		const struct fg_issue *is = &v->issues[i];
		const char *line, *nl;

		rc = fg_buf_printf(out, "%s%s: %s", p, is->gate, is->commit);
		if (rc == 0 && is->subject[0] != '\0')
			rc = fg_buf_printf(out, " '%s'", is->subject);
		if (rc == 0)
			rc = fg_buf_printf(out, ": %s", is->finding);
		if (rc == 0 && is->fix[0] != '\0')
			rc = fg_buf_printf(out, "; fix: %s", is->fix);
		if (rc == 0)
			rc = fg_buf_putc(out, '\n');
		for (line = is->output; rc == 0 && *line != '\0'; ) {
			nl = strchr(line, '\n');
			if (nl == NULL)
				nl = line + strlen(line);
			rc = fg_buf_printf(out, "%s  | %.*s\n", p,
			    (int)(nl - line), line);
			line = *nl != '\0' ? nl + 1 : nl;
		}
	}
	return rc;
}

int
fg_verdict_explain(struct fg_buf *out, const struct fg_verdict *v,
    const char *prefix)
{
	const char *p = prefix != NULL ? prefix : "";
	size_t i;
	int rc = 0;

	for (i = 0; rc == 0 && i < v->nchecks; i++) {
		const struct fg_check *c = &v->checks[i];

		rc = fg_buf_printf(out, "%s%s: %s: %s\n", p, c->gate,
		    !c->evaluated ? "not run" : c->passed ? "pass" : "FAIL",
		    c->detail);
	}
	return rc;
}
