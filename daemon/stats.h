/*
 * stats.h: the numbers a sysadmin needs: a STATUS= line for systemd, an
 * optional Prometheus text file, and the {scenegen}:stats hash the API
 * reads for its estimates.
 */
#ifndef SCENEGEND_STATS_H
#define SCENEGEND_STATS_H

struct scenegend;
struct stats;

struct stats *stats_new(struct scenegend *);
void	      stats_free(struct stats *);
/* One provider call took seconds. */
void	      stats_provider_call(struct stats *, double seconds);
/* One job took seconds from claim to completed. */
void	      stats_generation(struct stats *, double seconds);
/* Every second: publish; every few: status line, metrics, queue depth. */
void	      stats_tick(struct stats *);
/* Write the status line now (start, reload, stop). */
void	      stats_status(struct stats *);

#endif
