#!/bin/sh
# bench/vfs.sh BUILD_DIR [fsio] [vfs] - the file server's work, measured
# two ways, every figure of a table from the same run:
#
# fsio: how msgpeer serve should run file system calls off its event
# loop. bench/fsio.c (built here, with -luring) reads a page-cached
# file, the same file cold-ish (posix_fadvise DONTNEED before each
# pass), and fstatat(2)s the files of a directory (one a hand-off, and
# BENCH_FSIO_STAT_GROUP a hand-off), with a loop thread
# keeping BENCH_FSIO_DEPTH calls in flight and waiting only in
# epoll_wait(2) on an eventfd, as a server's loop does: inline (the loop
# thread makes every call itself, one at a time: the floor), pool
# (worker threads take the calls from a queue and hand the results back
# through the eventfd; "eventfd each": every completion writes it, as
# libproto/loop/pool.c does, where otherwise only the one that finds
# the completion list empty does), uring (io_uring with the eventfd registered) and
# uring-async (the same, every SQE IOSQE_ASYNC).
# Figures: throughput over wall time, CPU time of the whole process
# (io_uring's kernel workers included), latency of a call from hand-off
# to its result in the loop thread.
#
# vfs: msgpeer's VFS against what a user would otherwise run, on the
# same files in one temporary directory (one file system), page cache
# warmed, over a unix socket: `msgpeer get` beside `cat FILE
# >/dev/null` and `sftp -D sftp-server -b BATCH` (get); `msgpeer put`
# beside a local `cat SRC >DST` and sftp's put; `msgpeer ls -l` of a
# directory of BENCH_VFS_FILES files beside sftp's `ls -l` (and a local
# `ls -l`); `msgpeer cp` within one export beside a local `cp`; and the
# memory of msgpeer serve per open file link (bench_vfslinks). Every
# run of msgpeer has a fresh `msgpeer serve` under timeit too: its CPU
# time counts with the client's. sftp's counts sftp-server's (its
# child, waited for). What msgpeer cannot do yet is said ("not
# measured: ...") and skipped.
#
# The figures are the best of BENCH_REPS runs, the programs taking turns
# in every round: the least wall time (what a user waits for; the aims
# are on it) and the least CPU time (what it costs the machine). Aims,
# PASS or MISS (a report, not a test: the exit status is 0 either way;
# non-zero only when something could not be measured):
#   read:     msgpeer get >= 2 x sftp and >= 0.5 x cat (GB/s, wall)
#   metadata: msgpeer ls -l >= 2 x sftp ls -l (entries/s, wall)
#
# Writes its tables and their explanations to BUILD_DIR/bench/fsio.md
# and BUILD_DIR/bench/vfs.md (bench/run.sh puts them in its report).
#
# Environment:
#   BENCH_REPS          runs of each program (5)
#   BENCH_VFS_SIZE      bytes of the big file, N[kmg] (1g)
#   BENCH_VFS_FILES     files in the directory of the stat runs (10000)
#   BENCH_VFS_LINKS     open file links of the memory run (4000; the
#                       server holds at most 4096 a session)
#   BENCH_FSIO_DEPTH    calls in flight (16)
#   BENCH_FSIO_BLOCKS   read sizes ("32768 1048576")
#   BENCH_FSIO_THREADS  pool sizes to measure ("4 16")
#   BENCH_FSIO_PASSES   passes over the page-cached file in one run (4)
#   BENCH_FSIO_STAT_PASSES  passes over the directory in one run (10)
#   BENCH_FSIO_STAT_GROUP   files stat'ed in one hand-off in the grouped
#                       stat runs (64), as a READDIR with attributes
#                       could (pool and inline: io_uring has one statx
#                       an SQE)
#   CC                  compiler (cc)
#
# The functions are called through names, which shellcheck cannot
# follow:
# shellcheck disable=SC2317
# compare sets wall_FUNCTION variables through eval:
# shellcheck disable=SC2154
set -eu

B=${1:-build}
[ $# -eq 0 ] || shift
PARTS=${*:-fsio vfs}
REPS=${BENCH_REPS:-5}
SIZE_ARG=${BENCH_VFS_SIZE:-1g}
NFILES=${BENCH_VFS_FILES:-10000}
NLINKS=${BENCH_VFS_LINKS:-4000}
DEPTH=${BENCH_FSIO_DEPTH:-16}
BLOCKS=${BENCH_FSIO_BLOCKS:-32768 1048576}
THREADS=${BENCH_FSIO_THREADS:-4 16}
PASSES=${BENCH_FSIO_PASSES:-4}
STAT_PASSES=${BENCH_FSIO_STAT_PASSES:-10}
STAT_GROUP=${BENCH_FSIO_STAT_GROUP:-64}
CC=${CC:-cc}
SFTP_SERVER=/usr/lib/openssh/sftp-server
# Longest a single run may take, in seconds.
RUN_LIMIT=300

# Aims.
READ_SFTP_AIM=2		# msgpeer get GB/s over sftp get's
READ_CAT_AIM=0.5	# msgpeer get GB/s over cat's
META_SFTP_AIM=2		# msgpeer ls -l entries/s over sftp ls -l's

TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
OUT=$B/bench
TIMEIT=$OUT/bench_decode
FSIO=$OUT/fsio
LINKS_BIN=$OUT/bench_vfslinks
PEER=$B/bin/msgpeer

die() {
	echo "vfs.sh: $*" >&2
	exit 1
}

note() {
	echo "vfs.sh: $*" >&2
}

# N, Nk, Nm or Ng as bytes.
to_bytes() {
	case "$1" in
	''|*[!0-9kKmMgG]*|*[kKmMgG]?*|[!0-9]*)
		die "BENCH_VFS_SIZE $1: N, Nk, Nm or Ng" ;;
	*[kK]) echo $(( ${1%?} * 1024 )) ;;
	*[mM]) echo $(( ${1%?} * 1048576 )) ;;
	*[gG]) echo $(( ${1%?} * 1073741824 )) ;;
	*) echo "$1" ;;
	esac
}
SIZE=$(to_bytes "$SIZE_ARG")
[ "$SIZE" -gt 0 ] || die "BENCH_VFS_SIZE must be more than 0"

for p in $PARTS; do
	case "$p" in
	fsio|vfs) ;;
	*) die "$p: the parts are fsio and vfs" ;;
	esac
done

# --- building -------------------------------------------------------------

# The build's flags (Makefile: CSTD, WARN, OPT), as bench/run.sh's.
bench_cc() {
	$CC -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
	    -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wvla \
	    -O2 -g -I. -Ilibproto -I"$B/gen" "$@"
}

build() {
	mkdir -p "$OUT"
	# liburing is for this program only: nothing else links it.
	bench_cc -o "$FSIO" bench/fsio.c -luring -lpthread ||
	    die "cannot build $FSIO (liburing-dev: mk/deps.sh build)"
	case " $PARTS " in *" vfs "*) ;; *) return 0 ;; esac
	case "$B" in
	*san*)	note "warning: $B is a sanitizer build;" \
		    "its figures mean nothing" ;;
	*)	make -s O="$B" "$B/lib/libproto.a" ||
		    die "cannot build $B/lib/libproto.a" ;;
	esac
	[ -f "$B/lib/libproto.a" ] || die "no $B/lib/libproto.a"
	bench_cc -o "$TIMEIT" bench/bench_decode.c "$B/lib/libproto.a" \
	    -lpthread || die "cannot build $TIMEIT"
	# The session layer's AUTH feature needs libcrypto's HMAC.
	if ! bench_cc -o "$LINKS_BIN" bench/bench_vfslinks.c \
	    "$B/lib/libproto.a" -lcrypto -lpthread; then
		note "cannot build $LINKS_BIN: no memory figures"
		rm -f "$LINKS_BIN"
	fi
}

# --- helpers (as bench/run.sh's) -------------------------------------------

# The value of key=value in a line of figures.
field() {	# FILE KEY
	tr ' ' '\n' < "$1" | sed -n "s/^$2=//p"
}

timeit() {	# TIMES CMD...
	"$TIMEIT" time "$@"
}

median_of() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR % 2) print v[(NR + 1) / 2]
		else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# The least of a column of FILE; or, with OUTCOLUMN, that column of
# the same line.
least() {	# FILE COLUMN [OUTCOLUMN]
	sort -g -k"$2" "$1" | awk -v c="${3:-$2}" 'NR == 1 { print $c }'
}

# The file system and the memory must hold what the runs make: NEED
# bytes on the disk, and MEM bytes in the page cache beside what is
# there.
check_room() {	# NEED MEM
	avail_disk=$(df -Pk "$TMPD" | awk 'NR == 2 { print $4 * 1024 }')
	avail_mem=$(awk '/^MemAvailable:/ { print $2 * 1024 }' /proc/meminfo)
	lack=$(awk -v need="$1" -v mem="$2" -v d="$avail_disk" \
	    -v m="$avail_mem" 'BEGIN {
		if (need * 1.2 > d) { print "disk"; exit }
		if (mem * 1.5 > m) { print "memory"; exit }
	}')
	[ -z "$lack" ] || die "not enough $lack for $SIZE-byte files:" \
	    "set BENCH_VFS_SIZE lower"
}

TMPD=
PIDS=

cleanup() {
	if [ -n "$PIDS" ] && [ -f "$PIDS" ]; then
		while read -r p; do
			kill_tree "$p"
		done < "$PIDS"
	fi
	[ -z "$TMPD" ] || rm -rf "$TMPD"
}

# The children of a process, then itself: by process id, nothing else.
kill_tree() {
	# shellcheck disable=SC2013
	for c in $(cat "/proc/$1/task/$1/children" 2>/dev/null); do
		kill "$c" 2>/dev/null || true
	done
	kill "$1" 2>/dev/null || true
}

make_tmpd() {
	[ -z "$TMPD" ] || return 0
	TMPD=$(mktemp -d "${TMPDIR:-/tmp}/msgkit-vfs.XXXXXX") ||
	    die "cannot make a temporary directory"
	PIDS=$TMPD/pids
	: > "$PIDS"
	trap cleanup EXIT
	trap 'exit 1' INT TERM HUP
}

# The files both parts use, made once: the big file and the directory
# of small ones, in the export; the source of the put runs beside it.
make_files() {
	[ ! -f "$TMPD/export/big" ] || return 0
	mkdir -p "$TMPD/export"
	note "making $TMPD/export/big ($SIZE bytes), $NFILES files"
	"$FSIO" mkfile "$TMPD/export/big" "$SIZE" ||
	    die "cannot make the big file"
	"$FSIO" mkdir "$TMPD/export/dir" "$NFILES" ||
	    die "cannot make the directory"
}

# --- fsio -------------------------------------------------------------------

# fsio_config NAME UNIT "COMMAND OPTIONS" "OPERANDS": `fsio COMMAND
# OPTIONS MODE OPERANDS` for every mode of $FSIO_MODES, in turn, REPS
# rounds; one row each. UNIT: GB (bytes) or calls.
fsio_config() {
	fc_name=$1 fc_unit=$2 fc_cmd=$3 fc_args=$4
	for m in $FSIO_MODES; do
		: > "$OUT/fsio.$fc_name.$m"
	done
	i=1
	while [ "$i" -le "$REPS" ]; do
		for m in $FSIO_MODES; do
			mode=${m%%:*}
			t=1
			[ "$mode" = "$m" ] || t=${m#*:}
			w=
			[ "$mode" != poolw ] || { mode=pool; w=-w; }
			f=$OUT/fsio.$fc_name.$m.out.$i
			# shellcheck disable=SC2086 # the words are meant
			timeout "$RUN_LIMIT" "$FSIO" $fc_cmd $w -d "$DEPTH" \
			    -t "$t" "$mode" $fc_args > "$f" ||
			    die "fsio $fc_cmd $mode $fc_args failed"
			echo "$(field "$f" wall) $(field "$f" cpu) $i" \
			    >> "$OUT/fsio.$fc_name.$m"
		done
		i=$((i + 1))
	done
	for m in $FSIO_MODES; do
		runs=$OUT/fsio.$fc_name.$m
		f=$OUT/fsio.$fc_name.$m.out.1
		wall=$(least "$runs" 1)
		cpu=$(least "$runs" 2)
		p50=$(for i in $(seq "$REPS"); do
			field "$OUT/fsio.$fc_name.$m.out.$i" p50; done |
		    median_of)
		p99=$(for i in $(seq "$REPS"); do
			field "$OUT/fsio.$fc_name.$m.out.$i" p99; done |
		    median_of)
		vcsw=$(for i in $(seq "$REPS"); do
			field "$OUT/fsio.$fc_name.$m.out.$i" vcsw; done |
		    median_of)
		# The loop thread's share of the run with the least CPU time.
		lcpu=$(field "$OUT/fsio.$fc_name.$m.out.$(least "$runs" 2 3)" \
		    loop_cpu)
		stall=$(for i in $(seq "$REPS"); do
			field "$OUT/fsio.$fc_name.$m.out.$i" loop_stall; done |
		    median_of)
		awk -v name="$fc_name" -v m="$m" -v unit="$fc_unit" \
		    -v calls="$(field "$f" calls)" \
		    -v bytes="$(field "$f" bytes)" -v wall="$wall" \
		    -v cpu="$cpu" -v p50="$p50" -v p99="$p99" -v vcsw="$vcsw" \
		    -v lcpu="$lcpu" -v stall="$stall" 'BEGIN {
			if (sub(/^poolw:/, "pool x", m))
				m = m ", eventfd each"
			sub(/:/, " x", m)
			if (unit == "GB")
				printf "| %s | %s | %d | %.3f | %.2f GB/s |" \
				    " %.3f | %.2f GB |", name, m, calls, wall,
				    bytes / wall / 1e9, cpu, bytes / cpu / 1e9
			else
				printf "| %s | %s | %d | %.3f | %.0fk/s |" \
				    " %.3f | %.0fk |", name, m, calls, wall,
				    calls / wall / 1e3, cpu, calls / cpu / 1e3
			printf " %.3f | %.0f | %.1f | %.1f | %.0f |\n", lcpu,
			    stall, p50, p99, vcsw / calls * 1000
		}' | tee -a "$FSIO_TABLE"
	done
}

part_fsio() {
	make_tmpd
	make_files
	FSIO_MODES=inline
	for t in $THREADS; do
		FSIO_MODES="$FSIO_MODES pool:$t"
	done
	# The first pool again, the eventfd written for every completion.
	FSIO_MODES="$FSIO_MODES poolw:${THREADS%% *}"
	FSIO_MODES="$FSIO_MODES uring uring-async"
	FSIO_TABLE=$OUT/table-fsio.txt
	{
		echo "| workload | mode | calls | wall s |" \
		    "throughput (wall) | CPU s | per CPU s |" \
		    "loop thread CPU s | longest loop stall us | p50 us |" \
		    "p99 us | switches per 1000 calls |"
		echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
	} > "$FSIO_TABLE"
	big=$TMPD/export/big
	cat "$big" > /dev/null
	for b in $BLOCKS; do
		fsio_config "read cached, $((b / 1024)) KiB x$PASSES" GB \
		    "read -b $b -p $PASSES" "$big"
	done
	fsio_config "stat $NFILES files x$STAT_PASSES" calls \
	    "stat -p $STAT_PASSES" "$TMPD/export/dir $NFILES"
	# io_uring has no grouped statx: one SQE a file, as above.
	all_modes=$FSIO_MODES
	FSIO_MODES=$(echo "$FSIO_MODES" | sed 's/ uring.*//')
	fsio_config "stat $NFILES files x$STAT_PASSES, $STAT_GROUP a hand-off" \
	    calls "stat -g $STAT_GROUP -p $STAT_PASSES" \
	    "$TMPD/export/dir $NFILES"
	FSIO_MODES=$all_modes
	for b in $BLOCKS; do
		fsio_config "read cold, $((b / 1024)) KiB" GB \
		    "read -c -b $b -p 1" "$big"
	done
	# The cold runs dropped it.
	cat "$big" > /dev/null
	{
		echo "bench/fsio.c, $(machine); a loop thread with" \
		    "$DEPTH calls in flight (inline: 1), $REPS rounds of" \
		    "every mode in turn. Throughput over the least wall time" \
		    "of the rounds, CPU s the least CPU time (user + system" \
		    "of every thread of the process, io_uring's workers" \
		    "included), per CPU s = bytes or calls over it; loop" \
		    "thread CPU s: the loop thread's own, in the run of the" \
		    "least CPU time; longest" \
		    "loop stall: the longest stretch the loop thread spent" \
		    "out of epoll_wait, handing off and taking results" \
		    "(median over the rounds of each round's longest): what" \
		    "a server's other sessions wait at worst; p50, p99:" \
		    "latency of a call, from hand-off to its result in the" \
		    "loop thread, medians over the rounds; switches:" \
		    "voluntary context switches of the process (median) per" \
		    "1000 calls. Cold: POSIX_FADV_DONTNEED before the pass." \
		    "\"$STAT_GROUP a hand-off\": $STAT_GROUP fstatat(2)s in" \
		    "one job (fsio stat -g), latency per job." \
		    "GB = 1e9 bytes."
		echo
		cat "$FSIO_TABLE"
	} > "$OUT/fsio.md"
}

# --- vfs --------------------------------------------------------------------

# start_server TIMES CMD...: CMD in the background under timeit; sets
# srv_tpid (timeit's pid) and srv_times.
start_server() {
	srv_times=$1
	shift
	rm -f "$srv_times"
	"$TIMEIT" time "$srv_times" "$@" &
	srv_tpid=$!
	echo "$srv_tpid" >> "$PIDS"
}

# The server proper: timeit's child.
server_pid() {
	i=0
	while [ "$i" -lt 100 ]; do
		p=$(awk '{ print $1 }' \
		    "/proc/$srv_tpid/task/$srv_tpid/children" 2>/dev/null ||
		    true)
		if [ -n "$p" ]; then
			echo "$p"
			return 0
		fi
		sleep 0.05
		i=$((i + 1))
	done
	die "the server did not start"
}

wait_sock() {
	i=0
	while [ ! -S "$1" ]; do
		[ "$i" -lt 100 ] || die "no socket $1 after 5 s"
		kill -0 "$srv_tpid" 2>/dev/null || die "the server for $1 died"
		sleep 0.05
		i=$((i + 1))
	done
	sleep 0.05
}

stop_server() {
	kill "$(server_pid)" 2>/dev/null || true
	i=0
	while kill -0 "$srv_tpid" 2>/dev/null; do
		if [ "$i" -ge 200 ]; then
			kill_tree "$srv_tpid"
			die "the server did not end"
		fi
		sleep 0.05
		i=$((i + 1))
	done
	wait "$srv_tpid" || die "the server failed"
	[ -s "$srv_times" ] || die "no times from the server"
}

# Both sides in one times file: the client's wall time, the CPU time of
# client and server.
add_server() {	# TIMES
	awk -v w="$(field "$1" wall)" -v c="$(field "$1" cpu)" \
	    -v s="$(field "$srv_times" cpu)" 'BEGIN {
		printf "wall=%s cpu=%.6f client_cpu=%s server_cpu=%s\n",
		    w, c + s, c, s
	}' > "$1.tmp" && mv "$1.tmp" "$1"
}

# A fresh msgpeer serve exporting $TMPD/export as home, on $sock;
# $REMOTE names the export (ADDR:EXPORT).
peer_up() {
	rm -f "$sock"
	start_server "$TMPD/server.times" "$PEER" serve -q \
	    --listen "unix:$sock" --export "home=$TMPD/export"
	wait_sock "$sock"
}

# peer_run TIMES ARGS...: `msgpeer ARGS` against a fresh server, both
# timed.
peer_run() {
	pr_times=$1
	shift
	peer_up
	timeit "$pr_times" timeout "$RUN_LIMIT" "$PEER" "$@" || return 1
	stop_server
	add_server "$pr_times"
}

sftp_batch() {	# TIMES BATCH-LINE
	printf '%s\n' "$2" > "$TMPD/batch"
	timeit "$1" timeout "$RUN_LIMIT" sftp -D "$SFTP_SERVER" \
	    -b "$TMPD/batch" > /dev/null
}

# The programs of the four comparisons, each a function of the times
# file; what they leave behind, the next round's run removes first.
read_cat() {
	timeit "$1" cat "$TMPD/export/big" > /dev/null
}
read_sftp() {
	sftp_batch "$1" "get $TMPD/export/big /dev/null"
}
read_msgpeer() {
	peer_run "$1" get "$REMOTE/big" /dev/null > /dev/null
}
write_cat() {
	rm -f "$TMPD/export/put"
	# shellcheck disable=SC2016 # sh -c expands them
	timeit "$1" sh -c 'cat "$1" > "$2"' sh "$TMPD/src" \
	    "$TMPD/export/put"
}
write_sftp() {
	rm -f "$TMPD/export/put"
	sftp_batch "$1" "put $TMPD/src $TMPD/export/put"
}
write_msgpeer() {
	rm -f "$TMPD/export/put"
	peer_run "$1" put "$TMPD/src" "$REMOTE/put" > /dev/null
}
meta_ls() {
	timeit "$1" ls -l "$TMPD/export/dir" > /dev/null
}
meta_sftp() {
	sftp_batch "$1" "ls -l $TMPD/export/dir"
}
meta_msgpeer() {
	peer_run "$1" ls -l "$REMOTE/dir" > /dev/null
}
copy_cp() {
	rm -f "$TMPD/export/copy"
	timeit "$1" cp "$TMPD/export/big" "$TMPD/export/copy"
}
copy_msgpeer() {
	rm -f "$TMPD/export/copy"
	peer_run "$1" cp "$REMOTE/big" "$REMOTE/copy" > /dev/null
}

# What msgpeer can do, from its usage: "" or why not. serve: serve
# --export.
peer_lacks() {	# COMMAND
	[ -x "$PEER" ] || { echo "no $PEER (make O=$B)"; return 0; }
	u=$("$PEER" --help 2>&1 || true)
	case "$u" in
	*"--export"*) ;;
	*) echo "msgpeer serve has no --export"; return 0 ;;
	esac
	[ "$1" != serve ] || return 0
	case "$u" in
	*"msgpeer $1 "*) ;;
	*) echo "msgpeer has no $1" ;;
	esac
}

# compare NAME UNIT AMOUNT FUNCTION...: the functions in turn, REPS
# rounds; then a row each: UNIT is GB (AMOUNT bytes) or entries.
compare() {
	c_name=$1 c_unit=$2 c_amount=$3
	shift 3
	for f in "$@"; do
		: > "$OUT/vfs.$c_name.$f"
	done
	i=1
	while [ "$i" -le "$REPS" ]; do
		for f in "$@"; do
			t=$OUT/vfs.$c_name.times
			# A subshell: the servers' helpers have counters.
			( "$f" "$t" ) || die "$c_name: $f failed"
			echo "$(field "$t" wall) $(field "$t" cpu) $i" \
			    >> "$OUT/vfs.$c_name.$f"
		done
		i=$((i + 1))
	done
	# The first function is the baseline of the ratios.
	base_wall=$(least "$OUT/vfs.$c_name.$1" 1)
	for f in "$@"; do
		wall=$(least "$OUT/vfs.$c_name.$f" 1)
		cpu=$(least "$OUT/vfs.$c_name.$f" 2)
		eval "wall_$f=\$wall"
		awk -v name="$c_name" -v prog="$(label "$f")" \
		    -v unit="$c_unit" \
		    -v n="$c_amount" -v wall="$wall" -v cpu="$cpu" \
		    -v bw="$base_wall" -v base="$(label "$1")" 'BEGIN {
			if (unit == "GB")
				printf "| %s | %s | %.0f B | %.3f |" \
				    " %.2f GB/s | %.3f | %.2f GB |", name,
				    prog, n, wall, n / wall / 1e9, cpu,
				    n / cpu / 1e9
			else
				printf "| %s | %s | %d entries | %.3f |" \
				    " %.0fk/s | %.3f | %.0fk |", name, prog,
				    n, wall, n / wall / 1e3, cpu,
				    n / cpu / 1e3
			printf " %.2f |\n", bw / wall
		}' | tee -a "$VFS_TABLE"
	done
}

label() {
	case "$1" in
	read_cat) echo "cat FILE >/dev/null" ;;
	read_sftp) echo "sftp get" ;;
	read_msgpeer) echo "msgpeer get" ;;
	write_cat) echo "cat SRC >FILE" ;;
	write_sftp) echo "sftp put" ;;
	write_msgpeer) echo "msgpeer put" ;;
	meta_ls) echo "ls -l DIR >/dev/null" ;;
	meta_sftp) echo "sftp ls -l" ;;
	meta_msgpeer) echo "msgpeer ls -l" ;;
	copy_cp) echo "cp" ;;
	copy_msgpeer) echo "msgpeer cp" ;;
	esac
}

# aim WHAT SUBJECT BASE AIM: a line of the aims table from two least
# wall times (same work: the ratio of throughputs).
aim() {
	awk -v what="$1" -v s="$2" -v b="$3" -v aim="$4" 'BEGIN {
		r = b / s
		printf "| %s | %.2f | >= %s | %s |\n", what, r, aim,
		    (r >= aim ? "PASS" : "MISS")
	}' | tee -a "$AIM_TABLE"
}

not_measured() {	# WHAT WHY
	echo "| $1 | - | - | not measured: $2 |" | tee -a "$AIM_TABLE"
	note "$1: not measured: $2"
}

part_vfs() {
	make_tmpd
	make_files
	command -v sftp > /dev/null ||
	    die "no sftp (openssh-client: mk/deps.sh test)"
	[ -x "$SFTP_SERVER" ] ||
	    die "no $SFTP_SERVER (openssh-sftp-server: mk/deps.sh test)"
	VFS_TABLE=$OUT/table-vfs.txt
	AIM_TABLE=$OUT/table-vfs-aims.txt
	MEM_TABLE=$OUT/table-vfs-memory.txt
	sock=$TMPD/peer.sock
	REMOTE=unix:$sock:home
	{
		echo "| work | program | amount | wall s |" \
		    "throughput (wall) | CPU s | per CPU s |" \
		    "ratio to the first (wall) |"
		echo "|---|---|---|---|---|---|---|---|"
	} > "$VFS_TABLE"
	{
		echo "| aim | ratio | target | result |"
		echo "|---|---|---|---|"
	} > "$AIM_TABLE"
	: > "$MEM_TABLE"
	"$FSIO" mkfile "$TMPD/src" "$SIZE" || die "cannot make the source"
	cat "$TMPD/export/big" "$TMPD/src" > /dev/null
	ls -l "$TMPD/export/dir" > /dev/null

	lack_get=$(peer_lacks get)
	lack_put=$(peer_lacks put)
	lack_ls=$(peer_lacks ls)
	lack_cp=$(peer_lacks cp)

	if [ -z "$lack_get" ]; then
		compare read GB "$SIZE" read_cat read_sftp read_msgpeer
		aim "read: msgpeer get / sftp get" "$wall_read_msgpeer" \
		    "$wall_read_sftp" "$READ_SFTP_AIM"
		aim "read: msgpeer get / cat" "$wall_read_msgpeer" \
		    "$wall_read_cat" "$READ_CAT_AIM"
	else
		compare read GB "$SIZE" read_cat read_sftp
		not_measured "read: msgpeer get / sftp get" "$lack_get"
		not_measured "read: msgpeer get / cat" "$lack_get"
	fi
	if [ -z "$lack_put" ]; then
		compare write GB "$SIZE" write_cat write_sftp write_msgpeer
	else
		compare write GB "$SIZE" write_cat write_sftp
		not_measured "write: msgpeer put" "$lack_put"
	fi
	if [ -z "$lack_ls" ]; then
		compare "stat (ls -l)" entries "$NFILES" meta_ls meta_sftp \
		    meta_msgpeer
		aim "metadata: msgpeer ls -l / sftp ls -l" \
		    "$wall_meta_msgpeer" "$wall_meta_sftp" "$META_SFTP_AIM"
	else
		compare "stat (ls -l)" entries "$NFILES" meta_ls meta_sftp
		not_measured "metadata: msgpeer ls -l / sftp ls -l" "$lack_ls"
	fi
	if [ -z "$lack_cp" ]; then
		compare copy GB "$SIZE" copy_cp copy_msgpeer
	else
		compare copy GB "$SIZE" copy_cp
		not_measured "server-side copy: msgpeer cp" "$lack_cp"
	fi
	rm -f "$TMPD/export/put" "$TMPD/export/copy"
	vfs_memory

	{
		echo "msgpeer's VFS beside cat, sftp and cp, $(machine);" \
		    "$SIZE-byte files and $NFILES files in one directory, in" \
		    "one temporary directory (one file system), page cache" \
		    "warmed; msgpeer over a unix socket, a fresh" \
		    "\`msgpeer serve --export home=DIR\` each run; sftp as" \
		    "\`sftp -D $SFTP_SERVER -b BATCH\` (pipes, no ssh)." \
		    "$REPS rounds, every program in turn: wall s, the least" \
		    "wall time; CPU s, the least CPU time of every process" \
		    "of the run (client and server; sftp with its" \
		    "sftp-server); ratio to the first: the first program's" \
		    "least wall time over this one's (above 1: faster)." \
		    "GB = 1e9 bytes."
		echo
		cat "$VFS_TABLE"
		echo
		echo "Aims, on the least wall times:"
		echo
		cat "$AIM_TABLE"
		if [ -s "$MEM_TABLE" ]; then
			echo
			cat "$MEM_TABLE"
		fi
	} > "$OUT/vfs.md"
}

# Memory of msgpeer serve per open file link: a fresh server, then
# bench_vfslinks opens the links (LINK_OPEN vfs, VFS_OPEN of one file
# each with NEWLINK) and prints the server's resident set before and
# after.
vfs_memory() {
	lack=$(peer_lacks serve)
	if [ -n "$lack" ] || [ ! -x "$LINKS_BIN" ]; then
		[ -n "$lack" ] || lack="no $LINKS_BIN"
		echo "Memory per open file link: not measured: $lack." \
		    > "$MEM_TABLE"
		note "memory per open file link: not measured: $lack"
		return 0
	fi
	# A descriptor an open file in the server, which inherits the
	# limit; dash, bash and busybox sh all have ulimit -n.
	want=$((NLINKS + 64))
	# shellcheck disable=SC3045
	if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]
	then
		# shellcheck disable=SC3045
		ulimit -n "$want" 2>/dev/null ||
		    die "memory: $NLINKS open files need ulimit -n $want"
	fi
	peer_up
	spid=$(server_pid)
	fresh=$(awk '/^Rss:/ { print $2 }' "/proc/$spid/smaps_rollup")
	timeout "$RUN_LIMIT" "$LINKS_BIN" "unix:$sock" home dir "$spid" \
	    "$NLINKS" \
	    > "$OUT/vfs.memory.out" ||
	    die "memory: bench_vfslinks failed: $(cat "$OUT/vfs.memory.out")"
	stop_server
	{
		echo "Memory of msgpeer serve per open file link" \
		    "(bench_vfslinks: VFS_OPEN of a file of the directory" \
		    "on a link of its own, all held open), from" \
		    "/proc/PID/smaps_rollup: fresh, before any session;" \
		    "before, after a few warm-up links; after, with COUNT" \
		    "more; bytes each = (after - before) / COUNT:"
		echo
		echo "| count | server Rss fresh KiB | before KiB |" \
		    "after KiB | bytes each (Rss) | bytes each (anon) |" \
		    "descriptors before | after |"
		echo "|---|---|---|---|---|---|---|---|"
		awk -v fresh="$fresh" '{
			for (i = 1; i <= NF; i++) {
				split($i, kv, "=")
				v[kv[1]] = kv[2]
			}
			printf "| %d | %d | %d | %d | %.0f | %.0f | %d |" \
			    " %d |\n",
			    v["links"], fresh, v["server_rss0"],
			    v["server_rss1"], v["server_rss_per"],
			    v["server_anon_per"], v["server_fds0"],
			    v["server_fds1"]
		}' "$OUT/vfs.memory.out"
	} | tee "$MEM_TABLE"
}

machine() {
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs," \
	    "$(uname -sr), $(df -PT "$TMPD" | awk 'NR == 2 { print $2 }')," \
	    "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
}

# --- main -----------------------------------------------------------------

build
make_tmpd
# The big file, the source of the puts and one copy at once; the first
# two in the page cache.
check_room $((SIZE * 3)) $((SIZE * 2))
for p in $PARTS; do
	"part_$p"
done
for p in $PARTS; do
	echo
	cat "$OUT/$p.md"
done
exit 0
