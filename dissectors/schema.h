/*
 * schema.h - every command and item type of msgproto(7), named once.
 *
 * The tables in schema.c are the single source: the printers, the JSON
 * writer, the text notation, the statistics and the generated files
 * (proto_numbers.h and libproto's item kinds, made by schemagen) all
 * read them. Adding a command or an item is one line here and nothing
 * anywhere else.
 */
#ifndef SCHEMA_H
#define SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "libproto/proto_decode.h"

enum schema_layer {
	LAYER_SESSION,		/* section 3 */
	LAYER_LINKS,		/* section 4 */
	LAYER_CACHE,		/* section 5 */
	LAYER_VFS,		/* section 6 */
	LAYER_COUNT
};

/* How a value is best shown; the kind says how it is stored. */
enum schema_format {
	FMT_DEC = 0,
	FMT_HEX,		/* CRC, FLAGS */
	FMT_OCTAL,		/* MODE */
	FMT_ERRNO,		/* STATUS: a name from the errno table */
	FMT_BITS,		/* FEATURES: names of set bits */
	FMT_ENUM,		/* KIND: a name from the value table */
	FMT_TIME,		/* nanoseconds since the epoch */
	FMT_LINKID		/* hex, as link ids are in headers */
};

/* A named value or bit (FMT_BITS: `value` is the bit number). */
struct schema_value {
	uint64_t value;
	const char *name;
};

/* A value table, ended by a NULL name. */
struct schema_values {
	const char *cprefix;	/* schemagen's C constants, or NULL */
	const struct schema_value *list;
};

struct schema_item {
	uint16_t type;
	const char *name;	/* as in msgproto(7): "STATUS" */
	uint8_t kind;		/* enum proto_kind */
	uint16_t size;		/* fixed data size for BYTES and LINKIDS */
	uint8_t ref_ok;		/* may be sent as a REF */
	uint8_t layer;		/* enum schema_layer */
	uint8_t format;		/* enum schema_format */
	const struct schema_values *values;	/* names of values, or NULL */
	const uint16_t *children;	/* NEST: types it holds, 0-ended */
	const char *desc;
};

struct schema_command {
	uint16_t number;
	const char *name;	/* "VFS_LOOKUP" */
	uint8_t layer;
	uint8_t answered;	/* the peer replies to it */
	const char *sent_on;	/* which link carries it */
	const uint16_t *request;	/* item types, 0-terminated */
	const uint16_t *reply;		/* item types, 0-terminated */
	const char *desc;
};

extern const struct schema_item schema_items[];
extern const size_t schema_item_count;
extern const struct schema_command schema_commands[];
extern const size_t schema_command_count;
extern const struct schema_values schema_errno_names;

const struct schema_item *schema_item(uint16_t type);
const struct schema_item *schema_item_by_name(const char *name, size_t len);
const struct schema_command *schema_command(uint16_t number);
const struct schema_command *schema_command_by_name(const char *name,
    size_t len);

/* The name of `value` in a value table, or NULL. */
const char *schema_value_name(const struct schema_values *values,
    uint64_t value);
/* Look a name up in a value table: 0 and *value, or -1. */
int schema_value_by_name(const struct schema_values *values,
    const char *name, size_t len, uint64_t *value);

const char *schema_kind_name(enum proto_kind kind);
const char *schema_layer_name(enum schema_layer layer);

#endif
