/*
 * scenegenctl: wires the global options to one subcommand. Only wiring
 * here; each subcommand lives in its own file.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asuser.h"
#include "ctl.h"

static const struct {
	const char *name;
	int (*run)(struct ctl_settings *, int, char **);
} ctl_commands[] = {
	{ "migrate", ctl_migrate },
	{ "check", ctl_check },
	{ "stats", ctl_stats },
	{ "show", ctl_show },
	{ "retry", ctl_retry },
	{ "token", ctl_token },
	{ "webhooks", ctl_webhooks },
	{ "redeliver", ctl_redeliver },
};

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: scenegenctl [-hj] [-f file] migrate [directory]\n"
	    "       scenegenctl [-hj] [-f file] check [-w seconds]\n"
	    "       scenegenctl [-hj] [-f file] stats\n"
	    "       scenegenctl [-hj] [-f file] show record_id\n"
	    "       scenegenctl [-hj] [-f file] retry record_id\n"
	    "       scenegenctl [-hj] [-f file] retry --failed "
	    "[--since duration]\n"
	    "       scenegenctl [-hj] [-f file] token [--ttl seconds] "
	    "[--tier tier] user_id\n"
	    "       scenegenctl [-hj] [-f file] webhooks\n"
	    "       scenegenctl [-hj] [-f file] redeliver delivery_id\n"
	    "       scenegenctl [-hj] [-f file] redeliver --all-failed\n");
}

void
ctl_warnx(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", CTL_PROGNAME);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
ctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", CTL_PROGNAME);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
}

int
main(int argc, char *argv[])
{
	struct ctl_settings settings;
	const char	   *env_file = NULL;
	size_t		    i;
	int		    ch, json = 0, rc;

	/* "+": stop at the subcommand; its options are its own. */
	for (;;) {
		ch = getopt(argc, argv, "+f:hj");
		if (ch == -1)
			break;
		switch (ch) {
		case 'f':
			env_file = optarg;
			break;
		case 'h':
			usage(stdout);
			return CTL_EXIT_OK;
		case 'j':
			json = 1;
			break;
		default:
			usage(stderr);
			return CTL_EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		ctl_usage_error("no command given");
		return CTL_EXIT_USAGE;
	}
	for (i = 0; i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++)
		if (strcmp(argv[0], ctl_commands[i].name) == 0)
			break;
	if (i == sizeof(ctl_commands) / sizeof(ctl_commands[0])) {
		ctl_usage_error("unknown command %s", argv[0]);
		return CTL_EXIT_USAGE;
	}
	if (env_file != NULL) {
		if (envfile_load(env_file, 1) == -1)
			return CTL_EXIT_FAIL;
	} else if (envfile_load(CTL_ENV_FILE, 0) == -1)
		return CTL_EXIT_FAIL;
	if (ctl_settings_load(&settings) == -1)
		return CTL_EXIT_FAIL;
	settings.json = json;
	/* token signs with the secret only root reads; it needs no database. */
	if (strcmp(ctl_commands[i].name, "token") != 0 &&
	    ctl_as_service_user(settings.database_url) == -1) {
		ctl_settings_free(&settings);
		return CTL_EXIT_FAIL;
	}
	optind = 0; /* glibc: start over for the subcommand's options */
	rc = ctl_commands[i].run(&settings, argc, argv);
	ctl_settings_free(&settings);
	return rc;
}
