/*
 * delta.c - git's binary delta format, written (see delta.h).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "delta.h"
#include "banned.h"

#define INSERT_MAX	127		/* literal bytes an insert holds */
#define COPY_MAX	0xffffU		/* bytes one copy takes */
#define OP_MAX		8		/* a copy's op, offset and size */
#define BASE_MAX	0xffffffffU	/* copy offsets are 32 bits */

struct fg_delta_index {
	unsigned char *base;
	size_t len;
	uint32_t *slot;			/* block offset + 1, 0: empty */
	size_t mask;
};

static uint64_t
load64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* The hash of the FG_DELTA_BLOCK bytes at p. */
static size_t
block_hash(const unsigned char *p)
{
	uint64_t h = load64(p) * 0x9e3779b97f4a7c15ULL ^ load64(p + 8) *
	    0xc2b2ae3d27d4eb4fULL;

	return (size_t)(h ^ h >> 29);
}

struct fg_delta_index *
fg_delta_index_new(const void *base, size_t len)
{
	struct fg_delta_index *x;
	size_t blocks = len / FG_DELTA_BLOCK, n = 16, off;

	if (len > BASE_MAX)
		return NULL;
	while (n < 2 * blocks)
		n *= 2;
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return NULL;
	x->base = malloc(len > 0 ? len : 1);
	x->slot = calloc(n, sizeof(*x->slot));
	if (x->base == NULL || x->slot == NULL) {
		fg_delta_index_free(x);
		return NULL;
	}
	memcpy(x->base, base, len);
	x->len = len;
	x->mask = n - 1;
	/*
	 * From the last block to the first, so that a block that occurs
	 * more than once is found at its first place (colliding blocks: the
	 * earliest wins, and the encoder checks the bytes anyway).
	 */
	for (off = blocks * FG_DELTA_BLOCK; off >= FG_DELTA_BLOCK;) {
		off -= FG_DELTA_BLOCK;
		x->slot[block_hash(x->base + off) & x->mask] =
		    (uint32_t)off + 1;
	}
	return x;
}

const unsigned char *
fg_delta_index_base(const struct fg_delta_index *x, size_t *len)
{
	*len = x->len;
	return x->base;
}

void
fg_delta_index_free(struct fg_delta_index *x)
{
	if (x == NULL)
		return;
	free(x->base);
	free(x->slot);
	free(x);
}

/* A size as git's delta header writes it: 7 bits a byte, low first. */
static size_t
put_size(unsigned char *p, size_t v)
{
	size_t n = 0;

	do {
		p[n] = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v != 0)
			p[n] |= 0x80;
		n++;
	} while (v != 0);
	return n;
}

/* Literal bytes as insert instructions; false past max. */
static bool
put_insert(unsigned char *out, size_t *at, size_t max,
    const unsigned char *p, size_t len)
{
	size_t n;

	while (len > 0) {
		n = len < INSERT_MAX ? len : INSERT_MAX;
		if (*at + 1 + n > max)
			return false;
		out[(*at)++] = (unsigned char)n;
		memcpy(out + *at, p, n);
		*at += n;
		p += n;
		len -= n;
	}
	return true;
}

/* A copy of len bytes (1 to COPY_MAX) at off; false past max. */
static bool
put_copy(unsigned char *out, size_t *at, size_t max, size_t off,
    size_t len)
{
	unsigned char op[OP_MAX];
	size_t n = 1;
	int i;

	op[0] = 0x80;
	for (i = 0; i < 4; i++) {
		if ((off >> (8 * i)) & 0xff) {
			op[0] |= (unsigned char)(1 << i);
			op[n++] = (unsigned char)(off >> (8 * i));
		}
	}
	for (i = 0; i < 2; i++) {
		if ((len >> (8 * i)) & 0xff) {
			op[0] |= (unsigned char)(0x10 << i);
			op[n++] = (unsigned char)(len >> (8 * i));
		}
	}
	if (*at + n > max)
		return false;
	memcpy(out + *at, op, n);
	*at += n;
	return true;
}

int
fg_delta_make(struct fg_buf *out, const struct fg_delta_index *x,
    const void *target, size_t len, size_t max)
{
	const unsigned char *t = target, *b = x->base;
	unsigned char *o;
	size_t at, i = 0, lit = 0, bo, n, c;
	uint32_t s;

	fg_buf_reset(out);
	if (fg_buf_grow(out, max) < 0)
		return FG_ENOMEM;
	o = (unsigned char *)out->ptr;
	/* Two sizes of at most ten bytes each. */
	if (max < 20)
		return FG_ELIMIT;
	at = put_size(o, x->len);
	at += put_size(o + at, len);
	while (i + FG_DELTA_BLOCK <= len) {
		/* Literals pending already past the limit: unlike, give up. */
		if (at + (i - lit) + (i - lit) / INSERT_MAX + 1 > max)
			return FG_ELIMIT;
		s = x->slot[block_hash(t + i) & x->mask];
		if (s == 0 || memcmp(b + s - 1, t + i, FG_DELTA_BLOCK) != 0) {
			i++;
			continue;
		}
		bo = s - 1;
		/* Back over literals the base has too, then forward. */
		while (i > lit && bo > 0 && b[bo - 1] == t[i - 1]) {
			i--;
			bo--;
		}
		n = FG_DELTA_BLOCK;
		while (bo + n + 8 <= x->len && i + n + 8 <= len &&
		    load64(b + bo + n) == load64(t + i + n))
			n += 8;
		while (bo + n < x->len && i + n < len && b[bo + n] == t[i + n])
			n++;
		if (!put_insert(o, &at, max, t + lit, i - lit))
			return FG_ELIMIT;
		for (; n > 0; n -= c, bo += c, i += c) {
			c = n < COPY_MAX ? n : COPY_MAX;
			if (!put_copy(o, &at, max, bo, c))
				return FG_ELIMIT;
		}
		lit = i;
	}
	if (!put_insert(o, &at, max, t + lit, len - lit))
		return FG_ELIMIT;
	out->len = at;
	o[at] = '\0';
	return 0;
}
