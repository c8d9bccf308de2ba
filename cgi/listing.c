/*
 * A chapter's scenes, a page at a time (SPEC.md, "Records and listing"):
 * the newest record of each scene number, by scene number, paginated by
 * keyset on the scene number, so rows added while a client walks the
 * pages neither repeat a scene nor hide one it has not reached yet.
 *
 * The cursor is opaque to clients: the last scene number of a page,
 * bound to its chapter and signed (HMAC-SHA256 with the JWT secret, cut
 * to CURSOR_MAC_LEN bytes), as base64url. A cursor that is not one we
 * gave for this chapter (typed, cut, altered) is a 400, never a page
 * from somewhere else. A new JWT secret makes old cursors a 400 too.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base64url.h"
#include "log.h"
#include "extern.h"

#define CURSOR_VERSION	1
#define CURSOR_MAC_LEN	8
#define CURSOR_BYTES	(3 + CURSOR_MAC_LEN) /* version, scene (16 bits) */
#define CURSOR_TEXT_MAX (B64URL_LEN(CURSOR_BYTES) + 1)

/* What the MAC covers before the chapter, so it means nothing else. */
static const char cursor_context[] = "scenegen listing cursor";

/*
 * The MAC of the cursor head b (version and scene, 3 bytes) for chapter
 * into mac. -1 if HMAC failed (out of memory).
 */
static int
cursor_mac(const struct api_config *cfg, const char *chapter,
    const unsigned char *b, unsigned char mac[CURSOR_MAC_LEN])
{
	unsigned char msg[sizeof(cursor_context) + UUID_STR_LEN + 3];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int  len = 0;

	/* The context's NUL separates it from the chapter. */
	memcpy(msg, cursor_context, sizeof(cursor_context));
	memcpy(msg + sizeof(cursor_context), chapter, UUID_STR_LEN);
	memcpy(msg + sizeof(cursor_context) + UUID_STR_LEN, b, 3);
	if (HMAC(EVP_sha256(), cfg->jwt_secret, (int)strlen(cfg->jwt_secret),
		msg, sizeof(msg), md, &len) == NULL ||
	    len < CURSOR_MAC_LEN)
		return -1;
	memcpy(mac, md, CURSOR_MAC_LEN);
	return 0;
}

/* The cursor of the page after scene of chapter, into out; -1 on failure. */
static int
cursor_encode(const struct api_config *cfg, const char *chapter, long scene,
    char out[CURSOR_TEXT_MAX])
{
	unsigned char b[CURSOR_BYTES];

	b[0] = CURSOR_VERSION;
	b[1] = (unsigned char)((scene >> 8) & 0xff);
	b[2] = (unsigned char)(scene & 0xff);
	if (cursor_mac(cfg, chapter, b, b + 3) == -1)
		return -1;
	return b64url_encode(b, sizeof(b), out, CURSOR_TEXT_MAX) == -1 ? -1 : 0;
}

/* The scene number text stands for; -1 unless we gave it for chapter. */
static long
cursor_decode(const struct api_config *cfg, const char *chapter,
    const char *text)
{
	unsigned char b[CURSOR_BYTES + 4], mac[CURSOR_MAC_LEN];
	size_t	      len = strlen(text);
	long	      scene;

	if (len != B64URL_LEN(CURSOR_BYTES) ||
	    b64url_decode(text, len, b, sizeof(b)) != CURSOR_BYTES ||
	    b[0] != CURSOR_VERSION)
		return -1;
	if (cursor_mac(cfg, chapter, b, mac) == -1 ||
	    CRYPTO_memcmp(mac, b + 3, CURSOR_MAC_LEN) != 0)
		return -1;
	scene = (long)b[1] << 8 | b[2];
	if (scene < SCENE_MIN || scene > SCENE_MAX)
		return -1;
	return scene;
}

/*
 * The status words of ?status= as a PostgreSQL array literal into out
 * ("{pending,failed}"), from our own table; -1 when out is full.
 */
static int
list_statuses(unsigned int set, struct buf *out)
{
	enum record_status st;
	int		   n = 0;

	if (buf_append(out, "{", 1) == -1)
		return -1;
	for (st = 0; st < RECORD__MAX; st++) {
		if (!(set & (1u << st)))
			continue;
		if ((n++ > 0 && buf_append(out, ",", 1) == -1) ||
		    buf_append_str(out, record_status_names[st]) == -1)
			return -1;
	}
	return buf_append(out, "}", 1);
}

/*
 * GET, HEAD /api/v1/chapters/{chapter_id}/images/scenes
 * 200 {chapter_id, scenes, next_cursor} (query: status, limit, cursor);
 * 304 when If-None-Match matches the answer's ETag; 400 invalid_field
 * (a cursor we did not give for this chapter; the front line refuses
 * other bad or unknown parameters); 404 not_found (no such chapter, or
 * not the caller's); 500 internal_error; 503 unavailable.
 */
void
page_scene_list(struct request *req)
{
	const struct query *q = &req->query;
	const char	   *chapter = req->route.uuid[PARAM_CHAPTER_ID];
	struct json_out	    j;
	struct buf	    statuses;
	PGresult	   *res = NULL;
	const char	   *v[5];
	char		    after[24], limit[24], cursor[CURSOR_TEXT_MAX];
	long		    n, last = 0;
	enum db_result	    rc;
	int		    rows, i;

	buf_init(&statuses, 256);
	json_open(&j);
	n = q->limit > 0 ? q->limit : LIST_LIMIT_DEFAULT;
	if (q->given & QUERY_BIT(QPARAM_CURSOR)) {
		last = cursor_decode(req->w->cfg, chapter, q->cursor);
		if (last == -1) {
			reply_field_error(req, "cursor", CURSOR_REASON);
			goto out;
		}
	}
	if ((q->given & QUERY_BIT(QPARAM_STATUS)) &&
	    list_statuses(q->statuses, &statuses) == -1) {
		log_err("out of memory listing status words");
		reply_error(req, ERR_INTERNAL);
		goto out;
	}
	snprintf(after, sizeof(after), "%ld", last);
	snprintf(limit, sizeof(limit), "%ld", n + 1); /* one more: a next? */
	v[0] = chapter;
	v[1] = req->user.sub;
	v[2] = after;
	v[3] = statuses.len > 0 ? statuses.data : NULL;
	v[4] = limit;
	rc = db_exec(&req->w->db, STMT_SCENE_LIST, v, 5, &res);
	if (rc != DB_OK) {
		reply_db_failure(req, rc);
		goto out;
	}
	rows = PQntuples(res);
	if (rows == 0) {
		reply_error(req, ERR_CHAPTER_NOT_FOUND);
		goto out;
	}
	if (rows == 1 && PQgetisnull(res, 0, 0))
		rows = 0; /* the chapter, without such scenes */

	json_string(&j, "chapter_id", chapter);
	json_array(&j, "scenes");
	for (i = 0; i < rows && i < n; i++) {
		json_object(&j, NULL);
		status_document(req, res, i, &j);
		json_end_object(&j);
	}
	json_end_array(&j);
	if (rows > n) {
		if (cursor_encode(req->w->cfg, chapter,
			db_long(res, (int)n - 1, 3), cursor) == -1) {
			log_err("HMAC failed making a listing cursor");
			reply_error(req, ERR_INTERNAL);
			goto out;
		}
		json_string(&j, "next_cursor", cursor);
	} else
		json_null(&j, "next_cursor");
	reply_json_etag(req, &j);
out:
	PQclear(res);
	json_free(&j);
	buf_free(&statuses);
}
