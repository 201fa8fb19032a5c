/*
 * test_log.c - what reaches the log sink: one line, whatever the message
 * quotes from outside.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "unit.h"

static char got[4096];
static int ngot;

static void
capture(enum fg_log_level level, const char *line, void *payload)
{
	(void)level;
	(void)payload;
	snprintf(got, sizeof(got), "%s", line);
	ngot++;
}

/*
 * ESC (a colour or cursor sequence), CSI as a C1 control (U+009B), a lone
 * continuation byte, a lead byte without its tail, DEL and line breaks:
 * none reaches the sink as it came; tab, NBSP and other characters do.
 */
static void
test_log_lines_carry_no_controls(void)
{
	fg_log_set_sink(capture, NULL);
	ngot = 0;
	fg_log_warnx("ref=%s subject=%s", "refs/heads/\x1b[2Jx\xc2\x9b" "31m",
	    "a\x80" "b\xc3(c\x7f" "d\r\ne\tf\xc2\xa0g\xc3\xa9");
	CU_ASSERT_EQUAL(ngot, 1);
	CU_ASSERT_STRING_EQUAL(got, "ref=refs/heads/?[2Jx?31m "
	    "subject=a?b?(c?d  e\tf\xc2\xa0g\xc3\xa9");
	fg_log_set_sink(NULL, NULL);
}

/*
 * A message longer than the line buffer is cut; a character the cut splits
 * becomes '?', the whole ones before it stay.
 */
static void
test_log_long_line_is_cut_cleanly(void)
{
	static char big[3000];
	size_t i, len;
	bool whole = true;

	for (i = 0; i + 2 < sizeof(big); i += 2)
		memcpy(big + i, "\xc3\xa9", 2);
	big[i] = '\0';
	fg_log_set_sink(capture, NULL);
	fg_log_warnx("xy%s", big);
	len = strlen(got);
	/* 2047 bytes fit: "xy", 1,022 e-acutes, and the first byte of one. */
	CU_ASSERT_EQUAL_FATAL(len, 2 + 1022 * 2 + 1);
	CU_ASSERT_EQUAL(memcmp(got, "xy", 2), 0);
	for (i = 2; i + 1 < len; i += 2)
		whole = whole && memcmp(got + i, "\xc3\xa9", 2) == 0;
	CU_ASSERT_TRUE(whole);
	CU_ASSERT_EQUAL(got[len - 1], '?');
	fg_log_set_sink(NULL, NULL);
}

static CU_TestInfo tests[] = {
	{ "log lines carry no controls", test_log_lines_carry_no_controls },
	{ "a long line is cut cleanly", test_log_long_line_is_cut_cleanly },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("log", tests)
