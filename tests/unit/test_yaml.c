/*
 * test_yaml.c - YAML to cJSON with positions, and every refusal (yaml.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "unit.h"
#include "yaml.h"

/* Parse text that must be valid; the caller frees the jdoc. */
static struct fg_jdoc *
parse_ok(const char *text)
{
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_jdoc *doc = NULL;
	int rc;

	rc = fg_yaml_parse(&doc, text, strlen(text), "t.yaml", &d);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(fg_diags_count(&d), 0);
	if (d.n > 0)
		fprintf(stderr, "unexpected: %s\n", d.lines[0]);
	fg_diags_release(&d);
	return doc;
}

/*
 * Parse len bytes that must be refused with code and exactly the
 * diagnostics in want (NULL-terminated).
 */
static void
expect_refusal_n(const char *text, size_t len, int code,
    const char *const *want)
{
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_jdoc *doc = NULL;
	size_t i, n = 0;
	int rc;

	rc = fg_yaml_parse(&doc, text, len, "t.yaml", &d);
	CU_ASSERT_EQUAL(rc, code);
	CU_ASSERT_PTR_NULL(doc);
	while (want[n] != NULL)
		n++;
	CU_ASSERT_EQUAL(d.n, n);
	for (i = 0; i < d.n && i < n; i++) {
		CU_ASSERT_STRING_EQUAL(d.lines[i], want[i]);
		if (strcmp(d.lines[i], want[i]) != 0)
			fprintf(stderr, "\n got: %s\nwant: %s\n", d.lines[i],
			    want[i]);
	}
	fg_jdoc_free(doc);
	fg_diags_release(&d);
}

static void
expect_refusal(const char *text, int code, const char *const *want)
{
	expect_refusal_n(text, strlen(text), code, want);
}

static void
expect_one(const char *text, int code, const char *line)
{
	const char *want[] = { line, NULL };

	expect_refusal(text, code, want);
}

static void
assert_pos(const struct fg_jdoc *doc, const cJSON *node, unsigned vl,
    unsigned vc, unsigned kl, unsigned kc)
{
	unsigned line, col;

	CU_ASSERT_PTR_NOT_NULL_FATAL(node);
	CU_ASSERT_TRUE(fg_jdoc_pos(doc, node, &line, &col));
	CU_ASSERT_EQUAL(line, vl);
	CU_ASSERT_EQUAL(col, vc);
	CU_ASSERT_TRUE(fg_jdoc_key_pos(doc, node, &line, &col));
	CU_ASSERT_EQUAL(line, kl);
	CU_ASSERT_EQUAL(col, kc);
}

static const cJSON *
get(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static void
test_yaml_types_plain_scalars_by_core_schema(void)
{
	struct fg_jdoc *doc = parse_ok(
	    "t: [true, True, TRUE, false, False, FALSE]\n"
	    "n: [null, Null, NULL, ~, ]\n"
	    "e:\n"
	    "i: [0, -3, +4, 007, 0x1F, 0o17, 9007199254740992]\n"
	    "f: [1.5, -.5, 1e3, 2.5E-1, 1.]\n"
	    "s: [yes, no, on, tRUE, .inf, .nan, 1_000, 0x, 12abc, x y]\n");
	const cJSON *root = fg_jdoc_root(doc), *a;
	static const double ints[] = { 0, -3, 4, 7, 31, 15,
	    9007199254740992.0 };
	static const double floats[] = { 1.5, -0.5, 1000, 0.25, 1 };
	static const char *strs[] = { "yes", "no", "on", "tRUE", ".inf",
	    ".nan", "1_000", "0x", "12abc", "x y" };
	int i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(root);
	a = get(root, "t");
	for (i = 0; i < 6; i++)
		CU_ASSERT_TRUE(cJSON_IsBool(cJSON_GetArrayItem(a, i)) &&
		    cJSON_IsTrue(cJSON_GetArrayItem(a, i)) == (i < 3));
	a = get(root, "n");
	CU_ASSERT_EQUAL(cJSON_GetArraySize(a), 4);
	for (i = 0; i < 4; i++)
		CU_ASSERT_TRUE(cJSON_IsNull(cJSON_GetArrayItem(a, i)));
	CU_ASSERT_TRUE(cJSON_IsNull(get(root, "e")));
	a = get(root, "i");
	for (i = 0; i < 7; i++) {
		CU_ASSERT_TRUE(cJSON_IsNumber(cJSON_GetArrayItem(a, i)));
		CU_ASSERT_EQUAL(cJSON_GetArrayItem(a, i)->valuedouble,
		    ints[i]);
	}
	a = get(root, "f");
	for (i = 0; i < 5; i++) {
		CU_ASSERT_TRUE(cJSON_IsNumber(cJSON_GetArrayItem(a, i)));
		CU_ASSERT_DOUBLE_EQUAL(cJSON_GetArrayItem(a, i)->valuedouble,
		    floats[i], 1e-12);
	}
	a = get(root, "s");
	for (i = 0; i < 10; i++) {
		CU_ASSERT_TRUE(cJSON_IsString(cJSON_GetArrayItem(a, i)));
		CU_ASSERT_STRING_EQUAL(cJSON_GetArrayItem(a, i)->valuestring,
		    strs[i]);
	}
	fg_jdoc_free(doc);
}

static void
test_yaml_keeps_quoted_and_block_scalars_as_strings(void)
{
	struct fg_jdoc *doc = parse_ok(
	    "a: \"true\"\n"
	    "b: '12'\n"
	    "c: \"\"\n"
	    "d: |\n"
	    "  null\n"
	    "e: >-\n"
	    "  1\n"
	    "f: !!str 12\n"
	    "g: !!str\n"
	    "h: \"caf\\u00e9\"\n");
	const cJSON *root = fg_jdoc_root(doc);

	CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(get(root, "a")), "true");
	CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(get(root, "b")), "12");
	CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(get(root, "c")), "");
	CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(get(root, "d")), "null\n");
	CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(get(root, "e")), "1");
	CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(get(root, "f")), "12");
	CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(get(root, "g")), "");
	CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(get(root, "h")),
	    "caf\xc3\xa9");
	fg_jdoc_free(doc);
}

static void
test_yaml_builds_nested_maps_and_lists(void)
{
	struct fg_jdoc *doc = parse_ok(
	    "stages:\n"
	    "  production:\n"
	    "    branch: main\n"
	    "    gates:\n"
	    "      - approvals: 2\n"
	    "      - {soak: 10m, checks: [ci, lint]}\n"
	    "  empty: {}\n"
	    "list: []\n");
	char *json = cJSON_PrintUnformatted(fg_jdoc_root(doc));

	CU_ASSERT_STRING_EQUAL(json, "{\"stages\":{\"production\":{"
	    "\"branch\":\"main\",\"gates\":[{\"approvals\":2},{\"soak\":"
	    "\"10m\",\"checks\":[\"ci\",\"lint\"]}]},\"empty\":{}},"
	    "\"list\":[]}");
	cJSON_free(json);
	fg_jdoc_free(doc);
}

static void
test_yaml_accepts_json_text(void)
{
	struct fg_jdoc *doc = parse_ok("{\"a\": [1, \"x\", null, false]}");
	char *json = cJSON_PrintUnformatted(fg_jdoc_root(doc));

	CU_ASSERT_STRING_EQUAL(json, "{\"a\":[1,\"x\",null,false]}");
	cJSON_free(json);
	fg_jdoc_free(doc);
}

static void
test_yaml_records_value_and_key_positions(void)
{
	struct fg_jdoc *doc = parse_ok(
	    "name: demo\n"
	    "stages:\n"
	    "  production:\n"
	    "    gates:\n"
	    "      - approvals: 2\n"
	    "      - {soak: 10m}\n"
	    "caf\xc3\xa9: \"x\"\n");
	const cJSON *root = fg_jdoc_root(doc), *stages, *prod, *gates;

	CU_ASSERT_PTR_NOT_NULL_FATAL(root);
	CU_ASSERT_STRING_EQUAL(fg_jdoc_file(doc), "t.yaml");
	assert_pos(doc, root, 1, 1, 1, 1);
	assert_pos(doc, get(root, "name"), 1, 7, 1, 1);
	stages = get(root, "stages");
	assert_pos(doc, stages, 3, 3, 2, 1);
	prod = get(stages, "production");
	assert_pos(doc, prod, 4, 5, 3, 3);
	gates = get(prod, "gates");
	/* A block sequence starts at its first "-". */
	assert_pos(doc, gates, 5, 7, 4, 5);
	/* Elements have no key: the key position is the value's. */
	assert_pos(doc, cJSON_GetArrayItem(gates, 0), 5, 9, 5, 9);
	assert_pos(doc, get(cJSON_GetArrayItem(gates, 0), "approvals"),
	    5, 20, 5, 9);
	assert_pos(doc, cJSON_GetArrayItem(gates, 1), 6, 9, 6, 9);
	assert_pos(doc, get(cJSON_GetArrayItem(gates, 1), "soak"),
	    6, 16, 6, 10);
	/* Columns count characters, not bytes. */
	assert_pos(doc, get(root, "caf\xc3\xa9"), 7, 7, 7, 1);
	fg_jdoc_free(doc);
}

static void
test_yaml_pos_is_false_for_foreign_nodes(void)
{
	struct fg_jdoc *doc = parse_ok("a: 1\n");
	cJSON *other = cJSON_CreateNull();
	unsigned line = 9, col = 9;

	CU_ASSERT_FALSE(fg_jdoc_pos(doc, other, &line, &col));
	CU_ASSERT_EQUAL(line, 0);
	CU_ASSERT_EQUAL(col, 0);
	CU_ASSERT_FALSE(fg_jdoc_key_pos(doc, other, &line, &col));
	CU_ASSERT_FALSE(fg_jdoc_pos(NULL, other, &line, &col));
	CU_ASSERT_PTR_NULL(fg_jdoc_root(NULL));
	cJSON_Delete(other);
	fg_jdoc_free(doc);
	fg_jdoc_free(NULL);
}

static void
test_yaml_empty_file_gives_null_root(void)
{
	static const char *texts[] = { "", "# only a comment\n", "---\n",
	    "\n\n" };
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_jdoc *doc;
	size_t i;

	for (i = 0; i < 4; i++) {
		doc = parse_ok(texts[i]);
		CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
		CU_ASSERT_TRUE(cJSON_IsNull(fg_jdoc_root(doc)));
		/* Without even a "---" the root has no place: we say 1:1. */
		if (strstr(texts[i], "---") == NULL)
			assert_pos(doc, fg_jdoc_root(doc), 1, 1, 1, 1);
		fg_jdoc_free(doc);
	}
	doc = NULL;
	CU_ASSERT_EQUAL(fg_yaml_parse(&doc, NULL, 0, "t.yaml", &d), 0);
	CU_ASSERT_TRUE(cJSON_IsNull(fg_jdoc_root(doc)));
	fg_jdoc_free(doc);
	fg_diags_release(&d);
}

static void
test_yaml_accepts_input_at_the_size_limit(void)
{
	size_t len = FG_YAML_MAX_BYTES;
	char *text = malloc(len);
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_jdoc *doc = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	memset(text, 'x', len);
	memcpy(text, "a: ", 3);
	text[len - 1] = '\n';
	CU_ASSERT_EQUAL(fg_yaml_parse(&doc, text, len, "t.yaml", &d), 0);
	CU_ASSERT_EQUAL(strlen(cJSON_GetStringValue(get(fg_jdoc_root(doc),
	    "a"))), len - 4);
	fg_jdoc_free(doc);
	fg_diags_release(&d);
	free(text);
}

static void
test_yaml_refuses_input_over_the_size_limit(void)
{
	const char *want[] = {
	    "t.yaml: larger than the limit of 1048576 bytes", NULL };
	size_t len = 2 * 1024 * 1024;
	char *text = malloc(len);

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	memset(text, 'x', len);
	expect_refusal_n(text, len, FG_ELIMIT, want);
	expect_refusal_n(text, FG_YAML_MAX_BYTES + 1, FG_ELIMIT, want);
	free(text);
}

static void
test_yaml_refuses_nul_bytes(void)
{
	const char *want[] = { "t.yaml:2:4: NUL bytes are not allowed", NULL };

	expect_refusal_n("a: 1\nb: \0\n", 10, FG_EINVALID, want);
}

static void
test_yaml_refuses_invalid_utf8_at_its_position(void)
{
	expect_one("a: 1\nb: caf\xc3\xa9 \xff\n", FG_EINVALID,
	    "t.yaml:2:9: invalid UTF-8 (byte 0xFF); the file must be UTF-8 "
	    "encoded");
	/* An overlong "/" and a truncated sequence at the end. */
	expect_one("a: \xc0\xaf\n", FG_EINVALID,
	    "t.yaml:1:4: invalid UTF-8 (byte 0xC0); the file must be UTF-8 "
	    "encoded");
	expect_one("a: \xe2\x82", FG_EINVALID,
	    "t.yaml:1:4: invalid UTF-8 (byte 0xE2); the file must be UTF-8 "
	    "encoded");
}

static void
test_yaml_refuses_control_characters(void)
{
	expect_one("a: 1\nb: \x01\n", FG_EINVALID,
	    "t.yaml:2:4: invalid character: control characters are not "
	    "allowed (U+0001)");
}

static void
test_yaml_refuses_tab_indentation(void)
{
	expect_one("a: 1\nb:\n\tc: 2\n", FG_EINVALID,
	    "t.yaml:3:1: syntax error: found character that cannot start any "
	    "token (tabs are not allowed for indentation)");
	expect_one("a: 1\n\tb: 1\n", FG_EINVALID,
	    "t.yaml:2:1: syntax error: found a tab character that violates "
	    "indentation (tabs are not allowed for indentation)");
}

static void
test_yaml_reports_syntax_errors_with_libyaml_context(void)
{
	expect_one("a: 1\nb\nc: 2\n", FG_EINVALID,
	    "t.yaml:3:1: syntax error: could not find expected ':' "
	    "(while scanning a simple key at 2:1)");
	expect_one("a: [1, 2\n", FG_EINVALID,
	    "t.yaml:2:1: syntax error: did not find expected ',' or ']' "
	    "(while parsing a flow sequence at 1:4)");
}

static void
test_yaml_syntax_error_stops_but_keeps_earlier_errors(void)
{
	const char *want[] = {
	    "t.yaml:2:1: a: duplicate key 'a'",
	    "t.yaml:4:1: syntax error: could not find expected ':' "
	    "(while scanning a simple key at 3:1)",
	    NULL };

	expect_refusal("a: 1\na: 2\nb\nc: 3\nc: 4\n", FG_EINVALID, want);
}

static void
test_yaml_refuses_anchors_and_aliases(void)
{
	const char *want[] = {
	    "t.yaml:1:7: base: anchors and aliases are not allowed",
	    "t.yaml:2:7: copy: anchors and aliases are not allowed",
	    "t.yaml:3:11: list[1]: anchors and aliases are not allowed",
	    "t.yaml:4:1: anchors and aliases are not allowed",
	    NULL };

	expect_refusal("base: &b {x: 1}\ncopy: *b\nlist: [1, *b]\n*b : 2\n",
	    FG_EINVALID, want);
}

static void
test_yaml_refuses_alias_bomb_quickly(void)
{
	const char *text =
	    "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
	    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
	    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
	    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
	    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
	    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
	    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
	    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_jdoc *doc = NULL;
	clock_t start = clock();

	CU_ASSERT_EQUAL(fg_yaml_parse(&doc, text, strlen(text), "t.yaml", &d),
	    FG_EINVALID);
	CU_ASSERT_PTR_NULL(doc);
	CU_ASSERT_TRUE((double)(clock() - start) / CLOCKS_PER_SEC < 0.5);
	/* Nine anchors and 72 aliases, nothing expanded. */
	CU_ASSERT_EQUAL(d.n, 81);
	CU_ASSERT_STRING_EQUAL(d.lines[0],
	    "t.yaml:1:4: a: anchors and aliases are not allowed");
	fg_diags_release(&d);
}

static void
test_yaml_stops_after_too_many_errors(void)
{
	char text[1024] = "a: [";
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_jdoc *doc = NULL;
	int i;

	for (i = 0; i < 150; i++)
		memcpy(text + 4 + i * 3, "*x,", 3);
	memcpy(text + 4 + 150 * 3, "]\n", 3);
	CU_ASSERT_EQUAL(fg_yaml_parse(&doc, text, strlen(text), "t.yaml", &d),
	    FG_EINVALID);
	CU_ASSERT_EQUAL(d.n, FG_YAML_MAX_ERRORS + 1);
	CU_ASSERT_STRING_EQUAL(d.lines[0],
	    "t.yaml:1:5: a[0]: anchors and aliases are not allowed");
	CU_ASSERT_STRING_EQUAL(d.lines[d.n - 1],
	    "t.yaml: too many errors, stopped after 100");
	fg_diags_release(&d);
}

static void
test_yaml_reports_every_duplicate_key(void)
{
	const char *want[] = {
	    "t.yaml:2:1: name: duplicate key 'name'",
	    "t.yaml:6:5: stages.prod.branch: duplicate key 'branch'",
	    "t.yaml:7:1: name: duplicate key 'name'",
	    "t.yaml:8:15: list[0].k: duplicate key 'k'",
	    NULL };

	expect_refusal(
	    "name: a\n"
	    "name: b\n"
	    "stages:\n"
	    "  prod:\n"
	    "    branch: main\n"
	    "    branch: dev\n"
	    "name: c\n"
	    "list: [{k: 1, k: 2}]\n", FG_EINVALID, want + 0);
}

static void
test_yaml_duplicate_check_is_exact(void)
{
	struct fg_jdoc *doc = parse_ok("a: 1\nA: 2\n\"a \": 3\nb: {a: 1}\n");

	CU_ASSERT_EQUAL(cJSON_GetArraySize(fg_jdoc_root(doc)), 4);
	fg_jdoc_free(doc);
}

static void
test_yaml_refuses_non_scalar_keys(void)
{
	const char *want[] = {
	    "t.yaml:1:3: keys must be scalars, not sequences",
	    "t.yaml:4:5: m: keys must be scalars, not mappings",
	    "t.yaml:5:1: b: duplicate key 'b'",
	    NULL };

	expect_refusal("? [1, 2]\n: x\nb: 1\nm: {{a: 1}: 2, c: 3}\nb: 2\n",
	    FG_EINVALID, want);
}

static void
test_yaml_refuses_multiple_documents(void)
{
	expect_one("a: 1\n---\nb: 2\n", FG_EINVALID,
	    "t.yaml:2:1: multiple documents are not allowed");
	expect_one("--- 1\n--- 2\n", FG_EINVALID,
	    "t.yaml:2:1: multiple documents are not allowed");
}

static void
test_yaml_refuses_tags(void)
{
	const char *want[] = {
	    "t.yaml:1:4: a: tags are not allowed, except '!!str' on scalars "
	    "(found '!!int')",
	    "t.yaml:2:4: b: tags are not allowed, except '!!str' on scalars "
	    "(found '!local')",
	    "t.yaml:3:4: c: tags are not allowed, except '!!str' on scalars "
	    "(found '!!str')",
	    NULL };

	expect_refusal("a: !!int 1\nb: !local x\nc: !!str [1]\n", FG_EINVALID,
	    want);
}

static void
test_yaml_refuses_numbers_beyond_2_53(void)
{
	const char *want[] = {
	    "t.yaml:1:4: a: number '9007199254740993' is too large "
	    "(quote it to keep it as text)",
	    "t.yaml:2:4: b: number '-99999999999999999999999' is too large "
	    "(quote it to keep it as text)",
	    "t.yaml:3:5: c[0]: number '1e400' is too large "
	    "(quote it to keep it as text)",
	    NULL };

	expect_refusal("a: 9007199254740993\nb: -99999999999999999999999\n"
	    "c: [1e400]\n", FG_EINVALID, want);
}

static void
test_yaml_refuses_nul_escapes(void)
{
	expect_one("a: \"x\\0y\"\n", FG_EINVALID,
	    "t.yaml:1:4: a: NUL characters are not allowed");
}

/* Text of depth nested flow sequences: "[[...]]". */
static char *
nested(int depth)
{
	char *s = malloc((size_t)depth * 2 + 1);
	int i;

	if (s == NULL)
		return NULL;
	for (i = 0; i < depth; i++) {
		s[i] = '[';
		s[depth * 2 - 1 - i] = ']';
	}
	s[depth * 2] = '\0';
	return s;
}

static void
test_yaml_refuses_nesting_past_the_limit(void)
{
	char *ok = nested(FG_YAML_MAX_DEPTH);
	char *bad = nested(FG_YAML_MAX_DEPTH + 1);
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_jdoc *doc;
	char want[512];

	CU_ASSERT_PTR_NOT_NULL_FATAL(ok);
	CU_ASSERT_PTR_NOT_NULL_FATAL(bad);
	doc = parse_ok(ok);
	CU_ASSERT_PTR_NOT_NULL(doc);
	fg_jdoc_free(doc);
	doc = NULL;
	CU_ASSERT_EQUAL(fg_yaml_parse(&doc, bad, strlen(bad), "t.yaml", &d),
	    FG_ELIMIT);
	CU_ASSERT_EQUAL_FATAL(d.n, 1);
	snprintf(want, sizeof(want), "t.yaml:1:%d: ", FG_YAML_MAX_DEPTH + 1);
	CU_ASSERT_EQUAL(strncmp(d.lines[0], want, strlen(want)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.lines[0],
	    "[0][0]: nesting deeper than 64 levels"));
	fg_diags_release(&d);
	free(ok);
	free(bad);
}

/* A flow sequence of n "1" elements: n + 1 nodes. */
static char *
flat(size_t n)
{
	char *s = malloc(n * 2 + 3);
	size_t i;

	if (s == NULL)
		return NULL;
	s[0] = '[';
	for (i = 0; i < n; i++) {
		s[1 + i * 2] = '1';
		s[2 + i * 2] = ',';
	}
	s[n * 2] = ']';
	s[n * 2 + 1] = '\0';
	return s;
}

static void
test_yaml_refuses_nodes_past_the_limit(void)
{
	char *ok = flat(FG_YAML_MAX_NODES - 1);
	char *bad = flat(FG_YAML_MAX_NODES);
	struct fg_jdoc *doc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ok);
	CU_ASSERT_PTR_NOT_NULL_FATAL(bad);
	doc = parse_ok(ok);
	CU_ASSERT_EQUAL(cJSON_GetArraySize(fg_jdoc_root(doc)),
	    FG_YAML_MAX_NODES - 1);
	fg_jdoc_free(doc);
	expect_one(bad, FG_ELIMIT, "t.yaml:1:200000: more than 100000 nodes");
	free(ok);
	free(bad);
}

static CU_TestInfo tests[] = {
	{ "types plain scalars by the core schema",
	    test_yaml_types_plain_scalars_by_core_schema },
	{ "keeps quoted and block scalars as strings",
	    test_yaml_keeps_quoted_and_block_scalars_as_strings },
	{ "builds nested maps and lists",
	    test_yaml_builds_nested_maps_and_lists },
	{ "accepts JSON text", test_yaml_accepts_json_text },
	{ "records value and key positions",
	    test_yaml_records_value_and_key_positions },
	{ "pos is false for foreign nodes",
	    test_yaml_pos_is_false_for_foreign_nodes },
	{ "empty file gives a null root",
	    test_yaml_empty_file_gives_null_root },
	{ "accepts input at the size limit",
	    test_yaml_accepts_input_at_the_size_limit },
	{ "refuses input over the size limit",
	    test_yaml_refuses_input_over_the_size_limit },
	{ "refuses NUL bytes", test_yaml_refuses_nul_bytes },
	{ "refuses invalid UTF-8 at its position",
	    test_yaml_refuses_invalid_utf8_at_its_position },
	{ "refuses control characters",
	    test_yaml_refuses_control_characters },
	{ "refuses tab indentation", test_yaml_refuses_tab_indentation },
	{ "reports syntax errors with libyaml's context",
	    test_yaml_reports_syntax_errors_with_libyaml_context },
	{ "syntax error stops but keeps earlier errors",
	    test_yaml_syntax_error_stops_but_keeps_earlier_errors },
	{ "refuses anchors and aliases",
	    test_yaml_refuses_anchors_and_aliases },
	{ "refuses an alias bomb quickly",
	    test_yaml_refuses_alias_bomb_quickly },
	{ "stops after too many errors",
	    test_yaml_stops_after_too_many_errors },
	{ "reports every duplicate key",
	    test_yaml_reports_every_duplicate_key },
	{ "duplicate check is exact", test_yaml_duplicate_check_is_exact },
	{ "refuses non-scalar keys", test_yaml_refuses_non_scalar_keys },
	{ "refuses multiple documents",
	    test_yaml_refuses_multiple_documents },
	{ "refuses tags", test_yaml_refuses_tags },
	{ "refuses numbers beyond 2^53",
	    test_yaml_refuses_numbers_beyond_2_53 },
	{ "refuses NUL escapes", test_yaml_refuses_nul_escapes },
	{ "refuses nesting past the limit",
	    test_yaml_refuses_nesting_past_the_limit },
	{ "refuses nodes past the limit",
	    test_yaml_refuses_nodes_past_the_limit },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("yaml", tests)
