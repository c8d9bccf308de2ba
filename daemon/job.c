/*
 * job.c: the job object, its lists and its state machine; see job.h.
 * What a job does in each state is in run.c (claim, provider calls) and
 * finish.c (final writes, acks).
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "db.h"
#include "http.h"
#include "job.h"
#include "log.h"
#include "scenegend.h"
#include "sql.h"

#define T(s)  (1u << (s))
#define LEASE JOB_HOLDS_LEASE
#define PAST  JOB_WRITES_PAST_DEADLINE
#define ENDS  JOB_ENDS_LEASE
#define DRAIN JOB_HANDED_BACK_AT_DRAIN

/*
 * The state machine, one row per state: the only place that says which
 * change is allowed and what a state means for the lease (job.h).
 */
const struct job_state_info job_states[JOB_STATE__MAX] = {
	[JOB_CLAIMING] = { "claiming",
	    T(JOB_SUBMITTING) | T(JOB_WAITING) | T(JOB_FINISHING) |
		T(JOB_ACKING) | T(JOB_HANDING_BACK) | T(JOB_CANCELED) |
		T(JOB_DONE),
	    0 },
	[JOB_SUBMITTING] = { "submitting",
	    T(JOB_RECORDING) | T(JOB_DOWNLOADING) | T(JOB_DISK_WAIT) |
		T(JOB_FINISHING) | T(JOB_CANCELED) | T(JOB_DONE),
	    LEASE },
	[JOB_RECORDING] = { "recording",
	    T(JOB_WAITING) | T(JOB_DOWNLOADING) | T(JOB_DISK_WAIT) |
		T(JOB_FINISHING) | T(JOB_HANDING_BACK) | T(JOB_CANCELED) |
		T(JOB_DONE),
	    LEASE | PAST },
	[JOB_WAITING] = { "waiting",
	    T(JOB_POLLING) | T(JOB_FINISHING) | T(JOB_HANDING_BACK) |
		T(JOB_CANCELED) | T(JOB_DONE),
	    LEASE | DRAIN },
	[JOB_POLLING] = { "polling",
	    T(JOB_PROGRESSING) | T(JOB_WAITING) | T(JOB_DOWNLOADING) |
		T(JOB_DISK_WAIT) | T(JOB_FINISHING) | T(JOB_HANDING_BACK) |
		T(JOB_CANCELED) | T(JOB_DONE),
	    LEASE | DRAIN },
	[JOB_PROGRESSING] = { "progressing",
	    T(JOB_WAITING) | T(JOB_HANDING_BACK) | T(JOB_CANCELED) |
		T(JOB_DONE),
	    LEASE },
	[JOB_DISK_WAIT] = { "waiting for the disk",
	    T(JOB_DOWNLOADING) | T(JOB_FINISHING) | T(JOB_HANDING_BACK) |
		T(JOB_CANCELED) | T(JOB_DONE),
	    LEASE | DRAIN },
	[JOB_DOWNLOADING] = { "downloading",
	    T(JOB_STORING) | T(JOB_FINISHING) | T(JOB_HANDING_BACK) |
		T(JOB_CANCELED) | T(JOB_DONE),
	    LEASE | DRAIN },
	[JOB_STORING] = { "storing",
	    T(JOB_FINISHING) | T(JOB_CANCELED) | T(JOB_DONE), LEASE },
	[JOB_FINISHING] = { "finishing",
	    T(JOB_ACKING) | T(JOB_CANCELED) | T(JOB_DONE),
	    LEASE | PAST | ENDS },
	[JOB_HANDING_BACK] = { "handing back",
	    T(JOB_ACKING) | T(JOB_CANCELED) | T(JOB_DONE), LEASE | ENDS },
	/* The row is final: no lease to renew; its image is removed. */
	[JOB_CANCELED] = { "canceled", T(JOB_ACKING) | T(JOB_DONE), 0 },
	[JOB_ACKING] = { "acking", T(JOB_DONE), 0 },
	[JOB_DONE] = { "done", 0, 0 },
};

static void job_reap_cb(evutil_socket_t, short, void *);

int
job_set_init(struct job_set *js, struct scenegend *sg, void (*reaped)(void *),
    void *arg)
{
	int i;

	memset(js, 0, sizeof(*js));
	for (i = 0; i < JOB_STATE__MAX; i++)
		TAILQ_INIT(&js->list[i]);
	js->reaped = reaped;
	js->reaped_arg = arg;
	js->refuse_once = -1;
	js->reaper = event_new(sg->base, -1, 0, job_reap_cb, sg);
	return js->reaper == NULL ? -1 : 0;
}

/* Free one job and everything it owns; it must be off every list. */
static void
job_free(struct job *job)
{
	int i;

	if (job->timer != NULL)
		event_free(job->timer);
	http_cancel(job->http);
	for (i = 0; i < job->wn; i++)
		free(job->wparams[i]);
	free(job->prompt);
	free(job->style);
	free(job->aspect_ratio);
	free(job->output_url);
	free(job->proxy_url);
	free(job->error);
	free(job);
}

void
job_set_free(struct job_set *js)
{
	struct job *job;
	int	    i;

	for (i = 0; i < JOB_STATE__MAX; i++) {
		for (job = TAILQ_FIRST(&js->list[i]); job != NULL;
		     job = TAILQ_FIRST(&js->list[i])) {
			TAILQ_REMOVE(&js->list[i], job, entry);
			job_free(job);
		}
		js->count[i] = 0;
	}
	js->total = 0;
	if (js->reaper != NULL)
		event_free(js->reaper);
	js->reaper = NULL;
}

static void
job_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job *job = arg;
	void (*fn)(struct job *) = job->timer_fn;

	job->timer_fn = NULL;
	if (fn != NULL && job->state != JOB_DONE)
		fn(job);
}

struct job *
job_new(struct scenegend *sg, const char *entry_id, const char *record_id)
{
	struct job *job;
	size_t	    len;

	job = calloc(1, sizeof(*job));
	if (job == NULL)
		return NULL;
	job->sg = sg;
	job->timer = evtimer_new(sg->base, job_timer_cb, job);
	if (job->timer == NULL || uuid_generate(job->lease_token) == -1) {
		if (job->timer != NULL)
			event_free(job->timer);
		free(job);
		return NULL;
	}
	len = strlen(entry_id);
	if (len >= sizeof(job->entry_id))
		len = sizeof(job->entry_id) - 1;
	memcpy(job->entry_id, entry_id, len);
	memcpy(job->record_id, record_id, UUID_STR_LEN);
	job->eta = -1;
	job->generation_time = -1;
	job->state = JOB_CLAIMING;
	job->claimed_mono = clock_mono_ms();
	TAILQ_INSERT_TAIL(&sg->jobs.list[JOB_CLAIMING], job, entry);
	sg->jobs.count[JOB_CLAIMING]++;
	sg->jobs.total++;
	return job;
}

/* Move job from its list to the list of state to. */
static void
job_move(struct job *job, enum job_state to)
{
	struct job_set *js = &job->sg->jobs;

	TAILQ_REMOVE(&js->list[job->state], job, entry);
	js->count[job->state]--;
	TAILQ_INSERT_TAIL(&js->list[to], job, entry);
	js->count[to]++;
	log_debug("job %s: %s -> %s", job->record_id,
	    job_states[job->state].name, job_states[to].name);
	job->state = to;
}

int
job_set_state(struct job *job, enum job_state to)
{
	struct job_set *js = &job->sg->jobs;
	enum job_state	from = job->state;
	int		allowed;

	if (from == to)
		return 0;
	allowed = (job_states[from].next & T(to)) != 0;
	if (allowed && js->refuse_once == (int)to) {
		js->refuse_once = -1;
		allowed = 0;
		log_warn("job %s: refusing the change to %s once, as "
			 "SCENEGEN_DEBUG_REFUSE_STATE asks",
		    job->record_id, job_states[to].name);
	}
	if (!allowed) {
		log_msg(LOG_CRIT,
		    "job %s: refused state change %s -> %s: a bug in "
		    "scenegend; the job is abandoned and its record resumed "
		    "when the lease lapses",
		    job->record_id, job_states[from].name, job_states[to].name);
		job_abandon(job, "a refused state change");
		return -1;
	}
	job_move(job, to);
	return 0;
}

int
job_state_by_name(const char *name)
{
	int s;

	for (s = 0; s < JOB_STATE__MAX; s++)
		if (strcmp(job_states[s].name, name) == 0)
			return s;
	return -1;
}

int
job_has(const struct job *job, unsigned int flag)
{
	return (job_states[job->state].flags & flag) != 0;
}

size_t
job_active(const struct scenegend *sg)
{
	return sg->jobs.total - sg->jobs.count[JOB_DONE];
}

void
job_reap_soon(struct scenegend *sg)
{
	if (sg->jobs.reaper != NULL)
		event_active(sg->jobs.reaper, 0, 0);
}

/* The reaper: free DONE jobs nothing is waiting on, then refill slots. */
static void
job_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct scenegend *sg = arg;
	struct job_set	 *js = &sg->jobs;
	struct job	 *job, *next;

	for (job = TAILQ_FIRST(&js->list[JOB_DONE]); job != NULL; job = next) {
		next = TAILQ_NEXT(job, entry);
		if (job->busy > 0)
			continue;
		TAILQ_REMOVE(&js->list[JOB_DONE], job, entry);
		js->count[JOB_DONE]--;
		js->total--;
		job_free(job);
	}
	if (js->reaped != NULL)
		js->reaped(js->reaped_arg);
}

void
job_cancel_work(struct job *job)
{
	evtimer_del(job->timer);
	job->timer_fn = NULL;
	http_cancel(job->http);
	job->http = NULL;
}

void
job_done(struct job *job)
{
	job_cancel_work(job);
	if (job->state == JOB_DONE)
		return;
	/* DONE is reachable from every other state. */
	job_move(job, JOB_DONE);
	job_reap_soon(job->sg);
}

int
job_lease_valid(const struct job *job)
{
	return !job->lease_lost && clock_mono_ms() < job->lease_deadline;
}

void
job_abandon(struct job *job, const char *why)
{
	if (job->state == JOB_DONE)
		return;
	log_warn("job %s: abandoned without writing (%s); the lease and the "
		 "sweeper bring it back",
	    job->record_id, why);
	job->sg->counters.abandoned++;
	job_done(job);
}

void
job_timer(struct job *job, double seconds, void (*fn)(struct job *))
{
	struct timeval tv;

	if (seconds < 0)
		seconds = 0;
	tv.tv_sec = (long)seconds;
	tv.tv_usec = (long)((seconds - (double)tv.tv_sec) * 1e6);
	job->timer_fn = fn;
	evtimer_add(job->timer, &tv);
}

static void job_write_send(struct job *);

/*
 * Retry a write the database could not take, after a short wait: 0.5 s,
 * then every second. A write that waits holds what the row does not know
 * yet (the provider's id, the outcome); once PostgreSQL is back it must
 * land before the lease lapses and another worker claims the row (and
 * pays the provider again), so the wait stays well under a lease.
 */
static void
job_write_later(struct job *job)
{
	double wait;

	job->wtries++;
	wait = job->wtries < 2 ? 0.5 : 1.0;
	job_timer(job, wait, job_write_send);
}

/* The answer to STMT_CANCELED after a write that changed nothing. */
static void
job_lost_cb(const PGresult *res, const char *err, void *arg)
{
	struct job *job = arg;

	job->busy--;
	if (job->state == JOB_DONE) {
		job_reap_soon(job->sg);
		return;
	}
	if (res != NULL && err == NULL && db_rows(res) == 1 &&
	    job->sg->jobs.canceled != NULL) {
		if (job->sg->jobs.changed != NULL)
			job->sg->jobs.changed(job, res,
			    sql_statements[STMT_CANCELED].doc_col);
		job->sg->jobs.canceled(job);
		return;
	}
	job_abandon(job, "the lease was lost: the row is not ours");
}

/*
 * A guarded write changed nothing: the row was canceled by its owner,
 * or another worker has it. Ask which; if the question cannot be sent,
 * the job is abandoned (a canceled row is dropped by whoever claims its
 * entry next).
 */
static void
job_write_lost(struct job *job)
{
	struct db_reply r = { job_lost_cb, job };
	const char     *params[1];

	params[0] = job->record_id;
	if (db_query(job->sg->db, STMT_CANCELED, 1, params, r) == -1) {
		job_abandon(job, "the lease was lost: the row is not ours");
		return;
	}
	job->busy++;
}

/* The database answered a guarded write. */
static void
job_write_cb(const PGresult *res, const char *err, void *arg)
{
	struct job *job = arg;
	long	    rows;

	job->busy--;
	if (job->state == JOB_DONE) {
		job_reap_soon(job->sg);
		return;
	}
	if (res == NULL) {
		if (job->wtries == 0)
			log_warn("job %s: database: %s; trying again",
			    job->record_id, err);
		job_write_later(job);
		return;
	}
	if (err != NULL) {
		log_err("job %s: %s refused: %s", job->record_id,
		    sql_statements[job->wstmt].name, err);
		job_abandon(job, "the database refused the write");
		return;
	}
	rows = db_rows(res);
	if (rows == 0) {
		job_write_lost(job);
		return;
	}
	if (job->sg->jobs.changed != NULL &&
	    sql_statements[job->wstmt].doc_col > 0)
		job->sg->jobs.changed(job, res,
		    sql_statements[job->wstmt].doc_col);
	if (job->lease_lost && !job_has(job, JOB_ENDS_LEASE)) {
		job_abandon(job, "the lease was not renewed");
		return;
	}
	job->wdone(job, rows, db_value(res, 0, 0));
}

/* Send (or send again) the job's pending write. */
static void
job_write_send(struct job *job)
{
	struct db_reply r = { job_write_cb, job };

	/*
	 * Some writes are worth trying past our own deadline (say
	 * PostgreSQL was down longer than the lease): the WHERE lease_token
	 * guard refuses them if anyone claimed the row since, and otherwise
	 * the row is still ours.
	 */
	if (!job_lease_valid(job) && !job_has(job, JOB_WRITES_PAST_DEADLINE)) {
		job_abandon(job,
		    job->lease_lost ?
			"the lease was not renewed" :
			"the lease ran out before the row could be written");
		return;
	}
	if (db_query(job->sg->db, job->wstmt, job->wn,
		(const char *const *)job->wparams, r) == -1) {
		if (job->wtries == 0)
			log_warn("job %s: database unavailable; trying again",
			    job->record_id);
		job_write_later(job);
		return;
	}
	job->busy++;
}

int
job_write(struct job *job, int stmt, int n, const char *const *params,
    void (*done)(struct job *, long, const char *))
{
	int i;

	for (i = 0; i < job->wn; i++)
		free(job->wparams[i]);
	job->wn = 0;
	if (n > (int)(sizeof(job->wparams) / sizeof(job->wparams[0])))
		return -1;
	for (i = 0; i < n; i++) {
		job->wparams[i] = NULL;
		if (params[i] == NULL)
			continue;
		job->wparams[i] = strdup(params[i]);
		if (job->wparams[i] == NULL) {
			job->wn = i;
			return -1;
		}
	}
	job->wn = n;
	job->wstmt = stmt;
	job->wdone = done;
	job->wtries = 0;
	job_write_send(job);
	return 0;
}

void
job_write_in(struct job *job, enum job_state state, int stmt, int n,
    const char *const *params, void (*done)(struct job *, long, const char *))
{
	if (job_set_state(job, state) == -1)
		return;
	if (job_write(job, stmt, n, params, done) == -1)
		job_abandon(job, "out of memory");
}
