/*
 * msgpeer.h - the reference peer's files share this: msgpeer.c (options,
 * logging, the journal, signals), serve.c (serve and connect), ping.c,
 * echo.c (the echo load generator) and delay.c (a service for tests).
 */
#ifndef MSGPEER_H
#define MSGPEER_H

#include <stdint.h>
#include <stdio.h>

#include "libproto/proto_loop.h"
#include "libproto/proto_session.h"
#include "libproto/proto_vfs.h"

#define MSGKIT_VERSION	"0.1.0"

struct opts {
	const char *cmd;		/* serve, connect, ping, echo */
	const char *listen[8];		/* serve: --listen, repeatable */
	int nlisten;
	const char *addr;		/* connect, ping, echo: the peer */
	const char *journal;
	const char *keyfile;
	int verbose;			/* -v count; -1 with -q */
	/* ping */
	long long count;		/* -c; not given (0): ping until
					   interrupted, echo 10000 */
	double interval;		/* -i seconds */
	/* echo */
	long long size;			/* -s bytes of DATA a command */
	long long parallel;		/* -P commands in flight */
	const char *service;		/* --service, echo by default */
	unsigned command;		/* --command, 0x7000 */
	long long connect_tries;	/* --connect-tries; -1: not given */
	/* serve: --export NAME=DIR, --export-ro, --trace FILE */
	struct export_opt {
		const char *name;
		const char *dir;
		int readonly;
	} exports[64];
	int nexports;
	const char *trace;
	struct proto_vfs_server_config vfs;
	/* the file commands (files.c): positional arguments and flags */
	char **args;
	int nargs;
	int fl_long;			/* ls -l */
	int fl_recursive;		/* -r, -R */
	int fl_parents;			/* mkdir -p */
	int fl_symbolic;		/* ln -s */
	int fl_ref;			/* put --ref: DATA by REF */
	struct proto_peer_config cfg;
	uint8_t key[128];
};

/* The run: the loop, the peer, how it ends. */
struct run {
	struct opts *o;
	struct proto_loop *loop;
	struct proto_peer *peer;
	struct proto_vfs_server *vfs;	/* serve --export */
	FILE *journal;
	int stop;			/* a signal came */
	int status;			/* exit status so far */
};

/* msgpeer.c */
void say(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A STATUS or errno as msgdump names it: "ENOSYS", or the number. */
const char *status_name(int status);
/* A peer's string made safe to print (proto_escape), in a static buffer. */
const char *peer_text(const char *s);
int run_setup(struct run *r, struct opts *o);
void run_finish(struct run *r);
/* Run the loop until r->stop or proto_loop_stop(). */
void run_loop(struct run *r);
/*
 * End a session in order (GOODBYE) and run the loop until its LOST
 * event, whose callback must set *sp to NULL, so that no callback
 * comes after the caller's state is gone. At most 2 s.
 */
void run_close(struct run *r, struct proto_session **sp);

/* serve.c: what serve says of the sessions it accepts. */
void serve_event(void *arg, struct proto_session *s,
    enum proto_session_event ev, int error, const char *text);

/* The subcommands. Each returns the exit status. */
int cmd_serve(struct run *r);
int cmd_connect(struct run *r);
int cmd_ping(struct run *r);
int cmd_echo(struct run *r);

/* files.c: ls, stat, cat, get, put, cp, mv, rm, mkdir, rmdir, ln, df */
int files_command(const char *cmd);
int cmd_files(struct run *r);

/* delay.c: "delay", a service that answers like echo, later. */
extern const struct proto_service_ops delay_service;
int delay_service_init(struct proto_loop *loop);

#endif
