#!/bin/sh
# msgdump as a user meets it: exit statuses, stdin and pipes, -c, the
# text notation through the tools and back, -w read back by msgdump and
# by tshark, JSON that jq accepts, colour only where allowed, I/O errors.
set -u
top=${MSGKIT_TOP:?run through tests/run.sh}
dump="$MSGKIT_BIN/msgdump"
script="$MSGKIT_HELPERS/msgscript"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0

check() {	# check DESCRIPTION WANT_EXIT COMMAND...
	desc=$1 want=$2
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$got" != "$want" ]; then
		echo "FAIL $desc: exit $got, want $want"
		sed 's/^/  | /' "$tmp/err" | head -n 5
		fail=1
	fi
}

expect_err() {	# the last check's stderr holds this text
	if ! grep -q -- "$1" "$tmp/err"; then
		echo "FAIL: stderr lacks \"$1\":"
		sed 's/^/  | /' "$tmp/err" | head -n 5
		fail=1
	fi
}

same() {	# same DESCRIPTION FILE1 FILE2
	if ! cmp -s "$2" "$3"; then
		echo "FAIL $1: $2 and $3 differ"
		fail=1
	fi
}

"$script" -w "$tmp/s.pcap" -o "$tmp/s.raw" "$top/tests/golden/session.msg"
"$script" -o "$tmp/m.raw" "$top/tests/golden/malformed.msg"

# Usage errors are exit 2, each with a message naming the problem.
check "no input" 2 "$dump"
expect_err "no input"
check "bad -c" 2 "$dump" -r "$tmp/s.raw" -c 0
expect_err "count is too small"
check "-c junk" 2 "$dump" -r "$tmp/s.raw" -c 12x
expect_err "count is invalid"
check "-j and -m" 2 "$dump" -r "$tmp/s.raw" -j -m
check "bad -F" 2 "$dump" -r "$tmp/s.raw" -F xml
check "bad --color" 2 "$dump" -r "$tmp/s.raw" --color=sometimes
check "unknown option" 2 "$dump" -r "$tmp/s.raw" --bogus
check "missing file" 2 "$dump" -r "$tmp/nonexistent"
expect_err "nonexistent"
check "filter on raw input" 2 "$dump" -r "$tmp/s.raw" tcp port 7470
check "bad filter" 2 "$dump" -r "$tmp/s.pcap" tcp port nonsense
check "help" 0 "$dump" --help
grep -q "usage: msgdump" "$tmp/out" || { echo "FAIL: --help"; fail=1; }

# Clean input is 0, malformed input 1.
check "clean raw" 0 "$dump" -r "$tmp/s.raw"
check "malformed raw" 1 "$dump" -r "$tmp/m.raw"
check "malformed, no resync" 1 "$dump" -r "$tmp/m.raw" --no-resync

# stdin and pipes, raw and pcap: the same as reading the file.
"$dump" -r "$tmp/s.raw" >"$tmp/file.txt"
"$dump" -r - <"$tmp/s.raw" >"$tmp/stdin.txt"
same "raw on stdin" "$tmp/file.txt" "$tmp/stdin.txt"
cat "$tmp/s.raw" | "$dump" -r - >"$tmp/pipe.txt"
same "raw through a pipe" "$tmp/file.txt" "$tmp/pipe.txt"
"$dump" -r "$tmp/s.pcap" -tt >"$tmp/file.txt"
cat "$tmp/s.pcap" | "$dump" -r - -tt >"$tmp/pipe.txt"
same "pcap through a pipe" "$tmp/file.txt" "$tmp/pipe.txt"
check "forced raw on a pcap" 1 "$dump" -F raw -r "$tmp/s.pcap"

# A filter expression narrows the capture, as in tcpdump.
check "filter" 0 "$dump" -r "$tmp/s.pcap" -t 'src port 7470'
[ "$(wc -l <"$tmp/out")" -eq 15 ] ||
	{ echo "FAIL: filter kept $(wc -l <"$tmp/out") lines, want 15"; fail=1; }
grep -q '10.0.0.1.40000 >' "$tmp/out" &&
	{ echo "FAIL: filter let the client's messages through"; fail=1; }

# -c stops after N messages.
check "-c 3" 0 "$dump" -r "$tmp/s.pcap" -c 3
[ "$(wc -l <"$tmp/out")" -eq 3 ] || { echo "FAIL: -c 3"; fail=1; }

# The notation reads back into the same bytes, direction by direction.
"$dump" -r "$tmp/s.pcap" -m >"$tmp/s.msg"
"$script" -w "$tmp/again.pcap" -o "$tmp/again.raw" "$tmp/s.msg" ||
	{ echo "FAIL: msgscript rejects msgdump -m output"; fail=1; }
same "notation round trip" "$tmp/s.raw" "$tmp/again.raw"
# Malformed messages come back as raw lines; bytes skipped out of step
# are only named in comments, so compare the message lines.
"$dump" -r "$tmp/m.raw" -m >"$tmp/m.msg"
"$script" -o "$tmp/m-again.raw" "$tmp/m.msg"
"$dump" -r "$tmp/m-again.raw" -m >"$tmp/m-again.msg"
grep -v '^#' "$tmp/m.msg" >"$tmp/m1"
grep -v '^#' "$tmp/m-again.msg" >"$tmp/m2"
same "malformed notation round trip" "$tmp/m1" "$tmp/m2"

# -w: msgdump reads its own pcap back; tshark follows the exact bytes.
check "-w from raw" 0 "$dump" -r "$tmp/s.raw" -w "$tmp/w.pcap"
[ -s "$tmp/out" ] && { echo "FAIL: -w printed messages"; fail=1; }
"$dump" -r "$tmp/w.pcap" -m | sed 's/^> //' >"$tmp/w.msg"
"$dump" -r "$tmp/s.raw" -m >"$tmp/s1.msg"
same "-w read back" "$tmp/s1.msg" "$tmp/w.msg"
tshark -r "$tmp/w.pcap" -q -z follow,tcp,raw,0 2>/dev/null |
	sed -n '/^=====/,/^=====/p' | grep -v '^=\|^Follow\|^Filter\|^Node' |
	tr -d ' \t\n' >"$tmp/follow.hex"
od -An -v -tx1 "$tmp/s.raw" | tr -d ' \n' >"$tmp/raw.hex"
same "tshark follow of -w output" "$tmp/raw.hex" "$tmp/follow.hex"
check "-w of a capture" 0 "$dump" -r "$tmp/s.pcap" -w "$tmp/w2.pcap"
"$dump" -r "$tmp/w2.pcap" -m >"$tmp/w2.msg"
same "-w of a capture read back" "$tmp/s.msg" "$tmp/w2.msg"
check "-w with --print" 0 "$dump" -r "$tmp/s.raw" -w "$tmp/w3.pcap" --print
[ -s "$tmp/out" ] || { echo "FAIL: --print printed nothing"; fail=1; }
check "-w to a full disk" 2 "$dump" -r "$tmp/s.raw" -w /dev/full
expect_err "No space left"
"$dump" -r "$tmp/s.raw" >/dev/full 2>"$tmp/err"
[ $? -eq 2 ] || { echo "FAIL: writing to /dev/full is not exit 2"; fail=1; }

# JSON lines: every line is JSON; u64 values exactly.
"$dump" -r "$tmp/s.pcap" -j >"$tmp/j"
jq -e . "$tmp/j" >/dev/null || { echo "FAIL: jq rejects -j output"; fail=1; }
"$dump" -r "$tmp/m.raw" -j >"$tmp/mj"
jq -e . "$tmp/mj" >/dev/null || { echo "FAIL: jq rejects error objects"; fail=1; }
[ "$(jq -r 'select(.error) | .error' "$tmp/mj" | wc -l)" -eq 16 ] ||
	{ echo "FAIL: want 16 error objects"; fail=1; }
printf 'PING link=0xffffffffffffffff msg=4294967295 OFFSET=18446744073709551615\n' |
	"$script" -o "$tmp/big.raw" -
"$dump" -r "$tmp/big.raw" -j >"$tmp/big.json"
grep -q '"linkid":18446744073709551615,"msgid":4294967295' "$tmp/big.json" &&
grep -q '"value":18446744073709551615' "$tmp/big.json" ||
	{ echo "FAIL: u64 not exact in JSON"; cat "$tmp/big.json"; fail=1; }

# Colour: never in a pipe or with NO_COLOR, on request otherwise.
esc=$(printf '\033')
unset NO_COLOR
"$dump" -r "$tmp/s.raw" >"$tmp/c"
grep -q "$esc" "$tmp/c" && { echo "FAIL: colour in a pipe"; fail=1; }
"$dump" -r "$tmp/s.raw" --color=always >"$tmp/c"
grep -q "$esc" "$tmp/c" || { echo "FAIL: no colour with --color=always"; fail=1; }
NO_COLOR=1 "$dump" -r "$tmp/s.raw" --color=always >"$tmp/c"
grep -q "$esc" "$tmp/c" && { echo "FAIL: colour despite NO_COLOR"; fail=1; }
"$dump" -r "$tmp/s.raw" --color=always -j >"$tmp/c"
grep -q "$esc" "$tmp/c" && { echo "FAIL: colour in JSON"; fail=1; }

[ $fail -eq 0 ] && echo "msgdump cli: all checks passed"
exit $fail
