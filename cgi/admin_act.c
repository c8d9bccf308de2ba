/*
 * The dashboard's actions (scenegen-api(8), "Dashboard"): retry or
 * cancel one record, or every record matching a filter once its count
 * was shown and confirmed. The UPDATEs are scenegenctl retry's and the
 * owner's cancel (lib/record_actions.h), made in one transaction with
 * the row of admin_audit that says who did it; a bulk action whose
 * count is no longer the one confirmed is rolled back and shown again.
 * Retried records are then queued the way a new POST is
 * (queue_push_job); one Redis cannot take waits for the sweeper.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "extern.h"

#define PAGE_MAX (256 * 1024)

/* What one action did. */
struct act_result {
	int affected; /* rows changed; -1: rolled back for a wrong count */
	int queued;   /* of those, queued again (retry) */
};

/* The statuses an action starts from, as a text[] for admin_count. */
static const char *
act_from(const char *action)
{
	return strcmp(action, "retry") == 0 ? "{failed}" :
					      "{pending,in_progress}";
}

/* The filter of req as JSON for the audit; NULL when out of memory. */
static int
act_filter_json(const struct request *req, struct json_out *j)
{
	static const enum admin_field f[] = { AF_STATUS, AF_CLASS, AF_USER,
		AF_CHAPTER };
	size_t			      i;

	json_open(j);
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (admin_form_get(&req->form, f[i]) != NULL)
			json_string(j, admin_field_names[f[i]],
			    req->form.v[f[i]]);
	return json_close(j);
}

/* Run s, ignoring the answer; for ROLLBACK after a failure. */
static void
act_quiet(struct request *req, enum stmt s)
{
	PGresult *res = NULL;

	(void)db_exec(&req->w->db, s, NULL, 0, &res);
	PQclear(res);
}

/*
 * Live status: put the canceled document of each record of rows on its
 * channel (publish.c), as the owner's cancel does. A record that cannot
 * be read or published is logged and skipped: its subscribers hear of
 * it when they reconnect (a final record is answered by the API).
 */
static void
act_publish(struct request *req, const PGresult *rows)
{
	struct json_out j;
	PGresult       *res = NULL;
	const char     *v[1];
	int		i;

	if (req->w->cfg->events_socket == NULL)
		return;
	for (i = 0; i < PQntuples(rows); i++) {
		v[0] = PQgetvalue(rows, i, 0);
		if (db_exec(&req->w->db, STMT_RECORD_SIGNED, v, 1, &res) !=
			DB_OK ||
		    PQntuples(res) == 0) {
			PQclear(res);
			continue;
		}
		json_open(&j);
		status_document(req, res, 0, &j);
		PQclear(res);
		if (json_close(&j) == 0)
			(void)publish_document(req->w->cfg->events_socket, v[0],
			    j.b.data, j.b.len);
		else
			log_warn("record %s: out of memory for its live "
				 "status",
			    v[0]);
		json_free(&j);
	}
}

/*
 * Do action on the record id (NULL: on every record matching req's
 * filter, which must be expected in number) and write its audit row, in
 * one transaction. 0 with *out filled, or -1 once answered (500, 503).
 */
static int
act_run(struct request *req, const char *action, const char *id, long expected,
    struct act_result *out)
{
	struct queue_stats st;
	struct json_out	   j;
	PGresult	  *res = NULL, *rows = NULL;
	const char	  *v[8];
	char		   arr[48], exp_text[24], aff_text[24];
	enum db_result	   rc;
	int		   retry = strcmp(action, "retry") == 0, i, in_tx = 0;

	memset(out, 0, sizeof(*out));
	memset(&j, 0, sizeof(j));
	if (id == NULL && act_filter_json(req, &j) == -1) {
		rc = DB_ERROR;
		goto fail;
	}
	rc = db_exec(&req->w->db, STMT_BEGIN, NULL, 0, &res);
	PQclear(res);
	if (rc != DB_OK)
		goto fail;
	in_tx = 1;
	if (retry) {
		rc = db_exec(&req->w->db, STMT_ADMIN_ALLOW_RESET, NULL, 0,
		    &res);
		PQclear(res);
		if (rc != DB_OK)
			goto fail;
	}
	if (id == NULL && admin_form_get(&req->form, AF_STATUS) != NULL) {
		snprintf(arr, sizeof(arr), "{%s}",
		    admin_form_get(&req->form, AF_STATUS));
		v[0] = arr;
	} else {
		v[0] = NULL;
	}
	v[1] = id == NULL ? admin_form_get(&req->form, AF_CLASS) : NULL;
	v[2] = id == NULL ? admin_form_get(&req->form, AF_USER) : NULL;
	v[3] = id == NULL ? admin_form_get(&req->form, AF_CHAPTER) : NULL;
	v[4] = id;
	rc = db_exec(&req->w->db, retry ? STMT_ADMIN_RETRY : STMT_ADMIN_CANCEL,
	    v, 5, &rows);
	if (rc != DB_OK)
		goto fail;
	out->affected = PQntuples(rows);
	if (id == NULL && out->affected != expected) {
		log_notice("dashboard: bulk %s of %ld record(s) rolled back: "
			   "%d match now",
		    action, expected, out->affected);
		act_quiet(req, STMT_ROLLBACK);
		out->affected = -1;
		PQclear(rows);
		json_free(&j);
		return 0;
	}
	snprintf(exp_text, sizeof(exp_text), "%ld", expected);
	snprintf(aff_text, sizeof(aff_text), "%d", out->affected);
	v[0] = admin_role_names[req->admin.role];
	v[1] = req->admin.fp;
	v[2] = action;
	v[3] = id;
	v[4] = id == NULL ? j.b.data : NULL;
	v[5] = id == NULL ? exp_text : NULL;
	v[6] = aff_text;
	v[7] = request_param(req, "REMOTE_ADDR");
	rc = db_exec(&req->w->db, STMT_ADMIN_AUDIT_ADD, v, 8, &res);
	PQclear(res);
	if (rc != DB_OK)
		goto fail;
	rc = db_exec(&req->w->db, STMT_COMMIT, NULL, 0, &res);
	PQclear(res);
	in_tx = 0;
	if (rc != DB_OK)
		goto fail;
	log_notice("dashboard: %s %s: %s of %s: %d record(s)",
	    admin_role_names[req->admin.role], req->admin.fp, action,
	    id != NULL ? id : "a filter", out->affected);
	for (i = 0; retry && i < out->affected; i++) {
		if (queue_push_job(&req->w->queue, PQgetvalue(rows, i, 0),
			PQgetvalue(rows, i, 1), PQgetvalue(rows, i, 2),
			&st) == -1) {
			log_warn("record %s retried but not queued: the "
				 "sweeper will queue it",
			    PQgetvalue(rows, i, 0));
			break;
		}
		out->queued++;
	}
	if (!retry)
		act_publish(req, rows);
	PQclear(rows);
	json_free(&j);
	return 0;
fail:
	if (in_tx)
		act_quiet(req, STMT_ROLLBACK);
	PQclear(rows);
	json_free(&j);
	admin_reply_error(req, rc == DB_UNAVAILABLE ? 503 : 500,
	    rc == DB_UNAVAILABLE ? "PostgreSQL is unavailable; nothing was "
				   "changed." :
				   "The action failed; nothing was changed "
				   "(see the log).");
	return -1;
}

/* The page that says what an action did. */
static void
act_done_page(struct request *req, const char *action, const char *id,
    const struct act_result *r)
{
	struct buf b;

	buf_init(&b, PAGE_MAX);
	admin_page_open(&b, req, "Done");
	hprintf(&b, "<p class=\"ok\" id=\"result\">%s: %d record(s) changed",
	    action, r->affected);
	if (strcmp(action, "retry") == 0)
		hprintf(&b, ", %d queued%s", r->queued,
		    r->queued < r->affected ? " (the sweeper queues the rest)" :
					      "");
	hput(&b, ".</p>\n<p>");
	if (id != NULL) {
		hput(&b, "<a href=\"/admin/records/");
		html_url_value(&b, id);
		hput(&b, "\">Back to the record</a> | ");
	} else {
		hput(&b, "<a href=\"/admin/records?");
		admin_filter_query(&b, &req->form);
		hput(&b, "\">Back to the records</a> | ");
	}
	hput(&b, "<a href=\"/admin/audit\">The audit</a></p>\n");
	admin_page_close(&b);
	admin_reply_page(req, 200, &b);
	buf_free(&b);
}

/*
 * POST /admin/records/{record_id}/act (operator, CSRF), action=retry or
 * cancel
 * 200 done (one audit row); 400 no action; 409 the record's status does
 * not allow it (audited, 0 rows); 500, 503.
 */
void
page_admin_act(struct request *req)
{
	struct act_result r;
	const char	 *action = admin_form_get(&req->form, AF_ACTION);
	const char	 *id = req->route.uuid[PARAM_RECORD_ID];

	if (action == NULL) {
		admin_reply_error(req, 400, "The form names no action.");
		return;
	}
	if (act_run(req, action, id, 1, &r) == -1)
		return;
	if (r.affected == 0) {
		admin_reply_error(req, 409,
		    strcmp(action, "retry") == 0 ?
			"Only a failed record is retried; nothing was done." :
			"Only a pending or in-flight record is canceled; "
			"nothing was done.");
		return;
	}
	act_done_page(req, action, id, &r);
}

/* The filter of req in words, for the confirm page. */
static void
act_filter_words(struct buf *b, const struct request *req)
{
	static const enum admin_field f[] = { AF_STATUS, AF_CLASS, AF_USER,
		AF_CHAPTER };
	size_t			      i;
	int			      any = 0;

	hput(b, "<ul id=\"filter-words\">");
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (admin_form_get(&req->form, f[i]) == NULL)
			continue;
		hprintf(b, "<li>%s = <code>", admin_field_names[f[i]]);
		html_text(b, req->form.v[f[i]]);
		hput(b, "</code></li>");
		any = 1;
	}
	if (!any)
		hput(b, "<li>no filter: every record</li>");
	hput(b, "</ul>\n");
}

/* The confirm page: how many records action would change, and a form. */
static void
act_confirm_page(struct request *req, const char *action, int status,
    const char *note)
{
	PGresult      *res = NULL;
	struct buf     b;
	const char    *v[5];
	char	       arr[48];
	enum db_result rc;
	long	       n;

	if (admin_form_get(&req->form, AF_STATUS) != NULL) {
		snprintf(arr, sizeof(arr), "{%s}",
		    admin_form_get(&req->form, AF_STATUS));
		v[0] = arr;
	} else {
		v[0] = NULL;
	}
	v[1] = admin_form_get(&req->form, AF_CLASS);
	v[2] = admin_form_get(&req->form, AF_USER);
	v[3] = admin_form_get(&req->form, AF_CHAPTER);
	v[4] = act_from(action);
	rc = db_exec(&req->w->db, STMT_ADMIN_COUNT, v, 5, &res);
	if (rc != DB_OK) {
		admin_reply_error(req, rc == DB_UNAVAILABLE ? 503 : 500,
		    "The records could not be counted.");
		return;
	}
	n = db_long(res, 0, 0);
	PQclear(res);
	buf_init(&b, PAGE_MAX);
	admin_page_open(&b, req, "Confirm");
	if (note != NULL) {
		hput(&b, "<p class=\"err\">");
		html_text(&b, note);
		hput(&b, "</p>\n");
	}
	hput(&b, "<p>Filter:</p>\n");
	act_filter_words(&b, req);
	hprintf(&b,
	    "<p id=\"count\" data-count=\"%ld\">%ld record(s) match and "
	    "are %s: they will be %s.</p>\n",
	    n, n,
	    strcmp(action, "retry") == 0 ? "failed" : "pending or in flight",
	    strcmp(action, "retry") == 0 ? "reset to pending and queued" :
					   "canceled");
	if (n > ADMIN_BULK_MAX)
		hput(&b,
		    "<p class=\"err\">That is more than " NUM_TEXT(
			ADMIN_BULK_MAX) " at once: narrow the filter.</p>\n");
	else if (n > 0) {
		hput(&b, "<form method=\"post\" action=\"/admin/bulk\">\n");
		admin_filter_inputs(&b, &req->form);
		hprintf(&b,
		    "<input type=\"hidden\" name=\"action\" value=\"%s\">\n"
		    "<input type=\"hidden\" name=\"expected\" value=\"%ld\">\n"
		    "<input type=\"hidden\" name=\"csrf\" value=\"",
		    action, n);
		html_text(&b, req->admin.csrf);
		hprintf(&b,
		    "\">\n<button type=\"submit\" id=\"confirm\">%s "
		    "these %ld record(s)</button>\n</form>\n",
		    action, n);
	}
	hput(&b, "<p><a href=\"/admin/records?");
	admin_filter_query(&b, &req->form);
	hput(&b, "\">Back to the records</a></p>\n");
	admin_page_close(&b);
	admin_reply_page(req, status, &b);
	buf_free(&b);
}

/*
 * GET /admin/bulk?action=&filter... (operator): 200 the confirm page
 * with the count. POST /admin/bulk (operator, CSRF) action, expected
 * and the filter: 200 done (one audit row); 409 the confirm page again
 * when the count is no longer expected (nothing changed); 400 no action
 * or count; 500, 503.
 */
void
page_admin_bulk(struct request *req)
{
	struct act_result r;
	const char	 *action = admin_form_get(&req->form, AF_ACTION);
	const char	 *expected = admin_form_get(&req->form, AF_EXPECTED);

	if (action == NULL) {
		admin_reply_error(req, 400, "The form names no action.");
		return;
	}
	if (strcmp(req->method, "POST") != 0) {
		act_confirm_page(req, action, 200, NULL);
		return;
	}
	if (expected == NULL) {
		admin_reply_error(req, 400,
		    "The form gives no expected count.");
		return;
	}
	if (act_run(req, action, NULL, strtol(expected, NULL, 10), &r) == -1)
		return;
	if (r.affected == -1) {
		act_confirm_page(req, action, 409,
		    "The records matching the filter changed since the count "
		    "was shown; nothing was done. Here is the count now.");
		return;
	}
	act_done_page(req, action, NULL, &r);
}
