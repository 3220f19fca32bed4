/*
 * vfs_notify.c - changes underneath: inotify watches on the objects
 * clients hold, turned into VFS_NOTIFY (nodes, directories) and
 * CACHE_INVALIDATE (open files) sent to the client on the link.
 *
 * A link has at most one notification outstanding: what happens while
 * it is is folded into one more, sent when its reply comes, so a file
 * written a thousand times costs its holder two messages, not a
 * thousand. A client is not told of its own writes: a modification
 * within 100 ms of one of the link's own writes is taken as its own.
 * The watch is added on the worker that found the object (it needs a
 * path, which is a file system call) and registered here on the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "proto_numbers.h"
#include "table.h"
#include "vfs_int.h"

#define WATCH_MASK	(IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_DELETE | \
			 IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | \
			 IN_MOVE_SELF | IN_EXCL_UNLINK)
#define OWN_WRITE_NS	100000000ull

static void send_notify(struct vfs_node *n);

static void
on_notify_reply(void *arg, struct proto_call *c, const struct proto_msg *m,
    int status, int final)
{
	struct vfs_node *n = arg;

	(void)c;
	(void)m;
	(void)status;
	if (!final)
		return;
	n->notify_busy = 0;
	if (n->notify_kind != 0 && n->link != NULL)
		send_notify(n);
	vfs_node_unref(n);
}

static void
send_notify(struct vfs_node *n)
{
	struct proto_builder *b;
	unsigned kind = n->notify_kind;

	n->notify_kind = 0;
	if (kind == 0 || n->link == NULL || n->pending)
		return;
	if (kind == 0x100) {
		b = proto_cmd_begin(n->link, PROTO_CMD_CACHE_INVALIDATE);
		if (b == NULL)
			return;
		proto_build_u64(b, PROTO_ITEM_OFFSET, 0);
		proto_build_u64(b, PROTO_ITEM_LENGTH, UINT64_MAX);
	} else {
		b = proto_cmd_begin(n->link, PROTO_CMD_VFS_NOTIFY);
		if (b == NULL)
			return;
		proto_build_u32(b, PROTO_ITEM_KIND, kind);
		if (kind == PROTO_VFS_NOTIFY_ENTRY && n->notify_name[0] != '\0')
			proto_build_string(b, PROTO_ITEM_NAME, n->notify_name,
			    strlen(n->notify_name));
	}
	n->notify_name[0] = '\0';
	n->refs++;
	if (proto_cmd_send(n->link, on_notify_reply, n) == NULL) {
		n->refs--;
		return;
	}
	n->notify_busy = 1;
}

/*
 * Fold an event into the node's next notification: the strongest kind
 * wins (gone over entry over attributes); two different names make an
 * entry notification without NAME (re-read the directory).
 */
static void
post(struct vfs_node *n, unsigned kind, const char *name)
{
	if (n->link == NULL)
		return;
	if (kind == PROTO_VFS_NOTIFY_ENTRY && n->notify_kind ==
	    PROTO_VFS_NOTIFY_ENTRY && strcmp(n->notify_name, name) != 0)
		name = "";
	if (n->notify_kind == 0 || (kind != 0x100 && (n->notify_kind == 0x100 ||
	    kind > n->notify_kind))) {
		n->notify_kind = kind;
		snprintf(n->notify_name, sizeof(n->notify_name), "%s", name);
	} else if (kind == n->notify_kind && kind == PROTO_VFS_NOTIFY_ENTRY)
		snprintf(n->notify_name, sizeof(n->notify_name), "%s", name);
	if (!n->notify_busy)
		send_notify(n);
}

static void
event(struct vfs_server *srv, const struct inotify_event *ev)
{
	struct vfs_node *n, *next;
	uint64_t now = proto_loop_now(srv->loop);
	const char *name = ev->len > 0 ? ev->name : "";

	if (ev->mask & IN_IGNORED) {
		for (n = lpi_table_del(&srv->watches, (uint64_t)ev->wd); n != NULL;
		    n = next) {
			next = n->wd_next;
			n->wd = -1;
			n->wd_next = NULL;
		}
		return;
	}
	for (n = lpi_table_get(&srv->watches, (uint64_t)ev->wd); n != NULL;
	    n = n->wd_next) {
		if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF))
			post(n, PROTO_VFS_NOTIFY_GONE, "");
		else if (ev->mask & (IN_CREATE | IN_DELETE | IN_MOVED_FROM |
		    IN_MOVED_TO))
			post(n, PROTO_VFS_NOTIFY_ENTRY, name);
		else if ((ev->mask & IN_MODIFY) && n->is_cache) {
			if (now - n->own_write_ns > OWN_WRITE_NS)
				post(n, 0x100, "");
		} else if (ev->mask & (IN_MODIFY | IN_ATTRIB)) {
			if (!(ev->mask & IN_MODIFY) ||
			    now - n->own_write_ns > OWN_WRITE_NS)
				post(n, PROTO_VFS_NOTIFY_ATTR, "");
		}
	}
}

static void
on_inotify(struct proto_io *io, unsigned events, void *arg)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct
	    inotify_event))));
	struct vfs_server *srv = arg;
	const struct inotify_event *ev;
	ssize_t len, off;

	(void)io;
	(void)events;
	for (;;) {
		len = read(srv->ifd, buf, sizeof(buf));
		if (len <= 0)
			return;
		for (off = 0; off < len; off += (ssize_t)sizeof(*ev) +
		    ev->len) {
			ev = (const struct inotify_event *)(buf + off);
			event(srv, ev);
		}
	}
}

int
vfs_notify_init(struct vfs_server *srv)
{
	srv->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (srv->ifd < 0)
		return -1;
	srv->iio = proto_io_new(srv->loop, srv->ifd, PROTO_IO_READ,
	    on_inotify, srv);
	if (srv->iio == NULL) {
		close(srv->ifd);
		srv->ifd = -1;
		return -1;
	}
	return 0;
}

void
vfs_notify_fini(struct vfs_server *srv)
{
	if (srv->iio != NULL)
		proto_io_free(srv->iio);
	if (srv->ifd >= 0)
		close(srv->ifd);
	srv->ifd = -1;
	lpi_table_free(&srv->watches);
}

static int
add_watch(int ifd, int fd)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return inotify_add_watch(ifd, proc, WATCH_MASK);
}

/* On the worker: a watch on the object the job found or made. */
void
vfs_notify_prepare(struct vfs_job *jb)
{
	int fd;

	jb->wd = -1;
	if (jb->srv->ifd < 0 || jb->newnode == NULL || S_ISLNK(jb->st.st_mode))
		return;
	if (jb->newfd >= 0) {
		jb->wd = add_watch(jb->srv->ifd, jb->newfd);
		return;
	}
	if (jb->newpath == NULL)
		return;
	fd = vfs_open_path(jb->newnode->exp, jb->newpath);
	if (fd < 0)
		return;
	jb->wd = add_watch(jb->srv->ifd, fd);
	close(fd);
}

static void
attach(struct vfs_node *n, int wd)
{
	struct vfs_server *srv = n->vs->srv;
	struct vfs_node *first;

	if (wd < 0 || n->wd >= 0)
		return;
	first = lpi_table_get(&srv->watches, (uint64_t)wd);
	if (first == NULL && lpi_table_put(&srv->watches, (uint64_t)wd, n) < 0)
		return;
	if (first != NULL) {
		n->wd_next = first->wd_next;
		first->wd_next = n;
	}
	n->wd = wd;
}

void
vfs_notify_watch(struct vfs_node *n, struct vfs_job *jb)
{
	attach(n, jb->wd);
}

/* The root: a held descriptor, no path to resolve, so on the loop. */
void
vfs_notify_watch_root(struct vfs_node *n)
{
	struct vfs_server *srv = n->vs->srv;

	if (srv->ifd >= 0)
		attach(n, add_watch(srv->ifd, n->exp->rootfd));
}

void
vfs_notify_unwatch(struct vfs_node *n)
{
	struct vfs_server *srv = n->vs->srv;
	struct vfs_node *first, **pp;
	int ifd = srv->ifd;

	if (n->wd < 0)
		return;
	first = lpi_table_get(&srv->watches, (uint64_t)n->wd);
	if (first == n) {
		lpi_table_del(&srv->watches, (uint64_t)n->wd);
		if (n->wd_next != NULL)
			(void)lpi_table_put(&srv->watches, (uint64_t)n->wd,
			    n->wd_next);
		else if (ifd >= 0)
			(void)inotify_rm_watch(ifd, n->wd);
	} else if (first != NULL) {
		for (pp = &first->wd_next; *pp != NULL; pp = &(*pp)->wd_next)
			if (*pp == n) {
				*pp = n->wd_next;
				break;
			}
	}
	n->wd = -1;
	n->wd_next = NULL;
}
