/*
 * The front line of defence and the pages. handlers_serve() routes the
 * request (404, 405, 400 for bad path parameters) and authenticates it
 * (401) before any handler runs; each handler's comment lists the
 * statuses it answers with.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "events_url.h"
#include "log.h"
#include "extern.h"

#define ACCEPTED_MESSAGE \
	"Scene image generation has been queued and " \
	"will be processed in the background"
#define INSERT_ATTEMPTS 3

/*
 * The 202 for record_id (SPEC.md), with Location: the status URL of its
 * chapter and scene, and an estimate from st.
 */
static void
reply_accepted(struct request *req, const char *record_id,
    const char *chapter_id, long scene_number, long retry_count,
    const struct queue_stats *st)
{
	struct json_out j;
	char		h[256];

	json_open(&j);
	json_string(&j, "task_id", record_id);
	json_string(&j, "status", "queued");
	json_string(&j, "message", ACCEPTED_MESSAGE);
	json_int(&j, "estimated_time_seconds",
	    estimate_seconds(st, req->w->cfg->estimate_seconds));
	json_string(&j, "record_id", record_id);
	json_int(&j, "scene_number", scene_number);
	json_int(&j, "retry_count", retry_count);
	if (json_close(&j) == -1) {
		log_err("out of memory writing the answer for %s", record_id);
		reply_error(req, ERR_INTERNAL);
		goto out;
	}
	snprintf(h, sizeof(h),
	    "Location: /api/v1/chapters/%s/images/scenes/"
	    "%ld/status\r\n",
	    chapter_id, scene_number);
	reply_json(req, 202, "no-store", h, &j.b);
out:
	json_free(&j);
}

/*
 * An earlier request with the same Idempotency-Key made the record in
 * row 0 of res (idem_lookup): answer its 202 again, no new job.
 */
static void
reply_replayed(struct request *req, const PGresult *res)
{
	struct queue_stats st;
	const char	  *chapter = db_text(res, 0, 2);
	long		   scene = db_long(res, 0, 3);

	if (chapter == NULL || scene < 0) {
		log_err("record %s has no chapter or scene",
		    PQgetvalue(res, 0, 0));
		reply_error(req, ERR_INTERNAL);
		return;
	}
	if (queue_read_stats(&req->w->queue, &st) == -1)
		memset(&st, 0, sizeof(st));
	log_info("Idempotency-Key replay of record %s", PQgetvalue(res, 0, 0));
	reply_accepted(req, PQgetvalue(res, 0, 0), chapter, scene,
	    db_long(res, 0, 1), &st);
}

/*
 * Insert the record (ownership checked in the same statement), resolve
 * an Idempotency-Key conflict, queue the job and answer.
 */
static void
scene_insert(struct request *req, const struct scene_input *in, const char *key)
{
	struct queue_stats st;
	PGresult	  *res = NULL;
	const char	  *v[12], *keyv[3];
	char		   id[UUID_STR_LEN + 1], scene[16], old[64];
	enum db_result	   rc;
	long		   retry_count;
	int		   attempt;

	snprintf(scene, sizeof(scene), "%ld",
	    req->route.number[PARAM_SCENE_NUMBER]);
	for (attempt = 0; attempt < INSERT_ATTEMPTS; attempt++) {
		if (uuid_generate(id) == -1) {
			log_err("uuid_generate failed");
			reply_error(req, ERR_INTERNAL);
			return;
		}
		v[0] = id;
		v[1] = req->user.sub;
		v[2] = req->route.uuid[PARAM_CHAPTER_ID];
		v[3] = scene;
		v[4] = in->script_id[0] != '\0' ? in->script_id : NULL;
		v[5] = in->description;
		v[6] = in->style;
		v[7] = in->aspect_ratio;
		v[8] = req->user.tier;
		v[9] = key;
		v[10] = in->webhook_url;
		v[11] = in->webhook_events[0] != '\0' ? in->webhook_events :
							NULL;
		rc = db_exec(&req->w->db, STMT_SCENE_INSERT, v, 12, &res);
		if (rc != DB_OK && rc != DB_DUPLICATE) {
			reply_db_failure(req, rc);
			return;
		}
		/* DB_DUPLICATE: our own random id, committed by the try
		 * whose answer the broken connection lost. */
		if (rc == DB_DUPLICATE || PQntuples(res) == 1) {
			retry_count = rc == DB_DUPLICATE ? 0 :
							   db_long(res, 0, 1);
			PQclear(res);
			if (queue_push_job(&req->w->queue, id, req->user.tier,
				req->user.sub, &st) == -1)
				log_warn("record %s saved but not queued: the "
					 "sweeper will queue it",
				    id);
			log_debug("record %s created", id);
			reply_accepted(req, id,
			    req->route.uuid[PARAM_CHAPTER_ID],
			    req->route.number[PARAM_SCENE_NUMBER],
			    retry_count < 0 ? 0 : retry_count, &st);
			return;
		}
		PQclear(res);
		if (key == NULL) {
			reply_error(req, ERR_CHAPTER_NOT_FOUND);
			return;
		}

		/* Nothing inserted with a key: its earlier use, if any. */
		keyv[0] = req->user.sub;
		keyv[1] = key;
		rc = db_exec(&req->w->db, STMT_IDEM_LOOKUP, keyv, 2, &res);
		if (rc != DB_OK) {
			reply_db_failure(req, rc);
			return;
		}
		if (PQntuples(res) == 0) {
			PQclear(res);
			reply_error(req, ERR_CHAPTER_NOT_FOUND);
			return;
		}
		if (strcmp(PQgetvalue(res, 0, 4), "t") == 0) {
			reply_replayed(req, res);
			PQclear(res);
			return;
		}
		/* Older than 24 h: the key is free again. */
		snprintf(old, sizeof(old), "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
		keyv[0] = old;
		keyv[1] = req->user.sub;
		keyv[2] = key;
		rc = db_exec(&req->w->db, STMT_IDEM_CLEAR, keyv, 3, &res);
		if (rc != DB_OK) {
			reply_db_failure(req, rc);
			return;
		}
		PQclear(res);
	}
	log_err("Idempotency-Key still conflicting after %d attempts",
	    INSERT_ATTEMPTS);
	reply_error(req, ERR_UNAVAILABLE);
}

/*
 * With admission limits on, a POST repeating an Idempotency-Key used in
 * the last 24 h is answered as its replay before the limits are checked
 * (a replay creates nothing, so it does not count). 1 when answered.
 */
static int
admission_replay(struct request *req, const char *key)
{
	const struct api_config *c = req->w->cfg;
	PGresult		*res = NULL;
	const char		*keyv[2];

	if (key == NULL || (c->nrates == 0 && c->max_waiting <= 0))
		return 0;
	keyv[0] = req->user.sub;
	keyv[1] = key;
	if (db_exec(&req->w->db, STMT_IDEM_LOOKUP, keyv, 2, &res) != DB_OK)
		return 0; /* the insert meets the same trouble and says so */
	if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 4), "t") == 0) {
		reply_replayed(req, res);
		PQclear(res);
		return 1;
	}
	PQclear(res);
	return 0;
}

/*
 * POST /api/v1/chapters/{chapter_id}/images/scenes/{scene_number}
 * 202 queued (or the answer to an earlier request with the same
 * Idempotency-Key); 400 invalid_json or invalid_field; 404 not_found
 * (no such chapter, or not the caller's); 413 payload_too_large; 415
 * unsupported_media_type; 429 rate_limited; 500 internal_error; 503
 * unavailable (database down).
 */
void
page_scene_create(struct request *req)
{
	struct scene_input in;
	struct field_error fe;
	enum api_error	   e;
	const char	  *key;
	long		   retry_after = 0;

	memset(&in, 0, sizeof(in));
	if (!validate_content_type(request_param(req, "CONTENT_TYPE"))) {
		reply_error(req, ERR_UNSUPPORTED_MEDIA_TYPE);
		return;
	}
	key = request_param(req, "HTTP_IDEMPOTENCY_KEY");
	if (key != NULL &&
	    request_param_count(req, "HTTP_IDEMPOTENCY_KEY") > 1) {
		reply_field_error(req, "Idempotency-Key", "must be given once");
		return;
	}
	if (key != NULL && !validate_idempotency_key(key)) {
		reply_field_error(req, "Idempotency-Key",
		    "must be 1 to " NUM_TEXT(
			IDEMPOTENCY_KEY_MAX) " printable ASCII characters");
		return;
	}
	if (request_read_body(req, &e) == -1) {
		reply_error(req, e);
		return;
	}
	if (validate_scene_body(req->body.data, req->body.len, &in, &e, &fe) ==
	    -1) {
		if (e == ERR_INVALID_FIELD)
			reply_field_error(req, fe.field, fe.reason);
		else
			reply_error(req, e);
		goto out;
	}
	if (webhook_check_url(req, &in) == -1)
		goto out;
	if (admission_replay(req, key) == 1 || admission_check(req) == -1)
		goto out;
	if (req->w->cfg->rate_limit > 0 &&
	    queue_rate_check(&req->w->queue, req->user.sub,
		req->w->cfg->rate_limit, &retry_after) == RATE_LIMITED) {
		req->retry_after = retry_after;
		log_info("user %s over %ld requests a minute", req->user.sub,
		    req->w->cfg->rate_limit);
		reply_error(req, ERR_RATE_LIMITED);
		goto out;
	}
	scene_insert(req, &in, key);
out:
	scene_input_free(&in);
}

/*
 * GET, HEAD /healthz (no authentication)
 * 200 when PostgreSQL answers SELECT 1 and Redis answers PING; 503
 * naming the one that did not; 500 internal_error.
 */
void
page_healthz(struct request *req)
{
	struct json_out j;
	PGresult       *res = NULL;
	int		db_ok, redis_ok;

	db_ok = db_exec(&req->w->db, STMT_PING, NULL, 0, &res) == DB_OK;
	PQclear(res);
	redis_ok = queue_ping(&req->w->queue) == 0;
	json_open(&j);
	json_string(&j, "status", db_ok && redis_ok ? "ok" : "unavailable");
	json_string(&j, "database", db_ok ? "ok" : "unavailable");
	json_string(&j, "redis", redis_ok ? "ok" : "unavailable");
	if (json_close(&j) == -1)
		reply_error(req, ERR_INTERNAL);
	else
		reply_json(req, db_ok && redis_ok ? 200 : 503, "no-store",
		    db_ok && redis_ok ? NULL : "Retry-After: 5\r\n", &j.b);
	json_free(&j);
}

/* Authenticate; 0 after answering 401 (or 500). */
static int
handlers_auth(struct request *req)
{
	const char	*reason = NULL;
	enum auth_result rc;

	rc = auth_bearer(req->w->cfg, request_param(req, "HTTP_AUTHORIZATION"),
	    time(NULL), &req->user, &reason);
	switch (rc) {
	case AUTH_OK:
		return 1;
	case AUTH_NOMEM:
		log_err("authentication: %s", reason);
		reply_error(req, ERR_INTERNAL);
		return 0;
	case AUTH_INVALID:
		req->token_given = 1;
		/* FALLTHROUGH */
	default:
		log_info("unauthorized %s request: %s",
		    page_routes[req->route.page].name, reason);
		reply_error(req, ERR_UNAUTHORIZED);
		return 0;
	}
}

/*
 * ACCESS_SIGNED: a bearer token when Authorization is sent, else the
 * signature of an events_url for the record of the path. 0 after
 * answering 401 (or 500).
 */
static int
handlers_auth_signed(struct request *req)
{
	const unsigned int both = QUERY_BIT(QPARAM_EXPIRES) |
	    QUERY_BIT(QPARAM_SIGNATURE);

	if (request_param(req, "HTTP_AUTHORIZATION") != NULL ||
	    (req->query.given & both) == 0)
		return handlers_auth(req);
	if ((req->query.given & both) != both ||
	    events_url_verify(req->w->cfg->jwt_secret,
		req->route.uuid[PARAM_RECORD_ID], req->query.expires,
		req->query.signature, time(NULL)) == -1) {
		log_info("unauthorized %s request: bad or expired signature",
		    page_routes[req->route.page].name);
		req->token_given = 1;
		reply_error(req, ERR_UNAUTHORIZED);
		return 0;
	}
	req->signed_url = 1;
	return 1;
}

/*
 * Serve one FastCGI request: the front line (404, 405, 400 for a bad
 * path parameter or query string, then the access rule of its row:
 * 401), all from the route table, then the row's handler.
 */
void
handlers_serve(struct worker *w, FCGX_Request *f)
{
	struct request		 req;
	const struct page_route *row;
	struct field_error	 fe;
	size_t			 plen;

	request_init(&req, w, f);
	switch (route_match(req.method, req.uri, &req.route)) {
	case ROUTE_OK:
		break;
	case ROUTE_METHOD:
		reply_error(&req, ERR_METHOD_NOT_ALLOWED);
		goto done;
	case ROUTE_BAD_PARAM:
		reply_field_error(&req, param_rules[req.route.bad].name,
		    param_rules[req.route.bad].reason);
		goto done;
	default:
		reply_error(&req, ERR_NOT_FOUND);
		goto done;
	}
	row = &page_routes[req.route.page];
	if (query_parse(req.uri, row->query, &req.query, &fe) == -1) {
		reply_field_error(&req, fe.field, fe.reason);
		goto done;
	}
	switch (row->access) {
	case ACCESS_PUBLIC:
		break;
	case ACCESS_TOKEN:
		if (!handlers_auth(&req))
			goto done;
		break;
	case ACCESS_SIGNED:
		if (!handlers_auth_signed(&req))
			goto done;
		break;
	case ACCESS_ADMIN:
	case ACCESS_ADMIN_ACT:
		if (!admin_front(&req, row->access))
			goto done;
		break;
	default:
		/* An access rule this front line does not know: refuse. */
		log_err("page %s: unknown access rule %d", row->name,
		    (int)row->access);
		reply_error(&req, ERR_INTERNAL);
		goto done;
	}
	row->handler(&req);
done:
	/* The path only: a query string might carry a secret. */
	plen = req.uri != NULL ? strcspn(req.uri, "?") : 0;
	log_debug("%.16s %.*s -> %d (%lld ms)",
	    req.method != NULL ? req.method : "-",
	    (int)(plen > 200 ? 200 : plen), req.uri != NULL ? req.uri : "",
	    req.status, (long long)(clock_mono_ms() - req.start_ms));
	request_free(&req);
}
