/*
 * fuzz_provider: daemon/provider.c provider_parse(), which turns what
 * ModelsLab (or anything pretending to be it) answered into a provider
 * answer and a classification; and provider_create_body(), which puts a
 * client's description and style into the request.
 *
 * The answer arrives as curl hands it to daemon/http.c: header lines to
 * its header callback (which reads Retry-After), the body in chunks to
 * its write callback (which caps it); both are static, so this file
 * includes daemon/http.c.
 *
 * Input: two bytes, then the answer.
 *  byte 0  the HTTP status: an index into a list of interesting codes,
 *          or (0xe0 and above) a raw 0..65535 code from the next two
 *          bytes;
 *  byte 1  bit 0 fetch (else create), bit 1 a 64-byte body cap (else
 *          run.c's 1 MiB), bits 2-3 a transport error, bit 4 header
 *          lines come first, up to an empty line ("\n\n"),
 *          bit 7 the create-body mode: the rest is description NUL style.
 * Oracles: the kind is one of the five; every string kept is within its
 * array, clean text (valid UTF-8, no control characters); an id is only
 * [A-Za-z0-9._-]; URLs are http(s) without white space; numbers are -1
 * or finite and in range; success has a URL; a created body is JSON
 * whose prompt starts with the description.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../daemon/http.c"

#include "buf.h"
#include "provider.h"
#include "settings.h"
#include "fuzz.h"

#define JSON_MAX (1024 * 1024) /* run.c's cap of a provider answer */

static const long codes[] = {
	200,
	200,
	200,
	200,
	201,
	204,
	299,
	0,
	100,
	199,
	300,
	301,
	304,
	400,
	401,
	402,
	403,
	404,
	405,
	408,
	409,
	413,
	422,
	425,
	429,
	451,
	500,
	501,
	502,
	503,
	504,
	520,
	599,
	600,
	999,
	-1,
};

static const CURLcode transport[] = {
	CURLE_OK,
	CURLE_OPERATION_TIMEDOUT,
	CURLE_COULDNT_CONNECT,
	CURLE_RECV_ERROR,
};

static struct settings cfg;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	cfg.api_key = "fuzz-key";
	cfg.base_url = "https://modelslab.com/api";
	cfg.model_id = "gen4_image";
	cfg.http_timeout = 30;
	cfg.connect_timeout = 10;
	return 0;
}

/* A kept string: NUL within cap, clean text. */
static void
check_text(const char *s, size_t cap)
{
	size_t len = strnlen(s, cap);

	FUZZ_CHECK(len < cap);
	FUZZ_CHECK(fuzz_utf8_ok(s, len));
	FUZZ_CHECK(fuzz_no_c0(s));
}

static void
check_url(const char *s)
{
	size_t len = strnlen(s, PROVIDER_URL_MAX), i;

	FUZZ_CHECK(len < PROVIDER_URL_MAX);
	if (len == 0)
		return;
	FUZZ_CHECK(
	    strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0);
	for (i = 0; i < len; i++)
		FUZZ_CHECK((unsigned char)s[i] > 0x20 && s[i] != 0x7f);
}

static void
check_seconds(double d, double max)
{
	FUZZ_CHECK(d == -1 || (isfinite(d) && d >= 0 && d <= max));
}

static void
check_answer(const struct provider_answer *a, long code, int is_fetch,
    CURLcode tc)
{
	size_t i, len;

	FUZZ_CHECK(a->kind < PROVIDER_KIND__MAX);
	FUZZ_CHECK(a->http_status == code);
	check_text(a->message, sizeof(a->message));
	FUZZ_CHECK(a->message[0] != '\0' || a->kind == PROVIDER_SUCCESS ||
	    a->kind == PROVIDER_PROCESSING);
	check_text(a->model, sizeof(a->model));
	len = strnlen(a->id, sizeof(a->id));
	FUZZ_CHECK(len < sizeof(a->id));
	for (i = 0; i < len; i++)
		FUZZ_CHECK((a->id[i] >= 'A' && a->id[i] <= 'Z') ||
		    (a->id[i] >= 'a' && a->id[i] <= 'z') ||
		    (a->id[i] >= '0' && a->id[i] <= '9') || a->id[i] == '.' ||
		    a->id[i] == '_' || a->id[i] == '-');
	/* fetch/<id> must stay one path segment. */
	FUZZ_CHECK(strcmp(a->id, ".") != 0 && strcmp(a->id, "..") != 0);
	check_url(a->output_url);
	check_url(a->proxy_url);
	check_seconds(a->eta, 86400 * 7);
	check_seconds(a->generation_time, 86400 * 7);
	check_seconds(a->retry_after, 86400 * 7);
	if (a->kind == PROVIDER_SUCCESS)
		FUZZ_CHECK(a->output_url[0] != '\0' || a->proxy_url[0] != '\0');
	if (a->kind == PROVIDER_PROCESSING)
		FUZZ_CHECK(a->id[0] != '\0' || is_fetch);
	if (a->request_dead)
		FUZZ_CHECK(a->kind == PROVIDER_GEN_FAILED ||
		    a->kind == PROVIDER_RETRY);
	/* No answer read: only a retry makes sense. */
	if (tc != CURLE_OK)
		FUZZ_CHECK(a->kind == PROVIDER_RETRY);
	/* A 2xx is judged by the JSON; anything else never succeeds. */
	if (code < 200 || code > 299)
		FUZZ_CHECK(a->kind != PROVIDER_SUCCESS &&
		    a->kind != PROVIDER_PROCESSING);
}

/* Build a create body from description NUL style; check its prompt. */
static void
create_body(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	const cJSON   *p;
	cJSON	      *o;
	char	      *desc, *style = NULL, *body;

	desc = fuzz_cstr(data, size);
	if (nul != NULL)
		style = fuzz_cstr(nul + 1, size - (size_t)(nul + 1 - data));
	body = provider_create_body(&cfg,
	    "00000000-0000-4000-8000-000000000000", desc, style, "16:9");
	FUZZ_CHECK(body != NULL);
	o = cJSON_Parse(body);
	FUZZ_CHECK(o != NULL);
	p = cJSON_GetObjectItemCaseSensitive(o, "prompt");
	FUZZ_CHECK(cJSON_IsString(p));
	FUZZ_CHECK(strncmp(p->valuestring, desc, strlen(desc)) == 0);
	cJSON_Delete(o);
	free(body);
	free(desc);
	free(style);
}

/*
 * Deliver body (and header lines) the way curl does, through http.c's
 * own callbacks, and build the http_result as http_check_done() does.
 */
static void
transfer(struct http_req *req, struct http_result *res, CURLcode code,
    const uint8_t *head, size_t hlen, const uint8_t *body, size_t blen)
{
	const uint8_t *nl;
	size_t	       n, chunk;
	char	      *line;

	while (hlen > 0) {
		nl = memchr(head, '\n', hlen);
		n = nl != NULL ? (size_t)(nl - head) + 1 : hlen;
		/* Header data is not NUL-terminated: a buffer of n bytes. */
		line = fuzz_bytes(head, n);
		http_header_cb(line, 1, n, req);
		free(line);
		head += n;
		hlen -= n;
	}
	while (code == CURLE_OK && blen > 0) {
		chunk = blen < 4096 ? blen : 4096;
		line = fuzz_bytes(body, chunk);
		if (http_write_cb(line, 1, chunk, req) != chunk)
			code = CURLE_WRITE_ERROR;
		free(line);
		body += chunk;
		blen -= chunk;
	}
	memset(res, 0, sizeof(*res));
	res->code = code;
	res->error = req->errbuf != NULL && req->errbuf[0] != '\0' ?
	    req->errbuf :
	    curl_easy_strerror(code);
	res->body = &req->body;
	res->too_large = req->too_large;
	res->retry_after = req->retry_after;
	if (req->body.data == NULL && buf_append(&req->body, "", 0) == -1)
		res->too_large = 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct provider_answer *a;
	struct http_result	r;
	struct http_req		req;
	const uint8_t	       *head = NULL, *body, *p;
	size_t			hlen = 0, blen;
	long			code;
	int			is_fetch, flags;

	if (size < 2)
		return 0;
	flags = data[1];
	if (flags & 0x80) {
		create_body(data + 2, size - 2);
		return 0;
	}
	if (data[0] >= 0xe0 && size >= 4) {
		code = (long)data[2] << 8 | data[3];
		body = data + 4;
		blen = size - 4;
	} else {
		code = codes[data[0] % (sizeof(codes) / sizeof(codes[0]))];
		body = data + 2;
		blen = size - 2;
	}
	is_fetch = flags & 1;
	/* Header lines first, up to an empty line. */
	if (flags & 0x10) {
		head = body;
		for (p = body; p < body + blen; p++)
			if (*p == '\n' && p + 1 < body + blen && p[1] == '\n')
				break;
		hlen = p < body + blen ? (size_t)(p - body) + 1 : blen;
		body += p < body + blen ? hlen + 1 : hlen;
		blen = size - (size_t)(body - data);
	}

	memset(&req, 0, sizeof(req));
	req.retry_after = -1;
	/* The real cap, or a small one to reach "larger than the cap". */
	buf_init(&req.body, (flags & 2) ? 64 : JSON_MAX);
	transfer(&req, &r, transport[(flags >> 2) & 3], head, hlen, body, blen);
	r.status = r.code == CURLE_OK || r.too_large ? code : 0;
	if (r.retry_after != -1)
		FUZZ_CHECK(isfinite(r.retry_after) && r.retry_after >= 0 &&
		    r.retry_after < 86400);

	a = malloc(sizeof(*a));
	if (a == NULL)
		abort();
	provider_parse(&cfg, &r, is_fetch, a);
	check_answer(a, r.status, is_fetch, r.code);
	free(a);
	buf_free(&req.body);
	return 0;
}
