/*
 * crc32c.c - CRC32C, reflected polynomial 0x82f63b78.
 *
 * x86-64 machines since Nehalem compute it in hardware (SSE4.2 crc32,
 * 8 bytes a cycle or so); elsewhere a slicing-by-8 table does 8 bytes a
 * step. The tables are built once, on first use, under pthread_once.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "proto_crc32c.h"
#include "proto_numbers.h"
#include "proto_wire.h"

#define CRC32C_POLY 0x82f63b78u

static uint32_t crc_table[8][256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void
crc_table_build(void)
{
	uint32_t c;
	int i, j, k;

	for (i = 0; i < 256; i++) {
		c = (uint32_t)i;
		for (j = 0; j < 8; j++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1)));
		crc_table[0][i] = c;
	}
	for (i = 0; i < 256; i++) {
		c = crc_table[0][i];
		for (k = 1; k < 8; k++) {
			c = crc_table[0][c & 0xff] ^ (c >> 8);
			crc_table[k][i] = c;
		}
	}
}

uint32_t
proto_crc32c_portable(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *s = p;
	uint64_t w;

	pthread_once(&crc_table_once, crc_table_build);
	crc = ~crc;
	while (n >= 8) {
		w = proto_get64(s) ^ crc;
		crc = crc_table[7][w & 0xff] ^
		    crc_table[6][(w >> 8) & 0xff] ^
		    crc_table[5][(w >> 16) & 0xff] ^
		    crc_table[4][(w >> 24) & 0xff] ^
		    crc_table[3][(w >> 32) & 0xff] ^
		    crc_table[2][(w >> 40) & 0xff] ^
		    crc_table[1][(w >> 48) & 0xff] ^
		    crc_table[0][w >> 56];
		s += 8;
		n -= 8;
	}
	while (n-- > 0)
		crc = crc_table[0][(crc ^ *s++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2")))
static uint32_t
crc32c_sse42(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *s = p;
	uint64_t c = ~crc, w;

	while (n >= 8) {
		memcpy(&w, s, sizeof(w));
		c = _mm_crc32_u64(c, w);
		s += 8;
		n -= 8;
	}
	while (n-- > 0)
		c = _mm_crc32_u8((uint32_t)c, *s++);
	return ~(uint32_t)c;
}

uint32_t
proto_crc32c(uint32_t crc, const void *p, size_t n)
{
	if (__builtin_cpu_supports("sse4.2"))
		return crc32c_sse42(crc, p, n);
	return proto_crc32c_portable(crc, p, n);
}
#else
uint32_t
proto_crc32c(uint32_t crc, const void *p, size_t n)
{
	return proto_crc32c_portable(crc, p, n);
}
#endif

uint32_t
proto_msg_crc(const struct proto_msg *m, uint32_t crc_pos)
{
	static const uint8_t zero[4];
	uint32_t data = crc_pos + PROTO_ITEM_HDR_LEN;
	uint32_t crc;

	if (data + 4u > m->length)
		return proto_crc32c(0, m->bytes, m->length);
	crc = proto_crc32c(0, m->bytes, data);
	crc = proto_crc32c(crc, zero, sizeof(zero));
	return proto_crc32c(crc, m->bytes + data + 4, m->length - data - 4u);
}

int
proto_msg_crc_check(const struct proto_msg *m, struct proto_error *err)
{
	struct proto_iter it;
	struct proto_item item, last;
	uint32_t pos, want;
	int r, n = 0;

	proto_iter_init(&it, m);
	while ((r = proto_iter_next(&it, &item, err)) > 0) {
		last = item;
		n++;
	}
	if (r < 0)
		return -1;
	if (n == 0 || last.id != PROTO_ITEM_CRC || last.len != 8)
		return proto_error_set(err, PROTO_E_CRC, m->offset, 0, 0, 0);
	pos = (uint32_t)(last.offset - m->offset);
	want = proto_msg_crc(m, pos);
	if (proto_get32(last.data) != want)
		return proto_error_set(err, PROTO_E_CRC, last.offset +
		    PROTO_ITEM_HDR_LEN, last.id, proto_get32(last.data), want);
	return 0;
}
