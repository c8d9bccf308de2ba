/*
 * server.h: the HTTP side of the ModelsLab stand-in.
 *
 * One struct server per process, owned by main(): it owns the tables, the
 * hold list and both configurations; the evhttp and event base stay
 * main()'s.  Requests belong to evhttp; a handler ends each one once.
 */
#ifndef STANDIN_SERVER_H
#define STANDIN_SERVER_H

#include <stddef.h>

#include "settings.h"

struct event_base;
struct evhttp;
struct evhttp_request;

struct server {
	struct event_base    *base;
	struct evhttp	     *http;
	struct hold_list     *holds;
	struct gen_table     *gens;
	struct track_table   *tracks;	 /* creates by track_id */
	struct track_table   *anon;	 /* no track_id: by prompt */
	struct standin_config cfg;	 /* in force */
	struct standin_config start;	 /* as started, for a reset */
	char		      self[128]; /* "ADDR:PORT", for no Host */
	unsigned long	      creates_total;
	unsigned long	      fetches_total;
	unsigned long	      images_total;
	long		      sockets_base; /* sockets that are no client */
};

struct server *server_new(struct event_base *, struct evhttp *,
    const struct standin_config *, const char *);
void	       server_free(struct server *);
void	       server_mark_baseline(struct server *);
long	       server_connections(const struct server *);
void	       server_reset(struct server *);
void server_send(struct evhttp_request *, int, const char *, const char *,
    char *);

/* control.c */
void control_dispatch(struct server *, struct evhttp_request *, const char *);

#endif /* STANDIN_SERVER_H */
