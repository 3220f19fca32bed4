/*
 * msgdump.h - state shared by msgdump's files: msgdump.c (options, raw
 * streams, output) and capture.c (pcap input, one stream per direction
 * of each TCP connection).
 */
#ifndef MSGDUMP_H
#define MSGDUMP_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "dissectors/dissect.h"
#include "dissectors/printer.h"
#include "dissectors/track.h"
#include "tools/lib/cli.h"
#include "tools/lib/input.h"
#include "tools/lib/pcapout.h"

/* The whole run. */
struct dump {
	struct printer pr;
	int quiet;		/* -q: statistics only */
	int stats;		/* --stats */
	int print;		/* --print: print although -w writes */
	int resync;		/* look for messages after a framing error */
	int notes;		/* -v: say which streams are not msgkit */
	uint64_t count_max;	/* -c, 0 for no limit */
	uint64_t count;		/* messages shown or written */
	int stopped;		/* -c reached */
	const volatile sig_atomic_t *interrupt;	/* SIGINT, SIGTERM */
	int interrupted;	/* reading ended by one */
	int empty;		/* the input held not one byte */
	struct track *track;
	struct pcapout *pcap;	/* -w */
	struct progress progress;
	struct input *in;
	uint64_t gap_bytes;	/* missing from the capture */
	struct timespec raw_clock; /* -w times for a raw stream */
};

/*
 * The capture times of the last chunks fed to a stream, by the stream
 * offset each ends at: a message the framer gives out later than the
 * chunk that completed it (after a search) still gets that chunk's time.
 */
#define CHUNK_TIMES	16	/* 384 bytes a direction of every connection */

struct chunk_time {
	uint64_t end;
	struct timespec ts;
};

/* One direction of one connection, or a whole raw stream. */
struct dump_stream {
	struct dump *d;
	struct dissect_stream ds;
	struct track_conn *tc;	/* shared by both directions */
	struct dissect_stream *both[2];	/* NULL for a one-way stream */
	struct pcapout_conn *pc; /* -w */
	int dir;		/* NOTATION_DIR_* */
	struct origin origin;	/* src, dst, dir; time set per chunk */
	char src[64];
	char dst[64];
	struct chunk_time times[CHUNK_TIMES];	/* a ring, oldest first */
	size_t thead;
	size_t tn;
	int hint;		/* raw input guessed: explain a bad start */
	uint8_t head[8];	/* its first bytes, for the hint */
	size_t headlen;
};

/* The dissect_fn of every stream: count, track, print, write. */
int dump_event(void *ctx, const struct dissect_event *ev);

/* Set st->origin.ts to the time of the chunk holding stream offset off. */
void dump_stream_time(struct dump_stream *st, uint64_t off);

/* Decode a capture: 0 done, -1 an I/O error (reported). */
int dump_capture(struct dump *d);
/* What the capture layer saw: frames, skipped ones, findings, gaps. */
void dump_capture_report(const struct dump *d, FILE *f);
/* The same as a JSON object's members, without braces. */
void dump_capture_report_json(const struct dump *d, FILE *f);

#endif
