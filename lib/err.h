/*
 * err.h - error codes and the caller-owned error that carries their text.
 *
 * Every fallible lib/ function returns 0 or a negative FG_E* code and, when
 * it fails, fills the struct fg_err its caller passed (last parameter, may be
 * NULL).  The code is for programs, the message for people: one line,
 * lowercase, no final full stop, the subject in single quotes.
 *
 * A struct fg_err is plain data owned by the caller; nothing in it needs
 * freeing, so workers and tests can hold as many as they like.
 *
 * struct fg_diags collects many messages (a config with five mistakes gets
 * five lines), each already formatted as "file:line:col: path: what".
 */
#ifndef FG_ERR_H
#define FG_ERR_H

#include <stdarg.h>
#include <stddef.h>

enum {
	FG_OK = 0,
	FG_ENOMEM = -1,		/* out of memory */
	FG_EINVALID = -2,	/* input is malformed or breaks a rule */
	FG_ENOTFOUND = -3,	/* no such repository, ref, stage, ... */
	FG_ECONFLICT = -4,	/* lost a compare-and-swap, or a state conflict */
	FG_ELIMIT = -5,		/* input over a configured limit */
	FG_EDENIED = -6,	/* refused by a rule, gate or permission */
	FG_EIO = -7,		/* the disk, git, a child or the network failed */
	FG_EBUSY = -8,		/* held by someone else (an environment deploying) */
};

#define FG_ERR_MSG_MAX 1024

struct fg_err {
	int code;
	char msg[FG_ERR_MSG_MAX];
};

#define FG_ERR_INIT { 0, "" }

#ifdef __GNUC__
#define FG_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define FG_PRINTF(f, a)
#endif

/*
 * Set err (if not NULL) to code and the formatted message, replacing CR and
 * LF by spaces so outside text cannot add lines.  Returns code, so a failure
 * is one statement: return fg_err_set(err, FG_EINVALID, "...", ...);
 */
int fg_err_set(struct fg_err *err, int code, const char *fmt, ...)
    FG_PRINTF(3, 4);

/*
 * As fg_err_set, then append ": " and libgit2's last error text (if any).
 * Use it right after a git_* call failed.
 */
int fg_err_git(struct fg_err *err, int code, const char *fmt, ...)
    FG_PRINTF(3, 4);

/* The message of err, or "" when err is NULL. */
const char *fg_err_msg(const struct fg_err *err);

/* A short name of a code ("invalid", "conflict", ...), never NULL. */
const char *fg_strerror(int code);

/*
 * A list of diagnostics.  fg_diags_init it, add lines, read d->n and
 * d->lines[i], fg_diags_release it.  Adding never fails visibly: a line
 * whose text cannot be allocated is counted in d->dropped instead, so
 * fg_diags_count() still says how many errors there were.
 */
struct fg_diags {
	char **lines;
	size_t n;
	size_t alloc;
	size_t dropped;
};

#define FG_DIAGS_INIT { NULL, 0, 0, 0 }

/* How many lines were added, kept or dropped. */
size_t fg_diags_count(const struct fg_diags *d);

void fg_diags_init(struct fg_diags *d);
void fg_diags_release(struct fg_diags *d);
void fg_diags_add(struct fg_diags *d, const char *fmt, ...) FG_PRINTF(2, 3);
void fg_diags_vadd(struct fg_diags *d, const char *fmt, va_list ap)
    FG_PRINTF(2, 0);

/*
 * Add one "file:line:col: path: message" line.  line and col count from 1;
 * 0 leaves them out.  path may be "" for the document root.
 */
void fg_diags_at(struct fg_diags *d, const char *file, unsigned line,
    unsigned col, const char *path, const char *fmt, ...) FG_PRINTF(6, 7);

#endif
