/*
 * buf.c - growable byte buffer (see buf.h).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "banned.h"

char fg_buf_empty[1];

void
fg_buf_init(struct fg_buf *b)
{
	b->ptr = fg_buf_empty;
	b->len = 0;
	b->alloc = 0;
}

void
fg_buf_release(struct fg_buf *b)
{
	if (b == NULL)
		return;
	if (b->alloc)
		free(b->ptr);
	fg_buf_init(b);
}

void
fg_buf_reset(struct fg_buf *b)
{
	fg_buf_truncate(b, 0);
}

void
fg_buf_truncate(struct fg_buf *b, size_t len)
{
	if (len < b->len && b->alloc) {
		b->len = len;
		b->ptr[len] = '\0';
	}
}

int
fg_buf_grow(struct fg_buf *b, size_t extra)
{
	size_t want, na;
	char *np;

	if (extra > SIZE_MAX - b->len - 1)
		return FG_ENOMEM;
	want = b->len + extra + 1;
	if (want <= b->alloc)
		return 0;
	na = b->alloc ? b->alloc : 64;
	while (na < want)
		na = na > SIZE_MAX / 2 ? want : na * 2;
	np = realloc(b->alloc ? b->ptr : NULL, na);
	if (np == NULL)
		return FG_ENOMEM;
	if (!b->alloc)
		np[0] = '\0';
	b->ptr = np;
	b->alloc = na;
	return 0;
}

int
fg_buf_add(struct fg_buf *b, const void *data, size_t len)
{
	if (fg_buf_grow(b, len) < 0)
		return FG_ENOMEM;
	if (len)
		memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
	return 0;
}

int
fg_buf_puts(struct fg_buf *b, const char *s)
{
	return fg_buf_add(b, s, strlen(s));
}

int
fg_buf_putc(struct fg_buf *b, char c)
{
	return fg_buf_add(b, &c, 1);
}

int
fg_buf_vprintf(struct fg_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int len;

	va_copy(cp, ap);
	len = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (len < 0)
		return FG_EINVALID;
	if (fg_buf_grow(b, (size_t)len) < 0)
		return FG_ENOMEM;
	vsnprintf(b->ptr + b->len, (size_t)len + 1, fmt, ap);
	b->len += (size_t)len;
	return 0;
}

int
fg_buf_printf(struct fg_buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = fg_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

char *
fg_buf_detach(struct fg_buf *b, size_t *len)
{
	char *p;

	if (len != NULL)
		*len = b->len;
	if (!b->alloc) {
		p = malloc(1);
		if (p != NULL)
			p[0] = '\0';
		return p;
	}
	p = b->ptr;
	fg_buf_init(b);
	return p;
}
