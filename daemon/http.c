/*
 * http.c: curl multi socket API on libevent; see http.h.
 *
 * curl tells us which sockets to watch (http_sock_cb) and when to call it
 * back (http_timer_cb); libevent tells curl what happened. Finished
 * transfers are collected after curl_multi_socket_action() returns, so a
 * completion callback never runs inside a curl callback and may start or
 * cancel other transfers.
 *
 * At most HTTP_MAX_RUNNING transfers run at once; the others wait in a
 * FIFO as a few copied strings, and get their curl handle (and its
 * buffers) only when a slot frees. Ten thousand jobs starting together
 * cost ten thousand small records, not ten thousand transfers.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/event.h>

#include "http.h"
#include "netaddr.h"
#include "secret.h"

#define HTTP_MAX_RUNNING 256 /* transfers at once */
#define HTTP_MAX_CACHED	 64  /* idle connections kept */

struct http_req {
	TAILQ_ENTRY(http_req) entry;
	struct http	     *h;
	CURL		     *easy; /* NULL while waiting */
	struct curl_slist    *headers;
	struct buf	      body;
	char		     *errbuf; /* CURL_ERROR_SIZE, once running */
	double		      retry_after;
	int		      too_large;
	struct http_done      done;
	/* The options, kept until the transfer starts. */
	char		     *url;
	char		     *post_body;
	double		      timeout;
	double		      connect_timeout;
	int		      follow;
	char		     *unix_socket; /* NULL: the URL's host */
	int		      fresh;
	int		      public_only;
};

TAILQ_HEAD(http_req_list, http_req);

struct http {
	struct event_base   *base;
	CURLM		    *multi;
	struct event	    *timer;
	struct event	    *admit;   /* start waiting transfers */
	struct http_req_list reqs;    /* running */
	struct http_req_list waiting; /* for a free slot */
	int		     nrunning;
	int		     nwaiting;
};

/* What we watch for one socket curl uses. */
struct http_sock {
	struct http  *h;
	struct event *ev;
	curl_socket_t fd;
	int	      what;
};

static void http_check_done(struct http *);

static void
http_req_free(struct http_req *r)
{
	if (r->easy != NULL)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	buf_free(&r->body);
	free(r->errbuf);
	free(r->url);
	free(r->unix_socket);
	secret_free(r->post_body);
	free(r);
}

/* A slot is free: start waiting transfers from the loop, not from here. */
static void
http_slot_freed(struct http *h)
{
	if (h->nwaiting > 0)
		event_active(h->admit, 0, 0);
}

/* libevent saw activity on a socket: tell curl. */
static void
http_event_cb(evutil_socket_t fd, short kind, void *arg)
{
	struct http *h = arg;
	int	     action = 0, running;

	if (kind & EV_READ)
		action |= CURL_CSELECT_IN;
	if (kind & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	/*
	 * No evtimer_del() when nothing runs: a completion callback may
	 * just have started a transfer; curl disarms the timer itself.
	 */
	curl_multi_socket_action(h->multi, fd, action, &running);
	http_check_done(h);
}

/* curl's timeout expired. */
static void
http_timeout_cb(evutil_socket_t fd, short kind, void *arg)
{
	struct http *h = arg;
	int	     running;

	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	http_check_done(h);
}

/* CURLMOPT_TIMERFUNCTION: arm or disarm our one timer. */
static int
http_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct http   *h = userp;
	struct timeval tv;

	if (timeout_ms < 0) {
		evtimer_del(h->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(h->timer, &tv);
	return 0;
}

/* CURLMOPT_SOCKETFUNCTION: watch, change or forget a socket. */
static int
http_sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct http	 *h = userp;
	struct http_sock *hs = socketp;
	short		  kind;

	if (what == CURL_POLL_REMOVE) {
		if (hs != NULL) {
			if (hs->ev != NULL)
				event_free(hs->ev);
			free(hs);
			curl_multi_assign(h->multi, s, NULL);
		}
		return 0;
	}
	if (hs == NULL) {
		hs = calloc(1, sizeof(*hs));
		if (hs == NULL)
			return -1; /* curl fails the transfer */
		hs->h = h;
		hs->fd = s;
		curl_multi_assign(h->multi, s, hs);
	}
	kind = EV_PERSIST;
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (hs->ev != NULL)
		event_free(hs->ev);
	hs->ev = event_new(h->base, s, kind, http_event_cb, h);
	if (hs->ev == NULL || event_add(hs->ev, NULL) == -1)
		return -1;
	hs->what = what;
	return 0;
}

/* CURLOPT_WRITEFUNCTION: keep the body, refuse past the cap. */
static size_t
http_write_cb(char *data, size_t size, size_t n, void *userp)
{
	struct http_req *r = userp;

	if (buf_append(&r->body, data, size * n) == -1) {
		r->too_large = 1;
		return 0;
	}
	return size * n;
}

/* CURLOPT_HEADERFUNCTION: note Retry-After (seconds or an HTTP date). */
static size_t
http_header_cb(char *data, size_t size, size_t n, void *userp)
{
	struct http_req *r = userp;
	size_t		 len = size * n, i;
	char		 value[128], *end;
	double		 v;
	time_t		 t;

	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		r->retry_after = -1; /* a new response (redirect) */
		return len;
	}
	if (len < 12 || strncasecmp(data, "Retry-After:", 12) != 0)
		return len;
	for (i = 12; i < len && (data[i] == ' ' || data[i] == '\t'); i++)
		continue;
	if (len - i >= sizeof(value))
		return len;
	memcpy(value, data + i, len - i);
	value[len - i] = '\0';
	value[strcspn(value, "\r\n")] = '\0';
	v = strtod(value, &end);
	if (end != value && *end == '\0' && v >= 0 && v < 86400) {
		r->retry_after = v;
		return len;
	}
	t = curl_getdate(value, NULL);
	if (t != -1 && t > time(NULL) && t - time(NULL) < 86400)
		r->retry_after = (double)(t - time(NULL));
	return len;
}

/* Collect finished transfers and call their owners back. */
static void
http_check_done(struct http *h)
{
	struct http_result res;
	struct http_req	  *r;
	CURLMsg		  *msg;
	char		  *priv;
	int		   left;

	for (msg = curl_multi_info_read(h->multi, &left); msg != NULL;
	     msg = curl_multi_info_read(h->multi, &left)) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		priv = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		r = (struct http_req *)priv;
		memset(&res, 0, sizeof(res));
		res.code = msg->data.result;
		curl_multi_remove_handle(h->multi, r->easy);
		TAILQ_REMOVE(&h->reqs, r, entry);
		h->nrunning--;
		http_slot_freed(h);
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res.status);
		curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME, &res.seconds);
		res.error = r->errbuf != NULL && r->errbuf[0] != '\0' ?
		    r->errbuf :
		    curl_easy_strerror(res.code);
		res.body = &r->body;
		/* Past the cap as it came, or as announced (curl stops early). */
		res.too_large = r->too_large ||
		    res.code == CURLE_FILESIZE_EXCEEDED;
		res.retry_after = r->retry_after;
		if (r->body.data == NULL && buf_append(&r->body, "", 0) == -1)
			res.too_large = 1;
		r->done.fn(&res, r->done.arg);
		http_req_free(r);
	}
}

/*
 * CURLOPT_OPENSOCKETFUNCTION of a public_only transfer: a socket only for
 * a public address, so a host that resolves (or re-resolves) to a
 * private one is never connected to.
 */
static curl_socket_t
http_open_public(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	if (purpose != CURLSOCKTYPE_IPCXN || !netaddr_public(&a->addr))
		return CURL_SOCKET_BAD;
	return socket(a->family, a->socktype, a->protocol);
}

/* Give r its curl handle and start it; -1 when out of memory. */
static int
http_launch(struct http *h, struct http_req *r)
{
	CURL *e;

	r->errbuf = calloc(1, CURL_ERROR_SIZE);
	e = r->easy = curl_easy_init();
	if (e == NULL || r->errbuf == NULL)
		return -1;
	if (curl_easy_setopt(e, CURLOPT_URL, r->url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_write_cb) !=
		CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, r) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, http_header_cb) !=
		CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERDATA, r) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
		(long)(r->timeout * 1000)) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
		(long)(r->connect_timeout * 1000)) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") !=
		CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_USERAGENT, "scenegend/1") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
		(curl_off_t)r->body.max) != CURLE_OK)
		return -1;
	if (r->post_body != NULL &&
	    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, r->post_body) !=
		CURLE_OK)
		return -1;
	if (r->fresh &&
	    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L) != CURLE_OK)
		return -1;
	if (r->unix_socket != NULL &&
	    curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, r->unix_socket) !=
		CURLE_OK)
		return -1;
	if (r->public_only &&
	    (curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION,
		 http_open_public) != CURLE_OK ||
		curl_easy_setopt(e, CURLOPT_NOPROXY, "*") != CURLE_OK))
		return -1;
	if (!r->follow &&
	    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK)
		return -1;
	if (r->follow &&
	    (curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK ||
		curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L) != CURLE_OK ||
		curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR,
		    "http,https") != CURLE_OK))
		return -1;
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK)
		return -1;
	/* curl has its own copies now. */
	secret_free(r->post_body);
	free(r->url);
	free(r->unix_socket);
	r->post_body = r->url = r->unix_socket = NULL;
	TAILQ_INSERT_TAIL(&h->reqs, r, entry);
	h->nrunning++;
	return 0;
}

/* Loop: start waiting transfers while there are free slots. */
static void
http_admit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http	  *h = arg;
	struct http_req	  *r;
	struct http_result res;

	for (r = TAILQ_FIRST(&h->waiting);
	     h->nrunning < HTTP_MAX_RUNNING && r != NULL;
	     r = TAILQ_FIRST(&h->waiting)) {
		TAILQ_REMOVE(&h->waiting, r, entry);
		h->nwaiting--;
		if (http_launch(h, r) == 0)
			continue;
		/* Could not start: the owner hears of it as a failure. */
		memset(&res, 0, sizeof(res));
		res.code = CURLE_OUT_OF_MEMORY;
		res.error = curl_easy_strerror(res.code);
		res.retry_after = -1;
		if (buf_append(&r->body, "", 0) == -1)
			res.too_large = 1;
		res.body = &r->body;
		r->done.fn(&res, r->done.arg);
		http_req_free(r);
	}
}

/* A curl multi handle with our callbacks; NULL when out of memory. */
static CURLM *
http_multi_new(struct http *h)
{
	CURLM *m;

	m = curl_multi_init();
	if (m == NULL)
		return NULL;
	curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, http_sock_cb);
	curl_multi_setopt(m, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, http_timer_cb);
	curl_multi_setopt(m, CURLMOPT_TIMERDATA, h);
	curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)HTTP_MAX_CACHED);
	return m;
}

void
http_release_idle(struct http *h)
{
	CURLM *m;

	if (h->nrunning > 0 || h->nwaiting > 0)
		return;
	m = http_multi_new(h);
	if (m == NULL)
		return;
	curl_multi_cleanup(h->multi); /* closes the idle connections */
	h->multi = m;
	evtimer_del(h->timer);
}

struct http *
http_new(struct event_base *base)
{
	struct http *h;

	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	h->base = base;
	TAILQ_INIT(&h->reqs);
	TAILQ_INIT(&h->waiting);
	h->multi = http_multi_new(h);
	h->timer = evtimer_new(base, http_timeout_cb, h);
	h->admit = event_new(base, -1, 0, http_admit_cb, h);
	if (h->multi == NULL || h->timer == NULL || h->admit == NULL) {
		http_free(h);
		return NULL;
	}
	return h;
}

void
http_free(struct http *h)
{
	struct http_req *r;

	if (h == NULL)
		return;
	for (r = TAILQ_FIRST(&h->reqs); r != NULL; r = TAILQ_FIRST(&h->reqs))
		http_cancel(r);
	for (r = TAILQ_FIRST(&h->waiting); r != NULL;
	     r = TAILQ_FIRST(&h->waiting))
		http_cancel(r);
	if (h->multi != NULL)
		curl_multi_cleanup(h->multi);
	if (h->timer != NULL)
		event_free(h->timer);
	if (h->admit != NULL)
		event_free(h->admit);
	free(h);
}

struct http_req *
http_start(struct http *h, const struct http_opts *o, struct http_done done)
{
	struct http_req	  *r;
	struct curl_slist *l;
	size_t		   i;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->h = h;
	r->done = done;
	r->retry_after = -1;
	r->timeout = o->timeout;
	r->connect_timeout = o->connect_timeout;
	r->follow = o->follow;
	r->fresh = o->fresh;
	r->public_only = o->public_only;
	buf_init(&r->body, o->max_body);
	if (o->unix_socket != NULL) {
		r->unix_socket = strdup(o->unix_socket);
		if (r->unix_socket == NULL)
			goto fail;
	}
	r->url = strdup(o->url);
	if (r->url == NULL)
		goto fail;
	if (o->post_body != NULL) {
		r->post_body = strdup(o->post_body);
		if (r->post_body == NULL)
			goto fail;
	}
	/* "Expect:" off: no 100-continue round trip for larger bodies. */
	l = curl_slist_append(NULL, "Expect:");
	if (l == NULL)
		goto fail;
	r->headers = l;
	for (i = 0; o->headers != NULL && o->headers[i] != NULL; i++) {
		l = curl_slist_append(r->headers, o->headers[i]);
		if (l == NULL)
			goto fail;
		r->headers = l;
	}
	if (h->nrunning < HTTP_MAX_RUNNING && h->nwaiting == 0) {
		if (http_launch(h, r) == -1)
			goto fail;
		return r;
	}
	TAILQ_INSERT_TAIL(&h->waiting, r, entry);
	h->nwaiting++;
	return r;
fail:
	http_req_free(r);
	return NULL;
}

void
http_cancel(struct http_req *r)
{
	struct http *h;

	if (r == NULL)
		return;
	h = r->h;
	if (r->easy != NULL) { /* running (a waiting one has none) */
		curl_multi_remove_handle(h->multi, r->easy);
		TAILQ_REMOVE(&h->reqs, r, entry);
		h->nrunning--;
		http_slot_freed(h);
	} else {
		TAILQ_REMOVE(&h->waiting, r, entry);
		h->nwaiting--;
	}
	http_req_free(r);
}

int
http_running(const struct http *h)
{
	return h->nrunning + h->nwaiting;
}
