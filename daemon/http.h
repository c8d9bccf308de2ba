/*
 * http.h: HTTP client transfers on the event loop (curl multi socket API,
 * as in curl's hiperfifo.c). Each transfer owns its easy handle (found
 * again through CURLOPT_PRIVATE) and a capped body buffer; connections
 * are kept alive and reused by the multi handle.
 */
#ifndef SCENEGEND_HTTP_H
#define SCENEGEND_HTTP_H

#include <stddef.h>

#include <curl/curl.h>

#include "buf.h"

struct event_base;
struct http;
struct http_req;

struct http_result {
	CURLcode    code;	 /* CURLE_OK or the failure */
	const char *error;	 /* curl's sentence for code */
	long	    status;	 /* HTTP status, 0 if none */
	struct buf *body;	 /* capped; NUL-terminated */
	int	    too_large;	 /* the body passed the cap */
	double	    retry_after; /* Retry-After header, -1 none */
	double	    seconds;	 /* total time of the transfer */
};

/*
 * Called once when the transfer ends. The result and its body belong to
 * the transfer and are freed when the callback returns.
 */
struct http_done {
	void (*fn)(const struct http_result *, void *arg);
	void *arg;
};

struct http_opts {
	const char	  *url;
	const char	  *post_body; /* NULL: GET */
	const char *const *headers;   /* NULL-terminated or NULL */
	double		   timeout;
	double		   connect_timeout;
	size_t		   max_body;
	int		   follow; /* follow redirects (http/https) */
	/*
	 * A new connection: for calls that must not be sent twice. curl
	 * silently resends a request whose reused connection died before
	 * any answer; on a fresh connection it does not.
	 */
	int		   fresh;
	/* A local socket to connect to instead of the URL's host; NULL. */
	const char	  *unix_socket;
	/*
	 * Connect only to public addresses (lib/netaddr.h): each address
	 * curl resolved is checked as it opens the socket, so the checked
	 * address is the one connected to; no proxy is used.
	 */
	int		   public_only;
};

struct http	*http_new(struct event_base *);
/* Abort every transfer without calling back, and free. */
void		 http_free(struct http *);
/* Start a transfer; NULL (no callback) when out of memory. */
struct http_req *http_start(struct http *, const struct http_opts *,
    struct http_done);
/* Abort a transfer that has not called back yet; no callback. */
void		 http_cancel(struct http_req *);
/* With no transfer at all: close the idle connections kept for reuse. */
void		 http_release_idle(struct http *);
/* Transfers running or waiting for a slot. */
int		 http_running(const struct http *);

#endif
