/*
 * finish.c: the end of a job; see finish.h. Order matters: the row is
 * written first (guarded by the lease), and only when it says what
 * happened is the stream entry acked, moved or added again. If Redis
 * fails after the row is written, the entry stays pending and is taken
 * over later; the claim then finds a final row (or a retry not due) and
 * drops it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "clock.h"
#include "finish.h"
#include "job.h"
#include "log.h"
#include "queue.h"
#include "scenegend.h"
#include "sql.h"
#include "stats.h"
#include "storage.h"

/* Redis answered the last step of a job: the job is done. */
static void
finish_acked(redisReply *reply, const char *err, void *arg)
{
	struct job *job = arg;

	job->busy--;
	if (err != NULL)
		log_warn("job %s: redis: %s; the entry is taken over later",
		    job->record_id, err);
	if (job->state != JOB_DONE)
		job_done(job);
	else
		job_reap_soon(job->sg);
}

/* Send a Redis step (send returns -1 when Redis is down). */
static void
finish_redis(struct job *job, int sent)
{
	if (sent == -1) {
		log_warn("job %s: Redis unavailable; the entry is taken over "
			 "later",
		    job->record_id);
		job_done(job);
		return;
	}
	job->busy++;
}

/* Give up the job's provider slot (how: done, delay, back). */
static void
finish_release(struct job *job, enum queue_release_how how, int64_t due_ms,
    struct queue_reply r)
{
	struct queue_release rel = { how, job->entry_id, job->record_id, due_ms,
		job->owner_tier, job->owner_user };

	finish_redis(job, queue_release(job->sg->queue, &rel, r));
}

void
finish_ack(struct job *job)
{
	struct queue_reply r = { finish_acked, job };

	if (job->entry_id[0] == '\0') {
		job_done(job);
		return;
	}
	if (job_set_state(job, JOB_ACKING) == -1)
		return;
	if (!job->holds_slot) {
		/* Not ours (not claimed): its slot, if any, is not ours. */
		finish_redis(job, queue_ack(job->sg->queue, job->entry_id, r));
		return;
	}
	finish_release(job, RELEASE_DONE, 0, r);
}

void
finish_canceled(struct job *job)
{
	struct scenegend *sg = job->sg;
	int		  removed = 0;

	job_cancel_work(job);
	if (job_set_state(job, JOB_CANCELED) == -1)
		return;
	sg->counters.canceled++;
	/* A canceled row never gets an image: a stored copy is no one's. */
	if (sg->writer != NULL) {
		removed = storage_remove(sg->cfg->image_dir, job->record_id);
		if (removed == -1)
			log_err("job %s: canceled, but its image could not be "
				"removed: unlink: %s",
			    job->record_id, strerror(errno));
	}
	log_info("job %s: canceled by its owner; %s", job->record_id,
	    removed == 1 ? "its stored image removed" : "nothing stored");
	/* The slot its entry took is no one's now, claimed or not. */
	job->holds_slot = 1;
	finish_ack(job);
}

static void
finish_completed(struct job *job, long rows, const char *value)
{
	struct scenegend *sg = job->sg;
	double		  took;

	took = (double)(clock_mono_ms() - job->claimed_mono) / 1000.0;
	sg->counters.completed++;
	stats_generation(sg->stats, took);
	log_info("job %s: completed (generation %.1f s, %.1f s in this "
		 "attempt)",
	    job->record_id, job->generation_time, took);
	finish_ack(job);
}

void
finish_complete(struct job *job, const char *image_url)
{
	const struct settings *cfg = job->sg->cfg;
	char		       gen[32];
	const char	      *params[6];

	if (image_url == NULL) {
		finish_error(job, PROVIDER_RETRY,
		    "the provider gave no image "
		    "URL",
		    -1, 1);
		return;
	}
	if (job->generation_time < 0)
		job->generation_time = 0;
	snprintf(gen, sizeof(gen), "%.3f", job->generation_time);
	params[0] = job->record_id;
	params[1] = job->lease_token;
	params[2] = image_url;
	params[3] = gen;
	params[4] = job->model_used[0] != '\0' ? job->model_used :
						 cfg->model_id;
	params[5] = job->provider_id[0] != '\0' ? job->provider_id : NULL;
	job_write_in(job, JOB_FINISHING, STMT_COMPLETE, 6, params,
	    finish_completed);
}

/* Keep message as the job's last error, for the log once it is written. */
static void
finish_note_error(struct job *job, const char *message)
{
	free(job->error);
	job->error = strdup(message);
}

static void
finish_failed(struct job *job, long rows, const char *value)
{
	job->sg->counters.failed++;
	log_err("job %s: failed: %s", job->record_id,
	    job->error != NULL ? job->error : "(no memory for the message)");
	finish_ack(job);
}

void
finish_fail(struct job *job, const char *message)
{
	const char *params[3];

	finish_note_error(job, message);
	params[0] = job->record_id;
	params[1] = job->lease_token;
	params[2] = message;
	job_write_in(job, JOB_FINISHING, STMT_FAIL, 3, params, finish_failed);
}

/* The retry is in the row: park the record in the delayed set. */
static void
finish_retried(struct job *job, long rows, const char *value)
{
	struct queue_reply r = { finish_acked, job };
	int64_t		   due;

	job->sg->counters.retried++;
	due = value != NULL ? strtoll(value, NULL, 10) : clock_wall_ms();
	if (job_set_state(job, JOB_ACKING) == -1)
		return;
	finish_release(job, RELEASE_DELAY, due, r);
}

void
finish_error(struct job *job, enum provider_kind kind, const char *message,
    double retry_after, int request_dead)
{
	const struct settings *cfg = job->sg->cfg;
	char		       wait_s[32], msg[1024];
	const char	      *params[5];
	double		       wait;

	if (kind == PROVIDER_FATAL) {
		finish_fail(job, message);
		return;
	}
	if (job->retry_count >= cfg->max_retries) {
		snprintf(msg, sizeof(msg),
		    "failed after %ld attempts; the "
		    "last error: %s",
		    job->attempts, message);
		finish_fail(job, msg);
		return;
	}
	wait = backoff_seconds(job->retry_count, retry_after,
	    cfg->backoff_scale);
	finish_note_error(job, message);
	snprintf(wait_s, sizeof(wait_s), "%.3f", wait);
	log_warn("job %s: %s; retry %ld of %ld in %.2f s%s", job->record_id,
	    message, job->retry_count + 1, cfg->max_retries, wait,
	    request_dead ? " (a new generation)" : "");
	params[0] = job->record_id;
	params[1] = job->lease_token;
	params[2] = wait_s;
	params[3] = message;
	params[4] = request_dead ? "t" : "f";
	job_write_in(job, JOB_FINISHING, STMT_RETRY, 5, params, finish_retried);
}

static void
finish_handed_back(struct job *job, long rows, const char *value)
{
	struct queue_reply r = { finish_acked, job };

	job->sg->counters.handed_back++;
	log_info("job %s: handed back for another worker", job->record_id);
	if (job_set_state(job, JOB_ACKING) == -1)
		return;
	finish_release(job, RELEASE_BACK, 0, r);
}

void
finish_hand_back(struct job *job)
{
	const char *params[2];

	params[0] = job->record_id;
	params[1] = job->lease_token;
	job_write_in(job, JOB_HANDING_BACK, STMT_HANDBACK, 2, params,
	    finish_handed_back);
}
