/*
 * vfs_dir.c - the VFS client's calls on directories: listing, and the
 * two that name two paths (rename, hard link), both walked at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto_numbers.h"
#include "vfs_int.h"

/* Entries asked for per VFS_READDIR. */
#define RD_BATCH	256u

struct listing {
	struct proto_vfs_dirent *ent;
	size_t n, cap;
	int err;
};

static int
dirent_parse(const struct proto_iter *level, const struct proto_item *nest,
    struct proto_vfs_dirent *d)
{
	struct proto_iter in;
	struct proto_item it;
	const char *s;
	size_t n;
	int named = 0;

	memset(d, 0, sizeof(*d));
	if (proto_iter_nest(&in, level, nest, NULL) < 0)
		return -EPROTO;
	while (proto_iter_next(&in, &it, NULL) > 0) {
		switch (proto_item_type(&it)) {
		case PROTO_ITEM_NAME:
			if (proto_item_string(&it, &s, &n, NULL) < 0 ||
			    n == 0 || n >= sizeof(d->name))
				return -EPROTO;
			memcpy(d->name, s, n);
			d->name[n] = '\0';
			named = 1;
			break;
		case PROTO_ITEM_INO:
			(void)proto_item_u64(&it, &d->ino, NULL);
			break;
		case PROTO_ITEM_MODE:
			(void)proto_item_u32(&it, &d->mode, NULL);
			break;
		case PROTO_ITEM_COOKIE:
			(void)proto_item_u64(&it, &d->cookie, NULL);
			break;
		default:
			break;
		}
	}
	return named ? 0 : -EPROTO;
}

/* Every DIRENT of a part or of the final, kept for after the wait. */
static void
on_entries(void *arg, const struct proto_msg *m)
{
	struct listing *ls = arg;
	struct proto_iter top;
	struct proto_item it;
	struct proto_vfs_dirent *grown;

	proto_iter_init(&top, m);
	while (proto_iter_next(&top, &it, NULL) > 0) {
		if (proto_item_type(&it) != PROTO_ITEM_DIRENT)
			continue;
		if (ls->n == ls->cap) {
			grown = reallocarray(ls->ent, ls->cap ? ls->cap * 2 :
			    64, sizeof(*grown));
			if (grown == NULL) {
				ls->err = -ENOMEM;
				return;
			}
			ls->ent = grown;
			ls->cap = ls->cap ? ls->cap * 2 : 64;
		}
		if (dirent_parse(&top, &it, &ls->ent[ls->n]) < 0) {
			ls->err = -EPROTO;
			return;
		}
		ls->n++;
	}
}

struct rd_round {
	struct vc_path p;
	struct vc_walk w;
	struct vc_batch b;
	struct vc_req r;
	struct listing ls;
};

/*
 * One VFS_READDIR from cookie: the entries land in rr->ls, *next gets
 * the final's COOKIE (0 when the listing is complete). The callback
 * runs after the wait, so it may call the client again.
 */
static int
rd_round(struct proto_vfs_client *c, struct rd_round *rr, uint64_t cookie,
    uint64_t *next)
{
	struct proto_builder *pb;
	int rc;

	memset(&rr->b, 0, sizeof(rr->b));
	vc_req_init(&rr->r, &rr->b);
	rr->r.part = on_entries;
	rr->r.arg = &rr->ls;
	rr->ls.n = 0;
	rr->ls.err = 0;
	rc = vc_walk_send(c, &rr->w, &rr->p, rr->p.n, &rr->b);
	if (rc == 0) {
		pb = vc_begin(rr->w.last, PROTO_CMD_VFS_READDIR);
		if (pb == NULL)
			rc = -errno;
		else {
			proto_build_u64(pb, PROTO_ITEM_COOKIE, cookie);
			proto_build_u64(pb, PROTO_ITEM_LENGTH, RD_BATCH);
			vc_send(c, rr->w.last, &rr->r);
			if (rr->r.status > 0)
				rc = -rr->r.status;
		}
	}
	(void)vc_wait(c, &rr->b);
	if (rc == 0)
		rc = vc_walk_status(&rr->w);
	if (rc == 0)
		rc = vc_status(&rr->r);
	if (rc == 0)
		rc = rr->ls.err;
	*next = 0;
	if (rc == 0 && vc_msg_u64(&rr->r, PROTO_ITEM_COOKIE, next) < 0)
		*next = 0;
	vc_walk_release(c, &rr->w);
	vc_req_free(&rr->r);
	return rc;
}

int
proto_vfs_readdir(struct proto_vfs_client *c, const char *path,
    int (*fn)(void *arg, const struct proto_vfs_dirent *d), void *arg)
{
	struct rd_round *rr;
	uint64_t cookie = 0, next;
	size_t i;
	int rc, stop = 0;

	if ((rc = vc_usable(c, 1)) < 0)
		return rc;
	rr = calloc(1, sizeof(*rr));
	if (rr == NULL)
		return -ENOMEM;
	rc = vc_path_split(&rr->p, path);
	/*
	 * Each round walks the path again: a directory link held across
	 * rounds would need its own release on every error path, and the
	 * walk rides in the same round trip as the listing anyway.
	 */
	while (rc == 0 && !stop) {
		rc = rd_round(c, rr, cookie, &next);
		for (i = 0; rc == 0 && i < rr->ls.n && !stop; i++)
			stop = fn(arg, &rr->ls.ent[i]);
		if (next == 0)
			break;
		cookie = next;
	}
	free(rr->ls.ent);
	free(rr);
	if (rc == 0 && stop != 0)
		return stop;
	return rc;
}

/* --- rename and link: two walks, one command ------------------------------ */

struct two {
	struct vc_path pa, pb;
	struct vc_walk wa, wb;
	struct vc_batch b;
	struct vc_req r;
	struct proto_link *newlink;
};

static int
two_finish(struct proto_vfs_client *c, struct two *t, int rc)
{
	(void)vc_wait(c, &t->b);
	if (rc == 0)
		rc = vc_walk_status(&t->wa);
	if (rc == 0)
		rc = vc_walk_status(&t->wb);
	if (rc == 0)
		rc = vc_status(&t->r);
	vc_walk_release(c, &t->wa);
	vc_walk_release(c, &t->wb);
	if (t->newlink != NULL)
		vc_link_settle(c, t->newlink, &t->r);
	vc_req_free(&t->r);
	free(t);
	return rc;
}

/*
 * NEWDIR and NODE_LINK name a link inside a command sent on another
 * link. Pipelined, a missing directory would come back as the rename's
 * EBADF; waiting for the walks first reports it as its own ENOENT or
 * ENOTDIR, for one round trip more than a plain walk.
 */
static int
two_walked(struct proto_vfs_client *c, struct two *t)
{
	int rc;

	if ((rc = vc_wait(c, &t->b)) < 0)
		return rc;
	if ((rc = vc_walk_status(&t->wa)) < 0)
		return rc;
	return vc_walk_status(&t->wb);
}

static struct two *
two_new(const char *a, const char *b, int *rc)
{
	struct two *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		*rc = -ENOMEM;
		return NULL;
	}
	vc_req_init(&t->r, &t->b);
	if ((*rc = vc_path_split(&t->pa, a)) < 0 ||
	    (*rc = vc_path_split(&t->pb, b)) < 0) {
		free(t);
		return NULL;
	}
	return t;
}

int
proto_vfs_rename(struct proto_vfs_client *c, const char *from,
    const char *to, unsigned flags)
{
	struct proto_builder *pb;
	struct two *t;
	uint64_t id;
	int rc;

	if ((rc = vc_usable(c, 1)) < 0)
		return rc;
	if ((t = two_new(from, to, &rc)) == NULL)
		return rc;
	if (t->pa.n == 0 || t->pb.n == 0) {
		free(t);
		return -EINVAL;
	}
	rc = vc_walk_send(c, &t->wa, &t->pa, t->pa.n - 1, &t->b);
	if (rc == 0)
		rc = vc_walk_send(c, &t->wb, &t->pb, t->pb.n - 1, &t->b);
	if (rc == 0)
		rc = two_walked(c, t);
	if (rc == 0) {
		pb = vc_begin(t->wa.last, PROTO_CMD_VFS_RENAME);
		if (pb == NULL)
			return two_finish(c, t, -errno);
		proto_build_string(pb, PROTO_ITEM_NAME, t->pa.name[t->pa.n - 1],
		    strlen(t->pa.name[t->pa.n - 1]));
		id = proto_link_id(t->wb.last);
		proto_build_linkids(pb, PROTO_ITEM_NEWDIR, &id, 1);
		proto_build_string(pb, PROTO_ITEM_NEWNAME,
		    t->pb.name[t->pb.n - 1], strlen(t->pb.name[t->pb.n - 1]));
		proto_build_u32(pb, PROTO_ITEM_FLAGS, flags);
		vc_send(c, t->wa.last, &t->r);
		if (t->r.status > 0)
			rc = -t->r.status;
	}
	return two_finish(c, t, rc);
}

int
proto_vfs_link(struct proto_vfs_client *c, const char *target,
    const char *path)
{
	struct proto_builder *pb;
	struct two *t;
	uint64_t id;
	int rc;

	if ((rc = vc_usable(c, 1)) < 0)
		return rc;
	if ((t = two_new(target, path, &rc)) == NULL)
		return rc;
	if (t->pb.n == 0) {
		free(t);
		return -EEXIST;
	}
	rc = vc_walk_send(c, &t->wa, &t->pa, t->pa.n, &t->b);
	if (rc == 0)
		rc = vc_walk_send(c, &t->wb, &t->pb, t->pb.n - 1, &t->b);
	if (rc == 0)
		rc = two_walked(c, t);
	if (rc == 0) {
		pb = vc_begin(t->wb.last, PROTO_CMD_VFS_LINK);
		if (pb == NULL)
			return two_finish(c, t, -errno);
		proto_build_string(pb, PROTO_ITEM_NAME, t->pb.name[t->pb.n - 1],
		    strlen(t->pb.name[t->pb.n - 1]));
		id = proto_link_id(t->wa.last);
		proto_build_linkids(pb, PROTO_ITEM_NODE_LINK, &id, 1);
		vc_send(c, t->wb.last, &t->r);
		if (t->r.status > 0)
			rc = -t->r.status;
	}
	return two_finish(c, t, rc);
}
