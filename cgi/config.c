/*
 * The settings of scenegen-api: one table of name, type, bounds and
 * default, read by lib/config.c. Settings that need more than a range
 * check (the JWT algorithm, the socket mode, the log level) are checked
 * here once the table is loaded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "log.h"
#include "redis_url.h"
#include "extern.h"

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Parse an octal file mode such as "0660"; -1 when not one. */
static int
config_parse_mode(const char *text, mode_t *mode)
{
	char	     *end;
	unsigned long v;

	if (text[0] < '0' || text[0] > '7')
		return -1;
	errno = 0;
	v = strtoul(text, &end, 8);
	if (errno != 0 || *end != '\0' || v > 0777)
		return -1;
	*mode = (mode_t)v;
	return 0;
}

#define TIER_CHARS "abcdefghijklmnopqrstuvwxyz0123456789_-"

/* SCENEGEN_RATE_LIMITS: parse "tier:quota/window" at *p into r; -1 when it is not one. */
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

/* SCENEGEN_RATE_LIMITS into c->rates; -1 with err naming it. */
static int
config_parse_rates(struct api_config *c, char *err, size_t errlen)
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

#define ADMIN_TOKEN_MIN 16 /* bytes of an operator token */

/*
 * The dashboard's tokens: each at least ADMIN_TOKEN_MIN printable ASCII
 * bytes, and the two different (a token names its role). -1 with err.
 */
static int
config_check_admin(const struct api_config *c, char *err, size_t errlen)
{
	const char *tok[2] = { c->admin_token, c->admin_readonly_token };
	const char *name[2] = { "SCENEGEN_ADMIN_TOKEN",
		"SCENEGEN_ADMIN_READONLY_TOKEN" };
	size_t	    i, j;

	for (i = 0; i < 2; i++) {
		if (tok[i] == NULL)
			continue;
		if (strlen(tok[i]) < ADMIN_TOKEN_MIN)
			goto fail;
		for (j = 0; tok[i][j] != '\0'; j++)
			if (tok[i][j] < 0x21 || tok[i][j] > 0x7e)
				goto fail;
	}
	if (tok[0] != NULL && tok[1] != NULL && strcmp(tok[0], tok[1]) == 0) {
		snprintf(err, errlen,
		    "SCENEGEN_ADMIN_READONLY_TOKEN must differ from "
		    "SCENEGEN_ADMIN_TOKEN");
		return -1;
	}
	return 0;
fail:
	snprintf(err, errlen,
	    "%s must be at least " NUM_TEXT(
		ADMIN_TOKEN_MIN) " printable "
				 "ASCII characters without spaces",
	    name[i]);
	return -1;
}

int
api_config_load(struct api_config *c, char *err, size_t errlen)
{
	struct redis_endpoint	  ep;
	const struct config_entry table[] = {
		{ "DATABASE_URL", CONFIG_STRING, NULL, 0, 0, 1, 1,
		    &c->database_url },
		{ "REDIS_URL", CONFIG_STRING, NULL, 0, 0, 1, 1, &c->redis_url },
		{ "SUPABASE_JWT_SECRET", CONFIG_STRING, NULL, 0, 0, 1, 1,
		    &c->jwt_secret },
		{ "JWT_AUDIENCE", CONFIG_STRING, "authenticated", 0, 0, 0, 0,
		    &c->jwt_audience },
		{ "JWT_ISSUER", CONFIG_STRING, NULL, 0, 0, 0, 0,
		    &c->jwt_issuer },
		{ "JWT_ALGORITHM", CONFIG_STRING, "HS256", 0, 0, 0, 0,
		    &c->jwt_algorithm },
		{ "SCENEGEN_API_SOCKET", CONFIG_STRING,
		    "/run/scenegen/api.sock", 0, 0, 0, 0, &c->socket_path },
		{ "SCENEGEN_API_SOCKET_MODE", CONFIG_STRING, "0660", 0, 0, 0, 0,
		    &c->socket_mode_text },
		{ "SCENEGEN_API_SOCKET_GROUP", CONFIG_STRING, NULL, 0, 0, 0, 0,
		    &c->socket_group },
		{ "SCENEGEN_EVENTS_SOCKET", CONFIG_STRING, NULL, 0, 0, 0, 0,
		    &c->events_socket },
		{ "SCENEGEN_API_SCOREBOARD", CONFIG_STRING, NULL, 0, 0, 0, 0,
		    &c->scoreboard },
		{ "SCENEGEN_API_WORKERS", CONFIG_INT, "0", 0, 256, 0, 0,
		    &c->workers },
		{ "SCENEGEN_API_KEEP_IDLE_MS", CONFIG_INT, "10000", 10, 600000,
		    0, 0, &c->keep_idle_ms },
		{ "SCENEGEN_API_KEEP_MAX", CONFIG_INT, "256", 1, 65536, 0, 0,
		    &c->keep_max },
		{ "SCENEGEN_LOG_LEVEL", CONFIG_STRING, "info", 0, 0, 0, 0,
		    &c->log_level },
		{ "SCENEGEN_RATE_LIMIT_PER_MINUTE", CONFIG_INT, "0", 0, 1000000,
		    0, 0, &c->rate_limit },
		{ "SCENEGEN_ESTIMATE_SECONDS", CONFIG_INT, "30", 1, 86400, 0, 0,
		    &c->estimate_seconds },
		{ "SCENEGEN_RATE_LIMITS", CONFIG_STRING, NULL, 0, 0, 0, 0,
		    &c->rate_limits_text },
		{ "SCENEGEN_MAX_WAITING_PER_USER", CONFIG_INT, "0", 0,
		    100000000, 0, 0, &c->max_waiting },
		{ "SCENEGEN_WEBHOOK_ALLOW_PRIVATE", CONFIG_BOOL, "0", 0, 1, 0,
		    0, &c->webhook_allow_private },
		{ "SCENEGEN_ADMIN_TOKEN", CONFIG_STRING, NULL, 0, 0, 0, 1,
		    &c->admin_token },
		{ "SCENEGEN_ADMIN_READONLY_TOKEN", CONFIG_STRING, NULL, 0, 0, 0,
		    1, &c->admin_readonly_token },
		{ "SCENEGEN_ADMIN_SESSION_SECONDS", CONFIG_INT, "28800", 60,
		    604800, 0, 0, &c->admin_session_seconds },
	};

	memset(c, 0, sizeof(*c));
	if (config_load(table, NITEMS(table), err, errlen) == -1)
		return -1;
	if (strcmp(c->jwt_algorithm, "HS256") != 0) {
		snprintf(err, errlen,
		    "JWT_ALGORITHM must be HS256 (the only "
		    "algorithm supported)");
		return -1;
	}
	if (c->jwt_secret[0] == '\0') {
		snprintf(err, errlen, "SUPABASE_JWT_SECRET is empty");
		return -1;
	}
	if (redis_url_parse(c->redis_url, &ep, err, errlen) == -1)
		return -1;
	redis_endpoint_free(&ep);
	if (c->jwt_audience[0] == '\0') {
		snprintf(err, errlen, "JWT_AUDIENCE is empty");
		return -1;
	}
	if (config_parse_mode(c->socket_mode_text, &c->socket_mode) == -1) {
		snprintf(err, errlen,
		    "SCENEGEN_API_SOCKET_MODE must be an "
		    "octal mode such as 0660");
		return -1;
	}
	if (config_parse_rates(c, err, errlen) == -1)
		return -1;
	if (config_check_admin(c, err, errlen) == -1)
		return -1;
	c->log_priority = log_priority_from_name(c->log_level);
	if (c->log_priority == -1) {
		snprintf(err, errlen,
		    "SCENEGEN_LOG_LEVEL must be err, "
		    "warning, notice, info or debug");
		return -1;
	}
	return 0;
}
