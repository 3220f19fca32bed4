/*
 * test_loop.c - the event loop against every promise of proto_loop.h:
 * descriptors, timers, deferred calls, freeing from inside callbacks,
 * the end of proto_loop_run(), proto_loop_stop(), the round's clock.
 *
 * No test depends on how fast the machine is: timers are checked for
 * order and for never firing early, and the longest waits are a few
 * tens of milliseconds. Every test runs under a watchdog (alarm) so a
 * loop that hangs fails instead of blocking the suite. Objects freed
 * inside callbacks are freed for real, so under SAN=1 any call into or
 * read of a released watcher, timer or deferred call is an
 * AddressSanitizer report.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cmocka.h>

#include "libproto/proto_loop.h"

#define WATCHDOG_SEC	60

static uint64_t
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * PROTO_SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static int
watchdog(void **state)
{
	(void)state;
	alarm(WATCHDOG_SEC);
	return 0;
}

static void
mkpipe(int p[2])
{
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
}

static void
put(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* --- a log of callbacks --------------------------------------------------- */

#define LOG_MAX	32768

struct log {
	int n;
	int who[LOG_MAX];
	unsigned ev[LOG_MAX];
	uint64_t now[LOG_MAX];
};

static void
log_add(struct log *lg, int who, unsigned ev, uint64_t now)
{
	assert_true(lg->n < LOG_MAX);
	lg->who[lg->n] = who;
	lg->ev[lg->n] = ev;
	lg->now[lg->n] = now;
	lg->n++;
}

/* --- descriptors ---------------------------------------------------------- */

struct iow {
	struct proto_loop *l;
	struct proto_io *io;
	struct log *lg;
	int id;
	int calls;
	unsigned last;
	int drain;		/* read what is there */
	/* For freeing and disabling others from inside a callback. */
	struct iow *other;
	int free_other, quiet_other, free_self, stop_at;
};

static void
on_io(struct proto_io *io, unsigned ev, void *arg)
{
	struct iow *w = arg;
	char buf[256];

	assert_ptr_equal(io, w->io);
	w->calls++;
	w->last = ev;
	if (w->lg != NULL)
		log_add(w->lg, w->id, ev, proto_loop_now(w->l));
	if (w->drain)
		while (read(proto_io_fd(io), buf, sizeof(buf)) > 0)
			continue;
	if (w->other != NULL && w->free_other) {
		proto_io_free(w->other->io);
		w->other->io = NULL;
	}
	if (w->other != NULL && w->quiet_other && w->other->io != NULL)
		assert_int_equal(proto_io_set(w->other->io, 0), 0);
	if (w->free_self) {
		proto_io_free(w->io);
		w->io = NULL;
	}
	if (w->stop_at != 0 && w->calls == w->stop_at)
		proto_loop_stop(w->l);
}

static void
test_io_read(void **state)
{
	struct proto_loop *l;
	struct iow w = { 0 };
	int p[2];

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	mkpipe(p);
	w.l = l;
	w.drain = 1;
	w.io = proto_io_new(l, p[0], PROTO_IO_READ, on_io, &w);
	assert_non_null(w.io);
	assert_int_equal(proto_io_fd(w.io), p[0]);
	assert_int_equal(proto_io_events(w.io), PROTO_IO_READ);

	/* Nothing to read: a round without a call. */
	assert_int_equal(proto_loop_run_once(l, 0), 0);
	assert_int_equal(w.calls, 0);

	put(p[1], "x");
	assert_int_equal(proto_loop_run_once(l, UINT64_MAX), 0);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.last, PROTO_IO_READ);

	/* Drained: quiet again. */
	assert_int_equal(proto_loop_run_once(l, 0), 0);
	assert_int_equal(w.calls, 1);

	/* A bounded wait with nothing to do returns without a call. */
	assert_int_equal(proto_loop_run_once(l, 2 * PROTO_MS), 0);
	assert_int_equal(w.calls, 1);

	proto_io_free(w.io);
	proto_loop_free(l);
	close(p[0]);
	close(p[1]);
}

static void
test_io_write(void **state)
{
	struct proto_loop *l;
	struct iow w = { 0 };
	char buf[4096];
	int p[2];

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	mkpipe(p);
	memset(buf, 'a', sizeof(buf));
	w.l = l;
	w.io = proto_io_new(l, p[1], PROTO_IO_WRITE, on_io, &w);
	assert_non_null(w.io);
	assert_int_equal(proto_loop_run_once(l, UINT64_MAX), 0);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.last, PROTO_IO_WRITE);

	/* Full: not writable. */
	while (write(p[1], buf, sizeof(buf)) > 0)
		continue;
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(proto_loop_run_once(l, 0), 0);
	assert_int_equal(w.calls, 1);

	/* Emptied: writable again. */
	while (read(p[0], buf, sizeof(buf)) > 0)
		continue;
	assert_int_equal(proto_loop_run_once(l, UINT64_MAX), 0);
	assert_int_equal(w.calls, 2);

	proto_io_free(w.io);
	proto_loop_free(l);
	close(p[0]);
	close(p[1]);
}

/* Switching events: only what is watched is reported; 0 is silence. */
static void
test_io_switch(void **state)
{
	struct proto_loop *l;
	struct iow w = { 0 };
	uint64_t t0;
	int sv[2];

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, sv), 0);
	put(sv[1], "data");	/* sv[0] is readable and writable */
	w.l = l;
	w.io = proto_io_new(l, sv[0], PROTO_IO_READ, on_io, &w);
	assert_non_null(w.io);
	assert_int_equal(proto_loop_run_once(l, UINT64_MAX), 0);
	assert_int_equal(w.last, PROTO_IO_READ);

	assert_int_equal(proto_io_set(w.io, PROTO_IO_WRITE), 0);
	assert_int_equal(proto_io_events(w.io), PROTO_IO_WRITE);
	assert_int_equal(proto_loop_run_once(l, UINT64_MAX), 0);
	assert_int_equal(w.calls, 2);
	assert_int_equal(w.last, PROTO_IO_WRITE);

	assert_int_equal(proto_io_set(w.io, PROTO_IO_READ | PROTO_IO_WRITE),
	    0);
	assert_int_equal(proto_loop_run_once(l, UINT64_MAX), 0);
	assert_int_equal(w.last, PROTO_IO_READ | PROTO_IO_WRITE);

	/* 0: never called, and nothing left for proto_loop_run(). */
	assert_int_equal(proto_io_set(w.io, 0), 0);
	assert_int_equal(proto_io_events(w.io), 0);
	w.calls = 0;
	assert_int_equal(proto_loop_run_once(l, 0), 0);
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(w.calls, 0);

	/*
	 * Even after a hang-up, which epoll reports unasked: no call, and
	 * no wake-up either (the wait lasts its whole time).
	 */
	close(sv[1]);
	t0 = mono();
	assert_int_equal(proto_loop_run_once(l, 20 * PROTO_MS), 0);
	assert_true(mono() - t0 >= 20 * PROTO_MS);
	assert_int_equal(w.calls, 0);

	/* Back on: remembered, not forgotten. */
	assert_int_equal(proto_io_set(w.io, PROTO_IO_READ), 0);
	assert_int_equal(proto_loop_run_once(l, UINT64_MAX), 0);
	assert_int_equal(w.calls, 1);
	assert_true(w.last & PROTO_IO_READ);

	/* Setting the same events twice is no change. */
	assert_int_equal(proto_io_set(w.io, PROTO_IO_READ), 0);
	assert_int_equal(proto_io_set(w.io, 0x100), -1);
	assert_int_equal(errno, EINVAL);

	proto_io_free(w.io);
	proto_loop_free(l);
	close(sv[0]);
}

/* A watcher created with no events waits; the fd is still checked. */
static void
test_io_zero_events(void **state)
{
	struct proto_loop *l;
	struct iow w = { 0 };
	int p[2];

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	mkpipe(p);
	put(p[1], "x");
	w.l = l;
	w.io = proto_io_new(l, p[0], 0, on_io, &w);
	assert_non_null(w.io);
	assert_int_equal(proto_loop_run(l), 0);	/* nothing to wait for */
	assert_int_equal(w.calls, 0);
	assert_int_equal(proto_io_set(w.io, PROTO_IO_READ), 0);
	assert_int_equal(proto_loop_run_once(l, UINT64_MAX), 0);
	assert_int_equal(w.calls, 1);
	proto_io_free(w.io);
	proto_loop_free(l);
	close(p[0]);
	close(p[1]);
}

/* A hang-up: ERROR with the watched bits, so the read tells EOF. */
static void
test_io_hangup(void **state)
{
	struct proto_loop *l;
	struct iow w = { 0 };
	char c;
	int p[2];

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	mkpipe(p);
	close(p[1]);
	w.l = l;
	w.io = proto_io_new(l, p[0], PROTO_IO_READ, on_io, &w);
	assert_non_null(w.io);
	assert_int_equal(proto_loop_run_once(l, UINT64_MAX), 0);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.last, PROTO_IO_READ | PROTO_IO_ERROR);
	assert_int_equal(read(p[0], &c, 1), 0);
	proto_io_free(w.io);
	proto_loop_free(l);
	close(p[0]);
}

/* epoll refuses regular files: they are always ready, never block. */
static void
test_io_regular_file(void **state)
{
	struct proto_loop *l;
	struct iow w = { 0 };
	FILE *f;
	int i;

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	f = tmpfile();
	assert_non_null(f);
	w.l = l;
	w.io = proto_io_new(l, fileno(f), PROTO_IO_READ | PROTO_IO_WRITE,
	    on_io, &w);
	assert_non_null(w.io);
	for (i = 1; i <= 3; i++) {
		/* An unbounded wait must not block on it. */
		assert_int_equal(proto_loop_run_once(l, UINT64_MAX), 0);
		assert_int_equal(w.calls, i);
		assert_int_equal(w.last, PROTO_IO_READ | PROTO_IO_WRITE);
	}
	assert_int_equal(proto_io_set(w.io, PROTO_IO_READ), 0);
	assert_int_equal(proto_loop_run_once(l, UINT64_MAX), 0);
	assert_int_equal(w.last, PROTO_IO_READ);
	assert_int_equal(proto_io_set(w.io, 0), 0);
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(w.calls, 4);
	/* Stops proto_loop_run() as usual. */
	w.stop_at = 6;
	assert_int_equal(proto_io_set(w.io, PROTO_IO_READ), 0);
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(w.calls, 6);
	proto_io_free(w.io);
	proto_loop_free(l);
	fclose(f);
}

static void
test_io_bad(void **state)
{
	struct proto_loop *l;
	struct proto_io *io;
	struct iow w = { 0 };
	int p[2];

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	mkpipe(p);
	errno = 0;
	assert_null(proto_io_new(l, -1, PROTO_IO_READ, on_io, &w));
	assert_int_equal(errno, EBADF);
	assert_null(proto_io_new(l, 1000000, 0, on_io, &w));
	assert_int_equal(errno, EBADF);
	assert_null(proto_io_new(l, p[0], 0x80, on_io, &w));
	assert_int_equal(errno, EINVAL);
	assert_null(proto_io_new(l, p[0], PROTO_IO_READ, NULL, &w));
	assert_int_equal(errno, EINVAL);
	/* One watcher per descriptor. */
	io = proto_io_new(l, p[0], PROTO_IO_READ, on_io, &w);
	assert_non_null(io);
	assert_null(proto_io_new(l, p[0], PROTO_IO_READ, on_io, &w));
	assert_int_equal(errno, EEXIST);
	proto_io_free(io);
	proto_io_free(NULL);
	proto_loop_free(l);
	proto_loop_free(NULL);
	close(p[0]);
	close(p[1]);
}

/*
 * Two watchers ready in one round; the first called frees the other
 * (or tells it to stop watching): the other must not be called. The
 * epoll batch holds a pointer to it, so under ASan a call would be a
 * use after free if its memory went at once.
 */
static void
ready_pair(int mode)
{
	struct proto_loop *l;
	struct iow a = { 0 }, b = { 0 };
	int p[2], q[2];

	l = proto_loop_new();
	assert_non_null(l);
	mkpipe(p);
	mkpipe(q);
	put(p[1], "a");
	put(q[1], "b");
	a.l = b.l = l;
	a.other = &b;
	b.other = &a;
	a.free_other = b.free_other = mode == 0;
	a.quiet_other = b.quiet_other = mode == 1;
	a.free_self = b.free_self = mode == 2;
	a.drain = b.drain = 1;
	a.io = proto_io_new(l, p[0], PROTO_IO_READ, on_io, &a);
	b.io = proto_io_new(l, q[0], PROTO_IO_READ, on_io, &b);
	assert_non_null(a.io);
	assert_non_null(b.io);
	assert_int_equal(proto_loop_run_once(l, UINT64_MAX), 0);
	if (mode == 2) {
		/* Each freed itself: both were called, once. */
		assert_int_equal(a.calls, 1);
		assert_int_equal(b.calls, 1);
	} else
		assert_int_equal(a.calls + b.calls, 1);
	if (a.io != NULL)
		proto_io_free(a.io);
	if (b.io != NULL)
		proto_io_free(b.io);
	proto_loop_free(l);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
}

static void
test_io_free_pending(void **state)
{
	(void)state;
	ready_pair(0);
	ready_pair(1);
	ready_pair(2);
}

/*
 * Freed, its descriptor closed, a new pipe taking the same number and a
 * new watcher on it, all in one round: the stale event of the batch
 * must reach neither the dead watcher nor the new one.
 */
struct reuse {
	struct proto_loop *l;
	struct proto_io *io[2];
	int fd[2];
	int calls[3];
	int newp[2];
	struct proto_io *fresh;
};

static void
on_reuse_fresh(struct proto_io *io, unsigned ev, void *arg)
{
	struct reuse *r = arg;

	(void)io;
	(void)ev;
	r->calls[2]++;
}

static void
on_reuse(struct proto_io *io, unsigned ev, void *arg)
{
	struct reuse *r = arg;
	int me = io == r->io[0] ? 0 : 1, other = 1 - me;

	(void)ev;
	r->calls[me]++;
	proto_io_free(r->io[other]);
	r->io[other] = NULL;
	close(r->fd[other]);
	mkpipe(r->newp);
	put(r->newp[1], "n");
	r->fresh = proto_io_new(r->l, r->newp[0], PROTO_IO_READ,
	    on_reuse_fresh, r);
	assert_non_null(r->fresh);
	proto_io_free(r->io[me]);
	r->io[me] = NULL;
}

static void
test_io_fd_reuse(void **state)
{
	struct reuse r;
	int p[2], q[2];

	(void)state;
	memset(&r, 0, sizeof(r));
	r.l = proto_loop_new();
	assert_non_null(r.l);
	mkpipe(p);
	mkpipe(q);
	put(p[1], "a");
	put(q[1], "b");
	r.fd[0] = p[0];
	r.fd[1] = q[0];
	r.io[0] = proto_io_new(r.l, p[0], PROTO_IO_READ, on_reuse, &r);
	r.io[1] = proto_io_new(r.l, q[0], PROTO_IO_READ, on_reuse, &r);
	assert_int_equal(proto_loop_run_once(r.l, UINT64_MAX), 0);
	assert_int_equal(r.calls[0] + r.calls[1], 1);
	assert_int_equal(r.calls[2], 0);
	/* The new watcher works from the next round on. */
	assert_int_equal(proto_loop_run_once(r.l, UINT64_MAX), 0);
	assert_int_equal(r.calls[2], 1);
	proto_io_free(r.fresh);
	proto_loop_free(r.l);
	close(r.newp[0]);
	close(r.newp[1]);
	close(r.calls[0] ? p[0] : q[0]);
	close(p[1]);
	close(q[1]);
}

/* --- timers --------------------------------------------------------------- */

struct tw {
	struct proto_loop *l;
	struct proto_timer *t;
	struct log *lg;
	int id;
	int calls;
	uint64_t when;		/* the deadline it was armed for */
	uint64_t seq;		/* when it was armed, in arming order */
	int rearm;		/* re-arm for "now" this many times */
	struct tw *victim;	/* stopped, freed or moved when called */
	int victim_op;
	int free_self;
};

enum { V_STOP = 1, V_FREE, V_LATER };

static void
on_timer(struct proto_timer *t, void *arg)
{
	struct tw *w = arg;
	uint64_t now = proto_loop_now(w->l);

	assert_ptr_equal(t, w->t);
	/* Never early, never still armed while called. */
	assert_true(now >= w->when);
	assert_false(proto_timer_armed(t));
	w->calls++;
	if (w->lg != NULL)
		log_add(w->lg, w->id, 0, now);
	if (w->rearm > 0) {
		w->rearm--;
		w->when = now;
		proto_timer_set(t, 0);
		assert_true(proto_timer_armed(t));
	}
	if (w->victim != NULL) {
		switch (w->victim_op) {
		case V_STOP:
			proto_timer_stop(w->victim->t);
			break;
		case V_FREE:
			proto_timer_free(w->victim->t);
			w->victim->t = NULL;
			break;
		case V_LATER:
			w->victim->when = now + PROTO_SEC;
			proto_timer_set(w->victim->t, PROTO_SEC);
			break;
		}
	}
	if (w->free_self) {
		proto_timer_free(t);
		w->t = NULL;
	}
}

static void
tw_init(struct tw *w, struct proto_loop *l, struct log *lg, int id)
{
	memset(w, 0, sizeof(*w));
	w->l = l;
	w->lg = lg;
	w->id = id;
	w->t = proto_timer_new(l, on_timer, w);
	assert_non_null(w->t);
}

static uint64_t armed_seq;

static void
tw_set_at(struct tw *w, uint64_t when)
{
	w->when = when;
	w->seq = ++armed_seq;
	proto_timer_set_at(w->t, when);
}

/* Ascending deadlines; equal ones in arming order. */
static void
check_order(const struct log *lg, const struct tw *w)
{
	int i;

	for (i = 1; i < lg->n; i++) {
		const struct tw *a = &w[lg->who[i - 1]];
		const struct tw *b = &w[lg->who[i]];

		assert_true(a->when <= b->when);
		if (a->when == b->when)
			assert_true(a->seq < b->seq);
	}
}

/* Random deadlines, some past, many equal, a few in the near future. */
static void
test_timer_order(void **state)
{
	static struct log lg;
	static struct tw w[1000];
	struct proto_loop *l;
	uint64_t seed = 42, base;
	int i;

	(void)state;
	memset(&lg, 0, sizeof(lg));
	l = proto_loop_new();
	assert_non_null(l);
	base = proto_loop_now(l);
	for (i = 0; i < 1000; i++) {
		tw_init(&w[i], l, &lg, i);
		/* Within +-20 ms of now, on a coarse grid: ties happen. */
		tw_set_at(&w[i], base - 20 * PROTO_MS +
		    (rnd(&seed) % 40) * PROTO_MS);
	}
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(lg.n, 1000);
	check_order(&lg, w);
	for (i = 0; i < 1000; i++) {
		assert_int_equal(w[i].calls, 1);
		proto_timer_free(w[i].t);
	}
	proto_loop_free(l);
}

/* Equal deadlines: arming order; re-arming moves a timer to the back. */
static void
test_timer_ties(void **state)
{
	struct log lg;
	struct tw w[8];
	struct proto_loop *l;
	uint64_t at;
	int i;

	(void)state;
	memset(&lg, 0, sizeof(lg));
	l = proto_loop_new();
	assert_non_null(l);
	at = proto_loop_now(l) - PROTO_MS;
	for (i = 0; i < 8; i++) {
		tw_init(&w[i], l, &lg, i);
		tw_set_at(&w[i], at);
	}
	tw_set_at(&w[2], at);	/* again: now the last of the eight */
	assert_int_equal(proto_loop_run_once(l, 0), 0);
	assert_int_equal(lg.n, 8);
	assert_int_equal(lg.who[0], 0);
	assert_int_equal(lg.who[1], 1);
	assert_int_equal(lg.who[2], 3);
	assert_int_equal(lg.who[6], 7);
	assert_int_equal(lg.who[7], 2);
	for (i = 0; i < 8; i++)
		proto_timer_free(w[i].t);
	proto_loop_free(l);
}

static void
test_timer_set_stop(void **state)
{
	struct tw a, b, c;
	struct proto_loop *l;
	uint64_t t0, now;

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	tw_init(&a, l, NULL, 0);
	tw_init(&b, l, NULL, 1);
	tw_init(&c, l, NULL, 2);
	assert_false(proto_timer_armed(a.t));

	/* Re-armed before it fired: fires once, for the new time. */
	t0 = proto_loop_now(l);
	a.when = t0 + 3 * PROTO_MS;
	proto_timer_set(a.t, 10 * PROTO_SEC);
	assert_true(proto_timer_armed(a.t));
	proto_timer_set(a.t, 3 * PROTO_MS);
	/* Stopped: never fires. Freed while armed: never fires. */
	proto_timer_set(b.t, PROTO_MS);
	proto_timer_stop(b.t);
	assert_false(proto_timer_armed(b.t));
	proto_timer_stop(b.t);	/* twice: harmless */
	proto_timer_set(c.t, PROTO_MS);
	proto_timer_free(c.t);
	c.t = NULL;
	assert_int_equal(proto_loop_run(l), 0);
	now = mono();
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 0);
	assert_true(now >= t0 + 3 * PROTO_MS);

	/* set_at: an absolute time, checked against the round's clock. */
	tw_set_at(&a, mono() + 2 * PROTO_MS);
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(a.calls, 2);
	/* In the past: fires in the next round. */
	tw_set_at(&a, 1);
	assert_int_equal(proto_loop_run_once(l, UINT64_MAX), 0);
	assert_int_equal(a.calls, 3);

	/* A far timer keeps a bounded wait bounded. */
	proto_timer_set(b.t, 3600 * PROTO_SEC);
	assert_int_equal(proto_loop_run_once(l, PROTO_MS), 0);
	assert_int_equal(b.calls, 0);
	proto_timer_stop(b.t);
	/* "Never": saturates, does not wrap into the past. */
	proto_timer_set(b.t, UINT64_MAX);
	assert_int_equal(proto_loop_run_once(l, 0), 0);
	assert_int_equal(b.calls, 0);
	proto_timer_free(a.t);
	proto_timer_free(b.t);
	proto_timer_free(NULL);
	proto_loop_free(l);
}

/* Re-armed for "now" in its callback: once per round, no endless loop. */
static void
test_timer_rearm_now(void **state)
{
	struct tw a;
	struct proto_loop *l;
	int i;

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	tw_init(&a, l, NULL, 0);
	a.rearm = 5;
	tw_set_at(&a, 1);
	for (i = 1; i <= 6; i++) {
		assert_int_equal(proto_loop_run_once(l, 0), 0);
		assert_int_equal(a.calls, i);
	}
	assert_false(proto_timer_armed(a.t));
	assert_int_equal(proto_loop_run_once(l, 0), 0);
	assert_int_equal(a.calls, 6);
	proto_timer_free(a.t);
	proto_loop_free(l);
}

/*
 * Timers due in the same round as the one called: stopped, freed or
 * moved later by it, they must not be called; freed, their memory must
 * not be touched (ASan).
 */
static void
test_timer_free_others(void **state)
{
	struct tw w[6];
	struct log lg;
	struct proto_loop *l;
	uint64_t at;
	int i;

	(void)state;
	memset(&lg, 0, sizeof(lg));
	l = proto_loop_new();
	assert_non_null(l);
	at = proto_loop_now(l) - PROTO_MS;
	for (i = 0; i < 6; i++) {
		tw_init(&w[i], l, &lg, i);
		tw_set_at(&w[i], at + (uint64_t)i);
	}
	w[0].victim = &w[3];
	w[0].victim_op = V_STOP;
	w[1].victim = &w[4];
	w[1].victim_op = V_FREE;
	w[2].victim = &w[5];
	w[2].victim_op = V_LATER;
	w[2].free_self = 1;
	assert_int_equal(proto_loop_run_once(l, 0), 0);
	assert_int_equal(lg.n, 3);
	assert_int_equal(w[3].calls, 0);
	assert_int_equal(w[4].calls, 0);
	assert_int_equal(w[5].calls, 0);
	assert_null(w[2].t);
	assert_true(proto_timer_armed(w[5].t));
	assert_false(proto_timer_armed(w[3].t));
	for (i = 0; i < 6; i++)
		proto_timer_free(w[i].t);
	proto_loop_free(l);
}

/*
 * 10000 timers, armed, re-armed and stopped at random: they fire in
 * deadline order (ties in arming order), each armed one exactly once,
 * the stopped ones never.
 */
static void
test_timer_10000(void **state)
{
	static struct log lg;
	static struct tw w[10000];
	static int live[10000];
	struct proto_loop *l;
	uint64_t seed = 7, base;
	int i, k, fired = 0, armed = 0;

	(void)state;
	memset(&lg, 0, sizeof(lg));
	l = proto_loop_new();
	assert_non_null(l);
	base = proto_loop_now(l);
	for (i = 0; i < 10000; i++) {
		tw_init(&w[i], l, &lg, i);
		/* 1000 distinct deadlines, all past: many ties. */
		tw_set_at(&w[i], base - PROTO_SEC +
		    (rnd(&seed) % 1000) * PROTO_US);
	}
	for (k = 0; k < 20000; k++) {
		i = rnd(&seed) % 10000;
		if (rnd(&seed) % 3 == 0)
			proto_timer_stop(w[i].t);
		else
			tw_set_at(&w[i], base - PROTO_SEC +
			    (rnd(&seed) % 1000) * PROTO_US);
	}
	for (i = 0; i < 10000; i++) {
		live[i] = proto_timer_armed(w[i].t);
		armed += live[i];
	}
	assert_int_equal(proto_loop_run_once(l, 0), 0);
	assert_int_equal(lg.n, armed);
	check_order(&lg, w);
	for (i = 0; i < 10000; i++) {
		assert_int_equal(w[i].calls, live[i]);
		fired += w[i].calls;
		proto_timer_free(w[i].t);
	}
	assert_int_equal(fired, armed);
	proto_loop_free(l);
}

/* --- deferred calls ------------------------------------------------------- */

struct dw {
	struct proto_loop *l;
	struct proto_defer *d;
	struct log *lg;
	int id;
	int calls;
	int repost;		/* post itself again this many times */
	struct dw *victim;	/* freed when called */
	struct dw *chain;	/* posted when called */
};

static void
on_defer(struct proto_defer *d, void *arg)
{
	struct dw *w = arg;

	assert_ptr_equal(d, w->d);
	w->calls++;
	if (w->lg != NULL)
		log_add(w->lg, 100 + w->id, 0, proto_loop_now(w->l));
	if (w->repost > 0) {
		w->repost--;
		proto_defer_post(d);
	}
	if (w->victim != NULL) {
		proto_defer_free(w->victim->d);
		w->victim->d = NULL;
	}
	if (w->chain != NULL)
		proto_defer_post(w->chain->d);
}

static void
dw_init(struct dw *w, struct proto_loop *l, struct log *lg, int id)
{
	memset(w, 0, sizeof(*w));
	w->l = l;
	w->lg = lg;
	w->id = id;
	w->d = proto_defer_new(l, on_defer, w);
	assert_non_null(w->d);
}

/* Posted by a watcher: runs after every watcher and timer of the round. */
struct phase {
	struct proto_loop *l;
	struct proto_io *io;
	struct log *lg;
	struct dw *dw;
};

static void
on_phase_io(struct proto_io *io, unsigned ev, void *arg)
{
	struct phase *ph = arg;
	char buf[16];

	(void)ev;
	while (read(proto_io_fd(io), buf, sizeof(buf)) > 0)
		continue;
	log_add(ph->lg, 1, 0, proto_loop_now(ph->l));
	proto_defer_post(ph->dw->d);
	proto_defer_post(ph->dw->d);	/* twice: still one call */
}

static void
test_defer_end_of_round(void **state)
{
	static struct log lg;
	struct phase ph;
	struct dw d;
	struct tw t;
	struct proto_loop *l;
	int p[2];

	(void)state;
	memset(&lg, 0, sizeof(lg));
	l = proto_loop_new();
	assert_non_null(l);
	mkpipe(p);
	put(p[1], "x");
	dw_init(&d, l, &lg, 0);
	tw_init(&t, l, &lg, 2);
	tw_set_at(&t, 1);
	ph.l = l;
	ph.lg = &lg;
	ph.dw = &d;
	ph.io = proto_io_new(l, p[0], PROTO_IO_READ, on_phase_io, &ph);
	assert_non_null(ph.io);
	assert_int_equal(proto_loop_run_once(l, UINT64_MAX), 0);
	/* Watcher, timer, then the deferred call, once, one clock. */
	assert_int_equal(lg.n, 3);
	assert_int_equal(lg.who[0], 1);
	assert_int_equal(lg.who[1], 2);
	assert_int_equal(lg.who[2], 100);
	assert_int_equal(d.calls, 1);
	assert_true(lg.now[0] == lg.now[1] && lg.now[1] == lg.now[2]);
	proto_io_free(ph.io);
	proto_timer_free(t.t);
	proto_defer_free(d.d);
	proto_loop_free(l);
	close(p[0]);
	close(p[1]);
}

/* Posted from a deferred call: the next round, not this one. */
static void
test_defer_next_round(void **state)
{
	struct dw a, b;
	struct proto_loop *l;

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	dw_init(&a, l, NULL, 0);
	dw_init(&b, l, NULL, 1);
	a.repost = 2;
	a.chain = &b;
	proto_defer_post(a.d);
	assert_int_equal(proto_loop_run_once(l, UINT64_MAX), 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 0);
	/* Posted work makes an unbounded wait a poll. */
	assert_int_equal(proto_loop_run_once(l, UINT64_MAX), 0);
	assert_int_equal(a.calls, 2);
	assert_int_equal(b.calls, 1);
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(a.calls, 3);
	assert_int_equal(b.calls, 2);
	proto_defer_free(a.d);
	proto_defer_free(b.d);
	proto_loop_free(l);
}

/* Freed while posted, from inside and outside a round: never called. */
static void
test_defer_free(void **state)
{
	struct dw a, b, c;
	struct proto_loop *l;

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	dw_init(&a, l, NULL, 0);
	dw_init(&b, l, NULL, 1);
	dw_init(&c, l, NULL, 2);
	a.victim = &b;
	proto_defer_post(a.d);
	proto_defer_post(b.d);
	proto_defer_post(c.d);
	proto_defer_free(c.d);
	c.d = NULL;
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 0);
	assert_int_equal(c.calls, 0);
	proto_defer_free(a.d);
	proto_defer_free(NULL);
	proto_loop_free(l);
}

/* A deferred call that frees itself, and one posted after its free. */
struct selfd {
	struct proto_defer *d;
	int calls;
};

static void
on_self_free(struct proto_defer *d, void *arg)
{
	struct selfd *s = arg;

	s->calls++;
	proto_defer_free(d);
	proto_defer_post(d);	/* dead until the end of the round */
}

static void
test_defer_free_self(void **state)
{
	struct proto_loop *l;
	struct selfd s = { 0 };

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	s.d = proto_defer_new(l, on_self_free, &s);
	assert_non_null(s.d);
	proto_defer_post(s.d);
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(s.calls, 1);
	assert_null(proto_defer_new(l, NULL, NULL));
	assert_null(proto_timer_new(l, NULL, NULL));
	proto_loop_free(l);
}

/* --- running and stopping ------------------------------------------------- */

static void
test_run_until_empty(void **state)
{
	struct proto_loop *l;
	struct tw a;
	struct dw d;

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	/* Nothing at all: returns at once. */
	assert_int_equal(proto_loop_run(l), 0);
	/* A timer, then a deferred call posted by nobody: returns. */
	tw_init(&a, l, NULL, 0);
	dw_init(&d, l, NULL, 0);
	proto_timer_set(a.t, PROTO_MS);
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(d.calls, 0);
	proto_defer_post(d.d);
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(d.calls, 1);
	proto_timer_free(a.t);
	proto_defer_free(d.d);
	proto_loop_free(l);
}

/* Stop: run returns after the round; running again goes on. */
static void
test_stop(void **state)
{
	struct proto_loop *l;
	struct iow w = { 0 };
	int p[2];

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	mkpipe(p);
	put(p[1], "never drained");
	w.l = l;
	w.stop_at = 3;
	w.io = proto_io_new(l, p[0], PROTO_IO_READ, on_io, &w);
	assert_non_null(w.io);
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(w.calls, 3);
	w.stop_at = 5;
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(w.calls, 5);
	proto_io_free(w.io);
	proto_loop_free(l);
	close(p[0]);
	close(p[1]);
}

/* No round inside a round. */
struct nest {
	struct proto_loop *l;
	int r1, r2, e1, e2;
};

static void
on_nest(struct proto_defer *d, void *arg)
{
	struct nest *n = arg;

	(void)d;
	n->r1 = proto_loop_run_once(n->l, 0);
	n->e1 = errno;
	n->r2 = proto_loop_run(n->l);
	n->e2 = errno;
}

static void
test_no_nesting(void **state)
{
	struct nest n = { 0 };
	struct proto_defer *d;

	(void)state;
	n.l = proto_loop_new();
	assert_non_null(n.l);
	d = proto_defer_new(n.l, on_nest, &n);
	proto_defer_post(d);
	assert_int_equal(proto_loop_run(n.l), 0);
	assert_int_equal(n.r1, -1);
	assert_int_equal(n.e1, EDEADLK);
	assert_int_equal(n.r2, -1);
	assert_int_equal(n.e2, EDEADLK);
	proto_defer_free(d);
	proto_loop_free(n.l);
}

/* A signal during the wait (EINTR) is no error. */
static volatile sig_atomic_t got_signal;

static void
on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
}

static void
test_eintr(void **state)
{
	struct sigaction sa, old;
	struct itimerval it;
	struct proto_loop *l;
	struct tw a;

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART */
	assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
	memset(&it, 0, sizeof(it));
	it.it_value.tv_usec = 10000;
	tw_init(&a, l, NULL, 0);
	a.when = proto_loop_now(l) + 60 * PROTO_MS;
	proto_timer_set(a.t, 60 * PROTO_MS);
	got_signal = 0;
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(got_signal, 1);
	assert_int_equal(a.calls, 1);
	assert_int_equal(sigaction(SIGALRM, &old, NULL), 0);
	alarm(WATCHDOG_SEC);
	proto_timer_free(a.t);
	proto_loop_free(l);
}

/* --- the clock ------------------------------------------------------------ */

struct clk {
	struct proto_loop *l;
	uint64_t seen[64];
	int n;
	int rounds;
	struct proto_timer *t;
	struct proto_defer *d;
};

static void
on_clk_timer(struct proto_timer *t, void *arg)
{
	struct clk *c = arg;
	struct timespec ts = { 0, 200000 };

	/* Time passes inside the round; the round's clock does not. */
	c->seen[c->n++] = proto_loop_now(c->l);
	nanosleep(&ts, NULL);
	c->seen[c->n++] = proto_loop_now(c->l);
	proto_defer_post(c->d);
	if (++c->rounds < 10)
		proto_timer_set(t, 0);
}

static void
on_clk_defer(struct proto_defer *d, void *arg)
{
	struct clk *c = arg;

	(void)d;
	c->seen[c->n++] = proto_loop_now(c->l);
}

static void
test_now(void **state)
{
	struct timespec ms = { 0, 1000000 };
	struct clk c;
	uint64_t a, b;
	int i;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.l = proto_loop_new();
	assert_non_null(c.l);
	/* Outside a round: the clock itself, monotonic. */
	a = proto_loop_now(c.l);
	nanosleep(&ms, NULL);
	b = proto_loop_now(c.l);
	assert_true(b >= a + PROTO_MS);
	assert_true(b <= mono());
	c.t = proto_timer_new(c.l, on_clk_timer, &c);
	c.d = proto_defer_new(c.l, on_clk_defer, &c);
	proto_timer_set(c.t, 0);
	assert_int_equal(proto_loop_run(c.l), 0);
	assert_int_equal(c.n, 30);
	for (i = 0; i < 30; i += 3) {
		/* One round: the timer twice, then the deferred call. */
		assert_true(c.seen[i] == c.seen[i + 1]);
		assert_true(c.seen[i + 1] == c.seen[i + 2]);
		/* The next round is later: 200 us were slept. */
		if (i > 0)
			assert_true(c.seen[i] > c.seen[i - 1]);
	}
	proto_timer_free(c.t);
	proto_defer_free(c.d);
	proto_loop_free(c.l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_io_read, watchdog),
		cmocka_unit_test_setup(test_io_write, watchdog),
		cmocka_unit_test_setup(test_io_switch, watchdog),
		cmocka_unit_test_setup(test_io_zero_events, watchdog),
		cmocka_unit_test_setup(test_io_hangup, watchdog),
		cmocka_unit_test_setup(test_io_regular_file, watchdog),
		cmocka_unit_test_setup(test_io_bad, watchdog),
		cmocka_unit_test_setup(test_io_free_pending, watchdog),
		cmocka_unit_test_setup(test_io_fd_reuse, watchdog),
		cmocka_unit_test_setup(test_timer_order, watchdog),
		cmocka_unit_test_setup(test_timer_ties, watchdog),
		cmocka_unit_test_setup(test_timer_set_stop, watchdog),
		cmocka_unit_test_setup(test_timer_rearm_now, watchdog),
		cmocka_unit_test_setup(test_timer_free_others, watchdog),
		cmocka_unit_test_setup(test_timer_10000, watchdog),
		cmocka_unit_test_setup(test_defer_end_of_round, watchdog),
		cmocka_unit_test_setup(test_defer_next_round, watchdog),
		cmocka_unit_test_setup(test_defer_free, watchdog),
		cmocka_unit_test_setup(test_defer_free_self, watchdog),
		cmocka_unit_test_setup(test_run_until_empty, watchdog),
		cmocka_unit_test_setup(test_stop, watchdog),
		cmocka_unit_test_setup(test_no_nesting, watchdog),
		cmocka_unit_test_setup(test_eintr, watchdog),
		cmocka_unit_test_setup(test_now, watchdog),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
