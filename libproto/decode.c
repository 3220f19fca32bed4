/*
 * decode.c - views of messages and items; the rules of msgproto(7)
 * section 2, checked as the iterator walks.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto_decode.h"

const struct proto_itemspec *
proto_itemspec(uint16_t type)
{
	if (type >= proto_itemspec_count)
		return NULL;
	return &proto_itemspecs[type];
}

int
proto_kind_size(enum proto_kind kind, const struct proto_itemspec *spec)
{
	switch (kind) {
	case PROTO_KIND_EMPTY:
		return 0;
	case PROTO_KIND_U16:
		return 2;
	case PROTO_KIND_U32:
		return 4;
	case PROTO_KIND_U64:
	case PROTO_KIND_I64:
		return 8;
	case PROTO_KIND_BYTES:
	case PROTO_KIND_LINKIDS:
		if (spec != NULL && spec->size != 0)
			return spec->size;
		return -1;
	default:
		return -1;
	}
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
		nz = first_nonzero(p + PROTO_ITEM_HDR_LEN, 4);
		if (nz >= 0)
			return proto_error_set(err, PROTO_E_ITEM_PAD,
			    off + PROTO_ITEM_HDR_LEN + (unsigned)nz, id, 0, 0);
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
		nz = first_nonzero(it->base + pos + len, next - pos - len);
		if (nz >= 0)
			return proto_error_set(err, PROTO_E_ITEM_PAD,
			    off + len + (unsigned)nz, id, 0, 0);
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
 * Depth-first over the whole tree with an explicit stack: the depth is
 * bounded by PROTO_NEST_MAX, so the stack is too.
 */
int
proto_msg_validate(const struct proto_msg *m, struct proto_error *err)
{
	struct proto_iter stack[PROTO_NEST_MAX + 1];
	struct proto_item nest[PROTO_NEST_MAX + 1];
	uint8_t linked[PROTO_NEST_MAX + 1];
	struct proto_item item;
	int top = 0, r;

	proto_iter_init(&stack[0], m);
	linked[0] = 0;
	for (;;) {
		r = proto_iter_next(&stack[top], &item, err);
		if (r < 0)
			return -1;
		if (r == 0) {
			if (top == 0)
				return 0;
			if (linked[top] && !(nest[top].id & PROTO_FLAG_LINK))
				return proto_error_set(err, PROTO_E_NEST_LINK,
				    nest[top].offset, nest[top].id, 0, 0);
			top--;
			continue;
		}
		if (check_kind(&item, err) < 0)
			return -1;
		if (item.id & (PROTO_FLAG_LINK | PROTO_FLAG_REF))
			linked[top] = 1;
		if (!(item.id & PROTO_FLAG_NEST))
			continue;
		if (proto_iter_nest(&stack[top + 1], &stack[top], &item,
		    err) < 0)
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
