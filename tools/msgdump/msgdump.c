/*
 * msgdump - print the messages of msgkit streams and captures.
 *
 * Reads a raw byte stream (a file, a pipe) or a pcap/pcapng capture of
 * TCP traffic, and shows every message as a summary line, a tree, JSON
 * or the text notation; pairs replies with commands and sums them up.
 * Exit status: 0 clean, 1 malformed input seen, 2 usage or I/O error.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "msgdump.h"
#include "dissectors/notation.h"
#include "dissectors/value.h"

#define MSGKIT_VERSION	"0.1.0"
#define READ_CHUNK	(1u << 20)
#define OUT_BUFFER	(1u << 20)

/* Addresses -w gives a raw stream, which has none of its own. */
#define RAW_CLIENT_PORT	40000
#define RAW_SERVER_PORT	7470

enum {
	OPT_STATS = 256,
	OPT_NO_RESYNC,
	OPT_COLOR,
	OPT_PRINT,
	OPT_VERSION
};

static const struct option long_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "no-resync", no_argument, NULL, OPT_NO_RESYNC },
	{ "color", required_argument, NULL, OPT_COLOR },
	{ "colour", required_argument, NULL, OPT_COLOR },
	{ "print", no_argument, NULL, OPT_PRINT },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 }
};

/* Set by SIGINT and SIGTERM: stop reading, finish the output. */
static volatile sig_atomic_t interrupt;

static void
on_signal(int sig)
{
	(void)sig;
	interrupt = 1;
}

/*
 * Without SA_RESTART, so that a read blocked on a quiet pipe returns;
 * SA_RESETHAND, so that a second signal ends the run at once. A signal
 * ignored when we start stays ignored, as a shell's background job
 * expects.
 */
static void
catch_signal(int sig)
{
	struct sigaction sa, old;

	if (sigaction(sig, NULL, &old) < 0)
		err(2, "sigaction");
	if (old.sa_handler == SIG_IGN)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESETHAND;
	if (sigaction(sig, &sa, NULL) < 0)
		err(2, "sigaction");
}

static void
usage(FILE *f)
{
	fprintf(f,
"usage: msgdump [-hjlmnqvX] [-c count] [-F auto|raw|pcap] [-r file]\n"
"               [-w file] [-t | -tt | -ttt | -tttt | -ttttt] [--stats]\n"
"               [--no-resync] [--color=auto|always|never] [--print]\n"
"               [expression]\n"
"\n"
"  -r FILE    read a raw stream or a pcap/pcapng capture (- is stdin)\n"
"  -F FORMAT  take the input as raw or pcap instead of guessing\n"
"  -c N       stop after N messages\n"
"  -v         show every item (-vv: with offsets and itemids)\n"
"  -X         add the bytes in hex and ASCII\n"
"  -j         one JSON object per message\n"
"  -m         the text notation (what msgscript reads back)\n"
"  -n         numbers instead of names for commands, item types and\n"
"             values (-nn is the same)\n"
"  -q         no messages: the statistics at the end\n"
"  -t...      -t no time, -tt epoch, -ttt since the previous line,\n"
"             -tttt date and time, -ttttt since the first packet\n"
"  -l         flush every line\n"
"  -w FILE    write the streams as a pcap\n"
"  --stats    the statistics at the end as well\n"
"  --no-resync  stop a stream at its first framing error\n"
"  --print    print messages although -w writes them\n"
"  expression a pcap filter for capture input, as in tcpdump\n"
"\n"
"exit status: 0 clean, 1 malformed or empty input, 2 usage or I/O error\n");
}

static int
shown(const struct dump *d)
{
	return !d->quiet && (d->pcap == NULL || d->print);
}

static int
count_one(struct dump *d)
{
	d->count++;
	if (d->count_max != 0 && d->count >= d->count_max) {
		d->stopped = 1;
		return 1;
	}
	return 0;
}

/*
 * The time a message gets in a -w file: its own, or for a raw stream,
 * which has no clock, the start of the run plus a microsecond each.
 */
static const struct timespec *
write_time(struct dump_stream *st)
{
	struct timespec *t = &st->d->raw_clock;

	if (st->origin.has_time)
		return &st->origin.ts;
	t->tv_nsec += 1000;
	if (t->tv_nsec >= 1000000000) {
		t->tv_nsec -= 1000000000;
		t->tv_sec++;
	}
	return t;
}

static void
write_message(struct dump_stream *st, const struct dissect_event *ev)
{
	if (st->d->pcap == NULL || st->pc == NULL)
		return;
	if (pcapout_data(st->d->pcap, st->pc, st->dir == NOTATION_DIR_IN,
	    ev->m->bytes, ev->frame_len, write_time(st)) < 0)
		st->d->stopped = 1;	/* reported at pcapout_close() */
}

static int
on_message(struct dump_stream *st, const struct dissect_event *ev)
{
	struct dump *d = st->d;
	struct origin o = st->origin;
	int dir = st->dir == NOTATION_DIR_IN;

	o.latency_ns = track_message(d->track, st->tc, dir, ev->m,
	    o.has_time ? &o.ts : NULL);
	if (st->both[0] != NULL)
		dissect_session(st->both, ev->m);
	o.frame_len = ev->frame_len;
	if (shown(d))
		printer_message(&d->pr, &o, ev->m, NULL);
	write_message(st, ev);
	return count_one(d);
}

static int
on_malformed(struct dump_stream *st, const struct dissect_event *ev)
{
	struct dump *d = st->d;
	struct origin o = st->origin;

	track_malformed(d->track, ev->m);
	o.frame_len = ev->frame_len;
	if (shown(d))
		printer_message(&d->pr, &o, ev->m, ev->err);
	write_message(st, ev);
	return count_one(d);
}

/*
 * A raw stream, guessed, whose first bytes make no message: most likely
 * not msgkit at all. Say what it starts with, escaped: the bytes are
 * anybody's.
 */
static void
raw_hint(struct dump_stream *st)
{
	fprintf(stderr, "msgdump: %s: not a capture or a msgkit stream: "
	    "starts with ", input_name(st->d->in));
	value_string(stderr, st->head, st->headlen, 0);
	fputs(" (", stderr);
	value_put_hexbytes(stderr, st->head, st->headlen);
	fputs(")\n", stderr);
}

/* The stream offset whose chunk's time an event gets. */
static uint64_t
event_offset(const struct dissect_event *ev)
{
	switch (ev->type) {
	case DISSECT_MESSAGE:
	case DISSECT_MALFORMED:
		return ev->m->offset + ev->frame_len - 1;
	case DISSECT_STREAM_ERROR:
		return ev->err->offset;
	case DISSECT_RESYNC:
		return ev->cause == DISSECT_SKIPPED_END ? UINT64_MAX :
		    ev->offset;
	default:
		return UINT64_MAX;
	}
}

int
dump_event(void *ctx, const struct dissect_event *ev)
{
	struct dump_stream *st = ctx;
	struct dump *d = st->d;

	if (st->hint && ev->type != DISSECT_MESSAGE)
		raw_hint(st);
	st->hint = 0;
	if (st->origin.has_time)
		dump_stream_time(st, event_offset(ev));
	switch (ev->type) {
	case DISSECT_MESSAGE:
		return on_message(st, ev);
	case DISSECT_MALFORMED:
		return on_malformed(st, ev);
	case DISSECT_STREAM_ERROR:
		track_malformed(d->track, NULL);
		break;
	case DISSECT_RESYNC:
		track_skipped(d->track, ev->skipped);
		break;
	case DISSECT_NOT_MSGKIT:
		track_not_msgkit(d->track);
		if (!d->notes)
			return 0;
		break;
	}
	if (shown(d))
		printer_stream_event(&d->pr, &st->origin, ev);
	return 0;
}

/* The one connection -w writes for a raw stream: 127.0.0.1 to itself. */
static int
raw_pcap_conn(struct dump_stream *st)
{
	struct pcapout_addr client = { { 127, 0, 0, 1 }, RAW_CLIENT_PORT };
	struct pcapout_addr server = { { 127, 0, 0, 1 }, RAW_SERVER_PORT };

	if (st->d->pcap == NULL)
		return 0;
	clock_gettime(CLOCK_REALTIME, &st->d->raw_clock);
	st->pc = pcapout_conn_open(st->d->pcap, &client, &server,
	    &st->d->raw_clock);
	return st->pc == NULL ? -1 : 0;
}

/* A raw stream: one direction, no clock, offsets for positions. */
static int
dump_raw(struct dump *d, int guessed)
{
	struct dump_stream st;
	uint8_t *buf;
	ssize_t n;
	uint64_t total = 0;
	int rc = 0;

	memset(&st, 0, sizeof(st));
	st.d = d;
	st.dir = NOTATION_DIR_NONE;
	st.origin.dir = NOTATION_DIR_NONE;
	st.origin.latency_ns = -1;
	st.hint = guessed;
	buf = malloc(READ_CHUNK);
	st.tc = track_conn_new(d->track, "stream", 0);
	if (buf == NULL || st.tc == NULL ||
	    dissect_init(&st.ds, d->resync, 0) < 0)
		err(2, "out of memory");
	if (raw_pcap_conn(&st) < 0)
		rc = -1;
	while (rc == 0 && !d->stopped) {
		n = input_read(d->in, buf, READ_CHUNK);
		if (*d->interrupt)
			d->interrupted = 1;
		if (n < 0) {
			warnx("%s", input_error(d->in));
			rc = -1;
			break;
		}
		if (n == 0 && d->interrupted) {
			dissect_stop(&st.ds, dump_event, &st);
			break;
		}
		if (n == 0) {
			dissect_eof(&st.ds, dump_event, &st);
			break;
		}
		if (st.headlen < sizeof(st.head)) {
			size_t k = sizeof(st.head) - st.headlen;

			k = (size_t)n < k ? (size_t)n : k;
			memcpy(st.head + st.headlen, buf, k);
			st.headlen += k;
		}
		total += (uint64_t)n;
		progress_update(&d->progress, total, d->count);
		dissect_feed(&st.ds, buf, (size_t)n, dump_event, &st);
	}
	if (st.pc != NULL)
		pcapout_conn_close(d->pcap, st.pc, write_time(&st));
	track_conn_end(d->track, st.tc);
	dissect_free(&st.ds);
	free(buf);
	/* Nothing at all: not even a header to judge. Say so. */
	if (rc == 0 && total == 0 && !d->interrupted) {
		warnx("%s: empty input: no capture header, no message",
		    input_name(d->in));
		d->empty = 1;
	}
	return rc;
}

/* -t counted: none, epoch, delta, date, since the first (checked). */
static enum print_time
time_format(int t)
{
	static const enum print_time forms[] = {
		TIME_OF_DAY, TIME_NONE, TIME_EPOCH, TIME_DELTA, TIME_DATE,
		TIME_SINCE_FIRST
	};

	return forms[t];
}

/* A filter expression from the arguments left, joined by spaces. */
static char *
join_args(int argc, char **argv)
{
	size_t len = 1;
	char *s;
	int i;

	if (argc == 0)
		return NULL;
	for (i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	s = calloc(1, len);
	if (s == NULL)
		err(2, "out of memory");
	for (i = 0; i < argc; i++) {
		if (i > 0)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

struct opts {
	const char *rfile;
	const char *wfile;
	const char *color;
	enum input_format format;
	int json, notation, verbose, line_buffered, times, numeric, hex;
};

static enum input_format
parse_format(const char *s)
{
	if (strcmp(s, "auto") == 0)
		return INPUT_AUTO;
	if (strcmp(s, "raw") == 0)
		return INPUT_RAW;
	if (strcmp(s, "pcap") == 0)
		return INPUT_PCAP;
	errx(2, "-F %s: must be auto, raw or pcap", s);
}

static void
parse_options(int argc, char **argv, struct dump *d, struct opts *o)
{
	const char *errstr;
	long long v;
	int c;

	while ((c = getopt_long(argc, argv, "c:F:hjlmnqr:tvw:X", long_options,
	    NULL)) != -1) {
		switch (c) {
		case 'c':
			if (cli_number(optarg, 1, INT64_MAX, &v, &errstr) < 0)
				errx(2, "-c %s: count is %s", optarg, errstr);
			d->count_max = (uint64_t)v;
			break;
		case 'F':
			o->format = parse_format(optarg);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'j':
			o->json = 1;
			break;
		case 'l':
			o->line_buffered = 1;
			break;
		case 'm':
			o->notation = 1;
			break;
		case 'n':
			o->numeric++;
			break;
		case 'q':
			d->quiet = 1;
			break;
		case 'r':
			o->rfile = optarg;
			break;
		case 't':
			o->times++;
			break;
		case 'v':
			o->verbose++;
			break;
		case 'w':
			o->wfile = optarg;
			break;
		case 'X':
			o->hex++;
			break;
		case OPT_STATS:
			d->stats = 1;
			break;
		case OPT_NO_RESYNC:
			d->resync = 0;
			break;
		case OPT_COLOR:
			o->color = optarg;
			break;
		case OPT_PRINT:
			d->print = 1;
			break;
		case OPT_VERSION:
			printf("msgdump %s\n", MSGKIT_VERSION);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
}

static void
check_options(struct dump *d, const struct opts *o)
{
	int color;

	if (o->rfile == NULL)
		errx(2, "no input: give -r FILE (- for stdin); see --help");
	if (o->json && o->notation)
		errx(2, "-j and -m are two output forms: choose one");
	if (o->verbose > 0 && (o->json || o->notation))
		errx(2, "-v shows the tree form: it goes with neither -j "
		    "nor -m");
	/* Repeated letters tcpdump gives a meaning msgdump has not. */
	if (o->verbose > 2)
		errx(2, "-vvv: at most -vv (offsets and itemids)");
	if (o->times > 5)
		errx(2, "-t given %d times: at most -ttttt (the time since "
		    "the first packet)", o->times);
	if (o->hex > 1)
		errx(2, "-XX: msgdump shows a message's bytes, not the "
		    "link header's: give -X once");
	if (o->numeric > 2)
		errx(2, "-nnn: at most -nn (the same as -n)");
	d->pr.numeric = o->numeric > 0;
	d->pr.hex = o->hex > 0;
	color = cli_color(o->color, STDOUT_FILENO);
	if (color < 0)
		errx(2, "--color=%s: must be auto, always or never", o->color);
	d->pr.color = color && !o->json && !o->notation;
	d->pr.form = o->json ? FORM_JSON : o->notation ? FORM_NOTATION :
	    o->verbose > 0 ? FORM_TREE : FORM_LINE;
	d->pr.verbose = o->verbose;
	d->notes = o->verbose > 0;
	d->pr.time = time_format(o->times);
}

static void
setup_output(struct dump *d, const struct opts *o)
{
	char errbuf[256];

	/* Writes that SIGINT interrupts go on: the output stays whole. */
	d->pr.out = cli_stream(STDOUT_FILENO, 0);
	if (d->pr.out == NULL)
		err(2, "stdout");
	if (o->line_buffered || isatty(STDOUT_FILENO))
		setvbuf(d->pr.out, NULL, _IOLBF, 0);
	else
		setvbuf(d->pr.out, NULL, _IOFBF, OUT_BUFFER);
	if (o->wfile == NULL)
		return;
	if (strcmp(o->wfile, "-") == 0 && shown(d) && d->print)
		errx(2, "-w - and --print would both write to stdout");
	d->pcap = pcapout_open(o->wfile, errbuf, sizeof(errbuf));
	if (d->pcap == NULL)
		errx(2, "%s", errbuf);
}

/*
 * Where the statistics go: standard output, where they are what was asked
 * for, but standard error when -w - writes the pcap there, and with -m,
 * whose output is read back by tools that take the table for bad lines.
 * With -j they are JSON, the last line of the JSON stream.
 */
static FILE *
stats_out(const struct dump *d, const struct opts *o)
{
	if (o->wfile != NULL && strcmp(o->wfile, "-") == 0)
		return stderr;
	if (d->pr.form == FORM_NOTATION)
		return stderr;
	return d->pr.out;
}

static void
report(struct dump *d, const struct opts *o)
{
	FILE *f = stats_out(d, o);
	int capture = input_format(d->in) == INPUT_PCAP;

	if (d->pr.form == FORM_JSON) {
		fputs("{\"statistics\":{", f);
		track_report_json(d->track, f);
		if (capture) {
			fputs(",\"capture\":{", f);
			dump_capture_report_json(d, f);
			putc('}', f);
		}
		fputs("}}\n", f);
		return;
	}
	if (f == d->pr.out && shown(d))
		putc('\n', f);
	track_report(d->track, f, &d->pr);
	if (capture)
		dump_capture_report(d, f);
}

/* Flush stdout and the pcap; either failing is an I/O error. */
static int
finish_output(struct dump *d)
{
	char errbuf[256];
	int rc = 0;

	if (d->pcap != NULL && pcapout_close(d->pcap, errbuf,
	    sizeof(errbuf)) < 0) {
		warnx("%s", errbuf);
		rc = -1;
	}
	if (fflush(d->pr.out) != 0 || ferror(d->pr.out)) {
		warn("stdout");
		rc = -1;
	}
	fclose(d->pr.out);	/* the stream only: fd 1 stays open */
	d->pr.out = NULL;
	return rc;
}

int
main(int argc, char **argv)
{
	struct dump d;
	struct opts o;
	char errbuf[512];
	char *filter;
	uint64_t done, total;
	int rc;

	memset(&d, 0, sizeof(d));
	memset(&o, 0, sizeof(o));
	d.resync = 1;
	d.interrupt = &interrupt;
	parse_options(argc, argv, &d, &o);
	check_options(&d, &o);
	catch_signal(SIGINT);
	catch_signal(SIGTERM);
	filter = join_args(argc - optind, argv + optind);
	d.in = input_open(o.rfile, o.format, filter, &interrupt, errbuf,
	    sizeof(errbuf));
	if (d.in == NULL)
		errx(2, "%s", errbuf);
	d.track = track_new();
	if (d.track == NULL)
		err(2, "out of memory");
	setup_output(&d, &o);
	input_progress(d.in, &done, &total);
	progress_init(&d.progress, total,
	    d.quiet || d.pcap != NULL || !isatty(STDOUT_FILENO));
	if (input_format(d.in) == INPUT_RAW)
		rc = dump_raw(&d, o.format == INPUT_AUTO);
	else
		rc = dump_capture(&d);
	progress_end(&d.progress);
	if (d.quiet || d.stats)
		report(&d, &o);
	if (finish_output(&d) < 0)
		rc = -1;
	rc = rc < 0 ? 2 : track_saw_malformed(d.track) || d.empty ? 1 : 0;
	input_close(d.in);
	track_free(d.track);
	free(filter);
	return rc;
}
