/*
 * printer.h - every way msgkit tools show a message, behind one call.
 *
 * A tool fills a struct printer from its flags once and hands it each
 * message with where it came from; the printer picks the form (summary
 * line, tree, JSON line, text notation), adds the hex dump, the time
 * stamp and colour. One file per form: print_line.c, print_tree.c,
 * print_json.c, print_hex.c, and notation_print.c.
 */
#ifndef PRINTER_H
#define PRINTER_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "libproto/proto_decode.h"
#include "libproto/proto_error.h"

struct dissect_event;

enum print_form {
	FORM_LINE,		/* default: one line per message */
	FORM_TREE,		/* -v */
	FORM_JSON,		/* -j */
	FORM_NOTATION		/* -m */
};

enum print_time {
	TIME_OF_DAY,		/* default: 12:00:00.000001 */
	TIME_NONE,		/* -t */
	TIME_EPOCH,		/* -tt: 1700000000.000001 */
	TIME_DELTA,		/* -ttt: since the previous line */
	TIME_DATE,		/* -tttt: 2026-11-21 12:00:00.000001 */
	TIME_SINCE_FIRST	/* -ttttt: since the first packet */
};

struct printer {
	FILE *out;
	enum print_form form;
	enum print_time time;
	int verbose;		/* -v count: -vv adds offsets and itemids */
	int hex;		/* -X */
	int numeric;		/* -n */
	int color;		/* ANSI colour */
	int have_prev;		/* for TIME_DELTA */
	struct timespec prev;
	int have_first;		/* for TIME_SINCE_FIRST */
	struct timespec first;
	int clock_valid;	/* clock[] holds clock_sec's time of day */
	int clock_date;
	time_t clock_sec;
	char clock[64];
};

/* Where a message or a finding came from. */
struct origin {
	int has_time;
	struct timespec ts;
	const char *src;	/* "127.0.0.1.40000"; NULL for a raw stream */
	const char *dst;
	int dir;		/* NOTATION_DIR_*: -1 unknown, 0 '>', 1 '<' */
	int64_t latency_ns;	/* a reply's time since its command, or -1 */
	uint64_t frame_len;	/* bytes the message occupies, pad included */
};

/*
 * A message; `err` is NULL when it validated, else why not (the message
 * header is still shown, then the reason).
 */
void printer_message(struct printer *p, const struct origin *o,
    const struct proto_msg *m, const struct proto_error *err);

/* A framing error. */
void printer_stream_error(struct printer *p, const struct origin *o,
    const struct proto_error *err);

/*
 * A note about a stream that is not an error: "@OFFSET text" in the line
 * and tree forms, "# @OFFSET text" in the notation, and in JSON
 * {"offset":N,"note":what} with `key`:n when key is set and
 * "reason":reason when reason is, then the origin's members.
 */
struct note {
	const char *what;	/* "joined mid-stream": stable, no numbers */
	const char *text;	/* "joined mid-stream, skipping 8 bytes" */
	const char *key;	/* "skipped", "missing", or NULL */
	uint64_t n;
	const char *reason;	/* NULL, or a reason of the tools' own */
};

void printer_note(struct printer *p, const struct origin *o, uint64_t offset,
    const struct note *n);

/*
 * A dissect_event that is not a message: a framing error, a stream in
 * step again (or skipped to its end), a stream that is not msgkit.
 */
void printer_stream_event(struct printer *p, const struct origin *o,
    const struct dissect_event *ev);

/*
 * A time alone, as the -t options in use write it before a line (no
 * trailing space); TIME_NONE writes nothing and returns 0, else 1. For
 * statistics: TIME_DELTA writes the time since the first packet, as
 * TIME_SINCE_FIRST does, since there is no line before.
 */
int printer_put_time(struct printer *p, FILE *f, const struct timespec *ts);

/* The capture's first packet, for TIME_SINCE_FIRST; the first set wins. */
void printer_set_first(struct printer *p, const struct timespec *ts);

/*
 * The explanation of an error after its reason: "itemlen 300, 24 bytes
 * left", with the item's name when known. Writes a NUL-terminated string.
 */
void printer_error_detail(const struct proto_error *err, char *buf,
    size_t len);

/* Which of err's got and want mean something for its reason. */
#define REASON_GOT	0x1u
#define REASON_WANT	0x2u
unsigned printer_reason_values(const struct proto_error *err);

/* "reason (detail)": the reason, then the numbers, if any. */
void print_reason(FILE *f, const struct proto_error *err);

/* Used by the forms: the time and flow prefix of a line. */
void print_prefix(struct printer *p, const struct origin *o);

/* The first line of a message, shared by the summary and the tree. */
void print_header(struct printer *p, const struct origin *o,
    const struct proto_msg *m);
void print_trailer(struct printer *p, const struct origin *o,
    const struct proto_error *err);

/* The forms. */
void print_line(struct printer *p, const struct origin *o,
    const struct proto_msg *m, const struct proto_error *err);
void print_tree(struct printer *p, const struct origin *o,
    const struct proto_msg *m, const struct proto_error *err);
void print_json(struct printer *p, const struct origin *o,
    const struct proto_msg *m, const struct proto_error *err);
void print_json_error(struct printer *p, const struct origin *o,
    const struct proto_error *err);
void print_json_note(struct printer *p, const struct origin *o,
    uint64_t offset, const struct note *n);
void print_hex(FILE *f, const uint8_t *p, size_t n);
/*
 * A JSON string of bytes from the wire: quote, backslash, control
 * characters (C0, DEL, and C1 as UTF-8) escaped as \uXXXX, so no string
 * can drive a terminal when jq -r prints it.
 */
void print_json_string(FILE *f, const uint8_t *s, size_t n);

/* ANSI colours, empty strings when colour is off. */
const char *color_cmd(const struct printer *p);
const char *color_bad(const struct printer *p);
const char *color_ok(const struct printer *p);
const char *color_off(const struct printer *p);

#endif
