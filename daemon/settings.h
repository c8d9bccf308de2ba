/*
 * settings.h: the settings of scenegend, loaded once at start from the
 * environment through the lib/config.h table (see config.c).
 */
#ifndef SCENEGEND_SETTINGS_H
#define SCENEGEND_SETTINGS_H

#include <stddef.h>

struct settings {
	char  *database_url;
	char  *redis_url;
	char  *api_key;	 /* secret: never logged */
	char  *base_url; /* no trailing slash */
	char  *model_id;
	long   max_queued; /* provider requests open, all daemons */
	char  *image_dir;
	char  *image_base_url; /* no trailing slash */
	int    keep_provider_url;
	long   max_retries;
	double backoff_scale;
	long   lease_seconds;
	long   sweep_seconds;
	long   pending_grace_seconds;
	double http_timeout; /* seconds per provider call */
	double connect_timeout;
	double poll_min_seconds;
	double poll_max_seconds;
	long   generation_timeout;
	long   drain_seconds;
	char  *consumer;
	char  *log_level;
	char  *metrics_file; /* NULL: no metrics file */
	char  *env_file;     /* NULL: SIGHUP re-reads nothing */
	long   db_connections;
	long   image_max_bytes;
	char  *debug_refuse_state; /* testing aid; NULL: none */
	char  *tier_weights;	   /* "premium:4,pro:2,free:1" */
	char  *events_socket;	   /* nchan's publisher; NULL: no live status */
	char  *jwt_secret; /* secret: events_url and webhook keys; NULL: none */
	int    webhook_allow_private; /* non-public hosts, http */
	double webhook_backoff_scale; /* times the retry schedule */
};

/*
 * Fill s from the environment. On a missing or bad setting writes one
 * line naming it into err and returns -1.
 */
int  settings_load(struct settings *s, char *err, size_t errlen);
/* Free what settings_load allocated (the API key is wiped first). */
void settings_free(struct settings *s);
/*
 * Re-read SCENEGEN_LOG_LEVEL from the environment file named by
 * SCENEGEN_ENV_FILE, if any; the new priority or -1 when unchanged.
 */
int  settings_reload_log_level(const struct settings *s);

#endif
