/*
 * fuzz_route: cgi/route.c route_match(), the first code that sees the
 * raw REQUEST_URI and REQUEST_METHOD of every request, and cgi/query.c
 * query_parse(), which reads its query string for each rule a row has.
 *
 * Input: one selector byte, then the URI. A selector below 0xf0 picks a
 * method from a list; 0xf0 and above take the method from the input too
 * (up to the first space), so odd methods are tried as well. Beyond "no
 * crash", the verdict is checked against the route table, read here
 * independently of the matcher: an accepted path is rebuilt from its
 * row's shape and the parsed parameters, a 405 lists exactly methods
 * the rows allow and never the one asked, and a 400 is only given to a
 * method the row allows, for a parameter its shape has.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "extern.h"
#include "fuzz.h"

/* The table names the handlers; this harness links route.c alone. */
void
page_scene_create(struct request *req)
{
	(void)req;
}

void
page_scene_status(struct request *req)
{
	(void)req;
}

void
page_healthz(struct request *req)
{
	(void)req;
}

void
page_record_status(struct request *req)
{
	(void)req;
}

void
page_scene_list(struct request *req)
{
	(void)req;
}

void
page_record_cancel(struct request *req)
{
	(void)req;
}

void
page_record_events(struct request *req)
{
	(void)req;
}

void
page_webhook_secret(struct request *req)
{
	(void)req;
}

void
page_admin_login(struct request *req)
{
	(void)req;
}

void
page_admin_logout(struct request *req)
{
	(void)req;
}

void
page_admin_home(struct request *req)
{
	(void)req;
}

void
page_admin_records(struct request *req)
{
	(void)req;
}

void
page_admin_record(struct request *req)
{
	(void)req;
}

void
page_admin_act(struct request *req)
{
	(void)req;
}

void
page_admin_bulk(struct request *req)
{
	(void)req;
}

void
page_admin_audit(struct request *req)
{
	(void)req;
}

/*
 * query_parse() under every rule of the table: a refusal names a field
 * and a reason; an acceptance keeps only parameters the rule takes,
 * with values in their bounds.
 */
static void
check_query(const char *uri)
{
	struct field_error fe;
	struct query	   q;
	enum page	   p;
	unsigned int	   rule;
	size_t		   len;

	for (p = 0; p < PAGE__MAX; p++) {
		rule = page_routes[p].query;
		memset(&fe, 0, sizeof(fe));
		if (query_parse(uri, rule, &q, &fe) == -1) {
			FUZZ_CHECK(rule != 0);
			FUZZ_CHECK(fe.field != NULL && fe.reason != NULL);
			FUZZ_CHECK(strlen(fe.field) <= 32);
			continue;
		}
		FUZZ_CHECK((q.given & ~rule) == 0);
		FUZZ_CHECK(q.statuses < (1u << RECORD__MAX));
		FUZZ_CHECK(
		    !(q.given & QUERY_BIT(QPARAM_STATUS)) || q.statuses != 0);
		FUZZ_CHECK(q.limit == 0 ||
		    (q.limit >= 1 && q.limit <= LIST_LIMIT_MAX));
		len = strlen(q.cursor);
		FUZZ_CHECK(len < sizeof(q.cursor));
		FUZZ_CHECK(
		    ((q.given & QUERY_BIT(QPARAM_CURSOR)) != 0) == (len > 0));
	}
}

static const char *const methods[] = {
	"GET",
	"HEAD",
	"POST",
	"PUT",
	"DELETE",
	"PATCH",
	"OPTIONS",
	"get",
	"post",
	"",
	"POST ",
	"GET\t",
	"HEADER",
};

/* The bit of method in a row's methods; 0 when no row can allow it. */
static unsigned int
method_bit(const char *method)
{
	int i;

	for (i = 0; i < METHOD__MAX; i++)
		if (strcmp(method, method_names[i]) == 0)
			return METHOD_BIT(i);
	return 0;
}

/* The path of uri (the query cut off) is clean: RFC 3986 bytes only. */
static void
check_clean(const char *path, size_t len)
{
	size_t i;

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

/* The parameter named by the len bytes at name; aborts if none. */
static int
param_named(const char *name, size_t len)
{
	int i;

	for (i = 0; i < PARAM__MAX; i++)
		if (strlen(param_rules[i].name) == len &&
		    memcmp(param_rules[i].name, name, len) == 0)
			return i;
	FUZZ_CHECK(!"a shape names an unknown parameter");
	return -1;
}

/* A ROUTE_OK answer: rebuild the path from its shape and parameters. */
static void
check_ok(const char *method, const char *uri, const struct route *r)
{
	const struct param_rule *rule;
	const char		*q = strchr(uri, '?'), *p, *s, *close, *start;
	size_t len = q != NULL ? (size_t)(q - uri) : strlen(uri);
	long   n, m;
	int    param, digits;

	check_clean(uri, len);
	FUZZ_CHECK(r->page < PAGE__MAX);
	FUZZ_CHECK(page_routes[r->page].methods & method_bit(method));
	FUZZ_CHECK(r->head == (strcmp(method, "HEAD") == 0));
	FUZZ_CHECK(r->allow[0] == '\0');
	FUZZ_CHECK(page_routes[r->page].handler != NULL);

	p = uri;
	for (s = page_routes[r->page].shape; *s != '\0'; s++) {
		if (*s != '{') {
			FUZZ_CHECK(p < uri + len && *p == *s);
			p++;
			continue;
		}
		close = strchr(s, '}');
		FUZZ_CHECK(close != NULL);
		param = param_named(s + 1, (size_t)(close - s - 1));
		rule = &param_rules[param];
		s = close;
		if (rule->kind == PARAM_UUID) {
			FUZZ_CHECK(fuzz_uuid_lower(r->uuid[param]));
			FUZZ_CHECK(uri + len - p >= 36);
			FUZZ_CHECK(strncasecmp(p, r->uuid[param], 36) == 0);
			p += 36;
			continue;
		}
		FUZZ_CHECK(rule->kind == PARAM_INT);
		for (digits = 1, m = rule->max; m >= 10; m /= 10)
			digits++;
		n = 0;
		start = p;
		while (p < uri + len && *p >= '0' && *p <= '9' &&
		    p - start <= digits)
			n = n * 10 + (*p++ - '0');
		FUZZ_CHECK(p - start >= 1 && p - start <= digits);
		FUZZ_CHECK(n == r->number[param]);
		FUZZ_CHECK(n >= rule->min && n <= rule->max);
	}
	FUZZ_CHECK(p == uri + len);
}

/* A ROUTE_METHOD answer: Allow lists known methods, never this one. */
static void
check_method(const char *method, const struct route *r)
{
	const char  *a = r->allow;
	unsigned int listed = 0, bit;
	size_t	     n;
	char	     name[ALLOW_MAX];

	FUZZ_CHECK(r->page < PAGE__MAX);
	FUZZ_CHECK(r->allow[0] != '\0');
	FUZZ_CHECK(!(page_routes[r->page].methods & method_bit(method)));
	while (*a != '\0') {
		n = strcspn(a, ",");
		FUZZ_CHECK(n > 0 && n < sizeof(name));
		memcpy(name, a, n);
		name[n] = '\0';
		bit = method_bit(name);
		FUZZ_CHECK(bit != 0 && !(listed & bit));
		listed |= bit;
		a += n;
		if (*a == ',') {
			FUZZ_CHECK(a[1] == ' ' && a[2] != '\0');
			a += 2;
		}
	}
	FUZZ_CHECK((listed & page_routes[r->page].methods) ==
	    page_routes[r->page].methods);
	FUZZ_CHECK(!(listed & method_bit(method)));
}

/* A ROUTE_BAD_PARAM answer: the right method, a parameter of the row. */
static void
check_bad_param(const char *method, const struct route *r)
{
	char want[64];
	int  n;

	FUZZ_CHECK(r->page < PAGE__MAX);
	FUZZ_CHECK(page_routes[r->page].methods & method_bit(method));
	FUZZ_CHECK(r->bad < PARAM__MAX);
	n = snprintf(want, sizeof(want), "{%s}", param_rules[r->bad].name);
	FUZZ_CHECK(n > 0 && (size_t)n < sizeof(want));
	FUZZ_CHECK(strstr(page_routes[r->page].shape, want) != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int	  table_checked;
	struct route	  r;
	enum route_result rc;
	const uint8_t	 *sp;
	char		 *method, *uri;

	if (!table_checked) {
		FUZZ_CHECK(route_table_check() == NULL);
		table_checked = 1;
	}
	if (size < 1)
		return 0;
	if (data[0] < 0xf0) {
		method = strdup(
		    methods[data[0] % (sizeof(methods) / sizeof(methods[0]))]);
		if (method == NULL)
			abort();
		uri = fuzz_cstr(data + 1, size - 1);
	} else {
		sp = memchr(data + 1, ' ', size - 1);
		if (sp == NULL)
			sp = data + size;
		method = fuzz_cstr(data + 1, (size_t)(sp - data - 1));
		uri = sp < data + size ?
		    fuzz_cstr(sp + 1, (size_t)(data + size - sp - 1)) :
		    fuzz_cstr(sp, 0);
	}

	rc = route_match(method, uri, &r);
	FUZZ_CHECK(rc < ROUTE__MAX);
	switch (rc) {
	case ROUTE_OK:
		check_ok(method, uri, &r);
		break;
	case ROUTE_METHOD:
		check_method(method, &r);
		break;
	case ROUTE_BAD_PARAM:
		/* Parameters are judged only once the method is right. */
		check_bad_param(method, &r);
		break;
	default:
		FUZZ_CHECK(r.page == PAGE__MAX);
		break;
	}

	check_query(uri);

	/* A missing method or URI is simply not a route. */
	FUZZ_CHECK(route_match(NULL, uri, &r) == ROUTE_NOT_FOUND);
	FUZZ_CHECK(route_match(method, NULL, &r) == ROUTE_NOT_FOUND);
	free(method);
	free(uri);
	return 0;
}
