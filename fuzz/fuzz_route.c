/*
 * fuzz_route: cgi/route.c route_match(), the first code that sees the
 * raw REQUEST_URI and REQUEST_METHOD of every request.
 *
 * Input: one selector byte, then the URI. A selector below 0xf0 picks a
 * method from a list; 0xf0 and above take the method from the input too
 * (up to the first space), so odd methods are tried as well. Beyond "no
 * crash", the verdict is checked against the route table: an accepted
 * path really is one of the three pages with clean parameters, a 405
 * names what is allowed, and a 400 is only given to the right method.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "extern.h"
#include "fuzz.h"

#define PREFIX	"/api/v1/chapters/"
#define MIDDLE	"/images/scenes/"

static const char *const methods[] = {
	"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS",
	"get", "post", "", "POST ", "GET\t", "HEADER",
};

/* 1 if method may be used on page (HEAD goes with GET). */
static int
allowed(enum page page, const char *method)
{
	if (page == PAGE_SCENE_CREATE)
		return strcmp(method, "POST") == 0;
	return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* The path of uri (the query cut off) is clean: RFC 3986 bytes only. */
static void
check_clean(const char *path, size_t len)
{
	size_t	i;

	FUZZ_CHECK(len > 0 && path[0] == '/');
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)path[i];

		FUZZ_CHECK(c >= 0x21 && c <= 0x7e && c != '%' && c != '\\');
		if (i + 1 < len) {
			FUZZ_CHECK(!(c == '/' && path[i + 1] == '/'));
			FUZZ_CHECK(!(c == '.' && path[i + 1] == '.'));
		}
	}
}

/* A ROUTE_OK answer: rebuild the path from what was parsed. */
static void
check_ok(const char *method, const char *uri, const struct route *r)
{
	const char	*q = strchr(uri, '?'), *p, *digits;
	size_t		 len = q != NULL ? (size_t)(q - uri) : strlen(uri);
	long		 n = 0;

	check_clean(uri, len);
	FUZZ_CHECK(r->page < PAGE__MAX);
	FUZZ_CHECK(allowed(r->page, method));
	FUZZ_CHECK(r->head == (strcmp(method, "HEAD") == 0));
	FUZZ_CHECK(r->allow == NULL);
	if (r->page == PAGE_HEALTHZ) {
		FUZZ_CHECK(len == 8 && memcmp(uri, "/healthz", 8) == 0);
		return;
	}
	FUZZ_CHECK(fuzz_uuid_lower(r->chapter_id));
	FUZZ_CHECK(r->scene_number >= 1 && r->scene_number <= 10000);
	FUZZ_CHECK(len > strlen(PREFIX) + 36 + strlen(MIDDLE));
	FUZZ_CHECK(memcmp(uri, PREFIX, strlen(PREFIX)) == 0);
	p = uri + strlen(PREFIX);
	FUZZ_CHECK(strncasecmp(p, r->chapter_id, 36) == 0);
	p += 36;
	FUZZ_CHECK(memcmp(p, MIDDLE, strlen(MIDDLE)) == 0);
	p += strlen(MIDDLE);
	digits = p;
	while (p < uri + len && *p >= '0' && *p <= '9')
		n = n * 10 + (*p++ - '0');
	FUZZ_CHECK(p - digits >= 1 && p - digits <= 5);
	FUZZ_CHECK(n == r->scene_number);
	if (r->page == PAGE_SCENE_CREATE)
		FUZZ_CHECK(p == uri + len);
	else
		FUZZ_CHECK((size_t)(uri + len - p) == 7 &&
		    memcmp(p, "/status", 7) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct route		 r;
	enum route_result	 rc;
	const uint8_t		*sp;
	char			*method, *uri;

	if (size < 1)
		return 0;
	if (data[0] < 0xf0) {
		method = strdup(methods[data[0] % (sizeof(methods) /
		    sizeof(methods[0]))]);
		if (method == NULL)
			abort();
		uri = fuzz_cstr(data + 1, size - 1);
	} else {
		sp = memchr(data + 1, ' ', size - 1);
		if (sp == NULL)
			sp = data + size;
		method = fuzz_cstr(data + 1, (size_t)(sp - data - 1));
		uri = sp < data + size ? fuzz_cstr(sp + 1,
		    (size_t)(data + size - sp - 1)) : fuzz_cstr(sp, 0);
	}

	rc = route_match(method, uri, &r);
	FUZZ_CHECK(rc < ROUTE__MAX);
	switch (rc) {
	case ROUTE_OK:
		check_ok(method, uri, &r);
		break;
	case ROUTE_METHOD:
		FUZZ_CHECK(r.page < PAGE__MAX);
		FUZZ_CHECK(r.allow != NULL);
		FUZZ_CHECK(!allowed(r.page, method));
		FUZZ_CHECK(strcmp(r.allow, r.page == PAGE_SCENE_CREATE ?
		    "POST" : "GET, HEAD") == 0);
		break;
	case ROUTE_BAD_CHAPTER:
	case ROUTE_BAD_SCENE:
		/* Parameters are judged only once the method is right. */
		FUZZ_CHECK(r.page == PAGE_SCENE_CREATE ||
		    r.page == PAGE_SCENE_STATUS);
		FUZZ_CHECK(allowed(r.page, method));
		break;
	default:
		break;
	}

	/* A missing method or URI is simply not a route. */
	FUZZ_CHECK(route_match(NULL, uri, &r) == ROUTE_NOT_FOUND);
	FUZZ_CHECK(route_match(method, NULL, &r) == ROUTE_NOT_FOUND);
	free(method);
	free(uri);
	return 0;
}
