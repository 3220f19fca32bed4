#!/bin/sh
# cutproxy cuts exactly where it is told. A socat server sends one
# scripted stream and saves what it receives; a socat client does the
# same with the other stream; cutproxy sits between them. For every rule
# the bytes each side received are compared with the first bytes of what
# the other side sent: the cut direction must stop exactly at the offset
# the rule names (computed here from the script with msgscript, not with
# the proxy's framer), and the other direction exactly at the count the
# proxy logged. Also: half-close, --rst, several connections with
# successive and repeated rules, reproducible rand, a stream that does not
# frame, a pair relayed while a newer one is cut, after-ms, --delay-ms,
# signals, --timeout and usage errors.
# shellcheck source-path=SCRIPTDIR source=../lib/integration.sh
. "${MSGKIT_TOP:?run through tests/run.sh}/tests/lib/integration.sh"

bad() {
	echo "FAIL: $*"
	fail=1
}

# --- the streams -------------------------------------------------------------
# Both directions carry ACKs, a message far bigger than one read, and
# replies, so rules by command, by count and by byte all have targets.
big_c=$(head -c 6000 /dev/zero | tr '\0' 'a')
big_s=$(head -c 5000 /dev/zero | tr '\0' 'b')
cat >"$tmp/test.msg" <<EOF
> HELLO link=0x0 msg=1 VERSION=1 NODE="client" SESSION=x'00000000000000000000000000000000' RECEIVED=0 FEATURES=0 WINDOW=65536 LIMITS{MAX_INFLIGHT=8 MAX_LINKS=16}
< HELLO reply link=0x0 msg=1 STATUS=OK VERSION=1 NODE="server" SESSION=x'5f1e0c3a9b7d42e18c6f0a2b3c4d5e6f' RECEIVED=0 FEATURES=0 WINDOW=65536 LIMITS{MAX_INFLIGHT=8 MAX_LINKS=16}
> LINK_OPEN link=0x0 msg=2 NEWLINK=0x1 SERVICE="cache" EXPORT="x"
< LINK_OPEN reply link=0x0 msg=2 STATUS=OK
< ACK link=0x0 msg=0 RECEIVED=1
> ACK link=0x0 msg=0 RECEIVED=1
> CACHE_WRITE link=0x1 msg=3 OFFSET=0 DATA=x'$big_c'
< CACHE_WRITE reply link=0x1 msg=3 STATUS=OK LENGTH=3000
> CACHE_READ link=0x1 msg=4 OFFSET=0 LENGTH=2500
< CACHE_READ reply link=0x1 msg=4 OFFSET=0 DATA=x'$big_s'
< ACK link=0x0 msg=0 RECEIVED=3
> ACK link=0x0 msg=0 RECEIVED=2
> PING link=0x0 msg=5 TIMESTAMP=1700000000000000000
< PING reply link=0x0 msg=5 TIMESTAMP=1700000000000000000 STATUS=OK
< ACK link=0x0 msg=0 RECEIVED=4
> ACK link=0x0 msg=0 RECEIVED=3
> 0x7001 link=0x1 msg=6 0x0200=x'deadbeef'
< 0x7001 reply link=0x1 msg=6 STATUS=ENOSYS
> GOODBYE link=0x0 msg=7 STATUS=OK
EOF
"$script" -d out -o "$tmp/c2s.raw" "$tmp/test.msg" || exit 1
"$script" -d in -o "$tmp/s2c.raw" "$tmp/test.msg" || exit 1
grep '^> ' "$tmp/test.msg" >"$tmp/c2s.msg"
grep '^< ' "$tmp/test.msg" >"$tmp/s2c.msg"

# Stream offset where message number $2 (from 1) of direction $1 starts,
# and its aligned size: encoded line by line, independently of the proxy.
msg_start() {
	head -n $(($2 - 1)) "$tmp/$1.msg" >"$tmp/prefix.msg"
	"$script" -o "$tmp/prefix.raw" "$tmp/prefix.msg" || exit 1
	wc -c <"$tmp/prefix.raw" | tr -d ' '
}
msg_size() {
	sed -n "$2p" "$tmp/$1.msg" >"$tmp/one.msg"
	"$script" -o "$tmp/one.raw" "$tmp/one.msg" || exit 1
	wc -c <"$tmp/one.raw" | tr -d ' '
}
# Line number, within direction $1, of the $3-th message whose line
# starts with "$2 " (a command as the notation writes it).
msg_index() {
	grep -n "^. $2 " "$tmp/$1.msg" | sed -n "$3p" | cut -d: -f1
}

# --- the parties -------------------------------------------------------------
start_proxy() {
	rm -f "$tmp/px.out" "$tmp/px.log" "$tmp/px.count"
	"$proxy" --log "$tmp/px.log" --count-file "$tmp/px.count" \
	    --timeout 120 "$@" >"$tmp/px.out" 2>"$tmp/px.err" &
	track_bg
	px_pid=$bg_pid
	wait_log "$tmp/px.out" '^listening on ' 5 "$px_pid" ||
		{ echo "cutproxy did not start:"; cat "$tmp/px.err"; exit 1; }
	px_addr=$(sed -n 's/^listening on //p' "$tmp/px.out")
	case "$px_addr" in
	unix:*) px_socat="UNIX-CONNECT:${px_addr#unix:}" ;;
	tcp:*) px_socat="TCP:${px_addr#tcp:}" ;;
	*) echo "bad address line: $px_addr"; exit 1 ;;
	esac
}

stop_proxy() {
	kill -TERM "$px_pid" 2>/dev/null
	wait "$px_pid"
	px_rc=$?
}

# One server for one connection: sends s2c.raw, saves what comes.
start_server() {
	rm -f "$tmp/srv.sock" "$tmp/recv.$1"
	start_bg "$tmp/srv.err.$1" socat -t 10 -T 15 \
	    UNIX-LISTEN:"$tmp/srv.sock",unlink-early \
	    "OPEN:$tmp/s2c.raw,rdonly!!CREATE:$tmp/recv.$1"
	srv_pid=$bg_pid
	wait_for 2 test -S "$tmp/srv.sock" ||
		{ echo "server did not start"; exit 1; }
}

# One client: sends $2 (default c2s.raw), saves what comes in got.$1;
# -d: socat's warnings say whether it saw a reset.
run_client() {
	timeout 20 socat -d -t 10 -T 15 - "$px_socat" <"${2:-$tmp/c2s.raw}" \
	    >"$tmp/got.$1" 2>"$tmp/cli.err.$1"
	cli_rc=$?
	wait "$srv_pid" 2>/dev/null
}

# One connection through the proxy: server, client, both finished.
exchange() {
	start_server "$1"
	run_client "$@"
}

# File $1 must be exactly the first $3 bytes of $2.
expect_prefix() {
	size=$(wc -c <"$1" | tr -d ' ')
	if [ "$size" != "$3" ]; then
		bad "$4: ${1##*/} holds $size bytes, want $3"
		return
	fi
	head -c "$3" "$2" | cmp -s - "$1" ||
		bad "$4: ${1##*/} is not the first $3 bytes of ${2##*/}"
}

# The proxy's last line about connection $1: its byte counts must be
# exactly what each side received. Sets c2s_n, s2c_n, log_line.
check_conn() {
	log_line=$(grep "^conn $1: \(cut\|closed\|error\)" "$tmp/px.log" |
	    tail -n 1)
	if [ -z "$log_line" ]; then
		bad "conn $1: no end line in the log"; cat "$tmp/px.log"
		return
	fi
	c2s_n=$(echo "$log_line" | sed -n 's/.*(c2s \([0-9]*\) bytes, s2c \([0-9]*\).*/\1/p')
	s2c_n=$(echo "$log_line" | sed -n 's/.*(c2s \([0-9]*\) bytes, s2c \([0-9]*\).*/\2/p')
	expect_prefix "$tmp/recv.$1" "${2:-$tmp/c2s.raw}" "$c2s_n" "conn $1 ($log_line), server"
	expect_prefix "$tmp/got.$1" "$tmp/s2c.raw" "$s2c_n" "conn $1 ($log_line), client"
}

# A cut line of connection $1 that says $2, at byte $3, in direction $4.
expect_cut() {
	want="cut $4${2:+ $2} at byte $3 ("
	grep -qF "conn $1: $want" "$tmp/px.log" ||
		{ bad "conn $1: want '$want'"; grep "^conn $1:" "$tmp/px.log"; }
	if [ "$4" = c2s ]; then
		expect_prefix "$tmp/recv.$1" "$tmp/c2s.raw" "$3" "conn $1 $4 $2"
	else
		expect_prefix "$tmp/got.$1" "$tmp/s2c.raw" "$3" "conn $1 $4 $2"
	fi
}

c2s_len=$(wc -c <"$tmp/c2s.raw" | tr -d ' ')
s2c_len=$(wc -c <"$tmp/s2c.raw" | tr -d ' ')

# --- 1: successive rules on a unix socket, plain cuts -----------------------
# Expected offsets, from the script alone.
ack2=$(msg_index c2s ACK 2)
before_ack2=$(msg_start c2s "$ack2")
ack1s=$(msg_index s2c ACK 1)
after_ack1s=$(( $(msg_start s2c "$ack1s") + $(msg_size s2c "$ack1s") ))
hello_r=$(msg_index s2c "HELLO reply" 1)
after_hello_r=$(msg_size s2c "$hello_r")
big=$(msg_index c2s CACHE_WRITE 1)
mid_big=$(( $(msg_start c2s "$big") + $(msg_size c2s "$big") / 2 ))
mid3s=$(( $(msg_start s2c 3) + $(msg_size s2c 3) / 2 ))
x7001=$(msg_index c2s 0x7001 1)
before_x7001=$(msg_start c2s "$x7001")
after_ping_r=$(( $(msg_start s2c "$(msg_index s2c "PING reply" 1)") +
    $(msg_size s2c "$(msg_index s2c "PING reply" 1)") ))
[ "$mid_big" -gt 1000 ] || bad "the big message is not big: mid at $mid_big"

start_proxy --cut c2s@1001 --cut s2c:after:ACK#1 --cut c2s:before:ACK#2 \
    --cut c2s:mid#$big --cut never --cut s2c:after:HELLO.reply#1 \
    --cut s2c:mid#3 --cut c2s:before:0x7001#1 --cut s2c:after:ping.reply#1 \
    --cut c2s@0 --cut "c2s:before:*#2" \
    unix:"$tmp/px.sock" unix:"$tmp/srv.sock"
[ "$px_addr" = "unix:$tmp/px.sock" ] || bad "address line: $px_addr"
for n in 1 2 3 4 5 6 7 8 9 10 11; do
	exchange $n
	check_conn $n
done
expect_cut 1 "" 1001 c2s
expect_cut 2 "after ACK #1" "$after_ack1s" s2c
expect_cut 3 "before ACK #2" "$before_ack2" c2s
expect_cut 4 "mid message #$big (CACHE_WRITE, $(msg_size c2s "$big") bytes)" "$mid_big" c2s
# never: both streams whole, both ends passed on as half-closes.
grep -q "^conn 5: closed (c2s $c2s_len bytes, s2c $s2c_len)" "$tmp/px.log" ||
	bad "conn 5 (never) not relayed whole: $(grep '^conn 5' "$tmp/px.log")"
cmp -s "$tmp/recv.5" "$tmp/c2s.raw" || bad "never: server stream differs"
cmp -s "$tmp/got.5" "$tmp/s2c.raw" || bad "never: client stream differs"
expect_cut 6 "after HELLO.reply #1" "$after_hello_r" s2c
expect_cut 7 "mid message #3 (ACK, $(msg_size s2c 3) bytes)" "$mid3s" s2c
expect_cut 8 "before 0x7001 #1" "$before_x7001" c2s
expect_cut 9 "after PING.reply #1" "$after_ping_r" s2c
grep -q "^conn 10: cut c2s at byte 0 (c2s 0 bytes, s2c 0)" "$tmp/px.log" ||
	bad "c2s@0: $(grep '^conn 10' "$tmp/px.log")"
expect_cut 11 "before message #2 (LINK_OPEN)" "$(msg_start c2s 2)" c2s
# Connections after the last rule are untouched.
exchange 12
grep -q "^conn 12: accepted (rule none)" "$tmp/px.log" || bad "conn 12 rule"
check_conn 12
[ "$c2s_n" = "$c2s_len" ] && [ "$s2c_n" = "$s2c_len" ] || bad "conn 12 not whole"
stop_proxy
[ "$px_rc" -eq 0 ] || bad "exit status $px_rc after SIGTERM"
[ -e "$tmp/px.sock" ] && bad "unix LISTEN path left behind"
grep -q '^connections 12$' "$tmp/px.count" && grep -q '^cuts 10$' "$tmp/px.count" &&
    grep -q '^failed 0$' "$tmp/px.count" || { bad "count file:"; cat "$tmp/px.count"; }
total=$(sed -n 's/.*(c2s \([0-9]*\) bytes.*/\1/p' "$tmp/px.log" | awk '{s += $1} END {print s}')
grep -q "^c2s $total\$" "$tmp/px.count" || bad "count file c2s total, want $total"
echo "successive rules: $(grep -c ': cut ' "$tmp/px.log") cuts exact"

# Half-close: this server answers only once the client's stream has
# ended, so the client's end must reach it while the other way stays open.
start_proxy unix:"$tmp/px.sock" unix:"$tmp/srv.sock"
rm -f "$tmp/srv.sock"
socat -t 10 -T 15 UNIX-LISTEN:"$tmp/srv.sock",unlink-early \
    SYSTEM:"cat >$tmp/recv.1; cat $tmp/s2c.raw" 2>/dev/null &
track_bg
srv_pid=$bg_pid
wait_for 5 test -S "$tmp/srv.sock" || { echo "FAIL: no server socket"; exit 1; }
run_client 1
cmp -s "$tmp/recv.1" "$tmp/c2s.raw" || bad "half-close: server stream differs"
cmp -s "$tmp/got.1" "$tmp/s2c.raw" || bad "half-close: the answer after the end did not come back"
grep -q "^conn 1: closed (c2s $c2s_len bytes, s2c $s2c_len)" "$tmp/px.log" ||
	bad "half-close: $(cat "$tmp/px.log")"
stop_proxy
echo "half-close: passed on both ways"

# --- 2: TCP, --rst, --repeat --------------------------------------------------
# The server is TCP too, so both peers see the reset. The kernel picks its
# port once; each connection gets a fresh server on that port. A peer that
# writes before it reads may meet the reset on its write and stop without
# reading what was forwarded (socat does), so the side the cut direction
# flows to only reads (socat -u), and it reads exactly to the cut.
start_tcp_server() {
	rm -f "$tmp/recv.$1"
	if [ "${3:-}" = ro ]; then
		set -- "$1" "$2" -u "CREATE:$tmp/recv.$1"
	else
		set -- "$1" "$2" -d "OPEN:$tmp/s2c.raw,rdonly!!CREATE:$tmp/recv.$1"
	fi
	start_bg "$tmp/srv.err.$1" socat -d -d "$3" -t 10 -T 15 \
	    TCP-LISTEN:"$2",bind=127.0.0.1,reuseaddr "$4"
	srv_pid=$bg_pid
	wait_log "$tmp/srv.err.$1" 'listening on' 2 ||
		{ echo "tcp server did not start"; exit 1; }
	tport=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$tmp/srv.err.$1")
}
read_only_client() {
	timeout 20 socat -d -u -T 15 "$px_socat" - </dev/null >"$tmp/got.$1" \
	    2>"$tmp/cli.err.$1"
	cli_rc=$?
	wait "$srv_pid" 2>/dev/null
}
start_tcp_server 0 0
kill "$srv_pid"; wait "$srv_pid" 2>/dev/null
start_proxy --rst --repeat --cut s2c@777 --cut c2s:after:CACHE_WRITE#1 \
    tcp:0 tcp:127.0.0.1:"$tport"
case "$px_addr" in tcp:127.0.0.1:[0-9]*) ;; *) bad "tcp address: $px_addr" ;; esac
after_cw=$(( $(msg_start c2s "$big") + $(msg_size c2s "$big") ))
start_tcp_server 1 "$tport"
read_only_client 1
check_conn 1
start_tcp_server 2 "$tport" ro
run_client 2
check_conn 2
start_tcp_server 3 "$tport"
read_only_client 3
check_conn 3
expect_cut 1 "" 777 s2c
grep -q "^conn 1: cut s2c at byte 777 (c2s 0 bytes, s2c 777, reset)" "$tmp/px.log" ||
	bad "rst conn 1: $(grep '^conn 1' "$tmp/px.log")"
expect_cut 2 "after CACHE_WRITE #1" "$after_cw" c2s
expect_cut 3 "" 777 s2c
# Both peers of each pair saw a reset, not an end of stream.
for f in cli.err.1 srv.err.1 cli.err.2 srv.err.2 cli.err.3 srv.err.3; do
	grep -qi 'reset by peer' "$tmp/$f" || bad "rst: $f shows no reset: $(cat "$tmp/$f")"
done
grep -q 'not acknowledged' "$tmp/px.log" && bad "rst: bytes lost to the reset"
stop_proxy
echo "tcp --rst --repeat: exact, peers reset"

# Plain cut on TCP: an end of stream, no reset.
start_proxy --cut s2c:before:ACK#2 tcp:0 unix:"$tmp/srv.sock"
exchange 1
check_conn 1
ack2s=$(msg_index s2c ACK 2)
expect_cut 1 "before ACK #2" "$(msg_start s2c "$ack2s")" s2c
[ "$cli_rc" -eq 0 ] || bad "plain cut on tcp: client exit $cli_rc: $(cat "$tmp/cli.err.1")"
grep -qi reset "$tmp/cli.err.1" && bad "plain cut on tcp: client saw a reset"
stop_proxy

# --- 3: rand: exact, and the same draws for the same seed ---------------------
start_proxy --repeat --cut rand:42 --cut rand:7 unix:"$tmp/px.sock" unix:"$tmp/srv.sock"
for n in 1 2 3 4 5 6 7 8; do
	exchange $n
	check_conn $n
done
grep 'accepted' "$tmp/px.log" >"$tmp/rand1"
grep -q 'from rand:42' "$tmp/rand1" && grep -q 'from rand:7' "$tmp/rand1" || bad "rand log"
ncuts=$(grep -c ': cut ' "$tmp/px.log")
stop_proxy
# The same seeds draw the same rules, connection by connection, even when
# the target is not there (failed connects still take their rule).
start_proxy --repeat --cut rand:42 --cut rand:7 unix:"$tmp/px.sock" unix:"$tmp/nothing.sock"
for n in 1 2 3 4 5 6 7 8; do
	timeout 10 socat -T 5 - "$px_socat" </dev/null >/dev/null 2>&1
done
stop_proxy
grep 'accepted' "$tmp/px.log" | cmp -s - "$tmp/rand1" || {
	bad "rand draws differ between runs"; diff "$tmp/rand1" "$tmp/px.log"; }
grep -q '^failed 8$' "$tmp/px.count" || bad "failed connects not counted: $(cat "$tmp/px.count")"
grep -q "^conn 8: connect unix:$tmp/nothing.sock: " "$tmp/px.log" || bad "connect failure not logged"
echo "rand: $ncuts cuts in 8 connections, exact and reproducible"

# --- 4: a stream that does not frame -------------------------------------------
# Garbage after the first message: the message rule turns off, bytes flow.
{ head -n 1 "$tmp/c2s.msg"; echo "> raw x'ffffffffffffffff0000000000000000'"; tail -n +2 "$tmp/c2s.msg"; } >"$tmp/garbage.msg"
"$script" -o "$tmp/garbage.raw" "$tmp/garbage.msg" || exit 1
start_proxy --cut c2s:before:ACK#1 unix:"$tmp/px.sock" unix:"$tmp/srv.sock"
exchange 1 "$tmp/garbage.raw"
check_conn 1 "$tmp/garbage.raw"
grep -q "^conn 1: c2s does not frame (.*): message rule off" "$tmp/px.log" ||
	bad "no framing note: $(cat "$tmp/px.log")"
cmp -s "$tmp/recv.1" "$tmp/garbage.raw" || bad "garbage not relayed whole"
stop_proxy
echo "no framing: message rule off, bytes relayed"

# --- 5: an old pair goes on while a newer one is cut ---------------------------
mkfifo "$tmp/fifo"
start_proxy --cut never --cut c2s@100 unix:"$tmp/px.sock" unix:"$tmp/srv.sock"
start_server 1
srv1=$srv_pid
exec 7<>"$tmp/fifo"
timeout 20 socat -t 10 -T 15 - "$px_socat" <"$tmp/fifo" >"$tmp/got.1" \
    2>"$tmp/cli.err.1" 7>&- &
track_bg
cli1=$bg_pid
wait_log "$tmp/px.log" '^conn 1: accepted' 2 || bad "conn 1 not accepted"
sleep 0.2
exchange 2
check_conn 2
expect_cut 2 "" 100 c2s
# Now the first client speaks, and its pair must still carry everything.
cat "$tmp/c2s.raw" >&7
exec 7>&-
wait "$cli1"
wait "$srv1" 2>/dev/null
check_conn 1
grep -q "^conn 1: closed (c2s $c2s_len bytes, s2c $s2c_len)" "$tmp/px.log" ||
	bad "old pair: $(grep '^conn 1' "$tmp/px.log")"
stop_proxy
echo "independent pairs: old one whole after the new one was cut"

# --- 6: after-ms and --delay-ms --------------------------------------------------
start_proxy --cut after-ms:300 unix:"$tmp/px.sock" unix:"$tmp/srv.sock"
# Neither side sends anything: both read the held-open fifo.
exec 7<>"$tmp/fifo"
rm -f "$tmp/srv.sock"
socat -t 0.1 -T 15 UNIX-LISTEN:"$tmp/srv.sock",unlink-early \
    "OPEN:$tmp/fifo,rdonly!!CREATE:$tmp/recv.1" 2>/dev/null &
track_bg
srv_pid=$bg_pid
wait_for 5 test -S "$tmp/srv.sock" || { echo "FAIL: no server socket"; exit 1; }
t0=$(date +%s%N)
timeout 10 socat -t 0.1 - "$px_socat" <"$tmp/fifo" >/dev/null 2>&1
t1=$(date +%s%N)
exec 7>&-
ms=$(( (t1 - t0) / 1000000 ))
[ "$ms" -ge 290 ] && [ "$ms" -lt 3000 ] || bad "after-ms:300 cut after $ms ms"
grep -q "^conn 1: cut after 300 ms (c2s 0 bytes, s2c 0)" "$tmp/px.log" || bad "after-ms log: $(cat "$tmp/px.log")"
kill "$srv_pid" 2>/dev/null; wait "$srv_pid" 2>/dev/null
stop_proxy
echo "after-ms:300: client saw the end after $ms ms"

start_proxy --delay-ms 200 --cut s2c:after:ACK#1 unix:"$tmp/px.sock" unix:"$tmp/srv.sock"
t0=$(date +%s%N)
exchange 1
t1=$(date +%s%N)
check_conn 1
expect_cut 1 "after ACK #1" "$after_ack1s" s2c
ms=$(( (t1 - t0) / 1000000 ))
[ "$ms" -ge 200 ] || bad "--delay-ms 200: done in $ms ms"
stop_proxy
echo "delay-ms 200: exact, took $ms ms"

# --- 7: long streams: ring wrap-around, big frames, back-pressure -----------------
# 3000 messages (about 430 KiB) with six 60 KiB frames: cuts deep in the
# stream, in the middle of a big frame, and many buffer turns before them.
big60=$(head -c 120000 /dev/zero | tr '\0' 'c')
awk -v big="$big60" 'BEGIN {
	for (i = 1; i <= 3000; i++)
		if (i % 500 == 0)
			printf "> CACHE_WRITE link=0x1 msg=%d OFFSET=0 DATA=x\047%s\047\n", i, big
		else if (i % 3 == 0)
			printf "> ACK link=0x0 msg=0 RECEIVED=%d\n", i
		else
			printf "> PING link=0x0 msg=%d TIMESTAMP=%d\n", i, i
}' >"$tmp/long.msg"
"$script" -o "$tmp/long.raw" "$tmp/long.msg" || exit 1
long_len=$(wc -c <"$tmp/long.raw" | tr -d ' ')
cp "$tmp/long.msg" "$tmp/longc2s.msg"
ack900=$(msg_index longc2s ACK 900)
start_proxy --cut c2s:before:ACK#900 --cut c2s:mid#2500 --cut c2s@400001 \
    --cut never unix:"$tmp/px.sock" unix:"$tmp/srv.sock"
for n in 1 2 3 4; do
	exchange $n "$tmp/long.raw"
	check_conn $n "$tmp/long.raw"
done
expect_prefix "$tmp/recv.1" "$tmp/long.raw" "$(msg_start longc2s "$ack900")" "long: before ACK #900"
grep -qF "conn 1: cut c2s before ACK #900 at byte $(msg_start longc2s "$ack900") (" "$tmp/px.log" ||
	bad "long: $(grep '^conn 1:' "$tmp/px.log")"
mid2500=$(( $(msg_start longc2s 2500) + $(msg_size longc2s 2500) / 2 ))
expect_prefix "$tmp/recv.2" "$tmp/long.raw" "$mid2500" "long: mid #2500"
grep -qF "conn 2: cut c2s mid message #2500 (CACHE_WRITE, $(msg_size longc2s 2500) bytes) at byte $mid2500 (" "$tmp/px.log" ||
	bad "long: $(grep '^conn 2:' "$tmp/px.log")"
expect_prefix "$tmp/recv.3" "$tmp/long.raw" 400001 "long: c2s@400001"
cmp -s "$tmp/recv.4" "$tmp/long.raw" || bad "long: never: stream differs"
stop_proxy
echo "long streams: exact after $long_len bytes"

# Back-pressure: a client that stops reading stalls the proxy, which must
# neither spin nor buffer the stream; when the client reads again, the
# bytes up to the cut arrive whole.
head -c 5000000 /dev/urandom >"$tmp/rand.bin"
start_proxy --cut s2c@3000001 unix:"$tmp/px.sock" unix:"$tmp/srv.sock"
rm -f "$tmp/srv.sock"
socat -u OPEN:"$tmp/rand.bin" UNIX-LISTEN:"$tmp/srv.sock",unlink-early 2>/dev/null &
track_bg
srv_pid=$bg_pid
wait_for 5 test -S "$tmp/srv.sock" || { echo "FAIL: no server socket"; exit 1; }
rss0=$(awk '/^VmRSS/ {print $2}' /proc/"$px_pid"/status)
timeout 20 socat -u "$px_socat" SYSTEM:"sleep 2.5; cat >$tmp/got.bp" 2>/dev/null &
track_bg
cli=$bg_pid
sleep 1
cpu0=$(awk '{print $14 + $15}' /proc/"$px_pid"/stat)
sleep 1
cpu1=$(awk '{print $14 + $15}' /proc/"$px_pid"/stat)
wait "$cli"
wait "$srv_pid" 2>/dev/null
hwm=$(awk '/^VmHWM/ {print $2}' /proc/"$px_pid"/status)
expect_prefix "$tmp/got.bp" "$tmp/rand.bin" 3000001 "back-pressure"
[ $((cpu1 - cpu0)) -le 3 ] || bad "stalled proxy used $((cpu1 - cpu0)) ticks of CPU in 1 s"
[ $((hwm - rss0)) -lt 2048 ] || bad "proxy grew from $rss0 to $hwm KiB while stalled"
stop_proxy
echo "back-pressure: stalled at $((cpu1 - cpu0)) CPU ticks/s, grew $((hwm - rss0)) KiB, 3000001 bytes exact"

# --- 8: exits and errors ----------------------------------------------------------
t0=$(date +%s%N)
timeout 10 "$proxy" --timeout 1 --count-file "$tmp/t.count" unix:"$tmp/t.sock" unix:"$tmp/srv.sock" >"$tmp/t.out" 2>"$tmp/t.err"
rc=$?
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
[ "$rc" -eq 0 ] || bad "--timeout: exit $rc"
[ "$ms" -ge 900 ] && [ "$ms" -lt 5000 ] || bad "--timeout 1 took $ms ms"
[ -e "$tmp/t.sock" ] && bad "--timeout left the unix path"
grep -q '^connections 0$' "$tmp/t.count" || bad "--timeout: no count file"
grep -q '^listening on unix:' "$tmp/t.out" || bad "--timeout: no address line"

# SIGINT too; and --addr-file.
"$proxy" --addr-file "$tmp/addr" tcp:127.0.0.1:0 unix:"$tmp/srv.sock" >/dev/null 2>"$tmp/i.err" &
track_bg
ipid=$bg_pid
wait_for 2 test -s "$tmp/addr"
grep -q '^tcp:127.0.0.1:[0-9][0-9]*$' "$tmp/addr" || bad "--addr-file: $(cat "$tmp/addr")"
kill -INT "$ipid"
wait "$ipid"
rc=$?
[ "$rc" -eq 0 ] || bad "SIGINT: exit $rc"

# A stale socket file is taken over; a live one is refused.
"$proxy" --timeout 1 unix:"$tmp/srv.sock" unix:"$tmp/x" >/dev/null 2>&1 &
track_bg
spid=$bg_pid
sleep 0.3
"$proxy" unix:"$tmp/srv.sock" unix:"$tmp/x" >/dev/null 2>"$tmp/e"
rc=$?
[ "$rc" -eq 2 ] && grep -q 'LISTEN unix:.*bind: Address already in use' "$tmp/e" ||
	bad "live socket: exit $rc: $(cat "$tmp/e")"
kill -9 "$spid"; wait "$spid" 2>/dev/null
[ -S "$tmp/srv.sock" ] || bad "no stale socket to test with"
"$proxy" --timeout 1 unix:"$tmp/srv.sock" unix:"$tmp/x" >/dev/null 2>"$tmp/e"
rc=$?
[ "$rc" -eq 0 ] || bad "stale socket not taken over: exit $rc: $(cat "$tmp/e")"

usage_error() {
	want=$1
	shift
	"$proxy" "$@" >/dev/null 2>"$tmp/e"
	rc=$?
	[ "$rc" -eq 2 ] || bad "'$*': exit $rc, want 2"
	grep -q -- "$want" "$tmp/e" || bad "'$*': message '$(cat "$tmp/e")' lacks '$want'"
}
u="unix:$tmp/u.sock"
usage_error "--cut 'c2s:before:NOPE#1': unknown command 'NOPE'" --cut c2s:before:NOPE#1 "$u" "$u"
usage_error "--cut 'c2s@x': bad byte count 'x'" --cut c2s@x "$u" "$u"
usage_error "--cut 's2c:after:ACK#0': bad message count '0'" --cut s2c:after:ACK#0 "$u" "$u"
usage_error "--cut 's2c:after:ACK': no '#K'" --cut s2c:after:ACK "$u" "$u"
usage_error "--cut 'c2s:mid#': bad message count" --cut c2s:mid# "$u" "$u"
usage_error "--cut 'x2y@1': unknown rule" --cut x2y@1 "$u" "$u"
usage_error "--cut 'c2s:before:0x10000#1': bad command number" --cut c2s:before:0x10000#1 "$u" "$u"
usage_error "--cut 'c2s:before:0x8001.reply#1': '0x8001' already has the reply bit" --cut c2s:before:0x8001.reply#1 "$u" "$u"
usage_error "--cut 'rand:': bad seed" --cut rand: "$u" "$u"
usage_error "--cut 'after-ms:-1': bad time" --cut after-ms:-1 "$u" "$u"
usage_error "--delay-ms '99999999'" --delay-ms 99999999 "$u" "$u"
usage_error "--timeout '0'" --timeout 0 "$u" "$u"
usage_error "--repeat: no --cut rule" --repeat "$u" "$u"
usage_error "want LISTEN and TARGET, got 1 address" "$u"
usage_error "unrecognized option" --bogus "$u" "$u"
usage_error "requires an argument" "$u" "$u" --cut
usage_error "TARGET 'tcp:127.0.0.1:0': bad port '0'" "$u" tcp:127.0.0.1:0
usage_error "LISTEN 'tcp:127.0.0.1:99999': bad port" tcp:127.0.0.1:99999 "$u"
usage_error "LISTEN 'tcp:::1:80': an IPv6 address goes in brackets" tcp:::1:80 "$u"
usage_error "TARGET 'unix:': empty path" "$u" unix:
usage_error "TARGET 'udp:1': want unix:/path or tcp:" "$u" udp:1
usage_error "LISTEN unix:$tmp/no/such/dir.sock: bind" unix:"$tmp/no/such/dir.sock" "$u"
usage_error "TARGET 'unix:$(printf '%0200d' 0)': path longer than 107 bytes" "$u" "unix:$(printf '%0200d' 0)"
"$proxy" --help | grep -q 'DIR:before:CMD#K' || bad "--help lacks the rules"
echo "exits and usage errors"

[ $fail -eq 0 ] && echo "cutproxy: all checks passed"
exit $fail
