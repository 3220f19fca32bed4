/*
 * mkpcap - build a capture of one TCP connection carrying two byte
 * streams, in the variants the capture layer must read.
 *
 * usage: mkpcap [options] -o OUT CLIENT_STREAM [SERVER_STREAM]
 *
 * The directions take turns message by message (libproto's framer cuts
 * each stream; where a stream stops framing, the rest is cut into
 * CHUNK-byte pieces). Packet i is stamped 1700000000 s + i ms, so the
 * output depends on the inputs and options only.
 *
 *   --linktype T   en10mb (default), raw (101), raw12, raw14, ipv4, ipv6,
 *                  sll, sll2, null, loop
 *   --ipv6         IPv6 instead of IPv4
 *   --nano         nanosecond timestamps
 *   --swapped      headers in the byte order opposite to this host's
 *   --pcapng       pcapng (SHB, IDB, EPB) instead of pcap
 *   --mss N        payload bytes per segment (default 1448)
 *   --reorder      swap neighbouring data segments of each direction
 *   --retransmit   resend some segments: whole, older, half-overlapping
 *   --no-syn       no handshake: the capture starts mid-connection
 *   --snaplen N    cut every frame to N bytes (the streams get gaps)
 *   --vlan         an 802.1Q tag (Ethernet only)
 *   --options      IPv4 options, or IPv6 hop-by-hop, routing, destination
 *                  options and fragment headers; TCP options (timestamps)
 *   --noise        frames to skip between the real ones: ARP, UDP, a
 *                  later IP fragment, malformed and truncated headers
 *                  that claim to belong to the connection
 *   --plain        write through pcapout instead (one segment per
 *                  message, handshake and close): other options ignored
 *                  but --ipv6, which pcapout writes as IPv6
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "libproto/proto_framer.h"
#include "libproto/proto_wire.h"
#include "tools/lib/bytes.h"
#include "tools/lib/pcapout.h"
#include "tools/lib/tcpreasm.h"

#define CHUNK		1000	/* a unit where a stream does not frame */
#define STREAM_MAX	((size_t)1 << 30)
#define START_SEC	1700000000
#define LINK_MAX	32
#define FRAME_MAX	(LINK_MAX + 40 + 32 + 65535)
#define CLIENT_ISN	0xfffff000u	/* wraps after 4 KiB */
#define SERVER_ISN	0x12345678u
#define CLIENT_PORT	40000
#define SERVER_PORT	5555

enum linktype {
	LT_EN10MB, LT_RAW, LT_RAW12, LT_RAW14, LT_IPV4, LT_IPV6, LT_SLL,
	LT_SLL2, LT_NULL, LT_LOOP
};

static const struct {
	const char *name;
	uint32_t number;
} linktypes[] = {
	[LT_EN10MB] = { "en10mb", 1 },
	[LT_RAW] = { "raw", 101 },
	[LT_RAW12] = { "raw12", 12 },
	[LT_RAW14] = { "raw14", 14 },
	[LT_IPV4] = { "ipv4", 228 },
	[LT_IPV6] = { "ipv6", 229 },
	[LT_SLL] = { "sll", 113 },
	[LT_SLL2] = { "sll2", 276 },
	[LT_NULL] = { "null", 0 },
	[LT_LOOP] = { "loop", 108 },
};

struct opts {
	enum linktype lt;
	int ipv6, nano, swapped, pcapng, reorder, retransmit, nosyn, vlan;
	int noise, plain, options;
	size_t mss;
	uint32_t snaplen;
	const char *out;
};

struct stream {
	uint8_t *p;
	size_t n;
	size_t *cut;		/* unit i is [cut[i], cut[i + 1]) */
	size_t nunits;
};

/* A packet to write; seq and ack are stream offsets until written. */
struct pkt {
	int dir;
	uint8_t flags;
	uint64_t off;		/* stream offset of p[0] */
	uint64_t ackoff;	/* the peer's offset acknowledged */
	const uint8_t *p;
	size_t n;
};

struct plan {
	struct pkt *v;
	size_t n;
	size_t cap;
	uint64_t sent[2];	/* bytes of each stream planned so far */
	uint64_t ndata[2];	/* data segments of each direction */
};

struct writer {
	FILE *fp;
	const struct opts *o;
	uint64_t count;		/* frames written: their timestamps */
	uint8_t buf[FRAME_MAX];
};

static const uint8_t addr4[2][16] = {
	{ 192, 0, 2, 1 }, { 198, 51, 100, 2 }
};
static const uint8_t addr6[2][16] = {
	{ 0x20, 0x01, 0x0d, 0xb8, [15] = 1 },
	{ 0x20, 0x01, 0x0d, 0xb8, [14] = 0xff, [15] = 2 }
};
static const uint8_t macs[2][6] = {
	{ 0x02, 0, 0, 0, 0, 0x01 }, { 0x02, 0, 0, 0, 0, 0x02 }
};

static void
usage(void)
{
	fprintf(stderr, "usage: mkpcap [--linktype T] [--ipv6] [--nano] "
	    "[--swapped] [--pcapng] [--mss N]\n"
	    "\t[--reorder] [--retransmit] [--no-syn] [--snaplen N] "
	    "[--vlan] [--options] [--noise] [--plain]\n"
	    "\t-o OUT CLIENT_STREAM [SERVER_STREAM]\n");
	exit(2);
}

static unsigned long
number(const char *s, unsigned long min, unsigned long max, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		errx(2, "%s: \"%s\" is not a number from %lu to %lu", what, s,
		    min, max);
	return v;
}

static enum linktype
linktype_of(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(linktypes) / sizeof(linktypes[0]); i++)
		if (strcmp(s, linktypes[i].name) == 0)
			return (enum linktype)i;
	errx(2, "--linktype: unknown \"%s\"", s);
}

/* --- streams and their units ---------------------------------------------- */

static void
read_stream(struct stream *s, const char *path)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 65536;

	if (f == NULL)
		err(2, "%s", path);
	s->p = malloc(cap);
	s->n = 0;
	if (s->p == NULL)
		err(2, "malloc");
	for (;;) {
		size_t k;

		if (s->n == cap) {
			if (cap >= STREAM_MAX)
				errx(2, "%s: larger than %zu bytes", path,
				    STREAM_MAX);
			cap *= 2;
			if ((s->p = realloc(s->p, cap)) == NULL)
				err(2, "realloc");
		}
		k = fread(s->p + s->n, 1, cap - s->n, f);
		s->n += k;
		if (k == 0)
			break;
	}
	if (ferror(f))
		err(2, "%s", path);
	fclose(f);
}

static void
add_cut(struct stream *s, size_t at)
{
	s->cut = realloc(s->cut, (s->nunits + 2) * sizeof(*s->cut));
	if (s->cut == NULL)
		err(2, "realloc");
	s->cut[s->nunits++] = at;
	s->cut[s->nunits] = s->n;
}

/* One unit per message while the stream frames, then CHUNK bytes each. */
static void
cut_units(struct stream *s)
{
	struct proto_framer f;
	struct proto_msg m;
	struct proto_error e;
	size_t end = 0;
	int r;

	if (proto_framer_init(&f, 0) < 0)
		err(2, "framer");
	proto_framer_feed(&f, s->p, s->n);
	proto_framer_eof(&f);
	while ((r = proto_framer_next(&f, &m, &e)) > 0) {
		add_cut(s, (size_t)m.offset);
		end = (size_t)m.offset + proto_align8(m.length);
	}
	proto_framer_free(&f);
	if (end > s->n)
		end = s->n;
	for (; end < s->n; end += CHUNK)
		add_cut(s, end);
	if (s->nunits == 0)
		add_cut(s, 0);
	s->cut[s->nunits] = s->n;
}

/* --- the plan --------------------------------------------------------------- */

static void
plan_add(struct plan *pl, int dir, uint8_t flags, uint64_t off,
    const uint8_t *p, size_t n)
{
	struct pkt *k;

	if (pl->n == pl->cap) {
		pl->cap = pl->cap ? pl->cap * 2 : 256;
		pl->v = realloc(pl->v, pl->cap * sizeof(*pl->v));
		if (pl->v == NULL)
			err(2, "realloc");
	}
	k = &pl->v[pl->n++];
	k->dir = dir;
	k->flags = flags;
	k->off = off;
	k->ackoff = pl->sent[!dir];
	k->p = p;
	k->n = n;
}

/* After data segment k of a direction: maybe resend something. */
static void
plan_retransmit(struct plan *pl, const struct stream *s, const struct pkt *k,
    const struct pkt *prev)
{
	uint64_t i = pl->ndata[k->dir];
	struct pkt c = *k;

	if (i % 4 == 1)				/* the same again */
		plan_add(pl, c.dir, c.flags, c.off, c.p, c.n);
	else if (i % 4 == 2 && prev != NULL)	/* an older one */
		plan_add(pl, prev->dir, prev->flags, prev->off, prev->p,
		    prev->n);
	else if (i % 4 == 3 && c.n >= 2) {	/* half old, half ahead */
		uint64_t off = c.off + c.n / 2;
		size_t n = c.n;

		if (off + n > s->n)
			n = s->n - (size_t)off;
		plan_add(pl, c.dir, TCP_SEG_ACK, off, s->p + off, n);
	}
}

static void
plan_unit(struct plan *pl, const struct opts *o, const struct stream *s,
    int dir, size_t u)
{
	size_t at = s->cut[u], end = s->cut[u + 1];
	struct pkt prev;
	int have_prev = 0;

	while (at < end) {
		size_t n = end - at < o->mss ? end - at : o->mss;
		uint8_t fl = TCP_SEG_ACK | (at + n == end ? TCP_SEG_PSH : 0);
		struct pkt k;

		plan_add(pl, dir, fl, at, s->p + at, n);
		k = pl->v[pl->n - 1];
		pl->sent[dir] = at + n;
		pl->ndata[dir]++;
		if (o->retransmit)
			plan_retransmit(pl, s, &k, have_prev ? &prev : NULL);
		prev = k;
		have_prev = 1;
		at += n;
	}
}

/* Swap data segments 0-1, 3-4, 6-7... of each direction. */
static void
plan_reorder(struct plan *pl)
{
	int dir;

	for (dir = 0; dir < 2; dir++) {
		size_t i, seen = 0, last = 0;

		for (i = 0; i < pl->n; i++) {
			struct pkt t;

			if (pl->v[i].dir != dir || pl->v[i].n == 0)
				continue;
			if (seen++ % 3 == 1) {
				t = pl->v[last];
				pl->v[last] = pl->v[i];
				pl->v[i] = t;
			}
			last = i;
		}
	}
}

static void
plan_build(struct plan *pl, const struct opts *o, struct stream s[2])
{
	size_t u, units = s[0].nunits > s[1].nunits ? s[0].nunits :
	    s[1].nunits;

	memset(pl, 0, sizeof(*pl));
	if (!o->nosyn) {
		plan_add(pl, 0, TCP_SEG_SYN, 0, NULL, 0);
		plan_add(pl, 1, TCP_SEG_SYN | TCP_SEG_ACK, 0, NULL, 0);
		plan_add(pl, 0, TCP_SEG_ACK, 0, NULL, 0);
	}
	for (u = 0; u < units; u++) {
		if (u < s[0].nunits)
			plan_unit(pl, o, &s[0], 0, u);
		if (u < s[1].nunits)
			plan_unit(pl, o, &s[1], 1, u);
	}
	if (o->reorder)
		plan_reorder(pl);
	/* Each FIN takes a sequence number; the next packet acks it. */
	plan_add(pl, 0, TCP_SEG_FIN | TCP_SEG_ACK, pl->sent[0], NULL, 0);
	pl->sent[0]++;
	plan_add(pl, 1, TCP_SEG_FIN | TCP_SEG_ACK, pl->sent[1], NULL, 0);
	pl->sent[1]++;
	plan_add(pl, 0, TCP_SEG_ACK, pl->sent[0], NULL, 0);
}

/* --- writing ------------------------------------------------------------------ */

static void
out(struct writer *w, const void *p, size_t n)
{
	if (fwrite(p, 1, n, w->fp) != n)
		err(2, "%s", w->o->out);
}

static void
pcapng_header(struct writer *w)
{
	const struct opts *o = w->o;
	int sw = o->swapped;
	uint8_t b[64];
	size_t idb = o->nano ? 32 : 20;

	host_put32(b, 0x0a0d0d0a, sw);		/* SHB */
	host_put32(b + 4, 28, sw);
	host_put32(b + 8, 0x1a2b3c4d, sw);
	host_put16(b + 12, 1, sw);
	host_put16(b + 14, 0, sw);
	host_put32(b + 16, 0xffffffffu, sw);		/* section length unknown */
	host_put32(b + 20, 0xffffffffu, sw);
	host_put32(b + 24, 28, sw);
	out(w, b, 28);
	host_put32(b, 1, sw);			/* IDB */
	host_put32(b + 4, (uint32_t)idb, sw);
	host_put16(b + 8, (uint16_t)linktypes[o->lt].number, sw);
	host_put16(b + 10, 0, sw);
	host_put32(b + 12, o->snaplen, sw);
	if (o->nano) {				/* if_tsresol = 9 */
		host_put16(b + 16, 9, sw);
		host_put16(b + 18, 1, sw);
		memset(b + 20, 0, 4);
		b[20] = 9;
		host_put32(b + 24, 0, sw);		/* opt_endofopt */
	}
	host_put32(b + idb - 4, (uint32_t)idb, sw);
	out(w, b, idb);
}

static void
file_header(struct writer *w)
{
	uint8_t b[PCAPOUT_FILEHDR_LEN];

	if (w->o->pcapng) {
		pcapng_header(w);
		return;
	}
	pcapout_put_filehdr(b, linktypes[w->o->lt].number, w->o->snaplen,
	    w->o->nano, w->o->swapped);
	out(w, b, sizeof(b));
}

/*
 * Write buf[0..len) as the next frame, of which `cap` bytes were
 * captured (and no more than the snaplen).
 */
static void
record_cut(struct writer *w, size_t len, size_t cap_want)
{
	const struct opts *o = w->o;
	struct timespec ts;
	uint32_t cap = cap_want < o->snaplen ? (uint32_t)cap_want : o->snaplen;
	uint8_t h[28], pad[4] = { 0 };

	ts.tv_sec = START_SEC + (time_t)(w->count / 1000);
	ts.tv_nsec = (long)(w->count % 1000) * 1000000;
	w->count++;
	if (!o->pcapng) {
		pcapout_put_rechdr(h, &ts, cap, (uint32_t)len, o->nano,
		    o->swapped);
		out(w, h, PCAPOUT_RECHDR_LEN);
		out(w, w->buf, cap);
		return;
	}
	{
		uint64_t t = (uint64_t)ts.tv_sec * (o->nano ? 1000000000u :
		    1000000u) + (uint64_t)ts.tv_nsec / (o->nano ? 1 : 1000);
		uint32_t padded = (cap + 3) & ~3u;
		uint32_t total = 32 + padded;

		host_put32(h, 6, o->swapped);		/* EPB */
		host_put32(h + 4, total, o->swapped);
		host_put32(h + 8, 0, o->swapped);		/* interface */
		host_put32(h + 12, (uint32_t)(t >> 32), o->swapped);
		host_put32(h + 16, (uint32_t)t, o->swapped);
		host_put32(h + 20, cap, o->swapped);
		host_put32(h + 24, (uint32_t)len, o->swapped);
		out(w, h, 28);
		out(w, w->buf, cap);
		out(w, pad, padded - cap);
		host_put32(h, total, o->swapped);
		out(w, h, 4);
	}
}

/*
 * Ethernet frames are at least 60 bytes on the wire: a bare ACK gets 6
 * bytes of padding after its IP packet, as from a real NIC (non-zero
 * here, so a decoder that took padding for payload corrupts the stream).
 */
#define ETHER_MIN	60

static void
record(struct writer *w, size_t len)
{
	if (w->o->lt == LT_EN10MB && len < ETHER_MIN) {
		memset(w->buf + len, 0xa5, ETHER_MIN - len);
		len = ETHER_MIN;
	}
	record_cut(w, len, len);
}

/* The link header for a packet of `dir`; returns its length. */
static size_t
link_header(struct writer *w, int dir, int v6)
{
	const struct opts *o = w->o;
	uint8_t *b = w->buf;
	uint16_t et = v6 ? 0x86dd : 0x0800;

	switch (o->lt) {
	case LT_EN10MB:
		if (!o->vlan) {
			pcapout_put_ether(b, macs[!dir], macs[dir], et);
			return 14;
		}
		pcapout_put_ether(b, macs[!dir], macs[dir], 0x8100);
		net_put16(b + 14, 100);		/* VLAN id */
		net_put16(b + 16, et);
		return 18;
	case LT_SLL:
		memset(b, 0, 16);
		net_put16(b, dir ? 0 : 4);	/* to us / outgoing */
		net_put16(b + 2, 1);		/* ARPHRD_ETHER */
		net_put16(b + 4, 6);
		memcpy(b + 6, macs[dir], 6);
		net_put16(b + 14, et);
		return 16;
	case LT_SLL2:
		memset(b, 0, 20);
		net_put16(b, et);
		b[7] = 1;			/* interface index */
		net_put16(b + 8, 1);
		b[10] = dir ? 0 : 4;
		b[11] = 6;
		memcpy(b + 12, macs[dir], 6);
		return 20;
	case LT_NULL:				/* the writer's byte order */
		host_put32(b, v6 ? 24 : 2, o->swapped);
		return 4;
	case LT_LOOP:
		b[0] = b[1] = b[2] = 0;
		b[3] = v6 ? 24 : 2;
		return 4;
	default:
		return 0;
	}
}

/* Recompute the checksum of the IPv4 header at ip, options included. */
static void
ip_checksum(uint8_t *ip)
{
	size_t hl = (size_t)(ip[0] & 0x0f) * 4;

	if (hl < 20)
		hl = 20;	/* a deliberately bad length: any sum will do */
	ip[10] = ip[11] = 0;
	net_put16(ip + 10, pcapout_csum_fold(pcapout_csum_add(0, ip, hl)));
}

/* Turn the IPv4/TCP packet at ip (n bytes) into a UDP datagram. */
static void
make_udp(uint8_t *ip, size_t n)
{
	ip[9] = 17;
	net_put16(ip + 24, (uint16_t)(n - 20));	/* UDP length */
	net_put16(ip + 26, 0);			/* no checksum */
}

/*
 * --options: what a decoder must step over. IPv4: 4 bytes of options;
 * IPv6: hop-by-hop, routing (type 0, no segment left), destination
 * options and an atomic fragment header (offset 0, no more fragments).
 * Neither changes the TCP checksum. Returns the packet's new length.
 */
static size_t
add_ip_options(uint8_t *ip, size_t n, int v6)
{
	static const uint8_t opt4[4] = { 1, 1, 1, 0 };	/* NOP NOP NOP EOL */
	static const uint8_t ext6[32] = {
		43, 0, 1, 4, 0, 0, 0, 0,	/* hop-by-hop: PadN */
		60, 0, 0, 0, 0, 0, 0, 0,	/* routing type 0 */
		44, 0, 1, 4, 0, 0, 0, 0,	/* destination: PadN */
		6, 0, 0, 0, 0, 0, 0, 7,		/* fragment: offset 0, M 0 */
	};

	if (!v6) {
		memmove(ip + 24, ip + 20, n - 20);
		memcpy(ip + 20, opt4, sizeof(opt4));
		ip[0] = 0x46;
		net_put16(ip + 2, (uint16_t)(n + 4));
		ip_checksum(ip);
		return n + 4;
	}
	memmove(ip + 72, ip + 40, n - 40);
	memcpy(ip + 40, ext6, sizeof(ext6));
	net_put16(ip + 4, (uint16_t)(n - 40 + 32));
	ip[6] = 0;	/* hop-by-hop first */
	return n + 32;
}

static void
write_pkt(struct writer *w, const struct pkt *k)
{
	/* NOP, NOP, timestamps 1 and 2. */
	static const uint8_t tcpopt[12] = { 1, 1, 8, 10, 0, 0, 0, 1,
	    0, 0, 0, 2 };
	const struct opts *o = w->o;
	uint32_t base[2] = { CLIENT_ISN + 1, SERVER_ISN + 1 };
	struct pcapout_seg s;
	size_t lh, n;

	memset(&s, 0, sizeof(s));
	s.family = o->ipv6 ? AF_INET6 : AF_INET;
	s.src = o->ipv6 ? addr6[k->dir] : addr4[k->dir];
	s.dst = o->ipv6 ? addr6[!k->dir] : addr4[!k->dir];
	s.sport = k->dir ? SERVER_PORT : CLIENT_PORT;
	s.dport = k->dir ? CLIENT_PORT : SERVER_PORT;
	s.seq = base[k->dir] + (uint32_t)k->off;
	if (k->flags & TCP_SEG_SYN)
		s.seq--;
	s.ack = (k->flags & TCP_SEG_ACK) ? base[!k->dir] +
	    (uint32_t)k->ackoff : 0;
	s.flags = k->flags;
	s.ipid = (uint16_t)w->count;
	if (o->options) {
		s.tcpopt = tcpopt;
		s.tcpoptlen = sizeof(tcpopt);
	}
	lh = link_header(w, k->dir, o->ipv6);
	n = pcapout_build_ip(w->buf + lh, sizeof(w->buf) - lh - 32, &s,
	    k->p, k->n);
	if (n == 0)
		errx(2, "segment of %zu bytes does not fit", k->n);
	if (o->options)
		n = add_ip_options(w->buf + lh, n, o->ipv6);
	record(w, lh + n);
}

static int
has_ethertype(enum linktype lt)
{
	return lt == LT_EN10MB || lt == LT_SLL || lt == LT_SLL2;
}

/* Rewrite the Ethernet type of the link header just written. */
static void
set_ethertype(struct writer *w, uint16_t et)
{
	switch (w->o->lt) {
	case LT_EN10MB:
		net_put16(w->buf + (w->o->vlan ? 16 : 12), et);
		break;
	case LT_SLL:
		net_put16(w->buf + 14, et);
		break;
	case LT_SLL2:
		net_put16(w->buf, et);
		break;
	default:
		break;
	}
}

/*
 * Frames that must be skipped, built on the connection's own addresses
 * and ports with a sequence number where the client's next bytes go, so
 * a decoder that took one for a segment would corrupt the stream (the
 * first copy of a byte wins).
 */
static void
write_noise(struct writer *w, uint64_t client_off, unsigned kind)
{
	static const char junk[] = "NOISE NOISE NOISE NOISE NOISE NOISE";
	struct pcapout_seg s;
	size_t lh, n;
	uint8_t *ip;

	memset(&s, 0, sizeof(s));
	s.family = AF_INET;
	s.src = addr4[0];
	s.dst = addr4[1];
	s.sport = CLIENT_PORT;
	s.dport = SERVER_PORT;
	s.seq = CLIENT_ISN + 1 + (uint32_t)client_off;
	s.flags = TCP_SEG_ACK | TCP_SEG_PSH;
	lh = link_header(w, 0, 0);
	ip = w->buf + lh;
	n = pcapout_build_ip(ip, sizeof(w->buf) - lh, &s, junk,
	    sizeof(junk) - 1);
	switch (kind % 7) {
	case 0:		/* UDP */
		make_udp(ip, n);
		break;
	case 6:		/* ARP, where the link has an Ethernet type */
		if (!has_ethertype(w->o->lt)) {
			make_udp(ip, n);
			break;
		}
		lh = link_header(w, 0, 0);
		set_ethertype(w, 0x0806);
		memset(w->buf + lh, 0, 28);
		n = 28;
		break;
	case 1:		/* a later fragment */
		net_put16(ip + 6, 0x2000 | 100);
		break;
	case 2:		/* IPv4 header length 12 */
		ip[0] = 0x43;
		break;
	case 3:		/* TCP data offset past the segment */
		ip[20 + 12] = 0xf0;
		n = 20 + 20 + 20;
		net_put16(ip + 2, (uint16_t)n);
		break;
	case 4:		/* IPv4 total length past the frame */
		net_put16(ip + 2, 1500);
		break;
	case 5:		/* cut inside the TCP header by the capture */
		record_cut(w, lh + n, lh + 30);
		return;
	}
	if (kind % 7 != 6 || !has_ethertype(w->o->lt))
		ip_checksum(ip);	/* only the intended defect */
	record(w, lh + n);
}

/* Stream offset of the next client data segment from plan entry i on. */
static uint64_t
next_client_off(const struct plan *pl, size_t i)
{
	for (; i < pl->n; i++)
		if (pl->v[i].dir == 0 && pl->v[i].n > 0)
			return pl->v[i].off;
	return pl->sent[0];
}

/*
 * What each direction's receiver has in order, from the packets written
 * so far: an acknowledgement never covers bytes the capture shows later
 * (at one capture point a receiver cannot ack what has not passed it),
 * so --reorder is reordering a reassembler must wait out, not loss.
 */
struct received {
	uint64_t upto[2];		/* in order up to here */
	const struct pkt **ahead[2];	/* written past upto */
	size_t nahead[2];
};

/* Sequence space a packet takes: its data, or 1 for a bare FIN. */
static uint64_t
pkt_len(const struct pkt *k)
{
	if (k->n > 0)
		return k->n;
	return (k->flags & TCP_SEG_FIN) ? 1 : 0;
}

static void
received_add(struct received *rv, const struct pkt *k)
{
	int d = k->dir, more = 1;
	size_t i;

	if (pkt_len(k) == 0)
		return;
	rv->ahead[d] = realloc(rv->ahead[d], (rv->nahead[d] + 1) *
	    sizeof(*rv->ahead[d]));
	if (rv->ahead[d] == NULL)
		err(2, "realloc");
	rv->ahead[d][rv->nahead[d]++] = k;
	while (more) {
		more = 0;
		for (i = 0; i < rv->nahead[d]; i++) {
			const struct pkt *a = rv->ahead[d][i];
			uint64_t end = a->off + pkt_len(a);

			if (a->off > rv->upto[d])
				continue;
			if (end > rv->upto[d])
				rv->upto[d] = end;
			rv->ahead[d][i] = rv->ahead[d][--rv->nahead[d]];
			more = 1;
			break;
		}
	}
}

static void
write_capture(const struct opts *o, struct stream s[2])
{
	struct writer *w = calloc(1, sizeof(*w));
	struct received rv;
	struct plan pl;
	unsigned noise = 0;
	size_t i;

	if (w == NULL)
		err(2, "calloc");
	memset(&rv, 0, sizeof(rv));
	w->o = o;
	if ((w->fp = fopen(o->out, "wb")) == NULL)
		err(2, "%s", o->out);
	plan_build(&pl, o, s);
	file_header(w);
	for (i = 0; i < pl.n; i++) {
		struct pkt k = pl.v[i];

		if (o->noise && i % 5 == 2)
			write_noise(w, next_client_off(&pl, i), noise++);
		if (k.ackoff > rv.upto[!k.dir])
			k.ackoff = rv.upto[!k.dir];
		write_pkt(w, &k);
		received_add(&rv, &pl.v[i]);
	}
	free(rv.ahead[0]);
	free(rv.ahead[1]);
	if (fclose(w->fp) != 0)
		err(2, "%s", o->out);
	free(pl.v);
	free(w);
}

/* --plain: the same turns through pcapout, one call per unit. */
static void
write_plain(const struct opts *o, struct stream s[2])
{
	struct pcapout_ep ep[2];
	struct pcapout_conn *pc;
	struct pcapout *po;
	struct timespec ts = { START_SEC, 0 };
	char ebuf[512];
	size_t u;
	int dir;

	memset(ep, 0, sizeof(ep));
	for (dir = 0; dir < 2; dir++) {
		ep[dir].family = o->ipv6 ? AF_INET6 : AF_INET;
		memcpy(ep[dir].addr, o->ipv6 ? addr6[dir] : addr4[dir], 16);
		ep[dir].port = dir ? SERVER_PORT : CLIENT_PORT;
	}
	if ((po = pcapout_open(o->out, ebuf, sizeof(ebuf))) == NULL)
		errx(2, "%s", ebuf);
	pc = pcapout_conn_open_ep(po, &ep[0], &ep[1], &ts);
	for (u = 0; pc != NULL && (u < s[0].nunits || u < s[1].nunits); u++)
		for (dir = 0; dir < 2; dir++) {
			const struct stream *x = &s[dir];

			if (u >= x->nunits || x->cut[u + 1] == x->cut[u])
				continue;
			ts.tv_nsec += 1000000;
			if (ts.tv_nsec == 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec = 0;
			}
			pcapout_data(po, pc, dir, x->p + x->cut[u],
			    x->cut[u + 1] - x->cut[u], &ts);
		}
	if (pc != NULL)
		pcapout_conn_close(po, pc, &ts);
	if (pcapout_close(po, ebuf, sizeof(ebuf)) < 0)
		errx(2, "%s", ebuf);
}

static void
check_opts(const struct opts *o)
{
	if (o->lt == LT_IPV6 && !o->ipv6)
		errx(2, "--linktype ipv6 needs --ipv6");
	if (o->lt == LT_IPV4 && o->ipv6)
		errx(2, "--linktype ipv4 carries no IPv6");
	if (o->vlan && o->lt != LT_EN10MB)
		errx(2, "--vlan needs --linktype en10mb");
	if (o->noise && o->lt == LT_IPV6)
		errx(2, "--noise is IPv4: not with --linktype ipv6");
}

int
main(int argc, char **argv)
{
	enum { O_LT = 256, O_IPV6, O_NANO, O_SWAP, O_NG, O_MSS, O_REORDER,
	    O_RETX, O_NOSYN, O_SNAP, O_VLAN, O_NOISE, O_PLAIN, O_OPTIONS };
	static const struct option lopts[] = {
		{ "linktype", required_argument, NULL, O_LT },
		{ "ipv6", no_argument, NULL, O_IPV6 },
		{ "nano", no_argument, NULL, O_NANO },
		{ "swapped", no_argument, NULL, O_SWAP },
		{ "pcapng", no_argument, NULL, O_NG },
		{ "mss", required_argument, NULL, O_MSS },
		{ "reorder", no_argument, NULL, O_REORDER },
		{ "retransmit", no_argument, NULL, O_RETX },
		{ "no-syn", no_argument, NULL, O_NOSYN },
		{ "snaplen", required_argument, NULL, O_SNAP },
		{ "vlan", no_argument, NULL, O_VLAN },
		{ "noise", no_argument, NULL, O_NOISE },
		{ "plain", no_argument, NULL, O_PLAIN },
		{ "options", no_argument, NULL, O_OPTIONS },
		{ NULL, 0, NULL, 0 }
	};
	struct opts o;
	struct stream s[2];
	int c, i;

	memset(&o, 0, sizeof(o));
	memset(s, 0, sizeof(s));
	o.mss = 1448;
	o.snaplen = PCAPOUT_SNAPLEN;
	while ((c = getopt_long(argc, argv, "o:", lopts, NULL)) != -1) {
		switch (c) {
		case 'o': o.out = optarg; break;
		case O_LT: o.lt = linktype_of(optarg); break;
		case O_IPV6: o.ipv6 = 1; break;
		case O_NANO: o.nano = 1; break;
		case O_SWAP: o.swapped = 1; break;
		case O_NG: o.pcapng = 1; break;
		case O_MSS:
			o.mss = number(optarg, 1, PCAPOUT_SEG_MAX, "--mss");
			break;
		case O_REORDER: o.reorder = 1; break;
		case O_RETX: o.retransmit = 1; break;
		case O_NOSYN: o.nosyn = 1; break;
		case O_SNAP:
			o.snaplen = (uint32_t)number(optarg, 1,
			    PCAPOUT_SNAPLEN, "--snaplen");
			break;
		case O_VLAN: o.vlan = 1; break;
		case O_NOISE: o.noise = 1; break;
		case O_PLAIN: o.plain = 1; break;
		case O_OPTIONS: o.options = 1; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (o.out == NULL || argc < 1 || argc > 2)
		usage();
	check_opts(&o);
	for (i = 0; i < 2; i++) {
		if (i < argc)
			read_stream(&s[i], argv[i]);
		cut_units(&s[i]);
	}
	if (o.plain)
		write_plain(&o, s);
	else
		write_capture(&o, s);
	for (i = 0; i < 2; i++) {
		free(s[i].p);
		free(s[i].cut);
	}
	return 0;
}
