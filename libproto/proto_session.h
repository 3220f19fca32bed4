/*
 * proto_session.h - the session and link layers of msgproto(7): a peer
 * that listens and connects, sessions that survive broken transports,
 * links to services, commands with replies.
 *
 *	loop = proto_loop_new();
 *	peer = proto_peer_new(loop, &cfg, err, sizeof(err));
 *	proto_peer_serve(peer, "echo", &proto_echo_service, NULL);
 *	proto_peer_listen(peer, "unix:/run/x", err, sizeof(err));	server
 *	s = proto_peer_connect(peer, "unix:/run/x", &ops, arg, err, n);	client
 *	l = proto_link_open(s, "echo", NULL, opened, arg);
 *	b = proto_cmd_begin(l, 0x7000); proto_build_bytes(b, ...);
 *	proto_cmd_send(l, on_reply, arg);
 *	proto_loop_run(loop);
 *
 * What a caller may rely on:
 * - One thread, the loop's: every call and callback happens there.
 * - A session is resumed across broken transports: the side that
 *   connected reconnects with growing back-off, both sides retransmit
 *   what the other has not received, and commands in flight complete
 *   later, each exactly once. Only when the session itself is lost
 *   (ESTALE, the session time-out, GOODBYE, a protocol error) do
 *   outstanding commands fail, with ECONNRESET.
 * - Every command sent gets exactly one final reply callback: the
 *   peer's final reply (no MORE), or a local failure with NULL message.
 *   Replies with MORE come before it, each once.
 * - Every request a service receives must be finished with exactly one
 *   final proto_reply_end() (or proto_reply_status()); replies to a
 *   request whose link or session went away are dropped, and the
 *   request is freed all the same.
 * - Messages are validated (every rule of msgproto(7) section 2 and the
 *   item kinds) before any callback sees them.
 * - The library never prints: it logs through cfg.log.
 */
#ifndef PROTO_SESSION_H
#define PROTO_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "proto_decode.h"
#include "proto_encode.h"
#include "proto_loop.h"

struct proto_peer;
struct proto_session;
struct proto_link;
struct proto_call;
struct proto_request;
struct proto_service_ops;

enum proto_log_level {
	PROTO_LOG_ERROR,
	PROTO_LOG_WARN,
	PROTO_LOG_INFO,		/* session events: connect, resume, loss */
	PROTO_LOG_DEBUG
};

/* One sequenced message, for a session log another process can check. */
struct proto_journal {
	char dir;		/* 'S' sent (first transmission), 'R' received */
	uint64_t seq;		/* its number in that direction: 1, 2, 3... */
	uint64_t linkid;
	uint32_t msgid;
	uint16_t command;	/* as sent: reply bit included */
	const uint8_t *session;	/* the 16-byte session id */
};

/* What the application hears about a session. */
enum proto_session_event {
	PROTO_EV_UP,		/* handshake done: commands flow */
	PROTO_EV_DETACHED,	/* the transport broke; resuming */
	PROTO_EV_RESUMED,	/* a new transport carries the session on */
	PROTO_EV_LOST,		/* the session is over (see the error) */
};

struct proto_session_ops {
	/*
	 * error: 0, or why the session was lost: ESTALE (the acceptor did
	 * not know it), ETIMEDOUT (no resume within the session time-out),
	 * EACCES (authentication failed), EPROTO (a protocol error),
	 * ECONNRESET (the peer said GOODBYE), ECANCELED (closed here).
	 * After PROTO_EV_LOST the session is freed: drop the pointer.
	 */
	void (*event)(void *arg, struct proto_session *s,
	    enum proto_session_event ev, int error, const char *text);
};

struct proto_peer_config {
	const char *node;		/* our NODE name (copied) */
	uint64_t features;		/* offered: PROTO_FEATURE_* */
	const uint8_t *key;		/* pre-shared key: AUTH required */
	size_t keylen;
	uint32_t window;		/* bytes we hold unacknowledged (1 MiB) */
	uint32_t max_inflight;		/* requests served at once (1024) */
	uint32_t max_links;		/* links served per session (65536) */
	/*
	 * Heap bytes a peer may make us hold for one session: replies
	 * queued or unacknowledged, requests served with their bytes, links
	 * (64 MiB). Past 7/8 of it new commands are refused EAGAIN; past
	 * it the session ends with GOODBYE ENOBUFS.
	 */
	size_t max_memory;
	/*
	 * The same for all sessions together, attached, handshaking and
	 * detached, with what each session and transport holds itself
	 * (256 MiB). Past 7/8 new sessions are refused ENOBUFS and new
	 * commands EAGAIN; past it detached sessions are dropped, those
	 * holding the most first, then handshaking transports, then the
	 * session holding the most ends with ENOBUFS.
	 */
	size_t max_total_memory;
	/* Sessions up or detached (1024); at the limit a new one drops the
	   session detached the longest, or is refused EAGAIN. */
	uint32_t max_sessions;
	/* Transports attached, handshaking or up (1024); at the limit a new
	   one closes the oldest still handshaking, or is closed. */
	uint32_t max_conns;
	uint64_t handshake_ns;		/* a new transport's handshake (5 s) */
	uint64_t ping_idle_ns;		/* PING after this silence (5 s) */
	uint64_t dead_ns;		/* transport dead after this (15 s) */
	uint64_t session_timeout_ns;	/* detached sessions kept (30 s) */
	uint64_t ack_delay_ns;		/* longest ACK delay (20 ms) */
	uint64_t reconnect_min_ns;	/* first back-off (50 ms) */
	uint64_t reconnect_max_ns;	/* longest back-off (2 s) */
	/*
	 * Dials that may fail (connect refused, no such socket, ...) before
	 * a session we open first comes up: at the last the session is
	 * lost with the dial's errno and reason. 0 (the default): no limit
	 * but the session time-out. After the session was up once, breaks
	 * are always retried.
	 */
	uint32_t connect_tries;
	/* Accepted sessions: `ev` PROTO_EV_UP first, then as for ops. */
	void (*accepted)(void *arg, struct proto_session *s,
	    enum proto_session_event ev, int error, const char *text);
	void (*log)(void *arg, enum proto_log_level level, const char *msg);
	void (*journal)(void *arg, const struct proto_journal *j);
	void *arg;			/* for accepted, log and journal */
};

/* Fill cfg with the defaults above, node "msgkit". */
void proto_peer_config_init(struct proto_peer_config *cfg);

/* NULL with the reason in err. */
struct proto_peer *proto_peer_new(struct proto_loop *loop,
    const struct proto_peer_config *cfg, char *err, size_t errlen);
/* Ends every session (GOODBYE), closes listeners, frees. */
void proto_peer_free(struct proto_peer *p);

/* Accept sessions on an address (proto_transport.h syntax). 0 or -1. */
int proto_peer_listen(struct proto_peer *p, const char *addr, char *err,
    size_t errlen);

/*
 * A session to addr, opened now and kept alive. Commands may be sent at
 * once: they wait for the handshake. NULL with the reason in err for a
 * bad address or no memory; connection failures are retried.
 */
struct proto_session *proto_peer_connect(struct proto_peer *p,
    const char *addr, const struct proto_session_ops *ops, void *arg,
    char *err, size_t errlen);

/*
 * Sessions the peer has, in any state: handshaking, up, detached and
 * waiting for a resume. A server on a one-shot transport (stdio, fd:)
 * is done when this falls to 0.
 */
size_t proto_peer_sessions(const struct proto_peer *p);

/* What a peer holds now, against the limits of its configuration. */
struct proto_peer_info {
	uint32_t sessions;	/* up or detached (max_sessions) */
	uint32_t detached;
	uint32_t conns;		/* transports attached (max_conns) */
	uint64_t held_bytes;	/* all sessions (max_total_memory) */
};
void proto_peer_info(const struct proto_peer *p, struct proto_peer_info *info);

/* Orderly end: what is queued is sent, then GOODBYE; PROTO_EV_LOST. */
void proto_session_close(struct proto_session *s);

/* Facts about a session, for tools and logs. */
struct proto_session_info {
	uint8_t id[16];
	char peer_node[256];
	char transport[128];	/* the current transport, "" when detached */
	uint64_t features;	/* negotiated */
	int initiator;
	int up;			/* handshake done, transport attached */
	uint64_t sent, received;	/* sequenced messages */
	uint64_t retransmitted;	/* messages sent again after resumes */
	uint64_t resumes;
	uint64_t rtt_ns;	/* last PING round trip, 0 if none */
	uint64_t unacked_bytes;	/* sent, not yet acknowledged */
	uint64_t queued_bytes;	/* waiting for room in the peer's window:
				   a sender that must not grow without
				   bound holds back while this is high */
	uint64_t held_bytes;	/* heap held for what the peer sent:
				   what max_memory bounds */
	uint32_t links, calls, requests;
};
void proto_session_info(const struct proto_session *s,
    struct proto_session_info *info);

/*
 * The loop s runs on: a blocking helper (proto_call_wait, the VFS
 * client) runs its rounds until its own replies came.
 */
struct proto_loop *proto_session_loop(const struct proto_session *s);
/* The loop a peer runs on (services start their own work there). */
struct proto_loop *proto_peer_loop(const struct proto_peer *p);

/* Send a PING now; its round trip shows in rtt_ns and in ping_done. */
int proto_session_ping(struct proto_session *s,
    void (*done)(void *arg, struct proto_session *s, uint64_t rtt_ns),
    void *arg);

/* --- links, commands, replies ------------------------------------------ */

/*
 * A reply to a command we sent. `m` is the reply (validated), or NULL
 * when the command failed here (`status` then says why: ECONNRESET,
 * ECANCELED...). `final` is 1 for the last callback of this command.
 * `status` is the reply's STATUS (0 when it has none, as parts do).
 */
typedef void proto_reply_fn(void *arg, struct proto_call *c,
    const struct proto_msg *m, int status, int final);

/*
 * Open a link to a service of the peer: LINK_OPEN {NEWLINK, SERVICE,
 * [EXPORT]}. The link may carry commands at once; fn gets the LINK_OPEN
 * reply (status 0 or why not). NULL when out of memory or the session
 * is lost. The link is freed, and must not be used again, once it is
 * closed or refused and its last command has had its final reply: after
 * fn of a refused LINK_OPEN or of the LINK_CLOSE returns (or of the last
 * command outstanding on it), and when the session is freed.
 */
struct proto_link *proto_link_open(struct proto_session *s,
    const char *service, const char *export_name, proto_reply_fn *fn,
    void *arg);
/* The control link, 0: for commands a service of link 0 answers. */
struct proto_link *proto_session_link0(struct proto_session *s);
uint64_t proto_link_id(const struct proto_link *l);
struct proto_session *proto_link_session(const struct proto_link *l);
/* Give one reference back: LINK_CLOSE {COUNT=1}; fn gets its reply. */
int proto_link_close(struct proto_link *l, proto_reply_fn *fn, void *arg);

/*
 * Links named by NEWLINK in a command of another service (VFS_LOOKUP,
 * VFS_OPEN...): proto_link_new() takes the next id of our half and the
 * link may carry commands at once, pipelined behind the command that
 * binds it. When that command fails, proto_link_forget() drops the link
 * here (nothing is sent: the peer never bound it); when it succeeds the
 * link is given back with proto_link_close() as any other. parent is
 * the link of the command that will carry the id: commands on the new
 * link and its own children leave in one queue with parent's, in the
 * order they were sent, so that none overtakes the command that binds
 * its link (other links keep their turns in the round robin).
 */
struct proto_link *proto_link_new(struct proto_link *parent);
void proto_link_forget(struct proto_link *l);
/*
 * A link id of the peer's half that the peer handed us in a REF item:
 * commands may be sent on it while the command carrying the REF is
 * outstanding; proto_link_forget() when done. NULL with errno EINVAL
 * (not the peer's id) or EBADF (the id is ours, or the session is gone).
 */
struct proto_link *proto_link_borrow(struct proto_session *s, uint64_t id);
/*
 * Commands the link's owner sends on a link we hold (CACHE_INVALIDATE,
 * VFS_NOTIFY) go to ops->command with state; without a handler they are
 * answered EBADF. open and close of ops are not used.
 */
void proto_link_set_handler(struct proto_link *l,
    const struct proto_service_ops *ops, void *state);

/*
 * Build a command on link l: the builder comes with the header begun;
 * add items, then proto_cmd_send() (or proto_cmd_abort()). One command
 * is built at a time per session.
 */
struct proto_builder *proto_cmd_begin(struct proto_link *l, uint16_t command);
/*
 * Queue it: NULL with errno (EMSGSIZE, ENOMEM, ENOTCONN when lost).
 * EINVAL from proto_cmd_begin for a control command (0x0000-0x000F,
 * the session's own) or a command with the reply bit. Commands are not
 * held back by the peer's LIMITS nor by max_memory: past them the peer
 * answers EAGAIN, and a sender that produces without end watches
 * queued_bytes in proto_session_info().
 */
struct proto_call *proto_cmd_send(struct proto_link *l, proto_reply_fn *fn,
    void *arg);
void proto_cmd_abort(struct proto_link *l);
uint32_t proto_call_msgid(const struct proto_call *c);
/* Ask the peer to end a command early: CANCEL {TARGET}. 0 or -1. */
int proto_call_cancel(struct proto_call *c);

/*
 * Run the loop until the command's final reply (a blocking call for
 * simple programs). Returns the final status; *reply, if given, gets a
 * copy of the final message (free() it), NULL when it failed here.
 * -EDEADLK, with nothing sent, when called from a loop callback. Replies
 * never show the CRC item: m->length, not the copy's header, is the
 * length of what a reply callback sees (the copy's header is fixed).
 */
int proto_call_wait(struct proto_link *l, uint16_t command,
    void (*items)(struct proto_builder *b, void *arg), void *arg,
    uint8_t **reply);

/* --- services ---------------------------------------------------------- */

struct proto_service_ops {
	/*
	 * LINK_OPEN for this service: 0 to accept (set *link_state), or an
	 * errno to refuse (the peer gets it as STATUS). m is the request.
	 * May be NULL: every open accepted, the link's state NULL.
	 */
	int (*open)(void *svc, struct proto_link *l, const struct proto_msg *m,
	    void **link_state);
	/* A command on one of its links: answer through req. */
	void (*command)(void *link_state, struct proto_request *req,
	    const struct proto_msg *m);
	/* The peer asked to cancel req (advisory). May be NULL. */
	void (*cancel)(void *link_state, struct proto_request *req);
	/* The link is gone (last reference, or the session lost). */
	void (*close)(void *link_state, struct proto_link *l);
};

int proto_peer_serve(struct proto_peer *p, const char *service,
    const struct proto_service_ops *ops, void *svc);

/* The built-in echo service (msgproto(7)): 0x7000-0x7fff echoed. */
extern const struct proto_service_ops proto_echo_service;

/*
 * A service binds the link id the peer named in a NEWLINK of req (or
 * another LINK item), served by ops with state: 0, or the errno to answer
 * (EINVAL not an id of the peer's half, EEXIST in use, EMFILE past
 * max_links, EAGAIN past the session's memory), with *why the reason.
 * The peer holds one reference; ops->close is called when it dies.
 */
int proto_link_bind(struct proto_request *req, uint64_t id,
    const struct proto_service_ops *ops, void *state,
    struct proto_link **out, const char **why);
/*
 * An object of ours the peer may read, under a new id of our half, to
 * hand in a REF: served by ops with state, without references (the peer
 * borrows it for the command carrying the REF). proto_link_unexport()
 * ends it: its outstanding commands are cancelled, ops->close is called.
 */
struct proto_link *proto_link_export(struct proto_session *s,
    const struct proto_service_ops *ops, void *state);
void proto_link_unexport(struct proto_link *l);
/* The state of link id if we serve it with ops; else NULL. */
void *proto_link_served(struct proto_session *s, uint64_t id,
    const struct proto_service_ops *ops);

/*
 * Streams: bytes of replies and commands waiting for room in the peer's
 * window. A service that produces many parts queues while this is low,
 * and otherwise asks to be called (once, from the loop) when it falls
 * below `below`; cancel, by arg, when its link dies first.
 */
size_t proto_session_queued(const struct proto_session *s);
int proto_session_when_room(struct proto_session *s, size_t below,
    void (*fn)(void *arg), void *arg);
void proto_session_cancel_room(struct proto_session *s, void *arg);

uint16_t proto_request_command(const struct proto_request *r);
uint32_t proto_request_msgid(const struct proto_request *r);
struct proto_link *proto_request_link(const struct proto_request *r);
void *proto_request_state(const struct proto_request *r);
void proto_request_set_state(struct proto_request *r, void *state);

/*
 * Reply to req: the builder comes with the header begun (same link and
 * msgid, reply bit set); add items, then proto_reply_end(). A part must
 * carry MORE (added here when `final` is 0); the final reply should
 * carry STATUS. Returns 0, or -1 (the reply was dropped: the session
 * or link is gone, or it did not fit) — req is freed when final either
 * way.
 */
struct proto_builder *proto_reply_begin(struct proto_request *req);
int proto_reply_end(struct proto_request *req, int final);
/* A final reply of just STATUS (and ERRTEXT when text is not NULL). */
int proto_reply_status(struct proto_request *req, int status,
    const char *text);

#endif
