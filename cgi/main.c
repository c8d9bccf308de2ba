/*
 * scenegen-api: the FastCGI program behind nginx for the scene image
 * endpoints. main() only wires: settings, logging, the listening socket,
 * then the pool of pre-forked workers (pool.c, worker.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "extern.h"

int
main(int argc, char *argv[])
{
	/* Static: the settings live as long as the process. */
	static struct api_config cfg;
	struct listener		 lst;
	char			 err[512];
	int			 rc;

	if (argc > 1) {
		fprintf(stderr,
		    "usage: scenegen-api\n"
		    "(all settings come from the environment)\n");
		return 2;
	}
	if (api_config_load(&cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "scenegen-api: %s\n", err);
		return 1;
	}
	if (fdlimit_raise(&cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "scenegen-api: %s\n", err);
		return 1;
	}
	log_init("scenegen-api", cfg.log_priority);
	if (listener_open(&cfg, &lst) == -1)
		return 1;
	rc = pool_run(&cfg, &lst);
	listener_close(&lst);
	return rc == 0 ? 0 : 1;
}
