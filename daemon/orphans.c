/* orphans.c: resuming the jobs of a gone daemon; see orphans.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "holder.h"
#include "log.h"
#include "orphans.h"
#include "queue.h"
#include "scenegend.h"
#include "sql.h"

/* The PID part of a holder, for the log. */
static const char *
orphans_pid(const struct scenegend *sg, const char *holder)
{
	return strlen(holder) > sg->holder_prefix ? holder + sg->holder_prefix :
						    holder;
}

static void
orphans_requeued_cb(redisReply *reply, const char *err, void *arg)
{
	if (err != NULL)
		log_warn("start-up: XADD of a resumed record: %s; the sweeper "
			 "brings it back",
		    err);
}

/* The gone holder's leases ended: each record goes back to the stream. */
static void
orphans_released(const PGresult *res, const char *err, void *arg)
{
	struct scenegend  *sg = arg;
	struct queue_reply r = { orphans_requeued_cb, NULL };
	const char	  *id;
	int		   i, rows, sent = 0;

	if (res == NULL || err != NULL) {
		log_warn("start-up: ending the leases of a gone daemon: %s; "
			 "its jobs resume when their leases run out",
		    err);
		return;
	}
	rows = db_rows(res);
	for (i = 0; i < rows; i++) {
		id = db_value(res, i, 0);
		if (id != NULL && queue_requeue(sg->queue, "", id, r) == 0)
			sent++;
	}
	log_notice("start-up: %d jobs of a daemon that is gone resumed at "
		   "once (%d of them queued; the sweeper brings the rest)",
	    rows, sent);
}

/* The holders of live leases on this machine: end those that are gone. */
static void
orphans_holders(const PGresult *res, const char *err, void *arg)
{
	struct scenegend *sg = arg;
	struct db_reply	  d = { orphans_released, sg };
	const char	 *holder, *count;
	const char	 *params[1];
	int		  i, rows, gone = 0;

	if (res == NULL || err != NULL) {
		log_warn("start-up: looking for jobs of a gone daemon: %s",
		    err);
		return;
	}
	rows = db_rows(res);
	for (i = 0; i < rows; i++) {
		holder = db_value(res, i, 0);
		count = db_value(res, i, 1);
		if (holder == NULL)
			continue;
		if (!holder_gone(holder, sg->holder, sg->holder_prefix)) {
			log_info("start-up: %s jobs held by process %s, which "
				 "runs: left to it",
			    count != NULL ? count : "?",
			    orphans_pid(sg, holder));
			continue;
		}
		log_notice("start-up: %s jobs held by process %s, which is "
			   "gone: ending their leases",
		    count != NULL ? count : "?", orphans_pid(sg, holder));
		params[0] = holder;
		if (db_query(sg->db, STMT_RELEASE_HOLDER, 1, params, d) == -1)
			log_warn("start-up: database unavailable; the jobs of "
				 "process %s resume when their leases run out",
			    orphans_pid(sg, holder));
		gone++;
	}
	if (gone == 0)
		log_info("start-up: no job of a gone daemon on this machine");
}

void
orphans_resume(struct scenegend *sg)
{
	struct db_reply d = { orphans_holders, sg };
	char		prefix[HOLDER_MAX];
	const char     *params[1];

	if (sg->holder[0] == '\0')
		return;
	snprintf(prefix, sizeof(prefix), "%.*s", (int)sg->holder_prefix,
	    sg->holder);
	params[0] = prefix;
	if (db_query(sg->db, STMT_HOLDERS, 1, params, d) == -1)
		log_warn("start-up: database unavailable; jobs of a gone "
			 "daemon resume when their leases run out");
}
