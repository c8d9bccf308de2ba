/*
 * A small writer for the JSON objects the API answers with (flat ones,
 * and a listing's array of them) and the status documents scenegend
 * publishes (json_out.h). Every
 * call appends to a capped buffer; the first failure (out of memory or
 * over the cap) sticks and json_close() reports it, so callers check
 * once. Strings must be valid UTF-8 (everything we write either comes
 * from the database, which holds UTF-8, or from our own tables).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_out.h"

void
json_open(struct json_out *j)
{
	buf_init(&j->b, JSON_MAX);
	j->failed = buf_append(&j->b, "{", 1) == -1;
	j->first = 1;
}

/* Append s as a JSON string literal (RFC 8259 section 7). */
static void
json_quote(struct json_out *j, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char	 *run;
	char		  esc[7];
	unsigned char	  c;

	if (buf_append(&j->b, "\"", 1) == -1)
		goto fail;
	for (run = s; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		if (buf_append(&j->b, run, s - run) == -1)
			goto fail;
		run = s + 1;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			if (buf_append(&j->b, esc, 2) == -1)
				goto fail;
			continue;
		}
		memcpy(esc, "\\u00", 4);
		esc[4] = hex[c >> 4];
		esc[5] = hex[c & 0xf];
		if (buf_append(&j->b, esc, 6) == -1)
			goto fail;
	}
	if (buf_append(&j->b, run, s - run) == -1 ||
	    buf_append(&j->b, "\"", 1) == -1)
		goto fail;
	return;
fail:
	j->failed = 1;
}

/* Append the separator and "key": (just the separator if key is NULL). */
static void
json_key(struct json_out *j, const char *key)
{
	if (j->failed)
		return;
	if (!j->first && buf_append(&j->b, ",", 1) == -1) {
		j->failed = 1;
		return;
	}
	j->first = 0;
	if (key == NULL)
		return;
	json_quote(j, key);
	if (!j->failed && buf_append(&j->b, ":", 1) == -1)
		j->failed = 1;
}

void
json_string(struct json_out *j, const char *key, const char *value)
{
	if (value == NULL) {
		json_null(j, key);
		return;
	}
	json_key(j, key);
	if (!j->failed)
		json_quote(j, value);
}

void
json_int(struct json_out *j, const char *key, long long v)
{
	json_key(j, key);
	if (!j->failed && buf_printf(&j->b, "%lld", v) == -1)
		j->failed = 1;
}

/* A number; NaN and infinities, which JSON lacks, become null. */
void
json_double(struct json_out *j, const char *key, double v)
{
	char num[40];

	if (!isfinite(v)) {
		json_null(j, key);
		return;
	}
	/* The shortest of %.15g and %.17g that reads back as v. */
	snprintf(num, sizeof(num), "%.15g", v);
	if (strtod(num, NULL) != v)
		snprintf(num, sizeof(num), "%.17g", v);
	json_key(j, key);
	if (!j->failed && buf_append_str(&j->b, num) == -1)
		j->failed = 1;
}

void
json_null(struct json_out *j, const char *key)
{
	json_key(j, key);
	if (!j->failed && buf_append(&j->b, "null", 4) == -1)
		j->failed = 1;
}

/* Open a member (or, key NULL, an element) that is a container. */
static void
json_open_member(struct json_out *j, const char *key, const char *open)
{
	json_key(j, key);
	if (!j->failed && buf_append(&j->b, open, 1) == -1)
		j->failed = 1;
	j->first = 1;
}

/* Close the container opened last; what follows needs a separator. */
static void
json_close_member(struct json_out *j, const char *close)
{
	if (!j->failed && buf_append(&j->b, close, 1) == -1)
		j->failed = 1;
	j->first = 0;
}

void
json_array(struct json_out *j, const char *key)
{
	json_open_member(j, key, "[");
}

void
json_object(struct json_out *j, const char *key)
{
	json_open_member(j, key, "{");
}

void
json_end_array(struct json_out *j)
{
	json_close_member(j, "]");
}

void
json_end_object(struct json_out *j)
{
	json_close_member(j, "}");
}

/* Close the object; -1 if anything failed on the way. */
int
json_close(struct json_out *j)
{
	if (!j->failed && buf_append(&j->b, "}", 1) == -1)
		j->failed = 1;
	return j->failed ? -1 : 0;
}

void
json_free(struct json_out *j)
{
	buf_free(&j->b);
}
