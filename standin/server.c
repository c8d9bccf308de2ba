/*
 * server.c: routing and the provider endpoints of the ModelsLab stand-in:
 * create, fetch and the output images, with faults applied.
 *
 * Front line first (route, method), then a handler whose comment lists
 * the answers it gives.  Every provider answer goes through send_answer(),
 * which applies the answer-level faults and the configured delay.
 */
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "answer.h"
#include "generation.h"
#include "hold.h"
#include "png.h"
#include "server.h"
#include "track.h"

#define BODY_MAX       (1024 * 1024) /* request bodies, larger get 413 */
#define IDLE_TIMEOUT   120	     /* seconds, idle keep-alive */
#define BASE_MAX       300	     /* "http://" and a Host header */
#define PREFIX_MAX     256	     /* path before "/v7/" */
#define TRACK_ID_MAX   256
#define FIRST_ID       10000001ULL
#define PAD_BLOCK      65536

#define API_MARK       "/v7/images/"
#define MALFORMED_BODY "{\"status\": success, id: ]"
#define OOM_BODY       "{\"status\":\"error\",\"message\":\"out of memory\"}"

/* One provider call: what its handler reads from the request. */
struct call {
	struct server	      *s;
	struct evhttp_request *req;
	char		       base[BASE_MAX];
	char		       prefix[PREFIX_MAX];
	char		      *raw; /* body bytes, NUL-terminated */
	size_t		       rawlen;
	cJSON		      *json;	   /* parsed; NULL: not JSON */
	const char	      *key_header; /* NULL: none */
};

static char pad_block[PAD_BLOCK]; /* 'x' bytes, set by server_new() */

/*
 * Sends a complete reply now: status, static reason, content type and a
 * body the call takes and frees (NULL: 500 out of memory).
 */
void
server_send(struct evhttp_request *req, int code, const char *reason,
    const char *ctype, char *body)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	if (body == NULL) {
		code = 500;
		reason = "Internal Server Error";
		ctype = "application/json";
		evbuffer_add(out, OOM_BODY, strlen(OOM_BODY));
	} else if (evbuffer_add(out, body, strlen(body)) == -1) {
		code = 500;
		reason = "Internal Server Error";
	}
	free(body);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", ctype);
	evhttp_send_reply(req, code, reason, NULL);
}

/* Adds body with len padded to size bytes by a "padding" string field. */
static int
add_oversized(struct evbuffer *out, const char *body, size_t len, size_t size)
{
	static const char open[] = ",\"padding\":\"";
	static const char close[] = "\"}";
	size_t		  pad, n;

	if (len < 2 || body[len - 1] != '}' ||
	    size <= len - 1 + strlen(open) + strlen(close))
		return evbuffer_add(out, body, len);
	pad = size - (len - 1) - strlen(open) - strlen(close);
	if (evbuffer_add(out, body, len - 1) == -1 ||
	    evbuffer_add(out, open, strlen(open)) == -1)
		return -1;
	for (; pad > 0; pad -= n) {
		n = pad < sizeof(pad_block) ? pad : sizeof(pad_block);
		if (evbuffer_add_reference(out, pad_block, n, NULL, NULL) == -1)
			return -1;
	}
	return evbuffer_add(out, close, strlen(close));
}

/*
 * Sends a provider answer (body taken and freed; NULL: 500) with the
 * answer-level fault of f applied (f NULL: none), after the configured
 * delay.  Faults that make an error answer are handled by the caller.
 */
static void
send_answer(struct call *c, int code, const char *reason, const char *ctype,
    char *body, const struct faults *f)
{
	struct evbuffer	 *out = evhttp_request_get_output_buffer(c->req);
	struct evkeyvalq *hdrs;
	struct hold_list *holds = c->s->holds;
	enum fault_kind	  kind = f != NULL ? f->kind : FAULT_NONE;
	double		  delay = c->s->cfg.delay_s;
	char		  clen[32];
	size_t		  len;
	int		  n, rc;

	if (body == NULL) {
		server_send(c->req, 500, NULL, NULL, NULL);
		return;
	}
	len = strlen(body);
	hdrs = evhttp_request_get_output_headers(c->req);
	evhttp_add_header(hdrs, "Content-Type", ctype);
	switch (kind) {
	case FAULT_DROP:
		free(body);
		hold_reply(holds, c->req, HOLD_DROP, 0, NULL, delay);
		return;
	case FAULT_HANG:
		free(body);
		hold_reply(holds, c->req, HOLD_HANG, 0, NULL, f->hang_s);
		return;
	case FAULT_MALFORMED:
		rc = evbuffer_add(out, MALFORMED_BODY, strlen(MALFORMED_BODY));
		break;
	case FAULT_TRUNCATED:
		evhttp_add_header(hdrs, "Connection", "close");
		rc = evbuffer_add(out, body, len / 2);
		break;
	case FAULT_SHORT:
		/* Announce the whole answer, send half of it, close. */
		n = snprintf(clen, sizeof(clen), "%zu", len);
		if (n < 0 || (size_t)n >= sizeof(clen)) {
			rc = -1;
			break;
		}
		evhttp_add_header(hdrs, "Content-Length", clen);
		evhttp_add_header(hdrs, "Connection", "close");
		rc = evbuffer_add(out, body, len / 2);
		break;
	case FAULT_OVERSIZED:
		rc = add_oversized(out, body, len, f->size);
		break;
	default:
		rc = evbuffer_add(out, body, len);
		break;
	}
	free(body);
	if (rc == -1) {
		evbuffer_drain(out, evbuffer_get_length(out));
		evhttp_clear_headers(hdrs);
		server_send(c->req, 500, NULL, NULL, NULL);
		return;
	}
	hold_reply(holds, c->req, HOLD_SEND, code, reason, delay);
}

/* Sends the answer of an error-answer fault, with Retry-After for 429. */
static void
send_fault(struct call *c, const struct faults *f, unsigned int flags)
{
	struct answer_fault a;
	char		    ra[32];
	int		    n;

	if (answer_for_fault(f->kind, flags, c->s->cfg.queue_limit,
		f->retry_after, &a) == -1) {
		server_send(c->req, 500, NULL, NULL, NULL);
		return;
	}
	if (a.code == 429) {
		n = snprintf(ra, sizeof(ra), "%.0f", ceil(f->retry_after));
		if (n > 0 && (size_t)n < sizeof(ra))
			evhttp_add_header(evhttp_request_get_output_headers(
					      c->req),
			    "Retry-After", ra);
	}
	send_answer(c, a.code, a.reason, a.content_type, a.body, NULL);
}

/* The body's string field name, or NULL when absent or not a string. */
static const char *
json_string(const cJSON *obj, const char *name)
{
	const cJSON *v;

	v = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (!cJSON_IsString(v) || v->valuestring == NULL)
		return NULL;
	return v->valuestring;
}

/* Whether the call carries an acceptable key, in its body or header. */
static int
key_ok(const struct call *c)
{
	const char *want = c->s->cfg.key;
	const char *bk = json_string(c->json, "key");
	const char *hk = c->key_header;

	if (want == NULL)
		return (bk != NULL && *bk != '\0') ||
		    (hk != NULL && *hk != '\0');
	return (bk != NULL && strcmp(bk, want) == 0) ||
	    (hk != NULL && strcmp(hk, want) == 0);
}

/*
 * The body's track_id as text in buf: a string as is, a number in its
 * shortest form.  Returns NULL when there is none (or it does not fit).
 */
static const char *
track_id_of(const cJSON *body, char *buf, size_t len)
{
	const cJSON *v;
	int	     n;

	v = cJSON_GetObjectItemCaseSensitive(body, "track_id");
	if (cJSON_IsString(v) && v->valuestring != NULL)
		n = snprintf(buf, len, "%s", v->valuestring);
	else if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
	    fabs(v->valuedouble) < 1e15)
		n = snprintf(buf, len, "%.0f", v->valuedouble);
	else if (cJSON_IsNumber(v))
		n = snprintf(buf, len, "%.17g", v->valuedouble);
	else
		return NULL;
	if (n <= 0 || (size_t)n >= len)
		return NULL;
	return buf;
}

/* Spelling flags for answers about no generation: the run's defaults. */
static unsigned int
run_flags(const struct server *s)
{
	return s->cfg.faults.flags & FAULT_F_MESSEGE;
}

/* A seed for the meta block, derived from the id. */
static uint64_t
seed_of(uint64_t id)
{
	return (id * 2654435761ULL) % 4294967291ULL;
}

/*
 * POST .../v7/images/text-to-image.  Answers 200 success or processing,
 * 400 missing fields, 401 bad key, 429 queue full, 500 out of memory, or
 * what an injected fault says.  Every call counts, faults included.
 */
static void
handle_create(struct call *c)
{
	struct server	  *s = c->s;
	struct answer_ctx  a;
	struct generation *g;
	struct track	  *tr = NULL;
	struct faults	   f;
	const char	  *tid, *model, *prompt;
	char		   tbuf[TRACK_ID_MAX];
	unsigned long	   nth;
	unsigned int	   flags;
	double		   now, eta, ready, next;
	long		   retry;
	int		   active, mode;

	s->creates_total++;
	tid = track_id_of(c->json, tbuf, sizeof(tbuf));
	if (tid != NULL) {
		tr = track_get(s->tracks, tid);
		if (tr == NULL ||
		    track_set_last(tr, c->raw, c->rawlen, c->key_header) == -1)
			goto oom;
		tr->creates++;
	}
	if (!key_ok(c)) {
		send_answer(c, 401, "Unauthorized", "application/json",
		    answer_bad_key(run_flags(s)), NULL);
		return;
	}
	model = json_string(c->json, "model_id");
	prompt = json_string(c->json, "prompt");
	if (model == NULL || *model == '\0' || prompt == NULL ||
	    *prompt == '\0') {
		send_answer(c, 400, "Bad Request", "application/json",
		    answer_fields_missing(model == NULL || *model == '\0',
			prompt == NULL || *prompt == '\0', run_flags(s)),
		    NULL);
		return;
	}

	/* Faults: the run's defaults, overlaid by the prompt's markers. */
	f = s->cfg.faults;
	faults_parse_markers(&f, prompt);
	nth = 1;
	if (tr == NULL && f.times > 0) {
		/* No track_id: times= counts creates of the same prompt. */
		tr = track_get(s->anon, prompt);
		if (tr == NULL)
			goto oom;
		tr->creates++;
	}
	if (tr != NULL)
		nth = tr->creates;
	active = faults_applies(&f, nth);
	flags = active ? f.flags : 0;
	if (active && !f.at_fetch && faults_is_error(f.kind)) {
		send_fault(c, &f, flags);
		return;
	}

	now = gen_clock();
	if (s->cfg.queue_limit > 0 &&
	    gen_processing(s->gens, now) >= (size_t)s->cfg.queue_limit) {
		next = gen_next_ready(s->gens, now);
		retry = (long)ceil(next - now);
		if (retry < 1)
			retry = 1;
		f.kind = FAULT_HTTP429;
		f.retry_after = (double)retry;
		send_fault(c, &f, flags);
		return;
	}

	mode = f.mode >= 0 ? f.mode : s->cfg.mode;
	eta = f.eta >= 0.0 ? f.eta : s->cfg.eta;
	if (flags & FAULT_F_FAILED)
		mode = MODE_PROCESSING;
	ready = mode == MODE_SUCCESS ? now : now + eta;
	g = gen_add(s->gens, now, ready, tid);
	if (g == NULL)
		goto oom;
	g->flags = flags;
	if (flags & FAULT_F_EXPIRE)
		g->expire_at = ready;
	else if (s->cfg.expire_s > 0.0)
		g->expire_at = ready + s->cfg.expire_s;
	if (active && f.at_fetch)
		g->fetch_faults = f;

	a.base = c->base;
	a.prefix = c->prefix;
	a.id = g->id;
	a.flags = flags;
	send_answer(c, 200, "OK", "application/json",
	    mode == MODE_SUCCESS ?
		answer_created(&a, eta, model, prompt, seed_of(g->id)) :
		answer_processing(&a, eta),
	    active && !f.at_fetch ? &f : NULL);
	return;
oom:
	server_send(c->req, 500, NULL, NULL, NULL);
}

/* Parses an id of decimal digits only; 0 when it is none. */
static uint64_t
parse_id(const char *s, size_t len)
{
	uint64_t v = 0;
	size_t	 i;

	if (len == 0 || len > 19)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	return v;
}

/*
 * POST .../v7/images/fetch/{id}.  Answers 200 processing, success,
 * failed or "Request not found", 401 bad key, or what a fault for the
 * fetch says (at=fetch; times= counts this generation's fetches).
 */
static void
handle_fetch(struct call *c, const char *idtext)
{
	struct server	    *s = c->s;
	struct answer_ctx    a;
	struct generation   *g;
	struct track	    *tr;
	const struct faults *ff;
	double		     now;
	int		     fault_on;
	char		    *body;

	s->fetches_total++;
	if (!key_ok(c)) {
		send_answer(c, 401, "Unauthorized", "application/json",
		    answer_bad_key(run_flags(s)), NULL);
		return;
	}
	g = gen_find(s->gens, parse_id(idtext, strlen(idtext)));
	if (g == NULL) {
		send_answer(c, 200, "OK", "application/json",
		    answer_not_found(run_flags(s)), NULL);
		return;
	}
	g->fetches++;
	if (g->track_id != NULL) {
		tr = track_find(s->tracks, g->track_id);
		if (tr != NULL)
			tr->fetches++;
	}
	ff = &g->fetch_faults;
	fault_on = ff->kind != FAULT_NONE && faults_applies(ff, g->fetches);
	if (fault_on && faults_is_error(ff->kind)) {
		send_fault(c, ff, g->flags);
		return;
	}

	a.base = c->base;
	a.prefix = c->prefix;
	a.id = g->id;
	a.flags = g->flags;
	now = gen_clock();
	if (now < g->ready_at)
		body = answer_processing(&a, g->ready_at - now);
	else if (g->flags & FAULT_F_FAILED)
		body = answer_failed(&a);
	else
		body = answer_fetched(&a);
	send_answer(c, 200, "OK", "application/json", body,
	    fault_on ? ff : NULL);
}

/*
 * GET .../generations/{id}.png (also under /cdn/).  Answers 200 with a
 * real PNG once ready, 404 before, after expiry and for failures.
 */
static void
handle_image(struct call *c, uint64_t id)
{
	struct server	  *s = c->s;
	struct generation *g;
	struct evbuffer	  *out;
	double		   now = gen_clock();

	g = gen_find(s->gens, id);
	if (g == NULL || now < g->ready_at || (g->flags & FAULT_F_FAILED) ||
	    (g->expire_at > 0.0 && now >= g->expire_at)) {
		send_answer(c, 404, "Not Found", "text/plain",
		    strdup("Not Found\n"), NULL);
		return;
	}
	out = evhttp_request_get_output_buffer(c->req);
	if (png_build(id, out) == -1) {
		evbuffer_drain(out, evbuffer_get_length(out));
		server_send(c->req, 500, NULL, NULL, NULL);
		return;
	}
	s->images_total++;
	evhttp_add_header(evhttp_request_get_output_headers(c->req),
	    "Content-Type", "image/png");
	hold_reply(s->holds, c->req, HOLD_SEND, 200, "OK", s->cfg.delay_s);
}

/* The id of a ".../generations/{id}.png" path, or 0. */
static uint64_t
image_id(const char *path)
{
	static const char dir[] = "/generations/";
	const char	 *slash, *dot;
	size_t		  dlen = strlen(dir);

	slash = strrchr(path, '/');
	dot = strrchr(path, '.');
	if (slash == NULL || dot == NULL || dot < slash ||
	    strcmp(dot, ".png") != 0 || (size_t)(slash - path) + 1 < dlen ||
	    strncmp(slash + 1 - dlen, dir, dlen) != 0)
		return 0;
	return parse_id(slash + 1, (size_t)(dot - slash - 1));
}

/* Fills c from req: base URL, body, parsed JSON, key header. */
static int
call_init(struct call *c, struct server *s, struct evhttp_request *req)
{
	struct evbuffer	 *in = evhttp_request_get_input_buffer(req);
	struct evkeyvalq *hdrs = evhttp_request_get_input_headers(req);
	const char	 *host;
	int		  n;

	memset(c, 0, sizeof(*c));
	c->s = s;
	c->req = req;
	host = evhttp_find_header(hdrs, "Host");
	if (host == NULL || *host == '\0' || strlen(host) > 255 ||
	    strpbrk(host, "/\"\\ ") != NULL)
		host = s->self;
	n = snprintf(c->base, sizeof(c->base), "http://%s", host);
	if (n < 0 || (size_t)n >= sizeof(c->base))
		return -1;
	c->key_header = evhttp_find_header(hdrs, "key");
	c->rawlen = evbuffer_get_length(in);
	c->raw = malloc(c->rawlen + 1);
	if (c->raw == NULL)
		return -1;
	if (evbuffer_copyout(in, c->raw, c->rawlen) != (ev_ssize_t)c->rawlen)
		return -1;
	c->raw[c->rawlen] = '\0';
	c->json = cJSON_ParseWithLength(c->raw, c->rawlen);
	return 0;
}

static void
call_clear(struct call *c)
{
	cJSON_Delete(c->json);
	free(c->raw);
}

/* Answers a request no route takes. */
static void
send_not_found(struct evhttp_request *req)
{
	server_send(req, 404, "Not Found", "application/json",
	    answer_error("Not Found", 0));
}

/* Answers a known path asked with the wrong method. */
static void
send_bad_method(struct evhttp_request *req)
{
	server_send(req, 405, "Method Not Allowed", "application/json",
	    answer_error("Method Not Allowed", 0));
}

/*
 * The front line: picks the route by path and method, then runs its
 * handler.  Provider paths may sit under any prefix ("/api/v7/...").
 */
static void
server_dispatch(struct evhttp_request *req, void *arg)
{
	struct server		*s = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	enum evhttp_cmd_type	 cmd = evhttp_request_get_command(req);
	struct call		 c;
	const char		*path, *mark, *rest;
	uint64_t		 id;
	size_t			 plen;

	path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	if (path == NULL || *path == '\0')
		path = "/";
	if (strncmp(path, "/_standin/", 10) == 0) {
		control_dispatch(s, req, path);
		return;
	}
	mark = strstr(path, API_MARK);
	id = image_id(path);
	if (mark == NULL && id == 0) {
		send_not_found(req);
		return;
	}
	if (call_init(&c, s, req) == -1) {
		call_clear(&c);
		server_send(req, 500, NULL, NULL, NULL);
		return;
	}
	if (mark == NULL) {
		if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD)
			send_bad_method(req);
		else
			handle_image(&c, id);
		goto done;
	}
	plen = (size_t)(mark - path);
	rest = mark + strlen(API_MARK);
	if (plen >= sizeof(c.prefix) ||
	    (strcmp(rest, "text-to-image") != 0 &&
		strncmp(rest, "fetch/", 6) != 0)) {
		send_not_found(req);
		goto done;
	}
	memcpy(c.prefix, path, plen);
	c.prefix[plen] = '\0';
	if (cmd != EVHTTP_REQ_POST)
		send_bad_method(req);
	else if (strcmp(rest, "text-to-image") == 0)
		handle_create(&c);
	else
		handle_fetch(&c, rest + 6);
done:
	call_clear(&c);
}

/* Number of sockets this process holds (listening and clients). */
static long
count_sockets(void)
{
	char	       link[64];
	DIR	      *d;
	struct dirent *e;
	ssize_t	       n;
	long	       count = 0;

	d = opendir("/proc/self/fd");
	if (d == NULL)
		return -1;
	for (;;) {
		e = readdir(d);
		if (e == NULL)
			break;
		if (e->d_name[0] == '.')
			continue;
		n = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
		if (n > 0 && (size_t)n >= 7 && strncmp(link, "socket:", 7) == 0)
			count++;
	}
	closedir(d);
	return count;
}

/* Remembers how many sockets are no client (listener, signal pipe). */
void
server_mark_baseline(struct server *s)
{
	s->sockets_base = count_sockets();
}

/* Client connections open now, as the kernel sees them; -1 unknown. */
long
server_connections(const struct server *s)
{
	long n;

	n = count_sockets();
	if (n < 0 || s->sockets_base < 0)
		return -1;
	return n > s->sockets_base ? n - s->sockets_base : 0;
}

/* Forgets every generation and count; back to the start-up settings. */
void
server_reset(struct server *s)
{
	struct standin_config fresh;

	gen_table_reset(s->gens);
	track_table_reset(s->tracks);
	track_table_reset(s->anon);
	s->creates_total = 0;
	s->fetches_total = 0;
	s->images_total = 0;
	if (settings_copy(&fresh, &s->start) == 0) {
		settings_clear(&s->cfg);
		s->cfg = fresh;
	}
}

/*
 * A server answering on http with a copy of cfg; self ("ADDR:PORT")
 * stands in for a missing Host header.  NULL when out of memory.
 */
struct server *
server_new(struct event_base *base, struct evhttp *http,
    const struct standin_config *cfg, const char *self)
{
	struct server *s;
	int	       n;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	memset(pad_block, 'x', sizeof(pad_block));
	s->base = base;
	s->http = http;
	s->sockets_base = -1;
	n = snprintf(s->self, sizeof(s->self), "%s", self);
	if (n < 0 || (size_t)n >= sizeof(s->self))
		goto fail;
	s->holds = hold_list_new(base);
	s->gens = gen_table_new(FIRST_ID);
	s->tracks = track_table_new();
	s->anon = track_table_new();
	if (s->holds == NULL || s->gens == NULL || s->tracks == NULL ||
	    s->anon == NULL)
		goto fail;
	if (settings_copy(&s->cfg, cfg) == -1)
		goto fail;
	if (settings_copy(&s->start, cfg) == -1)
		goto fail;
	evhttp_set_max_body_size(http, BODY_MAX);
	evhttp_set_timeout(http, IDLE_TIMEOUT);
	evhttp_set_allowed_methods(http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
		EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_gencb(http, server_dispatch, s);
	return s;
fail:
	server_free(s);
	return NULL;
}

/* Closes held connections and frees everything s owns. */
void
server_free(struct server *s)
{
	if (s == NULL)
		return;
	if (s->http != NULL)
		evhttp_set_gencb(s->http, NULL, NULL);
	hold_list_free(s->holds);
	gen_table_free(s->gens);
	track_table_free(s->tracks);
	track_table_free(s->anon);
	settings_clear(&s->cfg);
	settings_clear(&s->start);
	free(s);
}
