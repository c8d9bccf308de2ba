/*
 * Percent-decoding for the API's query strings (cgi/query.c) and the
 * dashboard's forms (cgi/admin_form.c): one decoder, with the byte rule
 * as a flag.
 */
#include "percent.h"

/* The value of one hex digit, or -1. */
static int
percent_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long
percent_decode(const char *s, size_t len, char *out, size_t max, int flags)
{
	size_t	      i, n = 0;
	int	      hi, lo;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (len - i < 3)
				return -1;
			hi = percent_hex(s[i + 1]);
			lo = percent_hex(s[i + 2]);
			if (hi == -1 || lo == -1)
				return -1;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		}
		if (c < 0x20 || c == 0x7f ||
		    ((flags & PERCENT_ASCII) && c > 0x7e) || n == max)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return (long)n;
}
