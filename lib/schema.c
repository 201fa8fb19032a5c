/*
 * schema.c - validate cJSON trees against our JSON Schema subset (schema.h).
 *
 * Validation walks the schema and the instance together, adding one
 * diagnostic per failed check.  Most keywords apply only to one JSON type,
 * so when a node's "type" check fails we report that alone: "expected an
 * object, found a string" says it all, and the other keywords would only
 * add noise.  Object members are visited in document order so that the
 * diagnostics come out in the order a reader meets them.
 *
 * oneOf, anyOf, not and if run their branches into scratch diagnostic
 * lists; only the lines of the branch we decide to report are copied to the
 * caller's list.  Nothing is cached between calls and there is no global
 * state; patterns are compiled where they are used.
 */
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "embed.h"
#include "schema.h"
#include "util.h"
#include "banned.h"

/*
 * Nested schema applications on one instance path: bounds the C stack for
 * deep JSON bodies and for a $ref that loops without consuming input.
 */
#define MAX_DEPTH 256

struct vctx {
	const cJSON *root;		/* for $ref */
	const struct fg_jdoc *doc;	/* positions, or NULL */
	const char *file;
	struct fg_diags *d;		/* where errors go now */
	struct fg_diags *out;		/* the caller's list */
	struct fg_buf path;
	const cJSON *name_of;		/* member whose name is checked */
	unsigned depth;
	size_t steps;
	bool over;			/* step budget spent */
	bool nomem;
};

static void validate(struct vctx *c, const cJSON *schema, const cJSON *inst);

/*
 * Add a diagnostic about inst at the current path: at its key when at_key
 * (unknown fields), else at its value.  While a property name is being
 * validated the diagnostic points at that name and says so.
 */
static void
emit(struct vctx *c, const cJSON *inst, bool at_key, const char *fmt, ...)
    FG_PRINTF(4, 5);

static void
emit(struct vctx *c, const cJSON *inst, bool at_key, const char *fmt, ...)
{
	char msg[FG_ERR_MSG_MAX];
	unsigned line = 0, col = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->name_of != NULL) {
		inst = c->name_of;
		at_key = true;
	}
	if (at_key)
		fg_jdoc_key_pos(c->doc, inst, &line, &col);
	else
		fg_jdoc_pos(c->doc, inst, &line, &col);
	if (c->name_of != NULL)
		fg_diags_at(c->d, c->file, line, col, c->path.ptr,
		    "invalid field name '%s': %s", c->name_of->string, msg);
	else
		fg_diags_at(c->d, c->file, line, col, c->path.ptr, "%s", msg);
}

/*
 * Report a failure of schema's own type, pattern, enum or const check: its
 * "x-message", when it has one, replaces our generic words (it replaces a
 * failed oneOf/anyOf too: see check_alternatives).
 */
static void
fail_own(struct vctx *c, const cJSON *schema, const cJSON *inst,
    const char *fmt, ...) FG_PRINTF(4, 5);

static void
fail_own(struct vctx *c, const cJSON *schema, const cJSON *inst,
    const char *fmt, ...)
{
	const cJSON *xm = cJSON_GetObjectItemCaseSensitive(schema, "x-message");
	char msg[FG_ERR_MSG_MAX];
	va_list ap;

	if (cJSON_IsString(xm)) {
		emit(c, inst, false, "%s", xm->valuestring);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit(c, inst, false, "%s", msg);
}

static size_t
push_key(struct vctx *c, const char *key)
{
	size_t len = c->path.len;

	if (fg_buf_printf(&c->path, "%s%s", len > 0 ? "." : "", key) != 0)
		c->nomem = true;
	return len;
}

static size_t
push_index(struct vctx *c, int i)
{
	size_t len = c->path.len;

	if (fg_buf_printf(&c->path, "[%d]", i) != 0)
		c->nomem = true;
	return len;
}

static void
pop_path(struct vctx *c, size_t len)
{
	fg_buf_truncate(&c->path, len);
}

static const char *
json_type(const cJSON *v)
{
	if (cJSON_IsObject(v))
		return "object";
	if (cJSON_IsArray(v))
		return "array";
	if (cJSON_IsString(v))
		return "string";
	if (cJSON_IsNumber(v))
		return "number";
	if (cJSON_IsBool(v))
		return "boolean";
	return "null";
}

/* "a string", "an object", "null": a type name as a noun phrase. */
static const char *
article(const char *type)
{
	if (strcmp(type, "null") == 0)
		return "";
	if (strchr("aeiou", type[0]) != NULL)
		return "an ";
	return "a ";
}

static bool
is_integer(const cJSON *v)
{
	return cJSON_IsNumber(v) && isfinite(v->valuedouble) &&
	    floor(v->valuedouble) == v->valuedouble;
}

static bool
type_is(const char *type, const cJSON *v)
{
	if (strcmp(type, "integer") == 0)
		return is_integer(v);
	return strcmp(type, json_type(v)) == 0;
}

/* Whether v has one of the types in t (a type name or an array of them). */
static bool
types_match(const cJSON *t, const cJSON *v)
{
	const cJSON *e;

	if (cJSON_IsString(t))
		return type_is(t->valuestring, v);
	cJSON_ArrayForEach(e, t)
		if (cJSON_IsString(e) && type_is(e->valuestring, v))
			return true;
	return false;
}

static void
fmt_num(char *out, size_t size, double v)
{
	snprintf(out, size, "%.15g", v);
}

/* Append v as a user reads it: strings bare, other values as JSON. */
static int
put_value(struct fg_buf *b, const cJSON *v, bool quote)
{
	char *s;
	int rc;

	if (cJSON_IsString(v))
		return fg_buf_printf(b, quote ? "'%s'" : "%s", v->valuestring);
	s = cJSON_PrintUnformatted(v);
	if (s == NULL)
		return FG_ENOMEM;
	rc = fg_buf_puts(b, s);
	cJSON_free(s);
	return rc;
}

/* Returns false when the type check failed (and was reported). */
static bool
check_type(struct vctx *c, const cJSON *schema, const cJSON *inst)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(schema, "type");
	struct fg_buf want = FG_BUF_INIT;
	const char *found = json_type(inst);
	int i, n, rc = 0;

	if (t == NULL || types_match(t, inst))
		return true;
	if (cJSON_IsString(t)) {
		fail_own(c, schema, inst, "expected %s%s, found %s%s",
		    article(t->valuestring), t->valuestring, article(found),
		    found);
		return false;
	}
	n = cJSON_GetArraySize(t);
	for (i = 0; i < n && rc == 0; i++) {
		const char *name = cJSON_GetStringValue(cJSON_GetArrayItem(t,
		    i));

		if (name == NULL)
			continue;
		rc = fg_buf_printf(&want, "%s%s%s", i == 0 ? "" : i == n - 1 ?
		    " or " : ", ", article(name), name);
	}
	if (rc != 0)
		c->nomem = true;
	fail_own(c, schema, inst, "expected %s, found %s%s", want.ptr,
	    article(found), found);
	fg_buf_release(&want);
	return false;
}

static void
check_enum_const(struct vctx *c, const cJSON *schema, const cJSON *inst)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(schema, "enum");
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(schema, "const");
	struct fg_buf b = FG_BUF_INIT;
	const cJSON *v;
	bool found = false;
	int rc = 0;

	cJSON_ArrayForEach(v, e)
		if (cJSON_Compare(v, inst, true))
			found = true;
	if (cJSON_IsArray(e) && !found) {
		cJSON_ArrayForEach(v, e) {
			if (rc == 0 && b.len > 0)
				rc = fg_buf_puts(&b, ", ");
			if (rc == 0)
				rc = put_value(&b, v, false);
		}
		fail_own(c, schema, inst, "must be one of: %s", b.ptr);
	}
	if (k != NULL && !cJSON_Compare(k, inst, true)) {
		fg_buf_reset(&b);
		rc = put_value(&b, k, true);
		fail_own(c, schema, inst, "must be %s", b.ptr);
	}
	if (rc != 0)
		c->nomem = true;
	fg_buf_release(&b);
}

static void
check_number(struct vctx *c, const cJSON *schema, const cJSON *inst)
{
	static const struct {
		const char *kw;
		const char *words;
		bool lower;		/* a lower bound */
		bool exclusive;		/* the bound itself fails */
	} limits[] = {
		{ "minimum", "at least", true, false },
		{ "maximum", "at most", false, false },
		{ "exclusiveMinimum", "greater than", true, true },
		{ "exclusiveMaximum", "less than", false, true },
	};
	double v = inst->valuedouble, lim;
	const cJSON *l;
	char num[32];
	size_t i;
	bool bad;

	for (i = 0; i < FG_ARRAY_SIZE(limits); i++) {
		l = cJSON_GetObjectItemCaseSensitive(schema, limits[i].kw);
		if (!cJSON_IsNumber(l))
			continue;
		lim = l->valuedouble;
		bad = limits[i].lower ? v < lim : v > lim;
		if (v == lim)
			bad = limits[i].exclusive;
		if (!bad)
			continue;
		fmt_num(num, sizeof(num), lim);
		emit(c, inst, false, "must be %s %s", limits[i].words, num);
	}
}

/*
 * Search s for the POSIX extended pattern re (unanchored, as JSON Schema
 * says).  Returns 1 on a match, 0 on none, -1 when re does not compile,
 * which is reported against inst: it is the schema's fault, but a schema
 * that cannot check this input must not let it through.
 */
static int
pattern_search(struct vctx *c, const char *re, const char *s,
    const cJSON *inst)
{
	char why[128];
	regex_t rx;
	int rc;

	rc = regcomp(&rx, re, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		regerror(rc, &rx, why, sizeof(why));
		emit(c, inst, false, "the schema's pattern '%s' is invalid: %s",
		    re, why);
		return -1;
	}
	rc = regexec(&rx, s, 0, NULL, 0);
	regfree(&rx);
	return rc == 0 ? 1 : 0;
}

static size_t
utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

static void
check_string(struct vctx *c, const cJSON *schema, const cJSON *inst)
{
	const cJSON *mn = cJSON_GetObjectItemCaseSensitive(schema, "minLength");
	const cJSON *mx = cJSON_GetObjectItemCaseSensitive(schema, "maxLength");
	const cJSON *pat = cJSON_GetObjectItemCaseSensitive(schema, "pattern");
	size_t len = utf8_chars(inst->valuestring);

	if (cJSON_IsNumber(mn) && (double)len < mn->valuedouble)
		emit(c, inst, false, "must be at least %.0f character%s long",
		    mn->valuedouble, mn->valuedouble == 1 ? "" : "s");
	if (cJSON_IsNumber(mx) && (double)len > mx->valuedouble)
		emit(c, inst, false, "must be at most %.0f character%s long",
		    mx->valuedouble, mx->valuedouble == 1 ? "" : "s");
	if (cJSON_IsString(pat) &&
	    pattern_search(c, pat->valuestring, inst->valuestring, inst) == 0)
		fail_own(c, schema, inst, "does not match the pattern '%s'",
		    pat->valuestring);
}

static void
check_array(struct vctx *c, const cJSON *schema, const cJSON *inst)
{
	const cJSON *mn = cJSON_GetObjectItemCaseSensitive(schema, "minItems");
	const cJSON *mx = cJSON_GetObjectItemCaseSensitive(schema, "maxItems");
	const cJSON *pre = cJSON_GetObjectItemCaseSensitive(schema,
	    "prefixItems");
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(schema, "items");
	const cJSON *uniq = cJSON_GetObjectItemCaseSensitive(schema,
	    "uniqueItems");
	const cJSON *e, *f;
	int i = 0, j, npre = cJSON_GetArraySize(pre);
	int n = cJSON_GetArraySize(inst);
	size_t mark;

	if (cJSON_IsNumber(mn) && (double)n < mn->valuedouble)
		emit(c, inst, false, "must have at least %.0f item%s",
		    mn->valuedouble, mn->valuedouble == 1 ? "" : "s");
	if (cJSON_IsNumber(mx) && (double)n > mx->valuedouble)
		emit(c, inst, false, "must have at most %.0f item%s",
		    mx->valuedouble, mx->valuedouble == 1 ? "" : "s");
	cJSON_ArrayForEach(e, inst) {
		mark = push_index(c, i);
		if (i < npre)
			validate(c, cJSON_GetArrayItem(pre, i), e);
		else if (items != NULL)
			validate(c, items, e);
		if (cJSON_IsTrue(uniq)) {
			j = 0;
			for (f = inst->child; f != e; f = f->next, j++) {
				if (cJSON_Compare(f, e, true)) {
					emit(c, e, false, "items must be "
					    "unique: same as [%d]", j);
					break;
				}
			}
		}
		pop_path(c, mark);
		i++;
	}
}

/* Validate the name of member m against the propertyNames schema. */
static void
check_name(struct vctx *c, const cJSON *names, const cJSON *m)
{
	cJSON *name = cJSON_CreateStringReference(m->string);
	const cJSON *outer = c->name_of;

	if (name == NULL) {
		c->nomem = true;
		return;
	}
	c->name_of = m;
	validate(c, names, name);
	c->name_of = outer;
	cJSON_Delete(name);
}

static void
check_object(struct vctx *c, const cJSON *schema, const cJSON *inst)
{
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema,
	    "properties");
	const cJSON *pprops = cJSON_GetObjectItemCaseSensitive(schema,
	    "patternProperties");
	const cJSON *addl = cJSON_GetObjectItemCaseSensitive(schema,
	    "additionalProperties");
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(schema,
	    "propertyNames");
	const cJSON *req = cJSON_GetObjectItemCaseSensitive(schema, "required");
	const cJSON *r, *m, *sub, *pp;
	bool known;
	size_t mark;

	cJSON_ArrayForEach(r, req)
		if (cJSON_IsString(r) && cJSON_GetObjectItemCaseSensitive(inst,
		    r->valuestring) == NULL)
			emit(c, inst, false, "missing required field '%s'",
			    r->valuestring);
	cJSON_ArrayForEach(m, inst) {
		mark = push_key(c, m->string);
		if (names != NULL)
			check_name(c, names, m);
		sub = cJSON_GetObjectItemCaseSensitive(props, m->string);
		known = sub != NULL;
		if (sub != NULL)
			validate(c, sub, m);
		cJSON_ArrayForEach(pp, pprops) {
			if (pattern_search(c, pp->string, m->string, m) == 1) {
				known = true;
				validate(c, pp, m);
			}
		}
		if (!known && cJSON_IsFalse(addl))
			emit(c, m, true, "unknown field '%s'", m->string);
		else if (!known && cJSON_IsObject(addl))
			validate(c, addl, m);
		pop_path(c, mark);
	}
}

/* The $defs entry "#/$defs/NAME" names in the root schema, or NULL. */
static const cJSON *
resolve_ref(const cJSON *root, const char *ref)
{
	static const char prefix[] = "#/$defs/";
	const cJSON *defs;

	if (strncmp(ref, prefix, sizeof(prefix) - 1) != 0)
		return NULL;
	defs = cJSON_GetObjectItemCaseSensitive(root, "$defs");
	return cJSON_GetObjectItemCaseSensitive(defs, ref + sizeof(prefix) - 1);
}

/* Run schema on inst into a scratch list instead of the current one. */
static size_t
run_branch(struct vctx *c, const cJSON *schema, const cJSON *inst,
    struct fg_diags *into)
{
	struct fg_diags *saved = c->d;

	c->d = into;
	validate(c, schema, inst);
	c->d = saved;
	return fg_diags_count(into);
}

static void
copy_diags(struct fg_diags *to, const struct fg_diags *from)
{
	size_t i;

	for (i = 0; i < from->n; i++)
		fg_diags_add(to, "%s", from->lines[i]);
	to->dropped += from->dropped;
}

/* The "type" a branch declares, looking through one $ref; or NULL. */
static const cJSON *
branch_type(struct vctx *c, const cJSON *branch)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(branch, "type");
	const cJSON *ref = cJSON_GetObjectItemCaseSensitive(branch, "$ref");

	if (t == NULL && cJSON_IsString(ref))
		t = cJSON_GetObjectItemCaseSensitive(
		    resolve_ref(c->root, ref->valuestring), "type");
	return t;
}

/*
 * True when inst is not an object, or holds every key branch requires
 * (looking through one $ref).  The required keys of a oneOf branch act as
 * its discriminator: {approvals: two} is about the approvals branch even
 * though every object branch fails it.
 */
static bool
branch_keys_present(struct vctx *c, const cJSON *branch, const cJSON *inst)
{
	const cJSON *req = cJSON_GetObjectItemCaseSensitive(branch, "required");
	const cJSON *ref = cJSON_GetObjectItemCaseSensitive(branch, "$ref");
	const cJSON *k;

	if (!cJSON_IsObject(inst))
		return true;
	if (req == NULL && cJSON_IsString(ref))
		req = cJSON_GetObjectItemCaseSensitive(
		    resolve_ref(c->root, ref->valuestring), "required");
	cJSON_ArrayForEach(k, req)
		if (cJSON_IsString(k) &&
		    !cJSON_HasObjectItem(inst, k->valuestring))
			return false;
	return true;
}

/*
 * Add a type name to a list "string, object" unless it is there already (no
 * type name is part of another, so strstr is exact enough).
 */
static int
add_type_name(struct fg_buf *list, const char *name)
{
	if (strstr(list->ptr, name) != NULL)
		return 0;
	return fg_buf_printf(list, "%s%s", list->len > 0 ? ", " : "", name);
}

/*
 * No branch of a oneOf/anyOf matched.  A branch fits inst when its declared
 * type (if any) matches and, for an object, inst holds the keys the branch
 * requires.  Among the fitting branches, report the errors of the one with
 * the fewest, the first on a tie.  When none fits, the owner's "x-message"
 * says what is wanted, if it has one; otherwise, when every branch declares
 * a type and inst has none of them, the list of types; otherwise the
 * closest branch whose type fits.
 */
static void
report_alternatives(struct vctx *c, const cJSON *owner, const cJSON *list,
    const cJSON *inst, struct fg_diags *runs)
{
	const cJSON *xm = cJSON_GetObjectItemCaseSensitive(owner, "x-message");
	struct fg_buf want = FG_BUF_INIT;
	const cJSON *b, *t, *e;
	size_t best = SIZE_MAX, typed = SIZE_MAX, i = 0;
	int rc = 0;

	cJSON_ArrayForEach(b, list) {
		t = branch_type(c, b);
		if (t == NULL || types_match(t, inst)) {
			if (typed == SIZE_MAX || fg_diags_count(&runs[i]) <
			    fg_diags_count(&runs[typed]))
				typed = i;
			if (branch_keys_present(c, b, inst) &&
			    (best == SIZE_MAX || fg_diags_count(&runs[i]) <
			    fg_diags_count(&runs[best])))
				best = i;
		}
		i++;
	}
	if (best != SIZE_MAX) {
		copy_diags(c->d, &runs[best]);
		return;
	}
	if (cJSON_IsString(xm)) {
		emit(c, inst, false, "%s", xm->valuestring);
		return;
	}
	if (typed != SIZE_MAX) {
		copy_diags(c->d, &runs[typed]);
		return;
	}
	cJSON_ArrayForEach(b, list) {
		t = branch_type(c, b);
		if (cJSON_IsString(t))
			rc |= add_type_name(&want, t->valuestring);
		else if (cJSON_IsArray(t))
			cJSON_ArrayForEach(e, t)
				if (cJSON_IsString(e))
					rc |= add_type_name(&want,
					    e->valuestring);
	}
	if (rc != 0)
		c->nomem = true;
	emit(c, inst, false, "expected one of: %s (found %s%s)", want.ptr,
	    article(json_type(inst)), json_type(inst));
	fg_buf_release(&want);
}

/*
 * oneOf (one == true) or anyOf.  owner is the schema holding the list; its
 * "x-message" speaks when more than one branch of a oneOf matches or, see
 * report_alternatives, when no branch fits at all: the closest branch of a
 * list like [{required: [a]}, {required: [b]}] would only say "missing
 * required field 'a'", which misleads.
 */
static void
check_alternatives(struct vctx *c, const cJSON *owner, const cJSON *list,
    const cJSON *inst, bool one)
{
	const cJSON *xm = cJSON_GetObjectItemCaseSensitive(owner, "x-message");
	int n = cJSON_GetArraySize(list), i, matched = 0;
	struct fg_diags *runs;

	if (n == 0)
		return;
	runs = calloc((size_t)n, sizeof(*runs));
	if (runs == NULL) {
		c->nomem = true;
		return;
	}
	for (i = 0; i < n && !c->over; i++) {
		if (run_branch(c, cJSON_GetArrayItem(list, i), inst,
		    &runs[i]) == 0)
			matched++;
		if (matched > 0 && !one)
			break;
	}
	if (c->over)
		goto out;
	if (matched > 1 && one)
		emit(c, inst, false, "%s", cJSON_IsString(xm) ?
		    xm->valuestring : "matches more than one alternative");
	else if (matched == 0)
		report_alternatives(c, owner, list, inst, runs);
out:
	for (i = 0; i < n; i++)
		fg_diags_release(&runs[i]);
	free(runs);
}

static void
check_logic(struct vctx *c, const cJSON *schema, const cJSON *inst)
{
	const cJSON *ref = cJSON_GetObjectItemCaseSensitive(schema, "$ref");
	const cJSON *all = cJSON_GetObjectItemCaseSensitive(schema, "allOf");
	const cJSON *neg = cJSON_GetObjectItemCaseSensitive(schema, "not");
	const cJSON *cond = cJSON_GetObjectItemCaseSensitive(schema, "if");
	struct fg_diags scratch = FG_DIAGS_INIT;
	const cJSON *sub, *target;
	size_t errs;

	if (cJSON_IsString(ref)) {
		target = resolve_ref(c->root, ref->valuestring);
		if (target == NULL)
			emit(c, inst, false, "the schema's $ref '%s' does not "
			    "resolve", ref->valuestring);
		else
			validate(c, target, inst);
	}
	cJSON_ArrayForEach(sub, all)
		validate(c, sub, inst);
	check_alternatives(c, schema,
	    cJSON_GetObjectItemCaseSensitive(schema, "anyOf"), inst, false);
	check_alternatives(c, schema,
	    cJSON_GetObjectItemCaseSensitive(schema, "oneOf"), inst, true);
	if (neg != NULL) {
		errs = run_branch(c, neg, inst, &scratch);
		if (errs == 0 && !c->over)
			emit(c, inst, false,
			    "must not match the schema under 'not'");
		fg_diags_release(&scratch);
	}
	if (cond != NULL) {
		errs = run_branch(c, cond, inst, &scratch);
		fg_diags_release(&scratch);
		sub = cJSON_GetObjectItemCaseSensitive(schema,
		    errs == 0 ? "then" : "else");
		if (sub != NULL && !c->over)
			validate(c, sub, inst);
	}
}

static void
validate(struct vctx *c, const cJSON *schema, const cJSON *inst)
{
	if (c->over)
		return;
	if (++c->steps > FG_SCHEMA_MAX_STEPS) {
		c->over = true;
		fg_diags_at(c->out, c->file, 0, 0, "", "validation stopped "
		    "after %d checks: the input is too complex for the schema",
		    FG_SCHEMA_MAX_STEPS);
		return;
	}
	if (cJSON_IsFalse(schema)) {
		emit(c, inst, false, "is not allowed here");
		return;
	}
	if (!cJSON_IsObject(schema))
		return;
	if (c->depth >= MAX_DEPTH) {
		emit(c, inst, false, "the input or the schema nests too "
		    "deeply here (more than %d levels)", MAX_DEPTH);
		return;
	}
	c->depth++;
	if (check_type(c, schema, inst)) {
		check_enum_const(c, schema, inst);
		if (cJSON_IsNumber(inst))
			check_number(c, schema, inst);
		else if (cJSON_IsString(inst))
			check_string(c, schema, inst);
		else if (cJSON_IsArray(inst))
			check_array(c, schema, inst);
		else if (cJSON_IsObject(inst))
			check_object(c, schema, inst);
		check_logic(c, schema, inst);
	}
	c->depth--;
}

int
fg_schema_validate(const cJSON *schema, const cJSON *instance,
    const struct fg_jdoc *doc, const char *file, struct fg_diags *d)
{
	size_t before = fg_diags_count(d);
	struct vctx c;

	memset(&c, 0, sizeof(c));
	c.root = schema;
	c.doc = doc;
	c.file = doc != NULL ? fg_jdoc_file(doc) : file != NULL ? file : "";
	c.d = d;
	c.out = d;
	fg_buf_init(&c.path);
	validate(&c, schema, instance);
	fg_buf_release(&c.path);
	if (c.nomem)
		return FG_ENOMEM;
	return fg_diags_count(d) > before ? FG_EINVALID : 0;
}

/* Load-time checking of the schema itself. */

enum kw_kind {
	KW_IGNORE,		/* annotation */
	KW_ANY,			/* any JSON value (const) */
	KW_SCHEMA,
	KW_SCHEMA_MAP,		/* object of schemas */
	KW_SCHEMA_LIST,		/* non-empty array of schemas */
	KW_TYPE,
	KW_NUMBER,
	KW_COUNT,		/* non-negative integer */
	KW_BOOL,
	KW_STRING,
	KW_STRINGS,		/* array of strings */
	KW_ARRAY,
	KW_PATTERN,
	KW_REF,
};

struct keyword {
	const char *name;
	enum kw_kind kind;
};

/* Sorted by strcmp for bsearch. */
static const struct keyword keywords[] = {
	{ "$comment", KW_IGNORE },
	{ "$defs", KW_SCHEMA_MAP },
	{ "$id", KW_IGNORE },
	{ "$ref", KW_REF },
	{ "$schema", KW_IGNORE },
	{ "additionalProperties", KW_SCHEMA },
	{ "allOf", KW_SCHEMA_LIST },
	{ "anyOf", KW_SCHEMA_LIST },
	{ "const", KW_ANY },
	{ "default", KW_IGNORE },
	{ "deprecated", KW_IGNORE },
	{ "description", KW_IGNORE },
	{ "else", KW_SCHEMA },
	{ "enum", KW_ARRAY },
	{ "examples", KW_IGNORE },
	{ "exclusiveMaximum", KW_NUMBER },
	{ "exclusiveMinimum", KW_NUMBER },
	{ "format", KW_IGNORE },
	{ "if", KW_SCHEMA },
	{ "items", KW_SCHEMA },
	{ "maxItems", KW_COUNT },
	{ "maxLength", KW_COUNT },
	{ "maximum", KW_NUMBER },
	{ "minItems", KW_COUNT },
	{ "minLength", KW_COUNT },
	{ "minimum", KW_NUMBER },
	{ "not", KW_SCHEMA },
	{ "oneOf", KW_SCHEMA_LIST },
	{ "pattern", KW_PATTERN },
	{ "patternProperties", KW_SCHEMA_MAP },
	{ "prefixItems", KW_SCHEMA_LIST },
	{ "properties", KW_SCHEMA_MAP },
	{ "propertyNames", KW_SCHEMA },
	{ "required", KW_STRINGS },
	{ "then", KW_SCHEMA },
	{ "title", KW_IGNORE },
	{ "type", KW_TYPE },
	{ "uniqueItems", KW_BOOL },
	{ "x-message", KW_STRING },
};

static int
keyword_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct keyword *)elem)->name);
}

static bool
type_name_known(const cJSON *v)
{
	static const char *names[] = { "object", "array", "string", "number",
	    "integer", "boolean", "null" };
	size_t i;

	if (!cJSON_IsString(v))
		return false;
	for (i = 0; i < FG_ARRAY_SIZE(names); i++)
		if (strcmp(v->valuestring, names[i]) == 0)
			return true;
	return false;
}

static bool
all_strings(const cJSON *a, bool type_names)
{
	const cJSON *e;

	if (!cJSON_IsArray(a))
		return false;
	cJSON_ArrayForEach(e, a)
		if (type_names ? !type_name_known(e) : !cJSON_IsString(e))
			return false;
	return true;
}

static bool
compiles(const char *re)
{
	regex_t rx;

	if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) != 0)
		return false;
	regfree(&rx);
	return true;
}

/* Append "/" and key to a JSON pointer, escaping '~' and '/'. */
static int
ptr_push(struct fg_buf *ptr, const char *key)
{
	int rc = fg_buf_putc(ptr, '/');

	for (; *key != '\0' && rc == 0; key++) {
		if (*key == '~')
			rc = fg_buf_puts(ptr, "~0");
		else if (*key == '/')
			rc = fg_buf_puts(ptr, "~1");
		else
			rc = fg_buf_putc(ptr, *key);
	}
	return rc;
}

struct sctx {
	const cJSON *root;
	const char *name;
	struct fg_buf ptr;
	struct fg_err *err;
};

static int check_schema(struct sctx *s, const cJSON *node);

/* Check the value v of keyword kw (whose pointer is s->ptr). */
static int
check_keyword(struct sctx *s, const struct keyword *kw, const cJSON *v)
{
	const char *want = NULL;
	const cJSON *e;
	size_t mark, i = 0;
	int rc = 0;

	switch (kw->kind) {
	case KW_IGNORE:
	case KW_ANY:
		break;
	case KW_SCHEMA:
		return check_schema(s, v);
	case KW_SCHEMA_MAP:
	case KW_SCHEMA_LIST:
		if (kw->kind == KW_SCHEMA_MAP ? !cJSON_IsObject(v) :
		    !cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0) {
			want = kw->kind == KW_SCHEMA_MAP ? "an object" :
			    "a non-empty array";
			break;
		}
		mark = s->ptr.len;
		cJSON_ArrayForEach(e, v) {
			if (kw->kind == KW_SCHEMA_MAP)
				rc = ptr_push(&s->ptr, e->string);
			else
				rc = fg_buf_printf(&s->ptr, "/%zu", i++);
			if (rc != 0)
				return fg_err_set(s->err, FG_ENOMEM,
				    "out of memory");
			if (strcmp(kw->name, "patternProperties") == 0 &&
			    !compiles(e->string))
				return fg_err_set(s->err, FG_EINVALID,
				    "%s: invalid pattern '%s' at '%s'",
				    s->name, e->string, s->ptr.ptr);
			rc = check_schema(s, e);
			if (rc != 0)
				return rc;
			fg_buf_truncate(&s->ptr, mark);
		}
		break;
	case KW_TYPE:
		if (!type_name_known(v) && !all_strings(v, true))
			want = "a type name or an array of them";
		break;
	case KW_NUMBER:
		if (!cJSON_IsNumber(v))
			want = "a number";
		break;
	case KW_COUNT:
		if (!is_integer(v) || v->valuedouble < 0)
			want = "a non-negative integer";
		break;
	case KW_BOOL:
		if (!cJSON_IsBool(v))
			want = "a boolean";
		break;
	case KW_STRING:
		if (!cJSON_IsString(v))
			want = "a string";
		break;
	case KW_STRINGS:
		if (!all_strings(v, false))
			want = "an array of strings";
		break;
	case KW_ARRAY:
		if (!cJSON_IsArray(v))
			want = "an array";
		break;
	case KW_PATTERN:
		if (!cJSON_IsString(v))
			want = "a string";
		else if (!compiles(v->valuestring))
			return fg_err_set(s->err, FG_EINVALID,
			    "%s: invalid pattern '%s' at '%s'", s->name,
			    v->valuestring, s->ptr.ptr);
		break;
	case KW_REF:
		if (!cJSON_IsString(v) ||
		    resolve_ref(s->root, v->valuestring) == NULL)
			return fg_err_set(s->err, FG_EINVALID,
			    "%s: $ref at '%s' must name an entry of $defs "
			    "(\"#/$defs/NAME\")", s->name, s->ptr.ptr);
		break;
	}
	if (want != NULL)
		return fg_err_set(s->err, FG_EINVALID,
		    "%s: '%s' at '%s' must be %s", s->name, kw->name,
		    s->ptr.ptr, want);
	return 0;
}

static int
check_schema(struct sctx *s, const cJSON *node)
{
	const struct keyword *kw;
	const cJSON *m;
	size_t mark = s->ptr.len;
	int rc;

	if (cJSON_IsBool(node))
		return 0;
	if (!cJSON_IsObject(node))
		return fg_err_set(s->err, FG_EINVALID, "%s: the schema at '%s' "
		    "must be an object or a boolean", s->name,
		    mark > 0 ? s->ptr.ptr : "/");
	cJSON_ArrayForEach(m, node) {
		if (ptr_push(&s->ptr, m->string) != 0)
			return fg_err_set(s->err, FG_ENOMEM, "out of memory");
		kw = bsearch(m->string, keywords, FG_ARRAY_SIZE(keywords),
		    sizeof(keywords[0]), keyword_cmp);
		if (kw == NULL)
			return fg_err_set(s->err, FG_EINVALID,
			    "%s: unsupported keyword '%s' at '%s'", s->name,
			    m->string, s->ptr.ptr);
		rc = check_keyword(s, kw, m);
		if (rc != 0)
			return rc;
		fg_buf_truncate(&s->ptr, mark);
	}
	return 0;
}

int
fg_schema_check(const cJSON *schema, const char *name, struct fg_err *err)
{
	struct sctx s;
	int rc;

	s.root = schema;
	s.name = name;
	s.err = err;
	fg_buf_init(&s.ptr);
	rc = check_schema(&s, schema);
	fg_buf_release(&s.ptr);
	return rc;
}

int
fg_schema_load(cJSON **out, const char *name, struct fg_err *err)
{
	const struct fg_embedded_file *f = fg_embedded_find(name);
	struct fg_err jerr = FG_ERR_INIT;
	cJSON *schema = NULL;
	int rc;

	*out = NULL;
	if (f == NULL)
		return fg_err_set(err, FG_ENOTFOUND, "no embedded schema '%s'",
		    name);
	rc = fg_json_parse(&schema, f->data, f->len, &jerr);
	if (rc != 0) {
		fg_err_set(err, rc, "%s: %s", name, fg_err_msg(&jerr));
		goto out;
	}
	rc = fg_schema_check(schema, name, err);
	if (rc != 0)
		goto out;
	*out = schema;
	schema = NULL;
out:
	cJSON_Delete(schema);
	return rc;
}
