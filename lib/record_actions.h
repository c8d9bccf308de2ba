/*
 * The two things an operator does to records, as SQL shared by every
 * program that does them: scenegenctl retry (ctl/retry.c), the owner's
 * cancel (cgi/cancel.c) and the dashboard (cgi/admin_act.c). Each is the
 * SET part of one guarded UPDATE; the caller adds the WHERE clause, which
 * must keep the status guard (RECORD_RETRY_FROM, RECORD_CANCEL_FROM).
 */
#ifndef SCENEGEN_RECORD_ACTIONS_H
#define SCENEGEN_RECORD_ACTIONS_H

/*
 * A failed record back to pending: progress, attempts and retry_count
 * 0, lease, due time, provider request and error cleared. Only inside a
 * transaction that set scenegen.allow_reset = 'on' (the row guard of
 * sql/add_job_columns_*.sql refuses it otherwise); the row is then
 * queued again.
 */
#define RECORD_RETRY_SET \
	"UPDATE image_generations SET status = 'pending', progress = 0," \
	" attempts = 0, retry_count = 0, lease_token = NULL," \
	" lease_expires_at = NULL, next_attempt_at = NULL," \
	" provider_request_id = NULL, provider_submitted_at = NULL," \
	" provider_eta_seconds = NULL, error_message = NULL," \
	" completed_at = NULL, generation_time_seconds = NULL"
#define RECORD_RETRY_FROM "status = 'failed'"

/*
 * A record that is not final yet to canceled. The lease stays, so the
 * daemon holding the job (if any) sees its row canceled under its own
 * token; its guarded writes, all made on status = 'in_progress', change
 * nothing from then on.
 */
#define RECORD_CANCEL_SET \
	"UPDATE image_generations SET status = 'canceled'," \
	" error_message = NULL, next_attempt_at = NULL"
#define RECORD_CANCEL_FROM "status IN ('pending', 'in_progress')"

#endif
