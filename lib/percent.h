/*
 * Percent-decoding of one value of a query string or form body (WHATWG
 * URL "application/x-www-form-urlencoded parsing", '+' as a space).
 */
#ifndef SCENEGEN_PERCENT_H
#define SCENEGEN_PERCENT_H

#include <stddef.h>

/* percent_decode()'s flag: only printable ASCII may come out. */
#define PERCENT_ASCII 0x1

/*
 * Decode s (len bytes) into out (max + 1 bytes, NUL added). Returns the
 * decoded length, or -1 for a broken escape, more than max bytes, or a
 * decoded control character (below 0x20, 0x7f; with PERCENT_ASCII any
 * byte outside 0x20..0x7e). Whether other bytes make UTF-8 is the
 * caller's to check.
 */
long percent_decode(const char *s, size_t len, char *out, size_t max,
    int flags);

#endif
