/*
 * POST /api/v1/records/{record_id}/cancel (SPEC.md, "Cancel"): a record
 * that is not final yet becomes 'canceled' at once, by one guarded
 * UPDATE; a canceled one is answered again; a completed or failed one
 * is a 409. The daemon learns of it from the row itself (scenegend(8),
 * "Cancel"): it never calls the provider for a canceled row, stops
 * polling one it holds and never stores its image. The canceled document
 * goes to the record's live status channel (events.c) as well.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "extern.h"

/*
 * POST /api/v1/records/{record_id}/cancel
 * 200 with the status document (now or already canceled); 400
 * invalid_field (a bad id, any query parameter); 404 not_found (no such
 * record, or not the caller's); 409 already_final (completed or failed:
 * the status is in detail); 500 internal_error; 503 unavailable.
 */
void
page_record_cancel(struct request *req)
{
	struct json_out j;
	PGresult       *res = NULL;
	const char     *v[2], *status;
	char		detail[128];
	enum db_result	rc;
	int		changed;

	v[0] = req->route.uuid[PARAM_RECORD_ID];
	v[1] = req->user.sub;
	rc = db_exec(&req->w->db, STMT_RECORD_CANCEL, v, 2, &res);
	if (rc != DB_OK) {
		reply_db_failure(req, rc);
		return;
	}
	changed = PQntuples(res) > 0;
	PQclear(res);
	if (status_find(req, STMT_RECORD_STATUS, v, 2, ERR_RECORD_UNKNOWN,
		&res) == -1)
		return;
	status = db_text(res, 0, 1);
	if (status == NULL || strcmp(status, "canceled") != 0) {
		/* Final before we came (or a status of the old system). */
		snprintf(detail, sizeof(detail),
		    "The record is already %.32s; it cannot be canceled.",
		    status != NULL ? status : "final");
		PQclear(res);
		reply_error_detail(req, ERR_ALREADY_FINAL, detail);
		return;
	}
	if (changed)
		log_info("record %s canceled by its owner", v[0]);
	json_open(&j);
	status_document(req, res, 0, &j);
	PQclear(res);
	if (json_close(&j) == -1) {
		log_err("out of memory writing a cancel answer");
		reply_error(req, ERR_INTERNAL);
	} else {
		/* Live status: subscribers hear of it now (publish.c). */
		if (changed && req->w->cfg->events_socket != NULL)
			(void)publish_document(req->w->cfg->events_socket, v[0],
			    j.b.data, j.b.len);
		reply_json(req, 200, "no-store", NULL, &j.b);
	}
	json_free(&j);
}
