/*
 * hmac.h - HMAC-SHA256 and constant-time comparisons for webhook secrets.
 *
 * Forges prove that a delivery is theirs in one of two ways: an HMAC of the
 * raw body keyed with a shared secret, sent as hex in a header (GitHub,
 * Gitea, Forgejo, Jira, our generic webhook), or the shared secret itself in
 * plain text (GitLab's X-Gitlab-Token).  This module does the cryptography
 * and the comparisons; which header and format each forge uses is forge.h's
 * business (fg_forge_verify).
 *
 * Comparisons never return early on the first differing byte, so the time
 * they take says nothing about how much of a guess was right.  Digests and
 * decoded signatures are wiped (OPENSSL_cleanse) before they go out of
 * scope; this module never copies a key.
 *
 * Ownership: callers keep their buffers; nothing here allocates memory the
 * caller must free.  Thread-safety: every function is thread-safe (OpenSSL 3
 * needs no locking setup).
 */
#ifndef FG_HMAC_H
#define FG_HMAC_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* Length of an HMAC-SHA256 in bytes, and of its hex form (without NUL). */
#define FG_HMAC_SHA256_LEN	32
#define FG_HMAC_SHA256_HEXLEN	64

/*
 * Decode exactly 2 * outlen hex digits of either case, and nothing after
 * them, into out; false on a wrong length or a non-hex character.  Meant
 * for signatures, which are the sender's and no secret: it branches on
 * the digits.
 */
bool fg_hex_decode(unsigned char *out, size_t outlen, const char *hex);

/* in[0..len) as 2 * len lowercase hex digits and a NUL into out. */
void fg_hex_encode(char *out, const unsigned char *in, size_t len);

/*
 * Compute HMAC-SHA256(key, data) into out.  key may be empty (keylen 0);
 * data may be NULL when len is 0.  Fails only when OpenSSL does
 * (FG_EIO, with OpenSSL's reason in err).
 */
int fg_hmac_sha256(unsigned char out[FG_HMAC_SHA256_LEN], const void *key,
    size_t keylen, const void *data, size_t len, struct fg_err *err);

/*
 * As fg_hmac_sha256, written as 64 lowercase hex digits and a NUL into out.
 * Tests and clients that sign payloads use it; the daemon only verifies.
 */
int fg_hmac_sha256_hex(char out[FG_HMAC_SHA256_HEXLEN + 1], const void *key,
    size_t keylen, const void *data, size_t len, struct fg_err *err);

/*
 * True when sig is prefix followed by the hex HMAC-SHA256 of body under
 * key.  prefix may be NULL or "" for forges that send bare hex (Gitea,
 * Forgejo); it must match exactly ("sha256=", as GitHub sends it).  The hex
 * part must be exactly 64 digits; upper and lower case are both accepted
 * (GitHub and Gitea send lowercase; case carries no secret).  An empty key
 * is refused: it means no secret was configured, and a signature under an
 * empty key proves nothing.  Any failure, including OpenSSL's, is false.
 *
 * The digests are compared with CRYPTO_memcmp.  Rejecting a malformed sig
 * early is safe: its length and alphabet are the sender's own choice and
 * say nothing about the key.
 */
bool fg_hmac_verify_hex(const void *key, size_t keylen, const void *body,
    size_t len, const char *sig, const char *prefix);

/*
 * Constant-time equality of two NUL-terminated secrets (GitLab's
 * X-Gitlab-Token against the configured token).  Both are hashed with
 * SHA-256 and the digests compared with CRYPTO_memcmp, so neither a
 * differing length nor the position of the first differing byte shows in
 * the time taken.  NULL is never equal to anything (not even NULL); two
 * empty strings are equal, so callers refuse an empty configured secret
 * before they compare (fg_forge_verify does).
 */
bool fg_secret_equal(const char *a, const char *b);

#endif
