/*
 * scenegenctl: the administration tool. One file per subcommand; this
 * header holds what they share (settings, connections, output helpers).
 * Every subcommand returns the process exit status: 0 done, 1 failed
 * (or a check failed), 2 usage error.
 */
#ifndef SCENEGEN_CTL_H
#define SCENEGEN_CTL_H

#include <stddef.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#define CTL_PROGNAME	    "scenegenctl"
#define CTL_ENV_FILE	    "/etc/scenegen/scenegen.env"
#define CTL_JWT_SECRET_FILE "/etc/scenegen/credentials/supabase_jwt_secret"

enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAIL = 1,
	CTL_EXIT_USAGE = 2
};

/* The settings scenegenctl reads (see ctl_settings_load()). */
struct ctl_settings {
	char *database_url;
	char *redis_url;
	char *jwt_secret;
	char *jwt_audience;
	char *jwt_issuer;
	char *sql_dir;
	int   json; /* -j: JSON output where a command has it */
};

/* envfile.c: KEY=VALUE lines into the environment, never overriding. */
int envfile_load(const char *path, int must_exist);

/* settings.c: -1 with one line on stderr naming a bad setting. */
int	    ctl_settings_load(struct ctl_settings *);
/* The JWT secret, only for the commands that sign. */
int	    ctl_settings_load_secret(struct ctl_settings *);
/* Free the strings (the secret wiped first). */
void	    ctl_settings_free(struct ctl_settings *);
/* -1 with "missing required setting NAME" when value is NULL. */
int	    ctl_settings_need(const char *name, const char *value);
/* The SQL folder: SCENEGEN_SQL_DIR, else beside the installed program. */
const char *ctl_settings_sql_dir(struct ctl_settings *);

/* db.c: a blocking libpq connection; NULL with the error on stderr. */
PGconn	 *ctl_db_connect(const struct ctl_settings *, char *err, size_t);
/* Run sql (no parameters); -1 with "what: message" on stderr. */
int	  ctl_db_exec(PGconn *, const char *what, const char *sql);
/* Run sql with text parameters; NULL with "what: message" on stderr,
 * else a result the caller frees with PQclear(). */
PGresult *ctl_db_query(PGconn *, const char *what, const char *sql, int nparams,
    const char *const *params);

/* redis.c: a blocking hiredis connection (AUTH and SELECT done). */
redisContext *ctl_redis_connect(const struct ctl_settings *, char *err, size_t);
/* Run one command from argv; NULL (error in err) or a reply to free. */
redisReply   *ctl_redis_cmd(redisContext *, char *err, size_t errlen, int argc,
      const char **argv);
/* The integer field name of a flat XINFO-style reply; -1 if absent. */
long long     ctl_redis_field_int(const redisReply *, const char *name);

/* duration.c: "90", "90s", "15m", "2h", "7d" as seconds; -1 if bad. */
long ctl_parse_seconds(const char *);
/* A non-negative decimal within [min, max]; -1 if not. */
long ctl_parse_long(const char *, long min, long max);

/* migrate.c: how many files of dir schema_migrations lacks (their names
 * in out), or -1 with the reason in out. */
int ctl_migrate_pending(PGconn *, const char *dir, char *out, size_t outlen);

/* The subcommands. */
int ctl_migrate(struct ctl_settings *, int argc, char **argv);
int ctl_check(struct ctl_settings *, int argc, char **argv);
int ctl_stats(struct ctl_settings *, int argc, char **argv);
int ctl_show(struct ctl_settings *, int argc, char **argv);
int ctl_webhooks(struct ctl_settings *, int argc, char **argv);
int ctl_redeliver(struct ctl_settings *, int argc, char **argv);
int ctl_retry(struct ctl_settings *, int argc, char **argv);
int ctl_token(struct ctl_settings *, int argc, char **argv);

/* main.c */
void ctl_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
void ctl_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
