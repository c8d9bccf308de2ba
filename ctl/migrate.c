/*
 * scenegenctl migrate [directory]: apply the *.sql files of the folder in
 * C-locale name order, each once, each in its own transaction under the
 * advisory lock scripts/migrate.sh takes, recorded in schema_migrations.
 * Running it again changes nothing; several at once wait on the lock.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ctl.h"

#define MIGRATE_LOCK_KEY "7210001" /* as scripts/migrate.sh */
#define MIGRATE_FILE_MAX (4 * 1024 * 1024)

static const char migrate_table_sql[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " filename text PRIMARY KEY,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

/* scandir filter: regular-looking names ending in ".sql". */
static int
migrate_is_sql(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	return d->d_name[0] != '.' && len > 4 &&
	    strcmp(d->d_name + len - 4, ".sql") == 0;
}

/* C-locale order, whatever the caller's locale is. */
static int
migrate_order(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Read dir/name into b (capped); -1 with the reason on stderr. */
static int
migrate_read(const char *dir, const char *name, struct buf *b)
{
	FILE  *fp;
	char   path[4096], chunk[8192];
	size_t n;
	int    len;

	len = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (len < 0 || (size_t)len >= sizeof(path)) {
		ctl_warnx("migrate: path too long: %s/%s", dir, name);
		return -1;
	}
	fp = fopen(path, "r");
	if (fp == NULL) {
		ctl_warnx("migrate: cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		n = fread(chunk, 1, sizeof(chunk), fp);
		if (n == 0)
			break;
		if (buf_append(b, chunk, n) == -1) {
			ctl_warnx("migrate: %s is larger than %d bytes", path,
			    MIGRATE_FILE_MAX);
			fclose(fp);
			return -1;
		}
	}
	if (ferror(fp)) {
		ctl_warnx("migrate: cannot read %s: %s", path, strerror(errno));
		fclose(fp);
		return -1;
	}
	fclose(fp);
	if (b->data == NULL || strlen(b->data) != b->len) {
		ctl_warnx("migrate: %s is empty or holds a NUL byte", path);
		return -1;
	}
	return 0;
}

/*
 * Apply one file unless schema_migrations has it. Returns 1 applied,
 * 0 already there, -1 failed (rolled back, reason on stderr).
 */
static int
migrate_one(PGconn *conn, const char *dir, const char *name)
{
	const char *params[1] = { name };
	PGresult   *res;
	struct buf  sql;
	int	    todo, rc = -1;

	buf_init(&sql, MIGRATE_FILE_MAX);
	if (ctl_db_exec(conn, "BEGIN", "BEGIN") == -1)
		return -1;
	if (ctl_db_exec(conn, "SET client_min_messages",
		"SET LOCAL client_min_messages = warning") == -1 ||
	    ctl_db_exec(conn, "pg_advisory_xact_lock",
		"SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")") == -1 ||
	    ctl_db_exec(conn, "CREATE TABLE schema_migrations",
		migrate_table_sql) == -1)
		goto fail;
	res = ctl_db_query(conn, "SELECT schema_migrations",
	    "SELECT 1 FROM schema_migrations WHERE filename = $1", 1, params);
	if (res == NULL)
		goto fail;
	todo = PQntuples(res) == 0;
	PQclear(res);
	if (todo) {
		if (migrate_read(dir, name, &sql) == -1)
			goto fail;
		if (ctl_db_exec(conn, name, sql.data) == -1)
			goto fail;
		res = ctl_db_query(conn, "INSERT schema_migrations",
		    "INSERT INTO schema_migrations (filename) VALUES ($1)", 1,
		    params);
		if (res == NULL)
			goto fail;
		PQclear(res);
	}
	if (ctl_db_exec(conn, "COMMIT", "COMMIT") == -1)
		goto fail;
	rc = todo;
	buf_free(&sql);
	return rc;
fail:
	buf_free(&sql);
	ctl_db_exec(conn, "ROLLBACK", "ROLLBACK");
	return -1;
}

int
ctl_migrate_pending(PGconn *conn, const char *dir, char *out, size_t outlen)
{
	struct dirent **names = NULL;
	const char     *params[1];
	PGresult       *res;
	size_t		used = 0;
	int		n, i, len, missing = 0, have_table;

	out[0] = '\0';
	n = scandir(dir, &names, migrate_is_sql, migrate_order);
	if (n == -1) {
		snprintf(out, outlen, "scandir %s: %s", dir, strerror(errno));
		return -1;
	}
	res = ctl_db_query(conn, "to_regclass",
	    "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL);
	have_table = res != NULL && PQntuples(res) == 1 &&
	    strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	if (res == NULL)
		missing = -1;
	PQclear(res);
	for (i = 0; i < n && missing >= 0; i++) {
		params[0] = names[i]->d_name;
		if (have_table) {
			res = ctl_db_query(conn, "SELECT schema_migrations",
			    "SELECT 1 FROM schema_migrations WHERE "
			    "filename = $1",
			    1, params);
			if (res == NULL) {
				missing = -1;
				break;
			}
			len = PQntuples(res);
			PQclear(res);
			if (len > 0)
				continue;
		}
		missing++;
		len = snprintf(out + used, outlen - used, "%s%s",
		    used > 0 ? ", " : "", names[i]->d_name);
		if (len > 0 && (size_t)len < outlen - used)
			used += (size_t)len;
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return missing;
}

int
ctl_migrate(struct ctl_settings *s, int argc, char **argv)
{
	struct dirent **names = NULL;
	const char     *dir;
	PGconn	       *conn = NULL;
	char		err[1024];
	int		n = 0, i, r, applied = 0, rc = CTL_EXIT_FAIL;

	if (argc > 2) {
		ctl_usage_error("migrate: too many arguments");
		return CTL_EXIT_USAGE;
	}
	dir = argc == 2 ? argv[1] : ctl_settings_sql_dir(s);
	if (dir == NULL) {
		ctl_warnx("migrate: no SQL folder: set SCENEGEN_SQL_DIR or "
			  "name one");
		return CTL_EXIT_FAIL;
	}
	if (ctl_settings_need("DATABASE_URL", s->database_url) == -1)
		return CTL_EXIT_FAIL;
	n = scandir(dir, &names, migrate_is_sql, migrate_order);
	if (n == -1) {
		ctl_warnx("migrate: scandir %s: %s", dir, strerror(errno));
		return CTL_EXIT_FAIL;
	}
	if (n == 0) {
		ctl_warnx("migrate: no .sql files in %s", dir);
		goto done;
	}
	conn = ctl_db_connect(s, err, sizeof(err));
	if (conn == NULL) {
		ctl_warnx("migrate: %s", err);
		goto done;
	}
	for (i = 0; i < n; i++) {
		r = migrate_one(conn, dir, names[i]->d_name);
		if (r == -1) {
			ctl_warnx("migrate: %s failed; nothing of it applied",
			    names[i]->d_name);
			goto done;
		}
		if (r == 1) {
			printf("%s: applied %s\n", CTL_PROGNAME,
			    names[i]->d_name);
			applied++;
		}
	}
	printf("%s: %d migration(s) applied, schema up to date\n", CTL_PROGNAME,
	    applied);
	rc = CTL_EXIT_OK;
done:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (conn != NULL)
		PQfinish(conn);
	return rc;
}
