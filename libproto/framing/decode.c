/*
 * decode.c - views of messages and items; the rules of msgproto(7)
 * section 2, checked as the iterator walks.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto_decode.h"
#include "proto_numbers.h"

/*
 * The library is built with -fno-semantic-interposition (see the
 * Makefile), so the exported functions below inline into
 * proto_msg_validate() like static ones would.
 */
const struct proto_itemspec *
proto_itemspec(uint16_t type)
{
	if (type >= proto_itemspec_count)
		return NULL;
	return &proto_itemspecs[type];
}

/*
 * Data sizes of the kinds whose size is fixed; -1: any size, or a size
 * that depends on the item type (BYTES, LINKIDS: spec->size).
 */
static const int8_t kind_fixed[PROTO_KIND_COUNT] = {
	[PROTO_KIND_UNKNOWN] = -1,
	[PROTO_KIND_EMPTY] = 0,
	[PROTO_KIND_U16] = 2,
	[PROTO_KIND_U32] = 4,
	[PROTO_KIND_U64] = 8,
	[PROTO_KIND_I64] = 8,
	[PROTO_KIND_STRING] = -1,
	[PROTO_KIND_BYTES] = -1,
	[PROTO_KIND_LINKIDS] = -1,
	[PROTO_KIND_NEST] = -1,
};

int
proto_kind_size(enum proto_kind kind, const struct proto_itemspec *spec)
{
	if ((unsigned)kind >= PROTO_KIND_COUNT)
		return -1;
	if ((kind == PROTO_KIND_BYTES || kind == PROTO_KIND_LINKIDS) &&
	    spec != NULL && spec->size != 0)
		return spec->size;
	return kind_fixed[kind];
}

int
proto_msg_view(struct proto_msg *m, const uint8_t *buf, size_t len,
    uint64_t offset, struct proto_error *err)
{
	uint16_t length;

	if (len < PROTO_HDR_LEN)
		return proto_error_set(err, PROTO_E_SHORT_HEADER, offset, 0,
		    len, PROTO_HDR_LEN);
	length = proto_get16(buf + 14);
	if (length < PROTO_MSG_MIN)
		return proto_error_set(err, PROTO_E_LENGTH, offset + 14, 0,
		    length, PROTO_MSG_MIN);
	if (len < length)
		return proto_error_set(err, PROTO_E_TRUNCATED, offset, 0, len,
		    length);
	m->bytes = buf;
	m->offset = offset;
	m->linkid = proto_get64(buf);
	m->msgid = proto_get32(buf + 8);
	m->command = proto_get16(buf + 12);
	m->length = length;
	return 0;
}

void
proto_iter_init(struct proto_iter *it, const struct proto_msg *m)
{
	it->base = m->bytes;
	it->offset = m->offset;
	it->pos = PROTO_HDR_LEN;
	it->end = m->length;
	it->depth = 0;
}

int
proto_iter_nest(struct proto_iter *child, const struct proto_iter *parent,
    const struct proto_item *nest, struct proto_error *err)
{
	uint32_t pos;

	if (!(nest->id & PROTO_FLAG_NEST))
		return proto_error_set(err, PROTO_E_ITEM_KIND, nest->offset,
		    nest->id, 0, 0);
	pos = (uint32_t)(nest->offset - parent->offset);
	child->base = parent->base;
	child->offset = parent->offset;
	child->pos = pos + PROTO_NEST_HDR_LEN;
	child->end = pos + nest->len;
	child->depth = (uint8_t)(nest->depth + 1);
	return 0;
}

/* Offset within p[0..n) of the first nonzero byte, or -1. */
static int
first_nonzero(const uint8_t *p, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return (int)i;
	return -1;
}

/* The checks that depend on the item header alone. */
static int
check_item_header(const struct proto_iter *it, uint16_t id, uint16_t len,
    uint32_t left, uint64_t off, struct proto_error *err)
{
	const uint8_t *p = it->base + it->pos;
	int nz;

	if ((id & PROTO_FLAG_NEST) && (id & PROTO_FLAG_REF))
		return proto_error_set(err, PROTO_E_REF_NEST, off, id, 0, 0);
	if (id & PROTO_FLAG_NEST) {
		if (len < PROTO_NEST_HDR_LEN)
			return proto_error_set(err, PROTO_E_ITEMLEN, off + 2,
			    id, len, PROTO_NEST_HDR_LEN);
		if (len > left)
			return proto_error_set(err, PROTO_E_ITEM_OVERRUN,
			    off + 2, id, len, left);
		if (it->depth >= PROTO_NEST_MAX)
			return proto_error_set(err, PROTO_E_DEPTH, off, id,
			    it->depth + 1u, PROTO_NEST_MAX);
		/* One load for the 4 zero bytes; the loop finds the culprit. */
		if (proto_get32(p + PROTO_ITEM_HDR_LEN) != 0) {
			nz = first_nonzero(p + PROTO_ITEM_HDR_LEN, 4);
			return proto_error_set(err, PROTO_E_ITEM_PAD,
			    off + PROTO_ITEM_HDR_LEN + (unsigned)nz, id, 0, 0);
		}
		return 0;
	}
	if (len < PROTO_ITEM_HDR_LEN)
		return proto_error_set(err, PROTO_E_ITEMLEN, off + 2, id, len,
		    PROTO_ITEM_HDR_LEN);
	if (len > left)
		return proto_error_set(err, PROTO_E_ITEM_OVERRUN, off + 2, id,
		    len, left);
	if (id & PROTO_FLAG_REF) {
		if (len != PROTO_ITEM_HDR_LEN + PROTO_REF_DATA_LEN)
			return proto_error_set(err, PROTO_E_REF_LEN, off + 2,
			    id, len, PROTO_ITEM_HDR_LEN + PROTO_REF_DATA_LEN);
		return 0;
	}
	if ((id & PROTO_FLAG_LINK) && ((len - PROTO_ITEM_HDR_LEN) & 7) != 0)
		return proto_error_set(err, PROTO_E_LINK_LEN, off + 2, id,
		    len - PROTO_ITEM_HDR_LEN, 8);
	return 0;
}

int
proto_iter_next(struct proto_iter *it, struct proto_item *item,
    struct proto_error *err)
{
	uint32_t pos = it->pos, end = it->end, left, next;
	uint64_t off;
	uint16_t id, len;
	int nz;

	if (pos >= end)
		return 0;
	left = end - pos;
	off = it->offset + pos;
	if (left < PROTO_ITEM_HDR_LEN)
		return proto_error_set(err, PROTO_E_ITEM_OVERRUN, off, 0, left,
		    PROTO_ITEM_HDR_LEN);
	id = proto_get16(it->base + pos);
	len = proto_get16(it->base + pos + 2);
	if (check_item_header(it, id, len, left, off, err) < 0)
		return -1;
	if (len == left) {
		next = end;
	} else {
		next = pos + proto_align8(len);
		if (next >= end)
			return proto_error_set(err, PROTO_E_ITEMS_END,
			    off + len, id, pos + len, end);
		/* The pad is the tail of the word before `next`, which
		   lies inside this item (len >= 4, so next >= pos + 8). */
		if (!proto_pad_is_zero(it->base + next - 8,
		    next - pos - len)) {
			nz = first_nonzero(it->base + pos + len,
			    next - pos - len);
			return proto_error_set(err, PROTO_E_ITEM_PAD,
			    off + len + (unsigned)nz, id, 0, 0);
		}
	}
	item->data = it->base + pos + PROTO_ITEM_HDR_LEN;
	item->offset = off;
	item->id = id;
	item->len = len;
	item->depth = it->depth;
	it->pos = next;
	return 1;
}

/* An item of a known type against its kind: flags, size, UTF-8. */
static int
check_kind(const struct proto_item *it, struct proto_error *err)
{
	const struct proto_itemspec *spec = proto_itemspec(proto_item_type(it));
	enum proto_reason r;
	size_t bad;
	int want;

	if (spec == NULL || spec->kind == PROTO_KIND_UNKNOWN)
		return 0;
	if (spec->kind == PROTO_KIND_NEST) {
		if (!(it->id & PROTO_FLAG_NEST))
			return proto_error_set(err, PROTO_E_ITEM_KIND,
			    it->offset, it->id, 0, 0);
		return 0;
	}
	if (it->id & PROTO_FLAG_NEST)
		return proto_error_set(err, PROTO_E_ITEM_KIND, it->offset,
		    it->id, 0, 0);
	if (it->id & PROTO_FLAG_REF) {
		if (!spec->ref_ok)
			return proto_error_set(err, PROTO_E_ITEM_KIND,
			    it->offset, it->id, 0, 0);
		return 0;
	}
	if ((spec->kind == PROTO_KIND_LINKIDS) != !!(it->id & PROTO_FLAG_LINK))
		return proto_error_set(err, PROTO_E_ITEM_KIND, it->offset,
		    it->id, 0, 0);
	want = proto_kind_size(spec->kind, spec);
	if (want >= 0 && proto_item_datalen(it) != want)
		return proto_error_set(err, PROTO_E_ITEM_SIZE, it->offset + 2,
		    it->id, proto_item_datalen(it), (unsigned)want);
	if (spec->kind != PROTO_KIND_STRING)
		return 0;
	r = proto_utf8_check(it->data, proto_item_datalen(it), &bad);
	if (r != PROTO_OK)
		return proto_error_set(err, r, it->offset + PROTO_ITEM_HDR_LEN +
		    bad, it->id, 0, 0);
	return 0;
}

/*
 * The fast paths of proto_msg_validate(). Each decides quickly that the
 * item at it->pos is one the full checks (proto_iter_next(), then check_kind())
 * would accept, with the same effect; when it is not sure - the end of
 * the level, a REF, an unusual type, anything wrong - it returns 0 and
 * the full checks run on the same item. They never decide an error, so
 * the errors, their order and their offsets are those of the full checks.
 */

/*
 * Where the next item starts after an item of itemlen `len` >= 4 at
 * base[pos], or 0 if the item does not fit exactly: the next item starts
 * at the next multiple of 8 before `end`, after a zero pad, or the item
 * is the last and ends at `end`. Computing the aligned end first covers
 * the overrun check too: an item whose pad ends before `end` fits.
 */
static inline uint32_t
item_end(const uint8_t *base, uint32_t pos, uint32_t end, uint16_t len)
{
	uint32_t next = pos + proto_align8(len);

	if (next >= end)
		return len == end - pos ? end : 0;
	return proto_pad_is_zero(base + next - 8, next - pos - len) ? next : 0;
}

/*
 * What plain_leaf() asks of the data of a leaf without flags, by kind.
 * Indexed by the uint8_t kind of the generated table, so that every value
 * is in range; kinds not listed (NEST and LINKIDS, wrong without their
 * flags, or a number beyond the enum) are left to the full checks. One
 * load and one compare decide the fixed-size kinds, most items.
 */
enum {
	LEAF_SLOW = 0,	/* not decided here */
	LEAF_ANY,	/* any data: an unknown type */
	LEAF_STRING,	/* UTF-8 without NUL */
	LEAF_BYTES,	/* spec->size bytes, or any when it is 0 */
	LEAF_SIZE	/* LEAF_SIZE + n: exactly n bytes */
};

static const uint8_t leaf_rule[UINT8_MAX + 1] = {
	[PROTO_KIND_UNKNOWN] = LEAF_ANY,
	[PROTO_KIND_EMPTY] = LEAF_SIZE + 0,
	[PROTO_KIND_U16] = LEAF_SIZE + 2,
	[PROTO_KIND_U32] = LEAF_SIZE + 4,
	[PROTO_KIND_U64] = LEAF_SIZE + 8,
	[PROTO_KIND_I64] = LEAF_SIZE + 8,
	[PROTO_KIND_STRING] = LEAF_STRING,
	[PROTO_KIND_BYTES] = LEAF_BYTES,
};

/*
 * A leaf without flags, or with LINK alone: header, trailing pad and data
 * (size, link ids, UTF-8) right for its type. Returns where the next item
 * starts, or 0. Sets *linked for a LINK item, as the full path does.
 */
static inline uint32_t
plain_leaf(const struct proto_iter *it, uint32_t pos, uint8_t *linked)
{
	const uint8_t *base = it->base;
	const struct proto_itemspec *spec;
	uint32_t end = it->end, next;
	uint16_t id, len, flags;
	size_t bad;
	uint8_t rule;

	if (end - pos < PROTO_ITEM_HDR_LEN)
		return 0;
	id = proto_get16(base + pos);
	len = proto_get16(base + pos + 2);
	flags = id & PROTO_FLAG_MASK;
	if ((flags & ~PROTO_FLAG_LINK) != 0 || len < PROTO_ITEM_HDR_LEN)
		return 0;
	next = item_end(base, pos, end, len);
	if (next == 0)
		return 0;
	spec = proto_itemspec(id & PROTO_TYPE_MASK);
	if (flags != 0) {
		/* Link ids, u64 each, of a LINKIDS type or an unknown one. */
		if (((len - PROTO_ITEM_HDR_LEN) & 7) != 0)
			return 0;
		if (spec != NULL && spec->kind != PROTO_KIND_UNKNOWN &&
		    (spec->kind != PROTO_KIND_LINKIDS || (spec->size != 0 &&
		    len - PROTO_ITEM_HDR_LEN != spec->size)))
			return 0;
		*linked = 1;
		return next;
	}
	if (spec == NULL)
		return next;
	rule = leaf_rule[spec->kind];
	if (rule >= LEAF_SIZE)
		return len - PROTO_ITEM_HDR_LEN == rule - LEAF_SIZE ? next : 0;
	switch (rule) {
	case LEAF_ANY:
		return next;
	case LEAF_STRING:
		return proto_utf8_check(base + pos + PROTO_ITEM_HDR_LEN,
		    len - PROTO_ITEM_HDR_LEN, &bad) == PROTO_OK ? next : 0;
	case LEAF_BYTES:
		return spec->size == 0 ||
		    len - PROTO_ITEM_HDR_LEN == spec->size ? next : 0;
	default:
		return 0;
	}
}

/*
 * A container (NEST, not REF) of a NEST type or an unknown one, that fits
 * and is not too deep, with zero pads. Fills *item and moves it->pos on,
 * as proto_iter_next() does, and returns 1; or returns 0.
 */
static inline int
plain_nest(struct proto_iter *it, struct proto_item *item)
{
	const uint8_t *p = it->base + it->pos;
	const struct proto_itemspec *spec;
	uint32_t pos = it->pos, end = it->end, next;
	uint16_t id, len;

	if (end - pos < PROTO_ITEM_HDR_LEN)
		return 0;
	id = proto_get16(p);
	len = proto_get16(p + 2);
	if ((id & (PROTO_FLAG_NEST | PROTO_FLAG_REF)) != PROTO_FLAG_NEST ||
	    len < PROTO_NEST_HDR_LEN || it->depth >= PROTO_NEST_MAX)
		return 0;
	next = item_end(it->base, pos, end, len);
	if (next == 0 || proto_get32(p + PROTO_ITEM_HDR_LEN) != 0)
		return 0;
	spec = proto_itemspec(id & PROTO_TYPE_MASK);
	if (spec != NULL && spec->kind != PROTO_KIND_UNKNOWN &&
	    spec->kind != PROTO_KIND_NEST)
		return 0;
	item->data = p + PROTO_ITEM_HDR_LEN;
	item->offset = it->offset + pos;
	item->id = id;
	item->len = len;
	item->depth = it->depth;
	it->pos = next;
	return 1;
}

/*
 * Depth-first over the whole tree with an explicit stack: the depth is
 * bounded by PROTO_NEST_MAX, so the stack is too. Most items take the
 * fast paths above; the rest, and every error, the full checks.
 */
int
proto_msg_validate(const struct proto_msg *m, struct proto_error *err)
{
	struct proto_iter stack[PROTO_NEST_MAX + 1];
	struct proto_item nest[PROTO_NEST_MAX + 1];
	uint8_t linked[PROTO_NEST_MAX + 1];
	struct proto_item item;
	struct proto_iter *it;
	uint32_t pos, next;
	int top = 0;

	proto_iter_init(&stack[0], m);
	linked[0] = 0;
	for (;;) {
		it = &stack[top];
		pos = it->pos;
		while ((next = plain_leaf(it, pos, &linked[top])) != 0)
			pos = next;
		it->pos = pos;
		if (pos >= it->end) {
			/* The end of the level: proto_iter_next() would return 0. */
			if (top == 0)
				return 0;
			if (linked[top] && !(nest[top].id & PROTO_FLAG_LINK))
				return proto_error_set(err, PROTO_E_NEST_LINK,
				    nest[top].offset, nest[top].id, 0, 0);
			top--;
			continue;
		}
		if (!plain_nest(it, &item)) {
			/* pos < end: an item, or an error. */
			if (proto_iter_next(it, &item, err) < 0 ||
			    check_kind(&item, err) < 0)
				return -1;
		}
		if (item.id & (PROTO_FLAG_LINK | PROTO_FLAG_REF))
			linked[top] = 1;
		if (!(item.id & PROTO_FLAG_NEST))
			continue;
		if (proto_iter_nest(&stack[top + 1], it, &item, err) < 0)
			return -1;
		top++;
		nest[top] = item;
		linked[top] = 0;
	}
}

int
proto_msg_find(const struct proto_msg *m, uint16_t type,
    struct proto_item *item, struct proto_error *err)
{
	struct proto_iter it;
	int r;

	proto_iter_init(&it, m);
	while ((r = proto_iter_next(&it, item, err)) > 0)
		if (proto_item_type(item) == type)
			return 1;
	return r;
}

uint32_t
proto_msg_status(const struct proto_msg *m)
{
	struct proto_item it;
	uint32_t status = 0;

	if (proto_msg_find(m, PROTO_ITEM_STATUS, &it, NULL) > 0)
		(void)proto_item_u32(&it, &status, NULL);
	return status;
}

/* A leaf that is not a REF, with exactly `want` data bytes if want >= 0. */
static int
check_leaf(const struct proto_item *it, int want, struct proto_error *err)
{
	if (it->id & (PROTO_FLAG_NEST | PROTO_FLAG_REF))
		return proto_error_set(err, PROTO_E_ITEM_KIND, it->offset,
		    it->id, 0, 0);
	if (want >= 0 && proto_item_datalen(it) != want)
		return proto_error_set(err, PROTO_E_ITEM_SIZE, it->offset + 2,
		    it->id, proto_item_datalen(it), (unsigned)want);
	return 0;
}

int
proto_item_empty(const struct proto_item *it, struct proto_error *err)
{
	return check_leaf(it, 0, err);
}

int
proto_item_u16(const struct proto_item *it, uint16_t *v,
    struct proto_error *err)
{
	if (check_leaf(it, 2, err) < 0)
		return -1;
	*v = proto_get16(it->data);
	return 0;
}

int
proto_item_u32(const struct proto_item *it, uint32_t *v,
    struct proto_error *err)
{
	if (check_leaf(it, 4, err) < 0)
		return -1;
	*v = proto_get32(it->data);
	return 0;
}

int
proto_item_u64(const struct proto_item *it, uint64_t *v,
    struct proto_error *err)
{
	if (check_leaf(it, 8, err) < 0)
		return -1;
	*v = proto_get64(it->data);
	return 0;
}

int
proto_item_i64(const struct proto_item *it, int64_t *v,
    struct proto_error *err)
{
	uint64_t u;

	if (proto_item_u64(it, &u, err) < 0)
		return -1;
	memcpy(v, &u, sizeof(*v));
	return 0;
}

int
proto_item_string(const struct proto_item *it, const char **s, size_t *len,
    struct proto_error *err)
{
	enum proto_reason r;
	size_t bad;

	if (check_leaf(it, -1, err) < 0)
		return -1;
	r = proto_utf8_check(it->data, proto_item_datalen(it), &bad);
	if (r != PROTO_OK)
		return proto_error_set(err, r, it->offset + PROTO_ITEM_HDR_LEN +
		    bad, it->id, 0, 0);
	*s = (const char *)it->data;
	*len = proto_item_datalen(it);
	return 0;
}

int
proto_item_bytes(const struct proto_item *it, const uint8_t **p, size_t *len,
    int want, struct proto_error *err)
{
	if (check_leaf(it, want, err) < 0)
		return -1;
	*p = it->data;
	*len = proto_item_datalen(it);
	return 0;
}

int
proto_item_ref(const struct proto_item *it, struct proto_ref *ref,
    struct proto_error *err)
{
	if (!(it->id & PROTO_FLAG_REF) || (it->id & PROTO_FLAG_NEST))
		return proto_error_set(err, PROTO_E_ITEM_KIND, it->offset,
		    it->id, 0, 0);
	if (it->len != PROTO_ITEM_HDR_LEN + PROTO_REF_DATA_LEN)
		return proto_error_set(err, PROTO_E_REF_LEN, it->offset + 2,
		    it->id, it->len, PROTO_ITEM_HDR_LEN + PROTO_REF_DATA_LEN);
	ref->linkid = proto_get64(it->data);
	ref->offset = proto_get64(it->data + 8);
	ref->length = proto_get64(it->data + 16);
	return 0;
}

int
proto_item_linkids(const struct proto_item *it, size_t *count,
    struct proto_error *err)
{
	if (check_leaf(it, -1, err) < 0)
		return -1;
	if (!(it->id & PROTO_FLAG_LINK))
		return proto_error_set(err, PROTO_E_ITEM_KIND, it->offset,
		    it->id, 0, 0);
	if (proto_item_datalen(it) % 8 != 0)
		return proto_error_set(err, PROTO_E_LINK_LEN, it->offset + 2,
		    it->id, proto_item_datalen(it), 8);
	*count = proto_item_datalen(it) / 8;
	return 0;
}

/* Eight ASCII bytes, none of them NUL. */
static int
plain_ascii8(const uint8_t *s)
{
	uint64_t w;

	memcpy(&w, s, sizeof(w));
	if (w & 0x8080808080808080ull)
		return 0;
	/* Classic zero-byte test: borrows only out of a zero byte. */
	return ((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull) == 0;
}

/* Length of the UTF-8 sequence at s[0..n), or 0 if it is not one. */
static size_t
utf8_seq(const uint8_t *s, size_t n)
{
	uint8_t c = s[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (c >= 0xc2 && c <= 0xdf)
		need = 1;
	else if (c >= 0xe0 && c <= 0xef)
		need = 2;
	else if (c >= 0xf0 && c <= 0xf4)
		need = 3;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;	/* overlong */
	else if (c == 0xed)
		hi = 0x9f;	/* surrogates */
	else if (c == 0xf0)
		lo = 0x90;	/* overlong */
	else if (c == 0xf4)
		hi = 0x8f;	/* beyond U+10FFFF */
	if (n < need + 1)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i <= need; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return need + 1;
}

enum proto_reason
proto_utf8_check(const uint8_t *s, size_t n, size_t *bad)
{
	size_t i = 0, k;

	/*
	 * Names are mostly plain ASCII: whole words, then the word that
	 * ends the string, overlapping the last one checked (checking an
	 * ASCII byte twice changes nothing), and no byte loop. Anything else
	 * goes on in the loop below from the first word that is not plain;
	 * the loop would have skipped the same words before it.
	 */
	if (n >= 8) {
		while (i + 8 <= n && plain_ascii8(s + i))
			i += 8;
		if (i + 8 > n && plain_ascii8(s + n - 8))
			return PROTO_OK;
	}
	while (i < n) {
		if (n - i >= 8 && plain_ascii8(s + i)) {
			i += 8;
			continue;
		}
		if (s[i] == 0) {
			*bad = i;
			return PROTO_E_NUL;
		}
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		k = utf8_seq(s + i, n - i);
		if (k == 0) {
			*bad = i;
			return PROTO_E_UTF8;
		}
		i += k;
	}
	return PROTO_OK;
}

