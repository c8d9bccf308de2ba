/*
 * Every answer the API writes. Errors come from one table of
 * {HTTP status, machine code, sentence}, so the status, "code" and
 * "detail" of an error can never drift apart. The headers an error
 * needs (WWW-Authenticate, Allow, Retry-After) are added here too.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

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
	[ERR_RECORD_UNKNOWN] = { 404, "not_found",
	    "The record does not exist or is not yours." },
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
	[ERR_ALREADY_FINAL] = { 409, "already_final",
	    "The record is already final." },
	[ERR_NOT_ACCEPTABLE] = { 406, "not_acceptable",
	    "This resource is a text/event-stream; send Accept: "
	    "text/event-stream." },
	[ERR_EVENTS_OFF] = { 503, "unavailable",
	    "Live status is not configured." },
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
	case 204:
		return "No Content";
	case 303:
		return "See Other";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 406:
		return "Not Acceptable";
	case 409:
		return "Conflict";
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

/*
 * Write the CGI header block and the body (not for HEAD) of type (NULL:
 * JSON).
 */
static void
reply_write_type(struct request *req, int status, const char *type,
    const char *cache, const char *headers, const char *body, size_t len)
{
	struct buf h;

	buf_init(&h, HEADERS_MAX);
	if (buf_printf(&h, "Status: %d %s\r\n", status, reply_reason(status)) ==
		-1 ||
	    (body != NULL &&
		buf_printf(&h, "Content-Type: %s\r\nContent-Length: %zu\r\n",
		    type != NULL ? type : "application/json; charset=utf-8",
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

/* reply_write_type() of a JSON body. */
static void
reply_write(struct request *req, int status, const char *cache,
    const char *headers, const char *body, size_t len)
{
	reply_write_type(req, status, NULL, cache, headers, body, len);
}

/*
 * Send body (len bytes; NULL: none) of media type type with status; as
 * reply_json() otherwise. For the answers that are not JSON.
 */
void
reply_typed(struct request *req, int status, const char *type,
    const char *cache, const char *headers, const char *body, size_t len)
{
	reply_write_type(req, status, type, cache, headers, body, len);
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

/* A strong ETag for body: the first 16 bytes of its SHA-256, quoted. */
static int
etag_of(const struct buf *body, char out[35])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char	  md[EVP_MAX_MD_SIZE];
	unsigned int	  len = 0, i;

	if (EVP_Digest(body->data, body->len, md, &len, EVP_sha256(), NULL) !=
		1 ||
	    len < 16)
		return -1;
	out[0] = '"';
	for (i = 0; i < 16; i++) {
		out[1 + 2 * i] = hex[md[i] >> 4];
		out[2 + 2 * i] = hex[md[i] & 0xf];
	}
	out[33] = '"';
	out[34] = '\0';
	return 0;
}

/*
 * 1 if If-None-Match (a list of entity tags, or "*") matches etag, by
 * the weak comparison RFC 9110 section 13.1.2 asks for.
 */
static int
etag_matches(const char *inm, const char *etag)
{
	const char *p = inm, *end;
	size_t	    elen = strlen(etag);

	if (inm == NULL)
		return 0;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		if (*p == '*')
			return 1;
		if (p[0] == 'W' && p[1] == '/')
			p += 2;
		if (*p != '"')
			return 0;
		end = strchr(p + 1, '"');
		if (end == NULL)
			return 0;
		if ((size_t)(end + 1 - p) == elen && memcmp(p, etag, elen) == 0)
			return 1;
		p = end + 1;
	}
	return 0;
}

/*
 * Close j and answer it: 200 with its ETag, or 304 when the request's
 * If-None-Match names that ETag (500 if j failed). j stays the
 * caller's to free.
 */
void
reply_json_etag(struct request *req, struct json_out *j)
{
	char etag[35], h[128];

	if (json_close(j) == -1 || etag_of(&j->b, etag) == -1) {
		log_err("out of memory writing an answer");
		reply_error(req, ERR_INTERNAL);
		return;
	}
	if (etag_matches(request_param(req, "HTTP_IF_NONE_MATCH"), etag)) {
		reply_not_modified(req, etag);
		return;
	}
	snprintf(h, sizeof(h), "ETag: %s\r\n", etag);
	reply_json(req, 200, "no-cache", h, &j->b);
}

/* Answer a failed database call: 503 when unreachable, else 500. */
void
reply_db_failure(struct request *req, enum db_result rc)
{
	reply_error(req, rc == DB_UNAVAILABLE ? ERR_UNAVAILABLE : ERR_INTERNAL);
}

/* Send error e with detail, adding the headers its status needs. */
void
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
