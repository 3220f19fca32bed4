/*
 * vfs_ref.c - writes whose DATA is a REF: a server-side copy between two
 * cache objects of the server (no data crosses), and a put by reference
 * where the server fetches the bytes from a link of ours with
 * CACHE_READ while our CACHE_WRITE is outstanding.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto_numbers.h"
#include "vfs_int.h"

/* A server-side copy goes in pieces of this much, all sent at once. */
#define COPY_PIECE	(1ull << 30)
#define COPY_PIECES	64
/* Serving CACHE_READ: queue parts while the session holds less. */
#define SERVE_HIGH	(512u * 1024)
#define SERVE_LOW	(256u * 1024)

/* --- the create that both share ------------------------------------------- */

struct dest {
	struct proto_vfs_client *c;
	struct vc_path p;
	struct vc_walk w;
	struct vc_req cr;		/* VFS_CREATE */
	struct proto_link *f;
	struct vc_req wr[COPY_PIECES];	/* CACHE_WRITEs */
	uint64_t want[COPY_PIECES];
	unsigned nw;
};

/* Walk to the parent and create the file; the writes follow on f. */
static int
dest_create(struct proto_vfs_client *c, struct dest *d, const char *path,
    uint32_t mode, struct vc_batch *b)
{
	struct proto_builder *pb;
	uint64_t id;
	int rc;

	d->c = c;
	vc_req_init(&d->cr, b);
	if ((rc = vc_path_split(&d->p, path)) < 0)
		return rc;
	if (d->p.n == 0)
		return -EISDIR;
	if ((rc = vc_walk_send(c, &d->w, &d->p, d->p.n - 1, b)) < 0)
		return rc;
	if ((d->f = vc_newlink(c)) == NULL)
		return -errno;
	if ((pb = vc_begin(d->w.last, PROTO_CMD_VFS_CREATE)) == NULL)
		return -errno;
	proto_build_string(pb, PROTO_ITEM_NAME, d->p.name[d->p.n - 1],
	    strlen(d->p.name[d->p.n - 1]));
	proto_build_u32(pb, PROTO_ITEM_MODE, mode);
	proto_build_u32(pb, PROTO_ITEM_FLAGS, PROTO_VFS_WRITE |
	    PROTO_VFS_TRUNC);
	id = proto_link_id(d->f);
	proto_build_linkids(pb, PROTO_ITEM_NEWLINK, &id, 1);
	vc_send(c, d->w.last, &d->cr);
	return d->cr.status > 0 ? -d->cr.status : 0;
}

/* CACHE_WRITE {OFFSET, DATA REF {id, off, len}} on d->f. */
static int
dest_write_ref(struct dest *d, struct vc_batch *b, uint64_t id,
    uint64_t off, uint64_t len)
{
	struct proto_builder *pb;
	struct proto_ref ref = { id, off, len };
	struct vc_req *r;

	if (d->nw == COPY_PIECES)
		return -EFBIG;
	r = &d->wr[d->nw];
	vc_req_init(r, b);
	if ((pb = vc_begin(d->f, PROTO_CMD_CACHE_WRITE)) == NULL)
		return -errno;
	proto_build_u64(pb, PROTO_ITEM_OFFSET, off);
	proto_build_ref(pb, PROTO_ITEM_DATA, &ref, 0);
	vc_send(d->c, d->f, r);
	d->want[d->nw++] = len;
	return r->status > 0 ? -r->status : 0;
}

static int
dest_status(struct dest *d)
{
	uint64_t got;
	unsigned i;
	int rc;

	if ((rc = vc_walk_status(&d->w)) != 0 ||
	    (rc = vc_status(&d->cr)) != 0)
		return rc;
	for (i = 0; i < d->nw; i++) {
		if ((rc = vc_status(&d->wr[i])) != 0)
			return rc;
		if (vc_msg_u64(&d->wr[i], PROTO_ITEM_LENGTH, &got) < 0)
			return -EPROTO;
		/* The source shrank under us, or the server stopped short. */
		if (got != d->want[i])
			return -EIO;
	}
	return 0;
}

static void
dest_release(struct dest *d)
{
	unsigned i;

	vc_walk_release(d->c, &d->w);
	vc_link_settle(d->c, d->f, &d->cr);
	vc_req_free(&d->cr);
	for (i = 0; i < d->nw; i++)
		vc_req_free(&d->wr[i]);
}

/* --- server-side copy ----------------------------------------------------- */

struct copy {
	struct vc_path p;
	struct vc_walk w;
	struct vc_batch b;
	struct vc_req or;
	struct proto_link *a;		/* the source's cache object */
	struct proto_vfs_attr attr;
	struct dest d;
};

static int
copy_open(struct proto_vfs_client *c, struct copy *k, const char *from)
{
	struct proto_builder *pb;
	uint64_t id;
	int rc;

	vc_req_init(&k->or, &k->b);
	if ((rc = vc_path_split(&k->p, from)) < 0)
		return rc;
	rc = vc_walk_send(c, &k->w, &k->p, k->p.n, &k->b);
	if (rc == 0 && (k->a = vc_newlink(c)) == NULL)
		rc = -errno;
	if (rc == 0 && (pb = vc_begin(k->w.last, PROTO_CMD_VFS_OPEN)) == NULL)
		rc = -errno;
	if (rc == 0) {
		proto_build_u32(pb, PROTO_ITEM_FLAGS, PROTO_VFS_READ);
		id = proto_link_id(k->a);
		proto_build_linkids(pb, PROTO_ITEM_NEWLINK, &id, 1);
		vc_send(c, k->w.last, &k->or);
		if (k->or.status > 0)
			rc = -k->or.status;
	}
	(void)vc_wait(c, &k->b);
	if (rc == 0)
		rc = vc_walk_status(&k->w);
	if (rc == 0)
		rc = vc_reply_attr(&k->or, &k->attr);
	return rc;
}

int
proto_vfs_copy(struct proto_vfs_client *c, const char *from, const char *to,
    const struct proto_vfs_xfer *x)
{
	struct copy *k;
	uint64_t off, len, n;
	int rc;

	if ((rc = vc_usable(c, 1)) < 0)
		return rc;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return -ENOMEM;
	/* First the source: its size and mode decide the rest. */
	rc = copy_open(c, k, from);
	if (rc == 0) {
		rc = dest_create(c, &k->d, to, k->attr.mode & 07777, &k->b);
		len = k->attr.size;
		for (off = 0; rc == 0 && off < len; off += n) {
			n = len - off < COPY_PIECE ? len - off : COPY_PIECE;
			rc = dest_write_ref(&k->d, &k->b, proto_link_id(k->a),
			    off, n);
		}
		(void)vc_wait(c, &k->b);
		if (rc == 0)
			rc = dest_status(&k->d);
		dest_release(&k->d);
	}
	if (rc == 0 && x != NULL && x->progress != NULL)
		x->progress(x->arg, k->attr.size, k->attr.size);
	vc_walk_release(c, &k->w);
	vc_link_settle(c, k->a, &k->or);
	vc_req_free(&k->or);
	free(k);
	return rc;
}

/* --- put by reference: our fd, served as a cache object ------------------- */

struct serving;

struct exported {
	struct proto_vfs_client *c;
	int fd;
	off_t base;
	uint64_t size;
	struct serving *serves;
	struct proto_vfs_xfer x;
	uint64_t moved;
};

/* One CACHE_READ the server sent us, answered part by part. */
struct serving {
	struct exported *e;
	struct serving *next;
	struct proto_request *req;
	uint64_t off, end, done;
	uint8_t buf[PROTO_VFS_PART];
};

static void
serving_unlink(struct serving *sv)
{
	struct serving **pp;

	for (pp = &sv->e->serves; *pp != NULL; pp = &(*pp)->next)
		if (*pp == sv) {
			*pp = sv->next;
			break;
		}
}

static void
serving_end(struct serving *sv, int status)
{
	struct proto_builder *b;

	serving_unlink(sv);
	if (status != 0)
		(void)proto_reply_status(sv->req, status, NULL);
	else if ((b = proto_reply_begin(sv->req)) != NULL) {
		proto_build_u32(b, PROTO_ITEM_STATUS, 0);
		proto_build_u64(b, PROTO_ITEM_LENGTH, sv->done);
		(void)proto_reply_end(sv->req, 1);
	}
	free(sv);
}

/* One part: 0 sent, 1 the end of the range or the file, or -errno. */
static int
serving_part(struct serving *sv)
{
	struct exported *e = sv->e;
	struct proto_builder *b;
	uint64_t want = sv->end - sv->off;
	ssize_t n;

	if (want == 0)
		return 1;
	if (want > sizeof(sv->buf))
		want = sizeof(sv->buf);
	do
		n = pread(e->fd, sv->buf, want, e->base + (off_t)sv->off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return 1;
	if ((b = proto_reply_begin(sv->req)) == NULL)
		return -ENOMEM;
	proto_build_u64(b, PROTO_ITEM_OFFSET, sv->off);
	proto_build_bytes(b, PROTO_ITEM_DATA, sv->buf, (size_t)n);
	if (proto_reply_end(sv->req, 0) < 0)
		return -EIO;
	e->c->sent += (uint64_t)n;
	e->moved += (uint64_t)n;
	sv->off += (uint64_t)n;
	sv->done += (uint64_t)n;
	return 0;
}

static void
serving_pump(void *arg)
{
	struct serving *sv = arg;
	struct proto_session *s = sv->e->c->s;
	int rc;

	/* Queue while the session has room; else wait to be called. */
	for (;;) {
		if (proto_session_queued(s) >= SERVE_HIGH) {
			if (proto_session_when_room(s, SERVE_LOW, serving_pump,
			    sv) == 0)
				return;
			serving_end(sv, ENOMEM);
			return;
		}
		rc = serving_part(sv);
		if (rc != 0) {
			serving_end(sv, rc < 0 ? -rc : 0);
			return;
		}
		if (sv->e->x.progress != NULL)
			sv->e->x.progress(sv->e->x.arg, sv->e->moved,
			    sv->e->size);
	}
}

static void
exported_command(void *state, struct proto_request *req,
    const struct proto_msg *m)
{
	struct exported *e = state;
	struct serving *sv;
	struct proto_item it;
	uint64_t off, len;

	if (proto_msg_command(m) != PROTO_CMD_CACHE_READ) {
		(void)proto_reply_status(req, ENOSYS, "a read-only object");
		return;
	}
	if (proto_msg_find(m, PROTO_ITEM_OFFSET, &it, NULL) <= 0 ||
	    proto_item_u64(&it, &off, NULL) < 0 ||
	    proto_msg_find(m, PROTO_ITEM_LENGTH, &it, NULL) <= 0 ||
	    proto_item_u64(&it, &len, NULL) < 0 || len > UINT32_MAX ||
	    off > INT64_MAX - len) {
		(void)proto_reply_status(req, EINVAL, "OFFSET and LENGTH");
		return;
	}
	if ((sv = calloc(1, sizeof(*sv))) == NULL) {
		(void)proto_reply_status(req, ENOMEM, NULL);
		return;
	}
	sv->e = e;
	sv->req = req;
	sv->off = off;
	sv->end = off + len;
	sv->next = e->serves;
	e->serves = sv;
	serving_pump(sv);
}

/* Unexported: what is still being served ends (its replies dropped). */
static void
exported_close(void *state, struct proto_link *l)
{
	struct exported *e = state;

	(void)l;
	while (e->serves != NULL) {
		proto_session_cancel_room(e->c->s, e->serves);
		serving_end(e->serves, ECANCELED);
	}
}

static const struct proto_service_ops exported_ops = {
	.command = exported_command,
	.close = exported_close,
};

int
proto_vfs_put_ref(struct proto_vfs_client *c, int fd, const char *path,
    uint32_t mode, const struct proto_vfs_xfer *x)
{
	struct exported e;
	struct dest *d;
	struct vc_batch b = { 0, NULL, NULL };
	struct proto_link *l;
	struct stat st;
	int rc;

	if ((rc = vc_usable(c, 1)) < 0)
		return rc;
	memset(&e, 0, sizeof(e));
	e.c = c;
	e.fd = fd;
	if (x != NULL)
		e.x = *x;
	if (fstat(fd, &st) < 0 || (e.base = lseek(fd, 0, SEEK_CUR)) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ESPIPE;
	e.size = st.st_size > e.base ? (uint64_t)(st.st_size - e.base) : 0;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return -ENOMEM;
	l = proto_link_export(c->s, &exported_ops, &e);
	if (l == NULL) {
		free(d);
		return -errno;
	}
	rc = dest_create(c, d, path, mode, &b);
	if (rc == 0 && e.size > 0)
		rc = dest_write_ref(d, &b, proto_link_id(l), 0, e.size);
	(void)vc_wait(c, &b);
	/* A lost session took the exported link with it. */
	if (!c->lost)
		proto_link_unexport(l);
	if (rc == 0)
		rc = dest_status(d);
	dest_release(d);
	free(d);
	if (rc == 0)
		(void)lseek(fd, e.base + (off_t)e.size, SEEK_SET);
	return rc;
}
