/*
 * cutproxy - relay protocol connections and break them at exactly chosen
 * points, for the tests of session resume.
 *
 *	cutproxy [options] LISTEN TARGET
 *
 * LISTEN and TARGET are unix:/path or tcp:[HOST:]PORT (HOST defaults to
 * 127.0.0.1; an IPv6 HOST goes in brackets: tcp:[::1]:7000). LISTEN may
 * be tcp:0 to let the kernel pick a port. Once listening, the address is
 * printed as the first line of stdout, flushed:
 *
 *	listening on tcp:127.0.0.1:40123
 *
 * and with --addr-file the address alone ("tcp:127.0.0.1:40123") is
 * written to that file, which appears whole (written aside, then renamed).
 *
 * Every accepted connection is numbered, 1, 2, 3, ... in the order of
 * accept (a connection whose TARGET connect fails still takes its
 * number), gets its own connection to TARGET, and the two are relayed
 * both ways. Pairs are independent: a client that reconnects before the
 * proxy has seen its old connection go simply makes another pair. An end
 * of stream is passed on as a half-close (shutdown SHUT_WR) once every
 * byte before it is forwarded; a pair ends when both directions have
 * ended, on an error, or at a cut.
 *
 * Options:
 *	--cut RULE	the i-th --cut applies to the i-th connection
 *			accepted; later connections are relayed untouched
 *	--repeat	... unless this is given: then the rules cycle
 *	--rst		cut with a reset (SO_LINGER {1, 0}), not an end of
 *			stream
 *	--delay-ms D	hold each chunk read D ms before forwarding it
 *	--log FILE	the log (default stderr)
 *	--count-file FILE  totals, written at start, whenever a connection
 *			ends, and at exit
 *	--addr-file FILE  the listening address
 *	--timeout S	exit after S seconds (a test's safety net)
 *
 * Rules. DIR is c2s (client to server) or s2c; byte and message counts
 * are per connection and per direction, from the connection's start; K
 * counts from 1.
 *	never		relay the connection untouched
 *	DIR@N		forward exactly N bytes in DIR, then cut (N may fall
 *			inside a message; N = 0 cuts as soon as TARGET is
 *			connected, before any byte either way)
 *	DIR:before:CMD#K  cut just before the K-th message of command CMD
 *			in DIR: every byte before it forwarded, none of it
 *	DIR:after:CMD#K	cut just after it: its whole aligned frame (pad
 *			included) forwarded, nothing after it
 *	DIR:mid#K	the K-th message in DIR, any command: the first half
 *			of its aligned frame forwarded (frame size / 2, a
 *			multiple of 4), then cut
 *	after-ms:T	cut T ms after the connection was accepted (in any
 *			state: during connect, handshake or retransmission)
 *	rand:SEED	one of the rules above drawn from a generator seeded
 *			with SEED; each use of the same --cut (with --repeat)
 *			draws the next, so a run is reproducible for the same
 *			sequence of connections:
 *			  DIR: c2s or s2c, 1/2 each; then
 *			  35% DIR@N, N uniform in 0..4095
 *			  20% DIR:before:ACK#K, K uniform in 1..3
 *			  20% DIR:after:ACK#K, K uniform in 1..3
 *			  25% DIR:mid#K, K uniform in 1..8
 * CMD is a schema name in any case (ACK, HELLO, VFS_LOOKUP), a number
 * (0x7001, 2), or * for any command; ".reply" after it names the reply
 * (HELLO.reply: command 0x8001). A rule that never fires because the
 * stream ends first leaves the connection to end normally.
 *
 * Message rules find boundaries with a libproto framer over that
 * direction's bytes. While such a rule waits, that direction forwards
 * whole frames only (a message's bytes are held until its frame, pad
 * included, is complete), so no byte of the message to cut before can
 * slip through. A direction that does not frame (a framing error) turns
 * its message rule off: from there its bytes flow untouched, and the log
 * says where framing failed. At the end of a stream an incomplete message
 * is forwarded as it is.
 *
 * A cut forwards nothing more either way. Without --rst both sockets are
 * shut down for writing: each peer reads what was forwarded, then an end
 * of stream; what the peers send afterwards is read and thrown away until
 * they close (at most 2 s). With --rst the proxy waits until the TCP
 * peers have acknowledged every byte forwarded (at most 2 s: a peer that
 * does not read may lose them, and the log says how many), then closes
 * both with SO_LINGER {1, 0}: each peer reads what was forwarded, then
 * gets ECONNRESET. A unix socket has no reset: it is closed at once, and
 * its peer reads what was forwarded, then an end of stream (or
 * ECONNRESET when the proxy had not read everything it sent).
 *
 * Log lines (X and Y: bytes forwarded on that connection each way; at a
 * cut, exactly what each peer can read; ", reset" is added with --rst):
 *	conn N: accepted (rule RULE)		RULE as above, "none" if none;
 *						"... from rand:SEED" if drawn
 *	conn N: cut DIR at byte B (c2s X bytes, s2c Y)
 *	conn N: cut DIR before CMD #K at byte B (c2s X bytes, s2c Y)
 *	conn N: cut DIR after CMD #K at byte B (...)
 *	conn N: cut DIR before message #K (CMD) at byte B (...)	  CMD *
 *	conn N: cut DIR mid message #K (CMD, L bytes) at byte B (...)  L: frame
 *	conn N: cut after T ms (...)
 *	conn N: DIR does not frame (REASON): message rule off
 *	conn N: closed (...)			both directions ended
 *	conn N: error: REASON (...)
 *	conn N: connect TARGET: REASON (...)
 *	conn N: closed at exit (...)
 *	conn N: reset with B bytes not acknowledged	(--rst, see above)
 *	signal S: exiting / timeout: exiting
 * The count file holds "connections N", "cuts N", "failed N" (connects
 * to TARGET that failed), "c2s BYTES" and "s2c BYTES", one a line.
 *
 * Exit: 0 on SIGTERM, SIGINT or --timeout, after closing everything,
 * removing a unix LISTEN path and writing the count file; 1 on a failure
 * while running; 2 on a usage or setup error.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <linux/sockios.h>
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
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dissectors/schema.h"
#include "libproto/proto.h"

/*
 * Per direction. At least two frames, so that a direction holding back a
 * partial frame (at most PROTO_FRAME_MAX - 1 bytes) always has something
 * to forward when its buffer is full: back-pressure never deadlocks.
 */
#define BUF_SIZE	(2 * PROTO_FRAME_MAX)
#define MAX_PAIRS	64
#define MAX_CHUNKS	256	/* --delay-ms: chunks held per direction */
#define LINGER_MS	2000
#define RST_WAIT_MS	2000
#define RST_TICK_MS	1		/* first look at the send queues, */
#define RST_TICK_MAX	64		/* then less and less often */
#define CONNECT_MS	5000
#define RETRY_MS	10
#define PAUSE_MS	100		/* accept after EMFILE and the like */
#define LINGER_READS	16
#define MAX_DELAY_MS	60000
#define MAX_AFTER_MS	86400000ULL
#define MAX_TIMEOUT_S	86400ULL
#define MAX_BYTES	(1ULL << 62)
#define NO_LIMIT	UINT64_MAX
#define NO_TIME		INT64_MAX

enum { C2S, S2C };	/* a direction; also the side that reads it */
static const char *const dir_name[2] = { "c2s", "s2c" };

enum rule_kind {
	RULE_NONE,
	RULE_NEVER,
	RULE_BYTES,
	RULE_BEFORE,
	RULE_AFTER,
	RULE_MID,
	RULE_AFTER_MS,
	RULE_RAND
};

struct rule {
	enum rule_kind kind;
	int dir;
	uint64_t n;		/* BYTES: count; BEFORE, AFTER, MID: K;
				   AFTER_MS: ms; RAND: seed */
	int anycmd;		/* BEFORE, AFTER: CMD was * */
	uint16_t cmd;		/* as sent: reply bit included */
	uint64_t rng;		/* RAND: generator state */
	const char *text;	/* as given */
};

struct chunk {
	uint64_t end;		/* stream offset after the chunk */
	int64_t ready;		/* when it may be forwarded */
};

/* One direction of a pair: bytes read from fd[d], written to fd[!d]. */
struct half {
	uint8_t *buf;		/* ring, indexed by stream offset */
	uint64_t rd;		/* bytes read from the source */
	uint64_t wr;		/* bytes written to the destination */
	uint64_t ready;		/* end of the chunks whose delay is over */
	uint64_t framed;	/* end of the last whole frame, while framing */
	uint64_t limit;		/* cut when wr reaches it */
	uint64_t seen;		/* messages framed */
	uint64_t matched;	/* of those, the rule's command */
	int framing;		/* fr is live: a message rule waits */
	struct proto_framer fr;
	struct chunk *q;	/* --delay-ms */
	unsigned qhead;
	unsigned qlen;
	int eof;		/* the source ended */
	int shut;		/* the end was passed on */
	char what[160];		/* the message that set limit */
};

enum pair_state {
	P_FREE,
	P_CONNECTING,
	P_RELAY,
	P_LINGER,		/* cut: reading and dropping until EOF */
	P_RSTWAIT		/* cut: waiting for ACKs, then reset */
};

struct pair {
	enum pair_state state;
	unsigned long id;
	int fd[2];		/* client, server */
	int tcp[2];
	int hup[2];		/* hung up while we asked nothing of it */
	struct rule rule;	/* a drawn rule, not rand */
	int64_t accepted;
	int64_t deadline;	/* CONNECTING retry; LINGER, RSTWAIT end */
	int64_t cut_at;		/* after-ms */
	int64_t check_at;	/* RSTWAIT: next look at the send queues */
	int64_t tick;
	struct half h[2];
};

struct addr {
	struct sockaddr_storage ss;
	socklen_t len;
	const char *text;	/* as given */
};

struct proxy {
	struct rule *rules;
	size_t nrules;
	int repeat;
	int rst;
	int64_t delay;
	int64_t end;		/* --timeout */
	FILE *log;
	const char *count_file;
	struct addr target;
	int lfd;
	int ltcp;
	const char *unix_path;	/* to remove at exit */
	int64_t accept_pause;
	struct pair pairs[MAX_PAIRS];
	unsigned long nconn;
	unsigned long ncut;
	unsigned long nfail;
	uint64_t bytes[2];
};

static volatile sig_atomic_t stop_signal;

static void
on_signal(int sig)
{
	stop_signal = sig;
}

static void
usage(FILE *f)
{
	fputs(
"usage: cutproxy [options] LISTEN TARGET\n"
"  LISTEN, TARGET  unix:/path or tcp:[HOST:]PORT (HOST 127.0.0.1 by\n"
"                  default; [v6] in brackets); LISTEN may be tcp:0\n"
"  Prints \"listening on ADDR\" as the first line of stdout.\n"
"options:\n"
"  --cut RULE        rule for the next connection accepted (repeatable:\n"
"                    the i-th rule applies to the i-th connection)\n"
"  --repeat          cycle the rules (else later connections are untouched)\n"
"  --rst             cut with a reset (SO_LINGER {1,0}) instead of EOF\n"
"  --delay-ms D      hold each chunk D ms before forwarding it\n"
"  --log FILE        one line per connection and per cut (default stderr)\n"
"  --count-file FILE totals: connections, cuts, failed, c2s, s2c bytes\n"
"  --addr-file FILE  write the listening address to FILE\n"
"  --timeout S       exit after S seconds\n"
"  -h, --help        this text\n"
"rules (DIR: c2s or s2c; K counts from 1, per connection and direction):\n"
"  never             relay untouched\n"
"  DIR@N             forward exactly N bytes in DIR, then cut\n"
"  DIR:before:CMD#K  cut just before the K-th CMD message in DIR\n"
"  DIR:after:CMD#K   cut just after it (its whole aligned frame forwarded)\n"
"  DIR:mid#K         forward half of the K-th message's aligned frame, cut\n"
"  after-ms:T        cut T ms after the connection was accepted\n"
"  rand:SEED         draw one reproducibly: DIR 1/2 each; 35% DIR@0..4095,\n"
"                    20% before:ACK#1..3, 20% after:ACK#1..3, 25% mid#1..8\n"
"  CMD: a schema name (ACK, HELLO), a number (0x7001) or *; append .reply\n"
"  for the reply (HELLO.reply).\n"
"exit: 0 on SIGTERM, SIGINT or --timeout; 1 on a failure; 2 on bad usage\n",
	    f);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		err(1, "clock_gettime");
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Decimal, or hex after 0x; nothing else, nothing after. 0 or -1. */
static int
parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
	unsigned long long x;
	char *end;
	int base = 10;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!isxdigit((unsigned char)s[0]) || (base == 10 &&
	    !isdigit((unsigned char)s[0])))
		return -1;
	errno = 0;
	x = strtoull(s, &end, base);
	if (errno != 0 || *end != '\0' || x < min || x > max)
		return -1;
	*v = x;
	return 0;
}

/* The command as a rule writes it: ACK, HELLO.reply, 0x7001. */
static void
cmd_format(uint16_t cmd, char *buf, size_t len)
{
	const struct schema_command *c;
	const char *reply = (cmd & PROTO_REPLY_BIT) ? ".reply" : "";

	c = schema_command(cmd & PROTO_COMMAND_MASK);
	if (c != NULL)
		snprintf(buf, len, "%s%s", c->name, reply);
	else
		snprintf(buf, len, "0x%04x%s", cmd & PROTO_COMMAND_MASK,
		    reply);
}

static void
rule_format(const struct rule *r, char *buf, size_t len)
{
	char cmd[64];

	switch (r->kind) {
	case RULE_NONE:
		snprintf(buf, len, "none");
		break;
	case RULE_NEVER:
		snprintf(buf, len, "never");
		break;
	case RULE_BYTES:
		snprintf(buf, len, "%s@%llu", dir_name[r->dir],
		    (unsigned long long)r->n);
		break;
	case RULE_BEFORE:
	case RULE_AFTER:
		if (r->anycmd)
			snprintf(cmd, sizeof(cmd), "*");
		else
			cmd_format(r->cmd, cmd, sizeof(cmd));
		snprintf(buf, len, "%s:%s:%s#%llu", dir_name[r->dir],
		    r->kind == RULE_BEFORE ? "before" : "after", cmd,
		    (unsigned long long)r->n);
		break;
	case RULE_MID:
		snprintf(buf, len, "%s:mid#%llu", dir_name[r->dir],
		    (unsigned long long)r->n);
		break;
	case RULE_AFTER_MS:
		snprintf(buf, len, "after-ms:%llu", (unsigned long long)r->n);
		break;
	case RULE_RAND:
		snprintf(buf, len, "rand:%llu", (unsigned long long)r->n);
		break;
	}
}

static int
parse_cmd(const char *s, size_t len, struct rule *r, char *why,
    size_t whylen)
{
	const struct schema_command *c;
	char num[32];
	uint64_t v;
	int reply = 0;

	if (len == 1 && s[0] == '*') {
		r->anycmd = 1;
		return 0;
	}
	if (len > 6 && strncasecmp(s + len - 6, ".reply", 6) == 0) {
		reply = 1;
		len -= 6;
	}
	if (len == 0) {
		snprintf(why, whylen, "no command before '#'");
		return -1;
	}
	if (isdigit((unsigned char)s[0])) {
		if (len >= sizeof(num)) {
			snprintf(why, whylen, "command number too long");
			return -1;
		}
		memcpy(num, s, len);
		num[len] = '\0';
		if (parse_u64(num, 0, 0xffff, &v) == -1) {
			snprintf(why, whylen, "bad command number '%s' "
			    "(want 0..0xffff)", num);
			return -1;
		}
		if (reply && (v & PROTO_REPLY_BIT)) {
			snprintf(why, whylen, "'%s' already has the reply bit "
			    "and .reply sets it again", num);
			return -1;
		}
	} else {
		c = schema_command_by_name(s, len);
		if (c == NULL) {
			snprintf(why, whylen, "unknown command '%.*s'",
			    (int)len, s);
			return -1;
		}
		v = c->number;
	}
	r->cmd = (uint16_t)(v | (reply ? PROTO_REPLY_BIT : 0));
	return 0;
}

static int
parse_rule(const char *s, struct rule *r, char *why, size_t whylen)
{
	const char *p, *hash;
	uint64_t v;

	memset(r, 0, sizeof(*r));
	r->text = s;
	if (strcmp(s, "never") == 0) {
		r->kind = RULE_NEVER;
		return 0;
	}
	if (strncmp(s, "rand:", 5) == 0) {
		if (parse_u64(s + 5, 0, UINT64_MAX, &v) == -1) {
			snprintf(why, whylen, "bad seed '%s'", s + 5);
			return -1;
		}
		r->kind = RULE_RAND;
		r->n = r->rng = v;
		return 0;
	}
	if (strncmp(s, "after-ms:", 9) == 0) {
		if (parse_u64(s + 9, 0, MAX_AFTER_MS, &v) == -1) {
			snprintf(why, whylen, "bad time '%s' (want 0..%llu "
			    "ms)", s + 9, MAX_AFTER_MS);
			return -1;
		}
		r->kind = RULE_AFTER_MS;
		r->n = v;
		return 0;
	}
	if (strncmp(s, "c2s", 3) == 0)
		r->dir = C2S;
	else if (strncmp(s, "s2c", 3) == 0)
		r->dir = S2C;
	else {
		snprintf(why, whylen, "unknown rule (want never, c2s@N, "
		    "s2c:before:CMD#K, c2s:after:CMD#K, s2c:mid#K, "
		    "after-ms:T or rand:SEED)");
		return -1;
	}
	p = s + 3;
	if (*p == '@') {
		if (parse_u64(p + 1, 0, MAX_BYTES, &v) == -1) {
			snprintf(why, whylen, "bad byte count '%s'", p + 1);
			return -1;
		}
		r->kind = RULE_BYTES;
		r->n = v;
		return 0;
	}
	if (*p != ':') {
		snprintf(why, whylen, "want '@' or ':' after '%.3s'", s);
		return -1;
	}
	p++;
	if (strncmp(p, "mid#", 4) == 0) {
		r->kind = RULE_MID;
		hash = p + 3;
	} else {
		if (strncmp(p, "before:", 7) == 0) {
			r->kind = RULE_BEFORE;
			p += 7;
		} else if (strncmp(p, "after:", 6) == 0) {
			r->kind = RULE_AFTER;
			p += 6;
		} else {
			snprintf(why, whylen, "want mid#K, before:CMD#K or "
			    "after:CMD#K after '%.4s'", s);
			return -1;
		}
		hash = strrchr(p, '#');
		if (hash == NULL) {
			snprintf(why, whylen, "no '#K' after the command");
			return -1;
		}
		if (parse_cmd(p, (size_t)(hash - p), r, why, whylen) == -1)
			return -1;
	}
	if (parse_u64(hash + 1, 1, MAX_BYTES, &v) == -1) {
		snprintf(why, whylen, "bad message count '%s' (want 1 or "
		    "more)", hash + 1);
		return -1;
	}
	r->n = v;
	return 0;
}

/* splitmix64: small, and the same numbers everywhere. */
static uint64_t
rand_next(uint64_t *s)
{
	uint64_t z;

	z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
rand_draw(struct rule *gen, struct rule *out)
{
	uint64_t pick;

	memset(out, 0, sizeof(*out));
	out->text = gen->text;
	out->dir = (int)(rand_next(&gen->rng) >> 63);
	pick = rand_next(&gen->rng) % 100;
	if (pick < 35) {
		out->kind = RULE_BYTES;
		out->n = rand_next(&gen->rng) % 4096;
	} else if (pick < 75) {
		out->kind = pick < 55 ? RULE_BEFORE : RULE_AFTER;
		out->cmd = PROTO_CMD_ACK;
		out->n = 1 + rand_next(&gen->rng) % 3;
	} else {
		out->kind = RULE_MID;
		out->n = 1 + rand_next(&gen->rng) % 8;
	}
}

static int
parse_addr(const char *s, int listening, struct addr *a, char *why,
    size_t whylen)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&a->ss;
	struct addrinfo hints, *res;
	char host[256];
	const char *h, *port, *close_br, *colon;
	size_t hlen, plen;
	uint64_t v;
	int rv;

	memset(a, 0, sizeof(*a));
	a->text = s;
	if (strncmp(s, "unix:", 5) == 0) {
		plen = strlen(s + 5);
		if (plen == 0) {
			snprintf(why, whylen, "empty path");
			return -1;
		}
		if (plen >= sizeof(sun->sun_path)) {
			snprintf(why, whylen, "path longer than %zu bytes",
			    sizeof(sun->sun_path) - 1);
			return -1;
		}
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, s + 5, plen + 1);
		a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    plen + 1);
		return 0;
	}
	if (strncmp(s, "tcp:", 4) != 0) {
		snprintf(why, whylen, "want unix:/path or tcp:[HOST:]PORT");
		return -1;
	}
	s += 4;
	if (s[0] == '[') {
		close_br = strchr(s, ']');
		if (close_br == NULL || close_br[1] != ':') {
			snprintf(why, whylen, "want tcp:[ADDRESS]:PORT");
			return -1;
		}
		h = s + 1;
		hlen = (size_t)(close_br - h);
		port = close_br + 2;
	} else if ((colon = strrchr(s, ':')) == NULL) {
		h = "127.0.0.1";
		hlen = strlen(h);
		port = s;
	} else {
		h = s;
		hlen = (size_t)(colon - s);
		port = colon + 1;
		if (memchr(h, ':', hlen) != NULL) {
			snprintf(why, whylen, "an IPv6 address goes in "
			    "brackets: tcp:[ADDRESS]:PORT");
			return -1;
		}
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		snprintf(why, whylen, "%s host name", hlen ? "too long a" :
		    "empty");
		return -1;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (parse_u64(port, listening ? 0 : 1, 65535, &v) == -1 ||
	    strncmp(port, "0x", 2) == 0) {
		snprintf(why, whylen, "bad port '%s' (want %s..65535)", port,
		    listening ? "0" : "1");
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (listening ? AI_PASSIVE : 0);
	rv = getaddrinfo(host, port, &hints, &res);
	if (rv != 0) {
		snprintf(why, whylen, "%.64s: %s", host, gai_strerror(rv));
		return -1;
	}
	if (res->ai_addrlen > sizeof(a->ss)) {
		freeaddrinfo(res);
		snprintf(why, whylen, "address too long");
		return -1;
	}
	memcpy(&a->ss, res->ai_addr, res->ai_addrlen);
	a->len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void
sockaddr_format(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	const struct sockaddr_un *sun = (const struct sockaddr_un *)ss;
	char host[INET6_ADDRSTRLEN];

	switch (ss->ss_family) {
	case AF_INET:
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "tcp:%s:%u", host, ntohs(sin->sin_port));
		break;
	case AF_INET6:
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "tcp:[%s]:%u", host,
		    ntohs(sin6->sin6_port));
		break;
	default:
		snprintf(buf, len, "unix:%.*s", (int)sizeof(sun->sun_path),
		    sun->sun_path);
		break;
	}
}

/* Written aside and renamed, so a reader never sees half of it. */
static int
write_file(const char *path, const char *text)
{
	char tmp[4096];
	FILE *f;
	int bad;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >=
	    sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	f = fopen(tmp, "w");
	if (f == NULL)
		return -1;
	bad = fputs(text, f) == EOF;
	if (fclose(f) == EOF || bad) {
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) == -1) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void
logline(struct proxy *px, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(px->log, fmt, ap);
	va_end(ap);
	fputc('\n', px->log);
	fflush(px->log);
}

static int
write_counts(struct proxy *px)
{
	char text[256];

	if (px->count_file == NULL)
		return 0;
	snprintf(text, sizeof(text), "connections %lu\ncuts %lu\nfailed %lu\n"
	    "c2s %llu\ns2c %llu\n", px->nconn, px->ncut, px->nfail,
	    (unsigned long long)px->bytes[C2S],
	    (unsigned long long)px->bytes[S2C]);
	if (write_file(px->count_file, text) == -1) {
		logline(px, "count file %s: %s", px->count_file,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* "c2s 100 bytes, s2c 20" and ", reset" with --rst. */
static void
bytes_format(const struct proxy *px, const struct pair *p, int cut,
    char *buf, size_t len)
{
	snprintf(buf, len, "c2s %llu bytes, s2c %llu%s",
	    (unsigned long long)p->h[C2S].wr,
	    (unsigned long long)p->h[S2C].wr,
	    cut && px->rst ? ", reset" : "");
}

static void
half_unframe(struct half *h)
{
	if (!h->framing)
		return;
	proto_framer_free(&h->fr);
	h->framing = 0;
}

static void
pair_free(struct proxy *px, struct pair *p)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (p->fd[i] >= 0)
			close(p->fd[i]);
		p->fd[i] = -1;
		half_unframe(&p->h[i]);
		free(p->h[i].buf);
		free(p->h[i].q);
		p->h[i].buf = NULL;
		p->h[i].q = NULL;
	}
	p->state = P_FREE;
	write_counts(px);
}

/* End a pair that was not cut, with a reason for the log. */
static void
pair_end(struct proxy *px, struct pair *p, const char *fmt, ...)
{
	char reason[512], counts[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	bytes_format(px, p, 0, counts, sizeof(counts));
	logline(px, "conn %lu: %s (%s)", p->id, reason, counts);
	pair_free(px, p);
}

/* What is left in a TCP socket's send queue, sent or not, unacknowledged. */
static int
unacked(const struct pair *p, int side)
{
	int q;

	if (p->fd[side] < 0 || !p->tcp[side])
		return 0;
	if (ioctl(p->fd[side], SIOCOUTQ, &q) == -1 || q < 0)
		return 0;
	return q;
}

static void
rst_check(struct proxy *px, struct pair *p, int64_t now, int force)
{
	struct linger lg = { 1, 0 };
	int left, i;

	left = unacked(p, 0) + unacked(p, 1);
	if (left > 0 && now < p->deadline && !force) {
		p->check_at = now + p->tick;
		if (p->tick < RST_TICK_MAX)
			p->tick *= 2;
		return;
	}
	if (left > 0)
		logline(px, "conn %lu: reset with %d bytes not acknowledged",
		    p->id, left);
	for (i = 0; i < 2; i++) {
		if (p->fd[i] < 0)
			continue;
		if (p->tcp[i] && setsockopt(p->fd[i], SOL_SOCKET, SO_LINGER,
		    &lg, sizeof(lg)) == -1)
			logline(px, "conn %lu: SO_LINGER: %s", p->id,
			    strerror(errno));
		close(p->fd[i]);
		p->fd[i] = -1;
	}
	pair_free(px, p);
}

/* d: the direction whose limit was reached, or -1 for after-ms. */
static void
pair_cut(struct proxy *px, struct pair *p, int d, int64_t now)
{
	char desc[256], counts[128];
	const struct half *h;
	int i;

	if (d < 0) {
		snprintf(desc, sizeof(desc), "after %llu ms",
		    (unsigned long long)p->rule.n);
	} else {
		h = &p->h[d];
		snprintf(desc, sizeof(desc), "%s%s%s at byte %llu",
		    dir_name[d], h->what[0] ? " " : "", h->what,
		    (unsigned long long)h->limit);
	}
	bytes_format(px, p, 1, counts, sizeof(counts));
	logline(px, "conn %lu: cut %s (%s)", p->id, desc, counts);
	px->ncut++;
	for (i = 0; i < 2; i++)
		half_unframe(&p->h[i]);
	if (p->state == P_CONNECTING && p->fd[1] >= 0) {
		close(p->fd[1]);
		p->fd[1] = -1;
	}
	if (px->rst) {
		p->state = P_RSTWAIT;
		p->deadline = now + RST_WAIT_MS;
		p->tick = RST_TICK_MS;
		rst_check(px, p, now, 0);
		return;
	}
	/*
	 * An end of stream after the bytes forwarded, and a close only once
	 * the peers have closed: closing with unread bytes in our receive
	 * queue would make the kernel send a reset and drop what is still
	 * queued for the peer.
	 */
	for (i = 0; i < 2; i++)
		if (p->fd[i] >= 0)
			shutdown(p->fd[i], SHUT_WR);
	p->state = P_LINGER;
	p->deadline = now + LINGER_MS;
}

/*
 * Read and drop what a peer sent after a cut. 1 when it has closed (its
 * socket is closed then), else 0.
 */
static int
linger_drain(struct pair *p, int s)
{
	ssize_t r;
	int i;

	for (i = 0; i < LINGER_READS; i++) {
		r = recv(p->fd[s], p->h[0].buf, BUF_SIZE, 0);
		if (r > 0 || (r == -1 && errno == EINTR))
			continue;
		if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		close(p->fd[s]);
		p->fd[s] = -1;
		return 1;
	}
	return 0;
}

static uint64_t
half_end(const struct half *h)
{
	uint64_t end = h->ready;

	if (h->framing && h->framed < end)
		end = h->framed;
	if (h->limit < end)
		end = h->limit;
	return end;
}

static int
can_read(const struct proxy *px, const struct half *h)
{
	return !h->eof && h->rd - h->wr < BUF_SIZE &&
	    (h->limit == NO_LIMIT || h->limit > h->rd) &&
	    (px->delay == 0 || h->qlen < MAX_CHUNKS);
}

static void
half_scan(struct proxy *px, struct pair *p, int d, const uint8_t *chunk,
    size_t n)
{
	struct half *h = &p->h[d];
	const struct rule *r = &p->rule;
	struct proto_msg m;
	struct proto_error e;
	uint64_t frame;
	char cmd[64], why[256];
	int rv;

	proto_framer_feed(&h->fr, chunk, n);
	while ((rv = proto_framer_next(&h->fr, &m, &e)) != 0) {
		if (rv < 0) {
			proto_error_format(&e, why, sizeof(why));
			logline(px, "conn %lu: %s does not frame (%s): "
			    "message rule off", p->id, dir_name[d], why);
			half_unframe(h);
			return;
		}
		frame = ((uint64_t)m.length + 7) & ~(uint64_t)7;
		h->seen++;
		cmd_format(m.command, cmd, sizeof(cmd));
		if (r->kind == RULE_MID && h->seen == r->n) {
			h->limit = m.offset + frame / 2;
			snprintf(h->what, sizeof(h->what),
			    "mid message #%llu (%s, %llu bytes)",
			    (unsigned long long)r->n, cmd,
			    (unsigned long long)frame);
		} else if ((r->kind == RULE_BEFORE || r->kind == RULE_AFTER) &&
		    (r->anycmd || m.command == r->cmd) &&
		    ++h->matched == r->n) {
			h->limit = r->kind == RULE_BEFORE ? m.offset :
			    m.offset + frame;
			if (r->anycmd)
				snprintf(h->what, sizeof(h->what),
				    "%s message #%llu (%s)",
				    r->kind == RULE_BEFORE ? "before" : "after",
				    (unsigned long long)r->n, cmd);
			else
				snprintf(h->what, sizeof(h->what),
				    "%s %s #%llu",
				    r->kind == RULE_BEFORE ? "before" : "after",
				    cmd, (unsigned long long)r->n);
		} else {
			h->framed = m.offset + frame;
			continue;
		}
		/* Found: the limit holds the rest back, no more framing. */
		half_unframe(h);
		return;
	}
}

/* 0, or -1 when the pair was closed. */
static int
half_read(struct proxy *px, struct pair *p, int d, int64_t now)
{
	struct half *h = &p->h[d];
	size_t off = (size_t)(h->rd & (BUF_SIZE - 1)), n;
	ssize_t r;
	struct chunk *c;

	if (!can_read(px, h))
		return 0;
	n = BUF_SIZE - (size_t)(h->rd - h->wr);
	if (n > BUF_SIZE - off)
		n = BUF_SIZE - off;
	/* A byte rule: leave what lies beyond the cut in the kernel. */
	if (h->limit != NO_LIMIT && h->limit - h->rd < n)
		n = (size_t)(h->limit - h->rd);
	do
		r = recv(p->fd[d], h->buf + off, n, 0);
	while (r == -1 && errno == EINTR);
	if (r == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		pair_end(px, p, "error: %s read: %s", dir_name[d],
		    strerror(errno));
		return -1;
	}
	if (r == 0) {
		/* An incomplete last message goes on as it is. */
		h->eof = 1;
		half_unframe(h);
		return 0;
	}
	if (h->framing)
		half_scan(px, p, d, h->buf + off, (size_t)r);
	h->rd += (uint64_t)r;
	if (px->delay == 0) {
		h->ready = h->rd;
		return 0;
	}
	c = &h->q[(h->qhead + h->qlen) % MAX_CHUNKS];
	c->end = h->rd;
	c->ready = now + px->delay;
	h->qlen++;
	return 0;
}

/* Write what may go. 0, or -1 when the pair was closed. */
static int
half_flush(struct proxy *px, struct pair *p, int d)
{
	struct half *h = &p->h[d];
	uint64_t end = half_end(h);
	size_t off, n;
	ssize_t r;

	while (h->wr < end) {
		off = (size_t)(h->wr & (BUF_SIZE - 1));
		n = BUF_SIZE - off;
		if (end - h->wr < n)
			n = (size_t)(end - h->wr);
		r = send(p->fd[!d], h->buf + off, n, MSG_NOSIGNAL);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			pair_end(px, p, "error: %s write: %s", dir_name[d],
			    strerror(errno));
			return -1;
		}
		h->wr += (uint64_t)r;
		px->bytes[d] += (uint64_t)r;
	}
	return 0;
}

static void pair_step(struct proxy *, struct pair *, int64_t);

static void
pair_relay(struct proxy *px, struct pair *p, int64_t now)
{
	int one = 1;

	if (p->tcp[1])
		setsockopt(p->fd[1], IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	p->state = P_RELAY;
	pair_step(px, p, now);
}

static void
pair_connect_failed(struct proxy *px, struct pair *p, int error)
{
	px->nfail++;
	pair_end(px, p, "connect %s: %s", px->target.text, strerror(error));
}

static void
pair_connect(struct proxy *px, struct pair *p, int64_t now)
{
	const struct addr *a = &px->target;
	int fd;

	p->state = P_CONNECTING;
	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1) {
		pair_connect_failed(px, p, errno);
		return;
	}
	p->fd[1] = fd;
	p->tcp[1] = a->ss.ss_family != AF_UNIX;
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0) {
		pair_relay(px, p, now);
		return;
	}
	if (errno == EINPROGRESS || errno == EINTR)
		return;		/* poll says when */
	if (errno == EAGAIN && !p->tcp[1]) {
		/* A unix listener's backlog is full: try again soon. */
		close(fd);
		p->fd[1] = -1;
		p->deadline = now + RETRY_MS;
		return;
	}
	pair_connect_failed(px, p, errno);
}

static void
pair_step(struct proxy *px, struct pair *p, int64_t now)
{
	struct half *h;
	int d;

	switch (p->state) {
	case P_FREE:
		return;
	case P_CONNECTING:
		if (now >= p->cut_at)
			pair_cut(px, p, -1, now);
		else if (now >= p->accepted + CONNECT_MS)
			pair_connect_failed(px, p, ETIMEDOUT);
		else if (p->fd[1] < 0 && now >= p->deadline)
			pair_connect(px, p, now);
		return;
	case P_RELAY:
		if (now >= p->cut_at) {
			pair_cut(px, p, -1, now);
			return;
		}
		for (d = 0; d < 2; d++) {
			h = &p->h[d];
			while (h->qlen > 0 && h->q[h->qhead].ready <= now) {
				h->ready = h->q[h->qhead].end;
				h->qhead = (h->qhead + 1) % MAX_CHUNKS;
				h->qlen--;
			}
		}
		for (d = 0; d < 2; d++) {
			h = &p->h[d];
			if (half_flush(px, p, d) == -1)
				return;
			if (h->limit != NO_LIMIT && h->wr >= h->limit) {
				pair_cut(px, p, d, now);
				return;
			}
		}
		for (d = 0; d < 2; d++) {
			h = &p->h[d];
			if (h->eof && !h->shut && h->wr == h->rd) {
				/* ENOTCONN: the peer is gone; a write says. */
				shutdown(p->fd[!d], SHUT_WR);
				h->shut = 1;
			}
		}
		if (p->h[C2S].shut && p->h[S2C].shut)
			pair_end(px, p, "closed");
		return;
	case P_LINGER:
		if (now < p->deadline)
			return;
		/* Unread bytes would turn the close into a reset. */
		for (d = 0; d < 2; d++)
			if (p->fd[d] >= 0)
				linger_drain(p, d);
		pair_free(px, p);
		return;
	case P_RSTWAIT:
		if (now >= p->check_at)
			rst_check(px, p, now, 0);
		return;
	}
}

static void
pair_open(struct proxy *px, int fd, int64_t now)
{
	struct pair *p = NULL;
	struct rule *r;
	char text[128];
	int i, one = 1;

	for (i = 0; i < MAX_PAIRS; i++)
		if (px->pairs[i].state == P_FREE) {
			p = &px->pairs[i];
			break;
		}
	if (p == NULL) {	/* not polled when full: cannot happen */
		close(fd);
		return;
	}
	memset(p, 0, sizeof(*p));
	p->id = ++px->nconn;
	p->fd[0] = fd;
	p->fd[1] = -1;
	p->tcp[0] = px->ltcp;
	if (p->tcp[0])
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	p->accepted = now;
	p->cut_at = NO_TIME;
	p->state = P_CONNECTING;
	p->rule.kind = RULE_NONE;
	r = NULL;
	if (px->nrules > 0 && (p->id <= px->nrules || px->repeat))
		r = &px->rules[(p->id - 1) % px->nrules];
	if (r != NULL && r->kind == RULE_RAND)
		rand_draw(r, &p->rule);
	else if (r != NULL)
		p->rule = *r;
	rule_format(&p->rule, text, sizeof(text));
	logline(px, "conn %lu: accepted (rule %s%s%s)", p->id, text,
	    r != NULL && r->kind == RULE_RAND ? " from " : "",
	    r != NULL && r->kind == RULE_RAND ? r->text : "");
	for (i = 0; i < 2; i++) {
		p->h[i].limit = NO_LIMIT;
		p->h[i].buf = malloc(BUF_SIZE);
		if (p->h[i].buf == NULL) {
			pair_end(px, p, "error: out of memory");
			return;
		}
		if (px->delay > 0) {
			p->h[i].q = calloc(MAX_CHUNKS, sizeof(struct chunk));
			if (p->h[i].q == NULL) {
				pair_end(px, p, "error: out of memory");
				return;
			}
		}
	}
	switch (p->rule.kind) {
	case RULE_BYTES:
		p->h[p->rule.dir].limit = p->rule.n;
		break;
	case RULE_BEFORE:
	case RULE_AFTER:
	case RULE_MID:
		if (proto_framer_init(&p->h[p->rule.dir].fr, 0) == -1) {
			pair_end(px, p, "error: out of memory");
			return;
		}
		p->h[p->rule.dir].framing = 1;
		break;
	case RULE_AFTER_MS:
		p->cut_at = now + (int64_t)p->rule.n;
		break;
	default:
		break;
	}
	pair_connect(px, p, now);
}

static int
have_free_pair(const struct proxy *px)
{
	int i;

	for (i = 0; i < MAX_PAIRS; i++)
		if (px->pairs[i].state == P_FREE)
			return 1;
	return 0;
}

static void
accept_all(struct proxy *px, int64_t now)
{
	int fd;

	while (have_free_pair(px)) {
		fd = accept4(px->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EPROTO)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* EMFILE and the like: do not spin on the listener. */
			logline(px, "accept: %s", strerror(errno));
			px->accept_pause = now + PAUSE_MS;
			return;
		}
		pair_open(px, fd, now);
	}
}

/* What to poll a pair's socket for; side s reads half s, writes half !s. */
static short
side_events(const struct proxy *px, const struct pair *p, int s)
{
	short ev = 0;

	switch (p->state) {
	case P_CONNECTING:
		return s == 1 ? POLLOUT : 0;
	case P_RELAY:
		if (can_read(px, &p->h[s]))
			ev |= POLLIN;
		if (p->h[!s].wr < half_end(&p->h[!s]))
			ev |= POLLOUT;
		return ev;
	case P_LINGER:
		return POLLIN;
	default:
		return 0;
	}
}

static void
linger_read(struct proxy *px, struct pair *p, int s)
{
	if (linger_drain(p, s) && p->fd[!s] < 0)
		pair_free(px, p);
}

static int
sock_error(int fd)
{
	int e = 0;
	socklen_t len = sizeof(e);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
		return errno;
	return e;
}

static void
side_event(struct proxy *px, struct pair *p, int s, short events,
    short revents, int64_t now)
{
	int e, acted = 0;

	switch (p->state) {
	case P_CONNECTING:
		if (s == 1) {
			e = sock_error(p->fd[1]);
			if (e != 0)
				pair_connect_failed(px, p, e);
			else
				pair_relay(px, p, now);
			return;
		}
		break;
	case P_RELAY:
		if ((events & POLLIN) &&
		    (revents & (POLLIN | POLLHUP | POLLERR))) {
			if (half_read(px, p, s, now) == -1)
				return;
			acted = 1;
		}
		/* Writes happen in pair_step, which meets any error. */
		if ((events & POLLOUT) &&
		    (revents & (POLLOUT | POLLHUP | POLLERR)))
			acted = 1;
		break;
	case P_LINGER:
		linger_read(px, p, s);
		return;
	default:
		return;
	}
	if (acted)
		return;
	if (revents & POLLERR) {
		e = sock_error(p->fd[s]);
		pair_end(px, p, "error: %s: %s", s == 0 ? "client" : "server",
		    e ? strerror(e) : "socket error");
		return;
	}
	/* Reported until we read or write it: leave it out until then. */
	if (revents & POLLHUP)
		p->hup[s] = 1;
}

static int64_t
next_timer(const struct proxy *px, int64_t now)
{
	const struct pair *p;
	int64_t t = px->end;
	int i, d;

#define SOONER(x) do { if ((x) < t) t = (x); } while (0)
	if (px->accept_pause > now)
		SOONER(px->accept_pause);
	for (i = 0; i < MAX_PAIRS; i++) {
		p = &px->pairs[i];
		switch (p->state) {
		case P_CONNECTING:
			SOONER(p->cut_at);
			SOONER(p->accepted + CONNECT_MS);
			if (p->fd[1] < 0)
				SOONER(p->deadline);
			break;
		case P_RELAY:
			SOONER(p->cut_at);
			for (d = 0; d < 2; d++)
				if (p->h[d].qlen > 0)
					SOONER(p->h[d].q[p->h[d].qhead].ready);
			break;
		case P_LINGER:
			SOONER(p->deadline);
			break;
		case P_RSTWAIT:
			SOONER(p->check_at);
			break;
		default:
			break;
		}
	}
#undef SOONER
	return t;
}

struct slot {
	struct pair *p;		/* NULL: the listener */
	int side;
};

/* The loop; returns when told to stop. 0, or 1 on a failure. */
static int
run(struct proxy *px, const sigset_t *waitmask)
{
	struct pollfd fds[1 + 2 * MAX_PAIRS];
	struct slot slots[1 + 2 * MAX_PAIRS];
	struct timespec ts;
	struct pair *p;
	int64_t now, t;
	nfds_t n, k;
	short ev;
	int i, s;

	for (;;) {
		now = now_ms();
		if (stop_signal != 0) {
			logline(px, "signal %d: exiting", (int)stop_signal);
			return 0;
		}
		if (now >= px->end) {
			logline(px, "timeout: exiting");
			return 0;
		}
		n = 0;
		if (now >= px->accept_pause && have_free_pair(px)) {
			fds[n].fd = px->lfd;
			fds[n].events = POLLIN;
			slots[n].p = NULL;
			n++;
		}
		for (i = 0; i < MAX_PAIRS; i++) {
			p = &px->pairs[i];
			if (p->state == P_FREE || p->state == P_RSTWAIT)
				continue;
			for (s = 0; s < 2; s++) {
				if (p->fd[s] < 0)
					continue;
				ev = side_events(px, p, s);
				if (ev == 0 && p->hup[s])
					continue;
				fds[n].fd = p->fd[s];
				fds[n].events = ev;
				slots[n].p = p;
				slots[n].side = s;
				n++;
			}
		}
		t = next_timer(px, now);
		if (t != NO_TIME) {
			t = t > now ? t - now : 0;
			ts.tv_sec = t / 1000;
			ts.tv_nsec = (t % 1000) * 1000000;
		}
		if (ppoll(fds, n, t == NO_TIME ? NULL : &ts, waitmask) == -1) {
			if (errno == EINTR)
				continue;
			logline(px, "poll: %s", strerror(errno));
			return 1;
		}
		now = now_ms();
		for (k = 0; k < n; k++) {
			if (fds[k].revents == 0)
				continue;
			p = slots[k].p;
			if (p == NULL) {
				accept_all(px, now);
				continue;
			}
			/* An earlier event may have closed or cut it. */
			s = slots[k].side;
			if (p->state == P_FREE || p->fd[s] != fds[k].fd)
				continue;
			side_event(px, p, s, fds[k].events, fds[k].revents,
			    now);
		}
		for (i = 0; i < MAX_PAIRS; i++)
			pair_step(px, &px->pairs[i], now);
	}
}

/* A unix socket file nobody listens on any more. */
static int
stale_socket(const struct sockaddr_un *sun, socklen_t len)
{
	struct stat st;
	int fd, stale;

	if (lstat(sun->sun_path, &st) == -1 || !S_ISSOCK(st.st_mode))
		return 0;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return 0;
	stale = connect(fd, (const struct sockaddr *)sun, len) == -1 &&
	    errno == ECONNREFUSED;
	close(fd);
	return stale;
}

static void
open_listener(struct proxy *px, const struct addr *a)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)&a->ss;
	int fd, one = 1;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		err(2, "LISTEN %s: socket", a->text);
	px->ltcp = a->ss.ss_family != AF_UNIX;
	if (px->ltcp && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) == -1)
		err(2, "LISTEN %s: SO_REUSEADDR", a->text);
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1) {
		if (px->ltcp || errno != EADDRINUSE || !stale_socket(sun,
		    a->len))
			err(2, "LISTEN %s: bind", a->text);
		/* Left by a proxy that was killed: take the name over. */
		if (unlink(sun->sun_path) == -1 ||
		    bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1)
			err(2, "LISTEN %s: bind", a->text);
	}
	if (!px->ltcp)
		px->unix_path = sun->sun_path;
	if (listen(fd, MAX_PAIRS) == -1) {
		if (px->unix_path != NULL)
			unlink(px->unix_path);
		err(2, "LISTEN %s: listen", a->text);
	}
	px->lfd = fd;
}

static void
close_all(struct proxy *px)
{
	struct pair *p;
	int i;

	for (i = 0; i < MAX_PAIRS; i++) {
		p = &px->pairs[i];
		switch (p->state) {
		case P_CONNECTING:
		case P_RELAY:
			pair_end(px, p, "closed at exit");
			break;
		case P_RSTWAIT:
			rst_check(px, p, now_ms(), 1);
			break;
		case P_LINGER:
			pair_free(px, p);
			break;
		default:
			break;
		}
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "cut", required_argument, NULL, 'c' },
		{ "repeat", no_argument, NULL, 'r' },
		{ "rst", no_argument, NULL, 'R' },
		{ "delay-ms", required_argument, NULL, 'd' },
		{ "log", required_argument, NULL, 'l' },
		{ "count-file", required_argument, NULL, 'n' },
		{ "addr-file", required_argument, NULL, 'a' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct proxy *px;
	struct addr listen_addr;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct sigaction sa;
	sigset_t block, waitmask;
	const char *log_path = NULL, *addr_file = NULL;
	char why[256], addr[300], line[320];
	uint64_t v, timeout = 0;
	int ch, status, i;

	px = calloc(1, sizeof(*px));
	if (px == NULL)
		err(2, "out of memory");
	px->end = NO_TIME;
	px->lfd = -1;
	for (i = 0; i < MAX_PAIRS; i++)
		px->pairs[i].fd[0] = px->pairs[i].fd[1] = -1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			px->rules = reallocarray(px->rules, px->nrules + 1,
			    sizeof(*px->rules));
			if (px->rules == NULL)
				err(2, "out of memory");
			if (parse_rule(optarg, &px->rules[px->nrules], why,
			    sizeof(why)) == -1)
				errx(2, "--cut '%s': %s", optarg, why);
			px->nrules++;
			break;
		case 'r':
			px->repeat = 1;
			break;
		case 'R':
			px->rst = 1;
			break;
		case 'd':
			if (parse_u64(optarg, 0, MAX_DELAY_MS, &v) == -1)
				errx(2, "--delay-ms '%s': want 0..%d ms",
				    optarg, MAX_DELAY_MS);
			px->delay = (int64_t)v;
			break;
		case 'l':
			log_path = optarg;
			break;
		case 'n':
			px->count_file = optarg;
			break;
		case 'a':
			addr_file = optarg;
			break;
		case 't':
			if (parse_u64(optarg, 1, MAX_TIMEOUT_S, &timeout) == -1)
				errx(2, "--timeout '%s': want 1..%llu seconds",
				    optarg, MAX_TIMEOUT_S);
			break;
		case 'h':
			usage(stdout);
			status = 0;
			goto done;
		default:
			/* getopt has said which option and why. */
			usage(stderr);
			status = 2;
			goto done;
		}
	}
	if (argc - optind != 2) {
		warnx("want LISTEN and TARGET, got %d address%s", argc - optind,
		    argc - optind == 1 ? "" : "es");
		usage(stderr);
		status = 2;
		goto done;
	}
	if (px->repeat && px->nrules == 0)
		errx(2, "--repeat: no --cut rule to repeat");
	if (parse_addr(argv[optind], 1, &listen_addr, why, sizeof(why)) == -1)
		errx(2, "LISTEN '%s': %s", argv[optind], why);
	if (parse_addr(argv[optind + 1], 0, &px->target, why,
	    sizeof(why)) == -1)
		errx(2, "TARGET '%s': %s", argv[optind + 1], why);
	px->log = stderr;
	if (log_path != NULL && (px->log = fopen(log_path, "w")) == NULL)
		err(2, "--log %s", log_path);
	setvbuf(px->log, NULL, _IOLBF, 0);

	/*
	 * SIGTERM and SIGINT are let in only while waiting in ppoll, so one
	 * that arrives at any other time is seen before the next wait.
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1)
		err(2, "sigaction");
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	if (sigprocmask(SIG_BLOCK, &block, &waitmask) == -1)
		err(2, "sigprocmask");
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);

	open_listener(px, &listen_addr);
	if (getsockname(px->lfd, (struct sockaddr *)&ss, &sslen) == -1) {
		warn("LISTEN %s: getsockname", listen_addr.text);
		status = 2;
		goto out;
	}
	if (ss.ss_family == AF_UNIX)
		ss = listen_addr.ss;	/* getsockname may cut the path */
	sockaddr_format(&ss, addr, sizeof(addr));
	snprintf(line, sizeof(line), "%s\n", addr);
	if (addr_file != NULL && write_file(addr_file, line) == -1) {
		warn("--addr-file %s", addr_file);
		status = 2;
		goto out;
	}
	if (printf("listening on %s", line) < 0 || fflush(stdout) == EOF) {
		warn("stdout");
		status = 2;
		goto out;
	}
	if (timeout > 0)
		px->end = now_ms() + (int64_t)timeout * 1000;
	write_counts(px);
	status = run(px, &waitmask);
	close_all(px);
out:
	close(px->lfd);
	if (px->unix_path != NULL)
		unlink(px->unix_path);
	if (write_counts(px) == -1 && status == 0)
		status = 1;
	if (px->log != stderr)
		fclose(px->log);
done:
	free(px->rules);
	free(px);
	return status;
}
