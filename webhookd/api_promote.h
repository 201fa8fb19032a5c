/*
 * api_promote.h - the promotion endpoints of the REST API (promote,
 * approve, rollback), routed from api.c.  See api_promote.c.
 */
#ifndef FG_WHD_API_PROMOTE_H
#define FG_WHD_API_PROMOTE_H

#include <stdbool.h>

#include "settings.h"
#include "whd.h"

/* True when sub (the path after repos/{owner}/{name}/) is ours. */
bool whd_api_promote_route(const char *sub);

/*
 * Answer r: repo is "owner/name" (checked), role and tname the bearer
 * token's.  Ends in exactly one reply, now or from the pool or inbox.
 */
void whd_api_promote(struct whd_req *r, const char *repo, const char *sub,
    enum fg_role role, const char *tname);

#endif
