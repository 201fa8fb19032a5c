/*
 * yaml.c - YAML text to a cJSON tree with positions (see yaml.h).
 *
 * We drive libyaml's event parser rather than its document loader: the
 * loader expands aliases (the "billion laughs" bomb) and forgets where keys
 * were, while events let us refuse anchors, tags and duplicate keys as they
 * come and note every node's line and column.  Nodes are added to the tree
 * as soon as they start, so everything built so far is always reachable from
 * the root and one cJSON_Delete frees it whatever happens.
 *
 * Errors other than syntax errors and limits do not stop the parse: they
 * are collected, sorted by position and handed to the caller at the end, so
 * one run reports all of them in file order.  A document with any error is
 * thrown away, which is why positions are only made searchable on success.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "buf.h"
#include "util.h"
#include "yaml.h"
#include "banned.h"

/* Integers beyond this cannot be held exactly in a double. */
#define MAX_EXACT_INT 9007199254740992ULL

#define TAG_PREFIX "tag:yaml.org,2002:"

struct jpos {
	const cJSON *node;
	unsigned line, col;
	unsigned kline, kcol;
};

struct fg_jdoc {
	cJSON *root;
	char *file;
	struct jpos *pos;
	size_t npos, apos;
};

/* A key of the mapping being read, kept to find duplicates at its end. */
struct keyent {
	const char *key;	/* borrowed from the member's cJSON node */
	unsigned line, col;
	size_t seq;
};

/* One open mapping or sequence. */
struct frame {
	cJSON *node;
	cJSON *last;		/* member or element added last */
	size_t n;		/* elements added so far (sequences) */
	char *key;		/* key waiting for its value, or NULL */
	bool key_bad;		/* key stands in for a refused one */
	unsigned kline, kcol;
	struct keyent *keys;
	size_t nkeys, akeys;
};

struct ydiag {
	unsigned line, col;
	size_t seq;
	char *text;
};

struct yparse {
	struct fg_jdoc *doc;
	const char *data;
	size_t len;
	const char *file;
	struct frame stack[FG_YAML_MAX_DEPTH];
	size_t depth;
	size_t skip;		/* open collections inside a refused key */
	yaml_mark_t skip_mark;	/* where that key starts */
	size_t nodes;
	size_t docs;
	int rc;
	bool stop;
	bool too_many;
	struct ydiag *diags;
	size_t ndiags, adiags;
};

static void
note_code(struct yparse *p, int code)
{
	if (p->rc == FG_ENOMEM || code == 0)
		return;
	if (code == FG_ENOMEM || code == FG_ELIMIT || p->rc == 0)
		p->rc = code;
}

static void
nomem(struct yparse *p)
{
	note_code(p, FG_ENOMEM);
	p->stop = true;
}

/*
 * Record one diagnostic "file:line:col: path: message".  code is what the
 * whole parse will return (FG_ELIMIT wins over FG_EINVALID).  Past
 * FG_YAML_MAX_ERRORS the parse stops.
 */
static void
report(struct yparse *p, int code, unsigned line, unsigned col,
    const char *path, const char *fmt, ...) FG_PRINTF(6, 7);

static void
report(struct yparse *p, int code, unsigned line, unsigned col,
    const char *path, const char *fmt, ...)
{
	struct fg_buf b = FG_BUF_INIT;
	struct ydiag *nd;
	va_list ap;
	int rc;

	note_code(p, code);
	if (p->ndiags >= FG_YAML_MAX_ERRORS) {
		p->too_many = true;
		p->stop = true;
		return;
	}
	rc = fg_buf_printf(&b, "%s:%u:%u: ", p->file, line, col);
	if (rc == 0 && path != NULL && *path != '\0')
		rc = fg_buf_printf(&b, "%s: ", path);
	if (rc == 0) {
		va_start(ap, fmt);
		rc = fg_buf_vprintf(&b, fmt, ap);
		va_end(ap);
	}
	if (rc == 0 && p->ndiags == p->adiags) {
		size_t na = p->adiags ? p->adiags * 2 : 8;

		nd = realloc(p->diags, na * sizeof(*nd));
		if (nd == NULL) {
			rc = FG_ENOMEM;
		} else {
			p->diags = nd;
			p->adiags = na;
		}
	}
	if (rc != 0) {
		fg_buf_release(&b);
		nomem(p);
		return;
	}
	nd = &p->diags[p->ndiags];
	nd->line = line;
	nd->col = col;
	nd->seq = p->ndiags;
	nd->text = fg_buf_detach(&b, NULL);
	if (nd->text == NULL) {
		nomem(p);
		return;
	}
	p->ndiags++;
}

static int
diag_cmp(const void *a, const void *b)
{
	const struct ydiag *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Hand the collected diagnostics to d in file order, then free them. */
static void
flush_diags(struct yparse *p, struct fg_diags *d)
{
	size_t i;

	if (p->ndiags > 1)
		qsort(p->diags, p->ndiags, sizeof(*p->diags), diag_cmp);
	for (i = 0; i < p->ndiags; i++) {
		fg_diags_add(d, "%s", p->diags[i].text);
		free(p->diags[i].text);
	}
	if (p->too_many)
		fg_diags_add(d, "%s: too many errors, stopped after %d",
		    p->file, FG_YAML_MAX_ERRORS);
	free(p->diags);
	p->diags = NULL;
	p->ndiags = p->adiags = 0;
	p->too_many = false;
}

/*
 * Line and column (1-based, columns in characters as libyaml counts them)
 * of byte off.  CR LF, LF and a lone CR each end a line.
 */
static void
offset_pos(const char *s, size_t len, size_t off, unsigned *line,
    unsigned *col)
{
	unsigned l = 1, c = 1;
	size_t i;

	for (i = 0; i < off && i < len; i++) {
		if (s[i] == '\n' || (s[i] == '\r' && (i + 1 >= len ||
		    s[i + 1] != '\n'))) {
			l++;
			c = 1;
		} else if (s[i] != '\r' &&
		    ((unsigned char)s[i] & 0xC0) != 0x80) {
			c++;
		}
	}
	*line = l;
	*col = c;
}

/*
 * The byte offset of a libyaml mark (0-based line and column in
 * characters), or len when it lies past the end.  libyaml's own mark.index
 * counts characters, not bytes, so it cannot index the text.
 */
static size_t
mark_offset(const char *s, size_t len, size_t line, size_t col)
{
	size_t i = 0;

	while (line > 0 && i < len) {
		if (s[i] == '\n' || (s[i] == '\r' && (i + 1 >= len ||
		    s[i + 1] != '\n')))
			line--;
		i++;
	}
	while (col > 0 && i < len) {
		i++;
		while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
			i++;
		col--;
	}
	return i;
}

/* Offset of the first byte that does not start valid UTF-8, or len. */
static size_t
utf8_bad_offset(const char *s, size_t len)
{
	size_t i = 0, n;
	unsigned char c;

	while (i < len) {
		c = (unsigned char)s[i];
		n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
		if (n > len - i)
			n = len - i;
		if (!fg_utf8_is_valid(s + i, n))
			return i;
		i += n;
	}
	return len;
}

/* Append the path of the collection in stack[k]; frames 0..k-1 lead there. */
static void
path_of(struct yparse *p, struct fg_buf *b, size_t k)
{
	const struct frame *f;
	size_t i;
	int rc = 0;

	for (i = 0; i < k && rc == 0; i++) {
		f = &p->stack[i];
		if (cJSON_IsArray(f->node))
			rc = fg_buf_printf(b, "[%zu]", f->n - 1);
		else if (b->len > 0)
			rc = fg_buf_printf(b, ".%s", f->last->string);
		else
			rc = fg_buf_puts(b, f->last->string);
	}
	if (rc != 0)
		nomem(p);
}

/*
 * Append the path of the node about to be added: the open collection's path
 * plus the pending key or the next index.  While a key is expected it is
 * the collection's own path.
 */
static void
pending_path(struct yparse *p, struct fg_buf *b)
{
	const struct frame *f;
	int rc = 0;

	if (p->depth == 0)
		return;
	path_of(p, b, p->depth - 1);
	f = &p->stack[p->depth - 1];
	if (cJSON_IsArray(f->node))
		rc = fg_buf_printf(b, "[%zu]", f->n);
	else if (f->key != NULL)
		rc = fg_buf_printf(b, "%s%s", b->len > 0 ? "." : "", f->key);
	if (rc != 0)
		nomem(p);
}

static bool
expecting_key(const struct yparse *p)
{
	const struct frame *f;

	if (p->depth == 0)
		return false;
	f = &p->stack[p->depth - 1];
	return cJSON_IsObject(f->node) && f->key == NULL;
}

/* Report at a mark with the path of the node being read. */
static void
report_here(struct yparse *p, int code, const yaml_mark_t *m,
    const char *fmt, ...) FG_PRINTF(4, 5);

static void
report_here(struct yparse *p, int code, const yaml_mark_t *m,
    const char *fmt, ...)
{
	struct fg_buf path = FG_BUF_INIT, msg = FG_BUF_INIT;
	va_list ap;
	int rc;

	pending_path(p, &path);
	va_start(ap, fmt);
	rc = fg_buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	if (rc != 0)
		nomem(p);
	else
		report(p, code, (unsigned)m->line + 1, (unsigned)m->column + 1,
		    path.ptr, "%s", msg.ptr);
	fg_buf_release(&path);
	fg_buf_release(&msg);
}

static void
record_pos(struct yparse *p, const cJSON *node, unsigned line, unsigned col,
    unsigned kline, unsigned kcol)
{
	struct fg_jdoc *doc = p->doc;
	struct jpos *np;

	if (doc->npos == doc->apos) {
		size_t na = doc->apos ? doc->apos * 2 : 64;

		np = realloc(doc->pos, na * sizeof(*np));
		if (np == NULL) {
			nomem(p);
			return;
		}
		doc->pos = np;
		doc->apos = na;
	}
	np = &doc->pos[doc->npos++];
	np->node = node;
	np->line = line;
	np->col = col;
	np->kline = kline;
	np->kcol = kcol;
}

static void
remember_key(struct yparse *p, struct frame *f, const char *key)
{
	struct keyent *nk;

	if (f->nkeys == f->akeys) {
		size_t na = f->akeys ? f->akeys * 2 : 8;

		nk = realloc(f->keys, na * sizeof(*nk));
		if (nk == NULL) {
			nomem(p);
			return;
		}
		f->keys = nk;
		f->akeys = na;
	}
	nk = &f->keys[f->nkeys];
	nk->key = key;
	nk->line = f->kline;
	nk->col = f->kcol;
	nk->seq = f->nkeys++;
}

/*
 * Add node (owned by us until here) where the events put it: as the root,
 * the next element, or the value of the pending key.  Returns false when it
 * could not be added; node is freed then.
 */
static bool
attach(struct yparse *p, cJSON *node, const yaml_mark_t *m)
{
	unsigned line = (unsigned)m->line + 1, col = (unsigned)m->column + 1;
	struct frame *f;

	if (node == NULL) {
		nomem(p);
		return false;
	}
	if (p->depth == 0) {
		p->doc->root = node;
		record_pos(p, node, line, col, line, col);
		return true;
	}
	f = &p->stack[p->depth - 1];
	if (cJSON_IsArray(f->node)) {
		cJSON_AddItemToArray(f->node, node);
		f->n++;
		f->last = node;
		record_pos(p, node, line, col, line, col);
		return true;
	}
	if (!cJSON_AddItemToObject(f->node, f->key, node)) {
		cJSON_Delete(node);
		nomem(p);
		return false;
	}
	f->last = node;
	record_pos(p, node, line, col, f->kline, f->kcol);
	if (!f->key_bad)
		remember_key(p, f, node->string);
	free(f->key);
	f->key = NULL;
	return true;
}

/*
 * A refused key (alias, mapping, sequence) still needs a value after it:
 * give it an empty stand-in that the duplicate check skips.
 */
static void
set_bad_key(struct yparse *p, const yaml_mark_t *m)
{
	struct frame *f = &p->stack[p->depth - 1];

	f->key = fg_strdup("");
	if (f->key == NULL) {
		nomem(p);
		return;
	}
	f->key_bad = true;
	f->kline = (unsigned)m->line + 1;
	f->kcol = (unsigned)m->column + 1;
}

/*
 * Anchors and tags come with every node event.  Returns whether the node
 * carries the one tag we allow, !!str, which makes a scalar a string.
 */
static bool
check_props(struct yparse *p, const yaml_mark_t *m, const yaml_char_t *anchor,
    const yaml_char_t *tag, bool scalar)
{
	const char *t = (const char *)tag;
	size_t plen = strlen(TAG_PREFIX);

	if (anchor != NULL)
		report_here(p, FG_EINVALID, m,
		    "anchors and aliases are not allowed");
	if (t == NULL)
		return false;
	if (scalar && strcmp(t, TAG_PREFIX "str") == 0)
		return true;
	if (strncmp(t, TAG_PREFIX, plen) == 0)
		report_here(p, FG_EINVALID, m,
		    "tags are not allowed, except '!!str' on scalars "
		    "(found '!!%s')", t + plen);
	else
		report_here(p, FG_EINVALID, m,
		    "tags are not allowed, except '!!str' on scalars "
		    "(found '%s')", t);
	return false;
}

static bool
is_null(const char *s)
{
	return *s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	    strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static int
bool_value(const char *s)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 ||
	    strcmp(s, "TRUE") == 0)
		return 1;
	if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 ||
	    strcmp(s, "FALSE") == 0)
		return 0;
	return -1;
}

static int
digit_value(char c, unsigned base)
{
	int v = -1;

	if (c >= '0' && c <= '9')
		v = c - '0';
	else if (c >= 'a' && c <= 'f')
		v = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		v = c - 'A' + 10;
	return v >= 0 && (unsigned)v < base ? v : -1;
}

/*
 * Core-schema integers: [-+]?[0-9]+, 0o[0-7]+, 0x[0-9a-fA-F]+.  Returns 1
 * with *out set, 0 when s is not an integer, -1 when it is one but its
 * magnitude is over 2^53 (a double would silently round it).
 */
static int
parse_int(const char *s, double *out)
{
	unsigned base = 10;
	uint64_t v = 0;
	bool neg = false, big = false;
	int dv;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
		base = s[1] == 'x' ? 16 : 8;
		s += 2;
	} else if (*s == '-' || *s == '+') {
		neg = *s == '-';
		s++;
	}
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		dv = digit_value(*s, base);
		if (dv < 0)
			return 0;
		if (!big)
			v = v * base + (unsigned)dv;
		if (v > MAX_EXACT_INT)
			big = true;
	}
	if (big)
		return -1;
	*out = neg ? -(double)v : (double)v;
	return 1;
}

static size_t
count_digits(const char *s)
{
	size_t n = 0;

	while (s[n] >= '0' && s[n] <= '9')
		n++;
	return n;
}

/* Core-schema floats: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool
is_float(const char *s)
{
	size_t whole, frac = 0;

	if (*s == '-' || *s == '+')
		s++;
	whole = count_digits(s);
	s += whole;
	if (*s == '.') {
		s++;
		frac = count_digits(s);
		s += frac;
	}
	if (whole == 0 && frac == 0)
		return false;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (count_digits(s) == 0)
			return false;
		s += count_digits(s);
	}
	return *s == '\0';
}

/*
 * The cJSON node for a plain, untagged scalar, typed by the YAML 1.2 core
 * schema.  .inf and .nan stay strings: JSON has no such numbers.
 */
static cJSON *
plain_scalar(struct yparse *p, const char *s, const yaml_mark_t *m)
{
	double v;
	int b, r;

	if (is_null(s))
		return cJSON_CreateNull();
	b = bool_value(s);
	if (b >= 0)
		return cJSON_CreateBool(b);
	r = parse_int(s, &v);
	if (r == 0 && is_float(s)) {
		v = strtod(s, NULL);
		r = isfinite(v) ? 1 : -1;
	}
	if (r < 0) {
		report_here(p, FG_EINVALID, m, "number '%s' is too large "
		    "(quote it to keep it as text)", s);
		return cJSON_CreateNull();
	}
	if (r > 0)
		return cJSON_CreateNumber(v);
	return cJSON_CreateString(s);
}

static void
on_scalar(struct yparse *p, const yaml_event_t *ev)
{
	const yaml_mark_t *m = &ev->start_mark;
	const char *s = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	struct frame *f;
	bool is_str;
	cJSON *node;

	is_str = check_props(p, m, ev->data.scalar.anchor, ev->data.scalar.tag,
	    true);
	if (memchr(s, '\0', len) != NULL) {
		report_here(p, FG_EINVALID, m,
		    "NUL characters are not allowed");
		if (expecting_key(p))
			set_bad_key(p, m);
		else
			attach(p, cJSON_CreateNull(), m);
		return;
	}
	if (expecting_key(p)) {
		f = &p->stack[p->depth - 1];
		f->key = fg_strdup(s);
		if (f->key == NULL) {
			nomem(p);
			return;
		}
		f->key_bad = false;
		f->kline = (unsigned)m->line + 1;
		f->kcol = (unsigned)m->column + 1;
		return;
	}
	if (is_str || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		node = cJSON_CreateString(s);
	else
		node = plain_scalar(p, s, m);
	attach(p, node, m);
}

static void
on_alias(struct yparse *p, const yaml_event_t *ev)
{
	report_here(p, FG_EINVALID, &ev->start_mark,
	    "anchors and aliases are not allowed");
	if (expecting_key(p))
		set_bad_key(p, &ev->start_mark);
	else
		attach(p, cJSON_CreateNull(), &ev->start_mark);
}

static void
on_start(struct yparse *p, const yaml_event_t *ev, bool mapping)
{
	const yaml_mark_t *m = &ev->start_mark;
	struct frame *f;
	cJSON *node;

	if (mapping)
		check_props(p, m, ev->data.mapping_start.anchor,
		    ev->data.mapping_start.tag, false);
	else
		check_props(p, m, ev->data.sequence_start.anchor,
		    ev->data.sequence_start.tag, false);
	if (expecting_key(p)) {
		report_here(p, FG_EINVALID, m, "keys must be scalars, not %s",
		    mapping ? "mappings" : "sequences");
		p->skip = 1;
		p->skip_mark = *m;
		return;
	}
	if (p->depth == FG_YAML_MAX_DEPTH) {
		report_here(p, FG_ELIMIT, m, "nesting deeper than %d levels",
		    FG_YAML_MAX_DEPTH);
		p->stop = true;
		return;
	}
	node = mapping ? cJSON_CreateObject() : cJSON_CreateArray();
	if (!attach(p, node, m))
		return;
	f = &p->stack[p->depth++];
	memset(f, 0, sizeof(*f));
	f->node = node;
}

static int
key_cmp(const void *a, const void *b)
{
	const struct keyent *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (c != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Find duplicate keys of the mapping on top of the stack by sorting its
 * keys: a linear check per key would be quadratic in a large mapping.  Every
 * occurrence after the first is reported, at its key.
 */
static void
check_duplicates(struct yparse *p)
{
	struct frame *f = &p->stack[p->depth - 1];
	struct fg_buf path = FG_BUF_INIT;
	size_t i, base;

	if (f->nkeys < 2)
		return;
	qsort(f->keys, f->nkeys, sizeof(*f->keys), key_cmp);
	path_of(p, &path, p->depth - 1);
	base = path.len;
	for (i = 1; i < f->nkeys && !p->stop; i++) {
		if (strcmp(f->keys[i].key, f->keys[i - 1].key) != 0)
			continue;
		fg_buf_truncate(&path, base);
		if (fg_buf_printf(&path, "%s%s", base > 0 ? "." : "",
		    f->keys[i].key) != 0) {
			nomem(p);
			break;
		}
		report(p, FG_EINVALID, f->keys[i].line, f->keys[i].col,
		    path.ptr, "duplicate key '%s'", f->keys[i].key);
	}
	fg_buf_release(&path);
}

static void
frame_release(struct frame *f)
{
	free(f->key);
	free(f->keys);
	memset(f, 0, sizeof(*f));
}

static void
on_end(struct yparse *p)
{
	if (p->depth == 0)
		return;
	if (cJSON_IsObject(p->stack[p->depth - 1].node))
		check_duplicates(p);
	frame_release(&p->stack[--p->depth]);
}

/*
 * Skip the events of a mapping or sequence used as a key (already
 * reported), then let its value follow an empty stand-in key.
 */
static void
skip_event(struct yparse *p, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT:
		if (p->depth + p->skip >= FG_YAML_MAX_DEPTH) {
			report_here(p, FG_ELIMIT, &ev->start_mark,
			    "nesting deeper than %d levels", FG_YAML_MAX_DEPTH);
			p->stop = true;
		}
		p->skip++;
		break;
	case YAML_MAPPING_END_EVENT:
	case YAML_SEQUENCE_END_EVENT:
		if (--p->skip == 0)
			set_bad_key(p, &p->skip_mark);
		break;
	default:
		break;
	}
}

static void
on_event(struct yparse *p, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
	case YAML_SCALAR_EVENT:
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (++p->nodes > FG_YAML_MAX_NODES) {
			report(p, FG_ELIMIT, (unsigned)ev->start_mark.line + 1,
			    (unsigned)ev->start_mark.column + 1, NULL,
			    "more than %d nodes", FG_YAML_MAX_NODES);
			p->stop = true;
			return;
		}
		break;
	default:
		break;
	}
	if (p->skip > 0) {
		skip_event(p, ev);
		return;
	}
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++p->docs > 1) {
			report(p, FG_EINVALID,
			    (unsigned)ev->start_mark.line + 1,
			    (unsigned)ev->start_mark.column + 1, NULL,
			    "multiple documents are not allowed");
			p->stop = true;
		}
		break;
	case YAML_ALIAS_EVENT:
		on_alias(p, ev);
		break;
	case YAML_SCALAR_EVENT:
		on_scalar(p, ev);
		break;
	case YAML_SEQUENCE_START_EVENT:
		on_start(p, ev, false);
		break;
	case YAML_MAPPING_START_EVENT:
		on_start(p, ev, true);
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		on_end(p);
		break;
	default:
		break;
	}
}

/* True when only blanks precede byte off on its line. */
static bool
in_indentation(const char *s, size_t off)
{
	while (off > 0 && s[off - 1] != '\n' && s[off - 1] != '\r') {
		if (s[off - 1] != ' ' && s[off - 1] != '\t')
			return false;
		off--;
	}
	return true;
}

/*
 * Turn libyaml's error into one diagnostic that keeps its words.  Tabs in
 * indentation are the classic mistake and libyaml's text does not mention
 * them, so we do.
 */
static void
report_syntax(struct yparse *p, const yaml_parser_t *yp)
{
	const char *problem = yp->problem ? yp->problem : "unknown error";
	unsigned line, col;
	size_t off;

	if (yp->error == YAML_MEMORY_ERROR) {
		nomem(p);
		return;
	}
	if (yp->error == YAML_READER_ERROR) {
		offset_pos(p->data, p->len, yp->problem_offset, &line, &col);
		report(p, FG_EINVALID, line, col, NULL,
		    "invalid character: %s (U+%04X)", problem,
		    (unsigned)yp->problem_value);
		return;
	}
	line = (unsigned)yp->problem_mark.line + 1;
	col = (unsigned)yp->problem_mark.column + 1;
	off = mark_offset(p->data, p->len, yp->problem_mark.line,
	    yp->problem_mark.column);
	if (off < p->len && p->data[off] == '\t' &&
	    in_indentation(p->data, off))
		report(p, FG_EINVALID, line, col, NULL, "syntax error: %s "
		    "(tabs are not allowed for indentation)", problem);
	else if (yp->context != NULL)
		report(p, FG_EINVALID, line, col, NULL,
		    "syntax error: %s (%s at %u:%u)", problem, yp->context,
		    (unsigned)yp->context_mark.line + 1,
		    (unsigned)yp->context_mark.column + 1);
	else
		report(p, FG_EINVALID, line, col, NULL, "syntax error: %s",
		    problem);
}

/*
 * Refuse what libyaml should never see: NUL bytes (they would end its
 * strings early) and bytes that are not UTF-8 (so we, not libyaml, word the
 * error and give its exact place).
 */
static int
check_bytes(const char *data, size_t len, const char *file,
    struct fg_diags *d)
{
	const char *nul = memchr(data, '\0', len);
	unsigned line, col;
	size_t off;

	if (nul != NULL) {
		offset_pos(data, len, (size_t)(nul - data), &line, &col);
		fg_diags_at(d, file, line, col, "",
		    "NUL bytes are not allowed");
		return FG_EINVALID;
	}
	off = utf8_bad_offset(data, len);
	if (off < len) {
		offset_pos(data, len, off, &line, &col);
		fg_diags_at(d, file, line, col, "",
		    "invalid UTF-8 (byte 0x%02X); the file must be UTF-8 "
		    "encoded", (unsigned char)data[off]);
		return FG_EINVALID;
	}
	return 0;
}

static int
jpos_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct jpos *)a)->node;
	uintptr_t y = (uintptr_t)((const struct jpos *)b)->node;

	return x < y ? -1 : x > y;
}

int
fg_yaml_parse(struct fg_jdoc **out, const char *data, size_t len,
    const char *file, struct fg_diags *d)
{
	struct yparse p;
	yaml_parser_t yp;
	yaml_event_t ev;
	bool yp_live = false;
	size_t i, before = fg_diags_count(d);
	int rc, type;

	*out = NULL;
	memset(&p, 0, sizeof(p));
	if (len > FG_YAML_MAX_BYTES) {
		fg_diags_add(d, "%s: larger than the limit of %d bytes", file,
		    FG_YAML_MAX_BYTES);
		return FG_ELIMIT;
	}
	if (len == 0)
		data = "";
	rc = check_bytes(data, len, file, d);
	if (rc != 0)
		return rc;

	p.data = data;
	p.len = len;
	p.file = file;
	p.doc = calloc(1, sizeof(*p.doc));
	if (p.doc == NULL) {
		rc = FG_ENOMEM;
		goto out;
	}
	p.doc->file = fg_strdup(file);
	if (p.doc->file == NULL || !yaml_parser_initialize(&yp)) {
		rc = FG_ENOMEM;
		goto out;
	}
	yp_live = true;
	yaml_parser_set_input_string(&yp, (const unsigned char *)data, len);

	while (!p.stop) {
		if (!yaml_parser_parse(&yp, &ev)) {
			report_syntax(&p, &yp);
			break;
		}
		type = ev.type;
		on_event(&p, &ev);
		yaml_event_delete(&ev);
		if (type == YAML_STREAM_END_EVENT)
			break;
	}
	/*
	 * Close what a syntax error or a limit left open, so that duplicate
	 * keys read before it are still reported.
	 */
	while (p.depth > 0)
		on_end(&p);

	if (p.rc == 0 && p.doc->root == NULL) {
		/* An empty file, or one holding only comments. */
		p.doc->root = cJSON_CreateNull();
		if (p.doc->root == NULL)
			nomem(&p);
		else
			record_pos(&p, p.doc->root, 1, 1, 1, 1);
	}
	rc = p.rc;
	if (rc != 0)
		goto out;
	qsort(p.doc->pos, p.doc->npos, sizeof(*p.doc->pos), jpos_cmp);
	*out = p.doc;
	p.doc = NULL;

out:
	for (i = 0; i < p.depth; i++)
		frame_release(&p.stack[i]);
	flush_diags(&p, d);
	if (yp_live)
		yaml_parser_delete(&yp);
	fg_jdoc_free(p.doc);
	if (rc == FG_ENOMEM && fg_diags_count(d) == before)
		fg_diags_add(d, "%s: out of memory", file);
	return rc;
}

const cJSON *
fg_jdoc_root(const struct fg_jdoc *doc)
{
	return doc != NULL ? doc->root : NULL;
}

const char *
fg_jdoc_file(const struct fg_jdoc *doc)
{
	return doc != NULL ? doc->file : NULL;
}

static const struct jpos *
find_pos(const struct fg_jdoc *doc, const cJSON *node)
{
	struct jpos key;

	if (doc == NULL || node == NULL || doc->npos == 0)
		return NULL;
	key.node = node;
	return bsearch(&key, doc->pos, doc->npos, sizeof(*doc->pos),
	    jpos_cmp);
}

bool
fg_jdoc_pos(const struct fg_jdoc *doc, const cJSON *node, unsigned *line,
    unsigned *col)
{
	const struct jpos *jp = find_pos(doc, node);

	*line = jp != NULL ? jp->line : 0;
	*col = jp != NULL ? jp->col : 0;
	return jp != NULL;
}

bool
fg_jdoc_key_pos(const struct fg_jdoc *doc, const cJSON *node, unsigned *line,
    unsigned *col)
{
	const struct jpos *jp = find_pos(doc, node);

	*line = jp != NULL ? jp->kline : 0;
	*col = jp != NULL ? jp->kcol : 0;
	return jp != NULL;
}

void
fg_jdoc_free(struct fg_jdoc *doc)
{
	if (doc == NULL)
		return;
	cJSON_Delete(doc->root);
	free(doc->file);
	free(doc->pos);
	free(doc);
}
