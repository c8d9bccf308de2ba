/*
 * db.c: asynchronous libpq on libevent; see db.h.
 *
 * Each connection is a small state machine: DOWN (waiting for the
 * reconnect timer), CONNECTING (PQconnectPoll driven by socket events),
 * IDLE, PREPARING (PQsendPrepare of the head statement), EXECUTING. The
 * head of the FIFO is the statement on the wire; nothing else is sent
 * until its results are read, so no pipelining state can go wrong. A
 * statement that takes longer than the query timeout drops the
 * connection (PQcancel would block).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "db.h"
#include "log.h"

#define DB_RETRY_MIN	0.25
#define DB_RETRY_MAX	10.0

enum db_conn_state {
	DBC_DOWN,
	DBC_CONNECTING,
	DBC_IDLE,
	DBC_PREPARING,
	DBC_EXECUTING,
	DBC__MAX
};

struct db_query {
	TAILQ_ENTRY(db_query)	 entry;
	int			 stmt;
	int			 n;
	char			*params[DB_MAX_PARAMS];
	struct db_reply		 reply;
};

TAILQ_HEAD(db_query_list, db_query);

struct db_conn {
	struct db_pool		*pool;
	int			 index;
	PGconn			*pg;
	enum db_conn_state	 state;
	int			 fd;
	struct event		*cev;		/* connecting: one-shot */
	struct event		*rev;		/* connected: persistent read */
	struct event		*wev;		/* connected: flush */
	struct event		*timer;		/* reconnect, timeouts */
	struct event		*kick;		/* run the FIFO, deferred */
	double			 retry_delay;
	int			 was_up;
	int			 logged_down;
	unsigned char		*prepared;	/* per statement */
	struct db_query_list	 fifo;
	size_t			 queued;
	PGresult		*result;	/* first result of the head */
	char			*error;		/* first error of the head */
};

struct db_pool {
	struct event_base		*base;
	char				*conninfo;
	char				*label;
	struct db_conn			*conns;
	int				 nconn;
	const struct db_stmt_def	*table;
	int				 nstmt;
	double				 query_timeout;
	double				 connect_timeout;
	unsigned long			 generation;
	void				(*on_up)(void *);
	void				*on_up_arg;
};

static void	db_conn_start(struct db_conn *);
static void	db_conn_lost(struct db_conn *, const char *why);
static void	db_conn_run(struct db_conn *);

/* Arm c's one timer for seconds. */
static void
db_conn_timer(struct db_conn *c, double seconds)
{
	struct timeval	tv;

	tv.tv_sec = (long)seconds;
	tv.tv_usec = (long)((seconds - (double)tv.tv_sec) * 1e6);
	evtimer_add(c->timer, &tv);
}

/* The first line of libpq's message, without its newline. */
static void
db_first_line(const char *msg, char *out, size_t outlen)
{
	size_t	len;

	if (msg == NULL || *msg == '\0')
		msg = "unknown error";
	len = strcspn(msg, "\n");
	if (len >= outlen)
		len = outlen - 1;
	memcpy(out, msg, len);
	out[len] = '\0';
}

static void
db_query_free(struct db_query *q)
{
	int	i;

	for (i = 0; i < q->n; i++)
		free(q->params[i]);
	free(q);
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
	struct db_conn	*c = arg;

	if (c->state == DBC_DOWN)
		db_conn_start(c);
	else if (c->state == DBC_CONNECTING)
		db_conn_lost(c, "connection attempt timed out");
	else if (c->state == DBC_PREPARING || c->state == DBC_EXECUTING)
		db_conn_lost(c, "statement timed out");
}

/* Drop the connection, fail every queued statement, plan a reconnect. */
static void
db_conn_lost(struct db_conn *c, const char *why)
{
	struct db_query	*q;
	char		 line[256];

	db_first_line(why, line, sizeof(line));
	if (!c->logged_down)
		log_warn("%s: connection %d: %s", c->pool->label, c->index,
		    line);
	c->logged_down = 1;
	db_conn_events_free(c);
	if (c->pg != NULL)
		PQfinish(c->pg);
	c->pg = NULL;
	if (c->result != NULL)
		PQclear(c->result);
	c->result = NULL;
	free(c->error);
	c->error = NULL;
	c->state = DBC_DOWN;
	evtimer_del(c->timer);
	/* Fail in order; a callback may queue again (elsewhere). */
	for (q = TAILQ_FIRST(&c->fifo); q != NULL; q = TAILQ_FIRST(&c->fifo)) {
		TAILQ_REMOVE(&c->fifo, q, entry);
		c->queued--;
		q->reply.fn(NULL, line, q->reply.arg);
		db_query_free(q);
	}
	db_conn_timer(c, c->retry_delay);
	c->retry_delay *= 2;
	if (c->retry_delay > DB_RETRY_MAX)
		c->retry_delay = DB_RETRY_MAX;
}

/* Flush output; wait for writability when libpq could not send it all. */
static int
db_conn_flush(struct db_conn *c)
{
	int	r;

	r = PQflush(c->pg);
	if (r == -1)
		return -1;
	if (r == 1)
		event_add(c->wev, NULL);
	return 0;
}

/*
 * Whether an error result is worth trying again elsewhere: connection
 * exceptions (08), operator intervention such as a shutdown (57),
 * insufficient resources (53), serialization failures and deadlocks (40).
 */
static int
db_transient(const PGresult *res)
{
	const char	*state;

	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (state == NULL)
		return 1;
	return strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0 ||
	    strncmp(state, "53", 2) == 0 || strncmp(state, "40", 2) == 0;
}

/* The head statement is finished: hand its result over, run the next. */
static void
db_conn_complete(struct db_conn *c)
{
	struct db_query	*q;
	PGresult	*res;
	char		*error;

	q = TAILQ_FIRST(&c->fifo);
	res = c->result;
	error = c->error;
	c->result = NULL;
	c->error = NULL;
	evtimer_del(c->timer);
	if (c->state == DBC_PREPARING) {
		if (error == NULL) {
			c->prepared[q->stmt] = 1;
			c->state = DBC_IDLE;
			if (res != NULL)
				PQclear(res);
			db_conn_run(c);
			return;
		}
		log_err("%s: prepare %s: %s", c->pool->label,
		    c->pool->table[q->stmt].name, error);
	}
	TAILQ_REMOVE(&c->fifo, q, entry);
	c->queued--;
	c->state = DBC_IDLE;
	if (res == NULL || (error != NULL && db_transient(res))) {
		/* No result, or the server going away: transient. */
		q->reply.fn(NULL, error != NULL ? error : "no result",
		    q->reply.arg);
	} else
		q->reply.fn(res, error, q->reply.arg);
	if (res != NULL)
		PQclear(res);
	free(error);
	db_query_free(q);
	if (c->state == DBC_IDLE)
		db_conn_run(c);
}

/* Read what the server sent; complete the head statement when done. */
static void
db_conn_read(struct db_conn *c)
{
	PGresult	*r;
	ExecStatusType	 st;
	char		 line[512];

	if (PQconsumeInput(c->pg) == 0) {
		db_conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	if (c->state == DBC_IDLE) {
		PGnotify	*n;

		for (n = PQnotifies(c->pg); n != NULL; n = PQnotifies(c->pg))
			PQfreemem(n);
		return;
	}
	if (c->state != DBC_PREPARING && c->state != DBC_EXECUTING)
		return;
	if (db_conn_flush(c) == -1) {
		db_conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	while (!PQisBusy(c->pg)) {
		r = PQgetResult(c->pg);
		if (r == NULL) {
			if (PQstatus(c->pg) == CONNECTION_BAD)
				db_conn_lost(c, c->error != NULL ? c->error :
				    PQerrorMessage(c->pg));
			else
				db_conn_complete(c);
			return;
		}
		st = PQresultStatus(r);
		if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE ||
		    st == PGRES_NONFATAL_ERROR) {
			if (c->error == NULL) {
				db_first_line(PQresultErrorMessage(r), line,
				    sizeof(line));
				c->error = strdup(line);
				if (c->error == NULL) {
					PQclear(r);
					db_conn_lost(c, "out of memory");
					return;
				}
			}
		}
		if (c->result == NULL)
			c->result = r;
		else
			PQclear(r);
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
	struct db_conn	*c = arg;

	if (c->pg != NULL && db_conn_flush(c) == -1)
		db_conn_lost(c, PQerrorMessage(c->pg));
}

/* Send the head of the FIFO (preparing its statement first if needed). */
static void
db_conn_run(struct db_conn *c)
{
	const struct db_stmt_def	*def;
	struct db_query			*q;
	int				 ok;

	if (c->state != DBC_IDLE)
		return;
	q = TAILQ_FIRST(&c->fifo);
	if (q == NULL)
		return;
	def = &c->pool->table[q->stmt];
	if (def->prepare && !c->prepared[q->stmt]) {
		ok = PQsendPrepare(c->pg, def->name, def->sql, def->nparams,
		    NULL);
		c->state = DBC_PREPARING;
	} else if (def->prepare) {
		ok = PQsendQueryPrepared(c->pg, def->name, q->n,
		    (const char *const *)q->params, NULL, NULL, 0);
		c->state = DBC_EXECUTING;
	} else {
		ok = PQsendQueryParams(c->pg, def->sql, q->n, NULL,
		    (const char *const *)q->params, NULL, NULL, 0);
		c->state = DBC_EXECUTING;
	}
	if (!ok || db_conn_flush(c) == -1) {
		db_conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	db_conn_timer(c, c->pool->query_timeout);
}

/* The connection is established: install its events, run the FIFO. */
static void
db_conn_ready(struct db_conn *c)
{
	struct db_pool	*p = c->pool;

	evtimer_del(c->timer);
	if (c->cev != NULL)
		event_free(c->cev);
	c->cev = NULL;
	if (PQsetnonblocking(c->pg, 1) == -1) {
		db_conn_lost(c, "PQsetnonblocking failed");
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
	c->state = DBC_IDLE;
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

static void	db_conn_connect_cb(evutil_socket_t, short, void *);

/* Wait for the socket direction PQconnectPoll asked for. */
static void
db_conn_connect_wait(struct db_conn *c, PostgresPollingStatusType st)
{
	short	what = st == PGRES_POLLING_READING ? EV_READ : EV_WRITE;

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
	struct db_conn			*c = arg;
	PostgresPollingStatusType	 st;

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
	struct db_conn	*c = arg;
	char		 line[256];

	db_first_line(message, line, sizeof(line));
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
    int nconn, const struct db_stmt_def *table, int nstmt,
    double query_timeout, double connect_timeout)
{
	struct db_pool	*p;
	struct db_conn	*c;
	int		 i;

	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->base = base;
	p->table = table;
	p->nstmt = nstmt;
	p->nconn = nconn;
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
		TAILQ_INIT(&c->fifo);
		c->prepared = calloc((size_t)nstmt, 1);
		c->timer = evtimer_new(base, db_conn_timer_cb, c);
		c->kick = event_new(base, -1, 0, db_conn_kick_cb, c);
		if (c->prepared == NULL || c->timer == NULL || c->kick == NULL)
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
db_pool_free(struct db_pool *p)
{
	struct db_conn	*c;
	struct db_query	*q;
	int		 i;

	if (p == NULL)
		return;
	for (i = 0; p->conns != NULL && i < p->nconn; i++) {
		c = &p->conns[i];
		for (q = TAILQ_FIRST(&c->fifo); q != NULL;
		    q = TAILQ_FIRST(&c->fifo)) {
			TAILQ_REMOVE(&c->fifo, q, entry);
			db_query_free(q);
		}
		db_conn_events_free(c);
		if (c->timer != NULL)
			event_free(c->timer);
		if (c->kick != NULL)
			event_free(c->kick);
		if (c->pg != NULL)
			PQfinish(c->pg);
		if (c->result != NULL)
			PQclear(c->result);
		free(c->error);
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
	int	i, n = 0;

	for (i = 0; i < p->nconn; i++)
		if (p->conns[i].state >= DBC_IDLE)
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
	struct db_query	*q;
	int		 i;

	if (stmt < 0 || stmt >= p->nstmt || n < 0 || n > DB_MAX_PARAMS)
		return -1;
	for (i = 0; i < p->nconn; i++) {
		c = &p->conns[i];
		if (c->state < DBC_IDLE)
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
	TAILQ_INSERT_TAIL(&best->fifo, q, entry);
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
