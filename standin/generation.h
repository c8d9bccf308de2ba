/*
 * generation.h: the stand-in's table of generations.
 *
 * Ids grow from a start value and are never reused, not even across a
 * reset, so a client can never confuse two generations.  The table owns
 * every generation; pointers stay valid until the next reset or free.
 */
#ifndef STANDIN_GENERATION_H
#define STANDIN_GENERATION_H

#include <stddef.h>
#include <stdint.h>

#include "faults.h"

struct generation {
	uint64_t      id;
	char	     *track_id;	    /* NULL: the create carried none */
	double	      ready_at;	    /* monotonic seconds */
	double	      expire_at;    /* URLs 404 from then; 0: never */
	unsigned int  flags;	    /* FAULT_F_* in force */
	struct faults fetch_faults; /* kind FAULT_NONE: plain fetches */
	unsigned long fetches;
};

struct gen_table;

double		   gen_clock(void);
struct gen_table  *gen_table_new(uint64_t);
void		   gen_table_free(struct gen_table *);
void		   gen_table_reset(struct gen_table *);
struct generation *gen_add(struct gen_table *, double, double, const char *);
struct generation *gen_find(struct gen_table *, uint64_t);
size_t		   gen_count(const struct gen_table *);
size_t		   gen_processing(struct gen_table *, double);
size_t		   gen_processing_peak(const struct gen_table *);
double		   gen_next_ready(struct gen_table *, double);

#endif /* STANDIN_GENERATION_H */
