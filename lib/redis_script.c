/* Scripts run by their SHA1; see redis_script.h. */
#include <string.h>

#include <openssl/evp.h>

#include "redis_script.h"

const char *
redis_script_sha(struct redis_script *s)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char	  md[EVP_MAX_MD_SIZE];
	unsigned int	  mdlen = 0, i;

	if (s->sha[0] != '\0')
		return s->sha;
	if (EVP_Digest(s->text, strlen(s->text), md, &mdlen, EVP_sha1(),
		NULL) != 1 ||
	    mdlen * 2 != REDIS_SCRIPT_SHA_LEN)
		return s->sha; /* "": EVALSHA then fails as NOSCRIPT */
	for (i = 0; i < mdlen; i++) {
		s->sha[2 * i] = hex[md[i] >> 4];
		s->sha[2 * i + 1] = hex[md[i] & 0x0f];
	}
	s->sha[REDIS_SCRIPT_SHA_LEN] = '\0';
	return s->sha;
}

int
redis_script_missing(const char *err)
{
	return err != NULL && strncmp(err, "NOSCRIPT", 8) == 0;
}
