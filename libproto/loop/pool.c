/*
 * pool.c - worker threads for blocking calls; see pool.h.
 *
 * One mutex guards the ring of queues with waiting jobs and the list of
 * finished jobs. Workers sleep on a condition variable; a finished job is
 * handed to the loop through an eventfd, whose read callback runs the
 * completions. The loop thread never blocks on a worker: submitting
 * takes the mutex only to link the job in.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "pool.h"

struct lpi_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct lpi_jobq *ring;		/* queues with jobs to start */
	struct lpi_job *done, *done_tail;
	unsigned per_queue;
	unsigned pending;		/* submitted, completion not yet run */
	int stop;
	int efd;
	struct proto_io *io;
	unsigned nthreads;
	pthread_t *threads;
};

static void
ring_add(struct lpi_pool *p, struct lpi_jobq *q)
{
	struct lpi_jobq *t;

	if (q->in_ring)
		return;
	q->in_ring = 1;
	q->ring_next = NULL;
	if (p->ring == NULL) {
		p->ring = q;
		return;
	}
	for (t = p->ring; t->ring_next != NULL; t = t->ring_next)
		;
	t->ring_next = q;
}

/* The next job a worker may start: queues take turns. Under mu. */
static struct lpi_job *
next_job(struct lpi_pool *p)
{
	struct lpi_jobq **pp, *q;
	struct lpi_job *j;

	for (pp = &p->ring; (q = *pp) != NULL; pp = &q->ring_next) {
		if (q->running >= p->per_queue)
			continue;
		j = q->head;
		q->head = j->next;
		if (q->head == NULL)
			q->tail = NULL;
		q->running++;
		/* Out of the ring; back at its end if jobs are left. */
		*pp = q->ring_next;
		q->in_ring = 0;
		if (q->head != NULL)
			ring_add(p, q);
		j->next = NULL;
		return j;
	}
	return NULL;
}

static void *
worker(void *arg)
{
	struct lpi_pool *p = arg;
	struct lpi_job *j;
	uint64_t one = 1;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		j = next_job(p);
		if (j == NULL) {
			if (p->stop)
				break;
			pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		pthread_mutex_unlock(&p->mu);
		j->run(j);
		pthread_mutex_lock(&p->mu);
		j->q->running--;
		if (j->q->head != NULL)
			ring_add(p, j->q);
		if (p->done_tail != NULL)
			p->done_tail->next = j;
		else
			p->done = j;
		p->done_tail = j;
		/* The queue may start another: wake a worker for it. */
		pthread_cond_signal(&p->cv);
		if (write(p->efd, &one, sizeof(one)) < 0) {
			/* The counter cannot overflow in practice; ignore. */
		}
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void
run_done(struct lpi_pool *p)
{
	struct lpi_job *j, *next;

	pthread_mutex_lock(&p->mu);
	j = p->done;
	p->done = p->done_tail = NULL;
	pthread_mutex_unlock(&p->mu);
	for (; j != NULL; j = next) {
		next = j->next;
		p->pending--;
		j->done(j);
	}
}

static void
on_event(struct proto_io *io, unsigned events, void *arg)
{
	struct lpi_pool *p = arg;
	uint64_t n;

	(void)io;
	(void)events;
	if (read(p->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	run_done(p);
}

struct lpi_pool *
lpi_pool_new(struct proto_loop *loop, unsigned workers, unsigned per_queue)
{
	struct lpi_pool *p;
	unsigned i;

	if (workers == 0)
		workers = 1;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->per_queue = per_queue != 0 ? per_queue :
	    workers > 1 ? workers - 1 : 1;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	p->threads = calloc(workers, sizeof(*p->threads));
	if (p->efd < 0 || p->threads == NULL)
		goto fail;
	p->io = proto_io_new(loop, p->efd, PROTO_IO_READ, on_event, p);
	if (p->io == NULL)
		goto fail;
	for (i = 0; i < workers; i++) {
		if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
			break;
		p->nthreads++;
	}
	if (p->nthreads == 0)
		goto fail;
	return p;
fail:
	lpi_pool_free(p);
	errno = ENOMEM;
	return NULL;
}

void
lpi_pool_submit(struct lpi_pool *p, struct lpi_jobq *q, struct lpi_job *j)
{
	j->q = q;
	j->next = NULL;
	p->pending++;
	pthread_mutex_lock(&p->mu);
	if (q->tail != NULL)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	ring_add(p, q);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void
lpi_pool_free(struct lpi_pool *p)
{
	struct pollfd pfd;
	unsigned i;
	uint64_t n;

	if (p == NULL)
		return;
	/* Completions may submit more (the next slice): run them all. */
	while (p->pending > 0 && p->nthreads > 0) {
		pfd.fd = p->efd;
		pfd.events = POLLIN;
		(void)poll(&pfd, 1, 100);
		if (read(p->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
			break;
		run_done(p);
	}
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	run_done(p);
	if (p->io != NULL)
		proto_io_free(p->io);
	if (p->efd >= 0)
		close(p->efd);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->threads);
	free(p);
}
