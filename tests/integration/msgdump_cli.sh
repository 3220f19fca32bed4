#!/bin/sh
# msgdump as a user meets it: exit statuses, stdin and pipes, -c, the
# text notation through the tools and back, -w read back by msgdump and
# by tshark (IPv6 kept), JSON that jq accepts (statistics included), the
# flags as tcpdump users type them, colour only where allowed, I/O
# errors, inputs that are empty or not msgkit at all, bytes skipped, a
# capture that lost a segment (editcap), strings that would forge lines.
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

# Colour: never in a pipe, on request otherwise; NO_COLOR changes only
# the default (auto), as msgdump(1) and no-color.org say.
esc=$(printf '\033')
unset NO_COLOR
"$dump" -r "$tmp/s.raw" >"$tmp/c"
grep -q "$esc" "$tmp/c" && { echo "FAIL: colour in a pipe"; fail=1; }
"$dump" -r "$tmp/s.raw" --color=always >"$tmp/c"
grep -q "$esc" "$tmp/c" || { echo "FAIL: no colour with --color=always"; fail=1; }
NO_COLOR=1 "$dump" -r "$tmp/s.raw" --color=always >"$tmp/c"
grep -q "$esc" "$tmp/c" ||
	{ echo "FAIL: NO_COLOR overrode --color=always"; fail=1; }
NO_COLOR=1 script -qec "'$dump' -r '$tmp/s.raw' -c 1" /dev/null >"$tmp/c"
grep -q "$esc" "$tmp/c" &&
	{ echo "FAIL: colour on a terminal despite NO_COLOR"; fail=1; }
"$dump" -r "$tmp/s.raw" --color=always -j >"$tmp/c"
grep -q "$esc" "$tmp/c" && { echo "FAIL: colour in JSON"; fail=1; }
export NO_COLOR=1

# The flags as tcpdump users type them: each does what msgdump(1) says,
# or is refused with a usage error.
"$dump" -r "$tmp/s.pcap" -n >"$tmp/n1"
grep -q 'STATUS=\|NAME=\|VFS_LOOKUP' "$tmp/n1" &&
	{ echo "FAIL: -n left names: $(grep -m1 'STATUS=' "$tmp/n1")"; fail=1; }
grep -q ' 0x0200 reply len 24 0x0001=2 ' "$tmp/n1" ||
	{ echo "FAIL: -n: no ENOENT as 0x0001=2"; fail=1; }
"$dump" -r "$tmp/s.pcap" -nn >"$tmp/n2"
same "-nn as -n" "$tmp/n1" "$tmp/n2"
check "-nnn" 2 "$dump" -r "$tmp/s.pcap" -nnn
expect_err "at most -nn"
check "-XX" 2 "$dump" -r "$tmp/s.pcap" -XX
expect_err "give -X once"
check "-vvv" 2 "$dump" -r "$tmp/s.pcap" -vvv
expect_err "at most -vv"
check "-tttttt" 2 "$dump" -r "$tmp/s.pcap" -tttttt
expect_err "at most -ttttt"
# -ttttt: the time since the first packet (the SYN at .000), as tcpdump.
check "-ttttt" 0 "$dump" -r "$tmp/s.pcap" -ttttt -c 3
[ "$(cut -d' ' -f1 "$tmp/out" | tr '\n' ' ')" = "0.001000 0.002000 0.003000 " ] ||
	{ echo "FAIL: -ttttt: $(head -n 3 "$tmp/out")"; fail=1; }

# Statistics: JSON with -j, where jq reads it; text on stderr with -m,
# whose output is read back; never-answered times in the -t form in use.
"$dump" -r "$tmp/s.pcap" -j --stats >"$tmp/js" 2>"$tmp/err"
jq -e . "$tmp/js" >/dev/null || { echo "FAIL: jq rejects -j --stats"; fail=1; }
[ "$(tail -n 1 "$tmp/js" | jq '.statistics.messages')" = 30 ] ||
	{ echo "FAIL: -j --stats: last line $(tail -n 1 "$tmp/js")"; fail=1; }
[ "$("$dump" -r "$tmp/s.pcap" -q -j | jq -c '[.statistics.capture.frames,
    .statistics.unanswered.total, (.statistics.commands | length)]')" = \
    '[36,1,14]' ] || { echo "FAIL: -q -j"; fail=1; }
"$dump" -r "$tmp/s.pcap" -m --stats >"$tmp/ms" 2>"$tmp/err"
"$script" -o "$tmp/ms.raw" "$tmp/ms" ||
	{ echo "FAIL: -m --stats output does not read back"; fail=1; }
grep -q '^30 messages' "$tmp/err" ||
	{ echo "FAIL: -m --stats: no statistics on stderr"; fail=1; }
for t in "at 22:13:20.029000|" "at 1700000000.029000|-tt" \
    "at 2023-11-14 22:13:20.029000|-tttt" "at 0.029000|-ttttt" \
    "at 0.029000|-ttt" "VFS_STATFS\$|-t"; do
	# shellcheck disable=SC2086 # the flag is a word, or none
	"$dump" -r "$tmp/s.pcap" -q ${t#*|} | grep 'msg 14 VFS_STATFS' \
	    >"$tmp/t"
	grep -q "${t%|*}" "$tmp/t" ||
		{ echo "FAIL: never answered with ${t#*|}: $(cat "$tmp/t")"; fail=1; }
done
# In the order sent, whatever the order connections end and tables give
# them up: with the replies filtered out, every command is unanswered.
"$dump" -r "$tmp/s.pcap" -q 'src port 40000' |
	sed -n 's/^  .* msg \([0-9]*\) .*/\1/p' | tr '\n' ' ' >"$tmp/order"
[ "$(cat "$tmp/order")" = "1 2 3 4 5 6 7 8 9 10 11 12 13 14 " ] ||
	{ echo "FAIL: never answered out of order: $(cat "$tmp/order")"; fail=1; }

# README's example: the failed replies, and only they (parts and PING
# replies, whose first item is not STATUS, are not failures).
"$dump" -j -r "$tmp/s.pcap" |
	jq -c 'select(.reply and any(.items[]; .name == "STATUS" and .value != 0)) | .msgid' |
	tr '\n' ' ' >"$tmp/failed"
[ "$(cat "$tmp/failed")" = "5 10 12 " ] ||
	{ echo "FAIL: README's jq example gives $(cat "$tmp/failed")"; fail=1; }

# Inputs that are not what they seem: each said so, each byte counted.
check "empty input" 1 "$dump" -r /dev/null
expect_err "/dev/null: empty input"
check "empty pipe" 1 sh -c "'$dump' -r - </dev/null"
expect_err "stdin: empty input"
printf 'Dear msgdump,\n\033[31mthis is a letter.\n' >"$tmp/letter.txt"
check "a text file" 1 "$dump" -r "$tmp/letter.txt"
expect_err 'letter.txt: not a capture or a msgkit stream: starts with "Dear msg" (446561'
grep -q "$esc" "$tmp/err" && { echo "FAIL: the hint prints raw escapes"; fail=1; }
check "a text file, forced raw" 1 "$dump" -F raw -r "$tmp/letter.txt"
grep -q 'not a capture' "$tmp/err" && { echo "FAIL: hint despite -F raw"; fail=1; }
head -c 4096 /dev/zero | tr '\0' '\377' >"$tmp/junk"
check "4 KB of junk" 1 "$dump" -q -r "$tmp/junk"
grep -q ', 4096 bytes skipped,' "$tmp/out" ||
	{ echo "FAIL: junk: $(grep skipped "$tmp/out")"; fail=1; }
{ cat "$tmp/s.raw"; head -c 5242880 /dev/zero | tr '\0' '\377'; } >"$tmp/tail"
check "5 MB of trailing junk" 1 "$dump" -r "$tmp/tail" --stats
grep -q ', 5242880 bytes skipped,' "$tmp/out" ||
	{ echo "FAIL: trailing junk: $(grep skipped "$tmp/out")"; fail=1; }
grep -q '^@1824 5242880 bytes skipped to the end of the stream$' "$tmp/out" ||
	{ echo "FAIL: trailing junk: no note"; fail=1; }
"$dump" -r "$tmp/m.raw" -j | jq -c 'select(.note) | keys' | sort -u >"$tmp/k"
[ "$(cat "$tmp/k")" = '["note","offset","skipped"]' ] ||
	{ echo "FAIL: JSON notes carry $(cat "$tmp/k")"; fail=1; }
"$dump" -r "$tmp/m.raw" -j | jq -e 'select(.error) | .field == "" or
    (.want == 0 and .error != "length < 16")' >/dev/null &&
	{ echo "FAIL: JSON errors carry empty fields"; fail=1; }
# Joined mid-way: says so, never "skipping 0 bytes".
"$script" -d out -o "$tmp/c.raw" "$top/tests/golden/session.msg"
"$script" -d in -o "$tmp/sv.raw" "$top/tests/golden/session.msg"
"$MSGKIT_HELPERS/mkpcap" --no-syn -o "$tmp/nosyn.pcap" "$tmp/c.raw" \
    "$tmp/sv.raw"
check "joined mid-stream" 0 "$dump" -r "$tmp/nosyn.pcap" -t
grep -q 'skipping 0 bytes' "$tmp/out" && { echo "FAIL: skipping 0 bytes"; fail=1; }
[ "$(grep -c ': @0 joined mid-stream$' "$tmp/out")" = 2 ] ||
	{ echo "FAIL: mid-stream: $(head -n 2 "$tmp/out")"; fail=1; }
"$dump" -r "$tmp/nosyn.pcap" -m | grep -v '^#' | sed 's/^[<>] //' |
	sort >"$tmp/ns1"
"$dump" -r "$tmp/s.pcap" -m | sed 's/^[<>] //' | sort >"$tmp/ns2"
same "joined mid-stream: every message" "$tmp/ns1" "$tmp/ns2"

# A segment lost by the capture (editcap drops frame 8, the client's
# VFS_GETATTR): the gap is reported where it happens, what follows keeps
# its own time and order, and replies still pair with their commands.
editcap "$tmp/s.pcap" "$tmp/hole.pcap" 8 >/dev/null 2>&1 ||
	{ echo "FAIL: editcap"; fail=1; }
check "a lost segment" 0 "$dump" -r "$tmp/hole.pcap" -tt --stats
sed -n '5,8p' "$tmp/out" | cut -d' ' -f1,5- >"$tmp/hole"
printf '%s\n' \
    '1700000000.006000 link 0x1 msg 3 VFS_GETATTR reply len 156 STATUS=OK ATTR{MODE=0o40755 UID=1000 GID=1000 SIZE=4096 ...}' \
    '1700000000.007000 @224 16 bytes missing from the capture' \
    '1700000000.007000 link 0x1 msg 4 VFS_LOOKUP len 44 NAME="notes.txt" NEWLINK=0x2' \
    '1700000000.008000 link 0x1 msg 5 VFS_LOOKUP len 44 NAME="missing" NEWLINK=0x3' \
    >"$tmp/hole.want"
same "the gap, where it happens" "$tmp/hole.want" "$tmp/hole"
grep -q '^never answered: 1$' "$tmp/out" ||
	{ echo "FAIL: a lost segment: $(grep -A3 'never answered' "$tmp/out")"; fail=1; }
grep -q 'msg 4 VFS_LOOKUP reply .* (3.000 ms)$' "$tmp/out" ||
	{ echo "FAIL: a lost segment: msg 4 unpaired"; fail=1; }

# -w keeps IPv6 as IPv6; tcpdump and tshark read it back as such.
"$MSGKIT_HELPERS/mkpcap" --ipv6 -o "$tmp/six.pcap" "$tmp/c.raw" "$tmp/sv.raw"
check "-w of IPv6" 0 "$dump" -r "$tmp/six.pcap" -w "$tmp/w6.pcap"
tcpdump -nn -r "$tmp/w6.pcap" 2>/dev/null | head -n 1 |
	grep -q ' IP6 2001:db8::1.40000 > 2001:db8::ff02.5555: Flags \[S\]' ||
	{ echo "FAIL: tcpdump on -w of IPv6"; fail=1; }
[ "$(tshark -r "$tmp/w6.pcap" -T fields -e ipv6.src 2>/dev/null |
    sort -u | tr '\n' ' ')" = "2001:db8::1 2001:db8::ff02 " ] ||
	{ echo "FAIL: tshark on -w of IPv6"; fail=1; }
"$dump" -r "$tmp/six.pcap" -m >"$tmp/six1"
"$dump" -r "$tmp/w6.pcap" -m >"$tmp/six2"
same "-w of IPv6 read back" "$tmp/six1" "$tmp/six2"
"$dump" -r "$tmp/w6.pcap" -c 1 | grep -q ' 2001:db8::1.40000 > 2001:db8::ff02.5555: ' ||
	{ echo "FAIL: msgdump on -w of IPv6"; fail=1; }

# Strings from the wire that would forge lines and drive a terminal are
# escaped in every form: no escape byte, no C1 control, no carriage
# return, no line a string forged; JSON gives the exact bytes back.
"$script" -w "$tmp/h.pcap" "$top/tests/golden/hostile.msg"
c1=$(printf '\302\233')
cr=$(printf '\r')
for f in "" -v -vv -X -m -q "--stats -n" "-vv -n" "-j --stats"; do
	# shellcheck disable=SC2086 # flags are words
	"$dump" -r "$tmp/h.pcap" $f >"$tmp/h" 2>&1
	if grep -q "$esc\|$c1\|$cr" "$tmp/h"; then
		echo "FAIL: msgdump $f prints a raw control character"
		fail=1
	fi
	if grep -q '^22:13:20.00000[01] 10.0.0.[29].' "$tmp/h"; then
		echo "FAIL: msgdump $f lets a string forge a line"
		fail=1
	fi
done
"$dump" -r "$tmp/h.pcap" -j >"$tmp/h.json"
[ "$(wc -l <"$tmp/h.json")" = 6 ] || { echo "FAIL: hostile JSON lines"; fail=1; }
jq -j 'select(.msgid == 2 and (.reply | not)) | .items[0].value' \
    "$tmp/h.json" | od -An -c | tr -s ' \n' ' ' >"$tmp/hv"
[ "$(cat "$tmp/hv")" = ' a \n b \t c 033 [ 2 J 302 233 3 1 m ' ] ||
	{ echo "FAIL: JSON string not exact: $(cat "$tmp/hv")"; fail=1; }

[ $fail -eq 0 ] && echo "msgdump cli: all checks passed"
exit $fail
