/*
 * proto_framer.h - cut a byte stream into messages.
 *
 * Feed it chunks of any size, down to one byte; it yields each whole
 * message with its stream offset. A message that lies wholly inside the
 * chunk is yielded in place, without a copy; only a message split across
 * chunks is gathered into the framer's buffer: 128 KiB, room for the two
 * 64 KiB windows a search after a framing error looks through.
 *
 *	proto_framer_feed(f, chunk, n);
 *	while ((r = proto_framer_next(f, &msg, &err)) != 0)
 *		r > 0 ? use(&msg) : report(&err);
 *	... at end of stream:
 *	proto_framer_eof(f);
 *	while ((r = proto_framer_next(f, &msg, &err)) != 0) ...
 *
 * The framer checks what framing needs (header, length >= 16, the pad
 * after the message); the caller validates items with
 * proto_msg_validate(). After a framing error the stream is out of step:
 * a plain framer stops and swallows the rest; one made with
 * PROTO_FRAMER_RESYNC searches the following 8-aligned offsets for a
 * place where several consecutive headers hold together, reports
 * PROTO_E_RESYNC there (offset, and bytes skipped in `got`) and goes on.
 */
#ifndef PROTO_FRAMER_H
#define PROTO_FRAMER_H

#include <stddef.h>
#include <stdint.h>

#include "proto_decode.h"
#include "proto_error.h"

#define PROTO_FRAMER_RESYNC	0x1u

/* Consecutive headers that must hold together to resynchronise. */
#define PROTO_RESYNC_CHAIN	4

enum proto_framer_state {
	PROTO_FRAMER_RUN,	/* in step */
	PROTO_FRAMER_SEARCH,	/* out of step, looking for messages */
	PROTO_FRAMER_STOP,	/* out of step for good */
	PROTO_FRAMER_DONE	/* end of stream reported */
};

struct proto_framer {
	unsigned flags;
	enum proto_framer_state state;
	int eof;
	uint64_t offset;	/* stream offset of buf[bstart], or of in[0]
				   when nothing is held */
	const uint8_t *in;	/* the caller's chunk, not owned */
	size_t inlen;
	uint8_t *buf;		/* 2 * PROTO_FRAME_MAX bytes */
	size_t bstart;		/* held bytes are buf[bstart..bend) */
	size_t bend;
	uint64_t lost_at;	/* SEARCH: where synchronisation was lost */
	int any_offset;		/* SEARCH: candidates at every byte */
	uint8_t phase;		/* SEARCH: else at offsets = phase mod 8:
				   that of the messages before the loss */
	uint64_t messages;	/* yielded so far */
	uint64_t skipped;	/* bytes passed over out of step */
	uint64_t copied;	/* bytes copied or moved in buf: the work a
				   hostile stream could make grow */
};

/*
 * 0 (-1 is reserved for errors; none can happen now). The framer's
 * 128 KiB buffer is allocated when first needed.
 */
int proto_framer_init(struct proto_framer *f, unsigned flags);
/* Heap bytes the framer holds: its buffer's, 0 until it needs one. */
size_t proto_framer_held(const struct proto_framer *f);
void proto_framer_free(struct proto_framer *f);

/*
 * Hand the framer the next chunk. The previous chunk must be used up
 * (proto_framer_next returned 0); `p` must stay valid until it is.
 */
void proto_framer_feed(struct proto_framer *f, const void *p, size_t n);

/* No more bytes will come: report what is left as an error. */
void proto_framer_eof(struct proto_framer *f);

/*
 * 1: *m is the next message, valid until the next call.
 * 0: the chunk is used up (or, after eof, the stream is finished).
 * -1: *err says what went wrong; call again to go on. PROTO_E_NOMEM
 *     (the buffer could not be allocated) leaves the framer as it was:
 *     a later call retries.
 */
int proto_framer_next(struct proto_framer *f, struct proto_msg *m,
    struct proto_error *err);

/* How proto_framer_restart() picks up the stream. */
enum proto_restart {
	PROTO_RESTART_MESSAGE,	/* a message starts at the offset */
	PROTO_RESTART_SEARCH,	/* search 8-aligned offsets from there */
	PROTO_RESTART_SEARCH_ANY /* search every offset: the alignment of
				   the stream is unknown (a capture that
				   began mid-connection) */
};

/*
 * Start over at stream offset `offset`, dropping what is held: for a
 * stream with a hole in it, such as bytes a capture lost. The search
 * modes behave as after a framing error, also without
 * PROTO_FRAMER_RESYNC; their PROTO_E_RESYNC report says where messages
 * were found. The eof mark is kept.
 */
void proto_framer_restart(struct proto_framer *f, uint64_t offset,
    enum proto_restart how);

/* Stream offset where the next message would start. */
uint64_t proto_framer_offset(const struct proto_framer *f);

#endif
