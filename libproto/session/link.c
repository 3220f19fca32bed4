/*
 * link.c - links, commands and replies: msgproto(7) section 4.
 *
 * Our side of a link is either local (we serve it: the peer bound it
 * with LINK_OPEN and holds references to it) or remote (the peer serves
 * it and we send commands on it). Link 0, the control link, is local to
 * both sides and carries LINK_OPEN.
 *
 * A command we send is a proto_call, found by msgid when its replies
 * come back. A command we receive is a proto_request, found by link and
 * msgid when a CANCEL names it; it lives until its final reply. When a
 * link dies its requests are answered ECANCELED and orphaned: the
 * service's own late reply is dropped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto_numbers.h"
#include "session_int.h"

#define LINKID_ACCEPTOR	(1ull << 63)	/* the acceptor's half of the ids */

static void free_link(struct proto_session *s, struct proto_link *l);
static void maybe_free_remote(struct proto_session *s, struct proto_link *l);
static void kill_local(struct proto_session *s, struct proto_link *l);
static void orphan_requests(struct proto_link *l);
static void **table_values(const struct lpi_table *t, size_t *n);
static int peer_half(const struct proto_session *s, uint64_t id);
static int bind_local(struct proto_session *s, uint64_t id,
    const struct proto_service_ops *ops, struct proto_link **out,
    const char **why);

void
lpi_links_init(struct proto_session *s)
{
	memset(&s->link0, 0, sizeof(s->link0));
	s->link0.s = s;
	s->link0.local = 1;
	s->link0.refs = 1;
	proto_builder_init(&s->b);
	proto_builder_init(&s->rb);
}

static struct proto_link *
link_get(struct proto_session *s, uint64_t id)
{
	if (id == 0)
		return &s->link0;
	return lpi_table_get(&s->links, id);
}

size_t
lpi_max_frame(const struct proto_session *s)
{
	/* A CRC item adds 8 bytes to a frame that is a multiple of 8. */
	if (s->peer->cfg.features & PROTO_FEATURE_CRC)
		return (PROTO_MSG_MAX - 8) & ~7u;
	return PROTO_FRAME_MAX;
}

int
lpi_queue_built(struct proto_session *s, struct proto_link *l,
    struct proto_builder *b)
{
	struct lpi_out *o;
	int len;

	len = proto_build_end(b);
	if (len < 0) {
		errno = b->err.reason == PROTO_E_NOMEM ? ENOMEM : EMSGSIZE;
		return -1;
	}
	if ((size_t)len > lpi_max_frame(s)) {
		errno = EMSGSIZE;
		return -1;
	}
	o = lpi_out_new(s->peer, proto_builder_data(b), (size_t)len, 8);
	if (o == NULL)
		return -1;
	lpi_send_seq(s, l, o);
	return 0;
}

int
lpi_queue_refusal(struct proto_session *s, struct proto_link *l,
    struct proto_builder *b)
{
	if (lpi_queue_built(s, l, b) < 0)
		return -1;
	if (l->qlink != NULL)
		l = l->qlink;	/* where lpi_send_seq put it */
	l->q_tail->refusal = 1;
	s->refused += l->q_tail->charge;
	return 0;
}

/* --- commands we send ---------------------------------------------------- */

static uint32_t
alloc_msgid(struct proto_session *s)
{
	do {
		s->next_msgid++;
	} while (s->next_msgid == 0 ||
	    lpi_table_get(&s->calls, s->next_msgid) != NULL);
	return s->next_msgid;
}

static uint64_t
alloc_linkid(struct proto_session *s)
{
	s->next_linkid++;
	return s->initiator ? s->next_linkid : s->next_linkid | LINKID_ACCEPTOR;
}

static int
usable(const struct proto_session *s)
{
	return s->state != LPI_DEAD && s->state != LPI_CLOSING;
}

struct proto_builder *
proto_cmd_begin(struct proto_link *l, uint16_t command)
{
	struct proto_session *s = l->s;

	if (!usable(s) || l->closed) {
		errno = ENOTCONN;
		return NULL;
	}
	/* Control commands are the session's; replies go through requests. */
	if (command <= PROTO_CONTROL_LAST || (command & PROTO_REPLY_BIT)) {
		errno = EINVAL;
		return NULL;
	}
	proto_builder_reset(&s->b);
	if (proto_build_begin(&s->b, l->id, 0, command) < 0) {
		errno = ENOMEM;
		return NULL;
	}
	s->building = l;
	return &s->b;
}

void
proto_cmd_abort(struct proto_link *l)
{
	if (l->s->building == l) {
		proto_build_abort(&l->s->b);
		l->s->building = NULL;
	}
}

static struct proto_call *
send_built(struct proto_link *l, proto_reply_fn *fn, void *arg)
{
	struct proto_session *s = l->s;
	struct proto_call *c;
	uint32_t msgid;

	if (s->building != l) {
		errno = EINVAL;
		return NULL;
	}
	s->building = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	msgid = alloc_msgid(s);
	proto_put32(s->b.buf + s->b.msg_start + 8, msgid);
	c->s = s;
	c->link = l;
	c->msgid = msgid;
	c->command = proto_get16(s->b.buf + s->b.msg_start + 12);
	c->fn = fn;
	c->arg = arg;
	if (lpi_table_put(&s->calls, msgid, c) < 0) {
		free(c);
		return NULL;
	}
	if (lpi_queue_built(s, l, &s->b) < 0) {
		lpi_table_del(&s->calls, msgid);
		free(c);
		return NULL;
	}
	l->calls++;
	return c;
}

struct proto_call *
proto_cmd_send(struct proto_link *l, proto_reply_fn *fn, void *arg)
{
	if (!usable(l->s)) {
		proto_cmd_abort(l);
		errno = ENOTCONN;
		return NULL;
	}
	return send_built(l, fn, arg);
}

uint32_t
proto_call_msgid(const struct proto_call *c)
{
	return c->msgid;
}

int
proto_call_cancel(struct proto_call *c)
{
	struct proto_builder *b;

	b = proto_cmd_begin(c->link, PROTO_CMD_CANCEL);
	if (b == NULL)
		return -1;
	proto_build_u32(b, PROTO_ITEM_TARGET, c->msgid);
	return send_built(c->link, NULL, NULL) == NULL ? -1 : 0;
}

struct proto_link *
proto_session_link0(struct proto_session *s)
{
	return &s->link0;
}

uint64_t
proto_link_id(const struct proto_link *l)
{
	return l->id;
}

struct proto_session *
proto_link_session(const struct proto_link *l)
{
	return l->s;
}

struct proto_link *
proto_link_open(struct proto_session *s, const char *service,
    const char *export_name, proto_reply_fn *fn, void *arg)
{
	struct proto_builder *b;
	struct proto_link *l;
	struct proto_call *c;

	if (!usable(s))
		return NULL;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	l->s = s;
	l->id = alloc_linkid(s);
	if (lpi_table_put(&s->links, l->id, l) < 0) {
		free(l);
		return NULL;
	}
	b = proto_cmd_begin(&s->link0, PROTO_CMD_LINK_OPEN);
	if (b == NULL)
		goto fail;
	proto_build_linkids(b, PROTO_ITEM_NEWLINK, &l->id, 1);
	proto_build_string(b, PROTO_ITEM_SERVICE, service, strlen(service));
	if (export_name != NULL)
		proto_build_string(b, PROTO_ITEM_EXPORT, export_name,
		    strlen(export_name));
	c = send_built(&s->link0, fn, arg);
	if (c == NULL)
		goto fail;
	c->opened = l;
	return l;
fail:
	lpi_table_del(&s->links, l->id);
	free(l);
	return NULL;
}

int
proto_link_close(struct proto_link *l, proto_reply_fn *fn, void *arg)
{
	struct proto_builder *b;

	if (l->local || l->closed) {
		errno = EINVAL;
		return -1;
	}
	b = proto_cmd_begin(l, PROTO_CMD_LINK_CLOSE);
	if (b == NULL)
		return -1;
	proto_build_u32(b, PROTO_ITEM_COUNT, 1);
	if (send_built(l, fn, arg) == NULL)
		return -1;
	l->closed = 1;
	return 0;
}

/* --- links a service hands out, and links borrowed ------------------------ */

/*
 * A family: the links made from a parent share the send queue of the
 * parent's family root, so that a command pipelined on a new link goes
 * out behind the command that binds it, as sent; families are still
 * served round robin against each other and against other links.
 */
struct proto_link *
proto_link_new(struct proto_link *parent)
{
	struct proto_session *s = parent->s;
	struct proto_link *l, *root;

	if (!usable(s)) {
		errno = ENOTCONN;
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	l->s = s;
	l->id = alloc_linkid(s);
	l->holds = 1;
	if (lpi_table_put(&s->links, l->id, l) < 0) {
		free(l);
		return NULL;
	}
	root = parent->qlink != NULL ? parent->qlink : parent;
	l->qlink = root;
	root->qusers++;
	return l;
}

struct proto_link *
proto_link_borrow(struct proto_session *s, uint64_t id)
{
	struct proto_link *l = link_get(s, id);

	if (l != NULL && l != &s->link0 && !l->local && !l->closed) {
		l->holds++;
		return l;
	}
	if (l != NULL || !peer_half(s, id) || !usable(s)) {
		errno = l != NULL || !usable(s) ? EBADF : EINVAL;
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	l->s = s;
	l->id = id;
	l->holds = 1;
	if (lpi_table_put(&s->links, l->id, l) < 0) {
		free(l);
		return NULL;
	}
	return l;
}

void
proto_link_forget(struct proto_link *l)
{
	if (l->local || l->holds == 0)
		return;
	if (--l->holds > 0)
		return;
	l->closed = 1;
	maybe_free_remote(l->s, l);
}

void
proto_link_set_handler(struct proto_link *l,
    const struct proto_service_ops *ops, void *state)
{
	if (l->local)
		return;
	l->ops = ops;
	l->state = state;
}

int
proto_link_bind(struct proto_request *req, uint64_t id,
    const struct proto_service_ops *ops, void *state,
    struct proto_link **out, const char **why)
{
	struct proto_link *l;
	int err;

	*why = NULL;
	if (req->s == NULL || req->s->state == LPI_DEAD)
		return ECANCELED;
	err = bind_local(req->s, id, ops, &l, why);
	if (err != 0)
		return err;
	l->state = state;
	if (out != NULL)
		*out = l;
	return 0;
}

struct proto_link *
proto_link_export(struct proto_session *s,
    const struct proto_service_ops *ops, void *state)
{
	struct proto_link *l;

	if (!usable(s)) {
		errno = ENOTCONN;
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	l->s = s;
	l->id = alloc_linkid(s);
	l->local = 1;
	l->ops = ops;
	l->state = state;
	if (lpi_table_put(&s->links, l->id, l) < 0) {
		free(l);
		return NULL;
	}
	s->nlocal++;
	lpi_hold(s, lpi_link_cost());
	return l;
}

void *
proto_link_served(struct proto_session *s, uint64_t id,
    const struct proto_service_ops *ops)
{
	struct proto_link *l = link_get(s, id);

	if (l == NULL || l == &s->link0 || !l->local || l->closed ||
	    l->ops != ops)
		return NULL;
	return l->state;
}

struct wait {
	int done;
	int status;
	uint8_t *copy;
};

static void
wait_reply(void *arg, struct proto_call *c, const struct proto_msg *m,
    int status, int final)
{
	struct wait *w = arg;

	(void)c;
	if (!final)
		return;
	w->done = 1;
	w->status = status;
	if (m != NULL) {
		w->copy = malloc(m->length);
		if (w->copy != NULL) {
			memcpy(w->copy, m->bytes, m->length);
			/* Without its CRC item m is shorter than it came. */
			proto_put16(w->copy + 14, m->length);
		}
	}
}

int
proto_call_wait(struct proto_link *l, uint16_t command,
    void (*items)(struct proto_builder *b, void *arg), void *arg,
    uint8_t **reply)
{
	struct proto_loop *loop = l->s->peer->loop;
	struct proto_builder *b;
	struct wait w = { 0, 0, NULL };

	if (reply != NULL)
		*reply = NULL;
	/* Refuse before sending: the reply could never be waited for. */
	if (proto_loop_in_callback(loop))
		return -EDEADLK;
	b = proto_cmd_begin(l, command);
	if (b == NULL)
		return -errno;
	if (items != NULL)
		items(b, arg);
	if (proto_cmd_send(l, wait_reply, &w) == NULL)
		return -errno;
	/* The final callback comes once, from the loop: reply or failure. */
	while (!w.done)
		if (proto_loop_run_once(loop, UINT64_MAX) < 0)
			return -errno;
	if (reply != NULL)
		*reply = w.copy;
	else
		free(w.copy);
	return w.status;
}

/* --- replies to our commands ---------------------------------------------- */

static int
msg_has(const struct proto_msg *m, uint16_t type)
{
	struct proto_item it;

	return proto_msg_find(m, type, &it, NULL) > 0;
}

/* A remote link with nothing outstanding, closed or refused: free it. */
static void
maybe_free_remote(struct proto_session *s, struct proto_link *l)
{
	if (l != &s->link0 && !l->local && l->closed && l->calls == 0 &&
	    l->q == NULL && l->qusers == 0)
		free_link(s, l);
}

static void
call_done(struct proto_session *s, struct proto_call *c)
{
	struct proto_link *l = c->link;

	lpi_table_del(&s->calls, c->msgid);
	l->calls--;
	free(c);
	maybe_free_remote(s, l);
}

static void
on_reply(struct proto_session *s, const struct proto_msg *m)
{
	struct proto_call *c = lpi_table_get(&s->calls, m->msgid);
	int final = !msg_has(m, PROTO_ITEM_MORE);
	uint32_t status = proto_msg_status(m);

	if (c == NULL || c->link->id != m->linkid ||
	    c->command != proto_msg_command(m)) {
		lpi_log_limited(s->peer, &s->rate[LPI_RATE_STRAY],
		    lpi_rate_session_what[LPI_RATE_STRAY], PROTO_LOG_WARN,
		    "reply to no outstanding "
		    "command: link 0x%llx msg %u command 0x%04x: dropped",
		    (unsigned long long)m->linkid, m->msgid,
		    proto_msg_command(m));
		return;
	}
	if (final && c->opened != NULL && status != 0)
		c->opened->closed = 1;
	if (c->fn != NULL)
		c->fn(c->arg, c, m, (int)status, final);
	if (final) {
		if (c->command == PROTO_CMD_LINK_CLOSE)
			c->link->closed = 1;
		if (c->opened != NULL)
			maybe_free_remote(s, c->opened);
		call_done(s, c);
	}
}

/* --- requests we serve ----------------------------------------------------- */

/* A reply to a message no request was made for: EBADF, EAGAIN... */
static void
reply_direct(struct proto_session *s, struct proto_link *l,
    const struct proto_msg *m, uint32_t status, const char *text)
{
	struct proto_builder *b = &s->rb;

	proto_builder_reset(b);
	proto_build_begin(b, m->linkid, m->msgid,
	    proto_msg_command(m) | PROTO_REPLY_BIT);
	proto_build_u32(b, PROTO_ITEM_STATUS, status);
	if (text != NULL)
		proto_build_string(b, PROTO_ITEM_ERRTEXT, text, strlen(text));
	if (lpi_queue_refusal(s, l, b) < 0)
		lpi_log_limited(s->peer, &s->rate[LPI_RATE_LOST],
		    lpi_rate_session_what[LPI_RATE_LOST], PROTO_LOG_WARN,
		    "reply to msg %u lost: %s", m->msgid, strerror(errno));
}

static struct proto_request *
request_new(struct proto_session *s, struct proto_link *l,
    const struct proto_msg *m)
{
	struct proto_request *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->peer = s->peer;
	r->s = s;
	r->link = l;
	r->msgid = m->msgid;
	r->command = proto_msg_command(m);
	if (lpi_table_put(&l->requests, m->msgid, r) < 0) {
		free(r);
		return NULL;
	}
	s->nrequests++;
	/* A service may keep the command's bytes until it answers. */
	r->charge = lpi_request_cost(m->length);
	lpi_hold(s, r->charge);
	return r;
}

/* Forget req: out of its link's table; its CANCELs are answered. */
static void
request_end(struct proto_request *req)
{
	struct proto_request *c, *next;
	struct proto_session *s = req->s;

	if (s != NULL) {
		lpi_table_del(&req->link->requests, req->msgid);
		s->nrequests--;
		lpi_unhold(s, req->charge);
	}
	for (c = req->cancels; c != NULL; c = next) {
		next = c->cancel_next;
		proto_reply_status(c, 0, NULL);
	}
	free(req);
}

struct proto_builder *
proto_reply_begin(struct proto_request *req)
{
	struct proto_builder *b;
	uint64_t linkid = req->link != NULL ? req->link->id : 0;

	b = req->s != NULL ? &req->s->rb : &req->peer->orphan_b;
	proto_builder_reset(b);
	proto_build_begin(b, linkid, req->msgid,
	    req->command | PROTO_REPLY_BIT);
	req->replying = 1;
	return b;
}

int
proto_reply_end(struct proto_request *req, int final)
{
	struct proto_session *s = req->s;
	struct proto_builder *b;
	int rc = -1, err;

	if (!req->replying)
		proto_reply_begin(req);
	req->replying = 0;
	b = s != NULL ? &s->rb : &req->peer->orphan_b;
	if (!final)
		proto_build_empty(b, PROTO_ITEM_MORE);
	if (s != NULL && s->state != LPI_DEAD)
		rc = lpi_queue_built(s, req->link, b);
	else
		proto_build_abort(b);
	if (rc < 0 && s != NULL && s->state != LPI_DEAD) {
		err = errno;
		lpi_log_limited(s->peer, &s->rate[LPI_RATE_LOST],
		    lpi_rate_session_what[LPI_RATE_LOST], PROTO_LOG_WARN,
		    "reply to msg %u dropped: %s", req->msgid, strerror(err));
		/* The command must still end: a final reply that fits. */
		if (final) {
			proto_builder_reset(b);
			proto_build_begin(b, req->link->id, req->msgid,
			    req->command | PROTO_REPLY_BIT);
			proto_build_u32(b, PROTO_ITEM_STATUS,
			    err == ENOMEM ? ENOMEM : EMSGSIZE);
			proto_build_string(b, PROTO_ITEM_ERRTEXT,
			    "the reply did not fit", 21);
			(void)lpi_queue_built(s, req->link, b);
		}
		errno = err;
	}
	if (final)
		request_end(req);
	return rc;
}

int
proto_reply_status(struct proto_request *req, int status, const char *text)
{
	struct proto_builder *b = proto_reply_begin(req);

	proto_build_u32(b, PROTO_ITEM_STATUS, (uint32_t)status);
	if (text != NULL)
		proto_build_string(b, PROTO_ITEM_ERRTEXT, text, strlen(text));
	return proto_reply_end(req, 1);
}

uint16_t
proto_request_command(const struct proto_request *r)
{
	return r->command;
}

uint32_t
proto_request_msgid(const struct proto_request *r)
{
	return r->msgid;
}

struct proto_link *
proto_request_link(const struct proto_request *r)
{
	return r->link;
}

void *
proto_request_state(const struct proto_request *r)
{
	return r->state;
}

void
proto_request_set_state(struct proto_request *r, void *state)
{
	r->state = state;
}

/* --- link 0: LINK_OPEN ------------------------------------------------------ */

/* An id the peer may choose: its own half, not 0. */
static int
peer_half(const struct proto_session *s, uint64_t id)
{
	if (id == 0)
		return 0;
	/* The peer of an initiator is an acceptor, and the other way. */
	return s->initiator ? (id & LINKID_ACCEPTOR) != 0 :
	    (id & LINKID_ACCEPTOR) == 0;
}

static int
read_string(const struct proto_msg *m, uint16_t type, char *buf, size_t len)
{
	struct proto_item it;
	const char *str;
	size_t n;

	if (proto_msg_find(m, type, &it, NULL) <= 0 ||
	    proto_item_string(&it, &str, &n, NULL) < 0 || n >= len)
		return -1;
	memcpy(buf, str, n);
	buf[n] = '\0';
	return 0;
}

/*
 * Serve id for the peer: what LINK_OPEN and a service's NEWLINK share.
 * What is wrong with the request goes before what is full.
 */
static int
bind_local(struct proto_session *s, uint64_t id,
    const struct proto_service_ops *ops, struct proto_link **out,
    const char **why)
{
	struct proto_link *l;

	if (!peer_half(s, id)) {
		*why = "NEWLINK is not from the sender's half of the ids";
		return EINVAL;
	}
	if (link_get(s, id) != NULL) {
		*why = "NEWLINK is in use";
		return EEXIST;
	}
	if (s->nlocal >= s->peer->cfg.max_links) {
		*why = "too many links";
		return EMFILE;
	}
	if (!lpi_may_hold(s, lpi_link_cost())) {
		*why = "out of memory for this session";
		return EAGAIN;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL || lpi_table_put(&s->links, id, l) < 0) {
		free(l);
		*why = NULL;
		return ENOMEM;
	}
	l->s = s;
	l->id = id;
	l->local = 1;
	l->refs = 1;
	l->ops = ops;
	s->nlocal++;
	lpi_hold(s, lpi_link_cost());
	*out = l;
	return 0;
}

/* A link that was bound and refused by its service: gone without trace. */
static void
unbind_local(struct proto_session *s, struct proto_link *l)
{
	lpi_table_del(&s->links, l->id);
	s->nlocal--;
	lpi_unhold(s, lpi_link_cost());
	lpi_table_free(&l->requests);
	free(l);
}

static int
open_link(struct proto_session *s, const struct proto_msg *m,
    const char **why)
{
	const struct service *svc;
	struct proto_link *l;
	struct proto_item it;
	char name[256];
	size_t n;
	int err;

	if (proto_msg_find(m, PROTO_ITEM_NEWLINK, &it, NULL) <= 0 ||
	    proto_item_linkids(&it, &n, NULL) < 0 || n != 1 ||
	    read_string(m, PROTO_ITEM_SERVICE, name, sizeof(name)) < 0) {
		*why = "LINK_OPEN needs NEWLINK and SERVICE";
		return EINVAL;
	}
	svc = lpi_service(s->peer, name, strlen(name));
	if (svc == NULL && peer_half(s, proto_item_linkid(&it, 0)) &&
	    link_get(s, proto_item_linkid(&it, 0)) == NULL) {
		*why = "no such service";
		return ENOENT;
	}
	err = bind_local(s, proto_item_linkid(&it, 0),
	    svc != NULL ? svc->ops : NULL, &l, why);
	if (err != 0)
		return err;
	if (svc->ops->open != NULL)
		err = svc->ops->open(svc->svc, l, m, &l->state);
	if (err != 0) {
		unbind_local(s, l);
		*why = NULL;
		return err;
	}
	return 0;
}

static void
on_link0(struct proto_session *s, const struct proto_msg *m)
{
	const char *why = NULL;
	int err;

	switch (proto_msg_command(m)) {
	case PROTO_CMD_LINK_OPEN:
		err = open_link(s, m, &why);
		reply_direct(s, &s->link0, m, (uint32_t)err, err ? why : NULL);
		return;
	case PROTO_CMD_ADVERTISE:
		/* Only a relay routes by what peers advertise. */
		reply_direct(s, &s->link0, m, 0, NULL);
		return;
	default:
		reply_direct(s, &s->link0, m, ENOSYS,
		    "not a command of link 0");
		return;
	}
}

/* --- LINK_CLOSE and CANCEL ---------------------------------------------------- */

/*
 * A request of a dying link that its service did not answer: ECANCELED
 * goes to the peer now, then the replies of the CANCELs waiting for it,
 * and the request is orphaned, not freed: the service still holds it
 * and must finish it (its late reply is dropped, the request freed
 * then), as proto_session.h promises.
 */
static void
cancel_request(struct proto_session *s, struct proto_link *l,
    struct proto_request *r)
{
	struct proto_builder *b = &s->rb;
	struct proto_request *c, *next;

	proto_builder_reset(b);
	proto_build_begin(b, l->id, r->msgid, r->command | PROTO_REPLY_BIT);
	proto_build_u32(b, PROTO_ITEM_STATUS, ECANCELED);
	proto_build_string(b, PROTO_ITEM_ERRTEXT, "link closed", 11);
	if (lpi_queue_built(s, l, b) < 0)
		lpi_log_limited(s->peer, &s->rate[LPI_RATE_LOST],
		    lpi_rate_session_what[LPI_RATE_LOST], PROTO_LOG_WARN,
		    "reply to msg %u lost: %s", r->msgid, strerror(errno));
	lpi_table_del(&l->requests, r->msgid);
	s->nrequests--;
	lpi_unhold(s, r->charge);
	r->s = NULL;
	r->link = NULL;
	c = r->cancels;
	r->cancels = NULL;
	for (; c != NULL; c = next) {
		next = c->cancel_next;
		proto_reply_status(c, 0, NULL);
	}
}

/*
 * Commands we sent on a link we serve (VFS_NOTIFY, CACHE_INVALIDATE to
 * its holder) cannot be answered once it is gone: they fail here, each
 * once, so that nothing points at the freed link.
 */
static void
fail_calls_on(struct proto_session *s, struct proto_link *l)
{
	struct proto_call *c;
	void **v;
	size_t n, i;

	if (l->calls == 0)
		return;
	v = table_values(&s->calls, &n);
	for (i = 0; v != NULL && i < n; i++) {
		c = v[i];
		if (c->link != l)
			continue;
		lpi_table_del(&s->calls, c->msgid);
		l->calls--;
		if (c->fn != NULL)
			c->fn(c->arg, c, NULL, ECANCELED, 1);
		free(c);
	}
	free(v);
}

/*
 * The link's last reference went: its requests are answered ECANCELED
 * and orphaned, the service hears of it, and the link's queued replies
 * move to link 0's queue so they still go out, in order, after the
 * link itself is gone.
 */
static void
kill_local(struct proto_session *s, struct proto_link *l)
{
	struct lpi_table *t = &l->requests;
	struct proto_request *r;
	uint32_t msgid;
	size_t i;

	l->closed = 1;
	lpi_table_del(&s->links, l->id);
	s->nlocal--;
	lpi_unhold(s, lpi_link_cost());
	for (;;) {
		/* CANCELs are answered when their targets end: skip them. */
		r = NULL;
		for (i = 0; i < t->n; i++) {
			r = t->slots[i].val;
			if (r != NULL && r->command != PROTO_CMD_CANCEL)
				break;
			r = NULL;
		}
		if (r == NULL)
			break;
		if (l->ops->cancel != NULL && !r->cancelled) {
			/* The hook may answer r, which frees it. */
			msgid = r->msgid;
			r->cancelled = 1;
			l->ops->cancel(l->state, r);
			if (lpi_table_get(t, msgid) != r)
				continue;
		}
		cancel_request(s, l, r);
	}
	fail_calls_on(s, l);
	if (l->ops->close != NULL)
		l->ops->close(l->state, l);
	free_link(s, l);
}

void
proto_link_unexport(struct proto_link *l)
{
	if (!l->local || l->closed || l == &l->s->link0)
		return;
	kill_local(l->s, l);
}

static void
on_link_close(struct proto_session *s, struct proto_link *l,
    const struct proto_msg *m)
{
	struct proto_item it;
	uint32_t count = 1;

	if (proto_msg_find(m, PROTO_ITEM_COUNT, &it, NULL) > 0 &&
	    proto_item_u32(&it, &count, NULL) < 0)
		count = 0;
	if (count == 0 || count > l->refs) {
		reply_direct(s, l, m, EINVAL, count == 0 ?
		    "COUNT must be 1 or more" :
		    "COUNT exceeds the references held");
		return;
	}
	l->refs -= count;
	if (l->refs > 0) {
		reply_direct(s, l, m, 0, NULL);
		return;
	}
	/* The link's queue moves to link 0's: the reply follows it there. */
	kill_local(s, l);
	reply_direct(s, &s->link0, m, 0, NULL);
}

/*
 * CANCEL: the target gets exactly one final reply, its own or
 * ECANCELED, and the CANCEL's reply follows it. So the CANCEL is held as
 * a request of its own until the target's final reply has been queued.
 */
static void
on_cancel(struct proto_session *s, struct proto_link *l,
    const struct proto_msg *m)
{
	struct proto_request *target, *c, **tail;
	struct proto_item it;
	uint32_t msgid;

	if (proto_msg_find(m, PROTO_ITEM_TARGET, &it, NULL) <= 0 ||
	    proto_item_u32(&it, &msgid, NULL) < 0) {
		reply_direct(s, l, m, EINVAL, "CANCEL needs TARGET");
		return;
	}
	target = lpi_table_get(&l->requests, msgid);
	if (target == NULL) {
		reply_direct(s, l, m, ESRCH, "no such command outstanding");
		return;
	}
	if (target->command == PROTO_CMD_CANCEL) {
		reply_direct(s, l, m, EINVAL, "a CANCEL cannot be cancelled");
		return;
	}
	/* A target already cancelled: this one frees nothing more. */
	if (target->cancels != NULL &&
	    s->nrequests >= s->peer->cfg.max_inflight) {
		reply_direct(s, l, m, EAGAIN, "too many commands outstanding");
		return;
	}
	c = request_new(s, l, m);
	if (c == NULL) {
		reply_direct(s, l, m, EAGAIN, NULL);
		return;
	}
	c->cancel_target = msgid;
	/* Answered in the order they came, after the target. */
	for (tail = &target->cancels; *tail != NULL;
	    tail = &(*tail)->cancel_next)
		;
	c->cancel_next = NULL;
	*tail = c;
	if (!target->cancelled && l->ops != NULL && l->ops->cancel != NULL) {
		target->cancelled = 1;
		l->ops->cancel(l->state, target);
	}
}

static int
over_limits(struct proto_session *s, const struct proto_msg *m)
{
	return s->nrequests >= s->peer->cfg.max_inflight ||
	    !lpi_may_hold(s, lpi_request_cost(m->length));
}

static void
on_command(struct proto_session *s, const struct proto_msg *m)
{
	struct proto_link *l = link_get(s, m->linkid);
	struct proto_request *req;

	if (l == &s->link0) {
		on_link0(s, m);
		return;
	}
	/* A link we hold takes the commands of its owner if we said so. */
	if (l == NULL || l->closed || (!l->local && l->ops == NULL)) {
		reply_direct(s, &s->link0, m, EBADF, "no such link");
		return;
	}
	if (lpi_table_get(&l->requests, m->msgid) != NULL) {
		lpi_protocol_error(s, "msgid %u reused while outstanding on "
		    "link 0x%llx", m->msgid, (unsigned long long)l->id);
		return;
	}
	switch (proto_msg_command(m)) {
	case PROTO_CMD_LINK_CLOSE:
		on_link_close(s, l, m);
		return;
	case PROTO_CMD_CANCEL:
		on_cancel(s, l, m);
		return;
	default:
		break;
	}
	if (over_limits(s, m)) {
		reply_direct(s, l, m, EAGAIN, "too many commands outstanding");
		return;
	}
	req = request_new(s, l, m);
	if (req == NULL) {
		reply_direct(s, l, m, ENOMEM, NULL);
		return;
	}
	l->ops->command(l->state, req, m);
}

void
lpi_dispatch(struct proto_session *s, const struct proto_msg *m)
{
	if (proto_msg_is_reply(m))
		on_reply(s, m);
	else
		on_command(s, m);
}

/* --- the end of a session --------------------------------------------------- */

static void
free_link(struct proto_session *s, struct proto_link *l)
{
	struct lpi_out *q = l->q;

	if (l == &s->link0)
		return;
	lpi_table_del(&s->links, l->id);
	lpi_ring_remove(s, l);
	if (l->qlink != NULL) {
		l->qlink->qusers--;
		/* The root may have waited for its family to go. */
		if (l->qlink->qusers == 0 && l->qlink != &s->link0 &&
		    !l->qlink->local)
			maybe_free_remote(s, l->qlink);
		l->qlink = NULL;
	}
	/* Queued messages go on, after link 0's, in their order. */
	if (q != NULL) {
		if (s->link0.q_tail != NULL)
			s->link0.q_tail->next = q;
		else
			s->link0.q = q;
		s->link0.q_tail = l->q_tail;
		l->q = l->q_tail = NULL;
		lpi_ring_add(s, &s->link0);
	}
	if (s->building == l) {
		proto_build_abort(&s->b);
		s->building = NULL;
	}
	/* Commands its owner sent on a link we held: replies dropped. */
	s->nrequests -= (uint32_t)l->requests.used;
	orphan_requests(l);
	free(l);
}

/* Every value of a table, so callbacks may change the table. */
static void **
table_values(const struct lpi_table *t, size_t *n)
{
	void **v = calloc(t->used ? t->used : 1, sizeof(*v));
	size_t i;

	*n = 0;
	if (v == NULL)
		return NULL;
	for (i = 0; i < t->n; i++)
		if (t->slots[i].val != NULL)
			v[(*n)++] = t->slots[i].val;
	return v;
}

static void
orphan_requests(struct proto_link *l)
{
	struct lpi_table *t = &l->requests;
	struct proto_request *r;
	size_t i;

	for (i = 0; i < t->n; i++) {
		r = t->slots[i].val;
		if (r == NULL)
			continue;
		lpi_unhold(r->s, r->charge);
		r->s = NULL;
		r->link = NULL;
	}
	lpi_table_free(t);
}

void
lpi_links_lose(struct proto_session *s, int error)
{
	struct proto_call *c;
	struct proto_link *l;
	void **v;
	size_t n, i;

	/* Our commands fail, each once. */
	v = table_values(&s->calls, &n);
	for (i = 0; v != NULL && i < n; i++) {
		c = v[i];
		lpi_table_del(&s->calls, c->msgid);
		if (c->fn != NULL)
			c->fn(c->arg, c, NULL, error, 1);
		free(c);
	}
	free(v);
	/* Links: services hear of theirs; requests are orphaned. */
	v = table_values(&s->links, &n);
	for (i = 0; v != NULL && i < n; i++) {
		l = v[i];
		orphan_requests(l);
		if (l->local && l->ops->close != NULL)
			l->ops->close(l->state, l);
		if (l->local)
			lpi_unhold(s, lpi_link_cost());
		lpi_table_del(&s->links, l->id);
		lpi_ring_remove(s, l);
		lpi_out_drop_list(s, l->q);
		l->q = NULL;
		free(l);
	}
	free(v);
	orphan_requests(&s->link0);
	s->nlocal = 0;
	s->nrequests = 0;
}

void
lpi_links_free(struct proto_session *s)
{
	lpi_links_lose(s, ECONNRESET);
	lpi_table_free(&s->links);
	lpi_table_free(&s->calls);
	proto_builder_free(&s->b);
	proto_builder_free(&s->rb);
}
