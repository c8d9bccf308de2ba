/*
 * webhook.h: the sender of completion webhooks (SPEC.md, "Completion
 * webhooks"). The database writes each event into webhook_deliveries in
 * the transaction of the change it reports and notifies
 * scenegen_webhooks; this module listens (a new delivery is claimed at
 * once) and, on its own timer for the retries that come due, claims what
 * is due, POSTs it signed (Standard Webhooks 1.0)
 * through the daemon's curl multi, and records how the attempt went:
 * delivered, tried again on the schedule, failed after the last attempt,
 * or gone (410).
 */
#ifndef SCENEGEND_WEBHOOK_H
#define SCENEGEND_WEBHOOK_H

struct scenegend;
struct webhook;

/* NULL when out of memory. Without SUPABASE_JWT_SECRET nothing is sent. */
struct webhook *webhook_new(struct scenegend *);
/*
 * Abandon what is in flight (its lease lets another attempt it); call it
 * after http_free() and db_pool_free(), whose callbacks it owns.
 */
void		webhook_free(struct webhook *);
/* A delivery was written (NOTIFY scenegen_webhooks): claim it now. */
void		webhook_wake(struct webhook *);

#endif
