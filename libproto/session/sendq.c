/*
 * sendq.c - the way out of a session.
 *
 * Three kinds of bytes leave a session: control messages (HELLO, ACK,
 * PING, GOODBYE, AUTH), which belong to one transport and are never
 * resent; sequenced messages already numbered and waiting for their ACK
 * (the retransmission list, oldest first); and sequenced messages not
 * yet numbered, queued per link. A message is numbered the moment it is
 * first put on the wire, so numbers follow wire order.
 *
 * Links are served by deficit round robin: each turn a link may send
 * LPI_QUANTUM bytes' worth of messages, so a link streaming 32 KiB
 * replies delays a small reply on another link by one message, not by
 * megabytes. The window caps the bytes held unacknowledged: when full,
 * nothing new is numbered until ACKs free room (a message larger than
 * the window still goes when nothing else is outstanding).
 *
 * Writes gather as many whole messages as fit in one writev (or sendmsg
 * with MSG_NOSIGNAL on sockets). Control messages go out at message
 * boundaries only: a half-written message is always finished first.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "proto_crc32c.h"
#include "proto_numbers.h"
#include "session_int.h"

#define IOV_BATCH	64
#define WRITE_BATCH	(1u << 20)	/* bytes offered to one writev */

/*
 * Class k holds 2^(k+6) + 64 bytes, 128 to 65600: the slack takes the
 * header and a few items on top of a power-of-two payload (a 32 KiB
 * DATA item with its header and CRC fits 32 KiB + 64), so the common
 * sizes do not waste half their buffer, and the largest message with
 * its CRC (65543 bytes) has a class too.
 */
static size_t
class_size(int k)
{
	return ((size_t)64 << k) + 64;
}

static int
size_class(size_t need)
{
	int k;

	for (k = 0; k < LPI_OUT_CLASSES; k++)
		if (need <= class_size(k))
			return k;
	return -1;
}

struct lpi_out *
lpi_out_new(struct proto_peer *p, const uint8_t *bytes, size_t len,
    size_t extra)
{
	struct lpi_outcache *oc = &p->outcache;
	int k = size_class(len + extra);
	struct lpi_out *o;

	if (k >= 0 && (o = oc->free[k]) != NULL) {
		oc->free[k] = o->next;
		oc->count[k]--;
	} else {
		o = malloc(sizeof(*o) + (k >= 0 ? class_size(k) : len + extra));
		if (o == NULL)
			return NULL;
	}
	o->next = NULL;
	o->seq = 0;
	o->len = (uint32_t)len;
	o->cap = (uint32_t)(k >= 0 ? class_size(k) : len + extra);
	o->cls = k;
	o->charge = 0;
	o->refusal = 0;
	memcpy(o->buf, bytes, len);
	return o;
}

void
lpi_out_free(struct proto_peer *p, struct lpi_out *o)
{
	struct lpi_outcache *oc = &p->outcache;
	int k = o->cls;

	if (k < 0 || (size_t)oc->count[k] * class_size(k) >= LPI_OUT_CACHE) {
		free(o);
		return;
	}
	o->next = oc->free[k];
	oc->free[k] = o;
	oc->count[k]++;
}

void
lpi_out_drop_list(struct proto_session *s, struct lpi_out *o)
{
	struct lpi_out *next;

	for (; o != NULL; o = next) {
		next = o->next;
		lpi_out_unhold(s, o);
		lpi_out_free(s->peer, o);
	}
}

void
lpi_outcache_clear(struct lpi_outcache *oc)
{
	struct lpi_out *o;
	int k;

	for (k = 0; k < LPI_OUT_CLASSES; k++) {
		while ((o = oc->free[k]) != NULL) {
			oc->free[k] = o->next;
			free(o);
		}
		oc->count[k] = 0;
	}
}

int
lpi_send_ctrl(struct proto_session *s, const uint8_t *bytes, size_t len)
{
	struct lpi_conn *c = s->conn;
	struct lpi_out *o;

	if (c == NULL || c->closing)
		return -1;
	/*
	 * A peer that sends PINGs and never reads the replies: the reader
	 * drops the transport. The GOODBYE that says why still goes.
	 */
	if (c->ctrl_bytes + len > LPI_CTRL_MAX &&
	    proto_get16(bytes + 12) != PROTO_CMD_GOODBYE) {
		c->ctrl_full = 1;
		return -1;
	}
	o = lpi_out_new(s->peer, bytes, len, 0);
	if (o == NULL)
		return -1;
	c->ctrl_bytes += (uint32_t)len;
	c->ctrl_charge += lpi_heap_cost(sizeof(*o) + o->cap);
	lpi_recount(s);
	if (c->ctrl_tail != NULL)
		c->ctrl_tail->next = o;
	else
		c->ctrl = o;
	c->ctrl_tail = o;
	lpi_flush_soon(s);
	return 0;
}

void
lpi_ring_add(struct proto_session *s, struct proto_link *l)
{
	if (l->in_ring)
		return;
	l->in_ring = 1;
	if (s->ring == NULL) {
		l->ring_next = l->ring_prev = l;
		s->ring = l;
		return;
	}
	/* Behind the current one: served last in this round. */
	l->ring_next = s->ring;
	l->ring_prev = s->ring->ring_prev;
	l->ring_prev->ring_next = l;
	s->ring->ring_prev = l;
}

void
lpi_ring_remove(struct proto_session *s, struct proto_link *l)
{
	if (!l->in_ring)
		return;
	l->in_ring = 0;
	l->deficit = 0;
	if (l->ring_next == l) {
		s->ring = NULL;
	} else {
		l->ring_prev->ring_next = l->ring_next;
		l->ring_next->ring_prev = l->ring_prev;
		if (s->ring == l)
			s->ring = l->ring_next;
	}
	l->ring_next = l->ring_prev = NULL;
}

void
lpi_send_seq(struct proto_session *s, struct proto_link *l, struct lpi_out *o)
{
	/* A link made by proto_link_new() queues in its family's queue. */
	if (l->qlink != NULL)
		l = l->qlink;
	o->next = NULL;
	if (l->q_tail != NULL)
		l->q_tail->next = o;
	else
		l->q = o;
	l->q_tail = o;
	s->queued_bytes += o->len;
	/* Replies are the peer's doing; our own commands are ours. */
	if (proto_get16(o->buf + 12) & PROTO_REPLY_BIT)
		lpi_out_hold(s, o);
	lpi_ring_add(s, l);
	lpi_flush_soon(s);
}

static int
window_full(const struct proto_session *s, uint32_t len)
{
	return s->unacked_bytes > 0 &&
	    s->unacked_bytes + len > s->peer->cfg.window;
}

/* The next message the round robin allows, dequeued; NULL if none. */
static struct lpi_out *
pick(struct proto_session *s)
{
	struct proto_link *l;
	struct lpi_out *o;

	for (;;) {
		l = s->ring;
		if (l == NULL)
			return NULL;
		o = l->q;
		if (o == NULL) {
			lpi_ring_remove(s, l);
			continue;
		}
		if (o->len > l->deficit) {
			l->deficit += LPI_QUANTUM;
			s->ring = l->ring_next;
			continue;
		}
		if (window_full(s, o->len))
			return NULL;
		l->q = o->next;
		if (l->q == NULL) {
			l->q_tail = NULL;
			lpi_ring_remove(s, l);
		} else {
			l->deficit -= o->len;
		}
		o->next = NULL;
		s->queued_bytes -= o->len;
		return o;
	}
}

/* The CRC feature: the CRC item goes last, computed over the message. */
static void
append_crc(struct lpi_out *o)
{
	struct proto_msg m;
	uint32_t pos = o->len;

	proto_put16(o->buf + pos, PROTO_ITEM_CRC);
	proto_put16(o->buf + pos + 2, 8);
	proto_put32(o->buf + pos + 4, 0);
	o->len += 8;
	proto_put16(o->buf + 14, (uint16_t)o->len);
	if (proto_msg_view(&m, o->buf, o->len, 0, NULL) == 0)
		proto_put32(o->buf + pos + 4, proto_msg_crc(&m, pos));
}

void
lpi_journal(struct proto_session *s, char dir, uint64_t seq,
    const uint8_t *msg)
{
	struct proto_journal j;

	if (s->peer->cfg.journal == NULL)
		return;
	j.dir = dir;
	j.seq = seq;
	j.linkid = proto_get64(msg);
	j.msgid = proto_get32(msg + 8);
	j.command = proto_get16(msg + 12);
	j.session = s->id;
	s->peer->cfg.journal(s->peer->cfg.arg, &j);
}

/* Give o its number and keep it until the peer acknowledges it. */
static void
number(struct proto_session *s, struct lpi_out *o)
{
	if ((s->features & PROTO_FEATURE_CRC) && o->cap >= o->len + 8)
		append_crc(o);
	o->seq = ++s->sent_seq;
	if (s->rt_tail != NULL)
		s->rt_tail->next = o;
	else
		s->rt = o;
	s->rt_tail = o;
	if (s->wnext == NULL)
		s->wnext = o;
	s->unacked_bytes += o->len;
	lpi_journal(s, 'S', o->seq, o->buf);
}

struct entry {
	struct lpi_out *o;
	uint32_t off;
	int ctrl;
};

struct batch {
	struct iovec iov[IOV_BATCH];
	struct entry e[IOV_BATCH];
	int n;
	size_t bytes;
};

static int
batch_add(struct batch *b, struct lpi_out *o, uint32_t off, int ctrl)
{
	if (b->n == IOV_BATCH || b->bytes >= WRITE_BATCH)
		return -1;
	b->iov[b->n].iov_base = o->buf + off;
	b->iov[b->n].iov_len = o->len - off;
	b->e[b->n].o = o;
	b->e[b->n].off = off;
	b->e[b->n].ctrl = ctrl;
	b->bytes += o->len - off;
	b->n++;
	return 0;
}

/* What goes out next, in wire order. */
static void
gather(struct proto_session *s, struct batch *b)
{
	struct lpi_conn *c = s->conn;
	struct lpi_out *o, *seq_first;
	int flowing = lpi_flowing(s);

	b->n = 0;
	b->bytes = 0;
	seq_first = s->wnext;
	if (c->ctrl_partial) {
		batch_add(b, c->ctrl, c->ctrl_off, 1);
	} else if (c->seq_off > 0 && seq_first != NULL) {
		batch_add(b, seq_first, c->seq_off, 0);
		seq_first = seq_first->next;
	}
	for (o = c->ctrl_partial ? c->ctrl->next : c->ctrl; o != NULL;
	    o = o->next)
		if (batch_add(b, o, 0, 1) < 0)
			return;
	if (!flowing)
		return;
	for (o = seq_first; o != NULL; o = o->next)
		if (batch_add(b, o, 0, 0) < 0)
			return;
	while (b->n < IOV_BATCH && b->bytes < WRITE_BATCH) {
		o = pick(s);
		if (o == NULL)
			return;
		number(s, o);
		batch_add(b, o, 0, 0);
	}
}

/* Account for n bytes written from the batch. */
static void
consume(struct proto_session *s, const struct batch *b, size_t n)
{
	struct lpi_conn *c = s->conn;
	const struct entry *e;
	size_t left;
	int i;

	for (i = 0; i < b->n && n > 0; i++) {
		e = &b->e[i];
		left = e->o->len - e->off;
		if (n < left) {
			if (e->ctrl) {
				c->ctrl_partial = 1;
				c->ctrl_off = e->off + (uint32_t)n;
			} else {
				c->seq_off = e->off + (uint32_t)n;
			}
			return;
		}
		n -= left;
		if (e->ctrl) {
			c->ctrl = e->o->next;
			if (c->ctrl == NULL)
				c->ctrl_tail = NULL;
			c->ctrl_partial = 0;
			c->ctrl_off = 0;
			c->ctrl_bytes -= e->o->len;
			c->ctrl_charge -= lpi_heap_cost(sizeof(*e->o) +
			    e->o->cap);
			lpi_out_free(s->peer, e->o);
		} else {
			s->wnext = e->o->next;
			c->seq_off = 0;
			if (e->o->seq > s->written_seq)
				s->written_seq = e->o->seq;
		}
	}
}

static ssize_t
write_batch(struct lpi_conn *c, struct batch *b)
{
	struct msghdr mh;

	if (!c->is_socket)
		return writev(c->st.wfd, b->iov, b->n);
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = b->iov;
	mh.msg_iovlen = (size_t)b->n;
	return sendmsg(c->st.wfd, &mh, MSG_NOSIGNAL);
}

static void
want_write(struct lpi_conn *c, int on)
{
	unsigned ev = on ? PROTO_IO_WRITE : 0;

	if (c->wio != NULL)
		proto_io_set(c->wio, ev);
	else
		proto_io_set(c->rio, PROTO_IO_READ | ev);
}

static void flush_conn(struct proto_session *s, struct lpi_conn *c);

void
lpi_flush(struct proto_session *s)
{
	if (s->conn == NULL)
		return;
	flush_conn(s, s->conn);
	lpi_room_check(s);
}

static void
flush_conn(struct proto_session *s, struct lpi_conn *c)
{
	struct batch b;
	ssize_t n;

	for (;;) {
		gather(s, &b);
		if (b.n == 0 && s->state == LPI_CLOSING && !s->goodbye_sent &&
		    s->ring == NULL) {
			lpi_closing_drained(s);
			continue;
		}
		if (b.n == 0) {
			want_write(c, 0);
			if (c->closing)
				lpi_detach(s, "closed after GOODBYE");
			return;
		}
		n = write_batch(c, &b);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				want_write(c, 1);
				return;
			}
			lpi_detach(s, strerror(errno));
			return;
		}
		consume(s, &b, (size_t)n);
		lpi_recount(s);
		if ((size_t)n < b.bytes) {
			want_write(c, 1);
			return;
		}
	}
}

static void
flush_deferred(struct proto_defer *d, void *arg)
{
	(void)d;
	lpi_flush(arg);
}

void
lpi_flush_soon(struct proto_session *s)
{
	if (s->flusher == NULL)
		s->flusher = proto_defer_new(s->peer->loop, flush_deferred, s);
	if (s->flusher != NULL)
		proto_defer_post(s->flusher);
}

int
lpi_acked(struct proto_session *s, uint64_t received)
{
	struct lpi_out *o;

	if (received < s->peer_received || received > s->sent_seq)
		return -1;
	s->peer_received = received;
	while ((o = s->rt) != NULL && o->seq <= received) {
		if (s->wnext == o) {
			/* Acknowledged unwritten: only after a resume. */
			s->wnext = o->next;
			if (s->conn != NULL)
				s->conn->seq_off = 0;
		}
		s->rt = o->next;
		if (s->rt == NULL)
			s->rt_tail = NULL;
		s->unacked_bytes -= o->len;
		lpi_out_unhold(s, o);
		lpi_out_free(s->peer, o);
	}
	lpi_flush_soon(s);
	return 0;
}

void
lpi_rewind(struct proto_session *s)
{
	struct lpi_out *o;

	s->wnext = s->rt;
	if (s->conn != NULL)
		s->conn->seq_off = 0;
	for (o = s->rt; o != NULL && o->seq <= s->written_seq; o = o->next)
		s->retransmitted++;
	lpi_flush_soon(s);
}

void
lpi_conn_clear_ctrl(struct lpi_conn *c)
{
	lpi_out_drop_list(c->s, c->ctrl);
	c->ctrl = c->ctrl_tail = NULL;
	c->ctrl_partial = 0;
	c->ctrl_off = 0;
	c->ctrl_bytes = 0;
	c->ctrl_charge = 0;
}

static void
clear_link_queue(struct proto_session *s, struct proto_link *l)
{
	lpi_out_drop_list(s, l->q);
	l->q = l->q_tail = NULL;
	lpi_ring_remove(s, l);
}

void
lpi_sendq_clear(struct proto_session *s)
{
	struct lpi_table *t = &s->links;
	size_t i;

	clear_link_queue(s, &s->link0);
	for (i = 0; i < t->n; i++)
		if (t->slots[i].val != NULL)
			clear_link_queue(s, t->slots[i].val);
	lpi_out_drop_list(s, s->rt);
	s->rt = s->rt_tail = s->wnext = NULL;
	s->unacked_bytes = 0;
	s->queued_bytes = 0;
	if (s->conn != NULL)
		lpi_conn_clear_ctrl(s->conn);
}

/* --- room for streams --------------------------------------------------- */

/*
 * A service that streams (CACHE_READ's parts) must not queue faster than
 * the peer's window drains: it queues while proto_session_queued() is
 * low and waits here otherwise. Waiters are called from a deferred call,
 * never from inside a flush, so they may queue again at once.
 */
struct lpi_roomwait {
	struct lpi_roomwait *next;
	size_t below;
	void (*fn)(void *arg);
	void *arg;
};

size_t
proto_session_queued(const struct proto_session *s)
{
	return (size_t)s->queued_bytes;
}

static void
room_run(struct proto_defer *d, void *arg)
{
	struct proto_session *s = arg;
	struct lpi_roomwait **pp, *w;

	(void)d;
	if (s->state == LPI_DEAD)
		return;
	pp = &s->roomwait;
	while ((w = *pp) != NULL) {
		if (s->queued_bytes >= w->below) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		w->fn(w->arg);
		free(w);
		/* fn may have added or cancelled waiters: start over. */
		pp = &s->roomwait;
	}
}

void
lpi_room_check(struct proto_session *s)
{
	struct lpi_roomwait *w;

	for (w = s->roomwait; w != NULL; w = w->next)
		if (s->queued_bytes < w->below)
			break;
	if (w == NULL)
		return;
	if (s->room_defer == NULL)
		s->room_defer = proto_defer_new(s->peer->loop, room_run, s);
	if (s->room_defer != NULL)
		proto_defer_post(s->room_defer);
}

int
proto_session_when_room(struct proto_session *s, size_t below,
    void (*fn)(void *arg), void *arg)
{
	struct lpi_roomwait *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return -1;
	w->below = below;
	w->fn = fn;
	w->arg = arg;
	w->next = s->roomwait;
	s->roomwait = w;
	lpi_room_check(s);
	return 0;
}

void
proto_session_cancel_room(struct proto_session *s, void *arg)
{
	struct lpi_roomwait **pp, *w;

	pp = &s->roomwait;
	while ((w = *pp) != NULL) {
		if (w->arg == arg) {
			*pp = w->next;
			free(w);
			continue;
		}
		pp = &w->next;
	}
}

void
lpi_room_free(struct proto_session *s)
{
	struct lpi_roomwait *w;

	while ((w = s->roomwait) != NULL) {
		s->roomwait = w->next;
		free(w);
	}
	if (s->room_defer != NULL)
		proto_defer_free(s->room_defer);
	s->room_defer = NULL;
}
