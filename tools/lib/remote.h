/*
 * remote.h - msgpeer's remote paths, ADDR:EXPORT/PATH, and the pure
 * helpers its file commands print with.
 *
 * The address ends where its scheme says it does, so that paths in the
 * export may hold ':' freely:
 *	unix:SOCKET:EXPORT/PATH		SOCKET ends at its first ':'
 *	unix:[SOCKET]:EXPORT/PATH	a socket path with ':' in brackets
 *	tcp:HOST:PORT:EXPORT/PATH	HOST a name, an IPv4 address or
 *					[IPv6]; PORT digits
 *	[ADDR]:EXPORT/PATH		any address of proto_transport.h
 *					(exec:..., fd:N, stdio) in brackets
 * EXPORT is not empty and holds no '/'; PATH may be empty (the root).
 * Anything else is a local path (write ./unix:x for a local file named
 * so).
 */
#ifndef TOOLS_REMOTE_H
#define TOOLS_REMOTE_H

#include <stddef.h>
#include <stdint.h>

struct remote_path {
	char addr[1024];	/* as proto_peer_connect() takes it */
	char export_name[256];
	char path[4096];	/* inside the export, "" for the root */
};

/* 1 remote (rp filled), 0 local, -1 malformed (*why says how). */
int remote_parse(const char *arg, struct remote_path *rp, const char **why);

/* "drwxr-xr-x" and the like, as ls -l: buf of 11 bytes at least. */
void mode_string(uint32_t mode, char *buf);

/* dir + "/" + name into buf ("" dir: name alone). -1 when too long. */
int path_join(char *buf, size_t len, const char *dir, const char *name);

#endif
