#!/bin/sh
# bench/run.sh BUILD_DIR - libproto's decoder beside `cat FILE >/dev/null`,
# measured in the same run on the same page-cached files.
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
#   BENCH_WORKLOADS which workloads, in order ("small data print")
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
WORKLOADS=${BENCH_WORKLOADS:-small data print}
CC=${CC:-cc}

# Targets from the issue.
SMALL_MSGS_TARGET=20000000	# small messages a second, one core
DATA_RATIO_TARGET=0.8		# decoder GB/s over cat's on the data stream

TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
OUT=$B/bench
BIN=$OUT/bench_decode
TABLE=$OUT/table.txt
TABLE2=$OUT/table-print.txt
REPORT=$OUT/RESULTS.md

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

# --- main -----------------------------------------------------------------

build

# Room for both streams: ~75 bytes a small message, 32816 a data one.
need=$(awk -v s="$SMALL_N" -v d="$DATA_N" \
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
	echo "- command: \`sh bench/run.sh $B\` (BENCH_REPS=$REPS" \
	    "BENCH_SMALL=$SMALL_N BENCH_DATA=$DATA_N BENCH_PASSES=$PASSES)"
	echo "- each of $REPS runs: \`cat FILE... >/dev/null\`, then" \
	    "\`bench_decode decode -b CHUNK FILE...\`, both under" \
	    "\`bench_decode time\`"
	echo "- GB/s and msgs/s: over the least CPU time (user + system) of" \
	    "the $REPS runs; ratio = decode GB/s / cat GB/s; ratio (median):" \
	    "median of the per-run CPU-time ratios; ratio (wall), msgs/s" \
	    "(wall): over the least wall times instead; GB = 1e9 bytes"
	echo
	cat "$TABLE"
	if grep -q '^| summary' "$TABLE2"; then
		echo
		echo "Printing, \`tcpdump -nn -r CAPTURE >/dev/null\` against" \
		    "\`msgdump -r CAPTURE >/dev/null\` on $PRINT_N messages," \
		    "one a TCP segment; ratio = tcpdump CPU time / msgdump's:"
		echo
		cat "$TABLE2"
	fi
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
