/*
 * holder.h: who holds a lease, written in the row at each claim, so that
 * a daemon started on the same machine can tell that the holder is gone
 * (killed, crashed) and resume its jobs at once instead of waiting out
 * their leases.
 *
 * A holder is "<boot id>/<pid namespace>/<pid>": the kernel's boot id and
 * the PID namespace make the PID meaningful (another boot, container or
 * host has other PIDs), so only a daemon that shares both may judge it.
 * Where /proc/sys is hidden (systemd's ProcSubset=pid) the machine id
 * stands in for the boot id.
 */
#ifndef SCENEGEND_HOLDER_H
#define SCENEGEND_HOLDER_H

#include <stddef.h>

#define HOLDER_MAX 128

/*
 * This process's holder into buf and the length of its "<boot id>/<pid
 * namespace>/" prefix into *prefix_len; -1 when /proc cannot say (then
 * no holder is written and no lease is judged).
 */
int holder_self(char *buf, size_t len, size_t *prefix_len);
/*
 * 1 when holder (read from a row) names a process of our boot and PID
 * namespace that is gone: its PID is free, or is our own (we are new).
 * 0 when it may be alive, or is not ours to judge.
 */
int holder_gone(const char *holder, const char *self, size_t prefix_len);

#endif
