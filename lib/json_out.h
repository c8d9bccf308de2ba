/*
 * A small JSON writer on a capped buffer (json_out.c); errors are
 * sticky, so a caller checks once, at json_close().
 */
#ifndef SCENEGEN_JSON_OUT_H
#define SCENEGEN_JSON_OUT_H

#include "buf.h"

#define JSON_MAX (1024 * 1024) /* a listing of LIST_LIMIT_MAX documents fits */

struct json_out {
	struct buf b;
	int	   failed;
	int	   first;
};

void json_open(struct json_out *);
void json_string(struct json_out *, const char *key, const char *);
void json_int(struct json_out *, const char *key, long long);
void json_double(struct json_out *, const char *key, double);
void json_null(struct json_out *, const char *key);
/* Open an array or object member ("key": [ or {); key NULL in arrays. */
void json_array(struct json_out *, const char *key);
void json_object(struct json_out *, const char *key);
void json_end_array(struct json_out *);
void json_end_object(struct json_out *);
int  json_close(struct json_out *);
void json_free(struct json_out *);

#endif
