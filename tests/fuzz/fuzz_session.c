/*
 * fuzz_session.c - a server peer (proto_session.h) against a hostile
 * client. Each input gets its own loop and peer; the client's end is a
 * socketpair whose other end the peer takes through an "fd:N" listener.
 *
 * The first byte holds flags:
 *	0x01	structured mode (else the rest is sent verbatim)
 *	0x02	the server offers CRC
 *	0x04	the client's HELLO offers CRC
 *	0x08	the server has a key (AUTH)
 *	0x10	small limits: 4 requests, 4 links, 64 KiB queued, minimal window
 *	0x20	the test service answers CANCELs itself
 *	0x40	the client's AUTH proof is wrong
 *	0x80	the client's HELLO offers AUTH (with a NONCE); its proof
 *		is made with the server's key
 * Timers keep their defaults (seconds) but for the ACK delay, 0: what a
 * run does depends on its input, not on how fast the machine is.
 *
 * Structured mode sends a valid HELLO (and a right or wrong AUTH), then
 * reads the rest as operations, each an opcode byte and its operands:
 * LINK_OPEN, echo and other commands with items made of fuzz bytes,
 * CANCEL, LINK_CLOSE, ACK around what was received, PING, control
 * commands, raw bytes, replies to the server's own commands, a resume
 * over a new socketpair (the old one closed or left open), GOODBYE,
 * loop rounds, the test service answering what it holds, and the
 * server's application opening links, cancelling, pinging, closing. Sequenced messages carry a CRC item
 * when the session negotiated one (unless the opcode says to damage it).
 *
 * An op whose opcode has bits 0x70 equal to 0x10 is a VFS or cache
 * command (one of each, chosen by a byte) with a name from a list that
 * includes every name a server must refuse, NEWLINKs fresh or reused,
 * modes, flags, ranges, inline data, REFs and link items; the server
 * exports a directory ("x", and "ro" read-only) made again for each
 * input, with a file, a directory, a FIFO and symbolic links out of it.
 *
 * Invariants (a broken one traps):
 * - everything the server writes frames and validates; with CRC every
 *   sequenced message it sends carries a valid CRC item; nothing
 *   follows a GOODBYE; nothing sequenced precedes the HELLO reply;
 * - every command the server's application sent gets exactly one final
 *   reply callback, by the time the peer is freed;
 * - the loop falls quiet within a bounded number of rounds;
 * - everything is freed at the end of each input (LeakSanitizer);
 * - nothing outside the export changed: the directory beside it, the
 *   file in it (contents, size, times, mode) and /etc/passwd.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libproto/proto.h"
#include "libproto/proto_loop.h"
#include "libproto/proto_session.h"
#include "libproto/proto_vfs.h"
#include "tests/lib/auth_proof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INPUT_MAX	(64u << 10)	/* longer inputs are cut */
#define SENT_MAX	(1u << 20)	/* bytes written to the server */
#define QUIET_ROUNDS	4		/* rounds without output: quiet */
#define ROUNDS_MAX	4000		/* to fall quiet, at most */
#define CALLS_MAX	64		/* commands of the server's application */
#define STALE_MAX	8		/* old transports left open */

#define F_STRUCT	0x01u
#define F_SRV_CRC	0x02u
#define F_CLI_CRC	0x04u
#define F_KEY		0x08u
#define F_SMALL		0x10u
#define F_CANCEL	0x20u
#define F_BADAUTH	0x40u
#define F_AUTH		0x80u

static const uint8_t key[16] = "fuzz session key";

static void
must(int ok)
{
	if (!ok)
		__builtin_trap();
}

/* --- a service that holds what it gets ----------------------------------- */

struct held {
	struct held *next;
	struct hold_link *hl;
	struct proto_request *req;
};

struct hold {
	int answer_cancel;
	struct held *head;
};

struct hold_link {
	struct hold *h;
};

static void
hold_forget(struct hold *h, struct held *x)
{
	struct held **pp;

	for (pp = &h->head; *pp != NULL; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			free(x);
			return;
		}
	must(0);
}

static int
hold_open(void *svc, struct proto_link *l, const struct proto_msg *m,
    void **state)
{
	struct hold_link *hl;
	struct proto_item it;

	(void)l;
	/* An EXPORT is refused: a service's own errno. */
	if (proto_msg_find(m, PROTO_ITEM_EXPORT, &it, NULL) > 0)
		return EPERM;
	hl = calloc(1, sizeof(*hl));
	if (hl == NULL)
		return ENOMEM;
	hl->h = svc;
	*state = hl;
	return 0;
}

static void
hold_command(void *state, struct proto_request *req,
    const struct proto_msg *m)
{
	struct hold_link *hl = state;
	struct held *x;

	/* Odd commands are answered at once, with a part first. */
	if (proto_msg_command(m) & 1) {
		struct proto_builder *b = proto_reply_begin(req);

		proto_build_items(b, m->bytes + PROTO_HDR_LEN,
		    m->length - PROTO_HDR_LEN);
		(void)proto_reply_end(req, 0);
		(void)proto_reply_status(req, 0, NULL);
		return;
	}
	x = calloc(1, sizeof(*x));
	if (x == NULL) {
		proto_reply_status(req, ENOMEM, NULL);
		return;
	}
	x->hl = hl;
	x->req = req;
	x->next = hl->h->head;
	hl->h->head = x;
	proto_request_set_state(req, x);
}

static void
hold_cancel(void *state, struct proto_request *req)
{
	struct hold_link *hl = state;
	struct held *x = proto_request_state(req);

	if (!hl->h->answer_cancel || x == NULL)
		return;
	proto_reply_status(req, ECANCELED, NULL);
	hold_forget(hl->h, x);
}

static void
hold_close(void *state, struct proto_link *l)
{
	struct hold_link *hl = state;
	struct held *x, *next;

	(void)l;
	for (x = hl->h->head; x != NULL; x = next) {
		next = x->next;
		if (x->hl != hl)
			continue;
		proto_reply_status(x->req, 0, NULL);
		hold_forget(hl->h, x);
	}
	free(hl);
}

static const struct proto_service_ops hold_service = {
	hold_open, hold_command, hold_cancel, hold_close
};

/* Answer the n-th held request (from the newest), with parts first. */
static void
hold_answer(struct hold *h, unsigned n, unsigned parts, uint32_t status)
{
	struct held *x = h->head;
	unsigned i;

	for (i = 0; x != NULL && i < n; i++)
		x = x->next;
	if (x == NULL)
		return;
	for (i = 0; i < parts; i++) {
		proto_build_u32(proto_reply_begin(x->req), PROTO_ITEM_COUNT,
		    i);
		(void)proto_reply_end(x->req, 0);
	}
	(void)proto_reply_status(x->req, (int)status, NULL);
	hold_forget(h, x);
}

/* --- the run of one input ------------------------------------------------- */

struct call {
	int finals;
	struct proto_call *c;	/* NULL once final */
};

struct run {
	struct proto_loop *loop;
	struct proto_peer *peer;
	struct hold hold;
	unsigned flags;
	/* The client's end of the current transport. */
	int fd;
	int stale[STALE_MAX];	/* ends of older ones, left open */
	int nstale;
	struct proto_framer fr;
	int eof;		/* the server closed it */
	int goodbye;		/* the server sent GOODBYE on it */
	int hello;		/* its HELLO reply came */
	uint64_t sent;		/* bytes written, all transports */
	/* What the client knows of the session. */
	uint8_t session[16];
	int have_session;
	uint64_t features;	/* negotiated */
	uint8_t nonce[32], peer_nonce[32];
	uint64_t received;	/* sequenced messages from the server */
	uint64_t last_linkid;	/* of the server's last command */
	uint32_t last_msgid;
	uint16_t last_cmd;
	/* The server's application. */
	struct proto_session *s;
	struct call calls[CALLS_MAX];
	int ncalls;
	struct proto_builder b;
	int debug;		/* FUZZ_SESSION_DEBUG: print what comes */
	struct proto_vfs_server *vfs;
	uint64_t vfs_next;	/* the next NEWLINK a VFS op names */
};

static void
on_server_reply(void *arg, struct proto_call *c, const struct proto_msg *m,
    int status, int final)
{
	struct call *k = arg;

	(void)m;
	(void)status;
	must(k->c == NULL || k->c == c);
	must(k->finals == 0);
	if (final) {
		k->finals++;
		k->c = NULL;
	}
}

/* The server's application sends a command: a LINK_OPEN and one more. */
static void
app_open(struct run *r, uint8_t sel)
{
	static const char *const svc[4] = { "echo", "nope", "hold", "" };
	struct proto_builder *b;
	struct proto_link *l;
	struct call *k;

	if (r->s == NULL || r->ncalls + 2 > CALLS_MAX)
		return;
	/* proto_link_open does not give its call: only its replies count. */
	k = &r->calls[r->ncalls];
	memset(k, 0, sizeof(*k));
	l = proto_link_open(r->s, svc[sel & 3], NULL, on_server_reply, k);
	if (l == NULL)
		return;
	r->ncalls++;
	b = proto_cmd_begin(l, (uint16_t)(0x7000 | sel));
	if (b == NULL)
		return;
	proto_build_u32(b, PROTO_ITEM_FLAGS, sel);
	k = &r->calls[r->ncalls];
	memset(k, 0, sizeof(*k));
	k->c = proto_cmd_send(l, on_server_reply, k);
	if (k->c != NULL)
		r->ncalls++;
}

static void
on_log(void *arg, enum proto_log_level level, const char *msg)
{
	struct run *r = arg;
	const char *p;

	if (r->debug)
		fprintf(stderr, "log %d: %s\n", (int)level, msg);
	/* What a peer sends is escaped: no line may hold a control. */
	for (p = msg; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			__builtin_trap();
}

static void
accepted(void *arg, struct proto_session *s, enum proto_session_event ev,
    int error, const char *text)
{
	struct run *r = arg;

	(void)error;
	(void)text;
	/* Several sessions may live: the application uses the newest. */
	if (ev == PROTO_EV_UP)
		r->s = s;
	else if (ev == PROTO_EV_LOST && r->s == s)
		r->s = NULL;
}

/* Every message the server writes: valid, and in its place. */
static void
check_msg(struct run *r, const struct proto_msg *m)
{
	struct proto_iter it;
	struct proto_item item, last;
	uint16_t cmd = proto_msg_command(m);
	const uint8_t *p;
	size_t n;

	if (r->debug) {
		char text[200] = "";

		if (proto_msg_find(m, PROTO_ITEM_ERRTEXT, &item, NULL) > 0 &&
		    proto_item_string(&item, (const char **)&p, &n, NULL) == 0)
			snprintf(text, sizeof(text), "%.*s", (int)n,
			    (const char *)p);
		fprintf(stderr, "server: link 0x%llx msg %u cmd 0x%04x len %u "
		    "%s\n", (unsigned long long)m->linkid, m->msgid,
		    m->command, m->length, text);
	}
	must(proto_msg_validate(m, NULL) == 0);
	must(!r->goodbye);
	if (cmd == PROTO_CMD_GOODBYE) {
		r->goodbye = 1;
		return;
	}
	if (m->command == (PROTO_CMD_HELLO | PROTO_REPLY_BIT)) {
		must(!r->hello);
		r->hello = 1;
		if (proto_msg_find(m, PROTO_ITEM_SESSION, &item, NULL) > 0 &&
		    proto_item_bytes(&item, &p, &n, 16, NULL) == 0) {
			memcpy(r->session, p, 16);
			r->have_session = 1;
		}
		if (proto_msg_find(m, PROTO_ITEM_FEATURES, &item, NULL) > 0)
			(void)proto_item_u64(&item, &r->features, NULL);
		if (proto_msg_find(m, PROTO_ITEM_NONCE, &item, NULL) > 0 &&
		    proto_item_bytes(&item, &p, &n, 32, NULL) == 0)
			memcpy(r->peer_nonce, p, 32);
		return;
	}
	if (cmd <= PROTO_CONTROL_LAST)
		return;
	must(r->hello);
	r->received++;
	if (r->features & PROTO_FEATURE_CRC) {
		memset(&last, 0, sizeof(last));
		proto_iter_init(&it, m);
		while (proto_iter_next(&it, &item, NULL) > 0)
			last = item;
		must(proto_item_type(&last) == PROTO_ITEM_CRC);
		must(proto_msg_crc_check(m, NULL) == 0);
	}
	if (!(m->command & PROTO_REPLY_BIT)) {
		r->last_linkid = m->linkid;
		r->last_msgid = m->msgid;
		r->last_cmd = m->command;
	}
}

/* Read and check what the server wrote; 1 if anything came. */
static int
drain(struct run *r)
{
	uint8_t buf[65536];
	struct proto_error err;
	struct proto_msg m;
	ssize_t n;
	int got = 0, k;

	while (r->fd >= 0 && !r->eof) {
		n = read(r->fd, buf, sizeof(buf));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		got = 1;
		if (n <= 0) {
			r->eof = 1;
			break;
		}
		proto_framer_feed(&r->fr, buf, (size_t)n);
		while ((k = proto_framer_next(&r->fr, &m, &err)) != 0) {
			must(k > 0);
			check_msg(r, &m);
		}
	}
	return got;
}

static void
one_round(struct run *r)
{
	must(proto_loop_run_once(r->loop, 0) == 0);
	(void)drain(r);
}

/* Rounds until nothing more comes out. */
static void
quiesce(struct run *r)
{
	int quiet = 0, i;

	/* A round waits up to 1 ms: the VFS answers from worker threads. */
	for (i = 0; i < ROUNDS_MAX && quiet < QUIET_ROUNDS; i++) {
		must(proto_loop_run_once(r->loop, PROTO_MS) == 0);
		quiet = drain(r) ? 0 : quiet + 1;
	}
	must(quiet >= QUIET_ROUNDS);
}

/* Write everything, running the loop while the socket is full. */
static void
put(struct run *r, const void *p, size_t len)
{
	const uint8_t *q = p;
	ssize_t n;
	int stuck = 0;

	if (r->fd < 0 || r->eof || r->sent + len > SENT_MAX)
		return;
	while (len > 0) {
		n = send(r->fd, q, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				r->eof = 1;
				return;
			}
			/* The server may have stopped reading: a window. */
			one_round(r);
			if (r->eof || ++stuck > ROUNDS_MAX)
				return;
			continue;
		}
		stuck = 0;
		q += n;
		len -= (size_t)n;
		r->sent += (uint64_t)n;
	}
}

static void
send_built(struct run *r)
{
	put(r, proto_builder_data(&r->b), proto_builder_len(&r->b));
	proto_builder_reset(&r->b);
}

/*
 * A new transport: the server takes it through an fd: listener. The
 * old one is closed, or with `keep` left open (unread) so that a
 * resuming HELLO finds the session still attached to it.
 */
static int
connect_new(struct run *r, int keep)
{
	char addr[32], err[256];
	int sv[2];

	if (r->fd >= 0) {
		if (keep && r->nstale < STALE_MAX)
			r->stale[r->nstale++] = r->fd;
		else
			close(r->fd);
		r->fd = -1;
		proto_framer_free(&r->fr);
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0, sv) < 0)
		return -1;
	snprintf(addr, sizeof(addr), "fd:%d", sv[0]);
	if (proto_peer_listen(r->peer, addr, err, sizeof(err)) < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	r->fd = sv[1];
	must(proto_framer_init(&r->fr, 0) == 0);
	r->eof = r->goodbye = r->hello = 0;
	return 0;
}

/* --- reading operations from the input ------------------------------------- */

struct cur {
	const uint8_t *p;
	size_t n;
};

static uint8_t
get8(struct cur *c)
{
	if (c->n == 0)
		return 0;
	c->n--;
	return *c->p++;
}

static uint16_t
get16(struct cur *c)
{
	uint16_t v = get8(c);

	return (uint16_t)(v | get8(c) << 8);
}

static const uint8_t *
getbytes(struct cur *c, size_t *len)
{
	const uint8_t *p = c->p;

	if (*len > c->n)
		*len = c->n;
	c->p += *len;
	c->n -= *len;
	return p;
}

static uint64_t
pick_link(struct run *r, uint8_t sel)
{
	static const uint64_t links[8] = {
		0, 1, 2, 3, 1ull << 63 | 1, 0xffffffffull, 4, 0,
	};

	if ((sel & 7) == 7)
		return r->last_linkid;
	return links[sel & 7];
}

static uint32_t
pick_msgid(struct run *r, uint8_t sel)
{
	if (sel == 0xff)
		return r->last_msgid;
	return sel % 24;
}

/* A few items of fuzz bytes; the builder writes no checks for them. */
static void
fuzz_items(struct run *r, struct cur *c)
{
	static const uint16_t types[16] = {
		PROTO_ITEM_STATUS, PROTO_ITEM_MORE, PROTO_ITEM_ERRTEXT,
		PROTO_ITEM_TIMESTAMP, PROTO_ITEM_NEWLINK | PROTO_FLAG_LINK,
		PROTO_ITEM_SERVICE, PROTO_ITEM_COUNT, PROTO_ITEM_TARGET,
		PROTO_ITEM_DATA, PROTO_ITEM_NAME, PROTO_ITEM_CRC,
		PROTO_ITEM_EXPORT, 0x1ff0, 0x1ff0 | PROTO_FLAG_LINK,
		PROTO_ITEM_DATA | PROTO_FLAG_REF, PROTO_ITEM_ATTR,
	};
	unsigned n = get8(c) % 4, i;
	const uint8_t *p;
	uint8_t sel;
	size_t len;

	for (i = 0; i < n; i++) {
		sel = get8(c);
		len = get8(c) % 40;
		p = getbytes(c, &len);
		if ((sel & 15) == 15) {
			proto_build_nest_begin(&r->b, PROTO_ITEM_ATTR, 0);
			proto_build_raw(&r->b, PROTO_ITEM_SIZE, p, len);
			proto_build_nest_end(&r->b);
			continue;
		}
		proto_build_raw(&r->b, types[sel & 15], p, len);
	}
}

/*
 * End a message: sequenced ones get the CRC item when the session has
 * the feature, unless `damage` (then none, or a wrong one).
 */
static void
end_msg(struct run *r, int damage)
{
	uint16_t cmd = proto_get16(r->b.buf + r->b.msg_start + 12);
	int crc = (r->features & PROTO_FEATURE_CRC) &&
	    (cmd & PROTO_COMMAND_MASK) > PROTO_CONTROL_LAST;

	if (crc && !damage) {
		if (proto_build_end_crc(&r->b) < 0)
			proto_builder_reset(&r->b);
		return;
	}
	if (crc && proto_build_end_crc(&r->b) > 0) {
		r->b.buf[r->b.len - 1] ^= 0x5a;
		return;
	}
	if (proto_build_end(&r->b) < 0)
		proto_builder_reset(&r->b);
}

static void
proof(const char *role, const uint8_t *ni, const uint8_t *na,
    const uint8_t *session, uint8_t *out)
{
	if (auth_proof(key, sizeof(key), role, ni, na, session, out) < 0)
		memset(out, 0, 32);
}

/* HELLO, new or resuming; then, with AUTH, the proof. */
static void
handshake(struct run *r, int resume, uint64_t received)
{
	static const uint8_t zero[16];
	uint64_t f = 0;
	uint8_t p[32];
	int i;

	if (r->flags & F_CLI_CRC)
		f |= PROTO_FEATURE_CRC;
	if (r->flags & F_AUTH)
		f |= PROTO_FEATURE_AUTH;
	for (i = 0; i < 32; i++)
		r->nonce[i] = (uint8_t)(i + r->sent);
	proto_build_begin(&r->b, 0, 0, PROTO_CMD_HELLO);
	proto_build_u16(&r->b, PROTO_ITEM_VERSION, 1);
	proto_build_string(&r->b, PROTO_ITEM_NODE, "fuzz", 4);
	proto_build_bytes(&r->b, PROTO_ITEM_SESSION, resume ? r->session :
	    zero, 16);
	proto_build_u64(&r->b, PROTO_ITEM_RECEIVED, received);
	proto_build_u64(&r->b, PROTO_ITEM_FEATURES, f);
	proto_build_u32(&r->b, PROTO_ITEM_WINDOW, 65544);
	proto_build_nest_begin(&r->b, PROTO_ITEM_LIMITS, 0);
	proto_build_u32(&r->b, PROTO_ITEM_MAX_INFLIGHT, 8);
	proto_build_u32(&r->b, PROTO_ITEM_MAX_LINKS, 8);
	proto_build_nest_end(&r->b);
	if (f & PROTO_FEATURE_AUTH)
		proto_build_bytes(&r->b, PROTO_ITEM_NONCE, r->nonce, 32);
	end_msg(r, 0);
	send_built(r);
	for (i = 0; i < 8 && !r->hello && !r->eof; i++)
		one_round(r);
	if (!r->hello || !(r->features & PROTO_FEATURE_AUTH))
		return;
	proof("msgkit initiator", r->nonce, r->peer_nonce, r->session, p);
	if (r->flags & F_BADAUTH)
		p[0] ^= 1;
	proto_build_begin(&r->b, 0, 0, PROTO_CMD_AUTH);
	proto_build_bytes(&r->b, PROTO_ITEM_AUTH, p, 32);
	end_msg(r, 0);
	send_built(r);
}


/* --- the VFS: an export made again for each input ------------------------- */

static char vfs_base[64];	/* /tmp/fuzz_vfs.XXXXXX: export/, outside/ */
static struct stat outside_st, passwd_st;

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static void
vfs_cleanup(void)
{
	if (vfs_base[0] != '\0')
		(void)nftw(vfs_base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
put_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	must(fd >= 0);
	must(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

static void
vfs_setup(char *export_dir, size_t len)
{
	char p[256];

	if (vfs_base[0] == '\0') {
		snprintf(vfs_base, sizeof(vfs_base), "/tmp/fuzz_vfs.XXXXXX");
		must(mkdtemp(vfs_base) != NULL);
		atexit(vfs_cleanup);
		snprintf(p, sizeof(p), "%s/outside", vfs_base);
		must(mkdir(p, 0755) == 0);
		snprintf(p, sizeof(p), "%s/outside/secret", vfs_base);
		put_file(p, "secret\n");
		must(stat(p, &outside_st) == 0);
		must(stat("/etc/passwd", &passwd_st) == 0);
	}
	snprintf(export_dir, len, "%s/export", vfs_base);
	(void)nftw(export_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	must(mkdir(export_dir, 0755) == 0);
	snprintf(p, sizeof(p), "%s/f", export_dir);
	put_file(p, "0123456789abcdef");
	snprintf(p, sizeof(p), "%s/sub", export_dir);
	must(mkdir(p, 0755) == 0);
	snprintf(p, sizeof(p), "%s/sub/g", export_dir);
	put_file(p, "g");
	snprintf(p, sizeof(p), "%s/esc", export_dir);
	must(symlink("/etc", p) == 0);
	snprintf(p, sizeof(p), "%s/out", export_dir);
	must(symlink("../outside/secret", p) == 0);
	snprintf(p, sizeof(p), "%s/fifo", export_dir);
	must(mkfifo(p, 0644) == 0);
}

static int
same_stat(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_size == b->st_size &&
	    a->st_mode == b->st_mode && a->st_uid == b->st_uid &&
	    a->st_nlink == b->st_nlink &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Nothing outside the export: the file beside it, its directory, /etc. */
static void
vfs_check_outside(void)
{
	struct stat st;
	char p[256];
	int n = 0;
	DIR *d;

	snprintf(p, sizeof(p), "%s/outside/secret", vfs_base);
	must(stat(p, &st) == 0 && same_stat(&st, &outside_st));
	must(stat("/etc/passwd", &st) == 0 && same_stat(&st, &passwd_st));
	snprintf(p, sizeof(p), "%s/outside", vfs_base);
	d = opendir(p);
	must(d != NULL);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	must(n == 3);
}

static uint64_t
vfs_pick(struct run *r, uint8_t sel)
{
	switch (sel & 7) {
	case 0:
	case 1:
	case 2:
	case 3:
		return (uint64_t)(sel & 7) + 1;
	case 4:
		return r->vfs_next - 1;
	case 5:
		return r->vfs_next - 2;
	case 6:
		return r->vfs_next;
	default:
		return pick_link(r, sel >> 3);
	}
}

/* A VFS or cache command, with items that a server must check. */
static void
vfs_op(struct run *r, struct cur *c)
{
	static const uint16_t cmds[20] = {
		PROTO_CMD_VFS_LOOKUP, PROTO_CMD_VFS_GETATTR,
		PROTO_CMD_VFS_SETATTR, PROTO_CMD_VFS_READDIR,
		PROTO_CMD_VFS_OPEN, PROTO_CMD_VFS_CREATE, PROTO_CMD_VFS_MKDIR,
		PROTO_CMD_VFS_SYMLINK, PROTO_CMD_VFS_READLINK,
		PROTO_CMD_VFS_LINK, PROTO_CMD_VFS_UNLINK, PROTO_CMD_VFS_RENAME,
		PROTO_CMD_VFS_STATFS, PROTO_CMD_VFS_FSYNC,
		PROTO_CMD_CACHE_READ, PROTO_CMD_CACHE_WRITE,
		PROTO_CMD_CACHE_SYNC, PROTO_CMD_CACHE_SIZE,
		PROTO_CMD_VFS_LOOKUP, PROTO_CMD_CACHE_READ,
	};
	static const char *const names[16] = {
		"f", "sub", "..", ".", "", "esc", "out", "a/b", "fifo", "new",
		"g", "/etc", "new2", "sub", "f", "\xc3\xa9t\xc3\xa9",
	};
	char longname[300];
	const char *name;
	struct proto_ref ref;
	const uint8_t *p;
	uint64_t link, id;
	uint8_t sel, what;
	size_t len;

	sel = get8(c);
	link = vfs_pick(r, get8(c));
	proto_build_begin(&r->b, link, pick_msgid(r, get8(c)),
	    cmds[sel % 20]);
	what = get8(c);
	if (what & 0x01) {
		sel = get8(c);
		name = names[sel & 15];
		if ((sel & 0xf0) == 0xf0) {
			memset(longname, 'a', sizeof(longname) - 1);
			longname[255 + (sel & 1)] = '\0';
			name = longname;
		}
		proto_build_string(&r->b, (sel & 0x10) ? PROTO_ITEM_NEWNAME :
		    PROTO_ITEM_NAME, name, strlen(name));
		if (sel & 0x20)
			proto_build_string(&r->b, PROTO_ITEM_NEWNAME, name,
			    strlen(name));
	}
	if (what & 0x02) {
		id = get8(c) & 1 ? vfs_pick(r, get8(c)) : r->vfs_next++;
		proto_build_linkids(&r->b, PROTO_ITEM_NEWLINK, &id, 1);
	}
	if (what & 0x04)
		proto_build_u32(&r->b, PROTO_ITEM_MODE, get16(c));
	if (what & 0x08)
		proto_build_u32(&r->b, PROTO_ITEM_FLAGS, get8(c));
	if (what & 0x10) {
		proto_build_u64(&r->b, PROTO_ITEM_OFFSET, get16(c));
		proto_build_u64(&r->b, PROTO_ITEM_LENGTH,
		    get8(c) & 1 ? (uint64_t)get16(c) << 8 : get8(c));
	}
	if (what & 0x20) {
		len = get8(c) % 64;
		p = getbytes(c, &len);
		proto_build_bytes(&r->b, PROTO_ITEM_DATA, p, len);
	}
	if (what & 0x40) {
		ref.linkid = vfs_pick(r, get8(c));
		ref.offset = get8(c);
		ref.length = get16(c);
		proto_build_ref(&r->b, PROTO_ITEM_DATA, &ref, get8(c) & 1);
	}
	if (what & 0x80) {
		sel = get8(c);
		id = vfs_pick(r, get8(c));
		switch (sel & 3) {
		case 0:
			proto_build_linkids(&r->b, PROTO_ITEM_NEWDIR, &id, 1);
			break;
		case 1:
			proto_build_linkids(&r->b, PROTO_ITEM_NODE_LINK, &id,
			    1);
			break;
		case 2:
			proto_build_u64(&r->b, PROTO_ITEM_COOKIE, get16(c));
			break;
		default:
			proto_build_string(&r->b, PROTO_ITEM_SYMTARGET,
			    sel & 4 ? "../outside/secret" : "/etc/passwd",
			    sel & 4 ? 17 : 11);
			break;
		}
	}
}

static void
op(struct run *r, struct cur *c)
{
	static const char *const svc[4] = { "echo", "hold", "vfs", "" };
	uint8_t o = get8(c), sel;
	int damage = (o & 0x80) != 0;
	uint64_t link, n;
	uint32_t msgid;
	size_t len;
	const uint8_t *p;
	int i;

	if ((o & 0x70) == 0x10) {
		vfs_op(r, c);
		end_msg(r, damage);
		send_built(r);
		return;
	}
	switch (o & 15) {
	case 0:		/* LINK_OPEN {NEWLINK, SERVICE, [EXPORT], ...} */
		sel = get8(c);
		link = pick_link(r, get8(c));
		proto_build_begin(&r->b, 0, pick_msgid(r, get8(c)),
		    PROTO_CMD_LINK_OPEN);
		proto_build_linkids(&r->b, PROTO_ITEM_NEWLINK, &link, 1);
		proto_build_string(&r->b, PROTO_ITEM_SERVICE, svc[sel & 3],
		    strlen(svc[sel & 3]));
		if (sel & 4)
			proto_build_string(&r->b, PROTO_ITEM_EXPORT,
			    sel & 0x10 ? "ro" : "x", sel & 0x10 ? 2 : 1);
		if (sel & 8)
			fuzz_items(r, c);
		break;
	case 1:		/* an echo-range command */
		link = pick_link(r, get8(c));
		msgid = pick_msgid(r, get8(c));
		proto_build_begin(&r->b, link, msgid,
		    (uint16_t)(0x7000 | get8(c)));
		fuzz_items(r, c);
		break;
	case 2:		/* any command or reply, any items */
		link = pick_link(r, get8(c));
		msgid = pick_msgid(r, get8(c));
		proto_build_begin(&r->b, link, msgid, get16(c));
		fuzz_items(r, c);
		break;
	case 3:		/* CANCEL {TARGET} */
		link = pick_link(r, get8(c));
		msgid = pick_msgid(r, get8(c));
		proto_build_begin(&r->b, link, msgid, PROTO_CMD_CANCEL);
		proto_build_u32(&r->b, PROTO_ITEM_TARGET,
		    pick_msgid(r, get8(c)));
		break;
	case 4:		/* LINK_CLOSE [COUNT] */
		link = pick_link(r, get8(c));
		msgid = pick_msgid(r, get8(c));
		sel = get8(c);
		proto_build_begin(&r->b, link, msgid, PROTO_CMD_LINK_CLOSE);
		if (sel & 4)
			proto_build_u32(&r->b, PROTO_ITEM_COUNT, sel & 3);
		break;
	case 5:		/* ACK around what came */
		n = r->received + (uint64_t)(int64_t)(int8_t)(get8(c) % 5 - 2);
		proto_build_begin(&r->b, 0, 0, PROTO_CMD_ACK);
		if (!damage)
			proto_build_u64(&r->b, PROTO_ITEM_RECEIVED, n);
		break;
	case 6:		/* PING */
		proto_build_begin(&r->b, 0, get8(c), PROTO_CMD_PING);
		proto_build_u64(&r->b, PROTO_ITEM_TIMESTAMP, r->sent);
		break;
	case 7:		/* a control command or reply */
		proto_build_begin(&r->b, 0, get8(c), (uint16_t)(get8(c) & 15) |
		    (damage ? PROTO_REPLY_BIT : 0));
		fuzz_items(r, c);
		damage = 0;
		break;
	case 8:		/* bytes as they come */
		len = get8(c);
		p = getbytes(c, &len);
		put(r, p, len);
		return;
	case 9:		/* the service answers one held request */
		sel = get8(c);
		hold_answer(&r->hold, sel & 7, (sel >> 3) & 3, get8(c) % 140);
		return;
	case 10:	/* rounds */
		sel = get8(c) % 8;
		for (i = 0; i <= sel; i++)
			one_round(r);
		return;
	case 11:	/* a reply to the server's last command */
		sel = get8(c);
		msgid = pick_msgid(r, get8(c));
		proto_build_begin(&r->b, sel & 1 ? r->last_linkid :
		    pick_link(r, sel), sel & 2 ? r->last_msgid : msgid,
		    (uint16_t)(r->last_cmd | PROTO_REPLY_BIT));
		if (sel & 4)
			proto_build_empty(&r->b, PROTO_ITEM_MORE);
		else
			proto_build_u32(&r->b, PROTO_ITEM_STATUS, sel >> 4);
		break;
	case 12:	/* a new transport resuming the session */
		sel = get8(c);
		if (!r->have_session || connect_new(r, sel & 0x80) < 0)
			return;
		one_round(r);
		handshake(r, !(sel & 1), r->received +
		    (uint64_t)(int64_t)(int8_t)((sel >> 1) % 5 - 2));
		return;
	case 13:	/* the server's application */
		sel = get8(c);
		switch (sel & 3) {
		case 0:
			app_open(r, get8(c));
			break;
		case 1:
			for (i = r->ncalls - 1; i >= 0; i--)
				if (r->calls[i].c != NULL) {
					(void)proto_call_cancel(
					    r->calls[i].c);
					break;
				}
			break;
		case 2:
			if (r->s != NULL)
				(void)proto_session_ping(r->s, NULL, NULL);
			break;
		default:
			if (r->s != NULL)
				proto_session_close(r->s);
			break;
		}
		return;
	case 14:	/* GOODBYE, HELLO or AUTH out of place */
		sel = get8(c);
		if (sel & 1) {
			handshake(r, sel & 2, r->received);
			return;
		}
		proto_build_begin(&r->b, 0, 0, sel & 2 ? PROTO_CMD_AUTH :
		    PROTO_CMD_GOODBYE);
		proto_build_u32(&r->b, PROTO_ITEM_STATUS, sel >> 2);
		break;
	default:	/* the transport breaks */
		if (r->fd >= 0) {
			close(r->fd);
			r->fd = -1;
			proto_framer_free(&r->fr);
		}
		one_round(r);
		return;
	}
	end_msg(r, damage);
	send_built(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_vfs_server_config vcfg;
	struct proto_peer_config cfg;
	char err[256], export_dir[128];
	struct run *r;
	struct cur c;
	size_t off, k;
	int i;

	if (size == 0)
		return 0;
	if (size > INPUT_MAX)
		size = INPUT_MAX;
	r = calloc(1, sizeof(*r));
	must(r != NULL);
	r->flags = data[0];
	r->fd = -1;
	r->debug = getenv("FUZZ_SESSION_DEBUG") != NULL;
	r->loop = proto_loop_new();
	must(r->loop != NULL);
	proto_builder_init(&r->b);
	proto_peer_config_init(&cfg);
	cfg.node = "fuzz-server";
	cfg.features = r->flags & F_SRV_CRC ? PROTO_FEATURE_CRC : 0;
	if (r->flags & F_KEY) {
		cfg.key = key;
		cfg.keylen = sizeof(key);
	}
	if (r->flags & F_SMALL) {
		cfg.max_inflight = 4;
		cfg.max_links = 4;
		cfg.max_memory = 64u << 10;
		cfg.max_total_memory = 256u << 10;
		cfg.max_sessions = 2;
		cfg.max_conns = 2;
		cfg.window = 65544;
	}
	cfg.ack_delay_ns = 0;		/* ACKs at the next round */
	cfg.accepted = accepted;
	cfg.log = on_log;
	cfg.arg = r;
	r->hold.answer_cancel = (r->flags & F_CANCEL) != 0;
	r->peer = proto_peer_new(r->loop, &cfg, err, sizeof(err));
	must(r->peer != NULL);
	must(proto_peer_serve(r->peer, "echo", &proto_echo_service,
	    NULL) == 0);
	must(proto_peer_serve(r->peer, "hold", &hold_service,
	    &r->hold) == 0);
	vfs_setup(export_dir, sizeof(export_dir));
	proto_vfs_server_config_init(&vcfg);
	vcfg.workers = 2;
	vcfg.max_files = r->flags & F_SMALL ? 2 : 64;
	r->vfs = proto_vfs_server_new(r->peer, &vcfg, err, sizeof(err));
	must(r->vfs != NULL);
	must(proto_vfs_server_export(r->vfs, "x", export_dir, 0, err,
	    sizeof(err)) == 0);
	must(proto_vfs_server_export(r->vfs, "ro", export_dir, 1, err,
	    sizeof(err)) == 0);
	r->vfs_next = 16;

	if (connect_new(r, 0) == 0) {
		one_round(r);	/* the listener hands the stream over */
		c.p = data + 1;
		c.n = size - 1;
		if (!(r->flags & F_STRUCT)) {
			/* Verbatim, in pieces, rounds in between. */
			for (off = 0; off < c.n; off += k) {
				k = c.n - off < 1024 ? c.n - off : 1024;
				put(r, c.p + off, k);
				one_round(r);
			}
		} else {
			handshake(r, 0, 0);
			while (c.n > 0)
				op(r, &c);
		}
		quiesce(r);
	}

	proto_vfs_server_free(r->vfs);
	proto_peer_free(r->peer);
	vfs_check_outside();
	for (i = 0; i < 3; i++)
		must(proto_loop_run_once(r->loop, 0) == 0);
	for (i = 0; i < r->ncalls; i++)
		must(r->calls[i].finals == 1);
	must(r->hold.head == NULL);
	proto_loop_free(r->loop);
	if (r->fd >= 0) {
		close(r->fd);
		proto_framer_free(&r->fr);
	}
	for (i = 0; i < r->nstale; i++)
		close(r->stale[i]);
	proto_builder_free(&r->b);
	free(r);
	return 0;
}
