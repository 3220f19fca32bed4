#!/bin/sh
# pcap_formats.sh - the capture layer reads every variant of a capture.
#
# Two streams of msgkit messages (built here: a header and one DATA item
# each, sizes from 0 to the 65515-byte maximum) go through mkpcap in each
# variant - link types, IPv6, nanoseconds, the other byte order, pcapng,
# reordering, retransmissions, 1- and 7-byte segments, no handshake,
# VLAN, IP and TCP options, frames to skip - and come back out of
# pcapcat (input + tcpreasm) byte for byte. Stock tcpdump and tshark open
# each variant, see every frame, and tshark finds the checksums valid.
# pcapout's output gives tshark's "follow,tcp,raw" exactly the bytes
# written, IPv6 connections as IPv6. A cut snaplen gives gaps, a cut
# file a clear error; neither crashes.
#
# Run by tests/run.sh (MSGKIT_HELPERS set); needs tcpdump and tshark.
set -eu
: "${MSGKIT_HELPERS:?run through tests/run.sh}"
mk=$MSGKIT_HELPERS/mkpcap
cat=$MSGKIT_HELPERS/pcapcat
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pcap_formats.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# --- streams -------------------------------------------------------------

# le VALUE BYTES: VALUE little-endian, as printf escapes.
le() {
	v=$1 n=$2 s=
	while [ "$n" -gt 0 ]; do
		s="$s\\$(printf %03o $((v & 255)))"
		v=$((v >> 8))
		n=$((n - 1))
	done
	printf "$s"
}

# msg LINKID MSGID COMMAND DATALEN: a message with one DATA item (type
# 66) of random bytes, padded to 8 as the stream requires.
msg() {
	len=$((16 + 4 + $4))
	le "$1" 8
	le "$2" 4
	le "$3" 2
	le "$len" 2
	le 66 2
	le $((4 + $4)) 2
	head -c "$4" /dev/urandom
	pad=$(((8 - len % 8) % 8))
	head -c "$pad" /dev/zero
}

# stream FILE COMMAND SIZE...: one message per size, msgids 1, 2, ...
stream() {
	f=$1 cmd=$2
	shift 2
	i=1
	for size in "$@"; do
		msg 0 "$i" "$cmd" "$size"
		i=$((i + 1))
	done >"$f"
}

# Requests (echo range 0x7001) one way, replies (bit 15) the other.
stream "$tmp/big.c2s" 28673 0 1 7 8 100 1000 1447 1448 1449 3000 65515 \
    20000 5 4096 9000 2 64 300
stream "$tmp/big.s2c" 61441 16 65515 1 1 2000 7 1448 100 0 0 30000 12
stream "$tmp/small.c2s" 28673 0 3 20 100 9 200
stream "$tmp/small.s2c" 61441 1 50 0 300
# Bytes that do not frame: mkpcap cuts them into fixed chunks.
head -c 23456 /dev/urandom >"$tmp/random.c2s"
head -c 7777 /dev/urandom >"$tmp/random.s2c"

# --- one variant -----------------------------------------------------------

# frames_of PCAPCAT_OUTPUT: the frame count pcapcat reports.
frames_of() {
	sed -n 's/^input frames=\([0-9]*\) .*/\1/p' "$1"
}

# tools_check NAME FILE FRAMES CHECKS: tcpdump and tshark open the file
# and see FRAMES frames; CHECKS "ck": no bad checksum, no malformed
# frame, no expert error; "notd": tcpdump does not know the link type.
tools_check() {
	name=$1 f=$2 frames=$3 checks=$4
	case " $checks " in
	*" notd "*) ;;
	*)
		timeout 60 tcpdump -nn -r "$f" >"$f.td" 2>"$f.td.err" ||
		    fail "$name: tcpdump: $(cat "$f.td.err")"
		n=$(wc -l <"$f.td")
		[ "$n" = "$frames" ] ||
		    fail "$name: tcpdump saw $n frames, pcapcat $frames"
		;;
	esac
	# Per packet: tshark's own reassembly of the deliberate overlaps
	# would be reported as errors of the capture. Port 5555 is ADB to
	# tshark: random payloads would be malformed ADB, so they are data.
	timeout 120 tshark -o tcp.check_checksum:TRUE \
	    -o ip.check_checksum:TRUE -o tcp.desegment_tcp_streams:FALSE \
	    -d tcp.port==5555,data -r "$f" -T fields -e frame.number \
	    -e tcp.checksum.status -e ip.checksum.status -e _ws.malformed \
	    -e _ws.expert.severity >"$f.ts" 2>"$f.ts.err" ||
	    fail "$name: tshark: $(grep -v 'Running as' "$f.ts.err")"
	n=$(wc -l <"$f.ts")
	[ "$n" = "$frames" ] ||
	    fail "$name: tshark saw $n frames, pcapcat $frames"
	case " $checks " in
	*" ck "*)
		# tshark: checksum status 0 is Bad; 0x800000 is PI_ERROR.
		awk -F '\t' '$2 == "0" || $3 == "0" || $4 != "" ||
		    $5 ~ /8388608/ { print; bad++ } END { exit bad > 0 }' \
		    "$f.ts" >&2 || fail "$name: tshark finds errors"
		;;
	esac
}

# variant NAME STREAMS CHECKS MKPCAP_OPTIONS...
variant() {
	name=$1 set=$2 checks=$3
	shift 3
	f=$tmp/$name.pcap o=$tmp/$name.d
	mkdir "$o"
	timeout 60 "$mk" "$@" -o "$f" "$tmp/$set.c2s" "$tmp/$set.s2c" ||
	    fail "$name: mkpcap $*"
	timeout 60 "$cat" "$f" "$o" >"$o.txt" 2>"$o.err" ||
	    fail "$name: pcapcat exit $?: $(cat "$o.err")"
	cmp "$tmp/$set.c2s" "$o/1.c2s" || fail "$name: client stream differs"
	cmp "$tmp/$set.s2c" "$o/1.s2c" || fail "$name: server stream differs"
	[ "$(grep -c '^conn ' "$o.txt")" = 1 ] ||
	    fail "$name: not one connection: $(cat "$o.txt")"
	grep -q '^conn 1 .* gaps=0 missing=0 close=FIN$' "$o.txt" ||
	    fail "$name: $(head -n 1 "$o.txt")"
	tools_check "$name" "$f" "$(frames_of "$o.txt")" "$checks"
	echo "ok $name: $(frames_of "$o.txt") frames"
}

variant en10mb big ck
variant raw big ck --linktype raw
variant raw12 big ck --linktype raw12
variant raw14 big "ck notd" --linktype raw14
variant ipv4 big ck --linktype ipv4
variant ipv6-link big ck --ipv6 --linktype ipv6
variant sll big ck --linktype sll
variant sll2 big ck --linktype sll2
variant null big ck --linktype null
variant null-swapped big ck --linktype null --swapped
variant null6 big ck --ipv6 --linktype null
variant loop big ck --linktype loop
variant loop6 big ck --ipv6 --linktype loop
variant ipv6 big ck --ipv6
variant nano big ck --nano
variant swapped big ck --swapped
variant pcapng big ck --pcapng
variant pcapng-nano-swapped big ck --pcapng --nano --swapped
variant reorder big ck --reorder
variant retransmit big ck --retransmit
variant mss1 small ck --mss 1
variant mss7 small ck --mss 7 --reorder --retransmit
variant mss65000 big ck --mss 65000
variant no-syn big ck --no-syn
variant no-syn-reorder big ck --no-syn --retransmit
variant vlan big ck --vlan
variant options big ck --options
variant options6 big ck --options --ipv6 --linktype sll --reorder
variant mixed big ck --ipv6 --vlan --pcapng --nano --reorder \
    --retransmit --mss 500
variant random random ck --reorder --mss 333
variant noise big "" --noise
variant noise-sll2 big "" --noise --linktype sll2 --reorder

# The frames to skip were skipped and reported, with their frame numbers.
grep -q ' non_tcp=[1-9][0-9]* fragments=[1-9][0-9]* truncated=[1-9][0-9]* malformed=[1-9]' \
    "$tmp/noise.d.txt" || fail "noise: $(grep '^input' "$tmp/noise.d.txt")"
grep -q '^finding frame [0-9]*: IPv4 header length 12$' "$tmp/noise.d.txt" ||
    fail "noise: no finding for the bad IPv4 header"
grep -q '^finding frame [0-9]*: truncated: TCP header cut' \
    "$tmp/noise.d.txt" || fail "noise: no finding for the cut header"

# --- pcapout: tshark reassembles the same bytes ------------------------------

# hex FILE: the bytes as one line of hex.
hex() {
	od -An -v -tx1 "$1" | tr -d ' \n'
}

# follow NAME FILE C2S S2C: tshark's view of TCP stream 0 is C2S, S2C.
follow() {
	name=$1 f=$2
	timeout 120 tshark -r "$f" -q -z follow,tcp,raw,0 >"$f.follow" \
	    2>/dev/null || fail "$name: tshark follow"
	# Client data lines come bare, the server's after a tab.
	awk '/^Node 1:/ { on = 1; next } /^====/ { on = 0 }
	    on && /^\t/ { sub(/^\t/, ""); printf "%s", $0 }' \
	    "$f.follow" >"$f.s2c.hex"
	awk '/^Node 1:/ { on = 1; next } /^====/ { on = 0 }
	    on && !/^\t/ { printf "%s", $0 }' "$f.follow" >"$f.c2s.hex"
	[ "$(cat "$f.c2s.hex")" = "$(hex "$3")" ] ||
	    fail "$name: tshark's client stream differs"
	[ "$(cat "$f.s2c.hex")" = "$(hex "$4")" ] ||
	    fail "$name: tshark's server stream differs"
	echo "ok $name: tshark follow gives the same bytes"
}

variant plain big ck --plain
follow plain "$tmp/plain.pcap" "$tmp/big.c2s" "$tmp/big.s2c"
variant plain6 small ck --plain --ipv6
follow plain6 "$tmp/plain6.pcap" "$tmp/small.c2s" "$tmp/small.s2c"
# IPv6 stays IPv6: tshark and tcpdump see the original end points.
grep -q '^Node 0: \[2001:db8::1\]:40000$' "$tmp/plain6.pcap.follow" ||
    fail "plain6: $(grep '^Node' "$tmp/plain6.pcap.follow")"
grep -q '^conn 1 2001:db8::1.40000 > 2001:db8::ff02.5555 ' \
    "$tmp/plain6.d.txt" || fail "plain6: $(head -n 1 "$tmp/plain6.d.txt")"
tcpdump -nn -r "$tmp/plain6.pcap" 2>/dev/null | head -n 1 |
    grep -q ' IP6 2001:db8::1.40000 > 2001:db8::ff02.5555: Flags \[S\]' ||
    fail "plain6: tcpdump: $(tcpdump -nn -r "$tmp/plain6.pcap" | head -n 1)"

# --- a cut snaplen: gaps, reported, the rest in place ---------------------------

f=$tmp/snaplen.pcap o=$tmp/snaplen.d
mkdir "$o"
timeout 60 "$mk" --snaplen 120 -o "$f" "$tmp/big.c2s" "$tmp/big.s2c"
timeout 60 "$cat" "$f" "$o" >"$o.txt" || fail "snaplen: pcapcat exit $?"
line=$(grep '^conn 1 ' "$o.txt") || fail "snaplen: no connection"
case "$line" in
*" gaps=0 "*) fail "snaplen: no gap reported: $line" ;;
esac
missing=$(echo "$line" | sed 's/.* missing=\([0-9]*\) .*/\1/')
for d in c2s s2c; do
	[ "$(wc -c <"$o/1.$d")" = "$(wc -c <"$tmp/big.$d")" ] ||
	    fail "snaplen: $d: the gaps did not keep the offsets"
	diff=$(cmp -l "$tmp/big.$d" "$o/1.$d" | wc -l) || true
	[ "$diff" -le "$missing" ] ||
	    fail "snaplen: $d: $diff bytes differ, only $missing missing"
done
tools_check snaplen "$f" "$(frames_of "$o.txt")" ""
echo "ok snaplen: $missing bytes missing, reported as gaps"

# --- errors: clear, no crash -------------------------------------------------------

f=$tmp/en10mb.pcap
size=$(wc -c <"$f")
head -c $((size - 7)) "$f" >"$tmp/cut.pcap"
mkdir "$tmp/cut.d"
rc=0
timeout 60 "$cat" "$tmp/cut.pcap" "$tmp/cut.d" >"$tmp/cut.txt" \
    2>"$tmp/cut.err" || rc=$?
[ "$rc" = 1 ] || fail "cut file: exit $rc"
frames=$(frames_of "$tmp/en10mb.d.txt")
grep -q "cut.pcap: truncated capture record at frame $frames " \
    "$tmp/cut.err" || fail "cut file: $(cat "$tmp/cut.err")"
echo "ok cut file: $(cat "$tmp/cut.err")"

rc=0
timeout 60 "$cat" "$tmp/big.c2s" "$tmp/cut.d" 2>"$tmp/raw.err" || rc=$?
[ "$rc" = 2 ] && grep -q 'big.c2s: not a capture' "$tmp/raw.err" ||
    fail "raw stream: exit $rc: $(cat "$tmp/raw.err")"

# A pcap header with link type 105 (802.11): not a link we decode.
printf '\324\303\262\241\002\000\004\000\000\000\000\000\000\000\000\000\377\377\000\000\151\000\000\000' \
    >"$tmp/wifi.pcap"
rc=0
timeout 60 "$cat" "$tmp/wifi.pcap" "$tmp/cut.d" 2>"$tmp/wifi.err" || rc=$?
[ "$rc" = 2 ] &&
    grep -q 'wifi.pcap: link type 105 (IEEE802_11) not supported' \
    "$tmp/wifi.err" || fail "wifi: exit $rc: $(cat "$tmp/wifi.err")"
echo "ok errors"

# --- filters and pipes ------------------------------------------------------------

# As in tcpdump: tagged frames need "vlan and".
for ff in "en10mb|tcp port 5555" "vlan|vlan and tcp port 5555"; do
	v=${ff%%|*}
	mkdir "$tmp/filter-$v.d"
	timeout 60 "$cat" -f "${ff#*|}" "$tmp/$v.pcap" "$tmp/filter-$v.d" \
	    >"$tmp/filter.txt"
	cmp "$tmp/big.c2s" "$tmp/filter-$v.d/1.c2s" ||
	    fail "filter $ff: stream differs"
done
mkdir "$tmp/filter.d"
timeout 60 "$cat" -f 'tcp port 9' "$tmp/pcapng.pcap" "$tmp/filter.d" \
    >"$tmp/filter.txt"
! grep -q '^conn' "$tmp/filter.txt" || fail "filter: a connection passed"
grep -q " filtered=$(frames_of "$tmp/pcapng.d.txt") " "$tmp/filter.txt" ||
    fail "filter: $(grep '^input' "$tmp/filter.txt")"
rc=0
timeout 60 "$cat" -f 'tcp port' "$tmp/pcapng.pcap" "$tmp/filter.d" \
    2>"$tmp/filter.err" >/dev/null || rc=$?
[ "$rc" = 2 ] && grep -q 'pcapng.pcap: filter: ' "$tmp/filter.err" ||
    fail "bad filter: exit $rc: $(cat "$tmp/filter.err")"
echo "ok filters"

for v in pcapng-nano-swapped swapped; do
	mkdir "$tmp/pipe-$v.d"
	cat "$tmp/$v.pcap" | timeout 60 "$cat" - "$tmp/pipe-$v.d" >/dev/null ||
	    fail "pipe $v: pcapcat exit $?"
	cmp "$tmp/big.c2s" "$tmp/pipe-$v.d/1.c2s" || fail "pipe $v: differs"
	cmp "$tmp/big.s2c" "$tmp/pipe-$v.d/1.s2c" || fail "pipe $v: differs"
done
echo "ok pipes"
echo "pcap_formats: all passed"
