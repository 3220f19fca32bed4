#!/bin/sh
# Run every test against one build tree: the cmocka programs, the
# integration scripts and the fuzz corpora (replayed, not fuzzed). Each
# test has its own time limit; a log of each is kept under
# BUILD/tests/logs. Exit 0 only when all pass.
#
# usage: tests/run.sh BUILD_DIR [PATTERN]
set -u
O=${1:?usage: tests/run.sh BUILD_DIR [PATTERN]}
pattern=${2:-}
top=$(cd "$(dirname "$0")/.." && pwd)
O=$(cd "$O" && pwd)
export MSGKIT_TOP="$top" MSGKIT_BUILD="$O"
export MSGKIT_BIN="$O/bin" MSGKIT_HELPERS="$O/tests/bin"
export TZ=UTC LC_ALL=C NO_COLOR=1
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
logs="$O/tests/logs"
mkdir -p "$logs"
pass=0
fail=0
failed=

run() {
	name=$1 limit=$2
	shift 2
	case "$name" in *"$pattern"*) ;; *) return 0 ;; esac
	log="$logs/$name.log"
	mkdir -p "${log%/*}"
	t0=$(date +%s)
	if timeout -k 5 "$limit" "$@" >"$log" 2>&1; then
		pass=$((pass + 1))
		printf 'ok   %-40s %3ss\n' "$name" $(($(date +%s) - t0))
	else
		rc=$?
		fail=$((fail + 1))
		failed="$failed $name"
		printf 'FAIL %-40s (exit %s; log %s)\n' "$name" "$rc" "$log"
		tail -n 30 "$log" | sed 's/^/     /'
	fi
}

echo "== tests in $O"
for t in "$O"/tests/test_*; do
	[ -x "$t" ] || continue
	run "unit/$(basename "$t")" 120 "$t"
done
for s in "$top"/tests/integration/*.sh; do
	[ -f "$s" ] || continue
	run "integration/$(basename "$s" .sh)" 300 sh "$s"
done
for r in "$O"/tests/replay_*; do
	[ -x "$r" ] || continue
	name=${r##*/replay_}
	corpus="$top/tests/fuzz/corpus/$name"
	[ -d "$corpus" ] || { echo "FAIL fuzz/$name: no corpus $corpus"; fail=$((fail + 1)); failed="$failed fuzz/$name"; continue; }
	run "fuzz/$name" 300 "$r" "$corpus"
done
echo "== $pass passed, $fail failed${failed:+:$failed}"
[ "$fail" -eq 0 ]
