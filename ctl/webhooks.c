/*
 * scenegenctl webhooks | redeliver delivery_id | redeliver --all-failed:
 * the webhook deliveries that failed (their attempts used up, or gone:
 * the receiver answered 410), and sending them again. A redelivery makes
 * the row pending with its attempts at 0 and due now; it keeps its
 * webhook-id and body, so a receiver that already has it can tell.
 * scenegend sends it within a second.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static const char webhooks_sql[] =
    "SELECT d.id, d.status, d.event, d.record_id, d.webhook_id,"
    " d.attempts, coalesce(d.last_status_code::text, '-'),"
    " coalesce(d.last_error, ''), to_char(d.created_at AT TIME ZONE 'UTC',"
    " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), coalesce(g.webhook_url, '')"
    " FROM webhook_deliveries d JOIN image_generations g"
    " ON g.id = d.record_id WHERE d.status IN ('failed', 'gone')"
    " ORDER BY d.id";
static const char redeliver_sql[] =
    "UPDATE webhook_deliveries SET status = 'pending', attempts = 0,"
    " next_attempt_at = now(), last_error = NULL, delivered_at = NULL"
    " WHERE (($1::bigint IS NOT NULL AND id = $1::bigint AND"
    " status IN ('failed', 'gone')) OR ($1::bigint IS NULL AND"
    " status = 'failed')) RETURNING id::text, webhook_id";

/* Connect for subcommand what; NULL with the reason on stderr. */
static PGconn *
webhooks_connect(struct ctl_settings *s, const char *what)
{
	PGconn *conn;
	char	err[1024];

	if (ctl_settings_need("DATABASE_URL", s->database_url) == -1)
		return NULL;
	conn = ctl_db_connect(s, err, sizeof(err));
	if (conn == NULL)
		ctl_warnx("%s: %s", what, err);
	return conn;
}

int
ctl_webhooks(struct ctl_settings *s, int argc, char **argv)
{
	PGconn	 *conn;
	PGresult *res;
	int	  i;

	if (argc != 1) {
		ctl_usage_error("webhooks: no arguments");
		return CTL_EXIT_USAGE;
	}
	conn = webhooks_connect(s, "webhooks");
	if (conn == NULL)
		return CTL_EXIT_FAIL;
	res = ctl_db_query(conn, "webhooks: SELECT webhook_deliveries",
	    webhooks_sql, 0, NULL);
	PQfinish(conn);
	if (res == NULL)
		return CTL_EXIT_FAIL;
	if (PQntuples(res) == 0)
		printf("%s: no failed webhook deliveries\n", CTL_PROGNAME);
	else
		printf("%-8s %-7s %-12s %-36s %-8s %-4s %s\n", "ID", "STATUS",
		    "EVENT", "RECORD", "ATTEMPTS", "LAST", "URL");
	for (i = 0; i < PQntuples(res); i++)
		printf("%-8s %-7s %-12s %-36s %-8s %-4s %s\n",
		    PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		    PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
		    PQgetvalue(res, i, 5), PQgetvalue(res, i, 6),
		    PQgetvalue(res, i, 9));
	PQclear(res);
	return CTL_EXIT_OK;
}

int
ctl_redeliver(struct ctl_settings *s, int argc, char **argv)
{
	const char *params[1] = { NULL };
	PGconn	   *conn;
	PGresult   *res;
	int	    i, n;

	if (argc != 2) {
		ctl_usage_error("redeliver: give one delivery id, or "
				"--all-failed");
		return CTL_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--all-failed") != 0) {
		if (ctl_parse_long(argv[1], 1, 9000000000000000000L) == -1) {
			ctl_usage_error("redeliver: %s is not a delivery id",
			    argv[1]);
			return CTL_EXIT_USAGE;
		}
		params[0] = argv[1];
	}
	conn = webhooks_connect(s, "redeliver");
	if (conn == NULL)
		return CTL_EXIT_FAIL;
	res = ctl_db_query(conn, "redeliver: UPDATE webhook_deliveries",
	    redeliver_sql, 1, params);
	PQfinish(conn);
	if (res == NULL)
		return CTL_EXIT_FAIL;
	n = PQntuples(res);
	for (i = 0; i < n; i++)
		printf("%s: redelivering %s (%s)\n", CTL_PROGNAME,
		    PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
	PQclear(res);
	if (n == 0 && params[0] != NULL) {
		ctl_warnx("redeliver: no failed or gone delivery %s",
		    params[0]);
		return CTL_EXIT_FAIL;
	}
	printf("%s: %d delivery(ies) pending again\n", CTL_PROGNAME, n);
	return CTL_EXIT_OK;
}
