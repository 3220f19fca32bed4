/*
 * proto_vfs.h - the cache objects and the VFS of msgproto(7) sections 5
 * and 6: a server that exports directories, and a client of it.
 *
 * Server:
 *	srv = proto_vfs_server_new(peer, &cfg, err, sizeof(err));
 *	proto_vfs_server_export(srv, "home", "/srv/home", 0, err, n);
 *	proto_loop_run(loop);
 *
 * Client (blocking calls; run the loop until done, never from a loop
 * callback):
 *	c = proto_vfs_client_new(session, "home", err, sizeof(err));
 *	proto_vfs_stat(c, "docs/a.txt", &attr);
 *	proto_vfs_get(c, "docs/a.txt", fd, &opts);
 *	proto_vfs_client_free(c);
 *
 * Errors are negative errno values, as the server answered them (ENOENT,
 * EACCES, EROFS...) or as the session failed (ECONNRESET, ESTALE).
 */
#ifndef PROTO_VFS_H
#define PROTO_VFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto_session.h"

/* --- wire values (msgproto(7) CLARIFICATIONS) ---------------------------- */

/* FLAGS of VFS_OPEN and VFS_CREATE. */
#define PROTO_VFS_READ		0x01u
#define PROTO_VFS_WRITE		0x02u
#define PROTO_VFS_TRUNC		0x04u
#define PROTO_VFS_EXCL		0x08u	/* VFS_CREATE: fail if it exists */
#define PROTO_VFS_APPEND	0x10u
/* FLAGS of VFS_UNLINK. */
#define PROTO_VFS_RMDIR		0x01u
/* FLAGS of VFS_RENAME. */
#define PROTO_VFS_NOREPLACE	0x01u
#define PROTO_VFS_EXCHANGE	0x02u
/* KIND of VFS_NOTIFY. */
#define PROTO_VFS_NOTIFY_ATTR	1u
#define PROTO_VFS_NOTIFY_ENTRY	2u
#define PROTO_VFS_NOTIFY_GONE	3u

/* CACHE_READ parts carry at most this much DATA. */
#define PROTO_VFS_PART		32768u

/* --- server -------------------------------------------------------------- */

struct proto_vfs_server;

struct proto_vfs_server_config {
	unsigned workers;	/* threads for file system calls (4) */
	uint32_t max_files;	/* links holding a descriptor, per session
				   (4096); past it EMFILE */
	int trace_fd;		/* JSON lines of every path used, or -1 */
	void (*log)(void *arg, enum proto_log_level level, const char *msg);
	void *arg;
};

void proto_vfs_server_config_init(struct proto_vfs_server_config *cfg);
/* Serves SERVICE "vfs" on p. NULL with the reason in err. */
struct proto_vfs_server *proto_vfs_server_new(struct proto_peer *p,
    const struct proto_vfs_server_config *cfg, char *err, size_t errlen);
/* Export dir as name (read-only when readonly is 1). 0 or -1 with err. */
int proto_vfs_server_export(struct proto_vfs_server *srv, const char *name,
    const char *dir, int readonly, char *err, size_t errlen);
/*
 * Before proto_peer_free(): every VFS link of every session is closed
 * (what it had outstanding answered ECANCELED), the file system calls
 * running finish, and the server is freed.
 */
void proto_vfs_server_free(struct proto_vfs_server *srv);

/* --- client ---------------------------------------------------------------- */

struct proto_vfs_client;

struct proto_vfs_attr {
	uint32_t mode, uid, gid, nlink;
	uint64_t size, ino, change;
	int64_t atime, mtime, ctime;	/* ns since the epoch */
};

/* Which fields of proto_vfs_setattr()'s attr to set. */
#define PROTO_VFS_SET_MODE	0x01u
#define PROTO_VFS_SET_UID	0x02u
#define PROTO_VFS_SET_GID	0x04u
#define PROTO_VFS_SET_SIZE	0x08u
#define PROTO_VFS_SET_ATIME	0x10u
#define PROTO_VFS_SET_MTIME	0x20u

struct proto_vfs_dirent {
	char name[256];
	uint64_t ino;
	uint32_t mode;		/* the type bits (S_IFMT) */
	uint64_t cookie;
};

struct proto_vfs_statfs {
	uint32_t bsize, namemax;
	uint64_t blocks, bfree, files;
};

/*
 * Progress of a transfer: bytes done so far of total (0 when unknown),
 * called from the loop at most a few times a second.
 */
typedef void proto_vfs_progress_fn(void *arg, uint64_t done, uint64_t total);

struct proto_vfs_xfer {
	unsigned inflight;	/* CACHE_READs or writes at once (16) */
	uint32_t chunk;		/* bytes per CACHE_READ or write (1 MiB) */
	proto_vfs_progress_fn *progress;
	void *arg;
	/* If not NULL: the file's attributes as the VFS_OPEN or VFS_CREATE
	   reply gave them, filled before the data moves (kept valid by the
	   caller until the transfer is done). */
	struct proto_vfs_attr *attr;
};

/* LINK_OPEN {SERVICE "vfs", EXPORT}; NULL with the reason in err. */
struct proto_vfs_client *proto_vfs_client_new(struct proto_session *s,
    const char *export_name, char *err, size_t errlen);
/* Gives every link back (LINK_CLOSE) and frees. */
void proto_vfs_client_free(struct proto_vfs_client *c);

/*
 * Paths are relative to the export root, components separated by '/'
 * ("" or "." is the root); each component is one VFS_LOOKUP, all sent
 * at once on client-chosen link ids. Symbolic links are not followed.
 */
int proto_vfs_stat(struct proto_vfs_client *c, const char *path,
    struct proto_vfs_attr *attr);
int proto_vfs_setattr(struct proto_vfs_client *c, const char *path,
    unsigned which, const struct proto_vfs_attr *attr,
    struct proto_vfs_attr *after);
/* fn for each entry, in server order; a non-zero return stops. */
int proto_vfs_readdir(struct proto_vfs_client *c, const char *path,
    int (*fn)(void *arg, const struct proto_vfs_dirent *d), void *arg);
int proto_vfs_mkdir(struct proto_vfs_client *c, const char *path,
    uint32_t mode);
int proto_vfs_unlink(struct proto_vfs_client *c, const char *path);
int proto_vfs_rmdir(struct proto_vfs_client *c, const char *path);
int proto_vfs_rename(struct proto_vfs_client *c, const char *from,
    const char *to, unsigned flags);
int proto_vfs_link(struct proto_vfs_client *c, const char *target,
    const char *path);
int proto_vfs_symlink(struct proto_vfs_client *c, const char *target,
    const char *path);
/* The target, NUL-terminated; -ENAMETOOLONG when it does not fit. */
int proto_vfs_readlink(struct proto_vfs_client *c, const char *path,
    char *buf, size_t len);
int proto_vfs_statfs(struct proto_vfs_client *c, const char *path,
    struct proto_vfs_statfs *st);
int proto_vfs_fsync(struct proto_vfs_client *c, const char *path);

/* Remote file path into fd (from its offset): many CACHE_READs at once. */
int proto_vfs_get(struct proto_vfs_client *c, const char *path, int fd,
    const struct proto_vfs_xfer *x);
/* fd (to its end) into remote path, created or truncated with mode. */
int proto_vfs_put(struct proto_vfs_client *c, int fd, const char *path,
    uint32_t mode, const struct proto_vfs_xfer *x);
/* Server-side copy within the export: one CACHE_WRITE with a REF. */
int proto_vfs_copy(struct proto_vfs_client *c, const char *from,
    const char *to, const struct proto_vfs_xfer *x);

/*
 * fd (to its end) into remote path by reference: fd is exported as a
 * link of ours (proto_link_export) and one CACHE_WRITE names it in a
 * DATA REF; the server fetches the bytes with CACHE_READ on that link,
 * which the client answers from fd while the write is outstanding.
 */
int proto_vfs_put_ref(struct proto_vfs_client *c, int fd, const char *path,
    uint32_t mode, const struct proto_vfs_xfer *x);

/*
 * Transfers that run together (a recursive get or put keeps several
 * files in flight): each start sends its first commands and returns 0,
 * or a negative errno with nothing started; done is then called once,
 * from the loop, with 0 or a negative errno, after which fd is the
 * caller's again. A done callback may start further transfers.
 * proto_vfs_drain() runs the loop until no transfer is left (-EDEADLK
 * from a loop callback).
 */
typedef void proto_vfs_done_fn(void *arg, int error);
int proto_vfs_get_start(struct proto_vfs_client *c, const char *path,
    int fd, const struct proto_vfs_xfer *x, proto_vfs_done_fn *done,
    void *arg);
int proto_vfs_put_start(struct proto_vfs_client *c, int fd,
    const char *path, uint32_t mode, const struct proto_vfs_xfer *x,
    proto_vfs_done_fn *done, void *arg);
int proto_vfs_drain(struct proto_vfs_client *c);
/* Transfers started and not yet done. */
unsigned proto_vfs_pending(const struct proto_vfs_client *c);

/*
 * The session was lost (PROTO_EV_LOST): its links went with it. Call
 * this from the session's event callback before the client is used or
 * freed again; every call then fails with -ECONNRESET.
 */
void proto_vfs_client_lost(struct proto_vfs_client *c);

/* Bytes crossed the link for data, both ways, since the client began. */
void proto_vfs_client_counters(const struct proto_vfs_client *c,
    uint64_t *data_sent, uint64_t *data_received);
/* VFS_NOTIFY and CACHE_INVALIDATE the server sent us, answered 0. */
uint64_t proto_vfs_client_notices(const struct proto_vfs_client *c);

#endif
