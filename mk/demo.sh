#!/bin/sh
# make demo: two reference peers talk over loopback TCP while tcpdump
# records them, and msgdump decodes the session: handshake, a link to
# the echo service, echo commands with replies paired, a PING, the
# orderly GOODBYE. Then the sample VFS session of tests/golden shows the
# other forms (tree, hex, JSON, notation, statistics).
set -eu
O=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
dump="$O/bin/msgdump"
peer="$O/bin/msgpeer"

# Headings in bold only on a terminal, and never with NO_COLOR.
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
	say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '\n== %s\n' "$*"; }
fi

wait_for() {	# wait_for FILE TEXT
	i=0
	until grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 100 ] && { echo "demo: timed out waiting for $2" >&2; exit 1; }
		sleep 0.1
	done
}

say "a live session: msgpeer serve and msgpeer echo over loopback TCP"
"$peer" serve --listen tcp:0 --crc --node server.demo -v 2>"$tmp/serve.log" &
pids="$pids $!"
wait_for "$tmp/serve.log" "listening on tcp:"
addr=$(sed -n 's/.*listening on \(tcp:[^ ]*\).*/\1/p' "$tmp/serve.log")
tcpdump -i lo -U -n --immediate-mode -B 65536 -w "$tmp/live.pcap" \
    "tcp port ${addr##*:}" 2>"$tmp/tcpdump.log" &
tcpdump_pid=$!
pids="$pids $tcpdump_pid"
wait_for "$tmp/tcpdump.log" "listening on"
"$peer" echo "$addr" --crc --node client.demo -c 4 -s 16
"$peer" ping "$addr" --node client.demo -c 1
sleep 0.3
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" 2>/dev/null || true

say "msgdump -r live.pcap: every message of both sessions, replies paired"
"$dump" -r "$tmp/live.pcap"
say "the handshake and the first command as trees:  msgdump -v -c 5"
"$dump" -r "$tmp/live.pcap" -v -t -c 5
say "transactions and latency:  msgdump -q"
"$dump" -r "$tmp/live.pcap" -q

"$O/tests/bin/msgscript" -w "$tmp/session.pcap" "$top/tests/golden/session.msg"
say "a sample VFS session, one line per message:  msgdump -r session.pcap"
TZ=UTC "$dump" -r "$tmp/session.pcap" -c 12
say "one message with its bytes:  msgdump -v -X -c 1"
TZ=UTC "$dump" -r "$tmp/session.pcap" -v -X -c 1 -t
say "JSON for jq:  msgdump -j -c 1 | jq -c '[.items[].name]'"
"$dump" -r "$tmp/session.pcap" -j -c 1 | jq -c '[.items[].name]'
say "text that reads back into the same bytes:  msgdump -m -c 4"
"$dump" -r "$tmp/session.pcap" -m -c 4
