/* A blocking Redis connection with AUTH and SELECT; see redis_sync.h. */
#include <stdio.h>
#include <sys/time.h>

#include "redis_sync.h"

/* Run one setup command on c; -1 with err set when it did not succeed. */
static int
redis_sync_setup(redisContext *c, int argc, const char **argv, char *err,
    size_t errlen)
{
	redisReply *r;
	int	    rc = 0;

	r = redisCommandArgv(c, argc, argv, NULL);
	if (r == NULL) {
		snprintf(err, errlen, "Redis %s: %s", argv[0],
		    c->errstr[0] != '\0' ? c->errstr : "no answer");
		return -1;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errlen, "Redis %s: %s", argv[0], r->str);
		rc = -1;
	}
	freeReplyObject(r);
	return rc;
}

redisContext *
redis_sync_connect(const struct redis_endpoint *ep, int timeout_s, char *err,
    size_t errlen)
{
	struct timeval tv = { timeout_s, 0 };
	redisContext  *c;
	const char    *argv[3];
	char	       db[16];
	int	       argc;

	if (ep->unix_path != NULL)
		c = redisConnectUnixWithTimeout(ep->unix_path, tv);
	else
		c = redisConnectWithTimeout(ep->host, ep->port, tv);
	if (c == NULL || c->err) {
		snprintf(err, errlen, "cannot connect to Redis at %s: %s",
		    ep->unix_path != NULL ? ep->unix_path : ep->host,
		    c != NULL ? c->errstr : "out of memory");
		goto fail;
	}
	if (redisSetTimeout(c, tv) != REDIS_OK) {
		snprintf(err, errlen, "redisSetTimeout: %s", c->errstr);
		goto fail;
	}
	if (ep->password != NULL) {
		argc = 0;
		argv[argc++] = "AUTH";
		if (ep->username != NULL)
			argv[argc++] = ep->username;
		argv[argc++] = ep->password;
		if (redis_sync_setup(c, argc, argv, err, errlen) == -1)
			goto fail;
	}
	if (ep->db != 0) {
		snprintf(db, sizeof(db), "%d", ep->db);
		argv[0] = "SELECT";
		argv[1] = db;
		if (redis_sync_setup(c, 2, argv, err, errlen) == -1)
			goto fail;
	}
	return c;
fail:
	if (c != NULL)
		redisFree(c);
	return NULL;
}
