/*
 * pcapcat - reassemble every TCP connection of a capture into files,
 * through tools/lib's input and tcpreasm alone (no msgdump), so the
 * integration tests can compare the streams byte for byte.
 *
 * usage: pcapcat [-f FILTER] CAPTURE OUTDIR
 *
 * Connection N (numbered in order of appearance) gives OUTDIR/N.c2s and
 * OUTDIR/N.s2c. A gap leaves a hole of zero bytes, so each file is as
 * long as its stream and the bytes around a gap stay at their offsets.
 * One line per connection when it closes:
 *
 *   conn N CLIENT.PORT > SERVER.PORT syn|nosyn c2s=BYTES s2c=BYTES
 *     gaps=G missing=M close=REASON
 *
 * (one line; BYTES counts data delivered, M the bytes declared missing),
 * then "input ..." and "reasm ..." lines of counters and one "finding
 * frame N: REASON" line per finding of the capture layer.
 *
 * Exit: 0; 1 when the capture could not be read to its end (what came
 * before is still written) or a file could not be written; 2 on a usage
 * or open error.
 */
#include <arpa/inet.h>
#include <err.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tools/lib/input.h"
#include "tools/lib/tcpreasm.h"

struct cat {
	const char *dir;
	int failed;
};

/* Per connection. */
struct cconn {
	FILE *f[2];
	uint64_t end[2];	/* stream length so far, gaps included */
	uint64_t bytes[2];
	uint64_t gaps;
	uint64_t missing;
};

static const char *dirname_of[2] = { "c2s", "s2c" };

static void
on_open(void *ctx, struct reasm_conn *c)
{
	struct cat *cat = ctx;
	struct cconn *x = calloc(1, sizeof(*x));
	char path[4096];
	int i;

	if (x == NULL)
		err(2, "calloc");
	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%llu.%s", cat->dir,
		    (unsigned long long)c->id, dirname_of[i]);
		if ((x->f[i] = fopen(path, "wb")) == NULL) {
			warn("%s", path);
			cat->failed = 1;
		}
	}
	c->user = x;
}

static void
on_data(void *ctx, struct reasm_conn *c, int dir, uint64_t off,
    const uint8_t *p, size_t n, const struct timespec *ts)
{
	struct cat *cat = ctx;
	struct cconn *x = c->user;

	(void)ts;
	x->bytes[dir] += n;
	x->end[dir] = off + n;
	if (x->f[dir] == NULL)
		return;
	/* After a gap the file position is behind: seek over the hole. */
	if (fseeko(x->f[dir], (off_t)off, SEEK_SET) != 0 ||
	    fwrite(p, 1, n, x->f[dir]) != n) {
		warn("connection %llu %s", (unsigned long long)c->id,
		    dirname_of[dir]);
		cat->failed = 1;
	}
}

static void
on_gap(void *ctx, struct reasm_conn *c, int dir, uint64_t off,
    uint64_t missing, const struct timespec *ts)
{
	struct cconn *x = c->user;

	(void)ctx;
	(void)ts;
	x->gaps++;
	x->missing += missing;
	x->end[dir] = off + missing;
}

static void
endpoint(char *buf, size_t len, int family, const struct reasm_endpoint *e)
{
	char a[INET6_ADDRSTRLEN];

	if (inet_ntop(family, e->addr, a, sizeof(a)) == NULL)
		snprintf(a, sizeof(a), "?");
	snprintf(buf, len, "%s.%u", a, e->port);
}

/* Make the file as long as the stream: a gap at the end is a hole too. */
static int
finish_file(FILE *f, uint64_t end)
{
	int rc = 0;

	if (f == NULL)
		return 0;
	if (fflush(f) != 0 || ftruncate(fileno(f), (off_t)end) != 0)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

static void
on_close(void *ctx, struct reasm_conn *c, const char *reason)
{
	struct cat *cat = ctx;
	struct cconn *x = c->user;
	char cl[INET6_ADDRSTRLEN + 8], sv[INET6_ADDRSTRLEN + 8];
	int i;

	endpoint(cl, sizeof(cl), c->family, &c->client);
	endpoint(sv, sizeof(sv), c->family, &c->server);
	printf("conn %llu %s > %s %s c2s=%llu s2c=%llu gaps=%llu "
	    "missing=%llu close=%s\n", (unsigned long long)c->id, cl, sv,
	    c->syn_seen ? "syn" : "nosyn",
	    (unsigned long long)x->bytes[0], (unsigned long long)x->bytes[1],
	    (unsigned long long)x->gaps, (unsigned long long)x->missing,
	    reason);
	for (i = 0; i < 2; i++)
		if (finish_file(x->f[i], x->end[i]) < 0) {
			warn("connection %llu %s", (unsigned long long)c->id,
			    dirname_of[i]);
			cat->failed = 1;
		}
	free(x);
	c->user = NULL;
}

static void
print_stats(const struct input *in, const struct reasm *r)
{
	const struct input_stats *is = input_stats(in);
	const struct reasm_stats *rs = reasm_stats(r);
	size_t i;

	printf("input frames=%llu tcp=%llu non_tcp=%llu fragments=%llu "
	    "truncated=%llu malformed=%llu filtered=%llu link=%s\n",
	    (unsigned long long)is->frames, (unsigned long long)is->tcp,
	    (unsigned long long)is->non_tcp,
	    (unsigned long long)is->fragments,
	    (unsigned long long)is->truncated,
	    (unsigned long long)is->malformed,
	    (unsigned long long)is->filtered, input_linktype_name(in));
	printf("reasm segments=%llu bytes=%llu dup=%llu ooo=%llu gaps=%llu "
	    "gap_bytes=%llu connections=%llu ignored=%llu late=%llu "
	    "mem_peak=%llu\n",
	    (unsigned long long)rs->segments, (unsigned long long)rs->bytes,
	    (unsigned long long)rs->dup_bytes,
	    (unsigned long long)rs->ooo_segments,
	    (unsigned long long)rs->gaps, (unsigned long long)rs->gap_bytes,
	    (unsigned long long)rs->connections,
	    (unsigned long long)rs->ignored, (unsigned long long)rs->late,
	    (unsigned long long)rs->mem_peak);
	for (i = 0; i < is->nfindings; i++)
		printf("finding frame %llu: %s\n",
		    (unsigned long long)is->findings[i].frame,
		    is->findings[i].reason);
}

int
main(int argc, char **argv)
{
	static const struct reasm_ops ops = { on_open, on_data, on_gap,
	    on_close };
	const char *filter = NULL;
	struct tcp_segment seg;
	struct cat cat = { NULL, 0 };
	struct input *in;
	struct reasm *r;
	char ebuf[1024];
	int c, rc;

	while ((c = getopt(argc, argv, "f:")) != -1) {
		if (c != 'f') {
			fprintf(stderr, "usage: pcapcat [-f FILTER] CAPTURE "
			    "OUTDIR\n");
			return 2;
		}
		filter = optarg;
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: pcapcat [-f FILTER] CAPTURE OUTDIR\n");
		return 2;
	}
	cat.dir = argv[optind + 1];
	/* Sniffed, as msgdump does: "-" (a pipe) works too. */
	in = input_open(argv[optind], INPUT_AUTO, filter, NULL, ebuf,
	    sizeof(ebuf));
	if (in == NULL)
		errx(2, "%s", ebuf);
	if (input_format(in) != INPUT_PCAP)
		errx(2, "%s: not a capture", input_name(in));
	if ((r = reasm_new(&ops, &cat, NULL)) == NULL)
		err(2, "reasm_new");
	while ((rc = input_next_segment(in, &seg)) == 1) {
		/* input's contract, checked here: tcpreasm would mask it. */
		if (seg.caplen > seg.wirelen ||
		    (seg.caplen > 0 && seg.payload == NULL) ||
		    seg.frame != input_stats(in)->frames)
			errx(1, "frame %llu: bad segment from input: caplen "
			    "%u, wirelen %u", (unsigned long long)seg.frame,
			    seg.caplen, seg.wirelen);
		reasm_segment(r, &seg);
	}
	if (rc < 0) {
		warnx("%s", input_error(in));
		cat.failed = 1;
	}
	reasm_finish(r);
	print_stats(in, r);
	reasm_free(r);
	input_close(in);
	if (fflush(stdout) != 0)
		cat.failed = 1;
	return cat.failed ? 1 : 0;
}
