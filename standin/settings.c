/*
 * settings.c: one table of settings: flag, name, type, bounds, default.
 * Defaults go through the same parser as flags and control requests.
 */
#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"

enum settings_type {
	CT_STRING,
	CT_MODE,
	CT_SECONDS,
	CT_MILLIS,
	CT_COUNT,
	CT_FAULTS,
	CT__MAX
};

static const struct settings_item {
	int		   flag;
	const char	  *name;
	enum settings_type type;
	size_t		   off; /* numbers: field offset */
	double		   min, max;
	const char	  *dflt; /* NULL: unset */
} settings_items[] = {
	{ 'k', "key", CT_STRING, 0, 0, 0, NULL },
	{ 'm', "mode", CT_MODE, 0, 0, 0, "processing" },
	{ 'e', "eta", CT_SECONDS, offsetof(struct standin_config, eta), 0,
	    86400, "2" },
	{ 'q', "queue_limit", CT_COUNT,
	    offsetof(struct standin_config, queue_limit), 0, 10000000, "0" },
	{ 'x', "expire", CT_SECONDS, offsetof(struct standin_config, expire_s),
	    0, 31536000, "0" },
	{ 'd', "delay_ms", CT_MILLIS, offsetof(struct standin_config, delay_s),
	    0, 600000, "0" },
	{ 'f', "faults", CT_FAULTS, 0, 0, 0, "" },
};

#define NITEMS (sizeof(settings_items) / sizeof(settings_items[0]))

/* A finite decimal within [min, max] from all of s; -1 on error. */
static int
parse_number(const char *s, double min, double max, double *out)
{
	char  *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !isfinite(v) || v < min ||
	    v > max)
		return -1;
	*out = v;
	return 0;
}

/* Replaces *dst by a copy of s; -1 when out of memory. */
static int
set_string(char **dst, const char *s)
{
	char *copy;

	copy = strdup(s);
	if (copy == NULL)
		return -1;
	free(*dst);
	*dst = copy;
	return 0;
}

/* Applies one item's value to c; -1 with a sentence in err on error. */
static int
apply(struct standin_config *c, const struct settings_item *it,
    const char *value, char *err, size_t errlen)
{
	struct faults f;
	char	     *field = (char *)c + it->off;
	double	      v, d;
	long	      n;
	int	      mode;

	switch (it->type) {
	case CT_STRING:
		if (*value == '\0')
			goto bad;
		if (set_string(&c->key, value) == -1)
			goto oom;
		return 0;
	case CT_MODE:
		mode = faults_mode_parse(value);
		if (mode < 0)
			goto bad;
		c->mode = mode;
		return 0;
	case CT_FAULTS:
		faults_init(&f);
		faults_parse_spec(&f, value);
		if (set_string(&c->faults_text, value) == -1)
			goto oom;
		c->faults = f;
		return 0;
	default:
		break;
	}
	if (parse_number(value, it->min, it->max, &v) == -1)
		goto bad;
	if (it->type == CT_COUNT) {
		if (v != floor(v))
			goto bad;
		n = (long)v;
		memcpy(field, &n, sizeof(n));
	} else {
		d = it->type == CT_MILLIS ? v / 1000.0 : v;
		memcpy(field, &d, sizeof(d));
	}
	return 0;
bad:
	snprintf(err, errlen, "bad %s: \"%s\"", it->name, value);
	return -1;
oom:
	snprintf(err, errlen, "%s: out of memory", it->name);
	return -1;
}

/*
 * Sets the item named by flag (a letter) or by name (when flag is 0)
 * from value.  Returns 0, or -1 with a sentence in err.
 */
int
settings_set(struct standin_config *c, int flag, const char *name,
    const char *value, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < NITEMS; i++) {
		if ((flag != 0 && settings_items[i].flag == flag) ||
		    (flag == 0 && name != NULL &&
			strcmp(settings_items[i].name, name) == 0))
			return apply(c, &settings_items[i], value, err, errlen);
	}
	snprintf(err, errlen, "unknown setting \"%s\"",
	    name != NULL ? name : "?");
	return -1;
}

/* Whether flag is a setting of the table. */
int
settings_flag_known(int flag)
{
	size_t i;

	for (i = 0; i < NITEMS; i++)
		if (settings_items[i].flag == flag)
			return 1;
	return 0;
}

/* Fills c with the defaults; -1 when out of memory. */
int
settings_init(struct standin_config *c)
{
	char   err[128];
	size_t i;

	memset(c, 0, sizeof(*c));
	faults_init(&c->faults);
	for (i = 0; i < NITEMS; i++) {
		if (settings_items[i].dflt == NULL)
			continue;
		if (apply(c, &settings_items[i], settings_items[i].dflt, err,
			sizeof(err)) == -1) {
			settings_clear(c);
			return -1;
		}
	}
	return 0;
}

void
settings_clear(struct standin_config *c)
{
	free(c->key);
	free(c->faults_text);
	c->key = NULL;
	c->faults_text = NULL;
}

/* Deep copy of src into the cleared dst; -1 when out of memory. */
int
settings_copy(struct standin_config *dst, const struct standin_config *src)
{
	*dst = *src;
	dst->key = NULL;
	dst->faults_text = NULL;
	if ((src->key != NULL && set_string(&dst->key, src->key) == -1) ||
	    set_string(&dst->faults_text, src->faults_text) == -1) {
		settings_clear(dst);
		return -1;
	}
	return 0;
}
