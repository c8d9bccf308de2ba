/* webhook.c: completion webhooks; see webhook.h. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "clock.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "netaddr.h"
#include "scenegend.h"
#include "sql.h"
#include "status_doc.h"
#include "webhook.h"
#include "whsecret.h"

#define WH_POLL_SECONDS	   0.5	   /* how often due retries are looked for */
#define WH_BATCH	   16	   /* deliveries claimed at once */
#define WH_IN_FLIGHT_MAX   64	   /* deliveries being sent at once */
#define WH_TIMEOUT	   15.0	   /* seconds an attempt may take (SPEC.md) */
#define WH_LEASE	   60.0	   /* seconds a claimed attempt is ours */
#define WH_MAX_ATTEMPTS	   8	   /* attempts in all */
#define WH_ANSWER_MAX	   4096	   /* bytes of a receiver's answer kept */
#define WH_RETRY_AFTER_MAX 36000.0 /* a receiver's Retry-After, at most */
#define WH_ETA_FALLBACK	   30.0	   /* estimate with no provider ETA */

/* Standard Webhooks' retry schedule: seconds after attempt n (1-based). */
static const double wh_schedule[WH_MAX_ATTEMPTS - 1] = { 5, 300, 1800, 7200,
	18000, 36000, 36000 };

/* One attempt being sent; freed when its outcome is recorded. */
struct wh_attempt {
	TAILQ_ENTRY(wh_attempt) entry;
	struct webhook	       *w;
	char			id[24];	      /* webhook_deliveries.id */
	char			attempts[12]; /* the attempt claimed */
	char			msg_id[64];
};

TAILQ_HEAD(wh_attempt_list, wh_attempt);

struct webhook {
	struct scenegend      *sg;
	struct event	      *timer;
	struct wh_attempt_list attempts;  /* being sent or recorded */
	int		       claiming;  /* a claim is in flight */
	int		       notified;  /* a delivery came during the claim */
	int		       in_flight; /* attempts being sent */
	int		       warned;	  /* "no JWT secret" said once */
};

/* The attempt is over (or abandoned): off the list and freed. */
static void
wh_attempt_end(struct wh_attempt *a)
{
	TAILQ_REMOVE(&a->w->attempts, a, entry);
	a->w->in_flight--;
	free(a);
}

/* The outcome's write came back: the attempt is over. */
static void
wh_recorded(const PGresult *res, const char *err, void *arg)
{
	struct wh_attempt *a = arg;

	if (err != NULL)
		log_warn("webhook delivery %s: recording attempt %s: %s", a->id,
		    a->attempts, err);
	wh_attempt_end(a);
}

/*
 * Record an attempt that did not succeed: gone (410), or retried after
 * the schedule's wait for attempt n with +-10% jitter, times
 * SCENEGEN_WEBHOOK_BACKOFF_SCALE, or Retry-After if longer (up to 10 h:
 * the schedule's longest wait); the last
 * allowed attempt (allowed: WH_MAX_ATTEMPTS, 0 to end it now) fails.
 */
static void
wh_record_failure(struct wh_attempt *a, long status, const char *why,
    double retry_after, int allowed)
{
	struct scenegend *sg = a->w->sg;
	struct db_reply	  reply = { wh_recorded, a };
	const char	 *v[6];
	char		  code[16], delay[32], max[12];
	double		  wait;
	long		  n = strtol(a->attempts, NULL, 10);

	snprintf(code, sizeof(code), "%ld", status);
	v[0] = a->id;
	v[1] = a->attempts;
	v[2] = status > 0 ? code : NULL;
	v[3] = why;
	if (status == 410) {
		sg->counters.wh_gone++;
		log_info("webhook %s: 410 Gone: no more attempts", a->msg_id);
		if (db_query(sg->db_webhook, STMT_WH_GONE, 4, v, reply) == -1)
			goto lost;
		return;
	}
	if (n < 1)
		n = 1;
	wait =
	    wh_schedule[n <= WH_MAX_ATTEMPTS - 1 ? n - 1 : WH_MAX_ATTEMPTS - 2];
	wait *= sg->cfg->webhook_backoff_scale *
	    (0.9 + 0.2 * ((double)random() / (double)RAND_MAX));
	if (retry_after > wait)
		wait = retry_after < WH_RETRY_AFTER_MAX ? retry_after :
							  WH_RETRY_AFTER_MAX;
	snprintf(delay, sizeof(delay), "%.3f", wait);
	snprintf(max, sizeof(max), "%d", allowed);
	v[4] = delay;
	v[5] = max;
	if (n >= allowed) {
		sg->counters.wh_failed++;
		log_warn("webhook %s: attempt %ld failed (%s): giving up",
		    a->msg_id, n, why);
	} else {
		sg->counters.wh_retried++;
		log_info("webhook %s: attempt %ld failed (%s): again in "
			 "%.1f s",
		    a->msg_id, n, why, wait);
	}
	if (db_query(sg->db_webhook, STMT_WH_RETRY, 6, v, reply) == -1)
		goto lost;
	return;
lost:
	/* The claim's lease runs out and the attempt is made again. */
	log_warn("webhook %s: PostgreSQL unavailable: attempt %s not "
		 "recorded",
	    a->msg_id, a->attempts);
	wh_attempt_end(a);
}

/* The receiver answered (or did not). */
static void
wh_sent(const struct http_result *r, void *arg)
{
	struct wh_attempt *a = arg;
	struct scenegend  *sg = a->w->sg;
	struct db_reply	   reply = { wh_recorded, a };
	const char	  *v[3];
	char		   code[16], why[160];

	if (r->code == CURLE_OK && r->status >= 200 && r->status <= 299) {
		snprintf(code, sizeof(code), "%ld", r->status);
		v[0] = a->id;
		v[1] = a->attempts;
		v[2] = code;
		sg->counters.wh_delivered++;
		log_debug("webhook %s delivered (%ld)", a->msg_id, r->status);
		if (db_query(sg->db_webhook, STMT_WH_DELIVERED, 3, v, reply) ==
		    -1) {
			log_warn("webhook %s: PostgreSQL unavailable: the "
				 "delivery will be made again",
			    a->msg_id);
			wh_attempt_end(a);
		}
		return;
	}
	if (r->code != CURLE_OK)
		snprintf(why, sizeof(why), "%.150s",
		    r->error != NULL ? r->error : "transfer failed");
	else
		snprintf(why, sizeof(why), "HTTP status %ld", r->status);
	wh_record_failure(a, r->code == CURLE_OK ? r->status : 0, why,
	    r->retry_after, WH_MAX_ATTEMPTS);
}

/*
 * The body of the delivery in row i of res, a new string (NULL: out of
 * memory): { type, timestamp, data } with data the record's status
 * document written by the API's builder from the row as it was at the
 * event, its estimate and events_url counted from the event's time, so
 * every attempt writes the same bytes. A delivery stored before the
 * trigger kept snapshots has its body whole: that is sent as it is.
 */
static char *
wh_body(struct webhook *w, const PGresult *res, int i)
{
	const int	first = sql_statements[STMT_WH_CLAIM].doc_col;
	const char     *col[STATUS_COL__MAX];
	struct json_out j;
	char	       *body = NULL;
	int		c;

	if (db_value(res, i, first + STATUS_COL_ID) == NULL)
		return db_value(res, i, WH_BODY) != NULL ?
		    strdup(db_value(res, i, WH_BODY)) :
		    NULL;
	for (c = 0; c < STATUS_COL__MAX; c++)
		col[c] = db_value(res, i, first + c);
	json_open(&j);
	json_string(&j, "type", db_value(res, i, WH_TYPE));
	json_string(&j, "timestamp", db_value(res, i, WH_TIME));
	json_object(&j, "data");
	status_doc_write(&j, col, status_doc_pushed_eta(col, WH_ETA_FALLBACK),
	    w->sg->cfg->jwt_secret,
	    (time_t)strtoll(db_value(res, i, WH_TIME_S), NULL, 10));
	json_end_object(&j);
	if (json_close(&j) == 0)
		body = strndup(j.b.data, j.b.len);
	json_free(&j);
	return body;
}

/*
 * Send the claimed delivery of row i of res, its body written by
 * wh_body(): every attempt signs and sends the same bytes.
 */
static void
wh_send(struct webhook *w, const PGresult *res, int i)
{
	struct scenegend  *sg = w->sg;
	struct wh_attempt *a;
	struct netaddr_url u;
	struct http_opts   o;
	unsigned char	   key[WHSECRET_KEY_LEN];
	const char	  *url = db_value(res, i, WH_URL);
	const char	  *user = db_value(res, i, WH_USER);
	const char	  *headers[5];
	char		   sig[WHSECRET_SIG_LEN + 1], ts[24];
	char		   h_id[96], h_ts[48], h_sig[WHSECRET_SIG_LEN + 32];
	char		  *body = NULL;

	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		log_err("out of memory sending a webhook: its lease runs out "
			"and it is sent later");
		return;
	}
	a->w = w;
	TAILQ_INSERT_TAIL(&w->attempts, a, entry);
	w->in_flight++;
	snprintf(a->id, sizeof(a->id), "%s", db_value(res, i, WH_ID));
	snprintf(a->attempts, sizeof(a->attempts), "%s",
	    db_value(res, i, WH_ATTEMPTS));
	snprintf(a->msg_id, sizeof(a->msg_id), "%s",
	    db_value(res, i, WH_MSG_ID));
	if (url == NULL || user == NULL || netaddr_url_parse(url, &u) == -1 ||
	    (!u.https && !sg->cfg->webhook_allow_private)) {
		wh_record_failure(a, 0, "the record has no usable webhook_url",
		    -1, 0);
		return;
	}
	body = wh_body(w, res, i);
	if (body == NULL) {
		wh_record_failure(a, 0, "out of memory writing the body", -1,
		    WH_MAX_ATTEMPTS);
		return;
	}
	snprintf(ts, sizeof(ts), "%lld", (long long)(clock_wall_ms() / 1000));
	if (whsecret_key(sg->cfg->jwt_secret, user, key) == -1 ||
	    whsecret_sign(key, a->msg_id, ts, body, strlen(body), sig) == -1) {
		explicit_bzero(key, sizeof(key));
		free(body);
		wh_record_failure(a, 0, "out of memory signing", -1,
		    WH_MAX_ATTEMPTS);
		return;
	}
	explicit_bzero(key, sizeof(key));
	snprintf(h_id, sizeof(h_id), "webhook-id: %s", a->msg_id);
	snprintf(h_ts, sizeof(h_ts), "webhook-timestamp: %s", ts);
	snprintf(h_sig, sizeof(h_sig), "webhook-signature: %s", sig);
	headers[0] = "Content-Type: application/json";
	headers[1] = h_id;
	headers[2] = h_ts;
	headers[3] = h_sig;
	headers[4] = NULL;
	memset(&o, 0, sizeof(o));
	o.url = url;
	o.post_body = body;
	o.headers = headers;
	o.timeout = WH_TIMEOUT;
	o.connect_timeout = WH_TIMEOUT;
	o.max_body = WH_ANSWER_MAX;
	o.follow = 0; /* a 3xx is a failure, never followed */
	o.fresh = 0;
	o.public_only = !sg->cfg->webhook_allow_private;
	/* curl copies the body (CURLOPT_COPYPOSTFIELDS). */
	if (http_start(sg->http, &o, (struct http_done){ wh_sent, a }) == NULL)
		wh_record_failure(a, 0, "out of memory starting the request",
		    -1, WH_MAX_ATTEMPTS);
	free(body);
}

static void wh_tick(evutil_socket_t, short, void *);

/* The claim came back: send what it gave us. */
static void
wh_claimed(const PGresult *res, const char *err, void *arg)
{
	struct webhook *w = arg;
	int		i, n;

	w->claiming = 0;
	if (res == NULL || err != NULL)
		return; /* PostgreSQL away: the next tick tries again */
	n = db_rows(res);
	for (i = 0; i < n; i++)
		wh_send(w, res, i);
	if (w->notified) {
		w->notified = 0; /* written while we claimed: claim again */
		wh_tick(-1, 0, w);
	}
}

/* The timer: claim what is due while there is room. */
static void
wh_tick(evutil_socket_t fd, short what, void *arg)
{
	struct webhook *w = arg;
	struct db_reply reply = { wh_claimed, w };
	const char     *v[2];
	char		limit[12], lease[16];
	int		room = WH_IN_FLIGHT_MAX - w->in_flight;

	if (w->claiming || room <= 0 || w->sg->draining ||
	    db_pool_up(w->sg->db_webhook) == 0)
		return;
	if (w->sg->cfg->jwt_secret == NULL) {
		if (!w->warned)
			log_warn("SUPABASE_JWT_SECRET is not set: no webhook "
				 "is sent");
		w->warned = 1;
		return;
	}
	snprintf(limit, sizeof(limit), "%d", room < WH_BATCH ? room : WH_BATCH);
	snprintf(lease, sizeof(lease), "%.0f", WH_LEASE);
	v[0] = limit;
	v[1] = lease;
	if (db_query(w->sg->db_webhook, STMT_WH_CLAIM, 2, v, reply) == 0)
		w->claiming = 1;
}

void
webhook_wake(struct webhook *w)
{
	if (w->claiming)
		w->notified = 1;
	else
		wh_tick(-1, 0, w);
}

struct webhook *
webhook_new(struct scenegend *sg)
{
	struct webhook *w;
	struct timeval	tv;

	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	w->sg = sg;
	TAILQ_INIT(&w->attempts);
	w->timer = event_new(sg->base, -1, EV_PERSIST, wh_tick, w);
	tv.tv_sec = 0;
	tv.tv_usec = (long)(WH_POLL_SECONDS * 1e6);
	if (w->timer == NULL || event_add(w->timer, &tv) == -1) {
		webhook_free(w);
		return NULL;
	}
	return w;
}

/*
 * Called once the HTTP client and the pool are freed (their callbacks
 * can no longer come): what was in flight is dropped here.
 */
void
webhook_free(struct webhook *w)
{
	if (w == NULL)
		return;
	while (!TAILQ_EMPTY(&w->attempts))
		wh_attempt_end(TAILQ_FIRST(&w->attempts));
	if (w->timer != NULL)
		event_free(w->timer);
	free(w);
}
