/*
 * input.c - open a raw stream or a capture; decode link, IP and TCP.
 *
 * The format is sniffed with read(2) on the descriptor, so a pipe works:
 * a raw stream hands the sniffed bytes out first; a capture on a
 * seekable file seeks back, one on a pipe gets a stdio stream
 * (fopencookie) that replays them before the rest. libpcap parses the
 * file; the headers inside each frame are decoded here, every read
 * checked against the captured length first.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "errbuf.h"
#include "input.h"
#include "libproto/proto_wire.h"

#define SNIFF_LEN	4
#define NAME_MAX_LEN	256
#define ERR_LEN		(NAME_MAX_LEN + 256)
#define VLAN_MAX	4	/* stacked 802.1Q tags looked through */
#define IP6_EXT_MAX	16	/* extension headers looked through */

#define ETH_IPV4	0x0800u
#define ETH_IPV6	0x86ddu

#define LINKTYPE_RAW_12		12	/* DLT_RAW on most systems */
#define LINKTYPE_RAW_14		14	/* DLT_RAW on OpenBSD */
#define LINKTYPE_RAW		101
#define LINKTYPE_IPV4		228
#define LINKTYPE_IPV6		229
#define LINKTYPE_LOOP		108
#define LINKTYPE_LINUX_SLL	113
#define LINKTYPE_LINUX_SLL2	276

/* What decoding a frame came to. */
enum verdict {
	V_TCP,		/* *seg filled */
	V_OTHER,	/* not IPv4/IPv6 TCP */
	V_FRAGMENT,	/* an IP fragment after the first */
	V_TRUNCATED,	/* headers cut by the snaplen */
	V_MALFORMED	/* impossible header values */
};

/* The network layer a link header announces. */
enum net {
	NET_OTHER,
	NET_IPV4,
	NET_IPV6,
	NET_IP		/* raw IP: the version nibble decides */
};

/* Bytes that were sniffed and must be handed out again. */
struct replay {
	int fd;
	const volatile sig_atomic_t *stop;	/* NULL, or set to stop */
	uint8_t peek[SNIFF_LEN];
	size_t peeklen;
	size_t peekpos;
	uint64_t consumed;	/* bytes handed to the reader */
};

struct input {
	enum input_format fmt;
	char name[NAME_MAX_LEN];
	char err[ERR_LEN];
	struct replay rp;	/* raw input, and captures on a pipe */
	int seekable;		/* the capture is read from a regular file */
	uint64_t total;		/* file size, 0 when unknown */
	pcap_t *pcap;
	int dlt;
	int have_filter;
	struct bpf_program prog;
	struct input_stats st;
};

/* One frame being decoded. */
struct frame {
	const uint8_t *p;
	size_t cap;		/* bytes captured */
	size_t wire;		/* bytes on the wire */
	char why[INPUT_REASON_MAX - 16];	/* room for "truncated: " */
};

static void
seterr(struct input *in, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errbuf_vset(in->err, sizeof(in->err), in->name, fmt, ap);
	va_end(ap);
}

/* Record why a frame was skipped; returns v. */
static enum verdict
verdict(struct frame *f, enum verdict v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->why, sizeof(f->why), fmt, ap);
	va_end(ap);
	return v;
}

/* --- reading with the sniffed bytes put back ---------------------------- */

static int
stopped(const struct replay *rp)
{
	return rp->stop != NULL && *rp->stop;
}

/*
 * read(2) with the sniffed bytes first. A signal that sets the stop flag
 * ends a blocked read: -1 with errno EINTR; other signals are retried.
 */
static ssize_t
replay_read(struct replay *rp, void *buf, size_t n)
{
	ssize_t r;

	if (n == 0)
		return 0;
	if (stopped(rp)) {
		errno = EINTR;
		return -1;
	}
	if (rp->peekpos < rp->peeklen) {
		size_t k = rp->peeklen - rp->peekpos;

		if (k > n)
			k = n;
		memcpy(buf, rp->peek + rp->peekpos, k);
		rp->peekpos += k;
		rp->consumed += k;
		return (ssize_t)k;
	}
	do
		r = read(rp->fd, buf, n);
	while (r < 0 && errno == EINTR && !stopped(rp));
	if (r > 0)
		rp->consumed += (uint64_t)r;
	return r;
}

static ssize_t
cookie_read(void *cookie, char *buf, size_t n)
{
	return replay_read(cookie, buf, n);
}

/* Fill peek[] with up to SNIFF_LEN bytes; fewer only at end of file. */
static int
sniff(struct replay *rp)
{
	while (rp->peeklen < SNIFF_LEN) {
		ssize_t r = read(rp->fd, rp->peek + rp->peeklen,
		    SNIFF_LEN - rp->peeklen);

		if (r < 0 && errno == EINTR && stopped(rp))
			break;		/* taken as the end of the input */
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		rp->peeklen += (size_t)r;
	}
	return 0;
}

static int
is_capture_magic(const struct replay *rp)
{
	static const uint8_t magics[][SNIFF_LEN] = {
		{ 0xa1, 0xb2, 0xc3, 0xd4 }, { 0xd4, 0xc3, 0xb2, 0xa1 },
		{ 0xa1, 0xb2, 0x3c, 0x4d }, { 0x4d, 0x3c, 0xb2, 0xa1 },
		{ 0x0a, 0x0d, 0x0d, 0x0a },
	};
	size_t i;

	if (rp->peeklen < SNIFF_LEN)
		return 0;
	for (i = 0; i < sizeof(magics) / sizeof(magics[0]); i++)
		if (memcmp(rp->peek, magics[i], SNIFF_LEN) == 0)
			return 1;
	return 0;
}

/* --- opening ------------------------------------------------------------ */

static int
link_supported(int dlt)
{
	switch (dlt) {
	case DLT_NULL:
	case DLT_EN10MB:
	case LINKTYPE_RAW_12:
	case LINKTYPE_RAW_14:
	case LINKTYPE_RAW:
	case LINKTYPE_IPV4:
	case LINKTYPE_IPV6:
	case LINKTYPE_LOOP:
	case LINKTYPE_LINUX_SLL:
	case LINKTYPE_LINUX_SLL2:
		return 1;
	default:
		return 0;
	}
}

/*
 * A stdio stream libpcap can read the whole file from: the descriptor
 * itself, moved back over the sniffed bytes when it can seek, or a
 * stream that replays them.
 */
static FILE *
capture_stream(struct input *in)
{
	static const cookie_io_functions_t io = { cookie_read, NULL, NULL,
	    NULL };
	FILE *fp;

	if (lseek(in->rp.fd, -(off_t)in->rp.peeklen, SEEK_CUR) >= 0) {
		in->seekable = 1;
		fp = fdopen(in->rp.fd, "rb");
	} else {
		in->rp.consumed = 0;
		fp = fopencookie(&in->rp, "rb", io);
	}
	if (fp == NULL) {
		seterr(in, "%s", strerror(errno));
		return NULL;
	}
	if (in->seekable)
		in->rp.fd = -1;		/* fclose() closes it now */
	return fp;
}

static int
open_capture(struct input *in, const char *filter)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	FILE *fp = capture_stream(in);

	if (fp == NULL)
		return -1;
	in->pcap = pcap_fopen_offline_with_tstamp_precision(fp,
	    PCAP_TSTAMP_PRECISION_NANO, ebuf);
	if (in->pcap == NULL) {
		fclose(fp);
		seterr(in, "%s", ebuf);
		return -1;
	}
	in->dlt = pcap_datalink(in->pcap);
	if (!link_supported(in->dlt)) {
		const char *nm = pcap_datalink_val_to_name(in->dlt);

		seterr(in, "link type %d (%s) not supported", in->dlt,
		    nm != NULL ? nm : "unknown");
		return -1;
	}
	if (filter == NULL)
		return 0;
	if (pcap_compile(in->pcap, &in->prog, filter, 1,
	    PCAP_NETMASK_UNKNOWN) < 0) {
		seterr(in, "filter: %s", pcap_geterr(in->pcap));
		return -1;
	}
	in->have_filter = 1;
	return 0;
}

static int
open_fd(struct input *in, const char *path)
{
	struct stat sb;

	if (strcmp(path, "-") == 0)
		in->rp.fd = dup(STDIN_FILENO);
	else
		in->rp.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (in->rp.fd < 0) {
		seterr(in, "%s", strerror(errno));
		return -1;
	}
	if (fstat(in->rp.fd, &sb) == 0 && S_ISREG(sb.st_mode))
		in->total = (uint64_t)sb.st_size;
	if (sniff(&in->rp) < 0) {
		seterr(in, "%s", strerror(errno));
		return -1;
	}
	return 0;
}

struct input *
input_open(const char *path, enum input_format force, const char *filter,
    const volatile sig_atomic_t *stop, char *err, size_t errlen)
{
	struct input *in = calloc(1, sizeof(*in));

	if (in == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	in->rp.fd = -1;
	in->rp.stop = stop;
	snprintf(in->name, sizeof(in->name), "%s",
	    strcmp(path, "-") == 0 ? "stdin" : path);
	if (open_fd(in, path) < 0)
		goto fail;
	in->fmt = force;
	if (force == INPUT_AUTO)
		in->fmt = is_capture_magic(&in->rp) ? INPUT_PCAP : INPUT_RAW;
	if (in->fmt == INPUT_RAW && filter != NULL) {
		seterr(in, "a filter expression needs a capture, and this "
		    "is a raw stream");
		goto fail;
	}
	if (in->fmt == INPUT_PCAP && open_capture(in, filter) < 0)
		goto fail;
	return in;
fail:
	snprintf(err, errlen, "%s", in->err);
	input_close(in);
	return NULL;
}

void
input_close(struct input *in)
{
	if (in == NULL)
		return;
	if (in->have_filter)
		pcap_freecode(&in->prog);
	if (in->pcap != NULL)
		pcap_close(in->pcap);
	if (in->rp.fd >= 0)
		close(in->rp.fd);
	free(in);
}

enum input_format
input_format(const struct input *in)
{
	return in->fmt;
}

const char *
input_name(const struct input *in)
{
	return in->name;
}

const char *
input_error(const struct input *in)
{
	return in->err;
}

const struct input_stats *
input_stats(const struct input *in)
{
	return &in->st;
}

int
input_linktype(const struct input *in)
{
	return in->dlt;
}

const char *
input_linktype_name(const struct input *in)
{
	const char *nm;

	if (in->fmt != INPUT_PCAP)
		return "raw";
	nm = pcap_datalink_val_to_name(in->dlt);
	return nm != NULL ? nm : "unknown";
}

void
input_progress(const struct input *in, uint64_t *done, uint64_t *total)
{
	off_t pos;

	*total = in->total;
	*done = in->rp.consumed;
	if (in->pcap != NULL && in->seekable) {
		pos = ftello(pcap_file(in->pcap));
		*done = pos >= 0 ? (uint64_t)pos : 0;
	}
}

ssize_t
input_read(struct input *in, void *buf, size_t n)
{
	ssize_t r;

	if (in->fmt != INPUT_RAW) {
		seterr(in, "not a raw stream");
		return -1;
	}
	r = replay_read(&in->rp, buf, n);
	if (r < 0 && errno == EINTR && stopped(&in->rp))
		return 0;
	if (r < 0)
		seterr(in, "read: %s", strerror(errno));
	return r;
}

/* --- decoding ------------------------------------------------------------ */

static enum verdict
decode_tcp(struct frame *f, const uint8_t *t, size_t cap, size_t wire,
    struct tcp_segment *seg)
{
	size_t doff;

	if (wire < 20)
		return verdict(f, V_MALFORMED,
		    "TCP header: the IP payload has only %zu bytes", wire);
	if (cap < 20)
		return verdict(f, V_TRUNCATED, "TCP header cut at %zu bytes",
		    cap);
	doff = (size_t)(t[12] >> 4) * 4;
	if (doff < 20)
		return verdict(f, V_MALFORMED, "TCP data offset %zu", doff);
	if (doff > wire)
		return verdict(f, V_MALFORMED,
		    "TCP data offset %zu exceeds the segment (%zu bytes)",
		    doff, wire);
	if (doff > cap)
		return verdict(f, V_TRUNCATED, "TCP options cut at %zu bytes",
		    cap);
	seg->sport = net_get16(t);
	seg->dport = net_get16(t + 2);
	seg->seq = net_get32(t + 4);
	seg->ack = net_get32(t + 8);
	seg->flags = t[13];
	seg->payload = t + doff;
	seg->caplen = (uint32_t)(cap - doff);
	seg->wirelen = (uint32_t)(wire - doff);
	return V_TCP;
}

/* Check the fixed IP header fits: cut short, or impossible. */
static enum verdict
ip_header_fits(struct frame *f, const char *what, size_t need, size_t cap,
    size_t wire)
{
	if (wire < need)
		return verdict(f, V_MALFORMED,
		    "%s header: the frame has only %zu bytes left", what, wire);
	if (cap < need)
		return verdict(f, V_TRUNCATED, "%s header cut at %zu bytes",
		    what, cap);
	return V_TCP;
}

static enum verdict
decode_ipv4(struct frame *f, size_t off, struct tcp_segment *seg)
{
	const uint8_t *ip = f->p + off;
	size_t cap = f->cap - off, wire = f->wire - off;
	size_t hl, tot;
	enum verdict v;

	if ((v = ip_header_fits(f, "IPv4", 20, cap, wire)) != V_TCP)
		return v;
	if (ip[0] >> 4 != 4)
		return verdict(f, V_MALFORMED, "IPv4 version %u", ip[0] >> 4);
	hl = (size_t)(ip[0] & 0x0f) * 4;
	tot = net_get16(ip + 2);
	if (tot == 0)
		tot = wire;	/* segmentation offload: see input.h */
	if (hl < 20)
		return verdict(f, V_MALFORMED, "IPv4 header length %zu", hl);
	if (tot < hl)
		return verdict(f, V_MALFORMED,
		    "IPv4 total length %zu below the header length %zu",
		    tot, hl);
	if (tot > wire)
		return verdict(f, V_MALFORMED,
		    "IPv4 total length %zu exceeds the frame (%zu bytes)",
		    tot, wire);
	if (hl > cap)
		return verdict(f, V_TRUNCATED, "IPv4 options cut at %zu bytes",
		    cap);
	if ((net_get16(ip + 6) & 0x1fff) != 0)
		return V_FRAGMENT;
	if (ip[9] != IPPROTO_TCP)
		return V_OTHER;
	seg->family = AF_INET;
	memcpy(seg->src, ip + 12, 4);
	memcpy(seg->dst, ip + 16, 4);
	if (cap > tot)
		cap = tot;	/* Ethernet padding is not payload */
	return decode_tcp(f, ip + hl, cap - hl, tot - hl, seg);
}

/*
 * Walk the IPv6 extension headers from *pos to the upper layer; *nh is
 * the next header value. Returns V_TCP to go on with *nh at *pos.
 */
static enum verdict
ipv6_walk(struct frame *f, const uint8_t *ip, size_t cap, size_t end,
    size_t *pos, uint8_t *nh)
{
	int n;

	for (n = 0; n < IP6_EXT_MAX; n++) {
		size_t len;

		switch (*nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case IPPROTO_AH:
		case IPPROTO_FRAGMENT:
			break;
		default:
			return V_TCP;
		}
		if (*pos + 8 > end)
			return verdict(f, V_MALFORMED, "IPv6 extension header "
			    "%u overruns the packet", *nh);
		if (*pos + 8 > cap)
			return verdict(f, V_TRUNCATED, "IPv6 extension header "
			    "%u cut", *nh);
		if (*nh == IPPROTO_FRAGMENT) {
			if ((net_get16(ip + *pos + 2) & 0xfff8) != 0)
				return V_FRAGMENT;
			len = 8;
		} else if (*nh == IPPROTO_AH)
			len = ((size_t)ip[*pos + 1] + 2) * 4;
		else
			len = ((size_t)ip[*pos + 1] + 1) * 8;
		*nh = ip[*pos];
		*pos += len;
		if (*pos > end)
			return verdict(f, V_MALFORMED, "IPv6 extension header "
			    "overruns the packet");
	}
	return verdict(f, V_MALFORMED, "more than %d IPv6 extension headers",
	    IP6_EXT_MAX);
}

static enum verdict
decode_ipv6(struct frame *f, size_t off, struct tcp_segment *seg)
{
	const uint8_t *ip = f->p + off;
	size_t cap = f->cap - off, wire = f->wire - off;
	size_t plen, end, pos = 40;
	uint8_t nh;
	enum verdict v;

	if ((v = ip_header_fits(f, "IPv6", 40, cap, wire)) != V_TCP)
		return v;
	if (ip[0] >> 4 != 6)
		return verdict(f, V_MALFORMED, "IPv6 version %u", ip[0] >> 4);
	plen = net_get16(ip + 4);
	if (plen == 0)
		plen = wire - 40;	/* jumbogram or offload */
	if (40 + plen > wire)
		return verdict(f, V_MALFORMED,
		    "IPv6 payload length %zu exceeds the frame (%zu bytes)",
		    plen, wire);
	end = 40 + plen;
	if (cap > end)
		cap = end;
	nh = ip[6];
	if ((v = ipv6_walk(f, ip, cap, end, &pos, &nh)) != V_TCP)
		return v;
	if (nh != IPPROTO_TCP)
		return V_OTHER;
	if (pos > cap)
		return verdict(f, V_TRUNCATED, "IPv6 extension headers cut");
	seg->family = AF_INET6;
	memcpy(seg->src, ip + 8, 16);
	memcpy(seg->dst, ip + 24, 16);
	return decode_tcp(f, ip + pos, cap - pos, end - pos, seg);
}

/* An Ethernet type: IPv4, IPv6 or something else. */
static enum net
ethertype_net(uint16_t type)
{
	if (type == ETH_IPV4)
		return NET_IPV4;
	if (type == ETH_IPV6)
		return NET_IPV6;
	return NET_OTHER;
}

/* BSD loopback address families that mean IPv6, by system. */
static int
af_is_inet6(uint32_t af)
{
	return af == 10 || af == 24 || af == 28 || af == 30;
}

static enum net
null_net(uint32_t af)
{
	if (af == 2)
		return NET_IPV4;
	return af_is_inet6(af) ? NET_IPV6 : NET_OTHER;
}

static enum verdict
link_short(struct frame *f, const char *what, size_t need)
{
	if (f->wire < need)
		return verdict(f, V_MALFORMED,
		    "%s header: the frame has only %zu bytes", what, f->wire);
	return verdict(f, V_TRUNCATED, "%s header cut at %zu bytes", what,
	    f->cap);
}

static enum verdict
link_ethernet(struct frame *f, size_t *off, enum net *net)
{
	uint16_t type;
	int tags;

	if (f->cap < 14)
		return link_short(f, "Ethernet", 14);
	type = net_get16(f->p + 12);
	*off = 14;
	for (tags = 0; tags < VLAN_MAX; tags++) {
		if (type != 0x8100 && type != 0x88a8 && type != 0x9100)
			break;
		if (f->cap < *off + 4)
			return link_short(f, "802.1Q", *off + 4);
		type = net_get16(f->p + *off + 2);
		*off += 4;
	}
	*net = ethertype_net(type);
	return V_TCP;
}

/*
 * The link header: *off is where the network layer starts, *net what it
 * is. V_TCP to go on, or why not.
 */
static enum verdict
decode_link(struct frame *f, int dlt, size_t *off, enum net *net)
{
	switch (dlt) {
	case DLT_EN10MB:
		return link_ethernet(f, off, net);
	case LINKTYPE_LINUX_SLL:
		if (f->cap < 16)
			return link_short(f, "Linux cooked", 16);
		*off = 16;
		*net = ethertype_net(net_get16(f->p + 14));
		return V_TCP;
	case LINKTYPE_LINUX_SLL2:
		if (f->cap < 20)
			return link_short(f, "Linux cooked v2", 20);
		*off = 20;
		*net = ethertype_net(net_get16(f->p));
		return V_TCP;
	case DLT_NULL:
	case LINKTYPE_LOOP:
		if (f->cap < 4)
			return link_short(f, "loopback", 4);
		*off = 4;
		/* DLT_NULL is in the capturing host's order: try both. */
		*net = null_net(net_get32(f->p));
		if (*net == NET_OTHER && dlt == DLT_NULL)
			*net = null_net(proto_get32(f->p));
		return V_TCP;
	case LINKTYPE_IPV4:
		*off = 0;
		*net = NET_IPV4;
		return V_TCP;
	case LINKTYPE_IPV6:
		*off = 0;
		*net = NET_IPV6;
		return V_TCP;
	default:
		*off = 0;
		*net = NET_IP;
		return V_TCP;
	}
}

static enum verdict
decode_frame(struct input *in, struct frame *f, struct tcp_segment *seg)
{
	size_t off = 0;
	enum net net = NET_OTHER;
	enum verdict v;

	if ((v = decode_link(f, in->dlt, &off, &net)) != V_TCP)
		return v;
	if (net == NET_IP) {
		if (f->cap < 1)
			return verdict(f, f->wire < 1 ? V_MALFORMED :
			    V_TRUNCATED, "raw IP frame without a byte");
		net = f->p[0] >> 4 == 4 ? NET_IPV4 :
		    f->p[0] >> 4 == 6 ? NET_IPV6 : NET_OTHER;
	}
	if (net == NET_IPV4)
		return decode_ipv4(f, off, seg);
	if (net == NET_IPV6)
		return decode_ipv6(f, off, seg);
	return V_OTHER;
}

static void
count(struct input *in, enum verdict v, const struct frame *f)
{
	struct input_finding *fi;

	switch (v) {
	case V_OTHER:
		in->st.non_tcp++;
		return;
	case V_FRAGMENT:
		in->st.fragments++;
		return;
	case V_TRUNCATED:
		in->st.truncated++;
		break;
	case V_MALFORMED:
		in->st.malformed++;
		break;
	case V_TCP:
		in->st.tcp++;
		return;
	}
	if (in->st.nfindings == INPUT_FINDINGS_MAX)
		return;
	fi = &in->st.findings[in->st.nfindings++];
	fi->frame = in->st.frames;
	snprintf(fi->reason, sizeof(fi->reason), "%s%s",
	    v == V_TRUNCATED ? "truncated: " : "", f->why);
}

static void
next_error(struct input *in)
{
	const char *msg = pcap_geterr(in->pcap);

	if (strstr(msg, "truncated") != NULL)
		seterr(in, "truncated capture record at frame %llu (%s)",
		    (unsigned long long)in->st.frames + 1, msg);
	else
		seterr(in, "frame %llu: %s",
		    (unsigned long long)in->st.frames + 1, msg);
}

int
input_next_segment(struct input *in, struct tcp_segment *seg)
{
	struct pcap_pkthdr *h;
	const u_char *data;
	struct frame f;
	enum verdict v;
	int rc;

	if (in->fmt != INPUT_PCAP) {
		seterr(in, "not a capture");
		return -1;
	}
	for (;;) {
		if (stopped(&in->rp))
			return 0;
		rc = pcap_next_ex(in->pcap, &h, &data);
		if (rc == PCAP_ERROR_BREAK || (rc != 1 && stopped(&in->rp)))
			return 0;
		if (rc != 1) {
			next_error(in);
			return -1;
		}
		in->st.frames++;
		if (in->have_filter &&
		    pcap_offline_filter(&in->prog, h, data) == 0) {
			in->st.filtered++;
			continue;
		}
		memset(seg, 0, sizeof(*seg));
		f.p = data;
		f.cap = h->caplen;
		f.wire = h->len > h->caplen ? h->len : h->caplen;
		f.why[0] = '\0';
		v = decode_frame(in, &f, seg);
		count(in, v, &f);
		if (v == V_TCP) {
			seg->ts.tv_sec = h->ts.tv_sec;
			seg->ts.tv_nsec = h->ts.tv_usec; /* ns: see open */
			seg->frame = in->st.frames;
			return 1;
		}
	}
}
