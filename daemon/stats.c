/*
 * stats.c: figures for sysadmins and for the API; see stats.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "db.h"
#include "job.h"
#include "keys.h"
#include "log.h"
#include "notify.h"
#include "queue.h"
#include "scenegend.h"
#include "stats.h"

#define LATENCY_RING 512
#define SLOW_TICKS   5 /* status, metrics, depth every 5 s */
#define EWMA_ALPHA   0.2

struct stats {
	struct scenegend *sg;
	unsigned long	  ticks;
	/* Provider call latency: a ring of recent calls, plus totals. */
	double		  ring[LATENCY_RING];
	size_t		  nring;
	size_t		  ring_next;
	uint64_t	  calls;
	double		  calls_sum;
	/* Moving average of claim-to-completed times. */
	double		  avg_generation; /* seconds, <0 none */
	/* Last known queue figures (-1: unknown). */
	long long	  stream_len;
	long long	  pending;
	long long	  delayed;
	int		  metrics_failed;
};

struct stats *
stats_new(struct scenegend *sg)
{
	struct stats *s;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->sg = sg;
	s->avg_generation = -1;
	s->stream_len = s->pending = s->delayed = -1;
	return s;
}

void
stats_free(struct stats *s)
{
	free(s);
}

void
stats_provider_call(struct stats *s, double seconds)
{
	if (seconds < 0)
		seconds = 0;
	s->ring[s->ring_next] = seconds;
	s->ring_next = (s->ring_next + 1) % LATENCY_RING;
	if (s->nring < LATENCY_RING)
		s->nring++;
	s->calls++;
	s->calls_sum += seconds;
}

void
stats_generation(struct stats *s, double seconds)
{
	if (s->avg_generation < 0)
		s->avg_generation = seconds;
	else
		s->avg_generation = EWMA_ALPHA * seconds +
		    (1 - EWMA_ALPHA) * s->avg_generation;
}

static int
stats_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Entries waiting in the stream, not yet handed to any consumer. */
static long long
stats_queued(const struct stats *s)
{
	long long q;

	if (s->stream_len < 0)
		return 0;
	q = s->stream_len - (s->pending > 0 ? s->pending : 0);
	return q < 0 ? 0 : q;
}

void
stats_status(struct stats *s)
{
	struct counters *c = &s->sg->counters;

	notify_status("queued %lld, in flight %zu, done %" PRIu64
		      ", failed %" PRIu64 ", retried %" PRIu64,
	    stats_queued(s), job_active(s->sg), c->completed, c->failed,
	    c->retried);
}

/* Write the Prometheus text file through a temporary file and rename. */
static void
stats_write_metrics(struct stats *s)
{
	struct scenegend   *sg = s->sg;
	struct counters	   *c = &sg->counters;
	const char	   *path = sg->cfg->metrics_file;
	double		    sorted[LATENCY_RING];
	static const double qs[] = { 0.5, 0.9, 0.99 };
	struct buf	    b;
	char		    tmp[4096];
	size_t		    i, k;
	int		    fd = -1, n;

	if (path == NULL)
		return;
	buf_init(&b, 64 * 1024);
	buf_printf(&b,
	    "# HELP scenegen_queue_depth Jobs waiting in the stream.\n"
	    "# TYPE scenegen_queue_depth gauge\n"
	    "scenegen_queue_depth %lld\n"
	    "# HELP scenegen_queue_unacked Entries delivered to a daemon, "
	    "not yet acked.\n"
	    "# TYPE scenegen_queue_unacked gauge\n"
	    "scenegen_queue_unacked %lld\n"
	    "# HELP scenegen_delayed_retries Retries waiting for their time.\n"
	    "# TYPE scenegen_delayed_retries gauge\n"
	    "scenegen_delayed_retries %lld\n"
	    "# HELP scenegen_in_flight Jobs this daemon holds.\n"
	    "# TYPE scenegen_in_flight gauge\n"
	    "scenegen_in_flight %zu\n"
	    "# HELP scenegen_capacity Jobs this daemon may hold at once.\n"
	    "# TYPE scenegen_capacity gauge\n"
	    "scenegen_capacity %ld\n",
	    stats_queued(s), s->pending < 0 ? 0 : s->pending,
	    s->delayed < 0 ? 0 : s->delayed, job_active(sg),
	    sg->cfg->max_queued);
	buf_printf(&b,
	    "# HELP scenegen_jobs_total Jobs ended by this daemon, by outcome.\n"
	    "# TYPE scenegen_jobs_total counter\n"
	    "scenegen_jobs_total{outcome=\"completed\"} %" PRIu64 "\n"
	    "scenegen_jobs_total{outcome=\"failed\"} %" PRIu64 "\n"
	    "scenegen_jobs_total{outcome=\"retried\"} %" PRIu64 "\n"
	    "scenegen_jobs_total{outcome=\"abandoned\"} %" PRIu64 "\n"
	    "scenegen_jobs_total{outcome=\"handed_back\"} %" PRIu64 "\n"
	    "scenegen_jobs_total{outcome=\"dropped\"} %" PRIu64 "\n"
	    "scenegen_jobs_total{outcome=\"malformed\"} %" PRIu64 "\n"
	    "scenegen_jobs_total{outcome=\"canceled\"} %" PRIu64 "\n",
	    c->completed, c->failed, c->retried, c->abandoned, c->handed_back,
	    c->dropped, c->malformed, c->canceled);
	buf_printf(&b,
	    "# HELP scenegen_webhook_attempts_total Webhook attempts made by "
	    "this daemon, by outcome.\n"
	    "# TYPE scenegen_webhook_attempts_total counter\n"
	    "scenegen_webhook_attempts_total{outcome=\"delivered\"} %" PRIu64
	    "\n"
	    "scenegen_webhook_attempts_total{outcome=\"retried\"} %" PRIu64 "\n"
	    "scenegen_webhook_attempts_total{outcome=\"failed\"} %" PRIu64 "\n"
	    "scenegen_webhook_attempts_total{outcome=\"gone\"} %" PRIu64 "\n",
	    c->wh_delivered, c->wh_retried, c->wh_failed, c->wh_gone);
	buf_printf(&b,
	    "# HELP scenegen_provider_latency_seconds ModelsLab call times "
	    "(quantiles over the last %d calls).\n"
	    "# TYPE scenegen_provider_latency_seconds summary\n",
	    LATENCY_RING);
	if (s->nring > 0) {
		memcpy(sorted, s->ring, s->nring * sizeof(double));
		qsort(sorted, s->nring, sizeof(double), stats_cmp_double);
	}
	for (i = 0; i < sizeof(qs) / sizeof(qs[0]) && s->nring > 0; i++) {
		k = (size_t)(qs[i] * (double)(s->nring - 1));
		buf_printf(&b,
		    "scenegen_provider_latency_seconds{quantile="
		    "\"%g\"} %.6f\n",
		    qs[i], sorted[k]);
	}
	buf_printf(&b,
	    "scenegen_provider_latency_seconds_sum %.6f\n"
	    "scenegen_provider_latency_seconds_count %" PRIu64 "\n"
	    "# HELP scenegen_generation_seconds_avg Moving average of claim "
	    "to completed.\n"
	    "# TYPE scenegen_generation_seconds_avg gauge\n"
	    "scenegen_generation_seconds_avg %.3f\n"
	    "# HELP scenegen_up Whether PostgreSQL and Redis answer.\n"
	    "# TYPE scenegen_up gauge\n"
	    "scenegen_up{service=\"postgresql\"} %d\n"
	    "scenegen_up{service=\"redis\"} %d\n",
	    s->calls_sum, s->calls,
	    s->avg_generation < 0 ? 0 : s->avg_generation,
	    db_pool_up(sg->db) > 0, queue_ready(sg->queue));
	if (b.data == NULL)
		goto fail;
	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		goto fail;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1 || write(fd, b.data, b.len) != (ssize_t)b.len ||
	    close(fd) == -1) {
		fd = -1;
		unlink(tmp);
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1) {
		unlink(tmp);
		goto fail;
	}
	s->metrics_failed = 0;
	buf_free(&b);
	return;
fail:
	if (fd != -1)
		close(fd);
	if (!s->metrics_failed)
		log_warn("metrics: cannot write %s: %s", path, strerror(errno));
	s->metrics_failed = 1;
	buf_free(&b);
}

static void
stats_len_cb(redisReply *reply, const char *err, void *arg)
{
	long long *target = arg;

	if (reply != NULL && err == NULL && reply->type == REDIS_REPLY_INTEGER)
		*target = reply->integer;
}

/* XPENDING's summary: [count, min, max, consumers]. */
static void
stats_pending_cb(redisReply *reply, const char *err, void *arg)
{
	long long *target = arg;

	if (reply != NULL && err == NULL && reply->type == REDIS_REPLY_ARRAY &&
	    reply->elements >= 1 &&
	    reply->element[0]->type == REDIS_REPLY_INTEGER)
		*target = reply->element[0]->integer;
}

static void
stats_ignore_cb(redisReply *reply, const char *err, void *arg)
{
}

/* Ask Redis for the queue figures (used at the next status line). */
static void
stats_ask_depth(struct stats *s)
{
	const char	  *xlen[] = { "XLEN", KEY_JOB_STREAM };
	const char	  *xpending[] = { "XPENDING", KEY_JOB_STREAM,
		       KEY_CONSUMER_GROUP };
	const char	  *zcard[] = { "ZCARD", KEY_DELAYED_SET };
	struct queue_reply r1 = { stats_len_cb, &s->stream_len };
	struct queue_reply r2 = { stats_pending_cb, &s->pending };
	struct queue_reply r3 = { stats_len_cb, &s->delayed };

	queue_command(s->sg->queue, 2, xlen, NULL, r1);
	queue_command(s->sg->queue, 3, xpending, NULL, r2);
	queue_command(s->sg->queue, 2, zcard, NULL, r3);
}

/* HSET the figures the API uses for estimated_time_seconds. */
static void
stats_publish(struct stats *s)
{
	char		   avg[32], cap[32], inflight[32];
	const char	  *argv[8];
	struct queue_reply r = { stats_ignore_cb, NULL };
	int		   argc = 0;

	snprintf(cap, sizeof(cap), "%ld", s->sg->cfg->max_queued);
	snprintf(inflight, sizeof(inflight), "%zu", job_active(s->sg));
	argv[argc++] = "HSET";
	argv[argc++] = KEY_STATS_HASH;
	if (s->avg_generation >= 0) {
		snprintf(avg, sizeof(avg), "%.0f", s->avg_generation * 1000);
		argv[argc++] = "avg_generation_ms";
		argv[argc++] = avg;
	}
	argv[argc++] = "capacity";
	argv[argc++] = cap;
	argv[argc++] = "in_flight";
	argv[argc++] = inflight;
	queue_command(s->sg->queue, argc, argv, NULL, r);
}

void
stats_tick(struct stats *s)
{
	int ready = queue_ready(s->sg->queue);

	s->ticks++;
	if (ready)
		stats_publish(s);
	if (s->ticks % SLOW_TICKS != 0)
		return;
	if (ready)
		stats_ask_depth(s);
	stats_status(s);
	stats_write_metrics(s);
}
