/* Number and duration arguments of scenegenctl; see ctl.h. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "ctl.h"

long
ctl_parse_long(const char *s, long min, long max)
{
	char *end;
	long  v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	return v;
}

long
ctl_parse_seconds(const char *s)
{
	static const struct {
		char unit;
		long seconds;
	} units[] = {
		{ 's', 1 },
		{ 'm', 60 },
		{ 'h', 3600 },
		{ 'd', 86400 },
		{ 'w', 604800 },
	};
	char  *end;
	long   v;
	size_t i;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || v < 0)
		return -1;
	if (*end == '\0')
		return v;
	if (end[1] != '\0')
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (*end == units[i].unit) {
			if (v > LONG_MAX / units[i].seconds)
				return -1;
			return v * units[i].seconds;
		}
	return -1;
}
