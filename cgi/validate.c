/*
 * Validation of what a client sends with a POST: the Content-Type, the
 * Idempotency-Key and the JSON body (SPEC.md, POST .../scenes/{n}).
 * Lengths are counted in characters (Unicode code points), not bytes.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "netaddr.h"
#include "extern.h"

/* Plain decimal literals: the error sentences quote them. */
#define DESCRIPTION_MAX 2000
#define STYLE_MAX	64

static const char *const aspect_ratios[] = {
	"1:1",
	"16:9",
	"9:16",
	"4:3",
	"3:4",
	"3:2",
	"2:3",
	"21:9",
};

/*
 * 1 if ct is application/json, in any case, with or without
 * parameters (RFC 9110 section 8.3.1: "application/json; charset=utf-8").
 */
int
validate_content_type(const char *ct)
{
	static const char type[] = "application/json";

	if (ct == NULL)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, type, sizeof(type) - 1) != 0)
		return 0;
	ct += sizeof(type) - 1;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* 1 if k is 1..IDEMPOTENCY_KEY_MAX printable ASCII (0x21..0x7e). */
int
validate_idempotency_key(const char *k)
{
	size_t i;

	for (i = 0; k[i] != '\0'; i++)
		if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] > 0x7e ||
		    i >= IDEMPOTENCY_KEY_MAX)
			return 0;
	return i > 0;
}

/* Decode the code point at s (valid UTF-8); *n gets its length. */
static unsigned long
utf8_decode(const unsigned char *s, size_t *n)
{
	if (s[0] < 0x80) {
		*n = 1;
		return s[0];
	}
	if (s[0] < 0xe0) {
		*n = 2;
		return ((s[0] & 0x1fUL) << 6) | (s[1] & 0x3f);
	}
	if (s[0] < 0xf0) {
		*n = 3;
		return ((s[0] & 0x0fUL) << 12) | ((s[1] & 0x3fUL) << 6) |
		    (s[2] & 0x3f);
	}
	*n = 4;
	return ((s[0] & 0x07UL) << 18) | ((s[1] & 0x3fUL) << 12) |
	    ((s[2] & 0x3fUL) << 6) | (s[3] & 0x3f);
}

/* 1 if cp is white space (Unicode White_Space, as Python's strip()). */
static int
is_space(unsigned long cp)
{
	return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) ||
	    cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
	    (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
	    cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

/*
 * Trim white space off both ends of s (valid UTF-8) into a new string;
 * *chars gets its length in code points. NULL when out of memory.
 */
static char *
utf8_trim(const char *str, size_t *chars)
{
	const unsigned char *s = (const unsigned char *)str;
	const unsigned char *start = NULL, *end = s;
	size_t		     n, count = 0, kept = 0;
	unsigned long	     cp;
	char		    *out;

	while (*s != '\0') {
		cp = utf8_decode(s, &n);
		count++;
		if (!is_space(cp)) {
			if (start == NULL) {
				start = s;
				count = 1;
			}
			end = s + n;
			kept = count;
		}
		s += n;
	}
	if (start == NULL)
		start = end;
	out = strndup((const char *)start, end - start);
	*chars = kept;
	return out;
}

/* 1 if s has a C0 or C1 control character or DEL. */
static int
has_control(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned long	     cp;
	size_t		     n;

	for (; *s != '\0'; s += n) {
		cp = utf8_decode(s, &n);
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return 1;
	}
	return 0;
}

/* Set the field error and return -1. */
static int
field_fail(struct field_error *fe, enum api_error *e, const char *field,
    const char *reason)
{
	*e = ERR_INVALID_FIELD;
	fe->field = field;
	fe->reason = reason;
	return -1;
}

/* The webhook events a record may ask for (SPEC.md). */
static const char *const webhook_events[] = {
	"in_progress",
	"completed",
	"failed",
	"canceled",
};

/*
 * webhook_events of o into in: an array of distinct event names, kept
 * as a text[] literal ("" when absent: the column's default). -1 with
 * *e and *fe set.
 */
static int
validate_webhook_events(const cJSON *o, struct scene_input *in,
    enum api_error *e, struct field_error *fe)
{
	static const char reason[] = "must be a list of distinct events "
				     "among in_progress, completed, failed "
				     "and canceled";
	const cJSON	 *m, *ev;
	unsigned int	  seen = 0;
	size_t		  i, used = 1;

	in->webhook_events[0] = '\0';
	m = cJSON_GetObjectItemCaseSensitive(o, "webhook_events");
	if (m == NULL || cJSON_IsNull(m))
		return 0;
	if (!cJSON_IsArray(m))
		return field_fail(fe, e, "webhook_events", reason);
	in->webhook_events[0] = '{';
	cJSON_ArrayForEach (ev, m) {
		for (i = 0;
		     i < sizeof(webhook_events) / sizeof(webhook_events[0]);
		     i++)
			if (cJSON_IsString(ev) &&
			    strcmp(ev->valuestring, webhook_events[i]) == 0)
				break;
		if (i == sizeof(webhook_events) / sizeof(webhook_events[0]) ||
		    (seen & (1u << i)))
			return field_fail(fe, e, "webhook_events", reason);
		seen |= 1u << i;
		if (used > 1)
			in->webhook_events[used++] = ',';
		memcpy(in->webhook_events + used, webhook_events[i],
		    strlen(webhook_events[i]));
		used += strlen(webhook_events[i]);
	}
	in->webhook_events[used++] = '}';
	in->webhook_events[used] = '\0';
	return 0;
}

/*
 * webhook_url and webhook_events of o into in. The URL is only parsed
 * here; where its host leads is checked by the handler (it resolves
 * names). -1 with *e and *fe set, or *e = ERR_INTERNAL.
 */
static int
validate_webhook(const cJSON *o, struct scene_input *in, enum api_error *e,
    struct field_error *fe)
{
	struct netaddr_url u;
	const cJSON	  *m;

	m = cJSON_GetObjectItemCaseSensitive(o, "webhook_url");
	if (m != NULL && !cJSON_IsNull(m)) {
		if (!cJSON_IsString(m) ||
		    netaddr_url_parse(m->valuestring, &u) == -1)
			return field_fail(fe, e, "webhook_url",
			    "must be an absolute https URL of at most " NUM_TEXT(
				WEBHOOK_URL_MAX) " bytes");
		in->webhook_url = strdup(m->valuestring);
		if (in->webhook_url == NULL) {
			*e = ERR_INTERNAL;
			return -1;
		}
	}
	return validate_webhook_events(o, in, e, fe);
}

/* The members; -1 with *e and *fe set, or *e = ERR_INTERNAL. */
static int
validate_members(const cJSON *o, struct scene_input *in, enum api_error *e,
    struct field_error *fe)
{
	const cJSON *m;
	size_t	     chars, i;

	m = cJSON_GetObjectItemCaseSensitive(o, "scene_description");
	if (m == NULL || cJSON_IsNull(m))
		return field_fail(fe, e, "scene_description", "is required");
	if (!cJSON_IsString(m))
		return field_fail(fe, e, "scene_description",
		    "must be a string");
	in->description = utf8_trim(m->valuestring, &chars);
	if (in->description == NULL)
		goto nomem;
	if (chars == 0 || chars > DESCRIPTION_MAX)
		return field_fail(fe, e, "scene_description",
		    "must be 1 to " NUM_TEXT(
			DESCRIPTION_MAX) " characters after trimming");

	m = cJSON_GetObjectItemCaseSensitive(o, "style");
	if (m == NULL || cJSON_IsNull(m))
		in->style = strdup("cinematic");
	else if (!cJSON_IsString(m))
		return field_fail(fe, e, "style", "must be a string");
	else
		in->style = utf8_trim(m->valuestring, &chars);
	if (in->style == NULL)
		goto nomem;
	if (m != NULL && !cJSON_IsNull(m) &&
	    (chars == 0 || chars > STYLE_MAX || has_control(in->style)))
		return field_fail(fe, e, "style",
		    "must be 1 to " NUM_TEXT(
			STYLE_MAX) " characters without control "
				   "characters");

	m = cJSON_GetObjectItemCaseSensitive(o, "aspect_ratio");
	if (m == NULL || cJSON_IsNull(m))
		memcpy(in->aspect_ratio, "16:9", sizeof("16:9"));
	else {
		for (i = 0;
		     i < sizeof(aspect_ratios) / sizeof(aspect_ratios[0]); i++)
			if (cJSON_IsString(m) &&
			    strcmp(m->valuestring, aspect_ratios[i]) == 0)
				break;
		if (i == sizeof(aspect_ratios) / sizeof(aspect_ratios[0]))
			return field_fail(fe, e, "aspect_ratio",
			    "must be one "
			    "of 1:1, 16:9, 9:16, 4:3, 3:4, 3:2, 2:3, 21:9");
		memcpy(in->aspect_ratio, aspect_ratios[i],
		    strlen(aspect_ratios[i]) + 1);
	}

	m = cJSON_GetObjectItemCaseSensitive(o, "script_id");
	in->script_id[0] = '\0';
	if (m != NULL && !cJSON_IsNull(m)) {
		if (!cJSON_IsString(m) || !uuid_is_valid(m->valuestring))
			return field_fail(fe, e, "script_id",
			    "must be a UUID or null");
		for (i = 0; i <= UUID_STR_LEN; i++)
			in->script_id[i] = (char)tolower(
			    (unsigned char)m->valuestring[i]);
	}
	return validate_webhook(o, in, e, fe);
nomem:
	*e = ERR_INTERNAL;
	return -1;
}

/*
 * Validate the body of a POST into in (free it with scene_input_free()
 * whatever the result). Returns -1 with *e set: ERR_INVALID_JSON,
 * ERR_INVALID_FIELD (fe names the field), ERR_INTERNAL.
 */
int
validate_scene_body(const char *body, size_t len, struct scene_input *in,
    enum api_error *e, struct field_error *fe)
{
	cJSON *o;
	size_t i;
	int    rc;

	memset(in, 0, sizeof(*in));
	fe->field = NULL;
	fe->reason = NULL;
	*e = ERR_INVALID_JSON;
	if (len == 0 || memchr(body, '\0', len) != NULL ||
	    !utf8_valid(body, len) || !syntax_json_ok(body, len))
		return -1;
	for (i = 0; i < len &&
	     (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' ||
		 body[i] == '\r');
	     i++)
		continue;
	if (i == len || body[i] != '{')
		return -1;
	/*
	 * syntax_json_ok() already refused anything after the value, so
	 * cJSON gets exactly len bytes: the body need not be NUL-terminated.
	 */
	o = cJSON_ParseWithLengthOpts(body, len, NULL, 0);
	if (o == NULL) {
		log_err("cJSON refused a body the syntax check accepted "
			"(out of memory?)");
		return -1;
	}
	rc = validate_members(o, in, e, fe);
	cJSON_Delete(o);
	return rc;
}

void
scene_input_free(struct scene_input *in)
{
	free(in->description);
	free(in->style);
	free(in->webhook_url);
	in->description = NULL;
	in->style = NULL;
	in->webhook_url = NULL;
}
