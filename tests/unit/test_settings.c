/*
 * test_settings.c - flowgate-webhookd's settings file: defaults, every
 * key converted, every error reported with its position, secrets read from
 * the environment or a private file, tokens matched by their hash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "settings.h"
#include "unit.h"
#include "util.h"

static int
parse(struct fg_settings **out, const char *text, struct fg_diags *d)
{
	return fg_settings_parse(out, text, strlen(text), "whd.yaml", d);
}

static bool
has_line(const struct fg_diags *d, const char *needle)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (strstr(d->lines[i], needle) != NULL)
			return true;
	return false;
}

static void
test_settings_defaults_take_the_secret_from_the_environment(void)
{
	struct fg_settings *s = NULL;
	char *path = NULL;

	setenv(FG_SETTINGS_SECRET_ENV, "s3cret", 1);
	CU_ASSERT_EQUAL_FATAL(fg_settings_default(&s, NULL), 0);
	CU_ASSERT_STRING_EQUAL(s->listen, "127.0.0.1:8686");
	CU_ASSERT_STRING_EQUAL(s->root, "./var/repos");
	CU_ASSERT_EQUAL(s->body_max, 25u * 1024 * 1024);
	CU_ASSERT_EQUAL(s->handoff_max, 1024 * 1024);
	CU_ASSERT_STRING_EQUAL(fg_settings_secret(s, "demo/app"), "s3cret");
	CU_ASSERT_EQUAL(fg_settings_repo_path(&path, s, "demo/app"), 0);
	CU_ASSERT_STRING_EQUAL(path, "./var/repos/demo/app.git");
	CU_ASSERT_EQUAL(s->ntokens, 0);
	free(path);
	fg_settings_free(s);
	unsetenv(FG_SETTINGS_SECRET_ENV);
	CU_ASSERT_EQUAL_FATAL(fg_settings_default(&s, NULL), 0);
	CU_ASSERT_PTR_NULL(fg_settings_secret(s, "demo/app"));
	fg_settings_free(s);
}

static void
test_settings_convert_every_key(void)
{
	char hash[72], text[2048], file[512];
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_settings *s = NULL;
	const char *name;
	char *path = NULL;
	FILE *f;

	snprintf(file, sizeof(file), "%s/app.secret", fg_unit_tmpdir());
	f = fopen(file, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("from-a-file\n", f);
	fclose(f);
	chmod(file, 0600);
	setenv("WHD_TEST_SECRET", "from-env", 1);
	fg_settings_token_hash(hash, "tok-operate");
	snprintf(text, sizeof(text),
	    "version: 1\n"
	    "listen: 0.0.0.0:9000\n"
	    "root: /srv/git\n"
	    "workers: 3\n"
	    "secret: {env: WHD_TEST_SECRET}\n"
	    "limits: {body: 1MB, headers: 8KB, timeout: 5, connections: 10,\n"
	    "  backlog: 50, queue: 2MB, batch: 16, handoff: 3MB}\n"
	    "repositories:\n"
	    "  acme/app: {path: /elsewhere/app.git, secret: {file: %s}}\n"
	    "  acme/lib: {}\n"
	    "tokens:\n"
	    "  - {name: ci, hash: '%s', role: operate}\n", file, hash);
	CU_ASSERT_EQUAL_FATAL(parse(&s, text, &d), 0);
	CU_ASSERT_STRING_EQUAL(s->listen, "0.0.0.0:9000");
	CU_ASSERT_STRING_EQUAL(s->root, "/srv/git");
	CU_ASSERT_EQUAL(s->workers, 3);
	CU_ASSERT_EQUAL(s->body_max, 1024 * 1024);
	CU_ASSERT_EQUAL(s->headers_max, 8 * 1024);
	CU_ASSERT_EQUAL(s->timeout, 5);
	CU_ASSERT_EQUAL(s->connections, 10);
	CU_ASSERT_EQUAL(s->backlog, 50);
	CU_ASSERT_EQUAL(s->queue_max, 2 * 1024 * 1024);
	CU_ASSERT_EQUAL(s->batch_max, 16);
	CU_ASSERT_EQUAL(s->handoff_max, 3 * 1024 * 1024);
	CU_ASSERT_STRING_EQUAL(fg_settings_secret(s, "acme/app"),
	    "from-a-file");
	CU_ASSERT_STRING_EQUAL(fg_settings_secret(s, "acme/lib"), "from-env");
	CU_ASSERT_STRING_EQUAL(fg_settings_secret(s, "other/x"), "from-env");
	CU_ASSERT_EQUAL(fg_settings_repo_path(&path, s, "acme/app"), 0);
	CU_ASSERT_STRING_EQUAL(path, "/elsewhere/app.git");
	free(path);
	CU_ASSERT_EQUAL(fg_settings_repo_path(&path, s, "acme/lib"), 0);
	CU_ASSERT_STRING_EQUAL(path, "/srv/git/acme/lib.git");
	free(path);
	CU_ASSERT_EQUAL(fg_settings_token_role(s, "tok-operate", &name),
	    FG_ROLE_OPERATE);
	CU_ASSERT_STRING_EQUAL(name, "ci");
	CU_ASSERT_EQUAL(fg_settings_token_role(s, "tok-operatE", &name),
	    FG_ROLE_NONE);
	CU_ASSERT_PTR_NULL(name);
	CU_ASSERT_EQUAL(fg_settings_token_role(s, "", NULL), FG_ROLE_NONE);
	fg_settings_free(s);
	fg_diags_release(&d);
	unsetenv("WHD_TEST_SECRET");
}

static void
test_settings_report_every_error_with_its_position(void)
{
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_settings *s = NULL;

	CU_ASSERT_EQUAL(parse(&s,
	    "version: 1\n"
	    "listen: localhost\n"
	    "colour: blue\n"
	    "limits: {body: 26MB, timeout: 0}\n"
	    "tokens: [{name: ci, hash: 'plain-token', role: root}]\n", &d),
	    FG_EINVALID);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_TRUE(has_line(&d, "whd.yaml:2:9: listen: must be ADDR:PORT"));
	CU_ASSERT_TRUE(has_line(&d, "whd.yaml:3:1: colour: unknown field 'colour'"));
	CU_ASSERT_TRUE(has_line(&d, "limits.timeout: must be at least 1"));
	CU_ASSERT_TRUE(has_line(&d, "tokens[0].hash: must be 'sha256:'"));
	CU_ASSERT_TRUE(has_line(&d, "tokens[0].role: must be one of"));
	fg_diags_release(&d);

	/* Sizes are checked once the schema passes. */
	CU_ASSERT_EQUAL(parse(&s, "version: 1\nlimits: {body: 26MB}\n", &d),
	    FG_EINVALID);
	CU_ASSERT_TRUE(has_line(&d, "whd.yaml:2:16: limits.body: '26MB' is "
	    "over the limit of 26214400 bytes"));
	fg_diags_release(&d);

	CU_ASSERT_EQUAL(parse(&s, "", &d), FG_EINVALID);
	CU_ASSERT_TRUE(has_line(&d, "whd.yaml: the file is empty"));
	fg_diags_release(&d);
}

static void
test_settings_refuse_missing_and_public_secrets(void)
{
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_settings *s = NULL;
	char text[1024], file[512];
	FILE *f;

	unsetenv("WHD_NOT_SET");
	CU_ASSERT_EQUAL(parse(&s, "version: 1\nsecret: {env: WHD_NOT_SET}\n",
	    &d), FG_EINVALID);
	CU_ASSERT_TRUE(has_line(&d, "whd.yaml:2:15: secret: environment "
	    "variable 'WHD_NOT_SET' is not set or empty"));
	fg_diags_release(&d);

	snprintf(file, sizeof(file), "%s/public.secret", fg_unit_tmpdir());
	f = fopen(file, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("x\n", f);
	fclose(f);
	chmod(file, 0644);
	snprintf(text, sizeof(text), "version: 1\nrepositories:\n"
	    "  a/b: {secret: {file: %s}}\n", file);
	CU_ASSERT_EQUAL(parse(&s, text, &d), FG_EINVALID);
	CU_ASSERT_TRUE(has_line(&d, "is open to group or others: chmod 600"));
	fg_diags_release(&d);

	CU_ASSERT_EQUAL(parse(&s, "version: 1\nsecret: {env: A, file: b}\n",
	    &d), FG_EINVALID);
	CU_ASSERT_TRUE(has_line(&d, "whd.yaml:2:18: secret.file: unknown "
	    "field 'file'"));
	fg_diags_release(&d);
}

static void
test_settings_token_hash_is_sha256_hex(void)
{
	char hash[72];

	/* sha256("abc"), FIPS 180-2 appendix B.1. */
	fg_settings_token_hash(hash, "abc");
	CU_ASSERT_STRING_EQUAL(hash, "sha256:ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
}

static void
test_settings_split_listen(void)
{
	unsigned short port = 0;
	char host[64];

	CU_ASSERT_EQUAL(fg_settings_split_listen(host, sizeof(host), &port,
	    "127.0.0.1:8686", NULL), 0);
	CU_ASSERT_STRING_EQUAL(host, "127.0.0.1");
	CU_ASSERT_EQUAL(port, 8686);
	CU_ASSERT_EQUAL(fg_settings_split_listen(host, sizeof(host), &port,
	    "127.0.0.1:0", NULL), FG_EINVALID);
	CU_ASSERT_EQUAL(fg_settings_split_listen(host, sizeof(host), &port,
	    "127.0.0.1:65536", NULL), FG_EINVALID);
	CU_ASSERT_EQUAL(fg_settings_split_listen(host, sizeof(host), &port,
	    ":80", NULL), FG_EINVALID);
}

static CU_TestInfo tests[] = {
	{ "defaults take the secret from the environment",
	    test_settings_defaults_take_the_secret_from_the_environment },
	{ "convert every key", test_settings_convert_every_key },
	{ "report every error with its position",
	    test_settings_report_every_error_with_its_position },
	{ "refuse missing and public secrets",
	    test_settings_refuse_missing_and_public_secrets },
	{ "token hash is sha256 hex", test_settings_token_hash_is_sha256_hex },
	{ "split listen", test_settings_split_listen },
	CU_TEST_INFO_NULL,
};

FG_UNIT_MAIN("settings", tests)
