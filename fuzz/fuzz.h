/*
 * fuzz.h: helpers shared by the libFuzzer harnesses in fuzz/: an
 * invariant check that aborts (so libFuzzer keeps the input), a copy of
 * the input as a C string in its own allocation (so ASan sees any read
 * past it), and a reference UTF-8 check written from the ABNF of RFC 3629
 * section 4, independent of the checks in cgi/ and daemon/.
 */
#ifndef SCENEGEN_FUZZ_H
#define SCENEGEN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int LLVMFuzzerInitialize(int *, char ***);

/* A broken promise: say which and abort, so the input is kept. */
#define FUZZ_CHECK(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", \
			    #cond, __FILE__, __LINE__); \
			abort(); \
		} \
	} while (0)

/*
 * 1 if the comma-separated list in $FUZZ_KNOWN names name: an invariant
 * that a reported, not yet fixed, bug breaks, skipped so that a long run
 * can go on past it. CI sets nothing: every invariant holds there.
 */
static inline int
fuzz_known(const char *name)
{
	const char *k = getenv("FUZZ_KNOWN"), *p;
	size_t	    n = strlen(name);

	for (p = k; p != NULL && *p != '\0'; p += strcspn(p, ",")) {
		p += *p == ',';
		if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return 1;
	}
	return 0;
}

/* FUZZ_CHECK() unless $FUZZ_KNOWN names the bug that breaks it. */
#define FUZZ_CHECK_KNOWN(name, cond) \
	do { \
		if (!(cond) && !fuzz_known(name)) { \
			fprintf(stderr, \
			    "fuzz invariant failed [%s]: %s " \
			    "(%s:%d)\n", \
			    name, #cond, __FILE__, __LINE__); \
			abort(); \
		} \
	} while (0)

/*
 * The first len bytes of data as a new NUL-terminated string, cut at the
 * first NUL (what a C string API such as getenv() or FCGX_GetParam()
 * can carry). Never NULL: aborts when out of memory.
 */
static inline char *
fuzz_cstr(const uint8_t *data, size_t len)
{
	const uint8_t *nul = memchr(data, '\0', len);
	char	      *s;

	if (nul != NULL)
		len = (size_t)(nul - data);
	s = malloc(len + 1);
	if (s == NULL)
		abort();
	if (len > 0)
		memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

/* The first len bytes of data in a buffer of exactly len bytes. */
static inline char *
fuzz_bytes(const uint8_t *data, size_t len)
{
	char *s = malloc(len > 0 ? len : 1);

	if (s == NULL)
		abort();
	if (len > 0)
		memcpy(s, data, len);
	return s;
}

/*
 * The first len bytes of data placed so that the byte after them is an
 * unmapped page: a read past the end faults even inside a library that
 * ASan does not instrument (cJSON, OpenSSL). len is at most 1 MiB; the
 * result is valid until the next call.
 */
static inline char *
fuzz_guarded(const uint8_t *data, size_t len)
{
	static char  *base;
	static size_t cap;
	long	      page;

	if (base == NULL) {
		page = sysconf(_SC_PAGESIZE);
		cap = 1024 * 1024;
		base = mmap(NULL, cap + (size_t)page, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (base == MAP_FAILED ||
		    mprotect(base + cap, (size_t)page, PROT_NONE) == -1)
			abort();
	}
	if (len > cap)
		abort();
	if (len > 0)
		memcpy(base + cap - len, data, len);
	return base + cap - len;
}

/* 1 if c is a continuation byte in [lo, hi] (RFC 3629 UTF8-tail is 80-BF). */
static inline int
fuzz_in(unsigned char c, unsigned char lo, unsigned char hi)
{
	return c >= lo && c <= hi;
}

/*
 * 1 if s (len bytes) matches UTF8-octets of RFC 3629 section 4: each
 * lead byte with exactly the second-byte range the ABNF allows.
 */
static inline int
fuzz_utf8_ok(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t		     i = 0, need, k;
	unsigned char	     lo, hi, c;

	while (i < len) {
		c = s[i];
		lo = 0x80;
		hi = 0xbf;
		if (c <= 0x7f)
			need = 0;
		else if (fuzz_in(c, 0xc2, 0xdf))
			need = 1;
		else if (c == 0xe0) {
			need = 2;
			lo = 0xa0;
		} else if (fuzz_in(c, 0xe1, 0xec) || fuzz_in(c, 0xee, 0xef))
			need = 2;
		else if (c == 0xed) {
			need = 2;
			hi = 0x9f;
		} else if (c == 0xf0) {
			need = 3;
			lo = 0x90;
		} else if (fuzz_in(c, 0xf1, 0xf3))
			need = 3;
		else if (c == 0xf4) {
			need = 3;
			hi = 0x8f;
		} else
			return 0;
		if (len - i - 1 < need)
			return 0;
		if (need > 0 && !fuzz_in(s[i + 1], lo, hi))
			return 0;
		for (k = 2; k <= need; k++)
			if (!fuzz_in(s[i + k], 0x80, 0xbf))
				return 0;
		i += need + 1;
	}
	return 1;
}

/* 1 if s has no C0 control character and no DEL. */
static inline int
fuzz_no_c0(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* 1 if s (NUL-terminated) is a UUID in lower case. */
static inline int
fuzz_uuid_lower(const char *s)
{
	size_t i;

	if (strlen(s) != 36)
		return 0;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!((s[i] >= '0' && s[i] <= '9') ||
			       (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return 1;
}

#endif
