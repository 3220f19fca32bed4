/*
 * test_transport.c - addresses, listeners and dialling against the
 * promises of proto_transport.h.
 *
 * Every address form is parsed, and every refusal checked word for
 * word. Real sockets, pipes and child processes are made: unix and TCP
 * (IPv4, and IPv6 when the host has it) round trips with data both
 * ways, stale and live unix socket files, a refused TCP connection,
 * exec: children echoing bytes and reaped after close (checked with
 * waitpid and /proc), fd: pairs, stdio on borrowed descriptors, dials
 * cancelled at every stage, and a listener out of descriptors that
 * must pause, not spin. A flag set around each proto_dial() and
 * proto_listen() call proves no callback runs inside them. Waits are
 * bounded by poll() time-outs and a watchdog, never by assumptions
 * about the machine's speed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "libproto/proto_loop.h"
#include "libproto/proto_transport.h"
#include "loop_int.h"

#define WATCHDOG_SEC	60
#define WAIT_MS		10000	/* longest wait for bytes: generous */

static char tmpdir[64];
static int in_call;		/* inside proto_dial() or proto_listen() */

static int
setup_all(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_transport.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	return 0;
}

static int
teardown_all(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static int
watchdog(void **state)
{
	(void)state;
	alarm(WATCHDOG_SEC);
	return 0;
}

static uint64_t
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * PROTO_SEC + (uint64_t)ts.tv_nsec;
}

static void
tmppath(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", tmpdir, name);
}

static void
parse_ok(const char *s, struct proto_addr *a)
{
	char err[256];

	if (proto_addr_parse(s, a, err, sizeof(err)) != 0)
		fail_msg("%s: %s", s, err);
}

/* --- parsing -------------------------------------------------------------- */

static void
test_parse_valid(void **state)
{
	struct proto_addr a;
	char path[108];

	(void)state;
	parse_ok("unix:/run/x.sock", &a);
	assert_int_equal(a.type, PROTO_ADDR_UNIX);
	assert_string_equal(a.path, "/run/x.sock");
	assert_string_equal(a.text, "unix:/run/x.sock");

	/* The longest path that fits sun_path. */
	memset(path, 'p', 107);
	path[107] = '\0';
	{
		char s[120];

		snprintf(s, sizeof(s), "unix:%s", path);
		parse_ok(s, &a);
		assert_string_equal(a.path, path);
	}

	parse_ok("tcp:example.org:7470", &a);
	assert_int_equal(a.type, PROTO_ADDR_TCP);
	assert_string_equal(a.host, "example.org");
	assert_string_equal(a.port, "7470");
	parse_ok("tcp:127.0.0.1:0", &a);
	assert_string_equal(a.host, "127.0.0.1");
	assert_string_equal(a.port, "0");
	parse_ok("tcp:h:65535", &a);
	assert_string_equal(a.port, "65535");
	parse_ok("tcp:h:007", &a);
	assert_string_equal(a.port, "7");
	parse_ok("tcp:[::1]:7470", &a);
	assert_string_equal(a.host, "::1");
	assert_string_equal(a.port, "7470");
	parse_ok("tcp:[fe80::1%lo]:1", &a);
	assert_string_equal(a.host, "fe80::1%lo");
	parse_ok("tcp:7470", &a);
	assert_string_equal(a.host, "");
	assert_string_equal(a.port, "7470");
	parse_ok("tcp::7470", &a);
	assert_string_equal(a.host, "");
	assert_string_equal(a.port, "7470");

	parse_ok("stdio", &a);
	assert_int_equal(a.type, PROTO_ADDR_STDIO);
	assert_int_equal(a.rfd, 0);
	assert_int_equal(a.wfd, 1);

	parse_ok("exec:ssh host msgpeer -c stdio", &a);
	assert_int_equal(a.type, PROTO_ADDR_EXEC);
	assert_string_equal(a.command, "ssh host msgpeer -c stdio");

	parse_ok("fd:3", &a);
	assert_int_equal(a.type, PROTO_ADDR_FD);
	assert_int_equal(a.rfd, 3);
	assert_int_equal(a.wfd, 3);
	parse_ok("fd:0,1", &a);
	assert_int_equal(a.rfd, 0);
	assert_int_equal(a.wfd, 1);
	parse_ok("fd:2147483647", &a);
	assert_int_equal(a.rfd, 2147483647);
}

struct bad {
	const char *addr;
	const char *msg;
};

static const struct bad bad[] = {
	{ "tcp:host", "tcp:host: missing port" },
	{ "tcp:host:", "tcp:host: missing port" },
	{ "tcp:", "tcp: missing host and port" },
	{ "tcp:h:65536",
	    "tcp:h:65536: port must be a number from 0 to 65535, "
	    "not \"65536\"" },
	{ "tcp:h:-1", "tcp:h:-1: port must be a number from 0 to 65535, "
	    "not \"-1\"" },
	{ "tcp:h:http", "tcp:h:http: port must be a number from 0 to "
	    "65535, not \"http\"" },
	{ "tcp:h: 80", "tcp:h: 80: port must be a number from 0 to 65535, "
	    "not \" 80\"" },
	{ "tcp:h:99999999999999999999", "tcp:h:99999999999999999999: port "
	    "must be a number from 0 to 65535, not \"9999999999999999\"" },
	{ "tcp:::1:80", "tcp:::1:80: an IPv6 address goes in brackets: "
	    "tcp:[ADDR]:PORT" },
	{ "tcp:[::1", "tcp:[::1: missing ]" },
	{ "tcp:[]:80", "tcp:[]:80: empty IPv6 address" },
	{ "tcp:[::1]", "tcp:[::1]: missing port" },
	{ "tcp:[::1]:", "tcp:[::1]: missing port" },
	{ "tcp:[::1]80", "tcp:[::1]80: expected :PORT after ]" },
	{ "tcp:[1.2.3.4]:80", "tcp:[1.2.3.4]:80: not an IPv6 address: "
	    "1.2.3.4" },
	{ "tcp:bad host:80", "tcp:bad host:80: bad character in host name" },
	{ "tcp:h/x:80", "tcp:h/x:80: bad character in host name" },
	{ "unix:", "unix: missing path" },
	{ "exec:", "exec: empty command" },
	{ "exec: \t ", "exec: ? : empty command" },
	{ "fd:", "fd: missing descriptor number" },
	{ "fd:x", "fd:x: not a descriptor number" },
	{ "fd:-1", "fd:-1: not a descriptor number" },
	{ "fd:3,", "fd:3,: not a descriptor number" },
	{ "fd:,3", "fd:,3: not a descriptor number" },
	{ "fd:3,4,5", "fd:3,4,5: not a descriptor number" },
	{ "fd:2147483648", "fd:2147483648: not a descriptor number" },
	{ "fd: 3", "fd: 3: not a descriptor number" },
	{ "stdio:x", "stdio:x: stdio takes no argument" },
	{ "foo:bar", "foo:bar: unknown address type (use unix:PATH, "
	    "tcp:HOST:PORT, stdio, exec:COMMAND or fd:N)" },
	{ "/tmp/sock", "/tmp/sock: unknown address type (use unix:PATH, "
	    "tcp:HOST:PORT, stdio, exec:COMMAND or fd:N)" },
	{ "UNIX:/x", "UNIX:/x: unknown address type (use unix:PATH, "
	    "tcp:HOST:PORT, stdio, exec:COMMAND or fd:N)" },
	{ "", "(empty): no address" },
	/* Control bytes are shown as '?': the message reaches a terminal. */
	{ "x\033[2J", "x?[2J: unknown address type (use unix:PATH, "
	    "tcp:HOST:PORT, stdio, exec:COMMAND or fd:N)" },
};

static void
test_parse_errors(void **state)
{
	struct proto_addr a;
	char err[512], s[700], want[800];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(err, 'Z', sizeof(err));
		if (proto_addr_parse(bad[i].addr, &a, err, sizeof(err)) != -1)
			fail_msg("accepted: %s", bad[i].addr);
		if (strcmp(err, bad[i].msg) != 0)
			fail_msg("%s:\n got  \"%s\"\n want \"%s\"",
			    bad[i].addr, err, bad[i].msg);
	}

	assert_int_equal(proto_addr_parse(NULL, &a, err, sizeof(err)), -1);
	assert_string_equal(err, "(empty): no address");

	/* One byte over sun_path's room. */
	memcpy(s, "unix:", 5);
	memset(s + 5, 'p', 108);
	s[113] = '\0';
	assert_int_equal(proto_addr_parse(s, &a, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: path longer than 107 bytes", s);
	assert_string_equal(err, want);

	/* Too long for anything: only its start is shown. */
	memcpy(s, "exec:", 5);
	memset(s + 5, 'c', 600);
	s[605] = '\0';
	assert_int_equal(proto_addr_parse(s, &a, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%.40s...: address longer than 511 "
	    "bytes", s);
	assert_string_equal(err, want);
	/* 511 bytes are fine. */
	s[511] = '\0';
	parse_ok(s, &a);
	assert_int_equal(strlen(a.command), 506);

	/* A short buffer is cut, terminated; none at all is no crash. */
	assert_int_equal(proto_addr_parse("tcp:host", &a, err, 8), -1);
	assert_string_equal(err, "tcp:hos");
	assert_int_equal(proto_addr_parse("tcp:host", &a, err, 12), -1);
	assert_string_equal(err, "tcp:host: m");
	assert_int_equal(proto_addr_parse("tcp:host", &a, NULL, 0), -1);
	assert_int_equal(proto_addr_parse("tcp:host", &a, err, 0), -1);
}

/* --- helpers for streams -------------------------------------------------- */

struct got {
	int calls;
	struct proto_stream st[8];
	int n;
	int error;
	char msg[640];
	struct proto_listener *free_me;	/* freed at the first accept */
};

static void
on_accept(void *arg, struct proto_stream *s)
{
	struct got *g = arg;

	assert_false(in_call);
	assert_non_null(s);
	assert_true(g->n < 8);
	g->st[g->n++] = *s;
	g->calls++;
	if (g->free_me != NULL) {
		proto_listener_free(g->free_me);
		g->free_me = NULL;
	}
}

static void
on_dial(void *arg, struct proto_stream *s, int error, const char *msg)
{
	struct got *g = arg;

	assert_false(in_call);
	assert_non_null(msg);
	g->calls++;
	g->error = error;
	snprintf(g->msg, sizeof(g->msg), "%s", msg);
	if (s != NULL) {
		assert_int_equal(error, 0);
		assert_string_equal(msg, s->peer);
		assert_true(g->n < 8);
		g->st[g->n++] = *s;
	} else
		assert_int_not_equal(error, 0);
}

static struct proto_listener *
listen_ok(struct proto_loop *l, const char *addr, struct got *g)
{
	struct proto_listener *ls;
	struct proto_addr a;
	char err[256];

	parse_ok(addr, &a);
	in_call = 1;
	ls = proto_listen(l, &a, on_accept, g, err, sizeof(err));
	in_call = 0;
	if (ls == NULL)
		fail_msg("%s: %s", addr, err);
	return ls;
}

static struct proto_dial *
dial(struct proto_loop *l, const char *addr, struct got *g)
{
	struct proto_dial *d;
	struct proto_addr a;

	parse_ok(addr, &a);
	in_call = 1;
	d = proto_dial(l, &a, on_dial, g);
	in_call = 0;
	assert_non_null(d);
	assert_int_equal(g->calls, 0);	/* never from inside proto_dial */
	return d;
}

/* Run rounds until *calls reaches want. */
static void
run_until(struct proto_loop *l, const int *calls, int want)
{
	while (*calls < want)
		assert_int_equal(proto_loop_run_once(l, 100 * PROTO_MS), 0);
}

static void
expect_flags(int fd)
{
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

static void
wait_fd(int fd, short ev)
{
	struct pollfd p = { fd, ev, 0 };

	if (poll(&p, 1, WAIT_MS) != 1)
		fail_msg("descriptor %d: not ready in %d ms", fd, WAIT_MS);
}

/* Write all of s to fd, non-blocking as it is. */
static void
send_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	ssize_t w;

	while (n > 0) {
		wait_fd(fd, POLLOUT);
		w = write(fd, c, n);
		if (w == -1 && errno == EAGAIN)
			continue;
		assert_true(w > 0);
		c += w;
		n -= w;
	}
}

/* Read exactly n bytes from fd into buf. */
static void
recv_all(int fd, void *buf, size_t n)
{
	char *c = buf;
	ssize_t r;

	while (n > 0) {
		wait_fd(fd, POLLIN);
		r = read(fd, c, n);
		if (r == -1 && errno == EAGAIN)
			continue;
		if (r <= 0)
			fail_msg("descriptor %d: %s", fd, r == 0 ? "EOF" :
			    strerror(errno));
		c += r;
		n -= r;
	}
}

/* Read until EOF; returns the byte count (bounded by n). */
static size_t
recv_eof(int fd, char *buf, size_t n)
{
	size_t got = 0;
	ssize_t r;

	for (;;) {
		wait_fd(fd, POLLIN);
		r = read(fd, buf + got, n - got);
		if (r == -1 && errno == EAGAIN)
			continue;
		if (r == -1 && errno == ECONNRESET)
			return got;
		assert_true(r >= 0);
		if (r == 0)
			return got;
		got += r;
		assert_true(got < n);
	}
}

/* Bytes both ways between two streams, 64 KiB each: more than a buffer. */
static void
both_ways(const struct proto_stream *a, const struct proto_stream *b)
{
	static char out[65536], in[65536];
	size_t i;

	for (i = 0; i < sizeof(out); i++)
		out[i] = (char)(i * 7 + 3);
	for (i = 0; i < 2; i++) {
		const struct proto_stream *from = i == 0 ? a : b;
		const struct proto_stream *to = i == 0 ? b : a;
		size_t done = 0, got = 0;
		ssize_t r;

		/* Interleaved: neither side's buffer needs to hold it all. */
		while (got < sizeof(in)) {
			if (done < sizeof(out)) {
				r = write(from->wfd, out + done,
				    sizeof(out) - done);
				if (r > 0)
					done += r;
				else
					assert_int_equal(errno, EAGAIN);
			}
			r = read(to->rfd, in + got, sizeof(in) - got);
			if (r > 0)
				got += r;
			else if (r == 0)
				fail_msg("EOF after %zu bytes", got);
			else {
				struct pollfd p[2] = {
					{ to->rfd, POLLIN, 0 },
					{ from->wfd, POLLOUT, 0 } };

				assert_int_equal(errno, EAGAIN);
				assert_true(poll(p, done < sizeof(out) ? 2 :
				    1, WAIT_MS) > 0);
			}
		}
		assert_memory_equal(in, out, sizeof(in));
	}
}

/* --- unix ----------------------------------------------------------------- */

static void
test_unix_round_trip(void **state)
{
	struct proto_loop *l;
	struct proto_listener *ls;
	struct got srv = { 0 }, cli = { 0 };
	char path[96], addr[128];
	struct stat st;

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	tmppath(path, sizeof(path), "rt.sock");
	snprintf(addr, sizeof(addr), "unix:%s", path);
	ls = listen_ok(l, addr, &srv);
	assert_string_equal(proto_listener_addr(ls), addr);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));

	dial(l, addr, &cli);
	run_until(l, &cli.calls, 1);
	run_until(l, &srv.calls, 1);
	assert_int_equal(cli.error, 0);
	assert_string_equal(cli.st[0].peer, addr);
	assert_string_equal(srv.st[0].peer, addr);
	assert_int_equal(cli.st[0].rfd, cli.st[0].wfd);
	assert_int_equal(cli.st[0].child, 0);
	assert_ptr_equal(cli.st[0].loop, l);
	assert_ptr_equal(srv.st[0].loop, l);
	expect_flags(cli.st[0].rfd);
	expect_flags(srv.st[0].rfd);
	both_ways(&cli.st[0], &srv.st[0]);

	/* Closing one end is EOF at the other; closing twice is harmless. */
	proto_stream_close(&cli.st[0]);
	assert_int_equal(cli.st[0].rfd, -1);
	proto_stream_close(&cli.st[0]);
	{
		char c;

		wait_fd(srv.st[0].rfd, POLLIN);
		assert_int_equal(read(srv.st[0].rfd, &c, 1), 0);
	}
	proto_stream_close(&srv.st[0]);
	proto_stream_close(NULL);

	/* The socket file goes with the listener. */
	proto_listener_free(ls);
	assert_int_equal(lstat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
	proto_listener_free(NULL);
	assert_int_equal(proto_loop_run(l), 0);
	proto_loop_free(l);
}

/* A raw unix socket bound at path, listening or not. */
static int
raw_unix(const char *path, int do_listen, int backlog)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	if (do_listen)
		assert_int_equal(listen(fd, backlog), 0);
	return fd;
}

static void
test_unix_stale_live(void **state)
{
	struct proto_loop *l;
	struct proto_listener *ls;
	struct proto_addr a;
	struct got srv = { 0 }, cli = { 0 };
	char path[96], addr[128], err[256], want[256];
	struct stat st;
	int fd;

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	tmppath(path, sizeof(path), "stale.sock");
	snprintf(addr, sizeof(addr), "unix:%s", path);

	/* A server that died: its file is left, nobody accepts. */
	fd = raw_unix(path, 1, 1);
	close(fd);
	assert_int_equal(lstat(path, &st), 0);
	ls = listen_ok(l, addr, &srv);
	dial(l, addr, &cli);
	run_until(l, &srv.calls, 1);
	run_until(l, &cli.calls, 1);
	assert_int_equal(cli.error, 0);
	proto_stream_close(&cli.st[0]);
	proto_stream_close(&srv.st[0]);

	/* Now we accept there: a second listener is refused. */
	parse_ok(addr, &a);
	assert_null(proto_listen(l, &a, on_accept, &srv, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: address in use: a server is "
	    "accepting there", addr);
	assert_string_equal(err, want);
	/* And the live file was left alone. */
	assert_int_equal(lstat(path, &st), 0);
	proto_listener_free(ls);

	/* Live, with a full backlog: refused all the same. */
	fd = raw_unix(path, 1, 0);
	{
		struct sockaddr_un sun;
		int c[64], n;

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
		for (n = 0; n < 64; n++) {
			c[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK,
			    0);
			assert_true(c[n] >= 0);
			if (connect(c[n], (struct sockaddr *)&sun,
			    sizeof(sun)) == -1) {
				assert_int_equal(errno, EAGAIN);
				close(c[n]);
				break;
			}
		}
		assert_true(n < 64);
		assert_null(proto_listen(l, &a, on_accept, &srv, err,
		    sizeof(err)));
		assert_string_equal(err, want);

		/* And a dial there says why it failed. */
		memset(&cli, 0, sizeof(cli));
		dial(l, addr, &cli);
		run_until(l, &cli.calls, 1);
		assert_int_equal(cli.error, EAGAIN);
		snprintf(want, sizeof(want), "%s: connect: the server's "
		    "backlog is full", addr);
		assert_string_equal(cli.msg, want);
		while (n-- > 0)
			close(c[n]);
	}
	close(fd);
	unlink(path);

	/* Not a socket: never removed, refused. */
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_null(proto_listen(l, &a, on_accept, &srv, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: address in use: the file is not "
	    "a socket", addr);
	assert_string_equal(err, want);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	unlink(path);

	/* A file put in our place is not ours to remove. */
	ls = listen_ok(l, addr, &srv);
	unlink(path);
	fd = raw_unix(path, 0, 0);
	proto_listener_free(ls);
	assert_int_equal(lstat(path, &st), 0);
	close(fd);
	unlink(path);

	/* No such directory. */
	parse_ok("unix:/nonexistent-dir/x.sock", &a);
	assert_null(proto_listen(l, &a, on_accept, &srv, err, sizeof(err)));
	assert_string_equal(err, "unix:/nonexistent-dir/x.sock: bind: No "
	    "such file or directory");
	assert_int_equal(proto_loop_run(l), 0);
	proto_loop_free(l);
}

static void
test_unix_dial_errors(void **state)
{
	struct proto_loop *l;
	struct got g = { 0 };
	char path[96], addr[128], want[256];

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	tmppath(path, sizeof(path), "nobody.sock");
	snprintf(addr, sizeof(addr), "unix:%s", path);
	dial(l, addr, &g);
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.error, ENOENT);
	snprintf(want, sizeof(want), "%s: connect: No such file or directory",
	    addr);
	assert_string_equal(g.msg, want);

	/* A stale file: refused. */
	close(raw_unix(path, 1, 1));
	memset(&g, 0, sizeof(g));
	dial(l, addr, &g);
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(g.error, ECONNREFUSED);
	unlink(path);
	proto_loop_free(l);
}

/* Freed from inside its accept callback, with more connections queued. */
static void
test_listener_free_in_callback(void **state)
{
	struct proto_loop *l;
	struct proto_listener *ls;
	struct got srv = { 0 }, cli = { 0 };
	char path[96], addr[128];
	struct stat st;
	int i;

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	tmppath(path, sizeof(path), "free.sock");
	snprintf(addr, sizeof(addr), "unix:%s", path);
	ls = listen_ok(l, addr, &srv);
	srv.free_me = ls;
	for (i = 0; i < 3; i++)
		dial(l, addr, &cli);
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(srv.calls, 1);
	assert_int_equal(cli.calls, 3);
	assert_int_equal(lstat(path, &st), -1);
	for (i = 0; i < cli.n; i++)
		proto_stream_close(&cli.st[i]);
	proto_stream_close(&srv.st[0]);
	proto_loop_free(l);
}

/* --- tcp ------------------------------------------------------------------ */

static void
tcp_round_trip(struct proto_loop *l, const char *listen_addr,
    const char *prefix)
{
	struct proto_listener *ls;
	struct got srv = { 0 }, cli = { 0 };
	const char *bound;
	char want[128];
	int on = 0;
	socklen_t len = sizeof(on);

	ls = listen_ok(l, listen_addr, &srv);
	bound = proto_listener_addr(ls);
	/* The port picked for 0 is told. */
	assert_true(strncmp(bound, prefix, strlen(prefix)) == 0);
	assert_true(atoi(bound + strlen(prefix)) > 0);

	dial(l, bound, &cli);
	run_until(l, &cli.calls, 1);
	run_until(l, &srv.calls, 1);
	assert_int_equal(cli.error, 0);
	/* Each side names the other. */
	assert_string_equal(cli.st[0].peer, bound);
	{
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char host[64];
		int port;

		assert_int_equal(getsockname(cli.st[0].rfd,
		    (struct sockaddr *)&ss, &sl), 0);
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (void *)&ss;

			inet_ntop(AF_INET6, &s6->sin6_addr, host,
			    sizeof(host));
			port = ntohs(s6->sin6_port);
			snprintf(want, sizeof(want), "tcp:[%s]:%d", host,
			    port);
		} else {
			struct sockaddr_in *s4 = (void *)&ss;

			inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
			port = ntohs(s4->sin_port);
			snprintf(want, sizeof(want), "tcp:%s:%d", host, port);
		}
		assert_string_equal(srv.st[0].peer, want);
	}
	expect_flags(cli.st[0].rfd);
	expect_flags(srv.st[0].rfd);
	assert_int_equal(getsockopt(cli.st[0].rfd, IPPROTO_TCP, TCP_NODELAY,
	    &on, &len), 0);
	assert_int_equal(on, 1);
	assert_int_equal(getsockopt(srv.st[0].rfd, IPPROTO_TCP, TCP_NODELAY,
	    &on, &len), 0);
	assert_int_equal(on, 1);
	both_ways(&cli.st[0], &srv.st[0]);
	proto_stream_close(&cli.st[0]);
	proto_stream_close(&srv.st[0]);
	proto_listener_free(ls);
}

static void
test_tcp_round_trip(void **state)
{
	struct proto_loop *l;

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	tcp_round_trip(l, "tcp:127.0.0.1:0", "tcp:127.0.0.1:");
	/* No host: loopback. */
	tcp_round_trip(l, "tcp:0", "tcp:127.0.0.1:");
	tcp_round_trip(l, "tcp::0", "tcp:127.0.0.1:");
	assert_int_equal(proto_loop_run(l), 0);
	proto_loop_free(l);
}

/* Names go through getaddrinfo: localhost, from /etc/hosts. */
static void
test_tcp_name(void **state)
{
	struct proto_loop *l;
	struct proto_listener *ls;
	struct got srv = { 0 }, cli = { 0 };
	char addr[64];

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	ls = listen_ok(l, "tcp:127.0.0.1:0", &srv);
	snprintf(addr, sizeof(addr), "tcp:localhost:%s",
	    strrchr(proto_listener_addr(ls), ':') + 1);
	dial(l, addr, &cli);
	run_until(l, &cli.calls, 1);
	/* localhost may be ::1 first, refused, then 127.0.0.1. */
	assert_int_equal(cli.error, 0);
	run_until(l, &srv.calls, 1);
	proto_stream_close(&cli.st[0]);
	proto_stream_close(&srv.st[0]);
	proto_listener_free(ls);
	proto_loop_free(l);
}

/* A port bound but not listening: nobody there, for sure. */
static int
closed_port(int *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static void
test_tcp_refused(void **state)
{
	struct proto_loop *l;
	struct proto_addr a;
	struct got g = { 0 };
	char addr[64], want[128], err[256];
	int fd, port;

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	fd = closed_port(&port);
	snprintf(addr, sizeof(addr), "tcp:127.0.0.1:%d", port);
	dial(l, addr, &g);
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.error, ECONNREFUSED);
	snprintf(want, sizeof(want), "%s: connect: Connection refused", addr);
	assert_string_equal(g.msg, want);

	/* Dial needs a host and a port. */
	memset(&g, 0, sizeof(g));
	dial(l, "tcp:7470", &g);
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(g.error, EDESTADDRREQ);
	assert_string_equal(g.msg, "tcp:7470: no host to connect to "
	    "(tcp:HOST:PORT)");
	memset(&g, 0, sizeof(g));
	dial(l, "tcp:127.0.0.1:0", &g);
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(g.error, EINVAL);
	assert_string_equal(g.msg, "tcp:127.0.0.1:0: cannot connect to "
	    "port 0");

	/* Listening where somebody listens: bind fails, and says so. */
	assert_int_equal(listen(fd, 1), 0);
	parse_ok(addr, &a);
	assert_null(proto_listen(l, &a, on_accept, &g, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: bind: Address already in use",
	    addr);
	assert_string_equal(err, want);

	/* exec cannot listen. */
	parse_ok("exec:cat", &a);
	assert_null(proto_listen(l, &a, on_accept, &g, err, sizeof(err)));
	assert_string_equal(err, "exec:cat: cannot listen on a command "
	    "(exec: is for connecting)");
	close(fd);
	proto_loop_free(l);
}

static void
test_tcp_ipv6(void **state)
{
	struct proto_loop *l;
	struct proto_addr a;
	struct proto_listener *ls;
	struct got g = { 0 };
	char err[256];

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	parse_ok("tcp:[::1]:0", &a);
	ls = proto_listen(l, &a, on_accept, &g, err, sizeof(err));
	if (ls == NULL) {
		proto_loop_free(l);
		print_message("no IPv6 on this host (%s): skipped\n", err);
		skip();
	}
	proto_listener_free(ls);
	tcp_round_trip(l, "tcp:[::1]:0", "tcp:[::1]:");
	proto_loop_free(l);
}

/* --- exec ----------------------------------------------------------------- */

/* Is pid gone for good: reaped (by us), no zombie left? */
static void
expect_reaped(pid_t pid)
{
	char proc[64];
	struct stat st;

	assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	snprintf(proc, sizeof(proc), "/proc/%d", (int)pid);
	assert_int_equal(stat(proc, &st), -1);
}

static struct proto_stream
exec_stream(struct proto_loop *l, const char *addr)
{
	struct got g = { 0 };

	dial(l, addr, &g);
	run_until(l, &g.calls, 1);
	if (g.error != 0)
		fail_msg("%s", g.msg);
	assert_true(g.st[0].child > 0);
	assert_int_equal(g.st[0].rfd, g.st[0].wfd);
	assert_string_equal(g.st[0].peer, addr);
	expect_flags(g.st[0].rfd);
	return g.st[0];
}

static void
test_exec_cat(void **state)
{
	struct proto_loop *l;
	struct proto_stream s, t;
	char back[8];
	pid_t pid;

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	s = exec_stream(l, "exec:cat");
	pid = s.child;
	send_all(s.wfd, "hello\n", 6);
	recv_all(s.rfd, back, 6);
	assert_memory_equal(back, "hello\n", 6);
	/* More than the socket buffers hold: cat keeps up. */
	t = s;
	both_ways(&s, &t);
	/* Close: cat sees EOF and exits; the loop reaps it, then ends. */
	proto_stream_close(&s);
	assert_int_equal(s.child, 0);
	assert_int_equal(proto_loop_run(l), 0);
	expect_reaped(pid);
	proto_loop_free(l);
}

/*
 * What the child gets: stdin and stdout on the socket, stderr
 * inherited, no other descriptor, no ignored or blocked signal even
 * though the parent ignores SIGPIPE and glibc's own 32 and 33 and
 * blocks SIGUSR1.
 */
static void
test_exec_child_env(void **state)
{
	struct proto_loop *l;
	struct proto_stream s;
	struct sigaction ign, old;
	struct lpi_ksigaction kign = { (void *)SIG_IGN, 0, NULL, 0 }, kold[2];
	sigset_t set, oldset;
	char out[4096];
	size_t n;
	int extra, kset, i;

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	/* A descriptor without close-on-exec: must not reach the child. */
	extra = dup(2);
	assert_true(extra > 2);
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	assert_int_equal(sigaction(SIGPIPE, &ign, &old), 0);
	kset = 0;
	for (i = 0; i < 2; i++)
		if (lpi_ksigaction(32 + i, &kign, &kold[i]) == 0)
			kset++;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	assert_int_equal(sigprocmask(SIG_BLOCK, &set, &oldset), 0);

	s = exec_stream(l, "exec:ls /proc/self/fd; "
	    "grep -E '^Sig(Ign|Blk)' /proc/self/status");
	n = recv_eof(s.rfd, out, sizeof(out));
	out[n] = '\0';
	/* Put everything back before judging: a failure here must not
	 * leave a child or a signal state for the next test. */
	proto_stream_close(&s);
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(sigprocmask(SIG_SETMASK, &oldset, NULL), 0);
	assert_int_equal(sigaction(SIGPIPE, &old, NULL), 0);
	for (i = 0; i < kset; i++)
		assert_int_equal(lpi_ksigaction(32 + i, &kold[i], NULL), 0);
	close(extra);
	proto_loop_free(l);

	/* ls opens the directory itself: 3. */
	assert_string_equal(out, "0\n1\n2\n3\n"
	    "SigBlk:\t0000000000000000\n"
	    "SigIgn:\t0000000000000000\n");
}

/* A missing command: sh says so on stderr, exits 127; we read EOF. */
static void
test_exec_missing(void **state)
{
	struct proto_loop *l;
	struct proto_stream s;
	char out[64];
	int saved, null;
	pid_t pid;

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	/* Keep sh's complaint out of the test's output. */
	saved = dup(2);
	null = open("/dev/null", O_WRONLY);
	assert_true(saved >= 0 && null >= 0);
	dup2(null, 2);
	close(null);
	s = exec_stream(l, "exec:/nonexistent/command-xyz");
	dup2(saved, 2);
	close(saved);
	pid = s.child;
	assert_int_equal(recv_eof(s.rfd, out, sizeof(out)), 0);
	/* How it ended, for the session's message; still not reaped. */
	assert_int_equal(proto_stream_ended(&s, out, sizeof(out)), 1);
	assert_string_equal(out, "the command exited with status 127 (not "
	    "found)");
	assert_int_equal(proto_stream_ended(&s, out, sizeof(out)), 1);
	proto_stream_close(&s);
	assert_int_equal(proto_loop_run(l), 0);
	expect_reaped(pid);
	proto_loop_free(l);
}

/*
 * A child that ignores its stdin closing and SIGTERM: SIGKILL after
 * the grace periods (1 s + 1 s), without blocking the loop meanwhile.
 */
struct ticker {
	int n;
};

static void
on_tick(struct proto_timer *t, void *arg)
{
	struct ticker *k = arg;

	if (++k->n < 10)
		proto_timer_set(t, 50 * PROTO_MS);
}

static void
test_exec_linger(void **state)
{
	struct proto_loop *l;
	struct proto_stream s;
	struct proto_timer *t;
	struct ticker k = { 0 };
	uint64_t t0;
	pid_t pid;

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	s = exec_stream(l, "exec:trap '' TERM; exec sleep 60");
	pid = s.child;
	t0 = mono();
	proto_stream_close(&s);
	/* The loop is not blocked: a timer runs while the child lingers. */
	t = proto_timer_new(l, on_tick, &k);
	proto_timer_set(t, 50 * PROTO_MS);
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(k.n, 10);
	/* SIGTERM was ignored: only SIGKILL, 2 s on, ended it. */
	assert_true(mono() - t0 >= 2 * PROTO_SEC);
	expect_reaped(pid);
	proto_timer_free(t);
	proto_loop_free(l);
}

/* The loop freed while a child lingers: killed and reaped there. */
static void
test_exec_loop_free(void **state)
{
	struct proto_loop *l;
	struct proto_stream s;
	pid_t pid;

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	s = exec_stream(l, "exec:trap '' TERM; exec sleep 60");
	pid = s.child;
	proto_stream_close(&s);
	proto_loop_free(l);
	expect_reaped(pid);
}

/* --- fd and stdio --------------------------------------------------------- */

static void
test_fd_pair(void **state)
{
	struct proto_loop *l;
	struct proto_listener *ls;
	struct got g = { 0 };
	char addr[64], want[128], buf[8];
	int in[2], out[2];

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	snprintf(addr, sizeof(addr), "fd:%d,%d", in[0], out[1]);
	dial(l, addr, &g);
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.error, 0);
	assert_int_equal(g.st[0].rfd, in[0]);
	assert_int_equal(g.st[0].wfd, out[1]);
	assert_string_equal(g.st[0].peer, addr);
	expect_flags(in[0]);
	expect_flags(out[1]);
	/* Bytes through each pipe. */
	assert_int_equal(write(in[1], "ping", 4), 4);
	recv_all(g.st[0].rfd, buf, 4);
	assert_memory_equal(buf, "ping", 4);
	send_all(g.st[0].wfd, "pong", 4);
	assert_int_equal(read(out[0], buf, 4), 4);
	assert_memory_equal(buf, "pong", 4);
	proto_stream_close(&g.st[0]);
	/* Both closed: EOF on one pipe, EPIPE-free read end on the other. */
	assert_int_equal(read(out[0], buf, 1), 0);
	assert_int_equal(fcntl(in[0], F_GETFD), -1);
	close(in[1]);
	close(out[0]);

	/* Wrong way round: refused with the reason. */
	assert_int_equal(pipe(in), 0);
	snprintf(addr, sizeof(addr), "fd:%d,%d", in[1], in[0]);
	memset(&g, 0, sizeof(g));
	dial(l, addr, &g);
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(g.error, EBADF);
	snprintf(want, sizeof(want), "%s: descriptor %d is not open for "
	    "reading", addr, in[1]);
	assert_string_equal(g.msg, want);
	close(in[0]);
	close(in[1]);

	/* Not open at all. */
	memset(&g, 0, sizeof(g));
	dial(l, "fd:999999", &g);
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(g.error, EBADF);
	assert_string_equal(g.msg, "fd:999999: descriptor 999999: Bad file "
	    "descriptor");

	/* One socket, listened on: handed over in a later round, once. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, in), 0);
	snprintf(addr, sizeof(addr), "fd:%d", in[0]);
	memset(&g, 0, sizeof(g));
	ls = listen_ok(l, addr, &g);
	assert_int_equal(g.calls, 0);
	assert_string_equal(proto_listener_addr(ls), addr);
	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.st[0].rfd, in[0]);
	assert_int_equal(g.st[0].wfd, in[0]);
	expect_flags(in[0]);
	proto_listener_free(ls);
	assert_int_equal(write(in[1], "x", 1), 1);
	recv_all(g.st[0].rfd, buf, 1);
	proto_stream_close(&g.st[0]);
	close(in[1]);
	proto_loop_free(l);
}

/*
 * stdio, on borrowed descriptors 0 and 1 (pipes). Nothing is asserted
 * while they are borrowed: a failure message would go down the pipe.
 */
static void
test_stdio(void **state)
{
	struct proto_loop *l;
	struct got g = { 0 };
	struct stat st0, st1, null;
	int save0, save1, in[2], out[2], fl0, fl1, calls, rfd, wfd;
	char buf[4] = { 0 };
	ssize_t r;

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	assert_int_equal(stat("/dev/null", &null), 0);
	fflush(stdout);
	save0 = dup(0);
	save1 = dup(1);
	assert_true(save0 >= 0 && save1 >= 0);
	dup2(in[0], 0);
	dup2(out[1], 1);

	dial(l, "stdio", &g);
	proto_loop_run(l);
	calls = g.calls;
	rfd = g.st[0].rfd;
	wfd = g.st[0].wfd;
	fl0 = fcntl(0, F_GETFL);
	fl1 = fcntl(1, F_GETFL);
	r = write(in[1], "in", 2);
	r += read(0, buf, 2);
	r += write(1, "ou", 2);
	proto_stream_close(&g.st[0]);
	fstat(0, &st0);
	fstat(1, &st1);

	dup2(save0, 0);
	dup2(save1, 1);
	close(save0);
	close(save1);

	assert_int_equal(calls, 1);
	assert_string_equal(g.st[0].peer, "stdio");
	assert_int_equal(rfd, 0);
	assert_int_equal(wfd, 1);
	assert_true(fl0 & O_NONBLOCK);
	assert_true(fl1 & O_NONBLOCK);
	assert_int_equal(r, 6);
	assert_memory_equal(buf, "in", 2);
	assert_int_equal(read(out[0], buf, 2), 2);
	assert_memory_equal(buf, "ou", 2);
	/* Closed means /dev/null now: no socket can become stdin. */
	assert_true(st0.st_rdev == null.st_rdev && S_ISCHR(st0.st_mode));
	assert_true(st1.st_rdev == null.st_rdev && S_ISCHR(st1.st_mode));
	/* And the pipes' write end saw our side go. */
	close(out[1]);
	assert_int_equal(read(out[0], buf, 1), 0);
	close(in[0]);
	close(in[1]);
	close(out[0]);
	proto_loop_free(l);
}

/* --- cancelling ----------------------------------------------------------- */

static void
test_cancel(void **state)
{
	struct proto_loop *l;
	struct proto_listener *ls;
	struct proto_dial *d;
	struct got srv = { 0 }, cli = { 0 };
	char path[96], addr[128], c;
	pid_t pid;
	int i;

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	tmppath(path, sizeof(path), "cancel.sock");
	snprintf(addr, sizeof(addr), "unix:%s", path);
	ls = listen_ok(l, addr, &srv);

	/* Connected already, not yet delivered: closed, never called. */
	d = dial(l, addr, &cli);
	proto_dial_cancel(d);
	run_until(l, &srv.calls, 1);
	wait_fd(srv.st[0].rfd, POLLIN);
	assert_int_equal(read(srv.st[0].rfd, &c, 1), 0);
	proto_stream_close(&srv.st[0]);

	/* A failure not yet delivered: never called. */
	d = dial(l, "unix:/nonexistent-dir/x", &cli);
	proto_dial_cancel(d);
	proto_dial_cancel(NULL);

	/* TCP, cancelled at once, or after any number of rounds. */
	{
		struct proto_listener *tl;
		struct got ts = { 0 };

		tl = listen_ok(l, "tcp:127.0.0.1:0", &ts);
		for (i = 0; i < 3; i++) {
			int k;

			d = dial(l, proto_listener_addr(tl), &cli);
			for (k = 0; k < i; k++)
				assert_int_equal(proto_loop_run_once(l, 0),
				    0);
			if (cli.calls == 0)
				proto_dial_cancel(d);
			else {
				/* Done before we could cancel: fine. */
				proto_stream_close(&cli.st[--cli.n]);
				cli.calls = 0;
			}
		}
		for (i = 0; i < 10; i++)
			assert_int_equal(proto_loop_run_once(l, 0), 0);
		while (ts.n > 0)
			proto_stream_close(&ts.st[--ts.n]);
		proto_listener_free(tl);
	}

	/* The listener would keep proto_loop_run() going. */
	proto_listener_free(ls);

	/* exec: the child made is ended and reaped. */
	{
		struct got eg = { 0 };

		d = dial(l, "exec:cat", &eg);
		proto_dial_cancel(d);
		assert_int_equal(proto_loop_run(l), 0);
		assert_int_equal(eg.calls, 0);
		/* Its pid went with the dial; no child must be left. */
		pid = waitpid(-1, NULL, WNOHANG);
		assert_int_equal(pid, -1);
		assert_int_equal(errno, ECHILD);
	}

	assert_int_equal(proto_loop_run(l), 0);
	assert_int_equal(cli.calls, 0);
	proto_loop_free(l);
}

/* Cancel from inside the callback: nothing happens, no double free. */
static void
on_dial_cancel(void *arg, struct proto_stream *s, int error,
    const char *msg)
{
	struct proto_dial **dp = arg;

	(void)error;
	(void)msg;
	proto_dial_cancel(*dp);
	if (s != NULL) {
		struct proto_stream mine = *s;

		proto_stream_close(&mine);
	}
	*dp = NULL;
}

static void
test_cancel_in_callback(void **state)
{
	struct proto_loop *l;
	struct proto_addr a;
	struct proto_dial *d;

	(void)state;
	l = proto_loop_new();
	assert_non_null(l);
	parse_ok("unix:/nonexistent-dir/x", &a);
	d = proto_dial(l, &a, on_dial_cancel, &d);
	assert_non_null(d);
	assert_int_equal(proto_loop_run(l), 0);
	assert_null(d);
	assert_null(proto_dial(l, &a, NULL, NULL));
	assert_int_equal(errno, EINVAL);
	proto_loop_free(l);
}

/* --- out of descriptors --------------------------------------------------- */

/*
 * A listener with one connection waiting, in a process with no
 * descriptor left: the limit lowered and what is below it filled.
 */
struct emfile {
	struct proto_loop *l;
	struct proto_listener *ls;
	struct got srv;
	struct rlimit old;
	int fill[64], nfill;
	int c, base;
	int room;		/* calls of the on_full function */
};

static void
emfile_start(struct emfile *x, const char *name)
{
	struct sockaddr_un sun;
	struct rlimit lim;
	char path[96], addr[128];
	int fd;

	memset(x, 0, sizeof(*x));
	x->l = proto_loop_new();
	assert_non_null(x->l);
	tmppath(path, sizeof(path), name);
	snprintf(addr, sizeof(addr), "unix:%s", path);
	x->ls = listen_ok(x->l, addr, &x->srv);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	x->c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(x->c, (struct sockaddr *)&sun, sizeof(sun)),
	    0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &x->old), 0);
	x->base = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(x->base >= 0);
	lim = x->old;
	lim.rlim_cur = x->base + 8;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
	while (x->nfill < 64 && (fd = dup(x->base)) >= 0)
		x->fill[x->nfill++] = fd;
	assert_int_equal(errno, EMFILE);
}

/* Descriptors again. */
static void
emfile_relieve(struct emfile *x)
{
	while (x->nfill > 0)
		close(x->fill[--x->nfill]);
	close(x->base);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &x->old), 0);
}

static void
emfile_end(struct emfile *x)
{
	proto_stream_close(&x->srv.st[0]);
	close(x->c);
	proto_listener_free(x->ls);
	proto_loop_free(x->l);
}

/*
 * accept() fails with EMFILE while a connection waits: the listener
 * must pause (a spinning loop would make thousands of rounds in the
 * time measured), then accept it once descriptors are free again.
 */
static void
test_emfile(void **state)
{
	struct emfile x;
	int rounds = 0;
	uint64_t t0;

	(void)state;
	emfile_start(&x, "emfile.sock");
	t0 = mono();
	while (mono() - t0 < 300 * PROTO_MS) {
		assert_int_equal(proto_loop_run_once(x.l, 10 * PROTO_MS), 0);
		rounds++;
	}
	emfile_relieve(&x);
	assert_int_equal(x.srv.calls, 0);
	/* 300 ms of 10 ms waits, a few retries: well under 200 rounds. */
	if (rounds >= 200)
		fail_msg("%d rounds in 300 ms: spinning on EMFILE", rounds);
	/* Descriptors again: accepted at the next retry. */
	run_until(x.l, &x.srv.calls, 1);
	emfile_end(&x);
}

/*
 * The same, with an owner that can make room: it closes one of its
 * descriptors and says so, and the connection is accepted while the
 * process is still at its limit, not after the pause. Once nobody
 * waits, the EMFILE of the batch's last accept makes no room: accept
 * takes a descriptor before it looks at the backlog.
 */
static int
make_room(void *arg)
{
	struct emfile *x = arg;

	x->room++;
	if (x->nfill == 0)
		return 0;
	close(x->fill[--x->nfill]);
	return 1;
}

static void
test_emfile_room(void **state)
{
	struct emfile x;

	(void)state;
	emfile_start(&x, "room.sock");
	proto_listener_on_full(x.ls, make_room, &x);
	/* Well inside the 100 ms pause: room was made, not waited for. */
	assert_int_equal(proto_loop_run_once(x.l, 50 * PROTO_MS), 0);
	assert_int_equal(x.srv.calls, 1);
	assert_int_equal(x.room, 1);
	emfile_relieve(&x);
	emfile_end(&x);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_parse_valid, watchdog),
		cmocka_unit_test_setup(test_parse_errors, watchdog),
		cmocka_unit_test_setup(test_unix_round_trip, watchdog),
		cmocka_unit_test_setup(test_unix_stale_live, watchdog),
		cmocka_unit_test_setup(test_unix_dial_errors, watchdog),
		cmocka_unit_test_setup(test_listener_free_in_callback,
		    watchdog),
		cmocka_unit_test_setup(test_tcp_round_trip, watchdog),
		cmocka_unit_test_setup(test_tcp_name, watchdog),
		cmocka_unit_test_setup(test_tcp_refused, watchdog),
		cmocka_unit_test_setup(test_tcp_ipv6, watchdog),
		cmocka_unit_test_setup(test_exec_cat, watchdog),
		cmocka_unit_test_setup(test_exec_child_env, watchdog),
		cmocka_unit_test_setup(test_exec_missing, watchdog),
		cmocka_unit_test_setup(test_exec_linger, watchdog),
		cmocka_unit_test_setup(test_exec_loop_free, watchdog),
		cmocka_unit_test_setup(test_fd_pair, watchdog),
		cmocka_unit_test_setup(test_stdio, watchdog),
		cmocka_unit_test_setup(test_cancel, watchdog),
		cmocka_unit_test_setup(test_cancel_in_callback, watchdog),
		cmocka_unit_test_setup(test_emfile, watchdog),
		cmocka_unit_test_setup(test_emfile_room, watchdog),
	};

	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
