/*
 * Growable byte buffers with a hard size cap, for anything an outsider
 * fills (request bodies, provider answers). Data is always NUL-terminated.
 */
#ifndef SCENEGEN_BUF_H
#define SCENEGEN_BUF_H

#include <stddef.h>

struct buf {
	char  *data;
	size_t len;
	size_t cap;
	size_t max; /* appends past this many bytes fail */
};

void buf_init(struct buf *, size_t max);
/* Append; 0 on success, -1 when over the cap or out of memory. */
int  buf_append(struct buf *, const void *, size_t);
int  buf_append_str(struct buf *, const char *);
int  buf_printf(struct buf *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *);
void buf_free(struct buf *);

#endif
