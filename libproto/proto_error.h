/*
 * proto_error.h - why a message or a stream was refused, and where.
 *
 * Every violation of msgproto(7) section 2 has one reason code. The
 * library never prints: it fills a struct proto_error with the reason,
 * the exact stream offset of the offending byte and the numbers that
 * explain it, and the caller decides what that means.
 */
#ifndef PROTO_ERROR_H
#define PROTO_ERROR_H

#include <stddef.h>
#include <stdint.h>

enum proto_reason {
	PROTO_OK = 0,

	/* Framing errors: the stream loses synchronisation. */
	PROTO_E_SHORT_HEADER,	/* stream ends inside a message header */
	PROTO_E_LENGTH,		/* length < 16 */
	PROTO_E_MSG_PAD,	/* nonzero pad after a message */
	PROTO_E_TRUNCATED,	/* message cut off by the end of the stream */

	/* Errors confined to one message: decoding goes on. */
	PROTO_E_ITEM_OVERRUN,	/* item overruns its message or container */
	PROTO_E_ITEMLEN,	/* itemlen < 4, or < 8 for NEST */
	PROTO_E_ITEM_PAD,	/* nonzero pad between or inside items */
	PROTO_E_ITEMS_END,	/* items do not end at length */
	PROTO_E_DEPTH,		/* nesting deeper than 8 levels */
	PROTO_E_REF_LEN,	/* REF item whose itemlen is not 28 */
	PROTO_E_REF_NEST,	/* REF and NEST set together */
	PROTO_E_LINK_LEN,	/* leaf LINK data not a multiple of 8 */
	PROTO_E_ITEM_SIZE,	/* fixed-size item of the wrong size */
	PROTO_E_UTF8,		/* string is not UTF-8 */
	PROTO_E_NUL,		/* string holds NUL */
	PROTO_E_ITEM_KIND,	/* a NEST, REF or LINK flag disagrees with
				   the item's type */
	PROTO_E_NEST_LINK,	/* NEST without LINK holds LINK or REF items */

	/* Session-layer checks on a well-formed message. */
	PROTO_E_CRC,		/* CRC item missing, misplaced or wrong */

	/* Not an error: the framer found messages again after one. */
	PROTO_E_RESYNC,

	/* The encoder refused a request. */
	PROTO_E_TOO_BIG,	/* message would exceed 65535 bytes */
	PROTO_E_TOO_DEEP,	/* nesting would exceed 8 levels */
	PROTO_E_MISUSE,		/* builder calls out of order */
	PROTO_E_NOMEM,		/* allocation failed */

	PROTO_REASON_COUNT
};

struct proto_error {
	enum proto_reason reason;
	uint64_t offset;	/* stream offset of the offending byte */
	uint16_t itemid;	/* the item concerned, as sent; 0 if none */
	uint64_t got;		/* reason-specific: the value found */
	uint64_t want;		/* reason-specific: the value required */
};

/* A short lower-case phrase, e.g. "nonzero pad after a message". */
const char *proto_reason_str(enum proto_reason reason);

/* The wire field the reason is about, e.g. "length", "itemlen". */
const char *proto_reason_field(enum proto_reason reason);

/* True for the four reasons after which a stream is out of step. */
int proto_reason_is_framing(enum proto_reason reason);

/*
 * "offset 120: itemid 0x0001: fixed-size item of the wrong size (got 2,
 * want 4)". Numbers only: names are the dissectors' business. Returns
 * what snprintf returns.
 */
int proto_error_format(const struct proto_error *err, char *buf, size_t len);

/*
 * Text a peer sent, made safe to log or print: printable ASCII and
 * valid UTF-8 are kept, a backslash is doubled, and everything else
 * (control characters, escape sequences, C1 controls, invalid UTF-8)
 * becomes \xNN, so no string can forge a line or drive a terminal.
 * Always NUL-terminated when outlen > 0; a text that does not fit ends
 * in "...". Returns the length written.
 */
size_t proto_escape(char *out, size_t outlen, const void *in, size_t inlen);

/* Fill *err; a NULL err is allowed and ignored. Returns -1. */
int proto_error_set(struct proto_error *err, enum proto_reason reason,
    uint64_t offset, uint16_t itemid, uint64_t got, uint64_t want);

#endif
