/*
 * png.h: a small real PNG image, built in memory.
 */
#ifndef STANDIN_PNG_H
#define STANDIN_PNG_H

#include <stdint.h>

struct evbuffer;

#define PNG_SIDE 64 /* width and height in pixels */

int png_build(uint64_t, struct evbuffer *);

#endif /* STANDIN_PNG_H */
