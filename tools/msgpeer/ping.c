/*
 * ping.c - msgpeer ping: session-level PING round trips, reported the
 * way ping(8) reports ICMP echoes.
 */
#include <err.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "msgpeer.h"

struct ping {
	struct run *r;
	struct proto_session *s;
	struct proto_timer *tick;
	long long sent, received;
	double min, max, sum, sum2;	/* ms */
	uint64_t start_ns;
	int up;
};

static void
on_pong(void *arg, struct proto_session *s, uint64_t rtt_ns)
{
	struct ping *p = arg;
	struct proto_session_info info;
	double ms = (double)rtt_ns / 1e6;

	proto_session_info(s, &info);
	p->received++;
	if (p->received == 1 || ms < p->min)
		p->min = ms;
	if (ms > p->max)
		p->max = ms;
	p->sum += ms;
	p->sum2 += ms * ms;
	/* -q: the summary only, as ping(8) -q. */
	if (p->r->o->verbose >= 0) {
		printf("reply from %s: seq=%lld time=%.3f ms\n",
		    peer_text(info.peer_node), p->sent, ms);
		fflush(stdout);
	}
	if (p->r->o->count > 0 && p->received >= p->r->o->count)
		proto_loop_stop(p->r->loop);
}

static void
send_ping(struct ping *p)
{
	if (proto_session_ping(p->s, on_pong, p) == 0)
		p->sent++;
	proto_timer_set(p->tick, (uint64_t)(p->r->o->interval * 1e9));
}

static void
on_tick(struct proto_timer *t, void *arg)
{
	struct ping *p = arg;

	(void)t;
	if (p->r->o->count > 0 && p->sent >= p->r->o->count) {
		/* The last one had its interval to come back. */
		proto_loop_stop(p->r->loop);
		return;
	}
	send_ping(p);
}

static void
on_event(void *arg, struct proto_session *s, enum proto_session_event ev,
    int error, const char *text)
{
	struct ping *p = arg;
	struct proto_session_info info;

	switch (ev) {
	case PROTO_EV_UP:
		proto_session_info(s, &info);
		printf("PING %s (node %s)\n", p->r->o->addr,
		    peer_text(info.peer_node));
		p->up = 1;
		p->start_ns = proto_loop_now(p->r->loop);
		send_ping(p);
		return;
	case PROTO_EV_LOST:
		if (error != ECANCELED)
			warnx("session lost: %s", text);
		p->s = NULL;
		proto_timer_stop(p->tick);
		proto_loop_stop(p->r->loop);
		return;
	default:
		return;
	}
}

static const struct proto_session_ops ping_ops = { on_event };

static void
report(const struct ping *p)
{
	double avg, mdev;
	uint64_t ms = (proto_loop_now(p->r->loop) - p->start_ns) / 1000000;

	printf("--- %s ping statistics ---\n", p->r->o->addr);
	printf("%lld transmitted, %lld received, %.0f%% loss, time %llums\n",
	    p->sent, p->received, p->sent ? 100.0 * (double)(p->sent -
	    p->received) / (double)p->sent : 0.0, (unsigned long long)ms);
	if (p->received == 0)
		return;
	avg = p->sum / (double)p->received;
	mdev = sqrt(fmax(0, p->sum2 / (double)p->received - avg * avg));
	printf("rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n", p->min,
	    avg, p->max, mdev);
}

int
cmd_ping(struct run *r)
{
	struct ping p;
	char errbuf[256];

	memset(&p, 0, sizeof(p));
	p.r = r;
	p.tick = proto_timer_new(r->loop, on_tick, &p);
	if (p.tick == NULL)
		err(2, "timer");
	p.s = proto_peer_connect(r->peer, r->o->addr, &ping_ops, &p, errbuf,
	    sizeof(errbuf));
	if (p.s == NULL)
		errx(2, "%s", errbuf);
	run_loop(r);
	proto_timer_stop(p.tick);
	if (p.up)
		report(&p);
	/* The LOST event of the close still touches p.tick. */
	run_close(r, &p.s);
	proto_timer_free(p.tick);
	return p.received > 0 ? 0 : 1;
}
