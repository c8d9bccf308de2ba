/*
 * Every answer the API writes. Errors come from one table of
 * {HTTP status, machine code, sentence}, so the status, "code" and
 * "detail" of an error can never drift apart. The headers an error
 * needs (WWW-Authenticate, Allow, Retry-After) are added here too.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "extern.h"

#define HEADERS_MAX 2048

static const struct {
	int	    status;
	const char *code;
	const char *detail;
} errors[ERR__MAX] = {
	[ERR_NOT_FOUND] = { 404, "not_found", "No such endpoint." },
	[ERR_CHAPTER_NOT_FOUND] = { 404, "not_found",
	    "The chapter does not exist or is not yours." },
	[ERR_RECORD_NOT_FOUND] = { 404, "not_found",
	    "No image has been requested for this scene." },
	[ERR_METHOD_NOT_ALLOWED] = { 405, "method_not_allowed",
	    "This method is not allowed on this resource." },
	[ERR_INVALID_JSON] = { 400, "invalid_json",
	    "The request body must be a JSON object." },
	[ERR_BODY_REQUIRED] = { 400, "invalid_json",
	    "A JSON request body is required." },
	[ERR_BODY_INCOMPLETE] = { 400, "invalid_json",
	    "The request body is shorter than its Content-Length." },
	[ERR_INVALID_FIELD] = { 400, "invalid_field",
	    "A field of the request is invalid." },
	[ERR_UNAUTHORIZED] = { 401, "unauthorized",
	    "Could not validate credentials." },
	[ERR_PAYLOAD_TOO_LARGE] = { 413, "payload_too_large",
	    "The request body is larger than " NUM_TEXT(BODY_MAX_KIB) " KiB." },
	[ERR_UNSUPPORTED_MEDIA_TYPE] = { 415, "unsupported_media_type",
	    "The request body must be application/json." },
	[ERR_RATE_LIMITED] = { 429, "rate_limited",
	    "Too many requests; try again later." },
	[ERR_UNAVAILABLE] = { 503, "unavailable",
	    "The service is temporarily unavailable; try again shortly." },
	[ERR_INTERNAL] = { 500, "internal_error",
	    "An internal error occurred." },
};

/* The reason phrase for a status line. */
static const char *
reply_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 202:
		return "Accepted";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 429:
		return "Too Many Requests";
	case 503:
		return "Service Unavailable";
	default:
		return "Internal Server Error";
	}
}

/* Write the CGI header block and the body (not for HEAD). */
static void
reply_write(struct request *req, int status, const char *cache,
    const char *headers, const char *body, size_t len)
{
	struct buf h;

	buf_init(&h, HEADERS_MAX);
	if (buf_printf(&h, "Status: %d %s\r\n", status, reply_reason(status)) ==
		-1 ||
	    (body != NULL &&
		buf_printf(&h,
		    "Content-Type: application/json;"
		    " charset=utf-8\r\nContent-Length: %zu\r\n",
		    len) == -1) ||
	    buf_printf(&h,
		"Cache-Control: %s\r\n"
		"X-Content-Type-Options: nosniff\r\n%s%s\r\n",
		cache, headers != NULL ? headers : "",
		req->limit_headers) == -1) {
		/* Out of memory: the shortest answer that is still true. */
		buf_free(&h);
		FCGX_PutS("Status: 500 Internal Server Error\r\n\r\n",
		    req->fcgx->out);
		req->status = 500;
		return;
	}
	FCGX_PutStr(h.data, (int)h.len, req->fcgx->out);
	if (body != NULL && !req->route.head)
		FCGX_PutStr(body, (int)len, req->fcgx->out);
	buf_free(&h);
	req->status = status;
}

/*
 * Send body (a JSON document) with status. headers are extra header
 * lines, each ending in CRLF, or NULL; cache is the Cache-Control value.
 */
void
reply_json(struct request *req, int status, const char *cache,
    const char *headers, const struct buf *body)
{
	reply_write(req, status, cache, headers,
	    body->data != NULL ? body->data : "", body->len);
}

/* 304: the ETag again and no body (RFC 9110 section 15.4.5). */
void
reply_not_modified(struct request *req, const char *etag)
{
	char h[128];

	snprintf(h, sizeof(h), "ETag: %s\r\n", etag);
	reply_write(req, 304, "no-cache", h, NULL, 0);
}

/* Send error e with detail, adding the headers its status needs. */
static void
reply_error_detail(struct request *req, enum api_error e, const char *detail)
{
	struct json_out j;
	char		h[256];
	int		status = errors[e].status;

	h[0] = '\0';
	if (status == 401)
		snprintf(h, sizeof(h),
		    "WWW-Authenticate: Bearer "
		    "realm=\"scenegen\"%s\r\n",
		    req->token_given ? ", error=\"invalid_token\"" : "");
	else if (status == 405 && req->route.allow[0] != '\0')
		snprintf(h, sizeof(h), "Allow: %s\r\n", req->route.allow);
	else if (status == 429 || status == 503)
		snprintf(h, sizeof(h), "Retry-After: %ld\r\n",
		    req->retry_after > 0 ? req->retry_after : 5);

	json_open(&j);
	json_string(&j, "detail", detail);
	json_string(&j, "code", errors[e].code);
	if (json_close(&j) == -1) {
		json_free(&j);
		reply_write(req, 500, "no-store", NULL, NULL, 0);
		return;
	}
	reply_write(req, status, "no-store", h, j.b.data, j.b.len);
	json_free(&j);
}

void
reply_error(struct request *req, enum api_error e)
{
	reply_error_detail(req, e, errors[e].detail);
}

/* 400 invalid_field with a sentence naming field and what is wrong. */
void
reply_field_error(struct request *req, const char *field, const char *reason)
{
	char detail[256];

	snprintf(detail, sizeof(detail), "Invalid field %s: %s.", field,
	    reason);
	reply_error_detail(req, ERR_INVALID_FIELD, detail);
}
