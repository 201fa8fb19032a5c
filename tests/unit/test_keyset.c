/*
 * test_keyset.c - the bounded set of recent keys behind the webhook
 * daemon's duplicate checks: exact membership of the newest keys, the
 * oldest forgotten, and a table that stays right through deletions in
 * long, wrapping probe runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyset.h"
#include "unit.h"

/* A key whose table slot is home (for a table of 2^k slots, k < 32). */
static struct fg_key
key_at(uint32_t home, uint32_t tag)
{
	struct fg_key k;

	memset(&k, 0, sizeof(k));
	memcpy(k.b, &home, sizeof(home));
	memcpy(k.b + 8, &tag, sizeof(tag));
	return k;
}

static void
test_key_is_sha256_prefix(void)
{
	static const unsigned char abc[FG_KEY_LEN] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
		0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
	};
	struct fg_key k, k2;

	CU_ASSERT_TRUE_FATAL(fg_key_of(&k, "abc"));
	CU_ASSERT_EQUAL(memcmp(k.b, abc, FG_KEY_LEN), 0);
	CU_ASSERT_TRUE_FATAL(fg_key_of(&k2, "abd"));
	CU_ASSERT_NOT_EQUAL(memcmp(k.b, k2.b, FG_KEY_LEN), 0);
}

static void
test_keyset_keeps_the_newest(void)
{
	struct fg_keyset s;
	struct fg_key k;
	char id[32];
	int i, wrong = 0;

	CU_ASSERT_TRUE_FATAL(fg_keyset_init(&s, 1000));
	for (i = 0; i < 5000; i++) {
		snprintf(id, sizeof(id), "delivery-%d", i);
		CU_ASSERT_TRUE_FATAL(fg_key_of(&k, id));
		if (fg_keyset_has(&s, &k))
			wrong++;
		fg_keyset_add(&s, &k);
	}
	CU_ASSERT_EQUAL(wrong, 0);
	CU_ASSERT_EQUAL(fg_keyset_count(&s), 1000);
	for (i = 0; i < 5000; i++) {
		snprintf(id, sizeof(id), "delivery-%d", i);
		CU_ASSERT_TRUE_FATAL(fg_key_of(&k, id));
		if (fg_keyset_has(&s, &k) != (i >= 4000))
			wrong++;
	}
	CU_ASSERT_EQUAL(wrong, 0);

	/* A failed write takes its key back; the one before stays. */
	fg_keyset_drop_newest(&s);
	CU_ASSERT_EQUAL(fg_keyset_count(&s), 999);
	CU_ASSERT_TRUE(fg_key_of(&k, "delivery-4999") && !fg_keyset_has(&s, &k));
	CU_ASSERT_TRUE(fg_key_of(&k, "delivery-4998") && fg_keyset_has(&s, &k));
	CU_ASSERT_TRUE(fg_key_of(&k, "delivery-4000") && fg_keyset_has(&s, &k));
	fg_keyset_release(&s);

	/* Empty, released and impossible sets. */
	CU_ASSERT_FALSE(fg_keyset_has(&s, &k));
	fg_keyset_drop_newest(&s);
	CU_ASSERT_FALSE(fg_keyset_init(&s, 0));
}

/*
 * Key number t, one of six crowded onto slots 61..63 and 0..2 of a 64-slot
 * table, so that probe runs are long and wrap around its end.
 */
static struct fg_key
crowded(uint32_t t)
{
	return key_at((61u + t % 6u) & 63u, t);
}

/*
 * Random adds, drops and repeats of crowded keys, checked after every step
 * against a plain list of what the set must hold: each key in the list is
 * found, and each of the last 40 keys made that is not (forgotten as the
 * oldest, or dropped as the newest) is not.
 */
static void
test_keyset_survives_crowded_deletions(void)
{
	enum { MAX = 24, STEPS = 20000, RECENT = 40 };
	struct fg_key model[MAX], k;
	struct fg_keyset s;
	size_t n = 0, i, j;
	uint32_t tag = 0, t;
	unsigned seed = 12345;
	int wrong = 0, step;
	bool in;

	CU_ASSERT_TRUE_FATAL(fg_keyset_init(&s, MAX));
	CU_ASSERT_EQUAL_FATAL(s.nslots, 64);
	for (step = 0; step < STEPS; step++) {
		unsigned r = (unsigned)rand_r(&seed);

		if (r % 7u == 0) {
			fg_keyset_drop_newest(&s);
			if (n > 0)
				n--;
		} else {
			/* Now and then a key it holds: no change. */
			k = r % 9u == 0 && n > 0 ? model[(r >> 8) % n] :
			    crowded(++tag);
			if (!fg_keyset_has(&s, &k)) {
				fg_keyset_add(&s, &k);
				if (n == MAX) {
					memmove(model, model + 1,
					    (MAX - 1) * sizeof(*model));
					n--;
				}
				model[n++] = k;
			}
		}
		if (fg_keyset_count(&s) != n)
			wrong++;
		for (t = tag > RECENT ? tag - RECENT : 1; t <= tag; t++) {
			k = crowded(t);
			in = false;
			for (j = 0; j < n && !in; j++)
				in = memcmp(&model[j], &k, sizeof(k)) == 0;
			if (fg_keyset_has(&s, &k) != in)
				wrong++;
		}
		for (i = 0; i < n; i++)
			if (!fg_keyset_has(&s, &model[i]))
				wrong++;
	}
	CU_ASSERT_EQUAL(wrong, 0);
	fg_keyset_release(&s);
}

static CU_TestInfo tests[] = {
	{ "key is the SHA-256 prefix", test_key_is_sha256_prefix },
	{ "keyset keeps the newest", test_keyset_keeps_the_newest },
	{ "keyset survives crowded deletions",
	  test_keyset_survives_crowded_deletions },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("keyset", tests)
