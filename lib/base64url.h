/* Unpadded base64url (RFC 4648 section 5, as RFC 7515 section 2 uses it). */
#ifndef SCENEGEN_BASE64URL_H
#define SCENEGEN_BASE64URL_H

#include <stddef.h>

/* Characters b64url_encode() writes for len bytes, without the NUL. */
#define B64URL_LEN(len) (((len) / 3) * 4 + ((len) % 3 == 0 ? 0 : (len) % 3 + 1))

/*
 * Decode s (len characters) strictly: only the 64 characters, no '=', no
 * impossible length, unused bits zero (so every value has exactly one
 * encoding). out (cap bytes) gets a NUL after the bytes. Returns the
 * decoded length, or -1.
 */
long b64url_decode(const char *s, size_t len, unsigned char *out, size_t cap);
/*
 * Encode len bytes into out (cap bytes, NUL-terminated). Returns the
 * length written, or -1 when out is too small.
 */
long b64url_encode(const unsigned char *in, size_t len, char *out, size_t cap);

#endif
