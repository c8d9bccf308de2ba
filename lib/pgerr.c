/* PostgreSQL error classes and messages; see pgerr.h. */
#include <string.h>

#include "pgerr.h"

/*
 * The SQLSTATEs (or classes, by their first two characters) that are
 * transient, each with the reason; everything else is permanent: the
 * same statement with the same values fails the same way (22 data
 * exception, 23 integrity constraint, 28 bad password, 3D000 no such
 * database, 42 syntax or missing table, 54 program limit, 58 system or
 * I/O error and XX internal error, which need a person, 57P04 the
 * database was dropped, 40002 a deferred constraint failed at commit).
 */
static const struct {
	const char *state;
	size_t	    len; /* 2: a whole class */
} pgerr_transient_states[] = {
	/* Connection exception: the link broke; a new one may work. */
	{ "08", 2 },
	/*
	 * Read-only transaction: we reached a standby (a failover in
	 * progress) or writes are switched off for a while.
	 */
	{ "25006", 5 },
	/*
	 * Idle-in-transaction timeout: the server closed the session;
	 * a new connection runs the statement.
	 */
	{ "25P03", 5 },
	/*
	 * Prepared statement missing on this connection (its Parse was
	 * skipped in a failed pipeline batch, or the session was reset):
	 * preparing it again fixes it.
	 */
	{ "26000", 5 },
	/*
	 * Transaction rollback: serialization failure (40001), deadlock
	 * (40P01), statement completion unknown (40003); the server rolled
	 * back so that the statement can be run again. 40002 is below.
	 */
	{ "40", 2 },
	/* Insufficient resources (disk full, memory, connections): frees up. */
	{ "53", 2 },
	/* Lock not available (lock_timeout, NOWAIT): the holder finishes. */
	{ "55P03", 5 },
	/*
	 * Operator intervention: query canceled or statement timeout
	 * (57014, a busy server), admin or crash shutdown (57P01,
	 * 57P02), cannot connect now (57P03, starting up or in
	 * recovery), idle session timeout (57P05). 57P04 is below.
	 */
	{ "57", 2 },
};

/* Within a transient class, the states that are permanent after all. */
static const char *const pgerr_permanent_states[] = {
	"40002", /* a deferred constraint failed: it fails again */
	"57P04", /* the database was dropped: it does not come back */
};

int
pgerr_transient(const char *state)
{
	size_t i;

	if (state == NULL || strlen(state) != 5)
		return 1;
	for (i = 0; i <
	     sizeof(pgerr_permanent_states) / sizeof(pgerr_permanent_states[0]);
	     i++)
		if (strcmp(state, pgerr_permanent_states[i]) == 0)
			return 0;
	for (i = 0; i <
	     sizeof(pgerr_transient_states) / sizeof(pgerr_transient_states[0]);
	     i++)
		if (strncmp(state, pgerr_transient_states[i].state,
			pgerr_transient_states[i].len) == 0)
			return 1;
	return 0;
}

const char *
pgerr_flatten(const char *msg, char *out, size_t outlen)
{
	const unsigned char *m;
	size_t		     n = 0;

	if (outlen == 0)
		return out;
	if (msg == NULL || *msg == '\0')
		msg = "unknown error";
	for (m = (const unsigned char *)msg; *m != '\0' && n + 1 < outlen;
	     m++) {
		if (*m == '\n' || *m == '\r' || *m == '\t') {
			if (n > 0 && out[n - 1] != ' ')
				out[n++] = ' ';
			continue;
		}
		if (*m < 0x20 || *m == 0x7f)
			continue;
		out[n++] = (char)*m;
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	return out;
}
