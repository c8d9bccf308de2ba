/*
 * text.h: making text from outside (the provider, Redis) safe to log and
 * to store: valid UTF-8, no control characters, a bounded length.
 */
#ifndef SCENEGEND_TEXT_H
#define SCENEGEND_TEXT_H

#include <stddef.h>

/*
 * Copy src (srclen bytes) into dst (at least 8 bytes): invalid UTF-8
 * and control characters become '?', and text that does not fit is cut
 * at a character boundary and ends in "...". Returns dst.
 */
char *text_clean(char *dst, size_t dstsize, const char *src, size_t srclen);

#endif
