/*
 * queue.c: the job stream, the delayed set and the consumer group, over
 * two connections of redis.c (hiredis 0.14 async on libevent); see
 * queue.h. Replies belong to hiredis and are freed when our callback
 * returns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "clock.h"
#include "dispatch.h"
#include "keys.h"
#include "log.h"
#include "queue.h"
#include "redis.h"
#include "redis_script.h"
#include "redis_url.h"
#include "scenegend.h"
#include "uuid.h"

#define QUEUE_BLOCK_MS	   1000
#define QUEUE_CMD_LIMIT_MS 15000 /* no reply this long: reconnect */
#define QUEUE_MOVE_BATCH   100

/* XACK + XDEL of one entry, atomically. */
static struct redis_script queue_lua_ack = {
	"redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) "
	"return redis.call('XDEL', KEYS[1], ARGV[2])",
	""
};

/* XADD the record again, then XACK + XDEL the old entry (if any). */
static struct redis_script queue_lua_requeue = {
	"local id = redis.call('XADD', KEYS[1], '*', 'id', ARGV[3]) "
	"if ARGV[2] ~= '' then "
	" redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) "
	" redis.call('XDEL', KEYS[1], ARGV[2]) "
	"end "
	"return id",
	""
};

static struct redis_script queue_lua_release = { DISPATCH_LUA_RELEASE, "" };
static struct redis_script queue_lua_move_due = { DISPATCH_LUA_MOVE_DUE, "" };
static struct redis_script queue_lua_tick = { DISPATCH_LUA_TICK, "" };
static struct redis_script queue_lua_admit = { DISPATCH_LUA_ADMIT, "" };

/* An entry read, waiting for ADMIT's answer. */
struct admit {
	TAILQ_ENTRY(admit) entry;
	struct queue	  *q;
	char		   entry_id[64];
	char		   record_id[UUID_STR_LEN + 1];
};

struct queue {
	struct scenegend *sg;
	TAILQ_HEAD(, admit) admits;
	size_t		      nadmits;
	struct queue_hooks    hooks;
	struct redis_endpoint ep;
	struct rconn	      cmd;
	struct rconn	      rd;
	int		      group_ready;
	int		      reading;
	int		      moving;
	int		      claiming;
	char		      claim_cursor[64];
	struct event	     *read_retry;
};

/* --- the consumer group --- */

static void
queue_group_cb(redisReply *reply, const char *err, void *arg)
{
	struct queue *q = arg;

	if (reply == NULL)
		return;
	if (err != NULL && strncmp(err, "BUSYGROUP", 9) != 0) {
		log_err("redis: XGROUP CREATE %s %s: %s", KEY_JOB_STREAM,
		    KEY_CONSUMER_GROUP, err);
		return;
	}
	q->group_ready = 1;
	if (q->hooks.ready != NULL)
		q->hooks.ready(q->sg);
}

/* Create the group (and the stream) unless it exists. */
static void
queue_group_create(struct queue *q)
{
	const char	  *argv[] = { "XGROUP", "CREATE", KEY_JOB_STREAM,
		       KEY_CONSUMER_GROUP, "0", "MKSTREAM" };
	struct queue_reply r = { queue_group_cb, q };

	rconn_send(&q->cmd, 6, argv, NULL, r.fn, r.arg);
}

static void
queue_cmd_up(struct rconn *rc)
{
	queue_group_create(rc->arg);
}

/* The command connection is lost: the group must be checked again. */
static void
queue_cmd_down(struct rconn *rc)
{
	struct queue *q = rc->arg;

	q->group_ready = 0;
}

static void
queue_rd_up(struct rconn *rc)
{
	struct queue *q = rc->arg;

	q->reading = 0;
	if (q->hooks.read_done != NULL)
		q->hooks.read_done(q->sg);
}

/* --- reading entries --- */

int
queue_entry_id_valid(const char *s, size_t len)
{
	size_t i, dash = 0, dashes = 0;

	if (len < 3 || len >= 64)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] == '-') {
			dash = i;
			dashes++;
		} else if (s[i] < '0' || s[i] > '9')
			return 0;
	}
	return dashes == 1 && dash > 0 && dash < len - 1;
}

static void
queue_admit_cb(redisReply *reply, const char *err, void *arg)
{
	struct admit *a = arg;
	struct queue *q = a->q;

	TAILQ_REMOVE(&q->admits, a, entry);
	q->nadmits--;
	if (reply == NULL) {
		/* Redis went away: the entry stays pending, taken over later. */
		free(a);
		return;
	}
	if (err != NULL)
		log_warn("redis: dispatch of entry %s: %s; it runs anyway",
		    a->entry_id, err);
	if (err != NULL ||
	    (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1))
		q->hooks.entry(q->sg, a->entry_id, a->record_id);
	else
		log_info(
		    "job %s: no provider slot for it yet: waiting its turn",
		    a->record_id);
	free(a);
}

/*
 * Ask dispatch whether the entry's record holds a provider slot (the
 * ADMIT script); the hook gets it when it does.
 */
static void
queue_admit(struct queue *q, const char *entry_id, const char *record_id)
{
	struct admit *a;
	char	      now[24];
	const char   *argv[8];

	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		log_err("redis: out of memory; entry %s stays pending",
		    entry_id);
		return;
	}
	a->q = q;
	snprintf(a->entry_id, sizeof(a->entry_id), "%s", entry_id);
	snprintf(a->record_id, sizeof(a->record_id), "%s", record_id);
	snprintf(now, sizeof(now), "%lld", (long long)clock_wall_ms());
	argv[0] = "1";
	argv[1] = KEY_JOB_STREAM;
	argv[2] = now;
	argv[3] = a->record_id;
	argv[4] = KEY_CONSUMER_GROUP;
	argv[5] = a->entry_id;
	TAILQ_INSERT_TAIL(&q->admits, a, entry);
	q->nadmits++;
	if (rconn_eval(&q->cmd, &queue_lua_admit, 6, argv, NULL, queue_admit_cb,
		a) == -1) {
		TAILQ_REMOVE(&q->admits, a, entry);
		q->nadmits--;
		free(a);
	}
}

size_t
queue_admitting(const struct queue *q)
{
	return q->nadmits;
}

/* Hand one stream entry ([id, [field, value, ...]]) to the hook. */
static void
queue_entry(struct queue *q, const redisReply *e)
{
	const redisReply *id, *fields, *k, *v;
	char		  entry_id[64], record_id[UUID_STR_LEN + 1];
	const char	 *record = NULL;
	size_t		  i;

	if (e->type != REDIS_REPLY_ARRAY || e->elements < 2)
		return;
	id = e->element[0];
	fields = e->element[1];
	if (id->type != REDIS_REPLY_STRING ||
	    !queue_entry_id_valid(id->str, id->len)) {
		log_warn("redis: an entry id that is not one; entry ignored");
		return;
	}
	memcpy(entry_id, id->str, id->len);
	entry_id[id->len] = '\0';
	if (fields->type == REDIS_REPLY_ARRAY) {
		for (i = 0; i + 1 < fields->elements; i += 2) {
			k = fields->element[i];
			v = fields->element[i + 1];
			if (k->type != REDIS_REPLY_STRING ||
			    v->type != REDIS_REPLY_STRING ||
			    k->len != strlen(KEY_JOB_FIELD) ||
			    memcmp(k->str, KEY_JOB_FIELD, k->len) != 0)
				continue;
			if (uuid_is_valid_n(v->str, v->len)) {
				memcpy(record_id, v->str, UUID_STR_LEN);
				record_id[UUID_STR_LEN] = '\0';
				record = record_id;
			}
			break;
		}
	}
	if (record == NULL) {
		q->hooks.entry(q->sg, entry_id, NULL);
		return;
	}
	queue_admit(q, entry_id, record);
}

/* Hand every entry of an array of entries to the hook. */
static void
queue_entries(struct queue *q, const redisReply *list)
{
	size_t i;

	if (list == NULL || list->type != REDIS_REPLY_ARRAY)
		return;
	for (i = 0; i < list->elements; i++)
		queue_entry(q, list->element[i]);
}

static void
queue_read_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct queue *q = arg;

	if (q->hooks.read_done != NULL)
		q->hooks.read_done(q->sg);
}

/* Run read_done again after ms, when a read failed. */
static void
queue_read_later(struct queue *q, long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(q->read_retry, &tv);
}

static void
queue_read_cb(redisReply *reply, const char *err, void *arg)
{
	struct queue *q = arg;
	size_t	      i;

	q->reading = 0;
	if (reply == NULL)
		return; /* the reconnect restarts reading */
	if (err != NULL) {
		if (strncmp(err, "NOGROUP", 7) == 0) {
			log_warn("redis: consumer group %s is gone (Redis "
				 "restarted or emptied?): creating it again",
			    KEY_CONSUMER_GROUP);
			q->group_ready = 0;
			queue_group_create(q);
			queue_read_later(q, 200);
		} else {
			log_warn("redis: XREADGROUP: %s", err);
			queue_read_later(q, 1000);
		}
		return;
	}
	if (reply->type == REDIS_REPLY_ARRAY) {
		for (i = 0; i < reply->elements; i++) {
			const redisReply *s = reply->element[i];

			if (s->type == REDIS_REPLY_ARRAY && s->elements >= 2)
				queue_entries(q, s->element[1]);
		}
	}
	if (q->hooks.read_done != NULL)
		q->hooks.read_done(q->sg);
}

void
queue_read(struct queue *q, long count)
{
	char		   n[24];
	const char	  *argv[] = { "XREADGROUP", "GROUP", KEY_CONSUMER_GROUP,
		       q->sg->cfg->consumer, "COUNT", n, "BLOCK", "1000", "STREAMS",
		       KEY_JOB_STREAM, ">" };
	struct queue_reply r = { queue_read_cb, q };

	if (q->reading || count <= 0 || !q->rd.up || !q->group_ready)
		return;
	snprintf(n, sizeof(n), "%ld", count);
	if (rconn_send(&q->rd, 11, argv, NULL, r.fn, r.arg) == 0)
		q->reading = 1;
}

int
queue_reading(const struct queue *q)
{
	return q->reading;
}

int
queue_idle(const struct queue *q)
{
	return !q->reading && (q->cmd.ac == NULL || q->cmd.outstanding == 0);
}

static void
queue_autoclaim_cb(redisReply *reply, const char *err, void *arg)
{
	struct queue	 *q = arg;
	const redisReply *cur;

	q->claiming = 0;
	if (reply == NULL)
		return;
	if (err != NULL) {
		if (strncmp(err, "NOGROUP", 7) != 0)
			log_warn("redis: XAUTOCLAIM: %s", err);
		return;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2)
		return;
	cur = reply->element[0];
	/* The cursor goes back to Redis: only ever a well-formed id. */
	if (cur->type == REDIS_REPLY_STRING &&
	    cur->len < sizeof(q->claim_cursor) &&
	    queue_entry_id_valid(cur->str, cur->len)) {
		memcpy(q->claim_cursor, cur->str, cur->len);
		q->claim_cursor[cur->len] = '\0';
	} else
		snprintf(q->claim_cursor, sizeof(q->claim_cursor), "0-0");
	if (reply->element[1]->type == REDIS_REPLY_ARRAY &&
	    reply->element[1]->elements > 0)
		log_info("redis: took over %zu entries idle past the lease",
		    reply->element[1]->elements);
	queue_entries(q, reply->element[1]);
}

void
queue_autoclaim(struct queue *q, long min_idle_ms, long count)
{
	char	    idle[24], n[24];
	const char *argv[] = { "XAUTOCLAIM", KEY_JOB_STREAM, KEY_CONSUMER_GROUP,
		q->sg->cfg->consumer, idle, q->claim_cursor, "COUNT", n };
	struct queue_reply r = { queue_autoclaim_cb, q };

	if (q->claiming || count <= 0 || !q->group_ready)
		return;
	snprintf(idle, sizeof(idle), "%ld", min_idle_ms);
	snprintf(n, sizeof(n), "%ld", count);
	if (rconn_send(&q->cmd, 8, argv, NULL, r.fn, r.arg) == 0)
		q->claiming = 1;
}

/* --- moving entries --- */

int
queue_ack(struct queue *q, const char *entry_id, struct queue_reply r)
{
	const char *argv[] = { "1", KEY_JOB_STREAM, KEY_CONSUMER_GROUP,
		entry_id };

	return rconn_eval(&q->cmd, &queue_lua_ack, 4, argv, NULL, r.fn, r.arg);
}

int
queue_release(struct queue *q, const struct queue_release *rel,
    struct queue_reply r)
{
	static const char *what[] = { "done", "delay", "back" };
	char		   now[24], due[24];
	const char	  *argv[10];

	snprintf(now, sizeof(now), "%lld", (long long)clock_wall_ms());
	snprintf(due, sizeof(due), "%lld", (long long)rel->due_ms);
	argv[0] = "1";
	argv[1] = KEY_JOB_STREAM;
	argv[2] = now;
	argv[3] = KEY_CONSUMER_GROUP;
	argv[4] = rel->entry_id;
	argv[5] = rel->record_id;
	argv[6] = what[rel->how];
	argv[7] = due;
	argv[8] = rel->tier[0] != '\0' ? rel->tier : "free";
	argv[9] = rel->user[0] != '\0' ? rel->user : "-";
	return rconn_eval(&q->cmd, &queue_lua_release, 10, argv, NULL, r.fn,
	    r.arg);
}

static void
queue_tick_cb(redisReply *reply, const char *err, void *arg)
{
	if (err != NULL)
		log_warn("redis: dispatch tick: %s", err);
	else if (reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
	    reply->integer > 0)
		log_debug("redis: %lld waiting jobs took a provider slot",
		    reply->integer);
}

void
queue_tick(struct queue *q)
{
	const struct settings *cfg = q->sg->cfg;
	char		       now[24], limit[24], lease[24];
	const char	  *argv[] = { "1", KEY_JOB_STREAM, now, limit, lease,
		       cfg->tier_weights };
	struct queue_reply r = { queue_tick_cb, NULL };

	if (!q->cmd.up)
		return;
	snprintf(now, sizeof(now), "%lld", (long long)clock_wall_ms());
	snprintf(limit, sizeof(limit), "%ld", cfg->max_queued);
	snprintf(lease, sizeof(lease), "%ld", cfg->lease_seconds * 1000);
	rconn_eval(&q->cmd, &queue_lua_tick, 6, argv, NULL, r.fn, r.arg);
}

int
queue_requeue(struct queue *q, const char *entry_id, const char *record_id,
    struct queue_reply r)
{
	const char *argv[] = { "1", KEY_JOB_STREAM, KEY_CONSUMER_GROUP,
		entry_id, record_id };

	return rconn_eval(&q->cmd, &queue_lua_requeue, 5, argv, NULL, r.fn,
	    r.arg);
}

static void queue_move_due_send(struct queue *);

static void
queue_move_cb(redisReply *reply, const char *err, void *arg)
{
	struct queue *q = arg;

	q->moving = 0;
	if (reply == NULL)
		return;
	if (err != NULL) {
		log_warn("redis: moving due retries: %s", err);
		return;
	}
	if (reply->type == REDIS_REPLY_INTEGER && reply->integer > 0) {
		log_debug("redis: %lld due retries back in the stream",
		    reply->integer);
		/* A full batch: there may be more, go on at once. */
		if (reply->integer >= QUEUE_MOVE_BATCH)
			queue_move_due_send(q);
	}
}

static void
queue_move_due_send(struct queue *q)
{
	char		   now[24], batch[16];
	const char	  *argv[] = { "1", KEY_JOB_STREAM, now, batch };
	struct queue_reply r = { queue_move_cb, q };

	snprintf(now, sizeof(now), "%lld", (long long)clock_wall_ms());
	snprintf(batch, sizeof(batch), "%d", QUEUE_MOVE_BATCH);
	if (rconn_eval(&q->cmd, &queue_lua_move_due, 4, argv, NULL, r.fn,
		r.arg) == 0)
		q->moving = 1;
}

void
queue_move_due(struct queue *q)
{
	if (!q->moving && q->cmd.up)
		queue_move_due_send(q);
}

int
queue_command(struct queue *q, int argc, const char **argv, const size_t *lens,
    struct queue_reply r)
{
	return rconn_send(&q->cmd, argc, argv, lens, r.fn, r.arg);
}

int
queue_eval(struct queue *q, struct redis_script *s, int argc, const char **argv,
    const size_t *lens, struct queue_reply r)
{
	return rconn_eval(&q->cmd, s, argc, argv, lens, r.fn, r.arg);
}

int
queue_ready(const struct queue *q)
{
	return q->cmd.up && q->group_ready;
}

void
queue_watch(struct queue *q)
{
	int64_t now = clock_mono_ms();

	rconn_watch(&q->cmd, now);
	rconn_watch(&q->rd, now);
}

struct queue *
queue_new(struct scenegend *sg, struct queue_hooks hooks, char *err,
    size_t errlen)
{
	struct queue *q;

	q = calloc(1, sizeof(*q));
	if (q == NULL) {
		snprintf(err, errlen, "queue: out of memory");
		return NULL;
	}
	q->sg = sg;
	q->hooks = hooks;
	TAILQ_INIT(&q->admits);
	snprintf(q->claim_cursor, sizeof(q->claim_cursor), "0-0");
	if (redis_url_parse(sg->cfg->redis_url, &q->ep, err, errlen) == -1) {
		free(q);
		return NULL;
	}
	q->read_retry = evtimer_new(sg->base, queue_read_retry_cb, q);
	if (q->read_retry == NULL ||
	    rconn_init(&q->cmd, sg->base, &q->ep, "command", QUEUE_CMD_LIMIT_MS,
		queue_cmd_up, queue_cmd_down, q) == -1 ||
	    rconn_init(&q->rd, sg->base, &q->ep, "reader",
		QUEUE_BLOCK_MS + QUEUE_CMD_LIMIT_MS, queue_rd_up, NULL,
		q) == -1) {
		snprintf(err, errlen, "queue: out of memory");
		queue_free(q);
		return NULL;
	}
	rconn_connect(&q->cmd);
	rconn_connect(&q->rd);
	return q;
}

void
queue_free(struct queue *q)
{
	struct admit *a;

	if (q == NULL)
		return;
	rconn_close(&q->cmd);
	rconn_close(&q->rd);
	for (a = TAILQ_FIRST(&q->admits); a != NULL;
	     a = TAILQ_FIRST(&q->admits)) {
		TAILQ_REMOVE(&q->admits, a, entry);
		free(a);
	}
	if (q->read_retry != NULL)
		event_free(q->read_retry);
	redis_endpoint_free(&q->ep);
	free(q);
}
