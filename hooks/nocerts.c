/*
 * nocerts.c - keep libgit2 from parsing the CA bundle in every hook run.
 *
 * Debian's libgit2 1.5 is built against mbedTLS with a default certificate
 * location, and git_libgit2_init() parses that whole bundle
 * (/etc/ssl/certs/ca-certificates.crt, ~200 KB, ~140 certificates) before
 * it returns: about 7 ms of the 12 ms a hook run costs, paid on every push
 * by pre-receive and post-receive alike.  flowgate-hook never opens a TLS
 * connection (it reads and writes a local repository), so it defines the
 * one mbedTLS function that loading goes through as a no-op: the linker
 * exports a definition in the executable, and the dynamic linker binds
 * libgit2's call to it ahead of libmbedx509's (ELF symbol interposition).
 *
 * When libgit2 is built against OpenSSL instead, nothing calls this and it
 * changes nothing.  Only the hook program links this file; the CLI and the
 * daemon, which do speak TLS, never do.  tests/bench/hooks.sh measures it.
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
