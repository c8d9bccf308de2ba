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

#define TIER_CHARS                                                           \
	"abcdefghijklmnopqrstuvwxyz0123456789_-"

/* Parse "tier:quota/window" at *p into r; -1 when it is not one. */
static int
admission_parse_one(const char **p, struct tier_rate *r)
{
	const char *s = *p;
	char	   *end;
	size_t	    n;

	n = strspn(s, TIER_CHARS);
	if (n == 0 || n > TIER_MAX || s[n] != ':')
		return -1;
	memcpy(r->tier, s, n);
	r->tier[n] = '\0';
	s += n + 1;
	if (*s < '1' || *s > '9')
		return -1;
	r->quota = strtol(s, &end, 10);
	if (*end != '/' || r->quota < 1 || r->quota > 100000000)
		return -1;
	s = end + 1;
	if (*s < '1' || *s > '9')
		return -1;
	r->window = strtol(s, &end, 10);
	if (r->window < 1 || r->window > 86400)
		return -1;
	*p = end;
	return 0;
}

int
admission_parse(struct api_config *c, char *err, size_t errlen)
{
	const char *p = c->rate_limits_text;

	c->nrates = 0;
	if (p == NULL || *p == '\0')
		return 0;
	for (;;) {
		if (c->nrates == TIER_RATES_MAX ||
		    admission_parse_one(&p, &c->rates[c->nrates]) == -1)
			goto fail;
		c->nrates++;
		if (*p == '\0')
			return 0;
		if (*p++ != ',')
			goto fail;
	}
fail:
	snprintf(err, errlen,
	    "SCENEGEN_RATE_LIMITS must be up to %d tier:posts/seconds "
	    "pairs separated by commas (seconds 1 to 86400), e.g. "
	    "free:30/60,pro:120/60,premium:600/60",
	    TIER_RATES_MAX);
	return -1;
}

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
	if (queue_admission(&req->w->queue, req->user.tier, req->user.sub,
		rate, c->max_waiting, &a) == -1)
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
