/*
 * notation_parse.c - read the text notation (notation.h) into messages.
 *
 * A hand-written lexer and a recursive-descent parser whose depth is
 * bounded by the encoder's nesting limit. Every error names the line,
 * the column and what was expected; the builder is rolled back so a
 * half-read message never reaches the caller.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notation.h"
#include "schema.h"

enum tok_type {
	T_EOF, T_NL, T_IDENT, T_NUM, T_STR, T_HEX,
	T_LBRACE, T_RBRACE, T_LPAREN, T_RPAREN,
	T_COMMA, T_PIPE, T_EQ, T_GT, T_LT, T_MINUS
};

struct token {
	enum tok_type type;
	size_t start;		/* offset in the text, for columns */
	const char *ident;	/* T_IDENT: points into the text */
	size_t ident_len;
	uint64_t num;		/* T_NUM */
	/* T_STR, T_HEX: bytes in p->scratch[0..scratch_len) */
};

struct parse {
	struct notation_parser *p;
	struct proto_builder *b;
	struct token tok;	/* the current token */
	int depth;		/* open braces: line ends are spaces inside */
	int failed;
};

static int
vfail_at(struct parse *ps, size_t at, const char *fmt, va_list ap)
{
	struct notation_parser *p = ps->p;
	char msg[200];

	if (ps->failed)
		return -1;
	ps->failed = 1;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	snprintf(p->err, sizeof(p->err), "line %u, column %zu: %s", p->line,
	    at >= p->line_start ? at - p->line_start + 1 : 1, msg);
	return -1;
}

/* Report an error at byte `at` of the text. Returns -1. */
__attribute__((format(printf, 3, 4)))
static int
fail_at(struct parse *ps, size_t at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail_at(ps, at, fmt, ap);
	va_end(ap);
	return -1;
}

/* Report an error at the current token. Returns -1. */
__attribute__((format(printf, 2, 3)))
static int
fail(struct parse *ps, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail_at(ps, ps->tok.start, fmt, ap);
	va_end(ap);
	return -1;
}

static int
is_ident_start(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int
is_ident(int c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9');
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The byte two hex digits at s spell, or -1. */
static int
hexpair(const char *s)
{
	int hi = hexval((unsigned char)s[0]), lo = hexval((unsigned char)s[1]);

	if (hi < 0 || lo < 0)
		return -1;
	return hi << 4 | lo;
}

static int
scratch_put(struct parse *ps, uint8_t c)
{
	struct notation_parser *p = ps->p;

	if (p->scratch_len >= PROTO_MSG_MAX)
		return fail(ps, "value longer than %u bytes", PROTO_MSG_MAX);
	p->scratch[p->scratch_len++] = c;
	return 0;
}

/* Number in base 10, 16 (0x) or 8 (0o), up to 2^64-1. */
static int
lex_number(struct parse *ps)
{
	struct notation_parser *p = ps->p;
	const char *s = p->text;
	uint64_t v = 0;
	unsigned base = 10;
	int d, digits = 0;

	if (s[p->pos] == '0' && p->pos + 1 < p->len &&
	    (s[p->pos + 1] == 'x' || s[p->pos + 1] == 'X')) {
		base = 16;
		p->pos += 2;
	} else if (s[p->pos] == '0' && p->pos + 1 < p->len &&
	    (s[p->pos + 1] == 'o' || s[p->pos + 1] == 'O')) {
		base = 8;
		p->pos += 2;
	}
	for (; p->pos < p->len; p->pos++) {
		d = hexval((unsigned char)s[p->pos]);
		if (d < 0 || (unsigned)d >= base)
			break;
		if (v > (UINT64_MAX - (unsigned)d) / base)
			return fail(ps, "number out of range");
		v = v * base + (unsigned)d;
		digits++;
	}
	if (digits == 0 || (p->pos < p->len && is_ident(s[p->pos])))
		return fail(ps, "malformed number");
	ps->tok.type = T_NUM;
	ps->tok.num = v;
	return 0;
}

static int
lex_escape(struct parse *ps)
{
	struct notation_parser *p = ps->p;
	int b;
	char c;

	if (p->pos >= p->len)
		return fail(ps, "unterminated string");
	c = p->text[p->pos++];
	switch (c) {
	case 'n':
		return scratch_put(ps, '\n');
	case 't':
		return scratch_put(ps, '\t');
	case 'r':
		return scratch_put(ps, '\r');
	case '\\':
	case '"':
		return scratch_put(ps, (uint8_t)c);
	case 'x':
		if (p->pos + 2 > p->len ||
		    (b = hexpair(p->text + p->pos)) < 0)
			return fail(ps, "\\x needs two hex digits");
		p->pos += 2;
		return scratch_put(ps, (uint8_t)b);
	default:
		return fail(ps, "unknown escape \\%c", c);
	}
}

static int
lex_string(struct parse *ps)
{
	struct notation_parser *p = ps->p;
	char c;

	p->pos++;
	p->scratch_len = 0;
	for (;;) {
		if (p->pos >= p->len || p->text[p->pos] == '\n')
			return fail(ps, "unterminated string");
		c = p->text[p->pos++];
		if (c == '"')
			break;
		if (c == '\\') {
			if (lex_escape(ps) < 0)
				return -1;
			continue;
		}
		if (scratch_put(ps, (uint8_t)c) < 0)
			return -1;
	}
	ps->tok.type = T_STR;
	return 0;
}

/* x'00ff': an even number of hex digits. */
static int
lex_hex(struct parse *ps)
{
	struct notation_parser *p = ps->p;
	int b;

	p->pos += 2;
	p->scratch_len = 0;
	for (;;) {
		if (p->pos >= p->len)
			return fail(ps, "unterminated x'...'");
		if (p->text[p->pos] == '\'')
			break;
		if (p->pos + 1 >= p->len || p->text[p->pos + 1] == '\'')
			return fail_at(ps, p->pos, "odd number of hex digits");
		b = hexpair(p->text + p->pos);
		if (b < 0)
			return fail_at(ps, p->pos, "bad hex digit in x'...'");
		if (scratch_put(ps, (uint8_t)b) < 0)
			return -1;
		p->pos += 2;
	}
	p->pos++;
	ps->tok.type = T_HEX;
	return 0;
}

/* Skip blanks and comments; line ends too when inside braces. */
static void
skip_space(struct parse *ps)
{
	struct notation_parser *p = ps->p;
	char c;

	while (p->pos < p->len) {
		c = p->text[p->pos];
		if (c == '#') {
			while (p->pos < p->len && p->text[p->pos] != '\n')
				p->pos++;
			continue;
		}
		if (c == '\n' && ps->depth > 0) {
			p->pos++;
			p->line++;
			p->line_start = p->pos;
			continue;
		}
		if (c != ' ' && c != '\t' && c != '\r')
			return;
		p->pos++;
	}
}

static int
lex_punct(struct parse *ps, char c)
{
	static const struct { char c; enum tok_type t; } punct[] = {
		{ '{', T_LBRACE }, { '}', T_RBRACE }, { '(', T_LPAREN },
		{ ')', T_RPAREN }, { ',', T_COMMA }, { '|', T_PIPE },
		{ '=', T_EQ }, { '>', T_GT }, { '<', T_LT }, { '-', T_MINUS },
	};
	size_t i;

	for (i = 0; i < sizeof(punct) / sizeof(punct[0]); i++) {
		if (punct[i].c == c) {
			ps->tok.type = punct[i].t;
			ps->p->pos++;
			return 0;
		}
	}
	if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
		return fail(ps, "unexpected byte 0x%02x", (unsigned char)c);
	return fail(ps, "unexpected '%c'", c);
}

static int
next(struct parse *ps)
{
	struct notation_parser *p = ps->p;
	char c;

	if (ps->failed)
		return -1;
	skip_space(ps);
	ps->tok.start = p->pos;
	if (p->pos >= p->len) {
		ps->tok.type = T_EOF;
		return 0;
	}
	c = p->text[p->pos];
	if (c == '\n') {
		ps->tok.type = T_NL;
		return 0;	/* the caller steps over it: see end_line() */
	}
	if (c == '"')
		return lex_string(ps);
	if ((c == 'x' || c == 'X') && p->pos + 1 < p->len &&
	    p->text[p->pos + 1] == '\'')
		return lex_hex(ps);
	if (c >= '0' && c <= '9')
		return lex_number(ps);
	if (is_ident_start(c)) {
		ps->tok.type = T_IDENT;
		ps->tok.ident = p->text + p->pos;
		while (p->pos < p->len && is_ident(p->text[p->pos]))
			p->pos++;
		ps->tok.ident_len = (size_t)(p->text + p->pos - ps->tok.ident);
		return 0;
	}
	return lex_punct(ps, c);
}

static int
tok_is(const struct parse *ps, const char *word)
{
	return ps->tok.type == T_IDENT && strlen(word) == ps->tok.ident_len &&
	    memcmp(ps->tok.ident, word, ps->tok.ident_len) == 0;
}

static int
expect(struct parse *ps, enum tok_type type, const char *what)
{
	if (ps->tok.type != type)
		return fail(ps, "expected %s", what);
	return next(ps);
}

static int
builder_failed(struct parse *ps)
{
	return fail(ps, "%s", proto_reason_str(ps->b->err.reason));
}

/* An unsigned number no larger than max. */
static int
parse_num(struct parse *ps, uint64_t max, const char *what, uint64_t *v)
{
	if (ps->tok.type != T_NUM)
		return fail(ps, "expected %s", what);
	if (ps->tok.num > max)
		return fail(ps, "%s out of range (at most %llu)", what,
		    (unsigned long long)max);
	*v = ps->tok.num;
	return next(ps);
}

/* One term of an integer value: a number or a name from the table. */
static int
parse_term(struct parse *ps, const struct schema_item *si, uint64_t *v)
{
	if (ps->tok.type == T_NUM) {
		*v = ps->tok.num;
		return next(ps);
	}
	if (ps->tok.type != T_IDENT)
		return fail(ps, "%s: expected a number", si->name);
	if (schema_value_by_name(si->values, ps->tok.ident, ps->tok.ident_len,
	    v) < 0)
		return fail(ps, "%s: unknown value '%.*s'", si->name,
		    (int)ps->tok.ident_len, ps->tok.ident);
	if (si->format == FMT_BITS)
		*v = 1ull << *v;
	return next(ps);
}

static int
parse_uint(struct parse *ps, const struct schema_item *si, uint64_t max,
    uint64_t *v)
{
	uint64_t term;
	size_t at = ps->tok.start;

	if (parse_term(ps, si, v) < 0)
		return -1;
	while (si->format == FMT_BITS && ps->tok.type == T_PIPE) {
		if (next(ps) < 0 || parse_term(ps, si, &term) < 0)
			return -1;
		*v |= term;
	}
	if (*v > max)
		return fail_at(ps, at, "%s: %llu out of range (at most %llu)",
		    si->name, (unsigned long long)*v, (unsigned long long)max);
	return 0;
}

static int
parse_i64(struct parse *ps, const struct schema_item *si, int64_t *v)
{
	int neg = 0;
	uint64_t u;

	if (ps->tok.type == T_MINUS) {
		neg = 1;
		if (next(ps) < 0)
			return -1;
	}
	if (ps->tok.type != T_NUM)
		return fail(ps, "%s: expected a number", si->name);
	u = ps->tok.num;
	if ((!neg && u > (uint64_t)INT64_MAX) ||
	    (neg && u > (uint64_t)INT64_MAX + 1))
		return fail(ps, "%s: out of range", si->name);
	*v = neg ? (int64_t)(0 - u) : (int64_t)u;
	return next(ps);
}

/* ref(link, offset, length) */
static int
parse_ref(struct parse *ps, struct proto_ref *ref)
{
	if (next(ps) < 0 || expect(ps, T_LPAREN, "'(' after ref") < 0)
		return -1;
	if (parse_num(ps, UINT64_MAX, "a link id", &ref->linkid) < 0 ||
	    expect(ps, T_COMMA, "','") < 0 ||
	    parse_num(ps, UINT64_MAX, "an offset", &ref->offset) < 0 ||
	    expect(ps, T_COMMA, "','") < 0 ||
	    parse_num(ps, UINT64_MAX, "a length", &ref->length) < 0)
		return -1;
	return expect(ps, T_RPAREN, "')'");
}

static void
ref_bytes(const struct proto_ref *ref, uint8_t *d)
{
	proto_put64(d, ref->linkid);
	proto_put64(d + 8, ref->offset);
	proto_put64(d + 16, ref->length);
}

static int
parse_string(struct parse *ps, const struct schema_item *si)
{
	struct notation_parser *p = ps->p;
	enum proto_reason r;
	size_t bad;

	if (ps->tok.type != T_STR)
		return fail(ps, "%s: expected a \"string\"", si->name);
	r = proto_utf8_check(p->scratch, p->scratch_len, &bad);
	if (r != PROTO_OK)
		return fail(ps, "%s: %s at byte %zu (use an itemid and x'' to "
		    "send it anyway)", si->name, proto_reason_str(r), bad);
	if (proto_build_string(ps->b, si->type, (const char *)p->scratch,
	    p->scratch_len) < 0)
		return builder_failed(ps);
	return next(ps);
}

static int
parse_bytes(struct parse *ps, const struct schema_item *si)
{
	struct notation_parser *p = ps->p;
	struct proto_ref ref;

	if (tok_is(ps, "ref")) {
		if (!si->ref_ok)
			return fail(ps, "%s cannot be a reference", si->name);
		if (parse_ref(ps, &ref) < 0)
			return -1;
		if (proto_build_ref(ps->b, si->type, &ref, 0) < 0)
			return builder_failed(ps);
		return 0;
	}
	if (ps->tok.type != T_HEX && ps->tok.type != T_STR)
		return fail(ps, "%s: expected x'hex' or a \"string\"",
		    si->name);
	if (si->size != 0 && p->scratch_len != si->size)
		return fail(ps, "%s: %zu bytes, must be %u", si->name,
		    p->scratch_len, si->size);
	if (proto_build_bytes(ps->b, si->type, p->scratch,
	    p->scratch_len) < 0)
		return builder_failed(ps);
	return next(ps);
}

/*
 * Link ids go to the scratch buffer as the u64s they will be: numbers
 * do not use it, so it is free while the list is read.
 */
static int
parse_linkids(struct parse *ps, const struct schema_item *si)
{
	uint8_t *ids = ps->p->scratch;
	size_t n = 0;
	uint64_t id = 0;

	for (;;) {
		if (n + 8 > PROTO_MSG_MAX)
			return fail(ps, "%s: too many link ids", si->name);
		if (parse_num(ps, UINT64_MAX, "a link id", &id) < 0)
			return -1;
		proto_put64(ids + n, id);
		n += 8;
		if (ps->tok.type != T_COMMA)
			break;
		if (next(ps) < 0)
			return -1;
	}
	if (si->size != 0 && n != si->size)
		return fail(ps, "%s: %zu link ids, must be %u", si->name,
		    n / 8, si->size / 8u);
	if (proto_build_raw(ps->b, si->type | PROTO_FLAG_LINK, ids, n) < 0)
		return builder_failed(ps);
	return 0;
}

/* The value after NAME= for a named leaf. */
static int
parse_named_value(struct parse *ps, const struct schema_item *si)
{
	uint64_t u = 0;
	int64_t s = 0;
	int r;

	switch (si->kind) {
	case PROTO_KIND_U16:
		if (parse_uint(ps, si, UINT16_MAX, &u) < 0)
			return -1;
		r = proto_build_u16(ps->b, si->type, (uint16_t)u);
		break;
	case PROTO_KIND_U32:
		if (parse_uint(ps, si, UINT32_MAX, &u) < 0)
			return -1;
		r = proto_build_u32(ps->b, si->type, (uint32_t)u);
		break;
	case PROTO_KIND_U64:
		if (parse_uint(ps, si, UINT64_MAX, &u) < 0)
			return -1;
		r = proto_build_u64(ps->b, si->type, u);
		break;
	case PROTO_KIND_I64:
		if (parse_i64(ps, si, &s) < 0)
			return -1;
		r = proto_build_i64(ps->b, si->type, s);
		break;
	case PROTO_KIND_STRING:
		return parse_string(ps, si);
	case PROTO_KIND_BYTES:
		return parse_bytes(ps, si);
	case PROTO_KIND_LINKIDS:
		return parse_linkids(ps, si);
	default:
		return fail(ps, "%s takes no value", si->name);
	}
	if (r < 0)
		return builder_failed(ps);
	return 0;
}

/* The data of an item given by number: x'..', "..." or ref(...). */
static int
parse_raw_value(struct parse *ps, uint16_t id)
{
	struct notation_parser *p = ps->p;
	struct proto_ref ref;
	uint8_t d[PROTO_REF_DATA_LEN];

	if (tok_is(ps, "ref")) {
		if (parse_ref(ps, &ref) < 0)
			return -1;
		ref_bytes(&ref, d);
		if (proto_build_raw(ps->b, id, d, sizeof(d)) < 0)
			return builder_failed(ps);
		return 0;
	}
	if (ps->tok.type != T_HEX && ps->tok.type != T_STR)
		return fail(ps, "item 0x%04x: expected x'hex', a \"string\" or "
		    "ref(...)", id);
	if (proto_build_raw(ps->b, id, p->scratch, p->scratch_len) < 0)
		return builder_failed(ps);
	return next(ps);
}

static int parse_items(struct parse *ps, enum tok_type end);

static int
parse_nest(struct parse *ps, uint16_t type, uint16_t flags)
{
	if (proto_build_nest_begin(ps->b, type, flags) < 0)
		return builder_failed(ps);
	ps->depth++;
	if (next(ps) < 0)
		return -1;
	if (parse_items(ps, T_RBRACE) < 0)
		return -1;
	ps->depth--;
	if (proto_build_nest_end(ps->b) < 0)
		return builder_failed(ps);
	return next(ps);
}

static int
parse_raw_item(struct parse *ps)
{
	uint64_t id = 0;

	if (parse_num(ps, UINT16_MAX, "an itemid", &id) < 0)
		return -1;
	if (id & PROTO_FLAG_NEST) {
		if (id & PROTO_FLAG_REF)
			return fail(ps, "itemid 0x%04x: REF and NEST together",
			    (unsigned)id);
		if (ps->tok.type != T_LBRACE)
			return fail(ps, "itemid 0x%04x is a container: "
			    "expected '{'", (unsigned)id);
		return parse_nest(ps, (uint16_t)id, (uint16_t)id);
	}
	if (ps->tok.type != T_EQ) {
		if (proto_build_raw(ps->b, (uint16_t)id, NULL, 0) < 0)
			return builder_failed(ps);
		return 0;
	}
	if (next(ps) < 0)
		return -1;
	return parse_raw_value(ps, (uint16_t)id);
}

static int
parse_named_item(struct parse *ps)
{
	const struct schema_item *si;

	si = schema_item_by_name(ps->tok.ident, ps->tok.ident_len);
	if (si == NULL)
		return fail(ps, "unknown item '%.*s'", (int)ps->tok.ident_len,
		    ps->tok.ident);
	if (next(ps) < 0)
		return -1;
	if (si->kind == PROTO_KIND_NEST) {
		if (ps->tok.type != T_LBRACE)
			return fail(ps, "%s is a container: expected '{'",
			    si->name);
		return parse_nest(ps, si->type, 0);
	}
	if (si->kind == PROTO_KIND_EMPTY) {
		if (ps->tok.type == T_EQ)
			return fail(ps, "%s takes no value", si->name);
		if (proto_build_empty(ps->b, si->type) < 0)
			return builder_failed(ps);
		return 0;
	}
	if (ps->tok.type != T_EQ)
		return fail(ps, "%s needs a value: expected '='", si->name);
	if (next(ps) < 0)
		return -1;
	return parse_named_value(ps, si);
}

/* Items up to `end`: T_RBRACE inside a container, else the line end. */
static int
parse_items(struct parse *ps, enum tok_type end)
{
	for (;;) {
		if (ps->failed)
			return -1;
		if (ps->tok.type == end)
			return 0;
		if (end != T_RBRACE &&
		    (ps->tok.type == T_NL || ps->tok.type == T_EOF))
			return 0;
		if (ps->tok.type == T_EOF)
			return fail(ps, "expected '}' before the end");
		if (ps->tok.type == T_NUM) {
			if (parse_raw_item(ps) < 0)
				return -1;
		} else if (ps->tok.type == T_IDENT) {
			if (parse_named_item(ps) < 0)
				return -1;
		} else {
			return fail(ps, "expected an item");
		}
	}
}

static int
parse_command(struct parse *ps, uint16_t *command)
{
	const struct schema_command *sc;
	uint64_t v = 0;

	if (ps->tok.type == T_NUM) {
		if (parse_num(ps, UINT16_MAX, "a command number", &v) < 0)
			return -1;
		*command = (uint16_t)v;
	} else if (ps->tok.type == T_IDENT) {
		sc = schema_command_by_name(ps->tok.ident, ps->tok.ident_len);
		if (sc == NULL)
			return fail(ps, "unknown command '%.*s'",
			    (int)ps->tok.ident_len, ps->tok.ident);
		*command = sc->number;
		if (next(ps) < 0)
			return -1;
	} else {
		return fail(ps, "expected a command");
	}
	if (tok_is(ps, "reply")) {
		*command |= PROTO_REPLY_BIT;
		return next(ps);
	}
	return 0;
}

/* link= and msg=, each at most once, before the items. */
static int
parse_header(struct parse *ps, struct notation_msg *msg, uint64_t *link,
    uint64_t *msgid)
{
	for (;;) {
		if (tok_is(ps, "link") && !msg->has_link) {
			if (next(ps) < 0 || expect(ps, T_EQ, "'='") < 0 ||
			    parse_num(ps, UINT64_MAX, "a link id", link) < 0)
				return -1;
			msg->has_link = 1;
		} else if (tok_is(ps, "msg") && !msg->has_msgid) {
			if (next(ps) < 0 || expect(ps, T_EQ, "'='") < 0 ||
			    parse_num(ps, UINT32_MAX, "a msgid", msgid) < 0)
				return -1;
			msg->has_msgid = 1;
		} else {
			return 0;
		}
	}
}

static int
parse_raw_message(struct parse *ps, struct notation_msg *msg)
{
	struct notation_parser *p = ps->p;

	if (next(ps) < 0)
		return -1;
	if (ps->tok.type != T_HEX)
		return fail(ps, "raw: expected x'hex'");
	if (proto_build_verbatim(ps->b, p->scratch, p->scratch_len) < 0)
		return builder_failed(ps);
	msg->raw = 1;
	return next(ps);
}

static int
parse_message(struct parse *ps, struct notation_msg *msg)
{
	uint64_t link = 0, msgid = 0;
	uint16_t command = 0;
	int size;

	if (ps->tok.type == T_GT || ps->tok.type == T_LT) {
		msg->dir = ps->tok.type == T_GT ? NOTATION_DIR_OUT :
		    NOTATION_DIR_IN;
		if (next(ps) < 0)
			return -1;
	}
	if (tok_is(ps, "raw"))
		return parse_raw_message(ps, msg);
	if (parse_command(ps, &command) < 0 ||
	    parse_header(ps, msg, &link, &msgid) < 0)
		return -1;
	if (proto_build_begin(ps->b, link, (uint32_t)msgid, command) < 0)
		return builder_failed(ps);
	if (parse_items(ps, T_NL) < 0)
		return -1;
	size = proto_build_end(ps->b);
	if (size < 0)
		return builder_failed(ps);
	return 0;
}

int
notation_init(struct notation_parser *p, const char *text, size_t len)
{
	memset(p, 0, sizeof(*p));
	p->scratch = malloc(PROTO_MSG_MAX);
	if (p->scratch == NULL)
		return -1;
	p->text = text;
	p->len = len;
	p->line = 1;
	return 0;
}

void
notation_free(struct notation_parser *p)
{
	free(p->scratch);
	p->scratch = NULL;
}

/* Step past the rest of the line, after a message or an error. */
static void
end_line(struct notation_parser *p)
{
	while (p->pos < p->len && p->text[p->pos] != '\n')
		p->pos++;
	if (p->pos < p->len) {
		p->pos++;
		p->line++;
		p->line_start = p->pos;
	}
}

int
notation_next(struct notation_parser *p, struct proto_builder *b,
    struct notation_msg *msg)
{
	struct parse ps = { .p = p, .b = b };
	size_t before = proto_builder_len(b);

	memset(msg, 0, sizeof(*msg));
	msg->dir = NOTATION_DIR_NONE;
	for (;;) {
		if (next(&ps) < 0)
			goto bad;
		if (ps.tok.type == T_EOF)
			return 0;
		if (ps.tok.type != T_NL)
			break;
		end_line(p);
	}
	msg->line = p->line;
	msg->start = before;
	if (parse_message(&ps, msg) < 0)
		goto bad;
	if (ps.tok.type != T_NL && ps.tok.type != T_EOF) {
		fail(&ps, "expected the end of the line");
		goto bad;
	}
	end_line(p);
	msg->size = proto_builder_len(b) - before;
	return 1;
bad:
	proto_builder_truncate(b, before);
	end_line(p);
	return -1;
}
