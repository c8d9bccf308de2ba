/*
 * Signing and checking the events_url of a record (events_url.h).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base64url.h"
#include "events_url.h"

#define EVENTS_KEY_LABEL "scenegen events_url v1"

time_t
events_url_expires(time_t now)
{
	return (now / EVENTS_URL_STEP + 1) * EVENTS_URL_STEP +
	    EVENTS_URL_MIN_TTL;
}

/*
 * The base64url signature of record_id and expires into sig
 * (EVENTS_SIG_LEN + 1 bytes). -1 if HMAC fails.
 */
static int
events_url_sign(const char *secret, const char *record_id, long long expires,
    char *sig)
{
	unsigned char key[EVP_MAX_MD_SIZE], mac[EVP_MAX_MD_SIZE];
	unsigned int  klen = 0, mlen = 0;
	char	      msg[96];
	int	      n, rc = -1;

	n = snprintf(msg, sizeof(msg), "%s.%lld", record_id, expires);
	if (n < 0 || (size_t)n >= sizeof(msg))
		goto fail;
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret),
		(const unsigned char *)EVENTS_KEY_LABEL,
		strlen(EVENTS_KEY_LABEL), key, &klen) == NULL)
		goto fail;
	if (HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg,
		(size_t)n, mac, &mlen) == NULL ||
	    mlen != 32)
		goto fail;
	if (b64url_encode(mac, mlen, sig, EVENTS_SIG_LEN + 1) != EVENTS_SIG_LEN)
		goto fail;
	rc = 0;
fail:
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

int
events_url_build(const char *secret, const char *record_id, time_t now,
    char *out, size_t cap)
{
	char	  sig[EVENTS_SIG_LEN + 1];
	long long expires = (long long)events_url_expires(now);
	int	  n;

	if (events_url_sign(secret, record_id, expires, sig) == -1)
		return -1;
	n = snprintf(out, cap,
	    "/api/v1/records/%s/events?expires=%lld&signature=%s", record_id,
	    expires, sig);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	return 0;
}

int
events_url_verify(const char *secret, const char *record_id,
    const char *expires, const char *signature, time_t now)
{
	char	  sig[EVENTS_SIG_LEN + 1];
	long long e = 0;
	size_t	  i, len = strlen(expires);

	if (len == 0 || len > 18 || strlen(signature) != EVENTS_SIG_LEN)
		return -1;
	for (i = 0; i < len; i++) {
		if (expires[i] < '0' || expires[i] > '9')
			return -1;
		e = e * 10 + (expires[i] - '0');
	}
	if (e < (long long)now)
		return -1;
	if (events_url_sign(secret, record_id, e, sig) == -1)
		return -1;
	return CRYPTO_memcmp(sig, signature, EVENTS_SIG_LEN) == 0 ? 0 : -1;
}
