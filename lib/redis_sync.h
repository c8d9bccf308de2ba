/*
 * A blocking hiredis connection for the programs that may wait (the API's
 * workers, scenegenctl): connect with a timeout that also bounds every
 * later command, then AUTH and SELECT as the endpoint says.
 */
#ifndef SCENEGEN_REDIS_SYNC_H
#define SCENEGEN_REDIS_SYNC_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "redis_url.h"

/*
 * Connect to ep, waiting at most timeout_s seconds for the connection and
 * for each reply. NULL with a sentence in err (never the password) when
 * Redis is unreachable, refuses AUTH or SELECT, or memory runs out. The
 * caller frees the context with redisFree().
 */
redisContext *redis_sync_connect(const struct redis_endpoint *ep, int timeout_s,
    char *err, size_t errlen);

#endif
