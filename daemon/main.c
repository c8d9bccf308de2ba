/*
 * scenegend: the scenegen generation daemon. Reads jobs from the Redis
 * stream, generates their images with the ModelsLab V7 API and records
 * the outcome in PostgreSQL, all on one libevent loop.
 *
 * main() only wires the modules together; settings come from the
 * environment (config.c).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "db.h"
#include "events.h"
#include "finish.h"
#include "holder.h"
#include "http.h"
#include "job.h"
#include "lease.h"
#include "log.h"
#include "loop.h"
#include "notify.h"
#include "queue.h"
#include "run.h"
#include "scenegend.h"
#include "settings.h"
#include "sql.h"
#include "stats.h"
#include "storage.h"
#include "writer.h"
#include "sweeper.h"
#include "webhook.h"

#define QUERY_TIMEOUT 30.0 /* seconds a statement may take */
#define DB_BATCH_MAX  256  /* statements per transaction (db.h) */

static void
usage(void)
{
	fprintf(stderr,
	    "usage: scenegend\n"
	    "settings come from the environment; see scenegend(8)\n");
}

/* Free everything, in the order that keeps callbacks from firing. */
static void
teardown(struct scenegend *sg)
{
	job_set_free(&sg->jobs);
	queue_free(sg->queue);
	db_pool_free(sg->db);
	db_pool_free(sg->db_sweep);
	db_pool_free(sg->db_webhook);
	http_free(sg->http);
	events_free(sg->events);
	webhook_free(sg->webhook);
	sweeper_free(sg->sweeper);
	lease_free(sg->lease);
	stats_free(sg->stats);
	loop_free(sg->loop);
	writer_free(sg->writer);
	if (sg->base != NULL)
		event_base_free(sg->base);
}

/* jobs.changed: the job's document changed; live status publishes it. */
static void
main_job_changed(struct job *job, const PGresult *res, int col)
{
	events_changed(job->sg->events, job->record_id, res, col);
}

/* A LISTEN was answered: a refusal leaves the timers to find the work. */
static void
main_listening(const PGresult *res, const char *err, void *arg)
{
	if (res != NULL && err != NULL)
		log_warn("%s refused: %s; the heartbeat and the webhook timer "
			 "find the work instead",
		    (const char *)arg, err);
}

/* The listening connection (the webhook pool's) is up: listen again. */
static void
main_listen_up(void *arg)
{
	static const int  stmts[] = { STMT_LISTEN_WEBHOOKS,
		 STMT_LISTEN_CANCELS };
	struct scenegend *sg = arg;
	struct db_reply	  r;
	size_t		  i;

	for (i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
		r.fn = main_listening;
		r.arg = (void *)sql_statements[stmts[i]].sql;
		if (db_query(sg->db_webhook, stmts[i], 0, NULL, r) == -1)
			log_warn("%s: not sent", sql_statements[stmts[i]].sql);
	}
}

/* A notification: a webhook delivery written, or a record canceled. */
static void
main_notified(void *arg, const char *channel, const char *payload)
{
	struct scenegend *sg = arg;

	if (strcmp(channel, "scenegen_webhooks") == 0)
		webhook_wake(sg->webhook);
	else if (strcmp(channel, "scenegen_cancels") == 0 && payload != NULL)
		lease_record_canceled(sg, payload);
}

int
main(int argc, char *argv[])
{
	struct settings	   cfg;
	struct scenegend   sg;
	struct queue_hooks hooks = { run_entry, loop_queue_ready, loop_kick };
	char		   err[512];
	int		   rc = 1;

	if (argc > 1) {
		usage();
		return 2;
	}
	log_init("scenegend", LOG_INFO);
	if (settings_load(&cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "scenegend: %s\n", err);
		return 1;
	}
	log_init("scenegend", log_priority_from_name(cfg.log_level));
	if (!cfg.keep_provider_url &&
	    storage_check(cfg.image_dir, err, sizeof(err)) == -1) {
		fprintf(stderr, "scenegend: %s\n", err);
		settings_free(&cfg);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "scenegend: curl_global_init failed\n");
		settings_free(&cfg);
		return 1;
	}
	memset(&sg, 0, sizeof(sg));
	sg.cfg = &cfg;
	sg.base = event_base_new();
	if (sg.base == NULL ||
	    job_set_init(&sg.jobs, &sg, loop_reaped, &sg) == -1) {
		fprintf(stderr, "scenegend: event_base_new: out of memory\n");
		goto done;
	}
	sg.jobs.canceled = finish_canceled;
	sg.jobs.changed = main_job_changed;
	if (cfg.debug_refuse_state != NULL) {
		sg.jobs.refuse_once = job_state_by_name(cfg.debug_refuse_state);
		if (sg.jobs.refuse_once == -1) {
			fprintf(stderr,
			    "scenegend: SCENEGEN_DEBUG_REFUSE_STATE "
			    "must name a job state (scenegend(8))\n");
			goto done;
		}
	}
	if (!cfg.keep_provider_url) {
		sg.writer = writer_new(sg.base, cfg.image_dir);
		if (sg.writer == NULL) {
			fprintf(stderr,
			    "scenegend: cannot start the image writer\n");
			goto done;
		}
	}
	if (holder_self(sg.holder, sizeof(sg.holder), &sg.holder_prefix) ==
	    -1) {
		sg.holder[0] = '\0';
		log_warn(
		    "/proc does not say this process's boot id and PID "
		    "namespace: a restart waits out the leases of its jobs");
	}
	sg.http = http_new(sg.base);
	sg.stats = stats_new(&sg);
	sg.lease = lease_new(&sg);
	sg.sweeper = sweeper_new(&sg);
	sg.events = events_new(&sg);
	if (loop_new(&sg) == NULL || sg.http == NULL || sg.stats == NULL ||
	    sg.lease == NULL || sg.sweeper == NULL || sg.events == NULL) {
		fprintf(stderr, "scenegend: out of memory\n");
		goto done;
	}
	sg.queue = queue_new(&sg, hooks, err, sizeof(err));
	if (sg.queue == NULL) {
		fprintf(stderr, "scenegend: %s\n", err);
		goto done;
	}
	sg.db = db_pool_new(sg.base, cfg.database_url, "postgresql",
	    (int)cfg.db_connections, DB_BATCH_MAX, sql_statements, STMT__MAX,
	    QUERY_TIMEOUT, cfg.connect_timeout);
	sg.db_sweep = db_pool_new(sg.base, cfg.database_url,
	    "postgresql (sweeper)", 1, 1, sql_statements, STMT__MAX,
	    QUERY_TIMEOUT, cfg.connect_timeout);
	sg.db_webhook = db_pool_new(sg.base, cfg.database_url,
	    "postgresql (webhooks)", 1, 1, sql_statements, STMT__MAX,
	    QUERY_TIMEOUT, cfg.connect_timeout);
	sg.webhook = webhook_new(&sg);
	if (sg.db == NULL || sg.db_sweep == NULL || sg.db_webhook == NULL ||
	    sg.webhook == NULL) {
		fprintf(stderr, "scenegend: out of memory\n");
		goto done;
	}
	db_pool_on_up(sg.db, loop_db_up, &sg);
	db_pool_on_up(sg.db_webhook, main_listen_up, &sg);
	db_pool_on_notify(sg.db_webhook, main_notified, &sg);
	log_info("starting: provider %s, model %s, at most %ld jobs at once, "
		 "images %s, live status %s",
	    cfg.base_url, cfg.model_id, cfg.max_queued,
	    cfg.keep_provider_url ? "left at the provider" : cfg.image_dir,
	    cfg.events_socket != NULL ? cfg.events_socket : "off");
	notify_status("starting: waiting for PostgreSQL and Redis");
	if (event_base_dispatch(sg.base) == -1)
		log_err("event_base_dispatch failed");
	notify_status("stopped: done %llu, failed %llu, retried %llu",
	    (unsigned long long)sg.counters.completed,
	    (unsigned long long)sg.counters.failed,
	    (unsigned long long)sg.counters.retried);
	log_info("stopped");
	rc = 0;
done:
	teardown(&sg);
	curl_global_cleanup();
	settings_free(&cfg);
	return rc;
}
