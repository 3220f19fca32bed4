/*
 * cli.h - what every msgkit tool does with its command line and its
 * terminal: numbers checked like strtonum(3), colour only where it
 * belongs, progress on long runs.
 */
#ifndef CLI_H
#define CLI_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

/*
 * Parse a whole decimal number in [min, max]. 0, or -1 with *errstr
 * "invalid", "too small" or "too large" (strtonum's words).
 */
int cli_number(const char *s, long long min, long long max, long long *out,
    const char **errstr);

/*
 * Whether to colour output on fd: `when` is "auto" (or NULL): when fd is
 * a terminal and NO_COLOR is unset or empty; "always" or "never", which
 * NO_COLOR does not change. -1 for a bad `when`.
 */
int cli_color(const char *when, int fd);

/*
 * A stdio stream writing to fd whose writes go on when a signal
 * interrupts them (EINTR): a tool whose handlers are installed without
 * SA_RESTART, so that a blocked read returns, must not lose its output
 * to the same signal. fclose() closes fd when `own` is set. NULL, with
 * errno set, when the stream cannot be made.
 */
FILE *cli_stream(int fd, int own);

/* Progress on stderr, only when it is a terminal. */
struct progress {
	int on;
	uint64_t total;		/* bytes expected, 0 if unknown */
	struct timespec last;
	int shown;		/* a line is on the terminal */
};

void progress_init(struct progress *p, uint64_t total, int wanted);
/* Cheap to call often: writes at most 4 times a second. */
void progress_update(struct progress *p, uint64_t bytes, uint64_t messages);
/* Erase the progress line. */
void progress_end(struct progress *p);

#endif
