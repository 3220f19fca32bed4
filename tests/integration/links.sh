#!/bin/sh
# Links, CANCEL and limits against a real msgpeer serve, over unix and
# TCP: a scripted client (text notation turned into bytes by msgscript)
# pipelines a whole session after its HELLO, and the server's answers,
# decoded by msgdump -m, must come in the order msgproto(7) promises.
# shellcheck source-path=SCRIPTDIR source=../lib/integration.sh
. "${MSGKIT_TOP:?run through tests/run.sh}/tests/lib/integration.sh"

start_bg "$tmp/server.log" "$peer" serve --listen "unix:$tmp/s.sock" \
    --listen tcp:0 --max-links 2 --max-inflight 3 -v
wait_log "$tmp/server.log" "listening on tcp:" 5 ||
	{ echo "no server"; cat "$tmp/server.log"; exit 1; }
tcp=$(sed -n 's/.*listening on tcp:[^ ]*:\([0-9]*\).*/\1/p' "$tmp/server.log")

# The client's side, in two parts with a pause between, so the delayed
# commands of the first are done before the second. Commands pipelined
# after HELLO are fine: the server reads the HELLO, answers it, and
# only then the rest.
cat >"$tmp/part1.msg" <<'EOF'
HELLO link=0x0 msg=0 VERSION=1 NODE="script" SESSION=x'00000000000000000000000000000000' RECEIVED=0 FEATURES=0 WINDOW=1048576 LIMITS{MAX_INFLIGHT=16 MAX_LINKS=16}
# A delay link; a command that would wait 10 s, cancelled.
LINK_OPEN link=0x0 msg=1 NEWLINK=0x1 SERVICE="delay"
0x7000 link=0x1 msg=2 TIMESTAMP=10000000000 OFFSET=2
CANCEL link=0x1 msg=3 TARGET=2
# Cancelling what is not outstanding, or a CANCEL.
CANCEL link=0x1 msg=4 TARGET=2
CANCEL link=0x1 msg=5 TARGET=99
# Limits: three requests at most; the fourth is EAGAIN.
0x7000 link=0x1 msg=6 TIMESTAMP=300000000 OFFSET=6
0x7000 link=0x1 msg=7 TIMESTAMP=300000000 OFFSET=7
0x7000 link=0x1 msg=8 TIMESTAMP=300000000 OFFSET=8
0x7000 link=0x1 msg=9 TIMESTAMP=300000000 OFFSET=9
EOF
cat >"$tmp/part2.msg" <<'EOF'
# Two links at most: the third LINK_OPEN is EMFILE.
LINK_OPEN link=0x0 msg=10 NEWLINK=0x2 SERVICE="echo"
LINK_OPEN link=0x0 msg=11 NEWLINK=0x3 SERVICE="echo"
# Unknown service, id from the acceptor's half, id in use, no such link.
LINK_OPEN link=0x0 msg=12 NEWLINK=0x4 SERVICE="nosuch"
LINK_OPEN link=0x0 msg=13 NEWLINK=0x8000000000000005 SERVICE="echo"
LINK_OPEN link=0x0 msg=14 NEWLINK=0x2 SERVICE="echo"
0x7001 link=0x77 msg=15
# Echo, and a command echo does not know: ENOSYS, the session lives.
0x7001 link=0x2 msg=16 NAME="hi"
0x0123 link=0x2 msg=17
0x7002 link=0x2 msg=18 DATA=x'0102'
# Closing the delay link with a command outstanding: ECANCELED first.
0x7000 link=0x1 msg=19 TIMESTAMP=10000000000 OFFSET=19
LINK_CLOSE link=0x1 msg=20 COUNT=5
LINK_CLOSE link=0x1 msg=21 COUNT=1
0x7000 link=0x1 msg=22
EOF
"$script" -o "$tmp/part1.raw" "$tmp/part1.msg" || exit 1
"$script" -o "$tmp/part2.raw" "$tmp/part2.msg" || exit 1

# expect PATTERN...: each a line of the server's answers, in this order.
expect() {
	: >"$tmp/want"
	for p in "$@"; do
		echo "$p" >>"$tmp/want"
	done
	awk -v want="$tmp/want" '
	BEGIN { while ((getline l < want) > 0) w[++n] = l; k = 1 }
	k <= n && $0 ~ w[k] { k++ }
	END { if (k <= n) { print "missing, or out of order: " w[k]; exit 1 } }
	' "$tmp/answers.msg"
}

for addr in "UNIX-CONNECT:$tmp/s.sock" "TCP:127.0.0.1:$tcp"; do
	# The write side stays open while the delayed answers come.
	(cat "$tmp/part1.raw"; sleep 0.6; cat "$tmp/part2.raw"; sleep 1) |
	    timeout 20 socat -t 1 - "$addr" >"$tmp/answers.raw" \
	    2>"$tmp/socat.err"
	"$dump" -r "$tmp/answers.raw" -m | grep -v '^ACK ' >"$tmp/answers.msg"
	# The CANCEL's target answers ECANCELED before the CANCEL's reply.
	expect '^HELLO reply .* STATUS=OK' \
	    '^LINK_OPEN reply link=0x0 msg=1 STATUS=OK' \
	    '^0x7000 reply link=0x1 msg=2 STATUS=ECANCELED' \
	    '^CANCEL reply link=0x1 msg=3 STATUS=OK' || fail=1
	expect '^CANCEL reply link=0x1 msg=4 STATUS=ESRCH' \
	    '^CANCEL reply link=0x1 msg=5 STATUS=ESRCH' \
	    '^0x7000 reply link=0x1 msg=9 STATUS=EAGAIN' \
	    '^LINK_OPEN reply link=0x0 msg=10 STATUS=OK' \
	    '^LINK_OPEN reply link=0x0 msg=11 STATUS=EMFILE' \
	    '^LINK_OPEN reply link=0x0 msg=12 STATUS=ENOENT' \
	    '^LINK_OPEN reply link=0x0 msg=13 STATUS=EINVAL' \
	    '^LINK_OPEN reply link=0x0 msg=14 STATUS=EEXIST' \
	    '^0x7001 reply link=0x77 msg=15 STATUS=EBADF' \
	    '^0x7001 reply link=0x2 msg=16 NAME="hi" STATUS=OK$' \
	    '^0x0123 reply link=0x2 msg=17 STATUS=ENOSYS' \
	    "^0x7002 reply link=0x2 msg=18 DATA=x'0102' STATUS=OK$" || fail=1
	# Delayed commands answer later, each once, with their items.
	for m in 6 7 8; do
		n=$(grep -c "^0x7000 reply link=0x1 msg=$m TIMESTAMP=300000000 OFFSET=$m STATUS=OK$" "$tmp/answers.msg")
		[ "$n" -eq 1 ] || { echo "msg $m answered $n times"; fail=1; }
	done
	expect '^LINK_CLOSE reply link=0x1 msg=20 STATUS=EINVAL' \
	    '^0x7000 reply link=0x1 msg=19 STATUS=ECANCELED' \
	    '^LINK_CLOSE reply link=0x1 msg=21 STATUS=OK' \
	    '^0x7000 reply link=0x1 msg=22 STATUS=EBADF' || fail=1
	grep -q '^GOODBYE' "$tmp/answers.msg" &&
	    { echo "the server said GOODBYE"; fail=1; }
	[ $fail -eq 0 ] || { cat "$tmp/answers.msg"; break; }
	echo "links over ${addr%%:*}: $(grep -c . "$tmp/answers.msg") answers" \
	    "in order"
done
exit $fail
