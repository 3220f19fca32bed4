/*
 * fuzz_input.c - a hostile capture file through the whole capture path:
 * libpcap's reader, the link, IP and TCP decoders of input.c, the TCP
 * reassembler and stream dissection.
 *
 * The input becomes an in-memory file (memfd) that input_open() reads by
 * its /proc path, as it would any file. Invariants: every segment keeps
 * caplen <= wirelen, and reassembly delivers each direction contiguously
 * from offset 0 (data and gaps never overlap nor leave holes).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dissectors/dissect.h"
#include "tools/lib/input.h"
#include "tools/lib/tcpreasm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct dir_state {
	uint64_t next;		/* where the next data or gap must start */
	struct dissect_stream ds;
};

static int
ignore(void *ctx, const struct dissect_event *ev)
{
	(void)ctx;
	(void)ev;
	return 0;
}

static void
on_open(void *ctx, struct reasm_conn *c)
{
	struct dir_state *d = calloc(2, sizeof(*d));
	int i;

	(void)ctx;
	if (d == NULL)
		abort();
	for (i = 0; i < 2; i++) {
		if (dissect_init(&d[i].ds, 1, 1) < 0)
			abort();
		if (!c->syn_seen)
			dissect_midstream(&d[i].ds);
	}
	c->user = d;
}

static void
on_data(void *ctx, struct reasm_conn *c, int dir, uint64_t offset,
    const uint8_t *p, size_t n, const struct timespec *ts)
{
	struct dir_state *d = (struct dir_state *)c->user + dir;

	(void)ctx;
	(void)ts;
	if (offset != d->next || n == 0)
		__builtin_trap();
	d->next += n;
	dissect_feed(&d->ds, p, n, ignore, NULL);
}

static void
on_gap(void *ctx, struct reasm_conn *c, int dir, uint64_t offset,
    uint64_t missing, const struct timespec *ts)
{
	struct dir_state *d = (struct dir_state *)c->user + dir;

	(void)ctx;
	(void)ts;
	if (offset != d->next || missing == 0)
		__builtin_trap();
	d->next += missing;
	dissect_gap(&d->ds, missing);
}

static void
on_close(void *ctx, struct reasm_conn *c, const char *reason)
{
	struct dir_state *d = c->user;
	int i;

	(void)ctx;
	(void)reason;
	for (i = 0; i < 2; i++) {
		dissect_eof(&d[i].ds, ignore, NULL);
		dissect_free(&d[i].ds);
	}
	free(d);
}

static const struct reasm_ops ops = { on_open, on_data, on_gap, on_close };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reasm_limits lim = { 256 << 10, 64, 4 << 20, 0 };
	struct tcp_segment seg;
	struct input *in;
	struct reasm *r;
	char path[64], err[256];
	int fd, n;

	fd = memfd_create("capture", 0);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	in = input_open(path, INPUT_PCAP, NULL, NULL, err, sizeof(err));
	if (in == NULL) {
		if (err[0] == '\0')
			__builtin_trap();	/* a failure must say why */
		close(fd);
		return 0;
	}
	r = reasm_new(&ops, NULL, &lim);
	if (r == NULL)
		abort();
	while ((n = input_next_segment(in, &seg)) == 1) {
		if (seg.caplen > seg.wirelen)
			__builtin_trap();
		reasm_segment(r, &seg);
	}
	if (n < 0 && input_error(in)[0] == '\0')
		__builtin_trap();
	reasm_finish(r);
	reasm_free(r);
	input_close(in);
	close(fd);
	return 0;
}
