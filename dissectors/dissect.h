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
	DISSECT_RESYNC,		/* err: messages found again */
	DISSECT_NOT_MSGKIT	/* err: why the stream was given up */
};

struct dissect_event {
	enum dissect_type type;
	const struct proto_msg *m;
	const struct proto_error *err;
	uint32_t frame_len;	/* stream bytes of the message, pad included */
};

/* Return nonzero to stop: the rest of the chunk is not looked at. */
typedef int (*dissect_fn)(void *ctx, const struct dissect_event *ev);

struct dissect_stream {
	struct proto_framer framer;
	int crc;		/* sequenced messages carry a CRC item */
	int probing;		/* no message yet: a failure is "not msgkit" */
	int dead;		/* not msgkit: bytes are ignored */
	uint64_t fed;		/* stream offset after the bytes fed */
	uint64_t messages;
};

/* resync: look for messages after a framing error. probe: see above. */
int dissect_init(struct dissect_stream *s, int resync, int probe);
void dissect_free(struct dissect_stream *s);

/* 1 when fn asked to stop, else 0. */
int dissect_feed(struct dissect_stream *s, const void *p, size_t n,
    dissect_fn fn, void *ctx);
int dissect_eof(struct dissect_stream *s, dissect_fn fn, void *ctx);

/* `missing` bytes will never come: search for messages after them. */
void dissect_gap(struct dissect_stream *s, uint64_t missing);
/* The stream was joined mid-way: its alignment is unknown. */
void dissect_midstream(struct dissect_stream *s);

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
