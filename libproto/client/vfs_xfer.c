/*
 * vfs_xfer.c - the VFS client's transfers: a file's data through its
 * cache object, several CACHE_READs or CACHE_WRITEs outstanding at once.
 *
 * A transfer is a small state machine driven by replies: the walk and
 * the VFS_OPEN (get) or VFS_CREATE (put) go out together; when that
 * batch is done, reads or writes are kept `inflight` deep until the end
 * of the data, then the links are given back and done() called. Memory
 * is bounded by inflight chunks (get to a pipe buffers each chunk until
 * it can be written in order; to a file each part is pwrite()n as it
 * comes), never by the file's size. The session engine resumes broken
 * transports underneath: nothing here times out.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto_numbers.h"
#include "vfs_int.h"

/*
 * DATA per CACHE_WRITE: a message is at most 65535 bytes and, with the
 * CRC feature, 8 less; the header and OFFSET take 32 more. 60 KiB
 * leaves room for all of it.
 */
#define PUT_MAX		61440u
#define PROGRESS_NS	(250 * PROTO_MS)

struct vc_slot {
	struct vc_xfer *t;
	struct vc_batch b;
	struct vc_req r;
	uint64_t off;
	uint32_t len;
	uint64_t got;			/* DATA bytes the parts carried */
	uint8_t *buf;			/* get to a pipe: the chunk */
	int done;
};

struct vc_xfer {
	struct proto_vfs_client *c;
	struct vc_xfer *next, **prevp;	/* in c->xfers */
	int put;
	int fd;
	int seekable;
	off_t base;			/* fd's offset when we began */
	struct proto_vfs_xfer x;
	proto_vfs_done_fn *done;
	void *arg;
	struct vc_path p;
	struct vc_walk w;
	struct vc_batch ob;		/* the walk and the open */
	struct vc_req or;
	struct proto_link *f;		/* the cache object */
	struct proto_vfs_attr attr;
	uint64_t next_off;		/* next byte to ask for or send */
	uint64_t moved;		/* bytes written to fd or acked */
	int eof;
	int err;			/* the first error, negative */
	uint64_t last_progress;
	struct vc_slot *slot;	/* x.inflight, a ring in offset order */
	unsigned head, count;
	uint8_t *pbuf;			/* put: one chunk read from fd */
	int finished;
};

static void xfer_pump(struct vc_xfer *t);

static void
xfer_defaults(struct proto_vfs_xfer *dst, const struct proto_vfs_xfer *x,
    int put)
{
	memset(dst, 0, sizeof(*dst));
	if (x != NULL)
		*dst = *x;
	if (dst->inflight == 0)
		dst->inflight = 16;
	if (dst->inflight > 1024)
		dst->inflight = 1024;
	if (dst->chunk == 0)
		dst->chunk = 1024 * 1024;
	if (put && dst->chunk > PUT_MAX)
		dst->chunk = PUT_MAX;
}

static void
progress(struct vc_xfer *t, int force)
{
	uint64_t now;

	if (t->x.progress == NULL)
		return;
	now = proto_loop_now(t->c->loop);
	if (!force && now - t->last_progress < PROGRESS_NS)
		return;
	t->last_progress = now;
	t->x.progress(t->x.arg, t->moved, t->attr.size);
}

static void
fail(struct vc_xfer *t, int err)
{
	if (t->err == 0)
		t->err = err;
}

/* Links given back, done() called, the transfer freed. */
static void
xfer_finish(struct vc_xfer *t)
{
	struct proto_vfs_client *c = t->c;
	unsigned i;

	if (t->finished)
		return;
	t->finished = 1;
	vc_walk_release(t->c, &t->w);
	vc_link_settle(t->c, t->f, &t->or);
	vc_req_free(&t->or);
	if (t->seekable && t->err == 0)
		(void)lseek(t->fd, t->base + (off_t)t->moved, SEEK_SET);
	*t->prevp = t->next;
	if (t->next != NULL)
		t->next->prevp = t->prevp;
	c->nxfers--;
	if (t->err == 0)
		progress(t, 1);
	for (i = 0; i < t->x.inflight; i++)
		free(t->slot[i].buf);
	free(t->slot);
	free(t->pbuf);
	if (t->done != NULL)
		t->done(t->arg, t->err);
	free(t);
}

/* --- get ------------------------------------------------------------------ */

static void
get_part(void *arg, const struct proto_msg *m)
{
	struct vc_slot *sl = arg;
	struct vc_xfer *t = sl->t;
	struct proto_item it;
	const uint8_t *data;
	uint64_t off;
	size_t len;
	ssize_t n;

	if (proto_msg_find(m, PROTO_ITEM_DATA, &it, NULL) <= 0)
		return;
	if (proto_item_bytes(&it, &data, &len, -1, NULL) < 0 ||
	    proto_msg_find(m, PROTO_ITEM_OFFSET, &it, NULL) <= 0 ||
	    proto_item_u64(&it, &off, NULL) < 0 || off < sl->off ||
	    off - sl->off > sl->len || len > sl->len - (off - sl->off)) {
		fail(t, -EPROTO);
		return;
	}
	t->c->received += len;
	sl->got += len;
	if (t->err != 0)
		return;
	if (sl->buf != NULL) {
		memcpy(sl->buf + (off - sl->off), data, len);
		return;
	}
	while (len > 0) {
		n = pwrite(t->fd, data, len, t->base + (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail(t, -errno);
			return;
		}
		data += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
}

static void
get_read_done(void *arg)
{
	struct vc_slot *sl = arg;
	struct vc_xfer *t = sl->t;
	uint64_t length;
	int rc;

	sl->done = 1;
	rc = vc_status(&sl->r);
	if (rc == 0 && vc_msg_u64(&sl->r, PROTO_ITEM_LENGTH, &length) < 0)
		rc = -EPROTO;
	if (rc == 0 && (length > sl->len || length != sl->got))
		rc = -EPROTO;
	vc_req_free(&sl->r);
	if (rc != 0) {
		fail(t, rc);
	} else if (length < sl->len) {
		/* Short: the end of the file. Later reads come back empty. */
		t->eof = 1;
	}
	sl->got = rc == 0 ? length : 0;
	xfer_pump(t);
}

static int
write_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Completed reads at the head of the ring, in offset order. */
static void
get_retire(struct vc_xfer *t)
{
	struct vc_slot *sl;
	int rc;

	while (t->count > 0 && t->slot[t->head].done) {
		sl = &t->slot[t->head];
		if (t->err == 0 && sl->buf != NULL &&
		    (rc = write_all(t->fd, sl->buf, sl->got)) < 0)
			fail(t, rc);
		if (t->err == 0)
			t->moved += sl->got;
		t->head = (t->head + 1) % t->x.inflight;
		t->count--;
	}
}

static int
get_issue(struct vc_xfer *t)
{
	struct vc_slot *sl;
	struct proto_builder *pb;

	sl = &t->slot[(t->head + t->count) % t->x.inflight];
	if (!t->seekable && sl->buf == NULL &&
	    (sl->buf = malloc(t->x.chunk)) == NULL)
		return -ENOMEM;
	sl->t = t;
	sl->off = t->next_off;
	sl->len = t->x.chunk;
	sl->got = 0;
	sl->done = 0;
	memset(&sl->b, 0, sizeof(sl->b));
	sl->b.done = get_read_done;
	sl->b.arg = sl;
	vc_req_init(&sl->r, &sl->b);
	sl->r.part = get_part;
	sl->r.arg = sl;
	pb = vc_begin(t->f, PROTO_CMD_CACHE_READ);
	if (pb == NULL)
		return -errno;
	proto_build_u64(pb, PROTO_ITEM_OFFSET, sl->off);
	proto_build_u64(pb, PROTO_ITEM_LENGTH, sl->len);
	vc_send(t->c, t->f, &sl->r);
	if (sl->r.status > 0)
		return -sl->r.status;
	t->next_off += sl->len;
	t->count++;
	return 0;
}

static void
get_pump(struct vc_xfer *t)
{
	int rc;

	get_retire(t);
	/*
	 * Ask for the bytes up to one past the size the open saw, so that
	 * a short read proves the end in the same round trip; a file that
	 * grew meanwhile goes on one read at a time until one is short.
	 */
	while (t->err == 0 && !t->eof && t->count < t->x.inflight &&
	    (t->next_off <= t->attr.size || t->count == 0)) {
		if ((rc = get_issue(t)) < 0)
			fail(t, rc);
	}
	progress(t, 0);
	if (t->count == 0 && (t->eof || t->err != 0))
		xfer_finish(t);
}

/* --- put ------------------------------------------------------------------ */

static void
put_write_done(void *arg)
{
	struct vc_slot *sl = arg;
	struct vc_xfer *t = sl->t;
	uint64_t length;
	int rc;

	sl->done = 1;
	rc = vc_status(&sl->r);
	if (rc == 0 && vc_msg_u64(&sl->r, PROTO_ITEM_LENGTH, &length) < 0)
		rc = -EPROTO;
	/* A short write to a regular file is an error worth naming. */
	if (rc == 0 && length != sl->len)
		rc = -EIO;
	vc_req_free(&sl->r);
	if (rc != 0)
		fail(t, rc);
	xfer_pump(t);
}

static ssize_t
put_read(struct vc_xfer *t, size_t want)
{
	ssize_t n;

	do {
		if (t->seekable)
			n = pread(t->fd, t->pbuf, want, t->base +
			    (off_t)t->next_off);
		else
			n = read(t->fd, t->pbuf, want);
	} while (n < 0 && errno == EINTR);
	return n;
}

static int
put_issue(struct vc_xfer *t)
{
	struct vc_slot *sl;
	struct proto_builder *pb;
	ssize_t n;

	n = put_read(t, t->x.chunk);
	if (n < 0)
		return -errno;
	if (n == 0) {
		t->eof = 1;
		return 0;
	}
	sl = &t->slot[(t->head + t->count) % t->x.inflight];
	sl->t = t;
	sl->off = t->next_off;
	sl->len = (uint32_t)n;
	sl->done = 0;
	memset(&sl->b, 0, sizeof(sl->b));
	sl->b.done = put_write_done;
	sl->b.arg = sl;
	vc_req_init(&sl->r, &sl->b);
	pb = vc_begin(t->f, PROTO_CMD_CACHE_WRITE);
	if (pb == NULL)
		return -errno;
	proto_build_u64(pb, PROTO_ITEM_OFFSET, sl->off);
	proto_build_bytes(pb, PROTO_ITEM_DATA, t->pbuf, (size_t)n);
	vc_send(t->c, t->f, &sl->r);
	if (sl->r.status > 0)
		return -sl->r.status;
	t->c->sent += (uint64_t)n;
	t->next_off += (uint64_t)n;
	t->count++;
	return 0;
}

static void
put_pump(struct vc_xfer *t)
{
	int rc;

	while (t->count > 0 && t->slot[t->head].done) {
		if (t->err == 0)
			t->moved += t->slot[t->head].len;
		t->head = (t->head + 1) % t->x.inflight;
		t->count--;
	}
	while (t->err == 0 && !t->eof && t->count < t->x.inflight)
		if ((rc = put_issue(t)) < 0)
			fail(t, rc);
	progress(t, 0);
	if (t->count == 0 && (t->eof || t->err != 0))
		xfer_finish(t);
}

/* --- the shared start ----------------------------------------------------- */

static void
xfer_pump(struct vc_xfer *t)
{
	if (t->put)
		put_pump(t);
	else
		get_pump(t);
}

/* The walk and the open or create came back. */
static void
xfer_opened(void *arg)
{
	struct vc_xfer *t = arg;
	int rc;

	rc = vc_walk_status(&t->w);
	if (rc == 0)
		rc = vc_reply_attr(&t->or, &t->attr);
	if (rc == 0 && t->put && t->x.attr != NULL)
		*t->x.attr = t->attr;
	if (rc == 0 && t->put)
		t->attr.size = 0;
	if (rc == 0 && t->put && t->seekable) {
		struct stat st;

		/* What progress counts toward: the rest of fd. */
		if (fstat(t->fd, &st) == 0 && st.st_size > t->base)
			t->attr.size = (uint64_t)(st.st_size - t->base);
	}
	if (rc != 0) {
		fail(t, rc);
		xfer_finish(t);
		return;
	}
	if (t->x.attr != NULL && !t->put)
		*t->x.attr = t->attr;
	xfer_pump(t);
}

static struct vc_xfer *
xfer_new(struct proto_vfs_client *c, int put, int fd, const char *path,
    const struct proto_vfs_xfer *x, int *rc)
{
	struct vc_xfer *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		*rc = -ENOMEM;
		return NULL;
	}
	t->c = c;
	t->put = put;
	t->fd = fd;
	xfer_defaults(&t->x, x, put);
	t->base = lseek(fd, 0, SEEK_CUR);
	/* O_APPEND would put every pwrite at the end, in arrival order. */
	t->seekable = t->base >= 0 && (fcntl(fd, F_GETFL) & O_APPEND) == 0;
	if (!t->seekable)
		t->base = 0;
	t->slot = calloc(t->x.inflight, sizeof(*t->slot));
	if (t->slot == NULL || (put && (t->pbuf = malloc(t->x.chunk)) == NULL))
		*rc = -ENOMEM;
	else
		*rc = vc_path_split(&t->p, path);
	if (*rc == 0 && put && t->p.n == 0)
		*rc = -EISDIR;
	if (*rc != 0) {
		free(t->slot);
		free(t->pbuf);
		free(t);
		return NULL;
	}
	t->ob.done = xfer_opened;
	t->ob.arg = t;
	vc_req_init(&t->or, &t->ob);
	return t;
}

static void
xfer_link(struct vc_xfer *t)
{
	struct proto_vfs_client *c = t->c;

	t->next = c->xfers;
	if (c->xfers != NULL)
		c->xfers->prevp = &t->next;
	t->prevp = &c->xfers;
	c->xfers = t;
	c->nxfers++;
}

/*
 * Send the walk and the open (get: VFS_OPEN on the node) or the create
 * (put: VFS_CREATE in the parent), all at once. A failure after the
 * first command went out still ends through the batch: the replies
 * point at t.
 */
static int
xfer_send_open(struct vc_xfer *t, uint32_t mode)
{
	struct proto_builder *pb;
	size_t depth = t->put ? t->p.n - 1 : t->p.n;
	uint64_t id;
	int rc;

	t->ob.pending = 1;	/* ours, until everything is sent */
	rc = vc_walk_send(t->c, &t->w, &t->p, depth, &t->ob);
	if (rc == 0 && (t->f = vc_newlink(t->c)) == NULL)
		rc = -errno;
	if (rc == 0) {
		pb = vc_begin(t->w.last, t->put ? PROTO_CMD_VFS_CREATE :
		    PROTO_CMD_VFS_OPEN);
		if (pb == NULL)
			rc = -errno;
	}
	if (rc == 0) {
		if (t->put) {
			proto_build_string(pb, PROTO_ITEM_NAME,
			    t->p.name[depth], strlen(t->p.name[depth]));
			proto_build_u32(pb, PROTO_ITEM_MODE, mode);
			proto_build_u32(pb, PROTO_ITEM_FLAGS, PROTO_VFS_WRITE |
			    PROTO_VFS_TRUNC);
		} else
			proto_build_u32(pb, PROTO_ITEM_FLAGS, PROTO_VFS_READ);
		id = proto_link_id(t->f);
		proto_build_linkids(pb, PROTO_ITEM_NEWLINK, &id, 1);
		vc_send(t->c, t->w.last, &t->or);
		if (t->or.status > 0)
			rc = -t->or.status;
	}
	if (rc != 0)
		fail(t, rc);
	xfer_link(t);
	if (--t->ob.pending == 0)
		xfer_opened(t);
	return 0;
}

int
proto_vfs_get_start(struct proto_vfs_client *c, const char *path, int fd,
    const struct proto_vfs_xfer *x, proto_vfs_done_fn *done, void *arg)
{
	struct vc_xfer *t;
	int rc;

	if ((rc = vc_usable(c, 0)) < 0)
		return rc;
	if ((t = xfer_new(c, 0, fd, path, x, &rc)) == NULL)
		return rc;
	t->done = done;
	t->arg = arg;
	return xfer_send_open(t, 0);
}

int
proto_vfs_put_start(struct proto_vfs_client *c, int fd, const char *path,
    uint32_t mode, const struct proto_vfs_xfer *x, proto_vfs_done_fn *done,
    void *arg)
{
	struct vc_xfer *t;
	int rc;

	if ((rc = vc_usable(c, 0)) < 0)
		return rc;
	if ((t = xfer_new(c, 1, fd, path, x, &rc)) == NULL)
		return rc;
	t->done = done;
	t->arg = arg;
	return xfer_send_open(t, mode);
}

int
proto_vfs_drain(struct proto_vfs_client *c)
{
	if (proto_loop_in_callback(c->loop))
		return -EDEADLK;
	while (c->nxfers > 0)
		if (proto_loop_run_once(c->loop, UINT64_MAX) < 0 &&
		    errno != EINTR)
			return -errno;
	return 0;
}

/* --- the blocking forms --------------------------------------------------- */

struct one {
	int done, err;
};

static void
one_done(void *arg, int error)
{
	struct one *o = arg;

	o->done = 1;
	o->err = error;
}

static int
one_wait(struct proto_vfs_client *c, struct one *o)
{
	/* o is on the caller's stack: stay until done() came. */
	while (!o->done)
		if (proto_loop_run_once(c->loop, UINT64_MAX) < 0 &&
		    errno != EINTR)
			return -errno;
	return o->err;
}

int
proto_vfs_get(struct proto_vfs_client *c, const char *path, int fd,
    const struct proto_vfs_xfer *x)
{
	struct one o = { 0, 0 };
	int rc;

	if ((rc = vc_usable(c, 1)) < 0)
		return rc;
	if ((rc = proto_vfs_get_start(c, path, fd, x, one_done, &o)) < 0)
		return rc;
	return one_wait(c, &o);
}

int
proto_vfs_put(struct proto_vfs_client *c, int fd, const char *path,
    uint32_t mode, const struct proto_vfs_xfer *x)
{
	struct one o = { 0, 0 };
	int rc;

	if ((rc = vc_usable(c, 1)) < 0)
		return rc;
	if ((rc = proto_vfs_put_start(c, fd, path, mode, x, one_done, &o)) <
	    0)
		return rc;
	return one_wait(c, &o);
}
