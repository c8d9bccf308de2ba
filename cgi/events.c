/*
 * GET /api/v1/records/{record_id}/events (SPEC.md, "Live status"): the
 * record's status as Server-Sent Events. The stream itself is nginx's
 * (the nchan module), so no worker is held while a client listens: the
 * page checks the caller and the record, makes sure the record's channel
 * holds its current document (the first event a subscriber gets), and
 * answers with an internal redirect to the subscriber location. An empty
 * channel (or one whose document nchan may soon drop, publish.c) is
 * filled with the row read FOR SHARE and published before the lock
 * ends: a write of scenegend's waits for it, so the daemon's
 * next document (published after its write) always lands after ours and
 * the channel's newest document is never older than the row. A final
 * record is answered here, one event and the end, since its channel may
 * have expired.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "extern.h"

#define EVENTS_LOCATION "/.scenegen-events/"

/* 1 if the Accept header names text/event-stream. */
static int
events_accepted(const struct request *req)
{
	const char *accept = request_param(req, "HTTP_ACCEPT");

	return accept != NULL &&
	    strcasestr(accept, "text/event-stream") != NULL;
}

/* 1 if status is pending or in_progress: the record may still change. */
static int
events_live(const char *status)
{
	return status != NULL &&
	    (strcmp(status, "pending") == 0 ||
		strcmp(status, "in_progress") == 0);
}

/*
 * Fill record id's empty (or stale) channel with its current document,
 * read and published under a row lock (above). PUBLISH_OK or
 * PUBLISH_FAILED.
 */
static enum publish_result
events_fill(struct request *req, const char *id)
{
	struct db	   *db = &req->w->db;
	const char	   *v[1] = { id };
	struct json_out	    j;
	PGresult	   *res = NULL;
	enum publish_result pr = PUBLISH_FAILED;

	json_open(&j);
	if (db_exec(db, STMT_BEGIN, NULL, 0, &res) != DB_OK)
		goto done;
	PQclear(res);
	res = NULL;
	/* A reconnect in between would read without the lock: refuse. */
	if (db_exec(db, STMT_RECORD_LOCKED, v, 1, &res) != DB_OK ||
	    PQntuples(res) != 1 || !db_in_transaction(db))
		goto done;
	status_document(req, res, 0, &j);
	if (json_close(&j) == -1) {
		log_err("out of memory writing a status event");
		goto done;
	}
	pr = publish_document(req->w->cfg->events_socket, id, j.b.data,
	    j.b.len);
done:
	PQclear(res);
	json_free(&j);
	if (db_in_transaction(db)) {
		res = NULL;
		(void)db_exec(db, STMT_COMMIT, NULL, 0, &res); /* logs */
		PQclear(res);
	}
	return pr;
}

/*
 * Answer doc (the status document of record id, status status) as the
 * stream: one event (its id the record's updated_at) and the end for a
 * final record, or 204 when Last-Event-ID says the client has that very
 * event (an EventSource reconnects after a stream ends, and stops on a
 * 204); else the channel filled when empty and the redirect to nchan.
 * 503 when the publisher fails, 500 when memory does.
 */
static void
events_answer(struct request *req, const char *id, const char *status,
    const char *updated, const struct buf *doc)
{
	const char	   *sock = req->w->cfg->events_socket;
	const char	   *last = request_param(req, "HTTP_LAST_EVENT_ID");
	struct buf	    ev;
	enum publish_result pr;
	char		    h[160];

	if (!events_live(status) && last != NULL && updated != NULL &&
	    strcmp(last, updated) == 0) {
		/* It has this final event: 204 stops an EventSource. */
		reply_typed(req, 204, NULL, "no-store", NULL, NULL, 0);
		return;
	}
	if (!events_live(status)) {
		buf_init(&ev, BODY_MAX + 256);
		if (buf_printf(&ev, "event: status\nid: %s\ndata: %.*s\n\n",
			updated != NULL ? updated : "0", (int)doc->len,
			doc->data) == -1) {
			buf_free(&ev);
			reply_error(req, ERR_INTERNAL);
			return;
		}
		reply_typed(req, 200, "text/event-stream", "no-store",
		    "X-Accel-Buffering: no\r\n", ev.data, ev.len);
		buf_free(&ev);
		return;
	}
	pr = publish_peek(sock, id);
	if (pr == PUBLISH_EMPTY)
		pr = events_fill(req, id);
	if (pr != PUBLISH_OK) {
		log_err("record %s: the events publisher at %s failed", id,
		    sock);
		reply_error(req, ERR_UNAVAILABLE);
		return;
	}
	snprintf(h, sizeof(h),
	    "X-Accel-Redirect: " EVENTS_LOCATION "%s\r\n"
	    "X-Accel-Buffering: no\r\n",
	    id);
	reply_typed(req, 200, NULL, "no-store", h, NULL, 0);
}

/*
 * GET /api/v1/records/{record_id}/events
 * 200 text/event-stream (here for a final record, else from nginx after
 * an internal redirect); 204 (final, and Last-Event-ID is its event's
 * id: the client has it); 400 invalid_field (a bad id, an unknown query
 * parameter); 401 unauthorized (no token and no signature, a bad token,
 * a bad or expired signature: the front line); 404 not_found (no such
 * record, or not the caller's); 406 not_acceptable (Accept does not
 * name text/event-stream); 500 internal_error; 503 unavailable (the
 * database or the publisher down, or SCENEGEN_EVENTS_SOCKET unset).
 */
void
page_record_events(struct request *req)
{
	struct json_out j;
	PGresult       *res;
	const char     *v[2], *owner;

	if (!events_accepted(req)) {
		reply_error(req, ERR_NOT_ACCEPTABLE);
		return;
	}
	if (req->w->cfg->events_socket == NULL) {
		reply_error(req, ERR_EVENTS_OFF);
		return;
	}
	v[0] = req->route.uuid[PARAM_RECORD_ID];
	v[1] = req->user.sub;
	if (status_find(req,
		req->signed_url ? STMT_RECORD_SIGNED : STMT_RECORD_STATUS, v,
		req->signed_url ? 1 : 2, ERR_RECORD_UNKNOWN, &res) == -1)
		return;
	if (req->signed_url) {
		/* The owner's place in the queue, for the estimate. */
		owner = db_text(res, 0, 14);
		snprintf(req->user.sub, sizeof(req->user.sub), "%s",
		    owner != NULL ? owner : "");
	}
	json_open(&j);
	status_document(req, res, 0, &j);
	if (json_close(&j) == -1) {
		log_err("out of memory writing a status event");
		reply_error(req, ERR_INTERNAL);
	} else
		events_answer(req, v[0], db_text(res, 0, 1), db_text(res, 0, 9),
		    &j.b);
	PQclear(res);
	json_free(&j);
}
