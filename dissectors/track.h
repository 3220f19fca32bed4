/*
 * track.h - pair replies with their commands and count per command.
 *
 * A command sent one way on link L with msgid N is answered the other way
 * on link L with msgid N; replies carrying MORE are parts, the one
 * without ends the transaction. The tracker measures the latency to that
 * final reply, keeps per-command counts, bytes, errors (a final STATUS
 * other than 0, or a malformed message) and a latency histogram, and at
 * the end lists the commands never answered.
 *
 * Memory is bounded: a connection tracks at most TRACK_PENDING_MAX
 * outstanding commands (more are counted as untracked), histograms are
 * fixed-size, and at most TRACK_UNANSWERED_SHOWN unanswered commands are
 * kept for the report.
 */
#ifndef TRACK_H
#define TRACK_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "libproto/proto_decode.h"

#define TRACK_PENDING_MAX	(1u << 20)
#define TRACK_UNANSWERED_SHOWN	20

struct track;
struct track_conn;

struct track *track_new(void);
void track_free(struct track *t);

/*
 * A connection: two directions (0 from the initiator, 1 from the
 * acceptor). `label` ("10.0.0.1.40000 > 10.0.0.2.7470") is copied. A
 * one-way connection (a raw stream: only one direction is seen) counts
 * but does not pair.
 */
struct track_conn *track_conn_new(struct track *t, const char *label,
    int two_way);
/* The connection is over: what is still outstanding was never answered. */
void track_conn_end(struct track *t, struct track_conn *c);

/*
 * A well-formed message seen in direction `dir` at `ts` (NULL when the
 * source has no clock). Returns a final reply's latency in ns, or -1.
 */
int64_t track_message(struct track *t, struct track_conn *c, int dir,
    const struct proto_msg *m, const struct timespec *ts);

/* A malformed message (m, header readable) or a framing error (m NULL). */
void track_malformed(struct track *t, const struct proto_msg *m);

/* Bytes skipped out of step, and streams that were not msgkit at all. */
void track_skipped(struct track *t, uint64_t bytes);
void track_not_msgkit(struct track *t);

/* Whether anything malformed was seen (msgdump's exit status 1). */
int track_saw_malformed(const struct track *t);

struct printer;

/*
 * The statistics table, the commands never answered (the first
 * TRACK_UNANSWERED_SHOWN sent, in the order sent, their times as the
 * printer's -t form writes them) and the totals. Names or numbers as the
 * printer's -n says.
 */
void track_report(const struct track *t, FILE *f, struct printer *pr);

/*
 * The same as the members of a JSON object, without its braces:
 * "commands":[...],"unanswered":{...},"messages":N,... Latencies are in
 * nanoseconds, times in seconds since the epoch.
 */
void track_report_json(const struct track *t, FILE *f);

#endif
