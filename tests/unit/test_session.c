/*
 * test_session.c - the session engine (proto_session.h) in one process:
 * a server peer listening on a unix socket in a temporary directory and
 * a client peer connecting to it, both on one loop. Where a test must
 * speak bytes the API would never send, it opens a raw socket to the
 * server, builds messages with proto_build_* and reads the answers
 * through a proto_framer; where the client's side is under test, the
 * test listens in the server's place and answers by hand (a raw
 * acceptor). Where a transport must break or go silent under a live
 * session, the client goes through a relay in this file that forwards
 * bytes and can cut, stall or refuse connections, and can keep a copy
 * of what it forwarded.
 *
 * Every wait drives the loop with proto_loop_run_once until a condition
 * holds, at most WAIT_NS of real time: a broken engine fails a test
 * instead of hanging it. Timers are shortened only in the tests about
 * them. Peers, relay and loop are freed after every test, so under
 * SAN=1 LeakSanitizer checks that nothing is left.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cmocka.h>

#include "libproto/proto.h"
#include "tests/lib/auth_proof.h"
#include "libproto/proto_loop.h"
#include "libproto/proto_session.h"

#define WAIT_NS		(5 * PROTO_SEC)
#define WATCHDOG_SEC	120
#define JOURNAL_MAX	200000
#define EVLOG_MAX	256

#define CMD_ECHO	0x7000u
#define CMD_HOLD	0x7001u		/* slow: answered when released */
#define CMD_PARTS	0x7100u		/* slow: COUNT parts, then final */
#define CMD_OTHER	0x0123u		/* outside the echo range */

#define LINKID_ACCEPTOR	(1ull << 63)

/*
 * Set while teardown frees the peers: callbacks then ignore their
 * arguments, which may point into the frame of a test that failed.
 */
static int tearing_down;

static uint64_t
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * PROTO_SEC + (uint64_t)ts.tv_nsec;
}

/* --- a test service that answers when told -------------------------------- */

struct slow_req {
	struct slow_req *next;
	struct slow_link *sl;
	struct proto_request *req;
	uint32_t msgid;
	uint16_t command;
};

struct slow {
	int answer_cancel;	/* the cancel hook answers ECANCELED */
	struct slow_req *head, *tail;	/* held requests, oldest first */
	int npend;
	int commands, cancels, opens, closes;
	int late;		/* requests finished by the close hook */
};

struct slow_link {
	struct slow *svc;
};

static void
slow_unlink(struct slow *sv, struct slow_req *r)
{
	struct slow_req **pp, *prev = NULL;

	for (pp = &sv->head; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			if (sv->tail == r)
				sv->tail = prev;
			sv->npend--;
			free(r);
			return;
		}
		prev = *pp;
	}
	fail_msg("slow: request not held");
}

static int
slow_open(void *svc, struct proto_link *l, const struct proto_msg *m,
    void **state)
{
	struct slow_link *sl = calloc(1, sizeof(*sl));

	(void)l;
	(void)m;
	if (sl == NULL)
		return ENOMEM;
	sl->svc = svc;
	sl->svc->opens++;
	*state = sl;
	return 0;
}

static void
slow_parts(struct proto_request *req, const struct proto_msg *m)
{
	struct proto_builder *b;
	struct proto_item it;
	uint32_t n = 0, i;
	char text[32];

	if (proto_msg_find(m, PROTO_ITEM_COUNT, &it, NULL) > 0)
		(void)proto_item_u32(&it, &n, NULL);
	for (i = 0; i < n; i++) {
		b = proto_reply_begin(req);
		snprintf(text, sizeof(text), "part %u", i);
		proto_build_bytes(b, PROTO_ITEM_DATA, text, strlen(text));
		assert_int_equal(proto_reply_end(req, 0), 0);
	}
	b = proto_reply_begin(req);
	proto_build_u32(b, PROTO_ITEM_COUNT, n);
	proto_build_u32(b, PROTO_ITEM_STATUS, 0);
	assert_int_equal(proto_reply_end(req, 1), 0);
}

static void
slow_command(void *state, struct proto_request *req,
    const struct proto_msg *m)
{
	struct slow_link *sl = state;
	struct slow *sv = sl->svc;
	struct slow_req *r;
	uint16_t cmd = proto_msg_command(m);

	sv->commands++;
	if (cmd == CMD_PARTS) {
		slow_parts(req, m);
		return;
	}
	if (cmd < 0x7000 || cmd > 0x70ff) {
		proto_reply_status(req, ENOSYS, NULL);
		return;
	}
	r = calloc(1, sizeof(*r));
	assert_non_null(r);
	r->sl = sl;
	r->req = req;
	r->msgid = proto_request_msgid(req);
	r->command = proto_request_command(req);
	assert_int_equal(r->command, cmd);
	proto_request_set_state(req, r);
	if (sv->tail != NULL)
		sv->tail->next = r;
	else
		sv->head = r;
	sv->tail = r;
	sv->npend++;
}

static void
slow_cancel(void *state, struct proto_request *req)
{
	struct slow_link *sl = state;
	struct slow_req *r = proto_request_state(req);

	sl->svc->cancels++;
	if (!sl->svc->answer_cancel || r == NULL)
		return;
	proto_reply_status(req, ECANCELED, "cancelled by slow");
	slow_unlink(sl->svc, r);
}

/* As proto_session.h asks: every request held gets its final reply. */
static void
slow_close(void *state, struct proto_link *l)
{
	struct slow_link *sl = state;
	struct slow *sv = sl->svc;
	struct slow_req *r, *next;

	(void)l;
	sv->closes++;
	for (r = sv->head; r != NULL; r = next) {
		next = r->next;
		if (r->sl != sl)
			continue;
		sv->late++;
		proto_reply_status(r->req, 0, "too late");
		slow_unlink(sv, r);
	}
	free(sl);
}

static const struct proto_service_ops slow_service = {
	slow_open, slow_command, slow_cancel, slow_close
};

/* Answer the oldest held request with STATUS status. */
static int
slow_release_one(struct slow *sv, int status)
{
	struct slow_req *r = sv->head;

	if (r == NULL)
		return -1;
	proto_reply_status(r->req, status, NULL);
	slow_unlink(sv, r);
	return 0;
}

static void
slow_release(struct slow *sv, int status)
{
	while (slow_release_one(sv, status) == 0)
		;
}

static int
refuse_open(void *svc, struct proto_link *l, const struct proto_msg *m,
    void **state)
{
	(void)svc;
	(void)l;
	(void)m;
	*state = NULL;
	return EPERM;
}

static void
refuse_command(void *state, struct proto_request *req,
    const struct proto_msg *m)
{
	(void)state;
	(void)m;
	fail_msg("a refused link got a command");
	proto_reply_status(req, EIO, NULL);
}

static void
refuse_close(void *state, struct proto_link *l)
{
	(void)state;
	(void)l;
	fail_msg("a refused link was closed");
}

static const struct proto_service_ops refuse_service = {
	refuse_open, refuse_command, NULL, refuse_close
};

/* --- one side: a peer and what it heard ----------------------------------- */

struct jent {
	char dir;
	uint64_t seq;
	uint64_t linkid;
	uint32_t msgid;
	uint16_t command;
	uint8_t session[16];
};

struct env;

struct side {
	const char *name;
	struct env *env;
	struct proto_peer_config cfg;
	uint8_t key[32];
	struct proto_peer *peer;
	struct proto_session *s;	/* NULL once lost */
	int ups, detached, resumed, lost;
	int lost_error;
	char lost_text[256];
	char detached_text[256];	/* why, at the last DETACHED */
	enum proto_session_event ev[EVLOG_MAX];
	int nev;
	struct jent *j;			/* the journal, both directions */
	size_t nj;
	int warnings;
	char lastwarn[512];
	char warns[8][512];		/* the last 8 warnings */
	int ctl_logs;			/* lines with a control character */
	int connect_logs;		/* lines about failed dials */
	struct slow slow;
};

static int
has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

static void
on_event(void *arg, struct proto_session *s, enum proto_session_event ev,
    int error, const char *text)
{
	struct side *sd = arg;

	assert_non_null(s);
	if (text != NULL && has_ctl(text))
		sd->ctl_logs++;
	if (sd->nev < EVLOG_MAX)
		sd->ev[sd->nev++] = ev;
	switch (ev) {
	case PROTO_EV_UP:
		sd->ups++;
		sd->s = s;
		assert_int_equal(error, 0);
		break;
	case PROTO_EV_DETACHED:
		sd->detached++;
		snprintf(sd->detached_text, sizeof(sd->detached_text), "%s",
		    text != NULL ? text : "");
		break;
	case PROTO_EV_RESUMED:
		sd->resumed++;
		break;
	case PROTO_EV_LOST:
		sd->lost++;
		sd->lost_error = error;
		snprintf(sd->lost_text, sizeof(sd->lost_text), "%s",
		    text != NULL ? text : "");
		if (sd->s == s)
			sd->s = NULL;
		break;
	}
	if (getenv("TEST_SESSION_VERBOSE") != NULL)
		fprintf(stderr, "  [%s] event %d error %d %s\n", sd->name,
		    (int)ev, error, text != NULL ? text : "");
}

static void
on_log(void *arg, enum proto_log_level level, const char *msg)
{
	struct side *sd = arg;

	if (level <= PROTO_LOG_WARN) {
		snprintf(sd->warns[sd->warnings % 8], sizeof(sd->warns[0]),
		    "%s", msg);
		sd->warnings++;
		snprintf(sd->lastwarn, sizeof(sd->lastwarn), "%s", msg);
	}
	/* No line the library writes may hold one: a forged line could. */
	if (has_ctl(msg))
		sd->ctl_logs++;
	if (strstr(msg, ": connect: ") != NULL)
		sd->connect_logs++;
	if (getenv("TEST_SESSION_VERBOSE") != NULL)
		fprintf(stderr, "  [%s] log %d %s\n", sd->name, (int)level,
		    msg);
}

static void
on_journal(void *arg, const struct proto_journal *j)
{
	struct side *sd = arg;
	struct jent *e;

	assert_true(sd->nj < JOURNAL_MAX);
	if (sd->j == NULL) {
		sd->j = calloc(JOURNAL_MAX, sizeof(*sd->j));
		assert_non_null(sd->j);
	}
	e = &sd->j[sd->nj++];
	e->dir = j->dir;
	e->seq = j->seq;
	e->linkid = j->linkid;
	e->msgid = j->msgid;
	e->command = j->command;
	memcpy(e->session, j->session, sizeof(e->session));
}

/*
 * The journal of one direction: numbers 1, 2, 3... with no gap or
 * repeat, all in one session. Returns how many there are.
 */
static size_t
journal_check(const struct side *sd, char dir, const uint8_t *session)
{
	uint64_t want = 1;
	size_t i;

	for (i = 0; i < sd->nj; i++) {
		if (sd->j[i].dir != dir)
			continue;
		assert_memory_equal(sd->j[i].session, session, 16);
		if (sd->j[i].seq != want)
			fail_msg("%s journal %c: seq %" PRIu64 " where %"
			    PRIu64 " was due", sd->name, dir, sd->j[i].seq,
			    want);
		want++;
	}
	return (size_t)(want - 1);
}

/* The n-th entry (from 1) of one direction. */
static const struct jent *
journal_at(const struct side *sd, char dir, uint64_t seq)
{
	size_t i;

	for (i = 0; i < sd->nj; i++)
		if (sd->j[i].dir == dir && sd->j[i].seq == seq)
			return &sd->j[i];
	return NULL;
}

/* What a sent and what b received, message by message, agree. */
static void
journal_match(const struct side *a, const struct side *b, uint64_t n)
{
	const struct jent *x, *y;
	uint64_t i;

	for (i = 1; i <= n; i++) {
		x = journal_at(a, 'S', i);
		y = journal_at(b, 'R', i);
		assert_non_null(x);
		assert_non_null(y);
		if (x->linkid != y->linkid || x->msgid != y->msgid ||
		    x->command != y->command)
			fail_msg("seq %" PRIu64 ": %s sent link 0x%" PRIx64
			    " msg %u cmd 0x%04x, %s got link 0x%" PRIx64
			    " msg %u cmd 0x%04x", i, a->name, x->linkid,
			    x->msgid, x->command, b->name, y->linkid,
			    y->msgid, y->command);
	}
}

/* --- a relay that can cut, stall and refuse ------------------------------- */

struct rbuf {
	uint8_t *p;
	size_t len, cap;
};

struct rconn {
	struct rconn *next;
	struct relay *r;
	int fd[2];		/* 0: the client's side, 1: the server's */
	struct proto_io *io[2];
	struct rbuf out[2];	/* bytes waiting to be written to fd[i] */
	int stalled;
};

struct relay {
	struct proto_loop *loop;
	char path[108];		/* where it listens */
	char target[108];	/* the server's socket */
	int lfd;
	struct proto_io *lio;
	struct rconn *conns;
	int refuse;		/* close new connections at once */
	int refused;
	uint64_t fwd[2];	/* bytes forwarded toward fd[i] */
	/* Cuts: budgets of bytes toward the server/client before a cut. */
	uint64_t budget[2];
	const uint64_t *plan;	/* further budgets, alternating directions */
	size_t nplan, iplan;
	int cuts;
	int accepted;
	int tap;		/* keep copies of the bytes forwarded */
	struct rbuf tapped[2];
};

static void
rbuf_add(struct rbuf *b, const uint8_t *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		assert_non_null(b->p);
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void
rbuf_take(struct rbuf *b, size_t n)
{
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

static void rconn_io(struct proto_io *io, unsigned events, void *arg);

static void
rconn_free(struct rconn *c)
{
	struct rconn **pp;
	int i;

	for (pp = &c->r->conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	for (i = 0; i < 2; i++) {
		proto_io_free(c->io[i]);
		close(c->fd[i]);
		free(c->out[i].p);
	}
	free(c);
}

/* Cut every connection: both ends see the transport break. */
static void
relay_cut(struct relay *r)
{
	while (r->conns != NULL)
		rconn_free(r->conns);
	r->cuts++;
}

/* Write what is waiting toward fd[i]; 0, or -1 when the socket broke. */
static int
rconn_flush(struct rconn *c, int i)
{
	ssize_t n;

	while (c->out[i].len > 0) {
		n = send(c->fd[i], c->out[i].p, c->out[i].len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -1;
		}
		rbuf_take(&c->out[i], (size_t)n);
	}
	proto_io_set(c->io[i], c->stalled ? 0 : PROTO_IO_READ |
	    (c->out[i].len > 0 ? PROTO_IO_WRITE : 0));
	return 0;
}

static void
relay_next_cut(struct relay *r, int dir)
{
	r->budget[dir] = UINT64_MAX;
	if (r->iplan < r->nplan) {
		r->budget[r->iplan % 2] = r->plan[r->iplan];
		r->iplan++;
	}
}

/* Bytes read from fd[from] go to fd[1 - from]. */
static void
rconn_io(struct proto_io *io, unsigned events, void *arg)
{
	struct rconn *c = arg;
	struct relay *r = c->r;
	uint8_t buf[65536];
	int from = io == c->io[0] ? 0 : 1, to = 1 - from;
	ssize_t n;
	size_t k;

	if (events & PROTO_IO_WRITE) {
		if (rconn_flush(c, from) < 0) {
			rconn_free(c);
			return;
		}
	}
	if (!(events & (PROTO_IO_READ | PROTO_IO_ERROR)) || c->stalled)
		return;
	n = read(c->fd[from], buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* One end went: so does the other, as a socket would. */
		(void)rconn_flush(c, to);
		rconn_free(c);
		return;
	}
	k = (size_t)n;
	if (k >= r->budget[to]) {
		k = (size_t)r->budget[to];
		rbuf_add(&c->out[to], buf, k);
		r->fwd[to] += k;
		if (r->tap)
			rbuf_add(&r->tapped[to], buf, k);
		(void)rconn_flush(c, to);
		relay_cut(r);
		relay_next_cut(r, to);
		return;
	}
	if (r->budget[to] != UINT64_MAX)
		r->budget[to] -= k;
	r->fwd[to] += k;
	if (r->tap)
		rbuf_add(&r->tapped[to], buf, k);
	rbuf_add(&c->out[to], buf, k);
	if (rconn_flush(c, to) < 0)
		rconn_free(c);
}

static int
unix_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
relay_accept(struct proto_io *io, unsigned events, void *arg)
{
	struct relay *r = arg;
	struct rconn *c;
	int fd, sfd, i;

	(void)io;
	(void)events;
	while ((fd = accept4(r->lfd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) >= 0) {
		sfd = r->refuse ? -1 : unix_connect(r->target);
		if (sfd < 0) {
			r->refused++;
			close(fd);
			continue;
		}
		r->accepted++;
		c = calloc(1, sizeof(*c));
		assert_non_null(c);
		c->r = r;
		c->fd[0] = fd;
		c->fd[1] = sfd;
		for (i = 0; i < 2; i++) {
			c->io[i] = proto_io_new(r->loop, c->fd[i],
			    PROTO_IO_READ, rconn_io, c);
			assert_non_null(c->io[i]);
		}
		c->next = r->conns;
		r->conns = c;
	}
}

static void
relay_listen(struct relay *r)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", r->path);
	(void)unlink(r->path);
	r->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	assert_true(r->lfd >= 0);
	assert_int_equal(bind(r->lfd, (struct sockaddr *)&sun, sizeof(sun)),
	    0);
	assert_int_equal(listen(r->lfd, 64), 0);
	r->lio = proto_io_new(r->loop, r->lfd, PROTO_IO_READ, relay_accept, r);
	assert_non_null(r->lio);
}

/* Stop listening: connecting to the relay fails until relay_listen. */
static void
relay_down(struct relay *r)
{
	if (r->lio != NULL) {
		proto_io_free(r->lio);
		r->lio = NULL;
		close(r->lfd);
		r->lfd = -1;
		(void)unlink(r->path);
	}
	relay_cut(r);
}

/* Forward nothing more on the connections there are now. */
static void
relay_stall(struct relay *r)
{
	struct rconn *c;

	for (c = r->conns; c != NULL; c = c->next) {
		c->stalled = 1;
		proto_io_set(c->io[0], 0);
		proto_io_set(c->io[1], 0);
	}
}

static void
relay_plan(struct relay *r, const uint64_t *plan, size_t n)
{
	r->plan = plan;
	r->nplan = n;
	r->iplan = 0;
	r->budget[0] = r->budget[1] = UINT64_MAX;
	relay_next_cut(r, 0);
}

static void
relay_free(struct relay *r)
{
	if (r == NULL)
		return;
	relay_down(r);
	free(r->tapped[0].p);
	free(r->tapped[1].p);
	free(r);
}

/* --- the environment of a test -------------------------------------------- */

struct env {
	struct proto_loop *loop;
	char dir[64];
	char srv_path[108], relay_path[108];
	char srv_addr[128], relay_addr[128];
	struct side srv, cli;
	struct side other;	/* a second client session's */
	struct relay *relay;
	int order;		/* stamps final replies in arrival order */
};

static void
side_init(struct env *e, struct side *sd, const char *name)
{
	memset(sd, 0, sizeof(*sd));
	sd->name = name;
	sd->env = e;
	proto_peer_config_init(&sd->cfg);
	sd->cfg.node = name;
	sd->cfg.log = on_log;
	sd->cfg.journal = on_journal;
	sd->cfg.arg = sd;
}

static void
fast_reconnect(struct side *sd)
{
	sd->cfg.reconnect_min_ns = 5 * PROTO_MS;
	sd->cfg.reconnect_max_ns = 20 * PROTO_MS;
}

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	alarm(WATCHDOG_SEC);
	assert_non_null(e);
	e->loop = proto_loop_new();
	assert_non_null(e->loop);
	snprintf(e->dir, sizeof(e->dir), "/tmp/test_session.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->srv_path, sizeof(e->srv_path), "%s/srv", e->dir);
	snprintf(e->relay_path, sizeof(e->relay_path), "%s/relay", e->dir);
	snprintf(e->srv_addr, sizeof(e->srv_addr), "unix:%s", e->srv_path);
	snprintf(e->relay_addr, sizeof(e->relay_addr), "unix:%s",
	    e->relay_path);
	side_init(e, &e->srv, "server");
	side_init(e, &e->cli, "client");
	e->srv.cfg.accepted = on_event;
	*state = e;
	return 0;
}

static void
step(struct env *e)
{
	assert_int_equal(proto_loop_run_once(e->loop, 10 * PROTO_MS), 0);
}

/* Drive the loop for ns of real time. */
static void
settle(struct env *e, uint64_t ns)
{
	uint64_t until = mono() + ns;

	while (mono() < until)
		step(e);
}

/*
 * Drive the loop until cond holds, at most WAIT_NS: a macro because the
 * condition must be evaluated again after every round.
 */
#define WAIT(e, cond) do {						\
	uint64_t until_ = mono() + WAIT_NS;				\
	while (!(cond)) {						\
		if (mono() > until_)					\
			fail_msg("%s:%d: timed out waiting for %s",	\
			    __FILE__, __LINE__, #cond);			\
		step(e);						\
	}								\
} while (0)

/*
 * As WAIT, but at most ns: where a late event is itself the failure,
 * and waiting the full WAIT_NS would only slow down the report.
 */
#define WAIT_UPTO(e, ns, cond) do {					\
	uint64_t until_ = mono() + (ns);				\
	while (!(cond)) {						\
		if (mono() > until_)					\
			fail_msg("%s:%d: not within %" PRIu64 " ms: %s",	\
			    __FILE__, __LINE__, (uint64_t)(ns) / PROTO_MS,	\
			    #cond);					\
		step(e);						\
	}								\
} while (0)

static void
peer_start(struct env *e, struct side *sd, int listen)
{
	char err[256];

	sd->peer = proto_peer_new(e->loop, &sd->cfg, err, sizeof(err));
	if (sd->peer == NULL)
		fail_msg("%s: %s", sd->name, err);
	assert_int_equal(proto_peer_serve(sd->peer, "echo",
	    &proto_echo_service, NULL), 0);
	assert_int_equal(proto_peer_serve(sd->peer, "slow", &slow_service,
	    &sd->slow), 0);
	assert_int_equal(proto_peer_serve(sd->peer, "refuse",
	    &refuse_service, NULL), 0);
	/* A service only the client has. */
	if (sd == &e->cli)
		assert_int_equal(proto_peer_serve(sd->peer, "client-only",
		    &slow_service, &sd->slow), 0);
	if (listen && proto_peer_listen(sd->peer, e->srv_addr, err,
	    sizeof(err)) < 0)
		fail_msg("listen: %s", err);
}

static const struct proto_session_ops client_ops = { on_event };

static void
relay_start(struct env *e)
{
	struct relay *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->loop = e->loop;
	snprintf(r->path, sizeof(r->path), "%s", e->relay_path);
	snprintf(r->target, sizeof(r->target), "%s", e->srv_path);
	r->lfd = -1;
	r->budget[0] = r->budget[1] = UINT64_MAX;
	relay_listen(r);
	e->relay = r;
}

/* Start the server, and the client through the relay or not. */
static void
start(struct env *e, int via_relay)
{
	char err[256];

	peer_start(e, &e->srv, 1);
	peer_start(e, &e->cli, 0);
	if (via_relay)
		relay_start(e);
	e->cli.s = proto_peer_connect(e->cli.peer, via_relay ?
	    e->relay_addr : e->srv_addr, &client_ops, &e->cli, err,
	    sizeof(err));
	if (e->cli.s == NULL)
		fail_msg("connect: %s", err);
}

static void
start_up(struct env *e, int via_relay)
{
	start(e, via_relay);
	WAIT(e, e->cli.ups == 1 && e->srv.ups == 1);
}

static int
teardown(void **state)
{
	struct env *e = *state;
	int i;

	tearing_down = 1;
	assert_int_equal(e->srv.ctl_logs, 0);
	assert_int_equal(e->cli.ctl_logs, 0);
	if (e->cli.peer != NULL)
		proto_peer_free(e->cli.peer);
	if (e->srv.peer != NULL)
		proto_peer_free(e->srv.peer);
	relay_free(e->relay);
	for (i = 0; i < 4; i++)
		assert_int_equal(proto_loop_run_once(e->loop, 0), 0);
	proto_loop_free(e->loop);
	(void)unlink(e->srv_path);
	(void)unlink(e->relay_path);
	assert_int_equal(rmdir(e->dir), 0);
	free(e->srv.j);
	free(e->cli.j);
	free(e);
	alarm(0);
	tearing_down = 0;
	return 0;
}

/* --- replies to commands sent through the API ----------------------------- */

struct rec {
	struct env *e;
	int parts;		/* non-final callbacks */
	int finals;
	int status;		/* of the final */
	int with_msg;		/* the final came with a message */
	int order;		/* e->order when the final came */
	int partsafter;		/* parts after the final: never */
	uint8_t *copy;		/* the final message, when keep */
	size_t len;
	int keep;
	uint32_t msgid;
};

static void
on_reply(void *arg, struct proto_call *c, const struct proto_msg *m,
    int status, int final)
{
	struct rec *r = arg;

	if (tearing_down)
		return;
	assert_non_null(c);
	if (m != NULL)
		assert_int_equal(m->msgid, proto_call_msgid(c));
	if (!final) {
		assert_non_null(m);
		if (r->finals > 0)
			r->partsafter++;
		r->parts++;
		return;
	}
	r->finals++;
	r->status = status;
	r->with_msg = m != NULL;
	r->order = ++r->e->order;
	r->msgid = proto_call_msgid(c);
	if (m != NULL && r->keep && r->copy == NULL) {
		r->copy = malloc(m->length);
		assert_non_null(r->copy);
		memcpy(r->copy, m->bytes, m->length);
		r->len = m->length;
	}
}

/* Send a command of no items but STATUS-free DATA on l. */
static struct proto_call *
send_cmd(struct proto_link *l, uint16_t cmd, const void *data, size_t len,
    struct rec *r)
{
	struct proto_builder *b = proto_cmd_begin(l, cmd);

	assert_non_null(b);
	if (data != NULL)
		proto_build_bytes(b, PROTO_ITEM_DATA, data, len);
	return proto_cmd_send(l, on_reply, r);
}

static struct proto_link *
open_link(struct env *e, struct proto_session *s, const char *svc,
    struct rec *r)
{
	struct proto_link *l;

	memset(r, 0, sizeof(*r));
	r->e = e;
	l = proto_link_open(s, svc, NULL, on_reply, r);
	assert_non_null(l);
	return l;
}

/* The STATUS of a message, or -1 without one. */
static int
status_of(const struct proto_msg *m)
{
	struct proto_item it;
	uint32_t v;

	if (proto_msg_find(m, PROTO_ITEM_STATUS, &it, NULL) <= 0 ||
	    proto_item_u32(&it, &v, NULL) < 0)
		return -1;
	return (int)v;
}

static int
has_item(const struct proto_msg *m, uint16_t type)
{
	struct proto_item it;

	return proto_msg_find(m, type, &it, NULL) > 0;
}

/* ERRTEXT as a C string in buf ("" without one). */
static const char *
errtext_of(const struct proto_msg *m, char *buf, size_t len)
{
	struct proto_item it;
	const char *s;
	size_t n;

	buf[0] = '\0';
	if (proto_msg_find(m, PROTO_ITEM_ERRTEXT, &it, NULL) > 0 &&
	    proto_item_string(&it, &s, &n, NULL) == 0)
		snprintf(buf, len, "%.*s", (int)n, s);
	return buf;
}

static void
msg_of(struct proto_msg *m, const uint8_t *bytes, size_t len)
{
	assert_int_equal(proto_msg_view(m, bytes, len, 0, NULL), 0);
	assert_int_equal(proto_msg_validate(m, NULL), 0);
}

/* --- raw sockets: bytes the API would never send -------------------------- */

struct rawmsg {
	uint8_t *bytes;
	struct proto_msg m;
};

struct raw {
	struct env *e;
	int fd;
	struct proto_framer fr;
	struct rawmsg *msgs;
	size_t n, cap, next;
	int eof;
	int crc;		/* append CRC items to sequenced messages */
	struct proto_builder b;
	uint64_t received;	/* sequenced messages received */
	uint64_t sent;		/* bytes written */
	uint8_t session[16];
	uint64_t peer_received;	/* RECEIVED of the HELLO reply */
	uint64_t features;
	uint8_t nonce_a[32];	/* the acceptor's NONCE */
	int have_nonce_a, have_auth;
	uint8_t auth_a[32];
};

static struct raw *
raw_new(struct env *e, int fd)
{
	struct raw *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	assert_true(fd >= 0);
	r->e = e;
	r->fd = fd;
	assert_int_equal(proto_framer_init(&r->fr, 0), 0);
	proto_builder_init(&r->b);
	return r;
}

static struct raw *
raw_open(struct env *e)
{
	return raw_new(e, unix_connect(e->srv_path));
}

static void
raw_close(struct raw *r)
{
	size_t i;

	if (r->fd >= 0)
		close(r->fd);
	for (i = 0; i < r->n; i++)
		free(r->msgs[i].bytes);
	free(r->msgs);
	proto_framer_free(&r->fr);
	proto_builder_free(&r->b);
	free(r);
}

/* Read what has come; keep a copy of every message. */
static void
raw_pump(struct raw *r)
{
	uint8_t buf[65536];
	struct proto_error err;
	struct proto_msg m;
	struct rawmsg *x;
	ssize_t n;
	int k;

	while (!r->eof) {
		n = read(r->fd, buf, sizeof(buf));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			r->eof = 1;
			return;
		}
		proto_framer_feed(&r->fr, buf, (size_t)n);
		while ((k = proto_framer_next(&r->fr, &m, &err)) != 0) {
			if (k < 0)
				fail_msg("raw: the server sent a framing "
				    "error: %s", proto_reason_str(err.reason));
			if (r->n == r->cap) {
				r->cap = r->cap ? 2 * r->cap : 64;
				r->msgs = realloc(r->msgs, r->cap *
				    sizeof(*r->msgs));
				assert_non_null(r->msgs);
			}
			x = &r->msgs[r->n++];
			x->bytes = malloc(m.length);
			assert_non_null(x->bytes);
			memcpy(x->bytes, m.bytes, m.length);
			x->m = m;
			x->m.bytes = x->bytes;
			assert_int_equal(proto_msg_validate(&x->m, NULL), 0);
			if (proto_msg_command(&x->m) > PROTO_CONTROL_LAST)
				r->received++;
		}
	}
}

/* Write the builder's bytes, all of them, then forget them. */
static void
raw_flush(struct raw *r)
{
	const uint8_t *p = proto_builder_data(&r->b);
	size_t len = proto_builder_len(&r->b), off = 0;
	uint64_t until = mono() + WAIT_NS;
	ssize_t n;

	while (off < len) {
		n = write(r->fd, p + off, len - off);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			fail_msg("raw write: %s", strerror(errno));
		if (n > 0) {
			off += (size_t)n;
			r->sent += (uint64_t)n;
		}
		if (off < len) {
			assert_true(mono() < until);
			step(r->e);
			raw_pump(r);
		}
	}
	proto_builder_reset(&r->b);
}

static struct proto_builder *
raw_begin(struct raw *r, uint64_t linkid, uint32_t msgid, uint16_t cmd)
{
	assert_int_equal(proto_build_begin(&r->b, linkid, msgid, cmd), 0);
	return &r->b;
}

/* End the message (a CRC item on sequenced ones when r->crc) and send. */
static void
raw_send(struct raw *r)
{
	uint16_t cmd = proto_get16(r->b.buf + r->b.msg_start + 12);

	if (r->crc && (cmd & PROTO_COMMAND_MASK) > PROTO_CONTROL_LAST)
		assert_true(proto_build_end_crc(&r->b) > 0);
	else
		assert_true(proto_build_end(&r->b) > 0);
	raw_flush(r);
}

/* Bytes as they are: garbage, pads, what the builder cannot make. */
static void
raw_write(struct raw *r, const void *p, size_t n)
{
	assert_int_equal(proto_build_verbatim(&r->b, p, n), 0);
	raw_flush(r);
}

/*
 * The next message that is not an ACK, or NULL at the end of the
 * stream; waits at most WAIT_NS.
 */
static const struct proto_msg *
raw_next(struct raw *r)
{
	uint64_t until = mono() + WAIT_NS;
	const struct proto_msg *m;

	for (;;) {
		raw_pump(r);
		while (r->next < r->n) {
			m = &r->msgs[r->next++].m;
			if (m->command != PROTO_CMD_ACK)
				return m;
		}
		if (r->eof)
			return NULL;
		if (mono() > until)
			fail_msg("raw: nothing came from the server");
		step(r->e);
	}
}

/* Nothing but ACKs for a while, the stream still open. */
static void
raw_quiet(struct raw *r, uint64_t ns)
{
	uint64_t until = mono() + ns;
	const struct proto_msg *m;

	while (mono() < until) {
		step(r->e);
		raw_pump(r);
		while (r->next < r->n) {
			m = &r->msgs[r->next++].m;
			if (m->command != PROTO_CMD_ACK)
				fail_msg("raw: unexpected message link 0x%"
				    PRIx64 " msg %u cmd 0x%04x", m->linkid,
				    m->msgid, m->command);
		}
	}
	assert_false(r->eof);
}

/* The stream ends (the server closed it) with nothing more than ACKs. */
static void
raw_wait_eof(struct raw *r)
{
	const struct proto_msg *m = raw_next(r);

	if (m != NULL)
		fail_msg("raw: message cmd 0x%04x where the end was due",
		    m->command);
	assert_true(r->eof);
}

static void
raw_ack(struct raw *r)
{
	struct proto_builder *b = raw_begin(r, 0, 0, PROTO_CMD_ACK);

	proto_build_u64(b, PROTO_ITEM_RECEIVED, r->received);
	raw_send(r);
}

/*
 * HELLO with WINDOW window: what we say we hold unacknowledged, which
 * only sets how often the server ACKs (a quarter of it).
 */
static void
raw_hello_send_w(struct raw *r, uint64_t features, const uint8_t *session,
    uint64_t received, const uint8_t *nonce, uint32_t window)
{
	static const uint8_t zero[16];
	struct proto_builder *b = raw_begin(r, 0, 0, PROTO_CMD_HELLO);

	proto_build_u16(b, PROTO_ITEM_VERSION, 1);
	proto_build_string(b, PROTO_ITEM_NODE, "raw", 3);
	proto_build_bytes(b, PROTO_ITEM_SESSION, session ? session : zero, 16);
	proto_build_u64(b, PROTO_ITEM_RECEIVED, received);
	proto_build_u64(b, PROTO_ITEM_FEATURES, features);
	proto_build_u32(b, PROTO_ITEM_WINDOW, window);
	proto_build_nest_begin(b, PROTO_ITEM_LIMITS, 0);
	proto_build_u32(b, PROTO_ITEM_MAX_INFLIGHT, 1024);
	proto_build_u32(b, PROTO_ITEM_MAX_LINKS, 1024);
	proto_build_nest_end(b);
	if (nonce != NULL)
		proto_build_bytes(b, PROTO_ITEM_NONCE, nonce, 32);
	raw_send(r);
}

static void
raw_hello_send(struct raw *r, uint64_t features, const uint8_t *session,
    uint64_t received, const uint8_t *nonce)
{
	raw_hello_send_w(r, features, session, received, nonce, 1u << 20);
}

/* The HELLO reply: its STATUS, and what it says kept in r. */
static int
raw_hello_reply(struct raw *r)
{
	const struct proto_msg *m = raw_next(r);
	struct proto_item it;
	const uint8_t *p;
	size_t n;
	int st;

	assert_non_null(m);
	assert_int_equal(m->command, PROTO_CMD_HELLO | PROTO_REPLY_BIT);
	assert_int_equal(m->linkid, 0);
	st = status_of(m);
	assert_true(st >= 0);
	if (st != 0)
		return st;
	assert_true(proto_msg_find(m, PROTO_ITEM_SESSION, &it, NULL) > 0);
	assert_int_equal(proto_item_bytes(&it, &p, &n, 16, NULL), 0);
	memcpy(r->session, p, 16);
	assert_true(proto_msg_find(m, PROTO_ITEM_RECEIVED, &it, NULL) > 0);
	assert_int_equal(proto_item_u64(&it, &r->peer_received, NULL), 0);
	assert_true(proto_msg_find(m, PROTO_ITEM_FEATURES, &it, NULL) > 0);
	assert_int_equal(proto_item_u64(&it, &r->features, NULL), 0);
	r->have_nonce_a = proto_msg_find(m, PROTO_ITEM_NONCE, &it, NULL) > 0;
	if (r->have_nonce_a) {
		assert_int_equal(proto_item_bytes(&it, &p, &n, 32, NULL), 0);
		memcpy(r->nonce_a, p, 32);
	}
	r->have_auth = proto_msg_find(m, PROTO_ITEM_AUTH, &it, NULL) > 0;
	if (r->have_auth) {
		assert_int_equal(proto_item_bytes(&it, &p, &n, 32, NULL), 0);
		memcpy(r->auth_a, p, 32);
	}
	return 0;
}

/* A raw session: handshake done with the given features. */
static struct raw *
raw_session(struct env *e, uint64_t features)
{
	struct raw *r = raw_open(e);
	int ups = e->srv.ups;

	raw_hello_send(r, features, NULL, 0, NULL);
	assert_int_equal(raw_hello_reply(r), 0);
	r->crc = (r->features & PROTO_FEATURE_CRC) != 0;
	WAIT(e, e->srv.ups == ups + 1);
	return r;
}

/* LINK_OPEN {NEWLINK id, SERVICE svc} as msgid; the reply's STATUS. */
static int
raw_link_open(struct raw *r, uint64_t id, const char *svc, uint32_t msgid)
{
	struct proto_builder *b = raw_begin(r, 0, msgid, PROTO_CMD_LINK_OPEN);
	const struct proto_msg *m;

	proto_build_linkids(b, PROTO_ITEM_NEWLINK, &id, 1);
	proto_build_string(b, PROTO_ITEM_SERVICE, svc, strlen(svc));
	raw_send(r);
	m = raw_next(r);
	assert_non_null(m);
	assert_int_equal(m->command, PROTO_CMD_LINK_OPEN | PROTO_REPLY_BIT);
	assert_int_equal(m->msgid, msgid);
	return status_of(m);
}

/* The next message is the reply to (link, msgid, cmd): STATUS, ERRTEXT. */
static int
raw_expect_text(struct raw *r, uint64_t link, uint32_t msgid, uint16_t cmd,
    char *buf, size_t len)
{
	const struct proto_msg *m = raw_next(r);

	if (m == NULL)
		fail_msg("raw: end of stream where the reply to msg %u was "
		    "due", msgid);
	if (m->linkid != link || m->msgid != msgid ||
	    m->command != (cmd | PROTO_REPLY_BIT))
		fail_msg("raw: got link 0x%" PRIx64 " msg %u cmd 0x%04x, "
		    "wanted link 0x%" PRIx64 " msg %u cmd 0x%04x", m->linkid,
		    m->msgid, m->command, link, msgid, cmd | PROTO_REPLY_BIT);
	errtext_of(m, buf, len);
	return status_of(m);
}

/* The next message is the reply to (link, msgid, cmd): its STATUS. */
static int
raw_expect(struct raw *r, uint64_t link, uint32_t msgid, uint16_t cmd)
{
	char text[256];

	return raw_expect_text(r, link, msgid, cmd, text, sizeof(text));
}

/* A command on link with optional TARGET or COUNT. */
static void
raw_cmd(struct raw *r, uint64_t link, uint32_t msgid, uint16_t cmd)
{
	raw_begin(r, link, msgid, cmd);
	raw_send(r);
}

static void
raw_cmd_u32(struct raw *r, uint64_t link, uint32_t msgid, uint16_t cmd,
    uint16_t item, uint32_t v)
{
	struct proto_builder *b = raw_begin(r, link, msgid, cmd);

	proto_build_u32(b, item, v);
	raw_send(r);
}

/* The GOODBYE that ends the stream: its STATUS; the text in buf. */
static int
raw_goodbye(struct raw *r, char *buf, size_t len)
{
	const struct proto_msg *m = raw_next(r);
	int st;

	if (m == NULL)
		fail_msg("raw: end of stream without GOODBYE");
	if (m->command != PROTO_CMD_GOODBYE)
		fail_msg("raw: cmd 0x%04x where GOODBYE was due", m->command);
	assert_int_equal(m->linkid, 0);
	st = status_of(m);
	errtext_of(m, buf, len);
	raw_wait_eof(r);
	return st;
}

/*
 * Resume r's session over a new connection, claiming all r received;
 * the caller closes r (the server may not have seen it break yet).
 */
static struct raw *
raw_resume(struct raw *r)
{
	struct raw *n = raw_open(r->e);

	raw_hello_send(n, r->features, r->session, r->received, NULL);
	assert_int_equal(raw_hello_reply(n), 0);
	assert_memory_equal(n->session, r->session, 16);
	n->crc = r->crc;
	n->received = r->received;
	return n;
}

/*
 * Write empty commands (link, msgids 1, 2..., cmd) and never read, as a
 * peer that does not take its replies would: up to cap bytes, or until
 * the server closes the transport (EPIPE, ECONNRESET). After every
 * round, what watch's session holds for the peer (held_bytes) raises
 * *maxb. Returns the bytes written.
 */
static uint64_t
raw_flood(struct raw *r, uint64_t link, uint16_t cmd, uint64_t cap,
    const struct side *watch, uint64_t *maxb)
{
	struct proto_session_info info;
	uint64_t until = mono() + WAIT_NS, wrote = 0;
	uint32_t msgid = 1;
	const uint8_t *p;
	size_t len, off;
	ssize_t n;
	int i;

	while (wrote < cap) {
		for (i = 0; i < 1024; i++) {
			raw_begin(r, link, msgid++, cmd);
			assert_true(proto_build_end(&r->b) > 0);
		}
		p = proto_builder_data(&r->b);
		len = proto_builder_len(&r->b);
		off = 0;
		while (off < len) {
			n = send(r->fd, p + off, len - off, MSG_NOSIGNAL);
			if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
				proto_builder_reset(&r->b);
				return wrote;
			}
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				fail_msg("raw flood: %s", strerror(errno));
			if (n > 0) {
				off += (size_t)n;
				wrote += (uint64_t)n;
				r->sent += (uint64_t)n;
				continue;
			}
			if (mono() > until)
				fail_msg("raw flood: %" PRIu64 " bytes in %d s",
				    wrote, (int)(WAIT_NS / PROTO_SEC));
			step(r->e);
			if (watch != NULL && watch->s != NULL) {
				proto_session_info(watch->s, &info);
				if (info.held_bytes > *maxb)
					*maxb = info.held_bytes;
			}
		}
		proto_builder_reset(&r->b);
		step(r->e);
		if (watch != NULL && watch->s != NULL) {
			proto_session_info(watch->s, &info);
			if (info.queued_bytes + info.unacked_bytes > *maxb)
				*maxb = info.queued_bytes + info.unacked_bytes;
		}
	}
	return wrote;
}

/* --- a raw acceptor: the server's side of the wire, by hand --------------- */

/* Listen where the server would; the client peer is pointed here. */
static int
raw_listen(struct env *e)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", e->srv_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

/* The client's connection: the loop runs its dial meanwhile. */
static struct raw *
raw_accept(struct env *e, int lfd)
{
	uint64_t until = mono() + WAIT_NS;
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) < 0) {
		if (errno != EAGAIN && errno != EINTR)
			fail_msg("raw accept: %s", strerror(errno));
		if (mono() > until)
			fail_msg("raw accept: the client did not connect");
		step(e);
	}
	return raw_new(e, fd);
}

/* Take the client's HELLO; answer with status (and text when not 0). */
static void
raw_serve_hello(struct raw *r, uint32_t status, const char *text)
{
	const struct proto_msg *m = raw_next(r);
	struct proto_builder *b;

	assert_non_null(m);
	assert_int_equal(m->command, PROTO_CMD_HELLO);
	b = raw_begin(r, 0, 0, PROTO_CMD_HELLO | PROTO_REPLY_BIT);
	proto_build_u32(b, PROTO_ITEM_STATUS, status);
	if (status != 0) {
		proto_build_string(b, PROTO_ITEM_ERRTEXT, text, strlen(text));
		raw_send(r);
		return;
	}
	memset(r->session, 0x5c, sizeof(r->session));
	proto_build_u16(b, PROTO_ITEM_VERSION, 1);
	proto_build_string(b, PROTO_ITEM_NODE, "raw", 3);
	proto_build_bytes(b, PROTO_ITEM_SESSION, r->session, 16);
	proto_build_u64(b, PROTO_ITEM_RECEIVED, 0);
	proto_build_u64(b, PROTO_ITEM_FEATURES, 0);
	proto_build_u32(b, PROTO_ITEM_WINDOW, 1u << 20);
	proto_build_nest_begin(b, PROTO_ITEM_LIMITS, 0);
	proto_build_u32(b, PROTO_ITEM_MAX_INFLIGHT, 1024);
	proto_build_u32(b, PROTO_ITEM_MAX_LINKS, 1024);
	proto_build_nest_end(b);
	raw_send(r);
}

/* The client peer, dialling the raw acceptor at the server's address. */
static void
connect_to_raw(struct env *e)
{
	char err[256];

	peer_start(e, &e->cli, 0);
	e->cli.s = proto_peer_connect(e->cli.peer, e->srv_addr, &client_ops,
	    &e->cli, err, sizeof(err));
	if (e->cli.s == NULL)
		fail_msg("connect: %s", err);
}

/* --- handshake and features ----------------------------------------------- */

static const uint8_t zero16[16];

/* Both sides UP, the same session, commands both ways. */
static void
test_handshake(void **state)
{
	struct env *e = *state;
	struct proto_session_info ci, si;
	struct rec ro, so, r1 = { .e = e }, r2 = { .e = e };
	struct proto_link *l, *sl;

	start_up(e, 0);
	proto_session_info(e->cli.s, &ci);
	proto_session_info(e->srv.s, &si);
	assert_memory_equal(ci.id, si.id, 16);
	assert_memory_not_equal(ci.id, zero16, 16);
	assert_string_equal(ci.peer_node, "server");
	assert_string_equal(si.peer_node, "client");
	assert_true(ci.initiator);
	assert_false(si.initiator);
	assert_true(ci.up);
	assert_true(si.up);
	assert_int_equal(ci.features, 0);
	assert_int_equal(si.features, 0);
	assert_string_equal(ci.transport, e->srv_addr);
	assert_true(si.transport[0] != '\0');

	/* Client to server: link ids from the initiator's half. */
	l = open_link(e, e->cli.s, "echo", &ro);
	assert_int_equal(proto_link_id(l) & LINKID_ACCEPTOR, 0);
	assert_true(proto_link_id(l) != 0);
	assert_ptr_equal(proto_link_session(l), e->cli.s);
	assert_non_null(send_cmd(l, CMD_ECHO, "ping", 4, &r1));
	WAIT(e, r1.finals == 1);
	assert_int_equal(ro.finals, 1);
	assert_int_equal(ro.status, 0);
	assert_true(ro.order < r1.order);
	assert_int_equal(r1.status, 0);
	assert_true(r1.with_msg);

	/* Server to client: the acceptor's half, a service of the client. */
	sl = open_link(e, e->srv.s, "client-only", &so);
	assert_true(proto_link_id(sl) & LINKID_ACCEPTOR);
	assert_ptr_equal(proto_link_session(sl), e->srv.s);
	assert_non_null(send_cmd(sl, CMD_HOLD, "pong", 4, &r2));
	WAIT(e, e->cli.slow.npend == 1);
	assert_int_equal(e->srv.slow.commands, 0);
	assert_int_equal(slow_release_one(&e->cli.slow, 0), 0);
	WAIT(e, r2.finals == 1);
	assert_int_equal(so.status, 0);
	assert_int_equal(r2.status, 0);
	assert_true(r2.with_msg);
	/* The client has it; the server does not. */
	l = open_link(e, e->cli.s, "client-only", &ro);
	WAIT(e, ro.finals == 1);
	assert_int_equal(ro.status, ENOENT);

	/* Everything acknowledged: counts agree, nothing held. */
	WAIT(e, (proto_session_info(e->cli.s, &ci),
	    proto_session_info(e->srv.s, &si),
	    ci.unacked_bytes == 0 && si.unacked_bytes == 0));
	assert_int_equal(ci.sent, si.received);
	assert_int_equal(si.sent, ci.received);
	assert_int_equal(ci.sent, 5);	/* 3 commands, 2 replies */
	assert_int_equal(si.sent, 5);
	assert_int_equal(ci.calls, 0);
	assert_int_equal(si.calls, 0);
	assert_int_equal(ci.links, 2);	/* ours to the server, its to us */
	assert_int_equal(si.links, 2);	/* the refused one is gone */
	assert_int_equal(ci.resumes, 0);
	assert_int_equal(e->cli.nev, 1);
	assert_int_equal(e->srv.nev, 1);
	assert_int_equal(e->cli.ev[0], PROTO_EV_UP);
	assert_int_equal(e->srv.ev[0], PROTO_EV_UP);
}

/* Every message of a recorded stream; sequenced ones end with a CRC. */
static int
check_crc_stream(const struct rbuf *b, int want_crc)
{
	struct proto_framer fr;
	struct proto_error err;
	struct proto_msg m;
	struct proto_iter it;
	struct proto_item item, last;
	int r, seq = 0;

	assert_int_equal(proto_framer_init(&fr, 0), 0);
	proto_framer_feed(&fr, b->p, b->len);
	while ((r = proto_framer_next(&fr, &m, &err)) != 0) {
		assert_int_equal(r, 1);
		assert_int_equal(proto_msg_validate(&m, NULL), 0);
		memset(&last, 0, sizeof(last));
		proto_iter_init(&it, &m);
		while (proto_iter_next(&it, &item, NULL) > 0)
			last = item;
		if (proto_msg_command(&m) <= PROTO_CONTROL_LAST) {
			/* Control messages are never numbered: no CRC. */
			assert_false(has_item(&m, PROTO_ITEM_CRC));
			continue;
		}
		seq++;
		if (want_crc) {
			assert_int_equal(proto_item_type(&last),
			    PROTO_ITEM_CRC);
			assert_int_equal(last.len, 8);
			assert_int_equal(proto_msg_crc_check(&m, NULL), 0);
		} else {
			assert_int_not_equal(proto_item_type(&last),
			    PROTO_ITEM_CRC);
		}
	}
	proto_framer_free(&fr);
	return seq;
}

static void
crc_traffic(struct env *e)
{
	static uint8_t big[60000];
	struct rec ro, r[4];
	struct proto_link *l;
	size_t sizes[4] = { 0, 1, 4093, sizeof(big) };
	int i;

	memset(big, 0x5a, sizeof(big));
	memset(r, 0, sizeof(r));
	l = open_link(e, e->cli.s, "echo", &ro);
	for (i = 0; i < 4; i++) {
		r[i].e = e;
		assert_non_null(send_cmd(l, CMD_ECHO, big, sizes[i], &r[i]));
	}
	WAIT(e, r[3].finals == 1);
	for (i = 0; i < 4; i++) {
		assert_int_equal(r[i].finals, 1);
		assert_int_equal(r[i].status, 0);
	}
}

/* Both offer CRC: it is used, and every sequenced message carries it. */
static void
test_features_crc(void **state)
{
	struct env *e = *state;
	struct proto_session_info ci, si;

	e->srv.cfg.features = PROTO_FEATURE_CRC;
	e->cli.cfg.features = PROTO_FEATURE_CRC;
	start(e, 1);
	e->relay->tap = 1;
	WAIT(e, e->cli.ups == 1 && e->srv.ups == 1);
	proto_session_info(e->cli.s, &ci);
	proto_session_info(e->srv.s, &si);
	assert_int_equal(ci.features, PROTO_FEATURE_CRC);
	assert_int_equal(si.features, PROTO_FEATURE_CRC);
	crc_traffic(e);
	/* Toward the server: LINK_OPEN and 4 commands; back: 5 replies. */
	assert_int_equal(check_crc_stream(&e->relay->tapped[0], 1), 5);
	assert_int_equal(check_crc_stream(&e->relay->tapped[1], 1), 5);
}

/* One side does not offer CRC: neither uses it. */
static void
test_features_crc_one_side(void **state)
{
	struct env *e = *state;
	struct proto_session_info ci, si;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		e->srv.cfg.features = pass == 0 ? PROTO_FEATURE_CRC : 0;
		e->cli.cfg.features = pass == 0 ? 0 : PROTO_FEATURE_CRC;
		start(e, 1);
		e->relay->tap = 1;
		WAIT(e, e->cli.ups == 1 && e->srv.ups == 1);
		proto_session_info(e->cli.s, &ci);
		proto_session_info(e->srv.s, &si);
		assert_int_equal(ci.features, 0);
		assert_int_equal(si.features, 0);
		crc_traffic(e);
		assert_int_equal(check_crc_stream(&e->relay->tapped[0], 0),
		    5);
		assert_int_equal(check_crc_stream(&e->relay->tapped[1], 0),
		    5);
		proto_peer_free(e->cli.peer);
		proto_peer_free(e->srv.peer);
		e->cli.peer = e->srv.peer = NULL;
		relay_free(e->relay);
		e->relay = NULL;
		e->cli.ups = e->srv.ups = 0;
	}
}

/*
 * A raw CRC session: the server's sequenced replies carry a valid CRC;
 * a message of ours with a bad CRC is damage in transit: the transport
 * is dropped without GOODBYE and the session waits for a resume.
 */
static void
test_crc_raw(void **state)
{
	struct env *e = *state;
	struct raw *r, *r2;
	const struct proto_msg *m;
	struct proto_builder *b;
	struct proto_session_info si;
	size_t i;
	int seq = 0;

	e->srv.cfg.features = PROTO_FEATURE_CRC;
	peer_start(e, &e->srv, 1);
	r = raw_session(e, PROTO_FEATURE_CRC | (1ull << 40));
	assert_int_equal(r->features, PROTO_FEATURE_CRC);
	assert_int_equal(raw_link_open(r, 1, "echo", 1), 0);
	b = raw_begin(r, 1, 2, CMD_ECHO);
	proto_build_string(b, PROTO_ITEM_NAME, "crc", 3);
	raw_send(r);
	assert_int_equal(raw_expect(r, 1, 2, CMD_ECHO), 0);
	for (i = 0; i < r->n; i++) {
		m = &r->msgs[i].m;
		if (proto_msg_command(m) <= PROTO_CONTROL_LAST)
			continue;
		seq++;
		assert_int_equal(proto_msg_crc_check(m, NULL), 0);
	}
	assert_int_equal(seq, 2);

	/* A sequenced message without its CRC item. */
	raw_begin(r, 1, 3, CMD_ECHO);
	assert_true(proto_build_end(&r->b) > 0);
	raw_flush(r);
	raw_wait_eof(r);
	WAIT(e, e->srv.detached == 1);
	assert_int_equal(e->srv.lost, 0);
	proto_session_info(e->srv.s, &si);
	assert_int_equal(si.received, 2);	/* the bad one not counted */

	/* The session resumes; a CRC that does not match is as bad. */
	r2 = raw_open(e);
	raw_hello_send(r2, PROTO_FEATURE_CRC, r->session, r->received, NULL);
	assert_int_equal(raw_hello_reply(r2), 0);
	assert_int_equal(r2->peer_received, 2);
	r2->crc = 1;
	r2->received = r->received;
	WAIT(e, e->srv.resumed == 1);
	b = raw_begin(r2, 1, 4, CMD_ECHO);
	proto_build_u32(b, PROTO_ITEM_FLAGS, 7);
	raw_send(r2);
	assert_int_equal(raw_expect(r2, 1, 4, CMD_ECHO), 0);
	b = raw_begin(r2, 1, 5, CMD_ECHO);
	assert_true(proto_build_end_crc(b) > 0);
	b->buf[b->len - 1] ^= 0x01;	/* one bit of the CRC value */
	raw_flush(r2);
	raw_wait_eof(r2);
	WAIT(e, e->srv.detached == 2);
	assert_int_equal(e->srv.lost, 0);

	/*
	 * Damage that also breaks an item rule (a pad byte) is still
	 * damage: the CRC says so before the items are looked at. The
	 * transport goes, the message is not counted, and the resume
	 * carries it again.
	 */
	raw_close(r);
	r = raw_open(e);
	raw_hello_send(r, PROTO_FEATURE_CRC, r2->session, r2->received, NULL);
	assert_int_equal(raw_hello_reply(r), 0);
	assert_int_equal(r->peer_received, 3);
	r->crc = 1;
	r->received = r2->received;
	WAIT(e, e->srv.resumed == 2);
	b = raw_begin(r, 1, 6, CMD_ECHO);
	proto_build_bytes(b, PROTO_ITEM_DATA, "abc", 3);
	proto_build_u32(b, PROTO_ITEM_FLAGS, 9);
	assert_true(proto_build_end_crc(b) > 0);
	b->buf[16 + 7] = 0x01;	/* the pad after DATA's 3 bytes */
	raw_flush(r);
	raw_wait_eof(r);
	WAIT(e, e->srv.detached == 3);
	proto_session_info(e->srv.s, &si);
	assert_int_equal(si.received, 3);
	raw_close(r2);
	r2 = raw_open(e);
	raw_hello_send(r2, PROTO_FEATURE_CRC, r->session, r->received, NULL);
	assert_int_equal(raw_hello_reply(r2), 0);
	r2->crc = 1;
	WAIT(e, e->srv.resumed == 3);
	b = raw_begin(r2, 1, 6, CMD_ECHO);
	proto_build_bytes(b, PROTO_ITEM_DATA, "abc", 3);
	proto_build_u32(b, PROTO_ITEM_FLAGS, 9);
	raw_send(r2);
	assert_int_equal(raw_expect(r2, 1, 6, CMD_ECHO), 0);
	/* Malformed as sent, with a right CRC: EBADMSG, the session lives. */
	b = raw_begin(r2, 1, 7, CMD_ECHO);
	proto_build_raw(b, PROTO_ITEM_FLAGS, "ab", 2);
	raw_send(r2);
	assert_int_equal(raw_expect(r2, 1, 7, CMD_ECHO), EBADMSG);
	raw_cmd(r2, 1, 8, CMD_ECHO);
	assert_int_equal(raw_expect(r2, 1, 8, CMD_ECHO), 0);
	assert_int_equal(e->srv.detached, 3);

	/* Resuming with other features than the session's: EINVAL. */
	raw_close(r);
	r = raw_open(e);
	raw_hello_send(r, 0, r2->session, r2->received, NULL);
	assert_int_equal(raw_hello_reply(r), EINVAL);
	raw_wait_eof(r);
	raw_close(r);
	raw_close(r2);
}

/* An echo command whose CRC item has one bit wrong. */
static void
raw_bad_crc(struct raw *r, uint32_t msgid)
{
	struct proto_builder *b = raw_begin(r, 1, msgid, CMD_ECHO);

	proto_build_string(b, PROTO_ITEM_NAME, "bad", 3);
	assert_true(proto_build_end_crc(b) > 0);
	b->buf[b->len - 1] ^= 0x01;
	raw_flush(r);
}

/*
 * The same message with a wrong CRC, again after every resume: damage
 * in transit the first four times (the transport goes, the session
 * waits), a sender that computes it wrong the fifth (GOODBYE EPROTO),
 * or it would resume for ever. Only failures at one place in a row
 * count: a message that gets through starts the count again.
 */
static void
test_crc_cap(void **state)
{
	struct env *e = *state;
	struct raw *r, *n;
	char text[256];
	int i;

	e->srv.cfg.features = PROTO_FEATURE_CRC;
	peer_start(e, &e->srv, 1);
	r = raw_session(e, PROTO_FEATURE_CRC);
	assert_true(r->crc);
	assert_int_equal(raw_link_open(r, 1, "echo", 1), 0);
	for (i = 1; i <= 4; i++) {
		raw_bad_crc(r, 2);
		raw_wait_eof(r);
		WAIT(e, e->srv.detached == i);
		assert_int_equal(e->srv.lost, 0);
		n = raw_resume(r);
		raw_close(r);
		r = n;
		WAIT(e, e->srv.resumed == i);
	}
	/* Sent right at last: it counts, and the next place starts at 1. */
	raw_cmd(r, 1, 2, CMD_ECHO);
	assert_int_equal(raw_expect(r, 1, 2, CMD_ECHO), 0);
	for (i = 5; i <= 8; i++) {
		raw_bad_crc(r, 3);
		raw_wait_eof(r);
		WAIT(e, e->srv.detached == i);
		assert_int_equal(e->srv.lost, 0);
		n = raw_resume(r);
		raw_close(r);
		r = n;
		WAIT(e, e->srv.resumed == i);
	}
	raw_bad_crc(r, 3);
	assert_int_equal(raw_goodbye(r, text, sizeof(text)), EPROTO);
	if (strstr(text, "CRC") == NULL)
		fail_msg("GOODBYE says \"%s\"", text);
	WAIT(e, e->srv.lost == 1);
	assert_int_equal(e->srv.lost_error, EPROTO);
	assert_int_equal(e->srv.detached, 8);
	raw_close(r);
}

/* --- AUTH ----------------------------------------------------------------- */

static void
set_key(struct side *sd, uint8_t fill)
{
	memset(sd->key, fill, sizeof(sd->key));
	sd->cfg.key = sd->key;
	sd->cfg.keylen = sizeof(sd->key);
}

static void
test_auth_same_key(void **state)
{
	struct env *e = *state;
	struct proto_session_info ci, si;
	struct rec ro, r1 = { .e = e };
	struct proto_link *l;

	set_key(&e->srv, 0x11);
	set_key(&e->cli, 0x11);
	start_up(e, 0);
	proto_session_info(e->cli.s, &ci);
	proto_session_info(e->srv.s, &si);
	assert_int_equal(ci.features, PROTO_FEATURE_AUTH);
	assert_int_equal(si.features, PROTO_FEATURE_AUTH);
	assert_memory_equal(ci.id, si.id, 16);
	l = open_link(e, e->cli.s, "echo", &ro);
	assert_non_null(send_cmd(l, CMD_ECHO, "x", 1, &r1));
	WAIT(e, r1.finals == 1);
	assert_int_equal(r1.status, 0);
}

/* A session with AUTH resumes, proving the key again. */
static void
test_auth_resume(void **state)
{
	struct env *e = *state;
	struct rec ro, r1 = { .e = e }, r2 = { .e = e };
	struct proto_session_info ci;
	struct proto_link *l;

	set_key(&e->srv, 0x44);
	set_key(&e->cli, 0x44);
	fast_reconnect(&e->cli);
	start_up(e, 1);
	l = open_link(e, e->cli.s, "slow", &ro);
	assert_non_null(send_cmd(l, CMD_HOLD, NULL, 0, &r1));
	WAIT(e, e->srv.slow.npend == 1);
	relay_cut(e->relay);
	assert_non_null(send_cmd(l, CMD_HOLD, NULL, 0, &r2));
	WAIT(e, e->cli.resumed == 1 && e->srv.resumed == 1);
	WAIT(e, e->srv.slow.npend == 2);
	slow_release(&e->srv.slow, 0);
	WAIT(e, r1.finals == 1 && r2.finals == 1);
	assert_int_equal(r1.status, 0);
	assert_int_equal(r2.status, 0);
	proto_session_info(e->cli.s, &ci);
	assert_int_equal(ci.features, PROTO_FEATURE_AUTH);
	assert_int_equal(ci.resumes, 1);
	assert_int_equal(e->cli.lost + e->srv.lost, 0);
}

/*
 * Wrong key: the client finds the acceptor's proof wrong and ends the
 * session with GOODBYE EACCES. The server's session never came up, so
 * its application is told nothing (UP comes first for accepted
 * sessions); the server's own refusal of a wrong initiator proof is
 * test_auth_raw's.
 */
static void
test_auth_wrong_key(void **state)
{
	struct env *e = *state;

	set_key(&e->srv, 0x11);
	set_key(&e->cli, 0x22);
	start(e, 0);
	WAIT(e, e->cli.lost == 1);
	assert_int_equal(e->cli.lost_error, EACCES);
	assert_null(e->cli.s);
	settle(e, 50 * PROTO_MS);
	assert_int_equal(e->cli.ups, 0);
	assert_int_equal(e->srv.ups, 0);
	assert_int_equal(e->srv.lost, 0);
}

/* The server wants a key, the client has none: HELLO refused. */
static void
test_auth_server_only(void **state)
{
	struct env *e = *state;

	set_key(&e->srv, 0x11);
	start(e, 0);
	WAIT(e, e->cli.lost == 1);
	assert_int_equal(e->cli.lost_error, EACCES);
	assert_non_null(strstr(e->cli.lost_text, "HELLO refused"));
	assert_int_equal(e->cli.ups, 0);
	assert_int_equal(e->srv.ups, 0);
}

/*
 * The client has a key, the server does not grant AUTH: the client
 * ends it with GOODBYE EACCES. The server, which asked for nothing,
 * took the session for up; it hears the GOODBYE as ECONNRESET.
 */
static void
test_auth_client_only(void **state)
{
	struct env *e = *state;

	set_key(&e->cli, 0x11);
	start(e, 0);
	WAIT(e, e->cli.lost == 1);
	assert_int_equal(e->cli.lost_error, EACCES);
	assert_int_equal(e->cli.ups, 0);
	WAIT(e, e->srv.lost == e->srv.ups);
	assert_true(e->srv.ups <= 1);
	if (e->srv.ups == 1) {
		assert_int_equal(e->srv.lost_error, ECONNRESET);
		assert_non_null(strstr(e->srv.lost_text, "STATUS EACCES"));
	}
}

/* HMAC-SHA256(key, role || nonce_i || nonce_a || session), by hand. */
static void
proof(const uint8_t *key, size_t keylen, const char *role,
    const uint8_t *ni, const uint8_t *na, const uint8_t *session,
    uint8_t *out)
{
	assert_int_equal(auth_proof(key, keylen, role, ni, na, session, out),
	    0);
}

/*
 * A session of the server's (with its key) that a raw client opened
 * with nonce ni and proved, then left detached: its id in sid.
 */
static void
raw_proven_detached(struct env *e, const uint8_t *ni, uint8_t *sid)
{
	struct proto_builder *b;
	uint8_t mine[32];
	struct raw *r = raw_open(e);
	int ups = e->srv.ups, detached = e->srv.detached;

	raw_hello_send(r, PROTO_FEATURE_AUTH, NULL, 0, ni);
	assert_int_equal(raw_hello_reply(r), 0);
	proof(e->srv.key, sizeof(e->srv.key), "msgkit initiator", ni,
	    r->nonce_a, r->session, mine);
	b = raw_begin(r, 0, 0, PROTO_CMD_AUTH);
	proto_build_bytes(b, PROTO_ITEM_AUTH, mine, 32);
	raw_send(r);
	WAIT(e, e->srv.ups == ups + 1);
	memcpy(sid, r->session, 16);
	raw_close(r);
	WAIT(e, e->srv.detached == detached + 1);
}

/*
 * The AUTH handshake against the decisions' construction, computed
 * here: the acceptor's proof checks out, a right initiator proof gets
 * AUTH {STATUS 0} and the session up, a wrong one GOODBYE EACCES.
 */
static void
test_auth_raw(void **state)
{
	struct env *e = *state;
	uint8_t ni[32], want[32], mine[32];
	struct proto_builder *b;
	const struct proto_msg *m;
	char text[256];
	struct raw *r;
	int pass, i;

	set_key(&e->srv, 0x33);
	peer_start(e, &e->srv, 1);
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < 32; i++)
			ni[i] = (uint8_t)(i * 7 + pass);
		r = raw_open(e);
		raw_hello_send(r, PROTO_FEATURE_AUTH, NULL, 0, ni);
		assert_int_equal(raw_hello_reply(r), 0);
		assert_int_equal(r->features, PROTO_FEATURE_AUTH);
		assert_true(r->have_nonce_a);
		assert_true(r->have_auth);
		assert_memory_not_equal(r->nonce_a, ni, 32);
		proof(e->srv.key, sizeof(e->srv.key), "msgkit acceptor", ni,
		    r->nonce_a, r->session, want);
		assert_memory_equal(r->auth_a, want, 32);
		proof(e->srv.key, sizeof(e->srv.key), "msgkit initiator", ni,
		    r->nonce_a, r->session, mine);
		if (pass == 1)
			mine[5] ^= 0x80;
		b = raw_begin(r, 0, 0, PROTO_CMD_AUTH);
		proto_build_bytes(b, PROTO_ITEM_AUTH, mine, 32);
		raw_send(r);
		if (pass == 0) {
			m = raw_next(r);
			assert_non_null(m);
			assert_int_equal(m->command,
			    PROTO_CMD_AUTH | PROTO_REPLY_BIT);
			assert_int_equal(status_of(m), 0);
			WAIT(e, e->srv.ups == 1);
			assert_int_equal(raw_link_open(r, 1, "echo", 1), 0);
		} else {
			assert_int_equal(raw_goodbye(r, text, sizeof(text)),
			    EACCES);
			assert_int_equal(e->srv.ups, 1);
		}
		raw_close(r);
	}

	/* AUTH offered without a NONCE, or not offered: refused. */
	for (pass = 0; pass < 2; pass++) {
		r = raw_open(e);
		raw_hello_send(r, pass == 0 ? PROTO_FEATURE_AUTH : 0, NULL, 0,
		    NULL);
		assert_int_equal(raw_hello_reply(r), EACCES);
		raw_wait_eof(r);
		raw_close(r);
	}

	/* A sequenced message while AUTH is due: a protocol error. */
	r = raw_open(e);
	raw_hello_send(r, PROTO_FEATURE_AUTH, NULL, 0, ni);
	assert_int_equal(raw_hello_reply(r), 0);
	raw_cmd(r, 0, 1, PROTO_CMD_ADVERTISE);
	assert_int_equal(raw_goodbye(r, text, sizeof(text)), EPROTO);
	assert_non_null(strstr(text, "handshake"));
	raw_close(r);
	/* Only the first session came up; it waits for a resume. */
	WAIT(e, e->srv.detached == 1);
	assert_int_equal(e->srv.ups, 1);
	assert_int_equal(e->srv.lost, 0);
}

/* The message at off in a relay's recording, validated. */
static void
tap_msg(const struct rbuf *b, size_t off, struct proto_msg *m)
{
	size_t len;

	if (off + PROTO_HDR_LEN > b->len)
		fail_msg("tap: no message at %zu of %zu", off, b->len);
	len = proto_get16(b->p + off + 14);
	if (len < PROTO_HDR_LEN || off + len > b->len)
		fail_msg("tap: a message of %zu at %zu of %zu", len, off,
		    b->len);
	msg_of(m, b->p + off, len);
}

static void
session_item(const struct proto_msg *m, uint8_t *out)
{
	struct proto_item it;
	const uint8_t *p;
	size_t n;

	assert_true(proto_msg_find(m, PROTO_ITEM_SESSION, &it, NULL) > 0);
	assert_int_equal(proto_item_bytes(&it, &p, &n, 16, NULL), 0);
	memcpy(out, p, 16);
}

/*
 * The client's first handshake breaks in the middle of its AUTH: the
 * acceptor has made a session id but never brought the session up, so
 * it keeps nothing. The client, never up, must not try to resume that
 * id (it would hear ESTALE and be lost): its next HELLO asks for a new
 * session with the zero SESSION, and a new session comes up.
 */
static void
test_auth_first_break(void **state)
{
	struct env *e = *state;
	struct proto_session_info ci, si;
	struct proto_builder hb;
	struct proto_msg m;
	uint8_t junk[32], sid[16], offered[16];
	size_t hello_len, auth_len;

	set_key(&e->srv, 0x55);
	set_key(&e->cli, 0x55);
	fast_reconnect(&e->cli);
	/* The client's HELLO and AUTH, the length the engine makes them. */
	memset(junk, 0x77, sizeof(junk));
	proto_builder_init(&hb);
	assert_int_equal(proto_build_begin(&hb, 0, 0, PROTO_CMD_HELLO), 0);
	proto_build_u16(&hb, PROTO_ITEM_VERSION, 1);
	proto_build_string(&hb, PROTO_ITEM_NODE, "client", 6);
	proto_build_bytes(&hb, PROTO_ITEM_SESSION, zero16, 16);
	proto_build_u64(&hb, PROTO_ITEM_RECEIVED, 0);
	proto_build_u64(&hb, PROTO_ITEM_FEATURES, PROTO_FEATURE_AUTH);
	proto_build_u32(&hb, PROTO_ITEM_WINDOW, e->cli.cfg.window);
	proto_build_nest_begin(&hb, PROTO_ITEM_LIMITS, 0);
	proto_build_u32(&hb, PROTO_ITEM_MAX_INFLIGHT, e->cli.cfg.max_inflight);
	proto_build_u32(&hb, PROTO_ITEM_MAX_LINKS, e->cli.cfg.max_links);
	proto_build_nest_end(&hb);
	proto_build_bytes(&hb, PROTO_ITEM_NONCE, junk, 32);
	assert_true(proto_build_end(&hb) > 0);
	hello_len = proto_builder_len(&hb);
	assert_int_equal(proto_build_begin(&hb, 0, 0, PROTO_CMD_AUTH), 0);
	proto_build_bytes(&hb, PROTO_ITEM_AUTH, junk, 32);
	assert_true(proto_build_end(&hb) > 0);
	auth_len = proto_builder_len(&hb) - hello_len;
	proto_builder_free(&hb);

	start(e, 1);
	e->relay->tap = 1;
	/* Toward the server: the HELLO, half the AUTH, then the cut. */
	e->relay->budget[1] = hello_len + auth_len / 2;
	WAIT(e, e->cli.ups == 1 || e->cli.lost == 1);
	if (e->cli.lost)
		fail_msg("client lost (error %d): %s", e->cli.lost_error,
		    e->cli.lost_text);
	WAIT(e, e->srv.ups == 1);
	assert_int_equal(e->relay->cuts, 1);
	assert_int_equal(e->relay->accepted, 2);
	/* Never up before: no DETACHED, only UP. */
	assert_int_equal(e->cli.nev, 1);
	assert_int_equal(e->srv.nev, 1);

	/* Both HELLOs ask for a new session: the recording shows them. */
	tap_msg(&e->relay->tapped[1], 0, &m);
	assert_int_equal(m.command, PROTO_CMD_HELLO);
	assert_int_equal(proto_align8(m.length), hello_len);
	tap_msg(&e->relay->tapped[1], hello_len, &m);
	assert_int_equal(m.command, PROTO_CMD_AUTH);
	tap_msg(&e->relay->tapped[1], hello_len + auth_len / 2, &m);
	assert_int_equal(m.command, PROTO_CMD_HELLO);
	session_item(&m, sid);
	assert_memory_equal(sid, zero16, 16);
	/* The id the broken handshake offered is not the session's. */
	tap_msg(&e->relay->tapped[0], 0, &m);
	assert_int_equal(m.command, PROTO_CMD_HELLO | PROTO_REPLY_BIT);
	session_item(&m, offered);
	proto_session_info(e->cli.s, &ci);
	proto_session_info(e->srv.s, &si);
	assert_memory_equal(ci.id, si.id, 16);
	assert_memory_not_equal(ci.id, offered, 16);
	assert_int_equal(ci.features, PROTO_FEATURE_AUTH);
	assert_int_equal(e->cli.lost + e->srv.lost, 0);
}

/*
 * A refused HELLO: the initiator's application hears the acceptor's
 * STATUS as the error and its ERRTEXT in the text, whatever they are.
 */
static void
test_hello_refused_text(void **state)
{
	struct env *e = *state;
	struct raw *r;
	int lfd;

	/* The engine's own refusal: a key required, none offered. */
	set_key(&e->srv, 0x11);
	start(e, 0);
	WAIT(e, e->cli.lost == 1);
	assert_int_equal(e->cli.lost_error, EACCES);
	if (strstr(e->cli.lost_text, "authentication required") == NULL)
		fail_msg("client lost: \"%s\"", e->cli.lost_text);
	proto_peer_free(e->cli.peer);
	proto_peer_free(e->srv.peer);
	e->cli.peer = e->srv.peer = NULL;

	/* An acceptor with a reason of its own, where the server was. */
	lfd = raw_listen(e);
	connect_to_raw(e);
	r = raw_accept(e, lfd);
	raw_serve_hello(r, EBUSY, "come back after the backup");
	WAIT(e, e->cli.lost == 2);
	assert_int_equal(e->cli.lost_error, EBUSY);
	if (strstr(e->cli.lost_text, "come back after the backup") == NULL)
		fail_msg("client lost: \"%s\"", e->cli.lost_text);
	assert_int_equal(e->cli.ups, 0);
	raw_close(r);
	close(lfd);
}

/*
 * A resume with AUTH names a detached session in its HELLO, and the
 * AUTH comes a round later. If the session ends meanwhile (here its
 * time-out; proto_session_close would do the same) it is freed at the
 * end of that round: the AUTH must not resume into freed memory (it
 * did, under SAN=1) but fail, and the session stays lost.
 */
static void
test_auth_resume_expired(void **state)
{
	struct env *e = *state;
	uint8_t ni[32], mine[32], sid[16];
	struct proto_builder *b;
	const struct proto_msg *m;
	struct raw *r2;

	set_key(&e->srv, 0x66);
	e->srv.cfg.session_timeout_ns = 300 * PROTO_MS;
	peer_start(e, &e->srv, 1);
	memset(ni, 0x21, sizeof(ni));
	raw_proven_detached(e, ni, sid);

	/* The resume's HELLO is answered; its AUTH waits for the end. */
	memset(ni, 0x42, sizeof(ni));
	r2 = raw_open(e);
	raw_hello_send(r2, PROTO_FEATURE_AUTH, sid, 0, ni);
	assert_int_equal(raw_hello_reply(r2), 0);
	WAIT(e, e->srv.lost == 1);
	assert_int_equal(e->srv.lost_error, ETIMEDOUT);
	settle(e, 20 * PROTO_MS);	/* the reaper frees it */
	proof(e->srv.key, sizeof(e->srv.key), "msgkit initiator", ni,
	    r2->nonce_a, r2->session, mine);
	b = raw_begin(r2, 0, 0, PROTO_CMD_AUTH);
	proto_build_bytes(b, PROTO_ITEM_AUTH, mine, 32);
	raw_send(r2);
	/* Whatever it says first (an AUTH reply, a GOODBYE), it ends. */
	while ((m = raw_next(r2)) != NULL)
		assert_true(m->command == (PROTO_CMD_AUTH | PROTO_REPLY_BIT) ||
		    m->command == PROTO_CMD_GOODBYE);
	settle(e, 20 * PROTO_MS);
	assert_int_equal(e->srv.resumed, 0);
	assert_int_equal(e->srv.lost, 1);
	assert_int_equal(proto_peer_sessions(e->srv.peer), 0);
	raw_close(r2);
}

/* --- echo ----------------------------------------------------------------- */

static void
echo_items(struct proto_builder *b)
{
	static const uint64_t ids[2] = { 5, 7 };
	uint8_t bytes[3] = { 1, 2, 3 };

	proto_build_u32(b, PROTO_ITEM_FLAGS, 0xdeadbeef);
	proto_build_string(b, PROTO_ITEM_NAME, "h\xc3\xa9llo", 6);
	proto_build_bytes(b, PROTO_ITEM_DATA, bytes, sizeof(bytes));
	proto_build_nest_begin(b, PROTO_ITEM_ATTR, 0);
	proto_build_u64(b, PROTO_ITEM_SIZE, 12345);
	proto_build_u32(b, PROTO_ITEM_MODE, 0644);
	proto_build_nest_end(b);
	proto_build_linkids(b, 0x1ff0, ids, 2);	/* an unknown type */
	proto_build_raw(b, 0x1ff1, "odd", 3);
}

static void
items_fn(struct proto_builder *b, void *arg)
{
	(void)arg;
	echo_items(b);
}

/* Items echoed byte for byte, then STATUS 0; ENOSYS outside the range. */
static void
test_echo(void **state)
{
	struct env *e = *state;
	static uint8_t big[65515];
	struct proto_builder want, *b;
	struct rec ro, r[6];
	struct proto_link *l;
	struct proto_msg m, w;
	struct proto_item it;
	size_t items;
	int i, len;

	memset(r, 0, sizeof(r));
	for (i = 0; i < 6; i++)
		r[i].e = e;
	start_up(e, 0);
	l = open_link(e, e->cli.s, "echo", &ro);

	proto_builder_init(&want);
	assert_int_equal(proto_build_begin(&want, 0, 0, CMD_ECHO), 0);
	echo_items(&want);
	len = proto_build_end(&want);
	assert_true(len > 0);
	msg_of(&w, proto_builder_data(&want), (size_t)len);

	b = proto_cmd_begin(l, 0x7abc);
	assert_non_null(b);
	echo_items(b);
	r[0].keep = 1;
	assert_non_null(proto_cmd_send(l, on_reply, &r[0]));
	/* Outside 0x7000-0x7fff, and at both ends of it. */
	assert_non_null(send_cmd(l, CMD_OTHER, "x", 1, &r[1]));
	assert_non_null(send_cmd(l, 0x6fff, NULL, 0, &r[2]));
	r[3].keep = 1;
	assert_non_null(send_cmd(l, 0x7fff, NULL, 0, &r[3]));
	WAIT(e, r[3].finals == 1);

	msg_of(&m, r[0].copy, r[0].len);
	assert_int_equal(m.command, 0x7abc | PROTO_REPLY_BIT);
	assert_int_equal(m.linkid, proto_link_id(l));
	items = proto_align8(w.length) - PROTO_HDR_LEN;
	assert_int_equal(m.length, PROTO_HDR_LEN + items + 8);
	assert_memory_equal(m.bytes + PROTO_HDR_LEN, w.bytes + PROTO_HDR_LEN,
	    w.length - PROTO_HDR_LEN);
	assert_true(proto_msg_find(&m, PROTO_ITEM_STATUS, &it, NULL) > 0);
	assert_int_equal(it.offset, PROTO_HDR_LEN + items);
	assert_int_equal(r[0].status, 0);
	assert_int_equal(r[1].status, ENOSYS);
	assert_int_equal(r[2].status, ENOSYS);
	msg_of(&m, r[3].copy, r[3].len);
	assert_int_equal(m.length, PROTO_HDR_LEN + 8);
	assert_int_equal(r[3].status, 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(r[i].finals, 1);

	/*
	 * The largest command there is: its echo cannot fit in a message.
	 * It must still get one final reply, not silence.
	 */
	assert_non_null(send_cmd(l, CMD_ECHO, big, sizeof(big), &r[4]));
	assert_non_null(send_cmd(l, CMD_ECHO, "after", 5, &r[5]));
	WAIT(e, r[5].finals == 1);
	WAIT(e, r[4].finals == 1);
	assert_int_equal(r[4].status, EMSGSIZE);
	assert_int_equal(r[5].status, 0);

	/* Still alive, one transport all along. */
	assert_non_null(e->cli.s);
	assert_int_equal(e->cli.detached, 0);
	assert_int_equal(proto_call_wait(l, CMD_ECHO, items_fn, NULL, NULL),
	    0);
	free(r[0].copy);
	free(r[3].copy);
	proto_builder_free(&want);
}

/*
 * Echoed, a MORE item would turn the one reply into a part and the
 * command would never end: echo answers it EINVAL, one final reply.
 */
static void
test_echo_more(void **state)
{
	struct env *e = *state;
	struct rec ro, r1, r2;
	struct proto_builder *b;
	struct proto_link *l;
	struct proto_msg m;
	char text[128];

	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	r1.e = r2.e = e;
	r1.keep = 1;
	start_up(e, 0);
	l = open_link(e, e->cli.s, "echo", &ro);
	b = proto_cmd_begin(l, CMD_ECHO);
	assert_non_null(b);
	proto_build_string(b, PROTO_ITEM_NAME, "more", 4);
	proto_build_empty(b, PROTO_ITEM_MORE);
	assert_non_null(proto_cmd_send(l, on_reply, &r1));
	/* One link: its replies come in order, so r1 is done by r2. */
	assert_non_null(send_cmd(l, CMD_ECHO, "next", 4, &r2));
	WAIT(e, r2.finals == 1);
	assert_int_equal(r1.parts, 0);
	assert_int_equal(r1.finals, 1);
	assert_int_equal(r1.status, EINVAL);
	assert_true(r1.order < r2.order);
	assert_non_null(r1.copy);
	msg_of(&m, r1.copy, r1.len);
	assert_false(has_item(&m, PROTO_ITEM_MORE));
	assert_false(has_item(&m, PROTO_ITEM_NAME));
	assert_true(errtext_of(&m, text, sizeof(text))[0] != '\0');
	assert_int_equal(r2.status, 0);
	assert_int_equal(r2.parts, 0);
	free(r1.copy);
}

/* --- links ---------------------------------------------------------------- */

/* LINK_OPEN refusals through the API: ENOENT, the service's, EMFILE. */
static void
test_links_open(void **state)
{
	struct env *e = *state;
	struct rec ro[6], rc = { .e = e }, rp = { .e = e }, rx = { .e = e };
	struct proto_link *l[6];
	int i;

	e->srv.cfg.max_links = 2;
	start_up(e, 0);
	l[0] = open_link(e, e->cli.s, "no such service", &ro[0]);
	/* A command pipelined on a link that will not exist: EBADF. */
	assert_non_null(send_cmd(l[0], CMD_ECHO, "x", 1, &rp));
	l[1] = open_link(e, e->cli.s, "refuse", &ro[1]);
	WAIT(e, rp.finals == 1);
	assert_int_equal(ro[0].status, ENOENT);
	assert_int_equal(ro[1].status, EPERM);
	assert_int_equal(rp.status, EBADF);
	assert_true(ro[0].order < rp.order);

	/* max_links 2: the third open is EMFILE, until one is closed. */
	for (i = 2; i < 5; i++)
		l[i] = open_link(e, e->cli.s, "echo", &ro[i]);
	WAIT(e, ro[4].finals == 1);
	assert_int_equal(ro[2].status, 0);
	assert_int_equal(ro[3].status, 0);
	assert_int_equal(ro[4].status, EMFILE);
	assert_int_equal(proto_link_close(l[2], on_reply, &rc), 0);
	/* Closed here: no more commands on it. */
	assert_null(proto_cmd_begin(l[2], CMD_ECHO));
	assert_int_equal(errno, ENOTCONN);
	assert_int_equal(proto_link_close(l[2], on_reply, &rc), -1);
	WAIT(e, rc.finals == 1);
	assert_int_equal(rc.status, 0);
	l[5] = open_link(e, e->cli.s, "echo", &ro[5]);
	assert_non_null(send_cmd(l[5], CMD_ECHO, "y", 1, &rx));
	WAIT(e, rx.finals == 1);
	assert_int_equal(ro[5].status, 0);
	assert_int_equal(rx.status, 0);
	assert_int_equal(e->srv.slow.opens, 0);
}

/* LINK_OPEN, commands and LINK_CLOSE as the API would never send them. */
static void
test_links_raw(void **state)
{
	struct env *e = *state;
	struct proto_builder *b;
	char text[256];
	struct raw *r;
	uint64_t id;

	peer_start(e, &e->srv, 1);
	r = raw_session(e, 0);
	/* NEWLINK from the acceptor's half, or 0: EINVAL. */
	assert_int_equal(raw_link_open(r, LINKID_ACCEPTOR | 5, "echo", 1),
	    EINVAL);
	assert_int_equal(raw_link_open(r, 0, "echo", 2), EINVAL);
	assert_int_equal(raw_link_open(r, 5, "echo", 3), 0);
	/* In use: EEXIST. */
	assert_int_equal(raw_link_open(r, 5, "echo", 4), EEXIST);
	assert_int_equal(raw_link_open(r, 5, "nope", 5), EEXIST);
	/* Without SERVICE, or NEWLINK holding two ids: EINVAL. */
	b = raw_begin(r, 0, 6, PROTO_CMD_LINK_OPEN);
	id = 6;
	proto_build_linkids(b, PROTO_ITEM_NEWLINK, &id, 1);
	raw_send(r);
	assert_int_equal(raw_expect(r, 0, 6, PROTO_CMD_LINK_OPEN), EINVAL);
	/* ADVERTISE is answered; anything else on link 0 is ENOSYS. */
	b = raw_begin(r, 0, 7, PROTO_CMD_ADVERTISE);
	proto_build_string(b, PROTO_ITEM_SERVICE, "mine", 4);
	raw_send(r);
	assert_int_equal(raw_expect(r, 0, 7, PROTO_CMD_ADVERTISE), 0);
	raw_cmd(r, 0, 8, CMD_ECHO);
	assert_int_equal(raw_expect(r, 0, 8, CMD_ECHO), ENOSYS);

	/* A command on a link that does not exist: EBADF. */
	raw_cmd(r, 77, 9, CMD_ECHO);
	assert_int_equal(raw_expect(r, 77, 9, CMD_ECHO), EBADF);
	raw_cmd(r, LINKID_ACCEPTOR | 1, 10, CMD_ECHO);
	assert_int_equal(raw_expect(r, LINKID_ACCEPTOR | 1, 10, CMD_ECHO),
	    EBADF);

	/* LINK_CLOSE: COUNT beyond the references, or 0: EINVAL. */
	raw_cmd_u32(r, 5, 11, PROTO_CMD_LINK_CLOSE, PROTO_ITEM_COUNT, 2);
	assert_int_equal(raw_expect(r, 5, 11, PROTO_CMD_LINK_CLOSE), EINVAL);
	raw_cmd_u32(r, 5, 12, PROTO_CMD_LINK_CLOSE, PROTO_ITEM_COUNT, 0);
	assert_int_equal(raw_expect(r, 5, 12, PROTO_CMD_LINK_CLOSE), EINVAL);
	raw_cmd(r, 5, 13, CMD_ECHO);
	assert_int_equal(raw_expect(r, 5, 13, CMD_ECHO), 0);
	/* The default COUNT is 1: the link goes. */
	raw_cmd(r, 5, 14, PROTO_CMD_LINK_CLOSE);
	assert_int_equal(raw_expect(r, 5, 14, PROTO_CMD_LINK_CLOSE), 0);
	raw_cmd(r, 5, 15, CMD_ECHO);
	assert_int_equal(raw_expect(r, 5, 15, CMD_ECHO), EBADF);
	raw_cmd(r, 5, 16, PROTO_CMD_LINK_CLOSE);
	assert_int_equal(raw_expect(r, 5, 16, PROTO_CMD_LINK_CLOSE), EBADF);

	/* An msgid reused while outstanding on a link: GOODBYE EPROTO. */
	assert_int_equal(raw_link_open(r, 8, "slow", 17), 0);
	raw_cmd(r, 8, 100, CMD_HOLD);
	WAIT(e, e->srv.slow.npend == 1);
	raw_cmd(r, 8, 100, CMD_HOLD);
	assert_int_equal(raw_goodbye(r, text, sizeof(text)), EPROTO);
	assert_non_null(strstr(text, "msgid 100"));
	WAIT(e, e->srv.lost == 1);
	assert_int_equal(e->srv.lost_error, EPROTO);
	/* The slow service heard its link close and finished the request. */
	assert_int_equal(e->srv.slow.closes, 1);
	assert_int_equal(e->srv.slow.npend, 0);
	raw_close(r);
}

/* LINK_CLOSE with a COUNT of 0, or too high: EINVAL, each saying why. */
static void
test_link_close_count(void **state)
{
	struct env *e = *state;
	char text[256];
	struct raw *r;

	peer_start(e, &e->srv, 1);
	r = raw_session(e, 0);
	assert_int_equal(raw_link_open(r, 5, "echo", 1), 0);
	raw_cmd_u32(r, 5, 2, PROTO_CMD_LINK_CLOSE, PROTO_ITEM_COUNT, 0);
	assert_int_equal(raw_expect_text(r, 5, 2, PROTO_CMD_LINK_CLOSE, text,
	    sizeof(text)), EINVAL);
	assert_string_equal(text, "COUNT must be 1 or more");
	raw_cmd_u32(r, 5, 3, PROTO_CMD_LINK_CLOSE, PROTO_ITEM_COUNT, 2);
	assert_int_equal(raw_expect_text(r, 5, 3, PROTO_CMD_LINK_CLOSE, text,
	    sizeof(text)), EINVAL);
	assert_string_equal(text, "COUNT exceeds the references held");
	/* Neither closed anything. */
	raw_cmd(r, 5, 4, CMD_ECHO);
	assert_int_equal(raw_expect(r, 5, 4, CMD_ECHO), 0);
	raw_cmd_u32(r, 5, 5, PROTO_CMD_LINK_CLOSE, PROTO_ITEM_COUNT, 1);
	assert_int_equal(raw_expect(r, 5, 5, PROTO_CMD_LINK_CLOSE), 0);
	raw_close(r);
}

/*
 * LINK_CLOSE of a link with commands outstanding: each gets ECANCELED,
 * then the LINK_CLOSE reply comes. The service heard a cancel for
 * each, ignored it (CANCEL is advisory) and, told that the link closed,
 * finished its requests as proto_session.h asks: those late replies
 * are dropped, the requests freed (under SAN=1 any use after free of a
 * request is a report).
 */
static void
link_close_outstanding(struct env *e, int answer_cancel)
{
	struct rec ro, rc = { .e = e }, r[3];
	struct proto_link *l;
	int i;

	memset(r, 0, sizeof(r));
	e->srv.slow.answer_cancel = answer_cancel;
	start_up(e, 0);
	l = open_link(e, e->cli.s, "slow", &ro);
	for (i = 0; i < 3; i++) {
		r[i].e = e;
		assert_non_null(send_cmd(l, CMD_HOLD, "z", 1, &r[i]));
	}
	WAIT(e, e->srv.slow.npend == 3);
	assert_int_equal(proto_link_close(l, on_reply, &rc), 0);
	WAIT(e, rc.finals == 1);
	assert_int_equal(rc.status, 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(r[i].finals, 1);
		assert_int_equal(r[i].status, ECANCELED);
		assert_true(r[i].with_msg);
		assert_true(r[i].order < rc.order);
	}
	assert_int_equal(e->srv.slow.cancels, 3);
	assert_int_equal(e->srv.slow.closes, 1);
	assert_int_equal(e->srv.slow.npend, 0);
	assert_int_equal(e->srv.slow.late, answer_cancel ? 0 : 3);
	/* Nothing more comes for them. */
	settle(e, 50 * PROTO_MS);
	for (i = 0; i < 3; i++)
		assert_int_equal(r[i].finals, 1);
	assert_int_equal(rc.finals, 1);
	assert_non_null(e->cli.s);
}

static void
test_link_close_outstanding(void **state)
{
	link_close_outstanding(*state, 0);
}

static void
test_link_close_outstanding_cancel(void **state)
{
	link_close_outstanding(*state, 1);
}

/* The position of the first journal entry matching, or -1. */
static long
jfind(const struct side *sd, char dir, uint32_t msgid, uint16_t command)
{
	size_t i;

	for (i = 0; i < sd->nj; i++)
		if (sd->j[i].dir == dir && sd->j[i].msgid == msgid &&
		    sd->j[i].command == command)
			return (long)i;
	return -1;
}

static int
jcount(const struct side *sd, char dir, uint16_t command)
{
	size_t i;
	int n = 0;

	for (i = 0; i < sd->nj; i++)
		if (sd->j[i].dir == dir && sd->j[i].command == command)
			n++;
	return n;
}

/* The msgid of the last CANCEL the side sent. */
static uint32_t
last_cancel(const struct side *sd)
{
	size_t i;

	for (i = sd->nj; i > 0; i--)
		if (sd->j[i - 1].dir == 'S' &&
		    sd->j[i - 1].command == PROTO_CMD_CANCEL)
			return sd->j[i - 1].msgid;
	fail_msg("no CANCEL sent");
	return 0;
}

/*
 * CANCEL through the API: the target gets one final reply (ECANCELED
 * when the service takes the cancel, its real result when it does not),
 * and the CANCEL's own reply comes after it.
 */
static void
test_cancel(void **state)
{
	struct env *e = *state;
	struct rec ro, r1 = { .e = e }, r2 = { .e = e };
	struct proto_call *c;
	struct proto_link *l;
	uint32_t cm;

	start_up(e, 0);
	l = open_link(e, e->cli.s, "slow", &ro);

	/* The service answers the cancel: ECANCELED. */
	e->srv.slow.answer_cancel = 1;
	c = send_cmd(l, CMD_HOLD, NULL, 0, &r1);
	assert_non_null(c);
	WAIT(e, e->srv.slow.npend == 1);
	assert_int_equal(proto_call_cancel(c), 0);
	WAIT(e, jcount(&e->cli, 'S', PROTO_CMD_CANCEL) == 1);
	cm = last_cancel(&e->cli);
	WAIT(e, jfind(&e->cli, 'R', cm, PROTO_CMD_CANCEL | PROTO_REPLY_BIT) >=
	    0);
	assert_int_equal(r1.finals, 1);
	assert_int_equal(r1.status, ECANCELED);
	assert_true(jfind(&e->cli, 'R', r1.msgid, CMD_HOLD | PROTO_REPLY_BIT) <
	    jfind(&e->cli, 'R', cm, PROTO_CMD_CANCEL | PROTO_REPLY_BIT));

	/* It does not: the real result, then the CANCEL's reply. */
	e->srv.slow.answer_cancel = 0;
	c = send_cmd(l, CMD_HOLD, NULL, 0, &r2);
	assert_non_null(c);
	WAIT(e, e->srv.slow.npend == 1);
	assert_int_equal(proto_call_cancel(c), 0);
	assert_int_equal(proto_call_cancel(c), 0);	/* may be repeated */
	WAIT(e, jcount(&e->cli, 'S', PROTO_CMD_CANCEL) == 3);
	cm = last_cancel(&e->cli);
	WAIT(e, e->srv.slow.cancels == 2);
	settle(e, 50 * PROTO_MS);
	assert_int_equal(r2.finals, 0);
	assert_int_equal(jcount(&e->cli, 'R', PROTO_CMD_CANCEL |
	    PROTO_REPLY_BIT), 1);
	assert_int_equal(slow_release_one(&e->srv.slow, 0), 0);
	WAIT(e, jcount(&e->cli, 'R', PROTO_CMD_CANCEL | PROTO_REPLY_BIT) == 3);
	assert_int_equal(r2.finals, 1);
	assert_int_equal(r2.status, 0);
	assert_true(jfind(&e->cli, 'R', r2.msgid, CMD_HOLD | PROTO_REPLY_BIT) <
	    jfind(&e->cli, 'R', cm, PROTO_CMD_CANCEL | PROTO_REPLY_BIT));
	assert_true(jfind(&e->cli, 'R', r2.msgid, CMD_HOLD | PROTO_REPLY_BIT) <
	    jfind(&e->cli, 'R', cm - 1, PROTO_CMD_CANCEL | PROTO_REPLY_BIT));
	/* The service heard of the second target's cancel once. */
	assert_int_equal(e->srv.slow.cancels, 2);
	settle(e, 50 * PROTO_MS);
	assert_int_equal(r1.finals, 1);
	assert_int_equal(r2.finals, 1);
}

/* CANCEL as the API cannot send it: ESRCH, EINVAL, many at once. */
static void
test_cancel_raw(void **state)
{
	struct env *e = *state;
	const struct proto_msg *m;
	struct raw *r;
	int got11 = 0, got12 = 0, i;

	peer_start(e, &e->srv, 1);
	r = raw_session(e, 0);
	assert_int_equal(raw_link_open(r, 3, "slow", 1), 0);
	/* Nothing outstanding under that msgid: ESRCH. */
	raw_cmd_u32(r, 3, 2, PROTO_CMD_CANCEL, PROTO_ITEM_TARGET, 999);
	assert_int_equal(raw_expect(r, 3, 2, PROTO_CMD_CANCEL), ESRCH);
	/* Without TARGET: EINVAL. */
	raw_cmd(r, 3, 3, PROTO_CMD_CANCEL);
	assert_int_equal(raw_expect(r, 3, 3, PROTO_CMD_CANCEL), EINVAL);

	raw_cmd(r, 3, 10, CMD_HOLD);
	WAIT(e, e->srv.slow.npend == 1);
	/* On another link than the target's: not outstanding there. */
	assert_int_equal(raw_link_open(r, 4, "echo", 4), 0);
	raw_cmd_u32(r, 4, 5, PROTO_CMD_CANCEL, PROTO_ITEM_TARGET, 10);
	assert_int_equal(raw_expect(r, 4, 5, PROTO_CMD_CANCEL), ESRCH);
	/* Two CANCELs of 10, held; one of a CANCEL: EINVAL at once. */
	raw_cmd_u32(r, 3, 11, PROTO_CMD_CANCEL, PROTO_ITEM_TARGET, 10);
	raw_cmd_u32(r, 3, 12, PROTO_CMD_CANCEL, PROTO_ITEM_TARGET, 10);
	raw_cmd_u32(r, 3, 13, PROTO_CMD_CANCEL, PROTO_ITEM_TARGET, 11);
	assert_int_equal(raw_expect(r, 3, 13, PROTO_CMD_CANCEL), EINVAL);
	raw_quiet(r, 50 * PROTO_MS);
	assert_int_equal(e->srv.slow.cancels, 1);
	/* The target's one final reply, then both CANCELs' replies. */
	assert_int_equal(slow_release_one(&e->srv.slow, 0), 0);
	assert_int_equal(raw_expect(r, 3, 10, CMD_HOLD), 0);
	for (i = 0; i < 2; i++) {
		m = raw_next(r);
		assert_non_null(m);
		assert_int_equal(m->command,
		    PROTO_CMD_CANCEL | PROTO_REPLY_BIT);
		assert_int_equal(status_of(m), 0);
		got11 += m->msgid == 11;
		got12 += m->msgid == 12;
	}
	assert_int_equal(got11, 1);
	assert_int_equal(got12, 1);
	/* The target is finished now: ESRCH. */
	raw_cmd_u32(r, 3, 14, PROTO_CMD_CANCEL, PROTO_ITEM_TARGET, 10);
	assert_int_equal(raw_expect(r, 3, 14, PROTO_CMD_CANCEL), ESRCH);
	raw_quiet(r, 30 * PROTO_MS);

	/* A service that takes the cancel: ECANCELED, then STATUS 0. */
	e->srv.slow.answer_cancel = 1;
	raw_cmd(r, 3, 20, CMD_HOLD);
	WAIT(e, e->srv.slow.npend == 1);
	raw_cmd_u32(r, 3, 21, PROTO_CMD_CANCEL, PROTO_ITEM_TARGET, 20);
	assert_int_equal(raw_expect(r, 3, 20, CMD_HOLD), ECANCELED);
	assert_int_equal(raw_expect(r, 3, 21, PROTO_CMD_CANCEL), 0);
	raw_cmd_u32(r, 3, 22, PROTO_CMD_CANCEL, PROTO_ITEM_TARGET, 20);
	assert_int_equal(raw_expect(r, 3, 22, PROTO_CMD_CANCEL), ESRCH);

	/* CANCELs held when the link closes: answered after ECANCELED. */
	e->srv.slow.answer_cancel = 0;
	raw_cmd(r, 3, 30, CMD_HOLD);
	raw_cmd_u32(r, 3, 31, PROTO_CMD_CANCEL, PROTO_ITEM_TARGET, 30);
	raw_cmd(r, 3, 32, PROTO_CMD_LINK_CLOSE);
	assert_int_equal(raw_expect(r, 3, 30, CMD_HOLD), ECANCELED);
	assert_int_equal(raw_expect(r, 3, 31, PROTO_CMD_CANCEL), 0);
	assert_int_equal(raw_expect(r, 3, 32, PROTO_CMD_LINK_CLOSE), 0);
	raw_quiet(r, 30 * PROTO_MS);
	assert_int_equal(e->srv.slow.npend, 0);
	assert_int_equal(e->srv.slow.late, 1);
	raw_close(r);
}

/*
 * Several CANCELs of one command are answered after its final reply,
 * in the order they came (their msgids), whatever else is held: a peer
 * may rely on the last CANCEL's reply being the last word.
 */
static void
test_cancel_order(void **state)
{
	static const struct {
		uint32_t msgid, target;
	} cancels[] = {
		{ 11, 10 }, { 21, 20 }, { 12, 10 }, { 13, 10 }, { 22, 20 },
		{ 14, 10 }, { 23, 20 },
	};
	struct env *e = *state;
	struct raw *r;
	uint32_t id;
	size_t i;

	peer_start(e, &e->srv, 1);
	r = raw_session(e, 0);
	assert_int_equal(raw_link_open(r, 3, "slow", 1), 0);
	raw_cmd(r, 3, 10, CMD_HOLD);
	raw_cmd(r, 3, 20, CMD_HOLD);
	WAIT(e, e->srv.slow.npend == 2);
	for (i = 0; i < sizeof(cancels) / sizeof(cancels[0]); i++)
		raw_cmd_u32(r, 3, cancels[i].msgid, PROTO_CMD_CANCEL,
		    PROTO_ITEM_TARGET, cancels[i].target);
	raw_quiet(r, 50 * PROTO_MS);
	assert_int_equal(e->srv.slow.cancels, 2);	/* once per target */
	/* 10 (the oldest held) first: its reply, then 11, 12, 13, 14. */
	assert_int_equal(slow_release_one(&e->srv.slow, 0), 0);
	assert_int_equal(raw_expect(r, 3, 10, CMD_HOLD), 0);
	for (id = 11; id <= 14; id++)
		assert_int_equal(raw_expect(r, 3, id, PROTO_CMD_CANCEL), 0);
	raw_quiet(r, 30 * PROTO_MS);
	assert_int_equal(slow_release_one(&e->srv.slow, 0), 0);
	assert_int_equal(raw_expect(r, 3, 20, CMD_HOLD), 0);
	for (id = 21; id <= 23; id++)
		assert_int_equal(raw_expect(r, 3, id, PROTO_CMD_CANCEL), 0);
	raw_quiet(r, 30 * PROTO_MS);
	assert_int_equal(e->srv.lost, 0);
	raw_close(r);
}

/* --- limits --------------------------------------------------------------- */

/* max_inflight: the excess gets EAGAIN; the session goes on. */
static void
test_limits_inflight(void **state)
{
	struct env *e = *state;
	struct rec ro, r[7];
	struct proto_link *l;
	int i, again = 0, ok = 0;

	memset(r, 0, sizeof(r));
	e->srv.cfg.max_inflight = 4;
	start_up(e, 0);
	l = open_link(e, e->cli.s, "slow", &ro);
	for (i = 0; i < 6; i++) {
		r[i].e = e;
		assert_non_null(send_cmd(l, CMD_HOLD, NULL, 0, &r[i]));
	}
	WAIT(e, r[4].finals == 1 && r[5].finals == 1);
	assert_int_equal(r[4].status, EAGAIN);
	assert_int_equal(r[5].status, EAGAIN);
	assert_int_equal(e->srv.slow.npend, 4);
	slow_release(&e->srv.slow, 0);
	WAIT(e, r[3].finals == 1);
	for (i = 0; i < 6; i++) {
		assert_int_equal(r[i].finals, 1);
		again += r[i].status == EAGAIN;
		ok += r[i].status == 0;
	}
	assert_int_equal(again, 2);
	assert_int_equal(ok, 4);
	r[6].e = e;
	assert_non_null(send_cmd(l, CMD_HOLD, NULL, 0, &r[6]));
	WAIT(e, e->srv.slow.npend == 1);
	slow_release(&e->srv.slow, 0);
	WAIT(e, r[6].finals == 1);
	assert_int_equal(r[6].status, 0);
	assert_int_equal(e->cli.detached, 0);
}

/*
 * max_memory: a raw client sends a burst of large echo commands and
 * reads nothing; once what the session holds (each reply's 8.3 KB
 * chunk, and the command's while it is served) would pass 7/8 of the
 * limit, 28 KiB, the rest get EAGAIN: three are answered. Each gets one
 * reply; the session goes on.
 */
static void
test_limits_memory(void **state)
{
	struct env *e = *state;
	static uint8_t data[8000];
	const struct proto_msg *m;
	struct proto_builder *b;
	struct raw *r;
	int seen[17] = { 0 }, i, again = 0, ok = 0;

	e->srv.cfg.max_memory = 32768;
	e->srv.cfg.window = 65544;
	peer_start(e, &e->srv, 1);
	r = raw_session(e, 0);
	assert_int_equal(raw_link_open(r, 1, "echo", 1), 0);
	for (i = 1; i <= 16; i++) {
		b = raw_begin(r, 1, 100 + (uint32_t)i, CMD_ECHO);
		proto_build_bytes(b, PROTO_ITEM_DATA, data, sizeof(data));
		assert_true(proto_build_end(b) > 0);
	}
	raw_flush(r);
	for (i = 0; i < 16; i++) {
		m = raw_next(r);
		assert_non_null(m);
		assert_int_equal(m->command, CMD_ECHO | PROTO_REPLY_BIT);
		assert_true(m->msgid > 100 && m->msgid <= 116);
		seen[m->msgid - 100]++;
		if (status_of(m) == EAGAIN)
			again++;
		else if (status_of(m) == 0)
			ok++;
		raw_ack(r);
	}
	for (i = 1; i <= 16; i++)
		assert_int_equal(seen[i], 1);
	assert_true(again > 0);
	assert_true(ok >= 3);
	assert_int_equal(again + ok, 16);
	raw_quiet(r, 30 * PROTO_MS);
	b = raw_begin(r, 1, 200, CMD_ECHO);
	proto_build_bytes(b, PROTO_ITEM_DATA, data, sizeof(data));
	raw_send(r);
	assert_int_equal(raw_expect(r, 1, 200, CMD_ECHO), 0);
	raw_close(r);
}

/* The RECEIVED of the next ACK that comes, or -1 if none in ns. */
static long
raw_next_ack(struct raw *r, uint64_t ns)
{
	uint64_t until = mono() + ns;
	const struct proto_msg *m;
	struct proto_item it;
	uint64_t v;

	while (mono() < until) {
		step(r->e);
		raw_pump(r);
		while (r->next < r->n) {
			m = &r->msgs[r->next++].m;
			if (m->command != PROTO_CMD_ACK)
				continue;
			assert_true(proto_msg_find(m, PROTO_ITEM_RECEIVED, &it,
			    NULL) > 0);
			assert_int_equal(proto_item_u64(&it, &v, NULL), 0);
			return (long)v;
		}
	}
	return -1;
}

/*
 * The window: the server holds at most its WINDOW of unacknowledged
 * bytes, and goes on when ACKs free room. ACKs: once a quarter of the
 * peer's window has come (at once), else after the ACK delay.
 */
static void
test_window_ack(void **state)
{
	struct env *e = *state;
	static uint8_t data[8000];
	struct proto_session_info si;
	const struct proto_msg *m;
	struct proto_builder *b;
	struct raw *r;
	int i, got = 0;

	e->srv.cfg.window = 65544;
	e->srv.cfg.ack_delay_ns = 10 * PROTO_SEC;
	peer_start(e, &e->srv, 1);
	r = raw_session(e, 0);		/* our WINDOW: 1 MiB */
	assert_int_equal(raw_link_open(r, 1, "echo", 1), 0);
	/* One small message: no ACK before the (long) delay. */
	assert_int_equal(raw_next_ack(r, 100 * PROTO_MS), -1);
	/* A quarter of our window: an ACK at once. */
	for (i = 0; i < 33; i++) {
		b = raw_begin(r, 1, 100 + (uint32_t)i, CMD_ECHO);
		proto_build_bytes(b, PROTO_ITEM_DATA, data, sizeof(data));
		assert_true(proto_build_end(b) > 0);
	}
	raw_flush(r);
	r->next = r->n;
	assert_true(raw_next_ack(r, WAIT_NS) >= 33);
	/* Replies: no more than the server's window unacknowledged. */
	settle(e, 50 * PROTO_MS);
	raw_pump(r);
	for (i = 0; i < (int)r->n; i++)
		if (r->msgs[i].m.command == (CMD_ECHO | PROTO_REPLY_BIT))
			got++;
	r->next = r->n;
	assert_true(got >= 1);
	assert_true(got * 8032 <= 65544);
	proto_session_info(e->srv.s, &si);
	assert_true(si.unacked_bytes <= 65544);
	assert_true(si.unacked_bytes > 65544 - 8032);
	/* Acknowledge as they come: all 33 arrive. */
	while (got < 33) {
		raw_ack(r);
		m = raw_next(r);
		assert_non_null(m);
		if (m->command == (CMD_ECHO | PROTO_REPLY_BIT))
			got++;
	}
	raw_close(r);
}

#define FLOOD_MAX	(2u << 20)	/* bytes a flood writes at most */

/*
 * A peer that sends commands and never reads nor acknowledges: even
 * refusals (EBADF for a link that does not exist) cost memory. The
 * server counts each as the heap holds it (a 192-byte chunk for a
 * 48-byte reply); past an eighth of max_memory of refusals not read
 * the session ends with GOODBYE ENOBUFS, which the peer finds after
 * the replies there was room for. What the server holds stays bounded
 * meanwhile.
 * (The raw client's small WINDOW only makes the server ACK it often.)
 */
static void
test_limits_enobufs(void **state)
{
	struct env *e = *state;
	const struct proto_msg *m;
	uint64_t maxb = 0, wrote, bytes = 0;
	char text[256];
	struct raw *r;
	int ebadf = 0;

	e->srv.cfg.max_memory = 65536;
	e->srv.cfg.max_inflight = 16;	/* refusals: 8 KiB, not 16 x 256 */
	e->srv.cfg.window = 65544;
	peer_start(e, &e->srv, 1);
	r = raw_open(e);
	raw_hello_send_w(r, 0, NULL, 0, NULL, 65544);
	assert_int_equal(raw_hello_reply(r), 0);
	WAIT(e, e->srv.ups == 1);
	wrote = raw_flood(r, 77, CMD_ECHO, FLOOD_MAX, &e->srv, &maxb);
	if (wrote >= FLOOD_MAX)
		fail_msg("the server took %" PRIu64 " bytes of commands, "
		    "backlog %" PRIu64, wrote, maxb);
	/* Refusals end it at an eighth of the limit: well inside it. */
	assert_true(maxb <= 65536);
	WAIT(e, e->srv.lost == 1);
	assert_int_equal(e->srv.lost_error, ENOBUFS);
	/* Reading at last: EBADF replies, then why it ended. */
	for (;;) {
		m = raw_next(r);
		assert_non_null(m);
		if (m->command == PROTO_CMD_GOODBYE)
			break;
		assert_int_equal(m->command, CMD_ECHO | PROTO_REPLY_BIT);
		assert_int_equal(m->linkid, 77);
		assert_int_equal(status_of(m), EBADF);
		bytes += proto_align8(m->length);
		ebadf++;
	}
	assert_int_equal(status_of(m), ENOBUFS);
	assert_true(errtext_of(m, text, sizeof(text))[0] != '\0');
	assert_null(raw_next(r));
	assert_true(ebadf > 0);
	assert_true(bytes <= 65544);	/* never ACKed: the window held */
	raw_close(r);
}

/*
 * PINGs, which need no link and are never numbered, sent without
 * reading the replies: once 256 KiB of control messages wait, the
 * server closes the transport; the session is not lost, it resumes.
 */
static void
test_limits_ctrl_queue(void **state)
{
	struct env *e = *state;
	struct raw *r, *n;
	uint64_t wrote;

	peer_start(e, &e->srv, 1);
	r = raw_session(e, 0);
	wrote = raw_flood(r, 0, PROTO_CMD_PING, FLOOD_MAX, NULL, NULL);
	if (wrote >= FLOOD_MAX)
		fail_msg("the server took %" PRIu64 " bytes of PINGs", wrote);
	WAIT(e, e->srv.detached == 1);
	if (strstr(e->srv.detached_text, "control queue") == NULL)
		fail_msg("detached: \"%s\"", e->srv.detached_text);
	assert_int_equal(e->srv.lost, 0);
	assert_non_null(e->srv.s);
	n = raw_resume(r);
	raw_close(r);
	WAIT(e, e->srv.resumed == 1);
	assert_int_equal(raw_link_open(n, 1, "echo", 1), 0);
	raw_close(n);
}

/* --- multi-part replies --------------------------------------------------- */

struct parts {
	int n;			/* parts seen */
	int finals;
	int bad;		/* out of order, or after the final */
	int count;		/* COUNT of the final */
};

static void
on_part(void *arg, struct proto_call *c, const struct proto_msg *m,
    int status, int final)
{
	struct parts *p = arg;
	struct proto_item it;
	const uint8_t *d;
	uint32_t v;
	char want[32];
	size_t n;

	(void)c;
	if (tearing_down)
		return;
	assert_non_null(m);
	if (p->finals > 0)
		p->bad++;
	if (final) {
		p->finals++;
		assert_int_equal(status, 0);
		assert_false(has_item(m, PROTO_ITEM_MORE));
		assert_true(proto_msg_find(m, PROTO_ITEM_COUNT, &it, NULL) > 0);
		assert_int_equal(proto_item_u32(&it, &v, NULL), 0);
		p->count = (int)v;
		return;
	}
	assert_true(has_item(m, PROTO_ITEM_MORE));
	assert_false(has_item(m, PROTO_ITEM_STATUS));
	assert_true(proto_msg_find(m, PROTO_ITEM_DATA, &it, NULL) > 0);
	assert_int_equal(proto_item_bytes(&it, &d, &n, -1, NULL), 0);
	snprintf(want, sizeof(want), "part %d", p->n);
	if (n != strlen(want) || memcmp(d, want, n) != 0)
		p->bad++;
	p->n++;
}

static void
test_multipart(void **state)
{
	struct env *e = *state;
	struct parts p[3];
	uint32_t counts[3] = { 5, 0, 200 };
	struct proto_builder *b;
	struct proto_link *l;
	struct rec ro;
	int i;

	memset(p, 0, sizeof(p));
	start_up(e, 0);
	l = open_link(e, e->cli.s, "slow", &ro);
	for (i = 0; i < 3; i++) {
		b = proto_cmd_begin(l, CMD_PARTS);
		assert_non_null(b);
		proto_build_u32(b, PROTO_ITEM_COUNT, counts[i]);
		assert_non_null(proto_cmd_send(l, on_part, &p[i]));
	}
	WAIT(e, p[2].finals == 1);
	settle(e, 30 * PROTO_MS);
	for (i = 0; i < 3; i++) {
		assert_int_equal(p[i].n, (int)counts[i]);
		assert_int_equal(p[i].finals, 1);
		assert_int_equal(p[i].bad, 0);
		assert_int_equal(p[i].count, (int)counts[i]);
	}
}

/*
 * The ENOBUFS bound is for a peer that does not read. One that reads
 * and acknowledges as it should, and CANCELs a command whose service
 * queued a large multi-part reply at once, did nothing wrong: past
 * twice max_memory of backlog its session must go on (it was ended
 * "160056 bytes of replies not read" when the bound counted the
 * service's output rather than the answers the peer alone caused).
 */
static void
test_limits_enobufs_cancel(void **state)
{
	struct env *e = *state;
	struct proto_session_info si;
	struct rec ro, r1 = { .e = e };
	struct proto_builder *b;
	struct proto_call *c;
	struct proto_link *l;
	struct parts p;

	memset(&p, 0, sizeof(p));
	e->srv.cfg.max_memory = 65536;
	start_up(e, 0);
	l = open_link(e, e->cli.s, "slow", &ro);
	b = proto_cmd_begin(l, CMD_PARTS);
	assert_non_null(b);
	proto_build_u32(b, PROTO_ITEM_COUNT, 4000);	/* 160 KB of parts */
	c = proto_cmd_send(l, on_part, &p);
	assert_non_null(c);
	/* Enough: cancel it when the first part comes. */
	WAIT(e, p.n > 0 || e->cli.lost > 0);
	assert_int_equal(proto_call_cancel(c), 0);
	WAIT(e, p.finals == 1 || e->cli.lost > 0);
	settle(e, 50 * PROTO_MS);
	if (e->cli.lost > 0)
		fail_msg("client lost (%d): %s", e->cli.lost_error,
		    e->cli.lost_text);
	assert_int_equal(e->srv.lost, 0);
	/* All read and acknowledged: the session takes commands again. */
	WAIT(e, (proto_session_info(e->srv.s, &si), si.unacked_bytes == 0 &&
	    si.queued_bytes == 0));
	l = open_link(e, e->cli.s, "echo", &ro);
	assert_non_null(send_cmd(l, CMD_ECHO, "after", 5, &r1));
	WAIT(e, r1.finals == 1);
	assert_int_equal(r1.status, 0);
}

/*
 * An accepted CANCEL is held as a request until its target ends, and
 * CANCELs are exempt from MAX_INFLIGHT: CANCELs of one held command
 * were all kept (50000 of them: 50001 requests with max_inflight 16),
 * and none of it showed in queued_bytes. What the server holds must
 * stay bounded: the repeats refused, or the session ended.
 */
static void
test_limits_cancel_flood(void **state)
{
	struct env *e = *state;
	struct proto_session_info si;
	struct proto_builder *b;
	struct raw *r;
	uint32_t i, k;

	e->srv.cfg.max_inflight = 16;
	e->srv.cfg.max_memory = 65536;
	peer_start(e, &e->srv, 1);
	r = raw_session(e, 0);
	assert_int_equal(raw_link_open(r, 3, "slow", 1), 0);
	raw_cmd(r, 3, 10, CMD_HOLD);
	WAIT(e, e->srv.slow.npend == 1);
	for (k = 0; k < 20 && e->srv.lost == 0; k++) {
		for (i = 0; i < 1000; i++) {
			b = raw_begin(r, 3, 100 + k * 1000 + i,
			    PROTO_CMD_CANCEL);
			proto_build_u32(b, PROTO_ITEM_TARGET, 10);
			assert_true(proto_build_end(b) > 0);
		}
		raw_flush(r);
		step(e);
		/* Read what comes (refusals), as a well-behaved peer. */
		raw_pump(r);
		if (r->eof)
			break;
		raw_ack(r);
	}
	settle(e, 50 * PROTO_MS);
	if (e->srv.lost > 0) {
		assert_int_equal(e->srv.lost_error, ENOBUFS);
	} else {
		proto_session_info(e->srv.s, &si);
		if (si.requests > 16)
			fail_msg("%u requests held, max_inflight 16",
			    si.requests);
	}
	raw_close(r);
}

/* --- budgets: memory, sessions, transports ---------------------------------- */

/* Echo commands of `size` bytes of DATA, msgids from `first`, unread. */
static void
raw_echo_burst(struct raw *r, uint64_t link, uint32_t first, int n,
    size_t size)
{
	static uint8_t data[16000];
	struct proto_builder *b;
	int i;

	assert_true(size <= sizeof(data));
	for (i = 0; i < n; i++) {
		b = raw_begin(r, link, first + (uint32_t)i, CMD_ECHO);
		proto_build_bytes(b, PROTO_ITEM_DATA, data, size);
		assert_true(proto_build_end(b) > 0);
	}
	raw_flush(r);
}

/*
 * The STATUS of the HELLO reply to a resume of session sid, claiming
 * nothing received (NULL: a new session); a refused one ends there.
 */
static int
raw_resume_status(struct env *e, const uint8_t *sid)
{
	struct raw *n = raw_open(e);
	int st;

	raw_hello_send(n, 0, sid, 0, NULL);
	st = raw_hello_reply(n);
	if (st != 0)
		raw_wait_eof(n);
	raw_close(n);
	return st;
}

static uint64_t
peer_held(const struct side *sd)
{
	struct proto_peer_info pi;

	proto_peer_info(sd->peer, &pi);
	return pi.held_bytes;
}

/*
 * Detached sessions hold their unacknowledged replies for a resume;
 * they are the first to go when the server's total is reached, largest
 * first, and their resume then finds ESTALE. The session that is here
 * gets its work done.
 */
static void
test_budget_detached_evicted(void **state)
{
	struct env *e = *state;
	struct proto_session_info si;
	struct proto_peer_info pi;
	struct raw *r[3];
	uint8_t sid[2][16];
	uint64_t peak = 0;
	const struct proto_msg *m;
	int i, ok = 0, stale = 0;

	/* Two detached hold ~340 KB; the third's ~170 KB pass 7/8. */
	e->srv.cfg.max_memory = 256 << 10;
	e->srv.cfg.max_total_memory = 512 << 10;
	peer_start(e, &e->srv, 1);
	for (i = 0; i < 2; i++) {
		r[i] = raw_session(e, 0);
		assert_int_equal(raw_link_open(r[i], 1, "echo", 1), 0);
		/* 20 replies of 8 KB: held, as the peer never ACKs. */
		raw_echo_burst(r[i], 1, 100, 20, 8000);
		WAIT(e, (proto_session_info(e->srv.s, &si),
		    si.held_bytes >= 20 * 8000));
		memcpy(sid[i], r[i]->session, 16);
		raw_close(r[i]);
		WAIT(e, e->srv.detached == i + 1);
	}
	proto_peer_info(e->srv.peer, &pi);
	assert_int_equal(pi.detached, 2);
	assert_true(pi.held_bytes > 2 * 20 * 8000);
	/* A third, here and working, pushes the total past 7/8. */
	r[2] = raw_session(e, 0);
	assert_int_equal(raw_link_open(r[2], 1, "echo", 1), 0);
	raw_echo_burst(r[2], 1, 100, 20, 8000);
	for (i = 0; i < 20; i++) {
		m = raw_next(r[2]);
		assert_non_null(m);
		if (status_of(m) == 0)
			ok++;
		if (peer_held(&e->srv) > peak)
			peak = peer_held(&e->srv);
	}
	assert_int_equal(ok, 20);
	assert_true(peak <= e->srv.cfg.max_total_memory);
	WAIT(e, e->srv.lost >= 1);
	assert_int_equal(e->srv.lost_error, ENOBUFS);
	/* The dropped one's resume: ESTALE. */
	for (i = 0; i < 2; i++)
		if (raw_resume_status(e, sid[i]) == ESTALE)
			stale++;
	assert_true(stale >= 1);
	raw_close(r[2]);
}

/*
 * max_sessions: a new session takes the place of the one detached the
 * longest; with every session attached, it is refused EAGAIN.
 */
static void
test_budget_sessions(void **state)
{
	struct env *e = *state;
	struct proto_peer_info pi;
	struct raw *r[4];
	uint8_t first[16];
	int i;

	e->srv.cfg.max_sessions = 2;
	peer_start(e, &e->srv, 1);
	for (i = 0; i < 2; i++) {
		r[i] = raw_session(e, 0);
		if (i == 0)
			memcpy(first, r[0]->session, 16);
		raw_close(r[i]);
		WAIT(e, e->srv.detached == i + 1);
	}
	/* Two detached: the first goes for the third. */
	r[2] = raw_session(e, 0);
	WAIT(e, e->srv.lost == 1);
	assert_int_equal(e->srv.lost_error, ENOBUFS);
	assert_int_equal(raw_resume_status(e, first), ESTALE);
	/* The other detached goes for the fourth; then none is left. */
	r[3] = raw_session(e, 0);
	WAIT(e, e->srv.lost == 2);
	proto_peer_info(e->srv.peer, &pi);
	assert_int_equal(pi.sessions, 2);
	assert_int_equal(pi.detached, 0);
	assert_int_equal(raw_resume_status(e, NULL), EAGAIN);
	assert_non_null(strstr(e->srv.lastwarn, "too many sessions"));
	raw_close(r[2]);
	raw_close(r[3]);
}

/*
 * max_conns: transports that never say HELLO make room, oldest first,
 * for one that does; and each is closed after handshake_ns anyway.
 */
static void
test_budget_conns(void **state)
{
	struct env *e = *state;
	struct proto_peer_info pi;
	struct raw *idle[2], *r;
	uint64_t t0;

	e->srv.cfg.max_conns = 2;
	e->srv.cfg.handshake_ns = 300 * PROTO_MS;
	peer_start(e, &e->srv, 1);
	idle[0] = raw_open(e);
	settle(e, 20 * PROTO_MS);
	idle[1] = raw_open(e);
	settle(e, 20 * PROTO_MS);
	proto_peer_info(e->srv.peer, &pi);
	assert_int_equal(pi.conns, 2);
	/* A third: the oldest stranger goes, not the newcomer. */
	r = raw_session(e, 0);
	raw_wait_eof(idle[0]);
	assert_false(idle[1]->eof);
	/* The other stranger: closed at the handshake time-out. */
	t0 = mono();
	raw_wait_eof(idle[1]);
	assert_true(mono() - t0 < 2 * PROTO_SEC);
	assert_int_equal(raw_link_open(r, 1, "echo", 1), 0);
	raw_close(idle[0]);
	raw_close(idle[1]);
	raw_close(r);
}

/*
 * Commands a service holds are charged with their bytes: the delay of
 * a held command no longer lets a peer park megabytes in the server.
 */
static void
test_budget_service_held(void **state)
{
	struct env *e = *state;
	static uint8_t data[4000];
	struct proto_session_info si;
	struct proto_builder *b;
	const struct proto_msg *m;
	struct raw *r;
	int i, again = 0;

	e->srv.cfg.max_memory = 64 << 10;
	peer_start(e, &e->srv, 1);
	r = raw_session(e, 0);
	assert_int_equal(raw_link_open(r, 3, "slow", 1), 0);
	for (i = 0; i < 100; i++) {
		b = raw_begin(r, 3, 10 + (uint32_t)i, CMD_HOLD);
		proto_build_bytes(b, PROTO_ITEM_DATA, data, sizeof(data));
		assert_true(proto_build_end(b) > 0);
	}
	raw_flush(r);
	while (again + e->srv.slow.npend < 100) {
		m = raw_next(r);
		assert_non_null(m);
		assert_int_equal(status_of(m), EAGAIN);
		again++;
	}
	/* 7/8 of the limit in requests, and the refusals. */
	proto_session_info(e->srv.s, &si);
	assert_true(si.held_bytes <= 57344 + (uint64_t)again * 256);
	/* 7/8 of 64 KiB in requests of 4 KB and more: 13 at most. */
	assert_true(e->srv.slow.npend >= 5 && e->srv.slow.npend <= 13);
	slow_release(&e->srv.slow, 0);
	raw_close(r);
}

/* Control messages belong to the session: on another link, EPROTO. */
static void
test_proto_ctrl_link(void **state)
{
	static const struct {
		uint64_t link;
		uint16_t command, item;
		const char *want;
	} cases[] = {
		{ 5, PROTO_CMD_ACK, PROTO_ITEM_RECEIVED, "on link 0x5" },
		{ 7, PROTO_CMD_PING, PROTO_ITEM_TIMESTAMP, "on link 0x7" },
	};
	struct env *e = *state;
	char text[256];
	struct raw *r;
	size_t i;

	peer_start(e, &e->srv, 1);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = raw_session(e, 0);
		proto_build_u64(raw_begin(r, cases[i].link, 1,
		    cases[i].command), cases[i].item, 0);
		raw_send(r);
		assert_int_equal(raw_goodbye(r, text, sizeof(text)), EPROTO);
		assert_non_null(strstr(text, cases[i].want));
		raw_close(r);
	}
}

/*
 * AUTH failures are logged, with the address, and a reflected proof is
 * named; a stranger resuming with a wrong RECEIVED is not told counts.
 */
static void
test_auth_logged(void **state)
{
	struct env *e = *state;
	struct proto_builder *b;
	uint8_t ni[32], mine[32], sid[16];
	char text[256];
	struct raw *r;
	int pass, w;

	set_key(&e->srv, 0x44);
	peer_start(e, &e->srv, 1);
	memset(ni, 0x5a, sizeof(ni));
	for (pass = 0; pass < 2; pass++) {
		w = e->srv.warnings;
		r = raw_open(e);
		raw_hello_send(r, PROTO_FEATURE_AUTH, NULL, 0, ni);
		assert_int_equal(raw_hello_reply(r), 0);
		if (pass == 0)
			memset(mine, 0x77, sizeof(mine));
		else
			memcpy(mine, r->auth_a, sizeof(mine));
		b = raw_begin(r, 0, 0, PROTO_CMD_AUTH);
		proto_build_bytes(b, PROTO_ITEM_AUTH, mine, 32);
		raw_send(r);
		assert_int_equal(raw_goodbye(r, text, sizeof(text)), EACCES);
		raw_close(r);
		WAIT(e, e->srv.warnings > w);
		assert_non_null(strstr(e->srv.lastwarn, "AUTH refused"));
		assert_non_null(strstr(e->srv.lastwarn, "unix:"));
		assert_non_null(strstr(e->srv.lastwarn, pass == 0 ?
		    "wrong" : "reflected"));
	}
	/* A proven session, then a stranger claims too much of it. */
	raw_proven_detached(e, ni, sid);
	r = raw_open(e);
	raw_hello_send(r, PROTO_FEATURE_AUTH, sid, 1000, ni);
	assert_int_equal(raw_goodbye(r, text, sizeof(text)), EPROTO);
	if (strpbrk(text, "0123456789") != NULL)
		fail_msg("told a stranger: \"%s\"", text);
	raw_close(r);
}

/* A HELLO for a new session whose NODE is len bytes, verbatim. */
static void
raw_hello_node(struct raw *r, const char *node, size_t len)
{
	static const uint8_t zero[16];
	struct proto_builder *b = raw_begin(r, 0, 0, PROTO_CMD_HELLO);

	proto_build_u16(b, PROTO_ITEM_VERSION, 1);
	proto_build_bytes(b, PROTO_ITEM_NODE, node, len);
	proto_build_bytes(b, PROTO_ITEM_SESSION, zero, 16);
	proto_build_u64(b, PROTO_ITEM_RECEIVED, 0);
	proto_build_u64(b, PROTO_ITEM_FEATURES, 0);
	proto_build_u32(b, PROTO_ITEM_WINDOW, 1u << 20);
	raw_send(r);
}

/*
 * A peer's NODE reaches log lines escaped: no newline to forge a line,
 * no escape sequence for the terminal (teardown checks every line).
 * Malformed messages are warned of five at a time, then summed up.
 */
static void
test_log_peer_abuse(void **state)
{
	static const char node[] = "evil\n12:00:00.000 msgpeer: error: "
	    "forged\033[31m\xff";
	struct env *e = *state;
	struct proto_builder *b;
	const struct proto_msg *m;
	struct raw *r;
	size_t at;
	int i, w, found = 0;

	peer_start(e, &e->srv, 1);
	/* Not UTF-8: the HELLO is malformed, and said so. */
	r = raw_open(e);
	raw_hello_node(r, node, sizeof(node) - 1);
	m = raw_next(r);
	assert_non_null(m);
	assert_int_equal(m->command, PROTO_CMD_GOODBYE);
	raw_close(r);
	/* A valid UTF-8 NODE with controls: the session comes up. */
	r = raw_open(e);
	raw_hello_node(r, node, sizeof(node) - 2);
	assert_int_equal(raw_hello_reply(r), 0);
	WAIT(e, e->srv.ups == 1);
	/* 200 messages with a nonzero pad: 5 warnings, the rest counted. */
	w = e->srv.warnings;
	for (i = 0; i < 200; i++) {
		at = proto_builder_len(&r->b);
		b = raw_begin(r, 0, 10 + (uint32_t)i, CMD_ECHO);
		proto_build_string(b, PROTO_ITEM_ERRTEXT, "x", 1);
		proto_build_u32(b, PROTO_ITEM_STATUS, 0);
		assert_true(proto_build_end(b) > 0);
		/* The last pad byte of "x", between the two items. */
		b->buf[at + PROTO_HDR_LEN + 7] = 0xee;
	}
	raw_flush(r);
	for (i = 0; i < 200; i++)
		assert_non_null(raw_next(r));
	assert_int_equal(e->srv.warnings - w, 5);
	for (i = 0; i < 8; i++)
		if (strstr(e->srv.warns[i], "evil\\x0a12:00") != NULL)
			found = 1;
	assert_true(found);
	raw_close(r);
	WAIT(e, e->srv.detached == 1);
	proto_session_close(e->srv.s);
	WAIT(e, e->srv.lost == 1);
	assert_non_null(strstr(e->srv.lastwarn, "195 more malformed-message "
	    "warnings suppressed"));
}

/* --- protocol errors ------------------------------------------------------ */

/* Bytes that do not frame: GOODBYE {EPROTO, "offset N: reason"}. */
static void
test_proto_garbage(void **state)
{
	struct env *e = *state;
	uint8_t bad[16] = { 0 };
	uint8_t pad[24] = { 0 };
	char text[256], want[64];
	struct raw *r;
	uint64_t at;

	peer_start(e, &e->srv, 1);
	/* The first message says it is 8 bytes long. */
	r = raw_open(e);
	proto_put16(bad + 12, PROTO_CMD_HELLO);
	proto_put16(bad + 14, 8);
	raw_write(r, bad, sizeof(bad));
	assert_int_equal(raw_goodbye(r, text, sizeof(text)), EPROTO);
	/* The offending byte: the length field. */
	if (strstr(text, "offset 14") == NULL)
		fail_msg("GOODBYE says \"%s\"", text);
	assert_non_null(strstr(text, proto_reason_str(PROTO_E_LENGTH)));
	raw_close(r);

	/* After a good handshake: a nonzero pad after a message. */
	r = raw_session(e, 0);
	at = r->sent;
	/* A PAD of 20 bytes (4 of item), then a nonzero pad byte. */
	proto_put16(pad + 12, PROTO_CMD_PAD);
	proto_put16(pad + 14, 20);
	proto_put16(pad + 16, 0x1ff0);
	proto_put16(pad + 18, 4);
	pad[21] = 0xee;
	raw_write(r, pad, sizeof(pad));
	assert_int_equal(raw_goodbye(r, text, sizeof(text)), EPROTO);
	snprintf(want, sizeof(want), "offset %" PRIu64, at + 21);
	if (strstr(text, want) == NULL)
		fail_msg("GOODBYE says \"%s\", wanted %s", text, want);
	assert_non_null(strstr(text, proto_reason_str(PROTO_E_MSG_PAD)));
	WAIT(e, e->srv.lost == 1);
	assert_int_equal(e->srv.lost_error, EPROTO);
	raw_close(r);

	/* A malformed control message is as fatal. */
	r = raw_session(e, 0);
	raw_begin(r, 0, 0, PROTO_CMD_ACK);
	proto_build_raw(&r->b, PROTO_ITEM_RECEIVED, "abc", 3);
	raw_send(r);
	assert_int_equal(raw_goodbye(r, text, sizeof(text)), EPROTO);
	assert_non_null(strstr(text, proto_reason_str(PROTO_E_ITEM_SIZE)));
	raw_close(r);
}

/* HELLO: refusals, and what may not come before or after it. */
static void
test_proto_handshake(void **state)
{
	struct env *e = *state;
	struct proto_builder *b;
	uint8_t sid[16];
	char text[256];
	struct raw *r;

	peer_start(e, &e->srv, 1);
	/* A sequenced command first. */
	r = raw_open(e);
	raw_cmd(r, 0, 1, PROTO_CMD_LINK_OPEN);
	assert_int_equal(raw_goodbye(r, text, sizeof(text)), EPROTO);
	assert_non_null(strstr(text, "before the handshake"));
	raw_close(r);
	/* A control command other than HELLO first. */
	r = raw_open(e);
	raw_cmd(r, 0, 0, PROTO_CMD_PING);
	assert_int_equal(raw_goodbye(r, text, sizeof(text)), EPROTO);
	raw_close(r);
	/* Version 2: EPROTONOSUPPORT. */
	r = raw_open(e);
	b = raw_begin(r, 0, 0, PROTO_CMD_HELLO);
	proto_build_u16(b, PROTO_ITEM_VERSION, 2);
	proto_build_bytes(b, PROTO_ITEM_SESSION, zero16, 16);
	proto_build_u64(b, PROTO_ITEM_RECEIVED, 0);
	proto_build_u64(b, PROTO_ITEM_FEATURES, 0);
	proto_build_u32(b, PROTO_ITEM_WINDOW, 1u << 20);
	raw_send(r);
	assert_int_equal(raw_hello_reply(r), EPROTONOSUPPORT);
	raw_wait_eof(r);
	raw_close(r);
	/* Lacking WINDOW: EPROTO. */
	r = raw_open(e);
	b = raw_begin(r, 0, 0, PROTO_CMD_HELLO);
	proto_build_u16(b, PROTO_ITEM_VERSION, 1);
	proto_build_bytes(b, PROTO_ITEM_SESSION, zero16, 16);
	proto_build_u64(b, PROTO_ITEM_RECEIVED, 0);
	proto_build_u64(b, PROTO_ITEM_FEATURES, 0);
	raw_send(r);
	assert_int_equal(raw_goodbye(r, text, sizeof(text)), EPROTO);
	raw_close(r);
	/* A new session with RECEIVED 5: EPROTO. */
	r = raw_open(e);
	raw_hello_send(r, 0, NULL, 5, NULL);
	assert_int_equal(raw_goodbye(r, text, sizeof(text)), EPROTO);
	raw_close(r);
	/* An unknown session: ESTALE. */
	memset(sid, 0xab, sizeof(sid));
	r = raw_open(e);
	raw_hello_send(r, 0, sid, 0, NULL);
	assert_int_equal(raw_hello_reply(r), ESTALE);
	raw_wait_eof(r);
	raw_close(r);
	assert_int_equal(e->srv.ups, 0);
	/* A second HELLO in a session that is up: EPROTO. */
	r = raw_session(e, 0);
	raw_hello_send(r, 0, NULL, 0, NULL);
	assert_int_equal(raw_goodbye(r, text, sizeof(text)), EPROTO);
	assert_non_null(strstr(text, "HELLO"));
	WAIT(e, e->srv.lost == 1);
	raw_close(r);
	/* A stray HELLO reply: EPROTO too. */
	r = raw_session(e, 0);
	raw_cmd(r, 0, 0, PROTO_CMD_HELLO | PROTO_REPLY_BIT);
	assert_int_equal(raw_goodbye(r, text, sizeof(text)), EPROTO);
	raw_close(r);
}

/*
 * A sequenced message that frames but breaks an item rule is counted
 * and answered EBADMSG; a reply to nothing is dropped; the session goes
 * on.
 */
static void
test_proto_malformed(void **state)
{
	struct env *e = *state;
	struct proto_session_info si;
	const struct proto_msg *m;
	struct proto_builder *b;
	char text[256];
	struct raw *r;

	peer_start(e, &e->srv, 1);
	r = raw_session(e, 0);
	assert_int_equal(raw_link_open(r, 1, "echo", 1), 0);
	/* STATUS is 4 bytes. */
	b = raw_begin(r, 1, 2, CMD_ECHO);
	proto_build_raw(b, PROTO_ITEM_STATUS, "\0\0", 2);
	raw_send(r);
	m = raw_next(r);
	assert_non_null(m);
	assert_int_equal(m->command, CMD_ECHO | PROTO_REPLY_BIT);
	assert_int_equal(m->msgid, 2);
	assert_int_equal(m->linkid, 1);
	assert_int_equal(status_of(m), EBADMSG);
	errtext_of(m, text, sizeof(text));
	assert_non_null(strstr(text, proto_reason_str(PROTO_E_ITEM_SIZE)));
	/* A string with a NUL, on a link that does not exist. */
	b = raw_begin(r, 99, 3, CMD_ECHO);
	proto_build_raw(b, PROTO_ITEM_NAME, "a\0b", 3);
	raw_send(r);
	assert_int_equal(raw_expect(r, 99, 3, CMD_ECHO), EBADMSG);
	/* Malformed and well-formed replies to nothing: dropped. */
	b = raw_begin(r, 1, 4, CMD_ECHO | PROTO_REPLY_BIT);
	proto_build_raw(b, PROTO_ITEM_STATUS, "\0", 1);
	raw_send(r);
	raw_cmd_u32(r, 1, 5, CMD_ECHO | PROTO_REPLY_BIT, PROTO_ITEM_STATUS, 0);
	raw_quiet(r, 30 * PROTO_MS);
	/* Alive: an echo, and all six were counted. */
	raw_cmd(r, 1, 6, CMD_ECHO);
	assert_int_equal(raw_expect(r, 1, 6, CMD_ECHO), 0);
	proto_session_info(e->srv.s, &si);
	assert_int_equal(si.received, 6);
	assert_int_equal(e->srv.lost, 0);
	assert_true(e->srv.warnings >= 2);
	raw_close(r);
}

/* ACK beyond what was sent, or going back: GOODBYE EPROTO. */
static void
test_proto_ack(void **state)
{
	struct env *e = *state;
	char text[256];
	struct raw *r;
	int pass;

	peer_start(e, &e->srv, 1);
	for (pass = 0; pass < 3; pass++) {
		r = raw_session(e, 0);
		assert_int_equal(raw_link_open(r, 1, "echo", 1), 0);
		if (pass == 0) {
			/* One sent, five acknowledged. */
			r->received = 5;
			raw_ack(r);
		} else if (pass == 1) {
			raw_ack(r);
			r->received = 0;
			raw_ack(r);
		} else {
			raw_cmd(r, 0, 0, PROTO_CMD_ACK);	/* no RECEIVED */
		}
		assert_int_equal(raw_goodbye(r, text, sizeof(text)), EPROTO);
		assert_non_null(strstr(text, pass == 2 ?
		    "ACK without RECEIVED" : "ACK RECEIVED"));
		WAIT(e, e->srv.lost == pass + 1);
		assert_int_equal(e->srv.lost_error, EPROTO);
		raw_close(r);
	}
}

/* An unknown control command: ENOSYS, never fatal. PING is answered. */
static void
test_proto_unknown_control(void **state)
{
	struct env *e = *state;
	const struct proto_msg *m;
	struct proto_builder *b;
	struct proto_item it;
	struct raw *r;
	uint64_t ts;

	peer_start(e, &e->srv, 1);
	r = raw_session(e, 0);
	raw_cmd(r, 0, 42, 0x0007);
	m = raw_next(r);
	assert_non_null(m);
	assert_int_equal(m->command, 0x0007 | PROTO_REPLY_BIT);
	assert_int_equal(m->msgid, 42);
	assert_int_equal(status_of(m), ENOSYS);
	raw_cmd(r, 0, 43, 0x000f);
	m = raw_next(r);
	assert_non_null(m);
	assert_int_equal(m->command, 0x000f | PROTO_REPLY_BIT);
	assert_int_equal(status_of(m), ENOSYS);
	/* A control reply to nothing, and PAD: ignored. */
	raw_cmd(r, 0, 44, 0x0007 | PROTO_REPLY_BIT);
	raw_cmd(r, 0, 0, PROTO_CMD_PAD);
	raw_cmd(r, 0, 45, PROTO_CMD_PING | PROTO_REPLY_BIT);
	/* PING: the reply echoes msgid and TIMESTAMP, adds STATUS 0. */
	b = raw_begin(r, 0, 46, PROTO_CMD_PING);
	proto_build_u64(b, PROTO_ITEM_TIMESTAMP, 0x123456789ull);
	raw_send(r);
	m = raw_next(r);
	assert_non_null(m);
	assert_int_equal(m->command, PROTO_CMD_PING | PROTO_REPLY_BIT);
	assert_int_equal(m->msgid, 46);
	assert_int_equal(status_of(m), 0);
	assert_true(proto_msg_find(m, PROTO_ITEM_TIMESTAMP, &it, NULL) > 0);
	assert_int_equal(proto_item_u64(&it, &ts, NULL), 0);
	assert_int_equal(ts, 0x123456789ull);
	assert_int_equal(raw_link_open(r, 1, "echo", 1), 0);
	assert_int_equal(r->received, 1);	/* control is not counted */
	assert_int_equal(e->srv.lost, 0);
	raw_close(r);
}

/* --- resume --------------------------------------------------------------- */

#define RESUME_N	3000

struct erec {
	int idx;
	int finals;
	int parts;
	int status;
	int ok;			/* the DATA came back as sent */
};

static void
pattern(int idx, uint8_t *buf, size_t *len)
{
	size_t i;

	*len = (size_t)(idx * 37) % 3001;
	for (i = 0; i < *len; i++)
		buf[i] = (uint8_t)(idx * 131 + i * 7);
}

static void
on_echo(void *arg, struct proto_call *c, const struct proto_msg *m,
    int status, int final)
{
	struct erec *r = arg;
	uint8_t want[3001];
	struct proto_item it;
	const uint8_t *d;
	size_t n, wn;

	(void)c;
	if (tearing_down)
		return;
	if (!final) {
		r->parts++;
		return;
	}
	r->finals++;
	r->status = status;
	if (m == NULL)
		return;
	pattern(r->idx, want, &wn);
	if (wn == 0) {
		r->ok = !has_item(m, PROTO_ITEM_DATA);
		return;
	}
	r->ok = proto_msg_find(m, PROTO_ITEM_DATA, &it, NULL) > 0 &&
	    proto_item_bytes(&it, &d, &n, -1, NULL) == 0 && n == wn &&
	    memcmp(d, want, n) == 0;
}

static int
all_final(const struct erec *r, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (r[i].finals == 0)
			return 0;
	return 1;
}

/*
 * Many echo commands in flight while the relay cuts the transport again
 * and again, mid-message, mid-handshake, in both directions: every
 * command completes exactly once with its data, and the journals show
 * both directions numbered 1, 2, 3... on both sides, message for
 * message the same.
 */
static void
resume_run(struct env *e, uint64_t features)
{
	static const uint64_t plan[] = {
		20000, 15000, 50001, 300, 70007, 100, 33333, 91011,
		5, 40000, 64000, 2, 120000, 12345,
	};
	struct proto_session_info ci, si;
	struct proto_builder *b;
	uint8_t buf[3001];
	struct proto_link *l;
	struct erec *r;
	struct rec ro;
	size_t len, nc, ns;
	uint64_t until;
	int i;

	e->srv.cfg.features = e->cli.cfg.features = features;
	e->cli.cfg.reconnect_min_ns = 5 * PROTO_MS;
	e->cli.cfg.reconnect_max_ns = 20 * PROTO_MS;
	start_up(e, 1);
	r = calloc(RESUME_N, sizeof(*r));
	assert_non_null(r);
	l = open_link(e, e->cli.s, "echo", &ro);
	relay_plan(e->relay, plan, sizeof(plan) / sizeof(plan[0]));
	for (i = 0; i < RESUME_N; i++) {
		r[i].idx = i;
		pattern(i, buf, &len);
		b = proto_cmd_begin(l, CMD_ECHO);
		assert_non_null(b);
		if (len > 0)
			proto_build_bytes(b, PROTO_ITEM_DATA, buf, len);
		assert_non_null(proto_cmd_send(l, on_echo, &r[i]));
	}
	until = mono() + 30 * PROTO_SEC;
	while (!all_final(r, RESUME_N)) {
		if (mono() > until)
			fail_msg("resume: commands still outstanding");
		step(e);
	}
	for (i = 0; i < RESUME_N; i++) {
		if (r[i].finals != 1 || r[i].status != 0 || !r[i].ok ||
		    r[i].parts != 0)
			fail_msg("command %d: %d finals, status %d, data %s",
			    i, r[i].finals, r[i].status, r[i].ok ? "ok" :
			    "wrong");
	}
	assert_int_equal(e->relay->iplan, e->relay->nplan);
	assert_true(e->relay->cuts >= 10);
	assert_true(e->cli.detached >= 5);
	assert_true(e->cli.resumed >= 5);
	assert_true(e->srv.resumed >= 5);
	assert_int_equal(e->cli.lost, 0);
	assert_int_equal(e->srv.lost, 0);
	assert_int_equal(e->cli.ups, 1);
	assert_int_equal(e->srv.ups, 1);

	/* Settle: every message acknowledged, nothing held. */
	WAIT(e, (proto_session_info(e->cli.s, &ci),
	    proto_session_info(e->srv.s, &si),
	    ci.up && si.up && ci.unacked_bytes == 0 &&
	    si.unacked_bytes == 0));
	assert_memory_equal(ci.id, si.id, 16);
	assert_int_equal(ci.features, features);
	assert_int_equal(ci.sent, RESUME_N + 1);
	assert_int_equal(si.received, RESUME_N + 1);
	assert_int_equal(si.sent, RESUME_N + 1);
	assert_int_equal(ci.received, RESUME_N + 1);
	assert_int_equal(ci.resumes, (uint64_t)e->cli.resumed);
	assert_int_equal(si.resumes, (uint64_t)e->srv.resumed);
	assert_true(ci.retransmitted + si.retransmitted > 0);
	nc = journal_check(&e->cli, 'S', ci.id);
	assert_int_equal(nc, RESUME_N + 1);
	assert_int_equal(journal_check(&e->srv, 'R', ci.id), nc);
	ns = journal_check(&e->srv, 'S', ci.id);
	assert_int_equal(ns, RESUME_N + 1);
	assert_int_equal(journal_check(&e->cli, 'R', ci.id), ns);
	journal_match(&e->cli, &e->srv, nc);
	journal_match(&e->srv, &e->cli, ns);

	/* Events: UP, then DETACHED and RESUMED in turn. */
	for (i = 1; i < e->cli.nev; i++)
		assert_int_equal(e->cli.ev[i], i % 2 ? PROTO_EV_DETACHED :
		    PROTO_EV_RESUMED);
	for (i = 1; i < e->srv.nev; i++)
		assert_int_equal(e->srv.ev[i], i % 2 ? PROTO_EV_DETACHED :
		    PROTO_EV_RESUMED);
	free(r);
}

static void
test_resume(void **state)
{
	resume_run(*state, 0);
}

static void
test_resume_crc(void **state)
{
	resume_run(*state, PROTO_FEATURE_CRC);
}

/*
 * A second connection resuming a session that still has a transport
 * takes over: the old transport is closed, the server retransmits from
 * the RECEIVED the new HELLO gives, byte for byte.
 */
static void
test_resume_replace(void **state)
{
	struct env *e = *state;
	struct raw *r1, *r2, *r3;
	const struct proto_msg *m;
	struct proto_builder *b;
	uint8_t *copy;
	size_t len;
	char text[256];

	peer_start(e, &e->srv, 1);
	r1 = raw_session(e, 0);
	assert_int_equal(raw_link_open(r1, 1, "echo", 1), 0);
	b = raw_begin(r1, 1, 2, CMD_ECHO);
	proto_build_string(b, PROTO_ITEM_NAME, "again", 5);
	raw_send(r1);
	m = raw_next(r1);
	assert_non_null(m);
	assert_int_equal(m->msgid, 2);
	len = m->length;
	copy = malloc(len);
	assert_non_null(copy);
	memcpy(copy, m->bytes, len);
	assert_int_equal(r1->received, 2);

	/* Say only the first reply came. */
	r2 = raw_open(e);
	raw_hello_send(r2, 0, r1->session, 1, NULL);
	assert_int_equal(raw_hello_reply(r2), 0);
	assert_memory_equal(r2->session, r1->session, 16);
	assert_int_equal(r2->peer_received, 2);
	m = raw_next(r2);
	assert_non_null(m);
	assert_int_equal(m->length, len);
	assert_memory_equal(m->bytes, copy, len);
	raw_wait_eof(r1);
	WAIT(e, e->srv.resumed == 1);
	assert_int_equal(e->srv.detached, 1);
	assert_int_equal(e->srv.ups, 1);
	assert_int_equal(e->srv.nev, 3);
	assert_int_equal(e->srv.ev[1], PROTO_EV_DETACHED);
	assert_int_equal(e->srv.ev[2], PROTO_EV_RESUMED);
	/* The session goes on over r2: message 3 is the next. */
	r2->received = 2;
	raw_cmd(r2, 1, 3, CMD_ECHO);
	assert_int_equal(raw_expect(r2, 1, 3, CMD_ECHO), 0);
	assert_int_equal(journal_check(&e->srv, 'R', r1->session), 3);
	assert_int_equal(journal_check(&e->srv, 'S', r1->session), 3);

	/*
	 * A resume claiming more than was ever sent: GOODBYE EPROTO before
	 * any HELLO reply. Only that handshake ends: the session goes on
	 * over r2.
	 */
	r3 = raw_open(e);
	raw_hello_send(r3, 0, r1->session, 99, NULL);
	assert_int_equal(raw_goodbye(r3, text, sizeof(text)), EPROTO);
	raw_cmd(r2, 1, 4, CMD_ECHO);
	assert_int_equal(raw_expect(r2, 1, 4, CMD_ECHO), 0);
	assert_int_equal(e->srv.lost, 0);
	assert_int_equal(e->srv.resumed, 1);
	free(copy);
	raw_close(r1);
	raw_close(r2);
	raw_close(r3);
}

/*
 * A resume whose RECEIVED is more than the server sent, or less than
 * was acknowledged, is answered GOODBYE EPROTO before any HELLO reply:
 * never STATUS 0 and then GOODBYE. It ends only that handshake; the
 * detached session waits for a resume that counts right.
 */
static void
test_resume_bad_received(void **state)
{
	struct env *e = *state;
	static const uint64_t bad[] = { 2 + 5, 0 };
	struct proto_session_info si;
	const struct proto_msg *m;
	uint64_t unacked;
	char text[256];
	uint8_t sid[16];
	struct raw *r;
	size_t i;

	peer_start(e, &e->srv, 1);
	r = raw_session(e, 0);
	assert_int_equal(raw_link_open(r, 1, "echo", 1), 0);
	raw_cmd(r, 1, 2, CMD_ECHO);
	assert_int_equal(raw_expect(r, 1, 2, CMD_ECHO), 0);
	assert_int_equal(r->received, 2);
	/* The first acknowledged: a resume may not claim less from now. */
	proto_session_info(e->srv.s, &si);
	unacked = si.unacked_bytes;
	assert_true(unacked > 0);
	r->received = 1;
	raw_ack(r);
	r->received = 2;
	WAIT(e, (proto_session_info(e->srv.s, &si),
	    si.unacked_bytes < unacked));
	assert_true(si.unacked_bytes > 0);
	memcpy(sid, r->session, sizeof(sid));
	raw_close(r);
	WAIT(e, e->srv.detached == 1);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = raw_open(e);
		raw_hello_send(r, 0, sid, bad[i], NULL);
		m = raw_next(r);
		assert_non_null(m);
		if (m->command != PROTO_CMD_GOODBYE)
			fail_msg("RECEIVED %" PRIu64 ": cmd 0x%04x STATUS %d "
			    "came first", bad[i], m->command, status_of(m));
		assert_int_equal(status_of(m), EPROTO);
		errtext_of(m, text, sizeof(text));
		if (strstr(text, "RECEIVED") == NULL)
			fail_msg("GOODBYE says \"%s\"", text);
		raw_wait_eof(r);
		raw_close(r);
		settle(e, 20 * PROTO_MS);
		assert_int_equal(e->srv.lost, 0);
		assert_non_null(e->srv.s);
	}

	/* A resume that counts right finds the session as it was. */
	r = raw_open(e);
	raw_hello_send(r, 0, sid, 2, NULL);
	assert_int_equal(raw_hello_reply(r), 0);
	assert_memory_equal(r->session, sid, 16);
	assert_int_equal(r->peer_received, 2);
	r->received = 2;
	WAIT(e, e->srv.resumed == 1);
	raw_cmd(r, 1, 3, CMD_ECHO);
	assert_int_equal(raw_expect(r, 1, 3, CMD_ECHO), 0);
	assert_int_equal(e->srv.lost, 0);
	assert_int_equal(e->srv.ups, 1);
	raw_close(r);
}

/* --- losing a session ----------------------------------------------------- */

/*
 * The server restarts while the client is detached: the new one does
 * not know the session (ESTALE), so outstanding commands fail with
 * ECONNRESET and the client hears LOST ESTALE. A new session works.
 */
static void
test_loss_estale(void **state)
{
	struct env *e = *state;
	struct rec ro, r[3], rn = { .e = e };
	struct proto_link *l;
	char err[256];
	int i;

	memset(r, 0, sizeof(r));
	fast_reconnect(&e->cli);
	start_up(e, 1);
	l = open_link(e, e->cli.s, "slow", &ro);
	for (i = 0; i < 3; i++) {
		r[i].e = e;
		assert_non_null(send_cmd(l, CMD_HOLD, NULL, 0, &r[i]));
	}
	WAIT(e, e->srv.slow.npend == 3);
	relay_down(e->relay);
	WAIT(e, e->cli.detached == 1 && e->srv.detached == 1);
	/* Commands may still be sent: they wait for a resume. */
	assert_non_null(send_cmd(l, CMD_HOLD, NULL, 0, &rn));
	settle(e, 50 * PROTO_MS);	/* a few failed dials */
	assert_int_equal(e->cli.lost, 0);
	assert_int_equal(rn.finals, 0);

	proto_peer_free(e->srv.peer);
	e->srv.peer = NULL;
	assert_int_equal(e->srv.lost, 1);
	assert_int_equal(e->srv.lost_error, ECANCELED);
	assert_int_equal(e->srv.slow.npend, 0);
	assert_int_equal(e->srv.slow.late, 3);
	peer_start(e, &e->srv, 1);
	relay_listen(e->relay);
	WAIT(e, e->cli.lost == 1);
	assert_int_equal(e->cli.lost_error, ESTALE);
	assert_null(e->cli.s);
	for (i = 0; i < 3; i++) {
		assert_int_equal(r[i].finals, 1);
		assert_int_equal(r[i].status, ECONNRESET);
		assert_false(r[i].with_msg);
	}
	assert_int_equal(rn.finals, 1);
	assert_int_equal(rn.status, ECONNRESET);
	assert_int_equal(e->srv.ups, 1);
	memset(&rn, 0, sizeof(rn));
	rn.e = e;

	/* The application may start again. */
	e->cli.s = proto_peer_connect(e->cli.peer, e->relay_addr,
	    &client_ops, &e->cli, err, sizeof(err));
	assert_non_null(e->cli.s);
	WAIT(e, e->cli.ups == 2 && e->srv.ups == 2);
	l = open_link(e, e->cli.s, "echo", &ro);
	assert_non_null(send_cmd(l, CMD_ECHO, "new", 3, &rn));
	WAIT(e, rn.finals == 1);
	assert_int_equal(rn.status, 0);
}

/* A detached server session lasts the session time-out, no more. */
static void
test_loss_server_timeout(void **state)
{
	struct env *e = *state;
	uint64_t t0, dt;

	e->srv.cfg.session_timeout_ns = 300 * PROTO_MS;
	fast_reconnect(&e->cli);
	start_up(e, 1);
	relay_down(e->relay);
	t0 = mono();
	WAIT(e, e->srv.detached == 1);
	WAIT(e, e->srv.lost == 1);
	dt = mono() - t0;
	assert_int_equal(e->srv.lost_error, ETIMEDOUT);
	assert_true(dt >= 290 * PROTO_MS);
	assert_true(dt < 2 * PROTO_SEC);
	assert_int_equal(e->cli.lost, 0);
	/* The client comes back too late: ESTALE. */
	relay_listen(e->relay);
	WAIT(e, e->cli.lost == 1);
	assert_int_equal(e->cli.lost_error, ESTALE);
}

/* A second client session, e->other, to a socket nobody listens on. */
static void
connect_nobody(struct env *e)
{
	struct side *other = &e->other;
	char addr[160], err[256];

	other->name = "other";
	other->env = e;
	snprintf(addr, sizeof(addr), "unix:%s/nobody", e->dir);
	assert_non_null(proto_peer_connect(e->cli.peer, addr, &client_ops,
	    other, err, sizeof(err)));
}

/*
 * A client that cannot reconnect gives up after its time-out: here its
 * connections are accepted and closed at once, so every handshake
 * fails; then, with nobody listening at all, no session ever comes.
 */
static void
test_loss_client_timeout(void **state)
{
	struct env *e = *state;
	struct rec ro, r = { .e = e };
	struct side *other = &e->other;
	struct proto_link *l;
	uint64_t t0, dt;

	e->cli.cfg.session_timeout_ns = 300 * PROTO_MS;
	fast_reconnect(&e->cli);
	start_up(e, 1);
	l = open_link(e, e->cli.s, "slow", &ro);
	assert_non_null(send_cmd(l, CMD_HOLD, NULL, 0, &r));
	WAIT(e, e->srv.slow.npend == 1);
	e->relay->refuse = 1;
	relay_cut(e->relay);
	t0 = mono();
	WAIT(e, e->cli.lost == 1);
	dt = mono() - t0;
	assert_int_equal(e->cli.lost_error, ETIMEDOUT);
	assert_true(dt >= 290 * PROTO_MS);
	assert_true(dt < 2 * PROTO_SEC);
	assert_int_equal(r.finals, 1);
	assert_int_equal(r.status, ECONNRESET);
	assert_int_equal(e->cli.detached, 1);
	assert_int_equal(e->cli.resumed, 0);
	assert_true(e->relay->refused >= 2);

	/* Nobody there from the start: no session, ETIMEDOUT. */
	connect_nobody(e);
	WAIT(e, other->lost == 1);
	assert_int_equal(other->lost_error, ETIMEDOUT);
	assert_int_equal(other->ups, 0);
}

/*
 * connect_tries: a session that never came up is lost after that many
 * failed dials, with the dial's errno and reason, the first failure a
 * warning; a session that was up once retries whatever the count.
 */
static void
test_connect_tries(void **state)
{
	struct env *e = *state;
	struct side *other = &e->other;
	int w0, c0;

	e->cli.cfg.connect_tries = 3;
	fast_reconnect(&e->cli);
	start_up(e, 1);

	/* Up once: the relay gone (ENOENT) is retried past 3 dials. */
	relay_down(e->relay);
	WAIT(e, e->cli.detached == 1);
	c0 = e->cli.connect_logs;
	WAIT(e, e->cli.connect_logs >= c0 + 6);
	assert_int_equal(e->cli.lost, 0);
	relay_listen(e->relay);
	WAIT(e, e->cli.resumed == 1);

	/* Never up: three dials, then lost. */
	w0 = e->cli.warnings;
	c0 = e->cli.connect_logs;
	connect_nobody(e);
	WAIT(e, other->lost == 1);
	assert_int_equal(other->lost_error, ENOENT);
	assert_non_null(strstr(other->lost_text, "nobody: connect: No such "
	    "file or directory"));
	assert_int_equal(other->ups, 0);
	/* Two failures retried (the first a warning), the third the loss. */
	assert_int_equal(e->cli.connect_logs - c0, 3);
	assert_int_equal(e->cli.warnings - w0, 1);
	assert_non_null(strstr(e->cli.lastwarn, "retrying"));
	assert_int_equal(e->cli.lost, 0);
}

/*
 * The session time-out is a timer of its own, not something looked at
 * when a reconnect is due: with a back-off of 10 s and a time-out of
 * 300 ms, a session that was up and lost its transport, and one that
 * never came up, both end with ETIMEDOUT after 300 ms, not 10 s.
 */
static void
test_loss_timeout_backoff(void **state)
{
	struct env *e = *state;
	struct side *other = &e->other;
	uint64_t t0, dt;

	e->cli.cfg.session_timeout_ns = 300 * PROTO_MS;
	e->cli.cfg.reconnect_min_ns = 10 * PROTO_SEC;
	e->cli.cfg.reconnect_max_ns = 10 * PROTO_SEC;
	start_up(e, 1);
	/* Both at once: the session that was up loses its transport... */
	relay_down(e->relay);
	t0 = mono();
	/* ...and one that never finds anybody is started. */
	connect_nobody(e);

	WAIT_UPTO(e, 2 * PROTO_SEC, e->cli.lost == 1 && other->lost == 1);
	dt = mono() - t0;
	assert_true(dt >= 290 * PROTO_MS);
	if (dt > 1500 * PROTO_MS)
		fail_msg("lost after %" PRIu64 " ms", dt / PROTO_MS);
	assert_int_equal(e->cli.lost_error, ETIMEDOUT);
	assert_non_null(strstr(e->cli.lost_text, "resume"));
	assert_int_equal(e->cli.detached, 1);
	assert_int_equal(e->cli.resumed, 0);
	assert_int_equal(other->lost_error, ETIMEDOUT);
	assert_non_null(strstr(other->lost_text, "session"));
	assert_int_equal(other->ups, 0);
	assert_int_equal(other->nev, 1);	/* LOST, and nothing before */
	/* The server's session, with its own 30 s, still waits. */
	assert_int_equal(e->srv.lost, 0);
}

/* --- keepalive ------------------------------------------------------------ */

struct pinged {
	int done;
	uint64_t rtt;
	struct proto_session *s;
};

static void
on_ping(void *arg, struct proto_session *s, uint64_t rtt_ns)
{
	struct pinged *p = arg;

	if (tearing_down)
		return;
	p->done++;
	p->rtt = rtt_ns;
	p->s = s;
}

/*
 * Idle sessions exchange PINGs and stay up; a transport that goes
 * silent is declared dead after the dead-link time and the session
 * resumes over a new one; a connection that never says HELLO is
 * dropped.
 */
static void
test_keepalive(void **state)
{
	struct env *e = *state;
	struct proto_session_info ci, si;
	struct rec ro, r1 = { .e = e };
	struct pinged p = { 0, 0, NULL };
	struct proto_link *l;
	struct raw *raw;
	uint64_t t0, dt;

	e->srv.cfg.ping_idle_ns = e->cli.cfg.ping_idle_ns = 50 * PROTO_MS;
	e->srv.cfg.dead_ns = e->cli.cfg.dead_ns = 400 * PROTO_MS;
	fast_reconnect(&e->cli);
	start_up(e, 1);
	settle(e, 600 * PROTO_MS);
	assert_int_equal(e->cli.detached, 0);
	assert_int_equal(e->srv.detached, 0);
	proto_session_info(e->cli.s, &ci);
	proto_session_info(e->srv.s, &si);
	assert_true(ci.up && si.up);
	assert_true(ci.rtt_ns > 0 || si.rtt_ns > 0);
	assert_int_equal(ci.sent, 0);	/* PINGs are not numbered */

	assert_int_equal(proto_session_ping(e->cli.s, on_ping, &p), 0);
	WAIT(e, p.done == 1);
	assert_ptr_equal(p.s, e->cli.s);
	assert_true(p.rtt > 0);
	assert_true(p.rtt < WAIT_NS);
	proto_session_info(e->cli.s, &ci);
	assert_int_equal(ci.rtt_ns, p.rtt);

	/* Silence: both declare the transport dead, then resume. */
	relay_stall(e->relay);
	t0 = mono();
	WAIT(e, e->cli.detached == 1);
	dt = mono() - t0;
	assert_true(dt >= 300 * PROTO_MS);
	WAIT(e, e->cli.resumed == 1 && e->srv.resumed == 1);
	assert_int_equal(e->srv.detached, 1);
	l = open_link(e, e->cli.s, "echo", &ro);
	assert_non_null(send_cmd(l, CMD_ECHO, "alive", 5, &r1));
	WAIT(e, r1.finals == 1);
	assert_int_equal(r1.status, 0);
	assert_int_equal(e->cli.lost, 0);

	/* A connection that never says HELLO: dropped after dead_ns. */
	raw = raw_open(e);
	t0 = mono();
	raw_wait_eof(raw);
	dt = mono() - t0;
	assert_true(dt >= 300 * PROTO_MS);
	raw_close(raw);
	/* Pinging a session that cannot carry it: ENOTCONN. */
	relay_down(e->relay);
	WAIT(e, e->cli.detached == 2);
	assert_int_equal(proto_session_ping(e->cli.s, on_ping, &p), -1);
	assert_int_equal(errno, ENOTCONN);
	proto_session_info(e->cli.s, &ci);
	assert_false(ci.up);
	assert_string_equal(ci.transport, "");
	/* A command sent while detached goes out after the resume. */
	memset(&r1, 0, sizeof(r1));
	r1.e = e;
	assert_non_null(send_cmd(l, CMD_ECHO, "later", 5, &r1));
	settle(e, 50 * PROTO_MS);
	assert_int_equal(r1.finals, 0);
	relay_listen(e->relay);
	WAIT(e, e->cli.resumed == 2 && r1.finals == 1);
	assert_int_equal(r1.status, 0);
	/* Closing a detached session ends it at once. */
	relay_down(e->relay);
	WAIT(e, e->cli.detached == 3);
	proto_session_close(e->cli.s);
	assert_int_equal(e->cli.lost, 1);
	assert_int_equal(e->cli.lost_error, ECANCELED);
	assert_null(e->cli.s);
}

/*
 * PINGs repeat every ping-idle while the silence lasts (each answered):
 * with ping_idle 100 ms, a second of an idle session brings about ten,
 * not one. The acceptor is raw, so that no PING of its own breaks the
 * client's silence. Unanswered, a PING is not followed by another.
 */
static void
test_keepalive_repeat(void **state)
{
	struct env *e = *state;
	const struct proto_msg *m;
	struct proto_builder *b;
	uint64_t until, ts;
	struct proto_item it;
	int lfd, pings = 0, late = 0;
	uint32_t msgid;
	struct raw *r;

	e->cli.cfg.ping_idle_ns = 100 * PROTO_MS;
	e->cli.cfg.dead_ns = 2 * PROTO_SEC;
	lfd = raw_listen(e);
	connect_to_raw(e);
	r = raw_accept(e, lfd);
	raw_serve_hello(r, 0, NULL);
	WAIT(e, e->cli.ups == 1);

	until = mono() + PROTO_SEC;
	while (mono() < until) {
		step(e);
		raw_pump(r);
		while (r->next < r->n) {
			m = &r->msgs[r->next++].m;
			if (m->command == PROTO_CMD_ACK)
				continue;
			if (m->command != PROTO_CMD_PING)
				fail_msg("cmd 0x%04x on an idle session",
				    m->command);
			pings++;
			/* m may move while the reply is written. */
			msgid = m->msgid;
			ts = 0;
			if (proto_msg_find(m, PROTO_ITEM_TIMESTAMP, &it,
			    NULL) > 0)
				(void)proto_item_u64(&it, &ts, NULL);
			b = raw_begin(r, 0, msgid,
			    PROTO_CMD_PING | PROTO_REPLY_BIT);
			proto_build_u64(b, PROTO_ITEM_TIMESTAMP, ts);
			proto_build_u32(b, PROTO_ITEM_STATUS, 0);
			raw_send(r);
		}
	}
	if (pings < 5 || pings > 12)
		fail_msg("%d PINGs in 1 s with ping_idle 100 ms", pings);

	/* No answer: one PING is outstanding, and no other comes. */
	until = mono() + 400 * PROTO_MS;
	while (mono() < until) {
		step(e);
		raw_pump(r);
		while (r->next < r->n)
			if (r->msgs[r->next++].m.command == PROTO_CMD_PING)
				late++;
	}
	assert_true(late <= 1);
	assert_int_equal(e->cli.detached, 0);
	assert_int_equal(e->cli.lost, 0);
	raw_close(r);
	close(lfd);
}

/* --- orderly close -------------------------------------------------------- */

/*
 * proto_session_close: what is queued still goes out, then GOODBYE; the
 * peer hears LOST ECONNRESET, the closer LOST ECANCELED, and every
 * command of the closer ends once.
 */
static void
test_close(void **state)
{
	struct env *e = *state;
	struct rec ro, r[5];
	struct proto_link *l;
	int i;

	memset(r, 0, sizeof(r));
	start_up(e, 0);
	l = open_link(e, e->cli.s, "echo", &ro);
	WAIT(e, ro.finals == 1);
	for (i = 0; i < 5; i++) {
		r[i].e = e;
		assert_non_null(send_cmd(l, CMD_ECHO, "bye", 3, &r[i]));
	}
	proto_session_close(e->cli.s);
	/* Nothing new once closing. */
	assert_null(proto_cmd_begin(l, CMD_ECHO));
	assert_int_equal(errno, ENOTCONN);
	assert_null(proto_link_open(e->cli.s, "echo", NULL, on_reply, &ro));
	proto_session_close(e->cli.s);	/* twice is harmless */
	WAIT(e, e->cli.lost == 1 && e->srv.lost == 1);
	assert_int_equal(e->cli.lost_error, ECANCELED);
	assert_int_equal(e->srv.lost_error, ECONNRESET);
	assert_non_null(strstr(e->srv.lost_text, "GOODBYE"));
	/* The server got all five before the GOODBYE. */
	assert_int_equal(jcount(&e->srv, 'R', CMD_ECHO), 5);
	settle(e, 30 * PROTO_MS);
	for (i = 0; i < 5; i++)
		assert_int_equal(r[i].finals, 1);
	assert_null(e->cli.s);
	assert_null(e->srv.s);
}

/*
 * proto_peer_free ends its sessions with GOODBYE: its application hears
 * LOST ECANCELED and nothing else (no DETACHED, no resume), the other
 * side LOST ECONNRESET. Commands outstanding on both sides end once.
 */
static void
test_peer_free(void **state)
{
	struct env *e = *state;
	struct rec ro, rs, r1 = { .e = e }, r2 = { .e = e };
	struct proto_link *l, *sl;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		struct side *gone = pass == 0 ? &e->cli : &e->srv;
		struct side *left = pass == 0 ? &e->srv : &e->cli;

		memset(&r1, 0, sizeof(r1));
		memset(&r2, 0, sizeof(r2));
		r1.e = r2.e = e;
		e->cli.nev = e->srv.nev = 0;
		e->cli.lost = e->srv.lost = 0;
		e->cli.ups = e->srv.ups = 0;
		start_up(e, 0);
		l = open_link(e, e->cli.s, "slow", &ro);
		sl = open_link(e, e->srv.s, "slow", &rs);
		assert_non_null(send_cmd(l, CMD_HOLD, NULL, 0, &r1));
		assert_non_null(send_cmd(sl, CMD_HOLD, NULL, 0, &r2));
		WAIT(e, e->srv.slow.npend == 1 && e->cli.slow.npend == 1);
		proto_peer_free(gone->peer);
		gone->peer = NULL;
		assert_int_equal(gone->lost, 1);
		assert_int_equal(gone->lost_error, ECANCELED);
		assert_int_equal(gone->nev, 2);
		assert_int_equal(gone->ev[0], PROTO_EV_UP);
		assert_int_equal(gone->ev[1], PROTO_EV_LOST);
		assert_int_equal(gone->slow.npend, 0);
		WAIT(e, left->lost == 1);
		assert_int_equal(left->lost_error, ECONNRESET);
		assert_int_equal(left->nev, 2);
		assert_int_equal(left->slow.npend, 0);
		assert_int_equal(r1.finals, 1);
		assert_int_equal(r2.finals, 1);
		assert_int_equal(r1.status, ECONNRESET);
		assert_int_equal(r2.status, ECONNRESET);
		proto_peer_free(left->peer);
		left->peer = NULL;
	}
}

/* --- the blocking helper -------------------------------------------------- */

static void
data_fn(struct proto_builder *b, void *arg)
{
	proto_build_string(b, PROTO_ITEM_NAME, arg, strlen(arg));
}

/*
 * proto_call_wait: the final status, and a copy of the final reply that
 * is a message of its own (with CRC, the copy has no CRC item and its
 * length says so).
 */
static void
call_wait_run(struct env *e, uint64_t features)
{
	struct proto_link *l, *bad;
	struct proto_item it;
	struct proto_msg m;
	const char *s;
	uint8_t *reply;
	size_t n;

	e->srv.cfg.features = e->cli.cfg.features = features;
	start(e, 0);
	/* Before the handshake: the command waits for it. */
	l = proto_link_open(e->cli.s, "echo", NULL, NULL, NULL);
	assert_non_null(l);
	assert_int_equal(proto_call_wait(l, CMD_ECHO, data_fn, "blocking",
	    &reply), 0);
	assert_non_null(reply);
	msg_of(&m, reply, proto_get16(reply + 14));
	assert_false(has_item(&m, PROTO_ITEM_CRC));
	assert_true(proto_msg_find(&m, PROTO_ITEM_NAME, &it, NULL) > 0);
	assert_int_equal(proto_item_string(&it, &s, &n, NULL), 0);
	assert_int_equal(n, 8);
	assert_memory_equal(s, "blocking", 8);
	free(reply);
	assert_int_equal(proto_call_wait(l, CMD_OTHER, NULL, NULL, &reply),
	    ENOSYS);
	free(reply);
	bad = proto_link_open(e->cli.s, "nope", NULL, NULL, NULL);
	assert_non_null(bad);
	assert_int_equal(proto_call_wait(bad, CMD_ECHO, NULL, NULL, NULL),
	    EBADF);
	/* The session lost under it: ECONNRESET, no message. */
	proto_peer_free(e->srv.peer);
	e->srv.peer = NULL;
	assert_int_equal(proto_call_wait(l, CMD_ECHO, NULL, NULL, &reply),
	    ECONNRESET);
	assert_null(reply);
	assert_int_equal(e->cli.lost, 1);
}

static void
test_call_wait(void **state)
{
	call_wait_run(*state, 0);
}

static void
test_call_wait_crc(void **state)
{
	call_wait_run(*state, PROTO_FEATURE_CRC);
}

/*
 * proto_call_wait from a callback of the loop (a reply callback, a
 * timer) cannot run the rounds that would bring its reply: it must
 * refuse with -EDEADLK before anything is sent, or a command goes out
 * whose reply nobody is left to take.
 */
struct nested {
	struct proto_link *l;
	int ran;
	int ret;
	uint32_t calls_before, calls_after;
	uint8_t *reply;
};

static void
nested_wait(struct nested *n)
{
	struct proto_session_info info;

	proto_session_info(proto_link_session(n->l), &info);
	n->calls_before = info.calls;
	n->reply = (uint8_t *)n;	/* must be set to NULL */
	n->ret = proto_call_wait(n->l, CMD_ECHO, data_fn, "nested",
	    &n->reply);
	proto_session_info(proto_link_session(n->l), &info);
	n->calls_after = info.calls;
	n->ran++;
}

static void
on_reply_nested(void *arg, struct proto_call *c, const struct proto_msg *m,
    int status, int final)
{
	(void)c;
	(void)m;
	(void)status;
	if (tearing_down || !final)
		return;
	nested_wait(arg);
}

static void
on_timer_nested(struct proto_timer *t, void *arg)
{
	(void)t;
	if (tearing_down)
		return;
	nested_wait(arg);
}

static void
test_call_wait_callback(void **state)
{
	struct env *e = *state;
	struct proto_session_info ci;
	struct proto_timer *t;
	struct proto_link *l;
	struct nested n;
	struct rec ro;

	start_up(e, 0);
	l = open_link(e, e->cli.s, "echo", &ro);
	memset(&n, 0, sizeof(n));
	n.l = l;

	/* From the reply callback of a command. */
	assert_non_null(proto_cmd_begin(l, CMD_ECHO));
	assert_non_null(proto_cmd_send(l, on_reply_nested, &n));
	WAIT(e, n.ran == 1);
	assert_int_equal(n.ret, -EDEADLK);
	assert_null(n.reply);
	assert_int_equal(n.calls_after, n.calls_before);

	/* From a timer. */
	t = proto_timer_new(e->loop, on_timer_nested, &n);
	assert_non_null(t);
	proto_timer_set(t, 0);
	WAIT(e, n.ran == 2);
	proto_timer_free(t);
	assert_int_equal(n.ret, -EDEADLK);
	assert_null(n.reply);
	assert_int_equal(n.calls_after, n.calls_before);

	/* Nothing went out: the server has the one command, no other. */
	settle(e, 50 * PROTO_MS);
	assert_int_equal(jcount(&e->srv, 'R', CMD_ECHO), 1);
	proto_session_info(e->cli.s, &ci);
	assert_int_equal(ci.calls, 0);
	assert_int_equal(ci.sent, 2);		/* LINK_OPEN, the echo */
	/* Outside callbacks it works as ever. */
	assert_int_equal(proto_call_wait(l, CMD_ECHO, data_fn, "outside",
	    NULL), 0);
	assert_int_equal(jcount(&e->srv, 'R', CMD_ECHO), 2);
}

/*
 * proto_cmd_begin is for the application's commands: the control
 * commands (0x0000-0x000F) are the session's own, and a reply goes
 * through its request. Refused with EINVAL, leaving a command half
 * built (on any link) as it was.
 */
static void
test_cmd_begin_refused(void **state)
{
	static const uint16_t bad[] = {
		0x0000, PROTO_CMD_HELLO, PROTO_CMD_PING, PROTO_CMD_GOODBYE,
		PROTO_CMD_ACK, 0x000f, CMD_ECHO | PROTO_REPLY_BIT,
		PROTO_CMD_PING | PROTO_REPLY_BIT, 0xffff,
	};
	struct env *e = *state;
	struct proto_session_info ci;
	struct proto_builder *b;
	struct proto_link *l, *l0;
	struct proto_item it;
	struct proto_msg m;
	struct rec ro, r1;
	const uint8_t *d;
	size_t i, n;

	memset(&r1, 0, sizeof(r1));
	r1.e = e;
	r1.keep = 1;
	start_up(e, 0);
	l = open_link(e, e->cli.s, "echo", &ro);
	l0 = proto_session_link0(e->cli.s);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		if (proto_cmd_begin(l, bad[i]) != NULL)
			fail_msg("command 0x%04x: a builder", bad[i]);
		assert_int_equal(errno, EINVAL);
		errno = 0;
		assert_null(proto_cmd_begin(l0, bad[i]));
		assert_int_equal(errno, EINVAL);
	}

	/* Refused in the middle of building another: that one still goes. */
	b = proto_cmd_begin(l, CMD_ECHO);
	assert_non_null(b);
	proto_build_bytes(b, PROTO_ITEM_DATA, "kept", 4);
	assert_null(proto_cmd_begin(l, PROTO_CMD_PING));
	assert_null(proto_cmd_begin(l0, CMD_ECHO | PROTO_REPLY_BIT));
	assert_non_null(proto_cmd_send(l, on_reply, &r1));
	WAIT(e, r1.finals == 1);
	assert_int_equal(r1.status, 0);
	msg_of(&m, r1.copy, r1.len);
	assert_true(proto_msg_find(&m, PROTO_ITEM_DATA, &it, NULL) > 0);
	assert_int_equal(proto_item_bytes(&it, &d, &n, -1, NULL), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(d, "kept", 4);
	free(r1.copy);

	/* Nothing of the refused went out; the session is as it was. */
	settle(e, 30 * PROTO_MS);
	proto_session_info(e->cli.s, &ci);
	assert_int_equal(ci.sent, 2);		/* LINK_OPEN, the echo */
	assert_int_equal(ci.calls, 0);
	assert_int_equal(e->cli.detached + e->cli.lost, 0);
	assert_int_equal(e->srv.detached + e->srv.lost, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_handshake, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_features_crc, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_features_crc_one_side,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_crc_raw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crc_cap, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_auth_same_key, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_auth_wrong_key, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_auth_server_only, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_auth_client_only, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_auth_raw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_resume, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_auth_first_break, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_hello_refused_text, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_auth_resume_expired, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_echo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_echo_more, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_links_open, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_links_raw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_close_count, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_link_close_outstanding,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_link_close_outstanding_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_raw, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cancel_order, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_limits_inflight, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_limits_memory, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_window_ack, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_limits_enobufs, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_limits_ctrl_queue, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_limits_enobufs_cancel,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits_cancel_flood, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_budget_detached_evicted,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_budget_sessions, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_budget_conns, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_budget_service_held, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_proto_ctrl_link, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_auth_logged, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_log_peer_abuse, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_multipart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proto_garbage, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_proto_handshake, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_proto_malformed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_proto_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proto_unknown_control,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_crc, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_resume_replace, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_resume_bad_received, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_loss_estale, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_loss_server_timeout, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_loss_client_timeout, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_connect_tries, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_loss_timeout_backoff, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_keepalive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keepalive_repeat, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_free, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_call_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_wait_crc, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_call_wait_callback, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cmd_begin_refused, setup,
		    teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
