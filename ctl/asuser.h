/*
 * scenegenctl run as root connects to PostgreSQL as the services do: as
 * the system user scenegen, when DATABASE_URL names no user (a local
 * server with peer authentication, as deploy/INSTALL.md sets it up).
 */
#ifndef SCENEGEN_CTL_ASUSER_H
#define SCENEGEN_CTL_ASUSER_H

#define CTL_SERVICE_USER "scenegen"

/*
 * If the process runs as root, neither database_url nor PGUSER names a
 * PostgreSQL user, and the system user scenegen exists: become that user
 * (groups, gid, uid; HOME and USER follow). 0 if nothing needed doing or
 * it was done, -1 with one line on stderr if the switch failed.
 */
int ctl_as_service_user(const char *database_url);

#endif
