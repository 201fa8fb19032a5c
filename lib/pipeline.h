/*
 * pipeline.h - questions asked of a parsed config: which stage a branch
 * belongs to, where a stage promotes to, how an environment is deployed.
 *
 * Every answer is a pointer borrowed from the struct fg_config, valid as
 * long as it is; NULL means "none".  No function here allocates or fails.
 */
#ifndef FG_PIPELINE_H
#define FG_PIPELINE_H

#include <stddef.h>

#include "config.h"

/*
 * The stage tracking branch, given as "main" or "refs/heads/main", or NULL
 * when no stage does (the developer stage tracks no branch).
 */
const struct fg_stage *fg_pipeline_stage_for_branch(
    const struct fg_config *cfg, const char *branch);

/* The stage called name ("staging"), if the config has it. */
const struct fg_stage *fg_pipeline_stage(const struct fg_config *cfg,
    const char *name);

/*
 * Where a change in stage from is promoted to by default: the next stage up
 * the template's hierarchy (hotfix: production), if configured.
 */
const struct fg_stage *fg_pipeline_target(const struct fg_config *cfg,
    const struct fg_stage *from);

/*
 * The configured stages in promotion order, developer first and hotfix
 * last.  Fills out (room for FG_STAGE_COUNT) and returns the count.
 */
size_t fg_pipeline_order(const struct fg_config *cfg,
    const struct fg_stage *out[FG_STAGE_COUNT]);

const struct fg_env *fg_pipeline_env(const struct fg_config *cfg,
    const char *name);
const struct fg_pool *fg_pipeline_pool(const struct fg_config *cfg,
    const char *name);
const struct fg_secret *fg_pipeline_secret(const struct fg_config *cfg,
    const char *name);

/*
 * How env is deployed: its own deploy settings, or its pool's for a sandbox
 * environment; NULL when neither says.
 */
const struct fg_deploy *fg_pipeline_deploy(const struct fg_config *cfg,
    const struct fg_env *env);

#endif
