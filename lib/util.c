/*
 * util.c - bounded parsing, the clock, file and JSON reading (see util.h).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "log.h"
#include "util.h"
#include "banned.h"

int
fg_parse_int(long long *out, const char *s, long long min, long long max,
    struct fg_err *err)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return fg_err_set(err, FG_EINVALID, "'%s' is not a number",
		    s ? s : "");
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0')
		return fg_err_set(err, FG_EINVALID, "'%s' is not a number", s);
	if (errno == ERANGE || v < min || v > max)
		return fg_err_set(err, FG_EINVALID,
		    "'%s' is out of range (%lld to %lld)", s, min, max);
	*out = v;
	return 0;
}

int
fg_parse_size(uint64_t *out, const char *s, uint64_t max, struct fg_err *err)
{
	static const struct { const char *suffix; uint64_t mult; } units[] = {
		{ "", 1 }, { "B", 1 }, { "KB", 1024 }, { "K", 1024 },
		{ "MB", 1024 * 1024 }, { "M", 1024 * 1024 },
		{ "GB", 1024ULL * 1024 * 1024 }, { "G", 1024ULL * 1024 * 1024 },
	};
	unsigned long long v;
	char *end;
	size_t i;

	if (s == NULL || !isdigit((unsigned char)*s))
		return fg_err_set(err, FG_EINVALID, "'%s' is not a size",
		    s ? s : "");
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return fg_err_set(err, FG_EINVALID, "'%s' is too large", s);
	for (i = 0; i < FG_ARRAY_SIZE(units); i++) {
		if (strcasecmp(end, units[i].suffix) != 0)
			continue;
		if (v > max / units[i].mult || v * units[i].mult > max)
			return fg_err_set(err, FG_EINVALID,
			    "'%s' is over the limit of %llu bytes", s,
			    (unsigned long long)max);
		*out = v * units[i].mult;
		return 0;
	}
	return fg_err_set(err, FG_EINVALID,
	    "'%s' has an unknown unit (use B, KB, MB or GB)", s);
}

static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	/* Howard Hinnant's algorithm: proleptic Gregorian, no tables. */
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* Days in month m (1-12) of the proleptic Gregorian year y. */
static unsigned
month_days(int y, int m)
{
	static const unsigned char days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return days[m - 1] + (m == 2 && leap);
}

/* The number spelled by the n digits at s (the caller checked them). */
static int
digits_at(const char *s, int n)
{
	int v = 0;

	while (n-- > 0)
		v = v * 10 + (*s++ - '0');
	return v;
}

/*
 * Exactly the shape fg_format_utc() writes, and a day the calendar has:
 * sscanf's "%4d-%2d-..." took "193-1-7", " 2026", "+2026", and the 31st of
 * February, which days_from_civil() quietly moved into March.  A leap
 * second (:60) is let through, as RFC 3339 allows it.
 */
int
fg_parse_utc(int64_t *out, const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
	int y, mo, d, h, mi, se;
	size_t i;

	for (i = 0; shape[i] != '\0'; i++)
		if (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' :
		    s[i] != shape[i])
			return FG_EINVALID;
	if (s[i] != '\0')
		return FG_EINVALID;
	y = digits_at(s, 4);
	mo = digits_at(s + 5, 2);
	d = digits_at(s + 8, 2);
	h = digits_at(s + 11, 2);
	mi = digits_at(s + 14, 2);
	se = digits_at(s + 17, 2);
	if (mo < 1 || mo > 12 || d < 1 || (unsigned)d > month_days(y, mo) ||
	    h > 23 || mi > 59 || se > 60)
		return FG_EINVALID;
	*out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
	    h * 3600 + mi * 60 + se;
	return 0;
}

void
fg_format_utc(char *out, size_t size, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL) {
		snprintf(out, size, "%lld", (long long)t);
		return;
	}
	/* Not strftime's %Y, which writes the year 193 as "193". */
	snprintf(out, size, "%04lld-%02d-%02dT%02d:%02d:%02dZ",
	    (long long)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	    tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int64_t
fg_now(void)
{
	const char *s = getenv("FLOWGATE_NOW");
	long long v;
	int64_t t;

	if (s != NULL && *s != '\0') {
		if (fg_parse_utc(&t, s) == 0)
			return t;
		if (fg_parse_int(&v, s, 0, INT64_MAX, NULL) == 0)
			return v;
		fg_log_warnx("ignoring FLOWGATE_NOW='%s': not seconds or "
		    "YYYY-MM-DDTHH:MM:SSZ", s);
	}
	return (int64_t)time(NULL);
}

int
fg_read_file(struct fg_buf *b, const char *path, size_t max,
    struct fg_err *err)
{
	struct stat st;
	char chunk[65536];
	ssize_t n;
	size_t start = b->len;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fg_err_set(err, errno == ENOENT ? FG_ENOTFOUND : FG_EIO,
		    "cannot open '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		rc = fg_err_set(err, FG_EINVALID, "'%s' is a directory", path);
		goto out;
	}
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fg_err_set(err, FG_EIO, "cannot read '%s': %s",
			    path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (b->len - start + (size_t)n > max) {
			rc = fg_err_set(err, FG_ELIMIT,
			    "'%s' is larger than the limit of %zu bytes",
			    path, max);
			goto out;
		}
		if (fg_buf_add(b, chunk, (size_t)n) < 0) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory reading "
			    "'%s'", path);
			goto out;
		}
	}
out:
	if (rc < 0)
		fg_buf_truncate(b, start);
	close(fd);
	return rc;
}

int
fg_json_parse(cJSON **out, const char *data, size_t len, struct fg_err *err)
{
	const char *end = NULL;
	cJSON *root;
	size_t i;

	*out = NULL;
	if (memchr(data, '\0', len) != NULL)
		return fg_err_set(err, FG_EINVALID, "JSON holds a NUL byte");
	root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
	if (root == NULL) {
		size_t at = end != NULL && end >= data ? (size_t)(end - data)
		    : 0;
		return fg_err_set(err, FG_EINVALID,
		    "malformed JSON near byte %zu", at);
	}
	for (i = (size_t)(end - data); i < len; i++) {
		if (!isspace((unsigned char)data[i])) {
			cJSON_Delete(root);
			return fg_err_set(err, FG_EINVALID,
			    "trailing data after JSON at byte %zu", i);
		}
	}
	*out = root;
	return 0;
}

bool
fg_refname_is_valid(const char *s)
{
	int valid = 0;

	if (s == NULL || strncmp(s, "refs/", 5) != 0)
		return false;
	if (git_reference_name_is_valid(&valid, s) < 0)
		return false;
	return valid != 0;
}

size_t
fg_utf8_char_len(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned c, need, cp, min, k;

	if (len == 0)
		return 0;
	c = s[0];
	if (c < 0x80)
		return 1;
	if ((c & 0xE0) == 0xC0) {
		need = 1; cp = c & 0x1F; min = 0x80;
	} else if ((c & 0xF0) == 0xE0) {
		need = 2; cp = c & 0x0F; min = 0x800;
	} else if ((c & 0xF8) == 0xF0) {
		need = 3; cp = c & 0x07; min = 0x10000;
	} else {
		return 0;
	}
	if (len <= need)
		return 0;
	for (k = 1; k <= need; k++) {
		if ((s[k] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[k] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return need + 1;
}

bool
fg_utf8_is_control(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;

	if (n == 1)
		return s[0] < 0x20 || s[0] == 0x7f;
	return n == 2 && s[0] == 0xc2 && s[1] < 0xa0;
}

size_t
fg_utf8_clean(char *out, size_t max, const char *s, size_t len,
    unsigned flags)
{
	size_t i = 0, o = 0, n;
	char c;

	while (i < len) {
		n = fg_utf8_char_len(s + i, len - i);
		c = s[i];
		if (n == 1 && (flags & FG_CLEAN_NL_SPACE) &&
		    (c == '\n' || c == '\r'))
			c = ' ';
		else if (n == 1 && (flags & FG_CLEAN_TAB) && c == '\t')
			;
		else if (n == 0 || fg_utf8_is_control(s + i, n))
			c = '?';
		else
			c = '\0';
		if (c != '\0') {
			if (o + 1 > max)
				break;
			out[o++] = c;
			i += n > 0 ? n : 1;
			continue;
		}
		if (o + n > max)
			break;
		memmove(out + o, s + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	return o;
}

bool
fg_utf8_is_valid(const char *str, size_t len)
{
	size_t i = 0, n;

	/* Most text is ASCII: no call a byte for it. */
	while (i < len && (unsigned char)str[i] < 0x80)
		i++;
	while (i < len) {
		n = fg_utf8_char_len(str + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

char *
fg_strdup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

bool
fg_glob_match(const char *pattern, const char *s)
{
	return fnmatch(pattern, s, 0) == 0;
}
