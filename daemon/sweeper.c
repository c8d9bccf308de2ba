/*
 * sweeper.c: closing every gap between PostgreSQL (the truth) and Redis
 * (the doorbell); see sweeper.h.
 *
 * One sweep, on its own connection, in one transaction:
 *   BEGIN; pg_try_advisory_xact_lock (another daemon sweeps: stop);
 *   the unattended rows (pending past the grace; in progress without a
 *   live lease, retry due); XRANGE over the stream for the record ids
 *   it holds; one Lua script XADDs each remaining id that is not in the
 *   delayed set either; COMMIT.
 * The lock is held until the COMMIT, after the XADDs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "db.h"
#include "dispatch.h"
#include "keys.h"
#include "log.h"
#include "queue.h"
#include "redis_script.h"
#include "scenegend.h"
#include "sql.h"
#include "sweeper.h"
#include "uuid.h"

#define SWEEP_LIMIT	 1000	 /* rows looked at per sweep */
#define SWEEP_PAGE	 1000	 /* stream entries per XRANGE */
#define SWEEP_STREAM_MAX 2000000 /* give up past this many */
#define ID_LEN		 (UUID_STR_LEN + 1)
#define TIER_LEN	 32
/* A candidate: record id, tier, user id, each NUL-terminated. */
#define CAND_LEN	 (ID_LEN + TIER_LEN + ID_LEN)
#define CAND_TIER(c)	 ((c) + ID_LEN)
#define CAND_USER(c)	 ((c) + ID_LEN + TIER_LEN)

/*
 * Each unattended record (ARGV: now, then id, tier, user triples) back
 * to its user's list unless it is delayed or waiting already.
 */
static struct redis_script sweep_lua_enqueue = { DISPATCH_LUA_SWEEP, "" };

/*
 * Forget consumers of the group that hold nothing and have not been seen
 * for ARGV[2] ms (daemons that stopped: each start is a new consumer).
 * Atomic, so a consumer that reads meanwhile cannot lose an entry; one
 * that is deleted while alive is made again by its next read.
 */
static struct redis_script sweep_lua_consumers = {
	"local n = 0 "
	"local cs = redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1]) "
	"for i = 1, #cs do "
	" local c, name, pending, idle = cs[i], nil, nil, nil "
	" for j = 1, #c, 2 do "
	"  if c[j] == 'name' then name = c[j + 1] "
	"  elseif c[j] == 'pending' then pending = c[j + 1] "
	"  elseif c[j] == 'idle' then idle = c[j + 1] end "
	" end "
	" if name and name ~= ARGV[3] and pending == 0 and "
	"  idle > tonumber(ARGV[2]) then "
	"  redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name) "
	"  n = n + 1 "
	" end "
	"end "
	"return n",
	""
};

struct sweeper {
	struct scenegend *sg;
	int		  running;
	int64_t		  started;
	unsigned long	  generation; /* of the sweep connection */
	char		 *cand;	      /* candidates, CAND_LEN each */
	size_t		  ncand;
	char		 *seen; /* ids in the stream */
	size_t		  nseen;
	size_t		  capseen;
	size_t		  scanned;    /* stream entries read */
	char		  cursor[72]; /* next XRANGE start */
};

static int
sweep_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
sweep_ignore_cb(const PGresult *res, const char *err, void *arg)
{
}

/* End the sweep: COMMIT (or ROLLBACK) and forget the sweep's data. */
static void
sweep_end(struct sweeper *w, int commit)
{
	struct db_reply d = { sweep_ignore_cb, NULL };

	if (db_pool_generation(w->sg->db_sweep) == w->generation)
		db_query(w->sg->db_sweep, commit ? STMT_COMMIT : STMT_ROLLBACK,
		    0, NULL, d);
	free(w->cand);
	free(w->seen);
	w->cand = w->seen = NULL;
	w->ncand = w->nseen = w->capseen = w->scanned = 0;
	w->running = 0;
}

/* Whether the sweep's transaction is still the one it began. */
static int
sweep_same_conn(struct sweeper *w)
{
	if (db_pool_generation(w->sg->db_sweep) == w->generation)
		return 1;
	log_warn("sweeper: the database connection changed during a sweep");
	sweep_end(w, 0);
	return 0;
}

static void
sweep_enqueued(redisReply *reply, const char *err, void *arg)
{
	struct sweeper *w = arg;

	if (!w->running)
		return;
	if (err != NULL) {
		log_warn("sweeper: re-enqueue: %s", err);
		sweep_end(w, 0);
		return;
	}
	if (reply->type == REDIS_REPLY_INTEGER && reply->integer > 0)
		log_info("sweeper: %lld unattended records queued again "
			 "(%zu looked at)",
		    reply->integer, w->ncand);
	sweep_end(w, 1);
}

/* The stream is read: queue again what is in neither place. */
static void
sweep_enqueue(struct sweeper *w)
{
	const char	 **argv;
	struct queue_reply r = { sweep_enqueued, w };
	char		   now[24];
	size_t		   i;
	int		   argc = 0;

	if (w->nseen > 0)
		qsort(w->seen, w->nseen, ID_LEN, sweep_cmp);
	argv = calloc(3 * w->ncand + 3, sizeof(*argv));
	if (argv == NULL) {
		log_err("sweeper: out of memory");
		sweep_end(w, 0);
		return;
	}
	snprintf(now, sizeof(now), "%lld", (long long)clock_wall_ms());
	argv[argc++] = "1";
	argv[argc++] = KEY_JOB_STREAM;
	argv[argc++] = now;
	for (i = 0; i < w->ncand; i++) {
		const char *c = w->cand + i * CAND_LEN;

		if (w->nseen > 0 &&
		    bsearch(c, w->seen, w->nseen, ID_LEN, sweep_cmp) != NULL)
			continue;
		argv[argc++] = c;
		argv[argc++] = CAND_TIER(c);
		argv[argc++] = CAND_USER(c);
	}
	if (argc == 3) {
		free(argv);
		sweep_end(w, 1);
		return;
	}
	if (queue_eval(w->sg->queue, &sweep_lua_enqueue, argc, argv, NULL, r) ==
	    -1) {
		log_warn("sweeper: Redis unavailable");
		sweep_end(w, 0);
	}
	free(argv);
}

static void sweep_read_stream(struct sweeper *);

/* Note the record ids of one page of stream entries. */
static void
sweep_page(redisReply *reply, const char *err, void *arg)
{
	struct sweeper	 *w = arg;
	const redisReply *e, *f, *v;
	char		 *p;
	size_t		  i, j;

	if (!w->running)
		return;
	if (err != NULL || reply == NULL) {
		log_warn("sweeper: XRANGE: %s", err);
		sweep_end(w, 0);
		return;
	}
	if (reply->type != REDIS_REPLY_ARRAY) {
		sweep_end(w, 0);
		return;
	}
	for (i = 0; i < reply->elements; i++) {
		e = reply->element[i];
		if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
		    e->element[0]->type != REDIS_REPLY_STRING)
			continue;
		if (!queue_entry_id_valid(e->element[0]->str,
			e->element[0]->len)) {
			log_warn("sweeper: XRANGE sent an entry id that is not "
				 "one; not sweeping");
			sweep_end(w, 0);
			return;
		}
		snprintf(w->cursor, sizeof(w->cursor), "(%s",
		    e->element[0]->str);
		f = e->element[1];
		if (f->type != REDIS_REPLY_ARRAY)
			continue;
		for (j = 0; j + 1 < f->elements; j += 2) {
			v = f->element[j + 1];
			if (f->element[j]->type != REDIS_REPLY_STRING ||
			    strcmp(f->element[j]->str, KEY_JOB_FIELD) != 0 ||
			    v->type != REDIS_REPLY_STRING ||
			    !uuid_is_valid_n(v->str, v->len))
				continue;
			if (w->nseen == w->capseen) {
				w->capseen = w->capseen ? w->capseen * 2 : 1024;
				p = realloc(w->seen, w->capseen * ID_LEN);
				if (p == NULL) {
					log_err("sweeper: out of memory");
					sweep_end(w, 0);
					return;
				}
				w->seen = p;
			}
			memcpy(w->seen + w->nseen * ID_LEN, v->str,
			    UUID_STR_LEN);
			w->seen[w->nseen * ID_LEN + UUID_STR_LEN] = '\0';
			w->nseen++;
		}
	}
	w->scanned += reply->elements;
	if (reply->elements < SWEEP_PAGE)
		sweep_enqueue(w);
	else if (w->scanned >= SWEEP_STREAM_MAX) {
		log_warn("sweeper: the stream holds more than %d entries; "
			 "not sweeping",
		    SWEEP_STREAM_MAX);
		sweep_end(w, 0);
	} else
		sweep_read_stream(w);
}

/* Read the next page of the stream. */
static void
sweep_read_stream(struct sweeper *w)
{
	char		   count[16];
	const char	  *argv[] = { "XRANGE", KEY_JOB_STREAM, w->cursor, "+",
		       "COUNT", count };
	struct queue_reply r = { sweep_page, w };

	snprintf(count, sizeof(count), "%d", SWEEP_PAGE);
	if (queue_command(w->sg->queue, 6, argv, NULL, r) == -1) {
		log_warn("sweeper: Redis unavailable");
		sweep_end(w, 0);
	}
}

static void
sweep_scanned(const PGresult *res, const char *err, void *arg)
{
	struct sweeper *w = arg;
	const char     *v;
	int		i, rows;

	if (res == NULL || err != NULL) {
		log_warn("sweeper: scan: %s", err);
		sweep_end(w, 0);
		return;
	}
	rows = db_rows(res);
	if (rows == 0) {
		sweep_end(w, 1);
		return;
	}
	w->cand = calloc((size_t)rows, CAND_LEN);
	if (w->cand == NULL) {
		log_err("sweeper: out of memory");
		sweep_end(w, 0);
		return;
	}
	for (i = 0; i < rows; i++) {
		char *c = w->cand + w->ncand * CAND_LEN;

		v = db_value(res, i, 0);
		if (v == NULL || !uuid_is_valid(v))
			continue;
		memcpy(c, v, ID_LEN);
		v = db_value(res, i, 1);
		snprintf(CAND_TIER(c), TIER_LEN, "%s", v != NULL ? v : "free");
		v = db_value(res, i, 2);
		snprintf(CAND_USER(c), ID_LEN, "%s", v != NULL ? v : "-");
		w->ncand++;
	}
	log_debug("sweeper: %zu unattended rows; checking Redis", w->ncand);
	snprintf(w->cursor, sizeof(w->cursor), "-");
	sweep_read_stream(w);
}

static void
sweep_consumers_cb(redisReply *reply, const char *err, void *arg)
{
	if (err != NULL)
		log_debug("sweeper: idle consumers: %s", err);
	else if (reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
	    reply->integer > 0)
		log_info("sweeper: %lld stopped consumers removed from the "
			 "group",
		    reply->integer);
}

/* Remove consumers idle for an hour (or ten leases) that hold nothing. */
static void
sweep_consumers(struct sweeper *w)
{
	char	    idle[32];
	const char *argv[] = { "1", KEY_JOB_STREAM, KEY_CONSUMER_GROUP, idle,
		w->sg->cfg->consumer };
	struct queue_reply r = { sweep_consumers_cb, NULL };
	long		   ms = w->sg->cfg->lease_seconds * 10000;

	if (ms < 3600000)
		ms = 3600000;
	snprintf(idle, sizeof(idle), "%ld", ms);
	queue_eval(w->sg->queue, &sweep_lua_consumers, 5, argv, NULL, r);
}

static void
sweep_locked(const PGresult *res, const char *err, void *arg)
{
	struct sweeper *w = arg;
	struct db_reply d = { sweep_scanned, w };
	const char     *v, *params[2];
	char		grace[32], limit[16];

	if (res == NULL || err != NULL) {
		log_warn("sweeper: lock: %s", err);
		sweep_end(w, 0);
		return;
	}
	v = db_value(res, 0, 0);
	if (v == NULL || strcmp(v, "t") != 0) {
		log_debug("sweeper: another daemon is sweeping");
		sweep_end(w, 1);
		return;
	}
	if (!sweep_same_conn(w))
		return;
	sweep_consumers(w);
	snprintf(grace, sizeof(grace), "%ld",
	    w->sg->cfg->pending_grace_seconds);
	snprintf(limit, sizeof(limit), "%d", SWEEP_LIMIT);
	params[0] = grace;
	params[1] = limit;
	if (db_query(w->sg->db_sweep, STMT_SWEEP_SCAN, 2, params, d) == -1)
		sweep_end(w, 0);
}

static void
sweep_begun(const PGresult *res, const char *err, void *arg)
{
	struct sweeper *w = arg;
	struct db_reply d = { sweep_locked, w };

	if (res == NULL || err != NULL) {
		log_warn("sweeper: BEGIN: %s", err);
		sweep_end(w, 0);
		return;
	}
	if (!sweep_same_conn(w))
		return;
	if (db_query(w->sg->db_sweep, STMT_SWEEP_LOCK, 0, NULL, d) == -1)
		sweep_end(w, 0);
}

void
sweeper_run(struct sweeper *w)
{
	struct db_reply d = { sweep_begun, w };

	/*
	 * A sweep always ends: statements and Redis commands that hang are
	 * failed by their connection's timeout.
	 */
	if (w->running)
		return;
	if (!queue_ready(w->sg->queue) || db_pool_up(w->sg->db_sweep) == 0)
		return;
	w->generation = db_pool_generation(w->sg->db_sweep);
	w->started = clock_mono_ms();
	if (db_query(w->sg->db_sweep, STMT_BEGIN, 0, NULL, d) == 0)
		w->running = 1;
}

struct sweeper *
sweeper_new(struct scenegend *sg)
{
	struct sweeper *w;

	w = calloc(1, sizeof(*w));
	if (w != NULL)
		w->sg = sg;
	return w;
}

void
sweeper_free(struct sweeper *w)
{
	if (w == NULL)
		return;
	free(w->cand);
	free(w->seen);
	free(w);
}
