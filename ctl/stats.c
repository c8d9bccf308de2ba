/*
 * scenegenctl stats: the numbers a sysadmin asks for first. Rows by
 * status from PostgreSQL (the truth), the queue from Redis (stream
 * entries not yet delivered, delivered but unacknowledged, delayed
 * retries), the daemons' own figures from the stats hash, the age of the
 * oldest pending row and recent generation times. Text, or JSON with -j.
 * The daemons' figures are those of the last daemon that published them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ctl.h"
#include "keys.h"

static const char stats_sql[] =
    "SELECT count(*) FILTER (WHERE status = 'pending'),"
    " count(*) FILTER (WHERE status = 'in_progress'),"
    " count(*) FILTER (WHERE status = 'completed'),"
    " count(*) FILTER (WHERE status = 'failed'),"
    " count(*) FILTER (WHERE status = 'canceled'),"
    " count(*),"
    " count(*) FILTER (WHERE retry_count > 0),"
    " EXTRACT(EPOCH FROM now() - min(created_at)"
    "  FILTER (WHERE status = 'pending'))::float8,"
    " avg(COALESCE(generation_time_seconds,"
    "  CASE WHEN jsonb_typeof(metadata->'generation_time') = 'number'"
    "  THEN (metadata->>'generation_time')::float8 END))"
    "  FILTER (WHERE status = 'completed' AND"
    "  COALESCE(completed_at, updated_at) > now() - interval '1 hour'),"
    " count(*) FILTER (WHERE status = 'completed' AND"
    "  COALESCE(completed_at, updated_at) > now() - interval '1 hour')"
    " FROM image_generations";

enum stats_count {
	STATS_PENDING,
	STATS_IN_PROGRESS,
	STATS_COMPLETED,
	STATS_FAILED,
	STATS_CANCELED,
	STATS_TOTAL,
	STATS_RETRIED,
	STATS__MAX
};

static const char *const stats_count_names[STATS__MAX] = { "pending",
	"in_progress", "completed", "failed", "canceled", "total", "retried" };

/* What stats gathers; -1 (or NAN) where a figure is unknown. */
struct stats {
	long long count[STATS__MAX];
	double	  oldest_pending_s;
	double	  avg_hour_s;
	long long completed_hour;
	long long stream_length;
	long long waiting;   /* group lag: not yet delivered */
	long long delivered; /* delivered, not acknowledged */
	long long delayed;
	long long in_flight;
	long long capacity;
	double	  daemon_avg_s;
};

static double
stats_double(const PGresult *res, int col)
{
	if (PQgetisnull(res, 0, col))
		return NAN;
	return strtod(PQgetvalue(res, 0, col), NULL);
}

/* Fill the row figures; -1 with the reason on stderr. */
static int
stats_from_db(struct ctl_settings *s, struct stats *st)
{
	PGconn	 *conn;
	PGresult *res;
	char	  err[1024];
	int	  i;

	conn = ctl_db_connect(s, err, sizeof(err));
	if (conn == NULL) {
		ctl_warnx("stats: %s", err);
		return -1;
	}
	res = ctl_db_query(conn, "stats: SELECT image_generations", stats_sql,
	    0, NULL);
	if (res == NULL) {
		PQfinish(conn);
		return -1;
	}
	for (i = 0; i < STATS__MAX; i++)
		st->count[i] = strtoll(PQgetvalue(res, 0, i), NULL, 10);
	st->oldest_pending_s = stats_double(res, STATS__MAX);
	st->avg_hour_s = stats_double(res, STATS__MAX + 1);
	st->completed_hour = strtoll(PQgetvalue(res, 0, STATS__MAX + 2), NULL,
	    10);
	PQclear(res);
	PQfinish(conn);
	return 0;
}

/* The daemons' figure field of the stats hash reply; -1 if absent. */
static double
stats_hash_field(const redisReply *r, const char *field)
{
	size_t i;

	for (i = 0;
	     r != NULL && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements;
	     i += 2)
		if (strcmp(r->element[i]->str, field) == 0)
			return strtod(r->element[i + 1]->str, NULL);
	return -1;
}

/* Fill the queue figures; -1 with the reason on stderr. */
static int
stats_from_redis(struct ctl_settings *s, struct stats *st)
{
	const char   *xlen[] = { "XLEN", KEY_JOB_STREAM };
	const char   *groups[] = { "XINFO", "GROUPS", KEY_JOB_STREAM };
	const char   *zcard[] = { "ZCARD", KEY_DELAYED_SET };
	const char   *hash[] = { "HGETALL", KEY_STATS_HASH };
	redisContext *c;
	redisReply   *r;
	char	      err[1024];
	size_t	      i, j;
	double	      ms;

	c = ctl_redis_connect(s, err, sizeof(err));
	if (c == NULL) {
		ctl_warnx("stats: %s", err);
		return -1;
	}
	r = ctl_redis_cmd(c, err, sizeof(err), 2, xlen);
	if (r == NULL)
		goto fail;
	st->stream_length = r->integer;
	freeReplyObject(r);
	/* No group yet (no daemon ever ran): everything is waiting. */
	st->waiting = st->stream_length;
	st->delivered = 0;
	r = ctl_redis_cmd(c, err, sizeof(err), 3, groups);
	for (i = 0;
	     r != NULL && r->type == REDIS_REPLY_ARRAY && i < r->elements;
	     i++) {
		const redisReply *g = r->element[i];

		for (j = 0; j + 1 < g->elements; j += 2)
			if (strcmp(g->element[j]->str, "name") == 0 &&
			    strcmp(g->element[j + 1]->str,
				KEY_CONSUMER_GROUP) == 0) {
				st->waiting = ctl_redis_field_int(g, "lag");
				st->delivered = ctl_redis_field_int(g,
				    "pending");
			}
	}
	freeReplyObject(r);
	/*
	 * Redis 7.0 cannot tell the lag once entries were deleted (the
	 * daemons XDEL what they acknowledge): then every entry that is
	 * not delivered is waiting.
	 */
	if (st->waiting < 0 && st->delivered >= 0)
		st->waiting = st->stream_length > st->delivered ?
		    st->stream_length - st->delivered :
		    0;
	r = ctl_redis_cmd(c, err, sizeof(err), 2, zcard);
	if (r == NULL)
		goto fail;
	st->delayed = r->integer;
	freeReplyObject(r);
	r = ctl_redis_cmd(c, err, sizeof(err), 2, hash);
	if (r == NULL)
		goto fail;
	st->in_flight = (long long)stats_hash_field(r, "in_flight");
	st->capacity = (long long)stats_hash_field(r, "capacity");
	ms = stats_hash_field(r, "avg_generation_ms");
	st->daemon_avg_s = ms >= 0 ? ms / 1000.0 : NAN;
	freeReplyObject(r);
	redisFree(c);
	return 0;
fail:
	ctl_warnx("stats: %s", err);
	redisFree(c);
	return -1;
}

/* A count for JSON: null when unknown. */
static void
stats_json_count(cJSON *o, const char *name, long long v)
{
	if (v < 0)
		cJSON_AddNullToObject(o, name);
	else
		cJSON_AddNumberToObject(o, name, (double)v);
}

static void
stats_json_seconds(cJSON *o, const char *name, double v)
{
	if (isnan(v))
		cJSON_AddNullToObject(o, name);
	else
		cJSON_AddNumberToObject(o, name, round(v * 1000) / 1000);
}

/* Print st as one JSON object; -1 when out of memory. */
static int
stats_print_json(const struct stats *st, int db_ok, int redis_ok)
{
	cJSON *root, *rec = NULL, *q = NULL, *gen;
	char  *text;
	int    i;

	root = cJSON_CreateObject();
	if (root == NULL)
		return -1;
	if (db_ok) {
		rec = cJSON_AddObjectToObject(root, "records");
		for (i = 0; rec != NULL && i < STATS__MAX; i++)
			stats_json_count(rec, stats_count_names[i],
			    st->count[i]);
		stats_json_seconds(root, "oldest_pending_seconds",
		    st->oldest_pending_s);
	} else
		cJSON_AddNullToObject(root, "records");
	if (redis_ok) {
		q = cJSON_AddObjectToObject(root, "queue");
		if (q != NULL) {
			stats_json_count(q, "stream_length", st->stream_length);
			stats_json_count(q, "waiting", st->waiting);
			stats_json_count(q, "delivered", st->delivered);
			stats_json_count(q, "delayed", st->delayed);
		}
		stats_json_count(root, "in_flight", st->in_flight);
		stats_json_count(root, "capacity", st->capacity);
	} else
		cJSON_AddNullToObject(root, "queue");
	gen = cJSON_AddObjectToObject(root, "generation_seconds");
	if (gen != NULL) {
		stats_json_seconds(gen, "last_hour_average",
		    db_ok ? st->avg_hour_s : NAN);
		stats_json_count(gen, "last_hour_completed",
		    db_ok ? st->completed_hour : -1);
		stats_json_seconds(gen, "daemon_average",
		    redis_ok ? st->daemon_avg_s : NAN);
	}
	text = cJSON_Print(root);
	cJSON_Delete(root);
	if (text == NULL)
		return -1;
	printf("%s\n", text);
	free(text);
	return 0;
}

static void
stats_line_count(const char *label, long long v)
{
	if (v < 0)
		printf("%-22s unknown\n", label);
	else
		printf("%-22s %lld\n", label, v);
}

static void
stats_print_text(const struct stats *st, int db_ok, int redis_ok)
{
	int i;

	if (db_ok) {
		for (i = 0; i < STATS__MAX; i++)
			stats_line_count(stats_count_names[i], st->count[i]);
		if (isnan(st->oldest_pending_s))
			printf("%-22s none\n", "oldest pending");
		else
			printf("%-22s %.1f s\n", "oldest pending",
			    st->oldest_pending_s);
		if (isnan(st->avg_hour_s))
			printf("%-22s none completed in the last hour\n",
			    "generation time");
		else
			printf("%-22s %.1f s average, last hour (%lld "
			       "completed)\n",
			    "generation time", st->avg_hour_s,
			    st->completed_hour);
	}
	if (redis_ok) {
		stats_line_count("queue waiting", st->waiting);
		stats_line_count("queue delivered", st->delivered);
		stats_line_count("delayed retries", st->delayed);
		stats_line_count("stream length", st->stream_length);
		stats_line_count("in flight", st->in_flight);
		stats_line_count("capacity", st->capacity);
		if (!isnan(st->daemon_avg_s))
			printf("%-22s %.1f s (daemons' moving average)\n",
			    "recent generation", st->daemon_avg_s);
	}
}

int
ctl_stats(struct ctl_settings *s, int argc, char **argv)
{
	struct stats st;
	int	     db_ok, redis_ok;

	(void)argv;
	if (argc != 1) {
		ctl_usage_error("stats: too many arguments");
		return CTL_EXIT_USAGE;
	}
	if (ctl_settings_need("DATABASE_URL", s->database_url) == -1)
		return CTL_EXIT_FAIL;
	memset(&st, 0, sizeof(st));
	db_ok = stats_from_db(s, &st) == 0;
	redis_ok = stats_from_redis(s, &st) == 0;
	if (s->json) {
		if (stats_print_json(&st, db_ok, redis_ok) == -1) {
			ctl_warnx("stats: out of memory");
			return CTL_EXIT_FAIL;
		}
	} else
		stats_print_text(&st, db_ok, redis_ok);
	return db_ok && redis_ok ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}
