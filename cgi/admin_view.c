/*
 * The dashboard's pages that show (scenegen-api(8), "Dashboard"): the
 * overview (queue by tier, in flight by daemon, provider slots against
 * the account's limit, the last hour as an SVG chart, failures by error
 * class over the last day), the records matching a filter, one record with its webhook
 * deliveries, and the audit. Read-only: any operator role. Every figure
 * comes from one prepared statement (db.c) or one Redis round trip.
 */
#include <stdio.h>
#include <string.h>

#include "extern.h"

#define PAGE_MAX (1024 * 1024) /* bytes of one page */

/* The filter of req as the text[] and UUID values $1..$4 of db.c. */
static void
view_filter_values(const struct request *req, char status_arr[48],
    const char *v[4])
{
	const char *st = admin_form_get(&req->form, AF_STATUS);

	if (st != NULL)
		snprintf(status_arr, 48, "{%s}", st);
	v[0] = st != NULL ? status_arr : NULL;
	v[1] = admin_form_get(&req->form, AF_CLASS);
	v[2] = admin_form_get(&req->form, AF_USER);
	v[3] = admin_form_get(&req->form, AF_CHAPTER);
}

/* One statement into *res; -1 once the failure is answered. */
static int
view_exec(struct request *req, enum stmt s, const char *const *v, int n,
    PGresult **res)
{
	enum db_result rc = db_exec(&req->w->db, s, v, n, res);

	if (rc == DB_OK)
		return 0;
	admin_reply_error(req, rc == DB_UNAVAILABLE ? 503 : 500,
	    rc == DB_UNAVAILABLE ? "PostgreSQL is unavailable." :
				   "A query failed (see the log).");
	return -1;
}

/* Free res (the page's last result), close the page b and answer it. */
static void
view_send(struct request *req, struct buf *b, PGresult *res)
{
	PQclear(res);
	admin_page_close(b);
	admin_reply_page(req, 200, b);
}

/* A table of res, every column as text, with the header names. */
static void
view_table(struct buf *b, const PGresult *res, const char *const *head,
    int ncols)
{
	int r, c;

	hput(b, "<table><tr>");
	for (c = 0; c < ncols; c++) {
		hput(b, "<th>");
		html_text(b, head[c]);
		hput(b, "</th>");
	}
	hput(b, "</tr>\n");
	for (r = 0; r < PQntuples(res); r++) {
		hput(b, "<tr>");
		for (c = 0; c < ncols && c < PQnfields(res); c++) {
			hput(b, "<td>");
			html_text(b, db_text(res, r, c));
			hput(b, "</td>");
		}
		hput(b, "</tr>\n");
	}
	hput(b, "</table>\n");
}

/*
 * The last hour as bars: completed (green) and failed (red) in each of
 * the ADMIN_BUCKETS five-minute buckets of res (admin_hour).
 */
static void
view_chart(struct buf *b, const PGresult *res)
{
	long done[ADMIN_BUCKETS], failed[ADMIN_BUCKETS], top = 1, tdone = 0,
							 tfail = 0, k;
	int r, i, x, h;

	memset(done, 0, sizeof(done));
	memset(failed, 0, sizeof(failed));
	for (r = 0; r < PQntuples(res); r++) {
		k = db_long(res, r, 0);
		if (k < 0 || k >= ADMIN_BUCKETS)
			continue;
		done[k] = db_long(res, r, 1);
		failed[k] = db_long(res, r, 2);
	}
	for (i = 0; i < ADMIN_BUCKETS; i++) {
		if (done[i] + failed[i] > top)
			top = done[i] + failed[i];
		tdone += done[i];
		tfail += failed[i];
	}
	hprintf(b,
	    "<p>Last hour: %ld completed, %ld failed (failure rate "
	    "%.1f%%); bars of five minutes, tallest %ld.</p>\n",
	    tdone, tfail,
	    tdone + tfail > 0 ?
		100.0 * (double)tfail / (double)(tdone + tfail) :
		0.0,
	    top);
	hput(b,
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"480\" "
	    "height=\"130\" role=\"img\" aria-label=\"throughput and "
	    "failures over the last hour\">\n"
	    "<line x1=\"0\" y1=\"110\" x2=\"480\" y2=\"110\" "
	    "stroke=\"#999\"/>\n");
	for (i = 0; i < ADMIN_BUCKETS; i++) {
		x = i * 40 + 4;
		h = (int)(100 * done[i] / top);
		hprintf(b,
		    "<rect x=\"%d\" y=\"%d\" width=\"16\" height=\"%d\" "
		    "fill=\"#2a7\"><title>%ld completed</title></rect>",
		    x, 110 - h, h, done[i]);
		h = (int)(100 * failed[i] / top);
		hprintf(b,
		    "<rect x=\"%d\" y=\"%d\" width=\"16\" height=\"%d\" "
		    "fill=\"#c33\"><title>%ld failed</title></rect>\n",
		    x + 17, 110 - h, h, failed[i]);
	}
	hput(b,
	    "<text x=\"0\" y=\"126\" font-size=\"11\">-60 min</text>"
	    "<text x=\"440\" y=\"126\" font-size=\"11\">now</text>"
	    "</svg>\n");
}

/*
 * GET, HEAD /admin/ (a session)
 * 200 the overview; 500, 503 when PostgreSQL fails. Redis down only
 * blanks the slots figure.
 */
void
page_admin_home(struct request *req)
{
	static const char *const tiers_head[] = { "tier", "waiting",
		"in flight" };
	static const char *const holders_head[] = { "daemon (lease holder)",
		"in flight" };
	PGresult		*res = NULL;
	struct buf		 b;
	long			 used, limit;
	int			 r;

	buf_init(&b, PAGE_MAX);
	admin_page_open(&b, req, "Overview");
	if (view_exec(req, STMT_ADMIN_TIERS, NULL, 0, &res) == -1)
		goto out;
	hput(&b, "<h2>Queue by tier</h2>\n");
	view_table(&b, res, tiers_head, 3);
	PQclear(res);
	if (view_exec(req, STMT_ADMIN_HOLDERS, NULL, 0, &res) == -1)
		goto out;
	hput(&b, "<h2>In flight by daemon</h2>\n");
	view_table(&b, res, holders_head, 2);
	PQclear(res);

	hput(&b, "<h2>Provider slots</h2>\n<p id=\"slots\">");
	if (queue_read_slots(&req->w->queue, &used, &limit) == -1)
		hput(&b, "Redis is unavailable.");
	else if (limit < 0)
		hprintf(&b,
		    "%ld in use (no daemon has published the "
		    "account's limit)",
		    used);
	else
		hprintf(&b, "%ld in use of the account's %ld", used, limit);
	hput(&b, "</p>\n");

	if (view_exec(req, STMT_ADMIN_HOUR, NULL, 0, &res) == -1)
		goto out;
	hput(&b, "<h2>Throughput</h2>\n");
	view_chart(&b, res);
	PQclear(res);

	if (view_exec(req, STMT_ADMIN_CLASSES, NULL, 0, &res) == -1)
		goto out;
	hput(&b,
	    "<h2>Failures by error class</h2>\n<p>Records failed in the "
	    "last " NUM_TEXT(
		ADMIN_CLASS_HOURS) " hours; each class links "
				   "to all its failed records.</p>\n<table id=\"classes\">"
				   "<tr><th>error class (digits as N)</th><th>failed</th></tr>\n");
	for (r = 0; r < PQntuples(res); r++) {
		hput(&b,
		    "<tr><td><a href=\"/admin/records?status=failed&amp;"
		    "class=");
		html_url_value(&b, PQgetvalue(res, r, 0));
		hput(&b, "\">");
		html_text(&b, PQgetvalue(res, r, 0));
		hput(&b, "</a></td><td class=\"num\">");
		html_text(&b, PQgetvalue(res, r, 1));
		hput(&b, "</td></tr>\n");
	}
	hput(&b, "</table>\n");
	view_send(req, &b, res);
out:
	buf_free(&b);
}

/* The filter form of the records page, filled with req's filter. */
static void
view_filter_form(struct buf *b, const struct request *req)
{
	const char *st = admin_form_get(&req->form, AF_STATUS);
	int	    i;

	hput(b,
	    "<form method=\"get\" action=\"/admin/records\" "
	    "id=\"filter\">\n<label>status <select name=\"status\" "
	    "id=\"f-status\"><option value=\"\">any</option>");
	for (i = 0; i < RECORD__MAX; i++) {
		hprintf(b, "<option%s>%s</option>",
		    st != NULL && strcmp(st, record_status_names[i]) == 0 ?
			" selected" :
			"",
		    record_status_names[i]);
	}
	hput(b,
	    "</select></label>\n<label>error class <input name=\"class\" "
	    "id=\"f-class\" size=\"40\" value=\"");
	html_text(b, admin_form_get(&req->form, AF_CLASS));
	hput(b,
	    "\"></label>\n<label>user <input name=\"user\" id=\"f-user\" "
	    "size=\"36\" value=\"");
	html_text(b, admin_form_get(&req->form, AF_USER));
	hput(b,
	    "\"></label>\n<label>chapter <input name=\"chapter\" "
	    "id=\"f-chapter\" size=\"36\" value=\"");
	html_text(b, admin_form_get(&req->form, AF_CHAPTER));
	hput(b,
	    "\"></label>\n<button type=\"submit\" id=\"apply\">Filter"
	    "</button>\n</form>\n");
}

/*
 * GET, HEAD /admin/records?status=&class=&user=&chapter= (a session)
 * 200 the newest ADMIN_LIST_MAX records matching the filter, with links
 * to retry or cancel all that match; 400 a bad filter; 500, 503.
 */
void
page_admin_records(struct request *req)
{
	static const char *const head[] = { "record", "status", "tier", "user",
		"chapter", "scene", "attempts", "retries", "updated", "error" };
	PGresult		*res = NULL;
	struct buf		 b;
	const char		*v[4];
	char			 arr[48];
	int			 r, c;

	buf_init(&b, PAGE_MAX);
	admin_page_open(&b, req, "Records");
	view_filter_form(&b, req);
	view_filter_values(req, arr, v);
	if (view_exec(req, STMT_ADMIN_LIST, v, 4, &res) == -1)
		goto out;
	hput(&b,
	    "<p>Act on every record matching this filter: "
	    "<a id=\"bulk-retry\" href=\"/admin/bulk?action=retry");
	admin_filter_query(&b, &req->form);
	hput(&b,
	    "\">retry the failed ones</a> | <a id=\"bulk-cancel\" "
	    "href=\"/admin/bulk?action=cancel");
	admin_filter_query(&b, &req->form);
	hprintf(&b,
	    "\">cancel the unfinished ones</a> (a page shows how "
	    "many first).</p>\n<p>%d record(s) shown, newest first "
	    "(at most " NUM_TEXT(ADMIN_LIST_MAX) ").</p>\n",
	    PQntuples(res));
	hput(&b, "<table id=\"records\"><tr>");
	for (c = 0; c < 10; c++) {
		hput(&b, "<th>");
		html_text(&b, head[c]);
		hput(&b, "</th>");
	}
	hput(&b, "</tr>\n");
	for (r = 0; r < PQntuples(res); r++) {
		hput(&b, "<tr><td><a href=\"/admin/records/");
		html_url_value(&b, PQgetvalue(res, r, 0));
		hput(&b, "\"><code>");
		html_text(&b, PQgetvalue(res, r, 0));
		hput(&b, "</code></a></td>");
		for (c = 1; c < 10; c++) {
			hput(&b, "<td>");
			html_text(&b, db_text(res, r, c));
			hput(&b, "</td>");
		}
		hput(&b, "</tr>\n");
	}
	hput(&b, "</table>\n");
	view_send(req, &b, res);
out:
	buf_free(&b);
}

/* A form that POSTs action on the record id, with the CSRF token. */
static void
view_act_button(struct buf *b, const struct request *req, const char *id,
    const char *action)
{
	hput(b,
	    "<form class=\"inline\" method=\"post\" "
	    "action=\"/admin/records/");
	html_url_value(b, id);
	hprintf(b,
	    "/act\"><input type=\"hidden\" name=\"action\" "
	    "value=\"%s\">",
	    action);
	hput(b, "<input type=\"hidden\" name=\"csrf\" value=\"");
	html_text(b, req->admin.csrf);
	hprintf(b,
	    "\"><button type=\"submit\" id=\"do-%s\">%s this record"
	    "</button></form>\n",
	    action, action);
}

/*
 * GET, HEAD /admin/records/{record_id} (a session)
 * 200 the record, all its columns and its webhook deliveries, with the
 * actions its status allows (operators); 404 no such record; 500, 503.
 */
void
page_admin_record(struct request *req)
{
	static const char *const cols[] = { "id", "status", "tier", "user",
		"chapter", "scene", "progress", "attempts", "retries",
		"provider request id", "provider submitted at", "lease holder",
		"lease expires at", "next attempt at", "created at",
		"updated at", "completed at", "generation seconds", "error",
		"image url", "webhook url", "prompt", "style", "aspect ratio",
		"idempotency key" };
	static const char *const dhead[] = { "delivery", "event", "status",
		"attempts", "last HTTP status", "last error", "created",
		"next attempt", "delivered" };
	const char		*v[1] = { req->route.uuid[PARAM_RECORD_ID] };
	const char		*status;
	PGresult		*res = NULL;
	struct buf		 b;
	size_t			 c;

	buf_init(&b, PAGE_MAX);
	if (view_exec(req, STMT_ADMIN_RECORD, v, 1, &res) == -1)
		goto out;
	if (PQntuples(res) == 0) {
		PQclear(res);
		admin_reply_error(req, 404, "No such record.");
		goto out;
	}
	admin_page_open(&b, req, "Record");
	hput(&b, "<table id=\"record\">\n");
	for (c = 0; c < sizeof(cols) / sizeof(cols[0]); c++) {
		hput(&b, "<tr><th>");
		html_text(&b, cols[c]);
		hput(&b, "</th><td>");
		html_text(&b, db_text(res, 0, (int)c));
		hput(&b, "</td></tr>\n");
	}
	hput(&b, "</table>\n");
	status = PQgetvalue(res, 0, 1);
	if (req->admin.role == ADMIN_OPERATOR) {
		if (strcmp(status, "failed") == 0)
			view_act_button(&b, req, v[0], "retry");
		if (strcmp(status, "pending") == 0 ||
		    strcmp(status, "in_progress") == 0)
			view_act_button(&b, req, v[0], "cancel");
	}
	PQclear(res);
	if (view_exec(req, STMT_ADMIN_DELIVERIES, v, 1, &res) == -1)
		goto out;
	hput(&b, "<h2>Webhook deliveries</h2>\n");
	if (PQntuples(res) == 0)
		hput(&b, "<p>None.</p>\n");
	else
		view_table(&b, res, dhead, 9);
	view_send(req, &b, res);
out:
	buf_free(&b);
}

/*
 * GET, HEAD /admin/audit (a session)
 * 200 the newest 100 rows of admin_audit; 500, 503.
 */
void
page_admin_audit(struct request *req)
{
	static const char *const head[] = { "#", "at", "role", "token",
		"action", "record", "filter", "confirmed", "changed", "from" };
	PGresult		*res = NULL;
	struct buf		 b;

	buf_init(&b, PAGE_MAX);
	if (view_exec(req, STMT_ADMIN_AUDIT_LIST, NULL, 0, &res) == -1)
		goto out;
	admin_page_open(&b, req, "Audit");
	hput(&b,
	    "<p>Every action taken here, newest first (append-only: "
	    "the table refuses UPDATE and DELETE).</p>\n<div "
	    "id=\"audit\">");
	view_table(&b, res, head, 10);
	hput(&b, "</div>\n");
	view_send(req, &b, res);
out:
	buf_free(&b);
}
