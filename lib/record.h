/*
 * record.h - how a struct fg_record (store.h) becomes a commit message,
 * signatures and record.json.  Used by the store; tests use it directly.
 *
 * Everything here is pure: no repository, no I/O, thread-safe.  The rules
 * for outside text are in store.h (RECORDS); this is where they live.
 */
#ifndef FG_RECORD_H
#define FG_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "store.h"

#define FG_RECORD_KIND_MAX	64
#define FG_RECORD_COMMITTER	"flowgate"
#define FG_RECORD_COMMITTER_EMAIL "flowgate@localhost"

/* The fields that become trailers, in trailer order. */
enum fg_record_field {
	FG_FIELD_KIND,
	FG_FIELD_STAGE,
	FG_FIELD_ENV,
	FG_FIELD_COMMIT,
	FG_FIELD_STATUS,
	FG_FIELD_RUN,
	FG_FIELD_DELIVERY,
	FG_FIELD_EVENT,
	FG_FIELD_COUNT
};

/* "kind", "stage", ...: the record.json name of field f. */
const char *fg_record_field_name(enum fg_record_field f);

/* "Flowgate-Kind", ...: the trailer key of field f. */
const char *fg_record_field_trailer(enum fg_record_field f);

/* The value of field f in rec (may be NULL). */
const char *fg_record_field_value(const struct fg_record *rec,
    enum fg_record_field f);

/* The value of field f in q (may be NULL). */
const char *fg_record_query_value(const struct fg_store_query *q,
    enum fg_record_field f);

/* True when kind is [a-z][a-z0-9._-]* and at most FG_RECORD_KIND_MAX bytes. */
bool fg_record_kind_is_valid(const char *kind);

/*
 * Check rec before anything is written: kind and subject present, values
 * within limits, trailer keys and file names well formed, data an object.
 */
int fg_record_check(const struct fg_record *rec, struct fg_err *err);

/* The commit message of rec (fg_record_check()ed). */
int fg_record_message(struct fg_buf *out, const struct fg_record *rec,
    struct fg_err *err);

/*
 * The record.json of rec at time t (seconds since the epoch), pretty
 * printed, ending in a newline.
 */
int fg_record_json(struct fg_buf *out, const struct fg_record *rec, int64_t t,
    struct fg_err *err);

/*
 * The author of rec as git wants it: name and email without '<', '>' or
 * control characters, never empty.  Both are malloc()ed.
 */
int fg_record_author(char **name, char **email, const struct fg_record *rec,
    struct fg_err *err);

/*
 * Append s to out as a single line: control characters become \n, \r, \t
 * or \xNN, so do bytes that are not UTF-8 and C1 controls; when longer
 * than max bytes it is cut at a character boundary and ends in "...".
 */
int fg_record_escape_line(struct fg_buf *out, const char *s, size_t max);

/* Append s to out, bytes that are not UTF-8 replaced by U+FFFD, cut at max. */
int fg_record_utf8(struct fg_buf *out, const char *s, size_t max);

#endif
