/*
 * events.h: live status (scenegend(8), "Live status"): each change of a
 * record's status or progress, published as the record's status document
 * to nchan's publisher on SCENEGEN_EVENTS_SOCKET, in order per record and
 * without blocking the loop. Knows no job: it is told a record id.
 */
#ifndef SCENEGEND_EVENTS_H
#define SCENEGEND_EVENTS_H

#include <libpq-fe.h>

struct scenegend;
struct events;

/* NULL when out of memory; with no events socket, a no-op publisher. */
struct events *events_new(struct scenegend *);
/* Drop what is in flight, without callbacks (after db and http). */
void	       events_free(struct events *);
/*
 * What record_id's status document shows changed: res holds its row's
 * STATUS_COLUMNS (lib/status_doc.h) from column col on. Publish the
 * document, after the one in flight for that record if any. Failures are
 * only logged.
 */
void events_changed(struct events *, const char *record_id, const PGresult *res,
    int col);

#endif
