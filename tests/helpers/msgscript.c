/*
 * msgscript - turn text-notation scripts into the bytes they describe,
 * for the tests and the demo.
 *
 *	msgscript [-o FILE] [-d out|in] [-w FILE.pcap] SCRIPT...
 *
 * -o writes the messages as one raw stream (with -d, only the lines of
 * that direction: '>' is out, '<' is in, no mark counts as out). -w
 * writes a two-way TCP session as a pcap: '>' lines from the client,
 * '<' lines from the server, 1 ms apart from a fixed start, so the
 * output is the same on every run. A parse error names the script, line
 * and column and makes the exit status 1.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dissectors/notation.h"
#include "libproto/proto_encode.h"
#include "tools/lib/pcapout.h"

#define START_SEC	1700000000

struct out {
	FILE *raw;
	int only_dir;		/* NOTATION_DIR_NONE for all */
	struct pcapout *pcap;
	struct pcapout_conn *conn;
	struct timespec ts;
};

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0, n;

	if (f == NULL)
		err(2, "%s", path);
	*len = 0;
	for (;;) {
		if (cap - *len < 65536) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			if (buf == NULL)
				err(2, "out of memory");
		}
		n = fread(buf + *len, 1, cap - *len, f);
		*len += n;
		if (n == 0)
			break;
	}
	if (ferror(f))
		err(2, "%s", path);
	if (f != stdin)
		fclose(f);
	return buf;
}

static void
emit(struct out *o, const struct notation_msg *msg, const uint8_t *p)
{
	int dir = msg->dir == NOTATION_DIR_IN ? NOTATION_DIR_IN :
	    NOTATION_DIR_OUT;

	if (o->raw != NULL && (o->only_dir == NOTATION_DIR_NONE ||
	    o->only_dir == dir) && fwrite(p, 1, msg->size, o->raw) !=
	    msg->size)
		err(2, "write");
	if (o->pcap == NULL)
		return;
	o->ts.tv_nsec += 1000000;
	if (o->ts.tv_nsec >= 1000000000) {
		o->ts.tv_nsec -= 1000000000;
		o->ts.tv_sec++;
	}
	if (pcapout_data(o->pcap, o->conn, dir == NOTATION_DIR_IN, p,
	    msg->size, &o->ts) < 0)
		errx(2, "pcap write failed");
}

/* 0 when the whole script parsed, 1 after any error. */
static int
run_script(const char *path, struct out *o)
{
	struct notation_parser p;
	struct notation_msg msg;
	struct proto_builder b;
	size_t len;
	char *text = slurp(path, &len);
	int r, bad = 0;

	if (notation_init(&p, text, len) < 0)
		err(2, "out of memory");
	proto_builder_init(&b);
	while ((r = notation_next(&p, &b, &msg)) != 0) {
		if (r < 0) {
			fprintf(stderr, "%s: %s\n", path, p.err);
			bad = 1;
			continue;
		}
		emit(o, &msg, proto_builder_data(&b) + msg.start);
		proto_builder_reset(&b);
	}
	proto_builder_free(&b);
	notation_free(&p);
	free(text);
	return bad;
}

int
main(int argc, char **argv)
{
	struct pcapout_addr client = { { 10, 0, 0, 1 }, 40000 };
	struct pcapout_addr server = { { 10, 0, 0, 2 }, 7470 };
	struct out o = { .only_dir = NOTATION_DIR_NONE };
	const char *rawpath = NULL, *pcappath = NULL;
	char errbuf[256];
	int c, i, bad = 0;

	while ((c = getopt(argc, argv, "d:o:w:")) != -1) {
		switch (c) {
		case 'd':
			if (strcmp(optarg, "out") == 0)
				o.only_dir = NOTATION_DIR_OUT;
			else if (strcmp(optarg, "in") == 0)
				o.only_dir = NOTATION_DIR_IN;
			else
				errx(2, "-d %s: out or in", optarg);
			break;
		case 'o':
			rawpath = optarg;
			break;
		case 'w':
			pcappath = optarg;
			break;
		default:
			fprintf(stderr, "usage: msgscript [-o FILE] [-d out|in] "
			    "[-w FILE.pcap] SCRIPT...\n");
			return 2;
		}
	}
	if (optind == argc || (rawpath == NULL && pcappath == NULL))
		errx(2, "need a script and -o or -w");
	if (rawpath != NULL) {
		o.raw = strcmp(rawpath, "-") == 0 ? stdout :
		    fopen(rawpath, "wb");
		if (o.raw == NULL)
			err(2, "%s", rawpath);
	}
	o.ts.tv_sec = START_SEC;
	if (pcappath != NULL) {
		o.pcap = pcapout_open(pcappath, errbuf, sizeof(errbuf));
		if (o.pcap == NULL)
			errx(2, "%s", errbuf);
		o.conn = pcapout_conn_open(o.pcap, &client, &server, &o.ts);
		if (o.conn == NULL)
			errx(2, "pcap write failed");
	}
	for (i = optind; i < argc; i++)
		bad |= run_script(argv[i], &o);
	if (o.pcap != NULL) {
		o.ts.tv_nsec += 1000000;
		pcapout_conn_close(o.pcap, o.conn, &o.ts);
		if (pcapout_close(o.pcap, errbuf, sizeof(errbuf)) < 0)
			errx(2, "%s", errbuf);
	}
	if (o.raw != NULL && fclose(o.raw) != 0)
		err(2, "%s", rawpath);
	return bad;
}
