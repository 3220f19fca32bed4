/*
 * test_encode.c - the builder: exact bytes against hand-written
 * expectations, the 65535-byte and 8-level limits to the byte and the
 * level, sticky errors, fixed buffers, streams of several messages and
 * the CRC feature. Everything the builder makes must validate.
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

#define T_UNKNOWN	0x1000u

static void
hexdump_diff(const uint8_t *got, const uint8_t *want, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (got[i] != want[i])
			print_error("byte %zu: got 0x%02x, want 0x%02x\n", i,
			    got[i], want[i]);
}

static void
expect_bytes(const struct proto_builder *b, size_t at, const uint8_t *want,
    size_t n)
{
	assert_true(proto_builder_len(b) >= at + n);
	if (memcmp(proto_builder_data(b) + at, want, n) != 0) {
		hexdump_diff(proto_builder_data(b) + at, want, n);
		fail();
	}
}

/*
 * Every message in buf[0..len) back to back: each at a multiple of 8,
 * zero pad, valid. Returns how many.
 */
static int
check_stream(const uint8_t *buf, size_t len)
{
	struct proto_msg m;
	struct proto_error e;
	char text[200];
	size_t off = 0, i;
	int n = 0;

	while (off < len) {
		assert_int_equal(off % 8, 0);
		assert_int_equal(proto_msg_view(&m, buf + off, len - off, off,
		    &e), 0);
		if (proto_msg_validate(&m, &e) < 0) {
			proto_error_format(&e, text, sizeof(text));
			fail_msg("message at %zu: %s", off, text);
		}
		assert_true(off + proto_align8(m.length) <= len);
		for (i = m.length; i < proto_align8(m.length); i++)
			assert_int_equal(buf[off + i], 0);
		off += proto_align8(m.length);
		n++;
	}
	assert_int_equal(off, len);
	return n;
}

static void
test_simple_bytes(void **state)
{
	static const uint8_t want[] = {
		/* linkid, msgid, command, length 31 */
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
		0x0d, 0x0c, 0x0b, 0x0a, 0x03, 0x00, 0x1f, 0x00,
		/* 16: STATUS; 24: NAME "abc"; 31: pad */
		0x01, 0x00, 0x08, 0x00, 0x44, 0x33, 0x22, 0x11,
		0x80, 0x00, 0x07, 0x00, 'a', 'b', 'c', 0x00,
	};
	struct proto_builder b;

	(void)state;
	proto_builder_init(&b);
	assert_int_equal(proto_build_begin(&b, 0x0102030405060708ull,
	    0x0a0b0c0d, PROTO_CMD_PING), 0);
	assert_int_equal(proto_build_u32(&b, PROTO_ITEM_STATUS, 0x11223344),
	    0);
	assert_int_equal(proto_build_string(&b, PROTO_ITEM_NAME, "abc", 3), 0);
	assert_int_equal(proto_build_end(&b), 32);
	assert_int_equal(proto_builder_len(&b), 32);
	expect_bytes(&b, 0, want, sizeof(want));
	assert_int_equal(check_stream(proto_builder_data(&b), 32), 1);
	proto_builder_free(&b);
}

static void
test_every_kind_bytes(void **state)
{
	static const uint8_t want[] = {
		0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x05, 0x80, 69, 0,
		/* 16: VERSION u16 */
		0x10, 0x00, 0x06, 0x00, 0x34, 0x12, 0, 0,
		/* 24: TIMESTAMP u64 */
		0x05, 0x00, 0x0c, 0x00, 1, 2, 3, 4, 5, 6, 7, 8,
		/* 36: pad, 40: MORE */
		0, 0, 0, 0, 0x02, 0x00, 0x04, 0x00,
		/* 44: pad, 48: ATIME i64 -2 */
		0, 0, 0, 0, 0x88, 0x00, 0x0c, 0x00,
		0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		/* 60: pad, 64: DATA, 1 byte; length 69 */
		0, 0, 0, 0, 0x42, 0x00, 0x05, 0x00, 0xee, 0, 0, 0,
	};
	struct proto_builder b;

	(void)state;
	proto_builder_init(&b);
	assert_int_equal(proto_build_begin(&b, 0, 1, 0x8005), 0);
	assert_int_equal(proto_build_u16(&b, PROTO_ITEM_VERSION, 0x1234), 0);
	assert_int_equal(proto_build_u64(&b, PROTO_ITEM_TIMESTAMP,
	    0x0807060504030201ull), 0);
	assert_int_equal(proto_build_empty(&b, PROTO_ITEM_MORE), 0);
	assert_int_equal(proto_build_i64(&b, PROTO_ITEM_ATIME, -2), 0);
	assert_int_equal(proto_build_bytes(&b, PROTO_ITEM_DATA, "\xee", 1), 0);
	assert_int_equal(proto_build_end(&b), 72);
	expect_bytes(&b, 0, want, sizeof(want));
	check_stream(proto_builder_data(&b), proto_builder_len(&b));
	proto_builder_free(&b);
}

/* Nest lengths, zero pads and LINK set on every enclosing NEST. */
static void
test_nest_bytes(void **state)
{
	static const uint8_t want[] = {
		0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x01, 0x82, 62, 0,
		/* 16: ATTR, NEST and LINK, itemlen 36 */
		0x81, 0xa0, 36, 0, 0, 0, 0, 0,
		/* 24: MODE 0644 */
		0x82, 0x00, 0x08, 0x00, 0xa4, 0x01, 0x00, 0x00,
		/* 32: unknown type, NEST and LINK, itemlen 20 */
		0x00, 0xb0, 20, 0, 0, 0, 0, 0,
		/* 40: NEWLINK, LINK, one id */
		0x19, 0x20, 0x0c, 0x00, 0x55, 0, 0, 0, 0, 0, 0, 0x80,
		/* 52: pad; 56: VERSION 1 */
		0, 0, 0, 0, 0x10, 0x00, 0x06, 0x00, 0x01, 0x00,
		/* 62: message pad */
		0, 0,
	};
	uint64_t id = 0x8000000000000055ull;
	struct proto_builder b;

	(void)state;
	proto_builder_init(&b);
	assert_int_equal(proto_build_begin(&b, 0, 1, 0x8201), 0);
	assert_int_equal(proto_build_nest_begin(&b, PROTO_ITEM_ATTR, 0), 0);
	assert_int_equal(proto_build_u32(&b, PROTO_ITEM_MODE, 0644), 0);
	assert_int_equal(proto_build_nest_begin(&b, T_UNKNOWN, 0), 0);
	assert_int_equal(proto_build_linkids(&b, PROTO_ITEM_NEWLINK, &id, 1),
	    0);
	assert_int_equal(proto_build_nest_end(&b), 0);
	assert_int_equal(proto_build_nest_end(&b), 0);
	assert_int_equal(proto_build_u16(&b, PROTO_ITEM_VERSION, 1), 0);
	assert_int_equal(proto_build_end(&b), 64);
	expect_bytes(&b, 0, want, sizeof(want));
	check_stream(proto_builder_data(&b), proto_builder_len(&b));
	proto_builder_free(&b);
}

/* A REF three levels down; a sibling without links; an empty LINK NEST. */
static void
test_link_propagation(void **state)
{
	static const uint8_t want[] = {
		9, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0x03, 0x02, 104, 0,
		/* 16: DIRENT, NEST|LINK, itemlen 72 */
		0x8d, 0xa0, 72, 0, 0, 0, 0, 0,
		/* 24: 0x1001 NEST|LINK, itemlen 44 */
		0x01, 0xb0, 44, 0, 0, 0, 0, 0,
		/* 32: 0x1002 NEST|LINK, itemlen 36 */
		0x02, 0xb0, 36, 0, 0, 0, 0, 0,
		/* 40: DATA, REF, itemlen 28 */
		0x42, 0x40, 28, 0,
		1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
		3, 0, 0, 0, 0, 0, 0, 0,
		/* 68: pad; 72: ATTR, NEST only, itemlen 16 */
		0, 0, 0, 0, 0x81, 0x80, 16, 0, 0, 0, 0, 0,
		/* 80: UID 7 */
		0x83, 0x00, 0x08, 0x00, 7, 0, 0, 0,
		/* 88: 0x1003 NEST|LINK, itemlen 16 */
		0x03, 0xb0, 16, 0, 0, 0, 0, 0,
		/* 96: 0x1004 NEST|LINK by hand, empty */
		0x04, 0xb0, 8, 0, 0, 0, 0, 0,
	};
	struct proto_ref ref = { 1, 2, 3 };
	struct proto_builder b;

	(void)state;
	proto_builder_init(&b);
	assert_int_equal(proto_build_begin(&b, 9, 2, 0x0203), 0);
	proto_build_nest_begin(&b, PROTO_ITEM_DIRENT, 0);
	proto_build_nest_begin(&b, T_UNKNOWN + 1, 0);
	proto_build_nest_begin(&b, T_UNKNOWN + 2, 0);
	proto_build_ref(&b, PROTO_ITEM_DATA, &ref, 0);
	proto_build_nest_end(&b);
	proto_build_nest_end(&b);
	/* Bits other than LINK in `flags` are not taken. */
	proto_build_nest_begin(&b, PROTO_ITEM_ATTR, PROTO_FLAG_REF);
	proto_build_u32(&b, PROTO_ITEM_UID, 7);
	proto_build_nest_end(&b);
	proto_build_nest_end(&b);
	proto_build_nest_begin(&b, T_UNKNOWN + 3, 0);
	proto_build_nest_begin(&b, T_UNKNOWN + 4, PROTO_FLAG_LINK);
	proto_build_nest_end(&b);
	proto_build_nest_end(&b);
	assert_int_equal(proto_build_end(&b), 104);
	/* The REF with LINK in a second message: 40 bytes. */
	assert_int_equal(proto_build_begin(&b, 0, 3, 0x0101), 0);
	assert_int_equal(proto_build_ref(&b, PROTO_ITEM_DATA, &ref, 1), 0);
	assert_int_equal(proto_build_end(&b), 48);
	expect_bytes(&b, 0, want, 104);
	assert_int_equal(proto_get16(proto_builder_data(&b) + 104 + 16),
	    PROTO_ITEM_DATA | PROTO_FLAG_REF | PROTO_FLAG_LINK);
	assert_int_equal(proto_get16(proto_builder_data(&b) + 104 + 18), 28);
	assert_int_equal(proto_get64(proto_builder_data(&b) + 104 + 36), 3);
	assert_int_equal(check_stream(proto_builder_data(&b),
	    proto_builder_len(&b)), 2);
	proto_builder_free(&b);
}

static void
test_type_masked(void **state)
{
	struct proto_builder b;
	uint64_t id = 1;

	(void)state;
	proto_builder_init(&b);
	proto_build_begin(&b, 0, 0, 0);
	/* Typed builders keep only the type bits of `type`. */
	proto_build_u32(&b, 0xe000 | PROTO_ITEM_STATUS, 0);
	proto_build_linkids(&b, 0xe000 | PROTO_ITEM_NEWDIR, &id, 1);
	proto_build_nest_begin(&b, 0xe000 | PROTO_ITEM_ATTR, 0);
	proto_build_nest_end(&b);
	/* proto_build_raw writes the itemid exactly as given. */
	proto_build_raw(&b, 0xffff, "ab", 2);
	assert_int_equal(proto_build_end(&b), 56);
	assert_int_equal(proto_get16(proto_builder_data(&b) + 16),
	    PROTO_ITEM_STATUS);
	assert_int_equal(proto_get16(proto_builder_data(&b) + 24),
	    PROTO_ITEM_NEWDIR | PROTO_FLAG_LINK);
	assert_int_equal(proto_get16(proto_builder_data(&b) + 40),
	    PROTO_ITEM_ATTR | PROTO_FLAG_NEST);
	assert_int_equal(proto_get16(proto_builder_data(&b) + 48), 0xffff);
	assert_int_equal(proto_get16(proto_builder_data(&b) + 50), 6);
	proto_builder_free(&b);
}

static uint8_t big[PROTO_FRAME_MAX];
static uint64_t many_ids[8190];

/* A message of exactly `length` bytes: one leaf, maybe in a NEST. */
static int
build_sized(struct proto_builder *b, uint32_t length, int nested)
{
	uint32_t data = length - PROTO_HDR_LEN - PROTO_ITEM_HDR_LEN -
	    (nested ? PROTO_NEST_HDR_LEN : 0);

	proto_build_begin(b, 1, 2, 3);
	if (nested)
		proto_build_nest_begin(b, T_UNKNOWN, 0);
	proto_build_bytes(b, PROTO_ITEM_DATA, big, data);
	if (nested)
		proto_build_nest_end(b);
	return proto_build_end(b);
}

static void
test_limit_65535(void **state)
{
	struct proto_builder b;
	const uint8_t *p;
	int nested;

	(void)state;
	memset(big, 0x5a, sizeof(big));
	for (nested = 0; nested < 2; nested++) {
		proto_builder_init(&b);
		assert_int_equal(build_sized(&b, 65535, nested), 65536);
		p = proto_builder_data(&b);
		assert_int_equal(proto_get16(p + 14), 65535);
		assert_int_equal(p[65535], 0);
		if (nested)
			assert_int_equal(proto_get16(p + 18), 65535 - 16);
		check_stream(p, proto_builder_len(&b));
		/* One more byte: refused, and sticky. */
		assert_int_equal(build_sized(&b, 65536, nested), -1);
		assert_int_equal(b.err.reason, PROTO_E_TOO_BIG);
		assert_int_equal(proto_build_end(&b), -1);
		assert_int_equal(b.err.reason, PROTO_E_TOO_BIG);
		proto_build_abort(&b);
		assert_int_equal(proto_builder_len(&b), 65536);
		check_stream(proto_builder_data(&b), proto_builder_len(&b));
		proto_builder_free(&b);
	}

	/* Several items up to the limit, then one byte over. */
	proto_builder_init(&b);
	proto_build_begin(&b, 0, 0, 0);
	assert_int_equal(proto_build_u32(&b, PROTO_ITEM_STATUS, 0), 0);
	assert_int_equal(proto_build_bytes(&b, PROTO_ITEM_DATA, big, 65507),
	    0);
	assert_int_equal(proto_build_end(&b), 65536);
	proto_build_begin(&b, 0, 0, 0);
	assert_int_equal(proto_build_u32(&b, PROTO_ITEM_STATUS, 0), 0);
	assert_int_equal(proto_build_bytes(&b, PROTO_ITEM_DATA, big, 65508),
	    -1);
	assert_int_equal(b.err.reason, PROTO_E_TOO_BIG);
	proto_build_abort(&b);
	/* An empty item fits at 65528, its header ending at 65532. */
	proto_build_begin(&b, 0, 0, 0);
	proto_build_bytes(&b, PROTO_ITEM_DATA, big, 65528 - 20);
	assert_int_equal(proto_build_empty(&b, PROTO_ITEM_MORE), 0);
	assert_int_equal(proto_build_end(&b), 65536);
	assert_int_equal(proto_get16(proto_builder_data(&b) + 65536 + 14),
	    65532);
	/* One byte later, the next aligned place is 65536. */
	proto_build_begin(&b, 0, 0, 0);
	proto_build_bytes(&b, PROTO_ITEM_DATA, big, 65529 - 20);
	assert_int_equal(proto_build_empty(&b, PROTO_ITEM_MORE), -1);
	assert_int_equal(b.err.reason, PROTO_E_TOO_BIG);
	proto_build_abort(&b);
	/* A NEST header: 8 bytes, at an aligned offset. */
	proto_build_begin(&b, 0, 0, 0);
	proto_build_bytes(&b, PROTO_ITEM_DATA, big, 65520 - 20);
	assert_int_equal(proto_build_nest_begin(&b, T_UNKNOWN, 0), 0);
	assert_int_equal(proto_build_nest_end(&b), 0);
	assert_int_equal(proto_build_end(&b), 65528);
	proto_build_begin(&b, 0, 0, 0);
	proto_build_bytes(&b, PROTO_ITEM_DATA, big, 65521 - 20);
	assert_int_equal(proto_build_nest_begin(&b, T_UNKNOWN, 0), -1);
	assert_int_equal(b.err.reason, PROTO_E_TOO_BIG);
	proto_build_abort(&b);
	check_stream(proto_builder_data(&b), proto_builder_len(&b));
	assert_int_equal(proto_builder_len(&b), 2 * 65536 + 65528);

	/* Sizes no message can hold, whatever is in it. */
	proto_build_begin(&b, 0, 0, 0);
	assert_int_equal(proto_build_raw(&b, T_UNKNOWN, big, 65536), -1);
	assert_int_equal(b.err.reason, PROTO_E_TOO_BIG);
	proto_build_abort(&b);
	proto_build_begin(&b, 0, 0, 0);
	assert_int_equal(proto_build_raw(&b, T_UNKNOWN, big, (size_t)1 << 40),
	    -1);
	assert_int_equal(b.err.reason, PROTO_E_TOO_BIG);
	proto_build_abort(&b);
	proto_build_begin(&b, 0, 0, 0);
	assert_int_equal(proto_build_linkids(&b, T_UNKNOWN, many_ids, 8190),
	    -1);
	assert_int_equal(b.err.reason, PROTO_E_TOO_BIG);
	proto_build_abort(&b);
	proto_build_begin(&b, 0, 0, 0);
	assert_int_equal(proto_build_linkids(&b, T_UNKNOWN, many_ids, 8189),
	    0);
	assert_int_equal(proto_build_end(&b), 65536);
	check_stream(proto_builder_data(&b), proto_builder_len(&b));
	proto_builder_free(&b);
}

static void
test_depth_limit(void **state)
{
	struct proto_builder b;
	int i;

	(void)state;
	proto_builder_init(&b);
	proto_build_begin(&b, 0, 0, 0);
	for (i = 0; i < PROTO_NEST_MAX; i++)
		assert_int_equal(proto_build_nest_begin(&b, T_UNKNOWN + i, 0),
		    0);
	assert_int_equal(proto_build_u32(&b, PROTO_ITEM_STATUS, 0), 0);
	for (i = 0; i < PROTO_NEST_MAX; i++)
		assert_int_equal(proto_build_nest_end(&b), 0);
	assert_int_equal(proto_build_end(&b), 88);
	check_stream(proto_builder_data(&b), proto_builder_len(&b));

	proto_build_begin(&b, 0, 0, 0);
	for (i = 0; i < PROTO_NEST_MAX; i++)
		assert_int_equal(proto_build_nest_begin(&b, T_UNKNOWN, 0), 0);
	assert_int_equal(proto_build_nest_begin(&b, T_UNKNOWN, 0), -1);
	assert_int_equal(b.err.reason, PROTO_E_TOO_DEEP);
	/* Sticky: nothing more goes in, nothing ends. */
	assert_int_equal(proto_build_nest_end(&b), -1);
	assert_int_equal(proto_build_u32(&b, PROTO_ITEM_STATUS, 0), -1);
	assert_int_equal(proto_build_end(&b), -1);
	assert_int_equal(b.err.reason, PROTO_E_TOO_DEEP);
	proto_build_abort(&b);
	assert_int_equal(b.err.reason, PROTO_OK);
	assert_int_equal(proto_builder_len(&b), 88);
	/* The builder works again. */
	assert_int_equal(proto_build_begin(&b, 0, 0, 0), 0);
	assert_int_equal(proto_build_end(&b), 16);
	assert_int_equal(check_stream(proto_builder_data(&b),
	    proto_builder_len(&b)), 2);
	proto_builder_free(&b);
}

static void
test_sticky_misuse(void **state)
{
	struct proto_builder b;

	(void)state;
	proto_builder_init(&b);
	/* Items before a message. */
	assert_int_equal(proto_build_u32(&b, PROTO_ITEM_STATUS, 0), -1);
	assert_int_equal(b.err.reason, PROTO_E_MISUSE);
	assert_int_equal(proto_build_begin(&b, 0, 0, 0), -1);
	proto_build_abort(&b);
	assert_int_equal(proto_builder_len(&b), 0);
	assert_int_equal(proto_build_end(&b), -1);
	assert_int_equal(b.err.reason, PROTO_E_MISUSE);
	proto_build_abort(&b);
	assert_int_equal(proto_build_nest_end(&b), -1);
	assert_int_equal(b.err.reason, PROTO_E_MISUSE);
	proto_build_abort(&b);
	assert_int_equal(proto_build_nest_begin(&b, T_UNKNOWN, 0), -1);
	assert_int_equal(b.err.reason, PROTO_E_MISUSE);
	proto_build_abort(&b);

	/* A finished message, then an open one with mistakes. */
	assert_int_equal(proto_build_begin(&b, 5, 6, 7), 0);
	assert_int_equal(proto_build_u32(&b, PROTO_ITEM_STATUS, 1), 0);
	assert_int_equal(proto_build_end(&b), 24);
	assert_int_equal(proto_build_begin(&b, 0, 0, 0), 0);
	assert_int_equal(proto_build_begin(&b, 0, 0, 0), -1);
	assert_int_equal(b.err.reason, PROTO_E_MISUSE);
	proto_build_abort(&b);
	assert_int_equal(proto_builder_len(&b), 24);
	assert_int_equal(proto_build_begin(&b, 0, 0, 0), 0);
	assert_int_equal(proto_build_nest_end(&b), -1);
	assert_int_equal(b.err.reason, PROTO_E_MISUSE);
	proto_build_abort(&b);
	assert_int_equal(proto_build_begin(&b, 0, 0, 0), 0);
	assert_int_equal(proto_build_nest_begin(&b, T_UNKNOWN, 0), 0);
	assert_int_equal(proto_build_end(&b), -1);
	assert_int_equal(b.err.reason, PROTO_E_MISUSE);
	/* The first error stays, whatever comes after. */
	assert_int_equal(proto_build_raw(&b, T_UNKNOWN, big, 70000), -1);
	assert_int_equal(b.err.reason, PROTO_E_MISUSE);
	assert_int_equal(proto_build_end_crc(&b), -1);
	assert_int_equal(b.err.reason, PROTO_E_MISUSE);
	proto_build_abort(&b);
	assert_int_equal(proto_builder_len(&b), 24);
	/* Abort with nothing open keeps what is finished. */
	proto_build_abort(&b);
	assert_int_equal(proto_builder_len(&b), 24);
	assert_int_equal(check_stream(proto_builder_data(&b), 24), 1);
	assert_int_equal(proto_get32(proto_builder_data(&b) + 20), 1);
	/* Reset forgets everything and clears the error. */
	proto_build_u32(&b, PROTO_ITEM_STATUS, 0);
	assert_int_equal(b.err.reason, PROTO_E_MISUSE);
	proto_builder_reset(&b);
	assert_int_equal(proto_builder_len(&b), 0);
	assert_int_equal(b.err.reason, PROTO_OK);
	assert_int_equal(proto_build_begin(&b, 0, 0, 0), 0);
	assert_int_equal(proto_build_end(&b), 16);
	proto_builder_free(&b);
}

#define CANARY	0xc5

static int
canary_intact(const uint8_t *buf, size_t from, size_t to)
{
	size_t i;

	for (i = from; i < to; i++)
		if (buf[i] != CANARY)
			return 0;
	return 1;
}

static void
test_fixed_buffer(void **state)
{
	static const uint8_t want[32] = {
		1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 31, 0,
		0x01, 0x00, 0x08, 0x00, 9, 0, 0, 0,
		0x80, 0x00, 0x07, 0x00, 'x', 'y', 'z', 0,
	};
	uint8_t buf[128];
	struct proto_builder b;

	(void)state;
	/* Exactly big enough. */
	memset(buf, CANARY, sizeof(buf));
	proto_builder_init_fixed(&b, buf, 32);
	assert_int_equal(proto_build_begin(&b, 1, 2, 3), 0);
	assert_int_equal(proto_build_u32(&b, PROTO_ITEM_STATUS, 9), 0);
	assert_int_equal(proto_build_string(&b, PROTO_ITEM_NAME, "xyz", 3), 0);
	assert_int_equal(proto_build_end(&b), 32);
	assert_ptr_equal(proto_builder_data(&b), buf);
	assert_memory_equal(buf, want, 32);
	assert_true(canary_intact(buf, 32, sizeof(buf)));
	/* Full: the next message's header does not fit. */
	assert_int_equal(proto_build_begin(&b, 1, 2, 3), -1);
	assert_int_equal(b.err.reason, PROTO_E_NOMEM);
	proto_build_abort(&b);
	assert_int_equal(proto_builder_len(&b), 32);
	assert_true(canary_intact(buf, 32, sizeof(buf)));
	proto_builder_free(&b);	/* not ours to free */
	assert_true(canary_intact(buf, 32, sizeof(buf)));

	/* An item that does not fit. */
	memset(buf, CANARY, sizeof(buf));
	proto_builder_init_fixed(&b, buf, 40);
	proto_build_begin(&b, 0, 0, 0);
	assert_int_equal(proto_build_u32(&b, PROTO_ITEM_STATUS, 0), 0);
	assert_int_equal(proto_build_u64(&b, PROTO_ITEM_SIZE, 0), 0);
	assert_int_equal(proto_build_u32(&b, PROTO_ITEM_STATUS, 0), -1);
	assert_int_equal(b.err.reason, PROTO_E_NOMEM);
	assert_int_equal(proto_build_end(&b), -1);
	assert_true(canary_intact(buf, 40, sizeof(buf)));
	/* The pad of the last message does not fit. */
	proto_build_abort(&b);
	assert_int_equal(proto_builder_len(&b), 0);
	memset(buf, CANARY, sizeof(buf));
	proto_builder_init_fixed(&b, buf, 38);
	assert_int_equal(proto_build_begin(&b, 0, 0, 0), 0);
	assert_int_equal(proto_build_bytes(&b, PROTO_ITEM_DATA, "12345678"
	    "123456789", 17), 0);
	assert_int_equal(proto_builder_len(&b), 37);
	assert_int_equal(proto_build_end(&b), -1);
	assert_int_equal(b.err.reason, PROTO_E_NOMEM);
	assert_true(canary_intact(buf, 38, sizeof(buf)));
	proto_build_abort(&b);
	/* Too small for a header; a NEST header that does not fit. */
	memset(buf, CANARY, sizeof(buf));
	proto_builder_init_fixed(&b, buf, 15);
	assert_int_equal(proto_build_begin(&b, 0, 0, 0), -1);
	assert_int_equal(b.err.reason, PROTO_E_NOMEM);
	assert_true(canary_intact(buf, 0, sizeof(buf)));
	proto_builder_init_fixed(&b, buf, 23);
	assert_int_equal(proto_build_begin(&b, 0, 0, 0), 0);
	assert_int_equal(proto_build_nest_begin(&b, T_UNKNOWN, 0), -1);
	assert_int_equal(b.err.reason, PROTO_E_NOMEM);
	assert_true(canary_intact(buf, 23, sizeof(buf)));
	proto_build_abort(&b);
	memset(buf, CANARY, sizeof(buf));
	proto_builder_init_fixed(&b, buf, 23);
	proto_build_begin(&b, 0, 0, 0);
	assert_int_equal(proto_build_end_crc(&b), -1);
	assert_int_equal(b.err.reason, PROTO_E_NOMEM);
	assert_true(canary_intact(buf, 23, sizeof(buf)));
	proto_build_abort(&b);
	proto_builder_init_fixed(&b, buf, 24);
	proto_build_begin(&b, 0, 0, 0);
	assert_int_equal(proto_build_end_crc(&b), 24);
	assert_true(canary_intact(buf, 24, sizeof(buf)));
}

/* Messages of many shapes back to back, checked as a stream. */
static void
test_stream(void **state)
{
	struct proto_builder b;
	struct proto_framer f;
	struct proto_msg m;
	struct proto_error e;
	uint64_t id = 42;
	size_t off[40];
	int i, n = 0, r;

	(void)state;
	proto_builder_init(&b);
	for (i = 0; i < 40; i++) {
		off[i] = proto_builder_len(&b);
		assert_int_equal(proto_build_begin(&b, (uint64_t)i, (uint32_t)i,
		    (uint16_t)(0x0200 + i)), 0);
		if (i % 3 == 0)
			proto_build_string(&b, PROTO_ITEM_NAME, "abcdefg",
			    (size_t)(i % 8));
		if (i % 4 == 1) {
			proto_build_nest_begin(&b, PROTO_ITEM_DIRENT, 0);
			proto_build_linkids(&b, PROTO_ITEM_NODE_LINK, &id, 1);
			proto_build_nest_end(&b);
		}
		if (i % 5 == 2)
			proto_build_bytes(&b, PROTO_ITEM_DATA, big,
			    (size_t)(i * 97));
		if (i % 2 == 0)
			assert_true(proto_build_end(&b) > 0);
		else
			assert_true(proto_build_end_crc(&b) > 0);
	}
	assert_int_equal(check_stream(proto_builder_data(&b),
	    proto_builder_len(&b)), 40);
	/* And the framer agrees. */
	assert_int_equal(proto_framer_init(&f, 0), 0);
	proto_framer_feed(&f, proto_builder_data(&b), proto_builder_len(&b));
	proto_framer_eof(&f);
	while ((r = proto_framer_next(&f, &m, &e)) != 0) {
		assert_int_equal(r, 1);
		assert_true(n < 40);
		assert_int_equal(m.offset, off[n]);
		assert_int_equal(m.msgid, (uint32_t)n);
		assert_int_equal(proto_msg_validate(&m, &e), 0);
		if (n % 2 == 1)
			assert_int_equal(proto_msg_crc_check(&m, &e), 0);
		n++;
	}
	assert_int_equal(n, 40);
	proto_framer_free(&f);
	proto_builder_free(&b);
}

/* Bit by bit, independent of libproto's tables and instructions. */
static uint32_t
crc32c_ref(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		c ^= p[i];
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
	}
	return ~c;
}

static void
crc_every_bit(const uint8_t *msg, uint16_t length)
{
	struct proto_msg m;
	struct proto_error e;
	uint8_t *copy = malloc(length);
	uint32_t bit;

	assert_non_null(copy);
	for (bit = 0; bit < (uint32_t)length * 8; bit++) {
		memcpy(copy, msg, length);
		copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (proto_msg_view(&m, copy, length, 0, &e) < 0)
			continue;	/* the length changed: refused */
		if (proto_msg_crc_check(&m, &e) == 0)
			fail_msg("bit %u flipped, CRC still passes", bit);
	}
	free(copy);
}

static void
test_crc(void **state)
{
	struct proto_builder b;
	struct proto_msg m;
	struct proto_error e;
	struct proto_ref ref = { 7, 8, 9 };
	uint8_t tmp[256];
	const uint8_t *p;
	uint32_t crc;
	int total;

	(void)state;
	proto_builder_init(&b);
	/* The smallest: the CRC alone. */
	proto_build_begin(&b, 0x1111, 0x2222, PROTO_CMD_LINK_OPEN);
	assert_int_equal(proto_build_end_crc(&b), 24);
	p = proto_builder_data(&b);
	assert_int_equal(proto_get16(p + 14), 24);
	assert_int_equal(proto_get16(p + 16), PROTO_ITEM_CRC);
	assert_int_equal(proto_get16(p + 18), 8);
	memcpy(tmp, p, 24);
	memset(tmp + 20, 0, 4);
	crc = crc32c_ref(tmp, 24);
	assert_int_equal(proto_get32(p + 20), crc);
	assert_int_equal(proto_msg_view(&m, p, 24, 0, &e), 0);
	assert_int_equal(proto_msg_crc_check(&m, &e), 0);
	assert_int_equal(proto_msg_validate(&m, &e), 0);
	crc_every_bit(p, 24);

	/* Nested, odd lengths, a pad before the CRC. */
	proto_builder_reset(&b);
	proto_build_begin(&b, 1, 2, PROTO_CMD_VFS_READDIR | PROTO_REPLY_BIT);
	proto_build_nest_begin(&b, PROTO_ITEM_DIRENT, 0);
	proto_build_string(&b, PROTO_ITEM_NAME, "file.txt", 8);
	proto_build_ref(&b, PROTO_ITEM_DATA, &ref, 0);
	proto_build_nest_end(&b);
	proto_build_string(&b, PROTO_ITEM_ERRTEXT, "odd", 3);
	total = proto_build_end_crc(&b);
	assert_int_equal(total, 88);
	p = proto_builder_data(&b);
	assert_int_equal(proto_msg_view(&m, p, (size_t)total, 0, &e), 0);
	assert_int_equal(m.length, 88);
	assert_int_equal(proto_get16(p + 80), PROTO_ITEM_CRC);
	assert_int_equal(proto_msg_validate(&m, &e), 0);
	assert_int_equal(proto_msg_crc_check(&m, &e), 0);
	memcpy(tmp, p, 88);
	memset(tmp + 84, 0, 4);
	assert_int_equal(proto_get32(p + 84), crc32c_ref(tmp, 88));
	assert_int_equal(proto_msg_crc(&m, 80), crc32c_ref(tmp, 88));
	crc_every_bit(p, 88);

	/*
	 * The CRC item is 8 bytes at an aligned offset, so the largest
	 * message with one is 65528 bytes; one byte more is refused.
	 */
	proto_builder_reset(&b);
	proto_build_begin(&b, 0, 0, 0);
	proto_build_bytes(&b, PROTO_ITEM_DATA, big, 65521 - 20);
	assert_int_equal(proto_build_end_crc(&b), -1);
	assert_int_equal(b.err.reason, PROTO_E_TOO_BIG);
	proto_build_abort(&b);
	proto_build_begin(&b, 0, 0, 0);
	proto_build_bytes(&b, PROTO_ITEM_DATA, big, 65520 - 20);
	assert_int_equal(proto_build_end_crc(&b), 65528);
	assert_int_equal(proto_msg_view(&m, proto_builder_data(&b), 65528, 0,
	    &e), 0);
	assert_int_equal(m.length, 65528);
	assert_int_equal(proto_msg_validate(&m, &e), 0);
	assert_int_equal(proto_msg_crc_check(&m, &e), 0);
	proto_builder_free(&b);
}

/* Bytes outside messages, and taking back what was appended. */
static void
test_verbatim_truncate(void **state)
{
	struct proto_builder b, one;
	uint8_t buf[64];

	(void)state;
	proto_builder_init(&one);
	proto_build_begin(&one, 1, 2, 3);
	proto_build_u32(&one, PROTO_ITEM_STATUS, 4);
	assert_int_equal(proto_build_end(&one), 24);

	proto_builder_init(&b);
	assert_int_equal(proto_build_verbatim(&b, "abc", 3), 0);
	assert_int_equal(proto_build_verbatim(&b, NULL, 0), 0);
	assert_int_equal(proto_builder_len(&b), 3);
	/* The next message starts right after them, laid out the same. */
	proto_build_begin(&b, 1, 2, 3);
	proto_build_u32(&b, PROTO_ITEM_STATUS, 4);
	assert_int_equal(proto_build_end(&b), 24);
	assert_int_equal(proto_builder_len(&b), 27);
	assert_memory_equal(proto_builder_data(&b), "abc", 3);
	assert_memory_equal(proto_builder_data(&b) + 3,
	    proto_builder_data(&one), 24);
	/* Not inside a message. */
	proto_build_begin(&b, 0, 0, 0);
	assert_int_equal(proto_build_verbatim(&b, "x", 1), -1);
	assert_int_equal(b.err.reason, PROTO_E_MISUSE);
	assert_int_equal(proto_build_verbatim(&b, "x", 1), -1);
	/* Truncate drops the open message and clears the error. */
	proto_builder_truncate(&b, 27);
	assert_int_equal(b.err.reason, PROTO_OK);
	assert_int_equal(proto_builder_len(&b), 27);
	proto_builder_truncate(&b, 1000);
	assert_int_equal(proto_builder_len(&b), 27);
	proto_builder_truncate(&b, 3);
	assert_int_equal(proto_builder_len(&b), 3);
	proto_build_begin(&b, 1, 2, 3);
	proto_build_u32(&b, PROTO_ITEM_STATUS, 4);
	assert_int_equal(proto_build_end(&b), 24);
	assert_memory_equal(proto_builder_data(&b) + 3,
	    proto_builder_data(&one), 24);
	proto_builder_truncate(&b, 0);
	assert_int_equal(proto_builder_len(&b), 0);
	assert_int_equal(proto_build_begin(&b, 0, 0, 0), 0);
	assert_int_equal(proto_build_end(&b), 16);
	proto_builder_free(&b);
	proto_builder_free(&one);

	/* A fixed buffer: full is full, nothing past it. */
	memset(buf, CANARY, sizeof(buf));
	proto_builder_init_fixed(&b, buf, 10);
	assert_int_equal(proto_build_verbatim(&b, "0123456789", 10), 0);
	assert_int_equal(proto_build_verbatim(&b, "z", 1), -1);
	assert_int_equal(b.err.reason, PROTO_E_NOMEM);
	assert_true(canary_intact(buf, 10, sizeof(buf)));
	assert_memory_equal(buf, "0123456789", 10);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_bytes),
		cmocka_unit_test(test_every_kind_bytes),
		cmocka_unit_test(test_nest_bytes),
		cmocka_unit_test(test_link_propagation),
		cmocka_unit_test(test_type_masked),
		cmocka_unit_test(test_limit_65535),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_sticky_misuse),
		cmocka_unit_test(test_fixed_buffer),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_crc),
		cmocka_unit_test(test_verbatim_truncate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
