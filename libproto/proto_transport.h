/*
 * proto_transport.h - where a session's bytes go, with one address
 * syntax for every tool:
 *
 *	unix:/path		a unix stream socket
 *	tcp:HOST:PORT		TCP; [v6addr] for IPv6 literals
 *	tcp:PORT, tcp::PORT	listening only: on loopback (127.0.0.1)
 *	stdio			standard input and output
 *	exec:COMMAND		a child's stdin and stdout (sh -c COMMAND)
 *	fd:N  fd:R,W		inherited descriptors: one socket, or a pair
 *
 * A transport gives a struct proto_stream: a byte pipe of one descriptor
 * (a socket) or two (pipes, stdio), non-blocking and close-on-exec. The
 * transport layer moves no bytes itself: the session reads and writes
 * the descriptors through its own watchers.
 *
 * Listening and connecting are asynchronous and report through
 * callbacks on the loop's thread. Errors are returned as text, "ADDR:
 * reason", never printed.
 *
 * Ports are numbers (0-65535), never service names. A host name is
 * resolved with getaddrinfo() inside proto_dial() and proto_listen(),
 * which may block on DNS: numeric addresses never do. TCP streams have
 * TCP_NODELAY set.
 *
 * SIGPIPE: writing to a pipe (stdio, fd:) whose reader is gone raises
 * SIGPIPE, which kills the process by default. Programs that use these
 * transports should ignore it (signal(SIGPIPE, SIG_IGN)) and take the
 * EPIPE; on sockets send(MSG_NOSIGNAL) avoids it. exec: children get
 * every signal disposition back to its default.
 */
#ifndef PROTO_TRANSPORT_H
#define PROTO_TRANSPORT_H

#include <stddef.h>
#include <sys/types.h>

#include "proto_loop.h"

#define PROTO_DEFAULT_PORT	"7470"

enum proto_addr_type {
	PROTO_ADDR_UNIX,
	PROTO_ADDR_TCP,
	PROTO_ADDR_STDIO,
	PROTO_ADDR_EXEC,
	PROTO_ADDR_FD
};

struct proto_addr {
	enum proto_addr_type type;
	char text[512];		/* as given: for messages */
	char path[108];		/* unix: sun_path */
	char host[256];		/* tcp: "" when only a port was given */
	char port[16];		/* tcp */
	char command[512];	/* exec */
	int rfd, wfd;		/* fd: equal for one descriptor */
};

/*
 * A connected byte pipe. rfd == wfd for a socket. Callbacks get a
 * pointer valid during the call only: copy the struct; its descriptors
 * and child are the receiver's from then on.
 */
struct proto_stream {
	int rfd;
	int wfd;
	pid_t child;		/* exec: the command, else 0 */
	char peer[128];		/* "unix:/run/x", "tcp:127.0.0.1:40123" */
	struct proto_loop *loop;	/* made on it: exec children are
					   reaped there */
};

/* 0, or -1 with "ADDR: reason" in err. */
int proto_addr_parse(const char *s, struct proto_addr *a, char *err,
    size_t errlen);

/*
 * Close the descriptors; for exec, also end the child (its stdin closes;
 * it is reaped, killed after a grace period if it lingers, without
 * blocking the loop: SIGTERM after 1 s, SIGKILL 1 s later; the loop
 * keeps running until then, and proto_loop_free() kills what is left).
 * Descriptors 0-2 are pointed at /dev/null (in blocking mode) rather
 * than closed. Leaves rfd and wfd -1 and child 0: closing twice is
 * harmless.
 */
void proto_stream_close(struct proto_stream *s);

/*
 * exec: whether the command has ended, and how, in buf ("the command
 * exited with status 127 (not found)"): 1, or 0 while it runs (and for
 * other transports). It stays for the loop to reap.
 */
int proto_stream_ended(const struct proto_stream *s, char *buf, size_t len);

/* Listening. fn gets each accepted stream; it owns it from then on. */
typedef void proto_accept_fn(void *arg, struct proto_stream *s);
struct proto_listener;

/*
 * unix: a stale socket file (nobody accepting) is replaced, a live one
 * refused; removed again by proto_listener_free(). tcp: SO_REUSEADDR;
 * port 0 picks a free one. stdio and fd: the one stream they are, handed
 * to fn at the end of the current round. exec cannot listen.
 */
struct proto_listener *proto_listen(struct proto_loop *l,
    const struct proto_addr *a, proto_accept_fn *fn, void *arg, char *err,
    size_t errlen);
/*
 * Out of descriptors (EMFILE, ENFILE) with connections waiting: fn may
 * close some of the owner's and return 1 to have accept(2) tried again
 * at once. Without it, or when it returns 0, accepting pauses 100 ms
 * (the connections wait in the backlog; retrying at once would spin).
 */
typedef int proto_full_fn(void *arg);
void proto_listener_on_full(struct proto_listener *ls, proto_full_fn *fn,
    void *arg);
/* The address as bound: "tcp:127.0.0.1:40123" for tcp:0, say. */
const char *proto_listener_addr(const struct proto_listener *ls);
void proto_listener_free(struct proto_listener *ls);

/*
 * Connecting. fn is called once, from the loop, never from inside
 * proto_dial(): with a stream (owned by fn from then on), error 0 and
 * the stream's peer name, or with NULL, an errno value and "ADDR:
 * reason"; msg is never NULL. The dial is freed when fn returns.
 * NULL only when out of memory.
 */
typedef void proto_dial_fn(void *arg, struct proto_stream *s, int error,
    const char *msg);
struct proto_dial;

struct proto_dial *proto_dial(struct proto_loop *l, const struct proto_addr *a,
    proto_dial_fn *fn, void *arg);
/*
 * Give up a dial whose fn has not been called: fn will not be, and a
 * stream already made is closed. (Inside fn, it does nothing.)
 */
void proto_dial_cancel(struct proto_dial *d);

#endif
