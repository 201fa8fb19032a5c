/*
 * delta.h - git's binary delta format, written: a blob as copies from a
 * similar one plus the bytes that differ.
 *
 * Why this exists.  A forge's deliveries for one repository are often
 * alike: two pull request payloads share the repository, the sender and
 * most of the pull request.  The corpus's GitHub "opened" and
 * "synchronize" payloads (28 KB) make a 64-byte delta, where deflate
 * makes 3.7 KB of each, at about 30 us of the inbox writer's time for
 * 9 KB; and every byte of a pack is copied again by each roll-up.  Others
 * are not alike ("synchronize" then "closed": a 10 KB delta), and are
 * stored whole.
 *
 * The format is git's (pack-format.txt, "Deltified representation"): the
 * base's and the result's sizes as little-endian base-128 numbers, then
 * instructions: a copy (0x80 | which offset and size bytes follow) of a
 * range of the base, or an insert (1 to 127) of that many literal bytes.
 * Any git or libgit2 reads it.
 *
 * The index finds a base's 16-byte blocks (at multiples of 16) by hash;
 * the encoder looks each position of the target up, extends a match both
 * ways, and gives up once the delta would be longer than a limit, so that
 * unlike data costs little: what does not delta well is stored whole.
 *
 * Ownership: struct fg_delta_index is the caller's (fg_delta_index_free);
 * it borrows nothing, keeping its own copy of the base.
 */
#ifndef FG_DELTA_H
#define FG_DELTA_H

#include <stddef.h>

#include "buf.h"

#define FG_DELTA_BLOCK	16	/* the shortest copy looked for */

struct fg_delta_index;

/* Index a copy of base (len bytes); NULL when out of memory. */
struct fg_delta_index *fg_delta_index_new(const void *base, size_t len);

/* The indexed base and its length. */
const unsigned char *fg_delta_index_base(const struct fg_delta_index *x,
    size_t *len);

void fg_delta_index_free(struct fg_delta_index *x);

/*
 * Replace out's contents with a delta that makes target (len bytes) from
 * x's base.  0 when it fits in max bytes; FG_ELIMIT (out then undefined)
 * when it would not; FG_ENOMEM.
 */
int fg_delta_make(struct fg_buf *out, const struct fg_delta_index *x,
    const void *target, size_t len, size_t max);

#endif
