/*
 * lease.c: the heartbeat; see lease.h.
 *
 * The heartbeat holds no job pointers while its statement runs (a job may
 * end meanwhile): it keeps the lease tokens it sent, and on the answer
 * matches them against the jobs that still exist.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "db.h"
#include "dispatch.h"
#include "finish.h"
#include "job.h"
#include "keys.h"
#include "lease.h"
#include "log.h"
#include "queue.h"
#include "scenegend.h"
#include "sql.h"

#define TOKEN_LEN    (UUID_STR_LEN + 1)
#define XCLAIM_CHUNK 500

struct lease {
	struct scenegend *sg;
	int		  running;
	int64_t		  sent_mono;
	char		 *sent; /* sorted tokens, TOKEN_LEN each */
	size_t		  nsent;
};

/* Whether the job holds a lease worth renewing (job.c's table). */
static int
lease_held(const struct job *job)
{
	return job_has(job, JOB_HOLDS_LEASE);
}

static int
lease_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Whether token is among n sorted tokens. */
static int
lease_in(const char *set, size_t n, const char *token)
{
	return n > 0 && bsearch(token, set, n, TOKEN_LEN, lease_cmp) != NULL;
}

/* A job lost its lease: stop it now unless a write of it is running. */
static void
lease_lost(struct job *job, const char *why)
{
	job->lease_lost = 1;
	if (job->busy > 0)
		return; /* the write's answer decides */
	if (job_has(job, JOB_WRITES_PAST_DEADLINE | JOB_ENDS_LEASE))
		return; /* a write is being retried: its guard decides */
	job_abandon(job, why);
}

/*
 * The owner canceled the job's row: stop it now, unless a write of it
 * is running (that write changes nothing, and its answer stops it).
 */
static void
lease_canceled(struct job *job)
{
	job->lease_lost = 1;
	if (job->busy > 0)
		return;
	finish_canceled(job);
}

static void
lease_ignore_cb(redisReply *reply, const char *err, void *arg)
{
	if (err != NULL)
		log_debug("redis: XCLAIM: %s", err);
}

/* Restart the idle time of the entries of renewed jobs. */
static void
lease_touch_entries(struct lease *l, const char *renewed, size_t n)
{
	struct scenegend  *sg = l->sg;
	struct queue_reply r = { lease_ignore_cb, NULL };
	const char	  *argv[6 + XCLAIM_CHUNK + 1];
	struct job	  *job;
	int		   s, argc = 5;

	argv[0] = "XCLAIM";
	argv[1] = KEY_JOB_STREAM;
	argv[2] = KEY_CONSUMER_GROUP;
	argv[3] = sg->cfg->consumer;
	argv[4] = "0";
	for (s = 0; s < JOB_STATE__MAX; s++) {
		TAILQ_FOREACH (job, &sg->jobs.list[s], entry) {
			if (!lease_held(job) || job->entry_id[0] == '\0' ||
			    !lease_in(renewed, n, job->lease_token))
				continue;
			argv[argc++] = job->entry_id;
			if (argc - 5 == XCLAIM_CHUNK) {
				argv[argc++] = "JUSTID";
				queue_command(sg->queue, argc, argv, NULL, r);
				argc = 5;
			}
		}
	}
	if (argc > 5) {
		argv[argc++] = "JUSTID";
		queue_command(sg->queue, argc, argv, NULL, r);
	}
}

/*
 * Renew the provider slots of the renewed jobs (dispatch.h): a slot
 * lapses one lease after its last renewal, so a dead daemon's slots come
 * back to the others.
 */
static void
lease_renew_slots(struct lease *l, const char *renewed, size_t n)
{
	struct scenegend  *sg = l->sg;
	struct queue_reply r = { lease_ignore_cb, NULL };
	const char	  *argv[2 + 2 * XCLAIM_CHUNK];
	char		   score[24];
	struct job	  *job;
	int		   s, argc = 2;

	snprintf(score, sizeof(score), "%lld",
	    (long long)(clock_wall_ms() + sg->cfg->lease_seconds * 1000));
	argv[0] = "ZADD";
	argv[1] = KEY_SLOTS;
	for (s = 0; s < JOB_STATE__MAX; s++) {
		TAILQ_FOREACH (job, &sg->jobs.list[s], entry) {
			if (!lease_held(job) || !job->holds_slot ||
			    !lease_in(renewed, n, job->lease_token))
				continue;
			argv[argc++] = score;
			argv[argc++] = job->record_id;
			if (argc == 2 + 2 * XCLAIM_CHUNK) {
				queue_command(sg->queue, argc, argv, NULL, r);
				argc = 2;
			}
		}
	}
	if (argc > 2)
		queue_command(sg->queue, argc, argv, NULL, r);
}

/* Without a renewal, a lease past its time is no longer ours. */
static void
lease_check_deadlines(struct scenegend *sg)
{
	struct job *job, *next;
	int	    s;

	for (s = 0; s < JOB_STATE__MAX; s++) {
		for (job = TAILQ_FIRST(&sg->jobs.list[s]); job != NULL;
		     job = next) {
			next = TAILQ_NEXT(job, entry);
			if (lease_held(job) && !job_lease_valid(job))
				lease_lost(job, "the lease ran out");
		}
	}
}

/* The database answered the heartbeat. */
static void
lease_renewed(const PGresult *res, const char *err, void *arg)
{
	struct lease	 *l = arg;
	struct scenegend *sg = l->sg;
	struct job	 *job, *next;
	char		 *renewed = NULL, *canceled = NULL;
	const char	 *v, *flag;
	size_t		  n = 0, ncanceled = 0, lost = 0;
	int		  i, rows, s;

	l->running = 0;
	if (res == NULL || err != NULL) {
		log_warn("heartbeat: %s; leases not renewed this time", err);
		goto check_deadlines;
	}
	rows = db_rows(res);
	if (rows > 0) {
		renewed = calloc((size_t)rows, TOKEN_LEN);
		canceled = calloc((size_t)rows, TOKEN_LEN);
		if (renewed == NULL || canceled == NULL) {
			log_err("heartbeat: out of memory");
			free(renewed);
			free(canceled);
			goto check_deadlines;
		}
	}
	for (i = 0; i < rows; i++) {
		v = db_value(res, i, 0);
		flag = db_value(res, i, 1);
		if (v == NULL || strlen(v) != UUID_STR_LEN)
			continue;
		if (flag != NULL && strcmp(flag, "t") == 0)
			memcpy(canceled + ncanceled++ * TOKEN_LEN, v,
			    TOKEN_LEN);
		else
			memcpy(renewed + n++ * TOKEN_LEN, v, TOKEN_LEN);
	}
	if (n > 1)
		qsort(renewed, n, TOKEN_LEN, lease_cmp);
	if (ncanceled > 1)
		qsort(canceled, ncanceled, TOKEN_LEN, lease_cmp);
	for (s = 0; s < JOB_STATE__MAX; s++) {
		for (job = TAILQ_FIRST(&sg->jobs.list[s]); job != NULL;
		     job = next) {
			next = TAILQ_NEXT(job, entry);
			if (!lease_held(job) ||
			    !lease_in(l->sent, l->nsent, job->lease_token))
				continue;
			if (lease_in(renewed, n, job->lease_token)) {
				/*
				 * The token still matched: no one claimed
				 * the row, so a lease that ran out while
				 * PostgreSQL was away is ours again.
				 */
				job->lease_deadline = l->sent_mono +
				    sg->cfg->lease_seconds * 1000;
				job->lease_lost = 0;
				continue;
			}
			if (lease_in(canceled, ncanceled, job->lease_token)) {
				lease_canceled(job);
				continue;
			}
			/* Our own final write may have cleared it. */
			if (job_has(job, JOB_ENDS_LEASE))
				continue;
			lost++;
			lease_lost(job,
			    "the lease was not renewed: another "
			    "worker has the record");
		}
	}
	if (lost > 0)
		log_warn("heartbeat: %zu leases lost", lost);
	lease_touch_entries(l, renewed, n);
	lease_renew_slots(l, renewed, n);
	free(renewed);
	free(canceled);
	return;
check_deadlines:
	lease_check_deadlines(sg);
}

void
lease_tick(struct lease *l)
{
	struct scenegend *sg = l->sg;
	struct db_reply	  d = { lease_renewed, l };
	struct buf	  ids, tokens;
	struct job	 *job;
	const char	 *params[3];
	char		  secs[32];
	long		  nfree;
	size_t		  n = 0;
	int		  s;

	if (!sg->draining && queue_ready(sg->queue)) {
		nfree = sg->cfg->max_queued - (long)job_active(sg);
		if (nfree > 0)
			queue_autoclaim(sg->queue,
			    sg->cfg->lease_seconds * 1000, nfree);
	}
	if (l->running)
		return;
	free(l->sent);
	l->sent = NULL;
	l->nsent = 0;
	for (s = 0; s < JOB_STATE__MAX; s++)
		TAILQ_FOREACH (job, &sg->jobs.list[s], entry)
			if (lease_held(job))
				n++;
	if (n == 0)
		return;
	l->sent = calloc(n, TOKEN_LEN);
	buf_init(&ids, n * TOKEN_LEN + 16);
	buf_init(&tokens, n * TOKEN_LEN + 16);
	if (l->sent == NULL || buf_append_str(&ids, "{") == -1 ||
	    buf_append_str(&tokens, "{") == -1)
		goto fail;
	for (s = 0; s < JOB_STATE__MAX; s++) {
		TAILQ_FOREACH (job, &sg->jobs.list[s], entry) {
			if (!lease_held(job))
				continue;
			if (l->nsent > 0 &&
			    (buf_append_str(&ids, ",") == -1 ||
				buf_append_str(&tokens, ",") == -1))
				goto fail;
			if (buf_append_str(&ids, job->record_id) == -1 ||
			    buf_append_str(&tokens, job->lease_token) == -1)
				goto fail;
			memcpy(l->sent + l->nsent++ * TOKEN_LEN,
			    job->lease_token, TOKEN_LEN);
		}
	}
	if (buf_append_str(&ids, "}") == -1 ||
	    buf_append_str(&tokens, "}") == -1)
		goto fail;
	if (l->nsent > 1)
		qsort(l->sent, l->nsent, TOKEN_LEN, lease_cmp);
	snprintf(secs, sizeof(secs), "%ld", sg->cfg->lease_seconds);
	params[0] = ids.data;
	params[1] = tokens.data;
	params[2] = secs;
	l->sent_mono = clock_mono_ms();
	if (db_query(sg->db, STMT_HEARTBEAT, 3, params, d) == 0)
		l->running = 1;
	else {
		log_warn("heartbeat: database unavailable");
		lease_check_deadlines(sg);
	}
	buf_free(&ids);
	buf_free(&tokens);
	return;
fail:
	log_err("heartbeat: out of memory");
	buf_free(&ids);
	buf_free(&tokens);
}

struct lease *
lease_new(struct scenegend *sg)
{
	struct lease *l;

	l = calloc(1, sizeof(*l));
	if (l != NULL)
		l->sg = sg;
	return l;
}

void
lease_free(struct lease *l)
{
	if (l == NULL)
		return;
	free(l->sent);
	free(l);
}

void
lease_record_canceled(struct scenegend *sg, const char *record_id)
{
	struct job *job;
	int	    s;

	for (s = 0; s < JOB_STATE__MAX; s++)
		TAILQ_FOREACH (job, &sg->jobs.list[s], entry)
			if (lease_held(job) &&
			    strcmp(job->record_id, record_id) == 0) {
				log_info("job %s: its owner canceled it",
				    record_id);
				lease_canceled(job);
				return;
			}
}
