#!/bin/sh
# msgdump on a live pipe, as in "tcpdump -U -w - | msgdump -r -": the
# input never ends by itself. A segment the capture lost must not hold
# back what follows until the end; SIGINT and SIGTERM must end the run
# with every line whole and the statistics printed, even while msgdump
# waits in a read, as tcpdump does on Ctrl-C.
#
# The pipe is a FIFO this script keeps open; msgdump runs with SIGINT
# and SIGTERM at their defaults (a background job of sh ignores SIGINT).
# shellcheck source-path=SCRIPTDIR source=../lib/integration.sh
. "${MSGKIT_TOP:?run through tests/run.sh}/tests/lib/integration.sh"

"$script" -w "$tmp/s.pcap" -o "$tmp/s.raw" \
    "$MSGKIT_TOP/tests/golden/session.msg" || exit 1
mkfifo "$tmp/fifo" || exit 1

# live NAME FLAGS...: msgdump reads the FIFO, out to $tmp/NAME.out and
# $tmp/NAME.err; fd 3 is the writing end; $live its pid.
live() {
	_n=$1
	shift
	env --default-signal=INT,TERM "$dump" "$@" -r - <"$tmp/fifo" \
	    >"$tmp/$_n.out" 2>"$tmp/$_n.err" &
	track_bg
	live=$bg_pid
	exec 3>"$tmp/fifo"
}

# ended NAME WANT_STATUS: msgdump ends within 5 s, with that status.
ended() {
	if ! wait_for 5 sh -c "! kill -0 $live"; then
		echo "FAIL $1: msgdump still runs"
		fail=1
		kill -KILL "$live" 2>/dev/null
	fi
	wait "$live"
	_rc=$?
	exec 3>&-
	if [ "$_rc" != "$2" ]; then
		echo "FAIL $1: exit $_rc, want $2"
		sed 's/^/  | /' "$tmp/$1.err"
		fail=1
	fi
}

lines_at_least() {
	[ "$(wc -l <"$1")" -ge "$2" ]
}

# --- a lost segment on a live pipe: what follows comes out at once -------

# The capture lost frame 8 (the client's VFS_GETATTR). Frames 1-12 of
# what is left hold the client's next two commands and the server's
# acknowledgement of the lost bytes: msgdump must print them now, not at
# the end of the input.
editcap "$tmp/s.pcap" "$tmp/hole.pcap" 8 >/dev/null 2>&1 || exit 1
editcap -F pcap -r "$tmp/hole.pcap" "$tmp/part.pcap" 1-12 >/dev/null 2>&1 ||
	exit 1
live gap -l -tt
cat "$tmp/part.pcap" >&3
if wait_log "$tmp/gap.out" 'msg 5 VFS_LOOKUP len 44' 5 "$live"; then
	grep -q '^1700000000.007000 .* @224 16 bytes missing from the capture$' \
	    "$tmp/gap.out" || { echo "FAIL gap: no gap note"; fail=1; }
	grep -q '^1700000000.008000 .* msg 5 VFS_LOOKUP len 44 ' \
	    "$tmp/gap.out" || { echo "FAIL gap: not its own time"; fail=1; }
else
	echo "FAIL gap: held back on a live pipe:"
	sed 's/^/  | /' "$tmp/gap.out"
	fail=1
fi
exec 3>&-
wait "$live"

# --- SIGINT: whole lines, then the statistics ---------------------------------

live int --stats -l
cat "$tmp/s.pcap" >&3
wait_for 5 lines_at_least "$tmp/int.out" 30 ||
	{ echo "FAIL int: $(wc -l <"$tmp/int.out") lines"; fail=1; }
kill -INT "$live"
ended int 0
grep -q '^30 messages, 1761 bytes, 0 malformed, 0 bytes skipped' \
    "$tmp/int.out" || { echo "FAIL int: no statistics"; fail=1; }
grep -q '^36 frames (EN10MB)' "$tmp/int.out" ||
	{ echo "FAIL int: no capture statistics"; fail=1; }
[ "$(tail -c 1 "$tmp/int.out" | od -An -c | tr -d ' ')" = '\n' ] ||
	{ echo "FAIL int: the output ends mid-line"; fail=1; }

# -q, the way the issue was met: tcpdump -U -i lo -w - | msgdump -q -r -
live quiet -q
cat "$tmp/s.pcap" >&3
sleep 1
kill -INT "$live"
ended quiet 0
grep -q '^30 messages' "$tmp/quiet.out" ||
	{ echo "FAIL quiet: $(cat "$tmp/quiet.out")"; fail=1; }

# SIGTERM, the same.
live term -q -j
cat "$tmp/s.pcap" >&3
sleep 1
kill -TERM "$live"
ended term 0
[ "$(jq '.statistics.messages' "$tmp/term.out")" = 30 ] ||
	{ echo "FAIL term: $(cat "$tmp/term.out")"; fail=1; }

# Blocked in a write (a reader that does not read, as a pager may): the
# signal stops the reading, not the output, which is all there, whole,
# when the reader reads, the statistics last. The input (34 sessions, 62
# KB) fits in the pipe; the output (100 KB) does not.
i=0
while [ "$i" -lt 34 ]; do
	cat "$tmp/s.raw"
	i=$((i + 1))
done >"$tmp/big.raw"
mkfifo "$tmp/outfifo" || exit 1
env --default-signal=INT,TERM "$dump" -l --stats -r - <"$tmp/fifo" \
    >"$tmp/outfifo" 2>"$tmp/blocked.err" &
track_bg
live=$bg_pid
exec 3>"$tmp/fifo"
exec 4<"$tmp/outfifo"
cat "$tmp/big.raw" >&3
sleep 0.5
kill -INT "$live"
cat <&4 >"$tmp/blocked.out"
ended blocked 0
exec 4<&-
n=$(grep -c '^@' "$tmp/blocked.out")
[ "$n" -gt 700 ] || { echo "FAIL blocked: only $n messages out"; fail=1; }
tail -n 2 "$tmp/blocked.out" | grep -q "^$n messages, " ||
	{ echo "FAIL blocked: $n lines, $(tail -n 3 "$tmp/blocked.out")"; fail=1; }
[ -s "$tmp/blocked.err" ] &&
	{ echo "FAIL blocked: $(cat "$tmp/blocked.err")"; fail=1; }

# Blocked in a read inside libpcap (a capture header, then nothing), and
# blocked before the first byte (raw input, not even sniffed yet): the
# signal ends the read, and an interrupted empty input is not an error.
live hdr -q
head -c 24 "$tmp/s.pcap" >&3
sleep 0.5
kill -INT "$live"
ended hdr 0
grep -q '^0 frames (EN10MB)' "$tmp/hdr.out" ||
	{ echo "FAIL hdr: $(cat "$tmp/hdr.out")"; fail=1; }
live none -q
sleep 0.5
kill -INT "$live"
ended none 0
grep -q '^0 messages' "$tmp/none.out" ||
	{ echo "FAIL none: $(cat "$tmp/none.out")"; fail=1; }
grep -q 'empty input' "$tmp/none.err" &&
	{ echo "FAIL none: an interrupted input called empty"; fail=1; }

[ "$fail" -eq 0 ] && echo "msgdump on a live pipe: all checks passed"
exit "$fail"
