/*
 * One-line logging to stderr with journald priority prefixes ("<3>"...).
 * Control characters in the formatted line are replaced, so text that a
 * client or the provider sent can never forge a second log line.
 */
#ifndef SCENEGEN_LOG_H
#define SCENEGEN_LOG_H

#include <syslog.h>

/* Set the program name and the least important priority still written. */
void log_init(const char *progname, int max_priority);

/* Write one line at priority (LOG_ERR .. LOG_DEBUG). */
void log_msg(int priority, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

/* Parse "err", "warning", "notice", "info" or "debug"; -1 if unknown. */
int log_priority_from_name(const char *name);

#endif
