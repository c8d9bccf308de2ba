/* holder.c: the lease holder's name and whether it is gone; see holder.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "holder.h"

#define BOOT_ID_FILE	"/proc/sys/kernel/random/boot_id"
#define MACHINE_ID_FILE "/etc/machine-id"

/* The first line of path into buf (without its newline); -1 on failure. */
static int
holder_read_line(const char *path, char *buf, size_t len)
{
	FILE  *f;
	size_t n;

	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	if (fgets(buf, (int)len, f) == NULL) {
		fclose(f);
		return -1;
	}
	fclose(f);
	n = strcspn(buf, "\n");
	buf[n] = '\0';
	return n > 0 ? 0 : -1;
}

int
holder_self(char *buf, size_t len, size_t *prefix_len)
{
	char	boot[64], ns[64];
	ssize_t n;
	int	w;

	/*
	 * Under systemd's ProcSubset=pid, /proc/sys is hidden: the machine
	 * id names the machine then (a reboot is not told apart, which only
	 * means a PID taken again since looks alive: its jobs wait).
	 */
	if (holder_read_line(BOOT_ID_FILE, boot, sizeof(boot)) == -1 &&
	    holder_read_line(MACHINE_ID_FILE, boot, sizeof(boot)) == -1)
		return -1;
	n = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
	if (n <= 0)
		return -1;
	ns[n] = '\0';
	w = snprintf(buf, len, "%s/%s/", boot, ns);
	if (w < 0 || (size_t)w >= len)
		return -1;
	*prefix_len = (size_t)w;
	w = snprintf(buf + *prefix_len, len - *prefix_len, "%ld",
	    (long)getpid());
	if (w < 0 || (size_t)w >= len - *prefix_len)
		return -1;
	return 0;
}

int
holder_gone(const char *holder, const char *self, size_t prefix_len)
{
	char *end;
	long  pid;

	if (strlen(holder) <= prefix_len ||
	    strncmp(holder, self, prefix_len) != 0)
		return 0; /* another machine, boot or container */
	errno = 0;
	pid = strtol(holder + prefix_len, &end, 10);
	if (errno != 0 || *end != '\0' || pid <= 1)
		return 0;
	if (pid == (long)getpid())
		return 1; /* an earlier process with our PID: not running */
	return kill((pid_t)pid, 0) == -1 && errno == ESRCH;
}
