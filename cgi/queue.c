/*
 * The worker's Redis connection (hiredis, synchronous, 2 s timeouts):
 * opened on first use, freed on any connection error and opened again
 * by the next command. Commands of one request go out in one pipelined
 * round trip. Replies are ours to free (freeReplyObject).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "dispatch.h"
#include "keys.h"
#include "log.h"
#include "redis_script.h"
#include "redis_sync.h"
#include "extern.h"

#define QUEUE_TIMEOUT_S 2
#define PIPE_MAX	4
#define RATE_WINDOW_S	60

int
queue_init(struct queue *q, const char *url, char *err, size_t errlen)
{
	memset(q, 0, sizeof(*q));
	return redis_url_parse(url, &q->ep, err, errlen);
}

void
queue_close(struct queue *q)
{
	if (q->ctx != NULL)
		redisFree(q->ctx);
	q->ctx = NULL;
	redis_endpoint_free(&q->ep);
}

/* Drop a broken connection; the next command connects again. */
static void
queue_drop(struct queue *q)
{
	if (q->ctx != NULL)
		redisFree(q->ctx);
	q->ctx = NULL;
}

/* Connect, authenticate and select the database; -1 (logged) if not. */
static int
queue_connect(struct queue *q)
{
	char err[512];

	if (q->ctx != NULL)
		return 0;
	q->ctx = redis_sync_connect(&q->ep, QUEUE_TIMEOUT_S, err, sizeof(err));
	if (q->ctx == NULL) {
		log_warn("%s", err);
		return -1;
	}
	return 0;
}

struct pipe {
	int		     n;
	int		     argc[PIPE_MAX];
	const char	    *argv[PIPE_MAX][10];
	struct redis_script *script[PIPE_MAX]; /* EVALSHA of it, or NULL */
	redisReply	    *reply[PIPE_MAX];  /* ours: pipe_free() */
};

/*
 * Replies of p that say NOSCRIPT (Redis restarted or flushed its
 * scripts): run those commands again as EVAL, which loads the script
 * for the next EVALSHA. -1 when the connection broke meanwhile.
 */
static int
pipe_reload_scripts(redisContext *c, struct pipe *p)
{
	const char *argv[10];
	redisReply *r;
	int	    i, j;

	for (i = 0; i < p->n; i++) {
		if (p->script[i] == NULL ||
		    p->reply[i]->type != REDIS_REPLY_ERROR ||
		    !redis_script_missing(p->reply[i]->str))
			continue;
		argv[0] = "EVAL";
		argv[1] = p->script[i]->text;
		for (j = 2; j < p->argc[i]; j++)
			argv[j] = p->argv[i][j];
		r = redisCommandArgv(c, p->argc[i], argv, NULL);
		if (r == NULL)
			return -1;
		freeReplyObject(p->reply[i]);
		p->reply[i] = r;
	}
	return 0;
}

/*
 * Send the commands of p in one round trip and read every reply. A
 * broken connection is dropped and the whole pipeline tried once more
 * on a new one (every command we pipeline may safely run twice).
 * Returns -1 (logged) when Redis could not be reached.
 */
static int
queue_pipeline(struct queue *q, struct pipe *p)
{
	void *r;
	int   attempt, i;

	memset(p->reply, 0, sizeof(p->reply));
	for (attempt = 0; attempt < 2; attempt++) {
		if (queue_connect(q) == -1)
			return -1;
		for (i = 0; i < p->n; i++)
			if (redisAppendCommandArgv(q->ctx, p->argc[i],
				p->argv[i], NULL) != REDIS_OK)
				break;
		if (i == p->n)
			for (i = 0; i < p->n; i++) {
				if (redisGetReply(q->ctx, &r) != REDIS_OK)
					break;
				p->reply[i] = r;
			}
		if (i == p->n && pipe_reload_scripts(q->ctx, p) == 0)
			return 0;
		log_warn("redis: %s: reconnecting", q->ctx->errstr);
		for (i = 0; i < p->n; i++) {
			if (p->reply[i] != NULL)
				freeReplyObject(p->reply[i]);
			p->reply[i] = NULL;
		}
		queue_drop(q);
	}
	return -1;
}

static void
pipe_free(struct pipe *p)
{
	int i;

	for (i = 0; i < p->n; i++)
		if (p->reply[i] != NULL)
			freeReplyObject(p->reply[i]);
	p->n = 0;
}

/* Add a command of up to 10 words to p. */
static void
pipe_add(struct pipe *p, int argc, const char **argv)
{
	int i;

	for (i = 0; i < argc; i++)
		p->argv[p->n][i] = argv[i];
	p->script[p->n] = NULL;
	p->argc[p->n++] = argc;
}

/* Add to p script s run on argv (numkeys, keys, args; up to 8 words). */
static void
pipe_add_script(struct pipe *p, struct redis_script *s, int argc,
    const char **argv)
{
	int i;

	p->argv[p->n][0] = "EVALSHA";
	p->argv[p->n][1] = redis_script_sha(s);
	for (i = 0; i < argc; i++)
		p->argv[p->n][i + 2] = argv[i];
	p->script[p->n] = s;
	p->argc[p->n++] = argc + 2;
}

/* Add the reads the estimate needs: XLEN, XINFO GROUPS, HMGET stats. */
static void
pipe_add_stats(struct pipe *p)
{
	const char *xlen[] = { "XLEN", KEY_JOB_STREAM };
	const char *xinfo[] = { "XINFO", "GROUPS", KEY_JOB_STREAM };
	const char *hmget[] = { "HMGET", KEY_STATS_HASH, "avg_generation_ms",
		"capacity" };

	pipe_add(p, 2, xlen);
	pipe_add(p, 3, xinfo);
	pipe_add(p, 4, hmget);
}

/* A number from a string reply; -1 if it is not one. */
static int
reply_number(const redisReply *r, double *v)
{
	char *end;

	if (r == NULL || r->type != REDIS_REPLY_STRING || r->len == 0 ||
	    r->len > 32)
		return -1;
	errno = 0;
	*v = strtod(r->str, &end);
	return errno == 0 && *end == '\0' && *v >= 0 ? 0 : -1;
}

/*
 * Our consumer group's lag + pending from XINFO GROUPS (RESP2: one flat
 * field/value array per group): jobs not yet delivered plus jobs being
 * worked on. -1 when the group is absent or Redis could not tell.
 */
static long
stats_group_depth(const redisReply *r)
{
	const redisReply *g;
	long		  lag = -1, pending = -1;
	size_t		  i, k;
	int		  ours;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return -1;
	for (i = 0; i < r->elements; i++) {
		g = r->element[i];
		if (g->type != REDIS_REPLY_ARRAY || g->elements % 2 != 0)
			continue;
		ours = 0;
		for (k = 0; k + 1 < g->elements; k += 2)
			if (g->element[k]->type == REDIS_REPLY_STRING &&
			    strcmp(g->element[k]->str, "name") == 0 &&
			    g->element[k + 1]->type == REDIS_REPLY_STRING &&
			    strcmp(g->element[k + 1]->str,
				KEY_CONSUMER_GROUP) == 0)
				ours = 1;
		if (!ours)
			continue;
		for (k = 0; k + 1 < g->elements; k += 2) {
			if (g->element[k]->type != REDIS_REPLY_STRING ||
			    g->element[k + 1]->type != REDIS_REPLY_INTEGER)
				continue;
			if (strcmp(g->element[k]->str, "lag") == 0)
				lag = (long)g->element[k + 1]->integer;
			else if (strcmp(g->element[k]->str, "pending") == 0)
				pending = (long)g->element[k + 1]->integer;
		}
	}
	if (lag < 0 || pending < 0)
		return -1;
	return lag + pending;
}

/* The average generation time and capacity of HMGET stats into st. */
static void
stats_from_avg(const redisReply *hm, struct queue_stats *st)
{
	double v;

	if (hm == NULL || hm->type != REDIS_REPLY_ARRAY || hm->elements != 2)
		return;
	if (reply_number(hm->element[0], &v) == 0 && v > 0) {
		st->avg_ms = v;
		st->have_avg = 1;
	}
	if (!st->have_capacity && reply_number(hm->element[1], &v) == 0 &&
	    v >= 1 && v < 1e9) {
		st->capacity = (long)v;
		st->have_capacity = 1;
	}
}

/* Fill st from the replies of pipe_add_stats() starting at first. */
static void
stats_from_replies(const struct pipe *p, int first, struct queue_stats *st)
{
	const redisReply *xlen = p->reply[first];
	const redisReply *hm = p->reply[first + 2];
	long		  depth;

	depth = stats_group_depth(p->reply[first + 1]);
	if (depth >= 0) {
		st->depth = depth;
		st->have_depth = 1;
	} else if (xlen != NULL && xlen->type == REDIS_REPLY_INTEGER) {
		/* No group yet: everything in the stream is waiting. */
		st->depth = (long)xlen->integer;
		st->have_depth = 1;
	}
	stats_from_avg(hm, st);
}

static struct redis_script queue_lua_enqueue = { DISPATCH_LUA_ENQUEUE, "" };

/*
 * Fill st from the ENQUEUE script's answer {taken, before, limit}: the
 * jobs the fair order serves before ours, and the slots they share.
 */
static void
stats_from_enqueue(const redisReply *r, struct queue_stats *st)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[1]->type != REDIS_REPLY_INTEGER ||
	    r->element[2]->type != REDIS_REPLY_INTEGER)
		return;
	st->depth = (long)r->element[1]->integer + 1;
	st->have_depth = 1;
	if (r->element[2]->integer >= 1 &&
	    r->element[2]->integer < 1000000000) {
		st->capacity = (long)r->element[2]->integer;
		st->have_capacity = 1;
	}
}

/*
 * Run a dispatch script that answers {taken, before, limit} for
 * record_id (ENQUEUE or PLACE) and read the average generation time, in
 * one round trip; st is filled as far as Redis told. -1 when Redis is
 * unreachable; 1 when the script did not answer an array (logged as
 * what, unless what is NULL); 0 otherwise.
 */
static int
queue_place_script(struct queue *q, struct redis_script *script,
    const char *what, const char *record_id, const char *tier, const char *user,
    struct queue_stats *st)
{
	struct pipe p;
	char	    now[24];
	const char *eval[] = { "1", KEY_JOB_STREAM, now, tier, user,
		record_id };
	const char *hmget[] = { "HMGET", KEY_STATS_HASH, "avg_generation_ms",
		"capacity" };
	int	    rc = 0;

	memset(st, 0, sizeof(*st));
	memset(&p, 0, sizeof(p));
	snprintf(now, sizeof(now), "%lld", (long long)clock_wall_ms());
	pipe_add_script(&p, script, 6, eval);
	pipe_add(&p, 4, hmget);
	if (queue_pipeline(q, &p) == -1)
		return -1;
	if (p.reply[0]->type != REDIS_REPLY_ARRAY) {
		rc = 1;
		if (what != NULL)
			log_err("redis: %s: %s", what,
			    p.reply[0]->type == REDIS_REPLY_ERROR ?
				p.reply[0]->str :
				"unexpected reply");
	}
	stats_from_enqueue(p.reply[0], st);
	stats_from_avg(p.reply[1], st);
	pipe_free(&p);
	return rc;
}

/*
 * Queue the job for record_id in its user's list (dispatch.h: it goes to
 * the stream when it gets a provider slot) and read the figures for the
 * estimate, in one round trip. Returns 0 when the job is queued; -1
 * (logged) when not (the daemon's sweeper queues pending rows Redis does
 * not have). st is filled as far as Redis told.
 */
int
queue_push_job(struct queue *q, const char *record_id, const char *tier,
    const char *user, struct queue_stats *st)
{
	return queue_place_script(q, &queue_lua_enqueue, "enqueue", record_id,
		   tier, user, st) == 0 ?
	    0 :
	    -1;
}

static struct redis_script queue_lua_admission = { DISPATCH_LUA_ADMISSION, "" };

/* An integer element of an array reply, or def. */
static long
reply_elem(const redisReply *r, size_t i, long def)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || i >= r->elements ||
	    r->element[i]->type != REDIS_REPLY_INTEGER)
		return def;
	return (long)r->element[i]->integer;
}

/*
 * The admission check of a POST (DISPATCH_LUA_ADMISSION): rate NULL for
 * no rate limit. -1 (logged) when Redis cannot tell: the POST goes on.
 */
int
queue_admission(struct queue *q, const char *tier, const char *user,
    const struct tier_rate *rate, long max_waiting, struct admission *out)
{
	struct pipe p;
	char	    now[24], quota[24], window[24], maxw[24];
	const char *eval[] = { "1", KEY_JOB_STREAM, now, tier, user, quota,
		window, maxw };
	int	    rc = -1;

	memset(out, 0, sizeof(*out));
	out->remaining = -1;
	snprintf(now, sizeof(now), "%lld", (long long)clock_wall_ms());
	snprintf(quota, sizeof(quota), "%ld", rate != NULL ? rate->quota : 0);
	snprintf(window, sizeof(window), "%ld",
	    rate != NULL ? rate->window : 1);
	snprintf(maxw, sizeof(maxw), "%ld", max_waiting);
	memset(&p, 0, sizeof(p));
	pipe_add_script(&p, &queue_lua_admission, 8, eval);
	if (queue_pipeline(q, &p) == -1)
		return -1;
	if (p.reply[0]->type == REDIS_REPLY_ARRAY &&
	    p.reply[0]->elements == 3) {
		out->verdict = (int)reply_elem(p.reply[0], 0, 0);
		if (out->verdict == 2)
			out->waiting = reply_elem(p.reply[0], 1, 0);
		else
			out->remaining = reply_elem(p.reply[0], 1, -1);
		out->reset = reply_elem(p.reply[0], 2, 0);
		rc = 0;
	} else
		log_err("redis: admission: %s",
		    p.reply[0]->type == REDIS_REPLY_ERROR ? p.reply[0]->str :
							    "unexpected reply");
	pipe_free(&p);
	return rc;
}

static struct redis_script queue_lua_place = { DISPATCH_LUA_PLACE, "" };

/*
 * A waiting job's place in the fair order and the average generation
 * time, for the status document's estimate; -1 if Redis is unreachable.
 */
int
queue_place(struct queue *q, const char *record_id, const char *tier,
    const char *user, struct queue_stats *st)
{
	return queue_place_script(q, &queue_lua_place, NULL, record_id, tier,
		   user, st) == -1 ?
	    -1 :
	    0;
}

/* Read the figures for an estimate only; -1 if Redis is unreachable. */
int
queue_read_stats(struct queue *q, struct queue_stats *st)
{
	struct pipe p;

	memset(st, 0, sizeof(*st));
	memset(&p, 0, sizeof(p));
	pipe_add_stats(&p);
	if (queue_pipeline(q, &p) == -1)
		return -1;
	stats_from_replies(&p, 0, st);
	pipe_free(&p);
	return 0;
}

/* 0 when Redis answers PING with PONG. */
int
queue_ping(struct queue *q)
{
	struct pipe p;
	const char *ping[] = { "PING" };
	int	    rc;

	memset(&p, 0, sizeof(p));
	pipe_add(&p, 1, ping);
	if (queue_pipeline(q, &p) == -1)
		return -1;
	rc = p.reply[0]->type == REDIS_REPLY_STATUS &&
		strcmp(p.reply[0]->str, "PONG") == 0 ?
	    0 :
	    -1;
	pipe_free(&p);
	return rc;
}

/*
 * Count one POST of user in the current minute (a fixed window: INCR
 * and EXPIRE, one round trip) against limit. RATE_LIMITED sets
 * *retry_after to the seconds left in the window. RATE_UNKNOWN when
 * Redis cannot tell: the request is let through.
 */
enum rate_result
queue_rate_check(struct queue *q, const char *user, long limit,
    long *retry_after)
{
	struct pipe	 p;
	char		 key[128], ttl[16];
	const char	*incr[] = { "INCR", key };
	const char	*expire[] = { "EXPIRE", key, ttl };
	time_t		 now = time(NULL);
	enum rate_result rc = RATE_UNKNOWN;

	snprintf(key, sizeof(key), "{scenegen}:rate:%s:%lld", user,
	    (long long)(now / RATE_WINDOW_S));
	snprintf(ttl, sizeof(ttl), "%d", RATE_WINDOW_S * 2);
	memset(&p, 0, sizeof(p));
	pipe_add(&p, 2, incr);
	pipe_add(&p, 3, expire);
	if (queue_pipeline(q, &p) == -1)
		return RATE_UNKNOWN;
	if (p.reply[0]->type == REDIS_REPLY_INTEGER) {
		rc = p.reply[0]->integer > limit ? RATE_LIMITED : RATE_OK;
		*retry_after = RATE_WINDOW_S - (long)(now % RATE_WINDOW_S);
	} else
		log_err("redis INCR: %s",
		    p.reply[0]->type == REDIS_REPLY_ERROR ? p.reply[0]->str :
							    "unexpected reply");
	pipe_free(&p);
	return rc;
}

/*
 * The provider slots in use (ZCARD of KEY_SLOTS) and the account's limit
 * the daemons publish (limit of KEY_DISPATCH), for the dashboard. -1 for
 * a figure Redis does not have; the result -1 when Redis cannot answer.
 */
int
queue_read_slots(struct queue *q, long *used, long *limit)
{
	struct pipe p;
	const char *zcard[] = { "ZCARD", KEY_SLOTS };
	const char *hget[] = { "HGET", KEY_DISPATCH, "limit" };
	double	    v;

	*used = *limit = -1;
	memset(&p, 0, sizeof(p));
	pipe_add(&p, 2, zcard);
	pipe_add(&p, 3, hget);
	if (queue_pipeline(q, &p) == -1)
		return -1;
	if (p.reply[0]->type == REDIS_REPLY_INTEGER)
		*used = (long)p.reply[0]->integer;
	if (reply_number(p.reply[1], &v) == 0 && v < 1e9)
		*limit = (long)v;
	pipe_free(&p);
	return 0;
}
