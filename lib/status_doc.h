/*
 * The status document of a record (SPEC.md, the status endpoint and
 * "Fields added to the status document"), written from one row of
 * STATUS_COLUMNS: one builder for the API's answers (cgi/status.c,
 * listing.c, cancel.c, events.c) and the documents scenegend publishes
 * for live status (daemon/events.c), so the two never differ in shape.
 * Plain text in, no libpq: every program links lib/.
 */
#ifndef SCENEGEN_STATUS_DOC_H
#define SCENEGEN_STATUS_DOC_H

#include <time.h>

#include "json_out.h"

/*
 * The columns of a status document (enum status_col reads them by number),
 * of * the row source t ("" or "alias."): 0 id, 1 status, 2 image_url,
 * 3 scene_number, 4 retry_count, 5 progress, 6 generation time, 7
 * error_message, 8 created_at, 9 updated_at (RFC 3339 UTC), 10 tier,
 * 11 the provider's ETA, 12 seconds from the provider's (or the attempt's)
 * start to the time now (an SQL expression), 13 chapter_id.
 */
#define STATUS_COLUMNS_AT(t, now) \
	t "id, " t "status, " t "image_url, " t "scene_number, " t \
	  "retry_count, " t "progress, COALESCE(" t \
	  "generation_time_seconds, " \
	  "CASE WHEN jsonb_typeof(" t "metadata->'generation_time') = " \
	  "'number' THEN (" t "metadata->>'generation_time')::float8 END), " t \
	  "error_message, to_char(" t "created_at AT TIME ZONE 'UTC', " \
	  "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), to_char(" t \
	  "updated_at AT TIME ZONE 'UTC', " \
	  "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), " t "tier, " t \
	  "provider_eta_seconds, " \
	  "EXTRACT(EPOCH FROM " now " - COALESCE(" t \
	  "provider_submitted_at, " t "last_attempted_at)), " t "chapter_id"

#define STATUS_COLUMNS_OF(t) STATUS_COLUMNS_AT(t, "clock_timestamp()")
#define STATUS_COLUMNS	     STATUS_COLUMNS_OF("")
#define STATUS_COLUMNS_N     STATUS_COLUMNS_OF("n.")

/* The columns STATUS_COLUMNS_OF() reads, for a subquery to pass on. */
#define STATUS_SOURCE \
	"id, status, image_url, scene_number, retry_count, progress, " \
	"generation_time_seconds, metadata, error_message, created_at, " \
	"updated_at, tier, provider_eta_seconds, provider_submitted_at, " \
	"last_attempted_at, chapter_id"

/* The columns of STATUS_COLUMNS, in order. */
enum status_col {
	STATUS_COL_ID,
	STATUS_COL_STATUS,
	STATUS_COL_IMAGE_URL,
	STATUS_COL_SCENE,
	STATUS_COL_RETRIES,
	STATUS_COL_PROGRESS,
	STATUS_COL_GEN_TIME,
	STATUS_COL_ERROR,
	STATUS_COL_CREATED,
	STATUS_COL_UPDATED,
	STATUS_COL_TIER,
	STATUS_COL_ETA,
	STATUS_COL_SINCE,
	STATUS_COL_CHAPTER,
	STATUS_COL__MAX
};

#define STATUS_LEFT_MAX 86400 /* the largest estimate: one day */

/*
 * What is left of a generation in progress, in whole seconds (rounded
 * up, 1..STATUS_LEFT_MAX): the provider's eta (text; NULL: fallback
 * seconds) less since (text seconds since it started; NULL: none).
 */
long status_doc_left(const char *eta, const char *since, double fallback);
/*
 * Write the members of the status document of the row col (text values,
 * NULL for SQL NULL) into the object open in j: eta is
 * estimated_time_seconds (-1: null); events_url is signed with secret at
 * now. A failure sticks in j.
 */
void status_doc_write(struct json_out *j, const char *const *col, long eta,
    const char *secret, time_t now);
/*
 * estimated_time_seconds of a document scenegend pushes (live status,
 * webhooks), which has no place in the queue to count from: what is left
 * of the provider's ETA while in progress, fallback seconds while
 * pending, -1 (null) once final.
 */
long status_doc_pushed_eta(const char *const *col, double fallback);

#endif
