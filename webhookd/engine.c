/*
 * engine.c - processing inbox deliveries (see engine.h).
 */
#include <stdlib.h>

#include "engine.h"
#include "banned.h"

int
whd_engine_drain(void **cache, const char *repo, const char *path,
    size_t max, size_t *processed, size_t *remaining, struct fg_err *err)
{
	(void)cache;
	(void)repo;
	(void)path;
	(void)max;
	(void)err;
	*processed = 0;
	*remaining = 0;
	return 0;
}

void
whd_engine_close(void *cache)
{
	(void)cache;
}
