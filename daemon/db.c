/*
 * db.c: asynchronous libpq on libevent; see db.h.
 *
 * Each connection is DOWN (waiting for the reconnect timer), CONNECTING
 * (PQconnectPoll driven by socket events) or UP, in libpq's pipeline
 * mode. Queued statements go out in batches: up to batch_max statements
 * and a Sync, which PostgreSQL runs as one implicit transaction, so a
 * batch costs one commit. Results are kept until the Sync's answer says
 * the transaction committed, then handed over in order. A batch with an
 * error committed nothing: its statements run again one per batch, so
 * each gets its own answer. Up to DB_BATCHES_IN_FLIGHT batches are on the
 * wire, so the next one runs while the previous one commits. A connection
 * that makes no progress within the query timeout is dropped (PQcancel
 * would block).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "db.h"
#include "log.h"
#include "pgerr.h"

#define DB_RETRY_MIN	     0.25
#define DB_RETRY_MAX	     2.0 /* back well within a lease */
#define DB_BATCHES_IN_FLIGHT 2

enum db_conn_state {
	DBC_DOWN,
	DBC_CONNECTING,
	DBC_UP,
	DBC__MAX
};

/* An answer kept until its batch's Sync: first result, first error line. */
struct db_answer {
	PGresult *res;
	char	 *error;
};

struct db_query {
	TAILQ_ENTRY(db_query) entry;
	int		      stmt;
	int		      n;
	char		     *params[DB_MAX_PARAMS];
	struct db_reply	      reply;
	int		      solo;   /* its batch failed: run alone */
	struct db_answer      answer; /* its own */
};

TAILQ_HEAD(db_query_list, db_query);

/* What is on the wire, in the order its answers come back. */
enum db_slot_kind {
	SLOT_PREPARE,
	SLOT_QUERY,
	SLOT_SYNC
};

struct db_slot {
	enum db_slot_kind kind;
	int		  stmt;	    /* SLOT_PREPARE */
	struct db_query	 *q;	    /* SLOT_QUERY */
	int		  nqueries; /* SLOT_SYNC: its batch's size */
};

struct db_conn {
	struct db_pool	    *pool;
	int		     index;
	PGconn		    *pg;
	enum db_conn_state   state;
	int		     fd;
	struct event	    *cev;   /* connecting: one-shot */
	struct event	    *rev;   /* connected: persistent read */
	struct event	    *wev;   /* connected: flush */
	struct event	    *timer; /* reconnect, timeouts */
	struct event	    *kick;  /* send the FIFO, deferred */
	double		     retry_delay;
	int		     was_up;
	int		     logged_down;
	unsigned char	    *prepared; /* per statement: sent */
	struct db_query_list pending;  /* not sent yet */
	struct db_query_list sent;     /* on the wire, in order */
	size_t		     queued;   /* pending + sent */
	struct db_slot	    *slots;    /* ring of what is on the wire */
	size_t		     slot_cap, slot_head, slot_len;
	int		     batches;	   /* Syncs on the wire */
	int		     batch_failed; /* the batch being read */
	struct db_answer     batch_error;  /* its first error */
};

struct db_pool {
	struct event_base	 *base;
	char			 *conninfo;
	char			 *label;
	struct db_conn		 *conns;
	int			  nconn;
	int			  batch_max;
	const struct db_stmt_def *table;
	int			  nstmt;
	double			  query_timeout;
	double			  connect_timeout;
	unsigned long		  generation;
	void (*on_up)(void *);
	void *on_up_arg;
	void (*on_notify)(void *, const char *, const char *);
	void *on_notify_arg;
};

static void db_conn_start(struct db_conn *);
static void db_conn_lost(struct db_conn *, const char *why);
static void db_conn_run(struct db_conn *);

/* Arm c's one timer for seconds. */
static void
db_conn_timer(struct db_conn *c, double seconds)
{
	struct timeval tv;

	tv.tv_sec = (long)seconds;
	tv.tv_usec = (long)((seconds - (double)tv.tv_sec) * 1e6);
	evtimer_add(c->timer, &tv);
}

/* Forget a kept answer (before a rerun, or when done with it). */
static void
db_answer_clear(struct db_answer *a)
{
	if (a->res != NULL)
		PQclear(a->res);
	a->res = NULL;
	free(a->error);
	a->error = NULL;
}

static void
db_query_free(struct db_query *q)
{
	int i;

	db_answer_clear(&q->answer);
	for (i = 0; i < q->n; i++)
		free(q->params[i]);
	free(q);
}

/* Forget the error state of the batch being read. */
static void
db_conn_batch_reset(struct db_conn *c)
{
	db_answer_clear(&c->batch_error);
	c->batch_failed = 0;
}

/* Free the events tied to the current socket. */
static void
db_conn_events_free(struct db_conn *c)
{
	if (c->cev != NULL)
		event_free(c->cev);
	if (c->rev != NULL)
		event_free(c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	c->cev = c->rev = c->wev = NULL;
	c->fd = -1;
}

/* Timer: reconnect when DOWN, else a connect or statement timeout. */
static void
db_conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *c = arg;

	if (c->state == DBC_DOWN)
		db_conn_start(c);
	else if (c->state == DBC_CONNECTING)
		db_conn_lost(c, "connection attempt timed out");
	else if (c->slot_len > 0)
		db_conn_lost(c, "statement timed out");
}

/* Fail every query of list (in order) as transient; callbacks may queue. */
static void
db_conn_fail_list(struct db_conn *c, struct db_query_list *list,
    const char *line)
{
	struct db_query *q;

	for (q = TAILQ_FIRST(list); q != NULL; q = TAILQ_FIRST(list)) {
		TAILQ_REMOVE(list, q, entry);
		c->queued--;
		q->reply.fn(NULL, line, q->reply.arg);
		db_query_free(q);
	}
}

/* Drop the connection, fail every queued statement, plan a reconnect. */
static void
db_conn_lost(struct db_conn *c, const char *why)
{
	char line[256];

	pgerr_flatten(why, line, sizeof(line));
	if (!c->logged_down)
		log_warn("%s: connection %d: %s", c->pool->label, c->index,
		    line);
	c->logged_down = 1;
	db_conn_events_free(c);
	if (c->pg != NULL)
		PQfinish(c->pg);
	c->pg = NULL;
	c->state = DBC_DOWN;
	c->slot_head = c->slot_len = 0;
	c->batches = 0;
	db_conn_batch_reset(c);
	evtimer_del(c->timer);
	/* Fail in order; a callback may queue again (elsewhere). */
	db_conn_fail_list(c, &c->sent, line);
	db_conn_fail_list(c, &c->pending, line);
	db_conn_timer(c, c->retry_delay);
	c->retry_delay *= 2;
	if (c->retry_delay > DB_RETRY_MAX)
		c->retry_delay = DB_RETRY_MAX;
}

/* Flush output; wait for writability when libpq could not send it all. */
static int
db_conn_flush(struct db_conn *c)
{
	int r;

	r = PQflush(c->pg);
	if (r == -1)
		return -1;
	if (r == 1)
		event_add(c->wev, NULL);
	return 0;
}

/* Whether an error result is worth trying again; see lib/pgerr.c. */
static int
db_transient(const PGresult *res)
{
	return pgerr_transient(PQresultErrorField(res, PG_DIAG_SQLSTATE));
}

/* Hand q its answer: result, permanent error, or transient failure. */
static void
db_query_deliver(struct db_query *q, PGresult *res, const char *error)
{
	if (res == NULL || (error != NULL && db_transient(res)))
		q->reply.fn(NULL, error != NULL ? error : "no result",
		    q->reply.arg);
	else
		q->reply.fn(res, error, q->reply.arg);
}

/*
 * The Sync of the oldest batch came back. Committed: hand every answer
 * over. Failed: a lone statement gets its error; a larger batch runs
 * again, one statement per batch, ahead of everything queued since.
 */
static void
db_conn_batch_done(struct db_conn *c, int nqueries)
{
	struct db_query_list batch;
	struct db_query	    *q;
	int		     i, failed = c->batch_failed;

	TAILQ_INIT(&batch);
	for (i = 0, q = TAILQ_FIRST(&c->sent); i < nqueries && q != NULL;
	     i++, q = TAILQ_FIRST(&c->sent)) {
		TAILQ_REMOVE(&c->sent, q, entry);
		TAILQ_INSERT_TAIL(&batch, q, entry);
	}
	c->batches--;
	if (failed && nqueries > 1) {
		log_debug("%s: connection %d: a batch of %d failed (%s); "
			  "running its statements one by one",
		    c->pool->label, c->index, nqueries,
		    c->batch_error.error != NULL ? c->batch_error.error : "?");
		for (q = TAILQ_LAST(&batch, db_query_list); q != NULL;
		     q = TAILQ_LAST(&batch, db_query_list)) {
			TAILQ_REMOVE(&batch, q, entry);
			db_answer_clear(&q->answer);
			q->solo = 1;
			TAILQ_INSERT_HEAD(&c->pending, q, entry);
		}
		db_conn_batch_reset(c);
		return;
	}
	for (q = TAILQ_FIRST(&batch); q != NULL; q = TAILQ_FIRST(&batch)) {
		TAILQ_REMOVE(&batch, q, entry);
		c->queued--;
		if (!failed)
			db_query_deliver(q, q->answer.res, NULL);
		else if (q->answer.error != NULL)
			db_query_deliver(q, q->answer.res, q->answer.error);
		else
			db_query_deliver(q, c->batch_error.res,
			    c->batch_error.error);
		db_query_free(q);
	}
	db_conn_batch_reset(c);
}

/* Note a failure of the batch being read; keep its first error. */
static int
db_conn_note_error(struct db_conn *c, PGresult *r, const char *line)
{
	c->batch_failed = 1;
	if (c->batch_error.error != NULL)
		return 0;
	c->batch_error.error = strdup(line);
	if (c->batch_error.error == NULL)
		return -1;
	if (r != NULL && PQresultStatus(r) != PGRES_PIPELINE_ABORTED) {
		c->batch_error.res = r;
		return 1; /* r is kept */
	}
	return 0;
}

/*
 * One result r for the slot s at the head of the ring. Returns -1 when
 * out of memory; r is always consumed (kept or cleared).
 */
static int
db_conn_take_result(struct db_conn *c, const struct db_slot *s, PGresult *r)
{
	struct db_query *q = s->q;
	ExecStatusType	 st = PQresultStatus(r);
	char		 line[512];
	int		 kept = 0, aborted = st == PGRES_PIPELINE_ABORTED;

	if (aborted)
		snprintf(line, sizeof(line),
		    "statement skipped: an earlier "
		    "one in its batch failed");
	else if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE ||
	    st == PGRES_NONFATAL_ERROR)
		pgerr_flatten(PQresultErrorMessage(r), line, sizeof(line));
	else
		line[0] = '\0';
	if (s->kind == SLOT_PREPARE && line[0] != '\0') {
		if (!aborted)
			log_err("%s: prepare %s: %s", c->pool->label,
			    c->pool->table[s->stmt].name, line);
		c->prepared[s->stmt] = 0;
	}
	if (s->kind == SLOT_QUERY && !aborted) {
		if (line[0] != '\0' && q->answer.error == NULL)
			q->answer.error = strdup(line);
		if (line[0] != '\0' && q->answer.error == NULL) {
			PQclear(r);
			return -1;
		}
		if (q->answer.res == NULL) {
			q->answer.res = r;
			kept = 1;
		}
	}
	if (line[0] != '\0') {
		switch (db_conn_note_error(c, kept ? NULL : r, line)) {
		case -1:
			if (!kept)
				PQclear(r);
			return -1;
		case 1:
			kept = 1;
			break;
		}
	}
	if (!kept)
		PQclear(r);
	return 0;
}

/* Pop the slot at the head of the ring. */
static void
db_conn_pop_slot(struct db_conn *c)
{
	c->slot_head = (c->slot_head + 1) % c->slot_cap;
	c->slot_len--;
}

/* Push a slot at the tail of the ring (room is reserved by the sender). */
static void
db_conn_push_slot(struct db_conn *c, enum db_slot_kind kind, int stmt,
    struct db_query *q, int nqueries)
{
	struct db_slot *s;

	s = &c->slots[(c->slot_head + c->slot_len) % c->slot_cap];
	s->kind = kind;
	s->stmt = stmt;
	s->q = q;
	s->nqueries = nqueries;
	c->slot_len++;
}

/* Read what the server sent; finish each batch whose Sync came back. */
static void
db_conn_read(struct db_conn *c)
{
	struct db_pool *p = c->pool;
	struct db_slot	s;
	PGresult       *r;
	PGnotify       *n;

	if (PQconsumeInput(c->pg) == 0) {
		db_conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	while (c->state == DBC_UP && c->slot_len > 0 && !PQisBusy(c->pg)) {
		s = c->slots[c->slot_head];
		r = PQgetResult(c->pg);
		if (r == NULL) {
			if (PQstatus(c->pg) == CONNECTION_BAD) {
				db_conn_lost(c, PQerrorMessage(c->pg));
				return;
			}
			if (s.kind == SLOT_SYNC)
				break;	     /* its answer is yet to come */
			db_conn_pop_slot(c); /* the slot's answers are all in */
			continue;
		}
		if (s.kind == SLOT_SYNC &&
		    PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			db_conn_pop_slot(c);
			db_conn_batch_done(c, s.nqueries);
			if (c->state != DBC_UP)
				return;
			continue;
		}
		if (db_conn_take_result(c, &s, r) == -1) {
			db_conn_lost(c, "out of memory");
			return;
		}
	}
	if (c->state != DBC_UP)
		return;
	evtimer_del(c->timer);
	if (c->slot_len > 0)
		db_conn_timer(c, c->pool->query_timeout);
	db_conn_run(c);
	/* Last: a callback may queue statements on this very pool. */
	while (c->state == DBC_UP) {
		n = PQnotifies(c->pg);
		if (n == NULL)
			break;
		if (p->on_notify != NULL)
			p->on_notify(p->on_notify_arg, n->relname, n->extra);
		PQfreemem(n);
	}
}

static void
db_conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	db_conn_read(arg);
}

static void
db_conn_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	db_conn_run(arg);
}

static void
db_conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *c = arg;

	if (c->pg != NULL && db_conn_flush(c) == -1)
		db_conn_lost(c, PQerrorMessage(c->pg));
}

/* Send q (preparing its statement first if this connection has not). */
static int
db_conn_send(struct db_conn *c, struct db_query *q)
{
	const struct db_stmt_def *def = &c->pool->table[q->stmt];

	if (def->prepare && !c->prepared[q->stmt]) {
		if (!PQsendPrepare(c->pg, def->name, def->sql, def->nparams,
			NULL))
			return -1;
		c->prepared[q->stmt] = 1;
		db_conn_push_slot(c, SLOT_PREPARE, q->stmt, NULL, 0);
	}
	if (def->prepare) {
		if (!PQsendQueryPrepared(c->pg, def->name, q->n,
			(const char *const *)q->params, NULL, NULL, 0))
			return -1;
	} else if (!PQsendQueryParams(c->pg, def->sql, q->n, NULL,
		       (const char *const *)q->params, NULL, NULL, 0))
		return -1;
	db_conn_push_slot(c, SLOT_QUERY, q->stmt, q, 0);
	return 0;
}

/*
 * Send what is queued, one batch per Sync: up to batch_max statements,
 * a statement marked solo alone.
 */
static void
db_conn_run(struct db_conn *c)
{
	struct db_query *q;
	int		 k, was_idle = c->slot_len == 0;

	if (c->state != DBC_UP)
		return;
	for (q = TAILQ_FIRST(&c->pending);
	     c->batches < DB_BATCHES_IN_FLIGHT && q != NULL;
	     q = TAILQ_FIRST(&c->pending)) {
		for (k = 0; q != NULL && k < c->pool->batch_max;
		     q = TAILQ_FIRST(&c->pending)) {
			if (q->solo && k > 0)
				break;
			if (db_conn_send(c, q) == -1)
				goto lost;
			TAILQ_REMOVE(&c->pending, q, entry);
			TAILQ_INSERT_TAIL(&c->sent, q, entry);
			k++;
			if (q->solo)
				break;
		}
		if (!PQpipelineSync(c->pg))
			goto lost;
		db_conn_push_slot(c, SLOT_SYNC, 0, NULL, k);
		c->batches++;
	}
	if (db_conn_flush(c) == -1)
		goto lost;
	if (was_idle && c->slot_len > 0)
		db_conn_timer(c, c->pool->query_timeout);
	return;
lost:
	db_conn_lost(c, PQerrorMessage(c->pg));
}

/* The connection is established: pipeline mode, events, send the FIFO. */
static void
db_conn_ready(struct db_conn *c)
{
	struct db_pool *p = c->pool;

	evtimer_del(c->timer);
	if (c->cev != NULL)
		event_free(c->cev);
	c->cev = NULL;
	if (PQsetnonblocking(c->pg, 1) == -1 ||
	    PQenterPipelineMode(c->pg) == 0) {
		db_conn_lost(c, "could not enter pipeline mode");
		return;
	}
	c->fd = PQsocket(c->pg);
	c->rev = event_new(p->base, c->fd, EV_READ | EV_PERSIST,
	    db_conn_read_cb, c);
	c->wev = event_new(p->base, c->fd, EV_WRITE, db_conn_write_cb, c);
	if (c->rev == NULL || c->wev == NULL || event_add(c->rev, NULL)) {
		db_conn_lost(c, "out of memory");
		return;
	}
	memset(c->prepared, 0, (size_t)p->nstmt);
	c->state = DBC_UP;
	c->retry_delay = DB_RETRY_MIN;
	p->generation++;
	if (c->logged_down || !c->was_up)
		log_info("%s: connection %d up", p->label, c->index);
	c->logged_down = 0;
	c->was_up = 1;
	if (p->on_up != NULL)
		p->on_up(p->on_up_arg);
	db_conn_run(c);
}

static void db_conn_connect_cb(evutil_socket_t, short, void *);

/* Wait for the socket direction PQconnectPoll asked for. */
static void
db_conn_connect_wait(struct db_conn *c, PostgresPollingStatusType st)
{
	short what = st == PGRES_POLLING_READING ? EV_READ : EV_WRITE;

	if (c->cev != NULL)
		event_free(c->cev);
	c->fd = PQsocket(c->pg);
	c->cev = event_new(c->pool->base, c->fd, what, db_conn_connect_cb, c);
	if (c->cev == NULL || event_add(c->cev, NULL) == -1)
		db_conn_lost(c, "out of memory");
}

static void
db_conn_connect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn		 *c = arg;
	PostgresPollingStatusType st;

	st = PQconnectPoll(c->pg);
	switch (st) {
	case PGRES_POLLING_OK:
		db_conn_ready(c);
		break;
	case PGRES_POLLING_FAILED:
		db_conn_lost(c, PQerrorMessage(c->pg));
		break;
	default:
		db_conn_connect_wait(c, st);
		break;
	}
}

/* libpq's notices (and the server's last words) go to our log. */
static void
db_notice(void *arg, const char *message)
{
	struct db_conn *c = arg;
	char		line[256];

	pgerr_flatten(message, line, sizeof(line));
	log_debug("%s: connection %d: %s", c->pool->label, c->index, line);
}

/* Begin a non-blocking connection attempt. */
static void
db_conn_start(struct db_conn *c)
{
	c->pg = PQconnectStart(c->pool->conninfo);
	if (c->pg == NULL) {
		db_conn_lost(c, "out of memory");
		return;
	}
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		db_conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	PQsetNoticeProcessor(c->pg, db_notice, c);
	c->state = DBC_CONNECTING;
	db_conn_timer(c, c->pool->connect_timeout);
	db_conn_connect_wait(c, PGRES_POLLING_WRITING);
}

struct db_pool *
db_pool_new(struct event_base *base, const char *conninfo, const char *label,
    int nconn, int batch_max, const struct db_stmt_def *table, int nstmt,
    double query_timeout, double connect_timeout)
{
	struct db_pool *p;
	struct db_conn *c;
	int		i;

	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->base = base;
	p->table = table;
	p->nstmt = nstmt;
	p->nconn = nconn;
	p->batch_max = batch_max < 1 ? 1 : batch_max;
	p->query_timeout = query_timeout;
	p->connect_timeout = connect_timeout;
	p->conninfo = strdup(conninfo);
	p->label = strdup(label);
	p->conns = calloc((size_t)nconn, sizeof(*p->conns));
	if (p->conninfo == NULL || p->label == NULL || p->conns == NULL)
		goto fail;
	for (i = 0; i < nconn; i++) {
		c = &p->conns[i];
		c->pool = p;
		c->index = i;
		c->fd = -1;
		c->state = DBC_DOWN;
		c->retry_delay = DB_RETRY_MIN;
		TAILQ_INIT(&c->pending);
		TAILQ_INIT(&c->sent);
		/* Each batch: a prepare and a query per statement, a Sync. */
		c->slot_cap = (size_t)DB_BATCHES_IN_FLIGHT *
		    (2 * (size_t)p->batch_max + 1);
		c->slots = calloc(c->slot_cap, sizeof(*c->slots));
		c->prepared = calloc((size_t)nstmt, 1);
		c->timer = evtimer_new(base, db_conn_timer_cb, c);
		c->kick = event_new(base, -1, 0, db_conn_kick_cb, c);
		if (c->slots == NULL || c->prepared == NULL ||
		    c->timer == NULL || c->kick == NULL)
			goto fail;
	}
	for (i = 0; i < nconn; i++)
		db_conn_start(&p->conns[i]);
	return p;
fail:
	db_pool_free(p);
	return NULL;
}

void
db_pool_on_up(struct db_pool *p, void (*fn)(void *), void *arg)
{
	p->on_up = fn;
	p->on_up_arg = arg;
}

void
db_pool_on_notify(struct db_pool *p,
    void (*fn)(void *, const char *channel, const char *payload), void *arg)
{
	p->on_notify = fn;
	p->on_notify_arg = arg;
}

/* Free the queries of list without calling back. */
static void
db_query_list_free(struct db_query_list *list)
{
	struct db_query *q;

	for (q = TAILQ_FIRST(list); q != NULL; q = TAILQ_FIRST(list)) {
		TAILQ_REMOVE(list, q, entry);
		db_query_free(q);
	}
}

void
db_pool_free(struct db_pool *p)
{
	struct db_conn *c;
	int		i;

	if (p == NULL)
		return;
	for (i = 0; p->conns != NULL && i < p->nconn; i++) {
		c = &p->conns[i];
		if (c->pool == NULL)
			continue; /* never set up */
		db_query_list_free(&c->sent);
		db_query_list_free(&c->pending);
		db_conn_events_free(c);
		if (c->timer != NULL)
			event_free(c->timer);
		if (c->kick != NULL)
			event_free(c->kick);
		if (c->pg != NULL)
			PQfinish(c->pg);
		db_conn_batch_reset(c);
		free(c->slots);
		free(c->prepared);
	}
	free(p->conns);
	free(p->conninfo);
	free(p->label);
	free(p);
}

int
db_pool_up(const struct db_pool *p)
{
	int i, n = 0;

	for (i = 0; i < p->nconn; i++)
		if (p->conns[i].state == DBC_UP)
			n++;
	return n;
}

unsigned long
db_pool_generation(const struct db_pool *p)
{
	return p->generation;
}

int
db_query(struct db_pool *p, int stmt, int n, const char *const *params,
    struct db_reply reply)
{
	struct db_conn	*c, *best = NULL;
	struct db_query *q;
	int		 i;

	if (stmt < 0 || stmt >= p->nstmt || n < 0 || n > DB_MAX_PARAMS)
		return -1;
	for (i = 0; i < p->nconn; i++) {
		c = &p->conns[i];
		if (c->state != DBC_UP)
			continue;
		if (best == NULL || c->queued < best->queued)
			best = c;
	}
	if (best == NULL)
		return -1;
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return -1;
	q->stmt = stmt;
	q->reply = reply;
	for (i = 0; i < n; i++) {
		if (params[i] == NULL)
			continue;
		q->params[i] = strdup(params[i]);
		if (q->params[i] == NULL) {
			q->n = i;
			db_query_free(q);
			return -1;
		}
	}
	q->n = n;
	TAILQ_INSERT_TAIL(&best->pending, q, entry);
	best->queued++;
	/* Never call back from inside db_query(): run it from the loop. */
	event_active(best->kick, 0, 0);
	return 0;
}

int
db_rows(const PGresult *res)
{
	return res == NULL ? 0 : PQntuples(res);
}

const char *
db_value(const PGresult *res, int r, int c)
{
	if (res == NULL || r >= PQntuples(res) || c >= PQnfields(res) ||
	    PQgetisnull(res, r, c))
		return NULL;
	return PQgetvalue(res, r, c);
}
