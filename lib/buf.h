/*
 * buf.h - a growable byte buffer, after git's strbuf.
 *
 * struct fg_buf is caller-held: fg_buf_init() it (or use FG_BUF_INIT),
 * append, read b->ptr / b->len, then fg_buf_release() it.  b->ptr is always
 * NUL-terminated (the NUL is not counted in len) and never NULL after init,
 * so it can be handed to C string functions even when empty.
 *
 * Appending returns 0 or FG_ENOMEM; on failure the buffer is unchanged.
 * Sizes are checked for overflow before anything is allocated.
 */
#ifndef FG_BUF_H
#define FG_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "err.h"

struct fg_buf {
	char *ptr;
	size_t len;
	size_t alloc;
};

extern char fg_buf_empty[];
#define FG_BUF_INIT { fg_buf_empty, 0, 0 }

void fg_buf_init(struct fg_buf *b);
void fg_buf_release(struct fg_buf *b);
void fg_buf_reset(struct fg_buf *b);
int fg_buf_grow(struct fg_buf *b, size_t extra);
int fg_buf_add(struct fg_buf *b, const void *data, size_t len);
int fg_buf_puts(struct fg_buf *b, const char *s);
int fg_buf_putc(struct fg_buf *b, char c);
int fg_buf_printf(struct fg_buf *b, const char *fmt, ...) FG_PRINTF(2, 3);
int fg_buf_vprintf(struct fg_buf *b, const char *fmt, va_list ap)
    FG_PRINTF(2, 0);
void fg_buf_truncate(struct fg_buf *b, size_t len);

/*
 * Hand the contents to the caller (free() them) and re-init b.  Returns
 * NULL only when allocation fails for an empty buffer.
 */
char *fg_buf_detach(struct fg_buf *b, size_t *len);

#endif
