/*
 * The open-file limit a worker needs: one descriptor for each kept
 * connection it may hold (SCENEGEN_API_KEEP_MAX) and a reserve for the
 * rest (the listening socket, PostgreSQL, Redis, the log, the
 * scoreboard, a connection being accepted). The soft limit is raised to
 * that when the hard limit allows, before the workers are forked.
 */
#include <sys/resource.h>
#include <stdio.h>

#include "extern.h"

#define FDLIMIT_RESERVE 64 /* descriptors besides the kept connections */

int
fdlimit_raise(const struct api_config *cfg, char *err, size_t errlen)
{
	struct rlimit rl;
	rlim_t	      need;

	need = (rlim_t)cfg->keep_max + FDLIMIT_RESERVE;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		snprintf(err, errlen, "getrlimit RLIMIT_NOFILE failed");
		return -1;
	}
	/* RLIM_INFINITY is the largest rlim_t: no case of its own. */
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max < need) {
		snprintf(err, errlen,
		    "SCENEGEN_API_KEEP_MAX=%ld needs %llu open files and the "
		    "hard limit is %llu: lower it, or raise LimitNOFILE= "
		    "(ulimit -n)",
		    cfg->keep_max, (unsigned long long)need,
		    (unsigned long long)rl.rlim_max);
		return -1;
	}
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
		snprintf(err, errlen,
		    "SCENEGEN_API_KEEP_MAX=%ld needs %llu open files: "
		    "setrlimit failed",
		    cfg->keep_max, (unsigned long long)need);
		return -1;
	}
	return 0;
}
