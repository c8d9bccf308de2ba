/*
 * The Redis names both programs share. Every key carries the same hash
 * tag so the queue works unchanged on Redis Cluster.
 */
#ifndef SCENEGEN_KEYS_H
#define SCENEGEN_KEYS_H

/* Stream of jobs; each entry has one field "id" = the record UUID. */
#define KEY_JOB_STREAM	   "{scenegen}:jobs"
#define KEY_JOB_FIELD	   "id"
/* Consumer group of the generation daemons on KEY_JOB_STREAM. */
#define KEY_CONSUMER_GROUP "scenegend"
/* Sorted set of delayed retries: member record UUID, score due Unix ms. */
#define KEY_DELAYED_SET	   "{scenegen}:delayed"
/*
 * Hash of figures the daemons publish for estimates and monitoring:
 * avg_generation_ms (moving average of recent generations), in_flight,
 * capacity (requests the daemons may hold at the provider at once).
 */
#define KEY_STATS_HASH	   "{scenegen}:stats"

#endif
