/*
 * pool.h - worker threads for calls that may block (the file system), so
 * that the event loop never waits on them.
 *
 * A job runs on a worker (run), then its completion runs on the loop
 * thread (done). Jobs belong to queues, one per client: a queue has at
 * most `per_queue` jobs running at once and queues take turns, so one
 * client's slow calls (an fsync, a huge directory) hold at most that
 * many workers and never all of them.
 */
#ifndef LPI_POOL_H
#define LPI_POOL_H

#include "proto_loop.h"

struct lpi_pool;
struct lpi_job;

struct lpi_jobq {
	struct lpi_job *head, *tail;	/* waiting */
	unsigned running;
	int in_ring;
	struct lpi_jobq *ring_next;
};

struct lpi_job {
	struct lpi_job *next;
	struct lpi_jobq *q;
	void (*run)(struct lpi_job *j);		/* on a worker */
	void (*done)(struct lpi_job *j);	/* on the loop */
};

/* NULL with errno. per_queue 0: workers - 1, at least 1. */
struct lpi_pool *lpi_pool_new(struct proto_loop *loop, unsigned workers,
    unsigned per_queue);
void lpi_pool_submit(struct lpi_pool *p, struct lpi_jobq *q,
    struct lpi_job *j);
/*
 * Runs every job submitted and its completion, and those completions
 * submit in turn, then stops the workers.
 */
void lpi_pool_free(struct lpi_pool *p);

#endif
