/*
 * fuzz_framer.c - the framer on arbitrary bytes, fed whole and in chunks.
 *
 * The first 4 bytes of the input are a seed: the chunk sizes come from
 * it, and its low 2 bits pick a proto_framer_restart() mode (none,
 * MESSAGE, SEARCH, SEARCH_ANY) applied first. The rest is the stream.
 * It goes through a plain framer and a PROTO_FRAMER_RESYNC one, each fed
 * whole and fed in chunks; each chunk is an exact-size copy, freed once
 * the framer is done with it. Any broken invariant traps:
 *
 * - whole and chunked feeding give the same events (every field);
 * - a message is the stream's bytes at its offset, at least 16 bytes,
 *   its pad inside the stream and zero; offsets strictly increase and
 *   keep one phase mod 8 (0, or where SEARCH_ANY found messages);
 * - errors are framing reasons or PROTO_E_RESYNC, inside the stream;
 *   the plain framer stops after its first framing error;
 * - proto_msg_validate() of a message gives OK or a message reason,
 *   never a framing one, at an offset inside the message;
 * - the plain and RESYNC framers agree up to the first framing error;
 * - every stream byte is in a message or counted as skipped, and the
 *   framer ends at the end of the stream.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "libproto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_EVENTS	4096

struct ev {
	int r;			/* 1 message, -1 error */
	uint64_t offset;
	uint16_t length;
	enum proto_reason reason;
	uint64_t got, want;
};

struct run {
	struct ev ev[MAX_EVENTS];
	int n;
	int overflow;
	uint64_t skipped;
	uint64_t end;		/* proto_framer_offset() at the end */
	uint64_t in_msgs;	/* stream bytes inside messages */
};

static struct run runs[4];

static void
must(int ok)
{
	if (!ok)
		__builtin_trap();
}

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static size_t
chunk_size(uint64_t *seed, size_t left)
{
	size_t k;

	switch (rnd(seed) % 8) {
	case 0:
		k = 0;
		break;
	case 1: case 2: case 3:
		k = 1 + rnd(seed) % 16;
		break;
	case 4: case 5:
		k = 1 + rnd(seed) % 512;
		break;
	default:
		k = 1 + rnd(seed) % 70000;
		break;
	}
	return k < left ? k : left;
}

/* A message from the framer: its bytes, its pad, its items. */
static void
check_msg(const struct proto_msg *m, const uint8_t *s, size_t n)
{
	struct proto_error e;
	uint32_t i;

	must(m->length >= PROTO_MSG_MIN);
	must(m->offset + proto_align8(m->length) <= n);
	must(memcmp(m->bytes, s + m->offset, m->length) == 0);
	for (i = m->length; i < proto_align8(m->length); i++)
		must(s[m->offset + i] == 0);
	must(m->linkid == proto_get64(s + m->offset));
	must(m->msgid == proto_get32(s + m->offset + 8));
	must(m->command == proto_get16(s + m->offset + 12));
	if (proto_msg_validate(m, &e) < 0) {
		must(e.reason >= PROTO_E_ITEM_OVERRUN &&
		    e.reason <= PROTO_E_NEST_LINK);
		must(e.offset >= m->offset + PROTO_HDR_LEN &&
		    e.offset < m->offset + m->length);
	}
	(void)proto_msg_crc_check(m, &e);
}

static void
record(struct run *r, int x, const struct proto_msg *m,
    const struct proto_error *e)
{
	struct ev *v;

	if (r->n == MAX_EVENTS) {
		r->overflow = 1;
		return;
	}
	v = &r->ev[r->n++];
	memset(v, 0, sizeof(*v));
	v->r = x;
	if (x > 0) {
		v->offset = m->offset;
		v->length = m->length;
		r->in_msgs += proto_align8(m->length);
	} else {
		v->offset = e->offset;
		v->reason = e->reason;
		v->got = e->got;
		v->want = e->want;
	}
}

static void
drain(struct proto_framer *f, struct run *r, const uint8_t *s, size_t n)
{
	struct proto_msg m;
	struct proto_error e;
	int x, guard = 0;

	while ((x = proto_framer_next(f, &m, &e)) != 0) {
		/* Each call yields or moves on: a chunk cannot loop. */
		must(++guard < 1000000);
		must(x == 1 || x == -1);
		if (x > 0)
			check_msg(&m, s, n);
		else
			must(proto_reason_is_framing(e.reason) ||
			    e.reason == PROTO_E_RESYNC);
		record(r, x, &m, &e);
	}
}

static void
feed(struct run *r, const uint8_t *s, size_t n, unsigned flags, int how,
    int chunked, uint64_t seed)
{
	struct proto_framer f;
	uint8_t *copy;
	size_t done = 0, k;

	memset(r, 0, sizeof(*r));
	if (proto_framer_init(&f, flags) < 0)
		abort();
	if (how >= 0)
		proto_framer_restart(&f, 0, (enum proto_restart)how);
	while (done < n) {
		k = chunked ? chunk_size(&seed, n - done) : n - done;
		copy = malloc(k ? k : 1);
		if (copy == NULL)
			abort();
		memcpy(copy, s + done, k);
		proto_framer_feed(&f, copy, k);
		drain(&f, r, s, n);
		free(copy);
		done += k;
	}
	proto_framer_eof(&f);
	drain(&f, r, s, n);
	drain(&f, r, s, n);
	r->skipped = f.skipped;
	r->end = proto_framer_offset(&f);
	proto_framer_free(&f);
}

static int
ev_equal(const struct ev *a, const struct ev *b)
{
	return a->r == b->r && a->offset == b->offset &&
	    a->length == b->length && a->reason == b->reason &&
	    a->got == b->got && a->want == b->want;
}

static void
same_runs(const struct run *a, const struct run *b)
{
	int i;

	must(a->n == b->n && a->overflow == b->overflow);
	for (i = 0; i < a->n; i++)
		must(ev_equal(&a->ev[i], &b->ev[i]));
	must(a->skipped == b->skipped && a->end == b->end);
}

/* Offsets, phases, error placement; the plain framer's single error. */
static void
check_run(const struct run *r, size_t n, int plain, int how)
{
	uint64_t next = 0;
	int i, phase = how == PROTO_RESTART_SEARCH_ANY ? -1 : 0, errors = 0;

	if (!r->overflow) {
		must(r->end == n);
		must(r->skipped + r->in_msgs == n);
	}
	for (i = 0; i < r->n; i++) {
		const struct ev *v = &r->ev[i];

		if (v->r < 0) {
			must(v->offset <= n);
			if (v->reason != PROTO_E_RESYNC) {
				errors++;
				continue;
			}
			/* Found messages: one follows, in phase. */
			must(i + 1 < r->n || r->overflow);
			must(v->offset >= next);
			if (phase < 0)
				phase = (int)(v->offset & 7);
			must((int)(v->offset & 7) == phase);
			continue;
		}
		/* No message after the plain framer's framing error. */
		must(!plain || errors == 0);
		must(v->offset >= next);
		must(phase >= 0 && (int)(v->offset & 7) == phase);
		next = v->offset + proto_align8(v->length);
	}
	if (plain)
		must(errors <= 1);
}

/* The plain and RESYNC framers agree up to the first framing error. */
static void
check_prefix(const struct run *plain, const struct run *resync)
{
	int i;

	for (i = 0; i < plain->n && i < resync->n; i++) {
		must(ev_equal(&plain->ev[i], &resync->ev[i]));
		if (plain->ev[i].r < 0 && plain->ev[i].reason != PROTO_E_RESYNC)
			return;
	}
	if (!plain->overflow && !resync->overflow)
		must(plain->n <= resync->n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *s;
	uint64_t seed;
	size_t n;
	int how;

	if (size < 4)
		return 0;
	seed = 0x9e3779b97f4a7c15ull ^ proto_get32(data);
	how = (int)(data[0] & 3) - 1;	/* -1: no restart */
	s = data + 4;
	n = size - 4;

	feed(&runs[0], s, n, 0, how, 0, seed);
	feed(&runs[1], s, n, 0, how, 1, seed);
	feed(&runs[2], s, n, PROTO_FRAMER_RESYNC, how, 0, seed);
	feed(&runs[3], s, n, PROTO_FRAMER_RESYNC, how, 1, seed);
	same_runs(&runs[0], &runs[1]);
	same_runs(&runs[2], &runs[3]);
	check_run(&runs[0], n, 1, how);
	check_run(&runs[2], n, 0, how);
	check_prefix(&runs[0], &runs[2]);
	return 0;
}
