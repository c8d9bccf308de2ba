/*
 * sql.c: the statements of scenegend. Parameters are always bound, never
 * pasted into the text. Times come back as Unix milliseconds.
 */
#include "sql.h"
#include "status_doc.h"

#define EPOCH_MS(col) "(extract(epoch FROM " col ") * 1000)::bigint"

/*
 * The status as a value the planner cannot look up in an index. Every
 * statement of a job finds its row by primary key; were status an index
 * key here, a generic plan could pick the status index instead (its
 * statistics lag behind a burst: "no row in_progress") and filter
 * thousands of rows per statement.
 */
#define STATUS	      "(status || '')"
#define G_STATUS      "(g.status || '')"

const struct db_stmt_def sql_statements[STMT__MAX] = {
	[STMT_PING] = { "sg_ping", "SELECT 1", 0, 1 },

	/*
	 * The claim: $1 record id, $2 new lease token, $3 lease seconds,
	 * $4 takeover grace seconds (a lapsed lease is taken over only
	 * that long after it lapsed; see run_takeover_grace()), $5 the
	 * lease holder (holder.h; NULL when unknown). One row when the record exists; CLAIM_ID is NULL when it could
	 * not be claimed, and CLAIM_NOT_DUE_MS says when a waiting retry
	 * becomes due. The pre-claim row comes from the statement's
	 * snapshot.
	 */
	[STMT_CLAIM] = { "sg_claim",
	    "WITH cur AS ("
	    " SELECT status, next_attempt_at, tier, user_id,"
	    "  (lease_token IS NULL OR lease_expires_at < now() -"
	    "   $4::double precision * interval '1 second') AS lease_free"
	    " FROM image_generations WHERE id = $1::uuid"
	    "), claimed AS ("
	    " UPDATE image_generations SET"
	    "  status = 'in_progress',"
	    "  progress = GREATEST(progress, 5),"
	    "  attempts = attempts + 1,"
	    "  last_attempted_at = clock_timestamp(),"
	    "  lease_token = $2::uuid,"
	    "  lease_holder = $5,"
	    "  lease_expires_at = now() + $3::double precision"
	    "   * interval '1 second'"
	    " WHERE id = $1::uuid"
	    "  AND (" STATUS " = 'pending' OR (" STATUS " = 'in_progress' AND"
	    "   (lease_token IS NULL OR lease_expires_at < now() -"
	    "    $4::double precision * interval '1 second')))"
	    "  AND (next_attempt_at IS NULL OR next_attempt_at <= now())"
	    " RETURNING prompt, style, aspect_ratio, tier, attempts,"
	    "  retry_count, provider_request_id,"
	    "  " EPOCH_MS(
		"provider_submitted_at") ","
					 "  provider_eta_seconds, progress, id, " STATUS_COLUMNS
					 ") "
					 "SELECT cur.status,"
					 " CASE WHEN cur.status IN ('pending', 'in_progress')"
					 "  AND cur.lease_free AND cur.next_attempt_at > now()"
					 "  THEN " EPOCH_MS(
					     "cur.next_attempt_at") " END,"
								    " cur.tier, cur.user_id, c.* FROM cur LEFT JOIN claimed c ON true",
	    5, 1, CLAIM__MAX },

	/* $1 id, $2 lease, $3 provider request id, $4 eta seconds. */
	[STMT_RECORD] = { "sg_record",
	    "UPDATE image_generations SET"
	    " provider_request_id = $3,"
	    " provider_submitted_at = now(),"
	    " provider_eta_seconds = $4::double precision,"
	    " progress = GREATEST(progress, 10)"
	    " WHERE id = $1::uuid AND lease_token = $2::uuid"
	    " AND " STATUS " = 'in_progress'"
	    " RETURNING " EPOCH_MS("provider_submitted_at") ", " STATUS_COLUMNS,
	    4, 1, 1 },

	/* $1 id, $2 lease, $3 progress, $4 eta seconds or NULL. */
	[STMT_PROGRESS] = { "sg_progress",
	    "UPDATE image_generations SET"
	    " progress = GREATEST(progress, $3::integer),"
	    " provider_eta_seconds = COALESCE($4::double precision,"
	    "  provider_eta_seconds)"
	    " WHERE id = $1::uuid AND lease_token = $2::uuid"
	    " AND " STATUS " = 'in_progress'"
	    " RETURNING progress, " STATUS_COLUMNS,
	    4, 1, 1 },

	/*
	 * $1 id, $2 lease, $3 image URL, $4 generation seconds, $5 model,
	 * $6 provider request id or NULL.
	 */
	[STMT_COMPLETE] = { "sg_complete",
	    "UPDATE image_generations SET"
	    " status = 'completed', progress = 100, image_url = $3,"
	    " generation_time_seconds = $4::double precision,"
	    " completed_at = now(), error_message = NULL,"
	    " lease_token = NULL, lease_expires_at = NULL,"
	    " next_attempt_at = NULL,"
	    " provider_request_id = COALESCE($6, provider_request_id),"
	    " metadata = COALESCE(metadata, '{}'::jsonb) || jsonb_build_object("
	    "  'model_used', $5::text,"
	    "  'generation_time', $4::double precision,"
	    "  'service', 'modelslab_v7',"
	    "  'task_id', COALESCE(metadata->>'task_id', id::text),"
	    "  'scene_number', scene_number,"
	    "  'script_id', script_id,"
	    "  'chapter_id', chapter_id,"
	    "  'provider_request_id', COALESCE($6, provider_request_id))"
	    " WHERE id = $1::uuid AND lease_token = $2::uuid"
	    " AND " STATUS " = 'in_progress'"
	    " RETURNING 1, " STATUS_COLUMNS,
	    6, 1, 1 },

	/* $1 id, $2 lease, $3 error message. */
	[STMT_FAIL] = { "sg_fail",
	    "UPDATE image_generations SET"
	    " status = 'failed', error_message = $3,"
	    " lease_token = NULL, lease_expires_at = NULL,"
	    " next_attempt_at = NULL"
	    " WHERE id = $1::uuid AND lease_token = $2::uuid"
	    " AND " STATUS " = 'in_progress'"
	    " RETURNING 1, " STATUS_COLUMNS,
	    3, 1, 1 },

	/*
	 * $1 id, $2 lease, $3 wait seconds, $4 error message, $5 whether
	 * the provider's request is dead (the retry must create anew).
	 * Returns when the retry is due.
	 */
	[STMT_RETRY] = { "sg_retry",
	    "UPDATE image_generations SET"
	    " retry_count = retry_count + 1,"
	    " next_attempt_at = now() + $3::double precision"
	    "  * interval '1 second',"
	    " lease_token = NULL, lease_expires_at = NULL,"
	    " error_message = $4,"
	    " provider_request_id = CASE WHEN $5::boolean THEN NULL"
	    "  ELSE provider_request_id END,"
	    " provider_submitted_at = CASE WHEN $5::boolean THEN NULL"
	    "  ELSE provider_submitted_at END,"
	    " provider_eta_seconds = CASE WHEN $5::boolean THEN NULL"
	    "  ELSE provider_eta_seconds END"
	    " WHERE id = $1::uuid AND lease_token = $2::uuid"
	    " AND " STATUS " = 'in_progress'"
	    " RETURNING " EPOCH_MS("next_attempt_at") ", " STATUS_COLUMNS,
	    5, 1, 1 },

	/* $1 id, $2 lease: a job handed back at shutdown did not fail. */
	[STMT_HANDBACK] = { "sg_handback",
	    "UPDATE image_generations SET"
	    " lease_token = NULL, lease_expires_at = NULL,"
	    " attempts = GREATEST(attempts - 1, 0)"
	    " WHERE id = $1::uuid AND lease_token = $2::uuid"
	    " AND " STATUS " = 'in_progress'"
	    " RETURNING 1",
	    2, 1 },

	/*
	 * $1 ids, $2 lease tokens (parallel uuid[] literals), $3 lease
	 * seconds. Returns (token, canceled): the leases renewed with
	 * canceled false, and with canceled true the tokens sent for
	 * records their owner canceled (lease.c stops those jobs).
	 */
	[STMT_HEARTBEAT] = { "sg_heartbeat",
	    "WITH h AS (SELECT * FROM unnest($1::uuid[], $2::uuid[])"
	    "  AS h(id, token)),"
	    " renewed AS (UPDATE image_generations g SET"
	    "  lease_expires_at = now() + $3::double precision"
	    "   * interval '1 second'"
	    "  FROM h WHERE g.id = h.id AND g.lease_token = h.token"
	    "  AND " G_STATUS " = 'in_progress'"
	    "  RETURNING g.lease_token)"
	    " SELECT lease_token, false FROM renewed"
	    " UNION ALL SELECT h.token, true FROM h"
	    " JOIN image_generations g ON g.id = h.id"
	    " WHERE " G_STATUS " = 'canceled'",
	    3, 1 },

	/*
	 * $1 id: one row if its owner canceled the record. Asked when a
	 * guarded write of a job changed nothing, to tell a cancel from a
	 * lease lost to another worker. The canceled row is published
	 * (events.c) after what the job published before, so a document of
	 * ours still in flight at the cancel never ends up the newest.
	 */
	[STMT_CANCELED] = { "sg_canceled",
	    "SELECT 1, " STATUS_COLUMNS " FROM image_generations"
	    " WHERE id = $1::uuid AND " STATUS " = 'canceled'",
	    1, 1, 1 },

	[STMT_BEGIN] = { "sg_begin", "BEGIN", 0, 0 },
	[STMT_SWEEP_LOCK] = { "sg_sweep_lock",
	    "SELECT pg_try_advisory_xact_lock(7210002)", 0, 1 },

	/*
	 * $1 grace seconds, $2 limit: rows nobody works on that may have
	 * fallen out of Redis: pending past the grace, and in progress with
	 * no live lease whose retry (if any) is due.
	 */
	[STMT_SWEEP_SCAN] = { "sg_sweep_scan",
	    "SELECT id, tier, user_id FROM image_generations"
	    " WHERE ((status = 'pending' AND created_at < now() -"
	    "   $1::double precision * interval '1 second')"
	    "  OR (status = 'in_progress' AND"
	    "   (lease_token IS NULL OR lease_expires_at < now())))"
	    " AND (next_attempt_at IS NULL OR next_attempt_at <= now())"
	    " ORDER BY created_at LIMIT $2::integer",
	    2, 1 },
	/*
	 * $1 a holder prefix (boot id and PID namespace): the holders of
	 * live leases there, with how many records each holds.
	 */
	[STMT_HOLDERS] = { "sg_holders",
	    "SELECT lease_holder, count(*) FROM image_generations"
	    " WHERE status = 'in_progress' AND lease_expires_at > now()"
	    "  AND starts_with(lease_holder, $1)"
	    " GROUP BY lease_holder",
	    1, 1 },

	/*
	 * $1 a holder that is gone: its leases end now, so its records can
	 * be claimed at once. A record claimed since has another holder and
	 * is not touched.
	 */
	[STMT_RELEASE_HOLDER] = { "sg_release_holder",
	    "UPDATE image_generations SET lease_expires_at = now()"
	    " WHERE status = 'in_progress' AND lease_holder = $1"
	    "  AND lease_expires_at > now()"
	    " RETURNING id",
	    1, 1 },
	[STMT_COMMIT] = { "sg_commit", "COMMIT", 0, 0 },
	[STMT_ROLLBACK] = { "sg_rollback", "ROLLBACK", 0, 0 },

	/*
	 * The channels the webhook pool's connection listens to (main.c):
	 * the outbox's trigger notifies scenegen_webhooks with each delivery
	 * it writes (webhook.c claims it), and a cancel notifies
	 * scenegen_cancels with the record's id (lease.c stops its job).
	 */
	[STMT_LISTEN_WEBHOOKS] = { "sg_listen_webhooks",
	    "LISTEN scenegen_webhooks", 0, 0 },
	[STMT_LISTEN_CANCELS] = { "sg_listen_cancels",
	    "LISTEN scenegen_cancels", 0, 0 },
	/*
	 * Webhooks: claim at most $1 due deliveries, each the oldest
	 * pending one of its record (events go out in order), counting the
	 * attempt and moving next_attempt_at $2 seconds on (a lease: a
	 * daemon that dies while sending is retried by anyone after that).
	 * SKIP LOCKED and the guard on next_attempt_at keep two daemons
	 * from claiming the same attempt. Each comes with its event's type
	 * and time and the record's STATUS_COLUMNS as the row was at the
	 * event (the trigger's snapshot), time since the start counted to
	 * the event, so every attempt writes the same body (webhook.c).
	 */
	[STMT_WH_CLAIM] = { "sg_wh_claim",
	    "WITH due AS ("
	    " SELECT d.id FROM webhook_deliveries d"
	    " WHERE d.status = 'pending' AND d.next_attempt_at <= now()"
	    "  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e"
	    "   WHERE e.record_id = d.record_id AND e.status = 'pending'"
	    "   AND e.id < d.id)"
	    " ORDER BY d.next_attempt_at, d.id LIMIT $1::integer"
	    " FOR UPDATE OF d SKIP LOCKED"
	    "), claimed AS (UPDATE webhook_deliveries w SET"
	    "  attempts = w.attempts + 1,"
	    "  next_attempt_at = now() + $2::double precision"
	    "   * interval '1 second'"
	    " FROM due, image_generations g"
	    " WHERE w.id = due.id AND g.id = w.record_id"
	    "  AND w.status = 'pending' AND w.next_attempt_at <= now()"
	    " RETURNING w.id, w.webhook_id, w.attempts, w.payload,"
	    "  g.webhook_url, g.user_id"
	    ") SELECT c.id, c.webhook_id, c.attempts, c.payload::text,"
	    " c.webhook_url, c.user_id, c.payload->>'type',"
	    " c.payload->>'timestamp', extract(epoch FROM"
	    "  (c.payload->>'timestamp')::timestamptz)::bigint, " STATUS_COLUMNS_AT(
		"r.",
		"(c.payload->>'timestamp')::timestamptz") " FROM claimed c LEFT JOIN LATERAL jsonb_populate_record("
							  "  NULL::image_generations, c.payload->'row') r ON true",
	    2, 1, WH__MAX },
	/* $1 delivery, $2 the attempt that was claimed, $3 HTTP status. */
	[STMT_WH_DELIVERED] = { "sg_wh_delivered",
	    "UPDATE webhook_deliveries SET status = 'delivered',"
	    " delivered_at = now(), last_status_code = $3::integer,"
	    " last_error = NULL"
	    " WHERE id = $1::bigint AND attempts = $2::integer"
	    " AND status = 'pending' RETURNING id",
	    3, 1 },
	/*
	 * $1 delivery, $2 its attempt, $3 HTTP status (NULL: none), $4
	 * what went wrong, $5 seconds to the next attempt, $6 attempts
	 * allowed: 'failed' once they are used up. Returns the status.
	 */
	[STMT_WH_RETRY] = { "sg_wh_retry",
	    "UPDATE webhook_deliveries SET last_status_code = $3::integer,"
	    " last_error = $4,"
	    " status = CASE WHEN attempts >= $6::integer THEN 'failed'"
	    "  ELSE 'pending' END,"
	    " next_attempt_at = now() + $5::double precision"
	    "  * interval '1 second'"
	    " WHERE id = $1::bigint AND attempts = $2::integer"
	    " AND status = 'pending' RETURNING status",
	    6, 1 },
	/* $1 delivery, $2 its attempt, $3 HTTP status, $4 why: never again. */
	[STMT_WH_GONE] = { "sg_wh_gone",
	    "UPDATE webhook_deliveries SET status = 'gone',"
	    " last_status_code = $3::integer, last_error = $4"
	    " WHERE id = $1::bigint AND attempts = $2::integer"
	    " AND status = 'pending' RETURNING id",
	    4, 1 },
};
