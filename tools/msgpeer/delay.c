/*
 * delay.c - "delay", a service for tests: a command in 0x7000-0x7fff is
 * answered as echo answers it (its items, then STATUS 0), but only after
 * the number of nanoseconds in its TIMESTAMP item (at most 60 s; none:
 * at once). A CANCEL ends the wait with ECANCELED. It gives CANCEL,
 * limits and resumes commands that stay outstanding for a while.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "msgpeer.h"
#include "proto_numbers.h"

#define DELAY_MAX	(60 * PROTO_SEC)

struct pending {
	struct pending *next, *prev;
	struct delay_link *dl;
	struct proto_request *req;
	struct proto_timer *t;
	size_t len;
	uint8_t items[];	/* the request's items, to echo */
};

struct delay_link {
	struct pending *head;
};

static struct proto_loop *delay_loop;

int
delay_service_init(struct proto_loop *loop)
{
	delay_loop = loop;
	return 0;
}

static void
unlink_pending(struct pending *p)
{
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		p->dl->head = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	proto_timer_free(p->t);
	free(p);
}

static void
answer(struct pending *p)
{
	struct proto_builder *b = proto_reply_begin(p->req);

	if (p->len > 0)
		proto_build_items(b, p->items, p->len);
	proto_build_u32(b, PROTO_ITEM_STATUS, 0);
	proto_reply_end(p->req, 1);
	unlink_pending(p);
}

static void
on_due(struct proto_timer *t, void *arg)
{
	(void)t;
	answer(arg);
}

static int
delay_open(void *svc, struct proto_link *l, const struct proto_msg *m,
    void **state)
{
	(void)svc;
	(void)l;
	(void)m;
	*state = calloc(1, sizeof(struct delay_link));
	return *state == NULL ? ENOMEM : 0;
}

static void
delay_command(void *state, struct proto_request *req,
    const struct proto_msg *m)
{
	struct delay_link *dl = state;
	struct proto_item it;
	struct pending *p;
	uint64_t ns = 0;
	uint16_t cmd = proto_msg_command(m);
	size_t len = m->length - PROTO_HDR_LEN;

	if (cmd < 0x7000 || cmd > 0x7fff) {
		proto_reply_status(req, ENOSYS, NULL);
		return;
	}
	if (proto_msg_find(m, PROTO_ITEM_TIMESTAMP, &it, NULL) > 0)
		(void)proto_item_u64(&it, &ns, NULL);
	p = malloc(sizeof(*p) + len);
	if (p == NULL) {
		proto_reply_status(req, ENOMEM, NULL);
		return;
	}
	memset(p, 0, sizeof(*p));
	p->dl = dl;
	p->req = req;
	p->len = len;
	memcpy(p->items, m->bytes + PROTO_HDR_LEN, len);
	p->t = proto_timer_new(delay_loop, on_due, p);
	if (p->t == NULL) {
		free(p);
		proto_reply_status(req, ENOMEM, NULL);
		return;
	}
	p->next = dl->head;
	if (dl->head != NULL)
		dl->head->prev = p;
	dl->head = p;
	proto_request_set_state(req, p);
	proto_timer_set(p->t, ns > DELAY_MAX ? DELAY_MAX : ns);
}

static void
delay_cancel(void *state, struct proto_request *req)
{
	struct pending *p = proto_request_state(req);

	(void)state;
	if (p == NULL)
		return;
	proto_reply_status(req, ECANCELED, "cancelled");
	unlink_pending(p);
}

/* The link is gone: its requests were answered or orphaned already. */
static void
delay_close(void *state, struct proto_link *l)
{
	struct delay_link *dl = state;

	(void)l;
	while (dl->head != NULL) {
		proto_reply_end(dl->head->req, 1);
		unlink_pending(dl->head);
	}
	free(dl);
}

const struct proto_service_ops delay_service = {
	delay_open, delay_command, delay_cancel, delay_close
};
