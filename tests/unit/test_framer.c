/*
 * test_framer.c - the framer against msgproto(7) section 2 and the
 * decisions on framing errors and resynchronisation.
 *
 * Every stream is fed in every way that matters: whole, one byte at a
 * time, split in two at every position (short streams) or around every
 * message boundary (long ones), and in random chunks with many seeds.
 * Each way must give exactly the same events (messages with their
 * offsets and bytes, errors with every field) and nothing else. Each
 * chunk is an exact-size heap copy freed once the framer is done with
 * it, so a read outside the chunk or a message used after its chunk is
 * gone is an AddressSanitizer report under SAN=1.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "libproto/proto.h"

#define T_UNKNOWN	0x1000u
#define MAX_EVENTS	100000

enum { EV_MSG = 1, EV_ERR };

struct ev {
	int type;
	uint64_t offset;	/* the message's, or the error's */
	uint16_t length;	/* EV_MSG */
	enum proto_reason reason;	/* EV_ERR */
	uint64_t got, want;
};

struct evlist {
	struct ev v[64];	/* expected lists are short */
	int n;
};

/* --- streams ------------------------------------------------------------ */

struct stream {
	uint8_t *b;
	size_t len, cap;
	uint64_t off[4096];	/* where each message went */
	uint16_t mlen[4096];
	int nmsg;
};

static void
st_init(struct stream *s)
{
	memset(s, 0, sizeof(*s));
}

static void
st_free(struct stream *s)
{
	free(s->b);
	s->b = NULL;
}

static void
st_room(struct stream *s, size_t n)
{
	if (s->len + n <= s->cap)
		return;
	while (s->len + n > s->cap)
		s->cap = s->cap ? 2 * s->cap : 4096;
	s->b = realloc(s->b, s->cap);
	assert_non_null(s->b);
}

static size_t
st_bytes(struct stream *s, const void *p, size_t n)
{
	size_t at = s->len;

	if (n == 0)
		return at;
	st_room(s, n);
	memcpy(s->b + at, p, n);
	s->len += n;
	return at;
}

static size_t
st_fill(struct stream *s, int c, size_t n)
{
	size_t at = s->len;

	if (n == 0)
		return at;
	st_room(s, n);
	memset(s->b + at, c, n);
	s->len += n;
	return at;
}

/*
 * A valid message of exactly `length` bytes (16, or 20..65535): one
 * unknown leaf of nonzero bytes, from the builder. Returns its offset.
 */
static uint64_t
st_msg(struct stream *s, uint16_t length)
{
	static uint8_t data[PROTO_FRAME_MAX];
	struct proto_builder b;
	size_t at = s->len, i;

	assert_true(length == 16 || length >= 20);
	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(0x41 + (i + s->nmsg) % 26);
	proto_builder_init(&b);
	assert_int_equal(proto_build_begin(&b, (uint64_t)s->nmsg % 7,
	    (uint32_t)s->nmsg, 0x0201), 0);
	if (length > 16)
		proto_build_raw(&b, T_UNKNOWN, data, length - 20u);
	assert_int_equal(proto_build_end(&b), (int)proto_align8(length));
	st_bytes(s, proto_builder_data(&b), proto_builder_len(&b));
	proto_builder_free(&b);
	assert_true(s->nmsg < 4096);
	s->off[s->nmsg] = at;
	s->mlen[s->nmsg] = length;
	s->nmsg++;
	return at;
}

/* A message with nested containers and links, from the builder. */
static uint64_t
st_nested(struct stream *s)
{
	struct proto_builder b;
	struct proto_ref ref = { 1, 2, 3 };
	uint64_t id = 5;
	size_t at = s->len;

	proto_builder_init(&b);
	proto_build_begin(&b, 3, (uint32_t)s->nmsg, 0x8203);
	proto_build_u32(&b, PROTO_ITEM_STATUS, 0);
	proto_build_nest_begin(&b, PROTO_ITEM_DIRENT, 0);
	proto_build_string(&b, PROTO_ITEM_NAME, "name", 4);
	proto_build_linkids(&b, PROTO_ITEM_NODE_LINK, &id, 1);
	proto_build_nest_begin(&b, PROTO_ITEM_ATTR, 0);
	proto_build_u32(&b, PROTO_ITEM_MODE, 0755);
	proto_build_nest_end(&b);
	proto_build_nest_end(&b);
	proto_build_ref(&b, PROTO_ITEM_DATA, &ref, 0);
	assert_true(proto_build_end_crc(&b) > 0);
	st_bytes(s, proto_builder_data(&b), proto_builder_len(&b));
	s->off[s->nmsg] = at;
	s->mlen[s->nmsg] = proto_get16(proto_builder_data(&b) + 14);
	s->nmsg++;
	proto_builder_free(&b);
	return at;
}

/* --- expected events ---------------------------------------------------- */

/*
 * Written with an if, not assert_true(): with assert_true() here (or a
 * memset of the slot after it), GCC 12.2 at -O1 and -O2 dropped every
 * call of ex_msgs() (clang, gcc -O0, and gcc with -fno-ipa-modref
 * -fno-ipa-pure-const keep them).
 */
static void
ex_add(struct evlist *x, const struct ev *e)
{
	if (x->n >= 64)
		fail_msg("too many expected events");
	x->v[x->n] = *e;
	x->n++;
}

static void
ex_msg(struct evlist *x, uint64_t off, uint16_t length)
{
	struct ev e = { 0 };

	e.type = EV_MSG;
	e.offset = off;
	e.length = length;
	ex_add(x, &e);
}

/* Messages first..last-1 of the stream, as expected events. */
static void
ex_msgs(struct evlist *x, const struct stream *s, int first, int last)
{
	int i;

	for (i = first; i < last; i++)
		ex_msg(x, s->off[i], s->mlen[i]);
}

static void
ex_err(struct evlist *x, enum proto_reason reason, uint64_t off,
    uint64_t got, uint64_t want)
{
	struct ev e = { 0 };

	e.type = EV_ERR;
	e.reason = reason;
	e.offset = off;
	e.got = got;
	e.want = want;
	ex_add(x, &e);
}

/* --- feeding ---------------------------------------------------------- */

enum feed { FEED_WHOLE, FEED_BYTES, FEED_SPLIT, FEED_RANDOM };

struct feeder {
	enum feed how;
	size_t split;		/* FEED_SPLIT */
	uint64_t seed;		/* FEED_RANDOM */
	int restart;		/* proto_framer_restart() first */
	enum proto_restart restart_how;
	size_t restart_off;	/* ... at this offset: feed from there */
};

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static size_t
next_chunk(struct feeder *fd, size_t done, size_t left)
{
	size_t k;

	switch (fd->how) {
	case FEED_BYTES:
		return 1;
	case FEED_SPLIT:
		if (done < fd->split)
			return fd->split - done;
		return left;
	case FEED_RANDOM:
		switch (rnd(&fd->seed) % 8) {
		case 0:
			k = 0;		/* an empty chunk now and then */
			break;
		case 1: case 2: case 3:
			k = 1 + rnd(&fd->seed) % 24;
			break;
		case 4: case 5:
			k = 1 + rnd(&fd->seed) % 1000;
			break;
		default:
			k = 1 + rnd(&fd->seed) % 70000;
			break;
		}
		return k < left ? k : left;
	case FEED_WHOLE:
	default:
		return left;
	}
}

static const char *
feed_name(const struct feeder *fd, char *buf, size_t len)
{
	static const char *names[] = { "whole", "bytes", "split", "random" };

	snprintf(buf, len, "%s (split %zu, seed %llu)", names[fd->how],
	    fd->split, (unsigned long long)fd->seed);
	return buf;
}

struct run {
	struct ev *ev;		/* MAX_EVENTS */
	int n;
	uint64_t skipped;
	uint64_t final_offset;
	int inplace;		/* messages handed out without a copy */
};

static void
record(struct run *r, const struct ev *e)
{
	if (r->n >= MAX_EVENTS)
		fail_msg("more than %d events: the framer does not stop",
		    MAX_EVENTS);
	r->ev[r->n++] = *e;
}

/* Drain the framer; check each message against the stream. */
static void
drain(struct proto_framer *f, const struct stream *s, const uint8_t *chunk,
    uint64_t chunk_off, size_t chunk_len, struct run *r, int *in_step)
{
	struct proto_msg m;
	struct proto_error err;
	struct ev e;
	int x;

	while ((x = proto_framer_next(f, &m, &err)) != 0) {
		memset(&e, 0, sizeof(e));
		if (x < 0) {
			assert_int_equal(x, -1);
			e.type = EV_ERR;
			e.offset = err.offset;
			e.reason = err.reason;
			e.got = err.got;
			e.want = err.want;
			assert_int_equal(err.itemid, 0);
			*in_step = 0;
			record(r, &e);
			continue;
		}
		assert_int_equal(x, 1);
		assert_true(m.length >= PROTO_MSG_MIN);
		assert_true(m.offset + m.length <= s->len);
		if (memcmp(m.bytes, s->b + m.offset, m.length) != 0)
			fail_msg("message at %llu: not the stream's bytes",
			    (unsigned long long)m.offset);
		assert_int_equal(m.linkid, proto_get64(s->b + m.offset));
		assert_int_equal(m.msgid, proto_get32(s->b + m.offset + 8));
		assert_int_equal(m.command, proto_get16(s->b + m.offset + 12));
		if (*in_step) {
			/* Zero copy: wholly inside the chunk, in place. */
			if (m.offset >= chunk_off && m.offset +
			    proto_align8(m.length) <= chunk_off + chunk_len) {
				assert_ptr_equal(m.bytes, chunk + (m.offset -
				    chunk_off));
				r->inplace++;
			}
			assert_int_equal(proto_framer_offset(f), m.offset +
			    proto_align8(m.length));
		}
		e.type = EV_MSG;
		e.offset = m.offset;
		e.length = m.length;
		record(r, &e);
	}
}

static void
feed_stream(const struct stream *s, unsigned flags, struct feeder fd,
    struct run *r)
{
	struct proto_framer f;
	size_t done = 0, k;
	uint8_t *chunk;
	int in_step = 1;

	r->n = 0;
	r->inplace = 0;
	assert_int_equal(proto_framer_init(&f, flags), 0);
	if (fd.restart) {
		proto_framer_restart(&f, fd.restart_off, fd.restart_how);
		done = fd.restart_off;
	}
	while (done < s->len) {
		k = next_chunk(&fd, done, s->len - done);
		chunk = malloc(k ? k : 1);
		assert_non_null(chunk);
		memcpy(chunk, s->b + done, k);
		proto_framer_feed(&f, chunk, k);
		drain(&f, s, chunk, done, k, r, &in_step);
		free(chunk);
		done += k;
	}
	proto_framer_eof(&f);
	drain(&f, s, NULL, 0, 0, r, &in_step);
	/* Finished is finished. */
	drain(&f, s, NULL, 0, 0, r, &in_step);
	r->skipped = f.skipped;
	r->final_offset = proto_framer_offset(&f);
	proto_framer_free(&f);
}

static void
print_ev(const char *what, int i, const struct ev *e)
{
	if (e->type == EV_MSG)
		print_error("%s[%d]: message at %llu length %u\n", what, i,
		    (unsigned long long)e->offset, e->length);
	else
		print_error("%s[%d]: error %s at %llu got %llu want %llu\n",
		    what, i, proto_reason_str(e->reason),
		    (unsigned long long)e->offset,
		    (unsigned long long)e->got, (unsigned long long)e->want);
}

static int
ev_equal(const struct ev *a, const struct ev *b)
{
	if (a->type != b->type || a->offset != b->offset)
		return 0;
	if (a->type == EV_MSG)
		return a->length == b->length;
	return a->reason == b->reason && a->got == b->got &&
	    a->want == b->want;
}

static void
compare(const struct run *r, const struct evlist *x, const char *how)
{
	int i;

	for (i = 0; i < r->n || i < x->n; i++) {
		if (i < r->n && i < x->n && ev_equal(&r->ev[i], &x->v[i]))
			continue;
		print_error("fed %s: events differ at %d\n", how, i);
		for (i = 0; i < r->n && i < 40; i++)
			print_ev("got ", i, &r->ev[i]);
		for (i = 0; i < x->n; i++)
			print_ev("want", i, &x->v[i]);
		fail();
	}
}

/* Bytes outside the expected messages. */
static uint64_t
ex_skipped(const struct stream *s, const struct evlist *x)
{
	uint64_t n = s->len;
	int i;

	for (i = 0; i < x->n; i++)
		if (x->v[i].type == EV_MSG)
			n -= proto_align8(x->v[i].length);
	return n;
}

/*
 * Feed s every way with these flags; each must give exactly x. `seeds`
 * random chunkings; every split if the stream is short, else splits
 * around each expected message boundary.
 */
static void
check_ways_restart(const struct stream *s, unsigned flags,
    const struct evlist *x, int seeds, int restart, enum proto_restart how,
    size_t off)
{
	struct run r;
	struct feeder fd;
	char name[80];
	uint64_t want_skipped = ex_skipped(s, x) - off;
	size_t pos, lo, hi;
	int i, j;

	r.ev = malloc(MAX_EVENTS * sizeof(*r.ev));
	assert_non_null(r.ev);

	memset(&fd, 0, sizeof(fd));
	fd.restart = restart;
	fd.restart_how = how;
	fd.restart_off = off;
	fd.how = FEED_WHOLE;
	feed_stream(s, flags, fd, &r);
	compare(&r, x, feed_name(&fd, name, sizeof(name)));
	assert_int_equal(r.skipped, want_skipped);
	assert_int_equal(r.final_offset, s->len);
	/* Whole: every message before the first error is in place. */
	for (i = 0; i < x->n && x->v[i].type == EV_MSG; i++)
		;
	assert_true(r.inplace >= i);

	fd.how = FEED_BYTES;
	feed_stream(s, flags, fd, &r);
	compare(&r, x, feed_name(&fd, name, sizeof(name)));
	assert_int_equal(r.skipped, want_skipped);
	assert_int_equal(r.final_offset, s->len);

	fd.how = FEED_RANDOM;
	for (j = 0; j < seeds; j++) {
		fd.seed = 0x1234567 + (uint64_t)j * 0x9e3779b97f4a7c15ull;
		feed_stream(s, flags, fd, &r);
		compare(&r, x, feed_name(&fd, name, sizeof(name)));
		assert_int_equal(r.skipped, want_skipped);
	}

	fd.how = FEED_SPLIT;
	if (s->len <= 1024) {
		for (pos = off; pos <= s->len; pos++) {
			fd.split = pos;
			feed_stream(s, flags, fd, &r);
			compare(&r, x, feed_name(&fd, name, sizeof(name)));
			assert_int_equal(r.skipped, want_skipped);
		}
	} else {
		for (i = 0; i < s->nmsg; i++) {
			lo = s->off[i] > off + 24 ? s->off[i] - 24 : off;
			hi = s->off[i] + 40;
			for (pos = lo; pos <= hi && pos <= s->len; pos++) {
				fd.split = pos;
				feed_stream(s, flags, fd, &r);
				compare(&r, x, feed_name(&fd, name,
				    sizeof(name)));
			}
		}
	}
	free(r.ev);
}

static void
check_all_ways(const struct stream *s, unsigned flags,
    const struct evlist *x, int seeds)
{
	check_ways_restart(s, flags, x, seeds, 0, PROTO_RESTART_MESSAGE, 0);
}

/* Both framers give x: the stream holds no framing error. */
static void
check_clean(const struct stream *s, const struct evlist *x, int seeds)
{
	check_all_ways(s, 0, x, seeds);
	check_all_ways(s, PROTO_FRAMER_RESYNC, x, seeds);
}

/* --- in step ------------------------------------------------------------ */

static void
test_reference_stream(void **state)
{
	struct stream s;
	struct evlist x;
	uint32_t len;

	(void)state;
	st_init(&s);
	x.n = 0;
	st_msg(&s, 40);
	st_msg(&s, 16);
	st_nested(&s);
	for (len = 20; len <= 31; len++)
		st_msg(&s, (uint16_t)len);	/* every pad size, 0..7 */
	for (len = 65528; len <= 65535; len++)
		st_msg(&s, (uint16_t)len);	/* the largest, every pad */
	st_msg(&s, 16);
	st_nested(&s);
	st_msg(&s, 21);
	ex_msgs(&x, &s, 0, s.nmsg);
	check_clean(&s, &x, 40);
	st_free(&s);
}

/* A short stream, split in two at every position. */
static void
test_short_stream_splits(void **state)
{
	struct stream s;
	struct evlist x;

	(void)state;
	st_init(&s);
	x.n = 0;
	st_msg(&s, 21);
	st_nested(&s);
	st_msg(&s, 16);
	st_msg(&s, 27);
	st_msg(&s, 64);
	st_msg(&s, 23);
	ex_msgs(&x, &s, 0, s.nmsg);
	check_clean(&s, &x, 200);
	st_free(&s);
}

static void
test_empty_stream(void **state)
{
	struct stream s;
	struct evlist x;

	(void)state;
	st_init(&s);
	x.n = 0;
	check_clean(&s, &x, 1);
	st_free(&s);
}

/* A message wholly inside a chunk comes out as a pointer into it. */
static void
test_zero_copy(void **state)
{
	struct stream s;
	struct proto_framer f;
	struct proto_msg m;
	struct proto_error e;
	uint64_t a, b, c;

	(void)state;
	st_init(&s);
	a = st_msg(&s, 24);
	b = st_msg(&s, 65535);
	c = st_msg(&s, 20);
	assert_int_equal(proto_framer_init(&f, 0), 0);
	/* First chunk: a whole, b's first 10 bytes. */
	proto_framer_feed(&f, s.b, b + 10);
	assert_int_equal(proto_framer_next(&f, &m, &e), 1);
	assert_ptr_equal(m.bytes, s.b + a);
	assert_int_equal(proto_framer_next(&f, &m, &e), 0);
	/* Second: the rest of b, gathered; c whole, in place. */
	proto_framer_feed(&f, s.b + b + 10, s.len - b - 10);
	assert_int_equal(proto_framer_next(&f, &m, &e), 1);
	assert_int_equal(m.offset, b);
	assert_int_equal(m.length, 65535);
	assert_true(m.bytes < s.b || m.bytes >= s.b + s.len);
	assert_memory_equal(m.bytes, s.b + b, 65535);
	assert_int_equal(proto_framer_next(&f, &m, &e), 1);
	assert_int_equal(m.offset, c);
	assert_ptr_equal(m.bytes, s.b + c);
	assert_int_equal(proto_framer_next(&f, &m, &e), 0);
	proto_framer_eof(&f);
	assert_int_equal(proto_framer_next(&f, &m, &e), 0);
	assert_int_equal(f.messages, 3);
	assert_int_equal(f.skipped, 0);
	proto_framer_free(&f);
	st_free(&s);
}

/* --- the end of the stream ---------------------------------------------- */

static void
test_eof_short_header(void **state)
{
	struct stream s;
	struct evlist x;
	uint64_t a, n;
	int resync;

	(void)state;
	for (n = 1; n < 16; n++) {
		for (resync = 0; resync < 2; resync++) {
			/* A message, then the first n bytes of another. */
			st_init(&s);
			x.n = 0;
			st_msg(&s, 24);
			a = st_msg(&s, 40);
			s.len = a + n;
			s.nmsg = 1;
			ex_msgs(&x, &s, 0, 1);
			ex_err(&x, PROTO_E_SHORT_HEADER, a, n, 16);
			check_all_ways(&s, resync ? PROTO_FRAMER_RESYNC : 0, &x,
			    5);
			/* Nothing but those bytes. */
			memmove(s.b, s.b + a, n);
			s.len = n;
			s.nmsg = 0;
			x.n = 0;
			ex_err(&x, PROTO_E_SHORT_HEADER, 0, n, 16);
			check_all_ways(&s, resync ? PROTO_FRAMER_RESYNC : 0, &x,
			    5);
			st_free(&s);
		}
	}
}

static void
test_eof_truncated(void **state)
{
	struct stream s;
	struct evlist x;
	uint64_t a, cut;
	uint16_t len;
	int resync;

	(void)state;
	for (resync = 0; resync < 2; resync++) {
		/* Cut inside the body, at every byte after the header. */
		for (cut = 16; cut < 40; cut++) {
			st_init(&s);
			x.n = 0;
			st_msg(&s, 32);
			a = st_msg(&s, 40);
			s.len = a + cut;
			s.nmsg = 1;
			ex_msgs(&x, &s, 0, 1);
			ex_err(&x, PROTO_E_TRUNCATED, a, cut, 40);
			check_all_ways(&s, resync ? PROTO_FRAMER_RESYNC : 0, &x,
			    5);
			st_free(&s);
		}
		/* Cut inside the pad: every pad size, every cut. */
		for (len = 20; len <= 31; len++) {
			for (cut = len; cut < proto_align8(len); cut++) {
				st_init(&s);
				x.n = 0;
				st_msg(&s, 24);
				a = st_msg(&s, len);
				s.len = a + cut;
				s.nmsg = 1;
				ex_msgs(&x, &s, 0, 1);
				ex_err(&x, PROTO_E_TRUNCATED, a, cut,
				    proto_align8(len));
				check_all_ways(&s, resync ?
				    PROTO_FRAMER_RESYNC : 0, &x, 3);
				st_free(&s);
			}
		}
		/* The largest message, one pad byte short. */
		st_init(&s);
		x.n = 0;
		st_msg(&s, 16);
		a = st_msg(&s, 65535);
		s.len = a + 65535;
		s.nmsg = 1;
		ex_msgs(&x, &s, 0, 1);
		ex_err(&x, PROTO_E_TRUNCATED, a, 65535, 65536);
		check_all_ways(&s, resync ? PROTO_FRAMER_RESYNC : 0, &x, 3);
		st_free(&s);
	}
}

/* --- framing errors, no resynchronisation ------------------------------- */

static void
test_error_stops(void **state)
{
	struct stream s;
	struct evlist x;
	uint64_t bad;
	uint16_t l;

	(void)state;
	/* length < 16: every value. */
	for (l = 0; l < 16; l++) {
		st_init(&s);
		x.n = 0;
		st_msg(&s, 24);
		st_msg(&s, 40);
		bad = st_msg(&s, 48);
		st_msg(&s, 24);
		st_msg(&s, 16);
		proto_put16(s.b + bad + 14, l);
		ex_msgs(&x, &s, 0, 2);
		ex_err(&x, PROTO_E_LENGTH, bad + 14, l, 16);
		check_all_ways(&s, 0, &x, 10);
		st_free(&s);
	}
	/* A nonzero pad byte, at every place of a 7-byte pad. */
	for (l = 0; l < 7; l++) {
		st_init(&s);
		x.n = 0;
		st_msg(&s, 24);
		bad = st_msg(&s, 25);
		st_msg(&s, 24);
		s.b[bad + 31] = 0x01;	/* a later one does not count */
		s.b[bad + 25 + l] = (uint8_t)(0x80 | l);
		ex_msgs(&x, &s, 0, 1);
		ex_err(&x, PROTO_E_MSG_PAD, bad + 25 + l, 0x80 | l, 0);
		check_all_ways(&s, 0, &x, 10);
		st_free(&s);
	}
	/* At the very start of the stream. */
	st_init(&s);
	x.n = 0;
	st_msg(&s, 24);
	st_msg(&s, 24);
	proto_put16(s.b + 14, 15);
	ex_err(&x, PROTO_E_LENGTH, 14, 15, 16);
	check_all_ways(&s, 0, &x, 10);
	st_free(&s);
}

/* --- resynchronisation -------------------------------------------------- */

static void
test_resync_garbage_before(void **state)
{
	struct stream s;
	struct evlist x;
	int i;

	(void)state;
	/* Zeros: length 0 at once. */
	st_init(&s);
	x.n = 0;
	st_fill(&s, 0, 40);
	for (i = 0; i < 5; i++)
		st_msg(&s, (uint16_t)(20 + 7 * i));
	ex_err(&x, PROTO_E_LENGTH, 14, 0, 16);
	ex_err(&x, PROTO_E_RESYNC, 40, 40, 0);
	ex_msgs(&x, &s, 0, 5);
	check_all_ways(&s, PROTO_FRAMER_RESYNC, &x, 20);
	/* Without RESYNC: the error, then nothing. */
	x.n = 1;
	check_all_ways(&s, 0, &x, 5);
	st_free(&s);

	/*
	 * 0xff: a header of length 65535 that the stream cannot fill, so
	 * it is cut off at the end; then the search finds the messages.
	 */
	st_init(&s);
	x.n = 0;
	st_fill(&s, 0xff, 40);
	for (i = 0; i < 5; i++)
		st_msg(&s, (uint16_t)(20 + 7 * i));
	ex_err(&x, PROTO_E_TRUNCATED, 0, s.len, 65536);
	ex_err(&x, PROTO_E_RESYNC, 40, 40, 0);
	ex_msgs(&x, &s, 0, 5);
	check_all_ways(&s, PROTO_FRAMER_RESYNC, &x, 20);
	st_free(&s);
}

static void
test_resync_garbage_between(void **state)
{
	static const uint8_t junk[24] = {
		0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x00,
		0x00, 0x00, 0xee, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	struct stream s;
	struct evlist x;
	uint64_t g1, g2;
	int i;

	(void)state;
	st_init(&s);
	x.n = 0;
	for (i = 0; i < 4; i++)
		st_msg(&s, (uint16_t)(24 + i));
	g1 = st_bytes(&s, junk, sizeof(junk));
	for (i = 0; i < 4; i++)
		st_msg(&s, (uint16_t)(40 + i));
	st_nested(&s);
	g2 = st_fill(&s, 0, 48);
	for (i = 0; i < 3; i++)
		st_msg(&s, (uint16_t)(16 + 8 * i));
	/* Garbage after everything: cut off at the end of the stream. */
	st_bytes(&s, junk, 20);
	ex_msgs(&x, &s, 0, 4);
	/* junk's length field is 0x0007: < 16. */
	ex_err(&x, PROTO_E_LENGTH, g1 + 14, 7, 16);
	ex_err(&x, PROTO_E_RESYNC, s.off[4], 24, 0);
	ex_msgs(&x, &s, 4, 9);
	/*
	 * The last three are followed by junk, not by the end of the
	 * stream: too short a run to trust, so they are lost.
	 */
	ex_err(&x, PROTO_E_LENGTH, g2 + 14, 0, 16);
	check_all_ways(&s, PROTO_FRAMER_RESYNC, &x, 20);
	st_free(&s);
}

/* Four messages in a row, or a run to the very end: nothing less. */
static void
test_resync_chain_rules(void **state)
{
	struct stream s;
	struct evlist x;
	uint64_t g;
	int i;

	(void)state;
	/* A short run that ends exactly at the end of the stream. */
	for (i = 1; i <= 3; i++) {
		st_init(&s);
		x.n = 0;
		st_fill(&s, 0, 40);
		st_msg(&s, 24);
		if (i > 1)
			st_msg(&s, 16);
		if (i > 2)
			st_nested(&s);
		ex_err(&x, PROTO_E_LENGTH, 14, 0, 16);
		ex_err(&x, PROTO_E_RESYNC, 40, 40, 0);
		ex_msgs(&x, &s, 0, i);
		check_all_ways(&s, PROTO_FRAMER_RESYNC, &x, 10);
		st_free(&s);
	}
	/* Three, then garbage: not enough to trust; all three are lost. */
	st_init(&s);
	x.n = 0;
	st_fill(&s, 0, 40);
	st_msg(&s, 24);
	st_msg(&s, 32);
	st_msg(&s, 16);
	st_fill(&s, 0, 24);
	ex_err(&x, PROTO_E_LENGTH, 14, 0, 16);
	check_all_ways(&s, PROTO_FRAMER_RESYNC, &x, 10);
	st_free(&s);
	/* Four, then garbage: accepted; the garbage is a new error. */
	st_init(&s);
	x.n = 0;
	st_fill(&s, 0, 40);
	for (i = 0; i < 4; i++)
		st_msg(&s, 24);
	g = st_fill(&s, 0, 24);
	ex_err(&x, PROTO_E_LENGTH, 14, 0, 16);
	ex_err(&x, PROTO_E_RESYNC, 40, 40, 0);
	ex_msgs(&x, &s, 0, 4);
	ex_err(&x, PROTO_E_LENGTH, g + 14, 0, 16);
	check_all_ways(&s, PROTO_FRAMER_RESYNC, &x, 10);
	st_free(&s);
	/*
	 * One message that fills the 64 KiB window, then more: accepted on
	 * the window alone.
	 */
	st_init(&s);
	x.n = 0;
	st_fill(&s, 0, 40);
	st_msg(&s, 65535);
	st_msg(&s, 24);
	g = st_fill(&s, 0, 16);
	st_msg(&s, 32);
	ex_err(&x, PROTO_E_LENGTH, 14, 0, 16);
	ex_err(&x, PROTO_E_RESYNC, 40, 40, 0);
	ex_msgs(&x, &s, 0, 2);
	ex_err(&x, PROTO_E_LENGTH, g + 14, 0, 16);
	ex_err(&x, PROTO_E_RESYNC, g + 16, 16, 0);
	ex_msgs(&x, &s, 2, 3);
	check_all_ways(&s, PROTO_FRAMER_RESYNC, &x, 10);
	st_free(&s);
}

/* A corrupted length field, then every message after it. */
static void
test_resync_corrupt_length(void **state)
{
	struct stream s;
	struct evlist x;
	uint64_t bad;
	int i;

	(void)state;
	/* Below 16. */
	st_init(&s);
	x.n = 0;
	for (i = 0; i < 10; i++)
		st_msg(&s, (uint16_t)(20 + 5 * i));
	bad = s.off[3];
	proto_put16(s.b + bad + 14, 3);
	ex_msgs(&x, &s, 0, 3);
	ex_err(&x, PROTO_E_LENGTH, bad + 14, 3, 16);
	ex_err(&x, PROTO_E_RESYNC, s.off[4], s.off[4] - bad, 0);
	ex_msgs(&x, &s, 4, 10);
	check_all_ways(&s, PROTO_FRAMER_RESYNC, &x, 20);
	st_free(&s);

	/* One less on an aligned length: the last data byte is the pad. */
	st_init(&s);
	x.n = 0;
	for (i = 0; i < 10; i++)
		st_msg(&s, 48);
	bad = s.off[5];
	proto_put16(s.b + bad + 14, 47);
	ex_msgs(&x, &s, 0, 5);
	ex_err(&x, PROTO_E_MSG_PAD, bad + 47, s.b[bad + 47], 0);
	ex_err(&x, PROTO_E_RESYNC, s.off[6], 48, 0);
	ex_msgs(&x, &s, 6, 10);
	check_all_ways(&s, PROTO_FRAMER_RESYNC, &x, 20);
	st_free(&s);
}

static void
test_resync_corrupt_pad(void **state)
{
	struct stream s;
	struct evlist x;
	uint64_t bad;
	int i;

	(void)state;
	st_init(&s);
	x.n = 0;
	for (i = 0; i < 12; i++)
		st_msg(&s, (uint16_t)(21 + i));
	bad = s.off[2];		/* length 23: one pad byte */
	s.b[bad + 23] = 0x10;
	ex_msgs(&x, &s, 0, 2);
	ex_err(&x, PROTO_E_MSG_PAD, bad + 23, 0x10, 0);
	ex_err(&x, PROTO_E_RESYNC, s.off[3], 24, 0);
	ex_msgs(&x, &s, 3, 12);
	check_all_ways(&s, PROTO_FRAMER_RESYNC, &x, 20);
	/* Without RESYNC: the error, then nothing. */
	x.n = 3;
	check_all_ways(&s, 0, &x, 5);
	st_free(&s);
}

static void
test_resync_all_garbage(void **state)
{
	struct stream s;
	struct evlist x;
	uint64_t seed = 77;
	size_t i;

	(void)state;
	/* Zeros. */
	st_init(&s);
	x.n = 0;
	st_fill(&s, 0, 4096);
	ex_err(&x, PROTO_E_LENGTH, 14, 0, 16);
	check_all_ways(&s, PROTO_FRAMER_RESYNC, &x, 5);
	check_all_ways(&s, 0, &x, 5);
	st_free(&s);
	/* Random bytes. */
	st_init(&s);
	x.n = 0;
	st_fill(&s, 0, 100000);
	for (i = 0; i < s.len; i++)
		s.b[i] = (uint8_t)rnd(&seed);
	/* The first header is refused; nothing after it holds together. */
	proto_put16(s.b + 14, 5);
	ex_err(&x, PROTO_E_LENGTH, 14, 5, 16);
	check_all_ways(&s, PROTO_FRAMER_RESYNC, &x, 5);
	check_all_ways(&s, 0, &x, 5);
	st_free(&s);
}

/* Garbage, then a short run of messages ending the stream. */
static void
test_resync_short_tail(void **state)
{
	struct stream s;
	struct evlist x;

	(void)state;
	st_init(&s);
	x.n = 0;
	st_msg(&s, 24);
	st_fill(&s, 0, 64);
	st_msg(&s, 20);
	ex_msgs(&x, &s, 0, 1);
	ex_err(&x, PROTO_E_LENGTH, 24 + 14, 0, 16);
	ex_err(&x, PROTO_E_RESYNC, 88, 64, 0);
	ex_msgs(&x, &s, 1, 2);
	check_all_ways(&s, PROTO_FRAMER_RESYNC, &x, 20);
	st_free(&s);
	/* The tail shorter than a header is dropped silently. */
	st_init(&s);
	x.n = 0;
	st_fill(&s, 0, 64);
	st_fill(&s, 0x33, 10);
	ex_err(&x, PROTO_E_LENGTH, 14, 0, 16);
	check_all_ways(&s, PROTO_FRAMER_RESYNC, &x, 20);
	st_free(&s);
}

/* Damage upon damage: every valid run of four is recovered. */
static void
test_resync_many(void **state)
{
	struct stream s;
	struct evlist x;
	uint64_t g, lost;
	int i, k, first;

	(void)state;
	st_init(&s);
	x.n = 0;
	lost = 0;
	for (k = 0; k < 6; k++) {
		first = s.nmsg;
		for (i = 0; i < 4 + k % 2; i++)
			st_msg(&s, (uint16_t)(20 + 8 * i + k));
		if (k > 0)
			ex_err(&x, PROTO_E_RESYNC, s.off[first],
			    s.off[first] - lost, 0);
		ex_msgs(&x, &s, first, s.nmsg);
		g = st_fill(&s, 0, 8 + 8 * (size_t)k);
		lost = g;
		ex_err(&x, PROTO_E_LENGTH, g + 14, 0, 16);
	}
	/* The last garbage has nothing after it. */
	check_all_ways(&s, PROTO_FRAMER_RESYNC, &x, 30);
	st_free(&s);
}

/*
 * proto_framer_restart(): a stream picked up at an unknown alignment
 * (SEARCH_ANY), or at an offset that is not a message start (SEARCH).
 */
static void
test_restart(void **state)
{
	struct stream s;
	struct evlist x;
	uint64_t g;
	unsigned flags;
	int i;

	(void)state;
	for (flags = 0; flags <= PROTO_FRAMER_RESYNC; flags++) {
		/* 13 bytes of a message's tail, then messages at 13 + 8k. */
		st_init(&s);
		x.n = 0;
		st_fill(&s, 0x5a, 13);
		for (i = 0; i < 5; i++)
			st_msg(&s, (uint16_t)(20 + 9 * i));
		ex_err(&x, PROTO_E_RESYNC, 13, 13, 0);
		ex_msgs(&x, &s, 0, 5);
		check_ways_restart(&s, flags, &x, 10, 1,
		    PROTO_RESTART_SEARCH_ANY, 0);
		/* 8-aligned candidates only: nothing is found. */
		x.n = 0;
		check_ways_restart(&s, flags, &x, 5, 1, PROTO_RESTART_SEARCH,
		    0);
		st_free(&s);

		/*
		 * Found at 13, the stream's alignment is known: after a
		 * later framing error the search keeps to it (13 + 8k).
		 */
		st_init(&s);
		x.n = 0;
		st_fill(&s, 0x5a, 13);
		for (i = 0; i < 5; i++)
			st_msg(&s, (uint16_t)(20 + 9 * i));
		g = st_fill(&s, 0, 16);
		for (i = 0; i < 4; i++)
			st_msg(&s, (uint16_t)(33 + i));
		ex_err(&x, PROTO_E_RESYNC, 13, 13, 0);
		ex_msgs(&x, &s, 0, 5);
		ex_err(&x, PROTO_E_LENGTH, g + 14, 0, 16);
		if (flags & PROTO_FRAMER_RESYNC) {
			ex_err(&x, PROTO_E_RESYNC, g + 16, 16, 0);
			ex_msgs(&x, &s, 5, 9);
		}
		check_ways_restart(&s, flags, &x, 10, 1,
		    PROTO_RESTART_SEARCH_ANY, 0);
		/* The same after MESSAGE at 13, fed from there. */
		x.n = 0;
		ex_msgs(&x, &s, 0, 5);
		ex_err(&x, PROTO_E_LENGTH, g + 14, 0, 16);
		if (flags & PROTO_FRAMER_RESYNC) {
			ex_err(&x, PROTO_E_RESYNC, g + 16, 16, 0);
			ex_msgs(&x, &s, 5, 9);
		}
		check_ways_restart(&s, flags, &x, 10, 1, PROTO_RESTART_MESSAGE,
		    13);
		/* SEARCH at 13: 8-aligned candidates (16, 24, ...) only. */
		x.n = 0;
		check_ways_restart(&s, flags, &x, 5, 1, PROTO_RESTART_SEARCH,
		    13);
		st_free(&s);

		/* SEARCH from a place inside a message. */
		st_init(&s);
		x.n = 0;
		st_fill(&s, 0x41, 24);
		for (i = 0; i < 4; i++)
			st_msg(&s, (uint16_t)(24 + 8 * i));
		g = st_fill(&s, 0, 16);
		st_msg(&s, 40);
		ex_err(&x, PROTO_E_RESYNC, 24, 24, 0);
		ex_msgs(&x, &s, 0, 4);
		ex_err(&x, PROTO_E_LENGTH, g + 14, 0, 16);
		if (flags & PROTO_FRAMER_RESYNC) {
			ex_err(&x, PROTO_E_RESYNC, g + 16, 16, 0);
			ex_msgs(&x, &s, 4, 5);
		}
		check_ways_restart(&s, flags, &x, 10, 1, PROTO_RESTART_SEARCH,
		    0);
		check_ways_restart(&s, flags, &x, 10, 1,
		    PROTO_RESTART_SEARCH_ANY, 0);
		st_free(&s);

		/* MESSAGE: as a new framer. */
		st_init(&s);
		x.n = 0;
		for (i = 0; i < 3; i++)
			st_msg(&s, (uint16_t)(30 + i));
		ex_msgs(&x, &s, 0, 3);
		check_ways_restart(&s, flags, &x, 5, 1, PROTO_RESTART_MESSAGE,
		    0);
		st_free(&s);
	}
}

/* --- hostile input ------------------------------------------------------ */

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Feed p[0..n) in chunks of 1..maxchunk; count events. */
static double
feed_timed(const uint8_t *p, size_t n, size_t maxchunk, int any, int *msgs,
    int *errs, uint64_t *skipped, uint64_t *copied)
{
	struct proto_framer f;
	struct proto_msg m;
	struct proto_error e;
	uint64_t seed = 99;
	size_t done = 0, k;
	double t0 = now();
	int r;

	*msgs = *errs = 0;
	assert_int_equal(proto_framer_init(&f, PROTO_FRAMER_RESYNC), 0);
	if (any)
		proto_framer_restart(&f, 0, PROTO_RESTART_SEARCH_ANY);
	for (;;) {
		k = maxchunk == 0 ? n - done : 1 + rnd(&seed) % maxchunk;
		if (k > n - done)
			k = n - done;
		if (k == 0)
			proto_framer_eof(&f);
		else
			proto_framer_feed(&f, p + done, k);
		while ((r = proto_framer_next(&f, &m, &e)) != 0) {
			if (r > 0)
				(*msgs)++;
			else
				(*errs)++;
		}
		if (k == 0)
			break;
		done += k;
	}
	*skipped = f.skipped;
	*copied = f.copied;
	proto_framer_free(&f);
	return now() - t0;
}

/*
 * 16 MiB where every 8-aligned offset nearly holds a message: the search
 * must stay linear. Time is only printed; what is asserted is the work
 * that went quadratic once (copying the window for every candidate):
 * the bytes the framer copies or moves stay within 4 per input byte.
 */
static void
test_hostile(void **state)
{
	static const size_t chunks[] = { 0, 4096, 100 };
	static uint8_t p[(size_t)16 << 20];
	size_t n = sizeof(p), i, j;
	uint64_t skipped, copied;
	int pattern, msgs, errs;
	double t;

	(void)state;
	for (pattern = 0; pattern < 3; pattern++) {
		if (pattern == 0) {
			/* Every header says 65535; every pad is nonzero. */
			for (i = 0; i < n; i += 8) {
				memset(p + i, 0x11, 6);
				p[i + 6] = 0xff;
				p[i + 7] = 0xff;
			}
		} else if (pattern == 1) {
			/*
			 * Runs of three good 48-byte messages of four items,
			 * each run after one whose length is 8: every
			 * candidate chains up to three, then fails.
			 */
			memset(p, 0, n);
			for (i = 0; i + 48 <= n; i += 48) {
				proto_put16(p + i + 14, (i / 48) % 4 == 0 ?
				    8 : 48);
				for (j = 16; j < 48; j += 8) {
					proto_put16(p + i + j, T_UNKNOWN);
					proto_put16(p + i + j + 2, 8);
				}
			}
		} else {
			/* Headers of every length, pads nonzero. */
			for (i = 0; i < n; i += 8) {
				memset(p + i, 0x01, 8);
				proto_put16(p + i + 6, (uint16_t)(16 + (i / 8) %
				    65520));
			}
		}
		for (j = 0; j < 4; j++) {
			/* The last: every byte a candidate. */
			t = feed_timed(p, n, chunks[j % 3], j == 3, &msgs,
			    &errs, &skipped, &copied);
			print_message("hostile pattern %d, chunks %zu%s: %.2f "
			    "s, %d messages, %d errors, %llu skipped, %llu "
			    "copied\n", pattern, chunks[j % 3], j == 3 ?
			    ", any offset" : "", t, msgs, errs,
			    (unsigned long long)skipped,
			    (unsigned long long)copied);
			assert_true(copied <= 4 * (uint64_t)n);
			/*
			 * At any offset, runs of headers can be found in
			 * the middle of these patterns: only the time counts.
			 */
			if (j == 3)
				continue;
			assert_int_equal(msgs, 0);
			assert_int_equal(errs, 1);
			assert_int_equal(skipped, n);
		}
	}
	/* One byte at a time, on 1 MiB of the first pattern. */
	for (i = 0; i < ((size_t)1 << 20); i += 8) {
		memset(p + i, 0x11, 6);
		p[i + 6] = 0xff;
		p[i + 7] = 0xff;
	}
	t = feed_timed(p, (size_t)1 << 20, 1, 0, &msgs, &errs, &skipped,
	    &copied);
	print_message("hostile, 1 MiB byte by byte: %.2f s, %llu copied\n", t,
	    (unsigned long long)copied);
	assert_int_equal(errs, 1);
	assert_int_equal(skipped, (size_t)1 << 20);
	assert_true(copied <= 4 * ((uint64_t)1 << 20));
}

/* Random streams: every feeding gives what feeding it whole gives. */
static void
test_random_streams(void **state)
{
	struct stream s;
	struct run whole, r;
	struct feeder fd;
	char name[80];
	uint64_t seed = 4242;
	int round, k, i, flags;

	(void)state;
	whole.ev = malloc(MAX_EVENTS * sizeof(*whole.ev));
	r.ev = malloc(MAX_EVENTS * sizeof(*r.ev));
	assert_non_null(whole.ev);
	assert_non_null(r.ev);
	for (round = 0; round < 300; round++) {
		st_init(&s);
		for (k = 0; k < 12; k++) {
			switch (rnd(&seed) % 6) {
			case 0:
				st_fill(&s, (int)(rnd(&seed) % 3 == 0 ? 0 :
				    rnd(&seed) & 0xff), 8 * (rnd(&seed) % 6));
				break;
			case 1:
				st_nested(&s);
				break;
			case 2:
				st_msg(&s, (uint16_t)(rnd(&seed) % 4 == 0 ?
				    65528 + rnd(&seed) % 8 : 16));
				break;
			default:
				st_msg(&s, (uint16_t)(20 + rnd(&seed) % 200));
				break;
			}
		}
		/* Damage a few bytes, maybe. */
		for (i = 0; i < (int)(rnd(&seed) % 3); i++)
			s.b[rnd(&seed) % s.len] = (uint8_t)rnd(&seed);
		if (rnd(&seed) % 4 == 0)
			s.len -= rnd(&seed) % (s.len < 40 ? s.len : 40);
		for (flags = 0; flags < 2; flags++) {
			memset(&fd, 0, sizeof(fd));
			feed_stream(&s, (unsigned)flags, fd, &whole);
			fd.how = FEED_RANDOM;
			for (i = 0; i < 4; i++) {
				fd.seed = rnd(&seed);
				feed_stream(&s, (unsigned)flags, fd, &r);
				assert_int_equal(r.n, whole.n);
				for (k = 0; k < r.n; k++) {
					if (ev_equal(&r.ev[k], &whole.ev[k]))
						continue;
					fail_msg("round %d %s: event %d "
					    "differs", round, feed_name(&fd,
					    name, sizeof(name)), k);
				}
				assert_int_equal(r.skipped, whole.skipped);
			}
		}
		st_free(&s);
	}
	free(whole.ev);
	free(r.ev);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_stream),
		cmocka_unit_test(test_short_stream_splits),
		cmocka_unit_test(test_empty_stream),
		cmocka_unit_test(test_zero_copy),
		cmocka_unit_test(test_eof_short_header),
		cmocka_unit_test(test_eof_truncated),
		cmocka_unit_test(test_error_stops),
		cmocka_unit_test(test_resync_garbage_before),
		cmocka_unit_test(test_resync_garbage_between),
		cmocka_unit_test(test_resync_chain_rules),
		cmocka_unit_test(test_resync_corrupt_length),
		cmocka_unit_test(test_resync_corrupt_pad),
		cmocka_unit_test(test_resync_all_garbage),
		cmocka_unit_test(test_resync_short_tail),
		cmocka_unit_test(test_resync_many),
		cmocka_unit_test(test_random_streams),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
