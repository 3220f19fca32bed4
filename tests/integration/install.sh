#!/bin/sh
# make install into a scratch DESTDIR puts the tools, both libraries, the
# headers, the pkg-config file and the man pages where they belong, and a
# program built against the installed copy with pkg-config alone works,
# linked shared and static.
set -u
top=${MSGKIT_TOP:?run through tests/run.sh}
build=${MSGKIT_BUILD:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
dest="$tmp/root"
prefix=/usr/local
fail=0

# The sanitizer build's libraries need the sanitizer runtimes linked in.
case "$build" in
*/san) san=1 sanflags="-fsanitize=address,undefined" ;;
*) san=0 sanflags= ;;
esac
make -C "$top" -s install SAN="$san" DESTDIR="$dest" PREFIX="$prefix" \
    >"$tmp/make.log" 2>&1 || { cat "$tmp/make.log"; exit 1; }

for f in bin/msgdump lib/libproto.a lib/libproto.so lib/libproto.so.1 \
    include/libproto/proto.h include/libproto/proto_numbers.h \
    include/libproto/proto_framer.h lib/pkgconfig/libproto.pc \
    share/man/man1/msgdump.1 share/man/man3/libproto.3 \
    share/man/man7/msgproto.7; do
	[ -e "$dest$prefix/$f" ] || { echo "missing $prefix/$f"; fail=1; }
done

cat >"$tmp/ex.c" <<'EOC'
#include <stdio.h>
#include <libproto/proto.h>

int
main(void)
{
	struct proto_builder b;
	struct proto_msg m;
	struct proto_error e;

	proto_builder_init(&b);
	proto_build_begin(&b, 0, 1, PROTO_CMD_PING);
	proto_build_u64(&b, PROTO_ITEM_TIMESTAMP, 42);
	if (proto_build_end_crc(&b) < 0 ||
	    proto_msg_view(&m, proto_builder_data(&b), proto_builder_len(&b),
	    0, &e) < 0 || proto_msg_validate(&m, &e) < 0 ||
	    proto_msg_crc_check(&m, &e) < 0)
		return 1;
	printf("%u\n", m.length);
	proto_builder_free(&b);
	return 0;
}
EOC
export PKG_CONFIG_SYSROOT_DIR="$dest"
export PKG_CONFIG_LIBDIR="$dest$prefix/lib/pkgconfig"
cflags=$(pkg-config --cflags libproto) || { echo "pkg-config failed"; exit 1; }
libs=$(pkg-config --libs libproto)
# The archive by name, then the private libraries pkg-config lists.
static=$(pkg-config --static --libs libproto | sed 's/-lproto\b//')
# shellcheck disable=SC2086 # flags are words
cc -std=c11 -pedantic -Wall -Wextra -Werror $sanflags $cflags -o "$tmp/ex" \
    "$tmp/ex.c" $libs || { echo "shared build failed"; fail=1; }
out=$(LD_LIBRARY_PATH="$dest$prefix/lib" "$tmp/ex") ||
	{ echo "shared program failed"; fail=1; }
[ "$out" = 40 ] || { echo "shared program printed '$out', want 40"; fail=1; }
# shellcheck disable=SC2086
cc -std=c11 -pedantic -Wall -Wextra -Werror $sanflags $cflags \
    -o "$tmp/ex-static" "$tmp/ex.c" "$dest$prefix/lib/libproto.a" $static ||
	{ echo "static build failed"; fail=1; }
[ "$("$tmp/ex-static")" = 40 ] || { echo "static program failed"; fail=1; }
# Only the API leaves the shared library.
nm -D --defined-only "$dest$prefix/lib/libproto.so.1" |
    awk '$2 ~ /[TDBR]/ && $3 !~ /^proto_/ && $3 !~ /^LIBPROTO/ { print }' \
    >"$tmp/leak"
[ -s "$tmp/leak" ] && { echo "non-API symbols exported:"; cat "$tmp/leak"; fail=1; }
"$dest$prefix/bin/msgdump" --version >/dev/null || { echo "installed msgdump fails"; fail=1; }
[ $fail -eq 0 ] && echo "install: files in place, pkg-config builds work"
exit $fail
