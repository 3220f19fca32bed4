#!/bin/sh
# Sessions survive broken transports: a msgpeer echo client sends
# thousands of commands, 64 in flight, through cutproxy, which breaks the
# connection before and after ACKs, in the middle of messages, during the
# retransmission that follows a resume, and many times in a row. The
# client checks every reply (right bytes, exactly once); the journals of
# both peers must then show, for the session, the same sequenced
# messages sent by one side and received by the other, numbered 1..N
# without a gap or a repeat, and every command answered exactly once, in
# order on its link.
# shellcheck source-path=SCRIPTDIR source=../lib/integration.sh
. "${MSGKIT_TOP:?run through tests/run.sh}/tests/lib/integration.sh"

start_bg "$tmp/server.log" "$peer" serve --listen "unix:$tmp/server.sock" \
    --listen tcp:0 --journal "$tmp/server.j" -v

# check_journals NAME CLIENT_JOURNAL: the client's session against the
# server's journal.
check_journals() {
	name=$1 cj=$2
	sid=$(awk 'NR == 1 { print $2 }' "$cj")
	[ -n "$sid" ] || { echo "$name: empty client journal"; return 1; }
	awk -v s="$sid" '$2 == s' "$tmp/server.j" >"$tmp/sj"
	for d in S R; do
		awk -v d="$d" '$1 == d { print $3, $4, $5, $6 }' "$cj" \
		    >"$tmp/c.$d"
		awk -v d="$d" '$1 == d { print $3, $4, $5, $6 }' "$tmp/sj" \
		    >"$tmp/s.$d"
	done
	cmp -s "$tmp/c.S" "$tmp/s.R" || {
		echo "$name: what the client sent is not what the server" \
		    "received"; diff "$tmp/c.S" "$tmp/s.R" | head -5; return 1; }
	cmp -s "$tmp/s.S" "$tmp/c.R" || {
		echo "$name: what the server sent is not what the client" \
		    "received"; diff "$tmp/s.S" "$tmp/c.R" | head -5; return 1; }
	for f in "$tmp/c.S" "$tmp/c.R"; do
		awk '$1 != NR { print "gap or repeat at " NR; exit 1 }' "$f" ||
		    { echo "$name: numbering in $f"; return 1; }
	done
	# Every echo command answered once, in order on its link.
	awk '$4 == "0x7000" { print $2, $3 }' "$tmp/c.S" >"$tmp/cmds"
	awk '$4 == "0xf000" { print $2, $3 }' "$tmp/c.R" >"$tmp/replies"
	cmp -s "$tmp/cmds" "$tmp/replies" || {
		echo "$name: replies differ from commands (lost, doubled or" \
		    "out of order)"; diff "$tmp/cmds" "$tmp/replies" | head -5
		return 1; }
	echo "$name: $(wc -l <"$tmp/c.S") sent and $(wc -l <"$tmp/c.R")" \
	    "received by the client, matched"
}

# scenario NAME COUNT MINCUTS CUT...: one client session through a fresh
# proxy to $target; at least MINCUTS of the cuts must have happened.
target=
scenario() {
	name=$1 count=$2 mincuts=$3
	shift 3
	rules=
	for r in "$@"; do
		rules="$rules --cut $r"
	done
	rm -f "$tmp/proxy.out" "$tmp/client.j"
	case "$target" in
	tcp:*) listen=tcp:0 ;;
	*) listen="unix:$tmp/proxy.sock"; rm -f "$tmp/proxy.sock" ;;
	esac
	# shellcheck disable=SC2086 # rules are words
	"$proxy" $rules ${PROXY_FLAGS:-} --log "$tmp/$name.proxy" \
	    --count-file "$tmp/$name.count" "$listen" "$target" \
	    >"$tmp/proxy.out" &
	track_bg
	ppid=$bg_pid
	wait_log "$tmp/proxy.out" "^listening on" 5 ||
		{ echo "$name: no proxy"; return 1; }
	paddr=$(sed -n '1s/^listening on //p' "$tmp/proxy.out")
	timeout 120 "$peer" echo "$paddr" -c "$count" -s 200 \
	    -P 64 --journal "$tmp/client.j" -v ${CLIENT_FLAGS:-} \
	    >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$?
	kill "$ppid" 2>/dev/null
	wait "$ppid" 2>/dev/null
	cuts=$(grep -c ': cut ' "$tmp/$name.proxy")
	resumes=$(sed -n 's/^session: \([0-9]*\) resumes.*/\1/p' \
	    "$tmp/$name.out")
	if [ "$rc" -ne 0 ]; then
		echo "$name: echo client failed (exit $rc)"
		tail -n 5 "$tmp/$name.out" "$tmp/$name.err"
		return 1
	fi
	# Every cut seen by the client. A cut that lands in a resuming
	# handshake is one more loss but not one more resume: the next
	# connection resumes for both.
	lost=$(grep -c 'transport .* lost:' "$tmp/$name.err")
	if [ "$lost" -lt "$cuts" ] ||
	    { [ "$cuts" -gt 0 ] && [ "${resumes:-0}" -lt 1 ]; }; then
		echo "$name: $cuts cuts but $lost losses seen and" \
		    "${resumes:-0} resumes"
		return 1
	fi
	if [ "$cuts" -lt "$mincuts" ]; then
		echo "$name: only $cuts cuts happened, want $mincuts"
		cat "$tmp/$name.proxy"
		return 1
	fi
	sleep 0.2	# the server's journal lines of the last ACKs
	check_journals "$name" "$tmp/client.j" || return 1
	echo "$name: $cuts cuts, $resumes resumes, $(sed -n \
	    's/.* resumes, \([0-9]*\) retransmitted/\1/p' "$tmp/$name.out")" \
	    "messages retransmitted"
}

wait_log "$tmp/server.log" "listening on tcp:" 5 ||
	{ echo "no server"; cat "$tmp/server.log"; exit 1; }
tcp=$(sed -n 's/.*listening on \(tcp:[^ ]*\).*/\1/p' "$tmp/server.log")

target="unix:$tmp/server.sock"
# The server's ACKs come every quarter window: 20000 commands bring
# several; the client's come every 20 ms or quarter window.
scenario acks 20000 4 s2c:before:ACK#1 s2c:after:ACK#1 \
    c2s:before:ACK#1 s2c:after:ACK#2 c2s:after:ACK#1 || fail=1
scenario mid-message 5000 6 c2s:mid#5 s2c:mid#9 c2s:mid#40 s2c:mid#70 \
    c2s@3001 s2c@4097 || fail=1
# Right after each resume: cut into the retransmission itself.
scenario retransmission 5000 6 c2s@30000 s2c@400 c2s@300 s2c@700 \
    c2s@500 s2c@250 || fail=1
scenario after-time 5000 4 after-ms:3 after-ms:2 after-ms:5 after-ms:1 ||
    fail=1
scenario many 20000 20 rand:1 rand:2 rand:3 rand:4 rand:5 rand:6 rand:7 \
    rand:8 rand:9 rand:10 rand:11 rand:12 rand:13 rand:14 rand:15 \
    rand:16 rand:17 rand:18 rand:19 rand:20 rand:21 rand:22 rand:23 \
    rand:24 rand:25 || fail=1
PROXY_FLAGS=--rst scenario resets 5000 4 s2c:mid#3 c2s:after:ACK#1 \
    s2c@5000 rand:99 || fail=1
target=$tcp
scenario tcp 10000 5 c2s:mid#7 s2c:after:ACK#1 s2c@2000 rand:41 rand:42 ||
    fail=1

grep -q "resumed" "$tmp/server.log" ||
	{ echo "the server logged no resume"; fail=1; }
[ $fail -eq 0 ] && echo "resume: every scenario answered every command" \
    "exactly once"
exit $fail
