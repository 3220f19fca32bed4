/*
 * print_line.c - the one-line summary of a message, tcpdump style:
 *
 *   @0 link 0x0 msg 1 HELLO len 96 VERSION=1 NODE="alpha" LIMITS{...}
 *   12:00:00.000100 10.0.0.1.40000 > 10.0.0.2.7470: link 0x5 msg 7
 *       VFS_LOOKUP reply len 120 STATUS=OK ATTR{MODE=0o40755 ...} (0.213 ms)
 *
 * The line stays short on purpose: long strings are cut, byte items show
 * their length, containers their first children, and at most
 * LINE_ITEMS items appear. -v shows everything.
 */
#include <inttypes.h>
#include <stdio.h>

#include "printer.h"
#include "schema.h"
#include "value.h"

#define LINE_ITEMS	8	/* items of a message shown */
#define LINE_CHILDREN	4	/* children of a container shown */

static void compact_item(FILE *f, struct proto_iter *parent,
    const struct proto_item *it, unsigned flags);

static void
compact_nest(FILE *f, struct proto_iter *parent, const struct proto_item *it,
    unsigned flags)
{
	struct proto_iter child;
	struct proto_item c;
	int n = 0;

	putc_unlocked('{', f);
	if (proto_iter_nest(&child, parent, it, NULL) == 0) {
		while (proto_iter_next(&child, &c, NULL) > 0) {
			if (n > 0)
				putc_unlocked(' ', f);
			if (n++ == LINE_CHILDREN) {
				fputs_unlocked("...", f);
				break;
			}
			compact_item(f, &child, &c, flags);
		}
	}
	putc_unlocked('}', f);
}

static void
compact_item(FILE *f, struct proto_iter *parent, const struct proto_item *it,
    unsigned flags)
{
	const struct schema_item *si = value_schema(it, parent);
	uint16_t n = proto_item_datalen(it);

	/* -n: the itemid, flags and all, as for a type without a name. */
	if (si != NULL && !(flags & VALUE_NUMERIC))
		fputs_unlocked(si->name, f);
	else
		fprintf(f, "0x%04x", it->id);
	if (it->id & PROTO_FLAG_NEST) {
		compact_nest(f, parent, it, flags);
		return;
	}
	if (si != NULL && si->kind == PROTO_KIND_EMPTY)
		return;
	if ((si == NULL || si->kind == PROTO_KIND_BYTES) &&
	    !(it->id & PROTO_FLAG_REF) && n > VALUE_SUMMARY_BYTES) {
		fprintf(f, "[%u]", n);
		return;
	}
	putc_unlocked('=', f);
	if (si == NULL)
		value_raw(f, it);
	else if (si->kind == PROTO_KIND_STRING)
		value_string(f, it->data, n, VALUE_SUMMARY_STRING);
	else
		value_leaf(f, it, si, flags);
}

/* "link 0x5 msg 7 VFS_LOOKUP reply len 120": shared with the tree. */
void
print_header(struct printer *p, const struct origin *o,
    const struct proto_msg *m)
{
	const struct schema_command *sc = schema_command(proto_msg_command(m));
	FILE *f = p->out;

	print_prefix(p, o);
	if (o->src == NULL)
		fprintf(f, "@%" PRIu64 " ", m->offset);
	fputs_unlocked("link ", f);
	value_put_hex(f, m->linkid);
	fputs_unlocked(" msg ", f);
	value_put_u64(f, m->msgid);
	putc_unlocked(' ', f);
	fputs_unlocked(color_cmd(p), f);
	if (sc != NULL && !p->numeric)
		fputs_unlocked(sc->name, f);
	else
		fprintf(f, "0x%04x", proto_msg_command(m));
	if (proto_msg_is_reply(m))
		fputs_unlocked(" reply", f);
	fputs_unlocked(color_off(p), f);
	fputs_unlocked(" len ", f);
	value_put_u64(f, m->length);
}

/* What ends both the summary and the tree's first line. */
void
print_trailer(struct printer *p, const struct origin *o,
    const struct proto_error *err)
{
	if (err != NULL) {
		fprintf(p->out, " %s[malformed @%" PRIu64 ": ", color_bad(p),
		    err->offset);
		print_reason(p->out, err);
		fprintf(p->out, "]%s", color_off(p));
	}
	if (o->latency_ns >= 0)
		fprintf(p->out, " (%" PRId64 ".%03" PRId64 " ms)",
		    o->latency_ns / 1000000, o->latency_ns / 1000 % 1000);
}

void
print_line(struct printer *p, const struct origin *o,
    const struct proto_msg *m, const struct proto_error *err)
{
	unsigned flags = VALUE_HUMAN | (p->numeric ? VALUE_NUMERIC : 0);
	struct proto_iter it;
	struct proto_item item;
	int n = 0, more = 0;

	print_header(p, o, m);
	proto_iter_init(&it, m);
	while (proto_iter_next(&it, &item, NULL) > 0) {
		if (n++ >= LINE_ITEMS) {
			more++;
			continue;
		}
		putc_unlocked(' ', p->out);
		compact_item(p->out, &it, &item, flags);
	}
	if (more > 0)
		fprintf(p->out, " +%d more", more);
	print_trailer(p, o, err);
	putc_unlocked('\n', p->out);
}
