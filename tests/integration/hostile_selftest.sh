#!/bin/sh
# The hostile client itself: every mode, briefly, against a real msgpeer
# serve on a unix socket (one with a key for the AUTH modes, one that
# offers CRC, and TCP once). Each run must end with the exit status the
# mode intends and print one line of key=value words. The checks are
# what any correct server does (msgproto(7)); the server's memory, its
# limits and its logs are for the tests that use hostile, not this one.
# shellcheck source-path=SCRIPTDIR source=../lib/integration.sh
. "${MSGKIT_TOP:?run through tests/run.sh}/tests/lib/integration.sh"

hostile=$MSGKIT_HELPERS/hostile

# run DESCRIPTION WANT_EXIT ARGS...: hostile ARGS, its line in $line.
run() {
	desc=$1 want=$2
	shift 2
	timeout 30 "$hostile" -q "$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	line=$(cat "$tmp/out")
	if [ "$got" != "$want" ]; then
		echo "FAIL $desc: exit $got, want $want"
		cat "$tmp/out" "$tmp/err"
		fail=1
		return 1
	fi
	[ "$want" = 2 ] && return 0
	# One line; words key=value, no space or control byte in a value.
	if [ "$(wc -l <"$tmp/out")" -ne 1 ] ||
	    LC_ALL=C grep -q '[^ -~]' "$tmp/out" ||
	    tr ' ' '\n' <"$tmp/out" | grep -qv '^[A-Za-z_]*=[^ ]*$'; then
		echo "FAIL $desc: the line does not parse"
		cat "$tmp/out"
		fail=1
		return 1
	fi
	for key in mode sent bytes replies closed goodbye text refused eagain \
	    connected elapsed; do
		printf '%s\n' "$line" | tr ' ' '\n' | grep -q "^$key=" || {
			echo "FAIL $desc: no $key= in: $line"
			fail=1
			return 1
		}
	done
}

# val KEY: its value in $line.
val() {
	printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# expect DESCRIPTION KEY VALUE
expect() {
	[ "$(val "$2")" = "$3" ] && return 0
	echo "FAIL $1: want $2=$3 in: $line"
	fail=1
}

printf 'a key for the hostile self-test\n' >"$tmp/key"
chmod 600 "$tmp/key"
start_bg "$tmp/plain.log" "$peer" serve --listen "unix:$tmp/s.sock" \
    --listen tcp:0 --crc -v
plain=$bg_pid
start_bg "$tmp/keyed.log" "$peer" serve --listen "unix:$tmp/k.sock" \
    --key "$tmp/key" -v
keyed=$bg_pid
wait_log "$tmp/plain.log" "listening on tcp:" 5 "$plain" || exit 1
wait_log "$tmp/keyed.log" "listening on unix:" 5 "$keyed" || exit 1
srv=unix:$tmp/s.sock
ksrv=unix:$tmp/k.sock
tcp=$(sed -n 's/.*listening on \(tcp:[^ ]*\).*/\1/p' "$tmp/plain.log")

# Usage: exit 2, and no line.
for args in "" "node" "bogus $srv" "-n 0 node $srv" "-s 70000 echo $srv" \
    "-t 0 node $srv" "-t x node $srv" "ctrl $srv" "-x nope ctrl $srv" \
    "-x wrong node $srv" "-x wrong auth $srv" "-b 10 echo $srv" \
    "-N a\\q node $srv" "node exec:true" "node tcp:7000" \
    "-k $tmp/nokey node $srv"; do
	# shellcheck disable=SC2086 # the words are the arguments
	run "usage: $args" 2 $args
	[ -s "$tmp/out" ] && { echo "FAIL usage: $args: a line"; fail=1; }
done
run "nobody listening" 2 node "unix:$tmp/nobody.sock" &&
	expect "nobody listening" connected 0

# The handshake and an orderly end; escapes are bytes on the wire.
run node 0 -N 'node\n12:00:00 forged\e[31m\x01' node "$srv" &&
	expect node goodbye -1
run goodbye 0 -E 'bye\tnow\\' goodbye "$srv" && expect goodbye connected 1

# Floods: everything answered (EBADF on the unbound link, echoes).
run unbound 0 -c 1000 unbound "$srv" && expect unbound commands 1000
run echo 0 -c 1000 -s 64 echo "$srv" && expect echo link_status 0
run "echo with CRC" 0 -C -c 500 -s 100 echo "$srv" &&
	expect "echo with CRC" link_status 0
run "echo over TCP" 0 -c 500 echo "$tcp" && expect "echo over TCP" connected 1
run malformed 0 -c 100 malformed "$srv"
[ "$(val ebadmsg)" -ge 1 ] 2>/dev/null ||
	{ echo "FAIL malformed: no EBADMSG in: $line"; fail=1; }
run "malformed with CRC" 0 -C -c 100 malformed "$srv"

# Held: -t ends these runs, and exit 0 all the same.
run delay 0 -t 1 -c 10 delay "$srv" && expect delay timeout 1
run idle 0 -t 1 -n 20 idle "$srv" && expect idle connected 20
case $(val elapsed) in
1.*) ;;
*) echo "FAIL idle: -t 1 took $(val elapsed) s"; fail=1 ;;
esac
run detach 0 -n 2 -b 100000 -s 1000 detach "$srv" && expect detach sessions 2
run cycle 0 -c 50 cycle "$srv" && expect cycle connected 50

# Rules of the session broken: GOODBYE EPROTO (71).
run "ack-high" 0 -x ack-high ctrl "$srv" && expect "ack-high" goodbye 71
for x in ack-link ping-link ack-empty; do
	run "ctrl $x" 0 -x "$x" ctrl "$srv"
done
run garbage 0 garbage "$srv" && expect garbage goodbye 71
run "resume-bad" 0 resume-bad "$srv" && expect "resume-bad" goodbye 71

# AUTH: a wrong proof is GOODBYE EACCES (13), no AUTH offered a refusal.
run "auth wrong" 0 -k "$tmp/key" -x wrong auth "$ksrv" &&
	expect "auth wrong" goodbye 13
run "auth reflect" 0 -k "$tmp/key" -x reflect auth "$ksrv" &&
	expect "auth reflect" goodbye 13
run "auth replay" 0 -k "$tmp/key" -x replay auth "$ksrv" &&
	expect "auth replay" accepted 0
run "auth none" 0 -k "$tmp/key" -x none auth "$ksrv" &&
	expect "auth none" refused 13
run "resume-bad unauth" 0 -k "$tmp/key" -x unauth resume-bad "$ksrv"
run "a key the server lacks" 2 -k "$tmp/key" -x wrong auth "$srv"
printf 'not the key the server has\n' >"$tmp/other"
run "another key" 2 -k "$tmp/other" node "$ksrv"

# Whatever came, the servers are still there.
for p in $plain $keyed; do
	kill -0 "$p" 2>/dev/null || { echo "FAIL: server $p died"; fail=1; }
done
exit "$fail"
