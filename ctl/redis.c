/*
 * Redis for scenegenctl: one blocking hiredis connection from REDIS_URL
 * (lib/redis_url.c), with AUTH and SELECT done. Arguments always go as
 * separate protocol arguments (redisCommandArgv), never formatted text.
 */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "ctl.h"
#include "redis_url.h"

#define CTL_REDIS_TIMEOUT_S	5

redisContext *
ctl_redis_connect(const struct ctl_settings *s, char *err, size_t errlen)
{
	struct redis_endpoint	 ep;
	struct timeval		 tv = { CTL_REDIS_TIMEOUT_S, 0 };
	redisContext		*c;
	redisReply		*r;
	const char		*argv[3];
	char			 db[16];
	int			 argc;

	if (s->redis_url == NULL) {
		snprintf(err, errlen, "missing required setting REDIS_URL");
		return NULL;
	}
	if (redis_url_parse(s->redis_url, &ep, err, errlen) == -1)
		return NULL;
	if (ep.unix_path != NULL)
		c = redisConnectUnixWithTimeout(ep.unix_path, tv);
	else
		c = redisConnectWithTimeout(ep.host, ep.port, tv);
	if (c == NULL || c->err) {
		snprintf(err, errlen, "cannot connect to Redis at %s: %s",
		    ep.unix_path != NULL ? ep.unix_path : ep.host,
		    c != NULL ? c->errstr : "out of memory");
		goto fail;
	}
	if (redisSetTimeout(c, tv) != REDIS_OK) {
		snprintf(err, errlen, "redisSetTimeout: %s", c->errstr);
		goto fail;
	}
	if (ep.password != NULL) {
		argc = 0;
		argv[argc++] = "AUTH";
		if (ep.username != NULL)
			argv[argc++] = ep.username;
		argv[argc++] = ep.password;
		r = ctl_redis_cmd(c, err, errlen, argc, argv);
		if (r == NULL)
			goto fail;
		freeReplyObject(r);
	}
	if (ep.db != 0) {
		snprintf(db, sizeof(db), "%d", ep.db);
		argv[0] = "SELECT";
		argv[1] = db;
		r = ctl_redis_cmd(c, err, errlen, 2, argv);
		if (r == NULL)
			goto fail;
		freeReplyObject(r);
	}
	redis_endpoint_free(&ep);
	return c;
fail:
	if (c != NULL)
		redisFree(c);
	redis_endpoint_free(&ep);
	return NULL;
}

redisReply *
ctl_redis_cmd(redisContext *c, char *err, size_t errlen, int argc,
    const char **argv)
{
	redisReply	*r;

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
	size_t	i;

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
