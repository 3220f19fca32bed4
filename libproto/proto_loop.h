/*
 * proto_loop.h - the event loop under every session: descriptors,
 * timers and deferred work, on epoll and one timerfd.
 *
 *	l = proto_loop_new();
 *	io = proto_io_new(l, fd, PROTO_IO_READ, on_ready, arg);
 *	t = proto_timer_new(l, on_timer, arg);
 *	proto_timer_set(t, 20 * PROTO_MS);
 *	proto_loop_run(l);		(until proto_loop_stop())
 *
 * What a caller may rely on:
 * - One thread: every callback runs on the thread in proto_loop_run();
 *   nothing in libproto takes a lock. A program with several threads
 *   runs one loop in each.
 * - Objects may be freed from inside any callback, their own included:
 *   a freed watcher or timer gets no further call, even if it was ready
 *   in the same round, and its memory is released after the round.
 * - Timers: any number, each armed for one expiry (re-arm to repeat),
 *   kept in a heap and served through one timerfd, nanosecond precise.
 *   Times come from CLOCK_MONOTONIC; proto_loop_now() is read once per
 *   round, so callbacks of one round agree on the time.
 * - Deferred calls (proto_defer_*) run at the end of the current round,
 *   after every ready watcher and timer: the place to flush output that
 *   several events of one round added to (writev batching).
 * - Errors are returned, never printed; the loop never exits the process.
 */
#ifndef PROTO_LOOP_H
#define PROTO_LOOP_H

#include <stdint.h>

#define PROTO_NS	1ull
#define PROTO_US	1000ull
#define PROTO_MS	1000000ull
#define PROTO_SEC	1000000000ull

/* Events of a descriptor watcher. */
#define PROTO_IO_READ	0x1u
#define PROTO_IO_WRITE	0x2u
#define PROTO_IO_ERROR	0x4u	/* reported only: EPOLLERR, EPOLLHUP,
				   with the READ and WRITE watched, so
				   that the read or write tells more */

struct proto_loop;
struct proto_io;
struct proto_timer;
struct proto_defer;

typedef void proto_io_fn(struct proto_io *io, unsigned events, void *arg);
typedef void proto_timer_fn(struct proto_timer *t, void *arg);
typedef void proto_defer_fn(struct proto_defer *d, void *arg);

/* NULL with errno set. */
struct proto_loop *proto_loop_new(void);
/*
 * Frees the loop; watchers, timers and deferred calls must be gone.
 * Children of exec: streams still being reaped are killed (SIGKILL).
 */
void proto_loop_free(struct proto_loop *l);

/*
 * Run rounds until proto_loop_stop() or until nothing is left that could
 * make a callback (no watcher with events, no armed timer, no deferred
 * call, no exec: child being reaped). 0, or -1 with errno when
 * epoll_wait fails; EDEADLK when called from a callback (both).
 */
int proto_loop_run(struct proto_loop *l);
/* One round, waiting at most timeout_ns (0: poll; UINT64_MAX: no limit). */
int proto_loop_run_once(struct proto_loop *l, uint64_t timeout_ns);
/* Make proto_loop_run() return after the current round. */
void proto_loop_stop(struct proto_loop *l);
/*
 * 1 while a callback of l runs (no round may be run from there), else
 * 0: lets a blocking helper refuse before it has done anything.
 */
int proto_loop_in_callback(const struct proto_loop *l);
/*
 * Monotonic nanoseconds, as of the start of the current round (read when
 * the wait ends); outside callbacks, the clock itself.
 */
uint64_t proto_loop_now(const struct proto_loop *l);

/*
 * Watch fd (non-blocking, owned by the caller) for `events`; one watcher
 * per descriptor (EEXIST). A file epoll cannot watch (a regular file,
 * /dev/null) is always ready for what is watched.
 */
struct proto_io *proto_io_new(struct proto_loop *l, int fd, unsigned events,
    proto_io_fn *fn, void *arg);
/* Change the events watched; 0 stops watching without forgetting. */
int proto_io_set(struct proto_io *io, unsigned events);
unsigned proto_io_events(const struct proto_io *io);
int proto_io_fd(const struct proto_io *io);
/* Stop watching and free (before closing fd); fd is left open. */
void proto_io_free(struct proto_io *io);

struct proto_timer *proto_timer_new(struct proto_loop *l, proto_timer_fn *fn,
    void *arg);
/* Arm (or re-arm) to fire once, `delay_ns` after proto_loop_now(). */
void proto_timer_set(struct proto_timer *t, uint64_t delay_ns);
/* Arm for an absolute monotonic time. */
void proto_timer_set_at(struct proto_timer *t, uint64_t when_ns);
void proto_timer_stop(struct proto_timer *t);
int proto_timer_armed(const struct proto_timer *t);
void proto_timer_free(struct proto_timer *t);

struct proto_defer *proto_defer_new(struct proto_loop *l, proto_defer_fn *fn,
    void *arg);
/* Ask for one call at the end of this round (again: still one call). */
void proto_defer_post(struct proto_defer *d);
void proto_defer_free(struct proto_defer *d);

#endif
