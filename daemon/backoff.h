/* backoff.h: how long a retry waits. */
#ifndef SCENEGEND_BACKOFF_H
#define SCENEGEND_BACKOFF_H

/*
 * Seconds before the retry that follows retry_count earlier retries:
 * min(60, 5 * 2^retry_count) times a jitter uniform in [0.5, 1.5]; the
 * provider's wait (Retry-After, retry_after; < 0: none) wins if longer;
 * the result times scale (SCENEGEN_BACKOFF_SCALE).
 */
double backoff_seconds(long retry_count, double provider_wait, double scale);
/* The same with a given jitter, for checking the formula. */
double backoff_formula(long retry_count, double jitter, double provider_wait,
    double scale);

#endif
