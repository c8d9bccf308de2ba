/* Journald-friendly one-line logging; see log.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static const char *log_progname = "scenegen";
static int	   log_max_priority = LOG_INFO;

void
log_init(const char *progname, int max_priority)
{
	log_progname = progname;
	log_max_priority = max_priority;
}

int
log_priority_from_name(const char *name)
{
	static const struct {
		const char *name;
		int	    priority;
	} names[] = {
		{ "err", LOG_ERR },
		{ "error", LOG_ERR },
		{ "warning", LOG_WARNING },
		{ "notice", LOG_NOTICE },
		{ "info", LOG_INFO },
		{ "debug", LOG_DEBUG },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i].name) == 0)
			return names[i].priority;
	return -1;
}

void
log_msg(int priority, const char *fmt, ...)
{
	char	line[2048];
	va_list ap;
	int	prefix, n;
	size_t	i, len;

	if (priority > log_max_priority)
		return;
	prefix = snprintf(line, sizeof(line), "<%d>%s: ", priority,
	    log_progname);
	if (prefix < 0 || (size_t)prefix >= sizeof(line))
		return;
	va_start(ap, fmt);
	n = vsnprintf(line + prefix, sizeof(line) - prefix - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	len = strlen(line);
	/* Neutralise control characters from untrusted text. */
	for (i = prefix; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c < 0x20 || c == 0x7f)
			line[i] = '?';
	}
	line[len++] = '\n';
	/* One write per line so concurrent workers never interleave. */
	if (write(STDERR_FILENO, line, len) < 0)
		return;
}
