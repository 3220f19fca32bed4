/*
 * budget.c - what a peer's sessions make it hold, and the limits on it.
 *
 * Everything a peer can make us keep is charged to its session as the
 * heap really keeps it: malloc's chunk, not the message's length (a
 * 16-byte refusal costs a 192-byte chunk, and counting 16 let a session
 * hold five times its limit). `held` is what the peer's messages made:
 * replies and refusals queued or unacknowledged, requests being served
 * (with the command's bytes, which a service may keep), links served.
 * `fixed` is the session itself: its struct, builders, its transport
 * with the framing buffer and queued control messages. The peer's
 * total is the sum of both over every session, attached, handshaking or
 * detached. Our own commands are the application's to bound and are
 * not charged.
 *
 * Two limits, each with two thresholds. New work (a command, a link, a
 * session) is refused past 7/8 of its session's max_memory or of the
 * peer's max_total_memory: the last eighth is for the refusals, which
 * cost memory too. A session whose refusals, unread, pass that eighth
 * ends with GOODBYE ENOBUFS (its peer sends and does not read). Past the
 * peer's total something goes: detached sessions first, those holding
 * the most first (their resume then finds ESTALE), then handshaking
 * transports, oldest first, then the session holding the most. So the
 * process holds the total, a fixed base (buffers shared by all
 * sessions, caches) and one message's worth of slack, whatever its
 * peers do; what a service queues beyond a session's limit for work it
 * accepted is the service's to pace, and the total still bounds it.
 *
 * After a fall (sessions ended, a backlog acknowledged), the heap is
 * given back to the system: glibc keeps freed memory in the middle of
 * the heap otherwise, and a server that once held 4 GB would go on
 * holding it.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>

#include "session_int.h"

/* A loop object (timer, watcher, deferred call): its chunk, rounded up. */
#define LOOP_OBJ_COST	96
/* What a service keeps of its own per request and per link (a guess at
   its bookkeeping; the request's bytes are charged besides). */
#define SERVICE_COST	128
/* Hash table slots: each entry may have up to four 16-byte slots. */
#define SLOTS_COST	64
/* A refusal's chunk, rounded up: a 48-byte reply in a 192-byte one. */
#define REFUSAL_COST	256
/* A fall of the total by this much gives the heap back. */
#define TRIM_STEP	((size_t)8 << 20)

size_t
lpi_heap_cost(size_t n)
{
	/* glibc: the request and a size word, rounded to 16, at least 32. */
	size_t c = (n + sizeof(size_t) + 15) & ~(size_t)15;

	return c < 32 ? 32 : c;
}

size_t
lpi_request_cost(size_t msglen)
{
	return lpi_heap_cost(sizeof(struct proto_request)) +
	    lpi_heap_cost(msglen) + SERVICE_COST + SLOTS_COST;
}

size_t
lpi_link_cost(void)
{
	return lpi_heap_cost(sizeof(struct proto_link)) + SERVICE_COST +
	    SLOTS_COST;
}

void
lpi_hold(struct proto_session *s, size_t n)
{
	struct proto_peer *p = s->peer;

	if (s->off_books)
		return;
	s->held += n;
	p->held += n;
	if (p->held > p->trim_mark)
		p->trim_mark = p->held;
}

void
lpi_unhold(struct proto_session *s, size_t n)
{
	struct proto_peer *p = s->peer;

	if (s->off_books)
		return;
	n = n < s->held ? n : s->held;
	s->held -= n;
	p->held -= n;
	/* A large fall: the reaper gives the heap back at the round's end. */
	if (p->trim_mark - p->held > TRIM_STEP)
		proto_defer_post(p->reaper);
}

void
lpi_out_hold(struct proto_session *s, struct lpi_out *o)
{
	o->charge = (uint32_t)lpi_heap_cost(sizeof(*o) + o->cap);
	lpi_hold(s, o->charge);
}

void
lpi_out_unhold(struct proto_session *s, struct lpi_out *o)
{
	if (o->refusal && !s->off_books)
		s->refused -= o->charge < s->refused ? o->charge : s->refused;
	lpi_unhold(s, o->charge);
	o->charge = 0;
	o->refusal = 0;
}

static size_t
builder_cost(const struct proto_builder *b)
{
	return b->buf != NULL && !b->fixed ? lpi_heap_cost(b->cap) : 0;
}

static size_t
table_cost(const struct lpi_table *t)
{
	return t->n > 0 ? lpi_heap_cost(t->n * sizeof(struct lpi_slot)) : 0;
}

static size_t
fixed_cost(const struct proto_session *s)
{
	const struct lpi_conn *c = s->conn;
	size_t n;

	n = lpi_heap_cost(sizeof(*s)) + 5 * LOOP_OBJ_COST +
	    builder_cost(&s->b) + builder_cost(&s->rb) +
	    table_cost(&s->links) + table_cost(&s->calls);
	if (c != NULL)
		n += lpi_heap_cost(sizeof(*c)) + 2 * LOOP_OBJ_COST +
		    proto_framer_held(&c->fr) + c->ctrl_charge;
	return n;
}

/* Keep the counted state of the framer's buffer with the conn. */
static void
note_framer(struct proto_session *s)
{
	if (s->conn != NULL)
		s->conn->fr_counted = proto_framer_held(&s->conn->fr) > 0;
}

void
lpi_recount(struct proto_session *s)
{
	struct proto_peer *p = s->peer;
	size_t n;

	if (s->off_books)
		return;
	note_framer(s);
	n = fixed_cost(s);
	p->held = p->held - s->fixed + n;
	s->fixed = n;
	if (p->held > p->trim_mark)
		p->trim_mark = p->held;
}

/* The session is buried: what it held is freed or being freed. */
void
lpi_budget_forget(struct proto_session *s)
{
	struct proto_peer *p = s->peer;

	if (s->off_books)
		return;
	p->held -= s->held + s->fixed;
	s->held = s->fixed = s->refused = 0;
	s->off_books = 1;
	if (s->counted) {
		p->nsessions--;
		s->counted = 0;
	}
}

static size_t
limit_of(size_t limit)
{
	return limit - limit / 8;
}

/* --- choosing what goes --------------------------------------------------- */

/*
 * What goes at a limit: of the sessions `eligible` says may go, the one
 * `rank` puts highest. One pass over the sessions, at most one per
 * limit reached, not per message.
 */
static struct proto_session *
choose(struct proto_peer *p, int (*eligible)(const struct proto_session *),
    uint64_t (*rank)(const struct proto_session *))
{
	struct proto_session *s, *best = NULL;

	for (s = p->sessions; s != NULL; s = s->next)
		if (eligible(s) && (best == NULL || rank(s) > rank(best)))
			best = s;
	return best;
}

/* A detached session we accepted: it waits for a resume. */
static int
detached(const struct proto_session *s)
{
	return !s->initiator && s->state == LPI_DETACHED;
}

/* A transport we accepted, still in its handshake: a stranger. */
static int
stranger(const struct proto_session *s)
{
	return !s->initiator && s->conn != NULL &&
	    (s->state == LPI_WAIT_HELLO || s->state == LPI_WAIT_AUTH);
}

static int
alive(const struct proto_session *s)
{
	return s->state != LPI_DEAD;
}

static uint64_t
by_size(const struct proto_session *s)
{
	return s->held + s->fixed;
}

static uint64_t
by_held(const struct proto_session *s)
{
	return s->held;
}

static uint64_t
by_detached_age(const struct proto_session *s)
{
	return UINT64_MAX - s->detached_ns;
}

static uint64_t
by_conn_age(const struct proto_session *s)
{
	return UINT64_MAX - s->conn->since_ns;
}

static void
evict(struct proto_session *s, const char *why)
{
	struct proto_peer *p = s->peer;

	lpi_log_limited(p, &p->rate[LPI_RATE_EVICT],
	    lpi_rate_peer_what[LPI_RATE_EVICT],
	    PROTO_LOG_WARN, "detached session with %s dropped: %s",
	    s->node_text, why);
	lpi_lose(s, ENOBUFS, "dropped while detached: %s", why);
}

/*
 * Work for a session that is here beats a session that may come back:
 * past the peer's threshold, detached sessions make room for n bytes,
 * largest first. 0, or -1 when none is left and there is no room.
 */
static int
make_room(struct proto_peer *p, size_t n)
{
	struct proto_session *v;

	while (p->held + n > limit_of(p->cfg.max_total_memory)) {
		v = choose(p, detached, by_size);
		if (v == NULL)
			return -1;
		evict(v, "the server's memory limit is reached");
	}
	return 0;
}

int
lpi_may_hold(struct proto_session *s, size_t n)
{
	if (s->held + n > limit_of(s->peer->cfg.max_memory))
		return 0;
	return make_room(s->peer, n) == 0;
}

int
lpi_shed_conn(struct proto_peer *p)
{
	struct proto_session *s = choose(p, stranger, by_conn_age);

	if (s == NULL)
		return -1;
	lpi_log_limited(p, &p->rate[LPI_RATE_SHED],
	    lpi_rate_peer_what[LPI_RATE_SHED],
	    PROTO_LOG_WARN, "%s: closed before its handshake to make room",
	    s->conn->st.peer);
	lpi_detach(s, "closed to make room");
	return 0;
}

/* Past the peer's total: one thing goes. 0, or -1 when nothing can. */
static int
drop_one(struct proto_peer *p)
{
	struct proto_session *s;
	char why[96];

	snprintf(why, sizeof(why), "the server holds %zu bytes, its limit "
	    "is %zu", p->held, p->cfg.max_total_memory);
	if ((s = choose(p, detached, by_size)) != NULL) {
		evict(s, why);
		return 0;
	}
	if (lpi_shed_conn(p) == 0)
		return 0;
	if ((s = choose(p, alive, by_held)) != NULL && s->held > 0) {
		lpi_abort(s, ENOBUFS, "%s; this session held %zu", why,
		    s->held);
		return 0;
	}
	return -1;
}

/*
 * Refusals a peer may leave unread: the last eighth of its limit, but
 * never fewer than one per command it may have in flight (a peer that
 * keeps to MAX_INFLIGHT may be refused that many before it hears).
 */
static size_t
refusals_max(const struct proto_peer_config *cfg)
{
	size_t floor = (size_t)cfg->max_inflight * REFUSAL_COST;

	return cfg->max_memory / 8 > floor ? cfg->max_memory / 8 : floor;
}

void
lpi_enforce(struct proto_session *s)
{
	struct proto_peer *p = s->peer;
	const struct proto_peer_config *cfg = &p->cfg;

	if (s->state != LPI_DEAD && s->refused > refusals_max(cfg))
		lpi_abort(s, ENOBUFS, "%zu bytes of refusals not read or "
		    "acknowledged (%zu held for the session, limit %zu)",
		    s->refused, s->held, cfg->max_memory);
	while (p->held > cfg->max_total_memory)
		if (drop_one(p) < 0)
			break;
}

uint32_t
lpi_admit_session(struct proto_session *s, const char **why)
{
	struct proto_peer *p = s->peer;
	struct proto_session *v;

	if (p->nsessions >= p->cfg.max_sessions) {
		v = choose(p, detached, by_detached_age);
		if (v == NULL) {
			*why = "too many sessions";
			return EAGAIN;
		}
		evict(v, "the session limit is reached");
	}
	if (make_room(p, 0) < 0) {
		*why = "the server's memory limit is reached";
		return ENOBUFS;
	}
	/* Counted from now, released when it is buried: a handshake
	   waiting for AUTH holds a place, so the limit holds while proofs
	   are due. */
	s->counted = 1;
	p->nsessions++;
	return 0;
}

int
lpi_admit_conn(struct proto_peer *p)
{
	if (p->nconns < p->cfg.max_conns)
		return 0;
	return lpi_shed_conn(p);
}

void
lpi_budget_trim(struct proto_peer *p)
{
	if (p->trim_mark - p->held <= TRIM_STEP)
		return;
	/* Cached buffers are the first thing to give back. */
	lpi_outcache_clear(&p->outcache);
	malloc_trim(0);
	p->trim_mark = p->held;
}
