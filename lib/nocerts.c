/*
 * nocerts.c - keep libgit2 from parsing the CA bundle in every process,
 * from setting up OpenSSL for SSH and from bringing Kerberos along.
 *
 * Debian's libgit2 1.5 is built against mbedTLS with a default certificate
 * location, and git_libgit2_init() parses that whole bundle
 * (/etc/ssl/certs/ca-certificates.crt, ~200 KB, ~140 certificates) before
 * it returns: about 7 ms of the 12 ms a hook run costs, paid on every push
 * by pre-receive and post-receive alike, and by every flowgate command.
 * flowgate never asks libgit2 for a network operation (it reads and writes
 * local repositories; HTTP goes through libcurl and OpenSSL, which load
 * their own certificates), so its programs replace the one mbedTLS
 * function that loading goes through with a no-op.  How depends on how
 * libgit2 is linked (the Makefile's STATIC):
 *
 *   linked in (STATIC=1, FG_STATIC_GIT2 defined): the Makefile links with
 *     -Wl,--wrap=mbedtls_x509_crt_parse_file, so the linker sends every
 *     call to that function from the archives (libgit2's is the only one)
 *     to __wrap_mbedtls_x509_crt_parse_file below, and libmbedx509's own
 *     definition stays as it is, unused.  Interposition cannot work here:
 *     the archive member that defines the function is linked for its
 *     other functions, and two definitions clash.
 *   shared (STATIC=0): the executable defines the function itself, and the
 *     dynamic linker binds libgit2's call to it ahead of libmbedx509's
 *     (ELF symbol interposition).
 *
 * libgit2 is then left with no trusted certificates, so an HTTPS fetch
 * through it would fail verification rather than go unchecked.  When
 * libgit2 is built against OpenSSL instead, nothing calls this and it
 * changes nothing.  The Makefile links it into everything it builds on
 * lib/libflowgate.a (the three programs, the tests and the benchmarks), not
 * into the library itself, whose users decide for themselves.
 * tests/bench/hooks.sh and promote.sh measure it.
 */
#include <stddef.h>
#include <stdint.h>

struct mbedtls_x509_crt;

#ifdef FG_STATIC_GIT2
#define NOCERTS_FN __wrap_mbedtls_x509_crt_parse_file
#else
#define NOCERTS_FN mbedtls_x509_crt_parse_file
#endif

int NOCERTS_FN(struct mbedtls_x509_crt *chain, const char *path);

int
NOCERTS_FN(struct mbedtls_x509_crt *chain, const char *path)
{
	(void)chain;
	(void)path;
	return 0;
}

#ifdef FG_STATIC_GIT2
/*
 * GSSAPI, when libgit2 is linked in.  libgit2 calls these functions only
 * for HTTP "Negotiate" (Kerberos) authentication, which flowgate never
 * asks for.  Debian ships libgssapi_krb5 as a shared library only, and
 * linking it would bring libkrb5, libk5crypto, libcom_err,
 * libkrb5support, libkeyutils and libresolv into every start (about 60
 * page faults and a quarter of a millisecond a run, measured on the hook).
 * Defined here, every mechanism is unavailable: libgit2's Negotiate
 * support asks gss_indicate_mechs() first and gives up with an error;
 * the release functions succeed on the empty values the others left.
 * The prototypes are RFC 2744's, with opaque types.
 */

typedef uint32_t OM_uint32;
struct gss_name_struct;
struct gss_ctx_id_struct;
struct gss_cred_id_struct;
struct gss_channel_bindings_struct;
struct gss_OID_desc_struct;
struct gss_OID_set_desc_struct;
struct gss_buffer_desc_struct {
	size_t length;
	void *value;
};

#define NOGSS_COMPLETE		0u
#define NOGSS_UNAVAILABLE	(16u << 16)	/* GSS_S_UNAVAILABLE */

struct gss_OID_desc_struct *GSS_C_NT_HOSTBASED_SERVICE;

OM_uint32 gss_indicate_mechs(OM_uint32 *, struct gss_OID_set_desc_struct **);
OM_uint32 gss_import_name(OM_uint32 *, struct gss_buffer_desc_struct *,
    struct gss_OID_desc_struct *, struct gss_name_struct **);
OM_uint32 gss_init_sec_context(OM_uint32 *, struct gss_cred_id_struct *,
    struct gss_ctx_id_struct **, struct gss_name_struct *,
    struct gss_OID_desc_struct *, OM_uint32, OM_uint32,
    struct gss_channel_bindings_struct *, struct gss_buffer_desc_struct *,
    struct gss_OID_desc_struct **, struct gss_buffer_desc_struct *,
    OM_uint32 *, OM_uint32 *);
OM_uint32 gss_delete_sec_context(OM_uint32 *, struct gss_ctx_id_struct **,
    struct gss_buffer_desc_struct *);
OM_uint32 gss_display_status(OM_uint32 *, OM_uint32, int,
    struct gss_OID_desc_struct *, OM_uint32 *,
    struct gss_buffer_desc_struct *);
OM_uint32 gss_release_buffer(OM_uint32 *, struct gss_buffer_desc_struct *);
OM_uint32 gss_release_name(OM_uint32 *, struct gss_name_struct **);
OM_uint32 gss_release_oid_set(OM_uint32 *,
    struct gss_OID_set_desc_struct **);

static void
nogss_empty(struct gss_buffer_desc_struct *b)
{
	if (b != NULL) {
		b->length = 0;
		b->value = NULL;
	}
}

OM_uint32
gss_indicate_mechs(OM_uint32 *minor, struct gss_OID_set_desc_struct **set)
{
	*minor = 0;
	if (set != NULL)
		*set = NULL;
	return NOGSS_UNAVAILABLE;
}

OM_uint32
gss_import_name(OM_uint32 *minor, struct gss_buffer_desc_struct *in,
    struct gss_OID_desc_struct *type, struct gss_name_struct **out)
{
	(void)in;
	(void)type;
	*minor = 0;
	if (out != NULL)
		*out = NULL;
	return NOGSS_UNAVAILABLE;
}

OM_uint32
gss_init_sec_context(OM_uint32 *minor, struct gss_cred_id_struct *cred,
    struct gss_ctx_id_struct **ctx, struct gss_name_struct *target,
    struct gss_OID_desc_struct *mech, OM_uint32 req_flags, OM_uint32 time_req,
    struct gss_channel_bindings_struct *cb, struct gss_buffer_desc_struct *in,
    struct gss_OID_desc_struct **actual, struct gss_buffer_desc_struct *out,
    OM_uint32 *ret_flags, OM_uint32 *time_rec)
{
	(void)cred;
	(void)ctx;
	(void)target;
	(void)mech;
	(void)req_flags;
	(void)time_req;
	(void)cb;
	(void)in;
	*minor = 0;
	if (actual != NULL)
		*actual = NULL;
	nogss_empty(out);
	if (ret_flags != NULL)
		*ret_flags = 0;
	if (time_rec != NULL)
		*time_rec = 0;
	return NOGSS_UNAVAILABLE;
}

OM_uint32
gss_delete_sec_context(OM_uint32 *minor, struct gss_ctx_id_struct **ctx,
    struct gss_buffer_desc_struct *out)
{
	*minor = 0;
	if (ctx != NULL)
		*ctx = NULL;
	nogss_empty(out);
	return NOGSS_COMPLETE;
}

OM_uint32
gss_display_status(OM_uint32 *minor, OM_uint32 status, int type,
    struct gss_OID_desc_struct *mech, OM_uint32 *msg_ctx,
    struct gss_buffer_desc_struct *out)
{
	(void)status;
	(void)type;
	(void)mech;
	*minor = 0;
	if (msg_ctx != NULL)
		*msg_ctx = 0;
	nogss_empty(out);
	return NOGSS_UNAVAILABLE;
}

OM_uint32
gss_release_buffer(OM_uint32 *minor, struct gss_buffer_desc_struct *b)
{
	*minor = 0;
	nogss_empty(b);
	return NOGSS_COMPLETE;
}

OM_uint32
gss_release_name(OM_uint32 *minor, struct gss_name_struct **name)
{
	*minor = 0;
	if (name != NULL)
		*name = NULL;
	return NOGSS_COMPLETE;
}

OM_uint32
gss_release_oid_set(OM_uint32 *minor, struct gss_OID_set_desc_struct **set)
{
	*minor = 0;
	if (set != NULL)
		*set = NULL;
	return NOGSS_COMPLETE;
}
#endif /* FG_STATIC_GIT2 */

#ifdef FG_STATIC_GIT2
/*
 * libssh2, when libgit2 is linked in.  git_libgit2_init() calls
 * libssh2_init(), which sets up OpenSSL for SSH: loading its error
 * strings and built-in engines, about a third of libgit2's start-up
 * (0.2-0.4 ms and 40 page faults of every hook run, measured with perf
 * stat).  flowgate never opens an SSH session through libgit2, and
 * libssh2 runs the same set-up itself when a session is made
 * (_libssh2_init_if_needed, called by libssh2_session_init_ex and its
 * other entry points; it does not go through this symbol, so the wrap
 * does not reach it).  The Makefile links with
 * -Wl,--wrap=libssh2_init, which sends libgit2's call here.
 */
int __wrap_libssh2_init(int flags);

int
__wrap_libssh2_init(int flags)
{
	(void)flags;
	return 0;
}
#endif /* FG_STATIC_GIT2 */

#ifdef FG_STATIC_GIT2
/*
 * libgit2's TLS, when libgit2 is linked in.  git_libgit2_init() sets up
 * its mbedTLS stream at once: an SSL configuration, its cipher suites, and
 * a random generator seeded from mbedTLS's entropy sources, one of which
 * (HAVEGE, as Debian builds mbedTLS 2.28) fills a 4 KB pool by timing
 * loops: about 0.2 ms and an eighth of a hook's start (perf record of
 * flowgate-hook --version), twice per push.  flowgate never opens an HTTPS
 * connection through libgit2 (see above: it has no certificates to verify
 * one with anyway), so none of it is set up: the Makefile wraps the four
 * functions libgit2 reaches its mbedTLS stream through, the
 * set-up succeeds doing nothing, and a TLS stream or a certificate
 * location asked for fails with an error saying so.  With nothing left
 * calling into libgit2's mbedTLS stream, the linker leaves it and the TLS
 * code only it used out of the programs.
 */
#include <git2/errors.h>

struct git_stream;

int __wrap_git_mbedtls_stream_global_init(void);
int __wrap_git_mbedtls_stream_new(struct git_stream **out, const char *host,
    const char *port);
int __wrap_git_mbedtls_stream_wrap(struct git_stream **out,
    struct git_stream *in, const char *host);
int __wrap_git_mbedtls__set_cert_location(const char *file,
    const char *path);

static int
notls(void)
{
	git_error_set_str(GIT_ERROR_SSL, "flowgate's programs make no TLS "
	    "connections through libgit2");
	return -1;
}

int
__wrap_git_mbedtls_stream_global_init(void)
{
	return 0;
}

int
__wrap_git_mbedtls_stream_new(struct git_stream **out, const char *host,
    const char *port)
{
	(void)host;
	(void)port;
	*out = NULL;
	return notls();
}

int
__wrap_git_mbedtls_stream_wrap(struct git_stream **out, struct git_stream *in,
    const char *host)
{
	(void)in;
	(void)host;
	*out = NULL;
	return notls();
}

int
__wrap_git_mbedtls__set_cert_location(const char *file, const char *path)
{
	(void)file;
	(void)path;
	return notls();
}
#endif /* FG_STATIC_GIT2 */
