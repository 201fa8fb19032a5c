/*
 * log.c - logging to a sink the main installs (see log.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "util.h"
#include "banned.h"

static fg_log_sink_fn sink;
static void *sink_payload;
static enum fg_log_level max_level = FG_LOG_INFO;
static const char *prefix = "flowgate";

void
fg_log_set_sink(fg_log_sink_fn fn, void *payload)
{
	sink = fn;
	sink_payload = payload;
}

void
fg_log_set_level(enum fg_log_level max)
{
	max_level = max;
}

void
fg_log_set_prefix(const char *p)
{
	prefix = p;
}

/*
 * A line may carry text from outside (a ref name, a payload's field, a path
 * in a pushed commit) to a pusher's terminal or an operator's: line breaks
 * become spaces, other control characters (C0 but tab, DEL, C1) and bytes
 * that are not UTF-8 become '?'.  In place: the line only shrinks.
 */
static void
clean_line(char *line)
{
	size_t len = strlen(line), i = 0, o = 0, n;
	unsigned char c;

	while (i < len) {
		c = (unsigned char)line[i];
		n = fg_utf8_char_len(line + i, len - i);
		if (n == 1 && (c == '\n' || c == '\r'))
			line[o++] = ' ';
		else if (n == 0 || (c != '\t' &&
		    fg_utf8_is_control(line + i, n)))
			line[o++] = '?';
		else {
			memmove(line + o, line + i, n);
			o += n;
		}
		i += n > 0 ? n : 1;
	}
	line[o] = '\0';
}

static void
vlog(enum fg_log_level level, int with_errno, const char *fmt, va_list ap)
{
	char line[2048];
	size_t len;
	int saved = errno;

	if (level > max_level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	len = strlen(line);
	if (with_errno && len < sizeof(line))
		snprintf(line + len, sizeof(line) - len, ": %s", strerror(saved));
	clean_line(line);
	if (sink != NULL)
		sink(level, line, sink_payload);
	else
		fprintf(stderr, "%s: %s\n", prefix, line);
	errno = saved;
}

#define FG_LOG_FN(name, level, with_errno)			\
void								\
name(const char *fmt, ...)					\
{								\
	va_list ap;						\
								\
	va_start(ap, fmt);					\
	vlog(level, with_errno, fmt, ap);			\
	va_end(ap);						\
}

FG_LOG_FN(fg_log_warn, FG_LOG_WARN, 1)
FG_LOG_FN(fg_log_warnx, FG_LOG_WARN, 0)
FG_LOG_FN(fg_log_info, FG_LOG_INFO, 0)
FG_LOG_FN(fg_log_debug, FG_LOG_DEBUG, 0)
