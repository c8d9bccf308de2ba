/*
 * control.c: the stand-in's own endpoints under /_standin/, for tests and
 * benchmarks: counts per track_id, statistics, reset and settings.
 * They answer at once (no delay, no faults) and need no key.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "generation.h"
#include "hold.h"
#include "server.h"
#include "track.h"

#define CONFIG_VALUE_MAX 1024

/* Prints obj unformatted, frees it and sends it; 500 if anything failed. */
static void
send_json(struct evhttp_request *req, int code, const char *reason, cJSON *obj,
    int failed)
{
	char *text = NULL;

	if (obj != NULL && failed == 0)
		text = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	server_send(req, code, reason, "application/json", text);
}

/* {"status":"error","message":msg} with HTTP code. */
static void
send_error(struct evhttp_request *req, int code, const char *reason,
    const char *msg)
{
	cJSON *o;
	int    bad = 0;

	o = cJSON_CreateObject();
	bad += cJSON_AddStringToObject(o, "status", "error") == NULL;
	bad += cJSON_AddStringToObject(o, "message", msg) == NULL;
	send_json(req, code, reason, o, bad);
}

/* Adds the body as received: its JSON if it parses, else the text. */
static int
add_body(cJSON *o, const char *name, const char *body)
{
	cJSON *v;

	if (body == NULL)
		return cJSON_AddNullToObject(o, name) == NULL;
	v = cJSON_Parse(body);
	if (v == NULL)
		v = cJSON_CreateString(body);
	if (v == NULL)
		return 1;
	if (!cJSON_AddItemToObject(o, name, v)) {
		cJSON_Delete(v);
		return 1;
	}
	return 0;
}

/*
 * GET /_standin/creates?track_id=X: that track's counts and last create;
 * without track_id: {"<track_id>": creates, ...} for every track.
 */
static void
control_creates(struct server *s, struct evhttp_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const struct track	*tr;
	struct evkeyvalq	 q;
	const char		*query, *tid;
	cJSON			*o;
	int			 bad = 0;

	TAILQ_INIT(&q);
	query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
	if (query != NULL && evhttp_parse_query_str(query, &q) == -1) {
		send_error(req, 400, "Bad Request", "bad query string");
		goto done;
	}
	tid = evhttp_find_header(&q, "track_id");
	o = cJSON_CreateObject();
	if (tid == NULL) {
		for (tr = track_first(s->tracks); tr != NULL; tr = tr->order)
			bad += cJSON_AddNumberToObject(o, tr->key,
				   (double)tr->creates) == NULL;
		send_json(req, 200, "OK", o, bad);
		goto done;
	}
	tr = track_find(s->tracks, tid);
	bad += cJSON_AddStringToObject(o, "track_id", tid) == NULL;
	bad += cJSON_AddNumberToObject(o, "creates",
		   tr != NULL ? (double)tr->creates : 0.0) == NULL;
	bad += cJSON_AddNumberToObject(o, "fetches",
		   tr != NULL ? (double)tr->fetches : 0.0) == NULL;
	bad += add_body(o, "last_request", tr != NULL ? tr->last_body : NULL);
	if (tr != NULL && tr->last_body != NULL)
		bad += cJSON_AddStringToObject(o, "last_key_header",
			   tr->last_key_header != NULL ? tr->last_key_header :
							 "") == NULL;
	else
		bad += cJSON_AddNullToObject(o, "last_key_header") == NULL;
	send_json(req, 200, "OK", o, bad);
done:
	evhttp_clear_headers(&q);
}

/* GET /_standin/stats: counters since start or reset. */
static void
control_stats(struct server *s, struct evhttp_request *req)
{
	cJSON *o;
	double now = gen_clock();
	int    bad = 0;

	o = cJSON_CreateObject();
	bad += cJSON_AddNumberToObject(o, "creates_total",
		   (double)s->creates_total) == NULL;
	bad += cJSON_AddNumberToObject(o, "fetches_total",
		   (double)s->fetches_total) == NULL;
	bad += cJSON_AddNumberToObject(o, "images_total",
		   (double)s->images_total) == NULL;
	bad += cJSON_AddNumberToObject(o, "generations_total",
		   (double)gen_count(s->gens)) == NULL;
	bad += cJSON_AddNumberToObject(o, "processing_now",
		   (double)gen_processing(s->gens, now)) == NULL;
	bad += cJSON_AddNumberToObject(o, "processing_peak",
		   (double)gen_processing_peak(s->gens)) == NULL;
	bad += cJSON_AddNumberToObject(o, "connections_now",
		   (double)server_connections(s)) == NULL;
	bad += cJSON_AddNumberToObject(o, "held_now",
		   (double)hold_count(s->holds)) == NULL;
	bad += cJSON_AddNumberToObject(o, "tracks",
		   (double)track_count(s->tracks)) == NULL;
	send_json(req, 200, "OK", o, bad);
}

/* The settings in force, as JSON. */
static void
send_config(struct server *s, struct evhttp_request *req)
{
	const struct standin_config *c = &s->cfg;
	cJSON			    *o;
	int			     bad = 0;

	o = cJSON_CreateObject();
	bad += cJSON_AddStringToObject(o, "mode", faults_mode_name(c->mode)) ==
	    NULL;
	bad += cJSON_AddNumberToObject(o, "eta", c->eta) == NULL;
	bad += cJSON_AddNumberToObject(o, "queue_limit",
		   (double)c->queue_limit) == NULL;
	bad += cJSON_AddNumberToObject(o, "expire", c->expire_s) == NULL;
	bad += cJSON_AddNumberToObject(o, "delay_ms", c->delay_s * 1000.0) ==
	    NULL;
	bad += cJSON_AddStringToObject(o, "faults", c->faults_text) == NULL;
	bad += cJSON_AddBoolToObject(o, "key_required", c->key != NULL) == NULL;
	send_json(req, 200, "OK", o, bad);
}

/*
 * POST /_standin/config {"mode":..,"eta":..,"queue_limit":..,"faults":..,
 * "expire":..,"delay_ms":..,"key":..}: all fields or none are applied.
 * Answers 200 with the settings in force, or 400 naming the bad field.
 */
static void
control_config(struct server *s, struct evhttp_request *req)
{
	struct evbuffer	     *in = evhttp_request_get_input_buffer(req);
	struct standin_config next;
	const cJSON	     *v;
	cJSON		     *body = NULL;
	char		     *raw = NULL;
	char		      value[CONFIG_VALUE_MAX], err[256];
	size_t		      len = evbuffer_get_length(in);
	int		      n;

	if (settings_copy(&next, &s->cfg) == -1) {
		server_send(req, 500, NULL, NULL, NULL);
		return;
	}
	raw = malloc(len + 1);
	if (raw == NULL) {
		server_send(req, 500, NULL, NULL, NULL);
		goto done;
	}
	evbuffer_copyout(in, raw, len);
	raw[len] = '\0';
	body = cJSON_Parse(raw);
	if (!cJSON_IsObject(body)) {
		send_error(req, 400, "Bad Request", "body is no JSON object");
		goto done;
	}
	cJSON_ArrayForEach (v, body) {
		if (cJSON_IsString(v))
			n = snprintf(value, sizeof(value), "%s",
			    v->valuestring);
		else if (cJSON_IsNumber(v))
			n = snprintf(value, sizeof(value), "%.17g",
			    v->valuedouble);
		else
			n = -1;
		if (n < 0 || (size_t)n >= sizeof(value)) {
			n = snprintf(err, sizeof(err), "bad %s", v->string);
			send_error(req, 400, "Bad Request",
			    n > 0 ? err : "bad value");
			goto done;
		}
		if (settings_set(&next, 0, v->string, value, err,
			sizeof(err)) == -1) {
			send_error(req, 400, "Bad Request", err);
			goto done;
		}
	}
	settings_clear(&s->cfg);
	s->cfg = next;
	memset(&next, 0, sizeof(next));
	send_config(s, req);
done:
	settings_clear(&next);
	cJSON_Delete(body);
	free(raw);
}

/*
 * A webhook receiver for the chaos and valgrind runs (POST
 * /_standin/hook/.../OUTCOME): "ok" 200, "gone" 410, anything else 500.
 */
static void
control_hook(struct evhttp_request *req, const char *name)
{
	const char *outcome = strrchr(name, '/') + 1;

	if (strcmp(outcome, "ok") == 0)
		server_send(req, 200, "OK", "application/json",
		    strdup("{\"status\":\"ok\"}"));
	else if (strcmp(outcome, "gone") == 0)
		send_error(req, 410, "Gone", "Gone");
	else
		send_error(req, 500, "Internal Server Error", "hook failure");
}

/* Routes /_standin/...; answers 404 and 405 itself. */
void
control_dispatch(struct server *s, struct evhttp_request *req, const char *path)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char	    *name = path + strlen("/_standin/");
	int		     get = cmd == EVHTTP_REQ_GET;
	int		     post = cmd == EVHTTP_REQ_POST;

	if (strcmp(name, "creates") == 0 && get)
		control_creates(s, req);
	else if (strcmp(name, "stats") == 0 && get)
		control_stats(s, req);
	else if (strcmp(name, "reset") == 0 && post) {
		server_reset(s);
		server_send(req, 200, "OK", "application/json",
		    strdup("{\"status\":\"ok\"}"));
	} else if (strcmp(name, "config") == 0 && get)
		send_config(s, req);
	else if (strcmp(name, "config") == 0 && post)
		control_config(s, req);
	else if (strncmp(name, "hook/", 5) == 0 && post)
		control_hook(req, name);
	else if (strcmp(name, "creates") == 0 || strcmp(name, "stats") == 0 ||
	    strcmp(name, "reset") == 0 || strcmp(name, "config") == 0)
		send_error(req, 405, "Method Not Allowed",
		    "Method Not Allowed");
	else
		send_error(req, 404, "Not Found", "Not Found");
}
