/*
 * loop.c: signals, timers, readiness and the drain; see loop.h.
 *
 * Signal handlers do no work: libevent turns each signal into an event
 * handled in the loop like any other.
 */
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>

#include <event2/event.h>

#include "clock.h"
#include "db.h"
#include "http.h"
#include "job.h"
#include "lease.h"
#include "log.h"
#include "loop.h"
#include "notify.h"
#include "orphans.h"
#include "queue.h"
#include "run.h"
#include "scenegend.h"
#include "settings.h"
#include "sql.h"
#include "stats.h"
#include "sweeper.h"

#define JANITOR_MS    200
#define DRAIN_POLL_MS 50
#define TRIM_MIN_PEAK 256 /* a burst worth trimming after, in jobs */

struct loop {
	struct scenegend *sg;
	struct event	 *sigterm;
	struct event	 *sigint;
	struct event	 *sighup;
	struct event	 *janitor;
	struct event	 *second;
	struct event	 *heartbeat;
	struct event	 *sweep;
	struct event	 *watchdog;
	struct event	 *drain;  /* drain time is over */
	struct event	 *hard;	  /* stop whatever is left */
	struct event	 *finish; /* wait for Redis to settle */
	int		  db_answered;
	int		  db_pinging;
};

/* Arm ev to fire after seconds. */
static void
loop_arm(struct event *ev, double seconds)
{
	struct timeval tv;

	tv.tv_sec = (long)seconds;
	tv.tv_usec = (long)((seconds - (double)tv.tv_sec) * 1e6);
	evtimer_add(ev, &tv);
}

void
loop_kick(struct scenegend *sg)
{
	long nfree;

	if (!sg->ready || sg->draining)
		return;
	nfree = sg->cfg->max_queued - (long)job_active(sg) -
	    (long)queue_admitting(sg->queue);
	if (nfree > 0 && db_pool_up(sg->db) > 0)
		queue_read(sg->queue, nfree);
}

/* READY=1 once PostgreSQL and Redis have both answered. */
static void
loop_check_ready(struct scenegend *sg)
{
	if (sg->ready || !sg->loop->db_answered || !queue_ready(sg->queue))
		return;
	sg->ready = 1;
	notify_ready();
	stats_status(sg->stats);
	log_info("ready: PostgreSQL and Redis answer; consumer %s, at most "
		 "%ld jobs at once",
	    sg->cfg->consumer, sg->cfg->max_queued);
	orphans_resume(sg);
	loop_kick(sg);
}

static void
loop_ping_cb(const PGresult *res, const char *err, void *arg)
{
	struct scenegend *sg = arg;

	sg->loop->db_pinging = 0;
	if (res == NULL || err != NULL) {
		log_warn("postgresql: SELECT 1: %s", err);
		return;
	}
	sg->loop->db_answered = 1;
	loop_check_ready(sg);
}

void
loop_db_up(void *arg)
{
	struct scenegend *sg = arg;
	struct db_reply	  d = { loop_ping_cb, sg };

	if (!sg->loop->db_answered && !sg->loop->db_pinging &&
	    db_query(sg->db, STMT_PING, 0, NULL, d) == 0)
		sg->loop->db_pinging = 1;
	/*
	 * Back after a loss: our leases may have lapsed while no one could
	 * renew them. Renew them first, before any claim of ours goes out.
	 */
	if (sg->db_seen_up) {
		sg->db_back_mono = clock_mono_ms();
		lease_tick(sg->lease);
	}
	sg->db_seen_up = 1;
	loop_kick(sg);
}

void
loop_queue_ready(struct scenegend *sg)
{
	loop_check_ready(sg);
	loop_kick(sg);
}

/* Leave the loop once Redis has sent what we asked (bounded by hard). */
static void
loop_finish_cb(evutil_socket_t fd, short what, void *arg)
{
	struct scenegend *sg = arg;

	if (!queue_idle(sg->queue)) {
		loop_arm(sg->loop->finish, DRAIN_POLL_MS / 1000.0);
		return;
	}
	log_info("drained: no job left");
	event_base_loopbreak(sg->base);
}

/* The last job is gone while draining: leave once Redis settles. */
static void
loop_drained(struct scenegend *sg)
{
	if (!evtimer_pending(sg->loop->finish, NULL))
		loop_arm(sg->loop->finish, 0);
}

void
loop_reaped(void *arg)
{
	struct scenegend *sg = arg;

	if (sg->draining && sg->jobs.total == 0)
		loop_drained(sg);
	else
		loop_kick(sg);
}

/* The drain time is over: hand back what is left. */
static void
loop_drain_over(struct scenegend *sg)
{
	if (sg->handing_back)
		return;
	log_info("stopping: drain time over, handing back %zu jobs",
	    job_active(sg));
	run_hand_back_all(sg);
	loop_arm(sg->loop->hard, sg->cfg->http_timeout + 10);
	job_reap_soon(sg);
}

static void
loop_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	loop_drain_over(arg);
}

static void
loop_hard_cb(evutil_socket_t fd, short what, void *arg)
{
	struct scenegend *sg = arg;

	log_warn("stopping with %zu jobs unfinished: their leases run out and "
		 "another worker takes them",
	    job_active(sg));
	event_base_loopbreak(sg->base);
}

/* SIGTERM, SIGINT: stop reading, drain, hand back, leave. */
static void
loop_term_cb(evutil_socket_t sig, short what, void *arg)
{
	struct scenegend *sg = arg;
	struct loop	 *l = sg->loop;

	if (sg->draining) {
		log_info("second stop signal: handing back now");
		loop_drain_over(sg);
		return;
	}
	sg->draining = 1;
	notify_stopping();
	log_info("stopping (signal %d): %zu jobs in flight, waiting up to "
		 "%ld s",
	    (int)sig, job_active(sg), sg->cfg->drain_seconds);
	evtimer_del(l->janitor);
	evtimer_del(l->sweep);
	if (sg->jobs.total == 0) {
		loop_drained(sg);
		return;
	}
	loop_arm(l->drain, (double)sg->cfg->drain_seconds);
}

/* SIGHUP: re-read the log level; connections stay as they are. */
static void
loop_hup_cb(evutil_socket_t sig, short what, void *arg)
{
	struct scenegend *sg = arg;
	int		  prio;

	notify_reloading();
	prio = settings_reload_log_level(sg->cfg);
	if (prio != -1)
		log_init("scenegend", prio);
	log_info("reloaded%s", prio != -1 ? ": log level re-read" : "");
	stats_status(sg->stats);
	notify_ready();
}

static void
loop_janitor_cb(evutil_socket_t fd, short what, void *arg)
{
	struct scenegend *sg = arg;

	if (queue_ready(sg->queue)) {
		queue_tick(sg->queue);
		queue_move_due(sg->queue);
	}
}

static void
loop_second_cb(evutil_socket_t fd, short what, void *arg)
{
	struct scenegend *sg = arg;
	size_t		  active;

	queue_watch(sg->queue);
	stats_tick(sg->stats);
	loop_kick(sg);
	/*
	 * After a burst (thousands of jobs in flight) the heap keeps its
	 * high-water mark, and curl its idle connections: hand the heap
	 * back once the burst is mostly over (a quarter of its peak left),
	 * and the connections once the daemon is idle.
	 */
	active = job_active(sg);
	if (active > sg->active_peak)
		sg->active_peak = active;
	if (sg->active_peak > 0 &&
	    (active == 0 ||
		(active <= sg->active_peak / 4 &&
		    sg->active_peak >= TRIM_MIN_PEAK))) {
		if (active == 0)
			http_release_idle(sg->http);
		malloc_trim(0);
		sg->active_peak = active;
	}
}

static void
loop_heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	struct scenegend *sg = arg;

	lease_tick(sg->lease);
}

static void
loop_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct scenegend *sg = arg;

	if (sg->ready && !sg->draining)
		sweeper_run(sg->sweeper);
}

static void
loop_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	notify_watchdog();
}

/* A persistent timer every seconds. */
static struct event *
loop_every(struct scenegend *sg, double seconds,
    void (*fn)(evutil_socket_t, short, void *))
{
	struct event  *ev;
	struct timeval tv;

	ev = event_new(sg->base, -1, EV_PERSIST, fn, sg);
	if (ev == NULL)
		return NULL;
	tv.tv_sec = (long)seconds;
	tv.tv_usec = (long)((seconds - (double)tv.tv_sec) * 1e6);
	if (event_add(ev, &tv) == -1) {
		event_free(ev);
		return NULL;
	}
	return ev;
}

struct loop *
loop_new(struct scenegend *sg)
{
	struct loop *l;
	uint64_t     usec;

	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	l->sg = sg;
	sg->loop = l;
	l->sigterm = evsignal_new(sg->base, SIGTERM, loop_term_cb, sg);
	l->sigint = evsignal_new(sg->base, SIGINT, loop_term_cb, sg);
	l->sighup = evsignal_new(sg->base, SIGHUP, loop_hup_cb, sg);
	l->drain = evtimer_new(sg->base, loop_drain_cb, sg);
	l->hard = evtimer_new(sg->base, loop_hard_cb, sg);
	l->finish = evtimer_new(sg->base, loop_finish_cb, sg);
	if (l->sigterm == NULL || l->sigint == NULL || l->sighup == NULL ||
	    l->drain == NULL || l->hard == NULL || l->finish == NULL ||
	    event_add(l->sigterm, NULL) == -1 ||
	    event_add(l->sigint, NULL) == -1 ||
	    event_add(l->sighup, NULL) == -1)
		goto fail;
	l->janitor = loop_every(sg, JANITOR_MS / 1000.0, loop_janitor_cb);
	l->second = loop_every(sg, 1.0, loop_second_cb);
	l->heartbeat = loop_every(sg, (double)sg->cfg->lease_seconds / 3.0,
	    loop_heartbeat_cb);
	l->sweep = loop_every(sg, (double)sg->cfg->sweep_seconds,
	    loop_sweep_cb);
	if (l->janitor == NULL || l->second == NULL || l->heartbeat == NULL ||
	    l->sweep == NULL)
		goto fail;
	usec = notify_watchdog_usec();
	if (usec > 0) {
		l->watchdog = loop_every(sg, (double)usec / 2e6,
		    loop_watchdog_cb);
		if (l->watchdog == NULL)
			goto fail;
		log_info("systemd watchdog: a ping every %.1f s",
		    (double)usec / 2e6);
	}
	return l;
fail:
	loop_free(l);
	sg->loop = NULL;
	return NULL;
}

void
loop_free(struct loop *l)
{
	struct event *evs[12];
	size_t	      i;

	if (l == NULL)
		return;
	evs[0] = l->sigterm;
	evs[1] = l->sigint;
	evs[2] = l->sighup;
	evs[3] = l->janitor;
	evs[4] = l->second;
	evs[5] = l->heartbeat;
	evs[6] = l->sweep;
	evs[7] = l->watchdog;
	evs[8] = l->drain;
	evs[9] = l->hard;
	evs[10] = l->finish;
	evs[11] = NULL;
	for (i = 0; i < 11; i++)
		if (evs[i] != NULL)
			event_free(evs[i]);
	free(l);
}
