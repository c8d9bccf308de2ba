/*
 * scenegenctl check [-w seconds]: the five checks a sysadmin runs first
 * when images do not come (the old system's check script, for this one):
 * schema, Redis, a live daemon, the queue, a test enqueue. One line each,
 * "PASS name: detail" or "FAIL name: detail and what to do"; exit 1 if
 * any failed. Nothing here creates a job or changes a row.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "ctl.h"
#include "keys.h"
#include "uuid.h"

#define CHECK_DETAIL_MAX    2048 /* holds any CHECK_TEXT_MAX + words */
#define CHECK_TEXT_MAX	    1024
#define CHECK_CANARY_PREFIX "{scenegen}:check:" /* KEY_* hash tag */

/* Columns SPEC.md fixes, and those the daemon keeps in the row. */
static const char check_columns[] =
    "{id,user_id,chapter_id,scene_number,"
    "script_id,image_type,status,progress,retry_count,last_attempted_at,"
    "image_url,error_message,prompt,style,aspect_ratio,metadata,created_at,"
    "updated_at,tier,idempotency_key,attempts,lease_token,lease_expires_at,"
    "next_attempt_at,provider_request_id,generation_time_seconds}";
static const char check_indexes[] =
    "{idx_image_generations_chapter_id,"
    "idx_image_generations_chapter_scene,idx_image_generations_retry_count,"
    "idx_image_generations_status}";

struct check_state {
	struct ctl_settings *settings;
	redisContext	    *redis;
	char		     redis_err[CHECK_TEXT_MAX];
	long		     window_s; /* -w: a daemon seen this recently */
	int		     failed;
	int		     run;
};

/* Print one result line and count it. */
static void
check_report(struct check_state *st, int ok, const char *name,
    const char *detail)
{
	printf("%s %s: %s\n", ok ? "PASS" : "FAIL", name, detail);
	fflush(stdout);
	st->run++;
	if (!ok)
		st->failed++;
}

/* Names from the missing-ones query (one per row) joined by ", ". */
static void
check_join(PGresult *res, char *out, size_t outlen)
{
	size_t used = 0;
	int    i, len;

	out[0] = '\0';
	for (i = 0; i < PQntuples(res); i++) {
		len = snprintf(out + used, outlen - used, "%s%s",
		    i > 0 ? ", " : "", PQgetvalue(res, i, 0));
		if (len < 0 || (size_t)len >= outlen - used)
			break;
		used += (size_t)len;
	}
}

/*
 * Run sql, which lists the names of wanted ($1, a text[] literal) that
 * the schema lacks; report a FAIL naming them as noun ("column(s)").
 * -1 if it reported one.
 */
static int
check_missing(struct check_state *st, PGconn *conn, const char *wanted,
    const char *what, const char *noun, const char *sql)
{
	const char *params[1] = { wanted };
	PGresult   *res;
	char	    detail[CHECK_DETAIL_MAX], names[CHECK_TEXT_MAX];

	res = ctl_db_query(conn, what, sql, 1, params);
	if (res == NULL) {
		snprintf(detail, sizeof(detail), "cannot read the %s", what);
		check_report(st, 0, "schema", detail);
		return -1;
	}
	if (PQntuples(res) > 0) {
		check_join(res, names, sizeof(names));
		snprintf(detail, sizeof(detail),
		    "image_generations lacks "
		    "%s %s: run scenegenctl migrate",
		    noun, names);
		check_report(st, 0, "schema", detail);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

/* 1. The tables, columns, indexes and migrations the programs need. */
static void
check_schema(struct check_state *st)
{
	const char *dir, *p;
	PGconn	   *conn;
	PGresult   *res = NULL;
	char	    detail[CHECK_DETAIL_MAX], names[CHECK_TEXT_MAX];
	int	    n;

	conn = ctl_db_connect(st->settings, names, sizeof(names));
	if (conn == NULL) {
		snprintf(detail, sizeof(detail), "%s (%s)", names,
		    st->settings->database_url == NULL ?
			"set it in " CTL_ENV_FILE :
			"is PostgreSQL up, and DATABASE_URL right?");
		check_report(st, 0, "schema", detail);
		return;
	}
	res = ctl_db_query(conn, "chapters",
	    "SELECT to_regclass('chapters') "
	    "IS NOT NULL AND to_regclass('image_generations') IS NOT NULL",
	    0, NULL);
	if (res == NULL || strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		check_report(st, 0, "schema",
		    "tables chapters and "
		    "image_generations missing: run scenegenctl migrate");
		goto done;
	}
	PQclear(res);
	res = NULL;
	if (check_missing(st, conn, check_columns, "columns", "column(s)",
		"SELECT c FROM unnest($1::text[]) AS c WHERE c NOT IN "
		"(SELECT column_name FROM information_schema.columns WHERE "
		"table_schema = current_schema() AND "
		"table_name = 'image_generations') ORDER BY c") == -1 ||
	    check_missing(st, conn, check_indexes, "indexes", "index(es)",
		"SELECT i FROM unnest($1::text[]) AS i WHERE NOT EXISTS "
		"(SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() "
		"AND tablename = 'image_generations' AND indexname = i) "
		"ORDER BY i") == -1)
		goto done;
	dir = ctl_settings_sql_dir(st->settings);
	n = dir != NULL ? ctl_migrate_pending(conn, dir, names, sizeof(names)) :
			  0;
	if (n > 0) {
		snprintf(detail, sizeof(detail),
		    "%d migration(s) of %s not "
		    "applied (%s): run scenegenctl migrate",
		    n, dir, names);
		check_report(st, 0, "schema", detail);
		goto done;
	}
	if (n < 0) {
		snprintf(detail, sizeof(detail),
		    "cannot compare with the "
		    "SQL folder: %s",
		    names);
		check_report(st, 0, "schema", detail);
		goto done;
	}
	for (n = 1, p = check_columns; *p != '\0'; p++)
		n += *p == ',';
	snprintf(detail, sizeof(detail),
	    "image_generations has the %d "
	    "required columns and the 4 indexes%s%s%s",
	    n, dir != NULL ? "; every migration of " : "",
	    dir != NULL ? dir : "", dir != NULL ? " applied" : "");
	check_report(st, 1, "schema", detail);
done:
	PQclear(res);
	PQfinish(conn);
}

/* 2. Redis answers PING; the connection is kept for the next checks. */
static void
check_redis(struct check_state *st)
{
	const char *argv[2];
	redisReply *r;
	char	    detail[CHECK_DETAIL_MAX];
	const char *version = NULL, *p;
	int	    len = 0;

	st->redis = ctl_redis_connect(st->settings, st->redis_err,
	    sizeof(st->redis_err));
	if (st->redis == NULL) {
		snprintf(detail, sizeof(detail), "%s (%s)", st->redis_err,
		    st->settings->redis_url == NULL ?
			"set it in " CTL_ENV_FILE :
			"is redis-server up, and REDIS_URL right?");
		check_report(st, 0, "redis", detail);
		return;
	}
	argv[0] = "PING";
	r = ctl_redis_cmd(st->redis, st->redis_err, sizeof(st->redis_err), 1,
	    argv);
	if (r == NULL || strcmp(r->str, "PONG") != 0) {
		if (r != NULL)
			snprintf(st->redis_err, sizeof(st->redis_err),
			    "PING: no PONG");
		check_report(st, 0, "redis", st->redis_err);
		freeReplyObject(r);
		redisFree(st->redis);
		st->redis = NULL;
		return;
	}
	freeReplyObject(r);
	argv[0] = "INFO";
	argv[1] = "server";
	r = ctl_redis_cmd(st->redis, detail, sizeof(detail), 2, argv);
	if (r != NULL && r->type == REDIS_REPLY_STRING) {
		p = strstr(r->str, "redis_version:");
		if (p != NULL) {
			version = p + strlen("redis_version:");
			len = (int)strcspn(version, "\r\n");
		}
	}
	snprintf(detail, sizeof(detail), "Redis %.*s answers PING",
	    version != NULL ? len : 1, version != NULL ? version : "?");
	freeReplyObject(r);
	check_report(st, 1, "redis", detail);
}

/* The newest consumer of the group: *idle_ms and its name; -1 if none. */
static int
check_newest_consumer(struct check_state *st, long long *idle_ms, char *name,
    size_t namelen, int *count, char *err, size_t errlen)
{
	const char *argv[] = { "XINFO", "CONSUMERS", KEY_JOB_STREAM,
		KEY_CONSUMER_GROUP };
	redisReply *r;
	long long   idle;
	size_t	    i, j;

	*idle_ms = -1;
	*count = 0;
	r = ctl_redis_cmd(st->redis, err, errlen, 4, argv);
	if (r == NULL)
		return -1;
	for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		idle = ctl_redis_field_int(r->element[i], "idle");
		if (idle < 0)
			continue;
		(*count)++;
		if (*idle_ms >= 0 && idle >= *idle_ms)
			continue;
		*idle_ms = idle;
		for (j = 0; j + 1 < r->element[i]->elements; j += 2)
			if (strcmp(r->element[i]->element[j]->str, "name") == 0)
				snprintf(name, namelen, "%s",
				    r->element[i]->element[j + 1]->str);
	}
	freeReplyObject(r);
	return *count > 0 ? 0 : -1;
}

/* A field of the stats hash as text; "?" when absent. */
static void
check_stats_field(redisReply *r, const char *field, char *out, size_t len)
{
	size_t i;

	snprintf(out, len, "?");
	for (i = 0;
	     r != NULL && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements;
	     i += 2)
		if (strcmp(r->element[i]->str, field) == 0)
			snprintf(out, len, "%s", r->element[i + 1]->str);
}

/* Age in ms of the stats hash by its own time field; -1 if it has none. */
static long long
check_stats_age(redisReply *r)
{
	static const char *const fields[] = { "updated_ms", "updated_at_ms",
		"heartbeat_ms" };
	char			 text[64];
	long			 ms;
	size_t			 i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		check_stats_field(r, fields[i], text, sizeof(text));
		ms = ctl_parse_long(text, 0, LONG_MAX);
		if (ms > 0)
			return clock_wall_ms() - ms;
	}
	return -1;
}

/* The value of field name in one CLIENT LIST line, copied into out. */
static void
check_client_field(const char *line, const char *name, char *out, size_t outlen)
{
	const char *p = line;
	size_t	    nlen = strlen(name), vlen;

	out[0] = '\0';
	while (p != NULL && *p != '\0') {
		if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			p += nlen + 1;
			vlen = strcspn(p, " \n\r");
			snprintf(out, outlen, "%.*s", (int)vlen, p);
			return;
		}
		p = strchr(p, ' ');
		if (p != NULL)
			p++;
	}
}

/*
 * Daemon readers connected to Redis now: clients named scenegend* or
 * whose last command is XREADGROUP (the daemons block in it while they
 * have room for work). Returns how many; *idle_s the least idle, in s.
 */
static int
check_readers(struct check_state *st, long *idle_s)
{
	const char *argv[] = { "CLIENT", "LIST" };
	const char *line;
	redisReply *r;
	char	    err[512], name[128], cmd[64], idle[32];
	long	    v;
	int	    n = 0;

	*idle_s = -1;
	r = ctl_redis_cmd(st->redis, err, sizeof(err), 2, argv);
	if (r == NULL || r->type != REDIS_REPLY_STRING) {
		freeReplyObject(r);
		return 0; /* e.g. not allowed by an ACL: unknown */
	}
	for (line = r->str; line != NULL && *line != '\0';) {
		check_client_field(line, "name", name, sizeof(name));
		check_client_field(line, "cmd", cmd, sizeof(cmd));
		check_client_field(line, "idle", idle, sizeof(idle));
		if (strncmp(name, "scenegend", 9) == 0 ||
		    strcmp(cmd, "xreadgroup") == 0) {
			n++;
			v = ctl_parse_long(idle, 0, LONG_MAX);
			if (v >= 0 && (*idle_s < 0 || v < *idle_s))
				*idle_s = v;
		}
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
	freeReplyObject(r);
	return n;
}

/*
 * 3. A scenegend is alive. Any of: the stats hash it publishes is fresh
 * (when it stamps it), a daemon reader is connected to Redis and was
 * active lately, or a consumer of the group took a job lately.
 */
static void
check_daemon(struct check_state *st)
{
	const char *argv[] = { "HGETALL", KEY_STATS_HASH };
	redisReply *stats;
	char	    detail[CHECK_DETAIL_MAX], err[512], name[256] = "?";
	char	    cap[64], inflight[64], figures[192];
	long long   idle_ms, age_ms, window_ms = st->window_s * 1000LL;
	long	    reader_idle;
	int	    consumers, readers;

	if (st->redis == NULL) {
		snprintf(detail, sizeof(detail), "not checked: %s",
		    st->redis_err);
		check_report(st, 0, "daemon", detail);
		return;
	}
	if (check_newest_consumer(st, &idle_ms, name, sizeof(name), &consumers,
		err, sizeof(err)) == -1)
		idle_ms = -1;
	readers = check_readers(st, &reader_idle);
	stats = ctl_redis_cmd(st->redis, err, sizeof(err), 2, argv);
	age_ms = check_stats_age(stats);
	check_stats_field(stats, "capacity", cap, sizeof(cap));
	check_stats_field(stats, "in_flight", inflight, sizeof(inflight));
	freeReplyObject(stats);
	snprintf(figures, sizeof(figures), "capacity %s, in flight %s", cap,
	    inflight);
	if (age_ms >= 0 && age_ms <= window_ms)
		snprintf(detail, sizeof(detail),
		    "%s refreshed %.1f s ago; "
		    "%s",
		    KEY_STATS_HASH, age_ms / 1000.0, figures);
	else if (readers > 0 && reader_idle >= 0 &&
	    reader_idle * 1000LL <= window_ms)
		snprintf(detail, sizeof(detail),
		    "%d daemon reader(s) on "
		    "Redis, active %ld s ago; %s",
		    readers, reader_idle, figures);
	else if (idle_ms >= 0 && idle_ms <= window_ms)
		snprintf(detail, sizeof(detail),
		    "consumer %s of group %s "
		    "took work %.1f s ago (%d consumer(s)); %s",
		    name, KEY_CONSUMER_GROUP, idle_ms / 1000.0, consumers,
		    figures);
	else {
		snprintf(detail, sizeof(detail),
		    "no sign of scenegend in the "
		    "last %ld s (no reader on Redis, no fresh %s, %d "
		    "consumer(s) of group %s): is scenegend running? "
		    "(systemctl status scenegend; journalctl -u scenegend)",
		    st->window_s, KEY_STATS_HASH, consumers,
		    KEY_CONSUMER_GROUP);
		check_report(st, 0, "daemon", detail);
		return;
	}
	check_report(st, 1, "daemon", detail);
}

/* 4. The stream and its group exist; how much waits where. */
static void
check_queue(struct check_state *st)
{
	const char *stream[] = { "XINFO", "STREAM", KEY_JOB_STREAM };
	const char *groups[] = { "XINFO", "GROUPS", KEY_JOB_STREAM };
	const char *zcard[] = { "ZCARD", KEY_DELAYED_SET };
	redisReply *r = NULL, *g = NULL;
	char	    detail[CHECK_DETAIL_MAX], err[512], lagtext[32];
	long long   length, pending = -1, lag = -1, delayed;
	size_t	    i;
	int	    found = 0;

	if (st->redis == NULL) {
		snprintf(detail, sizeof(detail), "not checked: %s",
		    st->redis_err);
		check_report(st, 0, "queue", detail);
		return;
	}
	r = ctl_redis_cmd(st->redis, err, sizeof(err), 3, stream);
	if (r == NULL) {
		snprintf(detail, sizeof(detail),
		    "no stream %s (%s): "
		    "scenegend creates it at start; is it running?",
		    KEY_JOB_STREAM, err);
		check_report(st, 0, "queue", detail);
		return;
	}
	length = ctl_redis_field_int(r, "length");
	freeReplyObject(r);
	g = ctl_redis_cmd(st->redis, err, sizeof(err), 3, groups);
	for (i = 0;
	     g != NULL && g->type == REDIS_REPLY_ARRAY && i < g->elements;
	     i++) {
		const redisReply *e = g->element[i];
		size_t		  j;

		for (j = 0; e->type == REDIS_REPLY_ARRAY && j + 1 < e->elements;
		     j += 2)
			if (strcmp(e->element[j]->str, "name") == 0 &&
			    strcmp(e->element[j + 1]->str,
				KEY_CONSUMER_GROUP) == 0)
				found = 1;
		if (found) {
			pending = ctl_redis_field_int(e, "pending");
			lag = ctl_redis_field_int(e, "lag");
			break;
		}
	}
	freeReplyObject(g);
	if (!found) {
		snprintf(detail, sizeof(detail),
		    "stream %s has no consumer "
		    "group %s: scenegend creates it at start; is it running?",
		    KEY_JOB_STREAM, KEY_CONSUMER_GROUP);
		check_report(st, 0, "queue", detail);
		return;
	}
	r = ctl_redis_cmd(st->redis, err, sizeof(err), 2, zcard);
	if (r == NULL) {
		check_report(st, 0, "queue", err);
		return;
	}
	delayed = r->integer;
	freeReplyObject(r);
	/* Lag unknown after XDEL (Redis 7.0): undelivered = length - pending. */
	if (lag < 0 && pending >= 0 && length >= 0)
		lag = length > pending ? length - pending : 0;
	if (lag >= 0)
		snprintf(lagtext, sizeof(lagtext), "%lld", lag);
	else
		snprintf(lagtext, sizeof(lagtext), "unknown");
	snprintf(detail, sizeof(detail),
	    "stream %s: %lld entries, %s "
	    "waiting, %lld delivered and unacknowledged; %lld delayed "
	    "retries",
	    KEY_JOB_STREAM, length, lagtext, pending, delayed);
	check_report(st, 1, "queue", detail);
}

/* 5. Enqueue works: XADD to a scratch stream, read it back, delete it. */
static void
check_enqueue(struct check_state *st)
{
	const char *argv[7];
	redisReply *r;
	char	    key[128], value[64], uuid[UUID_STR_LEN + 1];
	char	    detail[CHECK_DETAIL_MAX], err[512];
	int	    ok = 0;

	if (st->redis == NULL) {
		snprintf(detail, sizeof(detail), "not checked: %s",
		    st->redis_err);
		check_report(st, 0, "enqueue", detail);
		return;
	}
	if (uuid_generate(uuid) == -1) {
		check_report(st, 0, "enqueue", "getrandom failed");
		return;
	}
	snprintf(key, sizeof(key), "%s%s", CHECK_CANARY_PREFIX, uuid);
	snprintf(value, sizeof(value), "canary-%s", uuid);
	argv[0] = "XADD";
	argv[1] = key;
	argv[2] = "*";
	argv[3] = KEY_JOB_FIELD;
	argv[4] = value;
	r = ctl_redis_cmd(st->redis, err, sizeof(err), 5, argv);
	if (r == NULL) {
		snprintf(detail, sizeof(detail),
		    "%s (out of memory? "
		    "read-only replica?)",
		    err);
		check_report(st, 0, "enqueue", detail);
		return;
	}
	freeReplyObject(r);
	argv[0] = "PEXPIRE";
	argv[2] = "60000"; /* gone even if we die before DEL */
	freeReplyObject(ctl_redis_cmd(st->redis, err, sizeof(err), 3, argv));
	argv[0] = "XRANGE";
	argv[2] = "-";
	argv[3] = "+";
	r = ctl_redis_cmd(st->redis, err, sizeof(err), 4, argv);
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
	    r->element[0]->elements == 2 &&
	    r->element[0]->element[1]->elements == 2 &&
	    strcmp(r->element[0]->element[1]->element[1]->str, value) == 0)
		ok = 1;
	freeReplyObject(r);
	argv[0] = "DEL";
	r = ctl_redis_cmd(st->redis, err, sizeof(err), 2, argv);
	if (r == NULL || r->integer != 1)
		ok = 0;
	freeReplyObject(r);
	if (ok)
		snprintf(detail, sizeof(detail),
		    "XADD, XRANGE and DEL on "
		    "scratch stream %s worked",
		    key);
	else
		snprintf(detail, sizeof(detail),
		    "scratch stream %s: entry "
		    "not read back or not deleted",
		    key);
	check_report(st, ok, "enqueue", detail);
}

int
ctl_check(struct ctl_settings *s, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "window", required_argument, NULL, 'w' }, { NULL, 0, NULL, 0 }
	};
	struct check_state st;
	int		   ch;

	memset(&st, 0, sizeof(st));
	st.settings = s;
	st.window_s = 60;
	for (;;) {
		ch = getopt_long(argc, argv, "w:", opts, NULL);
		if (ch == -1)
			break;
		switch (ch) {
		case 'w':
			st.window_s = ctl_parse_seconds(optarg);
			if (st.window_s <= 0) {
				ctl_usage_error("check: -w needs seconds");
				return CTL_EXIT_USAGE;
			}
			break;
		default:
			ctl_usage_error("check: unknown option");
			return CTL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		ctl_usage_error("check: too many arguments");
		return CTL_EXIT_USAGE;
	}
	check_schema(&st);
	check_redis(&st);
	check_daemon(&st);
	check_queue(&st);
	check_enqueue(&st);
	if (st.redis != NULL)
		redisFree(st.redis);
	printf("%d of %d checks passed\n", st.run - st.failed, st.run);
	return st.failed > 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}
