/*
 * fuzz_print.c - a hostile stream through the whole dissection: framing
 * with resynchronisation, validation, the CRC check, tracking and every
 * printer (line, tree at -vv, JSON, notation, hex).
 *
 * The printers read only through the iterators and value_schema(), so
 * they must never read past a message; ASan checks that. Every valid
 * message must also read back from its printed notation.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dissectors/dissect.h"
#include "dissectors/notation.h"
#include "dissectors/printer.h"
#include "dissectors/track.h"
#include "libproto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	struct printer pr[5];
	struct track *track;
	struct track_conn *conn;
	struct dissect_stream *both[2];
	int dir;
};

static void
check_notation(const struct proto_msg *m, uint32_t frame_len)
{
	struct notation_parser p;
	struct notation_msg msg;
	struct proto_builder b;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		abort();
	notation_print(f, m, NOTATION_DIR_NONE, 0);
	fclose(f);
	proto_builder_init(&b);
	if (notation_init(&p, text, len) < 0)
		abort();
	if (notation_next(&p, &b, &msg) != 1 ||
	    proto_builder_len(&b) != frame_len ||
	    memcmp(proto_builder_data(&b), m->bytes, frame_len) != 0)
		__builtin_trap();
	notation_free(&p);
	proto_builder_free(&b);
	free(text);
}

static int
on_event(void *arg, const struct dissect_event *ev)
{
	struct ctx *c = arg;
	struct origin o = { 0 };
	struct timespec ts = { 1700000000, 0 };
	size_t i;

	o.latency_ns = -1;
	o.dir = c->dir;
	o.frame_len = ev->frame_len;
	o.has_time = 1;
	o.ts = ts;
	for (i = 0; i < 5; i++) {
		switch (ev->type) {
		case DISSECT_MESSAGE:
			printer_message(&c->pr[i], &o, ev->m, NULL);
			break;
		case DISSECT_MALFORMED:
			printer_message(&c->pr[i], &o, ev->m, ev->err);
			break;
		default:
			printer_stream_event(&c->pr[i], &o, ev);
			break;
		}
	}
	if (ev->type == DISSECT_MESSAGE) {
		o.latency_ns = track_message(c->track, c->conn, c->dir, ev->m,
		    &ts);
		dissect_session(c->both, ev->m);
		check_notation(ev->m, ev->frame_len);
	} else if (ev->type == DISSECT_MALFORMED) {
		track_malformed(c->track, ev->m);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum print_form forms[5] = {
		FORM_LINE, FORM_TREE, FORM_JSON, FORM_NOTATION, FORM_TREE
	};
	struct dissect_stream s[2];
	struct ctx c;
	FILE *devnull = fopen("/dev/null", "w");
	size_t i, half = size / 2;

	if (devnull == NULL)
		abort();
	memset(&c, 0, sizeof(c));
	for (i = 0; i < 5; i++) {
		c.pr[i].out = devnull;
		c.pr[i].form = forms[i];
		c.pr[i].verbose = i == 4 ? 2 : 1;
		c.pr[i].hex = i == 4;
		c.pr[i].numeric = i == 1;
		c.pr[i].time = i == 4 ? TIME_SINCE_FIRST : (enum print_time)i;
	}
	c.track = track_new();
	c.conn = track_conn_new(c.track, "fuzz", 1);
	if (c.track == NULL || c.conn == NULL ||
	    dissect_init(&s[0], 1, 0) < 0 || dissect_init(&s[1], 1, 1) < 0)
		abort();
	c.both[0] = &s[0];
	c.both[1] = &s[1];
	/* Both halves as the two directions of one connection. */
	for (i = 0; i < 2; i++) {
		c.dir = (int)i;
		dissect_feed(&s[i], data + (i ? half : 0), i ? size - half :
		    half, on_event, &c);
		dissect_gap(&s[i], 3);
		dissect_feed(&s[i], data, size / 3, on_event, &c);
		dissect_eof(&s[i], on_event, &c);
		dissect_free(&s[i]);
	}
	track_conn_end(c.track, c.conn);
	for (i = 0; i < 5; i++)
		track_report(c.track, devnull, &c.pr[i]);
	track_report_json(c.track, devnull);
	track_free(c.track);
	fclose(devnull);
	return 0;
}
