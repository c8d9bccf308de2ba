/*
 * REDIS_URL parsing: redis://[[user]:password@]host[:port][/db] and
 * unix:///path/to/socket[?db=N][&password=P].
 */
#ifndef SCENEGEN_REDIS_URL_H
#define SCENEGEN_REDIS_URL_H

#include <stddef.h>

struct redis_endpoint {
	char *host; /* NULL for a unix socket */
	int   port;
	char *unix_path; /* NULL for TCP */
	char *username;	 /* may be NULL */
	char *password;	 /* may be NULL */
	int   db;
};

/* Fill ep from url; -1 with a sentence in err if malformed. Free with
 * redis_endpoint_free(). */
int  redis_url_parse(const char *url, struct redis_endpoint *ep, char *err,
     size_t errlen);
void redis_endpoint_free(struct redis_endpoint *);

#endif
