/*
 * fuzz_redis_msg: what scenegend reads from Redis about a job. The
 * bytes are Redis protocol (RESP2) as a server, or anything on the path
 * to it, could send; hiredis's reader (the one the daemon links) builds
 * the replies, and they go to the daemon's own readers in daemon/queue.c:
 *  mode 0  queue_read_cb()      the answer to XREADGROUP;
 *  mode 1  queue_autoclaim_cb() the answer to XAUTOCLAIM;
 *  mode 2  queue_entries()      a bare list of stream entries.
 * A reply of the error type goes in with its text as the error, as
 * queue_cmd_cb() does.
 *
 * Those functions are static, so this file includes daemon/queue.c: no
 * code is copied, and the harness follows the file as it changes. The
 * daemon's owner may instead expose a pure parser of one entry (see
 * fuzz/README); the entry hook below checks what reaches the jobs:
 * an entry id of 1..63 bytes and a record id that is NULL or a UUID.
 */
/*
 * Each entry read goes to Redis first (the ADMIT script of dispatch)
 * before the hook sees it: the harness stands in for that command,
 * checks what would be sent, and answers "run it".
 */
#define rconn_send fuzz_rconn_send
#define rconn_eval fuzz_rconn_eval
#include "../daemon/queue.c"
#undef rconn_send
#undef rconn_eval
#include "../daemon/redis.c"

#include <hiredis/read.h>

#include "fuzz.h"

/* The context the hooks get; nothing in queue.c reads it here. */
static struct scenegend	  fuzz_sg;
static struct settings	  fuzz_cfg;
static struct event_base *fuzz_base;
static struct queue	  fuzz_q;
static long		  fuzz_entries;
/* Strings Redis sent first in an array of two or more: entry ids. */
static const redisReply	 *fuzz_ids[4096];
static size_t		  fuzz_nids;

static void
fuzz_collect_ids(const redisReply *r)
{
	size_t i;

	if (r->type != REDIS_REPLY_ARRAY)
		return;
	if (r->elements >= 2 && r->element[0]->type == REDIS_REPLY_STRING &&
	    fuzz_nids < sizeof(fuzz_ids) / sizeof(fuzz_ids[0]))
		fuzz_ids[fuzz_nids++] = r->element[0];
	for (i = 0; i < r->elements; i++)
		fuzz_collect_ids(r->element[i]);
}

/* 1 if id is, byte for byte and whole, a string Redis sent as an id. */
static int
fuzz_sent_id(const char *id)
{
	size_t i, len = strlen(id);

	for (i = 0; i < fuzz_nids; i++)
		if (fuzz_ids[i]->len == len &&
		    memcmp(fuzz_ids[i]->str, id, len) == 0)
			return 1;
	return fuzz_nids == sizeof(fuzz_ids) / sizeof(fuzz_ids[0]);
}

static void
fuzz_entry(struct scenegend *sg, const char *entry_id, const char *record_id)
{
	size_t len;

	FUZZ_CHECK(sg == &fuzz_sg);
	FUZZ_CHECK(entry_id != NULL);
	/*
	 * The id acked later is this C string: it must be the whole id
	 * Redis sent, not one cut at a NUL byte (fixed in c020f69;
	 * fuzz/regressions/fuzz_redis_msg/redis-entry-id-nul-cut).
	 */
	len = strlen(entry_id);
	FUZZ_CHECK(len >= 1 && len < 64);
	FUZZ_CHECK(fuzz_sent_id(entry_id));
	if (record_id != NULL)
		FUZZ_CHECK(uuid_is_valid(record_id));
	fuzz_entries++;
}

/* Nothing but ADMIT is connected. */
int
fuzz_rconn_send(struct rconn *rc, int argc, const char **argv,
    const size_t *lens, void (*fn)(redisReply *, const char *, void *),
    void	 *arg)
{
	FUZZ_CHECK(argc >= 1);
	return -1;
}

/* The script queue.c runs: ADMIT is answered 1 (run the entry). */
int
fuzz_rconn_eval(struct rconn *rc, struct redis_script *s, int argc,
    const char **argv, const size_t			 *lens,
    void (*fn)(redisReply *, const char *, void *), void *arg)
{
	redisReply one = { .type = REDIS_REPLY_INTEGER, .integer = 1 };

	FUZZ_CHECK(argc >= 1);
	if (argc != 6 || s != &queue_lua_admit)
		return -1; /* nothing else is connected */
	FUZZ_CHECK(uuid_is_valid(argv[3]));
	FUZZ_CHECK(strlen(argv[5]) >= 1 && strlen(argv[5]) < 64);
	fn(&one, NULL, arg);
	return 0;
}

/* 1 if s is a stream id, "<digits>-<digits>". */
static int
fuzz_stream_id(const char *s)
{
	size_t ms = strspn(s, "0123456789"), seq;

	if (ms == 0 || s[ms] != '-')
		return 0;
	seq = strspn(s + ms + 1, "0123456789");
	return seq > 0 && s[ms + 1 + seq] == '\0';
}

static void
fuzz_read_done(struct scenegend *sg)
{
	FUZZ_CHECK(sg == &fuzz_sg);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz_redis_msg",
	    getenv("FUZZ_VERBOSE") != NULL ? LOG_DEBUG : LOG_EMERG);
	fuzz_cfg.consumer = "fuzz:1";
	fuzz_sg.cfg = &fuzz_cfg;
	fuzz_base = event_base_new();
	if (fuzz_base == NULL)
		abort();
	return 0;
}

/* A queue as queue_new() leaves it, without connecting to anything. */
static void
fuzz_queue_reset(struct queue *q)
{
	memset(q, 0, sizeof(*q));
	TAILQ_INIT(&q->admits);
	q->sg = &fuzz_sg;
	q->hooks.entry = fuzz_entry;
	q->hooks.read_done = fuzz_read_done;
	q->cmd.arg = q;
	q->cmd.name = "command";
	q->rd.arg = q;
	q->rd.name = "read";
	q->group_ready = 1;
	snprintf(q->claim_cursor, sizeof(q->claim_cursor), "0-0");
	q->read_retry = evtimer_new(fuzz_base, queue_read_retry_cb, q);
	if (q->read_retry == NULL)
		abort();
}

/*
 * 1 if data announces a multi-bulk of more than FUZZ_MAX_ELEMENTS. The
 * reader of hiredis 0.14 allocates 8 bytes per announced element before
 * any arrives (hiredis 1.0 added maxelements): "*300000000" alone costs
 * 2.4 GB. That is hiredis, not us, and it would stop every run, so such
 * inputs are skipped (reported, not a bug of scenegend's code).
 */
#define FUZZ_MAX_ELEMENTS 100000

static int
fuzz_huge_array(const uint8_t *data, size_t size)
{
	size_t	      i;
	unsigned long n;

	for (i = 0; i < size; i++) {
		if (data[i] != '*')
			continue;
		for (n = 0;
		     i + 1 < size && data[i + 1] >= '0' && data[i + 1] <= '9';
		     i++) {
			n = n * 10 + (unsigned long)(data[i + 1] - '0');
			if (n > FUZZ_MAX_ELEMENTS)
				return 1;
		}
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	redisReader *rd;
	redisReply  *reply;
	void	    *r;
	const char  *err;
	int	     mode, i;

	if (size < 1 || fuzz_huge_array(data, size))
		return 0;
	mode = data[0] % 3;
	fuzz_queue_reset(&fuzz_q);
	rd = redisReaderCreate();
	if (rd == NULL)
		abort();
	if (redisReaderFeed(rd, (const char *)data + 1, size - 1) != REDIS_OK)
		goto out;
	/* Every complete reply in the input, as they would arrive. */
	for (i = 0; i < 16; i++) {
		r = NULL;
		if (redisReaderGetReply(rd, &r) != REDIS_OK || r == NULL)
			break;
		reply = r;
		fuzz_nids = 0;
		fuzz_collect_ids(reply);
		err = NULL;
		if (reply->type == REDIS_REPLY_ERROR)
			err = reply->str != NULL ? reply->str : "error";
		switch (mode) {
		case 0:
			fuzz_q.reading = 1;
			queue_read_cb(reply, err, &fuzz_q);
			FUZZ_CHECK(fuzz_q.reading == 0);
			break;
		case 1:
			fuzz_q.claiming = 1;
			queue_autoclaim_cb(reply, err, &fuzz_q);
			FUZZ_CHECK(fuzz_q.claiming == 0);
			FUZZ_CHECK(strnlen(fuzz_q.claim_cursor,
				       sizeof(fuzz_q.claim_cursor)) <
			    sizeof(fuzz_q.claim_cursor));
			/*
			 * The next XAUTOCLAIM starts at the cursor: one that
			 * is no stream id fails every later call.
			 */
			FUZZ_CHECK_KNOWN("redis-claim-cursor",
			    fuzz_stream_id(fuzz_q.claim_cursor));
			break;
		default:
			queue_entries(&fuzz_q, reply);
			break;
		}
		freeReplyObject(reply);
	}
	/* The connection lost while the command was out. */
	if (mode == 0)
		queue_read_cb(NULL, "connection lost", &fuzz_q);
	else if (mode == 1)
		queue_autoclaim_cb(NULL, "connection lost", &fuzz_q);
out:
	redisReaderFree(rd);
	event_free(fuzz_q.read_retry);
	return 0;
}
