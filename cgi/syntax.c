/*
 * A strict check of JSON text (RFC 8259) before cJSON builds the tree:
 * cJSON is lenient (it takes "1.", "01", raw control characters in
 * strings, a leading byte order mark), and what we accept should be
 * exactly JSON. Also refused, although JSON allows them: "\u0000"
 * (PostgreSQL text cannot hold it, and C strings would cut it short),
 * unpaired surrogate escapes (not UTF-8 once decoded), and nesting
 * deeper than SYNTAX_DEPTH. Raw bytes must already be valid UTF-8
 * (utf8_valid()) and free of NUL.
 */
#include <stddef.h>

#include "extern.h"

#define SYNTAX_DEPTH 64

struct scan {
	const unsigned char *p;
	const unsigned char *end;
	int		     depth;
};

static int scan_value(struct scan *);

static void
scan_ws(struct scan *s)
{
	while (s->p < s->end &&
	    (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/* Consume the literal lit; 0 on success. */
static int
scan_literal(struct scan *s, const char *lit)
{
	for (; *lit != '\0'; lit++, s->p++)
		if (s->p >= s->end || *s->p != (unsigned char)*lit)
			return -1;
	return 0;
}

/* Four hex digits after "\u"; their value, or -1. */
static long
scan_hex4(struct scan *s)
{
	long v = 0;
	int  i, d;

	if (s->end - s->p < 4)
		return -1;
	for (i = 0; i < 4; i++, s->p++) {
		unsigned char c = *s->p;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* A string, the opening quote at s->p (RFC 8259 section 7). */
static int
scan_string(struct scan *s)
{
	long u, lo;

	s->p++;
	while (s->p < s->end) {
		unsigned char c = *s->p++;

		if (c == '"')
			return 0;
		if (c < 0x20)
			return -1;
		if (c != '\\')
			continue;
		if (s->p >= s->end)
			return -1;
		c = *s->p++;
		if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' ||
		    c == 'n' || c == 'r' || c == 't')
			continue;
		if (c != 'u')
			return -1;
		u = scan_hex4(s);
		if (u <= 0 || (u >= 0xdc00 && u <= 0xdfff))
			return -1;
		if (u >= 0xd800 && u <= 0xdbff) {
			if (s->end - s->p < 2 || s->p[0] != '\\' ||
			    s->p[1] != 'u')
				return -1;
			s->p += 2;
			lo = scan_hex4(s);
			if (lo < 0xdc00 || lo > 0xdfff)
				return -1;
		}
	}
	return -1;
}

/* One or more digits. */
static int
scan_digits(struct scan *s)
{
	const unsigned char *start = s->p;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > start ? 0 : -1;
}

/* A number (RFC 8259 section 6). */
static int
scan_number(struct scan *s)
{
	if (*s->p == '-')
		s->p++;
	if (s->p >= s->end)
		return -1;
	if (*s->p == '0')
		s->p++;
	else if (scan_digits(s) == -1)
		return -1;
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (scan_digits(s) == -1)
			return -1;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (scan_digits(s) == -1)
			return -1;
	}
	return 0;
}

/* An object or an array, the bracket at s->p. */
static int
scan_container(struct scan *s)
{
	unsigned char close = *s->p == '{' ? '}' : ']';
	int	      object = close == '}';

	if (++s->depth > SYNTAX_DEPTH)
		return -1;
	s->p++;
	scan_ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		s->depth--;
		return 0;
	}
	for (;;) {
		if (object) {
			if (s->p >= s->end || *s->p != '"' ||
			    scan_string(s) == -1)
				return -1;
			scan_ws(s);
			if (s->p >= s->end || *s->p != ':')
				return -1;
			s->p++;
		}
		if (scan_value(s) == -1)
			return -1;
		scan_ws(s);
		if (s->p >= s->end)
			return -1;
		if (*s->p == close) {
			s->p++;
			s->depth--;
			return 0;
		}
		if (*s->p != ',')
			return -1;
		s->p++;
		scan_ws(s);
	}
}

/* Any value, with the white space before it. */
static int
scan_value(struct scan *s)
{
	scan_ws(s);
	if (s->p >= s->end)
		return -1;
	switch (*s->p) {
	case '{':
	case '[':
		return scan_container(s);
	case '"':
		return scan_string(s);
	case 't':
		return scan_literal(s, "true");
	case 'f':
		return scan_literal(s, "false");
	case 'n':
		return scan_literal(s, "null");
	default:
		if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
			return scan_number(s);
		return -1;
	}
}

/* 1 if text (len bytes) is exactly one JSON value, white space around. */
int
syntax_json_ok(const char *text, size_t len)
{
	struct scan s;

	s.p = (const unsigned char *)text;
	s.end = s.p + len;
	s.depth = 0;
	if (scan_value(&s) == -1)
		return 0;
	scan_ws(&s);
	return s.p == s.end;
}

/*
 * 1 if s (len bytes) is well-formed UTF-8 (RFC 3629): no overlong
 * forms, no surrogates, nothing above U+10FFFF.
 */
int
utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t		     i = 0, n, k;
	unsigned long	     cp;

	while (i < len) {
		unsigned char c = s[i];

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else
			return 0;
		if (len - i - 1 < n)
			return 0;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}
