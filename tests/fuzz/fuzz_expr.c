/*
 * fuzz_expr.c - libFuzzer target: any bytes as an "if:" expression.
 *
 * The parser must return a tree or an error with a column inside the text
 * (or just after it) and a message, never crash, leak or recurse without
 * bound; a tree must evaluate against a context holding every JSON type.
 * The input is tried whole and then line by line, so a seed file can hold
 * many expressions (tests/fuzz/seeds/expr/) and the config seeds feed
 * their lines too.
 *
 *   make fuzz && mkdir -p /tmp/fg-expr &&
 *   tests/fuzz/fuzz_expr-libfuzzer -max_total_time=60 /tmp/fg-expr \
 *       tests/fuzz/seeds/expr
 *
 * Built without libFuzzer (tests/fuzz/replay.c supplies main), the same
 * function is run by 'make check' over the seed files.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const roots[] = { "event", "steps", "inputs", NULL };

static const char context[] =
    "{\"event\": {\"ref\": \"refs/heads/main\", \"n\": 2, \"t\": true,"
    " \"z\": null, \"l\": [\"a\", 1, [2], {}], \"o\": {\"a\": \"*\"}},"
    " \"steps\": {\"a\": {\"status\": \"failed\"}},"
    " \"inputs\": {\"env\": \"\"}}";

static void
one(const char *src, size_t len, const cJSON *ctx)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_expr *e = NULL;
	const char *const *segs;
	unsigned col = 0;
	size_t i, n;
	int rc, pass;

	for (pass = 0; pass < 2; pass++) {
		rc = fg_expr_parse(&e, src, pass ? NULL : roots, &col, &err);
		if (rc < 0) {
			if (e != NULL || err.msg[0] == '\0' || col == 0 ||
			    col > len + 1)
				__builtin_trap();
			continue;
		}
		if (e == NULL)
			__builtin_trap();
		for (i = 0; i < fg_expr_npaths(e); i++) {
			segs = fg_expr_path(e, i, &n);
			if (n == 0 || n > FG_EXPR_MAX_SEGS || segs[0] == NULL)
				__builtin_trap();
		}
		(void)fg_expr_eval(e, fg_expr_lookup_json, (void *)ctx);
		(void)fg_expr_eval(e, NULL, NULL);
		fg_expr_free(e);
		e = NULL;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *ctx = cJSON_Parse(context);
	char *s, *line, *nl;

	if (ctx == NULL)
		return 0;
	s = malloc(size + 1);
	if (s == NULL) {
		cJSON_Delete(ctx);
		return 0;
	}
	memcpy(s, data, size);
	s[size] = '\0';
	one(s, strlen(s), ctx);
	for (line = s; line != NULL && *line != '\0'; line = nl) {
		nl = strchr(line, '\n');
		if (nl != NULL)
			*nl++ = '\0';
		one(line, strlen(line), ctx);
	}
	free(s);
	cJSON_Delete(ctx);
	return 0;
}
