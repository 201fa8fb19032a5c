/*
 * util.h - small helpers every module uses: bounded number parsing, the
 * clock (which tests may fix), whole-file reads with a limit, strict JSON
 * parsing.  No state; all functions are thread-safe.
 */
#ifndef FG_UTIL_H
#define FG_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "err.h"

#define FG_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Parse s as a whole decimal integer in [min, max] (like strtonum).
 * Leading/trailing junk, empty strings and out-of-range values fail with
 * FG_EINVALID and a message naming s and the range.
 */
int fg_parse_int(long long *out, const char *s, long long min, long long max,
    struct fg_err *err);

/*
 * Parse a size such as "512", "64KB", "5MB", "1GB" (powers of 1024; case
 * does not matter) into bytes, at most max.
 */
int fg_parse_size(uint64_t *out, const char *s, uint64_t max,
    struct fg_err *err);

/*
 * The current time in seconds since the epoch.  When FLOWGATE_NOW is set it
 * wins: either seconds since the epoch or "YYYY-MM-DDTHH:MM:SSZ".  Tests use
 * it to fix the clock; a malformed value is ignored with a warning.
 */
int64_t fg_now(void);

/*
 * Parse "YYYY-MM-DDTHH:MM:SSZ" (UTC) into seconds since the epoch: exactly
 * that shape, and a day the calendar has; FG_EINVALID otherwise.
 */
int fg_parse_utc(int64_t *out, const char *s);

/*
 * Format t as "YYYY-MM-DDTHH:MM:SSZ" into out (at least 21 bytes), the
 * year zero-padded to four digits: the year 193 is "0193".
 */
void fg_format_utc(char *out, size_t size, int64_t t);

/*
 * Read all of path into b (appending), refusing files larger than max bytes
 * with FG_ELIMIT.  FG_ENOTFOUND when it does not exist, FG_EIO otherwise.
 */
int fg_read_file(struct fg_buf *b, const char *path, size_t max,
    struct fg_err *err);

/*
 * Parse exactly len bytes of JSON: no NUL inside, nothing but whitespace
 * after the value.  *out is the caller's (cJSON_Delete).
 */
int fg_json_parse(cJSON **out, const char *data, size_t len,
    struct fg_err *err);

/* True when s is a valid full ref name ("refs/heads/x"), per libgit2. */
bool fg_refname_is_valid(const char *s);

/* True when s[0..len) is valid UTF-8 (no overlongs, no surrogates). */
bool fg_utf8_is_valid(const char *s, size_t len);

/*
 * Length in bytes (1 to 4) of the well-formed UTF-8 character that starts
 * s, len bytes being left; 0 when the bytes there are not one.
 */
size_t fg_utf8_char_len(const char *s, size_t len);

/*
 * True when the character at s, n bytes long (fg_utf8_char_len), is a
 * control character: C0, DEL or C1 (U+0080-U+009F, which holds CSI).
 */
bool fg_utf8_is_control(const char *s, size_t n);

/*
 * Copy s[0..len) into out, at most max bytes and a NUL, never half a
 * character (out may be s: the text only shrinks).  Each control character
 * (C0, DEL, C1) and each byte that is not UTF-8 becomes '?', so that text
 * from outside cannot forge a line or drive a terminal; FG_CLEAN_NL_SPACE
 * makes '\n' and '\r' spaces instead, FG_CLEAN_TAB keeps tabs.  Returns the
 * length written.
 */
#define FG_CLEAN_NL_SPACE	0x1
#define FG_CLEAN_TAB		0x2
size_t fg_utf8_clean(char *out, size_t max, const char *s, size_t len,
    unsigned flags);

/* strdup; NULL in gives NULL out, NULL out otherwise means no memory. */
char *fg_strdup(const char *s);

/* True when the glob pattern (fnmatch, no special flags) matches s. */
bool fg_glob_match(const char *pattern, const char *s);

/* Big-endian integers, as git's pack and index files store them. */
static inline void
fg_put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static inline void
fg_put_be64(unsigned char *p, uint64_t v)
{
	fg_put_be32(p, (uint32_t)(v >> 32));
	fg_put_be32(p + 4, (uint32_t)v);
}

static inline uint32_t
fg_get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint64_t
fg_get_be64(const unsigned char *p)
{
	return (uint64_t)fg_get_be32(p) << 32 | fg_get_be32(p + 4);
}

#endif
