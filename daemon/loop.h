/*
 * loop.h: the event loop's fixtures: signals as events (SIGTERM/SIGINT
 * drain and stop, SIGHUP reloads), the periodic timers (janitor, heartbeat,
 * sweeper, stats, watchdog), readiness and draining.
 */
#ifndef SCENEGEND_LOOP_H
#define SCENEGEND_LOOP_H

struct scenegend;
struct loop;

struct loop *loop_new(struct scenegend *);
void	     loop_free(struct loop *);
/* A connection to PostgreSQL came up. */
void	     loop_db_up(void *sg);
/* The consumer group is there: Redis answers. */
void	     loop_queue_ready(struct scenegend *);
/* Read more jobs if this daemon has free slots (and is not stopping). */
void	     loop_kick(struct scenegend *);
/* Jobs were freed (job.c's reaper): refill the slots, or stop. */
void	     loop_reaped(void *sg);

#endif
