/*
 * forge_verify.c - which header carries each forge's signature, and how to
 * check it (see forge.h).
 *
 * The cryptography is hmac.c's; this file only knows the conventions:
 * header names, the "sha256=" prefix or none, HMAC or a plain token.
 */
#include <assert.h>
#include <string.h>

#include "forge.h"
#include "hmac.h"
#include "banned.h"

static const struct {
	enum fg_forge forge;
	const char *header;
	const char *prefix;	/* before the hex; NULL: a plain token */
} schemes[] = {
	{ FG_FORGE_GITHUB, "X-Hub-Signature-256", "sha256=" },
	{ FG_FORGE_GITEA, "X-Gitea-Signature", "" },
	{ FG_FORGE_FORGEJO, "X-Forgejo-Signature", "" },
	{ FG_FORGE_GITLAB, "X-Gitlab-Token", NULL },
	{ FG_FORGE_JIRA, "X-Hub-Signature", "sha256=" },
	{ FG_FORGE_GENERIC, "X-Flowgate-Signature-256", "sha256=" },
};

static int
scheme(enum fg_forge forge)
{
	size_t i;

	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (schemes[i].forge == forge)
			return (int)i;
	return -1;
}

const char *
fg_forge_signature_header(enum fg_forge forge)
{
	int i = scheme(forge);

	return i < 0 ? NULL : schemes[i].header;
}

int
fg_forge_verify_signature(enum fg_forge forge, const char *secret,
    const void *body, size_t len, const char *signature,
    struct fg_err *err)
{
	int i = scheme(forge);
	bool ok;

	if (i < 0)
		return fg_err_set(err, FG_EINVALID, "'%s' events do not come by "
		    "webhook", fg_forge_name(forge));
	if (secret == NULL || *secret == '\0')
		return fg_err_set(err, FG_EINVALID, "no secret configured for "
		    "'%s'", fg_forge_name(forge));
	if (signature == NULL || *signature == '\0')
		return fg_err_set(err, FG_EDENIED, "missing signature header "
		    "'%s'", schemes[i].header);
	if (schemes[i].prefix == NULL) {
		if (!fg_secret_equal(secret, signature))
			return fg_err_set(err, FG_EDENIED, "token in '%s' is "
			    "wrong", schemes[i].header);
		return 0;
	}
	ok = fg_hmac_verify_hex(secret, strlen(secret), body, len, signature,
	    schemes[i].prefix);
	if (!ok)
		return fg_err_set(err, FG_EDENIED, "signature in '%s' does not "
		    "match the body", schemes[i].header);
	return 0;
}

int
fg_forge_verify(enum fg_forge forge, const char *secret, const void *body,
    size_t len, fg_forge_header_fn get, void *payload, struct fg_err *err)
{
	const char *header = fg_forge_signature_header(forge);
	const char *sig = NULL;

	assert(get != NULL);
	if (header != NULL)
		sig = get(header, payload);
	/* Older Forgejo sent only Gitea's header; the HMAC is the same. */
	if (forge == FG_FORGE_FORGEJO && (sig == NULL || *sig == '\0'))
		sig = get("X-Gitea-Signature", payload);
	return fg_forge_verify_signature(forge, secret, body, len, sig, err);
}
