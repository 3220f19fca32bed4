#!/bin/sh
# msgdump on a real capture: tcpdump records a two-way session over
# loopback TCP (socat carries the two streams), and msgdump must decode
# each direction to exactly the messages that were sent.
# shellcheck source-path=SCRIPTDIR source=../lib/integration.sh
. "${MSGKIT_TOP:?run through tests/run.sh}/tests/lib/integration.sh"

"$script" -d out -o "$tmp/client.raw" "$MSGKIT_TOP/tests/golden/session.msg"
"$script" -d in -o "$tmp/server.raw" "$MSGKIT_TOP/tests/golden/session.msg"

# A free port: let the kernel pick one for a moment.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((20000 + $$ % 20000)))

start_bg "$tmp/tcpdump.err" tcpdump -i lo -U -n --immediate-mode -B 65536 \
    -w "$tmp/live.pcap" "tcp port $port"
tcpdump_pid=$bg_pid
wait_log "$tmp/tcpdump.err" "listening on" 10 ||
	{ echo "tcpdump did not start:"; cat "$tmp/tcpdump.err"; exit 1; }

# The server sends its stream and drains the client's; the client sends
# its own in small writes and reads the server's.
socat -T 10 TCP-LISTEN:"$port",bind=127.0.0.1,reuseaddr \
    SYSTEM:"cat '$tmp/server.raw'; cat >/dev/null" &
track_bg
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
cmp -s "$tmp/client.msg" "$tmp/live-client.msg" ||
	{ echo "client direction differs"; diff "$tmp/client.msg" "$tmp/live-client.msg" | head; fail=1; }
cmp -s "$tmp/server.msg" "$tmp/live-server.msg" ||
	{ echo "server direction differs"; diff "$tmp/server.msg" "$tmp/live-server.msg" | head; fail=1; }
n=$(grep -c . "$tmp/live.msg")
[ "$n" -eq 30 ] || { echo "want 30 messages, got $n"; fail=1; }
grep -q "^30 messages" "$tmp/stats" || { echo "stats:"; cat "$tmp/stats"; fail=1; }
# README's jq example on a real capture: the failed replies, only they.
"$dump" -j -r "$tmp/live.pcap" |
	jq -c 'select(.reply and any(.items[]; .name == "STATUS" and .value != 0)) | .msgid' |
	tr '\n' ' ' >"$tmp/failed"
[ "$(cat "$tmp/failed")" = "5 10 12 " ] ||
	{ echo "README's jq example gives $(cat "$tmp/failed")"; fail=1; }
[ $fail -eq 0 ] && echo "live capture: $n messages decoded exactly from" \
    "$(tcpdump -r "$tmp/live.pcap" 2>/dev/null | wc -l) packets"
exit $fail
