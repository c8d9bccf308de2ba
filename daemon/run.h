/*
 * run.h: the work of one job up to its outcome: claim the row, create or
 * resume the generation at the provider, poll it, download the image.
 * Outcomes are handed to finish.c.
 */
#ifndef SCENEGEND_RUN_H
#define SCENEGEND_RUN_H

struct scenegend;
struct job;

/* A stream entry arrived (record_id NULL: malformed entry). */
void run_entry(struct scenegend *, const char *entry_id, const char *record_id);
/*
 * The drain time is over: hand back every job that sits at a safe point
 * now (waiting, polling, downloading); the others do it at their next.
 */
void run_hand_back_all(struct scenegend *);

#endif
