/*
 * orphans.h: at start-up, the jobs of a daemon of this machine that is
 * gone (killed, crashed: systemd restarted us) are resumed at once rather
 * than after their leases run out. Their holder (holder.h) names a PID of
 * our boot and PID namespace that no longer runs: their leases end now
 * (through the holder column, so a record claimed since is not touched)
 * and each record goes back to the stream, where the claim's lease guard
 * decides as always.
 */
#ifndef SCENEGEND_ORPHANS_H
#define SCENEGEND_ORPHANS_H

struct scenegend;

/* Look once for the jobs of gone holders and resume them. */
void orphans_resume(struct scenegend *);

#endif
