#!/bin/sh
# msgpeer serve against hostile clients (tests/helpers/hostile): floods
# with the server's peak RSS held to its limits, detached-session and
# handshake floods, descriptor exhaustion, forged and flooded logs,
# failed AUTH logged. Every run is bounded (-t) and every server is a
# real process of its own, so VmHWM is that attack's peak.
#
# The memory bounds hold for the plain build: under ASan the allocator
# keeps freed memory in quarantine and RSS says nothing of the heap, so
# the SAN run checks everything but the figures.
# shellcheck source-path=SCRIPTDIR source=../lib/integration.sh
. "${MSGKIT_TOP:?run through tests/run.sh}/tests/lib/integration.sh"

hostile=$MSGKIT_HELPERS/hostile
san=0
case $MSGKIT_BUILD in */san) san=1 ;; esac
MiB=1048576
# Beside the limits: the binary, libc and what all sessions share (the
# read buffer, cached send buffers, malloc's own slack).
slack=$((4 * MiB))

# serve NAME ARGS...: a server on unix:$tmp/NAME.sock; $srv its address,
# $spid its pid, $base its RSS once listening (bytes).
serve() {
	name=$1
	shift
	start_bg "$tmp/$name.log" "$peer" serve --listen "unix:$tmp/$name.sock" \
	    "$@"
	spid=$bg_pid
	srv=unix:$tmp/$name.sock
	wait_for 5 test -S "$tmp/$name.sock" || {
		echo "FAIL $name: the server did not start"
		cat "$tmp/$name.log"
		exit 1
	}
	base=$(kb VmHWM)
}

# kb FIELD: the server's /proc status field, in bytes.
kb() {
	echo $(($(sed -n "s/^$1:[^0-9]*\([0-9]*\) kB/\1/p" \
	    "/proc/$spid/status") * 1024))
}

stop() {
	kill "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
}

# attack ARGS...: hostile ARGS; its line in $line, exit status checked.
attack() {
	timeout 60 "$hostile" -q "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	line=$(cat "$tmp/out")
	if [ "$rc" -ne 0 ]; then
		echo "FAIL hostile $*: exit $rc"
		cat "$tmp/out" "$tmp/err"
		fail=1
	fi
}

val() {
	printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

alive() {
	kill -0 "$spid" 2>/dev/null && return 0
	echo "FAIL $1: the server died"
	cat "$tmp/$name.log"
	fail=1
	return 1
}

# peak WHAT LIMIT: the server's peak RSS within 1.25 x LIMIT of its
# base, plus the slack.
peak() {
	hwm=$(kb VmHWM)
	echo "$1: peak $((hwm / 1024)) KiB, base $((base / 1024)) KiB," \
	    "limit $(($2 / 1024)) KiB"
	[ "$san" = 1 ] && return 0
	if [ "$hwm" -gt $((base + $2 / 4 * 5 + slack)) ]; then
		echo "FAIL $1: peak RSS $hwm over 1.25 x $2 + $slack above" \
		    "$base"
		fail=1
	fi
}

# want_log WHAT PATTERN: a line of the server's log matches.
want_log() {
	grep -q -- "$2" "$tmp/$name.log" && return 0
	echo "FAIL $1: no \"$2\" in the server's log"
	tail -n 20 "$tmp/$name.log"
	fail=1
}

if [ "$san" = 1 ]; then n_flood=200000; n_cycle=3000; else
	n_flood=2000000; n_cycle=20000; fi

# --- memory, per session: floods of commands that are never read -----------

serve flood --max-memory 16m
attack -t 20 -c "$n_flood" unbound "$srv"
[ "$(val end)" = closed ] || { echo "FAIL unbound: $line"; fail=1; }
attack -t 20 -c "$n_flood" echo "$srv"
attack -t 20 -c 100000 -s 16000 echo "$srv"
alive "floods" && peak "unbound and echo floods, --max-memory 16m" \
    $((16 * MiB))
want_log "floods" "refusals not read or acknowledged"
stop

# Commands a service holds are counted: 1024 x 65 KB held by delay.
serve delay --max-memory 1m --max-inflight 100000
attack -t 3 -c 1024 -s 65000 delay "$srv"
[ "$(val held)" -le 16 ] || { echo "FAIL delay: held $line"; fail=1; }
alive delay && peak "1024 delay commands of 65 KB, --max-memory 1m" $MiB
stop

# --- memory, in all: detached sessions ---------------------------------------

serve detach --max-memory 16m --max-total-memory 64m --session-timeout 2
attack -t 30 -n 8 -b 15000000 detach "$srv"
alive detach && peak "8 detached sessions of 15 MB, --max-total-memory 64m" \
    $((64 * MiB))
want_log detach "dropped: the server's memory limit"
# Expired, their memory goes back to the system.
sleep 3
rss=$(kb VmRSS)
echo "detach: RSS $((rss / 1024)) KiB after the sessions expired"
if [ "$san" = 0 ] && [ "$rss" -gt $((base + slack)) ]; then
	echo "FAIL detach: RSS $rss not returned (base $base)"
	fail=1
fi
stop

# --- counts: sessions and handshakes ----------------------------------------

serve cycle --max-sessions 500
attack -t 30 -c "$n_cycle" cycle "$srv"
[ "$(val cycles)" = "$n_cycle" ] || { echo "FAIL cycle: $line"; fail=1; }
alive cycle && peak "$n_cycle handshakes and closes, --max-sessions 500" \
    $((2 * MiB))
want_log cycle "dropped: the session limit is reached"
stop

# A stranger that says nothing is closed at the handshake time-out, not
# after the dead-link time (15 s).
serve quiet --handshake-timeout 1
attack -t 3 -n 10 idle "$srv"
[ "$(val closed)" = 10 ] || { echo "FAIL handshake time-out: $line"; fail=1; }
stop

# Out of descriptors: idle strangers make room for a real client.
start_bg "$tmp/fds.log" prlimit --nofile=128 "$peer" serve \
    --listen "unix:$tmp/fds.sock"
spid=$bg_pid name=fds srv=unix:$tmp/fds.sock
wait_for 5 test -S "$tmp/fds.sock" || exit 1
"$hostile" -q -t 6 -n 400 idle "$srv" >"$tmp/idle.out" 2>&1 &
track_bg
sleep 1
if ! timeout 5 "$peer" ping "$srv" -c 1 -q >"$tmp/ping.out" 2>&1; then
	echo "FAIL EMFILE: ping did not get through"
	cat "$tmp/ping.out" "$tmp/fds.log"
	fail=1
fi
wait "$bg_pid"
want_log "EMFILE" "closed before its handshake to make room"
stop

# --- logs a peer cannot abuse -----------------------------------------------

esc=$(printf '\033')
# no_forgery WHAT: no line of the log is the peer's, no escape byte.
no_forgery() {
	if grep -q '^12:00:00.000' "$tmp/$name.log" ||
	    grep -q "$esc" "$tmp/$name.log"; then
		echo "FAIL $1: a forged line or an escape in the log"
		cat -v "$tmp/$name.log"
		fail=1
	fi
}
serve logs -vv
attack -N 'x\n12:00:00.000 msgpeer: error: forged\e[31m' node "$srv"
attack -E 'bye\n12:00:00.000 msgpeer: error: forged\e[31m' goodbye "$srv"
want_log "NODE" 'x\\x0a12:00:00.000 msgpeer: error: forged\\x1b\[31m'
want_log "ERRTEXT" 'bye\\x0a12:00:00.000'
no_forgery "NODE and ERRTEXT"
stop

# A million malformed messages: a handful of lines and a summary.
serve mflood --session-timeout 1
attack -t 20 -c "$n_flood" malformed "$srv"
sleep 2
lines=$(wc -l <"$tmp/mflood.log")
echo "malformed flood: $(val commands) messages, $lines log lines"
[ "$lines" -le 12 ] || { echo "FAIL malformed flood: $lines lines"; fail=1; }
want_log "malformed flood" "more malformed-message warnings suppressed"
stop

# Failed AUTH, at the default level, with the address; a stranger's
# resume is not told how many messages the session has.
printf 'a key for the hostile test suite\n' >"$tmp/key"
chmod 600 "$tmp/key"
serve auth --key "$tmp/key"
for x in wrong replay reflect; do
	attack -k "$tmp/key" -x "$x" auth "$srv"
	[ "$(val accepted)" = 0 ] || { echo "FAIL auth $x: $line"; fail=1; }
done
n=$(grep -c "unix:$tmp/auth.sock: AUTH refused" "$tmp/auth.log")
[ "$n" = 3 ] || { echo "FAIL auth: $n of 3 failures logged"; fail=1; }
want_log "reflected AUTH" "the proof is our own, reflected"
attack -k "$tmp/key" -x unauth resume-bad "$srv"
told=$(val text | sed 's/\\x20/ /g')
case $told in
*[0-9]*) echo "FAIL resume before AUTH told: $told"; fail=1 ;;
esac
no_forgery "AUTH"
stop

exit "$fail"
