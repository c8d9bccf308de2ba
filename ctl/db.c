/*
 * PostgreSQL for scenegenctl: one blocking connection, text parameters
 * only (never SQL built from strings), errors on stderr naming the step.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "pgerr.h"

/* Show WARNINGs (and worse) from the server, drop NOTICEs. */
static void
ctl_db_notice(void *arg, const PGresult *res)
{
	const char *sev, *msg;

	(void)arg;
	sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (sev == NULL || msg == NULL || strcmp(sev, "NOTICE") == 0 ||
	    strcmp(sev, "DEBUG") == 0 || strcmp(sev, "INFO") == 0 ||
	    strcmp(sev, "LOG") == 0)
		return;
	ctl_warnx("PostgreSQL %s: %s", sev, msg);
}

PGconn *
ctl_db_connect(const struct ctl_settings *s, char *err, size_t errlen)
{
	/* Later entries win: the URL's own settings override these. */
	const char *const keys[] = { "connect_timeout",
		"fallback_application_name", "dbname", NULL };
	const char	 *values[] = { "5", CTL_PROGNAME, NULL, NULL };
	PGconn		 *conn;
	char		  msg[512];

	if (s->database_url == NULL) {
		snprintf(err, errlen, "missing required setting DATABASE_URL");
		return NULL;
	}
	values[2] = s->database_url;
	conn = PQconnectdbParams(keys, values, 1);
	if (conn == NULL) {
		snprintf(err, errlen, "PQconnectdbParams: out of memory");
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(err, errlen, "cannot connect to PostgreSQL: %s",
		    pgerr_flatten(PQerrorMessage(conn), msg, sizeof(msg)));
		PQfinish(conn);
		return NULL;
	}
	PQsetNoticeReceiver(conn, ctl_db_notice, NULL);
	return conn;
}

/* Print "what: <server message>" as one line. */
static void
ctl_db_report(PGconn *conn, const char *what, const PGresult *res)
{
	const char *msg;
	char	    line[1024];

	msg = res != NULL ? PQresultErrorMessage(res) : "";
	if (*msg == '\0')
		msg = PQerrorMessage(conn);
	ctl_warnx("%s: %s", what, pgerr_flatten(msg, line, sizeof(line)));
}

int
ctl_db_exec(PGconn *conn, const char *what, const char *sql)
{
	PGresult *res;
	int	  rc = 0;

	res = PQexec(conn, sql);
	if (res == NULL ||
	    (PQresultStatus(res) != PGRES_COMMAND_OK &&
		PQresultStatus(res) != PGRES_TUPLES_OK)) {
		ctl_db_report(conn, what, res);
		rc = -1;
	}
	PQclear(res);
	return rc;
}

PGresult *
ctl_db_query(PGconn *conn, const char *what, const char *sql, int nparams,
    const char *const *params)
{
	PGresult *res;

	res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	if (res == NULL ||
	    (PQresultStatus(res) != PGRES_COMMAND_OK &&
		PQresultStatus(res) != PGRES_TUPLES_OK)) {
		ctl_db_report(conn, what, res);
		PQclear(res);
		return NULL;
	}
	return res;
}
