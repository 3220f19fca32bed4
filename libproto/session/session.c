/*
 * session.c - msgproto(7) section 3: a session over a transport that
 * may break.
 *
 * The handshake (HELLO, its reply, and AUTH when a key is in use)
 * agrees on features and, for a resume, tells each side how many
 * sequenced messages the other received; both then retransmit the rest.
 * Sequenced messages are counted as they arrive and acknowledged when a
 * quarter of the sender's window has come in, or 20 ms after the first
 * unacknowledged one. A silent transport gets a PING after 5 s and is
 * given up after 15 s; the side that connected then reconnects, and the
 * acceptor keeps the session detached for the session time-out.
 *
 * A framing error, a malformed control message or a break of these
 * rules ends the session with GOODBYE {EPROTO, ERRTEXT}. A CRC mismatch
 * is taken for damage in transit: the transport is dropped and the
 * resume retransmits the message.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proto_crc32c.h"
#include "proto_numbers.h"
#include "session_int.h"

#define PROTO_VERSION	1

static const uint8_t zero_session[LPI_SESSION_LEN];

static uint64_t
now_ns(const struct proto_session *s)
{
	return proto_loop_now(s->peer->loop);
}

int
lpi_flowing(const struct proto_session *s)
{
	return s->conn != NULL &&
	    (s->state == LPI_UP || s->state == LPI_CLOSING);
}

/* --- building control messages ------------------------------------------- */

/* The peer's own builder: a service may hold s->rb across a call. */
static struct proto_builder *
ctrl_begin(struct proto_session *s, uint32_t msgid, uint16_t command)
{
	struct proto_builder *b = &s->peer->ctrl_b;

	proto_builder_reset(b);
	proto_build_begin(b, 0, msgid, command);
	return b;
}

static void
ctrl_send(struct proto_session *s, struct proto_builder *b)
{
	int len = proto_build_end(b);

	if (len > 0)
		(void)lpi_send_ctrl(s, proto_builder_data(b), (size_t)len);
}

static void
send_ack(struct proto_session *s)
{
	struct proto_builder *b = ctrl_begin(s, 0, PROTO_CMD_ACK);

	proto_build_u64(b, PROTO_ITEM_RECEIVED, s->recv_count);
	ctrl_send(s, b);
	s->acked_count = s->recv_count;
	s->rx_since_ack = 0;
	proto_timer_stop(s->ack_timer);
}

static void
send_goodbye(struct proto_session *s, uint32_t status, const char *text)
{
	struct proto_builder *b = ctrl_begin(s, 0, PROTO_CMD_GOODBYE);

	proto_build_u32(b, PROTO_ITEM_STATUS, status);
	if (text != NULL)
		proto_build_string(b, PROTO_ITEM_ERRTEXT, text,
		    strnlen(text, 1024));
	ctrl_send(s, b);
}

/* VERSION, NODE, SESSION, RECEIVED, FEATURES, WINDOW, LIMITS: both ways. */
static void
hello_items(struct proto_session *s, struct proto_builder *b,
    uint64_t features)
{
	const struct proto_peer_config *cfg = &s->peer->cfg;

	proto_build_u16(b, PROTO_ITEM_VERSION, PROTO_VERSION);
	proto_build_string(b, PROTO_ITEM_NODE, s->peer->node,
	    strlen(s->peer->node));
	/* A session never up has nothing to resume: ask for a new one. */
	proto_build_bytes(b, PROTO_ITEM_SESSION,
	    s->was_up ? s->id : zero_session, LPI_SESSION_LEN);
	proto_build_u64(b, PROTO_ITEM_RECEIVED, s->recv_count);
	proto_build_u64(b, PROTO_ITEM_FEATURES, features);
	proto_build_u32(b, PROTO_ITEM_WINDOW, cfg->window);
	proto_build_nest_begin(b, PROTO_ITEM_LIMITS, 0);
	proto_build_u32(b, PROTO_ITEM_MAX_INFLIGHT, cfg->max_inflight);
	proto_build_u32(b, PROTO_ITEM_MAX_LINKS, cfg->max_links);
	proto_build_nest_end(b);
}

static uint64_t
offered_features(const struct proto_session *s)
{
	uint64_t f = s->peer->cfg.features & (PROTO_FEATURE_CRC |
	    PROTO_FEATURE_AUTH);

	if (s->peer->keylen > 0)
		f |= PROTO_FEATURE_AUTH;
	else
		f &= ~PROTO_FEATURE_AUTH;
	return f;
}

static void
send_hello(struct proto_session *s)
{
	struct proto_builder *b = ctrl_begin(s, 0, PROTO_CMD_HELLO);
	uint64_t f = offered_features(s);

	hello_items(s, b, f);
	if (f & PROTO_FEATURE_AUTH) {
		lpi_random(s->nonce, sizeof(s->nonce));
		proto_build_bytes(b, PROTO_ITEM_NONCE, s->nonce,
		    sizeof(s->nonce));
	}
	ctrl_send(s, b);
	s->state = LPI_HELLO_SENT;
}

/* --- what a HELLO says ------------------------------------------------------ */

struct hello {
	uint32_t status;
	uint16_t version;
	char node[256];
	uint8_t session[LPI_SESSION_LEN];
	uint64_t received;
	uint64_t features;
	uint32_t window;
	uint32_t max_inflight, max_links;
	const uint8_t *nonce;
	const uint8_t *auth;
	char errtext[160];
	unsigned have;		/* HELLO_HAVE_* */
};

#define HELLO_HAVE_CORE	0x1u	/* VERSION..WINDOW all there */

static void
read_limits(const struct proto_iter *parent, const struct proto_item *nest,
    struct hello *h)
{
	struct proto_iter it;
	struct proto_item item;

	if (proto_iter_nest(&it, parent, nest, NULL) < 0)
		return;
	while (proto_iter_next(&it, &item, NULL) > 0) {
		if (proto_item_type(&item) == PROTO_ITEM_MAX_INFLIGHT)
			(void)proto_item_u32(&item, &h->max_inflight, NULL);
		else if (proto_item_type(&item) == PROTO_ITEM_MAX_LINKS)
			(void)proto_item_u32(&item, &h->max_links, NULL);
	}
}

/* The message validated, so every known item has its kind's size. */
static void
read_hello(const struct proto_msg *m, struct hello *h)
{
	struct proto_iter it;
	struct proto_item item;
	const uint8_t *p;
	const char *str;
	size_t n;
	unsigned got = 0;

	memset(h, 0, sizeof(*h));
	h->max_inflight = h->max_links = UINT32_MAX;
	proto_iter_init(&it, m);
	while (proto_iter_next(&it, &item, NULL) > 0) {
		switch (proto_item_type(&item)) {
		case PROTO_ITEM_STATUS:
			(void)proto_item_u32(&item, &h->status, NULL);
			break;
		case PROTO_ITEM_ERRTEXT:
			if (proto_item_string(&item, &str, &n, NULL) == 0) {
				n = n < sizeof(h->errtext) ? n :
				    sizeof(h->errtext) - 1;
				memcpy(h->errtext, str, n);
			}
			break;
		case PROTO_ITEM_VERSION:
			if (proto_item_u16(&item, &h->version, NULL) == 0)
				got |= 1;
			break;
		case PROTO_ITEM_NODE:
			if (proto_item_string(&item, &str, &n, NULL) == 0) {
				n = n < sizeof(h->node) ? n : sizeof(h->node) - 1;
				memcpy(h->node, str, n);
			}
			break;
		case PROTO_ITEM_SESSION:
			if (proto_item_bytes(&item, &p, &n, LPI_SESSION_LEN,
			    NULL) == 0) {
				memcpy(h->session, p, LPI_SESSION_LEN);
				got |= 2;
			}
			break;
		case PROTO_ITEM_RECEIVED:
			if (proto_item_u64(&item, &h->received, NULL) == 0)
				got |= 4;
			break;
		case PROTO_ITEM_FEATURES:
			if (proto_item_u64(&item, &h->features, NULL) == 0)
				got |= 8;
			break;
		case PROTO_ITEM_WINDOW:
			if (proto_item_u32(&item, &h->window, NULL) == 0)
				got |= 16;
			break;
		case PROTO_ITEM_LIMITS:
			read_limits(&it, &item, h);
			break;
		case PROTO_ITEM_NONCE:
			if (proto_item_bytes(&item, &p, &n, LPI_NONCE_LEN,
			    NULL) == 0)
				h->nonce = p;
			break;
		case PROTO_ITEM_AUTH:
			if (proto_item_bytes(&item, &p, &n, LPI_AUTH_LEN,
			    NULL) == 0)
				h->auth = p;
			break;
		default:
			break;		/* unknown items are allowed */
		}
	}
	if (got == 31)
		h->have |= HELLO_HAVE_CORE;
}

static void
take_peer_hello(struct proto_session *s, const struct hello *h)
{
	snprintf(s->peer_node, sizeof(s->peer_node), "%s", h->node);
	proto_escape(s->node_text, sizeof(s->node_text), s->peer_node,
	    strlen(s->peer_node));
	s->peer_window = h->window < LPI_WINDOW_MIN ? LPI_WINDOW_MIN :
	    h->window;
	s->peer_max_inflight = h->max_inflight;
	s->peer_max_links = h->max_links;
	s->hello_received = h->received;
	if (h->nonce != NULL)
		memcpy(s->peer_nonce, h->nonce, LPI_NONCE_LEN);
}

/*
 * A resume names how many of e's messages the peer has: not fewer than
 * it acknowledged, not more than were sent. Checked before answering,
 * so a peer is never told STATUS 0 and then GOODBYE. The error ends s,
 * the session of the transport: for an acceptor only the vehicle of
 * the handshake, and e waits for a better resume or its time-out.
 */
static int
bad_received(struct proto_session *s, const struct proto_session *e,
    uint64_t received)
{
	if (received >= e->peer_received && received <= e->sent_seq)
		return 0;
	/*
	 * An acceptor with a key answers before the peer has proven it:
	 * the counts of someone's session are not for a stranger.
	 */
	if (!s->initiator && s->peer->keylen > 0) {
		lpi_log(s->peer, PROTO_LOG_WARN, "%s: resume with RECEIVED %"
		    PRIu64 " outside %" PRIu64 "..%" PRIu64 " refused",
		    s->conn->st.peer, received, e->peer_received, e->sent_seq);
		lpi_protocol_error(s, "resume with a wrong RECEIVED");
		return 1;
	}
	lpi_protocol_error(s, "resume with RECEIVED %" PRIu64 " outside %"
	    PRIu64 "..%" PRIu64, received, e->peer_received, e->sent_seq);
	return 1;
}

/* --- the acceptor's side of the handshake ------------------------------------ */

/* Answer a HELLO that is refused, then drop the transport. */
static void
refuse_hello(struct proto_session *s, uint32_t status, const char *text)
{
	struct proto_builder *b = ctrl_begin(s, 0,
	    PROTO_CMD_HELLO | PROTO_REPLY_BIT);
	char name[16];

	proto_build_u32(b, PROTO_ITEM_STATUS, status);
	proto_build_string(b, PROTO_ITEM_ERRTEXT, text, strlen(text));
	ctrl_send(s, b);
	/* An unknown session is what a restart leaves: not a warning. */
	lpi_log_limited(s->peer, &s->peer->rate[LPI_RATE_HELLO],
	    lpi_rate_peer_what[LPI_RATE_HELLO], status == ESTALE ? PROTO_LOG_INFO :
	    PROTO_LOG_WARN, "%s: HELLO refused: %s (STATUS %s)",
	    s->conn->st.peer, text, proto_status_name(status, name,
	    sizeof(name)));
	s->conn->closing = 1;
	lpi_flush(s);
}

static void
send_hello_reply(struct proto_session *s, const struct proto_session *base)
{
	struct proto_builder *b = ctrl_begin(s, 0,
	    PROTO_CMD_HELLO | PROTO_REPLY_BIT);
	uint8_t proof[LPI_AUTH_LEN];

	proto_build_u32(b, PROTO_ITEM_STATUS, 0);
	/* A resume answers with the resumed session's counts. */
	proto_build_u16(b, PROTO_ITEM_VERSION, PROTO_VERSION);
	proto_build_string(b, PROTO_ITEM_NODE, s->peer->node,
	    strlen(s->peer->node));
	proto_build_bytes(b, PROTO_ITEM_SESSION, base->id, LPI_SESSION_LEN);
	proto_build_u64(b, PROTO_ITEM_RECEIVED, base->recv_count);
	proto_build_u64(b, PROTO_ITEM_FEATURES, s->features);
	proto_build_u32(b, PROTO_ITEM_WINDOW, s->peer->cfg.window);
	proto_build_nest_begin(b, PROTO_ITEM_LIMITS, 0);
	proto_build_u32(b, PROTO_ITEM_MAX_INFLIGHT, s->peer->cfg.max_inflight);
	proto_build_u32(b, PROTO_ITEM_MAX_LINKS, s->peer->cfg.max_links);
	proto_build_nest_end(b);
	if (s->features & PROTO_FEATURE_AUTH) {
		lpi_random(s->nonce, sizeof(s->nonce));
		proto_build_bytes(b, PROTO_ITEM_NONCE, s->nonce,
		    sizeof(s->nonce));
		if (lpi_auth_proof(s->peer, "msgkit acceptor", s->peer_nonce,
		    s->nonce, base->id, proof) == 0)
			proto_build_bytes(b, PROTO_ITEM_AUTH, proof,
			    sizeof(proof));
	}
	ctrl_send(s, b);
}

static void
event(struct proto_session *s, enum proto_session_event ev, int error,
    const char *text)
{
	if (s->ops != NULL && s->ops->event != NULL)
		s->ops->event(s->arg, s, ev, error, text);
	else if (s->accepted != NULL)
		s->accepted(s->arg, s, ev, error, text);
}

/*
 * The transport of a handshake that resumed session e moves to e; the
 * session the handshake ran in was only a vehicle and goes.
 */
static void
resume_into(struct proto_session *s, struct proto_session *e)
{
	struct lpi_conn *c = s->conn;

	if (e->conn != NULL)
		lpi_detach(e, "replaced by a newer transport");
	if (e->state == LPI_DEAD) {
		lpi_lose(s, ESTALE, "resumed session ended meanwhile");
		return;
	}
	s->conn = NULL;
	c->s = e;
	e->conn = c;
	lpi_recount(s);
	lpi_recount(e);
	memcpy(e->peer_nonce, s->peer_nonce, LPI_NONCE_LEN);
	e->peer_window = s->peer_window;
	e->hello_received = s->hello_received;
	proto_timer_stop(e->expire);
	s->state = LPI_DEAD;
	lpi_session_bury(s);
	(void)lpi_acked(e, e->hello_received);	/* checked in on_hello */
	e->state = LPI_UP;
	e->resumes++;
	lpi_rewind(e);
	proto_timer_set(e->keepalive, e->peer->cfg.ping_idle_ns);
	lpi_log(e->peer, PROTO_LOG_INFO, "session resumed over %s: peer "
	    "had %" PRIu64 ", resending %" PRIu64, c->st.peer,
	    e->peer_received, e->sent_seq - e->peer_received);
	event(e, PROTO_EV_RESUMED, 0, c->st.peer);
}

static void
acceptor_done(struct proto_session *s)
{
	struct proto_session *e;

	if (s->resuming != NULL) {
		/*
		 * Looked up again, not trusted: a session that ended since
		 * the HELLO has been freed. on_auth has refused that case.
		 */
		e = lpi_find_session(s->peer, s->id);
		if (e == NULL) {
			lpi_lose(s, ESTALE, "resumed session ended meanwhile");
			return;
		}
		resume_into(s, e);
		return;
	}
	s->state = LPI_UP;
	s->was_up = 1;
	lpi_log(s->peer, PROTO_LOG_DEBUG, "session with %s up over %s",
	    s->node_text, s->conn->st.peer);
	event(s, PROTO_EV_UP, 0, s->conn->st.peer);
	lpi_flush_soon(s);
}

static void
on_hello(struct proto_session *s, const struct proto_msg *m)
{
	struct proto_session *e = NULL;
	struct hello h;
	uint64_t ours = offered_features(s);
	uint32_t status;
	const char *why;

	read_hello(m, &h);
	if (!(h.have & HELLO_HAVE_CORE)) {
		lpi_protocol_error(s, "HELLO lacks VERSION, SESSION, RECEIVED, "
		    "FEATURES or WINDOW");
		return;
	}
	if (h.version != PROTO_VERSION) {
		refuse_hello(s, EPROTONOSUPPORT, "protocol version 1 only");
		return;
	}
	if (s->peer->keylen > 0 &&
	    (!(h.features & PROTO_FEATURE_AUTH) || h.nonce == NULL)) {
		refuse_hello(s, EACCES, "authentication required");
		return;
	}
	take_peer_hello(s, &h);
	s->features = h.features & ours;
	if (memcmp(h.session, zero_session, LPI_SESSION_LEN) != 0) {
		e = lpi_find_session(s->peer, h.session);
		if (e == NULL) {
			refuse_hello(s, ESTALE, "no such session");
			return;
		}
		if (e->features != s->features) {
			refuse_hello(s, EINVAL, "features differ from the "
			    "session's");
			return;
		}
		if (bad_received(s, e, h.received))
			return;
		s->resuming = e;
		memcpy(s->id, e->id, LPI_SESSION_LEN);
	} else {
		if (h.received != 0) {
			lpi_protocol_error(s, "new session with RECEIVED %"
			    PRIu64, h.received);
			return;
		}
		if ((status = lpi_admit_session(s, &why)) != 0) {
			refuse_hello(s, status, why);
			return;
		}
		lpi_random(s->id, sizeof(s->id));
		s->has_id = 1;
	}
	send_hello_reply(s, e != NULL ? e : s);
	if (s->features & PROTO_FEATURE_AUTH) {
		s->state = LPI_WAIT_AUTH;
		return;
	}
	acceptor_done(s);
}

/*
 * Why a proof is wrong, for the log: a reflection of our own proof is
 * an attack worth naming; a replayed one looks like any wrong one.
 */
static const char *
auth_failure(struct proto_session *s, const uint8_t *p)
{
	uint8_t ours[LPI_AUTH_LEN];

	if (p == NULL)
		return "AUTH carries no proof";
	if (lpi_auth_proof(s->peer, "msgkit acceptor", s->peer_nonce,
	    s->nonce, s->id, ours) == 0 && lpi_auth_equal(p, ours))
		return "the proof is our own, reflected";
	return "the proof is wrong (a wrong key, or replayed)";
}

static void
on_auth(struct proto_session *s, const struct proto_msg *m)
{
	struct proto_item it;
	struct proto_builder *b;
	uint8_t want[LPI_AUTH_LEN];
	const uint8_t *p = NULL;
	size_t n;

	if (proto_msg_find(m, PROTO_ITEM_AUTH, &it, NULL) <= 0 ||
	    proto_item_bytes(&it, &p, &n, LPI_AUTH_LEN, NULL) < 0 ||
	    lpi_auth_proof(s->peer, "msgkit initiator", s->peer_nonce,
	    s->nonce, s->id, want) < 0 || !lpi_auth_equal(p, want)) {
		lpi_log_limited(s->peer, &s->peer->rate[LPI_RATE_AUTH],
		    lpi_rate_peer_what[LPI_RATE_AUTH], PROTO_LOG_WARN, "%s: AUTH refused "
		    "(node %s): %s", s->conn->st.peer, s->node_text,
		    auth_failure(s, p));
		send_goodbye(s, EACCES, "authentication failed");
		lpi_lose(s, EACCES, "the initiator's AUTH proof is wrong");
		return;
	}
	/* The session to resume may have ended while AUTH was due. */
	if (s->resuming != NULL &&
	    lpi_find_session(s->peer, s->id) == NULL) {
		send_goodbye(s, ESTALE, "the session ended meanwhile");
		lpi_lose(s, ESTALE, "resumed session ended meanwhile");
		return;
	}
	b = ctrl_begin(s, m->msgid, PROTO_CMD_AUTH | PROTO_REPLY_BIT);
	proto_build_u32(b, PROTO_ITEM_STATUS, 0);
	ctrl_send(s, b);
	acceptor_done(s);
}

/* --- the initiator's side ----------------------------------------------------- */

static void
initiator_done(struct proto_session *s)
{
	const char *over = s->conn->st.peer;

	s->backoff_ns = 0;
	proto_timer_stop(s->retry);
	if (!s->was_up) {
		proto_timer_stop(s->expire);
		s->was_up = 1;
		s->state = LPI_UP;
		lpi_log(s->peer, PROTO_LOG_DEBUG, "session with %s up over %s",
		    s->node_text, over);
		event(s, PROTO_EV_UP, 0, over);
		lpi_flush_soon(s);
		return;
	}
	(void)lpi_acked(s, s->hello_received);	/* checked in the reply */
	proto_timer_stop(s->expire);
	s->state = LPI_UP;
	s->resumes++;
	lpi_rewind(s);
	lpi_log(s->peer, PROTO_LOG_INFO, "session resumed over %s: peer had "
	    "%" PRIu64 ", resending %" PRIu64, over, s->peer_received,
	    s->sent_seq - s->peer_received);
	event(s, PROTO_EV_RESUMED, 0, over);
}

static void
on_hello_reply(struct proto_session *s, const struct proto_msg *m)
{
	struct hello h;
	struct proto_builder *b;
	uint8_t proof[LPI_AUTH_LEN];
	uint64_t ours = offered_features(s);
	char name[16], text[sizeof(h.errtext) * 4];

	read_hello(m, &h);
	if (h.status == ESTALE) {
		lpi_lose(s, ESTALE, "the acceptor does not know the session");
		return;
	}
	if (h.status != 0) {
		proto_escape(text, sizeof(text), h.errtext, strlen(h.errtext));
		lpi_lose(s, (int)h.status, "HELLO refused (STATUS %s%s%s)",
		    proto_status_name(h.status, name, sizeof(name)),
		    text[0] ? ": " : "", text);
		return;
	}
	if (!(h.have & HELLO_HAVE_CORE) || (h.features & ~ours) != 0) {
		lpi_protocol_error(s, "HELLO reply lacks items or grants "
		    "features not offered");
		return;
	}
	if (s->was_up && memcmp(h.session, s->id, LPI_SESSION_LEN) != 0) {
		lpi_protocol_error(s, "HELLO reply names another session");
		return;
	}
	if (s->was_up && h.features != s->features) {
		lpi_protocol_error(s, "features changed on resume");
		return;
	}
	if (s->was_up && bad_received(s, s, h.received))
		return;
	take_peer_hello(s, &h);
	s->features = h.features;
	memcpy(s->id, h.session, LPI_SESSION_LEN);
	s->has_id = 1;
	if (s->peer->keylen == 0) {
		initiator_done(s);
		return;
	}
	if (!(s->features & PROTO_FEATURE_AUTH) || h.nonce == NULL ||
	    h.auth == NULL || lpi_auth_proof(s->peer, "msgkit acceptor",
	    s->nonce, s->peer_nonce, s->id, proof) < 0 ||
	    !lpi_auth_equal(h.auth, proof)) {
		send_goodbye(s, EACCES, "acceptor failed to authenticate");
		lpi_lose(s, EACCES, "the acceptor's AUTH proof is wrong or "
		    "missing");
		return;
	}
	if (lpi_auth_proof(s->peer, "msgkit initiator", s->nonce,
	    s->peer_nonce, s->id, proof) < 0) {
		lpi_lose(s, EACCES, "HMAC failed");
		return;
	}
	b = ctrl_begin(s, 0, PROTO_CMD_AUTH);
	proto_build_bytes(b, PROTO_ITEM_AUTH, proof, sizeof(proof));
	ctrl_send(s, b);
	s->state = LPI_AUTH_SENT;
}

/* An acceptor that refuses our proof says so with a STATUS. */
static void
on_auth_reply(struct proto_session *s, const struct proto_msg *m)
{
	uint32_t status = proto_msg_status(m);
	char name[16];

	if (status != 0) {
		lpi_lose(s, (int)status, "AUTH refused (STATUS %s)",
		    proto_status_name(status, name, sizeof(name)));
		return;
	}
	initiator_done(s);
}

/* --- control messages ---------------------------------------------------------- */

static void
on_ping(struct proto_session *s, const struct proto_msg *m)
{
	struct proto_builder *b;
	struct proto_item it;
	uint64_t ts = 0;

	if (proto_msg_is_reply(m)) {
		if (m->msgid != s->ping_id || s->ping_sent_ns == 0)
			return;
		s->rtt_ns = now_ns(s) - s->ping_sent_ns;
		s->ping_sent_ns = 0;
		if (s->ping_done != NULL)
			s->ping_done(s->ping_arg, s, s->rtt_ns);
		s->ping_done = NULL;
		return;
	}
	if (proto_msg_find(m, PROTO_ITEM_TIMESTAMP, &it, NULL) > 0)
		(void)proto_item_u64(&it, &ts, NULL);
	b = ctrl_begin(s, m->msgid, PROTO_CMD_PING | PROTO_REPLY_BIT);
	proto_build_u64(b, PROTO_ITEM_TIMESTAMP, ts);
	proto_build_u32(b, PROTO_ITEM_STATUS, 0);
	ctrl_send(s, b);
}

static void
on_goodbye(struct proto_session *s, const struct proto_msg *m)
{
	struct proto_item it;
	const char *text = "";
	uint32_t status = proto_msg_status(m);
	char name[16], safe[160];
	size_t n = 0;

	if (proto_msg_find(m, PROTO_ITEM_ERRTEXT, &it, NULL) > 0)
		(void)proto_item_string(&it, &text, &n, NULL);
	proto_escape(safe, sizeof(safe), text, n);
	lpi_lose(s, ECONNRESET, "peer said GOODBYE (STATUS %s%s%s)",
	    proto_status_name(status, name, sizeof(name)), n ? ": " : "",
	    safe);
}

static void
on_ack(struct proto_session *s, const struct proto_msg *m)
{
	struct proto_item it;
	uint64_t n;

	if (proto_msg_find(m, PROTO_ITEM_RECEIVED, &it, NULL) <= 0 ||
	    proto_item_u64(&it, &n, NULL) < 0) {
		lpi_protocol_error(s, "ACK without RECEIVED");
		return;
	}
	if (lpi_acked(s, n) < 0)
		lpi_protocol_error(s, "ACK RECEIVED %" PRIu64 " out of range "
		    "(%" PRIu64 "..%" PRIu64 ")", n, s->peer_received,
		    s->sent_seq);
}

static int
handshaking(const struct proto_session *s)
{
	return s->state == LPI_HELLO_SENT || s->state == LPI_AUTH_SENT ||
	    s->state == LPI_WAIT_HELLO || s->state == LPI_WAIT_AUTH;
}

static void
on_control(struct proto_session *s, const struct proto_msg *m)
{
	uint16_t cmd = proto_msg_command(m);
	int reply = proto_msg_is_reply(m);

	if (cmd == PROTO_CMD_PAD)
		return;
	/* They belong to the session, not to a link: link 0 only. */
	if (m->linkid != 0) {
		lpi_protocol_error(s, "control command 0x%04x on link 0x%llx: "
		    "control messages travel on link 0", m->command,
		    (unsigned long long)m->linkid);
		return;
	}
	if (cmd == PROTO_CMD_GOODBYE && !reply) {
		on_goodbye(s, m);
		return;
	}
	if (cmd == PROTO_CMD_HELLO && !reply && s->state == LPI_WAIT_HELLO) {
		on_hello(s, m);
		return;
	}
	if (cmd == PROTO_CMD_HELLO && reply && s->state == LPI_HELLO_SENT) {
		on_hello_reply(s, m);
		return;
	}
	if (cmd == PROTO_CMD_AUTH && !reply && s->state == LPI_WAIT_AUTH) {
		on_auth(s, m);
		return;
	}
	if (cmd == PROTO_CMD_AUTH && reply && s->state == LPI_AUTH_SENT) {
		on_auth_reply(s, m);
		return;
	}
	if (handshaking(s)) {
		lpi_protocol_error(s, "command 0x%04x during the handshake",
		    m->command);
		return;
	}
	if (cmd == PROTO_CMD_ACK && !reply) {
		on_ack(s, m);
		return;
	}
	if (cmd == PROTO_CMD_PING) {
		on_ping(s, m);
		return;
	}
	if (cmd == PROTO_CMD_HELLO || cmd == PROTO_CMD_AUTH) {
		lpi_protocol_error(s, "%s out of place",
		    cmd == PROTO_CMD_HELLO ? "HELLO" : "AUTH");
		return;
	}
	if (!reply) {
		struct proto_builder *b = ctrl_begin(s, m->msgid,
		    m->command | PROTO_REPLY_BIT);

		proto_build_u32(b, PROTO_ITEM_STATUS, ENOSYS);
		ctrl_send(s, b);
	}
}

/* --- sequenced messages ----------------------------------------------------------- */

static void
on_ack_timer(struct proto_timer *t, void *arg)
{
	struct proto_session *s = arg;

	(void)t;
	if (lpi_flowing(s) && s->recv_count != s->acked_count)
		send_ack(s);
}

/* Count a sequenced message in and decide when to acknowledge. */
static void
count_in(struct proto_session *s, const struct proto_msg *m)
{
	s->recv_count++;
	lpi_journal(s, 'R', s->recv_count, m->bytes);
	s->rx_since_ack += proto_align8(m->length);
	if (s->rx_since_ack >= s->peer_window / 4)
		send_ack(s);
	else if (!proto_timer_armed(s->ack_timer))
		proto_timer_set(s->ack_timer, s->peer->cfg.ack_delay_ns);
}

/* A sequenced message that broke an item rule (not a framing one). */
static void
on_malformed(struct proto_session *s, const struct proto_msg *m,
    const struct proto_error *err)
{
	struct proto_builder *b;
	struct proto_link *l;
	char text[160];

	count_in(s, m);
	proto_error_format(err, text, sizeof(text));
	lpi_log_limited(s->peer, &s->rate[LPI_RATE_MALFORMED],
	    lpi_rate_session_what[LPI_RATE_MALFORMED], PROTO_LOG_WARN,
	    "malformed message from %s: %s", s->node_text, text);
	if (proto_msg_is_reply(m))
		return;		/* its command stays outstanding */
	b = &s->rb;
	proto_builder_reset(b);
	proto_build_begin(b, m->linkid, m->msgid, m->command | PROTO_REPLY_BIT);
	proto_build_u32(b, PROTO_ITEM_STATUS, EBADMSG);
	proto_build_string(b, PROTO_ITEM_ERRTEXT, text, strlen(text));
	/* In its link's turn, like any reply; link 0 when there is none. */
	l = m->linkid == 0 ? NULL : lpi_table_get(&s->links, m->linkid);
	if (l == NULL)
		l = &s->link0;
	(void)lpi_queue_refusal(s, l, b);
}

/*
 * The CRC item is the session's business: once checked, the message
 * goes on as if it had none, so a service echoing its request's items
 * does not echo the CRC too. Its length becomes the end of the item
 * before the CRC (not the CRC's offset: a pad may lie between).
 */
static void
strip_crc(struct proto_msg *m)
{
	struct proto_iter it;
	struct proto_item item;
	uint32_t end = PROTO_HDR_LEN, prev_end = PROTO_HDR_LEN;

	proto_iter_init(&it, m);
	while (proto_iter_next(&it, &item, NULL) > 0) {
		prev_end = end;
		end = (uint32_t)(item.offset - m->offset) + item.len;
	}
	m->length = (uint16_t)prev_end;
}

/*
 * Damage is told from a malformed message by the CRC before the items
 * are read: a flipped bit that also breaks an item rule is still damage
 * to be resent, not a command to answer EBADMSG. The sender appends the
 * CRC item last at an 8-aligned offset, so it is the message's last 8
 * bytes whatever the bytes before it say.
 */
static int
crc_damaged(const struct proto_msg *m)
{
	uint32_t pos = m->length - 8u;

	if (m->length < PROTO_HDR_LEN + 8 || pos % 8 != 0 ||
	    proto_get16(m->bytes + pos) != PROTO_ITEM_CRC ||
	    proto_get16(m->bytes + pos + 2) != 8)
		return 1;
	return proto_get32(m->bytes + pos + 4) != proto_msg_crc(m, pos);
}

/*
 * Damage in transit: drop the transport, and the resume sends the
 * message again. The same message damaged again and again is a sender
 * that computes its CRC wrong, and resuming would loop for ever.
 */
static void
crc_drop(struct proto_session *s, const struct proto_msg *m)
{
	if (s->crc_drops > 0 && s->crc_drop_at == s->recv_count)
		s->crc_drops++;
	else
		s->crc_drops = 1;
	s->crc_drop_at = s->recv_count;
	if (s->crc_drops >= LPI_CRC_DROPS_MAX) {
		lpi_protocol_error(s, "message %" PRIu64 " failed its CRC %u "
		    "times", s->recv_count + 1, s->crc_drops);
		return;
	}
	lpi_log_limited(s->peer, &s->rate[LPI_RATE_CRC],
	    lpi_rate_session_what[LPI_RATE_CRC], PROTO_LOG_WARN, "offset "
	    "%llu: CRC item missing or wrong: dropping the transport",
	    (unsigned long long)m->offset);
	lpi_detach(s, "CRC mismatch");
}

static void
on_message(struct proto_session *s, const struct proto_msg *msg)
{
	struct proto_msg copy = *msg, *m = &copy;
	struct proto_error err;
	char text[160];
	int sequenced = proto_msg_command(m) > PROTO_CONTROL_LAST;

	if (sequenced && lpi_flowing(s) && (s->features & PROTO_FEATURE_CRC) &&
	    crc_damaged(m)) {
		crc_drop(s, m);
		return;
	}
	if (proto_msg_validate(m, &err) < 0) {
		if (!sequenced || !lpi_flowing(s)) {
			proto_error_format(&err, text, sizeof(text));
			lpi_protocol_error(s, "%s", text);
			return;
		}
		on_malformed(s, m, &err);
		lpi_enforce(s);
		return;
	}
	if (!sequenced) {
		on_control(s, m);
		return;
	}
	if (!lpi_flowing(s)) {
		lpi_protocol_error(s, "sequenced message 0x%04x before the "
		    "handshake completed", m->command);
		return;
	}
	count_in(s, m);
	if (s->features & PROTO_FEATURE_CRC)
		strip_crc(m);
	lpi_dispatch(s, m);
	lpi_enforce(s);
}

/* --- the transport ---------------------------------------------------------------- */

static void
keep_first(struct lpi_conn *c, size_t n)
{
	size_t k = sizeof(c->first) - c->nfirst;

	if (k > n)
		k = n;
	memcpy(c->first + c->nfirst, c->s->peer->rbuf, k);
	c->nfirst += (uint8_t)k;
}

/*
 * Whether the first bytes of a transport could be msgkit, as far as
 * they go: every transport starts with a control message on link 0. A
 * session that was up once is known to be talking to msgkit.
 */
static int
looks_msgkit(const struct proto_session *s, const struct lpi_conn *c)
{
	static const uint8_t zero[8];

	if (s->was_up)
		return 1;
	if (memcmp(c->first, zero, c->nfirst < 8 ? c->nfirst : 8) != 0)
		return 0;
	return c->nfirst < 14 || (proto_get16(c->first + 12) &
	    ~PROTO_REPLY_BIT) <= PROTO_CONTROL_LAST;
}

/*
 * Bytes that are no handshake: a tool pointed at a web server, say.
 * What it sent tells the user more than an offset does, and a session
 * that never came up is not retried against it. An initiator's peer
 * does not speak the protocol: no GOODBYE, the session is lost.
 */
static void
not_msgkit(struct proto_session *s, const char *what)
{
	struct lpi_conn *c = s->conn;
	char first[sizeof(c->first) * 4 + 8];

	proto_escape(first, sizeof(first), c->first, c->nfirst);
	if (s->initiator) {
		lpi_lose(s, EPROTO, "%s: not a msgkit peer: it sent \"%s\"%s "
		    "%s", s->addr.text, first, c->nfirst == sizeof(c->first) ?
		    "..." : "", what);
		return;
	}
	lpi_protocol_error(s, "not a msgkit peer: it sent \"%s\"%s %s", first,
	    c->nfirst == sizeof(c->first) ? "..." : "", what);
}

/* A transport that broke: any bytes it left unread, for not_msgkit(). */
static void
read_first(struct lpi_conn *c)
{
	ssize_t n;

	if (c->nfirst > 0)
		return;
	n = read(c->st.rfd, c->first, sizeof(c->first));
	if (n > 0)
		c->nfirst = (uint8_t)n;
}

static void
conn_read(struct lpi_conn *c)
{
	struct proto_session *s = c->s;
	struct proto_error err;
	struct proto_msg m;
	char text[160];
	ssize_t n;
	int r, i, drained;

	for (i = 0; i < 16; i++) {
		n = read(c->st.rfd, s->peer->rbuf, LPI_READ_MAX);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				lpi_detach(s, strerror(errno));
			return;
		}
		if (n == 0) {
			/* The peer may still read what this round queued. */
			lpi_flush(s);
			if (c->dead)
				return;
			if (handshaking(s) && c->nfirst > 0 &&
			    !looks_msgkit(s, c))
				not_msgkit(s, "and closed");
			else
				lpi_detach(s, "end of stream");
			return;
		}
		keep_first(c, (size_t)n);
		c->last_rx_ns = now_ns(s);
		proto_framer_feed(&c->fr, s->peer->rbuf, (size_t)n);
		drained = (size_t)n < LPI_READ_MAX;
		while ((r = proto_framer_next(&c->fr, &m, &err)) != 0) {
			if (r < 0 && err.reason == PROTO_E_NOMEM) {
				/* Not the peer's fault: a resume may do. */
				lpi_detach(s, "out of memory framing");
				return;
			}
			if (r < 0) {
				proto_error_format(&err, text, sizeof(text));
				if (handshaking(s) && !looks_msgkit(s, c))
					not_msgkit(s, text);
				else
					lpi_protocol_error(s, "%s", text);
				return;
			}
			/* The framer may hold a buffer now: count it. */
			if ((c->fr.buf != NULL) != c->fr_counted)
				lpi_recount(s);
			on_message(s, &m);
			/* The message may have moved or dropped the transport. */
			if (c->dead)
				return;
			s = c->s;
			if (c->ctrl_full) {
				lpi_detach(s, "the peer does not read: control "
				    "queue full");
				return;
			}
		}
		/* Replies built this round may have grown the builders. */
		lpi_recount(s);
		/* The loop is level-triggered: no read just to see EAGAIN. */
		if (drained)
			return;
	}
}

static void
on_io(struct proto_io *io, unsigned events, void *arg)
{
	struct lpi_conn *c = arg;

	(void)io;
	if (c->dead)
		return;
	if (events & PROTO_IO_WRITE) {
		lpi_flush(c->s);
		if (c->dead)
			return;
	}
	if (events & (PROTO_IO_READ | PROTO_IO_ERROR))
		conn_read(c);
}

/* When the keepalive timer must look again: PING time or handshake end. */
static uint64_t
next_check(const struct proto_session *s)
{
	const struct proto_peer_config *cfg = &s->peer->cfg;
	uint64_t now = now_ns(s), left;

	if (s->conn == NULL || !handshaking(s))
		return cfg->ping_idle_ns;
	left = s->conn->deadline_ns > now ? s->conn->deadline_ns - now : 0;
	return left < cfg->ping_idle_ns ? left : cfg->ping_idle_ns;
}

static void
on_keepalive(struct proto_timer *t, void *arg)
{
	struct proto_session *s = arg;
	struct lpi_conn *c = s->conn;
	const struct proto_peer_config *cfg = &s->peer->cfg;
	uint64_t now = now_ns(s), idle;

	if (c == NULL)
		return;
	if (handshaking(s) && now >= c->deadline_ns) {
		lpi_detach(s, "timed out");
		return;
	}
	if (handshaking(s)) {
		proto_timer_set(t, next_check(s));
		return;
	}
	idle = now - c->last_rx_ns;
	if (idle >= cfg->dead_ns) {
		lpi_detach(s, "no byte received for the dead-link time");
		return;
	}
	if (idle < cfg->ping_idle_ns) {
		proto_timer_set(t, cfg->ping_idle_ns - idle);
		return;
	}
	if (s->ping_sent_ns == 0 && lpi_flowing(s))
		proto_session_ping(s, NULL, NULL);
	/* PING every ping_idle while silent, and check the dead time. */
	proto_timer_set(t, cfg->dead_ns - idle < cfg->ping_idle_ns ?
	    cfg->dead_ns - idle : cfg->ping_idle_ns);
}

int
lpi_attach(struct proto_session *s, struct proto_stream *st)
{
	struct lpi_conn *c = calloc(1, sizeof(*c));
	struct stat sb;

	if (c == NULL)
		return -1;
	c->s = s;
	c->st = *st;
	c->is_socket = fstat(st->wfd, &sb) == 0 && S_ISSOCK(sb.st_mode);
	proto_framer_init(&c->fr, 0);
	c->rio = proto_io_new(s->peer->loop, st->rfd, PROTO_IO_READ, on_io, c);
	if (st->wfd != st->rfd)
		c->wio = proto_io_new(s->peer->loop, st->wfd, 0, on_io, c);
	if (c->rio == NULL || (st->wfd != st->rfd && c->wio == NULL)) {
		proto_io_free(c->rio);
		if (c->wio != NULL)
			proto_io_free(c->wio);
		proto_framer_free(&c->fr);
		free(c);
		return -1;
	}
	c->last_rx_ns = c->since_ns = now_ns(s);
	/* A stranger gets a short time to prove it speaks the protocol. */
	c->deadline_ns = c->since_ns + s->peer->cfg.handshake_ns;
	s->conn = c;
	s->peer->nconns++;
	lpi_recount(s);
	s->ping_sent_ns = 0;
	proto_timer_set(s->keepalive, next_check(s));
	if (s->initiator)
		send_hello(s);
	else
		s->state = LPI_WAIT_HELLO;
	return 0;
}

static void
conn_close(struct proto_session *s)
{
	struct lpi_conn *c = s->conn;

	if (c == NULL)
		return;
	s->conn = NULL;
	s->peer->nconns--;
	c->dead = 1;
	proto_io_free(c->rio);
	if (c->wio != NULL)
		proto_io_free(c->wio);
	c->rio = c->wio = NULL;
	proto_stream_close(&c->st);
	proto_framer_free(&c->fr);
	lpi_conn_clear_ctrl(c);
	lpi_recount(s);
	/* Freed at the end of the round: a read loop may still hold it. */
	c->dead_next = s->peer->dead_conns;
	s->peer->dead_conns = c;
	proto_defer_post(s->peer->reaper);
}

static void
on_retry(struct proto_timer *t, void *arg)
{
	(void)t;
	lpi_retry_dial(arg);
}

/* Detached, or never up, for the whole session time-out. */
static void
on_expire(struct proto_timer *t, void *arg)
{
	struct proto_session *s = arg;

	(void)t;
	if (lpi_flowing(s))
		return;
	lpi_lose(s, ETIMEDOUT, "no %s within the session time-out",
	    s->was_up ? "resume" : "session");
}

/*
 * A detached session keeps its messages for the resume, not its
 * builders: up to 64 KiB each, times every detached session.
 */
static void
release_builders(struct proto_session *s)
{
	if (s->building == NULL)
		proto_builder_free(&s->b);
	proto_builder_free(&s->rb);
	lpi_recount(s);
}

void
lpi_detach(struct proto_session *s, const char *why)
{
	const struct proto_peer_config *cfg = &s->peer->cfg;
	char peer[128], ended[96] = "", msg[800];

	if (s->conn == NULL)
		return;
	snprintf(peer, sizeof(peer), "%s", s->conn->st.peer);
	if (s->initiator && !s->was_up && s->state != LPI_DEAD) {
		/* A write may fail before the reason is read: look. */
		read_first(s->conn);
		if (s->conn->nfirst > 0 && !looks_msgkit(s, s->conn)) {
			not_msgkit(s, "and closed");
			return;
		}
		(void)proto_stream_ended(&s->conn->st, ended, sizeof(ended));
	}
	conn_close(s);
	proto_timer_stop(s->ack_timer);
	proto_timer_stop(s->keepalive);
	s->ping_sent_ns = 0;
	if (s->state == LPI_DEAD)
		return;
	if (s->state == LPI_CLOSING) {
		lpi_lose(s, ECANCELED, "closed");
		return;
	}
	if (!s->initiator && !s->was_up) {
		/* A handshake that came to nothing: no session to keep. */
		s->state = LPI_DEAD;
		lpi_session_bury(s);
		return;
	}
	if (!s->was_up) {
		/* To the user, as good as a dial that failed. */
		if (ended[0] != '\0')
			snprintf(msg, sizeof(msg), "%s: no handshake: %s (%s)",
			    s->addr.text, ended, why);
		else
			snprintf(msg, sizeof(msg), "%s: no handshake: %s",
			    s->addr.text, why);
		s->state = LPI_CONNECTING;
		lpi_dial_failed(s, ECONNRESET, msg);
		return;
	}
	lpi_log(s->peer, PROTO_LOG_INFO, "transport %s lost: %s", peer, why);
	s->detached_ns = now_ns(s);
	release_builders(s);
	if (s->was_up && s->state == LPI_UP) {
		/* The time-out runs from the break, not from each retry. */
		proto_timer_set(s->expire, cfg->session_timeout_ns);
		event(s, PROTO_EV_DETACHED, 0, why);
	}
	s->state = s->initiator ? LPI_CONNECTING : LPI_DETACHED;
	if (s->initiator)
		lpi_reconnect(s);
}

/* What the session's limiters held back, said before it goes. */
static void
flush_rates(struct proto_session *s)
{
	int i;

	for (i = 0; i < LPI_RATE_SESSION; i++)
		lpi_rate_flush(s->peer, &s->rate[i], lpi_rate_session_what[i]);
}

void
lpi_lose(struct proto_session *s, int error, const char *fmt, ...)
{
	va_list ap;

	if (s->state == LPI_DEAD)
		return;
	s->state = LPI_DEAD;
	va_start(ap, fmt);
	vsnprintf(s->lost_text, sizeof(s->lost_text), fmt, ap);
	va_end(ap);
	s->lost_error = error;
	lpi_flush(s);		/* a GOODBYE may be waiting */
	conn_close(s);
	proto_timer_stop(s->ack_timer);
	proto_timer_stop(s->keepalive);
	proto_timer_stop(s->retry);
	proto_timer_stop(s->expire);
	if (s->dial != NULL) {
		proto_dial_cancel(s->dial);
		s->dial = NULL;
	}
	if (s->was_up || s->initiator)
		lpi_log(s->peer, PROTO_LOG_DEBUG, "session with %s lost: %s",
		    s->node_text[0] ? s->node_text : s->addr.text,
		    s->lost_text);
	lpi_links_lose(s, ECONNRESET);
	lpi_sendq_clear(s);
	flush_rates(s);
	if (s->was_up || s->initiator)
		event(s, PROTO_EV_LOST, error, s->lost_text);
	lpi_session_bury(s);
}

static void
vabort(struct proto_session *s, uint32_t status, const char *what,
    const char *fmt, va_list ap)
{
	char text[200];

	vsnprintf(text, sizeof(text), fmt, ap);
	lpi_log(s->peer, PROTO_LOG_WARN, "%s from %s: %s", what,
	    s->conn != NULL ? s->conn->st.peer : "?", text);
	/* The replies there is room for go first, then why it ends. */
	if (s->conn != NULL)
		lpi_flush(s);
	if (s->conn != NULL) {
		s->conn->closing = 0;
		send_goodbye(s, status, text);
	}
	lpi_lose(s, (int)status, "%s: %s", what, text);
}

void
lpi_protocol_error(struct proto_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vabort(s, EPROTO, "protocol error", fmt, ap);
	va_end(ap);
}

void
lpi_abort(struct proto_session *s, uint32_t status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vabort(s, status, "session aborted", fmt, ap);
	va_end(ap);
}

/* --- the application's calls -------------------------------------------------------- */

int
proto_session_ping(struct proto_session *s,
    void (*done)(void *, struct proto_session *, uint64_t), void *arg)
{
	struct proto_builder *b;
	struct timespec wall;

	if (!lpi_flowing(s)) {
		errno = ENOTCONN;
		return -1;
	}
	s->ping_id++;
	s->ping_sent_ns = now_ns(s);
	s->ping_done = done;
	s->ping_arg = arg;
	b = ctrl_begin(s, s->ping_id, PROTO_CMD_PING);
	/* TIMESTAMP is wall-clock time; the RTT uses the monotonic one. */
	clock_gettime(CLOCK_REALTIME, &wall);
	proto_build_u64(b, PROTO_ITEM_TIMESTAMP, (uint64_t)wall.tv_sec *
	    PROTO_SEC + (uint64_t)wall.tv_nsec);
	ctrl_send(s, b);
	return 0;
}

void
proto_session_close(struct proto_session *s)
{
	if (s->state == LPI_DEAD || s->state == LPI_CLOSING)
		return;
	if (!lpi_flowing(s)) {
		lpi_lose(s, ECANCELED, "closed");
		return;
	}
	s->state = LPI_CLOSING;
	lpi_flush_soon(s);
}

/* Called by lpi_flush when nothing is left to send while closing. */
void
lpi_closing_drained(struct proto_session *s)
{
	if (s->goodbye_sent || s->conn == NULL)
		return;
	s->goodbye_sent = 1;
	send_goodbye(s, 0, NULL);
	s->conn->closing = 1;
}

void
proto_session_info(const struct proto_session *s,
    struct proto_session_info *info)
{
	memset(info, 0, sizeof(*info));
	memcpy(info->id, s->id, sizeof(info->id));
	snprintf(info->peer_node, sizeof(info->peer_node), "%s",
	    s->peer_node);
	if (s->conn != NULL)
		snprintf(info->transport, sizeof(info->transport), "%s",
		    s->conn->st.peer);
	info->features = s->features;
	info->initiator = s->initiator;
	info->up = lpi_flowing(s);
	info->sent = s->sent_seq;
	info->received = s->recv_count;
	info->retransmitted = s->retransmitted;
	info->resumes = s->resumes;
	info->rtt_ns = s->rtt_ns;
	info->unacked_bytes = s->unacked_bytes;
	info->queued_bytes = s->queued_bytes;
	info->held_bytes = s->held;
	info->links = (uint32_t)s->links.used;
	info->calls = (uint32_t)s->calls.used;
	info->requests = s->nrequests;
}

/* The loop the session runs on: for blocking helpers built on top. */
struct proto_loop *
proto_peer_loop(const struct proto_peer *p)
{
	return p->loop;
}

struct proto_loop *
proto_session_loop(const struct proto_session *s)
{
	return s->peer->loop;
}

/* Timers and the flusher, made with the session. */
int
lpi_session_timers(struct proto_session *s)
{
	struct proto_loop *l = s->peer->loop;

	s->ack_timer = proto_timer_new(l, on_ack_timer, s);
	s->keepalive = proto_timer_new(l, on_keepalive, s);
	s->retry = proto_timer_new(l, on_retry, s);
	s->expire = proto_timer_new(l, on_expire, s);
	if (s->ack_timer == NULL || s->keepalive == NULL || s->retry == NULL ||
	    s->expire == NULL)
		return -1;
	return 0;
}

void
lpi_session_free(struct proto_session *s)
{
	if (s->ack_timer != NULL)
		proto_timer_free(s->ack_timer);
	if (s->keepalive != NULL)
		proto_timer_free(s->keepalive);
	if (s->retry != NULL)
		proto_timer_free(s->retry);
	if (s->expire != NULL)
		proto_timer_free(s->expire);
	if (s->flusher != NULL)
		proto_defer_free(s->flusher);
	lpi_links_free(s);
	lpi_room_free(s);
	lpi_sendq_clear(s);
	free(s);
}
