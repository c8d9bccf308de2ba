/*
 * Unit test of lib/netaddr.c and lib/whsecret.c, printing TAP: which
 * addresses a webhook may reach, how its URL is split, and the Standard
 * Webhooks signature. Built and run by t/lib-netaddr.t.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "netaddr.h"
#include "whsecret.h"
#include "tap.h"

static const struct {
	const char *addr;
	int	    public;
} addrs[] = {
	{ "8.8.8.8", 1 },
	{ "1.1.1.1", 1 },
	{ "93.184.216.34", 1 },
	{ "0.0.0.0", 0 },
	{ "0.1.2.3", 0 },
	{ "10.0.0.1", 0 },
	{ "100.64.0.1", 0 },
	{ "100.127.255.255", 0 },
	{ "100.128.0.1", 1 },
	{ "127.0.0.1", 0 },
	{ "127.255.255.254", 0 },
	{ "169.254.169.254", 0 },
	{ "172.16.0.1", 0 },
	{ "172.31.255.255", 0 },
	{ "172.32.0.1", 1 },
	{ "192.0.0.8", 0 },
	{ "192.0.2.1", 0 },
	{ "192.168.1.1", 0 },
	{ "198.18.0.1", 0 },
	{ "198.19.255.255", 0 },
	{ "198.20.0.1", 1 },
	{ "198.51.100.7", 0 },
	{ "203.0.113.9", 0 },
	{ "224.0.0.1", 0 },
	{ "239.255.255.250", 0 },
	{ "240.0.0.1", 0 },
	{ "255.255.255.255", 0 },
	{ "2606:4700:4700::1111", 1 },
	{ "2001:4860:4860::8888", 1 },
	{ "::", 0 },
	{ "::1", 0 },
	{ "::ffff:127.0.0.1", 0 },
	{ "::ffff:10.1.2.3", 0 },
	{ "::ffff:8.8.8.8", 1 },
	{ "::127.0.0.1", 0 },
	{ "64:ff9b::7f00:1", 0 },
	{ "64:ff9b::808:808", 1 },
	{ "fe80::1", 0 },
	{ "fec0::1", 0 },
	{ "fc00::1", 0 },
	{ "fd12:3456::1", 0 },
	{ "ff02::1", 0 },
	{ "2001:db8::1", 0 },
	{ "2001::1", 0 },
	{ "2002:7f00:1::1", 0 },
	{ "3fff::1", 0 },
	{ "100::1", 0 },
	{ "4000::1", 0 },
};

static const struct {
	const char *url;
	int	    ok;
	const char *host;
	const char *port;
} urls[] = {
	{ "https://example.com/hook", 1, "example.com", "443" },
	{ "https://example.com", 1, "example.com", "443" },
	{ "http://example.com:8080/x?y=1", 1, "example.com", "8080" },
	{ "HTTPS://[2001:db8::1]:8443/a", 1, "2001:db8::1", "8443" },
	{ "https://[::1]/", 1, "::1", "443" },
	{ "ftp://example.com/", 0, NULL, NULL },
	{ "example.com/hook", 0, NULL, NULL },
	{ "https:///path", 0, NULL, NULL },
	{ "https://user:pw@example.com/", 0, NULL, NULL },
	{ "https://example.com:0/", 0, NULL, NULL },
	{ "https://example.com:65536/", 0, NULL, NULL },
	{ "https://example.com:/", 0, NULL, NULL },
	{ "https://exa mple.com/", 0, NULL, NULL },
	{ "https://[::1/", 0, NULL, NULL },
	{ "https://[::1]x/", 0, NULL, NULL },
};

/* Signatures (checked against Perl's Digest::SHA) and secrets. */
static void
test_signature(void)
{
	static const unsigned char key[WHSECRET_KEY_LEN] = { 0 };
	char			   sig[WHSECRET_SIG_LEN + 1];
	char			   text[WHSECRET_TEXT_LEN + 1];
	char			   again[WHSECRET_TEXT_LEN + 1];
	static const char	   body[] = "{\"test\": 2432232314}";

	test_ok(whsecret_sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek",
		    "1614265330", body, strlen(body), sig) == 0 &&
		strcmp(sig, "v1,woH/1mJtZGSMCmpFTxRYbStS24eLLD/oXIYr4PYyZ7g=") == 0,
	    "the signature of id.timestamp.body is v1,<base64 HMAC-SHA256>");
	test_ok(whsecret_text("jwt-secret", "00000000-0000-4000-8000-000000000001",
		    text) == 0 &&
		strncmp(text, "whsec_", 6) == 0 &&
		strlen(text) == WHSECRET_TEXT_LEN,
	    "a secret is whsec_ and 44 base64 characters");
	test_ok(whsecret_text("jwt-secret",
		    "00000000-0000-4000-8000-000000000001", again) == 0 &&
		strcmp(text, again) == 0,
	    "the same user gets the same secret");
	test_ok(whsecret_text("jwt-secret",
		    "00000000-0000-4000-8000-000000000002", again) == 0 &&
		strcmp(text, again) != 0,
	    "another user gets another secret");
	test_ok(whsecret_text("other-jwt-secret",
		    "00000000-0000-4000-8000-000000000001", again) == 0 &&
		strcmp(text, again) != 0,
	    "another JWT secret gives another secret");
}

int
main(void)
{
	struct netaddr_url u;
	unsigned char	   a[16];
	char		   name[160];
	size_t		   i;
	int		   pub, ok;

	printf("1..%zu\n", sizeof(addrs) / sizeof(addrs[0]) +
		sizeof(urls) / sizeof(urls[0]) + 5 + 5);
	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		if (inet_pton(AF_INET, addrs[i].addr, a) == 1)
			pub = netaddr_v4_public(a);
		else if (inet_pton(AF_INET6, addrs[i].addr, a) == 1)
			pub = netaddr_v6_public(a);
		else
			pub = -1;
		snprintf(name, sizeof(name), "%s is %s", addrs[i].addr,
		    addrs[i].public ? "public" : "not public");
		test_ok(pub == addrs[i].public, name);
	}
	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		ok = netaddr_url_parse(urls[i].url, &u) == 0;
		if (ok && urls[i].ok)
			ok = strcmp(u.host, urls[i].host) == 0 &&
			    strcmp(u.port, urls[i].port) == 0;
		else
			ok = ok == urls[i].ok;
		snprintf(name, sizeof(name), "%s %s", urls[i].url,
		    urls[i].ok ? "splits" : "is refused");
		test_ok(ok, name);
	}
	test_ok(netaddr_check_url("http://8.8.8.8/", 0, 1000) ==
		NETADDR_NOT_HTTPS,
	    "http is refused unless private addresses are allowed");
	test_ok(netaddr_check_url("https://127.0.0.1/", 0, 1000) ==
		NETADDR_PRIVATE,
	    "https://127.0.0.1/ is private");
	test_ok(netaddr_check_url("https://localhost/", 0, 2000) ==
		NETADDR_PRIVATE,
	    "https://localhost/ resolves to loopback");
	test_ok(netaddr_check_url("http://127.0.0.1:9/", 1, 1000) == NETADDR_OK,
	    "allowed: http and loopback pass");
	test_ok(netaddr_check_url("https://[::ffff:169.254.169.254]/", 0,
		    1000) == NETADDR_PRIVATE,
	    "an IPv4-mapped metadata address is private");
	test_signature();
	return test_failed;
}
