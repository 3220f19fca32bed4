/*
 * echo.c - msgpeer echo: commands on an echo link, P at a time, each
 * carrying OFFSET (its number) and DATA (a pattern derived from it).
 * Every reply is checked: the right number, the same bytes, STATUS 0,
 * exactly once. Reports throughput and latency percentiles; a session
 * that breaks and resumes under it must still get every reply once.
 */
#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "msgpeer.h"
#include "dissectors/histo.h"
#include "proto_numbers.h"
#include "tools/lib/cli.h"

#define PATTERN_PERIOD	251	/* a prime: offsets do not line up */

struct echo;

struct slot {
	struct echo *e;
	uint64_t n;		/* the command's number */
	uint64_t t0;		/* when it was sent, ns */
};

struct echo {
	struct run *r;
	struct proto_session *s;
	struct proto_link *link;
	uint64_t count, sent, done, failed, wrong;
	uint8_t *seen;		/* a bit per command: answered */
	uint8_t *pattern;	/* size + PATTERN_PERIOD bytes */
	struct slot *slots;
	struct histo lat;
	uint64_t start_ns, end_ns;
	struct progress progress;
	int finished;
	int refused;		/* the LINK_OPEN's STATUS, when not 0 */
	char why[160];		/* and its ERRTEXT */
};

static uint64_t
clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const uint8_t *
payload(const struct echo *e, uint64_t n)
{
	return e->pattern + n % PATTERN_PERIOD;
}

static void send_one(struct echo *e, struct slot *sl);

static void
finish(struct echo *e)
{
	if (e->finished)
		return;
	e->finished = 1;
	e->end_ns = clock_ns();
	progress_end(&e->progress);
	proto_loop_stop(e->r->loop);
}

/* The reply must say what the command said: OFFSET n, the same DATA. */
static int
check_reply(struct echo *e, const struct slot *sl, const struct proto_msg *m,
    int status)
{
	struct proto_item it;
	const uint8_t *data;
	uint64_t n = UINT64_MAX;
	size_t len = 0;

	if (status != 0)
		return -1;
	if (proto_msg_find(m, PROTO_ITEM_OFFSET, &it, NULL) <= 0 ||
	    proto_item_u64(&it, &n, NULL) < 0 || n != sl->n)
		return -1;
	if (e->r->o->size == 0)
		return 0;
	if (proto_msg_find(m, PROTO_ITEM_DATA, &it, NULL) <= 0 ||
	    proto_item_bytes(&it, &data, &len, -1, NULL) < 0 ||
	    len != (size_t)e->r->o->size ||
	    memcmp(data, payload(e, sl->n), len) != 0)
		return -1;
	return 0;
}

static void
on_reply(void *arg, struct proto_call *c, const struct proto_msg *m,
    int status, int final)
{
	struct slot *sl = arg;
	struct echo *e = sl->e;

	(void)c;
	if (e->refused) {
		/* No link: each command's EBADF says nothing more. */
		if (final)
			e->done++;
		return;
	}
	if (!final) {
		e->wrong++;	/* echo answers in one reply */
		return;
	}
	if (m == NULL) {
		e->failed++;
		say(PROTO_LOG_ERROR, "command %" PRIu64 " failed: %s", sl->n,
		    status_name(status));
	} else if ((e->seen[sl->n / 8] >> (sl->n % 8)) & 1) {
		e->wrong++;
		say(PROTO_LOG_ERROR, "command %" PRIu64 " answered twice",
		    sl->n);
	} else if (check_reply(e, sl, m, status) < 0) {
		e->wrong++;
		say(PROTO_LOG_ERROR, "command %" PRIu64 ": wrong echo (STATUS "
		    "%s)", sl->n, status_name(status));
	} else {
		histo_add(&e->lat, clock_ns() - sl->t0);
	}
	e->seen[sl->n / 8] |= (uint8_t)(1u << (sl->n % 8));
	e->done++;
	progress_update(&e->progress, 0, e->done);
	if (e->done == e->count) {
		finish(e);
		return;
	}
	if (e->sent < e->count && e->s != NULL)
		send_one(e, sl);
}

static void
send_one(struct echo *e, struct slot *sl)
{
	struct proto_builder *b;

	sl->n = e->sent;
	b = proto_cmd_begin(e->link, (uint16_t)e->r->o->command);
	if (b == NULL) {
		e->failed++;
		finish(e);
		return;
	}
	proto_build_u64(b, PROTO_ITEM_OFFSET, sl->n);
	if (e->r->o->size > 0)
		proto_build_bytes(b, PROTO_ITEM_DATA, payload(e, sl->n),
		    (size_t)e->r->o->size);
	sl->t0 = clock_ns();
	if (proto_cmd_send(e->link, on_reply, sl) == NULL) {
		say(PROTO_LOG_ERROR, "send: %s", status_name(errno));
		e->failed++;
		finish(e);
		return;
	}
	e->sent++;
}

static void
on_open(void *arg, struct proto_call *c, const struct proto_msg *m,
    int status, int final)
{
	struct echo *e = arg;
	struct proto_item it;
	const char *text;
	size_t n;

	(void)c;
	if (!final || status == 0)
		return;
	e->refused = status;
	if (m != NULL && proto_msg_find(m, PROTO_ITEM_ERRTEXT, &it, NULL) > 0 &&
	    proto_item_string(&it, &text, &n, NULL) == 0)
		proto_escape(e->why, sizeof(e->why), text, n);
	say(PROTO_LOG_ERROR, "opening a %s link: %s%s%s", e->r->o->service,
	    status_name(status), e->why[0] ? ": " : "", e->why);
	finish(e);
}

static void
on_event(void *arg, struct proto_session *s, enum proto_session_event ev,
    int error, const char *text)
{
	struct echo *e = arg;
	long long i;

	(void)error;
	switch (ev) {
	case PROTO_EV_UP:
		say(PROTO_LOG_INFO, "session up over %s", text);
		e->link = proto_link_open(s, e->r->o->service, NULL, on_open,
		    e);
		if (e->link == NULL) {
			e->failed = e->count;
			finish(e);
			return;
		}
		e->start_ns = clock_ns();
		/* Commands may follow LINK_OPEN at once: pipelined. */
		for (i = 0; i < e->r->o->parallel && e->sent < e->count; i++)
			send_one(e, &e->slots[i]);
		return;
	case PROTO_EV_DETACHED:
		say(PROTO_LOG_INFO, "transport lost (%s): resuming", text);
		return;
	case PROTO_EV_RESUMED:
		say(PROTO_LOG_INFO, "resumed over %s", text);
		return;
	case PROTO_EV_LOST:
		if (!e->finished)
			say(PROTO_LOG_ERROR, "session lost: %s", text);
		e->s = NULL;
		finish(e);
		proto_loop_stop(e->r->loop);
		return;
	}
}

static const struct proto_session_ops echo_ops = { on_event };

static void
report(const struct echo *e, const struct proto_session_info *info)
{
	double secs = (double)(e->end_ns - e->start_ns) / 1e9;
	const struct opts *o = e->r->o;

	printf("echo %s: %" PRIu64 " commands of %lld bytes, %lld in flight\n",
	    o->addr, e->count, o->size, o->parallel);
	if (e->refused) {
		printf("FAILED: no %s link: %s%s%s\n", o->service,
		    status_name(e->refused), e->why[0] ? ": " : "", e->why);
		return;
	}
	printf("%" PRIu64 " replies in %.3f s: %.0f commands/s, %.2f MB/s "
	    "each way\n", e->done, secs, secs > 0 ? (double)e->done / secs :
	    0.0, secs > 0 ? (double)e->done * (double)o->size / secs / 1e6 :
	    0.0);
	if (e->lat.count > 0)
		printf("latency p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f "
		    "ms\n", histo_percentile(&e->lat, 50) / 1e6,
		    histo_percentile(&e->lat, 90) / 1e6,
		    histo_percentile(&e->lat, 99) / 1e6, e->lat.max / 1e6);
	if (info != NULL)
		printf("session: %" PRIu64 " resumes, %" PRIu64
		    " retransmitted\n", info->resumes, info->retransmitted);
	if (e->failed > 0 || e->wrong > 0 || e->done < e->count)
		printf("FAILED: %" PRIu64 " failed, %" PRIu64 " wrong, %" PRIu64
		    " unanswered\n", e->failed, e->wrong, e->count - e->done);
}

int
cmd_echo(struct run *r)
{
	struct proto_session_info info;
	struct echo e;
	char errbuf[256];
	size_t i;
	int ok;

	memset(&e, 0, sizeof(e));
	e.r = r;
	e.count = r->o->count > 0 ? (uint64_t)r->o->count : 10000;
	e.seen = calloc(e.count / 8 + 1, 1);
	e.pattern = malloc((size_t)r->o->size + PATTERN_PERIOD);
	e.slots = calloc((size_t)r->o->parallel, sizeof(*e.slots));
	if (e.seen == NULL || e.pattern == NULL || e.slots == NULL)
		err(2, "out of memory");
	for (i = 0; i < (size_t)r->o->size + PATTERN_PERIOD; i++)
		e.pattern[i] = (uint8_t)(i * 7 + 3);
	for (i = 0; i < (size_t)r->o->parallel; i++)
		e.slots[i].e = &e;
	progress_init(&e.progress, 0, 1);
	e.s = proto_peer_connect(r->peer, r->o->addr, &echo_ops, &e, errbuf,
	    sizeof(errbuf));
	if (e.s == NULL)
		errx(2, "%s", errbuf);
	run_loop(r);
	if (e.end_ns == 0)
		e.end_ns = clock_ns();
	if (e.start_ns == 0)
		e.start_ns = e.end_ns;
	if (e.s != NULL)
		proto_session_info(e.s, &info);
	report(&e, e.s != NULL ? &info : NULL);
	ok = !e.refused && e.done == e.count && e.failed == 0 && e.wrong == 0;
	run_close(r, &e.s);
	free(e.seen);
	free(e.pattern);
	free(e.slots);
	return ok ? 0 : 1;
}
