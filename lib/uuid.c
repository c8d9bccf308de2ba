/* UUID validation and generation; see uuid.h. */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "uuid.h"

int
uuid_is_valid_n(const char *s, size_t len)
{
	size_t i;

	if (s == NULL || len != UUID_STR_LEN)
		return 0;
	for (i = 0; i < UUID_STR_LEN; i++) {
		char c = s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return 0;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			       (c >= 'A' && c <= 'F')))
			return 0;
	}
	return 1;
}

int
uuid_is_valid(const char *s)
{
	return s != NULL && uuid_is_valid_n(s, strlen(s));
}

int
uuid_generate(char out[UUID_STR_LEN + 1])
{
	unsigned char r[16];
	int	      n;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -1;
	r[6] = (r[6] & 0x0f) | 0x40;
	r[8] = (r[8] & 0x3f) | 0x80;
	n = snprintf(out, UUID_STR_LEN + 1,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x",
	    r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
	    r[11], r[12], r[13], r[14], r[15]);
	return n == UUID_STR_LEN ? 0 : -1;
}
