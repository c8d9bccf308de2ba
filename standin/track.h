/*
 * track.h: per-track_id counters of the stand-in, so tests can check that
 * a client never paid twice for one record.  The table owns its entries;
 * pointers stay valid until the next reset or free.
 */
#ifndef STANDIN_TRACK_H
#define STANDIN_TRACK_H

#include <stddef.h>

struct track {
	struct track *chain; /* next in the hash bucket */
	struct track *order; /* next in first-seen order */
	char	     *key;
	unsigned long creates;
	unsigned long fetches;
	char	     *last_body;       /* last create body; NULL: none */
	char	     *last_key_header; /* its "key:" header; NULL: none */
};

struct track_table;

struct track_table *track_table_new(void);
void		    track_table_free(struct track_table *);
void		    track_table_reset(struct track_table *);
struct track	   *track_get(struct track_table *, const char *);
struct track	   *track_find(const struct track_table *, const char *);
const struct track *track_first(const struct track_table *);
size_t		    track_count(const struct track_table *);
int track_set_last(struct track *, const char *, size_t, const char *);

#endif /* STANDIN_TRACK_H */
