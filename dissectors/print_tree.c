/*
 * print_tree.c - a message and every item in it, one per line (-v):
 *
 *   @0 link 0x0 msg 1 HELLO len 96
 *       VERSION: 1
 *       LIMITS:
 *           MAX_INFLIGHT: 64
 *
 * -vv puts each item's stream offset, itemid and itemlen in front.
 * Unlike the summary nothing is cut but long byte items, whose bytes -X
 * shows in full.
 */
#include <inttypes.h>
#include <stdio.h>

#include "printer.h"
#include "schema.h"
#include "value.h"

#define TREE_BYTES	32	/* bytes of a long byte item shown */

static void
tree_value(FILE *f, const struct proto_item *it, const struct schema_item *si,
    unsigned flags)
{
	uint16_t n = proto_item_datalen(it);
	int bytes = si == NULL || si->kind == PROTO_KIND_BYTES;

	if (si != NULL && si->kind == PROTO_KIND_EMPTY)
		return;
	putc_unlocked(' ', f);
	if (bytes && !(it->id & PROTO_FLAG_REF) && n > TREE_BYTES) {
		fprintf(f, "(%u bytes) ", n);
		value_hex(f, it->data, TREE_BYTES);
		fputs_unlocked("...", f);
		return;
	}
	if (si == NULL)
		value_raw(f, it);
	else
		value_leaf(f, it, si, flags);
}

static void
tree_items(struct printer *p, struct proto_iter *it, int indent,
    unsigned flags)
{
	const struct schema_item *si;
	struct proto_iter child;
	struct proto_item item;
	FILE *f = p->out;

	while (proto_iter_next(it, &item, NULL) > 0) {
		si = value_schema(&item, it);
		fprintf(f, "%*s", indent, "");
		if (p->verbose > 1)
			fprintf(f, "[@%" PRIu64 " 0x%04x len %u] ",
			    item.offset, item.id, item.len);
		if (si != NULL && !(flags & VALUE_NUMERIC))
			fputs_unlocked(si->name, f);
		else
			fprintf(f, "0x%04x", item.id);
		putc_unlocked(':', f);
		if (item.id & PROTO_FLAG_NEST) {
			putc_unlocked('\n', f);
			if (proto_iter_nest(&child, it, &item, NULL) == 0)
				tree_items(p, &child, indent + 4, flags);
			continue;
		}
		tree_value(f, &item, si, flags);
		putc_unlocked('\n', f);
	}
}

void
print_tree(struct printer *p, const struct origin *o,
    const struct proto_msg *m, const struct proto_error *err)
{
	unsigned flags = VALUE_HUMAN | (p->numeric ? VALUE_NUMERIC : 0);
	struct proto_iter it;

	print_header(p, o, m);
	print_trailer(p, o, err);
	putc_unlocked('\n', p->out);
	proto_iter_init(&it, m);
	tree_items(p, &it, 4, flags);
}
