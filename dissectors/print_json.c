/*
 * print_json.c - one JSON object per message (JSON lines), for jq and
 * scripts. Field names are stable and documented in msgdump(1):
 *
 *   {"offset":0,"linkid":0,"msgid":1,"command":1,"name":"HELLO",
 *    "reply":false,"length":96,"items":[{"id":16,"type":"u16",
 *    "name":"VERSION","len":6,"value":1}, ...]}
 *
 * Integers are JSON numbers written exactly, u64 included (a reader that
 * keeps them as doubles loses precision above 2^53: that is its choice).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "printer.h"
#include "schema.h"
#include "value.h"

void
print_json_string(FILE *f, const uint8_t *s, size_t n)
{
	size_t i;

	putc_unlocked('"', f);
	for (i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\') {
			putc_unlocked('\\', f);
			putc_unlocked(s[i], f);
		} else if (s[i] < 0x20 || s[i] == 0x7f) {
			fputs_unlocked("\\u00", f);
			value_put_hexbytes(f, s + i, 1);
		} else if (s[i] == 0xc2 && i + 1 < n && s[i + 1] >= 0x80 &&
		    s[i + 1] < 0xa0) {
			/* A C1 control (U+0080..U+009F): CSI is one. */
			fputs_unlocked("\\u00", f);
			value_put_hexbytes(f, s + ++i, 1);
		} else {
			putc_unlocked(s[i], f);
		}
	}
	putc_unlocked('"', f);
}

static void
json_cstr(FILE *f, const char *s)
{
	print_json_string(f, (const uint8_t *)s, strlen(s));
}

static void
json_hex(FILE *f, const uint8_t *p, size_t n)
{
	putc_unlocked('"', f);
	value_put_hexbytes(f, p, n);
	putc_unlocked('"', f);
}

/* ,"symbol":"ENOENT" for a value the schema names. */
static void
json_symbol(FILE *f, const struct schema_item *si, uint64_t v)
{
	const char *name;

	if (si->format == FMT_BITS && si->values != NULL && v != 0) {
		fputs_unlocked(",\"symbol\":\"", f);
		value_uint(f, si, v, 0);
		putc_unlocked('"', f);
		return;
	}
	if (si->format != FMT_ERRNO && si->format != FMT_ENUM)
		return;
	name = schema_value_name(si->values, v);
	if (name != NULL)
		fprintf(f, ",\"symbol\":\"%s\"", name);
}

static void
json_uint(FILE *f, const struct schema_item *si, uint64_t v)
{
	value_put_u64(f, v);
	json_symbol(f, si, v);
}

static void
json_ref(FILE *f, const struct proto_item *it)
{
	struct proto_ref ref;

	if (proto_item_ref(it, &ref, NULL) < 0) {
		json_hex(f, it->data, proto_item_datalen(it));
		return;
	}
	fprintf(f, "{\"linkid\":%" PRIu64 ",\"offset\":%" PRIu64
	    ",\"length\":%" PRIu64 "}", ref.linkid, ref.offset, ref.length);
}

static void
json_linkids(FILE *f, const struct proto_item *it)
{
	size_t i, n = proto_item_datalen(it) / 8;

	putc_unlocked('[', f);
	for (i = 0; i < n; i++) {
		if (i > 0)
			putc_unlocked(',', f);
		value_put_u64(f, proto_item_linkid(it, i));
	}
	putc_unlocked(']', f);
}

static void
json_leaf_value(FILE *f, const struct proto_item *it,
    const struct schema_item *si)
{
	uint64_t u;

	switch (si->kind) {
	case PROTO_KIND_EMPTY:
		fputs_unlocked("null", f);
		return;
	case PROTO_KIND_U16:
		json_uint(f, si, proto_get16(it->data));
		return;
	case PROTO_KIND_U32:
		json_uint(f, si, proto_get32(it->data));
		return;
	case PROTO_KIND_U64:
		json_uint(f, si, proto_get64(it->data));
		return;
	case PROTO_KIND_I64:
		u = proto_get64(it->data);
		if (u > INT64_MAX)
			fprintf(f, "-%" PRIu64, 0 - u);
		else
			value_put_u64(f, u);
		return;
	case PROTO_KIND_STRING:
		print_json_string(f, it->data, proto_item_datalen(it));
		return;
	case PROTO_KIND_LINKIDS:
		json_linkids(f, it);
		return;
	default:
		json_hex(f, it->data, proto_item_datalen(it));
		return;
	}
}

/* The kind name JSON readers switch on. */
static const char *
json_type(const struct proto_item *it, const struct schema_item *si)
{
	if (it->id & PROTO_FLAG_NEST)
		return "nest";
	if (it->id & PROTO_FLAG_REF)
		return "ref";
	if (si == NULL)
		return "unknown";
	return schema_kind_name((enum proto_kind)si->kind);
}

static void json_items(FILE *f, struct proto_iter *it);

static void
json_item(FILE *f, struct proto_iter *parent, const struct proto_item *it)
{
	const struct schema_item *si = value_schema(it, parent);
	const struct schema_item *known = schema_item(proto_item_type(it));
	struct proto_iter child;

	fprintf(f, "{\"id\":%u,\"type\":\"%s\",\"name\":", it->id,
	    json_type(it, si));
	if (known != NULL)
		fprintf(f, "\"%s\"", known->name);
	else
		fputs_unlocked("null", f);
	fprintf(f, ",\"len\":%u", it->len);
	if (it->id & PROTO_FLAG_NEST) {
		fputs_unlocked(",\"items\":", f);
		if (proto_iter_nest(&child, parent, it, NULL) == 0)
			json_items(f, &child);
		else
			fputs_unlocked("[]", f);
	} else {
		fputs_unlocked(",\"value\":", f);
		if (it->id & PROTO_FLAG_REF)
			json_ref(f, it);
		else if (si == NULL)
			json_hex(f, it->data, proto_item_datalen(it));
		else
			json_leaf_value(f, it, si);
	}
	putc_unlocked('}', f);
}

static void
json_items(FILE *f, struct proto_iter *it)
{
	struct proto_item item;
	int n = 0;

	putc_unlocked('[', f);
	while (proto_iter_next(it, &item, NULL) > 0) {
		if (n++ > 0)
			putc_unlocked(',', f);
		json_item(f, it, &item);
	}
	putc_unlocked(']', f);
}

static void
json_origin(FILE *f, const struct origin *o)
{
	if (o->has_time)
		fprintf(f, ",\"time\":%lld.%09ld", (long long)o->ts.tv_sec,
		    o->ts.tv_nsec);
	if (o->src != NULL) {
		fputs_unlocked(",\"src\":", f);
		json_cstr(f, o->src);
		fputs_unlocked(",\"dst\":", f);
		json_cstr(f, o->dst);
	}
}

static void
json_header(FILE *f, const struct proto_msg *m)
{
	const struct schema_command *sc = schema_command(proto_msg_command(m));

	fprintf(f, ",\"linkid\":%" PRIu64 ",\"msgid\":%" PRIu32
	    ",\"command\":%u,\"name\":", m->linkid, m->msgid, m->command);
	if (sc != NULL)
		fprintf(f, "\"%s\"", sc->name);
	else
		fputs_unlocked("null", f);
	fprintf(f, ",\"reply\":%s,\"length\":%u",
	    proto_msg_is_reply(m) ? "true" : "false", m->length);
}

/*
 * The error fields shared by stream errors and malformed messages: only
 * those that mean something for the reason.
 */
static void
json_error_fields(FILE *f, const struct proto_error *err)
{
	unsigned values = printer_reason_values(err);
	const char *field = proto_reason_field(err->reason);
	char detail[160];

	fprintf(f, "{\"offset\":%" PRIu64 ",\"error\":", err->offset);
	json_cstr(f, proto_reason_str(err->reason));
	if (field[0] != '\0') {
		fputs_unlocked(",\"field\":", f);
		json_cstr(f, field);
	}
	if (err->itemid != 0)
		fprintf(f, ",\"itemid\":%u", err->itemid);
	if (values & REASON_GOT)
		fprintf(f, ",\"got\":%" PRIu64, err->got);
	if (values & REASON_WANT)
		fprintf(f, ",\"want\":%" PRIu64, err->want);
	printer_error_detail(err, detail, sizeof(detail));
	if (detail[0] != '\0') {
		fputs_unlocked(",\"detail\":", f);
		json_cstr(f, detail);
	}
}

void
print_json_error(struct printer *p, const struct origin *o,
    const struct proto_error *err)
{
	json_error_fields(p->out, err);
	json_origin(p->out, o);
	fputs_unlocked("}\n", p->out);
}

void
print_json_note(struct printer *p, const struct origin *o, uint64_t offset,
    const struct note *n)
{
	FILE *f = p->out;

	fprintf(f, "{\"offset\":%" PRIu64 ",\"note\":", offset);
	json_cstr(f, n->what);
	if (n->key != NULL)
		fprintf(f, ",\"%s\":%" PRIu64, n->key, n->n);
	if (n->reason != NULL) {
		fputs_unlocked(",\"reason\":", f);
		json_cstr(f, n->reason);
	}
	json_origin(f, o);
	fputs_unlocked("}\n", f);
}

static void
json_hex_field(struct printer *p, const struct origin *o,
    const struct proto_msg *m)
{
	if (!p->hex)
		return;
	fputs_unlocked(",\"hex\":", p->out);
	json_hex(p->out, m->bytes, o->frame_len ? o->frame_len : m->length);
}

void
print_json(struct printer *p, const struct origin *o,
    const struct proto_msg *m, const struct proto_error *err)
{
	struct proto_iter it;
	FILE *f = p->out;

	if (err != NULL) {
		json_error_fields(f, err);
		fprintf(f, ",\"message_offset\":%" PRIu64, m->offset);
		json_header(f, m);
		json_origin(f, o);
		json_hex_field(p, o, m);
		fputs_unlocked("}\n", f);
		return;
	}
	fprintf(f, "{\"offset\":%" PRIu64, m->offset);
	json_origin(f, o);
	json_header(f, m);
	fputs_unlocked(",\"items\":", f);
	proto_iter_init(&it, m);
	json_items(f, &it);
	if (o->latency_ns >= 0)
		fprintf(f, ",\"latency_ns\":%" PRId64, o->latency_ns);
	json_hex_field(p, o, m);
	fputs_unlocked("}\n", f);
}
