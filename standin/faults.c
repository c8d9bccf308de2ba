/*
 * faults.c: parsing the fault markers of the ModelsLab stand-in.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "faults.h"

#define MARKER_OPEN "[standin:"
#define ITEM_MAX    128 /* longest KEY=VALUE item we look at */

static const char *const fault_names[FAULT__MAX] = {
	"none",
	"http400",
	"http401",
	"http402",
	"http403",
	"http429",
	"http500",
	"http502",
	"http503",
	"http504",
	"ratelimit200",
	"error200",
	"error200_fatal",
	"hang",
	"drop",
	"malformed",
	"truncated",
	"short",
	"oversized",
};

static const char *const mode_names[MODE__MAX] = {
	"success",
	"processing",
};

/* Modifier names and the flag each one sets. */
static const struct {
	const char  *name;
	unsigned int flag;
} flag_names[] = {
	{ "failed", FAULT_F_FAILED },
	{ "messege", FAULT_F_MESSEGE },
	{ "string_id", FAULT_F_STRING_ID },
	{ "expire", FAULT_F_EXPIRE },
};

/* No fault, configured ETA and mode, default sizes. */
void
faults_init(struct faults *f)
{
	memset(f, 0, sizeof(*f));
	f->kind = FAULT_NONE;
	f->retry_after = 2.0;
	f->size = FAULTS_SIZE_DEFAULT;
	f->eta = -1.0;
	f->mode = -1;
}

const char *
faults_mode_name(enum standin_mode mode)
{
	if (mode < 0 || mode >= MODE__MAX)
		return "processing";
	return mode_names[mode];
}

/* The mode named by s, or -1. */
int
faults_mode_parse(const char *s)
{
	int i;

	for (i = 0; i < MODE__MAX; i++)
		if (strcasecmp(s, mode_names[i]) == 0)
			return i;
	return -1;
}

/* Faults answered by an error body: the create makes no generation. */
int
faults_is_error(enum fault_kind kind)
{
	switch (kind) {
	case FAULT_HTTP400:
	case FAULT_HTTP401:
	case FAULT_HTTP402:
	case FAULT_HTTP403:
	case FAULT_HTTP429:
	case FAULT_HTTP500:
	case FAULT_HTTP502:
	case FAULT_HTTP503:
	case FAULT_HTTP504:
	case FAULT_RATELIMIT200:
	case FAULT_ERROR200:
	case FAULT_ERROR200_FATAL:
		return 1;
	default:
		return 0;
	}
}

/* Whether the faults apply to call number n (1-based) under times=. */
int
faults_applies(const struct faults *f, unsigned long n)
{
	return f->times <= 0 || n <= (unsigned long)f->times;
}

/* A finite decimal in [0, max], or -1 when s is not one. */
static double
parse_seconds(const char *s, double max)
{
	char  *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !isfinite(v) || v < 0.0 ||
	    v > max)
		return -1.0;
	return v;
}

/* A whole number in [0, max], or -1 when s is not one. */
static long
parse_count(const char *s, long max)
{
	char *end;
	long  v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || *end != '\0' || errno != 0 || v < 0 || v > max)
		return -1;
	return v;
}

/* "fault=a,b": one kind and any modifiers; replaces what was set before. */
static void
parse_fault_value(struct faults *f, char *value)
{
	char  *name, *next;
	size_t i;
	int    k;

	f->kind = FAULT_NONE;
	f->flags = 0;
	for (name = value; name != NULL; name = next) {
		next = strchr(name, ',');
		if (next != NULL)
			*next++ = '\0';
		for (k = 1; k < FAULT__MAX; k++)
			if (strcasecmp(name, fault_names[k]) == 0)
				f->kind = k;
		for (i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++)
			if (strcasecmp(name, flag_names[i].name) == 0)
				f->flags |= flag_names[i].flag;
	}
}

/* Applies one KEY=VALUE item; unknown keys and bad values are ignored. */
static void
parse_item(struct faults *f, char *item)
{
	char  *key, *value, *eq, *end;
	double d;
	long   n;

	eq = strchr(item, '=');
	if (eq == NULL)
		return;
	*eq = '\0';
	key = item;
	value = eq + 1;
	while (isspace((unsigned char)*key))
		key++;
	for (end = eq; end > key && isspace((unsigned char)end[-1]); end--)
		end[-1] = '\0';
	while (isspace((unsigned char)*value))
		value++;
	end = value + strlen(value);
	while (end > value && isspace((unsigned char)end[-1]))
		*--end = '\0';

	if (strcasecmp(key, "fault") == 0) {
		parse_fault_value(f, value);
	} else if (strcasecmp(key, "times") == 0) {
		n = parse_count(value, 1000000000L);
		if (n >= 0)
			f->times = n;
	} else if (strcasecmp(key, "at") == 0) {
		if (strcasecmp(value, "fetch") == 0)
			f->at_fetch = 1;
		else if (strcasecmp(value, "create") == 0)
			f->at_fetch = 0;
	} else if (strcasecmp(key, "size") == 0) {
		n = parse_count(value, (long)FAULTS_SIZE_MAX);
		if (n >= 0)
			f->size = (size_t)n;
	} else if (strcasecmp(key, "mode") == 0) {
		n = faults_mode_parse(value);
		if (n >= 0)
			f->mode = (int)n;
	} else {
		d = parse_seconds(value, FAULTS_SECONDS_MAX);
		if (d < 0.0)
			return;
		if (strcasecmp(key, "retry_after") == 0)
			f->retry_after = d;
		else if (strcasecmp(key, "hang_s") == 0)
			f->hang_s = d;
		else if (strcasecmp(key, "eta") == 0)
			f->eta = d;
	}
}

/* Overlays a "KEY=VALUE;KEY=VALUE" list of len bytes onto f. */
void
faults_parse_list(struct faults *f, const char *s, size_t len)
{
	char	    item[ITEM_MAX];
	const char *p, *stop, *semi;
	size_t	    n;

	stop = s + len;
	for (p = s; p < stop; p = semi + 1) {
		semi = memchr(p, ';', (size_t)(stop - p));
		if (semi == NULL)
			semi = stop;
		n = (size_t)(semi - p);
		if (n > 0 && n < sizeof(item)) {
			memcpy(item, p, n);
			item[n] = '\0';
			parse_item(f, item);
		}
		if (semi == stop)
			break;
	}
}

/* Overlays every "[standin:...]" marker found in text onto f, in order. */
void
faults_parse_markers(struct faults *f, const char *text)
{
	const char *p, *open, *close;
	size_t	    olen = strlen(MARKER_OPEN);

	p = text;
	for (;;) {
		open = strstr(p, MARKER_OPEN);
		if (open == NULL)
			break;
		open += olen;
		close = strchr(open, ']');
		if (close == NULL)
			close = open + strlen(open);
		faults_parse_list(f, open, (size_t)(close - open));
		if (*close == '\0')
			break;
		p = close + 1;
	}
}

/* The -f and config form: markers if there are any, else a bare list. */
void
faults_parse_spec(struct faults *f, const char *text)
{
	if (strstr(text, MARKER_OPEN) != NULL)
		faults_parse_markers(f, text);
	else
		faults_parse_list(f, text, strlen(text));
}
