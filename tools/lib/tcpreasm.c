/*
 * tcpreasm.c - TCP reassembly for captures.
 *
 * Each direction keeps `next`, the stream offset of the first byte not yet
 * delivered. A segment that starts at or before `next` while nothing is
 * buffered is delivered straight from the packet: the common case costs no
 * copy. Anything else goes into the direction's out-of-order window, a
 * ring of 4 KiB pages covering the stream from `next` to `next + window`,
 * allocated only where data lands. Each page has a bitmap of the bytes
 * present (a byte already present is never overwritten: the first copy
 * wins) and one of the bytes known lost (cut off by the snaplen). Storing
 * and draining cost time proportional to the bytes, never to the number
 * of segments buffered, so a flood of tiny out-of-order segments is as
 * cheap as one big one and memory is bounded by the window.
 *
 * A hole is waited for, but not for ever: it becomes a gap when the peer
 * acknowledges bytes past its start (the receiver had them, the capture
 * missed them), when the direction's FIN or RST comes, when the capture
 * clock has gone `wait` past the time the direction began to hold data
 * behind it, or when the window or the memory limit is reached. Held
 * bytes keep the time of the segment that brought them (a sorted array
 * of runs of equal arrival time per direction, bounded), so bytes given
 * out after a gap carry their own time, not that of the segment that
 * ended the wait.
 *
 * Connections are found through a tsearch(3) tree keyed by the ordered
 * pair of end points: logarithmic whatever the addresses, so crafted
 * collisions cannot slow it down. Open connections sit on an LRU list for
 * eviction and on a list in order of id for reasm_finish(); closed ones
 * stay a while as tombstones that absorb late segments.
 */
#include <errno.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tcpreasm.h"

#define PG_SHIFT	12
#define PG_SIZE		((size_t)1 << PG_SHIFT)
#define PG_MASK		(PG_SIZE - 1)
#define PG_WORDS	(PG_SIZE / 64)

/* Runs of arrival times a direction keeps; past it, times merge. */
#define RUNS_MAX	1024
#define RUNS_MIN	8

/* A piece of one direction's out-of-order window. */
struct page {
	uint64_t present[PG_WORDS];	/* data[i] holds a captured byte */
	uint64_t lost[PG_WORDS];	/* byte i will never be captured */
	uint8_t data[PG_SIZE];
};

/* Intrusive doubly linked list; a list is a sentinel link. */
struct link {
	struct link *prev;
	struct link *next;
};

/* Held bytes from `off` up to the next run's start arrived at `ts`. */
struct trun {
	uint64_t off;
	struct timespec ts;
};

struct conn;

struct dir {
	struct conn *conn;
	int idx;		/* 0 client -> server, 1 server -> client */
	int seen;		/* a segment of this direction was captured */
	int have_base;		/* offset 0 is known */
	uint32_t base;		/* sequence number of offset 0 */
	uint64_t next;		/* first byte not yet delivered or gapped */
	uint64_t high;		/* end of the furthest segment seen */
	uint64_t acked;		/* the peer acknowledged the bytes below */
	int fin;
	uint64_t fin_off;	/* stream ends here */
	uint64_t gap_at;	/* a gap being gathered, not yet reported */
	uint64_t gap_n;
	struct page **slots;	/* npages; NULL while nothing is held */
	size_t held;		/* pages in slots */
	struct link buffered;	/* on reasm.buffered while held > 0 */
	struct link holding;	/* on reasm.holding while held > 0 */
	struct timespec hold_since; /* capture clock when the wait began */
	struct trun *runs;	/* runs[rhead .. rhead + rn), by offset */
	size_t rhead;
	size_t rn;
	size_t rcap;
	int have_last;		/* last: time of the bytes given out last, */
	struct timespec last;	/* since the last gap */
};

/* Both end points, the smaller first: the same for both directions. */
struct connkey {
	uint8_t addr[2][16];
	uint16_t port[2];
	uint8_t family;
	uint8_t pad;		/* zero: keys are compared with memcmp */
};

struct conn {
	struct reasm_conn pub;
	struct connkey key;
	int closed;		/* a tombstone */
	int have_isn;
	uint32_t client_isn;	/* sequence number of the client's SYN */
	struct dir d[2];
	struct link order;	/* open: reasm.open; closed: reasm.dead */
	struct link lru;	/* open only: reasm.lru, recent first */
};

struct reasm {
	struct reasm_ops ops;
	void *ctx;
	size_t npages;		/* window / PG_SIZE */
	size_t max_conns;
	size_t mem_total;
	void *root;		/* tsearch tree of struct connkey * */
	struct conn *last;	/* the last connection looked up */
	struct link open;	/* open connections by id */
	struct link lru;	/* open connections, most recent first */
	struct link dead;	/* tombstones, oldest first */
	size_t ndead;
	struct link buffered;	/* directions holding pages, recent first */
	struct link holding;	/* the same, by hold_since, oldest first */
	uint64_t wait_ns;	/* how long a hole is waited for */
	uint64_t next_id;
	struct timespec now;	/* time of the segment being handled */
	struct timespec clock;	/* the latest capture time seen */
	int have_clock;
	struct reasm_stats st;
};

static void conn_close(struct reasm *, struct conn *, const char *, int);

/* --- lists ---------------------------------------------------------- */

static void
list_init(struct link *l)
{
	l->prev = l;
	l->next = l;
}

static int
list_empty(const struct link *l)
{
	return l->next == l;
}

static void
list_remove(struct link *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->prev = e;
	e->next = e;
}

static void
list_insert_after(struct link *pos, struct link *e)
{
	e->prev = pos;
	e->next = pos->next;
	pos->next->prev = e;
	pos->next = e;
}

static void
list_move_head(struct link *l, struct link *e)
{
	list_remove(e);
	list_insert_after(l, e);
}

static void
list_insert_tail(struct link *l, struct link *e)
{
	list_insert_after(l->prev, e);
}

static struct conn *
conn_of_order(struct link *e)
{
	return (struct conn *)(void *)((char *)e -
	    offsetof(struct conn, order));
}

static struct conn *
conn_of_lru(struct link *e)
{
	return (struct conn *)(void *)((char *)e - offsetof(struct conn, lru));
}

static struct conn *
conn_of_key(const struct connkey *k)
{
	return (struct conn *)(void *)((char *)k - offsetof(struct conn, key));
}

static struct dir *
dir_of_buffered(struct link *e)
{
	return (struct dir *)(void *)((char *)e -
	    offsetof(struct dir, buffered));
}

static struct dir *
dir_of_holding(struct link *e)
{
	return (struct dir *)(void *)((char *)e -
	    offsetof(struct dir, holding));
}

/* --- times ------------------------------------------------------------ */

static int
ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec ? -1 : 1;
	return 0;
}

/* Whether `now` is more than `ns` after `then`; no overflow. */
static int
ts_past(const struct timespec *then, const struct timespec *now, uint64_t ns)
{
	int64_t ds;
	uint64_t d;

	if (ts_cmp(now, then) <= 0)
		return 0;
	ds = (int64_t)((uint64_t)now->tv_sec - (uint64_t)then->tv_sec);
	if (ds < 0 || (uint64_t)ds > ns / 1000000000 + 1)
		return 1;
	d = (uint64_t)ds * 1000000000 + (uint64_t)now->tv_nsec -
	    (uint64_t)then->tv_nsec;
	return d > ns;
}

/* --- bitmaps -------------------------------------------------------- */

/* First bit in [from, to) equal to `val`, or `to`. */
static size_t
bit_find(const uint64_t *w, size_t from, size_t to, int val)
{
	while (from < to) {
		size_t wi = from / 64;
		uint64_t x = val ? w[wi] : ~w[wi];

		x &= ~(uint64_t)0 << (from % 64);
		if (x != 0) {
			size_t i = wi * 64 + (size_t)__builtin_ctzll(x);
			return i < to ? i : to;
		}
		from = (wi + 1) * 64;
	}
	return to;
}

/* Mask of bits [from, to) of the word holding bit `from`; to > from. */
static uint64_t
word_mask(size_t from, size_t to)
{
	size_t lo = from % 64;
	size_t hi = to - from + lo;	/* exclusive, may exceed 64 */
	uint64_t m = ~(uint64_t)0 << lo;

	if (hi < 64)
		m &= ~(~(uint64_t)0 << hi);
	return m;
}

static void
bit_set(uint64_t *w, size_t from, size_t to)
{
	while (from < to) {
		size_t end = (from / 64 + 1) * 64;

		if (end > to)
			end = to;
		w[from / 64] |= word_mask(from, end);
		from = end;
	}
}

static int
bit_get(const uint64_t *w, size_t i)
{
	return (int)((w[i / 64] >> (i % 64)) & 1);
}

/* --- memory accounting ------------------------------------------------ */

static void
mem_add(struct reasm *r, size_t n)
{
	r->st.mem += n;
	if (r->st.mem > r->st.mem_peak)
		r->st.mem_peak = r->st.mem;
}

static void
mem_sub(struct reasm *r, size_t n)
{
	r->st.mem -= n;
}

/* --- callbacks -------------------------------------------------------- */

static void
emit_data(struct reasm *r, struct dir *d, uint64_t off, const uint8_t *p,
    size_t n, const struct timespec *ts)
{
	if (n == 0)
		return;
	r->st.bytes += n;
	if (r->ops.data != NULL)
		r->ops.data(r->ctx, &d->conn->pub, d->idx, off, p, n, ts);
}

/*
 * Report the gap being gathered, if any, at `ts`: the time of the bytes
 * after it. What follows a gap keeps its own time: the running maximum
 * of delivery times starts again.
 */
static void
gap_flush(struct reasm *r, struct dir *d, const struct timespec *ts)
{
	if (d->gap_n == 0)
		return;
	r->st.gaps++;
	r->st.gap_bytes += d->gap_n;
	if (r->ops.gap != NULL)
		r->ops.gap(r->ctx, &d->conn->pub, d->idx, d->gap_at, d->gap_n,
		    ts);
	d->gap_n = 0;
	d->have_last = 0;
}

/* Bytes [next, next + n) are missing: gather them into one gap. */
static void
gap_add(struct dir *d, uint64_t n)
{
	if (n == 0)
		return;
	if (d->gap_n == 0)
		d->gap_at = d->next;
	d->gap_n += n;
	d->next += n;
}

/* In order, straight from the segment being handled: its time. */
static void
deliver_now(struct reasm *r, struct dir *d, const uint8_t *p, size_t n)
{
	gap_flush(r, d, &r->now);
	emit_data(r, d, d->next, p, n, &r->now);
	d->next += n;
	d->last = r->now;
	d->have_last = 1;
}

/* --- arrival times of held bytes ----------------------------------------- */

static struct trun *
run(const struct dir *d, size_t i)
{
	return &d->runs[d->rhead + i];
}

/* Index of the first run starting after `off` (or at it, with `at`). */
static size_t
runs_after(const struct dir *d, uint64_t off, int at)
{
	size_t lo = 0, hi = d->rn;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (run(d, mid)->off < off || (!at && run(d, mid)->off == off))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
runs_clear(struct reasm *r, struct dir *d)
{
	free(d->runs);
	mem_sub(r, d->rcap * sizeof(*d->runs));
	d->runs = NULL;
	d->rhead = d->rn = d->rcap = 0;
}

/* Room for `want` runs from index 0; 0, or -1 when there is none. */
static int
runs_room(struct reasm *r, struct dir *d, size_t want)
{
	struct trun *nr;
	size_t cap;

	if (d->rhead > 0 && d->rhead + want > d->rcap) {
		memmove(d->runs, d->runs + d->rhead, d->rn * sizeof(*d->runs));
		d->rhead = 0;
	}
	if (want <= d->rcap)
		return 0;
	if (want > RUNS_MAX)
		return -1;
	cap = d->rcap < RUNS_MIN ? RUNS_MIN : d->rcap * 2;
	if (cap > RUNS_MAX)
		cap = RUNS_MAX;
	nr = realloc(d->runs, cap * sizeof(*nr));
	if (nr == NULL)
		return -1;
	mem_add(r, (cap - d->rcap) * sizeof(*nr));
	d->runs = nr;
	d->rcap = cap;
	return 0;
}

/*
 * Bytes [a, b), held from now on, arrived at *ts. Bytes held already
 * keep their time (the first copy wins), so [a, b) holds no byte with a
 * time yet: the runs inside it go, and the byte at b keeps its run. When
 * the runs are full (a flood of scattered segments), the run before `a`
 * takes the later of the two times instead: a time may come out late,
 * never early, and the memory stays bounded.
 */
static void
runs_mark(struct reasm *r, struct dir *d, uint64_t a, uint64_t b,
    const struct timespec *ts)
{
	size_t lo = runs_after(d, a, 1), hi = runs_after(d, b, 1), nadd = 0;
	int own_b = hi < d->rn && run(d, hi)->off == b;
	struct trun add[2], *keep;

	if (lo == 0 || ts_cmp(&run(d, lo - 1)->ts, ts) != 0)
		add[nadd++] = (struct trun){ a, *ts };
	if (!own_b && hi > 0 && ts_cmp(&run(d, hi - 1)->ts, ts) != 0)
		add[nadd++] = (struct trun){ b, run(d, hi - 1)->ts };
	if (nadd > hi - lo &&
	    runs_room(r, d, d->rn + nadd - (hi - lo)) < 0) {
		if (d->rn == 0)
			return;
		keep = run(d, lo > 0 ? lo - 1 : 0);
		if (ts_cmp(&keep->ts, ts) < 0)
			keep->ts = *ts;
		if (keep->off > a)
			keep->off = a;
		return;
	}
	memmove(d->runs + d->rhead + lo + nadd, d->runs + d->rhead + hi,
	    (d->rn - hi) * sizeof(*d->runs));
	memcpy(d->runs + d->rhead + lo, add, nadd * sizeof(*add));
	d->rn = d->rn + nadd - (hi - lo);
}

/*
 * Give out held bytes p[0..n) at `next`, each run at the later of its
 * own time and that of the bytes before it since the last gap: a byte is
 * readable only once every byte before it is there. The runs passed are
 * dropped.
 */
static void
deliver_held(struct reasm *r, struct dir *d, const uint8_t *p, size_t n)
{
	while (n > 0) {
		size_t i = runs_after(d, d->next, 0);
		struct timespec ts = i > 0 ? run(d, i - 1)->ts : r->now;
		size_t k = n;

		gap_flush(r, d, &ts);
		if (d->have_last && ts_cmp(&d->last, &ts) > 0)
			ts = d->last;
		/* Runs no later than this one come out with it, in one call. */
		while (i < d->rn && run(d, i)->off - d->next < k &&
		    ts_cmp(&run(d, i)->ts, &ts) <= 0)
			i++;
		if (i < d->rn && run(d, i)->off - d->next < k)
			k = (size_t)(run(d, i)->off - d->next);
		emit_data(r, d, d->next, p, k, &ts);
		d->next += k;
		d->last = ts;
		d->have_last = 1;
		p += k;
		n -= k;
		while (d->rn >= 2 && run(d, 1)->off <= d->next) {
			d->rhead++;
			d->rn--;
		}
	}
}

/* --- pages of the out-of-order window ---------------------------------- */

static struct page **
page_slot(const struct reasm *r, const struct dir *d, uint64_t pidx)
{
	return &d->slots[pidx % r->npages];
}

/* The page holding stream offset `off`, or NULL. */
static struct page *
page_find(const struct reasm *r, const struct dir *d, uint64_t off)
{
	if (d->held == 0)
		return NULL;
	return *page_slot(r, d, off >> PG_SHIFT);
}

/* The page for `off`, allocated if need be; NULL when out of memory. */
static struct page *
page_get(struct reasm *r, struct dir *d, uint64_t off)
{
	struct page **slot, *pg;

	if (d->slots == NULL) {
		d->slots = calloc(r->npages, sizeof(*d->slots));
		if (d->slots == NULL)
			return NULL;
		mem_add(r, r->npages * sizeof(*d->slots));
	}
	slot = page_slot(r, d, off >> PG_SHIFT);
	if (*slot != NULL)
		return *slot;
	pg = malloc(sizeof(*pg));
	if (pg == NULL)
		return NULL;
	memset(pg->present, 0, sizeof(pg->present));
	memset(pg->lost, 0, sizeof(pg->lost));
	*slot = pg;
	if (d->held++ == 0) {
		list_insert_after(&r->buffered, &d->buffered);
		d->hold_since = r->clock;
		list_insert_tail(&r->holding, &d->holding);
	}
	mem_add(r, sizeof(*pg));
	return pg;
}

static void
slots_release(struct reasm *r, struct dir *d)
{
	free(d->slots);
	d->slots = NULL;
	mem_sub(r, r->npages * sizeof(*d->slots));
	list_remove(&d->buffered);
	list_remove(&d->holding);
	runs_clear(r, d);
}

static void
page_release(struct reasm *r, struct dir *d, uint64_t pidx)
{
	struct page **slot = page_slot(r, d, pidx);

	if (*slot == NULL)
		return;
	free(*slot);
	*slot = NULL;
	mem_sub(r, sizeof(struct page));
	if (--d->held == 0)
		slots_release(r, d);
}

/* Forget everything buffered (bytes past a FIN, or a freed connection). */
static void
pages_drop(struct reasm *r, struct dir *d)
{
	size_t i;

	if (d->slots == NULL) {
		runs_clear(r, d);
		return;
	}
	for (i = 0; i < r->npages && d->held > 0; i++) {
		if (d->slots[i] != NULL) {
			free(d->slots[i]);
			d->slots[i] = NULL;
			mem_sub(r, sizeof(struct page));
			d->held--;
		}
	}
	d->held = 0;
	slots_release(r, d);
}

/* End of the window: the last offset a page may hold, plus one. */
static uint64_t
window_end(const struct reasm *r, const struct dir *d)
{
	return ((d->next >> PG_SHIFT) + r->npages) << PG_SHIFT;
}

/*
 * Store captured bytes [s, ce) from p (p[0] is offset `base`) and mark
 * [ce, e) lost. Bytes already present stay: the first copy wins. Where no
 * memory can be had the bytes are dropped, which leaves a hole that will
 * be reported as a gap.
 */
static void
store_present(struct reasm *r, struct dir *d, uint64_t base,
    const uint8_t *p, uint64_t s, uint64_t ce)
{
	while (s < ce) {
		uint64_t pbase = s & ~(uint64_t)PG_MASK;
		size_t a = (size_t)(s - pbase);
		size_t b = ce - pbase < PG_SIZE ? (size_t)(ce - pbase) :
		    PG_SIZE;
		struct page *pg = page_get(r, d, s);
		size_t x = a;

		while (pg != NULL && x < b) {
			size_t y = bit_find(pg->present, x, b, 0);
			size_t z;

			r->st.dup_bytes += y - x;
			if (y == b)
				break;
			z = bit_find(pg->present, y, b, 1);
			memcpy(pg->data + y, p + (pbase + y - base), z - y);
			bit_set(pg->present, y, z);
			runs_mark(r, d, pbase + y, pbase + z, &r->now);
			x = z;
		}
		s = pbase + b;
	}
}

static void
store_lost(struct reasm *r, struct dir *d, uint64_t s, uint64_t e)
{
	while (s < e) {
		uint64_t pbase = s & ~(uint64_t)PG_MASK;
		size_t b = e - pbase < PG_SIZE ? (size_t)(e - pbase) : PG_SIZE;
		struct page *pg = page_get(r, d, s);

		if (pg != NULL)
			bit_set(pg->lost, (size_t)(s - pbase), b);
		s = pbase + b;
	}
}

/* Leaving a page behind: free it once `next` has passed its end. */
static void
page_done(struct reasm *r, struct dir *d)
{
	if ((d->next & PG_MASK) == 0)
		page_release(r, d, (d->next >> PG_SHIFT) - 1);
}

/*
 * The page at `next` holds nothing from `next` on: release it now rather
 * than when `next` leaves it, so that a direction whose hole was filled
 * goes back to the copy-free path at once.
 */
static void
page_trim(struct reasm *r, struct dir *d, struct page *pg)
{
	size_t i = (size_t)(d->next & PG_MASK);

	if (bit_find(pg->present, i, PG_SIZE, 1) == PG_SIZE &&
	    bit_find(pg->lost, i, PG_SIZE, 1) == PG_SIZE)
		page_release(r, d, d->next >> PG_SHIFT);
}

/*
 * Deliver what the window holds at `next`, and gap the bytes known lost,
 * up to the first byte neither present nor lost (or `limit`).
 */
static void
drain(struct reasm *r, struct dir *d)
{
	uint64_t limit = d->fin ? d->fin_off : UINT64_MAX;
	struct page *pg;

	while (d->next < limit && (pg = page_find(r, d, d->next)) != NULL) {
		uint64_t pbase = d->next & ~(uint64_t)PG_MASK;
		size_t i = (size_t)(d->next - pbase);
		size_t end = limit - pbase < PG_SIZE ?
		    (size_t)(limit - pbase) : PG_SIZE;
		size_t k;

		if (bit_get(pg->present, i)) {
			k = bit_find(pg->present, i, end, 0);
			deliver_held(r, d, pg->data + i, k - i);
		} else if (bit_get(pg->lost, i)) {
			k = bit_find(pg->present, i, end, 1);
			k = bit_find(pg->lost, i, k, 0);
			gap_add(d, k - i);
		} else {
			page_trim(r, d, pg);
			break;
		}
		page_done(r, d);
	}
	gap_flush(r, d, &r->now);
}

/*
 * Move `next` up to `to`: bytes present are delivered, all others are
 * gap. Pages can only lie within npages of `next`, so once none is left
 * the rest is one jump, however far `to` is.
 */
static void
advance(struct reasm *r, struct dir *d, uint64_t to)
{
	while (d->next < to) {
		uint64_t pbase = d->next & ~(uint64_t)PG_MASK;
		struct page *pg = page_find(r, d, d->next);
		size_t i = (size_t)(d->next - pbase);
		size_t end;

		if (d->held == 0) {
			gap_add(d, to - d->next);
			break;
		}
		end = to - pbase < PG_SIZE ? (size_t)(to - pbase) : PG_SIZE;
		if (pg == NULL)
			gap_add(d, end - i);
		else if (bit_get(pg->present, i))
			deliver_held(r, d, pg->data + i,
			    bit_find(pg->present, i, end, 0) - i);
		else
			gap_add(d, bit_find(pg->present, i, end, 1) - i);
		if (pg != NULL)
			page_done(r, d);
	}
	/*
	 * A gap still gathered is reported by whoever gives out the bytes
	 * after it, at their time, or by the caller's flush.
	 */
}

/*
 * Give up on holes: deliver and gap up to the end of what was seen, so
 * the direction holds nothing.
 */
static void
dir_flush(struct reasm *r, struct dir *d)
{
	uint64_t to = d->fin ? d->fin_off : d->high;

	if (to > d->next)
		advance(r, d, to);
	gap_flush(r, d, &r->now);
	pages_drop(r, d);
}

/* Keep the buffers of all connections within mem_total. */
static void
mem_enforce(struct reasm *r)
{
	while (r->st.mem > r->mem_total && !list_empty(&r->buffered)) {
		r->st.mem_flushes++;
		dir_flush(r, dir_of_buffered(r->buffered.prev));
	}
}

/* --- one direction's segments ------------------------------------------ */

static void
set_base(struct dir *d, uint32_t seq)
{
	d->have_base = 1;
	d->base = seq;
	d->next = 0;
	d->high = 0;
	d->acked = 0;
}

/*
 * Stream offset of sequence number `seq`: the nearest one to `next`,
 * within 2^31 either way. Negative: before the stream's first byte.
 */
static int64_t
seq_offset(const struct dir *d, uint32_t seq)
{
	uint32_t at = d->base + (uint32_t)d->next;

	return (int64_t)d->next + (int32_t)(seq - at);
}

/*
 * The first offset from `next` on that holds a byte, captured or known
 * lost, or `high` when none does: where the hole at `next` ends.
 */
static uint64_t
first_held(const struct reasm *r, const struct dir *d)
{
	uint64_t off = d->next;
	size_t n;

	for (n = 0; n < r->npages && off < d->high; n++) {
		uint64_t pbase = off & ~(uint64_t)PG_MASK;
		const struct page *pg = page_find(r, d, off);
		size_t i = (size_t)(off - pbase), k;

		if (pg != NULL) {
			k = bit_find(pg->present, i, PG_SIZE, 1);
			k = bit_find(pg->lost, i, k, 1);
			if (k < PG_SIZE)
				return pbase + k;
		}
		off = pbase + PG_SIZE;
	}
	return d->high > d->next ? d->high : d->next;
}

/* The wait for the hole at `next` starts again, from now. */
static void
hold_touch(struct reasm *r, struct dir *d)
{
	d->hold_since = r->clock;
	list_remove(&d->holding);
	list_insert_tail(&r->holding, &d->holding);
}

/*
 * The capture clock has gone `wait` past the time these directions began
 * to wait: each one's first hole becomes a gap. Oldest first, so the
 * work is one hole per direction that waited too long.
 */
static void
holds_expire(struct reasm *r)
{
	while (!list_empty(&r->holding)) {
		struct dir *d = dir_of_holding(r->holding.next);

		if (!ts_past(&d->hold_since, &r->clock, r->wait_ns))
			return;
		r->st.wait_flushes++;
		advance(r, d, first_held(r, d));
		drain(r, d);
		if (d->held > 0)
			hold_touch(r, d);
	}
}

/*
 * The peer acknowledged every byte before `acked`: a hole there is bytes
 * the capture missed. Give them up at once, up to the furthest byte seen
 * (an acknowledgement says nothing of bytes still to be captured).
 */
static void
acked_give_up(struct reasm *r, struct dir *d)
{
	uint64_t to = d->acked < d->high ? d->acked : d->high;

	if (to <= d->next)
		return;
	r->st.ack_flushes++;
	advance(r, d, to);
	drain(r, d);
}

/*
 * An acknowledgement from the peer, handled before the segment that
 * carries it, so that a reply never comes out before its command.
 */
static void
dir_acked(struct reasm *r, struct dir *d, uint32_t ack)
{
	int64_t a;

	if (!d->have_base)
		return;
	a = seq_offset(d, ack);
	if (a <= (int64_t)d->acked)
		return;
	d->acked = (uint64_t)a;
	acked_give_up(r, d);
}

/*
 * Payload [s, e) of one segment, [s, ce) of it captured. Old bytes are
 * counted and dropped, in-order bytes delivered, the rest buffered.
 */
static void
dir_data(struct reasm *r, struct dir *d, const uint8_t *p, int64_t s,
    int64_t ce, int64_t e)
{
	int64_t next = (int64_t)d->next;
	int64_t from;

	if (d->fin && e > (int64_t)d->fin_off) {
		int64_t cut = (int64_t)d->fin_off;

		r->st.after_fin += (uint64_t)(e - (s > cut ? s : cut));
		e = cut;
		if (ce > e)
			ce = e;
		if (e <= s)
			return;
	}
	if (e <= next) {
		if (e > s)
			r->st.dup_bytes += (uint64_t)(e - s);
		return;
	}
	if ((uint64_t)e > d->high)
		d->high = (uint64_t)e;
	if (s > next)
		r->st.ooo_segments++;
	else
		r->st.dup_bytes += (uint64_t)(next - s);
	if ((uint64_t)e > window_end(r, d)) {
		r->st.window_flushes++;
		advance(r, d, (uint64_t)e - (r->npages - 1) * PG_SIZE);
		drain(r, d);
	}
	from = s > (int64_t)d->next ? s : (int64_t)d->next;
	if (d->held == 0 && from == (int64_t)d->next) {
		/* In order with nothing waiting: straight from the packet. */
		if (ce > from)
			deliver_now(r, d, p + (from - s), (size_t)(ce - from));
		gap_add(d, (uint64_t)e - d->next);
		gap_flush(r, d, &r->now);
		return;
	}
	if (ce > from)
		store_present(r, d, (uint64_t)s, p, (uint64_t)from,
		    (uint64_t)ce);
	if (e > (ce > from ? ce : from))
		store_lost(r, d, (uint64_t)(ce > from ? ce : from),
		    (uint64_t)e);
	if (d->held > 0)
		list_move_head(&r->buffered, &d->buffered);
	drain(r, d);
	/* Bytes past a hole the peer has acknowledged already. */
	acked_give_up(r, d);
	/* A hole filled (in part): the wait for the next one starts now. */
	if (d->held > 0 && d->next > (uint64_t)next)
		hold_touch(r, d);
	mem_enforce(r);
}

static void
dir_fin(struct dir *d, int64_t at)
{
	if (d->fin)
		return;
	d->fin = 1;
	d->fin_off = at > (int64_t)d->next ? (uint64_t)at : d->next;
}

/* Both FINs seen and every byte before them accounted for. */
static int
conn_complete(const struct conn *c)
{
	return c->d[0].fin && c->d[1].fin &&
	    c->d[0].next == c->d[0].fin_off &&
	    c->d[1].next == c->d[1].fin_off;
}

static void
conn_syn(struct conn *c, int i, const struct tcp_segment *seg)
{
	struct dir *d = &c->d[i];

	if (!d->have_base)
		set_base(d, seg->seq + 1);
	if (seg->flags & TCP_SEG_ACK) {
		/* A SYN+ACK acknowledges the client's first byte. */
		if (!c->d[!i].have_base)
			set_base(&c->d[!i], seg->ack);
	} else if (!c->have_isn) {
		c->have_isn = 1;
		c->client_isn = seg->seq;
	}
}

static void
conn_segment(struct reasm *r, struct conn *c, int i,
    const struct tcp_segment *seg)
{
	struct dir *d = &c->d[i];
	uint32_t dseq = seg->seq;
	uint32_t cap = seg->caplen < seg->wirelen ? seg->caplen : seg->wirelen;
	int64_t s;

	if (seg->flags & TCP_SEG_SYN) {
		conn_syn(c, i, seg);
		dseq++;		/* the SYN takes one sequence number */
	}
	d->seen = 1;
	if (seg->flags & TCP_SEG_ACK)
		dir_acked(r, &c->d[!i], seg->ack);
	if (!d->have_base) {
		if (seg->wirelen == 0 && !(seg->flags & TCP_SEG_FIN))
			return;
		set_base(d, dseq);
	}
	s = seq_offset(d, dseq);
	if (seg->wirelen > 0)
		dir_data(r, d, seg->payload, s, s + cap, s + seg->wirelen);
	if (!(seg->flags & TCP_SEG_FIN))
		return;
	dir_fin(d, s + seg->wirelen);
	/*
	 * The sender is done. When the capture holds nothing of the peer
	 * (a filter kept one direction), no acknowledgement will end the
	 * wait: the FIN does. Otherwise a FIN may still overtake data, and
	 * the peer's acknowledgement of it ends the wait soon enough.
	 */
	if (!c->d[!i].seen && (d->next < d->fin_off || d->held > 0)) {
		r->st.fin_flushes++;
		dir_flush(r, d);
	}
}

/* --- connections -------------------------------------------------------- */

static int
key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct connkey));
}

static int
endpoint_cmp(const uint8_t *a, uint16_t pa, const uint8_t *b, uint16_t pb)
{
	int c = memcmp(a, b, 16);

	if (c != 0)
		return c;
	return (pa > pb) - (pa < pb);
}

static void
key_make(struct connkey *k, const struct tcp_segment *seg)
{
	int lo = endpoint_cmp(seg->src, seg->sport, seg->dst, seg->dport) <= 0;

	memset(k, 0, sizeof(*k));
	memcpy(k->addr[lo ? 0 : 1], seg->src, 16);
	memcpy(k->addr[lo ? 1 : 0], seg->dst, 16);
	k->port[lo ? 0 : 1] = seg->sport;
	k->port[lo ? 1 : 0] = seg->dport;
	k->family = (uint8_t)seg->family;
}

static struct conn *
conn_find(struct reasm *r, const struct connkey *k)
{
	void *node;

	if (r->last != NULL && key_cmp(&r->last->key, k) == 0)
		return r->last;
	node = tfind(k, &r->root, key_cmp);
	if (node == NULL)
		return NULL;
	r->last = conn_of_key(*(struct connkey **)node);
	return r->last;
}

/* Direction of a segment: 0 when the client sent it. */
static int
seg_dir(const struct conn *c, const struct tcp_segment *seg)
{
	return endpoint_cmp(seg->src, seg->sport, c->pub.client.addr,
	    c->pub.client.port) != 0;
}

/* See the rule in tcpreasm.h. */
static int
sender_is_client(const struct tcp_segment *seg)
{
	if (seg->flags & TCP_SEG_SYN)
		return !(seg->flags & TCP_SEG_ACK);
	return !(seg->sport < 1024 && seg->sport < seg->dport);
}

/* Unlink from the tree and every list, free. No callback. */
static void
conn_free(struct reasm *r, struct conn *c)
{
	tdelete(&c->key, &r->root, key_cmp);
	list_remove(&c->order);
	list_remove(&c->lru);
	if (c->closed)
		r->ndead--;
	else
		r->st.open--;
	pages_drop(r, &c->d[0]);
	pages_drop(r, &c->d[1]);
	if (r->last == c)
		r->last = NULL;
	free(c);
}

static void
conn_init_dirs(struct conn *c)
{
	int i;

	for (i = 0; i < 2; i++) {
		c->d[i].conn = c;
		c->d[i].idx = i;
		list_init(&c->d[i].buffered);
		list_init(&c->d[i].holding);
	}
	list_init(&c->order);
	list_init(&c->lru);
}

static struct conn *
conn_new(struct reasm *r, const struct tcp_segment *seg,
    const struct connkey *k)
{
	struct conn *c;
	int client = sender_is_client(seg);

	if (r->st.open >= r->max_conns) {
		r->st.evicted++;
		conn_close(r, conn_of_lru(r->lru.prev), "evicted", 0);
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	conn_init_dirs(c);
	c->key = *k;
	if (tsearch(&c->key, &r->root, key_cmp) == NULL) {
		free(c);
		return NULL;
	}
	c->pub.id = ++r->next_id;
	c->pub.family = seg->family;
	memcpy(c->pub.client.addr, client ? seg->src : seg->dst, 16);
	memcpy(c->pub.server.addr, client ? seg->dst : seg->src, 16);
	c->pub.client.port = client ? seg->sport : seg->dport;
	c->pub.server.port = client ? seg->dport : seg->sport;
	c->pub.syn_seen = (seg->flags & TCP_SEG_SYN) != 0;
	c->pub.first = seg->ts;
	list_insert_tail(&r->open, &c->order);
	list_insert_after(&r->lru, &c->lru);
	r->st.open++;
	r->st.connections++;
	r->last = c;
	if (r->ops.open != NULL)
		r->ops.open(r->ctx, &c->pub);
	return c;
}

/* Keep at most max_conns tombstones: the oldest go first. */
static void
dead_trim(struct reasm *r)
{
	while (r->ndead > r->max_conns)
		conn_free(r, conn_of_order(r->dead.next));
}

/*
 * Report what is left, then close. `keep`: stay as a tombstone so late
 * segments of the connection are recognised and dropped.
 */
static void
conn_close(struct reasm *r, struct conn *c, const char *reason, int keep)
{
	dir_flush(r, &c->d[0]);
	dir_flush(r, &c->d[1]);
	if (r->ops.close != NULL)
		r->ops.close(r->ctx, &c->pub, reason);
	if (!keep) {
		conn_free(r, c);
		return;
	}
	list_remove(&c->order);
	list_remove(&c->lru);
	r->st.open--;
	c->closed = 1;
	list_insert_tail(&r->dead, &c->order);
	r->ndead++;
	dead_trim(r);
}

/*
 * A SYN on an open connection whose data already flowed, with a sequence
 * number other than the client's: the addresses and ports were reused
 * (the end of the old connection was not captured).
 */
static int
is_reuse(const struct conn *c, const struct tcp_segment *seg)
{
	if ((seg->flags & (TCP_SEG_SYN | TCP_SEG_ACK)) != TCP_SEG_SYN)
		return 0;
	if (c->have_isn && c->client_isn == seg->seq)
		return 0;
	return !c->pub.syn_seen || c->d[0].high > 0 || c->d[1].high > 0 ||
	    c->d[0].fin || c->d[1].fin;
}

/* Only a SYN or data opens a connection: not a lone ACK, FIN or RST. */
static int
starts_conn(const struct tcp_segment *seg)
{
	if (seg->flags & TCP_SEG_RST)
		return 0;
	return (seg->flags & TCP_SEG_SYN) || seg->wirelen > 0;
}

/* --- the interface ------------------------------------------------------ */

struct reasm *
reasm_new(const struct reasm_ops *ops, void *ctx,
    const struct reasm_limits *lim)
{
	struct reasm_limits l = { 0, 0, 0, 0 };
	struct reasm *r;

	if (lim != NULL)
		l = *lim;
	if (l.window == 0)
		l.window = REASM_WINDOW_DEFAULT;
	if (l.max_conns == 0)
		l.max_conns = REASM_CONNS_DEFAULT;
	if (l.mem_total == 0)
		l.mem_total = REASM_MEM_DEFAULT;
	if (l.wait_ns == 0)
		l.wait_ns = REASM_WAIT_DEFAULT;
	if (l.window < REASM_WINDOW_MIN) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	if (ops != NULL)
		r->ops = *ops;
	r->ctx = ctx;
	r->npages = (l.window + PG_SIZE - 1) / PG_SIZE;
	r->max_conns = l.max_conns;
	r->mem_total = l.mem_total;
	r->wait_ns = l.wait_ns;
	list_init(&r->holding);
	list_init(&r->open);
	list_init(&r->lru);
	list_init(&r->dead);
	list_init(&r->buffered);
	return r;
}

void
reasm_segment(struct reasm *r, const struct tcp_segment *seg)
{
	struct connkey k;
	struct conn *c;

	r->st.segments++;
	r->now = seg->ts;
	if (!r->have_clock || ts_cmp(&seg->ts, &r->clock) > 0) {
		r->clock = seg->ts;
		r->have_clock = 1;
	}
	holds_expire(r);
	if (seg->family != AF_INET && seg->family != AF_INET6) {
		r->st.ignored++;
		return;
	}
	key_make(&k, seg);
	c = conn_find(r, &k);
	if (c != NULL && c->closed) {
		if (!(seg->flags & TCP_SEG_SYN) || (seg->flags & TCP_SEG_RST)) {
			r->st.late++;
			return;
		}
		conn_free(r, c);
		c = NULL;
	}
	if (c != NULL && is_reuse(c, seg)) {
		conn_close(r, c, "reused", 0);
		c = NULL;
	}
	if (c == NULL) {
		if (!starts_conn(seg) ||
		    (c = conn_new(r, seg, &k)) == NULL) {
			r->st.ignored++;
			return;
		}
	}
	list_move_head(&r->lru, &c->lru);
	if (seg->flags & TCP_SEG_RST) {
		conn_close(r, c, "RST", 1);
		return;
	}
	conn_segment(r, c, seg_dir(c, seg), seg);
	if (conn_complete(c))
		conn_close(r, c, "FIN", 1);
}

void
reasm_finish(struct reasm *r)
{
	while (!list_empty(&r->open)) {
		struct conn *c = conn_of_order(r->open.next);

		conn_close(r, c, c->d[0].fin && c->d[1].fin ? "FIN" :
		    "end of capture", 0);
	}
	while (!list_empty(&r->dead))
		conn_free(r, conn_of_order(r->dead.next));
}

void
reasm_free(struct reasm *r)
{
	if (r == NULL)
		return;
	while (!list_empty(&r->open))
		conn_free(r, conn_of_order(r->open.next));
	while (!list_empty(&r->dead))
		conn_free(r, conn_of_order(r->dead.next));
	free(r);
}

const struct reasm_stats *
reasm_stats(const struct reasm *r)
{
	return &r->st;
}
