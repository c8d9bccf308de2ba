/*
 * notify.h: telling systemd how we are (sd_notify). Without
 * NOTIFY_SOCKET these do nothing; a failed notify is logged once.
 */
#ifndef SCENEGEND_NOTIFY_H
#define SCENEGEND_NOTIFY_H

#include <stdint.h>

void notify_ready(void);
void notify_reloading(void);
void notify_stopping(void);
void notify_watchdog(void);
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The watchdog interval in microseconds, 0 when not asked for. */
uint64_t notify_watchdog_usec(void);

#endif
