/*
 * test_remote_path.c - msgpeer's ADDR:EXPORT/PATH rule (tools/lib/
 * remote.c): where the address ends for each scheme, brackets for
 * addresses with ':', what is local, what is malformed; and ls -l's
 * mode string.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "tools/lib/remote.h"

static void
remote(const char *arg, const char *addr, const char *exp, const char *path)
{
	struct remote_path rp;
	const char *why;

	assert_int_equal(remote_parse(arg, &rp, &why), 1);
	assert_string_equal(rp.addr, addr);
	assert_string_equal(rp.export_name, exp);
	assert_string_equal(rp.path, path);
}

static void
bad(const char *arg)
{
	struct remote_path rp;
	const char *why;

	assert_int_equal(remote_parse(arg, &rp, &why), -1);
	assert_non_null(why);
}

static void
test_unix(void **state)
{
	(void)state;
	remote("unix:/run/msg.sock:home/docs/a.txt", "unix:/run/msg.sock",
	    "home", "docs/a.txt");
	remote("unix:/run/msg.sock:home", "unix:/run/msg.sock", "home", "");
	remote("unix:/run/msg.sock:home/", "unix:/run/msg.sock", "home", "");
	/* The path may hold ':': the socket ends at the first one. */
	remote("unix:/s:home/a:b:c", "unix:/s", "home", "a:b:c");
	/* A socket path with ':' goes in brackets. */
	remote("unix:[/odd:path]:home/x", "unix:/odd:path", "home", "x");
	remote("unix:[/odd:path]:home/x:y", "unix:/odd:path", "home", "x:y");
}

static void
test_tcp(void **state)
{
	(void)state;
	remote("tcp:host:7470:home/docs", "tcp:host:7470", "home", "docs");
	remote("tcp:127.0.0.1:1:e", "tcp:127.0.0.1:1", "e", "");
	remote("tcp:[::1]:7470:home/a:b", "tcp:[::1]:7470", "home", "a:b");
	remote("[exec:msgpeer serve --stdio]:home/f",
	    "exec:msgpeer serve --stdio", "home", "f");
}

static void
test_local(void **state)
{
	struct remote_path rp;
	const char *why;

	(void)state;
	assert_int_equal(remote_parse("/tmp/a", &rp, &why), 0);
	assert_int_equal(remote_parse("a:b", &rp, &why), 0);
	assert_int_equal(remote_parse("./unix:x", &rp, &why), 0);
	assert_int_equal(remote_parse("", &rp, &why), 0);
}

static void
test_malformed(void **state)
{
	(void)state;
	bad("unix:/run/s");		/* no export */
	bad("unix::home");		/* no socket */
	bad("unix:/s:");		/* empty export */
	bad("unix:/s:/x");		/* empty export */
	bad("unix:[/a:b:home");		/* unclosed bracket */
	bad("unix:[/a]home");		/* "]" not followed by ':' */
	bad("unix:[]:home");
	bad("tcp:host:home/x");		/* no port */
	bad("tcp:host:7470");		/* no export */
	bad("tcp::7470:home");		/* no host */
	bad("tcp:[::1:7470:home");
	bad("[exec:x");
}

static void
test_mode_string(void **state)
{
	char b[11];

	(void)state;
	mode_string(S_IFDIR | 0755, b);
	assert_string_equal(b, "drwxr-xr-x");
	mode_string(S_IFREG | 0640, b);
	assert_string_equal(b, "-rw-r-----");
	mode_string(S_IFLNK | 0777, b);
	assert_string_equal(b, "lrwxrwxrwx");
	mode_string(S_IFREG | S_ISUID | 0755, b);
	assert_string_equal(b, "-rwsr-xr-x");
	mode_string(S_IFREG | S_ISGID | 0644, b);
	assert_string_equal(b, "-rw-r-Sr--");
	mode_string(S_IFDIR | S_ISVTX | 01777, b);
	assert_string_equal(b, "drwxrwxrwt");
	mode_string(S_IFIFO | 0600, b);
	assert_string_equal(b, "prw-------");
}

static void
test_path_join(void **state)
{
	char b[8];

	(void)state;
	assert_int_equal(path_join(b, sizeof(b), "", "x"), 0);
	assert_string_equal(b, "x");
	assert_int_equal(path_join(b, sizeof(b), "a/", "x"), 0);
	assert_string_equal(b, "a/x");
	assert_int_equal(path_join(b, sizeof(b), "a", "x"), 0);
	assert_string_equal(b, "a/x");
	assert_int_equal(path_join(b, sizeof(b), "abcd", "efg"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unix),
		cmocka_unit_test(test_tcp),
		cmocka_unit_test(test_local),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_mode_string),
		cmocka_unit_test(test_path_join),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
