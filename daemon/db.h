/*
 * db.h: asynchronous PostgreSQL on the event loop.
 *
 * A pool of non-blocking libpq connections in pipeline mode; each sends
 * its FIFO of statements in batches of up to batch_max, one transaction
 * (one commit) per batch, preparing each statement of the table on first
 * use. Every statement still gets its own answer, and only once its batch
 * has committed. A pool whose statements build transactions of their own
 * (BEGIN ... COMMIT) uses batch_max 1. A lost connection fails what it
 * held and comes back by itself with a growing delay
 * (PQconnectStart/PQconnectPoll: nothing blocks, except the host name
 * lookup libpq does inside PQconnectStart for a TCP host).
 */
#ifndef SCENEGEND_DB_H
#define SCENEGEND_DB_H

#include <libpq-fe.h>

struct event_base;
struct db_pool;

#define DB_MAX_PARAMS 8

/*
 * One statement the pool may run: prepared unless prepare is 0. doc_col,
 * for the caller (db.c does not read it): the first of the row's
 * STATUS_COLUMNS (lib/status_doc.h) in the result of a statement that
 * returns a status document's columns (a write that changes what the
 * document shows, the canceled row, a webhook's snapshot); 0 for every
 * other statement.
 */
struct db_stmt_def {
	const char *name;
	const char *sql;
	int	    nparams;
	int	    prepare;
	int	    doc_col;
};

/*
 * The result callback, called exactly once per accepted query. res NULL:
 * the connection failed (transient; err says why). res set and err set:
 * the server refused the statement (permanent). err NULL: success. The
 * result belongs to the pool and is cleared after the callback returns.
 */
struct db_reply {
	void (*fn)(const PGresult *res, const char *err, void *arg);
	void *arg;
};

struct db_pool *db_pool_new(struct event_base *, const char *conninfo,
    const char *label, int nconn, int batch_max,
    const struct db_stmt_def *table, int nstmt, double query_timeout,
    double connect_timeout);
/* Call fn(arg) each time a connection comes up. */
void		db_pool_on_up(struct db_pool *, void (*fn)(void *), void *);
/* Call fn(arg, channel, payload) for each notification (LISTEN). */
void		db_pool_on_notify(struct db_pool *,
	       void (*fn)(void *, const char *channel, const char *payload), void *);
/* Close everything; callbacks of queued statements are NOT called. */
void		db_pool_free(struct db_pool *);
/* Connections ready to run statements. */
int		db_pool_up(const struct db_pool *);
/* Grows by one each time a connection is (re)established. */
unsigned long	db_pool_generation(const struct db_pool *);
/*
 * Queue statement stmt with n text parameters (copied; NULL is SQL NULL)
 * on the least busy ready connection. 0: the callback will be called;
 * -1: no connection is ready or out of memory, the callback will not be.
 */
int db_query(struct db_pool *, int stmt, int n, const char *const *params,
    struct db_reply reply);

/* Helpers for results. */
int	    db_rows(const PGresult *);
/* Text of row r, column c; NULL when SQL NULL or out of range. */
const char *db_value(const PGresult *, int r, int c);

#endif
