/*
 * test_hmac.c - HMAC-SHA256 against RFC 4231, signature checks and the
 * constant-time comparisons.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "hmac.h"
#include "util.h"
#include "unit.h"

/*
 * RFC 4231 section 4: test cases 1-7 for HMAC-SHA-256.  Keys and data are
 * given as hex when they are not text; case 5's output is truncated to 128
 * bits by the RFC, so only that prefix is compared.
 */
struct rfc_case {
	const char *name;
	unsigned char key_byte;		/* key is key_len copies of it ... */
	size_t key_len;
	const char *key_text;		/* ... unless this is set */
	unsigned char data_byte;	/* data is data_len copies of it ... */
	size_t data_len;
	const char *data_text;		/* ... unless this is set */
	const char *mac;
};

static const struct rfc_case rfc4231[] = {
	{ "4.2", 0x0b, 20, NULL, 0, 0, "Hi There",
	  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
	{ "4.3", 0, 0, "Jefe", 0, 0, "what do ya want for nothing?",
	  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
	{ "4.4", 0xaa, 20, NULL, 0xdd, 50, NULL,
	  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
	{ "4.5", 0, 25, NULL, 0xcd, 50, NULL,	/* key 0x01..0x19 */
	  "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
	{ "4.6", 0x0c, 20, NULL, 0, 0, "Test With Truncation",
	  "a3b6167473100ee06e0c796c2955552b" },
	{ "4.7", 0xaa, 131, NULL, 0, 0,
	  "Test Using Larger Than Block-Size Key - Hash Key First",
	  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
	{ "4.8", 0xaa, 131, NULL, 0, 0,
	  "This is a test using a larger than block-size key and a larger "
	  "than block-size data. The key needs to be hashed before being "
	  "used by the HMAC algorithm.",
	  "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
};

static void
test_hmac_matches_rfc4231(void)
{
	unsigned char key[200], data[200];
	char hex[FG_HMAC_SHA256_HEXLEN + 1];
	struct fg_err err = FG_ERR_INIT;
	size_t i, k, klen, dlen;

	for (i = 0; i < FG_ARRAY_SIZE(rfc4231); i++) {
		const struct rfc_case *c = &rfc4231[i];

		if (c->key_text != NULL) {
			klen = strlen(c->key_text);
			memcpy(key, c->key_text, klen);
		} else {
			klen = c->key_len;
			for (k = 0; k < klen; k++)
				key[k] = c->key_byte != 0 ? c->key_byte :
				    (unsigned char)(k + 1);
		}
		if (c->data_text != NULL) {
			dlen = strlen(c->data_text);
			memcpy(data, c->data_text, dlen);
		} else {
			dlen = c->data_len;
			memset(data, c->data_byte, dlen);
		}
		CU_ASSERT_EQUAL_FATAL(fg_hmac_sha256_hex(hex, key, klen, data,
		    dlen, &err), 0);
		if (strncmp(hex, c->mac, strlen(c->mac)) != 0)
			fprintf(stderr, "RFC 4231 %s: got %s\n", c->name, hex);
		CU_ASSERT_NSTRING_EQUAL(hex, c->mac, strlen(c->mac));
		/* The same vector through the verifier, both cases. */
		if (strlen(c->mac) == FG_HMAC_SHA256_HEXLEN) {
			char upper[FG_HMAC_SHA256_HEXLEN + 1];

			for (k = 0; k <= FG_HMAC_SHA256_HEXLEN; k++)
				upper[k] = (char)toupper((unsigned char)
				    c->mac[k]);
			CU_ASSERT_TRUE(fg_hmac_verify_hex(key, klen, data,
			    dlen, c->mac, NULL));
			CU_ASSERT_TRUE(fg_hmac_verify_hex(key, klen, data,
			    dlen, upper, ""));
		}
	}
}

static void
test_hmac_raw_matches_hex(void)
{
	unsigned char mac[FG_HMAC_SHA256_LEN];
	static const unsigned char want[4] = { 0x5b, 0xdc, 0xc1, 0x46 };

	CU_ASSERT_EQUAL(fg_hmac_sha256(mac, "Jefe", 4,
	    "what do ya want for nothing?", 28, NULL), 0);
	CU_ASSERT_EQUAL(memcmp(mac, want, sizeof(want)), 0);
}

static void
test_hmac_empty_body_is_signed(void)
{
	/* python3: hmac.new(b'k', b'', hashlib.sha256).hexdigest() */
	static const char want[] =
	    "8bb990c40a7d61cb97597a942125025be50ac8beb74436e3735b98893a7f6620";
	char hex[FG_HMAC_SHA256_HEXLEN + 1];

	CU_ASSERT_EQUAL(fg_hmac_sha256_hex(hex, "k", 1, NULL, 0, NULL), 0);
	CU_ASSERT_STRING_EQUAL(hex, want);
	CU_ASSERT_TRUE(fg_hmac_verify_hex("k", 1, "", 0, want, NULL));
}

static void
test_hmac_verify_refuses_bad_signatures(void)
{
	static const char body[] = "{\"zen\":\"Keep it logically awesome.\"}";
	char hex[FG_HMAC_SHA256_HEXLEN + 1], sig[128];
	size_t len = sizeof(body) - 1;

	CU_ASSERT_EQUAL_FATAL(fg_hmac_sha256_hex(hex, "s3cret", 6, body, len,
	    NULL), 0);
	snprintf(sig, sizeof(sig), "sha256=%s", hex);
	CU_ASSERT_TRUE(fg_hmac_verify_hex("s3cret", 6, body, len, sig,
	    "sha256="));

	/* Wrong secret, other body, one byte less of body. */
	CU_ASSERT_FALSE(fg_hmac_verify_hex("s3creT", 6, body, len, sig,
	    "sha256="));
	CU_ASSERT_FALSE(fg_hmac_verify_hex("s3cret", 6, "{}", 2, sig,
	    "sha256="));
	CU_ASSERT_FALSE(fg_hmac_verify_hex("s3cret", 6, body, len - 1, sig,
	    "sha256="));
	/* Prefix missing, wrong, or given where none is expected. */
	CU_ASSERT_FALSE(fg_hmac_verify_hex("s3cret", 6, body, len, hex,
	    "sha256="));
	CU_ASSERT_FALSE(fg_hmac_verify_hex("s3cret", 6, body, len, sig,
	    "sha1="));
	CU_ASSERT_FALSE(fg_hmac_verify_hex("s3cret", 6, body, len, sig, NULL));
	/* Truncated, extended, non-hex, empty, NULL. */
	sig[strlen(sig) - 1] = '\0';
	CU_ASSERT_FALSE(fg_hmac_verify_hex("s3cret", 6, body, len, sig,
	    "sha256="));
	snprintf(sig, sizeof(sig), "sha256=%s0", hex);
	CU_ASSERT_FALSE(fg_hmac_verify_hex("s3cret", 6, body, len, sig,
	    "sha256="));
	snprintf(sig, sizeof(sig), "sha256=%.63sg", hex);
	CU_ASSERT_FALSE(fg_hmac_verify_hex("s3cret", 6, body, len, sig,
	    "sha256="));
	CU_ASSERT_FALSE(fg_hmac_verify_hex("s3cret", 6, body, len, "",
	    NULL));
	CU_ASSERT_FALSE(fg_hmac_verify_hex("s3cret", 6, body, len, NULL,
	    NULL));
	/* An empty key proves nothing, even with a matching signature. */
	CU_ASSERT_EQUAL_FATAL(fg_hmac_sha256_hex(hex, "", 0, body, len,
	    NULL), 0);
	CU_ASSERT_FALSE(fg_hmac_verify_hex("", 0, body, len, hex, NULL));
}

static void
test_secret_equal_compares_whole_strings(void)
{
	CU_ASSERT_TRUE(fg_secret_equal("glpat-token", "glpat-token"));
	CU_ASSERT_TRUE(fg_secret_equal("", ""));
	CU_ASSERT_FALSE(fg_secret_equal("glpat-token", "glpat-tokeN"));
	CU_ASSERT_FALSE(fg_secret_equal("glpat-token", "Glpat-token"));
	/* Different lengths: prefixes and extensions are not equal. */
	CU_ASSERT_FALSE(fg_secret_equal("glpat-token", "glpat-toke"));
	CU_ASSERT_FALSE(fg_secret_equal("glpat-token", "glpat-token2"));
	CU_ASSERT_FALSE(fg_secret_equal("glpat-token", ""));
	CU_ASSERT_FALSE(fg_secret_equal("", "glpat-token"));
	CU_ASSERT_FALSE(fg_secret_equal(NULL, "glpat-token"));
	CU_ASSERT_FALSE(fg_secret_equal("glpat-token", NULL));
	CU_ASSERT_FALSE(fg_secret_equal(NULL, NULL));
}

/* The body key of a replayed delivery depends on these two. */
static void
test_hex_round_trip_and_refusals(void)
{
	static const unsigned char bytes[4] = { 0x00, 0x9f, 0xa0, 0xff };
	unsigned char got[4];
	char hex[9];

	fg_hex_encode(hex, bytes, sizeof(bytes));
	CU_ASSERT_STRING_EQUAL(hex, "009fa0ff");
	CU_ASSERT_TRUE(fg_hex_decode(got, sizeof(got), hex));
	CU_ASSERT_EQUAL(memcmp(got, bytes, sizeof(got)), 0);
	/* Upper case is the same bytes. */
	memset(got, 0, sizeof(got));
	CU_ASSERT_TRUE(fg_hex_decode(got, sizeof(got), "009FA0FF"));
	CU_ASSERT_EQUAL(memcmp(got, bytes, sizeof(got)), 0);
	/* Short, long, and non-hex input is refused. */
	CU_ASSERT_FALSE(fg_hex_decode(got, sizeof(got), "009fa0f"));
	CU_ASSERT_FALSE(fg_hex_decode(got, sizeof(got), "009fa0ff0"));
	CU_ASSERT_FALSE(fg_hex_decode(got, sizeof(got), "009fa0fg"));
	CU_ASSERT_FALSE(fg_hex_decode(got, sizeof(got), ""));
}

static CU_TestInfo tests[] = {
	{ "hmac matches RFC 4231", test_hmac_matches_rfc4231 },
	{ "hmac raw matches hex", test_hmac_raw_matches_hex },
	{ "hmac empty body is signed", test_hmac_empty_body_is_signed },
	{ "hmac verify refuses bad signatures",
	  test_hmac_verify_refuses_bad_signatures },
	{ "secret equal compares whole strings",
	  test_secret_equal_compares_whole_strings },
	{ "hex round trip and refusals", test_hex_round_trip_and_refusals },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("hmac", tests)
