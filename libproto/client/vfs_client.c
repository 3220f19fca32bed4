/*
 * vfs_client.c - the VFS client of msgproto(7) section 6: the reply
 * path every command shares, path walks, and the blocking calls on
 * names and attributes.
 *
 * A path "a/b/c" is resolved 9P style: three link ids are taken at once
 * and three VFS_LOOKUPs sent back to back, each on the link the one
 * before binds, with the command that uses the last link behind them;
 * one round trip in all. A lookup that fails makes the later ones fail
 * EBADF, so the first error is the one reported.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_numbers.h"
#include "vfs_int.h"

/* --- the reply path ------------------------------------------------------- */

int
vc_usable(const struct proto_vfs_client *c, int blocking)
{
	if (c->lost)
		return -ECONNRESET;
	/* A blocking call must refuse before it sends anything. */
	if (blocking && proto_loop_in_callback(c->loop))
		return -EDEADLK;
	return 0;
}

void
vc_req_init(struct vc_req *r, struct vc_batch *b)
{
	memset(r, 0, sizeof(*r));
	r->batch = b;
	r->status = -1;
}

void
vc_req_free(struct vc_req *r)
{
	free(r->reply);
	r->reply = NULL;
}

static void
vc_reply(void *arg, struct proto_call *call, const struct proto_msg *m,
    int status, int final)
{
	struct vc_req *r = arg;
	struct vc_batch *b = r->batch;

	(void)call;
	if (m != NULL && r->part != NULL)
		r->part(r->arg, m);
	if (!final)
		return;
	r->status = status;
	/*
	 * Only a lost session fails commands here with ECONNRESET, and it
	 * frees every link after: none may be touched from now on.
	 */
	if (m == NULL && status == ECONNRESET && r->c != NULL)
		r->c->lost = 1;
	if (m != NULL) {
		r->reply = malloc(m->length);
		if (r->reply == NULL) {
			r->status = ENOMEM;
		} else {
			memcpy(r->reply, m->bytes, m->length);
			/* Without its CRC item m is shorter than it came. */
			proto_put16(r->reply + 14, m->length);
		}
	}
	if (--b->pending == 0 && b->done != NULL)
		b->done(b->arg);
}

struct proto_builder *
vc_begin(struct proto_link *l, uint16_t command)
{
	return proto_cmd_begin(l, command);
}

void
vc_send(struct proto_vfs_client *c, struct proto_link *l, struct vc_req *r)
{
	r->c = c;
	if (proto_cmd_send(l, vc_reply, r) == NULL) {
		r->status = errno != 0 ? errno : EIO;
		return;
	}
	r->batch->pending++;
}

int
vc_wait(struct proto_vfs_client *c, struct vc_batch *b)
{
	/*
	 * Replies point at b on the caller's stack: whatever the loop
	 * says, stay until every final came (the session engine fails
	 * them all, ECONNRESET, if the session is lost).
	 */
	while (b->pending > 0)
		if (proto_loop_run_once(c->loop, UINT64_MAX) < 0 &&
		    errno != EINTR)
			return -errno;
	return 0;
}

int
vc_status(const struct vc_req *r)
{
	if (r->status < 0)
		return -EIO;
	return -r->status;
}

int
vc_view(const struct vc_req *r, struct proto_msg *m)
{
	if (r->reply == NULL)
		return -EIO;
	if (proto_msg_view(m, r->reply, proto_get16(r->reply + 14), 0,
	    NULL) < 0)
		return -EPROTO;
	return 0;
}

int
vc_msg_u64(const struct vc_req *r, uint16_t type, uint64_t *v)
{
	struct proto_msg m;
	struct proto_item it;

	if (vc_view(r, &m) < 0 || proto_msg_find(&m, type, &it, NULL) <= 0 ||
	    proto_item_u64(&it, v, NULL) < 0)
		return -EPROTO;
	return 0;
}

/* --- attributes ----------------------------------------------------------- */

static void
attr_item(struct proto_vfs_attr *a, const struct proto_item *it)
{
	switch (proto_item_type(it)) {
	case PROTO_ITEM_MODE:
		(void)proto_item_u32(it, &a->mode, NULL);
		break;
	case PROTO_ITEM_UID:
		(void)proto_item_u32(it, &a->uid, NULL);
		break;
	case PROTO_ITEM_GID:
		(void)proto_item_u32(it, &a->gid, NULL);
		break;
	case PROTO_ITEM_NLINK:
		(void)proto_item_u32(it, &a->nlink, NULL);
		break;
	case PROTO_ITEM_SIZE:
		(void)proto_item_u64(it, &a->size, NULL);
		break;
	case PROTO_ITEM_INO:
		(void)proto_item_u64(it, &a->ino, NULL);
		break;
	case PROTO_ITEM_CHANGE:
		(void)proto_item_u64(it, &a->change, NULL);
		break;
	case PROTO_ITEM_ATIME:
		(void)proto_item_i64(it, &a->atime, NULL);
		break;
	case PROTO_ITEM_MTIME:
		(void)proto_item_i64(it, &a->mtime, NULL);
		break;
	case PROTO_ITEM_CTIME:
		(void)proto_item_i64(it, &a->ctime, NULL);
		break;
	default:
		/* Later attributes: ignored, as the schema allows. */
		break;
	}
}

int
vc_parse_attr(const struct proto_msg *m, struct proto_vfs_attr *a)
{
	struct proto_iter top, in;
	struct proto_item it, child;

	memset(a, 0, sizeof(*a));
	if (proto_msg_find(m, PROTO_ITEM_ATTR, &it, NULL) <= 0 ||
	    !proto_item_is_nest(&it))
		return -EPROTO;
	proto_iter_init(&top, m);
	/* proto_iter_nest wants the parent level that returned the nest. */
	while (proto_iter_next(&top, &child, NULL) > 0)
		if (child.offset == it.offset)
			break;
	if (proto_iter_nest(&in, &top, &it, NULL) < 0)
		return -EPROTO;
	while (proto_iter_next(&in, &child, NULL) > 0)
		attr_item(a, &child);
	return 0;
}

int
vc_reply_attr(const struct vc_req *r, struct proto_vfs_attr *a)
{
	struct proto_msg m;
	int rc;

	if ((rc = vc_status(r)) != 0)
		return rc;
	if (a == NULL)
		return 0;
	if ((rc = vc_view(r, &m)) < 0)
		return rc;
	return vc_parse_attr(&m, a);
}

/* --- notifications -------------------------------------------------------- */

/*
 * The server tells us, on links we hold, that a node, a directory's
 * entries or a file's data changed. The client keeps no attribute or
 * data cache past one call (every call resolves its path afresh), so
 * there is nothing to drop: count it and answer 0, as the protocol asks.
 */
static void
vc_notice(void *state, struct proto_request *req, const struct proto_msg *m)
{
	struct proto_vfs_client *c = state;
	uint16_t cmd = proto_msg_command(m);

	if (cmd == PROTO_CMD_VFS_NOTIFY || cmd == PROTO_CMD_CACHE_INVALIDATE) {
		c->notices++;
		(void)proto_reply_status(req, 0, NULL);
		return;
	}
	(void)proto_reply_status(req, ENOSYS, "not a command for a client");
}

static const struct proto_service_ops vc_notice_ops = {
	.command = vc_notice,
};

struct proto_link *
vc_newlink(struct proto_vfs_client *c)
{
	struct proto_link *l = proto_link_new(c->root);

	if (l != NULL)
		proto_link_set_handler(l, &vc_notice_ops, c);
	return l;
}

void
vc_link_settle(struct proto_vfs_client *c, struct proto_link *l,
    const struct vc_req *r)
{
	if (l == NULL || c->lost)
		return;
	if (r->status == 0)
		(void)proto_link_close(l, NULL, NULL);
	else
		proto_link_forget(l);
}

/* --- paths ---------------------------------------------------------------- */

int
vc_path_split(struct vc_path *p, const char *path)
{
	char *s, *save, *tok;
	size_t len = strlen(path);

	p->n = 0;
	if (len >= sizeof(p->buf))
		return -ENAMETOOLONG;
	memcpy(p->buf, path, len + 1);
	for (s = p->buf; (tok = strtok_r(s, "/", &save)) != NULL; s = NULL) {
		if (strcmp(tok, ".") == 0)
			continue;
		if (strlen(tok) > VC_NAME_MAX)
			return -ENAMETOOLONG;
		if (p->n == VC_DEPTH_MAX)
			return -ENAMETOOLONG;
		p->name[p->n++] = tok;
	}
	return 0;
}

static int
build_name(struct proto_builder *b, uint16_t type, const char *name)
{
	return proto_build_string(b, type, name, strlen(name));
}

static int
build_newlink(struct proto_builder *b, uint16_t type,
    const struct proto_link *l)
{
	uint64_t id = proto_link_id(l);

	return proto_build_linkids(b, type, &id, 1);
}

int
vc_walk_send(struct proto_vfs_client *c, struct vc_walk *w,
    const struct vc_path *p, size_t n, struct vc_batch *b)
{
	struct proto_builder *pb;
	struct proto_link *dir = c->root;
	size_t i;

	w->n = 0;
	w->last = c->root;
	for (i = 0; i < n; i++) {
		vc_req_init(&w->req[i], b);
		w->link[i] = vc_newlink(c);
		if (w->link[i] == NULL)
			return -errno;
		w->n = i + 1;
		pb = vc_begin(dir, PROTO_CMD_VFS_LOOKUP);
		if (pb == NULL) {
			w->req[i].status = errno;
			return -errno;
		}
		build_name(pb, PROTO_ITEM_NAME, p->name[i]);
		build_newlink(pb, PROTO_ITEM_NEWLINK, w->link[i]);
		vc_send(c, dir, &w->req[i]);
		if (w->req[i].status > 0)
			return -w->req[i].status;
		dir = w->link[i];
	}
	w->last = dir;
	return 0;
}

int
vc_walk_status(const struct vc_walk *w)
{
	size_t i;
	int rc;

	for (i = 0; i < w->n; i++)
		if ((rc = vc_status(&w->req[i])) != 0)
			return rc;
	return 0;
}

void
vc_walk_release(struct proto_vfs_client *c, struct vc_walk *w)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		vc_link_settle(c, w->link[i], &w->req[i]);
		vc_req_free(&w->req[i]);
	}
	w->n = 0;
}

/* --- the client ----------------------------------------------------------- */

struct opening {
	int done, status;
};

static void
opened(void *arg, struct proto_call *call, const struct proto_msg *m,
    int status, int final)
{
	struct opening *o = arg;

	(void)call;
	(void)m;
	if (!final)
		return;
	o->done = 1;
	o->status = status;
}

struct proto_vfs_client *
proto_vfs_client_new(struct proto_session *s, const char *export_name,
    char *err, size_t errlen)
{
	struct proto_vfs_client *c;
	struct opening o = { 0, 0 };

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, errlen, "vfs client: %s", strerror(errno));
		return NULL;
	}
	c->s = s;
	c->loop = proto_session_loop(s);
	if (proto_loop_in_callback(c->loop)) {
		snprintf(err, errlen, "vfs client: %s", strerror(EDEADLK));
		free(c);
		return NULL;
	}
	c->root = proto_link_open(s, "vfs", export_name, opened, &o);
	if (c->root == NULL) {
		snprintf(err, errlen, "vfs %s: %s", export_name,
		    strerror(errno));
		free(c);
		return NULL;
	}
	/* As vc_wait: o is on this stack, its final must come first. */
	while (!o.done)
		if (proto_loop_run_once(c->loop, UINT64_MAX) < 0 &&
		    errno != EINTR)
			break;
	if (!o.done || o.status != 0) {
		snprintf(err, errlen, "vfs export %s: %s", export_name,
		    strerror(o.done ? o.status : errno));
		/* A refused LINK_OPEN's link is freed by the session. */
		free(c);
		return NULL;
	}
	proto_link_set_handler(c->root, &vc_notice_ops, c);
	return c;
}

void
proto_vfs_client_free(struct proto_vfs_client *c)
{
	if (c == NULL)
		return;
	/* Transfers still running hold links and our pointer. */
	if (!c->lost && !proto_loop_in_callback(c->loop))
		(void)proto_vfs_drain(c);
	if (!c->lost)
		(void)proto_link_close(c->root, NULL, NULL);
	free(c);
}

void
proto_vfs_client_lost(struct proto_vfs_client *c)
{
	c->lost = 1;
}

void
proto_vfs_client_counters(const struct proto_vfs_client *c,
    uint64_t *data_sent, uint64_t *data_received)
{
	if (data_sent != NULL)
		*data_sent = c->sent;
	if (data_received != NULL)
		*data_received = c->received;
}

uint64_t
proto_vfs_client_notices(const struct proto_vfs_client *c)
{
	return c->notices;
}

unsigned
proto_vfs_pending(const struct proto_vfs_client *c)
{
	return c->nxfers;
}

/* --- one command at the end of a path ------------------------------------- */

/*
 * What most calls are: walk `depth` components of path, then one
 * command on the link reached, all in one batch; `items` adds its items.
 */
struct simple {
	struct proto_vfs_client *c;
	struct vc_path p;
	struct vc_walk w;
	struct vc_batch b;
	struct vc_req r;
	struct proto_link *newlink;	/* bound by the command, or NULL */
};

typedef void simple_items_fn(struct proto_builder *pb, struct simple *sc,
    const void *arg);

static int
simple_run(struct proto_vfs_client *c, struct simple *sc, size_t depth,
    uint16_t command, simple_items_fn *items, const void *arg)
{
	struct proto_builder *pb;
	int rc;

	sc->c = c;
	memset(&sc->b, 0, sizeof(sc->b));
	vc_req_init(&sc->r, &sc->b);
	rc = vc_walk_send(c, &sc->w, &sc->p, depth, &sc->b);
	if (rc == 0) {
		pb = vc_begin(sc->w.last, command);
		if (pb == NULL) {
			rc = -errno;
		} else {
			if (items != NULL)
				items(pb, sc, arg);
			vc_send(c, sc->w.last, &sc->r);
			if (sc->r.status > 0)
				rc = -sc->r.status;
		}
	}
	(void)vc_wait(c, &sc->b);
	if (rc == 0)
		rc = vc_walk_status(&sc->w);
	if (rc == 0)
		rc = vc_status(&sc->r);
	return rc;
}

static void
simple_done(struct simple *sc)
{
	vc_walk_release(sc->c, &sc->w);
	if (sc->newlink != NULL)
		vc_link_settle(sc->c, sc->newlink, &sc->r);
	vc_req_free(&sc->r);
}

/* Split off the last component: what the command names in its dir. */
static int
simple_parent(struct simple *sc, const char *path, const char **name)
{
	int rc;

	if ((rc = vc_path_split(&sc->p, path)) < 0)
		return rc;
	if (sc->p.n == 0)
		return -EINVAL;
	*name = sc->p.name[sc->p.n - 1];
	return 0;
}

int
proto_vfs_stat(struct proto_vfs_client *c, const char *path,
    struct proto_vfs_attr *attr)
{
	struct simple sc;
	int rc;

	if ((rc = vc_usable(c, 1)) < 0)
		return rc;
	memset(&sc, 0, sizeof(sc));
	if ((rc = vc_path_split(&sc.p, path)) < 0)
		return rc;
	/* GETATTR on the last link: the lookups' own ATTR would do, but
	   the root has no lookup, and one path is simpler than two. */
	rc = simple_run(c, &sc, sc.p.n, PROTO_CMD_VFS_GETATTR, NULL, NULL);
	if (rc == 0)
		rc = vc_reply_attr(&sc.r, attr);
	simple_done(&sc);
	return rc;
}

struct setattr_arg {
	unsigned which;
	const struct proto_vfs_attr *a;
};

static void
setattr_items(struct proto_builder *pb, struct simple *sc, const void *arg)
{
	const struct setattr_arg *sa = arg;

	(void)sc;
	if (sa->which & PROTO_VFS_SET_MODE)
		proto_build_u32(pb, PROTO_ITEM_MODE, sa->a->mode);
	if (sa->which & PROTO_VFS_SET_UID)
		proto_build_u32(pb, PROTO_ITEM_UID, sa->a->uid);
	if (sa->which & PROTO_VFS_SET_GID)
		proto_build_u32(pb, PROTO_ITEM_GID, sa->a->gid);
	if (sa->which & PROTO_VFS_SET_SIZE)
		proto_build_u64(pb, PROTO_ITEM_SIZE, sa->a->size);
	if (sa->which & PROTO_VFS_SET_ATIME)
		proto_build_i64(pb, PROTO_ITEM_ATIME, sa->a->atime);
	if (sa->which & PROTO_VFS_SET_MTIME)
		proto_build_i64(pb, PROTO_ITEM_MTIME, sa->a->mtime);
}

int
proto_vfs_setattr(struct proto_vfs_client *c, const char *path,
    unsigned which, const struct proto_vfs_attr *attr,
    struct proto_vfs_attr *after)
{
	struct simple sc;
	struct setattr_arg sa = { which, attr };
	int rc;

	if ((rc = vc_usable(c, 1)) < 0)
		return rc;
	memset(&sc, 0, sizeof(sc));
	if ((rc = vc_path_split(&sc.p, path)) < 0)
		return rc;
	rc = simple_run(c, &sc, sc.p.n, PROTO_CMD_VFS_SETATTR, setattr_items,
	    &sa);
	if (rc == 0)
		rc = vc_reply_attr(&sc.r, after);
	simple_done(&sc);
	return rc;
}

struct mkdir_arg {
	const char *name;
	uint32_t mode;
	const char *target;
};

static void
mkdir_items(struct proto_builder *pb, struct simple *sc, const void *arg)
{
	const struct mkdir_arg *ma = arg;

	build_name(pb, PROTO_ITEM_NAME, ma->name);
	if (ma->target != NULL)
		build_name(pb, PROTO_ITEM_SYMTARGET, ma->target);
	else
		proto_build_u32(pb, PROTO_ITEM_MODE, ma->mode);
	sc->newlink = vc_newlink(sc->c);
	if (sc->newlink != NULL)
		build_newlink(pb, PROTO_ITEM_NEWLINK, sc->newlink);
}

static int
make_node(struct proto_vfs_client *c, const char *path, uint16_t command,
    uint32_t mode, const char *target)
{
	struct simple sc;
	struct mkdir_arg ma;
	int rc;

	if ((rc = vc_usable(c, 1)) < 0)
		return rc;
	memset(&sc, 0, sizeof(sc));
	if ((rc = simple_parent(&sc, path, &ma.name)) < 0)
		return rc;
	ma.mode = mode;
	ma.target = target;
	rc = simple_run(c, &sc, sc.p.n - 1, command, mkdir_items, &ma);
	if (rc == 0 && sc.newlink == NULL)
		rc = -ENOMEM;
	simple_done(&sc);
	return rc;
}

int
proto_vfs_mkdir(struct proto_vfs_client *c, const char *path, uint32_t mode)
{
	return make_node(c, path, PROTO_CMD_VFS_MKDIR, mode, NULL);
}

int
proto_vfs_symlink(struct proto_vfs_client *c, const char *target,
    const char *path)
{
	return make_node(c, path, PROTO_CMD_VFS_SYMLINK, 0, target);
}

struct unlink_arg {
	const char *name;
	uint32_t flags;
};

static void
unlink_items(struct proto_builder *pb, struct simple *sc, const void *arg)
{
	const struct unlink_arg *ua = arg;

	(void)sc;
	build_name(pb, PROTO_ITEM_NAME, ua->name);
	proto_build_u32(pb, PROTO_ITEM_FLAGS, ua->flags);
}

static int
remove_name(struct proto_vfs_client *c, const char *path, uint32_t flags)
{
	struct simple sc;
	struct unlink_arg ua;
	int rc;

	if ((rc = vc_usable(c, 1)) < 0)
		return rc;
	memset(&sc, 0, sizeof(sc));
	if ((rc = simple_parent(&sc, path, &ua.name)) < 0)
		return rc;
	ua.flags = flags;
	rc = simple_run(c, &sc, sc.p.n - 1, PROTO_CMD_VFS_UNLINK,
	    unlink_items, &ua);
	simple_done(&sc);
	return rc;
}

int
proto_vfs_unlink(struct proto_vfs_client *c, const char *path)
{
	return remove_name(c, path, 0);
}

int
proto_vfs_rmdir(struct proto_vfs_client *c, const char *path)
{
	return remove_name(c, path, PROTO_VFS_RMDIR);
}

int
proto_vfs_readlink(struct proto_vfs_client *c, const char *path, char *buf,
    size_t len)
{
	struct simple sc;
	struct proto_msg m;
	struct proto_item it;
	const char *s;
	size_t n;
	int rc;

	if ((rc = vc_usable(c, 1)) < 0)
		return rc;
	memset(&sc, 0, sizeof(sc));
	if ((rc = vc_path_split(&sc.p, path)) < 0)
		return rc;
	rc = simple_run(c, &sc, sc.p.n, PROTO_CMD_VFS_READLINK, NULL, NULL);
	if (rc == 0 && (rc = vc_view(&sc.r, &m)) == 0) {
		if (proto_msg_find(&m, PROTO_ITEM_SYMTARGET, &it, NULL) <= 0 ||
		    proto_item_string(&it, &s, &n, NULL) < 0)
			rc = -EPROTO;
		else if (n >= len)
			rc = -ENAMETOOLONG;
		else {
			memcpy(buf, s, n);
			buf[n] = '\0';
		}
	}
	simple_done(&sc);
	return rc;
}

static uint64_t
nest_u64(const struct proto_msg *m, uint16_t nest, uint16_t type, int wide)
{
	struct proto_iter top, in;
	struct proto_item it, child;
	uint64_t v = 0;
	uint32_t v32;

	if (proto_msg_find(m, nest, &it, NULL) <= 0)
		return 0;
	proto_iter_init(&top, m);
	while (proto_iter_next(&top, &child, NULL) > 0)
		if (child.offset == it.offset)
			break;
	if (proto_iter_nest(&in, &top, &it, NULL) < 0)
		return 0;
	while (proto_iter_next(&in, &child, NULL) > 0) {
		if (proto_item_type(&child) != type)
			continue;
		if (wide)
			(void)proto_item_u64(&child, &v, NULL);
		else if (proto_item_u32(&child, &v32, NULL) == 0)
			v = v32;
	}
	return v;
}

int
proto_vfs_statfs(struct proto_vfs_client *c, const char *path,
    struct proto_vfs_statfs *st)
{
	struct simple sc;
	struct proto_msg m;
	int rc;

	if ((rc = vc_usable(c, 1)) < 0)
		return rc;
	memset(&sc, 0, sizeof(sc));
	if ((rc = vc_path_split(&sc.p, path)) < 0)
		return rc;
	rc = simple_run(c, &sc, sc.p.n, PROTO_CMD_VFS_STATFS, NULL, NULL);
	if (rc == 0 && (rc = vc_view(&sc.r, &m)) == 0) {
		memset(st, 0, sizeof(*st));
		st->bsize = (uint32_t)nest_u64(&m, PROTO_ITEM_STATFS,
		    PROTO_ITEM_BSIZE, 0);
		st->namemax = (uint32_t)nest_u64(&m, PROTO_ITEM_STATFS,
		    PROTO_ITEM_NAMEMAX, 0);
		st->blocks = nest_u64(&m, PROTO_ITEM_STATFS,
		    PROTO_ITEM_BLOCKS, 1);
		st->bfree = nest_u64(&m, PROTO_ITEM_STATFS, PROTO_ITEM_BFREE,
		    1);
		st->files = nest_u64(&m, PROTO_ITEM_STATFS, PROTO_ITEM_FILES,
		    1);
	}
	simple_done(&sc);
	return rc;
}

int
proto_vfs_fsync(struct proto_vfs_client *c, const char *path)
{
	struct simple sc;
	int rc;

	if ((rc = vc_usable(c, 1)) < 0)
		return rc;
	memset(&sc, 0, sizeof(sc));
	if ((rc = vc_path_split(&sc.p, path)) < 0)
		return rc;
	rc = simple_run(c, &sc, sc.p.n, PROTO_CMD_VFS_FSYNC, NULL, NULL);
	simple_done(&sc);
	return rc;
}
