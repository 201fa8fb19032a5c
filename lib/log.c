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
	/*
	 * A line may carry text from outside (a ref name, a payload's field,
	 * a path in a pushed commit) to a pusher's terminal or an operator's.
	 */
	len = strlen(line);
	fg_utf8_clean(line, len, line, len, FG_CLEAN_NL_SPACE | FG_CLEAN_TAB);
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
