/*
 * cli.c - command-line numbers, colour and progress for the tools.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int
cli_number(const char *s, long long min, long long max, long long *out,
    const char **errstr)
{
	char *end;
	long long v;

	*errstr = NULL;
	if (s == NULL || *s == '\0') {
		*errstr = "invalid";
		return -1;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0') {
		*errstr = "invalid";
		return -1;
	}
	if ((errno == ERANGE && v == LLONG_MIN) || v < min) {
		*errstr = "too small";
		return -1;
	}
	if ((errno == ERANGE && v == LLONG_MAX) || v > max) {
		*errstr = "too large";
		return -1;
	}
	*out = v;
	return 0;
}

int
cli_color(const char *when, int fd)
{
	const char *no = getenv("NO_COLOR");

	/* NO_COLOR is a default, as no-color.org has it: a flag wins. */
	if (when == NULL || strcmp(when, "auto") == 0)
		return isatty(fd) && (no == NULL || *no == '\0');
	if (strcmp(when, "always") == 0)
		return 1;
	if (strcmp(when, "never") == 0)
		return 0;
	return -1;
}

struct stream {
	int fd;
	int own;
};

/* All of buf, or an error: a signal that interrupts a write is no error. */
static ssize_t
stream_write(void *cookie, const char *buf, size_t n)
{
	struct stream *st = cookie;
	size_t done = 0;
	ssize_t w;

	while (done < n) {
		w = write(st->fd, buf + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return done > 0 ? (ssize_t)done : -1;
		done += (size_t)w;
	}
	return (ssize_t)done;
}

static int
stream_close(void *cookie)
{
	struct stream *st = cookie;
	int rc = st->own ? close(st->fd) : 0;

	free(st);
	return rc;
}

FILE *
cli_stream(int fd, int own)
{
	static const cookie_io_functions_t io = { NULL, stream_write, NULL,
	    stream_close };
	struct stream *st = malloc(sizeof(*st));
	FILE *f;

	if (st == NULL)
		return NULL;
	st->fd = fd;
	st->own = own;
	f = fopencookie(st, "w", io);
	if (f == NULL)
		free(st);
	return f;
}

void
progress_init(struct progress *p, uint64_t total, int wanted)
{
	memset(p, 0, sizeof(*p));
	p->on = wanted && isatty(STDERR_FILENO);
	p->total = total;
	clock_gettime(CLOCK_MONOTONIC, &p->last);
}

void
progress_update(struct progress *p, uint64_t bytes, uint64_t messages)
{
	struct timespec now;
	long long ms;

	if (!p->on)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - p->last.tv_sec) * 1000LL +
	    (now.tv_nsec - p->last.tv_nsec) / 1000000;
	if (ms < 250)
		return;
	p->last = now;
	if (p->total > 0)
		fprintf(stderr, "\r%3d%% %" PRIu64 " MB, %" PRIu64
		    " messages ", (int)(bytes * 100 / p->total),
		    bytes >> 20, messages);
	else
		fprintf(stderr, "\r%" PRIu64 " MB, %" PRIu64 " messages ",
		    bytes >> 20, messages);
	p->shown = 1;
}

void
progress_end(struct progress *p)
{
	if (p->shown)
		fputs("\r\033[K", stderr);
	p->shown = 0;
}
