#!/bin/sh
# Run every libFuzzer target in BUILD_FUZZ_DIR (its fuzz_* programs) for
# SECONDS each, starting from a copy of its seed corpus
# tests/fuzz/corpus/NAME, with BUILD_FUZZ_DIR/NAME.dict as a dictionary
# when there is one. New inputs stay in BUILD_FUZZ_DIR/run/NAME/corpus;
# with FUZZ_MERGE=1 those that reach new code are merged into the seed
# corpus (-merge=1) for a commit. A crash, a leak, a timeout or an
# undefined behaviour report fails the run: the input is kept under
# BUILD_FUZZ_DIR/run/NAME/crashes and its path printed; add it to the
# corpus so make check replays it from then on. Extra libFuzzer flags
# may be given in FUZZ_FLAGS.
#
# usage: tests/fuzz/run.sh BUILD_FUZZ_DIR SECONDS
set -u
usage="usage: tests/fuzz/run.sh BUILD_FUZZ_DIR SECONDS"
dir=${1:?$usage}
secs=${2:?$usage}
case "$secs" in
''|*[!0-9]*) echo "$usage: SECONDS must be a number" >&2; exit 2 ;;
esac
top=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(cd "$dir" && pwd) || exit 2
# Undefined behaviour must stop the fuzzer, not scroll by.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1"

ran=0
failed=
for fz in "$dir"/fuzz_*; do
	[ -f "$fz" ] && [ -x "$fz" ] || continue
	name=${fz##*/}
	corpus="$top/tests/fuzz/corpus/$name"
	scratch="$dir/run/$name"
	log="$scratch/fuzz.log"
	rm -rf "$scratch"
	mkdir -p "$corpus" "$scratch/corpus" "$scratch/crashes"
	# A copy: the fuzzer writes every new input into its corpus.
	find "$corpus" -maxdepth 1 -type f -exec cp {} "$scratch/corpus/" \;
	seeds=$(find "$corpus" -maxdepth 1 -type f | wc -l)
	echo "== $name: ${secs}s from $seeds seeds (log $log)"
	dict=
	[ -f "$dir/$name.dict" ] && dict="-dict=$dir/$name.dict"
	# The outer timeout only guards against a fuzzer that never stops.
	# shellcheck disable=SC2086 # FUZZ_FLAGS and dict are words
	timeout -k 10 $((secs + 300)) "$fz" -max_total_time="$secs" \
	    -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$scratch/crashes/" $dict ${FUZZ_FLAGS:-} \
	    "$scratch/corpus" >"$log" 2>&1
	rc=$?
	ran=$((ran + 1))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	crashes=$(find "$scratch/crashes" -type f)
	if [ "$rc" -ne 0 ] || [ -n "$crashes" ]; then
		failed="$failed $name"
		echo "FAIL $name (exit $rc, ${execs:-?} runs)"
		grep -E 'ERROR|runtime error|SUMMARY|Test unit written' "$log" |
		    head -n 10 | sed 's/^/     /'
		for c in $crashes; do
			echo "     input kept: $c"
			echo "     replay:     $fz $c"
		done
		[ -n "$crashes" ] || tail -n 20 "$log" | sed 's/^/     /'
		continue
	fi
	if [ "${FUZZ_MERGE:-0}" != 1 ]; then
		echo "ok   $name: ${execs:-?} runs in ${secs}s" \
		    "(FUZZ_MERGE=1 keeps the new inputs)"
		continue
	fi
	before=$(find "$corpus" -maxdepth 1 -type f | wc -l)
	if ! "$fz" -merge=1 "$corpus" "$scratch/corpus" >>"$log" 2>&1; then
		failed="$failed $name"
		echo "FAIL $name: merging the corpus failed (log $log)"
		continue
	fi
	after=$(find "$corpus" -maxdepth 1 -type f | wc -l)
	echo "ok   $name: ${execs:-?} runs in ${secs}s, corpus $before -> $after"
done
if [ "$ran" -eq 0 ]; then
	echo "no fuzz_* programs in $dir" >&2
	exit 1
fi
if [ -n "$failed" ]; then
	echo "== fuzzing failed:$failed"
	exit 1
fi
echo "== $ran fuzzers ran ${secs}s each, no crash"
