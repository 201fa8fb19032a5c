/*
 * config.h - a repository's pipeline configuration, parsed and checked.
 *
 * The config is two YAML files on refs/flowgate/config: pipeline.yaml and
 * flows.yaml.  Loading goes: YAML -> JSON tree with positions (yaml.h) ->
 * JSON Schema check (schema.h and the schemas/ directory: the one statement of
 * what is valid) -> the template's limits (template.h) and cross-references
 * (every environment, pool and secret a stage names exists) -> the structs
 * below.  Every error of every file is reported in one run, each as
 * "file:line:col: path: what is wrong", through a struct fg_diags.
 *
 * Ownership: fg_config_parse() returns a struct fg_config the caller frees
 * with fg_config_free(); every pointer inside is owned by it and lives as
 * long as it does.  A config is immutable once parsed: share it between
 * threads freely.
 */
#ifndef FG_CONFIG_H
#define FG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "buf.h"
#include "err.h"
#include "template.h"

#define FG_CONFIG_REF "refs/flowgate/config"
#define FG_CONFIG_PIPELINE "pipeline.yaml"
#define FG_CONFIG_FLOWS "flows.yaml"

/*
 * Largest config file read from disk.  Bigger files are refused before
 * parsing; the YAML parser refuses over FG_YAML_MAX_BYTES itself, so this
 * only keeps a 10 GB mistake from being read into memory first.
 */
#define FG_CONFIG_MAX_BYTES (16 * 1024 * 1024)

/* A list of strings; argv vectors are NULL-terminated (argv[argc] == NULL). */
struct fg_strv {
	char **v;
	size_t n;
};

enum fg_gate_kind {
	FG_GATE_APPROVALS,
	FG_GATE_STATUS,
	FG_GATE_SOAK,
	FG_GATE_MANUAL,
	FG_GATE_WINDOW,
	FG_GATE_FREEZE,
	FG_GATE_UP_TO_DATE,
	FG_GATE_COMMAND,
};

struct fg_freeze {
	int64_t from, to;		/* seconds since the epoch, UTC */
	char *reason;			/* may be NULL */
};

struct fg_gate {
	enum fg_gate_kind kind;
	unsigned line, col;		/* where it is in pipeline.yaml */
	int approvals;			/* APPROVALS */
	struct fg_strv contexts;	/* STATUS */
	int soak_minutes;		/* SOAK */
	struct fg_strv approvers;	/* MANUAL; empty: any admin */
	unsigned days;			/* WINDOW: bit 0 = monday; 0 = any */
	int from_minute, to_minute;	/* WINDOW: minutes since midnight */
	char *tz;			/* WINDOW: IANA name, NULL = UTC */
	struct fg_freeze *freezes;	/* FREEZE */
	size_t nfreezes;
	struct fg_strv argv;		/* COMMAND */
	int timeout;			/* COMMAND: seconds */
};

enum fg_deploy_kind {
	FG_DEPLOY_NONE,
	FG_DEPLOY_COMMAND,
	FG_DEPLOY_HTTP,
};

struct fg_deploy {
	enum fg_deploy_kind kind;
	struct fg_strv argv;		/* COMMAND */
	char *url;			/* HTTP */
	char *secret;			/* HTTP: name in config->secrets */
	char *poll;			/* HTTP: status URL, may be NULL */
	int timeout;			/* seconds */
};

struct fg_env {
	char *name;
	char *url;			/* where people see it; may be NULL */
	struct fg_deploy deploy;
	const char *pool;		/* the pool it belongs to, or NULL */
};

struct fg_pool {
	char *name;
	struct fg_strv envs;
	struct fg_deploy deploy;
	struct fg_strv reset;		/* argv, may be empty */
	int lease_minutes;
};

struct fg_stage {
	enum fg_stage_id id;
	bool configured;		/* present in pipeline.yaml */
	const struct fg_template_stage *tmpl;
	char *branch;			/* "develop"; NULL for developer */
	struct fg_strv envs;
	struct fg_gate *gates;
	size_t ngates;
	char *pool;			/* developer only */
};

enum fg_rule_kind {
	FG_RULE_NO_FORCE_PUSH,
	FG_RULE_NO_DELETE,
	FG_RULE_SECRETS,
	FG_RULE_SIGNED,
	FG_RULE_LINEAR,
	FG_RULE_MESSAGE,
	FG_RULE_AUTHOR_EMAIL,
	FG_RULE_MAX_FILE_SIZE,
	FG_RULE_FORBID_PATHS,
	FG_RULE_MAX_COMMITS,
};

struct fg_rule {
	enum fg_rule_kind kind;
	unsigned line, col;
	char *regex;			/* MESSAGE, AUTHOR_EMAIL (POSIX ERE) */
	uint64_t max_size;		/* MAX_FILE_SIZE, bytes */
	struct fg_strv paths;		/* FORBID_PATHS (git pathspecs) */
	long max_commits;		/* MAX_COMMITS */
	struct fg_strv verify;		/* SIGNED: optional verify argv */
};

struct fg_push_set {
	struct fg_strv branches;	/* glob patterns on the branch name */
	struct fg_rule *rules;
	size_t nrules;
};

struct fg_secret {
	char *name;
	char *env;			/* read from this variable, or */
	char *file;			/* from this file */
};

struct fg_config {
	const struct fg_template *tmpl;
	struct fg_stage stages[FG_STAGE_COUNT];	/* indexed by stage id */
	struct fg_env *envs;
	size_t nenvs;
	struct fg_pool *pools;
	size_t npools;
	struct fg_push_set *push;
	size_t npush;
	struct fg_secret *secrets;
	size_t nsecrets;
	struct fg_strv admins;
	struct fg_strv identity;	/* env vars naming the pusher */
	cJSON *flows;			/* flows.yaml's "flows" object, checked */
};

/*
 * Parse and check a config.  pipeline is required; flows may be NULL (no
 * flows).  pfile and ffile name the texts in diagnostics.  Returns 0, or
 * FG_EINVALID with every problem added to d, or FG_ENOMEM.
 */
int fg_config_parse(struct fg_config **out, const char *pipeline,
    size_t plen, const char *pfile, const char *flows, size_t flen,
    const char *ffile, struct fg_diags *d);

/* Check only: like fg_config_parse, but keeps nothing. */
int fg_config_check(const char *pipeline, size_t plen, const char *pfile,
    const char *flows, size_t flen, const char *ffile, struct fg_diags *d);

/* Check a flows.yaml on its own (for 'flowgate config check'). */
int fg_config_check_flows(const char *flows, size_t flen, const char *ffile,
    struct fg_diags *d);

void fg_config_free(struct fg_config *cfg);

/*
 * Read pipeline.yaml and flows.yaml from the tree of commit (or of
 * refs/flowgate/config when commit is NULL) into the two buffers (appended;
 * flows stays empty when the tree has no flows.yaml).  FG_ENOTFOUND when the
 * ref or pipeline.yaml is missing.
 */
int fg_config_read(struct fg_buf *pipeline, struct fg_buf *flows,
    git_repository *repo, const git_oid *commit, struct fg_err *err);

/*
 * Read and parse the repository's current config.  Parse errors go to d
 * and give FG_EINVALID; git errors go to err.  The schema check is skipped
 * for the config that last passed it, named with the schemas' ids in
 * $GIT_DIR/flowgate-config.ok (see config.c).
 */
int fg_config_load(struct fg_config **out, git_repository *repo,
    struct fg_diags *d, struct fg_err *err);

/*
 * Commit pipeline.yaml (and flows.yaml when flows is not NULL; otherwise
 * the current flows.yaml is kept) as a new commit on refs/flowgate/config,
 * authored by name <email>, with message.  The texts are checked first and
 * refused with FG_EINVALID (diagnostics in d) when invalid.  The ref moves
 * by compare-and-swap from the tip read at the start; if someone else moved
 * it meanwhile, FG_ECONFLICT.  When nothing changed, *changed is false and
 * no commit is made.  out (may be NULL) gets the tip afterwards.
 */
int fg_config_commit(git_oid *out, bool *changed, git_repository *repo,
    const char *pipeline, const char *flows, const char *name,
    const char *email, const char *message, struct fg_diags *d,
    struct fg_err *err);

#endif
