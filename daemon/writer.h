/*
 * writer.h: the image writer, a thread that puts downloaded images on
 * disk off the event loop. Images handed over while a batch is being
 * written form the next batch, so a busy daemon pays one disk flush for
 * many images (storage.h). Answers come back on the loop.
 */
#ifndef SCENEGEND_WRITER_H
#define SCENEGEND_WRITER_H

#include <stddef.h>

struct event_base;
struct writer;

/* Called on the loop: err NULL when the image is on disk. */
typedef void writer_done_fn(void *arg, const char *err);

/* Start the thread writing into dir; NULL when it cannot. */
struct writer *writer_new(struct event_base *, const char *dir);
/* Stop the thread (after its current batch); pending answers are dropped. */
void	       writer_free(struct writer *);
/* Images handed over and not answered yet (loop side). */
size_t	       writer_backlog(const struct writer *);
/*
 * Queue <dir>/<record_id>.png with a copy of data. 0: done() will be
 * called; -1: out of memory, it will not.
 */
int writer_submit(struct writer *, const char *record_id, const char *data,
    size_t len, writer_done_fn *done, void *arg);

#endif
