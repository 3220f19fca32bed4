#!/bin/sh
# The VFS server's behaviour as a whole: changes underneath reach the
# client (VFS_NOTIFY, CACHE_INVALIDATE); a server-side copy moves no data
# over the link (counted by a relay between them); a large file crosses
# a link cut many times intact; 50 clients at once; a client's slow
# operations do not hold up another's reads; the dependency trace; and a
# client's files are let go when its session ends.
. "${MSGKIT_TOP:?run through tests/run.sh}/tests/lib/integration.sh"

probe=$MSGKIT_HELPERS/vfsprobe
tree=$tmp/tree
mkdir -p "$tree/d" "$tree/many"
echo inside >"$tree/d/passwd"

start_bg "$tmp/server.log" "$peer" serve --listen "unix:$tmp/s" \
    --export "home=$tree" --trace "$tmp/trace.json" --session-timeout 1 \
    --workers 4
server=$bg_pid
wait_for 5 test -S "$tmp/s" || { echo "server did not start"; exit 1; }
R="unix:$tmp/s:home"

check() {
	if eval "$2"; then
		echo "ok   $1"
	else
		echo "FAIL $1"
		fail=1
	fi
}

sha() { sha256sum <"$1" | cut -d' ' -f1; }

# --- changes underneath ------------------------------------------------------
timeout 10 "$probe" "unix:$tmp/s" home watch d/passwd 3 >"$tmp/watch.out" &
track_bg
wait_log "$tmp/watch.out" ready 5 || fail=1
echo more >>"$tree/d/passwd"
sleep 0.3
touch "$tree/d/new"
sleep 0.3
chmod 600 "$tree/d/passwd"
wait "$bg_pid" 2>/dev/null || :
cat "$tmp/watch.out"
check "write elsewhere invalidates the open file" \
    'grep -q "^open invalidate" "$tmp/watch.out"'
check "a new entry is announced on the directory" \
    'grep -q "^dir notify 2 new" "$tmp/watch.out"'
check "attributes changed are announced on the node" \
    'grep -q "^file notify 1" "$tmp/watch.out"'

# --- a server-side copy moves no data ----------------------------------------
head -c 104857600 /dev/urandom >"$tree/big"
"$proxy" --count-file "$tmp/count" --timeout 60 "unix:$tmp/p" "unix:$tmp/s" \
    >"$tmp/proxy.out" 2>"$tmp/proxy.log" &
track_bg
proxy_pid=$bg_pid
wait_for 5 test -S "$tmp/p" || { echo "proxy did not start"; exit 1; }
check "cp within the export" \
    'timeout 60 "$peer" cp "unix:$tmp/p:home/big" "unix:$tmp/p:home/big.copy"'
kill "$proxy_pid"
wait "$proxy_pid" 2>/dev/null || :
cat "$tmp/count"
check "the copy is the file" '[ "$(sha "$tree/big")" = "$(sha "$tree/big.copy")" ]'
c2s=$(sed -n 's/^c2s //p' "$tmp/count")
s2c=$(sed -n 's/^s2c //p' "$tmp/count")
check "no data crossed the link (c2s $c2s, s2c $s2c bytes for 100 MiB)" \
    '[ "$c2s" -lt 65536 ] && [ "$s2c" -lt 65536 ]'

# --- a large file through a link cut again and again ----------------------------
# A cut can fall in the very first handshake, which a client run once
# counts as a failed dial: --connect-tries lets it dial again.
"$proxy" --cut rand:7 --repeat --timeout 120 "unix:$tmp/c" "unix:$tmp/s" \
    >"$tmp/cut.out" 2>"$tmp/cut.log" &
track_bg
cut_pid=$bg_pid
wait_for 5 test -S "$tmp/c" || { echo "cutproxy did not start"; exit 1; }
check "get through a link cut many times" \
    'timeout 120 "$peer" get --reconnect-max 0.2 --connect-tries 5 "unix:$tmp/c:home/big" \
    "$tmp/big.cut" 2>"$tmp/cut.client"'
check "put through it too" \
    'timeout 120 "$peer" put --reconnect-max 0.2 --connect-tries 5 "$tmp/big.cut" \
    "unix:$tmp/c:home/big.put" 2>>"$tmp/cut.client"'
kill "$cut_pid"
cuts=$(grep -c ': cut' "$tmp/cut.log")
check "the link was cut ($cuts times)" '[ "$cuts" -ge 10 ]'
check "what came through is the file" \
    '[ "$(sha "$tree/big")" = "$(sha "$tmp/big.cut")" ] &&
    [ "$(sha "$tree/big")" = "$(sha "$tree/big.put")" ]'
rm -f "$tree/big.copy" "$tree/big.put" "$tmp/big.cut"

# --- 50 clients at once --------------------------------------------------------
i=0
while [ $i -lt 50 ]; do
	head -c $((i * 4096 + 1)) /dev/urandom >"$tree/many/f$i"
	i=$((i + 1))
done
mkdir -p "$tmp/got"
i=0
cpids=
while [ $i -lt 50 ]; do
	timeout 60 "$peer" get "$R/many/f$i" "$tmp/got/f$i" 2>"$tmp/got/e$i" &
	cpids="$cpids $!"
	i=$((i + 1))
done
bad=0
for p in $cpids; do
	wait "$p" || bad=$((bad + 1))
done
check "50 clients at once, none failed ($bad failed)" '[ "$bad" -eq 0 ]'
check "each got its file" 'diff -r "$tree/many" "$tmp/got" -x "e*" >/dev/null'

# --- a client's slow operations do not hold up another's reads ----------------
# 20000 names make each listing take a while; one client asks for many at
# once, filling what its queue may use of the workers; another reads.
mkdir "$tree/huge"
(cd "$tree/huge" && seq 1 20000 | xargs touch)
(
	j=0
	while [ $j -lt 6 ]; do
		timeout 60 "$peer" ls -l "$R/huge" >/dev/null 2>&1 &
		j=$((j + 1))
	done
	wait
) &
slow=$!
pids="$pids $slow"
sleep 0.2
t0=$(date +%s%N)
check "a read beside the slow client" \
    'timeout 10 "$peer" cat "$R/d/passwd" >/dev/null'
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
wait "$slow" 2>/dev/null || :
echo "the read took $ms ms beside six listings of 20000 names"
check "it was not held up (under 2000 ms)" '[ "$ms" -lt 2000 ]'

# --- the dependency trace -------------------------------------------------------
"$peer" stat "$R/d/absent" >/dev/null 2>&1
check "a missing file is in the trace" \
    'grep -q "\"op\":\"lookup\",\"path\":\"d/absent\",\"status\":\"ENOENT\"" \
    "$tmp/trace.json"'
check "a read file is in the trace" \
    'grep -q "\"op\":\"read\",\"path\":\"many/f7\"" "$tmp/trace.json"'
check "every line is JSON with the client's node" \
    'jq -e "select(.node == null or .op == null)" "$tmp/trace.json" |
    grep -q . && false || true'

# --- files let go when a session ends -------------------------------------------
fds_before=$(ls "/proc/$server/fd" | wc -l)
: >"$tree/f"
# Not under timeout(1): the kill must reach the client itself.
"$probe" "unix:$tmp/s" home hold 40 >"$tmp/hold.out" 2>&1 &
holder=$!
pids="$pids $holder"
wait_log "$tmp/hold.out" held 10 || fail=1
fds_held=$(ls "/proc/$server/fd" | wc -l)
kill -9 "$holder"
# The session is detached, then dropped at --session-timeout 1.
wait_for 10 sh -c "[ \$(ls /proc/$server/fd | wc -l) -le $fds_before ]" ||
    :
fds_after=$(ls "/proc/$server/fd" | wc -l)
echo "server descriptors: $fds_before, holding $fds_held, after $fds_after"
check "held files were open" '[ "$fds_held" -ge $((fds_before + 40)) ]'
check "and let go when the session ended" '[ "$fds_after" -le "$fds_before" ]'

kill "$server"
wait "$server" 2>/dev/null || :
grep -i "error\|sanitizer" "$tmp/server.log" && fail=1
exit "$fail"
