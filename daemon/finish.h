/*
 * finish.h: how a job ends: one guarded UPDATE that says what happened,
 * then the stream entry is acked (or moved to the delayed set, or added
 * again), then the job is done.
 */
#ifndef SCENEGEND_FINISH_H
#define SCENEGEND_FINISH_H

#include "provider.h"

struct job;

/* completed, with image_url. */
void finish_complete(struct job *, const char *image_url);
/*
 * An error of kind (PROVIDER_RETRY, _GEN_FAILED or _FATAL): a retry
 * with backoff while retries are left, else failed. request_dead: the
 * provider's request cannot be resumed, the retry creates anew.
 */
void finish_error(struct job *, enum provider_kind, const char *message,
    double retry_after, int request_dead);
/* failed at once with message. */
void finish_fail(struct job *, const char *message);
/* Shutdown: give the lease back (attempts - 1) and queue it again. */
void finish_hand_back(struct job *);
/* Ack the job's entry (no row change), then done. */
void finish_ack(struct job *);
/*
 * The owner canceled the job's row: stop its work, remove its image if
 * it was stored, give its provider slot back and ack its entry. No row
 * change: the row is final already.
 */
void finish_canceled(struct job *);

#endif
