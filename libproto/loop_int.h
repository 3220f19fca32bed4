/*
 * loop_int.h - what transport.c asks of loop.c; not installed. Internal
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

#endif
