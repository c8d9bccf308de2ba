/* Webhook secrets and signatures (see whsecret.h). */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "whsecret.h"

#define WHSECRET_LABEL "scenegen webhook v1:"

int
whsecret_key(const char *jwt_secret, const char *user,
    unsigned char key[WHSECRET_KEY_LEN])
{
	unsigned char msg[sizeof(WHSECRET_LABEL) + 64];
	unsigned int  len = 0;
	size_t	      ulen = strnlen(user, 64);

	memcpy(msg, WHSECRET_LABEL, sizeof(WHSECRET_LABEL) - 1);
	memcpy(msg + sizeof(WHSECRET_LABEL) - 1, user, ulen);
	if (HMAC(EVP_sha256(), jwt_secret, (int)strlen(jwt_secret), msg,
		sizeof(WHSECRET_LABEL) - 1 + ulen, key, &len) == NULL ||
	    len != WHSECRET_KEY_LEN)
		return -1;
	return 0;
}

int
whsecret_text(const char *jwt_secret, const char *user,
    char out[WHSECRET_TEXT_LEN + 1])
{
	unsigned char key[WHSECRET_KEY_LEN];

	if (whsecret_key(jwt_secret, user, key) == -1)
		return -1;
	memcpy(out, "whsec_", 6);
	EVP_EncodeBlock((unsigned char *)out + 6, key, WHSECRET_KEY_LEN);
	OPENSSL_cleanse(key, sizeof(key));
	return 0;
}

int
whsecret_sign(const unsigned char key[WHSECRET_KEY_LEN], const char *msg_id,
    const char *timestamp, const char *body, size_t len,
    char out[WHSECRET_SIG_LEN + 1])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int  maclen = 0;
	size_t	      idlen = strlen(msg_id), tslen = strlen(timestamp), n;
	char	     *msg;
	int	      rc = -1;

	n = idlen + 1 + tslen + 1 + len;
	msg = malloc(n);
	if (msg == NULL)
		return -1;
	memcpy(msg, msg_id, idlen);
	msg[idlen] = '.';
	memcpy(msg + idlen + 1, timestamp, tslen);
	msg[idlen + 1 + tslen] = '.';
	memcpy(msg + idlen + tslen + 2, body, len);
	if (HMAC(EVP_sha256(), key, WHSECRET_KEY_LEN, (unsigned char *)msg, n,
		mac, &maclen) == NULL ||
	    maclen != 32)
		goto fail;
	memcpy(out, "v1,", 3);
	EVP_EncodeBlock((unsigned char *)out + 3, mac, 32);
	rc = 0;
fail:
	free(msg);
	return rc;
}
