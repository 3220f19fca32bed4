/*
 * tcpreasm.h - put captured TCP segments back into two byte streams per
 * connection.
 *
 * Feed it every TCP segment of a capture, in capture order; it calls
 * back with each direction's bytes in stream order, each byte once:
 *
 *	r = reasm_new(&ops, ctx, NULL);
 *	while (input_next_segment(in, &seg) == 1)
 *		reasm_segment(r, &seg);
 *	reasm_finish(r);	(the last data, gaps and closes)
 *	reasm_free(r);
 *
 * What a caller may rely on:
 * - Connections are numbered 1, 2, 3... in the order they appear.
 *   open() comes before any other callback of a connection and close()
 *   is the last; after close() returns the connection pointer is dead.
 * - For each direction, data() and gap() together cover the stream from
 *   offset 0 upwards without overlap or hole: every call starts where the
 *   previous one ended. Offsets are 64-bit, so streams past 4 GiB and
 *   32-bit sequence wraparound are transparent.
 * - A byte is delivered once. When copies of a byte differ (overlapping
 *   retransmissions), the copy that was captured first wins.
 * - A gap is a range that will never be delivered: a hole left when the
 *   connection closes, bytes cut off by the capture's snaplen, bytes of
 *   IP fragments the capture layer skipped, or a hole given up on. A
 *   hole is waited for, in case the bytes come later (reordered or
 *   retransmitted), until the first of:
 *     the peer acknowledges bytes past its start: the receiver had
 *       them and the capture missed them (given up before the segment
 *       carrying the acknowledgement is handled, so a reply never comes
 *       out before the command it answers);
 *     an RST; or the direction's FIN when the capture holds no segment
 *       of the peer (a filter kept one direction), since then no
 *       acknowledgement can end the wait (a FIN may overtake data, so
 *       otherwise it waits for the peer's acknowledgement of it);
 *     the capture clock (the latest segment time seen, not the wall
 *       clock) passes `wait` after the direction began to hold bytes
 *       behind the hole, or after the last hole before it was filled;
 *     the out-of-order window or the memory limit is reached.
 *   Only the hole is given up: the bytes after it come out at once, and
 *   the wait for a next hole starts then.
 * - `ts` of data(): for bytes in order, the time of the segment that
 *   carried them; for bytes that waited behind a hole, the latest time
 *   of the segments that carried them or any byte before them since the
 *   last gap (the time a receiver could read them): filled holes make
 *   bytes as late as the filling segment, a gap leaves them their own
 *   time. `ts` of gap(): the time of the first byte after the gap, or of
 *   the segment being handled when none is held. Times are exact while a
 *   direction holds fewer than 1024 runs of bytes of distinct arrival
 *   times; past that (a flood of scattered segments) some come out
 *   later, never earlier.
 * - Callbacks may be NULL. They must not call back into the same reasm.
 *   The `p` given to data() is valid only during the call.
 * - Memory is bounded by the limits below, whatever the input: a hostile
 *   capture makes it report gaps, not grow. Work per segment is bounded
 *   (no scan of a list of segments), so no input makes it quadratic.
 *
 * Who is the client (direction 0 is client -> server):
 * - The sender of a SYN without ACK; the receiver of a SYN+ACK.
 * - Without a handshake in the capture: the sender of the first segment,
 *   unless its port is below 1024 and below the peer's port (then it is
 *   taken for the server answering a client).
 * Where a direction's stream starts (offset 0):
 * - The byte after its SYN; for the client, also the acknowledgement
 *   number of a SYN+ACK when the SYN itself was not captured.
 * - Without a SYN: the first byte of the first segment of that direction
 *   that carries data or FIN. Bytes before it (reordered in the capture)
 *   are treated as already seen.
 * A connection ends with the reason given to close():
 *   "FIN"            both directions sent FIN
 *   "RST"            either side sent RST
 *   "reused"         a new SYN with another sequence number came on the
 *                    same addresses and ports while it was still open
 *   "evicted"        the connection limit was reached and this one was
 *                    the least recently active
 *   "end of capture" reasm_finish() with the connection still open
 * Holes still open at close are reported as gaps first. After FIN, bytes
 * past the FIN are dropped; after close, late segments of the same
 * addresses and ports are dropped, until a SYN starts a new connection.
 * A segment for unknown addresses that has no SYN and no payload (a bare
 * ACK, FIN or RST) does not start a connection.
 */
#ifndef TCPREASM_H
#define TCPREASM_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* TCP flags as on the wire (the 13th byte of the header). */
#define TCP_SEG_FIN	0x01u
#define TCP_SEG_SYN	0x02u
#define TCP_SEG_RST	0x04u
#define TCP_SEG_PSH	0x08u
#define TCP_SEG_ACK	0x10u
#define TCP_SEG_URG	0x20u

/*
 * One TCP segment as the capture layer decoded it. Addresses are in
 * network byte order, an IPv4 address in the first 4 bytes (the rest
 * zero); ports, seq and ack in host order.
 */
struct tcp_segment {
	struct timespec ts;	/* capture time, nanoseconds */
	int family;		/* AF_INET or AF_INET6 */
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t sport;
	uint16_t dport;
	uint32_t seq;
	uint32_t ack;
	uint8_t flags;		/* TCP_SEG_* */
	const uint8_t *payload;	/* caplen bytes */
	uint32_t caplen;	/* payload bytes captured */
	uint32_t wirelen;	/* payload bytes on the wire (>= caplen) */
	uint64_t frame;		/* 1-based frame number in the capture */
};

struct reasm_endpoint {
	uint8_t addr[16];	/* as in struct tcp_segment */
	uint16_t port;
};

/* What the caller sees of a connection. */
struct reasm_conn {
	uint64_t id;		/* 1, 2, 3... in order of appearance */
	int family;		/* AF_INET or AF_INET6 */
	struct reasm_endpoint client;
	struct reasm_endpoint server;
	int syn_seen;		/* the handshake was captured */
	struct timespec first;	/* time of its first segment */
	void *user;		/* the caller's, for the connection */
	void *user_dir[2];	/* the caller's, one per direction */
};

struct reasm_ops {
	void (*open)(void *ctx, struct reasm_conn *c);
	/*
	 * n > 0 contiguous bytes of direction `dir` (0 client -> server,
	 * 1 server -> client) starting at stream offset `offset`. `ts` is
	 * the time of the segment that made them deliverable.
	 */
	void (*data)(void *ctx, struct reasm_conn *c, int dir,
	    uint64_t offset, const uint8_t *p, size_t n,
	    const struct timespec *ts);
	/* `missing` > 0 bytes at `offset` that will never come. */
	void (*gap)(void *ctx, struct reasm_conn *c, int dir,
	    uint64_t offset, uint64_t missing, const struct timespec *ts);
	void (*close)(void *ctx, struct reasm_conn *c, const char *reason);
};

/* Zero in a field means its default. */
struct reasm_limits {
	/*
	 * Out-of-order window per direction: how far past the first
	 * missing byte data is kept waiting for it. A segment ending
	 * further out makes the hole (as much of it as needed) a gap.
	 * Default 4 MiB; at least REASM_WINDOW_MIN.
	 */
	size_t window;
	/* Open connections; past it the least recently active is evicted. */
	size_t max_conns;	/* default 65536 */
	/*
	 * Bytes of out-of-order buffers of all connections together. Past
	 * it, the directions that buffered least recently are flushed
	 * (holes become gaps) until the total fits. Default 256 MiB.
	 */
	size_t mem_total;
	/*
	 * Capture time a hole is waited for when nothing else ends the wait
	 * (see above), in nanoseconds. Default 1 s: longer than a
	 * retransmission timeout takes on most paths.
	 */
	uint64_t wait_ns;
};

#define REASM_WINDOW_DEFAULT	((size_t)4 << 20)
#define REASM_WINDOW_MIN	((size_t)256 << 10)
#define REASM_CONNS_DEFAULT	65536
#define REASM_MEM_DEFAULT	((size_t)256 << 20)
#define REASM_WAIT_DEFAULT	1000000000ull

struct reasm_stats {
	uint64_t segments;	/* given to reasm_segment() */
	uint64_t ignored;	/* no connection to belong to */
	uint64_t late;		/* for a closed connection: dropped */
	uint64_t ooo_segments;	/* arrived ahead of a hole */
	uint64_t bytes;		/* delivered through data() */
	uint64_t dup_bytes;	/* retransmitted, already had them */
	uint64_t after_fin;	/* bytes past a FIN: dropped */
	uint64_t gaps;		/* gap() calls */
	uint64_t gap_bytes;	/* bytes they declared missing */
	uint64_t window_flushes; /* holes given up: window full */
	uint64_t mem_flushes;	/* holes given up: mem_total reached */
	uint64_t ack_flushes;	/* holes given up: acknowledged by the peer */
	uint64_t fin_flushes;	/* holes given up: FIN, peer not captured */
	uint64_t wait_flushes;	/* holes given up: waited `wait` */
	uint64_t connections;	/* opened */
	uint64_t open;		/* open now */
	uint64_t evicted;
	uint64_t mem;		/* bytes of buffers held now */
	uint64_t mem_peak;
};

struct reasm;

/*
 * ops is copied; ctx is passed to every callback; lim may be NULL.
 * NULL with errno ENOMEM, or EINVAL for a window below the minimum.
 */
struct reasm *reasm_new(const struct reasm_ops *ops, void *ctx,
    const struct reasm_limits *lim);

/* Take one segment; *seg and its payload are not kept. */
void reasm_segment(struct reasm *r, const struct tcp_segment *seg);

/*
 * End of capture: deliver what can be delivered, report holes as gaps
 * and close every open connection, in the order they were opened. The
 * reasm is then empty and may take segments again.
 */
void reasm_finish(struct reasm *r);

/* Free everything, without callbacks: call reasm_finish() first. */
void reasm_free(struct reasm *r);

const struct reasm_stats *reasm_stats(const struct reasm *r);

#endif
