/*
 * events.c: live status, the daemon's side (events.h). A write that
 * changes what a record's status document shows returns the row's
 * STATUS_COLUMNS (sql.c, doc_col); the document is written from them
 * (lib/status_doc.h, the API's own builder) and POSTed to nchan's
 * publisher location on the local socket through the curl multi loop
 * (http.c). No statement is run to publish.
 *
 * Per record at most one publish is in flight: a document that comes
 * meanwhile waits as the record's next, replacing an older one waiting,
 * so the newest state is always published last and an older document
 * never overtakes a newer one (a job's writes are one at a time, so
 * documents come in the row's order). A document equal to the one nchan
 * took last for the record is not sent again. A record's entry lives
 * while something is in flight for it.
 *
 * A failure (PostgreSQL, the socket, nginx) is logged, at most one line
 * per EVENTS_WARN_MS with a count of the others, and never touches the
 * job: live status is a convenience, the row is the truth.
 */
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "db.h"
#include "events.h"
#include "http.h"
#include "log.h"
#include "scenegend.h"
#include "settings.h"
#include "sql.h"
#include "status_doc.h"
#include "uuid.h"

#define EVENTS_BUCKETS	   1024	  /* hash buckets of the record entries */
#define EVENTS_MAX	   100000 /* records in flight at most */
#define EVENTS_WARN_MS	   10000  /* one failure line per this long */
#define EVENTS_TIMEOUT	   5.0	  /* seconds a publish may take */
#define EVENTS_FALLBACK_S  30.0	  /* estimate with no provider ETA */
#define EVENTS_PUBLISH_URL "http://localhost/.scenegen-publish/"

/* One record with a read or a publish in flight. */
struct events_rec {
	TAILQ_ENTRY(events_rec) entry;
	struct events	       *ev;
	char			id[UUID_STR_LEN + 1];
	char		       *next;	 /* to publish once sending ends */
	char		       *sending; /* the document being published */
	char		       *last;	 /* the last one nchan took */
};

TAILQ_HEAD(events_list, events_rec);

struct events {
	struct scenegend  *sg;
	struct events_list buckets[EVENTS_BUCKETS];
	size_t		   n;
	int64_t		   warned_ms; /* last failure line */
	unsigned long	   quiet;     /* failures not logged since */
};

static int events_post(struct events_rec *);

/* Log a failure, rate-limited. */
static void
events_warn(struct events *ev, const char *id, const char *what)
{
	int64_t now = clock_mono_ms();

	if (ev->warned_ms != 0 && now - ev->warned_ms < EVENTS_WARN_MS) {
		ev->quiet++;
		return;
	}
	log_warn("live status of %s not published: %s (%lu more failures "
		 "not logged)",
	    id, what, ev->quiet);
	ev->warned_ms = now;
	ev->quiet = 0;
}

/* The bucket of record id (its last hex digits). */
static struct events_list *
events_bucket(struct events *ev, const char *id)
{
	unsigned long h = strtoul(id + UUID_STR_LEN - 6, NULL, 16);

	return &ev->buckets[h % EVENTS_BUCKETS];
}

/* Free rec and take it off its bucket. */
static void
events_rec_free(struct events_rec *rec)
{
	TAILQ_REMOVE(events_bucket(rec->ev, rec->id), rec, entry);
	rec->ev->n--;
	free(rec->next);
	free(rec->sending);
	free(rec->last);
	free(rec);
}

/* The publish in flight has ended: send the next document, or let go. */
static void
events_settle(struct events_rec *rec)
{
	free(rec->sending);
	rec->sending = NULL;
	while (rec->next != NULL) {
		rec->sending = rec->next;
		rec->next = NULL;
		if (rec->last != NULL && strcmp(rec->last, rec->sending) == 0) {
			free(rec->sending); /* nchan has this one already */
			rec->sending = NULL;
			continue;
		}
		if (events_post(rec) == 0)
			return;
		events_warn(rec->ev, rec->id, "out of memory");
		free(rec->sending);
		rec->sending = NULL;
	}
	events_rec_free(rec);
}

/* http.c: nchan answered the publish (or the transfer failed). */
static void
events_published(const struct http_result *res, void *arg)
{
	struct events_rec *rec = arg;
	char		   what[160];

	if (res->code != CURLE_OK) {
		events_warn(rec->ev, rec->id, res->error);
	} else if (res->status < 200 || res->status > 299) {
		snprintf(what, sizeof(what), "the publisher answered %ld",
		    res->status);
		events_warn(rec->ev, rec->id, what);
	} else {
		free(rec->last);
		rec->last = rec->sending;
		rec->sending = NULL;
	}
	events_settle(rec);
}

/* POST rec->sending to the record's channel; -1 if it cannot start. */
static int
events_post(struct events_rec *rec)
{
	static const char *const headers[] = { "Content-Type: application/json",
		"Accept: application/json", NULL };
	struct http_opts	 o;
	struct http_done	 d = { events_published, rec };
	char			 url[sizeof(EVENTS_PUBLISH_URL) + UUID_STR_LEN];

	snprintf(url, sizeof(url), EVENTS_PUBLISH_URL "%s", rec->id);
	memset(&o, 0, sizeof(o));
	o.url = url;
	o.post_body = rec->sending;
	o.headers = headers;
	o.timeout = EVENTS_TIMEOUT;
	o.connect_timeout = EVENTS_TIMEOUT;
	o.max_body = 4096;
	o.unix_socket = rec->ev->sg->cfg->events_socket;
	return http_start(rec->ev->sg->http, &o, d) != NULL ? 0 : -1;
}

/*
 * The document of the row in res (its STATUS_COLUMNS from column first
 * on) into a new string (NULL: out of memory). The estimate is the
 * daemon's own: what is left of the provider's ETA, or EVENTS_FALLBACK_S;
 * null once final.
 */
static char *
events_document(struct events *ev, const PGresult *res, int first)
{
	const char     *col[STATUS_COL__MAX];
	struct json_out j;
	char	       *doc = NULL;
	long		eta;
	int		c;

	for (c = 0; c < STATUS_COL__MAX; c++)
		col[c] = db_value(res, 0, first + c);
	eta = status_doc_pushed_eta(col, EVENTS_FALLBACK_S);
	json_open(&j);
	status_doc_write(&j, col, eta, ev->sg->cfg->jwt_secret, time(NULL));
	if (json_close(&j) == 0)
		doc = strndup(j.b.data, j.b.len);
	json_free(&j);
	return doc;
}

struct events *
events_new(struct scenegend *sg)
{
	struct events *ev;
	size_t	       i;

	ev = calloc(1, sizeof(*ev));
	if (ev == NULL)
		return NULL;
	ev->sg = sg;
	for (i = 0; i < EVENTS_BUCKETS; i++)
		TAILQ_INIT(&ev->buckets[i]);
	return ev;
}

void
events_free(struct events *ev)
{
	struct events_rec *rec;
	size_t		   i;

	if (ev == NULL)
		return;
	for (i = 0; i < EVENTS_BUCKETS; i++)
		for (rec = TAILQ_FIRST(&ev->buckets[i]); rec != NULL;
		     rec = TAILQ_FIRST(&ev->buckets[i]))
			events_rec_free(rec);
	free(ev);
}

void
events_changed(struct events *ev, const char *record_id, const PGresult *res,
    int col)
{
	struct events_list *b;
	struct events_rec  *rec;
	char		   *doc;

	if (ev == NULL || ev->sg->cfg->events_socket == NULL ||
	    !uuid_is_valid_n(record_id, strlen(record_id)) ||
	    PQnfields(res) < col + STATUS_COL__MAX || db_rows(res) != 1)
		return;
	doc = events_document(ev, res, col);
	if (doc == NULL) {
		events_warn(ev, record_id, "out of memory");
		return;
	}
	b = events_bucket(ev, record_id);
	TAILQ_FOREACH (rec, b, entry)
		if (strcmp(rec->id, record_id) == 0)
			break;
	if (rec != NULL) {
		free(rec->next); /* a newer document replaces it */
		rec->next = doc;
		return;
	}
	if (ev->n >= EVENTS_MAX) {
		events_warn(ev, record_id, "too many records in flight");
		free(doc);
		return;
	}
	rec = calloc(1, sizeof(*rec));
	if (rec == NULL) {
		events_warn(ev, record_id, "out of memory");
		free(doc);
		return;
	}
	rec->ev = ev;
	memcpy(rec->id, record_id, UUID_STR_LEN + 1);
	TAILQ_INSERT_TAIL(b, rec, entry);
	ev->n++;
	rec->next = doc;
	events_settle(rec);
}
