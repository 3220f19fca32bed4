/*
 * vfs_server.c - SERVICE "vfs": exports, the links of a session, and the
 * VFS commands of msgproto(7) section 6 turned into jobs for workers.
 *
 * A command is handled in two steps. On arrival (the loop thread) it is
 * parsed and checked, and the link its NEWLINK names is bound at once,
 * as a pending node: a client pipelines LOOKUP a, LOOKUP b on a's new
 * link, GETATTR on b's, without waiting, and each must find its link
 * when it comes. A job then waits until the nodes it uses are resolved
 * (their own LOOKUP done), runs on a worker, and is answered from the
 * loop. When a command that bound a link fails, the link is unbound and
 * the jobs waiting on it are answered EBADF, as if the link had never
 * been (msgproto(7): "the later ones get EBADF").
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proto_numbers.h"
#include "vfs_int.h"

/* Jobs waiting for a pending node, in arrival order. */
struct vfs_wait {
	struct vfs_wait *next;
	struct vfs_job *jb;
};

struct vfs_pending {
	struct vfs_wait *head, *tail;
};

static void node_resolved(struct vfs_node *n);
static void node_failed(struct vfs_node *n);

/* --- configuration and exports ------------------------------------------- */

void
proto_vfs_server_config_init(struct proto_vfs_server_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->workers = 4;
	cfg->max_files = 4096;
	cfg->trace_fd = -1;
}

static void
vlog(struct vfs_server *srv, enum proto_log_level level, const char *fmt,
    ...)
{
	char msg[512];
	va_list ap;

	if (srv->cfg.log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	srv->cfg.log(srv->cfg.arg, level, msg);
}

/*
 * Every node holding a descriptor counts against RLIMIT_NOFILE: raise
 * the soft limit to the hard one, and keep 64 back for the sessions'
 * own sockets, listeners and the loop.
 */
static uint32_t
file_budget(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 960;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 30))
		return 1u << 30;
	return rl.rlim_cur > 1024 ? (uint32_t)rl.rlim_cur - 256 :
	    (uint32_t)rl.rlim_cur * 3 / 4;
}

static int vfs_open(void *svc, struct proto_link *l, const struct proto_msg *m,
    void **state);

static const struct proto_service_ops vfs_root_ops;

struct proto_vfs_server *
proto_vfs_server_new(struct proto_peer *p,
    const struct proto_vfs_server_config *cfg, char *err, size_t errlen)
{
	struct vfs_server *srv = calloc(1, sizeof(*srv));

	if (srv == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	srv->cfg = *cfg;
	srv->peer = p;
	srv->loop = proto_peer_loop(p);
	srv->ifd = -1;
	srv->max_files_total = file_budget();
	srv->pool = lpi_pool_new(srv->loop, cfg->workers ? cfg->workers : 4,
	    0);
	if (srv->pool == NULL) {
		snprintf(err, errlen, "worker threads: %s", strerror(errno));
		free(srv);
		return NULL;
	}
	if (vfs_notify_init(srv) < 0)
		vlog(srv, PROTO_LOG_WARN, "inotify: %s: clients will not hear "
		    "of changes", strerror(errno));
	if (proto_peer_serve(p, "vfs", &vfs_root_ops, srv) < 0) {
		snprintf(err, errlen, "serve vfs: %s", strerror(errno));
		proto_vfs_server_free((struct proto_vfs_server *)srv);
		return NULL;
	}
	return (struct proto_vfs_server *)srv;
}

int
proto_vfs_server_export(struct proto_vfs_server *psrv, const char *name,
    const char *dir, int readonly, char *err, size_t errlen)
{
	struct vfs_server *srv = (struct vfs_server *)psrv;
	struct vfs_export *e;
	struct stat st;
	int fd;

	if (vfs_name_check(name, strlen(name)) != 0) {
		snprintf(err, errlen, "%s: not a valid export name", name);
		return -1;
	}
	for (e = srv->exports; e != NULL; e = e->next)
		if (strcmp(e->name, name) == 0) {
			snprintf(err, errlen, "%s: exported twice", name);
			return -1;
		}
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL || (e->name = strdup(name)) == NULL ||
	    (e->dir = strdup(dir)) == NULL) {
		if (e != NULL)
			free(e->name);
		free(e);
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	e->rootfd = fd;
	e->readonly = readonly;
	e->next = srv->exports;
	srv->exports = e;
	return 0;
}

/*
 * Every link of the service closes (its commands answered ECANCELED), so
 * that no session is left holding a node of a server that is gone.
 */
static void
close_links(struct vfs_server *srv)
{
	struct proto_link **v;
	struct vfs_node *n;
	size_t k = 0, i;

	for (n = srv->nodes; n != NULL; n = n->all_next)
		k += n->link != NULL;
	if (k == 0)
		return;
	v = calloc(k, sizeof(*v));
	if (v == NULL)
		return;
	k = 0;
	for (n = srv->nodes; n != NULL; n = n->all_next)
		if (n->link != NULL)
			v[k++] = n->link;
	for (i = 0; i < k; i++)
		proto_link_unexport(v[i]);
	free(v);
}

void
proto_vfs_server_free(struct proto_vfs_server *psrv)
{
	struct vfs_server *srv = (struct vfs_server *)psrv;
	struct vfs_export *e;

	if (srv == NULL)
		return;
	close_links(srv);
	lpi_pool_free(srv->pool);
	vfs_notify_fini(srv);
	while ((e = srv->exports) != NULL) {
		srv->exports = e->next;
		close(e->rootfd);
		free(e->name);
		free(e->dir);
		free(e);
	}
	free(srv);
}

/* --- sessions and nodes ----------------------------------------------------- */

static struct vfs_sess *
sess_get(struct vfs_server *srv, struct proto_session *s)
{
	struct proto_session_info info;
	struct vfs_sess *vs;

	for (vs = srv->sessions; vs != NULL; vs = vs->next)
		if (vs->s == s) {
			vs->refs++;
			return vs;
		}
	vs = calloc(1, sizeof(*vs));
	if (vs == NULL)
		return NULL;
	vs->srv = srv;
	vs->s = s;
	vs->refs = 1;
	proto_session_info(s, &info);
	proto_escape(vs->node, sizeof(vs->node), info.peer_node,
	    strlen(info.peer_node));
	vs->next = srv->sessions;
	srv->sessions = vs;
	return vs;
}

static void
sess_put(struct vfs_sess *vs)
{
	struct vfs_sess **pp;

	if (--vs->refs > 0)
		return;
	for (pp = &vs->srv->sessions; *pp != NULL; pp = &(*pp)->next)
		if (*pp == vs) {
			*pp = vs->next;
			break;
		}
	free(vs);
}

static struct vfs_node *
node_new(struct vfs_sess *vs, struct vfs_export *e, char *path)
{
	struct vfs_server *srv = vs->srv;
	struct vfs_node *n = calloc(1, sizeof(*n));

	if (n == NULL)
		return NULL;
	n->refs = 1;
	n->vs = vs;
	vs->refs++;
	n->exp = e;
	n->path = path;
	n->datafd = -1;
	n->wd = -1;
	n->all_next = srv->nodes;
	if (srv->nodes != NULL)
		srv->nodes->all_prev = n;
	srv->nodes = n;
	return n;
}

static void
node_ref(struct vfs_node *n)
{
	n->refs++;
}

void
vfs_node_unref(struct vfs_node *n)
{
	struct vfs_server *srv = n->vs->srv;

	if (--n->refs > 0)
		return;
	vfs_notify_unwatch(n);
	if (n->all_prev != NULL)
		n->all_prev->all_next = n->all_next;
	else
		srv->nodes = n->all_next;
	if (n->all_next != NULL)
		n->all_next->all_prev = n->all_prev;
	if (n->is_cache) {
		n->vs->files--;
		srv->files--;
	}
	if (n->datafd >= 0)
		close(n->datafd);
	free(n->waiting);
	free(n->path);
	sess_put(n->vs);
	free(n);
}

static void
node_set(struct vfs_node *n, const struct stat *st)
{
	n->dev = st->st_dev;
	n->ino = st->st_ino;
	n->type = st->st_mode & S_IFMT;
}

/* --- the trace ------------------------------------------------------------- */

static void
json_string(char *out, size_t len, const char *s)
{
	size_t o = 0;

	for (; *s != '\0' && o + 8 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(out + o, len - o, "\\u%04x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

/*
 * One JSON line per path a client used: a dependency trace. A missing
 * file is a dependency too, so failures are recorded with their errno.
 */
void
vfs_trace(struct vfs_node *n, const char *op, const char *path, int err)
{
	char node[1600], epath[VFS_PATH_MAX * 2 + 64], ename[600], line[8192];
	char status[16];
	struct timespec ts;
	int len;

	if (n->vs->srv->cfg.trace_fd < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	json_string(node, sizeof(node), n->vs->node);
	json_string(epath, sizeof(epath), path);
	json_string(ename, sizeof(ename), n->exp->name);
	len = snprintf(line, sizeof(line), "{\"time\":%lld.%09ld,\"node\":\"%s\","
	    "\"export\":\"%s\",\"op\":\"%s\",\"path\":\"%s\",\"status\":"
	    "\"%s\"}\n", (long long)ts.tv_sec, ts.tv_nsec, node, ename, op,
	    epath, err == 0 ? "OK" : proto_status_name((uint32_t)err, status,
	    sizeof(status)));
	if (len > 0 && (size_t)len < sizeof(line) &&
	    write(n->vs->srv->cfg.trace_fd, line, (size_t)len) < 0)
		vlog(n->vs->srv, PROTO_LOG_WARN, "trace: %s", strerror(errno));
}

/* --- replies ---------------------------------------------------------------- */

static uint64_t
ns_of(const struct timespec *ts)
{
	return (uint64_t)((int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec);
}

void
vfs_build_attr(struct proto_builder *b, const struct stat *st)
{
	proto_build_nest_begin(b, PROTO_ITEM_ATTR, 0);
	proto_build_u32(b, PROTO_ITEM_MODE, (uint32_t)st->st_mode);
	proto_build_u32(b, PROTO_ITEM_UID, (uint32_t)st->st_uid);
	proto_build_u32(b, PROTO_ITEM_GID, (uint32_t)st->st_gid);
	proto_build_u64(b, PROTO_ITEM_SIZE, (uint64_t)st->st_size);
	proto_build_u32(b, PROTO_ITEM_NLINK, (uint32_t)st->st_nlink);
	proto_build_u64(b, PROTO_ITEM_INO, (uint64_t)st->st_ino);
	proto_build_i64(b, PROTO_ITEM_ATIME, (int64_t)ns_of(&st->st_atim));
	proto_build_i64(b, PROTO_ITEM_MTIME, (int64_t)ns_of(&st->st_mtim));
	proto_build_i64(b, PROTO_ITEM_CTIME, (int64_t)ns_of(&st->st_ctim));
	/* CHANGE: the ctime, which Linux moves on every data or attribute
	   change, with the size against changes within one tick. */
	proto_build_u64(b, PROTO_ITEM_CHANGE, ns_of(&st->st_ctim) ^
	    ((uint64_t)st->st_size << 1));
	proto_build_nest_end(b);
}

void
vfs_reply_attr(struct proto_request *req, const struct stat *st)
{
	struct proto_builder *b = proto_reply_begin(req);

	vfs_build_attr(b, st);
	proto_build_u32(b, PROTO_ITEM_STATUS, 0);
	proto_reply_end(req, 1);
}

int
vfs_readonly_refusal(struct vfs_node *n, struct proto_request *req)
{
	if (!n->exp->readonly)
		return 0;
	proto_reply_status(req, EROFS, "read-only export");
	return 1;
}

/* --- jobs ----------------------------------------------------------------- */

struct vfs_job *
vfs_job_new(struct vfs_server *srv, struct proto_request *req,
    struct vfs_node *n, uint16_t cmd)
{
	struct vfs_job *jb = calloc(1, sizeof(*jb));

	if (jb == NULL)
		return NULL;
	jb->srv = srv;
	jb->req = req;
	jb->node = n;
	node_ref(n);
	jb->cmd = cmd;
	jb->newfd = -1;
	jb->wd = -1;
	return jb;
}

void
vfs_job_free(struct vfs_job *jb)
{
	if (jb->newfd >= 0)
		close(jb->newfd);
	if (jb->newnode != NULL)
		vfs_node_unref(jb->newnode);
	if (jb->other != NULL)
		vfs_node_unref(jb->other);
	vfs_node_unref(jb->node);
	free(jb->symtarget);
	free(jb->data);
	free(jb->newpath);
	free(jb->out);
	free(jb);
}

static void
job_run(struct lpi_job *j)
{
	struct vfs_job *jb = (struct vfs_job *)j;

	vfs_fs_run(jb);
	if (jb->err == 0)
		vfs_notify_prepare(jb);
}

static void
job_done(struct lpi_job *j)
{
	struct vfs_job *jb = (struct vfs_job *)j;

	jb->finish(jb);
}

void
vfs_job_submit(struct vfs_job *jb, void (*finish)(struct vfs_job *))
{
	jb->finish = finish;
	jb->j.run = job_run;
	jb->j.done = job_done;
	lpi_pool_submit(jb->srv->pool, &jb->node->vs->q, &jb->j);
}

static int
wait_on(struct vfs_node *n, struct vfs_job *jb)
{
	struct vfs_wait *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return -1;
	w->jb = jb;
	if (n->waiting == NULL) {
		n->waiting = calloc(1, sizeof(*n->waiting));
		if (n->waiting == NULL) {
			free(w);
			return -1;
		}
	}
	if (n->waiting->tail != NULL)
		n->waiting->tail->next = w;
	else
		n->waiting->head = w;
	n->waiting->tail = w;
	return 0;
}

/* The job's command never happened: EBADF, and what it bound goes too. */
static void
job_fail_unbound(struct vfs_job *jb)
{
	if (jb->req != NULL)
		proto_reply_status(jb->req, EBADF, "no such link");
	if (jb->newnode != NULL)
		node_failed(jb->newnode);
	vfs_job_free(jb);
}

/* Run when the nodes it uses are known; wait for them otherwise. */
void
vfs_job_start(struct vfs_job *jb)
{
	struct vfs_node *n = NULL;

	if (jb->node->pending)
		n = jb->node;
	else if (jb->other != NULL && jb->other->pending)
		n = jb->other;
	if (n != NULL) {
		if (wait_on(n, jb) < 0) {
			proto_reply_status(jb->req, ENOMEM, NULL);
			if (jb->newnode != NULL)
				node_failed(jb->newnode);
			vfs_job_free(jb);
		}
		return;
	}
	if (jb->node->failed || (jb->other != NULL && jb->other->failed)) {
		job_fail_unbound(jb);
		return;
	}
	jb->ready(jb);
}

static void
run_waiting(struct vfs_node *n, int failed)
{
	struct vfs_pending *p = n->waiting;
	struct vfs_wait *w, *next;

	if (p == NULL)
		return;
	w = p->head;
	p->head = p->tail = NULL;
	for (; w != NULL; w = next) {
		next = w->next;
		if (failed)
			job_fail_unbound(w->jb);
		else
			vfs_job_start(w->jb);
		free(w);
	}
}

static void
node_resolved(struct vfs_node *n)
{
	n->pending = 0;
	run_waiting(n, 0);
}

/* A node whose binding command failed: unbound, its waiters EBADF. */
static void
node_failed(struct vfs_node *n)
{
	struct proto_link *l = n->link;

	n->pending = 0;
	n->failed = 1;
	node_ref(n);
	run_waiting(n, 1);
	if (l != NULL)
		proto_link_unexport(l);
	vfs_node_unref(n);
}

/* --- binding new links --------------------------------------------------------- */

static int
read_newlink(const struct proto_msg *m, uint16_t type, uint64_t *id)
{
	struct proto_item it;
	size_t n;

	if (proto_msg_find(m, type, &it, NULL) <= 0 ||
	    proto_item_linkids(&it, &n, NULL) < 0 || n != 1)
		return -1;
	*id = proto_item_linkid(&it, 0);
	return 0;
}

/*
 * Bind NEWLINK as a pending node for jb (its path known now, the object
 * when the job is done). Answers the request on failure: -1.
 */
static int
bind_new(struct vfs_job *jb, const struct proto_msg *m, char *path,
    int is_cache)
{
	struct vfs_node *parent = jb->node, *n;
	struct vfs_server *srv = jb->srv;
	const char *why = NULL;
	uint64_t id;
	int err;

	if (read_newlink(m, PROTO_ITEM_NEWLINK, &id) < 0) {
		free(path);
		proto_reply_status(jb->req, EINVAL, "NEWLINK missing");
		return -1;
	}
	if (is_cache && (parent->vs->files >= srv->cfg.max_files ||
	    srv->files >= srv->max_files_total)) {
		free(path);
		proto_reply_status(jb->req, EMFILE, "too many open files");
		return -1;
	}
	n = node_new(parent->vs, parent->exp, path);
	if (n == NULL) {
		free(path);
		proto_reply_status(jb->req, ENOMEM, NULL);
		return -1;
	}
	err = proto_link_bind(jb->req, id, &vfs_node_ops, n, &n->link, &why);
	if (err != 0) {
		vfs_node_unref(n);
		proto_reply_status(jb->req, err, why);
		return -1;
	}
	n->pending = 1;
	if (is_cache) {
		n->is_cache = 1;
		parent->vs->files++;
		srv->files++;
	}
	/* One reference for the link, one for the job. */
	node_ref(n);
	jb->newnode = n;
	return 0;
}

/* --- commands ----------------------------------------------------------------- */

static int
read_name(const struct proto_msg *m, uint16_t type, char *buf,
    struct proto_request *req)
{
	struct proto_item it;
	const char *s;
	size_t n;
	int err;

	if (proto_msg_find(m, type, &it, NULL) <= 0 ||
	    proto_item_string(&it, &s, &n, NULL) < 0) {
		proto_reply_status(req, EINVAL, type == PROTO_ITEM_NEWNAME ?
		    "NEWNAME missing" : "NAME missing");
		return -1;
	}
	if ((err = vfs_name_check(s, n)) != 0) {
		proto_reply_status(req, err, err == ENAMETOOLONG ?
		    "a name is at most 255 bytes" :
		    "a name is one path component");
		return -1;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	return 0;
}

static int
read_u32(const struct proto_msg *m, uint16_t type, uint32_t *v)
{
	struct proto_item it;

	return proto_msg_find(m, type, &it, NULL) > 0 &&
	    proto_item_u32(&it, v, NULL) == 0;
}

int
vfs_read_u64(const struct proto_msg *m, uint16_t type, uint64_t *v)
{
	struct proto_item it;

	return proto_msg_find(m, type, &it, NULL) > 0 &&
	    proto_item_u64(&it, v, NULL) == 0;
}

static int
read_i64(const struct proto_msg *m, uint16_t type, int64_t *v)
{
	struct proto_item it;

	return proto_msg_find(m, type, &it, NULL) > 0 &&
	    proto_item_i64(&it, v, NULL) == 0;
}

static const char *
op_name(uint16_t cmd)
{
	switch (cmd) {
	case PROTO_CMD_VFS_LOOKUP:
		return "lookup";
	case PROTO_CMD_VFS_OPEN:
		return "open";
	case PROTO_CMD_VFS_CREATE:
		return "create";
	case PROTO_CMD_VFS_MKDIR:
		return "mkdir";
	case PROTO_CMD_VFS_SYMLINK:
		return "symlink";
	case PROTO_CMD_VFS_LINK:
		return "link";
	case PROTO_CMD_VFS_UNLINK:
		return "unlink";
	case PROTO_CMD_VFS_RENAME:
		return "rename";
	case PROTO_CMD_VFS_SETATTR:
		return "setattr";
	case PROTO_CMD_VFS_READDIR:
		return "readdir";
	case PROTO_CMD_VFS_READLINK:
		return "readlink";
	default:
		return NULL;
	}
}

static void
trace_job(struct vfs_job *jb)
{
	const char *op = op_name(jb->cmd);
	char *path = NULL;

	if (op == NULL)
		return;
	if (jb->newnode != NULL)
		path = jb->newnode->path;
	else if (jb->name[0] != '\0' &&
	    vfs_child_path(jb->node, jb->name, &path) == 0) {
		vfs_trace(jb->node, op, path, jb->err);
		free(path);
		return;
	} else
		path = jb->node->path;
	vfs_trace(jb->node, op, path, jb->err);
}

/* A rename moved names: nodes of this export beneath them follow. */
static void
rename_paths(struct vfs_server *srv, struct vfs_export *e, const char *from,
    const char *to)
{
	size_t fl = strlen(from), tl = strlen(to), rest;
	struct vfs_node *n;
	char *p;

	for (n = srv->nodes; n != NULL; n = n->all_next) {
		if (n->exp != e || strncmp(n->path, from, fl) != 0 ||
		    (n->path[fl] != '\0' && n->path[fl] != '/'))
			continue;
		rest = strlen(n->path + fl);
		p = malloc(tl + rest + 1);
		if (p == NULL)
			continue;	/* it answers ESTALE later */
		memcpy(p, to, tl);
		memcpy(p + tl, n->path + fl, rest + 1);
		free(n->path);
		n->path = p;
	}
}

static void
finish_rename(struct vfs_job *jb)
{
	char *from = NULL, *to = NULL, *tmp = NULL;

	if (jb->err == 0 && vfs_child_path(jb->node, jb->name, &from) == 0 &&
	    vfs_child_path(jb->other, jb->name2, &to) == 0) {
		if (jb->flags & PROTO_VFS_EXCHANGE) {
			/* Through a name no path can have: NUL-free "\n". */
			tmp = strdup("\n");
			if (tmp != NULL) {
				rename_paths(jb->srv, jb->node->exp, from, tmp);
				rename_paths(jb->srv, jb->node->exp, to, from);
				rename_paths(jb->srv, jb->node->exp, tmp, to);
			}
			free(tmp);
		} else
			rename_paths(jb->srv, jb->node->exp, from, to);
	}
	free(from);
	free(to);
}

static void
reply_statfs(struct vfs_job *jb)
{
	struct proto_builder *b = proto_reply_begin(jb->req);

	proto_build_nest_begin(b, PROTO_ITEM_STATFS, 0);
	proto_build_u32(b, PROTO_ITEM_BSIZE, (uint32_t)jb->sfs.f_bsize);
	proto_build_u64(b, PROTO_ITEM_BLOCKS, (uint64_t)jb->sfs.f_blocks);
	proto_build_u64(b, PROTO_ITEM_BFREE, (uint64_t)jb->sfs.f_bavail);
	proto_build_u64(b, PROTO_ITEM_FILES, (uint64_t)jb->sfs.f_files);
	proto_build_u32(b, PROTO_ITEM_NAMEMAX, (uint32_t)jb->sfs.f_namelen);
	proto_build_nest_end(b);
	proto_build_u32(b, PROTO_ITEM_STATUS, 0);
	proto_reply_end(jb->req, 1);
}

/*
 * READDIR: the entries in parts of at most 32 KiB; the final reply has
 * the last of them, and COOKIE when entries remain.
 */
static void
reply_readdir(struct vfs_job *jb)
{
	struct proto_builder *b;
	size_t off = 0, start, len;
	uint16_t itemlen;

	for (;;) {
		start = off;
		while (off < jb->outlen) {
			itemlen = proto_get16(jb->out + off + 2);
			if (off - start + itemlen > PROTO_VFS_PART)
				break;
			off += (itemlen + 7u) & ~7u;
		}
		len = off - start;
		b = proto_reply_begin(jb->req);
		if (len > 0)
			proto_build_items(b, jb->out + start, len);
		if (off < jb->outlen) {
			if (proto_reply_end(jb->req, 0) < 0 &&
			    proto_request_link(jb->req) == NULL)
				return;
			continue;
		}
		if (!jb->eof)
			proto_build_u64(b, PROTO_ITEM_COOKIE, jb->cookie);
		proto_build_u32(b, PROTO_ITEM_STATUS, 0);
		proto_reply_end(jb->req, 1);
		return;
	}
}

static void
reply_readlink(struct vfs_job *jb)
{
	struct proto_builder *b = proto_reply_begin(jb->req);

	proto_build_string(b, PROTO_ITEM_SYMTARGET, (const char *)jb->out,
	    jb->outlen);
	proto_build_u32(b, PROTO_ITEM_STATUS, 0);
	proto_reply_end(jb->req, 1);
}

static void
finish_vfs(struct vfs_job *jb)
{
	struct vfs_node *nn = jb->newnode;

	trace_job(jb);
	if (jb->err != 0) {
		proto_reply_status(jb->req, jb->err, NULL);
		if (nn != NULL)
			node_failed(nn);
		vfs_job_free(jb);
		return;
	}
	if (nn != NULL) {
		node_set(nn, &jb->st);
		if (jb->newpath != NULL && strcmp(jb->newpath, nn->path) != 0) {
			free(nn->path);
			nn->path = jb->newpath;
			jb->newpath = NULL;
		}
		if (jb->newfd >= 0) {
			nn->datafd = jb->newfd;
			nn->flags = jb->flags;
			jb->newfd = -1;
		}
		vfs_notify_watch(nn, jb);
	}
	switch (jb->cmd) {
	case PROTO_CMD_VFS_READDIR:
		reply_readdir(jb);
		break;
	case PROTO_CMD_VFS_READLINK:
		reply_readlink(jb);
		break;
	case PROTO_CMD_VFS_STATFS:
		reply_statfs(jb);
		break;
	case PROTO_CMD_VFS_UNLINK:
	case PROTO_CMD_VFS_FSYNC:
		proto_reply_status(jb->req, 0, NULL);
		break;
	case PROTO_CMD_VFS_RENAME:
		finish_rename(jb);
		proto_reply_status(jb->req, 0, NULL);
		break;
	default:
		vfs_reply_attr(jb->req, &jb->st);
		break;
	}
	if (nn != NULL)
		node_resolved(nn);
	vfs_job_free(jb);
}

static void
ready_vfs(struct vfs_job *jb)
{
	vfs_job_submit(jb, finish_vfs);
}

/* NEWDIR or NODE_LINK: a node link of this session and export. */
static int
read_other(struct vfs_job *jb, const struct proto_msg *m, uint16_t type)
{
	struct proto_session *s = proto_link_session(proto_request_link(
	    jb->req));
	struct vfs_node *o;
	uint64_t id;

	if (read_newlink(m, type, &id) < 0) {
		proto_reply_status(jb->req, EINVAL, type == PROTO_ITEM_NEWDIR ?
		    "NEWDIR missing" : "NODE_LINK missing");
		return -1;
	}
	o = vfs_served(s, id);
	if (o == NULL) {
		proto_reply_status(jb->req, EBADF, type == PROTO_ITEM_NEWDIR ?
		    "NEWDIR is no node of this session" :
		    "NODE_LINK is no node of this session");
		return -1;
	}
	if (o->exp != jb->node->exp) {
		proto_reply_status(jb->req, EXDEV, "another export");
		return -1;
	}
	node_ref(o);
	jb->other = o;
	return 0;
}

static int
parse_setattr(struct vfs_job *jb, const struct proto_msg *m)
{
	if (read_u32(m, PROTO_ITEM_MODE, &jb->mode))
		jb->which |= PROTO_VFS_SET_MODE;
	if (read_u32(m, PROTO_ITEM_UID, &jb->uid))
		jb->which |= PROTO_VFS_SET_UID;
	if (read_u32(m, PROTO_ITEM_GID, &jb->gid))
		jb->which |= PROTO_VFS_SET_GID;
	if (vfs_read_u64(m, PROTO_ITEM_SIZE, &jb->size))
		jb->which |= PROTO_VFS_SET_SIZE;
	if (read_i64(m, PROTO_ITEM_ATIME, &jb->atime))
		jb->which |= PROTO_VFS_SET_ATIME;
	if (read_i64(m, PROTO_ITEM_MTIME, &jb->mtime))
		jb->which |= PROTO_VFS_SET_MTIME;
	if (jb->which != 0 && vfs_readonly_refusal(jb->node, jb->req))
		return -1;
	return 0;
}

static int
parse_symlink(struct vfs_job *jb, const struct proto_msg *m)
{
	struct proto_item it;
	const char *s;
	size_t n;

	if (proto_msg_find(m, PROTO_ITEM_SYMTARGET, &it, NULL) <= 0 ||
	    proto_item_string(&it, &s, &n, NULL) < 0 || n == 0 ||
	    n >= VFS_PATH_MAX) {
		proto_reply_status(jb->req, EINVAL, "SYMTARGET missing");
		return -1;
	}
	jb->symtarget = strndup(s, n);
	if (jb->symtarget == NULL) {
		proto_reply_status(jb->req, ENOMEM, NULL);
		return -1;
	}
	return 0;
}

/* What each command needs from the message; -1 when it was answered. */
static int
parse_vfs(struct vfs_job *jb, const struct proto_msg *m)
{
	char *path;
	int err;

	switch (jb->cmd) {
	case PROTO_CMD_VFS_GETATTR:
	case PROTO_CMD_VFS_READLINK:
	case PROTO_CMD_VFS_STATFS:
	case PROTO_CMD_VFS_FSYNC:
		return 0;
	case PROTO_CMD_VFS_SETATTR:
		return parse_setattr(jb, m);
	case PROTO_CMD_VFS_READDIR:
		(void)vfs_read_u64(m, PROTO_ITEM_COOKIE, &jb->cookie);
		(void)vfs_read_u64(m, PROTO_ITEM_LENGTH, &jb->len);
		return 0;
	case PROTO_CMD_VFS_OPEN:
		(void)read_u32(m, PROTO_ITEM_FLAGS, &jb->flags);
		if ((jb->flags & (PROTO_VFS_WRITE | PROTO_VFS_TRUNC |
		    PROTO_VFS_APPEND)) && vfs_readonly_refusal(jb->node,
		    jb->req))
			return -1;
		path = strdup(jb->node->path);
		if (path == NULL) {
			proto_reply_status(jb->req, ENOMEM, NULL);
			return -1;
		}
		return bind_new(jb, m, path, 1);
	case PROTO_CMD_VFS_LOOKUP:
	case PROTO_CMD_VFS_CREATE:
	case PROTO_CMD_VFS_MKDIR:
	case PROTO_CMD_VFS_SYMLINK:
		if (read_name(m, PROTO_ITEM_NAME, jb->name, jb->req) < 0)
			return -1;
		if (jb->cmd != PROTO_CMD_VFS_LOOKUP &&
		    vfs_readonly_refusal(jb->node, jb->req))
			return -1;
		(void)read_u32(m, PROTO_ITEM_MODE, &jb->mode);
		(void)read_u32(m, PROTO_ITEM_FLAGS, &jb->flags);
		if (jb->cmd == PROTO_CMD_VFS_MKDIR && jb->mode == 0)
			jb->mode = 0777;
		if (jb->cmd == PROTO_CMD_VFS_CREATE && jb->mode == 0)
			jb->mode = 0666;
		if (jb->cmd == PROTO_CMD_VFS_SYMLINK &&
		    parse_symlink(jb, m) < 0)
			return -1;
		if ((err = vfs_child_path(jb->node, jb->name, &path)) != 0) {
			proto_reply_status(jb->req, err, NULL);
			return -1;
		}
		return bind_new(jb, m, path, jb->cmd == PROTO_CMD_VFS_CREATE);
	case PROTO_CMD_VFS_LINK:
		if (read_name(m, PROTO_ITEM_NAME, jb->name, jb->req) < 0 ||
		    vfs_readonly_refusal(jb->node, jb->req))
			return -1;
		return read_other(jb, m, PROTO_ITEM_NODE_LINK);
	case PROTO_CMD_VFS_UNLINK:
		if (read_name(m, PROTO_ITEM_NAME, jb->name, jb->req) < 0 ||
		    vfs_readonly_refusal(jb->node, jb->req))
			return -1;
		(void)read_u32(m, PROTO_ITEM_FLAGS, &jb->flags);
		return 0;
	case PROTO_CMD_VFS_RENAME:
		if (read_name(m, PROTO_ITEM_NAME, jb->name, jb->req) < 0 ||
		    read_name(m, PROTO_ITEM_NEWNAME, jb->name2, jb->req) < 0 ||
		    vfs_readonly_refusal(jb->node, jb->req))
			return -1;
		(void)read_u32(m, PROTO_ITEM_FLAGS, &jb->flags);
		return read_other(jb, m, PROTO_ITEM_NEWDIR);
	default:
		proto_reply_status(jb->req, ENOSYS, "not a command of a "
		    "VFS link");
		return -1;
	}
}

static void
vfs_command(void *state, struct proto_request *req, const struct proto_msg *m)
{
	struct vfs_node *n = state;
	uint16_t cmd = proto_msg_command(m);
	struct vfs_job *jb;

	if (cmd >= PROTO_CMD_CACHE_READ && cmd <= PROTO_CMD_CACHE_SIZE) {
		vfs_cache_command(n, req, m);
		return;
	}
	jb = vfs_job_new(n->vs->srv, req, n, cmd);
	if (jb == NULL) {
		proto_reply_status(req, ENOMEM, NULL);
		return;
	}
	if (parse_vfs(jb, m) < 0) {
		jb->req = NULL;
		vfs_job_free(jb);
		return;
	}
	jb->ready = ready_vfs;
	vfs_job_start(jb);
}

static void
vfs_cancel(void *state, struct proto_request *req)
{
	vfs_cache_cancel(state, req);
}

static void
vfs_close(void *state, struct proto_link *l)
{
	struct vfs_node *n = state;

	(void)l;
	n->link = NULL;
	vfs_cache_close(n);
	vfs_node_unref(n);
}

const struct proto_service_ops vfs_node_ops = {
	NULL, vfs_command, vfs_cancel, vfs_close
};

/* LINK_OPEN {SERVICE "vfs", EXPORT}: the export's root directory. */
static int
vfs_open(void *svc, struct proto_link *l, const struct proto_msg *m,
    void **state)
{
	struct vfs_server *srv = svc;
	struct vfs_export *e;
	struct vfs_sess *vs;
	struct vfs_node *n;
	struct proto_item it;
	struct stat st;
	const char *name;
	size_t len;
	char *path;

	if (proto_msg_find(m, PROTO_ITEM_EXPORT, &it, NULL) <= 0 ||
	    proto_item_string(&it, &name, &len, NULL) < 0)
		return EINVAL;
	for (e = srv->exports; e != NULL; e = e->next)
		if (strlen(e->name) == len && memcmp(e->name, name, len) == 0)
			break;
	if (e == NULL)
		return ENOENT;
	/* The root was opened at start: fstat of a held descriptor. */
	if (fstat(e->rootfd, &st) < 0)
		return errno;
	vs = sess_get(srv, proto_link_session(l));
	path = strdup("");
	if (vs == NULL || path == NULL) {
		free(path);
		if (vs != NULL)
			sess_put(vs);
		return ENOMEM;
	}
	n = node_new(vs, e, path);
	sess_put(vs);
	if (n == NULL)
		return ENOMEM;
	n->link = l;
	node_set(n, &st);
	vfs_notify_watch_root(n);
	*state = n;
	return 0;
}

static const struct proto_service_ops vfs_root_ops = {
	vfs_open, vfs_command, vfs_cancel, vfs_close
};

/* A node this session holds, root or not. */
void *
vfs_served(struct proto_session *s, uint64_t id)
{
	void *n = proto_link_served(s, id, &vfs_node_ops);

	return n != NULL ? n : proto_link_served(s, id, &vfs_root_ops);
}
