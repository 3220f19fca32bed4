/*
 * peer.c - a node of the protocol: its configuration and services, the
 * addresses it listens on, the sessions it has, and the reconnecting
 * that keeps an initiator's session alive.
 *
 * Sessions are freed only at the end of a loop round (the reaper), so a
 * callback may end a session that is still on the stack below it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session_int.h"

struct listener {
	struct listener *next;
	struct proto_peer *peer;
	struct proto_listener *ls;
};

void
proto_peer_config_init(struct proto_peer_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->node = "msgkit";
	cfg->window = 1u << 20;
	cfg->max_inflight = 1024;
	cfg->max_links = 65536;
	cfg->max_memory = (size_t)64 << 20;
	cfg->max_total_memory = (size_t)256 << 20;
	cfg->max_sessions = 1024;
	cfg->max_conns = 1024;
	cfg->handshake_ns = 5 * PROTO_SEC;
	cfg->ping_idle_ns = 5 * PROTO_SEC;
	cfg->dead_ns = 15 * PROTO_SEC;
	cfg->session_timeout_ns = 30 * PROTO_SEC;
	cfg->ack_delay_ns = 20 * PROTO_MS;
	cfg->reconnect_min_ns = 50 * PROTO_MS;
	cfg->reconnect_max_ns = 2 * PROTO_SEC;
}

static void
reap(struct proto_defer *d, void *arg)
{
	struct proto_peer *p = arg;
	struct proto_session *s;
	struct lpi_conn *c;

	(void)d;
	while ((c = p->dead_conns) != NULL) {
		p->dead_conns = c->dead_next;
		free(c);
	}
	while ((s = p->dead) != NULL) {
		p->dead = s->next;
		lpi_session_free(s);
	}
	lpi_budget_trim(p);
}

static int
check_config(const struct proto_peer_config *cfg, char *err, size_t errlen)
{
	if (cfg->window < LPI_WINDOW_MIN) {
		snprintf(err, errlen, "window %u is below %u bytes",
		    cfg->window, LPI_WINDOW_MIN);
		return -1;
	}
	if (cfg->keylen > sizeof(((struct proto_peer *)0)->key)) {
		snprintf(err, errlen, "key longer than %zu bytes",
		    sizeof(((struct proto_peer *)0)->key));
		return -1;
	}
	if (cfg->max_memory < LPI_MEMORY_MIN ||
	    cfg->max_total_memory < cfg->max_memory) {
		snprintf(err, errlen, "the memory limit must be at least %u "
		    "bytes, the total at least the limit", LPI_MEMORY_MIN);
		return -1;
	}
	if (cfg->max_inflight == 0 || cfg->max_links == 0 ||
	    cfg->max_sessions == 0 || cfg->max_conns == 0 ||
	    cfg->handshake_ns == 0 ||
	    cfg->ping_idle_ns == 0 || cfg->dead_ns <= cfg->ping_idle_ns ||
	    cfg->reconnect_min_ns == 0 ||
	    cfg->reconnect_max_ns < cfg->reconnect_min_ns) {
		snprintf(err, errlen, "limits and times must be positive, "
		    "the dead-link time above the PING time");
		return -1;
	}
	return 0;
}

struct proto_peer *
proto_peer_new(struct proto_loop *loop, const struct proto_peer_config *cfg,
    char *err, size_t errlen)
{
	struct proto_peer *p;

	if (check_config(cfg, err, errlen) < 0)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		goto nomem;
	p->loop = loop;
	p->cfg = *cfg;
	snprintf(p->node, sizeof(p->node), "%s", cfg->node ? cfg->node :
	    "msgkit");
	p->cfg.node = p->node;
	if (cfg->keylen > 0)
		memcpy(p->key, cfg->key, cfg->keylen);
	p->keylen = cfg->keylen;
	p->cfg.key = NULL;
	p->rbuf = malloc(LPI_READ_MAX);
	p->reaper = proto_defer_new(loop, reap, p);
	p->rate_timer = proto_timer_new(loop, lpi_rate_timer, p);
	if (p->rbuf == NULL || p->reaper == NULL || p->rate_timer == NULL)
		goto nomem;
	proto_builder_init(&p->orphan_b);
	proto_builder_init(&p->ctrl_b);
	return p;
nomem:
	if (p != NULL) {
		if (p->reaper != NULL)
			proto_defer_free(p->reaper);
		if (p->rate_timer != NULL)
			proto_timer_free(p->rate_timer);
		free(p->rbuf);
		free(p);
	}
	snprintf(err, errlen, "out of memory");
	return NULL;
}

const struct service *
lpi_service(const struct proto_peer *p, const char *name, size_t len)
{
	const struct service *s;

	for (s = p->services; s != NULL; s = s->next)
		if (strlen(s->name) == len && memcmp(s->name, name, len) == 0)
			return s;
	return NULL;
}

int
proto_peer_serve(struct proto_peer *p, const char *name,
    const struct proto_service_ops *ops, void *svc)
{
	struct service *s;

	if (lpi_service(p, name, strlen(name)) != NULL) {
		errno = EEXIST;
		return -1;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->name = strdup(name)) == NULL) {
		free(s);
		return -1;
	}
	s->ops = ops;
	s->svc = svc;
	s->next = p->services;
	p->services = s;
	return 0;
}

struct proto_session *
lpi_session_new(struct proto_peer *p, int initiator)
{
	struct proto_session *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->peer = p;
	s->initiator = initiator;
	s->state = initiator ? LPI_CONNECTING : LPI_WAIT_HELLO;
	lpi_links_init(s);
	if (lpi_session_timers(s) < 0) {
		lpi_session_free(s);
		return NULL;
	}
	s->next = p->sessions;
	if (p->sessions != NULL)
		p->sessions->prev = s;
	p->sessions = s;
	lpi_recount(s);
	/* An initiator gets the session time-out to bring it up at all. */
	if (initiator)
		proto_timer_set(s->expire, p->cfg.session_timeout_ns);
	return s;
}

void
lpi_session_bury(struct proto_session *s)
{
	struct proto_peer *p = s->peer;

	if (s->prev != NULL)
		s->prev->next = s->next;
	else if (p->sessions == s)
		p->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	s->prev = NULL;
	s->next = p->dead;
	p->dead = s;
	lpi_budget_forget(s);
	proto_defer_post(p->reaper);
}

struct proto_session *
lpi_find_session(struct proto_peer *p, const uint8_t *id)
{
	struct proto_session *s;

	/* Only sessions this peer accepted: a peer that also connects must
	   not let a HELLO take over a session it initiated. */
	for (s = p->sessions; s != NULL; s = s->next)
		if (!s->initiator && s->was_up && s->state != LPI_DEAD &&
		    memcmp(s->id, id, LPI_SESSION_LEN) == 0)
			return s;
	return NULL;
}

/* --- accepting ---------------------------------------------------------- */

static void
on_accept(void *arg, struct proto_stream *st)
{
	struct listener *l = arg;
	struct proto_peer *p = l->peer;
	struct proto_session *s;

	if (lpi_admit_conn(p) < 0) {
		lpi_log_limited(p, &p->rate[LPI_RATE_SHED],
		    lpi_rate_peer_what[LPI_RATE_SHED],
		    PROTO_LOG_WARN, "%s: refused: %u transports, the limit",
		    st->peer, p->nconns);
		proto_stream_close(st);
		return;
	}
	s = lpi_session_new(p, 0);
	if (s == NULL || lpi_attach(s, st) < 0) {
		lpi_log(p, PROTO_LOG_ERROR, "%s: out of memory", st->peer);
		proto_stream_close(st);
		if (s != NULL) {
			s->state = LPI_DEAD;
			lpi_session_bury(s);
		}
		return;
	}
	s->accepted = p->cfg.accepted;
	s->arg = p->cfg.arg;
	lpi_log(p, PROTO_LOG_DEBUG, "accepted %s", st->peer);
}

/* Out of descriptors: a stranger still handshaking makes room. */
static int
on_full(void *arg)
{
	return lpi_shed_conn(arg) == 0;
}

int
proto_peer_listen(struct proto_peer *p, const char *addr, char *err,
    size_t errlen)
{
	struct proto_addr a;
	struct listener *l;

	if (proto_addr_parse(addr, &a, err, errlen) < 0)
		return -1;
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	l->peer = p;
	l->ls = proto_listen(p->loop, &a, on_accept, l, err, errlen);
	if (l->ls == NULL) {
		free(l);
		return -1;
	}
	proto_listener_on_full(l->ls, on_full, p);
	l->next = p->listeners;
	p->listeners = l;
	lpi_log(p, PROTO_LOG_INFO, "listening on %s",
	    proto_listener_addr(l->ls));
	return 0;
}

/* --- connecting and reconnecting ---------------------------------------- */

/*
 * A dial that failed. Before the session first came up the application
 * may want to know at once (a tool pointed at a wrong address): after
 * connect_tries failures the session is lost; the first failure is a
 * warning either way, so that a silent retry does not look like a hang.
 */
void
lpi_dial_failed(struct proto_session *s, int error, const char *msg)
{
	const struct proto_peer_config *cfg = &s->peer->cfg;
	char name[16];

	if (!s->was_up) {
		s->dials_failed++;
		if (cfg->connect_tries != 0 &&
		    s->dials_failed >= cfg->connect_tries) {
			lpi_lose(s, error, "%s", msg);
			return;
		}
	}
	if (!s->was_up && s->dials_failed == 1)
		lpi_log(s->peer, PROTO_LOG_WARN, "%s: retrying", msg);
	else
		lpi_log(s->peer, PROTO_LOG_INFO, "%s (%s)", msg,
		    proto_status_name((uint32_t)error, name, sizeof(name)));
	lpi_reconnect(s);
}

static void
on_dialed(void *arg, struct proto_stream *st, int error, const char *msg)
{
	struct proto_session *s = arg;

	s->dial = NULL;
	if (st == NULL) {
		lpi_dial_failed(s, error, msg);
		return;
	}
	if (lpi_attach(s, st) < 0) {
		proto_stream_close(st);
		lpi_reconnect(s);
		return;
	}
	lpi_log(s->peer, PROTO_LOG_DEBUG, "connected to %s", st->peer);
}

static void
dial_now(struct proto_session *s)
{
	s->dial = proto_dial(s->peer->loop, &s->addr, on_dialed, s);
	if (s->dial == NULL)
		lpi_lose(s, ENOMEM, "out of memory dialling %s", s->addr.text);
}

void
lpi_reconnect(struct proto_session *s)
{
	const struct proto_peer_config *cfg = &s->peer->cfg;

	if (s->state == LPI_DEAD || s->conn != NULL || s->dial != NULL)
		return;
	if (proto_timer_armed(s->retry))
		return;
	if (s->backoff_ns == 0) {
		s->backoff_ns = cfg->reconnect_min_ns;
		/* The first attempt, or the first after a break: at once. */
		dial_now(s);
		return;
	}
	proto_timer_set(s->retry, s->backoff_ns);
	s->backoff_ns *= 2;
	if (s->backoff_ns > cfg->reconnect_max_ns)
		s->backoff_ns = cfg->reconnect_max_ns;
}

void
lpi_retry_dial(struct proto_session *s)
{
	if (s->state == LPI_DEAD || s->conn != NULL || s->dial != NULL)
		return;
	dial_now(s);
}

struct proto_session *
proto_peer_connect(struct proto_peer *p, const char *addr,
    const struct proto_session_ops *ops, void *arg, char *err, size_t errlen)
{
	struct proto_session *s;
	struct proto_addr a;

	if (proto_addr_parse(addr, &a, err, errlen) < 0)
		return NULL;
	s = lpi_session_new(p, 1);
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->addr = a;
	s->ops = ops;
	s->arg = arg;
	lpi_reconnect(s);
	return s;
}

void
proto_peer_free(struct proto_peer *p)
{
	struct proto_session *s;
	struct listener *l;
	struct service *svc;

	while ((s = p->sessions) != NULL) {
		/*
		 * Closing: the transport closed after the GOODBYE then ends
		 * the session (buried, not yet freed), where a break would
		 * tell the application DETACHED and start a resume.
		 */
		if (lpi_flowing(s)) {
			s->state = LPI_CLOSING;
			lpi_closing_drained(s);
		}
		lpi_flush(s);
		lpi_lose(s, ECANCELED, "the peer is shutting down");
	}
	while ((l = p->listeners) != NULL) {
		p->listeners = l->next;
		proto_listener_free(l->ls);
		free(l);
	}
	while ((svc = p->services) != NULL) {
		p->services = svc->next;
		free(svc->name);
		free(svc);
	}
	reap(NULL, p);
	lpi_rate_flush_all(p);
	proto_timer_free(p->rate_timer);
	proto_defer_free(p->reaper);
	proto_builder_free(&p->orphan_b);
	proto_builder_free(&p->ctrl_b);
	lpi_outcache_clear(&p->outcache);
	free(p->rbuf);
	free(p);
}

void
proto_peer_info(const struct proto_peer *p, struct proto_peer_info *info)
{
	const struct proto_session *s;

	info->sessions = p->nsessions;
	info->conns = p->nconns;
	info->held_bytes = p->held;
	info->detached = 0;
	for (s = p->sessions; s != NULL; s = s->next)
		if (s->state == LPI_DETACHED)
			info->detached++;
}

size_t
proto_peer_sessions(const struct proto_peer *p)
{
	const struct proto_session *s;
	size_t n = 0;

	for (s = p->sessions; s != NULL; s = s->next)
		n++;
	return n;
}
