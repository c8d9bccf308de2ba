/*
 * redis.h: one hiredis 0.14 async connection on libevent, for queue.c.
 *
 * A connection connects by itself (AUTH and SELECT queued ahead of
 * everything else) and reconnects after a loss with a growing delay.
 * hiredis 0.14 has no command timeouts, so rconn_watch() drops a
 * connection that owes a reply for longer than its limit.
 */
#ifndef SCENEGEND_REDIS_H
#define SCENEGEND_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

struct event;
struct event_base;
struct redis_endpoint;
struct redis_script;

#define RCONN_SCRIPTS_MAX 16 /* scripts remembered as loaded */

/* One Redis connection and what we know about it. */
struct rconn {
	struct event_base	    *base;
	const struct redis_endpoint *ep;
	const char		    *name;
	redisAsyncContext	    *ac;
	struct event		    *rev;
	struct event		    *wev;
	int			     up;
	int			     dropping;
	int			     closing;
	int			     logged_down;
	int			     outstanding;
	int64_t			     last_progress;
	int64_t			     limit_ms;
	double			     retry_delay;
	struct event		    *retry;
	void (*on_up)(struct rconn *);
	void (*on_down)(struct rconn *);
	void		    *arg; /* the owner's */
	/* Scripts this connection has loaded (redis_script.h). */
	struct redis_script *loaded[RCONN_SCRIPTS_MAX];
	int		     nloaded;
};

/*
 * Set up rc (not connected yet) for ep, which must outlive it; on_up runs
 * each time the connection is up, on_down (may be NULL) each time it is
 * lost. -1 when out of memory.
 */
int  rconn_init(struct rconn *rc, struct event_base *base,
     const struct redis_endpoint *ep, const char *name, int64_t limit_ms,
     void (*on_up)(struct rconn *), void (*on_down)(struct rconn *), void *arg);
/* Start a connection attempt (non-blocking); failures plan a retry. */
void rconn_connect(struct rconn *);
/*
 * Send one command on rc; fn(reply, err, arg) is called exactly once,
 * as struct queue_reply says. -1 (no callback) when down or out of memory.
 */
int  rconn_send(struct rconn *, int argc, const char **argv, const size_t *lens,
     void (*fn)(redisReply *, const char *, void *), void *arg);
/*
 * Run script s (EVALSHA) with argv (numkeys, keys, args) on rc, loading
 * it first on this connection and again after NOSCRIPT; fn as for
 * rconn_send(). -1 (no callback) when down or out of memory.
 */
int  rconn_eval(struct rconn *, struct redis_script *s, int argc,
     const char **argv, const size_t			  *lens,
     void (*fn)(redisReply *, const char *, void *), void *arg);
/* Drop rc when it owes a reply for longer than its limit at now (ms). */
void rconn_watch(struct rconn *, int64_t now);
/* Close rc for good; pending callbacks are not called. */
void rconn_close(struct rconn *);

#endif
