#!/bin/sh
# bench/run.sh BUILD_DIR - libproto's decoder beside `cat FILE >/dev/null`,
# measured in the same run on the same page-cached files; msgdump beside
# tcpdump; and the session engine's echo round trips beside a plain
# ping-pong and socat, with its memory per session and per link.
#
# Builds BUILD_DIR/bench/bench_decode against BUILD_DIR/lib/libproto.a,
# generates the streams once (kept in BUILD_DIR/bench/, made again when
# their size or the generator changes), warms the page cache, then runs
# cat and the decoder alternately, BENCH_REPS times each, every run timed
# by `bench_decode time` (wall time, and CPU time from wait4(2)).
#
# The figures are the best of the runs: the least CPU time of each side.
# CPU time, because the machines are shared: a run's wall time includes
# waiting for a core while other jobs run, its CPU time is what it costs
# one core; cat is timed the same way, so the ratio compares like with
# like. The best wall-time ratio and the median CPU-time ratio are shown
# too, as a check on the noise. GB is 1e9 bytes; the targets:
#   small: more than 20 million messages per CPU second (one core)
#   data:  decoder throughput at least 0.8 of cat's
#
# The echo workload builds BUILD_DIR/bench/bench_echo too and runs, in
# turn, a socketpair ping-pong (bench_echo pingpong), socat echoing
# through a pipe (driven by bench_echo client) and msgpeer serve with
# msgpeer echo, over unix sockets in a temporary directory; the CPU time
# of a run is that of both processes (servers run under timeit as
# well). The memory workload reads the resident sets of msgpeer serve
# and of bench_echo before and after idle sessions and links are
# opened. bench/RESULTS.md says what each measures. These need
# BUILD_DIR/bin/msgpeer (make), socat and taskset, and have no targets.
#
# The fsio and vfs workloads are bench/vfs.sh's (`sh bench/vfs.sh
# BUILD_DIR fsio vfs` runs them alone; it says what they measure and
# reads the BENCH_VFS_* and BENCH_FSIO_* variables): thread pool against
# io_uring for the file server's system calls (bench/fsio.c, the only
# program linked with -luring), and msgpeer's VFS beside cat, sftp and
# cp. Their tables go into the report after the others.
#
# A benchmark is a report, not a test: a missed target prints MISS and
# the script still exits 0. It exits non-zero only when something could
# not be measured (build failure, decoder error, no room).
#
# Environment:
#   BENCH_REPS      runs of each command (5)
#   BENCH_SMALL     messages in the small stream (20000000, ~1.5 GB)
#   BENCH_DATA      32 KiB CACHE_READ replies in the data stream
#                   (32768, ~1.07 GB)
#   BENCH_PASSES    passes over the data stream in one run (8): cat reads
#                   a page-cached GB in ~0.15 s, too short to time well
#   BENCH_CHUNKS    the decoder's read sizes ("262144 1048576")
#   BENCH_PRINT     messages in the capture of the print workload (1000000)
#   BENCH_ECHO_RT1  round trips of the one-in-flight echo runs (30000)
#   BENCH_ECHO_RT64 round trips of the 64-in-flight echo run (500000)
#   BENCH_ECHO_BULK 32 KiB round trips of the throughput run (20000)
#   BENCH_ECHO_BULK_P  in flight in the throughput run (16)
#   BENCH_ECHO_CPUS where the two processes of each echo run go ("any
#                   one two"): any, the scheduler's choice; one, both
#                   on CPU 0; two, client on CPU 0 and server on CPU 1
#   BENCH_MEM_SESSIONS idle sessions of the memory workload (1000)
#   BENCH_MEM_LINKS links on one session of the memory workload (10000)
#   BENCH_FLOOD     commands of each flood workload run (2000000)
#   BENCH_WORKLOADS which workloads, in order ("small data print echo
#                   memory floods fsio vfs")
#   BENCH_RECORD    1: also put the report into bench/RESULTS.md, between
#                   its "run.sh" marker lines
#   CC              compiler (cc)
#
# Adding a workload (msgdump against `tcpdump -nn -r` on one capture,
# say): write a function workload_NAME that prepares its files, defines
# two shell functions that run the baseline and the program measured
# under timeit (as run_cat and run_decode do), calls
# `measure NAME BASELINE SUBJECT` and
# appends its lines to $TABLE (as row does); then add NAME to WORKLOADS.
#
# The functions are called through names ("workload_$w", measure's
# arguments), which shellcheck cannot follow:
# shellcheck disable=SC2317
set -eu

B=${1:-build}
REPS=${BENCH_REPS:-5}
SMALL_N=${BENCH_SMALL:-20000000}
DATA_N=${BENCH_DATA:-32768}
PASSES=${BENCH_PASSES:-8}
CHUNKS=${BENCH_CHUNKS:-262144 1048576}
PRINT_N=${BENCH_PRINT:-1000000}
ECHO_RT1=${BENCH_ECHO_RT1:-30000}
ECHO_RT64=${BENCH_ECHO_RT64:-500000}
ECHO_BULK=${BENCH_ECHO_BULK:-20000}
ECHO_BULK_P=${BENCH_ECHO_BULK_P:-16}
ECHO_CPUS=${BENCH_ECHO_CPUS:-any one two}
MEM_SESSIONS=${BENCH_MEM_SESSIONS:-1000}
MEM_LINKS=${BENCH_MEM_LINKS:-10000}
FLOOD_N=${BENCH_FLOOD:-2000000}
WORKLOADS=${BENCH_WORKLOADS:-small data print echo memory floods fsio vfs}
CC=${CC:-cc}
# Longest a single echo or memory run may take, in seconds.
RUN_LIMIT=120

# Targets from the issue.
SMALL_MSGS_TARGET=20000000	# small messages a second, one core
DATA_RATIO_TARGET=0.8		# decoder GB/s over cat's on the data stream

TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
OUT=$B/bench
BIN=$OUT/bench_decode
TABLE=$OUT/table.txt
TABLE2=$OUT/table-print.txt
TABLE3=$OUT/table-echo.txt
TABLE4=$OUT/table-memory.txt
TABLE5=$OUT/table-floods.txt
HOSTILE=$B/tests/bin/hostile
REPORT=$OUT/RESULTS.md
ECHO_BIN=$OUT/bench_echo
PEER=$B/bin/msgpeer

die() {
	echo "bench: $*" >&2
	exit 1
}

# --- building -------------------------------------------------------------

build() {
	case "$B" in
	*san*)	echo "bench: warning: $B is a sanitizer build;" \
		    "its figures mean nothing" >&2 ;;
	*)	make -s O="$B" "$B/lib/libproto.a" ||
		    die "cannot build $B/lib/libproto.a" ;;
	esac
	[ -f "$B/lib/libproto.a" ] || die "no $B/lib/libproto.a"
	mkdir -p "$OUT"
	# The build's flags (Makefile: CSTD, WARN, OPT), without -fPIC: a
	# program, not a library.
	$CC -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
	    -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wvla \
	    -O2 -g -I. -Ilibproto -I"$B/gen" -o "$BIN" bench/bench_decode.c \
	    "$B/lib/libproto.a" -lpthread || die "cannot build $BIN"
	# The session layer's AUTH feature needs libcrypto's HMAC.
	$CC -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
	    -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wvla \
	    -O2 -g -I. -Ilibproto -I"$B/gen" -o "$ECHO_BIN" \
	    bench/bench_echo.c "$B/lib/libproto.a" -lcrypto -lpthread ||
	    die "cannot build $ECHO_BIN"
}

# --- measuring ------------------------------------------------------------

# Refuse rather than time a disk instead of the page cache: the files must
# fit on the disk and, twice over, in available memory. Prints what is
# short, or nothing.
check_room() {	# BYTES
	avail_disk=$(df -Pk "$OUT" | awk 'NR == 2 { print $4 * 1024 }')
	avail_mem=$(awk '/^MemAvailable:/ { print $2 * 1024 }' /proc/meminfo)
	awk -v need="$1" -v d="$avail_disk" -v m="$avail_mem" 'BEGIN {
		if (need * 1.2 > d) { print "disk"; exit }
		if (need * 2 > m) { print "memory"; exit }
	}'
}

# gen KIND N FILE: generate unless FILE is there from the same N and the
# same generator.
gen() {
	stamp="$1 $2 $(cksum < bench/bench_decode.c)"
	if [ -f "$3" ] && [ -f "$3.stamp" ] &&
	    [ "$(cat "$3.stamp")" = "$stamp" ]; then
		return 0
	fi
	rm -f "$3" "$3.stamp"
	echo "bench: generating $3 ($2 $1 messages)" >&2
	"$BIN" gen "$1" "$2" "$3" >/dev/null || die "cannot generate $3"
	echo "$stamp" > "$3.stamp"
}

# Read the files once so every run finds them in the page cache.
warm() {
	cat "$@" >/dev/null
}

# The value of key=value in a line of figures.
field() {	# FILE KEY
	tr ' ' '\n' < "$1" | sed -n "s/^$2=//p"
}

# timeit TIMES CMD...: run CMD, its wall and CPU time to the file TIMES.
timeit() {
	"$BIN" time "$@"
}

# timed FUNCTION OUTFILE TIMES: run the shell function, which runs its
# command with `timeit "$1"`, with stdout to OUTFILE; print "cpu wall".
timed() {
	"$1" "$3" > "$2" || die "failed: $1"
	echo "$(field "$3" cpu) $(field "$3" wall)"
}

median_of() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR % 2) print v[(NR + 1) / 2]
		else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# measure NAME BASE SUBJECT: run the shell functions BASE, the baseline,
# and SUBJECT, the program measured, alternately REPS times each, so that
# both see the same machine. Each runs its command under `timeit "$1"`;
# BASE's stdout goes to /dev/null, that of SUBJECT's run i to
# $OUT/NAME.out.i. Sets base_cpu and subj_cpu (least CPU times),
# subj_run (the number of SUBJECT's run with the least CPU time),
# subj_wall (SUBJECT's least wall time), wall_ratio (least wall time of
# BASE over least of SUBJECT) and ratio_med (median of BASE's CPU time
# over SUBJECT's, run by run).
measure() {
	m_name=$1
	: > "$OUT/$m_name.base"
	: > "$OUT/$m_name.subj"
	: > "$OUT/$m_name.ratio"
	i=1
	while [ "$i" -le "$REPS" ]; do
		tb=$(timed "$2" /dev/null "$OUT/$m_name.times")
		ts=$(timed "$3" "$OUT/$m_name.out.$i" "$OUT/$m_name.times")
		echo "$tb" >> "$OUT/$m_name.base"
		echo "$ts $i" >> "$OUT/$m_name.subj"
		echo "$tb $ts" | awk '{ printf "%.6f\n", $1 / $3 }' \
		    >> "$OUT/$m_name.ratio"
		i=$((i + 1))
	done
	base_cpu=$(sort -g "$OUT/$m_name.base" | awk 'NR == 1 { print $1 }')
	subj_cpu=$(sort -g "$OUT/$m_name.subj" | awk 'NR == 1 { print $1 }')
	subj_run=$(sort -g "$OUT/$m_name.subj" | awk 'NR == 1 { print $3 }')
	subj_wall=$(sort -g -k2 "$OUT/$m_name.subj" |
	    awk 'NR == 1 { print $2 }')
	wall_ratio=$(sort -g -k2 "$OUT/$m_name.base" |
	    awk -v s="$subj_wall" 'NR == 1 { printf "%.6f\n", $2 / s }')
	ratio_med=$(median_of < "$OUT/$m_name.ratio")
}

# The two sides of the decoder workloads; the workload sets $files (split
# on purpose: a path may be named several times) and $chunk.
run_cat() {
	# shellcheck disable=SC2086
	timeit "$1" cat $files
}

run_decode() {
	# shellcheck disable=SC2086
	timeit "$1" "$BIN" decode -b "$chunk" $files
}

# measure_decode NAME: cat against the decoder over $files; also sets
# msgs and bytes, from the decoder.
measure_decode() {
	measure "$1" run_cat run_decode
	msgs=$(field "$OUT/$1.out.$subj_run" messages)
	bytes=$(field "$OUT/$1.out.$subj_run" bytes)
}

# row WORKLOAD CHUNK TARGET: one line of the table from the last
# measure_decode. TARGET: msgs (msgs/s > SMALL_MSGS_TARGET) or ratio
# (ratio >= DATA_RATIO_TARGET).
row() {
	awk -v w="$1" -v ch="$2" -v kind="$3" -v m="$msgs" -v by="$bytes" \
	    -v tc="$base_cpu" -v td="$subj_cpu" -v rw="$wall_ratio" \
	    -v tw="$subj_wall" \
	    -v rmed="$ratio_med" -v tm="$SMALL_MSGS_TARGET" \
	    -v tr="$DATA_RATIO_TARGET" 'BEGIN {
		r = tc / td
		mps = m / td
		if (kind == "msgs") {
			tgt = sprintf("msgs/s > %.0fM", tm / 1e6)
			ok = mps > tm
		} else {
			tgt = sprintf("ratio >= %.1f", tr)
			ok = r >= tr
		}
		printf "| %s | %d KiB | %.0f | %.0f | %.2f | %.2f | %.3f |" \
		    " %.2fM | %.3f | %.3f | %.2fM | %s | %s |\n", w,
		    ch / 1024, m, by, by / tc / 1e9, by / td / 1e9, r,
		    mps / 1e6, rmed, rw, m / tw / 1e6, tgt,
		    ok ? "PASS" : "MISS"
	}' | tee -a "$TABLE"
}

# --- workloads ------------------------------------------------------------

# Small messages: PING, ACK, VFS_GETATTR, VFS_LOOKUP and their replies.
workload_small() {
	files=$OUT/small.bin
	gen small "$SMALL_N" "$files"
	warm "$files"
	for chunk in $CHUNKS; do
		measure_decode small
		row small "$chunk" msgs
	done
}

# CACHE_READ replies with 32 KiB of DATA, PASSES passes over the file.
workload_data() {
	f=$OUT/data.bin
	gen data "$DATA_N" "$f"
	warm "$f"
	files=
	i=0
	while [ "$i" -lt "$PASSES" ]; do
		files="$files $f"
		i=$((i + 1))
	done
	for chunk in $CHUNKS; do
		measure_decode data
		row "data x$PASSES" "$chunk" ratio
	done
}

# Printing: the one-line summary of every message of a capture, beside
# tcpdump printing its one line per packet of the same capture. The
# capture holds the small-message mix, one message per TCP segment
# (msgdump -w writes it from a raw stream).
run_tcpdump() {
	timeit "$1" tcpdump -nn -r "$pcap" >/dev/null 2>&1
}

run_msgdump() {
	timeit "$1" "$B/bin/msgdump" -r "$pcap" >/dev/null
}

workload_print() {
	raw=$OUT/print.bin
	pcap=$OUT/print.pcap
	command -v tcpdump >/dev/null || die "print: tcpdump is not installed"
	[ -x "$B/bin/msgdump" ] || die "print: no $B/bin/msgdump: make first"
	gen small "$PRINT_N" "$raw"
	if [ ! -s "$pcap" ] || [ "$raw" -nt "$pcap" ]; then
		"$B/bin/msgdump" -r "$raw" -w "$pcap" ||
		    die "print: msgdump -w failed"
	fi
	warm "$pcap"
	measure print run_tcpdump run_msgdump
	lines=$("$B/bin/msgdump" -r "$pcap" | wc -l)
	[ "$lines" -eq "$PRINT_N" ] ||
	    die "print: msgdump printed $lines lines, want $PRINT_N"
	awk -v m="$PRINT_N" -v tc="$base_cpu" -v td="$subj_cpu" \
	    -v rw="$wall_ratio" -v rmed="$ratio_med" -v tw="$subj_wall" \
	    'BEGIN {
		r = tc / td
		verdict = r > 1 ? "PASS" : "MISS"
		printf "| summary lines | %.0f | %.2f | %.2f | %.2f | %.2fM |" \
		    " %.2f | %.2f | %.2fM | faster than tcpdump | %s |\n",
		    m, tc, td, r, m / td / 1e6, rmed, rw, m / tw / 1e6,
		    verdict
	}' | tee -a "$TABLE2"
}

# --- servers in the background ---------------------------------------------

# Sockets live in a directory of their own; every server started is
# ended on the way out, whatever the way out is. Servers run under
# timeit, whose wait4 gives their CPU time when they end; $PIDS lists the
# timeit processes (a run's subshell appends to it, so the file).
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
	TMPD=$(mktemp -d "${TMPDIR:-/tmp}/msgkit-bench.XXXXXX") ||
	    die "cannot make a temporary directory"
	PIDS=$TMPD/pids
	: > "$PIDS"
	trap cleanup EXIT
	trap 'exit 1' INT TERM HUP
}

# start_server TIMES CMD...: CMD in the background under timeit; sets
# srv_tpid (timeit's pid) and srv_times.
start_server() {
	srv_times=$1
	shift
	rm -f "$srv_times"
	"$BIN" time "$srv_times" "$@" &
	srv_tpid=$!
	echo "$srv_tpid" >> "$PIDS"
}

# The server proper: timeit's child (taskset execs its command).
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

# Until a unix socket is there, at most 5 s; then a moment for listen().
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

# stop_server term|wait: end the server (SIGTERM to msgpeer) or wait for
# it to end by itself (socat, at the end of its connection), at most
# 10 s; then its times are in $srv_times.
stop_server() {
	if [ "$1" = term ]; then
		kill "$(server_pid)" 2>/dev/null || true
	fi
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

# --- echo round trips -----------------------------------------------------

# measure_each NAME FUNCTION...: each function's command, in turn, REPS
# rounds, so that all see the same machine. Run i of FUNCTION: stdout
# to $OUT/NAME.FUNCTION.out.i, "cpu wall i" appended to
# $OUT/NAME.FUNCTION.
measure_each() {
	me_name=$1
	shift
	for f in "$@"; do
		: > "$OUT/$me_name.$f"
	done
	i=1
	while [ "$i" -le "$REPS" ]; do
		for f in "$@"; do
			t=$(timed "$f" "$OUT/$me_name.$f.out.$i" \
			    "$OUT/$me_name.times")
			echo "$t $i" >> "$OUT/$me_name.$f"
		done
		i=$((i + 1))
	done
}

# The placement of the two processes: any (the scheduler's choice), one
# (both on CPU 0) or two (client on CPU 0, server on CPU 1).
pin() {	# client|server
	case "$e_cpus:$1" in
	one:*|two:client) echo "taskset -c 0" ;;
	two:server) echo "taskset -c 1" ;;
	esac
}

# The same program measured with the same bytes each way: the frame of
# an echo command with $e_data bytes of DATA ($e_frame).
run_pingpong() {
	case "$e_cpus" in
	one) cpus="0 0" ;;
	two) cpus="0 1" ;;
	*) cpus= ;;
	esac
	# shellcheck disable=SC2086
	timeit "$1" timeout "$RUN_LIMIT" "$ECHO_BIN" pingpong "$e_n" \
	    "$e_frame" "$e_depth" $cpus
}

# socat's echo: what comes in on the connection goes into a pipe, what
# comes out of the pipe goes back. Its blocks are 8192 bytes (its
# default), but 4096 when more than 32 KiB are in flight: a write of
# 8192 bytes into its own pipe, which poll(2) calls writable with one
# free page, can block for good with nobody left to read the pipe (it
# did, with 16 x 32 KiB in flight); one page always fits.
socat_block() {
	if [ $((e_depth * e_frame)) -le 32768 ]; then
		echo 8192
	else
		echo 4096
	fi
}

run_socat() {
	sock=$TMPD/socat.sock
	rm -f "$sock"
	# shellcheck disable=SC2046
	start_server "$OUT/echo.server.times" $(pin server) \
	    socat -b "$(socat_block)" UNIX-LISTEN:"$sock" PIPE
	wait_sock "$sock"
	# shellcheck disable=SC2046
	timeit "$1" $(pin client) timeout "$RUN_LIMIT" "$ECHO_BIN" client \
	    "$sock" "$e_n" "$e_frame" "$e_depth" || return 1
	stop_server wait
	add_server "$1"
}

run_msgpeer() {
	sock=$TMPD/peer.sock
	rm -f "$sock"
	# shellcheck disable=SC2046
	start_server "$OUT/echo.server.times" $(pin server) \
	    "$PEER" serve -q --listen "unix:$sock"
	wait_sock "$sock"
	# shellcheck disable=SC2046
	timeit "$1" $(pin client) timeout "$RUN_LIMIT" "$PEER" echo -q \
	    "unix:$sock" -c "$e_n" -s "$e_data" -P "$e_depth" || return 1
	stop_server term
	add_server "$1"
}

# The figures of one run as key=value: bench_echo prints them so;
# msgpeer echo's report is turned into them (its latencies in ms).
figures() {	# FILE
	if grep -q '^messages=' "$1"; then
		cat "$1"
		return 0
	fi
	grep -q FAILED "$1" && die "msgpeer echo failed: $(cat "$1")"
	awk '
	/ replies in / { gsub(/:/, ""); rate = $6 }
	/^latency / {
		gsub(/,/, "")
		p50 = $3 * 1000; p90 = $6 * 1000; p99 = $9 * 1000
	}
	END {
		if (rate == "") exit 1
		printf "rate=%s p50=%.1f p90=%.1f p99=%.1f\n", rate, p50,
		    p90, p99
	}' "$1" || die "no figures in $1"
}

# Over REPS runs of FUNCTION in measure_each NAME: the best rate (the
# program's own, over its loop's wall time) and the medians of p50, p99.
run_stats() {	# NAME FUNCTION
	i=1
	while [ "$i" -le "$REPS" ]; do
		figures "$OUT/$1.$2.out.$i" > "$OUT/$1.$2.fig.$i"
		i=$((i + 1))
	done
	best_rate=$(for i in $(seq "$REPS"); do
		field "$OUT/$1.$2.fig.$i" rate; done | sort -g | tail -n 1)
	p50=$(for i in $(seq "$REPS"); do
		field "$OUT/$1.$2.fig.$i" p50; done | median_of)
	p99=$(for i in $(seq "$REPS"); do
		field "$OUT/$1.$2.fig.$i" p99; done | median_of)
}

least_cpu() {	# FILE of "cpu wall run"
	sort -g "$1" | awk 'NR == 1 { print $1 }'
}

# Median over the runs of one file's CPU time over the other's.
cpu_ratio_median() {	# BASE SUBJECT
	paste -d ' ' "$1" "$2" | awk '{ printf "%.6f\n", $1 / $4 }' |
	    median_of
}

# echo_config LABEL DATA DEPTH N CPUS: the three programs, one row each.
echo_config() {
	e_label=$1 e_data=$2 e_depth=$3 e_n=$4 e_cpus=$5
	e_frame=$("$ECHO_BIN" msgsize "$e_data" | tr ' ' '\n' |
	    sed -n 's/^command=//p')
	[ -n "$e_frame" ] || die "bench_echo msgsize failed"
	name=echo-$e_label
	measure_each "$name" run_pingpong run_socat run_msgpeer
	run_stats "$name" run_pingpong
	pp_rate=$best_rate
	pp_cpu=$(least_cpu "$OUT/$name.run_pingpong")
	so_cpu=$(least_cpu "$OUT/$name.run_socat")
	for f in run_pingpong run_socat run_msgpeer; do
		run_stats "$name" "$f"
		cpu=$(least_cpu "$OUT/$name.$f")
		rmed=$(cpu_ratio_median "$OUT/$name.run_pingpong" \
		    "$OUT/$name.$f")
		prog=${f#run_}
		[ "$prog" != socat ] || prog="socat -b $(socat_block)"
		awk -v l="$e_label" -v d="$e_data" -v fr="$e_frame" \
		    -v p="$e_depth" -v c="$e_cpus" -v prog="$prog" \
		    -v n="$e_n" -v cpu="$cpu" -v ppc="$pp_cpu" -v soc="$so_cpu" \
		    -v rmed="$rmed" -v rate="$best_rate" -v ppr="$pp_rate" \
		    -v p50="$p50" -v p99="$p99" 'BEGIN {
			printf "| %s | %d | %d | %d | %s | %s | %d | %.3f |" \
			    " %.0f | %.2f | %.2f | %.2f | %.0f | %.1f |" \
			    " %.2f | %.1f | %.1f |\n", l, d, fr, p, c, prog,
			    n, cpu, n / cpu, ppc / cpu, rmed, soc / cpu,
			    rate, rate * fr / 1e6, rate / ppr, p50, p99
		}' | tee -a "$TABLE3"
	done
}

# msgpeer is the tools' to build (make bench does): say when it is older
# than the libproto.a just built, whose code it may then not have.
check_peer() {
	[ -x "$PEER" ] || die "$1: no $PEER: make first"
	[ -n "$(find "$PEER" -newer "$B/lib/libproto.a")" ] ||
	    echo "bench: warning: $PEER is older than" \
	    "$B/lib/libproto.a: make first" >&2
}

workload_echo() {
	command -v socat >/dev/null || die "echo: socat is not installed"
	command -v taskset >/dev/null || die "echo: taskset is not installed"
	check_peer echo
	[ "$(nproc)" -ge 2 ] || die "echo: the placements need 2 CPUs"
	make_tmpd
	for c in $ECHO_CPUS; do
		case "$c" in
		any|one|two) ;;
		*) die "BENCH_ECHO_CPUS: $c: any, one or two" ;;
		esac
	done
	for c in $ECHO_CPUS; do
		echo_config rt1 64 1 "$ECHO_RT1" "$c"
	done
	for c in $ECHO_CPUS; do
		echo_config rt64 64 64 "$ECHO_RT64" "$c"
	done
	for c in $ECHO_CPUS; do
		echo_config bulk 32768 "$ECHO_BULK_P" "$ECHO_BULK" "$c"
	done
}

# --- memory ------------------------------------------------------------------

# mem_run WHAT COUNT: a fresh msgpeer serve, then `bench_echo WHAT` with
# its pid, which opens the sessions or links and prints the figures.
mem_run() {
	sock=$TMPD/mem.sock
	rm -f "$sock"
	start_server "$OUT/memory.server.times" "$PEER" serve -q \
	    --listen "unix:$sock"
	wait_sock "$sock"
	spid=$(server_pid)
	fresh=$(awk '/^Rss:/ { print $2 }' "/proc/$spid/smaps_rollup")
	timeout "$RUN_LIMIT" "$ECHO_BIN" "$1" "unix:$sock" "$spid" "$2" \
	    > "$OUT/memory.$1.out" || die "memory: bench_echo $1 failed"
	stop_server term
	awk -v what="$1" -v fresh="$fresh" '{
		for (i = 1; i <= NF; i++) {
			split($i, kv, "=")
			v[kv[1]] = kv[2]
		}
		n = v[what]
		label = "links on one session"
		if (what == "sessions")
			label = "idle sessions"
		printf "| %s | %d | %d | %d | %d | %.0f | %.0f | %d | %d |" \
		    " %.0f | %.0f | %s |\n", label, n, fresh, v["server_rss0"],
		    v["server_rss1"], v["server_rss_per"],
		    v["server_anon_per"], v["client_rss0"], v["client_rss1"],
		    v["client_rss_per"], v["client_anon_per"],
		    v["kernel_slab_per"]
	}' "$OUT/memory.$1.out" | tee -a "$TABLE4"
}

workload_memory() {
	check_peer memory
	[ -r /proc/self/smaps_rollup ] || die "memory: no smaps_rollup"
	make_tmpd
	# A descriptor a session on each side, and some to spare; the
	# server inherits the limit.
	want=$((MEM_SESSIONS + 64))
	# dash, bash and busybox sh all have ulimit -n.
	# shellcheck disable=SC3045
	if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]
	then
		# shellcheck disable=SC3045
		ulimit -n "$want" 2>/dev/null ||
		    die "memory: $MEM_SESSIONS sessions need ulimit -n $want"
	fi
	mem_run sessions "$MEM_SESSIONS"
	mem_run links "$MEM_LINKS"
}

# --- hostile clients -------------------------------------------------------

# flood_run NAME LIMIT_BYTES "SERVER OPTIONS" HOSTILE ARGS...: a fresh
# msgpeer serve with those options, attacked by hostile; its peak RSS
# (VmHWM) beside its base (VmHWM once listening) and the limit that
# should bound it.
flood_run() {
	name=$1 limit=$2 sopts=$3
	shift 3
	sock=$TMPD/flood.sock
	rm -f "$sock"
	# shellcheck disable=SC2086 # the options are words
	start_server "$OUT/flood.server.times" "$PEER" serve -q \
	    --listen "unix:$sock" $sopts
	wait_sock "$sock"
	spid=$(server_pid)
	base=$(awk '/^VmHWM:/ { print $2 }' "/proc/$spid/status")
	timeout "$RUN_LIMIT" "$HOSTILE" -q "$@" "unix:$sock" \
	    > "$OUT/flood.$name.out" 2>&1 ||
	    die "floods: hostile $* failed: $(cat "$OUT/flood.$name.out")"
	peak=$(awk '/^VmHWM:/ { print $2 }' "/proc/$spid/status")
	stop_server term
	awk -v name="$name" -v limit="$limit" -v base="$base" \
	    -v peak="$peak" -v sopts="$sopts" -v line="$(cat \
	    "$OUT/flood.$name.out")" 'BEGIN {
		grown = (peak - base) * 1024
		r = grown / limit
		printf "| %s | %s | %d | %d | %d | %.2f | 1.25 | %s |\n",
		    name, sopts, base, peak, grown / 1024, r,
		    r <= 1.25 ? "ok" : "MISS"
	}' | tee -a "$TABLE5"
}

workload_floods() {
	check_peer floods
	[ -x "$HOSTILE" ] || die "floods: no $HOSTILE (make tests)"
	make_tmpd
	mib=1048576
	flood_run "refusals (16 B, unbound link)" $((16 * mib)) \
	    "--max-memory 16m" -t 30 -c "$FLOOD_N" unbound
	flood_run "echo 16 B, never read" $((16 * mib)) "--max-memory 16m" \
	    -t 30 -c "$FLOOD_N" echo
	flood_run "echo 16 KB, never read" $((16 * mib)) "--max-memory 16m" \
	    -t 30 -c 100000 -s 16000 echo
	flood_run "1024 delay commands of 65 KB" $mib \
	    "--max-memory 1m --max-inflight 100000" -t 3 -c 1024 -s 65000 \
	    delay
	flood_run "8 detached sessions of 15 MB" $((64 * mib)) \
	    "--max-memory 16m --max-total-memory 64m" -t 60 -n 8 \
	    -b 15000000 detach
	flood_run "8 detached sessions of 15 MB, default limits" \
	    $((256 * mib)) "" -t 60 -n 8 -b 15000000 detach
	flood_run "100000 handshakes and closes" $((4 * mib)) \
	    "--max-sessions 1024" -t 60 -c 100000 cycle
	flood_run "2000 idle connections" $((4 * mib)) \
	    "--handshake-timeout 5" -t 2 -n 2000 idle
}

# --- the file server: bench/vfs.sh ----------------------------------------

workload_fsio() {
	rm -f "$OUT/fsio.md"
	sh bench/vfs.sh "$B" fsio || die "fsio: bench/vfs.sh failed"
}

workload_vfs() {
	rm -f "$OUT/vfs.md"
	sh bench/vfs.sh "$B" vfs || die "vfs: bench/vfs.sh failed"
}

# --- main -----------------------------------------------------------------

build

# Room for the streams of the workloads chosen: ~75 bytes a small
# message, 32816 a data one.
case " $WORKLOADS " in *" small "*) room_s=$SMALL_N ;; *) room_s=0 ;; esac
case " $WORKLOADS " in *" data "*) room_d=$DATA_N ;; *) room_d=0 ;; esac
need=$(awk -v s="$room_s" -v d="$room_d" \
    'BEGIN { printf "%.0f\n", s * 76 + d * 32816 }')
lack=$(check_room "$need")
[ -z "$lack" ] || die "not enough $lack for $need bytes of streams:" \
    "set BENCH_SMALL and BENCH_DATA lower"

{
	echo "| workload | chunk | messages | bytes | cat GB/s |" \
	    "decode GB/s | ratio | msgs/s | ratio (median) |" \
	    "ratio (wall) | msgs/s (wall) | target | result |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
} | tee "$TABLE"
{
	echo "| workload | messages | tcpdump cpu s | msgdump cpu s |" \
	    "ratio | msgs/s | ratio (median) | ratio (wall) |" \
	    "msgs/s (wall) | target | result |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|"
} > "$TABLE2"
{
	echo "| echo | DATA bytes | frame bytes | in flight | CPUs |" \
	    "program | round trips | CPU s | round trips per CPU s |" \
	    "ratio to ping-pong | ratio to ping-pong (median) |" \
	    "ratio to socat | round trips/s (wall) | MB/s each way (wall) |" \
	    "ratio to ping-pong (wall) | p50 us | p99 us |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
} > "$TABLE3"
{
	echo "| what | count | server Rss fresh KiB | server Rss before KiB |" \
	    "server Rss after KiB | server bytes each (Rss) |" \
	    "server bytes each (anon) | client Rss before KiB |" \
	    "client Rss after KiB | client bytes each (Rss) |" \
	    "client bytes each (anon) | kernel slab bytes each |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
} > "$TABLE4"
{
	echo "| flood | server options | base KiB | peak KiB | grown KiB |" \
	    "grown / limit | target | result |"
	echo "|---|---|---|---|---|---|---|---|"
} > "$TABLE5"
for w in $WORKLOADS; do
	"workload_$w"
done

{
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- machine: $(nproc) CPUs," \
	    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo |
	    head -n 1), $(uname -sr), load average" \
	    "$(cut -d' ' -f1-3 /proc/loadavg) at the end"
	echo "- compiler: $($CC --version | head -n 1), -O2"
	echo "- command: \`sh bench/run.sh $B\` (BENCH_WORKLOADS=\"$WORKLOADS\"" \
	    "BENCH_REPS=$REPS BENCH_SMALL=$SMALL_N BENCH_DATA=$DATA_N" \
	    "BENCH_PASSES=$PASSES BENCH_ECHO_RT1=$ECHO_RT1" \
	    "BENCH_ECHO_RT64=$ECHO_RT64 BENCH_ECHO_BULK=$ECHO_BULK" \
	    "BENCH_ECHO_BULK_P=$ECHO_BULK_P BENCH_ECHO_CPUS=\"$ECHO_CPUS\"" \
	    "BENCH_MEM_SESSIONS=$MEM_SESSIONS" \
	    "BENCH_MEM_LINKS=$MEM_LINKS BENCH_FLOOD=$FLOOD_N" \
	    "BENCH_VFS_SIZE=${BENCH_VFS_SIZE:-1g}" \
	    "BENCH_VFS_FILES=${BENCH_VFS_FILES:-10000}" \
	    "BENCH_VFS_LINKS=${BENCH_VFS_LINKS:-4000})"
	if grep -q '^| [sd][ma]' "$TABLE"; then
		echo "- each of $REPS runs: \`cat FILE... >/dev/null\`, then" \
		    "\`bench_decode decode -b CHUNK FILE...\`, both under" \
		    "\`bench_decode time\`"
		echo "- GB/s and msgs/s: over the least CPU time (user +" \
		    "system) of the $REPS runs; ratio = decode GB/s / cat" \
		    "GB/s; ratio (median): median of the per-run CPU-time" \
		    "ratios; ratio (wall), msgs/s (wall): over the least" \
		    "wall times instead; GB = 1e9 bytes"
		echo
		cat "$TABLE"
	fi
	if grep -q '^| summary' "$TABLE2"; then
		echo
		echo "Printing, \`tcpdump -nn -r CAPTURE >/dev/null\` against" \
		    "\`msgdump -r CAPTURE >/dev/null\` on $PRINT_N messages," \
		    "one a TCP segment; ratio = tcpdump CPU time / msgdump's:"
		echo
		cat "$TABLE2"
	fi
	if grep -q '^| rt1\|^| rt64\|^| bulk' "$TABLE3"; then
		echo
		echo "Echo round trips over a unix socket, each of $REPS" \
		    "rounds running ping-pong, socat and msgpeer in turn" \
		    "(bench/RESULTS.md, \"Echo\", says what each does)." \
		    "CPU s: the least, over the rounds, of the CPU time of" \
		    "both processes (client and server, or parent and" \
		    "child); ratio to X: X's CPU time over this program's" \
		    "(above 1: cheaper than X); round trips/s (wall): the" \
		    "best of the program's own rate over its loop; p50, p99:" \
		    "medians over the rounds; CPUs: any (the scheduler's" \
		    "choice), one (both on CPU 0), two (CPU 0 and CPU 1):"
		echo
		cat "$TABLE3"
	fi
	if grep -q '^| idle\|^| links' "$TABLE4"; then
		echo
		echo "Memory of msgpeer serve (the server) and of bench_echo" \
		    "(the client, libproto on one loop), from" \
		    "/proc/PID/smaps_rollup: before is after a few warm-up" \
		    "sessions (links), after is with COUNT more open and" \
		    "idle; bytes each = (after - before) / COUNT; fresh is" \
		    "the server before any session. Kernel slab: the" \
		    "growth of the whole machine's slab memory" \
		    "(/proc/slabinfo) over the same interval, per session" \
		    "or link (sockets, inodes, files, epoll entries of both" \
		    "sides; other processes blur it):"
		echo
		cat "$TABLE4"
	fi
	if [ "$(wc -l < "$TABLE5")" -gt 2 ]; then
		echo
		echo "msgpeer serve under hostile clients" \
		    "(tests/helpers/hostile), a fresh server each: base is" \
		    "its VmHWM once listening, peak its VmHWM after the" \
		    "attack, grown = peak - base, against the limit named" \
		    "(--max-memory for one session's floods," \
		    "--max-total-memory for detached sessions; the count" \
		    "floods have no byte limit and are set against 4 MiB)." \
		    "The target: grown within 1.25 x the limit:"
		echo
		cat "$TABLE5"
	fi
	for w in fsio vfs; do
		case " $WORKLOADS " in
		*" $w "*)
			echo
			cat "$OUT/$w.md" ;;
		esac
	done
} > "$REPORT"
echo "bench: report in $REPORT" >&2

# Replace what lies between the marker lines of bench/RESULTS.md; the
# notes around them stay.
if [ "${BENCH_RECORD:-0}" = 1 ]; then
	rec=bench/RESULTS.md
	if grep -q '^<!-- run.sh: begin -->$' "$rec" 2>/dev/null &&
	    grep -q '^<!-- run.sh: end -->$' "$rec"; then
		awk -v report="$REPORT" '
		/^<!-- run.sh: begin -->$/ {
			print
			while ((getline l < report) > 0)
				print l
			skip = 1
			next
		}
		/^<!-- run.sh: end -->$/ { skip = 0 }
		!skip' "$rec" > "$rec.tmp" && mv "$rec.tmp" "$rec"
		echo "bench: recorded in $rec" >&2
	else
		echo "bench: $rec has no run.sh marker lines;" \
		    "not recorded" >&2
	fi
fi
exit 0
