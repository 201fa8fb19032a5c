/*
 * template.c - the built-in templates (see template.h).
 *
 * The tables below are the whole definition of each template; everything
 * that enforces a template (config checks, promotion targets, push refusal)
 * reads them, so a template's rules are stated once.
 */
#include <stdio.h>
#include <string.h>

#include "embed.h"
#include "template.h"
#include "util.h"
#include "banned.h"

static const char *const stage_names[FG_STAGE_COUNT] = {
	"developer", "integration", "staging", "production", "hotfix",
};

static const struct fg_template_stage release_stages[] = {
	{ FG_STAGE_DEVELOPER, FG_STAGE_INTEGRATION, -1, false, false },
	{ FG_STAGE_INTEGRATION, FG_STAGE_STAGING, -1, true, true },
	{ FG_STAGE_STAGING, FG_STAGE_PRODUCTION, -1, true, true },
	{ FG_STAGE_PRODUCTION, FG_STAGE_NONE, 1, true, true },
	{ FG_STAGE_HOTFIX, FG_STAGE_PRODUCTION, 1, true, false },
};

static const struct fg_template_stage short_stages[] = {
	{ FG_STAGE_DEVELOPER, FG_STAGE_STAGING, -1, false, false },
	{ FG_STAGE_STAGING, FG_STAGE_PRODUCTION, -1, true, true },
	{ FG_STAGE_PRODUCTION, FG_STAGE_NONE, 1, true, true },
};

static const struct fg_template templates[] = {
	{
		"release",
		"explicit promotions through integration and staging; "
		"hotfix beside production",
		release_stages, FG_ARRAY_SIZE(release_stages),
		false, false, false,
		"release.yaml",
	},
	{
		"progressive",
		"promotion on request only; production needs a manual "
		"approval and refuses direct pushes",
		short_stages, FG_ARRAY_SIZE(short_stages),
		false, true, true,
		"progressive.yaml",
	},
	{
		"continuous",
		"a change deployed on staging is promoted to production "
		"automatically once production's gates pass",
		short_stages, FG_ARRAY_SIZE(short_stages),
		true, false, false,
		"continuous.yaml",
	},
};

const char *
fg_stage_name(enum fg_stage_id id)
{
	if (id < 0 || id >= FG_STAGE_COUNT)
		return "none";
	return stage_names[id];
}

enum fg_stage_id
fg_stage_from_name(const char *name)
{
	int i;

	for (i = 0; i < FG_STAGE_COUNT; i++)
		if (name != NULL && strcmp(name, stage_names[i]) == 0)
			return (enum fg_stage_id)i;
	return FG_STAGE_NONE;
}

const struct fg_template *
fg_template_find(const char *name)
{
	size_t i;

	for (i = 0; i < FG_ARRAY_SIZE(templates); i++)
		if (name != NULL && strcmp(name, templates[i].name) == 0)
			return &templates[i];
	return NULL;
}

const struct fg_template *
fg_template_all(size_t *n)
{
	*n = FG_ARRAY_SIZE(templates);
	return templates;
}

const struct fg_template_stage *
fg_template_stage(const struct fg_template *t, enum fg_stage_id id)
{
	size_t i;

	for (i = 0; i < t->nstages; i++)
		if (t->stages[i].id == id)
			return &t->stages[i];
	return NULL;
}

const char *
fg_template_default_config(const struct fg_template *t)
{
	const struct fg_embedded_file *f = fg_embedded_find(t->default_config);

	return f != NULL ? f->data : NULL;
}

const char *
fg_template_default_flows(const struct fg_template *t)
{
	const struct fg_embedded_file *f;
	char name[64];

	snprintf(name, sizeof(name), "%.*s.flows.yaml",
	    (int)(strlen(t->default_config) - 5), t->default_config);
	f = fg_embedded_find(name);
	return f != NULL ? f->data : NULL;
}
