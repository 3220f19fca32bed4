/*
 * hostile - a client that misbehaves on purpose against a real msgpeer
 * serve, so that tests and benchmarks can watch the server (its peak
 * memory, its logs) under each attack, and says what the server did.
 *
 *	hostile [options] MODE ADDR
 *
 * ADDR is unix:/path or tcp:HOST:PORT. It speaks the protocol with its
 * own sockets and libproto's builder and framer, never the session
 * engine, which is well-behaved by design.
 *
 * Options:
 *	-n N	  connections or sessions (default 1; idle: 1000)
 *	-c N	  messages or cycles (default per mode, below)
 *	-s BYTES  DATA bytes per command (default 0: no DATA item;
 *		  detach: 60000)
 *	-b BYTES  detach: bytes of commands per session (default 1 MiB)
 *	-t SEC	  bound on the whole run, fractions allowed (default 20):
 *		  when it passes the run stops, reports and exits 0
 *	-N NODE	  the NODE of our HELLO (default "hostile")
 *	-E TEXT	  goodbye: the ERRTEXT
 *	-k FILE	  a pre-shared key (as msgpeer --key): offer AUTH
 *	-C	  offer the CRC feature (a CRC item on every sequenced
 *		  message when the server grants it)
 *	-x NAME	  the variant of modes ctrl, auth and resume-bad
 *	-q	  no progress lines on stderr
 * -N and -E read the C escapes \n \r \t \e \\ and \xNN, so that a test
 * can put a newline, a forged log line or a terminal escape in them.
 *
 * Modes (the first HELLO asks for a new session and, with -k, AUTH is
 * completed, unless the mode is about breaking it):
 *	unbound	    -c (1000000) header-only commands 0x7000 on link 5,
 *		    which nothing bound; never read until all are written,
 *		    the socket stays unwritable for 2 s or the server closes;
 *		    then read for at most 2 s to find a GOODBYE
 *	echo	    the same on an echo link, DATA of -s bytes
 *	delay	    -c (1024) commands held 60 s by the delay service, DATA
 *		    of -s bytes; replies are read (and ACKed) as they come
 *		    and the connection is held until -t passes
 *	detach	    -n sessions one after another: echo commands of -s
 *		    bytes written without reading until -b bytes, 0.3 s of
 *		    rest, then a close without GOODBYE (a detached session)
 *	cycle	    -c (10000) rounds of connect, HELLO, its reply, close
 *	idle	    -n connections that send nothing, held until -t
 *	malformed   -c (1000000) commands on link 0 that frame but carry a
 *		    nonzero pad byte between two items; replies read, and
 *		    at most 1024 commands left unanswered
 *	goodbye	    GOODBYE {STATUS 5, ERRTEXT -E}, then close
 *	node	    a handshake with the -N NODE, 0.5 s, GOODBYE {0}
 *	ctrl	    -x ack-link (ACK on link 5), ping-link (PING on link 7),
 *		    ack-empty (ACK without RECEIVED), ack-high (RECEIVED
 *		    1000000); then 1 s of reading
 *	auth	    needs -k; -x wrong (a random proof), replay (a recorded
 *		    AUTH sent again on a resume with the same nonce), reflect
 *		    (the acceptor's own proof), none (no AUTH offered)
 *	resume-bad  a session that got 6 messages, then a resume claiming
 *		    RECEIVED 1000; -x unauth (with -k): never send AUTH
 *	garbage	    -c (1) blocks of 4096 random bytes, then 1 s of reading
 *
 * Output: one line on stdout once the run has started, key=value pairs
 * separated by spaces:
 *	mode sent (messages written whole) bytes replies (reply messages
 *	read, handshake replies included) closed (connections the server
 *	closed or reset) goodbye (STATUS of the last GOODBYE, or -1) text
 *	(its ERRTEXT or that of the last refusal) refused (STATUS of the
 *	last refused HELLO or AUTH, or -1) eagain connected elapsed
 *	timeout (1 when -t ended the run) violations cut (connections
 *	that ended inside a message)
 * then status_NAME=N for the final replies to our sequenced commands
 * by STATUS, and keys of the mode:
 *	unbound, echo, delay, malformed: commands, end (done, stalled,
 *	closed or time); echo, delay: link_status (of the LINK_OPEN);
 *	delay: held (commands not answered); malformed: ebadmsg;
 *	detach: sessions, ids; cycle: cycles (HELLO replies), dropped
 *	(closed before one), refused_NAME=N; idle: open, ours_emfile,
 *	connect_failed; ctrl: reply_cmd, reply_status (-1: none); auth:
 *	accepted; resume-bad: session, server_sent, hello_status; any:
 *	connect_error when a later connect failed.
 * In text, every byte that is not printable ASCII, and space and
 * backslash, is written \xNN.
 *
 * A mode that reads answers PINGs and ACKs every 16 KiB or 20 ms.
 *
 * Exit: 0 when the run went as the mode intends, refusals included; 1
 * when the server did what a peer must never do (bytes that do not
 * frame or validate, a sequenced message before the handshake is
 * complete, a reply to a msgid never sent, anything after a GOODBYE, an
 * accepted wrong proof...: stderr says which); 2 on a usage or set-up
 * error (then a line is written only if the run had started).
 */
#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "dissectors/schema.h"
#include "libproto/proto_crc32c.h"
#include "libproto/proto_decode.h"
#include "libproto/proto_encode.h"
#include "libproto/proto_framer.h"
#include "libproto/proto_transport.h"
#include "libproto/proto_wire.h"
#include "proto_numbers.h"
#include "tests/lib/auth_proof.h"
#include "tools/lib/cli.h"

#define SEC		1000000000LL
#define MS		1000000LL
#define FOREVER		INT64_MAX

#define CMD_PRIVATE	0x7000u		/* echo and delay answer it */
#define LINK_UNBOUND	0x5u
#define LINK_SERVICE	0x1u		/* the link we open */
#define ACK_LINK	5u		/* ctrl ack-link */
#define PING_LINK	7u		/* ctrl ping-link */
#define HIGH_RECEIVED	1000000u	/* ctrl ack-high */
#define RESUME_CLAIM	1000u		/* resume-bad: RECEIVED */
#define RESUME_CMDS	5
#define GOODBYE_STATUS	5u		/* goodbye: EIO, any nonzero will do */
#define DELAY_NS	(60 * SEC)	/* delay: the service's longest */

#define OUR_WINDOW	(1u << 20)
#define OUR_INFLIGHT	1024u
#define OUR_LINKS	1024u
#define ACK_DELAY	(20 * MS)
#define ACK_BYTES	(16 * 1024)	/* we ACK at least this often */
#define STALL_NS	(2 * SEC)	/* unwritable this long: stopped */
#define DRAIN_NS	(2 * SEC)
#define LISTEN_NS	(1 * SEC)	/* ctrl, garbage: reading after */
#define SETTLE_NS	(2 * SEC)	/* an answer to a bad handshake */
#define CLOSE_NS	(1 * SEC)	/* after our GOODBYE, for the EOF */
#define HOLD_NS		(500 * MS)	/* node */
#define REST_NS		(300 * MS)	/* detach */
#define CONNECT_NS	(5 * SEC)
#define RETRY_NS	(1 * MS)	/* a full unix backlog (EAGAIN) */
#define PROGRESS_NS	(1 * SEC)
#define BATCH		(256 * 1024)	/* flood bytes built at a time */
#define BATCH_READING	(8 * 1024)	/* ... when replies are read too */
#define READER_INFLIGHT	1024		/* malformed: commands not answered */
#define READ_CHUNK	65536
#define READS_PER_CALL	8
#define GARBAGE_BLOCK	4096
#define TEXT_MAX	512
#define STR_MAX		4096		/* -N and -E after escapes */
#define KEY_MAX		1024
#define SIZE_MAX_DATA	65480		/* -s: DATA, TIMESTAMP, CRC fit */
#define STATUS_TABLE	256
#define MAX_COUNT	4000000000ULL	/* msgids are 32 bits */
#define MAX_CONNS	100000		/* idle keeps a record of each */
#define MAX_BOUND	86400.0

enum mode {
	M_UNBOUND, M_ECHO, M_DELAY, M_DETACH, M_CYCLE, M_IDLE, M_MALFORMED,
	M_GOODBYE, M_NODE, M_CTRL, M_AUTH, M_RESUME_BAD, M_GARBAGE
};

struct modeinfo {
	const char *name;
	uint64_t count;			/* -c default */
	const char *const *variants;	/* -x: NULL-ended, or NULL */
	int variant_required;
};

static const char *const ctrl_variants[] = {
	"ack-link", "ping-link", "ack-empty", "ack-high", NULL
};
static const char *const auth_variants[] = {
	"wrong", "replay", "reflect", "none", NULL
};
static const char *const resume_variants[] = { "unauth", NULL };

/* Indexed by enum mode. */
static const struct modeinfo modes[] = {
	{ "unbound", 1000000, NULL, 0 },
	{ "echo", 1000000, NULL, 0 },
	{ "delay", 1024, NULL, 0 },
	{ "detach", 0, NULL, 0 },
	{ "cycle", 10000, NULL, 0 },
	{ "idle", 0, NULL, 0 },
	{ "malformed", 1000000, NULL, 0 },
	{ "goodbye", 0, NULL, 0 },
	{ "node", 0, NULL, 0 },
	{ "ctrl", 0, ctrl_variants, 1 },
	{ "auth", 0, auth_variants, 1 },
	{ "resume-bad", 0, resume_variants, 0 },
	{ "garbage", 1, NULL, 0 },
};

struct opts {
	enum mode mode;
	const char *variant;		/* NULL: none given */
	struct proto_addr addr;
	struct sockaddr_storage ss;	/* ADDR resolved */
	socklen_t sslen;
	uint64_t n;
	uint64_t count;
	uint64_t size;
	uint64_t detach_bytes;
	int64_t bound;			/* ns */
	char node[STR_MAX];
	size_t nodelen;
	char errtext[STR_MAX];
	size_t errtextlen;
	uint8_t key[KEY_MAX];
	size_t keylen;			/* 0: no key */
	int crc;
	int quiet;
};

struct run {
	const struct opts *o;
	int64_t start, deadline, last_progress;
	int timed_out;
	uint64_t sent, bytes, replies, closed, eagain, connected;
	int goodbye, refused;
	char text[TEXT_MAX];
	size_t textlen;
	uint64_t violations;
	uint64_t cut;			/* connections ended inside a message */
	int setup_error;
	uint64_t status_n[STATUS_TABLE];	/* final replies by STATUS */
	uint64_t status_other;
	char *extra;			/* " key=value..." of the mode */
	size_t extralen;
};

/* One connection to the server and what it has said on it. */
struct conn {
	struct run *r;
	int fd;
	int eof;		/* nothing more to read: end of stream, reset */
	int wdead;		/* writes fail: the server is gone */
	int gone;		/* counted in r->closed */
	int broken;		/* it broke the protocol: read no more */
	int read_only;		/* write nothing more (no ACK, no PONG) */
	struct proto_framer fr;
	struct proto_builder out;	/* whole messages not yet written */
	size_t outoff;
	uint64_t outmsgs;	/* in `out`; counted as sent once written */
	int64_t last_write, last_read;
	/* the handshake */
	uint64_t offered, features;
	int hello_sent, hello_done, auth_sent, up;
	int hello_status, auth_status;	/* -1 until known */
	int resuming, refused_seen, goodbye_seen;
	uint8_t want_sid[16], sid[16];
	uint8_t ni[32], na[32], proof_a[32];
	uint8_t auth_msg[64];	/* our last AUTH message, as written */
	size_t auth_msglen;
	/* sequencing */
	uint32_t next_msgid;
	uint64_t seq_sent;	/* sequenced messages queued */
	uint64_t seq_rcvd;
	uint64_t acked;		/* RECEIVED of our last ACK */
	uint64_t unacked_bytes;
	int64_t unacked_since;
	uint64_t peer_acked;	/* RECEIVED of the server's last ACK */
	/* answers */
	uint64_t cmd_replies;	/* final replies to sequenced commands */
	uint64_t expect;	/* ... of the commands a flood sent */
	uint32_t open_msgid;
	int open_status;	/* the LINK_OPEN reply's, -1 until then */
	int watch;		/* ctrl: keep the first reply from now on */
	uint16_t watch_cmd;
	int watch_status;	/* -1: none yet */
};

/* A run of identical commands (but their msgids). */
struct flood {
	uint64_t linkid;
	uint16_t cmd;
	size_t datalen;		/* DATA bytes; 0: no DATA item */
	uint64_t timestamp;	/* a TIMESTAMP item when nonzero */
	int malformed;		/* a nonzero pad byte between two items */
	uint64_t count;		/* messages */
	uint64_t maxbytes;	/* or stop once this many are written */
	int reading;		/* read, ACK and answer PINGs meanwhile */
	uint64_t inflight;	/* reading: most commands not answered */
};

enum flood_end { FLOOD_DONE, FLOOD_STALLED, FLOOD_CLOSED, FLOOD_TIME };
static const char *const flood_end_name[] = {
	"done", "stalled", "closed", "time"
};

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static int64_t
min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* poll(2)'s timeout for a wait until `until`, rounded up. */
static int
poll_ms(int64_t until, int64_t now)
{
	int64_t ms;

	if (until <= now)
		return 0;
	ms = (until - now + MS - 1) / MS;
	return ms > 60000 ? 60000 : (int)ms;
}

/* Has -t passed? The report says so: the run stops where it is. */
static int
out_of_time(struct run *r, int64_t now)
{
	if (now < r->deadline)
		return 0;
	r->timed_out = 1;
	return 1;
}

static void
pause_until(struct run *r, int64_t until)
{
	struct timespec ts;
	int64_t now, left;

	until = min64(until, r->deadline);
	while ((now = now_ns()) < until) {
		left = until - now;
		ts.tv_sec = (time_t)(left / SEC);
		ts.tv_nsec = (long)(left % SEC);
		nanosleep(&ts, NULL);
	}
	(void)out_of_time(r, now);
}

static void
fill_random(void *buf, size_t len)
{
	if (RAND_bytes(buf, (int)len) != 1)
		errx(2, "RAND_bytes failed");
}

static void
progress(struct run *r)
{
	int64_t now;

	if (r->o->quiet)
		return;
	now = now_ns();
	if (now - r->last_progress < PROGRESS_NS)
		return;
	r->last_progress = now;
	fprintf(stderr, "hostile: %s: %.1f s: sent %" PRIu64 " (%" PRIu64
	    " bytes), %" PRIu64 " replies, %" PRIu64 " connected, %" PRIu64
	    " closed\n", modes[r->o->mode].name, (double)(now - r->start) /
	    SEC, r->sent, r->bytes, r->replies, r->connected, r->closed);
}

/* Append " key=value" to the mode's part of the report. */
static void
extra(struct run *r, const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		err(2, "vsnprintf");
	p = realloc(r->extra, r->extralen + (size_t)n + 2);
	if (p == NULL)
		err(2, "out of memory");
	r->extra = p;
	p[r->extralen++] = ' ';
	va_start(ap, fmt);
	vsnprintf(p + r->extralen, (size_t)n + 1, fmt, ap);
	va_end(ap);
	r->extralen += (size_t)n;
}

/* A bad server: say what it did; the exit status becomes 1. */
static void
violation(struct conn *c, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	c->r->violations++;
	/* A broken server can repeat itself a million times. */
	if (c->r->violations <= 10)
		warnx("the server broke the protocol: %s", buf);
}

static void
setup_error(struct run *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarnx(fmt, ap);
	va_end(ap);
	r->setup_error = 1;
}

/* The name msgdump gives a STATUS, or its number. */
static const char *
status_name(uint32_t st, char *buf, size_t len)
{
	const char *name = schema_value_name(&schema_errno_names, st);

	if (name != NULL)
		return name;
	snprintf(buf, len, "%" PRIu32, st);
	return buf;
}

/* An errno as one word: its name, or its number. */
static const char *
errno_word(int e)
{
	static char buf[16];
	const char *name = strerrorname_np(e);

	if (name != NULL)
		return name;
	snprintf(buf, sizeof(buf), "%d", e);
	return buf;
}

/* Bytes as one word of the report: \xNN for anything else. */
static void
put_escaped(FILE *f, const char *s, size_t n)
{
	size_t i;
	unsigned char ch;

	for (i = 0; i < n; i++) {
		ch = (unsigned char)s[i];
		if (ch > ' ' && ch < 0x7f && ch != '\\')
			putc(ch, f);
		else
			fprintf(f, "\\x%02x", ch);
	}
}

static void
put_hex(char *out, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* --- the server's messages ----------------------------------------------- */

static int
find_u64(const struct proto_msg *m, uint16_t type, uint64_t *v)
{
	struct proto_item it;

	return proto_msg_find(m, type, &it, NULL) > 0 &&
	    proto_item_u64(&it, v, NULL) == 0;
}

static int
find_u32(const struct proto_msg *m, uint16_t type, uint32_t *v)
{
	struct proto_item it;

	return proto_msg_find(m, type, &it, NULL) > 0 &&
	    proto_item_u32(&it, v, NULL) == 0;
}

static int
find_bytes(const struct proto_msg *m, uint16_t type, uint8_t *out,
    size_t want)
{
	struct proto_item it;
	const uint8_t *p;
	size_t n;

	if (proto_msg_find(m, type, &it, NULL) <= 0 ||
	    proto_item_bytes(&it, &p, &n, (int)want, NULL) != 0)
		return 0;
	memcpy(out, p, want);
	return 1;
}

/* A STATUS item's value; `none` when there is none. */
static int
status_of(const struct proto_msg *m, int none)
{
	uint32_t st;

	return find_u32(m, PROTO_ITEM_STATUS, &st) ? (int)st : none;
}

/* The ERRTEXT, as sent, becomes the text of the report. */
static void
keep_text(struct run *r, const struct proto_msg *m)
{
	struct proto_item it;
	const char *s;
	size_t n;

	r->textlen = 0;
	if (proto_msg_find(m, PROTO_ITEM_ERRTEXT, &it, NULL) <= 0 ||
	    proto_item_string(&it, &s, &n, NULL) != 0)
		return;
	if (n > sizeof(r->text))
		n = sizeof(r->text);
	memcpy(r->text, s, n);
	r->textlen = n;
}

/* HMAC-SHA256(K, role || Ni || Na || S), msgproto(7) Handshake. */
static void
proof(const struct opts *o, const char *role, const uint8_t *ni,
    const uint8_t *na, const uint8_t *sid, uint8_t *out)
{
	if (auth_proof(o->key, o->keylen, role, ni, na, sid, out) < 0)
		errx(2, "HMAC-SHA256 failed");
}

static void
hello_reply(struct conn *c, const struct proto_msg *m)
{
	struct run *r = c->r;
	const struct opts *o = r->o;
	uint64_t received, feats;
	uint32_t window;
	uint8_t want[32];
	struct proto_item it;

	c->hello_done = 1;
	c->hello_status = status_of(m, 0);
	if (c->hello_status != 0) {
		r->refused = c->hello_status;
		c->refused_seen = 1;
		keep_text(r, m);
		return;
	}
	if (proto_msg_find(m, PROTO_ITEM_VERSION, &it, NULL) <= 0 ||
	    !find_bytes(m, PROTO_ITEM_SESSION, c->sid, 16) ||
	    !find_u64(m, PROTO_ITEM_RECEIVED, &received) ||
	    !find_u64(m, PROTO_ITEM_FEATURES, &feats) ||
	    !find_u32(m, PROTO_ITEM_WINDOW, &window)) {
		violation(c, "a HELLO reply without VERSION, SESSION, "
		    "RECEIVED, FEATURES or WINDOW");
		c->broken = 1;
		return;
	}
	if (feats & ~c->offered) {
		violation(c, "the HELLO reply grants FEATURES 0x%" PRIx64
		    " of 0x%" PRIx64 " offered", feats, c->offered);
		c->broken = 1;
		return;
	}
	if (c->resuming && memcmp(c->sid, c->want_sid, 16) != 0) {
		violation(c, "the HELLO reply names another session than the "
		    "one resumed");
		c->broken = 1;
		return;
	}
	if (!c->resuming && received != 0) {
		violation(c, "RECEIVED %" PRIu64 " in the HELLO reply of a new "
		    "session", received);
		c->broken = 1;
		return;
	}
	c->features = feats;
	if (!(feats & PROTO_FEATURE_AUTH)) {
		c->up = 1;
		return;
	}
	if (!find_bytes(m, PROTO_ITEM_NONCE, c->na, 32) ||
	    !find_bytes(m, PROTO_ITEM_AUTH, c->proof_a, 32)) {
		violation(c, "AUTH granted without the acceptor's NONCE and "
		    "proof");
		c->broken = 1;
		return;
	}
	proof(o, "msgkit acceptor", c->ni, c->na, c->sid, want);
	if (memcmp(want, c->proof_a, 32) != 0) {
		setup_error(r, "the server's AUTH proof does not verify: is "
		    "-k its key?");
		c->broken = 1;
	}
}

static void
count_status(struct run *r, int st)
{
	if (st >= 0 && st < STATUS_TABLE)
		r->status_n[st]++;
	else
		r->status_other++;
}

/* A sequenced message: a reply to one of our commands, as a rule. */
static void
sequenced(struct conn *c, const struct proto_msg *m)
{
	struct proto_item it;
	int st;

	if (!c->up) {
		violation(c, "a sequenced message (link 0x%" PRIx64 " msg %"
		    PRIu32 " cmd 0x%04x) before the handshake was complete",
		    m->linkid, m->msgid, m->command);
		return;
	}
	if (c->seq_rcvd == c->acked)
		c->unacked_since = now_ns();
	c->seq_rcvd++;
	c->unacked_bytes += proto_align8(m->length);
	if (!proto_msg_is_reply(m))
		return;		/* the server's own command: not ours */
	if (m->msgid == 0 || m->msgid >= c->next_msgid) {
		violation(c, "a reply (link 0x%" PRIx64 " cmd 0x%04x) to "
		    "msgid %" PRIu32 ", which we never sent", m->linkid,
		    m->command, m->msgid);
		return;
	}
	if (proto_msg_find(m, PROTO_ITEM_MORE, &it, NULL) > 0)
		return;		/* a part; the final reply counts */
	st = status_of(m, 0);
	if (c->watch && c->watch_status < 0) {
		c->watch_cmd = m->command;
		c->watch_status = st;
	}
	if (m->linkid == 0 && m->msgid == c->open_msgid &&
	    proto_msg_command(m) == PROTO_CMD_LINK_OPEN) {
		c->open_status = st;
		return;
	}
	c->cmd_replies++;
	count_status(c->r, st);
}

static void
queue_pong(struct conn *c, const struct proto_msg *m);

static void
control(struct conn *c, const struct proto_msg *m)
{
	struct run *r = c->r;
	uint16_t cmd = proto_msg_command(m);
	int reply = proto_msg_is_reply(m);
	uint64_t v;

	if (cmd == PROTO_CMD_PAD)
		return;
	if (cmd == PROTO_CMD_GOODBYE && !reply) {
		c->goodbye_seen = 1;
		r->goodbye = status_of(m, 0);
		keep_text(r, m);
		return;
	}
	if (!c->hello_sent) {
		violation(c, "cmd 0x%04x before our HELLO", m->command);
		return;
	}
	if (cmd == PROTO_CMD_HELLO && reply && !c->hello_done) {
		hello_reply(c, m);
		return;
	}
	if (cmd == PROTO_CMD_AUTH && reply && c->auth_sent && !c->up &&
	    c->auth_status < 0) {
		c->auth_status = status_of(m, 0);
		if (c->auth_status == 0) {
			c->up = 1;
			return;
		}
		/* msgproto(7) says GOODBYE EACCES; this is no worse. */
		r->refused = c->auth_status;
		keep_text(r, m);
		return;
	}
	if (!c->up) {
		violation(c, "cmd 0x%04x before the handshake was complete",
		    m->command);
		return;
	}
	if (reply && (cmd == PROTO_CMD_HELLO || cmd == PROTO_CMD_AUTH)) {
		violation(c, "a second reply to the handshake (cmd 0x%04x)",
		    m->command);
		return;
	}
	if (reply) {
		if (c->watch && c->watch_status < 0) {
			c->watch_cmd = m->command;
			c->watch_status = status_of(m, 0);
		}
		return;
	}
	switch (cmd) {
	case PROTO_CMD_ACK:
		if (!find_u64(m, PROTO_ITEM_RECEIVED, &v)) {
			violation(c, "an ACK without RECEIVED");
			return;
		}
		if (v < c->peer_acked || v > c->seq_sent)
			violation(c, "ACK {RECEIVED %" PRIu64 "} after %" PRIu64
			    ", of %" PRIu64 " sequenced messages sent", v,
			    c->peer_acked, c->seq_sent);
		c->peer_acked = v;
		return;
	case PROTO_CMD_PING:
		queue_pong(c, m);
		return;
	default:
		/* HELLO, AUTH, 0x0006-0x000f from the acceptor: ignored. */
		return;
	}
}

static void
conn_msg(struct conn *c, const struct proto_msg *m)
{
	struct proto_error e;
	char why[256];
	int seq = proto_msg_command(m) > PROTO_CONTROL_LAST;

	if (c->goodbye_seen || c->refused_seen) {
		violation(c, "cmd 0x%04x after %s", m->command,
		    c->goodbye_seen ? "its GOODBYE" : "refusing the handshake");
		c->broken = 1;
		return;
	}
	if (seq && (c->features & PROTO_FEATURE_CRC) &&
	    proto_msg_crc_check(m, &e) < 0) {
		proto_error_format(&e, why, sizeof(why));
		violation(c, "cmd 0x%04x msg %" PRIu32 ": %s", m->command,
		    m->msgid, why);
		return;
	}
	if (proto_msg_validate(m, &e) < 0) {
		proto_error_format(&e, why, sizeof(why));
		violation(c, "cmd 0x%04x msg %" PRIu32 " does not validate: %s",
		    m->command, m->msgid, why);
		return;
	}
	if (proto_msg_is_reply(m)) {
		c->r->replies++;
		if (status_of(m, 0) == EAGAIN)
			c->r->eagain++;
	}
	if (seq)
		sequenced(c, m);
	else
		control(c, m);
}

/* --- connections --------------------------------------------------------- */

/*
 * A connected non-blocking socket, or -1 with errno. A unix listener
 * whose backlog is full says EAGAIN: tried again until `until`.
 */
static int
dial(const struct opts *o, int64_t until)
{
	struct pollfd pfd;
	socklen_t len = sizeof(int);
	int fd, e, one = 1;
	int64_t now;

	for (;;) {
		fd = socket(o->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd == -1)
			return -1;
		if (connect(fd, (const struct sockaddr *)&o->ss, o->sslen) ==
		    0)
			break;
		e = errno;
		if (e == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			do {
				now = now_ns();
				if (now >= until) {
					close(fd);
					errno = ETIMEDOUT;
					return -1;
				}
			} while (poll(&pfd, 1, poll_ms(until, now)) <= 0);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) ==
			    -1)
				e = errno;
			if (e == 0)
				break;
		}
		close(fd);
		if (e != EAGAIN || now_ns() + RETRY_NS >= until) {
			errno = e;
			return -1;
		}
		usleep(RETRY_NS / 1000);
	}
	if (o->ss.ss_family != AF_UNIX)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	return fd;
}

/* 0, or -1 with errno when the connect failed. */
static int
conn_open(struct run *r, struct conn *c)
{
	memset(c, 0, sizeof(*c));
	c->r = r;
	c->fd = dial(r->o, min64(r->deadline, now_ns() + CONNECT_NS));
	if (c->fd == -1)
		return -1;
	r->connected++;
	(void)proto_framer_init(&c->fr, 0);
	proto_builder_init(&c->out);
	c->hello_status = c->auth_status = c->open_status = -1;
	c->watch_status = -1;
	c->next_msgid = 1;
	c->last_write = now_ns();
	return 0;
}

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	proto_framer_free(&c->fr);
	proto_builder_free(&c->out);
}

/*
 * The server closed or reset the connection. A failed write does not
 * end reading: what it sent before closing (a GOODBYE) may still wait in
 * our receive buffer.
 */
static void
conn_gone(struct conn *c, int reading)
{
	if (reading)
		c->eof = 1;
	else
		c->wdead = 1;
	if (!c->gone)
		c->r->closed++;
	c->gone = 1;
}

/*
 * The end of the stream. One that stops inside a message is a transport
 * that broke, not a protocol error; the report counts it.
 */
static void
conn_eof(struct conn *c)
{
	struct proto_error e;
	struct proto_msg m;

	conn_gone(c, 1);
	if (c->broken)
		return;
	proto_framer_eof(&c->fr);
	while (proto_framer_next(&c->fr, &m, &e) != 0)
		if (e.reason == PROTO_E_TRUNCATED ||
		    e.reason == PROTO_E_SHORT_HEADER) {
			c->r->cut++;
			return;
		}
}

/* Read what has come, and handle every message in it. */
static void
conn_read(struct conn *c)
{
	static uint8_t buf[READ_CHUNK];
	struct proto_error e;
	struct proto_msg m;
	char why[256];
	ssize_t n;
	int i, k;

	for (i = 0; i < READS_PER_CALL && !c->eof && !c->broken; i++) {
		n = recv(c->fd, buf, sizeof(buf), 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			conn_eof(c);
			return;
		}
		c->last_read = now_ns();
		proto_framer_feed(&c->fr, buf, (size_t)n);
		while ((k = proto_framer_next(&c->fr, &m, &e)) != 0) {
			if (k > 0) {
				conn_msg(c, &m);
				continue;
			}
			proto_error_format(&e, why, sizeof(why));
			violation(c, "bytes that do not frame: %s", why);
			c->broken = 1;
			/* The framer swallows the rest; nothing to read. */
		}
	}
}

static int
conn_pending(const struct conn *c)
{
	return c->outoff < proto_builder_len(&c->out);
}

/*
 * Write what is queued: 0 when all of it is out, 1 when the socket is
 * full, -1 when the connection is gone.
 */
static int
conn_flush(struct conn *c)
{
	const uint8_t *p = proto_builder_data(&c->out);
	size_t len = proto_builder_len(&c->out);
	ssize_t n;

	while (c->outoff < len) {
		n = send(c->fd, p + c->outoff, len - c->outoff, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 1;
		if (n == -1) {
			conn_gone(c, 0);
			return -1;
		}
		c->outoff += (size_t)n;
		c->r->bytes += (uint64_t)n;
		c->last_write = now_ns();
	}
	c->r->sent += c->outmsgs;
	c->outmsgs = 0;
	c->outoff = 0;
	proto_builder_reset(&c->out);
	return 0;
}

static uint32_t
conn_msgid(struct conn *c)
{
	if (c->next_msgid == 0)
		c->next_msgid = 1;
	return c->next_msgid++;
}

/*
 * End the message open in b: a CRC item on a sequenced one when the
 * session has the feature. Our own sizes are checked up front, so a
 * failure here is a bug.
 */
static void
end_msg(struct conn *c, struct proto_builder *b)
{
	uint16_t cmd = proto_get16(b->buf + b->msg_start + 12);
	int seq = (cmd & PROTO_COMMAND_MASK) > PROTO_CONTROL_LAST;
	int k;

	if (seq && (c->features & PROTO_FEATURE_CRC))
		k = proto_build_end_crc(b);
	else
		k = proto_build_end(b);
	if (k < 0)
		errx(2, "cannot build cmd 0x%04x: %s", cmd,
		    proto_reason_str(b->err.reason));
	if (seq)
		c->seq_sent++;
}

static struct proto_builder *
conn_begin(struct conn *c, uint64_t linkid, uint32_t msgid, uint16_t cmd)
{
	(void)proto_build_begin(&c->out, linkid, msgid, cmd);
	return &c->out;
}

static void
conn_end(struct conn *c)
{
	end_msg(c, &c->out);
	c->outmsgs++;
}

/* PING {TIMESTAMP}: the reply echoes it, with the PING's msgid. */
static void
queue_pong(struct conn *c, const struct proto_msg *m)
{
	struct proto_builder *b;
	uint64_t ts = 0;

	if (c->read_only)
		return;
	(void)find_u64(m, PROTO_ITEM_TIMESTAMP, &ts);
	b = conn_begin(c, 0, m->msgid, PROTO_CMD_PING | PROTO_REPLY_BIT);
	proto_build_u64(b, PROTO_ITEM_TIMESTAMP, ts);
	proto_build_u32(b, PROTO_ITEM_STATUS, 0);
	conn_end(c);
}

/*
 * ACK 20 ms after the first message not acknowledged, as msgproto(7)
 * asks, but every 16 KiB rather than every quarter of the server's
 * WINDOW (64 KiB at least). A server counts what we have not
 * acknowledged as not read, and while we flood, our ACK waits behind our
 * own commands: small commands that draw larger refusals would pile up
 * on the server for a client that reads all the same.
 */
static void
conn_maybe_ack(struct conn *c, int64_t now)
{
	struct proto_builder *b;

	if (c->read_only || c->wdead || !c->up || c->seq_rcvd == c->acked)
		return;
	if (c->unacked_bytes < ACK_BYTES && now < c->unacked_since + ACK_DELAY)
		return;
	b = conn_begin(c, 0, 0, PROTO_CMD_ACK);
	proto_build_u64(b, PROTO_ITEM_RECEIVED, c->seq_rcvd);
	conn_end(c);
	c->acked = c->seq_rcvd;
	c->unacked_bytes = 0;
}

typedef int cond_fn(const struct conn *);

/*
 * Read (and unless read_only write what is queued, ACK and answer
 * PINGs) until done(c) holds, the connection ends, `until` or -t.
 * 1 when done(c) holds.
 */
static int
conn_run(struct conn *c, int64_t until, cond_fn *done)
{
	struct run *r = c->r;
	struct pollfd pfd;
	int64_t now, wake;

	for (;;) {
		if (done != NULL && done(c))
			return 1;
		if (c->eof || c->broken)
			return 0;
		now = now_ns();
		if (now >= until || out_of_time(r, now))
			return 0;
		if (!c->read_only && !c->wdead) {
			conn_maybe_ack(c, now);
			if (conn_pending(c) && conn_flush(c) < 0)
				continue;
		}
		wake = min64(min64(until, r->deadline), now + PROGRESS_NS);
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		if (!c->read_only && !c->wdead && conn_pending(c))
			pfd.events |= POLLOUT;
		if (!c->read_only && !c->wdead && c->up &&
		    c->seq_rcvd != c->acked)
			wake = min64(wake, c->unacked_since + ACK_DELAY);
		if (poll(&pfd, 1, poll_ms(wake, now)) == -1 && errno != EINTR)
			err(2, "poll");
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
			conn_read(c);
		progress(r);
	}
}

static int
cond_hello(const struct conn *c)
{
	return c->hello_done;
}

static int
cond_auth(const struct conn *c)
{
	return c->auth_status >= 0;
}

static int
cond_flushed(const struct conn *c)
{
	return !conn_pending(c);
}

static int
cond_open(const struct conn *c)
{
	return c->open_status >= 0;
}

/* An answer to a bad handshake: accepted, refused or GOODBYE. */
static int
cond_settled(const struct conn *c)
{
	return c->up || c->refused_seen || c->goodbye_seen ||
	    c->auth_status > 0;
}

/* --- what we send -------------------------------------------------------- */

static uint64_t
our_features(const struct opts *o)
{
	return (o->crc ? PROTO_FEATURE_CRC : 0) |
	    (o->keylen > 0 ? PROTO_FEATURE_AUTH : 0);
}

/*
 * HELLO: sid NULL asks for a new session. The NONCE goes with AUTH
 * offered: ni when given (a replay), else fresh.
 */
static void
hello_send(struct conn *c, const uint8_t *sid, uint64_t received,
    uint64_t features, const uint8_t *ni)
{
	static const uint8_t zero[16];
	const struct opts *o = c->r->o;
	struct proto_builder *b = conn_begin(c, 0, 0, PROTO_CMD_HELLO);

	c->offered = features;
	c->resuming = sid != NULL;
	if (sid != NULL)
		memcpy(c->want_sid, sid, 16);
	if (ni != NULL)
		memcpy(c->ni, ni, 32);
	else
		fill_random(c->ni, 32);
	proto_build_u16(b, PROTO_ITEM_VERSION, 1);
	proto_build_string(b, PROTO_ITEM_NODE, o->node, o->nodelen);
	proto_build_bytes(b, PROTO_ITEM_SESSION, sid ? sid : zero, 16);
	proto_build_u64(b, PROTO_ITEM_RECEIVED, received);
	proto_build_u64(b, PROTO_ITEM_FEATURES, features);
	proto_build_u32(b, PROTO_ITEM_WINDOW, OUR_WINDOW);
	proto_build_nest_begin(b, PROTO_ITEM_LIMITS, 0);
	proto_build_u32(b, PROTO_ITEM_MAX_INFLIGHT, OUR_INFLIGHT);
	proto_build_u32(b, PROTO_ITEM_MAX_LINKS, OUR_LINKS);
	proto_build_nest_end(b);
	if (features & PROTO_FEATURE_AUTH)
		proto_build_bytes(b, PROTO_ITEM_NONCE, c->ni, 32);
	conn_end(c);
	c->hello_sent = 1;
}

/* AUTH {AUTH proof}; its bytes are kept for a replay. */
static void
auth_send(struct conn *c, const uint8_t *p)
{
	struct proto_builder *b = conn_begin(c, 0, 0, PROTO_CMD_AUTH);
	size_t start = b->msg_start;

	proto_build_bytes(b, PROTO_ITEM_AUTH, p, 32);
	conn_end(c);
	c->auth_msglen = proto_builder_len(b) - start;
	if (c->auth_msglen > sizeof(c->auth_msg))
		errx(2, "AUTH message of %zu bytes", c->auth_msglen);
	memcpy(c->auth_msg, b->buf + start, c->auth_msglen);
	c->auth_sent = 1;
}

/* Bytes as they are, outside any message of ours. */
static void
raw_send(struct conn *c, const void *p, size_t n)
{
	if (proto_build_verbatim(&c->out, p, n) < 0)
		errx(2, "cannot queue %zu bytes", n);
}

/*
 * HELLO, its reply, and AUTH with its reply when both sides have a key:
 * 0 when the session is up; -1 when it was refused or ended, or the
 * time ran out.
 */
static int
handshake(struct conn *c, const uint8_t *sid, uint64_t received)
{
	const struct opts *o = c->r->o;
	uint8_t mine[32];

	hello_send(c, sid, received, our_features(o), NULL);
	if (!conn_run(c, FOREVER, cond_hello) || c->hello_status != 0 ||
	    c->broken)
		return -1;
	if (c->up)
		return 0;
	proof(o, "msgkit initiator", c->ni, c->na, c->sid, mine);
	auth_send(c, mine);
	if (!conn_run(c, FOREVER, cond_auth) || !c->up)
		return -1;
	return 0;
}

/* Queue LINK_OPEN {NEWLINK id, SERVICE svc}. */
static void
link_open_send(struct conn *c, uint64_t id, const char *svc)
{
	struct proto_builder *b;

	c->open_msgid = conn_msgid(c);
	b = conn_begin(c, 0, c->open_msgid, PROTO_CMD_LINK_OPEN);
	proto_build_linkids(b, PROTO_ITEM_NEWLINK, &id, 1);
	proto_build_string(b, PROTO_ITEM_SERVICE, svc, strlen(svc));
	conn_end(c);
}

/* LINK_OPEN and its reply: the reply's STATUS, -1 when none came. */
static int
link_open(struct conn *c, uint64_t id, const char *svc)
{
	link_open_send(c, id, svc);
	(void)conn_run(c, FOREVER, cond_open);
	extra(c->r, "link_status=%d", c->open_status);
	return c->open_status;
}

/* Append one command of the flood to b. */
static void
build_command(struct conn *c, struct proto_builder *b, const struct flood *f,
    const uint8_t *data)
{
	static const uint8_t one = 'x';

	(void)proto_build_begin(b, f->linkid, conn_msgid(c), f->cmd);
	if (f->timestamp != 0)
		proto_build_u64(b, PROTO_ITEM_TIMESTAMP, f->timestamp);
	if (f->datalen > 0)
		proto_build_bytes(b, PROTO_ITEM_DATA, data, f->datalen);
	if (f->malformed) {
		/*
		 * DATA of 1 byte, then an item after it: the 3 bytes
		 * between are pad, and the last of them is not zero. It
		 * frames (the message's own length and pad are right) but
		 * breaks an item rule: EBADMSG, not the end of the
		 * session. With CRC the sum covers the bad byte, so it is
		 * the item rule that fails, not the CRC.
		 */
		proto_build_bytes(b, PROTO_ITEM_DATA, &one, 1);
		proto_build_u64(b, PROTO_ITEM_TIMESTAMP, 0);
		b->buf[b->msg_start + PROTO_HDR_LEN + 7] = 0xff;
	}
	end_msg(c, b);
}

/* Room for one more command under f->inflight? */
static int
flood_room(const struct conn *c, const struct flood *f, uint64_t queued)
{
	return f->inflight == 0 || queued - c->cmd_replies < f->inflight;
}

/*
 * Write f->count commands (or until f->maxbytes), in batches built
 * while the socket takes them, so that memory stays bounded. Without
 * f->reading nothing is read. Control messages queued meanwhile (ACKs,
 * PING replies) go out between batches, at a message boundary. The run
 * has stalled when for STALL_NS nothing could be written (nor read,
 * while we wait for answers to free f->inflight).
 */
static enum flood_end
flood(struct conn *c, const struct flood *f, uint64_t *nsent)
{
	struct run *r = c->r;
	struct proto_builder fb;
	struct pollfd pfd;
	uint8_t *data;
	uint64_t queued = 0, written = 0, done = 0, inbatch = 0;
	size_t off = 0, len = 0, msgsize = 0;
	size_t cap = f->reading ? BATCH_READING : BATCH;
	enum flood_end end;
	int64_t now, wake, last;
	ssize_t n;
	int k;

	data = malloc(f->datalen > 0 ? f->datalen : 1);
	if (data == NULL)
		err(2, "out of memory");
	memset(data, 'h', f->datalen);
	proto_builder_init(&fb);
	for (;;) {
		if (off == len) {
			/* A boundary: our control messages may go now. */
			done += inbatch;
			inbatch = 0;
			proto_builder_reset(&fb);
			off = len = 0;
			k = conn_pending(c) ? conn_flush(c) : 0;
			if (k < 0) {
				end = FLOOD_CLOSED;
				break;
			}
			if (k == 0 && (queued == f->count ||
			    (f->maxbytes > 0 && written >= f->maxbytes))) {
				end = FLOOD_DONE;
				break;
			}
			while (k == 0 && len < cap && queued < f->count &&
			    (f->maxbytes == 0 || written + len < f->maxbytes) &&
			    flood_room(c, f, queued)) {
				build_command(c, &fb, f, data);
				len = proto_builder_len(&fb);
				queued++;
				inbatch++;
			}
			if (inbatch > 0)
				msgsize = len / inbatch;
		}
		n = 0;
		if (off < len) {
			n = send(c->fd, proto_builder_data(&fb) + off,
			    len - off, MSG_NOSIGNAL);
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1 && errno != EAGAIN &&
			    errno != EWOULDBLOCK) {
				conn_gone(c, 0);
				end = FLOOD_CLOSED;
				break;
			}
			if (n > 0) {
				off += (size_t)n;
				written += (uint64_t)n;
				r->bytes += (uint64_t)n;
				c->last_write = now_ns();
			}
		}
		if (f->reading) {
			conn_read(c);
			conn_maybe_ack(c, now_ns());
		}
		if (c->eof || c->wdead || c->broken) {
			end = FLOOD_CLOSED;
			break;
		}
		now = now_ns();
		progress(r);
		if (out_of_time(r, now)) {
			end = FLOOD_TIME;
			break;
		}
		/*
		 * Wait only when nothing can be done now: the socket took
		 * nothing, or at a boundary our control messages are stuck
		 * or f->inflight is full.
		 */
		if (off < len ? n > 0 : !conn_pending(c) &&
		    flood_room(c, f, queued))
			continue;
		last = c->last_write > c->last_read ? c->last_write :
		    c->last_read;
		if (now - last >= STALL_NS) {
			end = FLOOD_STALLED;
			break;
		}
		pfd.fd = c->fd;
		pfd.events = f->reading ? POLLIN : 0;
		if (off < len || conn_pending(c))
			pfd.events |= POLLOUT;
		wake = min64(min64(r->deadline, last + STALL_NS),
		    now + PROGRESS_NS);
		if (f->reading && c->up && c->seq_rcvd != c->acked)
			wake = min64(wake, c->unacked_since + ACK_DELAY);
		if (poll(&pfd, 1, poll_ms(wake, now)) == -1 && errno != EINTR)
			err(2, "poll");
	}
	/* A batch cut short: only its whole messages went out. */
	if (msgsize > 0)
		done += off / msgsize;
	r->sent += done;
	*nsent = done;
	proto_builder_free(&fb);
	free(data);
	return end;
}

/* Every command of the flood has its final reply: nothing more is due. */
static int
cond_answered(const struct conn *c)
{
	return c->cmd_replies >= c->expect;
}

/* Read whatever the server sent, writing nothing, for at most ns. */
static void
drain(struct conn *c, int64_t ns, cond_fn *done)
{
	c->read_only = 1;
	(void)conn_run(c, now_ns() + ns, done);
}

/*
 * Our end of an orderly close: what is queued goes out, then we stop
 * writing and read until the server closes (at most CLOSE_NS), so that
 * a TCP reset cannot discard our last message.
 */
static void
close_gently(struct conn *c)
{
	(void)conn_run(c, FOREVER, cond_flushed);
	if (!c->eof)
		(void)shutdown(c->fd, SHUT_WR);
	drain(c, CLOSE_NS, NULL);
}

static void
goodbye_send(struct conn *c, uint32_t status, const char *text, size_t len)
{
	struct proto_builder *b = conn_begin(c, 0, 0, PROTO_CMD_GOODBYE);

	proto_build_u32(b, PROTO_ITEM_STATUS, status);
	if (text != NULL)
		proto_build_string(b, PROTO_ITEM_ERRTEXT, text, len);
	conn_end(c);
}

/*
 * conn_open, or -1 with errno: a set-up error when nothing could
 * connect yet, else a key of the report (the server may have died).
 */
static int
must_connect(struct run *r, struct conn *c)
{
	int e;

	if (conn_open(r, c) == 0)
		return 0;
	e = errno;
	if (r->connected == 0)
		setup_error(r, "connect %s: %s", r->o->addr.text,
		    strerror(e));
	else
		extra(r, "connect_error=%s", errno_word(e));
	errno = e;
	return -1;
}

/* A connection and a session up on it, or -1 and nothing open. */
static int
open_session(struct run *r, struct conn *c)
{
	if (must_connect(r, c) < 0)
		return -1;
	if (handshake(c, NULL, 0) == 0)
		return 0;
	conn_close(c);
	return -1;
}

/* --- modes --------------------------------------------------------------- */

/*
 * unbound, echo, delay, malformed: commands as fast as the server takes
 * them. unbound and echo never read until the end; delay and malformed
 * read all along.
 */
static void
mode_flood(struct run *r)
{
	const struct opts *o = r->o;
	struct flood f = { 0 };
	struct conn c;
	uint64_t n = 0;
	enum flood_end end;

	if (open_session(r, &c) < 0)
		return;
	f.cmd = CMD_PRIVATE;
	f.count = o->count;
	switch (o->mode) {
	case M_UNBOUND:
		f.linkid = LINK_UNBOUND;
		break;
	case M_ECHO:
	case M_DELAY:
		if (link_open(&c, LINK_SERVICE, o->mode == M_ECHO ? "echo" :
		    "delay") < 0)
			goto out;
		f.linkid = LINK_SERVICE;
		f.datalen = o->size;
		f.reading = o->mode == M_DELAY;
		f.timestamp = o->mode == M_DELAY ? DELAY_NS : 0;
		break;
	default:
		f.linkid = 0;
		f.malformed = 1;
		f.reading = 1;
		/*
		 * A reader that keeps up: the answers must not pile up on
		 * the server because of our own backlog in the socket
		 * buffers.
		 */
		f.inflight = READER_INFLIGHT;
		break;
	}
	end = flood(&c, &f, &n);
	extra(r, "commands=%" PRIu64 " end=%s", n, flood_end_name[end]);
	c.expect = n;
	switch (o->mode) {
	case M_DELAY:
		/* Held open, so the server keeps what it accepted, until -t. */
		(void)conn_run(&c, FOREVER, NULL);
		extra(r, "held=%" PRIu64, n > c.cmd_replies ? n -
		    c.cmd_replies : 0);
		break;
	case M_MALFORMED:
		/* The answers still on their way, read and acknowledged. */
		(void)conn_run(&c, now_ns() + DRAIN_NS, cond_answered);
		extra(r, "ebadmsg=%" PRIu64, r->status_n[EBADMSG]);
		break;
	default:
		drain(&c, DRAIN_NS, cond_answered);
		break;
	}
out:
	conn_close(&c);
}

/* detach: sessions left with unread replies and no GOODBYE. */
static void
mode_detach(struct run *r)
{
	const struct opts *o = r->o;
	struct flood f = { 0 };
	struct conn c;
	uint64_t i, made = 0, n;
	char *ids, *p;

	ids = calloc(o->n, 33);
	if (ids == NULL)
		err(2, "out of memory");
	p = ids;
	for (i = 0; i < o->n && !out_of_time(r, now_ns()); i++) {
		if (must_connect(r, &c) < 0)
			break;
		if (handshake(&c, NULL, 0) < 0) {
			conn_close(&c);
			continue;
		}
		if (p != ids)
			*p++ = ',';
		put_hex(p, c.sid, 16);
		p += 32;
		made++;
		/* No waiting for the LINK_OPEN reply: nothing is read. */
		link_open_send(&c, LINK_SERVICE, "echo");
		f.linkid = LINK_SERVICE;
		f.cmd = CMD_PRIVATE;
		f.datalen = o->size;
		f.count = UINT64_MAX;
		f.maxbytes = o->detach_bytes;
		(void)flood(&c, &f, &n);
		pause_until(r, now_ns() + REST_NS);
		conn_close(&c);
	}
	extra(r, "sessions=%" PRIu64 " ids=%s", made, made ? ids : "-");
	free(ids);
}

/* cycle: sessions made and dropped as fast as the server takes them. */
static void
mode_cycle(struct run *r)
{
	const struct opts *o = r->o;
	uint64_t refusals[STATUS_TABLE] = { 0 };
	uint64_t i, cycles = 0, dropped = 0, other = 0;
	struct conn c;
	char num[16];
	int st;

	for (i = 0; i < o->count && !out_of_time(r, now_ns()); i++) {
		if (must_connect(r, &c) < 0)
			break;
		(void)handshake(&c, NULL, 0);
		if (c.hello_done) {
			cycles++;
			st = c.hello_status;
			if (st > 0 && st < STATUS_TABLE)
				refusals[st]++;
			else if (st != 0)
				other++;
		} else if (c.gone) {
			dropped++;
		}
		conn_close(&c);
	}
	extra(r, "cycles=%" PRIu64 " dropped=%" PRIu64, cycles, dropped);
	for (st = 1; st < STATUS_TABLE; st++)
		if (refusals[st] > 0)
			extra(r, "refused_%s=%" PRIu64,
			    status_name((uint32_t)st, num, sizeof(num)),
			    refusals[st]);
	if (other > 0)
		extra(r, "refused_n=%" PRIu64, other);
}

/* idle: connections that never speak, held until -t. */
static void
mode_idle(struct run *r)
{
	const struct opts *o = r->o;
	struct conn *cs;
	struct pollfd *pfds;
	struct rlimit rl;
	uint64_t i, opened = 0, emfile = 0, open_now, failed = 0;
	size_t k, np;
	int64_t now;

	/* Our own limit must not be what stops the connections. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	cs = calloc(o->n, sizeof(*cs));
	pfds = calloc(o->n, sizeof(*pfds));
	if (cs == NULL || pfds == NULL)
		err(2, "out of memory");
	for (i = 0; i < o->n && !out_of_time(r, now_ns()); i++) {
		if (must_connect(r, &cs[i]) == 0) {
			opened++;
			progress(r);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE)
			emfile++;
		else
			failed++;
		break;
	}
	while (!r->setup_error && !out_of_time(r, now = now_ns())) {
		np = 0;
		for (k = 0; k < opened; k++) {
			if (cs[k].eof || cs[k].broken)
				continue;
			pfds[np].fd = cs[k].fd;
			pfds[np].events = POLLIN;
			pfds[np].revents = 0;
			np++;
		}
		if (np == 0) {
			pause_until(r, r->deadline);
			break;
		}
		if (poll(pfds, np, poll_ms(min64(r->deadline, now +
		    PROGRESS_NS), now)) == -1 && errno != EINTR)
			err(2, "poll");
		/* The same order as above: the slots match. */
		for (k = 0, np = 0; k < opened; k++) {
			if (cs[k].eof || cs[k].broken)
				continue;
			if (pfds[np++].revents & (POLLIN | POLLHUP | POLLERR))
				conn_read(&cs[k]);
		}
		progress(r);
	}
	open_now = 0;
	for (k = 0; k < opened; k++) {
		if (!cs[k].gone)
			open_now++;
		conn_close(&cs[k]);
	}
	extra(r, "open=%" PRIu64 " ours_emfile=%" PRIu64 " connect_failed=%"
	    PRIu64, open_now, emfile, failed);
	free(cs);
	free(pfds);
}

/* goodbye, node: a session ended by our GOODBYE. */
static void
mode_goodbye(struct run *r)
{
	const struct opts *o = r->o;
	struct conn c;

	if (open_session(r, &c) < 0)
		return;
	if (o->mode == M_NODE) {
		/* Time for the server to log the session, NODE and all. */
		(void)conn_run(&c, now_ns() + HOLD_NS, NULL);
		goodbye_send(&c, 0, NULL, 0);
	} else {
		goodbye_send(&c, GOODBYE_STATUS, o->errtext, o->errtextlen);
	}
	close_gently(&c);
	conn_close(&c);
}

/* ctrl: one control message that breaks a rule of the session. */
static void
mode_ctrl(struct run *r)
{
	const char *v = r->o->variant;
	struct proto_builder *b;
	struct timespec ts;
	struct conn c;

	if (open_session(r, &c) < 0)
		return;
	if (strcmp(v, "ack-link") == 0) {
		b = conn_begin(&c, ACK_LINK, 0, PROTO_CMD_ACK);
		proto_build_u64(b, PROTO_ITEM_RECEIVED, 0);
	} else if (strcmp(v, "ping-link") == 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
		b = conn_begin(&c, PING_LINK, 1, PROTO_CMD_PING);
		proto_build_u64(b, PROTO_ITEM_TIMESTAMP, (uint64_t)ts.tv_sec *
		    SEC + (uint64_t)ts.tv_nsec);
	} else if (strcmp(v, "ack-empty") == 0) {
		(void)conn_begin(&c, 0, 0, PROTO_CMD_ACK);
	} else {
		b = conn_begin(&c, 0, 0, PROTO_CMD_ACK);
		proto_build_u64(b, PROTO_ITEM_RECEIVED, HIGH_RECEIVED);
	}
	conn_end(&c);
	c.watch = 1;
	(void)conn_run(&c, now_ns() + LISTEN_NS, NULL);
	if (c.watch_status >= 0)
		extra(r, "reply_cmd=0x%04x reply_status=%d", c.watch_cmd,
		    c.watch_status);
	else
		extra(r, "reply_cmd=-1 reply_status=-1");
	conn_close(&c);
}

/*
 * The HELLO reply granted AUTH and proved the key, or it is a set-up
 * error: a test of a bad proof means nothing against a server that
 * asks for none.
 */
static int
auth_granted(struct run *r, struct conn *c)
{
	if (!conn_run(c, FOREVER, cond_hello) || c->hello_status != 0 ||
	    c->broken)
		return 0;
	if (c->features & PROTO_FEATURE_AUTH)
		return 1;
	setup_error(r, "the server did not grant AUTH: has it a key?");
	return 0;
}

/*
 * After a bad proof (or no AUTH at all): a refusal or GOODBYE EACCES is
 * right, a session that comes up is not.
 */
static void
auth_verdict(struct conn *c, const char *what)
{
	(void)conn_run(c, now_ns() + SETTLE_NS, cond_settled);
	extra(c->r, "accepted=%d", c->up);
	if (c->up)
		violation(c, "it accepted %s", what);
	drain(c, CLOSE_NS, NULL);
}

/*
 * replay: a correct handshake, closed without GOODBYE so the session
 * waits for a resume; then a resume with the same nonce of ours and
 * that AUTH message again, byte for byte. Only the server's fresh nonce
 * makes it wrong.
 */
static void
auth_replay(struct run *r, struct conn *c)
{
	const struct opts *o = r->o;
	uint8_t sid[16], ni[32], na[32], msg[sizeof(c->auth_msg)];
	uint64_t received;
	size_t len;

	if (open_session(r, c) < 0)
		return;
	memcpy(sid, c->sid, 16);
	memcpy(ni, c->ni, 32);
	memcpy(na, c->na, 32);
	len = c->auth_msglen;
	memcpy(msg, c->auth_msg, len);
	received = c->seq_rcvd;
	conn_close(c);
	if (must_connect(r, c) < 0)
		return;
	hello_send(c, sid, received, our_features(o), ni);
	if (auth_granted(r, c)) {
		if (memcmp(c->na, na, 32) == 0)
			violation(c, "the same NONCE on two handshakes");
		raw_send(c, msg, len);
		c->outmsgs++;
		c->auth_sent = 1;
		auth_verdict(c, "a replayed AUTH");
	}
	conn_close(c);
}

/* auth: the AUTH feature broken in the way -x says. */
static void
mode_auth(struct run *r)
{
	const struct opts *o = r->o;
	const char *v = o->variant;
	uint8_t bad[32];
	struct conn c;

	if (strcmp(v, "replay") == 0) {
		auth_replay(r, &c);
		return;
	}
	if (must_connect(r, &c) < 0)
		return;
	hello_send(&c, NULL, 0, our_features(o), NULL);
	if (!auth_granted(r, &c))
		goto out;
	if (strcmp(v, "none") == 0) {
		/* The server has the key: now a HELLO without AUTH. */
		conn_close(&c);
		if (must_connect(r, &c) < 0)
			return;
		hello_send(&c, NULL, 0, our_features(o) & ~PROTO_FEATURE_AUTH,
		    NULL);
		auth_verdict(&c, "a HELLO without AUTH, although it has a key");
	} else if (strcmp(v, "wrong") == 0) {
		fill_random(bad, sizeof(bad));
		auth_send(&c, bad);
		auth_verdict(&c, "a random proof");
	} else {
		auth_send(&c, c.proof_a);
		auth_verdict(&c, "its own proof sent back");
	}
out:
	conn_close(&c);
}

static int
cond_resume_cmds(const struct conn *c)
{
	return c->seq_rcvd >= RESUME_CMDS + 1;
}

/* resume-bad: a resume that claims more than the server ever sent. */
static void
mode_resume_bad(struct run *r)
{
	const struct opts *o = r->o;
	int unauth = o->variant != NULL;
	struct flood f = { 0 };
	char hex[33];
	uint8_t sid[16];
	uint64_t got, n;
	struct conn c;

	if (open_session(r, &c) < 0)
		return;
	link_open_send(&c, LINK_SERVICE, "echo");
	f.linkid = LINK_SERVICE;
	f.cmd = CMD_PRIVATE;
	f.datalen = o->size;
	f.count = RESUME_CMDS;
	f.reading = 1;
	(void)flood(&c, &f, &n);
	(void)conn_run(&c, now_ns() + SETTLE_NS, cond_resume_cmds);
	got = c.seq_rcvd;
	memcpy(sid, c.sid, 16);
	put_hex(hex, sid, 16);
	extra(r, "session=%s server_sent=%" PRIu64, hex, got);
	conn_close(&c);

	if (must_connect(r, &c) < 0)
		return;
	hello_send(&c, sid, RESUME_CLAIM, our_features(o), NULL);
	(void)conn_run(&c, now_ns() + SETTLE_NS, cond_settled);
	if (c.hello_done && c.hello_status == 0 && !unauth) {
		violation(&c, "a resume claiming RECEIVED %u of %" PRIu64
		    " was answered STATUS 0", RESUME_CLAIM, got);
	} else if (c.hello_done && c.hello_status == 0) {
		/* AUTH is never sent: what does it say to a stranger? */
		(void)conn_run(&c, now_ns() + SETTLE_NS, NULL);
	}
	extra(r, "hello_status=%d", c.hello_status);
	drain(&c, CLOSE_NS, NULL);
	conn_close(&c);
}

/* garbage: random bytes where a HELLO was due. */
static void
mode_garbage(struct run *r)
{
	uint8_t block[GARBAGE_BLOCK];
	struct conn c;
	uint64_t i;
	uint16_t cmd;

	if (must_connect(r, &c) < 0)
		return;
	for (i = 0; i < r->o->count && !c.gone; i++) {
		fill_random(block, sizeof(block));
		if (i == 0) {
			/*
			 * A first "message" that ends inside the block and
			 * is no control message, so that the server must
			 * judge it now (a framing error, or a sequenced
			 * message before the handshake: GOODBYE EPROTO
			 * either way) instead of waiting for a length of up
			 * to 64 KiB that will never come.
			 */
			proto_put16(block + 14, (uint16_t)(PROTO_HDR_LEN +
			    proto_get16(block + 14) % (GARBAGE_BLOCK -
			    PROTO_HDR_LEN + 1)));
			cmd = proto_get16(block + 12);
			if ((cmd & PROTO_COMMAND_MASK) <= PROTO_CONTROL_LAST)
				proto_put16(block + 12, cmd | 0x0100);
		}
		raw_send(&c, block, sizeof(block));
		if (!conn_run(&c, FOREVER, cond_flushed))
			break;
	}
	(void)conn_run(&c, now_ns() + LISTEN_NS, NULL);
	conn_close(&c);
}

/* --- the command line ---------------------------------------------------- */

static void
usage(FILE *f)
{
	fprintf(f,
"usage: hostile [-Cq] [-b bytes] [-c count] [-E text] [-k keyfile]\n"
"               [-N node] [-n conns] [-s bytes] [-t seconds] [-x variant]\n"
"               MODE ADDR\n"
"MODE: unbound echo delay detach cycle idle malformed goodbye node\n"
"      ctrl (-x ack-link|ping-link|ack-empty|ack-high)\n"
"      auth (-k, -x wrong|replay|reflect|none) resume-bad (-x unauth)\n"
"      garbage\n"
"ADDR: unix:/path or tcp:HOST:PORT\n");
}

static uint64_t
number(int opt, const char *s, long long min, long long max)
{
	const char *why;
	long long v;

	if (cli_number(s, min, max, &v, &why) == -1)
		errx(2, "-%c %s: %s (want %lld..%lld)", opt, s, why, min, max);
	return (uint64_t)v;
}

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* -N, -E: C escapes read; bytes are not checked (that is the point). */
static size_t
unescape(int opt, const char *s, char *out, size_t cap)
{
	size_t n = 0;
	int hi, lo;
	char ch;

	for (; *s != '\0'; s++) {
		if (n == cap)
			errx(2, "-%c: longer than %zu bytes", opt, cap);
		if (*s != '\\') {
			out[n++] = *s;
			continue;
		}
		if (s[1] == '\0')
			errx(2, "-%c: a lone \\ at the end", opt);
		switch (*++s) {
		case 'n':
			ch = '\n';
			break;
		case 'r':
			ch = '\r';
			break;
		case 't':
			ch = '\t';
			break;
		case 'e':
			ch = '\033';
			break;
		case '\\':
			ch = '\\';
			break;
		case 'x':
			if ((hi = hexval(s[1])) < 0 || (lo = hexval(s[2])) < 0)
				errx(2, "-%c: \\x wants two hex digits", opt);
			ch = (char)(hi << 4 | lo);
			s += 2;
			break;
		default:
			errx(2, "-%c: unknown escape \\%c (want \\n \\r \\t "
			    "\\e \\\\ \\xNN)", opt, *s);
		}
		out[n++] = ch;
	}
	return n;
}

/* As msgpeer --key reads it: a trailing newline is the editor's. */
static void
read_key(struct opts *o, const char *path)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		err(2, "-k %s", path);
	n = fread(o->key, 1, sizeof(o->key), f);
	if (ferror(f))
		err(2, "-k %s", path);
	fclose(f);
	if (n == sizeof(o->key))
		errx(2, "-k %s: longer than %zu bytes", path,
		    sizeof(o->key) - 1);
	while (n > 0 && (o->key[n - 1] == '\n' || o->key[n - 1] == '\r'))
		n--;
	if (n == 0)
		errx(2, "-k %s: empty", path);
	o->keylen = n;
}

static int64_t
seconds(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) ||
	    v <= 0 || v > MAX_BOUND)
		errx(2, "-t %s: want seconds, more than 0 and at most %.0f",
		    s, MAX_BOUND);
	return (int64_t)(v * SEC);
}

static void
resolve(struct opts *o, const char *s)
{
	char why[600];
	struct addrinfo hints, *res;
	struct sockaddr_un *sun = (struct sockaddr_un *)&o->ss;
	int k;

	if (proto_addr_parse(s, &o->addr, why, sizeof(why)) == -1)
		errx(2, "ADDR %s", why);
	switch (o->addr.type) {
	case PROTO_ADDR_UNIX:
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, o->addr.path, sizeof(o->addr.path));
		o->sslen = sizeof(*sun);
		return;
	case PROTO_ADDR_TCP:
		if (o->addr.host[0] == '\0')
			errx(2, "ADDR %s: want tcp:HOST:PORT", s);
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICSERV;
		k = getaddrinfo(o->addr.host, o->addr.port, &hints, &res);
		if (k != 0)
			errx(2, "ADDR %s: %s", s, gai_strerror(k));
		memcpy(&o->ss, res->ai_addr, res->ai_addrlen);
		o->sslen = res->ai_addrlen;
		freeaddrinfo(res);
		return;
	default:
		errx(2, "ADDR %s: want unix:/path or tcp:HOST:PORT", s);
	}
}

static void
check_variant(struct opts *o)
{
	const struct modeinfo *mi = &modes[o->mode];
	size_t i;

	if (o->variant == NULL) {
		if (mi->variant_required)
			errx(2, "%s: needs -x", mi->name);
		return;
	}
	if (mi->variants == NULL)
		errx(2, "-x %s: mode %s has no variants", o->variant, mi->name);
	for (i = 0; mi->variants[i] != NULL; i++)
		if (strcmp(o->variant, mi->variants[i]) == 0)
			return;
	errx(2, "-x %s: not a variant of %s", o->variant, mi->name);
}

static void
report(const struct run *r)
{
	char num[16];
	int i;

	printf("mode=%s sent=%" PRIu64 " bytes=%" PRIu64 " replies=%" PRIu64
	    " closed=%" PRIu64 " goodbye=%d text=", modes[r->o->mode].name,
	    r->sent, r->bytes, r->replies, r->closed, r->goodbye);
	put_escaped(stdout, r->text, r->textlen);
	printf(" refused=%d eagain=%" PRIu64 " connected=%" PRIu64
	    " elapsed=%.3f timeout=%d violations=%" PRIu64 " cut=%" PRIu64,
	    r->refused, r->eagain, r->connected, (double)(now_ns() -
	    r->start) / SEC, r->timed_out, r->violations, r->cut);
	for (i = 0; i < STATUS_TABLE; i++) {
		if (r->status_n[i] == 0)
			continue;
		printf(" status_%s=%" PRIu64, status_name((uint32_t)i, num,
		    sizeof(num)), r->status_n[i]);
	}
	if (r->status_other > 0)
		printf(" status_other=%" PRIu64, r->status_other);
	if (r->extralen > 0)
		fwrite(r->extra, 1, r->extralen, stdout);
	putchar('\n');
	if (fflush(stdout) == EOF)
		err(2, "stdout");
}

int
main(int argc, char **argv)
{
	static struct opts o;
	struct run r;
	const char *keyfile = NULL;
	int ch, n_set = 0, c_set = 0, s_set = 0, b_set = 0;
	size_t i;

	o.n = 1;
	o.detach_bytes = 1u << 20;
	o.bound = 20 * SEC;
	o.nodelen = unescape('N', "hostile", o.node, sizeof(o.node));
	while ((ch = getopt(argc, argv, "b:Cc:E:hk:N:n:qs:t:x:")) != -1) {
		switch (ch) {
		case 'b':
			o.detach_bytes = number(ch, optarg, 1, 1LL << 40);
			b_set = 1;
			break;
		case 'C':
			o.crc = 1;
			break;
		case 'c':
			o.count = number(ch, optarg, 0, MAX_COUNT);
			c_set = 1;
			break;
		case 'E':
			o.errtextlen = unescape(ch, optarg, o.errtext,
			    sizeof(o.errtext));
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'k':
			keyfile = optarg;
			break;
		case 'N':
			o.nodelen = unescape(ch, optarg, o.node,
			    sizeof(o.node));
			break;
		case 'n':
			o.n = number(ch, optarg, 1, MAX_CONNS);
			n_set = 1;
			break;
		case 'q':
			o.quiet = 1;
			break;
		case 's':
			o.size = number(ch, optarg, 0, SIZE_MAX_DATA);
			s_set = 1;
			break;
		case 't':
			o.bound = seconds(optarg);
			break;
		case 'x':
			o.variant = optarg;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		errx(2, "want MODE and ADDR, got %d argument%s", argc - optind,
		    argc - optind == 1 ? "" : "s");
	}
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(argv[optind], modes[i].name) == 0)
			break;
	if (i == sizeof(modes) / sizeof(modes[0]))
		errx(2, "MODE %s: unknown (see -h)", argv[optind]);
	o.mode = (enum mode)i;
	check_variant(&o);
	if (!c_set)
		o.count = modes[o.mode].count;
	if (!n_set && o.mode == M_IDLE)
		o.n = 1000;
	if (!s_set && o.mode == M_DETACH)
		o.size = 60000;
	if (b_set && o.mode != M_DETACH)
		errx(2, "-b: only for detach");
	if (keyfile != NULL)
		read_key(&o, keyfile);
	if (o.mode == M_AUTH && o.keylen == 0)
		errx(2, "auth: needs -k FILE");
	if (o.mode == M_RESUME_BAD && o.variant != NULL && o.keylen == 0)
		errx(2, "-x unauth: needs -k FILE");
	resolve(&o, argv[optind + 1]);
	signal(SIGPIPE, SIG_IGN);

	memset(&r, 0, sizeof(r));
	r.o = &o;
	r.start = r.last_progress = now_ns();
	r.deadline = r.start + o.bound;
	r.goodbye = r.refused = -1;
	switch (o.mode) {
	case M_UNBOUND:
	case M_ECHO:
	case M_DELAY:
	case M_MALFORMED:
		mode_flood(&r);
		break;
	case M_DETACH:
		mode_detach(&r);
		break;
	case M_CYCLE:
		mode_cycle(&r);
		break;
	case M_IDLE:
		mode_idle(&r);
		break;
	case M_GOODBYE:
	case M_NODE:
		mode_goodbye(&r);
		break;
	case M_CTRL:
		mode_ctrl(&r);
		break;
	case M_AUTH:
		mode_auth(&r);
		break;
	case M_RESUME_BAD:
		mode_resume_bad(&r);
		break;
	case M_GARBAGE:
		mode_garbage(&r);
		break;
	}
	report(&r);
	free(r.extra);
	if (r.violations > 0)
		return 1;
	return r.setup_error ? 2 : 0;
}
