/*
 * One FastCGI request: its parameters and its body. The body is read
 * exactly as CONTENT_LENGTH says, never more than BODY_MAX bytes.
 */
#include <string.h>

#include "clock.h"
#include "extern.h"

#define LENGTH_DIGITS 10 /* a longer CONTENT_LENGTH is refused */

void
request_init(struct request *req, struct worker *w, FCGX_Request *f)
{
	memset(req, 0, sizeof(*req));
	req->w = w;
	req->fcgx = f;
	req->start_ms = clock_mono_ms();
	buf_init(&req->body, BODY_MAX);
	req->method = request_param(req, "REQUEST_METHOD");
	req->uri = request_param(req, "REQUEST_URI");
}

/* A FastCGI parameter, or NULL; valid until the request is finished. */
const char *
request_param(const struct request *req, const char *name)
{
	return FCGX_GetParam(name, req->fcgx->envp);
}

/*
 * How many times parameter name is set. nginx before 1.23 passes a
 * header sent twice as two parameters of one name (FCGX_GetParam() sees
 * the first); 1.23 and later join them with ", ".
 */
int
request_param_count(const struct request *req, const char *name)
{
	size_t len = strlen(name);
	char **e;
	int    n = 0;

	for (e = req->fcgx->envp; e != NULL && *e != NULL; e++)
		if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
			n++;
	return n;
}

/* Parse CONTENT_LENGTH: digits only; -1 when missing or malformed. */
static long long
request_content_length(const struct request *req)
{
	const char *s = request_param(req, "CONTENT_LENGTH");
	long long   v = 0;
	size_t	    i, len;

	if (s == NULL)
		return -1;
	len = strlen(s);
	if (len == 0 || len > LENGTH_DIGITS)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/*
 * Read the body into req->body. On failure returns -1 and sets *e:
 * ERR_BODY_REQUIRED (no or bad length, empty), ERR_PAYLOAD_TOO_LARGE,
 * ERR_BODY_INCOMPLETE (fewer bytes than announced), ERR_INTERNAL.
 */
int
request_read_body(struct request *req, enum api_error *e)
{
	char	  chunk[4096];
	long long want, got = 0;
	int	  n, ask;

	want = request_content_length(req);
	if (want <= 0) {
		*e = ERR_BODY_REQUIRED;
		return -1;
	}
	if (want > BODY_MAX) {
		*e = ERR_PAYLOAD_TOO_LARGE;
		return -1;
	}
	while (got < want) {
		ask = want - got > (long long)sizeof(chunk) ?
		    (int)sizeof(chunk) :
		    (int)(want - got);
		n = FCGX_GetStr(chunk, ask, req->fcgx->in);
		if (n <= 0)
			break;
		if (buf_append(&req->body, chunk, (size_t)n) == -1) {
			*e = ERR_INTERNAL;
			return -1;
		}
		got += n;
	}
	if (got < want) {
		*e = ERR_BODY_INCOMPLETE;
		return -1;
	}
	return 0;
}

/* Free what the request owns; the FastCGI side is libfcgi's. */
void
request_free(struct request *req)
{
	buf_free(&req->body);
}
