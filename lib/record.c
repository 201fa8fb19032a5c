/*
 * record.c - commit messages, signatures and record.json (see record.h).
 *
 * The message is
 *
 *	<subject>
 *	<blank>
 *	<body paragraphs, if any>
 *	<blank>
 *	Flowgate-Kind: <kind>
 *	...
 *
 * git and libgit2 find trailers in the last paragraph only, after cutting
 * the message at the first line that starts with "---" and whitespace (a
 * patch).  So: the subject and values are single lines; the body never
 * holds a "---" line or a line git would take for a trailer (both are
 * indented); and the last paragraph is always ours, since every record has
 * at least Flowgate-Kind.  Tests check this against git's and libgit2's own
 * parsers with hostile input.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "record.h"
#include "util.h"
#include "banned.h"

#define JSON_DEPTH_MAX 64

static const struct {
	const char *name;
	const char *trailer;
} fields[FG_FIELD_COUNT] = {
	[FG_FIELD_KIND] = { "kind", "Flowgate-Kind" },
	[FG_FIELD_STAGE] = { "stage", "Flowgate-Stage" },
	[FG_FIELD_ENV] = { "env", "Flowgate-Env" },
	[FG_FIELD_COMMIT] = { "commit", "Flowgate-Commit" },
	[FG_FIELD_STATUS] = { "status", "Flowgate-Status" },
	[FG_FIELD_RUN] = { "run", "Flowgate-Run" },
	[FG_FIELD_DELIVERY] = { "delivery", "Flowgate-Delivery" },
	[FG_FIELD_EVENT] = { "event", "Flowgate-Event" },
};

const char *
fg_record_field_name(enum fg_record_field f)
{
	return fields[f].name;
}

const char *
fg_record_field_trailer(enum fg_record_field f)
{
	return fields[f].trailer;
}

const char *
fg_record_field_value(const struct fg_record *rec, enum fg_record_field f)
{
	switch (f) {
	case FG_FIELD_KIND:	return rec->kind;
	case FG_FIELD_STAGE:	return rec->stage;
	case FG_FIELD_ENV:	return rec->env;
	case FG_FIELD_COMMIT:	return rec->commit;
	case FG_FIELD_STATUS:	return rec->status;
	case FG_FIELD_RUN:	return rec->run;
	case FG_FIELD_DELIVERY:	return rec->delivery;
	case FG_FIELD_EVENT:	return rec->event;
	case FG_FIELD_COUNT:	break;
	}
	return NULL;
}

const char *
fg_record_query_value(const struct fg_store_query *q, enum fg_record_field f)
{
	switch (f) {
	case FG_FIELD_KIND:	return q->kind;
	case FG_FIELD_STAGE:	return q->stage;
	case FG_FIELD_ENV:	return q->env;
	case FG_FIELD_COMMIT:	return q->commit;
	case FG_FIELD_STATUS:	return q->status;
	case FG_FIELD_RUN:	return q->run;
	case FG_FIELD_DELIVERY:	return q->delivery;
	case FG_FIELD_EVENT:	return q->event;
	case FG_FIELD_COUNT:	break;
	}
	return NULL;
}

/*
 * The core of both escapers: s[0..len) into out, at most max bytes, cut at
 * a piece boundary with "..." (max must be at least 3).  With escape, a
 * control character or C1 control becomes a visible escape (a tab only
 * unless keep_tab) and a byte that is not UTF-8 becomes \xNN; without, such
 * a byte becomes U+FFFD and control characters pass (JSON escapes them).
 */
static int
text_n(struct fg_buf *out, const char *s, size_t len, size_t max, bool escape,
    bool keep_tab)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *end = p + len;
	size_t used = 0, mark = SIZE_MAX, n, plen, i;
	const char *piece;
	char esc[16];

	/* Most text is printable ASCII that fits: one copy. */
	if (len <= max) {
		for (i = 0; i < len; i++)
			if (p[i] < 0x20 || p[i] >= 0x7f)
				break;
		if (i == len)
			return fg_buf_add(out, s, len);
	}
	while (p < end) {
		n = p[0] == '\0' ? 1 : fg_utf8_char_len((const char *)p,
		    (size_t)(end - p));
		piece = (const char *)p;
		plen = n;
		if (n == 0) {
			if (escape)
				snprintf(esc, sizeof(esc), "\\x%02x", p[0]);
			else
				snprintf(esc, sizeof(esc), "\xef\xbf\xbd");
			piece = esc;
			plen = strlen(esc);
			n = 1;
		} else if (escape && n == 1 && (p[0] < 0x20 || p[0] == 0x7f) &&
		    !(keep_tab && p[0] == '\t')) {
			if (p[0] == '\n')
				snprintf(esc, sizeof(esc), "\\n");
			else if (p[0] == '\r')
				snprintf(esc, sizeof(esc), "\\r");
			else if (p[0] == '\t')
				snprintf(esc, sizeof(esc), "\\t");
			else
				snprintf(esc, sizeof(esc), "\\x%02x", p[0]);
			piece = esc;
			plen = strlen(esc);
		} else if (escape && n == 2 && p[0] == 0xc2 && p[1] < 0xa0) {
			snprintf(esc, sizeof(esc), "\\xc2\\x%02x", p[1]);
			piece = esc;
			plen = strlen(esc);
		}
		if (mark == SIZE_MAX && used + plen > max - 3)
			mark = out->len;
		if (used + plen > max) {
			fg_buf_truncate(out, mark);
			return fg_buf_puts(out, "...");
		}
		if (fg_buf_add(out, piece, plen) < 0)
			return FG_ENOMEM;
		used += plen;
		p += n;
	}
	return 0;
}

int
fg_record_escape_line(struct fg_buf *out, const char *s, size_t max)
{
	return text_n(out, s, strlen(s), max, true, false);
}

int
fg_record_utf8(struct fg_buf *out, const char *s, size_t max)
{
	return text_n(out, s, strlen(s), max, false, false);
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* s without leading and trailing whitespace: start and length. */
static const char *
trim(const char *s, size_t *len)
{
	size_t n;

	while (is_space(*s))
		s++;
	n = strlen(s);
	while (n > 0 && is_space(s[n - 1]))
		n--;
	*len = n;
	return s;
}

static bool
present(const char *s)
{
	size_t len;

	return s != NULL && (trim(s, &len), len > 0);
}

bool
fg_record_kind_is_valid(const char *kind)
{
	size_t i;

	if (kind == NULL || !(kind[0] >= 'a' && kind[0] <= 'z'))
		return false;
	for (i = 0; kind[i] != '\0'; i++) {
		if (i >= FG_RECORD_KIND_MAX)
			return false;
		if (!((kind[i] >= 'a' && kind[i] <= 'z') ||
		    (kind[i] >= '0' && kind[i] <= '9') || kind[i] == '.' ||
		    kind[i] == '_' || kind[i] == '-'))
			return false;
	}
	return true;
}

/* Flowgate-<token>: what a record's own trailer keys must look like. */
static bool
trailer_key_is_valid(const char *key)
{
	size_t i;

	if (key == NULL || strncmp(key, "Flowgate-", 9) != 0 ||
	    key[9] == '\0' || key[9] == '-')
		return false;
	for (i = 9; key[i] != '\0'; i++) {
		if (i >= 64)
			return false;
		if (!isalnum((unsigned char)key[i]) && key[i] != '-')
			return false;
	}
	return true;
}

static bool
file_name_is_valid(const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0' || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0 || strncasecmp(name, ".git", 4) == 0 ||
	    strlen(name) > 255 || !fg_utf8_is_valid(name, strlen(name)))
		return false;
	for (i = 0; name[i] != '\0'; i++)
		if (name[i] == '/' || (unsigned char)name[i] < 0x20 ||
		    name[i] == 0x7f)
			return false;
	return true;
}

static int
check_value(const char *key, const char *value, struct fg_err *err)
{
	size_t len;

	if (value == NULL)
		return 0;
	trim(value, &len);
	if (len > FG_RECORD_VALUE_MAX)
		return fg_err_set(err, FG_ELIMIT, "value of '%s' is %zu bytes, "
		    "over the limit of %d", key, len, FG_RECORD_VALUE_MAX);
	return 0;
}

int
fg_record_check(const struct fg_record *rec, struct fg_err *err)
{
	size_t i, j;
	int f, rc;

	if (rec == NULL)
		return fg_err_set(err, FG_EINVALID, "no record");
	if (!fg_record_kind_is_valid(rec->kind))
		return fg_err_set(err, FG_EINVALID, "bad record kind '%.64s' "
		    "(use lowercase letters, digits, '.', '_' and '-')",
		    rec->kind ? rec->kind : "");
	if (!present(rec->subject))
		return fg_err_set(err, FG_EINVALID, "record '%s' has no subject",
		    rec->kind);
	for (f = FG_FIELD_STAGE; f < FG_FIELD_COUNT; f++) {
		rc = check_value(fields[f].trailer,
		    fg_record_field_value(rec, (enum fg_record_field)f), err);
		if (rc < 0)
			return rc;
	}
	if (rec->ntrailers > FG_RECORD_TRAILERS_MAX)
		return fg_err_set(err, FG_ELIMIT, "record has %zu trailers, over "
		    "the limit of %d", rec->ntrailers, FG_RECORD_TRAILERS_MAX);
	for (i = 0; i < rec->ntrailers; i++) {
		const char *key = rec->trailers[i].key;

		if (!trailer_key_is_valid(key))
			return fg_err_set(err, FG_EINVALID, "bad trailer key "
			    "'%.64s' (use Flowgate-<letters, digits, '-'>)",
			    key ? key : "");
		for (f = 0; f < FG_FIELD_COUNT; f++)
			if (strcasecmp(key, fields[f].trailer) == 0)
				return fg_err_set(err, FG_EINVALID, "trailer "
				    "'%s' is a record field; set it there", key);
		for (j = 0; j < i; j++)
			if (strcasecmp(key, rec->trailers[j].key) == 0)
				return fg_err_set(err, FG_EINVALID, "trailer "
				    "'%s' given twice", key);
		rc = check_value(key, rec->trailers[i].value, err);
		if (rc < 0)
			return rc;
	}
	if (rec->data != NULL && !cJSON_IsObject(rec->data))
		return fg_err_set(err, FG_EINVALID, "record data must be a JSON "
		    "object");
	if (rec->nfiles > FG_RECORD_FILES_MAX)
		return fg_err_set(err, FG_ELIMIT, "record has %zu files, over "
		    "the limit of %d", rec->nfiles, FG_RECORD_FILES_MAX);
	for (i = 0; i < rec->nfiles; i++) {
		const struct fg_file *fi = &rec->files[i];

		if (!file_name_is_valid(fi->name))
			return fg_err_set(err, FG_EINVALID, "bad file name "
			    "'%.64s' in record", fi->name ? fi->name : "");
		if (!rec->no_record_json && strcmp(fi->name,
		    "record.json") == 0)
			return fg_err_set(err, FG_EINVALID, "'record.json' is "
			    "written by the store; set no_record_json to write "
			    "your own");
		if (fi->len > FG_RECORD_FILE_MAX)
			return fg_err_set(err, FG_ELIMIT, "file '%s' is %zu "
			    "bytes, over the limit of %d", fi->name, fi->len,
			    FG_RECORD_FILE_MAX);
		if (fi->len > 0 && fi->data == NULL)
			return fg_err_set(err, FG_EINVALID, "file '%s' has no "
			    "data", fi->name);
		for (j = 0; j < i; j++)
			if (strcmp(fi->name, rec->files[j].name) == 0)
				return fg_err_set(err, FG_EINVALID, "file '%s' "
				    "given twice", fi->name);
	}
	return 0;
}

/*
 * Would git or libgit2 read this body line as a trailer ("Token: ...",
 * "Token #..." is not ours: trailer.separators is ':'), as git's own
 * "(cherry picked from commit" marker, or as the start of a patch?
 */
static bool
line_needs_indent(const char *s)
{
	const char *p = s;

	if (strncmp(s, "---", 3) == 0)
		return true;
	if (strncmp(s, "(cherry picked from commit ", 27) == 0)
		return true;
	while (isalnum((unsigned char)*p) || *p == '-')
		p++;
	if (p == s)
		return false;
	while (*p == ' ' || *p == '\t')
		p++;
	return *p == ':';
}

/* Cut b back to at most len bytes, at a UTF-8 character boundary. */
static void
cut_utf8(struct fg_buf *b, size_t len)
{
	if (b->len <= len)
		return;
	while (len > 0 && ((unsigned char)b->ptr[len] & 0xc0) == 0x80)
		len--;
	fg_buf_truncate(b, len);
}

static int
append_body(struct fg_buf *out, const char *body)
{
	static const char cut_note[] = "[cut here: record.json has the rest]\n";
	struct fg_buf line = FG_BUF_INIT;
	const char *p = body, *nl;
	size_t start = out->len, len, room, budget;
	bool blank = false, any = false;
	const char *indent;
	int rc = 0;

	budget = FG_RECORD_BODY_MAX - (sizeof(cut_note) - 1);
	while (*p != '\0') {
		nl = strchr(p, '\n');
		len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		fg_buf_reset(&line);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		rc = text_n(&line, p, len, FG_RECORD_BODY_MAX, true, true);
		if (rc < 0)
			goto out;
		p = nl != NULL ? nl + 1 : p + strlen(p);
		while (line.len > 0 && (line.ptr[line.len - 1] == ' ' ||
		    line.ptr[line.len - 1] == '\t'))
			fg_buf_truncate(&line, line.len - 1);
		if (line.len == 0) {
			blank = any;
			continue;
		}
		indent = line_needs_indent(line.ptr) ? "  " : "";
		room = budget - (out->len - start);
		if ((blank ? 1 : 0) + strlen(indent) + line.len + 1 > room) {
			if (room > strlen(indent) + 8 + (blank ? 1 : 0)) {
				if (blank)
					rc = fg_buf_putc(out, '\n');
				cut_utf8(&line, room - strlen(indent) - 1 -
				    (blank ? 1 : 0) - 3);
				if (rc == 0)
					rc = fg_buf_printf(out, "%s%s...\n",
					    indent, line.ptr);
			}
			if (rc == 0)
				rc = fg_buf_puts(out, cut_note);
			goto out;
		}
		if ((blank && fg_buf_putc(out, '\n') < 0) ||
		    fg_buf_printf(out, "%s%s\n", indent, line.ptr) < 0) {
			rc = FG_ENOMEM;
			goto out;
		}
		blank = false;
		any = true;
	}
out:
	fg_buf_release(&line);
	return rc;
}

static int
append_trailer(struct fg_buf *out, const char *key, const char *value)
{
	const char *v;
	size_t len;
	int rc;

	if (value == NULL)
		return 0;
	v = trim(value, &len);
	if (len == 0)
		return 0;
	if (fg_buf_printf(out, "%s: ", key) < 0)
		return FG_ENOMEM;
	rc = text_n(out, v, len, FG_RECORD_VALUE_MAX * 4 + 3, true, false);
	if (rc < 0)
		return rc;
	return fg_buf_putc(out, '\n');
}

int
fg_record_message(struct fg_buf *out, const struct fg_record *rec,
    struct fg_err *err)
{
	const char *subject;
	size_t start = out->len, len, at;
	int f, rc;
	size_t i;

	subject = trim(rec->subject, &len);
	at = out->len;
	rc = text_n(out, subject, len, FG_RECORD_SUBJECT_MAX, true, false);
	if (rc < 0)
		goto nomem;
	/* A subject starting a "patch" would hide the trailers from libgit2. */
	if (strncmp(out->ptr + at, "---", 3) == 0) {
		fg_buf_truncate(out, at);
		if (fg_buf_putc(out, ' ') < 0 || text_n(out, subject, len,
		    FG_RECORD_SUBJECT_MAX - 1, true, false) < 0)
			goto nomem;
	}
	if (fg_buf_puts(out, "\n\n") < 0)
		goto nomem;
	if (rec->body != NULL) {
		at = out->len;
		if (append_body(out, rec->body) < 0)
			goto nomem;
		if (out->len > at && fg_buf_putc(out, '\n') < 0)
			goto nomem;
	}
	for (f = 0; f < FG_FIELD_COUNT; f++)
		if (append_trailer(out, fields[f].trailer,
		    fg_record_field_value(rec, (enum fg_record_field)f)) < 0)
			goto nomem;
	for (i = 0; i < rec->ntrailers; i++)
		if (append_trailer(out, rec->trailers[i].key,
		    rec->trailers[i].value) < 0)
			goto nomem;
	return 0;
nomem:
	fg_buf_truncate(out, start);
	return fg_err_set(err, FG_ENOMEM, "out of memory formatting a record");
}

/* Add key: s (UTF-8 repaired, cut at max bytes) to obj. */
static int
json_text(cJSON *obj, const char *key, const char *s, size_t len, size_t max)
{
	struct fg_buf b = FG_BUF_INIT;
	int rc = 0;

	if (text_n(&b, s, len, max, false, false) < 0 ||
	    cJSON_AddStringToObject(obj, key, b.ptr) == NULL)
		rc = FG_ENOMEM;
	fg_buf_release(&b);
	return rc;
}

/* A copy of src whose strings and keys are valid UTF-8; NULL on failure. */
static cJSON *
json_clean(const cJSON *src, int depth)
{
	struct fg_buf b = FG_BUF_INIT;
	const cJSON *c;
	cJSON *dst = NULL, *kid;

	if (depth > JSON_DEPTH_MAX)
		return NULL;
	if (cJSON_IsString(src)) {
		if (text_n(&b, src->valuestring, strlen(src->valuestring),
		    SIZE_MAX, false, false) == 0)
			dst = cJSON_CreateString(b.ptr);
	} else if (cJSON_IsNumber(src)) {
		dst = cJSON_CreateNumber(src->valuedouble);
	} else if (cJSON_IsBool(src)) {
		dst = cJSON_CreateBool(cJSON_IsTrue(src));
	} else if (cJSON_IsArray(src) || cJSON_IsObject(src)) {
		dst = cJSON_IsArray(src) ? cJSON_CreateArray() :
		    cJSON_CreateObject();
		cJSON_ArrayForEach(c, src) {
			if (dst == NULL)
				break;
			kid = json_clean(c, depth + 1);
			if (kid == NULL) {
				cJSON_Delete(dst);
				dst = NULL;
				break;
			}
			if (cJSON_IsArray(src)) {
				cJSON_AddItemToArray(dst, kid);
				continue;
			}
			fg_buf_reset(&b);
			if (text_n(&b, c->string ? c->string : "",
			    strlen(c->string ? c->string : ""), SIZE_MAX, false,
			    false) < 0) {
				cJSON_Delete(kid);
				cJSON_Delete(dst);
				dst = NULL;
				break;
			}
			cJSON_AddItemToObject(dst, b.ptr, kid);
		}
	} else {
		dst = cJSON_CreateNull();
	}
	fg_buf_release(&b);
	return dst;
}

/* True when s is valid UTF-8, which text_n() copies unchanged. */
static bool
clean_str(const char *s)
{
	return fg_utf8_is_valid(s, strlen(s));
}

/* True when json_clean(src, depth) would print as src does. */
static bool
json_is_clean(const cJSON *src, int depth)
{
	const cJSON *c;

	if (depth > JSON_DEPTH_MAX)
		return false;
	if (cJSON_IsString(src))
		return clean_str(src->valuestring);
	if (cJSON_IsArray(src) || cJSON_IsObject(src)) {
		cJSON_ArrayForEach(c, src) {
			if ((cJSON_IsObject(src) &&
			    !clean_str(c->string ? c->string : "")) ||
			    !json_is_clean(c, depth + 1))
				return false;
		}
		return true;
	}
	return cJSON_IsNumber(src) || cJSON_IsBool(src) || cJSON_IsNull(src);
}

int
fg_record_json(struct fg_buf *out, const struct fg_record *rec, int64_t t,
    struct fg_err *err)
{
	cJSON *root, *actor, *obj;
	const char *v;
	char when[32], *text = NULL;
	size_t len, i;
	int f, rc = 0;

	root = cJSON_CreateObject();
	if (root == NULL || cJSON_AddNumberToObject(root, "version", 1) == NULL)
		goto nomem;
	if (cJSON_AddStringToObject(root, "kind", rec->kind) == NULL)
		goto nomem;
	v = trim(rec->subject, &len);
	if (json_text(root, "subject", v, len, FG_RECORD_TEXT_MAX) < 0)
		goto nomem;
	fg_format_utc(when, sizeof(when), t);
	if (cJSON_AddStringToObject(root, "time", when) == NULL)
		goto nomem;
	actor = cJSON_AddObjectToObject(root, "actor");
	if (actor == NULL)
		goto nomem;
	v = present(rec->actor_name) ? rec->actor_name : FG_RECORD_COMMITTER;
	v = trim(v, &len);
	if (json_text(actor, "name", v, len, FG_RECORD_ACTOR_MAX) < 0)
		goto nomem;
	if (present(rec->actor_email))
		v = rec->actor_email;
	else if (present(rec->actor_name))
		v = "";
	else
		v = FG_RECORD_COMMITTER_EMAIL;
	v = trim(v, &len);
	if (json_text(actor, "email", v, len, FG_RECORD_ACTOR_MAX) < 0)
		goto nomem;
	for (f = FG_FIELD_STAGE; f < FG_FIELD_COUNT; f++) {
		v = fg_record_field_value(rec, (enum fg_record_field)f);
		if (!present(v))
			continue;
		v = trim(v, &len);
		if (json_text(root, fields[f].name, v, len,
		    FG_RECORD_VALUE_MAX) < 0)
			goto nomem;
	}
	if (present(rec->body)) {
		v = trim(rec->body, &len);
		if (json_text(root, "body", v, len, FG_RECORD_TEXT_MAX) < 0)
			goto nomem;
	}
	if (rec->ntrailers > 0) {
		obj = cJSON_AddObjectToObject(root, "trailers");
		if (obj == NULL)
			goto nomem;
		for (i = 0; i < rec->ntrailers; i++) {
			if (!present(rec->trailers[i].value))
				continue;
			v = trim(rec->trailers[i].value, &len);
			if (json_text(obj, rec->trailers[i].key, v, len,
			    FG_RECORD_VALUE_MAX) < 0)
				goto nomem;
		}
	}
	/*
	 * Data already clean, as nearly all is, goes in by reference, only
	 * to be printed.  Under the webhook benchmark the copy and its frees
	 * took 4 to 5% of the daemon's engine thread, the check 1%.
	 */
	if (rec->data != NULL && json_is_clean(rec->data, 0)) {
		if (!cJSON_AddItemReferenceToObject(root, "data",
		    (cJSON *)rec->data))
			goto nomem;
	} else if (rec->data != NULL) {
		obj = json_clean(rec->data, 0);
		if (obj == NULL) {
			rc = fg_err_set(err, FG_EINVALID, "record data is nested "
			    "deeper than %d levels or out of memory",
			    JSON_DEPTH_MAX);
			goto out;
		}
		cJSON_AddItemToObject(root, "data", obj);
	}
	text = cJSON_Print(root);
	if (text == NULL)
		goto nomem;
	if (strlen(text) > FG_RECORD_FILE_MAX) {
		rc = fg_err_set(err, FG_ELIMIT, "record.json would be over the "
		    "limit of %d bytes", FG_RECORD_FILE_MAX);
		goto out;
	}
	if (fg_buf_puts(out, text) < 0 || fg_buf_putc(out, '\n') < 0)
		goto nomem;
	goto out;
nomem:
	rc = fg_err_set(err, FG_ENOMEM, "out of memory writing record.json");
out:
	cJSON_free(text);
	cJSON_Delete(root);
	return rc;
}

/* libgit2 trims these from both ends of a name or email (is_crud()). */
static bool
is_crud(unsigned char c)
{
	return c <= 32 || c == '.' || c == ',' || c == ':' || c == ';' ||
	    c == '<' || c == '>' || c == '"' || c == '\\' || c == '\'';
}

static char *
signature_part(const char *s, const char *fallback)
{
	struct fg_buf b = FG_BUF_INIT;
	const char *v;
	size_t len, i;
	bool solid = false;

	if (s == NULL)
		s = "";
	v = trim(s, &len);
	if (text_n(&b, v, len, FG_RECORD_ACTOR_MAX, true, false) < 0) {
		fg_buf_release(&b);
		return NULL;
	}
	for (i = 0; i < b.len; i++) {
		if (b.ptr[i] == '<' || b.ptr[i] == '>')
			b.ptr[i] = '?';
		if (!is_crud((unsigned char)b.ptr[i]))
			solid = true;
	}
	if (!solid) {
		fg_buf_reset(&b);
		if (fg_buf_puts(&b, fallback) < 0) {
			fg_buf_release(&b);
			return NULL;
		}
	}
	return fg_buf_detach(&b, NULL);
}

int
fg_record_author(char **name, char **email, const struct fg_record *rec,
    struct fg_err *err)
{
	bool anyone = present(rec->actor_name);

	*name = signature_part(anyone ? rec->actor_name : FG_RECORD_COMMITTER,
	    "unknown");
	*email = signature_part(present(rec->actor_email) ? rec->actor_email :
	    anyone ? "" : FG_RECORD_COMMITTER_EMAIL, "unknown@flowgate.invalid");
	if (*name == NULL || *email == NULL) {
		free(*name);
		free(*email);
		*name = *email = NULL;
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	}
	return 0;
}
