/*
 * bench_decode - throughput of libproto's framer and validator.
 *
 *	bench_decode gen small N FILE	N small messages of a realistic mix
 *	bench_decode gen data N FILE	N CACHE_READ replies, 32 KiB of DATA
 *	bench_decode decode [-b CHUNK] FILE...
 *	bench_decode time OUT CMD [ARG...]
 *
 * decode read(2)s each FILE in CHUNK-byte pieces (default 256 KiB), feeds
 * each piece to a framer and validates every message with
 * proto_msg_validate(), the work a relay or a dumper does before it looks
 * at a message. Each FILE is a stream of its own; naming one file several
 * times makes several passes over it, as `cat FILE FILE` does. It prints
 * one line of key=value figures (bench/run.sh reads them) and exits 1 on
 * the first error, naming its offset and reason: a benchmark over a
 * stream it refuses would measure nothing.
 *
 * Every message is built with the proto_build_* encoder, so the files are
 * valid streams by construction; the generator is seeded, so a given N
 * always gives the same file.
 *
 * time runs CMD and writes its wall and CPU time to OUT, so that cat and
 * the decoder are timed the same way; CPU time, from wait4(2), is the
 * steadier figure on a shared machine, where wall time includes waiting
 * for a core.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libproto/proto.h"

#define DATA_LEN	32768		/* DATA bytes in each CACHE_READ reply */
#define READ_PARTS	32		/* replies per 1 MiB read: MORE on all
					   but the last */
#define FLUSH_AT	(1u << 20)	/* write the builder out past this */
#define CHUNK_DEF	(256u * 1024)
#define CHUNK_MAX	(64u * 1024 * 1024)
#define SEED		0x6d73676b6974ull	/* "msgkit" */

static const char *progname = "bench_decode";

static void
usage(void)
{
	fprintf(stderr,
	    "usage: %s gen small|data N FILE\n"
	    "       %s decode [-b CHUNK] FILE...\n"
	    "       %s time OUT CMD [ARG...]\n", progname, progname, progname);
	exit(2);
}

/* xorshift64*: cheap, deterministic, good enough to vary the mix. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static double
now(clockid_t clk)
{
	struct timespec ts;

	if (clock_gettime(clk, &ts) < 0) {
		perror("clock_gettime");
		exit(1);
	}
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
tv_sec(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/* N as a count: digits only, 1 to 10^10. */
static uint64_t
parse_count(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 ||
	    v == 0 || v > 10000000000ull) {
		fprintf(stderr, "%s: count %s: not a number from 1 to 1e10\n",
		    progname, s);
		exit(2);
	}
	return v;
}

/* ---- generating ------------------------------------------------------ */

struct gen {
	struct proto_builder b;
	int fd;
	const char *path;
	uint64_t rng;
	uint32_t msgid;
	uint64_t messages;
	uint64_t bytes;
};

static void
write_all(struct gen *g, const uint8_t *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(g->fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "%s: %s: write: %s\n", progname,
			    g->path, strerror(errno));
			exit(1);
		}
		p += w;
		n -= (size_t)w;
	}
}

static void
flush(struct gen *g)
{
	write_all(g, proto_builder_data(&g->b), proto_builder_len(&g->b));
	g->bytes += proto_builder_len(&g->b);
	proto_builder_reset(&g->b);
}

/* Close the message; the builder's sticky error covers every call. */
static void
end_msg(struct gen *g)
{
	char ebuf[256];

	if (proto_build_end(&g->b) < 0) {
		proto_error_format(&g->b.err, ebuf, sizeof(ebuf));
		fprintf(stderr, "%s: building message %" PRIu64 ": %s\n",
		    progname, g->messages, ebuf);
		exit(1);
	}
	g->messages++;
	if (proto_builder_len(&g->b) >= FLUSH_AT)
		flush(g);
}

/*
 * A file name of 1 to 24 characters; one in eight has a two- or
 * three-byte UTF-8 character, so the validator's slow path is taken now
 * and then, as with real directories.
 */
static size_t
make_name(struct gen *g, char *s)
{
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyz0123456789._-";
	uint64_t r = rnd(&g->rng);
	size_t n = 1 + r % 24, i;

	for (i = 0; i < n; i++)
		s[i] = alpha[(r >> (8 + i % 48)) % (sizeof(alpha) - 1)];
	if ((r >> 60) == 0) {
		memcpy(s + n, "\xc3\xa9", 2);		/* e acute */
		n += 2;
	} else if ((r >> 60) == 1) {
		memcpy(s + n, "\xe6\x97\xa5", 3);	/* CJK "day" */
		n += 3;
	}
	return n;
}

/* The attributes of a node, as VFS replies carry them. */
static void
build_attr(struct gen *g)
{
	struct proto_builder *b = &g->b;
	uint64_t r = rnd(&g->rng);
	int64_t t = 1700000000000000000ll + (int64_t)(r >> 20);

	proto_build_nest_begin(b, PROTO_ITEM_ATTR, 0);
	proto_build_u32(b, PROTO_ITEM_MODE, (r & 1) ? 0100644 : 040755);
	proto_build_u32(b, PROTO_ITEM_UID, 1000);
	proto_build_u32(b, PROTO_ITEM_GID, 1000);
	proto_build_u64(b, PROTO_ITEM_SIZE, r >> 40);
	proto_build_u32(b, PROTO_ITEM_NLINK, 1 + (uint32_t)(r & 3));
	proto_build_u64(b, PROTO_ITEM_INO, r >> 16);
	proto_build_i64(b, PROTO_ITEM_ATIME, t);
	proto_build_i64(b, PROTO_ITEM_MTIME, t - 1000);
	proto_build_i64(b, PROTO_ITEM_CTIME, t - 1000);
	proto_build_u64(b, PROTO_ITEM_CHANGE, r);
	proto_build_nest_end(b);
}

/*
 * One small message. Per 16: 1 PING and 1 PING reply, 2 ACK, 3
 * VFS_GETATTR and 3 replies, 3 VFS_LOOKUP and 3 replies (a quarter of
 * them ENOENT, without ATTR). A message takes 16 to 160 stream bytes, 75
 * on average; 4.7 items.
 */
static void
gen_small_one(struct gen *g)
{
	struct proto_builder *b = &g->b;
	uint64_t r = rnd(&g->rng), link = 1 + (r >> 48), id;
	uint32_t msgid = ++g->msgid;
	char name[32];
	size_t n;

	switch ((r >> 4) % 16) {
	case 0:
		proto_build_begin(b, 0, msgid, PROTO_CMD_PING);
		proto_build_u64(b, PROTO_ITEM_TIMESTAMP, r);
		break;
	case 1:
		proto_build_begin(b, 0, msgid, PROTO_CMD_PING |
		    PROTO_REPLY_BIT);
		proto_build_u64(b, PROTO_ITEM_TIMESTAMP, r);
		proto_build_u32(b, PROTO_ITEM_STATUS, 0);
		break;
	case 2:
	case 3:
		proto_build_begin(b, 0, msgid, PROTO_CMD_ACK);
		proto_build_u64(b, PROTO_ITEM_RECEIVED, msgid);
		break;
	case 4:
	case 5:
	case 6:
		proto_build_begin(b, link, msgid, PROTO_CMD_VFS_GETATTR);
		break;
	case 7:
	case 8:
	case 9:
		proto_build_begin(b, link, msgid, PROTO_CMD_VFS_GETATTR |
		    PROTO_REPLY_BIT);
		proto_build_u32(b, PROTO_ITEM_STATUS, 0);
		build_attr(g);
		break;
	case 10:
	case 11:
	case 12:
		n = make_name(g, name);
		id = 0x10000 + (r & 0xffff);
		proto_build_begin(b, link, msgid, PROTO_CMD_VFS_LOOKUP);
		proto_build_string(b, PROTO_ITEM_NAME, name, n);
		proto_build_linkids(b, PROTO_ITEM_NEWLINK, &id, 1);
		break;
	default:
		proto_build_begin(b, link, msgid, PROTO_CMD_VFS_LOOKUP |
		    PROTO_REPLY_BIT);
		if ((r & 3) == 0) {
			proto_build_u32(b, PROTO_ITEM_STATUS, 2);
			break;
		}
		proto_build_u32(b, PROTO_ITEM_STATUS, 0);
		build_attr(g);
		break;
	}
	end_msg(g);
}

/*
 * One CACHE_READ reply: OFFSET, 32 KiB of DATA, MORE; the last part of
 * each 1 MiB read ends with STATUS and LENGTH instead of MORE.
 */
static void
gen_data_one(struct gen *g, uint8_t *data)
{
	struct proto_builder *b = &g->b;
	uint64_t part = g->messages % READ_PARTS;
	uint64_t seq = g->messages;

	/* Vary the bytes a little: the validator must not care. */
	memcpy(data, &seq, sizeof(seq));
	proto_build_begin(b, 0x40000 + g->messages / READ_PARTS, ++g->msgid,
	    PROTO_CMD_CACHE_READ | PROTO_REPLY_BIT);
	proto_build_u64(b, PROTO_ITEM_OFFSET, part * DATA_LEN);
	proto_build_bytes(b, PROTO_ITEM_DATA, data, DATA_LEN);
	if (part + 1 < READ_PARTS) {
		proto_build_empty(b, PROTO_ITEM_MORE);
	} else {
		proto_build_u32(b, PROTO_ITEM_STATUS, 0);
		proto_build_u64(b, PROTO_ITEM_LENGTH, READ_PARTS * DATA_LEN);
	}
	end_msg(g);
}

static int
cmd_gen(int argc, char **argv)
{
	struct gen g;
	uint8_t *data = NULL;
	uint64_t n, i;
	int small;
	size_t k;

	if (argc != 4)
		usage();
	if (strcmp(argv[1], "small") == 0)
		small = 1;
	else if (strcmp(argv[1], "data") == 0)
		small = 0;
	else
		usage();
	n = parse_count(argv[2]);
	memset(&g, 0, sizeof(g));
	proto_builder_init(&g.b);
	g.path = argv[3];
	g.rng = SEED;
	g.fd = open(g.path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (g.fd < 0) {
		fprintf(stderr, "%s: %s: %s\n", progname, g.path,
		    strerror(errno));
		return 1;
	}
	if (!small) {
		data = malloc(DATA_LEN);
		if (data == NULL) {
			fprintf(stderr, "%s: out of memory\n", progname);
			return 1;
		}
		for (k = 0; k < DATA_LEN; k++)
			data[k] = (uint8_t)rnd(&g.rng);
	}
	for (i = 0; i < n; i++) {
		if (small)
			gen_small_one(&g);
		else
			gen_data_one(&g, data);
	}
	flush(&g);
	if (close(g.fd) < 0) {
		fprintf(stderr, "%s: %s: close: %s\n", progname, g.path,
		    strerror(errno));
		return 1;
	}
	printf("messages=%" PRIu64 " bytes=%" PRIu64 "\n", g.messages,
	    g.bytes);
	proto_builder_free(&g.b);
	free(data);
	return 0;
}

/* ---- decoding -------------------------------------------------------- */

static void
decode_fail(const char *path, const struct proto_error *err)
{
	char ebuf[256];

	proto_error_format(err, ebuf, sizeof(ebuf));
	fprintf(stderr, "%s: %s: %s\n", progname, path, ebuf);
	exit(1);
}

/* Every message the framer has whole; returns how many. */
static uint64_t
drain(struct proto_framer *f, const char *path)
{
	struct proto_msg m;
	struct proto_error err;
	uint64_t n = 0;
	int r;

	while ((r = proto_framer_next(f, &m, &err)) != 0) {
		if (r < 0)
			decode_fail(path, &err);
		if (proto_msg_validate(&m, &err) < 0)
			decode_fail(path, &err);
		n++;
	}
	return n;
}

/*
 * One file, one stream: read(2) it in chunks of `chunk` bytes into buf,
 * frame and validate every message. Adds to *msgs and *bytes.
 */
static void
decode_file(const char *path, uint8_t *buf, size_t chunk, uint64_t *msgs,
    uint64_t *bytes)
{
	struct proto_framer f;
	uint64_t n_msgs = 0, n_bytes = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "%s: %s: %s\n", progname, path,
		    strerror(errno));
		exit(1);
	}
	if (proto_framer_init(&f, 0) < 0) {
		fprintf(stderr, "%s: out of memory\n", progname);
		exit(1);
	}
	for (;;) {
		n = read(fd, buf, chunk);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "%s: %s: read: %s\n", progname, path,
			    strerror(errno));
			exit(1);
		}
		if (n == 0)
			break;
		n_bytes += (uint64_t)n;
		proto_framer_feed(&f, buf, (size_t)n);
		n_msgs += drain(&f, path);
	}
	proto_framer_eof(&f);
	n_msgs += drain(&f, path);
	/* The framer must have passed over every byte, none skipped. */
	if (proto_framer_offset(&f) != n_bytes || f.messages != n_msgs ||
	    f.skipped != 0) {
		fprintf(stderr, "%s: %s: framer stopped at %" PRIu64
		    " of %" PRIu64 " bytes\n", progname, path,
		    proto_framer_offset(&f), n_bytes);
		exit(1);
	}
	proto_framer_free(&f);
	close(fd);
	*msgs += n_msgs;
	*bytes += n_bytes;
}

static int
cmd_decode(int argc, char **argv, double wall0)
{
	struct rusage ru0, ru1;
	uint8_t *buf;
	uint64_t chunk = CHUNK_DEF, msgs = 0, bytes = 0;
	double cpu0, cpu1, t0, t1, cpu;
	int i;

	argc--;
	argv++;
	if (argc >= 2 && strcmp(argv[0], "-b") == 0) {
		chunk = parse_count(argv[1]);
		if (chunk > CHUNK_MAX) {
			fprintf(stderr, "%s: chunk %s: at most %u\n", progname,
			    argv[1], CHUNK_MAX);
			return 2;
		}
		argc -= 2;
		argv += 2;
	}
	if (argc < 1)
		usage();
	/* Page-aligned, as cat's buffer is: the copy out of the page cache
	   is then the same work for both. */
	if (posix_memalign((void **)&buf, 4096, chunk) != 0) {
		fprintf(stderr, "%s: out of memory\n", progname);
		return 1;
	}

	getrusage(RUSAGE_SELF, &ru0);
	cpu0 = now(CLOCK_PROCESS_CPUTIME_ID);
	t0 = now(CLOCK_MONOTONIC);
	for (i = 0; i < argc; i++)
		decode_file(argv[i], buf, chunk, &msgs, &bytes);
	t1 = now(CLOCK_MONOTONIC);
	cpu1 = now(CLOCK_PROCESS_CPUTIME_ID);
	getrusage(RUSAGE_SELF, &ru1);
	free(buf);

	/*
	 * cpu: CPU time of the decode loop, read(2) included (user and
	 * system); loop: its elapsed time; wall: the whole run from main()
	 * on. The rates are over cpu; GB is 1e9 bytes.
	 */
	cpu = cpu1 - cpu0;
	if (cpu <= 0)
		cpu = 1e-9;
	printf("chunk=%" PRIu64 " messages=%" PRIu64 " bytes=%" PRIu64
	    " cpu=%.4f user=%.4f sys=%.4f loop=%.4f wall=%.4f"
	    " msgs_per_s=%.0f GB_per_s=%.3f\n",
	    chunk, msgs, bytes, cpu,
	    tv_sec(&ru1.ru_utime) - tv_sec(&ru0.ru_utime),
	    tv_sec(&ru1.ru_stime) - tv_sec(&ru0.ru_stime), t1 - t0,
	    now(CLOCK_MONOTONIC) - wall0, (double)msgs / cpu,
	    (double)bytes / cpu / 1e9);
	return 0;
}

/* ---- timing a command ----------------------------------------------- */

static int
cmd_time(int argc, char **argv)
{
	struct rusage ru;
	FILE *out;
	double t0, t1;
	pid_t pid;
	int status;

	if (argc < 3)
		usage();
	out = fopen(argv[1], "w");
	if (out == NULL) {
		fprintf(stderr, "%s: %s: %s\n", progname, argv[1],
		    strerror(errno));
		return 1;
	}
	t0 = now(CLOCK_MONOTONIC);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "%s: fork: %s\n", progname, strerror(errno));
		return 1;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "%s: %s: %s\n", progname, argv[2],
		    strerror(errno));
		_exit(127);
	}
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "%s: wait4: %s\n", progname,
			    strerror(errno));
			return 1;
		}
	}
	t1 = now(CLOCK_MONOTONIC);
	fprintf(out, "wall=%.6f cpu=%.6f user=%.6f sys=%.6f\n", t1 - t0,
	    tv_sec(&ru.ru_utime) + tv_sec(&ru.ru_stime),
	    tv_sec(&ru.ru_utime), tv_sec(&ru.ru_stime));
	if (fclose(out) != 0) {
		fprintf(stderr, "%s: %s: %s\n", progname, argv[1],
		    strerror(errno));
		return 1;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	fprintf(stderr, "%s: %s: killed by signal %d\n", progname, argv[2],
	    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return 1;
}

int
main(int argc, char **argv)
{
	double wall0 = now(CLOCK_MONOTONIC);

	if (argc < 2)
		usage();
	if (strcmp(argv[1], "gen") == 0)
		return cmd_gen(argc - 1, argv + 1);
	if (strcmp(argv[1], "decode") == 0)
		return cmd_decode(argc - 1, argv + 1, wall0);
	if (strcmp(argv[1], "time") == 0)
		return cmd_time(argc - 1, argv + 1);
	usage();
	return 2;
}
