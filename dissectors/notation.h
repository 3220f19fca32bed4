/*
 * notation.h - messages as text, one per line, that read back into the
 * same bytes.
 *
 *	> HELLO link=0x0 msg=1 VERSION=1 NODE="alpha" LIMITS{MAX_INFLIGHT=64}
 *	< HELLO reply link=0x0 msg=1 STATUS=OK FEATURES=CRC|AUTH
 *	VFS_LOOKUP link=0x5 msg=7 NAME="etc" NEWLINK=0x9
 *	0x7001 link=0x2 msg=3 0x0123=x'00ff' DATA=ref(0x8000000000000001,0,4096)
 *	raw x'0000000000000000...'	# any bytes at all, verbatim
 *
 * A line is an optional direction ('>' from the side that connected,
 * '<' from the side that accepted), a command (name or number), "reply",
 * link= and msg=, then items: NAME=value, NAME{items} for a container,
 * a bare NAME for an empty item, or an itemid number (flags included) for
 * any item the schema does not describe exactly, with x'hex', "string"
 * or ref(link,offset,length) data. '#' starts a comment. A message goes
 * on over line ends while a brace is open. msgproto(7) has the grammar.
 *
 * The printer writes every well-formed message so that the parser
 * rebuilds it byte for byte; it falls back to itemid numbers and raw
 * data wherever a name would lose a bit.
 */
#ifndef NOTATION_H
#define NOTATION_H

#include <stddef.h>
#include <stdio.h>

#include "libproto/proto_decode.h"
#include "libproto/proto_encode.h"

#define NOTATION_DIR_NONE	(-1)
#define NOTATION_DIR_OUT	0	/* '>': from the initiator */
#define NOTATION_DIR_IN		1	/* '<': from the acceptor */

/*
 * Print a message that proto_msg_validate() accepted, and a newline.
 * flags: VALUE_NUMERIC prints values (not item names) as numbers.
 */
void notation_print(FILE *f, const struct proto_msg *m, int dir,
    unsigned flags);

/* Print any bytes as a raw message line ("raw x'...'"), no newline. */
void notation_print_raw(FILE *f, const uint8_t *p, size_t n, int dir);

struct notation_parser {
	const char *text;
	size_t len;
	size_t pos;
	unsigned line;		/* 1-based line of text[pos] */
	size_t line_start;	/* offset of that line's first byte */
	uint8_t *scratch;	/* decoded strings and hex: PROTO_MSG_MAX */
	size_t scratch_len;
	char err[256];		/* "line 3, column 17: reason" */
};

/* What notation_next() read besides the bytes. */
struct notation_msg {
	int dir;		/* NOTATION_DIR_* */
	int has_link;		/* link= was given (else 0) */
	int has_msgid;		/* msg= was given (else 0): caller may pick */
	int raw;		/* a raw line: bytes verbatim, no checks */
	size_t start;		/* the message's bytes in the builder */
	size_t size;		/* aligned size (raw: as given) */
	unsigned line;
};

/* 0, or -1 when out of memory. The text must outlive the parser. */
int notation_init(struct notation_parser *p, const char *text, size_t len);
void notation_free(struct notation_parser *p);

/*
 * Append the next message to `b`. 1: done, *msg filled. 0: no more
 * messages. -1: p->err says where and why; the rest of that line is
 * skipped and the builder is as it was, so the caller may go on.
 */
int notation_next(struct notation_parser *p, struct proto_builder *b,
    struct notation_msg *msg);

#endif
