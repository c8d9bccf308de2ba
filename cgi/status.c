/*
 * The status document of a record (SPEC.md, the status endpoint and
 * "Fields added to the status document") and the pages that answer one:
 * a chapter's scene, and a record by its id. The listing (listing.c)
 * writes the same document for each of its scenes.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "extern.h"
#include "status_doc.h"

/*
 * estimated_time_seconds of the record in row of res (STATUS_COLUMNS):
 * for a pending record, its place in the fair order as at POST; for one
 * in progress, what is left of the provider's ETA (or of the average
 * generation) since it was submitted, at least 1 s; -1 once final (null).
 */
static long
status_estimate(struct request *req, const PGresult *res, int row)
{
	const char	  *status = db_text(res, row, STATUS_COL_STATUS);
	const char	  *tier = db_text(res, row, STATUS_COL_TIER);
	struct queue_stats st;
	double		   avg;

	if (status == NULL)
		return -1;
	if (strcmp(status, "pending") == 0) {
		if (queue_place(&req->w->queue,
			db_text(res, row, STATUS_COL_ID),
			tier != NULL ? tier : "free", req->user.sub, &st) == -1)
			memset(&st, 0, sizeof(st));
		return estimate_seconds(&st, req->w->cfg->estimate_seconds);
	}
	if (strcmp(status, "in_progress") != 0)
		return -1;
	avg = (double)req->w->cfg->estimate_seconds;
	if (db_text(res, row, STATUS_COL_ETA) == NULL) {
		memset(&st, 0, sizeof(st));
		avg = (double)estimate_seconds(&st,
		    req->w->cfg->estimate_seconds);
		if (queue_read_stats(&req->w->queue, &st) == 0 && st.have_avg)
			avg = st.avg_ms / 1000.0;
	}
	return status_doc_left(db_text(res, row, STATUS_COL_ETA),
	    db_text(res, row, STATUS_COL_SINCE), avg);
}

/*
 * Write the members of the status document of row of res (a result of
 * STATUS_COLUMNS) into the object open in j (a failure sticks in j).
 */
void
status_document(struct request *req, const PGresult *res, int row,
    struct json_out *j)
{
	const char *col[STATUS_COL__MAX];
	int	    c;

	for (c = 0; c < STATUS_COL__MAX; c++)
		col[c] = db_text(res, row, c);
	status_doc_write(j, col, status_estimate(req, res, row),
	    req->w->cfg->jwt_secret, time(NULL));
}

/*
 * Run statement s (values v, n of them), expected to find one record:
 * 0 with its result in *res (the caller's to PQclear), or -1 once the
 * failure is answered: missing (a 404) when there is no row, 500 or 503
 * when the database fails.
 */
int
status_find(struct request *req, enum stmt s, const char *const *v, int n,
    enum api_error missing, PGresult **res)
{
	enum db_result rc;

	*res = NULL;
	rc = db_exec(&req->w->db, s, v, n, res);
	if (rc != DB_OK) {
		reply_db_failure(req, rc);
		return -1;
	}
	if (PQntuples(*res) == 0) {
		PQclear(*res);
		*res = NULL;
		reply_error(req, missing);
		return -1;
	}
	return 0;
}

/*
 * Run statement s (values v, n of them), expected to find one record,
 * and answer its status document: 200 with an ETag, 304 when
 * If-None-Match matches it, missing (404) when there is no row, 500 or
 * 503 when the database fails.
 */
static void
status_answer(struct request *req, enum stmt s, const char *const *v, int n,
    enum api_error missing)
{
	struct json_out j;
	PGresult       *res;

	if (status_find(req, s, v, n, missing, &res) == -1)
		return;
	json_open(&j);
	status_document(req, res, 0, &j);
	PQclear(res);
	reply_json_etag(req, &j);
	json_free(&j);
}

/*
 * GET, HEAD /api/v1/chapters/{chapter_id}/images/scenes/{n}/status
 * 200 with the newest record of that scene the caller owns; 304 when
 * If-None-Match matches its ETag; 404 not_found when there is none;
 * 500 internal_error; 503 unavailable (database down).
 */
void
page_scene_status(struct request *req)
{
	const char *v[3];
	char	    scene[16];

	snprintf(scene, sizeof(scene), "%ld",
	    req->route.number[PARAM_SCENE_NUMBER]);
	v[0] = req->route.uuid[PARAM_CHAPTER_ID];
	v[1] = scene;
	v[2] = req->user.sub;
	status_answer(req, STMT_SCENE_STATUS, v, 3, ERR_RECORD_NOT_FOUND);
}

/*
 * GET, HEAD /api/v1/records/{record_id}
 * 200 with that record's status document if the caller owns it; 304
 * when If-None-Match matches its ETag; 400 invalid_field (any query
 * parameter: the front line); 404 not_found (no such record, or not the
 * caller's: the two look the same); 500 internal_error; 503 unavailable.
 */
void
page_record_status(struct request *req)
{
	const char *v[2];

	v[0] = req->route.uuid[PARAM_RECORD_ID];
	v[1] = req->user.sub;
	status_answer(req, STMT_RECORD_STATUS, v, 2, ERR_RECORD_UNKNOWN);
}
