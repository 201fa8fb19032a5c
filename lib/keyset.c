/*
 * keyset.c - a bounded set of recent keys (see keyset.h).
 *
 * A FIFO ring of the keys and an open-addressing table over it, probed
 * linearly from the slot the key's first bytes name, at most half full.
 * Deleting a key (the oldest, when full; the newest, after a failed
 * write) moves back the keys after it in its run that could no longer be
 * found past the gap (Knuth, TAOCP 6.4, Algorithm R), so no tombstones
 * pile up.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "keyset.h"
#include "banned.h"

bool
fg_key_of(struct fg_key *k, const char *s)
{
	unsigned char md[EVP_MAX_MD_SIZE];

	if (EVP_Digest(s, strlen(s), md, NULL, EVP_sha256(), NULL) != 1)
		return false;
	memcpy(k->b, md, FG_KEY_LEN);
	return true;
}

/* The slot where the search for k starts. */
static size_t
home_of(const struct fg_keyset *s, const struct fg_key *k)
{
	uint32_t h;

	memcpy(&h, k->b, sizeof(h));
	return h & (s->nslots - 1);
}

/*
 * The slot holding k, or s->nslots.  The table is never more than half
 * full, so a free slot ends every search; the bound only turns a broken
 * table into a miss instead of an endless loop.
 */
static size_t
slot_of(const struct fg_keyset *s, const struct fg_key *k)
{
	size_t i = home_of(s, k), step;

	for (step = 0; step < s->nslots && s->slots[i] != 0; step++) {
		if (memcmp(s->ring[s->slots[i] - 1].b, k->b, FG_KEY_LEN) == 0)
			return i;
		i = (i + 1) & (s->nslots - 1);
	}
	return s->nslots;
}

/* Take the key at ring index r out of the table. */
static void
unlink_key(struct fg_keyset *s, size_t r)
{
	size_t i = slot_of(s, &s->ring[r]), j, h, step;

	if (i == s->nslots)
		return;
	for (j = i, step = 1; step < s->nslots; step++) {
		j = (j + 1) & (s->nslots - 1);
		if (s->slots[j] == 0)
			break;
		h = home_of(s, &s->ring[s->slots[j] - 1]);
		/* Its home is cyclically in (i, j]: it stays where it is. */
		if (i <= j ? i < h && h <= j : i < h || h <= j)
			continue;
		s->slots[i] = s->slots[j];
		i = j;
	}
	s->slots[i] = 0;
}

bool
fg_keyset_init(struct fg_keyset *s, size_t max)
{
	memset(s, 0, sizeof(*s));
	if (max == 0 || max > (size_t)1 << 30)
		return false;
	for (s->nslots = 2; s->nslots < 2 * max; s->nslots *= 2)
		continue;
	s->max = max;
	s->ring = calloc(max, sizeof(*s->ring));
	s->slots = calloc(s->nslots, sizeof(*s->slots));
	if (s->ring == NULL || s->slots == NULL) {
		fg_keyset_release(s);
		return false;
	}
	return true;
}

void
fg_keyset_release(struct fg_keyset *s)
{
	free(s->ring);
	free(s->slots);
	memset(s, 0, sizeof(*s));
}

bool
fg_keyset_has(const struct fg_keyset *s, const struct fg_key *k)
{
	return s->n > 0 && slot_of(s, k) != s->nslots;
}

void
fg_keyset_add(struct fg_keyset *s, const struct fg_key *k)
{
	size_t r, i, step;

	if (s->n == s->max) {
		unlink_key(s, s->pos);
		s->pos = (s->pos + 1) % s->max;
		s->n--;
	}
	r = (s->pos + s->n) % s->max;
	s->ring[r] = *k;
	for (i = home_of(s, k), step = 0; s->slots[i] != 0; step++) {
		assert(step < s->nslots);	/* at most half full */
		i = (i + 1) & (s->nslots - 1);
	}
	s->slots[i] = (uint32_t)r + 1;
	s->n++;
}

void
fg_keyset_drop_newest(struct fg_keyset *s)
{
	if (s->n == 0)
		return;
	unlink_key(s, (s->pos + s->n - 1) % s->max);
	s->n--;
}

size_t
fg_keyset_count(const struct fg_keyset *s)
{
	return s->n;
}
