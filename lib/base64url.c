/*
 * Unpadded base64url, both ways: the decoder reads what an outsider sent
 * (a token, a listing cursor), so it accepts exactly one encoding of
 * each value.
 */
#include "base64url.h"

static const char b64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The value of one base64url character, or -1. */
static int
b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

long
b64url_decode(const char *s, size_t len, unsigned char *out, size_t cap)
{
	unsigned long acc = 0;
	size_t	      i, n = 0;
	int	      bits = 0, v;

	if (len == 0 || len % 4 == 1 || len / 4 * 3 + 3 > cap)
		return -1;
	for (i = 0; i < len; i++) {
		v = b64url_value((unsigned char)s[i]);
		if (v == -1)
			return -1;
		acc = (acc << 6) | (unsigned long)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1UL << bits) - 1;
		}
	}
	if (acc != 0)
		return -1;
	out[n] = '\0';
	return (long)n;
}

long
b64url_encode(const unsigned char *in, size_t len, char *out, size_t cap)
{
	unsigned long acc = 0;
	size_t	      i, n = 0;
	int	      bits = 0;

	if (B64URL_LEN(len) + 1 > cap)
		return -1;
	for (i = 0; i < len; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[n++] = b64url_chars[(acc >> bits) & 0x3f];
		}
		acc &= (1UL << bits) - 1;
	}
	if (bits > 0)
		out[n++] = b64url_chars[(acc << (6 - bits)) & 0x3f];
	out[n] = '\0';
	return (long)n;
}
