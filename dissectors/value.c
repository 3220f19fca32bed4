/*
 * value.c - item values as text, shared by the summary, the tree and the
 * text notation.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "value.h"

/* Data length the schema demands for a named item, or -1 for any. */
static int
schema_size(const struct schema_item *si)
{
	struct proto_itemspec spec = { si->kind, si->ref_ok, si->size };

	return proto_kind_size((enum proto_kind)si->kind, &spec);
}

int
value_nest_links(const struct proto_iter *parent,
    const struct proto_item *nest)
{
	struct proto_iter it;
	struct proto_item child;

	if (proto_iter_nest(&it, parent, nest, NULL) < 0)
		return 0;
	while (proto_iter_next(&it, &child, NULL) > 0) {
		if (child.id & (PROTO_FLAG_LINK | PROTO_FLAG_REF))
			return 1;
		if ((child.id & PROTO_FLAG_NEST) &&
		    value_nest_links(&it, &child))
			return 1;
	}
	return 0;
}

static const struct schema_item *
nest_schema(const struct proto_item *it, const struct proto_iter *parent,
    const struct schema_item *si)
{
	int links;

	if (!(it->id & PROTO_FLAG_NEST) || (it->id & PROTO_FLAG_REF))
		return NULL;
	links = value_nest_links(parent, it);
	if (links != !!(it->id & PROTO_FLAG_LINK))
		return NULL;
	return si;
}

const struct schema_item *
value_schema(const struct proto_item *it, const struct proto_iter *parent)
{
	const struct schema_item *si = schema_item(proto_item_type(it));
	size_t bad;
	int want;

	if (si == NULL)
		return NULL;
	if (si->kind == PROTO_KIND_NEST)
		return nest_schema(it, parent, si);
	if (it->id & PROTO_FLAG_NEST)
		return NULL;
	if (it->id & PROTO_FLAG_REF) {
		if (!si->ref_ok || (it->id & PROTO_FLAG_LINK) ||
		    it->len != PROTO_ITEM_HDR_LEN + PROTO_REF_DATA_LEN)
			return NULL;
		return si;
	}
	if ((si->kind == PROTO_KIND_LINKIDS) != !!(it->id & PROTO_FLAG_LINK))
		return NULL;
	want = schema_size(si);
	if (want >= 0 && proto_item_datalen(it) != want)
		return NULL;
	if (si->kind == PROTO_KIND_LINKIDS && proto_item_datalen(it) % 8 != 0)
		return NULL;
	if (si->kind == PROTO_KIND_STRING &&
	    proto_utf8_check(it->data, proto_item_datalen(it), &bad) !=
	    PROTO_OK)
		return NULL;
	return si;
}

void
value_put_u64(FILE *f, uint64_t v)
{
	char buf[24];
	char *p = buf + sizeof(buf);

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	fwrite_unlocked(p, 1, (size_t)(buf + sizeof(buf) - p), f);
}

static const char hexdigits[] = "0123456789abcdef";

/* 0x1f or 0o17: `bits` 4 or 3 a digit, `mark` the letter after 0. */
static void
put_radix(FILE *f, uint64_t v, unsigned bits, char mark)
{
	char buf[28];
	char *p = buf + sizeof(buf);

	do {
		*--p = hexdigits[v & ((1u << bits) - 1)];
		v >>= bits;
	} while (v != 0);
	*--p = mark;
	*--p = '0';
	fwrite_unlocked(p, 1, (size_t)(buf + sizeof(buf) - p), f);
}

void
value_put_hex(FILE *f, uint64_t v)
{
	put_radix(f, v, 4, 'x');
}

void
value_put_hexbytes(FILE *f, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		putc_unlocked(hexdigits[p[i] >> 4], f);
		putc_unlocked(hexdigits[p[i] & 15], f);
	}
}

void
value_put_time(FILE *f, int64_t ns)
{
	int64_t sec = ns / 1000000000, frac = ns % 1000000000;
	struct tm tm;
	time_t t;

	if (frac < 0) {
		frac += 1000000000;
		sec--;
	}
	t = (time_t)sec;
	if (gmtime_r(&t, &tm) == NULL) {
		fprintf(f, "%" PRId64, ns);
		return;
	}
	fprintf(f, "%04d-%02d-%02dT%02d:%02d:%02d.%09" PRId64 "Z",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, frac);
}

/* FEATURES=CRC|AUTH; bits without a name as one hex remainder. */
static void
put_bits(FILE *f, const struct schema_values *values, uint64_t v)
{
	const struct schema_value *b;
	uint64_t left = v;
	int n = 0;

	if (v == 0 || values == NULL) {
		value_put_hex(f, v);
		return;
	}
	for (b = values->list; b->name != NULL; b++) {
		if (b->value < 64 && (v & (1ull << b->value))) {
			if (n++ > 0)
				putc_unlocked('|', f);
			fputs_unlocked(b->name, f);
			left &= ~(1ull << b->value);
		}
	}
	if (left != 0) {
		if (n > 0)
			putc_unlocked('|', f);
		value_put_hex(f, left);
	}
}

void
value_uint(FILE *f, const struct schema_item *si, uint64_t v, unsigned flags)
{
	const char *name;

	switch (si->format) {
	case FMT_HEX:
	case FMT_LINKID:
		value_put_hex(f, v);
		return;
	case FMT_OCTAL:
		put_radix(f, v, 3, 'o');
		return;
	case FMT_BITS:
		if (flags & VALUE_NUMERIC)
			value_put_hex(f, v);
		else
			put_bits(f, si->values, v);
		return;
	case FMT_ERRNO:
	case FMT_ENUM:
		name = (flags & VALUE_NUMERIC) ? NULL :
		    schema_value_name(si->values, v);
		if (name != NULL)
			fputs_unlocked(name, f);
		else
			value_put_u64(f, v);
		return;
	case FMT_TIME:
		if ((flags & VALUE_HUMAN) && v <= INT64_MAX)
			value_put_time(f, (int64_t)v);
		else
			value_put_u64(f, v);
		return;
	default:
		value_put_u64(f, v);
		return;
	}
}

void
value_int(FILE *f, const struct schema_item *si, int64_t v, unsigned flags)
{
	if (si->format == FMT_TIME && (flags & VALUE_HUMAN)) {
		value_put_time(f, v);
		return;
	}
	if (v < 0) {
		putc_unlocked('-', f);
		value_put_u64(f, 0 - (uint64_t)v);
		return;
	}
	value_put_u64(f, (uint64_t)v);
}

void
value_string(FILE *f, const uint8_t *s, size_t n, size_t max)
{
	size_t i, end = (max != 0 && n > max) ? max : n;
	uint8_t c;

	putc_unlocked('"', f);
	for (i = 0; i < end; i++) {
		c = s[i];
		if (c == '"' || c == '\\') {
			putc_unlocked('\\', f);
			putc_unlocked(c, f);
		} else if (c >= 0x20 && c < 0x7f) {
			putc_unlocked(c, f);
		} else if (c == '\n') {
			fputs_unlocked("\\n", f);
		} else if (c == '\t') {
			fputs_unlocked("\\t", f);
		} else if (c == '\r') {
			fputs_unlocked("\\r", f);
		} else {
			putc_unlocked('\\', f);
			putc_unlocked('x', f);
			value_put_hexbytes(f, &c, 1);
		}
	}
	putc_unlocked('"', f);
	if (end < n)
		fputs_unlocked("...", f);
}

void
value_hex(FILE *f, const uint8_t *p, size_t n)
{
	fputs_unlocked("x'", f);
	value_put_hexbytes(f, p, n);
	putc_unlocked('\'', f);
}

static void
put_ref(FILE *f, const struct proto_item *it)
{
	struct proto_ref ref;

	if (proto_item_ref(it, &ref, NULL) < 0) {
		value_hex(f, it->data, proto_item_datalen(it));
		return;
	}
	fputs_unlocked("ref(", f);
	value_put_hex(f, ref.linkid);
	putc_unlocked(',', f);
	value_put_u64(f, ref.offset);
	putc_unlocked(',', f);
	value_put_u64(f, ref.length);
	putc_unlocked(')', f);
}

void
value_raw(FILE *f, const struct proto_item *it)
{
	if (it->id & PROTO_FLAG_REF)
		put_ref(f, it);
	else
		value_hex(f, it->data, proto_item_datalen(it));
}

static void
put_linkids(FILE *f, const struct proto_item *it)
{
	size_t i, n = proto_item_datalen(it) / 8;

	for (i = 0; i < n; i++) {
		if (i > 0)
			putc_unlocked(',', f);
		value_put_hex(f, proto_item_linkid(it, i));
	}
}

void
value_leaf(FILE *f, const struct proto_item *it, const struct schema_item *si,
    unsigned flags)
{
	uint64_t u;
	int64_t s;

	if (it->id & PROTO_FLAG_REF) {
		put_ref(f, it);
		return;
	}
	switch (si->kind) {
	case PROTO_KIND_U16:
		value_uint(f, si, proto_get16(it->data), flags);
		return;
	case PROTO_KIND_U32:
		value_uint(f, si, proto_get32(it->data), flags);
		return;
	case PROTO_KIND_U64:
		value_uint(f, si, proto_get64(it->data), flags);
		return;
	case PROTO_KIND_I64:
		u = proto_get64(it->data);
		memcpy(&s, &u, sizeof(s));
		value_int(f, si, s, flags);
		return;
	case PROTO_KIND_STRING:
		value_string(f, it->data, proto_item_datalen(it), 0);
		return;
	case PROTO_KIND_LINKIDS:
		put_linkids(f, it);
		return;
	case PROTO_KIND_BYTES:
		value_hex(f, it->data, proto_item_datalen(it));
		return;
	default:
		return;
	}
}
