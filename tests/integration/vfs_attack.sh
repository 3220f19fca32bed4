#!/bin/sh
# The VFS server under attack (msgproto(7) section 6, security): names
# that are not one component, symbolic links out of the export (to /etc,
# relative, magic /proc links, and one swapped in by renames racing the
# lookups), special files, links across exports, a read-only export, and
# a client that opens files and never closes them while another reads.
# Nothing outside the export may be read, written, listed or stat'ed.
. "${MSGKIT_TOP:?run through tests/run.sh}/tests/lib/integration.sh"

probe=$MSGKIT_HELPERS/vfsprobe
tree=$tmp/tree
out=$tmp/out
mkdir -p "$tree/sub" "$tree/d" "$out"
echo hello >"$tree/f"
echo inside >"$tree/d/passwd"
echo secret >"$out/secret"
ln -s /etc "$tree/esc"
ln -s ../out/secret "$tree/rel"
ln -s /proc/self/fd/3 "$tree/magic"
ln -s "$out" "$tree/abs"
mkfifo "$tree/fifo"
mknod "$tree/null" c 1 3 2>/dev/null || :
outside() {
	ls -a "$out" /etc | md5sum
	stat -c '%n %s %Y %Z %a' "$out" "$out/secret" /etc/passwd /etc
}
before=$(outside)

start_bg "$tmp/server.log" "$peer" serve --listen "unix:$tmp/s" \
    --export "home=$tree" --export-ro "ro=$tree" --export "other=$out" \
    --max-files 20
wait_for 5 test -S "$tmp/s" || { echo "server did not start"; exit 1; }

# expect WHAT GOT WANT
expect() {
	if [ "$2" != "$3" ]; then
		echo "FAIL $1: got [$2], want [$3]"
		fail=1
	else
		echo "ok   $1: $2"
	fi
}

run_probe() {
	timeout 20 "$probe" "unix:$tmp/s" "$@" 2>>"$tmp/probe.err"
}

# Names: one path component, at most 255 bytes.
got=$(run_probe home name .. name . name '' name 'a\x2fb' name '\x2fetc' \
    long 256 long 255 name f | tr '\n' ' ')
expect "names" "$got" \
    "EINVAL EINVAL EINVAL EINVAL EINVAL ENAMETOOLONG ENOENT OK file "

# Symbolic links are returned, never followed, wherever they point.
got=$(run_probe home walk esc walk esc/passwd walk rel open rel \
    walk magic open magic walk abs/secret open esc | tr '\n' ' ')
expect "symlinks" "$got" \
    "OK symlink ENOTDIR OK symlink ELOOP OK symlink ELOOP ENOTDIR ELOOP "

# Special files: found, never opened for data, never blocking.
got=$(run_probe home walk fifo open fifo read fifo | tr '\n' ' ')
expect "fifo" "$got" "OK fifo ENXIO ENXIO "
if [ -c "$tree/null" ]; then
	got=$(run_probe home walk null open null | tr '\n' ' ')
	expect "device" "$got" "OK chardev ENXIO "
fi

# Listing the root shows the export, and only it.
got=$(run_probe home list "" | head -1 | tr ' ' '\n' | sort | tr '\n' ' ')
expect "list" "$got" "abs d esc f fifo magic names$( [ -c "$tree/null" ] &&
    echo ' null') rel sub "

# Hard links and renames stay within one export.
got=$(run_probe home link abs/secret stolen link f f.hard | tr '\n' ' ')
expect "link" "$got" "ENOTDIR OK "

# A read-only export: EROFS for every change.
got=$(run_probe ro create x mkdir y unlink f rmdir sub rename f g \
    setattr f 600 symlink z /etc link f f2 | tr '\n' ' ')
expect "read-only" "$got" "EROFS EROFS EROFS EROFS EROFS EROFS EROFS EROFS "
[ -f "$tree/f" ] && [ ! -e "$tree/x" ] && [ ! -e "$tree/y" ] ||
    { echo "FAIL read-only export changed"; fail=1; }

# A directory swapped for a symbolic link to /etc while lookups run.
(
	i=0
	while [ $i -lt 400 ]; do
		mv -T "$tree/d" "$tree/d.real" 2>/dev/null
		ln -s /etc "$tree/d" 2>/dev/null
		rm -f "$tree/d"
		mv -T "$tree/d.real" "$tree/d" 2>/dev/null
		i=$((i + 1))
	done
) &
swapper=$!
pids="$pids $swapper"
got=$(run_probe home race d/passwd 1500)
wait "$swapper" 2>/dev/null || :
echo "$got"
if echo "$got" | grep '^data' | grep -v '^data 696e736964650a$' >/dev/null
then
	echo "FAIL race: read something other than d/passwd"
	fail=1
fi
got=$(run_probe home read d/passwd | head -1)
expect "after the race" "$got" "OK 7"

# Exhaustion: one client holds files open and never closes them; past
# --max-files it gets EMFILE, and another client is served all along.
run_probe home hold 50 >"$tmp/hold.out" &
holder=$!
pids="$pids $holder"
wait_log "$tmp/hold.out" "held" 10 || fail=1
expect "hold" "$(cat "$tmp/hold.out")" "held 20 EMFILE"
got=$(run_probe home read f | head -1)
expect "served beside the holder" "$got" "OK 6"
kill "$holder" 2>/dev/null

# Nothing outside the export was touched.
after=$(outside)
expect "outside untouched" "$after" "$before"
[ -e "$tree/stolen" ] && { echo "FAIL a link to outside was made"; fail=1; }

if [ -s "$tmp/probe.err" ]; then
	echo "probe errors:"
	cat "$tmp/probe.err"
fi
exit "$fail"
