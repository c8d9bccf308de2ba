/*
 * Supabase access tokens: compact JWS (RFC 7515) with HMAC-SHA256
 * (RFC 7518 section 3.2), claims per RFC 7519. The algorithm is pinned
 * by configuration (JWT_ALGORITHM, only HS256), never taken from the
 * token. The signature is checked, in constant time, before anything in
 * the payload is looked at.
 *
 * Clock skew: exp and nbf are allowed AUTH_SKEW_SECONDS (30 s) of slack
 * each way, so a token is accepted until exp + 30 s and from nbf - 30 s;
 * hosts kept in time by NTP differ by far less.
 */
#include <ctype.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base64url.h"
#include "extern.h"

#define TOKEN_MAX	  8192 /* bytes of a whole token */
#define DECODED_MAX	  (TOKEN_MAX / 4 * 3 + 3)
#define AUTH_SKEW_SECONDS 30
#define SHA256_LEN	  32

/* Parse decoded JSON text that must be one object and nothing else. */
static cJSON *
auth_parse_object(const unsigned char *text, long len)
{
	cJSON *o;

	/* An embedded NUL would end the text early: refuse it. */
	if (memchr(text, '\0', (size_t)len) != NULL)
		return NULL;
	/*
	 * Strict JSON only (syntax.c), as for request bodies: cJSON would
	 * decode "\u0000" into a NUL that cuts a claim short for strcmp()
	 * ("sub": "<uuid>\u0000x" read as <uuid>, "aud":
	 * "authenticated\u0000x" as "authenticated"), and it takes lone
	 * surrogates, invalid UTF-8 and nesting up to 1000 deep in the
	 * header, which is parsed before the signature is checked.
	 */
	if (!utf8_valid((const char *)text, (size_t)len) ||
	    !syntax_json_ok((const char *)text, (size_t)len))
		return NULL;
	/* Length includes the NUL, so trailing garbage is caught. */
	o = cJSON_ParseWithLengthOpts((const char *)text, (size_t)len + 1, NULL,
	    1);
	if (o != NULL && !cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* A member that must be a finite number when present; -1 if not. */
static int
auth_number(const cJSON *o, const char *name, double *v, int *present)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);

	*present = m != NULL;
	if (m == NULL)
		return 0;
	if (!cJSON_IsNumber(m) || !isfinite(m->valuedouble))
		return -1;
	*v = m->valuedouble;
	return 0;
}

/* 1 if aud (a string or an array of strings) contains audience. */
static int
auth_audience_ok(const cJSON *aud, const char *audience)
{
	const cJSON *e;

	if (cJSON_IsString(aud))
		return strcmp(aud->valuestring, audience) == 0;
	if (!cJSON_IsArray(aud))
		return 0;
	cJSON_ArrayForEach (e, aud)
		if (cJSON_IsString(e) && strcmp(e->valuestring, audience) == 0)
			return 1;
	return 0;
}

/*
 * The tier: app_metadata.tier, else a top-level tier, else "free". A
 * tier that is not a short [a-z0-9_-] word makes the token invalid.
 */
static int
auth_tier(const cJSON *claims, char *out)
{
	const cJSON *meta, *t = NULL;
	size_t	     i, len;

	meta = cJSON_GetObjectItemCaseSensitive(claims, "app_metadata");
	if (cJSON_IsObject(meta))
		t = cJSON_GetObjectItemCaseSensitive(meta, "tier");
	if (t == NULL || cJSON_IsNull(t))
		t = cJSON_GetObjectItemCaseSensitive(claims, "tier");
	if (t == NULL || cJSON_IsNull(t)) {
		memcpy(out, "free", sizeof("free"));
		return 0;
	}
	if (!cJSON_IsString(t))
		return -1;
	len = strlen(t->valuestring);
	if (len == 0 || len > TIER_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		char c = t->valuestring[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '_' || c == '-'))
			return -1;
	}
	memcpy(out, t->valuestring, len + 1);
	return 0;
}

/* Check the claims of a payload whose signature is already verified. */
static enum auth_result
auth_claims(const struct api_config *cfg, const cJSON *c, time_t now,
    struct auth_user *user, const char **reason)
{
	const cJSON *m;
	double	     exp, nbf, iat, t = (double)now;
	int	     has;
	size_t	     i;

	if (auth_number(c, "exp", &exp, &has) == -1 || !has) {
		*reason = "exp missing or not a number";
		return AUTH_INVALID;
	}
	if (t >= exp + AUTH_SKEW_SECONDS) {
		*reason = "token expired";
		return AUTH_INVALID;
	}
	if (auth_number(c, "nbf", &nbf, &has) == -1 ||
	    (has && nbf > t + AUTH_SKEW_SECONDS)) {
		*reason = "nbf not a number or in the future";
		return AUTH_INVALID;
	}
	if (auth_number(c, "iat", &iat, &has) == -1) {
		*reason = "iat not a number";
		return AUTH_INVALID;
	}
	m = cJSON_GetObjectItemCaseSensitive(c, "aud");
	if (!auth_audience_ok(m, cfg->jwt_audience)) {
		*reason = "wrong or missing audience";
		return AUTH_INVALID;
	}
	m = cJSON_GetObjectItemCaseSensitive(c, "role");
	if (!cJSON_IsString(m) || strcmp(m->valuestring, "authenticated")) {
		*reason = "role is not authenticated";
		return AUTH_INVALID;
	}
	if (cfg->jwt_issuer != NULL) {
		m = cJSON_GetObjectItemCaseSensitive(c, "iss");
		if (!cJSON_IsString(m) ||
		    strcmp(m->valuestring, cfg->jwt_issuer) != 0) {
			*reason = "wrong or missing issuer";
			return AUTH_INVALID;
		}
	}
	m = cJSON_GetObjectItemCaseSensitive(c, "sub");
	if (!cJSON_IsString(m) || !uuid_is_valid(m->valuestring)) {
		*reason = "sub is not a UUID";
		return AUTH_INVALID;
	}
	for (i = 0; i < UUID_STR_LEN; i++)
		user->sub[i] = (char)tolower((unsigned char)m->valuestring[i]);
	user->sub[UUID_STR_LEN] = '\0';
	if (auth_tier(c, user->tier) == -1) {
		*reason = "tier is not a short [a-z0-9_-] word";
		return AUTH_INVALID;
	}
	return AUTH_OK;
}

/* Check the JOSE header: alg pinned, typ JWT if given, no crit. */
static int
auth_header_ok(const struct api_config *cfg, const cJSON *h,
    const char **reason)
{
	const cJSON *m;

	m = cJSON_GetObjectItemCaseSensitive(h, "alg");
	if (!cJSON_IsString(m) ||
	    strcmp(m->valuestring, cfg->jwt_algorithm) != 0) {
		*reason = "alg is not the configured algorithm";
		return 0;
	}
	m = cJSON_GetObjectItemCaseSensitive(h, "typ");
	if (m != NULL &&
	    (!cJSON_IsString(m) || strcmp(m->valuestring, "JWT") != 0)) {
		*reason = "typ is not JWT";
		return 0;
	}
	/* RFC 7515 section 4.1.11: we understand no extensions. */
	if (cJSON_GetObjectItemCaseSensitive(h, "crit") != NULL) {
		*reason = "crit header present";
		return 0;
	}
	return 1;
}

/*
 * Verify token (len bytes) and fill user. AUTH_INVALID sets *reason to
 * a static sentence for the log (never the token itself).
 */
enum auth_result
auth_verify_jwt(const struct api_config *cfg, const char *token, size_t len,
    time_t now, struct auth_user *user, const char **reason)
{
	unsigned char	 dec[DECODED_MAX], mac[EVP_MAX_MD_SIZE];
	unsigned char	 sig[SHA256_LEN + 8];
	const char	*dot1, *dot2;
	cJSON		*header = NULL, *claims = NULL;
	unsigned int	 maclen = 0;
	enum auth_result rc = AUTH_INVALID;
	long		 n;

	*reason = "malformed token";
	if (len == 0 || len > TOKEN_MAX)
		goto out;
	dot1 = memchr(token, '.', len);
	if (dot1 == NULL)
		goto out;
	dot2 = memchr(dot1 + 1, '.', len - (dot1 + 1 - token));
	if (dot2 == NULL ||
	    memchr(dot2 + 1, '.', len - (dot2 + 1 - token)) != NULL)
		goto out;

	n = b64url_decode(token, dot1 - token, dec, sizeof(dec));
	if (n == -1)
		goto out;
	header = auth_parse_object(dec, n);
	if (header == NULL)
		goto out;
	if (!auth_header_ok(cfg, header, reason))
		goto out;

	*reason = "bad signature";
	n = b64url_decode(dot2 + 1, len - (dot2 + 1 - token), sig, sizeof(sig));
	if (n != SHA256_LEN)
		goto out;
	if (HMAC(EVP_sha256(), cfg->jwt_secret, (int)strlen(cfg->jwt_secret),
		(const unsigned char *)token, (size_t)(dot2 - token), mac,
		&maclen) == NULL) {
		rc = AUTH_NOMEM;
		*reason = "HMAC failed";
		goto out;
	}
	if (maclen != SHA256_LEN || CRYPTO_memcmp(mac, sig, SHA256_LEN) != 0)
		goto out;

	/* Signed by our issuer: now the payload may be read. */
	*reason = "malformed payload";
	n = b64url_decode(dot1 + 1, dot2 - (dot1 + 1), dec, sizeof(dec));
	if (n == -1)
		goto out;
	claims = auth_parse_object(dec, n);
	if (claims == NULL)
		goto out;
	rc = auth_claims(cfg, claims, now, user, reason);
out:
	cJSON_Delete(header);
	cJSON_Delete(claims);
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

/*
 * Take the token from an Authorization header value. AUTH_MISSING when
 * there is no header or it is not the Bearer scheme (RFC 6750 section
 * 3: then no error code is given); otherwise the token's verdict.
 */
enum auth_result
auth_bearer(const struct api_config *cfg, const char *header, time_t now,
    struct auth_user *user, const char **reason)
{
	const char *p, *end;

	*reason = "no bearer token";
	if (header == NULL)
		return AUTH_MISSING;
	p = header;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "Bearer", 6) != 0 ||
	    (p[6] != ' ' && p[6] != '\t' && p[6] != '\0'))
		return AUTH_MISSING;
	p += 6;
	while (*p == ' ' || *p == '\t')
		p++;
	end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (end == p) {
		*reason = "empty bearer token";
		return AUTH_INVALID;
	}
	return auth_verify_jwt(cfg, p, (size_t)(end - p), now, user, reason);
}
