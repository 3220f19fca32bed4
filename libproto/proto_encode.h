/*
 * proto_encode.h - build messages item by item.
 *
 * The builder appends messages to one buffer, back to back, each at a
 * multiple of 8, so the buffer is a valid stream. It writes every length
 * and pad byte itself and refuses a message over 65535 bytes or nesting
 * deeper than 8 levels. Errors are sticky: after one, every call fails
 * until proto_build_abort() drops the open message, so a sequence of
 * calls needs one check at proto_build_end().
 */
#ifndef PROTO_ENCODE_H
#define PROTO_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "proto_error.h"
#include "proto_wire.h"

struct proto_builder {
	uint8_t *buf;
	size_t len;		/* bytes in use: finished messages + open one */
	size_t cap;
	int fixed;		/* the caller's buffer: never reallocated */
	int open;		/* a message is being built */
	size_t msg_start;	/* the open message's first byte */
	size_t cur;		/* logical end of the last item written */
	int depth;		/* open containers */
	size_t nest_start[PROTO_NEST_MAX];
	uint8_t nest_link[PROTO_NEST_MAX + 1];	/* LINK or REF seen below */
	struct proto_error err;	/* sticky; reason PROTO_OK when none */
};

/* A builder whose buffer grows with realloc. */
void proto_builder_init(struct proto_builder *b);
/* A builder writing into buf[0..cap); full is PROTO_E_NOMEM. */
void proto_builder_init_fixed(struct proto_builder *b, void *buf, size_t cap);
void proto_builder_free(struct proto_builder *b);
/* Forget every message; keep the buffer. */
void proto_builder_reset(struct proto_builder *b);

static inline const uint8_t *
proto_builder_data(const struct proto_builder *b)
{
	return b->buf;
}

static inline size_t
proto_builder_len(const struct proto_builder *b)
{
	return b->len;
}

int proto_build_begin(struct proto_builder *b, uint64_t linkid,
    uint32_t msgid, uint16_t command);
/* Close the message: length and pad. Returns its stream size or -1. */
int proto_build_end(struct proto_builder *b);
/* Append a CRC item (CRC32C of the message, CRC data as 0), then end. */
int proto_build_end_crc(struct proto_builder *b);
/* Drop the open message and clear the error. */
void proto_build_abort(struct proto_builder *b);
/*
 * Drop everything after the first `len` bytes (a length the builder had
 * before), the open message with it, and clear the error: how a caller
 * takes back what it appended since that point.
 */
void proto_builder_truncate(struct proto_builder *b, size_t len);

/*
 * Append bytes to the stream as they are, outside any message: for
 * fault injection and for replaying damaged captures. Nothing is checked
 * and nothing is aligned; a later proto_build_begin() starts right after
 * them. Not allowed while a message is open.
 */
int proto_build_verbatim(struct proto_builder *b, const void *p, size_t n);

/*
 * Append a run of items already encoded, as a message holds them after
 * its header (pads between them included), at the next item position:
 * for echoing and relaying. The bytes are not checked; a LINK or REF
 * flag among the top items marks an open container as holding links.
 */
int proto_build_items(struct proto_builder *b, const void *items,
    size_t len);

/* A leaf with itemid exactly as given, flags included: no checks. */
int proto_build_raw(struct proto_builder *b, uint16_t itemid,
    const void *data, size_t len);

int proto_build_empty(struct proto_builder *b, uint16_t type);
int proto_build_u16(struct proto_builder *b, uint16_t type, uint16_t v);
int proto_build_u32(struct proto_builder *b, uint16_t type, uint32_t v);
int proto_build_u64(struct proto_builder *b, uint16_t type, uint64_t v);
int proto_build_i64(struct proto_builder *b, uint16_t type, int64_t v);
int proto_build_string(struct proto_builder *b, uint16_t type,
    const char *s, size_t len);
int proto_build_bytes(struct proto_builder *b, uint16_t type,
    const void *p, size_t len);
/* A leaf LINK item: the LINK flag is set here. */
int proto_build_linkids(struct proto_builder *b, uint16_t type,
    const uint64_t *ids, size_t count);
/* A REF item. LINK is set too when `link_flag` is nonzero. */
int proto_build_ref(struct proto_builder *b, uint16_t type,
    const struct proto_ref *ref, int link_flag);

/*
 * Open a container. `flags` may add PROTO_FLAG_LINK by hand; the builder
 * sets it anyway at proto_build_nest_end() when a LINK or REF item was
 * written inside, as msgproto(7) requires.
 */
int proto_build_nest_begin(struct proto_builder *b, uint16_t type,
    uint16_t flags);
int proto_build_nest_end(struct proto_builder *b);

#endif
