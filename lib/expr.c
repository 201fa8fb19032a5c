/*
 * expr.c - parse and evaluate "if:" expressions (see expr.h).
 *
 * A recursive-descent parser over a one-token lookahead builds a tree of
 * heap nodes.  Recursion is bounded twice: the parser counts nesting
 * ("(", "!", "[") against FG_EXPR_MAX_DEPTH before it recurses, and
 * "&&"/"||" chains are n-ary nodes (children linked through next) rather
 * than left-deep trees, so a 1000-byte "a && a && ..." is one level deep,
 * not three hundred.  Evaluation follows the same shape, so its stack
 * depth is bounded by the same limits.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "expr.h"
#include "util.h"
#include "banned.h"

enum kind {
	N_NULL,
	N_BOOL,
	N_NUM,
	N_STR,
	N_LIST,		/* items: literal nodes linked through next */
	N_PATH,
	N_NOT,		/* l */
	N_AND,		/* items: operands linked through next */
	N_OR,
	N_EQ,		/* l, r */
	N_NE,
	N_IN,
	N_MATCH,
};

struct node {
	enum kind kind;
	bool b;
	double num;
	char *str;		/* N_STR */
	char **segs;		/* N_PATH */
	size_t nsegs;
	struct node *l, *r;
	struct node *items;	/* N_LIST, N_AND, N_OR */
	struct node *next;	/* sibling in a list or chain */
};

struct fg_expr {
	struct node *root;
	const struct node **paths;
	size_t npaths, apaths;
};

enum tok {
	T_EOF,
	T_LPAREN,
	T_RPAREN,
	T_LBRACK,
	T_RBRACK,
	T_COMMA,
	T_NOT,
	T_AND,
	T_OR,
	T_EQ,
	T_NE,
	T_STR,
	T_NUM,
	T_NAME,
};

struct parser {
	const char *src;
	size_t pos;		/* where the lexer reads next */
	enum tok tok;		/* the current token */
	size_t tstart, tlen;	/* its text */
	char *tstr;		/* T_STR: its decoded value (owned) */
	double tnum;		/* T_NUM */
	const char *const *roots;
	struct fg_expr *e;
	unsigned depth;
	size_t nodes;
	int rc;			/* first error, 0 while none */
	size_t errpos;
	struct fg_err *err;
};

static void fail(struct parser *p, int code, size_t pos, const char *fmt,
    ...) FG_PRINTF(4, 5);

/* Record the first error only: later ones are consequences of it. */
static void
fail(struct parser *p, int code, size_t pos, const char *fmt, ...)
{
	char msg[FG_ERR_MSG_MAX];
	va_list ap;

	if (p->rc != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->rc = code;
	p->errpos = pos;
	fg_err_set(p->err, code, "%s", msg);
}

static void
node_free(struct node *n)
{
	struct node *next;
	size_t i;

	while (n != NULL) {
		next = n->next;
		free(n->str);
		for (i = 0; i < n->nsegs; i++)
			free(n->segs[i]);
		free(n->segs);
		node_free(n->l);
		node_free(n->r);
		node_free(n->items);
		free(n);
		n = next;
	}
}

static struct node *
node_new(struct parser *p, enum kind kind)
{
	struct node *n;

	if (p->nodes >= FG_EXPR_MAX_NODES) {
		fail(p, FG_ELIMIT, p->tstart,
		    "expression has more than %d parts", FG_EXPR_MAX_NODES);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL) {
		fail(p, FG_ENOMEM, p->tstart, "out of memory");
		return NULL;
	}
	p->nodes++;
	n->kind = kind;
	return n;
}

static bool
is_name_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool
is_seg_char(int c)
{
	return is_name_start(c) || (c >= '0' && c <= '9') || c == '-';
}

static bool
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* Describe the current token for "unexpected ..." messages. */
static void
tok_desc(const struct parser *p, char *buf, size_t size)
{
	size_t n = p->tlen > 24 ? 24 : p->tlen;
	unsigned char c = (unsigned char)p->src[p->tstart];

	if (p->tok == T_EOF)
		snprintf(buf, size, "end of expression");
	else if (p->tlen == 1 && (c < 0x20 || c >= 0x7f))
		snprintf(buf, size, "byte 0x%02x", c);
	else
		snprintf(buf, size, "'%.*s%s'", (int)n, p->src + p->tstart,
		    n < p->tlen ? "..." : "");
}

static void
unexpected(struct parser *p, const char *want)
{
	char d[64];

	tok_desc(p, d, sizeof(d));
	if (want != NULL)
		fail(p, FG_EINVALID, p->tstart, "expected %s, found %s", want,
		    d);
	else
		fail(p, FG_EINVALID, p->tstart, "unexpected %s", d);
}

/* Read a quoted string starting at p->pos (the quote) into a new string. */
static char *
lex_string(struct parser *p)
{
	struct fg_buf b = FG_BUF_INIT;
	char q = p->src[p->pos];
	size_t i = p->pos + 1;
	char c;

	for (;;) {
		c = p->src[i];
		if (c == '\0') {
			fail(p, FG_EINVALID, p->pos, "string is not closed: "
			    "add %c at the end", q);
			goto fail;
		}
		if (c == q)
			break;
		if (c == '\\') {
			c = p->src[i + 1];
			if (c != '\\' && c != '\'' && c != '"') {
				fail(p, FG_EINVALID, i, "unknown escape: only "
				    "\\\\, \\' and \\\" are allowed");
				goto fail;
			}
			i++;
		}
		if (fg_buf_putc(&b, c) < 0) {
			fail(p, FG_ENOMEM, i, "out of memory");
			goto fail;
		}
		i++;
	}
	if (fg_buf_puts(&b, "") < 0) {
		fail(p, FG_ENOMEM, i, "out of memory");
		goto fail;
	}
	p->pos = i + 1;
	return fg_buf_detach(&b, NULL);
fail:
	fg_buf_release(&b);
	return NULL;
}

/* Read the next token into p->tok and friends. */
static void
lex(struct parser *p)
{
	const char *s = p->src;
	size_t i;
	char c;

	free(p->tstr);
	p->tstr = NULL;
	while (s[p->pos] == ' ' || s[p->pos] == '\t' || s[p->pos] == '\n' ||
	    s[p->pos] == '\r')
		p->pos++;
	p->tstart = p->pos;
	p->tlen = 1;
	c = s[p->pos];
	switch (c) {
	case '\0':
		p->tok = T_EOF;
		p->tlen = 0;
		return;
	case '(': p->tok = T_LPAREN; p->pos++; return;
	case ')': p->tok = T_RPAREN; p->pos++; return;
	case '[': p->tok = T_LBRACK; p->pos++; return;
	case ']': p->tok = T_RBRACK; p->pos++; return;
	case ',': p->tok = T_COMMA; p->pos++; return;
	case '\'':
	case '"':
		p->tok = T_STR;
		p->tstr = lex_string(p);
		if (p->tstr == NULL)
			p->tok = T_EOF;
		p->tlen = p->pos - p->tstart;
		return;
	case '!':
		if (s[p->pos + 1] == '=') {
			p->tok = T_NE;
			p->tlen = 2;
			p->pos += 2;
		} else {
			p->tok = T_NOT;
			p->pos++;
		}
		return;
	case '=':
		if (s[p->pos + 1] != '=') {
			fail(p, FG_EINVALID, p->pos,
			    "unexpected '=': compare with '=='");
			p->tok = T_EOF;
			return;
		}
		p->tok = T_EQ;
		p->tlen = 2;
		p->pos += 2;
		return;
	case '&':
	case '|':
		if (s[p->pos + 1] != c) {
			fail(p, FG_EINVALID, p->pos, "unexpected '%c': use "
			    "'%c%c'", c, c, c);
			p->tok = T_EOF;
			return;
		}
		p->tok = c == '&' ? T_AND : T_OR;
		p->tlen = 2;
		p->pos += 2;
		return;
	default:
		break;
	}
	if (is_digit(c) || (c == '-' && is_digit(s[p->pos + 1]))) {
		char num[40];

		i = p->pos + (c == '-');
		while (is_digit(s[i]))
			i++;
		if (s[i] == '.' && is_digit(s[i + 1])) {
			i++;
			while (is_digit(s[i]))
				i++;
		}
		p->tlen = i - p->pos;
		if (p->tlen >= sizeof(num)) {
			fail(p, FG_EINVALID, p->pos, "number is longer than "
			    "%zu characters", sizeof(num) - 1);
			p->tok = T_EOF;
			return;
		}
		memcpy(num, s + p->pos, p->tlen);
		num[p->tlen] = '\0';
		p->tnum = strtod(num, NULL);
		p->tok = T_NUM;
		p->pos = i;
		return;
	}
	if (is_name_start(c)) {
		i = p->pos;
		while (is_seg_char(s[i]))
			i++;
		p->tok = T_NAME;
		p->tlen = i - p->pos;
		p->pos = i;
		return;
	}
	p->tok = T_EOF;
	if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
		fail(p, FG_EINVALID, p->pos, "unexpected byte 0x%02x outside "
		    "a string", (unsigned char)c);
	else
		fail(p, FG_EINVALID, p->pos, "unexpected '%c'", c);
}

static bool
tok_is(const struct parser *p, const char *word)
{
	return p->tok == T_NAME && strlen(word) == p->tlen &&
	    memcmp(p->src + p->tstart, word, p->tlen) == 0;
}

static bool
is_keyword(const struct parser *p)
{
	return tok_is(p, "true") || tok_is(p, "false") || tok_is(p, "null") ||
	    tok_is(p, "in") || tok_is(p, "matches");
}

static int
add_seg(struct parser *p, struct node *n, const char *s, size_t len,
    size_t pos)
{
	char **v;

	if (n->nsegs >= FG_EXPR_MAX_SEGS) {
		fail(p, FG_ELIMIT, pos, "path has more than %d parts",
		    FG_EXPR_MAX_SEGS);
		return -1;
	}
	v = realloc(n->segs, (n->nsegs + 1) * sizeof(*v));
	if (v == NULL) {
		fail(p, FG_ENOMEM, pos, "out of memory");
		return -1;
	}
	n->segs = v;
	v[n->nsegs] = strndup(s, len);
	if (v[n->nsegs] == NULL) {
		fail(p, FG_ENOMEM, pos, "out of memory");
		return -1;
	}
	n->nsegs++;
	return 0;
}

static bool
root_allowed(const struct parser *p)
{
	const char *const *r;

	if (p->roots == NULL)
		return true;
	for (r = p->roots; *r != NULL; r++)
		if (strlen(*r) == p->tlen &&
		    memcmp(*r, p->src + p->tstart, p->tlen) == 0)
			return true;
	return false;
}

static void
unknown_root(struct parser *p)
{
	struct fg_buf b = FG_BUF_INIT;
	const char *const *r;
	char d[64];

	for (r = p->roots; *r != NULL; r++)
		fg_buf_printf(&b, "%s%s", r == p->roots ? "" :
		    r[1] == NULL ? " or " : ", ", *r);
	tok_desc(p, d, sizeof(d));
	fail(p, FG_EINVALID, p->tstart, "unknown name %s: a path starts "
	    "with %s", d, b.ptr != NULL ? b.ptr : "nothing");
	fg_buf_release(&b);
}

/*
 * The current token is a name: read the rest of the path straight from the
 * text (segments follow '.' without spaces, so "steps.1st" is a path and
 * not a name and a number), then move to the next token.
 */
static struct node *
parse_path(struct parser *p)
{
	struct node *n;
	const struct node **v;
	size_t i;

	if (!root_allowed(p)) {
		unknown_root(p);
		return NULL;
	}
	n = node_new(p, N_PATH);
	if (n == NULL)
		return NULL;
	if (add_seg(p, n, p->src + p->tstart, p->tlen, p->tstart) < 0)
		goto fail;
	for (;;) {
		i = p->pos;
		if (p->src[i] == '.') {
			i++;
			while (is_seg_char(p->src[i]))
				i++;
			if (i == p->pos + 1) {
				fail(p, FG_EINVALID, i, "expected a name after "
				    "'.'");
				goto fail;
			}
			if (add_seg(p, n, p->src + p->pos + 1,
			    i - p->pos - 1, p->pos + 1) < 0)
				goto fail;
			p->pos = i;
		} else if (p->src[i] == '[') {
			size_t at = i;

			p->pos = i + 1;
			lex(p);
			if (p->tok != T_STR) {
				unexpected(p, "a quoted name after '['");
				goto fail;
			}
			if (add_seg(p, n, p->tstr, strlen(p->tstr), at) < 0)
				goto fail;
			lex(p);
			if (p->tok != T_RBRACK) {
				unexpected(p, "']'");
				goto fail;
			}
			/* p->pos is already past the ']'. */
		} else {
			break;
		}
	}
	if (p->e->npaths == p->e->apaths) {
		size_t na = p->e->apaths ? 2 * p->e->apaths : 8;

		v = realloc(p->e->paths, na * sizeof(*v));
		if (v == NULL) {
			fail(p, FG_ENOMEM, p->tstart, "out of memory");
			goto fail;
		}
		p->e->paths = v;
		p->e->apaths = na;
	}
	p->e->paths[p->e->npaths++] = n;
	lex(p);
	return n;
fail:
	node_free(n);
	return NULL;
}

static bool
enter(struct parser *p)
{
	if (p->depth >= FG_EXPR_MAX_DEPTH) {
		fail(p, FG_ELIMIT, p->tstart, "nesting is deeper than %d "
		    "levels", FG_EXPR_MAX_DEPTH);
		return false;
	}
	p->depth++;
	return true;
}

/* A literal: the current token is a string, a number or a keyword. */
static struct node *
parse_literal(struct parser *p)
{
	struct node *n = NULL;

	if (p->tok == T_STR) {
		n = node_new(p, N_STR);
		if (n != NULL) {
			n->str = p->tstr;
			p->tstr = NULL;
		}
	} else if (p->tok == T_NUM) {
		n = node_new(p, N_NUM);
		if (n != NULL)
			n->num = p->tnum;
	} else if (tok_is(p, "true") || tok_is(p, "false")) {
		n = node_new(p, N_BOOL);
		if (n != NULL)
			n->b = tok_is(p, "true");
	} else if (tok_is(p, "null")) {
		n = node_new(p, N_NULL);
	} else {
		unexpected(p, "a string, number, true, false or null");
		return NULL;
	}
	if (n != NULL)
		lex(p);
	return n;
}

static struct node *parse_or(struct parser *p);

static struct node *
parse_list(struct parser *p)
{
	struct node *n, **tail, *it;

	if (!enter(p))
		return NULL;
	n = node_new(p, N_LIST);
	if (n == NULL)
		return NULL;
	tail = &n->items;
	lex(p);
	if (p->tok == T_RBRACK) {
		lex(p);
		p->depth--;
		return n;
	}
	for (;;) {
		it = parse_literal(p);
		if (it == NULL)
			goto fail;
		*tail = it;
		tail = &it->next;
		if (p->tok == T_RBRACK)
			break;
		if (p->tok != T_COMMA) {
			unexpected(p, "',' or ']'");
			goto fail;
		}
		lex(p);
	}
	lex(p);
	p->depth--;
	return n;
fail:
	node_free(n);
	return NULL;
}

static struct node *
parse_operand(struct parser *p)
{
	struct node *n;

	if (p->rc != 0)
		return NULL;
	switch (p->tok) {
	case T_LPAREN:
		if (!enter(p))
			return NULL;
		lex(p);
		n = parse_or(p);
		if (n == NULL)
			return NULL;
		if (p->tok != T_RPAREN) {
			unexpected(p, "')'");
			node_free(n);
			return NULL;
		}
		lex(p);
		p->depth--;
		return n;
	case T_LBRACK:
		return parse_list(p);
	case T_STR:
	case T_NUM:
		return parse_literal(p);
	case T_NAME:
		if (tok_is(p, "true") || tok_is(p, "false") ||
		    tok_is(p, "null"))
			return parse_literal(p);
		if (is_keyword(p))
			break;
		return parse_path(p);
	default:
		break;
	}
	unexpected(p, "a value, a path, '(' or '!'");
	return NULL;
}

static bool
is_compare(const struct parser *p, enum kind *kind)
{
	if (p->tok == T_EQ)
		*kind = N_EQ;
	else if (p->tok == T_NE)
		*kind = N_NE;
	else if (tok_is(p, "in"))
		*kind = N_IN;
	else if (tok_is(p, "matches"))
		*kind = N_MATCH;
	else
		return false;
	return true;
}

static struct node *
parse_compare(struct parser *p)
{
	struct node *l, *r, *n;
	enum kind kind;
	size_t at;

	l = parse_operand(p);
	if (l == NULL)
		return NULL;
	if (!is_compare(p, &kind))
		return l;
	at = p->tstart;
	lex(p);
	r = parse_operand(p);
	if (r == NULL) {
		node_free(l);
		return NULL;
	}
	/* A literal that cannot be a right side is caught now, not at run. */
	if (kind == N_IN && (r->kind == N_STR || r->kind == N_NUM ||
	    r->kind == N_BOOL || r->kind == N_NULL))
		fail(p, FG_EINVALID, at, "'in' needs a list on its right, "
		    "such as ['a', 'b']");
	if (kind == N_MATCH && r->kind != N_STR && r->kind != N_PATH)
		fail(p, FG_EINVALID, at, "'matches' needs a quoted glob on "
		    "its right, such as 'release/*'");
	if (p->rc == 0 && is_compare(p, &kind))
		fail(p, FG_EINVALID, p->tstart, "comparisons cannot be "
		    "chained: add parentheses");
	n = p->rc == 0 ? node_new(p, kind) : NULL;
	if (n == NULL) {
		node_free(l);
		node_free(r);
		return NULL;
	}
	n->l = l;
	n->r = r;
	return n;
}

static struct node *
parse_unary(struct parser *p)
{
	struct node *n, *inner;

	if (p->tok != T_NOT)
		return parse_compare(p);
	if (!enter(p))
		return NULL;
	n = node_new(p, N_NOT);
	if (n == NULL)
		return NULL;
	lex(p);
	inner = parse_unary(p);
	if (inner == NULL) {
		node_free(n);
		return NULL;
	}
	p->depth--;
	/* As Python's "not": "!a == b" is "!(a == b)". */
	n->l = inner;
	return n;
}

/* One chain of "&&" (kind N_AND) or "||" (N_OR) as an n-ary node. */
static struct node *
parse_chain(struct parser *p, enum kind kind)
{
	enum tok op = kind == N_AND ? T_AND : T_OR;
	struct node *first, *n, **tail, *it;

	first = kind == N_AND ? parse_unary(p) : parse_chain(p, N_AND);
	if (first == NULL || p->tok != op)
		return first;
	n = node_new(p, kind);
	if (n == NULL) {
		node_free(first);
		return NULL;
	}
	n->items = first;
	tail = &first->next;
	while (p->tok == op) {
		lex(p);
		it = kind == N_AND ? parse_unary(p) : parse_chain(p, N_AND);
		if (it == NULL) {
			node_free(n);
			return NULL;
		}
		*tail = it;
		tail = &it->next;
	}
	return n;
}

static struct node *
parse_or(struct parser *p)
{
	return parse_chain(p, N_OR);
}

int
fg_expr_parse(struct fg_expr **out, const char *src,
    const char *const *roots, unsigned *col, struct fg_err *err)
{
	struct parser p;
	struct fg_expr *e = NULL;
	size_t len = strlen(src);

	*out = NULL;
	if (col != NULL)
		*col = 0;
	memset(&p, 0, sizeof(p));
	p.src = src;
	p.roots = roots;
	p.err = err;
	if (len > FG_EXPR_MAX_LEN) {
		fail(&p, FG_ELIMIT, FG_EXPR_MAX_LEN, "expression is longer "
		    "than %d bytes", FG_EXPR_MAX_LEN);
		goto out;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		fail(&p, FG_ENOMEM, 0, "out of memory");
		goto out;
	}
	p.e = e;
	lex(&p);
	if (p.rc == 0 && p.tok == T_EOF) {
		fail(&p, FG_EINVALID, p.tstart, "the expression is empty");
		goto out;
	}
	e->root = parse_or(&p);
	if (p.rc == 0 && p.tok != T_EOF)
		unexpected(&p, NULL);
out:
	free(p.tstr);
	if (p.rc != 0) {
		if (col != NULL)
			*col = (unsigned)p.errpos + 1;
		fg_expr_free(e);
		return p.rc;
	}
	*out = e;
	return 0;
}

void
fg_expr_free(struct fg_expr *e)
{
	if (e == NULL)
		return;
	node_free(e->root);
	free(e->paths);
	free(e);
}

size_t
fg_expr_npaths(const struct fg_expr *e)
{
	return e->npaths;
}

const char *const *
fg_expr_path(const struct fg_expr *e, size_t i, size_t *nsegs)
{
	*nsegs = e->paths[i]->nsegs;
	return (const char *const *)e->paths[i]->segs;
}

/* A value during evaluation; strings and lists are borrowed. */
enum vtype { V_NULL, V_BOOL, V_NUM, V_STR, V_LIST, V_OBJ };

struct val {
	enum vtype t;
	bool b;
	double n;
	const char *s;
	const cJSON *json;		/* V_LIST from a path, V_OBJ */
	const struct node *items;	/* V_LIST from a literal */
};

struct env {
	fg_expr_lookup_fn lookup;
	void *payload;
};

static struct val
from_json(const cJSON *j)
{
	struct val v;

	memset(&v, 0, sizeof(v));
	if (cJSON_IsBool(j)) {
		v.t = V_BOOL;
		v.b = cJSON_IsTrue(j);
	} else if (cJSON_IsNumber(j)) {
		v.t = V_NUM;
		v.n = j->valuedouble;
	} else if (cJSON_IsString(j) && j->valuestring != NULL) {
		v.t = V_STR;
		v.s = j->valuestring;
	} else if (cJSON_IsArray(j)) {
		v.t = V_LIST;
		v.json = j;
	} else if (cJSON_IsObject(j)) {
		v.t = V_OBJ;
		v.json = j;
	}
	return v;
}

static bool truthy_node(const struct node *n, const struct env *env);

static struct val
value(const struct node *n, const struct env *env)
{
	struct val v;

	memset(&v, 0, sizeof(v));
	switch (n->kind) {
	case N_NULL:
		break;
	case N_BOOL:
		v.t = V_BOOL;
		v.b = n->b;
		break;
	case N_NUM:
		v.t = V_NUM;
		v.n = n->num;
		break;
	case N_STR:
		v.t = V_STR;
		v.s = n->str;
		break;
	case N_LIST:
		v.t = V_LIST;
		v.items = n->items;
		break;
	case N_PATH:
		if (env->lookup != NULL)
			v = from_json(env->lookup(
			    (const char *const *)n->segs, n->nsegs,
			    env->payload));
		break;
	default:
		v.t = V_BOOL;
		v.b = truthy_node(n, env);
		break;
	}
	return v;
}

static bool
truthy(const struct val *v)
{
	switch (v->t) {
	case V_NULL:
		return false;
	case V_BOOL:
		return v->b;
	case V_NUM:
		return v->n != 0 && !isnan(v->n);
	case V_STR:
		return v->s[0] != '\0';
	case V_LIST:
		if (v->items != NULL)
			return true;
		return v->json != NULL && v->json->child != NULL;
	case V_OBJ:
		return v->json->child != NULL;
	}
	return false;
}

static bool
equal(const struct val *a, const struct val *b)
{
	if (a->t != b->t)
		return false;
	switch (a->t) {
	case V_NULL:
		return true;
	case V_BOOL:
		return a->b == b->b;
	case V_NUM:
		return a->n == b->n;
	case V_STR:
		return strcmp(a->s, b->s) == 0;
	default:
		return false;	/* lists and objects are never equal */
	}
}

static bool
member(const struct val *a, const struct val *list, const struct env *env)
{
	const struct node *it;
	const cJSON *j;
	struct val v;

	if (list->t != V_LIST)
		return false;
	for (it = list->items; it != NULL; it = it->next) {
		v = value(it, env);
		if (equal(a, &v))
			return true;
	}
	if (list->json != NULL) {
		cJSON_ArrayForEach(j, list->json) {
			v = from_json(j);
			if (equal(a, &v))
				return true;
		}
	}
	return false;
}

static bool
truthy_node(const struct node *n, const struct env *env)
{
	const struct node *it;
	struct val a, b;

	switch (n->kind) {
	case N_NOT:
		return !truthy_node(n->l, env);
	case N_AND:
		for (it = n->items; it != NULL; it = it->next)
			if (!truthy_node(it, env))
				return false;
		return true;
	case N_OR:
		for (it = n->items; it != NULL; it = it->next)
			if (truthy_node(it, env))
				return true;
		return false;
	case N_EQ:
	case N_NE:
	case N_IN:
	case N_MATCH:
		a = value(n->l, env);
		b = value(n->r, env);
		if (n->kind == N_EQ)
			return equal(&a, &b);
		if (n->kind == N_NE)
			return !equal(&a, &b);
		if (n->kind == N_IN)
			return member(&a, &b, env);
		return a.t == V_STR && b.t == V_STR &&
		    fg_glob_match(b.s, a.s);
	default:
		a = value(n, env);
		return truthy(&a);
	}
}

bool
fg_expr_eval(const struct fg_expr *e, fg_expr_lookup_fn lookup,
    void *payload)
{
	struct env env = { lookup, payload };

	return truthy_node(e->root, &env);
}

const cJSON *
fg_expr_lookup_json(const char *const *segs, size_t nsegs, void *payload)
{
	const cJSON *j = payload;
	long long idx;
	size_t i;

	for (i = 0; i < nsegs && j != NULL; i++) {
		if (cJSON_IsObject(j))
			j = cJSON_GetObjectItemCaseSensitive(j, segs[i]);
		else if (cJSON_IsArray(j) &&
		    fg_parse_int(&idx, segs[i], 0, INT32_MAX, NULL) == 0)
			j = cJSON_GetArrayItem(j, (int)idx);
		else
			j = NULL;
	}
	return j;
}
