/*
 * test_schema.c - the JSON Schema subset: every keyword, exact messages,
 * positions, and load-time refusal of what we do not support (schema.h).
 *
 * Schemas are inline JSON here; the real ones in schemas/ have their own
 * tests.  Instances are YAML, so diagnostics carry line and column.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "schema.h"
#include "unit.h"
#include "util.h"
#include "yaml.h"

/* Parse and check an inline schema that must be acceptable. */
static cJSON *
schema_of(const char *json)
{
	struct fg_err err = FG_ERR_INIT;
	cJSON *s = NULL;

	CU_ASSERT_EQUAL_FATAL(fg_json_parse(&s, json, strlen(json), &err), 0);
	CU_ASSERT_EQUAL(fg_schema_check(s, "t.schema.json", &err), 0);
	if (err.msg[0] != '\0')
		fprintf(stderr, "\nschema refused: %s\n", err.msg);
	return s;
}

/*
 * Validate YAML text against schema JSON; the diagnostics must be exactly
 * want (NULL-terminated; an empty list means valid).
 */
static void
expect(const char *schema_json, const char *yaml, const char *const *want)
{
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_jdoc *doc = NULL;
	cJSON *schema = schema_of(schema_json);
	size_t i, n = 0;
	int rc;

	CU_ASSERT_EQUAL_FATAL(fg_yaml_parse(&doc, yaml, strlen(yaml),
	    "p.yaml", &d), 0);
	rc = fg_schema_validate(schema, fg_jdoc_root(doc), doc, NULL, &d);
	while (want[n] != NULL)
		n++;
	CU_ASSERT_EQUAL(rc, n > 0 ? FG_EINVALID : 0);
	CU_ASSERT_EQUAL(d.n, n);
	for (i = 0; i < d.n || i < n; i++) {
		const char *got = i < d.n ? d.lines[i] : "(none)";
		const char *exp = i < n ? want[i] : "(none)";

		if (strcmp(got, exp) != 0) {
			CU_FAIL("diagnostic differs");
			fprintf(stderr, "\n got: %s\nwant: %s\n", got, exp);
		}
	}
	fg_diags_release(&d);
	fg_jdoc_free(doc);
	cJSON_Delete(schema);
}

static void
expect_valid(const char *schema_json, const char *yaml)
{
	const char *none[] = { NULL };

	expect(schema_json, yaml, none);
}

static void
expect_one(const char *schema_json, const char *yaml, const char *line)
{
	const char *want[] = { line, NULL };

	expect(schema_json, yaml, want);
}

/* fg_schema_check must refuse json with exactly msg. */
static void
expect_refused(const char *json, const char *msg)
{
	struct fg_err err = FG_ERR_INIT;
	cJSON *s = NULL;

	CU_ASSERT_EQUAL_FATAL(fg_json_parse(&s, json, strlen(json), &err), 0);
	CU_ASSERT_EQUAL(fg_schema_check(s, "t.schema.json", &err),
	    FG_EINVALID);
	CU_ASSERT_STRING_EQUAL(err.msg, msg);
	if (strcmp(err.msg, msg) != 0)
		fprintf(stderr, "\n got: %s\nwant: %s\n", err.msg, msg);
	cJSON_Delete(s);
}

static const char pipeline_schema[] =
	"{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
	" \"title\": \"pipeline\", \"type\": \"object\","
	" \"required\": [\"name\", \"stages\"],"
	" \"additionalProperties\": false,"
	" \"properties\": {"
	"  \"name\": {\"type\": \"string\", \"pattern\": \"^[a-z][a-z0-9-]*$\","
	"   \"maxLength\": 20},"
	"  \"mode\": {\"enum\": [\"release\", \"progressive\", \"continuous\"]},"
	"  \"stages\": {\"type\": \"object\"}"
	" }}";

static void
test_schema_accepts_a_valid_instance(void)
{
	static const char schema[] =
	    "{\"type\": \"object\", \"required\": [\"name\", \"stages\"],"
	    " \"additionalProperties\": false,"
	    " \"properties\": {"
	    "  \"name\": {\"type\": \"string\", \"minLength\": 1,"
	    "   \"description\": \"annotations are ignored\"},"
	    "  \"mode\": {\"enum\": [\"release\", \"progressive\"],"
	    "   \"default\": \"release\"},"
	    "  \"stages\": {\"type\": \"object\","
	    "   \"additionalProperties\": {\"$ref\": \"#/$defs/stage\"}}},"
	    " \"$defs\": {\"stage\": {\"type\": \"object\","
	    "  \"properties\": {\"branch\": {\"type\": \"string\"},"
	    "   \"gates\": {\"type\": \"array\", \"items\": {\"type\": \"object\"},"
	    "    \"maxItems\": 5}}}}}";

	expect_valid(schema,
	    "name: demo\n"
	    "mode: release\n"
	    "stages:\n"
	    "  production:\n"
	    "    branch: main\n"
	    "    gates: [{approvals: 2}]\n");
}

static void
test_schema_reports_type_mismatches_in_plain_words(void)
{
	static const char schema[] =
	    "{\"properties\": {"
	    " \"s\": {\"type\": \"string\"}, \"i\": {\"type\": \"integer\"},"
	    " \"o\": {\"type\": \"object\"}, \"a\": {\"type\": \"array\"},"
	    " \"b\": {\"type\": \"boolean\"}, \"n\": {\"type\": \"null\"},"
	    " \"sn\": {\"type\": [\"string\", \"null\"]},"
	    " \"sin\": {\"type\": [\"string\", \"integer\", \"null\"]}}}";
	const char *want[] = {
	    "p.yaml:1:4: s: expected a string, found a number",
	    "p.yaml:2:4: i: expected an integer, found a number",
	    "p.yaml:3:4: o: expected an object, found an array",
	    "p.yaml:4:4: a: expected an array, found an object",
	    "p.yaml:5:4: b: expected a boolean, found a string",
	    "p.yaml:6:4: n: expected null, found a boolean",
	    "p.yaml:7:5: sn: expected a string or null, found a boolean",
	    "p.yaml:8:6: sin: expected a string, an integer or null, "
	    "found an object",
	    NULL };

	expect(schema,
	    "s: 1\ni: 1.5\no: []\na: {}\nb: \"yes\"\nn: false\nsn: true\n"
	    "sin: {}\n", want);
	expect_valid(schema, "s: x\ni: 3.0\no: {}\na: []\nb: true\nn: ~\n"
	    "sn: ~\nsin: 7\n");
	expect_one("{\"type\": \"object\"}", "- 1\n",
	    "p.yaml:1:1: expected an object, found an array");
}

static void
test_schema_reports_unknown_fields_at_their_key(void)
{
	const char *want[] = {
	    "p.yaml:2:1: bogus: unknown field 'bogus'",
	    "p.yaml:5:3: stages.bad: unknown field 'bad'",
	    NULL };

	expect("{\"additionalProperties\": false, \"properties\": {"
	    " \"name\": {}, \"stages\": {\"additionalProperties\": false,"
	    "  \"properties\": {\"good\": {}}}}}",
	    "name: x\nbogus:\n  deep: 1\nstages:\n  bad: 1\n  good: 2\n",
	    want);
}

static void
test_schema_reports_missing_required_fields_at_the_object(void)
{
	const char *want[] = {
	    "p.yaml:1:1: missing required field 'name'",
	    "p.yaml:3:5: stages.production: missing required field 'branch'",
	    NULL };

	/* Field names are case-sensitive. */
	expect_one("{\"required\": [\"name\"]}", "Name: x\n",
	    "p.yaml:1:1: missing required field 'name'");
	expect("{\"required\": [\"name\", \"stages\"], \"properties\": {"
	    " \"stages\": {\"additionalProperties\": {\"required\":"
	    "  [\"branch\"]}}}}",
	    "stages:\n  production:\n    gates: []\n", want);
}

static void
test_schema_reports_enum_and_const(void)
{
	const char *want[] = {
	    "p.yaml:1:7: mode: must be one of: release, progressive, "
	    "continuous",
	    "p.yaml:2:7: kind: must be 'slack'",
	    "p.yaml:3:10: version: must be 2",
	    "p.yaml:4:6: mix: must be one of: 1, true, null, x, [1], {\"a\":1}",
	    NULL };

	expect("{\"properties\": {"
	    " \"mode\": {\"enum\": [\"release\", \"progressive\", \"continuous\"]},"
	    " \"kind\": {\"const\": \"slack\"}, \"version\": {\"const\": 2},"
	    " \"mix\": {\"enum\": [1, true, null, \"x\", [1], {\"a\": 1}]}}}",
	    "mode: fast\nkind: jira\nversion: 1\nmix: 2\n", want);
	expect_valid("{\"enum\": [[1], {\"a\": 1}]}", "{a: 1}");
}

static void
test_schema_reports_numeric_limits(void)
{
	static const char schema[] =
	    "{\"properties\": {"
	    " \"a\": {\"minimum\": 1}, \"b\": {\"maximum\": 100},"
	    " \"c\": {\"exclusiveMinimum\": 0}, \"d\": {\"exclusiveMaximum\": 0.5},"
	    " \"e\": {\"minimum\": 1, \"maximum\": 1}}}";
	const char *want[] = {
	    "p.yaml:1:4: a: must be at least 1",
	    "p.yaml:2:4: b: must be at most 100",
	    "p.yaml:3:4: c: must be greater than 0",
	    "p.yaml:4:4: d: must be less than 0.5",
	    NULL };

	expect(schema, "a: 0\nb: 100.5\nc: 0\nd: 0.5\ne: 1\n", want);
	expect_valid(schema, "a: 1\nb: 100\nc: 0.001\nd: 0.49\n");
}

static void
test_schema_counts_string_length_in_characters(void)
{
	static const char schema[] =
	    "{\"properties\": {\"a\": {\"minLength\": 2}, \"b\": {\"maxLength\": 3},"
	    " \"c\": {\"minLength\": 1}, \"d\": {\"maxLength\": 1}}}";
	const char *want[] = {
	    "p.yaml:1:4: a: must be at least 2 characters long",
	    "p.yaml:2:4: b: must be at most 3 characters long",
	    "p.yaml:3:4: c: must be at least 1 character long",
	    "p.yaml:4:4: d: must be at most 1 character long",
	    NULL };

	expect(schema, "a: x\nb: abcd\nc: \"\"\nd: ab\n", want);
	/* Three characters, six bytes. */
	expect_valid(schema, "a: \xc3\xa9\xc3\xa9\nb: \xc3\xa9\xc3\xa9\xc3\xa9\n");
}

static void
test_schema_matches_patterns_unanchored(void)
{
	static const char schema[] =
	    "{\"properties\": {\"a\": {\"pattern\": \"[0-9]+\"},"
	    " \"b\": {\"pattern\": \"^[a-z]+$\"}}}";

	expect_valid(schema, "a: v12x\nb: abc\n");
	expect_one(schema, "a: x\n",
	    "p.yaml:1:4: a: does not match the pattern '[0-9]+'");
	expect_one(schema, "b: abc1\n",
	    "p.yaml:1:4: b: does not match the pattern '^[a-z]+$'");
}

static void
test_schema_reports_a_bad_pattern_at_validate_time(void)
{
	struct fg_diags d = FG_DIAGS_INIT;
	cJSON *schema = NULL, *inst = cJSON_CreateString("x");
	int rc;

	/* Not through fg_schema_check, which would refuse it. */
	CU_ASSERT_EQUAL_FATAL(fg_json_parse(&schema, "{\"pattern\": \"(\"}",
	    16, NULL), 0);
	rc = fg_schema_validate(schema, inst, NULL, "body.json", &d);
	CU_ASSERT_EQUAL(rc, FG_EINVALID);
	CU_ASSERT_EQUAL_FATAL(d.n, 1);
	CU_ASSERT_EQUAL(strncmp(d.lines[0],
	    "body.json: the schema's pattern '(' is invalid: ", 48), 0);
	fg_diags_release(&d);
	cJSON_Delete(schema);
	cJSON_Delete(inst);
}

static void
test_schema_reports_item_counts_with_plurals(void)
{
	static const char schema[] =
	    "{\"properties\": {\"a\": {\"minItems\": 1}, \"b\": {\"maxItems\": 1},"
	    " \"c\": {\"minItems\": 3}, \"d\": {\"maxItems\": 2}}}";
	const char *want[] = {
	    "p.yaml:1:4: a: must have at least 1 item",
	    "p.yaml:2:4: b: must have at most 1 item",
	    "p.yaml:3:4: c: must have at least 3 items",
	    "p.yaml:4:4: d: must have at most 2 items",
	    NULL };

	expect(schema, "a: []\nb: [1, 2]\nc: [1]\nd: [1, 2, 3]\n", want);
	expect_valid(schema, "a: [1]\nb: [1]\nc: [1, 2, 3]\nd: []\n");
}

static void
test_schema_checks_items_and_prefix_items(void)
{
	const char *want[] = {
	    "p.yaml:3:3: gates[1]: expected an object, found a string",
	    "p.yaml:4:8: pair[0]: expected a string, found a number",
	    "p.yaml:4:14: pair[2]: expected a boolean, found a number",
	    NULL };

	expect("{\"properties\": {"
	    " \"gates\": {\"items\": {\"type\": \"object\"}},"
	    " \"pair\": {\"prefixItems\": [{\"type\": \"string\"},"
	    "  {\"type\": \"integer\"}], \"items\": {\"type\": \"boolean\"}}}}",
	    "gates:\n- {a: 1}\n- x\npair: [1, 2, 3, true]\n", want);
}

static void
test_schema_reports_duplicate_items(void)
{
	const char *want[] = {
	    "p.yaml:1:16: a[2]: items must be unique: same as [0]",
	    "p.yaml:1:22: a[4]: items must be unique: same as [1]",
	    NULL };

	expect("{\"properties\": {\"a\": {\"uniqueItems\": true}}}",
	    "a: [x, {b: 1}, x, y, {b: 1}]\n", want);
	expect_valid("{\"uniqueItems\": false}", "[1, 1]");
}

static void
test_schema_checks_pattern_properties_and_property_names(void)
{
	const char *want[] = {
	    "p.yaml:2:8: x-two: expected a string, found a number",
	    "p.yaml:3:1: Bad: invalid field name 'Bad': does not match the "
	    "pattern '^[a-z-]+$'",
	    "p.yaml:3:1: Bad: unknown field 'Bad'",
	    "p.yaml:4:1: others: invalid field name 'others': must be at "
	    "most 5 characters long",
	    NULL };

	expect("{\"additionalProperties\": false,"
	    " \"propertyNames\": {\"pattern\": \"^[a-z-]+$\", \"maxLength\": 5},"
	    " \"patternProperties\": {\"^x-\": {\"type\": \"string\"},"
	    "  \"^o\": {\"propertyNames\": {}}},"
	    " \"properties\": {\"others\": {}}}",
	    "x-one: a\nx-two: 2\nBad: 1\nothers: 1\n", want);
}

static void
test_schema_validates_additional_properties_against_a_schema(void)
{
	expect_one("{\"properties\": {\"a\": {}},"
	    " \"additionalProperties\": {\"type\": \"integer\"}}",
	    "a: x\nb: 1\nc: y\n",
	    "p.yaml:3:4: c: expected an integer, found a string");
}

static void
test_schema_resolves_refs_against_the_root(void)
{
	static const char schema[] =
	    "{\"$defs\": {\"duration\": {\"type\": \"string\","
	    "  \"pattern\": \"^[0-9]+[smh]$\"},"
	    " \"gate\": {\"type\": \"object\", \"properties\": {"
	    "  \"soak\": {\"$ref\": \"#/$defs/duration\"},"
	    "  \"all\": {\"items\": {\"$ref\": \"#/$defs/gate\"}}}}},"
	    " \"properties\": {\"gate\": {\"$ref\": \"#/$defs/gate\"}}}";
	const char *want[] = {
	    "p.yaml:2:9: gate.soak: does not match the pattern "
	    "'^[0-9]+[smh]$'",
	    "p.yaml:5:20: gate.all[1].all[0].soak: expected a string, "
	    "found a number",
	    NULL };

	expect(schema,
	    "gate:\n"
	    "  soak: 10 minutes\n"
	    "  all:\n"
	    "    - soak: 5m\n"
	    "    - all: [{soak: 3}]\n", want);
}

static void
test_schema_unresolved_ref_is_an_error_at_validate_time(void)
{
	struct fg_diags d = FG_DIAGS_INIT;
	cJSON *schema = NULL, *inst = cJSON_CreateNull();
	const char *json = "{\"$ref\": \"#/$defs/nope\"}";

	CU_ASSERT_EQUAL_FATAL(fg_json_parse(&schema, json, strlen(json), NULL),
	    0);
	CU_ASSERT_EQUAL(fg_schema_validate(schema, inst, NULL, "x.json", &d),
	    FG_EINVALID);
	CU_ASSERT_EQUAL_FATAL(d.n, 1);
	CU_ASSERT_STRING_EQUAL(d.lines[0],
	    "x.json: the schema's $ref '#/$defs/nope' does not resolve");
	fg_diags_release(&d);
	cJSON_Delete(schema);
	cJSON_Delete(inst);
}

static void
test_schema_stops_a_ref_loop(void)
{
	struct fg_diags d = FG_DIAGS_INIT;
	cJSON *s = schema_of("{\"$defs\": {\"a\": {\"$ref\": \"#/$defs/a\"}},"
	    " \"$ref\": \"#/$defs/a\"}");
	cJSON *inst = cJSON_CreateNull();

	CU_ASSERT_EQUAL(fg_schema_validate(s, inst, NULL, "x.json", &d),
	    FG_EINVALID);
	CU_ASSERT_EQUAL_FATAL(d.n, 1);
	CU_ASSERT_STRING_EQUAL(d.lines[0], "x.json: the input or the schema "
	    "nests too deeply here (more than 256 levels)");
	fg_diags_release(&d);
	cJSON_Delete(s);
	cJSON_Delete(inst);
}

/* A notification is a Slack channel or a webhook object. */
static const char notify_schema[] =
	"{\"properties\": {\"notify\": {\"oneOf\": ["
	" {\"type\": \"string\", \"pattern\": \"^#\"},"
	" {\"type\": \"object\", \"required\": [\"url\"],"
	"  \"additionalProperties\": false,"
	"  \"properties\": {\"url\": {\"type\": \"string\"},"
	"   \"method\": {\"enum\": [\"POST\", \"PUT\"]}}},"
	" {\"type\": \"object\", \"required\": [\"jira\", \"project\"],"
	"  \"properties\": {\"jira\": {\"const\": true}}}]}}}";

static void
test_schema_one_of_reports_the_closest_branch(void)
{
	const char *want[] = {
	    "p.yaml:3:11: notify.method: must be one of: POST, PUT",
	    NULL };

	expect_valid(notify_schema, "notify: '#deploys'\n");
	expect_valid(notify_schema, "notify: {url: x, method: PUT}\n");
	/* Branch 2 has one error, branch 3 two: branch 2 is reported. */
	expect(notify_schema, "notify:\n  url: x\n  method: GET\n", want);
	/* The string branch fails on its pattern only. */
	expect_one(notify_schema, "notify: deploys\n",
	    "p.yaml:1:9: notify: does not match the pattern '^#'");
	/* The closest branch need not be the first that fits the type. */
	expect_one(notify_schema, "notify: {jira: true}\n",
	    "p.yaml:1:9: notify: missing required field 'project'");
	/* A tie (one error each) reports the first of the tied branches. */
	expect_one("{\"oneOf\": [{\"required\": [\"a\"]},"
	    " {\"required\": [\"b\"]}]}", "{}\n",
	    "p.yaml:1:1: missing required field 'a'");
}

static void
test_schema_one_of_lists_types_when_none_fits(void)
{
	expect_one(notify_schema, "notify: 5\n",
	    "p.yaml:1:9: notify: expected one of: string, object "
	    "(found a number)");
	expect_one("{\"anyOf\": [{\"type\": [\"integer\", \"null\"]},"
	    " {\"$ref\": \"#/$defs/s\"}, {\"type\": \"null\"}],"
	    " \"$defs\": {\"s\": {\"type\": \"string\"}}}", "[]",
	    "p.yaml:1:1: expected one of: integer, null, string "
	    "(found an array)");
}

static void
test_schema_one_of_refuses_more_than_one_match(void)
{
	expect_one("{\"oneOf\": [{\"type\": \"integer\"}, {\"minimum\": 0}]}",
	    "5\n", "p.yaml:1:1: matches more than one alternative");
	expect_valid("{\"oneOf\": [{\"type\": \"integer\"}, {\"minimum\": 0}]}",
	    "-5\n");
}

static void
test_schema_any_of_needs_one_match(void)
{
	static const char schema[] =
	    "{\"anyOf\": [{\"type\": \"integer\"}, {\"minimum\": 0}]}";

	expect_valid(schema, "5\n");
	expect_valid(schema, "0.5\n");
	expect_one(schema, "-0.5\n", "p.yaml:1:1: must be at least 0");
}

static void
test_schema_applies_all_of_not_and_if_then_else(void)
{
	static const char schema[] =
	    "{\"allOf\": [{\"required\": [\"a\"]}, {\"required\": [\"b\"]}],"
	    " \"not\": {\"required\": [\"legacy\"]},"
	    " \"if\": {\"properties\": {\"a\": {\"const\": \"deploy\"}}},"
	    " \"then\": {\"required\": [\"target\"]},"
	    " \"else\": {\"properties\": {\"target\": false}}}";
	const char *want[] = {
	    "p.yaml:1:1: missing required field 'b'",
	    "p.yaml:1:1: must not match the schema under 'not'",
	    "p.yaml:1:1: missing required field 'target'",
	    NULL };
	const char *want2[] = {
	    "p.yaml:1:26: target: is not allowed here",
	    NULL };

	expect(schema, "{a: deploy, legacy: 1}\n", want);
	expect_valid(schema, "{a: deploy, b: 1, target: x}\n");
	expect(schema, "{a: build, b: 1, target: x}\n", want2);
	expect_valid(schema, "{a: build, b: 1}\n");
}

static void
test_schema_x_message_replaces_only_own_failures(void)
{
	static const char schema[] =
	    "{\"properties\": {"
	    " \"soak\": {\"type\": \"string\", \"pattern\": \"^[0-9]+[smh]$\","
	    "  \"x-message\": \"must be a duration such as 30s, 10m or 2h\"},"
	    " \"mode\": {\"enum\": [\"a\", \"b\"], \"x-message\": \"pick a or b\"},"
	    " \"v\": {\"const\": 1, \"x-message\": \"only version 1 exists\"},"
	    " \"list\": {\"type\": \"array\", \"minItems\": 2,"
	    "  \"items\": {\"type\": \"string\"}, \"x-message\": \"a list\"}}}";
	const char *want[] = {
	    "p.yaml:1:7: soak: must be a duration such as 30s, 10m or 2h",
	    "p.yaml:2:7: mode: pick a or b",
	    "p.yaml:3:4: v: only version 1 exists",
	    "p.yaml:4:7: list: must have at least 2 items",
	    "p.yaml:4:8: list[0]: expected a string, found a number",
	    NULL };

	expect(schema, "soak: 10 minutes\nmode: c\nv: 2\nlist: [1]\n", want);
	expect_one(schema, "soak: 10\n",
	    "p.yaml:1:7: soak: must be a duration such as 30s, 10m or 2h");
	expect_one(schema, "list: x\n", "p.yaml:1:7: list: a list");
}

static void
test_schema_x_message_replaces_a_failed_one_of(void)
{
	static const char schema[] =
	    "{\"type\": \"object\","
	    " \"properties\": {\"id\": {}, \"run\": {}, \"deploy\": {}},"
	    " \"oneOf\": [{\"required\": [\"run\"]}, {\"required\": [\"deploy\"]}],"
	    " \"x-message\": \"a step needs exactly one action: run or deploy\"}";

	expect_one(schema, "id: x\n",
	    "p.yaml:1:1: a step needs exactly one action: run or deploy");
	expect_one(schema, "{id: x, run: 1, deploy: 2}\n",
	    "p.yaml:1:1: a step needs exactly one action: run or deploy");
	expect_valid(schema, "{id: x, run: 1}\n");
}

static void
test_schema_reports_every_error_in_document_order(void)
{
	const char *want[] = {
	    "p.yaml:1:1: missing required field 'stages'",
	    "p.yaml:1:7: name: must be at most 20 characters long",
	    "p.yaml:1:7: name: does not match the pattern '^[a-z][a-z0-9-]*$'",
	    "p.yaml:2:7: mode: must be one of: release, progressive, "
	    "continuous",
	    "p.yaml:3:1: colour: unknown field 'colour'",
	    "p.yaml:4:1: shape: unknown field 'shape'",
	    NULL };

	expect(pipeline_schema,
	    "name: Not A Valid Name At All\n"
	    "mode: fast\n"
	    "colour: red\n"
	    "shape: round\n", want);
}

static void
test_schema_without_a_doc_names_the_file(void)
{
	struct fg_diags d = FG_DIAGS_INIT;
	cJSON *schema = schema_of("{\"required\": [\"id\"], \"properties\": {"
	    "\"n\": {\"type\": \"integer\"}}}");
	cJSON *inst = NULL;

	CU_ASSERT_EQUAL_FATAL(fg_json_parse(&inst, "{\"n\": \"x\"}", 10, NULL),
	    0);
	CU_ASSERT_EQUAL(fg_schema_validate(schema, inst, NULL, "body.json",
	    &d), FG_EINVALID);
	CU_ASSERT_EQUAL_FATAL(d.n, 2);
	CU_ASSERT_STRING_EQUAL(d.lines[0],
	    "body.json: missing required field 'id'");
	CU_ASSERT_STRING_EQUAL(d.lines[1],
	    "body.json: n: expected an integer, found a string");
	fg_diags_release(&d);
	cJSON_Delete(schema);
	cJSON_Delete(inst);
}

static void
test_schema_true_and_false_schemas(void)
{
	expect_valid("true", "{a: [1, 2]}\n");
	expect_one("false", "1\n", "p.yaml:1:1: is not allowed here");
	expect_one("{\"items\": false}", "[1]\n",
	    "p.yaml:1:2: [0]: is not allowed here");
}

static void
test_schema_check_refuses_unsupported_keywords(void)
{
	expect_refused("{\"contains\": {}}",
	    "t.schema.json: unsupported keyword 'contains' at '/contains'");
	expect_refused("{\"properties\": {\"a/b~c\": {\"items\": {"
	    "\"minContains\": 1}}}}",
	    "t.schema.json: unsupported keyword 'minContains' at "
	    "'/properties/a~1b~0c/items/minContains'");
	expect_refused("{\"$defs\": {\"x\": {\"anyOf\": [{}, "
	    "{\"unevaluatedProperties\": false}]}}}",
	    "t.schema.json: unsupported keyword 'unevaluatedProperties' at "
	    "'/$defs/x/anyOf/1/unevaluatedProperties'");
	/* Keywords inside enum, const and annotations are data. */
	cJSON_Delete(schema_of("{\"enum\": [{\"contains\": 1}],"
	    " \"const\": {\"x\": 1}, \"examples\": [{\"bogus\": 1}],"
	    " \"default\": {\"y\": 2}}"));
}

static void
test_schema_check_refuses_malformed_keywords(void)
{
	expect_refused("{\"type\": \"text\"}",
	    "t.schema.json: 'type' at '/type' must be a type name or an "
	    "array of them");
	expect_refused("{\"items\": {\"minItems\": -1}}",
	    "t.schema.json: 'minItems' at '/items/minItems' must be a "
	    "non-negative integer");
	expect_refused("{\"pattern\": \"([a-z\"}",
	    "t.schema.json: invalid pattern '([a-z' at '/pattern'");
	expect_refused("{\"patternProperties\": {\"(\": {}}}",
	    "t.schema.json: invalid pattern '(' at '/patternProperties/('");
	expect_refused("{\"properties\": {\"a\": {\"$ref\": \"#/$defs/b\"}}}",
	    "t.schema.json: $ref at '/properties/a/$ref' must name an entry "
	    "of $defs (\"#/$defs/NAME\")");
	expect_refused("{\"$ref\": \"other.json#/x\", \"$defs\": {}}",
	    "t.schema.json: $ref at '/$ref' must name an entry of $defs "
	    "(\"#/$defs/NAME\")");
	expect_refused("{\"properties\": {\"a\": 5}}",
	    "t.schema.json: the schema at '/properties/a' must be an object "
	    "or a boolean");
	expect_refused("[]",
	    "t.schema.json: the schema at '/' must be an object or a "
	    "boolean");
	expect_refused("{\"oneOf\": []}",
	    "t.schema.json: 'oneOf' at '/oneOf' must be a non-empty array");
	expect_refused("{\"required\": [\"a\", 1]}",
	    "t.schema.json: 'required' at '/required' must be an array of "
	    "strings");
	expect_refused("{\"x-message\": 1}",
	    "t.schema.json: 'x-message' at '/x-message' must be a string");
	expect_refused("{\"uniqueItems\": 1}",
	    "t.schema.json: 'uniqueItems' at '/uniqueItems' must be a "
	    "boolean");
	expect_refused("{\"minimum\": \"1\"}",
	    "t.schema.json: 'minimum' at '/minimum' must be a number");
	expect_refused("{\"enum\": 1}",
	    "t.schema.json: 'enum' at '/enum' must be an array");
}

static void
test_schema_check_accepts_every_supported_keyword(void)
{
	cJSON *s = schema_of(
	    "{\"$schema\": \"x\", \"$id\": \"x\", \"$comment\": \"x\","
	    " \"title\": \"x\", \"description\": \"x\", \"default\": 1,"
	    " \"examples\": [], \"format\": \"uri\", \"deprecated\": false,"
	    " \"type\": [\"object\", \"array\", \"string\", \"number\","
	    "  \"integer\", \"boolean\", \"null\"],"
	    " \"properties\": {\"a\": true}, \"required\": [\"a\"],"
	    " \"additionalProperties\": false,"
	    " \"patternProperties\": {\"^x\": {}}, \"propertyNames\": {},"
	    " \"items\": {}, \"prefixItems\": [{}], \"minItems\": 0,"
	    " \"maxItems\": 9, \"uniqueItems\": true, \"enum\": [1],"
	    " \"const\": 1, \"minimum\": 0, \"maximum\": 9,"
	    " \"exclusiveMinimum\": -1, \"exclusiveMaximum\": 10,"
	    " \"minLength\": 0, \"maxLength\": 9, \"pattern\": \"^.*$\","
	    " \"oneOf\": [{}], \"anyOf\": [{}], \"allOf\": [{}],"
	    " \"not\": false, \"if\": {}, \"then\": {}, \"else\": {},"
	    " \"$ref\": \"#/$defs/d\", \"$defs\": {\"d\": {}},"
	    " \"x-message\": \"x\"}");

	CU_ASSERT_PTR_NOT_NULL(s);
	cJSON_Delete(s);
}

static void
test_schema_load_reports_a_missing_embedded_schema(void)
{
	struct fg_err err = FG_ERR_INIT;
	cJSON *s = (cJSON *)1;

	CU_ASSERT_EQUAL(fg_schema_load(&s, "nope.schema.json", &err),
	    FG_ENOTFOUND);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_STRING_EQUAL(err.msg,
	    "no embedded schema 'nope.schema.json'");
}

/*
 * Every branch recurses, so a naive walk of a 40-deep instance is 3^40
 * steps: validation must give up within its step budget, quickly.
 */
static void
test_schema_stops_exponential_validation(void)
{
	static const char schema[] =
	    "{\"$defs\": {\"n\": {\"type\": \"object\", \"oneOf\": ["
	    " {\"properties\": {\"a\": {\"$ref\": \"#/$defs/n\"}}, \"required\": [\"x\"]},"
	    " {\"properties\": {\"a\": {\"$ref\": \"#/$defs/n\"}}, \"required\": [\"y\"]},"
	    " {\"properties\": {\"a\": {\"$ref\": \"#/$defs/n\"}}, \"required\": [\"z\"]}"
	    "]}}, \"$ref\": \"#/$defs/n\"}";
	struct fg_diags d = FG_DIAGS_INIT;
	cJSON *s = schema_of(schema), *inst = cJSON_CreateObject(), *cur;
	clock_t start = clock();
	int i;

	cur = inst;
	for (i = 0; i < 40; i++)
		cur = cJSON_AddObjectToObject(cur, "a");
	CU_ASSERT_EQUAL(fg_schema_validate(s, inst, NULL, "deep.json", &d),
	    FG_EINVALID);
	/* Generous: sanitizer builds are several times slower. */
	CU_ASSERT_TRUE((double)(clock() - start) / CLOCKS_PER_SEC < 20.0);
	CU_ASSERT_EQUAL_FATAL(d.n, 1);
	CU_ASSERT_STRING_EQUAL(d.lines[0], "deep.json: validation stopped "
	    "after 1000000 checks: the input is too complex for the schema");
	fg_diags_release(&d);
	cJSON_Delete(s);
	cJSON_Delete(inst);
}

static CU_TestInfo tests[] = {
	{ "accepts a valid instance", test_schema_accepts_a_valid_instance },
	{ "reports type mismatches in plain words",
	    test_schema_reports_type_mismatches_in_plain_words },
	{ "reports unknown fields at their key",
	    test_schema_reports_unknown_fields_at_their_key },
	{ "reports missing required fields at the object",
	    test_schema_reports_missing_required_fields_at_the_object },
	{ "reports enum and const", test_schema_reports_enum_and_const },
	{ "reports numeric limits", test_schema_reports_numeric_limits },
	{ "counts string length in characters",
	    test_schema_counts_string_length_in_characters },
	{ "matches patterns unanchored",
	    test_schema_matches_patterns_unanchored },
	{ "reports a bad pattern at validate time",
	    test_schema_reports_a_bad_pattern_at_validate_time },
	{ "reports item counts with plurals",
	    test_schema_reports_item_counts_with_plurals },
	{ "checks items and prefixItems",
	    test_schema_checks_items_and_prefix_items },
	{ "reports duplicate items", test_schema_reports_duplicate_items },
	{ "checks patternProperties and propertyNames",
	    test_schema_checks_pattern_properties_and_property_names },
	{ "validates additionalProperties against a schema",
	    test_schema_validates_additional_properties_against_a_schema },
	{ "resolves $ref against the root",
	    test_schema_resolves_refs_against_the_root },
	{ "unresolved $ref is an error at validate time",
	    test_schema_unresolved_ref_is_an_error_at_validate_time },
	{ "stops a $ref loop", test_schema_stops_a_ref_loop },
	{ "oneOf reports the closest branch",
	    test_schema_one_of_reports_the_closest_branch },
	{ "oneOf lists types when none fits",
	    test_schema_one_of_lists_types_when_none_fits },
	{ "oneOf refuses more than one match",
	    test_schema_one_of_refuses_more_than_one_match },
	{ "anyOf needs one match", test_schema_any_of_needs_one_match },
	{ "applies allOf, not and if/then/else",
	    test_schema_applies_all_of_not_and_if_then_else },
	{ "x-message replaces only the node's own failures",
	    test_schema_x_message_replaces_only_own_failures },
	{ "x-message replaces a failed oneOf",
	    test_schema_x_message_replaces_a_failed_one_of },
	{ "reports every error in document order",
	    test_schema_reports_every_error_in_document_order },
	{ "without a doc names the file",
	    test_schema_without_a_doc_names_the_file },
	{ "true and false schemas", test_schema_true_and_false_schemas },
	{ "check refuses unsupported keywords",
	    test_schema_check_refuses_unsupported_keywords },
	{ "check refuses malformed keywords",
	    test_schema_check_refuses_malformed_keywords },
	{ "check accepts every supported keyword",
	    test_schema_check_accepts_every_supported_keyword },
	{ "load reports a missing embedded schema",
	    test_schema_load_reports_a_missing_embedded_schema },
	{ "stops exponential validation",
	    test_schema_stops_exponential_validation },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("schema", tests)
