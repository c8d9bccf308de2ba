/*
 * The query string of the pages whose route row takes one, read from
 * the raw REQUEST_URI (what nginx got, not decoded) before any token is
 * looked at. It is "name=value&name=value" (RFC 3986 section 3.4, with
 * the form encoding of WHATWG URL "application/x-www-form-urlencoded"):
 * at most QUERY_MAX bytes of printable ASCII, every parameter one the
 * page takes, given once, with a value; values are percent-decoded into
 * a bounded buffer and then checked by the parameter's own rule.
 * Anything else is a 400 naming the parameter (or the query string).
 */
#include <string.h>

#include "extern.h"
#include "percent.h"

#define QNAME_MAX 32 /* bytes of a parameter name quoted back in a 400 */

const char *const record_status_names[RECORD__MAX] = {
	"pending",     /* RECORD_PENDING */
	"in_progress", /* RECORD_IN_PROGRESS */
	"completed",   /* RECORD_COMPLETED */
	"failed",      /* RECORD_FAILED */
	"canceled",    /* RECORD_CANCELED */
};

static int query_status(const char *, size_t, struct query *);
static int query_limit(const char *, size_t, struct query *);
static int query_cursor(const char *, size_t, struct query *);
static int query_expires(const char *, size_t, struct query *);
static int query_signature(const char *, size_t, struct query *);

/* The parameters any page may take: name, value check, the 400 reason. */
static const struct {
	const char *name;
	int (*parse)(const char *, size_t, struct query *);
	const char *reason;
} qparams[QPARAM__MAX] = {
	[QPARAM_STATUS] = { "status", query_status,
	    "must be a comma-separated list of pending, in_progress, "
	    "completed, failed and canceled" },
	[QPARAM_LIMIT] = { "limit", query_limit,
	    "must be an integer from 1 to " NUM_TEXT(LIST_LIMIT_MAX) },
	[QPARAM_CURSOR] = { "cursor", query_cursor, CURSOR_REASON },
	[QPARAM_EXPIRES] = { "expires", query_expires,
	    "must be the expires of an events_url" },
	[QPARAM_SIGNATURE] = { "signature", query_signature,
	    "must be the signature of an events_url" },
};

/* Each word of the comma-separated list v (len bytes) is a status. */
static int
query_status(const char *v, size_t len, struct query *q)
{
	size_t		   i = 0, n;
	enum record_status st;

	while (i <= len) {
		n = 0;
		while (i + n < len && v[i + n] != ',')
			n++;
		for (st = 0; st < RECORD__MAX; st++)
			if (strlen(record_status_names[st]) == n &&
			    memcmp(record_status_names[st], v + i, n) == 0)
				break;
		if (st == RECORD__MAX)
			return -1; /* an empty word too */
		q->statuses |= 1u << st;
		i += n + 1;
	}
	return 0;
}

/* Decimal digits, 1..LIST_LIMIT_MAX, no sign, at most three digits. */
static int
query_limit(const char *v, size_t len, struct query *q)
{
	size_t i;
	long   n = 0;

	if (len == 0 || len > 3)
		return -1;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (v[i] - '0');
	}
	if (n < 1 || n > LIST_LIMIT_MAX)
		return -1;
	q->limit = n;
	return 0;
}

/*
 * Copy v (len bytes) into out (cap bytes) if it is 1..cap - 1 characters
 * of base64url (digits only when digits is set); -1 otherwise.
 */
static int
query_token(const char *v, size_t len, char *out, size_t cap, int digits)
{
	size_t i;

	if (len == 0 || len >= cap)
		return -1;
	for (i = 0; i < len; i++) {
		char c = v[i];

		if (c >= '0' && c <= '9')
			continue;
		if (digits ||
		    !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			c == '-' || c == '_'))
			return -1;
	}
	memcpy(out, v, len);
	out[len] = '\0';
	return 0;
}

/* base64url characters only; what they say is the page's to judge. */
static int
query_cursor(const char *v, size_t len, struct query *q)
{
	return query_token(v, len, q->cursor, sizeof(q->cursor), 0);
}

/* Decimal digits; whether the time is past is the page's to judge. */
static int
query_expires(const char *v, size_t len, struct query *q)
{
	return query_token(v, len, q->expires, sizeof(q->expires), 1);
}

/* base64url characters; whether they sign anything is the page's. */
static int
query_signature(const char *v, size_t len, struct query *q)
{
	return query_token(v, len, q->signature, sizeof(q->signature), 0);
}

/*
 * The parameter called name (len bytes) if the page takes it (rule),
 * else QPARAM__MAX with its name kept in q->bad when it is short and
 * plain enough to quote back.
 */
static enum qparam
query_param(const char *name, size_t len, unsigned int rule, struct query *q)
{
	enum qparam p;
	size_t	    i;

	for (p = 0; p < QPARAM__MAX; p++)
		if ((rule & QUERY_BIT(p)) && strlen(qparams[p].name) == len &&
		    memcmp(qparams[p].name, name, len) == 0)
			return p;
	q->bad[0] = '\0';
	if (len == 0 || len > QNAME_MAX || len >= sizeof(q->bad))
		return QPARAM__MAX;
	for (i = 0; i < len; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
			(name[i] >= 'A' && name[i] <= 'Z') ||
			(name[i] >= '0' && name[i] <= '9') || name[i] == '_' ||
			name[i] == '-' || name[i] == '.'))
			return QPARAM__MAX;
	memcpy(q->bad, name, len);
	q->bad[len] = '\0';
	return QPARAM__MAX;
}

/* Set fe to the 400 for the whole query string and return -1. */
static int
query_refuse(struct field_error *fe, const char *reason)
{
	fe->field = "query string";
	fe->reason = reason;
	return -1;
}

/*
 * Parse the query string of uri (after its first '?') for a page whose
 * row says rule (struct page_route). With rule 0 the query string is not
 * looked at. Returns 0 with q filled in, or -1 with fe naming what to
 * refuse (400 invalid_field); fe's strings live in q or in static tables.
 */
int
query_parse(const char *uri, unsigned int rule, struct query *q,
    struct field_error *fe)
{
	const char *s, *end, *amp, *eq;
	char	    value[QUERY_VALUE_MAX + 1];
	enum qparam p;
	long	    n;
	size_t	    i;

	memset(q, 0, sizeof(*q));
	s = rule != 0 && uri != NULL ? strchr(uri, '?') : NULL;
	if (s == NULL)
		return 0;
	s++;
	end = s + strlen(s);
	if (end - s > QUERY_MAX)
		return query_refuse(fe,
		    "must be at most " NUM_TEXT(QUERY_MAX) " bytes");
	for (i = 0; s + i < end; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e ||
		    s[i] == '#')
			return query_refuse(fe, "must be printable ASCII");
	while (s < end) {
		amp = memchr(s, '&', (size_t)(end - s));
		if (amp == NULL)
			amp = end;
		eq = memchr(s, '=', (size_t)(amp - s));
		p = query_param(s, (size_t)((eq != NULL ? eq : amp) - s), rule,
		    q);
		if (amp == s)
			return query_refuse(fe, "has an empty parameter");
		if (p == QPARAM__MAX) {
			if (q->bad[0] == '\0')
				return query_refuse(fe,
				    "has a parameter this page does not take");
			fe->field = q->bad;
			fe->reason = "is not a query parameter of this page";
			return -1;
		}
		fe->field = qparams[p].name;
		if (q->given & QUERY_BIT(p)) {
			fe->reason = "must be given once";
			return -1;
		}
		fe->reason = qparams[p].reason;
		if (eq == NULL)
			return -1;
		n = percent_decode(eq + 1, (size_t)(amp - eq - 1), value,
		    QUERY_VALUE_MAX, PERCENT_ASCII);
		if (n == -1 || qparams[p].parse(value, (size_t)n, q) == -1)
			return -1;
		q->given |= QUERY_BIT(p);
		s = amp < end ? amp + 1 : end;
		if (amp < end && s == end)
			return query_refuse(fe, "has an empty parameter");
	}
	fe->field = NULL;
	fe->reason = NULL;
	return 0;
}
