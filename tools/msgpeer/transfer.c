/*
 * transfer.c - msgpeer get, put, cp and cat: files between here and an
 * export, or within an export (a server-side copy).
 *
 * A recursive get or put walks the tree first (directories and symbolic
 * links made as it goes), then runs the files as a queue with several
 * in flight at once (proto_vfs_get_start), each with its own reads or
 * writes outstanding: small files cost no round trip each. A progress
 * line is drawn on stderr, plain text, when it is a terminal and the
 * transfer has run for a second.
 */
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "files.h"

#define FILES_IN_FLIGHT	8

struct job {
	char *remote, *local;
	uint32_t mode;
	uint64_t size;
	int fd;
	struct proto_vfs_attr attr;
	struct queue *q;
};


struct queue {
	struct run *r;
	struct fconn *fc;
	int put;
	struct job *jobs;
	size_t n, cap, next;
	unsigned running;
	struct proto_vfs_xfer x;
	uint64_t total;		/* bytes of every job, as known */
	uint64_t base;		/* the client's counter at the start */
	uint64_t start_ns, drawn_ns;
	int drawn;
	mode_t umask;
};

/* --- progress ------------------------------------------------------------- */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
moved(const struct queue *q)
{
	uint64_t sent, received;

	proto_vfs_client_counters(q->fc->c, &sent, &received);
	return (q->put ? sent : received) - q->base;
}

static void
human(char *buf, size_t len, double v)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, "%.1f %s", v, unit[i]);
}

static void
draw(struct queue *q, int last)
{
	uint64_t t = now_ns(), done = moved(q);
	char a[32], b[32], c[32];
	double secs;

	/* Long transfers only, on a terminal, a few times a second. */
	if (!isatty(2) || (!last && (t - q->start_ns < 1000000000u ||
	    t - q->drawn_ns < 200000000u)) || (last && !q->drawn))
		return;
	q->drawn_ns = t;
	q->drawn = 1;
	secs = (double)(t - q->start_ns) / 1e9;
	human(a, sizeof(a), (double)done);
	human(b, sizeof(b), (double)q->total);
	human(c, sizeof(c), secs > 0 ? (double)done / secs : 0);
	fprintf(stderr, "\r%3d%% %s of %s, %zu/%zu files, %s/s   ",
	    q->total ? (int)(done * 100 / q->total) : 100, a, b,
	    q->next - q->running, q->n, c);
	if (last)
		fputc('\n', stderr);
}

static void
on_progress(void *arg, uint64_t done, uint64_t total)
{
	(void)done;
	(void)total;
	draw(arg, 0);
}

/* --- the queue ------------------------------------------------------------ */

static int
job_add(struct queue *q, const char *remote, const char *local,
    uint32_t mode, uint64_t size)
{
	struct job *grown, *j;

	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 64;
		grown = reallocarray(q->jobs, q->cap, sizeof(*grown));
		if (grown == NULL)
			err(FX_USAGE, "reallocarray");
		q->jobs = grown;
	}
	j = &q->jobs[q->n++];
	memset(j, 0, sizeof(*j));
	j->remote = strdup(remote);
	j->local = strdup(local);
	if (j->remote == NULL || j->local == NULL)
		err(FX_USAGE, "strdup");
	j->mode = mode;
	j->size = size;
	j->fd = -1;
	j->q = q;
	q->total += size;
	return 0;
}

static void queue_fill(struct queue *q);

static void
job_done(void *arg, int error)
{
	struct job *j = arg;
	struct queue *q = j->q;

	if (error == 0 && !q->put &&
	    fchmod(j->fd, (j->attr.mode & 0777) & ~q->umask) < 0)
		error = -errno;
	if (close(j->fd) < 0 && error == 0)
		error = -errno;
	j->fd = -1;
	if (error != 0) {
		if (q->drawn)
			fputc('\n', stderr);
		ferr(q->r, q->put ? j->local : fname(q->fc, j->remote), error);
	}
	q->running--;
	queue_fill(q);
}

static int
job_start(struct queue *q, struct job *j)
{
	struct proto_vfs_xfer x = q->x;
	int rc;

	x.attr = &j->attr;
	if (q->put)
		j->fd = open(j->local, O_RDONLY | O_CLOEXEC);
	else
		j->fd = open(j->local, O_WRONLY | O_CREAT | O_TRUNC |
		    O_CLOEXEC, 0600);
	if (j->fd < 0) {
		ferr(q->r, j->local, -errno);
		return -1;
	}
	if (q->put)
		rc = proto_vfs_put_start(q->fc->c, j->fd, j->remote, j->mode,
		    &x, job_done, j);
	else
		rc = proto_vfs_get_start(q->fc->c, j->remote, j->fd, &x,
		    job_done, j);
	if (rc < 0) {
		close(j->fd);
		j->fd = -1;
		ferr(q->r, q->put ? j->local : fname(q->fc, j->remote), rc);
		return -1;
	}
	q->running++;
	return 0;
}

/* Start jobs until FILES_IN_FLIGHT run (also from a done callback). */
static void
queue_fill(struct queue *q)
{
	while (q->running < FILES_IN_FLIGHT && q->next < q->n)
		(void)job_start(q, &q->jobs[q->next++]);
}

/*
 * put --ref: one file at a time, each a single CACHE_WRITE whose DATA
 * the server fetches from us (proto_vfs_put_ref).
 */
static void
queue_ref(struct queue *q)
{
	struct job *j;
	int rc;

	for (; q->next < q->n; q->next++) {
		j = &q->jobs[q->next];
		if ((j->fd = open(j->local, O_RDONLY | O_CLOEXEC)) < 0) {
			ferr(q->r, j->local, -errno);
			continue;
		}
		rc = proto_vfs_put_ref(q->fc->c, j->fd, j->remote, j->mode,
		    &q->x);
		close(j->fd);
		if (rc < 0)
			ferr(q->r, j->local, rc);
	}
}

static void
queue_run(struct queue *q)
{
	size_t i;
	int rc;

	q->start_ns = now_ns();
	q->base = 0;
	q->base = moved(q);
	if (q->put && q->r->o->fl_ref)
		queue_ref(q);
	queue_fill(q);
	if ((rc = proto_vfs_drain(q->fc->c)) < 0)
		ferr(q->r, fname(q->fc, ""), rc);
	draw(q, 1);
	for (i = 0; i < q->n; i++) {
		free(q->jobs[i].remote);
		free(q->jobs[i].local);
	}
	free(q->jobs);
	q->jobs = NULL;
	q->n = q->cap = q->next = 0;
}

static void
queue_init(struct queue *q, struct run *r, struct fconn *fc, int put,
    int many)
{
	memset(q, 0, sizeof(*q));
	q->r = r;
	q->fc = fc;
	q->put = put;
	/* Many files: fewer reads each, so that memory stays bounded. */
	q->x.inflight = many ? 4 : 16;
	q->x.chunk = many ? 256 * 1024 : 1024 * 1024;
	q->x.progress = on_progress;
	q->x.arg = q;
	q->umask = umask(022);
	umask(q->umask);
}

/* --- get ------------------------------------------------------------------ */

static const char *
base_name(const struct remote_path *rp)
{
	const char *b = strrchr(rp->path, '/');

	if (rp->path[0] == '\0')
		return rp->export_name;
	return b != NULL ? b + 1 : rp->path;
}

static void
local_into_dir(char *local, size_t len, const char *base)
{
	struct stat st;
	char tmp[4096];

	if (stat(local, &st) == 0 && S_ISDIR(st.st_mode) &&
	    path_join(tmp, sizeof(tmp), local, base) == 0 &&
	    strlen(tmp) < len)
		memcpy(local, tmp, strlen(tmp) + 1);
}

static void
get_tree(struct queue *q, const char *remote, const char *local,
    uint32_t mode)
{
	struct proto_vfs_dirent *d;
	struct proto_vfs_attr a;
	char rs[4096], ls[4096], target[4096];
	size_t i, n;
	int rc;

	if (mkdir(local, (mode & 0777) | 0700) < 0 && errno != EEXIST) {
		ferr(q->r, local, -errno);
		return;
	}
	if ((rc = files_list(q->fc, remote, &d, &n)) < 0) {
		ferr(q->r, fname(q->fc, remote), rc);
		return;
	}
	for (i = 0; i < n; i++) {
		if (path_join(rs, sizeof(rs), remote, d[i].name) < 0 ||
		    path_join(ls, sizeof(ls), local, d[i].name) < 0) {
			ferr(q->r, fname(q->fc, remote), -ENAMETOOLONG);
			continue;
		}
		if (S_ISLNK(d[i].mode)) {
			rc = proto_vfs_readlink(q->fc->c, rs, target,
			    sizeof(target));
			if (rc < 0)
				ferr(q->r, fname(q->fc, rs), rc);
			else if (symlink(target, ls) < 0)
				ferr(q->r, ls, -errno);
			continue;
		}
		if (!S_ISDIR(d[i].mode) && !S_ISREG(d[i].mode)) {
			warnx("get %s: not a regular file: skipped",
			    fname(q->fc, rs));
			continue;
		}
		if ((rc = proto_vfs_stat(q->fc->c, rs, &a)) < 0) {
			ferr(q->r, fname(q->fc, rs), rc);
			continue;
		}
		if (S_ISDIR(a.mode))
			get_tree(q, rs, ls, a.mode);
		else
			job_add(q, rs, ls, a.mode, a.size);
	}
	free(d);
}

int
cmd_get(struct run *r)
{
	struct remote_path rp;
	struct proto_vfs_attr a;
	struct fconn *fc;
	struct queue q;
	char local[4096];
	int rc;

	if (r->o->nargs != 2)
		errx(FX_USAGE, "get takes [-r] REMOTE LOCAL");
	if ((fc = files_remote(r, r->o->args[0], &rp)) == NULL)
		return fstatus(r);
	snprintf(local, sizeof(local), "%s", r->o->args[1]);
	if ((rc = proto_vfs_stat(fc->c, rp.path, &a)) < 0) {
		ferr(r, fname(fc, rp.path), rc);
		return fstatus(r);
	}
	if (S_ISDIR(a.mode) && !r->o->fl_recursive) {
		warnx("get %s: a directory (get -r)", fname(fc, rp.path));
		fmark(r, FX_FAIL);
		return fstatus(r);
	}
	local_into_dir(local, sizeof(local), base_name(&rp));
	queue_init(&q, r, fc, 0, S_ISDIR(a.mode));
	if (S_ISDIR(a.mode))
		get_tree(&q, rp.path, local, a.mode);
	else
		job_add(&q, rp.path, local, a.mode, a.size);
	queue_run(&q);
	return fstatus(r);
}

/* --- put ------------------------------------------------------------------ */

static int
remote_mkdir(struct fconn *fc, const char *path, uint32_t mode)
{
	struct proto_vfs_attr a;
	int rc = proto_vfs_mkdir(fc->c, path, mode);

	if (rc == -EEXIST && proto_vfs_stat(fc->c, path, &a) == 0 &&
	    S_ISDIR(a.mode))
		return 0;
	return rc;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void put_entry(struct queue *q, const char *local, const char *remote);

static void
put_tree(struct queue *q, const char *local, const char *remote,
    mode_t mode)
{
	DIR *dir;
	struct dirent *de;
	char **names = NULL, **grown;
	char ls[4096], rs[4096];
	size_t n = 0, cap = 0, i;
	int rc;

	if ((rc = remote_mkdir(q->fc, remote, mode & 0777)) < 0) {
		ferr(q->r, fname(q->fc, remote), rc);
		return;
	}
	if ((dir = opendir(local)) == NULL) {
		ferr(q->r, local, -errno);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((grown = reallocarray(names, cap,
			    sizeof(*names))) == NULL)
				err(FX_USAGE, "reallocarray");
			names = grown;
		}
		if ((names[n++] = strdup(de->d_name)) == NULL)
			err(FX_USAGE, "strdup");
	}
	closedir(dir);
	if (n > 1)
		qsort(names, n, sizeof(*names), by_name);
	for (i = 0; i < n; i++) {
		if (path_join(ls, sizeof(ls), local, names[i]) < 0 ||
		    path_join(rs, sizeof(rs), remote, names[i]) < 0)
			ferr(q->r, local, -ENAMETOOLONG);
		else
			put_entry(q, ls, rs);
		free(names[i]);
	}
	free(names);
}

static void
put_entry(struct queue *q, const char *local, const char *remote)
{
	struct stat st;
	char target[4096];
	ssize_t n;
	int rc;

	if (lstat(local, &st) < 0) {
		ferr(q->r, local, -errno);
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		put_tree(q, local, remote, st.st_mode);
	} else if (S_ISREG(st.st_mode)) {
		job_add(q, remote, local, st.st_mode & 07777,
		    (uint64_t)st.st_size);
	} else if (S_ISLNK(st.st_mode)) {
		n = readlink(local, target, sizeof(target) - 1);
		if (n < 0) {
			ferr(q->r, local, -errno);
			return;
		}
		target[n] = '\0';
		if ((rc = proto_vfs_symlink(q->fc->c, target, remote)) < 0)
			ferr(q->r, fname(q->fc, remote), rc);
	} else
		warnx("put %s: not a regular file: skipped", local);
}

int
cmd_put(struct run *r)
{
	struct remote_path rp;
	struct fconn *fc;
	struct queue q;
	struct stat st;
	const char *local = r->o->args[0], *b;
	int rc;

	if (r->o->nargs != 2)
		errx(FX_USAGE, "put takes [-r] LOCAL REMOTE");
	if ((fc = files_remote(r, r->o->args[1], &rp)) == NULL)
		return fstatus(r);
	if (stat(local, &st) < 0) {
		ferr(r, local, -errno);
		return fstatus(r);
	}
	if (S_ISDIR(st.st_mode) && !r->o->fl_recursive) {
		warnx("put %s: a directory (put -r)", local);
		fmark(r, FX_FAIL);
		return fstatus(r);
	}
	b = strrchr(local, '/');
	b = b != NULL && b[1] != '\0' ? b + 1 : local;
	if ((rc = into_dir(fc, b, rp.path, sizeof(rp.path))) < 0) {
		ferr(r, fname(fc, rp.path), rc);
		return fstatus(r);
	}
	queue_init(&q, r, fc, 1, S_ISDIR(st.st_mode));
	if (S_ISDIR(st.st_mode))
		put_tree(&q, local, rp.path, st.st_mode);
	else
		job_add(&q, rp.path, local, st.st_mode & 07777,
		    (uint64_t)st.st_size);
	queue_run(&q);
	return fstatus(r);
}

/* --- cp ------------------------------------------------------------------- */

/* Across exports or servers: through an unnamed temporary file. */
static int
copy_stream(struct fconn *fa, const char *from, struct fconn *fb,
    const char *to, uint32_t mode)
{
	char dir[] = "/tmp";
	int fd, rc;

	fd = open(getenv("TMPDIR") != NULL ? getenv("TMPDIR") : dir,
	    O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = proto_vfs_get(fa->c, from, fd, NULL);
	if (rc == 0 && lseek(fd, 0, SEEK_SET) < 0)
		rc = -errno;
	if (rc == 0)
		rc = proto_vfs_put(fb->c, fd, to, mode, NULL);
	close(fd);
	return rc;
}

static void
cp_file(struct run *r, struct fconn *fa, const char *from, struct fconn *fb,
    const char *to, uint32_t mode)
{
	int rc;

	if (fa == fb)
		rc = proto_vfs_copy(fa->c, from, to, NULL);
	else
		rc = copy_stream(fa, from, fb, to, mode & 07777);
	if (rc < 0)
		ferr(r, fname(fb, to), rc);
}

static void
cp_tree(struct run *r, struct fconn *fa, const char *from, struct fconn *fb,
    const char *to, uint32_t mode)
{
	struct proto_vfs_dirent *d;
	struct proto_vfs_attr a;
	char fs[4096], ts[4096], target[4096];
	size_t i, n;
	int rc;

	if ((rc = remote_mkdir(fb, to, mode & 0777)) < 0) {
		ferr(r, fname(fb, to), rc);
		return;
	}
	if ((rc = files_list(fa, from, &d, &n)) < 0) {
		ferr(r, fname(fa, from), rc);
		return;
	}
	for (i = 0; i < n; i++) {
		if (path_join(fs, sizeof(fs), from, d[i].name) < 0 ||
		    path_join(ts, sizeof(ts), to, d[i].name) < 0) {
			ferr(r, fname(fa, from), -ENAMETOOLONG);
			continue;
		}
		if ((rc = proto_vfs_stat(fa->c, fs, &a)) < 0) {
			ferr(r, fname(fa, fs), rc);
			continue;
		}
		if (S_ISDIR(a.mode))
			cp_tree(r, fa, fs, fb, ts, a.mode);
		else if (S_ISREG(a.mode))
			cp_file(r, fa, fs, fb, ts, a.mode);
		else if (S_ISLNK(a.mode)) {
			if ((rc = proto_vfs_readlink(fa->c, fs, target,
			    sizeof(target))) < 0 ||
			    (rc = proto_vfs_symlink(fb->c, target, ts)) < 0)
				ferr(r, fname(fb, ts), rc);
		} else
			warnx("cp %s: not a regular file: skipped",
			    fname(fa, fs));
	}
	free(d);
}

int
cmd_cp(struct run *r)
{
	struct remote_path a, b;
	struct proto_vfs_attr at;
	struct fconn *fa, *fb;
	int rc;

	if (r->o->nargs != 2)
		errx(FX_USAGE, "cp takes [-r] REMOTE REMOTE");
	fa = files_remote(r, r->o->args[0], &a);
	fb = files_remote(r, r->o->args[1], &b);
	if (fa == NULL || fb == NULL)
		return fstatus(r);
	if ((rc = proto_vfs_stat(fa->c, a.path, &at)) < 0) {
		ferr(r, fname(fa, a.path), rc);
		return fstatus(r);
	}
	if (S_ISDIR(at.mode) && !r->o->fl_recursive) {
		warnx("cp %s: a directory (cp -r)", fname(fa, a.path));
		fmark(r, FX_FAIL);
		return fstatus(r);
	}
	if ((rc = into_dir(fb, base_name(&a), b.path, sizeof(b.path))) < 0) {
		ferr(r, fname(fb, b.path), rc);
		return fstatus(r);
	}
	if (S_ISDIR(at.mode))
		cp_tree(r, fa, a.path, fb, b.path, at.mode);
	else
		cp_file(r, fa, a.path, fb, b.path, at.mode);
	return fstatus(r);
}

/* --- cat ------------------------------------------------------------------ */

int
cmd_cat(struct run *r)
{
	struct remote_path rp;
	struct fconn *fc;
	int i, rc;

	fflush(stdout);
	for (i = 0; i < r->o->nargs; i++) {
		if ((fc = files_remote(r, r->o->args[i], &rp)) == NULL)
			continue;
		if ((rc = proto_vfs_get(fc->c, rp.path, STDOUT_FILENO,
		    NULL)) < 0)
			ferr(r, fname(fc, rp.path), rc);
	}
	return fstatus(r);
}
