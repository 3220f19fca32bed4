/*
 * session_int.h - what the session-layer files of libproto share; not
 * installed. Internal functions carry the lpi_ prefix (the version
 * script exports proto_* only).
 *
 *	peer.c		listeners, accepting, connecting and reconnecting,
 *			the session table, configuration
 *	session.c	handshake, sequencing, ACK, keepalive, resume,
 *			GOODBYE, protocol errors: msgproto(7) section 3
 *	sendq.c		outgoing messages: control queue, per-link queues
 *			served round robin, retransmission, writev
 *	link.c		links, commands and replies, CANCEL, limits:
 *			section 4
 *	auth.c		the AUTH feature: nonces and HMAC-SHA256 proofs
 *	budget.c	what sessions make the peer hold; the limits on
 *			memory, sessions and transports
 *	log.c		logging: rate limits, escaping what peers send
 *	echo.c		the echo service
 *	table.c		a u64 -> pointer hash table
 */
#ifndef SESSION_INT_H
#define SESSION_INT_H

#include <stddef.h>
#include <stdint.h>

#include "proto_decode.h"
#include "proto_encode.h"
#include "proto_error.h"
#include "proto_framer.h"
#include "proto_loop.h"
#include "proto_session.h"
#include "proto_transport.h"

#define LPI_NONCE_LEN		32
#define LPI_AUTH_LEN		32
#define LPI_SESSION_LEN		16
#define LPI_WINDOW_MIN		(PROTO_FRAME_MAX + 8u)	/* one message fits */
#define LPI_QUANTUM		16384u	/* bytes a link may send a turn */
#define LPI_READ_MAX		(256u << 10)
/* Control bytes queued on a transport the peer does not read. */
#define LPI_CTRL_MAX		(256u << 10)
/* Damage at one place, resent this often, is not damage in transit. */
#define LPI_CRC_DROPS_MAX	5
/* The smallest max_memory: a few replies must fit. */
#define LPI_MEMORY_MIN		16384u

/* --- table.c ------------------------------------------------------------ */

#include "table.h"

/* --- log.c: warnings a peer can cause, rate-limited ---------------------- */

/*
 * One cause of warnings: at most LPI_RATE_BURST lines per
 * LPI_RATE_WINDOW; what is held back is counted and summed up in one
 * line when the window ends or the session does.
 */
#define LPI_RATE_BURST		5
#define LPI_RATE_WINDOW		(10 * PROTO_SEC)

struct lpi_rate {
	uint64_t start_ns;	/* of the current window */
	uint32_t count;		/* lines in it */
	uint32_t suppressed;	/* held back in it */
};

/* Causes kept per session... */
enum {
	LPI_RATE_MALFORMED,	/* messages that broke an item rule */
	LPI_RATE_STRAY,		/* replies to no outstanding command */
	LPI_RATE_LOST,		/* replies we could not queue */
	LPI_RATE_CRC,		/* CRC mismatches */
	LPI_RATE_SESSION
};

/* ... and per peer, for transports that have no session yet. */
enum {
	LPI_RATE_HELLO,		/* HELLOs refused */
	LPI_RATE_AUTH,		/* proofs refused */
	LPI_RATE_SHED,		/* transports refused or shed at a limit */
	LPI_RATE_EVICT,		/* sessions dropped at a limit */
	LPI_RATE_PEER
};

/* --- messages on their way out ----------------------------------------- */

struct lpi_out {
	struct lpi_out *next;
	uint64_t seq;		/* 0: control, never numbered */
	uint32_t len;		/* bytes of the frame */
	uint32_t cap;
	int cls;		/* size class in the cache, -1: none */
	uint32_t charge;	/* heap bytes charged to a session; 0: none */
	int refusal;		/* a direct refusal: the peer's doing alone */
	uint8_t buf[];
};

/*
 * Freed message buffers kept for reuse, by size class: a window's worth
 * of 32 KiB messages freed by one ACK and allocated again at once would
 * otherwise have malloc give the top of the heap back to the kernel and
 * fault it in again, every round.
 */
#define LPI_OUT_CLASSES		11	/* 64 B to 64 KiB, each + 64 */
#define LPI_OUT_CACHE		(512u << 10)	/* bytes kept per class */

struct lpi_outcache {
	struct lpi_out *free[LPI_OUT_CLASSES];
	uint32_t count[LPI_OUT_CLASSES];
};

/* --- the transport a session runs over ---------------------------------- */

struct lpi_conn {
	struct proto_session *s;
	struct proto_stream st;
	int is_socket;		/* sendmsg with MSG_NOSIGNAL */
	struct proto_io *rio;	/* also writes when rfd == wfd */
	struct proto_io *wio;	/* NULL when rfd == wfd */
	struct proto_framer fr;
	uint64_t last_rx_ns;
	/* Control messages belong to one transport: never resent. */
	struct lpi_out *ctrl, *ctrl_tail;
	uint32_t ctrl_off;	/* bytes of ctrl written */
	int ctrl_partial;	/* a control message is half written */
	uint32_t seq_off;	/* bytes of s->wnext written */
	uint32_t ctrl_bytes;	/* queued in ctrl */
	size_t ctrl_charge;	/* their heap bytes */
	int ctrl_full;		/* LPI_CTRL_MAX reached: drop it */
	int closing;		/* close once the control queue is out */
	int dead;		/* closed; freed by the reaper */
	struct lpi_conn *dead_next;
	uint64_t since_ns;	/* attached then */
	uint8_t first[24];	/* the first bytes received: to say what
				   a peer that is no msgkit peer sent */
	uint8_t nfirst;
	int fr_counted;		/* the framer's buffer is in s->fixed */
	uint64_t deadline_ns;	/* handshake must be done by then */
};

/* --- links, commands, requests ------------------------------------------ */

struct proto_link {
	uint64_t id;
	struct proto_session *s;
	int local;		/* we serve it; else it is the peer's */
	uint32_t refs;		/* local: references the peer holds */
	const struct proto_service_ops *ops;
	void *state;		/* the service's, for this link */
	struct lpi_table requests;	/* local: msgid -> proto_request */
	uint32_t calls;		/* remote: our commands outstanding on it */
	int closed;
	uint32_t holds;		/* remote: proto_link_new/borrow holders */
	struct proto_link *qlink;	/* its family's root: queue there */
	uint32_t qusers;	/* family members queuing in ours */
	/* Messages waiting to be numbered and sent, served round robin. */
	struct lpi_out *q, *q_tail;
	uint32_t deficit;
	struct proto_link *ring_next;	/* in s->ring, when queued */
	struct proto_link *ring_prev;
	int in_ring;
};

struct proto_call {
	struct proto_session *s;
	struct proto_link *link;
	uint32_t msgid;
	uint16_t command;
	proto_reply_fn *fn;
	void *arg;
	struct proto_link *opened;	/* LINK_OPEN: the link it opens */
};

struct proto_request {
	struct proto_peer *peer;
	struct proto_session *s;	/* NULL: orphaned, replies dropped */
	struct proto_link *link;
	uint32_t msgid;
	uint16_t command;
	void *state;
	int replying;			/* proto_reply_begin was called */
	int cancelled;
	/* CANCELs waiting for this request's final reply, as requests. */
	struct proto_request *cancels;
	struct proto_request *cancel_next;
	uint32_t cancel_target;		/* for a CANCEL: its TARGET */
	size_t charge;			/* held for it: see budget.c */
};

/* --- sessions ------------------------------------------------------------ */

enum lpi_state {
	LPI_CONNECTING,		/* initiator: dialling */
	LPI_HELLO_SENT,		/* initiator: waiting for the reply */
	LPI_AUTH_SENT,		/* initiator: waiting for AUTH's reply */
	LPI_WAIT_HELLO,		/* acceptor: a new transport, no HELLO yet */
	LPI_WAIT_AUTH,		/* acceptor: waiting for AUTH */
	LPI_UP,
	LPI_DETACHED,		/* no transport; resuming */
	LPI_CLOSING,		/* GOODBYE queued */
	LPI_DEAD		/* lost; freed at the end of the round */
};

struct service {
	struct service *next;
	char *name;
	const struct proto_service_ops *ops;
	void *svc;
};

struct proto_peer {
	struct proto_loop *loop;
	struct proto_peer_config cfg;
	char node[256];
	uint8_t key[128];
	size_t keylen;
	struct service *services;
	struct listener *listeners;
	struct proto_session *sessions;	/* every session, any state */
	uint8_t *rbuf;			/* shared by all reads: one thread */
	struct proto_defer *reaper;	/* frees dead sessions */
	struct proto_session *dead;	/* buried, freed by the reaper */
	struct lpi_conn *dead_conns;
	struct proto_builder orphan_b;	/* replies nobody will read */
	struct proto_builder ctrl_b;	/* control messages being built */
	struct lpi_outcache outcache;
	/* Budgets (budget.c). */
	size_t held;			/* every session's held + fixed */
	size_t trim_mark;		/* held at the last peak */
	uint32_t nsessions;		/* up or detached */
	uint32_t nconns;		/* transports attached */
	struct lpi_rate rate[LPI_RATE_PEER];
	struct proto_timer *rate_timer;	/* says what limiters held back */
};

struct proto_session {
	struct proto_peer *peer;
	struct proto_session *next, *prev;	/* in peer->sessions */
	enum lpi_state state;
	int initiator;
	int was_up;		/* the handshake succeeded once */
	uint8_t id[LPI_SESSION_LEN];
	int has_id;
	char peer_node[256];
	char node_text[160];	/* peer_node escaped, for logs */
	uint64_t features;
	uint32_t peer_window;
	uint32_t peer_max_inflight;
	uint32_t peer_max_links;
	uint8_t nonce[LPI_NONCE_LEN];		/* ours, this handshake */
	uint8_t peer_nonce[LPI_NONCE_LEN];
	struct proto_session *resuming;	/* acceptor: the session a HELLO
					   on this transport resumes */

	struct lpi_conn *conn;		/* NULL when detached */

	/* Sequencing (section 3). */
	uint64_t sent_seq;		/* numbers given out */
	uint64_t peer_received;		/* acknowledged by the peer */
	uint64_t recv_count;		/* sequenced messages received */
	uint64_t acked_count;		/* RECEIVED we last sent */
	uint64_t rx_since_ack;		/* bytes since that ACK */
	struct lpi_out *rt, *rt_tail;	/* numbered, unacknowledged */
	struct lpi_out *wnext;		/* first of rt not fully written */
	uint64_t unacked_bytes;
	uint64_t queued_bytes;		/* in link queues, not numbered */
	uint64_t written_seq;		/* last one wholly written, ever */
	struct proto_link *ring;	/* links with queued messages */

	/* Links and commands (section 4). */
	struct proto_link link0;
	struct lpi_table links;		/* id -> proto_link, link 0 aside */
	struct lpi_table calls;		/* msgid -> proto_call */
	uint64_t next_linkid;
	uint32_t next_msgid;
	uint32_t nlocal;		/* links we serve */
	uint32_t nrequests;		/* requests being served */
	struct proto_builder b;		/* the command being built */
	struct proto_link *building;	/* its link */
	struct proto_builder rb;	/* the reply being built */
	uint64_t hello_received;	/* RECEIVED of the peer's HELLO */
	int goodbye_sent;

	/* Timers. */
	struct proto_timer *ack_timer;
	struct proto_timer *keepalive;	/* PING and dead-link check */
	struct proto_timer *retry;	/* initiator: the back-off */
	struct proto_timer *expire;	/* the session time-out, while
					   detached or never up */
	struct proto_defer *flusher;
	/* Services waiting for the link queues to fall (streams). */
	struct lpi_roomwait *roomwait;
	struct proto_defer *room_defer;
	uint64_t ping_sent_ns;
	uint32_t ping_id;
	void (*ping_done)(void *, struct proto_session *, uint64_t);
	void *ping_arg;
	uint64_t backoff_ns;
	uint32_t dials_failed;	/* before the session first came up */
	/*
	 * Heap bytes held for what the peer sent (budget.c): `held` the
	 * replies, requests and links, bounded by max_memory; `fixed` the
	 * session itself, its transport and builders, counted in the
	 * peer's total only.
	 */
	size_t held;
	size_t fixed;
	size_t refused;		/* of held: refusals queued, unacknowledged */
	int off_books;		/* buried: its charges are gone */
	int counted;		/* in peer->nsessions */
	uint64_t detached_ns;	/* when it last lost its transport */
	struct lpi_rate rate[LPI_RATE_SESSION];
	/* CRC mismatches in a row at the same place in the stream. */
	uint32_t crc_drops;
	uint64_t crc_drop_at;

	/* Initiator: where to reconnect. */
	struct proto_addr addr;
	struct proto_dial *dial;

	const struct proto_session_ops *ops;
	void (*accepted)(void *, struct proto_session *,
	    enum proto_session_event, int, const char *);
	void *arg;
	int lost_error;
	char lost_text[160];

	/* Statistics. */
	uint64_t retransmitted, resumes, rtt_ns;
};

/* --- log.c --------------------------------------------------------------- */

void lpi_log(struct proto_peer *p, enum proto_log_level level,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/*
 * A warning of a cause the peer controls: logged unless its rate
 * limiter says it has had enough this window (then counted). `what`
 * names the cause in the summary of what was held back.
 */
void lpi_log_limited(struct proto_peer *p, struct lpi_rate *r,
    const char *what, enum proto_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The summary of what a limiter held back, if anything; then reset. */
void lpi_rate_flush(struct proto_peer *p, struct lpi_rate *r,
    const char *what);
/* Names for the causes, for lpi_log_limited. */
extern const char *const lpi_rate_session_what[LPI_RATE_SESSION];
extern const char *const lpi_rate_peer_what[LPI_RATE_PEER];
/* The timer that sums up, at a window's end, what was held back. */
void lpi_rate_timer(struct proto_timer *t, void *arg);
/* Everything held back, said now (the peer is going). */
void lpi_rate_flush_all(struct proto_peer *p);

/* --- budget.c ------------------------------------------------------------ */

/* What malloc(n) really takes: its chunk, header included. */
size_t lpi_heap_cost(size_t n);
/* Held for a request: see budget.c. */
size_t lpi_request_cost(size_t msglen);
/* Held for a link served here. */
size_t lpi_link_cost(void);
/* Charge n more heap bytes to s (and its peer), or give them back. */
void lpi_hold(struct proto_session *s, size_t n);
void lpi_unhold(struct proto_session *s, size_t n);
/* An outgoing message's buffer is held for s from now on, or no more. */
void lpi_out_hold(struct proto_session *s, struct lpi_out *o);
void lpi_out_unhold(struct proto_session *s, struct lpi_out *o);
/* Count again what the session itself, its transport and builders hold. */
void lpi_recount(struct proto_session *s);
/* The session is buried: off the books, out of the session count. */
void lpi_budget_forget(struct proto_session *s);
/*
 * May s take on work costing n bytes more, staying under 7/8 of its
 * limit and of the peer's total? Detached sessions are dropped to make
 * room in the total before the answer is no.
 */
int lpi_may_hold(struct proto_session *s, size_t n);
/*
 * After a message of s was handled: with more refusals unread than its
 * share, s ends with GOODBYE ENOBUFS; past the peer's total, detached
 * sessions go (largest first), then strangers, then the session
 * holding the most. s may be gone when it returns.
 */
void lpi_enforce(struct proto_session *s);
/*
 * May s, a new session, be made? 0 (s is counted in max_sessions from
 * now), or the STATUS to refuse it with.
 */
uint32_t lpi_admit_session(struct proto_session *s, const char **why);
/* A new transport arrives: 0 to take it, -1 to refuse it. */
int lpi_admit_conn(struct proto_peer *p);
/* Out of descriptors: close the oldest handshaking transport. */
int lpi_shed_conn(struct proto_peer *p);
/* At the end of a round: give the heap back after a fall. */
void lpi_budget_trim(struct proto_peer *p);

/* --- peer.c -------------------------------------------------------------- */

const struct service *lpi_service(const struct proto_peer *p,
    const char *name, size_t len);
/* Initiator: dial again now or after the back-off. */
void lpi_reconnect(struct proto_session *s);
/*
 * Initiator: a dial failed, or a transport ended before its handshake
 * (the same to a tool pointed at a wrong address): retry, or lose the
 * session once connect_tries is spent. msg: "ADDR: reason".
 */
void lpi_dial_failed(struct proto_session *s, int error, const char *msg);
/* Initiator: the back-off is over. */
void lpi_retry_dial(struct proto_session *s);
/* Acceptor: the session a resuming HELLO names, or NULL. */
struct proto_session *lpi_find_session(struct proto_peer *p,
    const uint8_t *id);
struct proto_session *lpi_session_new(struct proto_peer *p, int initiator);
/* Unlink and free at the end of the round. */
void lpi_session_bury(struct proto_session *s);

/* --- session.c ----------------------------------------------------------- */

/* Take a connected transport: start the handshake on it. */
int lpi_attach(struct proto_session *s, struct proto_stream *st);
/* Drop the transport (it broke); resume, or lose the session. */
void lpi_detach(struct proto_session *s, const char *why);
/* The session is over: fail everything, tell the application. */
void lpi_lose(struct proto_session *s, int error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* GOODBYE {EPROTO, ERRTEXT} and lose the session. */
void lpi_protocol_error(struct proto_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* GOODBYE {status, ERRTEXT} and lose the session with that error. */
void lpi_abort(struct proto_session *s, uint32_t status, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));
void lpi_session_free(struct proto_session *s);
int lpi_session_timers(struct proto_session *s);
/* Could the session carry sequenced messages now? */
int lpi_flowing(const struct proto_session *s);
/* Closing, and nothing left to send: GOODBYE, then close. */
void lpi_closing_drained(struct proto_session *s);

/* --- sendq.c ------------------------------------------------------------- */

/* A copy of bytes with room for `extra` more, from the peer's cache. */
struct lpi_out *lpi_out_new(struct proto_peer *p, const uint8_t *bytes,
    size_t len, size_t extra);
void lpi_out_free(struct proto_peer *p, struct lpi_out *o);
/* Free a list of s's messages, giving back what they were charged. */
void lpi_out_drop_list(struct proto_session *s, struct lpi_out *o);
void lpi_outcache_clear(struct lpi_outcache *oc);
void lpi_journal(struct proto_session *s, char dir, uint64_t seq,
    const uint8_t *msg);
/* Queue a control message on the current transport (copied). */
int lpi_send_ctrl(struct proto_session *s, const uint8_t *bytes, size_t len);
/* Queue a sequenced message on link l (takes o). */
void lpi_send_seq(struct proto_session *s, struct proto_link *l,
    struct lpi_out *o);
/* Write what can be written; arms write interest for the rest. */
void lpi_flush(struct proto_session *s);
void lpi_room_check(struct proto_session *s);
void lpi_room_free(struct proto_session *s);
void lpi_flush_soon(struct proto_session *s);
/* The peer has received `received` messages: free what it acknowledged. */
int lpi_acked(struct proto_session *s, uint64_t received);
/* After a resume: write again everything the peer has not received. */
void lpi_rewind(struct proto_session *s);
/* Drop every queued and unacknowledged message. */
void lpi_sendq_clear(struct proto_session *s);
void lpi_conn_clear_ctrl(struct lpi_conn *c);
/* Put a link with queued messages in the round robin, or take it out. */
void lpi_ring_add(struct proto_session *s, struct proto_link *l);
void lpi_ring_remove(struct proto_session *s, struct proto_link *l);

/* --- link.c -------------------------------------------------------------- */

/*
 * Bytes a sequenced message may have so that the CRC item still fits:
 * the builder's own limit when the CRC feature is not offered.
 */
size_t lpi_max_frame(const struct proto_session *s);
/* Queue a finished message of the builder b on link l as sequenced. */
int lpi_queue_built(struct proto_session *s, struct proto_link *l,
    struct proto_builder *b);
/* The same for a refusal (EBADF, EAGAIN...): see lpi_enforce(). */
int lpi_queue_refusal(struct proto_session *s, struct proto_link *l,
    struct proto_builder *b);
void lpi_links_init(struct proto_session *s);
/* A sequenced message arrived (validated): dispatch it. */
void lpi_dispatch(struct proto_session *s, const struct proto_msg *m);
/* The session is lost: fail calls, orphan requests, close links. */
void lpi_links_lose(struct proto_session *s, int error);
void lpi_links_free(struct proto_session *s);

/* --- auth.c -------------------------------------------------------------- */

int lpi_random(void *buf, size_t len);
/* HMAC-SHA256(key, role || nonce_i || nonce_a || session) into out. */
int lpi_auth_proof(const struct proto_peer *p, const char *role,
    const uint8_t *nonce_i, const uint8_t *nonce_a, const uint8_t *session,
    uint8_t *out);
/* Constant-time comparison of two proofs. */
int lpi_auth_equal(const uint8_t *a, const uint8_t *b);

#endif
