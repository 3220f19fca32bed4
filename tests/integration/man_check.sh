#!/bin/sh
# Keep the man pages honest:
#  1. msgproto.7's NUMBERS tables (commands, item types and kinds, errno
#     names, FEATURES bits, KIND values) equal dissectors/schema.c, and
#     every command appears in its layer's table too; libproto.3's NAME
#     lists exactly the functions of libproto/proto_*.h, and its SYNOPSIS
#     those and the function types (typedef ... proto_X_fn);
#  2. the programs in libproto.3's EXAMPLES compile with the project's
#     warnings; the first piped into the second prints what the page
#     says; a cut-off stream makes the second exit 1; the third, run
#     against a msgpeer serving echo, prints what the page says, and
#     without a server reports the lost session and exits 1;
#  3. mandoc -T lint finds nothing at level warning or above (skipped when
#     mandoc is not installed).
#
# usage: tests/examples/man_check.sh [TOP [BUILD]]
# (or with MSGKIT_TOP and MSGKIT_BUILD set, as tests/run.sh does)
set -eu
top=${1:-${MSGKIT_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}}
build=${2:-${MSGKIT_BUILD:-$top/build}}
cc=${CC:-cc}
bin=${MSGKIT_BIN:-$build/bin}
d=$(mktemp -d)
server=
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [ -n "$server" ]; then
		kill "$server" 2>/dev/null || true
		wait "$server" 2>/dev/null || true
	fi
	rm -rf "$d"
}
trap cleanup EXIT
trap 'exit 2' INT TERM
fail=0

flags="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
-Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wvla"
case "$build" in
*/san) flags="$flags -fsanitize=address,undefined" ;;
esac

# 1. Numbers. The schema, as "cmd 0x0001 HELLO session yes" and so on.
cat > "$d/dump.c" <<'EOF'
#include <stdio.h>
#include "dissectors/schema.h"

int
main(void)
{
	const struct schema_value *v;
	size_t i;

	for (i = 0; i < schema_command_count; i++)
		printf("cmd 0x%04X %s %s %s\n", schema_commands[i].number,
		    schema_commands[i].name,
		    schema_layer_name(schema_commands[i].layer),
		    schema_commands[i].answered ? "yes" : "no");
	for (i = 0; i < schema_item_count; i++)
		printf("item %u %s %s\n", schema_items[i].type,
		    schema_items[i].name,
		    schema_kind_name(schema_items[i].kind));
	for (v = schema_errno_names.list; v->name != NULL; v++)
		printf("errno %llu %s\n", (unsigned long long)v->value,
		    v->name);
	for (i = 0; i < schema_item_count; i++) {
		if (schema_items[i].values == NULL ||
		    schema_items[i].values == &schema_errno_names)
			continue;
		for (v = schema_items[i].values->list; v->name != NULL; v++)
			printf("value %s %llu %s\n", schema_items[i].name,
			    (unsigned long long)v->value, v->name);
	}
	return 0;
}
EOF
# shellcheck disable=SC2086
$cc $flags -I"$top" -I"$top/libproto" -o "$d/dump" "$d/dump.c" \
    "$top/dissectors/schema.c"
"$d/dump" | sort > "$d/schema"

page="$top/man/msgproto.7"
awk '
/^\.Ss Commands/ { sec = "cmd"; next }
/^\.Ss Item types/ { sec = "item"; next }
/^\.Ss Values/ { sec = "values"; next }
/^\.S[sh]/ { sec = "" }
sec == "values" && /^\.Bl -column/ { sec = "errno"; next }
sec == "cmd" && /^\.It 0x/ {
	split($0, f, / Ta /); sub(/^\.It /, "", f[1])
	print "cmd", f[1], f[2], f[3], f[4]
}
sec == "item" && /^\.It [0-9]/ {
	split($0, f, / Ta /); sub(/^\.It /, "", f[1])
	print "item", f[1], f[2], f[3]
}
sec == "errno" && /^\.It [0-9]/ {
	sub(/^\.It /, ""); n = split($0, f, / Ta /)
	for (i = 1; i < n; i += 2)
		print "errno", f[i], f[i + 1]
}
' "$page" > "$d/page.raw"
# The FEATURES and KIND entries of the Values list: "Bit 0 CRC, bit 1
# AUTH." and "1 ATTRIBUTES, 2 ENTRY, 3 DELETED."
sed -n '/^\.It FEATURES$/{n;p;}' "$page" |
    sed 's/\.$//; s/^Bit //; s/, bit /\n/g' |
    awk 'NF { print "value FEATURES", $1, $2 }' >> "$d/page.raw"
sed -n '/^\.It KIND$/{n;p;}' "$page" | sed 's/\.$//; s/, /\n/g' |
    awk 'NF { print "value KIND", $1, $2 }' >> "$d/page.raw"
sort "$d/page.raw" > "$d/page"
if diff -u "$d/schema" "$d/page" > "$d/diff"; then
	echo "ok: msgproto.7 NUMBERS match schema.c ($(wc -l < "$d/schema") entries)"
else
	echo "FAIL: msgproto.7 NUMBERS differ from schema.c (- schema, + page):"
	cat "$d/diff"
	fail=1
fi

# Every command also in its layer's table: each pair exactly twice.
grep '^\.It 0x[0-9A-F]* Ta [A-Z_]*' "$page" |
    awk '{ print $2, $4 }' | sort | uniq -c |
    awk '$1 != 2 { print "FAIL: command " $2 " " $3 " appears " $1 " times" }' \
    > "$d/twice"
if [ -s "$d/twice" ]; then
	cat "$d/twice"
	fail=1
else
	echo "ok: every command is in its layer table and in NUMBERS"
fi

# Every function the public headers declare or define is in libproto.3's
# NAME and SYNOPSIS, and the page names no function the headers lack.
# Function types (typedef void proto_io_fn(...)) are types: the SYNOPSIS
# shows them, NAME does not.
grep -hv '^[[:space:]]*\*\|^/\*' "$top"/libproto/proto_*.h |
    grep -o '\bproto_[a-z0-9_]*(' | tr -d '(' | sort -u > "$d/syn_want"
grep -h '^typedef' "$top"/libproto/proto_*.h |
    grep -o '\bproto_[a-z0-9_]*(' | tr -d '(' | sort -u > "$d/hdr_types"
comm -23 "$d/syn_want" "$d/hdr_types" > "$d/name_want"
sed -n '/^\.Sh NAME/,/^\.Nd/p' "$top/man/libproto.3" |
    awk '$1 == ".Nm" && $2 != "libproto" { print $2 }' | sort -u \
    > "$d/name_fns"
sed -n '/^\.Sh SYNOPSIS/,/^\.Sh DESCRIPTION/p' "$top/man/libproto.3" |
    awk '$1 == ".Fn" || $1 == ".Fo" { print $2 }' | sort -u > "$d/syn_fns"
for list in name syn; do
	if diff -u "$d/${list}_want" "$d/${list}_fns" > "$d/diff"; then
		echo "ok: libproto.3 ${list}_fns lists every function of the headers"
	else
		echo "FAIL: libproto.3 $list differs from libproto/proto_*.h" \
		    "(- headers, + page):"
		cat "$d/diff"
		fail=1
	fi
done

# 2. libproto.3's examples: the unindented literal displays of EXAMPLES.
awk '
/^\.Sh / { ex = ($0 == ".Sh EXAMPLES") }
ex && /^\.Bd -literal$/ { n++; f = sprintf("%s/ex%d.c", dir, n); on = 1; next }
/^\.Ed$/ { on = 0 }
on { gsub(/\\e/, "\\"); sub(/^\\&/, ""); print > f }
' dir="$d" "$top/man/libproto.3"
for i in 1 2 3; do
	# shellcheck disable=SC2086
	if ! $cc $flags -I"$top" -I"$top/libproto" -I"$build/gen" \
	    -o "$d/ex$i" "$d/ex$i.c" "$build/lib/libproto.a" -lcrypto \
	    -lpthread 2> "$d/cc$i"; then
		echo "FAIL: libproto.3 example $i does not compile:"
		cat "$d/cc$i"
		fail=1
	fi
done
if [ -x "$d/ex1" ] && [ -x "$d/ex2" ]; then
	# The output the page promises: the indented display after the last
	# example.
	sed -n '/^The first program.s output piped into the second prints:$/,/^\.Ed$/p' \
	    "$top/man/libproto.3" | sed '1,2d;$d' > "$d/want"
	timeout 10 "$d/ex1" > "$d/stream"
	timeout 10 "$d/ex2" < "$d/stream" > "$d/got" 2> "$d/err"
	if [ -s "$d/want" ] && cmp -s "$d/want" "$d/got" && [ ! -s "$d/err" ]
	then
		echo "ok: libproto.3 examples build and print what the page says"
	else
		echo "FAIL: libproto.3 examples: want / got / stderr:"
		cat "$d/want" "$d/got" "$d/err"
		fail=1
	fi
	size=$(wc -c < "$d/stream")
	head -c $((size - 3)) "$d/stream" > "$d/cut"
	rc=0
	timeout 10 "$d/ex2" < "$d/cut" > /dev/null 2> "$d/err" || rc=$?
	if [ "$rc" = 1 ] && grep -q 'cut off by the end of the stream' "$d/err"
	then
		echo "ok: libproto.3 example 2 reports a cut-off stream, exit 1"
	else
		echo "FAIL: libproto.3 example 2 on a cut-off stream: exit $rc"
		cat "$d/err"
		fail=1
	fi
fi

# The third example: a session to a msgpeer serving echo, then to nobody.
if [ -x "$d/ex3" ] && [ ! -x "$bin/msgpeer" ]; then
	echo "FAIL: libproto.3 example 3 needs $bin/msgpeer: build it first"
	fail=1
elif [ -x "$d/ex3" ]; then
	"$bin/msgpeer" serve --listen "unix:$d/echo.sock" -q &
	server=$!
	i=0
	while [ ! -S "$d/echo.sock" ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	sed -n '/^prints:$/,/^\.Ed$/p' "$top/man/libproto.3" | sed '1,2d;$d' \
	    > "$d/want3"
	rc=0
	timeout 10 "$d/ex3" "unix:$d/echo.sock" > "$d/got3" 2> "$d/err3" ||
	    rc=$?
	if [ "$rc" = 0 ] && [ -s "$d/want3" ] && cmp -s "$d/want3" "$d/got3" &&
	    [ ! -s "$d/err3" ]; then
		echo "ok: libproto.3 example 3 talks to msgpeer as the page says"
	else
		echo "FAIL: libproto.3 example 3 against msgpeer: exit $rc;" \
		    "want / got / stderr:"
		cat "$d/want3" "$d/got3" "$d/err3"
		fail=1
	fi
	kill "$server" 2>/dev/null || true
	wait "$server" 2>/dev/null || true
	server=
	rc=0
	timeout 20 "$d/ex3" "unix:$d/nobody.sock" > "$d/got3" 2> "$d/err3" ||
	    rc=$?
	if [ "$rc" = 1 ] && [ ! -s "$d/got3" ] &&
	    grep -q 'session lost: no session within the session time-out' \
	    "$d/err3"; then
		echo "ok: libproto.3 example 3 without a server: session lost," \
		    "exit 1"
	else
		echo "FAIL: libproto.3 example 3 without a server: exit $rc"
		cat "$d/got3" "$d/err3"
		fail=1
	fi
fi

# 3. Lint.
if command -v mandoc > /dev/null 2>&1; then
	if mandoc -T lint -W warning "$top"/man/*.[1-9] > "$d/lint" 2>&1; then
		echo "ok: mandoc -T lint -W warning is clean"
	else
		echo "FAIL: mandoc -T lint -W warning:"
		cat "$d/lint"
		fail=1
	fi
else
	echo "skip: mandoc is not installed"
fi
exit $fail
