/*
 * fuzz_record.c - libFuzzer target: any bytes, parsed as JSON, as the data
 * of a record (record.json's "data", which the daemon's engine fills with
 * each delivery's event, and the CLI and the hooks with their own).
 *
 * Whatever the tree, fg_record_json() must write valid UTF-8 that parses
 * back and follows record.schema.json, or refuse data nested deeper than
 * 64 levels.  Data whose keys and strings are valid UTF-8 goes in as it
 * is (by reference, record.c), and must come back equal to the tree it
 * was given; the rest goes through the copy that repairs it.  cJSON
 * parses broken UTF-8 as it is, so inputs reach both paths.
 *
 *   make fuzz && mkdir -p /tmp/fg-record &&
 *   tests/fuzz/fuzz_record-libfuzzer -max_total_time=600 /tmp/fg-record \
 *       tests/fuzz/seeds/record ../shared/corpus/webhooks/github
 *
 * Built without libFuzzer (tests/fuzz/replay.c supplies main), the same
 * function is run by 'make check' over the seed files.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "record.h"
#include "schema.h"
#include "store.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Deeper data is refused (record.c). */
#define DEPTH_MAX 64

static cJSON *schema;

/* Keys and strings valid UTF-8, no raw item, at most DEPTH_MAX deep. */
static bool
clean(const cJSON *v, int depth)
{
	const cJSON *c;

	if (depth > DEPTH_MAX || cJSON_IsRaw(v))
		return false;
	if (cJSON_IsString(v))
		return fg_utf8_is_valid(v->valuestring, strlen(v->valuestring));
	cJSON_ArrayForEach(c, v) {
		if (c->string != NULL &&
		    !fg_utf8_is_valid(c->string, strlen(c->string)))
			return false;
		if (!clean(c, depth + 1))
			return false;
	}
	return true;
}

static int
depth_of(const cJSON *v)
{
	const cJSON *c;
	int d, max = 0;

	cJSON_ArrayForEach(c, v) {
		d = depth_of(c) + 1;
		if (d > max)
			max = d;
	}
	return max;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_buf out = FG_BUF_INIT;
	struct fg_record rec;
	cJSON *tree = NULL, *obj, *back = NULL;
	char *want, *got;
	int rc;

	if (schema == NULL &&
	    fg_schema_load(&schema, "record.schema.json", &err) < 0)
		__builtin_trap();	/* the embedded schema is broken */
	if (fg_json_parse(&tree, (const char *)data, size, &err) < 0)
		return 0;
	/* Record data is an object: anything else is wrapped in one. */
	obj = tree;
	if (!cJSON_IsObject(tree)) {
		obj = cJSON_CreateObject();
		if (obj == NULL)
			goto out;
		cJSON_AddItemToObject(obj, "v", tree);
	}
	memset(&rec, 0, sizeof(rec));
	rec.kind = "event";
	rec.subject = "fuzz";
	rec.data = obj;
	rc = fg_record_json(&out, &rec, 1795428000, &err);
	if (rc < 0) {
		/* Only too deep a tree is refused (or memory runs out). */
		if (rc != FG_ENOMEM && !(rc == FG_EINVALID &&
		    depth_of(obj) > DEPTH_MAX))
			__builtin_trap();
		goto out;
	}
	if (!fg_utf8_is_valid(out.ptr, out.len) ||
	    fg_json_parse(&back, out.ptr, out.len, &err) < 0 ||
	    fg_schema_validate(schema, back, NULL, "record.json", &d) != 0)
		__builtin_trap();
	if (clean(obj, 0)) {
		want = cJSON_PrintUnformatted(obj);
		got = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(
		    back, "data"));
		if (want != NULL && got != NULL && strcmp(want, got) != 0)
			__builtin_trap();
		cJSON_free(want);
		cJSON_free(got);
	}
out:
	fg_diags_release(&d);
	fg_buf_release(&out);
	cJSON_Delete(back);
	cJSON_Delete(obj != NULL ? obj : tree);
	return 0;
}
