/*
 * echo.c - the echo service every peer serves (msgproto(7) section 4):
 * a command in 0x7000-0x7fff on an echo link is answered by one reply
 * carrying the request's items, then STATUS 0. Tests and latency
 * measurements use it; anything else on the link gets ENOSYS.
 */
#include <errno.h>
#include <string.h>

#include "proto_numbers.h"
#include "session_int.h"

#define ECHO_FIRST	0x7000u
#define ECHO_LAST	0x7fffu

/* The request's items, byte for byte: they are already aligned. */
static void
echo_command(void *state, struct proto_request *req,
    const struct proto_msg *m)
{
	struct proto_builder *b;
	struct proto_item more;
	uint16_t cmd = proto_msg_command(m);
	size_t items = m->length - PROTO_HDR_LEN;

	(void)state;
	if (cmd < ECHO_FIRST || cmd > ECHO_LAST) {
		proto_reply_status(req, ENOSYS, NULL);
		return;
	}
	/* Echoed, MORE would make the one reply look like a part. */
	if (proto_msg_find(m, PROTO_ITEM_MORE, &more, NULL) > 0) {
		proto_reply_status(req, EINVAL, "MORE marks reply parts only");
		return;
	}
	b = proto_reply_begin(req);
	if (b == NULL)
		return;
	if (items > 0 && proto_build_items(b, m->bytes +
	    PROTO_HDR_LEN, items) < 0) {
		proto_reply_status(req, EMSGSIZE, NULL);
		return;
	}
	proto_build_u32(b, PROTO_ITEM_STATUS, 0);
	proto_reply_end(req, 1);
}

static void
echo_close(void *state, struct proto_link *l)
{
	(void)state;
	(void)l;
}

const struct proto_service_ops proto_echo_service = {
	NULL, echo_command, NULL, echo_close
};
