/*
 * bench_vfslinks - the memory a VFS server holds per open file.
 *
 *	bench_vfslinks ADDR EXPORT DIR SERVER_PID N
 *
 * Opens one session to ADDR, a link to the "vfs" service's EXPORT
 * (LINK_OPEN {SERVICE "vfs", EXPORT}) and, on it, the directory DIR
 * (VFS_LOOKUP). Then opens files f0000000, f0000001... of DIR (as
 * `fsio mkdir` names them), each with VFS_LOOKUP {NAME, NEWLINK} and,
 * pipelined behind it on the new node's link, VFS_OPEN {FLAGS READ,
 * NEWLINK}: a cache object of its own. Once the open is answered the
 * node's link is given back (LINK_CLOSE), so that what stays is one
 * open file link a file, as a client reading many files holds.
 *
 * WARM files are opened first and the "before" figures taken after
 * them; then N more, and the "after" figures. It prints one line of
 * key=value figures: the resident set (Rss, anonymous memory, from
 * /proc/PID/smaps_rollup) of the server SERVER_PID and of this
 * process, before and after, bytes per link, and the server's open
 * descriptors before and after (/proc/PID/fd).
 */
#include <sys/resource.h>

#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libproto/proto.h"
#include "libproto/proto_session.h"

#define WARM		10
#define BATCH		256		/* opens outstanding at once */
#define SETTLE_NS	(200 * PROTO_MS)	/* quiet before measuring */
#define PHASE_NS	(60 * PROTO_SEC)	/* longest wait for a phase */
#define VFS_READ	0x01u		/* VFS_OPEN's FLAGS: proto_vfs.h */

struct mem {
	long rss, anon;		/* KiB */
};

struct file {
	struct probe *p;
	struct proto_link *node;
	struct proto_link *obj;
	int looked, opened;	/* replies: 0 none, 1 ok, -1 failed */
};

struct probe {
	struct proto_loop *loop;
	struct proto_peer *peer;
	struct proto_session *s;
	struct proto_link *root, *dir;
	struct file *files;
	uint64_t nfiles;	/* asked for */
	uint64_t done;		/* opens answered */
	uint64_t failed;
	int up, lost, root_status, dir_status, root_done, dir_done;
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: bench_vfslinks ADDR EXPORT DIR SERVER_PID N\n");
	exit(2);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
parse_num(const char *what, const char *s, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 ||
	    v < min || v > max)
		errx(2, "%s %s: not a number from %" PRIu64 " to %" PRIu64,
		    what, s, min, max);
	return v;
}

static void
mem_of(pid_t pid, struct mem *m)
{
	char path[64], line[256];
	FILE *f;
	long v;

	snprintf(path, sizeof(path), "/proc/%ld/smaps_rollup", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		err(1, "%s", path);
	memset(m, 0, sizeof(*m));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "Rss: %ld kB", &v) == 1)
			m->rss = v;
		else if (sscanf(line, "Anonymous: %ld kB", &v) == 1)
			m->anon = v;
	}
	fclose(f);
	if (m->rss == 0)
		errx(1, "%s: no Rss", path);
}

static long
fds_of(pid_t pid)
{
	char path[64];
	struct dirent *d;
	DIR *dp;
	long n = 0;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	if ((dp = opendir(path)) == NULL)
		return -1;
	while ((d = readdir(dp)) != NULL)
		if (d->d_name[0] != '.')
			n++;
	closedir(dp);
	return n;
}

static void
on_event(void *arg, struct proto_session *s, enum proto_session_event ev,
    int error, const char *text)
{
	struct probe *p = arg;

	(void)s;
	if (ev == PROTO_EV_UP)
		p->up = 1;
	if (ev == PROTO_EV_LOST) {
		p->lost = 1;
		if (error != ECANCELED)
			errx(1, "session lost: %s", text);
	}
}

static const struct proto_session_ops probe_ops = { on_event };

static void
on_log(void *arg, enum proto_log_level level, const char *msg)
{
	(void)arg;
	if (level <= PROTO_LOG_WARN)
		fprintf(stderr, "bench_vfslinks: %s\n", msg);
}

/* Rounds of the loop until *flag is set; at most PHASE_NS. */
static void
run_until(struct probe *p, const int *flag, const uint64_t *count,
    uint64_t want, const char *what)
{
	uint64_t until = now_ns() + PHASE_NS;

	while (flag != NULL ? *flag == 0 : *count < want) {
		if (now_ns() >= until)
			errx(1, "%s: no answer in %llu s", what,
			    (unsigned long long)(PHASE_NS / PROTO_SEC));
		if (proto_loop_run_once(p->loop, 100 * PROTO_MS) < 0)
			err(1, "proto_loop_run_once");
	}
}

static void
settle(struct probe *p)
{
	uint64_t until = now_ns() + SETTLE_NS, t;

	while ((t = now_ns()) < until)
		if (proto_loop_run_once(p->loop, until - t) < 0)
			err(1, "proto_loop_run_once");
}

static void
on_root(void *arg, struct proto_call *c, const struct proto_msg *m,
    int status, int final)
{
	struct probe *p = arg;

	(void)c;
	(void)m;
	if (!final)
		return;
	p->root_status = status;
	p->root_done = 1;
}

static void
on_dir(void *arg, struct proto_call *c, const struct proto_msg *m,
    int status, int final)
{
	struct probe *p = arg;

	(void)c;
	(void)m;
	if (!final)
		return;
	p->dir_status = status;
	p->dir_done = 1;
}

static void
on_closed(void *arg, struct proto_call *c, const struct proto_msg *m,
    int status, int final)
{
	(void)arg;
	(void)c;
	(void)m;
	(void)status;
	(void)final;
}

static void
on_lookup(void *arg, struct proto_call *c, const struct proto_msg *m,
    int status, int final)
{
	struct file *f = arg;

	(void)c;
	(void)m;
	if (!final)
		return;
	f->looked = status == 0 ? 1 : -1;
	if (status != 0)
		fprintf(stderr, "bench_vfslinks: VFS_LOOKUP: %s\n",
		    strerror(status));
}

static void
on_open(void *arg, struct proto_call *c, const struct proto_msg *m,
    int status, int final)
{
	struct file *f = arg;
	struct probe *p = f->p;

	(void)c;
	(void)m;
	if (!final)
		return;
	p->done++;
	if (status != 0) {
		if (p->failed++ == 0)
			fprintf(stderr, "bench_vfslinks: VFS_OPEN: %s\n",
			    strerror(status));
		f->opened = -1;
		proto_link_forget(f->obj);
		return;
	}
	f->opened = 1;
	/* The node is not needed once its file is open. */
	if (proto_link_close(f->node, on_closed, NULL) < 0)
		errx(1, "LINK_CLOSE of a node failed");
}

/* VFS_LOOKUP {NAME, NEWLINK} on dir, then VFS_OPEN on the new node. */
static void
open_file(struct probe *p, uint64_t i)
{
	struct file *f = &p->files[i];
	struct proto_builder *b;
	char name[24];
	uint64_t id;

	f->p = p;
	snprintf(name, sizeof(name), "f%07" PRIu64, i);
	if ((f->node = proto_link_new(p->dir)) == NULL ||
	    (f->obj = proto_link_new(f->node)) == NULL)
		err(1, "proto_link_new");
	if ((b = proto_cmd_begin(p->dir, PROTO_CMD_VFS_LOOKUP)) == NULL)
		err(1, "proto_cmd_begin");
	id = proto_link_id(f->node);
	if (proto_build_string(b, PROTO_ITEM_NAME, name, strlen(name)) < 0 ||
	    proto_build_linkids(b, PROTO_ITEM_NEWLINK, &id, 1) < 0)
		errx(1, "cannot build VFS_LOOKUP");
	if (proto_cmd_send(p->dir, on_lookup, f) == NULL)
		err(1, "VFS_LOOKUP");
	if ((b = proto_cmd_begin(f->node, PROTO_CMD_VFS_OPEN)) == NULL)
		err(1, "proto_cmd_begin");
	id = proto_link_id(f->obj);
	if (proto_build_u32(b, PROTO_ITEM_FLAGS, VFS_READ) < 0 ||
	    proto_build_linkids(b, PROTO_ITEM_NEWLINK, &id, 1) < 0)
		errx(1, "cannot build VFS_OPEN");
	if (proto_cmd_send(f->node, on_open, f) == NULL)
		err(1, "VFS_OPEN");
}

static void
open_files(struct probe *p, uint64_t total)
{
	while (p->nfiles < total) {
		while (p->nfiles < total && p->nfiles - p->done < BATCH)
			open_file(p, p->nfiles++);
		run_until(p, NULL, &p->done, p->nfiles - (p->nfiles < total ?
		    BATCH / 2 : 0), "VFS_OPEN");
	}
	if (p->failed > 0)
		errx(1, "%" PRIu64 " of %" PRIu64 " opens failed", p->failed,
		    total);
}

static void
print_mem(const char *side, const struct mem *a, const struct mem *b,
    uint64_t k)
{
	printf(" %s_rss0=%ld %s_rss1=%ld %s_anon0=%ld %s_anon1=%ld"
	    " %s_rss_per=%.0f %s_anon_per=%.0f", side, a->rss, side, b->rss,
	    side, a->anon, side, b->anon,
	    side, (double)(b->rss - a->rss) * 1024 / (double)k,
	    side, (double)(b->anon - a->anon) * 1024 / (double)k);
}

int
main(int argc, char **argv)
{
	struct proto_peer_config cfg;
	struct proto_builder *b;
	struct mem srv0, srv1, me0, me1;
	struct probe p;
	char errbuf[256];
	pid_t server;
	uint64_t n, id;
	long fds0, fds1;

	if (argc != 6)
		usage();
	server = (pid_t)parse_num("SERVER_PID", argv[4], 1, INT32_MAX);
	n = parse_num("N", argv[5], 1, 1000000);
	memset(&p, 0, sizeof(p));
	signal(SIGPIPE, SIG_IGN);
	if ((p.files = calloc(WARM + n, sizeof(*p.files))) == NULL)
		err(1, NULL);
	if ((p.loop = proto_loop_new()) == NULL)
		err(1, "proto_loop_new");
	proto_peer_config_init(&cfg);
	cfg.node = "bench_vfslinks";
	cfg.log = on_log;
	if ((p.peer = proto_peer_new(p.loop, &cfg, errbuf,
	    sizeof(errbuf))) == NULL)
		errx(1, "%s", errbuf);
	p.s = proto_peer_connect(p.peer, argv[1], &probe_ops, &p, errbuf,
	    sizeof(errbuf));
	if (p.s == NULL)
		errx(1, "%s", errbuf);
	if ((p.root = proto_link_open(p.s, "vfs", argv[2], on_root,
	    &p)) == NULL)
		err(1, "proto_link_open");
	if ((p.dir = proto_link_new(p.root)) == NULL)
		err(1, "proto_link_new");
	if ((b = proto_cmd_begin(p.root, PROTO_CMD_VFS_LOOKUP)) == NULL)
		err(1, "proto_cmd_begin");
	id = proto_link_id(p.dir);
	if (proto_build_string(b, PROTO_ITEM_NAME, argv[3],
	    strlen(argv[3])) < 0 ||
	    proto_build_linkids(b, PROTO_ITEM_NEWLINK, &id, 1) < 0)
		errx(1, "cannot build VFS_LOOKUP");
	if (proto_cmd_send(p.root, on_dir, &p) == NULL)
		err(1, "VFS_LOOKUP");
	run_until(&p, &p.dir_done, NULL, 0, "LINK_OPEN and VFS_LOOKUP");
	if (p.root_status != 0)
		errx(1, "LINK_OPEN vfs %s: %s", argv[2],
		    strerror(p.root_status));
	if (p.dir_status != 0)
		errx(1, "VFS_LOOKUP %s: %s", argv[3], strerror(p.dir_status));

	open_files(&p, WARM);
	settle(&p);
	mem_of(server, &srv0);
	mem_of(getpid(), &me0);
	fds0 = fds_of(server);
	open_files(&p, WARM + n);
	settle(&p);
	mem_of(server, &srv1);
	mem_of(getpid(), &me1);
	fds1 = fds_of(server);
	printf("links=%" PRIu64 " warm=%d", n, WARM);
	print_mem("server", &srv0, &srv1, n);
	print_mem("client", &me0, &me1, n);
	printf(" server_fds0=%ld server_fds1=%ld\n", fds0, fds1);

	proto_session_close(p.s);
	run_until(&p, &p.lost, NULL, 0, "GOODBYE");
	proto_peer_free(p.peer);
	proto_loop_run_once(p.loop, 0);
	proto_loop_free(p.loop);
	free(p.files);
	return 0;
}
