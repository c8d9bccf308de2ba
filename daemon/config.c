/*
 * config.c: the settings table of scenegend. Every setting is one row:
 * name, type, default, bounds, required, secret, where it lands. Defaults
 * go through the same parser as values from the environment.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "secret.h"
#include "settings.h"

#define ROW(n, t, d, lo, hi, req, sec, tgt) \
	{ \
		(n), (t), (d), (lo), (hi), (req), (sec), (tgt) \
	}

/* Remove trailing slashes so "prefix" + "/" + name is always one slash. */
static void
settings_trim_slash(char *s)
{
	size_t len;

	if (s == NULL)
		return;
	len = strlen(s);
	while (len > 1 && s[len - 1] == '/')
		s[--len] = '\0';
}

/* Whether url is http(s)://host... with a host that is not empty. */
static int
settings_http_url(const char *url)
{
	const char *rest;

	if (strncmp(url, "http://", 7) == 0)
		rest = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		rest = url + 8;
	else
		return 0;
	return *rest != '\0' && *rest != '/' && *rest != '?' && *rest != '#';
}

/* Whether w is "tier:weight[,tier:weight...]" (dispatch.h reads it). */
static int
settings_weights_valid(const char *w)
{
	const char *p = w;
	char	   *end;
	double	    v;
	size_t	    n;

	for (;;) {
		n = strspn(p,
		    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789_-");
		if (n == 0 || n > 31 || p[n] != ':')
			return 0;
		p += n + 1;
		if (*p < '0' || *p > '9')
			return 0;
		v = strtod(p, &end);
		if (end == p || !(v >= 0.01 && v <= 1000))
			return 0;
		p = end;
		if (*p == '\0')
			return 1;
		if (*p++ != ',')
			return 0;
	}
}

int
settings_load(struct settings *s, char *err, size_t errlen)
{
	const struct config_entry table[] = {
		ROW("DATABASE_URL", CONFIG_STRING, NULL, 0, 0, 1, 0,
		    &s->database_url),
		ROW("REDIS_URL", CONFIG_STRING, NULL, 0, 0, 1, 0,
		    &s->redis_url),
		ROW("MODELSLAB_API_KEY", CONFIG_STRING, NULL, 0, 0, 1, 1,
		    &s->api_key),
		ROW("MODELSLAB_BASE_URL", CONFIG_STRING,
		    "https://modelslab.com/api", 0, 0, 0, 0, &s->base_url),
		ROW("MODELSLAB_MODEL_ID", CONFIG_STRING, "gen4_image", 0, 0, 0,
		    0, &s->model_id),
		ROW("MODELSLAB_MAX_QUEUED", CONFIG_INT, "5", 1, 100000, 0, 0,
		    &s->max_queued),
		ROW("SCENEGEN_IMAGE_DIR", CONFIG_STRING,
		    "/var/lib/scenegen/images", 0, 0, 0, 0, &s->image_dir),
		ROW("SCENEGEN_IMAGE_BASE_URL", CONFIG_STRING, "/images", 0, 0,
		    0, 0, &s->image_base_url),
		ROW("SCENEGEN_KEEP_PROVIDER_URL", CONFIG_BOOL, "no", 0, 0, 0, 0,
		    &s->keep_provider_url),
		ROW("SCENEGEN_MAX_RETRIES", CONFIG_INT, "3", 0, 20, 0, 0,
		    &s->max_retries),
		ROW("SCENEGEN_BACKOFF_SCALE", CONFIG_DOUBLE, "1", 0.001, 100, 0,
		    0, &s->backoff_scale),
		ROW("SUPABASE_JWT_SECRET", CONFIG_STRING, NULL, 0, 0, 0, 1,
		    &s->jwt_secret),
		ROW("SCENEGEN_WEBHOOK_ALLOW_PRIVATE", CONFIG_BOOL, "0", 0, 0, 0,
		    0, &s->webhook_allow_private),
		ROW("SCENEGEN_WEBHOOK_BACKOFF_SCALE", CONFIG_DOUBLE, "1",
		    0.00001, 100, 0, 0, &s->webhook_backoff_scale),
		ROW("SCENEGEN_LEASE_SECONDS", CONFIG_INT, "60", 3, 86400, 0, 0,
		    &s->lease_seconds),
		ROW("SCENEGEN_SWEEP_SECONDS", CONFIG_INT, "10", 1, 86400, 0, 0,
		    &s->sweep_seconds),
		ROW("SCENEGEN_PENDING_GRACE_SECONDS", CONFIG_INT, "5", 0, 86400,
		    0, 0, &s->pending_grace_seconds),
		ROW("SCENEGEN_HTTP_TIMEOUT", CONFIG_DOUBLE, "30", 0.1, 3600, 0,
		    0, &s->http_timeout),
		ROW("SCENEGEN_CONNECT_TIMEOUT", CONFIG_DOUBLE, "10", 0.1, 600,
		    0, 0, &s->connect_timeout),
		ROW("SCENEGEN_POLL_MIN_SECONDS", CONFIG_DOUBLE, "1", 0.05, 3600,
		    0, 0, &s->poll_min_seconds),
		ROW("SCENEGEN_POLL_MAX_SECONDS", CONFIG_DOUBLE, "30", 0.05,
		    3600, 0, 0, &s->poll_max_seconds),
		ROW("SCENEGEN_GENERATION_TIMEOUT", CONFIG_INT, "900", 1, 86400,
		    0, 0, &s->generation_timeout),
		ROW("SCENEGEN_DRAIN_SECONDS", CONFIG_INT, "20", 0, 3600, 0, 0,
		    &s->drain_seconds),
		ROW("SCENEGEN_CONSUMER", CONFIG_STRING, NULL, 0, 0, 0, 0,
		    &s->consumer),
		ROW("SCENEGEN_LOG_LEVEL", CONFIG_STRING, "info", 0, 0, 0, 0,
		    &s->log_level),
		ROW("SCENEGEN_METRICS_FILE", CONFIG_STRING, NULL, 0, 0, 0, 0,
		    &s->metrics_file),
		ROW("SCENEGEN_ENV_FILE", CONFIG_STRING, NULL, 0, 0, 0, 0,
		    &s->env_file),
		ROW("SCENEGEN_DB_CONNECTIONS", CONFIG_INT, "1", 1, 64, 0, 0,
		    &s->db_connections),
		ROW("SCENEGEN_IMAGE_MAX_BYTES", CONFIG_INT, "33554432", 1024,
		    1073741824, 0, 0, &s->image_max_bytes),
		ROW("SCENEGEN_DEBUG_REFUSE_STATE", CONFIG_STRING, NULL, 0, 0, 0,
		    0, &s->debug_refuse_state),
		ROW("SCENEGEN_TIER_WEIGHTS", CONFIG_STRING,
		    "premium:4,pro:2,free:1", 0, 0, 0, 0, &s->tier_weights),
		ROW("SCENEGEN_EVENTS_SOCKET", CONFIG_STRING, NULL, 0, 0, 0, 0,
		    &s->events_socket),
	};
	char host[HOST_NAME_MAX + 1];
	int  n;

	memset(s, 0, sizeof(*s));
	if (config_load(table, sizeof(table) / sizeof(table[0]), err, errlen) ==
	    -1)
		return -1;
	if (log_priority_from_name(s->log_level) == -1) {
		snprintf(err, errlen,
		    "SCENEGEN_LOG_LEVEL must be one of err, "
		    "warning, notice, info, debug");
		return -1;
	}
	if (s->poll_max_seconds < s->poll_min_seconds) {
		snprintf(err, errlen,
		    "SCENEGEN_POLL_MAX_SECONDS must not be "
		    "below SCENEGEN_POLL_MIN_SECONDS");
		return -1;
	}
	if (!settings_weights_valid(s->tier_weights)) {
		snprintf(err, errlen,
		    "SCENEGEN_TIER_WEIGHTS must be tier:weight pairs "
		    "separated by commas (tier: letters, digits, _ or -; "
		    "weight: a number from 0.01 to 1000), e.g. "
		    "premium:4,pro:2,free:1");
		return -1;
	}
	if (s->events_socket != NULL &&
	    (s->jwt_secret == NULL || s->jwt_secret[0] == '\0')) {
		snprintf(err, errlen,
		    "SUPABASE_JWT_SECRET is required with "
		    "SCENEGEN_EVENTS_SOCKET (it signs events_url)");
		return -1;
	}
	settings_trim_slash(s->base_url);
	if (!settings_http_url(s->base_url)) {
		snprintf(err, errlen,
		    "MODELSLAB_BASE_URL must be an http:// or "
		    "https:// URL with a host");
		return -1;
	}
	settings_trim_slash(s->image_base_url);
	if (s->consumer == NULL) {
		if (gethostname(host, sizeof(host)) == -1)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		s->consumer = malloc(sizeof(host) + 16);
		if (s->consumer == NULL) {
			snprintf(err, errlen,
			    "SCENEGEN_CONSUMER: out of "
			    "memory");
			return -1;
		}
		n = snprintf(s->consumer, sizeof(host) + 16, "%s:%ld", host,
		    (long)getpid());
		if (n < 0) {
			snprintf(err, errlen,
			    "SCENEGEN_CONSUMER: cannot "
			    "format");
			return -1;
		}
	}
	return 0;
}

void
settings_free(struct settings *s)
{
	free(s->database_url);
	free(s->redis_url);
	secret_free(s->api_key);
	free(s->base_url);
	free(s->model_id);
	free(s->image_dir);
	free(s->image_base_url);
	free(s->consumer);
	free(s->log_level);
	free(s->metrics_file);
	free(s->env_file);
	free(s->debug_refuse_state);
	free(s->tier_weights);
	free(s->events_socket);
	secret_free(s->jwt_secret);
	memset(s, 0, sizeof(*s));
}

int
settings_reload_log_level(const struct settings *s)
{
	FILE *fp;
	char  line[512], *v, *end;
	int   prio = -1, p;

	if (s->env_file == NULL)
		return -1;
	fp = fopen(s->env_file, "re");
	if (fp == NULL) {
		log_warn("reload: cannot read %s", s->env_file);
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (strncmp(line, "SCENEGEN_LOG_LEVEL=", 19) != 0)
			continue;
		v = line + 19;
		if (*v == '"' || *v == '\'')
			v++;
		end = v + strcspn(v, "\"'\r\n \t#");
		*end = '\0';
		p = log_priority_from_name(v);
		if (p == -1)
			log_warn("reload: %s: unknown SCENEGEN_LOG_LEVEL",
			    s->env_file);
		else
			prio = p;
	}
	fclose(fp);
	return prio;
}
