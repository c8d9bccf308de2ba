/*
 * Root without a PostgreSQL user in DATABASE_URL would connect as role
 * "root" (libpq's default is the operating system user), which peer
 * authentication refuses. A sysadmin types `scenegenctl check` as root;
 * it then runs as the services' user, like `runuser -u scenegen --`.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "asuser.h"
#include "ctl.h"

/* 1 if the connection string names a user, 0 if not, -1 if unparsable. */
static int
ctl_url_names_user(const char *url)
{
	PQconninfoOption *opts, *o;
	char		 *err = NULL;
	int		  named = 0;

	opts = PQconninfoParse(url, &err);
	if (opts == NULL) {
		PQfreemem(err);
		return -1;
	}
	for (o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "user") == 0 && o->val != NULL &&
		    o->val[0] != '\0')
			named = 1;
	PQconninfoFree(opts);
	return named;
}

int
ctl_as_service_user(const char *database_url)
{
	struct passwd *pw;
	const char    *pguser = getenv("PGUSER");

	if (geteuid() != 0 || database_url == NULL ||
	    (pguser != NULL && pguser[0] != '\0'))
		return 0;
	/* An unparsable URL: let the connection report it as it is. */
	if (ctl_url_names_user(database_url) != 0)
		return 0;
	errno = 0;
	pw = getpwnam(CTL_SERVICE_USER);
	if (pw == NULL)
		return 0;
	if (initgroups(pw->pw_name, pw->pw_gid) == -1 ||
	    setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1) {
		ctl_warnx("cannot run as user %s: %s", CTL_SERVICE_USER,
		    strerror(errno));
		return -1;
	}
	if (setenv("USER", pw->pw_name, 1) == -1 ||
	    setenv("LOGNAME", pw->pw_name, 1) == -1 ||
	    setenv("HOME", pw->pw_dir, 1) == -1) {
		ctl_warnx("setenv: %s", strerror(errno));
		return -1;
	}
	return 0;
}
