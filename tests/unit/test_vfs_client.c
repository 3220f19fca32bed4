/*
 * test_vfs_client.c - the VFS client of libproto/client against the
 * real server, both in this process on one loop: the calls msgpeer does
 * not make (setattr, fsync, rename flags, readlink into a short buffer,
 * listings longer than one VFS_READDIR), transfers from and to pipes and
 * O_APPEND files, several transfers at once, put by REF, a server-side
 * copy, EDEADLK from a loop callback; and the pure parts: path
 * splitting and ATTR parsing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "libproto/proto_vfs.h"
#include "proto_numbers.h"
#include "vfs_int.h"

struct world {
	char dir[64];
	char tree[96];
	struct proto_loop *loop;
	struct proto_peer *sp, *cp;
	struct proto_vfs_server *srv;
	struct proto_session *s;
	struct proto_vfs_client *c;
};

static void
on_event(void *arg, struct proto_session *s, enum proto_session_event ev,
    int error, const char *text)
{
	struct world *w = arg;

	(void)s;
	(void)error;
	(void)text;
	if (ev == PROTO_EV_LOST) {
		w->s = NULL;
		if (w->c != NULL)
			proto_vfs_client_lost(w->c);
	}
}

static const struct proto_session_ops ops = { on_event };

static int
setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	struct proto_peer_config cfg;
	struct proto_vfs_server_config vc;
	char err[256], addr[128];

	assert_non_null(w);
	strcpy(w->dir, "/tmp/test_vfs_client.XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	snprintf(w->tree, sizeof(w->tree), "%s/tree", w->dir);
	assert_int_equal(mkdir(w->tree, 0755), 0);
	w->loop = proto_loop_new();
	assert_non_null(w->loop);
	proto_peer_config_init(&cfg);
	w->sp = proto_peer_new(w->loop, &cfg, err, sizeof(err));
	assert_non_null(w->sp);
	proto_vfs_server_config_init(&vc);
	w->srv = proto_vfs_server_new(w->sp, &vc, err, sizeof(err));
	assert_non_null(w->srv);
	assert_int_equal(proto_vfs_server_export(w->srv, "home", w->tree, 0,
	    err, sizeof(err)), 0);
	snprintf(addr, sizeof(addr), "unix:%s/s", w->dir);
	assert_int_equal(proto_peer_listen(w->sp, addr, err, sizeof(err)), 0);
	w->cp = proto_peer_new(w->loop, &cfg, err, sizeof(err));
	assert_non_null(w->cp);
	w->s = proto_peer_connect(w->cp, addr, &ops, w, err, sizeof(err));
	assert_non_null(w->s);
	w->c = proto_vfs_client_new(w->s, "home", err, sizeof(err));
	assert_non_null(w->c);
	*state = w;
	return 0;
}

static int
teardown(void **state)
{
	struct world *w = *state;
	char cmd[160];

	proto_vfs_client_free(w->c);
	w->c = NULL;
	proto_peer_free(w->cp);
	if (w->srv != NULL)
		proto_vfs_server_free(w->srv);
	if (w->sp != NULL)
		proto_peer_free(w->sp);
	proto_loop_run_once(w->loop, 0);
	proto_loop_free(w->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", w->dir);
	assert_int_equal(system(cmd), 0);
	free(w);
	return 0;
}

static void
local(const struct world *w, char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", w->tree, name);
}

static void
write_file(const char *path, size_t size, unsigned seed)
{
	FILE *f = fopen(path, "w");
	size_t i;

	assert_non_null(f);
	for (i = 0; i < size; i++)
		fputc((int)((i * 131 + seed) % 251), f);
	assert_int_equal(fclose(f), 0);
}

static void
same_files(const char *a, const char *b)
{
	FILE *fa = fopen(a, "r"), *fb = fopen(b, "r");
	int x, y;

	assert_non_null(fa);
	assert_non_null(fb);
	do {
		x = fgetc(fa);
		y = fgetc(fb);
		assert_int_equal(x, y);
	} while (x != EOF);
	fclose(fa);
	fclose(fb);
}

/* --- pure parts -------------------------------------------------------- */

static void
test_path_split(void **state)
{
	struct vc_path p;
	char long_name[300], deep[4000];
	int i;

	(void)state;
	assert_int_equal(vc_path_split(&p, "a//b/./c/"), 0);
	assert_int_equal(p.n, 3);
	assert_string_equal(p.name[0], "a");
	assert_string_equal(p.name[2], "c");
	assert_int_equal(vc_path_split(&p, ""), 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(vc_path_split(&p, "/./"), 0);
	assert_int_equal(p.n, 0);
	/* ".." goes to the server, which refuses it. */
	assert_int_equal(vc_path_split(&p, "../x"), 0);
	assert_string_equal(p.name[0], "..");
	memset(long_name, 'x', 256);
	long_name[256] = '\0';
	assert_int_equal(vc_path_split(&p, long_name), -ENAMETOOLONG);
	long_name[255] = '\0';
	assert_int_equal(vc_path_split(&p, long_name), 0);
	deep[0] = '\0';
	for (i = 0; i <= VC_DEPTH_MAX; i++)
		strcat(deep, "d/");
	assert_int_equal(vc_path_split(&p, deep), -ENAMETOOLONG);
}

static void
test_parse_attr(void **state)
{
	struct proto_builder b;
	struct proto_msg m;
	struct proto_vfs_attr a;
	int len;

	(void)state;
	proto_builder_init(&b);
	proto_build_begin(&b, 5, 9, PROTO_CMD_VFS_GETATTR | PROTO_REPLY_BIT);
	proto_build_u32(&b, PROTO_ITEM_STATUS, 0);
	proto_build_nest_begin(&b, PROTO_ITEM_ATTR, 0);
	proto_build_u32(&b, PROTO_ITEM_MODE, S_IFREG | 0640);
	proto_build_u32(&b, PROTO_ITEM_UID, 1000);
	proto_build_u32(&b, PROTO_ITEM_GID, 100);
	proto_build_u64(&b, PROTO_ITEM_SIZE, 1ull << 40);
	proto_build_u32(&b, PROTO_ITEM_NLINK, 3);
	proto_build_u64(&b, PROTO_ITEM_INO, 77);
	proto_build_i64(&b, PROTO_ITEM_ATIME, -5);
	proto_build_i64(&b, PROTO_ITEM_MTIME, 1234567890123456789ll);
	proto_build_i64(&b, PROTO_ITEM_CTIME, 42);
	proto_build_u64(&b, PROTO_ITEM_CHANGE, 99);
	/* An attribute of later versions: ignored. */
	proto_build_u64(&b, 0x1ff0, 1);
	proto_build_nest_end(&b);
	len = proto_build_end(&b);
	assert_true(len > 0);
	assert_int_equal(proto_msg_view(&m, proto_builder_data(&b),
	    (size_t)len, 0, NULL), 0);
	assert_int_equal(vc_parse_attr(&m, &a), 0);
	assert_int_equal(a.mode, S_IFREG | 0640);
	assert_int_equal(a.uid, 1000);
	assert_int_equal(a.gid, 100);
	assert_true(a.size == 1ull << 40);
	assert_int_equal(a.nlink, 3);
	assert_int_equal(a.ino, 77);
	assert_true(a.atime == -5);
	assert_true(a.mtime == 1234567890123456789ll);
	assert_true(a.ctime == 42);
	assert_int_equal(a.change, 99);
	/* No ATTR at all: a protocol error, not zeros. */
	proto_builder_reset(&b);
	proto_build_begin(&b, 5, 9, PROTO_CMD_VFS_GETATTR | PROTO_REPLY_BIT);
	proto_build_u32(&b, PROTO_ITEM_STATUS, 0);
	len = proto_build_end(&b);
	assert_int_equal(proto_msg_view(&m, proto_builder_data(&b),
	    (size_t)len, 0, NULL), 0);
	assert_int_equal(vc_parse_attr(&m, &a), -EPROTO);
	proto_builder_free(&b);
}

/* --- against the server ---------------------------------------------- */

static void
test_names(void **state)
{
	struct world *w = *state;
	struct proto_vfs_attr a, set;
	struct proto_vfs_statfs st;
	struct stat lst;
	char buf[64], path[256];

	assert_int_equal(proto_vfs_stat(w->c, "", &a), 0);
	assert_true(S_ISDIR(a.mode));
	assert_int_equal(proto_vfs_mkdir(w->c, "d", 0750), 0);
	assert_int_equal(proto_vfs_mkdir(w->c, "d", 0750), -EEXIST);
	assert_int_equal(proto_vfs_mkdir(w->c, "nope/d", 0750), -ENOENT);
	assert_int_equal(proto_vfs_symlink(w->c, "some/where/far", "d/l"), 0);
	assert_int_equal(proto_vfs_readlink(w->c, "d/l", buf, sizeof(buf)),
	    0);
	assert_string_equal(buf, "some/where/far");
	assert_int_equal(proto_vfs_readlink(w->c, "d/l", buf, 5),
	    -ENAMETOOLONG);
	/* Symbolic links are not followed: a lookup through one fails. */
	assert_int_not_equal(proto_vfs_stat(w->c, "d/l/x", &a), 0);
	local(w, path, sizeof(path), "d/f");
	write_file(path, 1000, 1);
	memset(&set, 0, sizeof(set));
	set.mode = 0604;
	set.size = 10;
	set.mtime = 1000000000ll * 1600000000 + 5;
	assert_int_equal(proto_vfs_setattr(w->c, "d/f", PROTO_VFS_SET_MODE |
	    PROTO_VFS_SET_SIZE | PROTO_VFS_SET_MTIME, &set, &a), 0);
	assert_int_equal(a.mode & 07777, 0604);
	assert_int_equal(a.size, 10);
	assert_int_equal(stat(path, &lst), 0);
	assert_int_equal(lst.st_mode & 07777, 0604);
	assert_int_equal(lst.st_size, 10);
	assert_int_equal(lst.st_mtim.tv_sec, 1600000000);
	assert_int_equal(lst.st_mtim.tv_nsec, 5);
	assert_int_equal(proto_vfs_fsync(w->c, "d/f"), 0);
	assert_int_equal(proto_vfs_statfs(w->c, "", &st), 0);
	assert_true(st.bsize > 0 && st.blocks > 0 && st.namemax > 0);
	/* Rename: plain, NOREPLACE over a name, EXCHANGE of two. */
	assert_int_equal(proto_vfs_link(w->c, "d/f", "g"), 0);
	assert_int_equal(proto_vfs_stat(w->c, "g", &a), 0);
	assert_int_equal(a.nlink, 2);
	assert_int_equal(proto_vfs_rename(w->c, "g", "d/l",
	    PROTO_VFS_NOREPLACE), -EEXIST);
	assert_int_equal(proto_vfs_rename(w->c, "g", "d/l",
	    PROTO_VFS_EXCHANGE), 0);
	assert_int_equal(proto_vfs_stat(w->c, "g", &a), 0);
	assert_true(S_ISLNK(a.mode));
	assert_int_equal(proto_vfs_rename(w->c, "g", "h", 0), 0);
	assert_int_equal(proto_vfs_stat(w->c, "g", &a), -ENOENT);
	assert_int_equal(proto_vfs_rmdir(w->c, "d"), -ENOTEMPTY);
	assert_int_equal(proto_vfs_unlink(w->c, "d"), -EISDIR);
	assert_int_equal(proto_vfs_unlink(w->c, "d/f"), 0);
	assert_int_equal(proto_vfs_unlink(w->c, "d/l"), 0);
	assert_int_equal(proto_vfs_rmdir(w->c, "d"), 0);
}

struct seen {
	unsigned char hit[400];
	unsigned n, stop_at;
	int bad;
};

static int
count_entry(void *arg, const struct proto_vfs_dirent *d)
{
	struct seen *s = arg;
	unsigned i;

	if (sscanf(d->name, "e%u", &i) != 1 || i >= 400 || s->hit[i] ||
	    !S_ISREG(d->mode) || d->ino == 0) {
		s->bad = 1;
		return 0;
	}
	s->hit[i] = 1;
	s->n++;
	return s->stop_at != 0 && s->n == s->stop_at ? 7 : 0;
}

static void
test_readdir(void **state)
{
	struct world *w = *state;
	struct seen s;
	char path[256], name[16];
	unsigned i;

	assert_int_equal(proto_vfs_mkdir(w->c, "many", 0755), 0);
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "many/e%u", i);
		local(w, path, sizeof(path), name);
		write_file(path, 0, 0);
	}
	/* More than one VFS_READDIR's worth: each entry once, no dots. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(proto_vfs_readdir(w->c, "many", count_entry, &s), 0);
	assert_false(s.bad);
	assert_int_equal(s.n, 300);
	memset(&s, 0, sizeof(s));
	s.stop_at = 10;
	assert_int_equal(proto_vfs_readdir(w->c, "many", count_entry, &s), 7);
	assert_int_equal(s.n, 10);
	assert_int_equal(proto_vfs_readdir(w->c, "nope", count_entry, &s),
	    -ENOENT);
}

struct done_count {
	int done, errors;
};

static void
count_done(void *arg, int error)
{
	struct done_count *d = arg;

	d->done++;
	if (error != 0)
		d->errors++;
}

static void
test_transfers(void **state)
{
	struct world *w = *state;
	struct proto_vfs_xfer x = { 3, 40000, NULL, NULL, NULL };
	struct proto_vfs_attr a;
	struct done_count dc = { 0, 0 };
	char src[256], dst[256], name[128];
	int fd, fds[5], pfd[2], i;
	uint64_t sent0, recv0, sent, recv;

	snprintf(src, sizeof(src), "%s/src", w->dir);
	write_file(src, 300001, 3);
	proto_vfs_client_counters(w->c, &sent0, &recv0);
	fd = open(src, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(proto_vfs_put(w->c, fd, "a", 0640, &x), 0);
	close(fd);
	local(w, dst, sizeof(dst), "a");
	same_files(src, dst);
	proto_vfs_client_counters(w->c, &sent, &recv);
	assert_int_equal(sent - sent0, 300001);
	/* Get into an O_APPEND file after what it holds. */
	snprintf(dst, sizeof(dst), "%s/app", w->dir);
	fd = open(dst, O_WRONLY | O_CREAT | O_APPEND, 0600);
	assert_true(fd >= 0);
	assert_int_equal(proto_vfs_get(w->c, "a", fd, &x), 0);
	close(fd);
	same_files(src, dst);
	proto_vfs_client_counters(w->c, &sent, &recv);
	assert_int_equal(recv - recv0, 300001);
	/* Put from a pipe: read in order, not seekable. */
	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(write(pfd[1], "through a pipe\n", 15), 15);
	close(pfd[1]);
	assert_int_equal(proto_vfs_put(w->c, pfd[0], "p", 0600, NULL), 0);
	close(pfd[0]);
	assert_int_equal(proto_vfs_stat(w->c, "p", &a), 0);
	assert_int_equal(a.size, 15);
	/* Get to a pipe: written in order. */
	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(proto_vfs_get(w->c, "p", pfd[1], NULL), 0);
	close(pfd[1]);
	{
		char got[32] = "";

		assert_int_equal(read(pfd[0], got, sizeof(got)), 15);
		assert_memory_equal(got, "through a pipe\n", 15);
	}
	close(pfd[0]);
	/* Five at once, then drained. */
	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "%s/get%d", w->dir, i);
		fds[i] = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		assert_true(fds[i] >= 0);
		assert_int_equal(proto_vfs_get_start(w->c, "a", fds[i], &x,
		    count_done, &dc), 0);
	}
	assert_int_equal(proto_vfs_pending(w->c), 5);
	assert_int_equal(proto_vfs_drain(w->c), 0);
	assert_int_equal(proto_vfs_pending(w->c), 0);
	assert_int_equal(dc.done, 5);
	assert_int_equal(dc.errors, 0);
	for (i = 0; i < 5; i++) {
		close(fds[i]);
		snprintf(name, sizeof(name), "%s/get%d", w->dir, i);
		same_files(src, name);
	}
	/* A missing file: done once, with the error. */
	fd = open(dst, O_WRONLY);
	assert_int_equal(proto_vfs_get_start(w->c, "missing/x", fd, NULL,
	    count_done, &dc), 0);
	assert_int_equal(proto_vfs_drain(w->c), 0);
	assert_int_equal(dc.done, 6);
	assert_int_equal(dc.errors, 1);
	close(fd);
	/* By REF: the server reads it from us; and a copy on the server. */
	proto_vfs_client_counters(w->c, &sent0, &recv0);
	fd = open(src, O_RDONLY);
	assert_int_equal(proto_vfs_put_ref(w->c, fd, "r", 0600, NULL), 0);
	close(fd);
	local(w, dst, sizeof(dst), "r");
	same_files(src, dst);
	assert_int_equal(proto_vfs_copy(w->c, "r", "r2", NULL), 0);
	local(w, dst, sizeof(dst), "r2");
	same_files(src, dst);
	proto_vfs_client_counters(w->c, &sent, &recv);
	assert_int_equal(sent - sent0, 300001);
	assert_int_equal(recv - recv0, 0);
	assert_int_equal(proto_vfs_copy(w->c, "nope", "r3", NULL), -ENOENT);
}

struct in_cb {
	struct world *w;
	int rc, called;
};

static void
from_callback(struct proto_timer *t, void *arg)
{
	struct in_cb *cb = arg;
	struct proto_vfs_attr a;

	(void)t;
	cb->called = 1;
	cb->rc = proto_vfs_stat(cb->w->c, "", &a);
}

static void
test_edeadlk(void **state)
{
	struct world *w = *state;
	struct in_cb cb = { w, 0, 0 };
	struct proto_timer *t = proto_timer_new(w->loop, from_callback, &cb);

	assert_non_null(t);
	proto_timer_set(t, 0);
	while (!cb.called)
		assert_true(proto_loop_run_once(w->loop, PROTO_SEC) >= 0);
	assert_int_equal(cb.rc, -EDEADLK);
	proto_timer_free(t);
}

/*
 * The server goes away with transfers in flight: each ends once with
 * an error, and later calls fail at once with ECONNRESET.
 */
static void
test_lost(void **state)
{
	struct world *w = *state;
	struct done_count dc = { 0, 0 };
	struct proto_vfs_attr a;
	char src[256], dst[256];
	int fd, out[3], i;

	local(w, src, sizeof(src), "big");
	write_file(src, 4000000, 5);
	for (i = 0; i < 3; i++) {
		snprintf(dst, sizeof(dst), "%s/out%d", w->dir, i);
		out[i] = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		assert_true(out[i] >= 0);
		assert_int_equal(proto_vfs_get_start(w->c, "big", out[i], NULL,
		    count_done, &dc), 0);
	}
	/* A round or two: the opens are answered, reads are in flight. */
	for (i = 0; i < 3; i++)
		assert_true(proto_loop_run_once(w->loop, 20 * PROTO_MS) >= 0);
	proto_vfs_server_free(w->srv);
	w->srv = NULL;
	proto_peer_free(w->sp);
	w->sp = NULL;
	assert_int_equal(proto_vfs_drain(w->c), 0);
	assert_int_equal(dc.done, 3);
	assert_int_equal(dc.errors, 3);
	assert_null(w->s);
	assert_int_equal(proto_vfs_stat(w->c, "big", &a), -ECONNRESET);
	fd = open(src, O_RDONLY);
	assert_int_equal(proto_vfs_put(w->c, fd, "x", 0600, NULL),
	    -ECONNRESET);
	close(fd);
	for (i = 0; i < 3; i++)
		close(out[i]);
}

static void
kill_server(struct proto_timer *t, void *arg)
{
	struct world *w = arg;

	(void)t;
	proto_vfs_server_free(w->srv);
	w->srv = NULL;
	proto_peer_free(w->sp);
	w->sp = NULL;
}

/* The same under a blocking call: it returns the loss, then the links
   its walk bound are gone with the session and must not be touched. */
static void
test_lost_blocking(void **state)
{
	struct world *w = *state;
	struct proto_timer *t = proto_timer_new(w->loop, kill_server, w);
	char src[256], dst[256];
	int fd, rc;

	assert_non_null(t);
	local(w, src, sizeof(src), "d1");
	assert_int_equal(mkdir(src, 0755), 0);
	local(w, src, sizeof(src), "d1/big");
	write_file(src, 20000000, 6);
	snprintf(dst, sizeof(dst), "%s/out", w->dir);
	fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	proto_timer_set(t, 2 * PROTO_MS);
	rc = proto_vfs_get(w->c, "d1/big", fd, NULL);
	assert_true(rc == -ECONNRESET || rc == -ECANCELED);
	assert_null(w->sp);
	close(fd);
	proto_timer_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_split),
		cmocka_unit_test(test_parse_attr),
		cmocka_unit_test_setup_teardown(test_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readdir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transfers, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_edeadlk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_blocking, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
