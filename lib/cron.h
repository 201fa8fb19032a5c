/*
 * cron.h - five-field cron schedules in an IANA time zone.
 *
 * A schedule trigger says when a flow runs: "0 2 * * *" in Europe/Berlin
 * is two in the morning by Berlin's clocks, summer and winter.  The fields
 * are, in order:
 *
 *   minute        0-59
 *   hour          0-23
 *   day of month  1-31
 *   month         1-12 or jan-dec
 *   day of week   0-7 or sun-sat (0 and 7 are both Sunday)
 *
 * Each field is a comma-separated list of items; an item is "*", a value
 * or a range "a-b", optionally followed by a step "/n": "0-59/15" is
 * every quarter hour, as is "*" followed by "/15"; "5/10" means
 * "5-59/10".  Names are accepted in any case.
 *
 * Day of month and day of week follow Vixie cron: when both are
 * restricted (neither starts with '*'), a day matches if EITHER matches
 * ("0 0 1 * mon" runs on the 1st and on every Monday); when one starts
 * with '*', only the other decides.
 *
 * Times are wall-clock times in the zone, with two rules for the days
 * clocks change:
 *   - A time that does not exist (skipped by a spring-forward change, say
 *     02:30 in Berlin on the last Sunday of March) fires at the first
 *     instant after the gap (03:00 CEST), once, however many scheduled
 *     times fell into the gap.
 *   - A time that exists twice (repeated in autumn) fires once, at its
 *     first occurrence.
 *
 * Missed ticks: a daemon that was down asks fg_cron_due() with the time of
 * the last run; however many ticks passed meanwhile, the answer is "due"
 * once, and after the caller records the run at "now", not due again until
 * the next tick.
 *
 * Ownership: fg_cron_parse() returns a schedule the caller frees with
 * fg_cron_free(); it holds its loaded zone.  Thread-safety: a parsed
 * schedule is immutable; share it between threads freely.
 */
#ifndef FG_CRON_H
#define FG_CRON_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

/* Longest cron text accepted. */
#define FG_CRON_MAX_LEN 256

/*
 * How far fg_cron_next() searches: 9 years of days, enough for any
 * schedule that can fire at all ("0 0 29 2 *" waits at most 8 years).
 */
#define FG_CRON_MAX_DAYS (9 * 366)

struct fg_cron;

/*
 * Parse spec in the zone tz (NULL or "UTC": UTC).  Errors (FG_EINVALID
 * unless said) name the field: "hour: '24' is out of range 0-23",
 * "day of week: unknown name 'mo'", "there are 4 fields: need 5 (minute
 * hour day-of-month month day-of-week)", "never fires: its days of the
 * month do not occur in its months" (30 February and the like); the zone's errors come
 * from fg_tz_load() (FG_ENOTFOUND for an unknown zone).
 */
int fg_cron_parse(struct fg_cron **out, const char *spec, const char *tz,
    struct fg_err *err);

void fg_cron_free(struct fg_cron *c);

/*
 * The first tick strictly after the instant after (seconds since the
 * epoch, UTC), into *out.  FG_ENOTFOUND when there is none within
 * FG_CRON_MAX_DAYS (cannot happen for a schedule fg_cron_parse accepted,
 * except at the end of time).
 */
int fg_cron_next(int64_t *out, const struct fg_cron *c, int64_t after);

/*
 * Whether a run is due at now, given the time of the last run (or, for a
 * flow that never ran, the time the schedule was created).  *due is true
 * when a tick fell in (last, now]; *tick (may be NULL) then gets the first
 * such tick, else the next one after now.  However many ticks were missed,
 * the caller runs once and records now as the new last run.  A last run in
 * the future (a clock stepped back) is never due.
 */
int fg_cron_due(bool *due, int64_t *tick, const struct fg_cron *c,
    int64_t last, int64_t now);

#endif
