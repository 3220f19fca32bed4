/*
 * log.c - what libproto says about its sessions, through cfg.log.
 *
 * Two dangers come from the peer. Its strings (NODE, ERRTEXT) end up in
 * log lines and on terminals: a newline in them forges a line, an
 * escape sequence drives the terminal. So every peer-supplied string is
 * passed through proto_escape() before it is formatted into a line.
 * And its misdeeds (malformed messages, stray replies) each earn a
 * warning: a peer sending a million of them would write a million
 * lines. So such warnings go through a limiter per session and cause.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "session_int.h"

const char *const lpi_rate_session_what[LPI_RATE_SESSION] = {
	"malformed-message warnings",
	"stray-reply warnings",
	"lost-reply warnings",
	"CRC warnings",
};

const char *const lpi_rate_peer_what[LPI_RATE_PEER] = {
	"HELLO refusals",
	"AUTH failures",
	"transport drops",
	"session drops",
};

static void
vlog(struct proto_peer *p, enum proto_log_level level, const char *fmt,
    va_list ap)
{
	char msg[512];

	if (p->cfg.log == NULL)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	p->cfg.log(p->cfg.arg, level, msg);
}

void
lpi_log(struct proto_peer *p, enum proto_log_level level, const char *fmt,
    ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(p, level, fmt, ap);
	va_end(ap);
}

void
lpi_rate_flush(struct proto_peer *p, struct lpi_rate *r, const char *what)
{
	if (r->suppressed > 0)
		lpi_log(p, PROTO_LOG_WARN, "%u more %s suppressed",
		    r->suppressed, what);
	r->suppressed = 0;
	r->count = 0;
}

void
lpi_log_limited(struct proto_peer *p, struct lpi_rate *r, const char *what,
    enum proto_log_level level, const char *fmt, ...)
{
	uint64_t now = proto_loop_now(p->loop);
	va_list ap;

	if (r->start_ns == 0 || now - r->start_ns >= LPI_RATE_WINDOW) {
		lpi_rate_flush(p, r, what);
		r->start_ns = now;
	}
	if (r->count >= LPI_RATE_BURST) {
		/* Said when the window ends, even if nothing more comes. */
		if (r->suppressed++ == 0 && p->rate_timer != NULL &&
		    !proto_timer_armed(p->rate_timer))
			proto_timer_set(p->rate_timer, r->start_ns +
			    LPI_RATE_WINDOW - now);
		return;
	}
	r->count++;
	va_start(ap, fmt);
	vlog(p, level, fmt, ap);
	va_end(ap);
}

/* A limiter whose window is over: its summary, and a fresh window. */
static int
rate_due(struct proto_peer *p, struct lpi_rate *r, const char *what,
    uint64_t now)
{
	if (r->suppressed == 0)
		return 0;
	if (now - r->start_ns < LPI_RATE_WINDOW)
		return 1;
	lpi_rate_flush(p, r, what);
	r->start_ns = now;
	return 0;
}

void
lpi_rate_timer(struct proto_timer *t, void *arg)
{
	struct proto_peer *p = arg;
	struct proto_session *s;
	uint64_t now = proto_loop_now(p->loop);
	int i, pending = 0;

	for (i = 0; i < LPI_RATE_PEER; i++)
		pending |= rate_due(p, &p->rate[i], lpi_rate_peer_what[i], now);
	for (s = p->sessions; s != NULL; s = s->next)
		for (i = 0; i < LPI_RATE_SESSION; i++)
			pending |= rate_due(p, &s->rate[i],
			    lpi_rate_session_what[i], now);
	if (pending)
		proto_timer_set(t, PROTO_SEC);
}

void
lpi_rate_flush_all(struct proto_peer *p)
{
	int i;

	for (i = 0; i < LPI_RATE_PEER; i++)
		lpi_rate_flush(p, &p->rate[i], lpi_rate_peer_what[i]);
}

/* --- escaping ------------------------------------------------------------ */

/*
 * Length of the UTF-8 sequence at s (at most n bytes) if it is valid,
 * shortest-form, not a surrogate and not a C1 control (U+0080-U+009F,
 * which terminals obey as controls); else 0.
 */
static size_t
utf8_printable(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	cp = s[0] & (0x7f >> len);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || cp < 0xa0)
		return 0;
	return len;
}

size_t
proto_escape(char *out, size_t outlen, const void *in, size_t inlen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = in;
	size_t i = 0, o = 0, n;
	/* Room for the longest piece (\xNN) and the "..." that ends it. */
	size_t stop = outlen > 8 ? outlen - 8 : 0;

	if (outlen == 0)
		return 0;
	while (i < inlen && o < stop) {
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\') {
			out[o++] = (char)s[i++];
			continue;
		}
		if (s[i] == '\\') {
			out[o++] = '\\';
			out[o++] = '\\';
			i++;
			continue;
		}
		n = s[i] >= 0x80 ? utf8_printable(s + i, inlen - i) : 0;
		if (n > 0) {
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
			continue;
		}
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = hex[s[i] >> 4];
		out[o++] = hex[s[i] & 15];
		i++;
	}
	if (i < inlen && outlen > 3) {
		if (o > outlen - 4)
			o = outlen - 4;
		memcpy(out + o, "...", 3);
		o += 3;
	}
	if (o >= outlen)
		o = outlen - 1;
	out[o] = '\0';
	return o;
}
