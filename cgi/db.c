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
#include "record_actions.h"
#include "extern.h"
#include "status_doc.h"

/*
 * The dashboard's error class of a record: its message with every run of
 * digits as N (ids, counts and codes vary, the cause does not), cut. The
 * same expression as idx_image_generations_failed_class
 * (sql/add_admin_failed_class_index.sql), or the index is not used.
 */
#define ADMIN_CLASS_SQL \
	"left(regexp_replace(COALESCE(error_message, '(no message)'), " \
	"'[0-9]+', 'N', 'g'), 120)"
/* The dashboard's filter: $1 statuses, $2 class, $3 user, $4 chapter. */
#define ADMIN_FILTER_SQL \
	"($1::text[] IS NULL OR status = ANY ($1::text[])) AND " \
	"($2::text IS NULL OR " ADMIN_CLASS_SQL " = $2::text) AND " \
	"($3::uuid IS NULL OR user_id = $3::uuid) AND " \
	"($4::uuid IS NULL OR chapter_id = $4::uuid)"

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
	 * caller's; one row of NULLs when it has no such scene. The owner
	 * is checked on the chapter and again on each record kept, not in
	 * the descent: a filter on user_id there, a column the index does
	 * not hold, made a generic plan (its estimate shrinking with every
	 * user in the table) prefer a bitmap scan and a sort of the whole
	 * chapter.
	 */
	[STMT_SCENE_LIST] = { "scene_list",
	    "WITH RECURSIVE s AS ((SELECT " STATUS_SOURCE ", user_id"
	    " FROM image_generations "
	    "WHERE chapter_id = $1::uuid AND scene_number > $3::integer "
	    "ORDER BY scene_number, created_at DESC, id DESC LIMIT 1) "
	    "UNION ALL SELECT n.* FROM s, LATERAL (SELECT " STATUS_SOURCE
	    ", user_id FROM image_generations g "
	    "WHERE g.chapter_id = $1::uuid "
	    "AND g.scene_number > s.scene_number "
	    "ORDER BY g.scene_number, g.created_at DESC, g.id DESC "
	    "LIMIT 1) n) "
	    "SELECT " STATUS_COLUMNS_N " FROM chapters c "
	    "LEFT JOIN LATERAL (SELECT * FROM s WHERE s.user_id = $2::uuid "
	    "AND ($4::text[] IS NULL OR s.status = ANY ($4::text[])) "
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
	    RECORD_CANCEL_SET " WHERE id = $1::uuid AND user_id = $2::uuid "
			      "AND " RECORD_CANCEL_FROM " RETURNING id",
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
	/* Transactions: live status's locked read, the dashboard's acts. */
	[STMT_BEGIN] = { "begin", "BEGIN", 0 },
	[STMT_COMMIT] = { "commit", "COMMIT", 0 },
	[STMT_ROLLBACK] = { "rollback", "ROLLBACK", 0 },
	[STMT_PING] = { "ping", "SELECT 1", 0 },
	/*
	 * The dashboard (admin_view.c, admin_act.c). Unfinished records by
	 * tier: waiting, in flight (idx_image_generations_unfinished).
	 */
	[STMT_ADMIN_TIERS] = { "admin_tiers",
	    "SELECT tier, count(*) FILTER (WHERE status = 'pending'), "
	    "count(*) FILTER (WHERE status = 'in_progress') "
	    "FROM image_generations "
	    "WHERE status IN ('pending', 'in_progress') "
	    "GROUP BY tier ORDER BY tier",
	    0 },
	/* Records in flight by the daemon that holds them. */
	[STMT_ADMIN_HOLDERS] = { "admin_holders",
	    "SELECT COALESCE(lease_holder, '(none)'), count(*) "
	    "FROM image_generations WHERE status = 'in_progress' "
	    "GROUP BY 1 ORDER BY 1",
	    0 },
	/*
	 * The last hour in ADMIN_BUCKETS buckets of five minutes (0 the
	 * oldest): records completed and failed in each.
	 */
	[STMT_ADMIN_HOUR] = { "admin_hour",
	    "SELECT 11 - floor(EXTRACT(EPOCH FROM now() - updated_at) "
	    "/ 300)::integer AS b, "
	    "count(*) FILTER (WHERE status = 'completed'), "
	    "count(*) FILTER (WHERE status = 'failed') "
	    "FROM image_generations "
	    "WHERE updated_at > now() - interval '1 hour' "
	    "AND status IN ('completed', 'failed') GROUP BY 1 ORDER BY 1",
	    0 },
	/*
	 * Records failed in the last ADMIN_CLASS_HOURS by error class, most
	 * first: counted by message first, so the class expression runs
	 * once per distinct message (idx_image_generations_failed; the
	 * window keeps it to a day's failures, not all of them).
	 */
	[STMT_ADMIN_CLASSES] = { "admin_classes",
	    "SELECT " ADMIN_CLASS_SQL ", sum(n)::bigint FROM (SELECT "
	    "error_message, count(*) AS n FROM image_generations "
	    "WHERE status = 'failed' AND updated_at > now() - interval '" NUM_TEXT(
		ADMIN_CLASS_HOURS) " hours' GROUP BY 1) m "
				   "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 50",
	    0 },
	/* The newest records matching the filter ($1..$4). */
	[STMT_ADMIN_LIST] = { "admin_list",
	    "SELECT id, status, tier, user_id, chapter_id, scene_number, "
	    "attempts, retry_count, "
	    "to_char(updated_at, 'YYYY-MM-DD HH24:MI:SS'), "
	    "left(error_message, 200) FROM image_generations "
	    "WHERE " ADMIN_FILTER_SQL " "
	    "ORDER BY updated_at DESC, id DESC LIMIT " NUM_TEXT(ADMIN_LIST_MAX),
	    4 },
	/* How many records match the filter and are in a status of $5. */
	[STMT_ADMIN_COUNT] = { "admin_count",
	    "SELECT count(*) FROM image_generations WHERE " ADMIN_FILTER_SQL
	    " AND status = ANY ($5::text[])",
	    5 },
	/* One record, all of it, as text. */
	[STMT_ADMIN_RECORD] = { "admin_record",
	    "SELECT id, status, tier, user_id, chapter_id, scene_number, "
	    "progress, attempts, retry_count, provider_request_id, "
	    "provider_submitted_at, lease_holder, lease_expires_at, "
	    "next_attempt_at, created_at, updated_at, completed_at, "
	    "generation_time_seconds, error_message, image_url, webhook_url, "
	    "prompt, style, aspect_ratio, idempotency_key "
	    "FROM image_generations WHERE id = $1::uuid",
	    1 },
	/* A record's webhook deliveries, oldest first. */
	[STMT_ADMIN_DELIVERIES] = { "admin_deliveries",
	    "SELECT id, event, status, attempts, last_status_code, "
	    "left(last_error, 200), created_at, next_attempt_at, "
	    "delivered_at FROM webhook_deliveries WHERE record_id = $1::uuid "
	    "ORDER BY id",
	    1 },
	/* The row guard lets a failed record back to pending (retry). */
	[STMT_ADMIN_ALLOW_RESET] = { "admin_allow_reset",
	    "SELECT set_config('scenegen.allow_reset', 'on', true)", 0 },
	/*
	 * scenegenctl retry's UPDATE (lib/record_actions.h) on the failed
	 * records matching the filter ($1..$4), or the one record $5.
	 */
	[STMT_ADMIN_RETRY] = { "admin_retry",
	    RECORD_RETRY_SET " WHERE " RECORD_RETRY_FROM
			     " AND " ADMIN_FILTER_SQL
			     " AND ($5::uuid IS NULL OR id = $5::uuid) "
			     "RETURNING id, tier, user_id",
	    5 },
	/* The owner's cancel (lib/record_actions.h), as admin_retry. */
	[STMT_ADMIN_CANCEL] = { "admin_cancel",
	    RECORD_CANCEL_SET " WHERE " RECORD_CANCEL_FROM
			      " AND " ADMIN_FILTER_SQL
			      " AND ($5::uuid IS NULL OR id = $5::uuid) "
			      "RETURNING id, tier, user_id",
	    5 },
	/* One row of the append-only audit (sql/add_admin_audit.sql). */
	[STMT_ADMIN_AUDIT_ADD] = { "admin_audit_add",
	    "INSERT INTO admin_audit (role, token_fp, action, record_id, "
	    "filter, expected, affected, remote_addr) VALUES ($1::text, "
	    "$2::text, $3::text, $4::uuid, $5::jsonb, $6::integer, "
	    "$7::integer, $8::text) RETURNING id",
	    8 },
	/* The newest audit rows. */
	[STMT_ADMIN_AUDIT_LIST] = { "admin_audit_list",
	    "SELECT id, to_char(at, 'YYYY-MM-DD HH24:MI:SS TZ'), role, "
	    "token_fp, action, record_id, filter::text, expected, affected, "
	    "remote_addr FROM admin_audit ORDER BY id DESC LIMIT 100",
	    0 },
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
 * means the server is down or refusing; DB_ERROR any other failure. A
 * statement inside a transaction is never run again on a new connection
 * (the transaction is gone): DB_UNAVAILABLE.
 */
enum db_result
db_exec(struct db *db, enum stmt s, const char *const *values, int nvalues,
    PGresult **out)
{
	PGresult   *res;
	const char *state;
	char	    msg[512];
	int	    attempt, st, in_tx = db_in_transaction(db);

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
		if (in_tx && PQstatus(db->conn) == CONNECTION_BAD) {
			/* The transaction went with it: not anew, alone. */
			log_warn("%s: %s: the transaction is lost",
			    stmts[s].name, msg);
			PQclear(res);
			db_close(db);
			return DB_UNAVAILABLE;
		}
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
