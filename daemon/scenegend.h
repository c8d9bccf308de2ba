/*
 * scenegend.h: the daemon's one context. main() owns it; every module gets
 * a pointer to it, so there are no globals spread over files. Each module
 * keeps its own state behind an opaque pointer here.
 *
 * Calls run one way, from the top down; a file knows only what is below
 * it, and hears from below through a callback it registered:
 *
 *   main.c     wires the modules and the callbacks, runs the loop
 *   loop.c     signals, timers, readiness, the drain; refills slots
 *              (told by job.c's reaper and queue.c's hooks)
 *   sweeper.c  pending rows and lapsed leases back to the queue
 *   orphans.c  at start-up, the jobs of a dead daemon of this machine
 *   lease.c    the heartbeat: leases renewed, lost ones stopped
 *   run.c      a job from its stream entry to an outcome
 *   finish.c   the outcome: the final write, then the ack
 *   webhook.c  the webhook outbox: claim what is due, send it signed,
 *              record the attempt (on its own timer and pool)
 *   stats.c    STATUS=, the metrics file, the figures for the API
 *   events.c   live status: a changed row's status document to nchan's
 *              publisher, in order per record (told by job.c and run.c
 *              through jobs.changed)
 *   job.c      the job object, its lists, its state table, its writes
 *   queue.c, db.c, http.c, writer.c, provider.c, storage.c, backoff.c,
 *   holder.c:
 *              Redis, PostgreSQL, curl, the disk, the provider's wire
 *              format; they know no job
 */
#ifndef SCENEGEND_H
#define SCENEGEND_H

#include <stddef.h>
#include <stdint.h>

#include "holder.h"
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
struct events;
struct webhook;

/* Totals since start, exported in STATUS= and the metrics file. */
struct counters {
	uint64_t completed;
	uint64_t failed;
	uint64_t retried;     /* retries scheduled */
	uint64_t abandoned;   /* lease lost, left to the others */
	uint64_t handed_back; /* returned to the queue at shutdown */
	uint64_t dropped;     /* entries whose row was not claimable */
	uint64_t canceled;    /* stopped: the owner canceled the record */
	uint64_t malformed;   /* stream entries without a record id */
	/* Webhook attempts by outcome (webhook.c). */
	uint64_t wh_delivered; /* a 2xx */
	uint64_t wh_retried;   /* failed, tried again later */
	uint64_t wh_failed;    /* failed the last allowed attempt */
	uint64_t wh_gone;      /* 410: never again */
};

struct scenegend {
	struct settings	  *cfg;
	struct event_base *base;
	struct db_pool	  *db;	       /* jobs, heartbeat */
	struct db_pool	  *db_sweep;   /* the sweeper's transaction */
	struct db_pool	  *db_webhook; /* webhook claims and outcomes */
	struct queue	  *queue;
	struct http	  *http;
	struct stats	  *stats;
	struct sweeper	  *sweeper;
	struct lease	  *lease;
	struct loop	  *loop;
	struct writer	  *writer; /* NULL: images stay remote */
	struct events	  *events; /* live status; publishes nothing unset */
	struct webhook	  *webhook;
	struct job_set	   jobs;
	struct counters	   counters;
	size_t		   active_peak; /* most jobs since the last trim */
	char		   holder[HOLDER_MAX]; /* "": unknown (holder.h) */
	size_t		   holder_prefix;
	int64_t db_back_mono; /* PostgreSQL came back (0: never lost) */
	int	db_seen_up;   /* PostgreSQL answered once */
	int	ready;	      /* READY=1 sent */
	int	draining;     /* SIGTERM seen */
	int	handing_back; /* drain time is over */
};

#endif
