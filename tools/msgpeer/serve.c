/*
 * serve.c - msgpeer serve and msgpeer connect: a peer that keeps its
 * sessions and serves echo and delay on them until a signal, logging
 * session events (-v).
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "msgpeer.h"

static void
describe(struct proto_session *s, const char *what, const char *text)
{
	struct proto_session_info info;

	proto_session_info(s, &info);
	say(PROTO_LOG_INFO, "session %02x%02x%02x%02x with %s %s%s%s "
	    "(sent %llu, received %llu, retransmitted %llu)", info.id[0],
	    info.id[1], info.id[2], info.id[3],
	    info.peer_node[0] ? peer_text(info.peer_node) : "?", what,
	    text && *text ? ": " : "", text ? text : "",
	    (unsigned long long)info.sent, (unsigned long long)info.received,
	    (unsigned long long)info.retransmitted);
}

static const char *
event_name(enum proto_session_event ev)
{
	switch (ev) {
	case PROTO_EV_UP:
		return "up";
	case PROTO_EV_DETACHED:
		return "detached";
	case PROTO_EV_RESUMED:
		return "resumed";
	default:
		return "lost";
	}
}

/*
 * stdio and fd: give one stream and no other: resuming over them is
 * impossible, so the server ends when that stream's session ends or its
 * transport breaks, instead of waiting out the session time-out.
 */
static int
one_shot(const struct opts *o)
{
	int i;

	for (i = 0; i < o->nlisten; i++)
		if (strcmp(o->listen[i], "stdio") != 0 &&
		    strncmp(o->listen[i], "fd:", 3) != 0)
			return 0;
	return 1;
}

void
serve_event(void *arg, struct proto_session *s, enum proto_session_event ev,
    int error, const char *text)
{
	struct run *r = arg;

	(void)error;
	describe(s, event_name(ev), text);
	/* Over a one-shot transport a broken session cannot come back. */
	if (ev == PROTO_EV_DETACHED && one_shot(r->o))
		proto_loop_stop(r->loop);
}

static void
on_watch(struct proto_timer *t, void *arg)
{
	struct run *r = arg;

	if (proto_peer_sessions(r->peer) == 0) {
		proto_loop_stop(r->loop);
		return;
	}
	proto_timer_set(t, 100 * PROTO_MS);
}

static void
on_vfs_log(void *arg, enum proto_log_level level, const char *msg)
{
	(void)arg;
	say((int)level, "vfs: %s", msg);
}

/* --export and --trace: the VFS service, when a directory is exported. */
static struct proto_vfs_server *
start_vfs(struct run *r)
{
	struct opts *o = r->o;
	struct proto_vfs_server *srv;
	char errbuf[512];
	int i;

	if (o->nexports == 0) {
		if (o->trace != NULL)
			errx(2, "--trace needs --export");
		return NULL;
	}
	o->vfs.log = on_vfs_log;
	if (o->trace != NULL) {
		o->vfs.trace_fd = open(o->trace, O_WRONLY | O_CREAT | O_APPEND |
		    O_CLOEXEC, 0644);
		if (o->vfs.trace_fd < 0)
			err(2, "--trace %s", o->trace);
	}
	srv = proto_vfs_server_new(r->peer, &o->vfs, errbuf, sizeof(errbuf));
	if (srv == NULL)
		errx(2, "vfs: %s", errbuf);
	for (i = 0; i < o->nexports; i++)
		if (proto_vfs_server_export(srv, o->exports[i].name,
		    o->exports[i].dir, o->exports[i].readonly, errbuf,
		    sizeof(errbuf)) < 0)
			errx(2, "--export %s", errbuf);
	return srv;
}

int
cmd_serve(struct run *r)
{
	struct proto_timer *watch = NULL;
	char errbuf[256];
	int i;

	r->vfs = start_vfs(r);

	if (one_shot(r->o)) {
		watch = proto_timer_new(r->loop, on_watch, r);
		if (watch == NULL)
			err(2, "timer");
		/* The stream is handed over at the end of the first round. */
		proto_timer_set(watch, 100 * PROTO_MS);
	}
	for (i = 0; i < r->o->nlisten; i++)
		if (proto_peer_listen(r->peer, r->o->listen[i], errbuf,
		    sizeof(errbuf)) < 0)
			errx(2, "--listen %s", errbuf);
	run_loop(r);
	if (watch != NULL)
		proto_timer_free(watch);
	return 0;
}

static void
on_connect_event(void *arg, struct proto_session *s,
    enum proto_session_event ev, int error, const char *text)
{
	struct run *r = arg;

	describe(s, event_name(ev), text);
	if (ev != PROTO_EV_LOST)
		return;
	if (error != ECANCELED) {
		say(PROTO_LOG_ERROR, "session lost: %s", text);
		r->status = 1;
	}
	proto_loop_stop(r->loop);
}

static const struct proto_session_ops connect_ops = { on_connect_event };

int
cmd_connect(struct run *r)
{
	char errbuf[256];

	if (proto_peer_connect(r->peer, r->o->addr, &connect_ops, r, errbuf,
	    sizeof(errbuf)) == NULL)
		errx(2, "%s", errbuf);
	run_loop(r);
	return r->status;
}
