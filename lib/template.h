/*
 * template.h - the three built-in pipeline templates, as data.
 *
 * A template fixes which stages exist, their promotion order, and the limits
 * a config must respect; a config only picks one and customizes each stage's
 * branch, environments and gates (DESIGN.md section 5).  Templates cannot be
 * edited: everything here is const and lives for the life of the program.
 *
 *   release      developer -> integration -> staging -> production;
 *                hotfix beside production, promoting straight into it
 *   continuous   developer -> staging -> production, staging promoted to
 *                production automatically once production's gates pass
 *   progressive  developer -> staging -> production, promotion on request
 *                only, a manual gate required on production, direct pushes
 *                to production's branch refused
 */
#ifndef FG_TEMPLATE_H
#define FG_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

enum fg_stage_id {
	FG_STAGE_NONE = -1,
	FG_STAGE_DEVELOPER = 0,
	FG_STAGE_INTEGRATION,
	FG_STAGE_STAGING,
	FG_STAGE_PRODUCTION,
	FG_STAGE_HOTFIX,
	FG_STAGE_COUNT
};

/* "developer", "integration", ...; "none" for FG_STAGE_NONE. */
const char *fg_stage_name(enum fg_stage_id id);

/* FG_STAGE_NONE when name is not a stage. */
enum fg_stage_id fg_stage_from_name(const char *name);

struct fg_template_stage {
	enum fg_stage_id id;
	enum fg_stage_id promotes_to;	/* FG_STAGE_NONE: end of the line */
	int max_envs;			/* -1: no limit */
	bool has_branch;		/* false: leases from a pool instead */
	bool required;			/* a config must configure it */
};

struct fg_template {
	const char *name;
	const char *summary;
	const struct fg_template_stage *stages;	/* promotion order */
	size_t nstages;
	bool auto_promote;		/* continuous: staging -> production */
	bool manual_gate_on_production;	/* progressive */
	bool refuse_direct_push_production; /* progressive */
	const char *default_config;	/* name of the embedded YAML */
};

/* The template called name, or NULL. */
const struct fg_template *fg_template_find(const char *name);

/* All templates, in a fixed order; *n gets their count. */
const struct fg_template *fg_template_all(size_t *n);

/* The template's entry for stage id, or NULL when it has no such stage. */
const struct fg_template_stage *fg_template_stage(const struct fg_template *t,
    enum fg_stage_id id);

/*
 * The default pipeline.yaml text of t (borrowed, NUL-terminated), as
 * 'flowgate init --template NAME' writes it.  flows.yaml's default is
 * fg_template_default_flows().
 */
const char *fg_template_default_config(const struct fg_template *t);
const char *fg_template_default_flows(const struct fg_template *t);

#endif
