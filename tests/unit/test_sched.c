/*
 * test_sched.c - the send side's promises, in one process with two peers
 * over a unix socket:
 * - fairness: a small command behind a megabyte of bulk on another link
 *   is answered among the first few replies, not after the bulk (FIFO
 *   would make it the last of 101);
 * - msgids: allocation wraps around 2^32, never gives 0, and skips ids
 *   still outstanding.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "libproto/proto.h"
#include "libproto/proto_session.h"
#include "session_int.h"

struct env {
	struct proto_loop *loop;
	struct proto_peer *server, *client;
	struct proto_session *s;
	char dir[64];
	char addr[128];
	int up;
};

static void
on_event(void *arg, struct proto_session *s, enum proto_session_event ev,
    int error, const char *text)
{
	struct env *e = arg;

	(void)s;
	(void)error;
	(void)text;
	if (ev == PROTO_EV_UP)
		e->up = 1;
	if (ev == PROTO_EV_LOST)
		e->s = NULL;
}

static const struct proto_session_ops ops = { on_event };

/* Run rounds until *flag, at most 10 s of loop time. */
static void
run_until(struct env *e, const int *flag)
{
	uint64_t until = proto_loop_now(e->loop) + 10 * PROTO_SEC;

	while (!*flag && proto_loop_now(e->loop) < until)
		assert_int_equal(proto_loop_run_once(e->loop, 100 * PROTO_MS),
		    0);
	assert_true(*flag);
}

/* A service that answers only when the test says so. */
static struct proto_request *held[8];
static int nheld;

static void
hold_command(void *state, struct proto_request *req,
    const struct proto_msg *m)
{
	(void)state;
	(void)m;
	if (nheld < 8)
		held[nheld++] = req;
	else
		proto_reply_status(req, EAGAIN, NULL);
}

static void
hold_close(void *state, struct proto_link *l)
{
	(void)state;
	(void)l;
}

static const struct proto_service_ops hold_ops = {
	NULL, hold_command, NULL, hold_close
};

static void
env_up(struct env *e, uint32_t window)
{
	struct proto_peer_config cfg;
	char err[256];

	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "/tmp/test_sched.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->addr, sizeof(e->addr), "unix:%s/s", e->dir);
	e->loop = proto_loop_new();
	assert_non_null(e->loop);
	proto_peer_config_init(&cfg);
	cfg.window = window;
	cfg.node = "server";
	e->server = proto_peer_new(e->loop, &cfg, err, sizeof(err));
	assert_non_null(e->server);
	assert_int_equal(proto_peer_serve(e->server, "echo",
	    &proto_echo_service, NULL), 0);
	assert_int_equal(proto_peer_serve(e->server, "hold", &hold_ops, NULL),
	    0);
	assert_int_equal(proto_peer_listen(e->server, e->addr, err,
	    sizeof(err)), 0);
	cfg.node = "client";
	e->client = proto_peer_new(e->loop, &cfg, err, sizeof(err));
	assert_non_null(e->client);
	e->s = proto_peer_connect(e->client, e->addr, &ops, e, err,
	    sizeof(err));
	assert_non_null(e->s);
	run_until(e, &e->up);
}

static void
env_down(struct env *e)
{
	proto_peer_free(e->client);
	proto_peer_free(e->server);
	proto_loop_run_once(e->loop, 0);
	proto_loop_free(e->loop);
	rmdir(e->dir);
}

struct order {
	int finals;		/* final replies seen so far */
	int small_at;		/* the small command's place among them */
	int all;
	int want;
};

static void
on_bulk(void *arg, struct proto_call *c, const struct proto_msg *m,
    int status, int final)
{
	struct order *o = arg;

	(void)c;
	assert_non_null(m);
	assert_int_equal(status, 0);
	if (final && ++o->finals == o->want)
		o->all = 1;
}

static void
on_small(void *arg, struct proto_call *c, const struct proto_msg *m,
    int status, int final)
{
	struct order *o = arg;

	(void)c;
	assert_non_null(m);
	assert_int_equal(status, 0);
	if (!final)
		return;
	o->small_at = ++o->finals;
	if (o->finals == o->want)
		o->all = 1;
}

static void
test_fair_between_links(void **state)
{
	static uint8_t bulk[32000];
	struct proto_builder *b;
	struct proto_link *a, *s;
	struct order o = { 0, 0, 0, 101 };
	struct env e;
	int i;

	(void)state;
	/* A small window makes the queues, not the network, hold the bulk. */
	env_up(&e, 131072);
	a = proto_link_open(e.s, "echo", NULL, NULL, NULL);
	s = proto_link_open(e.s, "echo", NULL, NULL, NULL);
	assert_non_null(a);
	assert_non_null(s);
	for (i = 0; i < 100; i++) {
		b = proto_cmd_begin(a, 0x7000);
		assert_non_null(b);
		proto_build_bytes(b, PROTO_ITEM_DATA, bulk, sizeof(bulk));
		assert_non_null(proto_cmd_send(a, on_bulk, &o));
	}
	b = proto_cmd_begin(s, 0x7001);
	assert_non_null(b);
	proto_build_u64(b, PROTO_ITEM_OFFSET, 1);
	assert_non_null(proto_cmd_send(s, on_small, &o));
	run_until(&e, &o.all);
	print_message("the small command was answered %dth of 101, behind "
	    "%d x 32000 bytes\n", o.small_at, o.small_at - 1);
	/* FIFO: 101st. Round robin: within a window's worth of bulk. */
	assert_true(o.small_at > 0);
	assert_true(o.small_at <= 8);
	env_down(&e);
}

static void
on_any(void *arg, struct proto_call *c, const struct proto_msg *m,
    int status, int final)
{
	int *n = arg;

	(void)c;
	(void)m;
	(void)status;
	if (final)
		(*n)++;
}

static void
test_msgid_wrap(void **state)
{
	struct proto_builder *b;
	struct proto_call *c[4];
	struct proto_link *h;
	struct env e;
	int done = 0, opened = 0, i;

	(void)state;
	nheld = 0;
	env_up(&e, 1u << 20);
	h = proto_link_open(e.s, "hold", NULL, on_any, &opened);
	assert_non_null(h);
	run_until(&e, &opened);
	/* LINK_OPEN took msgid 1 and is done; 2 stays outstanding. */
	b = proto_cmd_begin(h, 0x7000);
	c[0] = proto_cmd_send(h, on_any, &done);
	assert_non_null(b);
	assert_non_null(c[0]);
	assert_int_equal(proto_call_msgid(c[0]), 2);
	/* The allocator is about to wrap. */
	e.s->next_msgid = UINT32_MAX - 1;
	for (i = 1; i < 4; i++) {
		assert_non_null(proto_cmd_begin(h, 0x7000));
		c[i] = proto_cmd_send(h, on_any, &done);
		assert_non_null(c[i]);
	}
	/* UINT32_MAX, then 0 is never given, 1 is free again, 2 is taken. */
	assert_int_equal(proto_call_msgid(c[1]), UINT32_MAX);
	assert_int_equal(proto_call_msgid(c[2]), 1);
	assert_int_equal(proto_call_msgid(c[3]), 3);
	while (nheld < 4)
		assert_int_equal(proto_loop_run_once(e.loop, 100 * PROTO_MS),
		    0);
	for (i = 0; i < 4; i++)
		proto_reply_status(held[i], 0, NULL);
	while (done < 4)
		assert_int_equal(proto_loop_run_once(e.loop, 100 * PROTO_MS),
		    0);
	env_down(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fair_between_links),
		cmocka_unit_test(test_msgid_wrap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
