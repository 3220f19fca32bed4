/*
 * pcapout.h - write byte streams as a pcap of synthesised TCP connections,
 * over IPv4 or IPv6 as the original connections were.
 *
 *	po = pcapout_open(path, err, sizeof(err));
 *	pc = pcapout_conn_open(po, &client, &server, &ts);
 *	pcapout_data(po, pc, 0, p, n, &ts);	(0 client -> server)
 *	pcapout_data(po, pc, 1, q, m, &ts);
 *	pcapout_conn_close(po, pc, &ts);
 *	if (pcapout_close(po, err, sizeof(err)) < 0) ... err says why
 *
 * What a caller may rely on:
 * - The file is classic pcap with the nanosecond magic (a1b23c4d, host
 *   byte order; libpcap >= 1.5, tcpdump and tshark read it), link type
 *   Ethernet, snaplen 262144. Nothing is cut: every byte given is in it.
 * - Each connection is IPv4 or IPv6, as its end points are, with a full
 *   handshake (SYN, SYN+ACK, ACK), one PSH+ACK segment per
 *   pcapout_data() call, or several of at most PCAPOUT_SEG_MAX bytes
 *   when it does not fit, and an orderly close (FIN+ACK each way, then
 *   the last ACK). Sequence and acknowledgement numbers are consistent,
 *   IPv4 and TCP checksums valid, so a TCP
 *   reassembler (tshark's "follow,tcp,raw", tcpreasm) gives back exactly
 *   the bytes given, per direction.
 * - The output is a function of the calls alone (initial sequence
 *   numbers, IP ids and MAC addresses are derived from a counter), so
 *   the same calls write the same file.
 * - Errors are sticky: after the first failed write every call fails,
 *   and pcapout_close() returns -1 too, so a caller that checks only
 *   pcapout_close() loses no error (ENOSPC included). "-" is standard
 *   output.
 * - Addresses are written as given: an IPv6 connection stays IPv6 (its
 *   frames have Ethernet type 86dd), so tcpdump, tshark and filters on
 *   the file see the original end points.
 *
 * The packet synthesis below the writer (headers, checksums, pcap record
 * headers) is exported for tests/helpers/mkpcap, which builds the
 * capture variants (IPv6, other link types, byte orders) the tests need.
 */
#ifndef PCAPOUT_H
#define PCAPOUT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define PCAPOUT_SNAPLEN		262144
#define PCAPOUT_SEG_MAX		65000	/* payload bytes per segment */
#define PCAPOUT_LINKTYPE_EN10MB	1

/* An IPv4 end point: address in network order, port in host order. */
struct pcapout_addr {
	uint8_t addr[4];
	uint16_t port;
};

/*
 * An end point of either family: AF_INET with the address in the first
 * 4 bytes, or AF_INET6, as in struct tcp_segment; port in host order.
 */
struct pcapout_ep {
	int family;
	uint8_t addr[16];
	uint16_t port;
};

struct pcapout;
struct pcapout_conn;

/* NULL on failure with "PATH: reason" in err. */
struct pcapout *pcapout_open(const char *path, char *err, size_t errlen);

/*
 * Write the handshake at time ts. NULL on error (see pcapout_error),
 * which two end points of different families are.
 */
struct pcapout_conn *pcapout_conn_open_ep(struct pcapout *po,
    const struct pcapout_ep *client, const struct pcapout_ep *server,
    const struct timespec *ts);
/* The same for two IPv4 end points. */
struct pcapout_conn *pcapout_conn_open(struct pcapout *po,
    const struct pcapout_addr *client, const struct pcapout_addr *server,
    const struct timespec *ts);

/* n bytes from `dir` (0 client -> server, 1 back). 0 or -1. */
int pcapout_data(struct pcapout *po, struct pcapout_conn *pc, int dir,
    const void *p, size_t n, const struct timespec *ts);

/* Write the close and free pc (even on error). 0 or -1. */
int pcapout_conn_close(struct pcapout *po, struct pcapout_conn *pc,
    const struct timespec *ts);

/*
 * Close connections still open (FIN each way, at the time of the last
 * packet), flush, close the file and free po. 0, or -1 when anything
 * failed since pcapout_open, with the first failure in err (which may be
 * NULL): "PATH: write: No space left on device".
 */
int pcapout_close(struct pcapout *po, char *err, size_t errlen);

/* The first error so far, "PATH: reason"; "" if none. */
const char *pcapout_error(const struct pcapout *po);

/* --- packet synthesis, shared with tests/helpers/mkpcap --------------- */

/* One TCP segment to synthesise. */
struct pcapout_seg {
	int family;		/* AF_INET or AF_INET6 */
	const uint8_t *src;	/* 4 or 16 bytes, network order */
	const uint8_t *dst;
	uint16_t sport;
	uint16_t dport;
	uint32_t seq;
	uint32_t ack;
	uint8_t flags;		/* TCP_SEG_* of tcpreasm.h */
	uint16_t ipid;		/* IPv4 identification */
	const uint8_t *tcpopt;	/* TCP options, or NULL */
	size_t tcpoptlen;	/* a multiple of 4, at most 40 */
};

/* Bytes of IP and TCP headers pcapout_build_ip writes. */
#define PCAPOUT_IPV4_HDRS	40
#define PCAPOUT_IPV6_HDRS	60

/*
 * Write the IP header, the TCP header (window 65535, the options given)
 * and the payload into buf, checksums computed. Returns the packet's
 * length, or 0 when it does not fit in cap or in an IP packet (n over
 * 65495 for IPv4, 65515 for IPv6, less the options), or the options are
 * not a multiple of 4 up to 40 bytes.
 */
size_t pcapout_build_ip(uint8_t *buf, size_t cap,
    const struct pcapout_seg *s, const void *payload, size_t n);

/* An Ethernet header: 14 bytes. */
void pcapout_put_ether(uint8_t *buf, const uint8_t dst[6],
    const uint8_t src[6], uint16_t ethertype);

/* The Internet checksum of p[0..n), continuing from `sum`. */
uint32_t pcapout_csum_add(uint32_t sum, const void *p, size_t n);
uint16_t pcapout_csum_fold(uint32_t sum);

/* The 24 bytes of a pcap file header. */
#define PCAPOUT_FILEHDR_LEN	24
#define PCAPOUT_RECHDR_LEN	16

/*
 * `nano`: nanosecond timestamps (magic a1b23c4d); `swapped`: every field
 * in the byte order opposite to the host's, as a host of the other
 * endianness would write.
 */
void pcapout_put_filehdr(uint8_t *buf, uint32_t linktype, uint32_t snaplen,
    int nano, int swapped);
void pcapout_put_rechdr(uint8_t *buf, const struct timespec *ts,
    uint32_t caplen, uint32_t wirelen, int nano, int swapped);

#endif
