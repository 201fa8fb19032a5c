/*
 * tz.h - civil time in an IANA time zone, without TZ or localtime().
 *
 * Window gates ask "is it Tuesday 09:30 in Europe/Berlin?".  The C library
 * answers that only through the process-wide TZ variable and localtime(),
 * which a daemon running many repositories on several threads cannot
 * share.  This module reads the zone's compiled file from
 * /usr/share/zoneinfo (TZif versions 1 to 4, RFC 8536; the 64-bit section
 * of version 2 and later when present), finds the transition in effect and
 * applies its offset.  Instants after the last transition follow the
 * file's footer, a POSIX TZ string such as "CET-1CEST,M3.5.0,M10.5.0/3";
 * the M.w.d, Jn and n rule forms are understood, which covers every zone
 * tzdata ships.  A footer that cannot be parsed falls back to the offset of
 * the last transition.  Leap-second ("right/") zones are read as if they
 * had no leap seconds.
 *
 * Zone names come from configuration files, so they are checked before any
 * file is opened: a name must be made of letters, digits and "_+-./", must
 * not start with '/' and must not contain "..".  NULL and "UTC" mean UTC
 * without reading a file.
 *
 * Ownership: fg_tz_load() returns a struct fg_tz the caller frees with
 * fg_tz_free().  Thread-safety: a loaded zone is immutable; any number of
 * threads may convert with it at once.  Every function here is reentrant.
 */
#ifndef FG_TZ_H
#define FG_TZ_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

/* Where zone files are looked up. */
#define FG_TZ_DIR "/usr/share/zoneinfo"

/* Largest zone file read; tzdata's biggest is under 4 KB. */
#define FG_TZ_MAX_BYTES (256 * 1024)

/* Longest zone name accepted ("America/Argentina/ComodRivadavia" is 32). */
#define FG_TZ_NAME_MAX 128

struct fg_tz;

/* A moment as the clocks of one zone show it. */
struct fg_civil {
	int year;		/* e.g. 2024 */
	int month;		/* 1 to 12 */
	int day;		/* 1 to 31 */
	int hour;		/* 0 to 23 */
	int minute;		/* 0 to 59 */
	int second;		/* 0 to 59 */
	int wday;		/* 0 = Monday ... 6 = Sunday */
	int utc_offset;		/* seconds east of UTC, e.g. 7200 for CEST */
	bool is_dst;		/* daylight saving time is in effect */
	char abbr[16];		/* "CEST", "+0530", "UTC" */
};

/*
 * Load the zone called name (NULL or "UTC": UTC).  FG_EINVALID for a name
 * that breaks the rules above, FG_ENOTFOUND when the zone does not exist,
 * FG_EINVALID for a file that is not a well-formed TZif file, FG_ELIMIT for
 * one over FG_TZ_MAX_BYTES, FG_ENOMEM.
 */
int fg_tz_load(struct fg_tz **out, const char *name, struct fg_err *err);

/*
 * Load a TZif file from an explicit path, naming it name in messages and
 * in fg_tz_name().  For tests and for systems that keep zones elsewhere.
 */
int fg_tz_load_file(struct fg_tz **out, const char *path, const char *name,
    struct fg_err *err);

void fg_tz_free(struct fg_tz *tz);

/* The zone's name as given to fg_tz_load() ("UTC" for UTC); borrowed. */
const char *fg_tz_name(const struct fg_tz *tz);

/* Convert the UTC instant utc (seconds since the epoch) to civil time. */
void fg_tz_to_civil(struct fg_civil *out, const struct fg_tz *tz,
    int64_t utc);

/*
 * The UTC instant at which the zone's clocks show the given wall-clock
 * time.  Fields out of range are carried arithmetically (day 32 of January
 * is February 1st; hour 24 is midnight of the next day), so callers can
 * step through days without calendar code of their own.  A time that does
 * not exist (skipped by a spring-forward change) or exists twice (repeated
 * in autumn) gets one of the instants next to it.
 */
int64_t fg_tz_from_civil(const struct fg_tz *tz, int year, int month,
    int day, int hour, int minute, int second);

/*
 * Convenience: load the zone called name, convert utc, free the zone.
 * Errors as fg_tz_load().  Loading reads a file, so callers converting
 * many instants should load once.
 */
int fg_tz_civil(struct fg_civil *out, const char *name, int64_t utc,
    struct fg_err *err);

/* "mon" ... "sun" for wday 0 to 6, "?" otherwise. */
const char *fg_tz_wday_name(int wday);

#endif
