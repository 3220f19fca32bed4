/*
 * test_crc32c.c - CRC32C: the RFC 3720 B.4 vectors, chaining, and the
 * SSE4.2 and table paths against each other and against a bit-by-bit
 * reference, over every length to 1024 and every alignment.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "libproto/proto.h"

/* Bit by bit, straight from the definition: reflected 0x82f63b78. */
static uint32_t
crc_ref(uint32_t crc, const uint8_t *p, size_t n)
{
	uint32_t c = ~crc;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		c ^= p[i];
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
	}
	return ~c;
}

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* Every implementation gives `want` for p[0..n). */
static void
expect_crc(const uint8_t *p, size_t n, uint32_t want)
{
	assert_int_equal(proto_crc32c(0, p, n), want);
	assert_int_equal(proto_crc32c_portable(0, p, n), want);
	assert_int_equal(crc_ref(0, p, n), want);
}

static void
test_vectors(void **state)
{
	uint8_t buf[32];
	int i;

	(void)state;
	memset(buf, 0, sizeof(buf));
	expect_crc(buf, 32, 0x8a9136aa);
	memset(buf, 0xff, sizeof(buf));
	expect_crc(buf, 32, 0x62a8ab43);
	for (i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	expect_crc(buf, 32, 0x46dd794e);
	for (i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	expect_crc(buf, 32, 0x113fdb5c);
	expect_crc((const uint8_t *)"123456789", 9, 0xe3069283);
	expect_crc((const uint8_t *)"", 0, 0);
	expect_crc((const uint8_t *)"a", 1, 0xc1d04330);
	print_message("sse4.2 in this CPU: %s\n",
	    __builtin_cpu_supports("sse4.2") ? "yes" : "no");
}

static void
test_chaining(void **state)
{
	uint8_t buf[300];
	uint64_t seed = 12345;
	uint32_t whole, a, b, c;
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rnd(&seed);
	whole = crc_ref(0, buf, sizeof(buf));
	assert_int_equal(proto_crc32c(0, buf, sizeof(buf)), whole);
	for (i = 0; i <= sizeof(buf); i++) {
		a = proto_crc32c(0, buf, i);
		assert_int_equal(proto_crc32c(a, buf + i, sizeof(buf) - i),
		    whole);
		a = proto_crc32c_portable(0, buf, i);
		assert_int_equal(proto_crc32c_portable(a, buf + i,
		    sizeof(buf) - i), whole);
	}
	/* Three pieces, mixing the two paths. */
	for (i = 0; i <= sizeof(buf); i += 7) {
		for (j = i; j <= sizeof(buf); j += 11) {
			a = proto_crc32c_portable(0, buf, i);
			b = proto_crc32c(a, buf + i, j - i);
			c = proto_crc32c_portable(b, buf + j, sizeof(buf) - j);
			assert_int_equal(c, whole);
		}
	}
	/* Nothing added changes nothing. */
	assert_int_equal(proto_crc32c(whole, buf, 0), whole);
	assert_int_equal(proto_crc32c_portable(whole, buf, 0), whole);
}

/* Both paths agree for every length 0..1024 at every alignment 0..15. */
static void
test_paths_agree(void **state)
{
	uint8_t data[1024 + 16];
	uint64_t seed = 0xfeedfacecafebeefull;
	uint32_t want, start;
	size_t len, al, i;
	uint8_t *buf;

	(void)state;
	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)rnd(&seed);
	for (len = 0; len <= 1024; len++) {
		start = (uint32_t)rnd(&seed);
		want = crc_ref(start, data, len);
		for (al = 0; al < 16; al++) {
			/* Ends exactly at the end of the allocation. */
			buf = malloc(al + len + 1);
			assert_non_null(buf);
			memcpy(buf + al, data, len);
			if (proto_crc32c(start, buf + al, len) != want ||
			    proto_crc32c_portable(start, buf + al, len) != want)
				fail_msg("length %zu alignment %zu", len, al);
			free(buf);
		}
	}
}

static void *
crc_thread(void *arg)
{
	uint32_t *out = arg;

	*out = proto_crc32c_portable(0, "123456789", 9);
	return NULL;
}

/* The table is built on first use: several first uses at once. */
static void
test_threads(void **state)
{
	pthread_t t[8];
	uint32_t out[8];
	int i;

	(void)state;
	for (i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, crc_thread,
		    &out[i]), 0);
	for (i = 0; i < 8; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(out[i], 0xe3069283);
	}
}

static void
test_msg_crc(void **state)
{
	uint8_t msg[40], tmp[40];
	struct proto_msg m;
	struct proto_error e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 1);
	proto_put16(msg + 14, 37);
	assert_int_equal(proto_msg_view(&m, msg, sizeof(msg), 0, &e), 0);
	/* The 4 data bytes of an item at crc_pos are taken as zero. */
	memcpy(tmp, msg, sizeof(tmp));
	memset(tmp + 24 + 4, 0, 4);
	assert_int_equal(proto_msg_crc(&m, 24), crc_ref(0, tmp, 37));
	memcpy(tmp, msg, sizeof(tmp));
	memset(tmp + 16 + 4, 0, 4);
	assert_int_equal(proto_msg_crc(&m, 16), crc_ref(0, tmp, 37));
	/* The last place a CRC's data fits: bytes 33..36. */
	memcpy(tmp, msg, sizeof(tmp));
	memset(tmp + 33, 0, 4);
	assert_int_equal(proto_msg_crc(&m, 29), crc_ref(0, tmp, 37));
	/* No room for the data: the whole message, nothing zeroed. */
	assert_int_equal(proto_msg_crc(&m, 30), crc_ref(0, msg, 37));
	assert_int_equal(proto_msg_crc(&m, 0xfffffff0u), crc_ref(0, msg, 37));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_chaining),
		cmocka_unit_test(test_paths_agree),
		cmocka_unit_test(test_msg_crc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
