/*
 * schema.c - the commands and item types of msgproto(7) sections 3-6
 * and 8, each named once. Numbers here are fixed by the protocol.
 */
#include <strings.h>

#include "schema.h"

/* STATUS values are Linux errno numbers; 0 is success. */
static const struct schema_value errno_list[] = {
	{ 0, "OK" },
	{ 1, "EPERM" },
	{ 2, "ENOENT" },
	{ 3, "ESRCH" },
	{ 4, "EINTR" },
	{ 5, "EIO" },
	{ 6, "ENXIO" },
	{ 7, "E2BIG" },
	{ 8, "ENOEXEC" },
	{ 9, "EBADF" },
	{ 10, "ECHILD" },
	{ 11, "EAGAIN" },
	{ 12, "ENOMEM" },
	{ 13, "EACCES" },
	{ 14, "EFAULT" },
	{ 15, "ENOTBLK" },
	{ 16, "EBUSY" },
	{ 17, "EEXIST" },
	{ 18, "EXDEV" },
	{ 19, "ENODEV" },
	{ 20, "ENOTDIR" },
	{ 21, "EISDIR" },
	{ 22, "EINVAL" },
	{ 23, "ENFILE" },
	{ 24, "EMFILE" },
	{ 25, "ENOTTY" },
	{ 26, "ETXTBSY" },
	{ 27, "EFBIG" },
	{ 28, "ENOSPC" },
	{ 29, "ESPIPE" },
	{ 30, "EROFS" },
	{ 31, "EMLINK" },
	{ 32, "EPIPE" },
	{ 33, "EDOM" },
	{ 34, "ERANGE" },
	{ 35, "EDEADLK" },
	{ 36, "ENAMETOOLONG" },
	{ 37, "ENOLCK" },
	{ 38, "ENOSYS" },
	{ 39, "ENOTEMPTY" },
	{ 40, "ELOOP" },
	{ 42, "ENOMSG" },
	{ 43, "EIDRM" },
	{ 44, "ECHRNG" },
	{ 45, "EL2NSYNC" },
	{ 46, "EL3HLT" },
	{ 47, "EL3RST" },
	{ 48, "ELNRNG" },
	{ 49, "EUNATCH" },
	{ 50, "ENOCSI" },
	{ 51, "EL2HLT" },
	{ 52, "EBADE" },
	{ 53, "EBADR" },
	{ 54, "EXFULL" },
	{ 55, "ENOANO" },
	{ 56, "EBADRQC" },
	{ 57, "EBADSLT" },
	{ 59, "EBFONT" },
	{ 60, "ENOSTR" },
	{ 61, "ENODATA" },
	{ 62, "ETIME" },
	{ 63, "ENOSR" },
	{ 64, "ENONET" },
	{ 65, "ENOPKG" },
	{ 66, "EREMOTE" },
	{ 67, "ENOLINK" },
	{ 68, "EADV" },
	{ 69, "ESRMNT" },
	{ 70, "ECOMM" },
	{ 71, "EPROTO" },
	{ 72, "EMULTIHOP" },
	{ 73, "EDOTDOT" },
	{ 74, "EBADMSG" },
	{ 75, "EOVERFLOW" },
	{ 76, "ENOTUNIQ" },
	{ 77, "EBADFD" },
	{ 78, "EREMCHG" },
	{ 79, "ELIBACC" },
	{ 80, "ELIBBAD" },
	{ 81, "ELIBSCN" },
	{ 82, "ELIBMAX" },
	{ 83, "ELIBEXEC" },
	{ 84, "EILSEQ" },
	{ 85, "ERESTART" },
	{ 86, "ESTRPIPE" },
	{ 87, "EUSERS" },
	{ 88, "ENOTSOCK" },
	{ 89, "EDESTADDRREQ" },
	{ 90, "EMSGSIZE" },
	{ 91, "EPROTOTYPE" },
	{ 92, "ENOPROTOOPT" },
	{ 93, "EPROTONOSUPPORT" },
	{ 94, "ESOCKTNOSUPPORT" },
	{ 95, "EOPNOTSUPP" },
	{ 96, "EPFNOSUPPORT" },
	{ 97, "EAFNOSUPPORT" },
	{ 98, "EADDRINUSE" },
	{ 99, "EADDRNOTAVAIL" },
	{ 100, "ENETDOWN" },
	{ 101, "ENETUNREACH" },
	{ 102, "ENETRESET" },
	{ 103, "ECONNABORTED" },
	{ 104, "ECONNRESET" },
	{ 105, "ENOBUFS" },
	{ 106, "EISCONN" },
	{ 107, "ENOTCONN" },
	{ 108, "ESHUTDOWN" },
	{ 109, "ETOOMANYREFS" },
	{ 110, "ETIMEDOUT" },
	{ 111, "ECONNREFUSED" },
	{ 112, "EHOSTDOWN" },
	{ 113, "EHOSTUNREACH" },
	{ 114, "EALREADY" },
	{ 115, "EINPROGRESS" },
	{ 116, "ESTALE" },
	{ 117, "EUCLEAN" },
	{ 118, "ENOTNAM" },
	{ 119, "ENAVAIL" },
	{ 120, "EISNAM" },
	{ 121, "EREMOTEIO" },
	{ 122, "EDQUOT" },
	{ 123, "ENOMEDIUM" },
	{ 124, "EMEDIUMTYPE" },
	{ 125, "ECANCELED" },
	{ 126, "ENOKEY" },
	{ 127, "EKEYEXPIRED" },
	{ 128, "EKEYREVOKED" },
	{ 129, "EKEYREJECTED" },
	{ 130, "EOWNERDEAD" },
	{ 131, "ENOTRECOVERABLE" },
	{ 132, "ERFKILL" },
	{ 133, "EHWPOISON" },
	{ 0, NULL }
};

/* The constants of errno.h already name these: no generated ones. */
const struct schema_values schema_errno_names = { NULL, errno_list };

static const struct schema_value feature_list[] = {
	{ 0, "CRC" },
	{ 1, "AUTH" },
	{ 0, NULL }
};

static const struct schema_values feature_bits =
    { "PROTO_FEATURE_", feature_list };

static const struct schema_value notify_list[] = {
	{ 1, "ATTRIBUTES" },
	{ 2, "ENTRY" },
	{ 3, "DELETED" },
	{ 0, NULL }
};

static const struct schema_values notify_kinds =
    { "PROTO_NOTIFY_", notify_list };

/* Children a container holds (informative: unknown ones are allowed). */
static const uint16_t limits_children[] = { 23, 24, 0 };
static const uint16_t attr_children[] =
    { 130, 131, 132, 133, 134, 135, 136, 137, 138, 147, 0 };
static const uint16_t dirent_children[] = { 128, 135, 130, 140, 0 };
static const uint16_t statfs_children[] = { 148, 149, 150, 151, 152, 0 };


/* Sorted by type: schema_item() searches it. */
const struct schema_item schema_items[] = {
	{ 1, "STATUS", PROTO_KIND_U32, 0, 0, LAYER_SESSION, FMT_ERRNO,
	    &schema_errno_names, NULL, "result: 0 or a Linux errno" },
	{ 2, "MORE", PROTO_KIND_EMPTY, 0, 0, LAYER_LINKS, FMT_DEC, NULL, NULL,
	    "more reply parts follow" },
	{ 3, "ERRTEXT", PROTO_KIND_STRING, 0, 0, LAYER_SESSION, FMT_DEC, NULL, NULL,
	    "human-readable error detail" },
	{ 4, "CRC", PROTO_KIND_U32, 0, 0, LAYER_SESSION, FMT_HEX, NULL, NULL,
	    "CRC32C of the message, this value taken as zero" },
	{ 5, "TIMESTAMP", PROTO_KIND_U64, 0, 0, LAYER_SESSION, FMT_TIME, NULL, NULL,
	    "nanoseconds since the epoch" },
	{ 16, "VERSION", PROTO_KIND_U16, 0, 0, LAYER_SESSION, FMT_DEC, NULL, NULL,
	    "protocol version, 1" },
	{ 17, "NODE", PROTO_KIND_STRING, 0, 0, LAYER_SESSION, FMT_DEC, NULL, NULL,
	    "name of the sending peer" },
	{ 18, "SESSION", PROTO_KIND_BYTES, 16, 0, LAYER_SESSION, FMT_HEX, NULL, NULL,
	    "session id; zeros ask for a new session" },
	{ 19, "RECEIVED", PROTO_KIND_U64, 0, 0, LAYER_SESSION, FMT_DEC, NULL, NULL,
	    "sequenced messages received so far" },
	{ 20, "FEATURES", PROTO_KIND_U64, 0, 0, LAYER_SESSION, FMT_BITS,
	    &feature_bits, NULL, "optional features, a bit each" },
	{ 21, "WINDOW", PROTO_KIND_U32, 0, 0, LAYER_SESSION, FMT_DEC, NULL, NULL,
	    "most unacknowledged sequenced bytes the sender holds" },
	{ 22, "LIMITS", PROTO_KIND_NEST, 0, 0, LAYER_SESSION, FMT_DEC, NULL,
	    limits_children, "the sender's limits" },
	{ 23, "MAX_INFLIGHT", PROTO_KIND_U32, 0, 0, LAYER_SESSION, FMT_DEC, NULL,
	    NULL, "most outstanding commands accepted" },
	{ 24, "MAX_LINKS", PROTO_KIND_U32, 0, 0, LAYER_SESSION, FMT_DEC, NULL, NULL,
	    "most open links accepted" },
	{ 25, "NEWLINK", PROTO_KIND_LINKIDS, 8, 0, LAYER_LINKS, FMT_LINKID, NULL,
	    NULL, "link id the requester chose for a new object" },
	{ 26, "SERVICE", PROTO_KIND_STRING, 0, 0, LAYER_LINKS, FMT_DEC, NULL, NULL,
	    "service name" },
	{ 27, "COUNT", PROTO_KIND_U32, 0, 0, LAYER_LINKS, FMT_DEC, NULL, NULL,
	    "references given back" },
	{ 28, "TARGET", PROTO_KIND_U32, 0, 0, LAYER_LINKS, FMT_DEC, NULL, NULL,
	    "msgid of the command to cancel" },
	{ 29, "EXPORT", PROTO_KIND_STRING, 0, 0, LAYER_LINKS, FMT_DEC, NULL, NULL,
	    "name of an exported tree" },
	{ 30, "AUTH", PROTO_KIND_BYTES, 32, 0, LAYER_SESSION, FMT_HEX, NULL, NULL,
	    "HMAC-SHA256 proof of the pre-shared key" },
	{ 31, "NONCE", PROTO_KIND_BYTES, 32, 0, LAYER_SESSION, FMT_HEX, NULL, NULL,
	    "random challenge" },
	{ 64, "OFFSET", PROTO_KIND_U64, 0, 0, LAYER_CACHE, FMT_DEC, NULL, NULL,
	    "byte offset" },
	{ 65, "LENGTH", PROTO_KIND_U64, 0, 0, LAYER_CACHE, FMT_DEC, NULL, NULL,
	    "byte count" },
	{ 66, "DATA", PROTO_KIND_BYTES, 0, 1, LAYER_CACHE, FMT_HEX, NULL, NULL,
	    "data bytes, inline or by REF" },
	{ 128, "NAME", PROTO_KIND_STRING, 0, 0, LAYER_VFS, FMT_DEC, NULL, NULL,
	    "one path component" },
	{ 129, "ATTR", PROTO_KIND_NEST, 0, 0, LAYER_VFS, FMT_DEC, NULL, attr_children,
	    "attributes of a node" },
	{ 130, "MODE", PROTO_KIND_U32, 0, 0, LAYER_VFS, FMT_OCTAL, NULL, NULL,
	    "type and permission bits" },
	{ 131, "UID", PROTO_KIND_U32, 0, 0, LAYER_VFS, FMT_DEC, NULL, NULL,
	    "owner" },
	{ 132, "GID", PROTO_KIND_U32, 0, 0, LAYER_VFS, FMT_DEC, NULL, NULL,
	    "group" },
	{ 133, "SIZE", PROTO_KIND_U64, 0, 0, LAYER_VFS, FMT_DEC, NULL, NULL,
	    "size in bytes" },
	{ 134, "NLINK", PROTO_KIND_U32, 0, 0, LAYER_VFS, FMT_DEC, NULL, NULL,
	    "hard links" },
	{ 135, "INO", PROTO_KIND_U64, 0, 0, LAYER_VFS, FMT_DEC, NULL, NULL,
	    "inode number" },
	{ 136, "ATIME", PROTO_KIND_I64, 0, 0, LAYER_VFS, FMT_TIME, NULL, NULL,
	    "access time, ns since the epoch" },
	{ 137, "MTIME", PROTO_KIND_I64, 0, 0, LAYER_VFS, FMT_TIME, NULL, NULL,
	    "modification time, ns since the epoch" },
	{ 138, "CTIME", PROTO_KIND_I64, 0, 0, LAYER_VFS, FMT_TIME, NULL, NULL,
	    "change time, ns since the epoch" },
	{ 139, "FLAGS", PROTO_KIND_U32, 0, 0, LAYER_VFS, FMT_HEX, NULL, NULL,
	    "command-specific flags" },
	{ 140, "COOKIE", PROTO_KIND_U64, 0, 0, LAYER_VFS, FMT_DEC, NULL, NULL,
	    "directory position" },
	{ 141, "DIRENT", PROTO_KIND_NEST, 0, 0, LAYER_VFS, FMT_DEC, NULL,
	    dirent_children, "one directory entry" },
	{ 142, "SYMTARGET", PROTO_KIND_STRING, 0, 0, LAYER_VFS, FMT_DEC, NULL, NULL,
	    "target of a symbolic link" },
	{ 143, "NEWNAME", PROTO_KIND_STRING, 0, 0, LAYER_VFS, FMT_DEC, NULL, NULL,
	    "name in the destination directory" },
	{ 144, "NEWDIR", PROTO_KIND_LINKIDS, 8, 0, LAYER_VFS, FMT_LINKID, NULL, NULL,
	    "destination directory" },
	{ 145, "STATFS", PROTO_KIND_NEST, 0, 0, LAYER_VFS, FMT_DEC, NULL,
	    statfs_children, "file system statistics" },
	{ 146, "KIND", PROTO_KIND_U32, 0, 0, LAYER_VFS, FMT_ENUM, &notify_kinds, NULL,
	    "what changed" },
	{ 147, "CHANGE", PROTO_KIND_U64, 0, 0, LAYER_VFS, FMT_DEC, NULL, NULL,
	    "changes whenever data or attributes do" },
	{ 148, "BSIZE", PROTO_KIND_U32, 0, 0, LAYER_VFS, FMT_DEC, NULL, NULL,
	    "block size" },
	{ 149, "BLOCKS", PROTO_KIND_U64, 0, 0, LAYER_VFS, FMT_DEC, NULL, NULL,
	    "blocks in all" },
	{ 150, "BFREE", PROTO_KIND_U64, 0, 0, LAYER_VFS, FMT_DEC, NULL, NULL,
	    "free blocks" },
	{ 151, "FILES", PROTO_KIND_U64, 0, 0, LAYER_VFS, FMT_DEC, NULL, NULL,
	    "inodes in all" },
	{ 152, "NAMEMAX", PROTO_KIND_U32, 0, 0, LAYER_VFS, FMT_DEC, NULL, NULL,
	    "longest name" },
	{ 153, "NODE_LINK", PROTO_KIND_LINKIDS, 8, 0, LAYER_VFS, FMT_LINKID, NULL,
	    NULL, "existing node to link" },
};

const size_t schema_item_count = sizeof(schema_items) / sizeof(schema_items[0]);


/* Item lists of requests and replies (0-terminated). */
static const uint16_t none[] = { 0 };
static const uint16_t status[] = { 1, 0 };
static const uint16_t hello_req[] = { 16, 17, 18, 19, 20, 21, 22, 31, 0 };
static const uint16_t hello_rep[] =
    { 1, 16, 17, 18, 19, 20, 21, 22, 31, 30, 0 };
static const uint16_t ack_req[] = { 19, 0 };
static const uint16_t ping_req[] = { 5, 0 };
static const uint16_t ping_rep[] = { 5, 1, 0 };
static const uint16_t goodbye_req[] = { 1, 3, 0 };
static const uint16_t auth_req[] = { 30, 0 };
static const uint16_t link_open_req[] = { 25, 26, 29, 0 };
static const uint16_t link_close_req[] = { 27, 0 };
static const uint16_t cancel_req[] = { 28, 0 };
static const uint16_t advertise_req[] = { 26, 0 };
static const uint16_t range_req[] = { 64, 65, 0 };
static const uint16_t cache_read_rep[] = { 64, 66, 2, 1, 65, 0 };
static const uint16_t cache_write_req[] = { 64, 66, 0 };
static const uint16_t status_length[] = { 1, 65, 0 };
static const uint16_t length_req[] = { 65, 0 };
static const uint16_t lookup_req[] = { 128, 25, 0 };
static const uint16_t status_attr[] = { 1, 129, 0 };
static const uint16_t setattr_req[] = { 130, 131, 132, 133, 136, 137, 0 };
static const uint16_t readdir_req[] = { 140, 65, 0 };
static const uint16_t readdir_rep[] = { 141, 2, 1, 0 };
static const uint16_t open_req[] = { 139, 25, 0 };
static const uint16_t create_req[] = { 128, 130, 139, 25, 0 };
static const uint16_t mkdir_req[] = { 128, 130, 25, 0 };
static const uint16_t symlink_req[] = { 128, 142, 25, 0 };
static const uint16_t readlink_rep[] = { 1, 142, 0 };
static const uint16_t link_req[] = { 128, 153, 0 };
static const uint16_t unlink_req[] = { 128, 139, 0 };
static const uint16_t rename_req[] = { 128, 144, 143, 139, 0 };
static const uint16_t statfs_rep[] = { 1, 145, 0 };
static const uint16_t notify_req[] = { 146, 128, 0 };

#define S LAYER_SESSION
#define L LAYER_LINKS
#define C LAYER_CACHE
#define V LAYER_VFS

/* Sorted by number: schema_command() searches it. */
const struct schema_command schema_commands[] = {
	{ 0x0000, "PAD", S, 0, "any", none, none,
	    "filler, ignored" },
	{ 0x0001, "HELLO", S, 1, "link 0", hello_req, hello_rep,
	    "first message on every connection" },
	{ 0x0002, "ACK", S, 0, "link 0", ack_req, none,
	    "sequenced messages received so far" },
	{ 0x0003, "PING", S, 1, "link 0", ping_req, ping_rep,
	    "keepalive and round-trip time" },
	{ 0x0004, "GOODBYE", S, 0, "link 0", goodbye_req, none,
	    "orderly end or protocol error" },
	{ 0x0005, "AUTH", S, 1, "link 0", auth_req, status,
	    "the initiator's proof of the pre-shared key" },
	{ 0x0010, "LINK_OPEN", L, 1, "link 0", link_open_req, status,
	    "bind a new link to a service" },
	{ 0x0011, "LINK_CLOSE", L, 1, "the link", link_close_req, status,
	    "give references back" },
	{ 0x0012, "CANCEL", L, 1, "the target's link", cancel_req, status,
	    "ask for an outstanding command to end" },
	{ 0x0013, "ADVERTISE", L, 1, "link 0", advertise_req, status,
	    "services this peer offers" },
	{ 0x0100, "CACHE_READ", C, 1, "cache object", range_req,
	    cache_read_rep, "read a range" },
	{ 0x0101, "CACHE_WRITE", C, 1, "cache object", cache_write_req,
	    status_length, "write a range" },
	{ 0x0102, "CACHE_SYNC", C, 1, "cache object", none, status,
	    "make writes durable" },
	{ 0x0103, "CACHE_SIZE", C, 1, "cache object", length_req,
	    status_length, "get, truncate or extend the size" },
	{ 0x0110, "CACHE_INVALIDATE", C, 1, "cache object (by the owner)",
	    range_req, status, "a range changed at the owner" },
	{ 0x0200, "VFS_LOOKUP", V, 1, "dir", lookup_req, status_attr,
	    "find a name in a directory" },
	{ 0x0201, "VFS_GETATTR", V, 1, "node", none, status_attr,
	    "attributes of a node" },
	{ 0x0202, "VFS_SETATTR", V, 1, "node", setattr_req, status_attr,
	    "change attributes" },
	{ 0x0203, "VFS_READDIR", V, 1, "dir", readdir_req, readdir_rep,
	    "list a directory" },
	{ 0x0204, "VFS_OPEN", V, 1, "node", open_req, status_attr,
	    "open a file's data as a cache object" },
	{ 0x0205, "VFS_CREATE", V, 1, "dir", create_req, status_attr,
	    "create a file" },
	{ 0x0206, "VFS_MKDIR", V, 1, "dir", mkdir_req, status_attr,
	    "create a directory" },
	{ 0x0207, "VFS_SYMLINK", V, 1, "dir", symlink_req, status_attr,
	    "create a symbolic link" },
	{ 0x0208, "VFS_READLINK", V, 1, "node", none, readlink_rep,
	    "target of a symbolic link" },
	{ 0x0209, "VFS_LINK", V, 1, "dir", link_req, status_attr,
	    "make a hard link" },
	{ 0x020a, "VFS_UNLINK", V, 1, "dir", unlink_req, status,
	    "remove a name" },
	{ 0x020b, "VFS_RENAME", V, 1, "dir", rename_req, status,
	    "rename, or exchange, a name" },
	{ 0x020c, "VFS_STATFS", V, 1, "node", none, statfs_rep,
	    "file system statistics" },
	{ 0x020d, "VFS_FSYNC", V, 1, "node", none, status,
	    "make a node's changes durable" },
	{ 0x0210, "VFS_NOTIFY", V, 1, "dir or node (by the server)",
	    notify_req, status, "something changed" },
};

const size_t schema_command_count =
    sizeof(schema_commands) / sizeof(schema_commands[0]);

#undef S
#undef L
#undef C
#undef V

const struct schema_item *
schema_item(uint16_t type)
{
	size_t lo = 0, hi = schema_item_count, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (schema_items[mid].type == type)
			return &schema_items[mid];
		if (schema_items[mid].type < type)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct schema_command *
schema_command(uint16_t number)
{
	size_t lo = 0, hi = schema_command_count, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (schema_commands[mid].number == number)
			return &schema_commands[mid];
		if (schema_commands[mid].number < number)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* name[0..len) equals the NUL-terminated s, ignoring case. */
static int
name_eq(const char *s, const char *name, size_t len)
{
	return strncasecmp(s, name, len) == 0 && s[len] == '\0';
}

const struct schema_item *
schema_item_by_name(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < schema_item_count; i++)
		if (name_eq(schema_items[i].name, name, len))
			return &schema_items[i];
	return NULL;
}

const struct schema_command *
schema_command_by_name(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < schema_command_count; i++)
		if (name_eq(schema_commands[i].name, name, len))
			return &schema_commands[i];
	return NULL;
}

const char *
schema_value_name(const struct schema_values *values, uint64_t value)
{
	const struct schema_value *v;

	if (values == NULL)
		return NULL;
	for (v = values->list; v->name != NULL; v++)
		if (v->value == value)
			return v->name;
	return NULL;
}

int
schema_value_by_name(const struct schema_values *values, const char *name,
    size_t len, uint64_t *value)
{
	const struct schema_value *v;

	if (values == NULL)
		return -1;
	for (v = values->list; v->name != NULL; v++) {
		if (name_eq(v->name, name, len)) {
			*value = v->value;
			return 0;
		}
	}
	return -1;
}

const char *
schema_kind_name(enum proto_kind kind)
{
	static const char *const names[PROTO_KIND_COUNT] = {
		[PROTO_KIND_UNKNOWN] = "unknown",
		[PROTO_KIND_EMPTY] = "empty",
		[PROTO_KIND_U16] = "u16",
		[PROTO_KIND_U32] = "u32",
		[PROTO_KIND_U64] = "u64",
		[PROTO_KIND_I64] = "i64",
		[PROTO_KIND_STRING] = "string",
		[PROTO_KIND_BYTES] = "bytes",
		[PROTO_KIND_LINKIDS] = "linkids",
		[PROTO_KIND_NEST] = "nest",
	};

	if ((unsigned)kind >= PROTO_KIND_COUNT)
		return "unknown";
	return names[kind];
}

const char *
schema_layer_name(enum schema_layer layer)
{
	static const char *const names[LAYER_COUNT] = {
		[LAYER_SESSION] = "session",
		[LAYER_LINKS] = "links",
		[LAYER_CACHE] = "cache",
		[LAYER_VFS] = "vfs",
	};

	if ((unsigned)layer >= LAYER_COUNT)
		return "unknown";
	return names[layer];
}
