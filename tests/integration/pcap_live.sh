#!/bin/sh
# pcap_live.sh - a real capture, not a synthesised one: tcpdump records
# the loopback while socat carries two streams both ways over TCP, three
# connections in a row (IPv4 twice, then IPv6 when ::1 is configured);
# pcapcat (input + tcpreasm) must give back every stream byte for byte,
# whatever segment sizes, ACKs and window updates the kernel chose.
#
# Run by tests/run.sh (MSGKIT_HELPERS set). Needs root (or CAP_NET_RAW)
# for tcpdump, and socat, ss. Every step has a time limit; everything
# started here is killed on the way out.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/integration.sh
. "${MSGKIT_TOP:?run through tests/run.sh}/tests/lib/integration.sh"
trap 'exit 1' INT TERM HUP	# exit, and so clean up
cat=$MSGKIT_HELPERS/pcapcat

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

port_busy() {
	[ -n "$(ss -Htan "( sport = :$1 or dport = :$1 )")" ]
}

listening() {
	[ -n "$(ss -Hltn "sport = :$1")" ]
}

# A port nobody uses, from a range the kernel does not hand out.
port=
for try in 1 2 3 4 5 6 7 8 9 10; do
	p=$((20000 + ($$ * 7 + try * 997) % 12000))
	if ! port_busy "$p"; then
		port=$p
		break
	fi
done
[ -n "$port" ] || fail "no free port"

head -c 300000 /dev/urandom >"$tmp/c1"
head -c 170001 /dev/urandom >"$tmp/s1"
head -c 7 /dev/urandom >"$tmp/c2"
head -c 655360 /dev/urandom >"$tmp/s2"
head -c 99999 /dev/urandom >"$tmp/c3"
head -c 12345 /dev/urandom >"$tmp/s3"

# --immediate-mode: without it Linux hands packets to tcpdump a block (or
# a second) at a time, and those still in the kernel at SIGINT are lost.
# -B (KiB): immediate mode with loopback's 64 KiB segments overflows the
# default 2 MiB ring.
start_bg "$tmp/tcpdump.err" timeout 120 tcpdump -i lo -U --immediate-mode \
    -B 65536 -n -w "$tmp/live.pcap" "tcp port $port"
tcpdump=$bg_pid
wait_log "$tmp/tcpdump.err" 'listening on' 10 ||
    fail "tcpdump does not listen: $(cat "$tmp/tcpdump.err")"

# exchange N LISTEN_ADDR CONNECT_ADDR: streams cN up, sN down.
exchange() {
	k=$1
	# Read one file into the socket, write what comes back to another;
	# after its EOF each side waits up to 30 s for the other's.
	start_bg "$tmp/server$k.err" timeout 60 socat -t 30 \
	    "TCP-LISTEN:$port,$2,reuseaddr" \
	    "OPEN:$tmp/s$k,rdonly!!CREATE:$tmp/got.c$k"
	server=$bg_pid
	wait_for 10 listening "$port" || fail "socat $k does not listen"
	timeout 60 socat -t 30 "TCP:$3:$port,connect-timeout=10" \
	    "OPEN:$tmp/c$k,rdonly!!CREATE:$tmp/got.s$k" ||
	    fail "client $k: $?"
	wait "$server" || fail "server $k: $(cat "$tmp/server$k.err")"
	cmp "$tmp/c$k" "$tmp/got.c$k" || fail "socat lost bytes up ($k)"
	cmp "$tmp/s$k" "$tmp/got.s$k" || fail "socat lost bytes down ($k)"
}

conns=2
exchange 1 bind=127.0.0.1 127.0.0.1
exchange 2 bind=127.0.0.1 127.0.0.1
if ip -6 addr show dev lo 2>/dev/null | grep -q 'inet6 ::1/'; then
	exchange 3 pf=ip6,bind=[::1] '[::1]'
	conns=3
fi

# Let the last ACKs reach the file, then stop tcpdump as a user would.
sleep 0.5
kill -INT "$tcpdump"
wait "$tcpdump" || fail "tcpdump: $(cat "$tmp/tcpdump.err")"
grep -q '^0 packets dropped by kernel' "$tmp/tcpdump.err" ||
    fail "tcpdump dropped packets: $(cat "$tmp/tcpdump.err")"

mkdir "$tmp/out"
timeout 60 "$cat" "$tmp/live.pcap" "$tmp/out" >"$tmp/pcapcat.txt" ||
    fail "pcapcat exit $?"
cat "$tmp/pcapcat.txt"
[ "$(grep -c '^conn ' "$tmp/pcapcat.txt")" = "$conns" ] ||
    fail "not $conns connections"
n=1
while [ "$n" -le "$conns" ]; do
	grep -q "^conn $n .* syn .* gaps=0 missing=0 close=FIN$" \
	    "$tmp/pcapcat.txt" || fail "connection $n"
	cmp "$tmp/c$n" "$tmp/out/$n.c2s" || fail "connection $n: c2s differs"
	cmp "$tmp/s$n" "$tmp/out/$n.s2c" || fail "connection $n: s2c differs"
	n=$((n + 1))
done
grep -q '^conn 1 127.0.0.1.[0-9]* > 127.0.0.1.'"$port"' ' \
    "$tmp/pcapcat.txt" || fail "connection 1: client and server"
echo "pcap_live: $conns connections reassembled byte for byte"
