/*
 * queue.h: the Redis side of scenegend, hiredis async on libevent.
 *
 * Two connections: one only for the blocking XREADGROUP, one for every
 * other command. Each reconnects by itself with a growing delay; hiredis
 * 0.14 has no command timeouts, so a connection that owes a reply for too
 * long is dropped and made again. Moves between the stream and the
 * delayed set are small Lua scripts, so each is atomic.
 */
#ifndef SCENEGEND_QUEUE_H
#define SCENEGEND_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

struct scenegend;
struct queue;
struct redis_script;

/*
 * Result of one command, called exactly once per accepted command: reply
 * NULL when the connection failed (err says why); reply set and err set
 * for an error reply; err NULL otherwise. The reply is hiredis's: it is
 * freed after the callback returns, never by the callee.
 */
struct queue_reply {
	void (*fn)(redisReply *reply, const char *err, void *arg);
	void *arg;
};

/*
 * An entry read from the stream: record_id is NULL when the entry carries
 * no valid record id (malformed). Both strings live only for the call.
 */
struct queue_hooks {
	void (*entry)(struct scenegend *, const char *entry_id,
	    const char *record_id);
	void (*ready)(struct scenegend *);     /* group exists, conn up */
	void (*read_done)(struct scenegend *); /* read may restart */
};

/* Connect; NULL with err set when REDIS_URL is bad or out of memory. */
struct queue *queue_new(struct scenegend *, struct queue_hooks, char *err,
    size_t errlen);
/* Close both connections; pending callbacks are not called. */
void	      queue_free(struct queue *);
/* 1 when the command connection is up and the group exists. */
int	      queue_ready(const struct queue *);
/* Read up to count new entries (BLOCK 1000) unless a read is running. */
void	      queue_read(struct queue *, long count);
/* Whether a read is in flight. */
int	      queue_reading(const struct queue *);
/* No read and no command waiting for its reply. */
int	      queue_idle(const struct queue *);
/* Take over up to count entries idle longer than min_idle_ms. */
void	      queue_autoclaim(struct queue *, long min_idle_ms, long count);
/* XACK + XDEL of one entry. */
int queue_ack(struct queue *, const char *entry_id, struct queue_reply);
/* How a job that held a provider slot gives it up (dispatch.h). */
enum queue_release_how {
	RELEASE_DONE,  /* final */
	RELEASE_DELAY, /* a retry, due at due_ms */
	RELEASE_BACK   /* handed back: first of its user's jobs again */
};
struct queue_release {
	enum queue_release_how how;
	const char	      *entry_id; /* "" if none */
	const char	      *record_id;
	int64_t		       due_ms;
	const char	      *tier; /* "" unknown */
	const char	      *user; /* "" unknown */
};
/* Free the record's slot, park or return the job, ack the entry. */
int    queue_release(struct queue *, const struct queue_release *,
       struct queue_reply);
/* Publish the dispatch settings; waiting jobs take free slots. */
void   queue_tick(struct queue *);
/* Entries read whose dispatch answer is still due. */
size_t queue_admitting(const struct queue *);
/* XADD the record again and ack the entry (entry_id may be ""). */
int  queue_requeue(struct queue *, const char *entry_id, const char *record_id,
     struct queue_reply);
/* Move due members of the delayed set back to their user's list. */
void queue_move_due(struct queue *);
/* Any other command on the command connection. */
int  queue_command(struct queue *, int argc, const char **argv,
     const size_t *lens, struct queue_reply);
/* Run script s (EVALSHA) with argv = numkeys, keys, args. */
int  queue_eval(struct queue *, struct redis_script *s, int argc,
     const char **argv, const size_t *lens, struct queue_reply);
/* Whether s (len bytes) is a stream entry id: digits "-" digits. */
int  queue_entry_id_valid(const char *s, size_t len);
/* Check for connections that owe a reply for too long (1 s timer). */
void queue_watch(struct queue *);

#endif
