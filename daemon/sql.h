/*
 * sql.h: every statement scenegend runs, in one table (sql.c). All are
 * guarded: a write carries the job's lease token in its WHERE clause, so
 * a worker that lost its lease changes nothing.
 */
#ifndef SCENEGEND_SQL_H
#define SCENEGEND_SQL_H

#include "db.h"

enum stmt_id {
	STMT_PING,
	STMT_CLAIM,
	STMT_RECORD,
	STMT_PROGRESS,
	STMT_COMPLETE,
	STMT_FAIL,
	STMT_RETRY,
	STMT_HANDBACK,
	STMT_HEARTBEAT,
	STMT_CANCELED,
	STMT_HOLDERS,
	STMT_RELEASE_HOLDER,
	STMT_BEGIN,
	STMT_SWEEP_LOCK,
	STMT_SWEEP_SCAN,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_LISTEN_WEBHOOKS,
	STMT_LISTEN_CANCELS,
	STMT_WH_CLAIM,
	STMT_WH_DELIVERED,
	STMT_WH_RETRY,
	STMT_WH_GONE,
	STMT__MAX
};

/* Columns of the STMT_CLAIM result. */
enum claim_col {
	CLAIM_PRIOR_STATUS, /* status before the claim */
	CLAIM_NOT_DUE_MS,   /* retry not due yet: its due time */
	CLAIM_OWNER_TIER,   /* the record's tier and user, claimed or not */
	CLAIM_OWNER_USER,
	CLAIM_PROMPT,
	CLAIM_STYLE,
	CLAIM_ASPECT_RATIO,
	CLAIM_TIER,
	CLAIM_ATTEMPTS,
	CLAIM_RETRY_COUNT,
	CLAIM_PROVIDER_ID,
	CLAIM_SUBMITTED_MS,
	CLAIM_ETA,
	CLAIM_PROGRESS,
	CLAIM_ID,  /* NULL: not claimed */
	CLAIM__MAX /* then the claimed row's STATUS_COLUMNS */
};

/* Columns of the STMT_WH_CLAIM result. */
enum wh_claim_col {
	WH_ID,
	WH_MSG_ID, /* webhook-id */
	WH_ATTEMPTS,
	WH_BODY,
	WH_URL,
	WH_USER,
	WH_TYPE,   /* the event, scene.<status> */
	WH_TIME,   /* its time, RFC 3339 */
	WH_TIME_S, /* the same, Unix seconds */
	WH__MAX	   /* then the row's STATUS_COLUMNS at the event (NULL
		      id: a body stored whole, before snapshots) */
};

extern const struct db_stmt_def sql_statements[STMT__MAX];

#endif
