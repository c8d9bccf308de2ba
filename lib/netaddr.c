/*
 * Webhook destinations: URL splitting and the public-address rule (see
 * netaddr.h). The ranges are those of the IANA IPv4 and IPv6
 * Special-Purpose Address Registries (RFC 6890 and its updates) plus
 * multicast and the reserved 240.0.0.0/4; only 2000::/3 is global IPv6.
 */
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "netaddr.h"

/* An IPv4 prefix: its network and its length in bits. */
static const struct {
	unsigned char net[4];
	int	      bits;
} v4_special[] = {
	{ { 0, 0, 0, 0 }, 8 },	     /* "this network", unspecified */
	{ { 10, 0, 0, 0 }, 8 },	     /* private */
	{ { 100, 64, 0, 0 }, 10 },   /* CGNAT shared space */
	{ { 127, 0, 0, 0 }, 8 },     /* loopback */
	{ { 169, 254, 0, 0 }, 16 },  /* link-local, cloud metadata */
	{ { 172, 16, 0, 0 }, 12 },   /* private */
	{ { 192, 0, 0, 0 }, 24 },    /* IETF protocol assignments */
	{ { 192, 0, 2, 0 }, 24 },    /* documentation TEST-NET-1 */
	{ { 192, 31, 196, 0 }, 24 }, /* AS112 */
	{ { 192, 52, 193, 0 }, 24 }, /* AMT */
	{ { 192, 88, 99, 0 }, 24 },  /* 6to4 relay anycast */
	{ { 192, 168, 0, 0 }, 16 },  /* private */
	{ { 192, 175, 48, 0 }, 24 }, /* direct delegation AS112 */
	{ { 198, 18, 0, 0 }, 15 },   /* benchmarking */
	{ { 198, 51, 100, 0 }, 24 }, /* documentation TEST-NET-2 */
	{ { 203, 0, 113, 0 }, 24 },  /* documentation TEST-NET-3 */
	{ { 224, 0, 0, 0 }, 4 },     /* multicast */
	{ { 240, 0, 0, 0 }, 4 },     /* reserved, broadcast */
};

/* An IPv6 prefix inside 2000::/3 that is not global. */
static const struct {
	unsigned char net[16];
	int	      bits;
} v6_special[] = {
	{ { 0x20, 0x01, 0x00, 0x00 }, 23 }, /* IETF protocol, Teredo */
	{ { 0x20, 0x01, 0x0d, 0xb8 }, 32 }, /* documentation */
	{ { 0x20, 0x02 }, 16 },		    /* 6to4 */
	{ { 0x3f, 0xff }, 20 },		    /* documentation */
};

/* 1 if the first bits of a and net are equal. */
static int
prefix_match(const unsigned char *a, const unsigned char *net, int bits)
{
	int	      bytes = bits / 8, rest = bits % 8;
	unsigned char mask;

	if (memcmp(a, net, (size_t)bytes) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (unsigned char)(0xff << (8 - rest));
	return (a[bytes] & mask) == (net[bytes] & mask);
}

int
netaddr_v4_public(const unsigned char a[4])
{
	size_t i;

	for (i = 0; i < sizeof(v4_special) / sizeof(v4_special[0]); i++)
		if (prefix_match(a, v4_special[i].net, v4_special[i].bits))
			return 0;
	return 1;
}

int
netaddr_v6_public(const unsigned char a[16])
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0xff, 0xff };
	static const unsigned char zero[12] = { 0 };
	static const unsigned char nat64[12] = { 0x00, 0x64, 0xff, 0x9b };
	size_t			   i;

	/* ::ffff:a.b.c.d, ::a.b.c.d (deprecated), 64:ff9b::a.b.c.d. */
	if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
		return netaddr_v4_public(a + 12);
	if (memcmp(a, zero, 12) == 0)
		return 0; /* ::, ::1 and IPv4-compatible */
	if ((a[0] & 0xe0) != 0x20)
		return 0; /* only 2000::/3 is global unicast */
	for (i = 0; i < sizeof(v6_special) / sizeof(v6_special[0]); i++)
		if (prefix_match(a, v6_special[i].net, v6_special[i].bits))
			return 0;
	return 1;
}

int
netaddr_public(const struct sockaddr *sa)
{
	const struct sockaddr_in  *s4;
	const struct sockaddr_in6 *s6;

	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET) {
		s4 = (const struct sockaddr_in *)(const void *)sa;
		return netaddr_v4_public(
		    (const unsigned char *)&s4->sin_addr.s_addr);
	}
	if (sa->sa_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)(const void *)sa;
		return netaddr_v6_public(s6->sin6_addr.s6_addr);
	}
	return 0;
}

/* Copy the port at p (n bytes, digits, 1..65535) into out; -1 if bad. */
static int
url_port(const char *p, size_t n, char out[6])
{
	size_t i;
	long   v = 0;

	if (n == 0 || n > 5)
		return -1;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

int
netaddr_url_parse(const char *url, struct netaddr_url *u)
{
	const char *auth, *end, *host, *hend, *colon = NULL;
	size_t	    len, i;

	memset(u, 0, sizeof(*u));
	len = strnlen(url, WEBHOOK_URL_MAX + 1);
	if (len > WEBHOOK_URL_MAX)
		return -1;
	for (i = 0; i < len; i++)
		if ((unsigned char)url[i] <= 0x20 ||
		    (unsigned char)url[i] >= 0x7f)
			return -1;
	if (strncasecmp(url, "https://", 8) == 0) {
		u->https = 1;
		auth = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0)
		auth = url + 7;
	else
		return -1;
	end = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t)(end - auth)) != NULL)
		return -1; /* user information: never sent, never wanted */
	host = auth;
	if (*host == '[') {
		hend = memchr(host, ']', (size_t)(end - host));
		if (hend == NULL)
			return -1;
		host++;
		if (hend + 1 < end) {
			if (hend[1] != ':')
				return -1;
			colon = hend + 1;
		}
	} else {
		colon = memchr(host, ':', (size_t)(end - host));
		hend = colon != NULL ? colon : end;
	}
	if (hend == host || (size_t)(hend - host) > NETADDR_HOST_MAX)
		return -1;
	memcpy(u->host, host, (size_t)(hend - host));
	u->host[hend - host] = '\0';
	if (colon != NULL)
		return url_port(colon + 1, (size_t)(end - colon - 1), u->port);
	memcpy(u->port, u->https ? "443" : "80", u->https ? 4 : 3);
	return 0;
}

/* The monotonic clock in ms. */
static long long
netaddr_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/*
 * Resolve host within timeout_ms: NETADDR_OK if every address is public,
 * NETADDR_PRIVATE if one is not, NETADDR_UNRESOLVED if none came.
 */
static enum netaddr_check
netaddr_resolve(const char *host, int timeout_ms)
{
	struct addrinfo	   hints, *ai;
	struct gaicb	   cb, *list[1];
	struct timespec	   ts;
	enum netaddr_check rc = NETADDR_OK;
	long long	   deadline, left;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	memset(&cb, 0, sizeof(cb));
	cb.ar_name = host;
	cb.ar_request = &hints;
	list[0] = &cb;
	if (getaddrinfo_a(GAI_NOWAIT, list, 1, NULL) != 0)
		return NETADDR_UNRESOLVED;
	/*
	 * gai_suspend() may come back before the lookup is done (a
	 * signal, or a wake-up that finds it still running): wait again
	 * for what is left of the time.
	 */
	deadline = netaddr_now_ms() + timeout_ms;
	while (gai_error(&cb) == EAI_INPROGRESS) {
		left = deadline - netaddr_now_ms();
		if (left <= 0)
			break;
		ts.tv_sec = (time_t)(left / 1000);
		ts.tv_nsec = (long)(left % 1000) * 1000000L;
		(void)gai_suspend((const struct gaicb *const *)list, 1, &ts);
	}
	if (gai_error(&cb) == EAI_INPROGRESS) {
		/* Too slow: give it up; a cancel that fails waits for it. */
		if (gai_cancel(&cb) != EAI_CANCELED)
			while (gai_error(&cb) == EAI_INPROGRESS)
				(void)gai_suspend((const struct gaicb *const *)
						      list,
				    1, NULL);
		if (cb.ar_result != NULL)
			freeaddrinfo(cb.ar_result);
		return NETADDR_UNRESOLVED;
	}
	if (gai_error(&cb) != 0 || cb.ar_result == NULL)
		return NETADDR_UNRESOLVED;
	for (ai = cb.ar_result; ai != NULL; ai = ai->ai_next)
		if (!netaddr_public(ai->ai_addr))
			rc = NETADDR_PRIVATE;
	freeaddrinfo(cb.ar_result);
	return rc;
}

enum netaddr_check
netaddr_check_url(const char *url, int allow_private, int timeout_ms)
{
	struct netaddr_url u;

	if (netaddr_url_parse(url, &u) == -1)
		return NETADDR_BAD_URL;
	if (allow_private)
		return NETADDR_OK;
	if (!u.https)
		return NETADDR_NOT_HTTPS;
	return netaddr_resolve(u.host, timeout_ms);
}
