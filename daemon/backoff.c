/* backoff.c: retry waits; see backoff.h. */
#include <math.h>
#include <stdint.h>
#include <sys/random.h>

#include "backoff.h"

#define BACKOFF_BASE 5.0
#define BACKOFF_CAP  60.0

/* A uniform double in [0, 1). */
static double
backoff_uniform(void)
{
	uint64_t r = 0;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		return 0.5; /* no entropy yet: the middle */
	return (double)(r >> 11) / 9007199254740992.0;
}

double
backoff_formula(long retry_count, double jitter, double provider_wait,
    double scale)
{
	double wait;

	if (retry_count < 0)
		retry_count = 0;
	if (retry_count > 30)
		retry_count = 30;
	wait = BACKOFF_BASE * pow(2.0, (double)retry_count);
	if (wait > BACKOFF_CAP)
		wait = BACKOFF_CAP;
	wait *= jitter;
	if (provider_wait > wait)
		wait = provider_wait;
	return wait * scale;
}

double
backoff_seconds(long retry_count, double provider_wait, double scale)
{
	return backoff_formula(retry_count, 0.5 + backoff_uniform(),
	    provider_wait, scale);
}
