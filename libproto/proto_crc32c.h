/*
 * proto_crc32c.h - CRC32C (Castagnoli), the checksum of the CRC feature.
 *
 * Uses the SSE4.2 crc32 instruction when the CPU has it and a
 * slicing-by-8 table otherwise; both give the same result.
 */
#ifndef PROTO_CRC32C_H
#define PROTO_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#include "proto_decode.h"

/*
 * Extend `crc` (0 to start) over n bytes; the result chains into the
 * next call. proto_crc32c(0, "123456789", 9) == 0xe3069283.
 */
uint32_t proto_crc32c(uint32_t crc, const void *p, size_t n);

/* The portable path, for tests that compare the two. */
uint32_t proto_crc32c_portable(uint32_t crc, const void *p, size_t n);

/*
 * CRC32C of a message's `length` bytes with the 4 data bytes of its CRC
 * item (at message offset `crc_pos`) taken as zero.
 */
uint32_t proto_msg_crc(const struct proto_msg *m, uint32_t crc_pos);

/*
 * Check a message sent with the CRC feature: its last item must be a CRC
 * item of 4 bytes whose value matches. 0, or -1 with PROTO_E_CRC.
 */
int proto_msg_crc_check(const struct proto_msg *m, struct proto_error *err);

#endif
