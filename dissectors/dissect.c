/*
 * dissect.c - framing, validation and the CRC check of one stream, with
 * the probing that tells msgkit traffic from anything else.
 */
#include <string.h>

#include "dissect.h"
#include "libproto/proto_crc32c.h"
#include "proto_numbers.h"

int
dissect_init(struct dissect_stream *s, int resync, int probe)
{
	memset(s, 0, sizeof(*s));
	if (proto_framer_init(&s->framer, resync ? PROTO_FRAMER_RESYNC : 0) <
	    0)
		return -1;
	s->probing = probe;
	return 0;
}

void
dissect_free(struct dissect_stream *s)
{
	proto_framer_free(&s->framer);
}

int
dissect_is_sequenced(const struct proto_msg *m)
{
	return proto_msg_command(m) > PROTO_CONTROL_LAST;
}

/* Give up on the stream: it is something else than msgkit. */
static int
give_up(struct dissect_stream *s, const struct proto_error *err,
    dissect_fn fn, void *ctx)
{
	struct dissect_event ev = { DISSECT_NOT_MSGKIT, NULL, err, 0 };

	s->dead = 1;
	s->probing = 0;
	return fn(ctx, &ev);
}

static int
on_message(struct dissect_stream *s, const struct proto_msg *m,
    dissect_fn fn, void *ctx)
{
	struct dissect_event ev = { DISSECT_MESSAGE, m, NULL, 0 };
	struct proto_error err;
	int bad;

	ev.frame_len = proto_align8(m->length);
	bad = proto_msg_validate(m, &err) < 0;
	if (!bad && s->crc && dissect_is_sequenced(m))
		bad = proto_msg_crc_check(m, &err) < 0;
	if (bad && s->probing)
		return give_up(s, &err, fn, ctx);
	s->probing = 0;
	s->messages++;
	if (bad) {
		ev.type = DISSECT_MALFORMED;
		ev.err = &err;
	}
	return fn(ctx, &ev);
}

static int
on_error(struct dissect_stream *s, const struct proto_error *err,
    dissect_fn fn, void *ctx)
{
	struct dissect_event ev = { DISSECT_STREAM_ERROR, NULL, err, 0 };

	if (err->reason == PROTO_E_RESYNC) {
		ev.type = DISSECT_RESYNC;
		return fn(ctx, &ev);
	}
	if (s->probing)
		return give_up(s, err, fn, ctx);
	return fn(ctx, &ev);
}

/* Everything the framer has for us now. */
static int
drain(struct dissect_stream *s, dissect_fn fn, void *ctx)
{
	struct proto_error err;
	struct proto_msg m;
	int r;

	while (!s->dead && (r = proto_framer_next(&s->framer, &m, &err)) != 0) {
		if (r > 0 ? on_message(s, &m, fn, ctx) :
		    on_error(s, &err, fn, ctx))
			return 1;
	}
	return 0;
}

int
dissect_feed(struct dissect_stream *s, const void *p, size_t n, dissect_fn fn,
    void *ctx)
{
	s->fed += n;
	if (s->dead)
		return 0;
	proto_framer_feed(&s->framer, p, n);
	return drain(s, fn, ctx);
}

int
dissect_eof(struct dissect_stream *s, dissect_fn fn, void *ctx)
{
	if (s->dead)
		return 0;
	proto_framer_eof(&s->framer);
	return drain(s, fn, ctx);
}

void
dissect_gap(struct dissect_stream *s, uint64_t missing)
{
	/* Bytes the framer holds belong to a message the hole cut. */
	s->fed += missing;
	proto_framer_restart(&s->framer, s->fed, PROTO_RESTART_SEARCH);
}

void
dissect_midstream(struct dissect_stream *s)
{
	proto_framer_restart(&s->framer, 0, PROTO_RESTART_SEARCH_ANY);
}

void
dissect_session(struct dissect_stream *both[2], const struct proto_msg *m)
{
	struct proto_item it;
	uint64_t features = 0;
	uint32_t status = 1;

	if (proto_msg_command(m) != PROTO_CMD_HELLO || !proto_msg_is_reply(m))
		return;
	if (proto_msg_find(m, PROTO_ITEM_STATUS, &it, NULL) > 0)
		(void)proto_item_u32(&it, &status, NULL);
	if (status != 0)
		return;
	if (proto_msg_find(m, PROTO_ITEM_FEATURES, &it, NULL) > 0)
		(void)proto_item_u64(&it, &features, NULL);
	both[0]->crc = both[1]->crc = (features & PROTO_FEATURE_CRC) != 0;
}
