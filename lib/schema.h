/*
 * schema.h - a validator for the JSON Schema subset that schemas/ uses.
 *
 * The files in schemas/ are the one statement of what a valid config,
 * record or API body is; they are compiled into the library (embed.h), and
 * C code converts validated trees without re-checking them by hand.
 *
 * Supported keywords (JSON Schema 2020-12): type (string or array of
 * "object", "array", "string", "number", "integer", "boolean", "null"),
 * properties, required, additionalProperties (bool or schema),
 * patternProperties, propertyNames, items (schema), prefixItems, minItems,
 * maxItems, uniqueItems, enum, const, minimum, maximum, exclusiveMinimum,
 * exclusiveMaximum, minLength, maxLength (in characters), pattern (POSIX
 * extended regex, implicitly unanchored as in JSON Schema), oneOf, anyOf,
 * allOf, not, if/then/else, $ref ("#/$defs/name" only), $defs.
 * Annotations are ignored: $schema, $id, $comment, title, description,
 * default, examples, format, deprecated.  An unsupported keyword in a schema
 * is an error at load time, so a schema cannot silently mean less than it
 * says.
 *
 * Diagnostics are "file:line:col: path: message", path in dotted form with
 * [i] for array elements ("stages.production.gates[1].approvals"), "" for
 * the root.  Messages say what is wrong in the user's terms:
 *   unknown field 'foo'             (points at the key)
 *   missing required field 'branch'
 *   expected a string, found a number
 *   must be one of: release, progressive, continuous
 *   must be at least 1 / at most 10 / at most 1 item(s) / ...
 *   does not match the pattern '^[a-z]+$'
 * For oneOf/anyOf the message names the branch that came closest (fewest
 * errors) rather than dumping every branch's errors.  Only branches whose
 * declared type fits are candidates (the first wins a tie); when every
 * branch declares a type and none fits, the message lists them:
 *   expected one of: string, object (found a number)
 * A oneOf that several branches match gives "matches more than one
 * alternative".  A schema may give a
 * friendlier message for a node with the extension keyword
 * "x-message": "text" (used instead of the generic one when that node fails
 * type, pattern, enum, const, or its own oneOf/anyOf).
 *
 * Ownership: schemas are plain cJSON trees, borrowed for the call.
 * Thread-safety: nothing is cached (patterns are compiled per use), so any
 * number of threads may validate against one schema at once.
 */
#ifndef FG_SCHEMA_H
#define FG_SCHEMA_H

#include <cjson/cJSON.h>

#include "err.h"
#include "yaml.h"

/*
 * A oneOf inside a recursive schema can make validation exponential in the
 * depth of the input; validation gives up after this many schema checks
 * with one diagnostic saying so.
 */
#define FG_SCHEMA_MAX_STEPS 1000000

/*
 * Parse the embedded schema called name ("pipeline.schema.json") and check
 * that it uses only supported keywords.  *out is the caller's (cJSON_Delete).
 * FG_ENOTFOUND when there is no such embedded file; FG_EINVALID when it is
 * not JSON or fg_schema_check refuses it.
 */
int fg_schema_load(cJSON **out, const char *name, struct fg_err *err);

/*
 * Check a schema tree as fg_schema_load does: every keyword, at any depth,
 * is supported or an annotation, subschemas are objects or booleans, and
 * keyword values have the right shape (type names known, patterns compile,
 * each $ref names an existing $defs entry).  name is used in the message,
 * e.g. "pipeline.schema.json: unsupported keyword 'contains' at
 * '/properties/gates/contains'" (a JSON pointer to the keyword).
 */
int fg_schema_check(const cJSON *schema, const char *name,
    struct fg_err *err);

/*
 * Validate instance against schema, adding one diagnostic per error to d.
 * doc, when not NULL, is the jdoc instance belongs to, for positions; file
 * names the input in diagnostics when doc is NULL.  Returns 0 when valid,
 * FG_EINVALID when any diagnostic was added, FG_ENOMEM.
 */
int fg_schema_validate(const cJSON *schema, const cJSON *instance,
    const struct fg_jdoc *doc, const char *file, struct fg_diags *d);

#endif
