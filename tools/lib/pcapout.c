/*
 * pcapout.c - synthesise IPv4/TCP or IPv6/TCP packets around byte streams
 * and write them as pcap.
 *
 * The writer goes through stdio with a large buffer; every fwrite and the
 * final fflush/fclose are checked, and the first failure is kept, because
 * a full disk shows up at a flush long after the data was "written".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bytes.h"
#include "cli.h"
#include "errbuf.h"
#include "pcapout.h"
#include "tcpreasm.h"

#define NAME_LEN	256
#define ERR_LEN		(NAME_LEN + 128)
#define ETHER_LEN	14
#define PKT_MAX		(ETHER_LEN + PCAPOUT_IPV6_HDRS + PCAPOUT_SEG_MAX)
#define OUT_BUFSIZE	((size_t)256 << 10)
#define ETH_IPV4	0x0800u
#define ETH_IPV6	0x86ddu

struct pcapout_conn {
	struct pcapout_ep end[2];	/* 0 client, 1 server */
	uint32_t seq[2];		/* next sequence number each sends */
	struct pcapout_conn *prev;
	struct pcapout_conn *next;
};

struct pcapout {
	FILE *fp;
	char name[NAME_LEN];
	char err[ERR_LEN];
	int failed;
	uint64_t nconns;
	uint16_t ipid;
	struct timespec last;	/* time of the last packet */
	struct pcapout_conn *conns;
	uint8_t pkt[PKT_MAX];
};

static const uint8_t mac_of[2][6] = {
	{ 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 },	/* client */
	{ 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 },	/* server */
};

/* --- synthesis ----------------------------------------------------------- */

/*
 * Pieces may be added one after another as long as every piece but the
 * last has an even length (16-bit words must not straddle pieces).
 */
uint32_t
pcapout_csum_add(uint32_t sum, const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t s = sum;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (n & 1)
		s += (uint32_t)b[n - 1] << 8;
	while (s >> 32)
		s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

uint16_t
pcapout_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static size_t
put_ipv4(uint8_t *ip, const struct pcapout_seg *s, size_t tcplen)
{
	memset(ip, 0, 20);
	ip[0] = 0x45;
	net_put16(ip + 2, (uint16_t)(20 + tcplen));
	net_put16(ip + 4, s->ipid);
	net_put16(ip + 6, 0x4000);	/* don't fragment */
	ip[8] = 64;
	ip[9] = IPPROTO_TCP;
	memcpy(ip + 12, s->src, 4);
	memcpy(ip + 16, s->dst, 4);
	net_put16(ip + 10, pcapout_csum_fold(pcapout_csum_add(0, ip, 20)));
	return 20;
}

static size_t
put_ipv6(uint8_t *ip, const struct pcapout_seg *s, size_t tcplen)
{
	memset(ip, 0, 40);
	ip[0] = 0x60;
	net_put16(ip + 4, (uint16_t)tcplen);
	ip[6] = IPPROTO_TCP;
	ip[7] = 64;
	memcpy(ip + 8, s->src, 16);
	memcpy(ip + 24, s->dst, 16);
	return 40;
}

/* Sum of the pseudo-header the TCP checksum covers. */
static uint32_t
pseudo_sum(const struct pcapout_seg *s, size_t tcplen)
{
	uint8_t tail[8];
	size_t alen = s->family == AF_INET ? 4 : 16;
	uint32_t sum;

	sum = pcapout_csum_add(0, s->src, alen);
	sum = pcapout_csum_add(sum, s->dst, alen);
	memset(tail, 0, sizeof(tail));
	net_put32(tail, (uint32_t)tcplen);
	tail[7] = IPPROTO_TCP;
	return pcapout_csum_add(sum, tail, sizeof(tail));
}

static void
put_tcp(uint8_t *t, const struct pcapout_seg *s, const void *payload,
    size_t n)
{
	size_t hl = 20 + s->tcpoptlen;
	uint32_t sum;

	memset(t, 0, 20);
	net_put16(t, s->sport);
	net_put16(t + 2, s->dport);
	net_put32(t + 4, s->seq);
	net_put32(t + 8, s->ack);
	t[12] = (uint8_t)(hl / 4 << 4);
	t[13] = s->flags;
	net_put16(t + 14, 65535);
	if (s->tcpoptlen > 0)
		memcpy(t + 20, s->tcpopt, s->tcpoptlen);
	if (n > 0)
		memcpy(t + hl, payload, n);
	sum = pseudo_sum(s, hl + n);
	sum = pcapout_csum_add(sum, t, hl + n);
	net_put16(t + 16, pcapout_csum_fold(sum));
}

size_t
pcapout_build_ip(uint8_t *buf, size_t cap, const struct pcapout_seg *s,
    const void *payload, size_t n)
{
	size_t iphl = s->family == AF_INET ? 20 : 40;
	size_t tcplen = 20 + s->tcpoptlen + n;

	if (s->family != AF_INET && s->family != AF_INET6)
		return 0;
	if (s->tcpoptlen % 4 != 0 || s->tcpoptlen > 40)
		return 0;
	if (tcplen > 65535 - (s->family == AF_INET ? 20 : 0))
		return 0;
	if (iphl + tcplen > cap)
		return 0;
	if (s->family == AF_INET)
		put_ipv4(buf, s, tcplen);
	else
		put_ipv6(buf, s, tcplen);
	put_tcp(buf + iphl, s, payload, n);
	return iphl + tcplen;
}

void
pcapout_put_ether(uint8_t *buf, const uint8_t dst[6], const uint8_t src[6],
    uint16_t ethertype)
{
	memcpy(buf, dst, 6);
	memcpy(buf + 6, src, 6);
	net_put16(buf + 12, ethertype);
}

void
pcapout_put_filehdr(uint8_t *buf, uint32_t linktype, uint32_t snaplen,
    int nano, int swapped)
{
	host_put32(buf, nano ? 0xa1b23c4du : 0xa1b2c3d4u, swapped);
	host_put16(buf + 4, 2, swapped);
	host_put16(buf + 6, 4, swapped);
	host_put32(buf + 8, 0, swapped);		/* thiszone */
	host_put32(buf + 12, 0, swapped);		/* sigfigs */
	host_put32(buf + 16, snaplen, swapped);
	host_put32(buf + 20, linktype, swapped);
}

void
pcapout_put_rechdr(uint8_t *buf, const struct timespec *ts, uint32_t caplen,
    uint32_t wirelen, int nano, int swapped)
{
	uint32_t frac = (uint32_t)(nano ? ts->tv_nsec : ts->tv_nsec / 1000);

	host_put32(buf, (uint32_t)ts->tv_sec, swapped);
	host_put32(buf + 4, frac, swapped);
	host_put32(buf + 8, caplen, swapped);
	host_put32(buf + 12, wirelen, swapped);
}

/* --- the writer ------------------------------------------------------------ */

static void
fail(struct pcapout *po, const char *fmt, ...)
{
	va_list ap;

	if (po->failed)
		return;
	po->failed = 1;
	va_start(ap, fmt);
	errbuf_vset(po->err, sizeof(po->err), po->name, fmt, ap);
	va_end(ap);
}

static int
put(struct pcapout *po, const void *p, size_t n)
{
	if (po->failed)
		return -1;
	if (fwrite(p, 1, n, po->fp) != n) {
		fail(po, "write: %s", strerror(errno));
		return -1;
	}
	return 0;
}

struct pcapout *
pcapout_open(const char *path, char *err, size_t errlen)
{
	uint8_t hdr[PCAPOUT_FILEHDR_LEN];
	struct pcapout *po = calloc(1, sizeof(*po));
	int fd;

	if (po == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	snprintf(po->name, sizeof(po->name), "%s",
	    strcmp(path, "-") == 0 ? "stdout" : path);
	/* Our own descriptor, even for stdout: closing it reports errors. */
	if (strcmp(path, "-") == 0)
		fd = dup(STDOUT_FILENO);
	else
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	/* A signal that interrupts a write (msgdump's SIGINT) loses nothing. */
	po->fp = fd < 0 ? NULL : cli_stream(fd, 1);
	if (po->fp == NULL && fd >= 0)
		close(fd);
	if (po->fp == NULL) {
		snprintf(err, errlen, "%s: %s", po->name, strerror(errno));
		free(po);
		return NULL;
	}
	setvbuf(po->fp, NULL, _IOFBF, OUT_BUFSIZE);
	pcapout_put_filehdr(hdr, PCAPOUT_LINKTYPE_EN10MB, PCAPOUT_SNAPLEN, 1,
	    0);
	put(po, hdr, sizeof(hdr));
	return po;
}

/* One packet from side `dir` of pc; advances its sequence number. */
static int
packet(struct pcapout *po, struct pcapout_conn *pc, int dir, uint8_t flags,
    const uint8_t *p, size_t n, const struct timespec *ts)
{
	uint8_t rec[PCAPOUT_RECHDR_LEN];
	struct pcapout_seg s;
	size_t len;

	memset(&s, 0, sizeof(s));
	s.family = pc->end[0].family;
	s.src = pc->end[dir].addr;
	s.dst = pc->end[!dir].addr;
	s.sport = pc->end[dir].port;
	s.dport = pc->end[!dir].port;
	s.seq = pc->seq[dir];
	s.ack = (flags & TCP_SEG_ACK) ? pc->seq[!dir] : 0;
	s.flags = flags;
	s.ipid = po->ipid++;
	len = pcapout_build_ip(po->pkt + ETHER_LEN, sizeof(po->pkt) - ETHER_LEN,
	    &s, p, n);
	if (len == 0) {
		fail(po, "segment of %zu bytes does not fit", n);
		return -1;
	}
	pcapout_put_ether(po->pkt, mac_of[!dir], mac_of[dir],
	    s.family == AF_INET ? ETH_IPV4 : ETH_IPV6);
	len += ETHER_LEN;
	pcapout_put_rechdr(rec, ts, (uint32_t)len, (uint32_t)len, 1, 0);
	po->last = *ts;
	pc->seq[dir] += (uint32_t)n + ((flags & TCP_SEG_SYN) ? 1 : 0) +
	    ((flags & TCP_SEG_FIN) ? 1 : 0);
	if (put(po, rec, sizeof(rec)) < 0)
		return -1;
	return put(po, po->pkt, len);
}

struct pcapout_conn *
pcapout_conn_open_ep(struct pcapout *po, const struct pcapout_ep *client,
    const struct pcapout_ep *server, const struct timespec *ts)
{
	struct pcapout_conn *pc;
	uint32_t n = (uint32_t)po->nconns;

	if (po->failed)
		return NULL;
	if ((client->family != AF_INET && client->family != AF_INET6) ||
	    server->family != client->family) {
		fail(po, "end points of families %d and %d", client->family,
		    server->family);
		return NULL;
	}
	pc = calloc(1, sizeof(*pc));
	if (pc == NULL) {
		fail(po, "%s", strerror(errno));
		return NULL;
	}
	pc->end[0] = *client;
	pc->end[1] = *server;
	/* Distinct per connection, deterministic. */
	pc->seq[0] = 0x40000000u + n * 0x00100000u;
	pc->seq[1] = 0xc0000000u + n * 0x00100000u;
	po->nconns++;
	pc->next = po->conns;
	if (po->conns != NULL)
		po->conns->prev = pc;
	po->conns = pc;
	packet(po, pc, 0, TCP_SEG_SYN, NULL, 0, ts);
	packet(po, pc, 1, TCP_SEG_SYN | TCP_SEG_ACK, NULL, 0, ts);
	if (packet(po, pc, 0, TCP_SEG_ACK, NULL, 0, ts) < 0)
		return NULL;	/* stays on the list: freed by close */
	return pc;
}

struct pcapout_conn *
pcapout_conn_open(struct pcapout *po, const struct pcapout_addr *client,
    const struct pcapout_addr *server, const struct timespec *ts)
{
	struct pcapout_ep c, s;

	memset(&c, 0, sizeof(c));
	memset(&s, 0, sizeof(s));
	c.family = s.family = AF_INET;
	memcpy(c.addr, client->addr, 4);
	memcpy(s.addr, server->addr, 4);
	c.port = client->port;
	s.port = server->port;
	return pcapout_conn_open_ep(po, &c, &s, ts);
}

int
pcapout_data(struct pcapout *po, struct pcapout_conn *pc, int dir,
    const void *p, size_t n, const struct timespec *ts)
{
	const uint8_t *b = p;

	if (dir != 0 && dir != 1) {
		fail(po, "direction %d", dir);
		return -1;
	}
	while (n > 0) {
		size_t k = n < PCAPOUT_SEG_MAX ? n : PCAPOUT_SEG_MAX;

		if (packet(po, pc, dir, TCP_SEG_PSH | TCP_SEG_ACK, b, k,
		    ts) < 0)
			return -1;
		b += k;
		n -= k;
	}
	return po->failed ? -1 : 0;
}

static void
conn_unlink(struct pcapout *po, struct pcapout_conn *pc)
{
	if (pc->prev != NULL)
		pc->prev->next = pc->next;
	else
		po->conns = pc->next;
	if (pc->next != NULL)
		pc->next->prev = pc->prev;
}

int
pcapout_conn_close(struct pcapout *po, struct pcapout_conn *pc,
    const struct timespec *ts)
{
	packet(po, pc, 0, TCP_SEG_FIN | TCP_SEG_ACK, NULL, 0, ts);
	packet(po, pc, 1, TCP_SEG_FIN | TCP_SEG_ACK, NULL, 0, ts);
	packet(po, pc, 0, TCP_SEG_ACK, NULL, 0, ts);
	conn_unlink(po, pc);
	free(pc);
	return po->failed ? -1 : 0;
}

int
pcapout_close(struct pcapout *po, char *err, size_t errlen)
{
	int rc;

	while (po->conns != NULL) {
		struct timespec ts = po->last;

		pcapout_conn_close(po, po->conns, &ts);
	}
	if (fflush(po->fp) != 0)
		fail(po, "write: %s", strerror(errno));
	if (fclose(po->fp) != 0)
		fail(po, "close: %s", strerror(errno));
	rc = po->failed ? -1 : 0;
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", po->err);
	free(po);
	return rc;
}

const char *
pcapout_error(const struct pcapout *po)
{
	return po->err;
}
