/*
 * vfs_fs.c - the VFS server's file system calls, run on worker threads.
 *
 * The security rules of msgproto(7) section 6 live here. Every path is
 * resolved from the export's root descriptor by openat2(2) with
 * RESOLVE_BENEATH (nothing above the root), RESOLVE_NO_MAGICLINKS (no
 * /proc/self/fd escapes) and RESOLVE_NO_SYMLINKS (a symbolic link
 * anywhere in the path, swapped in by a concurrent rename or not, fails
 * with ELOOP instead of being followed; a final symbolic link is opened
 * as itself with O_PATH|O_NOFOLLOW). An object found is checked against
 * the identity its node recorded, so a name that now means another
 * object answers ESTALE. Special files are never opened for data: the
 * type is checked on an O_PATH descriptor first, and the data open adds
 * O_NONBLOCK and O_NOFOLLOW against a swap in between.
 *
 * The /proc/self/fd/N paths below name descriptors this server opened
 * and checked itself; they are how chmod, utimes and truncate reach an
 * O_PATH descriptor. Clients never supply them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "proto_numbers.h"
#include "vfs_int.h"

#define RESOLVE_SAFE	(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | \
			 RESOLVE_NO_SYMLINKS)

static int
openat2_beneath(int rootfd, const char *path, int flags, mode_t mode)
{
	struct open_how how;
	long fd;

	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC);
	if (flags & O_CREAT)
		how.mode = mode & 07777;
	how.resolve = RESOLVE_SAFE;
	do {
		fd = syscall(SYS_openat2, rootfd, path[0] ? path : ".", &how,
		    sizeof(how));
	} while (fd < 0 && errno == EAGAIN);
	return (int)fd;
}

int
vfs_name_check(const char *name, size_t len)
{
	if (len == 0 || (len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return EINVAL;
	if (memchr(name, '/', len) != NULL || memchr(name, '\0', len) != NULL)
		return EINVAL;
	if (len > 255)
		return ENAMETOOLONG;
	return 0;
}

int
vfs_child_path(const struct vfs_node *dir, const char *name, char **out)
{
	size_t dl = strlen(dir->path), nl = strlen(name);
	char *p;

	if (dl + nl + 2 > VFS_PATH_MAX)
		return ENAMETOOLONG;
	p = malloc(dl + nl + 2);
	if (p == NULL)
		return ENOMEM;
	if (dl == 0)
		memcpy(p, name, nl + 1);
	else {
		memcpy(p, dir->path, dl);
		p[dl] = '/';
		memcpy(p + dl + 1, name, nl + 1);
	}
	*out = p;
	return 0;
}

/* The node's object, opened with flags and checked: 0 or an errno. */
int
vfs_node_open(const struct vfs_node *n, int flags, int *fdp)
{
	struct stat st;
	int fd;

	fd = openat2_beneath(n->exp->rootfd, n->path, flags, 0);
	if (fd < 0)
		return errno == ENOENT ? ESTALE : errno;
	if (fstat(fd, &st) < 0 || st.st_dev != n->dev || st.st_ino != n->ino) {
		close(fd);
		return ESTALE;
	}
	*fdp = fd;
	return 0;
}

int
vfs_open_path(const struct vfs_export *e, const char *path)
{
	return openat2_beneath(e->rootfd, path, O_PATH, 0);
}

static int
stat_path(const struct vfs_export *e, const char *path, struct stat *st)
{
	int fd = openat2_beneath(e->rootfd, path, O_PATH, 0);
	int err = 0;

	if (fd < 0)
		return errno;
	if (fstat(fd, st) < 0)
		err = errno;
	close(fd);
	return err;
}

static void
proc_path(char *buf, size_t len, int fd)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

/* The directory node, checked, for a call on one of its names. */
static int
open_dir(struct vfs_job *jb, int *fd)
{
	if (!S_ISDIR(jb->node->type))
		return ENOTDIR;
	return vfs_node_open(jb->node, O_PATH | O_DIRECTORY, fd);
}

static void
fs_lookup(struct vfs_job *jb)
{
	int fd;

	if ((jb->err = open_dir(jb, &fd)) != 0)
		return;
	close(fd);
	if ((jb->err = vfs_child_path(jb->node, jb->name, &jb->newpath)) != 0)
		return;
	jb->err = stat_path(jb->node->exp, jb->newpath, &jb->st);
}

/*
 * The descriptor a call on the node uses: a cache object's open file,
 * or the node opened O_PATH and checked (*opened: the caller closes it).
 */
static int
node_fd(struct vfs_job *jb, int *fd, int *opened)
{
	*opened = jb->node->datafd < 0;
	if (!*opened) {
		*fd = jb->node->datafd;
		return 0;
	}
	return vfs_node_open(jb->node, O_PATH, fd);
}

static void
fs_getattr(struct vfs_job *jb)
{
	int fd, opened;

	if ((jb->err = node_fd(jb, &fd, &opened)) != 0)
		return;
	if (fstat(fd, &jb->st) < 0)
		jb->err = errno;
	if (opened)
		close(fd);
}

static int
set_times(const char *proc, const struct vfs_job *jb)
{
	struct timespec ts[2];

	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_nsec = UTIME_OMIT;
	ts[0].tv_sec = ts[1].tv_sec = 0;
	if (jb->which & PROTO_VFS_SET_ATIME) {
		ts[0].tv_sec = jb->atime / 1000000000;
		ts[0].tv_nsec = jb->atime % 1000000000;
		if (ts[0].tv_nsec < 0) {
			ts[0].tv_nsec += 1000000000;
			ts[0].tv_sec--;
		}
	}
	if (jb->which & PROTO_VFS_SET_MTIME) {
		ts[1].tv_sec = jb->mtime / 1000000000;
		ts[1].tv_nsec = jb->mtime % 1000000000;
		if (ts[1].tv_nsec < 0) {
			ts[1].tv_nsec += 1000000000;
			ts[1].tv_sec--;
		}
	}
	return utimensat(AT_FDCWD, proc, ts, 0) < 0 ? errno : 0;
}

/* In the order chmod, chown, truncate, times; the first failure ends. */
static int
setattr_fd(struct vfs_job *jb, int fd, int is_link)
{
	char proc[64];

	proc_path(proc, sizeof(proc), fd);
	if (jb->which & PROTO_VFS_SET_MODE) {
		if (is_link)
			return EOPNOTSUPP;
		if (chmod(proc, jb->mode & 07777) < 0)
			return errno;
	}
	if (jb->which & (PROTO_VFS_SET_UID | PROTO_VFS_SET_GID)) {
		if (fchownat(fd, "", jb->which & PROTO_VFS_SET_UID ?
		    (uid_t)jb->uid : (uid_t)-1, jb->which & PROTO_VFS_SET_GID ?
		    (gid_t)jb->gid : (gid_t)-1, AT_EMPTY_PATH |
		    AT_SYMLINK_NOFOLLOW) < 0)
			return errno;
	}
	if (jb->which & PROTO_VFS_SET_SIZE) {
		if (S_ISDIR(jb->node->type))
			return EISDIR;
		if (!S_ISREG(jb->node->type))
			return EINVAL;
		if (truncate(proc, (off_t)jb->size) < 0)
			return errno;
	}
	if (jb->which & (PROTO_VFS_SET_ATIME | PROTO_VFS_SET_MTIME)) {
		if (is_link)
			return EOPNOTSUPP;
		return set_times(proc, jb);
	}
	return 0;
}

static void
fs_setattr(struct vfs_job *jb)
{
	int fd, opened;

	if ((jb->err = node_fd(jb, &fd, &opened)) != 0)
		return;
	jb->err = setattr_fd(jb, fd, S_ISLNK(jb->node->type));
	if (fstat(fd, &jb->st) < 0 && jb->err == 0)
		jb->err = errno;
	if (opened)
		close(fd);
}

/*
 * Entries as DIRENT items, ready to copy into replies: each is a
 * complete item (header, NAME, INO, MODE, COOKIE). The cookie of an
 * entry is getdents' d_off, the position after it: the file system's
 * own stable cookie (ext4's hash, tmpfs's index), which survives
 * concurrent changes as it does for NFS.
 */
struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static int
add_dirent(struct vfs_job *jb, size_t *cap, const struct linux_dirent64 *d)
{
	struct proto_builder b;
	size_t nl = strlen(d->d_name);
	uint8_t *p;
	int len;

	proto_builder_init(&b);
	/* A throwaway message around the item: the builder needs one. */
	if (proto_build_begin(&b, 0, 0, PROTO_CMD_VFS_READDIR) < 0 ||
	    proto_build_nest_begin(&b, PROTO_ITEM_DIRENT, 0) < 0 ||
	    proto_build_string(&b, PROTO_ITEM_NAME, d->d_name, nl) < 0 ||
	    proto_build_u64(&b, PROTO_ITEM_INO, d->d_ino) < 0 ||
	    proto_build_u32(&b, PROTO_ITEM_MODE,
	    (uint32_t)DTTOIF(d->d_type)) < 0 ||
	    proto_build_u64(&b, PROTO_ITEM_COOKIE, (uint64_t)d->d_off) < 0 ||
	    proto_build_nest_end(&b) < 0 || (len = proto_build_end(&b)) < 0) {
		proto_builder_free(&b);
		return ENOMEM;
	}
	len -= PROTO_HDR_LEN;
	if (jb->outlen + (size_t)len > *cap) {
		*cap = (*cap + (size_t)len) * 2;
		p = realloc(jb->out, *cap);
		if (p == NULL) {
			proto_builder_free(&b);
			return ENOMEM;
		}
		jb->out = p;
	}
	memcpy(jb->out + jb->outlen, b.buf + b.msg_start + PROTO_HDR_LEN,
	    (size_t)len);
	jb->outlen += (size_t)len;
	proto_builder_free(&b);
	return 0;
}

static void
fs_readdir(struct vfs_job *jb)
{
	char buf[32768];
	const struct linux_dirent64 *d;
	size_t cap = 0, want = jb->len ? jb->len : 1024;
	uint64_t got = 0;
	long n, off;
	int fd;

	if (!S_ISDIR(jb->node->type)) {
		jb->err = ENOTDIR;
		return;
	}
	if ((jb->err = vfs_node_open(jb->node, O_RDONLY | O_DIRECTORY,
	    &fd)) != 0)
		return;
	if (jb->cookie != 0 && lseek(fd, (off_t)jb->cookie, SEEK_SET) < 0) {
		jb->err = errno == EINVAL ? EINVAL : errno;
		close(fd);
		return;
	}
	jb->eof = 1;
	for (;;) {
		n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
		if (n < 0) {
			jb->err = errno;
			break;
		}
		if (n == 0)
			break;
		for (off = 0; off < n; off += d->d_reclen) {
			d = (const struct linux_dirent64 *)(buf + off);
			if (strcmp(d->d_name, ".") == 0 ||
			    strcmp(d->d_name, "..") == 0)
				continue;
			if (got == want) {
				/* One more exists: say where to go on. */
				jb->eof = 0;
				goto out;
			}
			if ((jb->err = add_dirent(jb, &cap, d)) != 0)
				goto out;
			jb->cookie = (uint64_t)d->d_off;
			got++;
		}
	}
out:
	close(fd);
}

static int
open_data(struct vfs_job *jb, const char *path, int create)
{
	unsigned f = jb->flags;
	int flags, fd;
	struct stat st;

	if ((f & (PROTO_VFS_READ | PROTO_VFS_WRITE)) == 0)
		f |= PROTO_VFS_READ | (create ? PROTO_VFS_WRITE : 0);
	flags = (f & PROTO_VFS_WRITE) ? ((f & PROTO_VFS_READ) ? O_RDWR :
	    O_WRONLY) : O_RDONLY;
	if (f & PROTO_VFS_TRUNC)
		flags |= O_TRUNC;
	if (f & PROTO_VFS_APPEND)
		flags |= O_APPEND;
	if (create)
		flags |= O_CREAT | O_EXCL;
	fd = openat2_beneath(jb->node->exp->rootfd, path, flags | O_NONBLOCK,
	    jb->mode);
	if (fd < 0)
		return errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return ENXIO;
	}
	/* Regular files ignore O_NONBLOCK; clear it all the same. */
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	jb->newfd = fd;
	jb->st = st;
	jb->flags = f;
	return 0;
}

/* The type first, on O_PATH: a device or FIFO is never opened. */
static int
check_openable(const struct stat *st)
{
	if (S_ISDIR(st->st_mode))
		return EISDIR;
	if (S_ISLNK(st->st_mode))
		return ELOOP;
	if (!S_ISREG(st->st_mode))
		return ENXIO;
	return 0;
}

static void
fs_open(struct vfs_job *jb)
{
	struct stat st;
	int fd;

	if ((jb->err = vfs_node_open(jb->node, O_PATH, &fd)) != 0)
		return;
	if (fstat(fd, &st) < 0)
		jb->err = errno;
	close(fd);
	if (jb->err == 0)
		jb->err = check_openable(&st);
	if (jb->err != 0)
		return;
	jb->err = open_data(jb, jb->node->path, 0);
	if (jb->err == 0 && (jb->st.st_ino != jb->node->ino ||
	    jb->st.st_dev != jb->node->dev)) {
		close(jb->newfd);
		jb->newfd = -1;
		jb->err = ESTALE;
	}
}

static void
fs_create(struct vfs_job *jb)
{
	struct stat st;
	int fd;

	if ((jb->err = open_dir(jb, &fd)) != 0)
		return;
	close(fd);
	if ((jb->err = vfs_child_path(jb->node, jb->name, &jb->newpath)) != 0)
		return;
	jb->err = open_data(jb, jb->newpath, 1);
	if (jb->err != EEXIST || (jb->flags & PROTO_VFS_EXCL))
		return;
	/* It exists: open it, as VFS_OPEN would, if it is a file. */
	if ((jb->err = stat_path(jb->node->exp, jb->newpath, &st)) != 0)
		return;
	if ((jb->err = check_openable(&st)) != 0)
		return;
	jb->err = open_data(jb, jb->newpath, 0);
}

static void
fs_make(struct vfs_job *jb)
{
	int dfd;

	if ((jb->err = open_dir(jb, &dfd)) != 0)
		return;
	if ((jb->err = vfs_child_path(jb->node, jb->name, &jb->newpath)) != 0) {
		close(dfd);
		return;
	}
	if (jb->cmd == PROTO_CMD_VFS_MKDIR) {
		if (mkdirat(dfd, jb->name, jb->mode & 07777) < 0)
			jb->err = errno;
	} else if (symlinkat(jb->symtarget, dfd, jb->name) < 0)
		jb->err = errno;
	close(dfd);
	if (jb->err == 0)
		jb->err = stat_path(jb->node->exp, jb->newpath, &jb->st);
}

static void
fs_readlink(struct vfs_job *jb)
{
	ssize_t n;
	int fd;

	if (!S_ISLNK(jb->node->type)) {
		jb->err = EINVAL;
		return;
	}
	if ((jb->err = vfs_node_open(jb->node, O_PATH, &fd)) != 0)
		return;
	jb->out = malloc(VFS_PATH_MAX);
	if (jb->out == NULL)
		jb->err = ENOMEM;
	else if ((n = readlinkat(fd, "", (char *)jb->out, VFS_PATH_MAX)) < 0)
		jb->err = errno;
	else if (n == VFS_PATH_MAX)
		jb->err = ENAMETOOLONG;
	else
		jb->outlen = (size_t)n;
	close(fd);
}

static void
fs_link(struct vfs_job *jb)
{
	char proc[64];
	int dfd, sfd;

	if ((jb->err = open_dir(jb, &dfd)) != 0)
		return;
	if ((jb->err = vfs_node_open(jb->other, O_PATH, &sfd)) != 0) {
		close(dfd);
		return;
	}
	if (S_ISDIR(jb->other->type))
		jb->err = EPERM;
	else if (linkat(sfd, "", dfd, jb->name, AT_EMPTY_PATH) < 0) {
		jb->err = errno;
		/* Without CAP_DAC_READ_SEARCH: through our own descriptor. */
		proc_path(proc, sizeof(proc), sfd);
		if (jb->err == ENOENT && linkat(AT_FDCWD, proc, dfd, jb->name,
		    AT_SYMLINK_FOLLOW) == 0)
			jb->err = 0;
	}
	if (jb->err == 0 && fstat(sfd, &jb->st) < 0)
		jb->err = errno;
	close(sfd);
	close(dfd);
}

static void
fs_unlink(struct vfs_job *jb)
{
	int dfd;

	if ((jb->err = open_dir(jb, &dfd)) != 0)
		return;
	if (unlinkat(dfd, jb->name, (jb->flags & PROTO_VFS_RMDIR) ?
	    AT_REMOVEDIR : 0) < 0)
		jb->err = errno;
	close(dfd);
}

static void
fs_rename(struct vfs_job *jb)
{
	unsigned flags = 0;
	int dfd, nfd;

	if (jb->flags & ~(PROTO_VFS_NOREPLACE | PROTO_VFS_EXCHANGE) ||
	    jb->flags == (PROTO_VFS_NOREPLACE | PROTO_VFS_EXCHANGE)) {
		jb->err = EINVAL;
		return;
	}
	if (jb->flags & PROTO_VFS_NOREPLACE)
		flags |= RENAME_NOREPLACE;
	if (jb->flags & PROTO_VFS_EXCHANGE)
		flags |= RENAME_EXCHANGE;
	if ((jb->err = open_dir(jb, &dfd)) != 0)
		return;
	if (!S_ISDIR(jb->other->type))
		jb->err = ENOTDIR;
	else
		jb->err = vfs_node_open(jb->other, O_PATH | O_DIRECTORY, &nfd);
	if (jb->err != 0) {
		close(dfd);
		return;
	}
	if (renameat2(dfd, jb->name, nfd, jb->name2, flags) < 0)
		jb->err = errno;
	close(nfd);
	close(dfd);
}

static void
fs_statfs(struct vfs_job *jb)
{
	int fd, opened;

	if ((jb->err = node_fd(jb, &fd, &opened)) != 0)
		return;
	if (fstatfs(fd, &jb->sfs) < 0)
		jb->err = errno;
	if (opened)
		close(fd);
}

static void
fs_fsync(struct vfs_job *jb)
{
	int fd;

	if (jb->node->datafd >= 0) {
		if (fsync(jb->node->datafd) < 0)
			jb->err = errno;
		return;
	}
	if (!S_ISREG(jb->node->type) && !S_ISDIR(jb->node->type)) {
		jb->err = EINVAL;
		return;
	}
	if ((jb->err = vfs_node_open(jb->node, O_RDONLY | O_NONBLOCK,
	    &fd)) != 0)
		return;
	if (fsync(fd) < 0)
		jb->err = errno;
	close(fd);
}

/* --- cache objects ------------------------------------------------------- */

static void
fs_read(struct vfs_job *jb)
{
	ssize_t n;

	while (jb->done < jb->len) {
		n = pread(jb->node->datafd, jb->data + jb->done,
		    jb->len - jb->done, (off_t)(jb->off + jb->done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			jb->err = errno;
			return;
		}
		if (n == 0) {
			jb->eof = 1;
			return;
		}
		jb->done += (uint64_t)n;
	}
}

static void
fs_write(struct vfs_job *jb)
{
	ssize_t n;

	while (jb->done < jb->datalen) {
		n = pwrite(jb->node->datafd, jb->data + jb->done,
		    jb->datalen - jb->done, (off_t)(jb->off + jb->done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			jb->err = errno;
			return;
		}
		jb->done += (uint64_t)n;
	}
}

/* A slice of a server-side copy: copy_file_range, no byte in user space. */
static void
fs_copy(struct vfs_job *jb)
{
	loff_t in = (loff_t)jb->cookie, out = (loff_t)jb->off;
	ssize_t n;

	while (jb->done < jb->len) {
		n = copy_file_range(jb->other->datafd, &in, jb->node->datafd,
		    &out, jb->len - jb->done, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			jb->err = errno;
			return;
		}
		if (n == 0) {
			jb->eof = 1;
			return;
		}
		jb->done += (uint64_t)n;
	}
}

static void
fs_size(struct vfs_job *jb)
{
	if ((jb->which & PROTO_VFS_SET_SIZE) &&
	    ftruncate(jb->node->datafd, (off_t)jb->size) < 0) {
		jb->err = errno;
		return;
	}
	if (fstat(jb->node->datafd, &jb->st) < 0)
		jb->err = errno;
}

void
vfs_fs_run(struct vfs_job *jb)
{
	switch (jb->cmd) {
	case PROTO_CMD_VFS_LOOKUP:
		fs_lookup(jb);
		break;
	case PROTO_CMD_VFS_GETATTR:
		fs_getattr(jb);
		break;
	case PROTO_CMD_VFS_SETATTR:
		fs_setattr(jb);
		break;
	case PROTO_CMD_VFS_READDIR:
		fs_readdir(jb);
		break;
	case PROTO_CMD_VFS_OPEN:
		fs_open(jb);
		break;
	case PROTO_CMD_VFS_CREATE:
		fs_create(jb);
		break;
	case PROTO_CMD_VFS_MKDIR:
	case PROTO_CMD_VFS_SYMLINK:
		fs_make(jb);
		break;
	case PROTO_CMD_VFS_READLINK:
		fs_readlink(jb);
		break;
	case PROTO_CMD_VFS_LINK:
		fs_link(jb);
		break;
	case PROTO_CMD_VFS_UNLINK:
		fs_unlink(jb);
		break;
	case PROTO_CMD_VFS_RENAME:
		fs_rename(jb);
		break;
	case PROTO_CMD_VFS_STATFS:
		fs_statfs(jb);
		break;
	case PROTO_CMD_VFS_FSYNC:
	case PROTO_CMD_CACHE_SYNC:
		fs_fsync(jb);
		break;
	case PROTO_CMD_CACHE_READ:
		fs_read(jb);
		break;
	case PROTO_CMD_CACHE_WRITE:
		if (jb->other != NULL)
			fs_copy(jb);
		else
			fs_write(jb);
		break;
	case PROTO_CMD_CACHE_SIZE:
		fs_size(jb);
		break;
	default:
		jb->err = ENOSYS;
		break;
	}
}
