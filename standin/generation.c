/*
 * generation.c: the stand-in's table of generations, indexed by id, and a
 * min-heap of the ready times of those still processing (for the queue
 * limit, retry_after and the processing counters).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "generation.h"

struct gen_table {
	uint64_t	    first_id; /* id of slots[0] */
	uint64_t	    next_id;
	struct generation **slots; /* slots[id - first_id] */
	size_t		    len, cap;
	double		   *heap; /* ready times, min first */
	size_t		    hlen, hcap;
	size_t		    peak;
};

/* Monotonic seconds, for ready and expiry times. */
double
gen_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* An empty table whose first id is first_id; NULL when out of memory. */
struct gen_table *
gen_table_new(uint64_t first_id)
{
	struct gen_table *t;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->first_id = first_id;
	t->next_id = first_id;
	return t;
}

/* Frees every generation; ids go on from where they were. */
void
gen_table_reset(struct gen_table *t)
{
	size_t i;

	for (i = 0; i < t->len; i++) {
		if (t->slots[i] != NULL) {
			free(t->slots[i]->track_id);
			free(t->slots[i]);
		}
	}
	t->len = 0;
	t->first_id = t->next_id;
	t->hlen = 0;
	t->peak = 0;
}

void
gen_table_free(struct gen_table *t)
{
	if (t == NULL)
		return;
	gen_table_reset(t);
	free(t->slots);
	free(t->heap);
	free(t);
}

/*
 * Returns arr grown to hold at least want elements of size sz (arr itself
 * when it is big enough), or NULL when out of memory, arr untouched.
 */
static void *
grow(void *arr, size_t *cap, size_t want, size_t sz)
{
	void  *p;
	size_t ncap;

	if (want <= *cap)
		return arr;
	ncap = *cap == 0 ? 1024 : *cap * 2;
	while (ncap < want)
		ncap *= 2;
	if (ncap > SIZE_MAX / sz)
		return NULL;
	p = realloc(arr, ncap * sz);
	if (p == NULL)
		return NULL;
	*cap = ncap;
	return p;
}

static void
heap_swap(double *h, size_t a, size_t b)
{
	double x = h[a];

	h[a] = h[b];
	h[b] = x;
}

/* Pushes a ready time onto the processing heap; -1 on OOM. */
static int
heap_push(struct gen_table *t, double v)
{
	double *h;
	size_t	i, parent;

	h = grow(t->heap, &t->hcap, t->hlen + 1, sizeof(*t->heap));
	if (h == NULL)
		return -1;
	t->heap = h;
	i = t->hlen++;
	t->heap[i] = v;
	while (i > 0) {
		parent = (i - 1) / 2;
		if (t->heap[parent] <= t->heap[i])
			break;
		heap_swap(t->heap, parent, i);
		i = parent;
	}
	return 0;
}

/* Removes the earliest ready time. */
static void
heap_pop(struct gen_table *t)
{
	size_t i, l, r, m;

	t->heap[0] = t->heap[--t->hlen];
	i = 0;
	for (;;) {
		l = 2 * i + 1;
		r = l + 1;
		m = i;
		if (l < t->hlen && t->heap[l] < t->heap[m])
			m = l;
		if (r < t->hlen && t->heap[r] < t->heap[m])
			m = r;
		if (m == i)
			break;
		heap_swap(t->heap, i, m);
		i = m;
	}
}

/* How many generations are still processing at now. */
size_t
gen_processing(struct gen_table *t, double now)
{
	while (t->hlen > 0 && t->heap[0] <= now)
		heap_pop(t);
	return t->hlen;
}

/* The most generations processing at once since start or reset. */
size_t
gen_processing_peak(const struct gen_table *t)
{
	return t->peak;
}

/* When the next processing generation gets ready; 0 when none is. */
double
gen_next_ready(struct gen_table *t, double now)
{
	if (gen_processing(t, now) == 0)
		return 0.0;
	return t->heap[0];
}

/*
 * Adds a generation ready at ready_at (now or later).  track_id is
 * copied (NULL for none).  The caller fills in flags, faults and expiry.
 * Returns NULL when out of memory; the table is unchanged then.
 */
struct generation *
gen_add(struct gen_table *t, double now, double ready_at, const char *track_id)
{
	struct generation *g, **slots;
	size_t		   processing;

	slots = grow(t->slots, &t->cap, t->len + 1, sizeof(*t->slots));
	if (slots == NULL)
		return NULL;
	t->slots = slots;
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return NULL;
	if (track_id != NULL) {
		g->track_id = strdup(track_id);
		if (g->track_id == NULL)
			goto fail;
	}
	if (ready_at > now && heap_push(t, ready_at) == -1)
		goto fail;
	processing = gen_processing(t, now);
	if (processing > t->peak)
		t->peak = processing;
	g->id = t->next_id++;
	g->ready_at = ready_at;
	faults_init(&g->fetch_faults);
	t->slots[t->len++] = g;
	return g;
fail:
	free(g->track_id);
	free(g);
	return NULL;
}

/* The generation with this id, or NULL. */
struct generation *
gen_find(struct gen_table *t, uint64_t id)
{
	if (id < t->first_id || id - t->first_id >= t->len)
		return NULL;
	return t->slots[id - t->first_id];
}

size_t
gen_count(const struct gen_table *t)
{
	return t->len;
}
