#!/bin/sh
# msgpeer over each transport, with each feature: echo over unix, TCP and
# exec (stdio on the far side); the CRC feature checked on the wire by
# msgdump in a real capture; AUTH with the right key, a wrong one and
# none; garbage bytes answered with GOODBYE EPROTO while the server goes
# on serving; ping; the command line's errors.
# shellcheck source-path=SCRIPTDIR source=../lib/integration.sh
. "${MSGKIT_TOP:?run through tests/run.sh}/tests/lib/integration.sh"

# start NAME ARGS...: a server, its log in $tmp/NAME.log; sets $addr to
# its tcp address.
start() {
	name=$1
	shift
	start_bg "$tmp/$name.log" "$peer" serve "$@" --listen tcp:0 -v
	wait_log "$tmp/$name.log" "listening on tcp:" 5 ||
		{ echo "$name: no server"; return 1; }
	addr=$(sed -n 's/.*listening on \(tcp:[^ ]*\).*/\1/p' "$tmp/$name.log")
}

check() {	# check DESCRIPTION WANT_EXIT COMMAND...
	desc=$1 want=$2
	shift 2
	timeout 60 "$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$got" != "$want" ]; then
		echo "FAIL $desc: exit $got, want $want"
		tail -n 5 "$tmp/out" "$tmp/err"
		fail=1
		return 1
	fi
	return 0
}

# Transports.
start_bg "$tmp/unix.log" "$peer" serve --listen "unix:$tmp/s.sock"
start plain
check "echo over unix" 0 "$peer" echo "unix:$tmp/s.sock" -c 2000 -P 16
check "echo over tcp" 0 "$peer" echo "$addr" -c 2000 -P 16 -s 1000
check "echo over exec/stdio" 0 "$peer" echo \
    "exec:$peer serve --listen stdio -q" -c 2000 -P 16
grep -q "^2000 replies" "$tmp/out" || { echo "FAIL: exec echo output"; fail=1; }

# CRC: both offer it, so every sequenced message ends with a CRC item;
# msgdump follows the handshake and checks each one.
start crc --crc
port=${addr##*:}
start_bg "$tmp/tcpdump.err" tcpdump -i lo -U -n --immediate-mode -B 65536 \
    -w "$tmp/crc.pcap" "tcp port $port"
tpid=$bg_pid
wait_log "$tmp/tcpdump.err" "listening on" 10 ||
	{ echo "tcpdump did not start"; exit 1; }
check "echo with CRC" 0 "$peer" echo "$addr" --crc -c 500 -P 8
sleep 0.3
kill -INT "$tpid"
wait "$tpid" 2>/dev/null
check "msgdump checks the CRCs" 0 "$dump" -r "$tmp/crc.pcap" -q
"$dump" -r "$tmp/crc.pcap" -m >"$tmp/crc.msg"
grep -q "FEATURES=CRC" "$tmp/crc.msg" ||
	{ echo "FAIL: CRC not negotiated"; fail=1; }
n=$(grep -c '^> 0x7000 .* CRC=0x' "$tmp/crc.msg")
[ "$n" -eq 500 ] || { echo "FAIL: $n of 500 commands carry a CRC"; fail=1; }
# A byte flipped in a command's DATA must show as a CRC error: the two
# directions back through msgscript and mkpcap, one byte changed.
"$script" -d out -o "$tmp/c.raw" "$tmp/crc.msg"
"$script" -d in -o "$tmp/s.raw" "$tmp/crc.msg"
size=$(wc -c <"$tmp/c.raw")
printf '\377' | dd of="$tmp/c.raw" bs=1 seek=$((size - 40)) conv=notrunc \
    2>/dev/null
"$MSGKIT_HELPERS/mkpcap" -o "$tmp/flipped.pcap" "$tmp/c.raw" "$tmp/s.raw"
check "a flipped byte is a CRC error" 1 "$dump" -r "$tmp/flipped.pcap"
grep -q "CRC item missing or wrong" "$tmp/out" ||
	{ echo "FAIL: the flipped byte went unnoticed"; fail=1; }
check "echo without CRC" 0 "$peer" echo "$addr" -c 10

# AUTH with a pre-shared key.
printf 'correct horse battery staple\n' >"$tmp/key"
printf 'the wrong key, all the same\n' >"$tmp/bad"
chmod 600 "$tmp/key" "$tmp/bad"
start auth --key "$tmp/key"
check "the right key" 0 "$peer" echo "$addr" --key "$tmp/key" -c 100
check "a wrong key" 1 "$peer" echo "$addr" --key "$tmp/bad" -c 100 \
    --session-timeout 2
grep -qi "authentication\|AUTH" "$tmp/err" ||
	{ echo "FAIL: a wrong key is not reported"; cat "$tmp/err"; fail=1; }
check "no key" 1 "$peer" echo "$addr" -c 100 --session-timeout 2
grep -qi "refused\|Permission denied" "$tmp/err" ||
	{ echo "FAIL: no key is not reported"; cat "$tmp/err"; fail=1; }
check "a key the server lacks" 1 "$peer" echo "unix:$tmp/s.sock" \
    --key "$tmp/key" -c 10 --session-timeout 2

# Bytes that cannot frame (a length of 5), and a good command sent
# before any HELLO: GOODBYE {EPROTO, ERRTEXT}, and the server goes on.
printf 'GARBAGE-GARBAG\005\000' >"$tmp/garbage"
printf 'VFS_GETATTR link=0x1 msg=1\n' |
    "$script" -o "$tmp/early" -
for input in garbage early; do
	timeout 10 socat -t 2 - "UNIX-CONNECT:$tmp/s.sock" <"$tmp/$input" \
	    >"$tmp/answer.raw" 2>/dev/null
	"$dump" -r "$tmp/answer.raw" -m >"$tmp/answer.msg"
	grep -q '^GOODBYE .*STATUS=EPROTO ERRTEXT="' "$tmp/answer.msg" || {
		echo "FAIL: no GOODBYE EPROTO for $input:"
		cat "$tmp/answer.msg"
		fail=1
	}
done
grep -q 'ERRTEXT="offset 14: length < 16' "$tmp/answer.msg" ||
	grep -q 'before the handshake' "$tmp/answer.msg" ||
	{ echo "FAIL: the GOODBYE does not say why"; fail=1; }
check "the server lives on" 0 "$peer" echo "unix:$tmp/s.sock" -c 100

# An unknown command on an echo link: ENOSYS for each, the session lives.
check "commands the echo service lacks" 1 "$peer" echo "unix:$tmp/s.sock" \
    --command 0x6000 -c 20
grep -q "STATUS ENOSYS" "$tmp/err" ||
	{ echo "FAIL: ENOSYS not reported by name"; cat "$tmp/err"; fail=1; }
grep -q "^20 replies" "$tmp/out" ||
	{ echo "FAIL: the session did not answer all 20"; fail=1; }

# A service the server lacks: said once, by name, counted as nothing
# else (it was "4 failed, 1 wrong, 2 unanswered" for 3 commands).
check "echo on a service the server lacks" 1 "$peer" echo \
    "unix:$tmp/s.sock" --service nosuch -c 3 -P 3
grep -q "^FAILED: no nosuch link: ENOENT: no such service" "$tmp/out" &&
! grep -q "wrong\|unanswered" "$tmp/out" &&
grep -q "opening a nosuch link: ENOENT: no such service" "$tmp/err" &&
! grep -q "No such file or directory" "$tmp/err" ||
	{ echo "FAIL: unknown service"; cat "$tmp/out" "$tmp/err"; fail=1; }

# ping, as ping(8); -q keeps only the summary.
check "ping" 0 "$peer" ping "unix:$tmp/s.sock" -c 3 -i 0.1
grep -q "^3 transmitted, 3 received, 0% loss" "$tmp/out" &&
grep -q "^rtt min/avg/max/mdev = " "$tmp/out" &&
[ "$(grep -c '^reply from' "$tmp/out")" = 3 ] ||
	{ echo "FAIL: ping output"; cat "$tmp/out"; fail=1; }
check "ping -q" 0 "$peer" ping "unix:$tmp/s.sock" -c 3 -i 0.1 -q
grep -q "^3 transmitted, 3 received" "$tmp/out" &&
! grep -q "^reply from" "$tmp/out" ||
	{ echo "FAIL: ping -q output"; cat "$tmp/out"; fail=1; }

# Peers that are not there or not msgkit: at once, with what was found
# (an exec command ran 20 times over 30 s; echo's output and an empty
# stdin went unexplained until the session time-out).
t0=$(date +%s)
check "ping a missing command" 1 "$peer" ping \
    "exec:echo run >>$tmp/runs; /nonexistent/prog" -c 1
grep -q "no handshake: the command exited with status 127 (not found)" \
    "$tmp/err" && [ "$(wc -l <"$tmp/runs")" = 1 ] ||
	{ echo "FAIL: missing command"; cat "$tmp/err" "$tmp/runs"; fail=1; }
check "ping a peer that speaks something else" 1 "$peer" ping \
    "exec:echo notmsgkit" -c 1
grep -q 'not a msgkit peer: it sent "notmsgkit\\x0a" and closed' \
    "$tmp/err" || { echo "FAIL: not msgkit"; cat "$tmp/err"; fail=1; }
check "ping stdio at its end" 1 "$peer" ping stdio -c 1 </dev/null
grep -q "stdio: no handshake: end of stream" "$tmp/err" ||
	{ echo "FAIL: stdio at EOF"; cat "$tmp/err"; fail=1; }
[ $(($(date +%s) - t0)) -lt 10 ] ||
	{ echo "FAIL: the three took the session time-out"; fail=1; }
# Nobody there: ping and echo give up at the first failed dial, with
# its reason, well inside the session time-out; --connect-tries and
# connect (which waits for its peer) retry, saying so once.
for cmd in ping echo; do
	t0=$(date +%s)
	check "$cmd nobody" 1 "$peer" $cmd "unix:$tmp/nobody.sock" -c 1
	[ $(($(date +%s) - t0)) -lt 10 ] ||
		{ echo "FAIL: $cmd nobody took the session time-out"; fail=1; }
	grep -q "nobody.sock: connect: No such file or directory" "$tmp/err" ||
		{ echo "FAIL: $cmd nobody: no reason"; cat "$tmp/err"; fail=1; }
done
check "ping refused" 1 "$peer" ping "tcp:127.0.0.1:1" -c 1
grep -q "connect: Connection refused" "$tmp/err" ||
	{ echo "FAIL: ping refused: no reason"; cat "$tmp/err"; fail=1; }
check "ping nobody, 3 tries" 1 "$peer" ping "unix:$tmp/nobody.sock" -c 1 \
    --connect-tries 3
[ "$(grep -c 'retrying' "$tmp/err")" = 1 ] ||
	{ echo "FAIL: 3 tries: one warning wanted"; cat "$tmp/err"; fail=1; }
check "ping nobody, no limit" 1 "$peer" ping "unix:$tmp/nobody.sock" -c 1 \
    --connect-tries 0 --session-timeout 1
grep -q "within the session time-out" "$tmp/err" ||
	{ echo "FAIL: no limit: not the time-out"; cat "$tmp/err"; fail=1; }
check "connect nobody" 124 timeout 1 "$peer" connect \
    "unix:$tmp/nobody.sock"
[ "$(grep -c 'retrying' "$tmp/err")" = 1 ] ||
	{ echo "FAIL: connect: one warning wanted"; cat "$tmp/err"; fail=1; }

# The command line.
check "no command" 2 "$peer"
check "unknown command" 2 "$peer" frobnicate x
check "serve without --listen" 2 "$peer" serve
check "echo without address" 2 "$peer" echo
check "bad address" 2 "$peer" echo "tcp:localhost"
grep -q "tcp:localhost" "$tmp/err" || { echo "FAIL: bad address message"; fail=1; }
check "bad count" 2 "$peer" echo "unix:$tmp/s.sock" -c 0
check "bad size" 2 "$peer" echo "unix:$tmp/s.sock" -s 70000
check "bad window" 2 "$peer" echo "unix:$tmp/s.sock" --window 10
check "bad tries" 2 "$peer" echo "unix:$tmp/s.sock" --connect-tries -1
check "total below the limit" 2 "$peer" serve --listen "unix:$tmp/x.sock" \
    --max-memory 64m --max-total-memory 16m
grep -q "total at least the limit" "$tmp/err" ||
	{ echo "FAIL: total below the limit: message"; fail=1; }
check "bad sessions" 2 "$peer" serve --listen "unix:$tmp/x.sock" \
    --max-sessions 0
check "bad handshake time" 2 "$peer" serve --listen "unix:$tmp/x.sock" \
    --handshake-timeout 0
check "short key" 2 "$peer" echo "unix:$tmp/s.sock" --key /dev/null
check "help" 0 "$peer" --help
grep -q "^usage: msgpeer serve" "$tmp/out" || { echo "FAIL: --help"; fail=1; }

[ $fail -eq 0 ] && echo "session: every transport, feature and error checked"
exit $fail
