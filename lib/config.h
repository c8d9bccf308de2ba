/*
 * Settings from the environment, declared in one table per program.
 * Each entry names a variable, its type, bounds and default; defaults go
 * through the same parser as real values. A secret may instead come from
 * a systemd credential ($CREDENTIALS_DIRECTORY/<NAME>) or from a file
 * named by <NAME>_FILE, so it need not sit in the environment.
 */
#ifndef SCENEGEN_CONFIG_H
#define SCENEGEN_CONFIG_H

#include <stddef.h>

enum config_type {
	CONFIG_STRING,
	CONFIG_INT,    /* long, within [min, max] */
	CONFIG_DOUBLE, /* double, within [min, max] */
	CONFIG_BOOL,   /* 0/1, yes/no, true/false, on/off */
	CONFIG_TYPE__MAX
};

struct config_entry {
	const char	*name; /* environment variable */
	enum config_type type;
	const char	*default_value; /* NULL: none */
	double		 min;
	double		 max;
	int		 required; /* missing is fatal */
	int		 secret;   /* credential/_FILE allowed */
	void		*target;   /* char **, long *, double *, int * */
};

/*
 * Load every entry. On error returns -1 with one sentence naming the
 * setting in err. Strings are allocated for the life of the process.
 */
int config_load(const struct config_entry *, size_t n, char *err,
    size_t errlen);

#endif
