/*
 * files.c - msgpeer's file commands on a VFS export, sftp and coreutils
 * style: ls, stat, mv, rm, mkdir, rmdir, ln, df here; get, put, cp and
 * cat in transfer.c. Remote paths are ADDR:EXPORT/PATH (remote.h).
 *
 * Exit status: 0 done, 1 an operation failed (each failure named on
 * stderr with its path and the errno text), 2 usage, 3 no session or no
 * such export (nothing was done).
 */
#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "files.h"

static const char *const fcmds[] = {
	"ls", "stat", "cat", "get", "put", "cp", "mv", "rm", "mkdir",
	"rmdir", "ln", "df", NULL
};

int
files_command(const char *cmd)
{
	int i;

	for (i = 0; fcmds[i] != NULL; i++)
		if (strcmp(cmd, fcmds[i]) == 0)
			return 1;
	return 0;
}

/* --- status and messages -------------------------------------------------- */

void
fmark(struct run *r, int status)
{
	if (status > r->status)
		r->status = status;
}

int
fstatus(struct run *r)
{
	return r->status;
}

void
ferr(struct run *r, const char *name, int rc)
{
	warnx("%s %s: %s", r->o->cmd, name, strerror(rc < 0 ? -rc : rc));
	fmark(r, FX_FAIL);
}

const char *
fname(const struct fconn *fc, const char *path)
{
	static char buf[4][4096 + 1300];
	static int next;
	char *b = buf[next++ % 4];

	snprintf(b, sizeof(buf[0]), "%s:%s%s%s", fc->addr, fc->export_name,
	    path[0] != '\0' ? "/" : "", path);
	return b;
}

/* --- connections ---------------------------------------------------------- */

static struct fconn *conns[2];

static void
on_event(void *arg, struct proto_session *s, enum proto_session_event ev,
    int error, const char *text)
{
	struct fconn *fc = arg;

	(void)s;
	if (ev != PROTO_EV_LOST)
		return;
	fc->lost = 1;
	fc->s = NULL;
	snprintf(fc->why, sizeof(fc->why), "%s", text != NULL ? text :
	    strerror(error));
	/* Its links went with the session. */
	if (fc->c != NULL)
		proto_vfs_client_lost(fc->c);
}

static const struct proto_session_ops fops = { on_event };

struct fconn *
fconn_get(struct run *r, const struct remote_path *rp)
{
	struct fconn *fc;
	char errbuf[512];
	size_t i;

	for (i = 0; i < 2 && conns[i] != NULL; i++)
		if (strcmp(conns[i]->addr, rp->addr) == 0 &&
		    strcmp(conns[i]->export_name, rp->export_name) == 0)
			return conns[i]->c != NULL ? conns[i] : NULL;
	if (i == 2)
		errx(FX_USAGE, "at most two exports in one command");
	if ((fc = calloc(1, sizeof(*fc))) == NULL)
		err(FX_USAGE, "calloc");
	conns[i] = fc;
	fc->r = r;
	snprintf(fc->addr, sizeof(fc->addr), "%s", rp->addr);
	snprintf(fc->export_name, sizeof(fc->export_name), "%s",
	    rp->export_name);
	fc->s = proto_peer_connect(r->peer, rp->addr, &fops, fc, errbuf,
	    sizeof(errbuf));
	if (fc->s == NULL) {
		warnx("%s %s: %s", r->o->cmd, rp->addr, errbuf);
		fmark(r, FX_SESSION);
		return NULL;
	}
	fc->c = proto_vfs_client_new(fc->s, rp->export_name, errbuf,
	    sizeof(errbuf));
	if (fc->c == NULL) {
		warnx("%s %s: %s", r->o->cmd, fname(fc, ""), fc->lost ?
		    fc->why : errbuf);
		fmark(r, FX_SESSION);
		return NULL;
	}
	return fc;
}

static void
fconn_close_all(struct run *r)
{
	int i;

	uint64_t sent, received;

	for (i = 0; i < 2; i++) {
		if (conns[i] == NULL)
			continue;
		if (conns[i]->c != NULL && r->o->verbose > 0) {
			proto_vfs_client_counters(conns[i]->c, &sent,
			    &received);
			fprintf(stderr, "msgpeer: %s: data sent %" PRIu64
			    " bytes, received %" PRIu64 " bytes\n",
			    fname(conns[i], ""), sent, received);
		}
		proto_vfs_client_free(conns[i]->c);
		/* The LOST event of the close must not reach it. */
		conns[i]->c = NULL;
		if (conns[i]->lost && r->status < FX_FAIL)
			fmark(r, FX_SESSION);
		run_close(r, &conns[i]->s);
		free(conns[i]);
		conns[i] = NULL;
	}
}

/* The remote argument i: parsed, connected. NULL when it failed. */
static struct fconn *
remote_arg(struct run *r, const char *arg, struct remote_path *rp)
{
	const char *why;
	int rc = remote_parse(arg, rp, &why);

	if (rc == 0)
		errx(FX_USAGE, "%s %s: not a remote path (ADDR:EXPORT/PATH)",
		    r->o->cmd, arg);
	if (rc < 0)
		errx(FX_USAGE, "%s %s: %s", r->o->cmd, arg, why);
	return fconn_get(r, rp);
}

/* --- ls ------------------------------------------------------------------- */

struct names {
	struct proto_vfs_dirent *d;
	size_t n, cap;
};

static int
collect(void *arg, const struct proto_vfs_dirent *d)
{
	struct names *ns = arg;
	struct proto_vfs_dirent *grown;

	if (ns->n == ns->cap) {
		ns->cap = ns->cap ? ns->cap * 2 : 64;
		grown = reallocarray(ns->d, ns->cap, sizeof(*grown));
		if (grown == NULL)
			return -ENOMEM;
		ns->d = grown;
	}
	ns->d[ns->n++] = *d;
	return 0;
}

static int
by_name(const void *a, const void *b)
{
	const struct proto_vfs_dirent *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* The entries of a directory, sorted by name (bytes: LC_ALL=C). */
static int
list_dir(struct fconn *fc, const char *path, struct names *ns)
{
	int rc;

	memset(ns, 0, sizeof(*ns));
	rc = proto_vfs_readdir(fc->c, path, collect, ns);
	if (rc != 0) {
		free(ns->d);
		ns->d = NULL;
		return rc < 0 ? rc : -rc;
	}
	if (ns->n > 1)
		qsort(ns->d, ns->n, sizeof(*ns->d), by_name);
	return 0;
}

static void
long_line(struct fconn *fc, const char *path, const char *name,
    const struct proto_vfs_attr *a)
{
	char mode[11], when[32], target[4096];
	struct tm tm;
	time_t t = (time_t)(a->mtime / 1000000000);

	mode_string(a->mode, mode);
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
	printf("%s %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu64 " %s %s",
	    mode, a->nlink, a->uid, a->gid, a->size, when, name);
	if (S_ISLNK(a->mode) && proto_vfs_readlink(fc->c, path, target,
	    sizeof(target)) == 0)
		printf(" -> %s", target);
	putchar('\n');
}

static void ls_dir(struct run *r, struct fconn *fc, const char *path,
    int header);

static void
ls_entries(struct run *r, struct fconn *fc, const char *path,
    struct names *ns)
{
	struct proto_vfs_attr a;
	char sub[4096];
	size_t i;
	int rc;

	for (i = 0; i < ns->n; i++) {
		if (path_join(sub, sizeof(sub), path, ns->d[i].name) < 0) {
			ferr(r, fname(fc, path), -ENAMETOOLONG);
			continue;
		}
		if (!r->o->fl_long) {
			printf("%s\n", ns->d[i].name);
			continue;
		}
		if ((rc = proto_vfs_stat(fc->c, sub, &a)) < 0) {
			ferr(r, fname(fc, sub), rc);
			continue;
		}
		long_line(fc, sub, ns->d[i].name, &a);
	}
	if (!r->o->fl_recursive)
		return;
	for (i = 0; i < ns->n; i++)
		if (S_ISDIR(ns->d[i].mode) && path_join(sub, sizeof(sub),
		    path, ns->d[i].name) == 0) {
			putchar('\n');
			ls_dir(r, fc, sub, 1);
		}
}

static void
ls_dir(struct run *r, struct fconn *fc, const char *path, int header)
{
	struct names ns;
	int rc;

	if (header)
		printf("%s:\n", fname(fc, path));
	if ((rc = list_dir(fc, path, &ns)) < 0) {
		ferr(r, fname(fc, path), rc);
		return;
	}
	ls_entries(r, fc, path, &ns);
	free(ns.d);
}

static int
cmd_ls(struct run *r)
{
	struct remote_path rp;
	struct proto_vfs_attr a;
	struct fconn *fc;
	const char *base;
	int i, rc;

	for (i = 0; i < r->o->nargs; i++) {
		if ((fc = remote_arg(r, r->o->args[i], &rp)) == NULL)
			continue;
		if ((rc = proto_vfs_stat(fc->c, rp.path, &a)) < 0) {
			ferr(r, fname(fc, rp.path), rc);
			continue;
		}
		if (!S_ISDIR(a.mode)) {
			base = strrchr(rp.path, '/');
			base = base != NULL ? base + 1 : rp.path;
			if (r->o->fl_long)
				long_line(fc, rp.path, base, &a);
			else
				printf("%s\n", base);
			continue;
		}
		ls_dir(r, fc, rp.path, r->o->nargs > 1 || r->o->fl_recursive);
		if (i + 1 < r->o->nargs)
			putchar('\n');
	}
	return fstatus(r);
}

/* --- stat ----------------------------------------------------------------- */

static const char *
type_name(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "regular file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symbolic link";
	case S_IFCHR: return "character special file";
	case S_IFBLK: return "block special file";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	default: return "unknown";
	}
}

static void
print_time(const char *label, int64_t ns)
{
	char when[64];
	struct tm tm;
	time_t t = (time_t)(ns / 1000000000);
	long frac = (long)(ns % 1000000000);

	if (frac < 0) {
		frac += 1000000000;
		t--;
	}
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	printf("%s: %s.%09ld (%" PRId64 ")\n", label, when, frac, ns);
}

static int
cmd_stat(struct run *r)
{
	struct remote_path rp;
	struct proto_vfs_attr a;
	struct fconn *fc;
	char mode[11], target[4096];
	int i, rc;

	for (i = 0; i < r->o->nargs; i++) {
		if ((fc = remote_arg(r, r->o->args[i], &rp)) == NULL)
			continue;
		if ((rc = proto_vfs_stat(fc->c, rp.path, &a)) < 0) {
			ferr(r, fname(fc, rp.path), rc);
			continue;
		}
		mode_string(a.mode, mode);
		printf("file: %s\n", fname(fc, rp.path));
		if (S_ISLNK(a.mode) && proto_vfs_readlink(fc->c, rp.path,
		    target, sizeof(target)) == 0)
			printf("target: %s\n", target);
		printf("type: %s\n", type_name(a.mode));
		printf("mode: %04o (%s)\n", a.mode & 07777, mode);
		printf("size: %" PRIu64 "\n", a.size);
		printf("links: %" PRIu32 "\n", a.nlink);
		printf("inode: %" PRIu64 "\n", a.ino);
		printf("uid: %" PRIu32 "\n", a.uid);
		printf("gid: %" PRIu32 "\n", a.gid);
		print_time("access", a.atime);
		print_time("modify", a.mtime);
		print_time("change", a.ctime);
		printf("change-count: %" PRIu64 "\n", a.change);
	}
	return fstatus(r);
}

/* --- mkdir, rmdir, rm ----------------------------------------------------- */

static int
mkdir_parents(struct fconn *fc, const char *path)
{
	struct proto_vfs_attr a;
	char sub[4096];
	const char *p;
	int rc;

	for (p = path; (p = strchr(p, '/')) != NULL; p++) {
		if (p == path || (size_t)(p - path) >= sizeof(sub))
			continue;
		memcpy(sub, path, (size_t)(p - path));
		sub[p - path] = '\0';
		rc = proto_vfs_mkdir(fc->c, sub, 0777);
		if (rc == -EEXIST && proto_vfs_stat(fc->c, sub, &a) == 0 &&
		    S_ISDIR(a.mode))
			continue;
		if (rc < 0)
			return rc;
	}
	rc = proto_vfs_mkdir(fc->c, path, 0777);
	if (rc == -EEXIST && proto_vfs_stat(fc->c, path, &a) == 0 &&
	    S_ISDIR(a.mode))
		return 0;
	return rc;
}

static int
cmd_mkdir(struct run *r)
{
	struct remote_path rp;
	struct fconn *fc;
	int i, rc;

	for (i = 0; i < r->o->nargs; i++) {
		if ((fc = remote_arg(r, r->o->args[i], &rp)) == NULL)
			continue;
		if (r->o->fl_parents)
			rc = mkdir_parents(fc, rp.path);
		else
			rc = proto_vfs_mkdir(fc->c, rp.path, 0777);
		if (rc < 0)
			ferr(r, fname(fc, rp.path), rc);
	}
	return fstatus(r);
}

static int
cmd_rmdir(struct run *r)
{
	struct remote_path rp;
	struct fconn *fc;
	int i, rc;

	for (i = 0; i < r->o->nargs; i++) {
		if ((fc = remote_arg(r, r->o->args[i], &rp)) == NULL)
			continue;
		if ((rc = proto_vfs_rmdir(fc->c, rp.path)) < 0)
			ferr(r, fname(fc, rp.path), rc);
	}
	return fstatus(r);
}

/* Depth first; each failure named, the rest still tried. */
static int
rm_tree(struct run *r, struct fconn *fc, const char *path)
{
	struct names ns;
	char sub[4096];
	size_t i;
	int rc, bad = 0;

	if ((rc = list_dir(fc, path, &ns)) < 0) {
		ferr(r, fname(fc, path), rc);
		return rc;
	}
	for (i = 0; i < ns.n; i++) {
		if (path_join(sub, sizeof(sub), path, ns.d[i].name) < 0) {
			ferr(r, fname(fc, path), -ENAMETOOLONG);
			bad = 1;
			continue;
		}
		if (S_ISDIR(ns.d[i].mode))
			rc = rm_tree(r, fc, sub);
		else if ((rc = proto_vfs_unlink(fc->c, sub)) < 0)
			ferr(r, fname(fc, sub), rc);
		if (rc < 0)
			bad = 1;
	}
	free(ns.d);
	if (bad)
		return -ENOTEMPTY;
	if ((rc = proto_vfs_rmdir(fc->c, path)) < 0)
		ferr(r, fname(fc, path), rc);
	return rc;
}

static int
cmd_rm(struct run *r)
{
	struct remote_path rp;
	struct proto_vfs_attr a;
	struct fconn *fc;
	int i, rc;

	for (i = 0; i < r->o->nargs; i++) {
		if ((fc = remote_arg(r, r->o->args[i], &rp)) == NULL)
			continue;
		if (rp.path[0] == '\0') {
			ferr(r, fname(fc, rp.path), -EBUSY);
			continue;
		}
		if ((rc = proto_vfs_stat(fc->c, rp.path, &a)) < 0) {
			ferr(r, fname(fc, rp.path), rc);
			continue;
		}
		if (S_ISDIR(a.mode) && !r->o->fl_recursive) {
			ferr(r, fname(fc, rp.path), -EISDIR);
			continue;
		}
		if (S_ISDIR(a.mode))
			(void)rm_tree(r, fc, rp.path);
		else if ((rc = proto_vfs_unlink(fc->c, rp.path)) < 0)
			ferr(r, fname(fc, rp.path), rc);
	}
	return fstatus(r);
}

/* --- mv, ln --------------------------------------------------------------- */

/* Into an existing directory, as mv and cp do: path/basename(from). */
int
into_dir(struct fconn *fc, const char *from, char *to, size_t len)
{
	struct proto_vfs_attr a;
	const char *base;
	char tmp[4096];

	if (proto_vfs_stat(fc->c, to, &a) < 0 || !S_ISDIR(a.mode))
		return 0;
	base = strrchr(from, '/');
	base = base != NULL ? base + 1 : from;
	if (path_join(tmp, sizeof(tmp), to, base) < 0 ||
	    strlen(tmp) >= len)
		return -ENAMETOOLONG;
	memcpy(to, tmp, strlen(tmp) + 1);
	return 1;
}

static int
cmd_mv(struct run *r)
{
	struct remote_path a, b;
	struct fconn *fa, *fb;
	int rc;

	if (r->o->nargs != 2)
		errx(FX_USAGE, "mv takes REMOTE REMOTE");
	fa = remote_arg(r, r->o->args[0], &a);
	fb = remote_arg(r, r->o->args[1], &b);
	if (fa == NULL || fb == NULL)
		return fstatus(r);
	if (fa != fb) {
		ferr(r, fname(fb, b.path), -EXDEV);
		return fstatus(r);
	}
	if ((rc = into_dir(fa, a.path, b.path, sizeof(b.path))) < 0 ||
	    (rc = proto_vfs_rename(fa->c, a.path, b.path, 0)) < 0)
		ferr(r, fname(fa, a.path), rc);
	return fstatus(r);
}

static int
cmd_ln(struct run *r)
{
	struct remote_path rp, tp;
	struct fconn *fc, *ft;
	const char *why, *target;
	int rc;

	if (r->o->nargs != 2)
		errx(FX_USAGE, "ln takes [-s] TARGET REMOTE");
	if ((fc = remote_arg(r, r->o->args[1], &rp)) == NULL)
		return fstatus(r);
	target = r->o->args[0];
	if (r->o->fl_symbolic) {
		/* The target is text, kept as given. */
		if ((rc = proto_vfs_symlink(fc->c, target, rp.path)) < 0)
			ferr(r, fname(fc, rp.path), rc);
		return fstatus(r);
	}
	/* A hard link's target: a path in the same export. */
	rc = remote_parse(target, &tp, &why);
	if (rc < 0)
		errx(FX_USAGE, "ln %s: %s", target, why);
	if (rc == 1) {
		if ((ft = fconn_get(r, &tp)) == NULL)
			return fstatus(r);
		if (ft != fc) {
			ferr(r, fname(fc, rp.path), -EXDEV);
			return fstatus(r);
		}
		target = tp.path;
	}
	if ((rc = into_dir(fc, target, rp.path, sizeof(rp.path))) < 0 ||
	    (rc = proto_vfs_link(fc->c, target, rp.path)) < 0)
		ferr(r, fname(fc, rp.path), rc);
	return fstatus(r);
}

/* --- df ------------------------------------------------------------------- */

static int
cmd_df(struct run *r)
{
	struct remote_path rp;
	struct proto_vfs_statfs st;
	struct fconn *fc;
	uint64_t total, avail, used;
	int i, rc;

	printf("%-30s %12s %12s %12s %4s\n", "Export", "1K-blocks", "Used",
	    "Available", "Use%");
	for (i = 0; i < r->o->nargs; i++) {
		if ((fc = remote_arg(r, r->o->args[i], &rp)) == NULL)
			continue;
		if ((rc = proto_vfs_statfs(fc->c, rp.path, &st)) < 0) {
			ferr(r, fname(fc, rp.path), rc);
			continue;
		}
		total = st.blocks * st.bsize / 1024;
		avail = st.bfree * st.bsize / 1024;
		used = total - avail;
		/* Rounded up, as df does. */
		printf("%-30s %12" PRIu64 " %12" PRIu64 " %12" PRIu64
		    " %3" PRIu64 "%%\n", fname(fc, rp.path), total, used,
		    avail, total ? (used * 100 + total - 1) / total : 0);
	}
	return fstatus(r);
}

/* --- dispatch ------------------------------------------------------------- */

int
cmd_files(struct run *r)
{
	const char *cmd = r->o->cmd;
	int min = 1;

	if (strcmp(cmd, "get") == 0 || strcmp(cmd, "put") == 0 ||
	    strcmp(cmd, "cp") == 0 || strcmp(cmd, "mv") == 0 ||
	    strcmp(cmd, "ln") == 0)
		min = 2;
	if (r->o->nargs < min)
		errx(FX_USAGE, "%s: too few arguments (msgpeer -h)", cmd);
	if (strcmp(cmd, "ls") == 0)
		cmd_ls(r);
	else if (strcmp(cmd, "stat") == 0)
		cmd_stat(r);
	else if (strcmp(cmd, "cat") == 0)
		cmd_cat(r);
	else if (strcmp(cmd, "get") == 0)
		cmd_get(r);
	else if (strcmp(cmd, "put") == 0)
		cmd_put(r);
	else if (strcmp(cmd, "cp") == 0)
		cmd_cp(r);
	else if (strcmp(cmd, "mv") == 0)
		cmd_mv(r);
	else if (strcmp(cmd, "rm") == 0)
		cmd_rm(r);
	else if (strcmp(cmd, "mkdir") == 0)
		cmd_mkdir(r);
	else if (strcmp(cmd, "rmdir") == 0)
		cmd_rmdir(r);
	else if (strcmp(cmd, "ln") == 0)
		cmd_ln(r);
	else
		cmd_df(r);
	if (fflush(stdout) != 0)
		ferr(r, "stdout", -errno);
	fconn_close_all(r);
	return fstatus(r);
}

/* For transfer.c: the parsed remote argument, connected. */
struct fconn *
files_remote(struct run *r, const char *arg, struct remote_path *rp)
{
	return remote_arg(r, arg, rp);
}

int
files_list(struct fconn *fc, const char *path, struct proto_vfs_dirent **d,
    size_t *n)
{
	struct names ns;
	int rc = list_dir(fc, path, &ns);

	*d = ns.d;
	*n = ns.n;
	return rc;
}
