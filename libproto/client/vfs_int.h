/*
 * vfs_int.h - what the files of the VFS client share: the client, a
 * batch of commands waited for together, and path walks.
 *
 * Every command the client sends is a vc_req inside a vc_batch: the
 * batch counts the finals still to come and calls its done function
 * when the last one came, so blocking calls and the transfers' state
 * machines share one reply path.
 */
#ifndef VFS_INT_H
#define VFS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "proto_vfs.h"

/* Components of one path: deeper paths are refused ENAMETOOLONG. */
#define VC_DEPTH_MAX	64
#define VC_NAME_MAX	255

struct vc_xfer;

struct proto_vfs_client {
	struct proto_session *s;
	struct proto_loop *loop;
	struct proto_link *root;	/* the export's root directory */
	int lost;		/* the session and its links are gone */
	uint64_t sent, received;	/* DATA bytes */
	uint64_t notices;
	struct vc_xfer *xfers;		/* transfers started, not done */
	unsigned nxfers;
};

struct vc_batch {
	unsigned pending;		/* finals still to come */
	void (*done)(void *arg);	/* when pending falls to 0 */
	void *arg;
};

struct vc_req {
	struct proto_vfs_client *c;	/* set when sent */
	struct vc_batch *batch;
	int status;			/* the final's STATUS or the local
					   errno; -1 while outstanding */
	uint8_t *reply;			/* copy of the final message */
	/* Each reply with m (parts and the final) before it is counted. */
	void (*part)(void *arg, const struct proto_msg *m);
	void *arg;
};

/* LOOKUPs along a path, each on the link the one before bound. */
struct vc_walk {
	struct proto_link *link[VC_DEPTH_MAX];
	struct vc_req req[VC_DEPTH_MAX];
	size_t n;
	struct proto_link *last;	/* the root when n is 0 */
};

/* A path cut in components (pointers into buf). */
struct vc_path {
	char buf[4096];
	const char *name[VC_DEPTH_MAX];
	size_t n;
};

int vc_path_split(struct vc_path *p, const char *path);

/* vfs_client.c */
int vc_usable(const struct proto_vfs_client *c, int blocking);
void vc_req_init(struct vc_req *r, struct vc_batch *b);
void vc_req_free(struct vc_req *r);
struct proto_builder *vc_begin(struct proto_link *l, uint16_t command);
/* Send the built command; its outcome lands in r. */
void vc_send(struct proto_vfs_client *c, struct proto_link *l,
    struct vc_req *r);
/* Run rounds until b has nothing pending (blocking calls only). */
int vc_wait(struct proto_vfs_client *c, struct vc_batch *b);
/* A link for a NEWLINK, with the handler every kept link has. */
struct proto_link *vc_newlink(struct proto_vfs_client *c);
/* Send the LOOKUPs of the first n components of p: nothing waited for. */
int vc_walk_send(struct proto_vfs_client *c, struct vc_walk *w,
    const struct vc_path *p, size_t n, struct vc_batch *b);
/* After the batch: the first error (negative), or 0. */
int vc_walk_status(const struct vc_walk *w);
/* Give back what the walk bound, forget what it did not. */
void vc_walk_release(struct proto_vfs_client *c, struct vc_walk *w);
/* Bind or forget a NEWLINK by its command's outcome. */
void vc_link_settle(struct proto_vfs_client *c, struct proto_link *l,
    const struct vc_req *r);
int vc_status(const struct vc_req *r);
int vc_reply_attr(const struct vc_req *r, struct proto_vfs_attr *a);
int vc_msg_u64(const struct vc_req *r, uint16_t type, uint64_t *v);
int vc_view(const struct vc_req *r, struct proto_msg *m);
int vc_parse_attr(const struct proto_msg *m, struct proto_vfs_attr *a);

#endif
