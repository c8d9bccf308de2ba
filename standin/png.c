/*
 * png.c: a 64x64 RGB gradient PNG whose colours derive from a seed
 * (the generation id), so each generation has its own image.  The chunks
 * carry correct CRCs and the pixels a valid zlib stream (RFC 2083 / ISO
 * 15948), so image tools accept the file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <zlib.h>

#include "png.h"

#define ROW_BYTES (1 + PNG_SIDE * 3) /* filter byte, then RGB */
#define RAW_BYTES (ROW_BYTES * PNG_SIDE)

static const unsigned char png_signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n',
	0x1a, '\n' };

/* Stores v big-endian in p[0..3]. */
static void
put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* Appends one chunk: length, type, data, CRC of type and data. */
static int
add_chunk(struct evbuffer *out, const char *type, const unsigned char *data,
    uint32_t len)
{
	unsigned char head[8], tail[4];
	uLong	      crc;

	put_be32(head, len);
	memcpy(head + 4, type, 4);
	crc = crc32(0L, Z_NULL, 0);
	crc = crc32(crc, head + 4, 4);
	if (len > 0)
		crc = crc32(crc, data, len);
	put_be32(tail, (uint32_t)crc);
	if (evbuffer_add(out, head, sizeof(head)) == -1 ||
	    (len > 0 && evbuffer_add(out, data, len) == -1) ||
	    evbuffer_add(out, tail, sizeof(tail)) == -1)
		return -1;
	return 0;
}

/* Fills raw with unfiltered scanlines of a gradient coloured by seed. */
static void
fill_pixels(unsigned char *raw, uint64_t seed)
{
	uint64_t       h;
	unsigned char *row;
	unsigned int   x, y, r, g, b;

	h = seed * 0x9e3779b97f4a7c15ULL;
	h ^= h >> 29;
	r = (unsigned int)(h & 0xff);
	g = (unsigned int)((h >> 8) & 0xff);
	b = (unsigned int)((h >> 16) & 0xff);
	for (y = 0; y < PNG_SIDE; y++) {
		row = raw + (size_t)y * ROW_BYTES;
		row[0] = 0; /* filter type None */
		for (x = 0; x < PNG_SIDE; x++) {
			row[1 + x * 3] = (unsigned char)(r + x * 3);
			row[2 + x * 3] = (unsigned char)(g + y * 3);
			row[3 + x * 3] = (unsigned char)(b + (x + y) * 2);
		}
	}
}

/*
 * Appends a complete PNG file for seed to out.  Returns 0, or -1 when
 * memory or zlib fails (out may then hold a partial file).
 */
int
png_build(uint64_t seed, struct evbuffer *out)
{
	unsigned char  ihdr[13];
	unsigned char *raw = NULL, *z = NULL;
	uLongf	       zlen;
	int	       rc = -1;

	raw = malloc(RAW_BYTES);
	zlen = compressBound(RAW_BYTES);
	z = malloc(zlen);
	if (raw == NULL || z == NULL)
		goto fail;
	fill_pixels(raw, seed);
	/*
	 * Stored, not deflated (12 KB): in a drain the stand-in sends
	 * thousands of images a second, and deflating them was 40% of its
	 * CPU, taken from the daemon being measured on the same cores.
	 */
	if (compress2(z, &zlen, raw, RAW_BYTES, Z_NO_COMPRESSION) != Z_OK)
		goto fail;

	put_be32(ihdr, PNG_SIDE);
	put_be32(ihdr + 4, PNG_SIDE);
	ihdr[8] = 8;  /* bit depth */
	ihdr[9] = 2;  /* colour type: truecolour RGB */
	ihdr[10] = 0; /* compression: deflate */
	ihdr[11] = 0; /* filter method */
	ihdr[12] = 0; /* no interlace */

	if (evbuffer_add(out, png_signature, sizeof(png_signature)) == -1 ||
	    add_chunk(out, "IHDR", ihdr, sizeof(ihdr)) == -1 ||
	    add_chunk(out, "IDAT", z, (uint32_t)zlen) == -1 ||
	    add_chunk(out, "IEND", NULL, 0) == -1)
		goto fail;
	rc = 0;
fail:
	free(raw);
	free(z);
	return rc;
}
