/*
 * nocerts.c - keep libgit2 from parsing the CA bundle in every process.
 *
 * Debian's libgit2 1.5 is built against mbedTLS with a default certificate
 * location, and git_libgit2_init() parses that whole bundle
 * (/etc/ssl/certs/ca-certificates.crt, ~200 KB, ~140 certificates) before
 * it returns: about 7 ms of the 12 ms a hook run costs, paid on every push
 * by pre-receive and post-receive alike, and by every flowgate command.
 * flowgate never asks libgit2 for a network operation (it reads and writes
 * local repositories; HTTP goes through libcurl and OpenSSL, which load
 * their own certificates), so its programs define the one mbedTLS
 * function that loading goes through as a no-op: the linker
 * exports a definition in the executable, and the dynamic linker binds
 * libgit2's call to it ahead of libmbedx509's (ELF symbol interposition).
 *
 * libgit2 is then left with no trusted certificates, so an HTTPS fetch
 * through it would fail verification rather than go unchecked.  When
 * libgit2 is built against OpenSSL instead, nothing calls this and it
 * changes nothing.  The Makefile links it into the three programs and the
 * benchmarks that stand for them, not into lib/libflowgate.a, whose users
 * decide for themselves.  tests/bench/hooks.sh and promote.sh measure it.
 */
struct mbedtls_x509_crt;

int mbedtls_x509_crt_parse_file(struct mbedtls_x509_crt *chain,
    const char *path);

int
mbedtls_x509_crt_parse_file(struct mbedtls_x509_crt *chain, const char *path)
{
	(void)chain;
	(void)path;
	return 0;
}
