/*
 * files.h - what msgpeer's file commands share: files.c (connections,
 * ls, stat, cat, mv, rm, mkdir, rmdir, ln, df) and transfer.c (get,
 * put, cp and their recursive forms).
 */
#ifndef MSGPEER_FILES_H
#define MSGPEER_FILES_H

#include "msgpeer.h"
#include "tools/lib/remote.h"

/* Exit status of the file commands. */
#define FX_OK		0	/* everything done */
#define FX_FAIL		1	/* an operation failed (some file) */
#define FX_USAGE	2	/* usage or set-up error */
#define FX_SESSION	3	/* no session or export: nothing done */

/* One session and export the command works in. */
struct fconn {
	struct run *r;
	struct proto_session *s;
	struct proto_vfs_client *c;
	char addr[1024];
	char export_name[256];
	int lost;
	char why[256];			/* why the session was lost */
};

/* A remote argument: where, and how errors name it. */
struct farg {
	struct remote_path rp;
	struct fconn *fc;
};

/* files.c */
/* The connection for rp (made once per address and export); NULL and
   FX_SESSION reported when it cannot be had. */
struct fconn *fconn_get(struct run *r, const struct remote_path *rp);
/* "ADDR:EXPORT/PATH" for messages, in a rotating static buffer. */
const char *fname(const struct fconn *fc, const char *path);
/* msgpeer: CMD NAME: strerror(-rc). */
void ferr(struct run *r, const char *name, int rc);
int fstatus(struct run *r);
void fmark(struct run *r, int status);

/* A remote argument parsed and connected (usage errors exit 2). */
struct fconn *files_remote(struct run *r, const char *arg,
    struct remote_path *rp);
/* A directory's entries sorted by name; free(*d). 0 or -errno. */
int files_list(struct fconn *fc, const char *path,
    struct proto_vfs_dirent **d, size_t *n);
/* to names an existing directory: to/basename(from). 1, 0, -errno. */
int into_dir(struct fconn *fc, const char *from, char *to, size_t len);

/* transfer.c */
int cmd_get(struct run *r);
int cmd_put(struct run *r);
int cmd_cp(struct run *r);
int cmd_cat(struct run *r);

#endif
