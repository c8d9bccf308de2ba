/* Table-driven configuration from the environment; see config.h. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "secret.h"

#define SECRET_MAX 8192

/* Read a whole small file into a new string without its final newline. */
static char *
config_read_file(const char *path, char *err, size_t errlen, const char *name)
{
	struct buf b;
	char	   chunk[1024];
	ssize_t	   n;
	int	   fd;

	buf_init(&b, SECRET_MAX);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		snprintf(err, errlen, "%s: cannot read %s: %s", name, path,
		    strerror(errno));
		return NULL;
	}
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == 0)
			break;
		if (n < 0 || buf_append(&b, chunk, (size_t)n) == -1) {
			snprintf(err, errlen,
			    "%s: cannot read %s (error or "
			    "larger than %d bytes)",
			    name, path, SECRET_MAX);
			close(fd);
			buf_free(&b);
			return NULL;
		}
	}
	close(fd);
	while (b.len > 0 &&
	    (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
		b.data[--b.len] = '\0';
	if (b.data == NULL)
		return strdup("");
	return b.data;
}

/* Find the raw text of entry e; *owned set when the result must be freed. */
static const char *
config_raw_value(const struct config_entry *e, char **owned, char *err,
    size_t errlen)
{
	const char *dir, *file;
	char	    path[4096], envname[256];
	int	    n;

	*owned = NULL;
	if (e->secret) {
		dir = getenv("CREDENTIALS_DIRECTORY");
		if (dir != NULL && *dir != '\0') {
			n = snprintf(path, sizeof(path), "%s/%s", dir, e->name);
			if (n > 0 && (size_t)n < sizeof(path) &&
			    access(path, F_OK) == 0) {
				*owned = config_read_file(path, err, errlen,
				    e->name);
				return *owned;
			}
		}
		n = snprintf(envname, sizeof(envname), "%s_FILE", e->name);
		if (n > 0 && (size_t)n < sizeof(envname)) {
			file = getenv(envname);
			if (file != NULL && *file != '\0') {
				*owned = config_read_file(file, err, errlen,
				    e->name);
				return *owned;
			}
		}
	}
	file = getenv(e->name);
	if (file != NULL && *file != '\0')
		return file;
	return e->default_value;
}

/* Parse text into e->target; -1 with err set on a bad value. */
static int
config_parse(const struct config_entry *e, const char *text, char *err,
    size_t errlen)
{
	char  *end, *copy;
	long   l;
	double d;

	switch (e->type) {
	case CONFIG_STRING:
		copy = strdup(text);
		if (copy == NULL) {
			snprintf(err, errlen, "%s: out of memory", e->name);
			return -1;
		}
		*(char **)e->target = copy;
		return 0;
	case CONFIG_INT:
		errno = 0;
		l = strtol(text, &end, 10);
		if (errno != 0 || end == text || *end != '\0' || l < e->min ||
		    l > e->max) {
			snprintf(err, errlen,
			    "%s must be an integer from "
			    "%.0f to %.0f",
			    e->name, e->min, e->max);
			return -1;
		}
		*(long *)e->target = l;
		return 0;
	case CONFIG_DOUBLE:
		errno = 0;
		d = strtod(text, &end);
		if (errno != 0 || end == text || *end != '\0' || isnan(d) ||
		    d < e->min || d > e->max) {
			snprintf(err, errlen,
			    "%s must be a number from %g "
			    "to %g",
			    e->name, e->min, e->max);
			return -1;
		}
		*(double *)e->target = d;
		return 0;
	case CONFIG_BOOL:
		if (strcasecmp(text, "1") == 0 ||
		    strcasecmp(text, "yes") == 0 ||
		    strcasecmp(text, "true") == 0 ||
		    strcasecmp(text, "on") == 0)
			*(int *)e->target = 1;
		else if (strcasecmp(text, "0") == 0 ||
		    strcasecmp(text, "no") == 0 ||
		    strcasecmp(text, "false") == 0 ||
		    strcasecmp(text, "off") == 0)
			*(int *)e->target = 0;
		else {
			snprintf(err, errlen, "%s must be yes or no", e->name);
			return -1;
		}
		return 0;
	default:
		snprintf(err, errlen, "%s: unknown setting type", e->name);
		return -1;
	}
}

int
config_load(const struct config_entry *table, size_t n, char *err,
    size_t errlen)
{
	const char *text;
	char	   *owned;
	size_t	    i;
	int	    rc;

	for (i = 0; i < n; i++) {
		const struct config_entry *e = &table[i];

		err[0] = '\0';
		text = config_raw_value(e, &owned, err, errlen);
		if (text == NULL && err[0] != '\0')
			return -1;
		if (text == NULL) {
			if (e->required) {
				snprintf(err, errlen,
				    "missing required "
				    "setting %s",
				    e->name);
				return -1;
			}
			continue;
		}
		rc = config_parse(e, text, err, errlen);
		secret_free(owned);
		if (rc == -1)
			return -1;
	}
	return 0;
}
