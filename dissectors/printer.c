/*
 * printer.c - the front of the printers: pick the form, write the time
 * and flow prefix, explain errors, colour.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dissect.h"
#include "notation.h"
#include "printer.h"
#include "schema.h"
#include "value.h"

const char *
color_cmd(const struct printer *p)
{
	return p->color ? "\033[36m" : "";
}

const char *
color_bad(const struct printer *p)
{
	return p->color ? "\033[1;31m" : "";
}

const char *
color_ok(const struct printer *p)
{
	return p->color ? "\033[32m" : "";
}

const char *
color_off(const struct printer *p)
{
	return p->color ? "\033[0m" : "";
}

/* "hh:mm:ss" of a time, converted once per second: a capture has
   thousands of messages in each. */
static const char *
clock_of(struct printer *p, time_t t, int date)
{
	struct tm tm;

	if (p->clock_valid && p->clock_sec == t && p->clock_date == date)
		return p->clock;
	if (localtime_r(&t, &tm) == NULL)
		return NULL;
	if (date)
		snprintf(p->clock, sizeof(p->clock),
		    "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		    tm.tm_sec);
	else
		snprintf(p->clock, sizeof(p->clock), "%02d:%02d:%02d",
		    tm.tm_hour, tm.tm_min, tm.tm_sec);
	p->clock_sec = t;
	p->clock_date = date;
	p->clock_valid = 1;
	return p->clock;
}

/* ".uuuuuu", then a space when `sp`. */
static void
put_micros(FILE *f, long ns, int sp)
{
	char buf[8];
	long us = ns / 1000;
	int i;

	buf[0] = '.';
	for (i = 6; i >= 1; i--) {
		buf[i] = (char)('0' + us % 10);
		us /= 10;
	}
	buf[7] = ' ';
	fwrite_unlocked(buf, 1, sp ? 8 : 7, f);
}

/* b - a; never negative (a capture's clock may step back). */
static struct timespec
ts_sub(const struct timespec *b, const struct timespec *a)
{
	struct timespec d;

	d.tv_sec = b->tv_sec - a->tv_sec;
	d.tv_nsec = b->tv_nsec - a->tv_nsec;
	if (d.tv_nsec < 0) {
		d.tv_nsec += 1000000000;
		d.tv_sec--;
	}
	if (d.tv_sec < 0)
		d.tv_sec = d.tv_nsec = 0;
	return d;
}

static struct timespec
time_delta(struct printer *p, const struct timespec *ts)
{
	struct timespec d = { 0, 0 };

	if (p->have_prev)
		d = ts_sub(ts, &p->prev);
	p->prev = *ts;
	p->have_prev = 1;
	return d;
}

void
printer_set_first(struct printer *p, const struct timespec *ts)
{
	if (p->have_first)
		return;
	p->first = *ts;
	p->have_first = 1;
}

/* Seconds and microseconds, then a space when `sp`. */
static void
put_seconds(FILE *f, const struct timespec *t, int sp)
{
	value_put_u64(f, (uint64_t)t->tv_sec);
	put_micros(f, t->tv_nsec, sp);
}

/* The time in form `form`; `sp` adds the space before the rest. */
static void
put_time(struct printer *p, FILE *f, enum print_time form,
    const struct timespec *ts, int sp)
{
	struct timespec d;
	const char *clock;

	switch (form) {
	case TIME_NONE:
		return;
	case TIME_EPOCH:
		put_seconds(f, ts, sp);
		return;
	case TIME_DELTA:
		d = time_delta(p, ts);
		put_seconds(f, &d, sp);
		return;
	case TIME_SINCE_FIRST:
		printer_set_first(p, ts);
		d = ts_sub(ts, &p->first);
		put_seconds(f, &d, sp);
		return;
	default:
		break;
	}
	clock = clock_of(p, ts->tv_sec, form == TIME_DATE);
	if (clock == NULL)
		value_put_u64(f, (uint64_t)ts->tv_sec);
	else
		fputs_unlocked(clock, f);
	put_micros(f, ts->tv_nsec, sp);
}

int
printer_put_time(struct printer *p, FILE *f, const struct timespec *ts)
{
	enum print_time form = p->time;

	if (form == TIME_NONE)
		return 0;
	if (form == TIME_DELTA)
		form = TIME_SINCE_FIRST;
	put_time(p, f, form, ts, 0);
	return 1;
}

void
print_prefix(struct printer *p, const struct origin *o)
{
	if (o->has_time)
		put_time(p, p->out, p->time, &o->ts, 1);
	if (o->src == NULL)
		return;
	fputs_unlocked(o->src, p->out);
	fputs_unlocked(" > ", p->out);
	fputs_unlocked(o->dst, p->out);
	fputs_unlocked(": ", p->out);
}

/* "STATUS (0x0001)" or "itemid 0x7123"; empty for no item. */
static void
item_label(uint16_t itemid, char *buf, size_t len)
{
	const struct schema_item *si = schema_item(itemid & PROTO_TYPE_MASK);

	if (itemid == 0)
		buf[0] = '\0';
	else if (si != NULL)
		snprintf(buf, len, "%s (0x%04x)", si->name, itemid);
	else
		snprintf(buf, len, "itemid 0x%04x", itemid);
}

unsigned
printer_reason_values(const struct proto_error *e)
{
	switch (e->reason) {
	case PROTO_E_SHORT_HEADER:
	case PROTO_E_LENGTH:
	case PROTO_E_TRUNCATED:
	case PROTO_E_ITEM_OVERRUN:
	case PROTO_E_ITEMLEN:
	case PROTO_E_ITEMS_END:
	case PROTO_E_DEPTH:
	case PROTO_E_REF_LEN:
	case PROTO_E_ITEM_SIZE:
		return REASON_GOT | REASON_WANT;
	case PROTO_E_MSG_PAD:
	case PROTO_E_LINK_LEN:
		return REASON_GOT;
	case PROTO_E_CRC:
		/* 0 and 0: no CRC item at all. */
		return e->got != 0 || e->want != 0 ? REASON_GOT | REASON_WANT :
		    0;
	default:
		return 0;
	}
}

/* The numbers that explain a reason, or "" when it needs none. */
static void
reason_numbers(const struct proto_error *e, char *buf, size_t len)
{
	unsigned long long got = e->got, want = e->want;

	buf[0] = '\0';
	switch (e->reason) {
	case PROTO_E_SHORT_HEADER:
		snprintf(buf, len, "%llu of %llu header bytes", got, want);
		break;
	case PROTO_E_LENGTH:
		snprintf(buf, len, "length %llu", got);
		break;
	case PROTO_E_MSG_PAD:
		snprintf(buf, len, "pad byte 0x%02llx", got);
		break;
	case PROTO_E_TRUNCATED:
		snprintf(buf, len, "%llu of %llu bytes", got, want);
		break;
	case PROTO_E_ITEM_OVERRUN:
		snprintf(buf, len, "itemlen %llu, %llu bytes left", got, want);
		break;
	case PROTO_E_ITEMLEN:
		snprintf(buf, len, "itemlen %llu, at least %llu", got, want);
		break;
	case PROTO_E_ITEMS_END:
		snprintf(buf, len, "items end at %llu, must end at %llu", got,
		    want);
		break;
	case PROTO_E_DEPTH:
		snprintf(buf, len, "level %llu, at most %llu", got, want);
		break;
	case PROTO_E_REF_LEN:
		snprintf(buf, len, "itemlen %llu, must be %llu", got, want);
		break;
	case PROTO_E_LINK_LEN:
		snprintf(buf, len, "%llu data bytes", got);
		break;
	case PROTO_E_ITEM_SIZE:
		snprintf(buf, len, "%llu data bytes, must be %llu", got, want);
		break;
	case PROTO_E_CRC:
		if (printer_reason_values(e) != 0)
			snprintf(buf, len, "CRC 0x%08llx, must be 0x%08llx",
			    got, want);
		else
			snprintf(buf, len, "no CRC item at the end");
		break;
	default:
		break;
	}
}

void
printer_error_detail(const struct proto_error *e, char *buf, size_t len)
{
	char label[48], nums[96];

	item_label(e->itemid, label, sizeof(label));
	reason_numbers(e, nums, sizeof(nums));
	snprintf(buf, len, "%s%s%s", label, label[0] && nums[0] ? ": " : "",
	    nums);
}

void
print_reason(FILE *f, const struct proto_error *err)
{
	char detail[160];

	printer_error_detail(err, detail, sizeof(detail));
	fputs_unlocked(proto_reason_str(err->reason), f);
	if (detail[0] != '\0')
		fprintf(f, " (%s)", detail);
}

void
printer_stream_error(struct printer *p, const struct origin *o,
    const struct proto_error *err)
{
	if (p->form == FORM_JSON) {
		print_json_error(p, o, err);
		return;
	}
	if (p->form == FORM_NOTATION) {
		fprintf(p->out, "# @%" PRIu64 " error: ", err->offset);
		print_reason(p->out, err);
		putc_unlocked('\n', p->out);
		return;
	}
	print_prefix(p, o);
	fprintf(p->out, "@%" PRIu64 " %serror: ", err->offset, color_bad(p));
	print_reason(p->out, err);
	fprintf(p->out, "%s\n", color_off(p));
}

void
printer_note(struct printer *p, const struct origin *o, uint64_t offset,
    const struct note *n)
{
	if (p->form == FORM_JSON) {
		print_json_note(p, o, offset, n);
		return;
	}
	if (p->form == FORM_NOTATION) {
		fprintf(p->out, "# @%" PRIu64 " %s\n", offset, n->text);
		return;
	}
	print_prefix(p, o);
	fprintf(p->out, "@%" PRIu64 " %s\n", offset, n->text);
}

/* In step again, or skipped to the end: what happened, in words. */
static const struct {
	const char *what;	/* the JSON note */
	const char *text;	/* the line: bytes, then "s" or "" */
} resync_words[] = {
	[DISSECT_AFTER_ERROR] = { "resynchronised",
	    "resynchronised after skipping %llu byte%s" },
	[DISSECT_AFTER_GAP] = { "resynchronised after a gap",
	    "resynchronised after the gap, skipping %llu byte%s of messages "
	    "it cut" },
	[DISSECT_JOINED] = { "joined mid-stream",
	    "joined mid-stream, skipping %llu byte%s" },
	[DISSECT_SKIPPED_END] = { "skipped to the end of the stream",
	    "%llu byte%s skipped to the end of the stream" },
};

static void
resync_note(const struct dissect_event *ev, struct note *n, char *buf,
    size_t len)
{
	unsigned long long k = ev->skipped;

	n->what = resync_words[ev->cause].what;
	n->key = "skipped";
	n->n = ev->skipped;
	n->text = buf;
	/* Joined at a message: nothing was skipped, nothing to count. */
	if (ev->cause == DISSECT_JOINED && k == 0) {
		n->key = NULL;
		snprintf(buf, len, "%s", n->what);
		return;
	}
	snprintf(buf, len, resync_words[ev->cause].text, k, k == 1 ? "" : "s");
}

void
printer_stream_event(struct printer *p, const struct origin *o,
    const struct dissect_event *ev)
{
	const char *why = ev->err != NULL ? proto_reason_str(ev->err->reason) :
	    "no message found";
	struct note n = { NULL, NULL, NULL, 0, NULL };
	char text[160];
	uint64_t offset = ev->offset;

	switch (ev->type) {
	case DISSECT_STREAM_ERROR:
		printer_stream_error(p, o, ev->err);
		return;
	case DISSECT_RESYNC:
		resync_note(ev, &n, text, sizeof(text));
		break;
	case DISSECT_NOT_MSGKIT:
		n.what = "not msgkit traffic";
		n.reason = why;
		snprintf(text, sizeof(text), "not msgkit traffic (%s): stream "
		    "ignored", why);
		n.text = text;
		offset = ev->err != NULL ? ev->err->offset : 0;
		break;
	default:
		return;
	}
	printer_note(p, o, offset, &n);
}

static void
print_notation(struct printer *p, const struct origin *o,
    const struct proto_msg *m, const struct proto_error *err)
{
	size_t n = o->frame_len ? o->frame_len : m->length;

	if (err == NULL) {
		notation_print(p->out, m, o->dir,
		    p->numeric ? VALUE_NUMERIC : 0);
		return;
	}
	/* Malformed: the bytes verbatim, so a replay sends them again. */
	notation_print_raw(p->out, m->bytes, n, o->dir);
	fprintf(p->out, "\t# @%" PRIu64 " malformed: ", err->offset);
	print_reason(p->out, err);
	putc_unlocked('\n', p->out);
}

void
printer_message(struct printer *p, const struct origin *o,
    const struct proto_msg *m, const struct proto_error *err)
{
	switch (p->form) {
	case FORM_LINE:
		print_line(p, o, m, err);
		break;
	case FORM_TREE:
		print_tree(p, o, m, err);
		break;
	case FORM_JSON:
		print_json(p, o, m, err);
		return;
	case FORM_NOTATION:
		print_notation(p, o, m, err);
		return;
	}
	if (p->hex)
		print_hex(p->out, m->bytes, o->frame_len ? o->frame_len :
		    m->length);
}
