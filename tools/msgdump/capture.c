/*
 * capture.c - msgdump on a capture: every TCP connection reassembled,
 * each direction decoded as a stream of its own.
 *
 * A connection is probed: when a direction's first bytes do not make a
 * valid message it is not msgkit traffic and is ignored. A connection
 * whose handshake the capture missed is joined mid-way: its streams
 * search for the first message at any offset.
 */
#include <arpa/inet.h>
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgdump.h"
#include "dissectors/notation.h"
#include "tools/lib/tcpreasm.h"

struct dump_conn {
	struct dump_stream dir[2];
	char label[160];
};

static void
endpoint_str(char *buf, size_t len, int family,
    const struct reasm_endpoint *e)
{
	char a[INET6_ADDRSTRLEN];

	if (inet_ntop(family, e->addr, a, sizeof(a)) == NULL)
		snprintf(a, sizeof(a), "?");
	snprintf(buf, len, "%s.%u", a, e->port);
}

static void
stream_setup(struct dump *d, struct dump_conn *dc, int dir,
    const struct reasm_conn *c)
{
	struct dump_stream *st = &dc->dir[dir];
	const struct reasm_endpoint *from = dir ? &c->server : &c->client;
	const struct reasm_endpoint *to = dir ? &c->client : &c->server;

	st->d = d;
	st->dir = dir ? NOTATION_DIR_IN : NOTATION_DIR_OUT;
	endpoint_str(st->src, sizeof(st->src), c->family, from);
	endpoint_str(st->dst, sizeof(st->dst), c->family, to);
	st->origin.src = st->src;
	st->origin.dst = st->dst;
	st->origin.dir = st->dir;
	st->origin.has_time = 1;
	st->origin.ts = c->first;
	st->origin.latency_ns = -1;
	st->both[0] = &dc->dir[0].ds;
	st->both[1] = &dc->dir[1].ds;
	if (dissect_init(&st->ds, d->resync, 1) < 0)
		err(2, "out of memory");
	if (!c->syn_seen)
		dissect_midstream(&st->ds);
}

/* The connection in a -w file: the same end points, IPv4 or IPv6. */
static struct pcapout_conn *
pcap_conn(struct pcapout *po, const struct reasm_conn *c)
{
	struct pcapout_ep client, server;

	memset(&client, 0, sizeof(client));
	memset(&server, 0, sizeof(server));
	client.family = server.family = c->family;
	memcpy(client.addr, c->client.addr, sizeof(client.addr));
	memcpy(server.addr, c->server.addr, sizeof(server.addr));
	client.port = c->client.port;
	server.port = c->server.port;
	return pcapout_conn_open_ep(po, &client, &server, &c->first);
}

static void
on_open(void *ctx, struct reasm_conn *c)
{
	struct dump *d = ctx;
	struct dump_conn *dc = calloc(1, sizeof(*dc));
	struct pcapout_conn *pc = NULL;

	if (dc == NULL)
		err(2, "out of memory");
	stream_setup(d, dc, 0, c);
	stream_setup(d, dc, 1, c);
	snprintf(dc->label, sizeof(dc->label), "%s > %s", dc->dir[0].src,
	    dc->dir[0].dst);
	dc->dir[0].tc = track_conn_new(d->track, dc->label, 1);
	if (dc->dir[0].tc == NULL)
		err(2, "out of memory");
	dc->dir[1].tc = dc->dir[0].tc;
	if (d->pcap != NULL)
		pc = pcap_conn(d->pcap, c);
	dc->dir[0].pc = dc->dir[1].pc = pc;
	c->user = dc;
}

static int
ts_before(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec;
	return a->tv_nsec < b->tv_nsec;
}

static struct chunk_time *
chunk_at(struct dump_stream *st, size_t i)
{
	return &st->times[(st->thead + i) % CHUNK_TIMES];
}

/*
 * Bytes up to stream offset `end` came at *ts. A full ring merges its
 * two oldest chunks, the later time winning: a time may come out late
 * (only on a flood of tiny chunks held back by a search), never early.
 */
static void
chunk_push(struct dump_stream *st, uint64_t end, const struct timespec *ts)
{
	struct chunk_time *last = st->tn > 0 ? chunk_at(st, st->tn - 1) : NULL;

	if (last != NULL && !ts_before(&last->ts, ts) &&
	    !ts_before(ts, &last->ts)) {
		last->end = end;
		return;
	}
	if (st->tn == CHUNK_TIMES) {
		if (ts_before(&chunk_at(st, 1)->ts, &chunk_at(st, 0)->ts))
			chunk_at(st, 1)->ts = chunk_at(st, 0)->ts;
		st->thead = (st->thead + 1) % CHUNK_TIMES;
		st->tn--;
	}
	*chunk_at(st, st->tn++) = (struct chunk_time){ end, *ts };
}

void
dump_stream_time(struct dump_stream *st, uint64_t off)
{
	/* Offsets only grow: a chunk that ends at or before off is done. */
	while (st->tn > 1 && chunk_at(st, 0)->end <= off) {
		st->thead = (st->thead + 1) % CHUNK_TIMES;
		st->tn--;
	}
	if (st->tn > 0)
		st->origin.ts = chunk_at(st, 0)->ts;
}

static void
on_data(void *ctx, struct reasm_conn *c, int dir, uint64_t offset,
    const uint8_t *p, size_t n, const struct timespec *ts)
{
	struct dump *d = ctx;
	struct dump_conn *dc = c->user;
	struct dump_stream *st = &dc->dir[dir];

	if (d->stopped)
		return;
	chunk_push(st, offset + n, ts);
	dissect_feed(&st->ds, p, n, dump_event, st);
}

static void
on_gap(void *ctx, struct reasm_conn *c, int dir, uint64_t offset,
    uint64_t missing, const struct timespec *ts)
{
	struct dump *d = ctx;
	struct dump_conn *dc = c->user;
	struct dump_stream *st = &dc->dir[dir];
	struct note n = { "missing from the capture", NULL, "missing",
	    missing, NULL };
	char text[96];

	if (d->stopped || st->ds.dead)
		return;
	d->gap_bytes += missing;
	chunk_push(st, offset + missing, ts);
	st->origin.ts = *ts;
	if (!d->quiet && (d->pcap == NULL || d->print)) {
		snprintf(text, sizeof(text), "%llu byte%s missing from the "
		    "capture", (unsigned long long)missing,
		    missing == 1 ? "" : "s");
		n.text = text;
		printer_note(&d->pr, &st->origin, offset, &n);
	}
	dissect_gap(&st->ds, missing);
}

static const struct timespec *
later(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec > b->tv_sec ? a : b;
	return a->tv_nsec > b->tv_nsec ? a : b;
}

static void
on_close(void *ctx, struct reasm_conn *c, const char *reason)
{
	struct dump *d = ctx;
	struct dump_conn *dc = c->user;
	int i;

	(void)reason;
	for (i = 0; i < 2; i++) {
		/*
		 * After -c, what is left of a stream is not looked at; after
		 * an interrupt, what it cut short is not judged.
		 */
		if (d->interrupted && !d->stopped)
			dissect_stop(&dc->dir[i].ds, dump_event, &dc->dir[i]);
		else if (!d->stopped)
			dissect_eof(&dc->dir[i].ds, dump_event, &dc->dir[i]);
		dissect_free(&dc->dir[i].ds);
	}
	if (dc->dir[0].pc != NULL)
		pcapout_conn_close(d->pcap, dc->dir[0].pc,
		    later(&dc->dir[0].origin.ts, &dc->dir[1].origin.ts));
	track_conn_end(d->track, dc->dir[0].tc);
	free(dc);
	c->user = NULL;
}

static const struct reasm_ops dump_ops = {
	on_open, on_data, on_gap, on_close
};

int
dump_capture(struct dump *d)
{
	struct tcp_segment seg;
	struct reasm *r;
	uint64_t done, total;
	int rc = 0, n;

	r = reasm_new(&dump_ops, d, NULL);
	if (r == NULL)
		err(2, "out of memory");
	while (!d->stopped) {
		n = input_next_segment(d->in, &seg);
		if (*d->interrupt)
			d->interrupted = 1;
		if (n == 0)
			break;
		if (n < 0) {
			warnx("%s", input_error(d->in));
			rc = -1;
			break;
		}
		/* -ttttt counts from here, as tcpdump from its first line. */
		printer_set_first(&d->pr, &seg.ts);
		reasm_segment(r, &seg);
		if (d->progress.on) {
			/* A position query costs a system call: ask only when
			   the line is shown. */
			input_progress(d->in, &done, &total);
			progress_update(&d->progress, done, d->count);
		}
	}
	reasm_finish(r);
	reasm_free(r);
	return rc;
}

void
dump_capture_report(const struct dump *d, FILE *f)
{
	const struct input_stats *s = input_stats(d->in);
	size_t i;

	fprintf(f, "%llu frames (%s), %llu TCP segments, %llu filtered, "
	    "%llu not TCP, %llu later fragments, %llu truncated, "
	    "%llu malformed; %llu bytes missing from the capture\n",
	    (unsigned long long)s->frames, input_linktype_name(d->in),
	    (unsigned long long)s->tcp, (unsigned long long)s->filtered,
	    (unsigned long long)s->non_tcp, (unsigned long long)s->fragments,
	    (unsigned long long)s->truncated, (unsigned long long)s->malformed,
	    (unsigned long long)d->gap_bytes);
	for (i = 0; i < s->nfindings; i++)
		fprintf(f, "  frame %llu: %s\n",
		    (unsigned long long)s->findings[i].frame,
		    s->findings[i].reason);
}

void
dump_capture_report_json(const struct dump *d, FILE *f)
{
	const struct input_stats *s = input_stats(d->in);
	const char *link = input_linktype_name(d->in);
	size_t i;

	fputs("\"link\":", f);
	print_json_string(f, (const uint8_t *)link, strlen(link));
	fprintf(f, ",\"frames\":%llu,\"tcp_segments\":%llu,\"filtered\":%llu,"
	    "\"not_tcp\":%llu,\"later_fragments\":%llu,\"truncated\":%llu,"
	    "\"malformed\":%llu,\"missing_bytes\":%llu,\"findings\":[",
	    (unsigned long long)s->frames, (unsigned long long)s->tcp,
	    (unsigned long long)s->filtered, (unsigned long long)s->non_tcp,
	    (unsigned long long)s->fragments, (unsigned long long)s->truncated,
	    (unsigned long long)s->malformed, (unsigned long long)d->gap_bytes);
	for (i = 0; i < s->nfindings; i++) {
		fprintf(f, "%s{\"frame\":%llu,\"reason\":", i > 0 ? "," : "",
		    (unsigned long long)s->findings[i].frame);
		print_json_string(f, (const uint8_t *)s->findings[i].reason,
		    strlen(s->findings[i].reason));
		putc('}', f);
	}
	putc(']', f);
}
