/*
 * The worker's PostgreSQL connection: opened on first use, every
 * statement prepared once per connection, and opened again (statements
 * prepared again) after the server went away. A statement that fails
 * because the connection broke is run once more on a new connection.
 * All values are bound parameters; no SQL is ever built from text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pgerr.h"
#include "extern.h"
#include "status_doc.h"

static const struct {
	const char *name;
	const char *sql;
	int	    nparams;
} stmts[STMT__MAX] = {
	/*
	 * Ownership check and insert in one round trip: no row comes
	 * back when the chapter is not the caller's, or when the
	 * caller already used the Idempotency-Key ($10). $11 and $12 are
	 * the webhook's URL and events (NULL: none, the default events).
	 */
	[STMT_SCENE_INSERT] = { "scene_insert",
	    "INSERT INTO image_generations (id, user_id, chapter_id, "
	    "scene_number, script_id, image_type, status, progress, "
	    "retry_count, prompt, style, aspect_ratio, tier, "
	    "idempotency_key, webhook_url, webhook_events, metadata) "
	    "SELECT $1::uuid, $2::uuid, c.id, $4::integer, $5::uuid, "
	    "'scene', 'pending', 0, 0, $6::text, $7::text, $8::text, "
	    "$9::text, $10::text, $11::text, COALESCE($12::text[], "
	    "ARRAY['completed', 'failed', 'canceled']), jsonb_build_object("
	    "'scene_number', $4::integer, 'script_id', $5::uuid, "
	    "'chapter_id', c.id, 'service', 'modelslab_v7', "
	    "'task_id', $1::uuid) "
	    "FROM chapters c WHERE c.id = $3::uuid AND c.user_id = $2::uuid "
	    "ON CONFLICT (user_id, idempotency_key) "
	    "WHERE idempotency_key IS NOT NULL DO NOTHING "
	    "RETURNING id, retry_count",
	    12 },
	/* The caller's record with an Idempotency-Key, and if < 24 h old. */
	[STMT_IDEM_LOOKUP] = { "idem_lookup",
	    "SELECT id, retry_count, chapter_id, scene_number, "
	    "created_at > now() - interval '24 hours' "
	    "FROM image_generations "
	    "WHERE user_id = $1::uuid AND idempotency_key = $2::text",
	    2 },
	/* Free a key older than 24 h for a new request. */
	[STMT_IDEM_CLEAR] = { "idem_clear",
	    "UPDATE image_generations SET idempotency_key = NULL "
	    "WHERE id = $1::uuid AND user_id = $2::uuid "
	    "AND idempotency_key = $3::text",
	    3 },
	/* The newest record of a chapter's scene that the caller owns. */
	[STMT_SCENE_STATUS] = { "scene_status",
	    "SELECT " STATUS_COLUMNS " FROM image_generations "
	    "WHERE chapter_id = $1::uuid AND scene_number = $2::integer "
	    "AND user_id = $3::uuid "
	    "ORDER BY created_at DESC, id DESC LIMIT 1",
	    3 },
	/* A record by id, if the caller owns it. */
	[STMT_RECORD_STATUS] = { "record_status",
	    "SELECT " STATUS_COLUMNS " FROM image_generations "
	    "WHERE id = $1::uuid AND user_id = $2::uuid",
	    2 },
	/*
	 * A page of a chapter's scenes: the newest record of each scene
	 * (of the caller's) after scene $3, by scene number, whose status
	 * is one of $4 (NULL: any), at most $5 of them. A skip scan: each
	 * step finds the next scene's newest record by one descent of
	 * idx_image_generations_chapter_scene_newest (LIMIT 1 in its
	 * order), whatever the planner thinks a chapter holds, and the
	 * steps stop once $5 are kept. No row when the chapter is not the
	 * caller's; one row of NULLs when it has no such scene.
	 */
	[STMT_SCENE_LIST] = { "scene_list",
	    "WITH RECURSIVE s AS ((SELECT " STATUS_SOURCE
	    " FROM image_generations "
	    "WHERE chapter_id = $1::uuid AND user_id = $2::uuid "
	    "AND scene_number > $3::integer "
	    "ORDER BY scene_number, created_at DESC, id DESC LIMIT 1) "
	    "UNION ALL SELECT n.* FROM s, LATERAL (SELECT " STATUS_SOURCE
	    " FROM image_generations g "
	    "WHERE g.chapter_id = $1::uuid AND g.user_id = $2::uuid "
	    "AND g.scene_number > s.scene_number "
	    "ORDER BY g.scene_number, g.created_at DESC, g.id DESC "
	    "LIMIT 1) n) "
	    "SELECT " STATUS_COLUMNS_N " FROM chapters c "
	    "LEFT JOIN LATERAL (SELECT * FROM s "
	    "WHERE $4::text[] IS NULL OR s.status = ANY ($4::text[]) "
	    "LIMIT $5::integer) n ON true "
	    "WHERE c.id = $1::uuid AND c.user_id = $2::uuid "
	    "ORDER BY n.scene_number",
	    5 },
	/*
	 * Cancel the caller's record ($1 id, $2 user) if it is not final
	 * yet: one guarded UPDATE. A row that is not pending or in progress
	 * (final, someone else's, none) is not touched: no row back. The
	 * lease stays, so the daemon holding the job (if any) sees its row
	 * canceled under its own token; its guarded writes, all made on
	 * status = 'in_progress', change nothing from now on.
	 */
	[STMT_RECORD_CANCEL] = { "record_cancel",
	    "UPDATE image_generations SET status = 'canceled', "
	    "error_message = NULL, next_attempt_at = NULL "
	    "WHERE id = $1::uuid AND user_id = $2::uuid "
	    "AND status IN ('pending', 'in_progress') RETURNING id",
	    2 },
	/*
	 * A record by id alone, with its owner (column 14): for a signed
	 * events_url, whose signature names the record but not the user.
	 */
	[STMT_RECORD_SIGNED] = { "record_signed",
	    "SELECT " STATUS_COLUMNS ", user_id FROM image_generations "
	    "WHERE id = $1::uuid",
	    1 },
	/*
	 * A record by id, its row locked against writes until the
	 * transaction ends: live status fills an empty channel with it
	 * (events.c), and no later change can be published before it.
	 */
	[STMT_RECORD_LOCKED] = { "record_locked",
	    "SELECT " STATUS_COLUMNS ", user_id FROM image_generations "
	    "WHERE id = $1::uuid FOR SHARE",
	    1 },
	[STMT_BEGIN] = { "begin", "BEGIN", 0 },
	[STMT_COMMIT] = { "commit", "COMMIT", 0 },
	[STMT_ROLLBACK] = { "rollback", "ROLLBACK", 0 },
	[STMT_PING] = { "ping", "SELECT 1", 0 },
};

/* A column as a long; -1 (never valid for us) when NULL or not one. */
long
db_long(const PGresult *res, int row, int col)
{
	const char *s;
	char	   *end;
	long	    v;

	if (PQgetisnull(res, row, col))
		return -1;
	s = PQgetvalue(res, row, col);
	v = strtol(s, &end, 10);
	if (end == s || *end != '\0')
		return -1;
	return v;
}

/* A text column, or NULL when SQL NULL. */
const char *
db_text(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

void
db_init(struct db *db, const char *url)
{
	db->url = url;
	db->conn = NULL;
}

/* libpq's message for res (or else conn) as one log line; see pgerr.h. */
static const char *
db_message(const PGconn *conn, const PGresult *res, char *out, size_t len)
{
	const char *m;

	m = res != NULL ? PQresultErrorMessage(res) : "";
	if (m[0] == '\0')
		m = conn != NULL ? PQerrorMessage(conn) : "out of memory";
	return pgerr_flatten(m, out, len);
}

void
db_close(struct db *db)
{
	if (db->conn != NULL)
		PQfinish(db->conn);
	db->conn = NULL;
}

/*
 * Connect and prepare every statement. Settings the URL does not give
 * get our defaults: connect_timeout=5 s, statement_timeout=10 s,
 * client_encoding UTF8 (later keywords win, and dbname, the URL, comes
 * last). Returns -1 (logged) on failure, leaving no connection.
 */
static int
db_connect(struct db *db)
{
	static const char *const keys[] = { "connect_timeout", "options",
		"client_encoding", "application_name", "dbname", NULL };
	const char		*values[6];
	PGresult		*res;
	char			 msg[512];
	size_t			 i;

	values[0] = "5";
	values[1] = "-c statement_timeout=10000";
	values[2] = "UTF8";
	values[3] = "scenegen-api";
	values[4] = db->url;
	values[5] = NULL;
	db->conn = PQconnectdbParams(keys, values, 1);
	if (db->conn == NULL) {
		log_err("PQconnectdbParams: out of memory");
		return -1;
	}
	if (PQstatus(db->conn) != CONNECTION_OK) {
		log_err("PQconnectdbParams: %s",
		    db_message(db->conn, NULL, msg, sizeof(msg)));
		goto fail;
	}
	for (i = 0; i < STMT__MAX; i++) {
		res = PQprepare(db->conn, stmts[i].name, stmts[i].sql,
		    stmts[i].nparams, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			log_err("PQprepare %s: %s", stmts[i].name,
			    db_message(db->conn, res, msg, sizeof(msg)));
			PQclear(res);
			goto fail;
		}
		PQclear(res);
	}
	log_info("connected to PostgreSQL");
	return 0;
fail:
	db_close(db);
	return -1;
}

/* 1 while the connection is inside a transaction block. */
int
db_in_transaction(const struct db *db)
{
	return db->conn != NULL &&
	    PQtransactionStatus(db->conn) == PQTRANS_INTRANS;
}

/*
 * Run prepared statement s with text values (NULL for SQL NULL). On
 * DB_OK *out holds the result, which the caller PQclear()s. DB_UNAVAILABLE
 * means the server is down or refusing; DB_ERROR any other failure.
 */
enum db_result
db_exec(struct db *db, enum stmt s, const char *const *values, int nvalues,
    PGresult **out)
{
	PGresult   *res;
	const char *state;
	char	    msg[512];
	int	    attempt, st;

	*out = NULL;
	for (attempt = 0; attempt < 2; attempt++) {
		if (db->conn == NULL && db_connect(db) == -1)
			return DB_UNAVAILABLE;
		res = PQexecPrepared(db->conn, stmts[s].name, nvalues, values,
		    NULL, NULL, 0);
		st = PQresultStatus(res);
		if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
			*out = res;
			return DB_OK;
		}
		db_message(db->conn, res, msg, sizeof(msg));
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (PQstatus(db->conn) == CONNECTION_BAD ||
		    (state != NULL && strcmp(state, "26000") == 0)) {
			/* Gone (or lost our statements): once more, anew. */
			log_warn("%s: %s: reconnecting", stmts[s].name, msg);
			PQclear(res);
			db_close(db);
			continue;
		}
		if (attempt > 0 && state != NULL &&
		    strcmp(state, "23505") == 0) {
			/*
			 * The first try committed but its answer was lost
			 * with the connection: the row is there.
			 */
			log_warn("%s: %s after a reconnect: the first try "
				 "committed",
			    stmts[s].name, msg);
			PQclear(res);
			return DB_DUPLICATE;
		}
		log_err("PQexecPrepared %s: %s", stmts[s].name, msg);
		/* No result at all on a live connection: out of memory. */
		st = res == NULL || !pgerr_transient(state) ? DB_ERROR :
							      DB_UNAVAILABLE;
		PQclear(res);
		return st;
	}
	return DB_UNAVAILABLE;
}
