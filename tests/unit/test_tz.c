/*
 * test_tz.c - civil time in IANA zones matches what the C library's own
 * zone code (GNU date) says, at known instants, across DST switches, in
 * both hemispheres, and beyond the last transition of the zone file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tz.h"
#include "unit.h"

static struct fg_civil
civil(const char *zone, int64_t t)
{
	struct fg_civil c;
	struct fg_err err = FG_ERR_INIT;

	memset(&c, 0, sizeof(c));
	if (fg_tz_civil(&c, zone, t, &err) != 0)
		fprintf(stderr, "fg_tz_civil: %s\n", err.msg);
	return c;
}

static void
assert_civil(const char *zone, int64_t t, int y, int mo, int d, int h,
    int mi, int s, int offset, const char *abbr)
{
	struct fg_civil c = civil(zone, t);

	CU_ASSERT_EQUAL(c.year, y);
	CU_ASSERT_EQUAL(c.month, mo);
	CU_ASSERT_EQUAL(c.day, d);
	CU_ASSERT_EQUAL(c.hour, h);
	CU_ASSERT_EQUAL(c.minute, mi);
	CU_ASSERT_EQUAL(c.second, s);
	CU_ASSERT_EQUAL(c.utc_offset, offset);
	CU_ASSERT_STRING_EQUAL(c.abbr, abbr);
}

static void
test_tz_berlin_summer_and_winter(void)
{
	/* 2024-07-01T12:00:00Z, a Monday; 2024-01-15T12:00:00Z. */
	assert_civil("Europe/Berlin", 1719835200, 2024, 7, 1, 14, 0, 0, 7200,
	    "CEST");
	CU_ASSERT_EQUAL(civil("Europe/Berlin", 1719835200).wday, 0);
	CU_ASSERT_TRUE(civil("Europe/Berlin", 1719835200).is_dst);
	assert_civil("Europe/Berlin", 1705320000, 2024, 1, 15, 13, 0, 0, 3600,
	    "CET");
	CU_ASSERT_FALSE(civil("Europe/Berlin", 1705320000).is_dst);
}

static void
test_tz_berlin_switch_seconds(void)
{
	assert_civil("Europe/Berlin", 1711846799, 2024, 3, 31, 1, 59, 59,
	    3600, "CET");
	assert_civil("Europe/Berlin", 1711846800, 2024, 3, 31, 3, 0, 0,
	    7200, "CEST");
	assert_civil("Europe/Berlin", 1729990799, 2024, 10, 27, 2, 59, 59,
	    7200, "CEST");
	assert_civil("Europe/Berlin", 1729990800, 2024, 10, 27, 2, 0, 0,
	    3600, "CET");
	CU_ASSERT_EQUAL(civil("Europe/Berlin", 1729990800).wday, 6);
}

static void
test_tz_new_york_switch_days(void)
{
	assert_civil("America/New_York", 1710053999, 2024, 3, 10, 1, 59, 59,
	    -18000, "EST");
	assert_civil("America/New_York", 1710054000, 2024, 3, 10, 3, 0, 0,
	    -14400, "EDT");
	assert_civil("America/New_York", 1730613599, 2024, 11, 3, 1, 59, 59,
	    -14400, "EDT");
	assert_civil("America/New_York", 1730613600, 2024, 11, 3, 1, 0, 0,
	    -18000, "EST");
}

static void
test_tz_kolkata_half_hour_offset(void)
{
	assert_civil("Asia/Kolkata", 0, 1970, 1, 1, 5, 30, 0, 19800, "IST");
	assert_civil("Asia/Kolkata", 1704067200, 2024, 1, 1, 5, 30, 0, 19800,
	    "IST");
}

static void
test_tz_utc_needs_no_file(void)
{
	assert_civil(NULL, 1704067199, 2023, 12, 31, 23, 59, 59, 0, "UTC");
	assert_civil("UTC", 1704067200, 2024, 1, 1, 0, 0, 0, 0, "UTC");
	CU_ASSERT_EQUAL(civil("UTC", 1704067200).wday, 0);
	/* Before the epoch: 1969-12-31T23:59:59Z was a Wednesday. */
	assert_civil("UTC", -1, 1969, 12, 31, 23, 59, 59, 0, "UTC");
	CU_ASSERT_EQUAL(civil("UTC", -1).wday, 2);
}

static void
test_tz_footer_rule_after_last_transition(void)
{
	/* 2100-07-01T12:00:00Z: past every transition tzdata writes. */
	assert_civil("Europe/Berlin", 4118126400, 2100, 7, 1, 14, 0, 0, 7200,
	    "CEST");
	assert_civil("Europe/Berlin", 4118126400 - 180 * 86400, 2100, 1, 2,
	    13, 0, 0, 3600, "CET");
	assert_civil("Asia/Kolkata", 4118126400, 2100, 7, 1, 17, 30, 0,
	    19800, "IST");
}

static void
test_tz_refuses_names_leaving_zoneinfo(void)
{
	struct fg_tz *tz = NULL;
	struct fg_err err = FG_ERR_INIT;

	CU_ASSERT_EQUAL(fg_tz_load(&tz, "../../etc/passwd", &err),
	    FG_EINVALID);
	CU_ASSERT_PTR_NULL(tz);
	CU_ASSERT_STRING_EQUAL(err.msg, "invalid time zone name "
	    "'../../etc/passwd' (use an IANA name such as 'Europe/Berlin')");
	CU_ASSERT_EQUAL(fg_tz_load(&tz, "/etc/localtime", &err), FG_EINVALID);
	CU_ASSERT_EQUAL(fg_tz_load(&tz, "Europe/../../etc/passwd", &err),
	    FG_EINVALID);
	CU_ASSERT_EQUAL(fg_tz_load(&tz, "Europe/Ber lin", &err), FG_EINVALID);
	CU_ASSERT_EQUAL(fg_tz_load(&tz, "", &err), FG_EINVALID);
	CU_ASSERT_EQUAL(fg_tz_load(&tz, "Nowhere/City", &err), FG_ENOTFOUND);
	CU_ASSERT_STRING_EQUAL(err.msg, "unknown time zone 'Nowhere/City' "
	    "(no file '/usr/share/zoneinfo/Nowhere/City')");
	CU_ASSERT_PTR_NULL(tz);
}

static void
test_tz_refuses_files_that_are_not_tzif(void)
{
	char path[512];
	struct fg_tz *tz = NULL;
	struct fg_err err = FG_ERR_INIT;
	FILE *f;

	snprintf(path, sizeof(path), "%s/not-a-zone", fg_unit_tmpdir());
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("TZif2 but then nothing that makes sense\n", f);
	fclose(f);
	CU_ASSERT_EQUAL(fg_tz_load_file(&tz, path, "Bad/Zone", &err),
	    FG_EINVALID);
	CU_ASSERT_PTR_NULL(tz);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "is not a valid TZif file"));
	/* A real zone cut short is refused, not half-read. */
	CU_ASSERT_EQUAL(fg_unit_sh("head -c 600 /usr/share/zoneinfo/"
	    "Europe/Berlin > '%s'", path), 0);
	CU_ASSERT_EQUAL(fg_tz_load_file(&tz, path, "Cut/Zone", &err),
	    FG_EINVALID);
	CU_ASSERT_PTR_NULL(tz);
}

static size_t
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
	return 4;
}

/*
 * Write a TZif version 2 file with the given 64-bit transitions (each to
 * type idx[i]), types and footer; its version 1 block is a stub.
 */
static void
write_tzif(const char *path, const int64_t *trans, const unsigned char *idx,
    size_t n, const int32_t *offsets, const unsigned char *dst,
    size_t ntypes, const char *footer)
{
	unsigned char b[4096];
	size_t len = 0, i;
	FILE *f;

	memset(b, 0, sizeof(b));
	/* Version 1 header and a one-type stub block. */
	memcpy(b, "TZif2", 5);
	put32(b + 36, 1);
	put32(b + 40, 4);
	len = 44;
	len += 6 + 4;
	memcpy(b + len, "TZif2", 5);
	put32(b + len + 32, (uint32_t)n);
	put32(b + len + 36, (uint32_t)ntypes);
	put32(b + len + 40, (uint32_t)(ntypes * 4));
	len += 44;
	for (i = 0; i < n; i++) {
		len += put32(b + len, (uint32_t)((uint64_t)trans[i] >> 32));
		len += put32(b + len, (uint32_t)trans[i]);
	}
	for (i = 0; i < n; i++)
		b[len++] = idx[i];
	for (i = 0; i < ntypes; i++) {
		len += put32(b + len, (uint32_t)offsets[i]);
		b[len++] = dst[i];
		b[len++] = (unsigned char)(i * 4);
	}
	for (i = 0; i < ntypes; i++) {
		memcpy(b + len, dst[i] ? "DDD" : "SSS", 4);
		len += 4;
	}
	b[len++] = '\n';
	memcpy(b + len, footer, strlen(footer));
	len += strlen(footer);
	b[len++] = '\n';
	f = fopen(path, "wb");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(fwrite(b, 1, len, f), len);
	fclose(f);
}

static void
test_tz_rule_only_zone_follows_footer(void)
{
	static const int32_t off[] = { 3600 };
	static const unsigned char dst[] = { 0 };
	char path[512];
	struct fg_tz *tz = NULL;
	struct fg_err err = FG_ERR_INIT;
	struct fg_civil c;

	snprintf(path, sizeof(path), "%s/rule-only", fg_unit_tmpdir());
	write_tzif(path, NULL, NULL, 0, off, dst, 1,
	    "CET-1CEST,M3.5.0,M10.5.0/3");
	CU_ASSERT_EQUAL_FATAL(fg_tz_load_file(&tz, path, "Test/Rule", &err),
	    0);
	fg_tz_to_civil(&c, tz, 1711846800);
	CU_ASSERT_EQUAL(c.hour, 3);
	CU_ASSERT_STRING_EQUAL(c.abbr, "CEST");
	fg_tz_to_civil(&c, tz, 1711846799);
	CU_ASSERT_EQUAL(c.hour, 1);
	CU_ASSERT_STRING_EQUAL(c.abbr, "CET");
	fg_tz_to_civil(&c, tz, 1729990800);
	CU_ASSERT_EQUAL(c.hour, 2);
	CU_ASSERT_EQUAL(c.utc_offset, 3600);
	CU_ASSERT_STRING_EQUAL(fg_tz_name(tz), "Test/Rule");
	fg_tz_free(tz);
}

static void
test_tz_unparsable_footer_keeps_last_offset(void)
{
	static const int64_t trans[] = { 0, 1000000000 };
	static const unsigned char idx[] = { 1, 0 };
	static const int32_t off[] = { -3 * 3600, -2 * 3600 };
	static const unsigned char dst[] = { 0, 1 };
	char path[512];
	struct fg_tz *tz = NULL;
	struct fg_err err = FG_ERR_INIT;
	struct fg_civil c;

	snprintf(path, sizeof(path), "%s/odd-footer", fg_unit_tmpdir());
	/* A DST name with no dates: POSIX leaves the rule to the system. */
	write_tzif(path, trans, idx, 2, off, dst, 2, "SSS3DDD");
	CU_ASSERT_EQUAL_FATAL(fg_tz_load_file(&tz, path, "Test/Odd", &err),
	    0);
	fg_tz_to_civil(&c, tz, -10);
	CU_ASSERT_EQUAL(c.utc_offset, -3 * 3600);
	fg_tz_to_civil(&c, tz, 500000000);
	CU_ASSERT_EQUAL(c.utc_offset, -2 * 3600);
	CU_ASSERT_TRUE(c.is_dst);
	fg_tz_to_civil(&c, tz, 4000000000LL);
	CU_ASSERT_EQUAL(c.utc_offset, -3 * 3600);
	CU_ASSERT_STRING_EQUAL(c.abbr, "SSS");
	fg_tz_free(tz);
}

static void
test_tz_from_civil_inverts_and_carries_days(void)
{
	struct fg_tz *tz = NULL;
	struct fg_err err = FG_ERR_INIT;

	CU_ASSERT_EQUAL_FATAL(fg_tz_load(&tz, "Europe/Berlin", &err), 0);
	/* 2024-06-10 09:00 CEST = 07:00Z. */
	CU_ASSERT_EQUAL(fg_tz_from_civil(tz, 2024, 6, 10, 9, 0, 0),
	    1718002800);
	/* January 32nd is February 1st; 10:00 CET = 09:00Z. */
	CU_ASSERT_EQUAL(fg_tz_from_civil(tz, 2024, 1, 32, 10, 0, 0),
	    1706778000);
	/* Month 13 is January of the next year. */
	CU_ASSERT_EQUAL(fg_tz_from_civil(tz, 2023, 13, 1, 0, 0, 0),
	    1704063600);
	/* 02:30 on the spring-forward day does not exist: a neighbour. */
	CU_ASSERT_TRUE(fg_tz_from_civil(tz, 2024, 3, 31, 2, 30, 0) >=
	    1711846800 - 3600);
	CU_ASSERT_TRUE(fg_tz_from_civil(tz, 2024, 3, 31, 2, 30, 0) <=
	    1711846800 + 3600);
	fg_tz_free(tz);
}

/*
 * Compare every field with GNU date over two and a half centuries, a
 * little over a week apart, plus the seconds around each 2020s switch.
 * date reads the same zone files through glibc's independent code.
 */
static void
compare_with_date(const char *zone)
{
	char in[512], out[512], line[256];
	struct fg_tz *tz = NULL;
	struct fg_err err = FG_ERR_INIT;
	int64_t t, *all = NULL;
	size_t n = 0, i, bad = 0;
	FILE *f;

	CU_ASSERT_EQUAL_FATAL(fg_tz_load(&tz, zone, &err), 0);
	snprintf(in, sizeof(in), "%s/instants", fg_unit_tmpdir());
	snprintf(out, sizeof(out), "%s/civil", fg_unit_tmpdir());
	all = calloc(20000, sizeof(*all));
	CU_ASSERT_PTR_NOT_NULL_FATAL(all);
	for (t = -3786825600LL; t < 4133894400LL && n < 19000;
	    t += 8 * 86400 + 3 * 3600 + 17 * 60 + 11)
		all[n++] = t;
	for (i = 0; i < 10 && n < 19990; i++) {
		/* Every hour of late March and late October 2020-2029. */
		int64_t base = fg_tz_from_civil(tz, 2020 + (int)i, 3, 24, 0,
		    0, 0);

		for (t = 0; t < 8 * 24 && n < 19990; t++)
			all[n++] = base + t * 3600 - 1;
	}
	f = fopen(in, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	for (i = 0; i < n; i++)
		fprintf(f, "@%lld\n", (long long)all[i]);
	fclose(f);
	CU_ASSERT_EQUAL_FATAL(fg_unit_sh("TZ='%s' date -f '%s' "
	    "'+%%Y %%m %%d %%H %%M %%S %%u %%Z' > '%s'", zone, in, out), 0);
	f = fopen(out, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	for (i = 0; i < n && fgets(line, sizeof(line), f) != NULL; i++) {
		struct fg_civil c;
		char want[256], got[256];

		fg_tz_to_civil(&c, tz, all[i]);
		snprintf(got, sizeof(got), "%04d %02d %02d %02d %02d %02d %d "
		    "%s\n", c.year, c.month, c.day, c.hour, c.minute, c.second,
		    c.wday + 1, c.abbr);
		snprintf(want, sizeof(want), "%s", line);
		if (strcmp(got, want) != 0 && bad++ < 3)
			fprintf(stderr, "%s @%lld: got %s  want %s", zone,
			    (long long)all[i], got, want);
	}
	CU_ASSERT_EQUAL(i, n);
	CU_ASSERT_EQUAL(bad, 0);
	fclose(f);
	free(all);
	fg_tz_free(tz);
}

static void
test_tz_matches_glibc_across_many_zones(void)
{
	static const char *const zones[] = {
		"Europe/Berlin", "America/New_York", "Asia/Kolkata",
		"Australia/Sydney", "Europe/Dublin", "America/St_Johns",
		"Pacific/Chatham", "America/Sao_Paulo", "Europe/London",
		"Africa/Casablanca", "America/Los_Angeles", "Asia/Tokyo",
		"UTC",
	};
	size_t i;

	for (i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
		compare_with_date(zones[i]);
}

static CU_TestInfo tests[] = {
	{ "Berlin summer and winter offsets",
	    test_tz_berlin_summer_and_winter },
	{ "Berlin switches on the exact second",
	    test_tz_berlin_switch_seconds },
	{ "New York DST switch days", test_tz_new_york_switch_days },
	{ "Kolkata is +05:30", test_tz_kolkata_half_hour_offset },
	{ "UTC needs no zone file", test_tz_utc_needs_no_file },
	{ "footer rule applies after the last transition",
	    test_tz_footer_rule_after_last_transition },
	{ "names that leave zoneinfo are refused",
	    test_tz_refuses_names_leaving_zoneinfo },
	{ "files that are not TZif are refused",
	    test_tz_refuses_files_that_are_not_tzif },
	{ "a zone with only a footer rule follows it",
	    test_tz_rule_only_zone_follows_footer },
	{ "an unparsable footer keeps the last offset",
	    test_tz_unparsable_footer_keeps_last_offset },
	{ "from_civil inverts to_civil and carries days",
	    test_tz_from_civil_inverts_and_carries_days },
	{ "matches glibc across many zones and 250 years",
	    test_tz_matches_glibc_across_many_zones },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("tz", tests)
