/*
 * lease.h: keeping the jobs we hold. Every third of the lease, one
 * statement renews the leases of all of them; a job whose lease was not
 * renewed (we were paused, someone reclaimed it) is abandoned without
 * writing. The stream entries of renewed jobs are XCLAIMed again so their
 * idle time restarts, and entries idle past the lease (a dead consumer's)
 * are taken over with XAUTOCLAIM.
 */
#ifndef SCENEGEND_LEASE_H
#define SCENEGEND_LEASE_H

struct scenegend;
struct lease;

struct lease *lease_new(struct scenegend *);
void	      lease_free(struct lease *);
/* The heartbeat timer. */
void	      lease_tick(struct lease *);
/*
 * Record record_id was canceled (NOTIFY scenegen_cancels): stop the job
 * we hold for it now, if any, as the heartbeat would have.
 */
void	      lease_record_canceled(struct scenegend *, const char *record_id);

#endif
