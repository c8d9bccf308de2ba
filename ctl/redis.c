/*
 * Redis for scenegenctl: one blocking hiredis connection from REDIS_URL
 * (lib/redis_url.c), with AUTH and SELECT done. Arguments always go as
 * separate protocol arguments (redisCommandArgv), never formatted text.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "redis_sync.h"
#include "redis_url.h"

#define CTL_REDIS_TIMEOUT_S 5

redisContext *
ctl_redis_connect(const struct ctl_settings *s, char *err, size_t errlen)
{
	struct redis_endpoint ep;
	redisContext	     *c;

	if (s->redis_url == NULL) {
		snprintf(err, errlen, "missing required setting REDIS_URL");
		return NULL;
	}
	if (redis_url_parse(s->redis_url, &ep, err, errlen) == -1)
		return NULL;
	c = redis_sync_connect(&ep, CTL_REDIS_TIMEOUT_S, err, errlen);
	redis_endpoint_free(&ep);
	return c;
}

redisReply *
ctl_redis_cmd(redisContext *c, char *err, size_t errlen, int argc,
    const char **argv)
{
	redisReply *r;

	r = redisCommandArgv(c, argc, argv, NULL);
	if (r == NULL) {
		snprintf(err, errlen, "Redis %s: %s", argv[0],
		    c->errstr[0] != '\0' ? c->errstr : "no answer");
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errlen, "Redis %s: %s", argv[0], r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

long long
ctl_redis_field_int(const redisReply *r, const char *name)
{
	size_t i;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return -1;
	for (i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *k = r->element[i], *v = r->element[i + 1];

		if (k->type != REDIS_REPLY_STRING &&
		    k->type != REDIS_REPLY_STATUS)
			continue;
		if (strcmp(k->str, name) != 0)
			continue;
		if (v->type == REDIS_REPLY_INTEGER)
			return v->integer;
		return -1;
	}
	return -1;
}
