/*
 * Where a webhook may be sent (SPEC.md, "Completion webhooks"): the URL
 * split into scheme, host and port, and whether an address is public.
 * Loopback, private, link-local, CGNAT, multicast, unspecified,
 * documentation, benchmarking and other special-purpose ranges (IANA's
 * IPv4 and IPv6 special-purpose registries) are not; an IPv4-mapped,
 * IPv4-compatible or NAT64 IPv6 address is judged by its IPv4 address.
 * Shared by the API (at POST) and the daemon (at each delivery).
 */
#ifndef SCENEGEN_NETADDR_H
#define SCENEGEN_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>

#define WEBHOOK_URL_MAX	 2048 /* bytes of a webhook_url */
#define NETADDR_HOST_MAX 255  /* bytes of a host name */

/* A webhook URL split: host without brackets, port defaulted. */
struct netaddr_url {
	int  https; /* 0: http */
	char host[NETADDR_HOST_MAX + 1];
	char port[6];
};

/*
 * Split url (absolute http or https, no user information, no white
 * space or control bytes, at most WEBHOOK_URL_MAX bytes). -1 when it is
 * not one.
 */
int netaddr_url_parse(const char *url, struct netaddr_url *);

/* 1 if the IPv4 address a (network order, 4 bytes) is public. */
int netaddr_v4_public(const unsigned char a[4]);
/* 1 if the IPv6 address a (16 bytes) is public. */
int netaddr_v6_public(const unsigned char a[16]);
/* 1 if sa (AF_INET or AF_INET6) is public; 0 for any other family. */
int netaddr_public(const struct sockaddr *sa);

enum netaddr_check {
	NETADDR_OK,
	NETADDR_BAD_URL,    /* not an absolute http(s) URL */
	NETADDR_NOT_HTTPS,  /* http while private addresses are refused */
	NETADDR_PRIVATE,    /* the host is or resolves to a non-public one */
	NETADDR_UNRESOLVED, /* no address within the time allowed */
	NETADDR__MAX
};

/*
 * Check url for a webhook: parsed, https, and every address its host
 * resolves to (getaddrinfo_a, at most timeout_ms) public; with
 * allow_private any http(s) URL passes once parsed.
 */
enum netaddr_check netaddr_check_url(const char *url, int allow_private,
    int timeout_ms);

#endif
