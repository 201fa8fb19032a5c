/*
 * test_cron.c - cron schedules at fixed instants: field errors, the
 * day-of-month/day-of-week rule, Feb 29, the DST gap and overlap in
 * Europe/Berlin and America/New_York, and missed ticks after downtime
 * firing once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"
#include "util.h"
#include "unit.h"

static int64_t
at(const char *iso)
{
	int64_t t = 0;

	CU_ASSERT_EQUAL_FATAL(fg_parse_utc(&t, iso), 0);
	return t;
}

/* The next tick of spec in tz after the instant iso, as an ISO string. */
static const char *
next(const char *spec, const char *tz, const char *iso)
{
	static char buf[32];
	struct fg_err err = FG_ERR_INIT;
	struct fg_cron *c = NULL;
	int64_t t;

	if (fg_cron_parse(&c, spec, tz, &err) < 0) {
		snprintf(buf, sizeof(buf), "parse: %.20s", err.msg);
		return buf;
	}
	if (fg_cron_next(&t, c, at(iso)) < 0)
		snprintf(buf, sizeof(buf), "none");
	else
		fg_format_utc(buf, sizeof(buf), t);
	fg_cron_free(c);
	return buf;
}

/* Follow n ticks from iso; the last one as an ISO string. */
static const char *
nth(const char *spec, const char *tz, const char *iso, int n)
{
	static char buf[32];
	struct fg_cron *c = NULL;
	int64_t t = at(iso);

	CU_ASSERT_EQUAL_FATAL(fg_cron_parse(&c, spec, tz, NULL), 0);
	while (n-- > 0)
		CU_ASSERT_EQUAL(fg_cron_next(&t, c, t), 0);
	fg_cron_free(c);
	fg_format_utc(buf, sizeof(buf), t);
	return buf;
}

static void
expect_error(const char *spec, const char *tz, int code, const char *msg)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_cron *c = NULL;
	int rc;

	rc = fg_cron_parse(&c, spec, tz, &err);
	if (rc != code || strcmp(err.msg, msg) != 0)
		fprintf(stderr, "'%s': got %d '%s'\n", spec, rc, err.msg);
	CU_ASSERT_EQUAL(rc, code);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_STRING_EQUAL(err.msg, msg);
}

static void
test_cron_errors_name_the_field(void)
{
	expect_error("61 * * * *", NULL, FG_EINVALID,
	    "minute: '61' is out of range 0-59");
	expect_error("* 24 * * *", NULL, FG_EINVALID,
	    "hour: '24' is out of range 0-23");
	expect_error("* * 0 * *", NULL, FG_EINVALID,
	    "day of month: '0' is out of range 1-31");
	expect_error("* * * 13 *", NULL, FG_EINVALID,
	    "month: '13' is out of range 1-12");
	expect_error("* * * * 8", NULL, FG_EINVALID,
	    "day of week: '8' is out of range 0-7");
	expect_error("* * * * mo", NULL, FG_EINVALID,
	    "day of week: unknown name 'mo'");
	expect_error("* * * foo *", NULL, FG_EINVALID,
	    "month: unknown name 'foo'");
	expect_error("x * * * *", NULL, FG_EINVALID,
	    "minute: unknown name 'x': use numbers");
	expect_error("0 2 * *", NULL, FG_EINVALID,
	    "there are 4 fields: need 5 (minute hour day-of-month month "
	    "day-of-week)");
	expect_error("", NULL, FG_EINVALID,
	    "there are 0 fields: need 5 (minute hour day-of-month month "
	    "day-of-week)");
	expect_error("0 2 * * * *", NULL, FG_EINVALID,
	    "there are more than 5 fields: need minute hour day-of-month "
	    "month day-of-week");
	expect_error("5-1 * * * *", NULL, FG_EINVALID,
	    "minute: range '5-1' is backwards");
	expect_error("*/0 * * * *", NULL, FG_EINVALID,
	    "minute: step must be 1 to 59");
	expect_error("*/ * * * *", NULL, FG_EINVALID,
	    "minute: expected a step number after '/'");
	expect_error("1,,2 * * * *", NULL, FG_EINVALID,
	    "minute: expected a number at ',2'");
	expect_error("* 1;2 * * *", NULL, FG_EINVALID,
	    "hour: unexpected ';' in '1;2'");
	expect_error("0 0 30 2 *", NULL, FG_EINVALID,
	    "never fires: its days of the month do not occur in its "
	    "months");
	expect_error("0 0 31 4,6,9,11 *", NULL, FG_EINVALID,
	    "never fires: its days of the month do not occur in its "
	    "months");
	expect_error("0 2 * * *", "Mars/Olympus_Mons", FG_ENOTFOUND,
	    "unknown time zone 'Mars/Olympus_Mons' (no file "
	    "'/usr/share/zoneinfo/Mars/Olympus_Mons')");
}

static void
test_cron_accepts_names_lists_ranges_steps(void)
{
	struct fg_cron *c = NULL;

	/* 2024-07-01 is a Monday. */
	CU_ASSERT_STRING_EQUAL(next("*/15 * * * *", NULL,
	    "2024-07-01T10:07:00Z"), "2024-07-01T10:15:00Z");
	CU_ASSERT_STRING_EQUAL(next("0 9 * jan,dec MON-fri", NULL,
	    "2024-07-01T10:00:00Z"), "2024-12-02T09:00:00Z");
	CU_ASSERT_STRING_EQUAL(next("5/20 8-10/2 * * *", NULL,
	    "2024-07-01T08:45:00Z"), "2024-07-01T10:05:00Z");
	CU_ASSERT_STRING_EQUAL(next("0 0 * * 7", NULL,
	    "2024-07-01T00:00:00Z"), "2024-07-07T00:00:00Z");
	CU_ASSERT_STRING_EQUAL(next("0 0 * * sun", NULL,
	    "2024-07-01T00:00:00Z"), "2024-07-07T00:00:00Z");
	/* Tabs and extra spaces between fields are fine. */
	CU_ASSERT_EQUAL(fg_cron_parse(&c, "  0\t2  *  * * ", "UTC", NULL), 0);
	fg_cron_free(c);
}

static void
test_cron_next_is_strictly_after(void)
{
	CU_ASSERT_STRING_EQUAL(next("0 2 * * *", NULL,
	    "2024-07-01T02:00:00Z"), "2024-07-02T02:00:00Z");
	CU_ASSERT_STRING_EQUAL(next("0 2 * * *", NULL,
	    "2024-07-01T01:59:59Z"), "2024-07-01T02:00:00Z");
	CU_ASSERT_STRING_EQUAL(next("* * * * *", NULL,
	    "2024-12-31T23:59:30Z"), "2025-01-01T00:00:00Z");
}

static void
test_cron_day_of_month_or_day_of_week(void)
{
	/* Both restricted: the 1st OR a Monday. */
	CU_ASSERT_STRING_EQUAL(next("0 0 1 * mon", NULL,
	    "2024-07-01T00:00:00Z"), "2024-07-08T00:00:00Z");
	CU_ASSERT_STRING_EQUAL(next("0 0 1 * mon", NULL,
	    "2024-07-29T00:00:00Z"), "2024-08-01T00:00:00Z");
	/* "0 0 31 4 mon" can fire: on Mondays in April. */
	CU_ASSERT_STRING_EQUAL(next("0 0 31 4 mon", NULL,
	    "2024-07-01T00:00:00Z"), "2025-04-07T00:00:00Z");
	/* A day-of-month starting with '*' leaves the weekday to decide. */
	CU_ASSERT_STRING_EQUAL(next("0 0 */2 * mon", NULL,
	    "2024-07-01T00:00:00Z"), "2024-07-08T00:00:00Z");
	CU_ASSERT_STRING_EQUAL(next("0 0 13 * *", NULL,
	    "2024-07-01T00:00:00Z"), "2024-07-13T00:00:00Z");
}

static void
test_cron_feb_29(void)
{
	CU_ASSERT_STRING_EQUAL(next("0 12 29 2 *", NULL,
	    "2023-01-01T00:00:00Z"), "2024-02-29T12:00:00Z");
	CU_ASSERT_STRING_EQUAL(next("0 12 29 2 *", NULL,
	    "2024-02-29T12:00:00Z"), "2028-02-29T12:00:00Z");
	/* 2100 is not a leap year. */
	CU_ASSERT_STRING_EQUAL(next("0 12 29 2 *", NULL,
	    "2096-03-01T00:00:00Z"), "2104-02-29T12:00:00Z");
	CU_ASSERT_STRING_EQUAL(next("0 0 L * *", NULL,
	    "2024-01-01T00:00:00Z"), "parse: day of month: unknow");
}

static void
test_cron_berlin_spring_gap_fires_once_after_it(void)
{
	/* 2024-03-31: 02:00 CET becomes 03:00 CEST at 01:00 UTC. */
	CU_ASSERT_STRING_EQUAL(next("30 2 * * *", "Europe/Berlin",
	    "2024-03-30T12:00:00Z"), "2024-03-31T01:00:00Z");
	CU_ASSERT_STRING_EQUAL(nth("30 2 * * *", "Europe/Berlin",
	    "2024-03-30T12:00:00Z", 2), "2024-04-01T00:30:00Z");
	/* Four times inside the gap, then 03:00 itself: one tick. */
	CU_ASSERT_STRING_EQUAL(nth("*/15 2,3 31 3 *", "Europe/Berlin",
	    "2024-03-31T00:00:00Z", 1), "2024-03-31T01:00:00Z");
	CU_ASSERT_STRING_EQUAL(nth("*/15 2,3 31 3 *", "Europe/Berlin",
	    "2024-03-31T00:00:00Z", 2), "2024-03-31T01:15:00Z");
	/* The day before, 02:30 CET is 01:30 UTC. */
	CU_ASSERT_STRING_EQUAL(next("30 2 * * *", "Europe/Berlin",
	    "2024-03-29T12:00:00Z"), "2024-03-30T01:30:00Z");
}

static void
test_cron_berlin_autumn_overlap_fires_once(void)
{
	/* 2024-10-27: 03:00 CEST becomes 02:00 CET at 01:00 UTC. */
	CU_ASSERT_STRING_EQUAL(next("30 2 * * *", "Europe/Berlin",
	    "2024-10-26T12:00:00Z"), "2024-10-27T00:30:00Z");
	/* Not again at the second 02:30 (01:30 UTC): next day, in CET. */
	CU_ASSERT_STRING_EQUAL(nth("30 2 * * *", "Europe/Berlin",
	    "2024-10-26T12:00:00Z", 2), "2024-10-28T01:30:00Z");
	/*
	 * Hourly: 02:00 CEST, then 03:00 CET; the repeated 02:00 (01:00 UTC)
	 * is the same wall-clock time again and does not fire twice.
	 */
	CU_ASSERT_STRING_EQUAL(nth("0 * * * *", "Europe/Berlin",
	    "2024-10-26T23:30:00Z", 1), "2024-10-27T00:00:00Z");
	CU_ASSERT_STRING_EQUAL(nth("0 * * * *", "Europe/Berlin",
	    "2024-10-26T23:30:00Z", 2), "2024-10-27T02:00:00Z");
}

static void
test_cron_new_york_gap_and_overlap(void)
{
	/* 2024-03-10: 02:00 EST becomes 03:00 EDT at 07:00 UTC. */
	CU_ASSERT_STRING_EQUAL(next("30 2 * * *", "America/New_York",
	    "2024-03-09T12:00:00Z"), "2024-03-10T07:00:00Z");
	CU_ASSERT_STRING_EQUAL(nth("30 2 * * *", "America/New_York",
	    "2024-03-09T12:00:00Z", 2), "2024-03-11T06:30:00Z");
	/* 2024-11-03: 02:00 EDT becomes 01:00 EST at 06:00 UTC. */
	CU_ASSERT_STRING_EQUAL(next("30 1 * * *", "America/New_York",
	    "2024-11-02T12:00:00Z"), "2024-11-03T05:30:00Z");
	CU_ASSERT_STRING_EQUAL(nth("30 1 * * *", "America/New_York",
	    "2024-11-02T12:00:00Z", 2), "2024-11-04T06:30:00Z");
	/* A time outside the switch is plain: 09:00 EST is 14:00 UTC. */
	CU_ASSERT_STRING_EQUAL(next("0 9 * * mon-fri", "America/New_York",
	    "2024-11-03T12:00:00Z"), "2024-11-04T14:00:00Z");
}

static void
test_cron_week_of_downtime_fires_once(void)
{
	struct fg_cron *c = NULL;
	int64_t tick = 0, last, now;
	char buf[32];
	bool due = false;

	CU_ASSERT_EQUAL_FATAL(fg_cron_parse(&c, "0 2 * * *", "Europe/Berlin",
	    NULL), 0);
	/* Last run 2024-06-01 02:00 CEST; the daemon is back a week on. */
	last = at("2024-06-01T00:00:00Z");
	now = at("2024-06-08T10:00:00Z");
	CU_ASSERT_EQUAL(fg_cron_due(&due, &tick, c, last, now), 0);
	CU_ASSERT_TRUE(due);
	fg_format_utc(buf, sizeof(buf), tick);
	CU_ASSERT_STRING_EQUAL(buf, "2024-06-02T00:00:00Z");
	/* The caller runs once and records now: nothing more is due. */
	last = now;
	CU_ASSERT_EQUAL(fg_cron_due(&due, &tick, c, last, now + 60), 0);
	CU_ASSERT_FALSE(due);
	fg_format_utc(buf, sizeof(buf), tick);
	CU_ASSERT_STRING_EQUAL(buf, "2024-06-09T00:00:00Z");
	/* One second before the tick: not due; on it: due. */
	CU_ASSERT_EQUAL(fg_cron_due(&due, NULL, c, last,
	    at("2024-06-08T23:59:59Z")), 0);
	CU_ASSERT_FALSE(due);
	CU_ASSERT_EQUAL(fg_cron_due(&due, NULL, c, last,
	    at("2024-06-09T00:00:00Z")), 0);
	CU_ASSERT_TRUE(due);
	/* A last run in the future (clock stepped back) is never due. */
	CU_ASSERT_EQUAL(fg_cron_due(&due, NULL, c, now + 86400 * 30, now), 0);
	CU_ASSERT_FALSE(due);
	fg_cron_free(c);
}

static void
test_cron_fires_at_fixed_flowgate_now(void)
{
	struct fg_cron *c = NULL;
	int64_t now;
	bool due = true;

	/* The daemon reads the clock through fg_now(): fix it. */
	CU_ASSERT_EQUAL_FATAL(fg_cron_parse(&c, "0 2 * * *", NULL, NULL), 0);
	setenv("FLOWGATE_NOW", "2024-06-08T01:59:59Z", 1);
	now = fg_now();
	CU_ASSERT_EQUAL(fg_cron_due(&due, NULL, c,
	    at("2024-06-07T02:00:00Z"), now), 0);
	CU_ASSERT_FALSE(due);
	setenv("FLOWGATE_NOW", "2024-06-08T02:00:00Z", 1);
	now = fg_now();
	CU_ASSERT_EQUAL(fg_cron_due(&due, NULL, c,
	    at("2024-06-07T02:00:00Z"), now), 0);
	CU_ASSERT_TRUE(due);
	unsetenv("FLOWGATE_NOW");
	fg_cron_free(c);
}

static void
test_cron_zone_that_skipped_a_day(void)
{
	/*
	 * Samoa skipped 2011-12-30 (local) entirely: noon that day does not
	 * exist and fires when the gap ends, at midnight of the 31st local.
	 */
	CU_ASSERT_STRING_EQUAL(next("0 12 30 12 *", "Pacific/Apia",
	    "2011-12-29T00:00:00Z"), "2011-12-30T10:00:00Z");
}

static void
test_cron_long_text_is_refused(void)
{
	char buf[FG_CRON_MAX_LEN + 2];

	memset(buf, '1', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = '\0';
	expect_error(buf, NULL, FG_ELIMIT,
	    "cron expression is longer than 256 bytes");
}

static CU_TestInfo tests[] = {
	{ "errors name the field", test_cron_errors_name_the_field },
	{ "names, lists, ranges and steps",
	    test_cron_accepts_names_lists_ranges_steps },
	{ "next is strictly after", test_cron_next_is_strictly_after },
	{ "day of month OR day of week",
	    test_cron_day_of_month_or_day_of_week },
	{ "Feb 29", test_cron_feb_29 },
	{ "Berlin spring gap fires once after it",
	    test_cron_berlin_spring_gap_fires_once_after_it },
	{ "Berlin autumn overlap fires once",
	    test_cron_berlin_autumn_overlap_fires_once },
	{ "New York gap and overlap", test_cron_new_york_gap_and_overlap },
	{ "a week of downtime fires once",
	    test_cron_week_of_downtime_fires_once },
	{ "fires at a fixed FLOWGATE_NOW",
	    test_cron_fires_at_fixed_flowgate_now },
	{ "a zone that skipped a day", test_cron_zone_that_skipped_a_day },
	{ "long text is refused", test_cron_long_text_is_refused },
	CU_TEST_INFO_NULL
};

FG_UNIT_MAIN("cron", tests)
