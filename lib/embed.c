/*
 * embed.c - lookup in the generated table of embedded files (see embed.h).
 */
#include <string.h>

#include "embed.h"
#include "banned.h"

const struct fg_embedded_file *
fg_embedded_find(const char *name)
{
	const struct fg_embedded_file *f;

	for (f = fg_embedded_files; f->name != NULL; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}
