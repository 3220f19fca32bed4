/*
 * vfsprobe - raw VFS commands against a server, for the attack tests:
 * names no well-behaved client would send, walks through symbolic
 * links, links held open and never closed.
 *
 *	vfsprobe ADDR EXPORT STEP...
 *
 * Steps run in order on one session; each prints one line to stdout:
 *	name TEXT	VFS_LOOKUP of TEXT on the root, as one NAME item
 *			(C escapes: \xNN, so "a\x2fb" is "a/b"); prints the
 *			STATUS name, and the type of what was found
 *	long N		VFS_LOOKUP of a name of N bytes of 'a'
 *	walk PATH	LOOKUPs component by component; prints the status of
 *			the first failure, or OK and the type
 *	open PATH	walk, then VFS_OPEN {FLAGS READ}: status
 *	read PATH	walk, open, CACHE_READ of up to 1 MiB: status, then
 *			the bytes as a second line ("data " and hex, 64 max)
 *	list PATH	walk, READDIR: status and the names, sorted by server
 *	create NAME | mkdir NAME | symlink NAME TARGET | unlink NAME |
 *	rmdir NAME | rename NAME NEWNAME | setattr NAME MODE | link OLD NEW
 *			the change on the root directory: status
 *	watch PATH SECONDS
 *			PATH's directory, PATH and PATH opened held with
 *			handlers: "ready", then a line for each VFS_NOTIFY
 *			("dir notify KIND NAME") and CACHE_INVALIDATE
 *			("open invalidate") the server sends in SECONDS
 *	hold N		N files looked up and opened, never closed: prints
 *			how many were accepted and the first refusal, then
 *			waits until killed
 *
 * Exit status: 0 when every step ran (whatever the statuses), 1 when the
 * session failed, 2 usage.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libproto/proto_session.h"
#include "libproto/proto_vfs.h"
#include "proto_numbers.h"

struct probe {
	struct proto_loop *loop;
	struct proto_peer *peer;
	struct proto_session *s;
	struct proto_link *root;
	int lost;
	int closing;
};

/* Items of one command, for proto_call_wait. */
struct items {
	const char *name;
	size_t namelen;
	const char *name2;
	uint64_t link1, link2;
	uint16_t link2type;
	uint32_t mode, flags;
	int has_mode, has_flags;
	uint64_t off, len;
	int has_range;
	const char *target;
};

static void
build(struct proto_builder *b, void *arg)
{
	struct items *it = arg;

	if (it->name != NULL)
		proto_build_string(b, PROTO_ITEM_NAME, it->name, it->namelen);
	if (it->name2 != NULL)
		proto_build_string(b, PROTO_ITEM_NEWNAME, it->name2,
		    strlen(it->name2));
	if (it->target != NULL)
		proto_build_string(b, PROTO_ITEM_SYMTARGET, it->target,
		    strlen(it->target));
	if (it->has_mode)
		proto_build_u32(b, PROTO_ITEM_MODE, it->mode);
	if (it->has_flags)
		proto_build_u32(b, PROTO_ITEM_FLAGS, it->flags);
	if (it->has_range) {
		proto_build_u64(b, PROTO_ITEM_OFFSET, it->off);
		proto_build_u64(b, PROTO_ITEM_LENGTH, it->len);
	}
	if (it->link1 != 0)
		proto_build_linkids(b, PROTO_ITEM_NEWLINK, &it->link1, 1);
	if (it->link2 != 0)
		proto_build_linkids(b, it->link2type, &it->link2, 1);
}

static const char *
sname(int st)
{
	static char buf[16];

	if (st < 0)
		return "LOCAL-FAILURE";
	return proto_status_name((uint32_t)st, buf, sizeof(buf));
}

static const char *
type_of(const uint8_t *reply)
{
	struct proto_msg m;
	struct proto_iter top, in;
	struct proto_item it, c;
	uint32_t mode = 0;

	if (reply == NULL || proto_msg_view(&m, reply, proto_get16(reply + 14),
	    0, NULL) < 0)
		return "";
	proto_iter_init(&top, &m);
	while (proto_iter_next(&top, &it, NULL) > 0) {
		if (proto_item_type(&it) != PROTO_ITEM_ATTR ||
		    proto_iter_nest(&in, &top, &it, NULL) < 0)
			continue;
		while (proto_iter_next(&in, &c, NULL) > 0)
			if (proto_item_type(&c) == PROTO_ITEM_MODE)
				(void)proto_item_u32(&c, &mode, NULL);
	}
	switch (mode & S_IFMT) {
	case S_IFREG:
		return " file";
	case S_IFDIR:
		return " dir";
	case S_IFLNK:
		return " symlink";
	case S_IFIFO:
		return " fifo";
	case S_IFSOCK:
		return " socket";
	case S_IFCHR:
		return " chardev";
	case S_IFBLK:
		return " blockdev";
	default:
		return " ?";
	}
}

/* A command on l binding a new link: the link, or NULL (status in *st). */
static struct proto_link *
bind_cmd(struct proto_link *l, uint16_t cmd, struct items *it, int *st,
    uint8_t **reply)
{
	struct proto_link *nl = proto_link_new(l);

	if (nl == NULL) {
		*st = -1;
		return NULL;
	}
	it->link1 = proto_link_id(nl);
	*st = proto_call_wait(l, cmd, build, it, reply);
	if (*st != 0) {
		proto_link_forget(nl);
		return NULL;
	}
	return nl;
}

static struct proto_link *
walk(struct probe *p, const char *path, int *st, const char **type)
{
	struct proto_link *l = p->root, *nl;
	char comp[4096];
	const char *s = path, *e;
	uint8_t *reply = NULL;
	struct items it;

	*st = 0;
	*type = " dir";
	while (*s != '\0') {
		e = strchr(s, '/');
		if (e == NULL)
			e = s + strlen(s);
		if ((size_t)(e - s) >= sizeof(comp)) {
			*st = ENAMETOOLONG;
			return NULL;
		}
		memcpy(comp, s, (size_t)(e - s));
		comp[e - s] = '\0';
		memset(&it, 0, sizeof(it));
		it.name = comp;
		it.namelen = strlen(comp);
		free(reply);
		reply = NULL;
		nl = bind_cmd(l, PROTO_CMD_VFS_LOOKUP, &it, st, &reply);
		if (nl == NULL) {
			free(reply);
			return NULL;
		}
		*type = type_of(reply);
		l = nl;
		s = *e == '/' ? e + 1 : e;
	}
	free(reply);
	return l;
}

static size_t
unescape(const char *in, char *out, size_t len)
{
	size_t o = 0;
	unsigned v;

	while (*in != '\0' && o < len) {
		if (in[0] == '\\' && in[1] == 'x' && isxdigit((unsigned char)
		    in[2]) && isxdigit((unsigned char)in[3]) &&
		    sscanf(in + 2, "%2x", &v) == 1) {
			out[o++] = (char)v;
			in += 4;
			continue;
		}
		out[o++] = *in++;
	}
	return o;
}

static void
step_name(struct probe *p, const char *text)
{
	char name[8192];
	struct items it;
	uint8_t *reply = NULL;
	int st;

	memset(&it, 0, sizeof(it));
	it.name = name;
	it.namelen = unescape(text, name, sizeof(name));
	(void)bind_cmd(p->root, PROTO_CMD_VFS_LOOKUP, &it, &st, &reply);
	printf("%s%s\n", sname(st), st == 0 ? type_of(reply) : "");
	free(reply);
}

static void
step_long(struct probe *p, const char *n)
{
	size_t len = (size_t)strtoul(n, NULL, 10);
	char *name = malloc(len + 1);

	if (name == NULL)
		exit(2);
	memset(name, 'a', len);
	name[len] = '\0';
	step_name(p, name);
	free(name);
}

static struct proto_link *
open_path(struct probe *p, const char *path, int *st)
{
	struct proto_link *l;
	const char *type;
	struct items it;

	l = walk(p, path, st, &type);
	if (l == NULL)
		return NULL;
	memset(&it, 0, sizeof(it));
	it.flags = PROTO_VFS_READ;
	it.has_flags = 1;
	return bind_cmd(l, PROTO_CMD_VFS_OPEN, &it, st, NULL);
}

struct readbuf {
	uint8_t data[64];
	size_t n;
	uint64_t total;
	int status, done;
};

static void
on_read(void *arg, struct proto_call *c, const struct proto_msg *m,
    int status, int final)
{
	struct readbuf *rb = arg;
	struct proto_item it;
	const uint8_t *d;
	size_t n;

	(void)c;
	if (m != NULL && !final && proto_msg_find(m, PROTO_ITEM_DATA, &it,
	    NULL) > 0 && proto_item_bytes(&it, &d, &n, -1, NULL) == 0) {
		if (rb->n < sizeof(rb->data)) {
			size_t k = sizeof(rb->data) - rb->n < n ?
			    sizeof(rb->data) - rb->n : n;
			memcpy(rb->data + rb->n, d, k);
			rb->n += k;
		}
		rb->total += n;
	}
	if (final) {
		rb->status = m == NULL && status == 0 ? -1 : status;
		rb->done = 1;
	}
}

static void
step_read(struct probe *p, const char *path)
{
	struct proto_builder *b;
	struct proto_link *l;
	struct readbuf rb;
	size_t i;
	int st;

	l = open_path(p, path, &st);
	if (l == NULL) {
		printf("%s\n", sname(st));
		return;
	}
	memset(&rb, 0, sizeof(rb));
	b = proto_cmd_begin(l, PROTO_CMD_CACHE_READ);
	proto_build_u64(b, PROTO_ITEM_OFFSET, 0);
	proto_build_u64(b, PROTO_ITEM_LENGTH, 1 << 20);
	if (proto_cmd_send(l, on_read, &rb) == NULL) {
		printf("LOCAL-FAILURE\n");
		return;
	}
	while (!rb.done)
		if (proto_loop_run_once(p->loop, UINT64_MAX) < 0)
			break;
	printf("%s %llu\ndata ", sname(rb.status),
	    (unsigned long long)rb.total);
	for (i = 0; i < rb.n; i++)
		printf("%02x", rb.data[i]);
	printf("\n");
}

static void
print_names(const struct proto_msg *m)
{
	struct proto_iter top, in;
	struct proto_item it, c;
	const char *s;
	size_t n;

	proto_iter_init(&top, m);
	while (proto_iter_next(&top, &it, NULL) > 0) {
		if (proto_item_type(&it) != PROTO_ITEM_DIRENT ||
		    proto_iter_nest(&in, &top, &it, NULL) < 0)
			continue;
		while (proto_iter_next(&in, &c, NULL) > 0)
			if (proto_item_type(&c) == PROTO_ITEM_NAME &&
			    proto_item_string(&c, &s, &n, NULL) == 0)
				printf(" %.*s", (int)n, s);
	}
}

static void
on_list(void *arg, struct proto_call *c, const struct proto_msg *m,
    int status, int final)
{
	struct readbuf *rb = arg;

	(void)c;
	if (m != NULL)
		print_names(m);
	if (final) {
		rb->status = m == NULL && status == 0 ? -1 : status;
		rb->done = 1;
	}
}

/*
 * race PATH N: N walks and reads of PATH while something else renames
 * beneath it; prints each distinct content read once, and the count of
 * each failure status, so a test can tell that nothing else was read.
 */
static void
step_race(struct probe *p, const char *path, const char *count)
{
	long n = strtol(count, NULL, 10), i;
	char seen[8][129];
	int nseen = 0, fails = 0, j, st;
	struct proto_builder *b;
	struct proto_link *l;
	struct readbuf rb;
	char hex[129];
	size_t k;

	for (i = 0; i < n; i++) {
		l = open_path(p, path, &st);
		if (l == NULL) {
			fails++;
			continue;
		}
		memset(&rb, 0, sizeof(rb));
		b = proto_cmd_begin(l, PROTO_CMD_CACHE_READ);
		proto_build_u64(b, PROTO_ITEM_OFFSET, 0);
		proto_build_u64(b, PROTO_ITEM_LENGTH, 64);
		if (proto_cmd_send(l, on_read, &rb) == NULL)
			break;
		while (!rb.done)
			if (proto_loop_run_once(p->loop, UINT64_MAX) < 0)
				break;
		(void)proto_link_close(l, NULL, NULL);
		for (k = 0; k < rb.n; k++)
			snprintf(hex + 2 * k, 3, "%02x", rb.data[k]);
		hex[2 * rb.n] = '\0';
		for (j = 0; j < nseen; j++)
			if (strcmp(seen[j], hex) == 0)
				break;
		if (j == nseen && nseen < 8) {
			snprintf(seen[nseen++], sizeof(seen[0]), "%s", hex);
			printf("data %s\n", hex);
		}
	}
	printf("failed %d of %ld\n", fails, n);
}

static void
step_list(struct probe *p, const char *path)
{
	struct proto_link *l;
	struct proto_builder *b;
	struct readbuf rb;
	const char *type;
	int st;

	l = walk(p, path, &st, &type);
	if (l == NULL) {
		printf("%s\n", sname(st));
		return;
	}
	memset(&rb, 0, sizeof(rb));
	printf("names");
	b = proto_cmd_begin(l, PROTO_CMD_VFS_READDIR);
	proto_build_u64(b, PROTO_ITEM_COOKIE, 0);
	proto_build_u64(b, PROTO_ITEM_LENGTH, 100000);
	if (proto_cmd_send(l, on_list, &rb) == NULL) {
		printf("\nLOCAL-FAILURE\n");
		return;
	}
	while (!rb.done)
		if (proto_loop_run_once(p->loop, UINT64_MAX) < 0)
			break;
	printf("\n%s\n", sname(rb.status));
}

static int
step_change(struct probe *p, char **argv, int argc)
{
	struct proto_link *other = NULL;
	const char *type;
	struct items it;
	uint16_t cmd;
	int st, used = 2;

	memset(&it, 0, sizeof(it));
	it.name = argv[1];
	it.namelen = strlen(argv[1]);
	if (strcmp(argv[0], "create") == 0) {
		cmd = PROTO_CMD_VFS_CREATE;
		(void)bind_cmd(p->root, cmd, &it, &st, NULL);
	} else if (strcmp(argv[0], "mkdir") == 0) {
		cmd = PROTO_CMD_VFS_MKDIR;
		(void)bind_cmd(p->root, cmd, &it, &st, NULL);
	} else if (strcmp(argv[0], "symlink") == 0 && argc > 2) {
		it.target = argv[2];
		used = 3;
		(void)bind_cmd(p->root, PROTO_CMD_VFS_SYMLINK, &it, &st,
		    NULL);
	} else if (strcmp(argv[0], "unlink") == 0 ||
	    strcmp(argv[0], "rmdir") == 0) {
		it.flags = argv[0][0] == 'r' ? PROTO_VFS_RMDIR : 0;
		it.has_flags = 1;
		st = proto_call_wait(p->root, PROTO_CMD_VFS_UNLINK, build, &it,
		    NULL);
	} else if (strcmp(argv[0], "rename") == 0 && argc > 2) {
		it.name2 = argv[2];
		it.link2 = proto_link_id(p->root);
		it.link2type = PROTO_ITEM_NEWDIR;
		used = 3;
		st = proto_call_wait(p->root, PROTO_CMD_VFS_RENAME, build, &it,
		    NULL);
	} else if (strcmp(argv[0], "setattr") == 0 && argc > 2) {
		it.mode = (uint32_t)strtoul(argv[2], NULL, 8);
		it.has_mode = 1;
		used = 3;
		other = walk(p, argv[1], &st, &type);
		it.name = NULL;
		if (other != NULL)
			st = proto_call_wait(other, PROTO_CMD_VFS_SETATTR, build,
			    &it, NULL);
	} else if (strcmp(argv[0], "link") == 0 && argc > 2) {
		other = walk(p, argv[1], &st, &type);
		it.name = argv[2];
		it.namelen = strlen(argv[2]);
		used = 3;
		if (other != NULL) {
			it.link2 = proto_link_id(other);
			it.link2type = PROTO_ITEM_NODE_LINK;
			st = proto_call_wait(p->root, PROTO_CMD_VFS_LINK, build,
			    &it, NULL);
		}
	} else {
		fprintf(stderr, "vfsprobe: bad step %s\n", argv[0]);
		exit(2);
	}
	printf("%s\n", sname(st));
	return used;
}

static void
step_hold(struct probe *p, const char *arg)
{
	long n = strtol(arg, NULL, 10), i;
	struct proto_link *root = p->root;
	int st = 0, first = 0;

	for (i = 0; i < n; i++) {
		if (open_path(p, "f", &st) == NULL) {
			first = st;
			break;
		}
	}
	(void)root;
	printf("held %ld %s\n", i, sname(first));
	fflush(stdout);
	for (;;)
		if (proto_loop_run_once(p->loop, UINT64_MAX) < 0)
			break;
}

/* Commands the server sends on links we hold: print and answer. */
static void
on_server_command(void *state, struct proto_request *req,
    const struct proto_msg *m)
{
	const char *what = state, *name = "";
	struct proto_item it;
	uint32_t kind = 0;
	size_t n = 0;

	if (proto_msg_command(m) == PROTO_CMD_CACHE_INVALIDATE)
		printf("%s invalidate\n", what);
	else {
		if (proto_msg_find(m, PROTO_ITEM_KIND, &it, NULL) > 0)
			(void)proto_item_u32(&it, &kind, NULL);
		if (proto_msg_find(m, PROTO_ITEM_NAME, &it, NULL) > 0)
			(void)proto_item_string(&it, &name, &n, NULL);
		printf("%s notify %u %.*s\n", what, kind, (int)n, name);
	}
	proto_reply_status(req, 0, NULL);
}

static const struct proto_service_ops watch_ops = {
	NULL, on_server_command, NULL, NULL
};

/*
 * watch DIR/FILE SECONDS: the directory, the file and the file opened
 * are held with handlers; "ready" is printed, then what the server
 * sends for SECONDS.
 */
static void
step_watch(struct probe *p, const char *path, const char *secs)
{
	struct proto_link *file, *dir, *open;
	char dpath[4096], *slash;
	const char *type;
	uint64_t end;
	int st;

	snprintf(dpath, sizeof(dpath), "%s", path);
	slash = strrchr(dpath, '/');
	if (slash != NULL)
		*slash = '\0';
	else
		dpath[0] = '\0';
	dir = dpath[0] != '\0' ? walk(p, dpath, &st, &type) : p->root;
	file = walk(p, path, &st, &type);
	open = open_path(p, path, &st);
	if (dir == NULL || file == NULL || open == NULL) {
		printf("%s\n", sname(st));
		return;
	}
	proto_link_set_handler(dir, &watch_ops, (void *)"dir");
	proto_link_set_handler(file, &watch_ops, (void *)"file");
	proto_link_set_handler(open, &watch_ops, (void *)"open");
	printf("ready\n");
	end = proto_loop_now(p->loop) + (uint64_t)(atof(secs) * 1e9);
	while (proto_loop_now(p->loop) < end)
		if (proto_loop_run_once(p->loop, end - proto_loop_now(p->loop))
		    < 0)
			break;
}

static void
on_event(void *arg, struct proto_session *s, enum proto_session_event ev,
    int error, const char *text)
{
	struct probe *p = arg;

	(void)s;
	(void)error;
	if (ev == PROTO_EV_LOST && !p->closing) {
		fprintf(stderr, "vfsprobe: session lost: %s\n", text);
		p->lost = 1;
		exit(1);
	}
}

static const struct proto_session_ops ops = { on_event };

int
main(int argc, char **argv)
{
	struct proto_peer_config cfg;
	struct probe p;
	const char *type;
	char err[256];
	int i, st;

	if (argc < 4) {
		fprintf(stderr, "usage: vfsprobe ADDR EXPORT STEP...\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&p, 0, sizeof(p));
	proto_peer_config_init(&cfg);
	cfg.connect_tries = 1;
	p.loop = proto_loop_new();
	p.peer = proto_peer_new(p.loop, &cfg, err, sizeof(err));
	if (p.peer == NULL)
		return 2;
	p.s = proto_peer_connect(p.peer, argv[1], &ops, &p, err, sizeof(err));
	if (p.s == NULL) {
		fprintf(stderr, "vfsprobe: %s\n", err);
		return 2;
	}
	p.root = proto_link_open(p.s, "vfs", argv[2], NULL, NULL);
	if (p.root == NULL)
		return 1;
	/* The LINK_OPEN's answer comes before anything sent on the link. */
	st = proto_call_wait(p.root, PROTO_CMD_VFS_GETATTR, NULL, NULL, NULL);
	if (st != 0) {
		printf("root %s\n", sname(st));
		return 1;
	}
	for (i = 3; i < argc;) {
		const char *s = argv[i];

		if (i + 1 >= argc) {
			fprintf(stderr, "vfsprobe: %s needs an argument\n", s);
			return 2;
		}
		if (strcmp(s, "name") == 0)
			step_name(&p, argv[i + 1]);
		else if (strcmp(s, "long") == 0)
			step_long(&p, argv[i + 1]);
		else if (strcmp(s, "walk") == 0) {
			if (walk(&p, argv[i + 1], &st, &type) == NULL)
				printf("%s\n", sname(st));
			else
				printf("OK%s\n", type);
		} else if (strcmp(s, "open") == 0) {
			(void)open_path(&p, argv[i + 1], &st);
			printf("%s\n", sname(st));
		} else if (strcmp(s, "read") == 0)
			step_read(&p, argv[i + 1]);
		else if (strcmp(s, "list") == 0)
			step_list(&p, argv[i + 1]);
		else if (strcmp(s, "watch") == 0 && i + 2 < argc) {
			step_watch(&p, argv[i + 1], argv[i + 2]);
			i++;
		} else if (strcmp(s, "race") == 0 && i + 2 < argc) {
			step_race(&p, argv[i + 1], argv[i + 2]);
			i++;
		} else if (strcmp(s, "hold") == 0)
			step_hold(&p, argv[i + 1]);
		else {
			i += step_change(&p, argv + i, argc - i);
			continue;
		}
		i += 2;
	}
	p.closing = 1;
	proto_peer_free(p.peer);
	proto_loop_free(p.loop);
	return 0;
}
