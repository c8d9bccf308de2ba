/*
 * scenegenctl retry record_id | --failed [--since duration]: put failed
 * records back. In one transaction that sets scenegen.allow_reset (the
 * only way past the row guard of sql/add_job_columns_*.sql) each failed
 * row becomes pending with progress, attempts and retry_count at 0 and
 * the lease, due time, provider request and error cleared; then each is
 * queued on the job stream. A row that is not failed is never touched.
 * If Redis cannot take them, the rows are still pending and the daemon's
 * sweeper queues them; the command says so and exits 1.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "keys.h"
#include "record_actions.h"
#include "uuid.h"

static const char retry_one_sql[] = RECORD_RETRY_SET
    " WHERE id = $1::uuid AND " RECORD_RETRY_FROM " RETURNING id::text";
static const char retry_failed_sql[] = RECORD_RETRY_SET
    " WHERE " RECORD_RETRY_FROM " AND ($1::float8 IS NULL OR"
    " updated_at >= now() - make_interval(secs => $1::float8))"
    " RETURNING id::text";

/* Why record id was not reset: not there, or its status. */
static void
retry_explain(PGconn *conn, const char *id)
{
	const char *params[1] = { id };
	PGresult   *res;

	res = ctl_db_query(conn, "retry: SELECT image_generations",
	    "SELECT status FROM image_generations WHERE id = $1::uuid", 1,
	    params);
	if (res == NULL)
		return;
	if (PQntuples(res) == 0)
		ctl_warnx("retry: no record %s", id);
	else
		ctl_warnx("retry: record %s is %s; only failed records are "
			  "retried",
		    id, PQgetvalue(res, 0, 0));
	PQclear(res);
}

/* Reset the rows in one transaction; the result lists their ids. */
static PGresult *
retry_reset(PGconn *conn, const char *id, const char *since)
{
	const char *params[1];
	PGresult   *res;

	if (ctl_db_exec(conn, "retry: BEGIN", "BEGIN") == -1)
		return NULL;
	if (ctl_db_exec(conn, "retry: SET LOCAL scenegen.allow_reset",
		"SET LOCAL scenegen.allow_reset = 'on'") == -1)
		goto fail;
	params[0] = id != NULL ? id : since;
	res = ctl_db_query(conn, "retry: UPDATE image_generations",
	    id != NULL ? retry_one_sql : retry_failed_sql, 1, params);
	if (res == NULL)
		goto fail;
	if (ctl_db_exec(conn, "retry: COMMIT", "COMMIT") == -1) {
		PQclear(res);
		return NULL;
	}
	return res;
fail:
	ctl_db_exec(conn, "retry: ROLLBACK", "ROLLBACK");
	return NULL;
}

/* Queue every id of res; returns how many were queued. */
static int
retry_enqueue(struct ctl_settings *s, PGresult *res)
{
	const char   *argv[5];
	redisContext *c;
	redisReply   *r;
	char	      err[1024];
	int	      i, queued = 0;

	c = ctl_redis_connect(s, err, sizeof(err));
	if (c == NULL) {
		ctl_warnx("retry: %s", err);
		return 0;
	}
	for (i = 0; i < PQntuples(res); i++) {
		/* A stale delayed entry would only ring the bell twice. */
		argv[0] = "ZREM";
		argv[1] = KEY_DELAYED_SET;
		argv[2] = PQgetvalue(res, i, 0);
		freeReplyObject(ctl_redis_cmd(c, err, sizeof(err), 3, argv));
		argv[0] = "XADD";
		argv[1] = KEY_JOB_STREAM;
		argv[2] = "*";
		argv[3] = KEY_JOB_FIELD;
		argv[4] = PQgetvalue(res, i, 0);
		r = ctl_redis_cmd(c, err, sizeof(err), 5, argv);
		if (r == NULL) {
			ctl_warnx("retry: %s", err);
			break;
		}
		freeReplyObject(r);
		queued++;
	}
	redisFree(c);
	return queued;
}

int
ctl_retry(struct ctl_settings *s, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "failed", no_argument, NULL, 'F' },
		{ "since", required_argument, NULL, 'S' }, { NULL, 0, NULL, 0 }
	};
	const char *id = NULL;
	char	    since[32];
	PGconn	   *conn;
	PGresult   *res;
	char	    err[1024];
	long	    secs = -1;
	int	    ch, all = 0, n, queued, i;

	for (;;) {
		ch = getopt_long(argc, argv, "", opts, NULL);
		if (ch == -1)
			break;
		switch (ch) {
		case 'F':
			all = 1;
			break;
		case 'S':
			secs = ctl_parse_seconds(optarg);
			if (secs <= 0) {
				ctl_usage_error(
				    "retry: --since needs a "
				    "duration like 90s, 30m, 2h or 7d");
				return CTL_EXIT_USAGE;
			}
			break;
		default:
			ctl_usage_error("retry: unknown option");
			return CTL_EXIT_USAGE;
		}
	}
	if (optind < argc)
		id = argv[optind++];
	if (optind != argc || (id == NULL) == (all == 0) ||
	    (secs > 0 && !all)) {
		ctl_usage_error("retry: give one record_id, or --failed "
				"[--since duration]");
		return CTL_EXIT_USAGE;
	}
	if (id != NULL && !uuid_is_valid(id)) {
		ctl_usage_error("retry: %s is not a UUID", id);
		return CTL_EXIT_USAGE;
	}
	if (ctl_settings_need("DATABASE_URL", s->database_url) == -1)
		return CTL_EXIT_FAIL;
	snprintf(since, sizeof(since), "%ld", secs);
	conn = ctl_db_connect(s, err, sizeof(err));
	if (conn == NULL) {
		ctl_warnx("retry: %s", err);
		return CTL_EXIT_FAIL;
	}
	res = retry_reset(conn, id, secs > 0 ? since : NULL);
	if (res == NULL) {
		PQfinish(conn);
		return CTL_EXIT_FAIL;
	}
	n = PQntuples(res);
	if (n == 0) {
		if (id != NULL)
			retry_explain(conn, id);
		else
			printf("%s: no failed records%s\n", CTL_PROGNAME,
			    secs > 0 ? " in that time" : "");
		PQclear(res);
		PQfinish(conn);
		return id != NULL ? CTL_EXIT_FAIL : CTL_EXIT_OK;
	}
	PQfinish(conn);
	queued = retry_enqueue(s, res);
	for (i = 0; i < n; i++)
		printf("%s: retrying %s\n", CTL_PROGNAME,
		    PQgetvalue(res, i, 0));
	PQclear(res);
	printf("%s: %d record(s) reset to pending, %d queued\n", CTL_PROGNAME,
	    n, queued);
	if (queued < n) {
		ctl_warnx("retry: %d record(s) pending but not queued; "
			  "scenegend's sweeper queues them",
		    n - queued);
		return CTL_EXIT_FAIL;
	}
	return CTL_EXIT_OK;
}
