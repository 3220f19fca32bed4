/*
 * transport.c - addresses, listeners and dialling: the descriptors a
 * session runs over, every one non-blocking and close-on-exec.
 *
 * Nothing here moves bytes. Results reach the caller through the loop
 * (a deferred call or a watcher), never from inside proto_listen() or
 * proto_dial(), so a caller never sees its callback run before the call
 * that asked for it has returned.
 *
 * Children of exec: transports are reaped by the loop they were made on
 * (lpi_loop_reap): the stream carries that loop, so proto_stream_close()
 * needs no other argument and never blocks.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "loop_int.h"
#include "proto_loop.h"
#include "proto_transport.h"

#define LISTEN_BACKLOG	128
/* Connections taken per readiness: the loop's other work gets a turn. */
#define ACCEPT_BATCH	128
/* Out of descriptors: stop accepting this long, then try again. */
#define ACCEPT_PAUSE	(100 * PROTO_MS)

#define UNIX_PATH_MAX	(sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

struct proto_listener {
	struct proto_loop *loop;
	enum proto_addr_type type;
	proto_accept_fn *fn;
	void *arg;
	int fd;			/* unix, tcp: the listening socket */
	struct proto_io *io;
	struct proto_timer *pause;	/* EMFILE: accepting again later */
	proto_full_fn *full;		/* EMFILE: the owner may make room */
	void *full_arg;
	struct proto_defer *handoff;	/* stdio, fd: the one stream */
	int rfd, wfd;
	int busy;		/* inside fn */
	int freed;		/* proto_listener_free() came inside fn */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;		/* of the socket file we made */
	ino_t ino;
	int own_file;
	char addr[160];
};

struct proto_dial {
	struct proto_loop *loop;
	proto_dial_fn *fn;
	void *arg;
	struct proto_addr a;
	struct proto_defer *done;
	struct proto_io *io;	/* tcp: the connect in progress */
	struct addrinfo *ai;	/* tcp: the addresses, */
	struct addrinfo *cur;	/* and the one being tried */
	int fd;
	int error;		/* last failure */
	int have_stream;
	int calling;		/* inside fn: cancel is moot */
	struct proto_stream st;
	char msg[640];
};

/* --- messages ------------------------------------------------------------- */

/*
 * "ADDR: reason" into err. The address loses a trailing colon ("exec:"
 * gives "exec: empty command") and is shown with control bytes as '?':
 * it comes from the command line and ends up on a terminal.
 */
static int
vaddr_err(char *err, size_t errlen, const char *addr, size_t max,
    const char *fmt, va_list ap)
{
	char shown[sizeof(((struct proto_addr *)0)->text) + 4];
	size_t n, i;
	int off;

	if (err == NULL || errlen == 0)
		return -1;
	if (addr == NULL)
		addr = "(null)";
	n = strlen(addr);
	if (n > 0 && addr[n - 1] == ':')
		n--;
	if (max > sizeof(shown) - 4)
		max = sizeof(shown) - 4;
	for (i = 0; i < n && i < max; i++) {
		unsigned char c = (unsigned char)addr[i];

		shown[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	if (i < n) {
		memcpy(shown + i, "...", 3);
		i += 3;
	}
	shown[i] = '\0';
	off = snprintf(err, errlen, "%s: ", shown);
	if (off < 0 || (size_t)off >= errlen)
		return -1;
	vsnprintf(err + off, errlen - off, fmt, ap);
	return -1;
}

static int
addr_err(char *err, size_t errlen, const char *addr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int
addr_errn(char *err, size_t errlen, const char *addr, size_t max,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
addr_err(char *err, size_t errlen, const char *addr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vaddr_err(err, errlen, addr, SIZE_MAX, fmt, ap);
	va_end(ap);
	return -1;
}

/* The same, showing at most `max` bytes of the address. */
static int
addr_errn(char *err, size_t errlen, const char *addr, size_t max,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vaddr_err(err, errlen, addr, max, fmt, ap);
	va_end(ap);
	return -1;
}

/* --- parsing -------------------------------------------------------------- */

static int
all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* A decimal number 0..max, digits only. -1 if it is not. */
static long
number(const char *s, long max)
{
	long v = 0;

	if (!all_digits(s))
		return -1;
	for (; *s != '\0'; s++) {
		v = v * 10 + (*s - '0');
		if (v > max)
			return -1;
	}
	return v;
}

static int
parse_port(const char *s, struct proto_addr *a, char *err, size_t errlen)
{
	long v;

	if (*s == '\0')
		return addr_err(err, errlen, a->text, "missing port");
	v = number(s, 65535);
	if (v == -1)
		return addr_err(err, errlen, a->text,
		    "port must be a number from 0 to 65535, not \"%.16s\"", s);
	snprintf(a->port, sizeof(a->port), "%ld", v);
	return 0;
}

static int
host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static int
parse_tcp(const char *rest, struct proto_addr *a, char *err, size_t errlen)
{
	struct in6_addr in6;
	char v6[sizeof(a->host)];
	const char *colon, *end, *p;
	size_t n;

	a->type = PROTO_ADDR_TCP;
	if (*rest == '\0')
		return addr_err(err, errlen, a->text,
		    "missing host and port");
	if (*rest == '[') {
		end = strchr(rest, ']');
		if (end == NULL)
			return addr_err(err, errlen, a->text, "missing ]");
		n = end - rest - 1;
		if (n == 0)
			return addr_err(err, errlen, a->text,
			    "empty IPv6 address");
		if (n >= sizeof(a->host))
			return addr_err(err, errlen, a->text,
			    "IPv6 address too long");
		memcpy(a->host, rest + 1, n);
		a->host[n] = '\0';
		/* The literal without its zone ("fe80::1%eth0"). */
		memcpy(v6, a->host, n + 1);
		v6[strcspn(v6, "%")] = '\0';
		if (inet_pton(AF_INET6, v6, &in6) != 1)
			return addr_err(err, errlen, a->text,
			    "not an IPv6 address: %s", a->host);
		if (end[1] == '\0')
			return addr_err(err, errlen, a->text, "missing port");
		if (end[1] != ':')
			return addr_err(err, errlen, a->text,
			    "expected :PORT after ]");
		return parse_port(end + 2, a, err, errlen);
	}
	colon = strchr(rest, ':');
	if (colon == NULL) {
		/* tcp:PORT, for listening; tcp:NAME lacks its port. */
		if (all_digits(rest))
			return parse_port(rest, a, err, errlen);
		return addr_err(err, errlen, a->text, "missing port");
	}
	if (strchr(colon + 1, ':') != NULL)
		return addr_err(err, errlen, a->text,
		    "an IPv6 address goes in brackets: tcp:[ADDR]:PORT");
	n = colon - rest;
	if (n >= sizeof(a->host))
		return addr_err(err, errlen, a->text,
		    "host name longer than %zu bytes", sizeof(a->host) - 1);
	for (p = rest; p < colon; p++)
		if (!host_char(*p))
			return addr_err(err, errlen, a->text,
			    "bad character in host name");
	memcpy(a->host, rest, n);
	a->host[n] = '\0';
	return parse_port(colon + 1, a, err, errlen);
}

static int
parse_fd(const char *rest, struct proto_addr *a, char *err, size_t errlen)
{
	char num[32];
	const char *comma;
	long r, w;
	size_t n;

	a->type = PROTO_ADDR_FD;
	if (*rest == '\0')
		return addr_err(err, errlen, a->text,
		    "missing descriptor number");
	comma = strchr(rest, ',');
	n = comma != NULL ? (size_t)(comma - rest) : strlen(rest);
	if (n >= sizeof(num))
		return addr_err(err, errlen, a->text,
		    "not a descriptor number");
	memcpy(num, rest, n);
	num[n] = '\0';
	r = number(num, INT_MAX);
	w = comma != NULL ? number(comma + 1, INT_MAX) : r;
	if (r == -1 || w == -1)
		return addr_err(err, errlen, a->text,
		    "not a descriptor number");
	a->rfd = (int)r;
	a->wfd = (int)w;
	return 0;
}

int
proto_addr_parse(const char *s, struct proto_addr *a, char *err,
    size_t errlen)
{
	const char *p;

	memset(a, 0, sizeof(*a));
	a->rfd = a->wfd = -1;
	if (s == NULL || *s == '\0')
		return addr_err(err, errlen, "(empty)", "no address");
	if (strlen(s) >= sizeof(a->text))
		/* Show its start only: the rest may be anything. */
		return addr_errn(err, errlen, s, 40,
		    "address longer than %zu bytes", sizeof(a->text) - 1);
	memcpy(a->text, s, strlen(s) + 1);

	if (strncmp(s, "unix:", 5) == 0) {
		a->type = PROTO_ADDR_UNIX;
		p = s + 5;
		if (*p == '\0')
			return addr_err(err, errlen, s, "missing path");
		if (strlen(p) > UNIX_PATH_MAX)
			return addr_err(err, errlen, s,
			    "path longer than %zu bytes", UNIX_PATH_MAX);
		memcpy(a->path, p, strlen(p) + 1);
		return 0;
	}
	if (strncmp(s, "tcp:", 4) == 0)
		return parse_tcp(s + 4, a, err, errlen);
	if (strcmp(s, "stdio") == 0) {
		a->type = PROTO_ADDR_STDIO;
		a->rfd = 0;
		a->wfd = 1;
		return 0;
	}
	if (strncmp(s, "stdio:", 6) == 0)
		return addr_err(err, errlen, s, "stdio takes no argument");
	if (strncmp(s, "exec:", 5) == 0) {
		a->type = PROTO_ADDR_EXEC;
		p = s + 5;
		if (p[strspn(p, " \t\n")] == '\0')
			return addr_err(err, errlen, s, "empty command");
		memcpy(a->command, p, strlen(p) + 1);
		return 0;
	}
	if (strncmp(s, "fd:", 3) == 0)
		return parse_fd(s + 3, a, err, errlen);
	return addr_err(err, errlen, s, "unknown address type (use unix:PATH, "
	    "tcp:HOST:PORT, stdio, exec:COMMAND or fd:N)");
}

/* Copy as much of src as fits, always terminated (peer names). */
static void
copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* --- descriptors and streams ---------------------------------------------- */

static int
set_flags(int fd)
{
	int fl;

	fl = fcntl(fd, F_GETFL);
	if (fl == -1)
		return -1;
	if ((fl & O_NONBLOCK) == 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return -1;
	fl = fcntl(fd, F_GETFD);
	if (fl == -1)
		return -1;
	if ((fl & FD_CLOEXEC) == 0 && fcntl(fd, F_SETFD, fl | FD_CLOEXEC) == -1)
		return -1;
	return 0;
}

/*
 * An inherited descriptor (stdio, fd:): open, open the right way, then
 * non-blocking and close-on-exec.
 */
static int
take_fd(const char *text, int fd, int rd, int wr, char *err, size_t errlen)
{
	int fl, e;

	fl = fcntl(fd, F_GETFL);
	if (fl != -1 && ((rd && (fl & O_ACCMODE) == O_WRONLY) ||
	    (wr && (fl & O_ACCMODE) == O_RDONLY))) {
		addr_err(err, errlen, text, "descriptor %d is not open for %s",
		    fd, rd && (fl & O_ACCMODE) == O_WRONLY ? "reading" :
		    "writing");
		errno = EBADF;
		return -1;
	}
	if (fl == -1 || set_flags(fd) == -1) {
		e = errno;
		addr_err(err, errlen, text, "descriptor %d: %s", fd,
		    strerror(e));
		errno = e;
		return -1;
	}
	return 0;
}

static void
stream_init(struct proto_stream *s, struct proto_loop *l, int rfd, int wfd)
{
	memset(s, 0, sizeof(*s));
	s->rfd = rfd;
	s->wfd = wfd;
	s->loop = l;
}

/* stdio and fd: check and take the descriptors, name the stream. */
static int
inherited(struct proto_loop *l, const struct proto_addr *a,
    struct proto_stream *st, char *err, size_t errlen)
{
	if (a->rfd < 0 || a->wfd < 0) {
		addr_err(err, errlen, a->text, "not a descriptor number");
		errno = EBADF;
		return -1;
	}
	if (a->rfd == a->wfd) {
		if (take_fd(a->text, a->rfd, 1, 1, err, errlen) == -1)
			return -1;
	} else if (take_fd(a->text, a->rfd, 1, 0, err, errlen) == -1 ||
	    take_fd(a->text, a->wfd, 0, 1, err, errlen) == -1)
		return -1;
	stream_init(st, l, a->rfd, a->wfd);
	if (a->type == PROTO_ADDR_STDIO)
		snprintf(st->peer, sizeof(st->peer), "stdio");
	else if (a->rfd == a->wfd)
		snprintf(st->peer, sizeof(st->peer), "fd:%d", a->rfd);
	else
		snprintf(st->peer, sizeof(st->peer), "fd:%d,%d", a->rfd,
		    a->wfd);
	return 0;
}

/*
 * Close fd; a standard descriptor is pointed at /dev/null instead (and
 * put back to blocking: its file may be the terminal, shared with the
 * shell), so that no socket opened later becomes stdin or stdout.
 */
static void
close_fd(int fd)
{
	int fl, null;

	if (fd > 2) {
		close(fd);
		return;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl != -1 && (fl & O_NONBLOCK))
		(void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null == -1 || dup2(null, fd) == -1)
		close(fd);
	if (null != -1)
		close(null);
}

void
proto_stream_close(struct proto_stream *s)
{
	if (s == NULL)
		return;
	if (s->rfd >= 0)
		close_fd(s->rfd);
	if (s->wfd >= 0 && s->wfd != s->rfd)
		close_fd(s->wfd);
	s->rfd = s->wfd = -1;
	if (s->child > 0) {
		/*
		 * Its end of the socket pair is closed: a filter sees EOF
		 * and exits. The loop waits for it, and insists.
		 */
		if (s->loop == NULL || lpi_loop_reap(s->loop, s->child) == -1) {
			/* No loop to wait on: end it now. */
			(void)kill(s->child, SIGKILL);
			while (waitpid(s->child, NULL, 0) == -1 &&
			    errno == EINTR)
				continue;
		}
		s->child = 0;
	}
}

int
proto_stream_ended(const struct proto_stream *s, char *buf, size_t len)
{
	siginfo_t si;
	int i;

	if (s->child <= 0)
		return 0;
	/*
	 * Its output ends as it exits, a moment before it can be waited
	 * for: look a few times. WNOWAIT leaves it to the loop's reaper.
	 */
	for (i = 0; i < 10; i++) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)s->child, &si, WEXITED | WNOHANG |
		    WNOWAIT) < 0)
			return 0;
		if (si.si_pid == s->child)
			break;
		usleep(2000);
	}
	if (si.si_pid != s->child)
		return 0;
	if (si.si_code == CLD_EXITED)
		snprintf(buf, len, "the command exited with status %d%s",
		    si.si_status, si.si_status == 127 ? " (not found)" :
		    si.si_status == 126 ? " (not executable)" : "");
	else
		snprintf(buf, len, "the command was killed by signal %d",
		    si.si_status);
	return 1;
}

/* "tcp:1.2.3.4:5" or "tcp:[::1]:5" for a socket address. */
static void
tcp_name(const struct sockaddr *sa, socklen_t len, char *out, size_t outlen)
{
	char host[64], serv[8];	/* an address with its zone, a port */

	if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(out, outlen, "tcp:?");
		return;
	}
	if (sa->sa_family == AF_INET6)
		snprintf(out, outlen, "tcp:[%s]:%s", host, serv);
	else
		snprintf(out, outlen, "tcp:%s:%s", host, serv);
}

/* Requests and replies are small and answered at once: no Nagle. */
static void
tcp_nodelay(int fd)
{
	int on = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

static int
unix_sockaddr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) > UNIX_PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun->sun_path, path, strlen(path) + 1);
	return 0;
}

/* --- listening ------------------------------------------------------------ */

static void
listener_release(struct proto_listener *ls)
{
	struct stat st;

	proto_io_free(ls->io);
	proto_timer_free(ls->pause);
	proto_defer_free(ls->handoff);
	if (ls->fd >= 0)
		close(ls->fd);
	/* Our socket file only: another server may have replaced it. */
	if (ls->own_file && lstat(ls->path, &st) == 0 &&
	    st.st_dev == ls->dev && st.st_ino == ls->ino)
		(void)unlink(ls->path);
	free(ls);
}

void
proto_listener_free(struct proto_listener *ls)
{
	if (ls == NULL || ls->freed)
		return;
	ls->freed = 1;
	if (ls->busy == 0)
		listener_release(ls);
}

void
proto_listener_on_full(struct proto_listener *ls, proto_full_fn *fn,
    void *arg)
{
	ls->full = fn;
	ls->full_arg = arg;
}

const char *
proto_listener_addr(const struct proto_listener *ls)
{
	return ls->addr;
}

/* Errors of accept(2) that concern one connection only. */
static int
accept_transient(int e)
{
	switch (e) {
	case ECONNABORTED:
	case EPROTO:
	case EPERM:
	case ENETDOWN:
	case ENOPROTOOPT:
	case EHOSTDOWN:
	case ENONET:
	case EHOSTUNREACH:
	case EOPNOTSUPP:
	case ENETUNREACH:
	case ETIMEDOUT:
		return 1;
	}
	return 0;
}

static int
backlog_waiting(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

static void
accept_resume(struct proto_timer *t, void *arg)
{
	struct proto_listener *ls = arg;

	(void)t;
	(void)proto_io_set(ls->io, PROTO_IO_READ);
}

static void
on_accept(struct proto_io *io, unsigned events, void *arg)
{
	struct proto_listener *ls = arg;
	struct sockaddr_storage ss;
	struct proto_stream st;
	socklen_t len;
	int fd, n;

	(void)io;
	(void)events;
	ls->busy++;
	for (n = 0; n < ACCEPT_BATCH && !ls->freed; n++) {
		len = sizeof(ss);
		fd = accept4(ls->fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || accept_transient(errno))
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			/*
			 * accept(2) takes a descriptor before it looks at
			 * the backlog: EMFILE with nobody waiting is only
			 * the end of the batch, and no reason to make room.
			 */
			if ((errno == EMFILE || errno == ENFILE) &&
			    !backlog_waiting(ls->fd))
				break;
			if ((errno == EMFILE || errno == ENFILE) &&
			    ls->full != NULL && ls->full(ls->full_arg) > 0)
				continue;
			/*
			 * EMFILE, ENFILE, ENOBUFS, ENOMEM: the connection
			 * stays in the backlog and the listener stays
			 * readable. Retrying now would spin: pause instead.
			 */
			if (proto_io_set(ls->io, 0) == 0)
				proto_timer_set(ls->pause, ACCEPT_PAUSE);
			break;
		}
		stream_init(&st, ls->loop, fd, fd);
		if (ls->type == PROTO_ADDR_TCP) {
			tcp_nodelay(fd);
			tcp_name((struct sockaddr *)&ss, len, st.peer,
			    sizeof(st.peer));
		} else
			copy_str(st.peer, sizeof(st.peer), ls->addr);
		ls->fn(ls->arg, &st);
	}
	ls->busy--;
	if (ls->freed && ls->busy == 0)
		listener_release(ls);
}

static void
on_handoff(struct proto_defer *d, void *arg)
{
	struct proto_listener *ls = arg;
	struct proto_stream st;

	(void)d;
	stream_init(&st, ls->loop, ls->rfd, ls->wfd);
	copy_str(st.peer, sizeof(st.peer), ls->addr);
	ls->busy++;
	ls->fn(ls->arg, &st);
	ls->busy--;
	if (ls->freed)
		listener_release(ls);
}

/*
 * EADDRINUSE on a unix path: a socket file nobody accepts on (a server
 * that died) may be replaced; anything else is refused. Only a socket
 * file is ever removed, never a file given by mistake.
 */
static int
unix_stale(const char *text, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd, r, e;

	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return 0;	/* gone meanwhile */
		return addr_err(err, errlen, text, "%s", strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return addr_err(err, errlen, text,
		    "address in use: the file is not a socket");
	if (unix_sockaddr(path, &sun) == -1)
		return addr_err(err, errlen, text, "%s", strerror(errno));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return addr_err(err, errlen, text, "socket: %s",
		    strerror(errno));
	r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	e = errno;
	close(fd);
	/* EAGAIN: its backlog is full, so somebody listens. */
	if (r == 0 || e == EAGAIN)
		return addr_err(err, errlen, text,
		    "address in use: a server is accepting there");
	if (e == ECONNREFUSED || e == ENOENT) {
		if (unlink(path) == -1 && errno != ENOENT)
			return addr_err(err, errlen, text,
			    "removing the stale socket: %s", strerror(errno));
		return 0;
	}
	return addr_err(err, errlen, text, "address in use (%s)",
	    strerror(e));
}

static int
listen_unix(struct proto_listener *ls, const struct proto_addr *a, char *err,
    size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;

	if (unix_sockaddr(a->path, &sun) == -1)
		return addr_err(err, errlen, a->text, "path longer than %zu "
		    "bytes", UNIX_PATH_MAX);
	ls->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (ls->fd == -1)
		return addr_err(err, errlen, a->text, "socket: %s",
		    strerror(errno));
	if (bind(ls->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (errno != EADDRINUSE)
			return addr_err(err, errlen, a->text, "bind: %s",
			    strerror(errno));
		if (unix_stale(a->text, a->path, err, errlen) == -1)
			return -1;
		if (bind(ls->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
			return addr_err(err, errlen, a->text, "bind: %s",
			    strerror(errno));
	}
	if (lstat(a->path, &st) == 0) {
		ls->dev = st.st_dev;
		ls->ino = st.st_ino;
		ls->own_file = 1;
	}
	memcpy(ls->path, a->path, strlen(a->path) + 1);
	if (listen(ls->fd, LISTEN_BACKLOG) == -1)
		return addr_err(err, errlen, a->text, "listen: %s",
		    strerror(errno));
	snprintf(ls->addr, sizeof(ls->addr), "unix:%s", a->path);
	return 0;
}

static int
listen_tcp(struct proto_listener *ls, const struct proto_addr *a, char *err,
    size_t errlen)
{
	struct addrinfo hints, *ai, *p;
	struct sockaddr_storage ss;
	const char *what = "bind";
	socklen_t len;
	int r, e = EADDRNOTAVAIL, on = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	r = getaddrinfo(a->host[0] != '\0' ? a->host : "127.0.0.1", a->port,
	    &hints, &ai);
	if (r != 0)
		return addr_err(err, errlen, a->text, "%s",
		    r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
	for (p = ai; p != NULL; p = p->ai_next) {
		ls->fd = socket(p->ai_family, p->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, p->ai_protocol);
		if (ls->fd == -1) {
			e = errno;
			what = "socket";
			continue;
		}
		/* A restarted server takes its port back from TIME_WAIT. */
		if (setsockopt(ls->fd, SOL_SOCKET, SO_REUSEADDR, &on,
		    sizeof(on)) == -1)
			what = "setsockopt";
		else if (bind(ls->fd, p->ai_addr, p->ai_addrlen) == -1)
			what = "bind";
		else if (listen(ls->fd, LISTEN_BACKLOG) == -1)
			what = "listen";
		else
			break;
		e = errno;
		close(ls->fd);
		ls->fd = -1;
	}
	freeaddrinfo(ai);
	if (ls->fd == -1)
		return addr_err(err, errlen, a->text, "%s: %s", what,
		    strerror(e));
	len = sizeof(ss);
	if (getsockname(ls->fd, (struct sockaddr *)&ss, &len) == -1)
		return addr_err(err, errlen, a->text, "getsockname: %s",
		    strerror(errno));
	tcp_name((struct sockaddr *)&ss, len, ls->addr, sizeof(ls->addr));
	return 0;
}

struct proto_listener *
proto_listen(struct proto_loop *l, const struct proto_addr *a,
    proto_accept_fn *fn, void *arg, char *err, size_t errlen)
{
	struct proto_listener *ls;
	struct proto_stream st;
	int r;

	if (fn == NULL) {
		addr_err(err, errlen, a->text, "no accept callback");
		errno = EINVAL;
		return NULL;
	}
	ls = calloc(1, sizeof(*ls));
	if (ls == NULL) {
		addr_err(err, errlen, a->text, "%s", strerror(errno));
		return NULL;
	}
	ls->loop = l;
	ls->type = a->type;
	ls->fn = fn;
	ls->arg = arg;
	ls->fd = ls->rfd = ls->wfd = -1;

	switch (a->type) {
	case PROTO_ADDR_UNIX:
		r = listen_unix(ls, a, err, errlen);
		break;
	case PROTO_ADDR_TCP:
		r = listen_tcp(ls, a, err, errlen);
		break;
	case PROTO_ADDR_STDIO:
	case PROTO_ADDR_FD:
		r = inherited(l, a, &st, err, errlen);
		if (r == 0) {
			ls->rfd = st.rfd;
			ls->wfd = st.wfd;
			copy_str(ls->addr, sizeof(ls->addr), st.peer);
		}
		break;
	case PROTO_ADDR_EXEC:
		errno = EINVAL;
		r = addr_err(err, errlen, a->text, "cannot listen on a "
		    "command (exec: is for connecting)");
		break;
	default:
		errno = EINVAL;
		r = addr_err(err, errlen, a->text, "unknown address type");
		break;
	}
	if (r == -1)
		goto fail;

	if (ls->fd >= 0) {
		ls->io = proto_io_new(l, ls->fd, PROTO_IO_READ, on_accept, ls);
		ls->pause = proto_timer_new(l, accept_resume, ls);
	} else {
		ls->handoff = proto_defer_new(l, on_handoff, ls);
		if (ls->handoff != NULL)
			proto_defer_post(ls->handoff);
	}
	if ((ls->fd >= 0 && (ls->io == NULL || ls->pause == NULL)) ||
	    (ls->fd < 0 && ls->handoff == NULL)) {
		addr_err(err, errlen, a->text, "%s", strerror(errno));
		goto fail;
	}
	return ls;
fail:
	r = errno;
	listener_release(ls);
	errno = r;
	return NULL;
}

/* --- dialling ------------------------------------------------------------- */

static void
dial_release(struct proto_dial *d)
{
	proto_io_free(d->io);
	if (d->fd >= 0)
		close(d->fd);
	proto_defer_free(d->done);
	if (d->ai != NULL)
		freeaddrinfo(d->ai);
	free(d);
}

/* The result is in: the loop hands it over at the end of the round. */
static void
dial_ok(struct proto_dial *d)
{
	d->have_stream = 1;
	proto_defer_post(d->done);
}

static void
dial_fail(struct proto_dial *d, int error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
dial_fail(struct proto_dial *d, int error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vaddr_err(d->msg, sizeof(d->msg), d->a.text, SIZE_MAX, fmt, ap);
	va_end(ap);
	d->error = error != 0 ? error : EIO;
	proto_defer_post(d->done);
}

static void
on_dial_done(struct proto_defer *df, void *arg)
{
	struct proto_dial *d = arg;

	(void)df;
	d->calling = 1;
	if (d->have_stream)
		d->fn(d->arg, &d->st, 0, d->st.peer);
	else
		d->fn(d->arg, NULL, d->error, d->msg);
	/* The stream, if any, is fn's now. */
	dial_release(d);
}

void
proto_dial_cancel(struct proto_dial *d)
{
	if (d == NULL || d->calling)
		return;
	if (d->have_stream)
		proto_stream_close(&d->st);
	dial_release(d);
}

static void
dial_unix(struct proto_dial *d)
{
	struct sockaddr_un sun;
	int fd;

	if (unix_sockaddr(d->a.path, &sun) == -1) {
		dial_fail(d, errno, "path longer than %zu bytes",
		    UNIX_PATH_MAX);
		return;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		dial_fail(d, errno, "socket: %s", strerror(errno));
		return;
	}
	/*
	 * A unix connect completes or fails at once; EAGAIN means the
	 * server's backlog is full, which is no progress to wait for.
	 */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int e = errno;

		close(fd);
		if (e == EAGAIN)
			dial_fail(d, e, "connect: the server's backlog is "
			    "full");
		else
			dial_fail(d, e, "connect: %s", strerror(e));
		return;
	}
	stream_init(&d->st, d->loop, fd, fd);
	snprintf(d->st.peer, sizeof(d->st.peer), "unix:%s", d->a.path);
	dial_ok(d);
}

static void tcp_try(struct proto_dial *);

static void
tcp_connected(struct proto_dial *d, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	tcp_nodelay(fd);
	stream_init(&d->st, d->loop, fd, fd);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
		tcp_name((struct sockaddr *)&ss, len, d->st.peer,
		    sizeof(d->st.peer));
	else
		copy_str(d->st.peer, sizeof(d->st.peer), d->a.text);
	dial_ok(d);
}

static void
on_tcp_ready(struct proto_io *io, unsigned events, void *arg)
{
	struct proto_dial *d = arg;
	socklen_t len = sizeof(int);
	int fd = d->fd, soerr = 0;

	(void)io;
	(void)events;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
		soerr = errno;
	proto_io_free(d->io);
	d->io = NULL;
	d->fd = -1;
	if (soerr == 0) {
		tcp_connected(d, fd);
		return;
	}
	close(fd);
	d->error = soerr;
	d->cur = d->cur->ai_next;
	tcp_try(d);
}

/* Connect to d->cur, or the next address that will take it. */
static void
tcp_try(struct proto_dial *d)
{
	struct addrinfo *p;
	int fd;

	for (; (p = d->cur) != NULL; d->cur = p->ai_next) {
		fd = socket(p->ai_family, p->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, p->ai_protocol);
		if (fd == -1) {
			d->error = errno;
			continue;
		}
		if (connect(fd, p->ai_addr, p->ai_addrlen) == 0) {
			tcp_connected(d, fd);
			return;
		}
		if (errno == EINPROGRESS) {
			d->io = proto_io_new(d->loop, fd, PROTO_IO_WRITE,
			    on_tcp_ready, d);
			if (d->io != NULL) {
				d->fd = fd;
				return;
			}
		}
		d->error = errno;
		close(fd);
	}
	dial_fail(d, d->error, "connect: %s", strerror(d->error));
}

/* getaddrinfo's failures as errno values: the callback wants one. */
static int
gai_errno(int r)
{
	switch (r) {
	case EAI_SYSTEM:
		return errno;
	case EAI_MEMORY:
		return ENOMEM;
	case EAI_AGAIN:
		return EAGAIN;
	case EAI_FAMILY:
	case EAI_SOCKTYPE:
	case EAI_SERVICE:
		return EINVAL;
	}
	return ENXIO;		/* no such host */
}

static void
dial_tcp(struct proto_dial *d)
{
	struct addrinfo hints;
	int r;

	if (d->a.host[0] == '\0') {
		dial_fail(d, EDESTADDRREQ, "no host to connect to "
		    "(tcp:HOST:PORT)");
		return;
	}
	if (strcmp(d->a.port, "0") == 0) {
		dial_fail(d, EINVAL, "cannot connect to port 0");
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	r = getaddrinfo(d->a.host, d->a.port, &hints, &d->ai);
	if (r != 0) {
		d->ai = NULL;
		dial_fail(d, gai_errno(r), "%s", r == EAI_SYSTEM ?
		    strerror(errno) : gai_strerror(r));
		return;
	}
	d->cur = d->ai;
	d->error = EADDRNOTAVAIL;
	tcp_try(d);
}

int
lpi_ksigaction(int sig, const struct lpi_ksigaction *sa,
    struct lpi_ksigaction *old)
{
#if defined(SYS_rt_sigaction) && (defined(__x86_64__) || \
    defined(__i386__) || defined(__aarch64__) || defined(__arm__) || \
    defined(__riscv))
	return (int)syscall(SYS_rt_sigaction, sig, sa, old, sizeof(sa->mask));
#else
	(void)sig, (void)sa, (void)old;
	errno = ENOSYS;
	return -1;
#endif
}

/*
 * The child of exec:, between fork and exec: async-signal-safe calls
 * only. Its stdin and stdout become its end of the socket pair, every
 * other descriptor but stderr goes, and signal dispositions and the
 * mask are reset: an ignored SIGPIPE in the parent would survive exec.
 */
static void
exec_child(int fd, const char *command, int maxfd)
{
	static const struct lpi_ksigaction dfl = { NULL, 0, NULL, 0 };
	struct sigaction sa;
	sigset_t none;
	int sig, i;

	/* dup2 onto itself would keep close-on-exec: move it up first. */
	if (fd < 3) {
		fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (fd == -1)
			_exit(127);
	}
	if (dup2(fd, 0) == -1 || dup2(fd, 1) == -1)
		_exit(127);
	if (close_range(3, ~0u, 0) == -1)
		for (i = 3; i < maxfd; i++)
			(void)close(i);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		if (sigaction(sig, &sa, NULL) == -1 && errno == EINVAL &&
		    sig != SIGKILL && sig != SIGSTOP)
			(void)lpi_ksigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	execl("/bin/sh", "sh", "-c", command, (char *)NULL);
	_exit(127);
}

static void
dial_exec(struct proto_dial *d)
{
	int sv[2], e, maxfd;
	long open_max;
	pid_t pid;

	/* Only the parent's end is non-blocking: the child's is its stdio. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		dial_fail(d, errno, "socketpair: %s", strerror(errno));
		return;
	}
	open_max = sysconf(_SC_OPEN_MAX);
	maxfd = open_max > 0 && open_max < INT_MAX ? (int)open_max : 1024;
	pid = fork();
	if (pid == 0)
		exec_child(sv[1], d->a.command, maxfd);
	e = errno;
	close(sv[1]);
	if (pid == -1) {
		close(sv[0]);
		dial_fail(d, e, "fork: %s", strerror(e));
		return;
	}
	stream_init(&d->st, d->loop, sv[0], sv[0]);
	d->st.child = pid;
	copy_str(d->st.peer, sizeof(d->st.peer), d->a.text);
	if (set_flags(sv[0]) == -1) {
		e = errno;
		proto_stream_close(&d->st);
		dial_fail(d, e, "%s", strerror(e));
		return;
	}
	dial_ok(d);
}

struct proto_dial *
proto_dial(struct proto_loop *l, const struct proto_addr *a,
    proto_dial_fn *fn, void *arg)
{
	struct proto_dial *d;

	if (fn == NULL) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	d->loop = l;
	d->fn = fn;
	d->arg = arg;
	d->a = *a;
	d->a.text[sizeof(d->a.text) - 1] = '\0';
	d->fd = -1;
	d->done = proto_defer_new(l, on_dial_done, d);
	if (d->done == NULL) {
		free(d);
		return NULL;
	}
	switch (a->type) {
	case PROTO_ADDR_UNIX:
		dial_unix(d);
		break;
	case PROTO_ADDR_TCP:
		dial_tcp(d);
		break;
	case PROTO_ADDR_EXEC:
		dial_exec(d);
		break;
	case PROTO_ADDR_STDIO:
	case PROTO_ADDR_FD:
		/* d->msg gets "ADDR: reason" already. */
		if (inherited(l, &d->a, &d->st, d->msg, sizeof(d->msg)) == -1) {
			d->error = errno;
			proto_defer_post(d->done);
		} else
			dial_ok(d);
		break;
	default:
		dial_fail(d, EINVAL, "unknown address type");
		break;
	}
	return d;
}
