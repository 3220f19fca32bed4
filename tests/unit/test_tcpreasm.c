/*
 * test_tcpreasm.c - TCP reassembly against hand-made segment sequences.
 *
 * A recorder checks the callback contract on every call (open first,
 * close last, each direction's data and gaps contiguous from offset 0)
 * and keeps the bytes, so each test compares whole streams.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "tools/lib/tcpreasm.h"

/* --- the recorder ----------------------------------------------------- */

struct rdir {
	uint8_t *buf;		/* when storing: the stream, gaps as 0 */
	uint64_t len;		/* bytes covered by data and gaps */
	uint64_t data;		/* bytes delivered */
	uint64_t ngaps;
	uint64_t missing;
	uint64_t gap_off[4];	/* the first gaps */
	uint64_t gap_len[4];
};

struct rconn {
	int opened;
	int closed;
	char reason[32];
	struct reasm_conn snap;	/* as seen at open */
	struct rdir d[2];
};

/* One callback, in the order they came: for tests of order and time. */
struct revent {
	uint64_t conn;
	int dir;
	int gap;
	uint64_t off;
	uint64_t n;
	struct timespec ts;
};

#define REVENTS	64

struct rec {
	struct rconn *c;	/* indexed by id - 1 */
	size_t n;
	size_t cap;
	int store;		/* keep the bytes */
	int pattern;		/* check byte == offset % 251 at both ends */
	uint64_t closes;
	struct revent ev[REVENTS];	/* the first REVENTS data and gaps */
	size_t nev;
};

static void
rec_event(struct rec *rc, const struct reasm_conn *c, int dir, int gap,
    uint64_t off, uint64_t n, const struct timespec *ts)
{
	struct revent *e;

	if (rc->nev == REVENTS)
		return;
	e = &rc->ev[rc->nev++];
	e->conn = c->id;
	e->dir = dir;
	e->gap = gap;
	e->off = off;
	e->n = n;
	e->ts = *ts;
}

static struct rconn *
rec_conn(struct rec *rc, const struct reasm_conn *c)
{
	assert_true(c->id >= 1 && c->id <= rc->n);
	return &rc->c[c->id - 1];
}

static void
on_open(void *ctx, struct reasm_conn *c)
{
	struct rec *rc = ctx;
	struct rconn *x;

	/* Ids come in order: 1, 2, 3... */
	assert_int_equal(c->id, rc->n + 1);
	if (rc->n == rc->cap) {
		rc->cap = rc->cap ? rc->cap * 2 : 16;
		rc->c = realloc(rc->c, rc->cap * sizeof(*rc->c));
		assert_non_null(rc->c);
	}
	x = &rc->c[rc->n++];
	memset(x, 0, sizeof(*x));
	x->opened = 1;
	x->snap = *c;
}

static void
grow(struct rdir *d, uint64_t to)
{
	d->buf = realloc(d->buf, to > 0 ? to : 1);
	assert_non_null(d->buf);
}

static void
on_data(void *ctx, struct reasm_conn *c, int dir, uint64_t off,
    const uint8_t *p, size_t n, const struct timespec *ts)
{
	struct rec *rc = ctx;
	struct rconn *x = rec_conn(rc, c);
	struct rdir *d;

	assert_false(x->closed);
	assert_true(dir == 0 || dir == 1);
	assert_true(n > 0);
	d = &x->d[dir];
	assert_int_equal(off, d->len);
	rec_event(rc, c, dir, 0, off, n, ts);
	if (rc->store) {
		grow(d, off + n);
		memcpy(d->buf + off, p, n);
	}
	if (rc->pattern) {
		assert_int_equal(p[0], off % 251);
		assert_int_equal(p[n - 1], (off + n - 1) % 251);
	}
	d->len += n;
	d->data += n;
}

static void
on_gap(void *ctx, struct reasm_conn *c, int dir, uint64_t off,
    uint64_t missing, const struct timespec *ts)
{
	struct rec *rc = ctx;
	struct rconn *x = rec_conn(rc, c);
	struct rdir *d;

	assert_false(x->closed);
	assert_true(missing > 0);
	d = &x->d[dir];
	assert_int_equal(off, d->len);
	rec_event(rc, c, dir, 1, off, missing, ts);
	if (rc->store) {
		grow(d, off + missing);
		memset(d->buf + off, 0, missing);
	}
	if (d->ngaps < 4) {
		d->gap_off[d->ngaps] = off;
		d->gap_len[d->ngaps] = missing;
	}
	d->ngaps++;
	d->missing += missing;
	d->len += missing;
}

static void
on_close(void *ctx, struct reasm_conn *c, const char *reason)
{
	struct rec *rc = ctx;
	struct rconn *x = rec_conn(rc, c);

	assert_false(x->closed);
	x->closed = 1;
	snprintf(x->reason, sizeof(x->reason), "%s", reason);
	rc->closes++;
}

static const struct reasm_ops rec_ops = { on_open, on_data, on_gap,
    on_close };

static void
rec_free(struct rec *rc)
{
	size_t i;

	for (i = 0; i < rc->n; i++) {
		free(rc->c[i].d[0].buf);
		free(rc->c[i].d[1].buf);
	}
	free(rc->c);
	memset(rc, 0, sizeof(*rc));
}

static struct reasm *
new_reasm(struct rec *rc, const struct reasm_limits *lim)
{
	struct reasm *r;

	memset(rc, 0, sizeof(*rc));
	rc->store = 1;
	r = reasm_new(&rec_ops, rc, lim);
	assert_non_null(r);
	return r;
}

/* --- segments ------------------------------------------------------------ */

struct tuple {
	int family;
	uint8_t c[16];
	uint8_t s[16];
	uint16_t cport;
	uint16_t sport;
};

static struct tuple
tuple4(uint8_t last, uint16_t cport, uint16_t sport)
{
	struct tuple t;

	memset(&t, 0, sizeof(t));
	t.family = AF_INET;
	t.c[0] = 10;
	t.c[3] = last;
	t.s[0] = 10;
	t.s[3] = 200;
	t.cport = cport;
	t.sport = sport;
	return t;
}

static uint64_t frame_no;
/* When set, the time of the next segments; else one ms a frame. */
static struct timespec clock_at;

static void
feed_cut(struct reasm *r, const struct tuple *t, int dir, uint32_t seq,
    uint32_t ack, uint8_t flags, const void *p, uint32_t cap, uint32_t wire)
{
	struct tcp_segment s;

	memset(&s, 0, sizeof(s));
	s.family = t->family;
	memcpy(s.src, dir ? t->s : t->c, 16);
	memcpy(s.dst, dir ? t->c : t->s, 16);
	s.sport = dir ? t->sport : t->cport;
	s.dport = dir ? t->cport : t->sport;
	s.seq = seq;
	s.ack = ack;
	s.flags = flags;
	s.payload = p;
	s.caplen = cap;
	s.wirelen = wire;
	s.frame = ++frame_no;
	s.ts.tv_sec = 1700000000 + (time_t)(frame_no / 1000);
	s.ts.tv_nsec = (long)(frame_no % 1000) * 1000000;
	if (clock_at.tv_sec != 0)
		s.ts = clock_at;
	reasm_segment(r, &s);
}

/* A segment with data and an acknowledgement, at second `sec` + ms. */
static void
feed_at(struct reasm *r, const struct tuple *t, int dir, uint32_t seq,
    uint32_t ack, const void *p, uint32_t n, long ms)
{
	clock_at.tv_sec = 1700000000 + ms / 1000;
	clock_at.tv_nsec = ms % 1000 * 1000000;
	feed_cut(r, t, dir, seq, ack, TCP_SEG_ACK, p, n, n);
	clock_at.tv_sec = 0;
}

static void
assert_event(const struct revent *e, int dir, int gap, uint64_t off,
    uint64_t n, long ms)
{
	assert_int_equal(e->dir, dir);
	assert_int_equal(e->gap, gap);
	assert_int_equal(e->off, off);
	assert_int_equal(e->n, n);
	assert_int_equal(e->ts.tv_sec, 1700000000 + ms / 1000);
	assert_int_equal(e->ts.tv_nsec, ms % 1000 * 1000000);
}

static void
feed(struct reasm *r, const struct tuple *t, int dir, uint32_t seq,
    uint8_t flags, const void *p, uint32_t n)
{
	feed_cut(r, t, dir, seq, 0, flags | TCP_SEG_ACK, p, n, n);
}

/* SYN, SYN+ACK, ACK: streams start at cisn + 1 and sisn + 1. */
static void
handshake(struct reasm *r, const struct tuple *t, uint32_t cisn,
    uint32_t sisn)
{
	feed_cut(r, t, 0, cisn, 0, TCP_SEG_SYN, NULL, 0, 0);
	feed_cut(r, t, 1, sisn, cisn + 1, TCP_SEG_SYN | TCP_SEG_ACK, NULL,
	    0, 0);
	feed(r, t, 0, cisn + 1, 0, NULL, 0);
}

static void
fill(uint8_t *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 131 + seed * 7 + (i >> 8)) ^ seed);
}

static void
assert_stream(const struct rdir *d, const uint8_t *want, size_t n)
{
	assert_int_equal(d->len, n);
	assert_int_equal(d->ngaps, 0);
	assert_memory_equal(d->buf, want, n);
}

/* --- tests ------------------------------------------------------------------ */

static void
test_in_order(void **state)
{
	struct tuple t = tuple4(1, 40000, 5555);
	uint8_t c2s[3000], s2c[1000];
	struct rec rc;
	struct reasm *r = new_reasm(&rc, NULL);
	const struct reasm_stats *st;

	(void)state;
	fill(c2s, sizeof(c2s), 1);
	fill(s2c, sizeof(s2c), 2);
	handshake(r, &t, 1000, 9000);
	feed(r, &t, 0, 1001, TCP_SEG_PSH, c2s, 1000);
	feed(r, &t, 1, 9001, 0, NULL, 0);
	feed(r, &t, 0, 2001, TCP_SEG_PSH, c2s + 1000, 1500);
	feed(r, &t, 1, 9001, TCP_SEG_PSH, s2c, 1000);
	feed(r, &t, 0, 3501, TCP_SEG_PSH, c2s + 2500, 500);
	feed(r, &t, 0, 4001, TCP_SEG_FIN, NULL, 0);
	feed(r, &t, 1, 10001, TCP_SEG_FIN, NULL, 0);
	assert_int_equal(rc.n, 1);
	assert_true(rc.c[0].closed);	/* closed at the second FIN */
	assert_string_equal(rc.c[0].reason, "FIN");
	feed(r, &t, 0, 4002, 0, NULL, 0);	/* the last ACK: late */
	reasm_finish(r);
	assert_true(rc.c[0].snap.syn_seen);
	assert_int_equal(rc.c[0].snap.client.port, 40000);
	assert_int_equal(rc.c[0].snap.server.port, 5555);
	assert_int_equal(rc.c[0].snap.family, AF_INET);
	assert_stream(&rc.c[0].d[0], c2s, sizeof(c2s));
	assert_stream(&rc.c[0].d[1], s2c, sizeof(s2c));
	st = reasm_stats(r);
	assert_int_equal(st->bytes, 4000);
	assert_int_equal(st->dup_bytes, 0);
	assert_int_equal(st->connections, 1);
	assert_int_equal(st->late, 1);
	assert_int_equal(st->open, 0);
	assert_int_equal(st->mem, 0);
	reasm_free(r);
	rec_free(&rc);
}

static int
next_perm(int *a, int n)
{
	int i = n - 2, j = n - 1, k;

	while (i >= 0 && a[i] >= a[i + 1])
		i--;
	if (i < 0)
		return 0;
	while (a[j] <= a[i])
		j--;
	k = a[i], a[i] = a[j], a[j] = k;
	for (i++, j = n - 1; i < j; i++, j--)
		k = a[i], a[i] = a[j], a[j] = k;
	return 1;
}

/* Five data segments and the FIN, in all 720 orders. */
static void
test_permutations(void **state)
{
	static const uint32_t off[] = { 0, 10, 11, 300, 4400 };
	static const uint32_t len[] = { 10, 1, 289, 4100, 7000 };
	struct tuple t = tuple4(1, 40000, 5555);
	uint8_t s[11400];
	int perm[6] = { 0, 1, 2, 3, 4, 5 };
	unsigned runs = 0;
	uint64_t ooo = 0;

	(void)state;
	fill(s, sizeof(s), 3);
	do {
		struct rec rc;
		struct reasm *r = new_reasm(&rc, NULL);
		int i;

		handshake(r, &t, 0xfffff000u, 77);
		for (i = 0; i < 6; i++) {
			int k = perm[i];

			if (k == 5)
				feed(r, &t, 0, 0xfffff001u + 11400,
				    TCP_SEG_FIN, NULL, 0);
			else
				feed(r, &t, 0, 0xfffff001u + off[k], 0,
				    s + off[k], len[k]);
		}
		feed(r, &t, 1, 78, TCP_SEG_FIN, NULL, 0);
		assert_true(rc.c[0].closed);
		assert_string_equal(rc.c[0].reason, "FIN");
		assert_stream(&rc.c[0].d[0], s, sizeof(s));
		ooo += reasm_stats(r)->ooo_segments;
		reasm_finish(r);
		assert_int_equal(reasm_stats(r)->mem, 0);
		reasm_free(r);
		rec_free(&rc);
		runs++;
	} while (next_perm(perm, 6));
	assert_int_equal(runs, 720);
	assert_true(ooo > 0);
}

/*
 * Overlapping segments with different contents in random orders: each
 * byte must come from the first segment captured that holds it.
 */
static void
test_overlap_first_copy(void **state)
{
	enum { L = 600, NSEG = 12 };
	struct tuple t = tuple4(1, 40000, 5555);
	unsigned seed = 12345;
	int trial;

	(void)state;
	for (trial = 0; trial < 3000; trial++) {
		uint32_t a[NSEG], b[NSEG];
		uint8_t want[L], seg[L];
		int covered[L], order[NSEG], i, k;
		struct rec rc;
		struct reasm *r;

		for (i = 0; i < NSEG; i++) {
			if (i < 3) {	/* three that cover everything */
				a[i] = (uint32_t)i * (L / 3);
				b[i] = a[i] + L / 3;
			} else {
				a[i] = (uint32_t)(rand_r(&seed) % L);
				b[i] = a[i] + 1 +
				    (uint32_t)(rand_r(&seed) % (L - a[i]));
			}
			order[i] = i;
		}
		for (i = NSEG - 1; i > 0; i--) {
			int j = rand_r(&seed) % (i + 1);

			k = order[i], order[i] = order[j], order[j] = k;
		}
		memset(covered, 0, sizeof(covered));
		for (i = 0; i < NSEG; i++) {
			uint32_t o;

			k = order[i];
			for (o = a[k]; o < b[k]; o++) {
				if (!covered[o])
					want[o] = (uint8_t)(k * 37 + o);
				covered[o] = 1;
			}
		}
		r = new_reasm(&rc, NULL);
		handshake(r, &t, 5000, 6000);
		for (i = 0; i < NSEG; i++) {
			uint32_t o;

			k = order[i];
			for (o = a[k]; o < b[k]; o++)
				seg[o - a[k]] = (uint8_t)(k * 37 + o);
			feed(r, &t, 0, 5001 + a[k], 0, seg, b[k] - a[k]);
		}
		reasm_finish(r);
		assert_string_equal(rc.c[0].reason, "end of capture");
		assert_stream(&rc.c[0].d[0], want, L);
		reasm_free(r);
		rec_free(&rc);
	}
}

static void
test_retransmissions(void **state)
{
	struct tuple t = tuple4(1, 40000, 5555);
	uint8_t s[200], other[200];
	struct rec rc;
	struct reasm *r = new_reasm(&rc, NULL);

	(void)state;
	fill(s, sizeof(s), 4);
	memset(other, 0xee, sizeof(other));
	handshake(r, &t, 100, 200);
	feed(r, &t, 0, 101, 0, s, 100);			/* [0,100) */
	feed(r, &t, 0, 101, 0, other, 100);		/* full duplicate */
	feed(r, &t, 0, 151, 0, s + 50, 100);		/* [50,150) */
	feed(r, &t, 0, 181, 0, other, 20);		/* [180,200) ahead */
	feed(r, &t, 0, 141, 0, other, 50);		/* [140,190) */
	feed(r, &t, 0, 101, 0, other, 200);		/* everything */
	reasm_finish(r);
	/* [150,180) came first from `other`, the rest from s. */
	memset(s + 150, 0xee, 50);
	assert_stream(&rc.c[0].d[0], s, 200);
	/* dup: 100 + 50 + 10 (140..150) + 10 (180..190) + 200 */
	assert_int_equal(reasm_stats(r)->dup_bytes, 370);
	reasm_free(r);
	rec_free(&rc);
}

static void
test_wraparound(void **state)
{
	struct tuple t = tuple4(1, 40000, 5555);
	uint8_t s[1000];
	struct rec rc;
	struct reasm *r = new_reasm(&rc, NULL);
	uint32_t isn = 0xffffff00u;
	int i;

	(void)state;
	fill(s, sizeof(s), 5);
	handshake(r, &t, isn, 0xfffffffeu);
	/* Segments of 100 bytes, odd ones first: the wrap in a hole. */
	for (i = 1; i < 10; i += 2)
		feed(r, &t, 0, isn + 1 + (uint32_t)i * 100, 0, s + i * 100,
		    100);
	for (i = 0; i < 10; i += 2)
		feed(r, &t, 0, isn + 1 + (uint32_t)i * 100, 0, s + i * 100,
		    100);
	feed(r, &t, 1, 0xffffffffu, 0, s, 10);	/* server: 1 byte, wrap */
	reasm_finish(r);
	assert_stream(&rc.c[0].d[0], s, sizeof(s));
	assert_stream(&rc.c[0].d[1], s, 10);
	reasm_free(r);
	rec_free(&rc);
}

/* A stream past 4 GiB: offsets are 64-bit, sequence numbers wrap. */
static void
test_beyond_4gib(void **state)
{
	enum { SEG = 64000 };
	struct tuple t = tuple4(1, 40000, 5555);
	uint64_t total = ((uint64_t)9 << 29) + 123;	/* 4.5 GiB + 123 */
	uint8_t *pat = malloc(SEG + 251);
	uint64_t off, swap_at = (uint64_t)1 << 32;
	uint32_t isn = 0x12345678u;
	struct rec rc;
	struct reasm *r = new_reasm(&rc, NULL);
	size_t i;

	(void)state;
	assert_non_null(pat);
	rc.store = 0;
	rc.pattern = 1;
	for (i = 0; i < SEG + 251; i++)
		pat[i] = (uint8_t)(i % 251);
	swap_at -= swap_at % SEG;	/* a segment boundary below 2^32 */
	handshake(r, &t, isn, 1);
	for (off = 0; off < total; off += SEG) {
		uint32_t n = total - off < SEG ? (uint32_t)(total - off) : SEG;

		if (off == swap_at) {	/* the next segment first */
			feed(r, &t, 0, isn + 1 + (uint32_t)(off + SEG), 0,
			    pat + (off + SEG) % 251, SEG);
			feed(r, &t, 0, isn + 1 + (uint32_t)off, 0,
			    pat + off % 251, SEG);
			off += SEG;
			continue;
		}
		feed(r, &t, 0, isn + 1 + (uint32_t)off, 0, pat + off % 251, n);
	}
	/* Nothing held once the pair is delivered: back to the fast path. */
	assert_int_equal(reasm_stats(r)->mem, 0);
	reasm_finish(r);
	assert_int_equal(rc.c[0].d[0].len, total);
	assert_int_equal(rc.c[0].d[0].ngaps, 0);
	assert_int_equal(reasm_stats(r)->bytes, total);
	assert_int_equal(reasm_stats(r)->ooo_segments, 1);
	reasm_free(r);
	rec_free(&rc);
	free(pat);
}

static void
test_no_syn(void **state)
{
	struct tuple t = tuple4(1, 40000, 5555);
	struct tuple web = tuple4(2, 51000, 80);
	uint8_t s[500];
	struct rec rc;
	struct reasm *r = new_reasm(&rc, NULL);

	(void)state;
	fill(s, sizeof(s), 6);
	feed(r, &t, 1, 7000, 0, NULL, 0);	/* a bare ACK: no connection */
	assert_int_equal(rc.n, 0);
	feed(r, &t, 0, 123456, 0, s, 100);
	feed(r, &t, 1, 777, 0, s + 100, 50);
	feed(r, &t, 0, 123456 + 150, 0, s + 150, 100);	/* hole of 50 */
	feed(r, &t, 0, 123456 - 20, 0, s, 40);		/* before offset 0 */
	feed(r, &t, 0, 123456 + 100, 0, s + 100, 50);	/* fills the hole */
	/* The server speaks first here: port 80 < 1024 is the server. */
	feed(r, &web, 1, 5, 0, s, 30);
	feed(r, &web, 0, 9, 0, s + 30, 20);
	reasm_finish(r);
	assert_int_equal(rc.n, 2);
	assert_false(rc.c[0].snap.syn_seen);
	assert_int_equal(rc.c[0].snap.client.port, 40000);
	assert_stream(&rc.c[0].d[0], s, 250);
	assert_stream(&rc.c[0].d[1], s + 100, 50);
	assert_int_equal(rc.c[1].snap.client.port, 51000);
	assert_int_equal(rc.c[1].snap.server.port, 80);
	assert_stream(&rc.c[1].d[1], s, 30);
	assert_stream(&rc.c[1].d[0], s + 30, 20);
	reasm_free(r);
	rec_free(&rc);
}

static void
test_rst(void **state)
{
	struct tuple t = tuple4(1, 40000, 5555);
	uint8_t s[300];
	struct rec rc;
	struct reasm *r = new_reasm(&rc, NULL);

	(void)state;
	fill(s, sizeof(s), 7);
	handshake(r, &t, 10, 20);
	feed(r, &t, 0, 11, 0, s, 100);
	feed(r, &t, 0, 161, 0, s + 150, 50);	/* hole [100,150) */
	feed(r, &t, 1, 21, 0, s, 30);
	feed_cut(r, &t, 1, 51, 0, TCP_SEG_RST, NULL, 0, 0);
	assert_true(rc.c[0].closed);
	assert_string_equal(rc.c[0].reason, "RST");
	/* The hole became a gap, the bytes after it were delivered. */
	assert_int_equal(rc.c[0].d[0].ngaps, 1);
	assert_int_equal(rc.c[0].d[0].gap_off[0], 100);
	assert_int_equal(rc.c[0].d[0].gap_len[0], 50);
	assert_int_equal(rc.c[0].d[0].len, 200);
	assert_memory_equal(rc.c[0].d[0].buf + 150, s + 150, 50);
	feed(r, &t, 0, 211, 0, s + 200, 100);	/* late: dropped */
	assert_int_equal(rc.n, 1);
	assert_int_equal(rc.c[0].d[0].len, 200);
	/* A new SYN on the same addresses: a new connection. */
	handshake(r, &t, 5000, 6000);
	feed(r, &t, 0, 5001, 0, s, 10);
	reasm_finish(r);
	assert_int_equal(rc.n, 2);
	assert_stream(&rc.c[1].d[0], s, 10);
	assert_int_equal(reasm_stats(r)->late, 1);
	reasm_free(r);
	rec_free(&rc);
}

static void
test_fin_then_late_data(void **state)
{
	struct tuple t = tuple4(1, 40000, 5555);
	uint8_t s[200];
	struct rec rc;
	struct reasm *r = new_reasm(&rc, NULL);

	(void)state;
	fill(s, sizeof(s), 8);
	handshake(r, &t, 10, 20);
	feed(r, &t, 0, 11, 0, s, 50);
	feed(r, &t, 0, 111, TCP_SEG_FIN, s + 100, 50);	/* FIN at 150 */
	feed(r, &t, 0, 161, 0, s + 150, 50);	/* past the FIN: dropped */
	feed(r, &t, 0, 131, 0, s + 120, 50);	/* straddles the FIN */
	assert_int_equal(reasm_stats(r)->after_fin, 70);
	feed(r, &t, 1, 21, TCP_SEG_FIN, NULL, 0);
	assert_false(rc.c[0].closed);	/* a hole before the FIN remains */
	feed(r, &t, 0, 61, 0, s + 50, 50);	/* filled: now complete */
	assert_true(rc.c[0].closed);
	assert_string_equal(rc.c[0].reason, "FIN");
	assert_stream(&rc.c[0].d[0], s, 150);
	assert_int_equal(rc.c[0].d[1].len, 0);
	feed(r, &t, 0, 161, 0, s + 150, 50);	/* after close: late */
	assert_int_equal(reasm_stats(r)->late, 1);
	reasm_finish(r);
	reasm_free(r);
	rec_free(&rc);
}

static void
test_hole_at_end(void **state)
{
	struct tuple t = tuple4(1, 40000, 5555);
	uint8_t s[30];
	struct rec rc;
	struct reasm *r = new_reasm(&rc, NULL);
	struct rdir *d;

	(void)state;
	fill(s, sizeof(s), 9);
	handshake(r, &t, 10, 20);
	feed(r, &t, 0, 11, 0, s, 10);
	feed(r, &t, 0, 31, 0, s + 20, 10);
	assert_int_equal(rc.c[0].d[0].len, 10);	/* waiting for [10,20) */
	reasm_finish(r);
	d = &rc.c[0].d[0];
	assert_string_equal(rc.c[0].reason, "end of capture");
	assert_int_equal(d->ngaps, 1);
	assert_int_equal(d->gap_off[0], 10);
	assert_int_equal(d->gap_len[0], 10);
	assert_int_equal(d->len, 30);
	assert_memory_equal(d->buf, s, 10);
	assert_memory_equal(d->buf + 20, s + 20, 10);
	assert_int_equal(reasm_stats(r)->gap_bytes, 10);
	reasm_free(r);
	rec_free(&rc);
}

/* Bytes cut by the snaplen are a gap at once, in order or not. */
static void
test_snaplen_cut(void **state)
{
	struct tuple t = tuple4(1, 40000, 5555);
	uint8_t s[400];
	struct rec rc;
	struct reasm *r = new_reasm(&rc, NULL);
	struct rdir *d = NULL;

	(void)state;
	fill(s, sizeof(s), 10);
	handshake(r, &t, 10, 20);
	feed_cut(r, &t, 0, 11, 0, TCP_SEG_ACK, s, 30, 100);
	d = &rc.c[0].d[0];
	assert_int_equal(d->len, 100);
	assert_int_equal(d->ngaps, 1);
	assert_int_equal(d->gap_off[0], 30);
	/* [200,300) cut to 30 arrives before [100,200). */
	feed_cut(r, &t, 0, 211, 0, TCP_SEG_ACK, s + 200, 30, 100);
	feed_cut(r, &t, 0, 311, 0, TCP_SEG_ACK, s + 300, 100, 100);
	feed(r, &t, 0, 111, 0, s + 100, 100);
	/* All delivered without waiting for the end. */
	assert_int_equal(d->len, 400);
	assert_int_equal(d->ngaps, 2);
	assert_int_equal(d->gap_off[1], 230);
	assert_int_equal(d->gap_len[1], 70);
	assert_memory_equal(d->buf + 100, s + 100, 130);
	assert_memory_equal(d->buf + 300, s + 300, 100);
	reasm_finish(r);
	reasm_free(r);
	rec_free(&rc);
}

/* The out-of-order window: past it the hole is a gap, then it goes on. */
static void
test_window_limit(void **state)
{
	struct reasm_limits lim = { REASM_WINDOW_MIN, 0, 0, 0 };
	struct tuple t = tuple4(1, 40000, 5555);
	size_t total = 3 * REASM_WINDOW_MIN + 777;	/* not page-aligned */
	uint8_t *s = malloc(total);
	struct rec rc;
	struct reasm *r = new_reasm(&rc, &lim);
	struct rdir *d;
	size_t off;

	(void)state;
	assert_non_null(s);
	fill(s, total, 11);
	handshake(r, &t, 10, 20);
	feed(r, &t, 0, 11, 0, s, 100);
	/* Lose [100, 1100), send the rest in order. */
	for (off = 1100; off < total; off += 1000) {
		uint32_t n = total - off < 1000 ? (uint32_t)(total - off) :
		    1000;

		feed(r, &t, 0, 11 + (uint32_t)off, 0, s + off, n);
		assert_true(reasm_stats(r)->mem <= REASM_WINDOW_MIN * 2);
	}
	d = &rc.c[0].d[0];
	assert_int_equal(reasm_stats(r)->window_flushes, 1);
	assert_int_equal(d->ngaps, 1);
	assert_int_equal(d->gap_off[0], 100);
	assert_int_equal(d->gap_len[0], 1000);
	/* Recovered: everything after the hole is delivered already. */
	assert_int_equal(d->len, total);
	assert_int_equal(reasm_stats(r)->mem, 0);
	feed(r, &t, 0, 111, 0, s + 100, 1000);	/* too late */
	reasm_finish(r);
	assert_int_equal(d->len, total);
	assert_memory_equal(d->buf, s, 100);
	assert_memory_equal(d->buf + 1100, s + 1100, total - 1100);
	reasm_free(r);
	rec_free(&rc);
	free(s);
}

static void
test_two_connections(void **state)
{
	struct tuple a = tuple4(1, 40000, 5555);
	struct tuple b = tuple4(2, 40001, 5555);
	struct tuple c6 = tuple4(3, 40002, 5555);
	uint8_t s[1000];
	struct rec rc;
	struct reasm *r = new_reasm(&rc, NULL);
	int i;

	(void)state;
	fill(s, sizeof(s), 12);
	c6.family = AF_INET6;
	c6.c[15] = 1;
	handshake(r, &a, 100, 200);
	handshake(r, &b, 300, 400);
	handshake(r, &c6, 100, 200);
	for (i = 0; i < 10; i++) {
		feed(r, &b, 0, 301 + (uint32_t)i * 100, 0, s + i * 100, 100);
		feed(r, &a, 1, 201 + (uint32_t)(9 - i) * 100, 0,
		    s + (9 - i) * 100, 100);
		feed(r, &c6, 0, 101 + (uint32_t)i * 50, 0, s + i * 50, 50);
	}
	reasm_finish(r);
	assert_int_equal(rc.n, 3);
	assert_int_equal(rc.c[0].snap.client.port, 40000);
	assert_int_equal(rc.c[1].snap.client.port, 40001);
	assert_int_equal(rc.c[2].snap.family, AF_INET6);
	assert_stream(&rc.c[0].d[1], s, 1000);
	assert_stream(&rc.c[1].d[0], s, 1000);
	assert_stream(&rc.c[2].d[0], s, 500);
	assert_int_equal(rc.c[0].d[0].len, 0);
	reasm_free(r);
	rec_free(&rc);
}

static void
test_tuple_reuse(void **state)
{
	struct tuple t = tuple4(1, 40000, 5555);
	uint8_t s[100];
	struct rec rc;
	struct reasm *r = new_reasm(&rc, NULL);

	(void)state;
	fill(s, sizeof(s), 13);
	handshake(r, &t, 10, 20);
	feed(r, &t, 0, 11, 0, s, 10);
	feed(r, &t, 0, 21, TCP_SEG_FIN, NULL, 0);
	feed(r, &t, 1, 21, TCP_SEG_FIN, NULL, 0);
	feed(r, &t, 0, 22, 0, NULL, 0);
	/* Reused after FIN: a fresh stream. */
	handshake(r, &t, 90000, 80000);
	feed(r, &t, 0, 90001, 0, s + 10, 20);
	/* The same SYN again (retransmitted): ignored. */
	feed_cut(r, &t, 0, 90000, 0, TCP_SEG_SYN, NULL, 0, 0);
	/* Reused without a captured end: the old one closes. */
	handshake(r, &t, 70000, 60000);
	feed(r, &t, 0, 70001, 0, s + 30, 30);
	reasm_finish(r);
	assert_int_equal(rc.n, 3);
	assert_string_equal(rc.c[0].reason, "FIN");
	assert_string_equal(rc.c[1].reason, "reused");
	assert_string_equal(rc.c[2].reason, "end of capture");
	assert_stream(&rc.c[0].d[0], s, 10);
	assert_stream(&rc.c[1].d[0], s + 10, 20);
	assert_stream(&rc.c[2].d[0], s + 30, 30);
	reasm_free(r);
	rec_free(&rc);
}

static void
test_eviction(void **state)
{
	struct reasm_limits lim = { 0, 3, 0, 0 };
	struct tuple t[5];
	uint8_t s[100];
	struct rec rc;
	struct reasm *r = new_reasm(&rc, &lim);
	int i;

	(void)state;
	fill(s, sizeof(s), 14);
	for (i = 0; i < 5; i++)
		t[i] = tuple4((uint8_t)(i + 1), (uint16_t)(40000 + i), 5555);
	for (i = 0; i < 3; i++) {
		handshake(r, &t[i], 100, 200);
		feed(r, &t[i], 0, 101, 0, s, 10);
		feed(r, &t[i], 0, 121, 0, s + 20, 10);	/* hole [10,20) */
	}
	feed(r, &t[0], 0, 131, 0, s + 30, 10);	/* conn 1 active again */
	handshake(r, &t[3], 100, 200);		/* evicts conn 2 */
	assert_true(rc.c[1].closed);
	assert_string_equal(rc.c[1].reason, "evicted");
	assert_false(rc.c[0].closed);
	/* Its buffered bytes came out behind a gap. */
	assert_int_equal(rc.c[1].d[0].ngaps, 1);
	assert_int_equal(rc.c[1].d[0].len, 30);
	assert_memory_equal(rc.c[1].d[0].buf + 20, s + 20, 10);
	assert_int_equal(reasm_stats(r)->open, 3);
	/* More of conn 2: a new connection, mid-stream. */
	feed(r, &t[1], 0, 131, 0, s + 30, 10);
	assert_int_equal(rc.n, 5);
	assert_string_equal(rc.c[2].reason, "evicted");
	assert_false(rc.c[4].snap.syn_seen);
	reasm_finish(r);
	assert_int_equal(reasm_stats(r)->evicted, 2);
	assert_stream(&rc.c[4].d[0], s + 30, 10);
	reasm_free(r);
	rec_free(&rc);
}

/*
 * A flood of 1-byte segments all over the window, then out of range: the
 * memory stays within the window's worth of pages, and it stays fast.
 */
static void
test_hostile_flood(void **state)
{
	struct tuple t = tuple4(1, 40000, 5555);
	uint8_t b = 0x5a;
	unsigned seed = 99;
	struct rec rc;
	struct reasm *r = new_reasm(&rc, NULL);
	const struct reasm_stats *st = reasm_stats(r);
	clock_t t0 = clock();
	uint64_t end = 0;
	int i;

	(void)state;
	rc.store = 0;
	handshake(r, &t, 0, 0);
	for (i = 0; i < 1000000; i++) {
		uint32_t off = 1 + 2 * (uint32_t)(rand_r(&seed) %
		    (REASM_WINDOW_DEFAULT * 3));

		feed(r, &t, 0, 1 + off, 0, &b, 1);
		if (off + 1 > end)
			end = off + 1;
	}
	/* 1024 pages of 5 KiB and their table, at most. */
	assert_true(st->mem_peak <= REASM_WINDOW_DEFAULT * 5 / 4 + 65536);
	assert_true(st->window_flushes > 0);
	reasm_finish(r);
	assert_int_equal(st->mem, 0);
	/* Every byte up to the furthest seen is data or gap. */
	assert_int_equal(rc.c[0].d[0].len, end);
	assert_true(rc.c[0].d[0].data > 0);
	/* Generous: a quadratic algorithm takes hours here. */
	assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 60.0);
	reasm_free(r);
	rec_free(&rc);
}

/* Many connections each holding a little: mem_total holds for all. */
static void
test_memory_total(void **state)
{
	struct reasm_limits lim = { 0, 0, (size_t)1 << 20, 0 };
	uint8_t s[4000];	/* the pieces reach 4000 */
	struct rec rc;
	struct reasm *r = new_reasm(&rc, &lim);
	const struct reasm_stats *st = reasm_stats(r);
	int i, k;

	(void)state;
	fill(s, sizeof(s), 15);
	for (i = 0; i < 1000; i++) {
		struct tuple t = tuple4((uint8_t)(i & 0xff),
		    (uint16_t)(10000 + i), 5555);

		handshake(r, &t, 0, 0);
		for (k = 0; k < 4; k++)	/* holes between 500-byte pieces */
			feed(r, &t, 0, 1 + 1000 * (uint32_t)k + 500, 0,
			    s + 1000 * k + 500, 500);
		assert_true(st->mem <= lim.mem_total + 16384 + 5120 * 2);
	}
	assert_true(st->mem_flushes > 0);
	reasm_finish(r);
	for (i = 0; i < 1000; i++) {
		struct rdir *d = &rc.c[i].d[0];

		assert_int_equal(d->len, 4000);
		assert_int_equal(d->data, 2000);
		assert_memory_equal(d->buf + 500, s + 500, 500);
		assert_memory_equal(d->buf + 3500, s + 3500, 500);
	}
	assert_int_equal(st->mem, 0);
	reasm_free(r);
	rec_free(&rc);
}

/*
 * Random segments on a few addresses with random flags, sequence numbers
 * and cuts, under small limits: every path (eviction, window and memory
 * flushes, tombstones, reuse) runs, and the recorder checks the contract
 * on every call. Nothing may be held at the end.
 */
static void
test_random_contract(void **state)
{
	struct reasm_limits lim = { REASM_WINDOW_MIN, 2, 64 << 10, 0 };
	static const uint8_t fl[] = { 0, TCP_SEG_SYN, TCP_SEG_FIN, TCP_SEG_RST,
	    TCP_SEG_SYN | TCP_SEG_ACK, TCP_SEG_PSH };
	static uint8_t payload[70000];
	struct tuple t[3];
	unsigned seed = 4242;
	struct rec rc;
	struct reasm *r = new_reasm(&rc, &lim);
	const struct reasm_stats *st = reasm_stats(r);
	uint64_t closes;
	int i;

	(void)state;
	rc.store = 0;
	fill(payload, sizeof(payload), 17);
	for (i = 0; i < 3; i++)
		t[i] = tuple4((uint8_t)(i + 1), (uint16_t)(1000 + i * 30000),
		    (uint16_t)(2000 - i));
	for (i = 0; i < 200000; i++) {
		const struct tuple *x = &t[rand_r(&seed) % 3];
		int dir = rand_r(&seed) % 2;
		/* Mostly near each other; now and then anywhere. */
		uint32_t seq = rand_r(&seed) % 8 == 0 ? (uint32_t)rand_r(&seed) *
		    2u : (uint32_t)(rand_r(&seed) % (3 * REASM_WINDOW_MIN));
		uint32_t wire = rand_r(&seed) % 4 == 0 ? 0 :
		    (uint32_t)(rand_r(&seed) % (rand_r(&seed) % 2 ? 3000 :
		    65535));
		uint32_t cap = rand_r(&seed) % 5 == 0 ?
		    (uint32_t)rand_r(&seed) % (wire + 1) : wire;
		uint8_t f = (uint8_t)(TCP_SEG_ACK |
		    (rand_r(&seed) % 10 == 0 ? fl[rand_r(&seed) % 6] : 0));

		feed_cut(r, x, dir, seq, (uint32_t)rand_r(&seed), f, payload,
		    cap, wire);
		assert_true(st->mem <= lim.mem_total + 20 * 5120 +
		    REASM_WINDOW_MIN / 4096 * 8 * 2);
		assert_true(st->open <= 2);
	}
	assert_true(st->evicted > 0);
	assert_true(st->mem_flushes + st->window_flushes > 0);
	assert_true(st->late > 0);
	reasm_finish(r);
	assert_int_equal(st->mem, 0);
	assert_int_equal(st->open, 0);
	/* Every connection opened was closed, once. */
	closes = 0;
	for (i = 0; i < (int)rc.n; i++)
		closes += (uint64_t)rc.c[i].closed;
	assert_int_equal(closes, rc.n);
	assert_int_equal(rc.closes, rc.n);
	assert_int_equal(st->connections, rc.n);
	reasm_free(r);
	rec_free(&rc);
}

/*
 * A segment the capture lost: the peer's acknowledgement of bytes past
 * the hole gives the hole up before the peer's own data is handled (a
 * reply after its command), and the bytes held keep their own times.
 */
static void
test_ack_gives_up(void **state)
{
	struct tuple t = tuple4(1, 40000, 5555);
	uint8_t s[400];
	struct rec rc;
	struct reasm *r = new_reasm(&rc, NULL);

	(void)state;
	fill(s, sizeof(s), 20);
	handshake(r, &t, 1000, 5000);
	rc.nev = 0;
	feed_at(r, &t, 0, 1001, 5001, s, 100, 10);		/* [0,100) */
	/* [100,200) lost; [200,300) and [300,400) held. */
	feed_at(r, &t, 0, 1201, 5001, s + 200, 100, 20);
	feed_at(r, &t, 0, 1301, 5001, s + 300, 100, 30);
	assert_int_equal(rc.nev, 1);
	/* The server had it all: its reply acknowledges byte 400. */
	feed_at(r, &t, 1, 5001, 1401, s, 50, 40);
	assert_int_equal(rc.nev, 5);
	assert_event(&rc.ev[0], 0, 0, 0, 100, 10);
	assert_event(&rc.ev[1], 0, 1, 100, 100, 20);	/* where it is */
	assert_event(&rc.ev[2], 0, 0, 200, 100, 20);	/* own time */
	assert_event(&rc.ev[3], 0, 0, 300, 100, 30);
	assert_event(&rc.ev[4], 1, 0, 0, 50, 40);	/* after them */
	assert_int_equal(reasm_stats(r)->ack_flushes, 1);
	assert_int_equal(reasm_stats(r)->mem, 0);
	/* The lost bytes, retransmitted too late: dropped. */
	feed_at(r, &t, 0, 1101, 5051, s + 100, 100, 50);
	assert_int_equal(rc.nev, 5);
	reasm_finish(r);
	reasm_free(r);
	rec_free(&rc);
}

/*
 * The acknowledgement came first (captured before the bytes past the
 * hole): they come out as they arrive. One past what was seen gives up
 * only what was seen.
 */
static void
test_ack_first(void **state)
{
	struct tuple t = tuple4(1, 40000, 5555);
	uint8_t s[400];
	struct rec rc;
	struct reasm *r = new_reasm(&rc, NULL);

	(void)state;
	fill(s, sizeof(s), 21);
	handshake(r, &t, 1000, 5000);
	rc.nev = 0;
	feed_at(r, &t, 0, 1001, 5001, s, 100, 10);
	feed_at(r, &t, 1, 5001, 1301, s, 50, 20);	/* acks up to 300 */
	assert_int_equal(rc.nev, 2);
	feed_at(r, &t, 0, 1201, 5051, s + 200, 100, 30);
	assert_int_equal(rc.nev, 4);
	assert_event(&rc.ev[2], 0, 1, 100, 100, 30);
	assert_event(&rc.ev[3], 0, 0, 200, 100, 30);
	/* Acked to 400, seen to 300: [300,400) may still come, and does. */
	feed_at(r, &t, 1, 5051, 1401, NULL, 0, 40);
	feed_at(r, &t, 0, 1301, 5051, s + 300, 100, 50);
	assert_int_equal(rc.nev, 5);
	assert_event(&rc.ev[4], 0, 0, 300, 100, 50);
	reasm_finish(r);
	assert_int_equal(rc.c[0].d[0].ngaps, 1);
	reasm_free(r);
	rec_free(&rc);
}

/*
 * Only the client's segments in the capture (a filter kept one way): no
 * acknowledgement will come, so its FIN ends the wait.
 */
static void
test_fin_one_way(void **state)
{
	struct tuple t = tuple4(1, 40000, 5555);
	uint8_t s[300];
	struct rec rc;
	struct reasm *r = new_reasm(&rc, NULL);

	(void)state;
	fill(s, sizeof(s), 22);
	feed_cut(r, &t, 0, 1000, 0, TCP_SEG_SYN, NULL, 0, 0);
	feed(r, &t, 0, 1001, 0, s, 100);
	feed(r, &t, 0, 1201, 0, s + 200, 100);
	assert_int_equal(rc.c[0].d[0].len, 100);
	feed(r, &t, 0, 1301, TCP_SEG_FIN, NULL, 0);
	assert_int_equal(rc.c[0].d[0].len, 300);
	assert_int_equal(rc.c[0].d[0].ngaps, 1);
	assert_int_equal(rc.c[0].d[0].gap_off[0], 100);
	assert_int_equal(reasm_stats(r)->fin_flushes, 1);
	assert_false(rc.c[0].closed);
	reasm_finish(r);
	reasm_free(r);
	rec_free(&rc);
}

/*
 * Nothing else ends the wait (one way, no FIN yet): the capture clock
 * does, `wait` after the hole began to hold bytes, whichever connection
 * moves the clock. A hole filled in time is no gap.
 */
static void
test_wait(void **state)
{
	struct reasm_limits lim = { 0, 0, 0, 500000000 };	/* 0.5 s */
	struct tuple t = tuple4(1, 40000, 5555);
	struct tuple other = tuple4(2, 40001, 5555);
	uint8_t s[400];
	struct rec rc;
	struct reasm *r = new_reasm(&rc, &lim);

	(void)state;
	fill(s, sizeof(s), 23);
	feed_at(r, &t, 0, 1000, 0, s, 100, 0);
	feed_at(r, &t, 0, 1200, 0, s + 200, 100, 100);	/* held */
	feed_at(r, &t, 0, 1100, 0, s + 100, 100, 400);	/* filled */
	assert_int_equal(rc.c[0].d[0].len, 300);
	assert_int_equal(rc.c[0].d[0].ngaps, 0);
	rc.nev = 0;
	feed_at(r, &t, 0, 1400, 0, s, 50, 1000);	/* [400,450) held */
	feed_at(r, &other, 0, 1, 0, s, 10, 1400);
	assert_int_equal(rc.nev, 1);			/* 0.4 s: waits */
	feed_at(r, &other, 0, 11, 0, s, 10, 1600);	/* 0.6 s: no more */
	assert_int_equal(rc.nev, 4);
	assert_event(&rc.ev[1], 0, 1, 300, 100, 1000);
	assert_event(&rc.ev[2], 0, 0, 400, 50, 1000);
	assert_int_equal(rc.ev[3].conn, 2);
	assert_int_equal(reasm_stats(r)->wait_flushes, 1);
	reasm_finish(r);
	reasm_free(r);
	rec_free(&rc);
}

/*
 * Bytes that waited behind a hole come out no earlier than any byte
 * before them arrived: the filling segment's time when a hole fills;
 * after a gap, their own (out of order among themselves: the later).
 */
static void
test_held_times(void **state)
{
	struct tuple t = tuple4(1, 40000, 5555);
	uint8_t s[500];
	struct rec rc;
	struct reasm *r = new_reasm(&rc, NULL);

	(void)state;
	fill(s, sizeof(s), 24);
	handshake(r, &t, 1000, 5000);
	feed_at(r, &t, 0, 1001, 5001, s, 100, 10);
	feed_at(r, &t, 0, 1301, 5001, s + 300, 100, 20);
	feed_at(r, &t, 0, 1201, 5001, s + 200, 100, 30);
	rc.nev = 0;
	feed_at(r, &t, 0, 1101, 5001, s + 100, 100, 40);	/* fills */
	assert_int_equal(rc.nev, 1);
	assert_event(&rc.ev[0], 0, 0, 100, 300, 40);
	/* [400,450) lost; what follows came out of order, then the ack. */
	rc.nev = 0;
	feed_at(r, &t, 0, 1461, 5001, s + 460, 20, 50);	/* [460,480) */
	feed_at(r, &t, 0, 1451, 5001, s + 450, 10, 60);	/* [450,460) */
	feed_at(r, &t, 0, 1481, 5001, s + 480, 20, 65);	/* [480,500) */
	feed_at(r, &t, 1, 5001, 1501, NULL, 0, 70);	/* acked: a gap */
	assert_int_equal(rc.nev, 3);
	assert_event(&rc.ev[0], 0, 1, 400, 50, 60);
	assert_event(&rc.ev[1], 0, 0, 450, 30, 60);	/* 50 < 60 */
	assert_event(&rc.ev[2], 0, 0, 480, 20, 65);	/* not 70 */
	assert_int_equal(reasm_stats(r)->mem, 0);
	reasm_finish(r);
	reasm_free(r);
	rec_free(&rc);
}

static void
test_limits(void **state)
{
	struct reasm_limits lim = { 1000, 0, 0, 0 };

	(void)state;
	errno = 0;
	assert_null(reasm_new(&rec_ops, NULL, &lim));
	assert_int_equal(errno, EINVAL);
}

/* reasm_free without reasm_finish, with data held: no leak, no call. */
static void
test_free_unfinished(void **state)
{
	struct tuple t = tuple4(1, 40000, 5555);
	uint8_t s[100];
	struct rec rc;
	struct reasm *r = new_reasm(&rc, NULL);

	(void)state;
	fill(s, sizeof(s), 16);
	handshake(r, &t, 1, 2);
	feed(r, &t, 0, 52, 0, s, 50);
	reasm_free(r);
	assert_int_equal(rc.closes, 0);
	rec_free(&rc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order),
		cmocka_unit_test(test_permutations),
		cmocka_unit_test(test_overlap_first_copy),
		cmocka_unit_test(test_retransmissions),
		cmocka_unit_test(test_wraparound),
		cmocka_unit_test(test_beyond_4gib),
		cmocka_unit_test(test_no_syn),
		cmocka_unit_test(test_rst),
		cmocka_unit_test(test_fin_then_late_data),
		cmocka_unit_test(test_hole_at_end),
		cmocka_unit_test(test_snaplen_cut),
		cmocka_unit_test(test_window_limit),
		cmocka_unit_test(test_two_connections),
		cmocka_unit_test(test_tuple_reuse),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_hostile_flood),
		cmocka_unit_test(test_memory_total),
		cmocka_unit_test(test_random_contract),
		cmocka_unit_test(test_ack_gives_up),
		cmocka_unit_test(test_ack_first),
		cmocka_unit_test(test_fin_one_way),
		cmocka_unit_test(test_wait),
		cmocka_unit_test(test_held_times),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_free_unfinished),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
