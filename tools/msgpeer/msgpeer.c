/*
 * msgpeer - the reference peer of the msgkit protocol.
 *
 *	msgpeer serve --listen ADDR...	accept sessions, serve echo and delay
 *	msgpeer connect ADDR		keep a session to ADDR, serve the same
 *	msgpeer ping ADDR		session round trips, as ping(8)
 *	msgpeer echo ADDR		echo load: throughput and latency
 *
 * Exit status: 0 success, 1 the session failed or a check failed (lost
 * replies, wrong echoes, no ping reply), 2 usage or set-up error.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "msgpeer.h"
#include "proto_numbers.h"
#include "tools/lib/cli.h"

static int log_level = PROTO_LOG_WARN;

enum {
	OPT_NODE = 256, OPT_KEY, OPT_CRC, OPT_WINDOW, OPT_INFLIGHT,
	OPT_LINKS, OPT_MEMORY, OPT_JOURNAL, OPT_PING_IDLE, OPT_DEAD,
	OPT_TIMEOUT, OPT_ACK_DELAY, OPT_LISTEN, OPT_SERVICE, OPT_COMMAND,
	OPT_VERSION, OPT_RECONNECT, OPT_TRIES, OPT_TOTAL, OPT_SESSIONS,
	OPT_CONNS, OPT_HANDSHAKE, OPT_EXPORT, OPT_EXPORT_RO, OPT_TRACE,
	OPT_WORKERS, OPT_MAX_FILES, OPT_REF
};

static const struct option long_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "count", required_argument, NULL, 'c' },
	{ "interval", required_argument, NULL, 'i' },
	{ "size", required_argument, NULL, 's' },
	{ "parallel", required_argument, NULL, 'P' },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "node", required_argument, NULL, OPT_NODE },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "crc", no_argument, NULL, OPT_CRC },
	{ "window", required_argument, NULL, OPT_WINDOW },
	{ "max-inflight", required_argument, NULL, OPT_INFLIGHT },
	{ "max-links", required_argument, NULL, OPT_LINKS },
	{ "max-memory", required_argument, NULL, OPT_MEMORY },
	{ "max-total-memory", required_argument, NULL, OPT_TOTAL },
	{ "max-sessions", required_argument, NULL, OPT_SESSIONS },
	{ "max-conns", required_argument, NULL, OPT_CONNS },
	{ "handshake-timeout", required_argument, NULL, OPT_HANDSHAKE },
	{ "journal", required_argument, NULL, OPT_JOURNAL },
	{ "ping-idle", required_argument, NULL, OPT_PING_IDLE },
	{ "dead", required_argument, NULL, OPT_DEAD },
	{ "session-timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "ack-delay", required_argument, NULL, OPT_ACK_DELAY },
	{ "reconnect-max", required_argument, NULL, OPT_RECONNECT },
	{ "connect-tries", required_argument, NULL, OPT_TRIES },
	{ "service", required_argument, NULL, OPT_SERVICE },
	{ "command", required_argument, NULL, OPT_COMMAND },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "export", required_argument, NULL, OPT_EXPORT },
	{ "export-ro", required_argument, NULL, OPT_EXPORT_RO },
	{ "trace", required_argument, NULL, OPT_TRACE },
	{ "workers", required_argument, NULL, OPT_WORKERS },
	{ "max-files", required_argument, NULL, OPT_MAX_FILES },
	{ "ref", no_argument, NULL, OPT_REF },
	{ NULL, 0, NULL, 0 }
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: msgpeer serve --listen ADDR [--listen ADDR...] [options]\n"
"       msgpeer connect ADDR [options]\n"
"       msgpeer ping ADDR [-c count] [-i seconds] [options]\n"
"       msgpeer echo ADDR [-c count] [-s size] [-P parallel] [options]\n"
"       msgpeer ls [-lR] REMOTE...         msgpeer stat REMOTE...\n"
"       msgpeer cat REMOTE...              msgpeer df REMOTE...\n"
"       msgpeer get [-r] REMOTE LOCAL      msgpeer put [-r] LOCAL REMOTE\n"
"       msgpeer cp [-r] REMOTE REMOTE      msgpeer mv REMOTE REMOTE\n"
"       msgpeer rm [-r] REMOTE...          msgpeer mkdir [-p] REMOTE...\n"
"       msgpeer rmdir REMOTE...            msgpeer ln [-s] TARGET REMOTE\n"
"\n"
"REMOTE: ADDR:EXPORT/PATH; the address ends where its scheme says:\n"
"      unix:SOCKET:EXPORT/PATH (SOCKET up to its first ':'),\n"
"      unix:[SOCK:ET]:EXPORT/PATH, tcp:HOST:PORT:EXPORT/PATH,\n"
"      [ANY ADDR]:EXPORT/PATH; the PATH may hold ':'\n"
"\n"
"ADDR: unix:/path, tcp:HOST:PORT (listening: tcp:PORT is loopback),\n"
"      stdio, exec:COMMAND, fd:N or fd:R,W\n"
"\n"
"  -v, -vv           session events; everything\n"
"  -q                errors only\n"
"  --node NAME       our NODE name (default: the host name)\n"
"  --key FILE        a pre-shared key: authenticate (AUTH)\n"
"  --crc             offer the CRC feature\n"
"  --window BYTES    unacknowledged bytes held (1M)\n"
"  --max-inflight N  requests served at once per session (1024)\n"
"  --max-links N     links served per session (65536)\n"
"  --max-memory BYTES  heap held for one session's peer (64M)\n"
"  --max-total-memory BYTES  heap held for all sessions (256M)\n"
"  --max-sessions N  sessions up or detached (1024)\n"
"  --max-conns N     transports, handshaking or up (1024)\n"
"  --handshake-timeout SEC  time a new transport has to handshake (5)\n"
"  serve: --export NAME=DIR    serve DIR as the VFS export NAME\n"
"         --export-ro NAME=DIR the same, read-only (EROFS)\n"
"         --trace FILE         JSON lines: every path a client used\n"
"         --workers N          threads for file system calls (4)\n"
"         --max-files N        open files and nodes per session (4096)\n"
"  put: --ref         the server fetches the data (DATA by REF)\n"
"  file commands: -v  the DATA bytes sent and received, at the end\n"
"  --journal FILE    every sequenced message sent and received\n"
"  --ping-idle SEC   PING after this silence (5)\n"
"  --dead SEC        transport dead after this silence (15)\n"
"  --session-timeout SEC  keep or retry a broken session this long (30)\n"
"  --ack-delay MS    longest delay of an ACK (20)\n"
"  --reconnect-max SEC  longest reconnect back-off (2)\n"
"  --connect-tries N failed dials before giving up on a session that\n"
"                    never came up (ping, echo: 1; connect: 0, no limit)\n"
"  ping: -c N replies to wait for, -i SEC between PINGs (1)\n"
"  echo: -c N commands (10000), -s BYTES of DATA each (64),\n"
"        -P N in flight (1), --service NAME (echo), --command N (0x7000)\n"
"\n"
"exit status: 0 success, 1 session or check failed, 2 usage error;\n"
"  file commands: 0 done, 1 an operation failed (each named on stderr),\n"
"  2 usage, 3 no session or no such export (nothing done)\n");
}

const char *
status_name(int status)
{
	static char buf[16];

	return proto_status_name((uint32_t)status, buf, sizeof(buf));
}

const char *
peer_text(const char *s)
{
	static char buf[1024];

	proto_escape(buf, sizeof(buf), s, strlen(s));
	return buf;
}

/*
 * One line each, whatever the message holds: peer strings are escaped
 * where they are formatted, and a control character that still gets
 * here is shown as '?' rather than let it start a forged line.
 */
void
say(int level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info",
	    "debug" };
	struct timespec ts;
	struct tm tm;
	va_list ap;
	char msg[2048];
	size_t i;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (i = 0; msg[i] != '\0'; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = '?';
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "%02d:%02d:%02d.%03ld msgpeer: %s: %s\n", tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, names[level], msg);
}

static void
on_log(void *arg, enum proto_log_level level, const char *msg)
{
	(void)arg;
	say((int)level, "%s", msg);
}

/*
 * One line per sequenced message: direction, session, number, link,
 * msgid, command. Tests read it to prove nothing was lost or doubled.
 */
static void
on_journal(void *arg, const struct proto_journal *j)
{
	struct run *r = arg;

	fprintf(r->journal, "%c %02x%02x%02x%02x %" PRIu64 " 0x%" PRIx64
	    " %" PRIu32 " 0x%04x\n", j->dir, j->session[0], j->session[1],
	    j->session[2], j->session[3], j->seq, j->linkid, j->msgid,
	    j->command);
}

/* Milliseconds, a whole number from 1 to 60000. */
static uint64_t
parse_ms(const char *opt, const char *s)
{
	const char *errstr;
	long long v;

	if (cli_number(s, 1, 60000, &v, &errstr) < 0)
		errx(2, "%s %s: milliseconds, %s (1 to 60000)", opt, s, errstr);
	return (uint64_t)v * PROTO_MS;
}

static uint64_t
parse_seconds(const char *opt, const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(v) ||
	    v <= 0 || v > 86400)
		errx(2, "%s %s: seconds between 0 and 86400", opt, s);
	return (uint64_t)(v * 1e9);
}

/* A count of bytes: digits, then k, m or g (powers of 1024). */
static uint64_t
parse_bytes(const char *opt, const char *s, uint64_t max)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || errno != 0 || *s == '-')
		errx(2, "%s %s: not a number of bytes", opt, s);
	if (*end == 'k' || *end == 'K')
		shift = 10;
	else if (*end == 'm' || *end == 'M')
		shift = 20;
	else if (*end == 'g' || *end == 'G')
		shift = 30;
	if (shift != 0)
		end++;
	if (*end != '\0' || v > (max >> shift))
		errx(2, "%s %s: at most %llu bytes", opt, s,
		    (unsigned long long)max);
	return (uint64_t)v << shift;
}

static long long
parse_count(const char *opt, const char *s, long long min, long long max)
{
	const char *errstr;
	long long v;

	if (cli_number(s, min, max, &v, &errstr) < 0)
		errx(2, "%s %s: %s (%lld to %lld)", opt, s, errstr, min, max);
	return v;
}

/* A command number, decimal or 0x hex, outside the control range. */
static unsigned
parse_command(const char *s)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (*s == '\0' || *end != '\0' || errno != 0 || *s == '-' ||
	    v <= 0xf || v > 0x7fff)
		errx(2, "--command %s: a number from 0x10 to 0x7fff", s);
	return (unsigned)v;
}

static void
read_key(struct opts *o)
{
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(o->keyfile, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		err(2, "--key %s", o->keyfile);
	if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
		say(PROTO_LOG_WARN, "key file %s can be read by others",
		    o->keyfile);
	n = read(fd, o->key, sizeof(o->key));
	close(fd);
	if (n < 0)
		err(2, "--key %s", o->keyfile);
	/* A trailing newline is the editor's, not the key's. */
	while (n > 0 && (o->key[n - 1] == '\n' || o->key[n - 1] == '\r'))
		n--;
	if (n < 16)
		errx(2, "--key %s: a key needs at least 16 bytes", o->keyfile);
	if ((size_t)n == sizeof(o->key))
		errx(2, "--key %s: longer than %zu bytes", o->keyfile,
		    sizeof(o->key) - 1);
	o->cfg.key = o->key;
	o->cfg.keylen = (size_t)n;
}

/* --export NAME=DIR: the name a client gives in EXPORT, the directory. */
static void
add_export(struct opts *o, char *arg, int readonly)
{
	char *eq = strchr(arg, '=');
	struct export_opt *e;

	if (eq == NULL || eq == arg || eq[1] == '\0')
		errx(2, "--export%s %s: NAME=DIR", readonly ? "-ro" : "", arg);
	if ((size_t)(eq - arg) > 255 || memchr(arg, '/', (size_t)(eq - arg)))
		errx(2, "--export %s: a name of at most 255 bytes, no '/'",
		    arg);
	if (o->nexports == (int)(sizeof(o->exports) / sizeof(o->exports[0])))
		errx(2, "--export: at most %zu exports",
		    sizeof(o->exports) / sizeof(o->exports[0]));
	e = &o->exports[o->nexports++];
	/* argv's strings are ours to cut: NAME ends at the '='. */
	*eq = '\0';
	e->name = arg;
	e->dir = eq + 1;
	e->readonly = readonly;
}

static void
parse_option(struct opts *o, int c)
{
	switch (c) {
	case 'v':
		o->verbose++;
		break;
	case 'q':
		o->verbose = -1;
		break;
	case 'c':
		o->count = parse_count("-c", optarg, 1, INT64_MAX / 2);
		break;
	case 'i':
		o->interval = (double)parse_seconds("-i", optarg) / 1e9;
		break;
	case 's':
		if (files_command(o->cmd))
			o->fl_symbolic = 1;
		else
			o->size = parse_count("-s", optarg, 0, 65000);
		break;
	case 'l':
		o->fl_long = 1;
		break;
	case 'r':
	case 'R':
		o->fl_recursive = 1;
		break;
	case 'p':
		o->fl_parents = 1;
		break;
	case OPT_REF:
		o->fl_ref = 1;
		break;
	case 'P':
		o->parallel = parse_count("-P", optarg, 1, 1 << 20);
		break;
	case OPT_LISTEN:
		if (o->nlisten == 8)
			errx(2, "--listen: at most 8 addresses");
		o->listen[o->nlisten++] = optarg;
		break;
	case OPT_EXPORT:
	case OPT_EXPORT_RO:
		add_export(o, optarg, c == OPT_EXPORT_RO);
		break;
	case OPT_TRACE:
		o->trace = optarg;
		break;
	case OPT_WORKERS:
		o->vfs.workers = (unsigned)parse_count("--workers", optarg, 1,
		    256);
		break;
	case OPT_MAX_FILES:
		o->vfs.max_files = (uint32_t)parse_count("--max-files", optarg,
		    1, 1 << 24);
		break;
	case OPT_NODE:
		o->cfg.node = optarg;
		break;
	case OPT_KEY:
		o->keyfile = optarg;
		break;
	case OPT_CRC:
		o->cfg.features |= PROTO_FEATURE_CRC;
		break;
	case OPT_WINDOW:
		o->cfg.window = (uint32_t)parse_bytes("--window", optarg,
		    UINT32_MAX);
		break;
	case OPT_INFLIGHT:
		o->cfg.max_inflight = (uint32_t)parse_count("--max-inflight",
		    optarg, 1, UINT32_MAX);
		break;
	case OPT_LINKS:
		o->cfg.max_links = (uint32_t)parse_count("--max-links", optarg,
		    1, UINT32_MAX);
		break;
	case OPT_MEMORY:
		o->cfg.max_memory = parse_bytes("--max-memory", optarg,
		    (uint64_t)1 << 40);
		break;
	case OPT_TOTAL:
		o->cfg.max_total_memory = parse_bytes("--max-total-memory",
		    optarg, (uint64_t)1 << 40);
		break;
	case OPT_SESSIONS:
		o->cfg.max_sessions = (uint32_t)parse_count("--max-sessions",
		    optarg, 1, UINT32_MAX);
		break;
	case OPT_CONNS:
		o->cfg.max_conns = (uint32_t)parse_count("--max-conns", optarg,
		    1, UINT32_MAX);
		break;
	case OPT_HANDSHAKE:
		o->cfg.handshake_ns = parse_seconds("--handshake-timeout",
		    optarg);
		break;
	case OPT_JOURNAL:
		o->journal = optarg;
		break;
	case OPT_PING_IDLE:
		o->cfg.ping_idle_ns = parse_seconds("--ping-idle", optarg);
		break;
	case OPT_DEAD:
		o->cfg.dead_ns = parse_seconds("--dead", optarg);
		break;
	case OPT_TIMEOUT:
		o->cfg.session_timeout_ns = parse_seconds("--session-timeout",
		    optarg);
		break;
	case OPT_ACK_DELAY:
		o->cfg.ack_delay_ns = parse_ms("--ack-delay", optarg);
		break;
	case OPT_RECONNECT:
		o->cfg.reconnect_max_ns = parse_seconds("--reconnect-max",
		    optarg);
		break;
	case OPT_TRIES:
		o->connect_tries = parse_count("--connect-tries", optarg, 0,
		    UINT32_MAX);
		break;
	case OPT_SERVICE:
		o->service = optarg;
		break;
	case OPT_COMMAND:
		o->command = parse_command(optarg);
		break;
	case OPT_VERSION:
		printf("msgpeer %s\n", MSGKIT_VERSION);
		exit(0);
	case 'h':
		usage(stdout);
		exit(0);
	default:
		usage(stderr);
		exit(2);
	}
}

static void
parse_args(int argc, char **argv, struct opts *o)
{
	static char host[256];
	int c;

	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
		    strcmp(argv[1], "--help") == 0)) {
			usage(stdout);
			exit(0);
		}
		if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
			printf("msgpeer %s\n", MSGKIT_VERSION);
			exit(0);
		}
		usage(stderr);
		exit(2);
	}
	o->cmd = argv[1];
	if (gethostname(host, sizeof(host) - 1) == 0)
		o->cfg.node = host;
	optind = 2;
	/* The file commands: flags without values, many arguments. */
	if (files_command(o->cmd)) {
		while ((c = getopt_long(argc, argv, "hlpqRrsv", long_options,
		    NULL)) != -1)
			parse_option(o, c);
		o->args = argv + optind;
		o->nargs = argc - optind;
		return;
	}
	while ((c = getopt_long(argc, argv, "c:hi:P:qs:v", long_options,
	    NULL)) != -1)
		parse_option(o, c);
	if (optind < argc)
		o->addr = argv[optind++];
	if (optind < argc)
		errx(2, "unexpected argument %s", argv[optind]);
}

static void
check_args(struct opts *o)
{
	int serve = strcmp(o->cmd, "serve") == 0;
	int files = files_command(o->cmd);

	if (!serve && !files && strcmp(o->cmd, "connect") != 0 &&
	    strcmp(o->cmd, "ping") != 0 && strcmp(o->cmd, "echo") != 0)
		errx(2, "%s: unknown command: serve, connect, ping, echo, "
		    "ls, stat, cat, get, put, cp, mv, rm, mkdir, rmdir, ln "
		    "or df", o->cmd);
	if (serve && o->nlisten == 0)
		errx(2, "serve needs --listen ADDR");
	if (serve && o->addr != NULL)
		errx(2, "serve takes --listen ADDR, not %s", o->addr);
	if (!serve && !files && o->addr == NULL)
		errx(2, "%s needs the peer's address", o->cmd);
	if (!serve && o->nlisten > 0)
		errx(2, "--listen goes with serve");
	if (o->fl_ref && strcmp(o->cmd, "put") != 0)
		errx(2, "--ref goes with put");
	if (!serve && (o->nexports > 0 || o->trace != NULL))
		errx(2, "--export and --trace go with serve");
	if (o->cfg.dead_ns <= o->cfg.ping_idle_ns)
		errx(2, "--dead must be longer than --ping-idle");
	if (o->cfg.reconnect_max_ns < o->cfg.reconnect_min_ns)
		errx(2, "--reconnect-max must be at least %.3f s, the first "
		    "back-off", (double)o->cfg.reconnect_min_ns / 1e9);
	/* A tool run once fails at once on a wrong address; connect,
	 * a long-lived peer, waits for its peer to appear. */
	if (o->connect_tries >= 0)
		o->cfg.connect_tries = (uint32_t)o->connect_tries;
	else if (strcmp(o->cmd, "ping") == 0 || strcmp(o->cmd, "echo") == 0 ||
	    files)
		o->cfg.connect_tries = 1;
	if (o->keyfile != NULL)
		read_key(o);
	if (o->verbose < 0)
		log_level = PROTO_LOG_ERROR;
	else if (o->verbose == 1)
		log_level = PROTO_LOG_INFO;
	else if (o->verbose > 1)
		log_level = PROTO_LOG_DEBUG;
}

/* SIGINT and SIGTERM end the run through the loop, never in a handler. */
static void
on_signal(struct proto_io *io, unsigned events, void *arg)
{
	struct run *r = arg;
	struct signalfd_siginfo si;

	(void)events;
	while (read(proto_io_fd(io), &si, sizeof(si)) == sizeof(si)) {
		say(PROTO_LOG_INFO, "signal %u: stopping", si.ssi_signo);
		r->stop = 1;
		proto_loop_stop(r->loop);
	}
}

static struct proto_io *signals;
static int signal_fd = -1;

static int
catch_signals(struct run *r)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (signal_fd < 0)
		return -1;
	signals = proto_io_new(r->loop, signal_fd, PROTO_IO_READ, on_signal,
	    r);
	return signals == NULL ? -1 : 0;
}

int
run_setup(struct run *r, struct opts *o)
{
	char errbuf[256];

	memset(r, 0, sizeof(*r));
	r->o = o;
	r->loop = proto_loop_new();
	if (r->loop == NULL || catch_signals(r) < 0)
		err(2, "event loop");
	if (o->journal != NULL) {
		r->journal = fopen(o->journal, "w");
		if (r->journal == NULL)
			err(2, "--journal %s", o->journal);
		/* Other processes read it while we run: a line at a time. */
		setvbuf(r->journal, NULL, _IOLBF, 0);
		o->cfg.journal = on_journal;
	}
	o->cfg.log = on_log;
	o->cfg.arg = r;
	if (strcmp(o->cmd, "serve") == 0)
		o->cfg.accepted = serve_event;
	r->peer = proto_peer_new(r->loop, &o->cfg, errbuf, sizeof(errbuf));
	if (r->peer == NULL)
		errx(2, "%s", errbuf);
	if (delay_service_init(r->loop) < 0 ||
	    proto_peer_serve(r->peer, "echo", &proto_echo_service, NULL) < 0 ||
	    proto_peer_serve(r->peer, "delay", &delay_service, NULL) < 0)
		err(2, "services");
	return 0;
}

void
run_loop(struct run *r)
{
	if (proto_loop_run(r->loop) < 0)
		warn("event loop");
}

void
run_close(struct run *r, struct proto_session **sp)
{
	uint64_t until = proto_loop_now(r->loop) + 2 * PROTO_SEC;

	if (*sp == NULL)
		return;
	proto_session_close(*sp);
	while (*sp != NULL && proto_loop_now(r->loop) < until)
		if (proto_loop_run_once(r->loop, 100 * PROTO_MS) < 0)
			break;
}

void
run_finish(struct run *r)
{
	/* Before the peer: its links close while the sessions are there. */
	proto_vfs_server_free(r->vfs);
	if (r->o->vfs.trace_fd >= 0)
		close(r->o->vfs.trace_fd);
	proto_peer_free(r->peer);
	/* The GOODBYEs: one last round writes them. */
	proto_loop_run_once(r->loop, 0);
	proto_io_free(signals);
	close(signal_fd);
	proto_loop_run_once(r->loop, 0);
	if (r->journal != NULL && fclose(r->journal) != 0) {
		warn("--journal %s", r->o->journal);
		r->status = 2;
	}
	proto_loop_free(r->loop);
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct run r;
	int status;

	memset(&o, 0, sizeof(o));
	proto_peer_config_init(&o.cfg);
	proto_vfs_server_config_init(&o.vfs);
	o.interval = 1.0;
	o.size = 64;
	o.parallel = 1;
	o.service = "echo";
	o.command = 0x7000;
	o.connect_tries = -1;
	parse_args(argc, argv, &o);
	check_args(&o);
	run_setup(&r, &o);
	if (strcmp(o.cmd, "serve") == 0)
		status = cmd_serve(&r);
	else if (strcmp(o.cmd, "connect") == 0)
		status = cmd_connect(&r);
	else if (strcmp(o.cmd, "ping") == 0)
		status = cmd_ping(&r);
	else if (files_command(o.cmd))
		status = cmd_files(&r);
	else
		status = cmd_echo(&r);
	run_finish(&r);
	return r.status > status ? r.status : status;
}
