/*
 * expr.h - the expression language of a flow step's "if:".
 *
 * An expression is parsed once, when the config is checked, into a small
 * tree; a syntax error names the 1-based column where it was found, so
 * 'flowgate config check' can point at it.  The tree is then evaluated as
 * often as needed against values looked up through a callback: the flow
 * engine answers "event.pull_request.base" from the event, "steps.build.
 * status" from the run, "inputs.env" from a manual run's inputs.
 *
 * The language (docs/flows.md has the reference):
 *
 *   expr    = or
 *   or      = and { "||" and }
 *   and     = unary { "&&" unary }
 *   unary   = "!" unary | compare
 *   compare = operand [ ("==" | "!=" | "in" | "matches") operand ]
 *   operand = "(" expr ")" | list | string | number | "true" | "false"
 *           | "null" | path
 *   list    = "[" [ literal { "," literal } ] "]"
 *   path    = name { "." segment | "[" string "]" }
 *
 * Strings are quoted with ' or " (backslash escapes only \\, \' and \");
 * numbers are decimal ("-2", "1.5"); a name starts with a letter or '_', a
 * later segment may also start with a digit and contain '-' (step ids do).
 * A comparison cannot be chained ("a == b == c" is a syntax error), and
 * "!" applies to a whole comparison, as Python's "not" does: "!a == b" is
 * "!(a == b)".
 *
 * Values are JSON values: null, boolean, number, string, array (a "list")
 * or object.  A path that does not resolve is null.  Evaluation never
 * fails and never errs:
 *   - "==" is true when both sides have the same type and are equal
 *     (numbers numerically, strings byte for byte, lists and objects are
 *     never equal to anything); null == null is true; there is no
 *     conversion, so 1 == '1' is false.  "!=" is exactly !(a == b).
 *   - "a in L" is true when L is a list holding an element == a; when L is
 *     not a list (e.g. a missing path) it is false.
 *   - "s matches 'glob'" is true when both are strings and the glob
 *     (fnmatch(3) without flags: '*' also matches '/') matches all of s.
 *   - "!", "&&" and "||" work on truthiness and give booleans: null, false,
 *     0, "" and empty lists and objects are false, everything else true;
 *     "&&" and "||" do not evaluate their right side when not needed.
 *
 * Limits (each a syntax error when broken): FG_EXPR_MAX_LEN bytes of text,
 * FG_EXPR_MAX_DEPTH levels of parentheses, "!" and lists, FG_EXPR_MAX_NODES
 * nodes, FG_EXPR_MAX_SEGS segments in a path.  Evaluation walks the tree
 * recursively, so these bound its stack too.
 *
 * Ownership: fg_expr_parse() returns a tree the caller frees with
 * fg_expr_free().  Thread-safety: a parsed tree is immutable; evaluate it
 * from any number of threads at once, each with its own lookup.
 */
#ifndef FG_EXPR_H
#define FG_EXPR_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"

#define FG_EXPR_MAX_LEN 1000
#define FG_EXPR_MAX_DEPTH 32
#define FG_EXPR_MAX_NODES 256
#define FG_EXPR_MAX_SEGS 16

struct fg_expr;

/*
 * Look up the path segs[0].segs[1]... (nsegs >= 1) and return its value,
 * borrowed: it must stay valid until fg_expr_eval() returns.  NULL means
 * the path does not exist (it evaluates as null).
 */
typedef const cJSON *(*fg_expr_lookup_fn)(const char *const *segs,
    size_t nsegs, void *payload);

/*
 * Parse src (a NUL-terminated string).  roots, when not NULL, is a
 * NULL-terminated list of the names a path may start with ("event",
 * "steps", ...); another is a syntax error.  On failure returns FG_EINVALID
 * (or FG_ELIMIT for a broken limit, FG_ENOMEM), sets *col (when col is not
 * NULL) to the 1-based column of the problem and err to a message without
 * the column ("expected ')' after '(...'").
 */
int fg_expr_parse(struct fg_expr **out, const char *src,
    const char *const *roots, unsigned *col, struct fg_err *err);

void fg_expr_free(struct fg_expr *e);

/* Evaluate e and return its truthiness.  lookup may be NULL (all null). */
bool fg_expr_eval(const struct fg_expr *e, fg_expr_lookup_fn lookup,
    void *payload);

/*
 * The paths e reads, in the order they appear: for i < fg_expr_npaths(e),
 * fg_expr_path(e, i, &nsegs) returns the segments (borrowed from e) and
 * stores how many there are.  The flow check uses this to refuse an "if:"
 * that reads the status of a step it does not depend on.
 */
size_t fg_expr_npaths(const struct fg_expr *e);
const char *const *fg_expr_path(const struct fg_expr *e, size_t i,
    size_t *nsegs);

/*
 * A lookup over one JSON object: segs walk into objects by key and into
 * arrays by decimal index ("event.commits.0.id").  payload is the
 * const cJSON * root.
 */
const cJSON *fg_expr_lookup_json(const char *const *segs, size_t nsegs,
    void *payload);

#endif
