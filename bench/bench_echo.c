/*
 * bench_echo - the baselines and the memory probes of bench/run.sh's
 * echo and memory workloads.
 *
 *	bench_echo msgsize DATA
 *	bench_echo pingpong N SIZE DEPTH [CPU CHILD_CPU]
 *	bench_echo client PATH N SIZE DEPTH
 *	bench_echo sessions ADDR SERVER_PID K
 *	bench_echo links ADDR SERVER_PID L
 *
 * msgsize prints the frame sizes of an echo command carrying DATA bytes
 * (OFFSET and DATA, as `msgpeer echo -s DATA` sends) and of its reply
 * (the same items and STATUS), so that the baselines move as many bytes.
 *
 * pingpong is the plainest round trip there is: a socketpair between
 * this process and a forked child that read(2)s and write(2)s back
 * whatever comes, in blocking mode. The parent sends N messages of SIZE
 * bytes, DEPTH at a time: a new one each time one has come back whole
 * (and checked byte for byte), so DEPTH are always in flight. With CPU
 * and CHILD_CPU, each process is bound to that CPU (sched_setaffinity):
 * on a virtual machine a wake-up across CPUs costs many times one on the
 * same CPU, and where the scheduler puts the two decides the figures. client
 * does the same over a unix socket at PATH, to an echo server that runs
 * on its own (socat).
 *
 * Both print one line of key=value figures: messages, bytes, the loop's
 * wall time, round trips per second and MB/s each way over it, latency
 * percentiles in microseconds (from the moment a message is due to the
 * moment it is back whole: exact, every sample kept), and CPU seconds
 * of both processes for pingpong (this one from getrusage, the child
 * from wait4).
 *
 * sessions and links measure memory: the resident set (Rss, and Pss and
 * anonymous memory, from /proc/PID/smaps_rollup) of the server
 * SERVER_PID and of this process, before and after K sessions are up
 * and idle, or before and after L links to the echo service are open on
 * one session. A few sessions (links) are opened first and the
 * "before" figures taken after them, so that what every process pays
 * once (the first read, the first table) is not charged to the K (L).
 * Sessions are dialled DIAL_BATCH at a time: the server's listen
 * backlog is finite. The kernel's side (socket structures, not socket
 * buffers) is estimated from /proc/slabinfo at the same moments: the
 * whole machine's slab memory, so other processes blur it.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libproto/proto.h"
#include "libproto/proto_session.h"

#define PATTERN_PERIOD	251		/* as msgpeer echo: a prime */
#define SIZE_MAX_MSG	(1u << 20)
#define READ_CHUNK	(256u * 1024)	/* as libproto's session reads */
#define IOV_MAX_SEND	64
#define DEPTH_MAX	65536
#define WARM_SESSIONS	10
#define WARM_LINKS	10
#define DIAL_BATCH	64		/* dials outstanding at once */
#define SETTLE_NS	(200 * PROTO_MS)	/* quiet time before measuring */
#define PHASE_NS	(60 * PROTO_SEC)	/* longest wait for a phase */

static const char *progname = "bench_echo";

static void
usage(void)
{
	fprintf(stderr,
	    "usage: %s msgsize DATA\n"
	    "       %s pingpong N SIZE DEPTH [CPU CHILD_CPU]\n"
	    "       %s client PATH N SIZE DEPTH\n"
	    "       %s sessions ADDR SERVER_PID K\n"
	    "       %s links ADDR SERVER_PID L\n", progname, progname, progname,
	    progname, progname);
	exit(2);
}

static void
die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", progname, what, strerror(errno));
	exit(1);
}

static void
dief(const char *msg)
{
	fprintf(stderr, "%s: %s\n", progname, msg);
	exit(1);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double
tv_sec(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/* A count from min to max, digits only. */
static uint64_t
parse_num(const char *what, const char *s, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 ||
	    v < min || v > max) {
		fprintf(stderr, "%s: %s %s: not a number from %" PRIu64
		    " to %" PRIu64 "\n", progname, what, s, min, max);
		exit(2);
	}
	return v;
}

/* ---- frame sizes --------------------------------------------------- */

static int
cmd_msgsize(int argc, char **argv)
{
	struct proto_builder b;
	uint8_t *data;
	size_t n;
	int cmd, reply;

	if (argc != 2)
		usage();
	n = (size_t)parse_num("DATA", argv[1], 0, 65000);
	data = calloc(1, n + 1);
	if (data == NULL)
		die("calloc");
	proto_builder_init(&b);
	proto_build_begin(&b, 1, 1, 0x7000);
	proto_build_u64(&b, PROTO_ITEM_OFFSET, 0);
	if (n > 0)
		proto_build_bytes(&b, PROTO_ITEM_DATA, data, n);
	cmd = proto_build_end(&b);
	proto_build_begin(&b, 1, 1, 0x7000 | PROTO_REPLY_BIT);
	proto_build_u64(&b, PROTO_ITEM_OFFSET, 0);
	if (n > 0)
		proto_build_bytes(&b, PROTO_ITEM_DATA, data, n);
	proto_build_u32(&b, PROTO_ITEM_STATUS, 0);
	reply = proto_build_end(&b);
	if (cmd < 0 || reply < 0)
		dief("cannot build the echo command");
	printf("command=%d reply=%d\n", cmd, reply);
	proto_builder_free(&b);
	free(data);
	return 0;
}

/* ---- round trips over a byte stream ------------------------------- */

struct drive {
	int fd;
	uint64_t n;		/* messages to send */
	size_t size;
	uint64_t depth;
	uint8_t *pattern;	/* size + PATTERN_PERIOD bytes */
	uint64_t allowed;	/* messages that may be sent: done + depth */
	uint64_t out_idx;	/* first message not wholly written */
	size_t out_off;		/* its bytes written */
	uint64_t done;		/* messages back and checked */
	uint8_t *rbuf;
	size_t rcap, rlen, rpos;
	uint64_t *t0;		/* [depth]: when message i % depth was due */
	uint64_t *lat;		/* [n]: round trip of each, ns */
};

static const uint8_t *
msg_bytes(const struct drive *d, uint64_t i)
{
	return d->pattern + i % PATTERN_PERIOD;
}

/*
 * Write what may be written without blocking. Returns 1 when output is
 * still pending (the socket is full), 0 when all that may go went.
 */
static int
send_some(struct drive *d)
{
	struct iovec iov[IOV_MAX_SEND];
	struct msghdr mh;
	uint64_t i;
	ssize_t w;
	size_t left;
	int k;

	while (d->out_idx < d->allowed) {
		k = 0;
		for (i = d->out_idx; i < d->allowed && k < IOV_MAX_SEND; i++) {
			iov[k].iov_base = (void *)(msg_bytes(d, i) +
			    (i == d->out_idx ? d->out_off : 0));
			iov[k].iov_len = d->size -
			    (i == d->out_idx ? d->out_off : 0);
			k++;
		}
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)k;
		w = sendmsg(d->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 1;
			die("send");
		}
		left = (size_t)w;
		while (left > 0) {
			if (left < d->size - d->out_off) {
				d->out_off += left;
				break;
			}
			left -= d->size - d->out_off;
			d->out_off = 0;
			d->out_idx++;
		}
	}
	return 0;
}

/* Take the whole messages received: check, time, let the next go. */
static void
take(struct drive *d)
{
	uint64_t t = now_ns(), i;

	while (d->rlen - d->rpos >= d->size && d->done < d->n) {
		i = d->done;
		if (memcmp(d->rbuf + d->rpos, msg_bytes(d, i), d->size) != 0) {
			fprintf(stderr, "%s: message %" PRIu64 " came back "
			    "changed\n", progname, i);
			exit(1);
		}
		d->rpos += d->size;
		d->lat[i] = t - d->t0[i % d->depth];
		d->done++;
		if (d->allowed < d->n) {
			d->t0[d->allowed % d->depth] = t;
			d->allowed++;
		}
	}
	if (d->rpos == d->rlen) {
		d->rlen = d->rpos = 0;
	} else if (d->rcap - d->rlen < READ_CHUNK / 2) {
		memmove(d->rbuf, d->rbuf + d->rpos, d->rlen - d->rpos);
		d->rlen -= d->rpos;
		d->rpos = 0;
	}
}

/* One read: blocking unless output is waiting. */
static void
receive(struct drive *d, int dontwait)
{
	ssize_t r;

	r = recv(d->fd, d->rbuf + d->rlen, d->rcap - d->rlen,
	    dontwait ? MSG_DONTWAIT : 0);
	if (r < 0) {
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		die("recv");
	}
	if (r == 0)
		dief("the echo side closed the stream early");
	d->rlen += (size_t)r;
	take(d);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank of the sorted samples. */
static double
pct_us(const uint64_t *v, uint64_t n, unsigned pct)
{
	uint64_t rank = (n * pct + 99) / 100;

	if (n == 0)
		return 0;
	if (rank == 0)
		rank = 1;
	return (double)v[rank - 1] / 1e3;
}

static void
drive_init(struct drive *d, int fd, uint64_t n, size_t size, uint64_t depth)
{
	size_t i;

	memset(d, 0, sizeof(*d));
	d->fd = fd;
	d->n = n;
	d->size = size;
	d->depth = depth;
	d->pattern = malloc(size + PATTERN_PERIOD);
	d->rcap = READ_CHUNK + size;
	d->rbuf = malloc(d->rcap);
	d->t0 = calloc(depth, sizeof(*d->t0));
	d->lat = calloc(n, sizeof(*d->lat));
	if (d->pattern == NULL || d->rbuf == NULL || d->t0 == NULL ||
	    d->lat == NULL)
		die("out of memory");
	for (i = 0; i < size + PATTERN_PERIOD; i++)
		d->pattern[i] = (uint8_t)(i * 7 + 3);
}

/*
 * The loop: send what may go, then read. A blocking read when nothing
 * waits to be written; when the socket is full, poll for both ways so
 * that neither side can wait for the other forever.
 */
static double
drive_run(struct drive *d)
{
	struct pollfd pfd;
	uint64_t t0, i, now;
	int pending;

	t0 = now_ns();
	d->allowed = d->depth < d->n ? d->depth : d->n;
	for (i = 0; i < d->allowed; i++)
		d->t0[i] = t0;
	while (d->done < d->n) {
		pending = send_some(d);
		if (!pending) {
			receive(d, 0);
			continue;
		}
		pfd.fd = d->fd;
		pfd.events = POLLIN | POLLOUT;
		pfd.revents = 0;
		if (poll(&pfd, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
			receive(d, 1);
	}
	now = now_ns();
	return (double)(now - t0) / 1e9;
}

static void
drive_report(struct drive *d, double secs)
{
	qsort(d->lat, d->n, sizeof(*d->lat), cmp_u64);
	printf("messages=%" PRIu64 " size=%zu depth=%" PRIu64
	    " bytes=%" PRIu64 " loop=%.6f rate=%.0f MBps=%.2f"
	    " p50=%.1f p90=%.1f p99=%.1f max=%.1f",
	    d->n, d->size, d->depth, d->n * (uint64_t)d->size, secs,
	    (double)d->n / secs, (double)d->n * (double)d->size / secs / 1e6,
	    pct_us(d->lat, d->n, 50), pct_us(d->lat, d->n, 90),
	    pct_us(d->lat, d->n, 99), (double)d->lat[d->n - 1] / 1e3);
}

static void
drive_free(struct drive *d)
{
	free(d->pattern);
	free(d->rbuf);
	free(d->t0);
	free(d->lat);
}

static void
parse_load(char **argv, uint64_t *n, size_t *size, uint64_t *depth)
{
	*n = parse_num("N", argv[0], 1, 100000000);
	*size = (size_t)parse_num("SIZE", argv[1], 1, SIZE_MAX_MSG);
	*depth = parse_num("DEPTH", argv[2], 1, DEPTH_MAX);
}

/* The child of pingpong: echo until end of stream, blocking. */
static void
echo_child(int fd)
{
	uint8_t *buf = malloc(READ_CHUNK);
	ssize_t r, w, off;

	if (buf == NULL)
		_exit(1);
	for (;;) {
		r = read(fd, buf, READ_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			_exit(r < 0 ? 1 : 0);
		for (off = 0; off < r; off += w) {
			w = write(fd, buf + off, (size_t)(r - off));
			if (w < 0) {
				if (errno == EINTR) {
					w = 0;
					continue;
				}
				_exit(1);
			}
		}
	}
}

static void
bind_cpu(const char *s)
{
	cpu_set_t set;
	int cpu = (int)parse_num("CPU", s, 0, CPU_SETSIZE - 1);

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		die("sched_setaffinity");
}

static int
cmd_pingpong(int argc, char **argv)
{
	struct rusage ru_self0, ru_self1, ru_child;
	struct drive d;
	uint64_t n, depth;
	size_t size;
	double secs;
	pid_t pid;
	int sv[2], status;

	if (argc != 4 && argc != 6)
		usage();
	parse_load(argv + 1, &n, &size, &depth);
	if (argc == 6)
		bind_cpu(argv[4]);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair");
	drive_init(&d, sv[0], n, size, depth);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(sv[0]);
		if (argc == 6)
			bind_cpu(argv[5]);
		echo_child(sv[1]);
	}
	close(sv[1]);
	getrusage(RUSAGE_SELF, &ru_self0);
	secs = drive_run(&d);
	getrusage(RUSAGE_SELF, &ru_self1);
	shutdown(sv[0], SHUT_WR);
	while (wait4(pid, &status, 0, &ru_child) < 0)
		if (errno != EINTR)
			die("wait4");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		dief("the echo child failed");
	drive_report(&d, secs);
	/* The child's whole life is the loop: its set-up is a fork. */
	printf(" cpu_self=%.6f cpu_child=%.6f\n",
	    tv_sec(&ru_self1.ru_utime) - tv_sec(&ru_self0.ru_utime) +
	    tv_sec(&ru_self1.ru_stime) - tv_sec(&ru_self0.ru_stime),
	    tv_sec(&ru_child.ru_utime) + tv_sec(&ru_child.ru_stime));
	drive_free(&d);
	close(sv[0]);
	return 0;
}

static int
cmd_client(int argc, char **argv)
{
	struct sockaddr_un sun;
	struct drive d;
	uint64_t n, depth;
	size_t size;
	double secs;
	int fd;

	if (argc != 5)
		usage();
	parse_load(argv + 2, &n, &size, &depth);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(argv[1]) >= sizeof(sun.sun_path))
		dief("socket path too long");
	memcpy(sun.sun_path, argv[1], strlen(argv[1]));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		die(argv[1]);
	drive_init(&d, fd, n, size, depth);
	secs = drive_run(&d);
	drive_report(&d, secs);
	printf("\n");
	drive_free(&d);
	close(fd);
	return 0;
}

/* ---- memory ----------------------------------------------------------- */

struct mem {
	long rss, pss, anon;	/* KiB */
};

/* Rss, Pss and Anonymous of a process, in KiB. */
static void
mem_of(pid_t pid, struct mem *m)
{
	char path[64], line[256];
	FILE *f;
	long v;

	snprintf(path, sizeof(path), "/proc/%ld/smaps_rollup", (long)pid);
	f = fopen(path, "r");
	if (f == NULL)
		die(path);
	memset(m, 0, sizeof(*m));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "Rss: %ld kB", &v) == 1)
			m->rss = v;
		else if (sscanf(line, "Pss: %ld kB", &v) == 1)
			m->pss = v;
		else if (sscanf(line, "Anonymous: %ld kB", &v) == 1)
			m->anon = v;
	}
	fclose(f);
	if (m->rss == 0)
		dief("no Rss in smaps_rollup");
}

/*
 * The kernel's slab memory in use, in bytes: sockets, their inodes,
 * files and epoll entries live there. The whole machine's, so other
 * processes add noise; -1 when /proc/slabinfo cannot be read (root
 * only).
 */
static long long
slab_bytes(void)
{
	char line[512], name[64];
	long long total = 0, active, objs, size;
	FILE *f;

	f = fopen("/proc/slabinfo", "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%63s %lld %lld %lld", name, &active, &objs,
		    &size) == 4)
			total += active * size;
	}
	fclose(f);
	return total;
}

struct probe {
	struct proto_loop *loop;
	struct proto_peer *peer;
	const char *addr;
	struct proto_session **s;
	uint64_t nsessions;	/* made */
	uint64_t up;		/* of them, up */
	uint64_t lost;
	struct proto_link **links;
	uint64_t nlinks;	/* asked for */
	uint64_t opened;	/* replies: status 0 */
	uint64_t refused;
	int lost_error;
};

static void
on_event(void *arg, struct proto_session *s, enum proto_session_event ev,
    int error, const char *text)
{
	struct probe *p = arg;

	(void)s;
	if (ev == PROTO_EV_UP) {
		p->up++;
		return;
	}
	if (ev == PROTO_EV_LOST) {
		p->lost++;
		if (error != ECANCELED && p->lost_error == 0) {
			p->lost_error = error;
			fprintf(stderr, "%s: session lost: %s\n", progname,
			    text);
		}
	}
}

static const struct proto_session_ops probe_ops = { on_event };

static void
on_log(void *arg, enum proto_log_level level, const char *msg)
{
	(void)arg;
	if (level <= PROTO_LOG_WARN)
		fprintf(stderr, "%s: %s\n", progname, msg);
}

static void
probe_init(struct probe *p, const char *addr, uint64_t max_sessions,
    uint64_t max_links)
{
	struct proto_peer_config cfg;
	struct rlimit rl;
	char err[256];

	memset(p, 0, sizeof(*p));
	signal(SIGPIPE, SIG_IGN);
	/* A descriptor a session: take what the hard limit allows. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < max_sessions + 64) {
		fprintf(stderr, "%s: %" PRIu64 " sessions need more than the "
		    "%llu descriptors allowed\n", progname, max_sessions,
		    (unsigned long long)rl.rlim_cur);
		exit(1);
	}
	p->addr = addr;
	p->loop = proto_loop_new();
	if (p->loop == NULL)
		die("proto_loop_new");
	proto_peer_config_init(&cfg);
	cfg.node = "bench_echo";
	cfg.log = on_log;
	p->peer = proto_peer_new(p->loop, &cfg, err, sizeof(err));
	if (p->peer == NULL)
		dief(err);
	p->s = calloc(max_sessions, sizeof(*p->s));
	p->links = calloc(max_links > 0 ? max_links : 1, sizeof(*p->links));
	if (p->s == NULL || p->links == NULL)
		die("out of memory");
}

/* Run rounds until *count reaches want; at most PHASE_NS. */
static void
run_until(struct probe *p, const uint64_t *count, uint64_t want,
    const char *what)
{
	uint64_t until = now_ns() + PHASE_NS;

	while (*count < want) {
		if (p->lost_error != 0)
			dief("a session was lost");
		if (now_ns() >= until) {
			fprintf(stderr, "%s: %s: %" PRIu64 " of %" PRIu64
			    " after %llu s\n", progname, what, *count, want,
			    (unsigned long long)(PHASE_NS / PROTO_SEC));
			exit(1);
		}
		if (proto_loop_run_once(p->loop, 100 * PROTO_MS) < 0)
			die("proto_loop_run_once");
	}
}

/* Let both sides finish what they were doing: delayed ACKs, frees. */
static void
settle(struct probe *p)
{
	uint64_t until = now_ns() + SETTLE_NS, t;

	while ((t = now_ns()) < until)
		if (proto_loop_run_once(p->loop, until - t) < 0)
			die("proto_loop_run_once");
}

/* Open sessions up to `total`, DIAL_BATCH dialling at a time. */
static void
open_sessions(struct probe *p, uint64_t total)
{
	char err[256];

	while (p->nsessions < total) {
		while (p->nsessions < total &&
		    p->nsessions - p->up < DIAL_BATCH) {
			p->s[p->nsessions] = proto_peer_connect(p->peer,
			    p->addr, &probe_ops, p, err, sizeof(err));
			if (p->s[p->nsessions] == NULL)
				dief(err);
			p->nsessions++;
		}
		run_until(p, &p->up, p->nsessions - (p->nsessions <
		    total ? DIAL_BATCH / 2 : 0), "sessions up");
	}
	run_until(p, &p->up, total, "sessions up");
}

static void
on_link_open(void *arg, struct proto_call *c, const struct proto_msg *m,
    int status, int final)
{
	struct probe *p = arg;

	(void)c;
	(void)m;
	if (!final)
		return;
	if (status == 0)
		p->opened++;
	else
		p->refused++;
}

static void
open_links(struct probe *p, uint64_t total)
{
	while (p->nlinks < total) {
		p->links[p->nlinks] = proto_link_open(p->s[0], "echo", NULL,
		    on_link_open, p);
		if (p->links[p->nlinks] == NULL)
			die("proto_link_open");
		p->nlinks++;
	}
	run_until(p, &p->opened, total, "links open");
	if (p->refused > 0)
		dief("the server refused links");
}

/* Close every session in order and wait for their ends. */
static void
probe_finish(struct probe *p)
{
	uint64_t i;

	for (i = 0; i < p->nsessions; i++)
		proto_session_close(p->s[i]);
	run_until(p, &p->lost, p->nsessions, "sessions closed");
	proto_peer_free(p->peer);
	proto_loop_run_once(p->loop, 0);
	proto_loop_free(p->loop);
	free(p->s);
	free(p->links);
}

static void
print_slab(long long a, long long b, uint64_t k)
{
	if (a < 0 || b < 0)
		printf(" kernel_slab_per=NA");
	else
		printf(" kernel_slab0=%lld kernel_slab1=%lld"
		    " kernel_slab_per=%.0f", a, b, (double)(b - a) / (double)k);
}

static void
print_mem(const char *side, const struct mem *a, const struct mem *b,
    uint64_t k)
{
	printf(" %s_rss0=%ld %s_rss1=%ld %s_pss0=%ld %s_pss1=%ld"
	    " %s_anon0=%ld %s_anon1=%ld %s_rss_per=%.0f %s_anon_per=%.0f",
	    side, a->rss, side, b->rss, side, a->pss, side, b->pss,
	    side, a->anon, side, b->anon,
	    side, (double)(b->rss - a->rss) * 1024 / (double)k,
	    side, (double)(b->anon - a->anon) * 1024 / (double)k);
}

static int
cmd_sessions(int argc, char **argv)
{
	struct mem srv0, srv1, me0, me1;
	struct probe p;
	long long slab0, slab1;
	pid_t server;
	uint64_t k;

	if (argc != 4)
		usage();
	server = (pid_t)parse_num("SERVER_PID", argv[2], 1, INT32_MAX);
	k = parse_num("K", argv[3], 1, 1000000);
	probe_init(&p, argv[1], WARM_SESSIONS + k, 0);
	open_sessions(&p, WARM_SESSIONS);
	settle(&p);
	mem_of(server, &srv0);
	mem_of(getpid(), &me0);
	slab0 = slab_bytes();
	open_sessions(&p, WARM_SESSIONS + k);
	settle(&p);
	mem_of(server, &srv1);
	mem_of(getpid(), &me1);
	slab1 = slab_bytes();
	printf("sessions=%" PRIu64 " warm=%d", k, WARM_SESSIONS);
	print_mem("server", &srv0, &srv1, k);
	print_mem("client", &me0, &me1, k);
	print_slab(slab0, slab1, k);
	printf("\n");
	probe_finish(&p);
	return 0;
}

static int
cmd_links(int argc, char **argv)
{
	struct mem srv0, srv1, me0, me1;
	struct probe p;
	long long slab0, slab1;
	pid_t server;
	uint64_t l;

	if (argc != 4)
		usage();
	server = (pid_t)parse_num("SERVER_PID", argv[2], 1, INT32_MAX);
	l = parse_num("L", argv[3], 1, 1000000);
	probe_init(&p, argv[1], 1, WARM_LINKS + l);
	open_sessions(&p, 1);
	open_links(&p, WARM_LINKS);
	settle(&p);
	mem_of(server, &srv0);
	mem_of(getpid(), &me0);
	slab0 = slab_bytes();
	open_links(&p, WARM_LINKS + l);
	settle(&p);
	mem_of(server, &srv1);
	mem_of(getpid(), &me1);
	slab1 = slab_bytes();
	printf("links=%" PRIu64 " warm=%d", l, WARM_LINKS);
	print_mem("server", &srv0, &srv1, l);
	print_mem("client", &me0, &me1, l);
	print_slab(slab0, slab1, l);
	printf("\n");
	probe_finish(&p);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "msgsize") == 0)
		return cmd_msgsize(argc - 1, argv + 1);
	if (strcmp(argv[1], "pingpong") == 0)
		return cmd_pingpong(argc - 1, argv + 1);
	if (strcmp(argv[1], "client") == 0)
		return cmd_client(argc - 1, argv + 1);
	if (strcmp(argv[1], "sessions") == 0)
		return cmd_sessions(argc - 1, argv + 1);
	if (strcmp(argv[1], "links") == 0)
		return cmd_links(argc - 1, argv + 1);
	usage();
	return 2;
}
