/*
 * fsio - how an event-loop server should run its file system calls:
 * a pool of threads, or io_uring.
 *
 *	fsio mkfile FILE SIZE
 *	fsio mkdir DIR N
 *	fsio read [-cw] [-b BLOCK] [-d DEPTH] [-p PASSES] [-t THREADS]
 *	    MODE FILE
 *	fsio stat [-w] [-d DEPTH] [-g GROUP] [-p PASSES] [-t THREADS]
 *	    MODE DIR N
 *
 * mkfile writes SIZE bytes (a pattern, not zeros, so that no file system
 * can leave holes) and fsyncs them; mkdir makes N empty files f0000000,
 * f0000001... in DIR.
 *
 * read reads FILE from end to end in BLOCK-byte pieces (32768 by
 * default), PASSES times; stat fstatat(2)s (statx for io_uring) the N
 * files of DIR, PASSES times. A loop thread, as a server's event loop,
 * keeps DEPTH calls in flight (16) and only ever waits in epoll_wait(2)
 * on one eventfd, through which completions come back:
 *
 *	inline	no handing off: the loop thread makes each call itself,
 *		one at a time (DEPTH is 1 whatever -d says); the floor of
 *		what a call costs, and what a server that blocks its loop
 *		pays
 *	pool	THREADS worker threads (4) take calls from a queue (a
 *		mutex and a condition variable) and put each result on a
 *		completion list; the worker that finds the list empty
 *		writes the eventfd, the loop thread takes the whole list
 *		(with -w every worker writes it for every completion, as
 *		libproto/loop/pool.c does)
 *	uring	one io_uring of DEPTH entries with the eventfd registered
 *		(io_uring_register_eventfd): the loop thread queues SQEs,
 *		submits once per wake-up and reaps every CQE there is; the
 *		kernel makes a call that need not wait (a read of cached
 *		pages) inside io_uring_submit, on the loop thread, and
 *		hands the others to its own workers (io-wq)
 *	uring-async  the same with IOSQE_ASYNC on every SQE: every call
 *		goes to io-wq, none runs on the loop thread
 *
 * -g makes a call of stat GROUP fstatat(2)s of files one after the
 * other, one hand-off for them all (inline and pool only), as a server
 * answering a READDIR with attributes would; the latency is then that
 * of the group.
 *
 * -c makes every pass a cold-ish one: posix_fadvise(POSIX_FADV_DONTNEED)
 * drops FILE's pages before it, so that the reads go to the device (or,
 * on a virtual machine, to whatever caches the host keeps).
 *
 * It prints one line of key=value figures: calls, bytes, the wall time
 * of the passes, their CPU time (getrusage(RUSAGE_SELF): every thread of
 * the process, io_uring's kernel workers included, as they belong to
 * it), the loop thread's own CPU time (getrusage(RUSAGE_THREAD)), its
 * time out of epoll_wait and the longest stretch of it in microseconds
 * (what other sessions of a server wait for at worst), context
 * switches, and the latency of a call in microseconds from the moment
 * the loop thread hands it off to the moment the loop thread has its
 * result (every sample kept; queueing behind the DEPTH - 1 others
 * included, as a server's client would see it).
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BLOCK_DEF	32768u
#define BLOCK_MAX	(64u << 20)
#define DEPTH_DEF	16u
#define DEPTH_MAX	4096u
#define THREADS_DEF	4u
#define THREADS_MAX	256u
#define NAME_LEN	24		/* "f" and any uint64_t, and a NUL */
#define FILES_MAX	10000000u

enum mode { MODE_INLINE, MODE_POOL, MODE_URING, MODE_URING_ASYNC };
enum kind { OP_READ, OP_STAT };

struct op {
	struct op *next;	/* on the pool's queue or completion list */
	enum kind kind;
	uint64_t off;		/* OP_READ: offset; OP_STAT: file number */
	size_t len;
	char *buf;
	char name[NAME_LEN];
	struct stat st;
	struct statx stx;
	double t0;		/* handed off */
	ssize_t res;		/* bytes read, 0, or -errno */
};

struct run;

/* The worker threads' side of MODE_POOL. */
struct pool {
	pthread_mutex_t qmu;	/* the queue and stop */
	pthread_cond_t qcv;
	struct op *qhead, **qtail;
	int stop;
	pthread_mutex_t cmu;	/* the completion list */
	struct op *chead, **ctail;
	pthread_t *tids;
	unsigned nthreads;
	int wake_each;		/* -w: eventfd written every completion */
	struct run *r;
};

struct run {
	enum mode mode;
	enum kind kind;
	int fd;			/* OP_READ: the file */
	int dirfd;		/* OP_STAT: the directory */
	uint64_t size;		/* OP_READ: bytes in a pass */
	uint64_t nfiles;	/* OP_STAT: files in a pass */
	size_t group;		/* OP_STAT: files in one hand-off */
	size_t block;
	unsigned depth;
	unsigned passes;
	int cold;
	int efd, epfd;
	struct pool pool;
	struct io_uring ring;
	int ring_up;
	double busy;		/* the loop thread's time out of epoll */
	double stall;		/* the longest of it at once */
	struct op *ops;		/* depth of them */
	struct op *freeops;
	uint64_t next;		/* next offset or file number */
	uint64_t inflight;
	uint64_t calls, bytes;
	double *lat;		/* microseconds, one a call */
	uint64_t nlat, maxlat;
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: fsio mkfile FILE SIZE\n"
	    "       fsio mkdir DIR N\n"
	    "       fsio read [-cw] [-b BLOCK] [-d DEPTH] [-p PASSES]"
	    " [-t THREADS] MODE FILE\n"
	    "       fsio stat [-w] [-d DEPTH] [-g GROUP] [-p PASSES]"
	    " [-t THREADS] MODE DIR N\n"
	    "MODE: inline, pool, uring or uring-async\n");
	exit(2);
}

static double
now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		err(1, "clock_gettime");
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
tv_sec(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/* A count from lo to hi, digits only, with an optional k, m or g. */
static uint64_t
parse_num(const char *what, const char *s, uint64_t lo, uint64_t hi)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	errno = 0;
	if (s[0] < '0' || s[0] > '9')
		errx(2, "%s %s: not a number", what, s);
	v = strtoull(s, &end, 10);
	if (errno != 0)
		errx(2, "%s %s: out of range", what, s);
	switch (*end) {
	case 'k': case 'K': mul = 1ull << 10; end++; break;
	case 'm': case 'M': mul = 1ull << 20; end++; break;
	case 'g': case 'G': mul = 1ull << 30; end++; break;
	}
	if (*end != '\0')
		errx(2, "%s %s: not a number", what, s);
	if (v > hi / mul || v * mul < lo || v * mul > hi)
		errx(2, "%s %s: not from %" PRIu64 " to %" PRIu64, what, s,
		    lo, hi);
	return v * mul;
}

static enum mode
parse_mode(const char *s)
{
	if (strcmp(s, "inline") == 0)
		return MODE_INLINE;
	if (strcmp(s, "pool") == 0)
		return MODE_POOL;
	if (strcmp(s, "uring") == 0)
		return MODE_URING;
	if (strcmp(s, "uring-async") == 0)
		return MODE_URING_ASYNC;
	errx(2, "%s: inline, pool, uring or uring-async", s);
}

/* ---- making the files ---------------------------------------------- */

static int
cmd_mkfile(int argc, char **argv)
{
	uint64_t size, done;
	size_t n, i;
	ssize_t w;
	char *buf;
	int fd;

	if (argc != 3)
		usage();
	size = parse_num("size", argv[2], 1, 1ull << 40);
	if ((buf = malloc(1u << 20)) == NULL)
		err(1, NULL);
	for (i = 0; i < 1u << 20; i++)
		buf[i] = (char)(i * 131 + (i >> 12));
	fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1)
		err(1, "%s", argv[1]);
	for (done = 0; done < size; done += (uint64_t)w) {
		n = size - done < (1u << 20) ? (size_t)(size - done) :
		    (1u << 20);
		buf[0] = (char)(done >> 20);	/* no two MiB alike */
		if ((w = write(fd, buf, n)) == -1)
			err(1, "%s", argv[1]);
	}
	if (fsync(fd) == -1 || close(fd) == -1)
		err(1, "%s", argv[1]);
	free(buf);
	return 0;
}

static int
cmd_mkdir(int argc, char **argv)
{
	char name[NAME_LEN];
	uint64_t n, i;
	int dfd, fd;

	if (argc != 3)
		usage();
	n = parse_num("count", argv[2], 1, FILES_MAX);
	if (mkdir(argv[1], 0755) == -1 && errno != EEXIST)
		err(1, "%s", argv[1]);
	if ((dfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		err(1, "%s", argv[1]);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "f%07" PRIu64, i);
		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd == -1)
			err(1, "%s/%s", argv[1], name);
		close(fd);
	}
	close(dfd);
	return 0;
}

/* ---- the calls ------------------------------------------------------- */

/* The call itself, on whichever thread runs it. */
static void
do_op(struct run *r, struct op *o)
{
	ssize_t n;
	size_t i;

	if (o->kind == OP_READ) {
		n = pread(r->fd, o->buf, o->len, (off_t)o->off);
		o->res = n == -1 ? -errno : n;
	} else {
		/* o->len files from o->off: a group in one hand-off. */
		for (i = 0; i < o->len; i++) {
			if (i > 0)
				snprintf(o->name, sizeof(o->name),
				    "f%07" PRIu64, o->off + i);
			if (fstatat(r->dirfd, o->name, &o->st,
			    AT_SYMLINK_NOFOLLOW) == -1) {
				o->res = -errno;
				return;
			}
		}
		o->res = 0;
	}
}

/* The next call of the pass into o; 0 when the pass has none left. */
static int
fill_op(struct run *r, struct op *o)
{
	o->kind = r->kind;
	if (r->kind == OP_READ) {
		if (r->next >= r->size)
			return 0;
		o->off = r->next;
		o->len = r->size - r->next < r->block ?
		    (size_t)(r->size - r->next) : r->block;
		r->next += o->len;
	} else {
		if (r->next >= r->nfiles)
			return 0;
		o->off = r->next;
		o->len = r->nfiles - r->next < r->group ?
		    (size_t)(r->nfiles - r->next) : r->group;
		r->next += o->len;
		snprintf(o->name, sizeof(o->name), "f%07" PRIu64, o->off);
	}
	return 1;
}

/* A result the loop thread has: checked, counted, timed. */
static void
complete(struct run *r, struct op *o, double t)
{
	if (o->res < 0) {
		errno = (int)-o->res;
		err(1, "%s at %" PRIu64, o->kind == OP_READ ? "read" : "stat",
		    o->off);
	}
	if (o->kind == OP_READ) {
		if ((size_t)o->res != o->len)
			errx(1, "short read at %" PRIu64 ": %zd of %zu",
			    o->off, o->res, o->len);
		r->bytes += (uint64_t)o->res;
		r->calls++;
	} else
		r->calls += o->len;
	if (r->nlat < r->maxlat)
		r->lat[r->nlat++] = (t - o->t0) * 1e6;
	o->next = r->freeops;
	r->freeops = o;
	r->inflight--;
}

/* ---- the pool ------------------------------------------------------- */

static void *
worker(void *arg)
{
	struct pool *p = arg;
	struct op *o;
	uint64_t one = 1;
	int was_empty;

	for (;;) {
		pthread_mutex_lock(&p->qmu);
		while (p->qhead == NULL && !p->stop)
			pthread_cond_wait(&p->qcv, &p->qmu);
		if (p->qhead == NULL) {
			pthread_mutex_unlock(&p->qmu);
			return NULL;
		}
		o = p->qhead;
		if ((p->qhead = o->next) == NULL)
			p->qtail = &p->qhead;
		pthread_mutex_unlock(&p->qmu);

		do_op(p->r, o);

		o->next = NULL;
		pthread_mutex_lock(&p->cmu);
		was_empty = p->chead == NULL;
		*p->ctail = o;
		p->ctail = &o->next;
		pthread_mutex_unlock(&p->cmu);
		if ((was_empty || p->wake_each) &&
		    write(p->r->efd, &one, sizeof(one)) == -1)
			err(1, "eventfd write");
	}
}

static void
pool_start(struct run *r, unsigned nthreads, int wake_each)
{
	struct pool *p = &r->pool;
	unsigned i;
	int e;

	pthread_mutex_init(&p->qmu, NULL);
	pthread_cond_init(&p->qcv, NULL);
	pthread_mutex_init(&p->cmu, NULL);
	p->qhead = p->chead = NULL;
	p->qtail = &p->qhead;
	p->ctail = &p->chead;
	p->r = r;
	p->nthreads = nthreads;
	p->wake_each = wake_each;
	if ((p->tids = calloc(nthreads, sizeof(*p->tids))) == NULL)
		err(1, NULL);
	for (i = 0; i < nthreads; i++)
		if ((e = pthread_create(&p->tids[i], NULL, worker, p)) != 0) {
			errno = e;
			err(1, "pthread_create");
		}
}

static void
pool_stop(struct run *r)
{
	struct pool *p = &r->pool;
	unsigned i;

	pthread_mutex_lock(&p->qmu);
	p->stop = 1;
	pthread_cond_broadcast(&p->qcv);
	pthread_mutex_unlock(&p->qmu);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->tids[i], NULL);
	free(p->tids);
}

static void
pool_submit(struct run *r, struct op *o)
{
	struct pool *p = &r->pool;

	o->next = NULL;
	o->t0 = now();
	pthread_mutex_lock(&p->qmu);
	*p->qtail = o;
	p->qtail = &o->next;
	pthread_cond_signal(&p->qcv);
	pthread_mutex_unlock(&p->qmu);
}

static void
pool_reap(struct run *r)
{
	struct pool *p = &r->pool;
	struct op *o, *next;
	double t;

	pthread_mutex_lock(&p->cmu);
	o = p->chead;
	p->chead = NULL;
	p->ctail = &p->chead;
	pthread_mutex_unlock(&p->cmu);
	t = now();
	for (; o != NULL; o = next) {
		next = o->next;
		complete(r, o, t);
	}
}

/* ---- io_uring ------------------------------------------------------- */

static void
uring_start(struct run *r)
{
	int e;

	if ((e = io_uring_queue_init(r->depth, &r->ring, 0)) < 0) {
		errno = -e;
		err(1, "io_uring_queue_init");
	}
	if ((e = io_uring_register_eventfd(&r->ring, r->efd)) < 0) {
		errno = -e;
		err(1, "io_uring_register_eventfd");
	}
	r->ring_up = 1;
}

static void
uring_queue(struct run *r, struct op *o)
{
	struct io_uring_sqe *sqe;

	if ((sqe = io_uring_get_sqe(&r->ring)) == NULL)
		errx(1, "io_uring: no SQE free");
	if (o->kind == OP_READ)
		io_uring_prep_read(sqe, r->fd, o->buf, (unsigned)o->len,
		    o->off);
	else
		io_uring_prep_statx(sqe, r->dirfd, o->name,
		    AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &o->stx);
	io_uring_sqe_set_data(sqe, o);
	if (r->mode == MODE_URING_ASYNC)
		io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
	o->t0 = now();
}

static void
uring_submit(struct run *r)
{
	int e;

	if ((e = io_uring_submit(&r->ring)) < 0) {
		errno = -e;
		err(1, "io_uring_submit");
	}
}

static void
uring_reap(struct run *r)
{
	struct io_uring_cqe *cqe;
	struct op *o;
	unsigned head, n = 0;
	double t = now();

	io_uring_for_each_cqe(&r->ring, head, cqe) {
		o = io_uring_cqe_get_data(cqe);
		o->res = cqe->res;
		complete(r, o, t);
		n++;
	}
	io_uring_cq_advance(&r->ring, n);
}

/* ---- the loop thread ------------------------------------------------ */

/* Hand off new calls until DEPTH are in flight or the pass has no more. */
static void
refill(struct run *r)
{
	struct op *o;
	int queued = 0;

	while (r->inflight < r->depth && (o = r->freeops) != NULL) {
		if (!fill_op(r, o))
			break;
		r->freeops = o->next;
		r->inflight++;
		if (r->mode == MODE_POOL)
			pool_submit(r, o);
		else {
			uring_queue(r, o);
			queued = 1;
		}
	}
	if (queued)
		uring_submit(r);
}

static void
wait_events(struct run *r)
{
	struct epoll_event ev;
	uint64_t v;
	int n;

	while ((n = epoll_wait(r->epfd, &ev, 1, -1)) == -1 && errno == EINTR)
		;
	if (n == -1)
		err(1, "epoll_wait");
	if (read(r->efd, &v, sizeof(v)) == -1 && errno != EAGAIN)
		err(1, "eventfd read");
}

/* The loop thread was busy from t0 to now. */
static void
busy(struct run *r, double t0)
{
	double d = now() - t0;

	r->busy += d;
	if (d > r->stall)
		r->stall = d;
}

static void
run_pass(struct run *r)
{
	struct op *o;
	double t, tb;

	if (r->cold && posix_fadvise(r->fd, 0, 0, POSIX_FADV_DONTNEED) != 0)
		errx(1, "posix_fadvise failed");
	r->next = 0;
	if (r->mode == MODE_INLINE) {
		o = r->freeops;
		while (fill_op(r, o)) {
			r->freeops = o->next;
			r->inflight++;
			o->t0 = now();
			do_op(r, o);
			t = now();
			complete(r, o, t);
			busy(r, o->t0);
		}
		return;
	}
	tb = now();
	refill(r);
	busy(r, tb);
	while (r->inflight > 0) {
		wait_events(r);
		tb = now();
		if (r->mode == MODE_POOL)
			pool_reap(r);
		else
			uring_reap(r);
		refill(r);
		busy(r, tb);
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(const struct run *r, double p)
{
	uint64_t i;

	if (r->nlat == 0)
		return 0;
	i = (uint64_t)(p * (double)(r->nlat - 1) + 0.5);
	return r->lat[i];
}

static const char *mode_names[] = { "inline", "pool", "uring",
    "uring-async" };

static int
cmd_run(enum kind kind, int argc, char **argv)
{
	struct run r;
	struct rusage ru0, ru1, lu0, lu1;
	struct epoll_event ev;
	struct stat st;
	unsigned threads = THREADS_DEF, i;
	int wake_each = 0;
	uint64_t per_pass;
	double t0, t1, cpu;
	int ch;

	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.block = BLOCK_DEF;
	r.depth = DEPTH_DEF;
	r.passes = 1;
	r.group = 1;
	r.fd = r.dirfd = -1;
	while ((ch = getopt(argc, argv, "b:cd:g:p:t:w")) != -1) {
		switch (ch) {
		case 'b':
			r.block = (size_t)parse_num("block", optarg, 512,
			    BLOCK_MAX);
			break;
		case 'c':
			r.cold = 1;
			break;
		case 'g':
			r.group = (size_t)parse_num("group", optarg, 1, 65536);
			break;
		case 'd':
			r.depth = (unsigned)parse_num("depth", optarg, 1,
			    DEPTH_MAX);
			break;
		case 'p':
			r.passes = (unsigned)parse_num("passes", optarg, 1,
			    100000);
			break;
		case 't':
			threads = (unsigned)parse_num("threads", optarg, 1,
			    THREADS_MAX);
			break;
		case 'w':
			wake_each = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != (kind == OP_READ ? 2 : 3))
		usage();
	if (kind == OP_STAT && r.cold)
		errx(2, "-c is for read");
	if (kind == OP_READ && r.group > 1)
		errx(2, "-g is for stat");
	r.mode = parse_mode(argv[0]);
	if (r.group > 1 && r.mode != MODE_POOL && r.mode != MODE_INLINE)
		errx(2, "-g: io_uring makes one statx an SQE");
	if (r.mode == MODE_INLINE)
		r.depth = 1;
	if (kind == OP_READ) {
		if ((r.fd = open(argv[1], O_RDONLY | O_CLOEXEC)) == -1)
			err(1, "%s", argv[1]);
		if (fstat(r.fd, &st) == -1)
			err(1, "%s", argv[1]);
		if ((r.size = (uint64_t)st.st_size) == 0)
			errx(1, "%s: empty", argv[1]);
		per_pass = (r.size + r.block - 1) / r.block;
	} else {
		r.dirfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (r.dirfd == -1)
			err(1, "%s", argv[1]);
		r.nfiles = parse_num("count", argv[2], 1, FILES_MAX);
		per_pass = (r.nfiles + r.group - 1) / r.group;
	}

	if ((r.ops = calloc(r.depth, sizeof(*r.ops))) == NULL)
		err(1, NULL);
	for (i = 0; i < r.depth; i++) {
		if (kind == OP_READ &&
		    (r.ops[i].buf = aligned_alloc(4096,
		    (r.block + 4095) / 4096 * 4096)) == NULL)
			err(1, NULL);
		/* Touch the buffers now, not in the first pass. */
		if (kind == OP_READ)
			memset(r.ops[i].buf, 0, r.block);
		r.ops[i].next = r.freeops;
		r.freeops = &r.ops[i];
	}
	r.maxlat = per_pass * r.passes;
	if ((r.lat = calloc(r.maxlat, sizeof(*r.lat))) == NULL)
		err(1, NULL);

	if ((r.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1)
		err(1, "eventfd");
	if ((r.epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		err(1, "epoll_create1");
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	if (epoll_ctl(r.epfd, EPOLL_CTL_ADD, r.efd, &ev) == -1)
		err(1, "epoll_ctl");
	if (r.mode == MODE_POOL)
		pool_start(&r, threads, wake_each);
	else if (r.mode != MODE_INLINE)
		uring_start(&r);

	if (getrusage(RUSAGE_SELF, &ru0) == -1 ||
	    getrusage(RUSAGE_THREAD, &lu0) == -1)
		err(1, "getrusage");
	t0 = now();
	for (i = 0; i < r.passes; i++)
		run_pass(&r);
	t1 = now();
	if (getrusage(RUSAGE_SELF, &ru1) == -1 ||
	    getrusage(RUSAGE_THREAD, &lu1) == -1)
		err(1, "getrusage");

	if (r.mode == MODE_POOL)
		pool_stop(&r);
	if (r.ring_up)
		io_uring_queue_exit(&r.ring);
	qsort(r.lat, r.nlat, sizeof(*r.lat), cmp_double);
	cpu = tv_sec(&ru1.ru_utime) - tv_sec(&ru0.ru_utime) +
	    tv_sec(&ru1.ru_stime) - tv_sec(&ru0.ru_stime);
	printf("op=%s mode=%s block=%zu group=%zu depth=%u threads=%u"
	    " passes=%u"
	    " cold=%d calls=%" PRIu64 " bytes=%" PRIu64 " wall=%.6f"
	    " cpu=%.6f user=%.6f sys=%.6f loop_cpu=%.6f loop_busy=%.6f"
	    " loop_stall=%.1f vcsw=%ld ivcsw=%ld"
	    " p50=%.1f p90=%.1f p99=%.1f max=%.1f\n",
	    kind == OP_READ ? "read" : "stat", mode_names[r.mode],
	    kind == OP_READ ? r.block : 0, r.group, r.depth,
	    r.mode == MODE_POOL ? threads : 0, r.passes, r.cold, r.calls,
	    r.bytes, t1 - t0, cpu,
	    tv_sec(&ru1.ru_utime) - tv_sec(&ru0.ru_utime),
	    tv_sec(&ru1.ru_stime) - tv_sec(&ru0.ru_stime),
	    tv_sec(&lu1.ru_utime) - tv_sec(&lu0.ru_utime) +
	    tv_sec(&lu1.ru_stime) - tv_sec(&lu0.ru_stime), r.busy,
	    r.stall * 1e6, ru1.ru_nvcsw - ru0.ru_nvcsw,
	    ru1.ru_nivcsw - ru0.ru_nivcsw,
	    pct(&r, 0.5), pct(&r, 0.9), pct(&r, 0.99),
	    r.nlat > 0 ? r.lat[r.nlat - 1] : 0.0);
	for (i = 0; i < r.depth; i++)
		free(r.ops[i].buf);
	free(r.ops);
	free(r.lat);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "mkfile") == 0)
		return cmd_mkfile(argc - 1, argv + 1);
	if (strcmp(argv[1], "mkdir") == 0)
		return cmd_mkdir(argc - 1, argv + 1);
	if (strcmp(argv[1], "read") == 0)
		return cmd_run(OP_READ, argc - 1, argv + 1);
	if (strcmp(argv[1], "stat") == 0)
		return cmd_run(OP_STAT, argc - 1, argv + 1);
	usage();
	return 2;
}
