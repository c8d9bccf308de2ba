/*
 * fuzz_jwt: cgi/auth.c, the Supabase token check (auth_bearer() and
 * auth_verify_jwt()). The secret and the clock are fixed, so seeds are
 * real tokens that pass (fuzz/make-seeds.pl signs them with FUZZ_SECRET)
 * and the fuzzer starts past the signature.
 *
 * Input: one mode byte, then:
 *  0  a raw token (auth_verify_jwt);
 *  1  an Authorization header value (auth_bearer);
 *  2  a payload (JSON text), signed here under a fixed header; with a
 *     NUL in it, the bytes before the NUL are the header instead;
 *  3  the signing input as text ("header.payload", any bytes), signed
 *     here, so the base64url decoder of the payload is reached.
 * Bit 2 of the mode byte configures an issuer (JWT_ISSUER).
 *
 * Oracles: an accepted token yields a lower-case UUID sub and a
 * [a-z0-9_-]{1,32} tier, and its payload has no "\u0000" (which would
 * cut a claim short); a token whose signature is not the HMAC of its
 * signing input is refused for a reason found before the payload is read
 * (auth.c promises to look at nothing in the payload before that).
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "extern.h"
#include "fuzz.h"

#define FUZZ_SECRET "fuzz-secret-0123456789abcdef0123456789abcdef"
#define FUZZ_NOW    1700000000
#define FUZZ_ISSUER "https://fuzz.supabase.co/auth/v1"
#define FUZZ_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

static struct api_config cfg_plain, cfg_issuer;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	cfg_plain.jwt_secret = FUZZ_SECRET;
	cfg_plain.jwt_audience = "authenticated";
	cfg_plain.jwt_algorithm = "HS256";
	cfg_plain.jwt_issuer = NULL;
	cfg_issuer = cfg_plain;
	cfg_issuer.jwt_issuer = FUZZ_ISSUER;
	return 0;
}

/* Unpadded base64url of in (len bytes) into out; returns its length. */
static size_t
b64url(const unsigned char *in, size_t len, char *out)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t		  i, o = 0;
	unsigned long	  v;

	for (i = 0; i + 2 < len; i += 3) {
		v = (unsigned long)in[i] << 16 | in[i + 1] << 8 | in[i + 2];
		out[o++] = abc[v >> 18 & 63];
		out[o++] = abc[v >> 12 & 63];
		out[o++] = abc[v >> 6 & 63];
		out[o++] = abc[v & 63];
	}
	if (len - i == 1) {
		v = (unsigned long)in[i] << 16;
		out[o++] = abc[v >> 18 & 63];
		out[o++] = abc[v >> 12 & 63];
	} else if (len - i == 2) {
		v = (unsigned long)in[i] << 16 | in[i + 1] << 8;
		out[o++] = abc[v >> 18 & 63];
		out[o++] = abc[v >> 12 & 63];
		out[o++] = abc[v >> 6 & 63];
	}
	out[o] = '\0';
	return o;
}

/* Append "." and the HS256 signature of tok[0..len) to tok. */
static size_t
sign(char *tok, size_t len)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int  maclen = 0;

	if (HMAC(EVP_sha256(), FUZZ_SECRET, (int)strlen(FUZZ_SECRET),
		(const unsigned char *)tok, len, mac, &maclen) == NULL)
		abort();
	tok[len++] = '.';
	return len + b64url(mac, maclen, tok + len);
}

/*
 * 1 if JSON text p (len bytes) has a "\u0000" escape: decoded, it would
 * cut a claim short for strcmp() ("sub": "<uuid>\u0000x").
 */
static int
has_nul_escape(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i++) {
		if (p[i] != '\\')
			continue;
		if (p[i + 1] == 'u' && i + 5 < len &&
		    memcmp(p + i + 2, "0000", 4) == 0)
			return 1;
		i++; /* the escaped character */
	}
	return 0;
}

/* Reasons auth.c may give before the payload is decoded. */
static int
early_reason(const char *r)
{
	static const char *const early[] = {
		"malformed token",
		"alg is not the configured algorithm",
		"typ is not JWT",
		"crit header present",
		"bad signature",
		"HMAC failed",
	};
	size_t i;

	for (i = 0; i < sizeof(early) / sizeof(early[0]); i++)
		if (strcmp(r, early[i]) == 0)
			return 1;
	return 0;
}

/* tok (len bytes) has two dots and its third part is not our signature. */
static int
badly_signed(const char *tok, size_t len)
{
	const char *d1, *d2;
	char	   *re;
	size_t	    n;
	int	    bad;

	d1 = memchr(tok, '.', len);
	if (d1 == NULL)
		return 1;
	d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok));
	if (d2 == NULL)
		return 1;
	re = malloc((size_t)(d2 - tok) + 64);
	if (re == NULL)
		abort();
	memcpy(re, tok, (size_t)(d2 - tok));
	n = sign(re, (size_t)(d2 - tok));
	bad = n != len || memcmp(re, tok, len) != 0;
	free(re);
	return bad;
}

static void
check_verdict(enum auth_result rc, const struct auth_user *u,
    const char *reason)
{
	size_t i, len;

	FUZZ_CHECK(rc < AUTH__MAX);
	FUZZ_CHECK(reason != NULL);
	if (rc != AUTH_OK)
		return;
	FUZZ_CHECK(fuzz_uuid_lower(u->sub));
	len = strnlen(u->tier, sizeof(u->tier));
	FUZZ_CHECK(len >= 1 && len <= TIER_MAX);
	for (i = 0; i < len; i++)
		FUZZ_CHECK((u->tier[i] >= 'a' && u->tier[i] <= 'z') ||
		    (u->tier[i] >= '0' && u->tier[i] <= '9') ||
		    u->tier[i] == '_' || u->tier[i] == '-');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct api_config *cfg;
	struct auth_user	 u;
	enum auth_result	 rc;
	const uint8_t		*nul;
	const char		*reason = NULL;
	char			*tok, *hdr;
	size_t			 len, hlen;
	int			 mode;

	if (size < 1)
		return 0;
	mode = data[0] & 3;
	cfg = (data[0] & 4) ? &cfg_issuer : &cfg_plain;
	data++;
	size--;
	memset(&u, 0, sizeof(u));

	switch (mode) {
	case 0:
		/* Nothing readable after the token, not even a NUL. */
		tok = fuzz_guarded(data, size);
		rc = auth_verify_jwt(cfg, tok, size, FUZZ_NOW, &u, &reason);
		check_verdict(rc, &u, reason);
		if (badly_signed(tok, size)) {
			FUZZ_CHECK(rc != AUTH_OK);
			FUZZ_CHECK(early_reason(reason));
		}
		break;
	case 1:
		hdr = fuzz_cstr(data, size);
		rc = auth_bearer(cfg, hdr, FUZZ_NOW, &u, &reason);
		check_verdict(rc, &u, reason);
		free(hdr);
		break;
	case 2:
		nul = memchr(data, '\0', size);
		hlen = nul != NULL ? (size_t)(nul - data) : 0;
		tok = malloc(size * 2 + 200);
		if (tok == NULL)
			abort();
		if (nul != NULL) {
			len = b64url(data, hlen, tok);
			data += hlen + 1;
			size -= hlen + 1;
		} else
			len = b64url((const unsigned char *)FUZZ_HEADER,
			    strlen(FUZZ_HEADER), tok);
		tok[len++] = '.';
		len += b64url(data, size, tok + len);
		len = sign(tok, len);
		rc = auth_verify_jwt(cfg, tok, len, FUZZ_NOW, &u, &reason);
		check_verdict(rc, &u, reason);
		if (rc == AUTH_OK)
			FUZZ_CHECK(!has_nul_escape(data, size));
		free(tok);
		break;
	default:
		tok = malloc(size + 64);
		if (tok == NULL)
			abort();
		if (size > 0)
			memcpy(tok, data, size);
		len = sign(tok, size);
		rc = auth_verify_jwt(cfg, tok, len, FUZZ_NOW, &u, &reason);
		check_verdict(rc, &u, reason);
		free(tok);
		break;
	}
	return 0;
}
