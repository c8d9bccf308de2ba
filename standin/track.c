/*
 * track.c: a string-keyed hash table (FNV-1a, chained, doubling) of
 * per-track_id counters, also linked in first-seen order for listing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "track.h"

#define BUCKETS_MIN 1024

struct track_table {
	struct track **buckets;
	size_t	       nbuckets; /* a power of two */
	size_t	       count;
	struct track  *head, *tail; /* first-seen order */
};

/* FNV-1a, 64 bits. */
static uint64_t
hash_key(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

/* An empty table; NULL when out of memory. */
struct track_table *
track_table_new(void)
{
	struct track_table *t;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->buckets = calloc(BUCKETS_MIN, sizeof(*t->buckets));
	if (t->buckets == NULL) {
		free(t);
		return NULL;
	}
	t->nbuckets = BUCKETS_MIN;
	return t;
}

static void
track_free(struct track *tr)
{
	free(tr->key);
	free(tr->last_body);
	free(tr->last_key_header);
	free(tr);
}

/* Frees every entry; keeps the bucket array. */
void
track_table_reset(struct track_table *t)
{
	struct track *tr, *next;

	for (tr = t->head; tr != NULL; tr = next) {
		next = tr->order;
		track_free(tr);
	}
	memset(t->buckets, 0, t->nbuckets * sizeof(*t->buckets));
	t->head = t->tail = NULL;
	t->count = 0;
}

void
track_table_free(struct track_table *t)
{
	if (t == NULL)
		return;
	track_table_reset(t);
	free(t->buckets);
	free(t);
}

/* Doubles the bucket array; on failure the table just stays denser. */
static void
rehash(struct track_table *t)
{
	struct track **nb, *tr;
	size_t	       n, i;

	if (t->nbuckets > SIZE_MAX / 2 / sizeof(*nb))
		return;
	n = t->nbuckets * 2;
	nb = calloc(n, sizeof(*nb));
	if (nb == NULL)
		return;
	for (tr = t->head; tr != NULL; tr = tr->order) {
		i = (size_t)(hash_key(tr->key) & (n - 1));
		tr->chain = nb[i];
		nb[i] = tr;
	}
	free(t->buckets);
	t->buckets = nb;
	t->nbuckets = n;
}

/* The entry for key, or NULL. */
struct track *
track_find(const struct track_table *t, const char *key)
{
	struct track *tr;

	tr = t->buckets[hash_key(key) & (t->nbuckets - 1)];
	for (; tr != NULL; tr = tr->chain)
		if (strcmp(tr->key, key) == 0)
			return tr;
	return NULL;
}

/* The entry for key, made with zero counts if new; NULL when out of memory. */
struct track *
track_get(struct track_table *t, const char *key)
{
	struct track *tr;
	size_t	      i;

	tr = track_find(t, key);
	if (tr != NULL)
		return tr;
	tr = calloc(1, sizeof(*tr));
	if (tr == NULL)
		return NULL;
	tr->key = strdup(key);
	if (tr->key == NULL) {
		free(tr);
		return NULL;
	}
	if (t->count >= t->nbuckets)
		rehash(t);
	i = (size_t)(hash_key(key) & (t->nbuckets - 1));
	tr->chain = t->buckets[i];
	t->buckets[i] = tr;
	if (t->tail != NULL)
		t->tail->order = tr;
	else
		t->head = tr;
	t->tail = tr;
	t->count++;
	return tr;
}

const struct track *
track_first(const struct track_table *t)
{
	return t->head;
}

size_t
track_count(const struct track_table *t)
{
	return t->count;
}

/*
 * Keeps a copy of the last create body (len bytes) and its "key:" header
 * (NULL for none).  Returns -1 when out of memory, the old copies kept.
 */
int
track_set_last(struct track *tr, const char *body, size_t len,
    const char *key_header)
{
	char *b, *k = NULL;

	b = malloc(len + 1);
	if (b == NULL)
		return -1;
	memcpy(b, body, len);
	b[len] = '\0';
	if (key_header != NULL) {
		k = strdup(key_header);
		if (k == NULL) {
			free(b);
			return -1;
		}
	}
	free(tr->last_body);
	free(tr->last_key_header);
	tr->last_body = b;
	tr->last_key_header = k;
	return 0;
}
