/*
 * test_pcapout.c - what pcapout writes reads back, byte for byte,
 * through input and tcpreasm; the headers are valid (checksums verified
 * here by an independent sum); write errors are never lost.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tools/lib/input.h"
#include "tools/lib/pcapout.h"
#include "tools/lib/tcpreasm.h"

#define MAXCONN 4

struct got {
	uint8_t *buf[MAXCONN][2];
	size_t len[MAXCONN][2];
	struct reasm_conn conn[MAXCONN];
	char reason[MAXCONN][32];
	size_t nconn;
	uint64_t gaps;
	struct timespec last_ts;
};

static void
on_open(void *ctx, struct reasm_conn *c)
{
	struct got *g = ctx;

	assert_true(c->id <= MAXCONN);
	g->conn[c->id - 1] = *c;
	g->nconn = c->id;
}

static void
on_data(void *ctx, struct reasm_conn *c, int dir, uint64_t off,
    const uint8_t *p, size_t n, const struct timespec *ts)
{
	struct got *g = ctx;
	size_t i = c->id - 1;

	assert_int_equal(off, g->len[i][dir]);
	g->buf[i][dir] = realloc(g->buf[i][dir], g->len[i][dir] + n);
	assert_non_null(g->buf[i][dir]);
	memcpy(g->buf[i][dir] + g->len[i][dir], p, n);
	g->len[i][dir] += n;
	g->last_ts = *ts;
}

static void
on_gap(void *ctx, struct reasm_conn *c, int dir, uint64_t off,
    uint64_t missing, const struct timespec *ts)
{
	struct got *g = ctx;

	(void)c, (void)dir, (void)off, (void)missing, (void)ts;
	g->gaps++;
}

static void
on_close(void *ctx, struct reasm_conn *c, const char *reason)
{
	struct got *g = ctx;

	snprintf(g->reason[c->id - 1], sizeof(g->reason[0]), "%s", reason);
}

static void
got_free(struct got *g)
{
	size_t i;

	for (i = 0; i < MAXCONN; i++) {
		free(g->buf[i][0]);
		free(g->buf[i][1]);
	}
}

/* Read a capture back through input and tcpreasm; count the segments. */
static void
read_back(const char *path, struct got *g, size_t *big_segments)
{
	static const struct reasm_ops ops = { on_open, on_data, on_gap,
	    on_close };
	struct tcp_segment seg;
	char err[512];
	struct input *in;
	struct reasm *r;
	int rc;

	memset(g, 0, sizeof(*g));
	*big_segments = 0;
	in = input_open(path, INPUT_AUTO, NULL, NULL, err, sizeof(err));
	assert_non_null(in);
	assert_int_equal(input_format(in), INPUT_PCAP);
	r = reasm_new(&ops, g, NULL);
	assert_non_null(r);
	while ((rc = input_next_segment(in, &seg)) == 1) {
		assert_true(seg.wirelen <= PCAPOUT_SEG_MAX);
		assert_int_equal(seg.caplen, seg.wirelen);
		if (seg.wirelen == PCAPOUT_SEG_MAX)
			(*big_segments)++;
		reasm_segment(r, &seg);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(input_stats(in)->malformed, 0);
	assert_int_equal(input_stats(in)->truncated, 0);
	reasm_finish(r);
	assert_int_equal(reasm_stats(r)->dup_bytes, 0);
	reasm_free(r);
	input_close(in);
}

static void
fill(uint8_t *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed + (i >> 9));
}

static struct pcapout_addr
v4(uint8_t last, uint16_t port)
{
	struct pcapout_addr a = { { 192, 168, 1, last }, port };

	return a;
}

static const uint8_t six[2][16] = { { 0xfe, 0x80, [15] = 1 },
    { 0xfe, 0x80, [15] = 2 } };

static struct pcapout_ep
v6(int side, uint16_t port)
{
	struct pcapout_ep e;

	memset(&e, 0, sizeof(e));
	e.family = AF_INET6;
	memcpy(e.addr, six[side - 1], 16);
	e.port = port;
	return e;
}

struct session {
	uint8_t big[65536];	/* one maximal msgkit frame */
	uint8_t small[3][100];
};

/* Two connections, interleaved; returns nothing, asserts on errors. */
static void
write_session(const char *path, struct session *s)
{
	struct pcapout_addr c1 = v4(1, 40000), s1 = v4(2, 7000);
	struct pcapout_ep c2 = v6(1, 50000), s2 = v6(2, 7000);
	struct timespec ts = { 1700000000, 123456789 };
	struct pcapout_conn *a, *b;
	struct pcapout *po;
	char err[512];

	po = pcapout_open(path, err, sizeof(err));
	assert_non_null(po);
	a = pcapout_conn_open(po, &c1, &s1, &ts);
	b = pcapout_conn_open_ep(po, &c2, &s2, &ts);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(pcapout_data(po, a, 0, s->small[0], 100, &ts), 0);
	assert_int_equal(pcapout_data(po, b, 1, s->small[1], 50, &ts), 0);
	assert_int_equal(pcapout_data(po, a, 1, s->big, sizeof(s->big), &ts),
	    0);
	assert_int_equal(pcapout_data(po, a, 0, s->small[2], 0, &ts), 0);
	assert_int_equal(pcapout_data(po, b, 0, s->small[2], 100, &ts), 0);
	ts.tv_nsec++;
	assert_int_equal(pcapout_data(po, a, 0, s->big, 65001, &ts), 0);
	assert_int_equal(pcapout_conn_close(po, a, &ts), 0);
	/* b is left open: pcapout_close closes it. */
	assert_int_equal(pcapout_close(po, err, sizeof(err)), 0);
	assert_string_equal(err, "");
}

static char *
tmp_path(const char *tag)
{
	char *p;
	int fd;

	assert_true(asprintf(&p, "/tmp/test_pcapout.%s.XXXXXX", tag) > 0);
	fd = mkstemp(p);
	assert_true(fd >= 0);
	close(fd);
	return p;
}

static void
test_round_trip(void **state)
{
	struct session *s = malloc(sizeof(*s));
	char *path = tmp_path("rt");
	uint8_t want[100 + 65001];
	struct got g;
	size_t big;

	(void)state;
	assert_non_null(s);
	fill(s->big, sizeof(s->big), 1);
	fill(s->small[0], 100, 2);
	fill(s->small[1], 100, 3);
	fill(s->small[2], 100, 4);
	write_session(path, s);
	read_back(path, &g, &big);
	assert_int_equal(g.nconn, 2);
	assert_int_equal(g.gaps, 0);
	/* Conn 1: 100 + 65001 bytes up, the 65536-byte message down. */
	memcpy(want, s->small[0], 100);
	memcpy(want + 100, s->big, 65001);
	assert_int_equal(g.len[0][0], sizeof(want));
	assert_memory_equal(g.buf[0][0], want, sizeof(want));
	assert_int_equal(g.len[0][1], 65536);
	assert_memory_equal(g.buf[0][1], s->big, 65536);
	/* Both larger writes were split at PCAPOUT_SEG_MAX. */
	assert_int_equal(big, 2);
	assert_string_equal(g.reason[0], "FIN");
	assert_true(g.conn[0].syn_seen);
	assert_int_equal(g.conn[0].client.port, 40000);
	assert_int_equal(g.conn[0].server.port, 7000);
	assert_memory_equal(g.conn[0].client.addr, "\xc0\xa8\x01\x01", 4);
	/* Conn 2 stays IPv6, its end points as given. */
	assert_int_equal(g.conn[1].family, AF_INET6);
	assert_memory_equal(g.conn[1].client.addr, six[0], 16);
	assert_memory_equal(g.conn[1].server.addr, six[1], 16);
	assert_int_equal(g.conn[1].client.port, 50000);
	assert_int_equal(g.len[1][0], 100);
	assert_memory_equal(g.buf[1][0], s->small[2], 100);
	assert_int_equal(g.len[1][1], 50);
	assert_memory_equal(g.buf[1][1], s->small[1], 50);
	assert_string_equal(g.reason[1], "FIN");
	/* Nanoseconds survive. */
	assert_int_equal(g.last_ts.tv_sec, 1700000000);
	assert_int_equal(g.last_ts.tv_nsec, 123456790);
	got_free(&g);
	unlink(path);
	free(path);
	free(s);
}

/* The same calls write the same bytes. */
static void
test_deterministic(void **state)
{
	struct session *s = calloc(1, sizeof(*s));
	char *p1 = tmp_path("d1"), *p2 = tmp_path("d2");
	char cmd[256];
	uint8_t magic[4];
	uint32_t m;
	FILE *f;

	(void)state;
	assert_non_null(s);
	fill(s->big, sizeof(s->big), 5);
	write_session(p1, s);
	write_session(p2, s);
	snprintf(cmd, sizeof(cmd), "cmp -s %s %s", p1, p2);
	assert_int_equal(system(cmd), 0);
	f = fopen(p1, "rb");
	assert_non_null(f);
	assert_int_equal(fread(magic, 1, 4, f), 4);
	fclose(f);
	/* Nanosecond pcap, host byte order. */
	memcpy(&m, magic, sizeof(m));
	assert_int_equal(m, 0xa1b23c4du);
	unlink(p1);
	unlink(p2);
	free(p1);
	free(p2);
	free(s);
}

/* An independent Internet checksum: sums to 0xffff when valid. */
static uint32_t
sum16(const uint8_t *p, size_t n, uint32_t s)
{
	size_t i;

	for (i = 0; i < n; i++)
		s += (i % 2 == 0) ? (uint32_t)p[i] << 8 : p[i];
	while (s > 0xffff)
		s = (s & 0xffff) + (s >> 16);
	return s;
}

static void
test_checksums(void **state)
{
	struct session *s = calloc(1, sizeof(*s));
	char *path = tmp_path("ck");
	char ebuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *d;
	unsigned frames = 0, frames6 = 0;
	pcap_t *p;

	(void)state;
	assert_non_null(s);
	fill(s->big, sizeof(s->big), 6);
	write_session(path, s);
	p = pcap_open_offline(path, ebuf);
	assert_non_null(p);
	assert_int_equal(pcap_datalink(p), DLT_EN10MB);
	assert_int_equal(pcap_snapshot(p), PCAPOUT_SNAPLEN);
	while (pcap_next_ex(p, &h, &d) == 1) {
		const uint8_t *ip = d + 14;
		size_t tot = (size_t)(ip[2] << 8 | ip[3]);
		uint8_t pseudo[40];

		assert_int_equal(h->caplen, h->len);
		if ((d[12] << 8 | d[13]) == 0x86dd) {
			/* IPv6: no header checksum; the pseudo-header. */
			tot = (size_t)(ip[4] << 8 | ip[5]);
			assert_int_equal(h->len, 14 + 40 + tot);
			assert_int_equal(ip[0] >> 4, 6);
			assert_int_equal(ip[6], 6);
			memcpy(pseudo, ip + 8, 32);
			memset(pseudo + 32, 0, 8);
			pseudo[34] = (uint8_t)(tot >> 8);
			pseudo[35] = (uint8_t)tot;
			pseudo[39] = 6;
			assert_int_equal(sum16(ip + 40, tot,
			    sum16(pseudo, 40, 0)), 0xffff);
			frames6++;
			frames++;
			continue;
		}
		assert_int_equal(h->len, 14 + tot);
		assert_int_equal(d[12] << 8 | d[13], 0x0800);
		assert_int_equal(ip[0], 0x45);
		assert_int_equal(sum16(ip, 20, 0), 0xffff);
		memcpy(pseudo, ip + 12, 8);
		pseudo[8] = 0;
		pseudo[9] = 6;
		pseudo[10] = (uint8_t)((tot - 20) >> 8);
		pseudo[11] = (uint8_t)(tot - 20);
		assert_int_equal(sum16(ip + 20, tot - 20,
		    sum16(pseudo, 12, 0)), 0xffff);
		frames++;
	}
	/* Connection 2's: handshake, 2 data segments, close. */
	assert_int_equal(frames6, 3 + 2 + 3);
	/* 2 handshakes, 7 data segments, 2 closes. */
	assert_int_equal(frames, 6 + 7 + 6);
	pcap_close(p);
	unlink(path);
	free(path);
	free(s);
}

/* A full disk: the error reaches pcapout_close, whatever was checked. */
static void
test_enospc(void **state)
{
	struct pcapout_addr c = v4(1, 1), sv = v4(2, 2);
	struct timespec ts = { 1, 0 };
	static uint8_t data[65536];
	struct pcapout_conn *pc;
	struct pcapout *po;
	char err[512];
	int i, failed = 0;

	(void)state;
	po = pcapout_open("/dev/full", err, sizeof(err));
	assert_non_null(po);
	pc = pcapout_conn_open(po, &c, &sv, &ts);
	for (i = 0; i < 10 && pc != NULL; i++)
		if (pcapout_data(po, pc, 0, data, sizeof(data), &ts) < 0)
			failed = 1;
	/* Past the stdio buffer, the write itself failed... */
	assert_true(failed);
	assert_non_null(strstr(pcapout_error(po), "No space left"));
	/* ...and later calls fail too. */
	assert_int_equal(pcapout_data(po, pc, 1, data, 1, &ts), -1);
	assert_int_equal(pcapout_close(po, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/dev/full: write: No space left"));

	/* Small enough to sit in the buffer: the error comes at close. */
	po = pcapout_open("/dev/full", err, sizeof(err));
	assert_non_null(po);
	pc = pcapout_conn_open(po, &c, &sv, &ts);
	assert_non_null(pc);
	assert_int_equal(pcapout_data(po, pc, 0, data, 10, &ts), 0);
	assert_int_equal(pcapout_close(po, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No space left"));
}

static void
test_open_error(void **state)
{
	char err[512];

	(void)state;
	assert_null(pcapout_open("/nonexistent/dir/x.pcap", err,
	    sizeof(err)));
	assert_string_equal(err,
	    "/nonexistent/dir/x.pcap: No such file or directory");
}

/* End points of two families, or of none: refused, and said why. */
static void
test_mixed_families(void **state)
{
	struct pcapout_ep c = v6(1, 1), sv = v6(2, 2);
	struct timespec ts = { 1, 0 };
	struct pcapout *po;
	char *path = tmp_path("mix");
	char err[512];

	(void)state;
	po = pcapout_open(path, err, sizeof(err));
	assert_non_null(po);
	sv.family = AF_INET;
	assert_null(pcapout_conn_open_ep(po, &c, &sv, &ts));
	assert_non_null(strstr(pcapout_error(po), "families 10 and 2"));
	assert_int_equal(pcapout_close(po, err, sizeof(err)), -1);
	unlink(path);
	free(path);
}

static void
test_build_limits(void **state)
{
	static uint8_t buf[70000], payload[65536];
	static const uint8_t a[16];
	struct pcapout_seg s;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.family = AF_INET;
	s.src = s.dst = a;
	assert_int_equal(pcapout_build_ip(buf, sizeof(buf), &s, payload,
	    65495), 65535);
	assert_int_equal(pcapout_build_ip(buf, sizeof(buf), &s, payload,
	    65496), 0);
	assert_int_equal(pcapout_build_ip(buf, 100, &s, payload, 61), 0);
	s.family = AF_INET6;
	assert_int_equal(pcapout_build_ip(buf, sizeof(buf), &s, payload,
	    65515), 65575);
	assert_int_equal(pcapout_build_ip(buf, sizeof(buf), &s, payload,
	    65516), 0);
	s.family = AF_UNIX;
	assert_int_equal(pcapout_build_ip(buf, sizeof(buf), &s, payload, 1),
	    0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_checksums),
		cmocka_unit_test(test_enospc),
		cmocka_unit_test(test_open_error),
		cmocka_unit_test(test_mixed_families),
		cmocka_unit_test(test_build_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
