/*
 * loop_int.h - what transport.c asks of loop.c, and the kernel's
 * sigaction for transport.c and its test; not installed. Internal
 * functions carry the lpi_ prefix (the version script exports proto_*
 * only).
 */
#ifndef LOOP_INT_H
#define LOOP_INT_H

#include <sys/types.h>

#include "proto_loop.h"

/*
 * Reap child pid without blocking: polled from the loop, sent SIGTERM
 * if it has not exited a second from now and SIGKILL a second after
 * that. proto_loop_run() keeps running until it is reaped;
 * proto_loop_free() kills and reaps what is left. 0, or -1 (ENOMEM).
 */
int lpi_loop_reap(struct proto_loop *l, pid_t pid);

/*
 * The kernel's rt_sigaction, for the two signals glibc's sigaction()
 * refuses (32 and 33, its thread cancellation and set*id): SIG_IGN on
 * them survives exec like any other, and glibc's own posix_spawn()
 * leaves them ignored in children of a process that had handlers on
 * them (under Python's subprocess or Rust's Command, say). The struct
 * is the kernel's generic one, right on x86, ARM and RISC-V; elsewhere
 * the call fails with ENOSYS. SIG_DFL and SIG_IGN need no restorer.
 * 0, or -1 with errno.
 */
struct lpi_ksigaction {
	void *handler;		/* NULL: SIG_DFL; (void *)1: SIG_IGN */
	unsigned long flags;
	void *restorer;
	unsigned long long mask;
};

int lpi_ksigaction(int sig, const struct lpi_ksigaction *sa,
    struct lpi_ksigaction *old);

#endif
