/*
 * table.c - u64 keys to pointers, open addressing with linear probing.
 *
 * Deletion shifts the rest of a run back (no tombstones), so a table
 * that sees millions of commands come and go over a session stays as
 * fast as a fresh one. It grows at half full and never shrinks below
 * what it once needed; an empty table holds no memory at all.
 */
#include <stdlib.h>

#include "session_int.h"

static size_t
slot_of(uint64_t key, size_t mask)
{
	/* splitmix64's finaliser: consecutive ids spread over the table. */
	key ^= key >> 30;
	key *= 0xbf58476d1ce4e5b9ull;
	key ^= key >> 27;
	key *= 0x94d049bb133111ebull;
	key ^= key >> 31;
	return (size_t)key & mask;
}

/* The slot holding key, or NULL. */
static struct lpi_slot *
find(const struct lpi_table *t, uint64_t key)
{
	size_t mask, i;

	if (t->n == 0)
		return NULL;
	mask = t->n - 1;
	for (i = slot_of(key, mask); t->slots[i].val != NULL;
	    i = (i + 1) & mask)
		if (t->slots[i].key == key)
			return &t->slots[i];
	return NULL;
}

void *
lpi_table_get(const struct lpi_table *t, uint64_t key)
{
	struct lpi_slot *s = find(t, key);

	return s != NULL ? s->val : NULL;
}

static void
place(struct lpi_slot *slots, size_t n, uint64_t key, void *val)
{
	size_t mask = n - 1, i;

	for (i = slot_of(key, mask); slots[i].val != NULL; i = (i + 1) & mask)
		;
	slots[i].key = key;
	slots[i].val = val;
}

static int
grow(struct lpi_table *t)
{
	size_t n = t->n ? t->n * 2 : 8, i;
	struct lpi_slot *slots = calloc(n, sizeof(*slots));

	if (slots == NULL)
		return -1;
	for (i = 0; i < t->n; i++)
		if (t->slots[i].val != NULL)
			place(slots, n, t->slots[i].key, t->slots[i].val);
	free(t->slots);
	t->slots = slots;
	t->n = n;
	return 0;
}

int
lpi_table_put(struct lpi_table *t, uint64_t key, void *val)
{
	if ((t->used + 1) * 2 > t->n && grow(t) < 0)
		return -1;
	place(t->slots, t->n, key, val);
	t->used++;
	return 0;
}

void *
lpi_table_del(struct lpi_table *t, uint64_t key)
{
	struct lpi_slot *s = find(t, key);
	size_t mask, i, j, home;
	void *val;

	if (s == NULL)
		return NULL;
	mask = t->n - 1;
	i = (size_t)(s - t->slots);
	val = s->val;
	t->slots[i].val = NULL;
	t->used--;
	/* Move up each later entry of the run whose home is not in (i, j]. */
	for (j = (i + 1) & mask; t->slots[j].val != NULL; j = (j + 1) & mask) {
		home = slot_of(t->slots[j].key, mask);
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			t->slots[i] = t->slots[j];
			t->slots[j].val = NULL;
			i = j;
		}
	}
	return val;
}

void
lpi_table_free(struct lpi_table *t)
{
	free(t->slots);
	t->slots = NULL;
	t->n = 0;
	t->used = 0;
}
