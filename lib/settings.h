/*
 * settings.h - flowgate-webhookd's own settings: where to listen, which
 * repositories to serve, their webhook secrets, API tokens and limits.
 *
 * The settings come from a YAML file given with --config (checked against
 * schemas/webhookd.schema.json, every error reported as
 * "file:line:col: path: what is wrong"), never from a repository.  Without
 * a file the embedded defaults apply: 127.0.0.1:8686, ./var/repos, and one
 * webhook secret for every repository from FLOWGATE_WEBHOOK_SECRET.
 *
 * Secrets are named in the file ({env: NAME} or {file: PATH}), never
 * written there; they are read when the settings are loaded (at start and
 * on SIGHUP), kept in memory while the settings live, and wiped when they
 * are freed.  A secret file readable by group or others is refused.
 * API tokens are stored as "sha256:<hex>" of the token: the file never
 * holds a token that works.
 *
 * Ownership: fg_settings_load() and fg_settings_default() return a struct
 * the caller frees with fg_settings_free(); every pointer inside belongs
 * to it.  Settings are immutable once loaded, so threads may share them;
 * a reload builds a new struct and swaps it in.
 */
#ifndef FG_SETTINGS_H
#define FG_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define FG_SETTINGS_LISTEN		"127.0.0.1:8686"
#define FG_SETTINGS_ROOT		"./var/repos"
#define FG_SETTINGS_SECRET_ENV		"FLOWGATE_WEBHOOK_SECRET"

/*
 * Limits and their defaults.  Each is a key under "limits:" in the file.
 *   body         largest request body (at most 25 MB, GitHub's own cap)
 *   headers      largest request head (request line and headers)
 *   timeout      seconds a client has to send a whole request; a client
 *                trickling bytes is cut off when it runs out
 *   connections  open connections; more are closed at once
 *   backlog      deliveries accepted but not yet processed, per
 *                repository, before new ones get 503
 *   queue        bytes of deliveries waiting for the disk, in all; over it
 *                new deliveries get 503 (bounds memory under overload)
 *   batch        deliveries written in one group commit at most
 *   handoff      bytes of events the intake hands the engine from memory,
 *                in all; past it the engine reads them back from the inbox
 */
#define FG_SETTINGS_BODY_MAX		(25u * 1024 * 1024)
#define FG_SETTINGS_BODY_DEFAULT	FG_SETTINGS_BODY_MAX
#define FG_SETTINGS_HEADERS_MAX		(1024u * 1024)
#define FG_SETTINGS_HEADERS_DEFAULT	(64u * 1024)
#define FG_SETTINGS_TIMEOUT_DEFAULT	30
#define FG_SETTINGS_CONNECTIONS_DEFAULT	1024
#define FG_SETTINGS_BACKLOG_DEFAULT	10000
#define FG_SETTINGS_QUEUE_MAX		(1024ull * 1024 * 1024)
#define FG_SETTINGS_QUEUE_DEFAULT	(64u * 1024 * 1024)
#define FG_SETTINGS_BATCH_DEFAULT	256
#define FG_SETTINGS_HANDOFF_MAX		(256ull * 1024 * 1024)
#define FG_SETTINGS_HANDOFF_DEFAULT	(1024u * 1024)
#define FG_SETTINGS_WORKERS_DEFAULT	2

/* Largest settings file read. */
#define FG_SETTINGS_FILE_MAX		(1024 * 1024)

enum fg_role {
	FG_ROLE_NONE = 0,
	FG_ROLE_READ,
	FG_ROLE_OPERATE,
	FG_ROLE_ADMIN,
};

/* A forge repository named in the file. */
struct fg_settings_repo {
	char *name;			/* "owner/name" */
	char *path;			/* the bare repository */
	char *secret;			/* NULL: the default secret */
};

struct fg_settings_token {
	char *name;
	unsigned char hash[32];		/* SHA-256 of the token */
	enum fg_role role;
};

struct fg_settings {
	char *file;			/* NULL for the embedded defaults */
	char *listen;
	char *root;
	char *secret;			/* for repositories without their own */
	struct fg_settings_repo *repos;
	size_t nrepos;
	struct fg_settings_token *tokens;
	size_t ntokens;
	uint64_t body_max;
	uint64_t headers_max;
	int timeout;
	int connections;
	int backlog;
	uint64_t queue_max;
	int batch_max;
	uint64_t handoff_max;
	int workers;
};

/*
 * Parse and check the settings text (file names it in diagnostics) and
 * read the secrets it names.  Returns 0, or FG_EINVALID with every problem
 * added to d (schema errors, a size over its maximum, a missing variable
 * or file, a secret file open to group or others), or FG_ENOMEM.
 */
int fg_settings_parse(struct fg_settings **out, const char *text,
    size_t len, const char *file, struct fg_diags *d);

/* Read file and fg_settings_parse it; a file that cannot be read is one
 * diagnostic. */
int fg_settings_load(struct fg_settings **out, const char *file,
    struct fg_diags *d);

/*
 * The embedded defaults (no file): every limit at its default, the secret
 * from FLOWGATE_WEBHOOK_SECRET (absent or empty: none, and every webhook
 * is refused with 401 until one is set).
 */
int fg_settings_default(struct fg_settings **out, struct fg_err *err);

/* Replace listen or root (--listen, --root win over the file). */
int fg_settings_set_listen(struct fg_settings *s, const char *listen,
    struct fg_err *err);
int fg_settings_set_root(struct fg_settings *s, const char *root,
    struct fg_err *err);

/* Wipe the secrets, free everything.  Accepts NULL. */
void fg_settings_free(struct fg_settings *s);

/*
 * The webhook secret for forge repository name (its own, else the
 * default), or NULL when there is none.  Borrowed from s.
 */
const char *fg_settings_secret(const struct fg_settings *s,
    const char *name);

/*
 * Where forge repository name lives: its path from the file, else
 * <root>/<name>.git.  name must already be a checked repository name
 * (fg_event_set refuses '..' and the like).  FG_ENOMEM only.
 */
int fg_settings_repo_path(char **out, const struct fg_settings *s,
    const char *name);

/*
 * The role of the bearer token (the text after "Bearer "), or
 * FG_ROLE_NONE when no configured hash matches.  Every configured hash is
 * compared in constant time.  *name (may be NULL) gets the token's name,
 * borrowed from s.
 */
enum fg_role fg_settings_token_role(const struct fg_settings *s,
    const char *token, const char **name);

/* Write "sha256:<64 hex>" of token into out, for the file. */
void fg_settings_token_hash(char out[72], const char *token);

/* "read", "operate", "admin", "none". */
const char *fg_role_name(enum fg_role role);

/* Split "ADDR:PORT"; FG_EINVALID when it is not that. */
int fg_settings_split_listen(char *host, size_t hsize, unsigned short *port,
    const char *listen, struct fg_err *err);

#endif
