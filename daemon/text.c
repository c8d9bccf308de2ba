/* text.c: cleaning outside text; see text.h. */
#include <string.h>

#include "text.h"

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if none. */
static size_t
text_utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* Overlong forms, surrogates, and code points past U+10FFFF. */
	if (len == 3 && s[0] == 0xe0 && s[1] < 0xa0)
		return 0;
	if (len == 3 && s[0] == 0xed && s[1] >= 0xa0)
		return 0;
	if (len == 4 && s[0] == 0xf0 && s[1] < 0x90)
		return 0;
	if (len == 4 && s[0] == 0xf4 && s[1] >= 0x90)
		return 0;
	return len;
}

char *
text_clean(char *dst, size_t dstsize, const char *src, size_t srclen)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t		     i = 0, o = 0, len, room;

	if (dstsize < 8) {
		if (dstsize > 0)
			dst[0] = '\0';
		return dst;
	}
	room = dstsize - 4; /* keep room for "..." and the NUL */

	while (i < srclen) {
		len = text_utf8_len(s + i, srclen - i);
		if (o + (len == 0 ? 1 : len) > room) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		if (len == 1 &&
		    (s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) {
			dst[o++] = ' ';
			i++;
			continue;
		}
		if (len == 0 || (len == 1 && (s[i] < 0x20 || s[i] == 0x7f))) {
			dst[o++] = '?';
			i++;
			continue;
		}
		memcpy(dst + o, s + i, len);
		o += len;
		i += len;
	}
	dst[o] = '\0';
	return dst;
}
