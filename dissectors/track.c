/*
 * track.c - transactions and per-command statistics.
 *
 * Outstanding commands live in a per-connection open-addressing hash
 * table keyed by (direction, link, msgid), with backward-shift deletion
 * so no tombstones pile up over a long capture. Latencies go into a
 * histogram of fixed size (histo.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_numbers.h"
#include "printer.h"
#include "schema.h"
#include "histo.h"
#include "track.h"

#define COMMANDS	(PROTO_COMMAND_MASK + 1u)

struct cmd_stats {
	uint64_t commands;	/* requests seen */
	uint64_t replies;	/* reply messages, parts included */
	uint64_t bytes;		/* of both */
	uint64_t errors;	/* final STATUS != 0 */
	uint64_t malformed;
	uint64_t unanswered;
	uint64_t orphans;	/* replies to no command seen */
	struct histo latency;	/* command to final reply */
};

struct pending {
	uint64_t linkid;
	uint32_t msgid;
	uint16_t command;
	uint8_t dir;
	uint8_t used;
	uint64_t seq;		/* commands seen before it, all connections */
	struct timespec ts;
	int has_ts;
};

struct unanswered {
	char label[96];
	uint64_t linkid;
	uint32_t msgid;
	uint16_t command;
	uint64_t seq;
	int has_ts;
	struct timespec ts;
};

struct track_conn {
	char label[96];
	int two_way;
	struct pending *slots;
	size_t nslots;		/* a power of two, or 0 */
	size_t used;
};

struct track {
	struct cmd_stats *cmd[COMMANDS];
	uint64_t messages, bytes, malformed, skipped_bytes;
	uint64_t not_msgkit, untracked, msgid_reused, one_way;
	uint64_t unanswered_total;
	uint64_t seq;		/* commands seen */
	struct unanswered shown[TRACK_UNANSWERED_SHOWN]; /* the earliest */
	size_t nshown;
};

struct track *
track_new(void)
{
	return calloc(1, sizeof(struct track));
}

void
track_free(struct track *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < COMMANDS; i++)
		free(t->cmd[i]);
	free(t);
}

static struct cmd_stats *
stats_for(struct track *t, uint16_t command)
{
	struct cmd_stats **s = &t->cmd[command & PROTO_COMMAND_MASK];

	if (*s == NULL)
		*s = calloc(1, sizeof(**s));
	return *s;
}

struct track_conn *
track_conn_new(struct track *t, const char *label, int two_way)
{
	struct track_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	snprintf(c->label, sizeof(c->label), "%s", label ? label : "");
	c->two_way = two_way;
	if (!two_way)
		t->one_way++;
	return c;
}

static size_t
slot_hash(int dir, uint64_t linkid, uint32_t msgid, size_t mask)
{
	uint64_t h = linkid * 0x9e3779b97f4a7c15ull;

	h ^= ((uint64_t)msgid << 1 | (uint64_t)dir) * 0xc2b2ae3d27d4eb4full;
	h ^= h >> 29;
	return (size_t)h & mask;
}

static struct pending *
slot_find(struct track_conn *c, int dir, uint64_t linkid, uint32_t msgid)
{
	size_t mask, i;

	if (c->nslots == 0)
		return NULL;
	mask = c->nslots - 1;
	for (i = slot_hash(dir, linkid, msgid, mask); c->slots[i].used;
	    i = (i + 1) & mask)
		if (c->slots[i].dir == dir && c->slots[i].linkid == linkid &&
		    c->slots[i].msgid == msgid)
			return &c->slots[i];
	return NULL;
}

static int
slots_grow(struct track_conn *c)
{
	struct pending *old = c->slots, *slot;
	size_t oldn = c->nslots, i, n = oldn ? oldn * 2 : 64, j;

	c->slots = calloc(n, sizeof(*c->slots));
	if (c->slots == NULL) {
		c->slots = old;
		return -1;
	}
	c->nslots = n;
	for (i = 0; i < oldn; i++) {
		if (!old[i].used)
			continue;
		j = slot_hash(old[i].dir, old[i].linkid, old[i].msgid, n - 1);
		while (c->slots[j].used)
			j = (j + 1) & (n - 1);
		slot = &c->slots[j];
		*slot = old[i];
	}
	free(old);
	return 0;
}

/* Backward-shift deletion: later entries of the run move up. */
static void
slot_remove(struct track_conn *c, struct pending *p)
{
	size_t mask = c->nslots - 1, i = (size_t)(p - c->slots), j, home;

	c->slots[i].used = 0;
	c->used--;
	for (j = (i + 1) & mask; c->slots[j].used; j = (j + 1) & mask) {
		home = slot_hash(c->slots[j].dir, c->slots[j].linkid,
		    c->slots[j].msgid, mask);
		/* Move j into the hole at i unless its home lies in (i, j]. */
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && (home <= i && home > j))) {
			c->slots[i] = c->slots[j];
			c->slots[j].used = 0;
			i = j;
		}
	}
}

/* Sent before: by time when both have one, then in the order seen. */
static int
sent_before(const struct unanswered *a, const struct unanswered *b)
{
	if (a->has_ts && b->has_ts) {
		if (a->ts.tv_sec != b->ts.tv_sec)
			return a->ts.tv_sec < b->ts.tv_sec;
		if (a->ts.tv_nsec != b->ts.tv_nsec)
			return a->ts.tv_nsec < b->ts.tv_nsec;
	}
	return a->seq < b->seq;
}

/*
 * Keep the TRACK_UNANSWERED_SHOWN commands sent first, whatever order
 * connections end in and the hash table gives them up: the report is
 * the same for the same input.
 */
static void
remember_unanswered(struct track *t, const struct track_conn *c,
    const struct pending *p)
{
	struct unanswered u, *slot = NULL;
	struct cmd_stats *s = stats_for(t, p->command);
	size_t i;

	if (s != NULL)
		s->unanswered++;
	t->unanswered_total++;
	snprintf(u.label, sizeof(u.label), "%s", c->label);
	u.linkid = p->linkid;
	u.msgid = p->msgid;
	u.command = p->command;
	u.seq = p->seq;
	u.has_ts = p->has_ts;
	u.ts = p->ts;
	if (t->nshown < TRACK_UNANSWERED_SHOWN) {
		t->shown[t->nshown++] = u;
		return;
	}
	for (i = 0; i < t->nshown; i++)
		if (slot == NULL || sent_before(slot, &t->shown[i]))
			slot = &t->shown[i];
	if (sent_before(&u, slot))
		*slot = u;
}

static void
command_seen(struct track *t, struct track_conn *c, int dir,
    const struct proto_msg *m, const struct timespec *ts)
{
	const struct schema_command *sc = schema_command(proto_msg_command(m));
	struct pending *p;

	if (!c->two_way || (sc != NULL && !sc->answered))
		return;
	p = slot_find(c, dir, m->linkid, m->msgid);
	if (p != NULL) {
		/* A msgid reused while outstanding: the first is lost. */
		t->msgid_reused++;
		remember_unanswered(t, c, p);
		slot_remove(c, p);
	}
	if (c->used >= TRACK_PENDING_MAX) {
		t->untracked++;
		return;
	}
	if ((c->used + 1) * 2 > c->nslots && slots_grow(c) < 0) {
		t->untracked++;
		return;
	}
	p = &c->slots[slot_hash(dir, m->linkid, m->msgid, c->nslots - 1)];
	while (p->used)
		p = p + 1 == c->slots + c->nslots ? c->slots : p + 1;
	memset(p, 0, sizeof(*p));
	p->used = 1;
	p->dir = (uint8_t)dir;
	p->linkid = m->linkid;
	p->msgid = m->msgid;
	p->command = proto_msg_command(m);
	p->seq = t->seq++;
	if (ts != NULL) {
		p->ts = *ts;
		p->has_ts = 1;
	}
	c->used++;
}

static int
reply_is_part(const struct proto_msg *m)
{
	struct proto_item it;

	return proto_msg_find(m, PROTO_ITEM_MORE, &it, NULL) > 0;
}

static int64_t
reply_seen(struct track_conn *c, int dir, const struct proto_msg *m,
    const struct timespec *ts, struct cmd_stats *s)
{
	struct pending *p;
	int64_t ns = -1;

	if (!reply_is_part(m) && proto_msg_status(m) != 0)
		s->errors++;
	if (!c->two_way)
		return -1;
	p = slot_find(c, !dir, m->linkid, m->msgid);
	if (p == NULL || p->command != proto_msg_command(m)) {
		s->orphans++;
		return -1;
	}
	if (reply_is_part(m))
		return -1;
	if (p->has_ts && ts != NULL) {
		ns = (int64_t)(ts->tv_sec - p->ts.tv_sec) * 1000000000 +
		    (ts->tv_nsec - p->ts.tv_nsec);
		if (ns < 0)
			ns = 0;	/* clocks of a merged capture may disagree */
		histo_add(&s->latency, (uint64_t)ns);
	}
	slot_remove(c, p);
	return ns;
}

int64_t
track_message(struct track *t, struct track_conn *c, int dir,
    const struct proto_msg *m, const struct timespec *ts)
{
	struct cmd_stats *s = stats_for(t, m->command);

	t->messages++;
	t->bytes += m->length;
	if (s == NULL)
		return -1;
	s->bytes += m->length;
	if (!proto_msg_is_reply(m)) {
		s->commands++;
		command_seen(t, c, dir, m, ts);
		return -1;
	}
	s->replies++;
	return reply_seen(c, dir, m, ts, s);
}

void
track_malformed(struct track *t, const struct proto_msg *m)
{
	struct cmd_stats *s;

	t->malformed++;
	if (m == NULL)
		return;
	t->messages++;
	t->bytes += m->length;
	s = stats_for(t, m->command);
	if (s != NULL) {
		s->malformed++;
		s->bytes += m->length;
	}
}

void
track_skipped(struct track *t, uint64_t bytes)
{
	t->skipped_bytes += bytes;
}

void
track_not_msgkit(struct track *t)
{
	t->not_msgkit++;
}

int
track_saw_malformed(const struct track *t)
{
	return t->malformed != 0;
}

void
track_conn_end(struct track *t, struct track_conn *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nslots; i++)
		if (c->slots[i].used)
			remember_unanswered(t, c, &c->slots[i]);
	free(c->slots);
	free(c);
}

static void
command_name(char *buf, size_t len, uint16_t command, int numeric)
{
	const struct schema_command *sc = schema_command(command);

	if (sc != NULL && !numeric)
		snprintf(buf, len, "%s", sc->name);
	else
		snprintf(buf, len, "0x%04x", command);
}

static void
put_ms(FILE *f, uint64_t ns)
{
	fprintf(f, " %9" PRIu64 ".%03" PRIu64, ns / 1000000, ns / 1000 % 1000);
}

static void
report_row(FILE *f, uint16_t command, const struct cmd_stats *s, int numeric)
{
	char name[24];

	command_name(name, sizeof(name), command, numeric);
	fprintf(f, "%-18s %9" PRIu64 " %9" PRIu64 " %12" PRIu64 " %7" PRIu64
	    " %7" PRIu64, name, s->commands, s->replies, s->bytes,
	    s->errors + s->malformed, s->unanswered);
	if (s->latency.count == 0) {
		fprintf(f, " %13s %13s %13s %13s\n", "-", "-", "-", "-");
		return;
	}
	put_ms(f, histo_percentile(&s->latency, 50));
	put_ms(f, histo_percentile(&s->latency, 90));
	put_ms(f, histo_percentile(&s->latency, 99));
	put_ms(f, s->latency.max);
	putc('\n', f);
}

static int
unanswered_cmp(const void *a, const void *b)
{
	if (sent_before(a, b))
		return -1;
	return sent_before(b, a) ? 1 : 0;
}

/* The commands kept for the report, in the order they were sent. */
static size_t
sorted_unanswered(const struct track *t,
    struct unanswered out[TRACK_UNANSWERED_SHOWN])
{
	memcpy(out, t->shown, t->nshown * sizeof(*out));
	qsort(out, t->nshown, sizeof(*out), unanswered_cmp);
	return t->nshown;
}

static void
report_unanswered(const struct track *t, FILE *f, struct printer *pr)
{
	struct unanswered shown[TRACK_UNANSWERED_SHOWN];
	const struct unanswered *u;
	char name[24];
	size_t i, n;

	if (t->unanswered_total == 0)
		return;
	fprintf(f, "\nnever answered: %" PRIu64 "\n", t->unanswered_total);
	n = sorted_unanswered(t, shown);
	for (i = 0; i < n; i++) {
		u = &shown[i];
		command_name(name, sizeof(name), u->command, pr->numeric);
		fprintf(f, "  %s: link 0x%" PRIx64 " msg %" PRIu32 " %s",
		    u->label, u->linkid, u->msgid, name);
		if (u->has_ts && pr->time != TIME_NONE) {
			fputs(" at ", f);
			printer_put_time(pr, f, &u->ts);
		}
		putc('\n', f);
	}
	if (t->unanswered_total > n)
		fprintf(f, "  ... and %" PRIu64 " more\n",
		    t->unanswered_total - n);
}

void
track_report(const struct track *t, FILE *f, struct printer *pr)
{
	size_t i;

	fprintf(f, "%-18s %9s %9s %12s %7s %7s %13s %13s %13s %13s\n",
	    "command", "commands", "replies", "bytes", "errors", "unansw",
	    "p50 ms", "p90 ms", "p99 ms", "max ms");
	for (i = 0; i < COMMANDS; i++)
		if (t->cmd[i] != NULL)
			report_row(f, (uint16_t)i, t->cmd[i], pr->numeric);
	report_unanswered(t, f, pr);
	fprintf(f, "\n%" PRIu64 " messages, %" PRIu64 " bytes, %" PRIu64
	    " malformed, %" PRIu64 " bytes skipped, %" PRIu64
	    " streams not msgkit\n", t->messages, t->bytes, t->malformed,
	    t->skipped_bytes, t->not_msgkit);
	if (t->one_way > 0)
		fprintf(f, "one-way streams: replies are counted, not paired "
		    "with their commands\n");
	if (t->untracked > 0 || t->msgid_reused > 0)
		fprintf(f, "%" PRIu64 " commands not tracked (limit %u), %"
		    PRIu64 " msgids reused while outstanding\n", t->untracked,
		    TRACK_PENDING_MAX, t->msgid_reused);
}

/* ,"name":"HELLO" or ,"name":null; the command as sent, reply bit off. */
static void
json_command(FILE *f, uint16_t command)
{
	const struct schema_command *sc = schema_command(command);

	fprintf(f, "\"command\":%u,\"name\":", command);
	if (sc != NULL)
		fprintf(f, "\"%s\"", sc->name);
	else
		fputs("null", f);
}

static void
json_row(FILE *f, uint16_t command, const struct cmd_stats *s)
{
	putc('{', f);
	json_command(f, command);
	fprintf(f, ",\"commands\":%" PRIu64 ",\"replies\":%" PRIu64
	    ",\"bytes\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"malformed\":%"
	    PRIu64 ",\"unanswered\":%" PRIu64 ",\"orphans\":%" PRIu64,
	    s->commands, s->replies, s->bytes, s->errors, s->malformed,
	    s->unanswered, s->orphans);
	if (s->latency.count == 0) {
		fputs(",\"latency_ns\":null}", f);
		return;
	}
	fprintf(f, ",\"latency_ns\":{\"count\":%" PRIu64 ",\"p50\":%" PRIu64
	    ",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"max\":%" PRIu64 "}}",
	    s->latency.count, histo_percentile(&s->latency, 50),
	    histo_percentile(&s->latency, 90),
	    histo_percentile(&s->latency, 99), s->latency.max);
}

static void
json_unanswered(const struct track *t, FILE *f)
{
	struct unanswered shown[TRACK_UNANSWERED_SHOWN];
	const struct unanswered *u;
	size_t i, n = sorted_unanswered(t, shown);

	fprintf(f, ",\"unanswered\":{\"total\":%" PRIu64 ",\"first\":[",
	    t->unanswered_total);
	for (i = 0; i < n; i++) {
		u = &shown[i];
		fputs(i > 0 ? ",{\"conn\":" : "{\"conn\":", f);
		print_json_string(f, (const uint8_t *)u->label,
		    strlen(u->label));
		fprintf(f, ",\"linkid\":%" PRIu64 ",\"msgid\":%" PRIu32 ",",
		    u->linkid, u->msgid);
		json_command(f, u->command);
		if (u->has_ts)
			fprintf(f, ",\"time\":%lld.%09ld",
			    (long long)u->ts.tv_sec, u->ts.tv_nsec);
		putc('}', f);
	}
	fputs("]}", f);
}

void
track_report_json(const struct track *t, FILE *f)
{
	size_t i;
	int n = 0;

	fputs("\"commands\":[", f);
	for (i = 0; i < COMMANDS; i++) {
		if (t->cmd[i] == NULL)
			continue;
		if (n++ > 0)
			putc(',', f);
		json_row(f, (uint16_t)i, t->cmd[i]);
	}
	putc(']', f);
	json_unanswered(t, f);
	fprintf(f, ",\"messages\":%" PRIu64 ",\"bytes\":%" PRIu64
	    ",\"malformed\":%" PRIu64 ",\"skipped_bytes\":%" PRIu64
	    ",\"not_msgkit\":%" PRIu64 ",\"one_way_streams\":%" PRIu64
	    ",\"untracked\":%" PRIu64 ",\"msgids_reused\":%" PRIu64,
	    t->messages, t->bytes, t->malformed, t->skipped_bytes,
	    t->not_msgkit, t->one_way, t->untracked, t->msgid_reused);
}
