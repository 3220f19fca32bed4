/*
 * test_decode.c - the decoder against msgproto(7) section 2 and the
 * protocol decisions: every reason it can give, each with the exact
 * stream offset, itemid, got and want.
 *
 * Bad messages are written byte by byte with a small local writer, not
 * with the encoder, so the encoder's own mistakes cannot hide the
 * decoder's. Every message is viewed at stream offset BASE (not 0) to
 * prove offsets are stream offsets, and from an exact-size heap copy so
 * that AddressSanitizer sees any read past the message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "libproto/proto.h"

#define BASE		4096u	/* stream offset of each message */
#define MW_MAX		(PROTO_FRAME_MAX + 64)
#define T_UNKNOWN	0x1000u	/* beyond the schema: structure only */
#define T_GAP		6u	/* inside the table, not a known type */

/* A message written by hand. */
struct mw {
	uint8_t b[MW_MAX];
	uint32_t len;		/* logical end of what is written */
	uint32_t nest[16];
	int depth;
};

static struct mw W;		/* large: not on the stack */

static void
mw_begin(struct mw *w)
{
	memset(w->b, 0, sizeof(w->b));
	proto_put64(w->b, 0x1122334455667788ull);
	proto_put32(w->b + 8, 0xdeadbeefu);
	proto_put16(w->b + 12, 0x8201);
	w->len = PROTO_HDR_LEN;
	w->depth = 0;
}

/*
 * An item at the next 8-aligned offset whose itemlen field says `itemlen`
 * (true or not), followed by n data bytes. Returns its message offset.
 */
static uint32_t
mw_item(struct mw *w, uint16_t id, uint16_t itemlen, const void *data,
    size_t n)
{
	uint32_t pos = proto_align8(w->len);

	proto_put16(w->b + pos, id);
	proto_put16(w->b + pos + 2, itemlen);
	if (n > 0)
		memcpy(w->b + pos + 4, data, n);
	w->len = pos + 4 + (uint32_t)n;
	return pos;
}

/* A leaf whose itemlen tells the truth. */
static uint32_t
mw_leaf(struct mw *w, uint16_t id, const void *data, size_t n)
{
	return mw_item(w, id, (uint16_t)(4 + n), data, n);
}

static uint32_t
mw_u32(struct mw *w, uint16_t id, uint32_t v)
{
	uint8_t d[4];

	proto_put32(d, v);
	return mw_leaf(w, id, d, sizeof(d));
}

static uint32_t
mw_u64(struct mw *w, uint16_t id, uint64_t v)
{
	uint8_t d[8];

	proto_put64(d, v);
	return mw_leaf(w, id, d, sizeof(d));
}

/* Open a container; `id` must carry PROTO_FLAG_NEST (or not, to lie). */
static uint32_t
mw_nest(struct mw *w, uint16_t id)
{
	uint32_t pos = proto_align8(w->len);

	proto_put16(w->b + pos, id);
	proto_put16(w->b + pos + 2, 0);
	w->len = pos + PROTO_NEST_HDR_LEN;
	w->nest[w->depth++] = pos;
	return pos;
}

static void
mw_nest_end(struct mw *w)
{
	uint32_t pos = w->nest[--w->depth];

	proto_put16(w->b + pos + 2, (uint16_t)(w->len - pos));
}

/* Write the length field: the logical end, or `length` when nonzero. */
static uint32_t
mw_end(struct mw *w, uint16_t length)
{
	if (length == 0)
		length = (uint16_t)w->len;
	proto_put16(w->b + 14, length);
	return length;
}

static void
check_err(const struct proto_error *e, enum proto_reason reason,
    uint64_t offset, uint16_t itemid, uint64_t got, uint64_t want)
{
	char buf[256];

	if (e->reason == reason && e->offset == offset &&
	    e->itemid == itemid && e->got == got && e->want == want)
		return;
	proto_error_format(e, buf, sizeof(buf));
	print_error("error was:  reason %d (%s) offset %llu itemid 0x%04x "
	    "got %llu want %llu\n  [%s]\nexpected:   reason %d (%s) offset "
	    "%llu itemid 0x%04x got %llu want %llu\n", (int)e->reason,
	    proto_reason_str(e->reason), (unsigned long long)e->offset,
	    e->itemid, (unsigned long long)e->got,
	    (unsigned long long)e->want, buf, (int)reason,
	    proto_reason_str(reason), (unsigned long long)offset, itemid,
	    (unsigned long long)got, (unsigned long long)want);
	fail();
}

/* An exact-size heap copy: any read past it is an ASan report. */
static uint8_t *
dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);

	assert_non_null(q);
	if (n > 0)
		memcpy(q, p, n);
	return q;
}

/* View and validate w's message at stream offset BASE. */
static int
validate(const struct mw *w, struct proto_error *e)
{
	struct proto_msg m;
	uint16_t length = proto_get16(w->b + 14);
	uint8_t *copy = dup_bytes(w->b, length);
	int r;

	memset(e, 0xa5, sizeof(*e));
	assert_int_equal(proto_msg_view(&m, copy, length, BASE, e), 0);
	r = proto_msg_validate(&m, e);
	free(copy);
	return r;
}

static void
expect_ok(const struct mw *w)
{
	struct proto_error e;

	if (validate(w, &e) == 0)
		return;
	check_err(&e, PROTO_OK, 0, 0, 0, 0);
}

/* Validation fails with exactly this error; offset is message-relative. */
static void
expect_err(const struct mw *w, enum proto_reason reason, uint32_t rel,
    uint16_t itemid, uint64_t got, uint64_t want)
{
	struct proto_error e;

	assert_int_equal(validate(w, &e), -1);
	check_err(&e, reason, BASE + rel, itemid, got, want);
}

/* --- proto_msg_view ------------------------------------------------ */

static void
test_view_ok(void **state)
{
	struct proto_msg m;
	struct proto_error e;
	uint8_t *copy;

	(void)state;
	mw_begin(&W);
	mw_u32(&W, PROTO_ITEM_STATUS, 0);
	mw_end(&W, 0);
	copy = dup_bytes(W.b, 24);
	assert_int_equal(proto_msg_view(&m, copy, 24, BASE, &e), 0);
	assert_ptr_equal(m.bytes, copy);
	assert_int_equal(m.offset, BASE);
	assert_int_equal(m.linkid, 0x1122334455667788ull);
	assert_int_equal(m.msgid, 0xdeadbeefu);
	assert_int_equal(m.command, 0x8201);
	assert_int_equal(proto_msg_command(&m), 0x0201);
	assert_true(proto_msg_is_reply(&m));
	assert_int_equal(m.length, 24);
	assert_int_equal(proto_msg_validate(&m, &e), 0);
	free(copy);

	/* More bytes than the message: the view takes `length` only. */
	mw_begin(&W);
	proto_put16(W.b + 12, 0x0003);
	mw_end(&W, 0);
	assert_int_equal(proto_msg_view(&m, W.b, sizeof(W.b), 0, &e), 0);
	assert_int_equal(m.length, 16);
	assert_false(proto_msg_is_reply(&m));
	assert_int_equal(proto_msg_command(&m), 3);
	assert_int_equal(proto_msg_validate(&m, &e), 0);
}

static void
test_view_short_header(void **state)
{
	struct proto_msg m;
	struct proto_error e;
	size_t n;

	(void)state;
	mw_begin(&W);
	mw_end(&W, 0);
	for (n = 0; n < PROTO_HDR_LEN; n++) {
		uint8_t *copy = dup_bytes(W.b, n);

		assert_int_equal(proto_msg_view(&m, copy, n, BASE, &e), -1);
		check_err(&e, PROTO_E_SHORT_HEADER, BASE, 0, n, 16);
		free(copy);
	}
	/* A NULL error is allowed. */
	assert_int_equal(proto_msg_view(&m, W.b, 3, BASE, NULL), -1);
}

static void
test_view_length(void **state)
{
	struct proto_msg m;
	struct proto_error e;
	uint16_t len;

	(void)state;
	for (len = 0; len < PROTO_MSG_MIN; len++) {
		mw_begin(&W);
		proto_put16(W.b + 14, len);
		assert_int_equal(proto_msg_view(&m, W.b, 64, BASE, &e), -1);
		check_err(&e, PROTO_E_LENGTH, BASE + 14, 0, len, 16);
	}
}

static void
test_view_truncated(void **state)
{
	struct proto_msg m;
	struct proto_error e;
	uint8_t *copy;

	(void)state;
	mw_begin(&W);
	mw_leaf(&W, T_UNKNOWN, "abcdefghijklmnopqrstu", 21);
	assert_int_equal(mw_end(&W, 0), 41);
	/*
	 * The view needs the `length` bytes only (not the pad), so `want`
	 * is the logical length; the framer, which needs the pad, reports
	 * the aligned size (test_framer.c).
	 */
	copy = dup_bytes(W.b, 40);
	assert_int_equal(proto_msg_view(&m, copy, 40, BASE, &e), -1);
	check_err(&e, PROTO_E_TRUNCATED, BASE, 0, 40, 41);
	assert_int_equal(proto_msg_view(&m, copy, 16, BASE, &e), -1);
	check_err(&e, PROTO_E_TRUNCATED, BASE, 0, 16, 41);
	free(copy);
	copy = dup_bytes(W.b, 41);
	assert_int_equal(proto_msg_view(&m, copy, 41, BASE, &e), 0);
	assert_int_equal(proto_msg_validate(&m, &e), 0);
	free(copy);
}

/* --- item framing ---------------------------------------------------- */

static void
test_item_overrun(void **state)
{
	uint32_t p, n;

	(void)state;
	/* A leaf whose itemlen runs past the message. */
	mw_begin(&W);
	p = mw_item(&W, T_UNKNOWN, 20, "abcdefghijkl", 12);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_ITEM_OVERRUN, p + 2, T_UNKNOWN, 20, 16);

	/* The same after a good item: left counts from the item. */
	mw_begin(&W);
	mw_u32(&W, PROTO_ITEM_STATUS, 0);
	p = mw_item(&W, PROTO_ITEM_TIMESTAMP, 13, "abcdefgh", 8);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_ITEM_OVERRUN, p + 2, PROTO_ITEM_TIMESTAMP, 13,
	    12);

	/* A header that does not fit: 1 to 3 bytes left in the message. */
	for (n = 1; n <= 3; n++) {
		mw_begin(&W);
		mw_end(&W, (uint16_t)(16 + n));
		expect_err(&W, PROTO_E_ITEM_OVERRUN, 16, 0, n, 4);
		mw_begin(&W);
		mw_u32(&W, PROTO_ITEM_STATUS, 7);
		W.len = 24 + n;
		mw_end(&W, 0);
		expect_err(&W, PROTO_E_ITEM_OVERRUN, 24, 0, n, 4);
	}

	/* A NEST whose itemlen runs past the message. */
	mw_begin(&W);
	p = mw_item(&W, T_UNKNOWN | PROTO_FLAG_NEST, 40, NULL, 0);
	W.len = 32;
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_ITEM_OVERRUN, p + 2,
	    T_UNKNOWN | PROTO_FLAG_NEST, 40, 16);

	/* A child running past its container (not past the message). */
	mw_begin(&W);
	p = mw_item(&W, PROTO_ITEM_ATTR | PROTO_FLAG_NEST, 16, NULL, 0);
	n = mw_item(&W, PROTO_ITEM_MODE, 12, "\x01\x02\x03\x04", 4);
	assert_int_equal(n, p + 8);
	W.len = p + 16;
	mw_u32(&W, PROTO_ITEM_STATUS, 0);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_ITEM_OVERRUN, n + 2, PROTO_ITEM_MODE, 12, 8);

	/* A child header that does not fit in its container. */
	mw_begin(&W);
	p = mw_item(&W, T_UNKNOWN | PROTO_FLAG_NEST, 11, NULL, 0);
	W.len = p + 11;
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_ITEM_OVERRUN, p + 8, 0, 3, 4);
}

static void
test_itemlen(void **state)
{
	uint16_t len;
	uint32_t p;

	(void)state;
	for (len = 0; len < 4; len++) {
		mw_begin(&W);
		mw_u32(&W, PROTO_ITEM_STATUS, 1);
		p = mw_item(&W, PROTO_ITEM_STATUS, len, NULL, 0);
		W.len = p + 8;
		mw_end(&W, 0);
		expect_err(&W, PROTO_E_ITEMLEN, p + 2, PROTO_ITEM_STATUS, len,
		    4);
	}
	for (len = 0; len < 8; len++) {
		mw_begin(&W);
		p = mw_item(&W, T_UNKNOWN | PROTO_FLAG_NEST, len, NULL, 0);
		W.len = p + 8;
		mw_end(&W, 0);
		expect_err(&W, PROTO_E_ITEMLEN, p + 2,
		    T_UNKNOWN | PROTO_FLAG_NEST, len, 8);
	}
	/* Inside a container too. */
	mw_begin(&W);
	mw_nest(&W, PROTO_ITEM_LIMITS | PROTO_FLAG_NEST);
	p = mw_item(&W, T_UNKNOWN | PROTO_FLAG_NEST, 6, "\0\0", 2);
	mw_nest_end(&W);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_ITEMLEN, p + 2, T_UNKNOWN | PROTO_FLAG_NEST, 6,
	    8);
}

static void
test_item_pad(void **state)
{
	uint32_t p, q, k;

	(void)state;
	/* Between two items: each pad byte in turn. */
	for (k = 0; k < 3; k++) {
		mw_begin(&W);
		p = mw_leaf(&W, T_UNKNOWN, "x", 1);
		mw_u32(&W, PROTO_ITEM_STATUS, 0);
		mw_end(&W, 0);
		W.b[p + 5 + k] = 0x40;
		expect_err(&W, PROTO_E_ITEM_PAD, p + 5 + k, T_UNKNOWN, 0, 0);
	}
	/* Only the first nonzero byte counts. */
	mw_begin(&W);
	p = mw_leaf(&W, T_UNKNOWN, "x", 1);
	mw_u32(&W, PROTO_ITEM_STATUS, 0);
	mw_end(&W, 0);
	W.b[p + 6] = 1;
	W.b[p + 7] = 1;
	expect_err(&W, PROTO_E_ITEM_PAD, p + 6, T_UNKNOWN, 0, 0);

	/* Bytes 4-7 of a NEST header. */
	for (k = 0; k < 4; k++) {
		mw_begin(&W);
		p = mw_nest(&W, PROTO_ITEM_ATTR | PROTO_FLAG_NEST);
		mw_u32(&W, PROTO_ITEM_MODE, 0644);
		mw_nest_end(&W);
		mw_end(&W, 0);
		W.b[p + 4 + k] = 0x80;
		expect_err(&W, PROTO_E_ITEM_PAD, p + 4 + k,
		    PROTO_ITEM_ATTR | PROTO_FLAG_NEST, 0, 0);
	}

	/* After the last item of a container, before the next item. */
	for (k = 0; k < 3; k++) {
		mw_begin(&W);
		p = mw_nest(&W, T_UNKNOWN | PROTO_FLAG_NEST);
		mw_leaf(&W, T_UNKNOWN, "y", 1);
		mw_nest_end(&W);
		mw_u32(&W, PROTO_ITEM_STATUS, 0);
		mw_end(&W, 0);
		assert_int_equal(proto_get16(W.b + p + 2), 13);
		W.b[p + 13 + k] = 0xff;
		expect_err(&W, PROTO_E_ITEM_PAD, p + 13 + k,
		    T_UNKNOWN | PROTO_FLAG_NEST, 0, 0);
	}

	/* Between two children of a container. */
	mw_begin(&W);
	mw_nest(&W, T_UNKNOWN | PROTO_FLAG_NEST);
	q = mw_leaf(&W, PROTO_ITEM_NAME, "abc", 3);
	mw_leaf(&W, PROTO_ITEM_NAME, "def", 3);
	mw_nest_end(&W);
	mw_end(&W, 0);
	W.b[q + 7] = 9;
	expect_err(&W, PROTO_E_ITEM_PAD, q + 7, PROTO_ITEM_NAME, 0, 0);

	/* Two levels down. */
	mw_begin(&W);
	mw_nest(&W, T_UNKNOWN | PROTO_FLAG_NEST);
	p = mw_nest(&W, T_UNKNOWN | PROTO_FLAG_NEST);
	mw_nest_end(&W);
	mw_nest_end(&W);
	mw_end(&W, 0);
	W.b[p + 7] = 2;
	expect_err(&W, PROTO_E_ITEM_PAD, p + 7, T_UNKNOWN | PROTO_FLAG_NEST,
	    0, 0);
}

static void
test_items_end(void **state)
{
	uint32_t p, q;

	(void)state;
	/* The last item ends 3 bytes before `length`. */
	mw_begin(&W);
	p = mw_leaf(&W, T_UNKNOWN, "z", 1);
	mw_end(&W, 24);
	expect_err(&W, PROTO_E_ITEMS_END, p + 5, T_UNKNOWN, p + 5, 24);

	/* After a good item; `length` not a multiple of 8. */
	mw_begin(&W);
	mw_u32(&W, PROTO_ITEM_STATUS, 0);
	p = mw_leaf(&W, PROTO_ITEM_MORE, NULL, 0);
	mw_end(&W, 30);
	expect_err(&W, PROTO_E_ITEMS_END, p + 4, PROTO_ITEM_MORE, p + 4, 30);

	/* Inside a container: the children end before the NEST does. */
	mw_begin(&W);
	p = mw_item(&W, T_UNKNOWN | PROTO_FLAG_NEST, 15, NULL, 0);
	q = mw_leaf(&W, T_UNKNOWN, "w", 1);
	W.len = p + 15;
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_ITEMS_END, q + 5, T_UNKNOWN, q + 5, p + 15);
}

/* `levels` NESTs one inside the other, a leaf in the innermost. */
static void
write_deep(struct mw *w, int levels, uint32_t *last_nest)
{
	int i;

	mw_begin(w);
	for (i = 0; i < levels; i++)
		*last_nest = mw_nest(w, (uint16_t)(T_UNKNOWN + i) |
		    PROTO_FLAG_NEST);
	mw_u32(w, PROTO_ITEM_STATUS, 0);
	for (i = 0; i < levels; i++)
		mw_nest_end(w);
	mw_end(w, 0);
}

static void
test_depth(void **state)
{
	struct proto_msg m;
	struct proto_iter it[10];
	struct proto_item item;
	struct proto_error e;
	uint32_t last = 0;
	int d;

	(void)state;
	write_deep(&W, 8, &last);
	expect_ok(&W);
	/* Walk down by hand: the leaf is at depth 8. */
	assert_int_equal(proto_msg_view(&m, W.b, W.len, BASE, &e), 0);
	proto_iter_init(&it[0], &m);
	for (d = 0; d < 8; d++) {
		assert_int_equal(proto_iter_next(&it[d], &item, &e), 1);
		assert_int_equal(item.depth, d);
		assert_true(proto_item_is_nest(&item));
		assert_int_equal(proto_iter_nest(&it[d + 1], &it[d], &item, &e),
		    0);
	}
	assert_int_equal(proto_iter_next(&it[8], &item, &e), 1);
	assert_int_equal(item.depth, 8);
	assert_int_equal(proto_item_type(&item), PROTO_ITEM_STATUS);
	assert_int_equal(proto_iter_next(&it[8], &item, &e), 0);

	write_deep(&W, 9, &last);
	expect_err(&W, PROTO_E_DEPTH, last, (T_UNKNOWN + 8) | PROTO_FLAG_NEST,
	    9, 8);
	/* An empty ninth level is as deep. */
	mw_begin(&W);
	for (d = 0; d < 9; d++)
		last = mw_nest(&W, T_UNKNOWN | PROTO_FLAG_NEST);
	for (d = 0; d < 9; d++)
		mw_nest_end(&W);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_DEPTH, last, T_UNKNOWN | PROTO_FLAG_NEST, 9, 8);
}

static void
test_ref(void **state)
{
	uint8_t d[40];
	uint32_t p;

	(void)state;
	memset(d, 0x33, sizeof(d));
	/* REF with itemlen other than 28: known and unknown types. */
	mw_begin(&W);
	p = mw_leaf(&W, PROTO_ITEM_DATA | PROTO_FLAG_REF, d, 23);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_REF_LEN, p + 2, PROTO_ITEM_DATA | PROTO_FLAG_REF,
	    27, 28);
	mw_begin(&W);
	p = mw_leaf(&W, T_UNKNOWN | PROTO_FLAG_REF | PROTO_FLAG_LINK, d, 32);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_REF_LEN, p + 2,
	    T_UNKNOWN | PROTO_FLAG_REF | PROTO_FLAG_LINK, 36, 28);
	mw_begin(&W);
	p = mw_leaf(&W, T_UNKNOWN | PROTO_FLAG_REF, NULL, 0);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_REF_LEN, p + 2, T_UNKNOWN | PROTO_FLAG_REF, 4,
	    28);
	/* The right size, with or without LINK. */
	mw_begin(&W);
	mw_leaf(&W, PROTO_ITEM_DATA | PROTO_FLAG_REF, d, 24);
	mw_leaf(&W, PROTO_ITEM_DATA | PROTO_FLAG_REF | PROTO_FLAG_LINK, d, 24);
	mw_leaf(&W, T_UNKNOWN | PROTO_FLAG_REF, d, 24);
	mw_end(&W, 0);
	expect_ok(&W);

	/* REF and NEST together: the item header, before any length. */
	mw_begin(&W);
	p = mw_nest(&W, T_UNKNOWN | PROTO_FLAG_NEST | PROTO_FLAG_REF);
	mw_u32(&W, PROTO_ITEM_STATUS, 0);
	mw_nest_end(&W);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_REF_NEST, p,
	    T_UNKNOWN | PROTO_FLAG_NEST | PROTO_FLAG_REF, 0, 0);
	mw_begin(&W);
	p = mw_item(&W, PROTO_ITEM_DATA | PROTO_FLAG_NEST | PROTO_FLAG_REF, 2,
	    NULL, 0);
	W.len = p + 8;
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_REF_NEST, p,
	    PROTO_ITEM_DATA | PROTO_FLAG_NEST | PROTO_FLAG_REF, 0, 0);
}

static void
test_link_len(void **state)
{
	uint8_t d[24];
	uint32_t p, n;

	(void)state;
	memset(d, 0x44, sizeof(d));
	for (n = 1; n < 24; n++) {
		if (n % 8 == 0)
			continue;
		mw_begin(&W);
		p = mw_leaf(&W, T_UNKNOWN | PROTO_FLAG_LINK, d, n);
		mw_end(&W, 0);
		expect_err(&W, PROTO_E_LINK_LEN, p + 2,
		    T_UNKNOWN | PROTO_FLAG_LINK, n, 8);
	}
	/* A known link-id type: the multiple of 8 comes before its size. */
	mw_begin(&W);
	p = mw_leaf(&W, PROTO_ITEM_NEWLINK | PROTO_FLAG_LINK, d, 4);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_LINK_LEN, p + 2,
	    PROTO_ITEM_NEWLINK | PROTO_FLAG_LINK, 4, 8);
	/* Zero, one or several link ids of an unknown type are fine. */
	mw_begin(&W);
	mw_leaf(&W, T_UNKNOWN | PROTO_FLAG_LINK, NULL, 0);
	mw_leaf(&W, T_UNKNOWN | PROTO_FLAG_LINK, d, 8);
	mw_leaf(&W, T_UNKNOWN | PROTO_FLAG_LINK, d, 24);
	mw_end(&W, 0);
	expect_ok(&W);
}

struct size_case {
	uint16_t id;
	uint16_t good;
	uint16_t bad[3];
};

static void
test_item_size(void **state)
{
	static const struct size_case cases[] = {
		{ PROTO_ITEM_VERSION, 2, { 0, 1, 4 } },
		{ PROTO_ITEM_STATUS, 4, { 0, 2, 8 } },
		{ PROTO_ITEM_CRC, 4, { 3, 5, 0 } },
		{ PROTO_ITEM_TIMESTAMP, 8, { 4, 7, 9 } },
		{ PROTO_ITEM_ATIME, 8, { 0, 16, 1 } },
		{ PROTO_ITEM_MORE, 0, { 1, 4, 8 } },
		{ PROTO_ITEM_SESSION, 16, { 15, 17, 0 } },
		{ PROTO_ITEM_AUTH, 32, { 31, 33, 16 } },
		{ PROTO_ITEM_NONCE, 32, { 0, 31, 64 } },
		{ PROTO_ITEM_NEWLINK | PROTO_FLAG_LINK, 8, { 0, 16, 24 } },
		{ PROTO_ITEM_NEWDIR | PROTO_FLAG_LINK, 8, { 0, 16, 32 } },
		{ PROTO_ITEM_NODE_LINK | PROTO_FLAG_LINK, 8, { 0, 16, 40 } },
	};
	uint8_t d[64];
	size_t i, j;
	uint32_t p;

	(void)state;
	memset(d, 0, sizeof(d));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mw_begin(&W);
		mw_leaf(&W, cases[i].id, d, cases[i].good);
		mw_end(&W, 0);
		expect_ok(&W);
		for (j = 0; j < 3; j++) {
			mw_begin(&W);
			mw_u32(&W, PROTO_ITEM_STATUS, 0);
			p = mw_leaf(&W, cases[i].id, d, cases[i].bad[j]);
			mw_end(&W, 0);
			expect_err(&W, PROTO_E_ITEM_SIZE, p + 2, cases[i].id,
			    cases[i].bad[j], cases[i].good);
		}
	}
	/* Inside a container. */
	mw_begin(&W);
	mw_nest(&W, PROTO_ITEM_ATTR | PROTO_FLAG_NEST);
	mw_u32(&W, PROTO_ITEM_MODE, 0755);
	p = mw_leaf(&W, PROTO_ITEM_SIZE, d, 4);
	mw_nest_end(&W);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_ITEM_SIZE, p + 2, PROTO_ITEM_SIZE, 4, 8);
	/* Kinds without a fixed size take any length. */
	mw_begin(&W);
	mw_leaf(&W, PROTO_ITEM_DATA, d, 0);
	mw_leaf(&W, PROTO_ITEM_DATA, d, 63);
	mw_leaf(&W, PROTO_ITEM_NAME, "n", 1);
	mw_leaf(&W, PROTO_ITEM_NAME, NULL, 0);
	mw_leaf(&W, T_GAP, d, 3);
	mw_end(&W, 0);
	expect_ok(&W);
}

struct utf8_case {
	const char *s;
	size_t len;
	enum proto_reason reason;
	size_t bad;
};

static void
test_utf8(void **state)
{
	static const struct utf8_case cases[] = {
		/* good */
		{ "", 0, PROTO_OK, 0 },
		{ "plain ascii, longer than eight bytes", 36, PROTO_OK, 0 },
		{ "\xc2\x80", 2, PROTO_OK, 0 },		/* U+0080 */
		{ "caf\xc3\xa9", 5, PROTO_OK, 0 },
		{ "\xdf\xbf", 2, PROTO_OK, 0 },		/* U+07FF */
		{ "\xe0\xa0\x80", 3, PROTO_OK, 0 },		/* U+0800 */
		{ "\xe2\x82\xac", 3, PROTO_OK, 0 },		/* euro */
		{ "\xed\x9f\xbf", 3, PROTO_OK, 0 },		/* U+D7FF */
		{ "\xee\x80\x80", 3, PROTO_OK, 0 },		/* U+E000 */
		{ "\xef\xbf\xbf", 3, PROTO_OK, 0 },		/* U+FFFF */
		{ "\xf0\x90\x80\x80", 4, PROTO_OK, 0 },	/* U+10000 */
		{ "\xf4\x8f\xbf\xbf", 4, PROTO_OK, 0 },	/* U+10FFFF */
		{ "abcdefgh\xf0\x9f\x98\x80zz", 14, PROTO_OK, 0 },
		/* overlong */
		{ "ab\xc0\x80", 4, PROTO_E_UTF8, 2 },
		{ "\xc1\xbf", 2, PROTO_E_UTF8, 0 },
		{ "x\xe0\x80\xaf", 4, PROTO_E_UTF8, 1 },
		{ "\xe0\x9f\xbf", 3, PROTO_E_UTF8, 0 },
		{ "\xf0\x82\x82\xac", 4, PROTO_E_UTF8, 0 },
		{ "\xf0\x8f\xbf\xbf", 4, PROTO_E_UTF8, 0 },
		/* surrogates */
		{ "\xed\xa0\x80", 3, PROTO_E_UTF8, 0 },
		{ "abc\xed\xbf\xbf", 6, PROTO_E_UTF8, 3 },
		/* beyond U+10FFFF */
		{ "\xf4\x90\x80\x80", 4, PROTO_E_UTF8, 0 },
		{ "\xf5\x80\x80\x80", 4, PROTO_E_UTF8, 0 },
		{ "\xf7\xbf\xbf\xbf", 4, PROTO_E_UTF8, 0 },
		{ "\xf8\x88\x80\x80\x80", 5, PROTO_E_UTF8, 0 },
		{ "\xff", 1, PROTO_E_UTF8, 0 },
		{ "\xfe\xff", 2, PROTO_E_UTF8, 0 },
		/* truncated sequences */
		{ "abc\xe2\x82", 5, PROTO_E_UTF8, 3 },
		{ "\xc3", 1, PROTO_E_UTF8, 0 },
		{ "\xf0\x9f\x98", 3, PROTO_E_UTF8, 0 },
		{ "\xe2\x82" "a", 3, PROTO_E_UTF8, 0 },
		{ "\xf0\x9f" "ab", 4, PROTO_E_UTF8, 0 },
		/* stray continuation bytes */
		{ "\x80", 1, PROTO_E_UTF8, 0 },
		{ "a\xbf" "b", 3, PROTO_E_UTF8, 1 },
		{ "\xc3\xa9\xa9", 3, PROTO_E_UTF8, 2 },
		{ "abcdefghij\x9f", 11, PROTO_E_UTF8, 10 },
		/* NUL */
		{ "\0", 1, PROTO_E_NUL, 0 },
		{ "ab\0cd", 5, PROTO_E_NUL, 2 },
		{ "abc\0efghijk", 11, PROTO_E_NUL, 3 },
		{ "abcdefgh\0", 9, PROTO_E_NUL, 8 },
		{ "abcdefghijklmno\0", 16, PROTO_E_NUL, 15 },
		{ "\xc3\xa9\0", 3, PROTO_E_NUL, 2 },
	};
	struct proto_msg m;
	struct proto_iter it;
	struct proto_item item;
	struct proto_error e;
	enum proto_reason r;
	const char *s;
	size_t i, bad, len;
	uint32_t p;
	uint8_t *copy;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		copy = dup_bytes((const uint8_t *)cases[i].s, cases[i].len);
		bad = 12345;
		r = proto_utf8_check(copy, cases[i].len, &bad);
		free(copy);
		if (r != cases[i].reason || (r != PROTO_OK &&
		    bad != cases[i].bad))
			fail_msg("case %zu: reason %d bad %zu, want %d at %zu",
			    i, (int)r, bad, (int)cases[i].reason, cases[i].bad);

		/* The same through validation and proto_item_string. */
		mw_begin(&W);
		mw_u32(&W, PROTO_ITEM_STATUS, 0);
		p = mw_leaf(&W, PROTO_ITEM_ERRTEXT, cases[i].s, cases[i].len);
		mw_end(&W, 0);
		if (cases[i].reason == PROTO_OK)
			expect_ok(&W);
		else
			expect_err(&W, cases[i].reason, p + 4 +
			    (uint32_t)cases[i].bad, PROTO_ITEM_ERRTEXT, 0, 0);
		copy = dup_bytes(W.b, W.len);
		assert_int_equal(proto_msg_view(&m, copy, W.len, BASE, &e), 0);
		proto_iter_init(&it, &m);
		assert_int_equal(proto_iter_next(&it, &item, &e), 1);
		assert_int_equal(proto_iter_next(&it, &item, &e), 1);
		if (cases[i].reason == PROTO_OK) {
			assert_int_equal(proto_item_string(&item, &s, &len, &e),
			    0);
			assert_int_equal(len, cases[i].len);
			assert_ptr_equal(s, copy + p + 4);
		} else {
			assert_int_equal(proto_item_string(&item, &s, &len, &e),
			    -1);
			check_err(&e, cases[i].reason, BASE + p + 4 +
			    cases[i].bad, PROTO_ITEM_ERRTEXT, 0, 0);
		}
		free(copy);
	}
	/* Unknown types are not strings: any bytes. */
	mw_begin(&W);
	mw_leaf(&W, T_UNKNOWN, "\xff\0\xc0\x80", 4);
	mw_leaf(&W, PROTO_ITEM_DATA, "\xff\0\xc0\x80", 4);
	mw_end(&W, 0);
	expect_ok(&W);
	/* Every string type is checked. */
	mw_begin(&W);
	p = mw_leaf(&W, PROTO_ITEM_SYMTARGET, "/a\xed\xa0\x80", 5);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_UTF8, p + 6, PROTO_ITEM_SYMTARGET, 0, 0);
	mw_begin(&W);
	mw_nest(&W, PROTO_ITEM_DIRENT | PROTO_FLAG_NEST);
	p = mw_leaf(&W, PROTO_ITEM_NAME, "a\0", 2);
	mw_nest_end(&W);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_NUL, p + 5, PROTO_ITEM_NAME, 0, 0);
}

/* Decision 5: flags against the schema. */
static void
test_item_kind(void **state)
{
	static const uint16_t nests[] = { PROTO_ITEM_LIMITS, PROTO_ITEM_ATTR,
	    PROTO_ITEM_DIRENT, PROTO_ITEM_STATFS };
	static const uint16_t links[] = { PROTO_ITEM_NEWLINK,
	    PROTO_ITEM_NEWDIR, PROTO_ITEM_NODE_LINK };
	uint8_t d[32];
	size_t i;
	uint32_t p;

	(void)state;
	memset(d, 0, sizeof(d));
	/* A NEST-kind type must have NEST. */
	for (i = 0; i < 4; i++) {
		mw_begin(&W);
		p = mw_u32(&W, nests[i], 0);
		mw_end(&W, 0);
		expect_err(&W, PROTO_E_ITEM_KIND, p, nests[i], 0, 0);
		mw_begin(&W);
		p = mw_leaf(&W, nests[i] | PROTO_FLAG_LINK, d, 8);
		mw_end(&W, 0);
		expect_err(&W, PROTO_E_ITEM_KIND, p, nests[i] | PROTO_FLAG_LINK,
		    0, 0);
		mw_begin(&W);
		p = mw_leaf(&W, nests[i] | PROTO_FLAG_REF, d, 24);
		mw_end(&W, 0);
		expect_err(&W, PROTO_E_ITEM_KIND, p, nests[i] | PROTO_FLAG_REF,
		    0, 0);
		/* With NEST, empty, with or without LINK: fine. */
		mw_begin(&W);
		mw_nest(&W, nests[i] | PROTO_FLAG_NEST);
		mw_nest_end(&W);
		mw_nest(&W, nests[i] | PROTO_FLAG_NEST | PROTO_FLAG_LINK);
		mw_nest_end(&W);
		mw_end(&W, 0);
		expect_ok(&W);
	}
	/* A leaf type must not have NEST. */
	mw_begin(&W);
	p = mw_nest(&W, PROTO_ITEM_STATUS | PROTO_FLAG_NEST);
	mw_nest_end(&W);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_ITEM_KIND, p,
	    PROTO_ITEM_STATUS | PROTO_FLAG_NEST, 0, 0);
	mw_begin(&W);
	p = mw_nest(&W, PROTO_ITEM_NEWLINK | PROTO_FLAG_NEST | PROTO_FLAG_LINK);
	mw_u32(&W, T_UNKNOWN, 1);
	mw_nest_end(&W);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_ITEM_KIND, p,
	    PROTO_ITEM_NEWLINK | PROTO_FLAG_NEST | PROTO_FLAG_LINK, 0, 0);
	/* REF only on types that may be references (DATA). */
	mw_begin(&W);
	p = mw_leaf(&W, PROTO_ITEM_STATUS | PROTO_FLAG_REF, d, 24);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_ITEM_KIND, p, PROTO_ITEM_STATUS | PROTO_FLAG_REF,
	    0, 0);
	mw_begin(&W);
	p = mw_leaf(&W, PROTO_ITEM_ERRTEXT | PROTO_FLAG_REF, d, 24);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_ITEM_KIND, p,
	    PROTO_ITEM_ERRTEXT | PROTO_FLAG_REF, 0, 0);
	mw_begin(&W);
	p = mw_leaf(&W, PROTO_ITEM_NEWLINK | PROTO_FLAG_REF | PROTO_FLAG_LINK,
	    d, 24);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_ITEM_KIND, p,
	    PROTO_ITEM_NEWLINK | PROTO_FLAG_REF | PROTO_FLAG_LINK, 0, 0);
	/* Link-id types must have LINK. */
	for (i = 0; i < 3; i++) {
		mw_begin(&W);
		p = mw_leaf(&W, links[i], d, 8);
		mw_end(&W, 0);
		expect_err(&W, PROTO_E_ITEM_KIND, p, links[i], 0, 0);
		mw_begin(&W);
		mw_leaf(&W, links[i] | PROTO_FLAG_LINK, d, 8);
		mw_end(&W, 0);
		expect_ok(&W);
	}
	/* Other known leaf types must not have LINK. */
	mw_begin(&W);
	p = mw_leaf(&W, PROTO_ITEM_TIMESTAMP | PROTO_FLAG_LINK, d, 8);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_ITEM_KIND, p,
	    PROTO_ITEM_TIMESTAMP | PROTO_FLAG_LINK, 0, 0);
	mw_begin(&W);
	p = mw_leaf(&W, PROTO_ITEM_MORE | PROTO_FLAG_LINK, NULL, 0);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_ITEM_KIND, p, PROTO_ITEM_MORE | PROTO_FLAG_LINK,
	    0, 0);
	mw_begin(&W);
	p = mw_leaf(&W, PROTO_ITEM_DATA | PROTO_FLAG_LINK, d, 16);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_ITEM_KIND, p, PROTO_ITEM_DATA | PROTO_FLAG_LINK,
	    0, 0);
	mw_begin(&W);
	p = mw_leaf(&W, PROTO_ITEM_NAME | PROTO_FLAG_LINK, "abcdefgh", 8);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_ITEM_KIND, p, PROTO_ITEM_NAME | PROTO_FLAG_LINK,
	    0, 0);
	/* The flags are checked before the size. */
	mw_begin(&W);
	p = mw_leaf(&W, PROTO_ITEM_NEWDIR, d, 3);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_ITEM_KIND, p, PROTO_ITEM_NEWDIR, 0, 0);
	/* Inside a container. */
	mw_begin(&W);
	mw_nest(&W, PROTO_ITEM_STATFS | PROTO_FLAG_NEST);
	mw_u32(&W, PROTO_ITEM_BSIZE, 4096);
	p = mw_nest(&W, PROTO_ITEM_BLOCKS | PROTO_FLAG_NEST);
	mw_nest_end(&W);
	mw_nest_end(&W);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_ITEM_KIND, p,
	    PROTO_ITEM_BLOCKS | PROTO_FLAG_NEST, 0, 0);
	/* Unknown types: structure only, any flags. */
	mw_begin(&W);
	mw_nest(&W, T_GAP | PROTO_FLAG_NEST);
	mw_nest_end(&W);
	mw_leaf(&W, T_GAP | PROTO_FLAG_LINK, d, 8);
	mw_leaf(&W, T_GAP | PROTO_FLAG_REF, d, 24);
	mw_leaf(&W, 0x1fff | PROTO_FLAG_REF | PROTO_FLAG_LINK, d, 24);
	mw_nest(&W, 0x1fff | PROTO_FLAG_NEST | PROTO_FLAG_LINK);
	mw_leaf(&W, 0 | PROTO_FLAG_LINK, d, 16);
	mw_nest_end(&W);
	mw_leaf(&W, 0, d, 5);
	mw_end(&W, 0);
	expect_ok(&W);
}

static void
test_nest_link(void **state)
{
	static const uint8_t ref[24];
	uint32_t outer, inner;

	(void)state;
	/* A LINK leaf under a NEST without LINK. */
	mw_begin(&W);
	outer = mw_nest(&W, PROTO_ITEM_DIRENT | PROTO_FLAG_NEST);
	mw_u64(&W, PROTO_ITEM_NODE_LINK | PROTO_FLAG_LINK, 77);
	mw_leaf(&W, PROTO_ITEM_NAME, "f", 1);
	mw_nest_end(&W);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_NEST_LINK, outer,
	    PROTO_ITEM_DIRENT | PROTO_FLAG_NEST, 0, 0);
	/* A REF, without LINK of its own, counts as a link id. */
	mw_begin(&W);
	mw_u32(&W, PROTO_ITEM_STATUS, 0);
	outer = mw_nest(&W, T_UNKNOWN | PROTO_FLAG_NEST);
	mw_leaf(&W, PROTO_ITEM_DATA | PROTO_FLAG_REF, ref, 24);
	mw_nest_end(&W);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_NEST_LINK, outer, T_UNKNOWN | PROTO_FLAG_NEST,
	    0, 0);
	/* Two deep: the inner one has LINK, the outer one not. */
	mw_begin(&W);
	outer = mw_nest(&W, T_UNKNOWN | PROTO_FLAG_NEST);
	mw_nest(&W, (T_UNKNOWN + 1) | PROTO_FLAG_NEST | PROTO_FLAG_LINK);
	mw_leaf(&W, T_UNKNOWN | PROTO_FLAG_LINK, ref, 8);
	mw_nest_end(&W);
	mw_nest_end(&W);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_NEST_LINK, outer, T_UNKNOWN | PROTO_FLAG_NEST,
	    0, 0);
	/* Two deep, neither has LINK: the inner one is found first. */
	mw_begin(&W);
	mw_nest(&W, T_UNKNOWN | PROTO_FLAG_NEST);
	inner = mw_nest(&W, (T_UNKNOWN + 1) | PROTO_FLAG_NEST);
	mw_leaf(&W, PROTO_ITEM_DATA | PROTO_FLAG_REF | PROTO_FLAG_LINK, ref,
	    24);
	mw_nest_end(&W);
	mw_nest_end(&W);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_NEST_LINK, inner,
	    (T_UNKNOWN + 1) | PROTO_FLAG_NEST, 0, 0);
	/* Outer LINK, inner not. */
	mw_begin(&W);
	mw_nest(&W, T_UNKNOWN | PROTO_FLAG_NEST | PROTO_FLAG_LINK);
	inner = mw_nest(&W, (T_UNKNOWN + 1) | PROTO_FLAG_NEST);
	mw_leaf(&W, T_UNKNOWN | PROTO_FLAG_LINK, ref, 8);
	mw_nest_end(&W);
	mw_nest_end(&W);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_NEST_LINK, inner,
	    (T_UNKNOWN + 1) | PROTO_FLAG_NEST, 0, 0);
	/* An empty NEST with LINK counts as LINK for its container. */
	mw_begin(&W);
	outer = mw_nest(&W, T_UNKNOWN | PROTO_FLAG_NEST);
	mw_nest(&W, (T_UNKNOWN + 1) | PROTO_FLAG_NEST | PROTO_FLAG_LINK);
	mw_nest_end(&W);
	mw_nest_end(&W);
	mw_end(&W, 0);
	expect_err(&W, PROTO_E_NEST_LINK, outer, T_UNKNOWN | PROTO_FLAG_NEST,
	    0, 0);
	/* Every level flagged: fine; a LINK sibling does not taint. */
	mw_begin(&W);
	mw_nest(&W, T_UNKNOWN | PROTO_FLAG_NEST | PROTO_FLAG_LINK);
	mw_nest(&W, (T_UNKNOWN + 1) | PROTO_FLAG_NEST | PROTO_FLAG_LINK);
	mw_leaf(&W, T_UNKNOWN | PROTO_FLAG_LINK, ref, 8);
	mw_nest_end(&W);
	mw_nest(&W, (T_UNKNOWN + 2) | PROTO_FLAG_NEST);
	mw_u32(&W, PROTO_ITEM_STATUS, 0);
	mw_nest_end(&W);
	mw_nest_end(&W);
	mw_leaf(&W, PROTO_ITEM_NEWLINK | PROTO_FLAG_LINK, ref, 8);
	mw_nest(&W, (T_UNKNOWN + 3) | PROTO_FLAG_NEST);
	mw_nest(&W, (T_UNKNOWN + 4) | PROTO_FLAG_NEST);
	mw_u32(&W, PROTO_ITEM_STATUS, 0);
	mw_nest_end(&W);
	mw_nest_end(&W);
	mw_end(&W, 0);
	expect_ok(&W);
}

/* --- CRC --------------------------------------------------------------- */

static void
test_crc_check(void **state)
{
	struct proto_msg m;
	struct proto_error e;
	uint8_t *copy;
	uint32_t p, crc;

	(void)state;
	mw_begin(&W);
	mw_leaf(&W, PROTO_ITEM_NAME, "hello", 5);
	p = mw_u32(&W, PROTO_ITEM_CRC, 0);
	mw_end(&W, 0);
	crc = proto_crc32c(0, W.b, W.len);	/* CRC data is zero here */
	proto_put32(W.b + p + 4, crc);
	copy = dup_bytes(W.b, W.len);
	assert_int_equal(proto_msg_view(&m, copy, W.len, BASE, &e), 0);
	assert_int_equal(proto_msg_crc(&m, p), crc);
	assert_int_equal(proto_msg_crc_check(&m, &e), 0);
	assert_int_equal(proto_msg_validate(&m, &e), 0);
	/* A wrong value: the CRC's data. */
	copy[p + 5] ^= 0x10;
	assert_int_equal(proto_msg_crc_check(&m, &e), -1);
	check_err(&e, PROTO_E_CRC, BASE + p + 4, PROTO_ITEM_CRC,
	    crc ^ 0x1000, crc);
	copy[p + 5] ^= 0x10;
	/* Any other byte changed. */
	copy[21] ^= 1;
	assert_int_equal(proto_msg_crc_check(&m, &e), -1);
	assert_int_equal(e.reason, PROTO_E_CRC);
	assert_int_equal(e.offset, BASE + p + 4);
	assert_int_equal(e.got, crc);
	free(copy);

	/* No items: nothing to check against. */
	mw_begin(&W);
	mw_end(&W, 0);
	assert_int_equal(proto_msg_view(&m, W.b, W.len, BASE, &e), 0);
	assert_int_equal(proto_msg_crc_check(&m, &e), -1);
	check_err(&e, PROTO_E_CRC, BASE, 0, 0, 0);
	/* The CRC is not the last item. */
	mw_begin(&W);
	p = mw_u32(&W, PROTO_ITEM_CRC, 0);
	mw_u32(&W, PROTO_ITEM_STATUS, 0);
	mw_end(&W, 0);
	proto_put32(W.b + p + 4, proto_crc32c(0, W.b, W.len));
	assert_int_equal(proto_msg_view(&m, W.b, W.len, BASE, &e), 0);
	assert_int_equal(proto_msg_crc_check(&m, &e), -1);
	check_err(&e, PROTO_E_CRC, BASE, 0, 0, 0);
	/* A CRC item of the wrong size or with flags. */
	mw_begin(&W);
	mw_u64(&W, PROTO_ITEM_CRC, 0);
	mw_end(&W, 0);
	assert_int_equal(proto_msg_view(&m, W.b, W.len, BASE, &e), 0);
	assert_int_equal(proto_msg_crc_check(&m, &e), -1);
	check_err(&e, PROTO_E_CRC, BASE, 0, 0, 0);
	mw_begin(&W);
	mw_u64(&W, PROTO_ITEM_CRC | PROTO_FLAG_LINK, 0);
	mw_end(&W, 0);
	assert_int_equal(proto_msg_view(&m, W.b, W.len, BASE, &e), 0);
	assert_int_equal(proto_msg_crc_check(&m, &e), -1);
	check_err(&e, PROTO_E_CRC, BASE, 0, 0, 0);
	/* A broken message: the framing reason, not a CRC one. */
	mw_begin(&W);
	mw_u32(&W, PROTO_ITEM_STATUS, 0);
	p = mw_item(&W, PROTO_ITEM_CRC, 9, "abcd", 4);
	mw_end(&W, 0);
	assert_int_equal(proto_msg_view(&m, W.b, W.len, BASE, &e), 0);
	assert_int_equal(proto_msg_crc_check(&m, &e), -1);
	check_err(&e, PROTO_E_ITEM_OVERRUN, BASE + p + 2, PROTO_ITEM_CRC, 9, 8);
}

/* --- iteration and accessors ----------------------------------------- */

static void
test_iterate(void **state)
{
	struct proto_msg m;
	struct proto_iter it, child;
	struct proto_item item, nest;
	struct proto_error e;
	uint32_t a, b, c, d, n;
	uint32_t v32;

	(void)state;
	mw_begin(&W);
	a = mw_u32(&W, PROTO_ITEM_STATUS, 5);
	b = mw_leaf(&W, PROTO_ITEM_NAME, "abc", 3);
	n = mw_nest(&W, PROTO_ITEM_ATTR | PROTO_FLAG_NEST);
	c = mw_u32(&W, PROTO_ITEM_MODE, 0100644);
	d = mw_u64(&W, PROTO_ITEM_SIZE, 12345);
	mw_nest_end(&W);
	mw_end(&W, 0);
	expect_ok(&W);
	assert_int_equal(proto_msg_view(&m, W.b, W.len, BASE, &e), 0);
	proto_iter_init(&it, &m);
	assert_int_equal(proto_iter_next(&it, &item, &e), 1);
	assert_int_equal(item.offset, BASE + a);
	assert_int_equal(item.id, PROTO_ITEM_STATUS);
	assert_int_equal(item.len, 8);
	assert_int_equal(item.depth, 0);
	assert_ptr_equal(item.data, W.b + a + 4);
	assert_int_equal(proto_item_datalen(&item), 4);
	/* A leaf is not a container. */
	assert_int_equal(proto_iter_nest(&child, &it, &item, &e), -1);
	check_err(&e, PROTO_E_ITEM_KIND, BASE + a, PROTO_ITEM_STATUS, 0, 0);
	assert_int_equal(proto_iter_next(&it, &item, &e), 1);
	assert_int_equal(item.offset, BASE + b);
	assert_int_equal(item.len, 7);
	assert_int_equal(proto_iter_next(&it, &nest, &e), 1);
	assert_int_equal(nest.offset, BASE + n);
	assert_true(proto_item_is_nest(&nest));
	assert_int_equal(proto_item_type(&nest), PROTO_ITEM_ATTR);
	assert_int_equal(proto_iter_next(&it, &item, &e), 0);
	assert_int_equal(proto_iter_next(&it, &item, &e), 0);
	assert_int_equal(proto_iter_nest(&child, &it, &nest, &e), 0);
	assert_int_equal(proto_iter_next(&child, &item, &e), 1);
	assert_int_equal(item.offset, BASE + c);
	assert_int_equal(item.depth, 1);
	assert_int_equal(proto_item_u32(&item, &v32, &e), 0);
	assert_int_equal(v32, 0100644);
	assert_int_equal(proto_iter_next(&child, &item, &e), 1);
	assert_int_equal(item.offset, BASE + d);
	assert_int_equal(proto_iter_next(&child, &item, &e), 0);

	/* The iterator stops at the first violation and stays there. */
	W.b[b + 7] = 1;
	assert_int_equal(proto_msg_view(&m, W.b, W.len, BASE, &e), 0);
	proto_iter_init(&it, &m);
	assert_int_equal(proto_iter_next(&it, &item, &e), 1);
	assert_int_equal(proto_iter_next(&it, &item, &e), -1);
	check_err(&e, PROTO_E_ITEM_PAD, BASE + b + 7, PROTO_ITEM_NAME, 0, 0);
	assert_int_equal(proto_iter_next(&it, &item, &e), -1);
	check_err(&e, PROTO_E_ITEM_PAD, BASE + b + 7, PROTO_ITEM_NAME, 0, 0);
	/* A NULL error is allowed. */
	assert_int_equal(proto_iter_next(&it, &item, NULL), -1);
	assert_int_equal(proto_msg_validate(&m, NULL), -1);
}

/* An item made by hand, for accessor cases the iterator never yields. */
static struct proto_item
hand_item(const uint8_t *data, uint16_t id, uint16_t len)
{
	struct proto_item it;

	memset(&it, 0, sizeof(it));
	it.data = data;
	it.offset = BASE + 64;
	it.id = id;
	it.len = len;
	return it;
}

static void
test_accessors(void **state)
{
	struct proto_msg m;
	struct proto_iter iter;
	struct proto_item it[12], h;
	struct proto_error e;
	struct proto_ref ref;
	uint8_t refdata[24], ids[24];
	uint32_t off[12];
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;
	int64_t i64;
	const char *s;
	const uint8_t *p;
	size_t len, count;
	int i, r;

	(void)state;
	proto_put64(refdata, 0x0102030405060708ull);
	proto_put64(refdata + 8, 4096);
	proto_put64(refdata + 16, 65536);
	proto_put64(ids, 0xa1);
	proto_put64(ids + 8, 0xb2);
	proto_put64(ids + 16, 0xffffffffffffffffull);
	mw_begin(&W);
	off[0] = mw_u32(&W, PROTO_ITEM_STATUS, 0xfeedf00d);
	off[1] = mw_leaf(&W, PROTO_ITEM_VERSION, "\x01\x80", 2);
	off[2] = mw_u64(&W, PROTO_ITEM_TIMESTAMP, 0x8877665544332211ull);
	off[3] = mw_u64(&W, PROTO_ITEM_ATIME, (uint64_t)-1000);
	off[4] = mw_leaf(&W, PROTO_ITEM_ERRTEXT, "no \xe2\x82\xac", 6);
	off[5] = mw_leaf(&W, PROTO_ITEM_DATA, "\0\1\2", 3);
	off[6] = mw_leaf(&W, PROTO_ITEM_DATA | PROTO_FLAG_REF, refdata, 24);
	off[7] = mw_leaf(&W, PROTO_ITEM_NEWLINK | PROTO_FLAG_LINK, ids, 8);
	off[8] = mw_leaf(&W, T_UNKNOWN | PROTO_FLAG_LINK, ids, 24);
	off[9] = mw_leaf(&W, PROTO_ITEM_MORE, NULL, 0);
	off[10] = mw_nest(&W, PROTO_ITEM_ATTR | PROTO_FLAG_NEST);
	mw_nest_end(&W);
	off[11] = mw_leaf(&W, T_UNKNOWN, "\xff\xfe", 2);
	mw_end(&W, 0);
	expect_ok(&W);
	assert_int_equal(proto_msg_view(&m, W.b, W.len, BASE, &e), 0);
	proto_iter_init(&iter, &m);
	for (i = 0; i < 12; i++) {
		assert_int_equal(proto_iter_next(&iter, &it[i], &e), 1);
		assert_int_equal(it[i].offset, BASE + off[i]);
	}
	assert_int_equal(proto_iter_next(&iter, &h, &e), 0);

	/* Right accessors. */
	assert_int_equal(proto_item_u32(&it[0], &v32, &e), 0);
	assert_int_equal(v32, 0xfeedf00d);
	assert_int_equal(proto_item_u16(&it[1], &v16, &e), 0);
	assert_int_equal(v16, 0x8001);
	assert_int_equal(proto_item_u64(&it[2], &v64, &e), 0);
	assert_int_equal(v64, 0x8877665544332211ull);
	assert_int_equal(proto_item_i64(&it[3], &i64, &e), 0);
	assert_true(i64 == -1000);
	assert_int_equal(proto_item_string(&it[4], &s, &len, &e), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(s, "no \xe2\x82\xac", 6);
	assert_int_equal(proto_item_bytes(&it[5], &p, &len, -1, &e), 0);
	assert_int_equal(len, 3);
	assert_ptr_equal(p, W.b + off[5] + 4);
	assert_int_equal(proto_item_bytes(&it[5], &p, &len, 3, &e), 0);
	assert_int_equal(proto_item_ref(&it[6], &ref, &e), 0);
	assert_int_equal(ref.linkid, 0x0102030405060708ull);
	assert_int_equal(ref.offset, 4096);
	assert_int_equal(ref.length, 65536);
	assert_int_equal(proto_item_linkids(&it[7], &count, &e), 0);
	assert_int_equal(count, 1);
	assert_int_equal(proto_item_linkid(&it[7], 0), 0xa1);
	assert_int_equal(proto_item_linkids(&it[8], &count, &e), 0);
	assert_int_equal(count, 3);
	assert_int_equal(proto_item_linkid(&it[8], 1), 0xb2);
	assert_int_equal(proto_item_linkid(&it[8], 2), 0xffffffffffffffffull);
	assert_int_equal(proto_item_empty(&it[9], &e), 0);
	/* Accessors do not look at the type: any leaf of the right size. */
	assert_int_equal(proto_item_u16(&it[11], &v16, &e), 0);
	assert_int_equal(v16, 0xfeff);
	assert_int_equal(proto_item_string(&it[0], &s, &len, &e), -1);
	/* 0d f0 ed fe: the f0 sequence is cut short. */
	check_err(&e, PROTO_E_UTF8, BASE + off[0] + 4 + 1, PROTO_ITEM_STATUS,
	    0, 0);

	/* Wrong sizes: the itemlen field, got and want in data bytes. */
	assert_int_equal(proto_item_u16(&it[0], &v16, &e), -1);
	check_err(&e, PROTO_E_ITEM_SIZE, BASE + off[0] + 2, PROTO_ITEM_STATUS,
	    4, 2);
	assert_int_equal(proto_item_u32(&it[1], &v32, &e), -1);
	check_err(&e, PROTO_E_ITEM_SIZE, BASE + off[1] + 2, PROTO_ITEM_VERSION,
	    2, 4);
	assert_int_equal(proto_item_u64(&it[0], &v64, &e), -1);
	check_err(&e, PROTO_E_ITEM_SIZE, BASE + off[0] + 2, PROTO_ITEM_STATUS,
	    4, 8);
	assert_int_equal(proto_item_i64(&it[5], &i64, &e), -1);
	check_err(&e, PROTO_E_ITEM_SIZE, BASE + off[5] + 2, PROTO_ITEM_DATA,
	    3, 8);
	assert_int_equal(proto_item_empty(&it[0], &e), -1);
	check_err(&e, PROTO_E_ITEM_SIZE, BASE + off[0] + 2, PROTO_ITEM_STATUS,
	    4, 0);
	assert_int_equal(proto_item_bytes(&it[5], &p, &len, 4, &e), -1);
	check_err(&e, PROTO_E_ITEM_SIZE, BASE + off[5] + 2, PROTO_ITEM_DATA,
	    3, 4);
	assert_int_equal(proto_item_u32(&it[9], &v32, &e), -1);
	check_err(&e, PROTO_E_ITEM_SIZE, BASE + off[9] + 2, PROTO_ITEM_MORE,
	    0, 4);

	/* A REF or a container is refused by every plain accessor. */
	for (i = 6; i <= 10; i += 4) {
		uint16_t id = it[i].id;
		uint64_t at = BASE + off[i];

		assert_int_equal(proto_item_u16(&it[i], &v16, &e), -1);
		check_err(&e, PROTO_E_ITEM_KIND, at, id, 0, 0);
		assert_int_equal(proto_item_u32(&it[i], &v32, &e), -1);
		check_err(&e, PROTO_E_ITEM_KIND, at, id, 0, 0);
		assert_int_equal(proto_item_u64(&it[i], &v64, &e), -1);
		check_err(&e, PROTO_E_ITEM_KIND, at, id, 0, 0);
		assert_int_equal(proto_item_i64(&it[i], &i64, &e), -1);
		check_err(&e, PROTO_E_ITEM_KIND, at, id, 0, 0);
		assert_int_equal(proto_item_empty(&it[i], &e), -1);
		check_err(&e, PROTO_E_ITEM_KIND, at, id, 0, 0);
		assert_int_equal(proto_item_string(&it[i], &s, &len, &e), -1);
		check_err(&e, PROTO_E_ITEM_KIND, at, id, 0, 0);
		assert_int_equal(proto_item_bytes(&it[i], &p, &len, -1, &e),
		    -1);
		check_err(&e, PROTO_E_ITEM_KIND, at, id, 0, 0);
		assert_int_equal(proto_item_linkids(&it[i], &count, &e), -1);
		check_err(&e, PROTO_E_ITEM_KIND, at, id, 0, 0);
	}
	/* proto_item_ref wants a REF. */
	for (i = 0; i < 12; i++) {
		if (i == 6)
			continue;
		assert_int_equal(proto_item_ref(&it[i], &ref, &e), -1);
		check_err(&e, PROTO_E_ITEM_KIND, BASE + off[i], it[i].id, 0, 0);
	}
	/* Link ids want LINK. */
	assert_int_equal(proto_item_linkids(&it[5], &count, &e), -1);
	check_err(&e, PROTO_E_ITEM_KIND, BASE + off[5], PROTO_ITEM_DATA, 0, 0);

	/* Items the iterator refuses, made by hand. */
	h = hand_item(refdata, PROTO_ITEM_DATA | PROTO_FLAG_REF, 20);
	assert_int_equal(proto_item_ref(&h, &ref, &e), -1);
	check_err(&e, PROTO_E_REF_LEN, BASE + 66, h.id, 20, 28);
	h = hand_item(refdata, PROTO_ITEM_DATA | PROTO_FLAG_REF |
	    PROTO_FLAG_NEST, 28);
	assert_int_equal(proto_item_ref(&h, &ref, &e), -1);
	check_err(&e, PROTO_E_ITEM_KIND, BASE + 64, h.id, 0, 0);
	h = hand_item(ids, T_UNKNOWN | PROTO_FLAG_LINK, 16);
	assert_int_equal(proto_item_linkids(&h, &count, &e), -1);
	check_err(&e, PROTO_E_LINK_LEN, BASE + 66, h.id, 12, 8);

	/* Nothing is written on failure. */
	v32 = 99;
	r = proto_item_u32(&it[1], &v32, NULL);
	assert_int_equal(r, -1);
	assert_int_equal(v32, 99);
}

static void
test_find(void **state)
{
	struct proto_msg m;
	struct proto_item item;
	struct proto_error e;
	uint32_t a, b, c;

	(void)state;
	mw_begin(&W);
	mw_u32(&W, PROTO_ITEM_STATUS, 1);
	mw_nest(&W, PROTO_ITEM_ATTR | PROTO_FLAG_NEST);
	mw_u32(&W, PROTO_ITEM_MODE, 2);
	mw_nest_end(&W);
	a = mw_leaf(&W, PROTO_ITEM_DATA | PROTO_FLAG_REF, "0123456789abcdef"
	    "01234567", 24);
	b = mw_u32(&W, PROTO_ITEM_MODE, 3);
	c = mw_u32(&W, PROTO_ITEM_MODE, 4);
	mw_end(&W, 0);
	expect_ok(&W);
	assert_int_equal(proto_msg_view(&m, W.b, W.len, BASE, &e), 0);
	/* Flags ignored; the first of the message's own items. */
	assert_int_equal(proto_msg_find(&m, PROTO_ITEM_DATA, &item, &e), 1);
	assert_int_equal(item.offset, BASE + a);
	assert_int_equal(proto_msg_find(&m, PROTO_ITEM_MODE, &item, &e), 1);
	assert_int_equal(item.offset, BASE + b);
	assert_int_equal(proto_msg_find(&m, PROTO_ITEM_ATTR, &item, &e), 1);
	assert_true(proto_item_is_nest(&item));
	assert_int_equal(proto_msg_find(&m, PROTO_ITEM_NAME, &item, &e), 0);
	/* A violation after the item is not seen; before it is. */
	W.b[c + 2] = 0xff;
	assert_int_equal(proto_msg_find(&m, PROTO_ITEM_MODE, &item, &e), 1);
	assert_int_equal(proto_msg_find(&m, PROTO_ITEM_NAME, &item, &e), -1);
	check_err(&e, PROTO_E_ITEM_OVERRUN, BASE + c + 2, PROTO_ITEM_MODE,
	    255, 8);
}

/* xorshift64*: deterministic, good enough to make garbage. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* Walk everything, call every accessor; count items. */
static int
walk(struct proto_iter *it, int *items)
{
	struct proto_iter child;
	struct proto_item item;
	struct proto_error e;
	struct proto_ref ref;
	const uint8_t *p;
	const char *s;
	size_t len;
	uint64_t v64;
	int64_t i64;
	uint32_t v32;
	uint16_t v16;
	int r;

	while ((r = proto_iter_next(it, &item, &e)) > 0) {
		(*items)++;
		assert_true(item.depth <= PROTO_NEST_MAX);
		assert_true(item.len >= 4);
		(void)proto_item_u16(&item, &v16, &e);
		(void)proto_item_u32(&item, &v32, &e);
		(void)proto_item_u64(&item, &v64, &e);
		(void)proto_item_i64(&item, &i64, &e);
		(void)proto_item_empty(&item, &e);
		(void)proto_item_string(&item, &s, &len, &e);
		(void)proto_item_bytes(&item, &p, &len, -1, &e);
		(void)proto_item_ref(&item, &ref, &e);
		if (proto_item_linkids(&item, &len, &e) == 0 && len > 0)
			(void)proto_item_linkid(&item, len - 1);
		if (!proto_item_is_nest(&item))
			continue;
		assert_int_equal(proto_iter_nest(&child, it, &item, &e), 0);
		if (walk(&child, items) < 0)
			return -1;
	}
	if (r < 0)
		assert_true(e.reason >= PROTO_E_ITEM_OVERRUN &&
		    e.reason <= PROTO_E_LINK_LEN);
	return r;
}

/* View a copy of w's first `len` bytes and walk it; validate too. */
static void
walk_copy(const struct mw *w, uint32_t len, int *walked_ok, int *valid)
{
	struct proto_msg m;
	struct proto_iter it;
	struct proto_error e;
	uint8_t *copy = dup_bytes(w->b, len);
	int items = 0;

	assert_int_equal(proto_msg_view(&m, copy, len, BASE, &e), 0);
	proto_iter_init(&it, &m);
	if (walk(&it, &items) == 0)
		(*walked_ok)++;
	if (proto_msg_validate(&m, &e) == 0) {
		(*valid)++;
		/* Valid implies a clean walk. */
		proto_iter_init(&it, &m);
		assert_int_equal(walk(&it, &items), 0);
	} else {
		assert_false(proto_reason_is_framing(e.reason));
		assert_true(e.offset >= BASE + 16 && e.offset < BASE + len);
	}
	free(copy);
}

/*
 * Iterating an unvalidated message is safe: garbage made of plausible
 * item headers, and a valid message with a few bytes changed, walked
 * from exact-size copies (under the sanitizers with SAN=1).
 */
static void
test_iterate_garbage(void **state)
{
	static struct mw orig;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	uint32_t pos, len, k;
	int round, i, ok = 0, walked_ok = 0;

	(void)state;
	for (round = 0; round < 20000; round++) {
		len = 16 + (uint32_t)(rnd(&seed) % 200);
		mw_begin(&W);
		for (pos = 16; pos < len; pos++)
			W.b[pos] = (uint8_t)rnd(&seed);
		/* Plausible item headers, zero NEST bytes, aligned. */
		for (pos = 16; pos + 4 <= len; pos += 8) {
			if (rnd(&seed) % 3 == 0)
				continue;
			k = (uint32_t)rnd(&seed);
			proto_put16(W.b + pos, (uint16_t)((k & 0xe000) |
			    (k % 3 == 0 ? T_UNKNOWN : (k >> 3) % 160)));
			proto_put16(W.b + pos + 2, (uint16_t)(4 +
			    (rnd(&seed) % (len - pos))));
			if (k & 0x10)
				memset(W.b + pos + 4, 0, len - pos - 4 < 4 ?
				    len - pos - 4 : 4);
		}
		mw_end(&W, (uint16_t)len);
		walk_copy(&W, len, &walked_ok, &ok);
	}
	print_message("garbage: %d of 20000 walked cleanly, %d valid\n",
	    walked_ok, ok);

	/* A valid message of every shape, a few bytes changed each time. */
	mw_begin(&orig);
	mw_u32(&orig, PROTO_ITEM_STATUS, 0);
	mw_leaf(&orig, PROTO_ITEM_ERRTEXT, "caf\xc3\xa9", 5);
	mw_nest(&orig, PROTO_ITEM_DIRENT | PROTO_FLAG_NEST | PROTO_FLAG_LINK);
	mw_leaf(&orig, PROTO_ITEM_NAME, "x", 1);
	mw_u64(&orig, PROTO_ITEM_NODE_LINK | PROTO_FLAG_LINK, 9);
	mw_nest(&orig, PROTO_ITEM_ATTR | PROTO_FLAG_NEST);
	mw_u32(&orig, PROTO_ITEM_MODE, 0644);
	mw_nest(&orig, T_UNKNOWN | PROTO_FLAG_NEST);
	mw_nest_end(&orig);
	mw_nest_end(&orig);
	mw_nest_end(&orig);
	mw_leaf(&orig, PROTO_ITEM_DATA | PROTO_FLAG_REF, "0123456789abcdef"
	    "01234567", 24);
	mw_leaf(&orig, PROTO_ITEM_MORE, NULL, 0);
	len = mw_end(&orig, 0);
	memcpy(&W, &orig, sizeof(W));
	ok = walked_ok = 0;
	walk_copy(&W, len, &walked_ok, &ok);
	assert_int_equal(ok, 1);
	for (round = 0; round < 20000; round++) {
		memcpy(W.b, orig.b, len);
		for (i = 0; i < 1 + (int)(rnd(&seed) % 3); i++) {
			k = 16 + (uint32_t)(rnd(&seed) % (len - 16));
			W.b[k] = rnd(&seed) & 1 ? (uint8_t)rnd(&seed) :
			    (uint8_t)(W.b[k] ^ (1u << (rnd(&seed) % 8)));
		}
		walk_copy(&W, len, &walked_ok, &ok);
	}
	print_message("mutants: %d of 20000 walked cleanly, %d valid\n",
	    walked_ok, ok);
	/* Both outcomes were reached, so both paths were exercised. */
	assert_true(ok > 0 && ok < 20000);
}

/* --- kinds and reasons ------------------------------------------------ */

static void
test_itemspec(void **state)
{
	const struct proto_itemspec *sp;

	(void)state;
	sp = proto_itemspec(PROTO_ITEM_STATUS);
	assert_non_null(sp);
	assert_int_equal(sp->kind, PROTO_KIND_U32);
	sp = proto_itemspec(PROTO_ITEM_DATA);
	assert_non_null(sp);
	assert_int_equal(sp->kind, PROTO_KIND_BYTES);
	assert_true(sp->ref_ok);
	assert_int_equal(proto_kind_size(PROTO_KIND_BYTES, sp), -1);
	sp = proto_itemspec(PROTO_ITEM_SESSION);
	assert_int_equal(proto_kind_size(PROTO_KIND_BYTES, sp), 16);
	sp = proto_itemspec(PROTO_ITEM_NEWDIR);
	assert_int_equal(sp->kind, PROTO_KIND_LINKIDS);
	assert_int_equal(proto_kind_size(PROTO_KIND_LINKIDS, sp), 8);
	assert_null(proto_itemspec(0x1fff));
	assert_null(proto_itemspec((uint16_t)proto_itemspec_count));
	assert_int_equal(proto_itemspec(T_GAP)->kind, PROTO_KIND_UNKNOWN);
	assert_int_equal(proto_kind_size(PROTO_KIND_EMPTY, NULL), 0);
	assert_int_equal(proto_kind_size(PROTO_KIND_U16, NULL), 2);
	assert_int_equal(proto_kind_size(PROTO_KIND_U32, NULL), 4);
	assert_int_equal(proto_kind_size(PROTO_KIND_U64, NULL), 8);
	assert_int_equal(proto_kind_size(PROTO_KIND_I64, NULL), 8);
	assert_int_equal(proto_kind_size(PROTO_KIND_STRING, NULL), -1);
	assert_int_equal(proto_kind_size(PROTO_KIND_NEST, NULL), -1);
	assert_int_equal(proto_kind_size(PROTO_KIND_BYTES, NULL), -1);
}

static void
test_reasons(void **state)
{
	struct proto_error e;
	char buf[128];
	int r, n;

	(void)state;
	for (r = 0; r < PROTO_REASON_COUNT; r++) {
		assert_non_null(proto_reason_str(r));
		assert_true(strlen(proto_reason_str(r)) > 0);
		assert_string_not_equal(proto_reason_str(r), "unknown reason");
		assert_non_null(proto_reason_field(r));
		assert_int_equal(proto_reason_is_framing(r),
		    r == PROTO_E_SHORT_HEADER || r == PROTO_E_LENGTH ||
		    r == PROTO_E_MSG_PAD || r == PROTO_E_TRUNCATED);
	}
	assert_string_equal(proto_reason_str(PROTO_REASON_COUNT),
	    "unknown reason");
	assert_string_equal(proto_reason_str((enum proto_reason)-1),
	    "unknown reason");
	assert_string_equal(proto_reason_field(PROTO_REASON_COUNT), "");
	assert_string_equal(proto_reason_field(PROTO_E_ITEMLEN), "itemlen");

	assert_int_equal(proto_error_set(&e, PROTO_E_ITEM_SIZE, 120, 1, 2, 4),
	    -1);
	n = proto_error_format(&e, buf, sizeof(buf));
	assert_string_equal(buf, "offset 120: itemid 0x0001: fixed-size item "
	    "of the wrong size (got 2, want 4)");
	assert_int_equal(n, (int)strlen(buf));
	proto_error_set(&e, PROTO_E_SHORT_HEADER, 4096, 0, 5, 16);
	proto_error_format(&e, buf, sizeof(buf));
	assert_string_equal(buf, "offset 4096: short header (got 5, want 16)");
	proto_error_set(&e, PROTO_E_REF_NEST, 7, 0xc001, 0, 0);
	proto_error_format(&e, buf, sizeof(buf));
	assert_string_equal(buf, "offset 7: itemid 0xc001: REF and NEST "
	    "together");
	proto_error_set(&e, PROTO_E_RESYNC, 80, 0, 64, 0);
	proto_error_format(&e, buf, sizeof(buf));
	assert_string_equal(buf, "offset 80: resynchronised after skipping "
	    "64 bytes");
	/* Truncated output, as snprintf. */
	n = proto_error_format(&e, buf, 8);
	assert_true(n > 8);
	assert_string_equal(buf, "offset ");
	assert_int_equal(proto_error_set(NULL, PROTO_E_CRC, 0, 0, 0, 0), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_view_ok),
		cmocka_unit_test(test_view_short_header),
		cmocka_unit_test(test_view_length),
		cmocka_unit_test(test_view_truncated),
		cmocka_unit_test(test_item_overrun),
		cmocka_unit_test(test_itemlen),
		cmocka_unit_test(test_item_pad),
		cmocka_unit_test(test_items_end),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_ref),
		cmocka_unit_test(test_link_len),
		cmocka_unit_test(test_item_size),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_item_kind),
		cmocka_unit_test(test_nest_link),
		cmocka_unit_test(test_crc_check),
		cmocka_unit_test(test_iterate),
		cmocka_unit_test(test_accessors),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_iterate_garbage),
		cmocka_unit_test(test_itemspec),
		cmocka_unit_test(test_reasons),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
