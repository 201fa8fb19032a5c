/*
 * keyset.h - the most recent keys of a stream, for telling repeats: a
 * bounded set that forgets its oldest key as each new one comes once it
 * is full.
 *
 * A key is the first FG_KEY_LEN bytes of the SHA-256 of a string: two
 * different strings share a key with odds of 2^-128, so a lookup among
 * 65,536 keys mistakes a new string for a known one with odds of 2^-112.
 * A set of capacity max costs 16 bytes per key and 8 more of table,
 * allocated once (large tables come from mmap, so the pages of keys never
 * added are never touched), with no allocation per key.
 *
 * Ownership: the set is the caller's (fg_keyset_init / _release).  Not
 * thread-safe: one thread uses a set at a time.
 */
#ifndef FG_KEYSET_H
#define FG_KEYSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FG_KEY_LEN 16

struct fg_key {
	unsigned char b[FG_KEY_LEN];
};

struct fg_keyset {
	struct fg_key *ring;		/* max keys, oldest at pos */
	uint32_t *slots;		/* ring index + 1; 0: free */
	size_t nslots;			/* a power of two, at least 2 max */
	size_t max, pos, n;
};

/* The key of string s; false when OpenSSL fails (out of memory). */
bool fg_key_of(struct fg_key *k, const char *s);

/* An empty set for up to max keys (1 to 2^30); false: out of memory. */
bool fg_keyset_init(struct fg_keyset *s, size_t max);

void fg_keyset_release(struct fg_keyset *s);

bool fg_keyset_has(const struct fg_keyset *s, const struct fg_key *k);

/*
 * Add k, which must not be in s (fg_keyset_has first); when s is full its
 * oldest key goes.
 */
void fg_keyset_add(struct fg_keyset *s, const struct fg_key *k);

/* Forget the newest key, if any (its write failed). */
void fg_keyset_drop_newest(struct fg_keyset *s);

/* The number of keys held. */
size_t fg_keyset_count(const struct fg_keyset *s);

#endif
