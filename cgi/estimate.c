/*
 * estimated_time_seconds of a 202: how long until the image is likely
 * ready, from what the daemons publish and the state of the queue.
 *
 *	estimate = avg * (1 + ahead / capacity)
 *
 *	avg		the daemons' moving average generation time
 *			({scenegen}:stats avg_generation_ms), or
 *			SCENEGEN_ESTIMATE_SECONDS until one is published;
 *	ahead		jobs waiting or running before ours: the queue depth
 *			(the consumer group's lag + pending, else the stream
 *			length) less our own job, 0 when Redis cannot tell;
 *	capacity	generations the daemons run at once
 *			({scenegen}:stats capacity), 1 when unknown.
 *
 * That is our own generation plus the time the jobs ahead of us take
 * to drain, capacity at a time. Rounded up, between 1 s and one day.
 */
#include <math.h>

#include "extern.h"

#define ESTIMATE_MAX_S 86400

long
estimate_seconds(const struct queue_stats *st, long fallback)
{
	double avg, ahead = 0, capacity = 1, est;

	avg = st->have_avg ? st->avg_ms / 1000.0 : (double)fallback;
	if (st->have_depth && st->depth > 1)
		ahead = (double)(st->depth - 1);
	if (st->have_capacity && st->capacity >= 1)
		capacity = (double)st->capacity;
	est = ceil(avg * (1.0 + ahead / capacity));
	if (!(est >= 1))
		return 1;
	if (est > ESTIMATE_MAX_S)
		return ESTIMATE_MAX_S;
	return (long)est;
}
