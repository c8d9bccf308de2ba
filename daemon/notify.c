/* notify.c: sd_notify wrappers; see notify.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "notify.h"

static int notify_failed_logged;

/* Send one state line; log the first failure only. */
static void
notify_send(const char *state)
{
	int r;

	r = sd_notify(0, state);
	if (r < 0 && !notify_failed_logged) {
		notify_failed_logged = 1;
		log_warn("sd_notify: %s (further failures not logged)",
		    strerror(-r));
	}
}

void
notify_ready(void)
{
	notify_send("READY=1");
}

void
notify_reloading(void)
{
	notify_send("RELOADING=1");
}

void
notify_stopping(void)
{
	notify_send("STOPPING=1");
}

void
notify_watchdog(void)
{
	notify_send("WATCHDOG=1");
}

void
notify_status(const char *fmt, ...)
{
	char	line[512];
	va_list ap;
	int	n;

	n = snprintf(line, sizeof(line), "STATUS=");
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	notify_send(line);
}

uint64_t
notify_watchdog_usec(void)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec;
}
