/*
 * The route table: one row per page with its path shape, the methods it
 * answers, who may use it and its handler; route_match() reads it to
 * turn method and raw path into a page, with the path parameters
 * checked. Runs before authentication, so it trusts nothing: the path is
 * the raw REQUEST_URI (nginx has not decoded it), and anything odd in it
 * (an escape, "..", "//", control or non-ASCII bytes) is simply not a
 * route.
 *
 * A new page is a new enum page value and a row here; a new kind of
 * path parameter is an enum param value and a row of param_rules. The
 * query string is not part of a route: query.c reads it for the rows
 * that take one.
 */
#include <string.h>

#include "extern.h"

#define PATH_MAX_LEN 512 /* longer paths are not ours */
#define CAPTURES_MAX 4	 /* "{param}" segments in one shape */

#define M_GET_HEAD   (METHOD_BIT(METHOD_GET) | METHOD_BIT(METHOD_HEAD))
#define M_POST	     METHOD_BIT(METHOD_POST)

const struct page_route page_routes[PAGE__MAX] = {
	[PAGE_SCENE_CREATE] = { "scene_create",
	    "/api/v1/chapters/{chapter_id}/images/scenes/{scene_number}",
	    M_POST, ACCESS_TOKEN, page_scene_create },
	[PAGE_SCENE_STATUS] = { "scene_status",
	    "/api/v1/chapters/{chapter_id}/images/scenes/{scene_number}"
	    "/status",
	    M_GET_HEAD, ACCESS_TOKEN, page_scene_status },
	[PAGE_HEALTHZ] = { "healthz", "/healthz", M_GET_HEAD, ACCESS_PUBLIC,
	    page_healthz },
	[PAGE_RECORD_STATUS] = { "record_status", "/api/v1/records/{record_id}",
	    M_GET_HEAD, ACCESS_TOKEN, page_record_status, QUERY_CHECKED },
	[PAGE_SCENE_LIST] = { "scene_list",
	    "/api/v1/chapters/{chapter_id}/images/scenes", M_GET_HEAD,
	    ACCESS_TOKEN, page_scene_list,
	    QUERY_CHECKED | QUERY_BIT(QPARAM_STATUS) | QUERY_BIT(QPARAM_LIMIT) |
		QUERY_BIT(QPARAM_CURSOR) },
	[PAGE_RECORD_CANCEL] = { "record_cancel",
	    "/api/v1/records/{record_id}/cancel", M_POST, ACCESS_TOKEN,
	    page_record_cancel, QUERY_CHECKED },
	[PAGE_RECORD_EVENTS] = { "record_events",
	    "/api/v1/records/{record_id}/events", METHOD_BIT(METHOD_GET),
	    ACCESS_SIGNED, page_record_events,
	    QUERY_CHECKED | QUERY_BIT(QPARAM_EXPIRES) |
		QUERY_BIT(QPARAM_SIGNATURE) },
	[PAGE_WEBHOOK_SECRET] = { "webhook_secret", "/api/v1/webhooks/secret",
	    M_GET_HEAD, ACCESS_TOKEN, page_webhook_secret, QUERY_CHECKED },
	/*
	 * The dashboard: its own session, never a bearer token; each
	 * page parses its form or query string (admin_form.c), so the
	 * query rule is 0 here.
	 */
	[PAGE_ADMIN_LOGIN] = { "admin_login", "/admin/login",
	    M_GET_HEAD | M_POST, ACCESS_PUBLIC, page_admin_login },
	[PAGE_ADMIN_LOGOUT] = { "admin_logout", "/admin/logout", M_POST,
	    ACCESS_ADMIN, page_admin_logout },
	[PAGE_ADMIN_HOME] = { "admin_home", "/admin/", M_GET_HEAD, ACCESS_ADMIN,
	    page_admin_home },
	[PAGE_ADMIN_RECORDS] = { "admin_records", "/admin/records", M_GET_HEAD,
	    ACCESS_ADMIN, page_admin_records },
	[PAGE_ADMIN_RECORD] = { "admin_record", "/admin/records/{record_id}",
	    M_GET_HEAD, ACCESS_ADMIN, page_admin_record },
	[PAGE_ADMIN_ACT] = { "admin_act", "/admin/records/{record_id}/act",
	    M_POST, ACCESS_ADMIN_ACT, page_admin_act },
	[PAGE_ADMIN_BULK] = { "admin_bulk", "/admin/bulk",
	    METHOD_BIT(METHOD_GET) | M_POST, ACCESS_ADMIN_ACT,
	    page_admin_bulk },
	[PAGE_ADMIN_AUDIT] = { "admin_audit", "/admin/audit", M_GET_HEAD,
	    ACCESS_ADMIN, page_admin_audit },
};

const struct param_rule param_rules[PARAM__MAX] = {
	[PARAM_CHAPTER_ID] = { "chapter_id", PARAM_UUID, 0, 0,
	    "must be a UUID" },
	[PARAM_SCENE_NUMBER] = { "scene_number", PARAM_INT, SCENE_MIN,
	    SCENE_MAX,
	    "must be an integer from " NUM_TEXT(SCENE_MIN) " to " NUM_TEXT(
		SCENE_MAX) },
	[PARAM_RECORD_ID] = { "record_id", PARAM_UUID, 0, 0, "must be a UUID" },
};

const char *const method_names[METHOD__MAX] = {
	"GET",	  /* METHOD_GET */
	"HEAD",	  /* METHOD_HEAD */
	"POST",	  /* METHOD_POST */
	"PUT",	  /* METHOD_PUT */
	"PATCH",  /* METHOD_PATCH */
	"DELETE", /* METHOD_DELETE */
};

/* A "{param}" segment of the path, not yet checked. */
struct capture {
	enum param  param;
	const char *s;
	size_t	    len;
};

/* 1 if path (len bytes) has nothing we refuse to route. */
static int
route_path_clean(const char *path, size_t len)
{
	size_t i;

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

/* The method named exactly (RFC 9110: case matters), or METHOD__MAX. */
static enum method
route_method(const char *name)
{
	enum method m;

	for (m = 0; m < METHOD__MAX; m++)
		if (strcmp(name, method_names[m]) == 0)
			break;
	return m;
}

/* The parameter called name (len bytes), or PARAM__MAX. */
static enum param
route_param(const char *name, size_t len)
{
	enum param p;

	for (p = 0; p < PARAM__MAX; p++)
		if (strlen(param_rules[p].name) == len &&
		    memcmp(param_rules[p].name, name, len) == 0)
			break;
	return p;
}

/*
 * 1 if path (len bytes) has the shape of shape: the literal parts equal,
 * each "{param}" one non-empty segment. The segments go to caps in the
 * order of the shape, their number to *ncaps.
 */
static int
route_shape_match(const char *shape, const char *path, size_t len,
    struct capture caps[CAPTURES_MAX], size_t *ncaps)
{
	const char *p = shape, *close;
	size_t	    i = 0, start;
	enum param  param;

	*ncaps = 0;
	while (*p != '\0') {
		if (*p != '{') {
			if (i == len || path[i] != *p)
				return 0;
			p++;
			i++;
			continue;
		}
		close = strchr(p, '}');
		if (close == NULL || *ncaps == CAPTURES_MAX)
			return 0;
		param = route_param(p + 1, (size_t)(close - p - 1));
		if (param == PARAM__MAX)
			return 0;
		start = i;
		while (i < len && path[i] != '/')
			i++;
		if (i == start)
			return 0;
		caps[*ncaps].param = param;
		caps[*ncaps].s = path + start;
		caps[*ncaps].len = i - start;
		(*ncaps)++;
		p = close + 1;
	}
	return i == len;
}

/* The Allow: value for the methods in mask ("GET, HEAD"); -1 if cut. */
static int
route_allow(unsigned int mask, char *out, size_t size)
{
	enum method m;
	size_t	    used = 0, n;

	out[0] = '\0';
	for (m = 0; m < METHOD__MAX; m++) {
		if (!(mask & METHOD_BIT(m)))
			continue;
		n = strlen(method_names[m]) + (used > 0 ? 2 : 0);
		if (used + n >= size)
			return -1; /* route_table_check() refuses it */
		if (used > 0) {
			memcpy(out + used, ", ", 2);
			used += 2;
		}
		memcpy(out + used, method_names[m], strlen(method_names[m]));
		used += strlen(method_names[m]);
		out[used] = '\0';
	}
	return 0;
}

/*
 * Check the segment c against its rule and store it in r (a UUID in
 * lower case, an integer as a long). -1 if it does not pass.
 */
static int
route_param_parse(const struct capture *c, struct route *r)
{
	const struct param_rule *rule = &param_rules[c->param];
	size_t			 i, digits;
	long			 v = 0, m;

	switch (rule->kind) {
	case PARAM_UUID:
		if (!uuid_is_valid_n(c->s, c->len))
			return -1;
		for (i = 0; i < UUID_STR_LEN; i++) {
			char ch = c->s[i];

			r->uuid[c->param][i] = (ch >= 'A' && ch <= 'F') ?
			    (char)(ch - 'A' + 'a') :
			    ch;
		}
		r->uuid[c->param][UUID_STR_LEN] = '\0';
		return 0;
	case PARAM_INT:
		/* No more digits than max has: "00001" is 1, "000001" no. */
		for (digits = 1, m = rule->max; m >= 10; m /= 10)
			digits++;
		if (c->len == 0 || c->len > digits)
			return -1;
		for (i = 0; i < c->len; i++) {
			if (c->s[i] < '0' || c->s[i] > '9')
				return -1;
			if (v > (rule->max - (c->s[i] - '0')) / 10)
				return -1;
			v = v * 10 + (c->s[i] - '0');
		}
		if (v < rule->min || v > rule->max)
			return -1;
		r->number[c->param] = v;
		return 0;
	default:
		return -1;
	}
}

/*
 * Match method and uri (query string ignored) against the table. The
 * first row whose shape fits and that allows the method wins. When rows
 * fit but none allows the method: ROUTE_METHOD, r->allow listing what
 * they all allow. On ROUTE_OK the parameters are filled in and valid;
 * they are checked only once the method is right (ROUTE_BAD_PARAM, r->bad
 * the first that fails, in the order of the shape).
 */
enum route_result
route_match(const char *method, const char *uri, struct route *r)
{
	struct capture caps[CAPTURES_MAX];
	size_t	       len, ncaps = 0, i;
	unsigned int   allowed = 0;
	enum method    m;
	enum page      p, fit = PAGE__MAX;

	memset(r, 0, sizeof(*r));
	r->page = PAGE__MAX;
	if (method == NULL || uri == NULL)
		return ROUTE_NOT_FOUND;
	len = strcspn(uri, "?");
	if (!route_path_clean(uri, len))
		return ROUTE_NOT_FOUND;
	m = route_method(method);

	for (p = 0; p < PAGE__MAX; p++) {
		if (!route_shape_match(page_routes[p].shape, uri, len, caps,
			&ncaps))
			continue;
		if (fit == PAGE__MAX)
			fit = p;
		allowed |= page_routes[p].methods;
		if (m < METHOD__MAX && (page_routes[p].methods & METHOD_BIT(m)))
			break;
	}
	if (fit == PAGE__MAX)
		return ROUTE_NOT_FOUND;
	if (p == PAGE__MAX) {
		r->page = fit;
		(void)route_allow(allowed, r->allow, sizeof(r->allow));
		return ROUTE_METHOD;
	}

	r->page = p;
	for (i = 0; i < ncaps; i++) {
		if (route_param_parse(&caps[i], r) == -1) {
			r->bad = caps[i].param;
			return ROUTE_BAD_PARAM;
		}
	}
	r->head = m == METHOD_HEAD;
	return ROUTE_OK;
}

/*
 * Check the table itself: every row named, with a handler, methods and
 * an access rule; its shape a clean path whose "{param}" are whole
 * segments naming known parameters, each at most once. NULL when all is
 * well, else the name (or shape) of the first bad row.
 */
const char *
route_table_check(void)
{
	const struct page_route *row;
	const char		*s, *close;
	char			 allow[ALLOW_MAX];
	unsigned int		 seen;
	size_t			 ncaps;
	enum param		 param;
	enum page		 p;

	for (p = 0; p < PAGE__MAX; p++) {
		row = &page_routes[p];
		if (row->name == NULL || row->shape == NULL)
			return "(a row without a name or shape)";
		if (row->handler == NULL || row->access >= ACCESS__MAX ||
		    row->methods == 0 ||
		    (row->methods & ~(METHOD_BIT(METHOD__MAX) - 1)) != 0)
			return row->name;
		if (row->query != 0 &&
		    (!(row->query & QUERY_CHECKED) ||
			row->query > (QUERY_CHECKED << 1) - 1))
			return row->name;
		if (route_allow(row->methods, allow, sizeof(allow)) == -1)
			return row->name;
		if (!route_path_clean(row->shape, strlen(row->shape)))
			return row->name;
		seen = 0;
		ncaps = 0;
		for (s = row->shape; *s != '\0'; s++) {
			if (*s == '}')
				return row->name;
			if (*s != '{')
				continue;
			close = strchr(s, '}');
			ncaps++;
			if (close == NULL || s[-1] != '/' ||
			    (close[1] != '/' && close[1] != '\0') ||
			    ncaps > CAPTURES_MAX)
				return row->name;
			param = route_param(s + 1, (size_t)(close - s - 1));
			if (param == PARAM__MAX || (seen & (1u << param)))
				return row->name;
			seen |= 1u << param;
			s = close;
		}
	}
	for (param = 0; param < PARAM__MAX; param++)
		if (param_rules[param].name == NULL ||
		    param_rules[param].reason == NULL ||
		    param_rules[param].kind >= PARAM_KIND__MAX ||
		    (param_rules[param].kind == PARAM_INT &&
			(param_rules[param].min < 0 ||
			    param_rules[param].max < param_rules[param].min)))
			return "(a bad row of param_rules)";
	return NULL;
}
