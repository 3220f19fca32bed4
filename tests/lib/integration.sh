# Shared start of the integration scripts. Sourced, never run (it lives
# outside tests/integration/, where tests/run.sh runs every *.sh):
#
#	. "${MSGKIT_TOP:?run through tests/run.sh}/tests/lib/integration.sh"
#
# It gives the test:
#   set -u, and a clear error when MSGKIT_BIN or MSGKIT_HELPERS is unset;
#   $peer, $dump      msgpeer and msgdump of $MSGKIT_BIN;
#   $script, $proxy   msgscript and cutproxy of $MSGKIT_HELPERS;
#   $tmp              a fresh directory, named after the test;
#   $pids             the processes to end: on exit and on INT and TERM,
#                     cleanup kills each of them, waits for every child
#                     and removes $tmp (a test that wants INT and TERM to
#                     end it sets its own trap for them after this one);
#   fail=0            for the test to set on a failed check and exit with;
#   start_bg LOG COMMAND...
#                     COMMAND in the background, its stderr to LOG;
#   track_bg          after "COMMAND &" with redirections of its own:
#                     either way its pid goes into $bg_pid and $pids;
#   wait_for SECONDS COMMAND...
#                     COMMAND, quietly, every 0.02 s until it succeeds;
#                     status 1 when it has not within SECONDS;
#   wait_log FILE PATTERN [SECONDS [PID]]
#                     until a line of FILE matches PATTERN (grep's basic
#                     regular expressions), within SECONDS (default 10)
#                     and while process PID, when given, lives; else it
#                     says what it waited for and returns 1.
# SECONDS are whole seconds. POSIX sh, safe under set -u and set -e; its
# own variables start with _il_, out of the way of the test's.

# shellcheck disable=SC2034 # the variables are for the tests that source this
set -u
: "${MSGKIT_BIN:?run through tests/run.sh}"
: "${MSGKIT_HELPERS:?run through tests/run.sh}"
peer=$MSGKIT_BIN/msgpeer
dump=$MSGKIT_BIN/msgdump
script=$MSGKIT_HELPERS/msgscript
proxy=$MSGKIT_HELPERS/cutproxy

_il_name=${0##*/}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/${_il_name%.sh}.XXXXXX") || exit 1
pids=
bg_pid=
fail=0

cleanup() {
	for _il_p in $pids; do
		kill "$_il_p" 2>/dev/null || :
	done
	wait 2>/dev/null || :
	# MSGKIT_KEEP=1 keeps the files of a failed test to look at.
	if [ "$fail" -ne 0 ] && [ -n "${MSGKIT_KEEP:-}" ]; then
		echo "kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT INT TERM

start_bg() {
	_il_log=$1
	shift
	"$@" 2>"$_il_log" &
	track_bg
}

track_bg() {
	bg_pid=$!
	pids="$pids $bg_pid"
}

wait_for() {
	_il_n=$(($1 * 50))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$_il_n" -gt 0 ] || return 1
		_il_n=$((_il_n - 1))
		sleep 0.02
	done
}

# For wait_log: the line is there, or the process it watches is gone.
_il_log_done() {
	grep -q -- "$_il_pat" "$_il_file" 2>/dev/null && return 0
	[ -n "$_il_pid" ] && ! kill -0 "$_il_pid" 2>/dev/null
}

wait_log() {
	_il_file=$1 _il_pat=$2 _il_secs=${3:-10} _il_pid=${4:-}
	wait_for "$_il_secs" _il_log_done || :
	grep -q -- "$_il_pat" "$_il_file" 2>/dev/null && return 0
	if [ -n "$_il_pid" ] && ! kill -0 "$_il_pid" 2>/dev/null; then
		echo "wait_log: process $_il_pid ended before \"$_il_pat\"" \
		    "showed in $_il_file"
	else
		echo "wait_log: no \"$_il_pat\" in $_il_file after $_il_secs s"
	fi
	return 1
}
