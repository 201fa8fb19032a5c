/*
 * test_util.c - small helpers many modules lean on: UTC time text and
 * UTF-8 character boundaries.
 */
#include <stdint.h>
#include <string.h>

#include "util.h"
#include "unit.h"

/*
 * Years before 1000 keep four digits: strftime's %Y wrote the year 193 as
 * "193", which no reader of these times accepts (pull.schema.json's
 * pattern, fg_parse_utc's round trip).
 */
static void
test_utc_years_have_four_digits(void)
{
	static const char *const texts[] = {
		"0001-01-01T00:00:00Z", "0193-01-17T15:47:39Z",
		"0999-12-31T23:59:59Z", "1970-01-01T00:00:00Z",
		"2026-11-24T09:40:00Z", "9999-12-31T23:59:59Z",
	};
	char buf[32];
	int64_t t;
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(fg_parse_utc(&t, texts[i]), 0);
		fg_format_utc(buf, sizeof(buf), t);
		CU_ASSERT_STRING_EQUAL(buf, texts[i]);
	}
}

/*
 * Only the shape fg_format_utc writes, on a day the calendar has.  The
 * old sscanf reading took a three-digit year, a sign, a space, a short
 * month, and moved the 29th of February of a common year into March.
 */
static void
test_utc_shape_and_calendar(void)
{
	static const char *const refused[] = {
		"193-01-17T15:47:39Z", "+2026-01-01T00:00:00Z",
		" 2026-01-01T00:00:00Z", "2026-1-01T00:00:00Z",
		"2026-01-01T00:00:00Z ", "2026-01-01 00:00:00Z",
		"2026-01-01T00:00:00", "2026-01-01T00:00:00z",
		"2026-01-01T00:00:00+00:00", "",
		"2027-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
		"2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z",
		"2026-00-10T00:00:00Z", "2026-01-00T00:00:00Z",
		"2026-01-01T24:00:00Z", "2026-01-01T23:60:00Z",
		"2026-01-01T23:59:61Z",
	};
	int64_t t, u;
	size_t i;

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		CU_ASSERT_EQUAL(fg_parse_utc(&t, refused[i]), FG_EINVALID);
	CU_ASSERT_EQUAL_FATAL(fg_parse_utc(&t, "2024-02-29T12:00:00Z"), 0);
	CU_ASSERT_EQUAL(t, 1709208000);
	CU_ASSERT_EQUAL(fg_parse_utc(&t, "2000-02-29T00:00:00Z"), 0);
	/* A leap second is the next minute's first. */
	CU_ASSERT_EQUAL_FATAL(fg_parse_utc(&t, "2016-12-31T23:59:60Z"), 0);
	CU_ASSERT_EQUAL_FATAL(fg_parse_utc(&u, "2017-01-01T00:00:00Z"), 0);
	CU_ASSERT_EQUAL(t, u);
}

static void
test_utf8_chars(void)
{
	static const struct {
		const char *s;
		size_t len, want;
	} cases[] = {
		{ "a", 1, 1 },
		{ "\xc3\xa9", 2, 2 },		/* e-acute */
		{ "\xc2\x9b", 2, 2 },		/* CSI: well-formed, a C1 */
		{ "\xe2\x82\xac", 3, 3 },	/* euro sign */
		{ "\xf0\x9f\x8e\x89", 4, 4 },	/* U+1F389 */
		{ "\xc3\xa9", 1, 0 },		/* cut before its tail */
		{ "\xe2\x82\xac", 2, 0 },
		{ "\x80", 1, 0 },		/* a tail alone */
		{ "\xc3(", 2, 0 },		/* a lead without its tail */
		{ "\xc0\x80", 2, 0 },		/* overlong NUL */
		{ "\xe0\x80\xaf", 3, 0 },	/* overlong '/' */
		{ "\xed\xa0\x80", 3, 0 },	/* a surrogate */
		{ "\xf4\x90\x80\x80", 4, 0 },	/* past U+10FFFF */
		{ "\xff", 1, 0 },
		{ "", 0, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CU_ASSERT_EQUAL(fg_utf8_char_len(cases[i].s, cases[i].len),
		    cases[i].want);
	CU_ASSERT_TRUE(fg_utf8_is_valid("a\xc3\xa9\xf0\x9f\x8e\x89", 7));
	CU_ASSERT_FALSE(fg_utf8_is_valid("a\xc3\xa9\xf0\x9f\x8e", 6));
	/* ASCII runs, NULs included, then what follows them. */
	CU_ASSERT_TRUE(fg_utf8_is_valid("ab\0c", 4));
	CU_ASSERT_TRUE(fg_utf8_is_valid("", 0));
	CU_ASSERT_FALSE(fg_utf8_is_valid("abc\xff", 4));
	CU_ASSERT_FALSE(fg_utf8_is_valid("abc\xc3", 4));
	CU_ASSERT_TRUE(fg_utf8_is_valid("abc\xc3\xa9" "d", 6));
	/* Controls: C0, DEL, C1 (U+0080-U+009F); not NBSP, tab aside. */
	CU_ASSERT_TRUE(fg_utf8_is_control("\x1b", 1));
	CU_ASSERT_TRUE(fg_utf8_is_control("\t", 1));
	CU_ASSERT_TRUE(fg_utf8_is_control("\x7f", 1));
	CU_ASSERT_TRUE(fg_utf8_is_control("\xc2\x80", 2));
	CU_ASSERT_TRUE(fg_utf8_is_control("\xc2\x9b", 2));
	CU_ASSERT_FALSE(fg_utf8_is_control("\xc2\xa0", 2));
	CU_ASSERT_FALSE(fg_utf8_is_control("a", 1));
	CU_ASSERT_FALSE(fg_utf8_is_control("\xe2\x82\xac", 3));
	CU_ASSERT_FALSE(fg_utf8_is_valid("a\xc3\xa9\xf0\x9f\x8e", 6));
}

/* The one cleaner the log and the push issues share. */
static void
test_utf8_clean(void)
{
	char line[] = "a\tb\nc\x1b[31m\xc2\x9b\xff\xc3\xa9";
	char out[16];

	/* In place, as the log does it: the text only shrinks. */
	CU_ASSERT_EQUAL(fg_utf8_clean(line, sizeof(line) - 1, line,
	    strlen(line), FG_CLEAN_NL_SPACE | FG_CLEAN_TAB), 14);
	CU_ASSERT_STRING_EQUAL(line, "a\tb c?[31m??\xc3\xa9");
	/* Without flags every control is '?'; max never cuts e-acute. */
	CU_ASSERT_EQUAL(fg_utf8_clean(out, 4, "a\tb\xc3\xa9", 5, 0), 3);
	CU_ASSERT_STRING_EQUAL(out, "a?b");
	CU_ASSERT_EQUAL(fg_utf8_clean(out, 5, "a\tb\xc3\xa9", 5, 0), 5);
	CU_ASSERT_STRING_EQUAL(out, "a?b\xc3\xa9");
}

static CU_TestInfo tests[] = {
	{ "UTC years have four digits", test_utc_years_have_four_digits },
	{ "UTC text has one shape and real days",
	    test_utc_shape_and_calendar },
	{ "UTF-8 character lengths and controls", test_utf8_chars },
	{ "UTF-8 text cleaned for terminals", test_utf8_clean },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("util", tests)
