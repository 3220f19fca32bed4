#!/bin/sh
# msgdump's outputs against the golden files of tests/golden/TESTLIST.
# UPDATE=1 rewrites the golden files instead of comparing.
set -u
top=${MSGKIT_TOP:?run through tests/run.sh}
gold="$top/tests/golden"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

script="$MSGKIT_HELPERS/msgscript"
"$script" -w "$tmp/session.pcap" -o "$tmp/session.raw" "$gold/session.msg" ||
	exit 1
"$script" -d out -o "$tmp/client.raw" "$gold/session.msg" || exit 1
"$script" -o "$tmp/malformed.raw" -w "$tmp/malformed.pcap" \
    "$gold/malformed.msg" || exit 1
"$script" -w "$tmp/hostile.pcap" "$gold/hostile.msg" || exit 1

fail=0
n=0
while read -r name input want flags; do
	case "$name" in ''|'#'*) continue ;; esac
	n=$((n + 1))
	# shellcheck disable=SC2086 # flags are words
	(cd "$tmp" && "$MSGKIT_BIN/msgdump" -r "$input" $flags) \
	    >"$tmp/$name.out" 2>&1
	got=$?
	if [ "${UPDATE:-0}" = 1 ]; then
		cp "$tmp/$name.out" "$gold/$name.out"
		echo "updated $name (exit $got)"
		continue
	fi
	if [ "$got" != "$want" ]; then
		echo "FAIL $name: exit $got, want $want"
		fail=1
	fi
	if ! diff -u "$gold/$name.out" "$tmp/$name.out" >"$tmp/$name.diff"; then
		echo "FAIL $name: output differs from $gold/$name.out"
		head -n 40 "$tmp/$name.diff"
		fail=1
	fi
done <"$gold/TESTLIST"
echo "$n golden cases"
exit $fail
