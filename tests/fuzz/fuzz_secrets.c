/*
 * fuzz_secrets.c - libFuzzer target: any bytes as a pushed file for the
 * secrets rule's scanner (fg_rules_scan_secrets in rules.c).
 *
 * The scanner reads whatever a pusher sends.  For any input it must not
 * read outside it, must name each kind of secret at most once, on a line
 * that exists, and with one of its five kind names.  And it must not be
 * blinded: the same bytes followed by a line holding AWS's documented
 * example key id, and by one holding a private key header, must be
 * reported for those two kinds, on those lines or earlier ones.
 *
 *   make fuzz && mkdir -p /tmp/fg-secrets &&
 *   tests/fuzz/fuzz_secrets-libfuzzer -max_total_time=600 /tmp/fg-secrets
 *
 * Built without libFuzzer (tests/fuzz/replay.c supplies main), the same
 * function is run by 'make check' over the seed files.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const kinds[] = {
	"private key", "AWS access key id", "GitHub token", "GitLab token",
	"Slack token",
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static const char planted[] =
    "\nAKIAIOSFODNN7EXAMPLE\n-----BEGIN RSA PRIVATE KEY-----\n";

struct seen {
	size_t lines;			/* of the text */
	size_t line[NKINDS];		/* 0: not reported */
};

static void
found(size_t line, const char *kind, void *payload)
{
	struct seen *s = payload;
	size_t k;

	for (k = 0; k < NKINDS; k++)
		if (strcmp(kind, kinds[k]) == 0)
			break;
	if (k == NKINDS || s->line[k] != 0 || line == 0 || line > s->lines)
		__builtin_trap();
	s->line[k] = line;
}

static void
scan(struct seen *s, const char *text, size_t len)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	s->lines = 1;
	for (i = 0; i < len; i++)
		if (text[i] == '\n')
			s->lines++;
	fg_rules_scan_secrets(text, len, found, s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen s;
	size_t n = sizeof(planted) - 1, aws;
	char *text;

	/* Exactly size bytes, so that a read past them is caught. */
	text = malloc(size > 0 ? size : 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	scan(&s, text, size);
	free(text);

	text = malloc(size + n);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	memcpy(text + size, planted, n);
	scan(&s, text, size + n);
	/* The key id is on the line after the input's last one. */
	aws = s.lines - 2;
	if (s.line[1] == 0 || s.line[1] > aws || s.line[0] == 0 ||
	    s.line[0] > aws + 1)
		__builtin_trap();
	free(text);
	return 0;
}
