/*
 * scenegend.h: the daemon's one context. main() owns it; every module gets
 * a pointer to it, so there are no globals spread over files. Each module
 * keeps its own state behind an opaque pointer here.
 */
#ifndef SCENEGEND_H
#define SCENEGEND_H

#include <stddef.h>
#include <stdint.h>

#include "job.h"
#include "settings.h"

struct event_base;
struct event;
struct db_pool;
struct queue;
struct http;
struct stats;
struct sweeper;
struct lease;
struct loop;
struct writer;

/* Totals since start, exported in STATUS= and the metrics file. */
struct counters {
	uint64_t	completed;
	uint64_t	failed;
	uint64_t	retried;	/* retries scheduled */
	uint64_t	abandoned;	/* lease lost, left to the others */
	uint64_t	handed_back;	/* returned to the queue at shutdown */
	uint64_t	dropped;	/* entries whose row was not claimable */
	uint64_t	malformed;	/* stream entries without a record id */
};

struct scenegend {
	struct settings		*cfg;
	struct event_base	*base;
	struct db_pool		*db;		/* jobs, heartbeat */
	struct db_pool		*db_sweep;	/* the sweeper's transaction */
	struct queue		*queue;
	struct http		*http;
	struct stats		*stats;
	struct sweeper		*sweeper;
	struct lease		*lease;
	struct loop		*loop;
	struct writer		*writer;	/* NULL: images stay remote */
	struct job_set		 jobs;
	struct counters		 counters;
	size_t			 active_peak;	/* most jobs since the last trim */
	int			 ready;		/* READY=1 sent */
	int			 draining;	/* SIGTERM seen */
	int			 handing_back;	/* drain time is over */
};

/* Start reading jobs if there are free slots (queue.c). */
void	scenegend_kick(struct scenegend *);
/* Called when the last job is gone while draining (loop.c). */
void	scenegend_drained(struct scenegend *);

#endif
