/*
 * PostgreSQL errors, one rule for every program: which SQLSTATEs are
 * worth trying again later (the API answers 503, the daemon retries the
 * statement) and which are not (the API answers 500, the daemon gives
 * the job up), and libpq's messages flattened to one bounded log line.
 * Plain strings only, so no program needs libpq to link this.
 */
#ifndef SCENEGEN_PGERR_H
#define SCENEGEN_PGERR_H

#include <stddef.h>

/*
 * 1 when the failure with SQLSTATE state is transient (the same
 * statement may succeed later or on another connection), 0 when it is
 * permanent. NULL, "" or a malformed state (no answer from the server:
 * the connection broke, libpq ran out of memory) is transient.
 */
int pgerr_transient(const char *state);

/*
 * libpq's message msg (NULL or "" reads "unknown error") as one line in
 * out (outlen > 0): its lines joined by single spaces, control
 * characters dropped, no trailing space, cut to fit. Returns out.
 */
const char *pgerr_flatten(const char *msg, char *out, size_t outlen);

#endif
