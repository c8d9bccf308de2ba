/*
 * redis.c: one hiredis 0.14 async connection on libevent; see redis.h.
 *
 * Who frees what (hiredis rules): a reply belongs to hiredis and is freed
 * when our callback returns; a context is freed by hiredis after a failed
 * connect or a disconnect callback, so those callbacks forget it first.
 * Our per-command trampoline (struct rcmd) is freed by its callback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "log.h"
#include "redis.h"
#include "redis_script.h"
#include "redis_url.h"

#define RCONN_RETRY_MIN 0.25
#define RCONN_RETRY_MAX 10.0

/* The trampoline between hiredis and our callbacks. */
struct rcmd {
	struct rconn *rc;
	void (*fn)(redisReply *, const char *, void *);
	void		    *arg;
	struct redis_script *script; /* an EVALSHA of it; NULL otherwise */
	char		    *cmd;    /* that EVALSHA, sent again on NOSCRIPT */
	size_t		     cmdlen;
	int		     resent;
};

/* --- the libevent adapter, with its allocation checked --- */

static void
rconn_ev_read(evutil_socket_t fd, short what, void *arg)
{
	struct rconn *rc = arg;

	if (rc->ac != NULL)
		redisAsyncHandleRead(rc->ac);
}

static void
rconn_ev_write(evutil_socket_t fd, short what, void *arg)
{
	struct rconn *rc = arg;

	if (rc->ac != NULL)
		redisAsyncHandleWrite(rc->ac);
}

static void
rconn_add_read(void *p)
{
	event_add(((struct rconn *)p)->rev, NULL);
}

static void
rconn_del_read(void *p)
{
	event_del(((struct rconn *)p)->rev);
}

static void
rconn_add_write(void *p)
{
	event_add(((struct rconn *)p)->wev, NULL);
}

static void
rconn_del_write(void *p)
{
	event_del(((struct rconn *)p)->wev);
}

/* hiredis is done with the context: free its events. */
static void
rconn_cleanup(void *p)
{
	struct rconn *rc = p;

	if (rc->rev != NULL)
		event_free(rc->rev);
	if (rc->wev != NULL)
		event_free(rc->wev);
	rc->rev = rc->wev = NULL;
}

/* Hook ac into the loop; -1 when out of memory. */
static int
rconn_attach(struct rconn *rc, redisAsyncContext *ac)
{
	rc->rev = event_new(rc->base, ac->c.fd, EV_READ | EV_PERSIST,
	    rconn_ev_read, rc);
	rc->wev = event_new(rc->base, ac->c.fd, EV_WRITE, rconn_ev_write, rc);
	if (rc->rev == NULL || rc->wev == NULL) {
		rconn_cleanup(rc);
		return -1;
	}
	ac->ev.data = rc;
	ac->ev.addRead = rconn_add_read;
	ac->ev.delRead = rconn_del_read;
	ac->ev.addWrite = rconn_add_write;
	ac->ev.delWrite = rconn_del_write;
	ac->ev.cleanup = rconn_cleanup;
	event_add(rc->rev, NULL);
	event_add(rc->wev, NULL);
	return 0;
}

/* --- connections --- */

/* Plan the next connection attempt with a growing delay. */
static void
rconn_retry_later(struct rconn *rc)
{
	struct timeval tv;

	if (rc->closing)
		return;
	tv.tv_sec = (long)rc->retry_delay;
	tv.tv_usec = (long)((rc->retry_delay - (double)tv.tv_sec) * 1e6);
	evtimer_add(rc->retry, &tv);
	rc->retry_delay *= 2;
	if (rc->retry_delay > RCONN_RETRY_MAX)
		rc->retry_delay = RCONN_RETRY_MAX;
}

/* Note a connection problem once per outage. */
static void
rconn_log_down(struct rconn *rc, const char *why)
{
	if (!rc->logged_down)
		log_warn("redis %s connection: %s", rc->name,
		    why != NULL && *why != '\0' ? why : "lost");
	rc->logged_down = 1;
}

static void
rconn_on_connect(const redisAsyncContext *ac, int status)
{
	struct rconn *rc = ac->data;

	if (rc == NULL || rc->ac != ac)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback. */
		rconn_log_down(rc, ac->errstr);
		rc->ac = NULL;
		rc->up = 0;
		rconn_retry_later(rc);
		return;
	}
	if (rc->logged_down)
		log_info("redis %s connection up again", rc->name);
	else
		log_debug("redis %s connection up", rc->name);
	rc->logged_down = 0;
	rc->up = 1;
	rc->outstanding = 0;
	rc->retry_delay = RCONN_RETRY_MIN;
	rc->last_progress = clock_mono_ms();
	if (rc->on_up != NULL)
		rc->on_up(rc);
}

static void
rconn_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct rconn *rc = ac->data;

	if (rc == NULL || rc->ac != ac || rc->dropping)
		return;
	/* hiredis frees the context after this callback. */
	rconn_log_down(rc, ac->err ? ac->errstr : "closed by the server");
	rc->ac = NULL;
	rc->up = 0;
	if (rc->on_down != NULL)
		rc->on_down(rc);
	rconn_retry_later(rc);
}

/* Drop a connection now (a stall); callbacks get NULL replies. */
static void
rconn_drop(struct rconn *rc, const char *why)
{
	redisAsyncContext *ac = rc->ac;

	rconn_log_down(rc, why);
	rc->up = 0;
	if (rc->on_down != NULL)
		rc->on_down(rc);
	if (ac != NULL) {
		rc->dropping = 1;
		redisAsyncFree(ac);
		rc->dropping = 0;
	}
	rc->ac = NULL;
	rconn_retry_later(rc);
}

static void
rconn_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	rconn_connect(arg);
}

/* Log the answer to AUTH or SELECT when it is an error. */
static void
rconn_setup_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	redisReply *reply = r;

	if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
		log_err("redis %s: %s", (const char *)privdata, reply->str);
}

void
rconn_connect(struct rconn *rc)
{
	const struct redis_endpoint *ep = rc->ep;
	redisAsyncContext	    *ac;
	char			     db[16];

	if (ep->unix_path != NULL)
		ac = redisAsyncConnectUnix(ep->unix_path);
	else
		ac = redisAsyncConnect(ep->host, ep->port);
	if (ac == NULL) {
		rconn_log_down(rc, "out of memory");
		rconn_retry_later(rc);
		return;
	}
	if (ac->err) {
		rconn_log_down(rc, ac->errstr);
		redisAsyncFree(ac);
		rconn_retry_later(rc);
		return;
	}
	if (rconn_attach(rc, ac) == -1) {
		rconn_log_down(rc, "out of memory");
		redisAsyncFree(ac);
		rconn_retry_later(rc);
		return;
	}
	ac->data = rc;
	rc->ac = ac;
	rc->nloaded = 0; /* a new connection may reach a Redis without them */
	redisAsyncSetConnectCallback(ac, rconn_on_connect);
	redisAsyncSetDisconnectCallback(ac, rconn_on_disconnect);
	/* Queued before the connect completes; sent first. */
	if (ep->password != NULL && ep->username != NULL)
		redisAsyncCommand(ac, rconn_setup_cb, "AUTH", "AUTH %s %s",
		    ep->username, ep->password);
	else if (ep->password != NULL)
		redisAsyncCommand(ac, rconn_setup_cb, "AUTH", "AUTH %s",
		    ep->password);
	if (ep->db != 0) {
		snprintf(db, sizeof(db), "%d", ep->db);
		redisAsyncCommand(ac, rconn_setup_cb, "SELECT", "SELECT %s",
		    db);
	}
}

/*
 * Queue SCRIPT LOAD of s on rc unless this connection has loaded it;
 * whatever is sent after it finds it. -1 when the command could not be
 * queued.
 */
static int
rconn_load(struct rconn *rc, struct redis_script *s)
{
	const char *argv[] = { "SCRIPT", "LOAD", s->text };
	int	    i;

	for (i = 0; i < rc->nloaded; i++)
		if (rc->loaded[i] == s)
			return 0;
	if (redisAsyncCommandArgv(rc->ac, rconn_setup_cb, "SCRIPT LOAD", 3,
		argv, NULL) != REDIS_OK)
		return -1;
	if (rc->nloaded < RCONN_SCRIPTS_MAX)
		rc->loaded[rc->nloaded++] = s;
	return 0;
}

/* Count a command sent on rc. */
static void
rconn_sent(struct rconn *rc)
{
	if (rc->outstanding == 0)
		rc->last_progress = clock_mono_ms();
	rc->outstanding++;
}

static void rconn_cmd_cb(redisAsyncContext *, void *, void *);

/*
 * Redis answered c's EVALSHA with NOSCRIPT (a restart, a failover or
 * SCRIPT FLUSH behind our back): load the script and send the same
 * command once more. -1 when that could not be queued.
 */
static int
rconn_resend(struct rcmd *c)
{
	struct rconn *rc = c->rc;

	log_warn("redis %s: a dispatch script was not loaded; loading it "
		 "again",
	    rc->name);
	rc->nloaded = 0;
	if (rc->ac == NULL || rconn_load(rc, c->script) == -1 ||
	    redisAsyncFormattedCommand(rc->ac, rconn_cmd_cb, c, c->cmd,
		c->cmdlen) != REDIS_OK)
		return -1;
	c->resent = 1;
	rconn_sent(rc);
	return 0;
}

static void
rcmd_free(struct rcmd *c)
{
	if (c->cmd != NULL)
		redisFreeCommand(c->cmd);
	free(c);
}

/* hiredis's callback for every command we send. */
static void
rconn_cmd_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	struct rcmd  *c = privdata;
	struct rconn *rc = c->rc;
	redisReply   *reply = r;

	rc->outstanding--;
	rc->last_progress = clock_mono_ms();
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR &&
	    c->script != NULL && !c->resent && !rc->closing &&
	    redis_script_missing(reply->str) && rconn_resend(c) == 0)
		return;
	if (!rc->closing && c->fn != NULL) {
		if (reply == NULL)
			c->fn(NULL, ac->err ? ac->errstr : "connection lost",
			    c->arg);
		else if (reply->type == REDIS_REPLY_ERROR)
			c->fn(reply, reply->str != NULL ? reply->str : "error",
			    c->arg);
		else
			c->fn(reply, NULL, c->arg);
	}
	rcmd_free(c);
}

int
rconn_send(struct rconn *rc, int argc, const char **argv, const size_t *lens,
    void (*fn)(redisReply *, const char *, void *), void *arg)
{
	struct rcmd *c;

	if (!rc->up || rc->ac == NULL)
		return -1;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -1;
	c->rc = rc;
	c->fn = fn;
	c->arg = arg;
	if (redisAsyncCommandArgv(rc->ac, rconn_cmd_cb, c, argc, argv, lens) !=
	    REDIS_OK) {
		free(c);
		return -1;
	}
	rconn_sent(rc);
	return 0;
}

int
rconn_eval(struct rconn *rc, struct redis_script *s, int argc,
    const char **argv, const size_t			 *lens,
    void (*fn)(redisReply *, const char *, void *), void *arg)
{
	const char **av = NULL;
	size_t	    *lv = NULL;
	struct rcmd *c = NULL;
	int	     i, len;

	if (!rc->up || rc->ac == NULL)
		return -1;
	av = calloc((size_t)argc + 2, sizeof(*av));
	if (av == NULL)
		goto fail;
	if (lens != NULL) {
		lv = calloc((size_t)argc + 2, sizeof(*lv));
		if (lv == NULL)
			goto fail;
		lv[0] = strlen("EVALSHA");
		lv[1] = REDIS_SCRIPT_SHA_LEN;
	}
	av[0] = "EVALSHA";
	av[1] = redis_script_sha(s);
	for (i = 0; i < argc; i++) {
		av[i + 2] = argv[i];
		if (lv != NULL)
			lv[i + 2] = lens[i];
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto fail;
	len = redisFormatCommandArgv(&c->cmd, argc + 2, av, lv);
	if (len < 0)
		goto fail;
	c->cmdlen = (size_t)len;
	c->rc = rc;
	c->fn = fn;
	c->arg = arg;
	c->script = s;
	if (rconn_load(rc, s) == -1 ||
	    redisAsyncFormattedCommand(rc->ac, rconn_cmd_cb, c, c->cmd,
		c->cmdlen) != REDIS_OK)
		goto fail;
	rconn_sent(rc);
	free(av);
	free(lv);
	return 0;
fail:
	if (c != NULL)
		rcmd_free(c);
	free(av);
	free(lv);
	return -1;
}

void
rconn_watch(struct rconn *rc, int64_t now)
{
	char why[64];

	if (rc->ac == NULL || rc->outstanding <= 0 ||
	    now - rc->last_progress <= rc->limit_ms)
		return;
	snprintf(why, sizeof(why), "no answer for %lld ms, reconnecting",
	    (long long)(now - rc->last_progress));
	rconn_drop(rc, why);
}

int
rconn_init(struct rconn *rc, struct event_base *base,
    const struct redis_endpoint *ep, const char *name, int64_t limit_ms,
    void (*on_up)(struct rconn *), void (*on_down)(struct rconn *), void *arg)
{
	rc->base = base;
	rc->ep = ep;
	rc->name = name;
	rc->limit_ms = limit_ms;
	rc->retry_delay = RCONN_RETRY_MIN;
	rc->on_up = on_up;
	rc->on_down = on_down;
	rc->arg = arg;
	rc->retry = evtimer_new(base, rconn_retry_cb, rc);
	return rc->retry == NULL ? -1 : 0;
}

void
rconn_close(struct rconn *rc)
{
	rc->closing = 1;
	if (rc->ac != NULL) {
		rc->dropping = 1;
		redisAsyncFree(rc->ac);
		rc->ac = NULL;
	}
	if (rc->retry != NULL)
		event_free(rc->retry);
	rc->retry = NULL;
}
