/*
 * hold.c: delayed, hung and dropped replies.
 *
 * libevent 2.1's evhttp stops reading a connection while its request
 * waits for a reply, so it never notices a client that gives up on a hung
 * request.  A hang therefore also watches the socket itself and closes the
 * connection once the peer has closed its side (recv() peeks 0 bytes).
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "hold.h"

struct hold {
	TAILQ_ENTRY(hold)      link;
	struct hold_list      *list;
	struct evhttp_request *req;
	enum hold_kind	       kind;
	int		       code;
	const char	      *reason; /* static */
	struct event	      *timer;  /* NULL: no deadline */
	struct event	      *watch;  /* hang: peer-close watcher */
};

TAILQ_HEAD(hold_head, hold);

struct hold_list {
	struct event_base *base;
	struct hold_head   holds;
	size_t		   count;
};

/* An empty list on base; NULL when out of memory. */
struct hold_list *
hold_list_new(struct event_base *base)
{
	struct hold_list *l;

	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	l->base = base;
	TAILQ_INIT(&l->holds);
	return l;
}

/* Closes req's connection without an answer; frees req with it. */
static void
drop_request(struct evhttp_request *req)
{
	struct evhttp_connection *evcon;

	evcon = evhttp_request_get_connection(req);
	if (evcon != NULL)
		evhttp_connection_free(evcon);
	else
		evhttp_request_free(req);
}

/* Unlinks h and frees its events (first, while the socket is open). */
static void
hold_free(struct hold *h)
{
	if (h->timer != NULL)
		event_free(h->timer);
	if (h->watch != NULL)
		event_free(h->watch);
	TAILQ_REMOVE(&h->list->holds, h, link);
	h->list->count--;
	free(h);
}

/* Ends a held request the way its kind says, then forgets it. */
static void
hold_finish(struct hold *h)
{
	struct evhttp_request *req = h->req;
	enum hold_kind	       kind = h->kind;
	int		       code = h->code;
	const char	      *reason = h->reason;

	hold_free(h);
	if (kind == HOLD_SEND)
		evhttp_send_reply(req, code, reason, NULL);
	else
		drop_request(req);
}

/* Timer: the delay or the hang deadline has passed. */
static void
hold_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	hold_finish(arg);
}

/* Socket readable during a hang: a peer close ends it, data is left. */
static void
hold_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hold *h = arg;
	char	     c;
	ssize_t	     n;

	(void)what;
	n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == -1 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n > 0) {
		/* A pipelined request: keep hanging, stop looking. */
		event_del(h->watch);
		return;
	}
	hold_finish(h);
}

/* Seconds as a timeval. */
static struct timeval
to_tv(double s)
{
	struct timeval tv;

	if (s < 0.0)
		s = 0.0;
	tv.tv_sec = (time_t)floor(s);
	tv.tv_usec = (suseconds_t)((s - floor(s)) * 1e6);
	return tv;
}

/*
 * Ends req: HOLD_SEND sends the reply prepared on req (status code,
 * static reason) after secs; HOLD_DROP closes the connection after secs;
 * HOLD_HANG answers nothing and closes the connection when the client
 * does, or after secs unless secs is 0.  A send with no delay happens at
 * once.  When out of memory a send goes out at once, the others get 500.
 */
void
hold_reply(struct hold_list *l, struct evhttp_request *req, enum hold_kind kind,
    int code, const char *reason, double secs)
{
	struct evhttp_connection *evcon;
	struct bufferevent	 *bev;
	struct hold		 *h;
	struct timeval		  tv;
	evutil_socket_t		  fd;

	if (kind == HOLD_SEND && secs <= 0.0) {
		evhttp_send_reply(req, code, reason, NULL);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		goto fail;
	h->list = l;
	h->req = req;
	h->kind = kind;
	h->code = code;
	h->reason = reason;
	TAILQ_INSERT_TAIL(&l->holds, h, link);
	l->count++;

	if (kind != HOLD_HANG || secs > 0.0) {
		h->timer = evtimer_new(l->base, hold_timer_cb, h);
		tv = to_tv(secs);
		if (h->timer == NULL || evtimer_add(h->timer, &tv) == -1)
			goto fail;
	}
	if (kind == HOLD_HANG) {
		evcon = evhttp_request_get_connection(req);
		bev = evcon != NULL ? evhttp_connection_get_bufferevent(evcon) :
				      NULL;
		fd = bev != NULL ? bufferevent_getfd(bev) : -1;
		if (fd == -1)
			goto fail;
		h->watch = event_new(l->base, fd, EV_READ | EV_PERSIST,
		    hold_watch_cb, h);
		if (h->watch == NULL || event_add(h->watch, NULL) == -1)
			goto fail;
	}
	return;
fail:
	if (h != NULL)
		hold_free(h);
	if (kind == HOLD_SEND)
		evhttp_send_reply(req, code, reason, NULL);
	else
		evhttp_send_reply(req, 500, "Internal Server Error", NULL);
}

size_t
hold_count(const struct hold_list *l)
{
	return l->count;
}

/* Closes every held connection (a shutdown), then frees the list. */
void
hold_list_free(struct hold_list *l)
{
	struct evhttp_request *req;
	struct hold	      *h;

	if (l == NULL)
		return;
	for (;;) {
		h = TAILQ_FIRST(&l->holds);
		if (h == NULL)
			break;
		req = h->req;
		hold_free(h);
		drop_request(req);
	}
	free(l);
}
