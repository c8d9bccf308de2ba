/* REDIS_URL parsing; see redis_url.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_url.h"
#include "secret.h"

/* Parse a decimal integer in [min, max] from s..s+len. */
static int
redis_url_number(const char *s, size_t len, long min, long max, long *out)
{
	char tmp[16], *end;
	long v;

	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	errno = 0;
	v = strtol(tmp, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

void
redis_endpoint_free(struct redis_endpoint *ep)
{
	free(ep->host);
	free(ep->unix_path);
	free(ep->username);
	secret_free(ep->password);
	memset(ep, 0, sizeof(*ep));
}

/* Parse the query of a unix: URL ("db=N&password=P"). */
static int
redis_url_unix_query(const char *q, struct redis_endpoint *ep)
{
	const char *p = q, *amp;
	long	    v;

	while (*p != '\0') {
		amp = strchr(p, '&');
		if (amp == NULL)
			amp = p + strlen(p);
		if (strncmp(p, "db=", 3) == 0) {
			if (redis_url_number(p + 3, amp - p - 3, 0, 10000,
				&v) == -1)
				return -1;
			ep->db = (int)v;
		} else if (strncmp(p, "password=", 9) == 0) {
			secret_free(ep->password);
			ep->password = strndup(p + 9, amp - p - 9);
			if (ep->password == NULL)
				return -1;
		} else
			return -1;
		p = *amp == '&' ? amp + 1 : amp;
	}
	return 0;
}

int
redis_url_parse(const char *url, struct redis_endpoint *ep, char *err,
    size_t errlen)
{
	const char *p, *at, *colon, *slash, *q, *hostend;
	long	    v;

	memset(ep, 0, sizeof(*ep));
	ep->port = 6379;
	if (strncmp(url, "unix://", 7) == 0) {
		p = url + 7;
		q = strchr(p, '?');
		ep->unix_path = q ? strndup(p, q - p) : strdup(p);
		if (ep->unix_path == NULL || ep->unix_path[0] != '/' ||
		    (q != NULL && redis_url_unix_query(q + 1, ep) == -1))
			goto fail;
		return 0;
	}
	if (strncmp(url, "redis://", 8) != 0)
		goto fail;
	p = url + 8;
	slash = strchr(p, '/');
	hostend = slash ? slash : p + strlen(p);
	at = memchr(p, '@', hostend - p);
	if (at != NULL) {
		colon = memchr(p, ':', at - p);
		if (colon != NULL) {
			if (colon > p) {
				ep->username = strndup(p, colon - p);
				if (ep->username == NULL)
					goto fail;
			}
			ep->password = strndup(colon + 1, at - colon - 1);
		} else
			ep->password = strndup(p, at - p);
		if (ep->password == NULL)
			goto fail;
		p = at + 1;
	}
	colon = memchr(p, ':', hostend - p);
	if (colon != NULL) {
		if (redis_url_number(colon + 1, hostend - colon - 1, 1, 65535,
			&v) == -1)
			goto fail;
		ep->port = (int)v;
	} else
		colon = hostend;
	if (colon == p)
		goto fail;
	ep->host = strndup(p, colon - p);
	if (ep->host == NULL)
		goto fail;
	if (slash != NULL && slash[1] != '\0') {
		if (redis_url_number(slash + 1, strlen(slash + 1), 0, 10000,
			&v) == -1)
			goto fail;
		ep->db = (int)v;
	}
	return 0;
fail:
	redis_endpoint_free(ep);
	snprintf(err, errlen,
	    "REDIS_URL must look like redis://host:port/db "
	    "or unix:///path/redis.sock");
	return -1;
}
