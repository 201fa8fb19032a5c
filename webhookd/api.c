/*
 * api.c - the REST API under /api/v1/ (placeholder until the store).
 */
#include "whd.h"
#include "banned.h"

void
whd_api_handle(struct whd_req *r, const char *rest)
{
	(void)rest;
	whd_reply_error(r, 404, "not_found", "no such route");
}
