/*
 * pipeline.c - lookups over a parsed config (see pipeline.h).
 */
#include <string.h>

#include "pipeline.h"
#include "banned.h"

const struct fg_stage *
fg_pipeline_stage_for_branch(const struct fg_config *cfg, const char *branch)
{
	int i;

	if (strncmp(branch, "refs/heads/", 11) == 0)
		branch += 11;
	for (i = 0; i < FG_STAGE_COUNT; i++) {
		const struct fg_stage *st = &cfg->stages[i];

		if (st->configured && st->branch != NULL &&
		    strcmp(st->branch, branch) == 0)
			return st;
	}
	return NULL;
}

const struct fg_stage *
fg_pipeline_stage(const struct fg_config *cfg, const char *name)
{
	enum fg_stage_id id = fg_stage_from_name(name);

	if (id == FG_STAGE_NONE || !cfg->stages[id].configured)
		return NULL;
	return &cfg->stages[id];
}

const struct fg_stage *
fg_pipeline_target(const struct fg_config *cfg, const struct fg_stage *from)
{
	enum fg_stage_id to;

	if (from == NULL || from->tmpl == NULL)
		return NULL;
	to = from->tmpl->promotes_to;
	if (to == FG_STAGE_NONE || !cfg->stages[to].configured)
		return NULL;
	return &cfg->stages[to];
}

size_t
fg_pipeline_order(const struct fg_config *cfg,
    const struct fg_stage *out[FG_STAGE_COUNT])
{
	const struct fg_template *t = cfg->tmpl;
	size_t i, n = 0;

	for (i = 0; i < t->nstages; i++)
		if (cfg->stages[t->stages[i].id].configured)
			out[n++] = &cfg->stages[t->stages[i].id];
	return n;
}

const struct fg_env *
fg_pipeline_env(const struct fg_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nenvs; i++)
		if (strcmp(cfg->envs[i].name, name) == 0)
			return &cfg->envs[i];
	return NULL;
}

const struct fg_pool *
fg_pipeline_pool(const struct fg_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->npools; i++)
		if (strcmp(cfg->pools[i].name, name) == 0)
			return &cfg->pools[i];
	return NULL;
}

const struct fg_secret *
fg_pipeline_secret(const struct fg_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nsecrets; i++)
		if (strcmp(cfg->secrets[i].name, name) == 0)
			return &cfg->secrets[i];
	return NULL;
}

const struct fg_deploy *
fg_pipeline_deploy(const struct fg_config *cfg, const struct fg_env *env)
{
	const struct fg_pool *p;

	if (env->deploy.kind != FG_DEPLOY_NONE)
		return &env->deploy;
	if (env->pool == NULL)
		return NULL;
	p = fg_pipeline_pool(cfg, env->pool);
	if (p == NULL || p->deploy.kind == FG_DEPLOY_NONE)
		return NULL;
	return &p->deploy;
}
