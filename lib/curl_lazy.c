/*
 * curl_lazy.c - libcurl, loaded the first time it is used.
 *
 * Only HTTP deployments, flow steps and the webhook daemon's HTTP client
 * talk HTTP, yet a program linked with -lcurl pays for libcurl at every
 * start: Debian's libcurl4 (OpenSSL flavour) brings some twenty shared
 * libraries (nghttp2, rtmp, ssh2, gnutls, ldap, sasl2, krb5, idn2, psl,
 * ...) that the dynamic loader maps, relocates and faults in before main()
 * runs, whether or not a request is ever made.  flowgate's programs are
 * started often and briefly (git runs the hook on every push, scripts run
 * the CLI), so the Makefile links this file in place of -lcurl: it defines
 * the curl functions the code base calls as forwarders that open
 * libcurl.so.4 once (pthread_once), look every function up, and call the
 * real one.  It is not in lib/libflowgate.a (like lib/nocerts.c): the
 * programs, tests and benchmarks link it, and another user of the library
 * may link -lcurl instead.
 *
 * Measured with 'perf stat -r 50 cli/flowgate --version' on the 2-core
 * development machine (load average 4.5, so CPU time and page faults are
 * the numbers to trust; wall time moved with the load):
 *
 *                                 shared libs  task-clock  page faults
 *     -lcurl, all shared               41        8.3 ms        563
 *     -lcurl, libgit2 linked in        34        5.6 ms        619
 *     curl_lazy.c, all shared          21        4.0 ms        318
 *     curl_lazy.c, libgit2 linked in    4        0.8 ms        176
 *
 * (the Makefile's STATIC=0 and STATIC=1).  libcurl is most of it: linking
 * libgit2 in saves little while libcurl still brings OpenSSL and Kerberos.
 *
 * Only the functions flowgate calls are forwarded: code that starts
 * calling another fails to link (no -lcurl), which says to add it here.
 *
 * Variadic functions.  curl_easy_setopt() and curl_multi_setopt() take
 * one argument whose type the option number says: curl reads it by the
 * option's range (CURLOPTTYPE_LONG, OBJECTPOINT, FUNCTIONPOINT, OFF_T,
 * BLOB; lib/setopt.c and lib/multi.c in curl), and so does this file,
 * passing it on as that type.  curl_easy_getinfo() always takes a pointer.
 * CURL_DISABLE_TYPECHECK turns off curl.h's gcc macros that would
 * otherwise rename these functions' calls in this file.
 *
 * When libcurl cannot be loaded (not installed, or a test asked for a
 * name that does not exist) nothing aborts: the init functions return
 * NULL or CURLE_FAILED_INIT, the others fail alike, and
 * curl_easy_strerror(), curl_multi_strerror() and curl_version() return
 * the loader's reason ("cannot load libcurl.so.4: ..."), so the callers'
 * existing error messages ("cannot start libcurl: ...") name it.
 *
 * FLOWGATE_LIBCURL, when set, is the file name to load instead of
 * libcurl.so.4.  It exists for tests (tests/unit/test_curl_lazy.c sets a
 * name that does not exist to see the failure path).  It is honoured only
 * when it is a bare name beginning with "libcurl" (no '/'), so it can
 * point at no library outside the loader's own search path.
 */
#define CURL_DISABLE_TYPECHECK 1

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "banned.h"

#define CURL_LAZY_SONAME "libcurl.so.4"

typedef void (*curl_lazy_fn)(void);

/* The real functions, found by dlsym(). */
static struct {
	CURLcode (*global_init)(long);
	void (*global_cleanup)(void);
	char *(*version)(void);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	void (*easy_cleanup)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	const char *(*easy_strerror)(CURLcode);
	char *(*easy_escape)(CURL *, const char *, int);
	void (*free)(void *);
	struct curl_slist *(*slist_append)(struct curl_slist *,
	    const char *);
	void (*slist_free_all)(struct curl_slist *);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_cleanup)(CURLM *);
	CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
	CURLMcode (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
	CURLMcode (*multi_assign)(CURLM *, curl_socket_t, void *);
	CURLMsg *(*multi_info_read)(CURLM *, int *);
	const char *(*multi_strerror)(CURLMcode);
} real;

/* Each entry: the symbol and where its address goes. */
#define CURL_LAZY_SYM(field, name) { name, (void *)&real.field }
static const struct {
	const char *name;
	void *slot;
} curl_lazy_syms[] = {
	CURL_LAZY_SYM(global_init, "curl_global_init"),
	CURL_LAZY_SYM(global_cleanup, "curl_global_cleanup"),
	CURL_LAZY_SYM(version, "curl_version"),
	CURL_LAZY_SYM(easy_init, "curl_easy_init"),
	CURL_LAZY_SYM(easy_setopt, "curl_easy_setopt"),
	CURL_LAZY_SYM(easy_cleanup, "curl_easy_cleanup"),
	CURL_LAZY_SYM(easy_getinfo, "curl_easy_getinfo"),
	CURL_LAZY_SYM(easy_strerror, "curl_easy_strerror"),
	CURL_LAZY_SYM(easy_escape, "curl_easy_escape"),
	CURL_LAZY_SYM(free, "curl_free"),
	CURL_LAZY_SYM(slist_append, "curl_slist_append"),
	CURL_LAZY_SYM(slist_free_all, "curl_slist_free_all"),
	CURL_LAZY_SYM(multi_init, "curl_multi_init"),
	CURL_LAZY_SYM(multi_cleanup, "curl_multi_cleanup"),
	CURL_LAZY_SYM(multi_setopt, "curl_multi_setopt"),
	CURL_LAZY_SYM(multi_add_handle, "curl_multi_add_handle"),
	CURL_LAZY_SYM(multi_remove_handle, "curl_multi_remove_handle"),
	CURL_LAZY_SYM(multi_socket_action, "curl_multi_socket_action"),
	CURL_LAZY_SYM(multi_assign, "curl_multi_assign"),
	CURL_LAZY_SYM(multi_info_read, "curl_multi_info_read"),
	CURL_LAZY_SYM(multi_strerror, "curl_multi_strerror"),
};

static pthread_once_t curl_lazy_once = PTHREAD_ONCE_INIT;
static int curl_lazy_ok;
static char curl_lazy_why[512];

static const char *
curl_lazy_name(void)
{
	const char *name = getenv("FLOWGATE_LIBCURL");

	if (name == NULL || strncmp(name, "libcurl", 7) != 0 ||
	    strchr(name, '/') != NULL)
		return CURL_LAZY_SONAME;
	return name;
}

/*
 * Open libcurl and find every function, or say why not in curl_lazy_why.
 * The handle is never closed: libcurl keeps threads and atexit handlers.
 */
static void
curl_lazy_load(void)
{
	const char *name = curl_lazy_name();
	void *h, *sym;
	size_t i;

	h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *e = dlerror();

		snprintf(curl_lazy_why, sizeof(curl_lazy_why),
		    "cannot load %s: %s", name, e != NULL ? e : "unknown error");
		return;
	}
	for (i = 0; i < sizeof(curl_lazy_syms) / sizeof(curl_lazy_syms[0]);
	    i++) {
		sym = dlsym(h, curl_lazy_syms[i].name);
		if (sym == NULL) {
			snprintf(curl_lazy_why, sizeof(curl_lazy_why),
			    "cannot load %s: it has no %s", name,
			    curl_lazy_syms[i].name);
			memset(&real, 0, sizeof(real));
			return;
		}
		memcpy(curl_lazy_syms[i].slot, &sym, sizeof(sym));
	}
	curl_lazy_ok = 1;
}

/* Nonzero once libcurl is loaded; loads it on the first call. */
static int
curl_lazy(void)
{
	pthread_once(&curl_lazy_once, curl_lazy_load);
	return curl_lazy_ok;
}

CURLcode
curl_global_init(long flags)
{
	if (!curl_lazy())
		return CURLE_FAILED_INIT;
	return real.global_init(flags);
}

void
curl_global_cleanup(void)
{
	if (curl_lazy())
		real.global_cleanup();
}

char *
curl_version(void)
{
	if (!curl_lazy())
		return curl_lazy_why;
	return real.version();
}

CURL *
curl_easy_init(void)
{
	if (!curl_lazy())
		return NULL;
	return real.easy_init();
}

/*
 * The argument's type is the option's range, as curl's own setopt reads
 * it.  An option past the known ranges is refused as curl refuses it.
 */
CURLcode
curl_easy_setopt(CURL *c, CURLoption opt, ...)
{
	va_list ap;
	CURLcode rc;

	if (!curl_lazy())
		return CURLE_FAILED_INIT;
	va_start(ap, opt);
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		rc = real.easy_setopt(c, opt, va_arg(ap, long));
	else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		rc = real.easy_setopt(c, opt, va_arg(ap, void *));
	else if (opt < CURLOPTTYPE_OFF_T)
		rc = real.easy_setopt(c, opt, va_arg(ap, curl_lazy_fn));
	else if (opt < CURLOPTTYPE_BLOB)
		rc = real.easy_setopt(c, opt, va_arg(ap, curl_off_t));
	else if (opt < CURLOPTTYPE_BLOB + 10000)
		rc = real.easy_setopt(c, opt, va_arg(ap, struct curl_blob *));
	else
		rc = CURLE_UNKNOWN_OPTION;
	va_end(ap);
	return rc;
}


void
curl_easy_cleanup(CURL *c)
{
	if (curl_lazy())
		real.easy_cleanup(c);
}

/* Every CURLINFO type (string, long, double, slist, socket, off_t) is
 * passed as a pointer to where the answer goes. */
CURLcode
curl_easy_getinfo(CURL *c, CURLINFO info, ...)
{
	va_list ap;
	void *p;

	if (!curl_lazy())
		return CURLE_FAILED_INIT;
	va_start(ap, info);
	p = va_arg(ap, void *);
	va_end(ap);
	return real.easy_getinfo(c, info, p);
}



const char *
curl_easy_strerror(CURLcode code)
{
	if (!curl_lazy())
		return curl_lazy_why;
	return real.easy_strerror(code);
}

char *
curl_easy_escape(CURL *c, const char *s, int len)
{
	if (!curl_lazy())
		return NULL;
	return real.easy_escape(c, s, len);
}


void
curl_free(void *p)
{
	/* Nothing curl allocated exists when it could not be loaded. */
	if (curl_lazy())
		real.free(p);
}

struct curl_slist *
curl_slist_append(struct curl_slist *list, const char *s)
{
	if (!curl_lazy())
		return NULL;
	return real.slist_append(list, s);
}

void
curl_slist_free_all(struct curl_slist *list)
{
	if (curl_lazy())
		real.slist_free_all(list);
}

CURLM *
curl_multi_init(void)
{
	if (!curl_lazy())
		return NULL;
	return real.multi_init();
}

CURLMcode
curl_multi_cleanup(CURLM *m)
{
	if (!curl_lazy())
		return CURLM_BAD_HANDLE;
	return real.multi_cleanup(m);
}

CURLMcode
curl_multi_setopt(CURLM *m, CURLMoption opt, ...)
{
	va_list ap;
	CURLMcode rc;

	if (!curl_lazy())
		return CURLM_BAD_HANDLE;
	va_start(ap, opt);
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		rc = real.multi_setopt(m, opt, va_arg(ap, long));
	else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		rc = real.multi_setopt(m, opt, va_arg(ap, void *));
	else if (opt < CURLOPTTYPE_OFF_T)
		rc = real.multi_setopt(m, opt, va_arg(ap, curl_lazy_fn));
	else if (opt < CURLOPTTYPE_BLOB)
		rc = real.multi_setopt(m, opt, va_arg(ap, curl_off_t));
	else
		rc = CURLM_UNKNOWN_OPTION;
	va_end(ap);
	return rc;
}

CURLMcode
curl_multi_add_handle(CURLM *m, CURL *c)
{
	if (!curl_lazy())
		return CURLM_BAD_HANDLE;
	return real.multi_add_handle(m, c);
}

CURLMcode
curl_multi_remove_handle(CURLM *m, CURL *c)
{
	if (!curl_lazy())
		return CURLM_BAD_HANDLE;
	return real.multi_remove_handle(m, c);
}

CURLMcode
curl_multi_socket_action(CURLM *m, curl_socket_t s, int ev_bitmask,
    int *running)
{
	if (!curl_lazy())
		return CURLM_BAD_HANDLE;
	return real.multi_socket_action(m, s, ev_bitmask, running);
}

CURLMcode
curl_multi_assign(CURLM *m, curl_socket_t s, void *p)
{
	if (!curl_lazy())
		return CURLM_BAD_HANDLE;
	return real.multi_assign(m, s, p);
}

CURLMsg *
curl_multi_info_read(CURLM *m, int *left)
{
	if (!curl_lazy()) {
		if (left != NULL)
			*left = 0;
		return NULL;
	}
	return real.multi_info_read(m, left);
}






const char *
curl_multi_strerror(CURLMcode code)
{
	if (!curl_lazy())
		return curl_lazy_why;
	return real.multi_strerror(code);
}
