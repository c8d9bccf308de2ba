/*
 * The route table: method and raw path to a page, with the path
 * parameters checked. Runs before authentication, so it trusts nothing:
 * the path is the raw REQUEST_URI (nginx has not decoded it), and
 * anything odd in it (an escape, "..", "//", control or non-ASCII bytes)
 * is simply not a route.
 */
#include <string.h>

#include "extern.h"

#define PATH_MAX_LEN	512	/* longer paths are not ours */
#define SCENE_MAX	10000
#define SCENE_DIGITS	5

const char *const page_names[PAGE__MAX] = {
	"scene_create",		/* PAGE_SCENE_CREATE */
	"scene_status",		/* PAGE_SCENE_STATUS */
	"healthz",		/* PAGE_HEALTHZ */
};

/* The methods each page answers, in Allow: syntax. */
static const char *const page_allow[PAGE__MAX] = {
	"POST",			/* PAGE_SCENE_CREATE */
	"GET, HEAD",		/* PAGE_SCENE_STATUS */
	"GET, HEAD",		/* PAGE_HEALTHZ */
};

#define PREFIX		"/api/v1/chapters/"
#define MIDDLE		"/images/scenes/"
#define SUFFIX		"/status"

/* 1 if path (len bytes) has nothing we refuse to route. */
static int
route_path_clean(const char *path, size_t len)
{
	size_t	 i;

	if (len == 0 || len > PATH_MAX_LEN || path[0] != '/')
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)path[i];

		if (c < 0x21 || c > 0x7e || c == '%' || c == '\\')
			return 0;
		if (c == '/' && i + 1 < len && path[i + 1] == '/')
			return 0;
		if (c == '.' && i + 1 < len && path[i + 1] == '.')
			return 0;
	}
	return 1;
}

/* Parse the scene number: 1..5 digits, value 1..SCENE_MAX. */
static int
route_scene_number(const char *s, size_t len, long *out)
{
	size_t	 i;
	long	 v = 0;

	if (len == 0 || len > SCENE_DIGITS)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > SCENE_MAX)
		return -1;
	*out = v;
	return 0;
}

/* 1 if method is allowed on page; HEAD goes with GET. */
static int
route_method_allowed(enum page page, const char *method)
{
	if (page == PAGE_SCENE_CREATE)
		return strcmp(method, "POST") == 0;
	return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/*
 * Match method and uri (query string ignored). On ROUTE_METHOD r->allow
 * says what is allowed; on ROUTE_OK the parameters are filled in and
 * valid. Parameters are checked only once the method is right.
 */
enum route_result
route_match(const char *method, const char *uri, struct route *r)
{
	const char	*path, *q, *chapter, *scene, *rest;
	size_t		 len, chapter_len, scene_len, i;

	memset(r, 0, sizeof(*r));
	if (method == NULL || uri == NULL)
		return ROUTE_NOT_FOUND;
	path = uri;
	q = strchr(uri, '?');
	len = q != NULL ? (size_t)(q - uri) : strlen(uri);
	if (!route_path_clean(path, len))
		return ROUTE_NOT_FOUND;

	if (len == strlen("/healthz") && memcmp(path, "/healthz", len) == 0)
		r->page = PAGE_HEALTHZ;
	else {
		if (len <= strlen(PREFIX) ||
		    memcmp(path, PREFIX, strlen(PREFIX)) != 0)
			return ROUTE_NOT_FOUND;
		chapter = path + strlen(PREFIX);
		rest = memchr(chapter, '/', len - (chapter - path));
		if (rest == NULL)
			return ROUTE_NOT_FOUND;
		chapter_len = rest - chapter;
		if ((size_t)(path + len - rest) <= strlen(MIDDLE) ||
		    memcmp(rest, MIDDLE, strlen(MIDDLE)) != 0)
			return ROUTE_NOT_FOUND;
		scene = rest + strlen(MIDDLE);
		rest = memchr(scene, '/', len - (scene - path));
		if (rest == NULL) {
			scene_len = len - (scene - path);
			r->page = PAGE_SCENE_CREATE;
		} else {
			scene_len = rest - scene;
			if ((size_t)(path + len - rest) != strlen(SUFFIX) ||
			    memcmp(rest, SUFFIX, strlen(SUFFIX)) != 0)
				return ROUTE_NOT_FOUND;
			r->page = PAGE_SCENE_STATUS;
		}
		if (chapter_len == 0 || scene_len == 0)
			return ROUTE_NOT_FOUND;
		if (!route_method_allowed(r->page, method)) {
			r->allow = page_allow[r->page];
			return ROUTE_METHOD;
		}
		if (!uuid_is_valid_n(chapter, chapter_len))
			return ROUTE_BAD_CHAPTER;
		for (i = 0; i < UUID_STR_LEN; i++) {
			char c = chapter[i];

			r->chapter_id[i] = (c >= 'A' && c <= 'F') ?
			    (char)(c - 'A' + 'a') : c;
		}
		r->chapter_id[UUID_STR_LEN] = '\0';
		if (route_scene_number(scene, scene_len,
		    &r->scene_number) == -1)
			return ROUTE_BAD_SCENE;
	}
	if (!route_method_allowed(r->page, method)) {
		r->allow = page_allow[r->page];
		return ROUTE_METHOD;
	}
	r->head = strcmp(method, "HEAD") == 0;
	return ROUTE_OK;
}
