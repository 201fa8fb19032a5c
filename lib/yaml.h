/*
 * yaml.h - YAML (or JSON) text to a cJSON tree that remembers positions.
 *
 * Config files are YAML; the rest of flowgate works on JSON trees.  Parsing
 * with libyaml gives a cJSON tree plus, for every node, the line and column
 * where its value starts and, for object members, where the key starts, so
 * that a schema error can say "pipeline.yaml:12:5: stages.production: ...".
 *
 * Scalars follow the YAML 1.2 core schema: plain true/false -> bool, plain
 * null, ~ or empty -> null, plain integers and floats -> number, anything
 * else (and every quoted scalar) -> string.
 *
 * Refused, each with a diagnostic "file:line:col: what is wrong": text over
 * FG_YAML_MAX_BYTES, a NUL byte, text that is not UTF-8, syntax errors
 * (libyaml's message, e.g. tabs used for indentation), anchors and aliases
 * (refused outright: no alias expansion bombs), duplicate keys, keys that are
 * not scalars, more than one document, nesting deeper than FG_YAML_MAX_DEPTH,
 * more than FG_YAML_MAX_NODES nodes.  An empty file gives a null root.
 *
 * Ownership: *out is the caller's, freed with fg_jdoc_free().  The cJSON
 * tree and the positions belong to the jdoc; fg_jdoc_root() borrows.
 * Thread-safety: a jdoc is immutable after parsing; share it freely.
 */
#ifndef FG_YAML_H
#define FG_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"

#define FG_YAML_MAX_BYTES (1024 * 1024)
#define FG_YAML_MAX_DEPTH 64
#define FG_YAML_MAX_NODES 100000

/*
 * At most this many diagnostics per file: after that parsing stops with a
 * final "file: too many errors, stopped after 100" line, so a hostile file
 * (thousands of aliases, say) cannot make us print without end.
 */
#define FG_YAML_MAX_ERRORS 100

struct fg_jdoc;

/*
 * Parse len bytes of YAML.  file names the text in diagnostics.  Returns 0,
 * or FG_EINVALID / FG_ELIMIT with one or more lines added to d (never zero
 * lines on failure), or FG_ENOMEM.
 */
int fg_yaml_parse(struct fg_jdoc **out, const char *data, size_t len,
    const char *file, struct fg_diags *d);

/* The root node (borrowed; lives as long as doc). */
const cJSON *fg_jdoc_root(const struct fg_jdoc *doc);

/* The file name given to fg_yaml_parse (borrowed). */
const char *fg_jdoc_file(const struct fg_jdoc *doc);

/*
 * Where node's value starts, 1-based.  false (and 0, 0) when node is not
 * part of doc.  doc may be NULL (then always false).
 */
bool fg_jdoc_pos(const struct fg_jdoc *doc, const cJSON *node,
    unsigned *line, unsigned *col);

/*
 * Where the key of object member node starts, 1-based; for array elements
 * and the root, the value's position.
 */
bool fg_jdoc_key_pos(const struct fg_jdoc *doc, const cJSON *node,
    unsigned *line, unsigned *col);

void fg_jdoc_free(struct fg_jdoc *doc);

#endif
