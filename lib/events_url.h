/*
 * The signed events_url of a record (SPEC.md, "Live status"): a relative
 * URL that lets a browser's EventSource open the record's event stream
 * without a header. The signature is HMAC-SHA256 over "<record id>.<expires>"
 * with a key derived from SUPABASE_JWT_SECRET, so the API and the daemon
 * build the same URL and a token key never signs anything but tokens.
 */
#ifndef SCENEGEN_EVENTS_URL_H
#define SCENEGEN_EVENTS_URL_H

#include <stddef.h>
#include <time.h>

#define EVENTS_URL_MAX	   192	/* bytes of the URL, NUL included */
#define EVENTS_SIG_LEN	   43	/* base64url of 32 bytes */
#define EVENTS_URL_STEP	   3600 /* expires is a whole hour... */
#define EVENTS_URL_MIN_TTL 3600 /* ...at least this far ahead */

/*
 * The expiry of a URL made at now: the next whole hour plus one, so that
 * a document (and its ETag) stays the same within an hour.
 */
time_t events_url_expires(time_t now);
/*
 * Write the events_url of record_id (a lower-case UUID) made at now into
 * out (cap bytes). Returns 0, or -1 (HMAC failed, out too small).
 */
int    events_url_build(const char *secret, const char *record_id, time_t now,
       char *out, size_t cap);
/*
 * 0 if signature is the one of record_id and expires (decimal text) and
 * expires is not past at now; -1 otherwise.
 */
int    events_url_verify(const char *secret, const char *record_id,
       const char *expires, const char *signature, time_t now);

#endif
