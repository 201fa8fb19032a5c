/*
 * fuzz_delta.c - libFuzzer target: the delta encoder (lib/delta.h) on any
 * base and target.
 *
 * The first byte picks how the rest becomes a pair: odd, the rest is the
 * base and the target is it with a few bytes changed, cut or repeated (the
 * case deltas are for: long copies, offsets anywhere); even, the rest is
 * cut in two at a point the byte gives.  Each delta made must apply, with
 * an applier written here from git's format and not from the encoder, to
 * exactly the target, and never be longer than the limit it was given;
 * with room for every byte as a literal it must always be made.
 *
 *   make fuzz && mkdir -p /tmp/fg-delta &&
 *   tests/fuzz/fuzz_delta-libfuzzer -max_total_time=600 /tmp/fg-delta \
 *       "$FLOWGATE_SHARED"/corpus/webhooks/github
 *
 * Built without libFuzzer (tests/fuzz/replay.c supplies main), the same
 * function is run by 'make check' over the seed files.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "delta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A size of the delta's header; false past end. */
static bool
get_size(const uint8_t **p, const uint8_t *end, size_t *out)
{
	unsigned shift = 0;
	uint8_t c;

	*out = 0;
	do {
		if (*p == end || shift > 56)
			return false;
		c = *(*p)++;
		*out |= (size_t)(c & 0x7f) << shift;
		shift += 7;
	} while (c & 0x80);
	return true;
}

/* Apply delta d to base into out (tlen bytes, the size d names). */
static bool
apply(const uint8_t *base, size_t blen, const uint8_t *d, size_t dlen,
    uint8_t **out, size_t *tlen)
{
	const uint8_t *end = d + dlen;
	size_t slen, pos = 0, off, sz;
	uint8_t op;
	int i;

	*out = NULL;
	if (!get_size(&d, end, &slen) || slen != blen ||
	    !get_size(&d, end, tlen) || *tlen > (64U << 20))
		return false;
	*out = malloc(*tlen > 0 ? *tlen : 1);
	if (*out == NULL)
		return false;
	while (d < end) {
		op = *d++;
		if (op & 0x80) {
			off = sz = 0;
			for (i = 0; i < 4; i++)
				if (op & (1 << i)) {
					if (d == end)
						return false;
					off |= (size_t)*d++ << (8 * i);
				}
			for (i = 0; i < 3; i++)
				if (op & (0x10 << i)) {
					if (d == end)
						return false;
					sz |= (size_t)*d++ << (8 * i);
				}
			if (sz == 0)
				sz = 0x10000;
			if (off > blen || sz > blen - off || sz > *tlen - pos)
				return false;
			memcpy(*out + pos, base + off, sz);
			pos += sz;
		} else if (op != 0) {
			if (op > end - d || (size_t)op > *tlen - pos)
				return false;
			memcpy(*out + pos, d, op);
			d += op;
			pos += op;
		} else {
			return false;
		}
	}
	return pos == *tlen;
}

/* Make a delta of target on x within max, and check it if made. */
static int
make_and_check(struct fg_buf *b, const struct fg_delta_index *x,
    const uint8_t *target, size_t len, size_t max)
{
	const unsigned char *base;
	size_t blen, tlen;
	uint8_t *out;
	int rc;

	rc = fg_delta_make(b, x, target, len, max);
	if (rc != 0)
		return rc;
	base = fg_delta_index_base(x, &blen);
	if (b->len > max ||
	    !apply(base, blen, (const uint8_t *)b->ptr, b->len, &out, &tlen) ||
	    tlen != len || (len > 0 && memcmp(out, target, len) != 0))
		abort();
	free(out);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fg_buf b = FG_BUF_INIT;
	struct fg_delta_index *x;
	const uint8_t *base, *target;
	uint8_t *edited = NULL;
	size_t blen, tlen, at, n, k;
	unsigned mode, seed;
	int rc;

	if (size < 1)
		return 0;
	mode = data[0];
	data++;
	size--;
	if (mode & 1) {
		base = data;
		blen = size;
		edited = malloc(2 * size + 1);
		if (edited == NULL)
			return 0;
		memcpy(edited, data, size);
		tlen = size;
		seed = mode * 2654435761U;
		for (k = 0; k < (mode >> 1) % 16 && tlen > 0; k++) {
			seed = seed * 1103515245U + 12345U;
			at = (seed >> 8) % tlen;
			n = 1 + (seed >> 20) % 64;
			if (n > tlen - at)
				n = tlen - at;
			switch ((seed >> 4) % 3) {
			case 0:		/* change a byte */
				edited[at] ^= 0x5a;
				break;
			case 1:		/* cut n bytes */
				memmove(edited + at, edited + at + n,
				    tlen - at - n);
				tlen -= n;
				break;
			default:	/* repeat n bytes, if there is room */
				if (tlen + n > 2 * size)
					break;
				memmove(edited + at + n, edited + at,
				    tlen - at);
				tlen += n;
				break;
			}
		}
		target = edited;
	} else {
		blen = size * (mode >> 1) / 128;
		base = data;
		target = data + blen;
		tlen = size - blen;
	}
	x = fg_delta_index_new(base, blen);
	if (x == NULL)
		abort();
	/* Room for the header and every byte as a literal: always made. */
	rc = make_and_check(&b, x, target, tlen, 20 + tlen + tlen / 127 + 1);
	if (rc != 0)
		abort();
	/* As the pack writer asks: an eighth, or nothing. */
	rc = make_and_check(&b, x, target, tlen, tlen / 8);
	if (rc != 0 && rc != FG_ELIMIT)
		abort();
	fg_delta_index_free(x);
	fg_buf_release(&b);
	free(edited);
	return 0;
}
