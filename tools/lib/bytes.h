/*
 * bytes.h - fields of the headers the capture layer reads and writes:
 * network byte order (IP, TCP, Ethernet) and a pcap file's own order,
 * the writer's host order or, to test readers, the other one.
 * Little-endian fields use libproto's proto_get16() and friends.
 */
#ifndef BYTES_H
#define BYTES_H

#include <stdint.h>
#include <string.h>

static inline uint16_t
net_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
net_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static inline void
net_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
net_put32(uint8_t *p, uint32_t v)
{
	net_put16(p, (uint16_t)(v >> 16));
	net_put16(p + 2, (uint16_t)v);
}

/* A pcap header field: host order, or the opposite when `swapped`. */
static inline void
host_put16(uint8_t *p, uint16_t v, int swapped)
{
	if (swapped)
		v = __builtin_bswap16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void
host_put32(uint8_t *p, uint32_t v, int swapped)
{
	if (swapped)
		v = __builtin_bswap32(v);
	memcpy(p, &v, sizeof(v));
}

#endif
