/*
 * loop.c - the event loop: epoll for descriptors, one timerfd for a
 * binary min-heap of timers, deferred calls at the end of each round.
 *
 * A round: wait (epoll_wait, not at all when deferred work is posted),
 * read the clock once, call the ready watchers, then every timer due at
 * that time, then the deferred calls posted so far, then release what
 * the callbacks freed. Nothing is allocated per round: the epoll batch
 * lives in the loop, lists are intrusive, and the heap has a slot for
 * every timer from the moment it is created, so arming never allocates
 * (and so cannot fail).
 *
 * Objects freed inside a round are marked dead and kept until its end:
 * the epoll batch of the round may still point to a watcher, and a dead
 * one is skipped. Timers and deferred calls leave their heap or list at
 * once; only their memory waits.
 *
 * The loop also reaps the children of exec transports (lpi_loop_reap):
 * they are polled with a back-off on one internal timer, sent SIGTERM
 * after a grace period and SIGKILL after another, so a child that
 * lingers never blocks the loop, and proto_loop_run() does not return
 * while one is left.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "loop_int.h"
#include "proto_loop.h"

#define LOOP_BATCH	256	/* epoll events taken per round */
#define IO_KNOWN	(PROTO_IO_READ | PROTO_IO_WRITE | PROTO_IO_ERROR)
#define IO_WATCH	(PROTO_IO_READ | PROTO_IO_WRITE)

/* Exec children: time to exit after stdin closes, then after SIGTERM. */
#define REAP_GRACE	(1 * PROTO_SEC)
#define REAP_TERM	(1 * PROTO_SEC)
#define REAP_POLL_MIN	(1 * PROTO_MS)
#define REAP_POLL_MAX	(100 * PROTO_MS)

/* A circular doubly-linked list; a node on no list points to itself. */
struct lnode {
	struct lnode *next, *prev;
};

#define NODE_OF(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))

enum tstate { T_IDLE, T_HEAP, T_DUE };

struct proto_io {
	struct proto_loop *loop;
	proto_io_fn *fn;
	void *arg;
	int fd;
	unsigned events;	/* watched: READ and WRITE */
	int in_epoll;		/* registered with epoll_ctl */
	int always;		/* epoll refused it (a regular file) */
	struct lnode anode;	/* in loop->always, when `always` */
	int dead;
	struct proto_io *dead_next;
};

struct proto_timer {
	struct proto_loop *loop;
	proto_timer_fn *fn;
	void *arg;
	enum tstate state;
	size_t idx;		/* in loop->heap, when T_HEAP */
	struct lnode due;	/* in loop->due, when T_DUE */
	int dead;
	struct proto_timer *dead_next;
};

struct proto_defer {
	struct proto_loop *loop;
	proto_defer_fn *fn;
	void *arg;
	int posted;		/* on loop->posted or loop->batch */
	struct lnode node;
	int dead;
	struct proto_defer *dead_next;
};

/* Heap entries carry their keys: comparisons touch no timer. */
struct hent {
	uint64_t when;
	uint64_t seq;		/* arming order: breaks ties */
	struct proto_timer *t;
};

struct reap {
	pid_t pid;
	int killed;		/* 0, SIGTERM or SIGKILL sent */
	uint64_t deadline;	/* of the next step */
	struct reap *next;
};

struct proto_loop {
	int epfd;
	int tfd;
	uint64_t tfd_when;	/* what the timerfd is armed for, 0: none */
	uint64_t now;
	int in_round;
	int stop;

	struct hent *heap;
	size_t nheap;
	size_t heapcap;		/* >= ntimers: arming never allocates */
	size_t ntimers;		/* created and not yet released */
	uint64_t seq;
	struct lnode due;	/* timers taken off the heap this round */
	size_t ndue;

	struct lnode posted;	/* deferred calls for the coming phase */
	struct lnode batch;	/* those of the phase under way */
	size_t nposted;		/* on either list */

	struct lnode always;	/* watchers epoll cannot watch */
	size_t nalways;		/* of those, live with events */
	size_t nactive;		/* live watchers with events */

	struct proto_io *dead_io;
	struct proto_timer *dead_timers;
	struct proto_defer *dead_defers;

	struct reap *reaps;
	struct proto_timer *reaper;
	uint64_t reap_poll;

	struct epoll_event ev[LOOP_BATCH];
};

/* --- lists ---------------------------------------------------------------- */

static void
l_init(struct lnode *n)
{
	n->next = n->prev = n;
}

static int
l_empty(const struct lnode *h)
{
	return h->next == h;
}

static void
l_add_tail(struct lnode *h, struct lnode *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static void
l_del(struct lnode *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	l_init(n);
}

/* Move every node of `from` to the end of `to`. */
static void
l_splice(struct lnode *to, struct lnode *from)
{
	if (l_empty(from))
		return;
	from->next->prev = to->prev;
	to->prev->next = from->next;
	from->prev->next = to;
	to->prev = from->prev;
	l_init(from);
}

/* --- time ----------------------------------------------------------------- */

static uint64_t
clock_ns(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail with a valid pointer. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * PROTO_SEC + (uint64_t)ts.tv_nsec;
}

static struct timespec
ts_of(uint64_t ns)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ns / PROTO_SEC);
	ts.tv_nsec = (long)(ns % PROTO_SEC);
	return ts;
}

uint64_t
proto_loop_now(const struct proto_loop *l)
{
	/* Between rounds nobody agrees on anything: the clock itself. */
	if (!l->in_round)
		return clock_ns();
	return l->now;
}

/* --- the heap ------------------------------------------------------------- */

static int
h_less(const struct hent *a, const struct hent *b)
{
	if (a->when != b->when)
		return a->when < b->when;
	return a->seq < b->seq;
}

static void
h_place(struct proto_loop *l, size_t i, struct hent e)
{
	l->heap[i] = e;
	e.t->idx = i;
}

static void
h_up(struct proto_loop *l, size_t i)
{
	struct hent e = l->heap[i];
	size_t p;

	while (i > 0) {
		p = (i - 1) / 2;
		if (!h_less(&e, &l->heap[p]))
			break;
		h_place(l, i, l->heap[p]);
		i = p;
	}
	h_place(l, i, e);
}

static void
h_down(struct proto_loop *l, size_t i)
{
	struct hent e = l->heap[i];
	size_t c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= l->nheap)
			break;
		if (c + 1 < l->nheap && h_less(&l->heap[c + 1], &l->heap[c]))
			c++;
		if (!h_less(&l->heap[c], &e))
			break;
		h_place(l, i, l->heap[c]);
		i = c;
	}
	h_place(l, i, e);
}

static void
h_remove(struct proto_loop *l, struct proto_timer *t)
{
	size_t i = t->idx;

	struct proto_timer *moved;

	l->nheap--;
	if (i != l->nheap) {
		moved = l->heap[l->nheap].t;
		h_place(l, i, l->heap[l->nheap]);
		/* The last entry, moved into the hole, may belong higher. */
		h_up(l, i);
		h_down(l, moved->idx);
	}
	t->state = T_IDLE;
}

/* Take t out of the heap or the due list. */
static void
t_unarm(struct proto_timer *t)
{
	struct proto_loop *l = t->loop;

	if (t->state == T_HEAP)
		h_remove(l, t);
	else if (t->state == T_DUE) {
		l_del(&t->due);
		l->ndue--;
	}
	t->state = T_IDLE;
}

/* --- the loop ------------------------------------------------------------- */

struct proto_loop *
proto_loop_new(void)
{
	struct proto_loop *l;
	struct epoll_event ev;
	int e;

	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	l->epfd = l->tfd = -1;
	l_init(&l->due);
	l_init(&l->posted);
	l_init(&l->batch);
	l_init(&l->always);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd == -1)
		goto fail;
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (l->tfd == -1)
		goto fail;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;	/* the timerfd: no watcher */
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->tfd, &ev) == -1)
		goto fail;
	l->now = clock_ns();
	return l;
fail:
	e = errno;
	if (l->tfd != -1)
		close(l->tfd);
	if (l->epfd != -1)
		close(l->epfd);
	free(l);
	errno = e;
	return NULL;
}

static void reap_all_now(struct proto_loop *);

void
proto_loop_free(struct proto_loop *l)
{
	if (l == NULL)
		return;
	reap_all_now(l);
	if (l->reaper != NULL)
		proto_timer_free(l->reaper);
	free(l->heap);
	close(l->tfd);
	close(l->epfd);
	free(l);
}

void
proto_loop_stop(struct proto_loop *l)
{
	l->stop = 1;
}

/* Could a callback still be made? */
static int
alive(const struct proto_loop *l)
{
	return l->nactive > 0 || l->nheap > 0 || l->ndue > 0 ||
	    l->nposted > 0;
}

/*
 * Point the timerfd at the earliest timer. Called before each wait; the
 * timerfd is touched only when that time changed, so re-arming timers
 * costs no system call until the earliest one moves.
 */
static int
arm_timerfd(struct proto_loop *l)
{
	struct itimerspec its;
	uint64_t want = l->nheap > 0 ? l->heap[0].when : 0;

	/* Due already: the wait does not block, no need to arm. */
	if (want != 0 && want <= l->now)
		return 0;
	if (want == l->tfd_when)
		return 0;
	memset(&its, 0, sizeof(its));
	its.it_value = ts_of(want);	/* zero disarms */
	if (timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL) == -1)
		return -1;
	l->tfd_when = want;
	return 0;
}

static int
wait_events(struct proto_loop *l, uint64_t timeout_ns)
{
	struct timespec ts;
	int n, ms;

	if (timeout_ns == UINT64_MAX)
		return epoll_wait(l->epfd, l->ev, LOOP_BATCH, -1);
	if (timeout_ns == 0)
		return epoll_wait(l->epfd, l->ev, LOOP_BATCH, 0);
	ts = ts_of(timeout_ns);
	n = epoll_pwait2(l->epfd, l->ev, LOOP_BATCH, &ts, NULL);
	if (n != -1 || errno != ENOSYS)
		return n;
	/* Before Linux 5.11: milliseconds, rounded down not to overstay. */
	ms = timeout_ns / PROTO_MS > INT32_MAX ? INT32_MAX :
	    (int)(timeout_ns / PROTO_MS);
	return epoll_wait(l->epfd, l->ev, LOOP_BATCH, ms);
}

static void
io_dispatch(struct proto_loop *l, int n)
{
	struct proto_io *io;
	uint64_t junk;
	unsigned ev;
	uint32_t e;
	int i;

	for (i = 0; i < n; i++) {
		io = l->ev[i].data.ptr;
		e = l->ev[i].events;
		if (io == NULL) {
			/*
			 * The timerfd: empty it (EAGAIN if it was re-armed
			 * meanwhile); the timer phase follows.
			 */
			if (read(l->tfd, &junk, sizeof(junk)) == -1)
				junk = 0;
			l->tfd_when = 0;
			continue;
		}
		/* Freed, or told to stop watching, earlier this round. */
		if (io->dead || io->events == 0)
			continue;
		ev = 0;
		if (e & EPOLLIN)
			ev |= PROTO_IO_READ;
		if (e & EPOLLOUT)
			ev |= PROTO_IO_WRITE;
		/* The read or write that follows tells what happened. */
		if (e & (EPOLLERR | EPOLLHUP))
			ev |= PROTO_IO_ERROR | io->events;
		ev &= io->events | PROTO_IO_ERROR;
		if (ev != 0)
			io->fn(io, ev, io->arg);
	}
}

/*
 * Regular files and the like: always ready for what they watch. Nodes
 * leave the list only when released, at the end of the round; those
 * added meanwhile join at the tail and wait for the next round.
 */
static void
always_dispatch(struct proto_loop *l)
{
	struct lnode *p, *h = &l->always, *last = h->prev;
	struct proto_io *io;

	if (l->nalways == 0)
		return;
	for (p = h->next; p != h; p = p->next) {
		io = NODE_OF(p, struct proto_io, anode);
		if (!io->dead && io->events != 0)
			io->fn(io, io->events, io->arg);
		if (p == last)
			break;
	}
}

static void
timer_dispatch(struct proto_loop *l)
{
	struct proto_timer *t;

	/*
	 * Take every due timer off the heap first: one re-armed for "now"
	 * by its callback goes back to the heap and waits for the next
	 * round, and one stopped by an earlier callback leaves the list.
	 */
	while (l->nheap > 0 && l->heap[0].when <= l->now) {
		t = l->heap[0].t;
		h_remove(l, t);
		t->state = T_DUE;
		l_add_tail(&l->due, &t->due);
		l->ndue++;
	}
	while (!l_empty(&l->due)) {
		t = NODE_OF(l->due.next, struct proto_timer, due);
		l_del(&t->due);
		l->ndue--;
		t->state = T_IDLE;
		t->fn(t, t->arg);
	}
}

static void
defer_dispatch(struct proto_loop *l)
{
	struct proto_defer *d;

	/* Those posted from now on run in the next round. */
	l_splice(&l->batch, &l->posted);
	while (!l_empty(&l->batch)) {
		d = NODE_OF(l->batch.next, struct proto_defer, node);
		l_del(&d->node);
		d->posted = 0;
		l->nposted--;
		d->fn(d, d->arg);
	}
}

static void
release_dead(struct proto_loop *l)
{
	struct proto_io *io;
	struct proto_timer *t;
	struct proto_defer *d;

	while ((io = l->dead_io) != NULL) {
		l->dead_io = io->dead_next;
		if (io->always)
			l_del(&io->anode);
		free(io);
	}
	while ((t = l->dead_timers) != NULL) {
		l->dead_timers = t->dead_next;
		l->ntimers--;
		free(t);
	}
	while ((d = l->dead_defers) != NULL) {
		l->dead_defers = d->dead_next;
		free(d);
	}
}

int
proto_loop_run_once(struct proto_loop *l, uint64_t timeout_ns)
{
	int n;

	if (l->in_round) {
		/* A round inside a callback would free what callers hold. */
		errno = EDEADLK;
		return -1;
	}
	if (!l_empty(&l->posted) || l->nalways > 0 ||
	    (l->nheap > 0 && l->heap[0].when <= l->now))
		timeout_ns = 0;
	if (arm_timerfd(l) == -1)
		return -1;
	n = wait_events(l, timeout_ns);
	if (n == -1) {
		if (errno != EINTR)
			return -1;
		n = 0;
	}
	l->now = clock_ns();
	l->in_round = 1;
	io_dispatch(l, n);
	always_dispatch(l);
	timer_dispatch(l);
	defer_dispatch(l);
	release_dead(l);
	l->in_round = 0;
	return 0;
}

int
proto_loop_in_callback(const struct proto_loop *l)
{
	return l->in_round;
}

int
proto_loop_run(struct proto_loop *l)
{
	if (l->in_round) {
		errno = EDEADLK;
		return -1;
	}
	while (alive(l)) {
		if (proto_loop_run_once(l, UINT64_MAX) == -1)
			return -1;
		if (l->stop)
			break;
	}
	l->stop = 0;
	return 0;
}

/* --- descriptors ---------------------------------------------------------- */

static uint32_t
epoll_bits(unsigned events)
{
	uint32_t e = 0;

	if (events & PROTO_IO_READ)
		e |= EPOLLIN;
	if (events & PROTO_IO_WRITE)
		e |= EPOLLOUT;
	return e;
}

static void
count_active(struct proto_io *io, int delta)
{
	struct proto_loop *l = io->loop;

	if (io->events == 0)
		return;
	if (delta > 0) {
		l->nactive++;
		if (io->always)
			l->nalways++;
	} else {
		l->nactive--;
		if (io->always)
			l->nalways--;
	}
}

/*
 * Tell epoll what io should watch now. Watching nothing is leaving the
 * set: epoll reports errors and hang-ups even for no events, and a
 * watcher told to be quiet must not be woken for them.
 */
static int
io_apply(struct proto_io *io, unsigned events)
{
	struct epoll_event ev;
	int op;

	if (io->always)
		return 0;
	memset(&ev, 0, sizeof(ev));
	ev.events = epoll_bits(events);
	ev.data.ptr = io;
	if (events == 0) {
		if (!io->in_epoll)
			return 0;
		if (epoll_ctl(io->loop->epfd, EPOLL_CTL_DEL, io->fd, &ev) == -1)
			return -1;
		io->in_epoll = 0;
		return 0;
	}
	op = io->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(io->loop->epfd, op, io->fd, &ev) == -1) {
		/* Regular files and /dev/null: never block, always ready. */
		if (errno != EPERM || op != EPOLL_CTL_ADD)
			return -1;
		io->always = 1;
		l_add_tail(&io->loop->always, &io->anode);
		return 0;
	}
	io->in_epoll = 1;
	return 0;
}

struct proto_io *
proto_io_new(struct proto_loop *l, int fd, unsigned events, proto_io_fn *fn,
    void *arg)
{
	struct proto_io *io;
	int e;

	if (fn == NULL || (events & ~IO_KNOWN) != 0) {
		errno = EINVAL;
		return NULL;
	}
	if (fd < 0 || fcntl(fd, F_GETFD) == -1) {
		errno = EBADF;
		return NULL;
	}
	io = calloc(1, sizeof(*io));
	if (io == NULL)
		return NULL;
	io->loop = l;
	io->fd = fd;
	io->fn = fn;
	io->arg = arg;
	l_init(&io->anode);
	events &= IO_WATCH;
	if (io_apply(io, events) == -1) {
		e = errno;
		free(io);
		errno = e;
		return NULL;
	}
	io->events = events;
	count_active(io, 1);
	return io;
}

int
proto_io_set(struct proto_io *io, unsigned events)
{
	if (io->dead || (events & ~IO_KNOWN) != 0) {
		errno = io->dead ? EBADF : EINVAL;
		return -1;
	}
	events &= IO_WATCH;
	if (events == io->events)
		return 0;
	if (io_apply(io, events) == -1)
		return -1;
	count_active(io, -1);
	io->events = events;
	count_active(io, 1);
	return 0;
}

unsigned
proto_io_events(const struct proto_io *io)
{
	return io->events;
}

int
proto_io_fd(const struct proto_io *io)
{
	return io->fd;
}

void
proto_io_free(struct proto_io *io)
{
	struct proto_loop *l;
	struct epoll_event ev;

	if (io == NULL || io->dead)
		return;
	l = io->loop;
	count_active(io, -1);
	io->events = 0;
	/* May fail if the caller closed fd first: then it is gone anyway. */
	if (io->in_epoll) {
		memset(&ev, 0, sizeof(ev));
		(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, &ev);
		io->in_epoll = 0;
	}
	if (l->in_round) {
		io->dead = 1;
		io->dead_next = l->dead_io;
		l->dead_io = io;
		return;
	}
	if (io->always)
		l_del(&io->anode);
	free(io);
}

/* --- timers --------------------------------------------------------------- */

struct proto_timer *
proto_timer_new(struct proto_loop *l, proto_timer_fn *fn, void *arg)
{
	struct proto_timer *t;
	struct hent *h;
	size_t cap;

	if (fn == NULL) {
		errno = EINVAL;
		return NULL;
	}
	/* Room in the heap for every timer: arming cannot fail. */
	if (l->ntimers == l->heapcap) {
		cap = l->heapcap ? 2 * l->heapcap : 16;
		if (cap > SIZE_MAX / sizeof(*h)) {
			errno = ENOMEM;
			return NULL;
		}
		h = realloc(l->heap, cap * sizeof(*h));
		if (h == NULL)
			return NULL;
		l->heap = h;
		l->heapcap = cap;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->loop = l;
	t->fn = fn;
	t->arg = arg;
	t->state = T_IDLE;
	l_init(&t->due);
	l->ntimers++;
	return t;
}

void
proto_timer_set_at(struct proto_timer *t, uint64_t when_ns)
{
	struct proto_loop *l = t->loop;
	struct hent e;

	if (t->dead)
		return;
	if (t->state == T_DUE) {
		l_del(&t->due);
		l->ndue--;
		t->state = T_IDLE;
	}
	e.when = when_ns;
	e.seq = l->seq++;
	e.t = t;
	if (t->state == T_HEAP) {
		/* A new key in place: it moves one way or the other. */
		l->heap[t->idx] = e;
		h_up(l, t->idx);
		h_down(l, t->idx);
		return;
	}
	l->heap[l->nheap] = e;
	t->idx = l->nheap++;
	t->state = T_HEAP;
	h_up(l, t->idx);
}

void
proto_timer_set(struct proto_timer *t, uint64_t delay_ns)
{
	uint64_t now = proto_loop_now(t->loop);

	/* Saturate: "never" rather than a wrap into the past. */
	proto_timer_set_at(t, delay_ns > UINT64_MAX - now ? UINT64_MAX :
	    now + delay_ns);
}

void
proto_timer_stop(struct proto_timer *t)
{
	t_unarm(t);
}

int
proto_timer_armed(const struct proto_timer *t)
{
	return t->state != T_IDLE;
}

void
proto_timer_free(struct proto_timer *t)
{
	struct proto_loop *l;

	if (t == NULL || t->dead)
		return;
	l = t->loop;
	t_unarm(t);
	if (l->in_round) {
		t->dead = 1;
		t->dead_next = l->dead_timers;
		l->dead_timers = t;
		return;
	}
	l->ntimers--;
	free(t);
}

/* --- deferred calls ------------------------------------------------------- */

struct proto_defer *
proto_defer_new(struct proto_loop *l, proto_defer_fn *fn, void *arg)
{
	struct proto_defer *d;

	if (fn == NULL) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	d->loop = l;
	d->fn = fn;
	d->arg = arg;
	l_init(&d->node);
	return d;
}

void
proto_defer_post(struct proto_defer *d)
{
	if (d->posted || d->dead)
		return;
	d->posted = 1;
	d->loop->nposted++;
	l_add_tail(&d->loop->posted, &d->node);
}

void
proto_defer_free(struct proto_defer *d)
{
	struct proto_loop *l;

	if (d == NULL || d->dead)
		return;
	l = d->loop;
	if (d->posted) {
		l_del(&d->node);
		d->posted = 0;
		l->nposted--;
	}
	if (l->in_round) {
		d->dead = 1;
		d->dead_next = l->dead_defers;
		l->dead_defers = d;
		return;
	}
	free(d);
}

/* --- children of exec transports ----------------------------------------- */

/* 1 when pid is gone (reaped now, or not ours to wait for). */
static int
reaped(pid_t pid)
{
	pid_t w;

	do
		w = waitpid(pid, NULL, WNOHANG);
	while (w == -1 && errno == EINTR);
	return w == pid || w == -1;
}

static void
reap_tick(struct proto_timer *t, void *arg)
{
	struct proto_loop *l = arg;
	struct reap **rp, *r;
	uint64_t now = l->now, next;

	for (rp = &l->reaps; (r = *rp) != NULL;) {
		if (reaped(r->pid)) {
			*rp = r->next;
			free(r);
			continue;
		}
		if (now >= r->deadline) {
			if (r->killed == 0) {
				(void)kill(r->pid, SIGTERM);
				r->killed = SIGTERM;
				r->deadline = now + REAP_TERM;
			} else {
				/* SIGKILL ends it: poll until it has. */
				(void)kill(r->pid, SIGKILL);
				r->killed = SIGKILL;
				r->deadline = UINT64_MAX;
			}
		}
		rp = &r->next;
	}
	if (l->reaps == NULL)
		return;
	/* Poll often at first: most children exit as soon as stdin ends. */
	l->reap_poll = l->reap_poll * 2 > REAP_POLL_MAX ? REAP_POLL_MAX :
	    l->reap_poll * 2;
	next = now + l->reap_poll;
	for (r = l->reaps; r != NULL; r = r->next)
		if (r->deadline < next)
			next = r->deadline;
	proto_timer_set_at(t, next);
}

int
lpi_loop_reap(struct proto_loop *l, pid_t pid)
{
	struct reap *r;

	if (pid <= 0) {
		errno = EINVAL;
		return -1;
	}
	if (reaped(pid))
		return 0;
	if (l->reaper == NULL) {
		l->reaper = proto_timer_new(l, reap_tick, l);
		if (l->reaper == NULL)
			return -1;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -1;
	r->pid = pid;
	r->deadline = proto_loop_now(l) + REAP_GRACE;
	r->next = l->reaps;
	l->reaps = r;
	l->reap_poll = REAP_POLL_MIN;
	proto_timer_set(l->reaper, REAP_POLL_MIN);
	return 0;
}

/* The loop goes away: no more grace. SIGKILL cannot be refused. */
static void
reap_all_now(struct proto_loop *l)
{
	struct reap *r;

	while ((r = l->reaps) != NULL) {
		l->reaps = r->next;
		if (!reaped(r->pid)) {
			(void)kill(r->pid, SIGKILL);
			while (waitpid(r->pid, NULL, 0) == -1 && errno == EINTR)
				continue;
		}
		free(r);
	}
}
