/*
 * input.h - where msgkit tools read from: a raw byte stream or a capture.
 *
 *	in = input_open(path, INPUT_AUTO, filter, err, sizeof(err));
 *	if (input_format(in) == INPUT_RAW)
 *		while ((n = input_read(in, buf, sizeof(buf))) > 0) ...
 *	else
 *		while ((r = input_next_segment(in, &seg)) == 1) ...
 *	(n or r of -1: input_error(in) says why)
 *	input_close(in);
 *
 * What a caller may rely on:
 * - "-" is standard input. With INPUT_AUTO the first 4 bytes decide:
 *   a pcap magic (a1b2c3d4, d4c3b2a1 microseconds; a1b23c4d, 4d3cb2a1
 *   nanoseconds) or the pcapng section header (0a0d0d0a) make it a
 *   capture, anything else (fewer bytes too) a raw stream. This works on
 *   pipes: the bytes looked at are not lost.
 * - Raw input is returned as read(2) gives it, without waiting to fill
 *   the buffer: a live pipe is seen promptly.
 * - Captures: timestamps come with nanosecond precision whatever the
 *   file holds. Link types: Ethernet (802.1Q/802.1ad tags skipped), raw
 *   IP (DLT 12, 14, 101, 228, 229), Linux cooked v1 and v2, BSD loopback
 *   (DLT_NULL in either byte order, DLT_LOOP). Another link type is an
 *   error at open. Only IPv4 and IPv6 TCP segments are returned; every
 *   other frame is counted in the statistics and skipped.
 * - Every header read is checked against the captured length. A frame
 *   whose headers are cut by the snaplen (truncated) or hold impossible
 *   values (malformed) is skipped, counted, and the first
 *   INPUT_FINDINGS_MAX are kept with their frame number and reason: a
 *   finding, not an error. A payload cut by the snaplen is returned with
 *   caplen < wirelen.
 * - IPv4: a first fragment is returned with the payload it holds (the
 *   rest becomes a hole, then a gap); later fragments are skipped and
 *   counted, as is every IPv6 fragment after the first. A total length
 *   of 0 (TSO seen on the sending host) means "up to the frame's end".
 * - The filter is BPF text as tcpdump takes it; it is applied here, to
 *   each frame, so frame numbers still count every frame of the file and
 *   match tcpdump's and tshark's. A filter on raw input is an error.
 * - Errors are never printed: input_open fills err, the others leave a
 *   message for input_error(), always "NAME: reason" where NAME is the
 *   path ("stdin" for "-").
 */
#ifndef INPUT_H
#define INPUT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tcpreasm.h"

enum input_format {
	INPUT_AUTO,	/* decide by the first bytes (input_open only) */
	INPUT_RAW,	/* a raw msgkit byte stream */
	INPUT_PCAP	/* a pcap or pcapng capture */
};

#define INPUT_FINDINGS_MAX	8
#define INPUT_REASON_MAX	96

struct input_finding {
	uint64_t frame;
	char reason[INPUT_REASON_MAX];	/* e.g. "IPv4 header length 12" */
};

struct input_stats {
	uint64_t frames;	/* capture records read */
	uint64_t filtered;	/* rejected by the filter */
	uint64_t tcp;		/* TCP segments returned */
	uint64_t non_tcp;	/* not IPv4/IPv6 TCP: skipped */
	uint64_t fragments;	/* IP fragments after the first: skipped */
	uint64_t truncated;	/* headers cut by the snaplen: skipped */
	uint64_t malformed;	/* impossible header values: skipped */
	size_t nfindings;	/* kept in findings[], at most ..._MAX */
	struct input_finding findings[INPUT_FINDINGS_MAX];
};

struct input;

/*
 * NULL on failure, with the reason in err ("NAME: reason"). `stop` is
 * NULL or a flag a signal handler sets (installed without SA_RESTART):
 * once it is set, a read the signal interrupted, and every read after,
 * ends the input as if it were its end (0), so a tool stopped by SIGINT
 * can still finish its output. Reads interrupted by other signals are
 * retried.
 */
struct input *input_open(const char *path, enum input_format force,
    const char *filter, const volatile sig_atomic_t *stop, char *err,
    size_t errlen);
void input_close(struct input *in);

/* INPUT_RAW or INPUT_PCAP. */
enum input_format input_format(const struct input *in);

/* "stdin" or the path. */
const char *input_name(const struct input *in);

/* Raw input: bytes read, 0 at end of file, -1 on error. */
ssize_t input_read(struct input *in, void *buf, size_t n);

/*
 * Capture input: 1 and *seg filled (its payload valid until the next
 * call), 0 at end of file, -1 on error (a record cut short by the end of
 * the file is one: "truncated capture record at frame 17").
 */
int input_next_segment(struct input *in, struct tcp_segment *seg);

/* The last error, "NAME: reason"; "" if none. */
const char *input_error(const struct input *in);

/* Capture input: counters and findings so far. */
const struct input_stats *input_stats(const struct input *in);

/* Capture input: the link type (DLT_ value) and its name. */
int input_linktype(const struct input *in);
const char *input_linktype_name(const struct input *in);

/*
 * Progress: bytes consumed so far and the total size when known (a
 * regular file); *total is 0 when unknown. Buffered input makes *done
 * run ahead of what was handed out by up to a buffer's size.
 */
void input_progress(const struct input *in, uint64_t *done,
    uint64_t *total);

#endif
