/*
 * admission.c: the admission limits of a POST (SPEC "Admission limits at
 * POST"): a rate per user by tier (SCENEGEN_RATE_LIMITS) and a cap on a
 * user's jobs waiting for a provider slot (SCENEGEN_MAX_WAITING_PER_USER).
 * Either answers 429 rate_limited with Retry-After and the RateLimit-Policy
 * and RateLimit fields of draft-ietf-httpapi-ratelimit-headers (-08 on),
 * before anything is inserted. Redis decides both in one script; when
 * Redis cannot tell, the POST goes on (the limits protect the provider
 * account, not the data).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"
#include "log.h"

/* The rate of tier, or NULL when the tier is not limited. */
static const struct tier_rate *
admission_rate(const struct api_config *c, const char *tier)
{
	int i;

	for (i = 0; i < c->nrates; i++)
		if (strcmp(c->rates[i].tier, tier) == 0)
			return &c->rates[i];
	return NULL;
}

int
admission_check(struct request *req)
{
	const struct api_config *c = req->w->cfg;
	const struct tier_rate	*rate = admission_rate(c, req->user.tier);
	struct admission	 a;
	int			 n = 0;

	if (rate == NULL && c->max_waiting <= 0)
		return 0;
	if (queue_admission(&req->w->queue, req->user.tier, req->user.sub, rate,
		c->max_waiting, &a) == -1)
		return 0;
	req->limit_headers[0] = '\0';
	if (a.verdict == 2) {
		snprintf(req->limit_headers, sizeof(req->limit_headers),
		    "RateLimit-Policy: \"waiting\";q=%ld\r\n"
		    "RateLimit: \"waiting\";r=0\r\n",
		    c->max_waiting);
		req->retry_after = c->estimate_seconds;
		log_info("user %s has %ld jobs waiting (at most %ld)",
		    req->user.sub, a.waiting, c->max_waiting);
		reply_error(req, ERR_RATE_LIMITED);
		return -1;
	}
	if (rate == NULL)
		return 0;
	n = snprintf(req->limit_headers, sizeof(req->limit_headers),
	    "RateLimit-Policy: \"%s\";q=%ld;w=%ld\r\n"
	    "RateLimit: \"%s\";r=%ld;t=%ld\r\n",
	    rate->tier, rate->quota, rate->window, rate->tier,
	    a.remaining < 0 ? 0 : a.remaining, a.reset);
	if (n < 0 || (size_t)n >= sizeof(req->limit_headers))
		req->limit_headers[0] = '\0';
	if (a.verdict == 1) {
		req->retry_after = a.reset > 0 ? a.reset : 1;
		log_info("user %s over %ld POSTs in %ld s (tier %s)",
		    req->user.sub, rate->quota, rate->window, rate->tier);
		reply_error(req, ERR_RATE_LIMITED);
		return -1;
	}
	return 0;
}
