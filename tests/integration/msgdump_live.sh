#!/bin/sh
# msgdump on a real capture: tcpdump records a two-way session over
# loopback TCP (socat carries the two streams), and msgdump must decode
# each direction to exactly the messages that were sent.
set -u
dump="$MSGKIT_BIN/msgdump"
script="$MSGKIT_HELPERS/msgscript"
tmp=$(mktemp -d)
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

"$script" -d out -o "$tmp/client.raw" "$MSGKIT_TOP/tests/golden/session.msg"
"$script" -d in -o "$tmp/server.raw" "$MSGKIT_TOP/tests/golden/session.msg"

# A free port: let the kernel pick one for a moment.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((20000 + $$ % 20000)))

tcpdump -i lo -U -n --immediate-mode -B 65536 -w "$tmp/live.pcap" "tcp port $port" 2>"$tmp/tcpdump.err" &
tcpdump_pid=$!
pids="$pids $tcpdump_pid"
i=0
until grep -q "listening on" "$tmp/tcpdump.err"; do
	i=$((i + 1))
	[ $i -gt 100 ] && { echo "tcpdump did not start:"; cat "$tmp/tcpdump.err"; exit 1; }
	sleep 0.1
done

# The server sends its stream and drains the client's; the client sends
# its own in small writes and reads the server's.
socat -T 10 TCP-LISTEN:"$port",bind=127.0.0.1,reuseaddr \
    SYSTEM:"cat '$tmp/server.raw'; cat >/dev/null" &
pids="$pids $!"
sleep 0.3
timeout 20 socat -b 100 -t 2 - TCP:127.0.0.1:"$port" <"$tmp/client.raw" \
    >"$tmp/got.raw" || { echo "socat client failed"; exit 1; }
sleep 0.5
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" 2>/dev/null

cmp "$tmp/got.raw" "$tmp/server.raw" || { echo "socat lost bytes"; exit 1; }
"$dump" -r "$tmp/live.pcap" -q >"$tmp/stats" || { echo "msgdump failed"; cat "$tmp/stats"; exit 1; }
"$dump" -r "$tmp/live.pcap" -m >"$tmp/live.msg" || exit 1
"$dump" -r "$tmp/client.raw" -m >"$tmp/client.msg"
"$dump" -r "$tmp/server.raw" -m >"$tmp/server.msg"
grep '^> ' "$tmp/live.msg" | sed 's/^> //' >"$tmp/live-client.msg"
grep '^< ' "$tmp/live.msg" | sed 's/^< //' >"$tmp/live-server.msg"
fail=0
cmp -s "$tmp/client.msg" "$tmp/live-client.msg" ||
	{ echo "client direction differs"; diff "$tmp/client.msg" "$tmp/live-client.msg" | head; fail=1; }
cmp -s "$tmp/server.msg" "$tmp/live-server.msg" ||
	{ echo "server direction differs"; diff "$tmp/server.msg" "$tmp/live-server.msg" | head; fail=1; }
n=$(grep -c . "$tmp/live.msg")
[ "$n" -eq 30 ] || { echo "want 30 messages, got $n"; fail=1; }
grep -q "^30 messages" "$tmp/stats" || { echo "stats:"; cat "$tmp/stats"; fail=1; }
[ $fail -eq 0 ] && echo "live capture: $n messages decoded exactly from" \
    "$(tcpdump -r "$tmp/live.pcap" 2>/dev/null | wc -l) packets"
exit $fail
