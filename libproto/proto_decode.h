/*
 * proto_decode.h - zero-copy views of messages and their items.
 *
 * A struct proto_msg points into the caller's bytes; nothing is copied.
 * An iterator walks one level of items and checks every framing rule of
 * msgproto(7) section 2 as it goes, so iterating an unvalidated message is
 * safe: it stops at the first violation with the reason and the stream
 * offset. proto_msg_validate() walks the whole tree and also checks each
 * known item against its kind (size, UTF-8, flags).
 */
#ifndef PROTO_DECODE_H
#define PROTO_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "proto_error.h"
#include "proto_wire.h"

/* What an item type's data holds (msgproto(7) section 8). */
enum proto_kind {
	PROTO_KIND_UNKNOWN = 0,	/* not in the schema: raw bytes */
	PROTO_KIND_EMPTY,	/* no data (MORE) */
	PROTO_KIND_U16,
	PROTO_KIND_U32,
	PROTO_KIND_U64,
	PROTO_KIND_I64,
	PROTO_KIND_STRING,	/* UTF-8, no NUL */
	PROTO_KIND_BYTES,	/* opaque; `size` fixes the length if set */
	PROTO_KIND_LINKIDS,	/* u64 link ids, LINK flag set */
	PROTO_KIND_NEST,	/* a container, NEST flag set */
	PROTO_KIND_COUNT
};

/* Per item type, what the validator needs. Generated from the schema. */
struct proto_itemspec {
	uint8_t kind;		/* enum proto_kind */
	uint8_t ref_ok;		/* the item may be sent as a REF */
	uint16_t size;		/* fixed data length for BYTES, LINKIDS; else 0 */
};

/* Indexed by item type; types >= proto_itemspec_count are unknown. */
extern const struct proto_itemspec proto_itemspecs[];
extern const unsigned proto_itemspec_count;

const struct proto_itemspec *proto_itemspec(uint16_t type);

/* Data length a kind requires, or -1 when any length will do. */
int proto_kind_size(enum proto_kind kind, const struct proto_itemspec *spec);

struct proto_msg {
	const uint8_t *bytes;	/* `length` bytes, header included */
	uint64_t offset;	/* stream offset of bytes[0] */
	uint64_t linkid;
	uint32_t msgid;
	uint16_t command;	/* as sent: reply bit included */
	uint16_t length;
};

struct proto_item {
	const uint8_t *data;	/* itemlen - 4 bytes after the item header */
	uint64_t offset;	/* stream offset of the item header */
	uint16_t id;		/* itemid as sent: flags included */
	uint16_t len;		/* itemlen as sent: header included */
	uint8_t depth;		/* 0 for a message's own items */
};

/* One level of items: a message's, or one container's children. */
struct proto_iter {
	const uint8_t *base;	/* the message's first byte */
	uint64_t offset;	/* stream offset of base */
	uint32_t pos;		/* next item, relative to base */
	uint32_t end;		/* where this level's items must end */
	uint8_t depth;
};

static inline int
proto_msg_is_reply(const struct proto_msg *m)
{
	return (m->command & PROTO_REPLY_BIT) != 0;
}

static inline uint16_t
proto_msg_command(const struct proto_msg *m)
{
	return m->command & PROTO_COMMAND_MASK;
}

static inline uint16_t
proto_item_type(const struct proto_item *it)
{
	return it->id & PROTO_TYPE_MASK;
}

static inline uint16_t
proto_item_datalen(const struct proto_item *it)
{
	return (uint16_t)(it->len - PROTO_ITEM_HDR_LEN);
}

static inline int
proto_item_is_nest(const struct proto_item *it)
{
	return (it->id & PROTO_FLAG_NEST) != 0;
}

/*
 * View the message at the start of buf (len bytes available), which sits
 * at stream offset `offset`. Checks the header only: short header,
 * length < 16, fewer than `length` bytes available.
 */
int proto_msg_view(struct proto_msg *m, const uint8_t *buf, size_t len,
    uint64_t offset, struct proto_error *err);

/* Every rule of section 2 and every known item's kind. 0 or -1. */
int proto_msg_validate(const struct proto_msg *m, struct proto_error *err);

void proto_iter_init(struct proto_iter *it, const struct proto_msg *m);

/* Iterate the children of `nest`, an item `parent` returned. */
int proto_iter_nest(struct proto_iter *child, const struct proto_iter *parent,
    const struct proto_item *nest, struct proto_error *err);

/* 1 and *item filled, 0 at the end of the level, -1 on a violation. */
int proto_iter_next(struct proto_iter *it, struct proto_item *item,
    struct proto_error *err);

/* First item of `type` (flags ignored) among the message's own items. */
int proto_msg_find(const struct proto_msg *m, uint16_t type,
    struct proto_item *item, struct proto_error *err);
/* Its STATUS item's value: 0 when it has none (a part) or it is bad. */
uint32_t proto_msg_status(const struct proto_msg *m);
/*
 * The name msgproto(7) and msgdump give a STATUS: "OK", "ENOSYS"...; a
 * value without a name is written in buf as a number and buf returned.
 */
const char *proto_status_name(uint32_t status, char *buf, size_t len);

/*
 * Typed accessors: each refuses a container, a REF (but proto_item_ref)
 * and a data length other than the kind's with PROTO_E_ITEM_SIZE or
 * PROTO_E_ITEM_KIND. 0 or -1.
 */
int proto_item_empty(const struct proto_item *it, struct proto_error *err);
int proto_item_u16(const struct proto_item *it, uint16_t *v,
    struct proto_error *err);
int proto_item_u32(const struct proto_item *it, uint32_t *v,
    struct proto_error *err);
int proto_item_u64(const struct proto_item *it, uint64_t *v,
    struct proto_error *err);
int proto_item_i64(const struct proto_item *it, int64_t *v,
    struct proto_error *err);
/* UTF-8 without NUL; *s is not NUL-terminated. */
int proto_item_string(const struct proto_item *it, const char **s,
    size_t *len, struct proto_error *err);
/* Any leaf's data; `want` >= 0 demands that exact length. */
int proto_item_bytes(const struct proto_item *it, const uint8_t **p,
    size_t *len, int want, struct proto_error *err);
int proto_item_ref(const struct proto_item *it, struct proto_ref *ref,
    struct proto_error *err);
/* A leaf LINK item: *count link ids, read each with proto_item_linkid. */
int proto_item_linkids(const struct proto_item *it, size_t *count,
    struct proto_error *err);

static inline uint64_t
proto_item_linkid(const struct proto_item *it, size_t i)
{
	return proto_get64(it->data + 8 * i);
}

/*
 * Check s[0..n) is UTF-8 (no overlongs, no surrogates, <= U+10FFFF)
 * without NUL. PROTO_OK, PROTO_E_UTF8 or PROTO_E_NUL; *bad is the offset
 * of the first offending byte.
 */
enum proto_reason proto_utf8_check(const uint8_t *s, size_t n, size_t *bad);

#endif
