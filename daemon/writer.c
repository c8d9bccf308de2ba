/*
 * writer.c: the image writer thread; see writer.h.
 *
 * The loop appends to the todo list under the mutex and signals; the
 * thread takes the whole list, writes it as one batch, appends it to the
 * done list and wakes the loop through a pipe. Only the lists and the
 * stop flag are shared.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "storage.h"
#include "uuid.h"
#include "writer.h"

#define WRITER_BATCH_MAX 256

struct writer_item {
	STAILQ_ENTRY(writer_item) entry;
	char			  record_id[UUID_STR_LEN + 1];
	char			 *data; /* our copy, until written */
	struct storage_file	  file; /* what storage.c reads, says */
	writer_done_fn		 *done;
	void			 *arg;
};

STAILQ_HEAD(writer_list, writer_item);

struct writer {
	char		  *dir;
	pthread_t	   thread;
	int		   started;
	pthread_mutex_t	   mu;
	pthread_cond_t	   cv;
	struct writer_list todo;    /* shared, under mu */
	struct writer_list done;    /* shared, under mu */
	int		   stop;    /* shared, under mu */
	int		   wake[2]; /* thread -> loop */
	struct event	  *ev;
	size_t		   backlog; /* loop only */
};

static void
writer_item_free(struct writer_item *it)
{
	free(it->data);
	free(it);
}

static void
writer_list_free(struct writer_list *list)
{
	struct writer_item *it;

	for (it = STAILQ_FIRST(list); it != NULL; it = STAILQ_FIRST(list)) {
		STAILQ_REMOVE_HEAD(list, entry);
		writer_item_free(it);
	}
}

/* Write the items of batch (at most WRITER_BATCH_MAX) to disk. */
static void
writer_write(struct writer *w, struct writer_list *batch)
{
	struct storage_file *files[WRITER_BATCH_MAX];
	struct writer_item  *it;
	size_t		     n = 0;

	STAILQ_FOREACH (it, batch, entry)
		files[n++] = &it->file;
	storage_write_batch(w->dir, files, n);
	STAILQ_FOREACH (it, batch, entry) {
		free(it->data); /* written: the copy is no longer needed */
		it->data = NULL;
		it->file.data = NULL;
	}
}

/* The thread: take a batch, write it, hand it back, until told to stop. */
static void *
writer_main(void *arg)
{
	struct writer	   *w = arg;
	struct writer_list  batch;
	struct writer_item *it;
	size_t		    n;
	char		    b = 1;

	for (;;) {
		pthread_mutex_lock(&w->mu);
		while (!w->stop && STAILQ_EMPTY(&w->todo))
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop) {
			pthread_mutex_unlock(&w->mu);
			return NULL;
		}
		STAILQ_INIT(&batch);
		for (n = 0, it = STAILQ_FIRST(&w->todo);
		     n < WRITER_BATCH_MAX && it != NULL;
		     n++, it = STAILQ_FIRST(&w->todo)) {
			STAILQ_REMOVE_HEAD(&w->todo, entry);
			STAILQ_INSERT_TAIL(&batch, it, entry);
		}
		pthread_mutex_unlock(&w->mu);
		writer_write(w, &batch);
		pthread_mutex_lock(&w->mu);
		STAILQ_CONCAT(&w->done, &batch);
		pthread_mutex_unlock(&w->mu);
		/* A full pipe already means "wake up". */
		while (write(w->wake[1], &b, 1) == -1 && errno == EINTR)
			;
	}
}

/* Loop: the thread finished a batch; give each job its answer. */
static void
writer_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct writer	   *w = arg;
	struct writer_list  done;
	struct writer_item *it;
	char		    buf[64];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	STAILQ_INIT(&done);
	pthread_mutex_lock(&w->mu);
	STAILQ_CONCAT(&done, &w->done);
	pthread_mutex_unlock(&w->mu);
	for (it = STAILQ_FIRST(&done); it != NULL; it = STAILQ_FIRST(&done)) {
		STAILQ_REMOVE_HEAD(&done, entry);
		w->backlog--;
		it->done(it->arg, it->file.ok ? NULL : it->file.err);
		writer_item_free(it);
	}
}

size_t
writer_backlog(const struct writer *w)
{
	return w->backlog;
}

struct writer *
writer_new(struct event_base *base, const char *dir)
{
	struct writer *w;

	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	w->wake[0] = w->wake[1] = -1;
	STAILQ_INIT(&w->todo);
	STAILQ_INIT(&w->done);
	if (pthread_mutex_init(&w->mu, NULL) != 0) {
		free(w);
		return NULL;
	}
	if (pthread_cond_init(&w->cv, NULL) != 0) {
		pthread_mutex_destroy(&w->mu);
		free(w);
		return NULL;
	}
	w->dir = strdup(dir);
	if (w->dir == NULL || pipe2(w->wake, O_NONBLOCK | O_CLOEXEC) == -1)
		goto fail;
	w->ev = event_new(base, w->wake[0], EV_READ | EV_PERSIST,
	    writer_wake_cb, w);
	if (w->ev == NULL || event_add(w->ev, NULL) == -1)
		goto fail;
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0)
		goto fail;
	w->started = 1;
	return w;
fail:
	writer_free(w);
	return NULL;
}

void
writer_free(struct writer *w)
{
	if (w == NULL)
		return;
	if (w->started) {
		pthread_mutex_lock(&w->mu);
		w->stop = 1;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL);
	}
	writer_list_free(&w->todo);
	writer_list_free(&w->done);
	if (w->ev != NULL)
		event_free(w->ev);
	if (w->wake[0] != -1)
		close(w->wake[0]);
	if (w->wake[1] != -1)
		close(w->wake[1]);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w->dir);
	free(w);
}

int
writer_submit(struct writer *w, const char *record_id, const char *data,
    size_t len, writer_done_fn *done, void *arg)
{
	struct writer_item *it;

	it = calloc(1, sizeof(*it));
	if (it == NULL)
		return -1;
	it->data = malloc(len > 0 ? len : 1);
	if (it->data == NULL) {
		free(it);
		return -1;
	}
	memcpy(it->data, data, len);
	snprintf(it->record_id, sizeof(it->record_id), "%s", record_id);
	it->file.record_id = it->record_id;
	it->file.data = it->data;
	it->file.len = len;
	it->done = done;
	it->arg = arg;
	w->backlog++;
	pthread_mutex_lock(&w->mu);
	STAILQ_INSERT_TAIL(&w->todo, it, entry);
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}
