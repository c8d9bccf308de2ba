/*
 * answer.c: the JSON bodies of the ModelsLab V7 image API.  Built with
 * cJSON, whose add functions return NULL (and free what they made) when a
 * parent is NULL or memory runs out, so one check per body suffices: a
 * builder counts failed adds and prints nothing if any failed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "answer.h"

#define URL_MAX 2048
#define TIP_KEY \
	"Get your API key from the ModelsLab dashboard " \
	"and pass it as \"key\" in the request body"
#define TIP_PROCESSING \
	"Your image is processing in background, you can " \
	"get this image using fetch API"

/* One provider error per fault kind: HTTP status, reason, message. */
static const struct {
	enum fault_kind kind;
	int		code;
	const char     *reason;
	const char     *message;
} fault_table[] = {
	{ FAULT_HTTP400, 400, "Bad Request", "Bad Request" },
	{ FAULT_HTTP401, 401, "Unauthorized", "Invalid Api Key" },
	{ FAULT_HTTP402, 402, "Payment Required",
	    "Insufficient credits. Please recharge your wallet." },
	{ FAULT_HTTP403, 403, "Forbidden",
	    "This feature is not available on your plan" },
	{ FAULT_HTTP500, 500, "Internal Server Error",
	    "Internal Server Error" },
	{ FAULT_HTTP502, 502, "Bad Gateway", "Bad Gateway" },
	{ FAULT_HTTP503, 503, "Service Unavailable",
	    "Service Unavailable, try again later" },
	{ FAULT_ERROR200, 200, "OK", "Something went wrong, please try again" },
	{ FAULT_ERROR200_FATAL, 200, "OK", "Invalid Api Key" },
};

/* The message key: "messege" in the old spelling. */
static const char *
msg_key(unsigned int flags)
{
	return (flags & FAULT_F_MESSEGE) ? "messege" : "message";
}

/* Prints obj unformatted and frees it; NULL if any add failed. */
static char *
finish(cJSON *obj, int failed)
{
	char *s = NULL;

	if (obj != NULL && failed == 0)
		s = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	return s;
}

/* Adds "id" as a number, or as a string with FAULT_F_STRING_ID. */
static int
add_id(cJSON *obj, uint64_t id, unsigned int flags)
{
	char buf[32];
	int  n;

	if (flags & FAULT_F_STRING_ID) {
		n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)id);
		if (n < 0 || (size_t)n >= sizeof(buf))
			return 1;
		return cJSON_AddStringToObject(obj, "id", buf) == NULL;
	}
	return cJSON_AddNumberToObject(obj, "id", (double)id) == NULL;
}

/* Adds key: [url] where url is base + path, or key: [] if path is NULL. */
static int
add_url_list(cJSON *obj, const char *key, const char *base, const char *path,
    uint64_t id)
{
	char   url[URL_MAX];
	cJSON *arr, *s;
	int    n;

	arr = cJSON_AddArrayToObject(obj, key);
	if (arr == NULL)
		return 1;
	if (path == NULL)
		return 0;
	n = snprintf(url, sizeof(url), "%s%s%llu.png", base, path,
	    (unsigned long long)id);
	if (n < 0 || (size_t)n >= sizeof(url))
		return 1;
	s = cJSON_CreateString(url);
	if (s == NULL)
		return 1;
	cJSON_AddItemToArray(arr, s);
	return 0;
}

/* Seconds rounded to milliseconds, as the "eta" number. */
static double
round_ms(double s)
{
	if (s < 0.0)
		s = 0.0;
	return round(s * 1000.0) / 1000.0;
}

/* The queued shape, for a create and for a fetch before ready. */
char *
answer_processing(const struct answer_ctx *a, double eta)
{
	char   url[URL_MAX];
	cJSON *o;
	int    n, bad = 0;

	n = snprintf(url, sizeof(url), "%s%s/v7/images/fetch/%llu", a->base,
	    a->prefix, (unsigned long long)a->id);
	if (n < 0 || (size_t)n >= sizeof(url))
		return NULL;
	o = cJSON_CreateObject();
	bad += cJSON_AddStringToObject(o, "status", "processing") == NULL;
	bad += cJSON_AddNumberToObject(o, "eta", round_ms(eta)) == NULL;
	bad += cJSON_AddStringToObject(o, msg_key(a->flags),
		   "Try to fetch request after seconds estimated") == NULL;
	bad += cJSON_AddStringToObject(o, "tip", TIP_PROCESSING) == NULL;
	bad += cJSON_AddStringToObject(o, "fetch_result", url) == NULL;
	bad += add_id(o, a->id, a->flags);
	bad += add_url_list(o, "output", a->base, NULL, a->id);
	bad += add_url_list(o, "future_links", a->base, "/generations/", a->id);
	bad += cJSON_AddObjectToObject(o, "meta") == NULL;
	return finish(o, bad);
}

/* The immediate-success shape of a create. */
char *
answer_created(const struct answer_ctx *a, double gen_time,
    const char *model_id, const char *prompt, uint64_t seed)
{
	cJSON *o, *meta;
	int    bad = 0;

	o = cJSON_CreateObject();
	bad += cJSON_AddStringToObject(o, "status", "success") == NULL;
	bad += cJSON_AddNumberToObject(o, "generationTime",
		   round_ms(gen_time)) == NULL;
	bad += add_id(o, a->id, a->flags);
	bad += add_url_list(o, "output", a->base, "/generations/", a->id);
	bad += add_url_list(o, "proxy_links", a->base, "/cdn/generations/",
	    a->id);
	bad += cJSON_AddFalseToObject(o, "nsfw_content_detected") == NULL;
	bad += cJSON_AddStringToObject(o, "webhook_status", "") == NULL;
	meta = cJSON_AddObjectToObject(o, "meta");
	bad += cJSON_AddStringToObject(meta, "model_id", model_id) == NULL;
	bad += cJSON_AddStringToObject(meta, "prompt", prompt) == NULL;
	bad += cJSON_AddNumberToObject(meta, "seed", (double)seed) == NULL;
	bad += cJSON_AddStringToObject(o, "tip", "") == NULL;
	return finish(o, bad);
}

/* The thinner success shape of a fetch. */
char *
answer_fetched(const struct answer_ctx *a)
{
	cJSON *o;
	int    bad = 0;

	o = cJSON_CreateObject();
	bad += cJSON_AddStringToObject(o, "status", "success") == NULL;
	bad += add_id(o, a->id, a->flags);
	bad += add_url_list(o, "output", a->base, "/generations/", a->id);
	bad += add_url_list(o, "proxy_links", a->base, "/cdn/generations/",
	    a->id);
	return finish(o, bad);
}

/* A fetch of a generation that failed. */
char *
answer_failed(const struct answer_ctx *a)
{
	cJSON *o;
	int    bad = 0;

	o = cJSON_CreateObject();
	bad += cJSON_AddStringToObject(o, "status", "failed") == NULL;
	bad += add_id(o, a->id, a->flags);
	bad += cJSON_AddStringToObject(o, msg_key(a->flags),
		   "Failed, Try Again") == NULL;
	bad += cJSON_AddArrayToObject(o, "output") == NULL;
	return finish(o, bad);
}

/* A fetch of an unknown id: note "id" and "output" are strings there. */
char *
answer_not_found(unsigned int flags)
{
	cJSON *o;
	int    bad = 0;

	o = cJSON_CreateObject();
	bad += cJSON_AddStringToObject(o, "status", "failed") == NULL;
	bad += cJSON_AddStringToObject(o, "id", "") == NULL;
	bad += cJSON_AddStringToObject(o, msg_key(flags),
		   "Request not found") == NULL;
	bad += cJSON_AddStringToObject(o, "output", "") == NULL;
	return finish(o, bad);
}

/* {"status":"error","message":msg}. */
char *
answer_error(const char *msg, unsigned int flags)
{
	cJSON *o;
	int    bad = 0;

	o = cJSON_CreateObject();
	bad += cJSON_AddStringToObject(o, "status", "error") == NULL;
	bad += cJSON_AddStringToObject(o, msg_key(flags), msg) == NULL;
	return finish(o, bad);
}

/* A wrong or missing key. */
char *
answer_bad_key(unsigned int flags)
{
	cJSON *o;
	int    bad = 0;

	o = cJSON_CreateObject();
	bad += cJSON_AddStringToObject(o, "status", "error") == NULL;
	bad += cJSON_AddStringToObject(o, msg_key(flags), "Invalid Api Key") ==
	    NULL;
	bad += cJSON_AddStringToObject(o, "tip", TIP_KEY) == NULL;
	return finish(o, bad);
}

/* Adds name: ["sentence"] to the field-error object errs. */
static int
add_field_error(cJSON *errs, const char *name, const char *sentence)
{
	cJSON *arr, *s;

	arr = cJSON_AddArrayToObject(errs, name);
	s = cJSON_CreateString(sentence);
	if (arr == NULL || s == NULL) {
		cJSON_Delete(s);
		return 1;
	}
	cJSON_AddItemToArray(arr, s);
	return 0;
}

/* Required fields missing: message is an object of field errors. */
char *
answer_fields_missing(int no_model, int no_prompt, unsigned int flags)
{
	cJSON *o, *errs;
	int    bad = 0;

	o = cJSON_CreateObject();
	bad += cJSON_AddStringToObject(o, "status", "error") == NULL;
	errs = cJSON_AddObjectToObject(o, msg_key(flags));
	bad += errs == NULL;
	if (no_model)
		bad += add_field_error(errs, "model_id",
		    "The model id field is required.");
	if (no_prompt)
		bad += add_field_error(errs, "prompt",
		    "The prompt field is required.");
	return finish(o, bad);
}

/* The queued-requests limit, HTTP 429. */
char *
answer_queue_full(long limit, long retry_after, unsigned int flags)
{
	char   msg[128];
	cJSON *o;
	int    n, bad = 0;

	n = snprintf(msg, sizeof(msg),
	    "Rate limit exceeded. Maximum %ld queued requests allowed.", limit);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return NULL;
	o = cJSON_CreateObject();
	bad += cJSON_AddStringToObject(o, "status", "error") == NULL;
	bad += cJSON_AddStringToObject(o, msg_key(flags), msg) == NULL;
	bad += cJSON_AddNumberToObject(o, "retry_after", (double)retry_after) ==
	    NULL;
	return finish(o, bad);
}

/* The old rate-limit form under HTTP 200, spelled "messege" and "tips". */
static char *
answer_rate_limit_200(void)
{
	cJSON *o;
	int    bad = 0;

	o = cJSON_CreateObject();
	bad += cJSON_AddStringToObject(o, "status", "error") == NULL;
	bad += cJSON_AddStringToObject(o, "messege", "Rate limit exceeded") ==
	    NULL;
	bad += cJSON_AddStringToObject(o, "tips",
		   "You have exceeded the "
		   "rate limit, please wait for 30 seconds and try again") ==
	    NULL;
	return finish(o, bad);
}

/*
 * Fills out with the answer for an error-answer fault (faults_is_error()).
 * limit is the queue limit quoted by http429, retry_after its seconds.
 * Returns 0, or -1 when out of memory or kind is no error answer.
 */
int
answer_for_fault(enum fault_kind kind, unsigned int flags, long limit,
    double retry_after, struct answer_fault *out)
{
	size_t i;

	out->code = 200;
	out->reason = "OK";
	out->content_type = "application/json";
	out->body = NULL;
	switch (kind) {
	case FAULT_HTTP429:
		out->code = 429;
		out->reason = "Too Many Requests";
		out->body = answer_queue_full(limit > 0 ? limit : 5,
		    (long)ceil(retry_after), flags);
		break;
	case FAULT_HTTP504:
		out->code = 504;
		out->reason = "Gateway Time-out";
		out->content_type = "text/html";
		out->body = strdup("<html>504 Gateway Time-out</html>");
		break;
	case FAULT_RATELIMIT200:
		out->body = answer_rate_limit_200();
		break;
	case FAULT_HTTP401:
	case FAULT_ERROR200_FATAL:
		out->code = kind == FAULT_HTTP401 ? 401 : 200;
		out->reason = kind == FAULT_HTTP401 ? "Unauthorized" : "OK";
		out->body = answer_bad_key(flags);
		break;
	default:
		for (i = 0; i < sizeof(fault_table) / sizeof(fault_table[0]);
		     i++) {
			if (fault_table[i].kind != kind)
				continue;
			out->code = fault_table[i].code;
			out->reason = fault_table[i].reason;
			out->body = answer_error(fault_table[i].message, flags);
		}
		break;
	}
	return out->body == NULL ? -1 : 0;
}
