/* UUIDs as canonical 36-character strings. */
#ifndef SCENEGEN_UUID_H
#define SCENEGEN_UUID_H

#include <stddef.h>

#define UUID_STR_LEN 36

/* 1 if s is exactly a canonical 8-4-4-4-12 hex UUID, else 0. */
int uuid_is_valid(const char *s);
/* Same for a string of known length (not NUL-terminated). */
int uuid_is_valid_n(const char *s, size_t len);
/* Write a random (version 4) UUID and NUL into out; -1 on failure. */
int uuid_generate(char out[UUID_STR_LEN + 1]);

#endif
