/*
 * fuzz_schema.c - libFuzzer target: any bytes as a JSON document checked
 * against flowgate's schemas (schema.c's validator).
 *
 * The REST API validates request bodies against api.schema.json before
 * anything else reads them, and the engine and the CLI validate records,
 * pull states, notes, runs, leases and deployments read back from a
 * repository.  For any document the validator must answer valid, or
 * invalid with at least one diagnostic, within its step bound, and never
 * crash or leak.  The input is parsed as JSON (cJSON, as the daemon does);
 * what parses is checked against every schema file and every definition
 * of api.schema.json.
 *
 *   make fuzz && mkdir -p /tmp/fg-schema &&
 *   tests/fuzz/fuzz_schema-libfuzzer -max_total_time=600 /tmp/fg-schema \
 *       ../shared/corpus/webhooks/github
 *
 * Built without libFuzzer (tests/fuzz/replay.c supplies main), the same
 * function is run by 'make check' over the seed files.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "schema.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const files[] = {
	"api.schema.json", "deployment.schema.json", "flows.schema.json",
	"leases.schema.json", "note.schema.json", "pipeline.schema.json",
	"pull.schema.json", "record.schema.json", "run.schema.json",
	"webhookd.schema.json",
};
#define NFILES (sizeof(files) / sizeof(files[0]))

static cJSON *schemas[NFILES];

static void
check(const cJSON *schema, const cJSON *doc)
{
	struct fg_diags d = FG_DIAGS_INIT;
	int rc;

	rc = fg_schema_validate(schema, doc, NULL, "fuzz.json", &d);
	if ((rc == 0 && fg_diags_count(&d) != 0) ||
	    (rc == FG_EINVALID && fg_diags_count(&d) == 0) ||
	    (rc != 0 && rc != FG_EINVALID && rc != FG_ENOMEM))
		__builtin_trap();
	fg_diags_release(&d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fg_err err = FG_ERR_INIT;
	const cJSON *def;
	cJSON *doc = NULL;
	size_t i;

	for (i = 0; i < NFILES; i++)
		if (schemas[i] == NULL &&
		    fg_schema_load(&schemas[i], files[i], &err) < 0)
			__builtin_trap();	/* an embedded schema is broken */
	if (fg_json_parse(&doc, (const char *)data, size, &err) < 0)
		return 0;
	for (i = 0; i < NFILES; i++)
		check(schemas[i], doc);
	cJSON_ArrayForEach(def, cJSON_GetObjectItemCaseSensitive(schemas[0],
	    "$defs"))
		check(def, doc);
	cJSON_Delete(doc);
	return 0;
}
