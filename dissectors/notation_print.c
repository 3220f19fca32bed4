/*
 * notation_print.c - write messages in the text notation (notation.h).
 *
 * Exactness first: an item goes by name only when value_schema() says
 * the name and the value say everything its bytes do; otherwise its
 * itemid and raw data are written.
 */
#include <stdio.h>

#include "notation.h"
#include "schema.h"
#include "value.h"

static void print_items(FILE *f, struct proto_iter *it, unsigned flags);

static void
print_item(FILE *f, struct proto_iter *parent, const struct proto_item *item,
    unsigned flags)
{
	const struct schema_item *si = value_schema(item, parent);
	struct proto_iter child;

	if (si != NULL)
		fputs_unlocked(si->name, f);
	else
		fprintf(f, "0x%04x", item->id);
	if (item->id & PROTO_FLAG_NEST) {
		putc_unlocked('{', f);
		if (proto_iter_nest(&child, parent, item, NULL) == 0)
			print_items(f, &child, flags);
		putc_unlocked('}', f);
		return;
	}
	if (si == NULL) {
		if (proto_item_datalen(item) > 0 || (item->id & PROTO_FLAG_REF)) {
			putc_unlocked('=', f);
			value_raw(f, item);
		}
		return;
	}
	if (si->kind == PROTO_KIND_EMPTY)
		return;
	putc_unlocked('=', f);
	value_leaf(f, item, si, flags);
}

static void
print_items(FILE *f, struct proto_iter *it, unsigned flags)
{
	struct proto_item item;
	int n = 0;

	while (proto_iter_next(it, &item, NULL) > 0) {
		if (n++ > 0 || it->depth == 0)
			putc_unlocked(' ', f);
		print_item(f, it, &item, flags);
	}
}

static void
print_dir(FILE *f, int dir)
{
	if (dir == NOTATION_DIR_OUT)
		fputs_unlocked("> ", f);
	else if (dir == NOTATION_DIR_IN)
		fputs_unlocked("< ", f);
}

void
notation_print(FILE *f, const struct proto_msg *m, int dir, unsigned flags)
{
	const struct schema_command *sc = schema_command(proto_msg_command(m));
	struct proto_iter it;

	print_dir(f, dir);
	if (sc != NULL && !(flags & VALUE_NUMERIC))
		fputs_unlocked(sc->name, f);
	else
		fprintf(f, "0x%04x", proto_msg_command(m));
	if (proto_msg_is_reply(m))
		fputs_unlocked(" reply", f);
	fputs_unlocked(" link=", f);
	value_put_hex(f, m->linkid);
	fputs_unlocked(" msg=", f);
	value_put_u64(f, m->msgid);
	proto_iter_init(&it, m);
	print_items(f, &it, flags);
	putc_unlocked('\n', f);
}

void
notation_print_raw(FILE *f, const uint8_t *p, size_t n, int dir)
{
	print_dir(f, dir);
	fputs_unlocked("raw ", f);
	value_hex(f, p, n);
}
