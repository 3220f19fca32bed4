/*
 * dissect.h - a byte stream in, messages and findings out.
 *
 * What every tool that reads traffic does with one direction of a
 * connection: frame it, validate each message, check the CRC item once
 * the session negotiated the CRC feature, and turn each outcome into an
 * event. A stream may start by probing: when its first bytes do not make
 * a valid message it is declared not msgkit traffic, once, and ignored
 * (a capture holds other protocols too).
 */
#ifndef DISSECT_H
#define DISSECT_H

#include <stddef.h>
#include <stdint.h>

#include "libproto/proto_framer.h"

enum dissect_type {
	DISSECT_MESSAGE,	/* m: a valid message */
	DISSECT_MALFORMED,	/* m and err: the message breaks a rule */
	DISSECT_STREAM_ERROR,	/* err: a framing error */
	DISSECT_RESYNC,		/* cause, offset, skipped: in step again */
	DISSECT_NOT_MSGKIT	/* err: why the stream was given up; NULL
				   when no message was found in it */
};

/* Why a stream was out of step, for DISSECT_RESYNC. */
enum dissect_cause {
	DISSECT_AFTER_ERROR,	/* a framing error; skipped > 0 */
	DISSECT_AFTER_GAP,	/* bytes missing (dissect_gap); skipped > 0:
				   the bytes of messages the gap cut */
	DISSECT_JOINED,		/* dissect_midstream: the first message, at
				   `offset`, after `skipped` bytes (maybe 0) */
	DISSECT_SKIPPED_END	/* the stream ended out of step: `skipped`
				   bytes from `offset` on were never framed */
};

struct dissect_event {
	enum dissect_type type;
	const struct proto_msg *m;
	const struct proto_error *err;
	uint32_t frame_len;	/* stream bytes of the message, pad included */
	enum dissect_cause cause;	/* DISSECT_RESYNC */
	uint64_t offset;	/* DISSECT_RESYNC: where messages start again
				   (SKIPPED_END: where skipping began) */
	uint64_t skipped;	/* DISSECT_RESYNC: bytes passed over */
};

/* Return nonzero to stop: the rest of the chunk is not looked at. */
typedef int (*dissect_fn)(void *ctx, const struct dissect_event *ev);

struct dissect_stream {
	struct proto_framer framer;
	int crc;		/* sequenced messages carry a CRC item */
	int probing;		/* no message yet: a failure is "not msgkit" */
	int dead;		/* not msgkit: bytes are ignored */
	int restart;		/* a gap or a join: look at the next bytes */
	enum dissect_cause cause;	/* of the search under way */
	uint64_t fed;		/* stream offset after the bytes fed */
	uint64_t at;		/* after the last message, or where in step
				   again: where skipping would begin */
	uint64_t messages;
	uint64_t dropped;	/* bytes a gap cut off before it */
	uint64_t skipped;	/* bytes passed over out of step, all told */
	uint64_t reported;	/* of those, reported in DISSECT_RESYNC */
};

/* resync: look for messages after a framing error. probe: see above. */
int dissect_init(struct dissect_stream *s, int resync, int probe);
void dissect_free(struct dissect_stream *s);

/* 1 when fn asked to stop, else 0. */
int dissect_feed(struct dissect_stream *s, const void *p, size_t n,
    dissect_fn fn, void *ctx);
int dissect_eof(struct dissect_stream *s, dissect_fn fn, void *ctx);
/*
 * The reading was stopped (interrupted): report the bytes skipped so
 * far, but do not judge what the stop cut short, as dissect_eof would.
 */
int dissect_stop(struct dissect_stream *s, dissect_fn fn, void *ctx);

/*
 * `missing` bytes will never come. Messages go on at once where the next
 * bytes fed start with a whole valid message (a lost segment held whole
 * messages); else they are searched for, as after a framing error. The
 * bytes of a message the gap cut count as skipped.
 */
void dissect_gap(struct dissect_stream *s, uint64_t missing);
/*
 * The stream was joined mid-way: its alignment is unknown. The first
 * bytes fed are taken as a message when they make a whole valid one;
 * else every offset is searched. Either way DISSECT_RESYNC (cause
 * DISSECT_JOINED) says where messages start.
 */
void dissect_midstream(struct dissect_stream *s);

/*
 * Every byte skipped is reported once, in a DISSECT_RESYNC event: when
 * messages are found again, or at dissect_eof() (DISSECT_SKIPPED_END)
 * for bytes never framed. A stream declared not msgkit reports none.
 */

/*
 * The session layer as far as a dissector follows it: a HELLO reply with
 * STATUS 0 sets the features of both directions (the CRC feature). Call
 * for every valid message of a two-way connection.
 */
void dissect_session(struct dissect_stream *both[2],
    const struct proto_msg *m);

/* A message sent with the CRC feature must carry a CRC item. */
int dissect_is_sequenced(const struct proto_msg *m);

#endif
