/*
 * answer.h: the JSON bodies of the ModelsLab V7 image API, as the
 * stand-in sends them (see shared/modelslab-v7.md).  Every function
 * returns a NUL-terminated string the caller frees with free(), or NULL
 * when out of memory.
 */
#ifndef STANDIN_ANSWER_H
#define STANDIN_ANSWER_H

#include <stdint.h>

#include "faults.h"

/* What the answers about one generation are built from. */
struct answer_ctx {
	const char  *base;   /* "http://" and the client's Host */
	const char  *prefix; /* path before "/v7/": "", "/api" */
	uint64_t     id;
	unsigned int flags; /* FAULT_F_MESSEGE, FAULT_F_STRING_ID */
};

/* An answer for an injected fault: HTTP status, reason and body. */
struct answer_fault {
	int	    code;
	const char *reason;	  /* static */
	const char *content_type; /* static */
	char	   *body;	  /* caller frees */
};

char *answer_processing(const struct answer_ctx *, double);
char *answer_created(const struct answer_ctx *, double, const char *,
    const char *, uint64_t);
char *answer_fetched(const struct answer_ctx *);
char *answer_failed(const struct answer_ctx *);
char *answer_not_found(unsigned int);
char *answer_bad_key(unsigned int);
char *answer_fields_missing(int, int, unsigned int);
char *answer_error(const char *, unsigned int);
char *answer_queue_full(long, long, unsigned int);
int   answer_for_fault(enum fault_kind, unsigned int, long, double,
      struct answer_fault *);

#endif /* STANDIN_ANSWER_H */
