/*
 * fuzz_decode.c - the decoder on one arbitrary message.
 *
 * The input is viewed as one message at a stream offset past 4 GiB (so
 * an offset cut to 32 bits shows). Any broken invariant traps:
 *
 * - proto_msg_view() refuses exactly what section 2 says, with the
 *   decisions' offsets and numbers;
 * - proto_msg_validate() gives what a plain reference validator gives
 *   (every field of the error): the iterator for the framing rules, the
 *   decisions' kind, size, flag and UTF-8 rules written out here
 *   independently of decode.c's fast paths;
 * - a full walk (proto_iter_next, proto_iter_nest) never fails on a
 *   message that validates, and its errors are item reasons inside the
 *   message; every typed accessor on every item agrees with the item's
 *   bytes;
 * - a message that validates, built again with the builder (raw leaves
 *   with their exact itemid, nest_begin/nest_end with the NEST's LINK
 *   flag), comes out byte for byte the same;
 * - proto_msg_find() finds the first item of its type, or says why not.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "libproto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BASE	((1ull << 32) + 8)

static void
must(int ok)
{
	if (!ok)
		__builtin_trap();
}

static int
set(struct proto_error *e, enum proto_reason r, uint64_t off, uint16_t id,
    uint64_t got, uint64_t want)
{
	e->reason = r;
	e->offset = off;
	e->itemid = id;
	e->got = got;
	e->want = want;
	return -1;
}

/* UTF-8 by decoding each code point: no overlongs, surrogates, NUL. */
static enum proto_reason
ref_utf8(const uint8_t *s, size_t n, size_t *bad)
{
	uint32_t cp, min;
	size_t i = 0, len, k;

	while (i < n) {
		*bad = i;
		if (s[i] == 0)
			return PROTO_E_NUL;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc0 && s[i] <= 0xdf) {
			len = 2;
			min = 0x80;
			cp = s[i] & 0x1f;
		} else if (s[i] >= 0xe0 && s[i] <= 0xef) {
			len = 3;
			min = 0x800;
			cp = s[i] & 0x0f;
		} else if (s[i] >= 0xf0 && s[i] <= 0xf7) {
			len = 4;
			min = 0x10000;
			cp = s[i] & 0x07;
		} else
			return PROTO_E_UTF8;
		if (n - i < len)
			return PROTO_E_UTF8;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return PROTO_E_UTF8;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return PROTO_E_UTF8;
		i += len;
	}
	return PROTO_OK;
}

/* Decisions 5, 6 and 7, in their order: flags, then size, then text. */
static int
ref_kind(const struct proto_item *it, struct proto_error *e)
{
	const struct proto_itemspec *spec = proto_itemspec(it->id &
	    PROTO_TYPE_MASK);
	int nest = (it->id & PROTO_FLAG_NEST) != 0;
	int ref = (it->id & PROTO_FLAG_REF) != 0;
	int link = (it->id & PROTO_FLAG_LINK) != 0;
	int size = -1;
	size_t bad = 0;
	enum proto_reason r;

	if (spec == NULL || spec->kind == PROTO_KIND_UNKNOWN)
		return 0;
	if (spec->kind == PROTO_KIND_NEST)
		return nest ? 0 : set(e, PROTO_E_ITEM_KIND, it->offset, it->id,
		    0, 0);
	if (nest)
		return set(e, PROTO_E_ITEM_KIND, it->offset, it->id, 0, 0);
	if (ref)
		return spec->ref_ok ? 0 : set(e, PROTO_E_ITEM_KIND, it->offset,
		    it->id, 0, 0);
	if ((spec->kind == PROTO_KIND_LINKIDS) != link)
		return set(e, PROTO_E_ITEM_KIND, it->offset, it->id, 0, 0);
	switch (spec->kind) {
	case PROTO_KIND_EMPTY:
		size = 0;
		break;
	case PROTO_KIND_U16:
		size = 2;
		break;
	case PROTO_KIND_U32:
		size = 4;
		break;
	case PROTO_KIND_U64:
	case PROTO_KIND_I64:
		size = 8;
		break;
	case PROTO_KIND_BYTES:
	case PROTO_KIND_LINKIDS:
		if (spec->size != 0)
			size = spec->size;
		break;
	default:
		break;
	}
	if (size >= 0 && it->len - 4 != size)
		return set(e, PROTO_E_ITEM_SIZE, it->offset + 2, it->id,
		    (uint64_t)(it->len - 4), (uint64_t)size);
	if (spec->kind != PROTO_KIND_STRING)
		return 0;
	r = ref_utf8(it->data, it->len - 4u, &bad);
	if (r != PROTO_OK)
		return set(e, r, it->offset + 4 + bad, it->id, 0, 0);
	return 0;
}

/* The tree depth first, as the decisions describe it. */
static int
ref_validate(const struct proto_msg *m, struct proto_error *e)
{
	struct proto_iter st[PROTO_NEST_MAX + 1];
	struct proto_item nest[PROTO_NEST_MAX + 1], item;
	int linked[PROTO_NEST_MAX + 1];
	int top = 0, r;

	proto_iter_init(&st[0], m);
	linked[0] = 0;
	for (;;) {
		r = proto_iter_next(&st[top], &item, e);
		if (r < 0)
			return -1;
		if (r == 0) {
			if (top == 0)
				return 0;
			if (linked[top] && !(nest[top].id & PROTO_FLAG_LINK))
				return set(e, PROTO_E_NEST_LINK,
				    nest[top].offset, nest[top].id, 0, 0);
			top--;
			continue;
		}
		must(item.depth == top);
		if (ref_kind(&item, e) < 0)
			return -1;
		if (item.id & (PROTO_FLAG_LINK | PROTO_FLAG_REF))
			linked[top] = 1;
		if (!(item.id & PROTO_FLAG_NEST))
			continue;
		must(top < PROTO_NEST_MAX);
		must(proto_iter_nest(&st[top + 1], &st[top], &item, e) == 0);
		top++;
		nest[top] = item;
		linked[top] = 0;
	}
}

/* Inside the message, past its header. */
static void
in_msg(const struct proto_msg *m, const struct proto_error *e)
{
	must(e->offset >= m->offset + PROTO_HDR_LEN &&
	    e->offset < m->offset + m->length);
}

/* Every accessor on one item: each succeeds exactly when it should. */
static void
accessors(const struct proto_msg *m, const struct proto_item *it)
{
	struct proto_error e;
	struct proto_ref ref;
	const uint8_t *p;
	const char *s;
	size_t len, count, bad, i;
	uint64_t v64;
	int64_t i64;
	uint32_t v32;
	uint16_t v16;
	int dl = it->len - 4;
	int leaf = !(it->id & (PROTO_FLAG_NEST | PROTO_FLAG_REF));
	int r;

	must(it->data == m->bytes + (it->offset - m->offset) + 4);
	r = proto_item_u16(it, &v16, &e);
	must((r == 0) == (leaf && dl == 2));
	if (r == 0)
		must(v16 == proto_get16(it->data));
	else
		in_msg(m, &e);
	r = proto_item_u32(it, &v32, &e);
	must((r == 0) == (leaf && dl == 4));
	if (r == 0)
		must(v32 == proto_get32(it->data));
	r = proto_item_u64(it, &v64, &e);
	must((r == 0) == (leaf && dl == 8));
	if (r == 0)
		must(v64 == proto_get64(it->data));
	r = proto_item_i64(it, &i64, &e);
	must((r == 0) == (leaf && dl == 8));
	if (r == 0)
		must((uint64_t)i64 == proto_get64(it->data));
	r = proto_item_empty(it, &e);
	must((r == 0) == (leaf && dl == 0));
	r = proto_item_bytes(it, &p, &len, -1, &e);
	must((r == 0) == leaf);
	if (r == 0)
		must(p == it->data && len == (size_t)dl);
	r = proto_item_bytes(it, &p, &len, dl + 1, &e);
	must(r < 0);
	in_msg(m, &e);
	r = proto_item_string(it, &s, &len, &e);
	must((r == 0) == (leaf && ref_utf8(it->data, (size_t)dl, &bad) ==
	    PROTO_OK));
	if (r == 0)
		must((const uint8_t *)s == it->data && len == (size_t)dl);
	else
		in_msg(m, &e);
	r = proto_item_ref(it, &ref, &e);
	must((r == 0) == ((it->id & (PROTO_FLAG_REF | PROTO_FLAG_NEST)) ==
	    PROTO_FLAG_REF && dl == 24));
	if (r == 0)
		must(ref.linkid == proto_get64(it->data) &&
		    ref.offset == proto_get64(it->data + 8) &&
		    ref.length == proto_get64(it->data + 16));
	r = proto_item_linkids(it, &count, &e);
	must((r == 0) == (leaf && (it->id & PROTO_FLAG_LINK) && dl % 8 == 0));
	if (r == 0) {
		must(count == (size_t)dl / 8);
		for (i = 0; i < count; i++)
			must(proto_item_linkid(it, i) ==
			    proto_get64(it->data + 8 * i));
	}
}

/* Walk a level and everything below it. Returns -1 at a violation. */
static int
walk(const struct proto_msg *m, struct proto_iter *it, int *items)
{
	struct proto_iter child;
	struct proto_item item;
	struct proto_error e;
	uint64_t prev = 0;
	int r;

	while ((r = proto_iter_next(it, &item, &e)) > 0) {
		(*items)++;
		must(item.offset > prev && item.offset % 8 == m->offset % 8);
		must(item.offset + item.len <= m->offset + m->length);
		must(item.len >= 4 && item.depth <= PROTO_NEST_MAX);
		prev = item.offset;
		accessors(m, &item);
		if (!proto_item_is_nest(&item)) {
			must(proto_iter_nest(&child, it, &item, &e) < 0);
			continue;
		}
		must(proto_iter_nest(&child, it, &item, &e) == 0);
		if (walk(m, &child, items) < 0)
			return -1;
	}
	if (r < 0) {
		must(e.reason >= PROTO_E_ITEM_OVERRUN &&
		    e.reason <= PROTO_E_LINK_LEN);
		must(e.offset >= m->offset + PROTO_HDR_LEN &&
		    e.offset <= m->offset + m->length);
	}
	return r;
}

/* The builder, fed from the tree, must give the same bytes. */
static void
rebuild_level(struct proto_builder *b, struct proto_iter *it)
{
	struct proto_iter child;
	struct proto_item item;
	struct proto_error e;

	while (proto_iter_next(it, &item, &e) > 0) {
		if (!proto_item_is_nest(&item)) {
			must(proto_build_raw(b, item.id, item.data,
			    proto_item_datalen(&item)) == 0);
			continue;
		}
		must(proto_build_nest_begin(b, item.id,
		    item.id & PROTO_FLAG_LINK) == 0);
		must(proto_iter_nest(&child, it, &item, &e) == 0);
		rebuild_level(b, &child);
		must(proto_build_nest_end(b) == 0);
	}
}

static void
rebuild(const struct proto_msg *m)
{
	struct proto_builder b;
	struct proto_iter it;
	struct proto_msg m2;
	struct proto_error e;
	const uint8_t *p;
	uint32_t i;

	proto_builder_init(&b);
	must(proto_build_begin(&b, m->linkid, m->msgid, m->command) == 0);
	proto_iter_init(&it, m);
	rebuild_level(&b, &it);
	must(proto_build_end(&b) == (int)proto_align8(m->length));
	p = proto_builder_data(&b);
	must(memcmp(p, m->bytes, m->length) == 0);
	for (i = m->length; i < proto_align8(m->length); i++)
		must(p[i] == 0);
	must(proto_msg_view(&m2, p, proto_builder_len(&b), 0, &e) == 0);
	must(proto_msg_validate(&m2, &e) == 0);
	proto_builder_free(&b);
}

static void
find(const struct proto_msg *m, uint16_t type)
{
	struct proto_iter it;
	struct proto_item item, first;
	struct proto_error e, e2;
	int r, found = 0, walk_err = 0;

	memset(&first, 0, sizeof(first));
	memset(&e2, 0, sizeof(e2));
	proto_iter_init(&it, m);
	while ((r = proto_iter_next(&it, &item, &e2)) > 0) {
		if ((item.id & PROTO_TYPE_MASK) == type) {
			first = item;
			found = 1;
			break;
		}
	}
	if (r < 0)
		walk_err = 1;
	r = proto_msg_find(m, type, &item, &e);
	if (found) {
		must(r == 1 && item.offset == first.offset &&
		    item.id == first.id);
	} else if (walk_err) {
		must(r == -1 && e.reason == e2.reason &&
		    e.offset == e2.offset);
	} else
		must(r == 0);
}

/* A CRC that checks is the last item's, and right by a second count. */
static void
crc(const struct proto_msg *m)
{
	static uint8_t copy[PROTO_MSG_MAX];
	struct proto_iter it;
	struct proto_item item, last;
	struct proto_error e;
	uint32_t pos;
	int r, n = 0;

	if (proto_msg_crc_check(m, &e) < 0) {
		must(e.reason == PROTO_E_CRC || (e.reason >=
		    PROTO_E_ITEM_OVERRUN && e.reason <= PROTO_E_LINK_LEN));
		return;
	}
	memset(&last, 0, sizeof(last));
	proto_iter_init(&it, m);
	while ((r = proto_iter_next(&it, &item, &e)) > 0) {
		last = item;
		n++;
	}
	must(r == 0 && n > 0);
	must(last.id == PROTO_ITEM_CRC && last.len == 8);
	pos = (uint32_t)(last.offset - m->offset);
	memcpy(copy, m->bytes, m->length);
	memset(copy + pos + 4, 0, 4);
	must(proto_get32(last.data) ==
	    proto_crc32c_portable(0, copy, m->length));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_msg m;
	struct proto_iter it;
	struct proto_error e, e2;
	int items = 0, valid, walked;
	uint16_t length;

	if (proto_msg_view(&m, data, size, BASE, &e) < 0) {
		if (size < PROTO_HDR_LEN) {
			must(e.reason == PROTO_E_SHORT_HEADER &&
			    e.offset == BASE && e.got == size && e.want == 16);
			return 0;
		}
		length = proto_get16(data + 14);
		if (length < PROTO_MSG_MIN)
			must(e.reason == PROTO_E_LENGTH &&
			    e.offset == BASE + 14 && e.got == length &&
			    e.want == 16);
		else
			must(e.reason == PROTO_E_TRUNCATED && size < length &&
			    e.offset == BASE && e.got == size &&
			    e.want == length);
		return 0;
	}
	must(size >= m.length && m.offset == BASE && m.bytes == data);

	valid = proto_msg_validate(&m, &e) == 0;
	must((ref_validate(&m, &e2) == 0) == valid);
	if (!valid)
		must(e.reason == e2.reason && e.offset == e2.offset &&
		    e.itemid == e2.itemid && e.got == e2.got &&
		    e.want == e2.want);

	proto_iter_init(&it, &m);
	walked = walk(&m, &it, &items) == 0;
	if (valid) {
		must(walked);
		rebuild(&m);
	}
	crc(&m);
	find(&m, size >= 18 ? (uint16_t)(data[16] | (data[17] & 0x1f) << 8) :
	    PROTO_ITEM_STATUS);
	find(&m, PROTO_ITEM_CRC);
	return 0;
}
