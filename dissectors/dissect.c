/*
 * dissect.c - framing, validation and the CRC check of one stream, with
 * the probing that tells msgkit traffic from anything else, and the
 * accounting of every byte passed over out of step.
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
	s->cause = DISSECT_AFTER_ERROR;
	return 0;
}

/* Bytes passed over and not yet reported. */
static uint64_t
unreported(const struct dissect_stream *s)
{
	return s->framer.skipped + s->dropped - s->reported;
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
	struct dissect_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = DISSECT_NOT_MSGKIT;
	ev.err = err;
	s->dead = 1;
	s->probing = 0;
	return fn(ctx, &ev);
}

static int
on_message(struct dissect_stream *s, const struct proto_msg *m,
    dissect_fn fn, void *ctx)
{
	struct dissect_event ev;
	struct proto_error err;
	int bad;

	memset(&ev, 0, sizeof(ev));
	ev.type = DISSECT_MESSAGE;
	ev.m = m;
	ev.frame_len = proto_align8(m->length);
	bad = proto_msg_validate(m, &err) < 0;
	if (!bad && s->crc && dissect_is_sequenced(m))
		bad = proto_msg_crc_check(m, &err) < 0;
	if (bad && s->probing)
		return give_up(s, &err, fn, ctx);
	s->probing = 0;
	s->messages++;
	s->at = m->offset + ev.frame_len;
	if (bad) {
		ev.type = DISSECT_MALFORMED;
		ev.err = &err;
	}
	return fn(ctx, &ev);
}

/*
 * In step again at `offset`: say so with the bytes passed over since
 * the last report. A gap that cut no message needs no word: the gap was
 * reported where it happened.
 */
static int
resynced(struct dissect_stream *s, uint64_t offset, dissect_fn fn,
    void *ctx)
{
	struct dissect_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = DISSECT_RESYNC;
	ev.cause = s->cause;
	ev.offset = offset;
	ev.skipped = unreported(s);
	s->reported += ev.skipped;
	s->cause = DISSECT_AFTER_ERROR;
	s->at = offset;
	if (ev.cause == DISSECT_AFTER_GAP && ev.skipped == 0)
		return 0;
	return fn(ctx, &ev);
}

static int
on_error(struct dissect_stream *s, const struct proto_error *err,
    dissect_fn fn, void *ctx)
{
	struct dissect_event ev;

	if (err->reason == PROTO_E_RESYNC)
		return resynced(s, err->offset, fn, ctx);
	if (s->probing)
		return give_up(s, err, fn, ctx);
	memset(&ev, 0, sizeof(ev));
	ev.type = DISSECT_STREAM_ERROR;
	ev.err = err;
	return fn(ctx, &ev);
}

/* p[0..n) starts with a whole message that validates: in step there. */
static int
whole_message(const struct dissect_stream *s, const uint8_t *p, size_t n,
    uint64_t offset)
{
	struct proto_msg m;
	uint32_t total, i;

	if (proto_msg_view(&m, p, n, offset, NULL) < 0)
		return 0;
	total = proto_align8(m.length);
	if (total > n)
		return 0;
	for (i = m.length; i < total; i++)
		if (p[i] != 0)
			return 0;
	if (proto_msg_validate(&m, NULL) < 0)
		return 0;
	return !s->crc || !dissect_is_sequenced(&m) ||
	    proto_msg_crc_check(&m, NULL) == 0;
}

/*
 * The first bytes after a gap or a join: when they start with a whole
 * valid message, frame from there at once rather than search (which
 * waits for a run of messages to be sure, holding everything back).
 */
static int
restart_at(struct dissect_stream *s, const uint8_t *p, size_t n,
    dissect_fn fn, void *ctx)
{
	uint64_t offset = s->fed;

	s->restart = 0;
	if (!whole_message(s, p, n, offset))
		return 0;
	proto_framer_restart(&s->framer, offset, PROTO_RESTART_MESSAGE);
	return resynced(s, offset, fn, ctx);
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
	if (s->dead) {
		s->fed += n;
		return 0;
	}
	if (s->restart && n > 0 && restart_at(s, p, n, fn, ctx))
		return 1;
	s->fed += n;
	proto_framer_feed(&s->framer, p, n);
	return drain(s, fn, ctx);
}

/* Bytes skipped and not yet reported: from where in step ended. */
static int
skipped_end(struct dissect_stream *s, dissect_fn fn, void *ctx)
{
	struct dissect_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = DISSECT_RESYNC;
	ev.cause = DISSECT_SKIPPED_END;
	ev.offset = s->at;
	ev.skipped = unreported(s);
	s->reported += ev.skipped;
	return ev.skipped > 0 ? fn(ctx, &ev) : 0;
}

int
dissect_eof(struct dissect_stream *s, dissect_fn fn, void *ctx)
{
	if (s->dead)
		return 0;
	proto_framer_eof(&s->framer);
	if (drain(s, fn, ctx))
		return 1;
	if (s->dead)
		return 0;
	/* Probed and never found a message: something else after all. */
	if (s->probing && s->fed > 0)
		return give_up(s, NULL, fn, ctx);
	return skipped_end(s, fn, ctx);
}

int
dissect_stop(struct dissect_stream *s, dissect_fn fn, void *ctx)
{
	if (s->dead || s->probing)
		return 0;
	return skipped_end(s, fn, ctx);
}

void
dissect_gap(struct dissect_stream *s, uint64_t missing)
{
	struct proto_framer *f = &s->framer;

	/* Bytes the framer holds belong to a message the hole cut. */
	s->dropped += f->bend - f->bstart;
	s->fed += missing;
	s->restart = 1;
	s->cause = DISSECT_AFTER_GAP;
	proto_framer_restart(f, s->fed, PROTO_RESTART_SEARCH);
}

void
dissect_midstream(struct dissect_stream *s)
{
	s->restart = 1;
	s->cause = DISSECT_JOINED;
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
