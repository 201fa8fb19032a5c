/*
 * hmac.c - HMAC-SHA256, hex, constant-time comparisons (see hmac.h).
 *
 * OpenSSL 3's one-shot EVP_Q_mac() is used rather than HMAC(): it goes
 * through the provider API, so nothing here is deprecated in 3.0 and the
 * build stays warning-free.
 */
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "hmac.h"
#include "banned.h"

static const char hexdigits[] = "0123456789abcdef";

/* The value of one hex digit (either case), or -1. */
static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool
fg_hex_decode(unsigned char *out, size_t outlen, const char *hex)
{
	size_t i;
	int hi, lo;

	for (i = 0; i < outlen; i++) {
		if (hex[2 * i] == '\0' || hex[2 * i + 1] == '\0')
			return false;
		hi = hexval(hex[2 * i]);
		lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return hex[2 * outlen] == '\0';
}

void
fg_hex_encode(char *out, const unsigned char *in, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hexdigits[in[i] >> 4];
		out[2 * i + 1] = hexdigits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

int
fg_hmac_sha256(unsigned char out[FG_HMAC_SHA256_LEN], const void *key,
    size_t keylen, const void *data, size_t len, struct fg_err *err)
{
	static const unsigned char empty[1];
	size_t outlen = 0;
	char reason[256] = "unknown error";
	unsigned long e;

	/* OpenSSL wants real pointers even for empty inputs. */
	if (key == NULL || keylen == 0)
		key = empty;
	if (data == NULL || len == 0)
		data = empty;
	ERR_clear_error();
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, keylen, data,
	    len, out, FG_HMAC_SHA256_LEN, &outlen) == NULL ||
	    outlen != FG_HMAC_SHA256_LEN) {
		e = ERR_get_error();
		if (e != 0)
			ERR_error_string_n(e, reason, sizeof(reason));
		ERR_clear_error();
		OPENSSL_cleanse(out, FG_HMAC_SHA256_LEN);
		return fg_err_set(err, FG_EIO, "cannot compute HMAC-SHA256: %s",
		    reason);
	}
	return 0;
}

int
fg_hmac_sha256_hex(char out[FG_HMAC_SHA256_HEXLEN + 1], const void *key,
    size_t keylen, const void *data, size_t len, struct fg_err *err)
{
	unsigned char mac[FG_HMAC_SHA256_LEN];
	int rc;

	out[0] = '\0';
	rc = fg_hmac_sha256(mac, key, keylen, data, len, err);
	if (rc < 0)
		goto out;
	fg_hex_encode(out, mac, sizeof(mac));
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

bool
fg_hmac_verify_hex(const void *key, size_t keylen, const void *body,
    size_t len, const char *sig, const char *prefix)
{
	unsigned char want[FG_HMAC_SHA256_LEN], got[FG_HMAC_SHA256_LEN];
	size_t plen = prefix != NULL ? strlen(prefix) : 0;
	bool ok = false;

	if (key == NULL || keylen == 0 || sig == NULL)
		goto out;
	if (plen > 0 && strncmp(sig, prefix, plen) != 0)
		goto out;
	if (!fg_hex_decode(got, sizeof(got), sig + plen))
		goto out;
	if (fg_hmac_sha256(want, key, keylen, body, len, NULL) < 0)
		goto out;
	ok = CRYPTO_memcmp(want, got, sizeof(want)) == 0;
out:
	OPENSSL_cleanse(want, sizeof(want));
	OPENSSL_cleanse(got, sizeof(got));
	return ok;
}

/* SHA-256 of s into out; false when OpenSSL fails. */
static bool
digest(unsigned char out[32], const char *s)
{
	unsigned int n = 0;

	if (EVP_Digest(s, strlen(s), out, &n, EVP_sha256(), NULL) != 1 ||
	    n != 32) {
		ERR_clear_error();
		return false;
	}
	return true;
}

bool
fg_secret_equal(const char *a, const char *b)
{
	unsigned char da[32], db[32];
	bool ok = false, ha, hb;

	memset(da, 0, sizeof(da));
	memset(db, 0xff, sizeof(db));
	if (a == NULL || b == NULL)
		goto out;
	/* Hash both before looking at either result: no early exit. */
	ha = digest(da, a);
	hb = digest(db, b);
	if (!ha || !hb)
		goto out;
	ok = CRYPTO_memcmp(da, db, sizeof(da)) == 0;
out:
	OPENSSL_cleanse(da, sizeof(da));
	OPENSSL_cleanse(db, sizeof(db));
	return ok;
}
