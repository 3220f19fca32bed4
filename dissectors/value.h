/*
 * value.h - how item values are written, for every printer.
 *
 * The one-line summary, the tree and the text notation show values the
 * same way (STATUS=ENOENT, MODE=0o100644, FEATURES=CRC|AUTH, NAME="etc");
 * only the notation must be exact, so the summary may shorten. The JSON
 * writer has its own rules (print_json.c) but the same classification.
 */
#ifndef VALUE_H
#define VALUE_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "libproto/proto_decode.h"
#include "schema.h"

/* Flags for the value writers. */
#define VALUE_NUMERIC	0x1u	/* -n: numbers, never names */
#define VALUE_HUMAN	0x2u	/* times as dates: not for the notation */

/* Longest string the summary shows before cutting it. */
#define VALUE_SUMMARY_STRING	40
/* Byte items longer than this show as NAME[len] in the summary. */
#define VALUE_SUMMARY_BYTES	8

/*
 * The schema entry an item may be shown by name with, or NULL: for an
 * unknown type, or for a known one whose flags, size or contents do not
 * match its kind (a valid message can still hold a REF with LINK, or a
 * NEST with LINK and no link id below). `parent` is the level the item
 * came from. Such items are shown raw, by itemid, so nothing is lost.
 */
const struct schema_item *value_schema(const struct proto_item *it,
    const struct proto_iter *parent);

/* Whether any item below `nest` carries LINK or REF. */
int value_nest_links(const struct proto_iter *parent,
    const struct proto_item *nest);

/* An integer of a named item, by its format: ENOENT, 0o644, CRC|AUTH. */
void value_uint(FILE *f, const struct schema_item *si, uint64_t v,
    unsigned flags);
void value_int(FILE *f, const struct schema_item *si, int64_t v,
    unsigned flags);
/* "text" with C escapes; cut after `max` bytes (0: never) with "...". */
void value_string(FILE *f, const uint8_t *s, size_t n, size_t max);
/* x'00ff..' */
void value_hex(FILE *f, const uint8_t *p, size_t n);
/* The value of a named leaf (after value_schema said it has a name). */
void value_leaf(FILE *f, const struct proto_item *it,
    const struct schema_item *si, unsigned flags);
/* The data of a raw leaf: ref(...) for a REF, else x'..'. */
void value_raw(FILE *f, const struct proto_item *it);

/* Decimal and hex without printf: the printers' hot path. */
void value_put_u64(FILE *f, uint64_t v);
void value_put_hex(FILE *f, uint64_t v);
/* Two hex digits a byte, nothing around them. */
void value_put_hexbytes(FILE *f, const uint8_t *p, size_t n);
/* 2026-11-21T12:00:00.123456789Z */
void value_put_time(FILE *f, int64_t ns);

#endif
