/*
 * proto_wire.h - the fixed numbers of the wire format (msgproto(7)
 * section 2) and the little-endian accessors every read and write goes
 * through.
 *
 * Fields inside messages are unaligned and little-endian, so values are
 * put together from bytes, never read through a cast pointer. This is
 * plain C11 (no endian.h) and costs nothing: GCC and clang turn each
 * accessor into a single load or store on little-endian machines that
 * allow unaligned access.
 */
#ifndef PROTO_WIRE_H
#define PROTO_WIRE_H

#include <stdint.h>
#include <string.h>

#define PROTO_HDR_LEN		16	/* linkid, msgid, command, length */
#define PROTO_MSG_MIN		16
#define PROTO_MSG_MAX		65535	/* length is a u16 */
#define PROTO_FRAME_MAX		65536	/* PROTO_MSG_MAX rounded up to 8 */
#define PROTO_ITEM_HDR_LEN	4	/* itemid, itemlen */
#define PROTO_NEST_HDR_LEN	8	/* itemid, itemlen, 4 zero bytes */
#define PROTO_NEST_MAX		8	/* containers inside containers */
#define PROTO_REF_DATA_LEN	24	/* linkid, offset, length */

/*
 * Flag names avoid the PROTO_CMD_ and PROTO_ITEM_ prefixes: those belong
 * to the command and item numbers generated from the schema.
 */
#define PROTO_REPLY_BIT		0x8000u	/* command bit 15 */
#define PROTO_COMMAND_MASK	0x7fffu
#define PROTO_CONTROL_LAST	0x000fu	/* 0x0000-0x000f: never sequenced */

#define PROTO_FLAG_NEST		0x8000u	/* itemid bit 15 */
#define PROTO_FLAG_REF		0x4000u	/* itemid bit 14 */
#define PROTO_FLAG_LINK		0x2000u	/* itemid bit 13 */
#define PROTO_FLAG_MASK		0xe000u
#define PROTO_TYPE_MASK		0x1fffu
#define PROTO_TYPE_COUNT	0x2000u

/* The data of a REF item: bytes held by a cache object elsewhere. */
struct proto_ref {
	uint64_t linkid;	/* the cache object */
	uint64_t offset;
	uint64_t length;
};

/* Stream bytes one message of logical length `len` occupies. */
static inline uint32_t
proto_align8(uint32_t len)
{
	return (len + 7u) & ~7u;
}

static inline uint16_t
proto_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t
proto_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static inline uint64_t
proto_get64(const uint8_t *p)
{
	return (uint64_t)proto_get32(p) | (uint64_t)proto_get32(p + 4) << 32;
}

/*
 * Are the last n (0 to 7) of the 8 bytes at p zero? A pad runs from the
 * end of an item or a message to the next multiple of 8, so it is the
 * tail of the 8-byte word that ends there: one load and a shift check it,
 * where a byte loop would cost a branch the predictor cannot guess (the
 * pad's length changes from item to item). Shifting by 8 first keeps the
 * count below 64 when n is 0. Callers find the offending byte with a
 * loop, on the error path only.
 */
static inline int
proto_pad_is_zero(const uint8_t *p, uint32_t n)
{
	return (proto_get64(p) >> 8 >> (56 - 8 * n)) == 0;
}

static inline void
proto_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void
proto_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void
proto_put64(uint8_t *p, uint64_t v)
{
	proto_put32(p, (uint32_t)v);
	proto_put32(p + 4, (uint32_t)(v >> 32));
}

#endif
