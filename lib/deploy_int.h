/*
 * deploy_int.h - what lib/deploy.c and lib/deploy_http.c share; not an
 * interface for anything else.
 */
#ifndef FG_DEPLOY_INT_H
#define FG_DEPLOY_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "err.h"

/* The facts a deployment is given, as the command and the POST see them. */
struct fg_httpc;

struct fg_deploy_facts {
	const char *commit;		/* 40 hex digits */
	const char *env;
	const char *stage;
	const char *ref;
	const char *actor;
	const char *run;
};

/* How often an http deployment's status URL is asked, milliseconds. */
#define FG_DEPLOY_POLL_MS	1000

/* Bytes of a response body kept in the log. */
#define FG_DEPLOY_HTTP_BODY_MAX	(16 * 1024)

/*
 * POST the facts to dep->url signed with secret (NULL: unsigned; with
 * dep->poll, then poll it) through httpc (NULL: a client of the call's
 * own) within timeout_secs.  *ok says whether the deployment succeeded; reason
 * (one line) says why not; log gets the status lines and the first bytes
 * of the bodies.  Returns 0 whatever the outcome, FG_ENOMEM only.
 */
int fg_deploy__http(bool *ok, char *reason, size_t rsize, struct fg_buf *log,
    struct fg_httpc *httpc, const struct fg_deploy *dep, const char *secret,
    const struct fg_deploy_facts *f, unsigned timeout_secs);

/* Replace every occurrence of secret in b by "***". */
int fg_deploy__mask(struct fg_buf *b, const char *secret);

#endif
