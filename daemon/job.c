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

const char *const job_state_names[JOB_STATE__MAX] = {
	"claiming",
	"submitting",
	"recording",
	"waiting",
	"polling",
	"progressing",
	"waiting for the disk",
	"downloading",
	"storing",
	"finishing",
	"handing back",
	"acking",
	"done",
};

#define T(s)	(1u << (s))

/* Allowed transitions: bit t of job_next[s] allows s -> t. */
static const unsigned int job_next[JOB_STATE__MAX] = {
	[JOB_CLAIMING] = T(JOB_SUBMITTING) | T(JOB_WAITING) |
	    T(JOB_FINISHING) | T(JOB_ACKING) | T(JOB_HANDING_BACK) |
	    T(JOB_DONE),
	[JOB_SUBMITTING] = T(JOB_RECORDING) | T(JOB_DOWNLOADING) |
	    T(JOB_DISK_WAIT) |
	    T(JOB_FINISHING) | T(JOB_DONE),
	[JOB_RECORDING] = T(JOB_WAITING) | T(JOB_DOWNLOADING) |
	    T(JOB_DISK_WAIT) |
	    T(JOB_FINISHING) | T(JOB_HANDING_BACK) | T(JOB_DONE),
	[JOB_WAITING] = T(JOB_POLLING) | T(JOB_FINISHING) |
	    T(JOB_HANDING_BACK) | T(JOB_DONE),
	[JOB_POLLING] = T(JOB_PROGRESSING) | T(JOB_WAITING) |
	    T(JOB_DOWNLOADING) | T(JOB_DISK_WAIT) | T(JOB_FINISHING) |
	    T(JOB_HANDING_BACK) |
	    T(JOB_DONE),
	[JOB_PROGRESSING] = T(JOB_WAITING) | T(JOB_HANDING_BACK) |
	    T(JOB_DONE),
	[JOB_DISK_WAIT] = T(JOB_DOWNLOADING) | T(JOB_FINISHING) |
	    T(JOB_HANDING_BACK) | T(JOB_DONE),
	[JOB_DOWNLOADING] = T(JOB_STORING) | T(JOB_FINISHING) |
	    T(JOB_HANDING_BACK) | T(JOB_DONE),
	[JOB_STORING] = T(JOB_FINISHING) | T(JOB_DONE),
	[JOB_FINISHING] = T(JOB_ACKING) | T(JOB_DONE),
	[JOB_HANDING_BACK] = T(JOB_ACKING) | T(JOB_DONE),
	[JOB_ACKING] = T(JOB_DONE),
	[JOB_DONE] = 0,
};

static void	job_reap_cb(evutil_socket_t, short, void *);

int
job_set_init(struct job_set *js, struct scenegend *sg)
{
	int	i;

	memset(js, 0, sizeof(*js));
	for (i = 0; i < JOB_STATE__MAX; i++)
		TAILQ_INIT(&js->list[i]);
	js->reaper = event_new(sg->base, -1, 0, job_reap_cb, sg);
	return js->reaper == NULL ? -1 : 0;
}

/* Free one job and everything it owns; it must be off every list. */
static void
job_free(struct job *job)
{
	int	i;

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
	free(job);
}

void
job_set_free(struct job_set *js)
{
	struct job	*job;
	int		 i;

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
	struct job	*job = arg;
	void		(*fn)(struct job *) = job->timer_fn;

	job->timer_fn = NULL;
	if (fn != NULL && job->state != JOB_DONE)
		fn(job);
}

struct job *
job_new(struct scenegend *sg, const char *entry_id, const char *record_id)
{
	struct job	*job;
	size_t		 len;

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

int
job_set_state(struct job *job, enum job_state to)
{
	struct job_set	*js = &job->sg->jobs;
	enum job_state	 from = job->state;

	if (from == to)
		return 0;
	if ((job_next[from] & T(to)) == 0) {
		log_err("job %s: refused state change %s -> %s (a bug)",
		    job->record_id, job_state_names[from],
		    job_state_names[to]);
		return -1;
	}
	TAILQ_REMOVE(&js->list[from], job, entry);
	js->count[from]--;
	TAILQ_INSERT_TAIL(&js->list[to], job, entry);
	js->count[to]++;
	job->state = to;
	log_debug("job %s: %s -> %s", job->record_id, job_state_names[from],
	    job_state_names[to]);
	return 0;
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
	struct scenegend	*sg = arg;
	struct job_set		*js = &sg->jobs;
	struct job		*job, *next;

	for (job = TAILQ_FIRST(&js->list[JOB_DONE]); job != NULL; job = next) {
		next = TAILQ_NEXT(job, entry);
		if (job->busy > 0)
			continue;
		TAILQ_REMOVE(&js->list[JOB_DONE], job, entry);
		js->count[JOB_DONE]--;
		js->total--;
		job_free(job);
	}
	if (sg->draining && js->total == 0)
		scenegend_drained(sg);
	else
		scenegend_kick(sg);
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
	if (job_set_state(job, JOB_DONE) == -1) {
		/* Cannot happen (DONE is reachable from all but DONE). */
		return;
	}
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
	    "sweeper bring it back", job->record_id, why);
	job->sg->counters.abandoned++;
	job_done(job);
}

void
job_timer(struct job *job, double seconds, void (*fn)(struct job *))
{
	struct timeval	tv;

	if (seconds < 0)
		seconds = 0;
	tv.tv_sec = (long)seconds;
	tv.tv_usec = (long)((seconds - (double)tv.tv_sec) * 1e6);
	job->timer_fn = fn;
	evtimer_add(job->timer, &tv);
}

static void	job_write_send(struct job *);

/* Retry a write the database could not take, after a short wait. */
static void
job_write_later(struct job *job)
{
	double	wait;

	job->wtries++;
	wait = job->wtries < 5 ? 0.25 * (double)(1 << job->wtries) : 5.0;
	job_timer(job, wait, job_write_send);
}

/* The database answered a guarded write. */
static void
job_write_cb(const PGresult *res, const char *err, void *arg)
{
	struct job	*job = arg;
	long		 rows;

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
		job_abandon(job, "the lease was lost: the row is not ours");
		return;
	}
	if (job->lease_lost && job->state != JOB_FINISHING &&
	    job->state != JOB_HANDING_BACK) {
		job_abandon(job, "the lease was not renewed");
		return;
	}
	job->wdone(job, rows, db_value(res, 0, 0));
}

/* Send (or send again) the job's pending write. */
static void
job_write_send(struct job *job)
{
	struct db_reply	r = { job_write_cb, job };

	/*
	 * Recording the provider's id and the final write are worth trying
	 * past our own deadline (say PostgreSQL was down longer than the
	 * lease): the WHERE lease_token guard refuses them if anyone claimed
	 * the row since, and otherwise the row is still ours.
	 */
	if (!job_lease_valid(job) && job->state != JOB_RECORDING &&
	    job->state != JOB_FINISHING) {
		job_abandon(job, job->lease_lost ? "the lease was not renewed" :
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
	int	i;

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
