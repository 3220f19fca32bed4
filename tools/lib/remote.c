/*
 * remote.c - ADDR:EXPORT/PATH, split by the rules of remote.h, and the
 * mode string of ls -l.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "remote.h"

static int
copy_part(char *dst, size_t len, const char *s, size_t n)
{
	if (n >= len)
		return -1;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

/* EXPORT[/PATH] after the address. */
static int
parse_rest(const char *rest, struct remote_path *rp, const char **why)
{
	const char *slash = strchr(rest, '/');
	size_t n = slash != NULL ? (size_t)(slash - rest) : strlen(rest);

	if (n == 0) {
		*why = "no export name after the address";
		return -1;
	}
	if (copy_part(rp->export_name, sizeof(rp->export_name), rest, n) < 0) {
		*why = "export name too long";
		return -1;
	}
	rest += n;
	while (*rest == '/')
		rest++;
	if (copy_part(rp->path, sizeof(rp->path), rest, strlen(rest)) < 0) {
		*why = "path too long";
		return -1;
	}
	return 1;
}

/* addr is arg[0..n); rest begins after the ':' at arg[n]. */
static int
take(const char *arg, size_t n, const char *rest, struct remote_path *rp,
    const char **why)
{
	if (copy_part(rp->addr, sizeof(rp->addr), arg, n) < 0) {
		*why = "address too long";
		return -1;
	}
	return parse_rest(rest, rp, why);
}

static int
parse_bracket(const char *arg, size_t skip, struct remote_path *rp,
    const char **why)
{
	const char *close = strchr(arg + skip, ']');

	if (close == NULL || close[1] != ':') {
		*why = "a bracketed address must end with \"]:\"";
		return -1;
	}
	if (close == arg + skip + 1) {
		*why = "empty address in brackets";
		return -1;
	}
	/* The brackets are ours, not the address's: "unix:" + inside. */
	if (copy_part(rp->addr, sizeof(rp->addr), arg, skip) < 0 ||
	    copy_part(rp->addr + skip, sizeof(rp->addr) - skip,
	    arg + skip + 1, (size_t)(close - arg - skip - 1)) < 0) {
		*why = "address too long";
		return -1;
	}
	return parse_rest(close + 2, rp, why);
}

static int
parse_tcp(const char *arg, struct remote_path *rp, const char **why)
{
	const char *h = arg + 4, *p;

	if (*h == '[') {
		p = strchr(h, ']');
		if (p == NULL || p[1] != ':') {
			*why = "tcp:[IPv6]:PORT: no \"]:\"";
			return -1;
		}
		p += 2;
	} else {
		p = strchr(h, ':');
		if (p == NULL || p == h) {
			*why = "tcp:HOST:PORT: no host";
			return -1;
		}
		p++;
	}
	if (*p < '0' || *p > '9') {
		*why = "tcp:HOST:PORT: no port";
		return -1;
	}
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p != ':') {
		*why = "tcp:HOST:PORT: no ':' before the export";
		return -1;
	}
	return take(arg, (size_t)(p - arg), p + 1, rp, why);
}

int
remote_parse(const char *arg, struct remote_path *rp, const char **why)
{
	const char *p;

	*why = NULL;
	memset(rp, 0, sizeof(*rp));
	if (arg[0] == '[')
		return parse_bracket(arg, 0, rp, why);
	if (strncmp(arg, "tcp:", 4) == 0)
		return parse_tcp(arg, rp, why);
	if (strncmp(arg, "unix:", 5) != 0)
		return 0;
	if (arg[5] == '[')
		return parse_bracket(arg, 5, rp, why);
	p = strchr(arg + 5, ':');
	if (p == NULL || p == arg + 5) {
		*why = p == NULL ? "unix:SOCKET:EXPORT: no ':' after the "
		    "socket" : "unix:SOCKET:EXPORT: no socket path";
		return -1;
	}
	return take(arg, (size_t)(p - arg), p + 1, rp, why);
}

void
mode_string(uint32_t mode, char *buf)
{
	static const char rwx[] = "rwxrwxrwx";
	int i;

	switch (mode & S_IFMT) {
	case S_IFDIR: buf[0] = 'd'; break;
	case S_IFLNK: buf[0] = 'l'; break;
	case S_IFCHR: buf[0] = 'c'; break;
	case S_IFBLK: buf[0] = 'b'; break;
	case S_IFIFO: buf[0] = 'p'; break;
	case S_IFSOCK: buf[0] = 's'; break;
	default: buf[0] = '-'; break;
	}
	for (i = 0; i < 9; i++)
		buf[i + 1] = (mode & (0400u >> i)) ? rwx[i] : '-';
	if (mode & S_ISUID)
		buf[3] = (mode & 0100) ? 's' : 'S';
	if (mode & S_ISGID)
		buf[6] = (mode & 0010) ? 's' : 'S';
	if (mode & S_ISVTX)
		buf[9] = (mode & 0001) ? 't' : 'T';
	buf[10] = '\0';
}

int
path_join(char *buf, size_t len, const char *dir, const char *name)
{
	int n;

	if (dir[0] == '\0')
		n = snprintf(buf, len, "%s", name);
	else if (dir[strlen(dir) - 1] == '/')
		n = snprintf(buf, len, "%s%s", dir, name);
	else
		n = snprintf(buf, len, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}
