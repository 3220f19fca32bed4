/*
 * vfs_int.h - the VFS server's parts (msgproto(7) sections 5 and 6):
 *
 *	vfs_server.c	exports, the service's links, commands to jobs,
 *			replies, the trace
 *	vfs_fs.c	the file system calls, run on workers: every path
 *			resolved with openat2 beneath the export root
 *	vfs_cache.c	cache objects: CACHE_READ streams, writes, copies
 *			by REF (server side, or fetched from the client)
 *	vfs_notify.c	inotify: VFS_NOTIFY and CACHE_INVALIDATE
 *
 * A node is what one link names: an object of an export, by its path
 * beneath the export root and its identity (device, inode). Nodes hold
 * no descriptor: every call resolves the path again from the root with
 * RESOLVE_BENEATH and checks the identity (ESTALE when it changed), so
 * a directory moved out of the export by another process is out of
 * reach. A cache object (VFS_OPEN, VFS_CREATE) is a node with an open
 * file: its data is that file's, as after open(2).
 */
#ifndef VFS_INT_H
#define VFS_INT_H

#include <stdint.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>

#include "pool.h"
#include "table.h"
#include "proto_vfs.h"

#define VFS_PATH_MAX	4096

struct vfs_server;
struct vfs_sess;

struct vfs_export {
	struct vfs_export *next;
	char *name;
	char *dir;
	int rootfd;		/* O_PATH|O_DIRECTORY */
	int readonly;
};

struct vfs_node {
	int refs;		/* the link, and each job using it */
	struct vfs_sess *vs;
	struct vfs_export *exp;
	struct proto_link *link;	/* NULL once the link is gone */
	char *path;		/* beneath the export root; "" is the root */
	dev_t dev;
	ino_t ino;
	mode_t type;		/* S_IFMT bits */
	int datafd;		/* cache objects: the open file; else -1 */
	unsigned flags;		/* cache objects: PROTO_VFS_* */
	int traced_read, traced_write;
	int pending;		/* bound; its command not done yet */
	int failed;		/* its command failed: being unbound */
	int is_cache;		/* bound by VFS_OPEN or VFS_CREATE */
	struct vfs_pending *waiting;	/* jobs waiting for it */
	/* inotify: watch descriptor, nodes sharing it. */
	int wd;
	struct vfs_node *wd_next;
	int notify_busy;	/* a notification is outstanding */
	unsigned notify_kind;	/* one more to send when it ends */
	char notify_name[256];
	uint64_t own_write_ns;	/* loop time of our last write: those do
				   not invalidate */
	struct vfs_node *all_next, *all_prev;	/* the server's nodes */
	struct vfs_stream *stream;	/* CACHE_READs being streamed */
};

/* One client session: its queue of jobs, its count of open files. */
struct vfs_sess {
	struct vfs_sess *next;
	struct vfs_server *srv;
	struct proto_session *s;
	int refs;		/* nodes */
	uint32_t files;		/* cache objects holding a descriptor */
	char node[256];		/* the peer's NODE, for the trace */
	struct lpi_jobq q;
};

struct vfs_server {
	struct proto_vfs_server_config cfg;
	struct proto_peer *peer;
	struct proto_loop *loop;
	struct vfs_export *exports;
	struct vfs_sess *sessions;
	struct vfs_node *nodes;		/* every live node, for renames */
	struct lpi_pool *pool;
	uint32_t files, max_files_total;
	int ifd;			/* inotify */
	struct proto_io *iio;
	struct lpi_table watches;	/* inotify wd -> first node */
};

/*
 * A job: one command's file system work. The loop thread fills the
 * request part, a worker does the calls and fills the result, the loop
 * thread answers. Strings and data are copied: the message is gone by
 * the time a worker runs.
 */
struct vfs_job {
	struct lpi_job j;
	struct vfs_server *srv;
	struct proto_request *req;	/* NULL for the server's own jobs */
	struct vfs_node *node;		/* the link's node (a reference) */
	struct vfs_node *other;		/* NEWDIR, NODE_LINK, REF source */
	struct vfs_node *newnode;	/* the link NEWLINK bound */
	int wd;				/* its inotify watch, or -1 */
	uint16_t cmd;
	uint64_t newlink;
	char name[256], name2[256];
	char *symtarget;
	uint32_t mode, uid, gid, flags;
	unsigned which;			/* SETATTR: PROTO_VFS_SET_* */
	int64_t atime, mtime;
	uint64_t off, len, size, cookie;
	uint8_t *data;			/* CACHE_WRITE, CACHE_READ */
	size_t datalen;
	/* results */
	int err;
	const char *why;
	struct stat st;
	struct statfs sfs;
	char *newpath;			/* LOOKUP, CREATE...: the new node */
	int newfd;			/* OPEN, CREATE: the open file */
	uint64_t done;			/* bytes read, written, copied */
	uint64_t total;			/* a copy's slices so far */
	uint8_t *out;			/* READDIR entries, READLINK */
	size_t outlen;
	int eof;
	void (*ready)(struct vfs_job *jb);	/* its nodes are known */
	void (*finish)(struct vfs_job *jb);	/* on the loop */
	void *arg;
};

/* vfs_server.c */
extern const struct proto_service_ops vfs_node_ops;
struct vfs_job *vfs_job_new(struct vfs_server *srv, struct proto_request *req,
    struct vfs_node *n, uint16_t cmd);
/* Calls jb->ready once the nodes it uses are resolved. */
void vfs_job_start(struct vfs_job *jb);
/* Runs the job's file system calls on a worker, then finish. */
void vfs_job_submit(struct vfs_job *jb, void (*finish)(struct vfs_job *));
void *vfs_served(struct proto_session *s, uint64_t id);
void vfs_job_free(struct vfs_job *jb);
void vfs_node_unref(struct vfs_node *n);
void vfs_trace(struct vfs_node *n, const char *op, const char *path, int err);
void vfs_reply_attr(struct proto_request *req, const struct stat *st);
void vfs_build_attr(struct proto_builder *b, const struct stat *st);
int vfs_readonly_refusal(struct vfs_node *n, struct proto_request *req);
/* The u64 item of that type: 1 when present and well formed. */
int vfs_read_u64(const struct proto_msg *m, uint16_t type, uint64_t *v);

/* vfs_fs.c: on workers */
int vfs_name_check(const char *name, size_t len);
int vfs_child_path(const struct vfs_node *dir, const char *name,
    char **out);
int vfs_node_open(const struct vfs_node *n, int flags, int *fd);
/* An O_PATH descriptor of path beneath the export, or -1. */
int vfs_open_path(const struct vfs_export *e, const char *path);
void vfs_fs_run(struct vfs_job *jb);

/* vfs_cache.c */
void vfs_cache_command(struct vfs_node *n, struct proto_request *req,
    const struct proto_msg *m);
void vfs_cache_cancel(struct vfs_node *n, struct proto_request *req);
void vfs_cache_close(struct vfs_node *n);

/* vfs_notify.c */
int vfs_notify_init(struct vfs_server *srv);
void vfs_notify_fini(struct vfs_server *srv);
/* On the worker: a watch for the node a job made; on the loop: kept. */
void vfs_notify_prepare(struct vfs_job *jb);
void vfs_notify_watch(struct vfs_node *n, struct vfs_job *jb);
void vfs_notify_watch_root(struct vfs_node *n);
void vfs_notify_unwatch(struct vfs_node *n);

#endif
