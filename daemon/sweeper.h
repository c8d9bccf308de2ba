/*
 * sweeper.h: every SCENEGEN_SWEEP_SECONDS, one daemon at a time (an
 * advisory lock), queue again the rows nobody works on and Redis does not
 * hold: pending past the grace (the enqueue failed, Redis lost data) and
 * in progress with an expired or no lease whose retry is due (a dead
 * worker's). This is what keeps "nothing accepted is lost" when Redis
 * forgets.
 */
#ifndef SCENEGEND_SWEEPER_H
#define SCENEGEND_SWEEPER_H

struct scenegend;
struct sweeper;

struct sweeper *sweeper_new(struct scenegend *);
void		sweeper_free(struct sweeper *);
/* Start a sweep unless one is running. */
void		sweeper_run(struct sweeper *);

#endif
