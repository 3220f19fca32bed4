/*
 * vfs_cache.c - cache objects (msgproto(7) section 5): the open files a
 * VFS_OPEN or VFS_CREATE binds.
 *
 * CACHE_READ streams: a worker reads a slice, the loop sends it as parts
 * of 32 KiB, and the next slice is read only while the session's queue
 * is short (proto_session_when_room), so a read of 4 GiB holds a few
 * hundred KiB at a time and goes as fast as the peer's window drains.
 *
 * CACHE_WRITE with DATA by REF: to a cache object of ours, a server-side
 * copy (copy_file_range: no data byte crosses the link); to an object of
 * the client's half, the server fetches it with CACHE_READs sent to the
 * client on that link, a few MiB in flight, written as they come.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto_numbers.h"
#include "vfs_int.h"

#define SLICE		(256u * 1024)	/* read per job: 8 parts */
#define ROOM_HIGH	(512u * 1024)	/* queue more only below this */
#define ROOM_LOW	(256u * 1024)
#define COPY_SLICE	(64ull << 20)	/* copy_file_range per job */
#define FETCH_CHUNK	(1u << 20)	/* CACHE_READ sent to the client */
#define FETCH_AHEAD	(4u << 20)	/* fetched, not yet written */

struct vfs_stream {
	struct vfs_stream *next;	/* the node's streams */
	struct vfs_node *node;
	struct proto_request *req;
	uint64_t off, left, total;
	int busy;			/* a job or a room wait */
	int waiting_room;
	int cancelled;
	int err;
};

/* A write by REF that the server fetches from the client. */
struct vfs_fetch {
	struct vfs_node *node;
	struct proto_request *req;
	struct proto_link *src;
	uint64_t src_off, dst_off, len;
	uint64_t asked, received, written;
	unsigned reads, writes;		/* outstanding */
	int eof;
	int err;
};

static void
reply_length(struct proto_request *req, int err, uint64_t len)
{
	struct proto_builder *b = proto_reply_begin(req);

	proto_build_u32(b, PROTO_ITEM_STATUS, (uint32_t)err);
	proto_build_u64(b, PROTO_ITEM_LENGTH, len);
	proto_reply_end(req, 1);
}

static void
trace_once(struct vfs_node *n, int write)
{
	int *done = write ? &n->traced_write : &n->traced_read;

	if (*done)
		return;
	*done = 1;
	vfs_trace(n, write ? "write" : "read", n->path, 0);
}

/* --- CACHE_READ ------------------------------------------------------------- */

static void stream_step(struct vfs_stream *st);

static void
stream_unlink(struct vfs_stream *st)
{
	struct vfs_stream **pp;

	for (pp = &st->node->stream; *pp != NULL; pp = &(*pp)->next)
		if (*pp == st) {
			*pp = st->next;
			break;
		}
}

static void
stream_end(struct vfs_stream *st)
{
	int err = st->err != 0 ? st->err : st->cancelled ? ECANCELED : 0;

	reply_length(st->req, err, st->total);
	stream_unlink(st);
	vfs_node_unref(st->node);
	free(st);
}

static void
on_room(void *arg)
{
	struct vfs_stream *st = arg;

	st->waiting_room = 0;
	st->busy = 0;
	stream_step(st);
}

static void
stream_read_done(struct vfs_job *jb)
{
	struct vfs_stream *st = jb->arg;
	struct proto_builder *b;
	uint64_t off;
	size_t n;

	st->busy = 0;
	if (jb->err != 0)
		st->err = jb->err;
	for (off = 0; off < jb->done && !st->cancelled; off += n) {
		n = jb->done - off < PROTO_VFS_PART ? jb->done - off :
		    PROTO_VFS_PART;
		b = proto_reply_begin(st->req);
		proto_build_u64(b, PROTO_ITEM_OFFSET, st->off + off);
		proto_build_bytes(b, PROTO_ITEM_DATA, jb->data + off, n);
		if (proto_reply_end(st->req, 0) < 0 &&
		    proto_request_link(st->req) == NULL)
			st->cancelled = 1;	/* the link is gone */
	}
	st->off += jb->done;
	st->total += jb->done;
	st->left -= jb->done;
	if (jb->eof)
		st->left = 0;
	vfs_job_free(jb);
	stream_step(st);
}

static void
stream_step(struct vfs_stream *st)
{
	struct proto_link *l = proto_request_link(st->req);
	struct vfs_job *jb;

	if (st->busy)
		return;
	if (l == NULL)
		st->cancelled = 1;
	if (st->cancelled || st->err != 0 || st->left == 0) {
		stream_end(st);
		return;
	}
	if (proto_session_queued(proto_link_session(l)) >= ROOM_HIGH) {
		if (proto_session_when_room(proto_link_session(l), ROOM_LOW,
		    on_room, st) == 0) {
			st->busy = st->waiting_room = 1;
			return;
		}
	}
	jb = vfs_job_new(st->node->vs->srv, NULL, st->node,
	    PROTO_CMD_CACHE_READ);
	if (jb != NULL)
		jb->data = malloc(SLICE);
	if (jb == NULL || jb->data == NULL) {
		if (jb != NULL)
			vfs_job_free(jb);
		st->err = ENOMEM;
		stream_end(st);
		return;
	}
	jb->off = st->off;
	jb->len = st->left < SLICE ? st->left : SLICE;
	jb->arg = st;
	st->busy = 1;
	vfs_job_submit(jb, stream_read_done);
}

static void
ready_read(struct vfs_job *jb)
{
	struct vfs_stream *st = jb->arg;

	vfs_job_free(jb);
	trace_once(st->node, 0);
	if (!(st->node->flags & PROTO_VFS_READ))
		st->err = EBADF;
	stream_step(st);
}

static void
start_read(struct vfs_node *n, struct proto_request *req,
    const struct proto_msg *m)
{
	struct vfs_stream *st;
	struct vfs_job *jb;
	uint64_t off, len;

	if (!vfs_read_u64(m, PROTO_ITEM_OFFSET, &off) ||
	    !vfs_read_u64(m, PROTO_ITEM_LENGTH, &len)) {
		proto_reply_status(req, EINVAL, "OFFSET and LENGTH needed");
		return;
	}
	if (len > UINT32_MAX) {
		proto_reply_status(req, EINVAL, "LENGTH is at most 2^32-1");
		return;
	}
	st = calloc(1, sizeof(*st));
	jb = vfs_job_new(n->vs->srv, req, n, PROTO_CMD_CACHE_READ);
	if (st == NULL || jb == NULL) {
		free(st);
		if (jb != NULL) {
			jb->req = NULL;
			vfs_job_free(jb);
		}
		proto_reply_status(req, ENOMEM, NULL);
		return;
	}
	st->node = n;
	n->refs++;
	st->req = req;
	st->off = off;
	st->left = len;
	st->next = n->stream;
	n->stream = st;
	/* A job that only waits for the node: OPEN pipelined before. */
	jb->arg = st;
	jb->ready = ready_read;
	vfs_job_start(jb);
}

void
vfs_cache_cancel(struct vfs_node *n, struct proto_request *req)
{
	struct vfs_stream *st;

	for (st = n->stream; st != NULL; st = st->next)
		if (st->req == req)
			st->cancelled = 1;
}

/* The link is gone: streams waiting for room end now (replies dropped). */
void
vfs_cache_close(struct vfs_node *n)
{
	struct vfs_stream *st, *next;

	for (st = n->stream; st != NULL; st = next) {
		next = st->next;
		st->cancelled = 1;
		if (st->waiting_room) {
			proto_session_cancel_room(n->vs->s, st);
			st->waiting_room = 0;
			st->busy = 0;
			stream_end(st);
		}
	}
}

/* --- CACHE_WRITE inline, CACHE_SIZE, CACHE_SYNC ------------------------------- */

static void
finish_write(struct vfs_job *jb)
{
	if (jb->err == 0)
		jb->node->own_write_ns = proto_loop_now(jb->srv->loop);
	if (jb->err != 0)
		proto_reply_status(jb->req, jb->err, NULL);
	else
		reply_length(jb->req, 0, jb->done);
	vfs_job_free(jb);
}

static void
finish_size(struct vfs_job *jb)
{
	if (jb->err != 0)
		proto_reply_status(jb->req, jb->err, NULL);
	else
		reply_length(jb->req, 0, (uint64_t)jb->st.st_size);
	vfs_job_free(jb);
}

static void
finish_sync(struct vfs_job *jb)
{
	proto_reply_status(jb->req, jb->err, NULL);
	vfs_job_free(jb);
}

static int
writable(struct vfs_node *n, struct proto_request *req)
{
	if (vfs_readonly_refusal(n, req))
		return 0;
	if (!(n->flags & PROTO_VFS_WRITE)) {
		proto_reply_status(req, EBADF, "not open for writing");
		return 0;
	}
	return 1;
}

static void
ready_write(struct vfs_job *jb)
{
	if (!writable(jb->node, jb->req)) {
		jb->req = NULL;
		vfs_job_free(jb);
		return;
	}
	trace_once(jb->node, 1);
	vfs_job_submit(jb, finish_write);
}

static void
ready_size(struct vfs_job *jb)
{
	if ((jb->which & PROTO_VFS_SET_SIZE) && !writable(jb->node, jb->req)) {
		jb->req = NULL;
		vfs_job_free(jb);
		return;
	}
	vfs_job_submit(jb, finish_size);
}

static void
ready_sync(struct vfs_job *jb)
{
	vfs_job_submit(jb, finish_sync);
}

/* --- CACHE_WRITE by REF: a server-side copy ------------------------------------ */

static void
copy_done(struct vfs_job *jb)
{
	jb->total += jb->done;
	if (jb->err == 0 && jb->node->link == NULL)
		jb->err = ECANCELED;	/* the link closed: stop copying */
	if (jb->err == 0 && !jb->eof && jb->total < jb->size) {
		jb->cookie += jb->done;
		jb->off += jb->done;
		jb->done = 0;
		jb->len = jb->size - jb->total < COPY_SLICE ?
		    jb->size - jb->total : COPY_SLICE;
		vfs_job_submit(jb, copy_done);
		return;
	}
	jb->node->own_write_ns = proto_loop_now(jb->srv->loop);
	if (jb->err != 0)
		proto_reply_status(jb->req, jb->err, NULL);
	else
		reply_length(jb->req, 0, jb->total);
	vfs_job_free(jb);
}

static void
ready_copy(struct vfs_job *jb)
{
	if (!writable(jb->node, jb->req)) {
		jb->req = NULL;
		vfs_job_free(jb);
		return;
	}
	if (!(jb->other->flags & PROTO_VFS_READ)) {
		proto_reply_status(jb->req, EBADF, "REF source not open for "
		    "reading");
		vfs_job_free(jb);
		return;
	}
	trace_once(jb->other, 0);
	trace_once(jb->node, 1);
	jb->len = jb->size < COPY_SLICE ? jb->size : COPY_SLICE;
	vfs_job_submit(jb, copy_done);
}

/* --- CACHE_WRITE by REF: fetched from the client ------------------------------- */

static void fetch_more(struct vfs_fetch *f);

/*
 * The node's link goes when the session does, in the same call that
 * frees the borrowed link: past that, src must not be touched (a link
 * closed by the client leaves the borrow to the session's end).
 */
static void
fetch_check_src(struct vfs_fetch *f)
{
	if (f->node->link == NULL) {
		f->src = NULL;
		if (f->err == 0)
			f->err = ECONNRESET;
	}
}

static void
fetch_end(struct vfs_fetch *f)
{
	fetch_check_src(f);
	if (f->reads > 0 || f->writes > 0)
		return;
	f->node->own_write_ns = proto_loop_now(f->node->vs->srv->loop);
	if (f->err != 0)
		proto_reply_status(f->req, f->err, NULL);
	else
		reply_length(f->req, 0, f->written);
	if (f->src != NULL)
		proto_link_forget(f->src);
	vfs_node_unref(f->node);
	free(f);
}

static void
fetch_written(struct vfs_job *jb)
{
	struct vfs_fetch *f = jb->arg;

	f->writes--;
	if (jb->err != 0 && f->err == 0)
		f->err = jb->err;
	f->written += jb->done;
	vfs_job_free(jb);
	fetch_more(f);
}

static void
fetch_part(struct vfs_fetch *f, const struct proto_msg *m)
{
	struct proto_item it;
	struct vfs_job *jb;
	const uint8_t *p;
	uint64_t off;
	size_t n;

	if (!vfs_read_u64(m, PROTO_ITEM_OFFSET, &off) ||
	    proto_msg_find(m, PROTO_ITEM_DATA, &it, NULL) <= 0 ||
	    proto_item_bytes(&it, &p, &n, -1, NULL) < 0 ||
	    off < f->src_off || off - f->src_off + n > f->len) {
		if (f->err == 0)
			f->err = EPROTO;
		return;
	}
	f->received += n;
	jb = vfs_job_new(f->node->vs->srv, NULL, f->node,
	    PROTO_CMD_CACHE_WRITE);
	if (jb != NULL && n > 0)
		jb->data = malloc(n);
	if (jb == NULL || (n > 0 && jb->data == NULL)) {
		if (jb != NULL)
			vfs_job_free(jb);
		f->err = ENOMEM;
		return;
	}
	memcpy(jb->data, p, n);
	jb->datalen = n;
	jb->off = f->dst_off + (off - f->src_off);
	jb->arg = f;
	f->writes++;
	vfs_job_submit(jb, fetch_written);
}

static void
on_fetch_reply(void *arg, struct proto_call *c, const struct proto_msg *m,
    int status, int final)
{
	struct vfs_fetch *f = arg;
	uint64_t got;

	(void)c;
	if (m != NULL && !final)
		fetch_part(f, m);
	if (!final)
		return;
	f->reads--;
	if (status != 0 && f->err == 0)
		f->err = status;
	/* Failed here: the session or the link is gone; so is src soon. */
	if (m == NULL && f->src != NULL) {
		proto_link_forget(f->src);
		f->src = NULL;
	}
	/* A short read is the end of the client's object. */
	if (m != NULL && status == 0 && vfs_read_u64(m, PROTO_ITEM_LENGTH, &got) &&
	    got < FETCH_CHUNK)
		f->eof = 1;
	fetch_more(f);
}

static void
fetch_more(struct vfs_fetch *f)
{
	struct proto_builder *b;
	uint64_t n;

	fetch_check_src(f);
	while (f->err == 0 && !f->eof && f->asked < f->len &&
	    f->asked - f->written < FETCH_AHEAD) {
		n = f->len - f->asked < FETCH_CHUNK ? f->len - f->asked :
		    FETCH_CHUNK;
		b = proto_cmd_begin(f->src, PROTO_CMD_CACHE_READ);
		if (b == NULL) {
			f->err = errno;
			break;
		}
		proto_build_u64(b, PROTO_ITEM_OFFSET, f->src_off + f->asked);
		proto_build_u64(b, PROTO_ITEM_LENGTH, n);
		if (proto_cmd_send(f->src, on_fetch_reply, f) == NULL) {
			f->err = errno;
			break;
		}
		f->asked += n;
		f->reads++;
	}
	if (f->err != 0 || f->eof || f->written == f->len ||
	    (f->asked == f->len && f->received == f->len))
		fetch_end(f);
}

static void
ready_fetch(struct vfs_job *jb)
{
	struct vfs_fetch *f = jb->arg;

	jb->arg = NULL;
	if (!writable(jb->node, jb->req)) {
		jb->req = NULL;
		f->req = NULL;
		proto_link_forget(f->src);
		vfs_node_unref(f->node);
		free(f);
		vfs_job_free(jb);
		return;
	}
	vfs_job_free(jb);
	trace_once(f->node, 1);
	fetch_more(f);
}

static void
start_ref_write(struct vfs_node *n, struct proto_request *req,
    const struct proto_ref *ref, uint64_t off)
{
	struct proto_session *s = n->vs->s;
	struct vfs_node *src;
	struct vfs_fetch *f;
	struct vfs_job *jb;

	jb = vfs_job_new(n->vs->srv, req, n, PROTO_CMD_CACHE_WRITE);
	if (jb == NULL) {
		proto_reply_status(req, ENOMEM, NULL);
		return;
	}
	src = vfs_served(s, ref->linkid);
	if (src != NULL) {
		if (!src->is_cache) {
			proto_reply_status(req, EBADF, "REF is no cache object");
			jb->req = NULL;
			vfs_job_free(jb);
			return;
		}
		src->refs++;
		jb->other = src;
		jb->cookie = ref->offset;
		jb->off = off;
		jb->size = ref->length;
		jb->ready = ready_copy;
		vfs_job_start(jb);
		return;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL || (f->src = proto_link_borrow(s, ref->linkid)) == NULL) {
		proto_reply_status(req, f == NULL ? ENOMEM : EBADF,
		    f == NULL ? NULL : "REF names no object of either side");
		free(f);
		jb->req = NULL;
		vfs_job_free(jb);
		return;
	}
	f->node = n;
	n->refs++;
	f->req = req;
	f->src_off = ref->offset;
	f->dst_off = off;
	f->len = ref->length;
	jb->arg = f;
	jb->ready = ready_fetch;
	vfs_job_start(jb);
}

/* --- dispatch ------------------------------------------------------------------- */

static void
start_write(struct vfs_node *n, struct proto_request *req,
    const struct proto_msg *m)
{
	struct proto_item it;
	struct proto_ref ref;
	struct vfs_job *jb;
	const uint8_t *p;
	uint64_t off;
	size_t len;

	if (!vfs_read_u64(m, PROTO_ITEM_OFFSET, &off) ||
	    proto_msg_find(m, PROTO_ITEM_DATA, &it, NULL) <= 0) {
		proto_reply_status(req, EINVAL, "OFFSET and DATA needed");
		return;
	}
	if (it.id & PROTO_FLAG_REF) {
		if (proto_item_ref(&it, &ref, NULL) < 0) {
			proto_reply_status(req, EINVAL, "a bad REF");
			return;
		}
		start_ref_write(n, req, &ref, off);
		return;
	}
	if (proto_item_bytes(&it, &p, &len, -1, NULL) < 0) {
		proto_reply_status(req, EINVAL, "DATA is not bytes");
		return;
	}
	jb = vfs_job_new(n->vs->srv, req, n, PROTO_CMD_CACHE_WRITE);
	if (jb != NULL && len > 0)
		jb->data = malloc(len);
	if (jb == NULL || (len > 0 && jb->data == NULL)) {
		if (jb != NULL) {
			jb->req = NULL;
			vfs_job_free(jb);
		}
		proto_reply_status(req, ENOMEM, NULL);
		return;
	}
	memcpy(jb->data, p, len);
	jb->datalen = len;
	jb->off = off;
	jb->ready = ready_write;
	vfs_job_start(jb);
}

void
vfs_cache_command(struct vfs_node *n, struct proto_request *req,
    const struct proto_msg *m)
{
	uint16_t cmd = proto_msg_command(m);
	struct vfs_job *jb;

	if (!n->is_cache) {
		proto_reply_status(req, EBADF, "not a cache object: VFS_OPEN "
		    "it first");
		return;
	}
	switch (cmd) {
	case PROTO_CMD_CACHE_READ:
		start_read(n, req, m);
		return;
	case PROTO_CMD_CACHE_WRITE:
		start_write(n, req, m);
		return;
	default:
		break;
	}
	jb = vfs_job_new(n->vs->srv, req, n, cmd);
	if (jb == NULL) {
		proto_reply_status(req, ENOMEM, NULL);
		return;
	}
	if (cmd == PROTO_CMD_CACHE_SIZE) {
		if (vfs_read_u64(m, PROTO_ITEM_LENGTH, &jb->size))
			jb->which = PROTO_VFS_SET_SIZE;
		jb->ready = ready_size;
	} else
		jb->ready = ready_sync;
	vfs_job_start(jb);
}
