/*
 * encode.c - the message builder.
 *
 * Every item starts at the 8-aligned offset after the one before; the
 * builder zeroes the pad as it goes, so a finished buffer is a stream that
 * proto_msg_validate() accepts.
 */
#include <stdlib.h>
#include <string.h>

#include "proto_crc32c.h"
#include "proto_encode.h"
#include "proto_numbers.h"

void
proto_builder_init(struct proto_builder *b)
{
	memset(b, 0, sizeof(*b));
}

void
proto_builder_init_fixed(struct proto_builder *b, void *buf, size_t cap)
{
	memset(b, 0, sizeof(*b));
	b->buf = buf;
	b->cap = cap;
	b->fixed = 1;
}

void
proto_builder_free(struct proto_builder *b)
{
	if (!b->fixed)
		free(b->buf);
	memset(b, 0, sizeof(*b));
}

void
proto_builder_reset(struct proto_builder *b)
{
	b->len = 0;
	b->open = 0;
	b->depth = 0;
	b->err.reason = PROTO_OK;
}

static int
fail(struct proto_builder *b, enum proto_reason reason)
{
	if (b->err.reason == PROTO_OK)
		proto_error_set(&b->err, reason, b->len, 0, 0, 0);
	return -1;
}

/* Room for `need` more bytes after b->len. */
static int
reserve(struct proto_builder *b, size_t need)
{
	size_t cap;
	uint8_t *p;

	if (b->cap - b->len >= need)
		return 0;
	if (b->fixed)
		return fail(b, PROTO_E_NOMEM);
	cap = b->cap ? b->cap : 4096;
	while (cap - b->len < need)
		cap *= 2;
	p = realloc(b->buf, cap);
	if (p == NULL)
		return fail(b, PROTO_E_NOMEM);
	b->buf = p;
	b->cap = cap;
	return 0;
}

int
proto_build_begin(struct proto_builder *b, uint64_t linkid, uint32_t msgid,
    uint16_t command)
{
	uint8_t *h;

	if (b->err.reason != PROTO_OK)
		return -1;
	if (b->open)
		return fail(b, PROTO_E_MISUSE);
	if (reserve(b, PROTO_HDR_LEN) < 0)
		return -1;
	b->msg_start = b->len;
	h = b->buf + b->len;
	proto_put64(h, linkid);
	proto_put32(h + 8, msgid);
	proto_put16(h + 12, command);
	proto_put16(h + 14, 0);
	b->len += PROTO_HDR_LEN;
	b->cur = b->len;
	b->open = 1;
	b->depth = 0;
	b->nest_link[0] = 0;
	return 0;
}

int
proto_build_verbatim(struct proto_builder *b, const void *p, size_t n)
{
	if (b->err.reason != PROTO_OK)
		return -1;
	if (b->open)
		return fail(b, PROTO_E_MISUSE);
	if (reserve(b, n) < 0)
		return -1;
	if (n > 0)
		memcpy(b->buf + b->len, p, n);
	b->len += n;
	return 0;
}

/*
 * Start an item of `total` bytes (header included) at the next aligned
 * offset: checks the message bound, zeroes the pad before it. Returns a
 * pointer to the item's first byte.
 */
static uint8_t *
item_start(struct proto_builder *b, size_t total)
{
	size_t at, end;

	if (b->err.reason != PROTO_OK)
		return NULL;
	if (!b->open) {
		fail(b, PROTO_E_MISUSE);
		return NULL;
	}
	at = b->msg_start + proto_align8((uint32_t)(b->cur - b->msg_start));
	end = at + total;
	if (total > PROTO_MSG_MAX || end - b->msg_start > PROTO_MSG_MAX) {
		fail(b, PROTO_E_TOO_BIG);
		return NULL;
	}
	if (reserve(b, end - b->len) < 0)
		return NULL;
	memset(b->buf + b->cur, 0, at - b->cur);
	b->cur = end;
	b->len = end;
	return b->buf + at;
}

int
proto_build_raw(struct proto_builder *b, uint16_t itemid, const void *data,
    size_t len)
{
	uint8_t *p;

	if (len > PROTO_MSG_MAX)
		return fail(b, PROTO_E_TOO_BIG);
	p = item_start(b, PROTO_ITEM_HDR_LEN + len);
	if (p == NULL)
		return -1;
	proto_put16(p, itemid);
	proto_put16(p + 2, (uint16_t)(PROTO_ITEM_HDR_LEN + len));
	if (len > 0)
		memcpy(p + PROTO_ITEM_HDR_LEN, data, len);
	if (itemid & (PROTO_FLAG_LINK | PROTO_FLAG_REF))
		b->nest_link[b->depth] = 1;
	return 0;
}

int
proto_build_items(struct proto_builder *b, const void *items, size_t len)
{
	const uint8_t *p = items;
	uint8_t *dst;
	size_t pos, itemlen;

	if (len == 0)
		return b->err.reason == PROTO_OK ? 0 : -1;
	if (len > PROTO_MSG_MAX)
		return fail(b, PROTO_E_TOO_BIG);
	dst = item_start(b, len);
	if (dst == NULL)
		return -1;
	memcpy(dst, p, len);
	/* Walk the top items' headers for LINK and REF flags. */
	for (pos = 0; pos + PROTO_ITEM_HDR_LEN <= len; pos += itemlen) {
		if (proto_get16(p + pos) & (PROTO_FLAG_LINK | PROTO_FLAG_REF))
			b->nest_link[b->depth] = 1;
		itemlen = proto_align8(proto_get16(p + pos + 2));
		if (itemlen == 0)
			break;
	}
	return 0;
}

static int
build_leaf(struct proto_builder *b, uint16_t type, const void *data,
    size_t len)
{
	return proto_build_raw(b, type & PROTO_TYPE_MASK, data, len);
}

int
proto_build_empty(struct proto_builder *b, uint16_t type)
{
	return build_leaf(b, type, NULL, 0);
}

int
proto_build_u16(struct proto_builder *b, uint16_t type, uint16_t v)
{
	uint8_t d[2];

	proto_put16(d, v);
	return build_leaf(b, type, d, sizeof(d));
}

int
proto_build_u32(struct proto_builder *b, uint16_t type, uint32_t v)
{
	uint8_t d[4];

	proto_put32(d, v);
	return build_leaf(b, type, d, sizeof(d));
}

int
proto_build_u64(struct proto_builder *b, uint16_t type, uint64_t v)
{
	uint8_t d[8];

	proto_put64(d, v);
	return build_leaf(b, type, d, sizeof(d));
}

int
proto_build_i64(struct proto_builder *b, uint16_t type, int64_t v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	return proto_build_u64(b, type, u);
}

int
proto_build_string(struct proto_builder *b, uint16_t type, const char *s,
    size_t len)
{
	return build_leaf(b, type, s, len);
}

int
proto_build_bytes(struct proto_builder *b, uint16_t type, const void *p,
    size_t len)
{
	return build_leaf(b, type, p, len);
}

int
proto_build_linkids(struct proto_builder *b, uint16_t type,
    const uint64_t *ids, size_t count)
{
	uint8_t *p;
	size_t i;

	if (count > PROTO_MSG_MAX / 8)
		return fail(b, PROTO_E_TOO_BIG);
	p = item_start(b, PROTO_ITEM_HDR_LEN + 8 * count);
	if (p == NULL)
		return -1;
	proto_put16(p, (uint16_t)((type & PROTO_TYPE_MASK) | PROTO_FLAG_LINK));
	proto_put16(p + 2, (uint16_t)(PROTO_ITEM_HDR_LEN + 8 * count));
	for (i = 0; i < count; i++)
		proto_put64(p + PROTO_ITEM_HDR_LEN + 8 * i, ids[i]);
	b->nest_link[b->depth] = 1;
	return 0;
}

int
proto_build_ref(struct proto_builder *b, uint16_t type,
    const struct proto_ref *ref, int link_flag)
{
	uint8_t d[PROTO_REF_DATA_LEN];
	uint16_t id = (type & PROTO_TYPE_MASK) | PROTO_FLAG_REF;

	if (link_flag)
		id |= PROTO_FLAG_LINK;
	proto_put64(d, ref->linkid);
	proto_put64(d + 8, ref->offset);
	proto_put64(d + 16, ref->length);
	return proto_build_raw(b, id, d, sizeof(d));
}

int
proto_build_nest_begin(struct proto_builder *b, uint16_t type, uint16_t flags)
{
	uint8_t *p;

	if (b->err.reason != PROTO_OK)
		return -1;
	if (b->open && b->depth >= PROTO_NEST_MAX)
		return fail(b, PROTO_E_TOO_DEEP);
	p = item_start(b, PROTO_NEST_HDR_LEN);
	if (p == NULL)
		return -1;
	proto_put16(p, (uint16_t)((type & PROTO_TYPE_MASK) | PROTO_FLAG_NEST |
	    (flags & PROTO_FLAG_LINK)));
	proto_put16(p + 2, 0);
	memset(p + PROTO_ITEM_HDR_LEN, 0, 4);
	b->nest_start[b->depth] = (size_t)(p - b->buf);
	b->depth++;
	b->nest_link[b->depth] = 0;
	return 0;
}

int
proto_build_nest_end(struct proto_builder *b)
{
	uint8_t *p;
	uint16_t id;

	if (b->err.reason != PROTO_OK)
		return -1;
	if (!b->open || b->depth == 0)
		return fail(b, PROTO_E_MISUSE);
	b->depth--;
	p = b->buf + b->nest_start[b->depth];
	id = proto_get16(p);
	if (b->nest_link[b->depth + 1])
		id |= PROTO_FLAG_LINK;
	if (id & PROTO_FLAG_LINK)
		b->nest_link[b->depth] = 1;
	proto_put16(p, id);
	proto_put16(p + 2, (uint16_t)(b->cur - b->nest_start[b->depth]));
	return 0;
}

int
proto_build_end(struct proto_builder *b)
{
	size_t length, total;

	if (b->err.reason != PROTO_OK)
		return -1;
	if (!b->open || b->depth != 0)
		return fail(b, PROTO_E_MISUSE);
	length = b->cur - b->msg_start;
	total = proto_align8((uint32_t)length);
	if (reserve(b, b->msg_start + total - b->len) < 0)
		return -1;
	memset(b->buf + b->msg_start + length, 0, total - length);
	proto_put16(b->buf + b->msg_start + 14, (uint16_t)length);
	b->len = b->msg_start + total;
	b->open = 0;
	return (int)total;
}

int
proto_build_end_crc(struct proto_builder *b)
{
	struct proto_msg m;
	size_t pos;
	uint32_t crc;
	int total;

	if (proto_build_u32(b, PROTO_ITEM_CRC, 0) < 0)
		return -1;
	pos = b->cur - 4 - PROTO_ITEM_HDR_LEN - b->msg_start;
	total = proto_build_end(b);
	if (total < 0)
		return -1;
	if (proto_msg_view(&m, b->buf + b->msg_start, (size_t)total, 0,
	    NULL) < 0)
		return fail(b, PROTO_E_MISUSE);
	crc = proto_msg_crc(&m, (uint32_t)pos);
	proto_put32(b->buf + b->msg_start + pos + PROTO_ITEM_HDR_LEN, crc);
	return total;
}

void
proto_builder_truncate(struct proto_builder *b, size_t len)
{
	if (len < b->len)
		b->len = len;
	b->open = 0;
	b->depth = 0;
	b->err.reason = PROTO_OK;
}

void
proto_build_abort(struct proto_builder *b)
{
	if (b->open)
		b->len = b->msg_start;
	b->open = 0;
	b->depth = 0;
	b->err.reason = PROTO_OK;
}
