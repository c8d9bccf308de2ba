/*
 * scenegenctl token [--ttl seconds] [--tier tier] user_id: print an
 * access token as Supabase issues them (RFC 7519, HS256 per RFC 7518
 * section 3.2) signed with SUPABASE_JWT_SECRET, with the claims of
 * scripts/token.pl: sub, aud (JWT_AUDIENCE), role "authenticated", iat,
 * exp, app_metadata.tier, and iss when JWT_ISSUER is set. For smoke tests
 * and support; anyone holding the secret can make these.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "buf.h"
#include "ctl.h"
#include "uuid.h"

#define TOKEN_MAX	  8192
#define TOKEN_TTL_DEFAULT 3600
#define TOKEN_TTL_MAX	  (366L * 86400)
#define TOKEN_TIER_MAX	  64

/* Append data as base64url without padding (RFC 4648 section 5). */
static int
token_b64url(struct buf *b, const unsigned char *data, size_t len)
{
	unsigned char *out;
	size_t	       i, n;
	int	       rc;

	out = malloc(4 * ((len + 2) / 3) + 1);
	if (out == NULL)
		return -1;
	n = (size_t)EVP_EncodeBlock(out, data, (int)len);
	while (n > 0 && out[n - 1] == '=')
		n--;
	for (i = 0; i < n; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	rc = buf_append(b, out, n);
	free(out);
	return rc;
}

/* The claims as compact JSON; NULL when out of memory. */
static char *
token_claims(const struct ctl_settings *s, const char *sub, long ttl,
    const char *tier)
{
	cJSON *claims, *meta;
	char  *text = NULL;
	time_t now = time(NULL);

	claims = cJSON_CreateObject();
	if (claims == NULL)
		return NULL;
	if (cJSON_AddStringToObject(claims, "sub", sub) == NULL ||
	    cJSON_AddStringToObject(claims, "aud", s->jwt_audience) == NULL ||
	    cJSON_AddStringToObject(claims, "role", "authenticated") == NULL ||
	    cJSON_AddNumberToObject(claims, "iat", (double)now) == NULL ||
	    cJSON_AddNumberToObject(claims, "exp", (double)(now + ttl)) == NULL)
		goto done;
	if (s->jwt_issuer != NULL &&
	    cJSON_AddStringToObject(claims, "iss", s->jwt_issuer) == NULL)
		goto done;
	meta = cJSON_AddObjectToObject(claims, "app_metadata");
	if (meta == NULL ||
	    cJSON_AddStringToObject(meta, "provider", "email") == NULL ||
	    cJSON_AddStringToObject(meta, "tier", tier) == NULL)
		goto done;
	text = cJSON_PrintUnformatted(claims);
done:
	cJSON_Delete(claims);
	return text;
}

/* 1 if tier is 1..64 characters of [A-Za-z0-9_-]. */
static int
token_tier_ok(const char *tier)
{
	size_t i, len = strlen(tier);

	if (len == 0 || len > TOKEN_TIER_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!((tier[i] >= 'a' && tier[i] <= 'z') ||
			(tier[i] >= 'A' && tier[i] <= 'Z') ||
			(tier[i] >= '0' && tier[i] <= '9') || tier[i] == '_' ||
			tier[i] == '-'))
			return 0;
	return 1;
}

int
ctl_token(struct ctl_settings *s, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ttl", required_argument, NULL, 't' },
		{ "tier", required_argument, NULL, 'T' }, { NULL, 0, NULL, 0 }
	};
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	const char	 *tier = "free", *sub;
	unsigned char	  mac[EVP_MAX_MD_SIZE];
	unsigned int	  maclen = 0;
	struct buf	  tok;
	char		 *claims = NULL;
	long		  ttl = TOKEN_TTL_DEFAULT;
	int		  ch, rc = CTL_EXIT_FAIL;

	for (;;) {
		ch = getopt_long(argc, argv, "", opts, NULL);
		if (ch == -1)
			break;
		switch (ch) {
		case 't':
			ttl = ctl_parse_seconds(optarg);
			if (ttl <= 0 || ttl > TOKEN_TTL_MAX) {
				ctl_usage_error("token: --ttl needs 1 s to "
						"366 d");
				return CTL_EXIT_USAGE;
			}
			break;
		case 'T':
			tier = optarg;
			if (!token_tier_ok(tier)) {
				ctl_usage_error("token: --tier needs 1 to 64 "
						"letters, digits, _ or -");
				return CTL_EXIT_USAGE;
			}
			break;
		default:
			ctl_usage_error("token: unknown option");
			return CTL_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || !uuid_is_valid(argv[optind])) {
		ctl_usage_error("token: needs one user_id (a UUID)");
		return CTL_EXIT_USAGE;
	}
	sub = argv[optind];
	if (ctl_settings_load_secret(s) == -1)
		return CTL_EXIT_FAIL;
	buf_init(&tok, TOKEN_MAX);
	claims = token_claims(s, sub, ttl, tier);
	if (claims == NULL ||
	    token_b64url(&tok, (const unsigned char *)header, strlen(header)) ==
		-1 ||
	    buf_append_str(&tok, ".") == -1 ||
	    token_b64url(&tok, (const unsigned char *)claims, strlen(claims)) ==
		-1) {
		ctl_warnx("token: out of memory");
		goto done;
	}
	if (HMAC(EVP_sha256(), s->jwt_secret, (int)strlen(s->jwt_secret),
		(const unsigned char *)tok.data, tok.len, mac,
		&maclen) == NULL) {
		ctl_warnx("token: HMAC failed");
		goto done;
	}
	if (buf_append_str(&tok, ".") == -1 ||
	    token_b64url(&tok, mac, maclen) == -1) {
		ctl_warnx("token: out of memory");
		goto done;
	}
	printf("%s\n", tok.data);
	rc = CTL_EXIT_OK;
done:
	explicit_bzero(mac, sizeof(mac));
	free(claims);
	buf_free(&tok);
	return rc;
}
