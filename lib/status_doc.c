/*
 * The status document of a record, from one row of STATUS_COLUMNS
 * (status_doc.h).
 */
#include <stdlib.h>
#include <string.h>

#include "events_url.h"
#include "status_doc.h"

long
status_doc_left(const char *eta, const char *since, double fallback)
{
	double left = eta != NULL ? strtod(eta, NULL) : fallback;

	if (since != NULL)
		left -= strtod(since, NULL);
	if (!(left >= 1))
		return 1;
	if (left > STATUS_LEFT_MAX)
		return STATUS_LEFT_MAX;
	return (long)left + ((double)(long)left < left); /* rounded up */
}

/* The integer in s, or -1 (NULL, not a number): shown as 0 or as is. */
static long
status_doc_long(const char *s)
{
	char *end;
	long  v;

	if (s == NULL)
		return -1;
	v = strtol(s, &end, 10);
	if (end == s || *end != '\0')
		return -1;
	return v;
}

void
status_doc_write(struct json_out *j, const char *const *col, long eta,
    const char *secret, time_t now)
{
	const char *gen = col[STATUS_COL_GEN_TIME];
	char	    url[EVENTS_URL_MAX];
	long	    v;

	json_string(j, "record_id", col[STATUS_COL_ID]);
	json_string(j, "chapter_id", col[STATUS_COL_CHAPTER]);
	json_string(j, "status", col[STATUS_COL_STATUS]);
	json_string(j, "image_url", col[STATUS_COL_IMAGE_URL]);
	json_int(j, "scene_number", status_doc_long(col[STATUS_COL_SCENE]));
	v = status_doc_long(col[STATUS_COL_RETRIES]);
	json_int(j, "retry_count", v < 0 ? 0 : v);
	v = status_doc_long(col[STATUS_COL_PROGRESS]);
	json_int(j, "progress", v < 0 ? 0 : v);
	if (gen != NULL)
		json_double(j, "generation_time_seconds", strtod(gen, NULL));
	else
		json_null(j, "generation_time_seconds");
	json_string(j, "error_message", col[STATUS_COL_ERROR]);
	json_string(j, "created_at", col[STATUS_COL_CREATED]);
	json_string(j, "updated_at", col[STATUS_COL_UPDATED]);
	if (eta >= 0)
		json_int(j, "estimated_time_seconds", eta);
	else
		json_null(j, "estimated_time_seconds");
	if (col[STATUS_COL_ID] == NULL ||
	    events_url_build(secret, col[STATUS_COL_ID], now, url,
		sizeof(url)) == -1)
		j->failed = 1; /* HMAC failed: the answer is a 500 */
	else
		json_string(j, "events_url", url);
}

long
status_doc_pushed_eta(const char *const *col, double fallback)
{
	const char *st = col[STATUS_COL_STATUS];

	if (st != NULL && strcmp(st, "in_progress") == 0)
		return status_doc_left(col[STATUS_COL_ETA],
		    col[STATUS_COL_SINCE], fallback);
	if (st != NULL && strcmp(st, "pending") == 0)
		return status_doc_left(NULL, NULL, fallback);
	return -1;
}
