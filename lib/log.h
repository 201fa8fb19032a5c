/*
 * log.h - the one logging module (OpenSMTPD's vocabulary).
 *
 * fg_log_warn adds strerror(errno); fg_log_warnx does not; fg_log_info and
 * fg_log_debug are for progress.  Messages are one event per line, written
 * as key=value pairs where that helps grep.  Never log a secret, token,
 * signature or whole payload.  Line breaks in a message become spaces, and
 * other control characters (C0 but tab, DEL, C1) and bytes that are not
 * UTF-8 become '?': what a message quotes from outside cannot forge a line
 * or drive a terminal.
 *
 * The sink is the only global state lib/ keeps: mains install one with
 * fg_log_set_sink() (default: stderr, info and above).  A hook's stderr is
 * the pusher's screen, so hooks keep debug off unless FLOWGATE_DEBUG is set.
 */
#ifndef FG_LOG_H
#define FG_LOG_H

#include "err.h"

enum fg_log_level {
	FG_LOG_WARN = 0,
	FG_LOG_INFO = 1,
	FG_LOG_DEBUG = 2,
};

typedef void (*fg_log_sink_fn)(enum fg_log_level level, const char *line,
    void *payload);

void fg_log_set_sink(fg_log_sink_fn fn, void *payload);
void fg_log_set_level(enum fg_log_level max);
void fg_log_set_prefix(const char *prefix);

void fg_log_warn(const char *fmt, ...) FG_PRINTF(1, 2);
void fg_log_warnx(const char *fmt, ...) FG_PRINTF(1, 2);
void fg_log_info(const char *fmt, ...) FG_PRINTF(1, 2);
void fg_log_debug(const char *fmt, ...) FG_PRINTF(1, 2);

#endif
