/*
 * provider.c: the ModelsLab V7 wire format; see provider.h and
 * modelslab-v7.md. Nothing here talks to the network: requests are built
 * as strings and answers are read from an http_result, so every answer
 * variant can be tested on its own.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "http.h"
#include "provider.h"
#include "settings.h"
#include "text.h"

#define PROVIDER_TEXT_MAX 300 /* provider text kept in a message */

const char *const provider_kind_names[PROVIDER_KIND__MAX] = {
	"success",
	"processing",
	"generation failed",
	"retryable error",
	"fatal error",
};

/* Compose the prompt: the description verbatim, then ", <style> style". */
static char *
provider_prompt(const char *description, const char *style)
{
	struct buf b;
	size_t	   dlen, slen;

	buf_init(&b, 64 * 1024);
	if (buf_append_str(&b, description) == -1)
		goto fail;
	dlen = strlen(description);
	slen = style != NULL ? strlen(style) : 0;
	if (slen > 0 &&
	    !(dlen >= slen + 8 &&
		strncmp(description + dlen - slen - 6, style, slen) == 0 &&
		strcmp(description + dlen - 6, " style") == 0)) {
		if (buf_printf(&b, ", %s style", style) == -1)
			goto fail;
	}
	return b.data;
fail:
	buf_free(&b);
	return NULL;
}

char *
provider_create_body(const struct settings *cfg, const char *record_id,
    const char *description, const char *style, const char *aspect_ratio)
{
	cJSON *o;
	char  *prompt, *out = NULL;

	prompt = provider_prompt(description != NULL ? description : "", style);
	o = cJSON_CreateObject();
	if (prompt == NULL || o == NULL)
		goto done;
	if (cJSON_AddStringToObject(o, "key", cfg->api_key) == NULL ||
	    cJSON_AddStringToObject(o, "model_id", cfg->model_id) == NULL ||
	    cJSON_AddStringToObject(o, "prompt", prompt) == NULL ||
	    cJSON_AddStringToObject(o, "aspect_ratio",
		aspect_ratio != NULL && *aspect_ratio != '\0' ?
		    aspect_ratio :
		    "16:9") == NULL ||
	    cJSON_AddStringToObject(o, "track_id", record_id) == NULL ||
	    cJSON_AddNullToObject(o, "webhook") == NULL)
		goto done;
	out = cJSON_PrintUnformatted(o);
done:
	cJSON_Delete(o);
	free(prompt);
	return out;
}

char *
provider_fetch_body(const struct settings *cfg)
{
	cJSON *o;
	char  *out = NULL;

	o = cJSON_CreateObject();
	if (o != NULL &&
	    cJSON_AddStringToObject(o, "key", cfg->api_key) != NULL)
		out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return out;
}

char *
provider_key_header(const struct settings *cfg)
{
	struct buf b;

	buf_init(&b, 16 * 1024);
	if (buf_printf(&b, "key: %s", cfg->api_key) == -1) {
		buf_free(&b);
		return NULL;
	}
	return b.data;
}

int
provider_create_url(const struct settings *cfg, char *out, size_t len)
{
	int n;

	n = snprintf(out, len, "%s/v7/images/text-to-image", cfg->base_url);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int
provider_fetch_url(const struct settings *cfg, const char *id, char *out,
    size_t len)
{
	int n;

	/* Ids are checked to be [A-Za-z0-9._-] when read: no escaping. */
	n = snprintf(out, len, "%s/v7/images/fetch/%s", cfg->base_url, id);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* A number given as a JSON number or a numeric string; -1 otherwise. */
static double
provider_number(const cJSON *v)
{
	char  *end;
	double d;

	if (cJSON_IsNumber(v))
		d = v->valuedouble;
	else if (cJSON_IsString(v) && v->valuestring[0] != '\0') {
		d = strtod(v->valuestring, &end);
		if (*end != '\0')
			return -1;
	} else
		return -1;
	if (!isfinite(d) || d < 0 || d > 86400 * 7)
		return -1;
	return d;
}

/* The request id: an integer or a string of [A-Za-z0-9._-]; 0 if none. */
static int
provider_id(const cJSON *v, char *out, size_t len)
{
	const char *s;
	size_t	    i;
	int	    n;

	out[0] = '\0';
	if (cJSON_IsNumber(v)) {
		if (!isfinite(v->valuedouble) || v->valuedouble < 0 ||
		    v->valuedouble > 9007199254740992.0 ||
		    floor(v->valuedouble) != v->valuedouble)
			return 0;
		n = snprintf(out, len, "%.0f", v->valuedouble);
		return n > 0 && (size_t)n < len;
	}
	if (!cJSON_IsString(v))
		return 0;
	s = v->valuestring;
	if (s[0] == '\0' || strlen(s) >= len)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' &&
		    s[i] != '_' && s[i] != '.')
			return 0;
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return 0;
	memcpy(out, s, i + 1);
	return 1;
}

/* First usable http(s) URL of v (an array of strings, or a string). */
static void
provider_url(const cJSON *v, char *out, size_t len)
{
	const cJSON *e;
	const char  *s = NULL, *p;
	size_t	     n;

	out[0] = '\0';
	if (cJSON_IsString(v))
		s = v->valuestring;
	else if (cJSON_IsArray(v)) {
		cJSON_ArrayForEach (e, v) {
			if (cJSON_IsString(e) && e->valuestring[0] != '\0') {
				s = e->valuestring;
				break;
			}
		}
	}
	if (s == NULL ||
	    (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0))
		return;
	n = strlen(s);
	if (n >= len)
		return;
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return;
	memcpy(out, s, n + 1);
}

/*
 * The provider's message as plain text into b: "message" or "messege",
 * a string or an object of field errors ({"prompt": ["..."]}).
 */
static void
provider_message_text(const cJSON *o, struct buf *b)
{
	const cJSON *m, *f, *e;

	m = cJSON_GetObjectItemCaseSensitive(o, "message");
	if (m == NULL)
		m = cJSON_GetObjectItemCaseSensitive(o, "messege");
	if (cJSON_IsString(m)) {
		buf_append_str(b, m->valuestring);
		return;
	}
	if (!cJSON_IsObject(m))
		return;
	cJSON_ArrayForEach (f, m) {
		if (b->len > 0)
			buf_append_str(b, "; ");
		buf_printf(b, "%s: ", f->string != NULL ? f->string : "?");
		if (cJSON_IsString(f))
			buf_append_str(b, f->valuestring);
		else if (cJSON_IsArray(f)) {
			cJSON_ArrayForEach (e, f) {
				if (cJSON_IsString(e)) {
					buf_append_str(b, e->valuestring);
					buf_append_str(b, " ");
				}
			}
		}
	}
}

/* Case-insensitive substring search. */
static int
provider_has(const char *hay, const char *needle)
{
	return hay != NULL && strcasestr(hay, needle) != NULL;
}

/* "... wait for 30 seconds ...": the number, or -1. */
static double
provider_wait_text(const char *s)
{
	const char *p;
	char	   *end;
	double	    d;

	if (s == NULL)
		return -1;
	p = strcasestr(s, "wait for ");
	if (p == NULL)
		return -1;
	d = strtod(p + 9, &end);
	if (end == p + 9 || !isfinite(d) || d < 0 || d > 86400)
		return -1;
	return d;
}

/* Set the message: fmt then ": <provider text>" when there is any. */
static void
provider_say(struct provider_answer *a, const char *what, const char *text)
{
	char clean[PROVIDER_TEXT_MAX];

	if (text != NULL && *text != '\0') {
		text_clean(clean, sizeof(clean), text, strlen(text));
		snprintf(a->message, sizeof(a->message), "%s: %s", what, clean);
	} else
		snprintf(a->message, sizeof(a->message), "%s", what);
}

/* The answer of a refused key, no credits, or a plan without it. */
static int
provider_account_error(struct provider_answer *a, long status, const char *text,
    const struct settings *cfg)
{
	char what[256];

	if (status == 401 ||
	    (status != 402 && status != 403 && provider_has(text, "api key") &&
		!provider_has(text, "limit"))) {
		a->kind = PROVIDER_FATAL;
		provider_say(a,
		    "the ModelsLab API key was refused: check "
		    "MODELSLAB_API_KEY",
		    text);
		return 1;
	}
	if (status == 402 || provider_has(text, "credit") ||
	    provider_has(text, "insufficient balance") ||
	    provider_has(text, "recharge")) {
		a->kind = PROVIDER_FATAL;
		provider_say(a,
		    "the ModelsLab account has no credits left: "
		    "recharge it",
		    text);
		return 1;
	}
	if (status == 403) {
		a->kind = PROVIDER_FATAL;
		snprintf(what, sizeof(what),
		    "the ModelsLab plan does not "
		    "include this model/feature (model %s)",
		    cfg->model_id);
		provider_say(a, what, text);
		return 1;
	}
	return 0;
}

/* An error text that says to come back later. */
static int
provider_says_retry(const char *text)
{
	static const char *const words[] = {
		"try again",
		"retry",
		"rate limit",
		"wait for",
		"too many",
		"queued requests",
		"overloaded",
		"busy",
		"temporarily",
		"timeout",
		"timed out",
		"server error",
		"high demand",
	};
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (provider_has(text, words[i]))
			return 1;
	return 0;
}

/* Judge a transport failure (no HTTP answer to read). */
static void
provider_transport(const struct settings *cfg, const struct http_result *r,
    struct provider_answer *a)
{
	char what[160], clean[200];

	a->kind = PROVIDER_RETRY;
	if (r->too_large) {
		snprintf(a->message, sizeof(a->message),
		    "ModelsLab sent an "
		    "answer larger than %zu bytes",
		    r->body->max);
		return;
	}
	if (r->code == CURLE_OPERATION_TIMEDOUT) {
		snprintf(a->message, sizeof(a->message),
		    "ModelsLab did not "
		    "answer within %g s (SCENEGEN_HTTP_TIMEOUT)",
		    cfg->http_timeout);
		return;
	}
	text_clean(clean, sizeof(clean), r->error, strlen(r->error));
	snprintf(what, sizeof(what), "could not reach ModelsLab (%s)",
	    curl_easy_strerror(r->code));
	snprintf(a->message, sizeof(a->message), "%s: %s", what, clean);
}

/* Judge an answer whose JSON "status" is "error". */
static void
provider_error_status(const struct settings *cfg, int is_fetch,
    const char *text, struct provider_answer *a)
{
	if (provider_says_retry(text)) {
		a->kind = PROVIDER_RETRY;
		/* "error" is final for a request id: a retry creates anew. */
		a->request_dead = is_fetch;
		if (provider_has(text, "rate limit") ||
		    provider_has(text, "too many") ||
		    provider_has(text, "queued requests"))
			provider_say(a, "ModelsLab rate limit", text);
		else
			provider_say(a, "ModelsLab asked to try again", text);
		return;
	}
	if (provider_account_error(a, 200, text, cfg))
		return;
	a->kind = PROVIDER_FATAL;
	provider_say(a, "ModelsLab refused the request", text);
}

void
provider_parse(const struct settings *cfg, const struct http_result *r,
    int is_fetch, struct provider_answer *a)
{
	cJSON	    *o = NULL;
	const cJSON *st, *meta;
	struct buf   text;
	const char  *status = NULL, *msg;
	char	     what[160];
	double	     d;
	long	     code = r->status;

	memset(a, 0, sizeof(*a));
	a->eta = a->generation_time = a->retry_after = -1;
	a->http_status = code;
	buf_init(&text, 4096);
	if (r->code != CURLE_OK) {
		provider_transport(cfg, r, a);
		goto done;
	}
	o = cJSON_ParseWithLength(r->body->data, r->body->len);
	if (cJSON_IsObject(o)) {
		provider_message_text(o, &text);
		st = cJSON_GetObjectItemCaseSensitive(o, "status");
		if (cJSON_IsString(st))
			status = st->valuestring;
		a->retry_after = provider_number(
		    cJSON_GetObjectItemCaseSensitive(o, "retry_after"));
		st = cJSON_GetObjectItemCaseSensitive(o, "tip");
		if (st == NULL)
			st = cJSON_GetObjectItemCaseSensitive(o, "tips");
		if (cJSON_IsString(st) &&
		    provider_wait_text(st->valuestring) > a->retry_after)
			a->retry_after = provider_wait_text(st->valuestring);
	}
	msg = text.data != NULL ? text.data : "";
	if (provider_wait_text(msg) > a->retry_after)
		a->retry_after = provider_wait_text(msg);
	if (r->retry_after > a->retry_after)
		a->retry_after = r->retry_after;

	/* The HTTP code first. */
	if (code < 200 || code > 299) {
		if ((code == 401 || code == 402 || code == 403) &&
		    provider_account_error(a, code, msg, cfg))
			goto done;
		if (code == 429 || code == 408 || code == 425 || code >= 500 ||
		    code < 200) {
			a->kind = PROVIDER_RETRY;
			snprintf(what, sizeof(what),
			    code == 429 ? "ModelsLab rate limit (HTTP %ld)" :
					  "ModelsLab answered HTTP %ld",
			    code);
			provider_say(a, what, msg);
			goto done;
		}
		if (code == 404 && is_fetch) {
			a->kind = PROVIDER_GEN_FAILED;
			a->request_dead = 1;
			provider_say(a,
			    "ModelsLab does not know this request "
			    "(HTTP 404)",
			    msg);
			goto done;
		}
		a->kind = PROVIDER_FATAL;
		snprintf(what, sizeof(what),
		    code == 404 ?
			"ModelsLab answered HTTP 404: check MODELSLAB_BASE_URL" :
			"ModelsLab refused the request as invalid (HTTP %ld)",
		    code);
		provider_say(a, what, msg);
		goto done;
	}

	/* Then the JSON status. */
	if (!cJSON_IsObject(o) || status == NULL) {
		a->kind = PROVIDER_RETRY;
		snprintf(a->message, sizeof(a->message),
		    "ModelsLab sent an "
		    "unreadable answer (truncated or not the expected JSON)");
		goto done;
	}
	provider_id(cJSON_GetObjectItemCaseSensitive(o, "id"), a->id,
	    sizeof(a->id));
	a->eta = provider_number(cJSON_GetObjectItemCaseSensitive(o, "eta"));
	d = provider_number(
	    cJSON_GetObjectItemCaseSensitive(o, "generationTime"));
	a->generation_time = d;
	meta = cJSON_GetObjectItemCaseSensitive(o, "meta");
	st = cJSON_GetObjectItemCaseSensitive(meta, "model_id");
	if (cJSON_IsString(st))
		text_clean(a->model, sizeof(a->model), st->valuestring,
		    strlen(st->valuestring));
	if (strcmp(status, "success") == 0) {
		provider_url(cJSON_GetObjectItemCaseSensitive(o, "output"),
		    a->output_url, sizeof(a->output_url));
		provider_url(cJSON_GetObjectItemCaseSensitive(o, "proxy_links"),
		    a->proxy_url, sizeof(a->proxy_url));
		if (a->output_url[0] != '\0' || a->proxy_url[0] != '\0')
			a->kind = PROVIDER_SUCCESS;
		else if (a->id[0] != '\0')
			a->kind = PROVIDER_PROCESSING; /* fetch it */
		else {
			a->kind = PROVIDER_RETRY;
			snprintf(a->message, sizeof(a->message),
			    "ModelsLab "
			    "reported success without an image URL");
		}
	} else if (strcmp(status, "processing") == 0 ||
	    strcmp(status, "queued") == 0 || strcmp(status, "pending") == 0) {
		if (a->id[0] != '\0' || is_fetch)
			a->kind = PROVIDER_PROCESSING;
		else {
			a->kind = PROVIDER_RETRY;
			snprintf(a->message, sizeof(a->message),
			    "ModelsLab "
			    "queued the request without giving its id");
		}
	} else if (strcmp(status, "failed") == 0) {
		a->kind = PROVIDER_GEN_FAILED;
		a->request_dead = 1;
		provider_say(a, "ModelsLab could not generate the image", msg);
	} else if (strcmp(status, "error") == 0)
		provider_error_status(cfg, is_fetch, msg, a);
	else {
		a->kind = PROVIDER_RETRY;
		provider_say(a, "ModelsLab answered with an unknown status",
		    status);
	}
done:
	cJSON_Delete(o);
	buf_free(&text);
}
