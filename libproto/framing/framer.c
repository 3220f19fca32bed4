/*
 * framer.c - bytes in, messages out.
 *
 * In step, a message wholly inside the caller's chunk is handed out in
 * place; the framer's own buffer is used only to gather a message that
 * straddles chunks. Out of step (after a framing error, when asked to
 * resynchronise), the buffer is a search window: every 8-aligned offset
 * is a candidate, accepted when PROTO_RESYNC_CHAIN consecutive headers
 * hold together. Each candidate costs a bounded amount of work, and the
 * held bytes move only once per search window passed over, so a hostile
 * stream is scanned in linear time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto_framer.h"

/* Items of each chained message looked at before accepting it. */
#define CHAIN_ITEMS	4

/*
 * The buffer: one message in step; out of step, two search windows, so
 * that every candidate in the first half sees the whole window after it.
 * With room for one window only, the held bytes had to move for every
 * candidate whose run reached past the buffer: on a stream where every
 * candidate needs the whole window, 64 KiB moved per 8 bytes passed over.
 */
#define FRAMER_BUF	(2 * PROTO_FRAME_MAX)

enum chain { CHAIN_REJECT, CHAIN_ACCEPT, CHAIN_MORE };

/*
 * The buffer is allocated when first needed: a stream whose chunks end
 * at message boundaries never needs it, and an idle session should not
 * hold 128 KiB.
 */
int
proto_framer_init(struct proto_framer *f, unsigned flags)
{
	memset(f, 0, sizeof(*f));
	f->flags = flags;
	f->state = PROTO_FRAMER_RUN;
	return 0;
}

static int
need_buf(struct proto_framer *f, struct proto_error *err)
{
	if (f->buf != NULL)
		return 0;
	f->buf = malloc(FRAMER_BUF);
	if (f->buf == NULL)
		return proto_error_set(err, PROTO_E_NOMEM, f->offset, 0,
		    FRAMER_BUF, 0);
	return 0;
}

size_t
proto_framer_held(const struct proto_framer *f)
{
	return f->buf != NULL ? FRAMER_BUF : 0;
}

void
proto_framer_free(struct proto_framer *f)
{
	free(f->buf);
	f->buf = NULL;
}

void
proto_framer_feed(struct proto_framer *f, const void *p, size_t n)
{
	f->in = p;
	f->inlen = n;
}

void
proto_framer_eof(struct proto_framer *f)
{
	f->eof = 1;
}

uint64_t
proto_framer_offset(const struct proto_framer *f)
{
	return f->offset;
}

static size_t
held(const struct proto_framer *f)
{
	return f->bend - f->bstart;
}

/* No byte beyond what the framer holds will ever come. */
static int
final(const struct proto_framer *f)
{
	return f->eof && f->inlen == 0;
}

/* Move the held bytes to the front of the buffer. */
static void
compact(struct proto_framer *f)
{
	if (f->bstart == 0)
		return;
	memmove(f->buf, f->buf + f->bstart, held(f));
	f->copied += held(f);
	f->bend -= f->bstart;
	f->bstart = 0;
}

/* Take input until `want` bytes are held or the chunk is used up. */
static void
top_up(struct proto_framer *f, size_t want)
{
	size_t n;

	if (held(f) >= want)
		return;
	if (f->bstart + want > PROTO_FRAME_MAX)
		compact(f);
	n = want - held(f);
	if (n > f->inlen)
		n = f->inlen;
	/* No chunk may mean a NULL one: no arithmetic on it. */
	if (n == 0)
		return;
	memcpy(f->buf + f->bend, f->in, n);
	f->copied += n;
	f->bend += n;
	f->in += n;
	f->inlen -= n;
}

/* Pass over n bytes at the front: held ones first, then input. */
static void
drop(struct proto_framer *f, size_t n)
{
	size_t k = held(f) < n ? held(f) : n;

	f->bstart += k;
	if (f->bstart == f->bend)
		f->bstart = f->bend = 0;
	n -= k;
	f->offset += k;
	f->skipped += k;
	if (n > f->inlen)
		n = f->inlen;
	if (n == 0)
		return;
	f->in += n;
	f->inlen -= n;
	f->offset += n;
	f->skipped += n;
}

/*
 * A framing error at f->offset: err is filled. Stop for good, or start
 * searching at the next 8-aligned offset.
 */
static int
lost(struct proto_framer *f)
{
	if (!(f->flags & PROTO_FRAMER_RESYNC)) {
		f->state = PROTO_FRAMER_STOP;
		return -1;
	}
	f->state = PROTO_FRAMER_SEARCH;
	f->lost_at = f->offset;
	/* The message that failed was in step: keep to its alignment. */
	f->phase = f->offset & 7;
	drop(f, 8);
	return -1;
}

/*
 * Header and pad of the message at p[0..n), n >= its aligned size. Every
 * caller has already refused a length below 16 (frame_size() returned
 * nonzero), so the view is filled here without proto_msg_view()'s
 * checks: they cannot fail, and this is the path every message takes
 * (hence inline).
 */
static inline int
check_frame(const uint8_t *p, uint64_t off, struct proto_msg *m,
    struct proto_error *err)
{
	uint32_t total, i;

	m->bytes = p;
	m->offset = off;
	m->linkid = proto_get64(p);
	m->msgid = proto_get32(p + 8);
	m->command = proto_get16(p + 12);
	m->length = proto_get16(p + 14);
	total = proto_align8(m->length);
	/* total >= 16: the pad is the tail of the word before total. */
	if (proto_pad_is_zero(p + total - 8, total - m->length))
		return 0;
	for (i = m->length; i < total; i++)
		if (p[i] != 0)
			return proto_error_set(err, PROTO_E_MSG_PAD, off + i, 0,
			    p[i], 0);
	return 0;
}

/* Length field of the header at p, or 0 when it is below the minimum. */
static uint32_t
frame_size(const uint8_t *p)
{
	uint16_t length = proto_get16(p + 14);

	if (length < PROTO_MSG_MIN)
		return 0;
	return proto_align8(length);
}

static void
set_header_error(const uint8_t *p, uint64_t off, struct proto_error *err)
{
	proto_error_set(err, PROTO_E_LENGTH, off + 14, 0, proto_get16(p + 14),
	    PROTO_MSG_MIN);
}

/* In step, gathering in the buffer. */
static int
next_held(struct proto_framer *f, struct proto_msg *m, struct proto_error *err)
{
	uint32_t total;

	if (need_buf(f, err) < 0)
		return -1;
	top_up(f, PROTO_HDR_LEN);
	if (held(f) < PROTO_HDR_LEN) {
		if (!final(f))
			return 0;
		/* Fewer than 16 bytes left: no message to search for. */
		f->state = PROTO_FRAMER_STOP;
		return proto_error_set(err, PROTO_E_SHORT_HEADER, f->offset, 0,
		    held(f), PROTO_HDR_LEN);
	}
	total = frame_size(f->buf + f->bstart);
	if (total == 0) {
		set_header_error(f->buf + f->bstart, f->offset, err);
		return lost(f);
	}
	top_up(f, total);
	if (held(f) < total) {
		if (!final(f))
			return 0;
		proto_error_set(err, PROTO_E_TRUNCATED, f->offset, 0, held(f),
		    total);
		return lost(f);
	}
	if (check_frame(f->buf + f->bstart, f->offset, m, err) < 0)
		return lost(f);
	f->bstart += total;
	if (f->bstart == f->bend)
		f->bstart = f->bend = 0;
	f->offset += total;
	f->messages++;
	return 1;
}

/* In step, nothing held: hand out messages in place. */
static int
next_inplace(struct proto_framer *f, struct proto_msg *m,
    struct proto_error *err)
{
	uint32_t total;

	if (f->inlen < PROTO_HDR_LEN)
		return next_held(f, m, err);
	total = frame_size(f->in);
	if (total == 0) {
		set_header_error(f->in, f->offset, err);
		return lost(f);
	}
	if (f->inlen < total)
		return next_held(f, m, err);
	if (check_frame(f->in, f->offset, m, err) < 0)
		return lost(f);
	f->in += total;
	f->inlen -= total;
	f->offset += total;
	f->messages++;
	return 1;
}

/* The first few items of a candidate message hold together. */
static int
items_plausible(const uint8_t *p)
{
	struct proto_msg m;
	struct proto_iter it;
	struct proto_item item;
	int i, r;

	if (proto_msg_view(&m, p, PROTO_FRAME_MAX, 0, NULL) < 0)
		return 0;
	proto_iter_init(&it, &m);
	for (i = 0; i < CHAIN_ITEMS; i++) {
		r = proto_iter_next(&it, &item, NULL);
		if (r < 0)
			return 0;
		if (r == 0)
			break;
	}
	return 1;
}

/*
 * Does a run of messages start at p[0..n)? `last` says no byte after n
 * will come; `full` says the window cannot grow, so judge on what is
 * there.
 */
static enum chain
chain_check(const uint8_t *p, size_t n, int last, int full)
{
	struct proto_msg m;
	size_t pos = 0;
	uint32_t total;
	int count;

	for (count = 0; count < PROTO_RESYNC_CHAIN; count++) {
		if (last && pos == n && count > 0)
			return CHAIN_ACCEPT;
		if (n - pos < PROTO_HDR_LEN) {
			if (full && count > 0)
				return CHAIN_ACCEPT;
			return last || full ? CHAIN_REJECT : CHAIN_MORE;
		}
		total = frame_size(p + pos);
		if (total == 0)
			return CHAIN_REJECT;
		if (n - pos < total) {
			if (full && count > 0)
				return CHAIN_ACCEPT;
			return last || full ? CHAIN_REJECT : CHAIN_MORE;
		}
		if (check_frame(p + pos, 0, &m, NULL) < 0)
			return CHAIN_REJECT;
		if (!items_plausible(p + pos))
			return CHAIN_REJECT;
		pos += total;
	}
	return CHAIN_ACCEPT;
}

/* Drop bytes until the window starts at an offset of the right phase. */
static int
align_window(struct proto_framer *f)
{
	size_t want = (size_t)((f->phase - f->offset) & 7);

	drop(f, want);
	return (f->offset & 7) == f->phase;
}

/*
 * Out of step: look for the next place where messages start. Each
 * candidate is judged on the PROTO_FRAME_MAX bytes after it (its window)
 * or, at the end of the stream, on what is left. Kept out of line:
 * inlined into proto_framer_next(), its locals would make every message
 * in step pay for a large stack frame.
 */
__attribute__((noinline))
static int
search(struct proto_framer *f, struct proto_error *err)
{
	size_t c, n, avail, step;
	enum chain v;

	if (need_buf(f, err) < 0)
		return -1;
	if (!f->any_offset && !align_window(f)) {
		if (final(f))
			f->state = PROTO_FRAMER_DONE;
		return 0;
	}
	step = f->any_offset ? 1 : 8;
	for (;;) {
		/* Full: what is held is less than a window (see below). */
		if (f->bend == FRAMER_BUF)
			compact(f);
		n = FRAMER_BUF - f->bend;
		if (n > f->inlen)
			n = f->inlen;
		if (n > 0) {
			memcpy(f->buf + f->bend, f->in, n);
			f->copied += n;
			f->bend += n;
			f->in += n;
			f->inlen -= n;
		}

		/* Stops at the first candidate whose window is not all here. */
		v = CHAIN_REJECT;
		for (c = 0; c < held(f); c += step) {
			avail = held(f) - c;
			n = avail < PROTO_FRAME_MAX ? avail : PROTO_FRAME_MAX;
			v = chain_check(f->buf + f->bstart + c, n,
			    final(f) && avail == n, avail >= PROTO_FRAME_MAX);
			if (v != CHAIN_REJECT)
				break;
		}
		drop(f, c < held(f) ? c : held(f));
		if (v == CHAIN_ACCEPT) {
			f->state = PROTO_FRAMER_RUN;
			f->any_offset = 0;
			return proto_error_set(err, PROTO_E_RESYNC, f->offset,
			    0, f->offset - f->lost_at, 0);
		}
		if (f->inlen > 0)
			continue;
		if (final(f))
			f->state = PROTO_FRAMER_DONE;
		return 0;
	}
}

void
proto_framer_restart(struct proto_framer *f, uint64_t offset,
    enum proto_restart how)
{
	f->in = NULL;
	f->inlen = 0;
	f->bstart = f->bend = 0;
	f->offset = offset;
	f->lost_at = offset;
	f->phase = 0;
	f->any_offset = how == PROTO_RESTART_SEARCH_ANY;
	f->state = how == PROTO_RESTART_MESSAGE ? PROTO_FRAMER_RUN :
	    PROTO_FRAMER_SEARCH;
}

int
proto_framer_next(struct proto_framer *f, struct proto_msg *m,
    struct proto_error *err)
{
	switch (f->state) {
	case PROTO_FRAMER_RUN:
		if (held(f) > 0)
			return next_held(f, m, err);
		if (f->inlen > 0)
			return next_inplace(f, m, err);
		if (f->eof)
			f->state = PROTO_FRAMER_DONE;
		return 0;
	case PROTO_FRAMER_SEARCH:
		return search(f, err);
	case PROTO_FRAMER_STOP:
		drop(f, held(f) + f->inlen);
		if (f->eof)
			f->state = PROTO_FRAMER_DONE;
		return 0;
	case PROTO_FRAMER_DONE:
		drop(f, held(f) + f->inlen);
		return 0;
	}
	return 0;
}
