/*
 * err.c - error codes, messages and diagnostic lists (see err.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "err.h"
#include "banned.h"

static void
scrub(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

int
fg_err_set(struct fg_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	scrub(err->msg);
	return code;
}

int
fg_err_git(struct fg_err *err, int code, const char *fmt, ...)
{
	const git_error *ge = git_error_last();
	va_list ap;
	size_t len;

	if (err == NULL)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	len = strlen(err->msg);
	if (ge != NULL && ge->message != NULL && len < sizeof(err->msg))
		snprintf(err->msg + len, sizeof(err->msg) - len, ": %s",
		    ge->message);
	scrub(err->msg);
	return code;
}

const char *
fg_err_msg(const struct fg_err *err)
{
	return err != NULL ? err->msg : "";
}

const char *
fg_strerror(int code)
{
	switch (code) {
	case FG_OK:		return "ok";
	case FG_ENOMEM:		return "out of memory";
	case FG_EINVALID:	return "invalid";
	case FG_ENOTFOUND:	return "not found";
	case FG_ECONFLICT:	return "conflict";
	case FG_ELIMIT:		return "over limit";
	case FG_EDENIED:	return "denied";
	case FG_EIO:		return "i/o error";
	case FG_EBUSY:		return "busy";
	}
	return "error";
}

void
fg_diags_init(struct fg_diags *d)
{
	memset(d, 0, sizeof(*d));
}

void
fg_diags_release(struct fg_diags *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < d->n; i++)
		free(d->lines[i]);
	free(d->lines);
	fg_diags_init(d);
}

void
fg_diags_vadd(struct fg_diags *d, const char *fmt, va_list ap)
{
	char *line;
	va_list cp;
	int len;

	va_copy(cp, ap);
	len = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (len < 0 || (line = malloc((size_t)len + 1)) == NULL) {
		d->dropped++;
		return;
	}
	vsnprintf(line, (size_t)len + 1, fmt, ap);
	scrub(line);
	if (d->n == d->alloc) {
		size_t na = d->alloc ? d->alloc * 2 : 8;
		char **nl = realloc(d->lines, na * sizeof(*nl));

		if (nl == NULL) {
			free(line);
			d->dropped++;
			return;
		}
		d->lines = nl;
		d->alloc = na;
	}
	d->lines[d->n++] = line;
}

void
fg_diags_add(struct fg_diags *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fg_diags_vadd(d, fmt, ap);
	va_end(ap);
}

size_t
fg_diags_count(const struct fg_diags *d)
{
	return d->n + d->dropped;
}

void
fg_diags_at(struct fg_diags *d, const char *file, unsigned line, unsigned col,
    const char *path, const char *fmt, ...)
{
	char msg[FG_ERR_MSG_MAX], where[64] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0 && col > 0)
		snprintf(where, sizeof(where), ":%u:%u", line, col);
	else if (line > 0)
		snprintf(where, sizeof(where), ":%u", line);
	if (path != NULL && *path != '\0')
		fg_diags_add(d, "%s%s: %s: %s", file, where, path, msg);
	else
		fg_diags_add(d, "%s%s: %s", file, where, msg);
}
