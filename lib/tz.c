/*
 * tz.c - civil time from TZif files, without TZ or localtime (see tz.h).
 *
 * The file format is RFC 8536.  A zone becomes a sorted array of transition
 * instants, each naming a local time type (offset, DST flag, abbreviation),
 * plus an optional POSIX rule for instants after the last transition.  All
 * calendar arithmetic is done on days since the epoch with Howard Hinnant's
 * algorithms, in 64-bit integers, so no libc time function is needed.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tz.h"
#include "util.h"
#include "banned.h"

/* RFC 8536 caps: more types or abbreviation bytes mean a corrupt file. */
#define TZIF_MAX_TYPES 256
#define TZIF_MAX_CHARS 256
#define TZIF_HEADER 44

/* POSIX allows rule times up to 24 hours; RFC 8536 extends it to 167. */
#define RULE_MAX_HOURS 167

struct tz_type {
	int32_t utoff;
	bool isdst;
	char abbr[16];
};

enum rule_kind {
	RULE_JULIAN,		/* Jn: 1 to 365, February 29 never counted */
	RULE_DAY,		/* n: 0 to 365, February 29 counted */
	RULE_MONTH,		/* Mm.w.d: day d of week w of month m */
};

struct rule_date {
	enum rule_kind kind;
	int day;		/* JULIAN, DAY */
	int month, week, wday;	/* MONTH; wday 0 = Sunday as POSIX has it */
	int32_t time;		/* seconds after local midnight, may be < 0 */
};

struct posix_rule {
	struct tz_type std, dst;
	struct rule_date start, end;
};

struct fg_tz {
	char *name;
	int64_t *trans;
	uint8_t *idx;
	size_t ntrans;
	struct tz_type *types;
	size_t ntypes;
	bool has_rule;		/* the footer's rule applies after trans[] */
	bool rule_has_dst;
	struct posix_rule rule;
};

struct tzif_header {
	int version;		/* 1, 2, 3 or 4 */
	uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static const char *const wday_names[] = {
	"mon", "tue", "wed", "thu", "fri", "sat", "sun",
};

static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/*
 * Days since 1970-01-01 of a proleptic Gregorian date.  Linear in d, so a
 * day past the end of the month carries into the next one.
 */
static int64_t
days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	/* Bring the month into 1..12 first, carrying into the year. */
	y += floor_div(m - 1, 12);
	m = m - 1 - floor_div(m - 1, 12) * 12 + 1;
	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static bool
is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int64_t
be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static bool
name_is_valid(const char *name)
{
	const char *p;

	if (name[0] == '\0' || name[0] == '/' || strstr(name, "..") != NULL ||
	    strlen(name) > FG_TZ_NAME_MAX)
		return false;
	for (p = name; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("_+-./", *p) == NULL)
			return false;
	return true;
}

static int
parse_header(struct tzif_header *h, const unsigned char *p, size_t len)
{
	if (len < TZIF_HEADER || memcmp(p, "TZif", 4) != 0)
		return -1;
	if (p[4] == '\0')
		h->version = 1;
	else if (p[4] >= '2' && p[4] <= '4')
		h->version = p[4] - '0';
	else
		return -1;
	h->isutcnt = be32(p + 20);
	h->isstdcnt = be32(p + 24);
	h->leapcnt = be32(p + 28);
	h->timecnt = be32(p + 32);
	h->typecnt = be32(p + 36);
	h->charcnt = be32(p + 40);
	if (h->typecnt == 0 || h->typecnt > TZIF_MAX_TYPES ||
	    h->charcnt > TZIF_MAX_CHARS)
		return -1;
	return 0;
}

/* Bytes of the data block after a header; tsize is 4 (v1) or 8. */
static uint64_t
block_size(const struct tzif_header *h, unsigned tsize)
{
	return (uint64_t)h->timecnt * tsize + h->timecnt +
	    (uint64_t)h->typecnt * 6 + h->charcnt +
	    (uint64_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

/*
 * Copy one data block into tz.  The RFC requires ascending transitions
 * and type indexes in range; binary search depends on both, so a file
 * breaking either is refused rather than half-trusted.
 */
static int
read_block(struct fg_tz *tz, const struct tzif_header *h,
    const unsigned char *p, unsigned tsize)
{
	const unsigned char *types, *chars;
	size_t i;

	tz->ntrans = h->timecnt;
	tz->ntypes = h->typecnt;
	tz->trans = calloc(tz->ntrans + 1, sizeof(*tz->trans));
	tz->idx = calloc(tz->ntrans + 1, 1);
	tz->types = calloc(tz->ntypes, sizeof(*tz->types));
	if (tz->trans == NULL || tz->idx == NULL || tz->types == NULL)
		return FG_ENOMEM;
	for (i = 0; i < tz->ntrans; i++) {
		tz->trans[i] = tsize == 8 ? be64(p + i * 8) :
		    (int64_t)(int32_t)be32(p + i * 4);
		if (i > 0 && tz->trans[i] <= tz->trans[i - 1])
			return FG_EINVALID;
	}
	p += (size_t)h->timecnt * tsize;
	for (i = 0; i < tz->ntrans; i++) {
		tz->idx[i] = p[i];
		if (p[i] >= h->typecnt)
			return FG_EINVALID;
	}
	types = p + h->timecnt;
	chars = types + (size_t)h->typecnt * 6;
	for (i = 0; i < tz->ntypes; i++) {
		const unsigned char *t = types + i * 6;
		size_t d = t[5], n = 0;

		tz->types[i].utoff = (int32_t)be32(t);
		tz->types[i].isdst = t[4] != 0;
		if (tz->types[i].utoff < -25 * 3600 ||
		    tz->types[i].utoff > 26 * 3600)
			return FG_EINVALID;
		if (d >= h->charcnt && h->charcnt > 0)
			return FG_EINVALID;
		while (d + n < h->charcnt && chars[d + n] != '\0' &&
		    n + 1 < sizeof(tz->types[i].abbr)) {
			tz->types[i].abbr[n] = (char)chars[d + n];
			n++;
		}
		tz->types[i].abbr[n] = '\0';
	}
	return 0;
}

/*
 * A POSIX TZ abbreviation: three or more letters, or anything of
 * [A-Za-z0-9+-] inside angle brackets ("<+0530>").
 */
static bool
rule_name(const char **s, char *abbr, size_t size)
{
	const char *p = *s, *start;
	size_t n;

	if (*p == '<') {
		start = ++p;
		while (isalnum((unsigned char)*p) || *p == '+' || *p == '-')
			p++;
		if (*p != '>')
			return false;
		n = (size_t)(p - start);
		p++;
	} else {
		start = p;
		while (isalpha((unsigned char)*p))
			p++;
		n = (size_t)(p - start);
		if (n < 3)
			return false;
	}
	if (n == 0 || n >= size)
		return false;
	memcpy(abbr, start, n);
	abbr[n] = '\0';
	*s = p;
	return true;
}

static bool
rule_number(const char **s, long min, long max, long *out)
{
	const char *p = *s;
	long v = 0;

	if (!isdigit((unsigned char)*p))
		return false;
	while (isdigit((unsigned char)*p)) {
		v = v * 10 + (*p - '0');
		if (v > max)
			return false;
		p++;
	}
	if (v < min)
		return false;
	*out = v;
	*s = p;
	return true;
}

/* [+-]hh[:mm[:ss]] in seconds, hours up to maxh. */
static bool
rule_hms(const char **s, long maxh, int32_t *out)
{
	const char *p = *s;
	long h, m = 0, sec = 0, sign = 1;

	if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		p++;
	}
	if (!rule_number(&p, 0, maxh, &h))
		return false;
	if (*p == ':') {
		p++;
		if (!rule_number(&p, 0, 59, &m))
			return false;
		if (*p == ':') {
			p++;
			if (!rule_number(&p, 0, 59, &sec))
				return false;
		}
	}
	*out = (int32_t)(sign * (h * 3600 + m * 60 + sec));
	*s = p;
	return true;
}

static bool
rule_date(const char **s, struct rule_date *d)
{
	const char *p = *s;
	long a, b, c;

	if (*p == 'J') {
		p++;
		if (!rule_number(&p, 1, 365, &a))
			return false;
		d->kind = RULE_JULIAN;
		d->day = (int)a;
	} else if (*p == 'M') {
		p++;
		if (!rule_number(&p, 1, 12, &a) || *p++ != '.' ||
		    !rule_number(&p, 1, 5, &b) || *p++ != '.' ||
		    !rule_number(&p, 0, 6, &c))
			return false;
		d->kind = RULE_MONTH;
		d->month = (int)a;
		d->week = (int)b;
		d->wday = (int)c;
	} else {
		if (!rule_number(&p, 0, 365, &a))
			return false;
		d->kind = RULE_DAY;
		d->day = (int)a;
	}
	d->time = 2 * 3600;
	if (*p == '/') {
		p++;
		if (!rule_hms(&p, RULE_MAX_HOURS, &d->time))
			return false;
	}
	*s = p;
	return true;
}

/*
 * Parse the footer's TZ string.  Returns false for anything but the
 * complete forms "STDoff" and "STDoffDST[off],start,end"; the caller then
 * keeps the last transition's offset, which is right until the next rule
 * change anyway.  POSIX offsets count west of UTC, hence the negations.
 */
static bool
parse_rule(struct fg_tz *tz, const char *s)
{
	struct posix_rule *r = &tz->rule;
	int32_t off;

	if (!rule_name(&s, r->std.abbr, sizeof(r->std.abbr)) ||
	    !rule_hms(&s, 24, &off))
		return false;
	r->std.utoff = -off;
	r->std.isdst = false;
	if (*s == '\0') {
		tz->rule_has_dst = false;
		return true;
	}
	if (!rule_name(&s, r->dst.abbr, sizeof(r->dst.abbr)))
		return false;
	r->dst.isdst = true;
	r->dst.utoff = r->std.utoff + 3600;
	if (*s != ',' && *s != '\0') {
		if (!rule_hms(&s, 24, &off))
			return false;
		r->dst.utoff = -off;
	}
	/* No rule: POSIX leaves the dates to the implementation. */
	if (*s++ != ',' || !rule_date(&s, &r->start) || *s++ != ',' ||
	    !rule_date(&s, &r->end) || *s != '\0')
		return false;
	tz->rule_has_dst = true;
	return true;
}

static void
read_footer(struct fg_tz *tz, const unsigned char *p, size_t len)
{
	char text[128];
	size_t n;

	if (len < 2 || p[0] != '\n')
		return;
	for (n = 1; n < len && p[n] != '\n'; n++)
		;
	if (n >= len || n - 1 >= sizeof(text) || n == 1)
		return;
	memcpy(text, p + 1, n - 1);
	text[n - 1] = '\0';
	tz->has_rule = parse_rule(tz, text);
}

static int
parse_tzif(struct fg_tz *tz, const unsigned char *p, size_t len)
{
	struct tzif_header h;
	uint64_t size;
	int rc;

	if (parse_header(&h, p, len) != 0)
		return FG_EINVALID;
	size = block_size(&h, 4);
	if (size > len - TZIF_HEADER)
		return FG_EINVALID;
	if (h.version == 1)
		return read_block(tz, &h, p + TZIF_HEADER, 4);
	/* Version 2+: skip the 32-bit block, use the 64-bit one. */
	p += TZIF_HEADER + size;
	len -= TZIF_HEADER + size;
	if (parse_header(&h, p, len) != 0 || h.version < 2)
		return FG_EINVALID;
	size = block_size(&h, 8);
	if (size > len - TZIF_HEADER)
		return FG_EINVALID;
	rc = read_block(tz, &h, p + TZIF_HEADER, 8);
	if (rc != 0)
		return rc;
	read_footer(tz, p + TZIF_HEADER + size, len - TZIF_HEADER - size);
	return 0;
}

static struct fg_tz *
tz_new(const char *name)
{
	struct fg_tz *tz = calloc(1, sizeof(*tz));

	if (tz == NULL)
		return NULL;
	tz->name = fg_strdup(name);
	if (tz->name == NULL) {
		free(tz);
		return NULL;
	}
	return tz;
}

static int
load_utc(struct fg_tz **out, struct fg_err *err)
{
	struct fg_tz *tz = tz_new("UTC");

	if (tz == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	tz->types = calloc(1, sizeof(*tz->types));
	if (tz->types == NULL) {
		fg_tz_free(tz);
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	}
	tz->ntypes = 1;
	memcpy(tz->types[0].abbr, "UTC", 4);
	*out = tz;
	return 0;
}

int
fg_tz_load_file(struct fg_tz **out, const char *path, const char *name,
    struct fg_err *err)
{
	struct fg_buf b = FG_BUF_INIT;
	struct fg_tz *tz = NULL;
	int rc;

	*out = NULL;
	rc = fg_read_file(&b, path, FG_TZ_MAX_BYTES, err);
	if (rc == FG_ENOTFOUND) {
		fg_err_set(err, rc, "unknown time zone '%s' (no file '%s')",
		    name, path);
		goto out;
	}
	if (rc != 0)
		goto out;
	tz = tz_new(name);
	if (tz == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	rc = parse_tzif(tz, (const unsigned char *)b.ptr, b.len);
	if (rc == FG_ENOMEM) {
		fg_err_set(err, rc, "out of memory");
		goto out;
	}
	if (rc != 0) {
		fg_err_set(err, rc, "time zone '%s': '%s' is not a valid "
		    "TZif file", name, path);
		goto out;
	}
	*out = tz;
	tz = NULL;
out:
	fg_tz_free(tz);
	fg_buf_release(&b);
	return rc;
}

int
fg_tz_load(struct fg_tz **out, const char *name, struct fg_err *err)
{
	char path[sizeof(FG_TZ_DIR) + FG_TZ_NAME_MAX + 2];

	*out = NULL;
	if (name == NULL || strcmp(name, "UTC") == 0)
		return load_utc(out, err);
	if (!name_is_valid(name))
		return fg_err_set(err, FG_EINVALID, "invalid time zone name "
		    "'%s' (use an IANA name such as 'Europe/Berlin')", name);
	snprintf(path, sizeof(path), "%s/%s", FG_TZ_DIR, name);
	return fg_tz_load_file(out, path, name, err);
}

void
fg_tz_free(struct fg_tz *tz)
{
	if (tz == NULL)
		return;
	free(tz->name);
	free(tz->trans);
	free(tz->idx);
	free(tz->types);
	free(tz);
}

const char *
fg_tz_name(const struct fg_tz *tz)
{
	return tz->name;
}

/* Days since the epoch on which rule date d falls in year y. */
static int64_t
rule_day(const struct rule_date *d, int64_t y)
{
	int64_t first, len, day;
	int wd;

	switch (d->kind) {
	case RULE_JULIAN:
		return days_from_civil(y, 1, 1) + d->day - 1 +
		    (is_leap(y) && d->day >= 60 ? 1 : 0);
	case RULE_DAY:
		return days_from_civil(y, 1, 1) + d->day;
	case RULE_MONTH:
		break;
	}
	first = days_from_civil(y, d->month, 1);
	len = days_from_civil(y, d->month + 1, 1) - first;
	/* 1970-01-01 was a Thursday: 4 with Sunday = 0. */
	wd = (int)(((first % 7) + 7 + 4) % 7);
	day = (d->wday - wd + 7) % 7 + (int64_t)(d->week - 1) * 7;
	while (day >= len)
		day -= 7;
	return first + day;
}

static const struct tz_type *
rule_type(const struct fg_tz *tz, int64_t t)
{
	const struct posix_rule *r = &tz->rule;
	int64_t y, start, end;
	int m, d;

	if (!tz->rule_has_dst)
		return &r->std;
	civil_from_days(floor_div(t + r->std.utoff, 86400), &y, &m, &d);
	start = rule_day(&r->start, y) * 86400 + r->start.time -
	    r->std.utoff;
	end = rule_day(&r->end, y) * 86400 + r->end.time - r->dst.utoff;
	if (start < end)
		return t >= start && t < end ? &r->dst : &r->std;
	/* Southern hemisphere: DST spans the new year. */
	return t >= end && t < start ? &r->std : &r->dst;
}

static const struct tz_type *
type_at(const struct fg_tz *tz, int64_t t)
{
	size_t lo = 0, hi = tz->ntrans;

	if (tz->ntrans == 0)
		return tz->has_rule ? rule_type(tz, t) : &tz->types[0];
	if (t < tz->trans[0])
		return &tz->types[0];
	/* Find the last transition at or before t. */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (tz->trans[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	if (lo == tz->ntrans - 1 && tz->has_rule)
		return rule_type(tz, t);
	return &tz->types[tz->idx[lo]];
}

void
fg_tz_to_civil(struct fg_civil *out, const struct fg_tz *tz, int64_t utc)
{
	const struct tz_type *ty = type_at(tz, utc);
	int64_t local = utc + ty->utoff, days, secs, y;

	days = floor_div(local, 86400);
	secs = local - days * 86400;
	civil_from_days(days, &y, &out->month, &out->day);
	out->year = (int)y;
	out->hour = (int)(secs / 3600);
	out->minute = (int)(secs / 60 % 60);
	out->second = (int)(secs % 60);
	/* 1970-01-01 was a Thursday: 3 with Monday = 0. */
	out->wday = (int)(((days % 7) + 7 + 3) % 7);
	out->utc_offset = ty->utoff;
	out->is_dst = ty->isdst;
	memcpy(out->abbr, ty->abbr, sizeof(out->abbr));
}

int64_t
fg_tz_from_civil(const struct fg_tz *tz, int year, int month, int day,
    int hour, int minute, int second)
{
	int64_t local, t;

	local = days_from_civil(year, month, day) * 86400 +
	    (int64_t)hour * 3600 + (int64_t)minute * 60 + second;
	/*
	 * Guess with the offset at the wall-clock value read as UTC, then
	 * correct with the offset in effect at the guess.  Two steps settle
	 * everywhere except inside a gap or an overlap, where either
	 * neighbouring instant is an acceptable answer.
	 */
	t = local - type_at(tz, local)->utoff;
	t = local - type_at(tz, t)->utoff;
	return t;
}

int
fg_tz_civil(struct fg_civil *out, const char *name, int64_t utc,
    struct fg_err *err)
{
	struct fg_tz *tz = NULL;
	int rc;

	rc = fg_tz_load(&tz, name, err);
	if (rc != 0)
		return rc;
	fg_tz_to_civil(out, tz, utc);
	fg_tz_free(tz);
	return 0;
}

const char *
fg_tz_wday_name(int wday)
{
	if (wday < 0 || wday > 6)
		return "?";
	return wday_names[wday];
}
