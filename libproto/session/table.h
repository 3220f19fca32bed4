/*
 * table.h - an open-addressing hash table from 64-bit keys to pointers:
 * links by id, calls and requests by msgid, inotify watches.
 */
#ifndef LPI_TABLE_H
#define LPI_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct lpi_slot {
	uint64_t key;
	void *val;		/* NULL: empty */
};

struct lpi_table {
	struct lpi_slot *slots;
	size_t n;		/* a power of two, or 0 */
	size_t used;
};

void *lpi_table_get(const struct lpi_table *t, uint64_t key);
/* key must not be there yet. 0, or -1 when out of memory. */
int lpi_table_put(struct lpi_table *t, uint64_t key, void *val);
void *lpi_table_del(struct lpi_table *t, uint64_t key);
void lpi_table_free(struct lpi_table *t);

#endif
