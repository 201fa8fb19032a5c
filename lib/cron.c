/*
 * cron.c - parse cron schedules and find their ticks (see cron.h).
 *
 * Ticks are found by walking local calendar days from the day of the
 * starting instant, and within a matching day the matching hours and
 * minutes in order, mapping each wall-clock time to UTC with the rules for
 * gaps and overlaps.  Those rules make the mapping non-decreasing, so the
 * first mapped time after the start is the next tick.  The calendar
 * arithmetic is proleptic Gregorian on day numbers (days since
 * 1970-01-01), so no libc time function is needed.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"
#include "tz.h"
#include "banned.h"

struct fg_cron {
	uint64_t minute;	/* bit n: minute n */
	uint32_t hour;
	uint32_t dom;		/* bits 1 to 31 */
	uint16_t month;		/* bits 1 to 12 */
	uint8_t dow;		/* bit 0 = Sunday ... bit 6 = Saturday */
	bool dom_star, dow_star;
	struct fg_tz *tz;
};

struct field {
	const char *name;
	int min, max;
	const char *const *names;	/* names[i] is value min + i */
};

static const char *const month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec", NULL
};

static const char *const dow_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL
};

static const struct field fields[5] = {
	{ "minute", 0, 59, NULL },
	{ "hour", 0, 23, NULL },
	{ "day of month", 1, 31, NULL },
	{ "month", 1, 12, month_names },
	{ "day of week", 0, 7, dow_names },
};

/* Read one value (a number or a name) at *s; advance *s past it. */
static int
parse_value(int *out, const char **s, const struct field *f,
    struct fg_err *err)
{
	const char *p = *s;
	long v = 0;
	size_t i, n = 0;

	if (isdigit((unsigned char)*p)) {
		while (isdigit((unsigned char)p[n])) {
			if (v < 1000)
				v = v * 10 + (p[n] - '0');
			n++;
		}
		if (v < f->min || v > f->max)
			return fg_err_set(err, FG_EINVALID, "%s: '%.*s' is out "
			    "of range %d-%d", f->name, (int)(n > 10 ? 10 : n),
			    p, f->min, f->max);
		*out = (int)v;
		*s = p + n;
		return 0;
	}
	while (isalpha((unsigned char)p[n]))
		n++;
	if (n == 0)
		return fg_err_set(err, FG_EINVALID, "%s: expected a number "
		    "at '%.10s'", f->name, p);
	for (i = 0; f->names != NULL && f->names[i] != NULL; i++)
		if (n == 3 && strncasecmp(p, f->names[i], 3) == 0) {
			*out = f->min + (int)i;
			*s = p + n;
			return 0;
		}
	return fg_err_set(err, FG_EINVALID, "%s: unknown name '%.*s'%s",
	    f->name, (int)(n > 10 ? 10 : n), p, f->names == NULL ?
	    ": use numbers" : "");
}

/*
 * Parse one field, text[0..len), into a bit set.  *star is set when the
 * field starts with '*' (what Vixie cron looks at for the day rule).
 */
static int
parse_field(uint64_t *out, bool *star, const char *text, size_t len,
    const struct field *f, struct fg_err *err)
{
	char buf[FG_CRON_MAX_LEN + 1];
	const char *s;
	int lo, hi, step, v, rc;
	uint64_t bits = 0;

	memcpy(buf, text, len);
	buf[len] = '\0';
	*star = buf[0] == '*';
	s = buf;
	for (;;) {
		step = 1;
		if (*s == '*') {
			lo = f->min;
			hi = f->max;
			s++;
		} else {
			rc = parse_value(&lo, &s, f, err);
			if (rc < 0)
				return rc;
			hi = lo;
			if (*s == '-') {
				s++;
				rc = parse_value(&hi, &s, f, err);
				if (rc < 0)
					return rc;
				if (hi < lo)
					return fg_err_set(err, FG_EINVALID,
					    "%s: range '%d-%d' is backwards",
					    f->name, lo, hi);
			} else if (*s == '/') {
				hi = f->max;
			}
		}
		if (*s == '/') {
			long n = 0;

			s++;
			if (!isdigit((unsigned char)*s))
				return fg_err_set(err, FG_EINVALID, "%s: "
				    "expected a step number after '/'",
				    f->name);
			while (isdigit((unsigned char)*s)) {
				if (n < 1000)
					n = n * 10 + (*s - '0');
				s++;
			}
			if (n < 1 || n > f->max)
				return fg_err_set(err, FG_EINVALID, "%s: step "
				    "must be 1 to %d", f->name, f->max);
			step = (int)n;
		}
		for (v = lo; v <= hi; v += step)
			bits |= (uint64_t)1 << v;
		if (*s == '\0')
			break;
		if (*s != ',')
			return fg_err_set(err, FG_EINVALID, "%s: unexpected "
			    "'%c' in '%s'", f->name, *s, buf);
		s++;
	}
	*out = bits;
	return 0;
}

static bool
is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
month_days(int64_t y, int m)
{
	static const int days[] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* Can the day rule ever match?  Only a day-of-month alone can fail. */
static bool
can_fire(const struct fg_cron *c)
{
	int m, d;

	if (c->dom_star || !c->dow_star)
		return true;
	for (m = 1; m <= 12; m++)
		for (d = 1; d <= month_days(2000, m); d++)
			if ((c->month >> m & 1) && (c->dom >> d & 1))
				return true;
	return false;
}

int
fg_cron_parse(struct fg_cron **out, const char *spec, const char *tz,
    struct fg_err *err)
{
	struct fg_cron *c = NULL;
	const char *s = spec, *start[5];
	size_t len[5], n = 0, i;
	uint64_t bits = 0;
	bool star = false;
	int rc;

	*out = NULL;
	if (strlen(spec) > FG_CRON_MAX_LEN)
		return fg_err_set(err, FG_ELIMIT, "cron expression is longer "
		    "than %d bytes", FG_CRON_MAX_LEN);
	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		if (n == 5)
			return fg_err_set(err, FG_EINVALID, "there are more "
			    "than 5 fields: need minute hour day-of-month "
			    "month day-of-week");
		start[n] = s;
		while (*s != '\0' && *s != ' ' && *s != '\t')
			s++;
		len[n] = (size_t)(s - start[n]);
		n++;
	}
	if (n != 5)
		return fg_err_set(err, FG_EINVALID, "there %s %zu field%s: "
		    "need 5 (minute hour day-of-month month day-of-week)",
		    n == 1 ? "is" : "are", n, n == 1 ? "" : "s");
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	for (i = 0; i < 5; i++) {
		rc = parse_field(&bits, &star, start[i], len[i], &fields[i],
		    err);
		if (rc < 0)
			goto out;
		switch (i) {
		case 0: c->minute = bits; break;
		case 1: c->hour = (uint32_t)bits; break;
		case 2: c->dom = (uint32_t)bits; c->dom_star = star; break;
		case 3: c->month = (uint16_t)bits; break;
		default:
			/* 7 is Sunday too. */
			c->dow = (uint8_t)((bits | bits >> 7) & 0x7f);
			c->dow_star = star;
			break;
		}
	}
	if (!can_fire(c)) {
		rc = fg_err_set(err, FG_EINVALID, "never fires: its days of "
		    "the month do not occur in its months");
		goto out;
	}
	rc = fg_tz_load(&c->tz, tz, err);
out:
	if (rc < 0) {
		fg_cron_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void
fg_cron_free(struct fg_cron *c)
{
	if (c == NULL)
		return;
	fg_tz_free(c->tz);
	free(c);
}

static int
offset_at(const struct fg_cron *c, int64_t u)
{
	struct fg_civil cv;

	fg_tz_to_civil(&cv, c->tz, u);
	return cv.utc_offset;
}

/*
 * The UTC instant of local wall-clock time L (seconds since the epoch as
 * if the zone were UTC).  Offsets in effect a day before and a day after
 * give at most two candidates; those that map back to L are real, and the
 * earlier wins (an overlap fires at its first occurrence).  With none, L
 * is in a gap: the answer is the instant the gap ends, found by bisecting
 * between the two candidates for where the offset changes.
 */
static int64_t
resolve(const struct fg_cron *c, int64_t L)
{
	int oa = offset_at(c, L - 86400), ob = offset_at(c, L + 86400);
	int64_t ua = L - oa, ub = L - ob, lo, hi, mid;
	bool va = ua + offset_at(c, ua) == L;
	bool vb = ub + offset_at(c, ub) == L;

	if (va && vb)
		return ua < ub ? ua : ub;
	if (va)
		return ua;
	if (vb)
		return ub;
	lo = ua < ub ? ua : ub;
	hi = ua < ub ? ub : ua;
	if (lo == hi)
		return lo;
	oa = offset_at(c, lo);
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (offset_at(c, mid) == oa)
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

static bool
day_matches(const struct fg_cron *c, int m, int d, int dow)
{
	bool dom = (c->dom >> d & 1) != 0, wd = (c->dow >> dow & 1) != 0;

	if (!(c->month >> m & 1))
		return false;
	if (c->dom_star && c->dow_star)
		return true;
	if (c->dom_star)
		return wd;
	if (c->dow_star)
		return dom;
	return dom || wd;
}

int
fg_cron_next(int64_t *out, const struct fg_cron *c, int64_t after)
{
	struct fg_civil lc;
	int64_t day0, day, y, u;
	int m, d, h, mi, dow;
	long k;

	fg_tz_to_civil(&lc, c->tz, after);
	day0 = days_from_civil(lc.year, lc.month, lc.day);
	/* Start a day early: an overlap can put the next tick there. */
	for (k = -1; k <= FG_CRON_MAX_DAYS; k++) {
		day = day0 + k;
		civil_from_days(day, &y, &m, &d);
		/* 1970-01-01 was a Thursday (4 counting from Sunday = 0). */
		dow = (int)(((day % 7) + 7 + 4) % 7);
		if (!day_matches(c, m, d, dow))
			continue;
		for (h = 0; h < 24; h++) {
			if (!(c->hour >> h & 1))
				continue;
			for (mi = 0; mi < 60; mi++) {
				if (!(c->minute >> mi & 1))
					continue;
				u = resolve(c, day * 86400 + h * 3600 +
				    mi * 60);
				if (u > after) {
					*out = u;
					return 0;
				}
			}
		}
	}
	return FG_ENOTFOUND;
}

int
fg_cron_due(bool *due, int64_t *tick, const struct fg_cron *c, int64_t last,
    int64_t now)
{
	int64_t next;
	int rc;

	*due = false;
	if (last > now) {
		rc = fg_cron_next(&next, c, now);
		if (rc == 0 && tick != NULL)
			*tick = next;
		return rc;
	}
	rc = fg_cron_next(&next, c, last);
	if (rc < 0)
		return rc;
	*due = next <= now;
	if (tick != NULL)
		*tick = next;
	return 0;
}
