/*
 * run.c: a job from its stream entry to an outcome; see run.h.
 *
 *   entry -> CLAIMING -(new)-> SUBMITTING -> RECORDING -> WAITING
 *                     -(resume)-----------------------> WAITING
 *   WAITING -> POLLING -> PROGRESSING -> WAITING ... -> DOWNLOADING
 *   DOWNLOADING -> finish_complete(); any error -> finish_error()
 *
 * Every callback first checks that the job is not DONE (abandoned while
 * the reply was on its way); the job is freed by the reaper later.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "clock.h"
#include "db.h"
#include "finish.h"
#include "http.h"
#include "job.h"
#include "log.h"
#include "provider.h"
#include "queue.h"
#include "run.h"
#include "scenegend.h"
#include "secret.h"
#include "sql.h"
#include "stats.h"
#include "storage.h"
#include "writer.h"

#define JSON_MAX	 (1024 * 1024) /* cap of a provider answer */
/*
 * Images downloaded but not yet on disk, past which the next downloads
 * wait: the network outruns the disk, and each waiting image is memory.
 */
#define DISK_BACKLOG_MAX 512

static void run_poll(struct job *);

/* A reply nobody waits for (acks of entries without a job). */
static void
run_ignore_cb(redisReply *reply, const char *err, void *arg)
{
	const char *what = arg;

	if (err != NULL)
		log_warn("redis: %s: %s", what, err);
}

/* Copy s (may be NULL) into a new string; -1 when out of memory. */
static int
run_dup(char **dst, const char *s)
{
	free(*dst);
	*dst = NULL;
	if (s == NULL)
		return 0;
	*dst = strdup(s);
	return *dst == NULL ? -1 : 0;
}

static long
run_long(const char *s)
{
	return s == NULL ? 0 : strtol(s, NULL, 10);
}

/* The wait before the next fetch: the provider's eta within bounds. */
static double
run_poll_wait(const struct job *job)
{
	const struct settings *cfg = job->sg->cfg;
	double		       w = job->eta;

	if (w < cfg->poll_min_seconds)
		w = cfg->poll_min_seconds;
	if (w > cfg->poll_max_seconds)
		w = cfg->poll_max_seconds;
	return w;
}

/* Seconds since the provider took the request (0 when unknown). */
static double
run_elapsed(const struct job *job)
{
	if (job->submitted_wall_ms <= 0)
		return (double)(clock_mono_ms() - job->claimed_mono) / 1000.0;
	return (double)(clock_wall_ms() - job->submitted_wall_ms) / 1000.0;
}

/* Progress from the time spent against the remaining ETA: 10..95. */
static int
run_progress(const struct job *job)
{
	double elapsed = run_elapsed(job), eta = job->eta, p;

	if (elapsed < 0)
		elapsed = 0;
	if (eta < 0)
		eta = job->sg->cfg->poll_max_seconds;
	if (elapsed + eta <= 0)
		return 10;
	p = 10.0 + 85.0 * elapsed / (elapsed + eta);
	if (p > 95)
		p = 95;
	return (int)p;
}

/*
 * Start a provider call: POST body to url, answer to fn. A create goes
 * on a fresh connection so that curl never resends it by itself. The
 * body (it holds the API key; NULL: it could not be made) is the call's:
 * wiped and freed here. -1 when out of memory.
 */
static int
run_call(struct job *job, const char *url, char *body, int create,
    void (*fn)(const struct http_result *, void *))
{
	const struct settings *cfg = job->sg->cfg;
	struct http_opts       o;
	struct http_done       d = { fn, job };
	const char	      *headers[4];
	char		      *key = NULL;
	int		       rc = -1;

	if (body == NULL)
		goto done;
	key = provider_key_header(cfg);
	if (key == NULL)
		goto done;
	headers[0] = "Content-Type: application/json";
	headers[1] = "Accept: application/json";
	headers[2] = key;
	headers[3] = NULL;
	memset(&o, 0, sizeof(o));
	o.url = url;
	o.post_body = body;
	o.headers = headers;
	o.timeout = cfg->http_timeout;
	o.connect_timeout = cfg->connect_timeout;
	o.max_body = JSON_MAX;
	o.fresh = create;
	job->http = http_start(job->sg->http, &o, d);
	if (job->http != NULL)
		rc = 0;
done:
	secret_free(key);
	secret_free(body);
	return rc;
}

/* Keep what a success answer says about the image. */
static int
run_keep_success(struct job *job, const struct provider_answer *a)
{
	if (run_dup(&job->output_url,
		a->output_url[0] != '\0' ? a->output_url : NULL) == -1 ||
	    run_dup(&job->proxy_url,
		a->proxy_url[0] != '\0' ? a->proxy_url : NULL) == -1)
		return -1;
	if (a->model[0] != '\0')
		snprintf(job->model_used, sizeof(job->model_used), "%s",
		    a->model);
	job->generation_time = a->generation_time >= 0 ? a->generation_time :
							 run_elapsed(job);
	job->download_try = 0;
	return 0;
}

/* --- download --- */

static void run_download(struct job *);

/* Whether images being downloaded or written are at the backlog cap. */
static int
run_disk_busy(const struct scenegend *sg)
{
	return writer_backlog(sg->writer) + sg->jobs.count[JOB_DOWNLOADING] >=
	    DISK_BACKLOG_MAX;
}

/* The writer caught up: start the downloads that waited for it. */
static void
run_disk_resume(struct scenegend *sg)
{
	struct job *job;

	for (job = TAILQ_FIRST(&sg->jobs.list[JOB_DISK_WAIT]);
	     !run_disk_busy(sg) && job != NULL;
	     job = TAILQ_FIRST(&sg->jobs.list[JOB_DISK_WAIT]))
		run_download(job);
}

/* The writer thread has the image on disk (or could not). */
static void
run_stored(void *arg, const char *err)
{
	struct job *job = arg;
	char	    url[4096];

	run_disk_resume(job->sg);
	job->busy--;
	if (job->state == JOB_DONE) {
		job_reap_soon(job->sg);
		return;
	}
	if (err != NULL) {
		log_err("job %s: storing the image: %s", job->record_id, err);
		finish_error(job, PROVIDER_RETRY,
		    "could not store the image "
		    "on local disk (see the daemon's log)",
		    -1, 0);
		return;
	}
	snprintf(url, sizeof(url), "%s/%s.png", job->sg->cfg->image_base_url,
	    job->record_id);
	log_debug("job %s: image stored", job->record_id);
	finish_complete(job, url);
}

/* The image came (or did not). */
static void
run_downloaded(const struct http_result *r, void *arg)
{
	struct job *job = arg;
	char	    msg[512];
	int	    dead;

	job->http = NULL;
	if (r->code == CURLE_OK && r->status == 200 &&
	    storage_is_image(r->body->data, r->body->len)) {
		if (job_set_state(job, JOB_STORING) == -1)
			return;
		if (writer_submit(job->sg->writer, job->record_id,
			r->body->data, r->body->len, run_stored, job) == -1) {
			finish_error(job, PROVIDER_RETRY,
			    "out of memory storing "
			    "the image",
			    -1, 0);
			return;
		}
		job->busy++;
		return;
	}
	if (r->code != CURLE_OK)
		snprintf(msg, sizeof(msg), "could not download the image: %s",
		    r->too_large ? "larger than SCENEGEN_IMAGE_MAX_BYTES" :
				   curl_easy_strerror(r->code));
	else if (r->status != 200)
		snprintf(msg, sizeof(msg),
		    "could not download the image: "
		    "HTTP %ld",
		    r->status);
	else
		snprintf(msg, sizeof(msg),
		    "could not download the image: "
		    "the provider's file is not an image");
	log_warn("job %s: %s", job->record_id, msg);
	/* The CDN copy next, if there is one we have not tried. */
	if (job->download_try == 0 && job->output_url != NULL &&
	    job->proxy_url != NULL) {
		job->download_try++;
		run_download(job);
		return;
	}
	/* A URL that is gone will not come back: the retry creates anew. */
	dead = r->status == 403 || r->status == 404 || r->status == 410;
	finish_error(job, PROVIDER_RETRY, msg, -1, dead);
}

/* Fetch the image: the first output URL, then the CDN copy. */
static void
run_download(struct job *job)
{
	const struct settings *cfg = job->sg->cfg;
	struct http_opts       o;
	struct http_done       d = { run_downloaded, job };
	const char	      *url;

	url = job->download_try == 0 && job->output_url != NULL ?
	    job->output_url :
	    job->proxy_url;
	if (url == NULL) {
		finish_error(job, PROVIDER_RETRY,
		    "the provider gave no image "
		    "URL",
		    -1, 1);
		return;
	}
	if (job_set_state(job, JOB_DOWNLOADING) == -1)
		return;
	memset(&o, 0, sizeof(o));
	o.url = url;
	o.timeout = cfg->http_timeout;
	o.connect_timeout = cfg->connect_timeout;
	o.max_body = (size_t)cfg->image_max_bytes;
	o.follow = 1;
	job->http = http_start(job->sg->http, &o, d);
	if (job->http == NULL)
		finish_error(job, PROVIDER_RETRY,
		    "out of memory starting the "
		    "download",
		    -1, 0);
}

/* The generation is done: copy the image, or keep the provider's URL. */
static void
run_image_ready(struct job *job)
{
	if (job->sg->cfg->keep_provider_url) {
		finish_complete(job,
		    job->output_url != NULL ? job->output_url : job->proxy_url);
		return;
	}
	if (run_disk_busy(job->sg)) {
		log_debug("job %s: image ready; waiting for the disk",
		    job->record_id);
		job_set_state(job, JOB_DISK_WAIT);
		return;
	}
	run_download(job);
}

/* --- polling --- */

static void
run_progressed(struct job *job, long rows, const char *value)
{
	if (value != NULL && run_long(value) > job->progress)
		job->progress = (int)run_long(value);
	if (job->sg->handing_back) {
		finish_hand_back(job);
		return;
	}
	if (job_set_state(job, JOB_WAITING) == 0)
		job_timer(job, run_poll_wait(job), run_poll);
}

/*
 * Enter state, then the lease-guarded write stmt with (id, lease, value,
 * eta or NULL), done called with its answer. Both STMT_PROGRESS and
 * STMT_RECORD take these four parameters.
 */
static void
run_write_eta(struct job *job, enum job_state state, int stmt,
    const char *value, void (*done)(struct job *, long, const char *))
{
	char	    eta[32];
	const char *params[4];

	if (job->eta >= 0)
		snprintf(eta, sizeof(eta), "%.3f", job->eta);
	params[0] = job->record_id;
	params[1] = job->lease_token;
	params[2] = value;
	params[3] = job->eta >= 0 ? eta : NULL;
	job_write_in(job, state, stmt, 4, params, done);
}

/* The generation still runs: write progress if it moved, wait again. */
static void
run_still_processing(struct job *job)
{
	char p[16], timeout[160];
	int  progress;

	if (run_elapsed(job) > (double)job->sg->cfg->generation_timeout) {
		snprintf(timeout, sizeof(timeout),
		    "ModelsLab did not finish "
		    "the image within %ld s (SCENEGEN_GENERATION_TIMEOUT)",
		    job->sg->cfg->generation_timeout);
		finish_error(job, PROVIDER_RETRY, timeout, -1, 1);
		return;
	}
	progress = run_progress(job);
	log_debug("job %s: still processing, eta %.1f s, progress %d",
	    job->record_id, job->eta, progress);
	if (progress <= job->progress) {
		if (job_set_state(job, JOB_WAITING) == 0)
			job_timer(job, run_poll_wait(job), run_poll);
		return;
	}
	job->progress = progress;
	snprintf(p, sizeof(p), "%d", progress);
	run_write_eta(job, JOB_PROGRESSING, STMT_PROGRESS, p, run_progressed);
}

/*
 * The provider answered a call (fetch: 1 a fetch, 0 a create): count it
 * and parse it. NULL (the job is finished with an error) when out of
 * memory; else the caller frees the answer.
 */
static struct provider_answer *
run_answer(struct job *job, const struct http_result *r, int fetch)
{
	struct provider_answer *a;

	job->http = NULL;
	stats_provider_call(job->sg->stats, r->seconds);
	a = malloc(sizeof(*a));
	if (a == NULL) {
		finish_error(job, PROVIDER_RETRY,
		    "out of memory reading the "
		    "answer",
		    -1, 0);
		return NULL;
	}
	provider_parse(job->sg->cfg, r, fetch, a);
	return a;
}

/* The answer a is an error: a retry or a failure, as its kind says. */
static void
run_answer_error(struct job *job, const struct provider_answer *a)
{
	finish_error(job, a->kind, a->message, a->retry_after, a->request_dead);
}

/* The provider answered a fetch. */
static void
run_fetched(const struct http_result *r, void *arg)
{
	struct job	       *job = arg;
	struct scenegend       *sg = job->sg;
	struct provider_answer *a;
	double			wait;

	a = run_answer(job, r, 1);
	if (a == NULL)
		return;
	switch (a->kind) {
	case PROVIDER_PROCESSING:
		job->fetch_errors = 0;
		if (a->eta >= 0)
			job->eta = a->eta;
		run_still_processing(job);
		break;
	case PROVIDER_SUCCESS:
		if (run_keep_success(job, a) == -1) {
			finish_error(job, PROVIDER_RETRY, "out of memory", -1,
			    0);
			break;
		}
		log_info("job %s: image ready at the provider after %.1f s",
		    job->record_id, job->generation_time);
		run_image_ready(job);
		break;
	case PROVIDER_RETRY:
		if (!a->request_dead &&
		    job->fetch_errors < job->sg->cfg->max_retries) {
			/* The generation goes on: ask again, gently. */
			wait = backoff_seconds(job->fetch_errors,
			    a->retry_after, sg->cfg->backoff_scale);
			job->fetch_errors++;
			log_warn("job %s: fetch: %s; asking again in %.1f s",
			    job->record_id, a->message, wait);
			if (job_set_state(job, JOB_WAITING) == 0)
				job_timer(job, wait, run_poll);
			break;
		}
		run_answer_error(job, a);
		break;
	default:
		run_answer_error(job, a);
		break;
	}
	free(a);
}

/* Timer: ask the provider how the generation is doing. */
static void
run_poll(struct job *job)
{
	char url[1024];

	if (job->sg->handing_back) {
		finish_hand_back(job);
		return;
	}
	if (!job_lease_valid(job)) {
		job_abandon(job, "the lease ran out");
		return;
	}
	if (provider_fetch_url(job->sg->cfg, job->provider_id, url,
		sizeof(url)) == -1) {
		finish_error(job, PROVIDER_RETRY,
		    "the provider's request id "
		    "does not fit in a URL",
		    -1, 1);
		return;
	}
	if (job_set_state(job, JOB_POLLING) == -1)
		return;
	if (run_call(job, url, provider_fetch_body(job->sg->cfg), 0,
		run_fetched) == -1)
		finish_error(job, PROVIDER_RETRY,
		    "out of memory starting a "
		    "fetch",
		    -1, 0);
}

/* --- submitting --- */

/* The provider's request id is in the row: go on. */
static void
run_recorded(struct job *job, long rows, const char *value)
{
	if (value != NULL)
		job->submitted_wall_ms = strtoll(value, NULL, 10);
	if (job->progress < 10)
		job->progress = 10;
	if (job->sg->handing_back) {
		finish_hand_back(job);
		return;
	}
	if (job->output_url != NULL || job->proxy_url != NULL) {
		run_image_ready(job);
		return;
	}
	if (job_set_state(job, JOB_WAITING) == 0)
		job_timer(job, run_poll_wait(job), run_poll);
}

/* Write the provider's request id at once (before anything else). */
static void
run_record(struct job *job)
{
	run_write_eta(job, JOB_RECORDING, STMT_RECORD, job->provider_id,
	    run_recorded);
}

/* The provider answered the create call. */
static void
run_created(const struct http_result *r, void *arg)
{
	struct job	       *job = arg;
	struct provider_answer *a;

	a = run_answer(job, r, 0);
	if (a == NULL)
		return;
	switch (a->kind) {
	case PROVIDER_SUCCESS:
	case PROVIDER_PROCESSING:
		if (a->kind == PROVIDER_SUCCESS &&
		    run_keep_success(job, a) == -1) {
			finish_error(job, PROVIDER_RETRY, "out of memory", -1,
			    0);
			break;
		}
		snprintf(job->provider_id, sizeof(job->provider_id), "%s",
		    a->id);
		job->eta = a->eta;
		if (a->kind == PROVIDER_SUCCESS)
			log_info("job %s: generated at once, provider id %s",
			    job->record_id, a->id[0] != '\0' ? a->id : "none");
		else
			log_info(
			    "job %s: submitted, provider id %s, eta %.1f s",
			    job->record_id, a->id, a->eta);
		if (a->id[0] == '\0') {
			/* Nothing to resume by: go straight on. */
			job->submitted_wall_ms = clock_wall_ms();
			run_image_ready(job);
			break;
		}
		run_record(job);
		break;
	default:
		run_answer_error(job, a);
		break;
	}
	free(a);
}

/* Ask the provider for a new generation. */
static void
run_submit(struct job *job)
{
	const struct settings *cfg = job->sg->cfg;
	char		       url[1024], *body;

	if (provider_create_url(cfg, url, sizeof(url)) == -1) {
		finish_fail(job, "MODELSLAB_BASE_URL is too long");
		return;
	}
	if (job_set_state(job, JOB_SUBMITTING) == -1)
		return;
	body = provider_create_body(cfg, job->record_id, job->prompt,
	    job->style, job->aspect_ratio);
	if (run_call(job, url, body, 1, run_created) == -1)
		finish_error(job, PROVIDER_RETRY,
		    "out of memory starting the "
		    "create call",
		    -1, 0);
}

/* --- claiming --- */

/* Copy the claimed row into the job; -1 when out of memory. */
static int
run_take_row(struct job *job, const PGresult *res)
{
	const char *v;

	if (run_dup(&job->prompt, db_value(res, 0, CLAIM_PROMPT)) == -1 ||
	    run_dup(&job->style, db_value(res, 0, CLAIM_STYLE)) == -1 ||
	    run_dup(&job->aspect_ratio, db_value(res, 0, CLAIM_ASPECT_RATIO)) ==
		-1)
		return -1;
	v = db_value(res, 0, CLAIM_TIER);
	snprintf(job->tier, sizeof(job->tier), "%s", v != NULL ? v : "free");
	job->attempts = run_long(db_value(res, 0, CLAIM_ATTEMPTS));
	job->retry_count = run_long(db_value(res, 0, CLAIM_RETRY_COUNT));
	v = db_value(res, 0, CLAIM_PROVIDER_ID);
	snprintf(job->provider_id, sizeof(job->provider_id), "%s",
	    v != NULL ? v : "");
	v = db_value(res, 0, CLAIM_SUBMITTED_MS);
	job->submitted_wall_ms = v != NULL ? strtoll(v, NULL, 10) : 0;
	v = db_value(res, 0, CLAIM_ETA);
	job->eta = v != NULL ? strtod(v, NULL) : -1;
	job->progress = (int)run_long(db_value(res, 0, CLAIM_PROGRESS));
	return 0;
}

/* The answer to the claim. */
static void
run_claimed(const PGresult *res, const char *err, void *arg)
{
	struct job	  *job = arg;
	struct scenegend  *sg = job->sg;
	const char	  *due, *prior, *v;
	char		   msg[256];
	struct queue_reply r = { run_ignore_cb, "moving a retry" };

	job->busy--;
	if (job->state == JOB_DONE) {
		job_reap_soon(sg);
		return;
	}
	if (res == NULL || err != NULL) {
		log_warn("job %s: claim: %s; the entry stays pending",
		    job->record_id, err);
		job_done(job);
		return;
	}
	if (db_rows(res) == 0) {
		log_warn("job %s: no such record; entry %s dropped",
		    job->record_id, job->entry_id);
		sg->counters.dropped++;
		job->holds_slot = 1; /* no one runs it: free its slot */
		finish_ack(job);
		return;
	}
	v = db_value(res, 0, CLAIM_OWNER_TIER);
	snprintf(job->owner_tier, sizeof(job->owner_tier), "%s",
	    v != NULL ? v : "");
	v = db_value(res, 0, CLAIM_OWNER_USER);
	snprintf(job->owner_user, sizeof(job->owner_user), "%s",
	    v != NULL ? v : "");
	if (db_value(res, 0, CLAIM_ID) == NULL) {
		due = db_value(res, 0, CLAIM_NOT_DUE_MS);
		prior = db_value(res, 0, CLAIM_PRIOR_STATUS);
		if (due != NULL) {
			/* Early: back to the delayed set until it is due. */
			struct queue_release rel = { RELEASE_DELAY,
				job->entry_id, job->record_id,
				strtoll(due, NULL, 10), job->owner_tier,
				job->owner_user };

			log_debug("job %s: retry not due yet", job->record_id);
			if (job_set_state(job, JOB_ACKING) == 0 &&
			    queue_release(sg->queue, &rel, r) == -1)
				log_warn(
				    "job %s: could not move the early entry "
				    "back (Redis down)",
				    job->record_id);
			job_done(job);
			return;
		}
		if (prior != NULL && strcmp(prior, "canceled") == 0) {
			/* Canceled before it ran: no provider call, ever. */
			finish_canceled(job);
			return;
		}
		log_info("job %s: not claimable (%s, or leased to another "
			 "worker); entry dropped",
		    job->record_id, prior != NULL ? prior : "?");
		sg->counters.dropped++;
		/*
		 * A final record runs nowhere: the slot its entry took is
		 * no one's. One leased to another worker is that worker's.
		 */
		job->holds_slot = prior != NULL &&
		    (strcmp(prior, "completed") == 0 ||
			strcmp(prior, "failed") == 0);
		finish_ack(job);
		return;
	}
	job->holds_slot = 1;
	if (sg->jobs.changed != NULL)
		sg->jobs.changed(job, res, CLAIM__MAX); /* now in_progress */
	if (run_take_row(job, res) == -1) {
		job_abandon(job, "out of memory");
		return;
	}
	log_info("job %s: claimed (attempt %ld, %ld retries so far, tier %s)",
	    job->record_id, job->attempts, job->retry_count, job->tier);
	if (job->attempts > 1 + sg->cfg->max_retries) {
		snprintf(msg, sizeof(msg),
		    "gave up after %ld attempts: each "
		    "one was interrupted before it could finish (the worker "
		    "stopped or lost the job)",
		    job->attempts - 1);
		finish_fail(job, msg);
		return;
	}
	if (sg->draining) {
		/* Claimed as we stopped: give it straight back. */
		finish_hand_back(job);
		return;
	}
	if (job->provider_id[0] != '\0') {
		log_info("job %s: resuming provider request %s", job->record_id,
		    job->provider_id);
		if (job_set_state(job, JOB_WAITING) == 0)
			job_timer(job, 0, run_poll);
		return;
	}
	run_submit(job);
}

/*
 * How long after it lapsed a lease may be taken over: 0, except for one
 * lease time after PostgreSQL came back from a loss. Then the lease most
 * likely lapsed because its holder could not reach PostgreSQL either, and
 * the holder gets that time to renew it or land its write (taking it
 * over would pay the provider again for a generation already accepted).
 */
static long
run_takeover_grace(const struct scenegend *sg)
{
	int64_t lease_ms = sg->cfg->lease_seconds * 1000;

	if (sg->db_back_mono == 0 ||
	    clock_mono_ms() - sg->db_back_mono >= lease_ms)
		return 0;
	return sg->cfg->lease_seconds;
}

void
run_entry(struct scenegend *sg, const char *entry_id, const char *record_id)
{
	struct queue_reply r = { run_ignore_cb, "acking an entry" };
	struct db_reply	   d;
	struct job	  *job;
	char		   lease[32], grace[32];
	const char	  *params[5];

	if (record_id == NULL) {
		log_warn("stream entry %s: no valid record id; acked and "
			 "deleted",
		    entry_id);
		sg->counters.malformed++;
		queue_ack(sg->queue, entry_id, r);
		return;
	}
	if (sg->draining || (long)job_active(sg) >= sg->cfg->max_queued) {
		/*
		 * Read as we stopped, or more than our slots (a read and a
		 * take-over crossed): straight back for another worker.
		 */
		r.arg = "handing back an entry";
		queue_requeue(sg->queue, entry_id, record_id, r);
		return;
	}
	job = job_new(sg, entry_id, record_id);
	if (job == NULL) {
		log_err("job %s: out of memory; the entry stays pending",
		    record_id);
		return;
	}
	snprintf(lease, sizeof(lease), "%ld", sg->cfg->lease_seconds);
	params[0] = job->record_id;
	params[1] = job->lease_token;
	snprintf(grace, sizeof(grace), "%ld", run_takeover_grace(sg));
	params[2] = lease;
	params[3] = grace;
	params[4] = sg->holder[0] != '\0' ? sg->holder : NULL;
	d.fn = run_claimed;
	d.arg = job;
	job->lease_deadline = clock_mono_ms() + sg->cfg->lease_seconds * 1000;
	if (db_query(sg->db, STMT_CLAIM, 5, params, d) == -1) {
		log_warn("job %s: database unavailable; the entry stays "
			 "pending",
		    record_id);
		job_done(job);
		return;
	}
	job->busy++;
}

void
run_hand_back_all(struct scenegend *sg)
{
	struct job *job, *next;
	int	    s;

	sg->handing_back = 1;
	for (s = 0; s < JOB_STATE__MAX; s++) {
		if ((job_states[s].flags & JOB_HANDED_BACK_AT_DRAIN) == 0)
			continue;
		for (job = TAILQ_FIRST(&sg->jobs.list[s]); job != NULL;
		     job = next) {
			next = TAILQ_NEXT(job, entry);
			job_cancel_work(job);
			finish_hand_back(job);
		}
	}
}
