/*
 * job.h: one record being worked on, and its state machine.
 *
 * A job is made when a stream entry arrives and lives in exactly one list,
 * the list of its state; job_set_state() is the only way to change state
 * and refuses transitions the table does not allow. A job owns its timer,
 * its HTTP transfer and copies of its row's fields. It is freed by the
 * reaper event, after the callback that finished it has returned, and
 * only once no database or Redis reply is still due to it (busy == 0).
 */
#ifndef SCENEGEND_JOB_H
#define SCENEGEND_JOB_H

#include <stdint.h>
#include <sys/queue.h>

#include <libpq-fe.h>

#include "uuid.h"

struct scenegend;
struct event;
struct http_req;
struct job;

enum job_state {
	JOB_CLAIMING,	  /* claim UPDATE sent */
	JOB_SUBMITTING,	  /* create call at the provider */
	JOB_RECORDING,	  /* writing the provider's request id */
	JOB_WAITING,	  /* timer until the next fetch */
	JOB_POLLING,	  /* fetch call at the provider */
	JOB_PROGRESSING,  /* writing progress */
	JOB_DISK_WAIT,	  /* image ready; the writer has a backlog */
	JOB_DOWNLOADING,  /* fetching the image */
	JOB_STORING,	  /* the writer thread puts it on disk */
	JOB_FINISHING,	  /* final UPDATE (completed, failed, retry) */
	JOB_HANDING_BACK, /* shutdown: lease given back */
	JOB_CANCELED,	  /* its owner canceled the row: work dropped */
	JOB_ACKING,	  /* stream entry being acked or moved */
	JOB_DONE,	  /* waiting for the reaper */
	JOB_STATE__MAX
};

/*
 * What a state means for the lease, one bit each (job_states[].flags):
 * - HOLDS_LEASE: the job holds its row's lease; the heartbeat renews it
 *   and a lease that lapses stops the job.
 * - WRITES_PAST_DEADLINE: the state's write is worth sending after our
 *   own deadline (the provider's id, the final state): the row's
 *   lease_token guard refuses it if anyone claimed the row since.
 * - ENDS_LEASE: the state's write gives the lease up itself (final
 *   write, hand back): a renewal that misses it, or a lease lost while
 *   it runs, is expected, and its answer stands.
 * - HANDED_BACK_AT_DRAIN: a safe point: when the drain time is over the
 *   job is handed back at once (the others hand back at their next).
 */
#define JOB_HOLDS_LEASE		 0x1u
#define JOB_WRITES_PAST_DEADLINE 0x2u
#define JOB_ENDS_LEASE		 0x4u
#define JOB_HANDED_BACK_AT_DRAIN 0x8u

/* One row per state: its name, the states it may go to, its flags. */
struct job_state_info {
	const char  *name;
	unsigned int next;  /* bit t: may go to state t */
	unsigned int flags; /* JOB_HOLDS_LEASE ... */
};

extern const struct job_state_info job_states[JOB_STATE__MAX];

TAILQ_HEAD(job_list, job);

struct job_set {
	struct job_list list[JOB_STATE__MAX];
	size_t		count[JOB_STATE__MAX];
	size_t		total;
	struct event   *reaper; /* frees DONE jobs outside callbacks */
	/* Told after each reaping (the loop refills slots or stops). */
	void (*reaped)(void *);
	void *reaped_arg;
	/* Told when a guarded write found the job's row canceled. */
	void (*canceled)(struct job *);
	/*
	 * Told when a claim or write changed what the job's status document
	 * shows: the row's STATUS_COLUMNS are in res from column col on.
	 */
	void (*changed)(struct job *, const PGresult *res, int col);
	/* Testing aid: the first change into this state is refused. */
	int refuse_once; /* a job_state, or -1 */
};

struct job {
	TAILQ_ENTRY(job)  entry;
	struct scenegend *sg;
	enum job_state	  state;
	int		  busy; /* DB/Redis replies due */
	char		  record_id[UUID_STR_LEN + 1];
	char		  entry_id[64]; /* stream entry, "" if none */
	char		  lease_token[UUID_STR_LEN + 1];
	int64_t		  lease_deadline; /* monotonic ms */
	int		  lease_lost;
	int64_t		  claimed_mono;
	int		  holds_slot; /* its provider slot is ours to free */
	char		  owner_tier[32]; /* the row's, for dispatch */
	char		  owner_user[UUID_STR_LEN + 1];

	/* Copied from the claimed row. */
	char   *prompt;
	char   *style;
	char   *aspect_ratio;
	char	tier[32];
	long	attempts;
	long	retry_count;
	char	provider_id[128];  /* "" none */
	int64_t submitted_wall_ms; /* 0 unknown */
	double	eta;		   /* seconds, -1 */
	int	progress;

	/* Work in flight. */
	struct event	*timer;
	struct http_req *http;
	int		 fetch_errors; /* consecutive, this attempt */
	int64_t		 poll_started_mono;
	char		*output_url;
	char		*proxy_url;
	int		 download_try;
	double		 generation_time; /* -1 unknown */
	char		 model_used[128];
	char		*error; /* last error, for the row; NULL none */

	void (*timer_fn)(struct job *);

	/* The guarded write in flight (job_write). */
	int   wstmt;
	int   wn;
	char *wparams[8];
	/* Result of the write: rows changed, first column or NULL. */
	void (*wdone)(struct job *, long, const char *);
	int wtries;
};

/*
 * The jobs of sg, empty; reaped(arg) is called after every reaping.
 * -1 when out of memory.
 */
int  job_set_init(struct job_set *, struct scenegend *, void (*reaped)(void *),
     void *arg);
void job_set_free(struct job_set *);
/* A new job in JOB_CLAIMING; NULL when out of memory. */
struct job *job_new(struct scenegend *, const char *entry_id,
    const char *record_id);
/*
 * Move to state. A change the table forbids is a bug: it is logged as
 * one and the job is abandoned (DONE, no write, no ack: its lease lapses
 * and the sweeper resumes the record); -1 then, and the caller returns.
 */
int	    job_set_state(struct job *, enum job_state);
/* The state named name (job_states[].name), or -1. */
int	    job_state_by_name(const char *name);
/* Whether the job's state has flag (JOB_HOLDS_LEASE ...). */
int	    job_has(const struct job *, unsigned int flag);
/* Jobs that hold a slot: all but those DONE. */
size_t	    job_active(const struct scenegend *);
/* Stop the job's timer and its transfer (no callback comes). */
void	    job_cancel_work(struct job *);
/* Stop timers and transfers and mark the job DONE; no write is made. */
void	    job_done(struct job *);
/* Ask the reaper to run after the current callback. */
void	    job_reap_soon(struct scenegend *);
/* Whether the lease is still ours by our own clock. */
int	    job_lease_valid(const struct job *);
/*
 * A guarded UPDATE: statement stmt with params (copied). Transient
 * database errors are retried while the lease is valid; done() gets the
 * number of rows and the first column of the first row (or NULL). If the
 * lease runs out first the job is abandoned and done() is not called.
 * A write that changes nothing does not call done() either: when the
 * row was canceled by its owner the set's canceled() is told, else the
 * job is abandoned (its lease was lost).
 */
int	    job_write(struct job *, int stmt, int n, const char *const *params,
	    void (*done)(struct job *, long, const char *));
/* Arm the job's one timer to call fn(job) after seconds. */
void	    job_timer(struct job *, double seconds, void (*fn)(struct job *));
/* Give up a job whose lease is gone: no write, no ack. */
void	    job_abandon(struct job *, const char *why);
/*
 * Enter state, then job_write(); a job that cannot (out of memory) is
 * abandoned. The usual step before each guarded write.
 */
void	    job_write_in(struct job *, enum job_state, int stmt, int n,
	   const char *const *params, void (*done)(struct job *, long, const char *));

#endif
