/*
 * The settings scenegenctl reads, from one table (lib/config.c) like the
 * two services, so a value means the same thing everywhere.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "secret.h"

int
ctl_settings_load(struct ctl_settings *s)
{
	const struct config_entry table[] = {
		{ "DATABASE_URL", CONFIG_STRING, NULL, 0, 0, 0, 1,
		    &s->database_url },
		{ "REDIS_URL", CONFIG_STRING, NULL, 0, 0, 0, 1, &s->redis_url },
		{ "JWT_AUDIENCE", CONFIG_STRING, "authenticated", 0, 0, 0, 0,
		    &s->jwt_audience },
		{ "JWT_ISSUER", CONFIG_STRING, NULL, 0, 0, 0, 0,
		    &s->jwt_issuer },
		{ "SCENEGEN_SQL_DIR", CONFIG_STRING, NULL, 0, 0, 0, 0,
		    &s->sql_dir },
	};
	char err[512];

	memset(s, 0, sizeof(*s));
	if (config_load(table, sizeof(table) / sizeof(table[0]), err,
		sizeof(err)) == -1) {
		ctl_warnx("%s", err);
		ctl_settings_free(s);
		return -1;
	}
	return 0;
}

int
ctl_settings_load_secret(struct ctl_settings *s)
{
	const struct config_entry table[] = {
		{ "SUPABASE_JWT_SECRET", CONFIG_STRING, NULL, 0, 0, 1, 1,
		    &s->jwt_secret },
	};
	char err[512];

	/* On the host, the secret the API's unit loads as a credential. */
	if (getenv("SUPABASE_JWT_SECRET") == NULL &&
	    getenv("SUPABASE_JWT_SECRET_FILE") == NULL &&
	    getenv("CREDENTIALS_DIRECTORY") == NULL &&
	    access(CTL_JWT_SECRET_FILE, R_OK) == 0 &&
	    setenv("SUPABASE_JWT_SECRET_FILE", CTL_JWT_SECRET_FILE, 0) == -1) {
		ctl_warnx("setenv: out of memory");
		return -1;
	}
	if (config_load(table, 1, err, sizeof(err)) == -1) {
		ctl_warnx("%s", err);
		return -1;
	}
	return 0;
}

void
ctl_settings_free(struct ctl_settings *s)
{
	free(s->database_url);
	free(s->redis_url);
	secret_free(s->jwt_secret);
	free(s->jwt_audience);
	free(s->jwt_issuer);
	free(s->sql_dir);
	memset(s, 0, sizeof(*s));
}

int
ctl_settings_need(const char *name, const char *value)
{
	if (value != NULL)
		return 0;
	ctl_warnx("missing required setting %s", name);
	return -1;
}

/* 1 if path is a directory. */
static int
ctl_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *
ctl_settings_sql_dir(struct ctl_settings *s)
{
	static const char *const rel[] = {
		"/../share/scenegen/sql", /* PREFIX/sbin/scenegenctl */
		"/../sql",		  /* build/scenegenctl */
	};
	static char found[PATH_MAX];
	char	    exe[PATH_MAX], path[PATH_MAX], *slash;
	ssize_t	    n;
	size_t	    i;
	int	    len;

	if (s->sql_dir != NULL)
		return s->sql_dir;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash == NULL)
		return NULL;
	*slash = '\0';
	for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		len = snprintf(path, sizeof(path), "%s%s", exe, rel[i]);
		if (len > 0 && (size_t)len < sizeof(path) && ctl_is_dir(path) &&
		    realpath(path, found) != NULL)
			return found;
	}
	return NULL;
}
