#!/bin/sh
# The VFS client (libproto/client) through msgpeer's file commands,
# against a real msgpeer serve --export: every operation is done twice,
# once remotely on the exported tree and once locally on a copy of it,
# and the two trees (names, types, modes, sizes, link targets, contents)
# must stay equal; listings, attributes and errors are compared with
# what ls, stat and the shell say of the same files; recursive get and
# put of /usr/share/doc are checked by the sha256 of every file.
# shellcheck source-path=SCRIPTDIR source=../lib/integration.sh
. "${MSGKIT_TOP:?run through tests/run.sh}/tests/lib/integration.sh"

tree=$tmp/tree		# exported
ref=$tmp/ref		# the same operations, done locally
out=$tmp/out
mkdir -p "$tree/dir/sub" "$tree/empty" "$out"
: >"$tree/zero"
printf 'hello\n' >"$tree/hello.txt"
# Sizes around the 32 KiB parts and the 1 MiB reads.
for n in 1 32767 32768 32769 1048575 1048577; do
	head -c "$n" /dev/urandom >"$tree/dir/r$n"
done
head -c 3000000 /dev/urandom >"$tree/big"
printf 'colon\n' >"$tree/dir/a:b c"
printf 'deep\n' >"$tree/dir/sub/deep"
ln -s hello.txt "$tree/link"
ln -s /nonexistent/outside "$tree/dir/dangling"
chmod 0640 "$tree/hello.txt"
chmod 0750 "$tree/dir/sub"
cp -a "$tree" "$ref"

start_bg "$tmp/server.log" "$peer" serve --listen "unix:$tmp/s" \
    --export "home=$tree" --export-ro "ro=$ref"
wait_for 5 test -S "$tmp/s" || { echo "no server"; cat "$tmp/server.log";
	exit 1; }
R="unix:$tmp/s:home"

check() {
	if [ "$1" != "$2" ]; then
		echo "FAIL $3: expected [$1], got [$2]"
		fail=1
	fi
}

# expect_err STATUS TEXT COMMAND...: the exit status and a message.
expect_err() {
	_st=$1 _txt=$2
	shift 2
	"$peer" "$@" >"$tmp/err.out" 2>"$tmp/err.txt"
	_rc=$?
	check "$_st" "$_rc" "exit status of $*"
	if ! grep -q -- "$_txt" "$tmp/err.txt"; then
		echo "FAIL $*: no \"$_txt\" in: $(cat "$tmp/err.txt")"
		fail=1
	fi
}

# What a tree is, without times: type, mode, size, name, link target,
# and the sha256 of every regular file.
shape() {
	(cd "$1" && find . -printf '%y %m %s %p -> %l\n' | grep -v '^d' |
	    sort && find . -type d -printf '%y %m %p\n' | sort &&
	    find . -type f -print0 | sort -z | xargs -0r sha256sum)
}

same_trees() {
	shape "$tree" >"$tmp/shape.tree"
	shape "$ref" >"$tmp/shape.ref"
	if ! cmp -s "$tmp/shape.tree" "$tmp/shape.ref"; then
		echo "FAIL trees differ after $1:"
		diff "$tmp/shape.ref" "$tmp/shape.tree" | head -20
		fail=1
	fi
}

# --- listings and attributes ---------------------------------------------
check "$(ls -1 "$tree")" "$("$peer" ls "$R")" "ls of the root"
check "$(ls -1 "$tree/dir")" "$("$peer" ls "$R/dir")" "ls dir"
check "hello.txt" "$("$peer" ls "$R/hello.txt")" "ls of a file"
for d in "" /dir /dir/sub; do
	want=$(cd "$tree$d" && ls -ln --time-style=+%Y-%m-%d\ %H:%M |
	    sed 1d | tr -s ' ')
	got=$("$peer" ls -l "$R$d" | tr -s ' ')
	check "$want" "$got" "ls -l $d"
done
want=$(cd "$tree" && ls -R1 . | sed 1d)
got=$("$peer" ls -R "$R" | sed -n '2,$p' | sed "s|^$R/\(.*\):\$|./\1:|")
check "$want" "$got" "ls -R"
for f in hello.txt dir dir/sub link "dir/a:b c" zero; do
	"$peer" stat "$R/$f" >"$tmp/stat" || { echo "FAIL stat $f"; fail=1; }
	got=$(sed -n 's/^\(size\|links\|inode\|uid\|gid\): //p;
	    s/^mode: \([0-7]*\) .*/\1/p' "$tmp/stat" | tr '\n' ' ')
	want=$(stat -c '%a %s %h %i %u %g ' "$tree/$f" | sed 's/^/0/;
	    s/^00*\([0-7]\{4\}\)/\1/')
	check "$want" "$got" "stat $f (mode size links inode uid gid)"
	got=$(sed -n 's/^modify: .*(\(.*\))$/\1/p' "$tmp/stat")
	check "$(stat -c %.9Y "$tree/$f" | tr -d .)" "$got" "stat $f mtime"
done
check "target: hello.txt" "$("$peer" stat "$R/link" | grep '^target')" \
    "stat of a symlink names its target"
set -- $("$peer" df "$R" | sed -n 2p)
check "$(stat -f -c '%b %S' "$tree" | awk '{ print int($1 * $2 / 1024) }')" \
    "$2" "df 1K-blocks"

# --- reading ----------------------------------------------------------------
for f in zero hello.txt big dir/r1 dir/r32767 dir/r32768 dir/r32769 \
    dir/r1048575 dir/r1048577 "dir/a:b c"; do
	"$peer" cat "$R/$f" >"$out/cat" || { echo "FAIL cat $f"; fail=1; }
	cmp -s "$tree/$f" "$out/cat" || { echo "FAIL cat $f: differs"; fail=1; }
	rm -f "$out/got"
	"$peer" get "$R/$f" "$out/got" || { echo "FAIL get $f"; fail=1; }
	cmp -s "$tree/$f" "$out/got" || { echo "FAIL get $f: differs"; fail=1; }
done
# To a pipe (written in order), to an O_APPEND file, to a directory.
check "$(sha256sum <"$tree/big")" "$("$peer" cat "$R/big" | sha256sum)" \
    "cat to a pipe"
printf 'head\n' >"$out/app"
"$peer" cat "$R/big" >>"$out/app"
check "$( (printf 'head\n'; cat "$tree/big") | sha256sum)" \
    "$(sha256sum <"$out/app")" "cat >> (O_APPEND)"
"$peer" get "$R/hello.txt" "$out" && cmp -s "$tree/hello.txt" \
    "$out/hello.txt" || { echo "FAIL get into a directory"; fail=1; }
check "640" "$(stat -c %a "$out/hello.txt")" "get keeps the mode"

# --- errors -------------------------------------------------------------------
expect_err 1 "get $R/nope: No such file or directory" get "$R/nope" "$out/x"
expect_err 1 "cat $R/dir: Is a directory" cat "$R/dir"
expect_err 1 "a directory (get -r)" get "$R/dir" "$out/x"
expect_err 1 "rm $R/dir: Is a directory" rm "$R/dir"
expect_err 1 "rmdir $R/dir: Directory not empty" rmdir "$R/dir"
expect_err 1 "mkdir $R/dir: File exists" mkdir "$R/dir"
expect_err 1 "No such file or directory" ls "$R/nope/deeper/still"
expect_err 1 "Not a directory" ls "$R/hello.txt/x"
expect_err 1 "Read-only file system" mkdir "unix:$tmp/s:ro/newdir"
expect_err 3 "No such file or directory" ls "unix:$tmp/s:nosuch"
expect_err 3 "" ls "unix:$tmp/nosocket:home"
expect_err 2 "not a remote path" ls "$tmp"
expect_err 2 "no ':' after the socket" ls "unix:$tmp/s"
expect_err 2 "no export name" ls "unix:$tmp/s:"
expect_err 2 "too few arguments" get "$R/big"
# One failure among several: the others are still done, status 1.
"$peer" cat "$R/hello.txt" "$R/nope" "$R/zero" >"$out/two" 2>/dev/null
check 1 "$?" "cat with one missing file"
cmp -s "$tree/hello.txt" "$out/two" || { echo "FAIL cat went on"; fail=1; }
same_trees "reading"

# --- writing, each done on both trees ---------------------------------------
head -c 2500000 /dev/urandom >"$tmp/up"
"$peer" put "$tmp/up" "$R/dir/up" && cp "$tmp/up" "$ref/dir/up" ||
	{ echo "FAIL put"; fail=1; }
"$peer" put "$tmp/up" "$R/empty" && cp "$tmp/up" "$ref/empty/up" ||
	{ echo "FAIL put into a directory"; fail=1; }
: >"$tmp/zero-up"
"$peer" put "$tmp/zero-up" "$R/zero-up" && cp "$tmp/zero-up" "$ref/" ||
	{ echo "FAIL put of an empty file"; fail=1; }
# Over an existing, longer file: truncated.
"$peer" put "$tree/hello.txt" "$R/big" && cp "$tree/hello.txt" "$ref/big" ||
	{ echo "FAIL put over a file"; fail=1; }
same_trees "put"

"$peer" cp "$R/dir/r1048577" "$R/copy" &&
    cp "$ref/dir/r1048577" "$ref/copy" || { echo "FAIL cp"; fail=1; }
"$peer" cp -r "$R/dir" "$R/dircopy" && cp -r "$ref/dir" "$ref/dircopy" ||
	{ echo "FAIL cp -r"; fail=1; }
"$peer" cp "$R/hello.txt" "$R/empty" && cp "$ref/hello.txt" "$ref/empty/" ||
	{ echo "FAIL cp into a directory"; fail=1; }
same_trees "cp"
# A server-side copy: no DATA byte crosses; a put or get: every byte once.
"$peer" cp -v "$R/dir/r1048577" "$R/copy2" 2>"$tmp/counts" &&
    cp "$ref/dir/r1048577" "$ref/copy2" || { echo "FAIL cp -v"; fail=1; }
check "data sent 0 bytes, received 0 bytes" \
    "$(sed -n 's/.*: \(data .*\)/\1/p' "$tmp/counts")" "cp moves no data"
"$peer" get -v "$R/dir/r1048577" "$out/counted" 2>"$tmp/counts"
check "data sent 0 bytes, received 1048577 bytes" \
    "$(sed -n 's/.*: \(data .*\)/\1/p' "$tmp/counts")" "get counts"
# By reference: the server fetches the bytes with CACHE_READ from us.
"$peer" put --ref -v "$tmp/up" "$R/byref" 2>"$tmp/counts" &&
    cp "$tmp/up" "$ref/byref" || { echo "FAIL put --ref"; fail=1; }
check "data sent 2500000 bytes, received 0 bytes" \
    "$(sed -n 's/.*: \(data .*\)/\1/p' "$tmp/counts")" "put --ref counts"
"$peer" put -r --ref "$tree/dir" "$R/refdir" && cp -r "$ref/dir" \
    "$ref/refdir" || { echo "FAIL put -r --ref"; fail=1; }
same_trees "put --ref"

"$peer" mv "$R/copy" "$R/moved" && mv "$ref/copy" "$ref/moved" ||
	{ echo "FAIL mv"; fail=1; }
"$peer" mv "$R/moved" "$R/dir/sub" && mv "$ref/moved" "$ref/dir/sub/" ||
	{ echo "FAIL mv into a directory"; fail=1; }
"$peer" mv "$R/dircopy" "$R/dirmoved" && mv "$ref/dircopy" "$ref/dirmoved" ||
	{ echo "FAIL mv of a directory"; fail=1; }
same_trees "mv"

"$peer" mkdir -p "$R/p/q/r" && mkdir -p "$ref/p/q/r" ||
	{ echo "FAIL mkdir -p"; fail=1; }
"$peer" mkdir -p "$R/p/q" || { echo "FAIL mkdir -p of one there"; fail=1; }
"$peer" mkdir "$R/m1" "$R/m2" && mkdir "$ref/m1" "$ref/m2" ||
	{ echo "FAIL mkdir"; fail=1; }
"$peer" rmdir "$R/m2" && rmdir "$ref/m2" || { echo "FAIL rmdir"; fail=1; }
"$peer" ln -s "../hello.txt" "$R/p/sym" && ln -s ../hello.txt "$ref/p/sym" ||
	{ echo "FAIL ln -s"; fail=1; }
"$peer" ln "$R/hello.txt" "$R/hard" && ln "$ref/hello.txt" "$ref/hard" ||
	{ echo "FAIL ln"; fail=1; }
check "$(stat -c %i "$tree/hello.txt")" "$(stat -c %i "$tree/hard")" \
    "ln makes a hard link"
"$peer" ln "dir/sub/deep" "$R/m1" && ln "$ref/dir/sub/deep" "$ref/m1/" ||
	{ echo "FAIL ln into a directory"; fail=1; }
"$peer" rm "$R/zero-up" "$R/link" && rm "$ref/zero-up" "$ref/link" ||
	{ echo "FAIL rm"; fail=1; }
"$peer" rm -r "$R/dirmoved" "$R/p" && rm -r "$ref/dirmoved" "$ref/p" ||
	{ echo "FAIL rm -r"; fail=1; }
same_trees "mkdir, rmdir, ln, rm"
expect_err 1 "File exists" ln -s x "$R/hard"
expect_err 1 "Invalid cross-device link" mv "$R/hard" "unix:$tmp/s:ro/x"

# --- recursive get of the whole export, then put of a big tree ------------
"$peer" get -r "$R" "$out/all" || { echo "FAIL get -r"; fail=1; }
shape "$out/all" >"$tmp/shape.got"
shape "$tree" >"$tmp/shape.tree"
cmp -s "$tmp/shape.tree" "$tmp/shape.got" ||
	{ echo "FAIL get -r: the copy differs"; diff "$tmp/shape.tree" \
	    "$tmp/shape.got" | head; fail=1; }

docs=/usr/share/doc
if [ -d "$docs" ]; then
	(cd "$docs" && find . -type f -readable -print0 | sort -z |
	    xargs -0r sha256sum) >"$tmp/doc.sums"
	(cd "$docs" && find . -type l -printf '%p -> %l\n' | sort) \
	    >"$tmp/doc.links"
	t0=$(date +%s)
	"$peer" put -r "$docs" "$R/doc" || { echo "FAIL put -r $docs"; fail=1; }
	t1=$(date +%s)
	(cd "$tree/doc" && sha256sum -c --quiet "$tmp/doc.sums") ||
	    { echo "FAIL put -r: contents differ"; fail=1; }
	check "$(cat "$tmp/doc.links")" "$(cd "$tree/doc" &&
	    find . -type l -printf '%p -> %l\n' | sort)" "put -r: symlinks"
	"$peer" get -r "$R/doc" "$out/doc" || { echo "FAIL get -r doc"; fail=1; }
	t2=$(date +%s)
	(cd "$out/doc" && sha256sum -c --quiet "$tmp/doc.sums") ||
	    { echo "FAIL get -r: contents differ"; fail=1; }
	check "$(cat "$tmp/doc.links")" "$(cd "$out/doc" &&
	    find . -type l -printf '%p -> %l\n' | sort)" "get -r: symlinks"
	echo "$docs: $(wc -l <"$tmp/doc.sums") files, put -r $((t1 - t0)) s," \
	    "get -r $((t2 - t1)) s"
fi

# The server lived through all of it.
kill -0 "$bg_pid" 2>/dev/null || { echo "FAIL the server died";
	cat "$tmp/server.log"; fail=1; }
[ "$fail" -eq 0 ] && echo "vfs_client: all checks passed"
exit "$fail"
