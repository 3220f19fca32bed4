/*
 * test_notation.c - the text notation round-trips byte for byte: every
 * schema item and command, raw items the schema cannot name, thousands
 * of random well-formed messages; and bad text gets an error naming its
 * line, column and reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dissectors/notation.h"
#include "dissectors/schema.h"
#include "dissectors/value.h"
#include "libproto/proto.h"

/* Print a stream's messages as notation text (caller frees). */
static char *
print_stream(const uint8_t *p, size_t n)
{
	struct proto_framer f;
	struct proto_error err;
	struct proto_msg m;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	int r;

	assert_non_null(out);
	assert_int_equal(proto_framer_init(&f, 0), 0);
	proto_framer_feed(&f, p, n);
	proto_framer_eof(&f);
	while ((r = proto_framer_next(&f, &m, &err)) != 0) {
		assert_int_equal(r, 1);
		if (proto_msg_validate(&m, &err) < 0) {
			char buf[160];

			proto_error_format(&err, buf, sizeof(buf));
			fail_msg("generated message does not validate: %s", buf);
		}
		notation_print(out, &m, NOTATION_DIR_NONE, 0);
	}
	proto_framer_free(&f);
	fclose(out);
	return text;
}

/* Parse text into a stream; every line must parse. */
static void
parse_text(const char *text, struct proto_builder *b)
{
	struct notation_parser p;
	struct notation_msg msg;
	int r;

	assert_int_equal(notation_init(&p, text, strlen(text)), 0);
	while ((r = notation_next(&p, b, &msg)) != 0) {
		if (r < 0)
			fail_msg("parse error: %s\nin: %s", p.err, text);
	}
	notation_free(&p);
}

/* bytes -> text -> bytes -> text: both equal. */
static void
round_trip(const uint8_t *p, size_t n)
{
	struct proto_builder b;
	char *text, *again;

	text = print_stream(p, n);
	proto_builder_init(&b);
	parse_text(text, &b);
	if (proto_builder_len(&b) != n ||
	    memcmp(proto_builder_data(&b), p, n) != 0)
		fail_msg("bytes differ after a round trip of:\n%s", text);
	again = print_stream(proto_builder_data(&b), proto_builder_len(&b));
	assert_string_equal(text, again);
	free(text);
	free(again);
	proto_builder_free(&b);
}

static const char utf8_sample[] = "h\xc3\xa9llo \"q\" \\ \n\t\x01 \xe2\x82\xac";

/* A representative value of every kind, of the right fixed size. */
static void
build_value(struct proto_builder *b, const struct schema_item *si, int depth)
{
	static const uint8_t bytes[32] = { 0, 0xff, 0x10, 0x22, 0x7f, 1, 2, 3 };
	static const uint64_t ids[] = { 1, 0x8000000000000001ull };
	const uint16_t *c;

	switch (si->kind) {
	case PROTO_KIND_EMPTY:
		proto_build_empty(b, si->type);
		break;
	case PROTO_KIND_U16:
		proto_build_u16(b, si->type, 0xbeef);
		break;
	case PROTO_KIND_U32:
		proto_build_u32(b, si->type, 0xdeadbeef);
		break;
	case PROTO_KIND_U64:
		proto_build_u64(b, si->type, 0xfedcba9876543210ull);
		break;
	case PROTO_KIND_I64:
		proto_build_i64(b, si->type, -1234567890123ll);
		break;
	case PROTO_KIND_STRING:
		proto_build_string(b, si->type, utf8_sample,
		    strlen(utf8_sample));
		break;
	case PROTO_KIND_BYTES:
		proto_build_bytes(b, si->type, bytes, si->size ? si->size : 5);
		break;
	case PROTO_KIND_LINKIDS:
		proto_build_linkids(b, si->type, ids, si->size ? si->size / 8 :
		    2);
		break;
	case PROTO_KIND_NEST:
		proto_build_nest_begin(b, si->type, 0);
		for (c = si->children; c != NULL && *c != 0 && depth < 7; c++)
			build_value(b, schema_item(*c), depth + 1);
		proto_build_nest_end(b);
		break;
	default:
		fail_msg("kind %d of %s", si->kind, si->name);
	}
}

static void
test_every_item(void **state)
{
	struct proto_builder b;
	size_t i;

	(void)state;
	proto_builder_init(&b);
	for (i = 0; i < schema_item_count; i++) {
		proto_build_begin(&b, 0x8000000000000005ull, 42,
		    PROTO_CMD_VFS_LOOKUP);
		build_value(&b, &schema_items[i], 0);
		assert_true(proto_build_end(&b) > 0);
	}
	round_trip(proto_builder_data(&b), proto_builder_len(&b));
	proto_builder_free(&b);
}

static void
test_every_command(void **state)
{
	const struct schema_command *sc;
	const uint16_t *t;
	struct proto_builder b;
	size_t i;

	(void)state;
	proto_builder_init(&b);
	for (i = 0; i < schema_command_count; i++) {
		sc = &schema_commands[i];
		proto_build_begin(&b, i, (uint32_t)i, sc->number);
		for (t = sc->request; *t != 0; t++)
			build_value(&b, schema_item(*t), 0);
		assert_true(proto_build_end(&b) > 0);
		proto_build_begin(&b, i, (uint32_t)i,
		    sc->number | PROTO_REPLY_BIT);
		for (t = sc->reply; *t != 0; t++)
			build_value(&b, schema_item(*t), 0);
		assert_true(proto_build_end(&b) > 0);
	}
	round_trip(proto_builder_data(&b), proto_builder_len(&b));
	proto_builder_free(&b);
}

/* Items the schema cannot name exactly must still come back exactly. */
static void
test_raw_items(void **state)
{
	static const uint8_t ref[24] = { 1, 0, 0, 0, 0, 0, 0, 0x80, 5 };
	static const uint8_t ids[16] = { 7 };
	static const uint64_t newlink = 9;
	struct proto_builder b;

	(void)state;
	proto_builder_init(&b);
	/* Unknown leaf types, empty and not. */
	proto_build_begin(&b, 0, 1, 0x7123);
	proto_build_raw(&b, 0x0fff, "abc", 3);
	proto_build_raw(&b, 0x1234, NULL, 0);
	/* Unknown LINK leaf and REF, REF with LINK on DATA. */
	proto_build_raw(&b, 0x2000 | 0x0333, ids, sizeof(ids));
	proto_build_raw(&b, 0x4000 | 0x0444, ref, sizeof(ref));
	proto_build_raw(&b, 0x6000 | PROTO_ITEM_DATA, ref, sizeof(ref));
	/* A NEST with LINK set by hand and no link id below it. */
	proto_build_nest_begin(&b, PROTO_ITEM_ATTR, PROTO_FLAG_LINK);
	proto_build_u32(&b, PROTO_ITEM_MODE, 0644);
	proto_build_nest_end(&b);
	/* An unknown container holding a known and an unknown item. */
	proto_build_nest_begin(&b, 0x0abc, 0);
	proto_build_u32(&b, PROTO_ITEM_STATUS, 2);
	proto_build_raw(&b, 0x0abd, "\x00\x01", 2);
	proto_build_nest_end(&b);
	/* A known container nesting a LINK: the flag goes up by itself. */
	proto_build_nest_begin(&b, PROTO_ITEM_DIRENT, 0);
	proto_build_nest_begin(&b, 0x0abe, 0);
	proto_build_linkids(&b, PROTO_ITEM_NEWLINK, &newlink, 1);
	proto_build_nest_end(&b);
	proto_build_nest_end(&b);
	assert_true(proto_build_end(&b) > 0);
	/* Reply bit on an unknown command; an empty message. */
	proto_build_begin(&b, UINT64_MAX, UINT32_MAX, 0x7fff | PROTO_REPLY_BIT);
	assert_true(proto_build_end(&b) > 0);
	round_trip(proto_builder_data(&b), proto_builder_len(&b));
	proto_builder_free(&b);
}

/* xorshift64*: the same messages on every run. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t
rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static void gen_items(struct proto_builder *b, int depth, int count);

static void
gen_random_leaf(struct proto_builder *b, uint16_t type)
{
	uint8_t data[64];
	size_t n, i;

	n = rnd() % sizeof(data);
	for (i = 0; i < n; i++)
		data[i] = (uint8_t)rnd();
	switch (rnd() % 4) {
	case 0:
		proto_build_raw(b, type | PROTO_FLAG_LINK, data, n & ~7u);
		break;
	case 1:
		proto_build_raw(b, type | PROTO_FLAG_REF, data, 24);
		break;
	default:
		proto_build_raw(b, type, data, n);
		break;
	}
}

static void
gen_schema_item(struct proto_builder *b, const struct schema_item *si,
    int depth)
{
	struct proto_ref ref = { rnd(), rnd(), rnd() };
	uint8_t s[40];
	uint64_t ids[3] = { rnd(), rnd(), rnd() };
	size_t n, i;

	switch (si->kind) {
	case PROTO_KIND_NEST:
		if (depth >= 8)
			return;
		proto_build_nest_begin(b, si->type,
		    rnd() % 8 == 0 ? PROTO_FLAG_LINK : 0);
		gen_items(b, depth + 1, (int)(rnd() % 4));
		proto_build_nest_end(b);
		return;
	case PROTO_KIND_STRING:
		n = rnd() % sizeof(s);
		for (i = 0; i < n; i++)
			s[i] = (uint8_t)(1 + rnd() % 127);
		proto_build_string(b, si->type, (const char *)s, n);
		return;
	case PROTO_KIND_BYTES:
		if (si->ref_ok && rnd() % 2) {
			proto_build_ref(b, si->type, &ref, (int)(rnd() % 2));
			return;
		}
		n = si->size ? si->size : rnd() % sizeof(s);
		for (i = 0; i < n; i++)
			s[i] = (uint8_t)rnd();
		proto_build_bytes(b, si->type, s, n);
		return;
	case PROTO_KIND_LINKIDS:
		proto_build_linkids(b, si->type, ids, si->size ? 1 : 3);
		return;
	case PROTO_KIND_U16:
		proto_build_u16(b, si->type, (uint16_t)rnd());
		return;
	case PROTO_KIND_U32:
		proto_build_u32(b, si->type, (uint32_t)rnd());
		return;
	case PROTO_KIND_U64:
		proto_build_u64(b, si->type, rnd());
		return;
	case PROTO_KIND_I64:
		proto_build_i64(b, si->type, (int64_t)rnd());
		return;
	default:
		proto_build_empty(b, si->type);
		return;
	}
}

static void
gen_items(struct proto_builder *b, int depth, int count)
{
	const struct schema_item *si;
	uint16_t type;
	int i;

	for (i = 0; i < count; i++) {
		if (rnd() % 4 != 0) {
			si = &schema_items[rnd() % schema_item_count];
			gen_schema_item(b, si, depth);
			continue;
		}
		type = (uint16_t)(0x0f00 + rnd() % 0x100);
		if (depth < 8 && rnd() % 3 == 0) {
			proto_build_nest_begin(b, type, 0);
			gen_items(b, depth + 1, (int)(rnd() % 4));
			proto_build_nest_end(b);
		} else {
			gen_random_leaf(b, type);
		}
	}
}

static void
test_random_messages(void **state)
{
	struct proto_builder b;
	int i;

	(void)state;
	proto_builder_init(&b);
	for (i = 0; i < 20000; i++) {
		proto_build_begin(&b, rnd(), (uint32_t)rnd(), (uint16_t)rnd());
		gen_items(&b, 0, (int)(rnd() % 8));
		if (proto_build_end(&b) < 0)
			proto_build_abort(&b);
	}
	round_trip(proto_builder_data(&b), proto_builder_len(&b));
	proto_builder_free(&b);
}

/* Parse one text; expect exactly `want` messages and no error. */
static void
parse_ok(const char *text, int want, struct proto_builder *b,
    struct notation_msg *last)
{
	struct notation_parser p;
	struct notation_msg msg;
	int r, n = 0;

	assert_int_equal(notation_init(&p, text, strlen(text)), 0);
	while ((r = notation_next(&p, b, &msg)) != 0) {
		if (r < 0)
			fail_msg("%s: %s", text, p.err);
		n++;
		if (last != NULL)
			*last = msg;
	}
	notation_free(&p);
	assert_int_equal(n, want);
}

static void
test_values(void **state)
{
	struct proto_builder b;
	struct notation_msg msg;
	struct proto_msg m;
	struct proto_item it;
	uint32_t u;
	uint64_t v;
	int64_t s;

	(void)state;
	proto_builder_init(&b);
	parse_ok("  # a comment\n\n< VFS_GETATTR reply  STATUS=ENOENT  # why\n",
	    1, &b, &msg);
	assert_int_equal(msg.dir, NOTATION_DIR_IN);
	assert_int_equal(msg.has_link, 0);
	assert_int_equal(msg.has_msgid, 0);
	assert_int_equal(msg.line, 3);
	assert_int_equal(proto_msg_view(&m, proto_builder_data(&b),
	    proto_builder_len(&b), 0, NULL), 0);
	assert_int_equal(m.command, 0x8201);
	assert_int_equal(proto_msg_find(&m, PROTO_ITEM_STATUS, &it, NULL), 1);
	assert_int_equal(proto_item_u32(&it, &u, NULL), 0);
	assert_int_equal(u, 2);

	proto_builder_reset(&b);
	parse_ok("hello link=0x10 msg=0o17 FEATURES=CRC|auth|0x10 "
	    "WINDOW=0xffffffff\n", 1, &b, &msg);
	assert_int_equal(proto_msg_view(&m, proto_builder_data(&b),
	    proto_builder_len(&b), 0, NULL), 0);
	assert_int_equal(m.linkid, 16);
	assert_int_equal(m.msgid, 15);
	assert_int_equal(proto_msg_find(&m, PROTO_ITEM_FEATURES, &it, NULL), 1);
	assert_int_equal(proto_item_u64(&it, &v, NULL), 0);
	assert_int_equal(v, 0x13);

	proto_builder_reset(&b);
	parse_ok("VFS_SETATTR ATIME=-9223372036854775808 MTIME=42\n", 1, &b,
	    NULL);
	assert_int_equal(proto_msg_view(&m, proto_builder_data(&b),
	    proto_builder_len(&b), 0, NULL), 0);
	assert_int_equal(proto_msg_find(&m, PROTO_ITEM_ATIME, &it, NULL), 1);
	assert_int_equal(proto_item_i64(&it, &s, NULL), 0);
	assert_true(s == INT64_MIN);

	/* A message goes on across lines while a brace is open. */
	proto_builder_reset(&b);
	parse_ok("VFS_READDIR reply DIRENT{\n  NAME=\"a\"  # first\n"
	    "  INO=1\n} STATUS=OK\nPING\n", 2, &b, NULL);
	proto_builder_free(&b);
}

struct bad_case {
	const char *text;
	const char *want;	/* substring of the error */
};

static const struct bad_case bad_cases[] = {
	{ "NOSUCH link=0x0\n", "line 1, column 1: unknown command 'NOSUCH'" },
	{ "PING BOGUS=1\n", "column 6: unknown item 'BOGUS'" },
	{ "PING TIMESTAMP\n", "column 15: TIMESTAMP needs a value" },
	{ "PING VERSION=65536\n", "VERSION: 65536 out of range" },
	{ "PING STATUS=EWHAT\n", "STATUS: unknown value 'EWHAT'" },
	{ "PING MORE=1\n", "MORE takes no value" },
	{ "PING NAME=\"a\\xff\"\n", "NAME: string is not UTF-8" },
	{ "PING NAME=\"a\\x00\"\n", "NAME: string holds NUL" },
	{ "PING NAME=\"abc\n", "unterminated string" },
	{ "PING NAME=\"a\\q\"\n", "unknown escape \\q" },
	{ "PING DATA=x'abc'\n", "odd number of hex digits" },
	{ "PING DATA=x'zz'\n", "bad hex digit" },
	{ "PING SESSION=x'0011'\n", "SESSION: 2 bytes, must be 16" },
	{ "PING NEWLINK=1,2\n", "NEWLINK: 2 link ids, must be 1" },
	{ "PING STATUS=ref(1,2,3)\n", "STATUS: unknown value 'ref'" },
	{ "PING NAME=ref(1,2,3)\n", "NAME: expected a \"string\"" },
	{ "PING LIMITS=1\n", "LIMITS is a container: expected '{'" },
	{ "PING LIMITS{MAX_LINKS=1\n", "expected '}' before the end" },
	{ "PING link=0x0 msg=99999999999\n", "a msgid out of range" },
	{ "PING 0x8123=x'00'\n", "itemid 0x8123 is a container" },
	{ "PING 0xc123{}\n", "REF and NEST together" },
	{ "PING 0x12345\n", "an itemid out of range" },
	{ "PING 12ab\n", "malformed number" },
	{ "PING } \n", "expected an item" },
	{ "PING STATUS=1 , \n", "expected an item" },
	{ "raw 1234\n", "raw: expected x'hex'" },
	/* Found by fuzz_notation: the raw bytes must be taken back too. */
	{ "raw x'0011' MODE\n", "expected the end of the line" },
	{ "PING ATIME=--1\n", "expected a number" },
	{ "PING ATIME=9223372036854775808\n", "ATIME: out of range" },
	{ "PING OFFSET=18446744073709551616\n", "number out of range" },
	{ "PING NAME=\"x\" \x01\n", "unexpected byte 0x01" },
	{ "PING ATTR{ATTR{ATTR{ATTR{ATTR{ATTR{ATTR{ATTR{ATTR{}}}}}}}}}\n",
	    "nesting would exceed 8 levels" },
};

static void
test_errors(void **state)
{
	struct notation_parser p;
	struct notation_msg msg;
	struct proto_builder b;
	size_t i;

	(void)state;
	proto_builder_init(&b);
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		assert_int_equal(notation_init(&p, bad_cases[i].text,
		    strlen(bad_cases[i].text)), 0);
		assert_int_equal(notation_next(&p, &b, &msg), -1);
		if (strstr(p.err, bad_cases[i].want) == NULL)
			fail_msg("%s: got \"%s\", want \"%s\"",
			    bad_cases[i].text, p.err, bad_cases[i].want);
		/* Nothing half-built is left behind. */
		assert_int_equal(proto_builder_len(&b), 0);
		assert_int_equal(notation_next(&p, &b, &msg), 0);
		notation_free(&p);
	}
	proto_builder_free(&b);
}

/* A message over 65535 bytes is refused with the line it is on. */
static void
test_too_big(void **state)
{
	struct notation_parser p;
	struct notation_msg msg;
	struct proto_builder b;
	size_t n = 70000 * 2 + 64, i;
	char *text = malloc(n);

	(void)state;
	assert_non_null(text);
	i = (size_t)sprintf(text, "PING\nPING DATA=x'");
	memset(text + i, '0', 2 * 40000);
	i += 2 * 40000;
	i += (size_t)sprintf(text + i, "' DATA=x'");
	memset(text + i, '1', 2 * 30000);
	i += 2 * 30000;
	sprintf(text + i, "'\nPING\n");
	proto_builder_init(&b);
	assert_int_equal(notation_init(&p, text, strlen(text)), 0);
	assert_int_equal(notation_next(&p, &b, &msg), 1);
	assert_int_equal(notation_next(&p, &b, &msg), -1);
	assert_non_null(strstr(p.err, "line 2"));
	assert_non_null(strstr(p.err, "exceed 65535"));
	assert_int_equal(notation_next(&p, &b, &msg), 1);
	assert_int_equal(msg.line, 3);
	assert_int_equal(proto_builder_len(&b), 32);
	notation_free(&p);
	proto_builder_free(&b);
	free(text);
}

/* After an error the parser goes on at the next line. */
static void
test_recovery(void **state)
{
	static const char text[] =
	    "PING\nPING BAD=1\n> GOODBYE STATUS=OK\nraw x'00'\n";
	struct notation_parser p;
	struct notation_msg msg;
	struct proto_builder b;

	(void)state;
	proto_builder_init(&b);
	assert_int_equal(notation_init(&p, text, strlen(text)), 0);
	assert_int_equal(notation_next(&p, &b, &msg), 1);
	assert_int_equal(notation_next(&p, &b, &msg), -1);
	assert_non_null(strstr(p.err, "line 2, column 6"));
	assert_int_equal(notation_next(&p, &b, &msg), 1);
	assert_int_equal(msg.dir, NOTATION_DIR_OUT);
	assert_int_equal(msg.line, 3);
	assert_int_equal(notation_next(&p, &b, &msg), 1);
	assert_int_equal(msg.raw, 1);
	assert_int_equal(msg.size, 1);
	assert_int_equal(notation_next(&p, &b, &msg), 0);
	assert_int_equal(proto_builder_len(&b), 16 + 24 + 1);
	notation_free(&p);
	proto_builder_free(&b);
}

/* The printed form of a few messages, exactly. */
static void
test_printed_form(void **state)
{
	static const char text[] =
	    "> HELLO link=0x0 msg=1 VERSION=1 NODE=\"a\\\"b\\x01\" "
	    "FEATURES=CRC|AUTH LIMITS{MAX_INFLIGHT=64}\n"
	    "< VFS_LOOKUP reply link=0x8000000000000001 msg=7 STATUS=ENOENT\n"
	    "VFS_CREATE link=0x1 msg=2 NAME=\"f\" MODE=0o100644 "
	    "FLAGS=0x41 NEWLINK=0x2\n"
	    "CACHE_WRITE link=0x4 msg=3 OFFSET=0 "
	    "DATA=ref(0x8000000000000001,0,4096)\n"
	    "0x7001 reply link=0x5 msg=4 0x0200=x'deadbeef' 0x8201{}\n";
	struct proto_builder b;
	char *printed;
	const char *want;

	(void)state;
	proto_builder_init(&b);
	parse_ok(text, 5, &b, NULL);
	printed = print_stream(proto_builder_data(&b), proto_builder_len(&b));
	/* Directions are not bytes: the printer was given none. */
	want = strchr(text, 'H');
	assert_true(strncmp(printed, want, strcspn(want, "\n")) == 0);
	assert_non_null(strstr(printed, "VFS_LOOKUP reply "
	    "link=0x8000000000000001 msg=7 STATUS=ENOENT\n"));
	assert_non_null(strstr(printed, "MODE=0o100644 FLAGS=0x41"));
	assert_non_null(strstr(printed,
	    "DATA=ref(0x8000000000000001,0,4096)\n"));
	assert_non_null(strstr(printed,
	    "0x7001 reply link=0x5 msg=4 0x0200=x'deadbeef' 0x8201{}\n"));
	free(printed);
	proto_builder_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_item),
		cmocka_unit_test(test_every_command),
		cmocka_unit_test(test_raw_items),
		cmocka_unit_test(test_random_messages),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_recovery),
		cmocka_unit_test(test_printed_form),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
