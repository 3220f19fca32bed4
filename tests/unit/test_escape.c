/*
 * test_escape.c - proto_escape(): what a peer sends, made safe for a
 * log line or a terminal. Every control character, escape sequence, C1
 * control and byte of invalid UTF-8 becomes \xNN; printable ASCII and
 * valid UTF-8 stay; the output always ends, and says when it was cut.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "libproto/proto_error.h"

static void
check(const char *in, size_t inlen, const char *want)
{
	char out[256];
	size_t n;

	n = proto_escape(out, sizeof(out), in, inlen);
	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
}

static void
test_kept(void **state)
{
	(void)state;
	check("plain text 123", 14, "plain text 123");
	check("", 0, "");
	/* é, €, 😀: valid UTF-8 of each length. */
	check("h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 12,
	    "h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	/* U+00A0, the first code point above the C1 controls. */
	check("\xc2\xa0", 2, "\xc2\xa0");
}

static void
test_controls(void **state)
{
	(void)state;
	check("a\nb", 3, "a\\x0ab");
	check("evil\n12:00:00.000 msgpeer: error: x", 35,
	    "evil\\x0a12:00:00.000 msgpeer: error: x");
	check("\033[31mred", 8, "\\x1b[31mred");
	check("\r\t\x7f", 3, "\\x0d\\x09\\x7f");
	check("a\0b", 3, "a\\x00b");
	check("back\\slash", 10, "back\\\\slash");
	/* C1 controls: U+0085 (NEL), U+009B (CSI). */
	check("\xc2\x85\xc2\x9b", 4, "\\xc2\\x85\\xc2\\x9b");
}

static void
test_invalid_utf8(void **state)
{
	(void)state;
	check("\xff", 1, "\\xff");
	check("\xc0\xaf", 2, "\\xc0\\xaf");		/* overlong '/' */
	check("\xe0\x80\xaf", 3, "\\xe0\\x80\\xaf");	/* overlong */
	check("\xed\xa0\x80", 3, "\\xed\\xa0\\x80");	/* a surrogate */
	check("\xf4\x90\x80\x80", 4, "\\xf4\\x90\\x80\\x80");	/* > U+10FFFF */
	check("\xe2\x82", 2, "\\xe2\\x82");		/* cut short */
	check("\xe2(\xac", 3, "\\xe2(\\xac");		/* a bad continuation */
}

static void
test_room(void **state)
{
	char out[16];
	size_t n;

	(void)state;
	assert_int_equal(proto_escape(out, 0, "abc", 3), 0);
	assert_int_equal(proto_escape(out, 1, "abc", 3), 0);
	assert_string_equal(out, "");
	/* Cut: it ends in "...", inside the buffer. */
	n = proto_escape(out, sizeof(out), "0123456789abcdefghij", 20);
	assert_true(n < sizeof(out));
	assert_int_equal(n, strlen(out));
	assert_int_equal(strcmp(out + n - 3, "..."), 0);
	/* Escapes are never cut in half. */
	n = proto_escape(out, sizeof(out), "\n\n\n\n\n\n\n\n", 8);
	assert_true(n < sizeof(out));
	assert_int_equal(strncmp(out, "\\x0a", 4), 0);
	assert_int_equal(strcmp(out + n - 3, "..."), 0);
	assert_int_equal((n - 3) % 4, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kept),
		cmocka_unit_test(test_controls),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_room),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
