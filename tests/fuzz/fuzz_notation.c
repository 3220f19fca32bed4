/*
 * fuzz_notation.c - the notation parser on arbitrary text.
 *
 * Whatever the text, the parser must not crash, hang or leave a half
 * message in the builder. A message it accepts is framed (header and
 * length right); items given by itemid may break the schema on purpose
 * (that is how a script sends a bad item), but every accepted message
 * that validates must print and parse back to the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dissectors/notation.h"
#include "libproto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
reparse(const uint8_t *bytes, size_t n)
{
	struct notation_parser p;
	struct notation_msg msg;
	struct proto_builder b;
	struct proto_msg m;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		abort();
	if (proto_msg_view(&m, bytes, n, 0, NULL) < 0 ||
	    proto_align8(m.length) != n)
		__builtin_trap();	/* the parser framed it wrong */
	if (proto_msg_validate(&m, NULL) < 0) {
		fclose(f);
		free(text);
		return;		/* a bad item given by itemid */
	}
	notation_print(f, &m, NOTATION_DIR_NONE, 0);
	fclose(f);
	proto_builder_init(&b);
	if (notation_init(&p, text, len) < 0)
		abort();
	if (notation_next(&p, &b, &msg) != 1 || proto_builder_len(&b) != n ||
	    memcmp(proto_builder_data(&b), bytes, n) != 0)
		__builtin_trap();	/* printed text does not read back */
	notation_free(&p);
	proto_builder_free(&b);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct notation_parser p;
	struct notation_msg msg;
	struct proto_builder b;
	size_t before;
	int r;

	if (notation_init(&p, (const char *)data, size) < 0)
		return 0;
	proto_builder_init(&b);
	for (;;) {
		before = proto_builder_len(&b);
		r = notation_next(&p, &b, &msg);
		if (r == 0)
			break;
		if (r < 0) {
			if (proto_builder_len(&b) != before || p.err[0] == '\0')
				__builtin_trap();
			continue;
		}
		if (msg.start != before ||
		    msg.start + msg.size != proto_builder_len(&b))
			__builtin_trap();
		if (!msg.raw)
			reparse(proto_builder_data(&b) + msg.start, msg.size);
	}
	notation_free(&p);
	proto_builder_free(&b);
	return 0;
}
